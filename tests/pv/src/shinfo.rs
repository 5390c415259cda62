// SPDX-License-Identifier: GPL-2.0-only
//! The `shared_info` page, mapped over a page of the kernel's `.bss`.
//!
//! `start_info.shared_info` is a **machine** address; like XTF's
//! `map_shared_info`, [`map`] points the PTE of a page-aligned `.bss` page at
//! it with `update_va_mapping(va, maddr | A|D|RW|P, UVMF_INVLPG)`. The
//! accessors then read and write `vcpu_info[0]`: the event upcall mask (the
//! PV "interrupt flag", 1 for dom0 at boot), the pending flag, and
//! `arch.cr2`, where the hypervisor stores the address of each page fault it
//! bounces. Every access is volatile: the hypervisor changes the page
//! behind the compiler's back.

use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, Ordering};

use guest_abi::xen::{
    ArchVcpuInfo, Errno, Hypercall, SharedInfo, StartInfo, UVMF_INVLPG, VcpuInfo,
};

use crate::hypercall;
use crate::ops::{XenError, result};

/// PTE bits of the mapping: present, writable, accessed, dirty.
const PTE_FLAGS: u64 = 0x1 | 0x2 | 0x20 | 0x40;

/// Page size.
const PAGE_SIZE: u64 = 4096;

/// The `.bss` page the shared_info frame is mapped over.
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 4096]>);

// SAFETY: the page is only accessed through volatile reads and writes of
// single fields, on the kernel's one vCPU.
unsafe impl Sync for Page {}

static PAGE: Page = Page(UnsafeCell::new([0; 4096]));

/// Set once [`map`] succeeded.
static MAPPED: AtomicBool = AtomicBool::new(false);

/// `update_va_mapping(va, pte, flags)`.
///
/// # Safety
///
/// Changing a mapping can pull memory from under the kernel: `va` must not
/// hold anything the kernel still uses under its old mapping.
pub unsafe fn update_va_mapping(va: u64, pte: u64, flags: u64) -> Result<(), XenError> {
    // SAFETY: forwarded from the caller; the hypercall reads no memory.
    let ret = unsafe { hypercall::hypercall3(Hypercall::UpdateVaMapping.raw(), va, pte, flags) };
    result(ret).map(drop)
}

/// Maps `start_info.shared_info` over the kernel's `.bss` page.
pub fn map(si: &StartInfo) -> Result<(), XenError> {
    if !si.shared_info.is_multiple_of(PAGE_SIZE) || si.shared_info == 0 {
        return Err(XenError::from(Errno::EINVAL));
    }
    let va = PAGE.0.get().addr() as u64;
    // SAFETY: the page is this module's own, used for nothing else; its old
    // frame is simply no longer mapped.
    unsafe { update_va_mapping(va, si.shared_info | PTE_FLAGS, UVMF_INVLPG)? };
    MAPPED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether [`map`] succeeded.
#[must_use]
pub fn mapped() -> bool {
    MAPPED.load(Ordering::Relaxed)
}

/// Virtual address of the mapped `shared_info`.
#[must_use]
pub fn address() -> u64 {
    PAGE.0.get().addr() as u64
}

/// Pointer to byte `offset` of `vcpu_info[0]`, if the page is mapped.
fn vcpu0_field(offset: usize) -> Option<*mut u8> {
    if !mapped() {
        return None;
    }
    let base = offset_of!(SharedInfo, vcpu_info);
    Some(PAGE.0.get().cast::<u8>().wrapping_add(base).wrapping_add(offset))
}

/// `vcpu_info[0].evtchn_upcall_mask`; 0xff if shared_info is not mapped.
#[must_use]
pub fn upcall_mask() -> u8 {
    match vcpu0_field(offset_of!(VcpuInfo, evtchn_upcall_mask)) {
        // SAFETY: a byte inside the mapped shared_info page.
        Some(p) => unsafe { p.read_volatile() },
        None => 0xff,
    }
}

/// Sets `vcpu_info[0].evtchn_upcall_mask` (no-op if not mapped).
pub fn set_upcall_mask(mask: u8) {
    if let Some(p) = vcpu0_field(offset_of!(VcpuInfo, evtchn_upcall_mask)) {
        // SAFETY: a byte inside the mapped shared_info page, which the guest
        // may write.
        unsafe { p.write_volatile(mask) };
    }
}

/// `vcpu_info[0].evtchn_upcall_pending`; 0 if not mapped.
#[must_use]
pub fn upcall_pending() -> u8 {
    match vcpu0_field(offset_of!(VcpuInfo, evtchn_upcall_pending)) {
        // SAFETY: a byte inside the mapped shared_info page.
        Some(p) => unsafe { p.read_volatile() },
        None => 0,
    }
}

/// Clears `vcpu_info[0].evtchn_upcall_pending` (no-op if not mapped).
pub fn clear_upcall_pending() {
    if let Some(p) = vcpu0_field(offset_of!(VcpuInfo, evtchn_upcall_pending)) {
        // SAFETY: a byte inside the mapped shared_info page, which the guest
        // clears when it handles events.
        unsafe { p.write_volatile(0) };
    }
}

/// `vcpu_info[0].arch.cr2`; 0 if not mapped.
#[must_use]
pub fn cr2() -> u64 {
    let offset = offset_of!(VcpuInfo, arch).wrapping_add(offset_of!(ArchVcpuInfo, cr2));
    match vcpu0_field(offset) {
        // SAFETY: an 8-byte aligned field inside the mapped shared_info page.
        Some(p) => unsafe { p.cast::<u64>().read_volatile() },
        None => 0,
    }
}
