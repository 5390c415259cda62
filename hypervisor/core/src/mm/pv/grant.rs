// SPDX-License-Identifier: GPL-2.0-only
//! Grant host mappings for PV guests (Xen's `arch/x86/pv/grant_table.c`:
//! `create_grant_pv_mapping`, `replace_grant_pv_mapping`,
//! `steal_linear_address`).
//!
//! A grant mapping is an ordinary L1 entry of the mapping domain that names
//! a frame of the granting domain. The grant operation takes the frame's
//! references itself (a general reference, plus a `Writable` type
//! reference for a writable mapping) and then writes the entry here
//! *without* `get_page_from_l1e` (Xen's `UPDATE_ENTRY`); the entry replaced
//! drops its references as usual. From then on the PTE holds those
//! references exactly as an ordinary L1 entry would, so:
//!
//! * the reference-count audit counts it like any foreign L1 entry;
//! * destroying the mapping domain's page tables drops them (Xen PV's
//!   `gnttab_release_host_mappings` is false);
//! * an ordinary `mmu_update`/`update_va_mapping` that overwrites a
//!   grant PTE drops them through `put_page_from_l1e` (Xen 4.17 release
//!   builds have `_PAGE_GNTTAB` = 0: such a PTE is not told apart, see
//!   `put_page_from_l1e`'s comment). The counts stay right; the grant
//!   stays pinned (`GTF_reading`/`GTF_writing` set) until the mapping
//!   domain dies, and a later `GNTTABOP_unmap_grant_ref` of it fails with
//!   `GNTST_general_error` because the PTE no longer maps the frame.
//!
//! Ordinary `mmu_update` cannot forge a grant mapping: `get_page_from_l1e`
//! only takes references on the page owner's own frames, and a
//! `foreigndom` mapping needs the privilege to map that domain's memory
//! anyway.
//!
//! The entry is located by machine address (`GNTMAP_contains_pte`, 8-byte
//! aligned) or by the linear address in the caller's current page tables;
//! either way the L1 must be the caller's and a validated L1 table
//! (`page_lock`), else `GNTST_general_error`.

use guest_abi::grant_table::{
    GNTMAP_application_map, GNTMAP_contains_pte, GNTMAP_guest_avail0, GNTMAP_readonly, GntSt,
};
use guest_abi::xen::DomId;

use super::PvMm;
use super::frame_table::MAX_REF_COUNT;
use super::types::{
    Level, PAGE_ACCESSED, PAGE_AVAIL, PAGE_DIRTY, PAGE_GLOBAL, PAGE_GUEST_KERNEL, PAGE_PRESENT,
    PAGE_RW, PAGE_USER, PageType, pte_mfn,
};
use crate::mm::Mfn;

/// Where the PTE of a grant host mapping is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantPte {
    /// `GNTMAP_contains_pte`: the entry's machine address.
    Machine(u64),
    /// The L1 table and index the caller's page tables map the linear
    /// address through (`map_guest_l1e`); `None` when they do not.
    Linear(Option<(Mfn, usize)>),
}

impl GrantPte {
    /// The location for `addr` and the map flags: `resolve_linear` walks
    /// the caller's page tables.
    pub fn new(
        addr: u64,
        flags: u32,
        resolve_linear: impl FnOnce(u64) -> Option<(Mfn, usize)>,
    ) -> Self {
        if flags & GNTMAP_contains_pte != 0 {
            Self::Machine(addr)
        } else {
            Self::Linear(resolve_linear(addr))
        }
    }

    /// The L1 frame and index.
    fn slot(self) -> Option<(Mfn, usize)> {
        match self {
            Self::Machine(addr) if addr % 8 == 0 => {
                Some((Mfn(addr >> 12), usize::try_from((addr & 0xfff) / 8).ok()?))
            }
            Self::Machine(_) => None,
            Self::Linear(slot) => slot,
        }
    }
}

/// `grant_to_pte_flags` (no cache attributes: only I/O frames carry them,
/// and their grants are mapped without): present, accessed, dirty,
/// writable unless `GNTMAP_readonly`, user with `GNTMAP_application_map`,
/// the guest-available bits from the flags. Xen also sets `_PAGE_NX` when
/// the CPU has it; it is left out here (the hypervisor does not know the
/// guest-visible NX support at this level).
#[must_use]
pub const fn grant_to_pte_flags(flags: u32) -> u64 {
    let mut pte = PAGE_PRESENT | PAGE_ACCESSED | PAGE_DIRTY;
    if flags & GNTMAP_application_map != 0 {
        pte |= PAGE_USER;
    }
    if flags & GNTMAP_readonly == 0 {
        pte |= PAGE_RW;
    }
    pte | (((flags >> GNTMAP_guest_avail0) as u64) << 9) & PAGE_AVAIL
}

impl PvMm<'_> {
    /// Runs `f` on the validated L1 table `l1` of `dom` under a temporary
    /// general and type reference (`get_page_from_mfn` + `page_lock`).
    fn with_locked_l1<R>(
        &mut self,
        dom: DomId,
        l1: Mfn,
        f: impl FnOnce(&mut Self) -> Result<R, GntSt>,
    ) -> Result<R, GntSt> {
        if !self.mem.frame_exists(l1) || !self.frames.get_page(l1, dom) {
            return Err(GntSt::GeneralError);
        }
        let t = self.frames.get(l1).map(|p| p.type_info).unwrap_or_default();
        let rc = if t.ty == PageType::L1 && t.validated && t.count > 0 && t.count < MAX_REF_COUNT {
            if let Some(p) = self.frames.get_mut(l1) {
                p.type_info.count = p.type_info.count.saturating_add(1);
            }
            let rc = f(self);
            self.put_page_type(l1);
            rc
        } else {
            Err(GntSt::GeneralError)
        };
        self.frames.put_page(l1);
        rc
    }

    /// Xen's `create_grant_pv_mapping`: writes the grant PTE for `frame`
    /// at `at` in a page table of `dom` (the caller), whose references the
    /// caller of this function already took; the replaced entry's
    /// references are dropped.
    ///
    /// # Errors
    /// `GNTST_general_error` when the entry cannot be found or its table is
    /// not a validated L1 table of `dom`.
    pub fn create_grant_pv_mapping(
        &mut self,
        dom: DomId,
        at: GrantPte,
        frame: Mfn,
        flags: u32,
    ) -> Result<(), GntSt> {
        let (l1, index) = at.slot().ok_or(GntSt::GeneralError)?;
        let nl1e = Level::L1.adjust_guest_entry((frame.0 << 12) | grant_to_pte_flags(flags));
        let old = self.with_locked_l1(dom, l1, |mm| {
            let old = mm.mem.read_u64(l1, index);
            mm.mem.write_u64(l1, index, nl1e);
            Ok(old)
        })?;
        self.put_page_from_entry(Level::L1, old, l1);
        Ok(())
    }

    /// Xen's `replace_grant_pv_mapping`: clears the grant PTE at `at` in
    /// a page table of `dom` if it still maps `frame` with the grant's
    /// presence and writability, leaving its references to the caller
    /// (which drops the mapping's references). With `new` (the L1 slot of
    /// `GNTTABOP_unmap_and_replace`'s `new_addr` in the caller's tables)
    /// that entry is moved into the grant PTE's place instead, references
    /// and all (`steal_linear_address`); if the replacement then fails the
    /// moved entry's references are dropped, as in Xen.
    ///
    /// # Errors
    /// `GNTST_general_error` when an entry cannot be found, its table is
    /// not a validated L1 table of `dom`, the grant PTE no longer maps the
    /// grant, or `new` is given for a `GNTMAP_contains_pte` mapping.
    pub fn replace_grant_pv_mapping(
        &mut self,
        dom: DomId,
        at: GrantPte,
        frame: Mfn,
        flags: u32,
        new: Option<Option<(Mfn, usize)>>,
    ) -> Result<(), GntSt> {
        let mut grant_flags = grant_to_pte_flags(flags);
        grant_flags |=
            if grant_flags & PAGE_USER != 0 { PAGE_GLOBAL } else { PAGE_GUEST_KERNEL | PAGE_USER };
        if new.is_some() && flags & GNTMAP_contains_pte != 0 {
            // "Replace not available in this addressing mode."
            return Err(GntSt::GeneralError);
        }
        let stolen = match new {
            Some(slot) => {
                let (l1, index) = slot.ok_or(GntSt::GeneralError)?;
                let e = self.with_locked_l1(dom, l1, |mm| {
                    let old = mm.mem.read_u64(l1, index);
                    mm.mem.write_u64(l1, index, 0);
                    Ok(old)
                })?;
                Some((e, l1))
            }
            None => None,
        };
        let nl1e = stolen.map_or(0, |(e, _)| e);
        let rc = match at.slot() {
            None => Err(GntSt::GeneralError),
            Some((l1, index)) => self.with_locked_l1(dom, l1, |mm| {
                let old = mm.mem.read_u64(l1, index);
                if pte_mfn(old) != frame || (old ^ grant_flags) & (PAGE_PRESENT | PAGE_RW) != 0 {
                    return Err(GntSt::GeneralError);
                }
                mm.mem.write_u64(l1, index, nl1e);
                Ok(())
            }),
        };
        if rc.is_err()
            && let Some((e, l1)) = stolen
        {
            self.put_page_from_entry(Level::L1, e, l1);
        }
        rc
    }
}
