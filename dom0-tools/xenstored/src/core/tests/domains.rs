// SPDX-License-Identifier: GPL-2.0-only
//! Introduce, release, resume, is-introduced, and dom0's privilege.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::core::DomainStatus;
use guest_abi::xen::{EvtchnPort, Mfn};

#[test]
fn introduce_release_and_queries() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    assert_eq!(h.req(d0, T::IsDomainIntroduced, 0, &["3"]), Ok(b"F\0".to_vec()));
    assert_eq!(h.req(d0, T::IsDomainIntroduced, 0, &["0"]), Ok(b"T\0".to_vec()));
    h.ok(d0, T::Introduce, 0, &["3", "4660", "7"]);
    let dom = *h.d.domain(DomId(3)).unwrap();
    assert_eq!((dom.mfn, dom.port, dom.shutdown), (Mfn(4660), EvtchnPort(7), false));
    assert_eq!(h.req(d0, T::IsDomainIntroduced, 0, &["3"]), Ok(b"T\0".to_vec()));
    // Again: rebinds the port.
    h.ok(d0, T::Introduce, 0, &["3", "4660", "8"]);
    assert_eq!(h.d.domain(DomId(3)).unwrap().port, EvtchnPort(8));
    h.ok(d0, T::Resume, 0, &["3"]);
    assert_eq!(h.req(d0, T::Introduce, 0, &["3", "1", "0"]), Err(XsdError::EINVAL));
    assert_eq!(h.req(d0, T::Introduce, 0, &["3", "1"]), Err(XsdError::EINVAL));
    assert_eq!(h.req(d0, T::Introduce, 0, &["32752", "1", "1"]), Err(XsdError::EINVAL));
    h.ok(d0, T::Release, 0, &["3"]);
    assert_eq!(h.req(d0, T::Release, 0, &["3"]), Err(XsdError::ENOENT));
    assert_eq!(h.req(d0, T::Resume, 0, &["3"]), Err(XsdError::ENOENT));
    assert_eq!(h.req(d0, T::Release, 0, &["0"]), Err(XsdError::EINVAL));
}

#[test]
fn domain_operations_are_dom0s() {
    let mut h = Harness::new();
    let d2 = h.conn(2);
    for (ty, args) in [
        (T::Introduce, &["5", "1", "1"][..]),
        (T::Release, &["5"]),
        (T::Resume, &["5"]),
        (T::IsDomainIntroduced, &["5"]),
        (T::Control, &["print"]),
        (T::SetTarget, &["5", "6"]),
    ] {
        assert_eq!(h.req(d2, ty, 0, args), Err(XsdError::EACCES), "{ty:?}");
    }
    assert_eq!(h.req(d2, T::GetDomainPath, 0, &["5"]), Ok(b"/local/domain/5\0".to_vec()));
}

#[test]
fn release_closes_the_domains_connections() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let d6 = h.conn(6);
    h.ok(d0, T::Introduce, 0, &["6", "100", "3"]);
    h.ok(d0, T::Release, 0, &["6"]);
    assert!(h.d.is_closed(d6));
    assert!(!h.d.is_closed(d0));
    assert!(!h.d.wants_input(d6));
}

#[test]
fn shutdown_and_death_fire_release_domain() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let d4 = h.conn(4);
    h.ok(d0, T::Introduce, 0, &["3", "10", "1"]);
    h.ok(d0, T::Introduce, 0, &["4", "11", "2"]);
    h.ok(d0, T::Watch, 0, &["@releaseDomain", "r"]);
    h.take_events(d0);
    let count = |h: &mut Harness| {
        h.req(d0, T::GetDomainPath, 0, &["0"]).unwrap();
        h.take_events(d0).len()
    };
    h.d.domains_changed(|_| DomainStatus::Running);
    assert_eq!(count(&mut h), 0);
    h.d.domains_changed(
        |d| if d == DomId(3) { DomainStatus::Shutdown } else { DomainStatus::Running },
    );
    assert_eq!(count(&mut h), 1);
    assert!(h.d.domain(DomId(3)).unwrap().shutdown);
    // Still shut down: nothing new to tell.
    h.d.domains_changed(
        |d| if d == DomId(3) { DomainStatus::Shutdown } else { DomainStatus::Running },
    );
    assert_eq!(count(&mut h), 0);
    h.ok(d0, T::Resume, 0, &["3"]);
    assert!(!h.d.domain(DomId(3)).unwrap().shutdown);
    h.d.domains_changed(
        |d| if d == DomId(4) { DomainStatus::Dying } else { DomainStatus::Running },
    );
    assert_eq!(count(&mut h), 1);
    assert_eq!(h.d.introduced().collect::<Vec<_>>(), [DomId(3)]);
    assert!(h.d.is_closed(d4));
    assert_eq!(h.req(d0, T::IsDomainIntroduced, 0, &["4"]), Ok(b"F\0".to_vec()));
}

#[test]
fn set_target_lets_a_domain_act_for_another() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let dm = h.conn(5);
    let other = h.conn(7);
    h.write(d0, 0, "/local/domain/6/device-model", "").unwrap();
    h.ok(d0, T::SetPerms, 0, &["/local/domain/6", "n6"]);
    h.ok(d0, T::SetPerms, 0, &["/local/domain/6/device-model", "n0", "b6"]);
    assert_eq!(h.read(dm, 0, "/local/domain/6/device-model"), Err(XsdError::EACCES));
    assert_eq!(h.req(d0, T::SetTarget, 0, &["5", "6"]), Err(XsdError::ENOENT));
    h.ok(d0, T::Introduce, 0, &["5", "1", "1"]);
    h.ok(d0, T::Introduce, 0, &["6", "2", "2"]);
    assert_eq!(h.req(d0, T::SetTarget, 0, &["5", "x"]), Err(XsdError::EINVAL));
    h.ok(d0, T::SetTarget, 0, &["5", "6"]);
    h.write(dm, 0, "/local/domain/6/device-model/state", "running").unwrap();
    assert_eq!(h.read(dm, 0, "/local/domain/6/device-model").unwrap(), "");
    assert_eq!(h.perms(d0, "/local/domain/6/device-model/state").unwrap(), b"n5\0b6\0");
    assert_eq!(h.read(other, 0, "/local/domain/6/device-model"), Err(XsdError::EACCES));
}

#[test]
fn control_commands() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let d3 = h.conn(3);
    h.ok(d0, T::Control, 0, &["check"]);
    h.ok(d0, T::Control, 0, &["print", "hello"]);
    let help = String::from_utf8(h.req(d0, T::Control, 0, &["help"]).unwrap()).unwrap();
    assert!(help.starts_with("check\t\nprint\t<string>\n"), "{help}");
    let quota = String::from_utf8(h.req(d0, T::Control, 0, &["quota"]).unwrap()).unwrap();
    assert!(
        quota.starts_with("Quota settings:\nnodes            :     1000 Nodes per domain\n"),
        "{quota}"
    );
    assert!(quota.ends_with("\n\0"));
    h.ok(d0, T::Control, 0, &["quota", "set", "nodes", "2"]);
    assert_eq!(h.d.quota().nodes, 2);
    assert_eq!(h.req(d0, T::Control, 0, &["quota", "set", "nodes", "0"]), Err(XsdError::EINVAL));
    assert_eq!(h.req(d0, T::Control, 0, &["quota", "set", "bogus", "5"]), Err(XsdError::EINVAL));
    h.ok(d0, T::Introduce, 0, &["3", "1", "1"]);
    h.write(d0, 0, "/local/domain/3", "").unwrap();
    h.ok(d0, T::SetPerms, 0, &["/local/domain/3", "n3"]);
    h.ok(d3, T::Watch, 0, &["x", "t"]);
    let usage = String::from_utf8(h.req(d0, T::Control, 0, &["quota", "3"]).unwrap()).unwrap();
    assert_eq!(
        usage,
        "Domain 3:\nnodes           :        1\nwatches         :        1\n\
         transactions    :        0\noutstanding     :        0\n\0"
    );
    assert_eq!(h.req(d0, T::Control, 0, &["quota", "9"]), Err(XsdError::ENOENT));
    assert_eq!(h.req(d0, T::Control, 0, &["live-update", "-a"]), Err(XsdError::EINVAL));
    assert_eq!(h.req(d0, T::Control, 0, &[]), Err(XsdError::EINVAL));
}
