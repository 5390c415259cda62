// SPDX-License-Identifier: GPL-2.0-only
//! Hypercall continuations (Xen's `hypercall_create_continuation`,
//! `hypercall_cancel_continuation` and `hypercall_preempt_check`).
//!
//! A long hypercall (`mmu_update`, `mmuext_op`, the `memory_op`
//! reservations and exchange, `multicall`) asks between units of work
//! whether the CPU has something more urgent to do
//! ([`Ctx::hypercall_preempt_check`]: the machine's softirq work, or events
//! the calling vCPU should be sent). If so it stops and describes the work
//! left as the arguments of the same hypercall; [`do_hypercall`] then
//! rewinds the guest's RIP over the 2-byte `SYSCALL`, so the guest issues
//! that hypercall again once the hypervisor has handled its interrupts,
//! scheduled and delivered events. Nothing of the first run is kept in the
//! hypervisor: the re-issued hypercall is validated from scratch, whatever
//! the guest did to its registers or memory in between (as in Xen, the
//! progress lives in the guest's registers and in its `pdone`,
//! `nr_exchanged` or multicall entries).
//!
//! Inside a `multicall` the continuation goes into the entry's arguments
//! ([`McState`]); the multicall writes the entry back and continues itself
//! from that entry.
//!
//! The encodings are Xen 4.17's: `mmu_update` and `mmuext_op` continue
//! with the remaining count ORed with [`MMU_UPDATE_PREEMPTED`] (a flag
//! telling the next run to add its progress to `*pdone`), the request
//! pointer advanced; `memory_op` reservations with
//! `cmd | (extents done << MEMOP_EXTENT_SHIFT)`; `XENMEM_exchange` with
//! its `nr_exchanged`; `multicall` with the rest of the list. Each run
//! does at least one unit of work before it checks, so a guest always
//! makes progress.
//!
//! [`do_hypercall`]: super::do_hypercall

use guest_abi::xen::Hypercall;

use crate::pv::ctx::Ctx;

/// The flag in the count of a continued `mmu_update`/`mmuext_op`
/// (Xen's `MMU_UPDATE_PREEMPTED`, `~(~0U >> 1)`): the top bit of the
/// 32-bit count.
pub const MMU_UPDATE_PREEMPTED: u32 = !(u32::MAX >> 1);

/// Length of the `SYSCALL` instruction the guest re-executes.
pub const SYSCALL_INSN_LEN: u64 = 2;

/// Per-vCPU multicall state (Xen's `struct mc_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct McState {
    /// A multicall is running (`MCSF_in_multicall`).
    pub in_multicall: bool,
    /// The arguments of the entry running (`mcs->call.args`): a
    /// continuation of that entry rewrites them.
    pub args: [u64; 6],
}

/// Xen's `hypercall_create_continuation(op, ...)`: marks the calling vCPU's
/// hypercall as preempted and stores `args` as the arguments it is to be
/// issued with again: into the running multicall entry, or into the
/// guest's argument registers (RDI, RSI, RDX, R10, R8, R9) with `op` in
/// RAX. Returns `op`, the value the hypercall returns meanwhile.
pub fn create_continuation(ctx: &mut Ctx<'_>, op: Hypercall, args: &[u64]) -> i64 {
    let v = ctx.v();
    v.hcall_preempted = true;
    if v.mc_state.in_multicall {
        for (slot, &a) in v.mc_state.args.iter_mut().zip(args) {
            *slot = a;
        }
    } else {
        let r = &mut *ctx.regs;
        r.rax = u64::from(op.raw());
        let regs = [&mut r.rdi, &mut r.rsi, &mut r.rdx, &mut r.r10, &mut r.r8, &mut r.r9];
        for (reg, &a) in regs.into_iter().zip(args) {
            *reg = a;
        }
    }
    i64::from(op.raw())
}

/// Xen's `hypercall_cancel_continuation`: the hypercall is not to be
/// re-issued after all.
pub fn cancel_continuation(ctx: &mut Ctx<'_>) {
    ctx.v().hcall_preempted = false;
}
