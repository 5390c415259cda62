// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for memory map sanitising and clipping.
// Tests may do plain arithmetic and indexing on small known values.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use super::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// QEMU's map for `-m 128M` (SeaBIOS), as multiboot reports it.
fn qemu_128m() -> Vec<(u64, u64, u32)> {
    vec![
        (0, 0x9fc00, 1),
        (0x9fc00, 0x400, 2),
        (0xf0000, 0x10000, 2),
        (0x10_0000, 128 * MIB - 0x2_0000 - 0x10_0000, 1),
        (128 * MIB - 0x2_0000, 0x2_0000, 2),
        (0xfffc_0000, 0x4_0000, 2),
    ]
}

fn e(addr: u64, size: u64, kind: E820Type) -> E820Entry {
    E820Entry { addr, size, kind }
}

#[test]
fn type_numbers_round_trip() {
    for raw in 0..20 {
        assert_eq!(E820Type::from_raw(raw).raw(), raw);
    }
    assert_eq!(E820Type::from(1), E820Type::Ram);
    assert_eq!(E820Type::from(3), E820Type::Acpi);
    assert_eq!(E820Type::from(4), E820Type::Nvs);
    assert_eq!(E820Type::from(5), E820Type::Unusable);
    assert_eq!(E820Type::from(12), E820Type::Other(12));
}

#[test]
fn qemu_map_is_kept_as_is() {
    let map = E820Map::from_entries(qemu_128m());
    let expect: Vec<_> =
        qemu_128m().into_iter().map(|(a, s, t)| e(a, s, E820Type::from_raw(t))).collect();
    assert_eq!(map.entries(), expect.as_slice());
    assert_eq!(map.total_ram_bytes(), 0x9fc00 + 128 * MIB - 0x2_0000 - 0x10_0000);
    assert_eq!(map.max_ram_addr(), 128 * MIB - 0x2_0000);
    assert_eq!(map.ram_regions().count(), 2);
}

#[test]
fn qemu_map_with_acpi_and_high_memory() {
    // -m 6G: RAM below 3 GiB, ACPI tables at the top of low RAM, 3 GiB above 4 GiB.
    let map = E820Map::from_entries([
        (0, 0x9fc00, 1),
        (0x9fc00, 0x400, 2),
        (0xf0000, 0x10000, 2),
        (0x10_0000, 0xbfee_0000 - 0x10_0000, 1),
        (0xbfee_0000, 0x1_0000, 3),
        (0xbfef_0000, 0x1_0000, 4),
        (0xbff0_0000, 0x10_0000, 2),
        (0xfeff_c000, 0x4000, 2),
        (0xfffc_0000, 0x4_0000, 2),
        (4 * GIB, 3 * GIB, 1),
    ]);
    assert_eq!(map.entries().len(), 10);
    assert_eq!(map.max_ram_addr(), 7 * GIB);
    assert_eq!(map.total_ram_bytes(), 0x9fc00 + (0xbfee_0000 - 0x10_0000) + 3 * GIB);
    assert_eq!(map.entries()[4].kind, E820Type::Acpi);
    assert_eq!(map.entries()[5].kind, E820Type::Nvs);
}

#[test]
fn unsorted_input_is_sorted() {
    let map = E820Map::from_entries([(0x10_0000, MIB, 1), (0, 0x9f000, 1), (0xf0000, 0x10000, 2)]);
    let addrs: Vec<_> = map.entries().iter().map(|x| x.addr).collect();
    assert_eq!(addrs, [0, 0xf0000, 0x10_0000]);
}

#[test]
fn empty_entries_are_dropped() {
    let map = E820Map::from_entries([(0, 0, 1), (0x1000, 0, 2), (0x2000, 0x1000, 1)]);
    assert_eq!(map.entries(), [e(0x2000, 0x1000, E820Type::Ram)]);
    assert!(E820Map::from_entries([]).entries().is_empty());
    assert_eq!(E820Map::default().max_ram_addr(), 0);
}

#[test]
fn adjacent_same_type_regions_merge() {
    let map = E820Map::from_entries([(0, 0x1000, 1), (0x1000, 0x1000, 1), (0x2000, 0x1000, 2)]);
    assert_eq!(map.entries(), [e(0, 0x2000, E820Type::Ram), e(0x2000, 0x1000, E820Type::Reserved)]);
}

#[test]
fn reserved_hole_punched_into_ram() {
    let map = E820Map::from_entries([(0, 2 * MIB, 1), (MIB, 0x1000, 2)]);
    assert_eq!(
        map.entries(),
        [
            e(0, MIB, E820Type::Ram),
            e(MIB, 0x1000, E820Type::Reserved),
            e(MIB + 0x1000, MIB - 0x1000, E820Type::Ram),
        ]
    );
}

#[test]
fn higher_type_number_wins_overlaps() {
    // ACPI (3) overlapping NVS (4) and Unusable (5) overlapping Reserved (2).
    let map = E820Map::from_entries([
        (0, 0x3000, 3),
        (0x2000, 0x2000, 4),
        (0x8000, 0x1000, 2),
        (0x8000, 0x800, 5),
    ]);
    assert_eq!(
        map.entries(),
        [
            e(0, 0x2000, E820Type::Acpi),
            e(0x2000, 0x2000, E820Type::Nvs),
            e(0x8000, 0x800, E820Type::Unusable),
            e(0x8800, 0x800, E820Type::Reserved),
        ]
    );
}

#[test]
fn ram_overlapping_ram_and_duplicates_collapse() {
    let map = E820Map::from_entries([(0, 0x3000, 1), (0x1000, 0x3000, 1), (0, 0x3000, 1)]);
    assert_eq!(map.entries(), [e(0, 0x4000, E820Type::Ram)]);
}

#[test]
fn unknown_type_beats_ram() {
    let map = E820Map::from_entries([(0, 0x4000, 1), (0x1000, 0x1000, 12), (0x3000, 0x1000, 0)]);
    assert_eq!(map.entries()[1], e(0x1000, 0x1000, E820Type::Other(12)));
    assert_eq!(map.entries()[3], e(0x3000, 0x1000, E820Type::Other(0)));
    assert_eq!(map.total_ram_bytes(), 0x2000);
}

#[test]
fn entry_running_past_u64_max_is_truncated() {
    let map = E820Map::from_entries([(u64::MAX - 0xfff, 0x10_0000, 1), (u64::MAX, 5, 1)]);
    assert_eq!(map.entries(), [e(u64::MAX - 0xfff, 0xfff, E820Type::Ram)]);
    assert_eq!(map.max_ram_addr(), u64::MAX);
}

#[test]
fn is_ram_requires_full_containment() {
    let map = E820Map::from_entries(qemu_128m());
    assert!(map.is_ram(0, 0x1000));
    assert!(map.is_ram(0x9f000, 0x9fc00));
    assert!(!map.is_ram(0x9f000, 0xa0000));
    assert!(!map.is_ram(0x10_0000, 0x10_0000));
    assert!(!map.is_ram(0xf0000, 0xf1000));
}

#[test]
fn clip_truncates_and_drops_ram_only() {
    let mut map = E820Map::from_entries(qemu_128m());
    let before = map.total_ram_bytes();
    let removed = map.clip(64 * MIB);
    assert_eq!(map.max_ram_addr(), 64 * MIB);
    assert_eq!(map.total_ram_bytes(), before - removed);
    assert_eq!(map.total_ram_bytes(), 0x9fc00 + 63 * MIB);
    // Reserved regions above the limit survive.
    assert!(map.entries().iter().any(|x| x.addr == 0xfffc_0000));
}

#[test]
fn clip_below_high_ram_drops_whole_regions() {
    let mut map = E820Map::from_entries([(0, 0x9fc00, 1), (0x10_0000, GIB, 1), (4 * GIB, GIB, 1)]);
    assert_eq!(map.clip(0x8_0000), GIB + GIB + 0x1fc00);
    assert_eq!(map.entries(), [e(0, 0x8_0000, E820Type::Ram)]);
    assert_eq!(map.clip(0), 0x8_0000);
    assert!(map.entries().is_empty());
}

#[test]
fn clip_above_everything_is_a_no_op() {
    let mut map = E820Map::from_entries(qemu_128m());
    let copy = map.clone();
    assert_eq!(map.clip(u64::MAX), 0);
    assert_eq!(map, copy);
}

#[test]
fn find_free_takes_the_highest_fit_below_the_limit() {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    let map = E820Map::from_entries([
        (0, 0x9fc00, 1),
        (MIB, 3 * GIB - MIB, 1),
        (3 * GIB, GIB, 2),
        (4 * GIB, 4 * GIB, 1),
    ]);
    // Highest RAM below 4 GiB.
    assert_eq!(map.find_free(8 * MIB, 4 * GIB, &[]), Some(3 * GIB - 8 * MIB));
    // Rounded up to whole pages, never empty.
    assert_eq!(map.find_free(1, 4 * GIB, &[]), Some(3 * GIB - 4096));
    assert_eq!(map.find_free(0, 4 * GIB, &[]), Some(3 * GIB - 4096));
    // Without a limit, the top of RAM.
    assert_eq!(map.find_free(8 * MIB, u64::MAX, &[]), Some(8 * GIB - 8 * MIB));
    // Below a reserved range it would overlap (unaligned ends too); one further down
    // that it misses does not matter.
    let reserved =
        [(3 * GIB - 5 * MIB, 3 * GIB - 4 * MIB + 1), (3 * GIB - 12 * MIB, 3 * GIB - 11 * MIB)];
    assert_eq!(map.find_free(4 * MIB, 4 * GIB, &reserved), Some(3 * GIB - 9 * MIB));
    assert_eq!(map.find_free(7 * MIB, 4 * GIB, &reserved), Some(3 * GIB - 19 * MIB));
    // Never below 1 MiB, never across regions.
    assert_eq!(map.find_free(3 * GIB, 4 * GIB, &[]), None);
    assert_eq!(map.find_free(3 * GIB - MIB, 4 * GIB, &[]), Some(MIB));
    assert_eq!(map.find_free(3 * GIB - MIB, 4 * GIB, &[(2 * GIB, 2 * GIB + 1)]), None);
    // Sizes near the end of the address space do not overflow.
    assert_eq!(map.find_free(u64::MAX, u64::MAX, &[]), None);
}
