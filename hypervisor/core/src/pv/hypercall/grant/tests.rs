// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of `grant_table_op`: map, unmap, copy, versions, hostile
//! inputs, `mmu_update` over a grant PTE and a granter destroyed while
//! mapped, each checked against the reference-count audit.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use guest_abi::grant_table::{
    GNTCOPY_dest_gref, GNTCOPY_source_gref, GNTMAP_contains_pte, GNTMAP_device_map,
    GNTMAP_host_map, GNTMAP_readonly, GTF_permit_access, GTF_reading, GTF_readonly, GTF_writing,
    GntSt, GnttabCopy, GnttabCopyPtr, GnttabMapGrantRef, GnttabUnmapGrantRef,
};
use guest_abi::xen::{DomId, Errno, GrantRef, MmuUpdate};

use super::grant_table_op;
use crate::common::domain::Domain;
use crate::mm::Mfn;
use crate::mm::pv::types::{PAGE_PRESENT, PAGE_RW};
use crate::mm::pv::{PageType, PhysMem, audit};

/// A zeroed ABI struct.
#[allow(non_snake_case)]
fn Z<T: bytemuck::Zeroable>() -> T {
    T::zeroed()
}
use crate::pv::test_support::{Fixture, GUEST_BASE, GUEST_PAGES, frames};

mod ops;
mod transfer;
mod v2;

/// Argument buffer in the fixture guest.
const BUF: u64 = GUEST_BASE + 0x1000;
/// A free linear address of dom0 (entry 20 of the fixture's L1).
const MAP_VA: u64 = GUEST_BASE + 20 * 4096;
/// The granting domain.
const DU: DomId = DomId(1);
/// Its grant-table frame.
const DU_GNT: Mfn = Mfn(40);
/// Its data frames.
const DU_DATA: Mfn = Mfn(41);
const DU_PT: Mfn = Mfn(42);

/// dom0 with validated page tables (vCPU 0's base pointer held) and a
/// domU owning a grant frame and data frames.
fn setup() -> Fixture {
    let mut f = Fixture::new();
    let d0 = f.dom.id;
    for m in [frames::L4, frames::L3, frames::L2, frames::L1, frames::SHARED_INFO] {
        f.frames.assign(m, d0).unwrap();
    }
    for i in 0..GUEST_PAGES {
        f.frames.assign(Mfn(frames::DATA + i), d0).unwrap();
    }
    f.ctx().mm().get_page_and_type(frames::L4, d0, PageType::L4).unwrap();
    let mut du = Domain::new(DU, false, Mfn(47));
    for m in [DU_GNT, DU_DATA, DU_PT] {
        f.frames.assign(m, DU).unwrap();
    }
    du.grant_frames.push(DU_GNT);
    du.grant.grow_to_frames(1).unwrap();
    f.domains.insert(du).unwrap();
    f.mem.write_bytes(DU_DATA, 0, b"hello from domU");
    audit_ok(&f);
    f
}

fn audit_ok(f: &Fixture) {
    audit(&f.frames, &f.mem, &[frames::L4]).unwrap();
}

/// Writes domU's grant entry `gref`.
fn grant(f: &mut Fixture, gref: u32, flags: u16, domid: DomId, frame: Mfn) {
    let raw = u64::from(flags) | u64::from(domid.0) << 16 | frame.0 << 32;
    f.mem.write_u64(DU_GNT, gref as usize, raw);
}

fn gflags(f: &Fixture, gref: u32) -> u16 {
    f.mem.read_u64(DU_GNT, gref as usize) as u16
}

fn op(f: &mut Fixture, cmd: u64, count: u64) -> i64 {
    let r = grant_table_op(&mut f.ctx(), cmd, BUF, count);
    r.unwrap_or_else(|e| -i64::from(e.raw()))
}

fn map(f: &mut Fixture, m: GnttabMapGrantRef) -> GnttabMapGrantRef {
    f.poke(BUF, bytemuck::bytes_of(&m));
    assert_eq!(op(f, 0, 1), 0);
    bytemuck::pod_read_unaligned(&f.peek(BUF, 32))
}

fn map_req(gref: u32, flags: u32, addr: u64) -> GnttabMapGrantRef {
    GnttabMapGrantRef {
        host_addr: addr,
        flags,
        gref: GrantRef(gref),
        dom: DU,
        ..bytemuck::Zeroable::zeroed()
    }
}

fn unmap(f: &mut Fixture, handle: u32, addr: u64, dev: u64) -> i16 {
    let u = GnttabUnmapGrantRef {
        host_addr: addr,
        dev_bus_addr: dev,
        handle,
        ..bytemuck::Zeroable::zeroed()
    };
    f.poke(BUF, bytemuck::bytes_of(&u));
    assert_eq!(op(f, 1, 1), 0);
    bytemuck::pod_read_unaligned::<GnttabUnmapGrantRef>(&f.peek(BUF, 24)).status
}

fn counts(f: &Fixture, m: Mfn) -> (u32, u32) {
    let p = f.frames.info(m).unwrap();
    (p.count, p.type_info.count)
}

#[test]
fn writable_host_map_by_address_and_unmap() {
    let mut f = setup();
    grant(&mut f, 3, GTF_permit_access, DomId(0), DU_DATA);
    let before = counts(&f, DU_DATA);
    let r = map(&mut f, map_req(3, GNTMAP_host_map, MAP_VA));
    assert_eq!(r.status, GntSt::Okay.raw());
    assert_eq!(r.dev_bus_addr, DU_DATA.0 << 12);
    assert_eq!(gflags(&f, 3), GTF_permit_access | GTF_reading | GTF_writing);
    assert_eq!(counts(&f, DU_DATA), (before.0 + 1, before.1 + 1), "general + writable type");
    assert_eq!(f.peek(MAP_VA, 15), b"hello from domU");
    f.poke(MAP_VA, b"dom0");
    let mut b = [0u8; 4];
    f.mem.read_bytes(DU_DATA, 0, &mut b);
    assert_eq!(&b, b"dom0");
    audit_ok(&f);
    // Wrong address: general error, mapping kept.
    assert_eq!(unmap(&mut f, r.handle, MAP_VA + 4096, 0), GntSt::GeneralError.raw());
    assert_eq!(unmap(&mut f, r.handle + 1, MAP_VA, 0), GntSt::BadHandle.raw());
    assert_eq!(unmap(&mut f, 100_000, MAP_VA, 0), GntSt::BadHandle.raw());
    assert_eq!(unmap(&mut f, r.handle, MAP_VA, 0), GntSt::Okay.raw());
    assert_eq!(f.mem.read_u64(frames::L1, 20), 0);
    assert_eq!(gflags(&f, 3), GTF_permit_access);
    assert_eq!(counts(&f, DU_DATA), before);
    assert_eq!(unmap(&mut f, r.handle, MAP_VA, 0), GntSt::BadHandle.raw(), "handle freed");
    audit_ok(&f);
    assert_eq!(f.dom.grant.mappings_in_use(), 0);
}

#[test]
fn readonly_map_by_pte_address_and_hostile_maps() {
    let mut f = setup();
    grant(&mut f, 4, GTF_permit_access | GTF_readonly, DomId(0), DU_DATA);
    let pte = (frames::L1.0 << 12) + 21 * 8;
    let ro = GNTMAP_host_map | GNTMAP_readonly | GNTMAP_contains_pte;
    // Read-only grant mapped writable: general error (Xen's _set_status).
    let w = map(&mut f, map_req(4, GNTMAP_host_map | GNTMAP_contains_pte, pte));
    assert_eq!(w.status, GntSt::GeneralError.raw());
    assert_eq!(gflags(&f, 4), GTF_permit_access | GTF_readonly, "nothing left set");
    let r = map(&mut f, map_req(4, ro, pte));
    assert_eq!(r.status, 0);
    let e = f.mem.read_u64(frames::L1, 21);
    assert_eq!(e & (PAGE_PRESENT | PAGE_RW), PAGE_PRESENT);
    assert_eq!(gflags(&f, 4), GTF_permit_access | GTF_readonly | GTF_reading);
    assert_eq!(map(&mut f, map_req(4, ro, pte + 3)).status, GntSt::GeneralError.raw());
    audit_ok(&f);
    // Hostile: no map kind, bad ref, not granted, granted to another
    // domain, no such domain, DOMID_SELF, a frame the granter does not own.
    assert_eq!(map(&mut f, map_req(4, 0, MAP_VA)).status, GntSt::BadGntref.raw());
    assert_eq!(map(&mut f, map_req(512, GNTMAP_host_map, MAP_VA)).status, GntSt::BadGntref.raw());
    assert_eq!(map(&mut f, map_req(5, GNTMAP_host_map, MAP_VA)).status, -1);
    grant(&mut f, 6, GTF_permit_access, DomId(7), DU_DATA);
    assert_eq!(map(&mut f, map_req(6, GNTMAP_host_map, MAP_VA)).status, -1);
    let mut m = map_req(6, GNTMAP_host_map, MAP_VA);
    m.dom = DomId(9);
    assert_eq!(map(&mut f, m).status, GntSt::BadDomain.raw());
    m.dom = DomId::SELF;
    assert_eq!(map(&mut f, m).status, GntSt::BadDomain.raw());
    grant(&mut f, 7, GTF_permit_access, DomId(0), frames::L1);
    assert_eq!(map(&mut f, map_req(7, GNTMAP_host_map, MAP_VA)).status, GntSt::BadPage.raw());
    assert_eq!(gflags(&f, 7), GTF_permit_access);
    // A page table of the granter cannot be mapped writable.
    f.ctx().mm().get_page_and_type(DU_PT, DU, PageType::L1).unwrap();
    grant(&mut f, 8, GTF_permit_access, DomId(0), DU_PT);
    assert_eq!(map(&mut f, map_req(8, GNTMAP_host_map, MAP_VA)).status, -1);
    assert_eq!(gflags(&f, 8), GTF_permit_access);
    // No PTE for the address.
    grant(&mut f, 9, GTF_permit_access, DomId(0), DU_DATA);
    let far = map(&mut f, map_req(9, GNTMAP_host_map, 0x7f00_0000_0000));
    assert_eq!(far.status, -1);
    assert_eq!(gflags(&f, 9), GTF_permit_access);
    f.ctx().mm().put_page_and_type(DU_PT);
    audit_ok(&f);
    assert_eq!(unmap(&mut f, r.handle, pte, 0), 0);
    assert_eq!(gflags(&f, 4), GTF_permit_access | GTF_readonly);
}

#[test]
fn maptrack_exhaustion_and_device_maps() {
    let mut f = setup();
    grant(&mut f, 2, GTF_permit_access, DomId(0), DU_DATA);
    f.dom.max_maptrack_frames = 0;
    assert_eq!(map(&mut f, map_req(2, GNTMAP_host_map, MAP_VA)).status, GntSt::NoSpace.raw());
    f.dom.max_maptrack_frames = 1;
    let before = counts(&f, DU_DATA);
    let mut handles = alloc::vec::Vec::new();
    // Each entry's pin counters are 8 bits wide: 256 maps need several
    // entries (128 writable pins of one entry would risk its overflow).
    for g in 0..256 {
        grant(&mut f, g, GTF_permit_access, DomId(0), DU_DATA);
    }
    // One maptrack frame holds 255 mappings, as in Xen 4.17 (its free
    // list keeps the last entry as its tail).
    for g in 0..255 {
        let r = map(&mut f, map_req(g, GNTMAP_device_map, 0));
        assert_eq!(r.status, 0);
        handles.push(r.handle);
    }
    assert_eq!(counts(&f, DU_DATA), (before.0 + 255, before.1 + 255));
    assert_eq!(gflags(&f, 0), GTF_permit_access | GTF_reading | GTF_writing);
    assert_eq!(map(&mut f, map_req(2, GNTMAP_device_map, 0)).status, GntSt::NoSpace.raw());
    f.dom.max_maptrack_frames = 2;
    let mut m = map_req(2, GNTMAP_device_map, 0);
    for _ in 0..127 {
        let r = map(&mut f, m);
        assert_eq!(r.status, 0);
        handles.push(r.handle);
    }
    assert_eq!(map(&mut f, m).status, -1, "the writable device pin would reach its top bit");
    m.flags |= GNTMAP_readonly;
    let r = map(&mut f, m);
    assert_eq!(r.status, 0, "read-only pins count apart");
    handles.push(r.handle);
    assert_eq!(f.dom.grant.mappings_in_use(), 255 + 128);
    let dev = DU_DATA.0 << 12;
    assert_eq!(unmap(&mut f, handles[0], 0, dev + 4096), GntSt::BadDevAddr.raw());
    for h in handles {
        assert_eq!(unmap(&mut f, h, 0, dev), 0);
    }
    assert_eq!(counts(&f, DU_DATA), before);
    assert_eq!(gflags(&f, 2), GTF_permit_access);
}

#[test]
fn mmu_update_over_a_grant_pte_keeps_counts_right() {
    let mut f = setup();
    grant(&mut f, 3, GTF_permit_access, DomId(0), DU_DATA);
    let before = counts(&f, DU_DATA);
    let r = map(&mut f, map_req(3, GNTMAP_host_map, MAP_VA));
    assert_eq!(r.status, 0);
    // The guest zaps the grant PTE by mmu_update: references dropped as
    // for any L1 entry (Xen's put_page_from_l1e), counts consistent.
    let req = MmuUpdate { ptr: (frames::L1.0 << 12) + 20 * 8, val: 0 };
    let (n, rc) = f.ctx().mm().do_mmu_update(DomId(0), &[req]);
    assert_eq!((n, rc), (1, Ok(())));
    assert_eq!(counts(&f, DU_DATA), before);
    audit_ok(&f);
    // The grant stays pinned; its unmap fails and takes nothing twice.
    assert_eq!(gflags(&f, 3), GTF_permit_access | GTF_reading | GTF_writing);
    assert_eq!(unmap(&mut f, r.handle, MAP_VA, 0), GntSt::GeneralError.raw());
    assert_eq!(counts(&f, DU_DATA), before);
    audit_ok(&f);
}

#[test]
fn granter_destroyed_while_mapped_keeps_the_frame_until_unmap() {
    let mut f = setup();
    grant(&mut f, 3, GTF_permit_access, DomId(0), DU_DATA);
    let r = map(&mut f, map_req(3, GNTMAP_host_map, MAP_VA));
    assert_eq!(r.status, 0);
    let rc = crate::common::domctl::teardown::destroydomain(&mut f.ctx(), DU);
    assert_eq!(rc, Ok(0));
    assert!(f.domains.get(DU).is_some(), "dead, but a frame is still held");
    assert_eq!(f.frames.owner(DU_DATA), Some(DU));
    assert!(!f.platform.freed.contains(&DU_DATA));
    assert!(f.platform.freed.contains(&DU_GNT), "the shared frame went");
    assert_eq!(f.peek(MAP_VA, 15), b"hello from domU");
    audit_ok(&f);
    assert_eq!(unmap(&mut f, r.handle, MAP_VA, 0), 0);
    assert!(f.platform.freed.contains(&DU_DATA), "last reference dropped: freed");
    assert_eq!(f.frames.owner(DU_DATA), None);
    assert!(f.domains.get(DU).is_none(), "the dead domain left the table");
    assert!(f.frames.take_freed().is_empty());
    audit_ok(&f);
}

#[test]
fn mapper_destroyed_releases_its_pins() {
    let mut f = setup();
    // dom0 grants DATA+1 to the domU, which holds a device mapping of it.
    let frame = Mfn(frames::DATA + 1);
    f.dom.grant_frames.push(Mfn(39));
    f.frames.assign(Mfn(39), DomId(0)).unwrap();
    f.dom.grant.grow_to_frames(1).unwrap();
    let raw = u64::from(GTF_permit_access | GTF_reading) | 1 << 16 | frame.0 << 32;
    f.mem.write_u64(Mfn(39), 5, raw);
    assert!(f.frames.get_page(frame, DomId(0)));
    if let Some(a) = f.dom.grant.active_mut(GrantRef(5)) {
        *a = crate::common::grant_table::ActiveGrant {
            pin: crate::common::grant_table::GNTPIN_DEVR_INC,
            domid: DU,
            mfn: frame,
            length: 4096,
            ..Default::default()
        };
    }
    {
        let cell = f.domains.get(DU).unwrap();
        let mut du = cell.lock();
        let h = du.grant.get_maptrack_handle(1).unwrap();
        let m = crate::common::grant_table::GrantMapping {
            gref: GrantRef(5),
            flags: GNTMAP_device_map | GNTMAP_readonly,
            domid: DomId(0),
        };
        du.grant.set_mapping(h, m);
    }
    let before = counts(&f, frame).0;
    assert_eq!(crate::common::domctl::teardown::destroydomain(&mut f.ctx(), DU), Ok(0));
    assert_eq!(counts(&f, frame).0, before - 1);
    assert_eq!(f.dom.grant.active[5].pin, 0);
    assert_eq!(f.mem.read_u64(Mfn(39), 5) as u16, GTF_permit_access);
    assert!(f.domains.get(DU).is_none());
}

#[test]
fn copy_by_ref_and_frame() {
    let mut f = setup();
    grant(&mut f, 3, GTF_permit_access | GTF_readonly, DomId(0), DU_DATA);
    let dst = Mfn(frames::DATA + 5);
    let mut c = GnttabCopy {
        source: GnttabCopyPtr { u: 3, domid: DU, offset: 6, ..Z() },
        dest: GnttabCopyPtr { u: dst.0, domid: DomId::SELF, offset: 100, ..Z() },
        len: 9,
        flags: GNTCOPY_source_gref,
        status: 7,
        ..Z()
    };
    let run = |f: &mut Fixture, c: &GnttabCopy| {
        f.poke(BUF, bytemuck::bytes_of(c));
        assert_eq!(op(f, 5, 1), 0);
        bytemuck::pod_read_unaligned::<GnttabCopy>(&f.peek(BUF, 40)).status
    };
    let before = counts(&f, DU_DATA);
    assert_eq!(run(&mut f, &c), 0);
    let mut b = [0u8; 9];
    f.mem.read_bytes(dst, 100, &mut b);
    assert_eq!(&b, b"from domU");
    assert_eq!(gflags(&f, 3), GTF_permit_access | GTF_readonly, "unpinned after");
    assert_eq!(counts(&f, DU_DATA), before);
    // Beyond the page; a frame named by another domain id; into a
    // read-only grant; a frame the caller does not own.
    c.dest.offset = 4090;
    assert_eq!(run(&mut f, &c), GntSt::BadCopyArg.raw());
    c.dest.offset = 0;
    c.dest.domid = DomId(0);
    assert_eq!(run(&mut f, &c), GntSt::PermissionDenied.raw());
    c.dest.domid = DomId::SELF;
    c.dest.u = DU_DATA.0;
    assert_eq!(run(&mut f, &c), GntSt::BadPage.raw());
    let back = GnttabCopy {
        source: GnttabCopyPtr { u: dst.0, domid: DomId::SELF, offset: 0, ..Z() },
        dest: GnttabCopyPtr { u: 3, domid: DU, offset: 0, ..Z() },
        len: 4,
        flags: GNTCOPY_dest_gref,
        status: 0,
        ..Z()
    };
    assert_eq!(run(&mut f, &back), GntSt::GeneralError.raw());
    grant(&mut f, 3, GTF_permit_access, DomId(0), DU_DATA);
    assert_eq!(run(&mut f, &back), 0);
    assert_eq!(gflags(&f, 3), GTF_permit_access);
    assert_eq!(counts(&f, DU_DATA), before);
    let mut bad = back;
    bad.dest.u = 999;
    assert_eq!(run(&mut f, &bad), GntSt::BadGntref.raw());
    bad.dest.domid = DomId(9);
    assert_eq!(run(&mut f, &bad), GntSt::BadDomain.raw());
    audit_ok(&f);
}

#[test]
fn versions_and_bad_commands() {
    let mut f = setup();
    f.dom.grant.max_version = 1;
    f.poke(BUF, &2u32.to_le_bytes());
    assert_eq!(op(&mut f, 8, 1), -i64::from(Errno::ENOSYS.raw()), "set_version(2)");
    assert_eq!(f.peek(BUF, 4), 1u32.to_le_bytes());
    f.poke(BUF, &1u32.to_le_bytes());
    assert_eq!(op(&mut f, 8, 1), 0);
    f.poke(BUF, &3u32.to_le_bytes());
    assert_eq!(op(&mut f, 8, 1), -i64::from(Errno::EINVAL.raw()));
    f.poke(BUF, &[1, 0, 0, 0, 9, 9, 9, 9]);
    assert_eq!(op(&mut f, 10, 1), 0, "get_version of d1");
    assert_eq!(f.peek(BUF + 4, 4), 1u32.to_le_bytes());
    f.poke(BUF, &[9, 0, 0, 0]);
    assert_eq!(op(&mut f, 10, 1), -i64::from(Errno::ESRCH.raw()));
    assert_eq!(op(&mut f, 0x1000, 1), -i64::from(Errno::EINVAL.raw()), "opaque bits");
    assert_eq!(op(&mut f, 3, 1), -i64::from(Errno::ENOSYS.raw()), "dump_table");
    assert_eq!(op(&mut f, 0, 0x8000_0000), -i64::from(Errno::EINVAL.raw()));
}

#[test]
fn batches_report_per_op_status() {
    let mut f = setup();
    grant(&mut f, 3, GTF_permit_access, DomId(0), DU_DATA);
    let ops = [map_req(3, GNTMAP_host_map, MAP_VA), map_req(77, GNTMAP_host_map, MAP_VA)];
    f.poke(BUF, bytemuck::cast_slice(&ops));
    assert_eq!(op(&mut f, 0, 2), 0);
    let out: [GnttabMapGrantRef; 2] = bytemuck::pod_read_unaligned(&f.peek(BUF, 64));
    assert_eq!((out[0].status, out[1].status), (0, GntSt::GeneralError.raw()));
}
