// SPDX-License-Identifier: GPL-2.0-only
//! `HYPERVISOR_vcpu_op(cmd, vcpuid, arg)` (Xen's `do_vcpu_op`).
//!
//! The vCPU id is checked first: an id past the domain's last vCPU is
//! `-ENOENT` before anything else is looked at (Linux probes thousands of
//! ids with `VCPUOP_is_up`). The periodic timer may be set on any vCPU of
//! the domain; the single-shot timer only on the calling one (`-EINVAL`
//! for another one), as in Xen. `VCPUOP_down` of the last vCPU that is
//! up powers the domain off, as in Xen. `initialise` is in
//! [`super::vcpu_context`]; `up` needs an initialised vCPU (`-EINVAL`).
//! `register_vcpu_time_memory_area` records the vDSO's secondary
//! `vcpu_time_info` (see [`crate::pv::time`]). Not handled yet, `-ENOSYS`
//! (as `arch_do_vcpu_op` answers unknown commands), all tolerated by
//! Linux: `send_nmi`, `get_physid` and the physical-area variants.

use guest_abi::vcpu::{
    VcpuOp, VcpuRegisterRunstateMemoryArea, VcpuRegisterTimeMemoryArea, VcpuRegisterVcpuInfo,
    VcpuRunstateInfo, VcpuSetPeriodicTimer, VcpuSetSingleshotTimer,
};
use guest_abi::xen::Errno;

use crate::common::domain::ShutdownReason;
use crate::common::event_channel::two_level::{self, VcpuInfoRef};
use crate::common::runstate;
use crate::mm::Mfn;
use crate::mm::pv::{PageType, addr_ok};
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
        VcpuOp::IsUp => Ok(i64::from(!ctx.dom.vcpus.get(index).is_some_and(|v| v.down))),
        VcpuOp::Initialise => super::vcpu_context::initialise(ctx, index, arg),
        VcpuOp::Up => {
            let v = ctx.dom.vcpus.get_mut(index).ok_or(Errno::ENOENT)?;
            if !v.initialised {
                return Err(Errno::EINVAL);
            }
            if core::mem::replace(&mut v.down, false) {
                // Runnable until its CPU picks it up.
                let now = ctx.platform.now_ns();
                if let Some(v) = ctx.dom.vcpus.get_mut(index) {
                    runstate::change(v, guest_abi::vcpu::RunState::Runnable, now);
                }
                ctx.dom.kick(index);
            }
            Ok(0)
        }
        VcpuOp::Down => {
            let others_up = ctx.dom.vcpus.iter().enumerate().any(|(i, v)| i != index && !v.down);
            if !others_up {
                // The last vCPU going down powers the domain off (Xen).
                ctx.shutdown_domain(ShutdownReason::Poweroff);
                return Ok(0);
            }
            if let Some(v) = ctx.dom.vcpus.get_mut(index) {
                v.down = true;
            }
            ctx.dom.kick(index);
            Ok(0)
        }
        VcpuOp::GetRunstateInfo => {
            let now = ctx.platform.now_ns();
            let info = ctx.dom.vcpus.get(index).map(|v| v.runstate.info(now));
            let info = info.ok_or(Errno::ENOENT)?;
            ctx.write(arg, &info)?;
            Ok(0)
        }
        VcpuOp::RegisterVcpuInfo => {
            let info: VcpuRegisterVcpuInfo = ctx.read(arg)?;
            register_vcpu_info(ctx, index, info.mfn.0, info.offset)
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
        VcpuOp::RegisterVcpuTimeMemoryArea => register_vcpu_time_memory_area(ctx, index, arg),
        VcpuOp::SetSingleshotTimer => {
            if !current {
                return Err(Errno::EINVAL);
            }
            let set: VcpuSetSingleshotTimer = ctx.read(arg)?;
            time::set_singleshot(ctx, set.timeout_abs_ns)
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

/// Size of a `vcpu_info`.
const VCPU_INFO_SIZE: usize = core::mem::size_of::<guest_abi::xen::VcpuInfo>();

/// `VCPUOP_register_vcpu_info` (Xen's `map_vcpu_info`): move vCPU `index`'s
/// `vcpu_info` to `offset` in the caller's frame `mfn`, which keeps a
/// `Writable` type reference for good. Refused with `-EINVAL`: an area
/// crossing the page end, a second registration, another vCPU that is not
/// down, a frame the domain does not own or that cannot be writable — and,
/// unlike Xen, an offset that is not 8-byte aligned (Linux aligns it). The
/// current contents move along; then every selector bit and the upcall flag
/// are set so that no event is lost (the guest sees one spurious upcall).
fn register_vcpu_info(
    ctx: &mut Ctx<'_>,
    index: usize,
    mfn: u64,
    offset: u32,
) -> Result<i64, Errno> {
    let offset = usize::try_from(offset).map_err(|_| Errno::EINVAL)?;
    if offset > 4096 - VCPU_INFO_SIZE || !offset.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let v = ctx.dom.vcpus.get(index).ok_or(Errno::ENOENT)?;
    if v.vcpu_info.is_some() || (index != ctx.vcpu && !v.down) {
        return Err(Errno::EINVAL);
    }
    let id = v.id;
    let frame = Mfn(mfn);
    let dom = ctx.dom.id;
    ctx.mm().get_page_and_type(frame, dom, PageType::Writable).map_err(|_| Errno::EINVAL)?;
    let mut old = [0u8; VCPU_INFO_SIZE];
    match ctx.dom.vcpu_info_ref(id) {
        Some(cur) => ctx.mem.read_bytes(cur.frame, cur.offset, &mut old),
        None => {
            // A fresh vcpu_info starts with events masked.
            if let Some(mask) = old.get_mut(1) {
                *mask = 1;
            }
        }
    }
    ctx.mem.write_bytes(frame, offset, &old);
    let new = VcpuInfoRef { frame, offset };
    if let Some(v) = ctx.dom.vcpus.get_mut(index) {
        v.vcpu_info = Some(new);
    }
    two_level::set_all_pending_sel(ctx.mem, new);
    let _ = two_level::test_and_set_upcall_pending(ctx.mem, Some(new));
    Ok(0)
}

/// `VCPUOP_register_vcpu_time_memory_area`: vCPU `index` gets a secondary
/// `vcpu_time_info` at a guest-virtual address (Linux's vDSO pvclock
/// page), kept up to date with the main one and filled at once (Xen's
/// `force_update_vcpu_system_time`). `-EFAULT` for an unreadable argument
/// or an area outside guest space; a NULL address unregisters. Writes
/// that fault later are ignored, as in Xen.
fn register_vcpu_time_memory_area(ctx: &mut Ctx<'_>, index: usize, arg: u64) -> Result<i64, Errno> {
    let area: VcpuRegisterTimeMemoryArea = ctx.read(arg)?;
    // guest_handle_okay: the whole area must lie in guest space.
    const LAST: u64 = core::mem::size_of::<guest_abi::xen::VcpuTimeInfo>() as u64 - 1;
    let end = area.addr.checked_add(LAST);
    if area.addr != 0 && !end.is_some_and(|e| addr_ok(area.addr) && addr_ok(e)) {
        return Err(Errno::EFAULT);
    }
    let v = ctx.dom.vcpus.get_mut(index).ok_or(Errno::ENOENT)?;
    v.arch.time_guest = (area.addr != 0).then_some(area.addr);
    let sample = ctx.platform.clock_sample();
    time::update_vcpu_system_time(ctx.dom, ctx.mem, index, &sample);
    Ok(0)
}
