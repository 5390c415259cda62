// SPDX-License-Identifier: GPL-2.0-only
//! Page-table arithmetic and guarded memory access for the MMU test
//! kernels: entry addresses and frame numbers, and `peek`/`poke` that
//! catch the exception an access raises (through [`crate::probe!`]).

use crate::fault::Fault;

/// Page shift.
pub const PAGE_SHIFT: u32 = 12;
/// Page size.
pub const PAGE_SIZE: u64 = 4096;
/// Address bits of a page-table entry.
pub const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;
/// Present.
pub const PTE_P: u64 = 1 << 0;
/// Writable.
pub const PTE_RW: u64 = 1 << 1;
/// User-accessible.
pub const PTE_USER: u64 = 1 << 2;
/// Accessed.
pub const PTE_ACCESSED: u64 = 1 << 5;
/// Large page (in L2/L3 entries).
pub const PTE_PSE: u64 = 1 << 7;
/// No-execute.
pub const PTE_NX: u64 = 1 << 63;
/// A writable data mapping.
pub const DATA_RW: u64 = PTE_P | PTE_RW | PTE_USER | PTE_ACCESSED;
/// A read-only data mapping.
pub const DATA_RO: u64 = PTE_P | PTE_USER | PTE_ACCESSED;
/// An MFN far beyond any machine memory (just below 2^52 bytes) that is
/// not Xen's `INVALID_MFN` pattern.
pub const BOGUS_MFN: u64 = 0xff_ffff_ff00;
/// The hypervisor image's first frame on this hypervisor (physical 2 MiB).
pub const XEN_IMAGE_MFN: u64 = 0x200;

/// `base + 8 * index`: entry `index` of a table at `base`.
#[must_use]
pub const fn slot(base: u64, index: u64) -> u64 {
    base.wrapping_add(index.wrapping_mul(8))
}

/// The frame an entry points at.
#[must_use]
pub const fn pte_mfn(pte: u64) -> u64 {
    (pte & PTE_ADDR).wrapping_shr(PAGE_SHIFT)
}

/// The machine address of frame `mfn`.
#[must_use]
pub const fn maddr(mfn: u64) -> u64 {
    mfn.wrapping_shl(PAGE_SHIFT)
}

/// Reads a `u64` at `va`, or the exception that raised.
///
/// # Errors
///
/// The fault the read raised (a `#PF` is caught by the probe).
pub fn peek(va: u64) -> Result<u64, Fault> {
    let value: u64;
    // SAFETY: a read has no side effect; if `va` is not readable the
    // exception is caught by the probe.
    let fault = unsafe { crate::probe!("mov ({a}), {v}"; a = in(reg) va, v = out(reg) value) };
    fault.map_or(Ok(value), Err)
}

/// `mov %reg,(va)`: writes a `u64` at `va`; returns the exception it
/// raised, if any. Only for test kernels: callers write to their own
/// windows or spare frames, or to addresses whose write the hypervisor must
/// emulate or refuse.
pub fn poke(va: u64, value: u64) -> Option<Fault> {
    // SAFETY: the test kernels write only what the doc comment lists; a
    // refused write raises an exception the probe catches.
    unsafe { crate::probe!("mov {v}, ({a})"; a = in(reg) va, v = in(reg) value) }
}

/// Shows a read result.
pub struct Read(pub Result<u64, Fault>);

impl core::fmt::Display for Read {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Ok(v) => write!(f, "{v:#x}"),
            Err(fault) => write!(f, "{fault}"),
        }
    }
}

/// The read-only M2P entry of `mfn` (`MACH2PHYS_VIRT_START`), or the fault.
///
/// # Errors
///
/// The fault reading it raised (an MFN beyond the M2P).
pub fn m2p(mfn: u64) -> Result<u64, Fault> {
    peek(slot(guest_abi::xen::MACH2PHYS_VIRT_START, mfn))
}

/// What the dom0 builder left a kernel: its P2M list, the initial L4 and
/// the initial mapping at `VIRT_BASE` (through which the bootstrap page
/// tables are readable).
#[derive(Clone, Copy, Debug)]
pub struct InitialMapping {
    /// `start_info.nr_pages`.
    pub nr_pages: u64,
    /// VA of the P2M list (`start_info.mfn_list`).
    pub p2m: u64,
    /// MFN of the initial L4.
    pub l4_mfn: u64,
    /// PFNs below this may be in the initial mapping; spare frames are above.
    pub mapped_limit: u64,
}

impl InitialMapping {
    /// Reads the layout from `start_info`: the builder's layout ends with the
    /// page tables and one boot-stack page, and Xen rounds the mapping up to
    /// 4 MiB after at least 512 KiB of slack. `None` if it does not add up.
    #[must_use]
    pub fn new(si: &crate::StartInfo) -> Option<Self> {
        let virt_base = crate::entry::VIRT_BASE;
        let stack_end =
            si.pt_base.checked_add(si.nr_pt_frames.checked_add(1)?.checked_mul(PAGE_SIZE)?)?;
        let end = stack_end.checked_add(0x8_0000)?.checked_next_multiple_of(0x40_0000)?;
        let mapped_limit = end.checked_sub(virt_base)?.wrapping_shr(PAGE_SHIFT);
        let mut map = Self { nr_pages: si.nr_pages, p2m: si.mfn_list, l4_mfn: 0, mapped_limit };
        map.l4_mfn = map.va_to_mfn(si.pt_base)?;
        Some(map)
    }

    /// P2M lookup.
    #[must_use]
    pub fn mfn(&self, pfn: u64) -> Option<u64> {
        if pfn >= self.nr_pages {
            return None;
        }
        peek(slot(self.p2m, pfn)).ok()
    }

    /// How many PFNs the M2P does not map back to themselves, and the first
    /// of them; a PFN whose P2M entry is `skip` (no frame) is not counted.
    #[must_use]
    pub fn m2p_mismatches(&self, skip: Option<u64>) -> (u64, Option<u64>) {
        let mut bad = 0u64;
        let mut first_bad = None;
        for pfn in 0..self.nr_pages {
            let ok = self.mfn(pfn).is_some_and(|mfn| Some(mfn) == skip || m2p(mfn) == Ok(pfn));
            if !ok {
                bad = bad.wrapping_add(1);
                first_bad = first_bad.or(Some(pfn));
            }
        }
        (bad, first_bad)
    }

    /// The MFN behind an address of the initial mapping.
    #[must_use]
    pub fn va_to_mfn(&self, va: u64) -> Option<u64> {
        self.mfn(va.checked_sub(crate::entry::VIRT_BASE)?.wrapping_shr(PAGE_SHIFT))
    }

    /// Whether the domain owns `mfn` (M2P and P2M agree).
    #[must_use]
    pub fn owns(&self, mfn: u64) -> bool {
        m2p(mfn).is_ok_and(|pfn| self.mfn(pfn) == Some(mfn))
    }

    /// The VA of a bootstrap page-table frame in the initial mapping (mapped
    /// read-only there).
    #[must_use]
    pub fn table_va(&self, mfn: u64) -> Option<u64> {
        self.frame_va(mfn)
    }

    /// The VA of one of the domain's frames in the initial mapping (the
    /// builder's pages: start_info, the console and xenstore pages, ...).
    #[must_use]
    pub fn frame_va(&self, mfn: u64) -> Option<u64> {
        let pfn = m2p(mfn).ok()?;
        (pfn < self.mapped_limit && self.mfn(pfn) == Some(mfn))
            .then(|| crate::entry::VIRT_BASE.wrapping_add(pfn.wrapping_shl(PAGE_SHIFT)))
    }

    /// Entry `index` of the bootstrap table `mfn`.
    #[must_use]
    pub fn entry(&self, mfn: u64, index: u64) -> Option<u64> {
        peek(slot(self.table_va(mfn)?, index)).ok()
    }

    /// The table that entry `(va >> shift) & 511` of `table` points to, if
    /// present and not a superpage.
    #[must_use]
    pub fn next(&self, table: u64, va: u64, shift: u32) -> Option<u64> {
        let e = self.entry(table, va.wrapping_shr(shift) & 511)?;
        (e & PTE_P != 0 && e & PTE_PSE == 0).then_some(pte_mfn(e))
    }

    /// Spare frame `n`: PFN `nr_pages - 2 - n`, never mapped by the builder;
    /// returns `(pfn, mfn)`.
    #[must_use]
    pub fn spare(&self, n: u64) -> Option<(u64, u64)> {
        let pfn = self.nr_pages.checked_sub(n.checked_add(2)?)?;
        (pfn >= self.mapped_limit).then_some(())?;
        Some((pfn, self.mfn(pfn)?))
    }
}
