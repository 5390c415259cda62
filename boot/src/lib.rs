//! Multiboot 1 / Multiboot 2 boot information parsing.
//!
//! The hypervisor's 32-bit entry point receives `EAX` = bootloader magic and
//! `EBX` = physical address of the boot information structure. [`parse`] turns
//! that pair into one loader-independent [`BootInfo`]:
//!
//! * [`MULTIBOOT1_BOOTLOADER_MAGIC`] (`0x2BADB002`, e.g. QEMU `-kernel`): the
//!   fixed `multiboot_info` structure is hand-parsed with byte reads through
//!   [`PhysMemory`], following the pointers it contains (command line, module
//!   list, memory map, boot loader name).
//! * [`MULTIBOOT2_BOOTLOADER_MAGIC`] (`0x36D76289`, e.g. GRUB `multiboot2`):
//!   the whole tag structure is copied into an 8-byte-aligned heap buffer and
//!   parsed with the [`multiboot2`] crate.
//!
//! Everything in the boot information is treated as untrusted: lengths are
//! bounded ([`MAX_STRING_LEN`], [`MAX_MMAP_ENTRIES`], [`MAX_MODULES`],
//! [`MAX_MB2_TOTAL_SIZE`]), all address arithmetic is checked, and malformed
//! input yields a [`BootError`] (or the bad item is skipped, where skipping is
//! safe) instead of a panic.
//!
//! The crate is `no_std` + `alloc` and host-testable: tests feed it a
//! `Vec<u8>`-backed fake physical memory.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

mod mb1;
mod mb2;
#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Value of `EAX` at kernel entry when booted by a Multiboot 1 loader.
pub const MULTIBOOT1_BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;

/// Value of `EAX` at kernel entry when booted by a Multiboot 2 loader.
pub const MULTIBOOT2_BOOTLOADER_MAGIC: u32 = 0x36D7_6289;

/// Longest string (command line, module string, loader name) accepted, in
/// bytes, excluding the NUL terminator. Longer strings are truncated.
pub const MAX_STRING_LEN: usize = 4096;

/// Most memory map entries accepted; more is reported as
/// [`BootError::Malformed`].
pub const MAX_MMAP_ENTRIES: usize = 512;

/// Most boot modules accepted; more is reported as [`BootError::Malformed`].
pub const MAX_MODULES: usize = 64;

/// Largest Multiboot 2 `total_size` accepted (1 MiB).
pub const MAX_MB2_TOTAL_SIZE: u32 = 1 << 20;

/// Bytes of the Multiboot 1 `multiboot_info` structure reported in
/// [`BootInfo::info_range`]: the full structure including the framebuffer
/// fields (`sizeof(struct multiboot_info)` in GRUB's `multiboot.h`).
pub const MB1_INFO_SIZE: u64 = 120;

/// Read access to physical memory, as seen by the boot code.
///
/// On the real machine this is a view of identity-mapped (or otherwise
/// mapped) low memory; in tests it is a `Vec<u8>`.
pub trait PhysMemory {
    /// Fill `buf` with the bytes at physical addresses
    /// `[paddr, paddr + buf.len())`.
    ///
    /// Returns [`BootError::Unreadable`] if any part of the range cannot be
    /// read (not RAM, not mapped, address overflow, ...).
    fn read(&self, paddr: u64, buf: &mut [u8]) -> Result<(), BootError>;
}

impl<T: PhysMemory + ?Sized> PhysMemory for &T {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> Result<(), BootError> {
        (**self).read(paddr, buf)
    }
}

/// Which boot protocol delivered the boot information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Multiboot 1 (`EAX` = [`MULTIBOOT1_BOOTLOADER_MAGIC`]).
    Multiboot1,
    /// Multiboot 2 (`EAX` = [`MULTIBOOT2_BOOTLOADER_MAGIC`]).
    Multiboot2,
}

/// One entry of the physical memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Physical start address.
    pub addr: u64,
    /// Length in bytes (never 0; `addr + size` never overflows).
    pub size: u64,
    /// e820 / Multiboot memory type, passed through unchanged: 1 RAM,
    /// 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad memory; anything
    /// else must be treated as reserved.
    pub kind: u32,
}

impl MemoryRegion {
    /// [`MemoryRegion::kind`]: usable RAM.
    pub const RAM: u32 = 1;
    /// [`MemoryRegion::kind`]: reserved.
    pub const RESERVED: u32 = 2;
    /// [`MemoryRegion::kind`]: ACPI reclaimable.
    pub const ACPI_RECLAIMABLE: u32 = 3;
    /// [`MemoryRegion::kind`]: ACPI NVS (must be preserved across sleep).
    pub const ACPI_NVS: u32 = 4;
    /// [`MemoryRegion::kind`]: defective RAM.
    pub const BAD: u32 = 5;

    /// Exclusive end address (`addr + size`; cannot overflow for regions
    /// produced by [`parse`]).
    #[must_use]
    pub const fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }
}

/// One boot module (e.g. the dom0 kernel, its initrd, an XSM policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Physical start address.
    pub start: u64,
    /// Physical end address, exclusive (`end >= start`).
    pub end: u64,
    /// The module's string (usually path and arguments), raw.
    pub cmdline: String,
}

/// A validated copy of the ACPI RSDP handed over by the boot loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiRoot {
    /// RSDP revision byte (0 for ACPI 1.0, 2 for ACPI 2.0+).
    pub revision: u8,
    /// The RSDP bytes: 20 for a v1 RSDP, `length` (≥ 36) for a v2 RSDP.
    /// Signature and checksum(s) have been verified.
    pub rsdp_copy: Vec<u8>,
    /// Physical address of the RSDT.
    pub rsdt_address: u32,
    /// Physical address of the XSDT (v2 RSDP with a non-zero XSDT pointer).
    pub xsdt_address: Option<u64>,
}

/// Everything the hypervisor needs from the boot loader, protocol-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootInfo {
    /// Which protocol delivered the information.
    pub protocol: Protocol,
    /// The boot loader's name, if it gave one.
    pub loader_name: Option<String>,
    /// The hypervisor command line, raw, as the loader gave it (for QEMU
    /// Multiboot 1 this includes the kernel file name). Empty if absent.
    pub cmdline: String,
    /// Physical memory map, in loader order, with zero-length and
    /// address-overflowing entries dropped. Taken from the full memory map
    /// (MB1 flag bit 6 / MB2 tag 6); if that is absent or yields no entries,
    /// synthesised as RAM from `mem_lower`/`mem_upper` (MB1 flag bit 0 / MB2
    /// tag 4). Empty if the loader gave neither.
    pub memory_map: Vec<MemoryRegion>,
    /// Boot modules, in loader order.
    pub modules: Vec<Module>,
    /// ACPI RSDP from MB2 tag 15 (preferred) or 14, checksums validated;
    /// always `None` for Multiboot 1.
    pub acpi: Option<AcpiRoot>,
    /// Physical `[start, end)` of the boot information structure itself
    /// (MB1: the fixed `multiboot_info`, [`MB1_INFO_SIZE`] bytes; MB2: the
    /// whole tag structure, `total_size` bytes).
    pub info_range: (u64, u64),
    /// Further physical `[start, end)` ranges the boot information points to
    /// that must not be reused before it has been consumed. MB1: command
    /// line, module list, module strings, memory map, loader name. MB2:
    /// empty (everything lives inside [`BootInfo::info_range`]). Module
    /// contents are not included (see [`BootInfo::modules`]).
    pub extra_reserved: Vec<(u64, u64)>,
}

/// Why the boot information could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootError {
    /// `EAX` held neither Multiboot magic value.
    BadMagic(u32),
    /// A physical memory read failed.
    Unreadable {
        /// Start of the failed read.
        paddr: u64,
    },
    /// The boot information is structurally invalid.
    Malformed(&'static str),
    /// A buffer for copying the boot information could not be allocated.
    OutOfMemory,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(magic) => write!(
                f,
                "bad boot loader magic {magic:#010x} (expected {MULTIBOOT1_BOOTLOADER_MAGIC:#010x} \
                 or {MULTIBOOT2_BOOTLOADER_MAGIC:#010x})"
            ),
            Self::Unreadable { paddr } => {
                write!(f, "boot information unreadable at physical address {paddr:#x}")
            }
            Self::Malformed(what) => write!(f, "malformed boot information: {what}"),
            Self::OutOfMemory => f.write_str("out of memory while copying boot information"),
        }
    }
}

impl core::error::Error for BootError {}

/// Parse the boot information handed over by a Multiboot 1 or Multiboot 2
/// loader.
///
/// `magic` is the loader's `EAX`, `info_paddr` its `EBX` (zero-extended), and
/// `mem` reads physical memory. All returned data is copied out; nothing in
/// [`BootInfo`] borrows from `mem`.
///
/// # Errors
///
/// [`BootError::BadMagic`] for an unknown `magic`, [`BootError::Unreadable`]
/// if `mem` fails, [`BootError::Malformed`] for structurally invalid or
/// out-of-bounds boot information (including a null `info_paddr`).
pub fn parse(magic: u32, info_paddr: u64, mem: &impl PhysMemory) -> Result<BootInfo, BootError> {
    let protocol = match magic {
        MULTIBOOT1_BOOTLOADER_MAGIC => Protocol::Multiboot1,
        MULTIBOOT2_BOOTLOADER_MAGIC => Protocol::Multiboot2,
        other => return Err(BootError::BadMagic(other)),
    };
    if info_paddr == 0 {
        return Err(BootError::Malformed("boot information pointer is null"));
    }
    match protocol {
        Protocol::Multiboot1 => mb1::parse(info_paddr, mem),
        Protocol::Multiboot2 => mb2::parse(info_paddr, mem),
    }
}

// ---------------------------------------------------------------------------
// Shared helpers.
// ---------------------------------------------------------------------------

/// Little-endian `u32` at `off` in `bytes`, if in bounds.
fn le_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let raw = bytes.get(off..off.checked_add(4)?)?;
    raw.try_into().ok().map(u32::from_le_bytes)
}

/// Little-endian `u64` at `off` in `bytes`, if in bounds.
fn le_u64(bytes: &[u8], off: usize) -> Option<u64> {
    let raw = bytes.get(off..off.checked_add(8)?)?;
    raw.try_into().ok().map(u64::from_le_bytes)
}

/// The NUL-terminated string at the start of `bytes` (or all of `bytes` if
/// there is no NUL), capped at [`MAX_STRING_LEN`], with invalid UTF-8 replaced
/// by U+FFFD.
fn lossy_cstr(bytes: &[u8]) -> String {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len()).min(MAX_STRING_LEN);
    String::from_utf8_lossy(bytes.get(..len).unwrap_or_default()).into_owned()
}

/// Build a memory region from raw map fields, dropping zero-length and
/// overflowing (`addr + size > 2^64 - 1`) entries. Dropping is safe: only
/// regions present in the map as RAM are ever used.
fn region(addr: u64, size: u64, kind: u32) -> Option<MemoryRegion> {
    (size != 0 && addr.checked_add(size).is_some()).then_some(MemoryRegion { addr, size, kind })
}

/// Append a region (if valid) to `map`, enforcing [`MAX_MMAP_ENTRIES`].
fn push_region(
    map: &mut Vec<MemoryRegion>,
    addr: u64,
    size: u64,
    kind: u32,
) -> Result<(), BootError> {
    if let Some(r) = region(addr, size, kind) {
        if map.len() >= MAX_MMAP_ENTRIES {
            return Err(BootError::Malformed("too many memory map entries"));
        }
        map.push(r);
    }
    Ok(())
}

/// Memory map synthesised from the basic `mem_lower` / `mem_upper` values
/// (KiB of conventional memory from 0, KiB of upper memory from 1 MiB).
/// `mem_lower` is clamped to 640 KiB.
fn synthesize_memory_map(mem_lower_kib: u32, mem_upper_kib: u32) -> Vec<MemoryRegion> {
    const KIB: u64 = 1024;
    const LOWER_MAX: u64 = 640 * KIB;
    const UPPER_BASE: u64 = 1024 * KIB;
    let lower = u64::from(mem_lower_kib).saturating_mul(KIB).min(LOWER_MAX);
    let upper = u64::from(mem_upper_kib).saturating_mul(KIB);
    [region(0, lower, MemoryRegion::RAM), region(UPPER_BASE, upper, MemoryRegion::RAM)]
        .into_iter()
        .flatten()
        .collect()
}

/// `[start, start + len)`, or `Malformed(what)` if that overflows.
fn range(start: u64, len: u64, what: &'static str) -> Result<(u64, u64), BootError> {
    start.checked_add(len).map(|end| (start, end)).ok_or(BootError::Malformed(what))
}
