// SPDX-License-Identifier: GPL-2.0-only
//! CPU scheduling: the `sched=` names, the scheduler interface, per-CPU
//! timers and the credit scheduler (Xen's `xen/common/sched`).
//!
//! * [`names`]: the `sched=` choice and the names printed at boot;
//! * [`types`]: [`Cpu`], [`SchedUnit`], [`CpuMask`], [`SchedError`];
//! * [`ops`]: the [`Scheduler`] trait (Xen's `struct scheduler`) and
//!   [`Decision`];
//! * [`timer`]: a per-CPU deadline heap ([`TimerHeap`]);
//! * [`credit`]: the SMP credit scheduler ([`CreditScheduler`]);
//! * [`sedf`]: the simple EDF scheduler ([`SedfScheduler`]).
//!
//! Everything here is pure logic over virtual time; the machine layer holds
//! the locks, the timers and the IPIs. A deterministic simulation drives the
//! schedulers in the tests (`sim`).

pub mod credit;
pub mod names;
pub mod ops;
pub mod sedf;
#[cfg(test)]
mod sim;
pub mod timer;
pub mod types;

pub use credit::{CreditGlobalParams, CreditParams, CreditScheduler};
pub use names::{SchedulerKind, opt_name, scheduler_name};
pub use ops::{Decision, Scheduler};
pub use sedf::{SedfParams, SedfScheduler};
pub use timer::TimerHeap;
pub use types::{Cpu, CpuMask, NS_PER_MS, NS_PER_US, SchedError, SchedUnit, Time};
