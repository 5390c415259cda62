// SPDX-License-Identifier: GPL-2.0-only
//! Trap-bounce tests: frame layout, mode switches, masks, `iret`, softints.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use guest_abi::xen::{FLAT_KERNEL_CS, FLAT_KERNEL_SS, IretContext, TrapInfo, VGCF_in_syscall};

use super::*;
use crate::common::domain::ShutdownReason;
use crate::mm::pv::PhysMem;
use crate::pv::domain::Callback;
use crate::pv::test_support::{Fixture, GUEST_BASE, frames};

fn words(f: &Fixture, va: u64, n: usize) -> alloc::vec::Vec<u64> {
    f.peek(va, n * 8).chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect()
}

fn set_trap(f: &mut Fixture, vector: u8, address: u64, flags: u8) {
    f.dom.vcpus[0].arch.trap_ctxt[usize::from(vector)] =
        TrapInfo { vector, flags, cs: FLAT_KERNEL_CS, pad0: 0, address };
}

#[test]
fn page_fault_from_kernel_mode_frame_and_cr2() {
    let mut f = Fixture::new();
    set_trap(&mut f, vector::PF, 0x40_1000, TrapInfo::IF_FLAG);
    f.regs.rsp = GUEST_BASE + 0x8008; // not 16-aligned: the frame is aligned down
    f.regs.rip = 0x40_0123;
    f.regs.rcx = 0xc;
    f.regs.r11 = 0x11;
    f.regs.rflags = 0x202 | EFLAGS_TF;
    inject_exception(&mut f.ctx(), vector::PF, Some(0x7), Some(0xdead_b000)).unwrap();
    let top = GUEST_BASE + 0x8000;
    let base = top - 8 * 8;
    assert_eq!(f.regs.rsp, base);
    assert_eq!(f.regs.rip, 0x40_1000);
    assert_eq!(f.regs.cs, FLAT_KERNEL_CS);
    assert_eq!(f.regs.ss, FLAT_KERNEL_SS);
    assert_eq!(f.regs.rflags & EFLAGS_TF, 0);
    let w = words(&f, base, 8);
    // RCX, R11, error code, RIP, CS|mask<<32, RFLAGS, RSP, SS
    assert_eq!(w[0], 0xc);
    assert_eq!(w[1], 0x11);
    assert_eq!(w[2], 0x7 & !u64::from(PFEC_USER_MODE));
    assert_eq!(w[3], 0x40_0123);
    assert_eq!(w[4], u64::from(FLAT_KERNEL_CS & !3), "RPL 0 for kernel context, mask 0");
    assert_eq!(w[5] & EFLAGS_IF, EFLAGS_IF, "events were unmasked");
    assert_eq!(w[6], GUEST_BASE + 0x8008);
    assert_eq!(w[7], u64::from(FLAT_KERNEL_SS));
    let mut ctx = f.ctx();
    assert_eq!(ctx.upcall_mask(), 1, "interrupt gate masks events");
    assert_eq!(ctx.v().arch.cr2, 0xdead_b000);
    let mut cr2 = [0u8; 8];
    f.mem.read_bytes(frames::SHARED_INFO, 16, &mut cr2);
    assert_eq!(u64::from_le_bytes(cr2), 0xdead_b000);
}

#[test]
fn bounce_from_user_mode_switches_stack_table_and_gs() {
    let mut f = Fixture::new();
    set_trap(&mut f, vector::GP, 0x40_2000, 0);
    {
        let v = &mut f.dom.vcpus[0];
        v.arch.kernel_mode = false;
        v.arch.tables.guest_table_user = Some(frames::USER_L4);
        v.arch.kernel_sp = GUEST_BASE + 0x6000;
        v.arch.gs_base_kernel = 0x1111;
    }
    f.platform.gs = 0x2222; // the user GS base is live
    f.regs.cs = FLAT_KERNEL_CS; // user CS is also 0xe033
    f.regs.rsp = 0x40_3000;
    f.ctx().set_upcall_mask(1);
    inject_exception(&mut f.ctx(), vector::GP, Some(0x10), None).unwrap();
    let v = &f.dom.vcpus[0];
    assert!(v.arch.kernel_mode);
    assert_eq!(v.arch.gs_base_user, 0x2222);
    assert_eq!(f.platform.gs, 0x1111);
    assert_eq!(f.platform.cr3, Some(frames::L4));
    let base = GUEST_BASE + 0x6000 - 8 * 8;
    assert_eq!(f.regs.rsp, base);
    let w = words(&f, base, 8);
    assert_eq!(w[2], 0x10);
    assert_eq!(w[4], u64::from(FLAT_KERNEL_CS) | (1 << 32), "user CS keeps RPL 3; saved mask 1");
    assert_eq!(w[5] & EFLAGS_IF, 0, "events were masked");
    assert_eq!(w[6], 0x40_3000);
}

#[test]
fn null_handler_or_bad_stack_crashes_the_domain() {
    let mut f = Fixture::new();
    assert_eq!(inject_exception(&mut f.ctx(), vector::DE, None, None), Err(BounceError::NoHandler));
    assert_eq!(f.dom.shutdown, Some(ShutdownReason::Crash));

    let mut f = Fixture::new();
    set_trap(&mut f, vector::DE, 0x40_1000, 0);
    f.regs.rsp = 0xffff_8100_0000_0000; // in the hypervisor hole
    assert_eq!(inject_exception(&mut f.ctx(), vector::DE, None, None), Err(BounceError::BadStack));
    assert_eq!(f.dom.shutdown, Some(ShutdownReason::Crash));

    let mut f = Fixture::new();
    set_trap(&mut f, vector::DE, 0x40_1000, 0);
    f.regs.rsp = 0x10_0000; // unmapped
    assert_eq!(inject_exception(&mut f.ctx(), vector::DE, None, None), Err(BounceError::BadStack));

    let mut f = Fixture::new();
    set_trap(&mut f, vector::DE, 0x40_1000, 0);
    f.dom.vcpus[0].arch.kernel_mode = false; // from user mode, with no stack_switch stack
    assert_eq!(inject_exception(&mut f.ctx(), vector::DE, None, None), Err(BounceError::BadStack));
    assert!(f.dom.vcpus[0].arch.kernel_mode);
}

#[test]
fn software_interrupts_follow_the_dpl_rule() {
    let mut f = Fixture::new();
    set_trap(&mut f, 0x80, 0x40_1000, 3);
    set_trap(&mut f, 0x81, 0x40_1000, 1);
    set_trap(&mut f, 0x82, 0x40_1000, 0);
    f.regs.rip = 0x40_0100;
    assert!(try_software_interrupt(&mut f.ctx(), 0x82, 2).is_none());
    assert_eq!(f.regs.rip, 0x40_0100);
    assert!(matches!(try_software_interrupt(&mut f.ctx(), 0x81, 2), Some(Ok(()))));
    // The frame's RIP is after the int instruction; no error code.
    let w = words(&f, f.regs.rsp, 7);
    assert_eq!(w[2], 0x40_0102);
    assert!(permit_softint(3, false));
    assert!(!permit_softint(1, false));
    assert!(permit_softint(1, true));
    assert!(!permit_softint(0, true));
}

#[test]
fn iret_to_user_and_back() {
    let mut f = Fixture::new();
    f.dom.vcpus[0].arch.tables.guest_table_user = Some(frames::USER_L4);
    f.platform.gs = 0xaaaa;
    f.dom.vcpus[0].arch.gs_base_user = 0xbbbb;
    let frame = IretContext {
        rax: 42,
        r11: 0x111,
        rcx: 0x222,
        flags: 0,
        rip: 0x40_0500,
        cs: u64::from(FLAT_KERNEL_CS | 3),
        rflags: 0x3202, // IOPL 3 requested: refused
        rsp: 0x40_4000,
        ss: u64::from(FLAT_KERNEL_SS),
    };
    let at = GUEST_BASE + 0x7000;
    f.poke(at, bytemuck::bytes_of(&frame));
    f.regs.rsp = at;
    f.ctx().set_upcall_mask(1);
    assert_eq!(do_iret(&mut f.ctx()), Ok(42));
    assert!(!f.dom.vcpus[0].arch.kernel_mode);
    assert_eq!(f.platform.cr3, Some(frames::USER_L4));
    assert_eq!(f.platform.gs, 0xbbbb);
    assert_eq!(f.dom.vcpus[0].arch.gs_base_kernel, 0xaaaa);
    assert_eq!(f.regs.rip, 0x40_0500);
    assert_eq!(f.regs.rflags & EFLAGS_IOPL, 0);
    assert_ne!(f.regs.rflags & EFLAGS_IF, 0);
    assert_eq!((f.regs.rcx, f.regs.r11), (0x222, 0x111));
    assert_eq!(f.ctx().upcall_mask(), 0, "IF set in the frame unmasks events");
}

#[test]
fn iret_in_syscall_keeps_rcx_r11_and_bad_frames_crash() {
    let mut f = Fixture::new();
    let frame = IretContext {
        rax: 1,
        r11: 0x111,
        rcx: 0x222,
        flags: VGCF_in_syscall,
        rip: 0x40_0500,
        cs: u64::from(FLAT_KERNEL_CS & !3),
        rflags: 0x2, // IF clear: events masked after
        rsp: 0x40_4000,
        ss: u64::from(FLAT_KERNEL_SS),
    };
    let at = GUEST_BASE + 0x7000;
    f.poke(at, bytemuck::bytes_of(&frame));
    f.regs.rsp = at;
    f.regs.rcx = 7;
    f.regs.r11 = 8;
    assert_eq!(do_iret(&mut f.ctx()), Ok(1));
    assert!(f.dom.vcpus[0].arch.kernel_mode);
    assert_eq!((f.regs.rcx, f.regs.r11), (7, 8));
    assert_eq!(f.ctx().upcall_mask(), 1);

    // To user mode without user page tables: crash.
    let mut f = Fixture::new();
    let frame = IretContext { cs: u64::from(FLAT_KERNEL_CS), ..frame };
    f.poke(at, bytemuck::bytes_of(&frame));
    f.regs.rsp = at;
    assert!(do_iret(&mut f.ctx()).is_err());
    assert_eq!(f.dom.shutdown, Some(ShutdownReason::Crash));

    // Unreadable frame: crash.
    let mut f = Fixture::new();
    f.regs.rsp = 0x9000_0000;
    assert!(do_iret(&mut f.ctx()).is_err());
    assert_eq!(f.dom.shutdown, Some(ShutdownReason::Crash));
}

#[test]
fn syscall_from_user_bounces_or_raises_ud() {
    let mut f = Fixture::new();
    set_trap(&mut f, vector::UD, 0x40_2000, 0);
    f.dom.vcpus[0].arch.kernel_mode = false;
    f.dom.vcpus[0].arch.tables.guest_table_user = Some(frames::USER_L4);
    f.dom.vcpus[0].arch.kernel_sp = GUEST_BASE + 0x6000;
    f.regs.rip = 0x40_0102;
    bounce_syscall(&mut f.ctx()).unwrap();
    assert_eq!(f.regs.rip, 0x40_2000, "no callback: #UD");
    let w = words(&f, f.regs.rsp, 7);
    assert_eq!(w[2], 0x40_0100, "#UD points at the syscall instruction");

    let mut f = Fixture::new();
    f.dom.vcpus[0].arch.kernel_mode = false;
    f.dom.vcpus[0].arch.tables.guest_table_user = Some(frames::USER_L4);
    f.dom.vcpus[0].arch.kernel_sp = GUEST_BASE + 0x6000;
    f.dom.vcpus[0].arch.callbacks.syscall = Callback { address: 0x40_3000, mask_events: true };
    f.regs.rflags = 0x202 | EFLAGS_DF;
    bounce_syscall(&mut f.ctx()).unwrap();
    assert_eq!(f.regs.rip, 0x40_3000);
    assert_eq!(f.regs.rflags & EFLAGS_DF, 0);
    assert_eq!(f.ctx().upcall_mask(), 1);
}

#[test]
fn events_are_delivered_only_when_pending_and_unmasked() {
    let mut f = Fixture::new();
    f.dom.vcpus[0].arch.callbacks.event = Callback { address: 0x40_5000, mask_events: false };
    assert_eq!(deliver_pending_events(&mut f.ctx()), Ok(false));
    f.mem.write_bytes(frames::SHARED_INFO, 0, &[1, 1]); // pending, masked
    assert_eq!(deliver_pending_events(&mut f.ctx()), Ok(false));
    f.mem.write_bytes(frames::SHARED_INFO, 1, &[0]);
    assert_eq!(deliver_pending_events(&mut f.ctx()), Ok(true));
    assert_eq!(f.regs.rip, 0x40_5000);
    assert_eq!(f.ctx().upcall_mask(), 1);
}

#[test]
fn failsafe_frame_carries_segments() {
    let mut f = Fixture::new();
    f.regs.ds = 0x11;
    f.regs.es = 0x22;
    f.regs.fs = 0x33;
    f.regs.gs = 0x44;
    let tb = TrapBounce { eip: 0x40_1000, error_code: None, mask_events: false, failsafe: true };
    create_bounce_frame(&mut f.ctx(), &tb).unwrap();
    let w = words(&f, f.regs.rsp, 11);
    assert_eq!(&w[2..6], &[0x11, 0x22, 0x33, 0x44]);
}

#[test]
fn iret_sets_the_virtual_iopl_only_under_architectural_iopl() {
    let mut f = Fixture::new();
    f.dom.vcpus[0].arch.tables.guest_table_user = Some(frames::USER_L4);
    let frame = IretContext {
        rax: 0,
        r11: 0,
        rcx: 0,
        flags: 0,
        rip: 0x40_0500,
        cs: u64::from(FLAT_KERNEL_CS | 3),
        rflags: 0x3202,
        rsp: 0x40_4000,
        ss: u64::from(FLAT_KERNEL_SS),
    };
    let at = GUEST_BASE + 0x7000;
    f.poke(at, bytemuck::bytes_of(&frame));
    f.regs.rsp = at;
    assert_eq!(do_iret(&mut f.ctx()), Ok(0));
    assert_eq!(f.dom.vcpus[0].arch.iopl, 0, "without the assist the frame's IOPL is ignored");

    let mut f = Fixture::new();
    f.dom.vcpus[0].arch.tables.guest_table_user = Some(frames::USER_L4);
    f.dom.vm_assist |= 1 << 4;
    f.poke(at, bytemuck::bytes_of(&frame));
    f.regs.rsp = at;
    assert_eq!(do_iret(&mut f.ctx()), Ok(0));
    assert_eq!(f.dom.vcpus[0].arch.iopl, 3, "architectural IOPL: the frame's IOPL is taken");
    assert_eq!(f.regs.rflags & EFLAGS_IOPL, 0, "the real IOPL stays 0");
    assert!(crate::pv::emulate::io::iopl_ok(&f.ctx()), "user mode at IOPL 3 may do I/O");
    // And back to 0 by the next iret.
    let frame = IretContext { rflags: 0x202, ..frame };
    f.poke(at, bytemuck::bytes_of(&frame));
    f.regs.rsp = at;
    f.dom.vcpus[0].arch.kernel_mode = true;
    assert_eq!(do_iret(&mut f.ctx()), Ok(0));
    assert_eq!(f.dom.vcpus[0].arch.iopl, 0);
}

#[test]
fn guest_debug_registers_reach_the_cpu_and_db_records_dr6() {
    let mut f = Fixture::new();
    let v = &mut f.dom.vcpus[0].arch;
    assert_eq!(hardware_debugregs(v), [0; 5], "nothing armed");
    v.debugreg[0] = 0x40_1000;
    v.debugreg[7] = 0x400 | (1 << 16) | (3 << 18) | 1; // L0, write, 8 bytes
    assert_eq!(hardware_debugregs(v), [0x40_1000, 0, 0, 0, v.debugreg[7]]);
    // An I/O breakpoint (RW 10) on DR1 is emulated: its enable is dropped
    // (as Xen's `value &= ~io_enable`); so is general detect.
    v.debugreg[7] |= (2 << 20) | (1 << 2) | (1 << 13);
    assert_eq!(hardware_debugregs(v)[4], 0x400 | (2 << 20) | (1 << 16) | (3 << 18) | 1);
    v.debugreg[7] = 0x400 | (1 << 16);
    assert_eq!(hardware_debugregs(v)[4], 0, "no enables: DR7 off");

    f.dom.vcpus[0].arch.trap_ctxt[1] =
        TrapInfo { vector: 1, flags: 0, cs: FLAT_KERNEL_CS, pad0: 0, address: 0x40_0800 };
    f.dom.vcpus[0].arch.debugreg[6] = DR6_DEFAULT;
    assert_eq!(debug_trap(&mut f.ctx(), DR6_DEFAULT | 1), Ok(()));
    assert_eq!(f.regs.rip, 0x40_0800, "the guest's #DB handler");
    assert_eq!(f.dom.vcpus[0].arch.debugreg[6], DR6_DEFAULT | 1, "B0 for get_debugreg(6)");
    // Sticky, as in Xen: a second hit on DR2 adds B2.
    assert_eq!(debug_trap(&mut f.ctx(), DR6_DEFAULT | 4), Ok(()));
    assert_eq!(f.dom.vcpus[0].arch.debugreg[6], DR6_DEFAULT | 5);
    // A fresh vCPU (DR6 never written) still reads the always-one bits.
    let mut f = Fixture::new();
    f.dom.vcpus[0].arch.trap_ctxt[1].address = 0x40_0800;
    assert_eq!(debug_trap(&mut f.ctx(), DR6_DEFAULT | 2), Ok(()));
    assert_eq!(f.dom.vcpus[0].arch.debugreg[6], DR6_DEFAULT | 2);
}
