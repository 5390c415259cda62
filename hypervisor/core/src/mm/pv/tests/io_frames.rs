// SPDX-License-Identifier: GPL-2.0-only
//! The frame table's I/O frames (`assign_io_frames`) against the rule it
//! replaces: frame m is I/O when m < 0x100 or no RAM region holds m * 4096.

use alloc::vec::Vec;

use guest_abi::xen::DomId;

use crate::mm::Mfn;
use crate::mm::pv::FrameTable;

fn reference(ram: &[(u64, u64)], max_page: u64) -> Vec<u64> {
    (0..max_page)
        .filter(|&m| {
            let addr = m * 4096;
            m < 0x100 || !ram.iter().any(|&(s, e)| addr >= s && addr < e)
        })
        .collect()
}

fn io_of(table: &FrameTable) -> Vec<u64> {
    table.iter().filter(|(_, p)| p.owner == Some(DomId::IO)).map(|(m, _)| m.0).collect()
}

#[test]
fn matches_the_per_frame_rule() {
    let maps: [&[(u64, u64)]; 5] = [
        // QEMU pc, 6 GiB: low RAM, 1 MiB..3 GiB less a tail, 4..7 GiB.
        &[(0, 0x9fc00), (0x10_0000, 0xbffe_0000), (0x1_0000_0000, 0x1_c000_0000)],
        // Unaligned edges and overlapping, unsorted regions.
        &[(0x20_0800, 0x30_0001), (0x10_0000, 0x28_0000), (0x40_0fff, 0x40_1000)],
        // Nothing but the first MiB.
        &[(0, 0x10_0000)],
        // No RAM at all.
        &[],
        // RAM past the table's end.
        &[(0x10_0000, 0x10_0000_0000)],
    ];
    for ram in maps {
        let max_page = ram.iter().map(|&(_, e)| e / 4096).max().unwrap_or(0).min(0x20_0000);
        let mut table = FrameTable::new(max_page);
        let n = table.assign_io_frames(ram);
        let want = reference(ram, max_page);
        assert_eq!(io_of(&table), want, "{ram:x?}");
        assert_eq!(n, want.len() as u64);
    }
}

#[test]
fn a_used_frame_is_left_alone() {
    let mut table = FrameTable::new(0x200);
    table.assign(Mfn(0x10), DomId(0)).unwrap();
    assert_eq!(table.assign_io_frames(&[(0x10_0000, 0x18_0000)]), 0x100 - 1 + 0x80);
    assert_eq!(table.owner(Mfn(0x10)), Some(DomId(0)));
}

#[test]
fn size_scales_with_the_machine() {
    assert_eq!(FrameTable::bytes_for(0), 0);
    let per = FrameTable::bytes_for(1);
    assert!((1..=32).contains(&per), "{per} bytes per frame (Xen's page_info is 32)");
    assert_eq!(FrameTable::bytes_for(1 << 24), per << 24);
    assert_eq!(FrameTable::bytes_for(u64::MAX), u64::MAX);
}
