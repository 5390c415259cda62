// SPDX-License-Identifier: GPL-2.0-only
//! Toolstack host control (`sysctl.h`): `HYPERVISOR_sysctl`.
//!
//! Host-wide queries and settings (console ring, physical CPU and memory
//! topology, domain lists, CPU pools) go through one hypercall taking a
//! pointer to a [`XenSysctl`]: command and interface version followed by a
//! 128-byte union holding the command's argument struct (136 bytes in all).
//! Unlike [`crate::domctl::XenDomctl`] there is no target domain in the
//! header.
//!
//! # Interface version
//!
//! This is the interface of **Xen 4.17**: [`XEN_SYSCTL_INTERFACE_VERSION`]
//! is 0x15, and Xen refuses (`-EACCES`) any other value
//! ([`XenSysctl::check_version`]). Scheduler ids are the domctl ones
//! ([`XenScheduler`], re-exported here), including sEDF's id 4 from Xen 4.5
//! (see [`crate::domctl`]).
//!
//! # Reading a payload
//!
//! As for domctl: check the version, match [`XenSysctl::op`], then
//! [`XenSysctl::payload`] / [`XenSysctl::set_payload`]:
//!
//! ```
//! use guest_abi::sysctl::{SysctlCmd, XenSysctl, XenSysctlSchedId, XenScheduler};
//!
//! let mut op = XenSysctl::new(SysctlCmd::SchedId);
//! assert_eq!(op.op(), Ok(SysctlCmd::SchedId));
//! assert!(op.set_payload(&XenSysctlSchedId { sched_id: XenScheduler::Credit.raw() }));
//! let out: XenSysctlSchedId = op.payload().expect("fits the union");
//! assert_eq!(out.sched_id, 5);
//! ```
//!
//! # Contents
//!
//! * [`SysctlCmd`] — every `XEN_SYSCTL_*` command number of 4.17;
//! * [`XenSysctl`] — the envelope;
//! * host information: [`XenSysctlReadconsole`], [`XenSysctlPhysinfo`]
//!   (`XEN_SYSCTL_PHYSCAP_*`), [`XenSysctlSchedId`],
//!   [`XenSysctlGetcpuinfo`] / [`XenSysctlCpuinfo`],
//!   [`XenSysctlCputopoinfo`] / [`XenSysctlCputopo`],
//!   [`XenSysctlNumainfo`] / [`XenSysctlMeminfo`] and the `XEN_INVALID_*`
//!   sentinels they use;
//! * domains and pools: [`XenSysctlGetdomaininfolist`] (an array of
//!   [`crate::domctl::XenDomctlGetdomaininfo`]), [`XenSysctlCpupoolOp`]
//!   ([`SysctlCpupoolOp`]).
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

mod domains;
mod host;

#[cfg(test)]
mod tests;

pub use self::domains::*;
pub use self::host::*;
pub use crate::domctl::{XenScheduler, XenctlBitmap};

use crate::AbiBytes;
use bytemuck::{Pod, Zeroable};

/// `XEN_SYSCTL_INTERFACE_VERSION` of Xen 4.17: the value every
/// [`XenSysctl::interface_version`] must hold.
pub const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x0000_0015;

/// Size in bytes of the argument union [`XenSysctl::u`] (its `pad[128]`
/// member); every argument struct fits in it.
pub const XEN_SYSCTL_PAYLOAD_SIZE: usize = 128;

abi_enum! {
    /// Commands of `HYPERVISOR_sysctl` (`XEN_SYSCTL_*`), the `cmd` field of
    /// [`XenSysctl`]. Numbers 13, 24 (`tmem_op`) and 28 (`set_parameter`)
    /// were removed.
    pub enum SysctlCmd: u32 {
        /// Read (and optionally clear) Xen's console ring. Payload:
        /// [`XenSysctlReadconsole`].
        Readconsole = 1 => "XEN_SYSCTL_readconsole",
        /// Trace buffer control.
        TbufOp = 2 => "XEN_SYSCTL_tbuf_op",
        /// Host CPU, memory and capability summary. Payload:
        /// [`XenSysctlPhysinfo`].
        Physinfo = 3 => "XEN_SYSCTL_physinfo",
        /// The default scheduler. Payload: [`XenSysctlSchedId`].
        SchedId = 4 => "XEN_SYSCTL_sched_id",
        /// Software performance counters.
        PerfcOp = 5 => "XEN_SYSCTL_perfc_op",
        /// `getdomaininfo` for a range of domains. Payload:
        /// [`XenSysctlGetdomaininfolist`].
        Getdomaininfolist = 6 => "XEN_SYSCTL_getdomaininfolist",
        /// Inject debug keys.
        DebugKeys = 7 => "XEN_SYSCTL_debug_keys",
        /// Idle time of each physical CPU. Payload: [`XenSysctlGetcpuinfo`].
        Getcpuinfo = 8 => "XEN_SYSCTL_getcpuinfo",
        /// Free heap memory in an address-width/node range.
        Availheap = 9 => "XEN_SYSCTL_availheap",
        /// Power-management (P/C-state) statistics.
        GetPmstat = 10 => "XEN_SYSCTL_get_pmstat",
        /// Bring a physical CPU (or all SMT siblings) on/offline.
        CpuHotplug = 11 => "XEN_SYSCTL_cpu_hotplug",
        /// cpufreq/cpuidle governor control.
        PmOp = 12 => "XEN_SYSCTL_pm_op",
        /// Offline/online/query machine pages.
        PageOfflineOp = 14 => "XEN_SYSCTL_page_offline_op",
        /// Lock profiling data.
        LockprofOp = 15 => "XEN_SYSCTL_lockprof_op",
        /// Core/socket/node of each CPU. Payload: [`XenSysctlCputopoinfo`].
        Cputopoinfo = 16 => "XEN_SYSCTL_cputopoinfo",
        /// Memory and distances of each NUMA node. Payload:
        /// [`XenSysctlNumainfo`].
        Numainfo = 17 => "XEN_SYSCTL_numainfo",
        /// CPU pool management. Payload: [`XenSysctlCpupoolOp`].
        CpupoolOp = 18 => "XEN_SYSCTL_cpupool_op",
        /// Per-pool scheduler parameters.
        SchedulerOp = 19 => "XEN_SYSCTL_scheduler_op",
        /// gcov coverage data.
        CoverageOp = 20 => "XEN_SYSCTL_coverage_op",
        /// Cache monitoring (Intel RDT CMT) queries.
        PsrCmtOp = 21 => "XEN_SYSCTL_psr_cmt_op",
        /// NUMA node of PCI devices.
        Pcitopoinfo = 22 => "XEN_SYSCTL_pcitopoinfo",
        /// Cache/memory-bandwidth allocation (Intel RDT) queries.
        PsrAlloc = 23 => "XEN_SYSCTL_psr_alloc",
        /// CPUID levelling capabilities of the host.
        GetCpuLevellingCaps = 25 => "XEN_SYSCTL_get_cpu_levelling_caps",
        /// A CPU featureset (raw, host, PV or HVM).
        GetCpuFeatureset = 26 => "XEN_SYSCTL_get_cpu_featureset",
        /// Live patching.
        LivepatchOp = 27 => "XEN_SYSCTL_livepatch_op",
        /// A system CPUID/MSR policy.
        GetCpuPolicy = 29 => "XEN_SYSCTL_get_cpu_policy",
    }
}

/// The argument of `HYPERVISOR_sysctl` (`struct xen_sysctl`): command,
/// interface version and a 128-byte union of per-command structs.
///
/// The union is kept as raw words; [`XenSysctl::payload`] reads it as the
/// struct [`XenSysctl::op`] selects, [`XenSysctl::set_payload`] writes it.
#[doc(alias = "xen_sysctl")]
#[doc(alias = "xen_sysctl_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenSysctl {
    /// IN: a [`SysctlCmd`] number.
    pub cmd: u32,
    /// IN: must be [`XEN_SYSCTL_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// IN/OUT: the command's argument struct, in the leading bytes.
    pub u: [u64; 16],
}
abi_layout!(XenSysctl: size 136, cmd @ 0, interface_version @ 4, u @ 8);

const _: () = assert!(core::mem::size_of::<[u64; 16]>() == XEN_SYSCTL_PAYLOAD_SIZE);

impl XenSysctl {
    /// An envelope for `cmd` with the current interface version and a
    /// zeroed payload.
    #[must_use]
    pub fn new(cmd: SysctlCmd) -> Self {
        Self { cmd: cmd.raw(), interface_version: XEN_SYSCTL_INTERFACE_VERSION, u: [0; 16] }
    }

    /// As [`XenSysctl::new`], with `payload` in the union (rest zeroed);
    /// `None` if `T` is larger than [`XEN_SYSCTL_PAYLOAD_SIZE`].
    #[must_use]
    pub fn with_payload<T: AbiBytes>(cmd: SysctlCmd, payload: &T) -> Option<Self> {
        let mut op = Self::new(cmd);
        op.set_payload(payload).then_some(op)
    }
}

control_envelope!(XenSysctl, SysctlCmd, XEN_SYSCTL_INTERFACE_VERSION);

/// Asserts at compile time that each argument struct fits the union.
macro_rules! fits_payload {
    ($($ty:ty),+ $(,)?) => {
        $(const _: () = assert!(core::mem::size_of::<$ty>() <= XEN_SYSCTL_PAYLOAD_SIZE);)+
    };
}

fits_payload!(
    XenSysctlReadconsole,
    XenSysctlPhysinfo,
    XenSysctlSchedId,
    XenSysctlGetdomaininfolist,
    XenSysctlGetcpuinfo,
    XenSysctlCputopoinfo,
    XenSysctlNumainfo,
    XenSysctlCpupoolOp,
);
