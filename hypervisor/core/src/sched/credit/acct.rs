// SPDX-License-Identifier: GPL-2.0-only
//! Credit accounting: the per-CPU tick (`csched_tick`, `csched_unit_acct`),
//! the active lists, the periodic credit redistribution (`csched_acct`) and
//! parking of capped units.

use super::CreditScheduler;
use super::runq::CreditPri;
use crate::sched::types::{Cpu, CpuMask, SchedUnit, Time};

/// `ceil(a / b)` for `a >= 0`, `b > 0`; 0 otherwise.
fn div_ceil(a: i64, b: i64) -> i64 {
    if a <= 0 || b <= 0 {
        return 0;
    }
    a.saturating_add(b.saturating_sub(1)).checked_div(b).unwrap_or(0)
}

/// The first multiple of `period` after `now`.
pub(crate) fn grid_after(now: Time, period: u64) -> Time {
    let period = period.max(1);
    now.checked_div(period).unwrap_or(0).saturating_add(1).saturating_mul(period)
}

impl CreditScheduler {
    /// The accounting tick on `cpu` at `now`.
    pub(super) fn do_tick(&mut self, cpu: Cpu, now: Time) -> CpuMask {
        let Some(p) = self.pcpu_mut(cpu) else { return CpuMask::EMPTY };
        p.tick = p.tick.saturating_add(1);
        if let Some(curr) = p.curr
            && let Some(u) = self.units.get_mut(&curr)
        {
            // Found running at a tick: it uses real CPU time, so the boost
            // ends and it takes part in accounting again.
            if u.pri == CreditPri::TsBoost {
                u.pri = CreditPri::TsUnder;
            }
            u.burn(now);
            if !u.active {
                self.acct_start(curr);
            }
        }
        self.refresh_runq(cpu);
        self.master_acct(now)
    }

    /// The master accounting timer (Xen's `csched_acct` on
    /// `prv->master_ticker`): runs the accounting when it is due at `now`.
    /// Its deadlines lie on a fixed grid of time slices, so that a late
    /// run does not push the next one back: credit is handed out at
    /// exactly the rate the CPUs burn it (a period stretched by the
    /// lateness of whoever ran it would hand out less than the CPUs ran,
    /// and the shortfall would be shared as OVER time, evenly instead of
    /// by weight). Returns the CPUs to reschedule.
    pub fn master_acct(&mut self, now: Time) -> CpuMask {
        let tslice = self.params.tslice_ns().max(1);
        let after = grid_after(now, tslice);
        match self.next_acct {
            Some(due) if now < due => CpuMask::EMPTY,
            Some(_) => {
                self.next_acct = Some(after);
                self.burn_running(now);
                self.acct()
            }
            None => {
                self.next_acct = Some(after);
                CpuMask::EMPTY
            }
        }
    }

    /// Burns the credit of every running unit up to `now`, so that the
    /// accounting sees what each has really used. (Xen's `csched_acct`
    /// sees the running units' credit as of their CPU's last tick or
    /// schedule, up to a tick old: a unit that runs a whole CPU and earns
    /// exactly that, the 1024-weight domain of `qemu/bench`, then looked a
    /// tick ahead whenever its CPU's tick came after the accounting,
    /// crossed the one-slice ceiling and had its credit halved, and lost
    /// its CPU to OVER-time later.)
    fn burn_running(&mut self, now: Time) {
        for p in self.pcpus.iter().flatten() {
            if let Some(curr) = p.curr
                && let Some(u) = self.units.get_mut(&curr)
            {
                u.burn(now);
            }
        }
    }

    /// When [`Self::master_acct`] is next due, while any unit takes part
    /// in accounting (an idle machine needs no accounting timer).
    pub fn next_acct(&self) -> Option<Time> {
        if self.active_doms.is_empty() { None } else { self.next_acct }
    }

    /// Puts `unit` (and its domain) on the active lists.
    pub(super) fn acct_start(&mut self, unit: SchedUnit) {
        let Some(u) = self.units.get_mut(&unit) else { return };
        if u.active {
            return;
        }
        let Some(dom) = self.doms.get_mut(&unit.dom) else { return };
        u.active = true;
        dom.active_units.push(unit);
        if !self.active_doms.contains(&unit.dom) {
            self.active_doms.insert(0, unit.dom);
        }
    }

    /// Takes `unit` off the active lists (and its domain if it was the last).
    pub(super) fn acct_stop(&mut self, unit: SchedUnit) {
        let Some(u) = self.units.get_mut(&unit) else { return };
        if !u.active {
            return;
        }
        u.active = false;
        let Some(dom) = self.doms.get_mut(&unit.dom) else { return };
        dom.active_units.retain(|&a| a != unit);
        if dom.active_units.is_empty() {
            self.active_doms.retain(|&d| d != unit.dom);
        }
    }

    /// Total weight of the active units.
    pub(super) fn active_weight(&self) -> i64 {
        self.active_doms
            .iter()
            .filter_map(|d| self.doms.get(d))
            .map(|d| {
                let n = i64::try_from(d.active_units.len()).unwrap_or(i64::MAX);
                i64::from(d.params.weight).saturating_mul(n)
            })
            .fold(0, i64::saturating_add)
    }

    /// Shares out one accounting period's credit by weight, recomputes the
    /// priorities and parks or unparks capped units. Returns the CPUs to
    /// reschedule.
    pub(super) fn acct(&mut self) -> CpuMask {
        let per_slice = self.params.credits_per_tslice();
        let weight_total = self.active_weight();
        let cpus = i64::from(self.nr_cpus());
        let mut credit_total = per_slice.saturating_mul(cpus);
        // A negative balance (overspending) is paid back over time.
        if self.credit_balance < 0 {
            credit_total = credit_total.saturating_sub(self.credit_balance);
        }
        if weight_total == 0 {
            self.credit_balance = 0;
            return CpuMask::EMPTY;
        }
        let mut weight_left = weight_total;
        let mut balance = 0i64;
        let mut extra = false;
        let mut tickle = CpuMask::EMPTY;

        for dom_id in self.active_doms.clone() {
            let Some(dom) = self.doms.get(&dom_id) else { continue };
            let units = dom.active_units.clone();
            let n = i64::try_from(units.len()).unwrap_or(i64::MAX);
            if n == 0 {
                continue;
            }
            let weight = i64::from(dom.params.weight);
            let cap = i64::from(dom.params.cap);
            let dom_weight = weight.saturating_mul(n);
            weight_left = weight_left.saturating_sub(dom_weight);

            // At most one slice of running per active unit, more only while
            // the machine pays back a negative balance.
            let mut peak = n.saturating_mul(per_slice);
            if self.credit_balance < 0 {
                let owed = self.credit_balance.saturating_neg().saturating_mul(dom_weight);
                peak = peak.saturating_add(div_ceil(owed, weight_total));
            }
            let mut unit_cap = 0;
            if cap != 0 {
                let dom_cap = div_ceil(cap.saturating_mul(per_slice), 100);
                peak = peak.min(dom_cap);
                unit_cap = div_ceil(dom_cap, n);
            }

            let mut fair = div_ceil(credit_total.saturating_mul(dom_weight), weight_total);
            if fair < peak {
                extra = true;
            } else {
                // Hand what this domain cannot use to the domains after it.
                if weight_left != 0 {
                    let spare = fair.saturating_sub(peak).saturating_mul(weight_total);
                    credit_total = credit_total.saturating_add(div_ceil(spare, weight_left));
                }
                if extra {
                    // Domains with spare credit go first next time.
                    self.active_doms.retain(|&d| d != dom_id);
                    self.active_doms.insert(0, dom_id);
                }
                fair = peak;
            }
            let fair_unit = div_ceil(fair, n);

            for unit in units {
                let (mask, credit) = self.acct_unit(unit, fair_unit, cap != 0, unit_cap);
                tickle = tickle.or(mask);
                balance = balance.saturating_add(credit);
            }
        }

        self.credit_balance = balance;
        self.runq_sort = self.runq_sort.wrapping_add(1);
        tickle
    }

    /// Credits one active unit and recomputes its priority; returns the CPUs
    /// to reschedule and its new credit.
    fn acct_unit(
        &mut self,
        unit: SchedUnit,
        fair: i64,
        capped: bool,
        unit_cap: i64,
    ) -> (CpuMask, i64) {
        let per_slice = self.params.credits_per_tslice();
        let Some(u) = self.units.get_mut(&unit) else { return (CpuMask::EMPTY, 0) };
        u.credit = u.credit.saturating_add(fair);
        let mut tickle = CpuMask::EMPTY;
        if u.credit < 0 {
            u.pri = CreditPri::TsOver;
            let park = capped && u.credit < unit_cap.saturating_neg() && !u.parked;
            u.credit = u.credit.max(per_slice.saturating_neg());
            let credit = u.credit;
            if park {
                tickle = self.park(unit);
            }
            (tickle, credit)
        } else {
            u.pri = CreditPri::TsUnder;
            let unpark = u.parked;
            if u.credit > per_slice {
                // Idle-ish units stop earning and keep half, to start "ahead".
                u.credit /= 2;
                let credit = u.credit;
                self.acct_stop(unit);
                if unpark {
                    tickle = self.unpark(unit);
                }
                return (tickle, credit);
            }
            let credit = u.credit;
            if unpark {
                tickle = self.unpark(unit);
            }
            (tickle, credit)
        }
    }

    /// Holds a unit back for overrunning its cap.
    fn park(&mut self, unit: SchedUnit) -> CpuMask {
        let Some(u) = self.units.get_mut(&unit) else { return CpuMask::EMPTY };
        u.parked = true;
        if let Some(cpu) = self.running_on(unit) {
            return CpuMask::only(cpu);
        }
        self.dequeue(unit);
        CpuMask::EMPTY
    }

    /// Releases a parked unit (without BOOST: it is not waking from I/O).
    fn unpark(&mut self, unit: SchedUnit) -> CpuMask {
        let Some(u) = self.units.get_mut(&unit) else { return CpuMask::EMPTY };
        u.parked = false;
        self.make_runnable(unit)
    }
}
