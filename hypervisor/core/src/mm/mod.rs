// SPDX-License-Identifier: GPL-2.0-only
//! Machine memory: the firmware memory map and the physical frame allocator.
//!
//! [`e820::E820Map`] turns the boot loader's memory map into sorted,
//! non-overlapping regions (Xen's `sanitize_e820_map`) and applies `mem=`.
//! [`frame_alloc::FrameAllocator`] hands out the 4 KiB machine frames of that
//! map's RAM, minus what the caller reserves and the `badpage=` list.

pub mod e820;
pub mod frame_alloc;

pub use e820::{E820Entry, E820Map, E820Type};
pub use frame_alloc::{FrameAllocator, FreeError, Mfn};
