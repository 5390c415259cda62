// SPDX-License-Identifier: GPL-2.0-only
//! Version and feature queries (`version.h`, `features.h`).
//!
//! Arguments of `HYPERVISOR_xen_version(cmd, arg)` ([`XenVersionOp`]) and
//! the `XENFEAT_*` bit numbers reported by `XENVER_get_features`.
//!
//! The fixed-size string results ([`XenExtraversion`],
//! [`XenCapabilitiesInfo`], …) must be fully NUL-padded when copied to a
//! guest (XSA-122): build them with their `new` constructors, which zero
//! every byte after the text.
//!
//! A 64-bit PV Linux (≥ 5.15) panics unless submap 0 contains
//! [`XENFEAT_mmu_pt_update_preserve_ad`] and [`XENFEAT_gnttab_map_avail_bits`].
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

use bytemuck::{Pod, Zeroable};

abi_enum! {
    /// Commands of `HYPERVISOR_xen_version` (`XENVER_*`).
    ///
    /// All return 0 on success except `version` and `pagesize`, which return
    /// their value, and the `*2`/`build_id` ones, which return a length.
    pub enum XenVersionOp: u32 {
        /// `arg` = NULL; returns `major << 16 | minor`.
        Version = 0 => "XENVER_version",
        /// `arg` = [`XenExtraversion`] (e.g. `".0"`, `"-rc"`).
        Extraversion = 1 => "XENVER_extraversion",
        /// `arg` = [`XenCompileInfo`].
        CompileInfo = 2 => "XENVER_compile_info",
        /// `arg` = [`XenCapabilitiesInfo`] (e.g. `"xen-3.0-x86_64 ..."`).
        Capabilities = 3 => "XENVER_capabilities",
        /// `arg` = [`XenChangesetInfo`].
        Changeset = 4 => "XENVER_changeset",
        /// `arg` = [`XenPlatformParameters`] (`virt_start`).
        PlatformParameters = 5 => "XENVER_platform_parameters",
        /// `arg` = [`XenFeatureInfo`]: IN `submap_idx`, OUT `submap`.
        GetFeatures = 6 => "XENVER_get_features",
        /// `arg` = NULL; returns the page size (4096).
        Pagesize = 7 => "XENVER_pagesize",
        /// `arg` = [`XenDomainHandle`]: the domain's UUID as set by the
        /// toolstack.
        GuestHandle = 8 => "XENVER_guest_handle",
        /// `arg` = [`XenCommandline`]: Xen's own command line.
        Commandline = 9 => "XENVER_commandline",
        /// `arg` = [`XenVarbuf`] header + buffer; returns the build id
        /// length (NULL `arg`: just the length).
        BuildId = 10 => "XENVER_build_id",
        /// Non-truncating extraversion (`arg` = [`XenVarbuf`]).
        Extraversion2 = 11 => "XENVER_extraversion2",
        /// Non-truncating capabilities (`arg` = [`XenVarbuf`]).
        Capabilities2 = 12 => "XENVER_capabilities2",
        /// Non-truncating changeset (`arg` = [`XenVarbuf`]).
        Changeset2 = 13 => "XENVER_changeset2",
        /// Non-truncating command line (`arg` = [`XenVarbuf`]).
        Commandline2 = 14 => "XENVER_commandline2",
    }
}

c_string! {
    /// Result of `XENVER_extraversion`: the version suffix.
    XenExtraversion, 16, "xen_extraversion_t"
}

c_string! {
    /// Result of `XENVER_capabilities`: space-separated guest types Xen can
    /// run (e.g. `"xen-3.0-x86_64 xen-3.0-x86_32p"`).
    XenCapabilitiesInfo, 1024, "xen_capabilities_info_t"
}

c_string! {
    /// Result of `XENVER_changeset`: the source revision.
    XenChangesetInfo, 64, "xen_changeset_info_t"
}

c_string! {
    /// Result of `XENVER_commandline`: the hypervisor command line.
    XenCommandline, 1024, "xen_commandline_t"
}

/// Length of [`XenExtraversion`] (`XEN_EXTRAVERSION_LEN`).
pub const XEN_EXTRAVERSION_LEN: usize = XenExtraversion::LEN;
/// Length of [`XenCapabilitiesInfo`] (`XEN_CAPABILITIES_INFO_LEN`).
pub const XEN_CAPABILITIES_INFO_LEN: usize = XenCapabilitiesInfo::LEN;
/// Length of [`XenChangesetInfo`] (`XEN_CHANGESET_INFO_LEN`).
pub const XEN_CHANGESET_INFO_LEN: usize = XenChangesetInfo::LEN;

/// Result of `XENVER_compile_info` (`xen_compile_info_t`); each field is a
/// NUL-padded string.
#[doc(alias = "xen_compile_info")]
#[doc(alias = "xen_compile_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenCompileInfo {
    /// OUT: compiler identification.
    pub compiler: [u8; 64],
    /// OUT: user who built Xen.
    pub compile_by: [u8; 16],
    /// OUT: domain of the build host.
    pub compile_domain: [u8; 32],
    /// OUT: build date.
    pub compile_date: [u8; 32],
}
abi_layout!(XenCompileInfo: size 144, compiler @ 0, compile_by @ 64, compile_domain @ 80,
    compile_date @ 112);

/// Result of `XENVER_platform_parameters` (`xen_platform_parameters_t`).
#[doc(alias = "xen_platform_parameters")]
#[doc(alias = "xen_platform_parameters_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenPlatformParameters {
    /// OUT: start of Xen's virtual range ([`crate::xen::HYPERVISOR_VIRT_START`]
    /// for 64-bit PV).
    pub virt_start: u64,
}
abi_layout!(XenPlatformParameters: size 8, virt_start @ 0);

/// Argument of `XENVER_get_features` (`xen_feature_info_t`).
#[doc(alias = "xen_feature_info")]
#[doc(alias = "xen_feature_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenFeatureInfo {
    /// IN: which 32-bit submap to return (only 0 exists:
    /// [`XENFEAT_NR_SUBMAPS`]).
    pub submap_idx: u32,
    /// OUT: feature bits `32 * submap_idx ..` (`1 << XENFEAT_*`).
    pub submap: u32,
}
abi_layout!(XenFeatureInfo: size 8, submap_idx @ 0, submap @ 4);

/// Result of `XENVER_guest_handle`: the domain's 16-byte handle (UUID)
/// (`xen_domain_handle_t`).
#[doc(alias = "xen_domain_handle_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(transparent)]
pub struct XenDomainHandle(pub [u8; 16]);
abi_layout!(XenDomainHandle: size 16);

/// Header of the variable-length buffer of `XENVER_build_id` and the `*2`
/// commands (`xen_varbuf_t`, formerly `xen_build_id_t`); the data follows
/// the header.
#[doc(alias = "xen_varbuf")]
#[doc(alias = "xen_varbuf_t")]
#[doc(alias = "xen_build_id_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenVarbuf {
    /// IN: size of the buffer following this header, in bytes.
    pub len: u32,
}
abi_layout!(XenVarbuf: size 4, len @ 0);

// ---------------------------------------------------------------------------
// XENFEAT_* (features.h): bit numbers within the feature bitmap
// ---------------------------------------------------------------------------

/// The guest may write its page tables directly (not PV).
pub const XENFEAT_writable_page_tables: u32 = 0;
/// The guest may write its descriptor tables directly.
pub const XENFEAT_writable_descriptor_tables: u32 = 1;
/// Xen translates guest-physical to machine addresses (HVM/PVH, not PV).
pub const XENFEAT_auto_translated_physmap: u32 = 2;
/// The guest kernel runs in ring 0.
pub const XENFEAT_supervisor_mode_kernel: u32 = 3;
/// PAE page directories need not be below 4 GiB.
pub const XENFEAT_pae_pgdir_above_4gb: u32 = 4;
/// `MMU_PT_UPDATE_PRESERVE_AD` is supported (required by Linux ≥ 5.15).
pub const XENFEAT_mmu_pt_update_preserve_ad: u32 = 5;
/// `MMUEXT_CLEAR_PAGE`/`MMUEXT_COPY_PAGE` are supported.
pub const XENFEAT_highmem_assist: u32 = 6;
/// `GNTTABOP_map_grant_ref` honours `GNTMAP_guest_avail*` PTE bits
/// (required by Linux ≥ 5.15).
pub const XENFEAT_gnttab_map_avail_bits: u32 = 7;
/// x86 HVM: the callback-vector upcall type is supported.
pub const XENFEAT_hvm_callback_vector: u32 = 8;
/// x86 HVM: the pvclock algorithm is safe to use.
pub const XENFEAT_hvm_safe_pvclock: u32 = 9;
/// x86 HVM: PIRQs can be used.
pub const XENFEAT_hvm_pirqs: u32 = 10;
/// Operation as dom0 is supported (set for the hardware domain).
pub const XENFEAT_dom0: u32 = 11;
/// Deprecated (grant references also mapped at pfn = mfn); the number is
/// commented out in current headers and must not be reused.
pub const XENFEAT_grant_map_identity: u32 = 12;
/// `XENMEMF_vnode` may be used in memory ops.
pub const XENFEAT_memory_op_vnode_supported: u32 = 13;
/// Arm: the SMC calling convention is supported.
pub const XENFEAT_ARM_SMCCC_supported: u32 = 14;
/// x86/PVH: the ACPI RSDP may be anywhere (not only below 1 MiB).
pub const XENFEAT_linux_rsdp_unrestricted: u32 = 15;
/// The domain is not direct-mapped (gfn != mfn).
pub const XENFEAT_not_direct_mapped: u32 = 16;
/// The domain is direct-mapped (gfn == mfn; every PV domain).
pub const XENFEAT_direct_mapped: u32 = 17;
/// `VCPUOP_register_runstate_phys_area` may be used.
pub const XENFEAT_runstate_phys_area: u32 = 18;
/// `VCPUOP_register_vcpu_time_phys_area` may be used.
pub const XENFEAT_vcpu_time_phys_area: u32 = 19;
/// All MSI-X vector-control writes are forwarded to the device model.
pub const XENFEAT_dm_msix_all_writes: u32 = 20;

/// Number of 32-bit feature submaps (`XENVER_get_features` accepts
/// `submap_idx < XENFEAT_NR_SUBMAPS`).
pub const XENFEAT_NR_SUBMAPS: u32 = 1;

/// Makes the `XENVER_version` result from a major and minor version.
#[must_use]
pub const fn xen_version_number(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AbiBytes;

    #[test]
    fn numbers() {
        assert_eq!(XenVersionOp::ALL.len(), 15);
        for (i, &op) in XenVersionOp::ALL.iter().enumerate() {
            assert_eq!(op.raw() as usize, i);
            assert_eq!(XenVersionOp::try_from(op.raw()), Ok(op));
        }
        assert!(XenVersionOp::try_from(15).is_err());
        let linux_needs =
            (1u32 << XENFEAT_mmu_pt_update_preserve_ad) | (1 << XENFEAT_gnttab_map_avail_bits);
        assert_eq!(linux_needs, 0xa0);
        assert_eq!(linux_needs | (1 << XENFEAT_dom0), 0x8a0);
        assert_eq!(XENFEAT_direct_mapped, 17);
        assert_eq!(xen_version_number(4, 19), 0x0004_0013);
    }

    #[test]
    fn strings_are_nul_padded() {
        let extra = XenExtraversion::new(b".0-very-long-extraversion");
        assert_eq!(extra.as_c_bytes(), b".0-very-long-ex");
        assert_eq!(extra.0.last(), Some(&0));
        let caps = XenCapabilitiesInfo::new(b"xen-3.0-x86_64");
        assert!(caps.0.iter().skip(14).all(|&b| b == 0));
        assert_eq!(format!("{caps:?}"), "XenCapabilitiesInfo(\"xen-3.0-x86_64\")");
        assert_eq!(XenCapabilitiesInfo::from_bytes(caps.as_bytes()), Some(caps));
        assert_eq!(XenChangesetInfo::default().as_c_bytes(), b"");
        assert_eq!(XenCommandline::LEN, 1024);
    }

    #[test]
    fn structs_round_trip() {
        let mut info = XenCompileInfo::default();
        info.compile_by[0] = b'x';
        info.compile_date[31] = b'y';
        let bytes = info.as_bytes();
        assert_eq!(bytes.get(64), Some(&b'x'));
        assert_eq!(bytes.get(143), Some(&b'y'));
        assert_eq!(XenCompileInfo::from_bytes(bytes), Some(info));
        let fi = XenFeatureInfo { submap_idx: 0, submap: 0xa0 };
        assert_eq!(fi.as_bytes(), &[0, 0, 0, 0, 0xa0, 0, 0, 0]);
        let params = XenPlatformParameters { virt_start: crate::xen::HYPERVISOR_VIRT_START };
        assert_eq!(XenPlatformParameters::from_bytes(params.as_bytes()), Some(params));
    }
}
