// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of the guest descriptor tables and the return-state checks.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests on known values"
)]

use guest_abi::xen::{DomId, FLAT_KERNEL_CS, FLAT_KERNEL_SS, FLAT_RING3_CS32};

use super::*;
use crate::mm::pv::types::{PAGE_PRESENT, PAGE_USER};
use crate::pv::hypercall::mm::{set_gdt, update_descriptor};
use crate::pv::test_support::{Fixture, GUEST_BASE, frames};

/// Flat 64-bit user code, DPL 3 (Linux's `__USER_CS` descriptor).
const USER_CS64: u64 = 0x00af_fb00_0000_ffff;
/// Flat user data, DPL 3.
const USER_DS: u64 = 0x00cf_f300_0000_ffff;
/// 32-bit user code, DPL 3, limit 4 GiB.
const USER_CS32: u64 = 0x00cf_fb00_0000_ffff;
/// Data with base 0x1234_5678, DPL 3.
const BASED_DS: u64 = 0x12cf_f334_5678_ffff;

/// Guest page `i` of the fixture area: its frame and address.
fn page(i: u64) -> (Mfn, u64) {
    (Mfn(frames::DATA + i), GUEST_BASE + i * 4096)
}

/// Fixture whose data frames belong to dom0, with descriptors written into
/// guest page 2, made read-only and installed as a one-page GDT.
fn with_gdt(descs: &[(usize, u64)]) -> Fixture {
    let mut f = Fixture::new();
    for i in 0..16 {
        f.frames.assign(Mfn(frames::DATA + i), DomId(0)).unwrap();
    }
    let (gdt, _) = page(2);
    for &(i, d) in descs {
        f.mem.write_u64(gdt, i, d);
    }
    // Read-only in the guest's L1 (no writable type reference is held: the
    // fixture's page tables are plain memory).
    f.mem.write_u64(frames::L1, 2, (gdt.0 << 12) | PAGE_PRESENT | PAGE_USER);
    f.poke(GUEST_BASE, &gdt.0.to_le_bytes());
    let mut ctx = f.ctx();
    assert_eq!(set_gdt(&mut ctx, GUEST_BASE, 512), Ok(0));
    f
}

#[test]
fn set_gdt_fixes_dpl_in_place_and_loads_the_cpu_copy() {
    let kernel_dpl_ds = 0x00cf_9300_0000_ffff; // DPL 0
    let f = with_gdt(&[(5, USER_DS), (6, USER_CS64), (7, kernel_dpl_ds)]);
    let (gdt, _) = page(2);
    assert_eq!(f.mem.read_u64(gdt, 7), kernel_dpl_ds | (3 << 45));
    assert_eq!(f.platform.gdt_pages[0].as_ref().unwrap()[6], USER_CS64);
    assert_eq!(f.platform.gdt_pages[0].as_ref().unwrap()[7], kernel_dpl_ds | (3 << 45));
    assert!(f.platform.gdt_pages[1].is_none());
}

#[test]
fn update_descriptor_refreshes_the_cpu_copy() {
    let mut f = with_gdt(&[]);
    let (gdt, _) = page(2);
    let mut ctx = f.ctx();
    assert_eq!(update_descriptor(&mut ctx, (gdt.0 << 12) | (9 * 8), USER_DS), Ok(0));
    assert_eq!(f.platform.gdt_entries, vec![(9, USER_DS)]);
}

#[test]
fn reserved_selectors_read_as_xens() {
    let mut f = Fixture::new();
    let ctx = f.ctx();
    assert!(is_long_code(read_descriptor(&ctx, FLAT_KERNEL_CS).unwrap()));
    assert!(!is_long_code(read_descriptor(&ctx, FLAT_RING3_CS32).unwrap()));
    assert_eq!(dpl(read_descriptor(&ctx, 0xe008).unwrap()), 0);
    // An empty GDT page reads as zero; an empty LDT is beyond its limit.
    assert_eq!(read_descriptor(&ctx, 0x33), Some(0));
    assert_eq!(read_descriptor(&ctx, 0x07), None);
}

fn check(f: &mut Fixture, cs: u16, ss: u16, rip: u64) -> Result<(), SegFault> {
    f.regs.cs = cs;
    f.regs.ss = ss;
    f.regs.rip = rip;
    let ctx = f.ctx();
    check_return_state(&ctx)
}

const fn gp(e: u32) -> Result<(), SegFault> {
    Err(SegFault { vector: 13, error_code: e })
}

#[test]
fn return_state_follows_iretq() {
    let mut f = with_gdt(&[
        (4, USER_CS32),
        (5, USER_DS),
        (6, USER_CS64),
        (8, USER_CS64 & !(1 << 47)), // not present
        (9, USER_DS & !(1 << 47)),   // not present
        (10, 0x00cf_f100_0000_ffff), // read-only data
        (11, 0x00ef_fb00_0000_ffff), // L and D both set
        (12, 0x0040_fb00_0000_0fff), // 32-bit code, 4 KiB limit
    ]);
    // Xen's flat selectors and the guest's own.
    assert_eq!(check(&mut f, FLAT_KERNEL_CS, FLAT_KERNEL_SS, 0x1000), Ok(()));
    assert_eq!(check(&mut f, 0x33, 0x2b, 0x7fff_ffff_f000), Ok(()));
    assert_eq!(check(&mut f, 0x23, 0x2b, 0xffff_f000), Ok(()));
    // Null, RPL below 3, data or system descriptors as CS.
    assert_eq!(check(&mut f, 0, 0x2b, 0), gp(0));
    assert_eq!(check(&mut f, 0x30, 0x2b, 0), gp(0x30));
    assert_eq!(check(&mut f, 0x2b, 0x2b, 0), gp(0x28));
    assert_eq!(check(&mut f, 0x6b, 0x2b, 0), gp(0x68));
    assert_eq!(check(&mut f, 0xe00b, 0x2b, 0), gp(0xe008)); // hypervisor CS, DPL 0
    assert_eq!(check(&mut f, 0x5b, 0x2b, 0), gp(0x58)); // L+D
    // Not present CS → #NP; bad SS → #GP; not-present SS → #SS.
    assert_eq!(check(&mut f, 0x43, 0x2b, 0), Err(SegFault { vector: 11, error_code: 0x40 }));
    assert_eq!(check(&mut f, 0x33, 0, 0), gp(0));
    assert_eq!(check(&mut f, 0x33, 0x53, 0), gp(0x50));
    assert_eq!(check(&mut f, 0x33, 0x33, 0), gp(0x30));
    assert_eq!(check(&mut f, 0x33, 0x4b, 0), Err(SegFault { vector: 12, error_code: 0x48 }));
    // LDT selectors beyond an empty LDT.
    assert_eq!(check(&mut f, 0x0f, 0x2b, 0), gp(0x0c));
    // RIP: canonical in 64-bit code, within the limit in 32-bit code.
    assert_eq!(check(&mut f, 0x33, 0x2b, 0x0000_8000_0000_0000), gp(0));
    assert_eq!(check(&mut f, 0x63, 0x2b, 0xfff), Ok(()));
    assert_eq!(check(&mut f, 0x63, 0x2b, 0x1000), gp(0));
}

#[test]
fn user_gs_selector_loads_base_and_keeps_kernel_gs() {
    let mut f = with_gdt(&[(5, USER_DS), (7, BASED_DS), (8, USER_CS64 & !(1 << 47))]);
    f.platform.gs = 0xffff_8000_dead_0000;
    let mut ctx = f.ctx();
    set_user_gs_selector(&mut ctx, 0x38);
    assert_eq!(ctx.v_ref().arch.gs_base_user, 0x1234_5678);
    assert_eq!(f.platform.gs_sel, 0x3b);
    assert_eq!(f.platform.gs, 0xffff_8000_dead_0000);
    // Unusable selectors load null (and a zero base), without failing.
    for bad in [0x40u16, 0x33, 0x1f, 0xe008] {
        let mut ctx = f.ctx();
        set_user_gs_selector(&mut ctx, bad);
        assert_eq!(ctx.v_ref().arch.gs_base_user, 0, "selector {bad:#x}");
        assert_eq!(f.platform.gs_sel, 0);
    }
    let mut ctx = f.ctx();
    set_user_gs_selector(&mut ctx, 0xe02b);
    assert_eq!(f.platform.gs_sel, 0xe02b);
}

/// Maps guest page `i` read-only and fills its frame with `descs`.
fn ldt_page(f: &mut Fixture, i: u64, descs: &[(usize, u64)]) -> Mfn {
    let (m, _) = page(i);
    for &(n, d) in descs {
        f.mem.write_u64(m, n, d);
    }
    let idx = usize::try_from(i).unwrap();
    f.mem.write_u64(frames::L1, idx, (m.0 << 12) | PAGE_PRESENT | PAGE_USER);
    m
}

#[test]
fn ldt_is_resolved_typed_and_refreshed() {
    let mut f = with_gdt(&[]);
    let m4 = ldt_page(&mut f, 4, &[(0, USER_DS), (1, USER_CS64)]);
    let m5 = ldt_page(&mut f, 5, &[(0, USER_DS)]);
    let (_, va) = page(4);
    f.dom.vcpus[0].arch.tables.ldt_base = va;
    f.dom.vcpus[0].arch.tables.ldt_ents = 600;
    let mut ctx = f.ctx();
    load_ldt(&mut ctx);
    assert_eq!(ctx.v_ref().arch.ldt_frames, vec![Some(m4), Some(m5)]);
    assert_eq!(f.frames.info(m4).unwrap().type_info.ty, PageType::SegDesc);
    assert_eq!(f.platform.ldt_ents, 600);
    assert_eq!(f.platform.ldt_pages[0].as_ref().unwrap()[1], USER_CS64);
    // LDT selectors: index 1 (TI set, RPL 3) is 64-bit code.
    assert_eq!(check(&mut f, 0x0f, 0x07, 0x1000), Ok(()));
    assert_eq!(check(&mut f, (600 << 3) | 7, 0x07, 0), gp(600 << 3 | 4));
    // update_descriptor on an LDT page reaches the CPU copy.
    let mut ctx = f.ctx();
    assert_eq!(update_descriptor(&mut ctx, (m5.0 << 12) | 16, USER_DS), Ok(0));
    assert_eq!(f.platform.ldt_entries, vec![(514, USER_DS)]);
    // Unloading drops the type references.
    f.dom.vcpus[0].arch.tables.ldt_ents = 0;
    let mut ctx = f.ctx();
    load_ldt(&mut ctx);
    assert_eq!(f.frames.info(m4).unwrap().type_info.count, 0);
    assert_eq!(f.platform.ldt_ents, 0);
}

#[test]
fn unusable_ldt_pages_read_as_not_present() {
    let mut f = with_gdt(&[]);
    // Page 6 stays writable in the fixture, but holds a call gate, which
    // check_descriptor refuses: it cannot become a descriptor page.
    let (m6, va) = page(6);
    f.mem.write_u64(m6, 0, 0x0000_ec00_0000_0000);
    f.dom.vcpus[0].arch.tables.ldt_base = va;
    f.dom.vcpus[0].arch.tables.ldt_ents = 16;
    let mut ctx = f.ctx();
    load_ldt(&mut ctx);
    assert_eq!(ctx.v_ref().arch.ldt_frames, vec![None]);
    assert_eq!(read_descriptor(&ctx, 0x07), Some(0));
    assert!(f.platform.ldt_pages[0].is_none());
}

#[test]
fn the_flat_selector_shortcut_agrees_with_the_descriptors() {
    let mut f = with_gdt(&[]);
    for rip in
        [0, 0x7fff_ffff_ffff, 1 << 47, 0xffff_7fff_ffff_ffff, 0xffff_8000_0000_0000, u64::MAX]
    {
        f.regs.cs = FLAT_KERNEL_CS;
        f.regs.ss = FLAT_KERNEL_SS;
        f.regs.rip = rip;
        let ctx = f.ctx();
        assert_eq!(check_return_state(&ctx), check_return_descriptors(&ctx), "rip {rip:#x}");
    }
}
