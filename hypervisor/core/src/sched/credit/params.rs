// SPDX-License-Identifier: GPL-2.0-only
//! Credit scheduler parameters: Xen's `CSCHED_*` constants, the per-domain
//! weight and cap, and the scheduler-wide time slice and rate limit.

use crate::sched::types::{NS_PER_MS, NS_PER_US, SchedError};

/// Default domain weight (`CSCHED_DEFAULT_WEIGHT`).
pub const CSCHED_DEFAULT_WEIGHT: u16 = 256;
/// Default time slice in ms (`CSCHED_DEFAULT_TSLICE_MS`).
pub const CSCHED_DEFAULT_TSLICE_MS: u32 = 30;
/// Accounting ticks per time slice (`CSCHED_TICKS_PER_TSLICE`).
pub const CSCHED_TICKS_PER_TSLICE: u32 = 3;
/// Credits a unit burns per millisecond of running (`CSCHED_CREDITS_PER_MSEC`).
pub const CSCHED_CREDITS_PER_MSEC: u64 = 10;
/// Nanoseconds of running that burn one credit.
pub const NS_PER_CREDIT: u64 = NS_PER_MS / CSCHED_CREDITS_PER_MSEC;
/// Smallest time slice, ms (`XEN_SYSCTL_CSCHED_TSLICE_MIN`).
pub const TSLICE_MS_MIN: u32 = 1;
/// Largest time slice, ms (`XEN_SYSCTL_CSCHED_TSLICE_MAX`).
pub const TSLICE_MS_MAX: u32 = 1000;
/// Default rate limit, µs (Xen 4.x `sched_ratelimit_us`).
pub const RATELIMIT_US_DEFAULT: u32 = 1000;
/// Smallest non-zero rate limit, µs (`XEN_SYSCTL_SCHED_RATELIMIT_MIN`); also
/// the shortest slice the rate limit hands out (`CSCHED_MIN_TIMER`).
pub const RATELIMIT_US_MIN: u32 = 100;
/// Largest rate limit, µs (`XEN_SYSCTL_SCHED_RATELIMIT_MAX`).
pub const RATELIMIT_US_MAX: u32 = 500_000;

/// A domain's credit parameters (`xen_domctl_sched_credit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditParams {
    /// Relative share of CPU time, `1..=65535`.
    pub weight: u16,
    /// Upper bound in percent of one CPU (`100` = one full CPU), `0` = none.
    pub cap: u16,
}

impl Default for CreditParams {
    fn default() -> Self {
        Self { weight: CSCHED_DEFAULT_WEIGHT, cap: 0 }
    }
}

impl CreditParams {
    /// Checks the parameters for a scheduler with `nr_cpus` online CPUs.
    ///
    /// Weight 0 is refused (Xen's hypercall treats 0 as "unchanged"; that
    /// sentinel belongs to the hypercall layer). The cap is accepted up to
    /// `100 * nr_cpus`: libxl bounds it by `100 * nr_vcpus`, but the number of
    /// vCPUs grows as they are inserted one by one, while a cap above the
    /// whole machine could never bind.
    pub fn validate(self, nr_cpus: u32) -> Result<Self, SchedError> {
        if self.weight == 0 {
            return Err(SchedError::InvalidWeight);
        }
        if u32::from(self.cap) > nr_cpus.max(1).saturating_mul(100) {
            return Err(SchedError::InvalidCap);
        }
        Ok(self)
    }
}

/// Scheduler-wide parameters (`sched_credit_tslice_ms`, `sched_ratelimit_us`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditGlobalParams {
    /// Time slice in ms, `1..=1000`; accounting runs once per slice.
    pub tslice_ms: u32,
    /// Minimum run time before preemption in µs: `0` (off) or
    /// `100..=500000`, and at most the time slice.
    pub ratelimit_us: u32,
}

impl Default for CreditGlobalParams {
    fn default() -> Self {
        Self { tslice_ms: CSCHED_DEFAULT_TSLICE_MS, ratelimit_us: RATELIMIT_US_DEFAULT }
    }
}

impl CreditGlobalParams {
    /// Checks the ranges (as `csched_sys_cntl`).
    pub fn validate(self) -> Result<Self, SchedError> {
        if !(TSLICE_MS_MIN..=TSLICE_MS_MAX).contains(&self.tslice_ms) {
            return Err(SchedError::InvalidTimeslice);
        }
        let r = self.ratelimit_us;
        if r != 0
            && (!(RATELIMIT_US_MIN..=RATELIMIT_US_MAX).contains(&r)
                || u64::from(r).saturating_mul(NS_PER_US) > self.tslice_ns())
        {
            return Err(SchedError::InvalidRatelimit);
        }
        Ok(self)
    }

    /// The time slice (and accounting period) in ns.
    pub fn tslice_ns(self) -> u64 {
        u64::from(self.tslice_ms).saturating_mul(NS_PER_MS)
    }

    /// The rate limit in ns.
    pub fn ratelimit_ns(self) -> u64 {
        u64::from(self.ratelimit_us).saturating_mul(NS_PER_US)
    }

    /// Accounting ticks per slice: 3, or 1 for slices under 3 ms.
    pub fn ticks_per_tslice(self) -> u32 {
        if self.tslice_ms < CSCHED_TICKS_PER_TSLICE { 1 } else { CSCHED_TICKS_PER_TSLICE }
    }

    /// The tick period in ns (10 ms by default).
    pub fn tick_ns(self) -> u64 {
        self.tslice_ns().checked_div(u64::from(self.ticks_per_tslice())).unwrap_or(NS_PER_MS)
    }

    /// Credits one unit can earn in one slice (`credits_per_tslice`, 300).
    pub fn credits_per_tslice(self) -> i64 {
        i64::from(self.tslice_ms).saturating_mul(10)
    }
}
