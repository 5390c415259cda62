// SPDX-License-Identifier: GPL-2.0-only
//! vCPU payloads: count, register context, run state and affinity.
//!
//! The register context itself is not in the envelope: the payload of
//! `XEN_DOMCTL_{set,get}vcpucontext` points at a
//! [`crate::xen::VcpuGuestContext`] (`vcpu_guest_context_t`, 5168 bytes on
//! x86_64) in the caller's memory.

use super::XenctlBitmap;
use crate::xen::VcpuId;
use bytemuck::{Pod, Zeroable};

/// Payload of `XEN_DOMCTL_max_vcpus` (`struct xen_domctl_max_vcpus`).
#[doc(alias = "xen_domctl_max_vcpus")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlMaxVcpus {
    /// IN: number of vCPUs; must equal `createdomain`'s `max_vcpus`.
    pub max: u32,
}
abi_layout!(XenDomctlMaxVcpus: size 4, max @ 0);

/// Payload of `XEN_DOMCTL_setvcpucontext` and `getvcpucontext`
/// (`struct xen_domctl_vcpucontext`).
#[doc(alias = "xen_domctl_vcpucontext")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlVcpucontext {
    /// IN: vCPU whose context is loaded or read.
    pub vcpu: VcpuId,
    /// Padding; zero.
    pub pad: u32,
    /// IN (set) / OUT (get): guest address of a
    /// [`crate::xen::VcpuGuestContext`]
    /// (`XEN_GUEST_HANDLE_64(vcpu_guest_context_t)`); for set, 0 resets the
    /// vCPU to its initial state.
    pub ctxt: u64,
}
abi_layout!(XenDomctlVcpucontext: size 16, vcpu @ 0, pad @ 4, ctxt @ 8);

/// Payload of `XEN_DOMCTL_getvcpuinfo` (`struct xen_domctl_getvcpuinfo`).
#[doc(alias = "xen_domctl_getvcpuinfo")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlGetvcpuinfo {
    /// IN: vCPU queried.
    pub vcpu: VcpuId,
    /// OUT: non-zero if the vCPU is up (not hot-unplugged).
    pub online: u8,
    /// OUT: non-zero if it is blocked waiting for an event.
    pub blocked: u8,
    /// OUT: non-zero if it is running on a physical CPU now.
    pub running: u8,
    /// Padding; zero.
    pub pad0: u8,
    /// OUT: CPU time consumed, in nanoseconds.
    pub cpu_time: u64,
    /// OUT: physical CPU it runs or last ran on.
    pub cpu: u32,
    /// Padding; zero.
    pub pad1: u32,
}
abi_layout!(XenDomctlGetvcpuinfo: size 24,
    vcpu @ 0, online @ 4, blocked @ 5, running @ 6, pad0 @ 7, cpu_time @ 8, cpu @ 16, pad1 @ 20);

/// Payload of `XEN_DOMCTL_setnodeaffinity` and `getnodeaffinity`
/// (`struct xen_domctl_nodeaffinity`).
#[doc(alias = "xen_domctl_nodeaffinity")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlNodeaffinity {
    /// IN: buffer holding (set) or receiving (get) the NUMA node mask.
    pub nodemap: XenctlBitmap,
}
abi_layout!(XenDomctlNodeaffinity: size 16, nodemap @ 0);

/// [`XenDomctlVcpuaffinity::flags`]: operate on the hard affinity (where
/// the vCPU may run).
pub const XEN_VCPUAFFINITY_HARD: u32 = 1 << 0;
/// Operate on the soft affinity (where the vCPU prefers to run).
pub const XEN_VCPUAFFINITY_SOFT: u32 = 1 << 1;
/// Drop a temporary pin made with `SCHEDOP_pin_override`.
pub const XEN_VCPUAFFINITY_FORCE: u32 = 1 << 2;

/// Payload of `XEN_DOMCTL_setvcpuaffinity` and `getvcpuaffinity`
/// (`struct xen_domctl_vcpuaffinity`).
#[doc(alias = "xen_domctl_vcpuaffinity")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlVcpuaffinity {
    /// IN: vCPU concerned.
    pub vcpu: VcpuId,
    /// IN: `XEN_VCPUAFFINITY_*`, which of the two masks to act on.
    pub flags: u32,
    /// IN/OUT (set: the requested mask, then the effective one) or OUT
    /// (get: the mask as last set): hard affinity CPU mask.
    pub cpumap_hard: XenctlBitmap,
    /// IN/OUT or OUT, as `cpumap_hard`: soft affinity CPU mask.
    pub cpumap_soft: XenctlBitmap,
}
abi_layout!(XenDomctlVcpuaffinity: size 40,
    vcpu @ 0, flags @ 4, cpumap_hard @ 8, cpumap_hard.bitmap @ 8, cpumap_hard.nr_bits @ 16,
    cpumap_soft @ 24, cpumap_soft.bitmap @ 24, cpumap_soft.nr_bits @ 32);
