//! The P2M area's own mapping, against Xen's `setup_pv_physmap` walk.
#![allow(clippy::indexing_slicing, reason = "test assertions on known lists")]

use super::*;

const LINUX_P2M: u64 = 0x80_0000_0000;
const KERNEL: (u64, u64) = (0xffff_ffff_8000_0000, 0xffff_ffff_84c0_0000);

#[test]
fn linux_with_768_mib_takes_one_l3_l2_one_l1_and_its_data_pages() {
    // 196608 pages × 8 bytes = 1.5 MiB of list: 384 data pages, one L1.
    let end = LINUX_P2M + 196_608 * 8;
    assert_eq!(check(LINUX_P2M, end, KERNEL.0, KERNEL.1), Ok(()));
    let p = pages(LINUX_P2M, end);
    assert_eq!(p.len(), 3 + 384);
    assert_eq!(p[0], MapPage { role: Role::L3, va: LINUX_P2M });
    assert_eq!(p[1], MapPage { role: Role::L2, va: LINUX_P2M });
    assert_eq!(p[2], MapPage { role: Role::L1, va: LINUX_P2M });
    assert!(p[3..].iter().all(|m| m.role == Role::Data));
    assert_eq!(p[386].va, LINUX_P2M + 383 * 4096);
}

#[test]
fn a_new_table_at_each_boundary_in_allocation_order() {
    // From 4 KiB below a 1 GiB boundary to 4 KiB past it: the second page
    // needs a new L2 and L1 (same L3).
    let base = LINUX_P2M + (1 << 30) - 4096;
    let p = pages(base, base + 2 * 4096);
    let roles: Vec<Role> = p.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::L3, Role::L2, Role::L1, Role::Data, Role::L2, Role::L1, Role::Data]);
    // An unaligned base maps from its page; a partial last page counts.
    let p = pages(LINUX_P2M + 8, LINUX_P2M + 4096 + 8);
    assert_eq!(p.iter().filter(|m| m.role == Role::Data).count(), 2);
}

#[test]
fn hostile_ranges_are_refused() {
    let (vs, ve) = KERNEL;
    assert_eq!(check(vs + 4096, vs + 8192, vs, ve), Err(P2mMapError::OverlapsInitialMapping));
    // The same 512 GiB slot as the kernel, below it.
    assert_eq!(check(vs - (1 << 30), vs - (1 << 29), vs, ve), Err(P2mMapError::SharesL4Slot));
    // The hypervisor's hole, non-canonical, wrapping.
    for (b, e) in [
        (0xffff_8000_0000_0000, 0xffff_8000_0010_0000),
        (0x7fff_ffff_f000, 0x8000_0000_1000),
        (0x0000_9000_0000_0000, 0x0000_9000_0010_0000),
        (0xffff_ffff_ffff_f000, 0x1000),
    ] {
        assert_eq!(check(b, e, vs, ve), Err(P2mMapError::NotGuestSpace), "{b:#x}..{e:#x}");
    }
    // The upper half above the hypervisor is guest space.
    assert_eq!(check(0xffff_c000_0000_0000, 0xffff_c000_0010_0000, vs, ve), Ok(()));
}

#[test]
fn first_pfn_follows_xens_power_of_two_chunk() {
    // Linux, 76 MiB mapped (19456 pages), initrd unmapped (16384 pages).
    assert_eq!(first_pfn(19_456, 0, 16_384), 32_768 + 16_384);
    // A mapped initrd is left out of the chunk and counted once.
    assert_eq!(first_pfn(1024 + 300, 300, 300), 1024 + 300);
    assert_eq!(first_pfn(0, 0, 0), 1);
}

#[test]
fn libxc_numbers_data_first_then_tables_by_level() {
    let base = LINUX_P2M + (1 << 30) - 4096;
    let p = pages_libxc(base, base + 2 * 4096);
    let roles: Vec<Role> = p.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::Data, Role::Data, Role::L3, Role::L2, Role::L2, Role::L1, Role::L1]);
    assert_eq!(p[3].va, base);
    assert_eq!(p[4].va, base + 4096);
}
