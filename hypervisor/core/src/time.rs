// SPDX-License-Identifier: GPL-2.0-only
//! Time as Xen keeps it: system time in nanoseconds since boot derived
//! from the TSC through a [`TimeScale`] (Xen's `struct time_scale`), and
//! the RTC date conversion for the wallclock.
//!
//! The same scale converts TSC deltas for the hypervisor's `NOW()` and is
//! published to guests in every `vcpu_time_info` (`tsc_to_system_mul`,
//! `tsc_shift`), so a guest's pvclock and the hypervisor's timers agree to
//! the nanosecond.

pub mod exit_memo;
pub mod oneshot;

/// Nanoseconds per second.
pub const NSEC_PER_SEC: u64 = 1_000_000_000;

/// A fixed-point TSC-to-nanoseconds factor: `ns = ((ticks << shift) *
/// mul_frac) >> 32`, with a negative `shift` shifting right (Xen's
/// `scale_delta`). `mul_frac` is at least `2^31`, which keeps 31 bits of
/// precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeScale {
    /// Power-of-two pre-shift of the tick count.
    pub shift: i8,
    /// 32.32 fixed-point multiplier (fraction of a nanosecond per shifted tick).
    pub mul_frac: u32,
}

impl TimeScale {
    /// The scale for a clock of `ticks_per_sec` Hz (Xen's `set_time_scale`):
    /// the rate is halved or doubled into `(1e9, 2e9]` and the remaining
    /// ratio becomes the 32-bit fraction `1e9 / rate`. `None` for 0 Hz.
    #[must_use]
    pub fn from_hz(ticks_per_sec: u64) -> Option<Self> {
        if ticks_per_sec == 0 {
            return None;
        }
        let mut rate = ticks_per_sec;
        let mut shift: i8 = 0;
        while rate > 2 * NSEC_PER_SEC {
            rate >>= 1;
            shift = shift.saturating_sub(1);
        }
        while rate <= NSEC_PER_SEC {
            rate <<= 1;
            shift = shift.saturating_add(1);
        }
        // NSEC_PER_SEC < rate, so the quotient fits in 32 bits.
        let mul = (u128::from(NSEC_PER_SEC) << 32).checked_div(u128::from(rate))?;
        Some(Self { shift, mul_frac: u32::try_from(mul).ok()? })
    }

    /// Nanoseconds for `ticks` TSC ticks (Xen's `scale_delta`).
    #[must_use]
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        let shifted = if self.shift < 0 {
            ticks >> self.shift.unsigned_abs().min(63)
        } else {
            ticks << self.shift.unsigned_abs().min(63)
        };
        let ns = u128::from(shifted).wrapping_mul(u128::from(self.mul_frac)) >> 32;
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// TSC ticks for `ns` nanoseconds (the inverse, rounded up so a timer
    /// armed with it never fires early).
    #[must_use]
    pub fn ns_to_ticks(&self, ns: u64) -> u64 {
        if self.mul_frac == 0 {
            return u64::MAX;
        }
        let shifted =
            ((u128::from(ns) << 32).div_ceil(u128::from(self.mul_frac))).min(u128::from(u64::MAX));
        let shifted = u64::try_from(shifted).unwrap_or(u64::MAX);
        if self.shift < 0 {
            shifted.checked_shl(u32::from(self.shift.unsigned_abs())).unwrap_or(u64::MAX)
        } else {
            shifted.div_ceil(1u64 << self.shift.unsigned_abs().min(63))
        }
    }
}

/// A date and time as the RTC reports it (already in binary, 24-hour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcTime {
    /// Full year, e.g. 2026.
    pub year: u32,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
    /// 0–23.
    pub hour: u32,
    /// 0–59.
    pub minute: u32,
    /// 0–59.
    pub second: u32,
}

impl RtcTime {
    /// Seconds since the Unix epoch (Xen's `mktime`), or `None` for a date
    /// outside 1970–9999 or with out-of-range fields.
    #[must_use]
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "every field is range-checked first; the sums stay far inside i64"
    )]
    pub fn unix_seconds(&self) -> Option<u64> {
        let ok = (1970..=9999).contains(&self.year)
            && (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60;
        if !ok {
            return None;
        }
        // Days from 1970-01-01 to the date, by the civil-calendar formula
        // with March as the first month of the year.
        let (y, m) = if self.month <= 2 {
            (i64::from(self.year) - 1, i64::from(self.month) + 9)
        } else {
            (i64::from(self.year), i64::from(self.month) - 3)
        };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        u64::try_from(secs).ok()
    }
}

/// A BCD byte as binary (`0x59` → 59).
#[must_use]
pub const fn bcd_to_bin(v: u8) -> u8 {
    (v >> 4).wrapping_mul(10).wrapping_add(v & 0xf)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects, reason = "tests on known values")]
mod tests {
    use super::*;

    #[test]
    fn scale_matches_the_rate() {
        for hz in [
            1_000_000u64,
            14_318_180,
            999_999_999,
            1_000_000_000,
            2_100_000_000,
            3_999_999_999,
            5_000_000_000,
        ] {
            let s = TimeScale::from_hz(hz).unwrap();
            assert!(s.mul_frac >= 1 << 31, "{hz}: {s:?}");
            // One second of ticks is one second, within a nanosecond or two.
            let ns = s.ticks_to_ns(hz);
            assert!(ns.abs_diff(NSEC_PER_SEC) <= 2, "{hz}: {ns}");
            // Ten minutes: still within a few parts per billion.
            let ns = s.ticks_to_ns(hz * 600);
            assert!(ns.abs_diff(600 * NSEC_PER_SEC) <= 600, "{hz}: {ns}");
            // The inverse never fires early.
            for t in [1u64, 1000, 123_456_789, 10 * NSEC_PER_SEC] {
                assert!(s.ticks_to_ns(s.ns_to_ticks(t)) >= t, "{hz} {t}");
            }
        }
        assert_eq!(TimeScale::from_hz(0), None);
    }

    #[test]
    fn xen_reference_values() {
        // 2 GHz is inside (1e9, 2e9]: no shift, half a nanosecond per tick.
        // 3 GHz halves once to 1.5e9.
        let s = TimeScale::from_hz(2_000_000_000).unwrap();
        assert_eq!(s.shift, 0);
        assert_eq!(s.mul_frac, 0x8000_0000);
        let s = TimeScale::from_hz(3_000_000_000).unwrap();
        assert_eq!(s.shift, -1);
        assert_eq!(s.ticks_to_ns(3_000_000_000), NSEC_PER_SEC - 1);
    }

    #[test]
    fn rtc_dates() {
        let t = |year, month, day, hour, minute, second| RtcTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        };
        assert_eq!(t(1970, 1, 1, 0, 0, 0).unix_seconds(), Some(0));
        assert_eq!(t(2000, 3, 1, 0, 0, 0).unix_seconds(), Some(951_868_800));
        assert_eq!(t(2026, 11, 21, 12, 34, 56).unix_seconds(), Some(1_795_264_496));
        assert_eq!(t(2024, 2, 29, 23, 59, 59).unix_seconds(), Some(1_709_251_199));
        assert_eq!(t(1969, 12, 31, 0, 0, 0).unix_seconds(), None);
        assert_eq!(t(2026, 13, 1, 0, 0, 0).unix_seconds(), None);
        assert_eq!(bcd_to_bin(0x59), 59);
    }
}
