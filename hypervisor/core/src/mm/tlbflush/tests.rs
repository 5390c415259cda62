// SPDX-License-Identifier: GPL-2.0-only
//! The "which CPUs need a flush" decision and the filtered flush.

use super::*;

/// CPUs that flush when asked, ticking the clock as the machine does, and
/// remember which masks they were asked to flush.
pub(crate) struct FakeCpus<'a> {
    /// The clock the CPUs tick.
    pub clock: &'a TlbClock,
    /// Every mask flushed, in order.
    pub flushed: Vec<u64>,
}

impl FlushTlbMask for FakeCpus<'_> {
    fn flush_tlb_mask(&mut self, mask: u64) {
        self.flushed.push(mask);
        for cpu in (0..64u32).filter(|c| mask & (1 << c) != 0) {
            flush(self.clock, cpu);
        }
    }
}

/// A full flush of `cpu` (`flush_area_local`).
pub(crate) fn flush(clock: &TlbClock, cpu: u32) {
    let t = clock.pre_flush();
    clock.post_flush(cpu, t);
}

#[test]
fn a_cpu_that_never_flushed_needs_a_flush() {
    let c = TlbClock::new();
    assert_eq!(c.current(), TlbStamp(1));
    assert_eq!(c.cpu_time(3), TlbStamp(0));
    assert_eq!(c.filter(0b1111, c.current()), 0b1111);
}

#[test]
fn only_cpus_whose_last_flush_is_not_newer_than_the_stamp_need_one() {
    let c = TlbClock::new();
    flush(&c, 0); // time 2
    flush(&c, 1); // time 3
    let stamp = c.current(); // 3: freed now
    flush(&c, 2); // time 4: flushed after the free
    // CPU 1 flushed at exactly the stamp: it may have flushed before the
    // mapping went, so it still counts (NEED_FLUSH's `<=`).
    assert!(need_flush(c.cpu_time(1), stamp));
    assert!(!need_flush(c.cpu_time(2), stamp));
    assert_eq!(c.filter(0b1111, stamp), 0b1011);
    // CPUs outside the mask are never added.
    assert_eq!(c.filter(0b0100, stamp), 0);
    assert_eq!(c.filter(0, stamp), 0);
}

#[test]
fn a_cpu_in_the_middle_of_a_flush_still_counts_as_stale() {
    let c = TlbClock::new();
    let t = c.pre_flush(); // CPU 0 ticks...
    let stamp = c.current(); // ...a frame is freed...
    assert_eq!(c.filter(1, stamp), 1);
    c.post_flush(0, t); // ...then CPU 0 finishes: its time equals the stamp.
    assert_eq!(c.filter(1, stamp), 1);
    flush(&c, 0);
    assert_eq!(c.filter(1, stamp), 0);
}

#[test]
fn the_clock_saturates_and_then_every_cpu_needs_a_flush() {
    let c = TlbClock::new();
    c.clock.store(u64::MAX - 1, Ordering::SeqCst);
    flush(&c, 0); // reaches u64::MAX
    assert_eq!(c.current(), TlbStamp(u64::MAX));
    let t = c.pre_flush();
    assert_eq!(t, TlbStamp(u64::MAX), "no wrap to 0");
    c.post_flush(1, t);
    let stamp = c.current();
    // Both CPUs flushed "at" u64::MAX, as late as the stamp: flush them.
    assert_eq!(c.filter(0b11, stamp), 0b11);
    flush(&c, 0);
    assert_eq!(c.filter(0b11, stamp), 0b11, "never skipped once stuck");
}

#[test]
fn stamps_from_an_old_era_do_not_need_cpus_that_flushed_since() {
    // The 64-bit clock has no era change: a very old stamp is simply old.
    let c = TlbClock::new();
    let old = c.current();
    for _ in 0..1000 {
        flush(&c, 0);
        flush(&c, 1);
    }
    assert_eq!(c.filter(0b111, old), 0b100);
}

#[test]
fn unknown_cpus_are_ignored_for_updates_and_stale_for_queries() {
    let c = TlbClock::new();
    c.post_flush(64, TlbStamp(99));
    c.post_flush(u32::MAX, TlbStamp(99));
    assert_eq!(c.cpu_time(64), TlbStamp(0));
    assert!(need_flush(c.cpu_time(64), TlbStamp(1)));
    flush(&c, 63);
    assert_eq!(c.filter(1 << 63, TlbStamp(1)), 0);
}

#[test]
fn accumulate_keeps_the_newest_stamp() {
    let mut n = TlbflushNeed::NONE;
    n.accumulate(None);
    assert_eq!(n.stamp(), None);
    n.accumulate(Some(TlbStamp(7)));
    n.accumulate(Some(TlbStamp(3)));
    n.accumulate(None);
    assert_eq!(n.stamp(), Some(TlbStamp(7)));
    n.accumulate(Some(TlbStamp(9)));
    assert_eq!(n.stamp(), Some(TlbStamp(9)));
    assert_eq!(
        TlbflushNeed::NONE.merge(TlbflushNeed::since(TlbStamp(4))).stamp(),
        Some(TlbStamp(4))
    );
    assert_eq!(
        TlbflushNeed::since(TlbStamp(5)).merge(TlbflushNeed::since(TlbStamp(4))).stamp(),
        Some(TlbStamp(5))
    );
}

#[test]
fn filtered_flush_flushes_exactly_the_stale_online_cpus_once() {
    let clock = TlbClock::new();
    for cpu in 0..4 {
        flush(&clock, cpu);
    }
    let stamp = clock.current();
    flush(&clock, 1);
    flush(&clock, 3);
    let mut cpus = FakeCpus { clock: &clock, flushed: Vec::new() };
    // Nothing needed: nothing flushed.
    assert_eq!(filtered_flush_tlb_mask(&clock, 0b1111, TlbflushNeed::NONE, &mut cpus), 0);
    assert!(cpus.flushed.is_empty());
    // CPU 4 is offline: left out even though it never flushed.
    let need = TlbflushNeed::since(stamp);
    assert_eq!(filtered_flush_tlb_mask(&clock, 0b1111, need, &mut cpus), 0b0101);
    assert_eq!(cpus.flushed, [0b0101]);
    // They flushed: the same frames need nothing more.
    assert_eq!(filtered_flush_tlb_mask(&clock, 0b1111, need, &mut cpus), 0);
    assert_eq!(cpus.flushed, [0b0101]);
}
