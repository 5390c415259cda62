// SPDX-License-Identifier: GPL-2.0-only
//! Limits, handle, clock, address size, scheduler, frames, permissions.

use guest_abi::domctl::{
    DomctlCmd, XEN_DOMCTL_PFINFO_L1TAB, XEN_DOMCTL_PFINFO_L2TAB, XEN_DOMCTL_PFINFO_L4TAB,
    XEN_DOMCTL_PFINFO_LPINTAB, XEN_DOMCTL_PFINFO_NOTAB, XEN_DOMCTL_PFINFO_XTAB,
    XenDomctlAddressSize, XenDomctlGetpageframeinfo3, XenDomctlHypercallInit,
    XenDomctlIomemPermission, XenDomctlIoportPermission, XenDomctlIrqPermission, XenDomctlMaxMem,
    XenDomctlSchedCredit, XenDomctlSchedSedf, XenDomctlSchedulerOp, XenDomctlSchedulerOpSedf,
    XenDomctlSetdebugging, XenDomctlSetdomainhandle, XenDomctlSettimeoffset, XenScheduler,
};
use guest_abi::version::XenDomainHandle;
use guest_abi::xen::{DomId, Errno};

use super::*;
use crate::mm::pv::PhysMem;
use crate::sched::{CreditParams, SchedulerKind};

#[test]
fn limits_handle_clock_debugging_address_size() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    let mm = |kb| env(DomctlCmd::MaxMem, id.0, &XenDomctlMaxMem { max_memkb: kb });
    assert_eq!(domctl(&mut f, &mm(1 << 20)).0, Ok(0));
    assert_eq!(info(&mut f, id.0).unwrap().max_pages, 1 << 18);
    assert_eq!(domctl(&mut f, &mm(7)).0, Ok(0));
    assert_eq!(info(&mut f, id.0).unwrap().max_pages, 1, "rounded down to pages");
    assert_eq!(domctl(&mut f, &mm(u64::MAX)).0, Ok(0));
    assert_eq!(
        info(&mut f, id.0).unwrap().max_pages,
        u64::from(u32::MAX),
        "Xen's 32-bit max_pages"
    );
    // Below tot_pages is accepted (Xen's "ratchet down").
    with_dom(&f, id, |d| d.tot_pages = 10);
    assert_eq!(domctl(&mut f, &mm(4)).0, Ok(0));

    let h = XenDomctlSetdomainhandle { handle: XenDomainHandle([9; 16]) };
    assert_eq!(domctl(&mut f, &env(DomctlCmd::Setdomainhandle, id.0, &h)).0, Ok(0));
    assert_eq!(info(&mut f, id.0).unwrap().handle.0, [9; 16]);

    let t = XenDomctlSettimeoffset { time_offset_seconds: -3600 };
    assert_eq!(domctl(&mut f, &env(DomctlCmd::Settimeoffset, id.0, &t)).0, Ok(0));
    assert_eq!(with_dom(&f, id, |d| d.time_offset_seconds), -3600);

    let dbg = |on| env(DomctlCmd::Setdebugging, id.0, &XenDomctlSetdebugging { enable: on });
    assert_eq!(domctl(&mut f, &dbg(7)).0, Ok(0));
    assert_ne!(info(&mut f, id.0).unwrap().flags & guest_abi::domctl::XEN_DOMINF_debugged, 0);
    assert_eq!(domctl(&mut f, &dbg(0)).0, Ok(0));
    assert!(!with_dom(&f, id, |d| d.debugger_attached));
    let own = env(DomctlCmd::Setdebugging, 0, &XenDomctlSetdebugging { enable: 1 });
    assert_eq!(domctl(&mut f, &own).0, Err(Errno::EINVAL));

    let set = |s| env(DomctlCmd::SetAddressSize, id.0, &XenDomctlAddressSize { size: s });
    assert_eq!(domctl(&mut f, &set(64)).0, Ok(0));
    assert_eq!(domctl(&mut f, &set(32)).0, Err(Errno::EOPNOTSUPP));
    for s in [0, 16, 48, u32::MAX] {
        assert_eq!(domctl(&mut f, &set(s)).0, Err(Errno::EINVAL));
    }
    let (r, back) = domctl(&mut f, &bare(DomctlCmd::GetAddressSize, id.0));
    assert_eq!(r, Ok(0));
    assert_eq!(back.payload::<XenDomctlAddressSize>().unwrap().size, 64);
}

fn sched(id: DomId, sched_id: u32, cmd: u32, weight: u16, cap: u16) -> XenDomctl {
    let mut s = XenDomctlSchedulerOp { sched_id, cmd, u: [0; 2] };
    assert!(s.set_params(&XenDomctlSchedCredit { weight, cap }));
    env(DomctlCmd::SchedulerOp, id.0, &s)
}

fn credit_of(back: &XenDomctl) -> XenDomctlSchedCredit {
    back.payload::<XenDomctlSchedulerOp>().unwrap().params().unwrap()
}

#[test]
fn credit_scheduler_parameters() {
    let mut f = fixture(); // 4 CPUs
    let id = create(&mut f, 0, 1);
    let credit = XenScheduler::Credit.raw();
    let (r, back) = domctl(&mut f, &sched(id, credit, 1, 0, 0));
    assert_eq!(r, Ok(0));
    assert_eq!(credit_of(&back), XenDomctlSchedCredit { weight: 256, cap: 0 });
    // put: weight 0 and cap 0xffff mean "unchanged".
    assert_eq!(domctl(&mut f, &sched(id, credit, 0, 512, 0xffff)).0, Ok(0));
    assert_eq!(with_dom(&f, id, |d| d.sched_credit), CreditParams { weight: 512, cap: 0 });
    assert_eq!(domctl(&mut f, &sched(id, credit, 0, 0, 150)).0, Ok(0));
    assert_eq!(with_dom(&f, id, |d| d.sched_credit), CreditParams { weight: 512, cap: 150 });
    // A cap beyond the machine (4 CPUs).
    assert_eq!(domctl(&mut f, &sched(id, credit, 0, 0, 401)).0, Err(Errno::EINVAL));
    assert_eq!(with_dom(&f, id, |d| d.sched_credit.cap), 150);
    let (r, back) = domctl(&mut f, &sched(id, credit, 1, 0, 0));
    assert_eq!(r, Ok(0));
    assert_eq!(credit_of(&back), XenDomctlSchedCredit { weight: 512, cap: 150 });
    // Wrong scheduler, per-vCPU or unknown sub-commands.
    for (sid, cmd) in [
        (XenScheduler::Sedf.raw(), 1),
        (6, 1),
        (0, 1),
        (credit, 2),
        (credit, 3),
        (credit, 4),
        (credit, u32::MAX),
    ] {
        assert_eq!(domctl(&mut f, &sched(id, sid, cmd, 1, 1)).0, Err(Errno::EINVAL), "{sid} {cmd}");
    }
    // sEDF at boot: the id changes.
    f.platform.sched = SchedulerKind::Sedf;
    assert_eq!(domctl(&mut f, &sched(id, credit, 1, 0, 0)).0, Err(Errno::EINVAL));
}

fn sedf(id: DomId, cmd: u32, p: XenDomctlSchedSedf) -> XenDomctl {
    let s = XenDomctlSchedulerOpSedf { sched_id: XenScheduler::Sedf.raw(), cmd, sedf: p };
    env(DomctlCmd::SchedulerOp, id.0, &s)
}

fn sedf_get(f: &mut Fixture, id: DomId) -> XenDomctlSchedSedf {
    let zero = XenDomctlSchedSedf { period: 0, slice: 0, latency: 0, extratime: 0, weight: 0 };
    let (r, back) = domctl(f, &sedf(id, 1, zero));
    assert_eq!(r, Ok(0));
    back.payload::<XenDomctlSchedulerOpSedf>().unwrap().sedf
}

/// Xen 4.5's `xen_domctl_sched_sedf` under `sched=sedf`: the defaults of
/// 4.5 (best-effort: 100 ms period, no slice, extratime), put and get, and
/// 4.5's `-EINVAL`s.
#[test]
fn sedf_scheduler_parameters() {
    let mut f = fixture();
    f.platform.sched = SchedulerKind::Sedf;
    let id = create(&mut f, 0, 1);
    let ms = 1_000_000u64;
    let p = |period, slice, latency, extratime, weight| XenDomctlSchedSedf {
        period,
        slice,
        latency,
        extratime,
        weight,
    };
    assert_eq!(sedf_get(&mut f, id), p(100 * ms, 0, 0, 1, 0));
    assert_eq!(domctl(&mut f, &sedf(id, 0, p(20 * ms, 5 * ms, 0, 0, 0))).0, Ok(0));
    assert_eq!(sedf_get(&mut f, id), p(20 * ms, 5 * ms, 0, 0, 0));
    // Latency and the extratime bit (others ignored) are taken.
    assert_eq!(domctl(&mut f, &sedf(id, 0, p(20 * ms, 5 * ms, 2 * ms, 0xff, 0))).0, Ok(0));
    assert_eq!(sedf_get(&mut f, id), p(20 * ms, 5 * ms, 2 * ms, 1, 0));
    for bad in [
        p(0, 0, 0, 1, 0),             // neither period nor weight
        p(9_999, 5_000, 0, 0, 0),     // period under 10 us
        p(10_001 * ms, ms, 0, 0, 0),  // period over 10 s
        p(20 * ms, 21 * ms, 0, 0, 0), // slice over the period
        p(20 * ms, 4_999, 0, 0, 0),   // slice under 5 us
    ] {
        assert_eq!(domctl(&mut f, &sedf(id, 0, bad)).0, Err(Errno::EINVAL), "{bad:?}");
    }
    assert_eq!(sedf_get(&mut f, id), p(20 * ms, 5 * ms, 2 * ms, 1, 0), "unchanged");
    // A weight with extratime and no period: best-effort.
    assert_eq!(domctl(&mut f, &sedf(id, 0, p(0, 0, 0, 1, 5))).0, Ok(0));
    assert_eq!(sedf_get(&mut f, id), p(100 * ms, 0, 0, 1, 0));
    assert_eq!(with_dom(&f, id, |d| d.sched_sedf.extraweight), 5);
    // A weight otherwise: weight-driven.
    assert_eq!(domctl(&mut f, &sedf(id, 0, p(0, 0, 0, 0, 3))).0, Ok(0));
    assert_eq!(sedf_get(&mut f, id).weight, 3);
    // Per-vCPU and unknown sub-commands, the credit id.
    for cmd in [2, 3, 4] {
        assert_eq!(
            domctl(&mut f, &sedf(id, cmd, p(20 * ms, 5 * ms, 0, 0, 0))).0,
            Err(Errno::EINVAL)
        );
    }
    assert_eq!(
        domctl(&mut f, &sched(id, XenScheduler::Credit.raw(), 1, 0, 0)).0,
        Err(Errno::EINVAL)
    );
    assert_eq!(domctl(&mut f, &sedf(DomId(77), 1, p(0, 0, 0, 0, 0))).0, Err(Errno::ESRCH));
}

#[test]
fn getpageframeinfo3_types_and_bounds() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    let b = populate(&mut f, id, 10);
    let si = with_dom(&f, id, |d| d.shared_info);
    let list = [
        b.tables[0].0, // pinned L4
        b.tables[1].0, // L3, validated through the L4
        b.tables[2].0, // L2
        b.tables[3].0, // pinned L1
        b.data[0].0,   // data
        b.gdt.0,       // unused frame of the domain
        si.0,          // shared info: special
        5,             // the caller's frame (not the domain's)
        NR_FRAMES + 5, // beyond the frame table
        u64::MAX,
    ];
    let bytes: Vec<u8> = list.iter().flat_map(|m| m.to_le_bytes()).collect();
    f.poke(BUF, &bytes);
    let arg = XenDomctlGetpageframeinfo3 { num: list.len() as u64, array: BUF };
    assert_eq!(domctl(&mut f, &env(DomctlCmd::Getpageframeinfo3, id.0, &arg)).0, Ok(0));
    let got: Vec<u64> = f
        .peek(BUF, bytes.len())
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let want = [
        XEN_DOMCTL_PFINFO_L4TAB | XEN_DOMCTL_PFINFO_LPINTAB,
        guest_abi::domctl::XEN_DOMCTL_PFINFO_L3TAB,
        XEN_DOMCTL_PFINFO_L2TAB,
        XEN_DOMCTL_PFINFO_L1TAB | XEN_DOMCTL_PFINFO_LPINTAB,
        XEN_DOMCTL_PFINFO_NOTAB,
        XEN_DOMCTL_PFINFO_NOTAB,
        XEN_DOMCTL_PFINFO_XTAB,
        XEN_DOMCTL_PFINFO_XTAB,
        XEN_DOMCTL_PFINFO_XTAB,
        XEN_DOMCTL_PFINFO_XTAB,
    ];
    assert_eq!(got, want.map(u64::from));
    // Bounds: at most 1024, a readable and writable array.
    let big = XenDomctlGetpageframeinfo3 { num: 1025, array: BUF };
    assert_eq!(domctl(&mut f, &env(DomctlCmd::Getpageframeinfo3, id.0, &big)).0, Err(Errno::E2BIG));
    let huge = XenDomctlGetpageframeinfo3 { num: u64::MAX, array: BUF };
    assert_eq!(
        domctl(&mut f, &env(DomctlCmd::Getpageframeinfo3, id.0, &huge)).0,
        Err(Errno::E2BIG)
    );
    let off = XenDomctlGetpageframeinfo3 { num: 4, array: UNMAPPED - 16 };
    assert_eq!(
        domctl(&mut f, &env(DomctlCmd::Getpageframeinfo3, id.0, &off)).0,
        Err(Errno::EFAULT)
    );
    let none = XenDomctlGetpageframeinfo3 { num: 0, array: 0 };
    assert_eq!(domctl(&mut f, &env(DomctlCmd::Getpageframeinfo3, id.0, &none)).0, Ok(0));
}

#[test]
fn hypercall_init_writes_a_writable_frame_of_the_domain() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    let b = populate(&mut f, id, 10);
    let hc = |m: Mfn| env(DomctlCmd::HypercallInit, id.0, &XenDomctlHypercallInit { gmfn: m.0 });
    let before = f.frames.info(b.data[0]).unwrap();
    assert_eq!(domctl(&mut f, &hc(b.data[0])).0, Ok(0));
    let mut page = [0u8; 4096];
    crate::dom0_build::hypercall_page::fill(&mut page);
    let mut got = [0u8; 4096];
    f.mem.read_bytes(b.data[0], 0, &mut got);
    assert_eq!(got, page);
    assert_eq!(f.frames.info(b.data[0]).unwrap(), before, "references balanced");
    assert_eq!(domctl(&mut f, &hc(b.tables[3])).0, Err(Errno::EPERM), "a page table");
    assert_eq!(domctl(&mut f, &hc(Mfn(5))).0, Err(Errno::EINVAL), "not the domain's");
    assert_eq!(domctl(&mut f, &hc(Mfn(u64::MAX))).0, Err(Errno::EINVAL));
}

#[test]
fn io_permissions_are_stored_and_checked() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    let mem = |first, nr, allow| {
        env(
            DomctlCmd::IomemPermission,
            id.0,
            &XenDomctlIomemPermission {
                first_mfn: first,
                nr_mfns: nr,
                allow_access: allow,
                pad: [0; 7],
            },
        )
    };
    // The fixture's hooks let nobody map I/O memory: dom0 has nothing to
    // give.
    assert_eq!(domctl(&mut f, &mem(0xfe000, 16, 1)).0, Err(Errno::EPERM));
    // nr 0 at frame 0 wraps to the whole space, as in Xen: no permission.
    assert_eq!(domctl(&mut f, &mem(0, 0, 1)).0, Err(Errno::EPERM));
    for (first, nr) in [(5, 0), (u64::MAX, 2), (2, u64::MAX)] {
        assert_eq!(domctl(&mut f, &mem(first, nr, 1)).0, Err(Errno::EINVAL), "{first} {nr}");
    }
    // An unprivileged caller with its own caps may pass them on.
    f.dom.privileged = false;
    f.dom.iomem_caps.add(0xfe000, 0xfe0ff).unwrap();
    // (Access control would refuse a domU; let everything through here.)
    assert_eq!(domctl(&mut f, &mem(0xfe000, 16, 1)).0, Err(Errno::EPERM), "dummy XSM");
    f.dom.privileged = true;

    let port = |first, nr, allow| {
        env(
            DomctlCmd::IoportPermission,
            id.0,
            &XenDomctlIoportPermission {
                first_port: first,
                nr_ports: nr,
                allow_access: allow,
                pad: [0; 3],
            },
        )
    };
    assert_eq!(domctl(&mut f, &port(0x300, 0x10, 1)).0, Ok(0));
    assert_eq!(domctl(&mut f, &port(0x380, 8, 1)).0, Ok(0));
    assert_eq!(domctl(&mut f, &port(0x304, 4, 0)).0, Ok(0));
    assert_eq!(
        with_dom(&f, id, |d| d.ioport_caps.ranges().to_vec()),
        [(0x300, 0x303), (0x308, 0x30f), (0x380, 0x387)]
    );
    // Ports dom0 may not use itself (the PIC) cannot be given.
    assert_eq!(domctl(&mut f, &port(0x20, 2, 1)).0, Err(Errno::EPERM));
    for (first, nr) in [(0x300, 0), (0xffff, 2), (0x1_0000, 1), (u32::MAX, u32::MAX)] {
        assert_eq!(domctl(&mut f, &port(first, nr, 1)).0, Err(Errno::EINVAL), "{first} {nr}");
    }
    // Enforced by port I/O emulation.
    use crate::pv::emulate::EmulEnv;
    struct Env;
    impl EmulEnv for Env {
        fn cpuid(&self, _: u32, _: u32) -> [u32; 4] {
            [0; 4]
        }
        fn io_in(&mut self, _: u16, _: u8) -> u32 {
            0
        }
        fn io_out(&mut self, _: u16, _: u8, _: u32) {}
        fn wbinvd(&mut self) {}
        fn read_host_msr(&self, _: u32) -> Option<u64> {
            None
        }
        fn xsetbv(&mut self, _: u32, _: u64) -> bool {
            false
        }
        fn xcr0_supported(&self) -> u64 {
            0
        }
    }
    with_dom(&f, id, |d| {
        assert!(Env.ioports_permitted(d, 0x300, 0x303));
        assert!(!Env.ioports_permitted(d, 0x303, 0x304));
        assert!(!Env.ioports_permitted(d, 0x20, 0x20));
        // Even a granted console UART port stays the hypervisor's.
        d.ioport_caps.add(0x3f8, 0x3ff).unwrap();
        assert!(!Env.ioports_permitted(d, 0x3f8, 0x3f8));
    });

    let irq = |pirq, allow| {
        env(
            DomctlCmd::IrqPermission,
            id.0,
            &XenDomctlIrqPermission { pirq, allow_access: allow, pad: [0; 3] },
        )
    };
    assert_eq!(domctl(&mut f, &irq(11, 1)).0, Ok(0));
    assert!(with_dom(&f, id, |d| d.irq_caps.contains(11)));
    assert_eq!(domctl(&mut f, &irq(11, 0)).0, Ok(0));
    assert!(with_dom(&f, id, |d| d.irq_caps.is_empty()));
    for bad in [256, u32::MAX] {
        assert_eq!(domctl(&mut f, &irq(bad, 1)).0, Err(Errno::EINVAL));
    }
}

#[test]
fn a_claim_shows_in_getdomaininfo_and_dies_with_the_domain() {
    let mut f = fixture();
    let id = create(&mut f, 0, 1);
    with_dom(&f, id, |d| d.max_pages = 100);
    f.platform.host.free_pages = 1000;
    // Dom0 claims 40 pages for the domain (`XENMEM_claim_pages`).
    let arg = crate::pv::test_support::GUEST_BASE + 0x100;
    let r = guest_abi::memory::XenMemoryReservation::new(0, 40, 0, 0, id);
    f.poke(arg, bytemuck::bytes_of(&r));
    let rc = crate::pv::hypercall::call(
        &mut f.ctx(),
        u64::from(guest_abi::xen::Hypercall::MemoryOp.raw()),
        [24, arg, 0, 0, 0, 0],
        false,
    );
    assert_eq!(rc, Ok(0));
    assert_eq!(info(&mut f, id.0).unwrap().outstanding_pages, 40);
    assert_eq!(f.claims.outstanding(), 40);
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Destroydomain, id.0)).0, Ok(0));
    assert_eq!(f.claims.outstanding(), 0, "domain_kill cancels the claim");
}
