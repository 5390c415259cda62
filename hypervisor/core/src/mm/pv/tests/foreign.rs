// SPDX-License-Identifier: GPL-2.0-only
//! Foreign page owners (`foreigndom`): a builder or privcmd in `DOM` maps
//! and pins frames of `OTHER` (Xen's `pt_owner`/`pg_owner` rules in
//! `do_mmu_update`, `get_page_from_l1e` and `do_mmuext_op`).

use guest_abi::xen::{DomId, Errno, MmuUpdate, MmuextCmd};

use super::super::types::{PAGE_PCD, PAGE_RW};
use super::super::{M2p, MmuOwners};
use super::*;

/// A third domain and its frame.
const THIRD: DomId = DomId(3);
const THIRD_FRAME: Mfn = Mfn(48);
/// Frames of `OTHER` used as its own page tables in these tests.
const O_L4: Mfn = Mfn(41);
const O_L3: Mfn = Mfn(42);
const O_L2: Mfn = Mfn(43);
const O_L1: Mfn = Mfn(44);
const O_RW: Mfn = Mfn(45);
const O_RO: Mfn = Mfn(46);
/// Another frame of `OTHER`, unused by its tables.
const O_DATA: Mfn = Mfn(47);

/// `DOM` with frames of `OTHER` (`foreigndom` = OTHER).
const FOREIGN_PG: MmuOwners = MmuOwners::foreign(DOM, OTHER, false);

impl Machine {
    fn mmu_owners(&mut self, owners: MmuOwners, reqs: &[MmuUpdate]) -> Result<(), Errno> {
        self.mm().do_mmu_update_as(owners, reqs).1
    }

    fn set_as(&mut self, owners: MmuOwners, table: Mfn, index: u64, val: u64) -> Result<(), Errno> {
        self.mmu_owners(owners, &[upd(table, index, val)])
    }

    fn ext_owners(&mut self, owners: MmuOwners, cmd: MmuextCmd, arg1: u64) -> Result<(), Errno> {
        let Self { frames, mem, m2p, hooks, vcpu, effects } = self;
        let ops = [op(cmd, arg1, 0)];
        PvMm::new(frames, mem, m2p, hooks).do_mmuext_op_as(owners, &ops, vcpu, effects).1
    }

    /// `OTHER`'s own tree `O_L4 → O_L3 → O_L2 → O_L1` mapping `O_RW`
    /// writable (slot 0) and `O_RO` read-only (slot 1), written but not
    /// validated.
    fn write_other_tree(&mut self) {
        self.write(O_L4, 0, pte(O_L3, RW));
        self.write(O_L3, 0, pte(O_L2, RW));
        self.write(O_L2, 0, pte(O_L1, RW));
        self.write(O_L1, 0, pte(O_RW, RW));
        self.write(O_L1, 1, pte(O_RO, RO));
    }

    /// Every frame's (general, type) counts.
    fn refs(&self) -> Vec<(u32, u32)> {
        self.frames.iter().map(|(_, p)| (p.count, p.type_info.count)).collect()
    }

    fn with_third() -> Self {
        let mut m = Self::guest();
        m.frames.assign(THIRD_FRAME, THIRD).unwrap();
        m
    }
}

#[test]
fn own_tables_map_foreign_frames_read_only_and_writable() {
    let mut m = Machine::guest();
    // Read-only: a general reference on OTHER's frame, no type.
    m.set_as(FOREIGN_PG, L1, 9, pte(FOREIGN, RO)).unwrap();
    assert_eq!(m.counts(FOREIGN), (2, 0));
    assert_eq!(m.info(FOREIGN).owner, Some(OTHER), "ownership does not move");
    m.audit();
    // Writable: also the Writable type reference, taken on OTHER's frame.
    m.set_as(FOREIGN_PG, L1, 10, pte(O_DATA, RW)).unwrap();
    assert_eq!(m.counts(O_DATA), (2, 1));
    assert_eq!(m.ty(O_DATA), PageType::Writable);
    m.audit();
    // The same mapping twice: two references.
    m.set_as(FOREIGN_PG, L1, 11, pte(FOREIGN, RO)).unwrap();
    assert_eq!(m.counts(FOREIGN), (3, 0));
    m.audit();
    // Clearing drops them again, whatever foreigndom the clear names.
    m.set(L1, 9, 0).unwrap();
    m.set_as(FOREIGN_PG, L1, 10, 0).unwrap();
    m.set(L1, 11, 0).unwrap();
    assert_eq!(m.counts(FOREIGN), (1, 0));
    assert_eq!(m.counts(O_DATA), (1, 0));
    m.audit();
}

#[test]
fn the_mapped_frame_must_be_the_page_owners() {
    let mut m = Machine::with_third();
    let before = m.refs();
    // DOMID_SELF cannot map OTHER's frame (could_not_pin).
    assert_eq!(m.set(L1, 9, pte(FOREIGN, RO)), Err(Errno::EBUSY));
    // With OTHER as page owner: neither the caller's own frame, nor a third
    // domain's, nor a free or hypervisor frame.
    for target in [SPARE[0], THIRD_FRAME, Mfn(50), UNOWNED] {
        for flags in [RO, RW] {
            let rc = m.set_as(FOREIGN_PG, L1, 9, pte(target, flags));
            assert_eq!(rc, Err(Errno::EBUSY), "{target:?} {flags:#x}");
        }
    }
    assert_eq!(m.refs(), before, "nothing taken");
    m.audit();
}

#[test]
fn foreign_page_tables_are_never_mapped_writable() {
    let mut m = Machine::guest();
    m.write_other_tree();
    m.ext_owners(MmuOwners::local(OTHER), MmuextCmd::PinL4Table, O_L4.0).unwrap();
    // OTHER's L1 may be mapped read-only by DOM, not writable.
    assert_eq!(m.set_as(FOREIGN_PG, L1, 9, pte(O_L1, RW)), Err(Errno::EBUSY));
    m.set_as(FOREIGN_PG, L1, 9, pte(O_L1, RO)).unwrap();
    // A frame DOM maps writable cannot become one of OTHER's tables.
    m.set_as(FOREIGN_PG, L1, 10, pte(O_DATA, RW)).unwrap();
    let other = MmuOwners::local(OTHER);
    assert_eq!(m.ext_owners(other, MmuextCmd::PinL1Table, O_DATA.0), Err(Errno::EINVAL));
    m.audit();
    m.set(L1, 10, 0).unwrap();
    m.ext_owners(other, MmuextCmd::PinL1Table, O_DATA.0).unwrap();
    m.audit();
}

#[test]
fn upper_level_entries_never_cross_domains() {
    let mut m = Machine::guest();
    m.write_other_tree();
    let other = MmuOwners::local(OTHER);
    m.ext_owners(other, MmuextCmd::PinL1Table, O_L1.0).unwrap();
    let before = m.refs();
    // An L2/L3/L4 entry of DOM naming OTHER's table, or even DOM's own,
    // with a foreign page owner: EINVAL, as is a clear.
    assert_eq!(m.set_as(FOREIGN_PG, L2, 5, pte(O_L1, RW)), Err(Errno::EINVAL));
    m.pin(1, SPARE[0]).unwrap();
    let before_own = m.refs();
    assert_eq!(m.set_as(FOREIGN_PG, L2, 5, pte(SPARE[0], RW)), Err(Errno::EINVAL));
    assert_eq!(m.set_as(FOREIGN_PG, L2, 0, 0), Err(Errno::EINVAL));
    assert_eq!(m.set_as(FOREIGN_PG, L3, 0, 0), Err(Errno::EINVAL));
    assert_eq!(m.set_as(FOREIGN_PG, L4, 0, 0), Err(Errno::EINVAL));
    assert_eq!(m.refs(), before_own);
    // DOMID_SELF may not reference OTHER's table either.
    assert_eq!(m.set(L2, 5, pte(O_L1, RW)), Err(Errno::EINVAL));
    m.unpin(SPARE[0]).unwrap();
    assert_eq!(m.refs(), before);
    m.audit();
}

#[test]
fn a_builder_edits_a_foreign_domains_tables() {
    // pt_owner = pg_owner = OTHER, caller DOM (foreigndom's upper half).
    let mut m = Machine::guest();
    m.write_other_tree();
    let other = MmuOwners::local(OTHER);
    m.ext_owners(other, MmuextCmd::PinL4Table, O_L4.0).unwrap();
    let builder = MmuOwners { caller: DOM, pt: OTHER, pg: OTHER, pg_dying: false };
    m.set_as(builder, O_L1, 2, pte(O_DATA, RW)).unwrap();
    assert_eq!(m.counts(O_DATA), (2, 1));
    // Upper levels within OTHER are fine: a second L1 hooked into O_L2.
    m.set_as(builder, O_L2, 1, pte(FOREIGN, RW)).unwrap();
    assert_eq!(m.ty(FOREIGN), PageType::L1);
    // The written table must be the page-table owner's.
    assert_eq!(m.set_as(builder, L1, 9, pte(O_DATA, RO)), Err(Errno::EINVAL));
    // OTHER's L1 mapping a frame of DOM: pt_owner OTHER, pg_owner DOM.
    let mixed = MmuOwners { caller: DOM, pt: OTHER, pg: DOM, pg_dying: false };
    m.set_as(mixed, O_L1, 3, pte(SPARE[1], RO)).unwrap();
    assert_eq!(m.counts(SPARE[1]), (2, 0));
    // ...but not at an upper level.
    assert_eq!(m.set_as(mixed, O_L2, 2, 0), Err(Errno::EINVAL));
    m.audit();
    // Tearing OTHER's tree down drops every reference, DOM's frame's too.
    m.ext_owners(other, MmuextCmd::UnpinTable, O_L4.0).unwrap();
    assert_eq!(m.counts(SPARE[1]), (1, 0));
    assert_eq!(m.counts(O_DATA), (1, 0));
    assert_eq!(m.ty(O_L1), PageType::L1, "type kept, count 0");
    assert_eq!(m.info(O_L1).type_info.count, 0);
    m.audit();
}

#[test]
fn machphys_update_for_a_foreign_page_owner() {
    let mut m = Machine::guest();
    let mp = |mfn: Mfn, pfn: u64| MmuUpdate { ptr: (mfn.0 << 12) | 1, val: pfn };
    // The builder sets up OTHER's M2P.
    m.mmu_owners(FOREIGN_PG, &[mp(FOREIGN, 0x10), mp(O_DATA, 0x17)]).unwrap();
    assert_eq!(m.m2p.get_gpfn_from_mfn(FOREIGN), 0x10);
    assert_eq!(m.m2p.get_gpfn_from_mfn(O_DATA), 0x17);
    assert_eq!(m.counts(FOREIGN), (1, 0), "temporary reference only");
    // Only frames of the page owner.
    assert_eq!(m.mmu_owners(FOREIGN_PG, &[mp(SPARE[0], 1)]), Err(Errno::EINVAL));
    assert_eq!(m.mmu(&[mp(FOREIGN, 1)]).1, Err(Errno::EINVAL));
    // Not while editing another domain's tables (d != pt_owner).
    let builder = MmuOwners { caller: DOM, pt: OTHER, pg: OTHER, pg_dying: false };
    assert_eq!(m.mmu_owners(builder, &[mp(FOREIGN, 1)]), Err(Errno::EPERM));
    assert_eq!(m.m2p.get_gpfn_from_mfn(FOREIGN), 0x10);
    m.audit();
}

#[test]
fn references_go_back_to_the_frames_owner() {
    let mut m = Machine::guest();
    // A fresh L1 of DOM maps OTHER's frames, RW and RO.
    m.write(SPARE[0], 0, pte(O_DATA, RW));
    assert_eq!(m.pin(1, SPARE[0]), Err(Errno::EBUSY), "validation is for DOM");
    m.write(SPARE[0], 0, 0);
    m.pin(1, SPARE[0]).unwrap();
    m.set_as(FOREIGN_PG, SPARE[0], 0, pte(O_DATA, RW)).unwrap();
    m.set_as(FOREIGN_PG, SPARE[0], 1, pte(FOREIGN, RO)).unwrap();
    // Replacing a foreign entry by an own one moves the references.
    m.set(SPARE[0], 1, pte(SPARE[1], RO)).unwrap();
    assert_eq!(m.counts(FOREIGN), (1, 0));
    assert_eq!(m.counts(SPARE[1]), (2, 0));
    // OTHER gives O_DATA up while DOM still maps it: the frame stays
    // OTHER's until the mapping goes.
    m.frames.release(O_DATA, OTHER).unwrap();
    assert_eq!(m.info(O_DATA).owner, Some(OTHER));
    assert_eq!(m.counts(O_DATA), (1, 1));
    m.audit();
    // Freeing the table drops the last reference: the frame is freed.
    let _ = m.frames.take_freed();
    m.unpin(SPARE[0]).unwrap();
    assert_eq!(m.info(O_DATA), PageInfo::default());
    assert_eq!(m.frames.take_freed(), [O_DATA]);
    assert_eq!(m.counts(SPARE[1]), (1, 0));
    m.audit();
}

#[test]
fn a_dying_page_owner_gets_no_new_mappings() {
    let mut m = Machine::guest();
    m.set_as(FOREIGN_PG, L1, 9, pte(FOREIGN, RO)).unwrap();
    let dying = MmuOwners::foreign(DOM, OTHER, true);
    let before = m.refs();
    assert_eq!(m.set_as(dying, L1, 10, pte(O_DATA, RO)), Err(Errno::EINVAL));
    assert_eq!(m.set_as(dying, L1, 10, pte(O_DATA, RW)), Err(Errno::EINVAL));
    // Replacing an existing mapping with a different one also needs a
    // new reference.
    assert_eq!(m.set_as(dying, L1, 9, pte(FOREIGN, RO | PAGE_RW)), Err(Errno::EINVAL));
    assert_eq!(m.refs(), before);
    // Same frame and protection (fast path) and clearing still work.
    m.set_as(dying, L1, 9, pte(FOREIGN, RO) | PAGE_DIRTY).unwrap();
    m.set_as(dying, L1, 9, 0).unwrap();
    assert_eq!(m.counts(FOREIGN), (1, 0));
    // A pin for a dying foreign owner is taken and dropped at once.
    m.write_other_tree();
    m.ext_owners(dying, MmuextCmd::PinL4Table, O_L4.0).unwrap();
    assert!(!m.info(O_L4).type_info.pinned);
    assert_eq!(m.counts(O_L4), (1, 0));
    assert_eq!(m.counts(O_RW), (1, 0));
    m.audit();
}

#[test]
fn the_builder_pins_a_foreign_l4_tree() {
    let mut m = Machine::guest();
    m.write_other_tree();
    // Validation runs as OTHER: an entry naming one of DOM's frames fails
    // although DOM is the caller.
    m.write(O_L1, 2, pte(RW_DATA[0], RO));
    let before = m.refs();
    assert_eq!(m.ext_owners(FOREIGN_PG, MmuextCmd::PinL4Table, O_L4.0), Err(Errno::EBUSY));
    assert_eq!(m.refs(), before, "validation undone");
    m.write(O_L1, 2, 0);
    // Pinning one of DOM's own frames with OTHER as page owner: EINVAL.
    assert_eq!(m.ext_owners(FOREIGN_PG, MmuextCmd::PinL4Table, SPARE[0].0), Err(Errno::EINVAL));
    m.ext_owners(FOREIGN_PG, MmuextCmd::PinL4Table, O_L4.0).unwrap();
    assert!(m.info(O_L4).type_info.pinned);
    assert_eq!(m.counts(O_L4), (2, 1));
    assert_eq!((m.ty(O_L3), m.ty(O_L2), m.ty(O_L1)), (PageType::L3, PageType::L2, PageType::L1));
    assert_eq!(m.counts(O_RW), (2, 1));
    assert_eq!(m.counts(O_RO), (2, 0));
    assert_eq!(m.read(O_L4, 256), xen_slot_value(256), "hypervisor slots installed");
    assert_eq!(m.ext_owners(FOREIGN_PG, MmuextCmd::PinL4Table, O_L4.0), Err(Errno::EINVAL));
    m.audit();
    // DOMID_SELF cannot unpin it; the builder (or OTHER) can.
    assert_eq!(m.unpin(O_L4), Err(Errno::EINVAL));
    m.ext_owners(FOREIGN_PG, MmuextCmd::UnpinTable, O_L4.0).unwrap();
    assert_eq!(m.counts(O_L4), (1, 0));
    assert_eq!(m.counts(O_RW), (1, 0));
    assert!(!m.info(O_L3).type_info.validated);
    assert_eq!(m.ext_owners(FOREIGN_PG, MmuextCmd::UnpinTable, O_L4.0), Err(Errno::EINVAL));
    m.audit();
}

#[test]
fn only_frame_operations_act_for_another_domain() {
    let mut m = Machine::guest();
    let vcpu = m.vcpu;
    for cmd in [
        MmuextCmd::NewBaseptr,
        MmuextCmd::NewUserBaseptr,
        MmuextCmd::TlbFlushLocal,
        MmuextCmd::InvlpgLocal,
        MmuextCmd::TlbFlushMulti,
        MmuextCmd::InvlpgMulti,
        MmuextCmd::TlbFlushAll,
        MmuextCmd::InvlpgAll,
        MmuextCmd::FlushCache,
        MmuextCmd::FlushCacheGlobal,
        MmuextCmd::SetLdt,
    ] {
        assert_eq!(m.ext_owners(FOREIGN_PG, cmd, L4.0), Err(Errno::EPERM), "{cmd:?}");
    }
    assert_eq!(m.vcpu, vcpu);
    assert!(m.effects.is_empty());
    assert_eq!(m.ext_owners(FOREIGN_PG, MmuextCmd::MarkSuper, 0), Err(Errno::EOPNOTSUPP));
    // CLEAR_PAGE and COPY_PAGE work on the page owner's frames.
    m.write(FOREIGN, 3, 0x1234);
    m.write(O_DATA, 3, 0x5678);
    let ops = [MmuextOp::new(MmuextCmd::CopyPage, O_DATA.0, FOREIGN.0)];
    let Machine { frames, mem, m2p, hooks, vcpu, effects } = &mut m;
    let rc = PvMm::new(frames, mem, m2p, hooks).do_mmuext_op_as(FOREIGN_PG, &ops, vcpu, effects);
    assert_eq!(rc, (1, Ok(())));
    assert_eq!(m.read(O_DATA, 3), 0x1234);
    m.ext_owners(FOREIGN_PG, MmuextCmd::ClearPage, FOREIGN.0).unwrap();
    assert_eq!(m.read(FOREIGN, 3), 0);
    assert_eq!(m.ext_owners(FOREIGN_PG, MmuextCmd::ClearPage, SPARE[0].0), Err(Errno::EINVAL));
    m.audit();
}

#[test]
fn io_frames_through_domid_io() {
    let mut m = Machine::guest();
    let io_frame = Mfn(50);
    m.frames.assign(io_frame, DomId::IO).unwrap();
    m.hooks.iomem.push(DOM);
    let io = MmuOwners::foreign(DOM, DomId::IO, false);
    let before = m.refs();
    // DOMID_IO reverts to the caller for the permission check.
    m.set_as(io, L1, 9, pte(io_frame, RW | PAGE_PCD)).unwrap();
    m.set_as(io, L1, 10, pte(Mfn(0x8_0000), RW)).unwrap();
    assert_eq!(m.refs(), before, "no references for I/O frames");
    // RAM is not DOMID_IO's.
    assert_eq!(m.set_as(io, L1, 11, pte(SPARE[0], RO)), Err(Errno::EBUSY));
    // Into another domain's table, that domain needs the permission too.
    m.write_other_tree();
    m.ext_owners(MmuOwners::local(OTHER), MmuextCmd::PinL1Table, O_L1.0).unwrap();
    let into_other = MmuOwners { caller: DOM, pt: OTHER, pg: DomId::IO, pg_dying: false };
    assert_eq!(m.set_as(into_other, O_L1, 5, pte(io_frame, RO)), Err(Errno::EPERM));
    // A foreign page owner without permission cannot lend the caller's.
    assert_eq!(m.set_as(FOREIGN_PG, L1, 11, pte(io_frame, RO)), Err(Errno::EPERM));
    m.hooks.iomem.push(OTHER);
    m.set_as(into_other, O_L1, 5, pte(io_frame, RO)).unwrap();
    // Without the caller's permission, DOMID_IO maps nothing.
    m.hooks.iomem.retain(|&d| d != DOM);
    assert_eq!(m.set_as(io, L1, 11, pte(io_frame, RO)), Err(Errno::EPERM));
    // No page-table, clear or copy operations on DOMID_IO or DOMID_XEN.
    for pg in [DomId::IO, DomId::XEN] {
        let owners = MmuOwners::foreign(DOM, pg, false);
        for cmd in [MmuextCmd::PinL1Table, MmuextCmd::UnpinTable, MmuextCmd::ClearPage] {
            assert_eq!(m.ext_owners(owners, cmd, io_frame.0), Err(Errno::EINVAL), "{cmd:?}");
        }
    }
    // DOMID_XEN owns no frame here: nothing to map.
    let xen = MmuOwners::foreign(DOM, DomId::XEN, false);
    assert_eq!(m.set_as(xen, L1, 11, pte(UNOWNED, RO)), Err(Errno::EBUSY));
    m.audit();
}
