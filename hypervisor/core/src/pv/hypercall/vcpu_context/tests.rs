// SPDX-License-Identifier: GPL-2.0-only
//! `VCPUOP_initialise`/`up`, a secondary vCPU's start, kicks and remote
//! TLB flushes.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests on known values"
)]

use guest_abi::event_channel::EvtchnBindVirq;
use guest_abi::vcpu::VcpuOp;
use guest_abi::xen::{
    CpuUserRegs, DOMID_SELF, DomId, Errno, EvtchnPort, Hypercall, MmuextCmd, MmuextOp,
    VGCF_in_kernel, VcpuGuestContext, VcpuId, Virq,
};

use super::*;
use crate::common::event_channel;
use crate::mm::pv::{PageType, PhysMem};
use crate::pv::hypercall::call;
use crate::pv::test_support::{Fixture, GUEST_BASE, frames};

/// Where the tests put the context (two pages: it is 5168 bytes).
const ARG: u64 = GUEST_BASE + 0x4000;
/// A frame of the domain that nothing maps, used as the new vCPU's GDT.
const GDT_FRAME: u64 = frames::DATA + 20;

/// A fixture with two vCPUs whose frames all belong to dom0.
fn fixture() -> Fixture {
    let mut f = Fixture::new();
    let total = frames::DATA + 16 + 16;
    for m in 1..total {
        let _ = f.frames.assign(Mfn(m), DomId(0));
    }
    f.dom.set_max_vcpus(2);
    f
}

/// A context as Linux's `cpu_initialize_context` builds it.
fn linux_context() -> VcpuGuestContext {
    let mut c: VcpuGuestContext = bytemuck::Zeroable::zeroed();
    c.flags = VGCF_in_kernel;
    c.user_regs.rip = 0xffff_ffff_8100_1b50;
    c.user_regs.rsp = 0xffff_c900_0001_0000;
    c.user_regs.cs = 0xe030; // FLAT_KERNEL_CS without RPL
    c.user_regs.ss = 0xe02b;
    c.user_regs.rflags = 0x1000; // IOPL 1
    c.trap_ctxt[14].address = 0xffff_ffff_8100_2000;
    c.trap_ctxt[14].cs = 0xe030;
    c.gdt_frames[0] = GDT_FRAME;
    c.gdt_ents = 16;
    c.kernel_ss = 0xe02b;
    c.kernel_sp = 0xffff_c900_0001_0000;
    c.ctrlreg[3] = frames::L4.0 << 12;
    c.event_callback_eip = 0xffff_ffff_8100_3000;
    c.failsafe_callback_eip = 0xffff_ffff_8100_3100;
    c.gs_base_kernel = 0xffff_8880_1f00_0000;
    c
}

fn vcpu_op(f: &mut Fixture, cmd: VcpuOp, vcpu: u64, arg: u64) -> Result<i64, Errno> {
    let mut ctx = f.ctx();
    let args = [u64::from(cmd.raw()), vcpu, arg, 0, 0, 0];
    call(&mut ctx, u64::from(Hypercall::VcpuOp.raw()), args, false)
}

fn initialise(f: &mut Fixture, c: &VcpuGuestContext) -> Result<i64, Errno> {
    f.poke(ARG, bytemuck::bytes_of(c));
    vcpu_op(f, VcpuOp::Initialise, 1, ARG)
}

fn type_count(f: &Fixture, mfn: Mfn) -> (PageType, u32) {
    let t = f.frames.info(mfn).unwrap().type_info;
    (t.ty, t.count)
}

#[test]
fn secondary_vcpus_start_down_and_uninitialised() {
    let f = fixture();
    assert_eq!(f.dom.vcpus.len(), 2);
    assert!(f.dom.vcpus[0].initialised && !f.dom.vcpus[0].down);
    assert!(!f.dom.vcpus[1].initialised && f.dom.vcpus[1].down);
}

#[test]
fn initialise_then_up() {
    let mut f = fixture();
    assert_eq!(vcpu_op(&mut f, VcpuOp::IsUp, 1, 0), Ok(0));
    assert_eq!(vcpu_op(&mut f, VcpuOp::Up, 1, 0), Err(Errno::EINVAL), "up before initialise");
    let (l4_type, l4_refs) = type_count(&f, frames::L4);
    assert_eq!(initialise(&mut f, &linux_context()), Ok(0));
    let v = &f.dom.vcpus[1];
    assert!(v.initialised && v.down && v.arch.kernel_mode);
    let regs = v.arch.start_regs.unwrap();
    assert_eq!((regs.cs, regs.ss, regs.rip), (0xe033, 0xe02b, 0xffff_ffff_8100_1b50));
    assert_eq!(regs.rflags, 0x202, "IOPL moves to the virtual IOPL, IF is forced on");
    assert_eq!(v.arch.iopl, 1);
    assert_eq!(v.arch.trap_ctxt[14].cs, 0xe033);
    assert_eq!(v.arch.tables.guest_table, Some(frames::L4));
    assert_eq!(v.arch.gdt_frames, [Mfn(GDT_FRAME)]);
    assert_eq!((v.arch.kernel_ss, v.arch.kernel_sp), (0xe02b, 0xffff_c900_0001_0000));
    assert_eq!(v.arch.callbacks.event.address, 0xffff_ffff_8100_3000);
    assert_eq!(v.arch.callbacks.failsafe.address, 0xffff_ffff_8100_3100);
    assert!(v.arch.reload_descriptors);
    assert_eq!(type_count(&f, Mfn(GDT_FRAME)), (PageType::SegDesc, 1));
    assert_eq!(type_count(&f, frames::L4).1, l4_refs + 1, "was {l4_type:?}");
    // The caller's CPU tables are untouched.
    assert!(f.platform.gdt_pages.is_empty());

    assert_eq!(initialise(&mut f, &linux_context()), Err(Errno::EEXIST));
    f.dom.kick_mask = 0;
    assert_eq!(vcpu_op(&mut f, VcpuOp::Up, 1, 0), Ok(0));
    assert!(!f.dom.vcpus[1].down);
    assert_eq!(f.dom.kick_mask, 0b10, "its CPU is kicked");
    assert_eq!(vcpu_op(&mut f, VcpuOp::IsUp, 1, 0), Ok(1));
    assert_eq!(vcpu_op(&mut f, VcpuOp::Up, 1, 0), Ok(0), "up twice is fine");
    assert_eq!(vcpu_op(&mut f, VcpuOp::Initialise, 2, ARG), Err(Errno::ENOENT));
}

#[test]
fn bad_contexts_change_nothing() {
    let mut cases: Vec<(&str, VcpuGuestContext)> = Vec::new();
    let mut c = linux_context();
    c.user_regs.rip = 0x0000_8000_0000_0000;
    cases.push(("non-canonical rip", c));
    let mut c = linux_context();
    c.trap_ctxt[3].address = 0x1234_5678_9abc_def0;
    cases.push(("non-canonical trap handler", c));
    let mut c = linux_context();
    c.ldt_base = 0x1001;
    cases.push(("unaligned LDT", c));
    let mut c = linux_context();
    c.ldt_ents = 8193;
    cases.push(("LDT too big", c));
    let mut c = linux_context();
    c.gdt_ents = 14 * 512 + 1;
    cases.push(("GDT into the reserved entries", c));
    let mut c = linux_context();
    c.ctrlreg[3] = (frames::DATA + 40) << 12;
    cases.push(("CR3 not a frame of the domain", c));
    let mut c = linux_context();
    c.ctrlreg[3] = GDT_FRAME << 12;
    cases.push(("CR3 is the GDT frame", c));
    let mut c = linux_context();
    c.ctrlreg[1] = (frames::DATA + 40) << 12;
    cases.push(("user CR3 not a frame of the domain", c));
    let mut c = linux_context();
    c.flags = 0;
    cases.push(("user mode without a user page table", c));
    for (why, c) in cases {
        let mut f = fixture();
        let l4_before = type_count(&f, frames::L4);
        assert_eq!(initialise(&mut f, &c), Err(Errno::EINVAL), "{why}");
        let v = &f.dom.vcpus[1];
        assert!(
            !v.initialised && v.arch.start_regs.is_none() && v.arch.gdt_frames.is_empty(),
            "{why}"
        );
        assert_eq!(type_count(&f, Mfn(GDT_FRAME)).1, 0, "{why}: GDT reference dropped");
        // (A validated type may stay behind with no reference, as in Xen.)
        assert_eq!(type_count(&f, frames::L4).1, l4_before.1, "{why}: L4 reference dropped");
    }
    let mut f = fixture();
    assert_eq!(vcpu_op(&mut f, VcpuOp::Initialise, 1, 0x7fff_0000_0000), Err(Errno::EFAULT));
}

#[test]
fn start_on_cpu_loads_the_context_once() {
    let mut f = fixture();
    assert_eq!(initialise(&mut f, &linux_context()), Ok(0));
    assert_eq!(vcpu_op(&mut f, VcpuOp::Up, 1, 0), Ok(0));
    let mut ctx = f.ctx();
    ctx.vcpu = 1;
    let regs = start_on_cpu(&mut ctx).unwrap();
    assert_eq!(regs.rip, 0xffff_ffff_8100_1b50);
    assert!(start_on_cpu(&mut ctx).is_none(), "only once");
    assert_eq!(f.platform.cr3, Some(frames::L4));
    assert_eq!(f.platform.gs, 0xffff_8880_1f00_0000);
    assert_eq!(f.platform.gdt_pages.len(), 14, "every guest GDT page loaded");
    assert!(f.platform.gdt_pages[0].is_some() && f.platform.gdt_pages[1].is_none());
    assert!(!f.dom.vcpus[1].arch.reload_descriptors);
}

#[test]
fn events_for_another_vcpu_kick_it() {
    let mut f = fixture();
    let mut bind = EvtchnBindVirq { virq: Virq::Timer.raw(), vcpu: VcpuId(1), port: EvtchnPort(0) };
    event_channel::ops::bind_virq(&mut f.dom, &mut bind).unwrap();
    f.dom.kick_mask = 0;
    f.mem.write_bytes(frames::SHARED_INFO, 64 + 1, &[0]); // vCPU 1 unmasked
    assert!(event_channel::send_virq(&mut f.dom, &mut f.mem, VcpuId(1), Virq::Timer));
    assert_eq!(f.dom.kick_mask, 0b10);
}

#[test]
fn flush_all_reaches_the_other_vcpus() {
    let mut f = fixture();
    let op = MmuextOp::new(MmuextCmd::TlbFlushAll, 0, 0);
    f.poke(ARG, bytemuck::bytes_of(&op));
    let mut ctx = f.ctx();
    let args = [ARG, 1, 0, u64::from(DOMID_SELF.0), 0, 0];
    assert_eq!(call(&mut ctx, u64::from(Hypercall::MmuextOp.raw()), args, false), Ok(0));
    assert_eq!(f.platform.remote_flushes, [0b10]);
    assert_eq!(f.platform.flushes, 1, "and the caller's own");
    // A vCPU bitmap naming only the caller flushes nothing remote.
    f.poke(ARG + 64, &1u64.to_le_bytes());
    let op = MmuextOp::new(MmuextCmd::TlbFlushMulti, 0, ARG + 64);
    f.poke(ARG, bytemuck::bytes_of(&op));
    let mut ctx = f.ctx();
    assert_eq!(call(&mut ctx, u64::from(Hypercall::MmuextOp.raw()), args, false), Ok(0));
    assert_eq!(f.platform.remote_flushes, [0b10]);
    assert_eq!(f.platform.flushes, 2);
}

/// The registers vCPU 1 would first `iretq` with, as the machine layer
/// prepares them: `start_on_cpu`, then `prepare_return_to_guest`.
fn first_entry(
    f: &mut Fixture,
) -> (Result<(), crate::pv::descriptor::BadReturnState>, CpuUserRegs) {
    let mut ctx = f.ctx();
    ctx.vcpu = 1;
    let start = start_on_cpu(&mut ctx).unwrap();
    *ctx.regs = start;
    let r = crate::pv::descriptor::prepare_return_to_guest(&mut ctx);
    (r, *ctx.regs)
}

/// vCPU 1's stack in the fixture's mapped area.
const STACK_TOP: u64 = GUEST_BASE + 0x3000;

#[test]
fn selectors_get_rpl_3_and_if_is_forced_on() {
    let mut f = fixture();
    let mut c = linux_context();
    c.user_regs.cs = 0;
    c.user_regs.ss = 0;
    c.user_regs.rflags = 0x3002; // IOPL 3, IF clear
    c.kernel_ss = 0xe028;
    c.trap_ctxt[13].cs = 0;
    assert_eq!(initialise(&mut f, &c), Ok(0), "Xen takes null selectors (with RPL 3)");
    let v = &f.dom.vcpus[1];
    let regs = v.arch.start_regs.unwrap();
    assert_eq!((regs.cs, regs.ss), (3, 3), "RPL 3, still null");
    assert_eq!(regs.rflags, 0x202, "IF on, IOPL virtualised");
    assert_eq!(v.arch.iopl, 3);
    assert_eq!(v.arch.kernel_ss, 0xe02b);
    assert_eq!(v.arch.trap_ctxt[13].cs, 3);
}

#[test]
fn a_null_code_selector_at_the_first_entry_bounces_gp_to_the_guest() {
    for (what, cs, ss) in [("CS", 0u16, 0xe02bu16), ("SS", 0xe033, 0), ("CS and SS", 0, 0)] {
        let mut f = fixture();
        let mut c = linux_context();
        c.user_regs.cs = cs;
        c.user_regs.ss = ss;
        c.user_regs.rflags = 0;
        c.user_regs.rsp = STACK_TOP;
        c.trap_ctxt[13].address = 0xffff_ffff_8100_2d00;
        c.trap_ctxt[13].cs = 0xe030;
        c.ctrlreg[3] = frames::L4.0 << 12;
        assert_eq!(initialise(&mut f, &c), Ok(0), "{what}");
        assert_eq!(vcpu_op(&mut f, VcpuOp::Up, 1, 0), Ok(0));
        let (r, regs) = first_entry(&mut f);
        assert_eq!(r, Ok(()), "{what}: the #GP is the guest's");
        assert_eq!(regs.rip, 0xffff_ffff_8100_2d00, "{what}: at its #GP handler");
        assert_eq!((regs.cs, regs.ss), (0xe033, 0xe02b), "{what}: on the flat kernel selectors");
        assert_eq!(regs.rflags & 0x3200, 0x200, "{what}: IF on, IOPL 0");
        assert!(f.dom.shutdown.is_none(), "{what}");
        // Frame: RCX, R11, error code, RIP, CS, RFLAGS, RSP, SS.
        let frame = f.peek(regs.rsp, 64);
        let q = |i: usize| u64::from_le_bytes(frame[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(q(2), 0, "{what}: error code 0 (null selector)");
        assert_eq!(q(3), 0xffff_ffff_8100_1b50, "{what}: the context's RIP");
        assert_eq!(q(4) & 0xffff, u64::from(cs & !3), "{what}: its CS (RPL 0 in kernel mode)");
        assert_eq!(q(6), STACK_TOP);
        assert_eq!(q(7), u64::from(ss | 3), "{what}: its SS");
    }
}

#[test]
fn a_bad_first_entry_without_a_handler_crashes_the_domain() {
    let mut f = fixture();
    let mut c = linux_context();
    c.user_regs.cs = 0;
    c.user_regs.rsp = STACK_TOP;
    assert_eq!(initialise(&mut f, &c), Ok(0));
    assert_eq!(vcpu_op(&mut f, VcpuOp::Up, 1, 0), Ok(0));
    let (r, _) = first_entry(&mut f);
    assert!(r.is_err(), "no #GP handler: nothing to return to");
    assert!(f.dom.shutdown.is_some(), "the domain is crashed, not the hypervisor");
}

#[test]
fn every_first_entry_is_safe_for_iretq() {
    // Any selectors, flags and RIP a context can carry: either the state
    // passes the iretq checks or the domain is crashed.
    let sels = [0u16, 3, 0xe030, 0xe033, 0xe02b, 0xe008, 0xe010, 0xe018, 0xfffc, 0x0007, 0x0010];
    for &cs in &sels {
        for &ss in &sels {
            for &(rflags, handler) in &[(0u64, 0u64), (0xffff_ffff, 0xffff_ffff_8100_2d00)] {
                let mut f = fixture();
                let mut c = linux_context();
                c.user_regs.cs = cs;
                c.user_regs.ss = ss;
                c.user_regs.rflags = rflags;
                c.user_regs.rsp = STACK_TOP;
                for v in [11usize, 12, 13] {
                    c.trap_ctxt[v].address = handler;
                    c.trap_ctxt[v].cs = 0xe030;
                }
                assert_eq!(initialise(&mut f, &c), Ok(0));
                assert_eq!(vcpu_op(&mut f, VcpuOp::Up, 1, 0), Ok(0));
                let (r, regs) = first_entry(&mut f);
                if r.is_ok() {
                    let mut ctx = f.ctx();
                    ctx.vcpu = 1;
                    *ctx.regs = regs;
                    assert_eq!(
                        crate::pv::descriptor::check_return_state(&ctx),
                        Ok(()),
                        "cs {cs:#x} ss {ss:#x}"
                    );
                    assert_eq!(regs.rflags & 0x2_7200, 0x200, "IF on; IOPL, NT, VM off");
                } else {
                    assert!(f.dom.shutdown.is_some(), "cs {cs:#x} ss {ss:#x}");
                }
            }
        }
    }
}
