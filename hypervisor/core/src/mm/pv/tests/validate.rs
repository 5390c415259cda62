// SPDX-License-Identifier: GPL-2.0-only
//! Validation of whole tables: pinning the standard layout, the reference
//! counts it produces, hypervisor slots, and the per-entry rules.

use guest_abi::xen::{DomId, Errno};

use super::super::frame_table::MAX_REF_COUNT;
use super::super::types::*;
use super::*;

/// Counts of the whole standard layout while its L4 is pinned.
fn assert_pinned_counts(m: &Machine) {
    assert_eq!(m.counts(L4), (2, 1), "allocation + pin");
    for t in [L3, L2, L1] {
        assert_eq!(m.counts(t), (2, 1), "allocation + parent entry");
    }
    for d in RW_DATA {
        assert_eq!(m.counts(d), (2, 1));
        assert_eq!(m.ty(d), PageType::Writable);
    }
    for d in RO_DATA {
        assert_eq!(m.counts(d), (2, 0));
    }
}

#[test]
fn pin_four_level_table_validates_everything() {
    let m = Machine::guest();
    assert_pinned_counts(&m);
    for (t, ty) in [(L4, PageType::L4), (L3, PageType::L3), (L2, PageType::L2), (L1, PageType::L1)]
    {
        let ti = m.info(t).type_info;
        assert_eq!(ti.ty, ty);
        assert!(ti.validated);
        assert_eq!(ti.pinned, t == L4);
    }
    m.audit();
}

#[test]
fn unpin_returns_every_count_to_its_start() {
    let mut m = Machine::unpinned();
    let before: Vec<_> = (0..NR_FRAMES).map(|f| m.counts(Mfn(f))).collect();
    for _ in 0..3 {
        m.pin(4, L4).unwrap();
        assert_pinned_counts(&m);
        m.audit();
        m.unpin(L4).unwrap();
        let after: Vec<_> = (0..NR_FRAMES).map(|f| m.counts(Mfn(f))).collect();
        assert_eq!(before, after);
        m.audit();
    }
    // Types stay, but page tables are no longer validated.
    assert_eq!(m.ty(L2), PageType::L2);
    assert!(!m.info(L2).type_info.validated);
    assert_eq!(m.ty(RW_DATA[0]), PageType::Writable);
}

#[test]
fn validation_adjusts_entries_like_xen() {
    let m = Machine::guest();
    assert_eq!(m.read(L4, 0), pte(L3, RW) | PAGE_USER | PAGE_ACCESSED);
    assert_eq!(m.read(L3, 0), pte(L2, RW) | PAGE_USER);
    // Guest entries with _PAGE_USER are user mappings: made global.
    assert_eq!(m.read(L1, 0), pte(RW_DATA[0], RW) | PAGE_GLOBAL);
}

#[test]
fn validation_installs_hypervisor_l4_slots_over_guest_junk() {
    let mut m = Machine::unpinned();
    // What Linux does: copy the kernel half (incl. Xen's slots) of another
    // L4. Here the "copy" is junk, even a writable self-map and a foreign
    // frame: validation must neither take references for nor reject it.
    m.write(L4, 256, pte(L4, RW));
    m.write(L4, 260, pte(FOREIGN, RW));
    m.write(L4, 271, u64::MAX);
    m.pin(4, L4).unwrap();
    for slot in 256..=271 {
        assert_eq!(m.read(L4, slot), xen_slot_value(slot));
    }
    assert_eq!(m.counts(L4), (2, 1));
    assert_eq!(m.counts(FOREIGN), (1, 0));
    m.audit();
    m.unpin(L4).unwrap();
    assert_eq!(m.counts(L4), (1, 0));
    m.audit();
}

#[test]
fn guest_l4_slots_above_the_hole_are_validated() {
    let mut m = Machine::unpinned();
    m.write(L4, 272, pte(FOREIGN, RO));
    assert_eq!(m.pin(4, L4), Err(Errno::EINVAL));
    m.write(L4, 272, pte(SPARE[0], RO));
    m.write(SPARE[0], 0, pte(UNOWNED, RO));
    assert_eq!(m.pin(4, L4), Err(Errno::EINVAL), "its L3 entry names an unowned frame");
    m.write(SPARE[0], 0, 0);
    m.pin(4, L4).unwrap();
    assert_eq!(m.ty(SPARE[0]), PageType::L3);
    m.audit();
}

#[test]
fn failed_validation_releases_everything_taken_so_far() {
    let mut m = Machine::unpinned();
    let before: Vec<_> = (0..NR_FRAMES).map(|f| m.info(Mfn(f))).collect();
    // The last L1 entry is bad: every earlier one already took references.
    m.write(L1, 511, pte(FOREIGN, RO));
    assert_eq!(m.pin(4, L4), Err(Errno::EBUSY));
    for f in 0..NR_FRAMES {
        let (was, now) = (before[f as usize], m.info(Mfn(f)));
        assert_eq!((was.count, was.type_info.count), (now.count, now.type_info.count), "{f}");
        assert_eq!(now.linear_pt_count, 0);
    }
    assert_eq!(m.info(L4).type_info, TypeInfo::default(), "untyped again");
    assert_eq!(m.info(L1).type_info, TypeInfo::default());
    m.audit();
    m.write(L1, 511, 0);
    m.pin(4, L4).unwrap();
    m.audit();
}

#[test]
fn superpages_are_refused_at_l2_and_l3() {
    for (table, level) in [(L2, 2), (L3, 3)] {
        let mut m = Machine::unpinned();
        m.write(table, 1, pte(SPARE[0], RO | PAGE_PSE));
        assert_eq!(m.pin(level, table), Err(Errno::EINVAL), "PSE in L{level}");
        assert_eq!(m.pin(4, L4), Err(Errno::EINVAL));
        m.audit();
    }
}

#[test]
fn disallowed_flags_are_refused_at_every_level() {
    let cases = [
        (L1, 1, PAGE_PWT),
        (L1, 1, PAGE_PCD),
        (L1, 1, PAGE_PAT),
        (L2, 2, PAGE_GLOBAL),
        (L2, 2, PAGE_PCD),
        (L3, 3, PAGE_PWT),
        (L4, 4, PAGE_GLOBAL),
    ];
    for (table, level, bad) in cases {
        let mut m = Machine::unpinned();
        let target = if level == 1 { RO_DATA[0] } else { SPARE[0] };
        m.write(table, 9, pte(target, RO | bad));
        assert_eq!(m.pin(level, table), Err(Errno::EINVAL), "L{level} flag {bad:#x}");
        m.audit();
    }
    // The global bit and the available bits are fine in an L1.
    let mut m = Machine::unpinned();
    m.write(L1, 9, pte(RO_DATA[0], RO | PAGE_GLOBAL | PAGE_AVAIL | PAGE_AVAIL_HIGH | PAGE_NX));
    m.pin(1, L1).unwrap();
    m.audit();
}

#[test]
fn cache_attributes_need_io_capabilities() {
    let mut m = Machine::unpinned();
    m.write(L1, 9, pte(RO_DATA[0], RO | PAGE_PCD | PAGE_PWT));
    assert_eq!(m.pin(1, L1), Err(Errno::EINVAL));
    m.hooks.iomem.push(DOM);
    m.pin(1, L1).unwrap();
    m.audit();
}

#[test]
fn io_frames_need_permission_and_take_no_references() {
    let mut m = Machine::unpinned();
    let io_in_table = Mfn(6);
    m.frames.assign(io_in_table, DomId::IO).unwrap();
    let beyond = Mfn(0x10_0000); // outside the frame table: MMIO
    m.write(L1, 9, pte(beyond, RW));
    assert_eq!(m.pin(1, L1), Err(Errno::EPERM));
    m.write(L1, 9, pte(io_in_table, RW));
    assert_eq!(m.pin(1, L1), Err(Errno::EPERM));
    m.write(L1, 9, pte(INVALID_PTE_MFN, RO));
    assert_eq!(m.pin(1, L1), Err(Errno::EINVAL), "INVALID_MFN is EINVAL");
    m.hooks.iomem.push(DOM);
    m.write(L1, 9, pte(io_in_table, RW));
    m.write(L1, 10, pte(beyond, RW));
    m.pin(1, L1).unwrap();
    assert_eq!(m.counts(io_in_table), (1, 0));
    m.audit();
    m.unpin(L1).unwrap();
    assert_eq!(m.counts(io_in_table), (1, 0));
    // An I/O frame is never a page table, even for a privileged domain.
    m.write(L2, 1, pte(io_in_table, RO));
    assert_eq!(m.pin(2, L2), Err(Errno::EINVAL));
    m.audit();
}

#[test]
fn descriptor_pages_are_checked_and_exclusive() {
    let mut m = Machine::unpinned();
    let gdt = SPARE[1];
    m.write(gdt, 0, 0x00AF_FA00_0000_FFFF);
    m.write(gdt, 1, 0x0000_8900_0000_0067); // a TSS: refused
    assert_eq!(m.mm().get_page_and_type(gdt, DOM, PageType::SegDesc), Err(Errno::EINVAL));
    assert_eq!(m.counts(gdt), (1, 0));
    m.write(gdt, 1, 0);
    m.mm().get_page_and_type(gdt, DOM, PageType::SegDesc).unwrap();
    assert_eq!(m.counts(gdt), (2, 1));
    // Neither writable nor a page table while in use.
    m.write(L1, 9, pte(gdt, RW));
    assert_eq!(m.pin(1, L1), Err(Errno::EBUSY));
    assert_eq!(m.pin(1, gdt), Err(Errno::EINVAL));
    m.write(L1, 9, pte(gdt, RO));
    m.pin(1, L1).unwrap();
    m.mm().put_page_and_type(gdt);
    assert_eq!(m.counts(gdt), (2, 0), "still mapped read-only");
    m.unpin(L1).unwrap();
    assert_eq!(m.counts(gdt), (1, 0));
    m.audit();
}

#[test]
fn type_count_overflow_is_refused() {
    let mut m = Machine::guest();
    m.frames.set_type_count_for_test(L1, MAX_REF_COUNT);
    assert_eq!(m.mm().get_page_type(L1, PageType::L1), Err(Errno::EINVAL));
    m.frames.set_type_count_for_test(L1, 1);
    m.audit();
}

#[test]
fn table_in_use_but_not_validated_is_refused() {
    // Only reachable mid-validation (or mid-devalidation) of the same
    // frame; forced here through the test hook.
    let mut m = Machine::guest();
    m.unpin(L4).unwrap();
    assert!(!m.info(L2).type_info.validated);
    m.frames.set_type_count_for_test(L2, 1);
    assert_eq!(m.mm().get_page_type(L2, PageType::L2), Err(Errno::EINVAL));
    assert_eq!(m.set(L2, 0, 0), Err(Errno::EINVAL), "no page_lock, no Writable type");
    // A linear entry to it would expose unchecked entries to the MMU.
    m.pin(2, SPARE[0]).unwrap();
    assert_eq!(m.set(SPARE[0], 0, pte(L2, RO)), Err(Errno::EINVAL));
    assert_eq!(m.info(L2).linear_pt_count, 0);
    assert_eq!(m.info(SPARE[0]).linear_pt_count, 0);
    m.frames.set_type_count_for_test(L2, 0);
    m.audit();
}

#[test]
fn dropping_the_last_type_reference_clears_a_stale_pin() {
    // Machine-layer misuse (put_page_type on a pinned table without an
    // unpin) must not leave a pinned flag on an untyped frame.
    let mut m = Machine::guest();
    m.mm().put_page_type(L4);
    let t = m.info(L4).type_info;
    assert_eq!((t.count, t.pinned, t.validated), (0, false, false));
    assert_eq!(m.counts(RW_DATA[0]), (1, 0));
    m.mm().put_page_type(L4); // not held: ignored
    assert_eq!(m.counts(L4), (2, 0));
}

#[test]
fn type_change_from_previous_use_asks_for_a_tlb_flush() {
    let mut m = Machine::guest();
    assert!(m.hooks.flushes.is_empty(), "fresh frames need no flush");
    m.unpin(L4).unwrap();
    // RW_DATA[0] was writable; it now becomes a page table.
    m.pin(1, RW_DATA[0]).unwrap();
    assert_eq!(m.hooks.flushes, [(DOM, RW_DATA[0])]);
    m.audit();
}

#[test]
fn a_type_change_filters_with_the_time_the_last_type_reference_went() {
    let mut m = Machine::guest();
    // RW_DATA[0] is mapped writable by the fixture's tables; tick the
    // clock, then drop that mapping's type reference with the L4.
    for _ in 0..5 {
        let _ = m.hooks.clock.pre_flush();
    }
    let dropped_at = m.hooks.clock.current();
    m.unpin(L4).unwrap();
    assert_eq!(m.info(RW_DATA[0]).type_info.count, 0);
    assert_eq!(m.info(RW_DATA[0]).tlbflush_timestamp, dropped_at);
    // Later flushes do not change the frame's stamp...
    let _ = m.hooks.clock.pre_flush();
    m.pin(1, RW_DATA[0]).unwrap();
    // ...and the type change asks to flush whoever has not flushed since.
    assert_eq!(m.hooks.flushes, [(DOM, RW_DATA[0])]);
    assert_eq!(m.hooks.flush_stamps, [dropped_at]);
    m.audit();
}
