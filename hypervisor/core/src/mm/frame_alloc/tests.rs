// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for the frame allocator.
// Tests may do plain arithmetic and indexing on small known values.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use super::*;
use crate::mm::E820Map;

const MIB: u64 = 1 << 20;

fn qemu(mem: u64) -> E820Map {
    E820Map::from_entries([
        (0, 0x9fc00, 1),
        (0x9fc00, 0x400, 2),
        (0xf0000, 0x10000, 2),
        (MIB, mem - 0x2_0000 - MIB, 1),
        (mem - 0x2_0000, 0x2_0000, 2),
    ])
}

fn drain(a: &mut FrameAllocator) -> Vec<Mfn> {
    core::iter::from_fn(|| a.alloc().map(|x| x.mfn)).collect()
}

#[test]
fn mfn_address_conversions() {
    assert_eq!(Mfn::from_addr(0x12345678), Mfn(0x12345));
    assert_eq!(Mfn(0x12345).to_addr(), 0x1234_5000);
    assert_eq!(Mfn(u64::MAX).to_addr(), u64::MAX);
    assert_eq!(alloc::format!("{}", Mfn(0x9f)), "0x9f");
}

#[test]
fn only_whole_ram_frames_are_managed() {
    let a = FrameAllocator::new(&qemu(16 * MIB), &[], &[]);
    // 0..0x9f (0x9f000..0x9fc00 is a partial frame) + 1 MiB..16 MiB-128 KiB.
    let low = 0x9f;
    let high = (16 * MIB - 0x2_0000 - MIB) / 4096;
    assert_eq!(a.total_frames(), low + high);
    assert_eq!(a.free_frames(), a.total_frames());
    assert!(a.is_free(Mfn(0x9e)));
    assert!(!a.is_free(Mfn(0x9f)));
    assert!(!a.is_free(Mfn(0xa0)));
    assert!(a.is_free(Mfn(0x100)));
}

#[test]
fn reserved_ranges_are_never_handed_out() {
    let image = (2 * MIB, 2 * MIB + 0x5_4321); // partial last frame is reserved too
    let module = (8 * MIB + 0x800, 9 * MIB);
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[(0, MIB), image, module], &[]);
    let got = drain(&mut a);
    assert_eq!(a.free_frames(), 0);
    for mfn in &got {
        let addr = mfn.to_addr();
        assert!(addr >= MIB);
        assert!(!(2 * MIB..2 * MIB + 0x5_5000).contains(&addr), "{mfn}");
        assert!(!(8 * MIB..9 * MIB).contains(&addr), "{mfn}");
    }
    let reserved = 0x9f + 0x55 + 0x100;
    assert_eq!(got.len() as u64, a.total_frames() - reserved);
}

#[test]
fn reserved_frames_can_be_released_later() {
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[(4 * MIB, 4 * MIB + 0x2000)], &[]);
    assert!(!a.is_free(Mfn(0x400)));
    assert_eq!(a.free(Mfn(0x400)), Ok(()));
    assert!(a.is_free(Mfn(0x400)));
    assert_eq!(a.free(Mfn(0x400)), Err(FreeError::DoubleFree(Mfn(0x400))));
}

#[test]
fn bad_pages_never_allocated_even_when_draining() {
    let bad = [0x100, 0x101, 0x5ff, 0x9f, 0xa0, 0x10_0000, 0x100];
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[], &bad);
    // 0x9f is a partial frame, 0xa0 is not RAM, 0x10_0000 is beyond RAM, 0x100 repeated.
    assert_eq!(a.badpages_excluded(), 3);
    let got = drain(&mut a);
    for b in [0x100, 0x101, 0x5ff] {
        assert!(!got.contains(&Mfn(b)));
        assert_eq!(a.free(Mfn(b)), Err(FreeError::NotManaged(Mfn(b))));
    }
    assert_eq!(got.len() as u64, a.total_frames());
}

#[test]
fn mem_clipping_via_map() {
    let mut map = qemu(128 * MIB);
    map.clip(32 * MIB);
    let mut a = FrameAllocator::new(&map, &[], &[]);
    assert_eq!(a.total_frames(), 0x9f + (31 * MIB) / 4096);
    assert!(drain(&mut a).iter().all(|m| m.to_addr() < 32 * MIB));
}

#[test]
fn exhaustion_returns_none_and_free_recovers() {
    let map = E820Map::from_entries([(0, 4 * 4096, 1)]);
    let mut a = FrameAllocator::new(&map, &[], &[]);
    let got = drain(&mut a);
    assert_eq!(got, [Mfn(0), Mfn(1), Mfn(2), Mfn(3)]);
    assert_eq!(a.alloc().map(|x| x.mfn), None);
    assert_eq!(a.alloc_contiguous(1, 1, None).map(|x| x.mfn), None);
    assert_eq!(a.free(Mfn(2)), Ok(()));
    assert_eq!(a.free_frames(), 1);
    assert_eq!(a.alloc().map(|x| x.mfn), Some(Mfn(2)));
    assert_eq!(a.alloc().map(|x| x.mfn), None);
}

#[test]
fn alloc_wraps_around_hint() {
    let map = E820Map::from_entries([(0, 200 * 4096, 1)]);
    let mut a = FrameAllocator::new(&map, &[], &[]);
    let got = drain(&mut a);
    assert_eq!(got.len(), 200);
    a.free(Mfn(3)).unwrap_or_default();
    a.free(Mfn(150)).unwrap_or_default();
    let mut again = drain(&mut a);
    again.sort();
    assert_eq!(again, [Mfn(3), Mfn(150)]);
}

#[test]
fn free_errors() {
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[], &[]);
    assert_eq!(a.free(Mfn(0xa0)), Err(FreeError::NotManaged(Mfn(0xa0))));
    assert_eq!(a.free(Mfn(u64::MAX)), Err(FreeError::NotManaged(Mfn(u64::MAX))));
    assert_eq!(a.free(Mfn(0x200)), Err(FreeError::DoubleFree(Mfn(0x200))));
    let m = a.alloc().map(|x| x.mfn).unwrap_or(Mfn(0));
    assert_eq!(a.free(m), Ok(()));
    assert_eq!(a.free(m), Err(FreeError::DoubleFree(m)));
    assert!(alloc::format!("{}", FreeError::DoubleFree(m)).contains("twice"));
}

#[test]
fn contiguous_alignment() {
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[(0, MIB)], &[]);
    let m = a.alloc_contiguous(4, 512, None).map(|x| x.mfn);
    assert_eq!(m, Some(Mfn(0x200)), "first 2 MiB-aligned frame in RAM above 1 MiB");
    for f in 0x200..0x204 {
        assert!(!a.is_free(Mfn(f)));
    }
    // Next aligned block skips the partially used one.
    assert_eq!(a.alloc_contiguous(512, 512, None).map(|x| x.mfn), Some(Mfn(0x400)));
    // Alignment 0 is treated as 1.
    assert_eq!(a.alloc_contiguous(2, 0, None).map(|x| x.mfn), Some(Mfn(0x100)));
}

#[test]
fn contiguous_skips_used_frames() {
    let map = E820Map::from_entries([(0, 64 * 4096, 1)]);
    let mut a = FrameAllocator::new(&map, &[(5 * 4096, 6 * 4096)], &[9]);
    assert_eq!(a.alloc_contiguous(4, 1, None).map(|x| x.mfn), Some(Mfn(0)));
    assert_eq!(a.alloc_contiguous(3, 1, None).map(|x| x.mfn), Some(Mfn(6)));
    assert_eq!(a.alloc_contiguous(3, 1, None).map(|x| x.mfn), Some(Mfn(10)));
    assert_eq!(a.alloc_contiguous(1, 1, None).map(|x| x.mfn), Some(Mfn(4)));
    assert_eq!(a.alloc_contiguous(64, 1, None).map(|x| x.mfn), None);
    assert_eq!(a.free_frames(), 64 - 1 - 1 - 4 - 3 - 3 - 1);
}

#[test]
fn contiguous_below_limit() {
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[(0, MIB)], &[]);
    assert_eq!(a.alloc_contiguous(16, 1, Some(MIB + 16 * 4096)).map(|x| x.mfn), Some(Mfn(0x100)));
    assert_eq!(a.alloc_contiguous(1, 1, Some(MIB + 16 * 4096)).map(|x| x.mfn), None);
    assert_eq!(a.alloc_contiguous(1, 1, Some(0)).map(|x| x.mfn), None);
    // A run never spans the hole between two RAM regions.
    let map = E820Map::from_entries([(0, 4 * 4096, 1), (5 * 4096, 4 * 4096, 1)]);
    let mut b = FrameAllocator::new(&map, &[], &[]);
    assert_eq!(b.alloc_contiguous(5, 1, None).map(|x| x.mfn), None);
    assert_eq!(b.alloc_contiguous(4, 1, None).map(|x| x.mfn), Some(Mfn(0)));
    assert_eq!(b.alloc_contiguous(4, 1, None).map(|x| x.mfn), Some(Mfn(5)));
}

#[test]
fn contiguous_degenerate_requests() {
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[], &[]);
    assert_eq!(a.alloc_contiguous(0, 1, None).map(|x| x.mfn), None);
    assert_eq!(a.alloc_contiguous(u64::MAX, 1, None).map(|x| x.mfn), None);
    assert_eq!(a.alloc_contiguous(1, u64::MAX, None).map(|x| x.mfn), Some(Mfn(0)));
    assert_eq!(a.alloc_contiguous(1, u64::MAX, None).map(|x| x.mfn), None);
    assert_eq!(a.alloc_contiguous(1, 1 << 63, None).map(|x| x.mfn), None);
}

#[test]
fn reserve_after_construction() {
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[], &[]);
    let before = a.free_frames();
    assert_eq!(a.reserve(MIB, MIB + 3 * 4096), 3);
    assert_eq!(a.reserve(MIB, MIB + 3 * 4096), 0, "already in use");
    assert_eq!(a.reserve(0x9f000, 0x10_0000), 0, "no managed frames there");
    assert_eq!(a.reserve(5, 5), 0);
    assert_eq!(a.reserve(10, 5), 0);
    assert_eq!(a.free_frames(), before - 3);
    let left = a.free_frames();
    assert_eq!(a.reserve(0, u64::MAX), left);
    assert_eq!(a.free_frames(), 0);
}

#[test]
fn empty_map_has_nothing() {
    let mut a = FrameAllocator::new(&E820Map::default(), &[(0, 1 << 40)], &[1, 2]);
    assert_eq!(a.total_frames(), 0);
    assert_eq!(a.alloc().map(|x| x.mfn), None);
    assert_eq!(a.alloc_contiguous(1, 1, None).map(|x| x.mfn), None);
    assert_eq!(a.badpages_excluded(), 0);
    assert!(!a.is_free(Mfn(0)));
}

#[test]
fn high_sparse_memory_is_cheap() {
    // 1 MiB of RAM at 1 TiB: only that region gets a bitmap.
    let map = E820Map::from_entries([(1 << 40, MIB, 1)]);
    let mut a = FrameAllocator::new(&map, &[], &[]);
    assert_eq!(a.total_frames(), 256);
    assert_eq!(a.alloc().map(|x| x.mfn), Some(Mfn((1 << 40) / 4096)));
}

#[test]
fn bookkeeping_scales_with_ram() {
    // Three bits per frame (two bitmaps, a 64-bit stamp per 64 frames):
    // 16 MiB of RAM is 4096 frames, 1.5 KiB.
    let small = FrameAllocator::bookkeeping_bytes(&qemu(16 * MIB));
    assert!((1536..2048).contains(&small), "{small}");
    let big = FrameAllocator::bookkeeping_bytes(&qemu(64 * 1024 * MIB));
    assert!((6 * MIB..6 * MIB + 4096).contains(&big), "{big}");
}

use crate::mm::tlbflush::tests::{FakeCpus, flush};
use crate::mm::tlbflush::{TlbClock, TlbStamp, TlbflushNeed, filtered_flush_tlb_mask};

/// Allocates one frame as the machine does: take it, then flush the online
/// CPUs that may still cache it.
fn alloc_flushed(a: &mut FrameAllocator, clock: &TlbClock, cpus: &mut FakeCpus<'_>) -> Mfn {
    let got = a.alloc().expect("a free frame");
    filtered_flush_tlb_mask(clock, 0b1111, got.tlbflush, cpus);
    got.mfn
}

#[test]
fn a_frame_nobody_freed_needs_no_flush() {
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[(0, MIB)], &[]);
    assert_eq!(a.alloc().map(|x| x.tlbflush), Some(TlbflushNeed::NONE));
    let m = a.alloc().map_or(Mfn(0), |x| x.mfn);
    // Freed by the hypervisor (no owner): still nothing to flush.
    assert_eq!(a.free(m), Ok(()));
    assert_eq!(a.alloc(), Some(Allocation { mfn: m, tlbflush: TlbflushNeed::NONE }));
}

#[test]
fn alloc_after_free_flushes_exactly_the_stale_cpus() {
    let clock = TlbClock::new();
    let mut cpus = FakeCpus { clock: &clock, flushed: Vec::new() };
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[(0, MIB)], &[]);
    for cpu in 0..4 {
        flush(&clock, cpu);
    }
    // A domain frees a frame; CPUs 1 and 2 switch vCPUs (full flushes)
    // before it is handed out again, CPUs 0 and 3 do not.
    let m = alloc_flushed(&mut a, &clock, &mut cpus);
    assert!(cpus.flushed.is_empty(), "a fresh frame needs no flush");
    assert_eq!(a.free_stamped(m, clock.current()), Ok(()));
    flush(&clock, 1);
    flush(&clock, 2);
    assert_eq!(alloc_flushed(&mut a, &clock, &mut cpus), m, "the same frame again");
    assert_eq!(cpus.flushed, [0b1001]);
    // The stamp went with the allocation: freeing it as a hypervisor frame
    // and taking it again needs nothing.
    assert_eq!(a.free(m), Ok(()));
    assert_eq!(alloc_flushed(&mut a, &clock, &mut cpus), m);
    assert_eq!(cpus.flushed, [0b1001]);
}

#[test]
fn a_run_needs_the_flush_of_its_newest_frame() {
    let clock = TlbClock::new();
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[(0, MIB)], &[]);
    let run = a.alloc_contiguous(4, 4, None).map_or(Mfn(0), |x| x.mfn);
    flush(&clock, 0);
    flush(&clock, 1);
    let early = clock.current();
    assert_eq!(a.free_stamped(run, early), Ok(()));
    flush(&clock, 0);
    let late = clock.current();
    assert_eq!(a.free_stamped(Mfn(run.0 + 2), late), Ok(()));
    assert_eq!(a.free(Mfn(run.0 + 1)), Ok(()));
    assert_eq!(a.free(Mfn(run.0 + 3)), Ok(()));
    let again = a.alloc_contiguous(4, 4, None);
    assert_eq!(again.map(|x| x.mfn), Some(run));
    assert_eq!(again.map(|x| x.tlbflush.stamp()), Some(Some(late)));
    // CPU 0 flushed after the early stamp but not after the late one.
    let mut cpus = FakeCpus { clock: &clock, flushed: Vec::new() };
    let need = again.map_or(TlbflushNeed::NONE, |x| x.tlbflush);
    assert_eq!(filtered_flush_tlb_mask(&clock, 0b11, need, &mut cpus), 0b11);
}

#[test]
fn a_zero_stamp_still_asks_for_a_flush() {
    let mut a = FrameAllocator::new(&qemu(16 * MIB), &[(0, MIB)], &[]);
    let m = a.alloc().map_or(Mfn(0), |x| x.mfn);
    assert_eq!(a.free_stamped(m, TlbStamp(0)), Ok(()));
    assert_eq!(a.alloc().map(|x| x.tlbflush.stamp()), Some(Some(TlbStamp(1))));
}

#[test]
fn a_stamp_is_kept_per_word_until_the_word_is_all_in_use() {
    // One region of 64 frames: one bitmap word.
    let map = E820Map::from_entries([(MIB, 64 * 4096, 1)]);
    let mut a = FrameAllocator::new(&map, &[], &[]);
    let m = a.alloc().map_or(Mfn(0), |x| x.mfn);
    let other = a.alloc().map_or(Mfn(0), |x| x.mfn);
    assert_eq!(a.free_stamped(m, TlbStamp(5)), Ok(()));
    // A neighbour freed by the hypervisor inherits the word's stamp: an
    // extra flush at worst.
    assert_eq!(a.free(other), Ok(()));
    let got: Vec<_> = core::iter::from_fn(|| a.alloc()).collect();
    assert_eq!(got.len(), 64);
    assert!(got.iter().all(|x| x.tlbflush.stamp() == Some(TlbStamp(5))));
    // Every frame was handed out with the flush: the stamp is gone.
    assert_eq!(a.free(m), Ok(()));
    assert_eq!(a.alloc(), Some(Allocation { mfn: m, tlbflush: TlbflushNeed::NONE }));
}
