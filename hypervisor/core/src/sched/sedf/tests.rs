// SPDX-License-Identifier: GPL-2.0-only
//! sEDF unit tests: the dump, CPU removal and unknown units. Scheduling
//! behaviour is tested in `sched::sim` (`sedf_tests`).
#![allow(clippy::unwrap_used, reason = "tests on known values")]

use alloc::string::String;

use super::*;
use crate::sched::types::NS_PER_MS;

#[test]
fn dump_lists_the_queues_like_xen() {
    let mut s = SedfScheduler::new();
    s.init_cpu(Cpu(0)).unwrap();
    let a = SchedUnit::new(1, 0);
    s.insert_unit(a, SedfParams::default(), CpuMask::ALL).unwrap();
    s.wake(a, 0).unwrap();
    let mut out = String::new();
    s.dump(&mut out).unwrap();
    assert!(out.starts_with("Scheduler: Simple EDF Scheduler (sedf)\n"), "{out}");
    for q in ["RUNQ", "WAITQ", "EXTRAQ (penalty)", "EXTRAQ (utilization)", "not on Q"] {
        assert!(out.contains(q), "{q}: {out}");
    }
    assert!(out.contains("1.0 has=F p=100000000 sl=0"), "{out}");
}

#[test]
fn removing_a_cpu_moves_its_units_and_unknown_units_are_refused() {
    let mut s = SedfScheduler::new();
    s.init_cpu(Cpu(0)).unwrap();
    s.init_cpu(Cpu(1)).unwrap();
    let a = SchedUnit::new(1, 0);
    let rt = SedfParams::default()
        .put(SedfPut { period: 20 * NS_PER_MS, slice: 5 * NS_PER_MS, ..SedfPut::default() })
        .unwrap();
    s.insert_unit(a, rt, CpuMask::only(Cpu(1))).unwrap();
    s.wake(a, 0).unwrap();
    assert_eq!(s.do_schedule(Cpu(1), 5 * NS_PER_MS).next, Some(a));
    assert!(s.deinit_cpu(Cpu(1)).unwrap().contains(Cpu(0)));
    assert_eq!(s.unit(a).unwrap().cpu, Cpu(0), "affinity broken rather than strand it");
    // A move is a sleep and a wake (Xen's `vcpu_migrate`): woken within its
    // period, it gives up the rest of it and runs from the next, at 25 ms.
    let d = s.do_schedule(Cpu(0), 6 * NS_PER_MS);
    assert_eq!((d.next, d.slice_ns), (None, Some(19 * NS_PER_MS)));
    assert_eq!(s.do_schedule(Cpu(0), 25 * NS_PER_MS).next, Some(a));
    assert_eq!(s.deinit_cpu(Cpu(0)), Err(SchedError::LastCpu));
    let b = SchedUnit::new(2, 0);
    assert_eq!(s.wake(b, 0), Err(SchedError::NoSuchUnit));
    assert_eq!(s.sleep(b), Err(SchedError::NoSuchUnit));
    assert_eq!(s.adjust(DomId(2), rt), Err(SchedError::NoSuchDomain));
    assert_eq!(s.insert_unit(a, rt, CpuMask::ALL), Err(SchedError::UnitExists));
    assert_eq!(s.insert_unit(b, rt, CpuMask::only(Cpu(5))), Err(SchedError::EmptyAffinity));
}
