// SPDX-License-Identifier: GPL-2.0-only
//! Entry validation: Xen's `get_page_from_lNe`, `put_page_from_lNe` and
//! `get_lN_linear_pagetable`.
//!
//! What one present entry holds while its table is validated:
//!
//! | entry | points to | references held |
//! |---|---|---|
//! | L1, read-only | own frame | general |
//! | L1, writable | own frame | general + `Writable` type |
//! | L1 | I/O frame (outside the table or owned by `DOMID_IO`) | none; needs [`PvHooks::iomem_access_permitted`] |
//! | L2/L3/L4 | own table one level down | general + that level's type |
//! | L2/L3/L4, read-only | itself | none (self-map) |
//! | L2/L3/L4, read-only | another validated table of the same level | general + type, counted as linear |
//!
//! Anything else is refused: flags in the level's disallow mask (`EINVAL`;
//! this includes PSE, so superpages), a foreign, free or hypervisor frame
//! (`EBUSY` at L1 as Xen's `could_not_pin`, `EINVAL` above), a writable
//! mapping of a frame in a protected role (`EBUSY`), a type conflict
//! (`EINVAL`), an I/O frame without permission (`EPERM`).
//!
//! An L1 entry is validated for two domains ([`MmuOwners`]): the table's
//! owner (`l1e_owner`: disallow mask, cache attributes) and the page owner
//! (`pg_owner`), whose frame the entry must map and which holds the
//! references above — "own frame" in the table is the page owner's frame.
//! An I/O frame needs the permission of the page owner (the caller for
//! `DOMID_IO`) and of the table's owner. Upper-level entries and entries
//! checked while a table is validated have one owner for both.
//!
//! [`PvHooks::iomem_access_permitted`]: super::PvHooks::iomem_access_permitted

use guest_abi::xen::{DomId, Errno};

use super::frame_table::MAX_REF_COUNT;
use super::types::{INVALID_PTE_MFN, Level, PageType, pte_mfn, pte_present, pte_writable};
use super::{MmuOwners, PvMm};
use crate::mm::Mfn;

impl PvMm<'_> {
    /// Whether `mfn` is an I/O frame for reference counting
    /// (`is_iomem_page`): outside the frame table or owned by `DOMID_IO`.
    fn is_iomem_page(&self, mfn: Mfn) -> bool {
        self.frames.get(mfn).is_none_or(|p| p.owner == Some(DomId::IO) && p.count > 0)
    }

    /// Takes the references a present entry `e` of a `level` table `table`
    /// must hold; non-present entries hold none. `table` is owned by
    /// `owners.pt`; an L1 entry maps a frame of `owners.pg`, entries of
    /// upper levels stay within `owners.pt`.
    pub(super) fn get_page_from_entry(
        &mut self,
        level: Level,
        e: u64,
        table: Mfn,
        owners: MmuOwners,
    ) -> Result<(), Errno> {
        if !pte_present(e) {
            return Ok(());
        }
        match level.child() {
            None => self.get_page_from_l1e(e, owners),
            Some(child) => self.get_page_from_upper(level, child, e, table, owners.pt),
        }
    }

    /// Releases what entry `e` of a `level` table `table` holds. The
    /// references go back to the referenced frame whoever owns it (an L1
    /// entry may map a frame of another domain).
    pub(super) fn put_page_from_entry(&mut self, level: Level, e: u64, table: Mfn) {
        if !pte_present(e) {
            return;
        }
        if level == Level::L1 {
            self.put_page_from_l1e(e);
            return;
        }
        let mfn = pte_mfn(e);
        if mfn == table {
            return; // self-map: nothing was taken
        }
        self.put_page_type_from(mfn, Some(table));
        self.frames.put_page(mfn);
    }

    /// `get_page_from_l1e(l1e, l1e_owner, pg_owner)` with `owners.pt` as
    /// `l1e_owner` and `owners.pg` as `pg_owner`.
    fn get_page_from_l1e(&mut self, e: u64, owners: MmuOwners) -> Result<(), Errno> {
        let l1e_owner = owners.pt;
        if e & Level::L1.disallow_mask(self.hooks.has_iomem_caps(l1e_owner)) != 0 {
            return Err(Errno::EINVAL);
        }
        if owners.crosses_domains() && owners.pg_dying {
            // A domain being destroyed gets no new foreign mappings.
            return Err(Errno::EINVAL);
        }
        let mfn = pte_mfn(e);
        if self.is_iomem_page(mfn) {
            let refused = if mfn == INVALID_PTE_MFN { Errno::EINVAL } else { Errno::EPERM };
            // DOMID_IO reverts to the caller for privilege checks.
            let pg_owner = if owners.pg == DomId::IO { owners.caller } else { owners.pg };
            if !self.hooks.iomem_access_permitted(pg_owner, mfn) {
                return Err(refused);
            }
            if pg_owner != l1e_owner && !self.hooks.iomem_access_permitted(l1e_owner, mfn) {
                return Err(refused);
            }
            return Ok(()); // no reference counting for I/O frames
        }
        // The frame must really be the page owner's (`real_pg_owner`).
        if !self.frames.get_page(mfn, owners.pg) {
            return Err(Errno::EBUSY);
        }
        if pte_writable(e) && self.get_page_type(mfn, PageType::Writable).is_err() {
            self.frames.put_page(mfn);
            return Err(Errno::EBUSY);
        }
        Ok(())
    }

    /// `put_page_from_l1e`: the general reference (and for a writable
    /// entry the `Writable` type reference) goes back to the mapped frame,
    /// owned by the table's owner or, for a foreign mapping, by another
    /// domain (Xen uses `page_get_owner`, not the table's owner).
    fn put_page_from_l1e(&mut self, e: u64) {
        let mfn = pte_mfn(e);
        if !pte_present(e) || self.is_iomem_page(mfn) {
            return;
        }
        if pte_writable(e) {
            self.put_page_type(mfn);
        }
        self.frames.put_page(mfn);
    }

    /// `get_page_from_l2e`/`l3e`/`l4e`: the child table's type, or failing
    /// that with `EINVAL`, a read-only linear mapping.
    fn get_page_from_upper(
        &mut self,
        level: Level,
        child: Level,
        e: u64,
        table: Mfn,
        dom: DomId,
    ) -> Result<(), Errno> {
        if e & level.disallow_mask(false) != 0 {
            return Err(Errno::EINVAL);
        }
        match self.get_page_and_type(pte_mfn(e), dom, child.page_type()) {
            Err(Errno::EINVAL) if self.get_linear_pagetable(level, e, table, dom) => Ok(()),
            rc => rc,
        }
    }

    /// `get_lN_linear_pagetable`: an entry of `table` (level `level`)
    /// pointing to a table of the same level. Allowed read-only only; a
    /// self-reference takes nothing; another table must be a validated
    /// `level` table of `dom`, must not itself hold linear entries, and
    /// `table` must not itself be a linear target.
    fn get_linear_pagetable(&mut self, level: Level, e: u64, table: Mfn, dom: DomId) -> bool {
        if pte_writable(e) {
            return false;
        }
        let mfn = pte_mfn(e);
        if mfn == table {
            return true;
        }
        if self.frames.owner(table) != Some(dom) || !self.frames.get_page(mfn, dom) {
            return false;
        }
        if !self.inc_linear_entries(table) {
            self.frames.put_page(mfn);
            return false;
        }
        if !self.inc_linear_uses(mfn) {
            self.dec_linear_entries(table);
            self.frames.put_page(mfn);
            return false;
        }
        let target_ok = self.frames.get(mfn).is_some_and(|p| {
            let t = p.type_info;
            t.count < MAX_REF_COUNT && t.ty == level.page_type() && t.validated
        });
        if !target_ok {
            self.dec_linear_uses(mfn);
            self.dec_linear_entries(table);
            self.frames.put_page(mfn);
            return false;
        }
        if let Some(p) = self.frames.get_mut(mfn) {
            p.type_info.count = p.type_info.count.saturating_add(1);
        }
        true
    }

    /// `inc_linear_entries`: `table` gains a linear entry; refused if it is
    /// a linear target itself or the count would overflow.
    fn inc_linear_entries(&mut self, table: Mfn) -> bool {
        let Some(p) = self.frames.get_mut(table) else {
            return false;
        };
        match p.linear_pt_count.checked_add(1) {
            Some(n) if p.linear_pt_count >= 0 => {
                p.linear_pt_count = n;
                true
            }
            _ => false,
        }
    }

    /// `dec_linear_entries`.
    pub(super) fn dec_linear_entries(&mut self, table: Mfn) {
        if let Some(p) = self.frames.get_mut(table) {
            p.linear_pt_count = p.linear_pt_count.saturating_sub(1);
        }
    }

    /// `inc_linear_uses`: `mfn` becomes a linear target once more; refused
    /// if it holds linear entries itself or the count would overflow.
    fn inc_linear_uses(&mut self, mfn: Mfn) -> bool {
        let Some(p) = self.frames.get_mut(mfn) else {
            return false;
        };
        match p.linear_pt_count.checked_sub(1) {
            Some(n) if p.linear_pt_count <= 0 => {
                p.linear_pt_count = n;
                true
            }
            _ => false,
        }
    }

    /// `dec_linear_uses`.
    pub(super) fn dec_linear_uses(&mut self, mfn: Mfn) {
        if let Some(p) = self.frames.get_mut(mfn) {
            p.linear_pt_count = p.linear_pt_count.saturating_add(1);
        }
    }
}
