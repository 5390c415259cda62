// SPDX-License-Identifier: GPL-2.0-only
//! The initial 4-level page tables of a PV domain, built in memory.
//!
//! Every page of `v_start..v_end` maps the frame of PFN
//! `(va - v_start) >> 12`; the bootstrap page-table frames themselves are
//! mapped read-only (a PV guest never holds a writable mapping of a page
//! table), everything else read-write, all user-accessible (64-bit PV
//! kernels run in ring 3) with Accessed and Dirty preset, as Xen's builders
//! do. The tables are taken in order from the layout's page-table area:
//! the L4 first, then each L3, L2 and L1 as the walk first needs it (Xen's
//! order), so `start_info.pt_base` is the L4.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::layout::Layout;

/// Present.
pub const PTE_PRESENT: u64 = 1 << 0;
/// Writable.
pub const PTE_RW: u64 = 1 << 1;
/// User.
pub const PTE_USER: u64 = 1 << 2;
/// Accessed.
pub const PTE_ACCESSED: u64 = 1 << 5;
/// Dirty.
pub const PTE_DIRTY: u64 = 1 << 6;
/// Address bits of an entry.
pub const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;
/// Entries of an upper-level table and writable data pages.
pub const PTE_DATA: u64 = PTE_PRESENT | PTE_RW | PTE_USER | PTE_ACCESSED | PTE_DIRTY;
/// Entries of the page-table frames themselves: read-only.
pub const PTE_TABLE_RO: u64 = PTE_PRESENT | PTE_USER | PTE_ACCESSED;

const PAGE: u64 = 4096;

/// One page table: its PFN and its 512 entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// PFN of the frame holding it.
    pub pfn: u64,
    /// The entries.
    pub entries: [u64; 512],
}

/// Why the tables cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// The layout's page-table area is too small (a layout bug).
    AreaExhausted,
    /// A PFN of the mapping has no frame in the P2M.
    NoFrame(u64),
    /// An MFN does not fit a page-table entry.
    BadMfn(u64),
}

fn index(va: u64, shift: u32) -> usize {
    usize::try_from(va.checked_shr(shift).unwrap_or(0) & 511).unwrap_or(0)
}

/// Builds the tables mapping `layout`'s `v_start..v_end` through `p2m`
/// (PFN → MFN). Element 0 is the L4.
///
/// # Errors
/// See [`TableError`].
pub fn build(layout: &Layout, p2m: &[u64]) -> Result<Vec<Table>, TableError> {
    let v_start = layout.v_start;
    let pfn_of = |va: u64| va.saturating_sub(v_start) / PAGE;
    let mfn_of = |pfn: u64| -> Result<u64, TableError> {
        let m = usize::try_from(pfn).ok().and_then(|i| p2m.get(i)).copied();
        let m = m.ok_or(TableError::NoFrame(pfn))?;
        if m.checked_shl(12).is_none_or(|a| a & !PTE_ADDR != 0) {
            return Err(TableError::BadMfn(m));
        }
        Ok(m)
    };
    let (pt_start, pt_end) = layout.page_tables;
    let mut tables: Vec<Table> = Vec::new();
    let mut by_mfn: BTreeMap<u64, usize> = BTreeMap::new();
    let mut next_pt = pt_start;
    let mut take = |tables: &mut Vec<Table>,
                    by_mfn: &mut BTreeMap<u64, usize>|
     -> Result<(usize, u64), TableError> {
        if next_pt >= pt_end {
            return Err(TableError::AreaExhausted);
        }
        let pfn = pfn_of(next_pt);
        let mfn = mfn_of(pfn)?;
        next_pt = next_pt.saturating_add(PAGE);
        tables.push(Table { pfn, entries: [0; 512] });
        let at = tables.len().saturating_sub(1);
        by_mfn.insert(mfn, at);
        Ok((at, mfn))
    };
    let (l4, _) = take(&mut tables, &mut by_mfn)?;
    let mut va = v_start;
    while va < layout.v_end {
        let mut table = l4;
        for shift in [39u32, 30, 21] {
            let slot = index(va, shift);
            let entry = tables.get(table).and_then(|t| t.entries.get(slot)).copied().unwrap_or(0);
            table = if entry & PTE_PRESENT != 0 {
                let child = (entry & PTE_ADDR) >> 12;
                *by_mfn.get(&child).ok_or(TableError::AreaExhausted)?
            } else {
                let (at, mfn) = take(&mut tables, &mut by_mfn)?;
                if let Some(e) = tables.get_mut(table).and_then(|t| t.entries.get_mut(slot)) {
                    *e = (mfn << 12) | PTE_DATA;
                }
                at
            };
        }
        let mfn = mfn_of(pfn_of(va))?;
        let flags = if (pt_start..pt_end).contains(&va) { PTE_TABLE_RO } else { PTE_DATA };
        if let Some(e) = tables.get_mut(table).and_then(|t| t.entries.get_mut(index(va, 12))) {
            *e = (mfn << 12) | flags;
        }
        va = va.saturating_add(PAGE);
    }
    Ok(tables)
}

/// Adds the P2M list's own mapping (`INIT_P2M`, see [`crate::p2m_map`]) to
/// the tables [`build`] made (the L4 is the first): `map[i]` is the page
/// of PFN `first_pfn + i`; its tables are new tables hooked into the L4 and
/// each other, its data pages mapped writable.
///
/// # Errors
/// A PFN without a frame, an MFN that does not fit an entry, or a map
/// whose tables do not precede their entries' use (not from
/// [`crate::p2m_map`]).
pub fn add_p2m_mapping(
    tables: &mut Vec<Table>,
    map: &[crate::p2m_map::MapPage],
    first_pfn: u64,
    p2m: &[u64],
) -> Result<(), TableError> {
    use crate::p2m_map::Role;
    let mfn_of = |pfn: u64| -> Result<u64, TableError> {
        let m = usize::try_from(pfn).ok().and_then(|i| p2m.get(i)).copied();
        let m = m.ok_or(TableError::NoFrame(pfn))?;
        if m.checked_shl(12).is_none_or(|a| a & !PTE_ADDR != 0) {
            return Err(TableError::BadMfn(m));
        }
        Ok(m)
    };
    // (level shift of the region a table covers, region number) -> table.
    let mut by_region: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    let region = |shift: u32, va: u64| (shift, va.checked_shr(shift).unwrap_or(0));
    for (page, pfn) in map.iter().zip(first_pfn..) {
        if !matches!(page.role, Role::Data) {
            tables.push(Table { pfn, entries: [0; 512] });
            let shift = match page.role {
                Role::L3 => 39,
                Role::L2 => 30,
                _ => 21,
            };
            by_region.insert(region(shift, page.va), tables.len().saturating_sub(1));
        }
    }
    for (page, pfn) in map.iter().zip(first_pfn..) {
        // The table this page's entry goes into, and the entry's index.
        let (parent, slot) = match page.role {
            Role::L3 => (Some(0), index(page.va, 39)),
            Role::L2 => (by_region.get(&region(39, page.va)).copied(), index(page.va, 30)),
            Role::L1 => (by_region.get(&region(30, page.va)).copied(), index(page.va, 21)),
            Role::Data => (by_region.get(&region(21, page.va)).copied(), index(page.va, 12)),
        };
        let parent = parent.ok_or(TableError::AreaExhausted)?;
        let entry = (mfn_of(pfn)? << 12) | PTE_DATA;
        let e = tables.get_mut(parent).and_then(|t| t.entries.get_mut(slot));
        *e.ok_or(TableError::AreaExhausted)? = entry;
    }
    Ok(())
}
