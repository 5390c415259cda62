// SPDX-License-Identifier: GPL-2.0-only
//! `HYPERVISOR_vcpu_op(cmd, vcpuid, arg)` (Xen's `do_vcpu_op`).
//!
//! The vCPU id is checked first: an id past the domain's last vCPU is
//! `-ENOENT` before anything else is looked at (Linux probes thousands of
//! ids with `VCPUOP_is_up`). The periodic timer may be set on any vCPU of
//! the domain; the single-shot timer only on the calling one (`-EINVAL`
//! for another one), as in Xen. `VCPUOP_down` of the last vCPU that is
//! up powers the domain off, as in Xen. Not handled yet, `-ENOSYS` (as
//! `arch_do_vcpu_op` answers unknown commands), all tolerated by Linux:
//! `initialise` (no second vCPU yet), `register_vcpu_info` (the
//! `shared_info` slot stays in use), `register_vcpu_time_memory_area`,
//! `send_nmi`, `get_physid` and the physical-area variants.

use guest_abi::vcpu::{
    VCPU_SSHOTTMR_future, VcpuOp, VcpuRegisterRunstateMemoryArea, VcpuRunstateInfo,
    VcpuSetPeriodicTimer, VcpuSetSingleshotTimer,
};
use guest_abi::xen::Errno;

use crate::mm::pv::addr_ok;
use crate::pv::ctx::Ctx;
use crate::pv::domain::ShutdownReason;
use crate::pv::{runstate, time};

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
        VcpuOp::IsUp => Ok(i64::from(!ctx.dom.vcpus.get(index).is_some_and(|v| v.down))),
        VcpuOp::Up => {
            // Every vCPU here was initialised by the builder.
            if let Some(v) = ctx.dom.vcpus.get_mut(index) {
                v.down = false;
            }
            Ok(0)
        }
        VcpuOp::Down => {
            let others_up = ctx.dom.vcpus.iter().enumerate().any(|(i, v)| i != index && !v.down);
            if !others_up {
                // The last vCPU going down powers the domain off (Xen).
                if ctx.dom.shutdown.is_none() {
                    ctx.dom.shutdown = Some(ShutdownReason::Poweroff);
                }
                return Ok(0);
            }
            if let Some(v) = ctx.dom.vcpus.get_mut(index) {
                v.down = true;
            }
            Ok(0)
        }
        VcpuOp::GetRunstateInfo => {
            let now = ctx.platform.now_ns();
            let info = ctx.dom.vcpus.get(index).map(|v| v.runstate.info(now));
            let info = info.ok_or(Errno::ENOENT)?;
            ctx.write(arg, &info)?;
            Ok(0)
        }
        VcpuOp::RegisterRunstateMemoryArea => {
            let area: VcpuRegisterRunstateMemoryArea = ctx.read(arg)?;
            // guest_handle_okay: the whole area must lie in guest space.
            const LAST: u64 = core::mem::size_of::<VcpuRunstateInfo>() as u64 - 1;
            let end = area.addr.checked_add(LAST);
            if area.addr != 0 && !end.is_some_and(|e| addr_ok(area.addr) && addr_ok(e)) {
                return Err(Errno::EFAULT);
            }
            let now = ctx.platform.now_ns();
            if let Some(v) = ctx.dom.vcpus.get_mut(index) {
                v.runstate_guest = (area.addr != 0).then_some(area.addr);
            }
            runstate::update_area(ctx.dom, ctx.mem, index, now);
            Ok(0)
        }
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
