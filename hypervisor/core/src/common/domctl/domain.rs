// SPDX-License-Identifier: GPL-2.0-only
//! Domain life-cycle commands: `createdomain`, `pausedomain`,
//! `unpausedomain`, `resumedomain`, `getdomaininfo`, `max_mem`,
//! `setdomainhandle`, `setdebugging`, `settimeoffset` and the address size.
//!
//! `createdomain` follows 4.17's `do_domctl` + `domain_create`: the id
//! first (a free id `1..DOMID_FIRST_RESERVED` as given, `-EEXIST` when
//! taken; otherwise the next free one after the rover, `-ENOMEM` when none
//! is), then `sanitise_domain_config` / `arch_sanitise_domain_config`
//! (`-EINVAL`: unknown `XEN_DOMCTL_CDF_*` or grant options, no vCPUs or
//! more than [`MAX_VCPUS`], HVM or HAP (no HVM support), an IOMMU (none),
//! IOMMU options without one, vmtrace, vPMU, S3 integrity (no tboot),
//! unknown misc flags), the emulation flags (`-EINVAL` unknown,
//! `-EOPNOTSUPP` other than none or the PIT for PV), the shared-info frame
//! (`-ENOMEM`), [`Xsm::domain_create`] with the label, the grant-table
//! limits (`-EINVAL`: version 0 or above 1 — only version 1 exists here —,
//! fewer than 1 or more than 64 grant frames, more than 1024 maptrack
//! frames; negative means the default 64/1024) and the CPU pool
//! (`-ESRCH` for any but pool 0). The domain starts with every vCPU
//! created, down and without a context, paused once by the controller
//! (`controller_pause_count` 1: the toolstack's first unpause lets it run
//! and marks creation finished), no memory (`max_pages` 0) and a zeroed
//! shared-info frame it owns but is not charged for.
//!
//! [`Xsm::domain_create`]: crate::common::xsm::Xsm::domain_create

use guest_abi::domctl::{
    XEN_DOMCTL_CDF_MAX, XEN_DOMCTL_CDF_hap, XEN_DOMCTL_CDF_hvm, XEN_DOMCTL_CDF_iommu,
    XEN_DOMCTL_CDF_nested_virt, XEN_DOMCTL_CDF_oos_off, XEN_DOMCTL_CDF_s3_integrity,
    XEN_DOMCTL_CDF_vpmu, XEN_DOMCTL_CDF_xs_domain, XEN_DOMCTL_GRANT_version_mask,
    XEN_DOMINF_blocked, XEN_DOMINF_debugged, XEN_DOMINF_dying, XEN_DOMINF_paused,
    XEN_DOMINF_running, XEN_DOMINF_shutdown, XEN_DOMINF_shutdownshift, XEN_DOMINF_xs_domain,
    XEN_INVALID_MAX_VCPU_ID, XEN_X86_EMU_ALL, XEN_X86_EMU_PIT, XEN_X86_MSR_RELAXED,
    XenArchDomainconfig, XenDomctl, XenDomctlAddressSize, XenDomctlCreatedomain,
    XenDomctlGetdomaininfo, XenDomctlMaxMem, XenDomctlSetdebugging, XenDomctlSetdomainhandle,
    XenDomctlSettimeoffset,
};
use guest_abi::vcpu::RunState;
use guest_abi::version::XenDomainHandle;
use guest_abi::xen::{DOMID_FIRST_RESERVED, DomId, Errno};

use super::{MAX_VCPUS, payload, set_payload, subject_of};
use crate::common::domain::{Domain, Dying};
use crate::mm::Mfn;
use crate::mm::pv::INVALID_M2P_ENTRY;
use crate::pv::ctx::Ctx;

/// Xen's default (and largest) grant-table size (`opt_max_grant_frames`).
pub const MAX_GRANT_FRAMES: u32 = 64;
/// Xen's default (and largest) maptrack size (`opt_max_maptrack_frames`).
pub const MAX_MAPTRACK_FRAMES: u32 = 1024;
pub use crate::common::grant_table::GNTTAB_MAX_VERSION;
/// Most controller pauses outstanding (`_domain_pause_by_systemcontroller`).
pub const MAX_CONTROLLER_PAUSES: u32 = 255;

/// `XEN_DOMCTL_createdomain`.
pub fn createdomain(ctx: &mut Ctx<'_>, op: &mut XenDomctl) -> Result<i64, Errno> {
    let mut cfg: XenDomctlCreatedomain = payload(op)?;
    let id = pick_domid(ctx, op.domain)?;
    sanitise(&mut cfg)?;
    let emflags = cfg.arch.emulation_flags;
    if emflags & !XEN_X86_EMU_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    if emflags != 0 && emflags != XEN_X86_EMU_PIT {
        return Err(Errno::EOPNOTSUPP);
    }
    let shared_info = alloc_shared_info(ctx, id)?;
    let (grant, maptrack, version) = match check_rest(ctx, &cfg) {
        Ok(limits) => limits,
        Err(e) => {
            free_special_frame(ctx, id, shared_info);
            return Err(e);
        }
    };
    let mut d = Domain::new(id, false, shared_info);
    let n = usize::try_from(cfg.max_vcpus).map_err(|_| Errno::EINVAL)?;
    d.set_max_vcpus(n);
    let now = ctx.platform.now_ns();
    for v in &mut d.vcpus {
        // `vcpu_create`: down, offline, no context yet.
        v.down = true;
        v.initialised = false;
        v.runstate.state = RunState::Offline;
        v.runstate.entry_time = now;
    }
    d.pause_count = 1;
    d.vcpus_created = false;
    d.creation_finished = false;
    d.ssidref = cfg.ssidref;
    d.handle = cfg.handle.0;
    d.options = cfg.flags;
    d.emulation_flags = emflags;
    d.max_evtchn_port = cfg.max_evtchn_port.min(0x7fff_ffff);
    d.max_grant_frames = grant;
    d.max_maptrack_frames = maptrack;
    d.grant.max_version = version;
    d.max_pages = 0;
    if let Err(e) = ctx.domains.insert(d) {
        free_special_frame(ctx, id, shared_info);
        return Err(e);
    }
    op.domain = id;
    Ok(0)
}

/// The domain id of a new domain (`do_domctl`'s choice before
/// `domain_create`).
fn pick_domid(ctx: &mut Ctx<'_>, want: DomId) -> Result<DomId, Errno> {
    if want.0 > 0 && want.0 < DOMID_FIRST_RESERVED.0 {
        if want == ctx.dom.id || ctx.domains.contains(want) {
            return Err(Errno::EEXIST);
        }
        return Ok(want);
    }
    // The caller is in the machine's table but may not be in a test's:
    // never hand out its id.
    let id = ctx.domains.allocate_id()?;
    if id == ctx.dom.id { ctx.domains.allocate_id() } else { Ok(id) }
}

/// `sanitise_domain_config` and `arch_sanitise_domain_config` for this
/// hypervisor: PV only, no IOMMU, vmtrace, vPMU or tboot. Sets
/// `XEN_DOMCTL_CDF_oos_off` for PV, as Xen does.
fn sanitise(cfg: &mut XenDomctlCreatedomain) -> Result<(), Errno> {
    let flags = cfg.flags;
    let hvm = flags & XEN_DOMCTL_CDF_hvm != 0;
    let hap = flags & XEN_DOMCTL_CDF_hap != 0;
    let iommu = flags & XEN_DOMCTL_CDF_iommu != 0;
    let known = XEN_DOMCTL_CDF_MAX | XEN_DOMCTL_CDF_MAX.saturating_sub(1);
    let bad = flags & !known != 0
        || cfg.grant_opts & !XEN_DOMCTL_GRANT_version_mask != 0
        || cfg.max_vcpus < 1
        || (hap && !hvm)
        // No IOMMU is ever enabled; options need one.
        || iommu
        || cfg.iommu_opts != 0
        || cfg.vmtrace_size != 0
        || flags & XEN_DOMCTL_CDF_vpmu != 0
        // arch: no HVM support.
        || hvm
        || cfg.max_vcpus > MAX_VCPUS
        || flags & XEN_DOMCTL_CDF_s3_integrity != 0
        || (flags & XEN_DOMCTL_CDF_nested_virt != 0 && !hap)
        || cfg.arch.misc_flags & !XEN_X86_MSR_RELAXED != 0;
    if bad {
        return Err(Errno::EINVAL);
    }
    cfg.flags |= XEN_DOMCTL_CDF_oos_off;
    Ok(())
}

/// The checks of `domain_create` after the architecture part: access
/// control on the label, the grant-table limits, the CPU pool. Returns the
/// grant and maptrack frame limits and the highest grant version.
fn check_rest(ctx: &Ctx<'_>, cfg: &XenDomctlCreatedomain) -> Result<(u32, u32, u32), Errno> {
    ctx.xsm.domain_create(ctx.dom.subject(), cfg.ssidref)?;
    let version = cfg.grant_opts & XEN_DOMCTL_GRANT_version_mask;
    // `opt_gnttab_max_version` (`gnttab=max-ver:`), at most what exists.
    let max = ctx.platform.gnttab_opts().max_version.min(GNTTAB_MAX_VERSION);
    if version == 0 || version > max {
        return Err(Errno::EINVAL);
    }
    let grant = u32::try_from(cfg.max_grant_frames).unwrap_or(MAX_GRANT_FRAMES);
    let maptrack = u32::try_from(cfg.max_maptrack_frames).unwrap_or(MAX_MAPTRACK_FRAMES);
    if !(1..=MAX_GRANT_FRAMES).contains(&grant) || maptrack > MAX_MAPTRACK_FRAMES {
        return Err(Errno::EINVAL);
    }
    if cfg.cpupool_id != 0 {
        return Err(Errno::ESRCH);
    }
    Ok((grant, maptrack, version))
}

/// A zeroed frame for the new domain's shared info, owned by it
/// (`alloc_xenheap_page` + `share_xen_page_with_guest`).
fn alloc_shared_info(ctx: &mut Ctx<'_>, id: DomId) -> Result<Mfn, Errno> {
    // A xenheap page: never from claimed memory.
    if !ctx.claims.may_allocate(|| ctx.platform.free_pages(), 1, None) {
        return Err(Errno::ENOMEM);
    }
    let mfn = ctx.platform.alloc_frame().ok_or(Errno::ENOMEM)?;
    if ctx.frames.assign(mfn, id).is_err() {
        ctx.platform.free_frame(mfn);
        return Err(Errno::ENOMEM);
    }
    ctx.mem.zero_frame(mfn);
    ctx.m2p.set_gpfn_from_mfn(mfn, INVALID_M2P_ENTRY);
    Ok(mfn)
}

/// Gives back a frame [`alloc_shared_info`] assigned to `id`.
fn free_special_frame(ctx: &mut Ctx<'_>, id: DomId, mfn: Mfn) {
    let _ = ctx.frames.release(mfn, id);
    for f in ctx.frames.take_freed() {
        ctx.mem.zero_frame(f);
        ctx.platform.free_frame(f);
    }
}

/// `XEN_DOMCTL_pausedomain` (`domain_pause_by_systemcontroller`): not the
/// caller itself (`-EINVAL`), at most 255 nested pauses (`-EOVERFLOW`).
pub fn pausedomain(ctx: &mut Ctx<'_>, id: DomId) -> Result<i64, Errno> {
    if id == ctx.dom.id {
        return Err(Errno::EINVAL);
    }
    ctx.with_target(id, |t| {
        let d = &mut *t.target;
        if d.pause_count >= MAX_CONTROLLER_PAUSES {
            return Err(Errno::EOVERFLOW);
        }
        d.pause_count = d.pause_count.saturating_add(1);
        kick_all(d);
        Ok(0)
    })?
}

/// `XEN_DOMCTL_unpausedomain` (`domain_unpause_by_systemcontroller`):
/// `-EINVAL` when no controller pause is outstanding; the first unpause to
/// 0 finishes creation.
pub fn unpausedomain(ctx: &mut Ctx<'_>, id: DomId) -> Result<i64, Errno> {
    ctx.with_target(id, |t| {
        let d = &mut *t.target;
        d.pause_count = d.pause_count.checked_sub(1).ok_or(Errno::EINVAL)?;
        if d.pause_count == 0 {
            d.creation_finished = true;
        }
        kick_all(d);
        Ok(0)
    })?
}

/// `XEN_DOMCTL_resumedomain` (`domain_resume`): the domain's shutdown is
/// forgotten (a suspended domain runs on). Not the caller (`-EINVAL`).
pub fn resumedomain(ctx: &mut Ctx<'_>, id: DomId) -> Result<i64, Errno> {
    if id == ctx.dom.id {
        return Err(Errno::EINVAL);
    }
    ctx.with_target(id, |t| {
        t.target.shutdown = None;
        kick_all(t.target);
    })?;
    Ok(0)
}

/// Asks the machine layer to look at every vCPU of `d` (a pause or unpause
/// changes whether they may run).
fn kick_all(d: &mut Domain) {
    for i in 0..d.vcpus.len() {
        d.kick(i);
    }
}

/// Xen's `getdomaininfo`: the state of `d` at system time `now`, for a
/// CPU with `paddr_bits` physical address bits.
#[must_use]
pub fn domaininfo(d: &Domain, now: u64, paddr_bits: u8) -> XenDomctlGetdomaininfo {
    let mut info: XenDomctlGetdomaininfo = bytemuck::Zeroable::zeroed();
    info.domain = d.id;
    info.max_vcpu_id = XEN_INVALID_MAX_VCPU_ID;
    let mut flags = XEN_DOMINF_blocked;
    let mut cpu_time = 0u64;
    for v in d.vcpus.iter().filter(|_| d.vcpus_created) {
        let rs = v.runstate.info(now);
        cpu_time = cpu_time.saturating_add(rs.time[0]);
        info.max_vcpu_id = v.id.0;
        if !v.down {
            if !v.blocked {
                flags &= !XEN_DOMINF_blocked;
            }
            if v.runstate.state == RunState::Running {
                flags |= XEN_DOMINF_running;
            }
            info.nr_online_vcpus = info.nr_online_vcpus.saturating_add(1);
        }
    }
    info.cpu_time = cpu_time;
    let mut all = if info.nr_online_vcpus != 0 { flags } else { 0 };
    if d.dying == Dying::Dead {
        all |= XEN_DOMINF_dying;
    }
    if d.shutdown.is_some() {
        all |= XEN_DOMINF_shutdown;
    }
    if d.pause_count > 0 {
        all |= XEN_DOMINF_paused;
    }
    if d.debugger_attached {
        all |= XEN_DOMINF_debugged;
    }
    if d.options & XEN_DOMCTL_CDF_xs_domain != 0 {
        all |= XEN_DOMINF_xs_domain;
    }
    // `shutdown_code << XEN_DOMINF_shutdownshift`, with Xen's
    // SHUTDOWN_CODE_INVALID (~0) while the domain runs: the high bits all
    // set, the code field reading 255.
    let code = d.shutdown.map_or(u32::MAX, |r| r.code());
    all |= code.checked_shl(XEN_DOMINF_shutdownshift).unwrap_or(0);
    info.flags = all;
    info.ssidref = d.ssidref;
    info.tot_pages = d.tot_pages;
    info.max_pages = d.max_pages;
    info.outstanding_pages = d.outstanding_pages;
    // PV: not translated, the frame is the machine frame.
    info.shared_info_frame = d.shared_info.0;
    info.cpupool = 0;
    info.handle = XenDomainHandle(d.handle);
    info.gpaddr_bits = paddr_bits;
    info.arch_config = XenArchDomainconfig { emulation_flags: d.emulation_flags, misc_flags: 0 };
    info
}

/// The lowest domain id at or above `from`: the caller or a domain of the
/// table (the walk of `for_each_domain`).
pub(crate) fn next_domain(ctx: &Ctx<'_>, from: DomId) -> Option<DomId> {
    let me = ctx.dom.id;
    let other = ctx.domains.iter_from(from).map(|d| d.id()).find(|&id| id != me);
    let mine = (me.0 >= from.0).then_some(me);
    match (mine, other) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// `XEN_DOMCTL_getdomaininfo`: the domain named, or else the first one with
/// a higher id (`-EINVAL` for a reserved id, `-ESRCH` when there is none).
/// The header's `domain` says which one was described.
pub fn getdomaininfo(ctx: &mut Ctx<'_>, op: &mut XenDomctl) -> Result<i64, Errno> {
    let id = if subject_of(ctx, op.domain).is_some() {
        op.domain
    } else {
        if op.domain.0 >= DOMID_FIRST_RESERVED.0 {
            return Err(Errno::EINVAL);
        }
        next_domain(ctx, op.domain).ok_or(Errno::ESRCH)?
    };
    let paddr_bits = ctx.platform.host_info().paddr_bits;
    let now = ctx.platform.now_ns();
    let info = ctx.with_target(id, |t| domaininfo(t.target, now, paddr_bits))?;
    op.domain = info.domain;
    set_payload(op, &info);
    Ok(0)
}

/// `XEN_DOMCTL_max_mem`: the limit in KiB, rounded down to pages and capped
/// at Xen's 32-bit `max_pages`; a limit below the current allocation is
/// accepted (new allocations fail until the domain is below it).
pub fn max_mem(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let arg: XenDomctlMaxMem = payload(op)?;
    let pages = (arg.max_memkb >> 2).min(u64::from(u32::MAX));
    ctx.with_target(op.domain, |t| t.target.max_pages = pages)?;
    Ok(0)
}

/// `XEN_DOMCTL_setdomainhandle`.
pub fn setdomainhandle(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let arg: XenDomctlSetdomainhandle = payload(op)?;
    ctx.with_target(op.domain, |t| t.target.handle = arg.handle.0)?;
    Ok(0)
}

/// `XEN_DOMCTL_setdebugging`: not on the caller itself (`-EINVAL`).
pub fn setdebugging(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    if op.domain == ctx.dom.id {
        return Err(Errno::EINVAL);
    }
    let arg: XenDomctlSetdebugging = payload(op)?;
    ctx.with_target(op.domain, |t| t.target.debugger_attached = arg.enable != 0)?;
    Ok(0)
}

/// `XEN_DOMCTL_settimeoffset`: stored in the domain (the wallclock in its
/// shared info does not apply it yet).
pub fn settimeoffset(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let arg: XenDomctlSettimeoffset = payload(op)?;
    ctx.with_target(op.domain, |t| t.target.time_offset_seconds = arg.time_offset_seconds)?;
    Ok(0)
}

/// `XEN_DOMCTL_set_address_size`: 64 is what every domain here is; 32
/// would need compat (PV32) support, which this build lacks
/// (`switch_compat`: `-EOPNOTSUPP`); anything else `-EINVAL`.
pub fn set_address_size(_ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let arg: XenDomctlAddressSize = payload(op)?;
    match arg.size {
        64 => Ok(0),
        32 => Err(Errno::EOPNOTSUPP),
        _ => Err(Errno::EINVAL),
    }
}

/// `XEN_DOMCTL_get_address_size`: always 64.
pub fn get_address_size(_ctx: &mut Ctx<'_>, op: &mut XenDomctl) -> Result<i64, Errno> {
    set_payload(op, &XenDomctlAddressSize { size: 64 });
    Ok(0)
}
