// SPDX-License-Identifier: GPL-2.0-only
//! The hypervisor heap: a linked-list allocator over a region in .bss.
//!
//! A static region makes allocation available from the first instruction of
//! Rust code, before the memory map is known. Large structures (page tables,
//! stacks, descriptor tables, later guest memory) come from the frame
//! allocator instead, so the heap only holds bookkeeping.
use linked_list_allocator::LockedHeap;

const HEAP_SIZE: usize = 16 * 1024 * 1024;

#[repr(C, align(4096))]
struct HeapSpace([u8; HEAP_SIZE]);

static mut HEAP_SPACE: HeapSpace = HeapSpace([0; HEAP_SIZE]);

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Hand the static region to the allocator. Call once, first thing.
pub fn init() {
    // SAFETY: called once on the boot CPU before any allocation; the region
    // is a static used for nothing else, so the allocator owns it exclusively.
    unsafe {
        let start = core::ptr::addr_of_mut!(HEAP_SPACE).cast::<u8>();
        ALLOCATOR.lock().init(start, HEAP_SIZE);
    }
}

/// Bytes of heap in use and free.
pub fn usage() -> (usize, usize) {
    let heap = ALLOCATOR.lock();
    (heap.used(), heap.free())
}
