// SPDX-License-Identifier: GPL-2.0-only
//! One CPU's credit run queue (Xen's `csched_pcpu.runq`) and the priorities.
//!
//! A run queue is a self-contained value: each entry carries a copy of its
//! unit's priority and hard affinity, so another CPU can steal from it while
//! holding only this queue's lock. The queue is ordered by priority, FIFO
//! among equals; accounting changes priorities behind its back, and
//! [`Runq::resort`] (Xen's `csched_runq_sort`, once per accounting period)
//! refreshes the copies and moves UNDER-or-better work ahead of OVER work.

use alloc::collections::VecDeque;

use crate::sched::types::{Cpu, CpuMask, SchedUnit};

/// A credit priority (`CSCHED_PRI_*`), ordered so that better is greater.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CreditPri {
    /// The idle vCPU (`CSCHED_PRI_IDLE`, -64).
    Idle,
    /// Time-share without credits (`CSCHED_PRI_TS_OVER`, -2).
    TsOver,
    /// Time-share with credits (`CSCHED_PRI_TS_UNDER`, -1).
    TsUnder,
    /// Time-share, just woken (`CSCHED_PRI_TS_BOOST`, 0).
    TsBoost,
}

impl CreditPri {
    /// Xen's numeric value, as `xl debug-keys r` prints it.
    pub fn xen_value(self) -> i8 {
        match self {
            Self::Idle => -64,
            Self::TsOver => -2,
            Self::TsUnder => -1,
            Self::TsBoost => 0,
        }
    }
}

/// A queued unit with the data a stealing CPU needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunqEntry {
    /// The waiting unit.
    pub unit: SchedUnit,
    /// Its priority when queued or last re-sorted.
    pub pri: CreditPri,
    /// Its hard affinity.
    pub affinity: CpuMask,
}

/// Runnable units waiting for one CPU, best first.
#[derive(Clone, Debug, Default)]
pub struct Runq {
    entries: VecDeque<RunqEntry>,
}

impl Runq {
    /// Number of waiting units.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no unit waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The waiting units, best first.
    pub fn iter(&self) -> impl Iterator<Item = &RunqEntry> {
        self.entries.iter()
    }

    /// The best waiting unit.
    pub fn front(&self) -> Option<&RunqEntry> {
        self.entries.front()
    }

    /// Removes the best waiting unit.
    pub fn pop_front(&mut self) -> Option<RunqEntry> {
        self.entries.pop_front()
    }

    /// Queues `entry` behind every unit of equal or better priority. A
    /// yielding unit also goes behind the first worse non-idle unit, if any.
    pub fn insert(&mut self, entry: RunqEntry, yielding: bool) {
        let mut at =
            self.entries.iter().position(|e| entry.pri > e.pri).unwrap_or(self.entries.len());
        if yielding && self.entries.get(at).is_some_and(|e| e.pri > CreditPri::Idle) {
            at = at.saturating_add(1);
        }
        self.entries.insert(at.min(self.entries.len()), entry);
    }

    /// Removes `unit`'s entry.
    pub fn remove(&mut self, unit: SchedUnit) -> Option<RunqEntry> {
        let at = self.entries.iter().position(|e| e.unit == unit)?;
        self.entries.remove(at)
    }

    /// Mutable access to `unit`'s entry.
    pub fn get_mut(&mut self, unit: SchedUnit) -> Option<&mut RunqEntry> {
        self.entries.iter_mut().find(|e| e.unit == unit)
    }

    /// Takes the first unit better than `pri` that may run on `thief`
    /// (`csched_runq_steal`); stops at the first entry not better than `pri`.
    pub fn steal(&mut self, thief: Cpu, pri: CreditPri) -> Option<RunqEntry> {
        let at = self
            .entries
            .iter()
            .take_while(|e| e.pri > pri)
            .position(|e| e.affinity.contains(thief))?;
        self.entries.remove(at)
    }

    /// Refreshes every entry's priority with `pri_of`, then moves entries of
    /// UNDER or better ahead of the rest, keeping relative order.
    pub fn resort(&mut self, mut pri_of: impl FnMut(SchedUnit) -> Option<CreditPri>) {
        for e in &mut self.entries {
            if let Some(pri) = pri_of(e.unit) {
                e.pri = pri;
            }
        }
        let (mut ahead, behind): (VecDeque<_>, VecDeque<_>) =
            self.entries.drain(..).partition(|e| e.pri >= CreditPri::TsUnder);
        ahead.extend(behind);
        self.entries = ahead;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests on known values")]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn e(vcpu: u32, pri: CreditPri, cpus: &[u32]) -> RunqEntry {
        RunqEntry { unit: SchedUnit::new(1, vcpu), pri, affinity: CpuMask::from_cpus(cpus) }
    }

    fn order(q: &Runq) -> Vec<u32> {
        q.iter().map(|e| e.unit.vcpu.0).collect()
    }

    #[test]
    fn insert_orders_by_priority_fifo_among_equals() {
        use CreditPri::*;
        let mut q = Runq::default();
        q.insert(e(1, TsOver, &[0]), false);
        q.insert(e(2, TsUnder, &[0]), false);
        q.insert(e(3, TsUnder, &[0]), false);
        q.insert(e(4, TsBoost, &[0]), false);
        q.insert(e(5, TsOver, &[0]), false);
        assert_eq!(order(&q), [4, 2, 3, 1, 5]);
        // A yielding UNDER unit goes behind the first OVER one.
        q.insert(e(6, TsUnder, &[0]), true);
        assert_eq!(order(&q), [4, 2, 3, 1, 6, 5]);
        // With nothing worse queued, yielding changes nothing.
        q.insert(e(7, TsOver, &[0]), true);
        assert_eq!(order(&q), [4, 2, 3, 1, 6, 5, 7]);
        assert_eq!(q.remove(SchedUnit::new(1, 6)).map(|e| e.pri), Some(TsUnder));
        assert_eq!(q.pop_front().map(|e| e.unit.vcpu.0), Some(4));
    }

    #[test]
    fn steal_respects_priority_and_affinity() {
        use CreditPri::*;
        let mut q = Runq::default();
        q.insert(e(1, TsUnder, &[0]), false);
        q.insert(e(2, TsUnder, &[0, 1]), false);
        q.insert(e(3, TsOver, &[1]), false);
        // Only units better than OVER may be stolen by an OVER CPU.
        assert_eq!(q.steal(Cpu(1), TsOver).map(|e| e.unit.vcpu.0), Some(2));
        assert_eq!(q.steal(Cpu(1), TsOver), None);
        // An idle CPU takes OVER work too, within affinity.
        assert_eq!(q.steal(Cpu(2), Idle), None);
        assert_eq!(q.steal(Cpu(1), Idle).map(|e| e.unit.vcpu.0), Some(3));
        assert_eq!(order(&q), [1]);
    }

    #[test]
    fn resort_moves_under_ahead_stably() {
        use CreditPri::*;
        let mut q = Runq::default();
        for v in 1..=4 {
            q.insert(e(v, TsUnder, &[0]), false);
        }
        q.resort(|u| Some(if u.vcpu.0 % 2 == 1 { TsOver } else { TsUnder }));
        assert_eq!(order(&q), [2, 4, 1, 3]);
        assert_eq!(q.front().unwrap().pri, TsUnder);
    }
}
