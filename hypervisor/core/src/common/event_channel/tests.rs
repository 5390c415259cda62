// SPDX-License-Identifier: GPL-2.0-only
//! Event-channel tests: the port state machine, the 2-level bitmaps, VIRQs,
//! block and poll, and the hypercalls over the fixture guest.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use alloc::vec::Vec;

use guest_abi::AbiBytes;
use guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindPirq, EvtchnBindVcpu,
    EvtchnBindVirq, EvtchnBinding, EvtchnInitControl, EvtchnOp, EvtchnOpCompat, EvtchnSetPriority,
    EvtchnStatus,
};
use guest_abi::sched::SchedPoll;
use guest_abi::xen::{DomId, Errno, EvtchnPort, Hypercall, VcpuId, Virq};

use super::two_level::VcpuInfoRef;
use super::*;
use crate::common::domain::Vcpu;
use crate::pv::hypercall::do_hypercall;
use crate::pv::test_support::{Fixture, GUEST_BASE};

const BUF: u64 = GUEST_BASE + 0x1000;
const SELF: DomId = DomId::SELF;

fn p(n: u32) -> EvtchnPort {
    EvtchnPort(n)
}

fn alloc(f: &mut Fixture) -> EvtchnPort {
    let mut a = EvtchnAllocUnbound { dom: SELF, remote_dom: SELF, port: p(0) };
    ops::alloc_unbound(&mut f.dom, &mut a).unwrap();
    a.port
}

fn ipi(f: &mut Fixture, vcpu: u32) -> Result<EvtchnPort, Errno> {
    let mut a = EvtchnBindIpi { vcpu: VcpuId(vcpu), port: p(0) };
    ops::bind_ipi(&mut f.dom, &mut a).map(|()| a.port)
}

fn virq(f: &mut Fixture, virq: u32, vcpu: u32) -> Result<EvtchnPort, Errno> {
    let mut a = EvtchnBindVirq { virq, vcpu: VcpuId(vcpu), port: p(0) };
    ops::bind_virq(&mut f.dom, &mut a).map(|()| a.port)
}

fn interdomain(f: &mut Fixture, rdom: DomId, rport: EvtchnPort) -> Result<EvtchnPort, Errno> {
    let mut a =
        EvtchnBindInterdomain { remote_dom: rdom, pad0: 0, remote_port: rport, local_port: p(0) };
    ops::bind_interdomain(&mut f.dom, &mut f.mem, &mut a).map(|()| a.local_port)
}

fn status(f: &Fixture, port: EvtchnPort) -> Result<(EvtchnBinding, VcpuId), Errno> {
    let mut s = EvtchnStatus { dom: SELF, port, ..Default::default() };
    ops::status(&f.dom, &mut s).map(|()| (s.binding().unwrap(), s.vcpu))
}

fn pending(f: &Fixture, port: EvtchnPort) -> bool {
    two_level::is_pending(&f.mem, f.dom.shared_info, port)
}

fn sel(f: &Fixture, vcpu: u32) -> u64 {
    two_level::pending_sel(&f.mem, f.dom.vcpu_info_ref(VcpuId(vcpu)))
}

fn upcall(f: &Fixture, vcpu: u32) -> bool {
    two_level::upcall_pending(&f.mem, f.dom.vcpu_info_ref(VcpuId(vcpu)))
}

fn mask(f: &mut Fixture, port: EvtchnPort) {
    two_level::set_mask(&mut f.mem, f.dom.shared_info, port);
}

/// Clears the guest-owned event state: pending bits, selectors, upcalls.
fn guest_ack(f: &mut Fixture) {
    let si = f.dom.shared_info;
    for word in 0..64 {
        f.mem.write_u64(si, 256 + word, 0);
    }
    for vcpu in 0..2 {
        f.mem.write_u64(si, vcpu * 8 + 1, 0);
        f.mem.write_bytes(si, vcpu * 64, &[0]);
    }
}

fn two_vcpus() -> Fixture {
    let mut f = Fixture::new();
    f.dom.vcpus.push(Vcpu::new(VcpuId(1)));
    f
}

#[test]
fn new_table_reserves_port_zero() {
    let f = Fixture::new();
    assert_eq!(f.dom.evtchn.valid_evtchns(), EVTCHNS_PER_BUCKET);
    assert_eq!(f.dom.evtchn.get(p(0)).unwrap().state, ChannelState::Reserved);
    assert_eq!(status(&f, p(0)), Ok((EvtchnBinding::Closed, VcpuId(0))));
    assert_eq!(status(&f, p(63)), Ok((EvtchnBinding::Closed, VcpuId(0))));
    assert_eq!(status(&f, p(64)), Err(Errno::EINVAL), "beyond the first bucket");
    assert_eq!(status(&f, p(u32::MAX)), Err(Errno::EINVAL));
}

#[test]
fn alloc_unbound_domains_and_lowest_first() {
    let mut f = Fixture::new();
    assert_eq!(alloc(&mut f), p(1));
    assert_eq!(alloc(&mut f), p(2));
    let own = f.dom.id;
    let mut a = EvtchnAllocUnbound { dom: own, remote_dom: own, port: p(0) };
    assert_eq!(ops::alloc_unbound(&mut f.dom, &mut a), Ok(()));
    assert_eq!(a.port, p(3));
    assert_eq!(status(&f, p(1)), Ok((EvtchnBinding::Unbound { remote_dom: own }, VcpuId(0))));
    for (dom, remote) in [(DomId(7), SELF), (DomId::XEN, SELF)] {
        let mut a = EvtchnAllocUnbound { dom, remote_dom: remote, port: p(0) };
        assert_eq!(ops::alloc_unbound(&mut f.dom, &mut a), Err(Errno::ESRCH), "{dom:?}/{remote:?}");
        assert_eq!(a.port, p(0));
    }
    // A remote domain that does not exist (yet): allowed, as Xen's dummy
    // policy does.
    let mut a = EvtchnAllocUnbound { dom: SELF, remote_dom: DomId(7), port: p(0) };
    assert_eq!(ops::alloc_unbound(&mut f.dom, &mut a), Ok(()));
    ops::close(&mut f.dom, &mut f.mem, a.port).unwrap();
    let mut s = EvtchnStatus { dom: DomId(7), port: p(1), ..Default::default() };
    assert_eq!(ops::status(&f.dom, &mut s), Err(Errno::ESRCH));
    // A closed port is reused first.
    ops::close(&mut f.dom, &mut f.mem, p(2)).unwrap();
    assert_eq!(alloc(&mut f), p(2));
    assert_eq!(alloc(&mut f), p(4));
}

#[test]
fn interdomain_loopback() {
    let mut f = Fixture::new();
    let own = f.dom.id;
    let a = alloc(&mut f);
    let b = interdomain(&mut f, SELF, a).unwrap();
    assert_eq!(b, p(2));
    assert!(pending(&f, b), "the new port is set pending");
    assert!(!pending(&f, a));
    assert_eq!(status(&f, a), Ok((EvtchnBinding::Interdomain { dom: own, port: b }, VcpuId(0))));
    assert_eq!(status(&f, b), Ok((EvtchnBinding::Interdomain { dom: own, port: a }, VcpuId(0))));
    guest_ack(&mut f);
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, b), Ok(true));
    assert!(pending(&f, a) && !pending(&f, b), "send on b raises a");
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, a), Ok(false), "upcall already pending");
    assert!(pending(&f, b));
    // The remote port must be unbound and waiting for us.
    assert_eq!(interdomain(&mut f, SELF, a), Err(Errno::EINVAL), "already connected");
    assert_eq!(interdomain(&mut f, SELF, p(0)), Err(Errno::EINVAL), "reserved");
    assert_eq!(interdomain(&mut f, SELF, p(40)), Err(Errno::EINVAL), "free");
    assert_eq!(interdomain(&mut f, SELF, p(4000)), Err(Errno::EINVAL), "invalid");
    assert_eq!(interdomain(&mut f, DomId(3), a), Err(Errno::ESRCH));
    let c = alloc(&mut f);
    f.dom.evtchn.get_mut(c).unwrap().state = ChannelState::Unbound { remote_domid: DomId(3) };
    assert_eq!(interdomain(&mut f, own, c), Err(Errno::EINVAL), "waiting for another domain");
    assert_eq!(f.dom.evtchn.get(p(4)).unwrap().state, ChannelState::Free, "no port leaked");
    // Closing one end leaves the other unbound, waiting for us.
    ops::close(&mut f.dom, &mut f.mem, a).unwrap();
    assert_eq!(status(&f, b), Ok((EvtchnBinding::Unbound { remote_dom: own }, VcpuId(0))));
    assert_eq!(status(&f, a), Ok((EvtchnBinding::Closed, VcpuId(0))));
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, b), Ok(false), "to unbound: dropped");
    assert_eq!(interdomain(&mut f, own, b), Ok(a), "re-bind reuses the lowest port");
}

#[test]
fn bind_virq_rules() {
    let mut f = Fixture::new();
    let debug = virq(&mut f, Virq::Debug.raw(), 0).unwrap();
    assert_eq!(debug, p(1));
    assert_eq!(f.dom.vcpus[0].evtchn.virq_port(Virq::Debug.raw()), debug);
    assert_eq!(virq(&mut f, Virq::Debug.raw(), 0), Err(Errno::EEXIST));
    assert_eq!(virq(&mut f, 24, 0), Err(Errno::EINVAL));
    assert_eq!(virq(&mut f, u32::MAX, 0), Err(Errno::EINVAL));
    assert_eq!(virq(&mut f, Virq::Console.raw(), 1), Err(Errno::EINVAL), "global on vCPU 1");
    assert_eq!(virq(&mut f, Virq::Timer.raw(), 1), Err(Errno::ENOENT));
    assert_eq!(virq(&mut f, Virq::Timer.raw(), u32::MAX), Err(Errno::ENOENT));
    assert_eq!(virq(&mut f, 5, 1), Err(Errno::EINVAL), "unnamed VIRQs are global");
    let console = virq(&mut f, Virq::Console.raw(), 0).unwrap();
    assert_eq!(status(&f, console), Ok((EvtchnBinding::Virq(2), VcpuId(0))));
    assert_eq!(virq(&mut f, Virq::Console.raw(), 0), Err(Errno::EEXIST));
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, console), Err(Errno::EINVAL));
    // Per-vCPU VIRQs bind once per vCPU.
    let mut f = two_vcpus();
    let t0 = virq(&mut f, Virq::Timer.raw(), 0).unwrap();
    let t1 = virq(&mut f, Virq::Timer.raw(), 1).unwrap();
    assert_ne!(t0, t1);
    assert_eq!(status(&f, t1), Ok((EvtchnBinding::Virq(0), VcpuId(1))));
    // Close unbinds.
    ops::close(&mut f.dom, &mut f.mem, t1).unwrap();
    assert_eq!(f.dom.vcpus[1].evtchn.virq_port(0), p(0));
    assert_eq!(f.dom.vcpus[0].evtchn.virq_port(0), t0);
    assert_eq!(virq(&mut f, Virq::Timer.raw(), 1), Ok(t1));
}

#[test]
fn bind_ipi_pirq_and_send() {
    let mut f = Fixture::new();
    let i = ipi(&mut f, 0).unwrap();
    assert_eq!(ipi(&mut f, 1), Err(Errno::ENOENT));
    assert_eq!(status(&f, i), Ok((EvtchnBinding::Ipi, VcpuId(0))));
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, i), Ok(true));
    assert!(pending(&f, i) && upcall(&f, 0));
    let u = alloc(&mut f);
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, u), Ok(false));
    assert!(!pending(&f, u), "sending on an unbound port is dropped");
    for bad in [p(0), p(30), p(64), p(u32::MAX)] {
        assert_eq!(ops::send(&mut f.dom, &mut f.mem, bad), Err(Errno::EINVAL), "{bad:?}");
    }
    let mut pirq = EvtchnBindPirq { pirq: 9, flags: 0, port: p(0) };
    assert_eq!(ops::bind_pirq(&mut f.dom, &mut pirq), Err(Errno::EPERM));
    pirq.pirq = NR_PIRQS;
    assert_eq!(ops::bind_pirq(&mut f.dom, &mut pirq), Err(Errno::EINVAL));
}

#[test]
fn two_level_set_pending_mask_unmask() {
    let mut f = Fixture::new();
    let ports: Vec<EvtchnPort> = (0..70).map(|_| ipi(&mut f, 0).unwrap()).collect();
    let (a, b, far) = (ports[0], ports[1], ports[69]);
    assert_eq!(far, p(70));
    // Unmasked: pending, selector bit of the word, upcall, kick.
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, a), Ok(true));
    assert!(pending(&f, a));
    assert_eq!(sel(&f, 0), 1);
    assert!(upcall(&f, 0));
    // Already pending: nothing new.
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, a), Ok(false));
    // Another port in a new word: selector bit 1, the upcall was pending.
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, far), Ok(false));
    assert_eq!(sel(&f, 0), 0b11);
    guest_ack(&mut f);
    // Masked: only the pending bit.
    mask(&mut f, b);
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, b), Ok(false));
    assert!(pending(&f, b));
    assert_eq!(sel(&f, 0), 0);
    assert!(!upcall(&f, 0));
    // Unmask re-raises the selector and the upcall, once.
    assert_eq!(ops::unmask_port(&mut f.dom, &mut f.mem, b), Ok(true));
    assert!(!two_level::is_masked(&f.mem, f.dom.shared_info, b));
    assert_eq!(sel(&f, 0), 1);
    assert!(upcall(&f, 0));
    guest_ack(&mut f);
    assert_eq!(ops::unmask_port(&mut f.dom, &mut f.mem, b), Ok(false), "was not masked");
    assert!(!upcall(&f, 0));
    // Unmasking a port that is not pending raises nothing.
    mask(&mut f, a);
    assert_eq!(ops::unmask_port(&mut f.dom, &mut f.mem, a), Ok(false));
    assert_eq!(sel(&f, 0), 0);
    // Pending and masked, selector already set: unmask adds no upcall.
    mask(&mut f, a);
    ops::send(&mut f.dom, &mut f.mem, a).unwrap();
    two_level::test_and_set_pending_sel(&mut f.mem, f.dom.vcpu_info_ref(VcpuId(0)), a);
    assert_eq!(ops::unmask_port(&mut f.dom, &mut f.mem, a), Ok(false));
    assert!(!upcall(&f, 0));
    assert_eq!(ops::unmask_port(&mut f.dom, &mut f.mem, p(128)), Err(Errno::EINVAL));
    assert_eq!(ops::unmask_port(&mut f.dom, &mut f.mem, p(100)), Ok(false), "valid, free");
}

#[test]
fn close_rules() {
    let mut f = Fixture::new();
    assert_eq!(ops::close(&mut f.dom, &mut f.mem, p(0)), Err(Errno::EINVAL), "reserved");
    assert_eq!(ops::close(&mut f.dom, &mut f.mem, p(5)), Err(Errno::EINVAL), "free");
    assert_eq!(ops::close(&mut f.dom, &mut f.mem, p(64)), Err(Errno::EINVAL), "invalid");
    let i = ipi(&mut f, 0).unwrap();
    ops::send(&mut f.dom, &mut f.mem, i).unwrap();
    assert!(pending(&f, i));
    assert_eq!(ops::close(&mut f.dom, &mut f.mem, i), Ok(()));
    assert!(!pending(&f, i), "close clears the pending bit");
    assert_eq!(ops::close(&mut f.dom, &mut f.mem, i), Err(Errno::EINVAL), "twice");
    assert_eq!(f.dom.evtchn.get(i), Some(&Evtchn::FREE));
    // A closed port notifies vCPU 0 again.
    let mut f = two_vcpus();
    let u = alloc(&mut f);
    ops::bind_vcpu(&mut f.dom, u, VcpuId(1)).unwrap();
    assert_eq!(status(&f, u).unwrap().1, VcpuId(1));
    ops::close(&mut f.dom, &mut f.mem, u).unwrap();
    assert_eq!(status(&f, u), Ok((EvtchnBinding::Closed, VcpuId(0))));
}

#[test]
fn port_exhaustion() {
    let mut f = Fixture::new();
    for n in 1..4096 {
        assert_eq!(ipi(&mut f, 0), Ok(p(n)));
    }
    assert_eq!(f.dom.evtchn.valid_evtchns(), 4096);
    assert_eq!(ipi(&mut f, 0), Err(Errno::ENOSPC));
    let mut a = EvtchnAllocUnbound { dom: SELF, remote_dom: SELF, port: p(0) };
    assert_eq!(ops::alloc_unbound(&mut f.dom, &mut a), Err(Errno::ENOSPC));
    assert_eq!(virq(&mut f, Virq::Debug.raw(), 0), Err(Errno::ENOSPC));
    assert_eq!(interdomain(&mut f, SELF, p(5)), Err(Errno::ENOSPC), "no local port first");
    assert_eq!(status(&f, p(4095)), Ok((EvtchnBinding::Ipi, VcpuId(0))));
    assert_eq!(status(&f, p(4096)), Err(Errno::EINVAL));
    ops::close(&mut f.dom, &mut f.mem, p(1234)).unwrap();
    assert_eq!(ipi(&mut f, 0), Ok(p(1234)));
    // Reset frees everything but port 0.
    assert_eq!(ops::reset(&mut f.dom, &mut f.mem, SELF), Ok(()));
    assert!(f.dom.evtchn.iter().skip(1).all(|(_, c)| *c == Evtchn::FREE));
    assert_eq!(f.dom.evtchn.get(p(0)).unwrap().state, ChannelState::Reserved);
    assert_eq!(ipi(&mut f, 0), Ok(p(1)));
}

#[test]
fn reset_closes_all() {
    let mut f = two_vcpus();
    let own = f.dom.id;
    let a = alloc(&mut f);
    let b = interdomain(&mut f, SELF, a).unwrap();
    let t = virq(&mut f, Virq::Timer.raw(), 1).unwrap();
    let i = ipi(&mut f, 1).unwrap();
    assert_eq!(ops::reset(&mut f.dom, &mut f.mem, DomId(9)), Err(Errno::ESRCH));
    assert_eq!(ops::reset(&mut f.dom, &mut f.mem, own), Ok(()));
    for port in [a, b, t, i] {
        assert_eq!(status(&f, port), Ok((EvtchnBinding::Closed, VcpuId(0))), "{port:?}");
        assert!(!pending(&f, port));
    }
    assert_eq!(f.dom.vcpus[1].evtchn.virq_port(Virq::Timer.raw()), p(0));
    assert_eq!(ops::reset_cont(&f.dom, SELF), Err(Errno::EBUSY));
    assert_eq!(ops::reset_cont(&f.dom, DomId(9)), Err(Errno::ESRCH));
}

#[test]
fn bind_vcpu_rules() {
    let mut f = two_vcpus();
    let u = alloc(&mut f);
    let b = interdomain(&mut f, SELF, u).unwrap();
    let console = virq(&mut f, Virq::Console.raw(), 0).unwrap();
    let timer = virq(&mut f, Virq::Timer.raw(), 0).unwrap();
    let i = ipi(&mut f, 0).unwrap();
    assert_eq!(ops::bind_vcpu(&mut f.dom, u, VcpuId(2)), Err(Errno::ENOENT));
    assert_eq!(ops::bind_vcpu(&mut f.dom, p(999), VcpuId(2)), Err(Errno::ENOENT), "vCPU first");
    for port in [u, b, console] {
        assert_eq!(ops::bind_vcpu(&mut f.dom, port, VcpuId(1)), Ok(()), "{port:?}");
        assert_eq!(status(&f, port).unwrap().1, VcpuId(1));
    }
    for port in [timer, i, p(0), p(40), p(64)] {
        assert_eq!(ops::bind_vcpu(&mut f.dom, port, VcpuId(1)), Err(Errno::EINVAL), "{port:?}");
    }
    // The global VIRQ now notifies vCPU 1, through vCPU 0's binding.
    guest_ack(&mut f);
    assert!(send_global_virq(&mut f.dom, &mut f.mem, Virq::Console));
    assert!(pending(&f, console));
    assert_eq!((sel(&f, 0), sel(&f, 1)), (0, 1));
    assert!(upcall(&f, 1) && !upcall(&f, 0));
    // Sending on the interdomain end b raises u on vCPU 1.
    guest_ack(&mut f);
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, b), Ok(true));
    assert!(pending(&f, u) && upcall(&f, 1));
}

#[test]
fn send_virq_api() {
    let mut f = two_vcpus();
    assert!(!send_virq(&mut f.dom, &mut f.mem, VcpuId(1), Virq::Timer), "not bound");
    assert!(!send_global_virq(&mut f.dom, &mut f.mem, Virq::Console), "not bound");
    let t1 = virq(&mut f, Virq::Timer.raw(), 1).unwrap();
    assert!(!send_virq(&mut f.dom, &mut f.mem, VcpuId(0), Virq::Timer), "not on vCPU 0");
    assert!(send_virq(&mut f.dom, &mut f.mem, VcpuId(1), Virq::Timer));
    assert!(pending(&f, t1) && upcall(&f, 1) && !upcall(&f, 0));
    assert!(!send_virq(&mut f.dom, &mut f.mem, VcpuId(1), Virq::Timer), "already pending");
    assert!(!send_virq(&mut f.dom, &mut f.mem, VcpuId(7), Virq::Timer), "no such vCPU");
    // A global VIRQ through send_virq goes through vCPU 0's binding.
    let c = virq(&mut f, Virq::Console.raw(), 0).unwrap();
    guest_ack(&mut f);
    assert!(send_virq(&mut f.dom, &mut f.mem, VcpuId(1), Virq::Console));
    assert!(pending(&f, c) && upcall(&f, 0));
    assert!(virq_is_global(Virq::Console.raw()) && virq_is_global(5) && virq_is_global(99));
    assert!(!virq_is_global(Virq::Timer.raw()) && !virq_is_global(Virq::Xenpmu.raw()));
}

#[test]
fn block_and_wake() {
    let mut f = Fixture::new();
    let si = f.dom.shared_info;
    two_level::set_upcall_mask(&mut f.mem, VcpuInfoRef::legacy(si, VcpuId(0)), 1);
    assert!(block(&mut f.dom, &mut f.mem, VcpuId(0)));
    assert_eq!(
        two_level::upcall_mask(&f.mem, VcpuInfoRef::legacy(si, VcpuId(0))),
        0,
        "block enables upcalls"
    );
    assert!(f.dom.vcpus[0].blocked);
    assert!(!vcpu_should_wake(&f.dom, &f.mem, 0, u64::MAX), "no timeout for block");
    let i = ipi(&mut f, 0).unwrap();
    mask(&mut f, i);
    ops::send(&mut f.dom, &mut f.mem, i).unwrap();
    assert!(f.dom.vcpus[0].blocked, "a masked port does not wake a blocked vCPU");
    ops::unmask_port(&mut f.dom, &mut f.mem, i).unwrap();
    assert!(!f.dom.vcpus[0].blocked, "unmask kicks it");
    assert!(vcpu_should_wake(&f.dom, &f.mem, 0, 0));
    // An upcall already pending: block returns at once.
    two_level::set_upcall_mask(&mut f.mem, VcpuInfoRef::legacy(si, VcpuId(0)), 1);
    assert!(!block(&mut f.dom, &mut f.mem, VcpuId(0)));
    assert!(!f.dom.vcpus[0].blocked);
    // The predicate also sees an upcall set behind the event code.
    guest_ack(&mut f);
    assert!(block(&mut f.dom, &mut f.mem, VcpuId(0)));
    f.mem.write_bytes(si, 0, &[1]);
    assert!(vcpu_should_wake(&f.dom, &f.mem, 0, 0));
    assert!(vcpu_unblock(&mut f.dom.vcpus[0]));
    assert!(!vcpu_unblock(&mut f.dom.vcpus[0]));
    assert!(vcpu_should_wake(&f.dom, &f.mem, 5, 0), "missing vCPU");
}

#[test]
fn poll_rules() {
    let mut f = Fixture::new();
    let si = f.dom.shared_info;
    two_level::set_upcall_mask(&mut f.mem, VcpuInfoRef::legacy(si, VcpuId(0)), 1);
    let a = ipi(&mut f, 0).unwrap();
    let b = ipi(&mut f, 0).unwrap();
    let c = ipi(&mut f, 0).unwrap();
    for port in [a, b, c] {
        mask(&mut f, port);
    }
    // A pending port, masked: at once.
    ops::send(&mut f.dom, &mut f.mem, b).unwrap();
    assert_eq!(poll(&mut f.dom, &f.mem, VcpuId(0), &[a, b], 0), Ok(false));
    assert!(!f.dom.vcpus[0].blocked);
    // Invalid ports, even after a good one.
    assert_eq!(poll(&mut f.dom, &f.mem, VcpuId(0), &[a, p(64)], 0), Err(Errno::EINVAL));
    assert!(!f.dom.vcpus[0].blocked);
    // One port: only that port wakes.
    guest_ack(&mut f);
    assert_eq!(poll(&mut f.dom, &f.mem, VcpuId(0), &[a], 5_000), Ok(true));
    assert_eq!(
        f.dom.vcpus[0].evtchn.poll,
        Some(PollState { port: Some(a), timeout_ns: Some(5_000) })
    );
    assert!(!vcpu_should_wake(&f.dom, &f.mem, 0, 4_999));
    assert!(vcpu_should_wake(&f.dom, &f.mem, 0, 5_000), "timeout");
    ops::send(&mut f.dom, &mut f.mem, c).unwrap();
    assert!(f.dom.vcpus[0].blocked, "another (masked) port");
    assert_eq!(ops::send(&mut f.dom, &mut f.mem, a), Ok(true));
    assert!(!f.dom.vcpus[0].blocked, "the polled port, masked");
    assert_eq!(f.dom.vcpus[0].evtchn.poll, None);
    // Several ports (or none): any port of the domain wakes.
    guest_ack(&mut f);
    assert_eq!(poll(&mut f.dom, &f.mem, VcpuId(0), &[a, b], 0), Ok(true));
    assert!(!vcpu_should_wake(&f.dom, &f.mem, 0, u64::MAX), "no timeout");
    ops::send(&mut f.dom, &mut f.mem, c).unwrap();
    assert!(vcpu_should_wake(&f.dom, &f.mem, 0, 0));
    guest_ack(&mut f);
    assert_eq!(poll(&mut f.dom, &f.mem, VcpuId(0), &[], 0), Ok(true));
    // An unmasked upcall for the vCPU kicks a poller too.
    let d = ipi(&mut f, 0).unwrap();
    ops::send(&mut f.dom, &mut f.mem, d).unwrap();
    assert!(!f.dom.vcpus[0].blocked);
    // With an unmasked upcall pending, poll returns at once.
    two_level::set_upcall_mask(&mut f.mem, VcpuInfoRef::legacy(si, VcpuId(0)), 0);
    assert_eq!(poll(&mut f.dom, &f.mem, VcpuId(0), &[a], 0), Ok(false));
}

// ---------------------------------------------------------------------------
// Through the hypercalls
// ---------------------------------------------------------------------------

fn hc(f: &mut Fixture, nr: Hypercall, a0: u64, a1: u64) -> i64 {
    f.regs.rax = u64::from(nr.raw());
    f.regs.rdi = a0;
    f.regs.rsi = a1;
    do_hypercall(&mut f.ctx());
    f.regs.rax as i64
}

fn err(e: Errno) -> i64 {
    -i64::from(e.raw())
}

fn evtchn_op<T: AbiBytes>(f: &mut Fixture, op: EvtchnOp, arg: &T) -> (i64, T) {
    f.poke(BUF, arg.as_bytes());
    let r = hc(f, Hypercall::EventChannelOp, u64::from(op.raw()), BUF);
    (r, T::from_bytes(&f.peek(BUF, T::SIZE)).unwrap())
}

#[test]
fn hypercall_copies_in_and_out() {
    let mut f = Fixture::new();
    let (r, a) = evtchn_op(
        &mut f,
        EvtchnOp::AllocUnbound,
        &EvtchnAllocUnbound { dom: SELF, remote_dom: SELF, port: p(0) },
    );
    assert_eq!((r, a.port), (0, p(1)));
    let (r, b) = evtchn_op(
        &mut f,
        EvtchnOp::BindInterdomain,
        &EvtchnBindInterdomain { remote_dom: SELF, pad0: 0, remote_port: p(1), local_port: p(0) },
    );
    assert_eq!((r, b.local_port), (0, p(2)));
    let (r, v) = evtchn_op(
        &mut f,
        EvtchnOp::BindVirq,
        &EvtchnBindVirq { virq: Virq::Debug.raw(), vcpu: VcpuId(0), port: p(0) },
    );
    assert_eq!((r, v.port), (0, p(3)));
    let (r, _) = evtchn_op(
        &mut f,
        EvtchnOp::BindVirq,
        &EvtchnBindVirq { virq: Virq::Debug.raw(), vcpu: VcpuId(0), port: p(0) },
    );
    assert_eq!(r, err(Errno::EEXIST));
    let (r, i) =
        evtchn_op(&mut f, EvtchnOp::BindIpi, &EvtchnBindIpi { vcpu: VcpuId(0), port: p(0) });
    assert_eq!((r, i.port), (0, p(4)));
    assert_eq!(evtchn_op(&mut f, EvtchnOp::Send, &p(4)).0, 0);
    assert!(pending(&f, p(4)));
    assert_eq!(evtchn_op(&mut f, EvtchnOp::Send, &p(3)).0, err(Errno::EINVAL));
    assert_eq!(evtchn_op(&mut f, EvtchnOp::Unmask, &p(4)).0, 0);
    assert_eq!(evtchn_op(&mut f, EvtchnOp::Unmask, &p(99)).0, err(Errno::EINVAL));
    assert_eq!(
        evtchn_op(&mut f, EvtchnOp::BindVcpu, &EvtchnBindVcpu { port: p(4), vcpu: VcpuId(0) }).0,
        err(Errno::EINVAL)
    );
    assert_eq!(
        evtchn_op(&mut f, EvtchnOp::BindVcpu, &EvtchnBindVcpu { port: p(1), vcpu: VcpuId(0) }).0,
        0
    );
    assert_eq!(
        evtchn_op(&mut f, EvtchnOp::BindVcpu, &EvtchnBindVcpu { port: p(1), vcpu: VcpuId(1) }).0,
        err(Errno::ENOENT)
    );
    let pirq = EvtchnBindPirq { pirq: 1, flags: 0, port: p(77) };
    assert_eq!(evtchn_op(&mut f, EvtchnOp::BindPirq, &pirq), (err(Errno::EPERM), pirq));
    assert_eq!(evtchn_op(&mut f, EvtchnOp::Close, &p(4)).0, 0);
    assert_eq!(evtchn_op(&mut f, EvtchnOp::Close, &p(4)).0, err(Errno::EINVAL));
    assert_eq!(evtchn_op(&mut f, EvtchnOp::Reset, &SELF).0, 0);
    assert_eq!(status(&f, p(1)), Ok((EvtchnBinding::Closed, VcpuId(0))));
    assert_eq!(evtchn_op(&mut f, EvtchnOp::Reset, &DomId(4)).0, err(Errno::ESRCH));
    assert_eq!(evtchn_op(&mut f, EvtchnOp::ResetCont, &SELF).0, err(Errno::EBUSY));
    for cmd in [15, 99, 1 << 32] {
        assert_eq!(hc(&mut f, Hypercall::EventChannelOp, cmd, BUF), err(Errno::ENOSYS));
    }
    for op in EvtchnOp::ALL.iter().filter(|op| op.raw() <= 14) {
        let r = hc(&mut f, Hypercall::EventChannelOp, u64::from(op.raw()), 0x10);
        assert_eq!(r, err(Errno::EFAULT), "{op:?}");
    }
}

/// `EVTCHNOP_init_control` with `control_gfn`, `offset` and `vcpu`.
fn init_control(f: &mut Fixture, gfn: u64, offset: u32, vcpu: u32) -> (i64, Vec<u8>) {
    let a = EvtchnInitControl {
        control_gfn: gfn,
        offset,
        vcpu: VcpuId(vcpu),
        link_bits: 0xa5,
        pad: [0xa5; 7],
    };
    f.poke(BUF, a.as_bytes());
    let r = hc(f, Hypercall::EventChannelOp, u64::from(EvtchnOp::InitControl.raw()), BUF);
    (r, f.peek(BUF, EvtchnInitControl::SIZE))
}

#[test]
fn fifo_commands_check_their_arguments_as_xen_does() {
    use crate::mm::Mfn;
    use crate::mm::pv::PageType;
    use crate::pv::test_support::frames;
    let mut f = Fixture::new();
    let control = frames::DATA + 5;
    let seg = frames::DATA + 6;
    for m in [control, seg] {
        f.frames.assign(Mfn(m), DomId(0)).unwrap();
    }
    // A frame in use as a descriptor page cannot become writable.
    f.ctx().mm().get_page_and_type(Mfn(seg), DomId(0), PageType::SegDesc).unwrap();

    // Xen's order: the vCPU, the offset, then the frame.
    assert_eq!(init_control(&mut f, control, 0, 1).0, err(Errno::ENOENT), "no vCPU 1");
    assert_eq!(init_control(&mut f, 1 << 40, 4032, u32::MAX).0, err(Errno::ENOENT));
    for offset in [4032, 4096, u32::MAX - 7, 4, 12, 4020] {
        let (r, _) = init_control(&mut f, control, offset, 0);
        assert_eq!(r, err(Errno::EINVAL), "offset {offset}");
    }
    for gfn in [frames::DATA + 40, 1 << 40, u64::MAX, seg] {
        assert_eq!(init_control(&mut f, gfn, 0, 0).0, err(Errno::EINVAL), "gfn {gfn:#x}");
    }
    // Valid arguments: Xen would switch to FIFO; here FIFO is not there.
    for offset in [0, 8, 4024] {
        let (r, back) = init_control(&mut f, control, offset, 0);
        assert_eq!(r, err(Errno::ENOSYS), "offset {offset}");
        assert_eq!(back[16..24], [0xa5; 8], "link_bits is not written back");
    }
    let t = f.frames.info(Mfn(control)).unwrap().type_info;
    assert_eq!(t.count, 0, "no reference kept on the control frame");

    // expand_array: FIFO never initialised (Xen's -EOPNOTSUPP).
    let r = hc(&mut f, Hypercall::EventChannelOp, u64::from(EvtchnOp::ExpandArray.raw()), BUF);
    assert_eq!(r, err(Errno::EOPNOTSUPP));
    // set_priority: the 2-level ABI has no set_priority port op.
    let port = alloc(&mut f);
    for (port, want) in [(port, Errno::ENOSYS), (p(0), Errno::ENOSYS), (p(1 << 20), Errno::EINVAL)]
    {
        f.poke(BUF, EvtchnSetPriority { port, priority: 7 }.as_bytes());
        let op = u64::from(EvtchnOp::SetPriority.raw());
        assert_eq!(hc(&mut f, Hypercall::EventChannelOp, op, BUF), err(want), "{port:?}");
    }
}

#[test]
fn status_union_bytes() {
    let mut f = Fixture::new();
    let own = f.dom.id;
    let u = alloc(&mut f);
    let i = ipi(&mut f, 0).unwrap();
    let v = virq(&mut f, Virq::Debug.raw(), 0).unwrap();
    let b = interdomain(&mut f, SELF, u).unwrap();
    let query = |f: &mut Fixture, port: EvtchnPort| {
        let mut bytes = [0xa5u8; 24];
        bytes[0..2].copy_from_slice(&SELF.0.to_le_bytes());
        bytes[4..8].copy_from_slice(&port.0.to_le_bytes());
        f.poke(BUF, &bytes);
        let r = hc(f, Hypercall::EventChannelOp, u64::from(EvtchnOp::Status.raw()), BUF);
        (r, f.peek(BUF, 24))
    };
    let (r, s) = query(&mut f, i);
    assert_eq!(r, 0);
    assert_eq!(s[8..12], 5u32.to_le_bytes(), "EVTCHNSTAT_ipi");
    assert_eq!(s[12..16], [0; 4], "vcpu");
    assert_eq!(s[16..24], [0xa5; 8], "union untouched");
    assert_eq!(s[2..4], [0xa5; 2], "pad untouched");
    let (_, s) = query(&mut f, v);
    assert_eq!(s[8..12], 4u32.to_le_bytes());
    assert_eq!(s[16..24], [1, 0, 0, 0, 0xa5, 0xa5, 0xa5, 0xa5]);
    let (_, s) = query(&mut f, u);
    assert_eq!(s[8..12], 2u32.to_le_bytes(), "now interdomain");
    assert_eq!(s[16..18], own.0.to_le_bytes());
    assert_eq!(s[18..20], [0xa5; 2]);
    assert_eq!(s[20..24], b.0.to_le_bytes());
    ops::close(&mut f.dom, &mut f.mem, b).unwrap();
    let (_, s) = query(&mut f, u);
    assert_eq!(s[8..12], 1u32.to_le_bytes(), "unbound");
    assert_eq!(
        s[16..24],
        [own.0.to_le_bytes()[0], own.0.to_le_bytes()[1], 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5]
    );
    let (_, s) = query(&mut f, p(50));
    assert_eq!(s[8..24], [[0; 8], [0xa5; 8]].concat(), "closed, vcpu 0");
    let (r, _) = query(&mut f, p(64));
    assert_eq!(r, err(Errno::EINVAL));
}

#[test]
fn compat_hypercall() {
    let mut f = Fixture::new();
    let mut op = EvtchnOpCompat { cmd: EvtchnOp::BindIpi.raw(), u: [0; 6] };
    op.set_payload(&EvtchnBindIpi { vcpu: VcpuId(0), port: p(0) });
    f.poke(BUF, op.as_bytes());
    assert_eq!(hc(&mut f, Hypercall::EventChannelOpCompat, BUF, 0), 0);
    let back = EvtchnOpCompat::from_bytes(&f.peek(BUF, EvtchnOpCompat::SIZE)).unwrap();
    assert_eq!(back.payload::<EvtchnBindIpi>().unwrap().port, p(1));
    op.cmd = EvtchnOp::Send.raw();
    op.set_payload(&p(1));
    f.poke(BUF, op.as_bytes());
    assert_eq!(hc(&mut f, Hypercall::EventChannelOpCompat, BUF, 0), 0);
    assert!(pending(&f, p(1)));
    for cmd in [EvtchnOp::Reset.raw(), EvtchnOp::InitControl.raw(), 14, 99] {
        op.cmd = cmd;
        f.poke(BUF, op.as_bytes());
        assert_eq!(hc(&mut f, Hypercall::EventChannelOpCompat, BUF, 0), err(Errno::ENOSYS));
    }
    assert_eq!(hc(&mut f, Hypercall::EventChannelOpCompat, 0x10, 0), err(Errno::EFAULT));
}

fn sched_poll(f: &mut Fixture, ports: &[u32], nr: u32, timeout: u64) -> i64 {
    let list: Vec<u8> = ports.iter().flat_map(|p| p.to_le_bytes()).collect();
    f.poke(BUF + 0x100, &list);
    let arg = SchedPoll { ports: BUF + 0x100, nr_ports: nr, pad0: 0, timeout };
    f.poke(BUF, arg.as_bytes());
    hc(f, Hypercall::SchedOp, 3, BUF)
}

#[test]
fn sched_poll_and_block_hypercalls() {
    let mut f = Fixture::new();
    let si = f.dom.shared_info;
    two_level::set_upcall_mask(&mut f.mem, VcpuInfoRef::legacy(si, VcpuId(0)), 1);
    let a = ipi(&mut f, 0).unwrap();
    let b = ipi(&mut f, 0).unwrap();
    assert_eq!(sched_poll(&mut f, &[a.0], 129, 0), err(Errno::EINVAL));
    assert_eq!(sched_poll(&mut f, &[a.0, 64], 2, 0), err(Errno::EINVAL));
    assert!(!f.dom.vcpus[0].blocked);
    assert_eq!(hc(&mut f, Hypercall::SchedOp, 3, 0x10), err(Errno::EFAULT));
    let arg = SchedPoll { ports: 0x10, nr_ports: 1, pad0: 0, timeout: 0 };
    f.poke(BUF, arg.as_bytes());
    assert_eq!(hc(&mut f, Hypercall::SchedOp, 3, BUF), err(Errno::EFAULT), "bad port list");
    ops::send(&mut f.dom, &mut f.mem, b).unwrap();
    assert_eq!(sched_poll(&mut f, &[a.0, b.0], 2, 0), 0);
    assert!(!f.dom.vcpus[0].blocked, "pending: returns at once");
    guest_ack(&mut f);
    assert_eq!(sched_poll(&mut f, &[a.0], 1, 77), 0);
    assert!(f.dom.vcpus[0].blocked);
    assert_eq!(f.dom.vcpus[0].evtchn.poll, Some(PollState { port: Some(a), timeout_ns: Some(77) }));
    assert_eq!(
        two_level::upcall_mask(&f.mem, VcpuInfoRef::legacy(si, VcpuId(0))),
        1,
        "poll keeps the mask"
    );
    vcpu_unblock(&mut f.dom.vcpus[0]);
    // Block (new and compat) enable upcalls and see a pending event.
    for (nr, arg) in [(Hypercall::SchedOp, 0), (Hypercall::SchedOpCompat, 0)] {
        two_level::set_upcall_mask(&mut f.mem, VcpuInfoRef::legacy(si, VcpuId(0)), 1);
        assert_eq!(hc(&mut f, nr, 1, arg), 0);
        assert_eq!(two_level::upcall_mask(&f.mem, VcpuInfoRef::legacy(si, VcpuId(0))), 0);
        assert!(f.dom.vcpus[0].blocked);
        assert_eq!(ops::send(&mut f.dom, &mut f.mem, a), Ok(true));
        assert!(!f.dom.vcpus[0].blocked);
        assert_eq!(hc(&mut f, nr, 1, arg), 0);
        assert!(!f.dom.vcpus[0].blocked, "an upcall is pending");
        guest_ack(&mut f);
    }
}
