// SPDX-License-Identifier: GPL-2.0-only
//! Credit scheduler unit tests: parameters, placement, priorities, accounting,
//! CPU removal and the dump. Whole-system behaviour is tested in `sched::sim`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests on known values")]

use alloc::string::String;

use super::*;
use crate::sched::types::NS_PER_MS;

const A: SchedUnit = SchedUnit::new(1, 0);
const B: SchedUnit = SchedUnit::new(2, 0);

fn sched(cpus: u32) -> CreditScheduler {
    let mut s = CreditScheduler::new(CreditGlobalParams::default()).unwrap();
    for c in 0..cpus {
        s.init_cpu(Cpu(c)).unwrap();
    }
    s
}

#[test]
fn parameters_are_validated() {
    let mut s = sched(2);
    let bad_weight = CreditParams { weight: 0, cap: 0 };
    assert_eq!(s.insert_unit(A, bad_weight, CpuMask::ALL), Err(SchedError::InvalidWeight));
    let cap = |cap| CreditParams { weight: 65535, cap };
    assert_eq!(s.insert_unit(A, cap(201), CpuMask::ALL), Err(SchedError::InvalidCap));
    s.insert_unit(A, cap(200), CpuMask::ALL).unwrap();
    assert_eq!(s.insert_unit(A, cap(0), CpuMask::ALL), Err(SchedError::UnitExists));
    assert_eq!(s.insert_unit(B, cap(0), CpuMask::only(Cpu(5))), Err(SchedError::EmptyAffinity));
    assert_eq!(s.adjust(DomId(9), cap(0)), Err(SchedError::NoSuchDomain));
    assert_eq!(s.adjust(DomId(1), bad_weight), Err(SchedError::InvalidWeight));
    assert_eq!(s.dom_params(DomId(1)), Some(cap(200)));
    assert_eq!(s.wake(B, 0), Err(SchedError::NoSuchUnit));
    assert_eq!(s.init_cpu(Cpu(1)), Err(SchedError::CpuAlreadyOnline));
    assert_eq!(s.init_cpu(Cpu(128)), Err(SchedError::CpuOutOfRange));

    let g = |tslice_ms, ratelimit_us| CreditGlobalParams { tslice_ms, ratelimit_us };
    assert_eq!(s.adjust_global(g(0, 0)), Err(SchedError::InvalidTimeslice));
    assert_eq!(s.adjust_global(g(1001, 0)), Err(SchedError::InvalidTimeslice));
    assert_eq!(s.adjust_global(g(5, 50)), Err(SchedError::InvalidRatelimit));
    assert_eq!(s.adjust_global(g(5, 6000)), Err(SchedError::InvalidRatelimit));
    s.adjust_global(g(2, 0)).unwrap();
    assert_eq!(s.tick_period_ns(), Some(2 * NS_PER_MS), "one tick per slice under 3 ms");
    s.adjust_global(g(30, 1000)).unwrap();
    assert_eq!(s.tick_period_ns(), Some(10 * NS_PER_MS));
    assert_eq!(s.global_params().credits_per_tslice(), 300);
}

#[test]
fn boost_on_wake_preempts_and_ends_at_the_tick() {
    let mut s = sched(1);
    s.insert_unit(A, CreditParams::default(), CpuMask::ALL).unwrap();
    s.insert_unit(B, CreditParams::default(), CpuMask::ALL).unwrap();
    assert_eq!(s.wake(A, 0).unwrap(), CpuMask::only(Cpu(0)));
    let d = s.do_schedule(Cpu(0), 0);
    assert_eq!((d.next, d.slice_ns), (Some(A), Some(30 * NS_PER_MS)));
    // The tick ends A's boost and charges 5 ms = 50 credits.
    s.tick(Cpu(0), 5 * NS_PER_MS);
    assert_eq!(s.unit(A).unwrap().pri, CreditPri::TsUnder);
    assert_eq!(s.unit(A).unwrap().credit, -50);
    assert!(s.unit(A).unwrap().active);
    // B wakes boosted: better than A, so CPU 0 is tickled and B runs.
    assert_eq!(s.wake(B, 6 * NS_PER_MS).unwrap(), CpuMask::only(Cpu(0)));
    assert_eq!(s.unit(B).unwrap().pri, CreditPri::TsBoost);
    let d = s.do_schedule(Cpu(0), 6 * NS_PER_MS);
    assert_eq!(d.next, Some(B));
    assert_eq!(s.pcpu(Cpu(0)).unwrap().runq.front().map(|e| e.unit), Some(A));
    // B blocks: A runs again; nothing runs once A sleeps too.
    assert_eq!(s.sleep(B).unwrap(), CpuMask::only(Cpu(0)));
    assert_eq!(s.do_schedule(Cpu(0), 7 * NS_PER_MS).next, Some(A));
    s.sleep(A).unwrap();
    assert_eq!(s.do_schedule(Cpu(0), 8 * NS_PER_MS), Decision::IDLE);
    assert!(!s.is_eligible(A));
}

#[test]
fn rate_limit_keeps_the_current_unit_briefly() {
    let mut s = sched(1);
    s.insert_unit(A, CreditParams::default(), CpuMask::ALL).unwrap();
    s.insert_unit(B, CreditParams::default(), CpuMask::ALL).unwrap();
    s.wake(A, 0).unwrap();
    s.do_schedule(Cpu(0), 0);
    s.tick(Cpu(0), 100_000);
    s.wake(B, 300_000).unwrap();
    let d = s.do_schedule(Cpu(0), 300_000);
    assert_eq!((d.next, d.slice_ns), (Some(A), Some(700_000)));
    assert_eq!(s.do_schedule(Cpu(0), NS_PER_MS).next, Some(B));
}

#[test]
fn accounting_shares_credit_by_weight_and_clips() {
    let mut s = sched(1);
    s.insert_unit(A, CreditParams { weight: 768, cap: 0 }, CpuMask::ALL).unwrap();
    s.insert_unit(B, CreditParams { weight: 256, cap: 0 }, CpuMask::ALL).unwrap();
    for u in [A, B] {
        s.acct_start(u);
    }
    assert_eq!(s.acct(), CpuMask::EMPTY);
    assert_eq!((s.unit(A).unwrap().credit, s.unit(B).unwrap().credit), (225, 75));
    s.acct();
    // A went past one slice of credit: off the active list with half of it.
    assert_eq!(s.unit(A).unwrap().credit, 225);
    assert!(!s.unit(A).unwrap().active && s.unit(B).unwrap().active);
    assert_eq!(s.unit(B).unwrap().credit, 150);
    let mut out = String::new();
    s.dump(&mut out).unwrap();
    assert!(out.contains("\tcredit             = 300\n"), "{out}");
    assert!(out.contains("CPU[00] tick=0"), "{out}");
}

#[test]
fn removing_a_cpu_moves_its_units() {
    let mut s = sched(2);
    s.insert_unit(A, CreditParams::default(), CpuMask::only(Cpu(1))).unwrap();
    s.insert_unit(B, CreditParams::default(), CpuMask::ALL).unwrap();
    s.wake(A, 0).unwrap();
    s.wake(B, 0).unwrap();
    assert_eq!(s.do_schedule(Cpu(1), 0).next, Some(A));
    // A's only CPU goes: its affinity is broken and it queues on CPU 0.
    let tickle = s.deinit_cpu(Cpu(1)).unwrap();
    assert_eq!(tickle, CpuMask::only(Cpu(0)));
    assert_eq!(s.unit(A).unwrap().affinity, CpuMask::ALL);
    assert_eq!(s.unit(A).unwrap().cpu, Cpu(0));
    assert_eq!(s.deinit_cpu(Cpu(0)), Err(SchedError::LastCpu));
    assert_eq!(s.deinit_cpu(Cpu(1)), Err(SchedError::CpuOffline));
    let first = s.do_schedule(Cpu(0), 1).next.unwrap();
    let second = s.pcpu(Cpu(0)).unwrap().runq.front().unwrap().unit;
    assert_ne!(first, second);
    assert_eq!(s.pick_cpu(A), Some(Cpu(0)));
}
