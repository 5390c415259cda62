// SPDX-License-Identifier: GPL-2.0-only
//! `do_mmu_update`: commands, pointers, batches and reference movement.

use guest_abi::xen::{Errno, MmuUpdate};

use super::super::types::*;
use super::super::{INVALID_M2P_ENTRY, M2p};
use super::*;

#[test]
fn map_and_unmap_move_exactly_one_reference() {
    let mut m = Machine::guest();
    let f = SPARE[0];
    m.set(L1, 20, pte(f, RW)).unwrap();
    assert_eq!((m.counts(f), m.ty(f)), ((2, 1), PageType::Writable));
    m.audit();
    m.set(L1, 20, 0).unwrap();
    assert_eq!(m.counts(f), (1, 0));
    m.set(L1, 20, pte(f, RO)).unwrap();
    assert_eq!(m.counts(f), (2, 0));
    m.set(L1, 21, pte(f, RO)).unwrap();
    assert_eq!(m.counts(f), (3, 0));
    m.audit();
    m.mmu(&[upd(L1, 20, 0), upd(L1, 21, 0)]).1.unwrap();
    assert_eq!(m.counts(f), (1, 0));
    m.audit();
}

#[test]
fn replacing_an_entry_moves_references_between_frames() {
    let mut m = Machine::guest();
    m.set(L1, 0, pte(SPARE[0], RW)).unwrap();
    assert_eq!(m.counts(RW_DATA[0]), (1, 0));
    assert_eq!(m.counts(SPARE[0]), (2, 1));
    // Same frame, RW → RO: the slow path, type reference dropped.
    m.set(L1, 0, pte(SPARE[0], RO)).unwrap();
    assert_eq!(m.counts(SPARE[0]), (2, 0));
    m.audit();
}

#[test]
fn failed_replacement_keeps_the_old_entry_and_its_references() {
    let mut m = Machine::guest();
    let old = m.read(L2, 0);
    assert_eq!(m.set(L2, 0, pte(FOREIGN, RW)), Err(Errno::EINVAL));
    assert_eq!(m.read(L2, 0), old);
    assert!(m.info(L1).type_info.validated);
    assert_eq!(m.counts(RW_DATA[0]), (2, 1));
    m.audit();
}

#[test]
fn new_reference_is_taken_before_the_old_one_is_dropped() {
    // L1 is referenced only by L2[0] (unpinned tree below the L4). Moving
    // that reference to a read-only variant of the same entry must not
    // devalidate and revalidate L1: its type count never reaches 0, so no
    // type change (and no flush) happens and the data keeps its counts.
    let mut m = Machine::guest();
    m.set(L2, 0, pte(L1, RO)).unwrap();
    let l1 = m.info(L1).type_info;
    assert_eq!((l1.count, l1.validated), (1, true));
    assert_eq!(m.counts(RW_DATA[0]), (2, 1));
    assert!(m.hooks.flushes.is_empty());
    // Dropping it devalidates the whole L1.
    m.set(L2, 0, 0).unwrap();
    assert_eq!(m.counts(L1), (1, 0));
    assert_eq!(m.counts(RW_DATA[0]), (1, 0));
    m.audit();
}

#[test]
fn fast_path_changes_flags_without_moving_references() {
    let mut m = Machine::guest();
    let before = m.counts(RW_DATA[1]);
    let v = pte(RW_DATA[1], RW | AD | PAGE_NX | PAGE_AVAIL);
    m.set(L1, 1, v).unwrap();
    assert_eq!(m.read(L1, 1), v | PAGE_GLOBAL);
    assert_eq!(m.counts(RW_DATA[1]), before);
    m.audit();
}

#[test]
fn preserve_ad_keeps_hardware_bits() {
    let mut m = Machine::guest();
    // The CPU sets A/D in the live entry.
    let live = m.read(L1, 2) | AD;
    m.write(L1, 2, live);
    let new = pte(RW_DATA[2], RW & !PAGE_ACCESSED);
    let req = MmuUpdate { ptr: upd(L1, 2, 0).ptr | 2, val: new };
    m.mmu(&[req]).1.unwrap();
    assert_eq!(m.read(L1, 2) & AD, AD);
    // A normal update writes exactly what was asked (after adjustment).
    m.set(L1, 2, new).unwrap();
    assert_eq!(m.read(L1, 2) & AD, 0);
    // Preserving into a cleared entry keeps the bits, not the mapping.
    m.write(L1, 3, m.read(L1, 3) | AD);
    m.mmu(&[MmuUpdate { ptr: upd(L1, 3, 0).ptr | 2, val: 0 }]).1.unwrap();
    assert_eq!(m.read(L1, 3), AD);
    assert_eq!(m.counts(RW_DATA[3]), (1, 0));
    m.audit();
}

#[test]
fn no_translate_is_a_normal_update_for_pv() {
    let mut m = Machine::guest();
    m.mmu(&[MmuUpdate { ptr: upd(L1, 30, 0).ptr | 3, val: pte(SPARE[0], RO) }]).1.unwrap();
    assert_eq!(m.counts(SPARE[0]), (2, 0));
    m.audit();
}

#[test]
fn misaligned_pointers_are_unknown_commands() {
    let mut m = Machine::guest();
    let base = upd(L1, 9, 0).ptr;
    for low in 4..8 {
        let req = MmuUpdate { ptr: base | low, val: pte(SPARE[0], RO) };
        assert_eq!(m.mmu(&[req]), (0, Err(Errno::ENOSYS)), "ptr & 7 = {low}");
    }
    assert_eq!(m.counts(SPARE[0]), (1, 0));
    m.audit();
}

#[test]
fn pointers_outside_memory_or_the_domain_fail() {
    let mut m = Machine::guest();
    for table in [Mfn(NR_FRAMES), Mfn(1 << 40), Mfn(u64::MAX >> 12), FOREIGN, UNOWNED] {
        let req = upd(table, 0, pte(SPARE[0], RO));
        assert_eq!(m.mmu(&[req]), (0, Err(Errno::EINVAL)), "{table}");
    }
    // Covered by the frame table and owned, but with no memory behind it.
    let mut m = Machine::empty();
    m.frames = FrameTable::new(NR_FRAMES + 1);
    m.frames.assign(Mfn(NR_FRAMES), DOM).unwrap();
    assert_eq!(m.set(Mfn(NR_FRAMES), 0, 1).unwrap_err(), Errno::EINVAL);
    assert_eq!(m.counts(Mfn(NR_FRAMES)), (1, 0));
}

#[test]
fn plain_frames_are_written_as_data() {
    let mut m = Machine::guest();
    // Untyped spare frame: a plain write under a temporary Writable ref.
    m.set(SPARE[0], 7, 0xABCD).unwrap();
    assert_eq!(m.read(SPARE[0], 7), 0xABCD);
    assert_eq!((m.counts(SPARE[0]), m.ty(SPARE[0])), ((1, 0), PageType::Writable));
    // A writably mapped data frame, and a read-only mapped one.
    m.set(RW_DATA[0], 1, 5).unwrap();
    m.set(RO_DATA[0], 1, 6).unwrap();
    assert_eq!((m.read(RW_DATA[0], 1), m.read(RO_DATA[0], 1)), (5, 6));
    assert_eq!(m.counts(RW_DATA[0]), (2, 1));
    assert_eq!(m.counts(RO_DATA[0]), (2, 0));
    // A former page table nobody uses any more is plain data again.
    m.unpin(L4).unwrap();
    m.set(L1, 0, u64::MAX).unwrap();
    assert_eq!(m.read(L1, 0), u64::MAX);
    assert_eq!(m.ty(L1), PageType::Writable);
    m.audit();
}

#[test]
fn descriptor_pages_cannot_be_written() {
    let mut m = Machine::guest();
    let gdt = SPARE[2];
    m.mm().get_page_and_type(gdt, DOM, PageType::SegDesc).unwrap();
    assert_eq!(m.set(gdt, 0, 0x00AF_9A00_0000_FFFF), Err(Errno::EINVAL));
    assert_eq!(m.read(gdt, 0), 0);
    m.mm().put_page_and_type(gdt);
    assert_eq!(m.counts(gdt), (1, 0));
}

#[test]
fn batch_stops_at_the_first_failure() {
    let mut m = Machine::guest();
    let k = 217;
    let mut reqs: Vec<_> = (0..300).map(|i| upd(L1, 100 + i, pte(SPARE[0], RO))).collect();
    reqs[k] = upd(L1, 100 + k as u64, pte(FOREIGN, RO));
    assert_eq!(m.mmu(&reqs), (k, Err(Errno::EBUSY)));
    assert_eq!(m.counts(SPARE[0]), (1 + k as u32, 0), "requests 0..k applied");
    assert_ne!(m.read(L1, 100 + k - 1), 0);
    assert_eq!(m.read(L1, 100 + k), 0);
    assert_eq!(m.read(L1, 100 + k + 1), 0, "nothing after the failure ran");
    m.audit();
    // The guest resumes after the failing request.
    assert_eq!(m.mmu(&reqs[k + 1..]), (300 - k - 1, Ok(())));
    assert_eq!(m.counts(SPARE[0]), (300, 0));
    assert_eq!(m.mmu(&[]), (0, Ok(())));
    // Unmapping everything in one batch returns the count to its start.
    let unmap: Vec<_> = (0..300).map(|i| upd(L1, 100 + i, 0)).collect();
    assert_eq!(m.mmu(&unmap), (300, Ok(())));
    assert_eq!(m.counts(SPARE[0]), (1, 0));
    m.audit();
}

#[test]
fn machphys_update_needs_an_owned_frame() {
    let mut m = Machine::guest();
    let mp = |mfn: Mfn, pfn: u64| MmuUpdate { ptr: (mfn.0 << 12) | 1, val: pfn };
    m.mmu(&[mp(SPARE[0], 0x42), mp(L1, 7)]).1.unwrap();
    assert_eq!(m.m2p.get_gpfn_from_mfn(SPARE[0]), 0x42);
    assert_eq!(m.m2p.get_gpfn_from_mfn(L1), 7, "any owned frame, page tables too");
    for bad in [FOREIGN, UNOWNED, Mfn(NR_FRAMES), Mfn(u64::MAX >> 12)] {
        assert_eq!(m.mmu(&[mp(bad, 1)]), (0, Err(Errno::EINVAL)), "{bad}");
        assert_eq!(m.m2p.get_gpfn_from_mfn(bad), INVALID_M2P_ENTRY);
    }
    assert_eq!(m.counts(SPARE[0]), (1, 0));
    m.audit();
}

#[test]
fn new_subtrees_are_validated_when_hooked_in() {
    let mut m = Machine::guest();
    let [l3, l2, l1, data, ..] = SPARE;
    m.write(l3, 0, pte(l2, RW));
    m.write(l2, 3, pte(l1, RW));
    m.write(l1, 0, pte(data, RW));
    m.set(L4, 1, pte(l3, RW)).unwrap();
    for (t, ty) in [(l3, PageType::L3), (l2, PageType::L2), (l1, PageType::L1)] {
        assert_eq!((m.ty(t), m.counts(t)), (ty, (2, 1)));
    }
    assert_eq!(m.counts(data), (2, 1));
    m.audit();
    // Unhooking it releases the whole subtree.
    m.set(L4, 1, 0).unwrap();
    for t in [l3, l2, l1, data] {
        assert_eq!(m.counts(t), (1, 0));
    }
    m.audit();
}

#[test]
fn a_table_shared_by_two_parents_stays_validated() {
    let mut m = Machine::guest();
    m.set(L2, 1, pte(L1, RW)).unwrap();
    assert_eq!(m.counts(L1), (3, 2));
    m.set(L2, 0, 0).unwrap();
    assert!(m.info(L1).type_info.validated);
    assert_eq!(m.counts(RW_DATA[0]), (2, 1));
    m.audit();
}
