// SPDX-License-Identifier: GPL-2.0-only
//! The simple earliest-deadline-first scheduler (Xen's `sched_sedf.c`,
//! Xen 3.x–4.5 semantics; Xen 4.6 removed it).
//!
//! Every vCPU has a period and a slice ([`SedfParams`]): it is guaranteed
//! `slice` of CPU time in every `period`, the end of its current period
//! being its deadline. Each CPU keeps its own queues, as Xen does:
//!
//! * the *runq*: vCPUs whose period has begun and whose slice is not used
//!   up, by deadline; the head runs (EDF);
//! * the *waitq*: vCPUs waiting for their next period, by its start;
//! * two *extraqs* for idle time: the penalty queue (vCPUs that lost part
//!   of their slice by blocking briefly, by lost time) and the utilisation
//!   queue (every runnable vCPU with the extratime flag, by a score that
//!   gives each a share of extra time in proportion to its extra weight, or
//!   to its utilisation when it has none). Extra time runs in quanta of
//!   [`params::EXTRA_QUANTUM`] and never past the next period start.
//!
//! A vCPU that wakes within its period (a short block) gives up the rest of
//! that period's slice and gets the time it lost as a claim on the penalty
//! queue; one that wakes after its deadline (a long block) starts a new
//! period at once, and with a latency hint that period is the latency
//! (slice scaled alike), doubling back to the real period each period —
//! the latency scaling of Xen 3.0's `unblock_long_burst`; Xen 4.5 stores
//! the latency but no longer uses it, which is what latency 0 (the
//! default) gives here.
//!
//! vCPUs stay on the CPU they were placed on (no load balancing, as in
//! Xen): a new vCPU 0 goes to the least-populated CPU of its affinity
//! (`default_vcpu0_location`), later vCPUs of the domain to the next CPUs
//! in turn, and an affinity change moves a vCPU by `sedf_pick_cpu` (its id
//! modulo the allowed CPUs).
//!
//! Split into [`params`] (constants, parameters and `putinfo`), `queues`
//! (the four queues), `schedule` (`sedf_do_schedule` and the de-scheduling
//! bookkeeping), `wake` (blocking and waking) and `dump`.

mod dump;
pub mod params;
mod queues;
mod schedule;
#[cfg(test)]
mod tests;
mod wake;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use guest_abi::xen::DomId;

pub use params::{SedfParams, SedfPut};

use super::names::SchedulerKind;
use super::ops::{Decision, Scheduler};
use super::types::{Cpu, CpuMask, SchedError, SchedUnit, Time};
use params::{WEIGHT_PERIOD, WEIGHT_SAFETY};

/// The penalty extraq (`EXTRA_PEN_Q`).
const PEN_Q: usize = 0;
/// The utilisation extraq (`EXTRA_UTIL_Q`).
const UTIL_Q: usize = 1;

/// How a unit runs now (`EXTRA_RUN_PEN`/`EXTRA_RUN_UTIL` of its status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// In its guaranteed slice (or not running).
    Edf,
    /// In extra time from the penalty queue.
    ExtraPen,
    /// In extra time from the utilisation queue.
    ExtraUtil,
}

/// Which of its CPU's queues a runnable unit is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queue {
    Run,
    Wait,
}

/// sEDF state of one unit (Xen's `sedf_vcpu_info`). Times are signed
/// nanoseconds, as Xen's `s_time_t` (a period may begin before boot).
#[derive(Clone, Debug)]
pub struct SedfUnit {
    /// Current period (shorter than `period_orig` while latency-scaled).
    pub period: i64,
    /// Current slice.
    pub slice: i64,
    /// The configured period.
    pub period_orig: i64,
    /// The configured slice.
    pub slice_orig: i64,
    /// Latency hint (0: none).
    pub latency: i64,
    /// May run in extra time (`EXTRA_AWARE`).
    pub extra_aware: bool,
    /// Wants (more) penalty extra time (`EXTRA_WANT_PEN_Q`).
    want_pen_q: bool,
    /// How it runs now.
    pub run: RunKind,
    /// Blocked or paused (`SEDF_ASLEEP`).
    pub asleep: bool,
    /// Real-time weight (weight-driven units).
    pub weight: u32,
    /// Extra-time weight.
    pub extraweight: u32,
    /// Absolute deadline: the end of the current period (0: never woken).
    pub deadl_abs: i64,
    /// When it last started running.
    sched_start: i64,
    /// CPU time used in the current period.
    pub cputime: i64,
    /// When it last blocked.
    block_abs: i64,
    /// Extraq scores (lower runs first).
    score: [i64; 2],
    /// Slice time lost to the last short block.
    short_block_lost_tot: i64,
    /// Extra time received in total.
    pub extra_time_tot: i64,
    /// The CPU whose queues hold it.
    pub cpu: Cpu,
    /// Hard affinity.
    pub affinity: CpuMask,
    /// Runq or waitq (runnable units are on one of them).
    queue: Option<Queue>,
    /// On the penalty / utilisation extraq.
    on_extraq: [bool; 2],
    /// Moves to this CPU once its current CPU deschedules it.
    migrate_to: Option<Cpu>,
}

impl SedfUnit {
    /// The start of the current period (`PERIOD_BEGIN`).
    fn period_begin(&self) -> i64 {
        self.deadl_abs.saturating_sub(self.period)
    }
}

/// One CPU's queues (Xen's `sedf_cpu_info`).
#[derive(Clone, Debug, Default)]
pub struct SedfPcpu {
    /// Units in their period with slice left, by deadline.
    pub runq: Vec<SchedUnit>,
    /// Units waiting for their next period, by its start.
    pub waitq: Vec<SchedUnit>,
    /// Penalty and utilisation extraqs, by score.
    pub extraq: [Vec<SchedUnit>; 2],
    /// The unit it runs (`None`: idle).
    pub curr: Option<SchedUnit>,
    /// When the current decision ends (`current_slice_expires`).
    pub slice_expires: i64,
}

/// The sEDF scheduler.
#[derive(Clone, Debug, Default)]
pub struct SedfScheduler {
    pcpus: Vec<Option<SedfPcpu>>,
    online: CpuMask,
    units: BTreeMap<SchedUnit, SedfUnit>,
    /// Each domain's parameters as last set.
    doms: BTreeMap<DomId, SedfParams>,
    /// The latest time seen, for moves outside a scheduling decision.
    last_now: i64,
}

/// `Time` as sEDF's signed time.
fn signed(t: Time) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// `ceil(x / y)` for `x >= 0`, `y > 0` (`DIV_UP`); 0 otherwise.
fn div_up(x: i64, y: i64) -> i64 {
    if x <= 0 || y <= 0 {
        return 0;
    }
    x.saturating_add(y.saturating_sub(1)).checked_div(y).unwrap_or(0)
}

impl SedfScheduler {
    /// A scheduler with no CPU and no unit.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A unit's state.
    #[must_use]
    pub fn unit(&self, unit: SchedUnit) -> Option<&SedfUnit> {
        self.units.get(&unit)
    }

    /// A CPU's queues.
    #[must_use]
    pub fn pcpu(&self, cpu: Cpu) -> Option<&SedfPcpu> {
        self.pcpus.get(cpu.index())?.as_ref()
    }

    fn pcpu_mut(&mut self, cpu: Cpu) -> Option<&mut SedfPcpu> {
        self.pcpus.get_mut(cpu.index())?.as_mut()
    }

    /// The CPU `unit` is running on, if any.
    #[must_use]
    pub fn running_on(&self, unit: SchedUnit) -> Option<Cpu> {
        let cpu = self.units.get(&unit)?.cpu;
        (self.pcpu(cpu)?.curr == Some(unit)).then_some(cpu)
    }

    /// Sets a unit's parameters from its domain's.
    fn apply_params(u: &mut SedfUnit, p: SedfParams) {
        let period = signed(p.period);
        let slice = signed(p.slice);
        u.period = period;
        u.period_orig = period;
        u.slice = slice;
        u.slice_orig = slice;
        u.weight = p.weight;
        u.extraweight = p.extraweight;
        u.latency = signed(p.latency);
        u.extra_aware = p.extratime;
    }

    /// Xen's `sedf_adjust_weights`: weight-driven units get a slice of
    /// [`WEIGHT_PERIOD`] in proportion to their weight among the weights
    /// on their CPU, out of what the time-driven units there leave.
    fn adjust_weights(&mut self) {
        let mut sumw: BTreeMap<Cpu, i64> = BTreeMap::new();
        let mut sumt: BTreeMap<Cpu, i64> = BTreeMap::new();
        let wp = signed(WEIGHT_PERIOD);
        for u in self.units.values() {
            if u.weight != 0 {
                let s = sumw.entry(u.cpu).or_insert(0);
                *s = s.saturating_add(i64::from(u.weight));
            } else {
                let t = wp.saturating_mul(u.slice_orig).checked_div(u.period_orig).unwrap_or(0);
                let s = sumt.entry(u.cpu).or_insert(0);
                *s = s.saturating_add(t);
            }
        }
        for u in self.units.values_mut() {
            if u.weight == 0 {
                continue;
            }
            let w = sumw.get(&u.cpu).copied().unwrap_or(1).max(1);
            let t = sumt.get(&u.cpu).copied().unwrap_or(0);
            let room = wp.saturating_sub(signed(WEIGHT_SAFETY)).saturating_sub(t).max(0);
            let slice = i64::from(u.weight).saturating_mul(room).checked_div(w).unwrap_or(0);
            u.period = wp;
            u.period_orig = wp;
            u.slice = slice;
            u.slice_orig = slice;
        }
    }

    /// Xen's `default_vcpu0_location`: the allowed CPU with the fewest
    /// units, the highest on a tie, the first CPU only if it has strictly
    /// fewer.
    fn least_populated(&self, allowed: CpuMask) -> Option<Cpu> {
        let count = |c: Cpu| self.units.values().filter(|u| u.cpu == c).count();
        let mut best = allowed.first()?;
        for c in allowed.iter().skip(1) {
            if count(c) <= count(best) {
                best = c;
            }
        }
        Some(best)
    }

    /// Where a new unit goes: vCPU 0 to the least-populated allowed CPU,
    /// vCPU n to the allowed CPU after vCPU n-1's.
    fn place(&self, unit: SchedUnit, allowed: CpuMask) -> Option<Cpu> {
        let prev = unit
            .vcpu
            .0
            .checked_sub(1)
            .map(|v| SchedUnit { dom: unit.dom, vcpu: guest_abi::xen::VcpuId(v) })
            .and_then(|p| self.units.get(&p));
        match prev {
            Some(p) => allowed.cycle(p.cpu),
            None => self.least_populated(allowed),
        }
    }

    /// Xen 4.5's `sedf_pick_cpu`: the (vCPU id modulo the number of
    /// allowed CPUs)-th allowed CPU.
    fn pick(&self, unit: SchedUnit) -> Option<Cpu> {
        let allowed = self.units.get(&unit)?.affinity.and(self.online);
        let n = allowed.count();
        let k = unit.vcpu.0.checked_rem(n)?;
        allowed.iter().nth(usize::try_from(k).unwrap_or(0))
    }

    /// Takes a unit off every queue and puts it on `cpu`; if it is awake it
    /// is woken there (Xen's `vcpu_migrate`: sleep, move, wake). Returns
    /// the CPUs to tickle.
    fn move_unit(&mut self, unit: SchedUnit, cpu: Cpu, now: i64) -> CpuMask {
        self.detach(unit);
        let Some(u) = self.units.get_mut(&unit) else { return CpuMask::EMPTY };
        u.cpu = cpu;
        u.migrate_to = None;
        u.run = RunKind::Edf;
        if u.asleep {
            return CpuMask::EMPTY;
        }
        u.asleep = true;
        self.wake_at(unit, now)
    }
}

impl Scheduler for SedfScheduler {
    type DomParams = SedfParams;
    type GlobalParams = ();

    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Sedf
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
        *slot = Some(SedfPcpu::default());
        self.online.set(cpu);
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
        if let Some(p) = self.pcpu_mut(cpu) {
            p.curr = None;
        }
        let now = self.last_now;
        let mut tickle = CpuMask::EMPTY;
        let here: Vec<SchedUnit> =
            self.units.iter().filter(|(_, u)| u.cpu == cpu).map(|(k, _)| *k).collect();
        self.online = remaining;
        for unit in here {
            if let Some(u) = self.units.get_mut(&unit)
                && !u.affinity.intersects(remaining)
            {
                // Xen breaks the affinity rather than strand the unit.
                u.affinity = CpuMask::ALL;
            }
            let target = self.pick(unit).unwrap_or(cpu);
            // Its queues go away with the CPU.
            if let Some(u) = self.units.get_mut(&unit) {
                u.queue = None;
                u.on_extraq = [false; 2];
            }
            tickle = tickle.or(self.move_unit(unit, target, now));
        }
        if let Some(slot) = self.pcpus.get_mut(cpu.index()) {
            *slot = None;
        }
        Ok(tickle.and(self.online))
    }

    fn insert_unit(
        &mut self,
        unit: SchedUnit,
        params: SedfParams,
        affinity: CpuMask,
    ) -> Result<(), SchedError> {
        if self.units.contains_key(&unit) {
            return Err(SchedError::UnitExists);
        }
        let allowed = affinity.and(self.online);
        let cpu = self.place(unit, allowed).ok_or(SchedError::EmptyAffinity)?;
        let mut u = SedfUnit {
            period: 0,
            slice: 0,
            period_orig: 0,
            slice_orig: 0,
            latency: 0,
            extra_aware: false,
            want_pen_q: false,
            run: RunKind::Edf,
            asleep: true,
            weight: 0,
            extraweight: 0,
            deadl_abs: 0,
            sched_start: 0,
            cputime: 0,
            block_abs: 0,
            score: [0; 2],
            short_block_lost_tot: 0,
            extra_time_tot: 0,
            cpu,
            affinity,
            queue: None,
            on_extraq: [false; 2],
            migrate_to: None,
        };
        Self::apply_params(&mut u, params);
        self.units.insert(unit, u);
        self.doms.insert(unit.dom, params);
        if params.weight != 0 {
            self.adjust_weights();
        }
        Ok(())
    }

    fn remove_unit(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError> {
        if !self.units.contains_key(&unit) {
            return Err(SchedError::NoSuchUnit);
        }
        let running = self.running_on(unit);
        self.detach(unit);
        if let Some(c) = running
            && let Some(p) = self.pcpu_mut(c)
        {
            p.curr = None;
        }
        self.units.remove(&unit);
        if !self.units.keys().any(|u| u.dom == unit.dom) {
            self.doms.remove(&unit.dom);
        }
        Ok(running.map_or(CpuMask::EMPTY, CpuMask::only))
    }

    fn sleep(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError> {
        self.sleep_unit(unit)
    }

    fn wake(&mut self, unit: SchedUnit, now: Time) -> Result<CpuMask, SchedError> {
        let now = signed(now).max(self.last_now);
        self.last_now = now;
        if !self.units.contains_key(&unit) {
            return Err(SchedError::NoSuchUnit);
        }
        Ok(self.wake_at(unit, now))
    }

    fn yield_(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError> {
        // sEDF has no yield hook: the CPU only decides again.
        if !self.units.contains_key(&unit) {
            return Err(SchedError::NoSuchUnit);
        }
        Ok(self.running_on(unit).map_or(CpuMask::EMPTY, CpuMask::only))
    }

    fn do_schedule(&mut self, cpu: Cpu, now: Time) -> Decision {
        let now = signed(now).max(self.last_now);
        self.last_now = now;
        self.schedule(cpu, now)
    }

    fn pick_cpu(&self, unit: SchedUnit) -> Option<Cpu> {
        self.pick(unit)
    }

    fn adjust(&mut self, dom: DomId, params: SedfParams) -> Result<(), SchedError> {
        if !self.doms.contains_key(&dom) {
            return Err(SchedError::NoSuchDomain);
        }
        self.doms.insert(dom, params);
        let mine: Vec<SchedUnit> = self.units.keys().filter(|u| u.dom == dom).copied().collect();
        for unit in &mine {
            if let Some(u) = self.units.get_mut(unit) {
                Self::apply_params(u, params);
            }
        }
        self.adjust_weights();
        for unit in &mine {
            self.extraq_check(*unit);
        }
        // Periods and deadlines may have moved: keep the queues sorted.
        for cpu in self.online.iter() {
            self.resort(cpu);
        }
        Ok(())
    }

    fn dom_params(&self, dom: DomId) -> Option<SedfParams> {
        let asked = *self.doms.get(&dom)?;
        // vCPU 0's values, as `getinfo` reads them (a weight-driven
        // domain's slice is the one computed for it).
        let u = self.units.iter().filter(|(k, _)| k.dom == dom).map(|(_, u)| u).next().map_or(
            asked,
            |u| SedfParams {
                period: u64::try_from(u.period_orig).unwrap_or(0),
                slice: u64::try_from(u.slice_orig).unwrap_or(0),
                latency: u64::try_from(u.latency).unwrap_or(0),
                extratime: u.extra_aware,
                weight: u.weight,
                extraweight: u.extraweight,
            },
        );
        Some(u)
    }

    fn adjust_global(&mut self, (): ()) -> Result<(), SchedError> {
        Ok(())
    }

    fn global_params(&self) {}

    fn set_affinity(&mut self, unit: SchedUnit, mask: CpuMask) -> Result<CpuMask, SchedError> {
        if !mask.intersects(self.online) {
            return Err(SchedError::EmptyAffinity);
        }
        let running = self.running_on(unit);
        let u = self.units.get_mut(&unit).ok_or(SchedError::NoSuchUnit)?;
        u.affinity = mask;
        let Some(target) = self.pick(unit) else { return Err(SchedError::EmptyAffinity) };
        let Some(u) = self.units.get_mut(&unit) else { return Err(SchedError::NoSuchUnit) };
        if target == u.cpu {
            u.migrate_to = None;
            return Ok(CpuMask::EMPTY);
        }
        if let Some(c) = running {
            // Its CPU deschedules it first, then it moves.
            u.migrate_to = Some(target);
            return Ok(CpuMask::only(c));
        }
        let now = self.last_now;
        Ok(self.move_unit(unit, target, now))
    }

    fn tick(&mut self, _cpu: Cpu, _now: Time) -> CpuMask {
        CpuMask::EMPTY
    }

    fn tick_period_ns(&self) -> Option<u64> {
        None
    }

    fn is_eligible(&self, unit: SchedUnit) -> bool {
        self.units.get(&unit).is_some_and(|u| !u.asleep)
    }

    fn dump(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.dump_state(out)
    }
}
