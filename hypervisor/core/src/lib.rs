// SPDX-License-Identifier: GPL-2.0-only
//! Safe, host-testable hypervisor logic shared by every machine layer.
//!
//! This crate holds the parts of the hypervisor that need no privileged
//! instructions and can therefore be unit-tested on the build host:
//!
//! * [`cmdline`]: Xen's boot command line, cooked and parsed into one typed
//!   [`cmdline::BootOptions`] with warnings instead of failures;
//! * [`libelf`] and [`bzimage`]: PV kernel images (Xen's `libelf`) and
//!   Linux bzImages unwrapped to their ELF payload, re-exported from the one
//!   loader crate `hv-libelf`, which the domain builder shares;
//! * [`dom0_build`]: dom0's initial virtual layout (Xen's `dom0_construct`);
//! * [`dom0_mem`]: Xen's `compute_dom0_nr_pages` sizing of domain 0;
//! * [`mm`]: the sanitised e820 memory map and the physical frame allocator;
//! * [`common`]: domains, vCPUs, the domain table, access control, event
//!   channels, runstates (Xen's `xen/common`);
//! * [`pv`]: the x86 64-bit PV guest model (traps, emulation, PV MMU
//!   hypercalls, descriptors);
//! * [`console`]: the console ring (`xm dmesg`) and log-level filtering;
//! * [`sched`]: CPU scheduling: `sched=` names, the scheduler interface, a
//!   per-CPU timer heap and the credit scheduler;
//! * [`time`]: the TSC-to-nanoseconds scale and RTC dates;
//! * [`acpi_sleep`]: the `\_S5` sleep type from the DSDT, for power-off;
//! * [`nmi`]: what an NMI does under `nmi=fatal|dom0|ignore`.
//!
//! Design rules: `no_std` + `alloc`, no `unsafe`, and no panics on input
//! coming from the boot loader, firmware or command line (checked arithmetic,
//! no indexing on untrusted data). Module layout follows `xen/common`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod acpi_sleep;
pub mod cmdline;
pub mod common;
pub mod console;
pub mod dom0_build;
pub mod dom0_mem;
pub mod mm;
pub mod nmi;
pub mod pv;
pub mod sched;
#[cfg(test)]
mod test_rng;
pub mod time;

/// Xen's `libelf` for 64-bit PV kernels (the crate `hv-libelf`).
pub use hv_libelf as libelf;
/// Linux bzImages as PV kernels (`hv-libelf`'s `bzimage`).
pub use hv_libelf::bzimage;

/// Size in bytes of a machine page (x86 4 KiB pages).
pub const PAGE_SIZE: u64 = 4096;

/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
