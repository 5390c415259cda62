// SPDX-License-Identifier: GPL-2.0-only
//! Guest entry and exit: the per-CPU guest frame, `SYSCALL` entry stubs and
//! the return path to a ring-3 PV guest.
//!
//! Each CPU has a hypervisor stack whose top holds the running vCPU's
//! registers as Xen's `struct cpu_user_regs` (Xen's `guest_cpu_user_regs()`).
//! `TSS.RSP0` points just past its `ss` slot, so an interrupt or exception
//! from ring 3 makes the CPU push RIP/CS/RFLAGS/RSP/SS straight into the
//! frame and the IDT stubs complete it in place.
//!
//! `SYSCALL` does not switch stacks, so `LSTAR` points at a small per-CPU
//! stub placed in the page right after the stack: it saves the guest RSP
//! into the frame RIP-relatively, moves RSP into the frame and jumps to
//! `lstar_common`, which stores what the CPU would have pushed and joins
//! the IDT's `trap_common` with entry vector `TRAP_syscall`; the trap
//! dispatcher hands it to the registered handler (a hypercall from
//! guest-kernel mode, a syscall bounce from guest-user mode). `CSTAR` (SYSCALL from 32-bit code) has a stub of its own.
//! Every way back to the guest ends in `restore_all_guest`: pop the
//! general registers from the frame and `iretq`.
//!
//! `STAR` makes `SYSCALL` enter on `0xe008`/`0xe010` and `SYSRET` leave on
//! `FLAT_RING3_CS64`/`FLAT_RING3_SS64` (0xe033/0xe02b); `SFMASK` clears IF,
//! TF, DF, AC and NT on entry, so hypercalls run with interrupts off.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, Ordering};

use guest_abi::xen::CpuUserRegs as GuestRegs;

use crate::FrameSource;
use crate::layout::maddr_to_virt;
use crate::smp::NR_CPUS;

/// Pages of each CPU's hypervisor stack.
pub const STACK_PAGES: u64 = 8;
/// Offset of `ss` in the frame: `TSS.RSP0` is the frame base plus this plus 8.
const FRAME_SS: u64 = 0xa0;
/// Offset of `rsp` in the frame.
const FRAME_RSP: u64 = 0x98;
/// Bytes reserved at the top of the stack for the frame (Xen's `cpu_info`).
const CPU_INFO_SIZE: u64 = 232;
/// Offset in the reserved area of the CPU's number (Xen's
/// `cpu_info.processor_id`, right after the registers).
const FRAME_CPU: u64 = core::mem::size_of::<GuestRegs>() as u64;

const _: () = {
    assert!(core::mem::offset_of!(GuestRegs, ss) as u64 == FRAME_SS);
    assert!(core::mem::offset_of!(GuestRegs, rsp) as u64 == FRAME_RSP);
    assert!(FRAME_CPU + 8 <= CPU_INFO_SIZE);
    // The frame base must be 8 mod 16 so that RSP0 = base + 0xa8 is 16-aligned.
    assert!(CPU_INFO_SIZE % 16 == 8);
};

global_asm!(
    r#"
    .section .text
    .balign 16
    .globl lstar_common
lstar_common:
    movq $0xe02b, 8(%rsp)
    push %r11
    pushq $0xe033
    push %rcx
    pushq $0
    movl $0x100, 4(%rsp)
    jmp  trap_common

    .balign 16
    .globl cstar_common
cstar_common:
    movq $0xe02b, 8(%rsp)
    push %r11
    pushq $0xe023
    push %rcx
    pushq $0
    movl $0x101, 4(%rsp)
    jmp  trap_common

    .globl restore_all_guest
restore_all_guest:
    pop  %r15
    pop  %r14
    pop  %r13
    pop  %r12
    pop  %rbp
    pop  %rbx
    pop  %r11
    pop  %r10
    pop  %r9
    pop  %r8
    pop  %rax
    pop  %rcx
    pop  %rdx
    pop  %rsi
    pop  %rdi
    add  $8, %rsp
    iretq
"#,
    options(att_syntax)
);

unsafe extern "C" {
    static lstar_common: u8;
    static cstar_common: u8;
    static restore_all_guest: u8;
}

/// The guest frame of each CPU (virtual address), 0 if not set up.
static GUEST_FRAME: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];

/// One CPU's guest-entry resources.
#[derive(Clone, Copy, Debug)]
pub struct EntryStack {
    /// Virtual address of the guest frame (`cpu_user_regs`).
    pub frame: u64,
    /// `TSS.RSP0`.
    pub rsp0: u64,
    /// `LSTAR` stub.
    pub lstar: u64,
    /// `CSTAR` stub.
    pub cstar: u64,
}

/// Why the stack could not be built.
#[derive(Debug, Clone, Copy)]
pub struct OutOfFrames;

/// Writes one `SYSCALL` stub at `at` that saves RSP into `frame.rsp`,
/// points RSP there and jumps to `target`. Returns the stub's address.
fn write_stub(at: u64, frame: u64, target: u64) -> u64 {
    let rsp_slot = frame.wrapping_add(FRAME_RSP);
    let mut code = [0u8; 48];
    let rel = |insn_end: u64, dest: u64| -> [u8; 4] {
        // The stub and the frame are in one allocation: the distance fits.
        i32::try_from(dest.wrapping_sub(insn_end).cast_signed()).unwrap_or(0).to_le_bytes()
    };
    // mov %rsp, rsp_slot(%rip)
    code[0..3].copy_from_slice(&[0x48, 0x89, 0x25]);
    code[3..7].copy_from_slice(&rel(at.wrapping_add(7), rsp_slot));
    // lea rsp_slot(%rip), %rsp
    code[7..10].copy_from_slice(&[0x48, 0x8d, 0x25]);
    code[10..14].copy_from_slice(&rel(at.wrapping_add(14), rsp_slot));
    // jmp *target_slot(%rip), with the target stored at +32
    code[14..16].copy_from_slice(&[0xff, 0x25]);
    code[16..20].copy_from_slice(&rel(at.wrapping_add(20), at.wrapping_add(32)));
    code[20..32].fill(0xcc);
    code[32..40].copy_from_slice(&target.to_le_bytes());
    // SAFETY: `at` points into this CPU's freshly allocated stub page,
    // mapped in the direct map, with room for 48 bytes.
    unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len()) };
    at
}

/// Allocates CPU `cpu`'s hypervisor stack (with the guest frame on top) and
/// its `SYSCALL` stubs.
pub fn build(cpu: u32, frames: &mut dyn FrameSource) -> Result<EntryStack, OutOfFrames> {
    let base = frames.alloc_frames(STACK_PAGES + 1, 1).ok_or(OutOfFrames)?;
    let stack_top = maddr_to_virt(base).wrapping_add(STACK_PAGES * 4096);
    let frame = stack_top.wrapping_sub(CPU_INFO_SIZE);
    let stubs = stack_top;
    let lstar = write_stub(stubs, frame, core::ptr::addr_of!(lstar_common) as u64);
    let cstar = write_stub(stubs.wrapping_add(64), frame, core::ptr::addr_of!(cstar_common) as u64);
    // SAFETY: the CPU-number slot lies inside the reserved area at the
    // top of the stack just allocated; nothing else uses it yet.
    unsafe { core::ptr::write(frame.wrapping_add(FRAME_CPU) as *mut u64, u64::from(cpu)) };
    if let Some(slot) = GUEST_FRAME.get(usize::try_from(cpu).unwrap_or(usize::MAX)) {
        slot.store(frame, Ordering::Release);
    }
    Ok(EntryStack { frame, rsp0: frame.wrapping_add(FRAME_SS + 8), lstar, cstar })
}

const MSR_EFER: u32 = 0xc000_0080;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SFMASK: u32 = 0xc000_0084;
const EFER_SCE: u64 = 1;
/// IF | TF | DF | AC | NT.
const SFMASK: u64 = (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18) | (1 << 14);

/// Programs the calling CPU's `SYSCALL` MSRs for `stack`.
pub fn init_cpu(stack: &EntryStack) {
    let star = (u64::from(crate::gdt::FLAT_RING3_CS32) << 48)
        | (u64::from(crate::gdt::HYPERVISOR_CS) << 32);
    // SAFETY: the stubs are mapped executable code that switch to this
    // CPU's stack; the selectors in STAR exist in every CPU's GDT.
    unsafe {
        crate::cpu::wrmsr(MSR_STAR, star);
        crate::cpu::wrmsr(MSR_LSTAR, stack.lstar);
        crate::cpu::wrmsr(MSR_CSTAR, stack.cstar);
        crate::cpu::wrmsr(MSR_SFMASK, SFMASK);
        let efer = crate::cpu::rdmsr(MSR_EFER);
        crate::cpu::wrmsr(MSR_EFER, efer | EFER_SCE);
    }
}

/// CPU `cpu`'s guest frame; `None` before [`build`] ran for it.
#[must_use]
pub fn guest_frame_of(cpu: u32) -> Option<u64> {
    let f = GUEST_FRAME.get(usize::try_from(cpu).ok()?)?.load(Ordering::Acquire);
    (f != 0).then_some(f)
}

/// The CPU whose guest frame is at `frame`, if it is one: read from the
/// frame's reserved area (no local APIC access on the entry path) and
/// checked against the CPU's published frame.
///
/// `frame` must be where the CPU pushed a trap frame from ring 3 (a
/// non-IST vector), i.e. `TSS.RSP0` minus the frame: always some CPU's
/// guest frame, whose reserved area lies above it on the same stack.
pub(crate) fn frame_cpu(frame: u64) -> Option<u32> {
    let slot = frame.checked_add(FRAME_CPU)?;
    // SAFETY: per the contract, `frame` is a guest frame at the top of a
    // hypervisor stack, so its reserved area (holding the CPU number
    // written by `build`) is mapped memory of that stack.
    let cpu = unsafe { core::ptr::read(slot as *const u64) };
    let cpu = u32::try_from(cpu).ok()?;
    (guest_frame_of(cpu) == Some(frame)).then_some(cpu)
}

/// Handler for `SYSCALL` from the guest (hypercall or user syscall) and for
/// guest traps: the CPU's number and its guest frame.
pub type GuestHandler = fn(cpu: u32, regs: &mut GuestRegs);

static SYSCALL_HANDLER: spin::Once<GuestHandler> = spin::Once::new();
static GUEST_TRAP_HANDLER: spin::Once<GuestHandler> = spin::Once::new();

/// Installs the handlers for guest `SYSCALL`s and guest exceptions/interrupts.
pub fn set_guest_handlers(syscall: GuestHandler, trap: GuestHandler) {
    SYSCALL_HANDLER.call_once(|| syscall);
    GUEST_TRAP_HANDLER.call_once(|| trap);
}

/// Dispatches an exception or interrupt taken in ring 3 (called by the
/// trap code with the frame address at the top of this CPU's stack).
pub(crate) fn guest_trap(cpu: u32, regs: &mut GuestRegs) {
    if let Some(h) = GUEST_TRAP_HANDLER.get() {
        h(cpu, regs);
    }
}

/// Entry vector `lstar_common` stores: Xen's `TRAP_syscall`.
pub const TRAP_SYSCALL: u32 = 0x100;
/// Entry vector `cstar_common` stores (SYSCALL from 32-bit code).
pub const TRAP_SYSCALL32: u32 = 0x101;

/// Dispatches a guest `SYSCALL` (the trap code saw [`TRAP_SYSCALL`] or
/// [`TRAP_SYSCALL32`] in the guest frame).
pub(crate) fn guest_syscall(cpu: u32, regs: &mut GuestRegs) {
    if let Some(h) = SYSCALL_HANDLER.get() {
        h(cpu, regs);
    }
}

/// Starts running a guest on this CPU, `cpu`, with registers `regs`. The
/// current stack is abandoned: from now on the CPU runs the hypervisor only
/// on behalf of guest entries.
///
/// # Panics
/// If this CPU's entry stack was not built.
pub fn enter_guest(cpu: u32, regs: &GuestRegs) -> ! {
    let Some(frame) = guest_frame_of(cpu) else {
        panic!("enter_guest: no guest frame on CPU{cpu}")
    };
    // SAFETY: `frame` is this CPU's guest frame, 232 bytes at the top of its
    // own stack, which nothing else uses while we are on the boot stack.
    unsafe { core::ptr::write(frame as *mut GuestRegs, *regs) };
    // SAFETY: the frame holds a complete ring-3 return state; the stack
    // below it is this CPU's; `restore_all_guest` pops it and irets.
    unsafe {
        asm!(
            "mov {f}, %rsp",
            "jmp *{target}",
            f = in(reg) frame,
            target = in(reg) core::ptr::addr_of!(restore_all_guest) as u64,
            options(noreturn, att_syntax)
        )
    }
}
