// SPDX-License-Identifier: GPL-2.0-only
//! The hypervisor image: the composition root.
//!
//! Wires the machine layer (`hv-arch-x86_64`) to the safe core (`hv-core`)
//! and the boot-information parser (`hv-boot`). The boot assembly
//! (`boot/entry.S`) enters [`setup::start_xen`] on the boot CPU in long mode.
#![no_std]
#![no_main]

extern crate alloc;

mod console;
mod dom0;
mod guest;
mod heap;
mod irq;
mod kernel_image;
mod mm;
mod nmi;
mod panic;
mod schedule;
mod setup;

core::arch::global_asm!(include_str!("../../boot/entry.S"), options(att_syntax));

/// Rust entry from `boot/entry.S`: `magic` is the boot loader's magic value,
/// `info` the physical address of its boot information.
#[unsafe(no_mangle)]
extern "C" fn __start_xen(magic: u32, info: u32) -> ! {
    setup::start_xen(magic, u64::from(info))
}
