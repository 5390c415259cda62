// SPDX-License-Identifier: GPL-2.0-only
//! The x86_64 machine layer: everything that touches the hardware.
//!
//! Design: each unsafe primitive (port I/O, MSRs, control registers, MMIO,
//! descriptor tables) is wrapped once here and exposed as a safe API whose
//! invariants are documented; `hv-core` holds the policy and never sees a raw
//! pointer. The composition root (`hypervisor/`) wires the two together.
#![no_std]

extern crate alloc;

pub mod acpi;
pub mod apic;
pub mod bench;
pub mod cpu;
pub mod entry;
pub mod flushtlb;
pub mod gdt;
pub mod idt;
pub mod io;
pub mod ioapic;
pub mod layout;
pub mod paging;
pub mod pit;
pub mod power;
pub mod pvmem;
pub mod rtc;
pub mod serial;
pub mod smp;
pub mod time;
pub mod traps;

/// Source of physical frames for the machine layer's own structures
/// (page tables, per-CPU stacks and descriptor tables).
pub trait FrameSource {
    /// Allocate `count` contiguous 4 KiB frames aligned to `align` frames,
    /// returning the physical address of the first, zeroed.
    fn alloc_frames(&mut self, count: u64, align: u64) -> Option<u64>;
}
