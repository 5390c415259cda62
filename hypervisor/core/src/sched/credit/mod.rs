// SPDX-License-Identifier: GPL-2.0-only
//! The SMP credit scheduler (Xen's `sched_credit.c`, Xen 3.x–4.x semantics).
//!
//! Every domain has a weight and an optional cap. Once per accounting period
//! (the 30 ms time slice) the credits the machine can hand out (`300` per CPU)
//! are shared among *active* units in proportion to their domains' weights,
//! clipped so that no unit hoards more than one slice's worth; a running unit
//! burns 10 credits per millisecond. Units with credit left run at priority
//! UNDER, the others at OVER. A unit waking with UNDER priority is BOOSTed
//! and preempts non-boosted work until the next 10 ms tick finds it running.
//! A CPU whose best local work is OVER (or nothing) steals better work from
//! other CPUs' queues. A capped domain's units are parked when they overrun
//! their cap and unparked once their credit is positive again.
//!
//! Split into [`params`] (constants and parameters), [`runq`] (one CPU's
//! queue), `schedule` (picking, stealing, tickling), `acct` (ticks, credit
//! accounting, parking) and `dump`.
//!
//! Deliberate simplifications against Xen 4.17: no soft affinity, no SMT or
//! socket topology in `pick_cpu`, no migration delay (`vcpu_migration_delay`
//! defaults to 0 in Xen too), and accounting (`master_acct`, due on a fixed
//! grid of time slices) runs from the first tick of any CPU at or after its
//! deadline, or from the master CPU's timer that the scheduler core keeps
//! armed for it ([`crate::common::schedule::SchedCore::next_event`]), instead
//! of on a dedicated timer of its own.

mod acct;
pub(crate) use acct::grid_after;
mod dump;
pub mod params;
pub mod runq;
mod schedule;
#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use guest_abi::xen::DomId;

pub use params::{CSCHED_DEFAULT_WEIGHT, CreditGlobalParams, CreditParams};
pub use runq::{CreditPri, Runq, RunqEntry};

use super::names::SchedulerKind;
use super::ops::{Decision, Scheduler};
use super::types::{Cpu, CpuMask, SchedError, SchedUnit, Time};
use params::NS_PER_CREDIT;

/// Credit state of one unit (Xen's `csched_unit`).
#[derive(Clone, Debug)]
pub struct CreditUnit {
    /// Current priority.
    pub pri: CreditPri,
    /// Credit balance; negative once overspent.
    pub credit: i64,
    /// While running: the time credit burning is accounted from.
    start_time: Time,
    /// Run time below one credit carried from the last run.
    residual_ns: u64,
    /// The CPU the unit runs, waits or will wake on (`sched_unit_master`).
    pub cpu: Cpu,
    /// Hard affinity.
    pub affinity: CpuMask,
    /// Blocked or paused by the generic layer.
    pub asleep: bool,
    /// Held back by its cap (`CSCHED_FLAG_UNIT_PARKED`).
    pub parked: bool,
    /// Asked to yield (`CSCHED_FLAG_UNIT_YIELD`).
    pub yielding: bool,
    /// On its CPU's run queue.
    pub queued: bool,
    /// On the active list: earns credit at accounting.
    pub active: bool,
}

impl CreditUnit {
    /// Burns the credit for running from `start_time` to `now` (`burn_credits`),
    /// keeping the remainder below one credit for later.
    fn burn(&mut self, now: Time) {
        let ran = now.saturating_sub(self.start_time);
        let credits = ran / NS_PER_CREDIT;
        self.credit = self.credit.saturating_sub(i64::try_from(credits).unwrap_or(i64::MAX));
        self.start_time = self.start_time.saturating_add(credits.saturating_mul(NS_PER_CREDIT));
    }

    /// Starts credit accounting for a run beginning at `now`.
    fn start_running(&mut self, now: Time) {
        self.start_time = now.saturating_sub(self.residual_ns);
    }

    /// Ends a run at `now` (after [`Self::burn`]).
    fn stop_running(&mut self, now: Time) {
        self.residual_ns = now.saturating_sub(self.start_time);
    }
}

/// Credit state of one domain (Xen's `csched_dom`).
#[derive(Clone, Debug)]
pub struct CreditDom {
    /// Weight and cap.
    pub params: CreditParams,
    /// The domain's units on the active list.
    pub active_units: Vec<SchedUnit>,
    /// All the domain's units.
    pub nr_units: u32,
}

/// One physical CPU's scheduler state (Xen's `csched_pcpu`).
#[derive(Clone, Debug, Default)]
pub struct CreditPcpu {
    /// Units waiting for this CPU.
    pub runq: Runq,
    /// The unit this CPU runs (`curr_on_cpu`); `None` when idle.
    pub curr: Option<SchedUnit>,
    /// When `curr` was switched to (`state_entry_time`), for the rate limit.
    curr_since: Time,
    /// The accounting epoch `runq` was last re-sorted for.
    runq_sort_last: u32,
    /// Ticks seen.
    pub tick: u64,
}

/// The credit scheduler (Xen's `csched_private` plus the per-CPU and
/// per-unit data it reaches).
#[derive(Clone, Debug)]
pub struct CreditScheduler {
    params: CreditGlobalParams,
    /// Per-CPU state, indexed by CPU number; `None` for CPUs not online.
    pcpus: Vec<Option<CreditPcpu>>,
    online: CpuMask,
    /// Online CPUs running idle and not yet tickled.
    idlers: CpuMask,
    units: BTreeMap<SchedUnit, CreditUnit>,
    doms: BTreeMap<DomId, CreditDom>,
    /// Domains with active units, in accounting order (`active_sdom`).
    active_doms: Vec<DomId>,
    /// Sum of active units' credit after the last accounting.
    credit_balance: i64,
    /// Accounting epoch; run queues re-sort when theirs is older.
    runq_sort: u32,
    /// When accounting is next due (`None` until the first tick).
    next_acct: Option<Time>,
    /// Where the next steal scan starts (`balance_bias`).
    balance_bias: Cpu,
    /// The idler tickled last (`last_tickle_cpu`).
    last_tickle: Cpu,
    /// Where the next inserted unit is placed.
    last_insert: Cpu,
    /// Test knob: wake without BOOST, to show what BOOST buys.
    #[cfg(test)]
    pub(crate) no_boost: bool,
}

impl CreditScheduler {
    /// A scheduler with no CPU and no unit.
    pub fn new(params: CreditGlobalParams) -> Result<Self, SchedError> {
        Ok(Self {
            params: params.validate()?,
            pcpus: Vec::new(),
            online: CpuMask::EMPTY,
            idlers: CpuMask::EMPTY,
            units: BTreeMap::new(),
            doms: BTreeMap::new(),
            active_doms: Vec::new(),
            credit_balance: 0,
            runq_sort: 0,
            next_acct: None,
            balance_bias: Cpu(0),
            last_tickle: Cpu(0),
            last_insert: Cpu(u32::MAX),
            #[cfg(test)]
            no_boost: false,
        })
    }

    /// The online CPUs.
    pub fn online(&self) -> CpuMask {
        self.online
    }

    /// A unit's credit state.
    pub fn unit(&self, unit: SchedUnit) -> Option<&CreditUnit> {
        self.units.get(&unit)
    }

    /// A CPU's state.
    pub fn pcpu(&self, cpu: Cpu) -> Option<&CreditPcpu> {
        self.pcpus.get(cpu.index())?.as_ref()
    }

    fn pcpu_mut(&mut self, cpu: Cpu) -> Option<&mut CreditPcpu> {
        self.pcpus.get_mut(cpu.index())?.as_mut()
    }

    fn nr_cpus(&self) -> u32 {
        self.online.count()
    }

    /// The CPU `unit` is running on, if any.
    pub fn running_on(&self, unit: SchedUnit) -> Option<Cpu> {
        let cpu = self.units.get(&unit)?.cpu;
        (self.pcpu(cpu)?.curr == Some(unit)).then_some(cpu)
    }

    /// Re-sorts `cpu`'s queue if accounting ran since its last sort.
    fn refresh_runq(&mut self, cpu: Cpu) {
        let epoch = self.runq_sort;
        let units = &self.units;
        if let Some(p) = self.pcpus.get_mut(cpu.index()).and_then(Option::as_mut)
            && p.runq_sort_last != epoch
        {
            p.runq_sort_last = epoch;
            p.runq.resort(|u| units.get(&u).map(|cu| cu.pri));
        }
    }

    /// Puts `unit` on its CPU's queue.
    fn enqueue(&mut self, unit: SchedUnit) {
        let Some(u) = self.units.get(&unit) else { return };
        let cpu = u.cpu;
        let entry = RunqEntry { unit, pri: u.pri, affinity: u.affinity };
        let yielding = u.yielding;
        self.refresh_runq(cpu);
        let Some(p) = self.pcpu_mut(cpu) else { return };
        p.runq.insert(entry, yielding);
        if let Some(u) = self.units.get_mut(&unit) {
            u.queued = true;
        }
    }

    /// Takes `unit` off its CPU's queue.
    fn dequeue(&mut self, unit: SchedUnit) {
        let Some(u) = self.units.get_mut(&unit) else { return };
        if !u.queued {
            return;
        }
        u.queued = false;
        let cpu = u.cpu;
        if let Some(p) = self.pcpu_mut(cpu) {
            p.runq.remove(unit);
        }
    }

    /// Queues a runnable unit that is neither running nor queued, on its CPU
    /// or, if its affinity excludes that CPU, on a better one; returns the
    /// CPUs to tickle.
    fn make_runnable(&mut self, unit: SchedUnit) -> CpuMask {
        let Some(u) = self.units.get(&unit) else { return CpuMask::EMPTY };
        if u.asleep || u.parked || u.queued || self.running_on(unit).is_some() {
            return CpuMask::EMPTY;
        }
        if !u.affinity.and(self.online).contains(u.cpu)
            && let Some(cpu) = self.pick_cpu(unit)
            && let Some(u) = self.units.get_mut(&unit)
        {
            u.cpu = cpu;
        }
        self.enqueue(unit);
        self.runq_tickle(unit)
    }
}

impl Scheduler for CreditScheduler {
    type DomParams = CreditParams;
    type GlobalParams = CreditGlobalParams;

    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Credit
    }

    fn init_cpu(&mut self, cpu: Cpu) -> Result<(), SchedError> {
        if cpu.0 >= CpuMask::CAPACITY {
            return Err(SchedError::CpuOutOfRange);
        }
        if self.online.contains(cpu) {
            return Err(SchedError::CpuAlreadyOnline);
        }
        let needed = cpu.index().saturating_add(1);
        if self.pcpus.len() < needed {
            self.pcpus.resize_with(needed, || None);
        }
        let slot = self.pcpus.get_mut(cpu.index()).ok_or(SchedError::CpuOutOfRange)?;
        *slot = Some(CreditPcpu { runq_sort_last: self.runq_sort, ..CreditPcpu::default() });
        self.online.set(cpu);
        self.idlers.set(cpu);
        Ok(())
    }

    fn deinit_cpu(&mut self, cpu: Cpu) -> Result<CpuMask, SchedError> {
        if !self.online.contains(cpu) {
            return Err(SchedError::CpuOffline);
        }
        let remaining = self.online.without(cpu);
        if remaining.is_empty() && !self.units.is_empty() {
            return Err(SchedError::LastCpu);
        }
        self.online = remaining;
        self.idlers.clear(cpu);
        let old = self.pcpus.get_mut(cpu.index()).and_then(Option::take).unwrap_or_default();
        let mut displaced: Vec<SchedUnit> = old.runq.iter().map(|e| e.unit).collect();
        displaced.extend(old.curr);
        let mut tickle = CpuMask::EMPTY;
        let keys: Vec<SchedUnit> = self.units.keys().copied().collect();
        for unit in keys {
            let Some(u) = self.units.get_mut(&unit) else { continue };
            if !u.affinity.intersects(remaining) {
                // Xen breaks the affinity rather than strand the unit.
                u.affinity = CpuMask::ALL;
            }
            if u.cpu == cpu {
                u.queued = false;
                u.cpu = u.affinity.and(remaining).cycle(cpu).unwrap_or(cpu);
            }
            if displaced.contains(&unit) {
                tickle = tickle.or(self.make_runnable(unit));
            }
        }
        Ok(tickle.and(self.online))
    }

    fn insert_unit(
        &mut self,
        unit: SchedUnit,
        params: CreditParams,
        affinity: CpuMask,
    ) -> Result<(), SchedError> {
        let params = params.validate(self.nr_cpus())?;
        if self.units.contains_key(&unit) {
            return Err(SchedError::UnitExists);
        }
        let cpu =
            affinity.and(self.online).cycle(self.last_insert).ok_or(SchedError::EmptyAffinity)?;
        self.last_insert = cpu;
        let dom = self.doms.entry(unit.dom).or_insert(CreditDom {
            params,
            active_units: Vec::new(),
            nr_units: 0,
        });
        dom.params = params;
        dom.nr_units = dom.nr_units.saturating_add(1);
        self.units.insert(
            unit,
            CreditUnit {
                pri: CreditPri::TsUnder,
                credit: 0,
                start_time: 0,
                residual_ns: 0,
                cpu,
                affinity,
                asleep: true,
                parked: false,
                yielding: false,
                queued: false,
                active: false,
            },
        );
        Ok(())
    }

    fn remove_unit(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError> {
        if !self.units.contains_key(&unit) {
            return Err(SchedError::NoSuchUnit);
        }
        self.acct_stop(unit);
        self.dequeue(unit);
        let tickle = self.running_on(unit).map_or(CpuMask::EMPTY, CpuMask::only);
        self.units.remove(&unit);
        if let Some(dom) = self.doms.get_mut(&unit.dom) {
            dom.nr_units = dom.nr_units.saturating_sub(1);
            if dom.nr_units == 0 {
                self.doms.remove(&unit.dom);
                self.active_doms.retain(|&d| d != unit.dom);
            }
        }
        Ok(tickle)
    }

    fn sleep(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError> {
        let u = self.units.get_mut(&unit).ok_or(SchedError::NoSuchUnit)?;
        u.asleep = true;
        if let Some(cpu) = self.running_on(unit) {
            return Ok(CpuMask::only(cpu));
        }
        self.dequeue(unit);
        Ok(CpuMask::EMPTY)
    }

    fn wake(&mut self, unit: SchedUnit, _now: Time) -> Result<CpuMask, SchedError> {
        let running = self.running_on(unit).is_some();
        #[cfg(test)]
        let no_boost = self.no_boost;
        #[cfg(not(test))]
        let no_boost = false;
        let u = self.units.get_mut(&unit).ok_or(SchedError::NoSuchUnit)?;
        let was_asleep = core::mem::replace(&mut u.asleep, false);
        if !was_asleep || running || u.queued || u.parked {
            return Ok(CpuMask::EMPTY);
        }
        if u.pri == CreditPri::TsUnder && !no_boost {
            u.pri = CreditPri::TsBoost;
        }
        Ok(self.make_runnable(unit))
    }

    fn yield_(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError> {
        let u = self.units.get_mut(&unit).ok_or(SchedError::NoSuchUnit)?;
        u.yielding = true;
        Ok(self.running_on(unit).map_or(CpuMask::EMPTY, CpuMask::only))
    }

    fn do_schedule(&mut self, cpu: Cpu, now: Time) -> Decision {
        self.schedule(cpu, now)
    }

    fn pick_cpu(&self, unit: SchedUnit) -> Option<Cpu> {
        self.pick(unit)
    }

    fn adjust(&mut self, dom: DomId, params: CreditParams) -> Result<(), SchedError> {
        let params = params.validate(self.nr_cpus())?;
        self.doms.get_mut(&dom).ok_or(SchedError::NoSuchDomain)?.params = params;
        Ok(())
    }

    fn dom_params(&self, dom: DomId) -> Option<CreditParams> {
        self.doms.get(&dom).map(|d| d.params)
    }

    fn adjust_global(&mut self, params: CreditGlobalParams) -> Result<(), SchedError> {
        self.params = params.validate()?;
        Ok(())
    }

    fn global_params(&self) -> CreditGlobalParams {
        self.params
    }

    fn set_affinity(&mut self, unit: SchedUnit, mask: CpuMask) -> Result<CpuMask, SchedError> {
        if !mask.intersects(self.online) {
            return Err(SchedError::EmptyAffinity);
        }
        let running = self.running_on(unit);
        let u = self.units.get_mut(&unit).ok_or(SchedError::NoSuchUnit)?;
        u.affinity = mask;
        let (cpu, queued) = (u.cpu, u.queued);
        if let Some(cpu) = running {
            // The CPU reschedules and moves the unit if it must go.
            return Ok(if mask.contains(cpu) { CpuMask::EMPTY } else { CpuMask::only(cpu) });
        }
        if mask.contains(cpu) {
            // It stays (cache-hot), but an idler it may now use can steal it.
            if let Some(e) = self.pcpu_mut(cpu).and_then(|p| p.runq.get_mut(unit)) {
                e.affinity = mask;
                return Ok(self.runq_tickle(unit));
            }
            return Ok(CpuMask::EMPTY);
        }
        self.dequeue(unit);
        if let Some(new) = self.pick(unit)
            && let Some(u) = self.units.get_mut(&unit)
        {
            u.cpu = new;
        }
        Ok(if queued { self.make_runnable(unit) } else { CpuMask::EMPTY })
    }

    fn tick(&mut self, cpu: Cpu, now: Time) -> CpuMask {
        self.do_tick(cpu, now)
    }

    fn tick_period_ns(&self) -> Option<u64> {
        Some(self.params.tick_ns())
    }

    fn is_eligible(&self, unit: SchedUnit) -> bool {
        self.units.get(&unit).is_some_and(|u| !u.asleep && !u.parked)
    }

    fn dump(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.dump_state(out)
    }
}
