// SPDX-License-Identifier: GPL-2.0-only
//! `pv-segments`: the guest's own GDT and LDT in the CPU's descriptor
//! tables, returns to guest selectors, and `SEGBASE_GS_USER_SEL`.
//!
//! * A page of the kernel's image becomes the GDT (`set_gdt`) after it is
//!   mapped read-only: Linux-style user selectors `0x23` (32-bit code),
//!   `0x2b` (data), `0x33` (64-bit code, written with DPL 0), `0x3b` (data,
//!   DPL 0), `0x43` (code, not present), `0x4b` (data, base `0x1000_0000`).
//!   `lar` (which the CPU answers from the hardware GDT) must see every
//!   present descriptor with DPL 3 (Xen's `check_descriptor` fix-up) and
//!   nothing in an empty slot; `update_descriptor` of slot 10 must show at
//!   once; `mov` to `%ds` of a guest selector works.
//! * An LDT page (`MMUEXT_SET_LDT` with 2 entries) answers `lar` and a
//!   `%ds` load of `0x07`; a selector past its limit does not; unloading it
//!   makes `0x07` unusable again.
//! * `SEGBASE_GS_USER_SEL` with `0x4b` loads that selector (visible in
//!   `%gs`) without disturbing the kernel's GS base; an unusable selector
//!   loads null and still returns 0.
//! * `iret` to user mode on `CS = 0x33`, `SS = 0x2b`: the user code sees
//!   those selectors and `%gs = 0x4b` with base `0x1000_0000` (it reads a
//!   magic value through `%gs:(addr - 0x1000_0000)`), then `int $0x80`s
//!   back.
//! * `iret` to a not-present `CS` gives `#NP(0x40)`, a data selector as
//!   `CS` `#GP(0x28)`, a code selector as `SS` `#GP(0x30)`, an LDT selector
//!   past its limit `#GP`; each is delivered to the kernel with the bad
//!   selector in the frame (Xen replays the faulting `iretq` as a guest
//!   exception), and the kernel carries on.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, Ordering};

use pv_tests::bounce::{self, FLAT_SS, KERNEL_CS, TrapFrame};
use pv_tests::entry::VIRT_BASE;
use pv_tests::guest_abi::xen::{
    DOMID_SELF, Hypercall, MmuextCmd, MmuextOp, SegBase, TrapInfo, UVMF_INVLPG,
};
use pv_tests::hypercall;
use pv_tests::ops::{XenError, result};
use pv_tests::{StartInfo, check, check_eq, error, println};

pv_tests::test_kernel!(name: "segments", main: test_main);

/// Flat 32-bit user code, DPL 3.
const USER_CS32: u64 = 0x00cf_fb00_0000_ffff;
/// Flat user data, DPL 3.
const USER_DS: u64 = 0x00cf_f300_0000_ffff;
/// Flat 64-bit code, written with DPL 0 (Xen raises it to 3).
const CS64_DPL0: u64 = 0x00af_9b00_0000_ffff;
/// Flat data, written with DPL 0.
const DS_DPL0: u64 = 0x00cf_9300_0000_ffff;
/// 64-bit code, DPL 3, not present.
const CS64_NOT_PRESENT: u64 = 0x00af_7b00_0000_ffff;
/// Data, DPL 3, base `GS_BASE`.
const DS_BASED: u64 = 0x10cf_f300_0000_ffff;
/// The base of [`DS_BASED`].
const GS_BASE: u64 = 0x1000_0000;
/// The DPL field of a descriptor.
const DPL3: u64 = 3 << 45;

/// The guest GDT: `(index, descriptor)`.
const GDT: [(usize, u64); 6] = [
    (4, USER_CS32),
    (5, USER_DS),
    (6, CS64_DPL0),
    (7, DS_DPL0),
    (8, CS64_NOT_PRESENT),
    (9, DS_BASED),
];
/// Slot filled later by `update_descriptor`.
const LATE_SLOT: usize = 10;

const SEL_CS64: u16 = 0x33;
const SEL_DS: u16 = 0x2b;
const SEL_NP: u16 = 0x43;
const SEL_BASED: u16 = 0x4b;
/// LDT selectors (TI set, RPL 3).
const LDT_DS: u16 = 0x07;
const LDT_CS: u16 = 0x0f;
const LDT_PAST: u16 = 0x17;

/// `FLAT_RING3_CS64`.
const FLAT_CS: u16 = 0xe033;

/// What `%gs:` reads in user mode.
const USER_MAGIC: u64 = 0x7365_676d_656e_7473;
/// What `%gs:0` reads in kernel mode.
const KERNEL_MAGIC: u64 = 0x6b65_726e_5f67_7330;

/// Page-aligned descriptor pages.
#[repr(C, align(4096))]
struct DescPage([u64; 512]);

static mut GDT_PAGE: DescPage = DescPage([0; 512]);
static mut LDT_PAGE: DescPage = DescPage([0; 512]);

#[repr(C, align(64))]
struct Magic(u64);
static KERNEL_GS: Magic = Magic(KERNEL_MAGIC);
static USER_DATA: Magic = Magic(USER_MAGIC);

const STACK_SIZE: usize = 16 * 1024;
#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);
static mut KERNEL_STACK: Stack = Stack([0; STACK_SIZE]);
static mut USER_STACK: Stack = Stack([0; STACK_SIZE]);

/// Selectors and the `%gs` read the user code records.
#[unsafe(no_mangle)]
static PV_SEG_CS: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static PV_SEG_SS: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static PV_SEG_GS: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static PV_SEG_GS_READ: AtomicU64 = AtomicU64::new(0);
/// `%gs` offset of [`USER_DATA`] for the user code.
#[unsafe(no_mangle)]
static PV_SEG_GS_OFFSET: AtomicU64 = AtomicU64::new(0);
/// The kernel `RSP` `pv_seg_enter_user` returns on.
#[unsafe(no_mangle)]
static PV_SEG_RETURN_RSP: AtomicU64 = AtomicU64::new(0);

/// The event the hook expects next (vector), or `u64::MAX`.
static EXPECT: AtomicU64 = AtomicU64::new(u64::MAX);
/// The last expected event: vector, error code, frame `CS`, frame `SS`.
static GOT: [AtomicU64; 4] = [const { AtomicU64::new(u64::MAX) }; 4];
/// Events nobody expected.
static UNEXPECTED: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    /// Enters user mode at `entry` on `stack` with `cs`/`ss` through the
    /// `iret` hypercall; returns when the hook sends the vCPU back.
    fn pv_seg_enter_user(entry: u64, stack: u64, cs: u64, ss: u64);
    static pv_seg_user_main: u8;
    static pv_seg_return: u8;
}

fn test_main(si: &StartInfo) {
    bounce::set_hook(hook);
    let gates = [
        bounce::trap_info(11, 0, true),
        bounce::trap_info(12, 0, true),
        bounce::trap_info(13, 0, true),
        bounce::trap_info(0x80, 3, false),
        TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 },
    ];
    if !check(bounce::set_trap_table(&gates).is_ok(), "set_trap_table") {
        return;
    }
    let Some(l4) = mfn_of(si, si.pt_base) else {
        error("pt_base is not in the P2M");
        return;
    };
    let op = MmuextOp::new(MmuextCmd::NewUserBaseptr, l4, 0);
    if !check(mmuext(&op).is_ok(), "MMUEXT_NEW_USER_BASEPTR") {
        return;
    }
    let top = ((&raw const KERNEL_STACK).addr() as u64).wrapping_add(STACK_SIZE as u64);
    if !check(bounce::stack_switch(FLAT_SS, top).is_ok(), "stack_switch") {
        return;
    }
    let kgs = (&raw const KERNEL_GS).addr() as u64;
    if !check(set_segment_base(SegBase::GsKernel, kgs).is_ok(), "set_segment_base(GS_KERNEL)") {
        return;
    }
    if gdt(si).is_none() {
        return;
    }
    ldt(si);
    user_gs();
    user_mode();
    bad_returns();
    check_eq(UNEXPECTED.load(Ordering::Relaxed), 0, "no unexpected events");
}

/// The MFN behind kernel address `va` (initial mapping, P2M list).
fn mfn_of(si: &StartInfo, va: u64) -> Option<u64> {
    let pfn = va.checked_sub(VIRT_BASE)? >> 12;
    if pfn >= si.nr_pages {
        return None;
    }
    let list = si.mfn_list as *const u64;
    // SAFETY: the builder maps the nr_pages-entry P2M list at mfn_list.
    Some(unsafe { list.wrapping_add(usize::try_from(pfn).ok()?).read_volatile() })
}

/// Maps kernel page `va` read-only (`update_va_mapping`).
fn make_read_only(si: &StartInfo, va: u64) -> bool {
    let Some(mfn) = mfn_of(si, va) else { return false };
    // Present, user, accessed, dirty; not writable.
    let pte = (mfn << 12) | 0x65;
    // SAFETY: remaps one page of this kernel's data read-only.
    let ret =
        unsafe { hypercall::hypercall3(Hypercall::UpdateVaMapping.raw(), va, pte, UVMF_INVLPG) };
    check(ret == 0, format_args!("update_va_mapping({va:#x}) read-only: {ret}"))
}

fn mmuext(op: &MmuextOp) -> Result<u64, XenError> {
    // SAFETY: the hypervisor reads one mmuext_op from `op`.
    let ret = unsafe {
        hypercall::hypercall4(
            Hypercall::MmuextOp.raw(),
            core::ptr::from_ref(op).addr() as u64,
            1,
            0,
            u64::from(DOMID_SELF.0),
        )
    };
    result(ret)
}

fn set_segment_base(which: SegBase, base: u64) -> Result<u64, XenError> {
    // SAFETY: loads a segment base or selector only.
    result(unsafe {
        hypercall::hypercall2(Hypercall::SetSegmentBase.raw(), u64::from(which.raw()), base)
    })
}

/// `lar sel`: the access rights, or `None` if the CPU refuses.
fn lar(sel: u16) -> Option<u64> {
    let ar: u64;
    let ok: u8;
    // SAFETY: LAR only reads the descriptor tables.
    unsafe {
        asm!("xor {ar:e}, {ar:e}", "lar {sel:x}, {ar}", "setz {ok}",
            sel = in(reg) u64::from(sel), ar = out(reg) ar, ok = out(reg_byte) ok,
            options(att_syntax, nostack));
    }
    (ok != 0).then_some(ar)
}

/// Loads `sel` into `%ds`, reads `%ds` back, and reloads the null selector.
fn ds_roundtrip(sel: u16) -> u16 {
    let back: u64;
    // SAFETY: the caller passes a selector that loads; %ds is unused in
    // 64-bit code and restored to null.
    unsafe {
        asm!("mov {s:x}, %ds", "mov %ds, {b:x}", "xor {z:e}, {z:e}", "mov {z:x}, %ds",
            s = in(reg) sel, b = out(reg) back, z = out(reg) _, options(att_syntax, nostack));
    }
    (back & 0xffff) as u16
}

fn gs_selector() -> u16 {
    let v: u64;
    // SAFETY: reads %gs.
    unsafe { asm!("mov %gs, {0:x}", out(reg) v, options(att_syntax, nostack, nomem)) };
    (v & 0xffff) as u16
}

fn kernel_gs0() -> u64 {
    let v: u64;
    // SAFETY: the kernel GS base points at KERNEL_GS.
    unsafe { asm!("mov %gs:0, {}", out(reg) v, options(att_syntax, nostack, readonly)) };
    v
}

/// Builds, protects and installs the GDT; returns its MFN.
fn gdt(si: &StartInfo) -> Option<u64> {
    let va = (&raw mut GDT_PAGE).addr() as u64;
    let base = (&raw mut GDT_PAGE).cast::<u64>();
    for (i, d) in GDT {
        // SAFETY: the page is ours and not yet read-only; i < 512.
        unsafe { base.wrapping_add(i).write_volatile(d) };
    }
    if !make_read_only(si, va) {
        return None;
    }
    let mfn = mfn_of(si, va)?;
    let frames = [mfn];
    // SAFETY: the hypervisor reads one frame number.
    let ret = unsafe {
        hypercall::hypercall2(Hypercall::SetGdt.raw(), frames.as_ptr().addr() as u64, 512)
    };
    if !check(ret == 0, format_args!("set_gdt([{mfn:#x}], 512): {ret}")) {
        return None;
    }
    for (i, d) in GDT {
        let sel = (u16::try_from(i).unwrap_or(0) << 3) | 3;
        let ar = lar(sel);
        let present = d & (1 << 47) != 0;
        check(
            ar.is_some_and(|a| a & (DPL3 >> 32) == DPL3 >> 32),
            format_args!("lar {sel:#x} (present {present}): {ar:x?}, DPL 3"),
        );
    }
    // SAFETY: the GDT page is mapped read-only.
    let stored = unsafe { (&raw const GDT_PAGE).cast::<u64>().wrapping_add(6).read_volatile() };
    check_eq(stored, CS64_DPL0 | DPL3, "set_gdt raised the DPL of slot 6 in place");
    check(lar(0x53).is_none(), "lar of an empty GDT slot fails");
    check(lar(0xe00b).is_none(), "lar of the hypervisor's CS (DPL 0) fails");
    check(lar(0xe033).is_some(), "lar of FLAT_RING3_CS64 succeeds");
    let ma = (mfn << 12) | ((LATE_SLOT as u64) << 3);
    // SAFETY: one descriptor update in our own descriptor page.
    let ret = unsafe { hypercall::hypercall2(Hypercall::UpdateDescriptor.raw(), ma, DS_DPL0) };
    check_eq(ret, 0, "update_descriptor of slot 10");
    let ar = lar(0x53);
    check(
        ar.is_some_and(|a| a & (DPL3 >> 32) == DPL3 >> 32),
        format_args!("lar 0x53 sees the updated descriptor with DPL 3 at once: {ar:x?}"),
    );
    check_eq(ds_roundtrip(SEL_DS), SEL_DS, "mov 0x2b to %ds");
    check_eq(ds_roundtrip(0x3b), 0x3b, "mov 0x3b (fixed-up DPL) to %ds");
    Some(mfn)
}

fn set_ldt(va: u64, ents: u64) -> Result<u64, XenError> {
    mmuext(&MmuextOp::new(MmuextCmd::SetLdt, va, ents))
}

fn ldt(si: &StartInfo) {
    let va = (&raw mut LDT_PAGE).addr() as u64;
    // SAFETY: the page is ours and not yet read-only.
    unsafe {
        let base = (&raw mut LDT_PAGE).cast::<u64>();
        base.write_volatile(USER_DS);
        base.wrapping_add(1).write_volatile(CS64_DPL0);
    }
    if !make_read_only(si, va) {
        return;
    }
    let r = set_ldt(va, 2);
    if !check(r.is_ok(), format_args!("MMUEXT_SET_LDT({va:#x}, 2): {r:?}")) {
        return;
    }
    check(lar(LDT_DS).is_some(), "lar 0x07 (LDT data)");
    let ar = lar(LDT_CS);
    check(
        ar.is_some_and(|a| a & (DPL3 >> 32) == DPL3 >> 32),
        format_args!("lar 0x0f (LDT code, DPL raised to 3): {ar:x?}"),
    );
    check(lar(LDT_PAST).is_none(), "lar 0x17 (past the LDT limit) fails");
    check_eq(ds_roundtrip(LDT_DS), LDT_DS, "mov 0x07 (LDT) to %ds");
    let r = set_ldt(0, 0);
    check(r.is_ok(), format_args!("MMUEXT_SET_LDT(0, 0): {r:?}"));
    check(lar(LDT_DS).is_none(), "lar 0x07 fails once the LDT is gone");
}

fn user_gs() {
    let r = set_segment_base(SegBase::GsUserSel, u64::from(SEL_NP));
    check(r.is_ok(), format_args!("SEGBASE_GS_USER_SEL 0x43 (not present) returns 0: {r:?}"));
    check_eq(gs_selector(), 0, "an unusable selector loads null into %gs");
    let r = set_segment_base(SegBase::GsUserSel, u64::from(SEL_BASED & !3));
    check(r.is_ok(), format_args!("SEGBASE_GS_USER_SEL 0x48: {r:?}"));
    check_eq(gs_selector(), SEL_BASED, "%gs = 0x4b (RPL raised to 3)");
    check_eq(kernel_gs0(), KERNEL_MAGIC, "the kernel GS base is untouched");
}

/// The hook: records the expected event and sends the vCPU back to the
/// kernel for it and for the user code's final `int $0x80`.
fn hook(frame: &mut TrapFrame) -> Option<u64> {
    let expect = EXPECT.load(Ordering::Relaxed);
    if frame.vector == expect {
        for (slot, v) in GOT.iter().zip([frame.vector, frame.error_code, frame.cs, frame.ss]) {
            slot.store(v, Ordering::Relaxed);
        }
        EXPECT.store(u64::MAX, Ordering::Relaxed);
    } else {
        UNEXPECTED.fetch_add(1, Ordering::Relaxed);
        println!(
            "unexpected event {:#x} error {:#x} at {:#x} cs {:#x}",
            frame.vector, frame.error_code, frame.rip, frame.cs
        );
    }
    frame.rip = (&raw const pv_seg_return).addr() as u64;
    frame.cs = u64::from(KERNEL_CS);
    frame.rflags = 2;
    frame.rsp = PV_SEG_RETURN_RSP.load(Ordering::Relaxed);
    frame.ss = u64::from(FLAT_SS);
    Some(0)
}

fn enter_user(cs: u16, ss: u16) {
    let stack = ((&raw const USER_STACK).addr() as u64).wrapping_add(STACK_SIZE as u64);
    // SAFETY: the user code only writes the PV_SEG_* globals and its stack
    // and ends with int $0x80; every event from it returns to
    // `pv_seg_return` through the hook.
    unsafe {
        pv_seg_enter_user(
            (&raw const pv_seg_user_main).addr() as u64,
            stack,
            u64::from(cs),
            u64::from(ss),
        );
    }
}

fn user_mode() {
    let off = ((&raw const USER_DATA).addr() as u64).wrapping_sub(GS_BASE);
    PV_SEG_GS_OFFSET.store(off, Ordering::Relaxed);
    EXPECT.store(0x80, Ordering::Relaxed);
    enter_user(SEL_CS64, SEL_DS);
    check_eq(GOT[0].load(Ordering::Relaxed), 0x80, "user mode on 0x33/0x2b reached int $0x80");
    check_eq(PV_SEG_CS.load(Ordering::Relaxed), u64::from(SEL_CS64), "user %cs");
    check_eq(PV_SEG_SS.load(Ordering::Relaxed), u64::from(SEL_DS), "user %ss");
    check_eq(PV_SEG_GS.load(Ordering::Relaxed), u64::from(SEL_BASED), "user %gs");
    check_eq(
        PV_SEG_GS_READ.load(Ordering::Relaxed),
        USER_MAGIC,
        "user %gs:(addr - 0x1000_0000) reads through the descriptor's base",
    );
    check_eq(GOT[2].load(Ordering::Relaxed) & 0xffff, u64::from(SEL_CS64), "int $0x80 frame CS");
    check_eq(kernel_gs0(), KERNEL_MAGIC, "kernel GS base after user mode");
}

fn bad_return(what: &str, cs: u16, ss: u16, vector: u64, error_code: u64) {
    for g in &GOT {
        g.store(u64::MAX, Ordering::Relaxed);
    }
    EXPECT.store(vector, Ordering::Relaxed);
    enter_user(cs, ss);
    let got = GOT.each_ref().map(|g| g.load(Ordering::Relaxed));
    check(
        got[0] == vector && got[1] == error_code && got[2] & 0xffff == u64::from(cs),
        format_args!(
            "iret to {what} (cs {cs:#x} ss {ss:#x}): vector {:#x} error {:#x} frame cs {:#x} \
             (expected {vector:#x} / {error_code:#x} / {cs:#x})",
            got[0], got[1], got[2]
        ),
    );
}

fn bad_returns() {
    bad_return("a not-present CS", SEL_NP, SEL_DS, 11, 0x40);
    bad_return("a data segment as CS", SEL_DS, SEL_DS, 13, 0x28);
    bad_return("a code segment as SS", SEL_CS64, SEL_CS64, 13, 0x30);
    bad_return("an LDT CS past the (empty) LDT", LDT_CS, SEL_DS, 13, 0x0c);
    // And a clean return still works afterwards.
    EXPECT.store(0x80, Ordering::Relaxed);
    enter_user(FLAT_CS, FLAT_SS);
    check_eq(GOT[0].load(Ordering::Relaxed), 0x80, "user mode on Xen's flat selectors again");
}

global_asm!(
    ".pushsection .text.pv_seg_enter_user, \"ax\", @progbits",
    ".globl pv_seg_enter_user",
    "pv_seg_enter_user:",
    "    push %rbx",
    "    push %rbp",
    "    push %r12",
    "    push %r13",
    "    push %r14",
    "    push %r15",
    "    mov %rsp, PV_SEG_RETURN_RSP(%rip)",
    // iret_context: ss, rsp, rflags, cs, rip, flags, rcx, r11, rax.
    "    push %rcx",
    "    push %rsi",
    "    pushq $0x202",
    "    push %rdx",
    "    push %rdi",
    "    pushq $0",
    "    push %rcx",
    "    push %r11",
    "    push %rax",
    "    mov ${iret}, %eax",
    "    syscall",
    "    ud2",
    ".globl pv_seg_return",
    "pv_seg_return:",
    "    pop %r15",
    "    pop %r14",
    "    pop %r13",
    "    pop %r12",
    "    pop %rbp",
    "    pop %rbx",
    "    ret",
    ".popsection",
    "",
    ".pushsection .text.pv_seg_user_main, \"ax\", @progbits",
    ".globl pv_seg_user_main",
    "pv_seg_user_main:",
    "    mov %cs, %eax",
    "    mov %rax, PV_SEG_CS(%rip)",
    "    mov %ss, %eax",
    "    mov %rax, PV_SEG_SS(%rip)",
    "    mov %gs, %eax",
    "    mov %rax, PV_SEG_GS(%rip)",
    "    mov PV_SEG_GS_OFFSET(%rip), %r8",
    "    mov %gs:(%r8), %rax",
    "    mov %rax, PV_SEG_GS_READ(%rip)",
    "    int $0x80",
    "    ud2",
    ".popsection",
    iret = const Hypercall::Iret.raw(),
    options(att_syntax),
);
