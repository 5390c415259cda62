// SPDX-License-Identifier: GPL-2.0-only
//! vCPU commands: `max_vcpus`, `getvcpuinfo`, `setvcpuaffinity`,
//! `getvcpuaffinity`, `setvcpucontext`, `getvcpucontext`.
//!
//! A vCPU number at or above the domain's `max_vcpus` is `-EINVAL` (every
//! vCPU below it exists). Affinity follows `vcpu_affinity_domctl`: `flags`
//! must name a mask and each named mask a buffer (`-EINVAL`); a new hard
//! affinity must include an online CPU (`-EINVAL`); what the vCPU
//! effectively gets (the mask within the online CPUs, the soft one also
//! within the hard one) is written back into the caller's buffers. The
//! masks are stored in the vCPU ([`Vcpu::affinity_hard`],
//! [`Vcpu::affinity_soft`]) for the scheduler; today the machine layer
//! still pins dom0's vCPU `i` on CPU `i`.
//!
//! `setvcpucontext` reads the context from the caller and loads it with
//! the one validator [`set_info_guest`] (shared with `VCPUOP_initialise`),
//! then applies `VGCF_online`; a null context resets the vCPU (`vcpu_reset`:
//! tables, GDT and LDT released, down, no context). The target may not be
//! the caller (`-EINVAL`, Xen cannot pause itself). Deviation: Xen pauses
//! the domain around the load; here a vCPU that already has a context may
//! only be changed while the controller keeps the domain paused
//! (`-EBUSY` otherwise), since its live registers would be elsewhere.
//!
//! [`Vcpu::affinity_hard`]: crate::common::domain::Vcpu::affinity_hard
//! [`Vcpu::affinity_soft`]: crate::common::domain::Vcpu::affinity_soft
//! [`set_info_guest`]: crate::pv::hypercall::vcpu_context::set_info_guest

use guest_abi::domctl::{
    DomctlCmd, XEN_VCPUAFFINITY_HARD, XEN_VCPUAFFINITY_SOFT, XenDomctl, XenDomctlGetvcpuinfo,
    XenDomctlMaxVcpus, XenDomctlVcpuaffinity, XenDomctlVcpucontext,
};
use guest_abi::vcpu::RunState;
use guest_abi::xen::{Errno, VGCF_online};

use super::bitmap::{read_cpumask, write_cpumask};
use super::teardown::vcpu_release;
use super::{payload, set_payload};
use crate::common::domain::Domain;
use crate::mm::pv::PvMm;
use crate::pv::ctx::Ctx;
use crate::pv::hypercall::vcpu_context::{get_info_guest, read_context, set_info_guest};
use crate::sched::CpuMask;

/// The index of vCPU `id` of `d`; `-EINVAL` beyond `max_vcpus` or before
/// `XEN_DOMCTL_max_vcpus` created the vCPUs.
fn vcpu_index(d: &Domain, id: u32) -> Result<usize, Errno> {
    let i = usize::try_from(id).map_err(|_| Errno::EINVAL)?;
    if d.vcpus_created && i < d.vcpus.len() { Ok(i) } else { Err(Errno::EINVAL) }
}

/// `XEN_DOMCTL_max_vcpus`: must equal the `max_vcpus` given at creation,
/// and not be the caller's own domain (`-EINVAL`); creates the vCPUs for
/// the toolstack (Xen 4.17's `vcpu_create` loop; a repeat changes nothing).
pub fn max_vcpus(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    if op.domain == ctx.dom.id {
        return Err(Errno::EINVAL);
    }
    let arg: XenDomctlMaxVcpus = payload(op)?;
    ctx.with_target(op.domain, |t| {
        if usize::try_from(arg.max).ok() == Some(t.target.vcpus.len()) {
            t.target.vcpus_created = true;
            Ok(0)
        } else {
            Err(Errno::EINVAL)
        }
    })?
}

/// `XEN_DOMCTL_getvcpuinfo`.
pub fn getvcpuinfo(ctx: &mut Ctx<'_>, op: &mut XenDomctl) -> Result<i64, Errno> {
    let mut arg: XenDomctlGetvcpuinfo = payload(op)?;
    let now = ctx.platform.now_ns();
    ctx.with_target(op.domain, |t| {
        let i = vcpu_index(t.target, arg.vcpu.0)?;
        let v = t.target.vcpus.get(i).ok_or(Errno::EINVAL)?;
        arg.online = u8::from(!v.down);
        arg.blocked = u8::from(v.blocked);
        arg.running = u8::from(v.runstate.state == RunState::Running);
        arg.cpu_time = v.runstate.info(now).time[0];
        arg.cpu = v.processor;
        Ok(())
    })??;
    set_payload(op, &arg);
    Ok(0)
}

/// `XEN_DOMCTL_setvcpuaffinity` and `XEN_DOMCTL_getvcpuaffinity`.
pub fn vcpuaffinity(ctx: &mut Ctx<'_>, cmd: DomctlCmd, op: &XenDomctl) -> Result<i64, Errno> {
    let arg: XenDomctlVcpuaffinity = payload(op)?;
    let nr_cpus = ctx.platform.host_info().nr_cpus;
    let online = CpuMask::first_n(nr_cpus);
    let hard = arg.flags & XEN_VCPUAFFINITY_HARD != 0;
    let soft = arg.flags & XEN_VCPUAFFINITY_SOFT != 0;
    ctx.with_target(op.domain, |t| {
        let i = vcpu_index(t.target, arg.vcpu.0)?;
        if arg.flags == 0
            || (hard && arg.cpumap_hard.bitmap == 0)
            || (soft && arg.cpumap_soft.bitmap == 0)
        {
            return Err(Errno::EINVAL);
        }
        let v = t.target.vcpus.get(i).ok_or(Errno::EINVAL)?;
        let (old_hard, old_soft) = (v.affinity_hard, v.affinity_soft);
        if cmd == DomctlCmd::Getvcpuaffinity {
            if hard {
                write_cpumask(|a, b| t.copy_to_guest(a, b), &arg.cpumap_hard, old_hard, nr_cpus)?;
            }
            if soft {
                write_cpumask(|a, b| t.copy_to_guest(a, b), &arg.cpumap_soft, old_soft, nr_cpus)?;
            }
            return Ok(0);
        }
        let mut new_hard = old_hard;
        if hard {
            let m = read_cpumask(|a, b| t.copy_from_guest(a, b), &arg.cpumap_hard, nr_cpus)?;
            if !m.intersects(online) {
                return Err(Errno::EINVAL);
            }
            new_hard = m;
            set_affinity(t.target, i, Some(m), None);
            write_cpumask(|a, b| t.copy_to_guest(a, b), &arg.cpumap_hard, online.and(m), nr_cpus)?;
        }
        if soft {
            let m = match read_cpumask(|a, b| t.copy_from_guest(a, b), &arg.cpumap_soft, nr_cpus) {
                Ok(m) => m,
                Err(e) => {
                    // The caller expects nothing changed: roll hard back.
                    set_affinity(t.target, i, Some(old_hard), None);
                    return Err(e);
                }
            };
            set_affinity(t.target, i, None, Some(m));
            let eff = m.and(online).and(new_hard);
            write_cpumask(|a, b| t.copy_to_guest(a, b), &arg.cpumap_soft, eff, nr_cpus)?;
        }
        Ok(0)
    })?
}

/// Stores vCPU `i`'s masks and asks the machine layer to look at it.
fn set_affinity(d: &mut Domain, i: usize, hard: Option<CpuMask>, soft: Option<CpuMask>) {
    if let Some(v) = d.vcpus.get_mut(i) {
        if let Some(h) = hard {
            v.affinity_hard = h;
        }
        if let Some(s) = soft {
            v.affinity_soft = s;
        }
    }
    d.kick(i);
}

/// `XEN_DOMCTL_setvcpucontext` (see the module documentation).
pub fn setvcpucontext(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let arg: XenDomctlVcpucontext = payload(op)?;
    if op.domain == ctx.dom.id {
        return Err(Errno::EINVAL);
    }
    // Bounds first, as Xen (before reading the context).
    ctx.with_target(op.domain, |t| vcpu_index(t.target, arg.vcpu.0))??;
    if arg.ctxt == 0 {
        ctx.with_target(op.domain, |t| {
            let i = vcpu_index(t.target, arg.vcpu.0)?;
            let mut mm = PvMm::new(t.frames, t.mem, t.m2p, t.hooks);
            if let Some(v) = t.target.vcpus.get_mut(i) {
                vcpu_release(&mut mm, v, false);
            }
            Ok(0)
        })?
    } else {
        let c = read_context(|buf| ctx.copy_from_guest(arg.ctxt, buf))?;
        ctx.with_target(op.domain, |t| {
            let i = vcpu_index(t.target, arg.vcpu.0)?;
            let d = &mut *t.target;
            let initialised = d.vcpus.get(i).is_some_and(|v| v.initialised);
            if initialised && d.pause_count == 0 {
                return Err(Errno::EBUSY);
            }
            let mut mm = PvMm::new(t.frames, t.mem, t.m2p, t.hooks);
            set_info_guest(d, &mut mm, i, c.get())?;
            if let Some(v) = d.vcpus.get_mut(i) {
                v.down = c.get().flags & VGCF_online == 0;
            }
            d.kick(i);
            Ok(0)
        })?
    }
}

/// `XEN_DOMCTL_getvcpucontext`: `-EINVAL` for the calling vCPU itself,
/// `-ENODATA` for a vCPU without a context, `-EFAULT` when the caller's
/// buffer cannot take it.
pub fn getvcpucontext(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let arg: XenDomctlVcpucontext = payload(op)?;
    let me = (ctx.dom.id, ctx.vcpu);
    ctx.with_target(op.domain, |t| {
        let i = vcpu_index(t.target, arg.vcpu.0)?;
        if (t.target.id, i) == me {
            return Err(Errno::EINVAL);
        }
        let v = t.target.vcpus.get(i).ok_or(Errno::EINVAL)?;
        if !v.initialised {
            return Err(Errno::ENODATA);
        }
        let c = get_info_guest(t.target, v);
        t.copy_to_guest(arg.ctxt, c.bytes()).map_err(|_| Errno::EFAULT)?;
        Ok(0)
    })?
}
