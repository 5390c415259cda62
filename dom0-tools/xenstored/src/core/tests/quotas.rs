// SPDX-License-Identifier: GPL-2.0-only
//! Quotas keep an unprivileged domain from exhausting the daemon.
#![allow(clippy::unwrap_used)]

use super::*;

fn small() -> Quota {
    Quota {
        nodes: 5,
        entry_size: 64,
        watches: 2,
        transactions: 2,
        perms_per_node: 3,
        transaction_nodes: 8,
        outstanding: 4,
    }
}

fn guest_home(h: &mut Harness, d0: ConnId, domid: u16) {
    let home = format!("/local/domain/{domid}");
    h.write(d0, 0, &home, "").unwrap();
    h.ok(d0, T::SetPerms, 0, &[&home, &format!("n{domid}")]);
}

#[test]
fn node_and_entry_quotas() {
    let mut h = Harness::with_quota(small());
    let d0 = h.conn(0);
    let d1 = h.conn(1);
    guest_home(&mut h, d0, 1);
    // The home itself counts: it is owned by dom1.
    for i in 0..4 {
        h.write(d1, 0, &format!("n{i}"), "").unwrap();
    }
    assert_eq!(h.write(d1, 0, "n4", ""), Err(XsdError::ENOSPC));
    assert_eq!(h.write(d1, 0, "n0", &"x".repeat(65)), Err(XsdError::ENOSPC));
    h.write(d1, 0, "n0", &"x".repeat(64)).unwrap();
    h.ok(d1, T::Rm, 0, &["n3"]);
    h.write(d1, 0, "n4", "").unwrap();
    // Dom0 is not limited.
    for i in 0..10 {
        h.write(d0, 0, &format!("/d0/{i}"), &"y".repeat(100)).unwrap();
    }
    assert_eq!(h.req(d1, T::SetPerms, 0, &["n0", "n1", "r2", "r3", "r4"]), Err(XsdError::ENOSPC));
}

#[test]
fn watch_and_transaction_quotas() {
    let mut h = Harness::with_quota(small());
    let d0 = h.conn(0);
    let d1 = h.conn(1);
    guest_home(&mut h, d0, 1);
    h.ok(d1, T::Watch, 0, &["a", "1"]);
    h.ok(d1, T::Watch, 0, &["a", "2"]);
    assert_eq!(h.req(d1, T::Watch, 0, &["a", "3"]), Err(XsdError::E2BIG));
    let t1 = h.start(d1);
    let _t2 = h.start(d1);
    assert_eq!(h.req(d1, T::TransactionStart, 0, &[""]), Err(XsdError::ENOSPC));
    h.end(d1, t1, false).unwrap();
    let t3 = h.start(d1);
    for i in 0..20 {
        if h.read(d1, t3, &format!("x{i}")) == Err(XsdError::ENOSPC) {
            return;
        }
    }
    panic!("a transaction may touch any number of nodes");
}

#[test]
fn outstanding_events_are_bounded() {
    let mut h = Harness::with_quota(small());
    let d0 = h.conn(0);
    let d1 = h.conn(1);
    guest_home(&mut h, d0, 1);
    // Dom1 does not take its output: events beyond the quota are dropped.
    h.d.handle(d1, Message::request(T::Watch, 1, 0, &[b"a", b"t"]));
    for i in 0..10 {
        h.d.handle(d0, Message::request(T::Write, 100 + i, 0, &[b"/local/domain/1/a"]));
    }
    assert!(!h.d.wants_input(d1));
    let mut queued = 0;
    while h.d.pop_output(d1).is_some() {
        queued += 1;
    }
    assert_eq!(queued, 4);
    assert!(h.d.wants_input(d1));
}
