// SPDX-License-Identifier: GPL-2.0-only
//! Picking the next unit on a CPU (`sedf_do_schedule`): the bookkeeping of
//! the unit that ran (`desched_edf_dom`, `desched_extra_dom`), the queue
//! update (`update_queues`) and extra time (`sedf_do_extra_schedule`).

use super::params::{EXTRA_QUANTUM, IDLE_SLICE};
use super::{PEN_Q, RunKind, SedfScheduler, UTIL_Q, div_up, signed};
use crate::sched::ops::Decision;
use crate::sched::types::{Cpu, CpuMask, SchedUnit};

impl SedfScheduler {
    /// Deschedules whatever `cpu` ran and picks what it runs next.
    pub(super) fn schedule(&mut self, cpu: Cpu, now: i64) -> Decision {
        if !self.online.contains(cpu) {
            return Decision::IDLE;
        }
        let prev = self.pcpu_mut(cpu).and_then(|p| p.curr.take());
        let mut tickle = CpuMask::EMPTY;
        if let Some(prev) = prev
            && let Some(u) = self.units.get_mut(&prev)
        {
            if u.asleep {
                u.block_abs = now;
            }
            if u.run == RunKind::Edf {
                self.desched_edf(now, prev);
            } else {
                self.desched_extra(now, prev);
            }
            if let Some(target) = self.units.get(&prev).and_then(|u| u.migrate_to) {
                tickle = tickle.or(self.move_unit(prev, target, now));
            }
        }
        self.update_queues(now, cpu);

        let (next, time, run) = self.pick_next(cpu, now);
        // Xen: "We are seriously BEHIND schedule!": run a quantum.
        let time = if time <= 0 { signed(EXTRA_QUANTUM) } else { time };
        if let Some(n) = next
            && let Some(u) = self.units.get_mut(&n)
        {
            u.sched_start = now;
            u.run = run;
        }
        if let Some(p) = self.pcpu_mut(cpu) {
            p.curr = next;
            p.slice_expires = now.saturating_add(time);
        }
        Decision {
            next,
            slice_ns: Some(u64::try_from(time).unwrap_or(EXTRA_QUANTUM)),
            migrated: false,
            tickle: tickle.without(cpu),
        }
    }

    /// The unit to run, for how long, and how.
    fn pick_next(&self, cpu: Cpu, now: i64) -> (Option<SchedUnit>, i64, RunKind) {
        let Some(p) = self.pcpu(cpu) else { return (None, signed(IDLE_SLICE), RunKind::Edf) };
        let wait_begin = p.waitq.first().and_then(|w| self.units.get(w)).map(|w| w.period_begin());
        if let Some(&head) = p.runq.first() {
            let Some(u) = self.units.get(&head) else { return (None, 1, RunKind::Edf) };
            let mut end = now.saturating_add(u.slice.saturating_sub(u.cputime));
            if let Some(w) = wait_begin {
                // Decide again when the first waiting unit's period begins.
                end = end.min(w);
            }
            return (Some(head), end.saturating_sub(now), RunKind::Edf);
        }
        match wait_begin {
            None => (None, signed(IDLE_SLICE), RunKind::Edf),
            Some(end_xt) => self.extra_schedule(cpu, now, end_xt),
        }
    }

    /// Extra time until `end_xt` (the next period start): a quantum for the
    /// head of the penalty extraq, else of the utilisation extraq, else
    /// idle.
    fn extra_schedule(&self, cpu: Cpu, now: i64, end_xt: i64) -> (Option<SchedUnit>, i64, RunKind) {
        let idle = (None, end_xt.saturating_sub(now), RunKind::Edf);
        if end_xt.saturating_sub(now) < signed(EXTRA_QUANTUM) {
            return idle;
        }
        let Some(p) = self.pcpu(cpu) else { return idle };
        let quantum = signed(EXTRA_QUANTUM);
        if let Some(&u) = p.extraq.get(PEN_Q).and_then(|q| q.first()) {
            return (Some(u), quantum, RunKind::ExtraPen);
        }
        if let Some(&u) = p.extraq.get(UTIL_Q).and_then(|q| q.first()) {
            return (Some(u), quantum, RunKind::ExtraUtil);
        }
        idle
    }

    /// Bookkeeping of a unit that ran in its slice (`desched_edf_dom`):
    /// charge the time; once the slice is used up (or it blocked) it leaves
    /// the runq, and a used-up slice moves its deadline a period on (a
    /// latency-scaled period doubles back towards the real one).
    fn desched_edf(&mut self, now: i64, unit: SchedUnit) {
        let Some(u) = self.units.get_mut(&unit) else { return };
        u.cputime = u.cputime.saturating_add(now.saturating_sub(u.sched_start));
        if u.cputime < u.slice && !u.asleep {
            return;
        }
        self.del_from_queue(unit);
        let Some(u) = self.units.get_mut(&unit) else { return };
        if u.cputime >= u.slice {
            u.cputime = u.cputime.saturating_sub(u.slice);
            if u.period < u.period_orig {
                u.period = u.period.saturating_mul(2);
                u.slice = u.slice.saturating_mul(2);
                if u.period > u.period_orig || u.slice > u.slice_orig {
                    u.period = u.period_orig;
                    u.slice = u.slice_orig;
                }
            }
            u.deadl_abs = u.deadl_abs.saturating_add(u.period);
        }
        let asleep = u.asleep;
        if asleep {
            self.extraq_del(unit, PEN_Q);
            self.extraq_del(unit, UTIL_Q);
        } else {
            self.add_waitq(unit);
        }
    }

    /// Bookkeeping of a unit that ran in extra time (`desched_extra_dom`):
    /// it leaves the head of its extraq and, if it still wants extra time,
    /// goes back by its new score (weighted round robin).
    fn desched_extra(&mut self, now: i64, unit: SchedUnit) {
        let Some(u) = self.units.get_mut(&unit) else { return };
        let i = if u.run == RunKind::ExtraPen { PEN_Q } else { UTIL_Q };
        u.run = RunKind::Edf;
        u.cputime = 0;
        u.extra_time_tot = u.extra_time_tot.saturating_add(now.saturating_sub(u.sched_start));
        self.extraq_del(unit, i);
        let Some(u) = self.units.get_mut(&unit) else { return };
        let oldscore = u.score.get(i).copied().unwrap_or(0);
        if i == PEN_Q {
            // The block penalty is paid back: no more penalty time.
            u.short_block_lost_tot = 0;
            u.want_pen_q = false;
        } else {
            // Fixed point with 10 bits; full utilisation is worth 128
            // extra weight.
            let score = if u.extraweight == 0 {
                u.period.saturating_mul(1 << 10).checked_div(u.slice).unwrap_or(1 << 17)
            } else {
                (1i64 << 17).checked_div(i64::from(u.extraweight)).unwrap_or(1 << 17)
            };
            if let Some(s) = u.score.get_mut(UTIL_Q) {
                *s = score;
            }
        }
        let (asleep, aware, want_pen) = (u.asleep, u.extra_aware, u.want_pen_q);
        if asleep {
            self.del_from_queue(unit);
            self.extraq_del(unit, if i == PEN_Q { UTIL_Q } else { PEN_Q });
        } else if (aware && i == UTIL_Q) || (want_pen && i == PEN_Q) {
            self.extraq_add_sort_update(unit, i, oldscore);
        }
    }

    /// `update_queues`: units whose period began move from the waitq to the
    /// runq; units at the runq's head with no slice, or past their deadline
    /// or slice, move on to their next period.
    fn update_queues(&mut self, now: i64, cpu: Cpu) {
        while let Some(&head) = self.pcpu(cpu).and_then(|p| p.waitq.first()) {
            if self.units.get(&head).is_none_or(|u| u.period_begin() > now) {
                break;
            }
            self.del_from_queue(head);
            self.add_runq(head);
        }
        // Each pass moves the head on; bounded by the queue's length twice.
        let bound = self.pcpu(cpu).map_or(0, |p| p.runq.len()).saturating_mul(2);
        for _ in 0..bound {
            let Some(&head) = self.pcpu(cpu).and_then(|p| p.runq.first()) else { break };
            let Some(u) = self.units.get(&head) else { break };
            if u.slice == 0 {
                // No guaranteed time: on to the next period (in the future).
                self.del_from_queue(head);
                let Some(u) = self.units.get_mut(&head) else { break };
                u.deadl_abs = u.deadl_abs.saturating_add(u.period);
                if u.period_begin() < now {
                    let n = div_up(now.saturating_sub(u.period_begin()), u.period);
                    u.deadl_abs = u.deadl_abs.saturating_add(n.saturating_mul(u.period));
                }
                self.add_waitq(head);
            } else if u.deadl_abs < now || u.cputime > u.slice {
                // Missed its deadline, or overran (after an adjust): a
                // fresh slice in the next period that has not ended.
                self.del_from_queue(head);
                let Some(u) = self.units.get_mut(&head) else { break };
                u.deadl_abs = u.deadl_abs.saturating_add(u.period);
                if u.deadl_abs < now {
                    let n = div_up(now.saturating_sub(u.deadl_abs), u.period);
                    u.deadl_abs = u.deadl_abs.saturating_add(n.saturating_mul(u.period));
                }
                u.cputime = 0;
                if u.period_begin() > now {
                    self.add_waitq(head);
                } else {
                    self.add_runq(head);
                }
            } else {
                break;
            }
        }
    }
}
