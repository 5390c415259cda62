// SPDX-License-Identifier: GPL-2.0-only
//! `sched_op(cmd, arg)` and the older `sched_op_compat(cmd, arg)`.
//!
//! Yield and block are recorded on the vCPU for the machine layer's
//! scheduler; shutdown marks the domain with its reason (for dom0 the
//! machine layer then powers off, reboots or reports the crash).

use guest_abi::sched::{SchedOp, SchedShutdown};
use guest_abi::xen::Errno;

use crate::pv::ctx::Ctx;
use crate::pv::domain::ShutdownReason;

fn shutdown(ctx: &mut Ctx<'_>, reason: u64) -> Result<i64, Errno> {
    let r = u32::try_from(reason).ok().and_then(ShutdownReason::from_code).ok_or(Errno::EINVAL)?;
    if ctx.dom.shutdown.is_none() {
        ctx.dom.shutdown = Some(r);
    }
    Ok(0)
}

/// `sched_op`.
pub fn sched_op(ctx: &mut Ctx<'_>, cmd: u64, arg: u64) -> Result<i64, Errno> {
    let op = u32::try_from(cmd).ok().and_then(|c| SchedOp::try_from(c).ok());
    match op {
        Some(SchedOp::Yield) => Ok(0),
        Some(SchedOp::Block) => {
            ctx.v().blocked = true;
            Ok(0)
        }
        Some(SchedOp::Shutdown) => {
            let s: SchedShutdown = ctx.read(arg)?;
            shutdown(ctx, u64::from(s.reason))
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// `sched_op_compat`: the argument of shutdown is the reason itself.
pub fn sched_op_compat(ctx: &mut Ctx<'_>, cmd: u64, arg: u64) -> Result<i64, Errno> {
    let op = u32::try_from(cmd).ok().and_then(|c| SchedOp::try_from(c).ok());
    match op {
        Some(SchedOp::Yield) => Ok(0),
        Some(SchedOp::Block) => {
            ctx.v().blocked = true;
            Ok(0)
        }
        Some(SchedOp::Shutdown) => shutdown(ctx, arg),
        _ => Err(Errno::ENOSYS),
    }
}
