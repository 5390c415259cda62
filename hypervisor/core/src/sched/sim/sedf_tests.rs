// SPDX-License-Identifier: GPL-2.0-only
//! sEDF behaviour in the simulation: guarantees under overload, extra time
//! by weight, latency scaling, short and long blocks, placement and
//! affinity without load balancing.

use std::println;

use super::{Behaviour, Sim};
use crate::sched::ops::Scheduler;
use crate::sched::sedf::params::{SedfPut, WEIGHT_PERIOD};
use crate::sched::sedf::{SedfParams, SedfScheduler};
use crate::sched::types::{Cpu, CpuMask, NS_PER_MS, SchedUnit};

const SEC: u64 = 1_000_000_000;
const MS: u64 = NS_PER_MS;

fn sedf_sim(cpus: usize) -> Sim<SedfScheduler> {
    let mut sim = Sim::new(SedfScheduler::new(), cpus);
    // Time-driven units without extra time leave the CPU idle on purpose.
    sim.check_work_conservation = false;
    sim
}

/// Time-driven parameters.
fn rt(period: u64, slice: u64, extratime: bool) -> SedfParams {
    SedfParams::default()
        .put(SedfPut { period, slice, latency: 0, extratime: u32::from(extratime), weight: 0 })
        .unwrap()
}

/// Best-effort with extra weight `w`.
fn best_effort(w: u32) -> SedfParams {
    SedfParams::default().put(SedfPut { extratime: 1, weight: w, ..SedfPut::default() }).unwrap()
}

/// Run time of unit `i` in each period `[start + k*period, start + (k+1)*period)`.
fn per_period(
    sim: &mut Sim<SedfScheduler>,
    i: usize,
    start: u64,
    period: u64,
    n: usize,
) -> Vec<u64> {
    assert!(sim.now <= start);
    sim.run_for(start - sim.now);
    (0..n)
        .map(|_| {
            let before = sim.units[i].run_ns;
            sim.run_for(period);
            sim.units[i].run_ns - before
        })
        .collect()
}

#[test]
fn a_20ms_5ms_domain_gets_its_slice_every_period_under_overload() {
    for extratime in [false, true] {
        let mut sim = sedf_sim(1);
        let a = sim.add(
            SchedUnit::new(1, 0),
            rt(20 * MS, 5 * MS, extratime),
            CpuMask::ALL,
            Behaviour::CpuBound,
        );
        for d in 2..5 {
            sim.add(SchedUnit::new(d, 0), SedfParams::default(), CpuMask::ALL, Behaviour::CpuBound);
        }
        // Woken at 0: the first deadline is `now + slice` (Xen's first
        // wake), so its periods are [5 + 20k, 25 + 20k) ms.
        let got = per_period(&mut sim, a, 5 * MS, 20 * MS, 500);
        let short = got.iter().filter(|&&g| g < 5 * MS).count();
        println!(
            "extratime {extratime}: {short} of {} periods short; first {:?}",
            got.len(),
            &got[..4]
        );
        assert_eq!(short, 0, "every period got its 5 ms");
        if !extratime {
            assert!(got.iter().all(|&g| g == 5 * MS), "no more than the slice without extra time");
        } else {
            // It shares the idle 75% with the three best-effort units by
            // score: utilisation 25% counts as extra weight 32 against
            // their 1 each (Xen: full utilisation = weight 128), so it gets
            // 32/35 of the extra time: 5 + 15 * 32/35 = 18.7 ms a period.
            let mean = got.iter().sum::<u64>() / got.len() as u64;
            assert!(mean.abs_diff(18_714_285) < 300_000, "mean {mean}");
        }
        // The three best-effort units share what is left evenly.
        let others: Vec<u64> = sim.units[1..].iter().map(|u| u.run_ns).collect();
        let (lo, hi) = (others.iter().min().unwrap(), others.iter().max().unwrap());
        assert!((hi - lo) * 100 <= *hi * 3, "best-effort shares {others:?}");
    }
}

#[test]
fn guarantees_of_several_time_driven_domains_hold_together() {
    // 20/5 + 30/9 + 50/10 = 25% + 30% + 20% = 75% guaranteed on one CPU.
    let mut sim = sedf_sim(1);
    let set = [(20, 5), (30, 9), (50, 10)];
    for (d, (p, s)) in set.iter().enumerate() {
        sim.add(
            SchedUnit::new(d as u16 + 1, 0),
            rt(p * MS, s * MS, false),
            CpuMask::ALL,
            Behaviour::CpuBound,
        );
    }
    sim.add(SchedUnit::new(9, 0), SedfParams::default(), CpuMask::ALL, Behaviour::CpuBound);
    sim.run_for(SEC);
    let base: Vec<u64> = sim.units.iter().map(|u| u.run_ns).collect();
    sim.run_for(6 * SEC);
    for (i, (p, s)) in set.iter().enumerate() {
        let got = sim.units[i].run_ns - base[i];
        let want = 6 * SEC * s / p;
        assert!(got.abs_diff(want) <= s * MS, "unit {i}: {got} vs {want}");
    }
    let be = sim.units[3].run_ns - base[3];
    assert!(be.abs_diff(6 * SEC / 4) < 60 * MS, "best effort got the idle 25%: {be}");
}

#[test]
fn extra_time_is_shared_by_weight() {
    let mut sim = sedf_sim(1);
    sim.add(SchedUnit::new(1, 0), rt(20 * MS, 5 * MS, false), CpuMask::ALL, Behaviour::CpuBound);
    let weights = [1u32, 3, 4];
    for (d, &w) in weights.iter().enumerate() {
        sim.add(SchedUnit::new(d as u16 + 2, 0), best_effort(w), CpuMask::ALL, Behaviour::CpuBound);
    }
    sim.run_for(SEC);
    let base: Vec<u64> = sim.units.iter().map(|u| u.run_ns).collect();
    sim.run_for(10 * SEC);
    let got: Vec<u64> = (1..4).map(|i| sim.units[i].run_ns - base[i]).collect();
    let total: u64 = got.iter().sum();
    assert!(total.abs_diff(10 * SEC * 3 / 4) < 10 * MS, "the idle 75% is used: {total}");
    let sum_w: u32 = weights.iter().sum();
    for (g, &w) in got.iter().zip(&weights) {
        let want = total as f64 * f64::from(w) / f64::from(sum_w);
        let err = (*g as f64 - want).abs() / want;
        println!("extra weight {w}: {g} ns, expected {want:.0}, error {:.2}%", err * 100.0);
        assert!(err < 0.05, "weight {w}: {g} vs {want}");
    }
}

#[test]
fn utilisation_weights_extra_time_of_time_driven_domains() {
    // With extra weight 0 a time-driven domain's extra score is its
    // utilisation's inverse: 40% gets twice the extra time of 20%.
    let mut sim = sedf_sim(1);
    sim.add(SchedUnit::new(1, 0), rt(50 * MS, 10 * MS, true), CpuMask::ALL, Behaviour::CpuBound);
    sim.add(SchedUnit::new(2, 0), rt(50 * MS, 20 * MS, true), CpuMask::ALL, Behaviour::CpuBound);
    sim.run_for(SEC);
    let base: Vec<u64> = sim.units.iter().map(|u| u.run_ns).collect();
    sim.run_for(10 * SEC);
    let a = sim.units[0].run_ns - base[0];
    let b = sim.units[1].run_ns - base[1];
    let (xa, xb) = (a - 2 * SEC, b - 4 * SEC);
    println!("extra time by utilisation: {xa} vs {xb}");
    assert!(a + b > 10 * SEC - 10 * MS);
    assert!((xb as f64 / xa as f64 - 2.0).abs() < 0.1, "{xa} {xb}");
}

#[test]
fn weight_driven_domains_share_the_weight_period() {
    let mut sim = sedf_sim(1);
    let wd = |w| SedfParams::default().put(SedfPut { weight: w, ..SedfPut::default() }).unwrap();
    sim.add(SchedUnit::new(1, 0), rt(20 * MS, 5 * MS, false), CpuMask::ALL, Behaviour::CpuBound);
    sim.add(SchedUnit::new(2, 0), wd(1), CpuMask::ALL, Behaviour::CpuBound);
    sim.add(SchedUnit::new(3, 0), wd(2), CpuMask::ALL, Behaviour::CpuBound);
    // (100 - 5 - 25) ms of the weight period, 1:2.
    let p = sim.sched.dom_params(crate::sched::types::SchedUnit::new(3, 0).dom).unwrap();
    assert_eq!((p.period, p.slice, p.weight), (WEIGHT_PERIOD, 70 * MS * 2 / 3, 2));
    assert_eq!(
        sim.sched.unit(SchedUnit::new(2, 0)).unwrap().slice,
        i64::try_from(70 * MS / 3).unwrap()
    );
    sim.run_for(SEC);
    let base: Vec<u64> = sim.units.iter().map(|u| u.run_ns).collect();
    sim.run_for(5 * SEC);
    let b = sim.units[1].run_ns - base[1];
    let c = sim.units[2].run_ns - base[2];
    assert!(b.abs_diff(5 * SEC * 70 / 300) < 30 * MS, "{b}");
    assert!(c.abs_diff(5 * SEC * 140 / 300) < 30 * MS, "{c}");
}

#[test]
fn latency_scaling_wakes_io_bound_domains_sooner() {
    let run = |latency: u64| {
        let mut sim = sedf_sim(1);
        let mut io = rt(100 * MS, 20 * MS, false);
        io.latency = latency;
        // Runs 1 ms, then sleeps 150 ms: every wake is a long block.
        let a = sim.add(
            SchedUnit::new(1, 0),
            io,
            CpuMask::ALL,
            Behaviour::IoBound { run_ns: MS, sleep_ns: 150 * MS },
        );
        sim.add(
            SchedUnit::new(2, 0),
            rt(100 * MS, 70 * MS, false),
            CpuMask::ALL,
            Behaviour::CpuBound,
        );
        sim.run_for(5 * SEC);
        let lat = &sim.units[a].latencies[1..];
        let worst = *lat.iter().max().unwrap();
        let u = sim.sched.unit(SchedUnit::new(1, 0)).unwrap();
        (worst, u.period, u.period_orig)
    };
    let (plain, _, _) = run(0);
    let (scaled, period, orig) = run(10 * MS);
    println!("worst wake-to-run latency: {plain} ns without a hint, {scaled} ns with 10 ms");
    assert!(plain > 20 * MS, "without a hint the earlier deadline runs first: {plain}");
    assert!(scaled < MS, "with the hint it runs at once: {scaled}");
    assert!(period <= orig);
}

#[test]
fn scaled_periods_double_back_to_the_real_one() {
    let mut s = SedfScheduler::new();
    s.init_cpu(Cpu(0)).unwrap();
    let a = SchedUnit::new(1, 0);
    let mut p = rt(80 * MS, 20 * MS, false);
    p.latency = 10 * MS;
    s.insert_unit(a, p, CpuMask::ALL).unwrap();
    s.wake(a, 0).unwrap();
    s.sleep(a).unwrap();
    // A long block: woken after its deadline.
    s.wake(a, SEC).unwrap();
    let u = s.unit(a).unwrap();
    assert_eq!((u.period, u.slice), (10 * MS as i64, 5 * MS as i64 / 2));
    // Each used-up slice doubles the period: 10, 20, 40, 80 ms.
    let mut now = SEC;
    for want in [20, 40, 80, 80] {
        let d = s.do_schedule(Cpu(0), now);
        assert_eq!(d.next, Some(a));
        now += d.slice_ns.unwrap();
        s.do_schedule(Cpu(0), now);
        assert_eq!(s.unit(a).unwrap().period, (want * MS) as i64);
        now = u64::try_from(s.unit(a).unwrap().deadl_abs - s.unit(a).unwrap().period).unwrap();
    }
}

#[test]
fn a_short_block_gives_up_the_period_and_claims_penalty_time() {
    let mut s = SedfScheduler::new();
    s.init_cpu(Cpu(0)).unwrap();
    let a = SchedUnit::new(1, 0);
    let b = SchedUnit::new(2, 0);
    s.insert_unit(a, rt(20 * MS, 10 * MS, true), CpuMask::ALL).unwrap();
    s.insert_unit(b, SedfParams::default(), CpuMask::ALL).unwrap();
    s.wake(b, 0).unwrap();
    s.wake(a, 0).unwrap();
    // A's first period is [10, 30) ms; B runs extra time until then.
    let d = s.do_schedule(Cpu(0), 0);
    assert_eq!(d.next, Some(b));
    let d = s.do_schedule(Cpu(0), 10 * MS);
    assert_eq!(d.next, Some(a));
    assert_eq!(d.slice_ns, Some(10 * MS));
    // It blocks after 3 ms and wakes 1 ms later, within its period.
    assert_eq!(s.sleep(a).unwrap(), CpuMask::only(Cpu(0)));
    assert_eq!(s.do_schedule(Cpu(0), 13 * MS).next, Some(b));
    assert!(
        s.wake(a, 14 * MS).unwrap().contains(Cpu(0)),
        "penalty time preempts utilisation extra time"
    );
    let u = s.unit(a).unwrap();
    assert_eq!(u.deadl_abs, (50 * MS) as i64, "no more guaranteed time in this period");
    // Its 7 lost ms are a claim on penalty time, which comes before B's.
    let d = s.do_schedule(Cpu(0), 14 * MS);
    assert_eq!(d.next, Some(a));
    assert_eq!(s.unit(a).unwrap().run, crate::sched::sedf::RunKind::ExtraPen);
    // After one penalty quantum the claim is paid (Xen 4.5): A goes on
    // in utilisation extra time at most.
    let d = s.do_schedule(Cpu(0), 14 * MS + d.slice_ns.unwrap());
    assert_ne!(s.unit(a).unwrap().run, crate::sched::sedf::RunKind::ExtraPen);
    assert!(s.pcpu(Cpu(0)).unwrap().extraq[0].is_empty());
    assert!(d.next.is_some());
    // In its next period it gets its full slice again.
    let d = s.do_schedule(Cpu(0), 30 * MS);
    assert_eq!((d.next, d.slice_ns), (Some(a), Some(10 * MS)));
}

#[test]
fn blocked_units_do_not_run_and_idle_cpus_wake_for_the_next_period() {
    let mut s = SedfScheduler::new();
    s.init_cpu(Cpu(0)).unwrap();
    let a = SchedUnit::new(1, 0);
    s.insert_unit(a, rt(20 * MS, 5 * MS, false), CpuMask::ALL).unwrap();
    assert_eq!(
        s.do_schedule(Cpu(0), 0),
        crate::sched::ops::Decision {
            next: None,
            slice_ns: Some(SEC),
            migrated: false,
            tickle: CpuMask::EMPTY
        }
    );
    assert!(s.wake(a, MS).unwrap().contains(Cpu(0)));
    // Its period begins at 1 + 5 = 6 ms: idle until then.
    let d = s.do_schedule(Cpu(0), MS);
    assert_eq!((d.next, d.slice_ns), (None, Some(5 * MS)));
    let d = s.do_schedule(Cpu(0), 6 * MS);
    assert_eq!((d.next, d.slice_ns), (Some(a), Some(5 * MS)));
    s.sleep(a).unwrap();
    assert_eq!(s.do_schedule(Cpu(0), 8 * MS).next, None);
    assert!(!s.is_eligible(a));
    // Woken after its deadline (26 ms): a new period at once.
    s.wake(a, 40 * MS).unwrap();
    let d = s.do_schedule(Cpu(0), 40 * MS);
    assert_eq!((d.next, d.slice_ns), (Some(a), Some(5 * MS)));
    assert_eq!(s.unit(a).unwrap().deadl_abs, (60 * MS) as i64);
    // Removed while running: the CPU must decide again and idles.
    assert_eq!(s.remove_unit(a).unwrap(), CpuMask::only(Cpu(0)));
    assert_eq!(s.do_schedule(Cpu(0), 41 * MS).next, None);
}

#[test]
fn units_stay_on_their_cpus_and_respect_affinity() {
    let mut sim = sedf_sim(2);
    // vCPU 0s spread over the least-populated CPUs (the higher on a tie).
    let a = sim.add(
        SchedUnit::new(1, 0),
        rt(20 * MS, 5 * MS, false),
        CpuMask::ALL,
        Behaviour::CpuBound,
    );
    let b = sim.add(SchedUnit::new(2, 0), SedfParams::default(), CpuMask::ALL, Behaviour::CpuBound);
    let c = sim.add(
        SchedUnit::new(3, 0),
        SedfParams::default(),
        CpuMask::only(Cpu(1)),
        Behaviour::CpuBound,
    );
    let d0 =
        sim.add(SchedUnit::new(4, 0), SedfParams::default(), CpuMask::ALL, Behaviour::CpuBound);
    let d1 =
        sim.add(SchedUnit::new(4, 1), SedfParams::default(), CpuMask::ALL, Behaviour::CpuBound);
    assert_eq!(sim.sched.unit(SchedUnit::new(1, 0)).unwrap().cpu, Cpu(1));
    assert_eq!(sim.sched.unit(SchedUnit::new(2, 0)).unwrap().cpu, Cpu(0));
    assert_eq!(sim.sched.unit(SchedUnit::new(4, 1)).unwrap().cpu, Cpu(1), "after vCPU 0's CPU");
    sim.run_for(2 * SEC);
    for i in [a, b, c, d0, d1] {
        assert_eq!(sim.units[i].ran_on.count(), 1, "{} never migrates", sim.units[i].id);
    }
    assert_eq!(sim.migrations, 0);
    // An affinity change moves it (Xen's pick: vCPU id modulo the CPUs).
    sim.set_affinity(a, CpuMask::only(Cpu(0)));
    sim.run_for(SEC);
    assert!(sim.units[a].ran_on.contains(Cpu(0)));
    let before = sim.units[a].run_ns;
    sim.run_for(SEC);
    assert!(
        (sim.units[a].run_ns - before).abs_diff(SEC / 4) <= 5 * MS,
        "its guarantee holds on the new CPU"
    );
    assert_eq!(sim.sched.pick_cpu(SchedUnit::new(4, 1)), Some(Cpu(1)));
}

#[test]
fn random_runs_keep_the_invariants() {
    let mut rng = crate::test_rng::Rng(0x5EDF);
    for round in 0..20 {
        let cpus = 1 + (rng.next() % 3) as usize;
        let mut sim = sedf_sim(cpus);
        for d in 0..6u16 {
            let params = match rng.next() % 3 {
                0 => SedfParams::default(),
                1 => best_effort(1 + (rng.next() % 8) as u32),
                _ => {
                    let p = (5 + rng.next() % 50) * MS;
                    rt(p, p / (2 + rng.next() % 6), rng.next().is_multiple_of(2))
                }
            };
            let mut params = params;
            if rng.next().is_multiple_of(3) {
                params.latency = (1 + rng.next() % 10) * MS;
            }
            let behaviour = match rng.next() % 3 {
                0 => Behaviour::CpuBound,
                1 => Behaviour::IoBound {
                    run_ns: (1 + rng.next() % 5) * MS,
                    sleep_ns: (1 + rng.next() % 60) * MS,
                },
                _ => Behaviour::Periodic {
                    period_ns: (5 + rng.next() % 40) * MS,
                    work_ns: (1 + rng.next() % 3) * MS,
                },
            };
            let aff = if rng.next().is_multiple_of(4) {
                CpuMask::only(Cpu((rng.next() % cpus as u64) as u32))
            } else {
                CpuMask::ALL
            };
            sim.add(SchedUnit::new(d + 1, 0), params, aff, behaviour);
        }
        for _ in 0..20 {
            sim.run_for((1 + rng.next() % 50) * MS);
            let i = (rng.next() % 6) as usize;
            match rng.next() % 4 {
                0 => sim.set_affinity(i, CpuMask::only(Cpu((rng.next() % cpus as u64) as u32))),
                1 => sim.set_affinity(i, CpuMask::ALL),
                2 => sim.yield_(i),
                _ => {
                    let dom = sim.units[i].id.dom;
                    let p = rt(20 * MS, 5 * MS, rng.next().is_multiple_of(2));
                    sim.sched.adjust(dom, p).unwrap();
                }
            }
        }
        sim.run_for(SEC);
        let total: u64 = (0..cpus).map(|c| sim.busy_ns(c)).sum();
        assert!(total > 0, "round {round}: something ran");
    }
}
