// SPDX-License-Identifier: GPL-2.0-only
//! Hypercalls that set per-vCPU state: the virtual IDT, callbacks, kernel
//! stack, segment bases, lazy FPU, debug registers, `vm_assist` and the
//! virtual IOPL.

use guest_abi::callback::{CallbackOp, CallbackRegister, CallbackType, CallbackUnregister};
use guest_abi::physdev::{PhysdevOp, PhysdevSetIopl};
use guest_abi::xen::{Errno, SegBase, TrapInfo};

use crate::pv::ctx::Ctx;
use crate::pv::debugreg;
use crate::pv::domain::Callback;
use crate::pv::platform::SegBaseReg;

/// Most entries one `set_trap_table` reads (the table has 256 vectors).
const MAX_TRAP_ENTRIES: u64 = 1024;

/// `VMASST_*` types a 64-bit PV guest may enable (`NATIVE_VM_ASSIST_VALID`).
const VM_ASSIST_VALID: u64 =
    (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 32);

/// Whether `va` is a canonical address (bits 63..47 all equal).
#[must_use]
pub const fn is_canonical(va: u64) -> bool {
    let top = va >> 47;
    top == 0 || top == 0x1_ffff
}

/// `set_trap_table(traps)`: a NULL pointer clears the table; otherwise
/// entries are read up to one with a zero address; a non-canonical
/// handler address is `-EINVAL`.
pub fn set_trap_table(ctx: &mut Ctx<'_>, traps: u64) -> Result<i64, Errno> {
    if traps == 0 {
        let empty = TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 };
        ctx.v().arch.trap_ctxt = [empty; 256];
        return Ok(0);
    }
    let size = core::mem::size_of::<TrapInfo>() as u64;
    for i in 0..MAX_TRAP_ENTRIES {
        let t: TrapInfo = ctx.read(traps.wrapping_add(i.wrapping_mul(size)))?;
        if t.address == 0 {
            break;
        }
        // Xen: a non-canonical handler is refused (the entries before it
        // stay installed).
        if !is_canonical(t.address) {
            return Err(Errno::EINVAL);
        }
        let mut t = t;
        // Xen's fixup_guest_code_selector: a 64-bit guest's selectors get RPL 3.
        if t.cs != 0 {
            t.cs |= 3;
        }
        if let Some(slot) = ctx.v().arch.trap_ctxt.get_mut(usize::from(t.vector)) {
            *slot = t;
        }
    }
    Ok(0)
}

/// `stack_switch(ss, esp)`: the stack used for bounces from user mode.
pub fn stack_switch(ctx: &mut Ctx<'_>, ss: u64, sp: u64) -> Result<i64, Errno> {
    let v = ctx.v();
    v.arch.kernel_ss = ss | 3;
    v.arch.kernel_sp = sp;
    Ok(0)
}

/// Xen's `register_guest_callback`: a non-canonical address is `-EINVAL`.
fn register(ctx: &mut Ctx<'_>, ty: CallbackType, address: u64, flags: u16) -> Result<i64, Errno> {
    if !is_canonical(address) {
        return Err(Errno::EINVAL);
    }
    let mask = flags & guest_abi::callback::CALLBACKF_mask_events != 0;
    let slot = ctx.v().arch.callbacks.slot_mut(ty).ok_or(Errno::ENOSYS)?;
    *slot = Callback { address, mask_events: mask };
    Ok(0)
}

/// Legacy `set_callbacks(event, failsafe, syscall)`: as in Xen, each is
/// registered on its own, one that is refused (non-canonical) leaves that
/// callback as it was, and the call returns 0.
pub fn set_callbacks(
    ctx: &mut Ctx<'_>,
    event: u64,
    failsafe: u64,
    syscall: u64,
) -> Result<i64, Errno> {
    let _ = register(ctx, CallbackType::Event, event, 0);
    let _ = register(ctx, CallbackType::Failsafe, failsafe, 0);
    let _ = register(ctx, CallbackType::Syscall, syscall, 0);
    Ok(0)
}

/// `callback_op(cmd, arg)`.
pub fn callback_op(ctx: &mut Ctx<'_>, cmd: u64, arg: u64) -> Result<i64, Errno> {
    let op = u32::try_from(cmd).ok().and_then(|c| CallbackOp::try_from(c).ok());
    match op {
        Some(CallbackOp::Register) => {
            let r: CallbackRegister = ctx.read(arg)?;
            let ty = CallbackType::try_from(r.ty).map_err(|_| Errno::ENOSYS)?;
            register(ctx, ty, r.address, r.flags)
        }
        Some(CallbackOp::Unregister) => {
            let u: CallbackUnregister = ctx.read(arg)?;
            match CallbackType::try_from(u.ty) {
                // Xen refuses to unregister the callbacks a 64-bit guest
                // cannot run without.
                Ok(CallbackType::Nmi) => {
                    ctx.v().arch.callbacks.nmi = Callback::default();
                    Ok(0)
                }
                Ok(CallbackType::Syscall32 | CallbackType::Sysenter) => {
                    if let Ok(ty) = CallbackType::try_from(u.ty)
                        && let Some(slot) = ctx.v().arch.callbacks.slot_mut(ty)
                    {
                        *slot = Callback::default();
                    }
                    Ok(0)
                }
                Ok(CallbackType::Event | CallbackType::Failsafe | CallbackType::Syscall) => {
                    Err(Errno::EINVAL)
                }
                _ => Err(Errno::ENOSYS),
            }
        }
        None => Err(Errno::ENOSYS),
    }
}

/// `fpu_taskswitch(set)`: the guest's CR0.TS, made real so the next FPU
/// use raises `#NM`, which is bounced to the guest.
pub fn fpu_taskswitch(ctx: &mut Ctx<'_>, set: u64) -> Result<i64, Errno> {
    let ts = set != 0;
    ctx.v().arch.fpu_ts = ts;
    ctx.platform.set_cr0_ts(ts);
    Ok(0)
}

/// `set_segment_base(which, base)`.
pub fn set_segment_base(ctx: &mut Ctx<'_>, which: u64, base: u64) -> Result<i64, Errno> {
    let which = u32::try_from(which).ok().and_then(|w| SegBase::try_from(w).ok());
    let Some(which) = which else { return Err(Errno::EINVAL) };
    if which != SegBase::GsUserSel && !is_canonical(base) {
        return Err(Errno::EINVAL);
    }
    let kernel = ctx.v_ref().arch.kernel_mode;
    match which {
        SegBase::Fs => {
            ctx.platform.set_segment_base(SegBaseReg::Fs, base);
            ctx.v().arch.fs_base = base;
        }
        SegBase::GsKernel => {
            if kernel {
                ctx.platform.set_segment_base(SegBaseReg::Gs, base);
            }
            ctx.v().arch.gs_base_kernel = base;
        }
        SegBase::GsUser => {
            if !kernel {
                ctx.platform.set_segment_base(SegBaseReg::Gs, base);
            }
            ctx.v().arch.gs_base_user = base;
        }
        SegBase::GsUserSel => {
            #[allow(clippy::cast_possible_truncation, reason = "the selector is the low 16 bits")]
            crate::pv::descriptor::set_user_gs_selector(ctx, base as u16);
        }
    }
    Ok(0)
}

/// `set_debugreg(reg, value)` (Xen's `int reg`: the low 32 bits count).
pub fn set_debugreg(ctx: &mut Ctx<'_>, reg: u64, value: u64) -> Result<i64, Errno> {
    debugreg::set_debugreg(&mut ctx.v().arch, reg & 0xffff_ffff, value).map(|_| 0)
}

/// `get_debugreg(reg)`: the value as a `long` (Xen's `int reg`).
pub fn get_debugreg(ctx: &mut Ctx<'_>, reg: u64) -> Result<i64, Errno> {
    debugreg::read_debugreg(&ctx.v_ref().arch, reg & 0xffff_ffff).map(u64::cast_signed)
}

/// `vm_assist(cmd, type)`.
pub fn vm_assist(ctx: &mut Ctx<'_>, cmd: u64, ty: u64) -> Result<i64, Errno> {
    if ty >= 64 || VM_ASSIST_VALID & (1 << ty) == 0 {
        return Err(Errno::EINVAL);
    }
    match cmd {
        0 => ctx.dom.vm_assist |= 1 << ty,
        1 => ctx.dom.vm_assist &= !(1 << ty),
        _ => return Err(Errno::ENOSYS),
    }
    Ok(0)
}

/// `physdev_op(cmd, arg)`: only `PHYSDEVOP_set_iopl` so far.
pub fn physdev_op(ctx: &mut Ctx<'_>, cmd: u64, arg: u64) -> Result<i64, Errno> {
    let op = u32::try_from(cmd).ok().and_then(|c| PhysdevOp::try_from(c).ok());
    match op {
        Some(PhysdevOp::SetIopl) => {
            let s: PhysdevSetIopl = ctx.read(arg)?;
            if s.iopl > 3 {
                return Err(Errno::EINVAL);
            }
            ctx.v().arch.iopl = s.iopl;
            Ok(0)
        }
        _ => Err(Errno::ENOSYS),
    }
}
