// SPDX-License-Identifier: GPL-2.0-only
//! `pv-spin`: a CPU-bound domU that measures the CPU it got, as the guest
//! sees it (the scheduler benchmark's load, booted by `pv-toolstack bench`).
//!
//! Its command line names a window of hypervisor system time,
//! `start=<ns> end=<ns>` (absolute, so that domUs started together share
//! it), or `secs=<n>` (from when the kernel starts). It burns CPU from boot
//! to `end` in **work units** (fixed runs of [`UNIT_ITERATIONS`] dependent
//! multiply-adds) and reads the pvclock after each unit. Inside the window
//! it adds up the steps between consecutive reads: a step of at most
//! [`GAP_NS`] is time it ran, a longer one a gap where another vCPU had its
//! CPU. `ran / window` is the share of a CPU the guest saw itself get, by
//! its own clock, whatever the speed of the CPU (QEMU's CPUs do not run at
//! equal speeds, so work counts alone would measure that too). The work
//! count and the vCPU's runstate (`VCPUOP_get_runstate_info`, time in
//! `RUNSTATE_running` across the window: the hypervisor's accounting, not a
//! measurement) are printed beside it for comparison.
//!
//! The result line, which `pv-toolstack bench` reads back from the console
//! ring (`XEN_SYSCTL_readconsole`), is `spin: window <ns> ns, ran <ns> ns,
//! gaps <n>, work <units> units, running <ns> ns, late <ns> ns` (`late`:
//! how far past `start` the first read in the window was).
#![no_std]
#![no_main]

use core::hint::black_box;

use pv_tests::guest_abi::vcpu::{RunState, VcpuOp, VcpuRunstateInfo};
use pv_tests::guest_abi::xen::Hypercall;
use pv_tests::ops::{XenError, result};
use pv_tests::{StartInfo, check, fail, hypercall, println, shinfo};

pv_tests::test_kernel!(name: "spin", main: test_main);

/// Iterations of one work unit (some 10 k instructions: long beside the
/// pvclock read that ends it, short beside a 10 ms scheduler tick).
const UNIT_ITERATIONS: u32 = 4096;

/// A step between two pvclock reads longer than this is time the vCPU did
/// not run (a unit takes some 50 µs under QEMU's TCG, a descheduled vCPU
/// waits at least until the next 10 ms scheduler tick).
const GAP_NS: u64 = 1_000_000;

/// The measurement window, in system time.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: u64,
    end: u64,
}

/// `key=<u64>` from the command line.
fn arg(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// The window the command line names; `now` is the kernel's start.
fn window(si: &StartInfo, now: u64) -> Option<Window> {
    let line = core::str::from_utf8(si.cmd_line_bytes()).unwrap_or("");
    match (arg(line, "start"), arg(line, "end"), arg(line, "secs")) {
        (Some(start), Some(end), _) if end > start => Some(Window { start, end }),
        (None, None, Some(secs)) => {
            Some(Window { start: now, end: now.saturating_add(secs.saturating_mul(1_000_000_000)) })
        }
        _ => None,
    }
}

/// One work unit: a chain of dependent multiply-adds the compiler cannot
/// fold away.
fn unit(seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..UNIT_ITERATIONS {
        x = black_box(
            x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407),
        );
    }
    x
}

/// Time this vCPU has spent running (`VCPUOP_get_runstate_info`).
fn running_ns() -> Result<u64, XenError> {
    let mut info: VcpuRunstateInfo = bytemuck::Zeroable::zeroed();
    // SAFETY: the hypervisor writes one `vcpu_runstate_info` to `info`.
    result(unsafe {
        hypercall::hypercall3(
            Hypercall::VcpuOp.raw(),
            u64::from(VcpuOp::GetRunstateInfo.raw()),
            0,
            core::ptr::from_mut(&mut info).addr() as u64,
        )
    })?;
    let running = usize::try_from(RunState::Running.raw()).unwrap_or(0);
    Ok(info.time.get(running).copied().unwrap_or(0))
}

fn test_main(si: &StartInfo) {
    if let Err(e) = shinfo::map(si) {
        fail(format_args!("mapping shared_info: {e}"));
        return;
    }
    let Some(booted) = shinfo::now() else {
        fail("no pvclock");
        return;
    };
    let Some(w) = window(si, booted) else {
        fail("command line: want `start=<ns> end=<ns>` or `secs=<n>`");
        return;
    };
    let mut x = booted;
    let mut now = booted;
    while now < w.start {
        x = unit(x);
        now = shinfo::now().unwrap_or(u64::MAX);
    }
    let late = now.saturating_sub(w.start);
    let run0 = running_ns();
    let mut work = 0u64;
    let mut seen = 0u64;
    let mut gaps = 0u64;
    while now < w.end {
        x = unit(x);
        work = work.saturating_add(1);
        let t = shinfo::now().unwrap_or(u64::MAX);
        let step = t.saturating_sub(now);
        if step <= GAP_NS {
            seen = seen.saturating_add(step);
        } else {
            gaps = gaps.saturating_add(1);
        }
        now = t;
    }
    let run1 = running_ns();
    let running = match (run0, run1) {
        (Ok(a), Ok(b)) => b.saturating_sub(a),
        (Err(e), _) | (_, Err(e)) => {
            fail(format_args!("VCPUOP_get_runstate_info: {e}"));
            0
        }
    };
    black_box(x);
    println!(
        "spin: window {} ns, ran {seen} ns, gaps {gaps}, work {work} units, running {running} ns, \
         late {late} ns",
        w.end.saturating_sub(w.start)
    );
    check(work > 0, "the domU got CPU time inside its window");
}
