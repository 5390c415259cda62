// SPDX-License-Identifier: GPL-2.0-only
//! Physical frame allocator: a bitmap over the RAM of the memory map.
//!
//! Each RAM region of the sanitised [`E820Map`] becomes a zone with two
//! bitmaps: `managed` (the frame is wholly RAM and not a bad page, so it may
//! ever be handed out) and `free`. Zones are per region, so holes in the
//! physical address space cost nothing. Frames in the caller's reserved
//! ranges (hypervisor image, boot modules, boot information, the first MiB)
//! start out in use but stay managed, so they can be freed later, e.g. when
//! boot modules are released. Bad pages are never managed: they can be
//! neither allocated nor freed.
//!
//! Allocation is first fit in address order starting from a rotating hint
//! (the word where the last allocation succeeded). Every error, including a
//! double free, is reported as a value; nothing here panics.
//!
//! A frame a domain gave back ([`FrameAllocator::free_stamped`]) keeps the
//! TLB-flush time it was freed at (Xen's `tlbflush_timestamp` of a free
//! page, `need_tlbflush` set); an [`Allocation`] carries the newest such
//! stamp of its frames, and the caller must flush the CPUs that may still
//! cache them before using the frames ([`super::tlbflush`]). To keep the
//! bookkeeping at three bits per frame (it lives in the early heap below
//! 4 GiB), a stamp is kept per bitmap word: the newest stamp of the 64
//! frames' frees, dropped once the word has no free frame left. A frame can
//! so inherit a newer stamp than its own, which only asks for a flush that
//! was not needed, never skips one.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::e820::E820Map;
use super::tlbflush::{TlbStamp, TlbflushNeed};
use crate::{PAGE_SHIFT, PAGE_SIZE};

/// A machine frame number: a physical address divided by 4 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Mfn(pub u64);

impl Mfn {
    /// The frame containing physical address `addr`.
    pub const fn from_addr(addr: u64) -> Self {
        Self(addr >> PAGE_SHIFT)
    }

    /// The frame's first physical address (saturating for absurd frames).
    pub const fn to_addr(self) -> u64 {
        self.0.saturating_mul(PAGE_SIZE)
    }
}

impl fmt::Display for Mfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Why a frame could not be freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The frame is not allocatable RAM (outside the map, not RAM, partly
    /// RAM, or a bad page).
    NotManaged(Mfn),
    /// The frame is already free.
    DoubleFree(Mfn),
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotManaged(mfn) => write!(f, "frame {mfn} is not allocatable RAM"),
            Self::DoubleFree(mfn) => write!(f, "frame {mfn} freed twice"),
        }
    }
}

/// Frames just taken from the allocator: the first of the run, and the TLB
/// flush needed before they may be used (some were freed by a domain whose
/// mappings may still sit in a TLB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the frames may still sit in a TLB: flush before using them"]
pub struct Allocation {
    /// The first frame.
    pub mfn: Mfn,
    /// The flush the frames need (Xen's `accumulate_tlbflush` over them).
    pub tlbflush: TlbflushNeed,
}

/// Word index and bit mask of frame offset `i` in a bitmap.
fn bit(i: u64) -> Option<(usize, u64)> {
    Some((usize::try_from(i >> 6).ok()?, 1u64 << (i & 63)))
}

/// One RAM region's frames.
#[derive(Clone, Debug)]
struct Zone {
    /// First frame.
    base: u64,
    /// Number of frames.
    frames: u64,
    /// Bit set: frame may ever be allocated.
    managed: Vec<u64>,
    /// Bit set: frame is free now (implies managed).
    free: Vec<u64>,
    /// Per bitmap word: the newest TLB-flush time a domain freed one of its
    /// frames at, 0 when none of its free frames needs a flush.
    stamps: Vec<u64>,
}

impl Zone {
    fn new(base: u64, frames: u64) -> Option<Self> {
        let words = usize::try_from(frames.div_ceil(64)).ok()?;
        let mut bits = vec![u64::MAX; words];
        let tail = frames & 63;
        if let (Some(last), true) = (bits.last_mut(), tail != 0) {
            *last = (1u64 << tail).wrapping_sub(1);
        }
        Some(Self { base, frames, managed: bits.clone(), free: bits, stamps: vec![0u64; words] })
    }

    fn end(&self) -> u64 {
        self.base.saturating_add(self.frames)
    }

    fn offset(&self, frame: u64) -> Option<u64> {
        (self.base..self.end()).contains(&frame).then(|| frame.saturating_sub(self.base))
    }

    fn test(map: &[u64], i: u64) -> bool {
        bit(i).and_then(|(w, m)| map.get(w).map(|word| word & m != 0)).unwrap_or(false)
    }

    fn set(map: &mut [u64], i: u64, on: bool) {
        if let Some((w, m)) = bit(i)
            && let Some(word) = map.get_mut(w)
        {
            if on { *word |= m } else { *word &= !m }
        }
    }

    /// Adds the stamp of the word of frame offset `i`, just allocated, to
    /// `need`; forgets it once the word has no free frame left.
    fn take_stamp(&mut self, i: u64, need: &mut TlbflushNeed) {
        let Some((w, _)) = bit(i) else { return };
        let empty = self.free.get(w).is_none_or(|&word| word == 0);
        if let Some(s) = self.stamps.get_mut(w) {
            need.accumulate((*s != 0).then_some(TlbStamp(*s)));
            if empty {
                *s = 0;
            }
        }
    }

    /// Records that frame offset `i` was freed at TLB-flush time `stamp`
    /// (0: needs no flush).
    fn add_stamp(&mut self, i: u64, stamp: u64) {
        if let Some(s) = bit(i).and_then(|(w, _)| self.stamps.get_mut(w)) {
            *s = (*s).max(stamp);
        }
    }
}

/// Bitmap allocator of 4 KiB machine frames.
#[derive(Clone, Debug)]
pub struct FrameAllocator {
    zones: Vec<Zone>,
    total: u64,
    free: u64,
    badpages_excluded: u64,
    /// (zone, word) where the next search starts.
    hint: (usize, usize),
}

impl FrameAllocator {
    /// Manages every frame wholly inside RAM of `map`, except `badpages`
    /// (frame numbers); frames overlapping a `reserved` `[start, end)`
    /// address range start out in use.
    pub fn new(map: &E820Map, reserved: &[(u64, u64)], badpages: &[u64]) -> Self {
        let zones = map
            .ram_regions()
            .filter_map(|e| {
                let first = e.addr.div_ceil(PAGE_SIZE);
                let end = e.end() >> PAGE_SHIFT;
                Zone::new(first, end.checked_sub(first).filter(|&n| n > 0)?)
            })
            .collect();
        let mut alloc = Self { zones, total: 0, free: 0, badpages_excluded: 0, hint: (0, 0) };
        alloc.total = alloc.zones.iter().fold(0u64, |sum, z| sum.saturating_add(z.frames));
        alloc.free = alloc.total;
        let mut bad = badpages.to_vec();
        bad.sort_unstable();
        bad.dedup();
        for frame in bad {
            if let Some((zone, i)) = alloc.locate_mut(frame)
                && Zone::test(&zone.managed, i)
            {
                Zone::set(&mut zone.managed, i, false);
                Zone::set(&mut zone.free, i, false);
                alloc.total = alloc.total.saturating_sub(1);
                alloc.free = alloc.free.saturating_sub(1);
                alloc.badpages_excluded = alloc.badpages_excluded.saturating_add(1);
            }
        }
        for &(start, end) in reserved {
            alloc.reserve(start, end);
        }
        alloc
    }

    /// Bytes of bookkeeping (two bitmaps and a TLB-flush stamp per bitmap
    /// word for each RAM region, and the region list) an allocator over `map`
    /// takes on the heap: the boot code sets that much memory aside before
    /// building it.
    #[must_use]
    pub fn bookkeeping_bytes(map: &E820Map) -> u64 {
        map.ram_regions().fold(0u64, |sum, e| {
            let frames = (e.end() >> PAGE_SHIFT).saturating_sub(e.addr.div_ceil(PAGE_SIZE));
            let bitmap = frames.div_ceil(64).saturating_mul(8);
            sum.saturating_add(bitmap.saturating_mul(3))
                .saturating_add(core::mem::size_of::<Zone>() as u64)
        })
    }

    fn locate(&self, frame: u64) -> Option<(&Zone, u64)> {
        let idx = self.zones.partition_point(|z| z.end() <= frame);
        let zone = self.zones.get(idx)?;
        Some((zone, zone.offset(frame)?))
    }

    fn locate_mut(&mut self, frame: u64) -> Option<(&mut Zone, u64)> {
        let idx = self.zones.partition_point(|z| z.end() <= frame);
        let zone = self.zones.get_mut(idx)?;
        let i = zone.offset(frame)?;
        Some((zone, i))
    }

    /// Marks every free frame overlapping `[start, end)` (addresses) as in
    /// use. Returns how many frames changed state.
    pub fn reserve(&mut self, start: u64, end: u64) -> u64 {
        if end <= start {
            return 0;
        }
        let first = start >> PAGE_SHIFT;
        let last = end.div_ceil(PAGE_SIZE);
        let mut taken = 0u64;
        for zone in &mut self.zones {
            let lo = first.max(zone.base);
            let hi = last.min(zone.end());
            for frame in lo..hi {
                let i = frame.saturating_sub(zone.base);
                if Zone::test(&zone.free, i) {
                    Zone::set(&mut zone.free, i, false);
                    taken = taken.saturating_add(1);
                }
            }
        }
        self.free = self.free.saturating_sub(taken);
        taken
    }

    /// Allocates one frame; `None` when memory is exhausted.
    pub fn alloc(&mut self) -> Option<Allocation> {
        let (hz, hw) = self.hint;
        let found = self.find_word(hz, hw, None).or_else(|| self.find_word(0, 0, Some((hz, hw))));
        let (zi, wi) = found?;
        let zone = self.zones.get_mut(zi)?;
        let word = zone.free.get_mut(wi)?;
        let b = word.trailing_zeros();
        *word &= !(1u64 << b);
        self.free = self.free.saturating_sub(1);
        self.hint = (zi, wi);
        let offset = u64::try_from(wi).ok()?.checked_mul(64)?.checked_add(u64::from(b))?;
        let mut tlbflush = TlbflushNeed::NONE;
        zone.take_stamp(offset, &mut tlbflush);
        Some(Allocation { mfn: Mfn(zone.base.checked_add(offset)?), tlbflush })
    }

    /// First (zone, word) at or after `(zi, wi)` with a free bit, stopping
    /// before `stop` if given.
    fn find_word(
        &self,
        zi: usize,
        wi: usize,
        stop: Option<(usize, usize)>,
    ) -> Option<(usize, usize)> {
        for (z, zone) in self.zones.iter().enumerate().skip(zi) {
            let start = if z == zi { wi } else { 0 };
            for (w, &word) in zone.free.iter().enumerate().skip(start) {
                if stop.is_some_and(|s| (z, w) >= s) {
                    return None;
                }
                if word != 0 {
                    return Some((z, w));
                }
            }
        }
        None
    }

    /// Allocates `count` contiguous frames whose first frame number is a
    /// multiple of `align_frames` (0 counts as 1) and which end at or below
    /// address `below`, if given. Lowest fitting address first.
    pub fn alloc_contiguous(
        &mut self,
        count: u64,
        align_frames: u64,
        below: Option<u64>,
    ) -> Option<Allocation> {
        if count == 0 {
            return None;
        }
        let align = align_frames.max(1);
        let limit = below.map_or(u64::MAX, |addr| addr >> PAGE_SHIFT);
        for zone in &mut self.zones {
            let mut cand = zone.base.checked_next_multiple_of(align)?;
            loop {
                let end = cand.checked_add(count)?;
                if end > zone.end() || end > limit {
                    break;
                }
                let busy =
                    (cand..end).find(|&f| !Zone::test(&zone.free, f.saturating_sub(zone.base)));
                if let Some(frame) = busy {
                    // No window containing `frame` can work: restart after it.
                    cand = frame.checked_add(1)?.checked_next_multiple_of(align)?;
                    continue;
                }
                let mut tlbflush = TlbflushNeed::NONE;
                for frame in cand..end {
                    let i = frame.saturating_sub(zone.base);
                    Zone::set(&mut zone.free, i, false);
                    zone.take_stamp(i, &mut tlbflush);
                }
                self.free = self.free.saturating_sub(count);
                return Some(Allocation { mfn: Mfn(cand), tlbflush });
            }
        }
        None
    }

    /// Returns an allocated frame that no domain had (boot modules, the
    /// hypervisor's own frames): it needs no TLB flush when reused.
    pub fn free(&mut self, mfn: Mfn) -> Result<(), FreeError> {
        self.free_with(mfn, 0)
    }

    /// Returns a frame a domain owned, freed at TLB-flush time `stamp`
    /// (Xen's `free_heap_pages` for a page with an owner): whoever gets it
    /// next must first flush the CPUs whose last flush is not newer.
    pub fn free_stamped(&mut self, mfn: Mfn, stamp: TlbStamp) -> Result<(), FreeError> {
        // Clock values start at 1; a 0 stamp would read as "no flush".
        self.free_with(mfn, stamp.0.max(1))
    }

    fn free_with(&mut self, mfn: Mfn, stamp: u64) -> Result<(), FreeError> {
        let (zone, i) = self.locate_mut(mfn.0).ok_or(FreeError::NotManaged(mfn))?;
        if !Zone::test(&zone.managed, i) {
            return Err(FreeError::NotManaged(mfn));
        }
        if Zone::test(&zone.free, i) {
            return Err(FreeError::DoubleFree(mfn));
        }
        Zone::set(&mut zone.free, i, true);
        zone.add_stamp(i, stamp);
        self.free = self.free.saturating_add(1);
        Ok(())
    }

    /// Whether `mfn` is free now.
    pub fn is_free(&self, mfn: Mfn) -> bool {
        self.locate(mfn.0).is_some_and(|(zone, i)| Zone::test(&zone.free, i))
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Frames managed: wholly-RAM frames minus bad pages, free or in use.
    pub fn total_frames(&self) -> u64 {
        self.total
    }

    /// How many distinct listed bad pages were RAM frames and got excluded.
    pub fn badpages_excluded(&self) -> u64 {
        self.badpages_excluded
    }
}

#[cfg(test)]
mod tests;
