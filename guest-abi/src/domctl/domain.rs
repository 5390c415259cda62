// SPDX-License-Identifier: GPL-2.0-only
//! Domain life cycle payloads: create, query, limits, handle, clock.
//!
//! [`XenDomctlCreatedomain`] with its `XEN_DOMCTL_CDF_*` flags and the x86
//! [`XenArchDomainconfig`] (`arch-x86/xen.h`), [`XenDomctlGetdomaininfo`]
//! with the `XEN_DOMINF_*` state word, and the small one-field payloads.

use crate::version::XenDomainHandle;
use crate::xen::DomId;
use bytemuck::{Pod, Zeroable};

// ---------------------------------------------------------------------------
// XEN_DOMCTL_createdomain
// ---------------------------------------------------------------------------

/// [`XenDomctlCreatedomain::flags`]: an HVM guest (else PV).
pub const XEN_DOMCTL_CDF_hvm: u32 = 1 << 0;
/// Use hardware-assisted paging if the platform has it.
pub const XEN_DOMCTL_CDF_hap: u32 = 1 << 1;
/// Have tboot check the domain's memory integrity across S3.
pub const XEN_DOMCTL_CDF_s3_integrity: u32 = 1 << 2;
/// No out-of-sync shadow page tables.
pub const XEN_DOMCTL_CDF_oos_off: u32 = 1 << 3;
/// The domain runs xenstored.
pub const XEN_DOMCTL_CDF_xs_domain: u32 = 1 << 4;
/// The domain may use the IOMMU (device pass-through).
pub const XEN_DOMCTL_CDF_iommu: u32 = 1 << 5;
/// Expose nested virtualisation.
pub const XEN_DOMCTL_CDF_nested_virt: u32 = 1 << 6;
/// Expose the virtual PMU.
pub const XEN_DOMCTL_CDF_vpmu: u32 = 1 << 7;
/// Highest defined `XEN_DOMCTL_CDF_*` bit; any bit above it is invalid.
pub const XEN_DOMCTL_CDF_MAX: u32 = XEN_DOMCTL_CDF_vpmu;

/// [`XenDomctlCreatedomain::iommu_opts`]: do not share the CPU's HAP page
/// tables with the IOMMU.
pub const XEN_DOMCTL_IOMMU_no_sharept: u32 = 1 << 0;
/// Highest defined `XEN_DOMCTL_IOMMU_*` bit.
pub const XEN_DOMCTL_IOMMU_MAX: u32 = XEN_DOMCTL_IOMMU_no_sharept;

/// Bits of [`XenDomctlCreatedomain::grant_opts`] holding the highest grant
/// table version the domain may select.
pub const XEN_DOMCTL_GRANT_version_mask: u32 = 0xf;

/// `grant_opts` allowing grant table versions up to `v`
/// (`XEN_DOMCTL_GRANT_version(v)`).
#[must_use]
pub const fn xen_domctl_grant_version(v: u32) -> u32 {
    v & XEN_DOMCTL_GRANT_version_mask
}

/// [`XenArchDomainconfig::emulation_flags`]: emulated local APIC.
pub const XEN_X86_EMU_LAPIC: u32 = 1 << 0;
/// Emulated HPET.
pub const XEN_X86_EMU_HPET: u32 = 1 << 1;
/// Emulated ACPI PM timer and registers.
pub const XEN_X86_EMU_PM: u32 = 1 << 2;
/// Emulated RTC.
pub const XEN_X86_EMU_RTC: u32 = 1 << 3;
/// Emulated IO-APIC.
pub const XEN_X86_EMU_IOAPIC: u32 = 1 << 4;
/// Emulated 8259 PIC.
pub const XEN_X86_EMU_PIC: u32 = 1 << 5;
/// Emulated standard VGA.
pub const XEN_X86_EMU_VGA: u32 = 1 << 6;
/// Emulated IOMMU.
pub const XEN_X86_EMU_IOMMU: u32 = 1 << 7;
/// Emulated 8254 PIT.
pub const XEN_X86_EMU_PIT: u32 = 1 << 8;
/// Route interrupts through PIRQs (event channels).
pub const XEN_X86_EMU_USE_PIRQ: u32 = 1 << 9;
/// Emulated PCI config space (vPCI).
pub const XEN_X86_EMU_VPCI: u32 = 1 << 10;
/// Every `XEN_X86_EMU_*` bit (a full HVM guest).
pub const XEN_X86_EMU_ALL: u32 = XEN_X86_EMU_LAPIC
    | XEN_X86_EMU_HPET
    | XEN_X86_EMU_PM
    | XEN_X86_EMU_RTC
    | XEN_X86_EMU_IOAPIC
    | XEN_X86_EMU_PIC
    | XEN_X86_EMU_VGA
    | XEN_X86_EMU_IOMMU
    | XEN_X86_EMU_PIT
    | XEN_X86_EMU_USE_PIRQ
    | XEN_X86_EMU_VPCI;

/// [`XenArchDomainconfig::misc_flags`]: accesses to MSRs Xen does not
/// handle read as zero / are dropped instead of raising `#GP`.
pub const XEN_X86_MSR_RELAXED: u32 = 1 << 0;
/// Highest defined `misc_flags` bit.
pub const XEN_X86_MISC_FLAGS_MAX: u32 = XEN_X86_MSR_RELAXED;

/// x86 part of domain creation and of `getdomaininfo`
/// (`struct xen_arch_domainconfig`, `arch-x86/xen.h`).
#[doc(alias = "xen_arch_domainconfig")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenArchDomainconfig {
    /// IN (create) / OUT (getdomaininfo): `XEN_X86_EMU_*` devices Xen
    /// emulates; 0 for a PV guest.
    pub emulation_flags: u32,
    /// IN / OUT: `XEN_X86_MSR_RELAXED`.
    pub misc_flags: u32,
}
abi_layout!(XenArchDomainconfig: size 8, emulation_flags @ 0, misc_flags @ 4);

/// Payload of `XEN_DOMCTL_createdomain` (`struct xen_domctl_createdomain`).
/// All fields are IN; the new domain id comes back in the header.
#[doc(alias = "xen_domctl_createdomain")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlCreatedomain {
    /// IN: XSM security label.
    pub ssidref: u32,
    /// IN: the domain's UUID.
    pub handle: XenDomainHandle,
    /// IN: `XEN_DOMCTL_CDF_*`.
    pub flags: u32,
    /// IN: `XEN_DOMCTL_IOMMU_*`.
    pub iommu_opts: u32,
    /// IN: number of vCPUs the domain may have.
    pub max_vcpus: u32,
    /// IN: highest event channel port the domain may use.
    pub max_evtchn_port: u32,
    /// IN: grant table frames; negative = Xen's default.
    pub max_grant_frames: i32,
    /// IN: maptrack frames; negative = Xen's default.
    pub max_maptrack_frames: i32,
    /// IN: grant options ([`xen_domctl_grant_version`]).
    pub grant_opts: u32,
    /// IN: per-vCPU processor trace buffer size in bytes (0 = none).
    pub vmtrace_size: u32,
    /// IN: CPU pool to place the domain in (0 = the default pool).
    pub cpupool_id: u32,
    /// IN: architecture configuration.
    pub arch: XenArchDomainconfig,
}
abi_layout!(XenDomctlCreatedomain: size 64,
    ssidref @ 0, handle @ 4, flags @ 20, iommu_opts @ 24, max_vcpus @ 28, max_evtchn_port @ 32,
    max_grant_frames @ 36, max_maptrack_frames @ 40, grant_opts @ 44, vmtrace_size @ 48,
    cpupool_id @ 52, arch @ 56, arch.emulation_flags @ 56, arch.misc_flags @ 60);

// ---------------------------------------------------------------------------
// XEN_DOMCTL_getdomaininfo
// ---------------------------------------------------------------------------

/// [`XenDomctlGetdomaininfo::flags`]: the domain is being destroyed.
pub const XEN_DOMINF_dying: u32 = 1 << 0;
/// An HVM guest.
pub const XEN_DOMINF_hvm_guest: u32 = 1 << 1;
/// The guest has shut down; the reason is in the shutdown code bits.
pub const XEN_DOMINF_shutdown: u32 = 1 << 2;
/// Paused by the toolstack.
pub const XEN_DOMINF_paused: u32 = 1 << 3;
/// All vCPUs are blocked waiting for events.
pub const XEN_DOMINF_blocked: u32 = 1 << 4;
/// A vCPU is running.
pub const XEN_DOMINF_running: u32 = 1 << 5;
/// Under a debugger.
pub const XEN_DOMINF_debugged: u32 = 1 << 6;
/// The domain runs xenstored.
pub const XEN_DOMINF_xs_domain: u32 = 1 << 7;
/// The domain uses hardware-assisted paging.
pub const XEN_DOMINF_hap: u32 = 1 << 8;
/// Mask of the shutdown code once shifted down by
/// [`XEN_DOMINF_shutdownshift`].
pub const XEN_DOMINF_shutdownmask: u32 = 255;
/// Position of the guest's shutdown code (a `SHUTDOWN_*` value) in `flags`.
pub const XEN_DOMINF_shutdownshift: u32 = 16;

/// [`XenDomctlGetdomaininfo::max_vcpu_id`] of a domain without vCPUs.
pub const XEN_INVALID_MAX_VCPU_ID: u32 = !0;

/// Payload of `XEN_DOMCTL_getdomaininfo`, and one element of the
/// `XEN_SYSCTL_getdomaininfolist` buffer (`xen_domctl_getdomaininfo_t`).
/// All fields are OUT.
#[doc(alias = "xen_domctl_getdomaininfo")]
#[doc(alias = "xen_domctl_getdomaininfo_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlGetdomaininfo {
    /// OUT: the domain described (also written to the header).
    pub domain: DomId,
    /// Padding; zero.
    pub pad1: u16,
    /// OUT: `XEN_DOMINF_*` bits and the shutdown code.
    pub flags: u32,
    /// OUT: pages currently allocated.
    pub tot_pages: u64,
    /// OUT: allocation limit in pages.
    pub max_pages: u64,
    /// OUT: pages claimed but not yet allocated.
    pub outstanding_pages: u64,
    /// OUT: pages shared with other domains.
    pub shr_pages: u64,
    /// OUT: pages paged out.
    pub paged_pages: u64,
    /// OUT: frame of the domain's `shared_info` page.
    pub shared_info_frame: u64,
    /// OUT: CPU time consumed, in nanoseconds.
    pub cpu_time: u64,
    /// OUT: number of online vCPUs.
    pub nr_online_vcpus: u32,
    /// OUT: highest vCPU id ([`XEN_INVALID_MAX_VCPU_ID`] if none).
    pub max_vcpu_id: u32,
    /// OUT: XSM security label.
    pub ssidref: u32,
    /// OUT: the domain's UUID.
    pub handle: XenDomainHandle,
    /// OUT: CPU pool the domain is in.
    pub cpupool: u32,
    /// OUT: width of the guest physical address space in bits.
    pub gpaddr_bits: u8,
    /// Padding; zero.
    pub pad2: [u8; 7],
    /// OUT: the configuration the domain was created with.
    pub arch_config: XenArchDomainconfig,
}
abi_layout!(XenDomctlGetdomaininfo: size 112,
    domain @ 0, pad1 @ 2, flags @ 4, tot_pages @ 8, max_pages @ 16, outstanding_pages @ 24,
    shr_pages @ 32, paged_pages @ 40, shared_info_frame @ 48, cpu_time @ 56,
    nr_online_vcpus @ 64, max_vcpu_id @ 68, ssidref @ 72, handle @ 76, cpupool @ 92,
    gpaddr_bits @ 96, pad2 @ 97, arch_config @ 104);

impl XenDomctlGetdomaininfo {
    /// The guest's shutdown code (a [`crate::sched::ShutdownReason`]
    /// number), meaningful when [`XEN_DOMINF_shutdown`] is set.
    #[must_use]
    pub const fn shutdown_code(&self) -> u32 {
        (self.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask
    }

    /// `flags` with the shutdown code replaced by `code` (truncated to
    /// [`XEN_DOMINF_shutdownmask`]).
    #[must_use]
    pub const fn flags_with_shutdown_code(flags: u32, code: u32) -> u32 {
        (flags & !(XEN_DOMINF_shutdownmask << XEN_DOMINF_shutdownshift))
            | ((code & XEN_DOMINF_shutdownmask) << XEN_DOMINF_shutdownshift)
    }
}

// ---------------------------------------------------------------------------
// One-field payloads
// ---------------------------------------------------------------------------

/// Payload of `XEN_DOMCTL_max_mem` (`struct xen_domctl_max_mem`).
#[doc(alias = "xen_domctl_max_mem")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlMaxMem {
    /// IN: memory limit in KiB.
    pub max_memkb: u64,
}
abi_layout!(XenDomctlMaxMem: size 8, max_memkb @ 0);

/// Payload of `XEN_DOMCTL_setdomainhandle`
/// (`struct xen_domctl_setdomainhandle`).
#[doc(alias = "xen_domctl_setdomainhandle")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSetdomainhandle {
    /// IN: the new UUID.
    pub handle: XenDomainHandle,
}
abi_layout!(XenDomctlSetdomainhandle: size 16, handle @ 0);

/// Payload of `XEN_DOMCTL_settimeoffset` (`struct xen_domctl_settimeoffset`).
#[doc(alias = "xen_domctl_settimeoffset")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSettimeoffset {
    /// IN: seconds added to the wallclock time the domain sees.
    pub time_offset_seconds: i64,
}
abi_layout!(XenDomctlSettimeoffset: size 8, time_offset_seconds @ 0);

/// Payload of the pre-4.12 [`XEN_DOMCTL_set_max_evtchn`](super::XEN_DOMCTL_set_max_evtchn)
/// (`struct xen_domctl_set_max_evtchn`, layout of Xen 4.11).
#[doc(alias = "xen_domctl_set_max_evtchn")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSetMaxEvtchn {
    /// IN: highest event channel port the domain may bind.
    pub max_port: u32,
}
abi_layout!(XenDomctlSetMaxEvtchn: size 4, max_port @ 0);

/// Payload of `XEN_DOMCTL_set_address_size` and `get_address_size`
/// (`struct xen_domctl_address_size`).
#[doc(alias = "xen_domctl_address_size")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlAddressSize {
    /// IN (set) / OUT (get): guest address width in bits (32 or 64).
    pub size: u32,
}
abi_layout!(XenDomctlAddressSize: size 4, size @ 0);

/// Payload of `XEN_DOMCTL_hypercall_init`
/// (`struct xen_domctl_hypercall_init`).
#[doc(alias = "xen_domctl_hypercall_init")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlHypercallInit {
    /// IN: guest frame to fill with hypercall stubs.
    pub gmfn: u64,
}
abi_layout!(XenDomctlHypercallInit: size 8, gmfn @ 0);

/// Payload of `XEN_DOMCTL_setdebugging` (`struct xen_domctl_setdebugging`).
#[doc(alias = "xen_domctl_setdebugging")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSetdebugging {
    /// IN: non-zero to enable debugger mode.
    pub enable: u8,
}
abi_layout!(XenDomctlSetdebugging: size 1, enable @ 0);
