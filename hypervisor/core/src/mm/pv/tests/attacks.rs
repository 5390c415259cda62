// SPDX-License-Identifier: GPL-2.0-only
//! Attacks on the page-table rules (reliability plan T2, Xen XSA history):
//! each must fail with Xen's errno and change nothing.

use guest_abi::xen::Errno;

use super::super::types::*;
use super::*;

/// Every frame's accounting, to prove a refused request changed nothing.
fn snapshot(m: &Machine) -> Vec<PageInfo> {
    (0..NR_FRAMES).map(|f| m.info(Mfn(f))).collect()
}

/// Applies `update` to the pinned standard layout and expects `err` with
/// memory and accounting untouched.
#[track_caller]
fn refused(m: &mut Machine, table: Mfn, index: u64, val: u64, err: Errno) {
    let before = snapshot(m);
    let old = m.read(table, index as usize);
    assert_eq!(m.set(table, index, val), Err(err));
    assert_eq!(m.read(table, index as usize), old, "entry unchanged");
    assert_eq!(snapshot(m), before, "accounting unchanged");
    m.audit();
}

#[test]
fn l1_cannot_map_any_page_table_writable_at_validation() {
    for table in [L4, L3, L2, L1] {
        let mut m = Machine::unpinned();
        m.write(L1, 9, pte(table, RW));
        assert_eq!(m.pin(4, L4), Err(Errno::EBUSY), "RW mapping of {table}");
        m.audit();
    }
}

#[test]
fn mmu_update_cannot_map_any_page_table_writable() {
    let mut m = Machine::guest();
    for table in [L4, L3, L2, L1] {
        refused(&mut m, L1, 9, pte(table, RW), Errno::EBUSY);
        // Read-only is fine, and takes only a general reference.
        let before = m.counts(table);
        m.set(L1, 9, pte(table, RO)).unwrap();
        assert_eq!(m.counts(table), (before.0 + 1, before.1));
        m.audit();
        m.set(L1, 9, 0).unwrap();
        assert_eq!(m.counts(table), before);
    }
}

#[test]
fn read_only_mapping_of_a_page_table_cannot_be_flipped_writable() {
    // XSA-182: the fast path must not accept an RW change.
    let mut m = Machine::guest();
    m.set(L1, 9, pte(L2, RO)).unwrap();
    refused(&mut m, L1, 9, pte(L2, RO | PAGE_RW), Errno::EBUSY);
    refused(&mut m, L1, 9, pte(L2, RO | PAGE_RW | AD), Errno::EBUSY);
    // A/D changes on the same read-only mapping do take the fast path.
    m.set(L1, 9, pte(L2, RO | AD)).unwrap();
    m.audit();
}

#[test]
fn frame_mapped_writable_cannot_become_a_page_table() {
    let mut m = Machine::guest();
    let f = SPARE[0];
    m.set(L1, 9, pte(f, RW)).unwrap();
    for level in 1..=4 {
        assert_eq!(m.pin(level, f), Err(Errno::EINVAL), "L{level}");
    }
    // Nor can it be hooked into the tree as one.
    refused(&mut m, L2, 1, pte(f, RW), Errno::EINVAL);
    m.set(L1, 9, 0).unwrap();
    m.pin(1, f).unwrap();
    refused(&mut m, L1, 9, pte(f, RW), Errno::EBUSY);
    m.audit();
}

#[test]
fn writable_self_maps_are_refused_at_every_level() {
    let mut m = Machine::guest();
    refused(&mut m, L4, 5, pte(L4, RW), Errno::EINVAL);
    refused(&mut m, L3, 5, pte(L3, RW), Errno::EINVAL);
    refused(&mut m, L2, 5, pte(L2, RW), Errno::EINVAL);
    refused(&mut m, L1, 5, pte(L1, RW), Errno::EBUSY);
}

#[test]
fn read_only_self_maps_are_allowed_and_take_nothing() {
    let mut m = Machine::guest();
    for t in [L4, L3, L2, L1] {
        let before = m.counts(t);
        m.set(t, 5, pte(t, RO)).unwrap();
        let expected = if t == L1 { (before.0 + 1, before.1) } else { before };
        assert_eq!(m.counts(t), expected, "{t}");
        assert_eq!(m.info(t).linear_pt_count, 0);
        m.audit();
        // XSA-182 again: flipping RW on the recursive entry.
        let err = if t == L1 { Errno::EBUSY } else { Errno::EINVAL };
        refused(&mut m, t, 5, pte(t, RW), err);
        m.set(t, 5, 0).unwrap();
        assert_eq!(m.counts(t), before);
    }
    // A recursive L4 entry present at pin time is fine too.
    m.unpin(L4).unwrap();
    m.write(L4, 5, pte(L4, RO));
    m.pin(4, L4).unwrap();
    assert_eq!(m.counts(L4), (2, 1));
    m.unpin(L4).unwrap();
    m.write(L4, 5, pte(L4, RW));
    assert_eq!(m.pin(4, L4), Err(Errno::EINVAL));
    m.audit();
}

#[test]
fn linear_mapping_of_another_table_is_counted() {
    let mut m = Machine::guest();
    let other_l4 = SPARE[0];
    m.pin(4, other_l4).unwrap();
    assert_eq!(m.set(L4, 6, pte(other_l4, RW)), Err(Errno::EINVAL));
    m.set(L4, 6, pte(other_l4, RO)).unwrap();
    assert_eq!(m.counts(other_l4), (3, 2));
    assert_eq!(m.info(L4).linear_pt_count, 1);
    assert_eq!(m.info(other_l4).linear_pt_count, -1);
    m.audit();
    // The target must be validated: an unpinned, unreferenced L2 is not.
    m.unpin(other_l4).unwrap();
    assert!(m.info(other_l4).type_info.validated, "the linear entry keeps it");
    m.set(L4, 6, 0).unwrap();
    assert_eq!(m.counts(other_l4), (1, 0));
    assert!(!m.info(other_l4).type_info.validated);
    assert_eq!((m.info(L4).linear_pt_count, m.info(other_l4).linear_pt_count), (0, 0));
    // Now it is no validated L4, so the same entry is refused.
    assert_eq!(m.set(L4, 6, pte(other_l4, RO)), Err(Errno::EINVAL));
    assert_eq!(m.counts(other_l4), (1, 0));
    assert_eq!(m.info(L4).linear_pt_count, 0);
    m.audit();
}

#[test]
fn linear_mapping_of_another_domains_table_is_refused() {
    let mut m = Machine::guest();
    let theirs = Mfn(41);
    m.ext_as(OTHER, &[op(MmuextCmd::PinL4Table, theirs.0, 0)]).1.unwrap();
    refused(&mut m, L4, 6, pte(theirs, RO), Errno::EINVAL);
    m.pin(3, SPARE[0]).unwrap();
    refused(&mut m, SPARE[0], 0, pte(Mfn(42), RO), Errno::EINVAL);
    m.ext_as(OTHER, &[op(MmuextCmd::PinL3Table, 42, 0)]).1.unwrap();
    refused(&mut m, SPARE[0], 0, pte(Mfn(42), RO), Errno::EINVAL);
    // Nor the other way round: their table naming ours.
    let (n, rc) = m.mmu_as(OTHER, &[upd(theirs, 6, pte(L4, RO))]);
    assert_eq!((n, rc), (0, Err(Errno::EINVAL)));
    assert_eq!(m.counts(L4), (2, 1));
    m.audit();
}

#[test]
fn linear_chains_are_refused() {
    // XSA-240: A → B → C linear chains allow unbounded de-typing recursion.
    let mut m = Machine::guest();
    let [a, b, c, ..] = SPARE;
    for t in [a, b, c] {
        m.pin(2, t).unwrap();
    }
    m.set(a, 0, pte(b, RO)).unwrap();
    refused(&mut m, b, 0, pte(c, RO), Errno::EINVAL); // b is a linear target
    refused(&mut m, c, 0, pte(a, RO), Errno::EINVAL); // a holds linear entries
    m.set(a, 1, pte(c, RO)).unwrap(); // a may hold several
    assert_eq!(m.info(a).linear_pt_count, 2);
    // The linear entries keep b and c validated after their unpin...
    m.unpin(b).unwrap();
    m.unpin(c).unwrap();
    assert_eq!(m.counts(b), (2, 1));
    assert!(m.info(c).type_info.validated);
    m.audit();
    // ...and devalidating a (one level of recursion) unwinds every count.
    m.unpin(a).unwrap();
    for t in [a, b, c] {
        assert_eq!(m.counts(t), (1, 0));
        assert_eq!(m.info(t).linear_pt_count, 0);
    }
    m.audit();
}

#[test]
fn type_confusion_is_refused() {
    let mut m = Machine::guest();
    // Pinning a table at the wrong level.
    assert_eq!(m.pin(2, L1), Err(Errno::EINVAL));
    assert_eq!(m.pin(1, L2), Err(Errno::EINVAL));
    assert_eq!(m.pin(3, L4), Err(Errno::EINVAL));
    // An L2 entry naming an L2 (not an L1) writable; an L3 entry naming an
    // L1; an L4 entry naming an L2.
    m.pin(2, SPARE[0]).unwrap();
    refused(&mut m, L2, 1, pte(SPARE[0], RW), Errno::EINVAL);
    refused(&mut m, L3, 1, pte(L1, RW), Errno::EINVAL);
    refused(&mut m, L3, 1, pte(L1, RO), Errno::EINVAL);
    refused(&mut m, L4, 1, pte(L2, RO), Errno::EINVAL);
    // A data frame mapped writable is no page table either.
    refused(&mut m, L2, 1, pte(RW_DATA[0], RW), Errno::EINVAL);
    m.audit();
}

#[test]
fn foreign_unowned_and_missing_frames_cannot_be_mapped() {
    let mut m = Machine::guest();
    for (val, err) in [
        (pte(FOREIGN, RO), Errno::EBUSY),
        (pte(FOREIGN, RW), Errno::EBUSY),
        (pte(UNOWNED, RO), Errno::EBUSY),
        (pte(Mfn(0x8_0000), RO), Errno::EPERM),
    ] {
        refused(&mut m, L1, 9, val, err);
    }
    for table in [L2, L3, L4] {
        refused(&mut m, table, 1, pte(FOREIGN, RO), Errno::EINVAL);
        refused(&mut m, table, 1, pte(UNOWNED, RW), Errno::EINVAL);
        refused(&mut m, table, 1, pte(Mfn(0x8_0000), RW), Errno::EINVAL);
    }
}

#[test]
fn hypervisor_l4_slots_cannot_be_written() {
    let mut m = Machine::guest();
    for slot in [256, 258, 271] {
        refused(&mut m, L4, slot, 0, Errno::EINVAL);
        refused(&mut m, L4, slot, pte(L3, RO), Errno::EINVAL);
    }
    m.set(L4, 272, 0).unwrap();
    m.set(L4, 255, 0).unwrap();
}

#[test]
fn superpage_via_mmu_update_is_refused() {
    // XSA-148: a PSE L2 entry over the guest's own page tables.
    let mut m = Machine::guest();
    refused(&mut m, L2, 1, pte(L1, RW | PAGE_PSE), Errno::EINVAL);
    refused(&mut m, L2, 0, pte(L1, RW | PAGE_PSE), Errno::EINVAL);
    refused(&mut m, L3, 1, pte(L2, RO | PAGE_PSE), Errno::EINVAL);
}

#[test]
fn releasing_a_mapped_frame_keeps_it_until_unmapped() {
    let mut m = Machine::guest();
    let f = RW_DATA[0];
    m.frames.release(f, DOM).unwrap();
    assert_eq!(m.counts(f), (1, 1));
    assert_eq!(m.info(f).owner, Some(DOM));
    assert!(m.frames.take_freed().is_empty());
    m.audit();
    m.set(L1, 0, 0).unwrap();
    assert_eq!(m.info(f), PageInfo::default());
    assert_eq!(m.frames.take_freed(), [f]);
    // A freed frame cannot be mapped again.
    refused(&mut m, L1, 0, pte(f, RW), Errno::EBUSY);
}

#[test]
fn releasing_a_pinned_table_keeps_it_until_unpinned() {
    let mut m = Machine::guest();
    m.frames.release(L4, DOM).unwrap();
    m.frames.release(L1, DOM).unwrap();
    m.audit();
    m.unpin(L4).unwrap();
    let freed = m.frames.take_freed();
    assert!(freed.contains(&L4) && freed.contains(&L1));
    assert_eq!(m.counts(RW_DATA[0]), (1, 0), "the freed L1 released its mappings");
    m.audit();
}

#[test]
fn another_domain_cannot_touch_the_tables() {
    let mut m = Machine::guest();
    let before = snapshot(&m);
    assert_eq!(m.mmu_as(OTHER, &[upd(L1, 9, pte(FOREIGN, RW))]), (0, Err(Errno::EINVAL)));
    assert_eq!(m.ext_as(OTHER, &[op(MmuextCmd::UnpinTable, L4.0, 0)]).1, Err(Errno::EINVAL));
    assert_eq!(m.ext_as(OTHER, &[op(MmuextCmd::PinL1Table, L1.0, 0)]).1, Err(Errno::EINVAL));
    assert_eq!(m.ext_as(OTHER, &[op(MmuextCmd::NewBaseptr, L4.0, 0)]).1, Err(Errno::EINVAL));
    assert_eq!(m.ext_as(OTHER, &[op(MmuextCmd::ClearPage, RW_DATA[0].0, 0)]).1, Err(Errno::EINVAL));
    assert_eq!(snapshot(&m), before);
    m.audit();
}
