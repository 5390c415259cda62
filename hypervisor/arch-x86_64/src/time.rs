// SPDX-License-Identifier: GPL-2.0-only
//! Boot-time clock: the TSC calibrated against the PIT, and delays.
//!
//! The frequency is measured once on the boot CPU; every CPU of the machines
//! we target has a constant-rate TSC, so one figure serves all. System time
//! (Xen's `NOW()`) is the TSC since calibration through the same
//! [`TimeScale`] guests get in their pvclock.
use core::sync::atomic::{AtomicU64, Ordering};

use hv_core::time::TimeScale;

use crate::cpu::rdtsc;

static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);

/// Measure the TSC against the PIT (median of three 10 ms windows) and
/// remember it. Returns the frequency in kHz.
pub fn calibrate_tsc() -> u64 {
    let mut samples = [0u64; 3];
    for s in &mut samples {
        let mut start = 0;
        let end = crate::pit::measure(10, || start = rdtsc(), rdtsc);
        *s = end.saturating_sub(start) / 10;
    }
    samples.sort_unstable();
    let khz = samples[1].max(1);
    TSC_KHZ.store(khz, Ordering::Relaxed);
    if let Some(scale) = TimeScale::from_hz(khz.saturating_mul(1000)) {
        let shift = u64::from(scale.shift.to_le_bytes()[0]);
        SCALE.store((shift << 32) | u64::from(scale.mul_frac), Ordering::Relaxed);
    }
    BOOT_TSC.store(rdtsc(), Ordering::Relaxed);
    khz
}

/// TSC frequency in kHz (0 before calibration).
#[must_use]
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// The TSC-to-nanoseconds scale (0 before calibration): `mul_frac` in the
/// low 32 bits, `shift` (as `u8`) above.
static SCALE: AtomicU64 = AtomicU64::new(0);

/// The TSC scale Xen's `NOW()` and every guest pvclock use, once
/// calibrated.
#[must_use]
pub fn time_scale() -> Option<TimeScale> {
    let packed = SCALE.load(Ordering::Relaxed);
    if packed == 0 {
        return None;
    }
    let mul_frac = u32::try_from(packed & 0xffff_ffff).ok()?;
    let shift = i8::from_le_bytes([u8::try_from((packed >> 32) & 0xff).ok()?]);
    Some(TimeScale { shift, mul_frac })
}

/// A consistent reading: the TSC now, and the system time (ns since
/// calibration, Xen's `NOW()`) it stands for. Zero time before calibration.
#[must_use]
pub fn sample() -> (u64, u64) {
    let (tsc, ns, _) = sample_scaled();
    (tsc, ns)
}

/// [`sample`] and the scale it used (`None` before calibration), from one
/// reading of the scale.
#[must_use]
pub fn sample_scaled() -> (u64, u64, Option<TimeScale>) {
    let tsc = rdtsc();
    let scale = time_scale();
    let ns =
        scale.map_or(0, |s| s.ticks_to_ns(tsc.saturating_sub(BOOT_TSC.load(Ordering::Relaxed))));
    (tsc, ns, scale)
}

/// Nanoseconds since calibration (0 before it): Xen's `NOW()`.
#[must_use]
pub fn now_ns() -> u64 {
    sample().1
}

/// Busy-wait for `us` microseconds (a PIT-based wait before calibration).
pub fn udelay(us: u64) {
    let khz = tsc_khz();
    if khz == 0 {
        let mut left = us;
        while left > 0 {
            let step = left.min(50_000);
            crate::pit::measure(step.div_ceil(1000), || {}, || ());
            left = left.saturating_sub(step);
        }
        return;
    }
    let ticks = us.saturating_mul(khz) / 1000;
    let start = rdtsc();
    while rdtsc().saturating_sub(start) < ticks {
        core::hint::spin_loop();
    }
}
