// SPDX-License-Identifier: GPL-2.0-only
//! vCPU commands: information, affinity, context.

use guest_abi::domctl::{
    DomctlCmd, XEN_VCPUAFFINITY_HARD, XEN_VCPUAFFINITY_SOFT, XenDomctlGetvcpuinfo,
    XenDomctlMaxVcpus, XenDomctlVcpuaffinity, XenDomctlVcpucontext, XenctlBitmap,
};
use guest_abi::xen::{Errno, VGCF_in_kernel, VGCF_online, VcpuGuestContext, VcpuId};

use super::lifecycle::context;
use super::*;
use crate::mm::pv::PageType;
use crate::sched::{Cpu, CpuMask};

fn vcpuinfo(f: &mut Fixture, dom: u16, vcpu: u32) -> Result<XenDomctlGetvcpuinfo, Errno> {
    let arg = XenDomctlGetvcpuinfo { vcpu: VcpuId(vcpu), ..bytemuck::Zeroable::zeroed() };
    let (r, back) = domctl(f, &env(DomctlCmd::Getvcpuinfo, dom, &arg));
    r.map(|_| back.payload().unwrap())
}

#[test]
fn getvcpuinfo_reports_and_bounds_the_vcpu() {
    let mut f = fixture();
    let id = create(&mut f, 0, 2);
    let i = vcpuinfo(&mut f, id.0, 1).unwrap();
    assert_eq!((i.vcpu, i.online, i.blocked, i.running, i.cpu), (VcpuId(1), 0, 0, 0, 0));
    with_dom(&f, id, |d| {
        d.vcpus[1].down = false;
        d.vcpus[1].blocked = true;
        d.vcpus[1].processor = 3;
        d.vcpus[1].runstate.time[0] = 12345;
    });
    let i = vcpuinfo(&mut f, id.0, 1).unwrap();
    assert_eq!((i.online, i.blocked, i.cpu, i.cpu_time), (1, 1, 3, 12345));
    // The caller's own vCPU is running.
    assert_eq!(vcpuinfo(&mut f, 0, 0).unwrap().running, 1);
    for bad in [2, 64, u32::MAX] {
        assert_eq!(vcpuinfo(&mut f, id.0, bad).map(|i| i.vcpu), Err(Errno::EINVAL));
    }
}

#[test]
fn max_vcpus_must_match_creation() {
    let mut f = fixture();
    let id = create(&mut f, 0, 3);
    let op = |n| env(DomctlCmd::MaxVcpus, id.0, &XenDomctlMaxVcpus { max: n });
    assert_eq!(domctl(&mut f, &op(3)).0, Ok(0));
    for n in [0, 2, 4, u32::MAX] {
        assert_eq!(domctl(&mut f, &op(n)).0, Err(Errno::EINVAL), "{n}");
    }
    let own = env(DomctlCmd::MaxVcpus, 0, &XenDomctlMaxVcpus { max: 1 });
    assert_eq!(domctl(&mut f, &own).0, Err(Errno::EINVAL), "not the caller");
    assert_eq!(with_dom(&f, id, |d| d.vcpus.len()), 3);
}

fn affinity(
    vcpu: u32,
    flags: u32,
    hard: XenctlBitmap,
    soft: XenctlBitmap,
) -> XenDomctlVcpuaffinity {
    XenDomctlVcpuaffinity { vcpu: VcpuId(vcpu), flags, cpumap_hard: hard, cpumap_soft: soft }
}

#[test]
fn vcpu_affinity_is_stored_bounded_and_reported() {
    let mut f = fixture(); // 4 CPUs
    let id = create(&mut f, 0, 2);
    let set = |a| env(DomctlCmd::Setvcpuaffinity, id.0, &a);
    let get = |a| env(DomctlCmd::Getvcpuaffinity, id.0, &a);
    let hard = XenctlBitmap::new(BUF, 8);
    let soft = XenctlBitmap::new(BUF + 0x100, 8);
    // Hard {1, 2, 6}: CPU 6 does not exist; the effective mask {1, 2} is
    // written back.
    f.poke(BUF, &[0b0100_0110]);
    assert_eq!(domctl(&mut f, &set(affinity(1, XEN_VCPUAFFINITY_HARD, hard, soft))).0, Ok(0));
    assert_eq!(f.peek(BUF, 1), [0b0000_0110]);
    assert_eq!(
        with_dom(&f, id, |d| d.vcpus[1].affinity_hard),
        CpuMask::from_cpus(&[1, 2]),
        "bits past the host's CPUs are not kept"
    );
    // Soft {0, 1}: the effective soft mask is within the hard one.
    f.poke(BUF + 0x100, &[0b0000_0011]);
    assert_eq!(domctl(&mut f, &set(affinity(1, XEN_VCPUAFFINITY_SOFT, hard, soft))).0, Ok(0));
    assert_eq!(f.peek(BUF + 0x100, 1), [0b0000_0010]);
    // Read back, into a long buffer: the tail is zeroed.
    f.poke(BUF + 0x200, &[0xff; 64]);
    let long = XenctlBitmap::new(BUF + 0x200, 64 * 8);
    assert_eq!(domctl(&mut f, &get(affinity(1, XEN_VCPUAFFINITY_HARD, long, soft))).0, Ok(0));
    let got = f.peek(BUF + 0x200, 64);
    assert_eq!(got[0], 0b0110);
    assert!(got[1..].iter().all(|&b| b == 0));
    // A huge nr_bits is bounded: only the host's bytes are read, and only
    // MAX_BITMAP_BYTES are zero-filled (here within the mapped area).
    f.poke(BUF, &[0b1000]);
    let huge = XenctlBitmap::new(BUF, u32::MAX);
    assert_eq!(domctl(&mut f, &set(affinity(0, XEN_VCPUAFFINITY_HARD, huge, soft))).0, Ok(0));
    assert_eq!(with_dom(&f, id, |d| d.vcpus[0].affinity_hard), CpuMask::only(Cpu(3)));
    // nr_bits 2: bits past it in the byte are ignored.
    f.poke(BUF, &[0b1111_1100]);
    let two = XenctlBitmap::new(BUF, 2);
    assert_eq!(
        domctl(&mut f, &set(affinity(0, XEN_VCPUAFFINITY_HARD, two, soft))).0,
        Err(Errno::EINVAL),
        "no online CPU left"
    );
    // Empty intersection with the online CPUs.
    f.poke(BUF, &[0b1111_0000]);
    assert_eq!(
        domctl(&mut f, &set(affinity(0, XEN_VCPUAFFINITY_HARD, hard, soft))).0,
        Err(Errno::EINVAL)
    );
    assert_eq!(with_dom(&f, id, |d| d.vcpus[0].affinity_hard), CpuMask::only(Cpu(3)), "unchanged");
    // nr_bits 0 reads nothing: an empty mask.
    let none = XenctlBitmap::new(BUF, 0);
    assert_eq!(
        domctl(&mut f, &set(affinity(0, XEN_VCPUAFFINITY_HARD, none, soft))).0,
        Err(Errno::EINVAL)
    );
    // Flags and handles.
    for a in [
        affinity(0, 0, hard, soft),
        affinity(0, XEN_VCPUAFFINITY_HARD, XenctlBitmap::new(0, 8), soft),
        affinity(0, XEN_VCPUAFFINITY_SOFT, hard, XenctlBitmap::new(0, 8)),
        affinity(2, XEN_VCPUAFFINITY_HARD, hard, soft),
        affinity(u32::MAX, XEN_VCPUAFFINITY_HARD, hard, soft),
    ] {
        assert_eq!(domctl(&mut f, &set(a)).0, Err(Errno::EINVAL), "{a:?}");
        assert_eq!(domctl(&mut f, &get(a)).0, Err(Errno::EINVAL), "{a:?}");
    }
    // Unmapped buffers.
    let bad = XenctlBitmap::new(UNMAPPED, 8);
    assert_eq!(
        domctl(&mut f, &set(affinity(0, XEN_VCPUAFFINITY_HARD, bad, soft))).0,
        Err(Errno::EFAULT)
    );
    assert_eq!(
        domctl(&mut f, &get(affinity(0, XEN_VCPUAFFINITY_HARD, bad, soft))).0,
        Err(Errno::EFAULT)
    );
    // A soft mask that cannot be read rolls the hard one back.
    f.poke(BUF, &[0b0001]);
    let both = XEN_VCPUAFFINITY_HARD | XEN_VCPUAFFINITY_SOFT;
    assert_eq!(domctl(&mut f, &set(affinity(0, both, hard, bad))).0, Err(Errno::EFAULT));
    assert_eq!(with_dom(&f, id, |d| d.vcpus[0].affinity_hard), CpuMask::only(Cpu(3)));
}

fn setctx(f: &mut Fixture, dom: u16, vcpu: u32, ctxt: u64) -> Result<i64, Errno> {
    let arg = XenDomctlVcpucontext { vcpu: VcpuId(vcpu), pad: 0, ctxt };
    domctl(f, &env(DomctlCmd::Setvcpucontext, dom, &arg)).0
}

fn getctx(f: &mut Fixture, dom: u16, vcpu: u32, ctxt: u64) -> Result<i64, Errno> {
    let arg = XenDomctlVcpucontext { vcpu: VcpuId(vcpu), pad: 0, ctxt };
    domctl(f, &env(DomctlCmd::Getvcpucontext, dom, &arg)).0
}

#[test]
fn vcpu_context_round_trip_and_checks() {
    let mut f = fixture();
    let id = create(&mut f, 0, 2);
    let b = populate(&mut f, id, 10);
    assert_eq!(getctx(&mut f, id.0, 1, CTXT), Err(Errno::ENODATA));
    let mut c = context(&b);
    f.poke(CTXT, bytemuck::bytes_of(&c));
    assert_eq!(setctx(&mut f, id.0, 1, CTXT), Ok(0));
    with_dom(&f, id, |d| {
        let v = &d.vcpus[1];
        assert!(v.initialised && !v.down, "VGCF_online brings it up");
        assert_eq!(v.arch.tables.guest_table, Some(b.tables[0]));
        assert_eq!(v.arch.gdt_frames, [b.gdt]);
        assert_eq!(v.arch.iopl, 3, "RFLAGS.IOPL becomes the virtual IOPL");
    });
    // Read it back.
    f.poke(CTXT + 0x2000, &[0xee; 5168]);
    assert_eq!(getctx(&mut f, id.0, 1, CTXT + 0x2000), Ok(0));
    let back: VcpuGuestContext = bytemuck::pod_read_unaligned(
        &f.peek(CTXT + 0x2000, core::mem::size_of::<VcpuGuestContext>()),
    );
    assert_eq!(back.ctrlreg[3], c.ctrlreg[3]);
    assert_eq!(back.gdt_frames[0], b.gdt.0);
    assert_eq!(back.gdt_ents, 512);
    assert_eq!(back.user_regs.rip, c.user_regs.rip);
    assert_eq!(back.user_regs.rflags & 0x3000, 0x3000);
    assert_eq!(back.flags & (VGCF_online | VGCF_in_kernel), VGCF_online | VGCF_in_kernel);
    assert_eq!(back.event_callback_eip, c.event_callback_eip);
    assert_eq!(back.kernel_sp, c.kernel_sp);
    // An initialised vCPU: while paused, the same tables with new
    // registers are accepted; other tables are -EOPNOTSUPP.
    c.user_regs.rip = 0x40_4000;
    f.poke(CTXT, bytemuck::bytes_of(&c));
    assert_eq!(setctx(&mut f, id.0, 1, CTXT), Ok(0));
    assert_eq!(with_dom(&f, id, |d| d.vcpus[1].arch.start_regs.unwrap().rip), 0x40_4000);
    let mut other = c;
    other.ctrlreg[3] = b.tables[1].0 << 12;
    f.poke(CTXT, bytemuck::bytes_of(&other));
    assert_eq!(setctx(&mut f, id.0, 1, CTXT), Err(Errno::EOPNOTSUPP));
    // Not while the domain runs.
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Unpausedomain, id.0)).0, Ok(0));
    f.poke(CTXT, bytemuck::bytes_of(&c));
    assert_eq!(setctx(&mut f, id.0, 1, CTXT), Err(Errno::EBUSY));
    assert_eq!(domctl(&mut f, &bare(DomctlCmd::Pausedomain, id.0)).0, Ok(0));
    // A null context resets the vCPU: its references go.
    let l4_types = f.frames.info(b.tables[0]).unwrap().type_info.count;
    assert_eq!(setctx(&mut f, id.0, 1, 0), Ok(0));
    assert_eq!(f.frames.info(b.tables[0]).unwrap().type_info.count, l4_types - 1);
    assert_eq!(f.frames.info(b.gdt).unwrap().type_info.count, 0);
    with_dom(&f, id, |d| assert!(!d.vcpus[1].initialised && d.vcpus[1].down));
    assert_eq!(getctx(&mut f, id.0, 1, CTXT), Err(Errno::ENODATA));

    // Hostile contexts: every reference taken is dropped again.
    let before = snapshot(&f);
    let cases: [fn(&mut VcpuGuestContext, &Built); 7] = [
        |c, _| c.user_regs.rip = 0x8000_0000_0000_0000,
        |c, _| c.ldt_ents = 8193,
        |c, _| c.ldt_base = 0x123,
        |c, _| c.gdt_ents = 16 * 512 + 1,
        |c, _| c.gdt_ents = 15 * 512,
        |c, b| c.ctrlreg[3] = b.data[0].0 << 12,
        |c, b| c.gdt_frames[0] = b.data[0].0,
    ];
    for (i, mutate) in cases.iter().enumerate() {
        let mut bad = context(&b);
        mutate(&mut bad, &b);
        f.poke(CTXT, bytemuck::bytes_of(&bad));
        let r = setctx(&mut f, id.0, 1, CTXT);
        assert_eq!(r, Err(Errno::EINVAL), "case {i}");
        assert_eq!(snapshot(&f), before, "case {i}");
    }
    // vCPU 0's context sets the domain's VM assists: only valid ones.
    let mut bad = context(&b);
    bad.vm_assist = 1 << 40;
    f.poke(CTXT, bytemuck::bytes_of(&bad));
    assert_eq!(setctx(&mut f, id.0, 0, CTXT), Err(Errno::EINVAL));
    assert_eq!(snapshot(&f), before);
    // Other argument errors.
    assert_eq!(setctx(&mut f, id.0, 2, CTXT), Err(Errno::EINVAL));
    assert_eq!(setctx(&mut f, id.0, u32::MAX, CTXT), Err(Errno::EINVAL));
    assert_eq!(setctx(&mut f, 0, 0, CTXT), Err(Errno::EINVAL), "not the caller");
    assert_eq!(setctx(&mut f, id.0, 1, UNMAPPED - 8), Err(Errno::EFAULT));
    assert_eq!(getctx(&mut f, 0, 0, CTXT), Err(Errno::EINVAL), "not the calling vCPU");
    assert_eq!(getctx(&mut f, id.0, 5, CTXT), Err(Errno::EINVAL));
    f.poke(CTXT, bytemuck::bytes_of(&c));
    assert_eq!(setctx(&mut f, id.0, 1, CTXT), Ok(0));
    assert_eq!(getctx(&mut f, id.0, 1, UNMAPPED - 8), Err(Errno::EFAULT));
    assert_eq!(f.frames.info(b.gdt).unwrap().type_info.ty, PageType::SegDesc);
}
