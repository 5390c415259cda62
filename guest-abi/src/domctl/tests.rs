// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of the `domctl` module: numbers, envelope round-trips.

use super::*;
use crate::Unknown;
use crate::version::XenDomainHandle;
use crate::xen::{VcpuGuestContext, VcpuId};

#[test]
fn command_numbers() {
    assert_eq!(XEN_DOMCTL_INTERFACE_VERSION, 0x15);
    assert_eq!(DomctlCmd::ALL.len(), 75);
    for &cmd in DomctlCmd::ALL {
        assert_eq!(DomctlCmd::try_from(cmd.raw()), Ok(cmd));
        assert!(cmd.xen_name().starts_with("XEN_DOMCTL_"));
    }
    let spot = [
        (1, DomctlCmd::Createdomain),
        (2, DomctlCmd::Destroydomain),
        (3, DomctlCmd::Pausedomain),
        (4, DomctlCmd::Unpausedomain),
        (5, DomctlCmd::Getdomaininfo),
        (9, DomctlCmd::Setvcpuaffinity),
        (10, DomctlCmd::ShadowOp),
        (12, DomctlCmd::Setvcpucontext),
        (15, DomctlCmd::MaxVcpus),
        (16, DomctlCmd::SchedulerOp),
        (22, DomctlCmd::HypercallInit),
        (24, DomctlCmd::Settimeoffset),
        (35, DomctlCmd::SetAddressSize),
        (36, DomctlCmd::GetAddressSize),
        (61, DomctlCmd::Getpageframeinfo3),
        (86, DomctlCmd::SetPagingMempoolSize),
        (1003, DomctlCmd::GdbsxDomstatus),
    ];
    for (number, cmd) in spot {
        assert_eq!(DomctlCmd::try_from(number), Ok(cmd));
    }
    for gone in [0, 6, 7, 8, 30, 31, 32, 41, 49, 58, XEN_DOMCTL_set_max_evtchn, 76, 80, 87, 999] {
        assert_eq!(DomctlCmd::try_from(gone), Err(Unknown(gone)));
    }
    assert!(DomctlCmd::try_from(1004).is_err());
    assert!(DomctlCmd::try_from(u32::MAX).is_err());
}

#[test]
fn sub_op_numbers() {
    let ids: Vec<u32> = XenScheduler::ALL.iter().map(|s| s.raw()).collect();
    assert_eq!(ids, [4, 5, 6, 7, 8, 9]);
    for bad in [0, 3, 10] {
        assert_eq!(XenScheduler::try_from(bad), Err(Unknown(bad)));
    }
    for (i, &op) in DomctlSchedOp::ALL.iter().enumerate() {
        assert_eq!(op.raw() as usize, i);
    }
    assert!(DomctlSchedOp::try_from(4).is_err());
    assert_eq!(DomctlShadowOp::try_from(32), Ok(DomctlShadowOp::Enable));
    assert!(DomctlShadowOp::try_from(3).is_err());
    assert_eq!(XEN_DOMCTL_PFINFO_XTAB, 0xf000_0000);
    assert_eq!(XEN_DOMCTL_PFINFO_LPINTAB, 0x8000_0000);
    assert_eq!(XEN_X86_EMU_ALL, 0x7ff);
    assert_eq!(XEN_DOMCTL_CDF_MAX, 0x80);
}

#[test]
fn envelope_round_trip() {
    let create = XenDomctlCreatedomain {
        handle: XenDomainHandle([0xab; 16]),
        flags: XEN_DOMCTL_CDF_iommu,
        max_vcpus: 4,
        max_evtchn_port: 1023,
        max_grant_frames: -1,
        max_maptrack_frames: -1,
        grant_opts: xen_domctl_grant_version(2),
        arch: XenArchDomainconfig { emulation_flags: 0, misc_flags: XEN_X86_MSR_RELAXED },
        ..Default::default()
    };
    let op = XenDomctl::with_payload(DomctlCmd::Createdomain, DomId(0), &create)
        .expect("createdomain fits");
    assert_eq!(op.op(), Ok(DomctlCmd::Createdomain));
    assert_eq!(op.payload::<XenDomctlCreatedomain>(), Some(create));

    // Header and union sit where Xen's x86_64 layout puts them.
    let bytes = op.as_bytes();
    assert_eq!(bytes.len(), 144);
    assert_eq!(bytes.get(0..4), Some(&[1, 0, 0, 0][..]));
    assert_eq!(bytes.get(4..8), Some(&[0x15, 0, 0, 0][..]));
    assert_eq!(bytes.get(16 + 20..16 + 24), Some(&XEN_DOMCTL_CDF_iommu.to_le_bytes()[..]));
    assert_eq!(bytes.get(16 + 36..16 + 40), Some(&[0xff; 4][..]));
    assert_eq!(op.payload_bytes().get(..64), Some(create.as_bytes()));
    assert_eq!(XenDomctl::from_bytes(bytes), Some(op));

    // OUT: Xen writes the new id into the header and getdomaininfo back.
    let mut out = op;
    out.domain = DomId(7);
    let info = XenDomctlGetdomaininfo {
        domain: DomId(7),
        flags: XenDomctlGetdomaininfo::flags_with_shutdown_code(
            XEN_DOMINF_shutdown | XEN_DOMINF_paused,
            crate::sched::ShutdownReason::Reboot.raw(),
        ),
        tot_pages: 0x4000,
        max_vcpu_id: 3,
        handle: XenDomainHandle([0xab; 16]),
        gpaddr_bits: 52,
        ..Default::default()
    };
    assert!(out.set_payload(&info));
    let back: XenDomctlGetdomaininfo = out.payload().expect("getdomaininfo fits");
    assert_eq!(back, info);
    assert_eq!(back.shutdown_code(), 1);
    assert_eq!(back.flags & XEN_DOMINF_shutdown, XEN_DOMINF_shutdown);
    assert_eq!(out.payload_bytes().get(96), Some(&52));
}

#[test]
fn vcpu_payloads() {
    let mut op = XenDomctl::new(DomctlCmd::Setvcpuaffinity, DomId(1));
    let aff = XenDomctlVcpuaffinity {
        vcpu: VcpuId(2),
        flags: XEN_VCPUAFFINITY_HARD | XEN_VCPUAFFINITY_SOFT,
        cpumap_hard: XenctlBitmap::new(0x1000, 64),
        cpumap_soft: XenctlBitmap::new(0x2000, 9),
    };
    assert!(op.set_payload(&aff));
    assert_eq!(op.payload::<XenDomctlVcpuaffinity>(), Some(aff));
    assert_eq!(aff.cpumap_soft.nr_bytes(), 2);
    assert_eq!(op.payload_bytes().get(24..32), Some(&0x2000_u64.to_le_bytes()[..]));

    let ctx = XenDomctlVcpucontext { vcpu: VcpuId(0), pad: 0, ctxt: 0xdead_0000 };
    let op = XenDomctl::with_payload(DomctlCmd::Getvcpucontext, DomId(1), &ctx).expect("fits");
    assert_eq!(op.payload::<XenDomctlVcpucontext>(), Some(ctx));
    // The context itself is far larger than the union: only a handle fits.
    assert_eq!(op.payload::<VcpuGuestContext>(), None);
    assert!(
        XenDomctl::with_payload(DomctlCmd::Setvcpucontext, DomId(1), &VcpuGuestContext::default())
            .is_none()
    );
}

#[test]
fn scheduler_payloads() {
    let mut sched = XenDomctlSchedulerOp {
        sched_id: XenScheduler::Credit.raw(),
        cmd: DomctlSchedOp::Putinfo.raw(),
        ..Default::default()
    };
    assert!(sched.set_params(&XenDomctlSchedCredit { weight: 512, cap: 50 }));
    let op = XenDomctl::with_payload(DomctlCmd::SchedulerOp, DomId(2), &sched).expect("fits");
    let read: XenDomctlSchedulerOp = op.payload().expect("fits");
    assert_eq!(read.scheduler(), Ok(XenScheduler::Credit));
    assert_eq!(read.op(), Ok(DomctlSchedOp::Putinfo));
    assert_eq!(
        read.params::<XenDomctlSchedCredit>(),
        Some(XenDomctlSchedCredit { weight: 512, cap: 50 })
    );
    assert_eq!(op.payload_bytes().get(8..12), Some(&[0, 2, 50, 0][..]));

    let rtds =
        XenDomctlSchedRtds { period: 10_000, budget: 4_000, flags: XEN_DOMCTL_SCHEDRT_extra };
    let mut per_vcpu = XenDomctlSchedparamVcpu { vcpuid: 1, ..Default::default() };
    assert!(per_vcpu.set_params(&rtds));
    assert_eq!(per_vcpu.params::<XenDomctlSchedRtds>(), Some(rtds));
    let list = XenDomctlSchedulerOpVcpus { vcpus: 0x5000, nr_vcpus: 2, padding: 0 };
    assert!(sched.set_params(&list));
    assert_eq!(sched.params::<XenDomctlSchedulerOpVcpus>(), Some(list));

    // sEDF (Xen 4.5): too big for 4.17's union, read from the envelope.
    assert_eq!(sched.params::<XenDomctlSchedSedf>(), None);
    assert!(!sched.set_params(&XenDomctlSchedSedf::default()));
    let sedf = XenDomctlSchedulerOpSedf {
        sched_id: XenScheduler::Sedf.raw(),
        cmd: DomctlSchedOp::Getinfo.raw(),
        sedf: XenDomctlSchedSedf {
            period: 20_000_000,
            slice: 5_000_000,
            latency: 0,
            extratime: 1,
            weight: 0,
        },
    };
    let op = XenDomctl::with_payload(DomctlCmd::SchedulerOp, DomId(2), &sedf).expect("fits");
    let head: XenDomctlSchedulerOp = op.payload().expect("fits");
    assert_eq!(head.scheduler(), Ok(XenScheduler::Sedf));
    assert_eq!(op.payload::<XenDomctlSchedulerOpSedf>(), Some(sedf));
    assert_eq!(op.payload_bytes().get(32..36), Some(&[1, 0, 0, 0][..]));
}

#[test]
fn version_and_unknown_commands() {
    let mut op = XenDomctl::new(DomctlCmd::Pausedomain, DomId(5));
    assert!(op.version_ok());
    assert_eq!(op.check_version(), Ok(()));
    assert!(op.payload_bytes().iter().all(|&b| b == 0));

    op.interface_version = 0x14;
    assert!(!op.version_ok());
    assert_eq!(op.check_version(), Err(Unknown(0x14)));

    op.cmd = XEN_DOMCTL_set_max_evtchn;
    assert_eq!(op.op(), Err(Unknown(70)));
    let legacy = XenDomctlSetMaxEvtchn { max_port: 4095 };
    assert!(op.set_payload(&legacy));
    assert_eq!(op.payload::<XenDomctlSetMaxEvtchn>(), Some(legacy));

    let perm =
        XenDomctlIomemPermission { first_mfn: 0xfee00, nr_mfns: 1, allow_access: 1, pad: [0; 7] };
    let op = XenDomctl::with_payload(DomctlCmd::IomemPermission, DomId(1), &perm).expect("fits");
    assert_eq!(op.payload::<XenDomctlIomemPermission>(), Some(perm));
    assert_eq!(op.payload_bytes().get(16), Some(&1));
}
