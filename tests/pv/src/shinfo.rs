// SPDX-License-Identifier: GPL-2.0-only
//! The `shared_info` page, mapped over a page of the kernel's `.bss`.
//!
//! `start_info.shared_info` is a **machine** address; like XTF's
//! `map_shared_info`, [`map`] points the PTE of a page-aligned `.bss` page at
//! it with `update_va_mapping(va, maddr | A|D|RW|P, UVMF_INVLPG)`. The
//! accessors then read and write the running vCPU's `vcpu_info`
//! (`vcpu_info[0]` unless the kernel runs several vCPUs, see
//! [`percpu`](crate::percpu)): the event upcall mask (the
//! PV "interrupt flag", 1 for dom0 at boot), the pending flag, and
//! `arch.cr2`, where the hypervisor stores the address of each page fault it
//! bounces. Every access is volatile: the hypervisor changes the page
//! behind the compiler's back.

use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, Ordering, compiler_fence};

use guest_abi::xen::{
    ArchVcpuInfo, Errno, Hypercall, SharedInfo, StartInfo, UVMF_INVLPG, VcpuInfo, VcpuTimeInfo,
    XEN_LEGACY_MAX_VCPUS,
};

use crate::ops::{XenError, result};
use crate::{hypercall, percpu};

/// PTE bits of the mapping: present, writable, accessed, dirty.
const PTE_FLAGS: u64 = 0x1 | 0x2 | 0x20 | 0x40;

/// Page size.
const PAGE_SIZE: u64 = 4096;

/// The `.bss` page the shared_info frame is mapped over.
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 4096]>);

// SAFETY: the page is only accessed through volatile reads and writes of
// single fields, each vCPU writing only its own `vcpu_info` (the bitmaps go
// through atomics in `evtchn`).
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

/// Pointer to byte `offset` of the running vCPU's `vcpu_info`
/// ([`percpu::current`]), if the page is mapped.
fn vcpu_field(offset: usize) -> Option<*mut u8> {
    let index = percpu::current();
    if !mapped() || index >= XEN_LEGACY_MAX_VCPUS {
        return None;
    }
    let base = offset_of!(SharedInfo, vcpu_info)
        .wrapping_add(index.wrapping_mul(core::mem::size_of::<VcpuInfo>()));
    Some(PAGE.0.get().cast::<u8>().wrapping_add(base).wrapping_add(offset))
}

/// `vcpu_info[current].evtchn_upcall_mask`; 0xff if shared_info is not mapped.
#[must_use]
pub fn upcall_mask() -> u8 {
    match vcpu_field(offset_of!(VcpuInfo, evtchn_upcall_mask)) {
        // SAFETY: a byte inside the mapped shared_info page.
        Some(p) => unsafe { p.read_volatile() },
        None => 0xff,
    }
}

/// Sets `vcpu_info[current].evtchn_upcall_mask` (no-op if not mapped).
pub fn set_upcall_mask(mask: u8) {
    if let Some(p) = vcpu_field(offset_of!(VcpuInfo, evtchn_upcall_mask)) {
        // SAFETY: a byte inside the mapped shared_info page, which the guest
        // may write.
        unsafe { p.write_volatile(mask) };
    }
}

/// `vcpu_info[current].evtchn_upcall_pending`; 0 if not mapped.
#[must_use]
pub fn upcall_pending() -> u8 {
    match vcpu_field(offset_of!(VcpuInfo, evtchn_upcall_pending)) {
        // SAFETY: a byte inside the mapped shared_info page.
        Some(p) => unsafe { p.read_volatile() },
        None => 0,
    }
}

/// Clears `vcpu_info[current].evtchn_upcall_pending` (no-op if not mapped).
pub fn clear_upcall_pending() {
    if let Some(p) = vcpu_field(offset_of!(VcpuInfo, evtchn_upcall_pending)) {
        // SAFETY: a byte inside the mapped shared_info page, which the guest
        // clears when it handles events.
        unsafe { p.write_volatile(0) };
    }
}

/// `vcpu_info[current].arch.cr2`; 0 if not mapped.
#[must_use]
pub fn cr2() -> u64 {
    let offset = offset_of!(VcpuInfo, arch).wrapping_add(offset_of!(ArchVcpuInfo, cr2));
    match vcpu_field(offset) {
        // SAFETY: an 8-byte aligned field inside the mapped shared_info page.
        Some(p) => unsafe { p.cast::<u64>().read_volatile() },
        None => 0,
    }
}

/// A consistent copy of `vcpu_info[current].time`, the pvclock record (retried
/// while its version is odd or changes under the read); `None` if
/// shared_info is not mapped.
#[must_use]
pub fn time_info() -> Option<VcpuTimeInfo> {
    let ptr = vcpu_field(offset_of!(VcpuInfo, time))?.cast::<VcpuTimeInfo>();
    loop {
        // SAFETY: an aligned record inside the mapped shared_info page; the
        // version is read first and last, as the pvclock protocol requires.
        let v1 = unsafe { core::ptr::addr_of!((*ptr).version).read_volatile() };
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as above.
        let t = unsafe { ptr.read_volatile() };
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as above.
        let v2 = unsafe { core::ptr::addr_of!((*ptr).version).read_volatile() };
        if v1 == v2 && v1 & 1 == 0 {
            return Some(t);
        }
    }
}

/// System time (ns) that pvclock record `t` gives for TSC value `tsc`:
/// `system_time + ((tsc - tsc_timestamp) << tsc_shift) * mul >> 32`.
#[must_use]
pub fn pvclock_ns(t: &VcpuTimeInfo, tsc: u64) -> u64 {
    let delta = tsc.wrapping_sub(t.tsc_timestamp);
    let shifted = if t.tsc_shift < 0 {
        delta >> t.tsc_shift.unsigned_abs()
    } else {
        delta << t.tsc_shift.unsigned_abs()
    };
    let scaled = u128::from(shifted).wrapping_mul(u128::from(t.tsc_to_system_mul)) >> 32;
    t.system_time.wrapping_add(u64::try_from(scaled).unwrap_or(u64::MAX))
}

/// The time-stamp counter (`rdtsc` after an `lfence`, so that earlier
/// instructions are done).
#[must_use]
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: lfence and rdtsc only order execution and read the counter.
    unsafe {
        core::arch::asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nostack));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The hypervisor's system time now (ns since boot, the running vCPU's
/// pvclock record applied to the TSC); `None` if shared_info is not mapped.
#[must_use]
pub fn now() -> Option<u64> {
    time_info().map(|t| pvclock_ns(&t, rdtsc()))
}

/// The value of `key=<value>` among the words of `cmdline`, if present.
#[must_use]
pub fn cmdline_value<'a>(cmdline: &'a [u8], key: &str) -> Option<&'a str> {
    let line = core::str::from_utf8(cmdline).ok()?;
    line.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}
