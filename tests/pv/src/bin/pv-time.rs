// SPDX-License-Identifier: GPL-2.0-only
//! `pv-time`: the pvclock, the wallclock and the vCPU timers.
//!
//! * `vcpu_info[0].time` has an even version, a scale and no flags but
//!   the stable-TSC one (ours sets it; Xen only with `clocksource=tsc`); system time read through it never goes backwards and advances
//!   with the TSC; the wallclock (`wc_sec`, `wc_sec_hi`, `wc_nsec`) plus
//!   system time is a date after 2020 and before 2100.
//! * With `VIRQ_TIMER` bound and the default 100 Hz ticker stopped
//!   (`VCPUOP_stop_periodic_timer`), a single-shot timer 20 ms ahead
//!   (`VCPUOP_set_singleshot_timer`) ends a `SCHEDOP_block` no earlier than
//!   its deadline and well within a second, with one `VIRQ_TIMER` upcall;
//!   so does `set_timer_op`. `VCPU_SSHOTTMR_future` is ignored (Xen 4.17.0
//!   refused a past deadline with `-ETIME`; stable-4.17, Debian 12's Xen,
//!   ignores it): a past deadline raises `VIRQ_TIMER` at once.
//! * A 5 ms periodic timer keeps firing over 200 ms of system time with
//!   events enabled while the vCPU runs (Xen stops it while the vCPU is
//!   switched out, so it never ends a block), never more often than its
//!   period (about 40 upcalls on a quiet host, at least 3; late ticks are
//!   dropped, as in Xen); periods under 1 ms are `-EINVAL`.
//! * `SCHEDOP_poll` on a quiet port returns at its timeout, not before.
//! * `VCPUOP_is_up` is 1 for vCPU 0 and `-ENOENT` past the last vCPU.
//! * Long hypercalls are preempted (continuations): with the 5 ms periodic
//!   timer running and events enabled, a `multicall` of 512 `mmu_update`s
//!   of 256 requests each (flipping the RW bit of one PTE) gets every
//!   entry's result 0 and `*pdone` 256, leaves the PTE as the last request
//!   set it, and `VIRQ_TIMER` upcalls arrive while it runs (without
//!   preemption one tick at most could be delivered, after it); so does
//!   a plain `mmu_update` of 4096 requests (`*pdone` 4096).
#![no_std]
#![no_main]

use core::mem::offset_of;

use pv_tests::bounce;
use pv_tests::evtchn;
use pv_tests::guest_abi::callback::CallbackType;
use pv_tests::guest_abi::vcpu::{
    VCPU_SSHOTTMR_future, VcpuOp, VcpuSetPeriodicTimer, VcpuSetSingleshotTimer,
};
use pv_tests::guest_abi::xen::{
    DOMID_SELF, DomId, Errno, EvtchnPort, Hypercall, MulticallEntry, SharedInfo, VcpuInfo,
    VcpuTimeInfo, Virq, XEN_PVCLOCK_TSC_STABLE_BIT,
};
use pv_tests::hypercall;
use pv_tests::ops::{XenError, result};
use pv_tests::pt::{self, PAGE_SHIFT, PTE_RW};
use pv_tests::{StartInfo, check, check_eq, println, shinfo};

pv_tests::test_kernel!(name: "time", main: test_main);

const MS: u64 = 1_000_000;
/// 2020-01-01 and 2100-01-01, seconds since the epoch.
const YEAR_2020: u64 = 1_577_836_800;
const YEAR_2100: u64 = 4_102_444_800;

fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects (CR4.TSD is clear for PV guests).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// A consistent copy of `vcpu_info[0].time` (retried while the version is
/// odd or changes).
/// Offset of `vcpu_info[0].time` in `shared_info`.
const TIME_OFFSET: usize = offset_of!(SharedInfo, vcpu_info) + offset_of!(VcpuInfo, time);

fn time_info() -> VcpuTimeInfo {
    let base = usize::try_from(shinfo::address()).unwrap_or(0).wrapping_add(TIME_OFFSET);
    let ptr = core::ptr::with_exposed_provenance::<VcpuTimeInfo>(base);
    loop {
        // SAFETY: shared_info is mapped; the version field is read first and
        // last, as the pvclock protocol requires.
        let v1 = unsafe { core::ptr::addr_of!((*ptr).version).read_volatile() };
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        // SAFETY: as above.
        let t = unsafe { ptr.read_volatile() };
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        // SAFETY: as above.
        let v2 = unsafe { core::ptr::addr_of!((*ptr).version).read_volatile() };
        if v1 == v2 && v1 & 1 == 0 {
            return t;
        }
    }
}

/// System time now, through the pvclock.
fn now() -> u64 {
    let t = time_info();
    let delta = rdtsc().wrapping_sub(t.tsc_timestamp);
    let shifted = if t.tsc_shift < 0 {
        delta >> t.tsc_shift.unsigned_abs()
    } else {
        delta << t.tsc_shift.unsigned_abs()
    };
    let scaled = u128::from(shifted).wrapping_mul(u128::from(t.tsc_to_system_mul)) >> 32;
    t.system_time.wrapping_add(u64::try_from(scaled).unwrap_or(0))
}

fn vcpu_op<T>(cmd: VcpuOp, vcpu: u32, arg: Option<&T>) -> Result<u64, XenError> {
    let p = arg.map_or(0, |a| core::ptr::from_ref(a).addr() as u64);
    // SAFETY: the hypervisor reads at most one `T` from `arg`.
    result(unsafe {
        hypercall::hypercall3(Hypercall::VcpuOp.raw(), u64::from(cmd.raw()), u64::from(vcpu), p)
    })
}

fn set_timer_op(deadline: u64) -> Result<u64, XenError> {
    // SAFETY: only arms this vCPU's single-shot timer.
    result(unsafe { hypercall::hypercall1(Hypercall::SetTimerOp.raw(), deadline) })
}

fn err(e: Errno) -> Result<u64, XenError> {
    Err(XenError::from(e))
}

fn test_main(si: &StartInfo) {
    if let Err(e) = shinfo::map(si) {
        pv_tests::fail(format_args!("mapping shared_info: {e}"));
        return;
    }
    evtchn::install_recorder();
    let r = bounce::register_callback(CallbackType::Event, 0, bounce::event_entry());
    if !check(r.is_ok(), format_args!("callback_op(register, event): {r:?}")) {
        return;
    }
    clocks();
    let port = match evtchn::bind_virq(Virq::Timer.raw(), 0) {
        Ok(p) => p,
        Err(e) => {
            pv_tests::fail(format_args!("bind_virq(VIRQ_TIMER): {e}"));
            return;
        }
    };
    check(vcpu_op::<()>(VcpuOp::StopPeriodicTimer, 0, None).is_ok(), "VCPUOP_stop_periodic_timer");
    // Let a tick that was already on its way arrive and be discarded.
    block_until(now().wrapping_add(2 * MS), true);
    singleshot(port);
    periodic(port);
    poll_timeout();
    long_hypercalls(si, port);
    check_eq(vcpu_op::<()>(VcpuOp::IsUp, 0, None), Ok(1), "VCPUOP_is_up(0)");
    for id in [1u32, 31, 4096, u32::MAX] {
        check_eq(
            vcpu_op::<()>(VcpuOp::IsUp, id, None),
            err(Errno::ENOENT),
            format_args!("VCPUOP_is_up({id}) past the last vCPU"),
        );
    }
}

fn clocks() {
    let t = time_info();
    check(t.version & 1 == 0 && t.version != 0, format_args!("pvclock version {}", t.version));
    check(t.tsc_to_system_mul != 0, format_args!("tsc_to_system_mul {:#x}", t.tsc_to_system_mul));
    // Xen sets TSC_STABLE only with `clocksource=tsc`; ours always does.
    check(
        t.flags & !XEN_PVCLOCK_TSC_STABLE_BIT == 0,
        format_args!("pvclock flags {:#x}: none but TSC_STABLE", t.flags),
    );
    let mut last = now();
    let mut backwards = 0u32;
    for _ in 0..10_000 {
        let n = now();
        if n < last {
            backwards = backwards.wrapping_add(1);
        }
        last = n;
    }
    check_eq(backwards, 0, "system time never goes backwards over 10000 reads");
    let (a, ta) = (now(), rdtsc());
    while now() < a.wrapping_add(5 * MS) {}
    let (b, tb) = (now(), rdtsc());
    let took = b.wrapping_sub(a);
    check(tb > ta && took >= 5 * MS, format_args!("5 ms of system time: {took} ns"));
    let s = shinfo::address() as *const SharedInfo;
    // SAFETY: shared_info is mapped; the fields are plain integers.
    let (ver, sec, nsec, hi) = unsafe {
        (
            core::ptr::addr_of!((*s).wc_version).read_volatile(),
            core::ptr::addr_of!((*s).wc_sec).read_volatile(),
            core::ptr::addr_of!((*s).wc_nsec).read_volatile(),
            core::ptr::addr_of!((*s).wc_sec_hi).read_volatile(),
        )
    };
    let since_boot = u64::from(nsec).wrapping_add(now()) / 1_000_000_000;
    let wall = ((u64::from(hi) << 32) | u64::from(sec)).wrapping_add(since_boot);
    println!("wallclock: {wall} s since the epoch (wc_version {ver})");
    check(ver & 1 == 0 && ver != 0, format_args!("wc_version {ver} even and set"));
    check(
        (YEAR_2020..YEAR_2100).contains(&wall),
        format_args!("wallclock + system time = {wall} s: between 2020 and 2100"),
    );
}

/// Blocks (events enabled by `SCHEDOP_block`) until `deadline` has passed,
/// re-blocking on wake-ups that came early, with a single-shot timer at
/// the deadline if `arm`; masks events again after. Returns the number of
/// blocks.
fn block_until(deadline: u64, arm: bool) -> u32 {
    if arm {
        let _ = set_timer_op(deadline);
    }
    let mut blocks = 0u32;
    while now() < deadline && blocks < 1000 {
        let _ = evtchn::sched_block();
        blocks = blocks.wrapping_add(1);
    }
    shinfo::set_upcall_mask(1);
    if arm {
        // The loop may end on another wake-up just past the deadline, with
        // our single shot still to fire: cancel it, and drop an event it
        // raised meanwhile, so that it cannot end the next check's block
        // early (seen on Xen 4.17 under load: a 20 ms block ended after
        // 1.3 ms).
        let _ = set_timer_op(0);
        evtchn::clear_all_pending();
    }
    blocks
}

fn singleshot(port: EvtchnPort) {
    let before = evtchn::handled(port);
    let start = now();
    let set = VcpuSetSingleshotTimer {
        timeout_abs_ns: start.wrapping_add(20 * MS),
        flags: VCPU_SSHOTTMR_future,
        pad0: 0,
    };
    check_eq(
        vcpu_op(VcpuOp::SetSingleshotTimer, 0, Some(&set)),
        Ok(0),
        "VCPUOP_set_singleshot_timer(now + 20 ms, future)",
    );
    let r = evtchn::sched_block();
    shinfo::set_upcall_mask(1);
    let elapsed = now().wrapping_sub(start);
    check(r.is_ok(), format_args!("SCHEDOP_block: {r:?}"));
    check(
        (20 * MS..1000 * MS).contains(&elapsed),
        format_args!("the block ended after {elapsed} ns (20 ms timer)"),
    );
    check_eq(
        evtchn::handled(port).wrapping_sub(before),
        1,
        "one VIRQ_TIMER upcall for the single shot",
    );

    let before = evtchn::handled(port);
    let start = now();
    let past = VcpuSetSingleshotTimer {
        timeout_abs_ns: start.wrapping_sub(MS),
        flags: VCPU_SSHOTTMR_future,
        pad0: 0,
    };
    check_eq(
        vcpu_op(VcpuOp::SetSingleshotTimer, 0, Some(&past)),
        Ok(0),
        "a past deadline with VCPU_SSHOTTMR_future: the flag is ignored",
    );
    let r = evtchn::sched_block();
    shinfo::set_upcall_mask(1);
    let elapsed = now().wrapping_sub(start);
    check(
        r.is_ok() && elapsed < 100 * MS,
        format_args!("the past deadline fired at once: the block ended after {elapsed} ns"),
    );
    check_eq(
        evtchn::handled(port).wrapping_sub(before),
        1,
        "one VIRQ_TIMER upcall for the past deadline",
    );

    let before = evtchn::handled(port);
    let start = now();
    check_eq(set_timer_op(start.wrapping_add(10 * MS)), Ok(0), "set_timer_op(now + 10 ms)");
    let r = evtchn::sched_block();
    shinfo::set_upcall_mask(1);
    let elapsed = now().wrapping_sub(start);
    check(
        r.is_ok() && (10 * MS..1000 * MS).contains(&elapsed),
        format_args!("set_timer_op: the block ended after {elapsed} ns"),
    );
    check_eq(
        evtchn::handled(port).wrapping_sub(before),
        1,
        "one VIRQ_TIMER upcall for set_timer_op",
    );
    check_eq(set_timer_op(0), Ok(0), "set_timer_op(0) stops the timer");
}

fn periodic(port: EvtchnPort) {
    let bad = VcpuSetPeriodicTimer { period_ns: MS - 1 };
    check_eq(
        vcpu_op(VcpuOp::SetPeriodicTimer, 0, Some(&bad)),
        err(Errno::EINVAL),
        "a periodic timer under 1 ms is -EINVAL",
    );
    let before = evtchn::handled(port);
    let set = VcpuSetPeriodicTimer { period_ns: 5 * MS };
    check_eq(vcpu_op(VcpuOp::SetPeriodicTimer, 0, Some(&set)), Ok(0), "5 ms periodic timer");
    let start = now();
    // Running with events enabled, not blocked: Xen stops a vCPU's
    // periodic timer while it is switched out (`sched_context_switch`), so
    // a periodic tick never wakes a blocked vCPU there.
    shinfo::set_upcall_mask(0);
    while now() < start.wrapping_add(200 * MS) {
        core::hint::spin_loop();
    }
    shinfo::set_upcall_mask(1);
    let ticks = evtchn::handled(port).wrapping_sub(before);
    check_eq(
        vcpu_op::<()>(VcpuOp::StopPeriodicTimer, 0, None),
        Ok(0),
        "VCPUOP_stop_periodic_timer",
    );
    let elapsed = now().wrapping_sub(start);
    println!("periodic: {ticks} ticks over {} us", elapsed / 1000);
    // Xen drops the ticks a busy host made late (the next one is due a
    // period after the late one), so only the bounds are certain: at most
    // one tick per period (+1 for the one already due), and a timer that
    // keeps firing. About 40 on a quiet host; under TCG on a heavily
    // loaded host (load average 8) 3 in 165 ms have been seen.
    let most = (elapsed / (5 * MS)).saturating_add(1);
    check(
        (3..=most).contains(&u64::from(ticks)),
        format_args!("5 ms ticks over {} ms: {ticks} (3..={most}, ~40 unloaded)", elapsed / MS),
    );
}

fn poll_timeout() {
    let port = match evtchn::alloc_unbound(DomId::SELF, DomId::SELF) {
        Ok(p) => p,
        Err(e) => {
            pv_tests::fail(format_args!("alloc_unbound: {e}"));
            return;
        }
    };
    let start = now();
    let r = evtchn::sched_poll(&[port], start.wrapping_add(30 * MS));
    let elapsed = now().wrapping_sub(start);
    check(
        r.is_ok() && (30 * MS..1000 * MS).contains(&elapsed),
        format_args!("SCHEDOP_poll with a 30 ms timeout: {r:?} after {elapsed} ns"),
    );
    let _ = evtchn::close(port);
}

/// Requests of one `mmu_update` in the long multicall.
const REQS_PER_CALL: usize = 256;
/// Entries of the long multicall.
const CALLS: usize = 512;
/// Requests of the long plain `mmu_update`.
const LONG_REQS: usize = 4096;

/// A page whose PTE the long hypercalls flip.
#[repr(C, align(4096))]
struct Page([u8; 4096]);
static mut SCRATCH: Page = Page([0; 4096]);
/// `mmu_update` requests (`ptr`, `val`).
static mut REQS: [[u64; 2]; LONG_REQS] = [[0; 2]; LONG_REQS];
/// The long multicall.
static mut CALL_LIST: [MulticallEntry; CALLS] =
    [MulticallEntry { op: 0, result: 0, args: [0; 6] }; CALLS];
/// Each entry's `*pdone`, then the plain call's.
static mut DONE: [u32; CALLS + 1] = [0; CALLS + 1];

/// Machine address of the L1 entry mapping `va` and the entry's value.
fn l1e(si: &StartInfo, va: u64) -> Option<(u64, u64)> {
    let map = pt::InitialMapping::new(si)?;
    let mut table = map.l4_mfn;
    for shift in [39u32, 30, 21] {
        table = map.next(table, va, shift)?;
    }
    let index = (va >> PAGE_SHIFT) & 511;
    Some((pt::maddr(table) | index.wrapping_mul(8), map.entry(table, index)?))
}

/// The long hypercalls under a running 5 ms periodic timer: their results,
/// and the ticks that arrived meanwhile.
fn long_hypercalls(si: &StartInfo, port: EvtchnPort) {
    let Some((ptr, pte)) = l1e(si, (&raw const SCRATCH).addr() as u64) else {
        check(false, "the PTE of the scratch page");
        return;
    };
    // Alternately read-only and writable, ending as it was (writable).
    // SAFETY: only this function uses the request and call buffers, on one vCPU.
    let (Some(reqs), Some(calls), Some(done)) = (unsafe {
        ((&raw mut REQS).as_mut(), (&raw mut CALL_LIST).as_mut(), (&raw mut DONE).as_mut())
    }) else {
        return;
    };
    for (i, r) in reqs.iter_mut().enumerate() {
        *r = [ptr, if i % 2 == 0 { pte & !PTE_RW } else { pte | PTE_RW }];
    }
    let reqs_va = reqs.as_ptr().addr() as u64;
    for (c, d) in calls.iter_mut().zip(done.iter_mut()) {
        *d = u32::MAX;
        let pdone = core::ptr::from_mut(d).addr() as u64;
        *c = MulticallEntry {
            op: u64::from(Hypercall::MmuUpdate.raw()),
            result: 1,
            args: [reqs_va, REQS_PER_CALL as u64, pdone, u64::from(DOMID_SELF.0), 0, 0],
        };
    }
    let set = VcpuSetPeriodicTimer { period_ns: 5 * MS };
    check_eq(vcpu_op(VcpuOp::SetPeriodicTimer, 0, Some(&set)), Ok(0), "5 ms periodic timer");
    shinfo::set_upcall_mask(0);
    let before = evtchn::handled(port);
    let start = now();
    // SAFETY: the list and every entry's buffers are live and sized as given.
    let rc = unsafe {
        hypercall::hypercall2(
            Hypercall::Multicall.raw(),
            calls.as_ptr().addr() as u64,
            CALLS as u64,
        )
    };
    let elapsed = now().wrapping_sub(start);
    let ticks = evtchn::handled(port).wrapping_sub(before);
    shinfo::set_upcall_mask(1);
    println!(
        "continuations: multicall of {CALLS} mmu_updates x {REQS_PER_CALL}: {} us, {ticks} \
         ticks",
        elapsed / 1000
    );
    check_eq(rc, 0, "the long multicall returns 0");
    check(calls.iter().all(|c| c.result == 0), "every mmu_update entry returned 0");
    check(
        done.iter().take(CALLS).all(|&d| d as usize == REQS_PER_CALL),
        "every entry's pdone counts all its requests",
    );
    check_long_run(si, pte, elapsed, ticks, "multicall");

    let last = CALLS;
    let pdone = done.get_mut(last).map_or(0, |d| core::ptr::from_mut(d).addr() as u64);
    let before = evtchn::handled(port);
    shinfo::set_upcall_mask(0);
    let start = now();
    // SAFETY: `reqs` and the pdone word are live buffers of the sizes given.
    let rc = unsafe {
        hypercall::hypercall4(
            Hypercall::MmuUpdate.raw(),
            reqs_va,
            LONG_REQS as u64,
            pdone,
            u64::from(DOMID_SELF.0),
        )
    };
    let elapsed = now().wrapping_sub(start);
    let ticks = evtchn::handled(port).wrapping_sub(before);
    shinfo::set_upcall_mask(1);
    check_eq(vcpu_op::<()>(VcpuOp::StopPeriodicTimer, 0, None), Ok(0), "stop the ticker");
    println!("continuations: mmu_update of {LONG_REQS}: {} us, {ticks} ticks", elapsed / 1000);
    check_eq(rc, 0, "the long mmu_update returns 0");
    check_eq(
        done.get(last).copied(),
        u32::try_from(LONG_REQS).ok(),
        "its pdone counts every request",
    );
    check_long_run(si, pte, elapsed, ticks, "mmu_update");
}

/// After a long run of `elapsed` ns that saw `ticks` timer upcalls: the
/// PTE is back to `pte`, and if the run spanned several periods, ticks
/// arrived during it.
fn check_long_run(si: &StartInfo, pte: u64, elapsed: u64, ticks: u32, what: &str) {
    let now_pte = l1e(si, (&raw const SCRATCH).addr() as u64).map(|(_, v)| v);
    // Accessed, dirty and global may differ.
    let flags = pt::PTE_ACCESSED | 0x40 | 0x100;
    check_eq(
        now_pte.map(|v| v & !flags),
        Some(pte & !flags),
        format_args!("the {what} left the PTE as its last request set it"),
    );
    // Without preemption the pending bit could carry one tick at most,
    // delivered after the hypercall.
    if elapsed >= 30 * MS {
        check(
            ticks >= 3,
            format_args!("timer upcalls during the {} ms {what}: {ticks}", elapsed / MS),
        );
    }
}
