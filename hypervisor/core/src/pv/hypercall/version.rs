// SPDX-License-Identifier: GPL-2.0-only
//! `xen_version(cmd, arg)`: version, build and feature queries.
//!
//! String results are NUL-padded to their full size (XSA-122). The feature
//! map is what Xen reports to a 64-bit PV guest: `mmu_pt_update_preserve_ad`,
//! `highmem_assist` and `gnttab_map_avail_bits` (Linux >= 5.15 needs bits
//! 5 and 7), `dom0` for the hardware domain, `not_direct_mapped`, and
//! `pae_pgdir_above_4gb` when the kernel asked for extended CR3.

use guest_abi::version::{
    XENFEAT_dom0, XENFEAT_gnttab_map_avail_bits, XENFEAT_highmem_assist,
    XENFEAT_mmu_pt_update_preserve_ad, XENFEAT_not_direct_mapped, XENFEAT_pae_pgdir_above_4gb,
    XenCapabilitiesInfo, XenChangesetInfo, XenCommandline, XenCompileInfo, XenDomainHandle,
    XenExtraversion, XenFeatureInfo, XenPlatformParameters, XenVersionOp,
};
use guest_abi::xen::{Errno, HYPERVISOR_VIRT_START};

use crate::pv::ctx::Ctx;

/// Major version reported by `XENVER_version` (and CPUID leaf 0x40000001).
pub const XEN_MAJOR: u16 = 3;
/// Minor version.
pub const XEN_MINOR: u16 = 0;
/// `XENVER_extraversion`.
pub const XEN_EXTRAVERSION: &str = "-rs";
/// `XENVER_capabilities`: the only guest type this hypervisor runs.
pub const XEN_CAPABILITIES: &str = "xen-3.0-x86_64";
/// `XENVER_changeset`.
pub const XEN_CHANGESET: &str = "unavailable";
/// `VMASST_TYPE_pae_extended_cr3`.
const VMASST_PAE_EXTENDED_CR3: u32 = 3;

/// Feature submap `idx` for `dom`'s guest.
#[must_use]
pub fn features(privileged: bool, pae_extended_cr3: bool, idx: u32) -> u32 {
    if idx != 0 {
        return 0;
    }
    let mut map = (1 << XENFEAT_mmu_pt_update_preserve_ad)
        | (1 << XENFEAT_highmem_assist)
        | (1 << XENFEAT_gnttab_map_avail_bits)
        | (1 << XENFEAT_not_direct_mapped);
    if privileged {
        map |= 1 << XENFEAT_dom0;
    }
    if pae_extended_cr3 {
        map |= 1 << XENFEAT_pae_pgdir_above_4gb;
    }
    map
}

fn put<T: bytemuck::Pod>(ctx: &mut Ctx<'_>, arg: u64, v: &T) -> Result<i64, Errno> {
    ctx.write(arg, v).map(|()| 0)
}

fn field<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (d, s) in out.iter_mut().zip(text.bytes().take(N.saturating_sub(1))) {
        *d = s;
    }
    out
}

/// `xen_version(cmd, arg)`.
pub fn xen_version(ctx: &mut Ctx<'_>, cmd: u64, arg: u64) -> Result<i64, Errno> {
    let op = u32::try_from(cmd).ok().and_then(|c| XenVersionOp::try_from(c).ok());
    let Some(op) = op else { return Err(Errno::ENOSYS) };
    // The command line and build id are the privileged domain's.
    ctx.xsm.xen_version(ctx.dom.subject(), op.raw())?;
    match op {
        XenVersionOp::Version => {
            Ok(i64::from(guest_abi::version::xen_version_number(XEN_MAJOR, XEN_MINOR)))
        }
        XenVersionOp::Extraversion => {
            put(ctx, arg, &XenExtraversion::new(XEN_EXTRAVERSION.as_bytes()))
        }
        XenVersionOp::CompileInfo => {
            let info = XenCompileInfo {
                compiler: field("rustc (nightly)"),
                compile_by: field("xen-rs"),
                compile_domain: field(""),
                compile_date: field(""),
            };
            put(ctx, arg, &info)
        }
        XenVersionOp::Capabilities => {
            put(ctx, arg, &XenCapabilitiesInfo::new(XEN_CAPABILITIES.as_bytes()))
        }
        XenVersionOp::Changeset => put(ctx, arg, &XenChangesetInfo::new(XEN_CHANGESET.as_bytes())),
        XenVersionOp::PlatformParameters => {
            put(ctx, arg, &XenPlatformParameters { virt_start: HYPERVISOR_VIRT_START })
        }
        XenVersionOp::GetFeatures => {
            let mut fi: XenFeatureInfo = ctx.read(arg)?;
            fi.submap = features(
                ctx.dom.privileged,
                ctx.dom.vm_assist_enabled(VMASST_PAE_EXTENDED_CR3),
                fi.submap_idx,
            );
            put(ctx, arg, &fi)
        }
        XenVersionOp::Pagesize => Ok(4096),
        XenVersionOp::GuestHandle => put(ctx, arg, &XenDomainHandle(ctx.dom.handle)),
        XenVersionOp::Commandline => {
            let line = ctx.platform.xen_commandline();
            put(ctx, arg, &XenCommandline::new(line.as_bytes()))
        }
        // No build id is embedded; the variable-size string queries are a
        // newer interface than the one this hypervisor reports.
        XenVersionOp::BuildId => Err(Errno::ENODATA),
        XenVersionOp::Extraversion2
        | XenVersionOp::Capabilities2
        | XenVersionOp::Changeset2
        | XenVersionOp::Commandline2 => Err(Errno::ENOSYS),
    }
}
