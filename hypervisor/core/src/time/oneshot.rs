// SPDX-License-Identifier: GPL-2.0-only
//! The arming rule of a CPU's one-shot timer (the local APIC timer that the
//! machine layer arms on every return to a guest and before idling): what
//! to program for the earliest deadline the CPU must cover, unless an
//! interrupt at or before it is already coming.
//!
//! The rule is only as good as the deadline it is given: the CPU must
//! cover the timers of the vCPU it runs, the scheduler's slice, tick and
//! accounting, and the timers of every vCPU that is not running (the
//! machine layer's scan deadline, which a vCPU's timers join as soon as
//! it stops running).

/// What to program: an interval and the system time its interrupt stands
/// for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm {
    /// The interval, in whole microseconds, `1..=max_us`.
    pub us: u64,
    /// The deadline the interrupt covers: the deadline itself (the count
    /// is rounded up, so it does not fire before it), or the end of an
    /// interval clamped to `max_us`. Never 0 (0 means "nothing armed").
    pub covers: u64,
}

/// What to arm at `now` for `deadline` (`u64::MAX`: none, wait `max_us`)
/// when the timer is armed for `armed` (0: nothing, or its interrupt came).
/// `None`: `armed` is still ahead and no later than `deadline`, its
/// interrupt will do. An `armed` time already past whose interrupt has not
/// been seen is re-armed for `deadline`: that interrupt may be late, but
/// re-arming for a deadline that covers everything loses nothing.
#[must_use]
pub fn plan(now: u64, armed: u64, deadline: u64, max_us: u64) -> Option<Arm> {
    if armed > now && armed <= deadline {
        return None;
    }
    let us = deadline.saturating_sub(now).div_ceil(1000).clamp(1, max_us.max(1));
    let covers = now.saturating_add(us.saturating_mul(1000)).min(deadline).max(1);
    Some(Arm { us, covers })
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::unwrap_used, reason = "tests on known values")]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const MAX_US: u64 = 1_000_000;

    #[test]
    fn an_interrupt_already_coming_is_kept() {
        assert_eq!(plan(0, 5 * MS, 20 * MS, MAX_US), None);
        assert_eq!(plan(0, 5 * MS, 5 * MS, MAX_US), None);
        // Later than the deadline: re-armed.
        assert_eq!(plan(0, 30 * MS, 20 * MS, MAX_US), Some(Arm { us: 20_000, covers: 20 * MS }));
        // Nothing armed, or its interrupt came.
        assert_eq!(plan(MS, 0, 20 * MS, MAX_US), Some(Arm { us: 19_000, covers: 20 * MS }));
    }

    #[test]
    fn rounding_and_clamping() {
        // Rounded up to whole microseconds: covers the deadline itself.
        assert_eq!(plan(0, 0, 1500, MAX_US), Some(Arm { us: 2, covers: 1500 }));
        // Past: at once.
        assert_eq!(plan(10 * MS, 0, 5 * MS, MAX_US), Some(Arm { us: 1, covers: 5 * MS }));
        // None or far: the longest interval.
        assert_eq!(
            plan(MS, 0, u64::MAX, MAX_US),
            Some(Arm { us: MAX_US, covers: MS + MAX_US * 1000 })
        );
    }

    /// `pv-time`'s lost single shot, step by step. The vCPU sets a single
    /// shot at 20 ms while its CPU's timer is armed for the scheduler tick
    /// at 10 ms, so the exit keeps that arming; it blocks at 10.05 ms,
    /// when the tick's interrupt is due but not yet taken (late). The idle
    /// CPU then arms for what it must cover: with the vCPU's timers only
    /// known to the scan at its next run (the scan deadline still "none"),
    /// that was the longest interval, overwriting the tick's count, and the
    /// 20 ms block lasted a second; with the timers of a vCPU that stops
    /// running added to the scan deadline at once, it is the single shot.
    #[test]
    fn a_vcpu_blocking_with_a_late_interrupt_keeps_its_single_shot() {
        let single_shot = 20 * MS;
        let tick = 10 * MS;
        let armed = plan(9 * MS, tick, single_shot.min(tick), MAX_US).map_or(tick, |a| a.covers);
        assert_eq!(armed, tick, "the exit kept the tick's arming");
        let now = tick + 50_000;
        let scan_before_the_fix = u64::MAX;
        let lost = plan(now, armed, scan_before_the_fix, MAX_US).unwrap();
        assert!(lost.covers > single_shot + 900 * MS, "{lost:?}: the block lasted a second");
        let scan = scan_before_the_fix.min(single_shot);
        let arm = plan(now, armed, scan, MAX_US).unwrap();
        assert_eq!(arm.covers, single_shot);
        assert_eq!(arm.us, 9_950);
    }
}
