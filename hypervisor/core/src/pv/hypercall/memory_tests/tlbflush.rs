// SPDX-License-Identifier: GPL-2.0-only
//! Frames a guest gives back are reused only after the CPUs that may still
//! cache them flushed: `memory_op` over the machine's allocator and
//! TLB-flush clock (what `hypervisor/src/guest.rs` does), with CPUs that
//! record their flushes.

use super::*;
use crate::mm::frame_alloc::FrameAllocator;
use crate::mm::tlbflush::tests::{FakeCpus, flush};
use crate::mm::tlbflush::{TlbClock, filtered_flush_tlb_mask};

/// Online CPUs of the simulation.
const ONLINE: u64 = 0b1111;

/// The machine's allocator over the fixture's pool, its clock and the CPU
/// masks flushed before frames were handed out.
pub(super) struct Heap {
    frames: FrameAllocator,
    clock: TlbClock,
    flushed: Vec<u64>,
}

impl Heap {
    fn new() -> Self {
        let pool = crate::mm::E820Map::from_entries([(POOL << 12, (POOL_END - POOL) << 12, 1)]);
        Self {
            frames: FrameAllocator::new(&pool, &[], &[]),
            clock: TlbClock::new(),
            flushed: Vec::new(),
        }
    }

    /// `MachinePlatform::alloc_frames`: take the frames, then flush the
    /// stale online CPUs.
    pub(super) fn alloc(&mut self, order: u32) -> Option<Mfn> {
        let n = 1u64 << order;
        let got = self.frames.alloc_contiguous(n, n, None)?;
        let mut cpus = FakeCpus { clock: &self.clock, flushed: Vec::new() };
        filtered_flush_tlb_mask(&self.clock, ONLINE, got.tlbflush, &mut cpus);
        self.flushed.extend(cpus.flushed);
        Some(got.mfn)
    }

    /// `MachinePlatform::free_frame`: stamped with the clock.
    pub(super) fn free(&mut self, mfn: Mfn) {
        assert_eq!(self.frames.free_stamped(mfn, self.clock.current()), Ok(()));
    }
}

/// The fixture's heap.
fn heap(t: &mut T) -> &mut Heap {
    t.p.heap.as_mut().expect("a heap")
}

#[test]
fn a_frame_given_back_is_reused_after_the_stale_cpus_flushed() {
    let mut t = T::new();
    t.p.heap = Some(Heap::new());
    for cpu in 0..4 {
        flush(&heap(&mut t).clock, cpu);
    }
    // Fresh frames: nothing to flush.
    t.list(&[0x10, 0x11]);
    assert_eq!(t.reservation(POPULATE, 2, 0, 0, DomId::SELF), 2);
    let mfns = t.list_out(2);
    assert!(heap(&mut t).flushed.is_empty());
    // CPUs 2 and 3 switch vCPUs; then the guest gives a frame back; then
    // CPU 1 switches.
    flush(&heap(&mut t).clock, 2);
    flush(&heap(&mut t).clock, 3);
    t.list(&mfns[..1]);
    assert_eq!(t.reservation(DECREASE, 1, 0, 0, DomId::SELF), 1);
    flush(&heap(&mut t).clock, 1);
    // Handed out again (to the same guest here): CPUs 0, 2 and 3 may still
    // cache it and are flushed first; CPU 1 is not.
    t.list(&[0x12]);
    assert_eq!(t.reservation(POPULATE, 1, 0, 0, DomId::SELF), 1);
    assert_eq!(t.list_out(1), mfns[..1]);
    assert_eq!(heap(&mut t).flushed, [0b1101]);
    // Once flushed, nothing more is needed.
    t.list(&[0x13]);
    assert_eq!(t.reservation(POPULATE, 1, 0, 0, DomId::SELF), 1);
    assert_eq!(heap(&mut t).flushed, [0b1101]);
}

#[test]
fn frames_an_exchange_gives_back_are_stamped_too() {
    let mut t = T::new();
    t.p.heap = Some(Heap::new());
    for cpu in 0..4 {
        flush(&heap(&mut t).clock, cpu);
    }
    t.list(&[0x10]);
    assert_eq!(t.reservation(POPULATE, 1, 0, 0, DomId::SELF), 1);
    let old = t.list_out(1);
    flush(&heap(&mut t).clock, 0);
    // Trade it for a fresh frame; the old one goes back stamped.
    t.list(&old);
    t.out_list(&[0x10]);
    let (r, done) = t.exchange(res(LIST, 1, 0, 0, DomId(0)), res(OUT_LIST, 1, 0, 0, DomId(0)), 0);
    assert_eq!((r, done), (Ok(0), 1));
    assert!(heap(&mut t).flushed.is_empty());
    flush(&heap(&mut t).clock, 3);
    // Take every frame left: the old one among them needs CPUs 0..2.
    t.f.dom.max_pages = 64;
    let left = POOL_END - POOL - 1;
    t.list(&(0x20..0x20 + left).collect::<Vec<u64>>());
    assert_eq!(t.reservation(POPULATE, left, 0, 0, DomId::SELF), left as i64);
    assert!(t.list_out(left as usize).contains(&old[0]));
    assert_eq!(heap(&mut t).flushed, [0b0111]);
}
