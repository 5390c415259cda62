// SPDX-License-Identifier: GPL-2.0-only
//! `do_mmuext_op`: pinning, base pointers, flushes, LDT, page clear/copy.

use guest_abi::xen::{Errno, HYPERVISOR_VIRT_START, MmuextCmd as C};

use super::super::mmuext::MAX_LDT_ENTS;
use super::*;

#[test]
fn pin_each_level_and_unpin() {
    let mut m = Machine::unpinned();
    m.pin(1, L1).unwrap();
    m.pin(2, L2).unwrap();
    m.pin(3, L3).unwrap();
    m.pin(4, L4).unwrap();
    for t in [L3, L2, L1] {
        assert_eq!(m.counts(t), (3, 2), "allocation + pin + parent entry");
        assert!(m.info(t).type_info.pinned);
    }
    m.audit();
    for t in [L4, L3, L2, L1] {
        m.unpin(t).unwrap();
        m.audit();
    }
    for t in [L4, L3, L2, L1] {
        assert_eq!(m.counts(t), (1, 0));
    }
}

#[test]
fn double_pin_is_einval_and_changes_nothing() {
    let mut m = Machine::guest();
    assert_eq!(m.pin(4, L4), Err(Errno::EINVAL));
    assert_eq!(m.counts(L4), (2, 1));
    m.pin(1, L1).unwrap();
    assert_eq!(m.pin(1, L1), Err(Errno::EINVAL));
    assert_eq!(m.counts(L1), (3, 2));
    m.audit();
}

#[test]
fn unpin_requires_a_pin() {
    let mut m = Machine::guest();
    assert_eq!(m.unpin(L1), Err(Errno::EINVAL), "validated but not pinned");
    assert_eq!(m.unpin(SPARE[0]), Err(Errno::EINVAL), "never a table");
    m.unpin(L4).unwrap();
    assert_eq!(m.unpin(L4), Err(Errno::EINVAL), "unpinned twice");
    for bad in [FOREIGN, UNOWNED, Mfn(NR_FRAMES), Mfn(u64::MAX)] {
        assert_eq!(m.unpin(bad), Err(Errno::EINVAL));
    }
    assert_eq!(m.counts(L4), (1, 0));
    assert_eq!(m.counts(L1), (1, 0));
    m.audit();
}

#[test]
fn pin_foreign_or_missing_frames_fails() {
    let mut m = Machine::unpinned();
    for bad in [FOREIGN, UNOWNED, Mfn(NR_FRAMES), Mfn(u64::MAX)] {
        for level in 1..=4 {
            assert_eq!(m.pin(level, bad), Err(Errno::EINVAL), "L{level} {bad}");
        }
    }
    assert_eq!(m.counts(FOREIGN), (1, 0));
    m.audit();
}

#[test]
fn base_pointer_holds_its_own_reference() {
    let mut m = Machine::guest();
    m.ext1(C::NewBaseptr, L4.0, 0).unwrap();
    assert_eq!(m.vcpu.guest_table, Some(L4));
    assert_eq!(m.counts(L4), (3, 2));
    assert_eq!(m.effects, [MmuEffect::WritePtbase]);
    m.audit();
    // Unpinning a table in use as base pointer is allowed (Xen drops only
    // the pin's references); the base pointer keeps it validated.
    m.unpin(L4).unwrap();
    assert_eq!(m.counts(L4), (2, 1));
    assert!(m.info(L4).type_info.validated);
    assert_eq!(m.counts(RW_DATA[0]), (2, 1));
    m.audit();
    // Re-installing the same base is a no-op.
    m.ext1(C::NewBaseptr, L4.0, 0).unwrap();
    assert_eq!(m.counts(L4), (2, 1));
    // Switching to another L4 releases the old tree entirely.
    let other = SPARE[0];
    m.ext1(C::NewBaseptr, other.0, 0).unwrap();
    assert_eq!(m.vcpu.guest_table, Some(other));
    assert_eq!(m.counts(L4), (1, 0));
    assert_eq!(m.counts(RW_DATA[0]), (1, 0));
    assert_eq!(m.counts(other), (2, 1));
    m.audit();
    let mut vcpu = m.vcpu;
    m.mm().vcpu_destroy_pagetables(&mut vcpu);
    assert_eq!(vcpu, VcpuTables::default());
    assert_eq!(m.counts(other), (1, 0));
}

#[test]
fn bad_base_pointers_keep_the_old_one() {
    let mut m = Machine::guest();
    m.ext1(C::NewBaseptr, L4.0, 0).unwrap();
    for (bad, err) in
        [(L3, Errno::EINVAL), (FOREIGN, Errno::EINVAL), (Mfn(u64::MAX), Errno::EINVAL)]
    {
        assert_eq!(m.ext1(C::NewBaseptr, bad.0, 0), Err(err));
        assert_eq!(m.ext1(C::NewUserBaseptr, bad.0, 0), Err(err));
    }
    assert_eq!(m.vcpu.guest_table, Some(L4));
    assert_eq!(m.vcpu.guest_table_user, None);
    assert_eq!(m.counts(L4), (3, 2));
    m.audit();
}

#[test]
fn user_base_pointer_and_its_clearing() {
    let mut m = Machine::guest();
    let user = SPARE[0];
    m.ext1(C::NewUserBaseptr, user.0, 0).unwrap();
    assert_eq!(m.vcpu.guest_table_user, Some(user));
    assert_eq!(m.counts(user), (2, 1));
    assert!(m.effects.is_empty(), "takes effect on the next switch to user mode");
    m.ext1(C::NewUserBaseptr, user.0, 0).unwrap();
    assert_eq!(m.counts(user), (2, 1));
    m.audit();
    m.ext1(C::NewUserBaseptr, 0, 0).unwrap();
    assert_eq!(m.vcpu.guest_table_user, None);
    assert_eq!(m.counts(user), (1, 0));
    m.audit();
}

#[test]
fn tlb_flushes_are_recorded_for_the_machine() {
    let mut m = Machine::guest();
    let va = 0x4000_1000;
    let hole = HYPERVISOR_VIRT_START + 0x1000;
    let ops = [
        op(C::TlbFlushLocal, 0, 0),
        op(C::InvlpgLocal, va, 0),
        op(C::TlbFlushMulti, 0, 0x7000),
        op(C::InvlpgMulti, va, 0x7000),
        op(C::TlbFlushAll, 0, 0),
        op(C::InvlpgAll, va, 0),
        // INVLPG of a hypervisor address is silently skipped, as in Xen.
        op(C::InvlpgLocal, hole, 0),
        op(C::InvlpgAll, hole, 0),
        op(C::InvlpgMulti, hole, 0x7000),
    ];
    assert_eq!(m.ext(&ops), (ops.len(), Ok(())));
    assert_eq!(
        m.effects,
        [
            MmuEffect::FlushTlbLocal,
            MmuEffect::InvlpgLocal { va },
            MmuEffect::FlushTlbMulti { vcpumask: 0x7000 },
            MmuEffect::InvlpgMulti { va, vcpumask: 0x7000 },
            MmuEffect::FlushTlbAll,
            MmuEffect::InvlpgAll { va },
        ]
    );
}

#[test]
fn unreadable_vcpu_bitmaps_are_einval() {
    let mut m = Machine::guest();
    m.hooks.bad_vcpumasks.push(0xBAD0);
    assert_eq!(m.ext1(C::TlbFlushMulti, 0, 0xBAD0), Err(Errno::EINVAL));
    assert_eq!(m.ext1(C::InvlpgMulti, 0x1000, 0xBAD0), Err(Errno::EINVAL));
    assert_eq!(m.ext1(C::InvlpgMulti, HYPERVISOR_VIRT_START, 0xBAD0), Err(Errno::EINVAL));
    assert!(m.effects.is_empty());
}

#[test]
fn cache_flushes_need_io_capabilities() {
    let mut m = Machine::guest();
    assert_eq!(m.ext1(C::FlushCache, 0, 0), Err(Errno::EACCES));
    assert_eq!(m.ext1(C::FlushCacheGlobal, 0, 0), Err(Errno::EINVAL));
    assert!(m.effects.is_empty());
    m.hooks.iomem.push(DOM);
    m.ext1(C::FlushCache, 0, 0).unwrap();
    m.ext1(C::FlushCacheGlobal, 0, 0).unwrap();
    assert_eq!(m.effects, [MmuEffect::FlushCache, MmuEffect::FlushCacheGlobal]);
}

#[test]
fn set_ldt_checks_base_and_size() {
    let mut m = Machine::guest();
    m.ext1(C::SetLdt, 0x10_0000, 16).unwrap();
    assert_eq!((m.vcpu.ldt_base, m.vcpu.ldt_ents), (0x10_0000, 16));
    assert_eq!(m.effects, [MmuEffect::LoadLdt]);
    m.ext1(C::SetLdt, 0x10_0000, 16).unwrap();
    assert_eq!(m.effects.len(), 1, "unchanged LDT: nothing to reload");
    for (base, ents) in [
        (0x10_0008, 16),                              // misaligned
        (HYPERVISOR_VIRT_START, 16),                  // in the hypervisor hole
        (0x10_0000, u64::from(MAX_LDT_ENTS) + 1),     // too many entries
        (0x10_0000, (1 << 32) | u64::from(u32::MAX)), // only the low half counts
    ] {
        assert_eq!(m.ext1(C::SetLdt, base, ents), Err(Errno::EINVAL), "{base:#x} {ents}");
    }
    assert_eq!((m.vcpu.ldt_base, m.vcpu.ldt_ents), (0x10_0000, 16));
    // nr_ents = 0 clears, whatever the base.
    m.ext1(C::SetLdt, 0xdead_beef, 1 << 32).unwrap();
    assert_eq!((m.vcpu.ldt_base, m.vcpu.ldt_ents), (0, 0));
    m.ext1(C::SetLdt, 0xFFFF_9000_0000_0000, MAX_LDT_ENTS.into()).unwrap();
}

#[test]
fn clear_and_copy_page_only_write_plain_frames() {
    let mut m = Machine::guest();
    m.write(SPARE[0], 3, 0x1111);
    m.ext1(C::CopyPage, SPARE[1].0, SPARE[0].0).unwrap();
    assert_eq!(m.read(SPARE[1], 3), 0x1111);
    m.ext1(C::ClearPage, SPARE[0].0, 0).unwrap();
    assert_eq!(m.read(SPARE[0], 3), 0);
    // A page table is a valid source but never a destination.
    m.ext1(C::CopyPage, SPARE[1].0, L1.0).unwrap();
    assert_eq!(m.read(SPARE[1], 0), m.read(L1, 0));
    let l1_before = m.read(L1, 0);
    assert_eq!(m.ext1(C::ClearPage, L1.0, 0), Err(Errno::EINVAL));
    assert_eq!(m.ext1(C::CopyPage, L2.0, SPARE[0].0), Err(Errno::EINVAL));
    assert_eq!(m.read(L1, 0), l1_before);
    // Foreign or missing frames on either side.
    for bad in [FOREIGN, UNOWNED, Mfn(NR_FRAMES)] {
        assert_eq!(m.ext1(C::ClearPage, bad.0, 0), Err(Errno::EINVAL));
        assert_eq!(m.ext1(C::CopyPage, SPARE[0].0, bad.0), Err(Errno::EINVAL));
        assert_eq!(m.ext1(C::CopyPage, bad.0, SPARE[0].0), Err(Errno::EINVAL));
    }
    assert_eq!(m.counts(SPARE[0]), (1, 0));
    assert_eq!(m.counts(SPARE[1]), (1, 0));
    m.audit();
}

#[test]
fn superpage_marks_and_unknown_commands() {
    let mut m = Machine::guest();
    assert_eq!(m.ext1(C::MarkSuper, L1.0, 0), Err(Errno::EOPNOTSUPP));
    assert_eq!(m.ext1(C::UnmarkSuper, u64::MAX, 0), Err(Errno::EOPNOTSUPP));
    for cmd in [14, 21, 1000, u32::MAX] {
        let raw = MmuextOp { cmd, pad0: 0, arg1: L4.0, arg2: 0 };
        assert_eq!(m.ext(&[raw]), (0, Err(Errno::ENOSYS)), "cmd {cmd}");
    }
    m.audit();
}

#[test]
fn ext_batch_stops_at_the_first_failure() {
    let mut m = Machine::unpinned();
    let ops = [
        op(C::PinL1Table, L1.0, 0),
        op(C::TlbFlushLocal, 0, 0),
        op(C::PinL1Table, L1.0, 0), // double pin
        op(C::PinL4Table, L4.0, 0),
    ];
    assert_eq!(m.ext(&ops), (2, Err(Errno::EINVAL)));
    assert!(m.info(L1).type_info.pinned);
    assert!(!m.info(L4).type_info.pinned);
    assert_eq!(m.effects, [MmuEffect::FlushTlbLocal]);
    m.audit();
}
