// SPDX-License-Identifier: GPL-2.0-only
//! `HYPERVISOR_sysctl` (hypercall 35): toolstack host control, as Xen
//! 4.17's `do_sysctl` (`xen/common/sysctl.c`, `arch/x86/sysctl.c`).
//!
//! The 136-byte [`XenSysctl`] is read from the caller (`-EFAULT`), its
//! `interface_version` must be 0x15 (`-EACCES`), [`Xsm::sysctl`] decides
//! (`-EPERM` for a domU under the default policy), then the command runs;
//! unknown or unimplemented commands are `-ENOSYS`. The envelope goes back
//! after a successful command (`-EFAULT` when that fails).
//!
//! * `readconsole`: Xen's `read_console_ring` over the hypervisor's
//!   console ring ([`ConsoleRing::read_console_ring`]): from the oldest
//!   byte, or from `index` when `incremental` and the index is still in
//!   the ring; `count` OUT is the bytes written, `index` OUT the ring
//!   index after them; `clear` then discards what was read (only once the
//!   copy to the caller succeeded).
//! * `physinfo`: CPUs, TSC kHz, memory and the boot CPU's feature words
//!   from [`Platform::host_info`]; capabilities PV and grant tables v1;
//!   one NUMA node, `max_node_id` Xen's `MAX_NUMNODES - 1` (63), as 4.17
//!   reports it; `max_cpu_id` the last CPU; `max_mfn` the last frame the
//!   frame table covers; nothing to scrub; `outstanding_pages` the claims
//!   not yet allocated ([`crate::common::claims`]).
//! * `sched_id`: credit (5), or sEDF (4) when booted with `sched=sedf`.
//! * `getdomaininfolist`: `getdomaininfo` of the domains from
//!   `first_domain` up, at most `max_domains` (and never more than exist).
//! * `getcpuinfo`: idle time per CPU ([`Platform::cpu_idle_time`]; the
//!   machine layer reports 0 until the scheduler accounts idle time), for
//!   at most `max_cpus` CPUs.
//! * `cputopoinfo`, `numainfo`: one socket per [`HostInfo`]'s layout, one
//!   node (distance 10 to itself) holding all memory; a null array asks
//!   for the count.
//! * `cpupool_op`: `INFO` describes pool 0 (all CPUs, the boot scheduler,
//!   every domain; `-ENOENT` past it), `FREEINFO` reports no free CPU; the
//!   pool-changing operations are `-ENOSYS` (there is one pool).
//!
//! [`Xsm::sysctl`]: crate::common::xsm::Xsm::sysctl
//! [`ConsoleRing::read_console_ring`]: crate::console::ring::ConsoleRing::read_console_ring
//! [`Platform::host_info`]: crate::pv::platform::Platform::host_info
//! [`Platform::cpu_idle_time`]: crate::pv::platform::Platform::cpu_idle_time
//! [`HostInfo`]: crate::pv::platform::HostInfo

use alloc::vec::Vec;

use guest_abi::domctl::XenDomctlGetdomaininfo;
use guest_abi::sysctl::{
    SysctlCmd, SysctlCpupoolOp, XEN_SYSCTL_PHYSCAP_gnttab_v1, XEN_SYSCTL_PHYSCAP_gnttab_v2,
    XEN_SYSCTL_PHYSCAP_pv, XenSysctl, XenSysctlCpuinfo, XenSysctlCpupoolOp, XenSysctlCputopo,
    XenSysctlCputopoinfo, XenSysctlGetcpuinfo, XenSysctlGetdomaininfolist, XenSysctlMeminfo,
    XenSysctlNumainfo, XenSysctlPhysinfo, XenSysctlReadconsole, XenSysctlSchedId,
};
use guest_abi::xen::{DomId, Errno};

use super::domctl::bitmap::write_cpumask;
use super::domctl::domain::{domaininfo, next_domain};
use super::domctl::sched::sched_id;
use crate::PAGE_SIZE;
use crate::console::ring::ConsoleRing;
use crate::pv::ctx::Ctx;
use crate::sched::CpuMask;

/// Xen's x86 `MAX_NUMNODES` (`CONFIG_NR_NUMA_NODES`, 64).
pub const MAX_NUMNODES: u32 = 64;
/// `LOCAL_DISTANCE`: a node's distance to itself.
pub const LOCAL_DISTANCE: u32 = 10;

/// `HYPERVISOR_sysctl(u_sysctl)`.
///
/// # Errors
/// See the module documentation.
pub fn do_sysctl(ctx: &mut Ctx<'_>, arg: u64) -> Result<i64, Errno> {
    let mut op: XenSysctl = ctx.read(arg)?;
    if !op.version_ok() {
        return Err(Errno::EACCES);
    }
    ctx.xsm.sysctl(ctx.dom.subject(), op.cmd)?;
    let Ok(cmd) = op.op() else { return Err(Errno::ENOSYS) };
    let ret = match cmd {
        SysctlCmd::Readconsole => readconsole(ctx, &mut op),
        SysctlCmd::Physinfo => physinfo(ctx, &mut op),
        SysctlCmd::SchedId => {
            let id = sched_id(ctx.platform.scheduler()).raw();
            set(&mut op, &XenSysctlSchedId { sched_id: id });
            Ok(0)
        }
        SysctlCmd::Getdomaininfolist => getdomaininfolist(ctx, &mut op),
        SysctlCmd::Getcpuinfo => getcpuinfo(ctx, &mut op),
        SysctlCmd::Cputopoinfo => cputopoinfo(ctx, &mut op),
        SysctlCmd::Numainfo => numainfo(ctx, &mut op),
        SysctlCmd::CpupoolOp => cpupool_op(ctx, &mut op),
        _ => return Err(Errno::ENOSYS),
    }?;
    ctx.write(arg, &op)?;
    Ok(ret)
}

fn get<T: guest_abi::AbiBytes>(op: &XenSysctl) -> Result<T, Errno> {
    op.payload().ok_or(Errno::EINVAL)
}

fn set<T: guest_abi::AbiBytes>(op: &mut XenSysctl, value: &T) {
    let _ = op.set_payload(value);
}

/// `XEN_SYSCTL_readconsole`.
fn readconsole(ctx: &mut Ctx<'_>, op: &mut XenSysctl) -> Result<i64, Errno> {
    let mut rc: XenSysctlReadconsole = get(op)?;
    let r = ctx.platform.console_ring_read(rc.incremental != 0, rc.index, rc.count);
    if !r.bytes.is_empty() {
        ctx.copy_to_guest(rc.buffer, &r.bytes)?;
    }
    if rc.clear != 0 {
        ctx.platform.console_ring_clear(r.next);
    }
    rc.count = u32::try_from(r.bytes.len()).unwrap_or(u32::MAX);
    rc.index = ConsoleRing::index32(r.next);
    set(op, &rc);
    Ok(0)
}

/// `XEN_SYSCTL_physinfo`.
fn physinfo(ctx: &mut Ctx<'_>, op: &mut XenSysctl) -> Result<i64, Errno> {
    let h = ctx.platform.host_info();
    let mut pi: XenSysctlPhysinfo = bytemuck::Zeroable::zeroed();
    pi.threads_per_core = h.threads_per_core.max(1);
    pi.cores_per_socket = h.cores_per_socket.max(1);
    pi.nr_cpus = h.nr_cpus;
    pi.max_cpu_id = h.nr_cpus.saturating_sub(1);
    pi.nr_nodes = 1;
    pi.max_node_id = MAX_NUMNODES.saturating_sub(1);
    pi.cpu_khz = h.cpu_khz;
    // Grant tables up to `opt_gnttab_max_version` (`gnttab=max-ver:`).
    pi.capabilities = XEN_SYSCTL_PHYSCAP_pv | XEN_SYSCTL_PHYSCAP_gnttab_v1;
    if ctx.platform.gnttab_opts().max_version >= 2 {
        pi.capabilities |= XEN_SYSCTL_PHYSCAP_gnttab_v2;
    }
    pi.total_pages = h.total_pages;
    pi.free_pages = h.free_pages;
    pi.scrub_pages = 0;
    pi.outstanding_pages = ctx.claims.outstanding();
    pi.max_mfn = ctx.frames.max_page().saturating_sub(1);
    pi.hw_cap = h.hw_cap;
    set(op, &pi);
    Ok(0)
}

/// Every domain id at or above `from`, in order (the caller and the
/// table's domains).
fn domain_ids_from(ctx: &Ctx<'_>, from: DomId, max: usize) -> Vec<DomId> {
    let mut ids = Vec::new();
    let mut next = Some(from);
    while let Some(at) = next {
        if ids.len() >= max {
            break;
        }
        let Some(id) = next_domain(ctx, at) else { break };
        ids.push(id);
        next = id.0.checked_add(1).map(DomId);
    }
    ids
}

/// `XEN_SYSCTL_getdomaininfolist`.
fn getdomaininfolist(ctx: &mut Ctx<'_>, op: &mut XenSysctl) -> Result<i64, Errno> {
    let mut l: XenSysctlGetdomaininfolist = get(op)?;
    // Never more than exist: the table plus the caller.
    let exist = ctx.domains.len().saturating_add(1);
    let max = usize::try_from(l.max_domains).unwrap_or(usize::MAX).min(exist);
    let ids = domain_ids_from(ctx, l.first_domain, max);
    let paddr_bits = ctx.platform.host_info().paddr_bits;
    let now = ctx.platform.now_ns();
    let size = core::mem::size_of::<XenDomctlGetdomaininfo>() as u64;
    let mut n = 0u32;
    for id in ids {
        let info = ctx.with_target(id, |t| domaininfo(t.target, now, paddr_bits))?;
        let at = l.buffer.wrapping_add(u64::from(n).wrapping_mul(size));
        ctx.write(at, &info)?;
        n = n.saturating_add(1);
    }
    l.num_domains = n;
    set(op, &l);
    Ok(0)
}

/// `XEN_SYSCTL_getcpuinfo`.
fn getcpuinfo(ctx: &mut Ctx<'_>, op: &mut XenSysctl) -> Result<i64, Errno> {
    let mut g: XenSysctlGetcpuinfo = get(op)?;
    let nr = g.max_cpus.min(ctx.platform.host_info().nr_cpus);
    for cpu in 0..nr {
        let info = XenSysctlCpuinfo { idletime: ctx.platform.cpu_idle_time(cpu) };
        ctx.write(g.info.wrapping_add(u64::from(cpu).wrapping_mul(8)), &info)?;
    }
    g.nr_cpus = nr;
    set(op, &g);
    Ok(0)
}

/// `XEN_SYSCTL_cputopoinfo`.
fn cputopoinfo(ctx: &mut Ctx<'_>, op: &mut XenSysctl) -> Result<i64, Errno> {
    let mut ti: XenSysctlCputopoinfo = get(op)?;
    let h = ctx.platform.host_info();
    let mut num = h.nr_cpus;
    if ti.cputopo != 0 {
        num = num.min(ti.num_cpus);
        let threads = h.threads_per_core.max(1);
        let cores = h.cores_per_socket.max(1);
        let size = core::mem::size_of::<XenSysctlCputopo>() as u64;
        for cpu in 0..num {
            let topo = XenSysctlCputopo {
                core: cpu.checked_div(threads).and_then(|c| c.checked_rem(cores)).unwrap_or(0),
                socket: cpu.checked_div(threads.saturating_mul(cores)).unwrap_or(0),
                node: 0,
            };
            ctx.write(ti.cputopo.wrapping_add(u64::from(cpu).wrapping_mul(size)), &topo)?;
        }
    }
    ti.num_cpus = num;
    set(op, &ti);
    Ok(0)
}

/// `XEN_SYSCTL_numainfo`.
fn numainfo(ctx: &mut Ctx<'_>, op: &mut XenSysctl) -> Result<i64, Errno> {
    let mut ni: XenSysctlNumainfo = get(op)?;
    let mut num = 1u32;
    if ni.meminfo != 0 || ni.distance != 0 {
        num = num.min(ni.num_nodes);
        let h = ctx.platform.host_info();
        for node in 0..num {
            if ni.meminfo != 0 {
                let m = XenSysctlMeminfo {
                    memsize: h.total_pages.saturating_mul(PAGE_SIZE),
                    memfree: h.free_pages.saturating_mul(PAGE_SIZE),
                };
                ctx.write(ni.meminfo.wrapping_add(u64::from(node).wrapping_mul(16)), &m)?;
            }
            if ni.distance != 0 {
                // Row `node` of a `num` x `num` matrix: one entry here.
                let at = u64::from(node).wrapping_mul(u64::from(num)).wrapping_mul(4);
                ctx.write(ni.distance.wrapping_add(at), &LOCAL_DISTANCE)?;
            }
        }
    }
    ni.num_nodes = num;
    set(op, &ni);
    Ok(0)
}

/// `XEN_SYSCTL_cpupool_op`.
fn cpupool_op(ctx: &mut Ctx<'_>, op: &mut XenSysctl) -> Result<i64, Errno> {
    let mut p: XenSysctlCpupoolOp = get(op)?;
    let nr_cpus = ctx.platform.host_info().nr_cpus;
    match SysctlCpupoolOp::try_from(p.op) {
        Ok(SysctlCpupoolOp::Info) => {
            if p.cpupool_id > 0 {
                return Err(Errno::ENOENT);
            }
            p.cpupool_id = 0;
            p.sched_id = sched_id(ctx.platform.scheduler()).raw();
            let others = ctx.domains.iter_from(DomId(0)).filter(|d| d.id() != ctx.dom.id).count();
            p.n_dom = u32::try_from(others.saturating_add(1)).unwrap_or(u32::MAX);
            let online = CpuMask::first_n(nr_cpus);
            write_cpumask(|a, b| ctx.copy_to_guest(a, b), &p.cpumap, online, nr_cpus)?;
        }
        Ok(SysctlCpupoolOp::Freeinfo) => {
            write_cpumask(|a, b| ctx.copy_to_guest(a, b), &p.cpumap, CpuMask::EMPTY, nr_cpus)?;
        }
        _ => return Err(Errno::ENOSYS),
    }
    set(op, &p);
    Ok(0)
}

#[cfg(test)]
mod tests;
