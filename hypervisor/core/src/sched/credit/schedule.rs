// SPDX-License-Identifier: GPL-2.0-only
//! Picking the next unit (`csched_schedule`), stealing work from other CPUs
//! (`csched_load_balance`), choosing CPUs to tickle when work is queued
//! (`__runq_tickle`) and placing units (`_csched_cpu_pick`).

use super::CreditScheduler;
use super::params::RATELIMIT_US_MIN;
use super::runq::CreditPri;
use crate::sched::ops::Decision;
use crate::sched::types::{Cpu, CpuMask, NS_PER_US, SchedUnit, Time};

impl CreditScheduler {
    /// Deschedules `cpu`'s current unit and picks the next one.
    pub(super) fn schedule(&mut self, cpu: Cpu, now: Time) -> Decision {
        if !self.online.contains(cpu) {
            return Decision::IDLE;
        }
        self.refresh_runq(cpu);
        let Some(p) = self.pcpu_mut(cpu) else { return Decision::IDLE };
        let prev = p.curr.take();
        let runtime = now.saturating_sub(p.curr_since);
        let mut tickle = CpuMask::EMPTY;
        let mut requeued = None;

        if let Some(prev) = prev
            && let Some(u) = self.units.get_mut(&prev)
        {
            u.burn(now);
            u.stop_running(now);
            let runnable = !u.asleep && !u.parked;
            let fits = u.cpu == cpu && u.affinity.contains(cpu);
            let ratelimit = self.params.ratelimit_ns();
            if runnable && fits && !u.yielding && runtime < ratelimit {
                // Rate limiting: keep running the current unit a little longer.
                u.start_running(now);
                let min = u64::from(RATELIMIT_US_MIN).saturating_mul(NS_PER_US);
                let slice = ratelimit.saturating_sub(runtime).max(min);
                if let Some(p) = self.pcpu_mut(cpu) {
                    p.curr = Some(prev);
                }
                self.idlers.clear(cpu);
                return Decision {
                    next: Some(prev),
                    slice_ns: Some(slice),
                    migrated: false,
                    tickle,
                };
            }
            if runnable && fits {
                self.enqueue(prev);
                requeued = Some(prev);
            } else if runnable {
                tickle = tickle.or(self.make_runnable(prev));
            }
            if let Some(u) = self.units.get_mut(&prev) {
                u.yielding = false;
            }
        }

        // The best local unit, unless it is OVER (or there is none): then
        // look for better work on the other CPUs first.
        let head = self.pcpu(cpu).and_then(|p| p.runq.front()).map(|e| e.pri);
        let mut migrated = false;
        let next = match head {
            Some(pri) if pri > CreditPri::TsOver => self.pop_local(cpu),
            other => match self.load_balance(cpu, other.unwrap_or(CreditPri::Idle)) {
                Some(stolen) => {
                    migrated = true;
                    Some(stolen)
                }
                None => self.pop_local(cpu),
            },
        };

        if let Some(next) = next {
            if let Some(u) = self.units.get_mut(&next) {
                u.queued = false;
                u.cpu = cpu;
                u.start_running(now);
            }
            if let Some(p) = self.pcpu_mut(cpu) {
                p.curr = Some(next);
                if prev != Some(next) {
                    p.curr_since = now;
                }
            }
            self.idlers.clear(cpu);
        } else {
            self.idlers.set(cpu);
        }

        // The preempted unit waits here: let an idle CPU it may run on steal it.
        if let Some(r) = requeued
            && let Some(u) = self.units.get(&r)
            && u.queued
        {
            let candidates = self.idlers.and(u.affinity).without(cpu);
            if let Some(c) = candidates.cycle(self.last_tickle) {
                self.last_tickle = c;
                self.idlers.clear(c);
                tickle.set(c);
            }
        }

        let slice_ns = next.map(|_| self.params.tslice_ns());
        Decision { next, slice_ns, migrated, tickle: tickle.without(cpu) }
    }

    /// Removes the head of `cpu`'s queue.
    fn pop_local(&mut self, cpu: Cpu) -> Option<SchedUnit> {
        self.pcpu_mut(cpu)?.runq.pop_front().map(|e| e.unit)
    }

    /// Steals the first unit better than `pri` that may run on `cpu` from a
    /// busy CPU's queue, scanning CPUs round-robin from the last victim.
    fn load_balance(&mut self, cpu: Cpu, pri: CreditPri) -> Option<SchedUnit> {
        let workers = self.online.and_not(self.idlers).without(cpu);
        let first = workers.cycle(self.balance_bias)?;
        let mut peer = first;
        loop {
            self.refresh_runq(peer);
            if let Some(entry) = self.pcpu_mut(peer).and_then(|p| p.runq.steal(cpu, pri)) {
                self.balance_bias = peer;
                if let Some(u) = self.units.get_mut(&entry.unit) {
                    u.queued = false;
                    u.cpu = cpu;
                }
                return Some(entry.unit);
            }
            peer = workers.cycle(peer)?;
            if peer == first {
                return None;
            }
        }
    }

    /// The CPUs to reschedule now that `unit` waits on its CPU's queue.
    pub(super) fn runq_tickle(&mut self, unit: SchedUnit) -> CpuMask {
        let Some(u) = self.units.get(&unit) else { return CpuMask::EMPTY };
        let (cpu, pri, affinity) = (u.cpu, u.pri, u.affinity);
        let cur = self
            .pcpu(cpu)
            .and_then(|p| p.curr)
            .and_then(|c| self.units.get(&c))
            .map_or(CreditPri::Idle, |c| c.pri);
        let idle = self.idlers.and(self.online);
        let pinned = affinity.and(self.online).count() == 1;
        let mut mask = CpuMask::EMPTY;
        if (pinned && idle.contains(cpu))
            || cur == CreditPri::Idle
            || (idle.is_empty() && pri > cur)
        {
            mask.set(cpu);
        } else if !idle.is_empty() {
            let suitable = idle.and(affinity);
            if let Some(c) = suitable.cycle(self.last_tickle) {
                // Leave the (cache-hot) current unit alone; wake an idler.
                self.last_tickle = c;
                mask.set(c);
            } else if pri > cur {
                mask.set(cpu);
            }
        }
        self.idlers = self.idlers.and_not(mask);
        mask
    }

    /// The best CPU for `unit`: its own CPU if allowed and idle (or about to
    /// be), else an idle allowed CPU, else its own CPU if allowed, else the
    /// next allowed one.
    pub(super) fn pick(&self, unit: SchedUnit) -> Option<Cpu> {
        let u = self.units.get(&unit)?;
        let allowed = u.affinity.and(self.online);
        let own = u.cpu;
        let mut idle = self.idlers.and(allowed);
        if self.running_on(unit) == Some(own) && self.pcpu(own).is_some_and(|p| p.runq.is_empty()) {
            idle.set(own);
        }
        if idle.contains(own) {
            return Some(own);
        }
        if let Some(c) = idle.cycle(own) {
            return Some(c);
        }
        if allowed.contains(own) { Some(own) } else { allowed.cycle(own) }
    }
}
