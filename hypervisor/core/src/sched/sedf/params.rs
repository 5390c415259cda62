// SPDX-License-Identifier: GPL-2.0-only
//! sEDF parameters: Xen 4.5's constants (`sched_sedf.c`), a domain's
//! parameters ([`SedfParams`], the per-vCPU fields `sedf_adjust` writes) and
//! the `XEN_DOMCTL_SCHEDOP_putinfo` rules with Xen 4.5's validation.

use crate::sched::types::{NS_PER_MS, NS_PER_US, SchedError};

/// Shortest extra-time run (`EXTRA_QUANTUM`, 500 µs).
pub const EXTRA_QUANTUM: u64 = 500 * NS_PER_US;
/// Period of weight-driven and best-effort domains (`WEIGHT_PERIOD`).
pub const WEIGHT_PERIOD: u64 = 100 * NS_PER_MS;
/// Part of [`WEIGHT_PERIOD`] kept out of weight-driven slices
/// (`WEIGHT_SAFETY`).
pub const WEIGHT_SAFETY: u64 = 5 * NS_PER_MS;
/// Longest period accepted (`PERIOD_MAX`, 10 s).
pub const PERIOD_MAX: u64 = 10_000 * NS_PER_MS;
/// Shortest period accepted (`PERIOD_MIN`, 10 µs).
pub const PERIOD_MIN: u64 = 10 * NS_PER_US;
/// Shortest slice accepted (`SLICE_MIN`, 5 µs).
pub const SLICE_MIN: u64 = 5 * NS_PER_US;
/// How long an idle CPU with nothing queued waits (`SECONDS(1)`).
pub const IDLE_SLICE: u64 = 1_000 * NS_PER_MS;
/// The `extratime` bit (`EXTRA_AWARE`).
pub const EXTRA_AWARE: u32 = 1;

/// A domain's sEDF parameters: what `XEN_DOMCTL_SCHEDOP_putinfo` sets on
/// every vCPU of the domain and `getinfo` reads back from vCPU 0.
///
/// Three kinds of domain, as in Xen: *time-driven* (`weight` and
/// `extraweight` 0: `slice` guaranteed every `period`), *weight-driven*
/// (`weight` non-zero: the policy gives it `slice` of a
/// [`WEIGHT_PERIOD`] in proportion to the weights on its CPU) and
/// *best-effort* (`slice` 0: extra time only, shared by `extraweight`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SedfParams {
    /// Period = relative deadline, ns.
    pub period: u64,
    /// Guaranteed time per period, ns (0: none).
    pub slice: u64,
    /// Latency hint, ns: a vCPU waking after a long block gets this
    /// shorter period (slice scaled alike) and doubles back (0: none).
    pub latency: u64,
    /// May run in idle (extra) time.
    pub extratime: bool,
    /// Real-time weight (0: not weight-driven).
    pub weight: u32,
    /// Weight in the extra-time share (0: by utilisation).
    pub extraweight: u32,
}

impl Default for SedfParams {
    /// Xen 4.5's `sedf_alloc_vdata`: every new vCPU, dom0's included, is
    /// best-effort with an equal share of extra time.
    fn default() -> Self {
        Self {
            period: WEIGHT_PERIOD,
            slice: 0,
            latency: 0,
            extratime: true,
            weight: 0,
            extraweight: 1,
        }
    }
}

/// The `xen_domctl_sched_sedf` fields of a put request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SedfPut {
    /// Period, ns.
    pub period: u64,
    /// Slice, ns.
    pub slice: u64,
    /// Latency hint, ns.
    pub latency: u64,
    /// Bit 0: extra time ([`EXTRA_AWARE`]); other bits ignored.
    pub extratime: u32,
    /// Weight.
    pub weight: u32,
}

impl SedfParams {
    /// Xen 4.5's `sedf_adjust` for `XEN_DOMCTL_SCHEDOP_putinfo`: the
    /// parameters after `put` on a domain that had `self`.
    ///
    /// * period and weight both 0: `-EINVAL`;
    /// * a weight with extratime and no period: best-effort with that
    ///   extra weight (slice 0, period [`WEIGHT_PERIOD`]);
    /// * another weight: weight-driven (the policy computes the slice);
    /// * no weight: time-driven, period within
    ///   [`PERIOD_MIN`]..=[`PERIOD_MAX`] and slice within
    ///   [`SLICE_MIN`]..=period, else `-EINVAL`.
    ///
    /// The extratime bit and the latency are taken in every case.
    ///
    /// # Errors
    /// [`SchedError::InvalidSedf`] where Xen answers `-EINVAL`.
    pub fn put(self, put: SedfPut) -> Result<Self, SchedError> {
        if put.period == 0 && put.weight == 0 {
            return Err(SchedError::InvalidSedf);
        }
        let extratime = put.extratime & EXTRA_AWARE != 0;
        let mut new = self;
        if put.weight != 0 {
            if extratime && put.period == 0 {
                new.extraweight = put.weight;
                new.weight = 0;
                new.slice = 0;
                new.period = WEIGHT_PERIOD;
            } else {
                new.weight = put.weight;
            }
        } else {
            if !(PERIOD_MIN..=PERIOD_MAX).contains(&put.period)
                || put.slice > put.period
                || put.slice < SLICE_MIN
            {
                return Err(SchedError::InvalidSedf);
            }
            new.weight = 0;
            new.extraweight = 0;
            new.period = put.period;
            new.slice = put.slice;
        }
        new.extratime = extratime;
        new.latency = put.latency;
        Ok(new)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests on known values")]
mod tests {
    use super::*;

    fn put(period: u64, slice: u64, extratime: u32, weight: u32) -> SedfPut {
        SedfPut { period, slice, latency: 0, extratime, weight }
    }

    #[test]
    fn putinfo_follows_xen_4_5() {
        let d = SedfParams::default();
        assert_eq!(d.put(put(0, 0, 1, 0)), Err(SchedError::InvalidSedf));
        // Time-driven: bounds on period and slice.
        let ms = NS_PER_MS;
        let t = d.put(put(20 * ms, 5 * ms, 0, 0)).unwrap();
        assert_eq!(
            (t.period, t.slice, t.weight, t.extraweight, t.extratime),
            (20 * ms, 5 * ms, 0, 0, false)
        );
        for bad in [
            put(PERIOD_MIN - 1, SLICE_MIN, 0, 0),
            put(PERIOD_MAX + 1, ms, 0, 0),
            put(10 * ms, 11 * ms, 0, 0),
            put(10 * ms, SLICE_MIN - 1, 0, 0),
            put(10 * ms, 0, 1, 0),
        ] {
            assert_eq!(d.put(bad), Err(SchedError::InvalidSedf), "{bad:?}");
        }
        assert!(d.put(put(PERIOD_MIN, SLICE_MIN, 0, 0)).is_ok());
        assert!(d.put(put(PERIOD_MAX, PERIOD_MAX, 0, 0)).is_ok());
        // Weight with extratime and no period: best-effort by extra weight.
        let b = t.put(put(0, 0, 1, 7)).unwrap();
        assert_eq!(
            (b.period, b.slice, b.weight, b.extraweight, b.extratime),
            (WEIGHT_PERIOD, 0, 0, 7, true)
        );
        // Weight otherwise: weight-driven; period and slice are the policy's.
        let w = t.put(put(0, 0, 0, 3)).unwrap();
        assert_eq!((w.weight, w.period, w.slice), (3, 20 * ms, 5 * ms));
        // Bits above extratime are ignored.
        assert!(!d.put(put(20 * ms, 5 * ms, 2, 0)).unwrap().extratime);
        let l = d.put(SedfPut { latency: 3 * ms, ..put(20 * ms, 5 * ms, 1, 0) }).unwrap();
        assert_eq!((l.latency, l.extratime), (3 * ms, true));
    }
}
