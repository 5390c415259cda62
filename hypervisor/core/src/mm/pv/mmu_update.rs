// SPDX-License-Identifier: GPL-2.0-only
//! `HYPERVISOR_mmu_update`: Xen's `do_mmu_update` and `mod_lN_entry`.
//!
//! Each request names a machine address (`ptr`) whose low three bits are
//! the command (`ptr & 7`, so a pointer that is not 8-byte aligned is an
//! unknown command and gets `ENOSYS`):
//!
//! * `MMU_NORMAL_PT_UPDATE` (and `MMU_PT_UPDATE_NO_TRANSLATE`, identical
//!   for PV): write `val` into the entry at `ptr`. The frame must belong to
//!   the page-table owner. If it is a validated page table the write goes
//!   through `mod_lN_entry`: the new entry is validated for that level and
//!   takes its references *before* it is written, and only then are the
//!   old entry's references dropped. A new L1 entry maps a frame of the
//!   page owner; L2–L4 tables refuse any update (`EINVAL`) when the page
//!   owner is another domain than the table's. A frame in no protected use is written as
//!   plain data under a temporary `Writable` type reference, as in Xen;
//!   descriptor pages and untyped in-use frames are refused.
//! * `MMU_PT_UPDATE_PRESERVE_AD`: the same, keeping the old entry's
//!   Accessed/Dirty bits (ORed into the new value).
//! * `MMU_MACHPHYS_UPDATE`: set the M2P entry of the frame at `ptr`, which
//!   the page owner must own (a domain builder sets up a domU's M2P this
//!   way); refused (`EPERM`) when the page tables are another domain's.
//!
//! Requests run in order and stop at the first failure; the caller learns
//! how many succeeded. The fast path of `mod_lN_entry` (no reference
//! changes) applies only when the address and every flag outside
//! [`FASTPATH_FLAG_WHITELIST`] are unchanged, so RW or PRESENT can never
//! be flipped without re-validation (XSA-182).
//!
//! [`FASTPATH_FLAG_WHITELIST`]: super::types::FASTPATH_FLAG_WHITELIST

use guest_abi::xen::{DomId, Errno, MmuUpdate, MmuUpdateCmd};

use super::frame_table::MAX_REF_COUNT;
use super::types::{
    Level, PAGE_ACCESSED, PAGE_DIRTY, PT_ENTRIES, PageType, pte_needs_revalidation, pte_present,
};
use super::{MmuOwners, PvMm};
use crate::mm::Mfn;

/// `ptr & (sizeof(l1_pgentry_t) - 1)`: the command bits Xen decodes.
const CMD_MASK: u64 = 7;
const NORMAL_PT_UPDATE: u64 = MmuUpdateCmd::NormalPtUpdate.raw() as u64;
const MACHPHYS_UPDATE: u64 = MmuUpdateCmd::MachphysUpdate.raw() as u64;
const PT_UPDATE_PRESERVE_AD: u64 = MmuUpdateCmd::PtUpdatePreserveAd.raw() as u64;
const PT_UPDATE_NO_TRANSLATE: u64 = MmuUpdateCmd::PtUpdateNoTranslate.raw() as u64;

/// What [`PvMm::ptwr_update`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PtwrResult {
    /// The entry was validated and written.
    Updated,
    /// A compare-exchange found this value instead of the expected one;
    /// nothing changed (`X86EMUL_CMPXCHG_FAILED`).
    Mismatch(u64),
}

impl PvMm<'_> {
    /// Xen's `do_mmu_update` for `dom` on its own page tables
    /// (`foreigndom` = `DOMID_SELF`).
    ///
    /// Returns how many requests were applied and the error of the first
    /// failing one; requests before it stay applied.
    pub fn do_mmu_update(&mut self, dom: DomId, reqs: &[MmuUpdate]) -> (usize, Result<(), Errno>) {
        self.do_mmu_update_as(MmuOwners::local(dom), reqs)
    }

    /// Xen's `do_mmu_update` with page-table owner `owners.pt` and page
    /// owner `owners.pg` (resolved from `foreigndom` by the caller, which
    /// also checks access control).
    ///
    /// Returns how many requests were applied and the error of the first
    /// failing one; requests before it stay applied.
    pub fn do_mmu_update_as(
        &mut self,
        owners: MmuOwners,
        reqs: &[MmuUpdate],
    ) -> (usize, Result<(), Errno>) {
        for (i, req) in reqs.iter().enumerate() {
            if let Err(e) = self.mmu_update_one(owners, req) {
                return (i, Err(e));
            }
        }
        (reqs.len(), Ok(()))
    }

    fn mmu_update_one(&mut self, owners: MmuOwners, req: &MmuUpdate) -> Result<(), Errno> {
        let cmd = req.ptr & CMD_MASK;
        let ptr = req.ptr & !CMD_MASK;
        match cmd {
            NORMAL_PT_UPDATE | PT_UPDATE_NO_TRANSLATE => {
                self.normal_pt_update(owners, ptr, req.val, false)
            }
            PT_UPDATE_PRESERVE_AD => self.normal_pt_update(owners, ptr, req.val, true),
            MACHPHYS_UPDATE => self.machphys_update(owners, ptr, req.val),
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `MMU_MACHPHYS_UPDATE`: `set_gpfn_from_mfn(ptr >> 12, val)` for a
    /// frame of the page owner; only on the caller's own page tables.
    fn machphys_update(&mut self, owners: MmuOwners, ptr: u64, gpfn: u64) -> Result<(), Errno> {
        if owners.caller != owners.pt {
            return Err(Errno::EPERM);
        }
        let mfn = Mfn(ptr >> 12);
        if !self.frames.get_page(mfn, owners.pg) {
            return Err(Errno::EINVAL);
        }
        self.m2p.set_gpfn_from_mfn(mfn, gpfn);
        self.frames.put_page(mfn);
        Ok(())
    }

    /// `MMU_NORMAL_PT_UPDATE` / `MMU_PT_UPDATE_PRESERVE_AD` at machine
    /// address `ptr` (8-byte aligned).
    fn normal_pt_update(
        &mut self,
        owners: MmuOwners,
        ptr: u64,
        val: u64,
        preserve_ad: bool,
    ) -> Result<(), Errno> {
        let mfn = Mfn(ptr >> 12);
        let index = usize::try_from((ptr >> 3) & 511).map_err(|_| Errno::EINVAL)?;
        if !self.frames.get_page(mfn, owners.pt) {
            return Err(Errno::EINVAL);
        }
        let rc = if self.mem.frame_exists(mfn) {
            self.update_entry(owners, mfn, index, val, preserve_ad)
        } else {
            Err(Errno::EINVAL)
        };
        self.frames.put_page(mfn);
        rc
    }

    /// The body of `do_mmu_update` under `page_lock` (a temporary type
    /// reference on a validated, in-use frame) or, for frames in no use,
    /// under a temporary `Writable` type reference.
    fn update_entry(
        &mut self,
        owners: MmuOwners,
        mfn: Mfn,
        index: usize,
        val: u64,
        preserve_ad: bool,
    ) -> Result<(), Errno> {
        let t = self.frames.get(mfn).map(|p| p.type_info).unwrap_or_default();
        if t.count > 0 && t.validated && t.count < MAX_REF_COUNT {
            // page_lock
            if let Some(p) = self.frames.get_mut(mfn) {
                p.type_info.count = p.type_info.count.saturating_add(1);
            }
            let rc = match (t.ty.level(), t.ty) {
                // Upper levels never cross domains.
                (Some(level), _) if level != Level::L1 && owners.crosses_domains() => {
                    Err(Errno::EINVAL)
                }
                (Some(level), _) => self.mod_entry(level, owners, mfn, index, val, preserve_ad),
                (None, PageType::Writable) => {
                    self.mem.write_u64(mfn, index, val);
                    Ok(())
                }
                (None, _) => Err(Errno::EINVAL),
            };
            // page_unlock
            self.put_page_type(mfn);
            rc
        } else if self.get_page_type(mfn, PageType::Writable).is_ok() {
            self.mem.write_u64(mfn, index, val);
            self.put_page_type(mfn);
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }

    /// The page-table side of Xen's `ptwr_emulated_update`: an emulated
    /// guest write of `new` into entry `index` of the L1 table `l1` that
    /// `dom` maps read-only (writable page tables).
    ///
    /// `l1` must be owned by `dom` and be an in-use, validated L1 table
    /// (`ptwr_do_page_fault`'s `get_page_from_mfn` and `page_lock`). With
    /// `expected_old` the write is a compare-exchange: if the entry does
    /// not hold that value nothing changes and the current value is
    /// returned. The new entry is validated and written exactly as by
    /// `mmu_update` (`mod_l1_entry`: disallow mask, `get_page_from_l1e`,
    /// then the old entry's references are dropped); no Accessed/Dirty
    /// bits are preserved, as in Xen's `UPDATE_ENTRY`.
    ///
    /// # Errors
    ///
    /// `EINVAL` when `l1` is not such a table or `index` is out of range;
    /// otherwise the validation error of the new entry (nothing written).
    pub fn ptwr_update(
        &mut self,
        dom: DomId,
        l1: Mfn,
        index: usize,
        expected_old: Option<u64>,
        new: u64,
    ) -> Result<PtwrResult, Errno> {
        if index >= PT_ENTRIES || !self.mem.frame_exists(l1) {
            return Err(Errno::EINVAL);
        }
        if !self.frames.get_page(l1, dom) {
            return Err(Errno::EINVAL);
        }
        let t = self.frames.get(l1).map(|p| p.type_info).unwrap_or_default();
        let rc = if t.ty == PageType::L1 && t.validated && t.count > 0 && t.count < MAX_REF_COUNT {
            // page_lock
            if let Some(p) = self.frames.get_mut(l1) {
                p.type_info.count = p.type_info.count.saturating_add(1);
            }
            let current = self.mem.read_u64(l1, index);
            let rc = match expected_old {
                Some(old) if old != current => Ok(PtwrResult::Mismatch(current)),
                _ => self
                    .mod_entry(Level::L1, MmuOwners::local(dom), l1, index, new, false)
                    .map(|()| PtwrResult::Updated),
            };
            // page_unlock
            self.put_page_type(l1);
            rc
        } else {
            Err(Errno::EINVAL)
        };
        self.frames.put_page(l1);
        rc
    }

    /// `mod_l1_entry` … `mod_l4_entry`: replace entry `index` of the
    /// validated `level` table `table` (of `owners.pt`) by `new` (for L1,
    /// mapping a frame of `owners.pg`).
    fn mod_entry(
        &mut self,
        level: Level,
        owners: MmuOwners,
        table: Mfn,
        index: usize,
        new: u64,
        preserve_ad: bool,
    ) -> Result<(), Errno> {
        if !level.is_guest_slot(index) {
            return Err(Errno::EINVAL); // L4 update in the hypervisor's slots
        }
        let old = self.mem.read_u64(table, index);
        let ad = if preserve_ad { old & (PAGE_ACCESSED | PAGE_DIRTY) } else { 0 };
        if pte_present(new) {
            if new & level.disallow_mask(self.hooks.has_iomem_caps(owners.pt)) != 0 {
                return Err(Errno::EINVAL);
            }
            if !pte_needs_revalidation(old, new) {
                // Fast path: same frame, same protection; no references move.
                self.mem.write_u64(table, index, level.adjust_guest_entry(new) | ad);
                return Ok(());
            }
            self.get_page_from_entry(level, new, table, owners)?;
            self.mem.write_u64(table, index, level.adjust_guest_entry(new) | ad);
        } else {
            self.mem.write_u64(table, index, new | ad);
        }
        self.put_page_from_entry(level, old, table);
        Ok(())
    }
}
