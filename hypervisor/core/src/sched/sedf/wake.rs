// SPDX-License-Identifier: GPL-2.0-only
//! Blocking and waking (`sedf_sleep`, `sedf_wake` with Xen's
//! `unblock_short_extra_support` and `unblock_long_cons_b`, plus latency
//! scaling) and whether a woken unit preempts its CPU (`should_switch`).

use super::params::{PERIOD_MIN, SLICE_MIN};
use super::{PEN_Q, RunKind, SedfScheduler, SedfUnit, UTIL_Q, signed};
use crate::sched::types::{CpuMask, SchedError, SchedUnit};

impl SedfScheduler {
    /// The unit blocked or was paused: off every queue, or, while it runs,
    /// at its CPU's next decision.
    pub(super) fn sleep_unit(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError> {
        let running = self.running_on(unit);
        let u = self.units.get_mut(&unit).ok_or(SchedError::NoSuchUnit)?;
        u.asleep = true;
        if let Some(cpu) = running {
            return Ok(CpuMask::only(cpu));
        }
        self.detach(unit);
        Ok(CpuMask::EMPTY)
    }

    /// Wakes a unit at `now` on its CPU; returns the CPU if the unit should
    /// preempt what runs there.
    pub(super) fn wake_at(&mut self, unit: SchedUnit, now: i64) -> CpuMask {
        let Some(u) = self.units.get_mut(&unit) else { return CpuMask::EMPTY };
        if u.queue.is_some() {
            // Still queued (it went to sleep while running and its CPU has
            // not decided yet): it just runs on.
            u.asleep = false;
            return CpuMask::EMPTY;
        }
        u.asleep = false;
        if u.deadl_abs == 0 {
            // The first wake sets up the first deadline.
            u.deadl_abs = now.saturating_add(u.slice);
        }
        if now < u.period_begin() {
            // Woken in extra time, before its period: a claim on the
            // penalty queue stands.
            if u.want_pen_q {
                self.extraq_add_sort_update(unit, PEN_Q, 0);
            }
        } else if now < u.deadl_abs {
            if Self::unblock_short(u) {
                self.extraq_del(unit, PEN_Q);
                self.extraq_add_sort_update(unit, PEN_Q, 0);
            }
        } else {
            Self::unblock_long(u, now);
        }
        let Some(u) = self.units.get(&unit) else { return CpuMask::EMPTY };
        let (cpu, begin, aware) = (u.cpu, u.period_begin(), u.extra_aware);
        if aware {
            self.extraq_add_sort_update(unit, UTIL_Q, 0);
        }
        if begin > now {
            self.add_waitq(unit);
        } else {
            self.add_runq(unit);
        }
        if self.should_switch(unit) { CpuMask::only(cpu) } else { CpuMask::EMPTY }
    }

    /// A short block (woken before its deadline): no more guaranteed time
    /// in this period; the slice time it lost by blocking becomes its
    /// claim on penalty extra time (`unblock_short_extra_support`).
    /// Returns whether it now claims penalty time.
    fn unblock_short(u: &mut SedfUnit) -> bool {
        u.deadl_abs = u.deadl_abs.saturating_add(u.period);
        let mut claim = false;
        if u.block_abs != 0 {
            let pen = u.slice.saturating_sub(u.cputime).max(0);
            u.short_block_lost_tot = pen;
            if pen != 0 {
                if let Some(s) = u.score.get_mut(PEN_Q) {
                    *s = u.period.saturating_mul(1 << 10).checked_div(pen).unwrap_or(0);
                }
                u.want_pen_q = true;
                claim = true;
            }
        }
        u.cputime = 0;
        claim
    }

    /// A long block (woken after its deadline): a new period starts now
    /// (`unblock_long_cons_b`). With a latency hint shorter than the
    /// period, that period is the latency and the slice is scaled alike, so
    /// an I/O-bound unit runs soon after its wake-up; each period after it
    /// doubles back (Xen 3.0's `unblock_long_burst`). The scaled values
    /// are kept at least [`PERIOD_MIN`] and [`SLICE_MIN`].
    fn unblock_long(u: &mut SedfUnit, now: i64) {
        if u.latency != 0 && u.period > u.latency && u.slice_orig > 0 {
            let period = u.latency.max(signed(PERIOD_MIN));
            let slice = period
                .saturating_mul(u.slice_orig)
                .checked_div(u.period_orig)
                .unwrap_or(0)
                .max(signed(SLICE_MIN))
                .min(period);
            u.period = period;
            u.slice = slice;
        }
        u.deadl_abs = now.saturating_add(u.period);
        u.cputime = 0;
    }

    /// Whether a woken unit should make its CPU decide again
    /// (`should_switch`): it starts a period before the CPU's current
    /// decision ends, or by class: EDF > penalty extra time (lower score)
    /// > utilisation extra time > idle.
    fn should_switch(&self, other: SchedUnit) -> bool {
        let Some(o) = self.units.get(&other) else { return false };
        let Some(p) = self.pcpu(o.cpu) else { return false };
        if o.period_begin() < p.slice_expires {
            return true;
        }
        let Some(cur) = p.curr.and_then(|c| self.units.get(&c)) else { return true };
        let score = |x: &SedfUnit| x.score.get(PEN_Q).copied().unwrap_or(0);
        match cur.run {
            RunKind::Edf => false,
            RunKind::ExtraPen => o.want_pen_q && score(o) < score(cur),
            RunKind::ExtraUtil => o.want_pen_q,
        }
    }
}
