// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of `HYPERVISOR_sysctl` over the PV fixture.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use alloc::vec::Vec;

use guest_abi::domctl::XenDomctlGetdomaininfo;
use guest_abi::sysctl::{
    SysctlCmd, SysctlCpupoolOp, XEN_SYSCTL_PHYSCAP_gnttab_v1, XEN_SYSCTL_PHYSCAP_gnttab_v2,
    XEN_SYSCTL_PHYSCAP_pv, XenSysctl, XenSysctlCpupoolOp, XenSysctlCputopo, XenSysctlCputopoinfo,
    XenSysctlGetcpuinfo, XenSysctlGetdomaininfolist, XenSysctlMeminfo, XenSysctlNumainfo,
    XenSysctlPhysinfo, XenSysctlReadconsole, XenSysctlSchedId, XenctlBitmap,
};
use guest_abi::xen::{DomId, Errno};

use super::do_sysctl;
use crate::common::domain::Domain;
use crate::mm::Mfn;
use crate::pv::test_support::{Fixture, GUEST_BASE, GUEST_PAGES};
use crate::sched::SchedulerKind;

const ARG: u64 = GUEST_BASE;
const BUF: u64 = GUEST_BASE + 0x1000;
const UNMAPPED: u64 = GUEST_BASE + GUEST_PAGES * 4096;

fn fixture() -> Fixture {
    let mut f = Fixture::new();
    f.platform.host = crate::pv::platform::HostInfo {
        nr_cpus: 4,
        threads_per_core: 2,
        cores_per_socket: 2,
        cpu_khz: 2_400_000,
        paddr_bits: 39,
        total_pages: 0x8_0000,
        free_pages: 0x6_0000,
        hw_cap: [1, 2, 3, 4, 5, 6, 7, 8],
    };
    f
}

fn sysctl(f: &mut Fixture, op: &XenSysctl) -> (Result<i64, Errno>, XenSysctl) {
    f.poke(ARG, bytemuck::bytes_of(op));
    let r = do_sysctl(&mut f.ctx(), ARG);
    (r, bytemuck::pod_read_unaligned(&f.peek(ARG, core::mem::size_of::<XenSysctl>())))
}

fn env<T: guest_abi::AbiBytes>(cmd: SysctlCmd, payload: &T) -> XenSysctl {
    XenSysctl::with_payload(cmd, payload).unwrap()
}

#[test]
fn the_envelope_and_access_are_checked() {
    let mut f = fixture();
    let mut op = XenSysctl::new(SysctlCmd::SchedId);
    op.interface_version = 0x14;
    assert_eq!(sysctl(&mut f, &op).0, Err(Errno::EACCES));
    for cmd in [0u32, 13, 24, 28, 30, u32::MAX] {
        let mut op = XenSysctl::new(SysctlCmd::SchedId);
        op.cmd = cmd;
        assert_eq!(sysctl(&mut f, &op).0, Err(Errno::ENOSYS), "{cmd}");
    }
    assert_eq!(sysctl(&mut f, &XenSysctl::new(SysctlCmd::DebugKeys)).0, Err(Errno::ENOSYS));
    for arg in [UNMAPPED, UNMAPPED - 10, 0, u64::MAX] {
        assert_eq!(do_sysctl(&mut f.ctx(), arg), Err(Errno::EFAULT));
    }
    f.dom.privileged = false;
    assert_eq!(sysctl(&mut f, &XenSysctl::new(SysctlCmd::SchedId)).0, Err(Errno::EPERM));
    assert_eq!(sysctl(&mut f, &XenSysctl::new(SysctlCmd::Physinfo)).0, Err(Errno::EPERM));
}

fn readconsole(
    f: &mut Fixture,
    clear: bool,
    incremental: bool,
    index: u32,
    count: u32,
) -> Result<(Vec<u8>, u32), Errno> {
    let rc = XenSysctlReadconsole {
        clear: u8::from(clear),
        incremental: u8::from(incremental),
        index,
        buffer: BUF,
        count,
        ..bytemuck::Zeroable::zeroed()
    };
    let (r, back) = sysctl(f, &env(SysctlCmd::Readconsole, &rc));
    r?;
    let out: XenSysctlReadconsole = back.payload().unwrap();
    Ok((f.peek(BUF, out.count as usize), out.index))
}

#[test]
fn readconsole_plain_incremental_and_clear() {
    let mut f = fixture();
    f.platform.conring.write(b"(XEN) hello\n(XEN) world\n");
    // Everything, not cleared.
    let (bytes, idx) = readconsole(&mut f, false, false, 0, 1000).unwrap();
    assert_eq!(bytes, b"(XEN) hello\n(XEN) world\n");
    assert_eq!(idx, 24);
    // A small buffer: the first bytes, the index after them.
    let (bytes, idx) = readconsole(&mut f, false, false, 0, 5).unwrap();
    assert_eq!((bytes.as_slice(), idx), (&b"(XEN)"[..], 5));
    // Incremental from there.
    let (bytes, idx) = readconsole(&mut f, false, true, 5, 7).unwrap();
    assert_eq!((bytes.as_slice(), idx), (&b" hello\n"[..], 12));
    f.platform.conring.write(b"more\n");
    let (bytes, idx) = readconsole(&mut f, false, true, 24, 100).unwrap();
    assert_eq!((bytes.as_slice(), idx), (&b"more\n"[..], 29));
    // Caught up.
    assert_eq!(readconsole(&mut f, false, true, 29, 100).unwrap().0, b"");
    // Clear after reading part: the rest stays.
    let (bytes, _) = readconsole(&mut f, true, false, 0, 12).unwrap();
    assert_eq!(bytes, b"(XEN) hello\n");
    assert_eq!(readconsole(&mut f, false, false, 0, 100).unwrap().0, b"(XEN) world\nmore\n");
    // An index that is no longer in the ring reads from the oldest byte.
    assert_eq!(readconsole(&mut f, false, true, 3, 5).unwrap().0, b"(XEN)");
    // A faulting buffer: -EFAULT and nothing cleared.
    let rc = XenSysctlReadconsole {
        clear: 1,
        buffer: UNMAPPED - 4,
        count: 100,
        ..bytemuck::Zeroable::zeroed()
    };
    assert_eq!(sysctl(&mut f, &env(SysctlCmd::Readconsole, &rc)).0, Err(Errno::EFAULT));
    assert_eq!(f.platform.conring.len(), 17);
    // Clear everything; then nothing is left. A huge count is bounded by
    // the ring.
    let (bytes, _) = readconsole(&mut f, true, false, 0, u32::MAX).unwrap();
    assert_eq!(bytes.len(), 17);
    assert!(f.platform.conring.is_empty());
    assert_eq!(readconsole(&mut f, false, false, 0, 100).unwrap(), (Vec::new(), 29));
}

#[test]
fn physinfo_and_sched_id() {
    let mut f = fixture();
    let (r, back) = sysctl(&mut f, &XenSysctl::new(SysctlCmd::Physinfo));
    assert_eq!(r, Ok(0));
    let pi: XenSysctlPhysinfo = back.payload().unwrap();
    assert_eq!((pi.threads_per_core, pi.cores_per_socket, pi.nr_cpus, pi.max_cpu_id), (2, 2, 4, 3));
    assert_eq!((pi.nr_nodes, pi.max_node_id), (1, 63));
    assert_eq!(pi.cpu_khz, 2_400_000);
    assert_eq!(
        pi.capabilities,
        XEN_SYSCTL_PHYSCAP_pv | XEN_SYSCTL_PHYSCAP_gnttab_v1 | XEN_SYSCTL_PHYSCAP_gnttab_v2
    );
    // gnttab=max-ver:1: no v2 capability.
    f.platform.gnttab.max_version = 1;
    let (_, v1) = sysctl(&mut f, &XenSysctl::new(SysctlCmd::Physinfo));
    let caps = v1.payload::<XenSysctlPhysinfo>().map(|p| p.capabilities);
    assert_eq!(caps, Some(XEN_SYSCTL_PHYSCAP_pv | XEN_SYSCTL_PHYSCAP_gnttab_v1));
    f.platform.gnttab.max_version = 2;
    assert_eq!(
        (pi.total_pages, pi.free_pages, pi.scrub_pages, pi.outstanding_pages),
        (0x8_0000, 0x6_0000, 0, 0)
    );
    assert_eq!(pi.max_mfn, f.frames.max_page() - 1);
    assert_eq!(pi.hw_cap, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(pi.arch_capabilities, 0);
    // Outstanding claims of all domains.
    let mut d =
        crate::common::domain::Domain::new(guest_abi::xen::DomId(3), false, crate::mm::Mfn(0));
    d.max_pages = 0x1000;
    f.claims.set(&mut d, 0x123, 0x6_0000).unwrap();
    let (_, back) = sysctl(&mut f, &XenSysctl::new(SysctlCmd::Physinfo));
    assert_eq!(back.payload::<XenSysctlPhysinfo>().unwrap().outstanding_pages, 0x123);

    let (r, back) = sysctl(&mut f, &XenSysctl::new(SysctlCmd::SchedId));
    assert_eq!(r, Ok(0));
    assert_eq!(back.payload::<XenSysctlSchedId>().unwrap().sched_id, 5);
    f.platform.sched = SchedulerKind::Sedf;
    let (_, back) = sysctl(&mut f, &XenSysctl::new(SysctlCmd::SchedId));
    assert_eq!(back.payload::<XenSysctlSchedId>().unwrap().sched_id, 4);
}

#[test]
fn getdomaininfolist_is_bounded() {
    let mut f = fixture();
    for id in [3u16, 8, 20] {
        f.domains.insert(Domain::new(DomId(id), false, Mfn(5))).unwrap();
    }
    let list = |first, max| XenSysctlGetdomaininfolist {
        first_domain: DomId(first),
        max_domains: max,
        buffer: BUF,
        ..bytemuck::Zeroable::zeroed()
    };
    let size = core::mem::size_of::<XenDomctlGetdomaininfo>();
    let ids = |f: &Fixture, n: usize| -> Vec<u16> {
        (0..n)
            .map(|i| {
                let d: XenDomctlGetdomaininfo =
                    bytemuck::pod_read_unaligned(&f.peek(BUF + (i * size) as u64, size));
                d.domain.0
            })
            .collect()
    };
    for (first, max, want) in [
        (0, 100, &[0u16, 3, 8, 20][..]),
        (0, u32::MAX, &[0, 3, 8, 20]),
        (1, 2, &[3, 8]),
        (8, 10, &[8, 20]),
        (21, 10, &[]),
        (0, 0, &[]),
        (0xffff, 5, &[]),
    ] {
        let (r, back) = sysctl(&mut f, &env(SysctlCmd::Getdomaininfolist, &list(first, max)));
        assert_eq!(r, Ok(0), "{first} {max}");
        let out: XenSysctlGetdomaininfolist = back.payload().unwrap();
        assert_eq!(out.num_domains as usize, want.len(), "{first} {max}");
        assert_eq!(ids(&f, want.len()), want);
    }
    // A buffer that ends in unmapped memory.
    let mut l = list(0, 4);
    l.buffer = UNMAPPED - size as u64;
    assert_eq!(sysctl(&mut f, &env(SysctlCmd::Getdomaininfolist, &l)).0, Err(Errno::EFAULT));
}

#[test]
fn cpu_numa_and_pool_queries() {
    let mut f = fixture();
    // getcpuinfo: at most the host's CPUs.
    for (max, want) in [(2u32, 2u32), (100, 4), (0, 0)] {
        let g = XenSysctlGetcpuinfo { max_cpus: max, info: BUF, ..bytemuck::Zeroable::zeroed() };
        let (r, back) = sysctl(&mut f, &env(SysctlCmd::Getcpuinfo, &g));
        assert_eq!(r, Ok(0));
        assert_eq!(back.payload::<XenSysctlGetcpuinfo>().unwrap().nr_cpus, want);
    }
    let idle: Vec<u64> =
        f.peek(BUF, 32).chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(idle, [7, 1007, 2007, 3007]);
    let g = XenSysctlGetcpuinfo { max_cpus: 4, info: UNMAPPED - 8, ..bytemuck::Zeroable::zeroed() };
    assert_eq!(sysctl(&mut f, &env(SysctlCmd::Getcpuinfo, &g)).0, Err(Errno::EFAULT));

    // cputopoinfo: a null array asks for the count.
    let t = XenSysctlCputopoinfo { num_cpus: 0, pad: 0, cputopo: 0 };
    let (_, back) = sysctl(&mut f, &env(SysctlCmd::Cputopoinfo, &t));
    assert_eq!(back.payload::<XenSysctlCputopoinfo>().unwrap().num_cpus, 4);
    let t = XenSysctlCputopoinfo { num_cpus: 100, pad: 0, cputopo: BUF };
    let (r, back) = sysctl(&mut f, &env(SysctlCmd::Cputopoinfo, &t));
    assert_eq!(r, Ok(0));
    assert_eq!(back.payload::<XenSysctlCputopoinfo>().unwrap().num_cpus, 4);
    let topo: Vec<XenSysctlCputopo> =
        (0..4).map(|i| bytemuck::pod_read_unaligned(&f.peek(BUF + i * 12, 12))).collect();
    let cs: Vec<(u32, u32, u32)> = topo.iter().map(|t| (t.core, t.socket, t.node)).collect();
    assert_eq!(cs, [(0, 0, 0), (0, 0, 0), (1, 0, 0), (1, 0, 0)], "2 threads x 2 cores");
    let t = XenSysctlCputopoinfo { num_cpus: 2, pad: 0, cputopo: BUF };
    let (_, back) = sysctl(&mut f, &env(SysctlCmd::Cputopoinfo, &t));
    assert_eq!(back.payload::<XenSysctlCputopoinfo>().unwrap().num_cpus, 2);

    // numainfo: one node.
    let n = XenSysctlNumainfo { num_nodes: 0, pad: 0, meminfo: 0, distance: 0 };
    let (_, back) = sysctl(&mut f, &env(SysctlCmd::Numainfo, &n));
    assert_eq!(back.payload::<XenSysctlNumainfo>().unwrap().num_nodes, 1);
    let n = XenSysctlNumainfo { num_nodes: 8, pad: 0, meminfo: BUF, distance: BUF + 0x100 };
    let (r, back) = sysctl(&mut f, &env(SysctlCmd::Numainfo, &n));
    assert_eq!(r, Ok(0));
    assert_eq!(back.payload::<XenSysctlNumainfo>().unwrap().num_nodes, 1);
    let m: XenSysctlMeminfo = bytemuck::pod_read_unaligned(&f.peek(BUF, 16));
    assert_eq!((m.memsize, m.memfree), (0x8_0000 << 12, 0x6_0000 << 12));
    assert_eq!(f.peek(BUF + 0x100, 4), 10u32.to_le_bytes());

    // cpupool: pool 0 only.
    f.domains.insert(Domain::new(DomId(4), false, Mfn(5))).unwrap();
    f.poke(BUF, &[0xff; 8]);
    let p = XenSysctlCpupoolOp {
        op: SysctlCpupoolOp::Info.raw(),
        cpumap: XenctlBitmap::new(BUF, 64),
        ..bytemuck::Zeroable::zeroed()
    };
    let (r, back) = sysctl(&mut f, &env(SysctlCmd::CpupoolOp, &p));
    assert_eq!(r, Ok(0));
    let out: XenSysctlCpupoolOp = back.payload().unwrap();
    assert_eq!((out.cpupool_id, out.sched_id, out.n_dom), (0, 5, 2));
    assert_eq!(f.peek(BUF, 8), [0x0f, 0, 0, 0, 0, 0, 0, 0]);
    let p1 = XenSysctlCpupoolOp { cpupool_id: 1, ..p };
    assert_eq!(sysctl(&mut f, &env(SysctlCmd::CpupoolOp, &p1)).0, Err(Errno::ENOENT));
    let free = XenSysctlCpupoolOp { op: SysctlCpupoolOp::Freeinfo.raw(), ..p };
    assert_eq!(sysctl(&mut f, &env(SysctlCmd::CpupoolOp, &free)).0, Ok(0));
    assert_eq!(f.peek(BUF, 1), [0]);
    for op in [SysctlCpupoolOp::Create.raw(), SysctlCpupoolOp::Movedomain.raw(), 0, 99] {
        let p = XenSysctlCpupoolOp { op, ..p };
        assert_eq!(sysctl(&mut f, &env(SysctlCmd::CpupoolOp, &p)).0, Err(Errno::ENOSYS));
    }
    let bad = XenSysctlCpupoolOp { cpumap: XenctlBitmap::new(UNMAPPED, 8), ..p };
    assert_eq!(sysctl(&mut f, &env(SysctlCmd::CpupoolOp, &bad)).0, Err(Errno::EFAULT));
}
