// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of the grant-table state: maptrack handles, status flags.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use super::*;

use guest_abi::grant_table::{
    GTF_permit_access, GTF_reading, GTF_readonly, GTF_sub_page, GTF_transitive, GTF_writing, GntSt,
};

use crate::mm::pv::{EmulatedMem, PhysMem};

/// A v1 table in frame 1.
fn v1(frames: &[Mfn]) -> GntFrames<'_> {
    GntFrames { shared: frames, status: &[], version: 1 }
}

#[test]
fn maptrack_grows_by_frames_and_reuses_handles() {
    let mut g = GrantTable::default();
    assert_eq!(g.get_maptrack_handle(0), None, "no maptrack frames allowed");
    assert_eq!(g.get_maptrack_handle(1), Some(0));
    assert_eq!(g.get_maptrack_handle(1), Some(1));
    for _ in 2..MAPTRACK_PER_PAGE - 1 {
        assert!(g.get_maptrack_handle(1).is_some());
    }
    // Xen 4.17 keeps the last free entry as its free list's tail: one
    // frame holds 255 mappings, not 256.
    assert_eq!(g.get_maptrack_handle(1), None, "one frame's worth, less Xen's tail");
    assert_eq!(g.mappings_in_use(), 0, "handles taken, none set");
    g.put_maptrack_handle(7);
    assert_eq!(g.get_maptrack_handle(1), Some(7));
    assert_eq!(g.get_maptrack_handle(1), None, "still full");
    let second = g.get_maptrack_handle(2);
    assert_eq!(second, Some(256), "a second frame");
    for _ in 1..MAPTRACK_PER_PAGE {
        assert!(g.get_maptrack_handle(2).is_some());
    }
    assert_eq!(g.get_maptrack_handle(2), None, "two frames hold 511");
    g.set_mapping(256, GrantMapping { gref: GrantRef(3), flags: 2, domid: DomId(4) });
    assert_eq!(g.mapping(256).map(|m| m.gref), Some(GrantRef(3)));
    assert_eq!(g.mapping(255), None, "not in use");
    assert_eq!(g.take_mappings().len(), 1);
    assert_eq!(g.mappings_in_use(), 0);
}

#[test]
fn status_flags_follow_pins() {
    let mut mem = EmulatedMem::with_frames(2);
    let shared = [Mfn(1)];
    let frames = v1(&shared);
    let entry = |flags: u16, dom: u16| u64::from(flags) | u64::from(dom) << 16 | 0x55 << 32;
    mem.write_u64(Mfn(1), 3, entry(GTF_permit_access, 2));
    let r = GrantRef(3);
    assert_eq!(
        set_status(&mut mem, &frames, r, false, true, true, DomId(5)),
        Err(GntSt::GeneralError)
    );
    set_status(&mut mem, &frames, r, false, true, true, DomId(2)).unwrap();
    assert_eq!(mem.read_u64(Mfn(1), 3), entry(GTF_permit_access | GTF_reading, 2));
    set_status(&mut mem, &frames, r, true, false, true, DomId(2)).unwrap();
    let both = GTF_permit_access | GTF_reading | GTF_writing;
    assert_eq!(mem.read_u64(Mfn(1), 3), entry(both, 2));
    reduce_status_for_pin(&mut mem, &frames, r, GNTPIN_HSTR_INC, false);
    assert_eq!(mem.read_u64(Mfn(1), 3), entry(GTF_permit_access | GTF_reading, 2));
    reduce_status_for_pin(&mut mem, &frames, r, 0, true);
    assert_eq!(mem.read_u64(Mfn(1), 3), entry(GTF_permit_access, 2));
    // Sub-page grants are not mapped; read-only grants not written;
    // an entry beyond the frames is an error.
    mem.write_u64(Mfn(1), 3, entry(GTF_permit_access | GTF_sub_page, 2));
    assert!(set_status(&mut mem, &frames, r, false, true, true, DomId(2)).is_err());
    assert!(set_status(&mut mem, &frames, r, false, true, false, DomId(2)).is_ok());
    mem.write_u64(Mfn(1), 3, entry(GTF_permit_access | GTF_readonly, 2));
    assert!(set_status(&mut mem, &frames, r, false, false, false, DomId(2)).is_err());
    assert!(set_status(&mut mem, &frames, GrantRef(512), false, true, false, DomId(2)).is_err());
    assert_eq!(pin_overflow_mask(GNTPIN_HSTW_INC), 0x80);
}

#[test]
fn version_2_entries_and_status_frames() {
    let mut mem = EmulatedMem::with_frames(4);
    let (shared, status) = ([Mfn(1), Mfn(2)], [Mfn(3)]);
    let g = GntFrames { shared: &shared, status: &status, version: 2 };
    assert_eq!(entries_per_frame(2), 256);
    assert_eq!(grant_to_status_frames(1), 1);
    assert_eq!(grant_to_status_frames(8), 1);
    assert_eq!(grant_to_status_frames(9), 2);
    assert_eq!(g.header_slot(GrantRef(3)), Some((Mfn(1), 6)));
    assert_eq!(g.header_slot(GrantRef(257)), Some((Mfn(2), 2)));
    assert_eq!(g.header_slot(GrantRef(512)), None);
    let hdr = |flags: u16, dom: u16, hi: u64| u64::from(flags) | u64::from(dom) << 16 | hi << 32;
    // full_page at ref 3, sub_page at 4, transitive at 5.
    mem.write_u64(Mfn(1), 6, hdr(GTF_permit_access, 2, 0));
    mem.write_u64(Mfn(1), 7, 0x1_2345_6789);
    mem.write_u64(Mfn(1), 8, hdr(GTF_permit_access | GTF_sub_page, 2, 0x0040_0010));
    mem.write_u64(Mfn(1), 9, 77);
    mem.write_u64(Mfn(1), 10, hdr(GTF_transitive, 2, 9));
    mem.write_u64(Mfn(1), 11, 12);
    let e = read_shared(&mem, &g, GrantRef(3)).unwrap();
    assert_eq!((e.flags, e.domid, e.frame), (GTF_permit_access, DomId(2), 0x1_2345_6789));
    let e = read_shared(&mem, &g, GrantRef(4)).unwrap();
    assert_eq!((e.frame, e.page_off, e.length), (77, 0x10, 0x40));
    let e = read_shared(&mem, &g, GrantRef(5)).unwrap();
    assert_eq!((e.trans_domid, e.trans_gref), (DomId(9), GrantRef(12)));
    // The status goes to the status frame (ref 3: word 0, bits 48..63);
    // the header is left alone.
    set_status(&mut mem, &g, GrantRef(3), false, false, true, DomId(2)).unwrap();
    assert_eq!(mem.read_u64(Mfn(3), 0), u64::from(GTF_reading | GTF_writing) << 48);
    assert_eq!(read_status(&mem, &g, GrantRef(3)), GTF_reading | GTF_writing);
    assert_eq!(mem.read_u64(Mfn(1), 6), hdr(GTF_permit_access, 2, 0));
    reduce_status_for_pin(&mut mem, &g, GrantRef(3), GNTPIN_HSTR_INC, false);
    assert_eq!(read_status(&mem, &g, GrantRef(3)), GTF_reading);
    reduce_status_for_pin(&mut mem, &g, GrantRef(3), 0, true);
    assert_eq!(mem.read_u64(Mfn(3), 0), 0);
    // Sub-page and transitive: copy only; wrong grantee; read-only.
    let map = |mem: &mut EmulatedMem, r: u32, ro: bool, mapflag: bool, dom: u16| {
        set_status(mem, &g, GrantRef(r), false, ro, mapflag, DomId(dom))
    };
    assert_eq!(map(&mut mem, 4, true, true, 2), Err(GntSt::GeneralError));
    assert_eq!(map(&mut mem, 5, true, true, 2), Err(GntSt::GeneralError));
    assert_eq!(mem.read_u64(Mfn(3), 1), 0, "nothing set on refusal");
    map(&mut mem, 4, true, false, 2).unwrap();
    map(&mut mem, 5, false, false, 2).unwrap();
    assert_eq!(read_status(&mem, &g, GrantRef(4)), GTF_reading);
    assert_eq!(read_status(&mem, &g, GrantRef(5)), GTF_reading | GTF_writing);
    assert_eq!(map(&mut mem, 3, true, false, 7), Err(GntSt::GeneralError));
    mem.write_u64(Mfn(1), 6, hdr(GTF_permit_access | GTF_readonly, 2, 0));
    assert_eq!(map(&mut mem, 3, false, true, 2), Err(GntSt::GeneralError));
    assert_eq!(read_status(&mem, &g, GrantRef(3)), 0);
    clear_flags(&mut mem, &g, GrantRef(5), GTF_writing);
    assert_eq!(read_status(&mem, &g, GrantRef(5)), GTF_reading);
}

#[test]
fn v2_decoding_matches_the_abi_layout() {
    use guest_abi::AbiBytes;
    use guest_abi::grant_table::{
        GrantEntryHeader, GrantEntryV2, GrantEntryV2SubPage, GrantEntryV2Transitive,
    };
    let words = |e: &GrantEntryV2| {
        let b = e.as_bytes();
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        (w(0), w(1))
    };
    let hdr = GrantEntryHeader { flags: GTF_permit_access | GTF_sub_page, domid: DomId(3) };
    let sub = GrantEntryV2::from_sub_page(GrantEntryV2SubPage {
        hdr,
        page_off: 0x123,
        length: 0x456,
        frame: 0x7_8900_0000,
    });
    let (w0, w1) = words(&sub);
    let e = SharedEntry::from_v2(w0, w1);
    assert_eq!((e.flags, e.domid), (hdr.flags, hdr.domid));
    assert_eq!((e.page_off, e.length, e.frame), (0x123, 0x456, 0x7_8900_0000));
    let hdr = GrantEntryHeader { flags: GTF_transitive, domid: DomId(4) };
    let trans = GrantEntryV2::from_transitive(GrantEntryV2Transitive {
        hdr,
        trans_domid: DomId(5),
        pad0: 0,
        gref: GrantRef(77),
        pad1: 0,
    });
    let (w0, w1) = words(&trans);
    let e = SharedEntry::from_v2(w0, w1);
    assert_eq!(
        (e.flags, e.domid, e.trans_domid, e.trans_gref),
        (GTF_transitive, DomId(4), DomId(5), GrantRef(77))
    );
    // A v1 entry's header is the same first half-word.
    let v1 = SharedEntry::from_v1(u64::from(GTF_permit_access) | 3 << 16 | 0x55 << 32);
    assert_eq!((v1.flags, v1.domid, v1.frame), (GTF_permit_access, DomId(3), 0x55));
}
