// SPDX-License-Identifier: GPL-2.0-only
//! Host information payloads: console ring, physinfo, scheduler id, CPU and
//! NUMA topology.
//!
//! The topology queries return arrays in the caller's memory; entries Xen
//! cannot describe hold the `XEN_INVALID_*` sentinels defined here.

use bytemuck::{Pod, Zeroable};

// ---------------------------------------------------------------------------
// XEN_SYSCTL_readconsole
// ---------------------------------------------------------------------------

/// Payload of `XEN_SYSCTL_readconsole` (`struct xen_sysctl_readconsole`).
#[doc(alias = "xen_sysctl_readconsole")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlReadconsole {
    /// IN: non-zero to empty the ring after reading.
    pub clear: u8,
    /// IN: non-zero to start reading at `index` (else at the oldest byte).
    pub incremental: u8,
    /// Padding; zero.
    pub pad0: u8,
    /// Padding; zero.
    pub pad1: u8,
    /// IN: ring index to start from (when `incremental`); OUT: index just
    /// past the last byte returned.
    pub index: u32,
    /// IN: guest address of the destination buffer
    /// (`XEN_GUEST_HANDLE_64(char)`).
    pub buffer: u64,
    /// IN: buffer size; OUT: bytes written.
    pub count: u32,
    /// Padding (C tail padding); zero.
    pub pad2: u32,
}
abi_layout!(XenSysctlReadconsole: size 24,
    clear @ 0, incremental @ 1, pad0 @ 2, pad1 @ 3, index @ 4, buffer @ 8, count @ 16, pad2 @ 20);

// ---------------------------------------------------------------------------
// XEN_SYSCTL_physinfo
// ---------------------------------------------------------------------------

/// [`XenSysctlPhysinfo::capabilities`]: HVM guests are supported.
pub const XEN_SYSCTL_PHYSCAP_hvm: u32 = 1 << 0;
/// PV guests are supported.
pub const XEN_SYSCTL_PHYSCAP_pv: u32 = 1 << 1;
/// Device pass-through through an IOMMU is supported.
pub const XEN_SYSCTL_PHYSCAP_directio: u32 = 1 << 2;
/// Hardware-assisted paging is supported.
pub const XEN_SYSCTL_PHYSCAP_hap: u32 = 1 << 3;
/// Shadow paging is supported.
pub const XEN_SYSCTL_PHYSCAP_shadow: u32 = 1 << 4;
/// The IOMMU can share the HAP page tables.
pub const XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share: u32 = 1 << 5;
/// Processor tracing (vmtrace) is supported.
pub const XEN_SYSCTL_PHYSCAP_vmtrace: u32 = 1 << 6;
/// A virtual PMU can be offered to guests.
pub const XEN_SYSCTL_PHYSCAP_vpmu: u32 = 1 << 7;
/// Grant table ABI version 1 is available.
pub const XEN_SYSCTL_PHYSCAP_gnttab_v1: u32 = 1 << 8;
/// Grant table ABI version 2 is available.
pub const XEN_SYSCTL_PHYSCAP_gnttab_v2: u32 = 1 << 9;
/// Highest defined `XEN_SYSCTL_PHYSCAP_*` bit.
pub const XEN_SYSCTL_PHYSCAP_MAX: u32 = XEN_SYSCTL_PHYSCAP_gnttab_v2;

/// Payload of `XEN_SYSCTL_physinfo` (`struct xen_sysctl_physinfo`). All
/// fields are OUT.
#[doc(alias = "xen_sysctl_physinfo")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlPhysinfo {
    /// OUT: hardware threads per core.
    pub threads_per_core: u32,
    /// OUT: cores per socket.
    pub cores_per_socket: u32,
    /// OUT: CPUs online now.
    pub nr_cpus: u32,
    /// OUT: highest possible CPU id.
    pub max_cpu_id: u32,
    /// OUT: NUMA nodes online now.
    pub nr_nodes: u32,
    /// OUT: highest possible node id.
    pub max_node_id: u32,
    /// OUT: CPU frequency in kHz.
    pub cpu_khz: u32,
    /// OUT: `XEN_SYSCTL_PHYSCAP_*`.
    pub capabilities: u32,
    /// OUT: architecture-specific capability bits (none defined for x86 in
    /// 4.17).
    pub arch_capabilities: u32,
    /// Padding; zero.
    pub pad: u32,
    /// OUT: pages of RAM.
    pub total_pages: u64,
    /// OUT: free pages.
    pub free_pages: u64,
    /// OUT: free pages still to be scrubbed.
    pub scrub_pages: u64,
    /// OUT: pages claimed by domains but not yet allocated.
    pub outstanding_pages: u64,
    /// OUT: highest possible machine frame number.
    pub max_mfn: u64,
    /// OUT: CPU feature words (x86: a subset of the boot CPU's CPUID).
    pub hw_cap: [u32; 8],
}
abi_layout!(XenSysctlPhysinfo: size 112,
    threads_per_core @ 0, cores_per_socket @ 4, nr_cpus @ 8, max_cpu_id @ 12, nr_nodes @ 16,
    max_node_id @ 20, cpu_khz @ 24, capabilities @ 28, arch_capabilities @ 32, pad @ 36,
    total_pages @ 40, free_pages @ 48, scrub_pages @ 56, outstanding_pages @ 64, max_mfn @ 72,
    hw_cap @ 80);

// ---------------------------------------------------------------------------
// XEN_SYSCTL_sched_id
// ---------------------------------------------------------------------------

/// Payload of `XEN_SYSCTL_sched_id` (`struct xen_sysctl_sched_id`).
#[doc(alias = "xen_sysctl_sched_id")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlSchedId {
    /// OUT: a [`crate::domctl::XenScheduler`] number (the default pool's
    /// scheduler).
    pub sched_id: u32,
}
abi_layout!(XenSysctlSchedId: size 4, sched_id @ 0);

// ---------------------------------------------------------------------------
// XEN_SYSCTL_getcpuinfo
// ---------------------------------------------------------------------------

/// One element of the `XEN_SYSCTL_getcpuinfo` array
/// (`xen_sysctl_cpuinfo_t`).
#[doc(alias = "xen_sysctl_cpuinfo")]
#[doc(alias = "xen_sysctl_cpuinfo_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlCpuinfo {
    /// OUT: time the CPU has spent idle, in nanoseconds.
    pub idletime: u64,
}
abi_layout!(XenSysctlCpuinfo: size 8, idletime @ 0);

/// Payload of `XEN_SYSCTL_getcpuinfo` (`struct xen_sysctl_getcpuinfo`).
#[doc(alias = "xen_sysctl_getcpuinfo")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlGetcpuinfo {
    /// IN: number of elements in `info`.
    pub max_cpus: u32,
    /// Padding; zero.
    pub pad0: u32,
    /// IN: guest address of an array of [`XenSysctlCpuinfo`]
    /// (`XEN_GUEST_HANDLE_64(xen_sysctl_cpuinfo_t)`).
    pub info: u64,
    /// OUT: number of elements written.
    pub nr_cpus: u32,
    /// Padding; zero.
    pub pad1: u32,
}
abi_layout!(XenSysctlGetcpuinfo: size 24, max_cpus @ 0, pad0 @ 4, info @ 8, nr_cpus @ 16,
    pad1 @ 20);

// ---------------------------------------------------------------------------
// XEN_SYSCTL_cputopoinfo and XEN_SYSCTL_numainfo
// ---------------------------------------------------------------------------

/// [`XenSysctlCputopo::core`] of a CPU that is not present.
pub const XEN_INVALID_CORE_ID: u32 = !0;
/// [`XenSysctlCputopo::socket`] of a CPU that is not present.
pub const XEN_INVALID_SOCKET_ID: u32 = !0;
/// Node of an absent CPU, or of a PCI device with no known node.
pub const XEN_INVALID_NODE_ID: u32 = !0;
/// Node reported by `XEN_SYSCTL_pcitopoinfo` for a device Xen does not
/// know (`XEN_INVALID_NODE_ID - 1`).
pub const XEN_INVALID_DEV: u32 = XEN_INVALID_NODE_ID - 1;
/// [`XenSysctlMeminfo`] size/free of a node that is not present.
///
/// Xen defines it as `~0U`, a 32-bit all-ones value stored in 64-bit
/// fields, hence `0xffff_ffff` rather than `u64::MAX`.
pub const XEN_INVALID_MEM_SZ: u64 = 0xffff_ffff;
/// Distance entry involving a node that is not present.
pub const XEN_INVALID_NODE_DIST: u32 = !0;

/// One element of the `XEN_SYSCTL_cputopoinfo` array
/// (`xen_sysctl_cputopo_t`).
#[doc(alias = "xen_sysctl_cputopo")]
#[doc(alias = "xen_sysctl_cputopo_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlCputopo {
    /// OUT: core id ([`XEN_INVALID_CORE_ID`] if the CPU is absent).
    pub core: u32,
    /// OUT: socket id ([`XEN_INVALID_SOCKET_ID`] if absent).
    pub socket: u32,
    /// OUT: NUMA node ([`XEN_INVALID_NODE_ID`] if absent or unknown).
    pub node: u32,
}
abi_layout!(XenSysctlCputopo: size 12, core @ 0, socket @ 4, node @ 8);

/// Payload of `XEN_SYSCTL_cputopoinfo` (`struct xen_sysctl_cputopoinfo`).
#[doc(alias = "xen_sysctl_cputopoinfo")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlCputopoinfo {
    /// IN: elements in `cputopo` (a null handle asks for the count); OUT:
    /// elements written, or the count needed when the array was too small.
    pub num_cpus: u32,
    /// Padding; zero.
    pub pad: u32,
    /// IN: guest address of an array of [`XenSysctlCputopo`]
    /// (`XEN_GUEST_HANDLE_64(xen_sysctl_cputopo_t)`), or 0.
    pub cputopo: u64,
}
abi_layout!(XenSysctlCputopoinfo: size 16, num_cpus @ 0, pad @ 4, cputopo @ 8);

/// One element of the `XEN_SYSCTL_numainfo` memory array
/// (`xen_sysctl_meminfo_t`).
#[doc(alias = "xen_sysctl_meminfo")]
#[doc(alias = "xen_sysctl_meminfo_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlMeminfo {
    /// OUT: bytes of memory on the node ([`XEN_INVALID_MEM_SZ`] if absent).
    pub memsize: u64,
    /// OUT: free bytes on the node ([`XEN_INVALID_MEM_SZ`] if absent).
    pub memfree: u64,
}
abi_layout!(XenSysctlMeminfo: size 16, memsize @ 0, memfree @ 8);

/// Payload of `XEN_SYSCTL_numainfo` (`struct xen_sysctl_numainfo`).
#[doc(alias = "xen_sysctl_numainfo")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctlNumainfo {
    /// IN: elements in `meminfo` and rows/columns in `distance` (both
    /// handles null asks for the count); OUT: nodes written, or the count
    /// needed.
    pub num_nodes: u32,
    /// Padding; zero.
    pub pad: u32,
    /// IN: guest address of an array of [`XenSysctlMeminfo`]
    /// (`XEN_GUEST_HANDLE_64(xen_sysctl_meminfo_t)`), or 0.
    pub meminfo: u64,
    /// IN: guest address of a `u32` matrix, or 0; OUT: distance from node
    /// `i` to node `j` at index `i * N + j`, with `N` the returned
    /// `num_nodes` ([`XEN_INVALID_NODE_DIST`] for absent nodes).
    pub distance: u64,
}
abi_layout!(XenSysctlNumainfo: size 24, num_nodes @ 0, pad @ 4, meminfo @ 8, distance @ 16);
