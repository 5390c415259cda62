// SPDX-License-Identifier: GPL-2.0-only
//! `pv-evtchn`: event channels of the domain's own, 2-level ABI
//! (`event_channel_op`, `event_channel_op_compat`, `SCHEDOP_poll`,
//! `SCHEDOP_block`).
//!
//! The kernel maps `shared_info`, installs a virtual IDT for stray
//! exceptions and registers the event callback of [`pv_tests::bounce`]
//! with the upcall recorder of [`pv_tests::evtchn`], which scans the
//! bitmaps as Linux does and counts the ports it handles. Events stay
//! masked (`evtchn_upcall_mask = 1`) except where a check opens them; an
//! upcall is then delivered on the way out of the next hypercall
//! (`xen_version`, Linux's "force callback"). The checks:
//!
//! * the FIFO ABI is refused, so a guest keeps the 2-level ABI, but its
//!   commands check their arguments as Xen 4.17's: `init_control` is
//!   `-ENOENT` for a missing vCPU, `-EINVAL` for a control block offset
//!   past 4096 - 72 or not 8-byte aligned and for a frame beyond memory or
//!   one that cannot be writable (the pinned L4), and with valid arguments
//!   (tried last of all) `-ENOSYS` (the deliberate deviation: Xen switches
//!   to FIFO and answers 0, which the check also accepts);
//!   `expand_array` is `-EOPNOTSUPP` (FIFO not set up), `set_priority`
//!   `-ENOSYS` (`-EINVAL` for an invalid port);
//! * loopback: `alloc_unbound` for ourselves gives port 1 (lowest free,
//!   port 0 reserved), `bind_interdomain` to it gives port 2, set pending;
//!   `status` shows both ends; `send` on either end raises the other;
//! * with upcalls masked, sends only set pending bits, the selector and
//!   `evtchn_upcall_pending`; opening them delivers one upcall, entered
//!   with the mask set, that sees every port;
//! * a masked port sets only its pending bit; `EVTCHNOP_unmask` raises it
//!   (one upcall);
//! * `bind_ipi`, `bind_virq` (`VIRQ_DEBUG`, `VIRQ_CONSOLE`) and their
//!   errors (`-EEXIST`, `-EINVAL` for a bad VIRQ or a global VIRQ on vCPU 1,
//!   `-ENOENT` for a missing vCPU), sending on a VIRQ port (`-EINVAL`),
//!   `bind_vcpu` rules, the compat hypercall, `-EFAULT` for bad pointers;
//! * `SCHEDOP_poll` returns at once on a pending (masked) port, rejects
//!   too many or bad ports, and returns after an expired timeout;
//!   `SCHEDOP_block` with an event pending returns (after the upcall) and
//!   leaves upcalls enabled;
//! * `close` (the other end of a loopback goes back to unbound, sends on it
//!   are dropped), port reuse, exhaustion (`-ENOSPC` at 4096 ports) and
//!   `EVTCHNOP_reset`.
#![no_std]
#![no_main]

use core::fmt;

use pv_tests::bounce;
use pv_tests::evtchn::{self as ev, handled};
use pv_tests::guest_abi::callback::CallbackType;
use pv_tests::guest_abi::event_channel::{
    EvtchnBindIpi, EvtchnBinding, EvtchnExpandArray, EvtchnInitControl, EvtchnOp, EvtchnOpCompat,
    EvtchnSetPriority,
};
use pv_tests::guest_abi::sched::SchedPoll;
use pv_tests::guest_abi::xen::{DomId, Errno, EvtchnPort, TrapInfo, VcpuId, Virq};
use pv_tests::ops::{self, XenError};
use pv_tests::pt::{BOGUS_MFN, InitialMapping};
use pv_tests::{StartInfo, check, check_eq, println, shinfo};

pv_tests::test_kernel!(name: "evtchn", main: test_main);

/// An address no page maps (the kernel lives in the top 2 GiB).
const UNMAPPED: u64 = 0x1000;

/// A vCPU id no domain has.
const NO_VCPU: u32 = 4096;

/// Exception vectors given a handler, so that a stray one is reported.
const VECTORS: [u8; 19] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20];

const SELF: DomId = DomId::SELF;

fn p(n: u32) -> EvtchnPort {
    EvtchnPort(n)
}

/// Checks that `r` failed with `errno`.
fn check_err<T: fmt::Debug>(r: Result<T, XenError>, errno: Errno, what: impl fmt::Display) {
    let got = r.map(|_| ()).map_err(|e| e.errno());
    check_eq(got, Err(Some(errno)), what);
}

/// Opens upcalls, forces a trip through the hypervisor (Linux's
/// `xen_force_evtchn_callback`) and masks them again; returns the number
/// of upcalls that ran.
fn deliver() -> u32 {
    let before = bounce::events();
    shinfo::set_upcall_mask(0);
    let _ = ops::xen_version();
    shinfo::set_upcall_mask(1);
    bounce::events().wrapping_sub(before)
}

fn test_main(si: &StartInfo) {
    if let Err(e) = shinfo::map(si) {
        pv_tests::fail(format_args!("mapping shared_info at {:#x}: {e}", si.shared_info));
        return;
    }
    check_eq(shinfo::upcall_mask(), 1, "dom0 starts with evtchn_upcall_mask");
    let mut table = [TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 }; 20];
    for (slot, &v) in table.iter_mut().zip(VECTORS.iter()) {
        *slot = bounce::trap_info(v, if v == 3 { 3 } else { 0 }, true);
    }
    if !check(bounce::set_trap_table(&table).is_ok(), "set_trap_table") {
        return;
    }
    ev::install_recorder();
    let r = bounce::register_callback(CallbackType::Event, 0, bounce::event_entry());
    if !check(r.is_ok(), format_args!("callback_op(register, event): {r:?}")) {
        return;
    }
    ev::clear_all_pending();

    fifo_refused(si);
    let (a, b) = loopback();
    masked_sends(a, b);
    port_mask_and_unmask(a, b);
    let (i, d) = ipi_and_virq();
    compat_and_faults();
    poll_and_block(a, i);
    close_and_reuse(a, b, d);
    exhaustion_and_reset();
    fifo_last(si);

    check_eq(bounce::unexpected_total(), 0, "no unexpected exceptions");
    check_eq(shinfo::upcall_mask(), 1, "evtchn_upcall_mask back to 1");
    println!("event upcalls: {}, ports handled: {}", bounce::events(), ev::handled_total());
}

/// A page-aligned page of ours for the FIFO control block checks.
#[repr(C, align(4096))]
struct ControlPage(core::cell::UnsafeCell<[u8; 4096]>);

// SAFETY: the hypervisor only checks the frame; nothing writes the page.
unsafe impl Sync for ControlPage {}

static CONTROL_PAGE: ControlPage = ControlPage(core::cell::UnsafeCell::new([0; 4096]));

/// `EVTCHNOP_init_control(gfn, offset, vcpu)`: the errno, and whether the
/// struct came back unchanged (`link_bits` still 0xa5).
fn init_control(gfn: u64, offset: u32, vcpu: u32) -> (Result<(), Option<Errno>>, bool) {
    let mut init = EvtchnInitControl {
        control_gfn: gfn,
        offset,
        vcpu: VcpuId(vcpu),
        link_bits: 0xa5,
        pad: [0; 7],
    };
    let r = ev::event_channel_op(EvtchnOp::InitControl, &mut init).map_err(|e| e.errno());
    (r, init.link_bits == 0xa5)
}

/// The FIFO ABI is not offered, but its commands check their arguments as
/// Xen 4.17's do; Linux, which tries FIFO first, then keeps the 2-level ABI.
fn fifo_refused(si: &StartInfo) {
    let map = InitialMapping::new(si);
    let l4 = map.as_ref().and_then(|m| m.va_to_mfn(si.pt_base));
    let page = map.as_ref().and_then(|m| m.va_to_mfn(CONTROL_PAGE.0.get().addr() as u64));
    let (Some(l4), Some(page)) = (l4, page) else {
        pv_tests::error("the MFNs of the L4 and of the control page");
        return;
    };
    let cases: [(&str, u64, u32, u32, Errno); 6] = [
        ("a vCPU the domain does not have", page, 0, NO_VCPU, Errno::ENOENT),
        ("an offset past the page minus the control block", page, 4032, 0, Errno::EINVAL),
        ("an offset beyond the page", page, 4096, 0, Errno::EINVAL),
        ("an offset not 8-byte aligned", page, 4, 0, Errno::EINVAL),
        ("a frame beyond memory", BOGUS_MFN, 0, 0, Errno::EINVAL),
        ("the pinned L4 (cannot be writable)", l4, 0, 0, Errno::EINVAL),
    ];
    for (what, gfn, offset, vcpu, errno) in cases {
        let (r, unchanged) = init_control(gfn, offset, vcpu);
        check(
            r == Err(Some(errno)) && unchanged,
            format_args!(
                "EVTCHNOP_init_control with {what}: {r:?}, expected {errno:?} (link_bits not \
                 written: {unchanged})"
            ),
        );
    }
    let mut gfn = EvtchnExpandArray { array_gfn: page };
    check_err(
        ev::event_channel_op(EvtchnOp::ExpandArray, &mut gfn),
        Errno::EOPNOTSUPP,
        "EVTCHNOP_expand_array without FIFO",
    );
    let mut prio = EvtchnSetPriority { port: p(1), priority: 7 };
    check_err(
        ev::event_channel_op(EvtchnOp::SetPriority, &mut prio),
        Errno::ENOSYS,
        "EVTCHNOP_set_priority on the 2-level ABI",
    );
    let mut prio = EvtchnSetPriority { port: p(1 << 20), priority: 7 };
    check_err(
        ev::event_channel_op(EvtchnOp::SetPriority, &mut prio),
        Errno::EINVAL,
        "EVTCHNOP_set_priority of an invalid port",
    );
}

/// `EVTCHNOP_init_control` with valid arguments, last of all because on a
/// Xen with FIFO it succeeds and switches the domain to the FIFO ABI (the
/// 2-level checks above would not hold after it). Here it is `-ENOSYS`
/// (the deliberate deviation: FIFO is not implemented) and nothing is
/// written back; Debian's Xen 4.17 answers 0.
fn fifo_last(si: &StartInfo) {
    let page = InitialMapping::new(si)
        .as_ref()
        .and_then(|m| m.va_to_mfn(CONTROL_PAGE.0.get().addr() as u64));
    let Some(page) = page else {
        pv_tests::error("the MFN of the control page");
        return;
    };
    let (r, unchanged) = init_control(page, 4024, 0);
    if r == Ok(()) {
        println!("EVTCHNOP_init_control with valid arguments: 0 (FIFO ABI, as Xen)");
    } else {
        check(
            r == Err(Some(Errno::ENOSYS)) && unchanged,
            format_args!(
                "EVTCHNOP_init_control with valid arguments: {r:?}, expected ENOSYS (FIFO not \
                 implemented) or 0 (link_bits not written: {unchanged})"
            ),
        );
    }
}

/// A loopback pair: port `a` allocated for ourselves, `b` bound to it.
fn loopback() -> (EvtchnPort, EvtchnPort) {
    let a = ev::alloc_unbound(SELF, SELF).unwrap_or(p(0));
    check_eq(a, p(1), "alloc_unbound(SELF, SELF): lowest free port, 0 reserved");
    check_eq(
        ev::status(a).ok(),
        Some((EvtchnBinding::Unbound { remote_dom: DomId(0) }, VcpuId(0))),
        "status of the unbound port (remote = our id)",
    );
    check_err(ev::alloc_unbound(DomId(7), SELF), Errno::ESRCH, "alloc_unbound in domain 7");
    check_err(ev::bind_interdomain(DomId(7), a), Errno::ESRCH, "bind_interdomain to domain 7");
    check_err(ev::bind_interdomain(SELF, p(40)), Errno::EINVAL, "bind_interdomain to a free port");

    let events = bounce::events();
    let b = ev::bind_interdomain(SELF, a).unwrap_or(p(0));
    check_eq(b, p(2), "bind_interdomain(SELF, a)");
    check(ev::is_pending(b) && !ev::is_pending(a), "the new local port is set pending");
    check(
        shinfo::upcall_pending() == 1 && ev::pending_sel() & 1 == 1,
        "selector bit 0 and evtchn_upcall_pending set",
    );
    check_eq(bounce::events(), events, "no upcall while masked");
    check_eq(
        ev::status(a).ok(),
        Some((EvtchnBinding::Interdomain { dom: DomId(0), port: b }, VcpuId(0))),
        "status of a",
    );
    check_eq(
        ev::status(b).ok(),
        Some((EvtchnBinding::Interdomain { dom: DomId(0), port: a }, VcpuId(0))),
        "status of b",
    );
    check_err(ev::bind_interdomain(SELF, a), Errno::EINVAL, "bind_interdomain to a bound port");

    check_eq(deliver(), 1, "opening upcalls delivers one upcall");
    check_eq(handled(b), 1, "the upcall handled b");
    check_eq(ev::mask_at_entry(), 1, "the upcall runs with events masked");
    check_eq(ev::sel_at_entry() & 1, 1, "with the selector bit set");
    check(!ev::is_pending(b) && shinfo::upcall_pending() == 0, "nothing left pending");
    (a, b)
}

/// Sends with upcalls masked only set bits; one upcall sees both ports.
fn masked_sends(a: EvtchnPort, b: EvtchnPort) {
    let events = bounce::events();
    check(ev::send(b).is_ok(), "send on b");
    check(ev::is_pending(a) && !ev::is_pending(b), "send on b raises a");
    check(ev::send(a).is_ok(), "send on a");
    check(ev::is_pending(b), "send on a raises b");
    check_eq(bounce::events(), events, "no upcall with evtchn_upcall_mask set");
    check_eq(shinfo::upcall_pending(), 1, "evtchn_upcall_pending set");
    check_eq(deliver(), 1, "one upcall once unmasked");
    check_eq((handled(a), handled(b)), (1, 2), "it handled a and b");
}

/// A masked port only sets its pending bit; `EVTCHNOP_unmask` delivers it.
fn port_mask_and_unmask(a: EvtchnPort, b: EvtchnPort) {
    ev::set_mask(a);
    check(ev::send(b).is_ok(), "send to masked a");
    check(ev::is_pending(a), "a pending");
    check_eq((ev::pending_sel(), shinfo::upcall_pending()), (0, 0), "no selector, no upcall");
    check_eq(deliver(), 0, "no upcall for a masked port");
    // Unmask with upcalls open: the upcall comes on the way out.
    let events = bounce::events();
    shinfo::set_upcall_mask(0);
    let r = ev::unmask(a);
    shinfo::set_upcall_mask(1);
    check(r.is_ok(), format_args!("EVTCHNOP_unmask(a): {r:?}"));
    check(!ev::is_masked(a), "mask bit cleared");
    check_eq(bounce::events().wrapping_sub(events), 1, "unmask delivered one upcall");
    check_eq(handled(a), 2, "for a");
    // Unmask with upcalls masked: selector and upcall flag only.
    ev::set_mask(a);
    check(ev::send(b).is_ok(), "send to masked a again");
    check(ev::unmask(a).is_ok(), "EVTCHNOP_unmask(a) while masked");
    check(
        ev::pending_sel() & 1 == 1 && shinfo::upcall_pending() == 1,
        "unmask raised the selector and evtchn_upcall_pending",
    );
    check_eq(deliver(), 1, "delivered once opened");
    check_eq(handled(a), 3, "a handled again");
    check(ev::unmask(p(4096)).is_err(), "EVTCHNOP_unmask(4096) fails");
}

/// IPI and VIRQ ports and their errors; returns the IPI and the
/// `VIRQ_DEBUG` port.
fn ipi_and_virq() -> (EvtchnPort, EvtchnPort) {
    let i = ev::bind_ipi(0).unwrap_or(p(0));
    check_eq(i, p(3), "bind_ipi(vCPU 0)");
    check_eq(ev::status(i).ok(), Some((EvtchnBinding::Ipi, VcpuId(0))), "status of the IPI");
    check_err(ev::bind_ipi(NO_VCPU), Errno::ENOENT, "bind_ipi to a missing vCPU");
    let events = bounce::events();
    shinfo::set_upcall_mask(0);
    let r = ev::send(i);
    shinfo::set_upcall_mask(1);
    check(r.is_ok(), "send on the IPI port");
    check_eq(bounce::events().wrapping_sub(events), 1, "the IPI upcall came at once");
    check_eq(handled(i), 1, "for the IPI port");

    let debug = Virq::Debug.raw();
    let d = ev::bind_virq(debug, 0).unwrap_or(p(0));
    check_eq(d, p(4), "bind_virq(VIRQ_DEBUG, 0)");
    check_eq(ev::status(d).ok(), Some((EvtchnBinding::Virq(debug), VcpuId(0))), "its status");
    check_err(ev::bind_virq(debug, 0), Errno::EEXIST, "VIRQ_DEBUG bound twice");
    check_err(ev::bind_virq(Virq::Console.raw(), 1), Errno::EINVAL, "global VIRQ on vCPU 1");
    check_err(ev::bind_virq(24, 0), Errno::EINVAL, "VIRQ 24");
    check_err(ev::bind_virq(Virq::Timer.raw(), NO_VCPU), Errno::ENOENT, "missing vCPU");
    check_err(ev::send(d), Errno::EINVAL, "send on a VIRQ port");
    let c = ev::bind_virq(Virq::Console.raw(), 0).unwrap_or(p(0));
    check_eq(c, p(5), "bind_virq(VIRQ_CONSOLE, 0)");

    check_err(ev::bind_vcpu(d, 0), Errno::EINVAL, "bind_vcpu of a per-vCPU VIRQ");
    check_err(ev::bind_vcpu(i, 0), Errno::EINVAL, "bind_vcpu of an IPI");
    check(ev::bind_vcpu(c, 0).is_ok(), "bind_vcpu of a global VIRQ");
    check(ev::bind_vcpu(p(1), 0).is_ok(), "bind_vcpu of an interdomain port");
    check_err(ev::bind_vcpu(p(1), NO_VCPU), Errno::ENOENT, "bind_vcpu to a missing vCPU");
    check_err(ev::bind_vcpu(p(40), 0), Errno::EINVAL, "bind_vcpu of a free port");
    check(ev::close(c).is_ok(), "close VIRQ_CONSOLE");
    check_eq(ev::status(p(0)).ok(), Some((EvtchnBinding::Closed, VcpuId(0))), "port 0");
    check_err(ev::status(p(4096)), Errno::EINVAL, "status of port 4096");
    (i, d)
}

/// `event_channel_op_compat` and bad pointers.
fn compat_and_faults() {
    let mut op = EvtchnOpCompat { cmd: EvtchnOp::BindIpi.raw(), u: [0; 6] };
    op.set_payload(&EvtchnBindIpi { vcpu: VcpuId(0), port: p(0) });
    let r = ev::event_channel_op_compat(&mut op);
    let port = op.payload::<EvtchnBindIpi>().map_or(p(0), |a| a.port);
    check(r.is_ok() && port == p(5), format_args!("compat bind_ipi: {r:?}, port {port:?}"));
    op.cmd = EvtchnOp::Close.raw();
    op.set_payload(&port);
    check(ev::event_channel_op_compat(&mut op).is_ok(), "compat close");
    op.cmd = EvtchnOp::Reset.raw();
    check_err(ev::event_channel_op_compat(&mut op), Errno::ENOSYS, "compat reset (not in compat)");

    for (op, name) in [
        (EvtchnOp::AllocUnbound, "alloc_unbound"),
        (EvtchnOp::BindIpi, "bind_ipi"),
        (EvtchnOp::Send, "send"),
        (EvtchnOp::Status, "status"),
    ] {
        // SAFETY: the address is unmapped: the hypervisor must refuse it.
        let r = unsafe { ev::event_channel_op_raw(op.raw(), UNMAPPED) };
        check_eq(Errno::from_neg_i64(r), Some(Errno::EFAULT), format_args!("{name}(bad pointer)"));
    }
    // SAFETY: as above, through the compat hypercall.
    let r = unsafe {
        pv_tests::hypercall::hypercall1(
            pv_tests::guest_abi::xen::Hypercall::EventChannelOpCompat.raw(),
            UNMAPPED,
        )
    };
    check_eq(Errno::from_neg_i64(r), Some(Errno::EFAULT), "compat(bad pointer)");
}

/// `SCHEDOP_poll` and `SCHEDOP_block` with events pending.
fn poll_and_block(a: EvtchnPort, i: EvtchnPort) {
    ev::set_mask(i);
    check(ev::send(i).is_ok(), "send on the masked IPI port");
    check(ev::sched_poll(&[i], 0).is_ok(), "poll returns at once on a pending masked port");
    check(ev::sched_poll(&[a, i], 0).is_ok(), "poll on two ports, one pending");
    let many = [i; 129];
    check_err(ev::sched_poll(&many, 0), Errno::EINVAL, "poll on 129 ports");
    check_err(
        ev::sched_poll(&[p(5000), i], 0),
        Errno::EINVAL,
        "poll on port 5000 (before a pending one)",
    );
    let bad = SchedPoll { ports: UNMAPPED, nr_ports: 1, pad0: 0, timeout: 0 };
    check_eq(
        Errno::from_neg_i64(ev::sched_poll_raw(&bad)),
        Some(Errno::EFAULT),
        "poll with a bad port list",
    );
    // SAFETY: the address is unmapped: the hypervisor must refuse it.
    let r = unsafe {
        pv_tests::hypercall::hypercall2(
            pv_tests::guest_abi::xen::Hypercall::SchedOp.raw(),
            3,
            UNMAPPED,
        )
    };
    check_eq(Errno::from_neg_i64(r), Some(Errno::EFAULT), "poll with a bad argument");
    ev::clear_pending(i);
    ev::clear_mask(i);
    check(!ev::is_pending(a), "a is not pending");
    check(ev::sched_poll(&[a], 1).is_ok(), "poll with an expired timeout returns");

    // Block with an event pending: returns after the upcall, events open.
    let events = bounce::events();
    check(ev::send(i).is_ok(), "send on the IPI port (masked upcalls)");
    let r = ev::sched_block();
    let mask_after = shinfo::upcall_mask();
    shinfo::set_upcall_mask(1);
    check(r.is_ok(), format_args!("SCHEDOP_block with an event pending returns: {r:?}"));
    check_eq(mask_after, 0, "SCHEDOP_block enabled upcalls");
    check_eq(bounce::events().wrapping_sub(events), 1, "the upcall ran");
    check_eq(handled(i), 2, "for the IPI port");
}

/// Closing ports, the loopback's other end, and reuse of the lowest port.
fn close_and_reuse(a: EvtchnPort, b: EvtchnPort, d: EvtchnPort) {
    check(ev::close(b).is_ok(), "close b");
    check_eq(
        ev::status(a).ok(),
        Some((EvtchnBinding::Unbound { remote_dom: DomId(0) }, VcpuId(0))),
        "a is unbound again, waiting for us",
    );
    check(ev::send(a).is_ok(), "send on unbound a succeeds");
    check(!ev::is_pending(a) && !ev::is_pending(b), "and raises nothing");
    check(ev::close(a).is_ok(), "close a");
    check_err(ev::close(a), Errno::EINVAL, "close a twice");
    check_err(ev::close(p(0)), Errno::EINVAL, "close port 0");
    check_err(ev::close(p(4096)), Errno::EINVAL, "close port 4096");
    check_eq(ev::status(a).ok(), Some((EvtchnBinding::Closed, VcpuId(0))), "a is closed");
    check(ev::close(d).is_ok(), "close VIRQ_DEBUG");
    check_eq(ev::bind_virq(Virq::Debug.raw(), 0).ok(), Some(a), "VIRQ_DEBUG rebinds, on port 1");
}

/// Allocating every port, then `EVTCHNOP_reset`.
fn exhaustion_and_reset() {
    let mut allocated = 0u32;
    let mut last = Ok(p(0));
    for _ in 0..5000 {
        last = ev::alloc_unbound(SELF, SELF);
        if last.is_err() {
            break;
        }
        allocated = allocated.wrapping_add(1);
    }
    check_err(last, Errno::ENOSPC, format_args!("after {allocated} more ports"));
    check_eq(
        ev::status(p(4095)).ok().map(|(b, _)| b),
        Some(EvtchnBinding::Unbound { remote_dom: DomId(0) }),
        "port 4095 in use",
    );
    check_err(ev::bind_ipi(0), Errno::ENOSPC, "bind_ipi with no port left");
    check(ev::reset(SELF).is_ok(), "EVTCHNOP_reset(DOMID_SELF)");
    check_eq(ev::status(p(4095)).ok(), Some((EvtchnBinding::Closed, VcpuId(0))), "port 4095");
    check_eq(ev::status(p(1)).ok(), Some((EvtchnBinding::Closed, VcpuId(0))), "port 1");
    check_eq(ev::alloc_unbound(SELF, SELF).ok(), Some(p(1)), "port 1 is free again");
    check(ev::reset(SELF).is_ok(), "reset again");
}
