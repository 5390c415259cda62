// SPDX-License-Identifier: GPL-2.0-only
//! `event_channel_op(cmd, arg)` and the older `event_channel_op_compat(op)`
//! (Xen's `do_event_channel_op` and `do_event_channel_op_compat`).
//!
//! Each command copies its argument struct in (`-EFAULT` if it cannot),
//! runs the operation of [`crate::common::event_channel::ops`] and, for the
//! commands with OUT fields, copies the whole struct back after a success
//! (`-EFAULT` then, with the operation done, as in Xen).
//!
//! The FIFO ABI is not implemented, but its three commands check their
//! arguments as Xen 4.17 does (where FIFO is always built in):
//! `EVTCHNOP_init_control` is `-ENOENT` for a vCPU the domain does not
//! have, `-EINVAL` for a control block offset beyond the page minus the
//! control block (72 bytes) or not 8-byte aligned, and `-EINVAL` for a
//! control frame (a PV guest's "gfn" is an MFN) that is not the domain's or
//! cannot be typed writable (`map_guest_page`). **Deliberate deviation:**
//! where Xen would then switch the domain to FIFO and return 0, the answer
//! is `-ENOSYS`, so Linux (which tries FIFO first and falls back on any
//! error) keeps the 2-level ABI. Since no domain ever has FIFO,
//! `EVTCHNOP_expand_array` is Xen's `-EOPNOTSUPP` ("FIFO not initialised")
//! and `EVTCHNOP_set_priority` Xen's answer for the 2-level ABI: `-EINVAL`
//! for an invalid port, else `-ENOSYS` (no `set_priority` port op).
//! The compat hypercall carries `{u32 cmd; union}` and accepts commands
//! 0–9 only.

use guest_abi::AbiBytes;
use guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindPirq, EvtchnBindVcpu,
    EvtchnBindVirq, EvtchnClose, EvtchnExpandArray, EvtchnInitControl, EvtchnOp, EvtchnOpCompat,
    EvtchnReset, EvtchnSend, EvtchnSetPriority, EvtchnStatus, EvtchnUnmask,
};
use guest_abi::xen::Errno;

use crate::PAGE_SIZE;
use crate::common::event_channel::{interdomain, ops};
use crate::mm::Mfn;
use crate::mm::pv::PageType;
use crate::pv::ctx::Ctx;

/// Offset of the union in `evtchn_op_t`.
const COMPAT_UNION_OFFSET: u64 = 4;
/// `sizeof(evtchn_fifo_control_block_t)`: `ready`, `_rsvd` and 16 queue
/// heads, all `uint32_t`.
const FIFO_CONTROL_BLOCK_SIZE: u64 = 4 + 4 + 4 * 16;

/// `EVTCHNOP_init_control`: Xen 4.17's `evtchn_fifo_init_control` checks,
/// in its order, then `-ENOSYS` (see the module documentation).
fn init_control(ctx: &mut Ctx<'_>, arg: u64) -> Result<i64, Errno> {
    let a: EvtchnInitControl = ctx.read(arg)?;
    let vcpu = usize::try_from(a.vcpu.0).map_err(|_| Errno::ENOENT)?;
    if ctx.dom.vcpus.get(vcpu).is_none() {
        return Err(Errno::ENOENT);
    }
    let offset = u64::from(a.offset);
    if offset > PAGE_SIZE - FIFO_CONTROL_BLOCK_SIZE || offset & 7 != 0 {
        return Err(Errno::EINVAL);
    }
    // map_guest_page: get_page_from_gfn (for PV the gfn is the MFN), then
    // a writable type reference; here dropped again at once.
    let mfn = Mfn(a.control_gfn);
    let dom = ctx.dom.id;
    ctx.mm().get_page_and_type(mfn, dom, PageType::Writable).map_err(|_| Errno::EINVAL)?;
    ctx.mm().put_page_and_type(mfn);
    // Deliberate deviation from Xen (which would switch to FIFO and
    // return 0): FIFO is not implemented.
    Err(Errno::ENOSYS)
}

/// Copies a `T` in, runs `f` on it and copies it back out on success.
fn in_out<T: AbiBytes>(
    ctx: &mut Ctx<'_>,
    arg: u64,
    f: impl FnOnce(&mut Ctx<'_>, &mut T) -> Result<(), Errno>,
) -> Result<i64, Errno> {
    let mut value: T = ctx.read(arg)?;
    f(ctx, &mut value)?;
    ctx.write(arg, &value)?;
    Ok(0)
}

/// `event_channel_op(cmd, arg)`.
pub fn event_channel_op(ctx: &mut Ctx<'_>, cmd: u64, arg: u64) -> Result<i64, Errno> {
    let Some(op) = u32::try_from(cmd).ok().and_then(|c| EvtchnOp::try_from(c).ok()) else {
        return Err(Errno::ENOSYS);
    };
    match op {
        EvtchnOp::AllocUnbound => in_out(ctx, arg, |c, a: &mut EvtchnAllocUnbound| {
            interdomain::alloc_unbound(&mut c.evtchn_domains(), a)
        }),
        EvtchnOp::BindInterdomain => in_out(ctx, arg, |c, a: &mut EvtchnBindInterdomain| {
            interdomain::bind_interdomain(&mut c.evtchn_domains(), a)
        }),
        EvtchnOp::BindVirq => {
            in_out(ctx, arg, |c, a: &mut EvtchnBindVirq| ops::bind_virq(c.dom, a))
        }
        EvtchnOp::BindIpi => in_out(ctx, arg, |c, a: &mut EvtchnBindIpi| ops::bind_ipi(c.dom, a)),
        EvtchnOp::BindPirq => {
            in_out(ctx, arg, |c, a: &mut EvtchnBindPirq| ops::bind_pirq(c.dom, a))
        }
        EvtchnOp::Status => in_out(ctx, arg, |c, a: &mut EvtchnStatus| {
            interdomain::status(&mut c.evtchn_domains(), a)
        }),
        EvtchnOp::Close => {
            let a: EvtchnClose = ctx.read(arg)?;
            let me = ctx.dom.id;
            interdomain::close(&mut ctx.evtchn_domains(), me, a.port).map(|()| 0)
        }
        EvtchnOp::Send => {
            let a: EvtchnSend = ctx.read(arg)?;
            interdomain::send(&mut ctx.evtchn_domains(), a.port).map(|_| 0)
        }
        EvtchnOp::BindVcpu => {
            let a: EvtchnBindVcpu = ctx.read(arg)?;
            ops::bind_vcpu(ctx.dom, a.port, a.vcpu).map(|()| 0)
        }
        EvtchnOp::Unmask => {
            let a: EvtchnUnmask = ctx.read(arg)?;
            ops::unmask_port(ctx.dom, ctx.mem, a.port).map(|_| 0)
        }
        EvtchnOp::Reset | EvtchnOp::ResetCont => {
            // A continuation finds no reset in progress (ours never pause).
            let a: EvtchnReset = ctx.read(arg)?;
            let resuming = op == EvtchnOp::ResetCont;
            interdomain::reset(&mut ctx.evtchn_domains(), a.dom, resuming).map(|()| 0)
        }
        // No FIFO ABI (see the module documentation): Linux falls back to
        // the 2-level ABI.
        EvtchnOp::InitControl => init_control(ctx, arg),
        EvtchnOp::ExpandArray => {
            let _: EvtchnExpandArray = ctx.read(arg)?;
            Err(Errno::EOPNOTSUPP)
        }
        EvtchnOp::SetPriority => {
            let a: EvtchnSetPriority = ctx.read(arg)?;
            if ctx.dom.evtchn.port_is_valid(a.port) {
                Err(Errno::ENOSYS)
            } else {
                Err(Errno::EINVAL)
            }
        }
    }
}

/// `event_channel_op_compat(op)`: `op` points at `{u32 cmd; union}`.
pub fn event_channel_op_compat(ctx: &mut Ctx<'_>, uop: u64) -> Result<i64, Errno> {
    let op: EvtchnOpCompat = ctx.read(uop)?;
    match EvtchnOp::try_from(op.cmd) {
        Ok(
            EvtchnOp::BindInterdomain
            | EvtchnOp::BindVirq
            | EvtchnOp::BindPirq
            | EvtchnOp::Close
            | EvtchnOp::Send
            | EvtchnOp::Status
            | EvtchnOp::AllocUnbound
            | EvtchnOp::BindIpi
            | EvtchnOp::BindVcpu
            | EvtchnOp::Unmask,
        ) => event_channel_op(ctx, u64::from(op.cmd), uop.wrapping_add(COMPAT_UNION_OFFSET)),
        _ => Err(Errno::ENOSYS),
    }
}
