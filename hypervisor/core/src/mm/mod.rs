// SPDX-License-Identifier: GPL-2.0-only
//! Machine memory: the firmware memory map and the physical frame allocator.
//!
//! [`e820::E820Map`] turns the boot loader's memory map into sorted,
//! non-overlapping regions (Xen's `sanitize_e820_map`) and applies `mem=`.
//! [`frame_alloc::FrameAllocator`] hands out the 4 KiB machine frames of that
//! map's RAM, minus what the caller reserves and the `badpage=` list.
//! [`pv`] is the PV MMU core: the frame table with Xen's page types and
//! reference counts, page-table validation, `mmu_update` and `mmuext_op`.
//! [`shootdown`] decides the initiator's wait in a TLB shootdown;
//! [`tlbflush`] keeps Xen's TLB-flush clock, which says which CPUs must
//! flush before a freed or retyped frame is used again.

pub mod e820;
pub mod frame_alloc;
pub mod pv;
pub mod shootdown;
pub mod tlbflush;

pub use e820::{E820Entry, E820Map, E820Type};
pub use frame_alloc::{Allocation, FrameAllocator, FreeError, Mfn};
