// SPDX-License-Identifier: GPL-2.0-only
//! The P2M list at the kernel's `INIT_P2M` address, mapped by page tables of
//! its own (Xen's `setup_pv_physmap`).
//!
//! A kernel with an `INIT_P2M` note (Linux: `0x8000000000`) wants its P2M
//! list outside the initial mapping, so the list does not eat into the
//! kernel's 1 GiB image window. Xen then takes the list's pages and the
//! page-table pages that map them from the domain's own allocation, after
//! the initial mapping and the initrd (`start_info.first_p2m_pfn`,
//! `nr_p2m_frames`), and hooks the tables into the initial L4.
//!
//! [`pages`] lists those pages in the order Xen's dom0 builder allocates
//! them ([`pages_libxc`]: the order the toolstack's builder numbers them
//! for a domU, data first, then the tables level by level), walking the
//! list's range a page at a time: an L3 when the walk enters a new 512 GiB
//! slot, an L2 for a new 1 GiB region, an L1 for a new 2 MiB region, then
//! the data page. Xen maps whole 1 GiB / 2 MiB stretches with superpages
//! when it can allocate them; this builder always maps 4 KiB pages (Xen's
//! own fallback when no superpage is free), so the PV MMU never meets a
//! superpage in a guest table.
//!
//! [`check`] refuses a range that overlaps the initial mapping (Xen panics:
//! "DOM0 P->M table overlaps initial mapping"), that is not guest address
//! space, or that shares a 512 GiB L4 slot with the initial mapping (Xen
//! would hang its tables below the initial mapping's; this builder keeps
//! them apart, which every kernel using the note does).

use alloc::vec::Vec;

use guest_abi::xen::HYPERVISOR_VIRT_END;

const PAGE_SIZE: u64 = 4096;
const L2_SHIFT: u32 = 21;
const L3_SHIFT: u32 = 30;
const L4_SHIFT: u32 = 39;

/// What one page of the P2M area's mapping is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An L3 table, hooked into the L4 slot of `va`.
    L3,
    /// An L2 table, hooked into its L3 at `va`.
    L2,
    /// An L1 table, hooked into its L2 at `va`.
    L1,
    /// A page of the P2M list itself, mapped at `va`.
    Data,
}

/// One page the P2M area takes from the domain's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapPage {
    /// Its role.
    pub role: Role,
    /// The (page-aligned) address it maps or is the table for.
    pub va: u64,
}

/// Why the P2M cannot go where the kernel asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P2mMapError {
    /// The range overlaps the initial mapping.
    OverlapsInitialMapping,
    /// The range shares a 512 GiB slot with the initial mapping.
    SharesL4Slot,
    /// The range is not guest address space (non-canonical, the
    /// hypervisor's hole, or wrapping).
    NotGuestSpace,
}

impl core::fmt::Display for P2mMapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::OverlapsInitialMapping => "the P->M table overlaps the initial mapping",
            Self::SharesL4Slot => "the P->M table shares a 512 GiB slot with the initial mapping",
            Self::NotGuestSpace => "the P->M table is not in guest address space",
        })
    }
}

/// Checks the list's range `[base, end)` against the initial mapping
/// `[v_start, v_end)`.
///
/// # Errors
/// See [`P2mMapError`].
pub fn check(base: u64, end: u64, v_start: u64, v_end: u64) -> Result<(), P2mMapError> {
    let lower = end <= 1 << 47;
    let upper = base >= HYPERVISOR_VIRT_END && base < end;
    if end < base || !(lower || upper) {
        return Err(P2mMapError::NotGuestSpace);
    }
    if v_start <= end && base <= v_end {
        return Err(P2mMapError::OverlapsInitialMapping);
    }
    let slots = |lo: u64, hi: u64| (lo >> L4_SHIFT, hi.saturating_sub(1) >> L4_SHIFT);
    let (a0, a1) = slots(base, end);
    let (b0, b1) = slots(v_start, v_end);
    if a0 <= b1 && b0 <= a1 {
        return Err(P2mMapError::SharesL4Slot);
    }
    Ok(())
}

/// The pages that map `[base, end)`, in Xen's allocation order.
#[must_use]
pub fn pages(base: u64, end: u64) -> Vec<MapPage> {
    let mut out = Vec::new();
    let mut va = base & !(PAGE_SIZE - 1);
    let mut last: Option<u64> = None;
    while va < end {
        let changed = |shift: u32| last.is_none_or(|l| l >> shift != va >> shift);
        for (shift, role) in [(L4_SHIFT, Role::L3), (L3_SHIFT, Role::L2), (L2_SHIFT, Role::L1)] {
            if changed(shift) {
                out.push(MapPage { role, va });
            }
        }
        out.push(MapPage { role: Role::Data, va });
        last = Some(va);
        va = va.saturating_add(PAGE_SIZE);
        if va == 0 {
            break;
        }
    }
    out
}

/// The same pages in the order libxenguest numbers them for a domU
/// (`alloc_p2m_list_x86_64`: the list's data pages, then the L3 tables,
/// then the L2s, then the L1s, each level in address order).
#[must_use]
pub fn pages_libxc(base: u64, end: u64) -> Vec<MapPage> {
    let walk = pages(base, end);
    let mut out: Vec<MapPage> = walk.iter().filter(|p| p.role == Role::Data).copied().collect();
    for role in [Role::L3, Role::L2, Role::L1] {
        out.extend(walk.iter().filter(|p| p.role == role).copied());
    }
    out
}

/// `start_info.first_p2m_pfn`: after the initial allocation (Xen allocates
/// the initial mapping, less a mapped initrd, as one power-of-two chunk)
/// and the initrd's pages. `mapped_pages` is the initial mapping's size
/// in pages, `mapped_initrd_pages` the part of it that is the initrd.
#[must_use]
pub fn first_pfn(mapped_pages: u64, mapped_initrd_pages: u64, initrd_pages: u64) -> u64 {
    let chunk = mapped_pages.saturating_sub(mapped_initrd_pages).max(1);
    chunk.checked_next_power_of_two().unwrap_or(u64::MAX).saturating_add(initrd_pages)
}

#[cfg(test)]
mod tests;
