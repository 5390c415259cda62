// SPDX-License-Identifier: GPL-2.0-only
//! PV MMU core: frame typing, page-table validation, `mmu_update`, `mmuext_op`.
//!
//! This is the host-testable heart of Xen's `xen/arch/x86/mm.c` for 64-bit
//! PV guests: guests build their own 4-level page tables, but may only map
//! frames they own, never hold a writable mapping of a page table or a
//! descriptor page, and change installed tables only through hypercalls
//! that validate every entry.
//!
//! # Pieces
//!
//! * [`types`]: [`PageType`], [`TypeInfo`], [`PageInfo`] and the PTE bits
//!   and disallow masks Xen checks;
//! * [`frame_table`]: [`FrameTable`] — ownership and general counts
//!   (`assign_pages`, `get_page`, `put_page`);
//! * `page_type` (on [`PvMm`]): `get_page_type`/`put_page_type`,
//!   `promote_lN_table`/`demote_lN_table` (Xen's `validate_page` and
//!   `devalidate_page`);
//! * `validate`: `get_page_from_lNe`/`put_page_from_lNe` and
//!   `get_lN_linear_pagetable`;
//! * `mmu_update`: [`PvMm::do_mmu_update`] and `mod_lN_entry`, and
//!   [`PvMm::ptwr_update`], the page-table half of writable page tables;
//! * `mmuext`: [`PvMm::do_mmuext_op`] with [`VcpuTables`] and the
//!   [`MmuEffect`]s left for the machine layer;
//! * [`mem`]: [`PhysMem`] (frame contents) with [`EmulatedMem`], and the
//!   [`M2p`] table with [`M2pTable`];
//! * `relinquish`: [`PvMm::relinquish_memory`], the frame side of
//!   destroying a domain;
//! * `audit`: [`audit`], the NL-2/NLI-1 invariant check (recounts every
//!   reference from the page tables and compares).
//!
//! # Model and design notes
//!
//! Everything runs on a [`PvMm`] context that borrows the frame table,
//! machine memory, the M2P and the machine layer's [`PvHooks`]. There is no
//! locking: the caller serialises (Xen's per-page `page_lock` and cmpxchg
//! loops collapse to plain updates). Errors are Xen's errno values; a bad
//! request fails that request only and never panics.
//!
//! Reference rules (Xen's, verbatim in meaning):
//!
//! * every use of a frame holds a general reference; a use in a particular
//!   role also holds a type reference; the type changes only at type
//!   count 0, and the first user of a page-table type validates the frame
//!   (taking references for every entry), the last one devalidates it;
//! * writable L1 entries take a `Writable` type reference, so a page table
//!   can never be mapped writable, and a writably mapped frame can never
//!   become a page table;
//! * an entry may point to a table of its own level only read-only (linear
//!   page tables, `get_lN_linear_pagetable`); a self-reference takes no
//!   reference, a reference to another table is counted in
//!   `linear_pt_count` and a table is never both a linear target and a
//!   holder of linear entries, which bounds de-typing recursion (XSA-240);
//! * L4 slots 256–271 belong to the hypervisor: validation skips whatever
//!   the guest left there and installs the hypervisor's entries through
//!   [`PvHooks::xen_l4_slot`] (Xen's `init_xen_l4_slots`); `mmu_update`
//!   refuses to touch them.
//!
//! Simplifications against Xen:
//!
//! * validation is not preemptible (no `PGT_partial`, `-ERESTART` or
//!   `old_guest_table`); recursion is bounded by the four levels plus one
//!   linear hop, but a 512-entry L4 tree is validated in one go (XSA-45);
//! * grant-mapped PTEs are not marked (`_PAGE_GNTTAB` is 0 in Xen's
//!   release builds too, see `grant`); a privileged page owner cannot
//!   hand on the right to map its target's frames (`xsm_priv_mapping` in
//!   `get_page_from_l1e`: there are no stub domains);
//! * superpages are refused (PSE is in the L2/L3 disallow mask, as for PV
//!   in current Xen); `MMUEXT_[UN]MARK_SUPER` give `EOPNOTSUPP`;
//! * I/O frames are mapped without Xen's cache-attribute flips or
//!   `mmio_ro_ranges`; no L1TF checks on non-present entries; no XPTI
//!   root-table resync after an L4 update; the RO M2P slot and
//!   `m2p_strict` are left to [`PvHooks::xen_l4_slot`];
//! * segment-descriptor pages are checked by [`PvHooks::check_descriptor`],
//!   whose default refuses every system descriptor (Xen accepts call gates
//!   after rewriting their DPL);
//! * TLB and cache flushes requested by `mmuext_op` are returned as
//!   [`MmuEffect`]s; only the type-change flush is synchronous
//!   ([`PvHooks::flush_tlb_for_type_change`], filtered by the time the
//!   frame's type count dropped to 0, as Xen's `tlbflush_filter`).
//!
//! Xen behaviours kept on purpose, although they may look surprising:
//! `mmu_update` on a frame that is not an in-use page table writes it as
//! plain data (under a temporary `Writable` reference); a guest's junk in
//! L4 slots 256–271 is overwritten at validation rather than refused (Linux
//! copies those slots from another L4); an L1 entry naming a foreign, free
//! or hypervisor frame fails with `EBUSY` (`could_not_pin`), an L2–L4 entry
//! with `EINVAL`.
//!
//! # Foreign page owners
//!
//! Every operation runs for an [`MmuOwners`]: the caller, the owner of the
//! page tables written (`pt_owner`) and the owner of the frames new L1
//! entries map (`pg_owner`, Xen's `foreigndom`). A domain builder or
//! privcmd in dom0 maps a domU's frames into its own tables with
//! `pt_owner` = dom0 and `pg_owner` = domU: the reference (and, for a
//! writable entry, the `Writable` type reference) is taken on the domU's
//! frame, which must really be the domU's, and is dropped against whatever
//! owns the frame when the entry goes (`put_page_from_l1e`). Upper-level
//! entries never cross domains (`EINVAL`). The hypercall layer resolves
//! the ids and checks access control; this module only applies Xen's
//! ownership rules.

pub mod frame_table;
pub mod mem;
pub mod types;

mod audit;
mod grant;
mod mmu_update;
mod mmuext;
mod page_type;
mod relinquish;
mod validate;

#[cfg(test)]
mod tests;

pub use audit::{AuditError, audit};
pub use frame_table::FrameTable;
pub use grant::{GrantPte, grant_to_pte_flags};
pub use mem::{EmulatedMem, INVALID_M2P_ENTRY, M2p, M2pTable, PhysMem};
pub use mmu_update::PtwrResult;
pub use mmuext::{MmuEffect, VcpuTables, addr_ok};
pub use types::{Level, PageInfo, PageType, TypeInfo};

use guest_abi::xen::DomId;

use crate::mm::Mfn;
use crate::mm::tlbflush::TlbStamp;

/// What the machine layer provides to the PV MMU.
pub trait PvHooks {
    /// Xen's `init_xen_l4_slots`: the entry the hypervisor keeps in slot
    /// `slot` (256–271) of L4 table `l4` of `dom` (M2P, linear map,
    /// per-domain area, direct map...). Called once per slot when `l4`
    /// is validated as an L4 table.
    fn xen_l4_slot(&self, dom: DomId, l4: Mfn, slot: usize) -> u64;

    /// `iomem_access_permitted`: whether `dom` may map the I/O frame `mfn`
    /// (outside the frame table or owned by [`DomId::IO`]). Default: no.
    fn iomem_access_permitted(&self, dom: DomId, mfn: Mfn) -> bool {
        let _ = (dom, mfn);
        false
    }

    /// Whether `dom` has any I/O memory or port capability: such domains
    /// may set cache attributes in L1 entries (`l1_disallow_mask`) and
    /// flush caches (`cache_flush_permitted`). Default: no.
    fn has_iomem_caps(&self, dom: DomId) -> bool {
        let _ = dom;
        false
    }

    /// Whether the vCPU bitmap of a `*_MULTI` flush at guest address
    /// `vcpumask` can be read (`vcpumask_to_pcpumask` fails with `EFAULT`,
    /// which `mmuext_op` reports as `EINVAL`). Default: yes.
    fn vcpumask_readable(&self, dom: DomId, vcpumask: u64) -> bool {
        let _ = (dom, vcpumask);
        true
    }

    /// `check_descriptor`: whether descriptor `desc` may sit in a GDT/LDT
    /// page of `dom`. Default: [`check_descriptor_conservative`].
    fn check_descriptor(&self, dom: DomId, desc: u64) -> bool {
        let _ = dom;
        check_descriptor_conservative(desc)
    }

    /// The TLB-flush clock's current time (`tlbflush_current_time`), which
    /// a frame is stamped with when its type count drops to 0. Default: 0
    /// (host tests).
    fn tlbflush_current_time(&self) -> TlbStamp {
        TlbStamp(0)
    }

    /// A frame of `owner` is changing type away from a previous use whose
    /// last reference went at TLB-flush time `since`: stale TLB entries of
    /// the old use (e.g. a just-dropped writable mapping of a frame about
    /// to become a page table) must be flushed, before validation proceeds,
    /// on every CPU that ran `owner` and has not fully flushed since
    /// (`_get_page_type`: `d->dirty_cpumask` through `tlbflush_filter`,
    /// then `flush_mask`; XSA-401). Default: nothing (host tests).
    fn flush_tlb_for_type_change(&mut self, owner: DomId, mfn: Mfn, since: TlbStamp) {
        let _ = (owner, mfn, since);
    }
}

/// A safe subset of Xen's `check_descriptor`: not-present descriptors,
/// code/data segments (no base/limit checks are needed, as in Xen) and the
/// type-0 upper half of a 16-byte gate are accepted; every other system
/// descriptor, including call gates (which Xen accepts after rewriting
/// their DPL), is refused.
#[must_use]
pub const fn check_descriptor_conservative(desc: u64) -> bool {
    const PRESENT: u64 = 1 << 47;
    const CODE_OR_DATA: u64 = 1 << 44;
    const TYPE: u64 = 0xF << 40;
    desc & PRESENT == 0 || desc & CODE_OR_DATA != 0 || desc & TYPE == 0
}

/// Xen's `check_descriptor` fix-up for 64-bit PV guests: a present
/// descriptor's DPL is raised to 3, the guest kernel's ring (applied to
/// every descriptor of a page validated as a descriptor page, and to
/// `update_descriptor`).
#[must_use]
pub const fn fixup_descriptor_dpl(desc: u64) -> u64 {
    const PRESENT: u64 = 1 << 47;
    const DPL: u64 = 3 << 45;
    if desc & PRESENT == 0 { desc } else { desc | DPL }
}

/// The domains one `mmu_update`/`mmuext_op` acts for (Xen's
/// `current->domain`, `pt_owner` and `pg_owner`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmuOwners {
    /// The calling domain: I/O frames named through [`DomId::IO`] are
    /// checked against its permissions, and only it may update the M2P.
    pub caller: DomId,
    /// Owner of the page tables written (`pt_owner`).
    pub pt: DomId,
    /// Owner of the frames new L1 entries map and of the frames
    /// `mmuext_op` pins, unpins, clears or copies (`pg_owner`):
    /// [`DomId::IO`] for `dom_io`, [`DomId::XEN`] for `dom_xen`.
    pub pg: DomId,
    /// The page owner is being destroyed: a foreign one gets no new
    /// mappings or pins.
    pub pg_dying: bool,
}

impl MmuOwners {
    /// A domain working on its own tables and frames (`DOMID_SELF`).
    #[must_use]
    pub const fn local(dom: DomId) -> Self {
        Self { caller: dom, pt: dom, pg: dom, pg_dying: false }
    }

    /// `caller` working on its own tables with frames of `pg`.
    #[must_use]
    pub const fn foreign(caller: DomId, pg: DomId, pg_dying: bool) -> Self {
        Self { caller, pt: caller, pg, pg_dying }
    }

    /// Whether new mappings name frames of a domain other than the table's
    /// (`pg_owner != pt_owner`).
    #[must_use]
    pub fn crosses_domains(&self) -> bool {
        self.pg != self.pt
    }
}

/// The PV MMU operating on one machine: frame table, memory, M2P and hooks,
/// borrowed for the duration of a hypercall.
pub struct PvMm<'a> {
    /// Per-frame accounting.
    pub frames: &'a mut FrameTable,
    /// Frame contents.
    pub mem: &'a mut dyn PhysMem,
    /// Machine-to-physical table.
    pub m2p: &'a mut dyn M2p,
    /// Machine-layer hooks.
    pub hooks: &'a mut dyn PvHooks,
}

impl<'a> PvMm<'a> {
    /// Bundles the parts of the PV MMU.
    pub fn new(
        frames: &'a mut FrameTable,
        mem: &'a mut dyn PhysMem,
        m2p: &'a mut dyn M2p,
        hooks: &'a mut dyn PvHooks,
    ) -> Self {
        Self { frames, mem, m2p, hooks }
    }
}
