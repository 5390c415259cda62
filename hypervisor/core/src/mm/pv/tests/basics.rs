// SPDX-License-Identifier: GPL-2.0-only
//! Frame table, memory, M2P and PTE helpers.

use guest_abi::xen::Errno;

use super::super::frame_table::MAX_REF_COUNT;
use super::super::types::*;
use super::super::{INVALID_M2P_ENTRY, M2p, check_descriptor_conservative};
use super::*;

#[test]
fn assign_takes_allocation_reference() {
    let mut m = Machine::empty();
    m.frames.assign(Mfn(3), DOM).unwrap();
    let i = m.info(Mfn(3));
    assert_eq!(i.owner, Some(DOM));
    assert!(i.allocated);
    assert_eq!(i.count, 1);
    assert_eq!(i.type_info, TypeInfo::default());
    assert_eq!(m.frames.assign(Mfn(3), OTHER), Err(Errno::EBUSY));
    assert_eq!(m.frames.assign(Mfn(NR_FRAMES), DOM), Err(Errno::EINVAL));
    assert_eq!(m.frames.assign(Mfn(u64::MAX), DOM), Err(Errno::EINVAL));
    assert_eq!(m.frames.max_page(), NR_FRAMES);
    assert!(m.frames.mfn_valid(Mfn(NR_FRAMES - 1)));
    assert!(!m.frames.mfn_valid(Mfn(NR_FRAMES)));
}

#[test]
fn get_page_only_for_the_owner_of_an_allocated_frame() {
    let mut m = Machine::unpinned();
    assert!(m.frames.get_page(L1, DOM));
    assert_eq!(m.counts(L1), (2, 0));
    m.frames.put_page(L1);
    assert_eq!(m.counts(L1), (1, 0));
    // Foreign, free, hypervisor and out-of-range frames.
    assert!(!m.frames.get_page(FOREIGN, DOM));
    assert!(!m.frames.get_page(UNOWNED, DOM));
    assert!(!m.frames.get_page(Mfn(NR_FRAMES), DOM));
    assert!(!m.frames.get_page(Mfn(u64::MAX), DOM));
    assert_eq!(m.counts(FOREIGN), (1, 0));
    assert_eq!(m.frames.owner(UNOWNED), None);
    m.audit();
}

#[test]
fn general_count_never_wraps() {
    let mut m = Machine::unpinned();
    m.frames.set_count_for_test(L1, MAX_REF_COUNT - 1);
    assert!(m.frames.get_page(L1, DOM));
    assert!(!m.frames.get_page(L1, DOM), "the last values are reserved");
    assert_eq!(m.counts(L1).0, MAX_REF_COUNT);
}

#[test]
fn last_put_frees_frame_and_release_waits_for_other_references() {
    let mut m = Machine::unpinned();
    let f = SPARE[0];
    assert!(m.frames.get_page(f, DOM));
    m.frames.release(f, DOM).unwrap();
    assert_eq!(m.frames.release(f, DOM), Err(Errno::EINVAL), "released twice");
    let i = m.info(f);
    assert_eq!((i.owner, i.allocated, i.count), (Some(DOM), false, 1));
    assert!(m.frames.take_freed().is_empty());
    m.frames.put_page(f);
    assert_eq!(m.info(f), PageInfo::default());
    assert_eq!(m.frames.take_freed(), [f]);
    assert!(m.frames.take_freed().is_empty());
    // A put with no reference held is ignored.
    m.frames.put_page(f);
    assert_eq!(m.info(f), PageInfo::default());
    // Freed frames can be given out again.
    m.frames.assign(f, OTHER).unwrap();
    assert_eq!(m.frames.release(f, DOM), Err(Errno::EINVAL), "not the owner");
}

#[test]
fn emulated_memory_and_m2p_are_total() {
    let mut mem = EmulatedMem::new();
    mem.add_frame(Mfn(7));
    mem.write_u64(Mfn(7), 3, 42);
    mem.write_u64(Mfn(7), 512, 1); // ignored
    mem.write_u64(Mfn(8), 0, 1); // ignored
    assert_eq!(mem.read_u64(Mfn(7), 3), 42);
    assert_eq!(mem.read_u64(Mfn(7), 512), 0);
    assert_eq!(mem.read_u64(Mfn(8), 0), 0);
    assert!(mem.frame_exists(Mfn(7)) && !mem.frame_exists(Mfn(8)));
    mem.add_frame(Mfn(9));
    mem.copy_frame(Mfn(9), Mfn(7));
    assert_eq!(mem.frame(Mfn(9)).unwrap()[3], 42);
    mem.zero_frame(Mfn(7));
    assert!(mem.frame(Mfn(7)).unwrap().iter().all(|&v| v == 0));

    let mut m2p = M2pTable::new(4);
    m2p.set_gpfn_from_mfn(Mfn(2), 77);
    m2p.set_gpfn_from_mfn(Mfn(4), 1); // ignored
    assert_eq!(m2p.get_gpfn_from_mfn(Mfn(2)), 77);
    assert_eq!(m2p.get_gpfn_from_mfn(Mfn(3)), INVALID_M2P_ENTRY);
    assert_eq!(m2p.get_gpfn_from_mfn(Mfn(u64::MAX)), INVALID_M2P_ENTRY);
}

#[test]
fn pte_helpers_and_masks() {
    let e = pte(Mfn(0x1234), PAGE_PRESENT | PAGE_RW | PAGE_NX);
    assert_eq!(e, 0x8000_0000_0123_4003);
    assert_eq!(pte_mfn(e), Mfn(0x1234));
    assert!(pte_present(e) && pte_writable(e));
    // Addresses wider than 52 bits are cut, never spill into flags.
    assert_eq!(pte_from_mfn(Mfn(u64::MAX), 0), PTE_ADDR_MASK);
    assert_eq!(BASE_DISALLOW_MASK, PAGE_PWT | PAGE_PCD | PAGE_PSE | PAGE_GLOBAL);
    assert_eq!(L1_DISALLOW_MASK, PAGE_PWT | PAGE_PCD | PAGE_PAT);
    assert_eq!(Level::L1.disallow_mask(true), 0);
    assert_eq!(Level::L3.disallow_mask(true), L2_DISALLOW_MASK);
    // Fast path: A/D/US/G/NX/avail may change, RW/P/address/PSE may not.
    assert!(!pte_needs_revalidation(e, e | AD | PAGE_USER | PAGE_GLOBAL | PAGE_AVAIL_HIGH));
    assert!(!pte_needs_revalidation(e, e & !PAGE_NX));
    assert!(pte_needs_revalidation(e, e & !PAGE_RW));
    assert!(pte_needs_revalidation(e, e & !PAGE_PRESENT));
    assert!(pte_needs_revalidation(e, e | PAGE_PSE));
    assert!(pte_needs_revalidation(e, e | PAGE_PCD));
    assert!(pte_needs_revalidation(e, pte(Mfn(0x1235), PAGE_PRESENT | PAGE_RW | PAGE_NX)));
}

#[test]
fn adjust_guest_entries_like_xen() {
    let k = pte(Mfn(1), PAGE_PRESENT | PAGE_RW);
    assert_eq!(Level::L1.adjust_guest_entry(k), k | PAGE_USER | PAGE_GUEST_KERNEL);
    let u = pte(Mfn(1), PAGE_PRESENT | PAGE_USER);
    assert_eq!(Level::L1.adjust_guest_entry(u), u | PAGE_GLOBAL);
    assert_eq!(Level::L2.adjust_guest_entry(k), k | PAGE_USER);
    assert_eq!(Level::L3.adjust_guest_entry(k), k | PAGE_USER);
    assert_eq!(Level::L4.adjust_guest_entry(k), k | PAGE_USER | PAGE_ACCESSED);
    assert_eq!(Level::L4.adjust_guest_entry(0x1000), 0x1000, "not present: untouched");
}

#[test]
fn levels_and_slots() {
    assert_eq!(
        Level::ALL.map(Level::page_type),
        [PageType::L1, PageType::L2, PageType::L3, PageType::L4]
    );
    assert_eq!(Level::L4.child(), Some(Level::L3));
    assert_eq!(Level::L1.child(), None);
    for (slot, guest) in
        [(0, true), (255, true), (256, false), (271, false), (272, true), (511, true)]
    {
        assert_eq!(Level::L4.is_guest_slot(slot), guest, "slot {slot}");
        assert!(Level::L3.is_guest_slot(slot));
    }
    assert!(PageType::SegDesc.is_protected() && !PageType::SegDesc.is_page_table());
    assert!(!PageType::Writable.is_protected() && PageType::L2.is_protected());
    assert_eq!(PageType::Writable.level(), None);
}

#[test]
fn conservative_descriptor_check() {
    let flat_code = 0x00AF_FA00_0000_FFFF; // present, S=1, DPL 3
    let tss = 0x0000_8900_0000_0067; // present system descriptor type 9
    let call_gate = 0x0000_EC00_0008_0000; // present system type 0xC
    assert!(check_descriptor_conservative(0));
    assert!(check_descriptor_conservative(flat_code));
    assert!(check_descriptor_conservative(tss & !(1 << 47)), "not present");
    assert!(!check_descriptor_conservative(tss));
    assert!(!check_descriptor_conservative(call_gate));
    assert!(check_descriptor_conservative(1 << 47), "type 0: upper half of a gate");
}

/// `PhysMem::copy_bytes` (the grant copy's data path): between frames at
/// offsets, within one frame overlapping (as `memmove`), and clamped at
/// either frame's end.
#[test]
fn copy_bytes_between_and_within_frames() {
    use super::super::mem::{EmulatedMem, PhysMem};
    let mut mem = EmulatedMem::with_frames(2);
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 1) as u8).collect();
    mem.write_bytes(Mfn(0), 0, &bytes);
    mem.copy_bytes(Mfn(1), 100, Mfn(0), 10, 200);
    let mut out = [0u8; 4096];
    mem.read_bytes(Mfn(1), 0, &mut out);
    assert!(out[..100].iter().all(|&b| b == 0));
    assert_eq!(&out[100..300], &bytes[10..210]);
    assert!(out[300..].iter().all(|&b| b == 0));
    // Overlapping, forwards, in one frame.
    mem.copy_bytes(Mfn(0), 8, Mfn(0), 0, 64);
    mem.read_bytes(Mfn(0), 0, &mut out);
    assert_eq!(&out[8..72], &bytes[0..64]);
    assert_eq!(&out[..8], &bytes[..8]);
    // Clamped: nothing beyond either frame.
    let now = out;
    mem.copy_bytes(Mfn(1), 4000, Mfn(0), 0, 4096);
    mem.read_bytes(Mfn(1), 4000, &mut out[..96]);
    assert_eq!(&out[..96], &now[..96]);
    mem.copy_bytes(Mfn(1), 0, Mfn(0), 4090, 100);
    mem.read_bytes(Mfn(1), 0, &mut out[..10]);
    assert_eq!(&out[..6], &bytes[4090..]);
    assert_eq!(&out[6..10], &[0; 4]);
}
