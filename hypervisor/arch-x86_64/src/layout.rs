// SPDX-License-Identifier: GPL-2.0-only
//! The hypervisor's virtual memory layout (Xen's, for 64-bit PV).
//!
//! Xen owns `0xFFFF800000000000..0xFFFF880000000000` (PML4 slots 256–271) in
//! every address space; guests own the rest. Inside it:
//! - slot 256: the read-only M2P table for guests (a later issue),
//! - slot 261: the hypervisor image at `XEN_VIRT_START` (virtual = this + physical),
//! - slots 262–271: the direct map of all RAM at `DIRECTMAP_VIRT_START`.

pub use guest_abi::xen::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};
/// Base of the image mapping: virtual = `XEN_VIRT_START` + physical for the image.
pub const XEN_VIRT_START: u64 = 0xFFFF_82D0_8000_0000;
/// Base of the direct map of physical memory.
pub const DIRECTMAP_VIRT_START: u64 = 0xFFFF_8300_0000_0000;
/// Size of the direct map (slots 262–271: 5 TiB).
pub const DIRECTMAP_SIZE: u64 = 0xFFFF_8800_0000_0000 - DIRECTMAP_VIRT_START;
/// First PML4 slot owned by the hypervisor.
pub const FIRST_XEN_SLOT: usize = 256;
/// One past the last PML4 slot owned by the hypervisor.
pub const END_XEN_SLOT: usize = 272;

unsafe extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// Virtual address in the direct map of physical address `maddr`.
#[must_use]
pub const fn maddr_to_virt(maddr: u64) -> u64 {
    DIRECTMAP_VIRT_START.wrapping_add(maddr)
}

/// Physical address of a direct-map or image virtual address.
#[must_use]
pub const fn virt_to_maddr(va: u64) -> u64 {
    if va >= XEN_VIRT_START {
        va.wrapping_sub(XEN_VIRT_START)
    } else {
        va.wrapping_sub(DIRECTMAP_VIRT_START)
    }
}

/// Physical `[start, end)` of the loaded hypervisor image including .bss.
#[must_use]
pub fn image_phys_range() -> (u64, u64) {
    let start = core::ptr::addr_of!(__image_start) as u64;
    let end = core::ptr::addr_of!(__image_end) as u64;
    (virt_to_maddr(start), virt_to_maddr(end))
}
