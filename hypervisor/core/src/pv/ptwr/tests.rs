// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of writable page tables: a fixture guest whose page tables
//! are pinned (typed and counted), with its L1 mapped read-only at
//! [`L1_VA`]; every emulated instruction form that Linux uses, the
//! reference movements they cause, and every refusal (with the entry, the
//! registers and the reference counts unchanged).
// Tests index fixed tables and build expected values arithmetically.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]

use alloc::vec::Vec;

use guest_abi::xen::{DomId, MmuextCmd, MmuextOp, VmAssistType};

use super::*;
use crate::mm::pv::types::{
    PAGE_ACCESSED, PAGE_DIRTY, PAGE_GLOBAL, PAGE_NX, PAGE_PCD, PAGE_USER, pte_from_mfn,
};
use crate::mm::pv::{PhysMem, VcpuTables, audit};
use crate::pv::emulate::mem_write::{EFLAGS_ARITH, EFLAGS_CF, EFLAGS_PF, EFLAGS_ZF};
use crate::pv::test_support::{Fixture, GUEST_BASE, GUEST_PAGES, frames};

/// The fixture's domain.
const DOM: DomId = DomId(0);
/// Another domain.
const OTHER: DomId = DomId(9);
/// L1 slot and address of the read-only mapping of the L1 itself.
const L1_SELF: usize = 16;
const L1_VA: u64 = GUEST_BASE + GUEST_PAGES * 4096;
/// A data frame (also mapped writable at slot 1) mapped read-only.
const RO_DATA_VA: u64 = L1_VA + 0x1000;
/// The L2 mapped read-only.
const L2_VA: u64 = L1_VA + 0x2000;
/// An untyped spare frame mapped read-only.
const UNTYPED_VA: u64 = L1_VA + 0x3000;
/// Where [`foreign_l1_is_refused`] maps another domain's L1 (slot 20).
const FOREIGN_L1_VA: u64 = L1_VA + 0x4000;
/// First free L1 slot.
const FREE: usize = 24;
/// Spare frames of the domain, not mapped by the fixture.
const SPARE: [Mfn; 4] = [
    Mfn(frames::DATA + 16),
    Mfn(frames::DATA + 17),
    Mfn(frames::DATA + 18),
    Mfn(frames::DATA + 19),
];
/// The untyped spare frame mapped at [`UNTYPED_VA`].
const UNTYPED: Mfn = Mfn(frames::DATA + 20);
/// The other domain's frame.
const FOREIGN: Mfn = Mfn(frames::DATA + 21);
/// A frame nobody owns (a hypervisor frame).
const UNOWNED: Mfn = Mfn(0);
/// What the hardware reports for a guest-kernel write to a read-only page
/// (the kernel runs in ring 3).
const EC: u32 = PFEC_PRESENT | PFEC_WRITE | PFEC_USER;
/// `P|RW|US|A` and `P|US|A`.
const RW: u64 = PAGE_PRESENT | PAGE_RW | PAGE_USER | PAGE_ACCESSED;
const RO: u64 = PAGE_PRESENT | PAGE_USER | PAGE_ACCESSED;

fn pte(mfn: Mfn, flags: u64) -> u64 {
    pte_from_mfn(mfn, flags)
}

/// The address of L1 slot `i` through the read-only mapping.
fn slot(i: usize) -> u64 {
    L1_VA + 8 * i as u64
}

/// What `mod_l1_entry` stores for a kernel entry (`adjust_guest_l1e`).
fn stored(e: u64) -> u64 {
    if pte_present(e) { e | PAGE_GLOBAL } else { e }
}

fn pte_present(e: u64) -> bool {
    e & PAGE_PRESENT != 0
}

/// The fixture with its frames owned by [`DOM`], the read-only mappings
/// above, the L4 pinned and `writable_pagetables` enabled.
fn guest() -> Fixture {
    let mut f = Fixture::new();
    let total = frames::DATA + GUEST_PAGES + 16;
    for m in (1..=4).chain(frames::DATA..total) {
        if m != FOREIGN.0 {
            f.frames.assign(Mfn(m), DOM).unwrap();
        }
    }
    f.frames.assign(FOREIGN, OTHER).unwrap();
    let p = PAGE_PRESENT | PAGE_USER;
    f.mem.write_u64(frames::L1, L1_SELF, pte(frames::L1, p));
    f.mem.write_u64(frames::L1, L1_SELF + 1, pte(Mfn(frames::DATA + 1), p));
    f.mem.write_u64(frames::L1, L1_SELF + 2, pte(frames::L2, p));
    f.mem.write_u64(frames::L1, L1_SELF + 3, pte(UNTYPED, p));
    let (_, rc) = f.ctx().mm().do_mmuext_op(
        DOM,
        &[MmuextOp::new(MmuextCmd::PinL4Table, frames::L4.0, 0)],
        &mut VcpuTables::default(),
        &mut Vec::new(),
    );
    rc.unwrap();
    f.dom.vm_assist |= VmAssistType::WritablePagetables.mask();
    f.regs.rip = GUEST_BASE;
    f
}

fn entry(f: &Fixture, i: usize) -> u64 {
    f.mem.read_u64(frames::L1, i)
}

fn counts(f: &Fixture, mfn: Mfn) -> (u32, u32, PageType) {
    let p = f.frames.info(mfn).unwrap();
    (p.count, p.type_info.count, p.type_info.ty)
}

/// The frame table agrees with a recount from the pinned tables.
#[track_caller]
fn audit_ok(f: &Fixture) {
    audit(&f.frames, &f.mem, &[]).unwrap();
}

/// Puts `code` at `RIP` and handles a write fault at `cr2` with `ec`.
fn fault_ec(f: &mut Fixture, code: &[u8], cr2: u64, ec: u32) -> EmulOutcome {
    f.poke(GUEST_BASE, code);
    f.regs.rip = GUEST_BASE;
    pv_ro_page_fault(&mut f.ctx(), cr2, ec)
}

fn fault(f: &mut Fixture, code: &[u8], cr2: u64) -> EmulOutcome {
    fault_ec(f, code, cr2, EC)
}

/// `mov %rax,(%rdi)`.
const MOV_RAX_RDI: [u8; 3] = [0x48, 0x89, 0x07];

/// Runs `mov %rax,(%rdi)` storing `value` into slot `i`.
fn store(f: &mut Fixture, i: usize, value: u64) -> EmulOutcome {
    f.regs.rdi = slot(i);
    f.regs.rax = value;
    fault(f, &MOV_RAX_RDI, slot(i))
}

#[test]
fn the_fixture_is_consistent() {
    let f = guest();
    assert_eq!(counts(&f, frames::L1).2, PageType::L1);
    assert_eq!(counts(&f, SPARE[0]), (1, 0, PageType::None));
    audit_ok(&f);
}

#[test]
fn effective_l1_entry() {
    let mut f = guest();
    assert_eq!(guest_mem::guest_l1e(&f.mem, frames::L4, L1_VA + 0x123), Some(entry(&f, L1_SELF)));
    assert_eq!(guest_mem::guest_l1e(&f.mem, frames::L4, slot(FREE)), Some(entry(&f, L1_SELF)));
    // Not-present L1 entries come back as they are.
    assert_eq!(guest_mem::guest_l1e(&f.mem, frames::L4, GUEST_BASE + 0x20_0000 - 0x1000), Some(0));
    // No L2 entry, the hypervisor hole, non-canonical, a superpage.
    assert_eq!(guest_mem::guest_l1e(&f.mem, frames::L4, GUEST_BASE + 0x20_0000), None);
    assert_eq!(guest_mem::guest_l1e(&f.mem, frames::L4, 0xffff_8000_0000_0000), None);
    assert_eq!(guest_mem::guest_l1e(&f.mem, frames::L4, 0x0000_8000_0000_0000), None);
    f.mem.write_u64(frames::L2, 3, pte(Mfn(0), RW | 1 << 7));
    assert_eq!(guest_mem::guest_l1e(&f.mem, frames::L4, 0x60_0000), None);
}

#[test]
fn plain_store_maps_a_frame_writable() {
    let mut f = guest();
    let e = pte(SPARE[0], RW);
    assert_eq!(store(&mut f, FREE, e), EmulOutcome::Done);
    assert_eq!(f.regs.rip, GUEST_BASE + 3);
    assert_eq!(entry(&f, FREE), stored(e));
    assert_eq!(counts(&f, SPARE[0]), (2, 1, PageType::Writable));
    // The new mapping works.
    let va = GUEST_BASE + FREE as u64 * 4096;
    f.poke(va, &[0x5a]);
    assert_eq!(f.peek(va, 1), [0x5a]);
    // Replacing it moves the references; clearing it drops them.
    assert_eq!(store(&mut f, FREE, pte(SPARE[1], RO)), EmulOutcome::Done);
    assert_eq!(counts(&f, SPARE[0]), (1, 0, PageType::Writable));
    assert_eq!(counts(&f, SPARE[1]).0, 2);
    assert_eq!(store(&mut f, FREE, 0), EmulOutcome::Done);
    assert_eq!((entry(&f, FREE), counts(&f, SPARE[1]).0), (0, 1));
    audit_ok(&f);
}

#[test]
fn addressing_forms_and_partial_writes() {
    let mut f = guest();
    // mov %r8,(%rbx,%rcx,8) with cr2 anywhere in the page.
    f.regs.rbx = L1_VA;
    f.regs.rcx = FREE as u64;
    f.regs.r8 = pte(SPARE[0], RW);
    assert_eq!(fault(&mut f, &[0x4c, 0x89, 0x04, 0xcb], L1_VA + 0xff8), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(f.regs.r8));
    // movl %eax,(%rdi): the low half replaces the frame, the high half stays.
    f.mem.write_u64(frames::L1, FREE, entry(&f, FREE) | PAGE_NX);
    f.regs.rdi = slot(FREE);
    f.regs.rax = pte(SPARE[1], RW);
    assert_eq!(fault(&mut f, &[0x89, 0x07], slot(FREE)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[1], RW)) | PAGE_NX);
    assert_eq!((counts(&f, SPARE[0]).0, counts(&f, SPARE[1]).0), (1, 2));
    // movl $0,4(%rdi): the high half cleared (NX gone); fast path.
    assert_eq!(fault(&mut f, &[0xc7, 0x47, 0x04, 0, 0, 0, 0], slot(FREE) + 4), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[1], RW)));
    // movb $0x25,(%rdi): the low flags byte, P|US|A without RW.
    assert_eq!(fault(&mut f, &[0xc6, 0x07, 0x25], slot(FREE)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[1], RO)));
    assert_eq!(counts(&f, SPARE[1]), (2, 0, PageType::Writable));
    // movw $imm16 with a RIP-relative operand: the low 16 bits hold the
    // flags and address bits 12-15, which stay the same.
    assert_eq!(store(&mut f, FREE + 1, pte(SPARE[1], RO)), EmulOutcome::Done);
    let disp = (slot(FREE + 1) - (GUEST_BASE + 9)) as u32;
    let mut code = alloc::vec![0x66, 0xc7, 0x05];
    code.extend_from_slice(&disp.to_le_bytes());
    code.extend_from_slice(&((pte(SPARE[1], RW) & 0xffff) as u16).to_le_bytes());
    assert_eq!(code.len(), 9);
    assert_eq!(fault(&mut f, &code, slot(FREE + 1)), EmulOutcome::Done);
    assert_eq!(f.regs.rip, GUEST_BASE + 9);
    assert_eq!(entry(&f, FREE + 1), stored(pte(SPARE[1], RW)));
    assert_eq!(counts(&f, SPARE[1]), (3, 1, PageType::Writable));
    audit_ok(&f);
}

#[test]
fn xchg_clears_and_frees_the_frame_for_a_page_table() {
    let mut f = guest();
    assert_eq!(store(&mut f, FREE, pte(SPARE[0], RW)), EmulOutcome::Done);
    // Pinning a writably mapped frame as an L1 fails...
    assert_eq!(
        f.ctx().mm().get_page_type(SPARE[0], PageType::L1),
        Err(guest_abi::xen::Errno::EINVAL)
    );
    // ...until ptep_get_and_clear (xchg) drops the mapping.
    f.regs.rdi = slot(FREE);
    f.regs.rcx = 0;
    assert_eq!(fault(&mut f, &[0x48, 0x87, 0x0f], slot(FREE)), EmulOutcome::Done);
    assert_eq!((f.regs.rcx, entry(&f, FREE)), (stored(pte(SPARE[0], RW)), 0));
    assert_eq!(counts(&f, SPARE[0]), (1, 0, PageType::Writable));
    f.ctx().mm().get_page_type(SPARE[0], PageType::L1).unwrap();
    assert_eq!(counts(&f, SPARE[0]).2, PageType::L1);
    f.ctx().mm().put_page_type(SPARE[0]);
    audit_ok(&f);
}

#[test]
fn lock_cmpxchg_succeeds_or_loads_the_accumulator() {
    let mut f = guest();
    let code = [0xf0, 0x48, 0x0f, 0xb1, 0x0f]; // lock cmpxchg %rcx,(%rdi)
    f.regs.rdi = slot(FREE);
    f.regs.rax = 0;
    f.regs.rcx = pte(SPARE[0], RW);
    assert_eq!(fault(&mut f, &code, slot(FREE)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[0], RW)));
    assert_eq!(f.regs.rflags & EFLAGS_ZF, EFLAGS_ZF);
    assert_eq!(f.regs.rip, GUEST_BASE + 5);
    // Wrong expectation: no change, RAX gets the entry, ZF clear.
    f.regs.rax = 0;
    f.regs.rcx = pte(SPARE[1], RW);
    assert_eq!(fault(&mut f, &code, slot(FREE)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[0], RW)));
    assert_eq!((f.regs.rax, f.regs.rflags & EFLAGS_ZF), (entry(&f, FREE), 0));
    assert_eq!(counts(&f, SPARE[1]).0, 1);
    // A refused new value with a matching expectation: bounced, unchanged.
    f.regs.rcx = pte(frames::L2, RW);
    f.regs.rip = GUEST_BASE;
    let before = f.regs;
    assert_eq!(fault(&mut f, &code, slot(FREE)), EmulOutcome::Unhandled);
    assert_eq!((f.regs, entry(&f, FREE)), (before, stored(pte(SPARE[0], RW))));
    audit_ok(&f);
}

#[test]
fn lock_btr_and_and_write_protect() {
    let mut f = guest();
    assert_eq!(store(&mut f, FREE, pte(SPARE[0], RW)), EmulOutcome::Done);
    // lock btrq $1,(%rdi): ptep_set_wrprotect / test_and_clear_bit.
    f.regs.rdi = slot(FREE);
    assert_eq!(fault(&mut f, &[0xf0, 0x48, 0x0f, 0xba, 0x37, 0x01], slot(FREE)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[0], RO)));
    assert_eq!(f.regs.rflags & EFLAGS_CF, EFLAGS_CF);
    assert_eq!(counts(&f, SPARE[0]), (2, 0, PageType::Writable));
    // lock bts %rax,(%rdi) with bit 1: writable again.
    f.regs.rax = 1;
    assert_eq!(fault(&mut f, &[0xf0, 0x48, 0x0f, 0xab, 0x07], slot(FREE)), EmulOutcome::Done);
    assert_eq!(f.regs.rflags & EFLAGS_CF, 0);
    assert_eq!(counts(&f, SPARE[0]), (2, 1, PageType::Writable));
    // lock andb $~2,(%rdi): clear_bit on a constant (a byte access).
    assert_eq!(fault(&mut f, &[0xf0, 0x80, 0x27, 0xfd], slot(FREE)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[0], RO)));
    // A register bit offset reaching the next entry: bit 64 + 1.
    f.mem.write_u64(frames::L1, FREE + 1, 0);
    assert_eq!(store(&mut f, FREE + 1, pte(SPARE[1], RO)), EmulOutcome::Done);
    f.regs.rdi = slot(FREE);
    f.regs.rax = 65;
    assert_eq!(fault(&mut f, &[0xf0, 0x48, 0x0f, 0xab, 0x07], slot(FREE + 1)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE + 1), stored(pte(SPARE[1], RW)));
    assert_eq!(counts(&f, SPARE[1]), (2, 1, PageType::Writable));
    // Dirty/accessed bits alone: the fast path, references untouched.
    f.regs.rax = PAGE_DIRTY;
    f.regs.rdi = slot(FREE + 1);
    assert_eq!(fault(&mut f, &[0xf0, 0x48, 0x09, 0x07], slot(FREE + 1)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE + 1), stored(pte(SPARE[1], RW | PAGE_DIRTY)));
    assert_eq!(f.regs.rflags & (EFLAGS_ARITH & !EFLAGS_PF), 0);
    assert_eq!(counts(&f, SPARE[1]), (2, 1, PageType::Writable));
    audit_ok(&f);
}

#[test]
fn refused_entries_bounce_the_fault() {
    let mut f = guest();
    let refs = |f: &Fixture| -> Vec<(u32, u32)> {
        (0..48).map(|m| counts(f, Mfn(m))).map(|(c, t, _)| (c, t)).collect()
    };
    let before_counts = refs(&f);
    for (value, what) in [
        (pte(frames::L2, RW), "a page table writable"),
        (pte(frames::L1, RW), "the L1 itself writable"),
        (pte(frames::L4, RW), "the L4 writable"),
        (pte(FOREIGN, RO), "another domain's frame"),
        (pte(UNOWNED, RO), "a hypervisor frame"),
        (pte(Mfn(0xf_0000), RO), "a frame beyond memory"),
        (pte(SPARE[0], RW | PAGE_PCD), "a disallowed cache attribute"),
        (pte(SPARE[0], RW | 1 << 7), "PAT"),
    ] {
        f.regs.rdi = slot(FREE);
        f.regs.rax = value;
        f.regs.rip = GUEST_BASE;
        let regs = f.regs;
        assert_eq!(fault(&mut f, &MOV_RAX_RDI, slot(FREE)), EmulOutcome::Unhandled, "{what}");
        assert_eq!(entry(&f, FREE), 0, "{what}");
        assert_eq!(f.regs, regs, "{what}");
    }
    // Replacing a valid entry by a refused one keeps the old entry.
    assert_eq!(store(&mut f, FREE, pte(SPARE[0], RW)), EmulOutcome::Done);
    assert_eq!(store(&mut f, FREE, pte(frames::L3, RW)), EmulOutcome::Unhandled);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[0], RW)));
    assert_eq!(store(&mut f, FREE, 0), EmulOutcome::Done);
    assert_eq!(before_counts, refs(&f));
    audit_ok(&f);
}

#[test]
fn bad_accesses_bounce_the_fault() {
    let mut f = guest();
    f.regs.rax = pte(SPARE[0], RO);
    // Misaligned: 8 bytes at +4, 4 bytes at +2, 2 bytes at +1.
    for (code, at) in [(&MOV_RAX_RDI[..], 4), (&[0x89, 0x07], 2), (&[0x66, 0x89, 0x07], 1)] {
        f.regs.rdi = slot(FREE) + at;
        assert_eq!(fault(&mut f, code, slot(FREE) + at), EmulOutcome::Unhandled, "{code:02x?}");
    }
    // The operand is in another page than cr2.
    f.regs.rdi = slot(FREE);
    assert_eq!(
        fault(&mut f, &[0x48, 0x89, 0x87, 0x00, 0x10, 0x00, 0x00], slot(FREE)),
        EmulOutcome::Unhandled
    );
    // A bit offset walking out of the page.
    f.regs.rax = 64 * 512;
    assert_eq!(fault(&mut f, &[0x48, 0x0f, 0xab, 0x07], slot(FREE)), EmulOutcome::Unhandled);
    // Instructions that are not handled: a load, rep stos, lock mov, cmp.
    for code in [
        &[0x48, 0x8b, 0x07][..],
        &[0xf3, 0x48, 0xab],
        &[0xf0, 0x48, 0x89, 0x07],
        &[0x48, 0x83, 0x3f, 0x00],
        &[0x0f, 0x0b],
    ] {
        assert_eq!(fault(&mut f, code, slot(FREE)), EmulOutcome::Unhandled, "{code:02x?}");
    }
    // Instruction bytes that cannot be read.
    f.regs.rip = GUEST_BASE + 0x40_0000;
    assert_eq!(pv_ro_page_fault(&mut f.ctx(), slot(FREE), EC), EmulOutcome::Unhandled);
    assert_eq!(f.regs.rip, GUEST_BASE + 0x40_0000);
    for i in FREE..FREE + 2 {
        assert_eq!(entry(&f, i), 0);
    }
    audit_ok(&f);
}

#[test]
fn only_write_protection_faults_on_l1_tables_in_kernel_mode() {
    let mut f = guest();
    f.regs.rdi = slot(FREE);
    f.regs.rax = pte(SPARE[0], RO);
    let code = MOV_RAX_RDI;
    // Error codes: not a write, not present, reserved bit, instruction fetch.
    for ec in
        [PFEC_PRESENT | PFEC_USER, PFEC_WRITE | PFEC_USER, EC | PFEC_RESERVED, EC | PFEC_INSN_FETCH]
    {
        assert_eq!(fault_ec(&mut f, &code, slot(FREE), ec), EmulOutcome::Unhandled, "{ec:#x}");
    }
    // Not a read-only L1: a data page, the L2, an untyped frame, a writable
    // page, nothing mapped, the hypervisor's range.
    for cr2 in [
        RO_DATA_VA,
        L2_VA,
        UNTYPED_VA,
        GUEST_BASE + 0x2000,
        slot(FREE) + 0x8000,
        0xffff_8000_0000_1000,
    ] {
        f.regs.rdi = cr2;
        assert_eq!(fault(&mut f, &code, cr2), EmulOutcome::Unhandled, "{cr2:#x}");
    }
    f.regs.rdi = slot(FREE);
    // writable_pagetables off: an ordinary domain gets its #PF.
    f.dom.vm_assist = 0;
    f.dom.privileged = false;
    assert_eq!(fault(&mut f, &code, slot(FREE)), EmulOutcome::Unhandled);
    f.dom.privileged = true;
    f.dom.vm_assist |= VmAssistType::WritablePagetables.mask();
    // Guest user mode (with the kernel tables still loaded).
    f.dom.vcpus[0].arch.kernel_mode = false;
    assert_eq!(fault(&mut f, &code, slot(FREE)), EmulOutcome::Unhandled);
    f.dom.vcpus[0].arch.kernel_mode = true;
    assert_eq!(entry(&f, FREE), 0);
    // And the same write with everything right works.
    assert_eq!(fault(&mut f, &code, slot(FREE)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[0], RO)));
    // The hardware domain's store is emulated even without the assist, as
    // Xen's `fixup_page_fault` sends it to `pv_ro_page_fault` for dom0.
    f.dom.vm_assist = 0;
    assert!(f.dom.privileged);
    assert_eq!(fault(&mut f, &code, slot(FREE)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE), stored(pte(SPARE[0], RO)));
    audit_ok(&f);
}

#[test]
fn single_step_and_segment_override() {
    let mut f = guest();
    f.regs.rflags |= 1 << 8;
    assert_eq!(
        store(&mut f, FREE, pte(SPARE[0], RO)),
        EmulOutcome::Inject { vector: 1, error_code: None, cr2: None }
    );
    assert_eq!((f.regs.rip, entry(&f, FREE)), (GUEST_BASE + 3, stored(pte(SPARE[0], RO))));
    f.regs.rflags &= !(1 << 8);
    // gs:(%rdi) with the GS base pointing at the L1 mapping.
    f.platform.gs = L1_VA;
    f.regs.rdi = 8 * (FREE as u64 + 1);
    f.regs.rax = pte(SPARE[1], RO);
    assert_eq!(fault(&mut f, &[0x65, 0x48, 0x89, 0x07], slot(FREE + 1)), EmulOutcome::Done);
    assert_eq!(entry(&f, FREE + 1), stored(pte(SPARE[1], RO)));
    audit_ok(&f);
}

#[test]
fn ptwr_update_checks_the_table_and_compares() {
    let mut f = guest();
    let e = pte(SPARE[0], RO);
    let mut ctx = f.ctx();
    let mut mm = ctx.mm();
    assert_eq!(mm.ptwr_update(DOM, frames::L1, FREE, Some(5), e), Ok(PtwrResult::Mismatch(0)));
    assert_eq!(mm.ptwr_update(DOM, frames::L1, FREE, Some(0), e), Ok(PtwrResult::Updated));
    assert_eq!(mm.ptwr_update(DOM, frames::L1, FREE, None, 0), Ok(PtwrResult::Updated));
    let einval = Err(guest_abi::xen::Errno::EINVAL);
    assert_eq!(mm.ptwr_update(DOM, frames::L1, 512, None, 0), einval);
    assert_eq!(mm.ptwr_update(DOM, frames::L2, 0, None, 0), einval);
    assert_eq!(mm.ptwr_update(DOM, UNTYPED, 0, None, 0), einval);
    assert_eq!(mm.ptwr_update(DOM, FOREIGN, 0, None, 0), einval);
    assert_eq!(mm.ptwr_update(OTHER, frames::L1, FREE, None, 0), einval);
    assert_eq!(mm.ptwr_update(DOM, Mfn(0x10_0000), 0, None, 0), einval);
    // A validation failure is the entry's error.
    assert_eq!(
        mm.ptwr_update(DOM, frames::L1, FREE, None, pte(UNOWNED, RO)),
        Err(guest_abi::xen::Errno::EBUSY)
    );
    assert_eq!(entry(&f, FREE), 0);
    audit_ok(&f);
}

#[test]
fn flags_of_an_emulated_sub() {
    let mut f = guest();
    assert_eq!(store(&mut f, FREE, pte(SPARE[0], RO)), EmulOutcome::Done);
    // lock subq $0x20,(%rdi): clears Accessed (bit 5), flags of the subtraction.
    f.regs.rdi = slot(FREE);
    assert_eq!(fault(&mut f, &[0xf0, 0x48, 0x83, 0x2f, 0x20], slot(FREE)), EmulOutcome::Done);
    let now = entry(&f, FREE);
    assert_eq!(now, stored(pte(SPARE[0], RO & !PAGE_ACCESSED)));
    let (_, flags) = mem_write::alu(mem_write::AluOp::Sub, stored(pte(SPARE[0], RO)), 0x20, 8);
    assert_eq!(f.regs.rflags & EFLAGS_ARITH, flags);
    assert_eq!(flags & EFLAGS_ZF, 0);
    audit_ok(&f);
}

#[test]
fn foreign_l1_is_refused() {
    // Another domain's validated L1, mapped read-only here behind the
    // MMU's back (what a bug elsewhere could leave): not ours to emulate.
    let mut f = guest();
    f.ctx().mm().get_page_type(FOREIGN, PageType::L1).unwrap();
    f.mem.write_u64(frames::L1, L1_SELF + 4, pte(FOREIGN, PAGE_PRESENT | PAGE_USER));
    f.regs.rdi = FOREIGN_L1_VA;
    f.regs.rax = pte(FOREIGN, RO);
    assert_eq!(fault(&mut f, &MOV_RAX_RDI, FOREIGN_L1_VA), EmulOutcome::Unhandled);
    assert_eq!(f.mem.read_u64(FOREIGN, 0), 0);
}
