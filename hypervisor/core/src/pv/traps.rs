// SPDX-License-Identifier: GPL-2.0-only
//! Trap bouncing: delivering exceptions, software interrupts and callbacks
//! to a PV guest kernel, and the `iret` hypercall that returns from them.
//!
//! Xen's `create_bounce_frame` (x86_64 `entry.S`): from guest-user mode the
//! vCPU first switches to guest-kernel mode and the frame goes on the
//! `stack_switch` stack; from kernel mode it goes below the current RSP and
//! the saved CS shows RPL 0. The frame, 16-byte aligned, from high to low:
//! `SS, RSP, RFLAGS, CS | saved_upcall_mask << 32, RIP, [error code], R11, RCX`
//! (the failsafe callback adds `GS, FS, ES, DS` below RIP). RFLAGS.IF in the
//! frame is `!evtchn_upcall_mask`; an interrupt-gate trap or a masking
//! callback sets the mask. The vCPU resumes at the handler with
//! `CS:RSP = FLAT_KERNEL_CS:frame` and TF/NT/RF/VM/AC cleared. A frame
//! that cannot be written, or a null handler, crashes the domain.

use alloc::vec::Vec;

use guest_abi::xen::{
    Errno, FLAT_KERNEL_CS, FLAT_KERNEL_SS, HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START, IretContext,
    VGCF_in_syscall, VmAssistType,
};

use super::ctx::Ctx;

/// `X86_EFLAGS_TF`.
pub const EFLAGS_TF: u64 = 1 << 8;
/// `X86_EFLAGS_IF`.
pub const EFLAGS_IF: u64 = 1 << 9;
/// `X86_EFLAGS_DF`.
pub const EFLAGS_DF: u64 = 1 << 10;
/// `X86_EFLAGS_IOPL`.
pub const EFLAGS_IOPL: u64 = 3 << 12;
/// `X86_EFLAGS_NT`.
pub const EFLAGS_NT: u64 = 1 << 14;
/// `X86_EFLAGS_RF`.
pub const EFLAGS_RF: u64 = 1 << 16;
/// `X86_EFLAGS_VM`.
pub const EFLAGS_VM: u64 = 1 << 17;
/// `X86_EFLAGS_AC`.
pub const EFLAGS_AC: u64 = 1 << 18;
/// `X86_EFLAGS_MBS`: bit 1, always set.
pub const EFLAGS_MBS: u64 = 1 << 1;

/// `#PF` error-code bit: the access came from user mode.
pub const PFEC_USER_MODE: u32 = 1 << 2;
/// `TRAP_syscall` marker in `entry_vector`.
pub const TRAP_SYSCALL: u32 = 0x100;

/// Exception vectors.
pub mod vector {
    /// `#DE`.
    pub const DE: u8 = 0;
    /// `#DB`.
    pub const DB: u8 = 1;
    /// NMI.
    pub const NMI: u8 = 2;
    /// `#BP`.
    pub const BP: u8 = 3;
    /// `#OF`.
    pub const OF: u8 = 4;
    /// `#UD`.
    pub const UD: u8 = 6;
    /// `#NM`.
    pub const NM: u8 = 7;
    /// `#DF`.
    pub const DF: u8 = 8;
    /// `#TS`.
    pub const TS: u8 = 10;
    /// `#NP`.
    pub const NP: u8 = 11;
    /// `#SS`.
    pub const SS: u8 = 12;
    /// `#GP`.
    pub const GP: u8 = 13;
    /// `#PF`.
    pub const PF: u8 = 14;
    /// `#AC`.
    pub const AC: u8 = 17;
}

/// Whether exception `vector` pushes an error code.
#[must_use]
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Xen's `permit_softint`: may `int $n` reach a handler of DPL `dpl`?
#[must_use]
pub const fn permit_softint(dpl: u8, guest_kernel_mode: bool) -> bool {
    dpl >= if guest_kernel_mode { 1 } else { 3 }
}

/// One bounce (Xen's `struct trap_bounce`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapBounce {
    /// Handler address.
    pub eip: u64,
    /// Error code to push, if any.
    pub error_code: Option<u32>,
    /// Set `evtchn_upcall_mask` (interrupt gate / masking callback).
    pub mask_events: bool,
    /// Failsafe frame: also push DS, ES, FS, GS.
    pub failsafe: bool,
}

/// Why a bounce failed: the domain has been crashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BounceError {
    /// The handler address is 0 (`null_trap_bounce`).
    NoHandler,
    /// The guest switched to user mode without a user page table, or back
    /// to kernel mode failed.
    BadMode,
    /// The frame's stack is in the hypervisor's range or not writable.
    BadStack,
}

/// Xen's `create_bounce_frame`. On failure the domain is crashed.
pub fn create_bounce_frame(ctx: &mut Ctx<'_>, tb: &TrapBounce) -> Result<(), BounceError> {
    let r = bounce_frame(ctx, tb);
    if r.is_err() {
        ctx.crash();
    }
    r
}

fn bounce_frame(ctx: &mut Ctx<'_>, tb: &TrapBounce) -> Result<(), BounceError> {
    if tb.eip == 0 {
        return Err(BounceError::NoHandler);
    }
    let mut cs = u64::from(ctx.regs.cs);
    let sp = if ctx.v_ref().arch.kernel_mode {
        cs &= !3;
        ctx.regs.rsp
    } else {
        ctx.toggle_guest_mode().map_err(|_| BounceError::BadMode)?;
        ctx.v_ref().arch.kernel_sp
    } & !0xf;
    // The frame must lie wholly in guest space: below the hole, or at least
    // eight quadwords above its end (Xen's check).
    let low_ok = sp <= HYPERVISOR_VIRT_START;
    let high_ok = sp > HYPERVISOR_VIRT_END.wrapping_add(8 * 8);
    if !(low_ok || high_ok) {
        return Err(BounceError::BadStack);
    }
    let old_mask = ctx.upcall_mask();
    let mut rflags = ctx.regs.rflags & !(EFLAGS_IF | EFLAGS_IOPL);
    if old_mask == 0 {
        rflags |= EFLAGS_IF;
    }
    if ctx.dom.vm_assist_enabled(VmAssistType::ArchitecturalIopl.raw()) {
        rflags |= (u64::from(ctx.v_ref().arch.iopl) & 3) << 12;
    }
    let mut frame: Vec<u64> = Vec::with_capacity(12);
    // Built from the top down, then reversed into memory order.
    frame.push(u64::from(ctx.regs.ss));
    frame.push(ctx.regs.rsp);
    frame.push(rflags);
    frame.push((cs & 0xffff) | (u64::from(old_mask) << 32));
    frame.push(ctx.regs.rip);
    if tb.failsafe {
        frame.push(u64::from(ctx.regs.gs));
        frame.push(u64::from(ctx.regs.fs));
        frame.push(u64::from(ctx.regs.es));
        frame.push(u64::from(ctx.regs.ds));
    }
    if let Some(ec) = tb.error_code {
        frame.push(u64::from(ec));
    }
    frame.push(ctx.regs.r11);
    frame.push(ctx.regs.rcx);
    let bytes_len = (frame.len() as u64).wrapping_mul(8);
    let base = sp.wrapping_sub(bytes_len);
    let mem: Vec<u8> = frame.iter().rev().flat_map(|q| q.to_le_bytes()).collect();
    ctx.copy_to_guest(base, &mem).map_err(|_| BounceError::BadStack)?;

    if tb.mask_events {
        ctx.set_upcall_mask(1);
    }
    let regs = &mut *ctx.regs;
    regs.entry_vector |= TRAP_SYSCALL;
    regs.rflags &= !(EFLAGS_AC | EFLAGS_VM | EFLAGS_RF | EFLAGS_NT | EFLAGS_TF);
    regs.ss = FLAT_KERNEL_SS;
    regs.rsp = base;
    regs.cs = FLAT_KERNEL_CS;
    regs.rip = tb.eip;
    Ok(())
}

/// Xen's `pv_inject_event` for a hardware exception `vector` (or a
/// software interrupt with `error_code = None`): bounce through the
/// vCPU's virtual IDT. `cr2` is the fault address of a `#PF`.
pub fn inject_exception(
    ctx: &mut Ctx<'_>,
    vector: u8,
    error_code: Option<u32>,
    cr2: Option<u64>,
) -> Result<(), BounceError> {
    let ti = ctx.v_ref().arch.trap_ctxt.get(usize::from(vector)).copied().unwrap_or_default_trap();
    let mut error_code = error_code;
    if vector == vector::PF {
        let addr = cr2.unwrap_or(0);
        ctx.v().arch.cr2 = addr;
        ctx.set_vcpu_info_cr2(addr);
        let user = !ctx.v_ref().arch.kernel_mode;
        error_code =
            error_code.map(|e| if user { e | PFEC_USER_MODE } else { e & !PFEC_USER_MODE });
    }
    let tb =
        TrapBounce { eip: ti.address, error_code, mask_events: ti.masks_events(), failsafe: false };
    create_bounce_frame(ctx, &tb)
}

/// `int $n` from the guest (a `#GP` with error code `(n << 3) | 2`):
/// deliver it if the virtual IDT's DPL permits, else `None` so the caller
/// bounces the `#GP` itself.
pub fn try_software_interrupt(
    ctx: &mut Ctx<'_>,
    n: u8,
    insn_len: u64,
) -> Option<Result<(), BounceError>> {
    let ti = ctx.v_ref().arch.trap_ctxt.get(usize::from(n)).copied()?;
    if !permit_softint(ti.dpl(), ctx.v_ref().arch.kernel_mode) {
        return None;
    }
    ctx.regs.rip = ctx.regs.rip.wrapping_add(insn_len);
    Some(inject_exception(ctx, n, None, None))
}

/// Delivers the event callback if events are pending and unmasked
/// (`test_guest_events`); returns whether a frame was created.
pub fn deliver_pending_events(ctx: &mut Ctx<'_>) -> Result<bool, BounceError> {
    if !ctx.upcall_pending() || ctx.upcall_mask() != 0 {
        return Ok(false);
    }
    let cb = ctx.v_ref().arch.callbacks.event;
    if cb.address == 0 {
        return Ok(false);
    }
    // Event delivery always masks further events (`TBF_INTERRUPT`).
    let tb = TrapBounce { eip: cb.address, error_code: None, mask_events: true, failsafe: false };
    create_bounce_frame(ctx, &tb).map(|()| true)
}

/// A `SYSCALL` from guest-user mode: bounce to the syscall callback, with
/// DF cleared and events masked if the callback asks (`lstar_enter`'s
/// user path). An unregistered callback raises `#UD` in the guest.
pub fn bounce_syscall(ctx: &mut Ctx<'_>) -> Result<(), BounceError> {
    let cb = ctx.v_ref().arch.callbacks.syscall;
    if cb.address == 0 {
        // Xen >= 4.15: #UD at the SYSCALL instruction (RIP is after it).
        ctx.regs.rip = ctx.regs.rip.wrapping_sub(2);
        return inject_exception(ctx, vector::UD, None, None);
    }
    ctx.regs.rflags &= !EFLAGS_DF;
    let tb = TrapBounce {
        eip: cb.address,
        error_code: None,
        mask_events: cb.mask_events,
        failsafe: false,
    };
    create_bounce_frame(ctx, &tb)
}

pub use super::debugreg::DR6_DEFAULT;

/// What the CPU's DR0–DR3 and DR7 must hold while the vCPU runs (Xen's
/// `activate_debugregs`): its virtual DR0–DR3, and its DR7 without the
/// I/O breakpoints (emulated, Xen's `dr7_emul`: their enables are
/// dropped) and without general detect; DR7 is 0 when it enables nothing.
#[must_use]
pub fn hardware_debugregs(v: &super::domain::PvVcpu) -> [u64; 5] {
    let dr = |i: usize| v.debugreg.get(i).copied().unwrap_or(0);
    let mut dr7 = dr(7) & 0xffff_ffff & !(1 << 13);
    // (RW field shift, enable bits) of DR0..DR3; RW 10 = I/O.
    for (rw_shift, enable) in [(16u32, 3u64), (20, 3 << 2), (24, 3 << 4), (28, 3 << 6)] {
        if (dr7 >> rw_shift) & 3 == 2 {
            dr7 &= !enable;
        }
    }
    if dr7 & 0xff == 0 {
        dr7 = 0;
    }
    [dr(0), dr(1), dr(2), dr(3), dr7]
}

/// A `#DB` from the guest (Xen's `do_debug` for a guest): `dr6` is what the
/// CPU reported (the caller has reset the CPU's DR6). The conditions go
/// into the vCPU's DR6, where `get_debugreg(6)` reads them ("Save debug
/// status register where guest OS can peek at it"), and the `#DB` is
/// bounced to the guest.
pub fn debug_trap(ctx: &mut Ctx<'_>, dr6: u64) -> Result<(), BounceError> {
    if let Some(v) = ctx.v().arch.debugreg.get_mut(6) {
        let merged = *v | DR6_DEFAULT | (dr6 & !DR6_DEFAULT);
        *v = merged & (dr6 | !DR6_DEFAULT) & 0xffff_ffff;
    }
    inject_exception(ctx, vector::DB, None, None)
}

/// The `iret` hypercall (Xen's `do_iret`): restore the frame at the guest
/// RSP and return the saved RAX; with `VMASST_TYPE_architectural_iopl` the
/// frame's `RFLAGS.IOPL` becomes the vCPU's virtual IOPL. A bad frame or a switch to user mode
/// without user page tables crashes the domain (`Err`).
pub fn do_iret(ctx: &mut Ctx<'_>) -> Result<u64, Errno> {
    let Ok(saved) = ctx.read::<IretContext>(ctx.regs.rsp) else {
        ctx.crash();
        return Err(Errno::EFAULT);
    };
    if saved.cs & 3 == 3 && ctx.v_ref().arch.kernel_mode && ctx.toggle_guest_mode().is_err() {
        ctx.crash();
        return Err(Errno::EINVAL);
    }
    // Under VMASST_TYPE_architectural_iopl the frame's IOPL is the
    // virtual IOPL from now on (Xen's `do_iret`), e.g. a kernel entering
    // user mode at IOPL 3.
    if ctx.dom.vm_assist_enabled(VmAssistType::ArchitecturalIopl.raw()) {
        ctx.v().arch.iopl = u32::try_from((saved.rflags & EFLAGS_IOPL) >> 12).unwrap_or(0);
    }
    let regs = &mut *ctx.regs;
    regs.rip = saved.rip;
    regs.cs = low16(saved.cs) | 3;
    regs.rflags = (saved.rflags & !(EFLAGS_IOPL | EFLAGS_VM)) | EFLAGS_IF | EFLAGS_MBS;
    regs.rsp = saved.rsp;
    regs.ss = low16(saved.ss) | 3;
    if saved.flags & VGCF_in_syscall == 0 {
        regs.entry_vector &= !TRAP_SYSCALL;
        regs.r11 = saved.r11;
        regs.rcx = saved.rcx;
    }
    ctx.set_upcall_mask(u8::from(saved.rflags & EFLAGS_IF == 0));
    Ok(saved.rax)
}

/// The selector part (low 16 bits) of a saved segment slot.
fn low16(v: u64) -> u16 {
    u16::try_from(v & 0xffff).unwrap_or(0)
}

trait DefaultTrap {
    fn unwrap_or_default_trap(self) -> guest_abi::xen::TrapInfo;
}

impl DefaultTrap for Option<guest_abi::xen::TrapInfo> {
    fn unwrap_or_default_trap(self) -> guest_abi::xen::TrapInfo {
        self.unwrap_or(guest_abi::xen::TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 })
    }
}

#[cfg(test)]
mod tests;
