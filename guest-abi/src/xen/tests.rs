// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of the `xen` module: numbers, byte layouts, round-trips.

use super::*;
use crate::AbiBytes;
use crate::unions::ConsoleDomU;

#[test]
fn hypercall_numbers_round_trip() {
    assert_eq!(Hypercall::ALL.len(), 50);
    for &call in Hypercall::ALL {
        assert_eq!(Hypercall::try_from(call.raw()), Ok(call));
        assert_eq!(u32::from(call), call.raw());
    }
    let spot = [
        (0, Hypercall::SetTrapTable),
        (1, Hypercall::MmuUpdate),
        (4, Hypercall::SetCallbacks),
        (12, Hypercall::MemoryOp),
        (14, Hypercall::UpdateVaMapping),
        (17, Hypercall::XenVersion),
        (18, Hypercall::ConsoleIo),
        (20, Hypercall::GrantTableOp),
        (23, Hypercall::Iret),
        (26, Hypercall::MmuextOp),
        (29, Hypercall::SchedOp),
        (30, Hypercall::CallbackOp),
        (32, Hypercall::EventChannelOp),
        (33, Hypercall::PhysdevOp),
        (35, Hypercall::Sysctl),
        (36, Hypercall::Domctl),
        (42, Hypercall::HypfsOp),
        (48, Hypercall::Mca),
        (55, Hypercall::Arch7),
    ];
    for (number, call) in spot {
        assert_eq!(Hypercall::try_from(number), Ok(call));
    }
    for missing in [11, 43, 44, 45, 46, 47, 56, 128, u32::MAX] {
        assert_eq!(Hypercall::try_from(missing), Err(crate::Unknown(missing)));
    }
    assert_eq!(Hypercall::SetTrapTable.xen_name(), "__HYPERVISOR_set_trap_table");
}

#[test]
fn errno_values() {
    let expected = [
        (Errno::EPERM, 1),
        (Errno::ENOENT, 2),
        (Errno::ESRCH, 3),
        (Errno::EINTR, 4),
        (Errno::EIO, 5),
        (Errno::ENXIO, 6),
        (Errno::E2BIG, 7),
        (Errno::ENOEXEC, 8),
        (Errno::EBADF, 9),
        (Errno::ECHILD, 10),
        (Errno::EAGAIN, 11),
        (Errno::ENOMEM, 12),
        (Errno::EACCES, 13),
        (Errno::EFAULT, 14),
        (Errno::EBUSY, 16),
        (Errno::EEXIST, 17),
        (Errno::EXDEV, 18),
        (Errno::ENODEV, 19),
        (Errno::EISDIR, 21),
        (Errno::EINVAL, 22),
        (Errno::ENFILE, 23),
        (Errno::EMFILE, 24),
        (Errno::ENOSPC, 28),
        (Errno::EROFS, 30),
        (Errno::EMLINK, 31),
        (Errno::EDOM, 33),
        (Errno::ERANGE, 34),
        (Errno::EDEADLK, 35),
        (Errno::ENAMETOOLONG, 36),
        (Errno::ENOLCK, 37),
        (Errno::ENOSYS, 38),
        (Errno::ENOTEMPTY, 39),
        (Errno::ENODATA, 61),
        (Errno::ETIME, 62),
        (Errno::EBADMSG, 74),
        (Errno::EOVERFLOW, 75),
        (Errno::EILSEQ, 84),
        (Errno::ERESTART, 85),
        (Errno::ENOTSOCK, 88),
        (Errno::EOPNOTSUPP, 95),
        (Errno::EADDRINUSE, 98),
        (Errno::EADDRNOTAVAIL, 99),
        (Errno::ENOBUFS, 105),
        (Errno::EISCONN, 106),
        (Errno::ENOTCONN, 107),
        (Errno::ETIMEDOUT, 110),
    ];
    assert_eq!(Errno::ALL.len(), expected.len());
    for (errno, number) in expected {
        assert_eq!(errno.raw(), number);
        assert_eq!(Errno::try_from(number), Ok(errno));
        assert_eq!(errno.as_neg_i64(), -i64::from(number));
        assert_eq!(Errno::from_neg_i64(-i64::from(number)), Some(errno));
    }
    assert_eq!(Errno::EWOULDBLOCK, Errno::EAGAIN);
    assert_eq!(Errno::EDEADLOCK, Errno::EDEADLK);
    assert_eq!(Errno::try_from(15), Err(crate::Unknown(15)));
    assert_eq!(Errno::from_neg_i64(0), None);
    assert_eq!(Errno::from_neg_i64(22), None);
    assert_eq!(Errno::from_neg_i64(i64::MIN), None);
    assert_eq!(Errno::ENOSYS.as_neg_i64().cast_unsigned(), 0xFFFF_FFFF_FFFF_FFDA);
    assert!(Errno::ERESTART.is_internal() && !Errno::EINVAL.is_internal());
    assert_eq!(format!("{}", Errno::EFAULT), "EFAULT");
}

#[test]
fn small_enums() {
    for &virq in Virq::ALL {
        assert_eq!(Virq::try_from(virq.raw()), Ok(virq));
        assert!(virq.raw() < NR_VIRQS);
    }
    assert_eq!(Virq::try_from(5), Err(crate::Unknown(5)));
    assert_eq!(Virq::Timer.kind(), VirqKind::PerVcpu);
    assert_eq!(Virq::Argo.kind(), VirqKind::PerDomain);
    assert_eq!(Virq::Console.kind(), VirqKind::Global);
    for &cmd in MmuextCmd::ALL {
        assert_eq!(MmuextCmd::try_from(cmd.raw()), Ok(cmd));
    }
    assert_eq!(MmuextCmd::try_from(14), Err(crate::Unknown(14)));
    assert_eq!(MmuextCmd::NewUserBaseptr.raw(), 15);
    assert_eq!(MmuextCmd::UnmarkSuper.raw(), 20);
    for &cmd in MmuUpdateCmd::ALL {
        assert_eq!(MmuUpdateCmd::try_from(cmd.raw()), Ok(cmd));
    }
    for &cmd in ConsoleIoCmd::ALL {
        assert_eq!(ConsoleIoCmd::try_from(cmd.raw()), Ok(cmd));
    }
    for &cmd in VmAssistCmd::ALL {
        assert_eq!(VmAssistCmd::try_from(cmd.raw()), Ok(cmd));
    }
    for &ty in VmAssistType::ALL {
        assert_eq!(VmAssistType::try_from(ty.raw()), Ok(ty));
    }
    assert_eq!(VmAssistType::M2pStrict.mask(), 1 << 32);
    for &which in SegBase::ALL {
        assert_eq!(SegBase::try_from(which.raw()), Ok(which));
    }
}

#[test]
fn constants() {
    assert_eq!(DOMID_SELF.0, 0x7FF0);
    assert_eq!(DOMID_IDLE.0, 0x7FFF);
    assert!(DOMID_IO.is_reserved() && !DomId(0).is_reserved());
    assert_eq!(MACH2PHYS_NR_ENTRIES, 0x40_0000_0000 / 8);
    assert_eq!(FIRST_RESERVED_GDT_ENTRY, 7168);
    assert_eq!(FLAT_KERNEL_CS, 0xe033);
    assert_eq!(FLAT_KERNEL_SS, 0xe02b);
    assert_eq!(FLAT_KERNEL_DS, 0);
    assert_eq!(VGCF_in_syscall, 0x100);
    assert_eq!(SIF_PM_MASK, 0xff00);
    assert_eq!(UVMF_ALL | UVMF_INVLPG, 6);
    assert_eq!(xen_cr3_to_pfn(xen_pfn_to_cr3(0x1234)), 0x1234);
    assert_eq!(NR_HYPERCALL_STUBS, 128);
}

#[test]
fn mmu_update_and_mmuext_accessors() {
    let req = MmuUpdate { ptr: 0x1234_5000 | 2, val: 7 };
    assert_eq!(req.cmd(), MmuUpdateCmd::PtUpdatePreserveAd);
    assert_eq!(req.address(), 0x1234_5000);
    let op = MmuextOp::new(MmuextCmd::SetLdt, 0xffff_8880_0000_0000, 0xdead_0000_0000_0010);
    assert_eq!(op.linear_addr(), 0xffff_8880_0000_0000);
    assert_eq!(op.nr_ents(), 0x10);
    let bytes = op.as_bytes();
    assert_eq!(bytes.get(..4), Some(&13u32.to_le_bytes()[..]));
    assert_eq!(bytes.get(16..20), Some(&0x10u32.to_le_bytes()[..]));
    assert_eq!(MmuextOp::from_bytes(bytes), Some(op));
}

#[test]
fn start_info_round_trip_and_layout() {
    let mut si = StartInfo {
        nr_pages: 0x4_0000,
        shared_info: 0xabc_d000,
        flags: SIF_PRIVILEGED | SIF_INITDOMAIN,
        store_evtchn: EvtchnPort(1),
        console: StartInfoConsole::from_domu(ConsoleDomU::new(Mfn(0x55), EvtchnPort(2))),
        nr_p2m_frames: 9,
        ..Default::default()
    };
    si.set_magic(START_INFO_MAGIC_X86_64);
    si.set_cmd_line(b"console=hvc0 earlyprintk=xen");

    let bytes = si.as_bytes();
    assert_eq!(bytes.len(), 1168);
    assert_eq!(bytes.get(..14), Some(START_INFO_MAGIC_X86_64));
    assert_eq!(bytes.get(40..48), Some(&0xabc_d000u64.to_le_bytes()[..]));
    assert_eq!(bytes.get(48..52), Some(&3u32.to_le_bytes()[..]));
    assert_eq!(bytes.get(72..80), Some(&0x55u64.to_le_bytes()[..]));
    assert_eq!(bytes.get(80..84), Some(&2u32.to_le_bytes()[..]));
    assert_eq!(bytes.get(128..140), Some(&b"console=hvc0"[..]));
    assert_eq!(bytes.get(1160..1168), Some(&9u64.to_le_bytes()[..]));

    let back = StartInfo::from_bytes(bytes).expect("exact size");
    assert_eq!(back, si);
    assert_eq!(back.magic_bytes(), START_INFO_MAGIC_X86_64);
    assert_eq!(back.cmd_line_bytes(), b"console=hvc0 earlyprintk=xen");
    assert_eq!(StartInfo::from_bytes(bytes.get(1..).expect("len")), None);

    let mut long = StartInfo::default();
    long.set_cmd_line(&[b'x'; 2000]);
    assert_eq!(long.cmd_line_bytes().len(), MAX_GUEST_CMDLINE - 1);
}

#[test]
fn shared_info_round_trip() {
    let mut shared = SharedInfo::default();
    for info in &mut shared.vcpu_info {
        info.evtchn_upcall_mask = 1;
    }
    if let Some(info) = shared.vcpu_info.get_mut(1) {
        info.arch.cr2 = 0xdead_beef;
        info.time.version = 2;
        info.time.tsc_shift = -1;
    }
    shared.wc_sec_hi = 1;
    shared.arch.p2m_generation = 5;
    let bytes = shared.as_bytes().to_vec();
    assert_eq!(bytes.len(), 3136);
    assert_eq!(bytes.get(64 + 1), Some(&1));
    assert_eq!(bytes.get(64 + 16..64 + 24), Some(&0xdead_beefu64.to_le_bytes()[..]));
    assert_eq!(bytes.get(64 + 32 + 28), Some(&0xff));
    assert_eq!(bytes.get(3084..3088), Some(&1u32.to_le_bytes()[..]));
    assert_eq!(bytes.get(3128..3136), Some(&5u64.to_le_bytes()[..]));
    assert_eq!(SharedInfo::from_bytes(&bytes), Some(shared));
    // A longer guest buffer: read just the prefix.
    let mut page = bytes;
    page.resize(4096, 0xAA);
    assert_eq!(SharedInfo::read_prefix(&page), Some(shared));
}

#[test]
fn vcpu_guest_context_layout() {
    let mut ctxt = VcpuGuestContext {
        flags: VGCF_in_kernel | VGCF_online,
        user_regs: CpuUserRegs {
            rip: 0xffff_ffff_8100_0000,
            cs: FLAT_KERNEL_CS,
            saved_upcall_mask: 1,
            ..Default::default()
        },
        gs_base_user: 0x7fff_0000,
        ..Default::default()
    };
    if let Some(trap) = ctxt.trap_ctxt.get_mut(14) {
        *trap = TrapInfo { vector: 14, flags: 4, cs: 0xe030, pad0: 0, address: 0x1000 };
    }
    ctxt.ctrlreg[3] = xen_pfn_to_cr3(0x42);
    let bytes = ctxt.as_bytes();
    assert_eq!(bytes.len(), 5168);
    assert_eq!(bytes.get(520 + 128..520 + 136), Some(&ctxt.user_regs.rip.to_le_bytes()[..]));
    assert_eq!(bytes.get(520 + 136..520 + 138), Some(&0xe033u16.to_le_bytes()[..]));
    assert_eq!(bytes.get(520 + 140), Some(&1));
    let trap_off = 720 + 14 * 16;
    assert_eq!(bytes.get(trap_off), Some(&14));
    assert_eq!(bytes.get(trap_off + 8..trap_off + 16), Some(&0x1000u64.to_le_bytes()[..]));
    assert_eq!(bytes.get(4984 + 24..4984 + 32), Some(&0x42000u64.to_le_bytes()[..]));
    assert_eq!(bytes.get(5160..5168), Some(&0x7fff_0000u64.to_le_bytes()[..]));
    assert_eq!(VcpuGuestContext::from_bytes(bytes), Some(ctxt));

    let trap = ctxt.trap_ctxt.get(14).copied().unwrap_or_default();
    assert_eq!(trap.dpl(), 0);
    assert!(trap.masks_events());
}

#[test]
fn iret_and_multicall_round_trip() {
    let frame = IretContext {
        rax: 1,
        r11: 2,
        rcx: 3,
        flags: VGCF_in_syscall,
        rip: 5,
        cs: u64::from(FLAT_USER_CS),
        rflags: 0x202,
        rsp: 8,
        ss: u64::from(FLAT_USER_SS),
    };
    let raw: Vec<u64> = frame
        .as_bytes()
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    assert_eq!(raw, [1, 2, 3, 0x100, 5, 0xe033, 0x202, 8, 0xe02b]);
    assert_eq!(IretContext::from_bytes(frame.as_bytes()), Some(frame));

    let call = MulticallEntry { op: 14, result: 0, args: [1, 2, 3, 4, 5, 6] };
    assert_eq!(MulticallEntry::from_bytes(call.as_bytes()), Some(call));
    assert_eq!(call.as_bytes().get(56..64), Some(&6u64.to_le_bytes()[..]));
}
