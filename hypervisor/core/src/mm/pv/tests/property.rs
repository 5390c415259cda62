// SPDX-License-Identifier: GPL-2.0-only
//! Property test: long random sequences of valid and invalid operations.
//!
//! A small deterministic PRNG drives `mmu_update`, pin/unpin, base
//! pointers, page clear/copy, frame release and direct guest writes to
//! frames the guest could map writable. After every step the audit must
//! pass (every count equals a recount from the page tables; no validated
//! L1 maps a page table or descriptor page writable), a failed request
//! must leave every count as it was, and after tearing everything down
//! every frame is back to its allocation reference alone.

use guest_abi::xen::{MmuUpdate, MmuextCmd as C};

use super::super::types::*;
use super::*;

use crate::test_rng::Rng;

/// Frames of `DOM` the test plays with.
const OWN: core::ops::Range<u64> = 10..32;

fn frame(rng: &mut Rng) -> Mfn {
    if rng.chance(6) {
        rng.pick(&[FOREIGN, UNOWNED, Mfn(NR_FRAMES + 3), Mfn(u64::MAX >> 12)])
    } else {
        Mfn(OWN.start + rng.below(OWN.end - OWN.start))
    }
}

fn entry(rng: &mut Rng) -> u64 {
    if rng.chance(15) {
        return 0;
    }
    let mut flags = PAGE_PRESENT;
    for (bit, pct) in [
        (PAGE_RW, 45),
        (PAGE_USER, 50),
        (PAGE_ACCESSED | PAGE_DIRTY, 30),
        (PAGE_PSE, 3),
        (PAGE_PCD, 3),
        (PAGE_GLOBAL, 5),
        (PAGE_NX, 10),
    ] {
        if rng.chance(pct) {
            flags |= bit;
        }
    }
    pte(frame(rng), flags)
}

fn index(rng: &mut Rng) -> u64 {
    rng.pick(&[0, 0, 1, 1, 2, 3, 4, 255, 256, 271, 272, 511])
}

/// (general, type, pinned, linear) of every frame.
fn counts(m: &Machine) -> Vec<(u32, u32, bool, i16)> {
    (0..NR_FRAMES)
        .map(|f| {
            let i = m.info(Mfn(f));
            (i.count, i.type_info.count, i.type_info.pinned, i.linear_pt_count)
        })
        .collect()
}

/// One random step; returns whether it failed.
fn step(m: &mut Machine, rng: &mut Rng) -> bool {
    let before = counts(m);
    let failed = match rng.below(100) {
        0..=44 => {
            let (t, i, v) = (frame(rng), index(rng), entry(rng));
            let old = m.read(t, i as usize);
            let cmd = rng.pick(&[0, 0, 0, 2]);
            let req = MmuUpdate { ptr: upd(t, i, 0).ptr | cmd, val: v };
            let failed = m.mmu(&[req]).1.is_err();
            if failed {
                assert_eq!(m.read(t, i as usize), old, "failed update wrote");
            }
            failed
        }
        45..=59 => {
            let level = 1 + rng.below(4) as u32;
            m.pin(level, frame(rng)).is_err()
        }
        60..=69 => m.unpin(frame(rng)).is_err(),
        70..=74 => m.ext1(C::NewBaseptr, frame(rng).0, 0).is_err(),
        75..=77 => {
            let f = if rng.chance(30) { 0 } else { frame(rng).0 };
            m.ext1(C::NewUserBaseptr, f, 0).is_err()
        }
        78..=80 => m.ext1(C::ClearPage, frame(rng).0, 0).is_err(),
        81..=83 => m.ext1(C::CopyPage, frame(rng).0, frame(rng).0).is_err(),
        84..=86 => m.frames.release(frame(rng), DOM).is_err(),
        _ => {
            // The guest writes a frame it could map writable.
            let f = frame(rng);
            let t = m.frames.info(f).map(|p| p.type_info).unwrap_or_default();
            let writable = m.frames.owner(f) == Some(DOM) && !(t.ty.is_protected() && t.count > 0);
            if writable {
                let (i, v) = (index(rng), entry(rng));
                m.write(f, i as usize, v);
            }
            !writable
        }
    };
    if failed {
        assert_eq!(counts(m), before, "a failed operation moved references");
    }
    // Freed frames go straight back to the domain (unscrubbed).
    for f in m.frames.take_freed() {
        m.frames.assign(f, DOM).unwrap();
    }
    m.audit();
    failed
}

fn run(seed: u64, steps: usize) {
    let mut m = Machine::guest();
    let mut rng = Rng(seed);
    let mut failures = 0;
    for _ in 0..steps {
        failures += usize::from(step(&mut m, &mut rng));
    }
    assert!(failures > steps / 10 && failures < steps * 9 / 10, "{failures}/{steps} failed");
    // Tear down: unpin everything, drop the base pointers.
    for f in 0..NR_FRAMES {
        if m.info(Mfn(f)).type_info.pinned {
            m.unpin(Mfn(f)).unwrap();
        }
    }
    let mut vcpu = m.vcpu;
    m.mm().vcpu_destroy_pagetables(&mut vcpu);
    m.vcpu = vcpu;
    for f in m.frames.take_freed() {
        m.frames.assign(f, DOM).unwrap();
    }
    m.audit();
    for f in 0..NR_FRAMES {
        let i = m.info(Mfn(f));
        let expected = (u32::from(i.allocated), 0);
        assert_eq!((i.count, i.type_info.count), expected, "frame {f}, seed {seed:#x}");
        assert_eq!(i.linear_pt_count, 0);
        assert!(!i.type_info.validated || !i.type_info.ty.is_protected());
    }
}

#[test]
fn random_operations_keep_every_invariant() {
    for seed in [1, 0x9E37_79B9_7F4A_7C15, 0xDEAD_BEEF, 42, 7, 0x1234_5678_9ABC_DEF0] {
        run(seed, 700);
    }
}

#[test]
fn long_random_run() {
    run(0xC0FF_EE00_0000_0001, 4000);
}
