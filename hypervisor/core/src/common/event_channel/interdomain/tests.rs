// SPDX-License-Identifier: GPL-2.0-only
//! Interdomain event-channel tests: dom0 (the fixture's privileged domain)
//! and two domUs in the domain table, each operation run as one of them
//! the way the machine layer runs a hypercall (the caller locked, the table
//! holding every domain), with Xen 4.17's answers for hostile values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "tests on known values"
)]

use guest_abi::AbiBytes;
use guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBinding, EvtchnOp, EvtchnSend, EvtchnStatus,
};
use guest_abi::xen::{DomId, Errno, EvtchnPort, Hypercall, VcpuId};

use super::*;
use crate::common::domain::Vcpu;
use crate::common::event_channel::ops;
use crate::common::xsm::DummyXsm;
use crate::mm::Mfn;
use crate::pv::hypercall::do_hypercall;
use crate::pv::test_support::{Fixture, GUEST_BASE};

const D0: u16 = 0;
const D1: u16 = 1;
const D2: u16 = 2;
const BUF: u64 = GUEST_BASE + 0x1000;

fn p(n: u32) -> EvtchnPort {
    EvtchnPort(n)
}

/// dom0 and domUs d1 and d2 (two vCPUs each) in the fixture's table,
/// their shared-info frames spare frames of the fixture's memory. (The
/// fixture's own domain, also dom0, is the caller of the hypercall test
/// only.)
fn world() -> Fixture {
    let mut f = Fixture::new();
    for (id, si) in [(D0, 10), (D1, 8), (D2, 9)] {
        let mut d = Domain::new(DomId(id), id == D0, Mfn(si));
        d.vcpus.push(Vcpu::new(VcpuId(1)));
        f.domains.insert(d).unwrap();
    }
    f
}

/// Runs `g` as domain `who`, locked as the machine layer locks the
/// caller; returns its result and the domains it kicked.
fn as_dom<R>(
    f: &mut Fixture,
    who: u16,
    g: impl FnOnce(&mut Domains<'_>) -> R,
) -> (R, KickedDomains) {
    let mut kicked = KickedDomains::new();
    let cell = f.domains.get(DomId(who)).unwrap();
    let mut d = cell.lock();
    let mut ds = Domains {
        caller: &mut d,
        table: &f.domains,
        xsm: &DummyXsm,
        mem: &mut f.mem,
        kicked: &mut kicked,
    };
    let r = g(&mut ds);
    (r, kicked)
}

/// Runs `g` on domain `id`.
fn on<R>(f: &mut Fixture, id: u16, g: impl FnOnce(&mut Domain) -> R) -> R {
    let cell = f.domains.get(DomId(id)).unwrap();
    let mut d = cell.lock();
    g(&mut d)
}

fn state(f: &mut Fixture, id: u16, port: EvtchnPort) -> Option<ChannelState> {
    on(f, id, |d| d.evtchn.get(port).map(|c| c.state))
}

fn pending(f: &mut Fixture, id: u16, port: EvtchnPort) -> bool {
    let si = on(f, id, |d| d.shared_info);
    two_level::is_pending(&f.mem, si, port)
}

fn upcall(f: &mut Fixture, id: u16, vcpu: u32) -> bool {
    let vi = on(f, id, |d| d.vcpu_info_ref(VcpuId(vcpu)));
    two_level::upcall_pending(&f.mem, vi)
}

/// What a guest does after handling its events: clears its pending bits,
/// selectors and upcall flags.
fn ack(f: &mut Fixture, id: u16) {
    let si = on(f, id, |d| d.shared_info);
    for word in 0..64 {
        f.mem.write_u64(si, 256 + word, 0);
    }
    for vcpu in 0..2 {
        f.mem.write_u64(si, vcpu * 8 + 1, 0);
        f.mem.write_bytes(si, vcpu * 64, &[0]);
    }
    on(f, id, |d| d.kick_mask = 0);
}

fn alloc_unbound(f: &mut Fixture, who: u16, dom: u16, remote: u16) -> Result<EvtchnPort, Errno> {
    let mut a = EvtchnAllocUnbound { dom: DomId(dom), remote_dom: DomId(remote), port: p(0) };
    as_dom(f, who, |ds| super::alloc_unbound(ds, &mut a)).0.map(|()| a.port)
}

fn bind(f: &mut Fixture, who: u16, rdom: u16, rport: EvtchnPort) -> Result<EvtchnPort, Errno> {
    let mut a = EvtchnBindInterdomain {
        remote_dom: DomId(rdom),
        pad0: 0,
        remote_port: rport,
        local_port: p(0),
    };
    as_dom(f, who, |ds| super::bind_interdomain(ds, &mut a)).0.map(|()| a.local_port)
}

fn send(f: &mut Fixture, who: u16, port: EvtchnPort) -> (Result<bool, Errno>, KickedDomains) {
    as_dom(f, who, |ds| super::send(ds, port))
}

fn close(f: &mut Fixture, who: u16, port: EvtchnPort) -> Result<(), Errno> {
    as_dom(f, who, |ds| super::close(ds, DomId(who), port)).0
}

fn status(
    f: &mut Fixture,
    who: u16,
    dom: u16,
    port: EvtchnPort,
) -> Result<(EvtchnBinding, VcpuId), Errno> {
    let mut s = EvtchnStatus { dom: DomId(dom), port, ..Default::default() };
    as_dom(f, who, |ds| super::status(ds, &mut s)).0.map(|()| (s.binding().unwrap(), s.vcpu))
}

fn reset(f: &mut Fixture, who: u16, dom: u16, resuming: bool) -> Result<(), Errno> {
    as_dom(f, who, |ds| super::reset(ds, DomId(dom), resuming)).0
}

/// dom0 allocates a port in d1 for d2 and d2 binds to it, as a toolstack
/// and a frontend do: `(d1's port, d2's port)`.
fn connect(f: &mut Fixture) -> (EvtchnPort, EvtchnPort) {
    let a = alloc_unbound(f, D0, D1, D2).unwrap();
    let b = bind(f, D2, D1, a).unwrap();
    ack(f, D1);
    ack(f, D2);
    (a, b)
}

fn unbound(remote: u16) -> Option<ChannelState> {
    Some(ChannelState::Unbound { remote_domid: DomId(remote) })
}

fn linked(remote: u16, port: EvtchnPort) -> Option<ChannelState> {
    Some(ChannelState::Interdomain { remote_dom: DomId(remote), remote_port: port })
}

#[test]
fn the_toolstack_allocates_a_port_in_a_domu_for_another() {
    let mut f = world();
    assert_eq!(alloc_unbound(&mut f, D0, D1, D2), Ok(p(1)));
    assert_eq!(state(&mut f, D1, p(1)), unbound(D2));
    assert_eq!(state(&mut f, D0, p(1)), Some(ChannelState::Free), "nothing in dom0");
    assert_eq!(alloc_unbound(&mut f, D0, D1, D0), Ok(p(2)));
    // A domU for itself, naming another as remote: allowed (XSM_TARGET).
    assert_eq!(alloc_unbound(&mut f, D1, D1, D2), Ok(p(3)));
    assert_eq!(alloc_unbound(&mut f, D1, DomId::SELF.0, D0), Ok(p(4)));
    assert_eq!(state(&mut f, D1, p(4)), unbound(D0));
    assert_eq!(alloc_unbound(&mut f, D1, D1, DomId::SELF.0), Ok(p(5)));
    assert_eq!(state(&mut f, D1, p(5)), unbound(D1), "DOMID_SELF is the caller");
    // A domU in another domU: refused.
    assert_eq!(alloc_unbound(&mut f, D2, D1, D2), Err(Errno::EPERM));
    assert_eq!(alloc_unbound(&mut f, D2, D0, D2), Err(Errno::EPERM));
    // Domains that do not exist.
    assert_eq!(alloc_unbound(&mut f, D0, 77, D1), Err(Errno::ESRCH));
    // A remote that does not exist (yet): Xen's dummy policy allows it.
    assert_eq!(alloc_unbound(&mut f, D0, D1, 77), Ok(p(6)));
    assert_eq!(state(&mut f, D1, p(6)), unbound(77));
    assert_eq!(alloc_unbound(&mut f, D0, DomId::XEN.0, D1), Err(Errno::ESRCH));
    assert_eq!(state(&mut f, D1, p(7)), Some(ChannelState::Free), "nothing bound by a refusal");
}

#[test]
fn max_evtchn_port_limits_and_comes_before_access_control() {
    let mut f = world();
    on(&mut f, D1, |d| d.max_evtchn_port = 3);
    for want in 1..=3 {
        assert_eq!(alloc_unbound(&mut f, D0, D1, D2), Ok(p(want)));
    }
    assert_eq!(alloc_unbound(&mut f, D0, D1, D2), Err(Errno::ENOSPC));
    // Xen looks for the port before asking the policy.
    assert_eq!(alloc_unbound(&mut f, D2, D1, D2), Err(Errno::ENOSPC));
    // Binding needs a local port too.
    let a = alloc_unbound(&mut f, D0, D2, D1).unwrap();
    assert_eq!(bind(&mut f, D1, D2, a), Err(Errno::ENOSPC));
    assert_eq!(state(&mut f, D2, a), unbound(D1), "the remote port is untouched");
    close(&mut f, D1, p(2)).unwrap();
    assert_eq!(bind(&mut f, D1, D2, a), Ok(p(2)), "the freed port is reused");
    // A limit of 0: only the reserved port 0.
    on(&mut f, D2, |d| d.max_evtchn_port = 0);
    assert_eq!(alloc_unbound(&mut f, D0, D2, D1), Err(Errno::ENOSPC));
}

#[test]
fn a_dying_domain_gets_no_new_port() {
    let mut f = world();
    let a = alloc_unbound(&mut f, D0, D2, D1).unwrap();
    on(&mut f, D1, |d| d.dying = crate::common::domain::Dying::Dying);
    assert_eq!(alloc_unbound(&mut f, D0, D1, D2), Err(Errno::EINVAL));
    assert_eq!(bind(&mut f, D1, D2, a), Err(Errno::EINVAL));
}

#[test]
fn bind_interdomain_connects_both_ends() {
    let mut f = world();
    let a = alloc_unbound(&mut f, D0, D1, D2).unwrap();
    let b = bind(&mut f, D2, D1, a).unwrap();
    assert_eq!(b, p(1));
    assert_eq!(state(&mut f, D1, a), linked(D2, b));
    assert_eq!(state(&mut f, D2, b), linked(D1, a));
    assert!(pending(&mut f, D2, b), "the new port is set pending");
    assert!(!pending(&mut f, D1, a));
    assert!(upcall(&mut f, D2, 0));
}

#[test]
fn bind_interdomain_refuses_as_xen() {
    let mut f = world();
    let a = alloc_unbound(&mut f, D0, D1, D2).unwrap();
    // Only the domain the port waits for.
    assert_eq!(bind(&mut f, D0, D1, a), Err(Errno::EINVAL));
    assert_eq!(bind(&mut f, D1, D1, a), Err(Errno::EINVAL));
    assert_eq!(bind(&mut f, D1, DomId::SELF.0, a), Err(Errno::EINVAL));
    // Bad remote ports: free, reserved, beyond the table, huge.
    for port in [2, 0, 64, 4096, u32::MAX] {
        assert_eq!(bind(&mut f, D2, D1, p(port)), Err(Errno::EINVAL), "port {port}");
    }
    // No such domain (checked first).
    assert_eq!(bind(&mut f, D2, 77, a), Err(Errno::ESRCH));
    assert_eq!(bind(&mut f, D2, DomId::IO.0, a), Err(Errno::ESRCH));
    // Connected once; a second bind finds it interdomain.
    let b = bind(&mut f, D2, D1, a).unwrap();
    assert_eq!(bind(&mut f, D2, D1, a), Err(Errno::EINVAL));
    assert_eq!(state(&mut f, D1, a), linked(D2, b));
    // No local port was left behind by the refusals.
    assert_eq!(state(&mut f, D2, p(2)), Some(ChannelState::Free));
}

#[test]
fn send_raises_the_peer_and_names_it_for_a_kick() {
    let mut f = world();
    let (a, b) = connect(&mut f);
    on(&mut f, D1, |d| d.vcpus[0].blocked = true);
    let (r, kicked) = send(&mut f, D2, b);
    assert_eq!(r, Ok(true));
    assert_eq!(kicked.iter().collect::<alloc::vec::Vec<_>>(), [DomId(D1)]);
    assert!(pending(&mut f, D1, a) && upcall(&mut f, D1, 0));
    assert!(!pending(&mut f, D2, b), "nothing raised on the sender");
    assert!(on(&mut f, D1, |d| !d.vcpus[0].blocked), "the blocked vCPU is woken");
    assert_eq!(on(&mut f, D1, |d| d.kick_mask), 1);
    // Already pending: nothing new, nobody to kick (the hot path).
    on(&mut f, D1, |d| d.kick_mask = 0);
    let (r, kicked) = send(&mut f, D2, b);
    assert_eq!(r, Ok(false));
    assert!(kicked.is_empty());
    // And back.
    let (r, kicked) = send(&mut f, D1, a);
    assert_eq!(r, Ok(true));
    assert_eq!(kicked.iter().collect::<alloc::vec::Vec<_>>(), [DomId(D2)]);
    assert!(pending(&mut f, D2, b));
}

#[test]
fn send_to_a_masked_port_or_another_vcpu() {
    let mut f = world();
    let (a, b) = connect(&mut f);
    let si = on(&mut f, D1, |d| d.shared_info);
    two_level::set_mask(&mut f.mem, si, a);
    let (r, kicked) = send(&mut f, D2, b);
    assert_eq!(r, Ok(false), "masked: pending, no upcall");
    assert!(kicked.is_empty());
    assert!(pending(&mut f, D1, a) && !upcall(&mut f, D1, 0));
    // Unmasking delivers it (on d1's side, its own operation).
    let cell = f.domains.get(DomId(D1)).unwrap();
    assert!(ops::unmask_port(&mut cell.lock(), &mut f.mem, a).unwrap());
    assert!(upcall(&mut f, D1, 0));
    ack(&mut f, D1);
    // bind_vcpu on an interdomain port moves its notifications.
    on(&mut f, D1, |d| ops::bind_vcpu(d, a, VcpuId(1))).unwrap();
    assert_eq!(
        status(&mut f, D1, D1, a),
        Ok((EvtchnBinding::Interdomain { dom: DomId(D2), port: b }, VcpuId(1)))
    );
    let (r, _) = send(&mut f, D2, b);
    assert_eq!(r, Ok(true));
    assert!(upcall(&mut f, D1, 1) && !upcall(&mut f, D1, 0));
    assert_eq!(on(&mut f, D1, |d| d.kick_mask), 0b10);
    assert_eq!(on(&mut f, D1, |d| ops::bind_vcpu(d, a, VcpuId(2))), Err(Errno::ENOENT));
}

#[test]
fn send_refuses_bad_ports_and_drops_on_unbound() {
    let mut f = world();
    let (_, b) = connect(&mut f);
    for port in [0, 2, 63, 64, 4096, u32::MAX] {
        assert_eq!(send(&mut f, D2, p(port)).0.err(), Some(Errno::EINVAL), "port {port}");
    }
    // A port of d1's numbering is not d1's to send on from d2.
    let c = alloc_unbound(&mut f, D2, D2, D1).unwrap();
    assert_eq!(send(&mut f, D2, c).0, Ok(false), "unbound: silently dropped");
    close(&mut f, D2, b).unwrap();
    assert_eq!(send(&mut f, D2, b).0, Err(Errno::EINVAL), "closed");
}

#[test]
fn closing_either_end_leaves_the_other_unbound() {
    let mut f = world();
    let (a, b) = connect(&mut f);
    assert_eq!(close(&mut f, D1, a), Ok(()));
    assert_eq!(state(&mut f, D1, a), Some(ChannelState::Free));
    assert_eq!(state(&mut f, D2, b), unbound(D1), "the peer waits for the closer");
    assert_eq!(send(&mut f, D2, b), (Ok(false), KickedDomains::new()), "dropped");
    assert_eq!(close(&mut f, D1, a), Err(Errno::EINVAL), "closed twice");
    // d1 may connect again to the port that waits for it.
    let a2 = bind(&mut f, D1, D2, b).unwrap();
    assert_eq!(state(&mut f, D2, b), linked(D1, a2));
    assert_eq!(close(&mut f, D2, b), Ok(()));
    assert_eq!(state(&mut f, D1, a2), unbound(D2));
    assert_eq!(state(&mut f, D2, b), Some(ChannelState::Free));
    // Pending bits do not survive a close.
    let (a, b) = connect(&mut f);
    send(&mut f, D2, b).0.unwrap();
    assert!(pending(&mut f, D1, a));
    close(&mut f, D1, a).unwrap();
    assert!(!pending(&mut f, D1, a));
    // Hostile ports.
    for port in [0, 63, 64, u32::MAX] {
        assert_eq!(close(&mut f, D1, p(port)), Err(Errno::EINVAL), "port {port}");
    }
}

#[test]
fn loopback_through_the_table() {
    let mut f = world();
    let a = alloc_unbound(&mut f, D1, D1, D1).unwrap();
    let b = bind(&mut f, D1, D1, a).unwrap();
    assert_eq!(state(&mut f, D1, a), linked(D1, b));
    ack(&mut f, D1);
    let (r, kicked) = send(&mut f, D1, b);
    assert_eq!(r, Ok(true));
    assert!(kicked.is_empty(), "its own vCPUs are the caller's kick mask");
    assert!(pending(&mut f, D1, a));
    close(&mut f, D1, a).unwrap();
    assert_eq!(state(&mut f, D1, b), unbound(D1));
}

#[test]
fn status_of_other_domains_ports_is_privileged() {
    let mut f = world();
    let (a, b) = connect(&mut f);
    let inter = |d: u16, port| EvtchnBinding::Interdomain { dom: DomId(d), port };
    assert_eq!(status(&mut f, D0, D1, a), Ok((inter(D2, b), VcpuId(0))));
    assert_eq!(status(&mut f, D1, D1, a), Ok((inter(D2, b), VcpuId(0))));
    assert_eq!(status(&mut f, D1, DomId::SELF.0, a), Ok((inter(D2, b), VcpuId(0))));
    assert_eq!(status(&mut f, D2, D1, a), Err(Errno::EPERM));
    assert_eq!(status(&mut f, D2, D0, p(0)), Err(Errno::EPERM));
    // Xen's order: domain, port, then the policy.
    assert_eq!(status(&mut f, D2, D1, p(64)), Err(Errno::EINVAL));
    assert_eq!(status(&mut f, D2, 77, a), Err(Errno::ESRCH));
    assert_eq!(status(&mut f, D0, 77, a), Err(Errno::ESRCH));
    assert_eq!(status(&mut f, D0, D1, p(u32::MAX)), Err(Errno::EINVAL));
    assert_eq!(status(&mut f, D0, D1, p(5)), Ok((EvtchnBinding::Closed, VcpuId(0))));
}

#[test]
fn reset_of_another_domain() {
    let mut f = world();
    let (a, b) = connect(&mut f);
    let c = alloc_unbound(&mut f, D0, D1, D0).unwrap();
    // A domU may not; dom0 only while the domain is paused by it.
    assert_eq!(reset(&mut f, D2, D1, false), Err(Errno::EPERM));
    assert_eq!(reset(&mut f, D0, 77, false), Err(Errno::ESRCH));
    assert_eq!(reset(&mut f, D0, D1, false), Err(Errno::EINVAL));
    assert_eq!(state(&mut f, D1, a), linked(D2, b));
    on(&mut f, D1, |d| d.pause_count = 1);
    assert_eq!(reset(&mut f, D0, D1, true), Err(Errno::EBUSY), "no reset in progress");
    assert_eq!(reset(&mut f, D0, D1, false), Ok(()));
    assert_eq!(state(&mut f, D1, a), Some(ChannelState::Free));
    assert_eq!(state(&mut f, D1, c), Some(ChannelState::Free));
    assert_eq!(state(&mut f, D2, b), unbound(D1));
    // A domain resets itself, paused or not.
    let (_, b2) = connect(&mut f);
    assert_eq!(reset(&mut f, D2, DomId::SELF.0, false), Ok(()));
    assert_eq!(state(&mut f, D2, b2), Some(ChannelState::Free));
    assert_eq!(reset(&mut f, D2, D2, true), Err(Errno::EBUSY));
}

#[test]
fn destroying_a_domain_leaves_its_peers_unbound() {
    let mut f = world();
    let (a, b) = connect(&mut f);
    // d1 also talks to dom0, the caller of the teardown.
    let c = alloc_unbound(&mut f, D0, D0, D1).unwrap();
    let d = bind(&mut f, D1, D0, c).unwrap();
    on(&mut f, D1, |d| d.dying = crate::common::domain::Dying::Dying);
    as_dom(&mut f, D0, |ds| super::destroy(ds, DomId(D1)));
    for port in [a, d] {
        assert_eq!(state(&mut f, D1, port), Some(ChannelState::Free));
    }
    assert_eq!(state(&mut f, D2, b), unbound(D1));
    assert_eq!(state(&mut f, D0, c), unbound(D1));
    assert_eq!(state(&mut f, D1, p(0)), Some(ChannelState::Reserved), "port 0 stays");
    // Nobody can bind to the dead domain's ports or get new ones there.
    assert_eq!(bind(&mut f, D2, D1, a), Err(Errno::EINVAL));
    assert_eq!(alloc_unbound(&mut f, D0, D1, D2), Err(Errno::EINVAL));
    // Once unlinked: sending to the port that waited for it is dropped.
    f.domains.remove(DomId(D1));
    assert_eq!(send(&mut f, D2, b).0, Ok(false));
    assert_eq!(status(&mut f, D0, D1, a), Err(Errno::ESRCH));
}

#[test]
fn a_peer_gone_from_the_table_does_not_stop_a_close() {
    let mut f = world();
    let (a, _) = connect(&mut f);
    let gone = f.domains.remove(DomId(D2)).unwrap();
    assert_eq!(close(&mut f, D1, a), Ok(()));
    assert_eq!(state(&mut f, D1, a), Some(ChannelState::Free));
    drop(gone);
}

#[test]
fn two_other_domains_are_locked_in_either_order() {
    let mut f = world();
    // dom0 operating on d2 whose peer is d1 (higher id first as `a`) and
    // on d1 whose peer is d2.
    for (x, y) in [(D2, D1), (D1, D2)] {
        let (ids, _) = as_dom(&mut f, D0, |ds| {
            ds.with_pair(DomId(x), DomId(y), |d, peer, _| match peer {
                Peer::Other(r) => (d.id, r.id),
                _ => (d.id, d.id),
            })
        });
        assert_eq!(ids, Ok((DomId(x), DomId(y))));
    }
    // The caller as the peer is never locked again through the table.
    let (ids, _) = as_dom(&mut f, D1, |ds| {
        ds.with_pair(DomId(D2), DomId(D1), |d, peer, _| match peer {
            Peer::Other(r) => (d.id, r.id),
            _ => (d.id, d.id),
        })
    });
    assert_eq!(ids, Ok((DomId(D2), DomId(D1))));
    let (r, _) = as_dom(&mut f, D1, |ds| ds.with_pair(DomId(77), DomId(D1), |_, _, _| ()));
    assert_eq!(r, Err(Errno::ESRCH));
}

fn evtchn_op<T: AbiBytes>(f: &mut Fixture, op: EvtchnOp, arg: &T) -> (i64, T, KickedDomains) {
    f.poke(BUF, arg.as_bytes());
    f.regs.rax = u64::from(Hypercall::EventChannelOp.raw());
    f.regs.rdi = u64::from(op.raw());
    f.regs.rsi = BUF;
    let mut ctx = f.ctx();
    do_hypercall(&mut ctx);
    let kicked = ctx.kicked;
    (f.regs.rax as i64, T::from_bytes(&f.peek(BUF, T::SIZE)).unwrap(), kicked)
}

#[test]
fn the_hypercall_reaches_other_domains_and_reports_kicks() {
    let mut f = world();
    // dom0 as toolstack: a port in d1 for dom0 itself, by hypercall.
    let a = EvtchnAllocUnbound { dom: DomId(D1), remote_dom: DomId::SELF, port: p(0) };
    let (r, a, _) = evtchn_op(&mut f, EvtchnOp::AllocUnbound, &a);
    assert_eq!(r, 0);
    assert_eq!(state(&mut f, D1, a.port), unbound(D0));
    let bi = EvtchnBindInterdomain {
        remote_dom: DomId(D1),
        pad0: 0,
        remote_port: a.port,
        local_port: p(0),
    };
    let (r, bi, _) = evtchn_op(&mut f, EvtchnOp::BindInterdomain, &bi);
    assert_eq!(r, 0);
    assert_eq!(state(&mut f, D1, a.port), linked(D0, bi.local_port));
    let (r, _, kicked) = evtchn_op(&mut f, EvtchnOp::Send, &EvtchnSend { port: bi.local_port });
    assert_eq!(r, 0);
    assert_eq!(kicked.iter().collect::<alloc::vec::Vec<_>>(), [DomId(D1)]);
    assert!(pending(&mut f, D1, a.port));
    let s = EvtchnStatus { dom: DomId(D1), port: a.port, ..Default::default() };
    let (r, s, _) = evtchn_op(&mut f, EvtchnOp::Status, &s);
    assert_eq!(r, 0);
    assert_eq!(s.binding(), Ok(EvtchnBinding::Interdomain { dom: DomId(D0), port: bi.local_port }));
    // Closing dom0's end leaves d1's waiting for dom0.
    let (r, _, _) = evtchn_op(
        &mut f,
        EvtchnOp::Close,
        &guest_abi::event_channel::EvtchnClose { port: bi.local_port },
    );
    assert_eq!(r, 0);
    assert_eq!(state(&mut f, D1, a.port), unbound(D0));
}
