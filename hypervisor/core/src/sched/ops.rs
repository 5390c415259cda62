// SPDX-License-Identifier: GPL-2.0-only
//! The scheduler interface: Xen's `struct scheduler` hooks as a trait.
//!
//! The generic layer (the later machine code) owns the real vCPUs and calls
//! these hooks; a scheduler only orders [`SchedUnit`]s. Every hook that may
//! make another CPU pick differently returns the CPUs to "tickle" (raise
//! `SCHEDULE_SOFTIRQ` on, i.e. call [`Scheduler::do_schedule`] there soon).
//!
//! Life cycle of a unit: [`insert_unit`](Scheduler::insert_unit) adds it
//! asleep (Xen's new vCPUs start down/paused); [`wake`](Scheduler::wake) makes
//! it runnable; [`sleep`](Scheduler::sleep) when it blocks or is paused;
//! [`remove_unit`](Scheduler::remove_unit) when the vCPU is destroyed. The
//! unit a CPU runs changes only through that CPU's
//! [`do_schedule`](Scheduler::do_schedule).

use core::fmt;

use guest_abi::xen::DomId;

use super::names::SchedulerKind;
use super::types::{Cpu, CpuMask, SchedError, SchedUnit, Time};

/// What a CPU runs next (Xen's `next_task` plus `next_time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The unit to run; `None` runs the idle vCPU.
    pub next: Option<SchedUnit>,
    /// Reschedule this CPU after this many nanoseconds (the time slice);
    /// `None` means no scheduler timer (idle until tickled).
    pub slice_ns: Option<u64>,
    /// `next` was taken from another CPU's run queue.
    pub migrated: bool,
    /// Other CPUs to reschedule (e.g. an idler that may now steal work).
    pub tickle: CpuMask,
}

impl Decision {
    /// Run the idle vCPU until tickled.
    pub const IDLE: Self =
        Self { next: None, slice_ns: None, migrated: false, tickle: CpuMask::EMPTY };
}

/// A CPU scheduler (credit now, sEDF later).
pub trait Scheduler {
    /// Per-domain parameters (`XEN_DOMCTL_SCHEDOP_{put,get}info`).
    type DomParams: Copy;
    /// Scheduler-wide parameters (`XEN_SYSCTL_SCHEDOP_{put,get}info`).
    type GlobalParams: Copy;

    /// Which scheduler this is (for its names).
    fn kind(&self) -> SchedulerKind;

    /// Brings `cpu` into the scheduler (`init_pdata`); it starts idle. The
    /// caller then runs [`do_schedule`](Self::do_schedule) on it, which may
    /// steal work.
    fn init_cpu(&mut self, cpu: Cpu) -> Result<(), SchedError>;

    /// Takes `cpu` out (`deinit_pdata`). Units queued or running there move
    /// to other CPUs (affinity is broken to all online CPUs if it named only
    /// removed ones, as Xen does); the caller must stop running the unit it
    /// had there. Returns the CPUs to tickle.
    fn deinit_cpu(&mut self, cpu: Cpu) -> Result<CpuMask, SchedError>;

    /// Adds a unit, asleep, with its domain's parameters (which replace the
    /// domain's current ones if it already has units) and hard affinity.
    fn insert_unit(
        &mut self,
        unit: SchedUnit,
        params: Self::DomParams,
        affinity: CpuMask,
    ) -> Result<(), SchedError>;

    /// Removes a unit. If it is running, its CPU is tickled and must
    /// reschedule; the unit is never returned again.
    fn remove_unit(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError>;

    /// The unit blocked or was paused: it is not runnable until woken.
    fn sleep(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError>;

    /// The unit became runnable at `now`.
    fn wake(&mut self, unit: SchedUnit, now: Time) -> Result<CpuMask, SchedError>;

    /// The running unit wants to give way (`SCHEDOP_yield`).
    fn yield_(&mut self, unit: SchedUnit) -> Result<CpuMask, SchedError>;

    /// Deschedules whatever `cpu` runs and decides what it runs next.
    fn do_schedule(&mut self, cpu: Cpu, now: Time) -> Decision;

    /// The CPU the unit should best run on (`pick_resource`), honouring its
    /// affinity; `None` for an unknown unit or no eligible CPU.
    fn pick_cpu(&self, unit: SchedUnit) -> Option<Cpu>;

    /// Sets a domain's parameters.
    fn adjust(&mut self, dom: DomId, params: Self::DomParams) -> Result<(), SchedError>;

    /// A domain's parameters.
    fn dom_params(&self, dom: DomId) -> Option<Self::DomParams>;

    /// Sets the scheduler-wide parameters.
    fn adjust_global(&mut self, params: Self::GlobalParams) -> Result<(), SchedError>;

    /// The scheduler-wide parameters.
    fn global_params(&self) -> Self::GlobalParams;

    /// Sets a unit's hard affinity; the unit moves if it must.
    fn set_affinity(&mut self, unit: SchedUnit, mask: CpuMask) -> Result<CpuMask, SchedError>;

    /// Periodic accounting on `cpu`, every
    /// [`tick_period_ns`](Self::tick_period_ns) on every online CPU.
    fn tick(&mut self, cpu: Cpu, now: Time) -> CpuMask;

    /// The accounting tick period, if the scheduler wants ticks.
    fn tick_period_ns(&self) -> Option<u64>;

    /// Whether the unit may run now: inserted, awake and not held back by the
    /// scheduler (e.g. a capped unit parked over its cap).
    fn is_eligible(&self, unit: SchedUnit) -> bool;

    /// Human-readable state, in the spirit of `xl debug-keys r`.
    fn dump(&self, out: &mut impl fmt::Write) -> fmt::Result;
}
