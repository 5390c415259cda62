// SPDX-License-Identifier: GPL-2.0-only
//! The audit is the oracle of every other test: show that it notices each
//! kind of corruption, and that the hook defaults are the safe ones.

use guest_abi::xen::Errno;

use super::super::AuditError;
use super::super::types::*;
use super::*;

fn audit_err(m: &Machine) -> AuditError {
    let bases: Vec<Mfn> = m.vcpu.guest_table.into_iter().collect();
    audit(&m.frames, &m.mem, &bases).unwrap_err()
}

#[test]
fn audit_notices_wrong_counts() {
    let mut m = Machine::guest();
    m.frames.set_count_for_test(L2, 3);
    assert_eq!(audit_err(&m), AuditError::Count { mfn: L2, expected: 2, actual: 3 });
    m.frames.set_count_for_test(L2, 2);
    m.frames.set_type_count_for_test(RW_DATA[1], 2);
    assert_eq!(audit_err(&m), AuditError::TypeCount { mfn: RW_DATA[1], expected: 1, actual: 2 });
    m.frames.set_type_count_for_test(RW_DATA[1], 1);
    m.audit();
    // A base pointer the audit is not told about is an unexplained ref.
    m.ext1(MmuextCmd::NewBaseptr, L4.0, 0).unwrap();
    let err = audit(&m.frames, &m.mem, &[]).unwrap_err();
    assert_eq!(err, AuditError::Count { mfn: L4, expected: 2, actual: 3 });
}

#[test]
fn audit_notices_forbidden_mappings() {
    // Entries written behind the MMU's back into validated tables.
    let mut m = Machine::guest();
    m.write(L1, 9, pte(L2, RW));
    let err = audit_err(&m);
    assert_eq!(err, AuditError::WritableProtected { table: L1, index: 9, target: L2 });
    m.write(L1, 9, pte(UNOWNED, RO));
    assert_eq!(audit_err(&m), AuditError::Foreign { table: L1, index: 9, target: UNOWNED });
    // A frame of another domain may be mapped (foreign mappings), but the
    // reference must have been taken.
    m.write(L1, 9, pte(FOREIGN, RO));
    assert_eq!(audit_err(&m), AuditError::Count { mfn: FOREIGN, expected: 2, actual: 1 });
    m.write(L2, 9, pte(FOREIGN, RO));
    m.write(L1, 9, 0);
    assert_eq!(audit_err(&m), AuditError::Foreign { table: L2, index: 9, target: FOREIGN });
    m.write(L2, 9, 0);
    m.write(L1, 9, 0);
    m.write(L3, 1, pte(L1, RO));
    assert_eq!(audit_err(&m), AuditError::BadChildType { table: L3, index: 1 });
    m.write(L3, 1, 0);
    m.audit();
}

#[test]
fn audit_notices_linear_count_drift() {
    let mut m = Machine::guest();
    m.pin(4, SPARE[0]).unwrap();
    m.set(L4, 7, pte(SPARE[0], RO)).unwrap();
    m.audit();
    // Undo only the linear bookkeeping of the entry.
    m.mm().dec_linear_entries(L4);
    assert_eq!(audit_err(&m), AuditError::LinearCount { mfn: L4, expected: 1, actual: 0 });
}

/// Hooks that implement only what is mandatory.
struct MinimalHooks;

impl PvHooks for MinimalHooks {
    fn xen_l4_slot(&self, _dom: DomId, _l4: Mfn, _slot: usize) -> u64 {
        0
    }
}

#[test]
fn hook_defaults_are_restrictive() {
    let mut m = Machine::unpinned();
    let mut hooks = MinimalHooks;
    let mut mm = PvMm::new(&mut m.frames, &mut m.mem, &mut m.m2p, &mut hooks);
    let mut vcpu = VcpuTables::default();
    let mut effects = Vec::new();
    // No I/O frames, no cache attributes, no cache flushes.
    mm.mem.write_u64(L1, 9, pte(Mfn(0x8_0000), RO));
    let pin_l1 = [op(MmuextCmd::PinL1Table, L1.0, 0)];
    assert_eq!(mm.do_mmuext_op(DOM, &pin_l1, &mut vcpu, &mut effects).1, Err(Errno::EPERM));
    mm.mem.write_u64(L1, 9, pte(RO_DATA[0], RO | PAGE_PCD));
    assert_eq!(mm.do_mmuext_op(DOM, &pin_l1, &mut vcpu, &mut effects).1, Err(Errno::EINVAL));
    let flush = [op(MmuextCmd::FlushCache, 0, 0)];
    assert_eq!(mm.do_mmuext_op(DOM, &flush, &mut vcpu, &mut effects).1, Err(Errno::EACCES));
    // Descriptor pages: only the conservative subset.
    mm.mem.write_u64(SPARE[0], 0, 0x0000_EC00_0008_0000); // call gate
    assert_eq!(mm.get_page_and_type(SPARE[0], DOM, PageType::SegDesc), Err(Errno::EINVAL));
    mm.mem.write_u64(L1, 9, 0);
    let pin_l4 = [op(MmuextCmd::PinL4Table, L4.0, 0)];
    assert_eq!(mm.do_mmuext_op(DOM, &pin_l4, &mut vcpu, &mut effects), (1, Ok(())));
    assert!(effects.is_empty());
    assert_eq!(m.read(L4, 256), 0, "the hook's value was installed");
    m.audit();
}
