// SPDX-License-Identifier: GPL-2.0-only
//! `sched_op(cmd, arg)` and the older `sched_op_compat(cmd, arg)`.
//!
//! Yield returns at once (one vCPU, no scheduler yet). Block enables event
//! upcalls and blocks the vCPU unless an event is already waiting
//! (`vcpu_block_enable_events`); poll checks a list of ports and blocks the
//! vCPU until one of them (any port, for a list of several) becomes
//! pending, an upcall kicks it or its timeout passes (`do_poll`). The
//! machine layer waits for a blocked vCPU with
//! [`vcpu_should_wake`](crate::common::event_channel::vcpu_should_wake).
//! Shutdown marks the domain with its reason and tells dom0
//! (`VIRQ_DOM_EXC`; for dom0 itself the machine layer then powers off,
//! reboots or reports the crash); remote shutdown does the same to another
//! domain, for a caller access control lets.

use guest_abi::sched::{SchedOp, SchedPoll, SchedRemoteShutdown, SchedShutdown};
use guest_abi::xen::{DOMID_FIRST_RESERVED, DomId, Errno, EvtchnPort};

use super::read_array;
use crate::common::domain::{ShutdownReason, notify_dom_exc};
use crate::common::event_channel::{self, SCHED_POLL_MAX_PORTS};
use crate::pv::ctx::Ctx;

fn shutdown(ctx: &mut Ctx<'_>, reason: u64) -> Result<i64, Errno> {
    let r = u32::try_from(reason).ok().and_then(ShutdownReason::from_code).ok_or(Errno::EINVAL)?;
    ctx.shutdown_domain(r);
    Ok(0)
}

/// `SCHEDOP_remote_shutdown`: shut another domain down (a device model or
/// the toolstack for its domains). The domain is named by its id
/// (`DOMID_SELF` is no id: `-ESRCH`); access control decides (`-EPERM`);
/// a reason that is no `SHUTDOWN_*` code is `-EINVAL`.
fn remote_shutdown(ctx: &mut Ctx<'_>, arg: u64) -> Result<i64, Errno> {
    let s: SchedRemoteShutdown = ctx.read(arg)?;
    if s.domain_id.0 >= DOMID_FIRST_RESERVED.0 {
        return Err(Errno::ESRCH);
    }
    let reason = ShutdownReason::from_code(s.reason).ok_or(Errno::EINVAL)?;
    if s.domain_id == ctx.dom.id {
        ctx.xsm.schedop_shutdown(ctx.dom.subject(), ctx.dom.subject())?;
        ctx.shutdown_domain(reason);
        return Ok(0);
    }
    let caller = ctx.dom.id;
    let shut = ctx.with_target(s.domain_id, |t| {
        t.xsm.schedop_shutdown(t.caller, t.target.subject())?;
        Ok(t.target.begin_shutdown(reason))
    })??;
    if shut {
        // Tell dom0: the caller itself, or looked up.
        let (domains, mem) = (&*ctx.domains, &mut *ctx.mem);
        let d0 = if caller == DomId(0) { Some(&mut *ctx.dom) } else { None };
        notify_dom_exc(s.domain_id, d0, domains, mem);
    }
    Ok(0)
}

/// `SCHEDOP_block`: always 0; the vCPU stays blocked only if no upcall is
/// pending once events are enabled.
fn block(ctx: &mut Ctx<'_>) -> Result<i64, Errno> {
    let id = ctx.v_ref().id;
    event_channel::block(ctx.dom, ctx.mem, id);
    Ok(0)
}

/// `SCHEDOP_poll`: more than [`SCHED_POLL_MAX_PORTS`] ports or an invalid
/// port is `-EINVAL`, an unreadable argument or port list `-EFAULT`;
/// otherwise 0, at once if a listed port is pending, else once woken.
fn poll(ctx: &mut Ctx<'_>, arg: u64) -> Result<i64, Errno> {
    let p: SchedPoll = ctx.read(arg)?;
    if p.nr_ports > SCHED_POLL_MAX_PORTS {
        return Err(Errno::EINVAL);
    }
    let ports: alloc::vec::Vec<EvtchnPort> = read_array(ctx, p.ports, u64::from(p.nr_ports))?;
    let id = ctx.v_ref().id;
    event_channel::poll(ctx.dom, ctx.mem, id, &ports, p.timeout).map(|_| 0)
}

/// `sched_op`.
pub fn sched_op(ctx: &mut Ctx<'_>, cmd: u64, arg: u64) -> Result<i64, Errno> {
    let op = u32::try_from(cmd).ok().and_then(|c| SchedOp::try_from(c).ok());
    match op {
        Some(SchedOp::Yield) => Ok(0),
        Some(SchedOp::Block) => block(ctx),
        Some(SchedOp::Shutdown) => {
            let s: SchedShutdown = ctx.read(arg)?;
            shutdown(ctx, u64::from(s.reason))
        }
        Some(SchedOp::Poll) => poll(ctx, arg),
        Some(SchedOp::RemoteShutdown) => remote_shutdown(ctx, arg),
        _ => Err(Errno::ENOSYS),
    }
}

/// `sched_op_compat`: the argument of shutdown is the reason itself.
pub fn sched_op_compat(ctx: &mut Ctx<'_>, cmd: u64, arg: u64) -> Result<i64, Errno> {
    let op = u32::try_from(cmd).ok().and_then(|c| SchedOp::try_from(c).ok());
    match op {
        Some(SchedOp::Yield) => Ok(0),
        Some(SchedOp::Block) => block(ctx),
        Some(SchedOp::Shutdown) => shutdown(ctx, arg),
        _ => Err(Errno::ENOSYS),
    }
}
