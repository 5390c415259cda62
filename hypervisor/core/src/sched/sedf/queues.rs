// SPDX-License-Identifier: GPL-2.0-only
//! sEDF's per-CPU queues: the runq (by deadline), the waitq (by period
//! start) and the two extraqs (by score), with Xen's insertion rules
//! (`list_insert_sort`: after equal keys; `extraq_add_sort_update`).

use alloc::vec::Vec;

use super::{PEN_Q, Queue, RunKind, SedfScheduler, UTIL_Q};
use crate::sched::types::{Cpu, SchedUnit};

impl SedfScheduler {
    /// The position before which a unit with `key` goes in `list`, whose
    /// keys `key_of` gives: after every entry with a key `<= key`.
    fn sorted_pos(
        &self,
        list: &[SchedUnit],
        key: i64,
        key_of: impl Fn(&Self, SchedUnit) -> i64,
    ) -> usize {
        list.iter().position(|&e| key < key_of(self, e)).unwrap_or(list.len())
    }

    fn deadline_of(&self, u: SchedUnit) -> i64 {
        self.units.get(&u).map_or(i64::MAX, |s| s.deadl_abs)
    }

    fn period_begin_of(&self, u: SchedUnit) -> i64 {
        self.units.get(&u).map_or(i64::MAX, super::SedfUnit::period_begin)
    }

    /// Puts a unit on its CPU's waitq (`__add_to_waitqueue_sort`).
    pub(super) fn add_waitq(&mut self, unit: SchedUnit) {
        let Some(u) = self.units.get(&unit) else { return };
        let (cpu, key) = (u.cpu, u.period_begin());
        let Some(p) = self.pcpu(cpu) else { return };
        let pos = self.sorted_pos(&p.waitq, key, Self::period_begin_of);
        if let Some(p) = self.pcpu_mut(cpu) {
            p.waitq.insert(pos, unit);
        }
        if let Some(u) = self.units.get_mut(&unit) {
            u.queue = Some(Queue::Wait);
        }
    }

    /// Puts a unit on its CPU's runq (`__add_to_runqueue_sort`).
    pub(super) fn add_runq(&mut self, unit: SchedUnit) {
        let Some(u) = self.units.get(&unit) else { return };
        let (cpu, key) = (u.cpu, u.deadl_abs);
        let Some(p) = self.pcpu(cpu) else { return };
        let pos = self.sorted_pos(&p.runq, key, Self::deadline_of);
        if let Some(p) = self.pcpu_mut(cpu) {
            p.runq.insert(pos, unit);
        }
        if let Some(u) = self.units.get_mut(&unit) {
            u.queue = Some(Queue::Run);
        }
    }

    /// Takes a unit off its runq or waitq (`__del_from_queue`).
    pub(super) fn del_from_queue(&mut self, unit: SchedUnit) {
        let Some(u) = self.units.get_mut(&unit) else { return };
        let Some(q) = u.queue.take() else { return };
        let cpu = u.cpu;
        if let Some(p) = self.pcpu_mut(cpu) {
            let list = match q {
                Queue::Run => &mut p.runq,
                Queue::Wait => &mut p.waitq,
            };
            list.retain(|&e| e != unit);
        }
    }

    /// Whether a unit is on its runq or waitq (`__task_on_queue`).
    pub(super) fn on_queue(&self, unit: SchedUnit) -> bool {
        self.units.get(&unit).is_some_and(|u| u.queue.is_some())
    }

    /// Whether a unit is on extraq `i` (`extraq_on`).
    pub(super) fn extraq_on(&self, unit: SchedUnit, i: usize) -> bool {
        self.units.get(&unit).and_then(|u| u.on_extraq.get(i).copied()).unwrap_or(false)
    }

    /// Takes a unit off extraq `i` (`extraq_del`).
    pub(super) fn extraq_del(&mut self, unit: SchedUnit, i: usize) {
        let Some(u) = self.units.get_mut(&unit) else { return };
        let Some(flag) = u.on_extraq.get_mut(i) else { return };
        if !core::mem::replace(flag, false) {
            return;
        }
        let cpu = u.cpu;
        if let Some(q) = self.pcpu_mut(cpu).and_then(|p| p.extraq.get_mut(i)) {
            q.retain(|&e| e != unit);
        }
    }

    /// Puts a unit on extraq `i` by score, lowering every queued score by
    /// `sub` on the way (`extraq_add_sort_update`: the unit that just had
    /// extra time passes its old score on to the others, so that each gets
    /// extra time in inverse proportion to its score).
    pub(super) fn extraq_add_sort_update(&mut self, unit: SchedUnit, i: usize, sub: i64) {
        if self.extraq_on(unit, i) {
            return;
        }
        let Some(u) = self.units.get(&unit) else { return };
        let (cpu, mine) = (u.cpu, u.score.get(i).copied().unwrap_or(0));
        let queued: Vec<SchedUnit> =
            self.pcpu(cpu).and_then(|p| p.extraq.get(i)).cloned().unwrap_or_default();
        let mut pos = queued.len();
        for (n, e) in queued.iter().enumerate() {
            let Some(s) = self.units.get_mut(e).and_then(|x| x.score.get_mut(i)) else { continue };
            *s = s.saturating_sub(sub);
            if pos == queued.len() && mine < *s {
                pos = n;
            }
        }
        if let Some(q) = self.pcpu_mut(cpu).and_then(|p| p.extraq.get_mut(i)) {
            q.insert(pos.min(q.len()), unit);
        }
        if let Some(flag) = self.units.get_mut(&unit).and_then(|u| u.on_extraq.get_mut(i)) {
            *flag = true;
        }
    }

    /// Keeps a unit's place on the utilisation extraq in step with its
    /// extratime flag (`extraq_check`).
    pub(super) fn extraq_check(&mut self, unit: SchedUnit) {
        let Some(u) = self.units.get(&unit) else { return };
        let (aware, runs_extra, asleep) = (u.extra_aware, u.run != RunKind::Edf, u.asleep);
        if self.extraq_on(unit, UTIL_Q) {
            if !aware && !runs_extra {
                self.extraq_del(unit, UTIL_Q);
            }
        } else if aware && !asleep {
            self.extraq_add_sort_update(unit, UTIL_Q, 0);
        }
    }

    /// Takes a unit off every queue.
    pub(super) fn detach(&mut self, unit: SchedUnit) {
        self.del_from_queue(unit);
        self.extraq_del(unit, PEN_Q);
        self.extraq_del(unit, UTIL_Q);
    }

    /// Re-sorts `cpu`'s runq and waitq (after parameters changed).
    pub(super) fn resort(&mut self, cpu: Cpu) {
        let Some(p) = self.pcpus.get_mut(cpu.index()).and_then(Option::as_mut) else { return };
        let units = &self.units;
        p.runq.sort_by_key(|u| units.get(u).map_or(i64::MAX, |s| s.deadl_abs));
        p.waitq.sort_by_key(|u| units.get(u).map_or(i64::MAX, super::SedfUnit::period_begin));
    }
}
