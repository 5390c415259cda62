// SPDX-License-Identifier: GPL-2.0-only
//! The hypervisor heap: linked-list allocators over a static region in .bss
//! and the regions boot adds once it knows the machine's memory.
//!
//! The static region makes allocation available from the first instruction
//! of Rust code, before the memory map is known; it holds bookkeeping whose
//! size does not depend on the machine. What scales with RAM (the frame
//! allocator's bitmaps, the PV frame table, a domain builder's P2M) goes to
//! regions sized from the memory map and taken from RAM ([`add_region`],
//! see `crate::mm`), so a machine of any size fits. Page tables, stacks,
//! descriptor tables and guest memory come from the frame allocator.
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use linked_list_allocator::Heap;

const HEAP_SIZE: usize = 16 * 1024 * 1024;
/// The static region and up to three added ones.
const MAX_REGIONS: usize = 4;

#[repr(C, align(4096))]
struct HeapSpace([u8; HEAP_SIZE]);

static mut HEAP_SPACE: HeapSpace = HeapSpace([0; HEAP_SIZE]);

/// The allocator: one linked-list heap per region, tried in order.
struct Heaps(spin::Mutex<[Option<Heap>; MAX_REGIONS]>);

// SAFETY: every heap is used under the one lock; `alloc` returns blocks
// from a region's free list only, `dealloc` gives a block back to the
// region that holds it (regions never overlap), as `GlobalAlloc` requires.
unsafe impl GlobalAlloc for Heaps {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut regions = self.0.lock();
        regions
            .iter_mut()
            .flatten()
            .find_map(|h| h.allocate_first_fit(layout).ok())
            .map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(ptr) else { return };
        let mut regions = self.0.lock();
        if let Some(h) = regions.iter_mut().flatten().find(|h| (h.bottom()..h.top()).contains(&ptr))
        {
            // SAFETY: the caller allocated `ptr` with `layout` from this
            // allocator, and it lies in this region, so this heap handed it out.
            unsafe { h.deallocate(block, layout) };
        }
    }
}

#[global_allocator]
static ALLOCATOR: Heaps = Heaps(spin::Mutex::new([None, None, None, None]));

/// Hand the static region to the allocator. Call once, first thing.
pub fn init() {
    let mut heap = Heap::empty();
    // SAFETY: called once on the boot CPU before any allocation; the region
    // is a static used for nothing else, so the allocator owns it exclusively.
    unsafe {
        let start = core::ptr::addr_of_mut!(HEAP_SPACE).cast::<u8>();
        heap.init(start, HEAP_SIZE);
    }
    if let Some(slot) = ALLOCATOR.0.lock().first_mut() {
        *slot = Some(heap);
    }
}

/// Why [`add_region`] refused.
#[derive(Debug, Clone, Copy)]
pub struct NoSlot;

/// Adds `[start, start + len)` (virtual addresses) to the heap.
///
/// # Errors
///
/// [`NoSlot`] when [`MAX_REGIONS`] regions are in use already.
///
/// # Safety
///
/// The range must be mapped writable for the hypervisor's lifetime, on
/// every CPU, and given to the heap exclusively (nothing else may ever use
/// it, e.g. RAM taken out of the frame allocator for good).
pub unsafe fn add_region(start: usize, len: usize) -> Result<(), NoSlot> {
    let mut regions = ALLOCATOR.0.lock();
    let slot = regions.iter_mut().find(|r| r.is_none()).ok_or(NoSlot)?;
    let mut heap = Heap::empty();
    // SAFETY: guaranteed by the caller.
    unsafe { heap.init(start as *mut u8, len) };
    *slot = Some(heap);
    Ok(())
}

/// Bytes of heap in use and free, over all regions.
pub fn usage() -> (usize, usize) {
    let regions = ALLOCATOR.0.lock();
    regions
        .iter()
        .flatten()
        .fold((0, 0), |(u, f), h| (u.saturating_add(h.used()), f.saturating_add(h.free())))
}
