// SPDX-License-Identifier: GPL-2.0-only
//! `HYPERVISOR_vcpu_op(cmd, vcpuid, arg)` (Xen's `do_vcpu_op`).
//!
//! The vCPU id is checked first: an id past the domain's last vCPU is
//! `-ENOENT` before anything else is looked at (Linux probes thousands of
//! ids with `VCPUOP_is_up`). The periodic timer may be set on any vCPU of
//! the domain; the single-shot timer only on the calling one (`-EINVAL`
//! for another one), as in Xen. Operations not handled yet
//! are `-ENOSYS`, as `arch_do_vcpu_op` answers unknown commands.

use guest_abi::vcpu::{VCPU_SSHOTTMR_future, VcpuOp, VcpuSetPeriodicTimer, VcpuSetSingleshotTimer};
use guest_abi::xen::Errno;

use crate::pv::ctx::Ctx;
use crate::pv::time;

/// `vcpu_op(cmd, vcpuid, arg)`.
pub fn vcpu_op(ctx: &mut Ctx<'_>, cmd: u64, vcpuid: u64, arg: u64) -> Result<i64, Errno> {
    let index = usize::try_from(vcpuid & 0xffff_ffff).map_err(|_| Errno::ENOENT)?;
    if index >= ctx.dom.vcpus.len() {
        return Err(Errno::ENOENT);
    }
    let Some(op) = u32::try_from(cmd).ok().and_then(|c| VcpuOp::try_from(c).ok()) else {
        return Err(Errno::ENOSYS);
    };
    let current = index == ctx.vcpu;
    match op {
        // Every vCPU a domain has here is up (no VCPUOP_down yet).
        VcpuOp::IsUp => Ok(1),
        VcpuOp::SetPeriodicTimer => {
            let set: VcpuSetPeriodicTimer = ctx.read(arg)?;
            time::set_periodic(ctx, index, set.period_ns)
        }
        VcpuOp::StopPeriodicTimer => time::stop_periodic(ctx, index),
        VcpuOp::SetSingleshotTimer => {
            if !current {
                return Err(Errno::EINVAL);
            }
            let set: VcpuSetSingleshotTimer = ctx.read(arg)?;
            time::set_singleshot(ctx, set.timeout_abs_ns, set.flags & VCPU_SSHOTTMR_future)
        }
        VcpuOp::StopSingleshotTimer => {
            if !current {
                return Err(Errno::EINVAL);
            }
            time::stop_singleshot(ctx)
        }
        _ => Err(Errno::ENOSYS),
    }
}
