// SPDX-License-Identifier: GPL-2.0-only
//! TLB-flush timestamps (Xen's `flushtlb.c` and `asm/flushtlb.h`): which
//! CPUs may still hold a stale translation of a frame.
//!
//! A frame that leaves a domain, or whose type changes, may still be mapped
//! by some CPU's TLB, writable. Before it is used again every such CPU must
//! flush. Rather than flushing everyone at every free, Xen keeps a virtual
//! clock that ticks on every full TLB flush of any CPU:
//!
//! * [`TlbClock::pre_flush`] ticks the clock *before* a CPU flushes and
//!   [`TlbClock::post_flush`] records the new time as that CPU's
//!   `tlbflush_time` *after* the flush (Xen's `pre_flush`/`post_flush`, run
//!   by `flush_area_local` and `switch_cr3_cr4`);
//! * a frame is stamped with the current time ([`TlbClock::current`],
//!   `tlbflush_current_time`) when it is freed by a domain
//!   (`free_heap_pages`) and when its last type reference goes
//!   (`_put_page_type`);
//! * a CPU needs a flush for the frame iff its last flush is not newer than
//!   the stamp ([`need_flush`], `NEED_FLUSH`); [`TlbClock::filter`]
//!   (`tlbflush_filter`) drops the others from a mask;
//! * when the allocator hands out frames it takes the newest stamp among
//!   them ([`TlbflushNeed::accumulate`], `accumulate_tlbflush`) and the
//!   online CPUs that need it are flushed synchronously
//!   ([`filtered_flush_tlb_mask`]).
//!
//! **The clock is 64 bits and does not wrap.** Xen's is 32 bits: when it
//! wraps to 0, one CPU leads a flush of every CPU
//! (`new_tlbflush_clock_period`) and until then [`need_flush`] answers yes
//! for everything. A 64-bit clock ticking once per nanosecond lasts 584
//! years, so that machinery is left out; should the clock ever reach
//! `u64::MAX` it stays there, and since [`need_flush`] answers yes when the
//! CPU's time equals the stamp, every frame then needs a flush on every CPU:
//! the degenerate state is the safe one. Frames carry 8-byte stamps
//! instead of Xen's 4.
//!
//! Ordering: the clock ticks before the flush and the CPU's time is stored
//! after it, both sequentially consistent; a stamp taken after the last
//! mapping of a frame was removed therefore orders every CPU correctly: a
//! CPU whose time is newer than the stamp started its flush after the stamp
//! was read, hence after the mapping was gone. A CPU in the middle of a
//! flush still shows its old time and is flushed again (harmless).

use core::sync::atomic::{AtomicU64, Ordering};

/// CPUs the clock tracks (CPU masks are 64-bit words).
pub const MAX_CPUS: usize = 64;

/// A time of the TLB-flush clock. Clock values start at 1; [`TlbStamp`] 0
/// is the time of a CPU that never flushed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct TlbStamp(pub u64);

/// Xen's `NEED_FLUSH(cpu_stamp, lastuse_stamp)` for a clock that cannot
/// wrap: a CPU whose last flush (`cpu_stamp`) is not newer than the time the
/// frame was last used (`lastuse`) may still cache it.
#[must_use]
pub const fn need_flush(cpu_stamp: TlbStamp, lastuse: TlbStamp) -> bool {
    cpu_stamp.0 <= lastuse.0
}

/// The global TLB-flush clock (`tlbflush_clock`) and every CPU's time of
/// its last full flush (`per_cpu(tlbflush_time)`).
#[derive(Debug)]
pub struct TlbClock {
    clock: AtomicU64,
    cpu_time: [AtomicU64; MAX_CPUS],
}

impl Default for TlbClock {
    fn default() -> Self {
        Self::new()
    }
}

impl TlbClock {
    /// A clock at 1 (Xen's initial value); no CPU has flushed yet.
    #[must_use]
    pub const fn new() -> Self {
        Self { clock: AtomicU64::new(1), cpu_time: [const { AtomicU64::new(0) }; MAX_CPUS] }
    }

    /// The current time (`tlbflush_current_time`): what a frame is stamped
    /// with.
    #[must_use]
    pub fn current(&self) -> TlbStamp {
        TlbStamp(self.clock.load(Ordering::SeqCst))
    }

    /// Xen's `pre_flush`: ticks the clock and returns the new time, to be
    /// given to [`post_flush`] once the TLB is flushed. Saturates at
    /// `u64::MAX` (see the module notes).
    ///
    /// [`post_flush`]: Self::post_flush
    #[must_use]
    pub fn pre_flush(&self) -> TlbStamp {
        let prev = self
            .clock
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| Some(t.saturating_add(1)))
            .unwrap_or_else(|t| t);
        TlbStamp(prev.saturating_add(1))
    }

    /// Xen's `post_flush`: CPU `cpu` finished the flush that
    /// [`pre_flush`](Self::pre_flush) returned `t` for. Unknown CPUs are
    /// ignored (they always count as needing a flush).
    pub fn post_flush(&self, cpu: u32, t: TlbStamp) {
        if let Some(slot) = usize::try_from(cpu).ok().and_then(|i| self.cpu_time.get(i)) {
            slot.store(t.0, Ordering::SeqCst);
        }
    }

    /// The time of CPU `cpu`'s last full flush (0: never, or unknown CPU).
    #[must_use]
    pub fn cpu_time(&self, cpu: u32) -> TlbStamp {
        usize::try_from(cpu)
            .ok()
            .and_then(|i| self.cpu_time.get(i))
            .map_or(TlbStamp(0), |t| TlbStamp(t.load(Ordering::SeqCst)))
    }

    /// Xen's `tlbflush_filter`: the CPUs of `mask` (bit per CPU) that may
    /// still cache a frame last used at `stamp`. Bits above [`MAX_CPUS`]
    /// cannot be set in a `u64`; every CPU in the mask is looked at.
    #[must_use]
    pub fn filter(&self, mask: u64, stamp: TlbStamp) -> u64 {
        let mut out = 0u64;
        let mut rest = mask;
        while rest != 0 {
            let cpu = rest.trailing_zeros();
            let bit = 1u64 << cpu;
            rest &= !bit;
            if need_flush(self.cpu_time(cpu), stamp) {
                out |= bit;
            }
        }
        out
    }
}

/// Whether frames just taken from the allocator need a flush first, and
/// since when (the `need_tlbflush`/`tlbflush_timestamp` pair of
/// `alloc_heap_pages`): the newest stamp of the frames that carry one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "the frames may still sit in a TLB: flush before using them"]
pub struct TlbflushNeed(Option<TlbStamp>);

impl TlbflushNeed {
    /// No flush needed (frames no domain had since the last flush).
    pub const NONE: Self = Self(None);

    /// A flush for frames last used at `stamp`.
    pub const fn since(stamp: TlbStamp) -> Self {
        Self(Some(stamp))
    }

    /// Xen's `accumulate_tlbflush`: adds a frame that was last used at
    /// `stamp` (`None`: a frame that needs no flush).
    pub fn accumulate(&mut self, stamp: Option<TlbStamp>) {
        if let Some(s) = stamp
            && self.0.is_none_or(|cur| s > cur)
        {
            self.0 = Some(s);
        }
    }

    /// The two needs together.
    pub fn merge(mut self, other: Self) -> Self {
        self.accumulate(other.0);
        self
    }

    /// The stamp to filter CPUs with, if any flush is needed.
    #[must_use]
    pub const fn stamp(self) -> Option<TlbStamp> {
        self.0
    }
}

/// What [`filtered_flush_tlb_mask`] drives: the machine's flush of a CPU
/// mask (its shootdown IPIs, the calling CPU's own flush included), each
/// flush ticking the clock as [`TlbClock::pre_flush`] says. Returns once
/// every CPU of the mask has flushed.
pub trait FlushTlbMask {
    /// Flushes the whole TLB of every CPU in `mask`.
    fn flush_tlb_mask(&mut self, mask: u64);
}

/// Xen's `filtered_flush_tlb_mask`: flushes the CPUs of `online` that may
/// still cache frames with `need`, and returns the mask flushed (0 when
/// nothing was needed).
pub fn filtered_flush_tlb_mask(
    clock: &TlbClock,
    online: u64,
    need: TlbflushNeed,
    target: &mut dyn FlushTlbMask,
) -> u64 {
    let Some(stamp) = need.stamp() else { return 0 };
    let mask = clock.filter(online, stamp);
    if mask != 0 {
        target.flush_tlb_mask(mask);
    }
    mask
}

#[cfg(test)]
pub(crate) mod tests;
