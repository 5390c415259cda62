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

use crate::mm::pv::EmulatedMem;

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
    let frames = [Mfn(1)];
    let entry = |flags: u16, dom: u16| u64::from(flags) | u64::from(dom) << 16 | 0x55 << 32;
    mem.write_u64(Mfn(1), 3, entry(GTF_permit_access, 2));
    let r = GrantRef(3);
    assert_eq!(
        set_status_v1(&mut mem, &frames, r, false, true, true, DomId(5)),
        Err(GntSt::GeneralError)
    );
    set_status_v1(&mut mem, &frames, r, false, true, true, DomId(2)).unwrap();
    assert_eq!(mem.read_u64(Mfn(1), 3), entry(GTF_permit_access | GTF_reading, 2));
    set_status_v1(&mut mem, &frames, r, true, false, true, DomId(2)).unwrap();
    let both = GTF_permit_access | GTF_reading | GTF_writing;
    assert_eq!(mem.read_u64(Mfn(1), 3), entry(both, 2));
    reduce_status_for_pin(&mut mem, &frames, r, GNTPIN_HSTR_INC, false);
    assert_eq!(mem.read_u64(Mfn(1), 3), entry(GTF_permit_access | GTF_reading, 2));
    reduce_status_for_pin(&mut mem, &frames, r, 0, true);
    assert_eq!(mem.read_u64(Mfn(1), 3), entry(GTF_permit_access, 2));
    // Sub-page grants are not mapped; read-only grants not written;
    // an entry beyond the frames is an error.
    mem.write_u64(Mfn(1), 3, entry(GTF_permit_access | GTF_sub_page, 2));
    assert!(set_status_v1(&mut mem, &frames, r, false, true, true, DomId(2)).is_err());
    assert!(set_status_v1(&mut mem, &frames, r, false, true, false, DomId(2)).is_ok());
    mem.write_u64(Mfn(1), 3, entry(GTF_permit_access | GTF_readonly, 2));
    assert!(set_status_v1(&mut mem, &frames, r, false, false, false, DomId(2)).is_err());
    assert!(set_status_v1(&mut mem, &frames, GrantRef(512), false, true, false, DomId(2)).is_err());
    assert_eq!(pin_overflow_mask(GNTPIN_HSTW_INC), 0x80);
}
