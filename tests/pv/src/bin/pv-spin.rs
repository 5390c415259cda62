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
//!
//! With `period=<ns> slice=<ns>` as well (`pv-toolstack mode=sedf-bench`)
//! it also checks an sEDF guarantee from its runstate: it reads
//! `VCPUOP_get_runstate_info` after every work unit, and once it has seen
//! itself descheduled and running again it lays a grid of periods with
//! the first run's start half the idle part of a period (`(period −
//! slice) / 2`) after a grid line, so that each period's run falls inside
//! one grid period even when its start jitters. For each grid period the
//! time spent in `RUNSTATE_running` (exact at the grid lines: the running
//! time before the last read plus what the runstate's `state_entry_time`
//! puts after the line) must reach the slice less [`SLICE_SLACK_NS`]; it
//! prints `spin: periods <n>, met <m>, least <ns> ns, most <ns> ns`.
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

/// How far below the slice a period's running time may fall and still
/// count as met: 2% of sEDF's 5 ms. The grid lines are placed from a
/// pvclock read and a runstate taken by a hypercall some microseconds
/// apart (tens under TCG's instruction counter), so one period's figure
/// moves by that much and its neighbour's the other way (a 10 s run gave
/// 4980.5 to 5019.6 µs around an exact 5 ms).
const SLICE_SLACK_NS: u64 = 100_000;

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
    runstate().map(|(running, _)| running)
}

/// Time this vCPU has spent running and when it entered its current
/// state (`VCPUOP_get_runstate_info`).
fn runstate() -> Result<(u64, u64), XenError> {
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
    Ok((info.time.get(running).copied().unwrap_or(0), info.state_entry_time))
}

/// Per-period running time against a guaranteed slice (see the module
/// documentation).
#[derive(Clone, Copy, Debug)]
struct Periods {
    period: u64,
    slice: u64,
    /// The grid's next line, once laid.
    next_line: Option<u64>,
    /// Running time at the last grid line.
    at_line: u64,
    /// The last read: time and running time.
    last: Option<(u64, u64)>,
    count: u64,
    met: u64,
    least: u64,
    most: u64,
}

impl Periods {
    fn new(period: u64, slice: u64) -> Self {
        Self {
            period,
            slice,
            next_line: None,
            at_line: 0,
            last: None,
            count: 0,
            met: 0,
            least: u64::MAX,
            most: 0,
        }
    }

    /// One read at time `t`: running time `run`, running since `entry`.
    fn sample(&mut self, t: u64, run: u64, entry: u64) {
        let Some((t0, _)) = self.last else {
            self.last = Some((t, run));
            return;
        };
        let margin = self.period.saturating_sub(self.slice) / 2;
        if self.next_line.is_none() && entry > t0 && entry.saturating_sub(t0) > margin {
            // Descheduled for longer than the margin and running again
            // since `entry`: the grid's first line is `margin` before, where
            // it did not run, so its running time there is the one at
            // `entry`.
            let first = entry.saturating_sub(margin);
            self.next_line = Some(first.saturating_add(self.period));
            self.at_line = run.saturating_sub(t.saturating_sub(entry));
        }
        while let Some(line) = self.next_line.filter(|&l| l <= t) {
            // Running time at the line: after it the vCPU ran from
            // max(line, entry) to t.
            let after = t.saturating_sub(line.max(entry));
            let at = run.saturating_sub(after);
            let got = at.saturating_sub(self.at_line);
            self.count = self.count.saturating_add(1);
            if got.saturating_add(SLICE_SLACK_NS) >= self.slice {
                self.met = self.met.saturating_add(1);
            }
            self.least = self.least.min(got);
            self.most = self.most.max(got);
            self.at_line = at;
            self.next_line = Some(line.saturating_add(self.period));
        }
        self.last = Some((t, run));
    }
}

/// `period=<ns> slice=<ns>` from the command line.
fn periods(si: &StartInfo) -> Option<Periods> {
    let line = core::str::from_utf8(si.cmd_line_bytes()).unwrap_or("");
    match (arg(line, "period"), arg(line, "slice")) {
        (Some(p), Some(s)) if p > 0 && s <= p => Some(Periods::new(p, s)),
        _ => None,
    }
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
    let mut periods = periods(si);
    while now < w.end {
        x = unit(x);
        work = work.saturating_add(1);
        let t = shinfo::now().unwrap_or(u64::MAX);
        if let Some(p) = periods.as_mut() {
            match runstate() {
                Ok((run, entry)) => p.sample(t, run, entry),
                Err(e) => {
                    fail(format_args!("VCPUOP_get_runstate_info: {e}"));
                    return;
                }
            }
        }
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
    if let Some(p) = periods {
        println!(
            "spin: periods {}, met {}, least {} ns, most {} ns",
            p.count,
            p.met,
            if p.count == 0 { 0 } else { p.least },
            p.most
        );
        check(p.count > 0, "whole periods inside the window");
    }
    check(work > 0, "the domU got CPU time inside its window");
}
