// SPDX-License-Identifier: GPL-2.0-only
//! Type references: Xen's `_get_page_type`, `_put_page_type`,
//! `validate_page` (`promote_lN_table`, `validate_segdesc_page`) and
//! `devalidate_page` (`demote_lN_table`).
//!
//! A type reference is always taken on top of a general reference the
//! caller already holds (`get_page_and_type` does both). The first type
//! reference of a page-table type validates the frame: every present entry
//! in a guest slot is checked and takes its own references
//! (`get_page_from_lNe`, in `validate`). On failure the entries validated
//! so far are released again and the frame is left untyped, as Xen's
//! non-preemptible `alloc_lN_table` did. The last type reference of a page
//! table devalidates it, dropping what its entries held; this recursion is
//! bounded by the four paging levels plus one linear hop (XSA-240).

use guest_abi::xen::{DomId, Errno};

use super::frame_table::MAX_REF_COUNT;
use super::types::{
    Level, PT_ENTRIES, PageType, ROOT_PAGETABLE_FIRST_XEN_SLOT, ROOT_PAGETABLE_LAST_XEN_SLOT,
    TypeInfo, pte_present,
};
use super::{MmuOwners, PvMm};
use crate::mm::Mfn;

impl PvMm<'_> {
    /// Xen's `get_page_type`: takes a type reference on `mfn` as `ty`.
    ///
    /// At type count 0 the type may change (validating page tables and
    /// descriptor pages); otherwise `ty` must equal the current, validated
    /// type. The caller must hold a general reference.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a type conflict, a count overflow or a frame outside
    /// the table; otherwise the error of the entry that failed validation.
    pub fn get_page_type(&mut self, mfn: Mfn, ty: PageType) -> Result<(), Errno> {
        let page = self.frames.get(mfn).copied().ok_or(Errno::EINVAL)?;
        let old = page.type_info;
        if old.count >= MAX_REF_COUNT {
            return Err(Errno::EINVAL);
        }
        let mut new = old;
        if old.count == 0 {
            if old.ty != ty {
                // A previous use may still sit in some TLB; the hypervisor
                // must not let it survive the type change. A frame with no
                // type since it was assigned had no writable mapping and
                // was handed out with its TLB flush done (Xen filters with
                // the free-time stamp, which then leaves no CPU).
                if let (false, Some(owner)) = (old.ty == PageType::None, page.owner) {
                    self.hooks.flush_tlb_for_type_change(owner, mfn, page.tlbflush_timestamp);
                }
                // Writable and untyped frames need no scan.
                new = TypeInfo { ty, count: 0, validated: !ty.is_protected(), pinned: false };
            }
        } else if old.ty != ty || !old.validated {
            // Different use, or a table whose validation is still running
            // further up the recursion: refuse.
            return Err(Errno::EINVAL);
        }
        new.count = old.count.saturating_add(1);
        let needs_validation = !new.validated;
        if let Some(p) = self.frames.get_mut(mfn) {
            p.type_info = new;
            if needs_validation {
                p.linear_pt_count = 0;
            }
        }
        if needs_validation {
            let rc = self.validate_page(mfn, ty);
            if let Some(p) = self.frames.get_mut(mfn) {
                match rc {
                    Ok(()) => p.type_info.validated = true,
                    Err(_) => p.type_info = TypeInfo::default(),
                }
            }
            rc?;
        }
        Ok(())
    }

    /// Xen's `put_page_type`: drops a type reference on `mfn`; the last one
    /// devalidates a page table. Dropping a reference that is not held is
    /// ignored.
    pub fn put_page_type(&mut self, mfn: Mfn) {
        self.put_page_type_from(mfn, None);
    }

    /// `_put_page_type(page, flags, ptpg)`: as [`put_page_type`], for a
    /// reference held by an entry of table `ptpg`. When `ptpg` has the same
    /// type as `mfn` the reference was a linear one and the linear counts of
    /// both frames are adjusted.
    ///
    /// [`put_page_type`]: Self::put_page_type
    pub(super) fn put_page_type_from(&mut self, mfn: Mfn, ptpg: Option<Mfn>) {
        let Some(page) = self.frames.get(mfn).copied() else {
            return;
        };
        let t = page.type_info;
        if t.count == 0 {
            return;
        }
        let linear = ptpg
            .and_then(|p| self.frames.get(p))
            .is_some_and(|pt| pt.type_info.ty == t.ty && t.ty.is_page_table());
        if let (1, Some(level), true) = (t.count, t.ty.level(), t.validated) {
            // Clear "validated" first so that nothing can take a new
            // reference while the entries are being released.
            if let Some(p) = self.frames.get_mut(mfn) {
                p.type_info.validated = false;
            }
            self.devalidate_page(mfn, level);
        }
        if let (true, Some(pt)) = (linear, ptpg) {
            self.dec_linear_uses(mfn);
            self.dec_linear_entries(pt);
        }
        let now = self.hooks.tlbflush_current_time();
        if let Some(p) = self.frames.get_mut(mfn) {
            p.type_info.count = p.type_info.count.saturating_sub(1);
            if p.type_info.count == 0 {
                p.type_info.pinned = false;
                // `set_tlbflush_timestamp`: the last use ended now.
                p.tlbflush_timestamp = now;
            }
        }
    }

    /// Xen's `get_page_and_type`: a general reference for `dom`, then a
    /// type reference; nothing is kept on failure.
    ///
    /// # Errors
    ///
    /// `EINVAL` if the general reference cannot be taken (foreign, free or
    /// unknown frame); otherwise the error of [`get_page_type`].
    ///
    /// [`get_page_type`]: Self::get_page_type
    pub fn get_page_and_type(&mut self, mfn: Mfn, dom: DomId, ty: PageType) -> Result<(), Errno> {
        if !self.frames.get_page(mfn, dom) {
            return Err(Errno::EINVAL);
        }
        let rc = self.get_page_type(mfn, ty);
        if rc.is_err() {
            self.frames.put_page(mfn);
        }
        rc
    }

    /// Xen's `put_page_and_type`: the reverse of [`get_page_and_type`].
    ///
    /// [`get_page_and_type`]: Self::get_page_and_type
    pub fn put_page_and_type(&mut self, mfn: Mfn) {
        self.put_page_type(mfn);
        self.frames.put_page(mfn);
    }

    /// The forced devalidation of Xen's `relinquish_memory`: if `mfn` is a
    /// validated page table of level `level` that still holds type
    /// references, clear "validated" and release what its entries hold,
    /// leaving the type count to its holders. Only for a dying domain,
    /// whose tables nothing will use again: this breaks chains of
    /// references that would otherwise keep each other alive.
    pub(super) fn force_devalidate(&mut self, mfn: Mfn, level: Level) {
        let Some(t) = self.frames.get(mfn).map(|p| p.type_info) else { return };
        if t.count == 0 || !t.validated || t.ty.level() != Some(level) {
            return;
        }
        if let Some(p) = self.frames.get_mut(mfn) {
            p.type_info.validated = false;
        }
        self.devalidate_page(mfn, level);
    }

    /// `validate_page`: checks the contents of `mfn` for type `ty`.
    fn validate_page(&mut self, mfn: Mfn, ty: PageType) -> Result<(), Errno> {
        let owner = self.frames.owner(mfn).ok_or(Errno::EINVAL)?;
        if !self.mem.frame_exists(mfn) {
            return Err(Errno::EINVAL);
        }
        match (ty.level(), ty) {
            (Some(level), _) => self.promote_table(mfn, level, owner),
            (None, PageType::SegDesc) => self.validate_segdesc_page(mfn, owner),
            (None, _) => Ok(()),
        }
    }

    /// `promote_lN_table`: takes the references of every present entry in
    /// a guest slot, adjusting the entries as Xen does; on failure releases
    /// what was taken. A new L4 gets the hypervisor's slots.
    fn promote_table(&mut self, mfn: Mfn, level: Level, owner: DomId) -> Result<(), Errno> {
        for i in 0..PT_ENTRIES {
            if !level.is_guest_slot(i) {
                continue;
            }
            let e = self.mem.read_u64(mfn, i);
            if !pte_present(e) {
                continue;
            }
            if let Err(err) = self.get_page_from_entry(level, e, mfn, MmuOwners::local(owner)) {
                for j in (0..i).rev() {
                    if level.is_guest_slot(j) {
                        let old = self.mem.read_u64(mfn, j);
                        self.put_page_from_entry(level, old, mfn);
                    }
                }
                return Err(err);
            }
            self.mem.write_u64(mfn, i, level.adjust_guest_entry(e));
        }
        if level == Level::L4 {
            self.init_xen_l4_slots(mfn, owner);
        }
        Ok(())
    }

    /// `init_xen_l4_slots`: overwrite slots 256–271 with the hypervisor's
    /// entries, clobbering whatever the guest left there.
    fn init_xen_l4_slots(&mut self, mfn: Mfn, owner: DomId) {
        for slot in ROOT_PAGETABLE_FIRST_XEN_SLOT..=ROOT_PAGETABLE_LAST_XEN_SLOT {
            let e = self.hooks.xen_l4_slot(owner, mfn, slot);
            self.mem.write_u64(mfn, slot, e);
        }
    }

    /// `demote_lN_table`: releases what every guest-slot entry holds.
    fn devalidate_page(&mut self, mfn: Mfn, level: Level) {
        if self.frames.owner(mfn).is_none() {
            return;
        }
        for i in (0..PT_ENTRIES).rev() {
            if level.is_guest_slot(i) {
                let e = self.mem.read_u64(mfn, i);
                self.put_page_from_entry(level, e, mfn);
            }
        }
    }

    /// `validate_segdesc_page`: every descriptor must pass the hook.
    /// Xen's `validate_segdesc_page`: every descriptor must pass
    /// `check_descriptor`, whose DPL fix-up is written back in place as it
    /// goes (so descriptors before a refused one stay fixed up, as in Xen).
    fn validate_segdesc_page(&mut self, mfn: Mfn, owner: DomId) -> Result<(), Errno> {
        for i in 0..PT_ENTRIES {
            let d = self.mem.read_u64(mfn, i);
            if !self.hooks.check_descriptor(owner, d) {
                return Err(Errno::EINVAL);
            }
            let fixed = super::fixup_descriptor_dpl(d);
            if fixed != d {
                self.mem.write_u64(mfn, i, fixed);
            }
        }
        Ok(())
    }
}
