// SPDX-License-Identifier: GPL-2.0-only
//! Domain list and CPU pool payloads.
//!
//! [`XenSysctlGetdomaininfolist`] fills an array of
//! [`crate::domctl::XenDomctlGetdomaininfo`]; [`XenSysctlCpupoolOp`]
//! creates, inspects and reshapes CPU pools ([`SysctlCpupoolOp`]).

use super::XenctlBitmap;
use crate::xen::DomId;
use bytemuck::{Pod, Zeroable};

/// Payload of `XEN_SYSCTL_getdomaininfolist`
/// (`struct xen_sysctl_getdomaininfolist`).
#[doc(alias = "xen_sysctl_getdomaininfolist")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlGetdomaininfolist {
    /// IN: lowest domain id to report.
    pub first_domain: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// IN: number of elements in `buffer`.
    pub max_domains: u32,
    /// IN: guest address of an array of
    /// [`crate::domctl::XenDomctlGetdomaininfo`]
    /// (`XEN_GUEST_HANDLE_64(xen_domctl_getdomaininfo_t)`).
    pub buffer: u64,
    /// OUT: number of elements written.
    pub num_domains: u32,
    /// Padding; zero.
    pub pad1: u32,
}
abi_layout!(XenSysctlGetdomaininfolist: size 24,
    first_domain @ 0, pad0 @ 2, max_domains @ 4, buffer @ 8, num_domains @ 16, pad1 @ 20);

abi_enum! {
    /// Sub-commands of `XEN_SYSCTL_cpupool_op`
    /// (`XEN_SYSCTL_CPUPOOL_OP_*`), [`XenSysctlCpupoolOp::op`].
    pub enum SysctlCpupoolOp: u32 {
        /// Create a pool. IN: `cpupool_id` (or
        /// [`XEN_SYSCTL_CPUPOOL_PAR_ANY`]), `sched_id`; OUT: `cpupool_id`.
        Create = 1 => "XEN_SYSCTL_CPUPOOL_OP_CREATE",
        /// Destroy an empty pool. IN: `cpupool_id`.
        Destroy = 2 => "XEN_SYSCTL_CPUPOOL_OP_DESTROY",
        /// Describe the first pool with id ≥ `cpupool_id`. OUT:
        /// `cpupool_id`, `sched_id`, `n_dom`, `cpumap`.
        Info = 3 => "XEN_SYSCTL_CPUPOOL_OP_INFO",
        /// Add a free CPU to a pool. IN: `cpupool_id`, `cpu` (or
        /// [`XEN_SYSCTL_CPUPOOL_PAR_ANY`]).
        Addcpu = 4 => "XEN_SYSCTL_CPUPOOL_OP_ADDCPU",
        /// Remove a CPU from a pool. IN: `cpupool_id`, `cpu` (or
        /// [`XEN_SYSCTL_CPUPOOL_PAR_ANY`]).
        Rmcpu = 5 => "XEN_SYSCTL_CPUPOOL_OP_RMCPU",
        /// Move a domain to a pool. IN: `cpupool_id`, `domid`.
        Movedomain = 6 => "XEN_SYSCTL_CPUPOOL_OP_MOVEDOMAIN",
        /// CPUs in no pool. OUT: `cpumap`.
        Freeinfo = 7 => "XEN_SYSCTL_CPUPOOL_OP_FREEINFO",
    }
}

/// "Any" for [`XenSysctlCpupoolOp::cpupool_id`] (create: pick an id) and
/// [`XenSysctlCpupoolOp::cpu`] (add/remove: pick a CPU).
pub const XEN_SYSCTL_CPUPOOL_PAR_ANY: u32 = 0xFFFF_FFFF;

/// Payload of `XEN_SYSCTL_cpupool_op` (`struct xen_sysctl_cpupool_op`).
/// Which fields are IN or OUT depends on `op` (see [`SysctlCpupoolOp`]).
#[doc(alias = "xen_sysctl_cpupool_op")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlCpupoolOp {
    /// IN: a [`SysctlCpupoolOp`] number.
    pub op: u32,
    /// IN (create, destroy, info, addcpu, rmcpu, movedomain) / OUT (create,
    /// info): pool id.
    pub cpupool_id: u32,
    /// IN (create) / OUT (info): a [`crate::domctl::XenScheduler`] number.
    pub sched_id: u32,
    /// IN (movedomain): domain to move (a `domid_t` widened to 32 bits).
    pub domid: u32,
    /// IN (addcpu, rmcpu): physical CPU.
    pub cpu: u32,
    /// OUT (info): number of domains in the pool.
    pub n_dom: u32,
    /// OUT (info, freeinfo): the pool's (or the free) CPUs, written to the
    /// caller's buffer.
    pub cpumap: XenctlBitmap,
}
abi_layout!(XenSysctlCpupoolOp: size 40,
    op @ 0, cpupool_id @ 4, sched_id @ 8, domid @ 12, cpu @ 16, n_dom @ 20, cpumap @ 24,
    cpumap.bitmap @ 24, cpumap.nr_bits @ 32);
