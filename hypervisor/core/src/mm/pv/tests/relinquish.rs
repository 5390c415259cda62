// SPDX-License-Identifier: GPL-2.0-only
//! `relinquish_memory`: a destroyed domain's frames all come back.

use super::*;

/// Every frame `DOM` owned is free afterwards, `OTHER`'s untouched, and
/// the freed queue holds exactly `DOM`'s frames.
#[track_caller]
fn assert_all_freed(m: &mut Machine) {
    let before: Vec<Mfn> =
        m.frames.iter().filter(|(_, p)| p.owner == Some(DOM)).map(|(f, _)| f).collect();
    let left = m.mm().relinquish_memory(DOM).unwrap();
    assert_eq!(left, 0);
    let mut freed = m.frames.take_freed();
    freed.sort_unstable();
    assert_eq!(freed, before);
    for f in before {
        assert_eq!(m.info(f), PageInfo::default(), "{f:?} is free");
    }
    for f in 40..48 {
        assert_eq!(m.frames.owner(Mfn(f)), Some(OTHER));
    }
}

#[test]
fn pinned_tree_and_base_pointer_are_released() {
    let mut m = Machine::guest();
    m.ext1(MmuextCmd::NewBaseptr, L4.0, 0).unwrap();
    m.audit();
    // The vCPU's base pointer goes first (vcpu_destroy_pagetables).
    let Machine { frames, mem, m2p, hooks, vcpu, .. } = &mut m;
    PvMm::new(frames, mem, m2p, hooks).vcpu_destroy_pagetables(vcpu);
    assert_all_freed(&mut m);
}

#[test]
fn pins_at_every_level_and_linear_entries_are_released() {
    let mut m = Machine::unpinned();
    // A second L4 mapping the first read-only (a linear entry), both
    // pinned, and the lower levels pinned on their own too.
    let l4b = SPARE[0];
    m.write(l4b, 0, pte(L3, RW));
    m.write(l4b, 1, pte(L4, RO));
    m.pin(1, L1).unwrap();
    m.pin(2, L2).unwrap();
    m.pin(3, L3).unwrap();
    m.pin(4, L4).unwrap();
    m.pin(4, l4b).unwrap();
    m.audit();
    assert!(m.info(L4).linear_pt_count < 0, "L4 is a linear target");
    assert_all_freed(&mut m);
}

#[test]
fn a_base_pointer_left_behind_keeps_its_frames() {
    let mut m = Machine::guest();
    m.ext1(MmuextCmd::NewBaseptr, L4.0, 0).unwrap();
    // The caller forgot the vCPU: the L4 keeps a reference, and so do the
    // tables and frames below it... until the forced devalidation of the
    // L4 releases its entries. Only the L4 itself stays.
    let left = m.mm().relinquish_memory(DOM).unwrap();
    assert_eq!(left, 1);
    assert_eq!(m.counts(L4), (1, 1));
    assert!(!m.info(L4).type_info.validated);
    assert_eq!(m.frames.owner(L3), None);
}
