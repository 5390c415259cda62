// SPDX-License-Identifier: GPL-2.0-only
//! Boot-time clock: the TSC calibrated against the PIT, and delays.
//!
//! The frequency is measured once on the boot CPU; every CPU of the machines
//! we target has a constant-rate TSC, so one figure serves all.
use core::sync::atomic::{AtomicU64, Ordering};

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
    BOOT_TSC.store(rdtsc(), Ordering::Relaxed);
    khz
}

/// TSC frequency in kHz (0 before calibration).
#[must_use]
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// Nanoseconds since calibration (0 before it).
#[must_use]
pub fn now_ns() -> u64 {
    let khz = tsc_khz();
    if khz == 0 {
        return 0;
    }
    let delta = rdtsc().saturating_sub(BOOT_TSC.load(Ordering::Relaxed));
    u128::from(delta)
        .saturating_mul(1_000_000)
        .checked_div(u128::from(khz))
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(u64::MAX)
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
