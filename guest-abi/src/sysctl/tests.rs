// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of the `sysctl` module: numbers, envelope round-trips.

use super::*;
use crate::Unknown;
use crate::domctl::XenDomctlGetdomaininfo;
use crate::xen::DomId;

#[test]
fn command_numbers() {
    assert_eq!(XEN_SYSCTL_INTERFACE_VERSION, 0x15);
    assert_eq!(SysctlCmd::ALL.len(), 26);
    for &cmd in SysctlCmd::ALL {
        assert_eq!(SysctlCmd::try_from(cmd.raw()), Ok(cmd));
        assert!(cmd.xen_name().starts_with("XEN_SYSCTL_"));
    }
    for (number, cmd) in [
        (1, SysctlCmd::Readconsole),
        (3, SysctlCmd::Physinfo),
        (4, SysctlCmd::SchedId),
        (6, SysctlCmd::Getdomaininfolist),
        (8, SysctlCmd::Getcpuinfo),
        (16, SysctlCmd::Cputopoinfo),
        (17, SysctlCmd::Numainfo),
        (18, SysctlCmd::CpupoolOp),
        (29, SysctlCmd::GetCpuPolicy),
    ] {
        assert_eq!(SysctlCmd::try_from(number), Ok(cmd));
    }
    for gone in [0, 13, 24, 28, 30, u32::MAX] {
        assert_eq!(SysctlCmd::try_from(gone), Err(Unknown(gone)));
    }
    for (i, &op) in SysctlCpupoolOp::ALL.iter().enumerate() {
        assert_eq!(op.raw() as usize, i + 1);
    }
    assert!(SysctlCpupoolOp::try_from(0).is_err());
    assert!(SysctlCpupoolOp::try_from(8).is_err());
    assert_eq!(XenScheduler::try_from(9), Ok(XenScheduler::Null));
    assert_eq!(XEN_SYSCTL_PHYSCAP_MAX, 1 << 9);
    assert_eq!(XEN_INVALID_DEV, 0xffff_fffe);
}

#[test]
fn envelope_round_trip() {
    let info = XenSysctlPhysinfo {
        threads_per_core: 2,
        cores_per_socket: 4,
        nr_cpus: 8,
        max_cpu_id: 7,
        nr_nodes: 1,
        cpu_khz: 2_400_000,
        capabilities: XEN_SYSCTL_PHYSCAP_pv | XEN_SYSCTL_PHYSCAP_gnttab_v1,
        total_pages: 0x10_0000,
        free_pages: 0x8_0000,
        max_mfn: 0x10_ffff,
        hw_cap: [1, 2, 3, 4, 5, 6, 7, 8],
        ..Default::default()
    };
    let mut op = XenSysctl::new(SysctlCmd::Physinfo);
    assert!(op.set_payload(&info));
    assert_eq!(op.op(), Ok(SysctlCmd::Physinfo));
    assert_eq!(op.payload::<XenSysctlPhysinfo>(), Some(info));

    let bytes = op.as_bytes();
    assert_eq!(bytes.len(), 136);
    assert_eq!(bytes.get(0..4), Some(&[3, 0, 0, 0][..]));
    assert_eq!(bytes.get(4..8), Some(&[0x15, 0, 0, 0][..]));
    assert_eq!(bytes.get(8 + 8..8 + 12), Some(&[8, 0, 0, 0][..]));
    assert_eq!(bytes.get(8 + 80..8 + 84), Some(&[1, 0, 0, 0][..]));
    assert_eq!(XenSysctl::from_bytes(bytes), Some(op));

    let console = XenSysctlReadconsole {
        clear: 1,
        incremental: 1,
        index: 0x400,
        buffer: 0x7000_0000,
        count: 4096,
        ..Default::default()
    };
    let mut op = XenSysctl::with_payload(SysctlCmd::Readconsole, &console).expect("fits");
    let mut out: XenSysctlReadconsole = op.payload().expect("fits");
    out.index = 0x500;
    out.count = 256;
    assert!(op.set_payload(&out));
    assert_eq!(op.payload::<XenSysctlReadconsole>(), Some(out));
    assert_eq!(op.payload_bytes().get(4..8), Some(&[0, 5, 0, 0][..]));
    assert_eq!(op.payload_bytes().get(16..20), Some(&[0, 1, 0, 0][..]));
}

#[test]
fn domain_and_pool_payloads() {
    let list = XenSysctlGetdomaininfolist {
        first_domain: DomId(1),
        max_domains: 16,
        buffer: 0x9000,
        ..Default::default()
    };
    let op = XenSysctl::with_payload(SysctlCmd::Getdomaininfolist, &list).expect("fits");
    assert_eq!(op.payload::<XenSysctlGetdomaininfolist>(), Some(list));
    assert_eq!(op.payload_bytes().get(8..16), Some(&0x9000_u64.to_le_bytes()[..]));
    assert_eq!(core::mem::size_of::<XenDomctlGetdomaininfo>(), 112);

    let pool = XenSysctlCpupoolOp {
        op: SysctlCpupoolOp::Create.raw(),
        cpupool_id: XEN_SYSCTL_CPUPOOL_PAR_ANY,
        sched_id: XenScheduler::Credit2.raw(),
        cpumap: XenctlBitmap::new(0xa000, 128),
        ..Default::default()
    };
    let op = XenSysctl::with_payload(SysctlCmd::CpupoolOp, &pool).expect("fits");
    let read: XenSysctlCpupoolOp = op.payload().expect("fits");
    assert_eq!(SysctlCpupoolOp::try_from(read.op), Ok(SysctlCpupoolOp::Create));
    assert_eq!(read, pool);
    assert_eq!(op.payload_bytes().get(32..36), Some(&128_u32.to_le_bytes()[..]));

    let numa = XenSysctlNumainfo { num_nodes: 2, pad: 0, meminfo: 0xb000, distance: 0xc000 };
    let op = XenSysctl::with_payload(SysctlCmd::Numainfo, &numa).expect("fits");
    assert_eq!(op.payload::<XenSysctlNumainfo>(), Some(numa));
    let absent = XenSysctlMeminfo { memsize: XEN_INVALID_MEM_SZ, memfree: XEN_INVALID_MEM_SZ };
    assert_eq!(absent.as_bytes().get(0..8), Some(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0][..]));
}

#[test]
fn version_and_unknown_commands() {
    let mut op = XenSysctl::new(SysctlCmd::Getcpuinfo);
    assert!(op.version_ok());
    assert_eq!(op.check_version(), Ok(()));
    op.interface_version = 0x0b;
    assert!(!op.version_ok());
    assert_eq!(op.check_version(), Err(Unknown(0x0b)));
    op.cmd = 24;
    assert_eq!(op.op(), Err(Unknown(24)));
    assert!(!op.set_payload(&crate::xen::VcpuGuestContext::default()));
    assert_eq!(op.payload::<crate::xen::VcpuGuestContext>(), None);
    assert!(
        XenSysctl::with_payload(SysctlCmd::Getcpuinfo, &crate::xen::VcpuGuestContext::default())
            .is_none()
    );
}
