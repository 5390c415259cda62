// SPDX-License-Identifier: GPL-2.0-only
//! Hypercall dispatch (Xen's `pv_hypercall`) and `multicall`.
//!
//! A 64-bit PV guest kernel issues `SYSCALL` with the hypercall number in
//! RAX and arguments in RDI, RSI, RDX, R10, R8 (and R9); the result goes
//! back in RAX. Handlers return `Result<i64, Errno>`; the conversion to
//! `-errno` happens here and nowhere else. Unknown hypercalls and sub-ops
//! are `-ENOSYS`, bad guest pointers `-EFAULT`.

mod console;
pub mod continuation;
mod evtchn;
pub mod grant;
pub mod memory;
pub mod mm;
mod sched;
pub mod vcpu_context;
mod vcpu_op;
mod vcpu_state;
pub mod version;

#[cfg(test)]
mod continuation_tests;
#[cfg(test)]
mod memory_tests;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use guest_abi::xen::{Errno, Hypercall, MulticallEntry};

use super::ctx::Ctx;

/// The six hypercall argument registers, in order.
#[must_use]
pub fn args(ctx: &Ctx<'_>) -> [u64; 6] {
    let r = &*ctx.regs;
    [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]
}

/// Encodes a handler result as the value left in RAX.
#[must_use]
pub fn encode(r: Result<i64, Errno>) -> u64 {
    match r {
        Ok(v) => v.cast_unsigned(),
        Err(e) => i64::from(e.raw()).wrapping_neg().cast_unsigned(),
    }
}

/// Handles the hypercall in `ctx.regs` and stores its result in RAX
/// (Xen's `pv_hypercall`). A hypercall that created a continuation is
/// issued again: `SYSCALL` has trap semantics, so RIP is rewound over it.
pub fn do_hypercall(ctx: &mut Ctx<'_>) {
    ctx.v().hcall_preempted = false;
    let nr = ctx.regs.rax;
    let a = args(ctx);
    let r = call(ctx, nr, a, false);
    ctx.regs.rax = encode(r);
    if ctx.v_ref().hcall_preempted {
        ctx.regs.rip = ctx.regs.rip.wrapping_sub(continuation::SYSCALL_INSN_LEN);
    }
}

/// Calls hypercall `nr` with arguments `a`. `in_multicall` refuses the
/// calls that may not be batched.
pub fn call(ctx: &mut Ctx<'_>, nr: u64, a: [u64; 6], in_multicall: bool) -> Result<i64, Errno> {
    let Ok(op) =
        u32::try_from(nr).map_err(|_| ()).and_then(|n| Hypercall::try_from(n).map_err(|_| ()))
    else {
        return Err(Errno::ENOSYS);
    };
    let [a0, a1, a2, a3, _a4, _a5] = a;
    match op {
        Hypercall::SetTrapTable => vcpu_state::set_trap_table(ctx, a0),
        Hypercall::MmuUpdate => mm::mmu_update(ctx, a0, a1, a2, a3),
        Hypercall::SetGdt => mm::set_gdt(ctx, a0, a1),
        Hypercall::StackSwitch => vcpu_state::stack_switch(ctx, a0, a1),
        Hypercall::SetCallbacks => vcpu_state::set_callbacks(ctx, a0, a1, a2),
        Hypercall::FpuTaskswitch => vcpu_state::fpu_taskswitch(ctx, a0),
        Hypercall::SchedOpCompat => sched::sched_op_compat(ctx, a0, a1),
        Hypercall::SetDebugreg => vcpu_state::set_debugreg(ctx, a0, a1),
        Hypercall::GetDebugreg => vcpu_state::get_debugreg(ctx, a0),
        Hypercall::UpdateDescriptor => mm::update_descriptor(ctx, a0, a1),
        Hypercall::Multicall => {
            if in_multicall {
                Err(Errno::EINVAL)
            } else {
                multicall(ctx, a0, a1)
            }
        }
        Hypercall::UpdateVaMapping => mm::update_va_mapping(ctx, a0, a1, a2),
        Hypercall::EventChannelOpCompat => evtchn::event_channel_op_compat(ctx, a0),
        Hypercall::XenVersion => version::xen_version(ctx, a0, a1),
        Hypercall::ConsoleIo => console::console_io(ctx, a0, a1, a2),
        Hypercall::MemoryOp => memory::memory_op(ctx, a0, a1),
        Hypercall::GrantTableOp => grant::grant_table_op(ctx, a0, a1, a2),
        Hypercall::VmAssist => vcpu_state::vm_assist(ctx, a0, a1),
        // Also inside a multicall, which it ends (see `multicall`).
        Hypercall::Iret => super::traps::do_iret(ctx).map(|rax| rax as i64),
        Hypercall::SetSegmentBase => vcpu_state::set_segment_base(ctx, a0, a1),
        Hypercall::SetTimerOp => super::time::set_timer_op(ctx, a0),
        Hypercall::VcpuOp => vcpu_op::vcpu_op(ctx, a0, a1, a2),
        Hypercall::MmuextOp => mm::mmuext_op(ctx, a0, a1, a2, a3),
        Hypercall::SchedOp => sched::sched_op(ctx, a0, a1),
        Hypercall::CallbackOp => vcpu_state::callback_op(ctx, a0, a1),
        Hypercall::EventChannelOp => evtchn::event_channel_op(ctx, a0, a1),
        Hypercall::PhysdevOp => vcpu_state::physdev_op(ctx, a0, a1),
        Hypercall::Domctl => crate::common::domctl::do_domctl(ctx, a0),
        Hypercall::Sysctl => crate::common::sysctl::do_sysctl(ctx, a0),
        _ => Err(Errno::ENOSYS),
    }
}

/// `multicall(entries, nr_calls)` (Xen's `do_multicall`): run each entry,
/// store its result, stop at the first entry that cannot be read or
/// written back (`-EFAULT`).
///
/// Preemption: before every entry but the first the CPU is asked whether
/// it has more urgent work ([`Ctx::hypercall_preempt_check`]); if so the
/// multicall continues later with the rest of the list. An entry that
/// itself created a continuation (a long `mmu_update`, say) has its
/// arguments rewritten in the guest's list (the whole entry is written
/// back) and the multicall continues from that entry; if the entry cannot
/// be written the continuation is cancelled and the multicall fails with
/// `-EFAULT`. `nr_calls` is a 32-bit count with no other limit, as in Xen
/// 4.17.
///
/// An `iret` entry ends the batch (Xen's `mc_exit` from
/// `pv_do_multicall_call`): the vCPU has been sent to the iret frame, its
/// result (the frame's saved RAX) is stored as well as possible, and
/// becomes the multicall's own return value, so the guest resumes with it
/// in RAX; the entries after it do not run.
fn multicall(ctx: &mut Ctx<'_>, list: u64, nr: u64) -> Result<i64, Errno> {
    if ctx.v_ref().mc_state.in_multicall {
        return Err(Errno::EINVAL);
    }
    // Xen's `nr_calls` is a `uint32_t`.
    let nr = nr & 0xffff_ffff;
    let size = core::mem::size_of::<MulticallEntry>() as u64;
    if !super::guest_mem::guest_handle_okay(list, nr, size) {
        return Err(Errno::EFAULT);
    }
    ctx.v().mc_state.in_multicall = true;
    let r = multicall_entries(ctx, list, nr, size);
    ctx.v().mc_state = continuation::McState::default();
    match r {
        McEnd::Done(rc) => rc,
        McEnd::Preempted { at, left } => {
            Ok(continuation::create_continuation(ctx, Hypercall::Multicall, &[at, left]))
        }
    }
}

/// How a multicall's loop ended.
enum McEnd {
    /// Every entry ran, or the batch stopped with this result.
    Done(Result<i64, Errno>),
    /// To be continued with the `left` entries at `at`.
    Preempted { at: u64, left: u64 },
}

/// The loop of [`multicall`], with `mc_state.in_multicall` set.
fn multicall_entries(ctx: &mut Ctx<'_>, list: u64, nr: u64, size: u64) -> McEnd {
    for i in 0..nr {
        let va = list.wrapping_add(i.wrapping_mul(size));
        let left = nr.wrapping_sub(i);
        if i != 0 && ctx.hypercall_preempt_check() {
            return McEnd::Preempted { at: va, left };
        }
        let mut e: MulticallEntry = match ctx.read(va) {
            Ok(e) => e,
            Err(err) => return McEnd::Done(Err(err)),
        };
        ctx.v().mc_state.args = e.args;
        let r = call(ctx, e.op, e.args, true);
        e.result = encode(r);
        if e.op == u64::from(Hypercall::Iret.raw()) {
            // Best effort only, as in Xen.
            let _ = ctx.write(va.wrapping_add(8), &e.result);
            // The multicall's own return value is that result as Xen's
            // `int rc`: its low 32 bits, sign-extended (seen on Xen 4.17).
            let low = u32::try_from(e.result & 0xffff_ffff).unwrap_or(0);
            return McEnd::Done(Ok(i64::from(low.cast_signed())));
        }
        if let Err(err) = ctx.write(va.wrapping_add(8), &e.result) {
            continuation::cancel_continuation(ctx);
            return McEnd::Done(Err(err));
        }
        if ctx.v_ref().hcall_preempted {
            // The entry continues with the arguments it left.
            e.args = ctx.v_ref().mc_state.args;
            if ctx.write(va, &e).is_ok() {
                return McEnd::Preempted { at: va, left };
            }
            continuation::cancel_continuation(ctx);
            return McEnd::Done(Err(Errno::EFAULT));
        }
        if ctx.dom.shutdown.is_some() {
            break;
        }
    }
    McEnd::Done(Ok(0))
}

/// Reads `count` items of `T` from guest array `va` (`copy_from_guest`).
pub(crate) fn read_array<T: bytemuck::Pod>(
    ctx: &Ctx<'_>,
    va: u64,
    count: u64,
) -> Result<Vec<T>, Errno> {
    let size = core::mem::size_of::<T>() as u64;
    let mut out = Vec::new();
    for i in 0..count {
        out.push(ctx.read(va.wrapping_add(i.wrapping_mul(size)))?);
    }
    Ok(out)
}
