// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of `GNTTABOP_swap_grant_ref`, `GNTTABOP_cache_flush` and
//! `GNTTABOP_unmap_and_replace`, with Xen's statuses and errnos and the
//! reference-count audit.

use guest_abi::grant_table::{
    GNTTAB_CACHE_CLEAN, GNTTAB_CACHE_INVAL, GNTTAB_CACHE_SOURCE_GREF, GnttabCacheFlush,
    GnttabSwapGrantRef, GnttabUnmapAndReplace,
};

use super::v2::{D0_GNT_FRAME, errno, set_version, setup_d0_table, v1_entry};
use super::*;
use crate::common::grant_table::{GNTPIN_HSTR_INC, gnt_frames, read_status};

fn swap(f: &mut Fixture, a: u32, b: u32) -> i16 {
    let s = GnttabSwapGrantRef { ref_a: GrantRef(a), ref_b: GrantRef(b), status: 99, pad0: 0 };
    f.poke(BUF, bytemuck::bytes_of(&s));
    assert_eq!(op(f, 11, 1), 0);
    bytemuck::pod_read_unaligned::<GnttabSwapGrantRef>(&f.peek(BUF, 12)).status
}

#[test]
fn swap_grant_ref_v1_and_v2() {
    let mut f = setup_d0_table();
    let (ea, eb) = (v1_entry(GTF_permit_access, 1, 0x11), v1_entry(GTF_permit_access, 2, 0x22));
    f.mem.write_u64(D0_GNT_FRAME, 10, ea);
    f.mem.write_u64(D0_GNT_FRAME, 11, eb);
    assert_eq!(swap(&mut f, 10, 11), 0);
    assert_eq!((f.mem.read_u64(D0_GNT_FRAME, 10), f.mem.read_u64(D0_GNT_FRAME, 11)), (eb, ea));
    assert_eq!(swap(&mut f, 10, 10), 0, "the same ref: nothing to do");
    assert_eq!(swap(&mut f, 10, 512), GntSt::BadGntref.raw());
    assert_eq!(swap(&mut f, 512, 10), GntSt::BadGntref.raw());
    f.dom.grant.active_mut(GrantRef(11)).unwrap().pin = GNTPIN_HSTR_INC;
    assert_eq!(swap(&mut f, 10, 11), GntSt::Eagain.raw());
    assert_eq!(swap(&mut f, 11, 10), GntSt::Eagain.raw());
    assert_eq!(f.mem.read_u64(D0_GNT_FRAME, 10), eb, "unchanged");
    f.dom.grant.active_mut(GrantRef(11)).unwrap().pin = 0;
    // Version 2: both words and the status entries travel.
    assert_eq!(set_version(&mut f, 2), (0, 2));
    f.mem.write_u64(D0_GNT_FRAME, 20, ea);
    f.mem.write_u64(D0_GNT_FRAME, 21, 0x1_0000_0011);
    f.mem.write_u64(D0_GNT_FRAME, 22, eb);
    f.mem.write_u64(D0_GNT_FRAME, 23, 0x22);
    let g_status = f.dom.grant_status_frames[0];
    f.mem.write_u64(g_status, 2, u64::from(GTF_reading) << 32);
    assert_eq!(swap(&mut f, 10, 11), 0);
    assert_eq!(f.mem.read_u64(D0_GNT_FRAME, 20), eb);
    assert_eq!(f.mem.read_u64(D0_GNT_FRAME, 21), 0x22);
    assert_eq!(f.mem.read_u64(D0_GNT_FRAME, 23), 0x1_0000_0011);
    let g = gnt_frames(&f.dom);
    assert_eq!(
        (read_status(&f.mem, &g, GrantRef(10)), read_status(&f.mem, &g, GrantRef(11))),
        (0, GTF_reading)
    );
    assert_eq!(swap(&mut f, 0, 256), GntSt::BadGntref.raw(), "256 v2 entries a frame");
    audit_ok(&f);
}

fn flush(f: &mut Fixture, cmd: u64, ops: &[GnttabCacheFlush]) -> i64 {
    f.poke(BUF, bytemuck::cast_slice(ops));
    op(f, cmd, ops.len() as u64)
}

fn fl(mfn: Mfn, offset: u16, length: u16, op: u32) -> GnttabCacheFlush {
    GnttabCacheFlush { a: mfn.0 << 12, offset, length, op }
}

#[test]
fn cache_flush_of_own_and_granted_frames() {
    let mut f = setup();
    let own = Mfn(frames::DATA + 1);
    let before = (counts(&f, own), counts(&f, DU_DATA));
    let clean = GNTTAB_CACHE_CLEAN;
    assert_eq!(flush(&mut f, 12, &[fl(own, 0, 4096, clean)]), 0);
    assert_eq!(flush(&mut f, 12, &[fl(own, 8, 64, clean | GNTTAB_CACHE_INVAL)]), 0);
    assert_eq!(flush(&mut f, 12, &[fl(own, 0, 8, GNTTAB_CACHE_INVAL)]), errno(Errno::EOPNOTSUPP));
    assert_eq!(flush(&mut f, 12, &[fl(own, 0, 8, 4)]), errno(Errno::EINVAL));
    let gref = fl(own, 0, 8, clean | GNTTAB_CACHE_SOURCE_GREF);
    assert_eq!(flush(&mut f, 12, &[gref]), errno(Errno::EINVAL), "SOURCE_GREF");
    assert_eq!(flush(&mut f, 12, &[fl(own, 4096, 0, clean)]), errno(Errno::EINVAL));
    assert_eq!(flush(&mut f, 12, &[fl(own, 4000, 97, clean)]), errno(Errno::EINVAL));
    assert_eq!(flush(&mut f, 12, &[fl(own, 0, 0, clean), fl(own, 0, 8, 0)]), 0, "empty");
    // An empty op with a search under way: -EILSEQ.
    assert_eq!(flush(&mut f, 12 | 0x1000, &[fl(own, 0, 0, clean)]), errno(Errno::EILSEQ));
    assert_eq!(flush(&mut f, 12, &[fl(Mfn(1 << 30), 0, 8, clean)]), errno(Errno::EINVAL));
    assert_eq!(flush(&mut f, 12, &[fl(Mfn(12), 0, 8, clean)]), errno(Errno::EPERM), "free");
    // The domU's frame: only while dom0 has a grant of it pinned.
    assert_eq!(flush(&mut f, 12, &[fl(DU_DATA, 0, 8, clean)]), errno(Errno::EINVAL));
    grant(&mut f, 3, GTF_permit_access, DomId(0), DU_DATA);
    let r = map(&mut f, map_req(3, GNTMAP_host_map, MAP_VA));
    assert_eq!(r.status, 0);
    let two = [fl(DU_DATA, 0, 8, clean), fl(own, 0, 8, clean)];
    assert_eq!(flush(&mut f, 12, &two), 0);
    assert_eq!(unmap(&mut f, r.handle, MAP_VA, 0), 0);
    assert_eq!(flush(&mut f, 12, &[fl(DU_DATA, 0, 8, clean)]), errno(Errno::EINVAL));
    assert_eq!((counts(&f, own), counts(&f, DU_DATA)), before);
    audit_ok(&f);
}

fn replace(f: &mut Fixture, host: u64, new: u64, handle: u32) -> i16 {
    let u = GnttabUnmapAndReplace { host_addr: host, new_addr: new, handle, status: 99, pad0: 0 };
    f.poke(BUF, bytemuck::bytes_of(&u));
    assert_eq!(op(f, 7, 1), 0);
    bytemuck::pod_read_unaligned::<GnttabUnmapAndReplace>(&f.peek(BUF, 24)).status
}

#[test]
fn unmap_and_replace_moves_the_other_pte() {
    let mut f = setup();
    grant(&mut f, 3, GTF_permit_access, DomId(0), DU_DATA);
    let before = counts(&f, DU_DATA);
    let moved = Mfn(frames::DATA + 5);
    let moved_before = counts(&f, moved);
    let r = map(&mut f, map_req(3, GNTMAP_host_map, MAP_VA));
    assert_eq!(r.status, 0);
    // No L1 entry for the new address: general error, nothing changes.
    assert_eq!(replace(&mut f, MAP_VA, 0x7f00_0000_0000, r.handle), -1);
    assert_eq!(f.peek(MAP_VA, 15), b"hello from domU");
    let new_va = GUEST_BASE + 5 * 4096;
    let pte5 = f.mem.read_u64(frames::L1, 5);
    assert_eq!(replace(&mut f, MAP_VA, new_va, r.handle + 1), GntSt::BadHandle.raw());
    assert_eq!(replace(&mut f, MAP_VA, new_va, r.handle), 0);
    assert_eq!(f.mem.read_u64(frames::L1, 20), pte5, "the PTE moved into the grant's place");
    assert_eq!(f.mem.read_u64(frames::L1, 5), 0);
    assert_eq!(gflags(&f, 3), GTF_permit_access);
    assert_eq!(counts(&f, DU_DATA), before);
    assert_eq!(counts(&f, moved), moved_before, "its references moved with it");
    assert_eq!(f.dom.grant.mappings_in_use(), 0);
    audit_ok(&f);
    // By PTE address a replacement is refused; without one it unmaps.
    let pte = (frames::L1.0 << 12) + 21 * 8;
    let by_pte = GNTMAP_host_map | GNTMAP_contains_pte;
    let r = map(&mut f, map_req(3, by_pte, pte));
    assert_eq!(r.status, 0);
    let new_va = GUEST_BASE + 6 * 4096;
    assert_eq!(replace(&mut f, pte, new_va, r.handle), -1);
    assert_ne!(f.mem.read_u64(frames::L1, 6), 0, "not stolen");
    assert_eq!(replace(&mut f, pte, 0, r.handle), 0);
    assert_eq!(f.mem.read_u64(frames::L1, 21), 0);
    assert_eq!(counts(&f, DU_DATA), before);
    audit_ok(&f);
}
