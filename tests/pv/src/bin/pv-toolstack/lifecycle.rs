// SPDX-License-Identifier: GPL-2.0-only
//! Lifecycle modes of the toolstack, chosen on dom0's command line with
//! `mode=<mode>`:
//!
//! * `pause`: builds and starts every domU, then holds the first one
//!   (`pv-heartbeat`, which prints a beat every 20 ms) with
//!   `XEN_DOMCTL_pausedomain` once it has run [`RUN_BEFORE_PAUSE_NS`] of CPU
//!   time, and checks, through `XEN_DOMCTL_getdomaininfo`, that it is
//!   `XEN_DOMINF_paused` and not running and that its CPU time stands
//!   still for [`HOLD_NS`]; pauses it a second time and unpauses it once
//!   (nested pauses: still paused, still no progress); unpauses it (no
//!   longer paused, CPU time grows again; one more unpause is `-EINVAL`)
//!   and waits for every domU to finish. It prints `pause: d<N> paused`,
//!   `pause: d<N> held paused for <ms> ms` (before the last unpause) and
//!   `pause: d<N> unpaused` (after it); between the first two the boot
//!   test expects no beat of the domU.
//! * `cycles`: `cycles=<n>` times (default [`DEFAULT_CYCLES`]) builds the
//!   first domU image, runs it to its shutdown and destroys it (odd
//!   cycles) or destroys it without ever unpausing it (even cycles), checks
//!   that the domain is gone (`getdomaininfo`: `-ESRCH`) and reads
//!   `XEN_SYSCTL_physinfo`'s `free_pages`: after every cycle it must equal
//!   the count before the first.
//! * `destroy`: builds and starts every domU, destroys the first one (a
//!   long `pv-heartbeat`) once it has run [`RUN_BEFORE_PAUSE_NS`] of CPU
//!   time, while it runs (repeating `XEN_DOMCTL_destroydomain` on
//!   `-EAGAIN`, as libxc does), checks that it is gone, waits for the
//!   others and checks that `free_pages` is back to its count before the
//!   first build. It prints `destroy: d<N> destroyed while running`.

use alloc::vec;

use pv_tests::guest_abi::domctl::{
    DomctlCmd, XEN_DOMINF_paused, XEN_DOMINF_running, XEN_DOMINF_shutdown,
};
use pv_tests::guest_abi::sysctl::{SysctlCmd, XenSysctl, XenSysctlPhysinfo};
use pv_tests::guest_abi::xen::{DomId, Errno, EvtchnPort, Hypercall};
use pv_tests::hypercall::hypercall1;
use pv_tests::ops::{XenError, result};
use pv_tests::{StartInfo, check, check_eq, evtchn, fail, println, shinfo};
use xen_domain_builder::{DomCtl, DomainConfig};

use super::{Hypervisor, Image, Running, domctl_plain, wait};

/// CPU time the paused domU must have had first (it is running, not just
/// built).
const RUN_BEFORE_PAUSE_NS: u64 = 30_000_000;

/// How long the domU is held paused for each check.
const HOLD_NS: u64 = 300_000_000;

/// How long the toolstack waits for a domU to make progress.
const PROGRESS_TIMEOUT_NS: u64 = 20_000_000_000;

/// Create/destroy cycles unless `cycles=` says otherwise.
const DEFAULT_CYCLES: u32 = 20;

const MS: u64 = 1_000_000;

/// A lifecycle mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Pause and unpause a running domU.
    Pause,
    /// Create and destroy domUs, counting free memory.
    Cycles(u32),
    /// Destroy a domU while it runs.
    Destroy,
}

impl Mode {
    /// The mode dom0's command line asks for, if any.
    pub fn from_cmdline(si: &StartInfo) -> Option<Self> {
        let line = si.cmd_line_bytes();
        match shinfo::cmdline_value(line, "mode")? {
            "pause" => Some(Self::Pause),
            "destroy" => Some(Self::Destroy),
            "cycles" => Some(Self::Cycles(
                shinfo::cmdline_value(line, "cycles")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(DEFAULT_CYCLES),
            )),
            other => {
                fail(format_args!("unknown toolstack mode={other}"));
                None
            }
        }
    }
}

/// Runs `mode` with the domU `images`, each of `mem` MiB.
pub fn run(
    mode: Mode,
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    images: &[Image<'_>],
    mem: u64,
) {
    println!("toolstack mode: {mode:?}");
    match mode {
        Mode::Pause => pause(hv, exc, images, mem),
        Mode::Cycles(n) => cycles(hv, exc, images, mem, n),
        Mode::Destroy => destroy_running(hv, exc, images, mem),
    }
}

/// Builds every image as a domU and unpauses them all.
fn start_all(hv: &mut Hypervisor, images: &[Image<'_>], mem: u64) -> alloc::vec::Vec<Running> {
    let mut running = alloc::vec::Vec::new();
    for image in images {
        if let Some(domid) = build(hv, image, mem) {
            println!("domU d{}: domU-{}.kernel, {mem} MiB", domid.0, image.n);
            running.push(Running { domid, n: image.n });
        }
    }
    for r in &running {
        if let Err(e) = hv.unpause(r.domid) {
            fail(format_args!("domU d{}: unpause: {e}", r.domid.0));
        }
    }
    running
}

/// Builds `image` as a paused domU (also the grant checks' builder).
pub(crate) fn build(hv: &mut Hypervisor, image: &Image<'_>, mem: u64) -> Option<DomId> {
    let Some(kernel) = image.kernel else {
        fail(format_args!("domU-{}: no kernel", image.n));
        return None;
    };
    let mut cfg = DomainConfig::new(kernel, image.cmdline, mem);
    cfg.evtchns_optional = true;
    match xen_domain_builder::build(hv, &cfg) {
        Ok(built) => {
            hv.rings.serve(&built, alloc::format!("domU-{}", image.n));
            Some(built.domid)
        }
        Err(e) => {
            fail(format_args!("domU-{}: build failed: {e}", image.n));
            None
        }
    }
}

/// System time (ns).
fn now() -> u64 {
    shinfo::now().unwrap_or(0)
}

/// Waits `ns` of system time, blocking on `exc` (or yielding).
fn sleep(exc: Option<EvtchnPort>, ns: u64) {
    let deadline = now().saturating_add(ns);
    while now() < deadline {
        let waited = match exc {
            Some(port) => {
                evtchn::clear_pending(port);
                evtchn::sched_poll(&[port], deadline)
            }
            None => pv_tests::ops::sched_yield(),
        };
        if waited.is_err() {
            let _ = pv_tests::ops::sched_yield();
        }
    }
}

/// `(flags, cpu_time)` of `dom`.
fn state(hv: &mut Hypervisor, dom: DomId) -> Result<(u32, u64), XenError> {
    hv.get_domain_info(dom).map(|i| (i.flags, i.cpu_time))
}

/// Waits until `dom` has more than `cpu` ns of CPU time (`true`), or has
/// shut down or the wait timed out (`false`).
fn wait_for_progress(hv: &mut Hypervisor, exc: Option<EvtchnPort>, dom: DomId, cpu: u64) -> bool {
    let deadline = now().saturating_add(PROGRESS_TIMEOUT_NS);
    while now() < deadline {
        match state(hv, dom) {
            Ok((flags, _)) if flags & XEN_DOMINF_shutdown != 0 => return false,
            Ok((_, t)) if t > cpu => return true,
            Ok(_) => sleep(exc, 5 * MS),
            Err(_) => return false,
        }
    }
    false
}

fn pause(hv: &mut Hypervisor, exc: Option<EvtchnPort>, images: &[Image<'_>], mem: u64) {
    let mut running = start_all(hv, images, mem);
    let Some(target) = running.first().map(|r| r.domid) else {
        fail("no domU to pause");
        return;
    };
    let d = target.0;
    if !wait_for_progress(hv, exc, target, RUN_BEFORE_PAUSE_NS) {
        fail(format_args!("d{d} did not run for {} ms before its pause", RUN_BEFORE_PAUSE_NS / MS));
        wait(hv, exc, &mut running);
        return;
    }
    held(hv, exc, target);
    wait(hv, exc, &mut running);
    check(running.is_empty(), "every domU finished after the pause");
}

/// The pause checks on `target`, a running domU.
fn held(hv: &mut Hypervisor, exc: Option<EvtchnPort>, target: DomId) {
    let d = target.0;
    if let Err(e) = domctl_plain(DomctlCmd::Pausedomain, target) {
        fail(format_args!("pausedomain d{d}: {e}"));
        return;
    }
    let paused_at = now();
    println!("pause: d{d} paused");
    let Ok((flags, cpu)) = state(hv, target) else {
        fail(format_args!("getdomaininfo d{d} after its pause"));
        return;
    };
    check(flags & XEN_DOMINF_paused != 0, format_args!("d{d} is XEN_DOMINF_paused ({flags:#x})"));
    check(
        flags & XEN_DOMINF_running == 0,
        format_args!("d{d} is not running once pausedomain returned ({flags:#x})"),
    );
    sleep(exc, HOLD_NS);
    let after = state(hv, target).map(|s| s.1);
    check_eq(after, Ok(cpu), format_args!("d{d}'s CPU time after {} ms paused", HOLD_NS / MS));

    // Nested: two pauses, one unpause: still paused.
    let second = domctl_plain(DomctlCmd::Pausedomain, target);
    check(second.is_ok(), format_args!("a second pausedomain of d{d} ({second:?})"));
    let one = domctl_plain(DomctlCmd::Unpausedomain, target);
    check(one.is_ok(), format_args!("one unpausedomain of d{d} ({one:?})"));
    let nested = state(hv, target);
    check(
        nested.is_ok_and(|(f, _)| f & XEN_DOMINF_paused != 0),
        format_args!("d{d} is still paused after two pauses and one unpause ({nested:?})"),
    );
    sleep(exc, HOLD_NS / 2);
    let after = state(hv, target).map(|s| s.1);
    check_eq(after, Ok(cpu), format_args!("d{d}'s CPU time while still paused"));

    println!("pause: d{d} held paused for {} ms", now().saturating_sub(paused_at) / MS);
    let last = domctl_plain(DomctlCmd::Unpausedomain, target);
    println!("pause: d{d} unpaused");
    check(last.is_ok(), format_args!("the last unpausedomain of d{d} ({last:?})"));
    let flags = state(hv, target).map(|s| s.0);
    check(
        flags.is_ok_and(|f| f & XEN_DOMINF_paused == 0),
        format_args!("d{d} is no longer paused ({flags:?})"),
    );
    let extra = domctl_plain(DomctlCmd::Unpausedomain, target).map_err(|e| e.errno());
    check_eq(extra, Err(Some(Errno::EINVAL)), format_args!("unpausedomain of unpaused d{d}"));
    check(
        wait_for_progress(hv, exc, target, cpu),
        format_args!("d{d} makes progress again after its unpause"),
    );
}

/// `XEN_SYSCTL_physinfo`'s `free_pages`.
fn free_pages() -> Result<u64, XenError> {
    let mut op = XenSysctl::new(SysctlCmd::Physinfo);
    // SAFETY: sysctl reads and writes only the envelope.
    let ret =
        unsafe { hypercall1(Hypercall::Sysctl.raw(), core::ptr::from_mut(&mut op).addr() as u64) };
    result(ret)?;
    let pi: XenSysctlPhysinfo = op.payload().ok_or(XenError::from(Errno::EINVAL))?;
    Ok(pi.free_pages)
}

fn cycles(hv: &mut Hypervisor, exc: Option<EvtchnPort>, images: &[Image<'_>], mem: u64, n: u32) {
    let Some(image) = images.first() else {
        fail("no domU image");
        return;
    };
    let before = match free_pages() {
        Ok(f) => f,
        Err(e) => {
            fail(format_args!("sysctl physinfo: {e}"));
            return;
        }
    };
    println!(
        "cycles: {n} create/destroy cycles of domU-{}.kernel, {mem} MiB; free pages before: {before}",
        image.n
    );
    let mut leaks = 0u32;
    for i in 1..=n {
        let Some(domid) = build(hv, image, mem) else { return };
        let during = free_pages().unwrap_or(0);
        let ran = i % 2 == 1;
        if ran {
            if let Err(e) = hv.unpause(domid) {
                fail(format_args!("cycle {i}: unpause d{}: {e}", domid.0));
            }
            let mut running = vec![Running { domid, n: image.n }];
            wait(hv, exc, &mut running);
        } else if let Err(e) = hv.destroy(domid) {
            fail(format_args!("cycle {i}: destroy d{}: {e}", domid.0));
        }
        let gone = hv.get_domain_info(domid).map(drop).map_err(|e| e.errno());
        if gone != Err(Some(Errno::ESRCH)) {
            fail(format_args!("cycle {i}: d{} is not gone after its destroy: {gone:?}", domid.0));
        }
        let after = free_pages().unwrap_or(0);
        println!(
            "cycle {i}: d{} {}, free pages {during} while it lived, {after} after",
            domid.0,
            if ran { "ran and was destroyed" } else { "destroyed without running" },
        );
        if during >= before {
            fail(format_args!("cycle {i}: the domU's memory did not show in free_pages"));
        }
        if after != before {
            leaks = leaks.saturating_add(1);
            fail(format_args!(
                "cycle {i}: {after} free pages after it, {before} before the first cycle"
            ));
        }
    }
    let after = free_pages();
    println!("cycles: free pages after: {after:?}");
    check_eq(after, Ok(before), format_args!("free pages after {n} create/destroy cycles"));
    check(leaks == 0, format_args!("no cycle of {n} leaked memory"));
}

fn destroy_running(hv: &mut Hypervisor, exc: Option<EvtchnPort>, images: &[Image<'_>], mem: u64) {
    let before = match free_pages() {
        Ok(f) => f,
        Err(e) => {
            fail(format_args!("sysctl physinfo: {e}"));
            return;
        }
    };
    let mut running = start_all(hv, images, mem);
    let Some(target) = running.first().map(|r| r.domid) else {
        fail("no domU to destroy");
        return;
    };
    let d = target.0;
    if !wait_for_progress(hv, exc, target, RUN_BEFORE_PAUSE_NS) {
        fail(format_args!("d{d} did not run before its destruction"));
    }
    let flags = state(hv, target).map(|s| s.0);
    check(
        flags.is_ok_and(|f| f & XEN_DOMINF_shutdown == 0),
        format_args!("d{d} is still running when destroyed ({flags:?})"),
    );
    // dom0 lets go of the domU's ring pages first, as `Hypervisor::destroy` does.
    hv.rings.forget(target);
    let mut calls = 0u32;
    let destroyed = loop {
        calls = calls.saturating_add(1);
        match domctl_plain(DomctlCmd::Destroydomain, target) {
            Err(e) if e.errno() == Some(Errno::EAGAIN) && calls < 1000 => {}
            other => break other,
        }
    };
    println!("destroy: d{d} destroyed while running ({calls} call(s))");
    check(destroyed.is_ok(), format_args!("destroydomain of running d{d}: {destroyed:?}"));
    let gone = hv.get_domain_info(target).map(drop).map_err(|e| e.errno());
    check_eq(gone, Err(Some(Errno::ESRCH)), format_args!("getdomaininfo of destroyed d{d}"));
    running.retain(|r| r.domid != target);
    wait(hv, exc, &mut running);
    check(running.is_empty(), "the other domUs finished");
    check_eq(free_pages(), Ok(before), "free pages after destroying a running domU");
}
