// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of grant-table version 2: `set_version` both ways with Xen's
//! refusals and the reserved entries converted, `get_status_frames`, and
//! map, unmap and copy of v2 full-page, sub-page and transitive grants.

use guest_abi::grant_table::{
    GTF_sub_page, GTF_transitive, GnttabGetStatusFrames, GnttabSetupTable,
};

use super::*;
use crate::common::grant_table::{GNTPIN_HSTR_INC, gnt_frames, read_status};

/// dom0's own grant frame (version tests).
const D0_GNT: Mfn = Mfn(39);
/// The same, for the other test modules.
pub(super) const D0_GNT_FRAME: Mfn = D0_GNT;
/// The domU's status frame (map/copy tests).
const DU_STATUS: Mfn = Mfn(43);

pub(super) fn set_version(f: &mut Fixture, v: u32) -> (i64, u32) {
    f.poke(BUF, &v.to_le_bytes());
    let r = op(f, 8, 1);
    (r, u32::from_le_bytes(f.peek(BUF, 4).try_into().unwrap()))
}

pub(super) fn errno(e: Errno) -> i64 {
    -i64::from(e.raw())
}

/// dom0 with one grant frame of its own.
pub(super) fn setup_d0_table() -> Fixture {
    let mut f = setup();
    f.frames.assign(D0_GNT, DomId(0)).unwrap();
    f.dom.grant_frames.push(D0_GNT);
    f.dom.grant.grow_to_frames(1).unwrap();
    f.platform.next_frame = Some(Mfn(44));
    f
}

pub(super) fn v1_entry(flags: u16, domid: u16, frame: u64) -> u64 {
    u64::from(flags) | u64::from(domid) << 16 | frame << 32
}

#[test]
fn set_version_2_and_back_keeps_reserved_entries() {
    let mut f = setup_d0_table();
    // Reserved entry 1 (xenstore) in use, entry 10 an ordinary grant.
    let xs = v1_entry(GTF_permit_access | GTF_reading, 1, 0x1234);
    f.mem.write_u64(D0_GNT, 1, xs);
    f.mem.write_u64(D0_GNT, 10, v1_entry(GTF_permit_access, 1, 0x99));
    // A pinned entry beyond the reserved ones: -EBUSY, still version 1.
    f.dom.grant.active_mut(GrantRef(10)).unwrap().pin = GNTPIN_HSTR_INC;
    assert_eq!(set_version(&mut f, 2), (errno(Errno::EBUSY), 1));
    // A pinned reserved entry does not stop it.
    f.dom.grant.active_mut(GrantRef(10)).unwrap().pin = 0;
    f.dom.grant.active_mut(GrantRef(1)).unwrap().pin = GNTPIN_HSTR_INC;
    assert_eq!(set_version(&mut f, 2), (0, 2));
    assert_eq!(set_version(&mut f, 2), (0, 2), "already in effect");
    let st = f.dom.grant_status_frames.clone();
    assert_eq!(st, [Mfn(44)], "one status frame for one shared frame");
    assert_eq!(f.frames.owner(Mfn(44)), Some(DomId(0)));
    // Entry 1 as a v2 entry, its status apart; entry 10 gone.
    assert_eq!(f.mem.read_u64(D0_GNT, 2), v1_entry(GTF_permit_access, 1, 0));
    assert_eq!(f.mem.read_u64(D0_GNT, 3), 0x1234);
    assert_eq!(read_status(&f.mem, &gnt_frames(&f.dom), GrantRef(1)), GTF_reading);
    assert!((4..512).all(|i| f.mem.read_u64(D0_GNT, i) == 0));
    assert_eq!(f.dom.grant.nr_entries(), 256);
    // get_version.
    f.poke(BUF, &[0, 0, 0, 0, 9, 9, 9, 9]);
    assert_eq!(op(&mut f, 10, 1), 0);
    assert_eq!(f.peek(BUF + 4, 4), 2u32.to_le_bytes());
    audit_ok(&f);

    // 2 -> 1 refused while a reserved entry cannot be a v1 one.
    f.mem.write_u64(D0_GNT, 4, v1_entry(GTF_transitive, 1, 0));
    assert_eq!(set_version(&mut f, 1), (errno(Errno::ERANGE), 2));
    f.mem.write_u64(D0_GNT, 4, v1_entry(GTF_permit_access, 1, 0));
    f.mem.write_u64(D0_GNT, 5, 1 << 32);
    assert_eq!(set_version(&mut f, 1), (errno(Errno::ERANGE), 2));
    f.mem.write_u64(D0_GNT, 5, 0x55);
    // ... or while the guest maps a status frame (a reference of its own).
    assert!(f.frames.get_page(Mfn(44), DomId(0)));
    assert_eq!(set_version(&mut f, 1), (errno(Errno::EBUSY), 2));
    assert_eq!(f.mem.read_u64(D0_GNT, 3), 0x1234, "nothing cleared");
    f.frames.put_page(Mfn(44));
    assert_eq!(set_version(&mut f, 1), (0, 1));
    assert!(f.dom.grant_status_frames.is_empty());
    assert_eq!(f.frames.owner(Mfn(44)), None, "status frame freed");
    assert!(f.platform.freed.contains(&Mfn(44)));
    assert_eq!(f.mem.read_u64(D0_GNT, 1), xs, "status back in the v1 flags");
    assert_eq!(f.mem.read_u64(D0_GNT, 2), v1_entry(GTF_permit_access, 1, 0x55));
    assert_eq!(f.dom.grant.nr_entries(), 512);
    audit_ok(&f);
    // Bad versions; a domain limited to version 1.
    assert_eq!(set_version(&mut f, 0), (errno(Errno::EINVAL), 1));
    assert_eq!(set_version(&mut f, 3), (errno(Errno::EINVAL), 1));
    f.dom.grant.max_version = 1;
    assert_eq!(set_version(&mut f, 2), (errno(Errno::ENOSYS), 1));
    assert_eq!(set_version(&mut f, 1), (0, 1));
}

fn get_status_frames(f: &mut Fixture, dom: DomId, nr: u32, list: u64, count: u64) -> (i64, i16) {
    let g = GnttabGetStatusFrames { nr_frames: nr, dom, status: 99, frame_list: list };
    f.poke(BUF, bytemuck::bytes_of(&g));
    let r = op(f, 9, count);
    (r, i16::from_le_bytes(f.peek(BUF + 6, 2).try_into().unwrap()))
}

#[test]
fn status_frames_listed_and_grown_with_the_table() {
    let mut f = setup_d0_table();
    let list = BUF + 0x100;
    // Version 1: no status frames.
    assert_eq!(get_status_frames(&mut f, DomId::SELF, 0, list, 1), (0, 0));
    assert_eq!(get_status_frames(&mut f, DomId::SELF, 1, list, 1), (0, -1));
    assert_eq!(set_version(&mut f, 2), (0, 2));
    assert_eq!(get_status_frames(&mut f, DomId::SELF, 1, list, 1), (0, 0));
    assert_eq!(f.peek(list, 8), 44u64.to_le_bytes());
    assert_eq!(get_status_frames(&mut f, DomId::SELF, 2, list, 1), (0, -1));
    assert_eq!(get_status_frames(&mut f, DomId(9), 1, list, 1), (0, GntSt::BadDomain.raw()));
    assert_eq!(get_status_frames(&mut f, DomId::SELF, 1, list, 2).0, errno(Errno::EINVAL));
    let xen = 0xffff_8000_0000_0000;
    assert_eq!(get_status_frames(&mut f, DomId::SELF, 1, xen, 1).0, errno(Errno::EFAULT));
    let unmapped = 0x7f00_0000_0000;
    let r = get_status_frames(&mut f, DomId::SELF, 1, unmapped, 1);
    assert_eq!(r, (0, GntSt::BadVirtAddr.raw()));
    // The domU (version 1) has none; dom0 may ask.
    assert_eq!(get_status_frames(&mut f, DU, 1, list, 1), (0, -1));
    // setup_table to 9 frames grows the status frames to 2.
    f.platform.pool = (7..=15).map(Mfn).collect();
    let s = GnttabSetupTable { dom: DomId::SELF, nr_frames: 9, frame_list: BUF + 0x200, ..Z() };
    f.poke(BUF, bytemuck::bytes_of(&s));
    assert_eq!(op(&mut f, 2, 1), 0);
    assert_eq!(f.peek(BUF + 8, 2), [0, 0]);
    assert_eq!((f.dom.grant_frames.len(), f.dom.grant_status_frames.len()), (9, 2));
    assert_eq!(get_status_frames(&mut f, DomId::SELF, 2, list, 1), (0, 0));
    // No memory for a third status frame (17 frames): nothing grows.
    f.platform.pool.clear();
    f.platform.next_frame = None;
    f.poke(BUF, bytemuck::bytes_of(&GnttabSetupTable { nr_frames: 17, ..s }));
    assert_eq!(op(&mut f, 2, 1), 0);
    assert_eq!(f.peek(BUF + 8, 2), (-1i16).to_le_bytes());
    assert_eq!((f.dom.grant_frames.len(), f.dom.grant_status_frames.len()), (9, 2));
    audit_ok(&f);
}

/// Makes the domU's table version 2 with one status frame.
fn du_v2(f: &mut Fixture) {
    f.frames.assign(DU_STATUS, DU).unwrap();
    let cell = f.domains.get(DU).unwrap();
    let mut du = cell.lock();
    du.grant.version = 2;
    du.grant_status_frames.push(DU_STATUS);
}

/// Writes the domU's v2 entry `gref`: header word and second word.
fn grant_v2(f: &mut Fixture, gref: u32, w0: u64, w1: u64) {
    f.mem.write_u64(DU_GNT, 2 * gref as usize, w0);
    f.mem.write_u64(DU_GNT, 2 * gref as usize + 1, w1);
}

fn du_status(f: &Fixture, gref: u32) -> u16 {
    let cell = f.domains.get(DU).unwrap();
    let du = cell.lock();
    read_status(&f.mem, &gnt_frames(&du), GrantRef(gref))
}

fn copy(f: &mut Fixture, c: &GnttabCopy) -> i16 {
    f.poke(BUF, bytemuck::bytes_of(c));
    assert_eq!(op(f, 5, 1), 0);
    bytemuck::pod_read_unaligned::<GnttabCopy>(&f.peek(BUF, 40)).status
}

fn from_gref(gref: u32, off: u16, len: u16, dst: Mfn) -> GnttabCopy {
    GnttabCopy {
        source: GnttabCopyPtr { u: u64::from(gref), domid: DU, offset: off, ..Z() },
        dest: GnttabCopyPtr { u: dst.0, domid: DomId::SELF, offset: 0, ..Z() },
        len,
        flags: GNTCOPY_source_gref,
        ..Z()
    }
}

#[test]
fn v2_full_page_map_and_sub_page_copy() {
    let mut f = setup();
    du_v2(&mut f);
    let before = counts(&f, DU_DATA);
    grant_v2(&mut f, 3, v1_entry(GTF_permit_access, 0, 0), DU_DATA.0);
    // Beyond the 256 v2 entries of one frame: bad ref.
    assert_eq!(map(&mut f, map_req(256, GNTMAP_host_map, MAP_VA)).status, -3);
    let r = map(&mut f, map_req(3, GNTMAP_host_map, MAP_VA));
    assert_eq!(r.status, 0);
    assert_eq!(f.peek(MAP_VA, 15), b"hello from domU");
    assert_eq!(du_status(&f, 3), GTF_reading | GTF_writing);
    assert_eq!(f.mem.read_u64(DU_GNT, 6) as u16, GTF_permit_access, "header untouched");
    assert_eq!(unmap(&mut f, r.handle, MAP_VA, 0), 0);
    assert_eq!(du_status(&f, 3), 0);
    assert_eq!(counts(&f, DU_DATA), before);
    // Sub-page: bytes 6..11 ("from ") only, copy only.
    let sub = v1_entry(GTF_permit_access | GTF_sub_page, 0, 0) | 6 << 32 | 5 << 48;
    grant_v2(&mut f, 4, sub, DU_DATA.0);
    assert_eq!(map(&mut f, map_req(4, GNTMAP_host_map, MAP_VA)).status, -1);
    let dst = Mfn(frames::DATA + 2);
    assert_eq!(copy(&mut f, &from_gref(4, 6, 5, dst)), 0);
    let mut b = [0u8; 5];
    f.mem.read_bytes(dst, 0, &mut b);
    assert_eq!(&b, b"from ");
    assert_eq!(copy(&mut f, &from_gref(4, 5, 5, dst)), -1, "starts before the range");
    assert_eq!(copy(&mut f, &from_gref(4, 7, 5, dst)), -1, "ends after it");
    assert_eq!(copy(&mut f, &from_gref(4, 4095, 5, dst)), GntSt::BadCopyArg.raw());
    assert_eq!(du_status(&f, 4), 0);
    assert_eq!(counts(&f, DU_DATA), before);
    // Granted to someone else / read-only granted written.
    grant_v2(&mut f, 5, v1_entry(GTF_permit_access, 7, 0), DU_DATA.0);
    assert_eq!(copy(&mut f, &from_gref(5, 0, 4, dst)), -1);
    grant_v2(&mut f, 6, v1_entry(GTF_permit_access | GTF_readonly, 0, 0), DU_DATA.0);
    assert_eq!(map(&mut f, map_req(6, GNTMAP_host_map, MAP_VA)).status, -1);
    assert_eq!(du_status(&f, 6), 0);
    audit_ok(&f);
}

#[test]
fn v2_transitive_copy_pins_the_grant_it_names() {
    let mut f = setup();
    du_v2(&mut f);
    // dom0 grants its frame DATA+3 to the domU (v1 ref 2); the domU grants
    // that on to dom0 transitively (ref 7).
    f.frames.assign(D0_GNT, DomId(0)).unwrap();
    f.dom.grant_frames.push(D0_GNT);
    f.dom.grant.grow_to_frames(1).unwrap();
    let src = Mfn(frames::DATA + 3);
    f.mem.write_bytes(src, 0, b"transitive!");
    f.mem.write_u64(D0_GNT, 2, v1_entry(GTF_permit_access, DU.0, src.0));
    grant_v2(&mut f, 7, v1_entry(GTF_transitive, 0, 0), 2);
    let before = counts(&f, src);
    let dst = Mfn(frames::DATA + 4);
    assert_eq!(copy(&mut f, &from_gref(7, 0, 11, dst)), 0);
    let mut b = [0u8; 11];
    f.mem.read_bytes(dst, 0, &mut b);
    assert_eq!(&b, b"transitive!");
    // Both pins gone, both statuses clear, references back.
    assert_eq!(du_status(&f, 7), 0);
    assert_eq!(f.mem.read_u64(D0_GNT, 2) as u16, GTF_permit_access);
    assert_eq!(f.dom.grant.active_mut(GrantRef(2)).unwrap().pin, 0);
    assert_eq!(counts(&f, src), before);
    // Into the transitive grant (writable both ways).
    let mut into = from_gref(7, 0, 3, dst);
    core::mem::swap(&mut into.source, &mut into.dest);
    into.source.u = Mfn(frames::DATA + 5).0;
    into.flags = GNTCOPY_dest_gref;
    f.mem.write_bytes(Mfn(frames::DATA + 5), 0, b"TRA");
    assert_eq!(copy(&mut f, &into), 0);
    let mut b = [0u8; 11];
    f.mem.read_bytes(src, 0, &mut b);
    assert_eq!(&b, b"TRAnsitive!");
    assert_eq!(counts(&f, src), before);
    // Not mappable; not to the granter itself; not to a missing domain;
    // not when the named grant is not for the granter.
    assert_eq!(map(&mut f, map_req(7, GNTMAP_host_map, MAP_VA)).status, -1);
    grant_v2(&mut f, 8, v1_entry(GTF_transitive, 0, u64::from(DU.0)), 2);
    assert_eq!(copy(&mut f, &from_gref(8, 0, 4, dst)), -1);
    grant_v2(&mut f, 8, v1_entry(GTF_transitive, 0, 9), 2);
    assert_eq!(copy(&mut f, &from_gref(8, 0, 4, dst)), -1);
    // gnttab=no-transitive: refused.
    f.platform.gnttab.transitive = false;
    assert_eq!(copy(&mut f, &from_gref(7, 0, 4, dst)), -1);
    f.platform.gnttab.transitive = true;
    f.mem.write_u64(D0_GNT, 2, v1_entry(GTF_permit_access, 5, src.0));
    assert_eq!(copy(&mut f, &from_gref(7, 0, 4, dst)), -1);
    assert_eq!(du_status(&f, 7), 0, "status taken back");
    assert_eq!(du_status(&f, 8), 0);
    assert_eq!(counts(&f, src), before);
    audit_ok(&f);
}

#[test]
fn add_to_physmap_of_status_frames_is_for_translated_guests_only() {
    use guest_abi::memory::{
        XENMAPIDX_grant_table_status, XENMAPSPACE_gmfn_foreign, XENMAPSPACE_grant_table,
        XenAddToPhysmap,
    };
    let mut f = setup_d0_table();
    assert_eq!(set_version(&mut f, 2), (0, 2));
    let mut x = XenAddToPhysmap {
        domid: DomId::SELF,
        space: XENMAPSPACE_grant_table,
        idx: XENMAPIDX_grant_table_status,
        gpfn: 0x100,
        ..Z()
    };
    let call = |f: &mut Fixture, x: &XenAddToPhysmap, cmd: u64| {
        f.poke(BUF, bytemuck::bytes_of(x));
        crate::pv::hypercall::memory::memory_op(&mut f.ctx(), cmd, BUF)
    };
    assert_eq!(call(&mut f, &x, 7), Err(Errno::EACCES), "a PV domain");
    x.domid = DomId(9);
    assert_eq!(call(&mut f, &x, 7), Err(Errno::ESRCH));
    x.space = XENMAPSPACE_gmfn_foreign;
    assert_eq!(call(&mut f, &x, 7), Err(Errno::ENOSYS));
    assert_eq!(call(&mut f, &x, 7 | 0x1_0000 << 6), Err(Errno::EDOM));
    assert_eq!(f.dom.grant_status_frames.len(), 1, "nothing changed");
}
