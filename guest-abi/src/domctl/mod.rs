// SPDX-License-Identifier: GPL-2.0-only
//! Toolstack domain control (`domctl.h`): `HYPERVISOR_domctl`.
//!
//! The control domain builds, runs and tears down other domains through a
//! single hypercall taking a pointer to one [`XenDomctl`]: a fixed header
//! (command, interface version, target domain) followed by a 128-byte union
//! holding the command's argument struct. The whole 144-byte envelope is
//! copied in, and copied back out for commands with OUT fields.
//!
//! # Interface version
//!
//! This is the interface of **Xen 4.17**: [`XEN_DOMCTL_INTERFACE_VERSION`]
//! is 0x15. Unlike the guest ABI, domctl is not stable: Xen rejects
//! (`-EACCES`) any envelope whose `interface_version` differs from its own,
//! so a toolstack must be built against the same headers
//! ([`XenDomctl::check_version`]).
//!
//! Two layouts come from older releases; both sit inside the 128-byte
//! union and are asserted to fit:
//!
//! * the sEDF scheduler ([`XenScheduler::Sedf`], [`XenDomctlSchedSedf`],
//!   [`XenDomctlSchedulerOpSedf`]) as it was in **Xen 4.5**
//!   (`RELEASE-4.5.0:xen/include/public/domctl.h`); sEDF was removed in
//!   Xen 4.6 and 4.17 keeps only a comment reserving scheduler id 4;
//! * `XEN_DOMCTL_set_max_evtchn` ([`XEN_DOMCTL_set_max_evtchn`],
//!   [`XenDomctlSetMaxEvtchn`]) as it was up to **Xen 4.11**; 4.12 folded it
//!   into `createdomain` (`max_evtchn_port`), so number 70 is not a
//!   [`DomctlCmd`].
//!
//! # Reading a payload
//!
//! A dispatcher copies the envelope from the caller, checks the version,
//! matches [`XenDomctl::op`] and reads the argument with
//! [`XenDomctl::payload`]:
//!
//! ```
//! use guest_abi::domctl::{DomctlCmd, XenDomctl, XenDomctlMaxMem};
//! use guest_abi::xen::DomId;
//!
//! let op = XenDomctl::with_payload(DomctlCmd::MaxMem, DomId(3),
//!     &XenDomctlMaxMem { max_memkb: 1 << 20 }).expect("fits the union");
//! assert!(op.check_version().is_ok());
//! match op.op() {
//!     Ok(DomctlCmd::MaxMem) => {
//!         let arg: XenDomctlMaxMem = op.payload().expect("fits the union");
//!         assert_eq!(arg.max_memkb, 1 << 20);
//!     }
//!     _ => unreachable!(),
//! }
//! ```
//!
//! OUT fields are written back with [`XenDomctl::set_payload`] before the
//! envelope is copied back to the caller.
//!
//! # Contents
//!
//! * [`DomctlCmd`] — every `XEN_DOMCTL_*` command number of 4.17;
//! * [`XenDomctl`] — the envelope, [`XenctlBitmap`] (from `xen.h`);
//! * domain life cycle: [`XenDomctlCreatedomain`] (`XEN_DOMCTL_CDF_*`,
//!   [`XenArchDomainconfig`] with `XEN_X86_EMU_*` from `arch-x86/xen.h`),
//!   [`XenDomctlGetdomaininfo`] (`XEN_DOMINF_*`), [`XenDomctlMaxMem`],
//!   [`XenDomctlSetdomainhandle`], [`XenDomctlSettimeoffset`],
//!   [`XenDomctlAddressSize`], [`XenDomctlHypercallInit`],
//!   [`XenDomctlSetdebugging`];
//! * vCPUs: [`XenDomctlMaxVcpus`], [`XenDomctlVcpucontext`] (pointing at a
//!   [`crate::xen::VcpuGuestContext`]), [`XenDomctlGetvcpuinfo`],
//!   [`XenDomctlVcpuaffinity`], [`XenDomctlNodeaffinity`];
//! * scheduling: [`XenScheduler`], [`DomctlSchedOp`],
//!   [`XenDomctlSchedulerOp`] and its parameter structs;
//! * memory and I/O: [`XenDomctlGetpageframeinfo3`] (`XEN_DOMCTL_PFINFO_*`),
//!   [`XenDomctlShadowOp`] ([`DomctlShadowOp`]),
//!   [`XenDomctlIrqPermission`], [`XenDomctlIomemPermission`],
//!   [`XenDomctlIoportPermission`].
//!
//! `XEN_DOMCTL_pausedomain`, `unpausedomain`, `destroydomain` and
//! `resumedomain` carry no payload: only the header's `domain` is used.
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

mod domain;
mod resources;
mod sched;
mod vcpu;

#[cfg(test)]
mod tests;

pub use self::domain::*;
pub use self::resources::*;
pub use self::sched::*;
pub use self::vcpu::*;

use crate::AbiBytes;
use crate::xen::DomId;
use bytemuck::{Pod, Zeroable};

/// `XEN_DOMCTL_INTERFACE_VERSION` of Xen 4.17: the value every
/// [`XenDomctl::interface_version`] must hold.
pub const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x0000_0015;

/// Size in bytes of the argument union [`XenDomctl::u`] (its `pad[128]`
/// member); every argument struct fits in it.
pub const XEN_DOMCTL_PAYLOAD_SIZE: usize = 128;

abi_enum! {
    /// Commands of `HYPERVISOR_domctl` (`XEN_DOMCTL_*`), the `cmd` field of
    /// [`XenDomctl`]. Gaps are numbers Xen removed (6–8, 30–32, 41, 49,
    /// 51–53, 58, 70, 76, 80).
    pub enum DomctlCmd: u32 {
        /// Create a domain; the header's `domain` is IN/OUT (0 or a reserved
        /// id asks Xen to pick one). Payload: [`XenDomctlCreatedomain`].
        Createdomain = 1 => "XEN_DOMCTL_createdomain",
        /// Destroy a domain (may need re-issuing until it succeeds). No
        /// payload.
        Destroydomain = 2 => "XEN_DOMCTL_destroydomain",
        /// Pause all vCPUs of a domain. No payload.
        Pausedomain = 3 => "XEN_DOMCTL_pausedomain",
        /// Undo one `pausedomain`. No payload.
        Unpausedomain = 4 => "XEN_DOMCTL_unpausedomain",
        /// Information about a domain. Payload: [`XenDomctlGetdomaininfo`].
        Getdomaininfo = 5 => "XEN_DOMCTL_getdomaininfo",
        /// Set a vCPU's hard/soft affinity. Payload:
        /// [`XenDomctlVcpuaffinity`].
        Setvcpuaffinity = 9 => "XEN_DOMCTL_setvcpuaffinity",
        /// Shadow paging and log-dirty control. Payload:
        /// [`XenDomctlShadowOp`].
        ShadowOp = 10 => "XEN_DOMCTL_shadow_op",
        /// Set a domain's memory limit. Payload: [`XenDomctlMaxMem`].
        MaxMem = 11 => "XEN_DOMCTL_max_mem",
        /// Load a vCPU's register state. Payload: [`XenDomctlVcpucontext`].
        Setvcpucontext = 12 => "XEN_DOMCTL_setvcpucontext",
        /// Read a vCPU's register state. Payload: [`XenDomctlVcpucontext`].
        Getvcpucontext = 13 => "XEN_DOMCTL_getvcpucontext",
        /// Run state of one vCPU. Payload: [`XenDomctlGetvcpuinfo`].
        Getvcpuinfo = 14 => "XEN_DOMCTL_getvcpuinfo",
        /// Allocate the vCPUs (must equal `createdomain`'s `max_vcpus`).
        /// Payload: [`XenDomctlMaxVcpus`].
        MaxVcpus = 15 => "XEN_DOMCTL_max_vcpus",
        /// Per-domain scheduler parameters. Payload:
        /// [`XenDomctlSchedulerOp`].
        SchedulerOp = 16 => "XEN_DOMCTL_scheduler_op",
        /// Set the domain's UUID. Payload: [`XenDomctlSetdomainhandle`].
        Setdomainhandle = 17 => "XEN_DOMCTL_setdomainhandle",
        /// Turn debugger mode on or off. Payload:
        /// [`XenDomctlSetdebugging`].
        Setdebugging = 18 => "XEN_DOMCTL_setdebugging",
        /// Grant or revoke access to a physical IRQ. Payload:
        /// [`XenDomctlIrqPermission`].
        IrqPermission = 19 => "XEN_DOMCTL_irq_permission",
        /// Grant or revoke access to a machine frame range. Payload:
        /// [`XenDomctlIomemPermission`].
        IomemPermission = 20 => "XEN_DOMCTL_iomem_permission",
        /// Grant or revoke access to an I/O port range. Payload:
        /// [`XenDomctlIoportPermission`].
        IoportPermission = 21 => "XEN_DOMCTL_ioport_permission",
        /// Write the hypercall page into a guest frame. Payload:
        /// [`XenDomctlHypercallInit`].
        HypercallInit = 22 => "XEN_DOMCTL_hypercall_init",
        /// Continuation of a preempted `soft_reset` (Xen-internal
        /// definition; re-issued by the toolstack after `-ERESTART`).
        SoftResetCont = 23 => "XEN_DOMCTL_soft_reset_cont",
        /// Set the wallclock offset. Payload: [`XenDomctlSettimeoffset`].
        Settimeoffset = 24 => "XEN_DOMCTL_settimeoffset",
        /// Read a vCPU's hard/soft affinity. Payload:
        /// [`XenDomctlVcpuaffinity`].
        Getvcpuaffinity = 25 => "XEN_DOMCTL_getvcpuaffinity",
        /// Obsolete (PowerPC only); still reserved.
        RealModeArea = 26 => "XEN_DOMCTL_real_mode_area",
        /// Resume a suspended domain. No payload.
        Resumedomain = 27 => "XEN_DOMCTL_resumedomain",
        /// Send a virtual NMI/reset/INIT/power/sleep trigger.
        Sendtrigger = 28 => "XEN_DOMCTL_sendtrigger",
        /// Event channel notified when the domain suspends.
        Subscribe = 29 => "XEN_DOMCTL_subscribe",
        /// Save an HVM domain's context.
        Gethvmcontext = 33 => "XEN_DOMCTL_gethvmcontext",
        /// Restore an HVM domain's context.
        Sethvmcontext = 34 => "XEN_DOMCTL_sethvmcontext",
        /// Set a PV domain's address size (32 or 64 bits). Payload:
        /// [`XenDomctlAddressSize`].
        SetAddressSize = 35 => "XEN_DOMCTL_set_address_size",
        /// Read a PV domain's address size. Payload:
        /// [`XenDomctlAddressSize`].
        GetAddressSize = 36 => "XEN_DOMCTL_get_address_size",
        /// Assign a PCI or device-tree device.
        AssignDevice = 37 => "XEN_DOMCTL_assign_device",
        /// Bind a machine IRQ to a guest interrupt.
        BindPtIrq = 38 => "XEN_DOMCTL_bind_pt_irq",
        /// Map machine frames into an HVM domain.
        MemoryMapping = 39 => "XEN_DOMCTL_memory_mapping",
        /// Map machine I/O ports into an HVM domain.
        IoportMapping = 40 => "XEN_DOMCTL_ioport_mapping",
        /// Set the extended (SYSENTER, 32-bit SYSCALL, MCE) vCPU state.
        SetExtVcpucontext = 42 => "XEN_DOMCTL_set_ext_vcpucontext",
        /// Read the extended vCPU state.
        GetExtVcpucontext = 43 => "XEN_DOMCTL_get_ext_vcpucontext",
        /// Obsolete (IA-64 only); still reserved.
        SetOptFeature = 44 => "XEN_DOMCTL_set_opt_feature",
        /// Whether a device could be assigned.
        TestAssignDevice = 45 => "XEN_DOMCTL_test_assign_device",
        /// Let a domain (a device model) control another.
        SetTarget = 46 => "XEN_DOMCTL_set_target",
        /// Take a device away from a domain.
        DeassignDevice = 47 => "XEN_DOMCTL_deassign_device",
        /// Undo `bind_pt_irq`.
        UnbindPtIrq = 48 => "XEN_DOMCTL_unbind_pt_irq",
        /// Devices sharing an IOMMU context with a given one.
        GetDeviceGroup = 50 => "XEN_DOMCTL_get_device_group",
        /// Single-step/debug-trap control of an HVM vCPU.
        DebugOp = 54 => "XEN_DOMCTL_debug_op",
        /// Save one record of an HVM domain's context.
        GethvmcontextPartial = 55 => "XEN_DOMCTL_gethvmcontext_partial",
        /// Enable/disable a VM event ring (paging, monitor, sharing).
        VmEventOp = 56 => "XEN_DOMCTL_vm_event_op",
        /// Memory sharing control.
        MemSharingOp = 57 => "XEN_DOMCTL_mem_sharing_op",
        /// Read TSC mode and frequency.
        Gettscinfo = 59 => "XEN_DOMCTL_gettscinfo",
        /// Set TSC mode and frequency.
        Settscinfo = 60 => "XEN_DOMCTL_settscinfo",
        /// Page types of a list of frames. Payload:
        /// [`XenDomctlGetpageframeinfo3`].
        Getpageframeinfo3 = 61 => "XEN_DOMCTL_getpageframeinfo3",
        /// Set a vCPU's extended (XSAVE) state.
        Setvcpuextstate = 62 => "XEN_DOMCTL_setvcpuextstate",
        /// Read a vCPU's extended (XSAVE) state.
        Getvcpuextstate = 63 => "XEN_DOMCTL_getvcpuextstate",
        /// Pause vCPUs on memory access events with no listener.
        SetAccessRequired = 64 => "XEN_DOMCTL_set_access_required",
        /// Audit the P2M/M2P of a domain (debug builds).
        AuditP2m = 65 => "XEN_DOMCTL_audit_p2m",
        /// Route a global VIRQ to this domain.
        SetVirqHandler = 66 => "XEN_DOMCTL_set_virq_handler",
        /// Mark a P2M entry as broken.
        SetBrokenPageP2m = 67 => "XEN_DOMCTL_set_broken_page_p2m",
        /// Set the domain's NUMA node affinity. Payload:
        /// [`XenDomctlNodeaffinity`].
        Setnodeaffinity = 68 => "XEN_DOMCTL_setnodeaffinity",
        /// Read the domain's NUMA node affinity. Payload:
        /// [`XenDomctlNodeaffinity`].
        Getnodeaffinity = 69 => "XEN_DOMCTL_getnodeaffinity",
        /// Clean and invalidate the caches of a frame range (Arm).
        Cacheflush = 71 => "XEN_DOMCTL_cacheflush",
        /// Read a vCPU's MSRs.
        GetVcpuMsrs = 72 => "XEN_DOMCTL_get_vcpu_msrs",
        /// Set a vCPU's MSRs.
        SetVcpuMsrs = 73 => "XEN_DOMCTL_set_vcpu_msrs",
        /// Set the domain's virtual NUMA topology.
        Setvnumainfo = 74 => "XEN_DOMCTL_setvnumainfo",
        /// Cache monitoring (Intel RDT CMT) control.
        PsrCmtOp = 75 => "XEN_DOMCTL_psr_cmt_op",
        /// Enable/disable monitor events.
        MonitorOp = 77 => "XEN_DOMCTL_monitor_op",
        /// Cache/memory-bandwidth allocation (Intel RDT) control.
        PsrAlloc = 78 => "XEN_DOMCTL_psr_alloc",
        /// Reset the domain's Xen state, keeping its memory.
        SoftReset = 79 => "XEN_DOMCTL_soft_reset",
        /// Virtual UART (Arm vpl011) setup.
        VuartOp = 81 => "XEN_DOMCTL_vuart_op",
        /// Read the domain's CPUID/MSR policy.
        GetCpuPolicy = 82 => "XEN_DOMCTL_get_cpu_policy",
        /// Set the domain's CPUID/MSR policy.
        SetCpuPolicy = 83 => "XEN_DOMCTL_set_cpu_policy",
        /// Processor trace control.
        VmtraceOp = 84 => "XEN_DOMCTL_vmtrace_op",
        /// Read the size of the paging (HAP/shadow) memory pool.
        GetPagingMempoolSize = 85 => "XEN_DOMCTL_get_paging_mempool_size",
        /// Set the size of the paging (HAP/shadow) memory pool.
        SetPagingMempoolSize = 86 => "XEN_DOMCTL_set_paging_mempool_size",
        /// gdbsx: read/write guest memory.
        GdbsxGuestmemio = 1000 => "XEN_DOMCTL_gdbsx_guestmemio",
        /// gdbsx: pause one vCPU.
        GdbsxPausevcpu = 1001 => "XEN_DOMCTL_gdbsx_pausevcpu",
        /// gdbsx: unpause one vCPU.
        GdbsxUnpausevcpu = 1002 => "XEN_DOMCTL_gdbsx_unpausevcpu",
        /// gdbsx: whether the domain is paused and which vCPU had an event.
        GdbsxDomstatus = 1003 => "XEN_DOMCTL_gdbsx_domstatus",
    }
}

/// `XEN_DOMCTL_set_max_evtchn` of Xen ≤ 4.11 (payload
/// [`XenDomctlSetMaxEvtchn`]). Removed in 4.12, where the limit became
/// [`XenDomctlCreatedomain::max_evtchn_port`]; a 4.17 dispatcher answers it
/// like any unknown command, which is why it is not a [`DomctlCmd`].
pub const XEN_DOMCTL_set_max_evtchn: u32 = 70;

/// A bitmap in the caller's memory (`struct xenctl_bitmap`, from `xen.h`),
/// used for CPU and NUMA node masks.
#[doc(alias = "xenctl_bitmap")]
#[doc(alias = "xenctl_bitmap_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenctlBitmap {
    /// IN: guest address of the bitmap bytes (`XEN_GUEST_HANDLE_64(uint8)`);
    /// bit `n` is bit `n % 8` of byte `n / 8`.
    pub bitmap: u64,
    /// IN: number of bits the buffer holds.
    pub nr_bits: u32,
    /// Padding; zero.
    pub pad: u32,
}
abi_layout!(XenctlBitmap: size 16, bitmap @ 0, nr_bits @ 8, pad @ 12);

impl XenctlBitmap {
    /// A bitmap of `nr_bits` bits at guest address `bitmap`.
    #[must_use]
    pub const fn new(bitmap: u64, nr_bits: u32) -> Self {
        Self { bitmap, nr_bits, pad: 0 }
    }

    /// Number of bytes the buffer spans (`nr_bits` rounded up to bytes).
    #[must_use]
    pub const fn nr_bytes(&self) -> u32 {
        self.nr_bits.div_ceil(8)
    }
}

/// The argument of `HYPERVISOR_domctl` (`struct xen_domctl`): header plus
/// a 128-byte union of per-command structs.
///
/// The union is kept as raw words; [`XenDomctl::payload`] reads it as the
/// struct [`XenDomctl::op`] selects, [`XenDomctl::set_payload`] writes it.
#[doc(alias = "xen_domctl")]
#[doc(alias = "xen_domctl_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctl {
    /// IN: a [`DomctlCmd`] number.
    pub cmd: u32,
    /// IN: must be [`XEN_DOMCTL_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// IN: target domain; IN/OUT for `createdomain` (the new id).
    pub domain: DomId,
    /// Padding; zero (Xen: `_pad`).
    pub pad: [u16; 3],
    /// IN/OUT: the command's argument struct, in the leading bytes.
    pub u: [u64; 16],
}
abi_layout!(XenDomctl: size 144, cmd @ 0, interface_version @ 4, domain @ 8, pad @ 10, u @ 16);

const _: () = assert!(core::mem::size_of::<[u64; 16]>() == XEN_DOMCTL_PAYLOAD_SIZE);

impl XenDomctl {
    /// An envelope for `cmd` on `domain` with the current interface version
    /// and a zeroed payload.
    #[must_use]
    pub fn new(cmd: DomctlCmd, domain: DomId) -> Self {
        Self {
            cmd: cmd.raw(),
            interface_version: XEN_DOMCTL_INTERFACE_VERSION,
            domain,
            pad: [0; 3],
            u: [0; 16],
        }
    }

    /// As [`XenDomctl::new`], with `payload` in the union (rest zeroed);
    /// `None` if `T` is larger than [`XEN_DOMCTL_PAYLOAD_SIZE`].
    #[must_use]
    pub fn with_payload<T: AbiBytes>(cmd: DomctlCmd, domain: DomId, payload: &T) -> Option<Self> {
        let mut op = Self::new(cmd, domain);
        op.set_payload(payload).then_some(op)
    }
}

control_envelope!(XenDomctl, DomctlCmd, XEN_DOMCTL_INTERFACE_VERSION);

/// Asserts at compile time that each argument struct fits the union.
macro_rules! fits_payload {
    ($($ty:ty),+ $(,)?) => {
        $(const _: () = assert!(core::mem::size_of::<$ty>() <= XEN_DOMCTL_PAYLOAD_SIZE);)+
    };
}

fits_payload!(
    XenDomctlCreatedomain,
    XenDomctlGetdomaininfo,
    XenDomctlMaxMem,
    XenDomctlSetdomainhandle,
    XenDomctlSettimeoffset,
    XenDomctlSetMaxEvtchn,
    XenDomctlAddressSize,
    XenDomctlHypercallInit,
    XenDomctlSetdebugging,
    XenDomctlMaxVcpus,
    XenDomctlVcpucontext,
    XenDomctlGetvcpuinfo,
    XenDomctlVcpuaffinity,
    XenDomctlNodeaffinity,
    XenDomctlSchedulerOp,
    XenDomctlSchedulerOpSedf,
    XenDomctlGetpageframeinfo3,
    XenDomctlShadowOp,
    XenDomctlIrqPermission,
    XenDomctlIomemPermission,
    XenDomctlIoportPermission,
);
