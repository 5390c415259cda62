// SPDX-License-Identifier: GPL-2.0-only
//! [`SchedCore`] driven the way the machine layer (`hypervisor/src/
//! schedule.rs`) drives it, in virtual time: each CPU has one one-shot
//! timer, armed on every return to a guest for [`SchedCore::next_event`]
//! and taken a little late (interrupt latency, the microsecond rounding of
//! the APIC count); a CPU calls [`SchedCore::tick`] only when its timer
//! fired, and [`SchedCore::schedule`] when [`SchedCore::need_resched`]
//! says so; CPUs tickled by another one hear of it an IPI latency later.
//!
//! The policy's own simulation ([`crate::sched::sim`]) ticks every CPU at
//! exact multiples of the tick period; this one shows what the scheduler
//! core makes of timers that come when they come. It found the credit
//! shares of `qemu/bench` off by up to 12% (the 1024-weight domain losing
//! 5% of its CPU, the cap overshooting) while the policy's simulation gave
//! them within 0.2%.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "a test harness on its own small tables"
)]

use alloc::vec::Vec;
use std::println;

use super::domain::Domain;
use super::schedule::SchedCore;
use crate::mm::Mfn;
use crate::sched::sedf::SedfPut;
use crate::sched::{CpuMask, CreditParams, SchedUnit, SchedulerKind, SedfParams, Time};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// How late the machine takes its timers and IPIs.
#[derive(Clone, Copy, Debug)]
struct Latency {
    /// Added to every timer deadline (interrupt entry, the exit path's work).
    timer_ns: u64,
    /// From a tickle to the tickled CPU's exit path.
    ipi_ns: u64,
}

/// One CPU of the simulated machine.
#[derive(Clone, Copy, Debug)]
struct MCpu {
    /// When its timer interrupt comes.
    timer_at: Option<Time>,
    /// When an IPI reaches it.
    ipi_at: Option<Time>,
    /// What it runs since when.
    running: Option<(usize, Time)>,
}

struct Machine {
    core: SchedCore,
    cpus: Vec<MCpu>,
    run_ns: Vec<u64>,
    lat: Latency,
    now: Time,
}

fn unit_index(u: SchedUnit) -> usize {
    usize::from(u.dom.0) - 1
}

impl Machine {
    /// `weights_caps.len()` single-vCPU CPU-bound domains (ids from 1) on
    /// `nr_cpus` CPUs.
    fn new(nr_cpus: u32, weights_caps: &[(u16, u16)], lat: Latency) -> Self {
        let mut core = SchedCore::new(nr_cpus).unwrap();
        for (i, &(weight, cap)) in weights_caps.iter().enumerate() {
            let mut d = Domain::new(guest_abi::xen::DomId(i as u16 + 1), false, Mfn(1));
            d.set_max_vcpus(1);
            for v in &mut d.vcpus {
                v.down = false;
                v.initialised = true;
            }
            d.sched_credit = CreditParams { weight, cap };
            core.reconcile_domain(&d, 0);
        }
        let cpus = (0..nr_cpus).map(|_| MCpu { timer_at: None, ipi_at: Some(0), running: None });
        let n = weights_caps.len();
        Self { core, cpus: cpus.collect(), run_ns: alloc::vec![0; n], lat, now: 0 }
    }

    /// Single-vCPU CPU-bound domains with sEDF parameters `params` (ids
    /// from 1) on `nr_cpus` CPUs under `sched=sedf`.
    fn new_sedf(nr_cpus: u32, params: &[SedfParams], lat: Latency) -> Self {
        let mut core = SchedCore::with_policy(nr_cpus, SchedulerKind::Sedf).unwrap();
        for (i, p) in params.iter().enumerate() {
            let mut d = Domain::new(guest_abi::xen::DomId(i as u16 + 1), false, Mfn(1));
            d.set_max_vcpus(1);
            for v in &mut d.vcpus {
                v.down = false;
                v.initialised = true;
            }
            d.sched_sedf = *p;
            core.reconcile_domain(&d, 0);
        }
        let cpus = (0..nr_cpus).map(|_| MCpu { timer_at: None, ipi_at: Some(0), running: None });
        let n = params.len();
        Self { core, cpus: cpus.collect(), run_ns: alloc::vec![0; n], lat, now: 0 }
    }

    /// One exit path on CPU `c` at `now`: the tick if its timer fired, a
    /// decision if one is due, the timer re-armed.
    fn exit_path(&mut self, c: usize, fired: bool) {
        let now = self.now;
        let cpu = c as u32;
        let mut tickle = CpuMask::EMPTY;
        if fired {
            tickle = tickle.or(self.core.tick(cpu, now));
        }
        if self.core.need_resched(cpu, now) {
            let d = self.core.schedule(cpu, now);
            tickle = tickle.or(d.tickle);
            let next = d.next.map(unit_index);
            if self.cpus[c].running.map(|(u, _)| u) != next {
                if let Some((u, since)) = self.cpus[c].running {
                    self.run_ns[u] += now - since;
                }
                self.cpus[c].running = next.map(|u| (u, now));
            }
        }
        for t in tickle.iter() {
            let i = t.index();
            if i != c && self.cpus[i].ipi_at.is_none() {
                self.cpus[i].ipi_at = Some(now + self.lat.ipi_ns);
            }
        }
        // The return path arms the one-shot timer; an idle CPU waits for
        // its longest interval.
        let deadline = self.core.next_event(cpu).unwrap_or(now + SEC);
        self.cpus[c].timer_at = Some(deadline.max(now) + self.lat.timer_ns);
    }

    fn run_until(&mut self, end: Time) {
        loop {
            let mut best: Option<(Time, usize, bool)> = None;
            for (i, m) in self.cpus.iter().enumerate() {
                for (at, fired) in [(m.timer_at, true), (m.ipi_at, false)] {
                    if let Some(at) = at
                        && best.is_none_or(|(b, _, _)| at < b)
                    {
                        best = Some((at, i, fired));
                    }
                }
            }
            let Some((at, c, fired)) = best else { return };
            if at >= end {
                break;
            }
            self.now = at;
            if fired {
                self.cpus[c].timer_at = None;
            } else {
                self.cpus[c].ipi_at = None;
            }
            self.exit_path(c, fired);
        }
        self.now = end;
        for m in &mut self.cpus {
            if let Some((u, since)) = m.running.as_mut() {
                self.run_ns[*u] += end - *since;
                *since = end;
            }
        }
    }

    /// Each domain's share of one CPU over `secs` seconds after a second
    /// of warm-up.
    fn shares(&mut self, secs: u64) -> Vec<f64> {
        self.run_until(SEC);
        let base = self.run_ns.clone();
        self.run_until((1 + secs) * SEC);
        self.run_ns.iter().zip(&base).map(|(r, b)| (r - b) as f64 / (secs * SEC) as f64).collect()
    }
}

/// The worst relative error of `got` against `expected`.
fn worst(got: &[f64], expected: &[f64]) -> f64 {
    got.iter().zip(expected).map(|(g, e)| (g - e).abs() / e).fold(0.0, f64::max)
}

const BENCH: [(u16, u16); 4] = [(256, 0), (256, 0), (512, 0), (1024, 0)];
const BENCH_EXPECTED: [f64; 4] = [0.25, 0.25, 0.5, 1.0];

/// `qemu/bench`'s weights on 2 CPUs whose timers come 100 µs late and IPIs
/// 5 µs late: within 1% of the weights (the issue asks 2%), as with exact
/// ticks. With ticks
/// re-armed from when they were handled and the accounting run a slice
/// after the previous one ran, this gave 26.1/25.1/49.7/99.1% (4.5%; 3%
/// at 300 µs, 4.2% at 3 ms): every period stretched by the lateness, and
/// the credit handed out fell behind the CPU time. With both on grids it
/// gave 25.4/25.4/50.6/98.6% (1.6%, the same with exact timers): the
/// accounting saw the credit of a unit running on another CPU as of that
/// CPU's last tick (see `CreditScheduler::burn_running`). Now
/// 24.9/25.1/50.0/100.0% (0.4%, also at 300 µs, 1 ms and 3 ms).
#[test]
fn bench_weights_with_late_timers() {
    let mut m = Machine::new(2, &BENCH, Latency { timer_ns: 100_000, ipi_ns: 5_000 });
    let got = m.shares(10);
    let err = worst(&got, &BENCH_EXPECTED);
    println!("late timers: shares {got:.4?}, worst error {:.2}%", err * 100.0);
    assert!(err <= 0.01, "shares {got:?}: worst error {:.2}%", err * 100.0);
}

/// The same with timers exactly on time.
#[test]
fn bench_weights_with_exact_timers() {
    let mut m = Machine::new(2, &BENCH, Latency { timer_ns: 0, ipi_ns: 0 });
    let got = m.shares(10);
    let err = worst(&got, &BENCH_EXPECTED);
    println!("exact timers: shares {got:.4?}, worst error {:.2}%", err * 100.0);
    assert!(err <= 0.01, "shares {got:?}: worst error {:.2}%", err * 100.0);
}

/// A cap of 30 alone on 2 CPUs with late timers: 30% within 2%. The
/// accounting used to run only from the tick of a busy CPU: with the
/// capped vCPU parked and the other CPU idle nothing ticked, nothing
/// unparked it until an idle CPU's longest timer (2.1% here); the master
/// CPU now keeps the accounting timer armed while it idles, as Xen's
/// `master_ticker`.
#[test]
fn cap_with_late_timers() {
    let mut m = Machine::new(2, &[(256, 30)], Latency { timer_ns: 20_000, ipi_ns: 5_000 });
    let got = m.shares(10);
    println!("cap 30, late timers: {:.2}%", got[0] * 100.0);
    assert!((got[0] - 0.30).abs() <= 0.006, "cap 30 gave {:.2}%", got[0] * 100.0);
}

/// Guard against a harness that runs nothing.
#[test]
fn every_domain_runs() {
    let mut m = Machine::new(2, &BENCH, Latency { timer_ns: 1_000, ipi_ns: 1_000 });
    let got = m.shares(1);
    assert!(got.iter().all(|&g| g > 0.1), "{got:?}");
    assert!(got.iter().sum::<f64>() > 1.99 - 2.0 * MS as f64 / SEC as f64, "{got:?}");
}

/// sEDF through the scheduler core with the machine layer's late one-shot
/// timers (`qemu/bench`'s set-up: a (20 ms, 5 ms) domain without extra
/// time and three best-effort CPU burners on one CPU): the domain gets its
/// slice in every period, whether the timers are exact or up to 3 ms late
/// (a late period start is made up before the deadline).
#[test]
fn sedf_guarantee_with_late_timers() {
    let rt = SedfParams::default()
        .put(SedfPut { period: 20 * MS, slice: 5 * MS, ..SedfPut::default() })
        .unwrap();
    let params = [rt, SedfParams::default(), SedfParams::default(), SedfParams::default()];
    for timer_ns in [0, 100_000, MS, 3 * MS] {
        let mut m = Machine::new_sedf(1, &params, Latency { timer_ns, ipi_ns: 5_000 });
        // Its periods are [5 + 20k, 25 + 20k) ms (first deadline: wake + slice).
        m.run_until(5 * MS + 20 * MS);
        let mut short = 0;
        let mut min = u64::MAX;
        for k in 1..500u64 {
            let before = m.run_ns[0];
            m.run_until(5 * MS + (k + 1) * 20 * MS);
            let got = m.run_ns[0] - before;
            min = min.min(got);
            if got < 5 * MS {
                short += 1;
            }
        }
        let others: u64 = m.run_ns[1..].iter().sum();
        println!("sedf, timers {timer_ns} ns late: {short} short periods of 499, least {min} ns");
        assert_eq!(short, 0, "timers {timer_ns} ns late: least {min} ns");
        assert!(others > 5 * SEC, "the burners had the rest: {others}");
    }
}
