// SPDX-License-Identifier: GPL-2.0-only
//! The envelope, creation, information, pausing and destruction.

use alloc::collections::BTreeSet;

use guest_abi::domctl::{
    DomctlCmd, XEN_DOMCTL_CDF_hap, XEN_DOMCTL_CDF_hvm, XEN_DOMCTL_CDF_iommu,
    XEN_DOMCTL_CDF_oos_off, XEN_DOMCTL_CDF_vpmu, XEN_DOMCTL_CDF_xs_domain, XEN_DOMINF_blocked,
    XEN_DOMINF_dying, XEN_DOMINF_paused, XEN_DOMINF_running, XEN_DOMINF_shutdown,
    XEN_DOMINF_xs_domain, XEN_INVALID_MAX_VCPU_ID, XEN_X86_EMU_LAPIC, XEN_X86_EMU_PIT,
    XenDomctlVcpucontext,
};
use guest_abi::event_channel::EvtchnAllocUnbound;
use guest_abi::grant_table::{GnttabOp, GnttabSetupTable};
use guest_abi::xen::{
    DOMID_FIRST_RESERVED, DomId, Errno, EvtchnPort, Hypercall, VGCF_in_kernel, VGCF_online,
    VcpuGuestContext,
};

use super::*;
use crate::common::domain::ShutdownReason;
use crate::common::event_channel::two_level::VcpuInfoRef;
use crate::mm::pv::{INVALID_M2P_ENTRY, PageType, audit};
use crate::pv::hypercall;
use crate::pv::platform::Platform;

#[test]
fn the_envelope_is_checked_before_anything() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    // A wrong interface version: -EACCES, whatever the rest says.
    let mut op = bare(DomctlCmd::Pausedomain, id.0);
    op.interface_version = 0x14;
    assert_eq!(domctl(&mut f, &op).0, Err(Errno::EACCES));
    op.interface_version = u32::MAX;
    assert_eq!(domctl(&mut f, &op).0, Err(Errno::EACCES));
    // An unknown command: -ENOSYS once the domain and access were checked;
    // -ESRCH first for a domain that does not exist.
    for cmd in [0u32, 6, 70, 999, u32::MAX] {
        let mut op = bare(DomctlCmd::Pausedomain, id.0);
        op.cmd = cmd;
        assert_eq!(domctl(&mut f, &op).0, Err(Errno::ENOSYS), "cmd {cmd}");
        op.domain = DomId(77);
        assert_eq!(domctl(&mut f, &op).0, Err(Errno::ESRCH), "cmd {cmd}");
    }
    // A 4.17 command that is not implemented here.
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::ShadowOp, id.0)).0, Err(Errno::ENOSYS));
    // DOMID_SELF is not a domain id for domctl.
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Pausedomain, 0x7ff0)).0, Err(Errno::ESRCH));
    // The envelope must be readable: unmapped, straddling the end of the
    // mapped area, or a non-canonical address.
    for arg in [UNMAPPED, UNMAPPED - 100, 0, 0x8000_0000_0000_0000, u64::MAX] {
        assert_eq!(do_domctl(&mut f.ctx(), arg), Err(Errno::EFAULT), "{arg:#x}");
    }
    // Unaligned is fine.
    f.poke(ARG + 3, bytemuck::bytes_of(&bare(DomctlCmd::Pausedomain, id.0)));
    assert_eq!(do_domctl(&mut f.ctx(), ARG + 3), Ok(0));
}

#[test]
fn an_unprivileged_caller_gets_eperm() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    f.dom.privileged = false;
    f.dom.id = DomId(3);
    for op in [
        bare(DomctlCmd::Pausedomain, id.0),
        bare(DomctlCmd::Destroydomain, id.0),
        bare(DomctlCmd::Getdomaininfo, id.0),
        bare(DomctlCmd::Getdomaininfo, 3),
        bare(DomctlCmd::Getdomaininfo, 500),
        env(DomctlCmd::Createdomain, 0, &config(1)),
        bare(DomctlCmd::ShadowOp, 3),
    ] {
        assert_eq!(domctl(&mut f, &op).0, Err(Errno::EPERM), "{:?}", op.op());
    }
    // The lookup comes first: a domain that does not exist is -ESRCH.
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Pausedomain, 9)).0, Err(Errno::ESRCH));
    assert_eq!(f.domains.len(), 1);
}

#[test]
fn create_info_pause_unpause_destroy() {
    let mut f = fixture();
    let frames_before = snapshot(&f);
    let pool_before = pool(&f);
    let mut c = config(3);
    c.flags = XEN_DOMCTL_CDF_xs_domain;
    c.arch.emulation_flags = XEN_X86_EMU_PIT;
    let (r, back) = domctl(&mut f, &env(DomctlCmd::Createdomain, 0, &c));
    assert_eq!(r, Ok(0));
    let id = back.domain;
    assert_eq!(id, DomId(1), "the first free id after the rover");
    // As Xen 4.17: no vCPU for the toolstack before XEN_DOMCTL_max_vcpus.
    assert_eq!(info(&mut f, id.0).unwrap().max_vcpu_id, XEN_INVALID_MAX_VCPU_ID);
    let ctx = guest_abi::domctl::XenDomctlVcpucontext {
        vcpu: guest_abi::xen::VcpuId(0),
        pad: 0,
        ctxt: 0,
    };
    let (r, _) = domctl(&mut f, &env(DomctlCmd::Getvcpucontext, id.0, &ctx));
    assert_eq!(r, Err(Errno::EINVAL), "getvcpucontext before max_vcpus");
    let max = guest_abi::domctl::XenDomctlMaxVcpus { max: 3 };
    assert_eq!(domctl(&mut f, &env(DomctlCmd::MaxVcpus, id.0, &max)).0, Ok(0));
    // The shared-info frame is the domain's, zeroed, not charged.
    let si = with_dom(&f, id, |d| d.shared_info);
    assert_eq!(owned(&f, id), BTreeSet::from([si]));
    assert!(f.mem.frame(si).unwrap().iter().all(|&w| w == 0));
    with_dom(&f, id, |d| {
        assert_eq!(d.options, XEN_DOMCTL_CDF_xs_domain | XEN_DOMCTL_CDF_oos_off);
        assert_eq!((d.ssidref, d.handle, d.pause_count), (7, [0xab; 16], 1));
        assert_eq!(
            (d.max_grant_frames, d.max_maptrack_frames, d.max_evtchn_port),
            (64, 1024, 1023)
        );
        assert_eq!((d.grant.version, d.grant.max_version), (1, 1), "grant_opts version 1");
        assert!(!d.creation_finished && !d.privileged);
        assert!(d.vcpus.iter().all(|v| v.down && !v.initialised));
    });

    let i = info(&mut f, id.0).unwrap();
    assert_eq!(i.domain, id);
    assert_eq!(i.max_vcpu_id, 2);
    assert_eq!(i.nr_online_vcpus, 0);
    // No vCPU online: no blocked/running bits; paused by the controller;
    // the shutdown code field holds Xen's "invalid" (all ones).
    assert_eq!(i.flags & (XEN_DOMINF_blocked | XEN_DOMINF_running), 0);
    assert_ne!(i.flags & XEN_DOMINF_paused, 0);
    assert_ne!(i.flags & XEN_DOMINF_xs_domain, 0);
    assert_eq!(i.flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown), 0);
    assert_eq!(i.shutdown_code(), 255);
    assert_eq!(i.flags >> 16, 0xffff);
    assert_eq!((i.tot_pages, i.max_pages, i.shared_info_frame), (0, 0, si.0));
    assert_eq!((i.ssidref, i.handle.0, i.cpupool), (7, [0xab; 16], 0));
    assert_eq!(i.arch_config.emulation_flags, XEN_X86_EMU_PIT);

    // Nested pauses.
    let pause = bare(DomctlCmd::Pausedomain, id.0);
    let unpause = bare(DomctlCmd::Unpausedomain, id.0);
    assert_eq!(domctl(&mut f, &pause).0, Ok(0));
    assert_eq!(with_dom(&f, id, |d| d.pause_count), 2);
    assert_eq!(domctl(&mut f, &unpause).0, Ok(0));
    assert!(!with_dom(&f, id, |d| d.creation_finished));
    assert_eq!(domctl(&mut f, &unpause).0, Ok(0));
    assert!(with_dom(&f, id, |d| d.creation_finished && d.pause_count == 0));
    assert_eq!(info(&mut f, id.0).unwrap().flags & XEN_DOMINF_paused, 0);
    assert_eq!(domctl(&mut f, &unpause).0, Err(Errno::EINVAL), "not paused");
    // At most 255 controller pauses.
    for _ in 0..255 {
        assert_eq!(domctl(&mut f, &pause).0, Ok(0));
    }
    assert_eq!(domctl(&mut f, &pause).0, Err(Errno::EOVERFLOW));
    assert_eq!(with_dom(&f, id, |d| d.pause_count), 255);
    // Never the caller itself.
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Pausedomain, 0)).0, Err(Errno::EINVAL));

    // A shut-down domain reports its code; resumedomain forgets it.
    with_dom(&f, id, |d| d.shutdown = Some(ShutdownReason::Suspend));
    let i = info(&mut f, id.0).unwrap();
    assert_ne!(i.flags & XEN_DOMINF_shutdown, 0);
    assert_eq!(i.shutdown_code(), 2);
    assert_eq!(i.flags >> 16, 2);
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Resumedomain, id.0)).0, Ok(0));
    assert_eq!(info(&mut f, id.0).unwrap().flags & XEN_DOMINF_shutdown, 0);

    // Destroy: everything back, the domain gone.
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Ok(0));
    assert!(!f.domains.contains(id));
    assert_eq!(snapshot(&f), frames_before);
    assert_eq!(pool(&f), pool_before);
    assert_eq!(f.platform.freed, [si]);
    assert_eq!(info(&mut f, id.0).map(|i| i.domain), Err(Errno::ESRCH));
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Err(Errno::ESRCH));
}

#[test]
fn createdomain_validates_its_configuration() {
    let mut f = fixture();
    let pool_before = pool(&f);
    let frames_before = snapshot(&f);
    type Case = (fn(&mut XenDomctlCreatedomain), Errno);
    let cases: [Case; 20] = [
        (|c| c.flags = XEN_DOMCTL_CDF_hvm, Errno::EINVAL),
        (|c| c.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap, Errno::EINVAL),
        (|c| c.flags = XEN_DOMCTL_CDF_hap, Errno::EINVAL),
        (|c| c.flags = 1 << 8, Errno::EINVAL),
        (|c| c.flags = u32::MAX, Errno::EINVAL),
        (|c| c.flags = XEN_DOMCTL_CDF_iommu, Errno::EINVAL),
        (|c| c.iommu_opts = 1, Errno::EINVAL),
        (|c| c.flags = XEN_DOMCTL_CDF_vpmu, Errno::EINVAL),
        (|c| c.vmtrace_size = 4096, Errno::EINVAL),
        (|c| c.max_vcpus = 0, Errno::EINVAL),
        (|c| c.max_vcpus = super::super::MAX_VCPUS + 1, Errno::EINVAL),
        (|c| c.max_vcpus = u32::MAX, Errno::EINVAL),
        (|c| c.grant_opts = 0x10 | 1, Errno::EINVAL),
        (|c| c.grant_opts = 0, Errno::EINVAL),
        (|c| c.grant_opts = 3, Errno::EINVAL),
        (|c| c.max_grant_frames = 65, Errno::EINVAL),
        (|c| c.max_grant_frames = 0, Errno::EINVAL),
        (|c| c.max_maptrack_frames = 1025, Errno::EINVAL),
        (|c| c.arch.emulation_flags = XEN_X86_EMU_LAPIC, Errno::EOPNOTSUPP),
        (|c| c.cpupool_id = 1, Errno::ESRCH),
    ];
    for (i, (mutate, want)) in cases.iter().enumerate() {
        let mut c = config(2);
        mutate(&mut c);
        let (r, back) = domctl(&mut f, &env(DomctlCmd::Createdomain, 0, &c));
        assert_eq!(r, Err(*want), "case {i}");
        assert_eq!(back.domain, DomId(0), "case {i}: no id written back");
    }
    let mut c = config(2);
    c.arch.emulation_flags = 1 << 31;
    assert_eq!(domctl(&mut f, &env(DomctlCmd::Createdomain, 0, &c)).0, Err(Errno::EINVAL));
    c.arch.emulation_flags = 0;
    c.arch.misc_flags = 2;
    assert_eq!(domctl(&mut f, &env(DomctlCmd::Createdomain, 0, &c)).0, Err(Errno::EINVAL));
    // Nothing was created and no frame leaked.
    assert!(f.domains.is_empty());
    assert_eq!(pool(&f), pool_before);
    assert_eq!(snapshot(&f), frames_before);

    // Domain ids: a free id as given, a taken one -EEXIST, reserved ones
    // and 0 mean "pick one".
    assert_eq!(create(&mut f, 40, 1), DomId(40));
    let (r, _) = domctl(&mut f, &env(DomctlCmd::Createdomain, 40, &config(1)));
    assert_eq!(r, Err(Errno::EEXIST));
    let (r, _) = domctl(&mut f, &env(DomctlCmd::Createdomain, 0, &config(1)));
    assert_eq!(r, Ok(0));
    // (The rover moved on with every attempt above, as Xen's does.)
    let a = create(&mut f, DOMID_FIRST_RESERVED.0, 1);
    let b = create(&mut f, 0xffff, 1);
    assert!(a.0 > 0 && a.0 < DOMID_FIRST_RESERVED.0 && a != DomId(40));
    assert!(b.0 > a.0 && b.0 < DOMID_FIRST_RESERVED.0 && b != DomId(40));
    // The largest vCPU count.
    let big = create(&mut f, 0, super::super::MAX_VCPUS);
    assert_eq!(info(&mut f, big.0).unwrap().max_vcpu_id, super::super::MAX_VCPUS - 1);

    // Out of memory for the shared-info frame: -ENOMEM, nothing kept.
    let saved = core::mem::take(&mut f.platform.pool);
    let n = f.domains.len();
    let (r, _) = domctl(&mut f, &env(DomctlCmd::Createdomain, 0, &config(1)));
    assert_eq!(r, Err(Errno::ENOMEM));
    assert_eq!(f.domains.len(), n);
    f.platform.pool = saved;
    // Version 2 is there: the domain may choose it.
    let mut c = config(2);
    c.grant_opts = guest_abi::domctl::xen_domctl_grant_version(2);
    let (r, back) = domctl(&mut f, &env(DomctlCmd::Createdomain, 0, &c));
    assert_eq!(r, Ok(0));
    assert_eq!(with_dom(&f, back.domain, |d| d.grant.max_version), 2);
    // gnttab=max-ver:1: version 2 is refused.
    f.platform.gnttab.max_version = 1;
    assert_eq!(domctl(&mut f, &env(DomctlCmd::Createdomain, 0, &c)).0, Err(Errno::EINVAL));
}

#[test]
fn the_caller_is_never_replaced_and_its_id_never_handed_out() {
    let mut f = fixture();
    // The fixture's caller is not in the table; its id is still taken.
    f.dom.id = DomId(1);
    let (r, _) = domctl(&mut f, &env(DomctlCmd::Createdomain, 1, &config(1)));
    assert_eq!(r, Err(Errno::EEXIST));
    assert_eq!(create(&mut f, 0, 1), DomId(2));
}

#[test]
fn getdomaininfo_walks_to_the_next_domain() {
    let mut f = fixture();
    assert_eq!(create(&mut f, 5, 1), DomId(5));
    assert_eq!(create(&mut f, 9, 2), DomId(9));
    // The caller (dom0) is described as any other domain.
    let i = info(&mut f, 0).unwrap();
    assert_eq!(i.domain, DomId(0));
    assert_eq!(i.nr_online_vcpus, 1);
    assert_ne!(i.flags & XEN_DOMINF_running, 0);
    assert_eq!(i.flags & XEN_DOMINF_blocked, 0);
    for (ask, got) in [(1, 5), (5, 5), (6, 9), (9, 9)] {
        let (r, back) = domctl(&mut f, &bare(DomctlCmd::Getdomaininfo, ask));
        assert_eq!(r, Ok(0), "{ask}");
        assert_eq!(back.domain, DomId(got), "header names the domain described");
        let i: guest_abi::domctl::XenDomctlGetdomaininfo = back.payload().unwrap();
        assert_eq!(i.domain, DomId(got));
    }
    assert_eq!(info(&mut f, 10).map(|i| i.domain), Err(Errno::ESRCH));
    assert_eq!(info(&mut f, DOMID_FIRST_RESERVED.0 - 1).map(|i| i.domain), Err(Errno::ESRCH));
    for reserved in [DOMID_FIRST_RESERVED.0, 0x7ff0, 0xffff] {
        assert_eq!(info(&mut f, reserved).map(|i| i.domain), Err(Errno::EINVAL));
    }
    // A blocked online vCPU makes the domain blocked.
    with_dom(&f, DomId(9), |d| {
        d.vcpus[0].down = false;
        d.vcpus[0].blocked = true;
    });
    let i = info(&mut f, 9).unwrap();
    assert_eq!(i.nr_online_vcpus, 1);
    assert_ne!(i.flags & XEN_DOMINF_blocked, 0);
    // A domain without vCPUs.
    with_dom(&f, DomId(5), |d| d.vcpus.clear());
    assert_eq!(info(&mut f, 5).unwrap().max_vcpu_id, XEN_INVALID_MAX_VCPU_ID);
    // The result cannot be written back: -EFAULT is the caller's problem,
    // the op's work is done (here: none).
    f.poke(ARG, bytemuck::bytes_of(&bare(DomctlCmd::Getdomaininfo, 5)));
    assert_eq!(do_domctl(&mut f.ctx(), ARG), Ok(0));
}

#[test]
fn destroydomain_refuses_the_caller_dom0_and_privileged_domains() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, 0)).0, Err(Errno::EINVAL));
    with_dom(&f, id, |d| d.privileged = true);
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Err(Errno::EINVAL));
    with_dom(&f, id, |d| d.privileged = false);
    // A caller with another id still may not destroy dom0.
    f.dom.id = DomId(7);
    let _ = f.domains.insert(Domain::new(DomId(0), true, Mfn(5)));
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, 0)).0, Err(Errno::EINVAL));
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, 300)).0, Err(Errno::ESRCH));
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Ok(0));
}

/// A vCPU context on the built domain's tables with GDT frame `gdt`.
pub(super) fn context(b: &Built) -> VcpuGuestContext {
    let mut c: VcpuGuestContext = bytemuck::Zeroable::zeroed();
    c.flags = VGCF_online | VGCF_in_kernel;
    c.user_regs.rip = 0x40_0000;
    c.user_regs.rsp = 0x40_8000;
    c.user_regs.cs = 0xe033;
    c.user_regs.ss = 0xe02b;
    c.user_regs.rflags = 0x3202;
    c.kernel_ss = 0xe02b;
    c.kernel_sp = 0x40_8000;
    c.ctrlreg[3] = b.tables[0].0 << 12;
    c.gdt_frames[0] = b.gdt.0;
    c.gdt_ents = 512;
    c.event_callback_eip = 0x40_1000;
    c.failsafe_callback_eip = 0x40_2000;
    c
}

#[test]
fn destroy_returns_exactly_what_the_domain_held() {
    let mut f = fixture();
    let id = create(&mut f, 0, 2);
    let b = populate(&mut f, id, 24);
    // vCPU 1 gets a context through the domctl: a second reference on the
    // L4 and a GDT frame.
    let c = context(&b);
    f.poke(CTXT, bytemuck::bytes_of(&c));
    let arg = XenDomctlVcpucontext { vcpu: guest_abi::xen::VcpuId(1), pad: 0, ctxt: CTXT };
    assert_eq!(domctl(&mut f, &env(DomctlCmd::Setvcpucontext, id.0, &arg)).0, Ok(0));
    assert_eq!(f.frames.info(b.gdt).unwrap().type_info.ty, PageType::SegDesc);
    // vCPU 0 registers a vcpu_info frame (a Writable type reference).
    {
        let cell = f.domains.get(id).unwrap();
        let mut d = cell.lock();
        let mut mm = PvMm::new(&mut f.frames, &mut f.mem, &mut f.m2p, &mut f.hooks);
        mm.get_page_and_type(b.spare, id, PageType::Writable).unwrap();
        d.vcpus[0].vcpu_info = Some(VcpuInfoRef { frame: b.spare, offset: 0 });
        // And an event channel.
        let mut a =
            EvtchnAllocUnbound { dom: DomId::SELF, remote_dom: DomId::SELF, port: EvtchnPort(0) };
        crate::common::event_channel::ops::alloc_unbound(&mut d, &mut a).unwrap();
    }
    // Two grant-table frames, set up by dom0 for the domain.
    let mut s: GnttabSetupTable = bytemuck::Zeroable::zeroed();
    s.dom = id;
    s.nr_frames = 2;
    s.frame_list = BUF + 0x800;
    f.poke(BUF, bytemuck::bytes_of(&s));
    let r = hypercall::call(
        &mut f.ctx(),
        u64::from(Hypercall::GrantTableOp.raw()),
        [u64::from(GnttabOp::SetupTable.raw()), BUF, 1, 0, 0, 0],
        false,
    );
    assert_eq!(r, Ok(0));
    assert_eq!(with_dom(&f, id, |d| d.grant_frames.len()), 2);

    let held = owned(&f, id);
    assert_eq!(held.len(), 24 + 1 + 2, "memory, shared info, grant table");
    let pool_before = pool(&f);
    assert!(pool_before.is_disjoint(&held));
    assert_eq!(info(&mut f, id.0).unwrap().tot_pages, 24);
    for m in &held {
        // Not present in a table (bit 0 clear): no reference changes.
        f.mem.write_u64(*m, 511, 0x5a5a);
    }

    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Ok(0));
    let left: Vec<_> = owned(&f, id).into_iter().map(|m| (m, f.frames.info(m).unwrap())).collect();
    assert!(left.is_empty(), "{left:?} {b:?}", b = (b.tables, b.gdt, b.spare));
    assert!(!f.domains.contains(id));
    let freed: BTreeSet<Mfn> = f.platform.freed.iter().copied().collect();
    assert_eq!(freed.len(), f.platform.freed.len(), "each frame freed once");
    assert_eq!(freed, held);
    assert_eq!(pool(&f), pool_before.union(&held).copied().collect());
    for m in &held {
        assert_eq!(f.frames.info(*m).unwrap(), PageInfo::default());
        assert_eq!(f.m2p.get_gpfn_from_mfn(*m), INVALID_M2P_ENTRY);
        assert!(f.mem.frame(*m).unwrap().iter().all(|&w| w == 0), "{m:?} scrubbed");
    }
    audit(&f.frames, &f.mem, &[]).unwrap();
}

#[test]
fn twenty_create_destroy_cycles_leave_no_trace() {
    let mut f = fixture();
    let frames_before = snapshot(&f);
    let pool_before = pool(&f);
    for round in 0..20 {
        let id = create(&mut f, 0, 1 + round % 3);
        let b = populate(&mut f, id, 8 + (round as usize % 5));
        if round % 2 == 0 {
            let c = context(&b);
            f.poke(CTXT, bytemuck::bytes_of(&c));
            let arg = XenDomctlVcpucontext { vcpu: guest_abi::xen::VcpuId(0), pad: 0, ctxt: CTXT };
            // vCPU 0 already has tables from `populate` but no context:
            // the context replaces the base pointer.
            assert_eq!(domctl(&mut f, &env(DomctlCmd::Setvcpucontext, id.0, &arg)).0, Ok(0));
        }
        assert_eq!(domctl(&mut f, &bare(DomctlCmd::Unpausedomain, id.0)).0, Ok(0));
        assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Ok(0), "round {round}");
        assert!(f.domains.is_empty());
        assert_eq!(snapshot(&f), frames_before, "round {round}");
        assert_eq!(pool(&f), pool_before, "round {round}");
    }
}

#[test]
fn a_frame_held_from_outside_keeps_the_dead_domain_until_released() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    let b = populate(&mut f, id, 8);
    // Someone outside the domain holds a reference on one of its frames.
    assert!(f.frames.get_page(b.data[0], id));
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Ok(0));
    assert!(f.domains.contains(id), "kept: its id must not be reused");
    assert_eq!(owned(&f, id), BTreeSet::from([b.data[0]]));
    let i = info(&mut f, id.0).unwrap();
    assert_ne!(i.flags & XEN_DOMINF_dying, 0);
    assert_eq!(i.tot_pages, 0);
    // Another create does not get its id.
    assert_ne!(create(&mut f, 0, 1), id);
    // Once released, destroying again finishes the job.
    f.frames.put_page(b.data[0]);
    let freed = f.frames.take_freed();
    assert_eq!(freed, [b.data[0]]);
    for m in freed {
        f.platform.free_frame(m);
    }
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Ok(0));
    assert!(!f.domains.contains(id));
}

/// Found while adding the lifecycle boot tests (destroying a running domU): the
/// teardown scrubbed and freed a domain's frames while another CPU still ran its vCPU
/// on them (Xen's `domain_kill` pauses the domain synchronously first). Now the domain
/// is made unrunnable and kicked, and the call is `-EAGAIN` (libxc repeats it) until no
/// other CPU runs it; nothing is freed before.
#[test]
fn destroying_a_domain_another_cpu_runs_waits_for_it() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    with_dom(&f, id, |d| d.pause_count = 0);
    f.platform.running_elsewhere.push(id);
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Err(Errno::EAGAIN));
    assert!(f.domains.contains(id), "still there");
    assert!(f.platform.freed.is_empty(), "nothing freed while it runs");
    assert!(with_dom(&f, id, |d| {
        d.kick_mask & 1 != 0
            && !crate::common::schedule::vcpu_runnable(d, &d.vcpus[0])
            && d.is_dying()
    }));
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Err(Errno::EAGAIN));
    f.platform.running_elsewhere.clear();
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Ok(0));
    assert!(!f.domains.contains(id));
    assert!(!f.platform.freed.is_empty());
}

#[test]
fn destroy_leaves_the_peers_of_its_channels_unbound() {
    use crate::common::event_channel::ChannelState;
    use crate::common::event_channel::interdomain;
    use guest_abi::event_channel::EvtchnBindInterdomain;
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    // dom0, as a backend: a port in the domU for dom0, then bound to it.
    let mut a = EvtchnAllocUnbound { dom: id, remote_dom: DomId::SELF, port: EvtchnPort(0) };
    interdomain::alloc_unbound(&mut f.ctx().evtchn_domains(), &mut a).unwrap();
    let mut b = EvtchnBindInterdomain {
        remote_dom: id,
        pad0: 0,
        remote_port: a.port,
        local_port: EvtchnPort(0),
    };
    interdomain::bind_interdomain(&mut f.ctx().evtchn_domains(), &mut b).unwrap();
    let linked = ChannelState::Interdomain { remote_dom: id, remote_port: a.port };
    assert_eq!(f.dom.evtchn.get(b.local_port).map(|c| c.state), Some(linked));
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Ok(0));
    assert!(f.domains.get(id).is_none(), "gone");
    let waiting = ChannelState::Unbound { remote_domid: id };
    assert_eq!(f.dom.evtchn.get(b.local_port).map(|c| c.state), Some(waiting));
    // Sending on it is dropped; closing it works.
    let port = b.local_port;
    assert_eq!(interdomain::send(&mut f.ctx().evtchn_domains(), port), Ok(false));
    let me = f.dom.id;
    assert_eq!(interdomain::close(&mut f.ctx().evtchn_domains(), me, port), Ok(()));
}
