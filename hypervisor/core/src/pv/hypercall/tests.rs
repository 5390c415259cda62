// SPDX-License-Identifier: GPL-2.0-only
//! Hypercall tests over the fixture guest.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use alloc::vec::Vec;

use guest_abi::xen::{Errno, FLAT_KERNEL_CS, MulticallEntry, TrapInfo};

use super::*;
use crate::common::domain::ShutdownReason;
use crate::pv::test_support::{Fixture, GUEST_BASE};

const BUF: u64 = GUEST_BASE + 0x1000;

fn hc(f: &mut Fixture, nr: u64, a: [u64; 5]) -> i64 {
    f.regs.rax = nr;
    f.regs.rdi = a[0];
    f.regs.rsi = a[1];
    f.regs.rdx = a[2];
    f.regs.r10 = a[3];
    f.regs.r8 = a[4];
    do_hypercall(&mut f.ctx());
    f.regs.rax as i64
}

fn err(e: Errno) -> i64 {
    -i64::from(e.raw())
}

#[test]
fn unknown_hypercalls_and_subops_are_enosys() {
    let mut f = Fixture::new();
    for nr in [11, 60, 127, 128, 1 << 32, u64::MAX] {
        assert_eq!(hc(&mut f, nr, [0; 5]), err(Errno::ENOSYS), "hypercall {nr}");
    }
    assert_eq!(hc(&mut f, 17, [99, 0, 0, 0, 0]), err(Errno::ENOSYS));
    assert_eq!(hc(&mut f, 29, [77, 0, 0, 0, 0]), err(Errno::ENOSYS));
}

#[test]
fn xen_version_subops() {
    let mut f = Fixture::new();
    assert_eq!(
        hc(&mut f, 17, [0, 0, 0, 0, 0]),
        i64::from(guest_abi::version::xen_version_number(version::XEN_MAJOR, version::XEN_MINOR))
    );
    f.poke(BUF, &[0xff; 1024]);
    assert_eq!(hc(&mut f, 17, [1, BUF, 0, 0, 0]), 0);
    let extra = f.peek(BUF, 16);
    assert!(extra.starts_with(version::XEN_EXTRAVERSION.as_bytes()));
    assert!(extra[version::XEN_EXTRAVERSION.len()..].iter().all(|&b| b == 0), "NUL padded");
    assert_eq!(f.peek(BUF + 16, 1), [0xff], "nothing past the field");
    assert_eq!(hc(&mut f, 17, [3, BUF, 0, 0, 0]), 0);
    let caps = f.peek(BUF, 1024);
    assert!(caps.starts_with(b"xen-3.0-x86_64\0"));
    assert!(caps[14..].iter().all(|&b| b == 0));
    // get_features: submap 0 has what Linux needs; other submaps are 0.
    f.poke(BUF, &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(hc(&mut f, 17, [6, BUF, 0, 0, 0]), 0);
    let map = u32::from_le_bytes(f.peek(BUF + 4, 4).try_into().unwrap());
    assert_ne!(map & (1 << 5), 0);
    assert_ne!(map & (1 << 7), 0);
    assert_ne!(map & (1 << 11), 0, "dom0");
    f.poke(BUF, &[1, 0, 0, 0]);
    assert_eq!(hc(&mut f, 17, [6, BUF, 0, 0, 0]), 0);
    assert_eq!(f.peek(BUF + 4, 4), [0; 4]);
    assert_eq!(hc(&mut f, 17, [7, 0, 0, 0, 0]), 4096);
    assert_eq!(hc(&mut f, 17, [5, BUF, 0, 0, 0]), 0);
    assert_eq!(f.peek(BUF, 8), 0xffff_8000_0000_0000u64.to_le_bytes());
    assert_eq!(hc(&mut f, 17, [9, BUF, 0, 0, 0]), 0);
    assert!(f.peek(BUF, 13).starts_with(b"console=com1\0"));
    // Bad pointers.
    for bad in [0u64, 0x1000, 0xffff_8000_0000_0000, 0x8000_0000_0000, GUEST_BASE + 16 * 4096 - 8] {
        assert_eq!(hc(&mut f, 17, [1, bad, 0, 0, 0]), err(Errno::EFAULT), "{bad:#x}");
    }
    // Not privileged: no command line.
    f.dom.privileged = false;
    assert_eq!(hc(&mut f, 17, [9, BUF, 0, 0, 0]), err(Errno::EPERM));
}

#[test]
fn console_write_and_read() {
    let mut f = Fixture::new();
    let text: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    f.poke(BUF, &text);
    assert_eq!(hc(&mut f, 18, [0, 300, BUF, 0, 0]), 0);
    assert_eq!(f.platform.console, text);
    assert_eq!(hc(&mut f, 18, [0, 10, 0x10, 0, 0]), err(Errno::EFAULT));
    // A buffer running off the mapped area: the readable part is written first.
    f.platform.console.clear();
    let end = GUEST_BASE + 16 * 4096;
    assert_eq!(hc(&mut f, 18, [0, 200, end - 128, 0, 0]), err(Errno::EFAULT));
    assert_eq!(f.platform.console.len(), 128);
    f.platform.input = b"xyz".to_vec();
    assert_eq!(hc(&mut f, 18, [1, 16, BUF, 0, 0]), 3);
    assert_eq!(f.peek(BUF, 3), b"xyz");
    assert_eq!(hc(&mut f, 18, [5, 16, BUF, 0, 0]), err(Errno::ENOSYS));
    f.dom.privileged = false;
    assert_eq!(hc(&mut f, 18, [1, 16, BUF, 0, 0]), err(Errno::EPERM));
}

#[test]
fn sched_op_shutdown_and_block() {
    let mut f = Fixture::new();
    assert_eq!(hc(&mut f, 29, [0, 0, 0, 0, 0]), 0);
    assert_eq!(hc(&mut f, 29, [1, 0, 0, 0, 0]), 0);
    assert!(f.dom.vcpus[0].blocked);
    f.poke(BUF, &9u32.to_le_bytes());
    assert_eq!(hc(&mut f, 29, [2, BUF, 0, 0, 0]), err(Errno::EINVAL));
    assert_eq!(f.dom.shutdown, None);
    assert_eq!(hc(&mut f, 29, [2, 0x10, 0, 0, 0]), err(Errno::EFAULT));
    f.poke(BUF, &1u32.to_le_bytes());
    assert_eq!(hc(&mut f, 29, [2, BUF, 0, 0, 0]), 0);
    assert_eq!(f.dom.shutdown, Some(ShutdownReason::Reboot));
    let mut f = Fixture::new();
    assert_eq!(hc(&mut f, 6, [2, 3, 0, 0, 0]), 0);
    assert_eq!(f.dom.shutdown, Some(ShutdownReason::Crash));
}

#[test]
fn trap_table_callbacks_and_stack() {
    let mut f = Fixture::new();
    let entries = [
        TrapInfo { vector: 14, flags: 4, cs: FLAT_KERNEL_CS & !3, pad0: 0, address: 0x40_1000 },
        TrapInfo { vector: 0x80, flags: 3, cs: FLAT_KERNEL_CS, pad0: 0, address: 0x40_2000 },
        TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 },
        TrapInfo { vector: 3, flags: 3, cs: FLAT_KERNEL_CS, pad0: 0, address: 0x40_3000 },
    ];
    for (i, e) in entries.iter().enumerate() {
        f.poke(BUF + 16 * i as u64, bytemuck::bytes_of(e));
    }
    assert_eq!(hc(&mut f, 0, [BUF, 0, 0, 0, 0]), 0);
    let v = &f.dom.vcpus[0];
    assert_eq!(v.arch.trap_ctxt[14].address, 0x40_1000);
    assert_eq!(v.arch.trap_ctxt[14].cs & 3, 3);
    assert_eq!(v.arch.trap_ctxt[0x80].address, 0x40_2000);
    assert_eq!(v.arch.trap_ctxt[3].address, 0, "entries after the terminator are ignored");
    assert_eq!(hc(&mut f, 0, [0x10, 0, 0, 0, 0]), err(Errno::EFAULT));
    assert_eq!(hc(&mut f, 0, [0, 0, 0, 0, 0]), 0);
    assert_eq!(f.dom.vcpus[0].arch.trap_ctxt[14].address, 0);

    // callback_op register: event / syscall with mask; bad type; unregister rules.
    let reg = |ty: u16, flags: u16, addr: u64| {
        let mut b = Vec::new();
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&addr.to_le_bytes());
        b
    };
    f.poke(BUF, &reg(2, 1, 0x40_4000));
    assert_eq!(hc(&mut f, 30, [0, BUF, 0, 0, 0]), 0);
    assert_eq!(f.dom.vcpus[0].arch.callbacks.syscall.address, 0x40_4000);
    assert!(f.dom.vcpus[0].arch.callbacks.syscall.mask_events);
    f.poke(BUF, &reg(3, 0, 0x40_4000));
    assert_eq!(hc(&mut f, 30, [0, BUF, 0, 0, 0]), err(Errno::ENOSYS));
    f.poke(BUF, &reg(9, 0, 0x40_4000));
    assert_eq!(hc(&mut f, 30, [0, BUF, 0, 0, 0]), err(Errno::ENOSYS));
    f.poke(BUF, &[0, 0, 0, 0]);
    assert_eq!(
        hc(&mut f, 30, [1, BUF, 0, 0, 0]),
        err(Errno::EINVAL),
        "event cannot be unregistered"
    );
    f.poke(BUF, &[4, 0, 0, 0]);
    assert_eq!(hc(&mut f, 30, [1, BUF, 0, 0, 0]), 0);
    assert_eq!(hc(&mut f, 4, [0x40_1000, 0x40_2000, 0x40_3000, 0, 0]), 0);
    assert_eq!(f.dom.vcpus[0].arch.callbacks.failsafe.address, 0x40_2000);

    assert_eq!(hc(&mut f, 3, [0xe02b, 0x40_8000, 0, 0, 0]), 0);
    assert_eq!(f.dom.vcpus[0].arch.kernel_sp, 0x40_8000);
}

/// Found reviewing the fuzzer's results against Xen: a non-canonical trap handler or
/// callback address was accepted (Xen's `do_set_trap_table` and
/// `register_guest_callback` refuse it with `-EINVAL`); the bounce to it could only
/// fail later, on the way back to the guest.
#[test]
fn non_canonical_handlers_and_callbacks_are_refused() {
    let mut f = Fixture::new();
    let entries = [
        TrapInfo { vector: 6, flags: 0, cs: FLAT_KERNEL_CS, pad0: 0, address: 0x40_1000 },
        TrapInfo { vector: 14, flags: 0, cs: FLAT_KERNEL_CS, pad0: 0, address: 1 << 47 },
        TrapInfo { vector: 13, flags: 0, cs: FLAT_KERNEL_CS, pad0: 0, address: 0x40_3000 },
        TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 },
    ];
    for (i, e) in entries.iter().enumerate() {
        f.poke(BUF + 16 * i as u64, bytemuck::bytes_of(e));
    }
    assert_eq!(hc(&mut f, 0, [BUF, 0, 0, 0, 0]), err(Errno::EINVAL));
    let v = &f.dom.vcpus[0];
    assert_eq!(v.arch.trap_ctxt[6].address, 0x40_1000, "entries before the bad one stay");
    assert_eq!(v.arch.trap_ctxt[14].address, 0);
    assert_eq!(v.arch.trap_ctxt[13].address, 0, "nothing after the bad one is read");

    // set_callbacks registers each on its own and returns 0, as Xen's does.
    let bad = 0x8000_0000_0000_0000;
    assert_eq!(hc(&mut f, 4, [0x40_1000, bad, 0x40_3000, 0, 0]), 0);
    let cb = &f.dom.vcpus[0].arch.callbacks;
    assert_eq!((cb.event.address, cb.failsafe.address), (0x40_1000, 0));
    assert_eq!(cb.syscall.address, 0x40_3000);
    let mut reg = Vec::new();
    reg.extend_from_slice(&0u16.to_le_bytes());
    reg.extend_from_slice(&[0; 6]);
    reg.extend_from_slice(&(1u64 << 47).to_le_bytes());
    f.poke(BUF, &reg);
    assert_eq!(hc(&mut f, 30, [0, BUF, 0, 0, 0]), err(Errno::EINVAL));
    assert_eq!(f.dom.vcpus[0].arch.callbacks.event.address, 0x40_1000);
    // The top half is canonical.
    assert_eq!(hc(&mut f, 4, [0xffff_ffff_8010_0000, 0, 0, 0, 0]), 0);
    assert_eq!(f.dom.vcpus[0].arch.callbacks.event.address, 0xffff_ffff_8010_0000);
}

#[test]
fn segment_bases_fpu_debugregs_vm_assist_iopl() {
    let mut f = Fixture::new();
    assert_eq!(hc(&mut f, 25, [0, 0x1234, 0, 0, 0]), 0);
    assert_eq!(f.platform.fs, 0x1234);
    assert_eq!(hc(&mut f, 25, [0, 0x8000_0000_0000, 0, 0, 0]), err(Errno::EINVAL));
    assert_eq!(hc(&mut f, 25, [2, 0xffff_8880_0000_0000, 0, 0, 0]), 0);
    assert_eq!(f.platform.gs, 0xffff_8880_0000_0000, "kernel GS is live in kernel mode");
    assert_eq!(hc(&mut f, 25, [1, 0x7000, 0, 0, 0]), 0);
    assert_eq!(f.dom.vcpus[0].arch.gs_base_user, 0x7000);
    assert_eq!(f.platform.gs, 0xffff_8880_0000_0000);
    assert_eq!(hc(&mut f, 25, [9, 0, 0, 0, 0]), err(Errno::EINVAL));

    assert_eq!(hc(&mut f, 5, [1, 0, 0, 0, 0]), 0);
    assert!(f.platform.ts && f.dom.vcpus[0].arch.fpu_ts);
    assert_eq!(hc(&mut f, 5, [0, 0, 0, 0, 0]), 0);
    assert!(!f.platform.ts);

    assert_eq!(hc(&mut f, 8, [0, 0x40_0000, 0, 0, 0]), 0);
    assert_eq!(hc(&mut f, 9, [0, 0, 0, 0, 0]), 0x40_0000);
    assert_eq!(hc(&mut f, 8, [1, 0xffff_8000_0000_0000, 0, 0, 0]), err(Errno::EPERM));
    // As Debian's Xen 4.17: upper DR7 bits -EINVAL, DR4 aliases DR6, an
    // unknown register -ENODEV (low 32 bits of the number count).
    assert_eq!(hc(&mut f, 8, [7, 1 << 40, 0, 0, 0]), err(Errno::EINVAL));
    assert_eq!(hc(&mut f, 8, [7, 1 << 13, 0, 0, 0]), err(Errno::EPERM));
    assert_eq!(hc(&mut f, 8, [4, 0, 0, 0, 0]), 0);
    assert_eq!(hc(&mut f, 9, [0x1_0000_0006, 0, 0, 0, 0]), 0xffff_0ff0);
    assert_eq!(hc(&mut f, 9, [5, 0, 0, 0, 0]), 0x400);
    assert_eq!(hc(&mut f, 9, [8, 0, 0, 0, 0]), err(Errno::ENODEV));
    assert_eq!(hc(&mut f, 8, [8, 0, 0, 0, 0]), err(Errno::ENODEV));

    assert_eq!(hc(&mut f, 21, [0, 3, 0, 0, 0]), 0);
    assert!(f.dom.vm_assist_enabled(3));
    assert_eq!(hc(&mut f, 21, [1, 3, 0, 0, 0]), 0);
    assert!(!f.dom.vm_assist_enabled(3));
    assert_eq!(hc(&mut f, 21, [0, 10, 0, 0, 0]), err(Errno::EINVAL));
    assert_eq!(hc(&mut f, 21, [2, 3, 0, 0, 0]), err(Errno::ENOSYS));

    f.poke(BUF, &3u32.to_le_bytes());
    assert_eq!(hc(&mut f, 33, [6, BUF, 0, 0, 0]), 0);
    assert_eq!(f.dom.vcpus[0].arch.iopl, 3);
    f.poke(BUF, &4u32.to_le_bytes());
    assert_eq!(hc(&mut f, 33, [6, BUF, 0, 0, 0]), err(Errno::EINVAL));
    assert_eq!(hc(&mut f, 33, [99, BUF, 0, 0, 0]), err(Errno::ENOSYS));
}

#[test]
fn multicall_runs_entries_and_refuses_nesting() {
    let mut f = Fixture::new();
    let e = |op: u64, args: [u64; 6]| MulticallEntry { op, result: 0xdead, args };
    let list =
        [e(17, [0; 6]), e(13, [BUF, 1, 0, 0, 0, 0]), e(99, [0; 6]), e(17, [7, 0, 0, 0, 0, 0])];
    for (i, m) in list.iter().enumerate() {
        f.poke(BUF + 64 * i as u64, bytemuck::bytes_of(m));
    }
    assert_eq!(hc(&mut f, 13, [BUF, 4, 0, 0, 0]), 0);
    let result = |f: &Fixture, i: u64| {
        u64::from_le_bytes(f.peek(BUF + 64 * i + 8, 8).try_into().unwrap()) as i64
    };
    assert_eq!(
        result(&f, 0),
        i64::from(guest_abi::version::xen_version_number(version::XEN_MAJOR, version::XEN_MINOR))
    );
    assert_eq!(result(&f, 1), err(Errno::EINVAL));
    assert_eq!(result(&f, 2), err(Errno::ENOSYS));
    assert_eq!(result(&f, 3), 4096);
    assert_eq!(hc(&mut f, 13, [0x10, 1, 0, 0, 0]), err(Errno::EFAULT));
    // An iret entry whose frame cannot be read crashes the guest.
    f.poke(BUF, bytemuck::bytes_of(&e(23, [0; 6])));
    f.regs.rsp = 0x10;
    hc(&mut f, 13, [BUF, 1, 0, 0, 0]);
    assert_eq!(f.dom.shutdown, Some(ShutdownReason::Crash));
}

#[test]
fn iret_in_a_multicall_returns_to_the_frame_and_ends_the_batch() {
    let mut f = Fixture::new();
    let e = |op: u64, args: [u64; 6]| MulticallEntry { op, result: 0xdead, args };
    let list = [e(17, [0; 6]), e(23, [0; 6]), e(17, [0; 6])];
    for (i, m) in list.iter().enumerate() {
        f.poke(BUF + 64 * i as u64, bytemuck::bytes_of(m));
    }
    // The iret frame at the guest's RSP when it issues the multicall.
    let frame = guest_abi::xen::IretContext {
        rax: 0x1234_5678_9abc_def0,
        r11: 0x111,
        rcx: 0x222,
        flags: 0,
        rip: GUEST_BASE + 0x500,
        cs: u64::from(FLAT_KERNEL_CS & !3),
        rflags: 0x246,
        rsp: GUEST_BASE + 0x6000,
        ss: u64::from(guest_abi::xen::FLAT_KERNEL_SS),
    };
    let at = GUEST_BASE + 0x7000;
    f.poke(at, bytemuck::bytes_of(&frame));
    f.regs.rsp = at;
    f.ctx().set_upcall_mask(1);
    let rax = hc(&mut f, 13, [BUF, 3, 0, 0, 0]);
    assert_eq!(
        rax as u64, 0xffff_ffff_9abc_def0,
        "the multicall returns the frame's RAX as an int (low 32 bits, sign-extended), as Xen"
    );
    assert!(f.dom.shutdown.is_none(), "the guest is not crashed");
    assert_eq!(f.regs.rip, GUEST_BASE + 0x500);
    assert_eq!(f.regs.rsp, GUEST_BASE + 0x6000);
    assert_eq!((f.regs.cs, f.regs.ss), (FLAT_KERNEL_CS, guest_abi::xen::FLAT_KERNEL_SS));
    assert_eq!((f.regs.rcx, f.regs.r11), (0x222, 0x111));
    assert_eq!(f.ctx().upcall_mask(), 0, "IF in the frame unmasks events");
    assert!(f.dom.vcpus[0].arch.kernel_mode);
    let result = |f: &Fixture, i: u64| {
        u64::from_le_bytes(f.peek(BUF + 64 * i + 8, 8).try_into().unwrap()) as i64
    };
    assert_ne!(result(&f, 0), 0xdead, "the entry before it ran");
    assert_eq!(result(&f, 1), 0x1234_5678_9abc_def0, "the iret's result is stored whole");
    assert_eq!(result(&f, 2), 0xdead, "the entry after it did not run");
}

#[test]
fn grant_table_setup_and_query() {
    let mut f = Fixture::new();
    f.platform.next_frame = Some(crate::mm::Mfn(40));
    // setup_table for 2 frames: dom=SELF, nr=2, frame_list at BUF+0x100.
    let mut s = Vec::new();
    s.extend_from_slice(&0x7ff0u16.to_le_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(&2u32.to_le_bytes());
    s.extend_from_slice(&[0xff; 8]);
    s.extend_from_slice(&(BUF + 0x100).to_le_bytes());
    f.poke(BUF, &s);
    assert_eq!(hc(&mut f, 20, [2, BUF, 1, 0, 0]), 0);
    assert_eq!(f.peek(BUF + 8, 2), [0, 0], "GNTST_okay");
    assert_eq!(f.peek(BUF + 0x100, 16), [40u64.to_le_bytes(), 41u64.to_le_bytes()].concat());
    assert_eq!(f.frames.owner(crate::mm::Mfn(40)), Some(f.dom.id));
    // Too many frames: general error, nothing allocated.
    s[4..8].copy_from_slice(&1000u32.to_le_bytes());
    f.poke(BUF, &s);
    assert_eq!(hc(&mut f, 20, [2, BUF, 1, 0, 0]), 0);
    assert_eq!(f.peek(BUF + 8, 2), (-1i16).to_le_bytes());
    // query_size.
    let mut q = Vec::new();
    q.extend_from_slice(&0x7ff0u16.to_le_bytes());
    q.extend_from_slice(&[0; 14]);
    f.poke(BUF, &q);
    assert_eq!(hc(&mut f, 20, [6, BUF, 1, 0, 0]), 0);
    assert_eq!(f.peek(BUF + 4, 8), [2u32.to_le_bytes(), 32u32.to_le_bytes()].concat());
    // set_version with the query's bytes: version 0x7ff0 is neither 1 nor 2.
    assert_eq!(hc(&mut f, 20, [8, BUF, 1, 0, 0]), err(Errno::EINVAL));
    assert_eq!(hc(&mut f, 20, [2, BUF, 100_000, 0, 0]), err(Errno::EINVAL));
}

#[test]
fn foreign_domains_and_descriptor_dpl() {
    let mut f = Fixture::new();
    assert_eq!(hc(&mut f, 1, [BUF, 0, 0, 5, 0]), err(Errno::ESRCH));
    assert_eq!(hc(&mut f, 26, [BUF, 0, 0, 5, 0]), err(Errno::ESRCH));
    // DOMID_IO exists (Xen's dom_io): an empty batch for it is fine.
    assert_eq!(hc(&mut f, 1, [BUF, 0, 0, 0x7ff1, 0]), 0);
    assert_eq!(hc(&mut f, 1, [BUF, 0, 0, 0x7ff0, 0]), 0);
    assert_eq!(mm::fixup_descriptor_dpl(0x00cf_9300_0000_ffff), 0x00cf_f300_0000_ffff);
    assert_eq!(mm::fixup_descriptor_dpl(0x00af_9b00_0000_ffff), 0x00af_fb00_0000_ffff);
    assert_eq!(
        mm::fixup_descriptor_dpl(0x00cf_1300_0000_ffff),
        0x00cf_1300_0000_ffff,
        "not present"
    );
}

/// A `gnttab_setup_table` for `dom`, `nr` frames, list at `BUF + 0x100`.
fn setup_table_arg(dom: u16, nr: u32) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&dom.to_le_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(&nr.to_le_bytes());
    s.extend_from_slice(&[0xff; 8]);
    s.extend_from_slice(&(BUF + 0x100).to_le_bytes());
    s
}

#[test]
fn grant_tables_of_other_domains() {
    use crate::common::domain::Domain;
    use crate::mm::Mfn;
    use guest_abi::xen::DomId;
    let mut f = Fixture::new();
    f.platform.next_frame = Some(Mfn(40));
    let du = f.domains.insert(Domain::new(DomId(4), false, Mfn(47))).unwrap();
    // The privileged domain seeds d4's table: d4 owns the frames.
    f.poke(BUF, &setup_table_arg(4, 1));
    assert_eq!(hc(&mut f, 20, [2, BUF, 1, 0, 0]), 0);
    assert_eq!(f.peek(BUF + 8, 2), [0, 0], "GNTST_okay");
    assert_eq!(f.peek(BUF + 0x100, 8), 40u64.to_le_bytes());
    assert_eq!(f.frames.owner(Mfn(40)), Some(DomId(4)));
    assert_eq!(du.lock().grant_frames, [Mfn(40)]);
    assert!(f.dom.grant_frames.is_empty());
    // No such domain: GNTST_bad_domain (-2), for anyone.
    f.poke(BUF, &setup_table_arg(9, 1));
    assert_eq!(hc(&mut f, 20, [2, BUF, 1, 0, 0]), 0);
    assert_eq!(f.peek(BUF + 8, 2), (-2i16).to_le_bytes());
    // An unprivileged caller: GNTST_permission_denied (-8), nothing done;
    // query_size likewise.
    f.dom.privileged = false;
    f.poke(BUF, &setup_table_arg(4, 2));
    assert_eq!(hc(&mut f, 20, [2, BUF, 1, 0, 0]), 0);
    assert_eq!(f.peek(BUF + 8, 2), (-8i16).to_le_bytes());
    assert_eq!(du.lock().grant_frames.len(), 1);
    let mut q = Vec::new();
    q.extend_from_slice(&4u16.to_le_bytes());
    q.extend_from_slice(&[0; 14]);
    f.poke(BUF, &q);
    assert_eq!(hc(&mut f, 20, [6, BUF, 1, 0, 0]), 0);
    assert_eq!(f.peek(BUF + 12, 2), (-8i16).to_le_bytes());
}

#[test]
fn console_reads_and_the_command_line_are_the_privileged_domains() {
    let mut f = Fixture::new();
    f.platform.input = b"x".to_vec();
    assert_eq!(hc(&mut f, 18, [1, 1, BUF, 0, 0]), 1, "CONSOLEIO_read");
    assert_eq!(hc(&mut f, 17, [9, BUF, 0, 0, 0]), 0, "XENVER_commandline");
    f.dom.privileged = false;
    assert_eq!(hc(&mut f, 18, [1, 1, BUF, 0, 0]), err(Errno::EPERM));
    assert_eq!(hc(&mut f, 17, [9, BUF, 0, 0, 0]), err(Errno::EPERM));
    assert_eq!(hc(&mut f, 17, [10, 0, 0, 0, 0]), err(Errno::EPERM), "XENVER_build_id");
    assert!(hc(&mut f, 17, [0, 0, 0, 0, 0]) > 0, "XENVER_version is anyone's");
    f.poke(BUF, b"hi");
    assert_eq!(hc(&mut f, 18, [0, 2, BUF, 0, 0]), 0, "CONSOLEIO_write is anyone's");
    // XENVER_guest_handle reports the toolstack's handle.
    f.dom.handle = [7; 16];
    assert_eq!(hc(&mut f, 17, [8, BUF, 0, 0, 0]), 0);
    assert_eq!(f.peek(BUF, 16), [7; 16]);
}

/// Foreign page owners through `mmu_update`/`mmuext_op` (Xen 4.17's
/// `foreigndom`): the fixture's dom0 has an L1 table at `F_L1`, domain 4
/// owns `DU_FRAMES`.
mod foreign {
    use guest_abi::xen::{DomId, MmuUpdate, MmuextCmd, MmuextOp};

    use super::*;
    use crate::common::domain::{Domain, Dying};
    use crate::common::domain_table::DomainRef;
    use crate::mm::Mfn;
    use crate::mm::pv::types::{PAGE_PRESENT, PAGE_RW, PAGE_USER, pte_from_mfn};
    use crate::mm::pv::{M2p, MmuOwners, PhysMem, VcpuTables, audit};

    const DOM0: DomId = DomId(0);
    const DU: DomId = DomId(4);
    /// dom0's L1 table (pinned).
    const F_L1: Mfn = Mfn(33);
    /// Domain 4's frames; `DU_L1` is pinned as its L1 table.
    const DU_FRAMES: [Mfn; 4] = [Mfn(40), Mfn(41), Mfn(42), Mfn(43)];
    const DU_L1: Mfn = Mfn(43);
    const PDONE: u64 = BUF + 0x800;
    const RO: u64 = PAGE_PRESENT | PAGE_USER;
    const RW: u64 = RO | PAGE_RW;

    fn setup() -> (Fixture, DomainRef) {
        let mut f = Fixture::new();
        f.frames.assign(F_L1, DOM0).unwrap();
        for m in DU_FRAMES {
            f.frames.assign(m, DU).unwrap();
        }
        let du = f.domains.insert(Domain::new(DU, false, Mfn(47))).unwrap();
        let pin = |f: &mut Fixture, dom, mfn: Mfn| {
            let op = MmuextOp::new(MmuextCmd::PinL1Table, mfn.0, 0);
            let (mut t, mut e) = (VcpuTables::default(), Vec::new());
            let owners = MmuOwners::local(dom);
            assert_eq!(f.ctx().mm().do_mmuext_op_as(owners, &[op], &mut t, &mut e).1, Ok(()));
        };
        pin(&mut f, DOM0, F_L1);
        pin(&mut f, DU, DU_L1);
        (f, du)
    }

    fn reqs(f: &mut Fixture, reqs: &[(Mfn, u64, u64)]) {
        for (i, &(table, index, val)) in reqs.iter().enumerate() {
            let r = MmuUpdate { ptr: (table.0 << 12) | (index * 8), val };
            f.poke(BUF + 16 * i as u64, bytemuck::bytes_of(&r));
        }
        f.poke(PDONE, &[0xff; 4]);
    }

    fn ops(f: &mut Fixture, ops: &[MmuextOp]) {
        for (i, o) in ops.iter().enumerate() {
            f.poke(BUF + 24 * i as u64, bytemuck::bytes_of(o));
        }
        f.poke(PDONE, &[0xff; 4]);
    }

    fn done(f: &Fixture) -> u32 {
        u32::from_le_bytes(f.peek(PDONE, 4).try_into().unwrap())
    }

    fn mmu(f: &mut Fixture, count: u64, foreigndom: u64) -> i64 {
        hc(f, 1, [BUF, count, PDONE, foreigndom, 0])
    }

    fn ext(f: &mut Fixture, count: u64, foreigndom: u64) -> i64 {
        hc(f, 26, [BUF, count, PDONE, foreigndom, 0])
    }

    fn counts(f: &Fixture, mfn: Mfn) -> (u32, u32) {
        let i = f.frames.info(mfn).unwrap();
        (i.count, i.type_info.count)
    }

    fn audited(f: &Fixture) {
        audit(&f.frames, &f.mem, &[]).unwrap();
    }

    #[test]
    fn dom0_maps_a_domus_frames_and_unmaps_them() {
        let (mut f, _du) = setup();
        let [a, b, ..] = DU_FRAMES;
        reqs(&mut f, &[(F_L1, 0, pte_from_mfn(a, RW)), (F_L1, 1, pte_from_mfn(b, RO))]);
        assert_eq!(mmu(&mut f, 2, 4), 0);
        assert_eq!(done(&f), 2);
        assert_eq!((counts(&f, a), counts(&f, b)), ((2, 1), (2, 0)));
        audited(&f);
        // DOMID_SELF cannot map them (could_not_pin).
        reqs(&mut f, &[(F_L1, 2, pte_from_mfn(a, RO))]);
        assert_eq!(mmu(&mut f, 1, 0x7ff0), err(Errno::EBUSY));
        assert_eq!(done(&f), 0);
        // Clearing drops the references on the domU's frames.
        reqs(&mut f, &[(F_L1, 0, 0), (F_L1, 1, 0)]);
        assert_eq!(mmu(&mut f, 2, 0x7ff0), 0);
        assert_eq!((counts(&f, a), counts(&f, b)), ((1, 0), (1, 0)));
        audited(&f);
        // Upper bits: page tables of domain 4 (id + 1), its own frames.
        reqs(&mut f, &[(DU_L1, 0, pte_from_mfn(b, RW))]);
        assert_eq!(mmu(&mut f, 1, (5 << 16) | 4), 0);
        assert_eq!(counts(&f, b), (2, 1));
        // ...but only its own tables.
        reqs(&mut f, &[(F_L1, 0, pte_from_mfn(b, RO))]);
        assert_eq!(mmu(&mut f, 1, (5 << 16) | 4), err(Errno::EINVAL));
        // M2P updates only on the caller's own tables.
        let mp = MmuUpdate { ptr: (a.0 << 12) | 1, val: 0x99 };
        f.poke(BUF, bytemuck::bytes_of(&mp));
        assert_eq!(mmu(&mut f, 1, (5 << 16) | 4), err(Errno::EPERM));
        assert_eq!(mmu(&mut f, 1, 0x7ff0), err(Errno::EINVAL), "not dom0's frame");
        assert_eq!(mmu(&mut f, 1, 4), 0);
        assert_eq!(f.m2p.get_gpfn_from_mfn(a), 0x99);
        audited(&f);
    }

    #[test]
    fn unknown_and_own_ids_are_esrch() {
        let (mut f, du) = setup();
        reqs(&mut f, &[(F_L1, 0, pte_from_mfn(DU_FRAMES[0], RO))]);
        for dom in [9, 0, 0x7ff3, 0x7ff4, 0xffff] {
            assert_eq!(mmu(&mut f, 1, dom), err(Errno::ESRCH), "{dom:#x}");
            assert_eq!(done(&f), 0, "mmu_update reports its progress");
            assert_eq!(ext(&mut f, 1, dom), err(Errno::ESRCH), "{dom:#x}");
        }
        // The page-table owner: unknown, DOMID_SELF is not translated, and
        // a domain without vCPU 0.
        for pt in [10u64, 0x7ff1] {
            assert_eq!(mmu(&mut f, 1, pt << 16 | 0x7ff0), err(Errno::ESRCH), "{pt:#x}");
        }
        assert_eq!(mmu(&mut f, 0, 1 << 16 | 0x7ff0), 0, "pt_dom 1 is the caller");
        du.lock().vcpus.clear();
        assert_eq!(mmu(&mut f, 1, 5 << 16 | 0x7ff0), err(Errno::EINVAL));
        assert_eq!(counts(&f, DU_FRAMES[0]), (1, 0));
    }

    #[test]
    fn an_unprivileged_caller_cannot_name_another_domain() {
        let (mut f, _du) = setup();
        f.dom.privileged = false;
        reqs(&mut f, &[(F_L1, 0, pte_from_mfn(DU_FRAMES[0], RO))]);
        assert_eq!(mmu(&mut f, 1, 4), err(Errno::EPERM));
        assert_eq!(done(&f), 0);
        assert_eq!(counts(&f, DU_FRAMES[0]), (1, 0));
        // Nor edit its page tables through the upper bits.
        reqs(&mut f, &[(DU_L1, 0, 0)]);
        assert_eq!(mmu(&mut f, 1, 5 << 16 | 0x7ff0), err(Errno::EPERM));
        // Xen checks mmu_update lazily, per request; mmuext_op up front.
        assert_eq!(mmu(&mut f, 0, 4), 0);
        ops(&mut f, &[MmuextOp::new(MmuextCmd::UnpinTable, DU_L1.0, 0)]);
        assert_eq!(ext(&mut f, 0, 4), err(Errno::EPERM));
        assert_eq!(ext(&mut f, 1, 4), err(Errno::EPERM));
        assert!(f.frames.info(DU_L1).unwrap().type_info.pinned);
        // Its own id through DOMID_SELF is fine.
        assert_eq!(mmu(&mut f, 0, 0x7ff0), 0);
        assert_eq!(ext(&mut f, 0, 0x7ff0), 0);
    }

    #[test]
    fn domid_io_and_domid_xen() {
        let (mut f, _du) = setup();
        let own = Mfn(34);
        f.frames.assign(own, DOM0).unwrap();
        // DOMID_IO: RAM is not dom_io's (the I/O path is the MMU's test).
        reqs(&mut f, &[(F_L1, 0, pte_from_mfn(own, RO))]);
        assert_eq!(mmu(&mut f, 1, 0x7ff1), err(Errno::EBUSY));
        // DOMID_XEN owns nothing that could be mapped or given an M2P entry.
        assert_eq!(mmu(&mut f, 1, 0x7ff2), err(Errno::EBUSY));
        let mp = MmuUpdate { ptr: (own.0 << 12) | 1, val: 1 };
        f.poke(BUF + 16, bytemuck::bytes_of(&mp));
        assert_eq!(hc(&mut f, 1, [BUF + 16, 1, PDONE, 0x7ff2, 0]), err(Errno::EINVAL));
        // No page-table operations on their frames.
        ops(&mut f, &[MmuextOp::new(MmuextCmd::PinL1Table, own.0, 0)]);
        assert_eq!(ext(&mut f, 1, 0x7ff1), err(Errno::EINVAL));
        assert_eq!(ext(&mut f, 1, 0x7ff2), err(Errno::EINVAL));
        // Unprivileged: DOMID_IO passes access control in mmu_update (the
        // I/O permissions decide), DOMID_XEN does not; mmuext_op refuses
        // both.
        f.dom.privileged = false;
        reqs(&mut f, &[(F_L1, 0, pte_from_mfn(own, RO))]);
        assert_eq!(mmu(&mut f, 1, 0x7ff1), err(Errno::EBUSY));
        assert_eq!(mmu(&mut f, 1, 0x7ff2), err(Errno::EPERM));
        assert_eq!(ext(&mut f, 0, 0x7ff1), err(Errno::EPERM));
        assert_eq!(ext(&mut f, 0, 0x7ff2), err(Errno::EPERM));
        audited(&f);
    }

    #[test]
    fn a_dying_domain_gets_no_new_mappings() {
        let (mut f, du) = setup();
        let [a, b, ..] = DU_FRAMES;
        reqs(&mut f, &[(F_L1, 0, pte_from_mfn(a, RW))]);
        assert_eq!(mmu(&mut f, 1, 4), 0);
        du.lock().dying = Dying::Dying;
        reqs(&mut f, &[(F_L1, 1, pte_from_mfn(b, RO))]);
        assert_eq!(mmu(&mut f, 1, 4), err(Errno::EINVAL));
        assert_eq!(done(&f), 0);
        assert_eq!(counts(&f, b), (1, 0));
        // Taking the old mappings down still works.
        reqs(&mut f, &[(F_L1, 0, 0)]);
        assert_eq!(mmu(&mut f, 1, 4), 0);
        assert_eq!(counts(&f, a), (1, 0));
        audited(&f);
    }

    #[test]
    fn the_builder_pins_and_unpins_a_domus_table() {
        let (mut f, _du) = setup();
        let table = DU_FRAMES[2];
        f.mem.write_u64(table, 0, pte_from_mfn(DU_FRAMES[1], RW));
        ops(&mut f, &[MmuextOp::new(MmuextCmd::PinL1Table, table.0, 0)]);
        assert_eq!(ext(&mut f, 1, 4), 0);
        assert_eq!(done(&f), 1);
        assert!(f.frames.info(table).unwrap().type_info.pinned);
        assert_eq!(counts(&f, DU_FRAMES[1]), (2, 1));
        audited(&f);
        // Operations on the caller's vCPU are its own only.
        ops(&mut f, &[MmuextOp::new(MmuextCmd::NewBaseptr, table.0, 0)]);
        assert_eq!(ext(&mut f, 1, 4), err(Errno::EPERM));
        assert_eq!(
            f.dom.vcpus[0].arch.tables.guest_table,
            Some(crate::pv::test_support::frames::L4)
        );
        ops(&mut f, &[MmuextOp::new(MmuextCmd::UnpinTable, table.0, 0)]);
        assert_eq!(ext(&mut f, 1, 0x7ff0), err(Errno::EINVAL), "not dom0's frame");
        assert_eq!(ext(&mut f, 1, 4), 0);
        assert_eq!(counts(&f, DU_FRAMES[1]), (1, 0));
        audited(&f);
    }
}

#[test]
fn remote_shutdown_and_dom_exc() {
    use crate::common::domain::Domain;
    use crate::common::event_channel::{ops, two_level};
    use crate::mm::Mfn;
    use guest_abi::event_channel::EvtchnBindVirq;
    use guest_abi::xen::{DomId, VcpuId, Virq};
    let mut f = Fixture::new();
    let mut b =
        EvtchnBindVirq { virq: Virq::DomExc.raw(), vcpu: VcpuId(0), port: Default::default() };
    ops::bind_virq(&mut f.dom, &mut b).unwrap();
    let du = f.domains.insert(Domain::new(DomId(5), false, Mfn(47))).unwrap();
    let arg = |dom: u16, reason: u32| {
        let mut v = Vec::new();
        v.extend_from_slice(&dom.to_le_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&reason.to_le_bytes());
        v
    };
    // SCHEDOP_remote_shutdown = 4 (sched_op is hypercall 29).
    f.poke(BUF, &arg(5, 9));
    assert_eq!(hc(&mut f, 29, [4, BUF, 0, 0, 0]), err(Errno::EINVAL), "no such reason");
    f.poke(BUF, &arg(0x7ff0, 1));
    assert_eq!(hc(&mut f, 29, [4, BUF, 0, 0, 0]), err(Errno::ESRCH), "DOMID_SELF names no domain");
    f.poke(BUF, &arg(9, 1));
    assert_eq!(hc(&mut f, 29, [4, BUF, 0, 0, 0]), err(Errno::ESRCH));
    assert!(!two_level::is_pending(&f.mem, f.dom.shared_info, b.port));
    f.poke(BUF, &arg(5, 1));
    assert_eq!(hc(&mut f, 29, [4, BUF, 0, 0, 0]), 0);
    assert_eq!(du.lock().shutdown, Some(ShutdownReason::Reboot));
    assert!(two_level::is_pending(&f.mem, f.dom.shared_info, b.port), "VIRQ_DOM_EXC for dom0");
    // A second shutdown keeps the first reason.
    f.poke(BUF, &arg(5, 0));
    assert_eq!(hc(&mut f, 29, [4, BUF, 0, 0, 0]), 0);
    assert_eq!(du.lock().shutdown, Some(ShutdownReason::Reboot));
    // Unprivileged: refused.
    f.dom.privileged = false;
    let d6 = f.domains.insert(Domain::new(DomId(6), false, Mfn(46))).unwrap();
    f.poke(BUF, &arg(6, 0));
    assert_eq!(hc(&mut f, 29, [4, BUF, 0, 0, 0]), err(Errno::EPERM));
    assert_eq!(d6.lock().shutdown, None);
}

#[test]
fn alloc_unbound_in_another_domain() {
    use crate::common::domain::Domain;
    use crate::common::event_channel::ChannelState;
    use crate::mm::Mfn;
    use guest_abi::xen::{DomId, EvtchnPort};
    let mut f = Fixture::new();
    let du = f.domains.insert(Domain::new(DomId(3), false, Mfn(47))).unwrap();
    // evtchn_alloc_unbound_t: dom, remote_dom, port (hypercall 32, cmd 6).
    let arg = |dom: u16, remote: u16| {
        let mut v = Vec::new();
        v.extend_from_slice(&dom.to_le_bytes());
        v.extend_from_slice(&remote.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v
    };
    // dom0 makes a port in d3 for itself (DOMID_SELF as remote).
    f.poke(BUF, &arg(3, 0x7ff0));
    assert_eq!(hc(&mut f, 32, [6, BUF, 0, 0, 0]), 0);
    let port = EvtchnPort(u32::from_le_bytes(f.peek(BUF + 4, 4).try_into().unwrap()));
    let state = du.lock().evtchn.get(port).map(|c| c.state);
    assert_eq!(state, Some(ChannelState::Unbound { remote_domid: DomId(0) }));
    assert!(f.dom.evtchn.get(port).is_none_or(|c| c.state != state.unwrap()));
    // A remote that does not exist (yet): allowed, as Xen's dummy policy
    // does (a toolstack allocates for a domain it builds next).
    f.poke(BUF, &arg(3, 9));
    assert_eq!(hc(&mut f, 32, [6, BUF, 0, 0, 0]), 0);
    let port = EvtchnPort(u32::from_le_bytes(f.peek(BUF + 4, 4).try_into().unwrap()));
    let state = du.lock().evtchn.get(port).map(|c| c.state);
    assert_eq!(state, Some(ChannelState::Unbound { remote_domid: DomId(9) }));
    // A target that does not exist.
    f.poke(BUF, &arg(9, 0));
    assert_eq!(hc(&mut f, 32, [6, BUF, 0, 0, 0]), err(Errno::ESRCH));
    // An unprivileged caller may not.
    f.dom.privileged = false;
    f.poke(BUF, &arg(3, 0));
    assert_eq!(hc(&mut f, 32, [6, BUF, 0, 0, 0]), err(Errno::EPERM));
}
