// SPDX-License-Identifier: GPL-2.0-only
//! Machine memory for the PV MMU: frame access through the direct map, the
//! machine-to-physical table and its read-only guest mapping.
//!
//! [`DirectMem`] implements `hv_core`'s `PhysMem` over the direct map for
//! the RAM regions of the memory map (anything else reads as 0 and ignores
//! writes). [`MachineM2p`] keeps the M2P in frames of its own, so that it
//! can also be mapped read-only and user-accessible at
//! `MACH2PHYS_VIRT_START` (L4 slot 256) in every guest's address space.

use alloc::vec::Vec;

use hv_core::mm::Mfn;
use hv_core::mm::pv::{INVALID_M2P_ENTRY, M2p, PhysMem};

use crate::FrameSource;
use crate::layout::maddr_to_virt;

const PAGE: u64 = 4096;

/// RAM frames, accessed through the direct map.
pub struct DirectMem {
    /// `(first, end)` frame ranges of RAM.
    ram: Vec<(u64, u64)>,
}

impl DirectMem {
    /// Memory over the RAM regions `(start, end)` (byte addresses), all of
    /// which the direct map covers.
    #[must_use]
    pub fn new(regions: &[(u64, u64)]) -> Self {
        let mut ram: Vec<(u64, u64)> =
            regions.iter().map(|&(s, e)| (s.div_ceil(PAGE), e / PAGE)).collect();
        // Largest first: guest frames are nearly all in the big regions,
        // so `frame_exists` (on every guest memory access) stops early.
        ram.sort_unstable_by_key(|&(s, e)| core::cmp::Reverse(e.saturating_sub(s)));
        Self { ram }
    }

    fn va(&self, mfn: Mfn) -> Option<u64> {
        self.frame_exists(mfn).then(|| maddr_to_virt(mfn.0 << 12))
    }

    /// Entry `index` of RAM frame `mfn` as an atomic word.
    fn atomic(&self, mfn: Mfn, index: usize) -> Option<&core::sync::atomic::AtomicU64> {
        let va = self.va(mfn).filter(|_| index < 512)?;
        // SAFETY: an 8-byte aligned word inside a RAM frame of the direct
        // map, which stays mapped for the hypervisor's lifetime; other CPUs
        // (and guests) only access it with plain or atomic word accesses,
        // which is what `AtomicU64` is for.
        Some(unsafe { &*((va as *const u64).add(index).cast::<core::sync::atomic::AtomicU64>()) })
    }
}

impl PhysMem for DirectMem {
    fn read_u64(&self, mfn: Mfn, index: usize) -> u64 {
        match self.va(mfn) {
            // SAFETY: `va` maps a RAM frame in the direct map; index < 512
            // keeps the read inside it.
            Some(va) if index < 512 => unsafe {
                core::ptr::read_volatile((va as *const u64).add(index))
            },
            _ => 0,
        }
    }

    fn write_u64(&mut self, mfn: Mfn, index: usize, val: u64) {
        if let Some(va) = self.va(mfn)
            && index < 512
        {
            // SAFETY: as in `read_u64`; the PV MMU decides which frames
            // may be written.
            unsafe { core::ptr::write_volatile((va as *mut u64).add(index), val) }
        }
    }

    fn fetch_or_u64(&mut self, mfn: Mfn, index: usize, bits: u64) -> u64 {
        match self.atomic(mfn, index) {
            Some(a) => a.fetch_or(bits, core::sync::atomic::Ordering::SeqCst),
            None => 0,
        }
    }

    fn fetch_and_u64(&mut self, mfn: Mfn, index: usize, bits: u64) -> u64 {
        match self.atomic(mfn, index) {
            Some(a) => a.fetch_and(bits, core::sync::atomic::Ordering::SeqCst),
            None => 0,
        }
    }

    fn frame_exists(&self, mfn: Mfn) -> bool {
        self.ram.iter().any(|&(s, e)| (s..e).contains(&mfn.0))
    }

    fn clean_cache(&mut self, mfn: Mfn) {
        if let Some(va) = self.va(mfn) {
            for line in (0..4096u64).step_by(64) {
                // SAFETY: `clflush` of a line of a RAM frame mapped in the
                // direct map: it writes the line back and drops it from
                // the caches, the memory's contents stay.
                unsafe {
                    core::arch::asm!("clflush [{}]", in(reg) va.wrapping_add(line), options(nostack));
                }
            }
            // SAFETY: a fence orders the flushes before what follows.
            unsafe { core::arch::asm!("mfence", options(nostack)) };
        }
    }

    fn zero_frame(&mut self, mfn: Mfn) {
        if let Some(va) = self.va(mfn) {
            // SAFETY: a whole RAM frame in the direct map.
            unsafe { core::ptr::write_bytes(va as *mut u8, 0, 4096) }
        }
    }

    fn copy_frame(&mut self, dst: Mfn, src: Mfn) {
        if let (Some(d), Some(s)) = (self.va(dst), self.va(src)) {
            // SAFETY: two RAM frames in the direct map; `copy` tolerates overlap.
            unsafe { core::ptr::copy(s as *const u8, d as *mut u8, 4096) }
        }
    }

    fn copy_bytes(&mut self, dst: Mfn, dst_off: usize, src: Mfn, src_off: usize, len: usize) {
        let n = len.min(4096usize.saturating_sub(src_off)).min(4096usize.saturating_sub(dst_off));
        if let (Some(d), Some(s)) = (self.va(dst), self.va(src))
            && n > 0
        {
            // SAFETY: `src_off + n <= 4096` and `dst_off + n <= 4096`: both
            // ranges lie inside direct-mapped RAM frames; `copy` tolerates
            // overlap (the same frame on both sides).
            unsafe {
                core::ptr::copy((s as *const u8).add(src_off), (d as *mut u8).add(dst_off), n)
            }
        }
    }

    fn read_u8(&self, mfn: Mfn, offset: usize) -> u8 {
        match self.va(mfn) {
            // SAFETY: `offset < 4096` inside a direct-mapped RAM frame.
            Some(va) if offset < 4096 => unsafe {
                core::ptr::read_volatile((va as *const u8).add(offset))
            },
            _ => 0,
        }
    }

    fn read_bytes(&self, mfn: Mfn, offset: usize, buf: &mut [u8]) {
        let n = buf.len().min(4096usize.saturating_sub(offset));
        match self.va(mfn) {
            Some(va) if n > 0 => {
                // SAFETY: `offset + n <= 4096` inside a direct-mapped RAM frame.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        (va as *const u8).add(offset),
                        buf.as_mut_ptr(),
                        n,
                    )
                }
                buf.iter_mut().skip(n).for_each(|b| *b = 0);
            }
            _ => buf.fill(0),
        }
    }

    fn write_bytes(&mut self, mfn: Mfn, offset: usize, bytes: &[u8]) {
        let n = bytes.len().min(4096usize.saturating_sub(offset));
        if let Some(va) = self.va(mfn)
            && n > 0
        {
            // SAFETY: `offset + n <= 4096` inside a direct-mapped RAM frame.
            unsafe {
                core::ptr::copy_nonoverlapping(bytes.as_ptr(), (va as *mut u8).add(offset), n)
            }
        }
    }
}

/// The M2P table in its own frames, plus the page tables mapping it
/// read-only for guests.
pub struct MachineM2p {
    /// Virtual address of the table (direct map).
    table: u64,
    /// Machine address of the table (contiguous frames).
    base: u64,
    /// Entries.
    entries: u64,
    /// L3 table to install in guest L4 slot 256.
    l3_maddr: u64,
}

/// Page-table flags of the guest-visible M2P mapping: present, user, read-only.
const RO_USER: u64 = 0x1 | 0x4 | 0x20;

impl MachineM2p {
    /// Allocates the M2P for frames `0..max_page` (all invalid) and its
    /// read-only mapping; `None` when memory runs out.
    pub fn new(max_page: u64, frames: &mut dyn FrameSource) -> Option<Self> {
        let bytes = max_page.checked_mul(8)?;
        let pages = bytes.div_ceil(PAGE).max(1);
        // One L2 maps 1 GiB = 128 Mi entries: plenty for this hypervisor.
        if pages > 512 * 512 {
            return None;
        }
        let base = frames.alloc_frames(pages, 1)?;
        let table = maddr_to_virt(base);
        // SAFETY: `pages` freshly allocated frames in the direct map.
        unsafe {
            core::ptr::write_bytes(
                table as *mut u8,
                0xff,
                usize::try_from(pages.checked_mul(PAGE)?).ok()?,
            )
        };
        let l3 = frames.alloc_frames(1, 1)?;
        let l2 = frames.alloc_frames(1, 1)?;
        let write = |table_pa: u64, idx: u64, val: u64| {
            // SAFETY: a freshly allocated page-table frame; idx < 512.
            unsafe {
                core::ptr::write_volatile(
                    (maddr_to_virt(table_pa) as *mut u64).add(usize::try_from(idx).unwrap_or(0)),
                    val,
                )
            }
        };
        write(l3, 0, l2 | RO_USER);
        let l1_count = pages.div_ceil(512);
        for i in 0..l1_count {
            let l1 = frames.alloc_frames(1, 1)?;
            write(l2, i, l1 | RO_USER);
            for j in 0..512 {
                let page = i.checked_mul(512)?.checked_add(j)?;
                if page >= pages {
                    break;
                }
                write(l1, j, base.checked_add(page.checked_mul(PAGE)?)? | RO_USER);
            }
        }
        Some(Self { table, base, entries: pages.checked_mul(512)?, l3_maddr: l3 })
    }

    /// The L4 entry for slot 256 of a guest page table.
    #[must_use]
    pub fn l4_entry(&self) -> u64 {
        self.l3_maddr | RO_USER
    }

    /// The machine frame at the start of each 2 MiB chunk of the table, in
    /// virtual-address order (`XENMEM_machphys_mfn_list`); the last chunk
    /// may be partly mapped.
    #[must_use]
    pub fn chunk_mfns(&self) -> alloc::vec::Vec<Mfn> {
        let bytes = self.entries.saturating_mul(8);
        let chunks = bytes.div_ceil(1 << 21);
        (0..chunks).map(|i| Mfn((self.base >> 12).saturating_add(i.saturating_mul(512)))).collect()
    }
}

impl M2p for MachineM2p {
    fn set_gpfn_from_mfn(&mut self, mfn: Mfn, gpfn: u64) {
        if mfn.0 < self.entries {
            // SAFETY: the index is inside the table's frames.
            unsafe {
                core::ptr::write_volatile(
                    (self.table as *mut u64).add(usize::try_from(mfn.0).unwrap_or(0)),
                    gpfn,
                )
            }
        }
    }

    fn get_gpfn_from_mfn(&self, mfn: Mfn) -> u64 {
        if mfn.0 < self.entries {
            // SAFETY: the index is inside the table's frames.
            unsafe {
                core::ptr::read_volatile(
                    (self.table as *const u64).add(usize::try_from(mfn.0).unwrap_or(0)),
                )
            }
        } else {
            INVALID_M2P_ENTRY
        }
    }
}

/// The hypervisor's entry for L4 slot `slot` (257–271) of every guest page
/// table: a copy of the idle page table's (supervisor-only).
#[must_use]
pub fn idle_l4_entry(idle_cr3: u64, slot: usize) -> u64 {
    if slot >= 512 {
        return 0;
    }
    // SAFETY: the idle PML4 is a live page-table frame in the direct map.
    unsafe { core::ptr::read_volatile((maddr_to_virt(idle_cr3 & !0xfff) as *const u64).add(slot)) }
}

/// A byte view of physical memory `[start, end)` (a boot module).
///
/// # Safety
/// The range must be RAM in the direct map that nothing writes while the
/// returned slice is alive (boot modules are reserved from the allocator).
#[must_use]
pub unsafe fn phys_slice(start: u64, end: u64) -> &'static [u8] {
    let len = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(maddr_to_virt(start) as *const u8, len) }
}
