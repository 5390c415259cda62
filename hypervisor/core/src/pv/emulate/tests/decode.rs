// SPDX-License-Identifier: GPL-2.0-only
//! Instruction fetch and decoding: faults, truncation, the length limit,
//! prefixes, compat code, unknown instructions, and a randomised run that
//! must never panic.

use super::*;
use crate::pv::test_support::GUEST_PAGES;
use crate::test_rng::Rng;
use guest_abi::xen::FLAT_USER_CS32;

const END: u64 = GUEST_BASE + GUEST_PAGES * 4096;

#[test]
fn fetch_faults() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    // Unmapped page: #PF at RIP, error code 0 (the caller adds U/S).
    f.regs.rip = END + 0x10;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_privileged_op(&mut ctx, &mut env),
        EmulOutcome::page_fault(END + 0x10, 0)
    );
    // Hypervisor range and non-canonical RIP: #GP.
    for rip in [0xffff_8000_0000_0000, 0xffff_87ff_ffff_fff0, 0x0000_8000_0000_0000] {
        f.regs.rip = rip;
        let mut ctx = f.ctx();
        assert_eq!(crate::pv::emulate::emulate_privileged_op(&mut ctx, &mut env), GP);
        assert_eq!(f.regs.rip, rip);
    }
    // A kernel address that is not mapped: #PF there.
    f.regs.rip = u64::MAX - 3;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_privileged_op(&mut ctx, &mut env),
        EmulOutcome::page_fault(u64::MAX - 3, 0)
    );
    // No page table at all (user mode without a user L4): #PF.
    f.dom.vcpus[0].arch.kernel_mode = false;
    f.regs.rip = GUEST_BASE;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_privileged_op(&mut ctx, &mut env),
        EmulOutcome::page_fault(GUEST_BASE, 0)
    );
}

#[test]
fn instructions_at_the_end_of_the_mapping() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    // Truncated: the opcode's second byte is on the unmapped page.
    assert_eq!(run_at(&mut f, &mut env, END - 1, &[0x0f]), EmulOutcome::page_fault(END, 0));
    assert_eq!(f.regs.rip, END - 1);
    // Truncated ModRM.
    assert_eq!(run_at(&mut f, &mut env, END - 2, &[0x0f, 0x20]), EmulOutcome::page_fault(END, 0));
    // Truncated imm8 of in.
    f.dom.vcpus[0].arch.iopl = 1;
    assert_eq!(run_at(&mut f, &mut env, END - 1, &[0xe4]), EmulOutcome::page_fault(END, 0));
    // A complete instruction ending exactly at the end still works.
    f.regs.rcx = u64::from(crate::pv::emulate::msr::MSR_PAT);
    assert_eq!(run_at(&mut f, &mut env, END - 2, &[0x0f, 0x32]), EmulOutcome::Done);
    assert_eq!(f.regs.rip, END);
    assert_eq!(f.regs.rax, 0x0007_0406);
    // Across a page boundary inside the mapping.
    let va = GUEST_BASE + 4096 - 2;
    f.regs.rax = 0;
    assert_eq!(run_at(&mut f, &mut env, va, &[0x66, 0x0f, 0xa2]), EmulOutcome::Done);
    assert_eq!(f.regs.rip, va + 3);
    assert_eq!(f.regs.rax, 0xd);
}

#[test]
fn length_limit_and_prefixes() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    let mut code = alloc::vec![0x66u8; 13];
    code.extend_from_slice(&[0x0f, 0xa2]);
    f.regs.rax = 0;
    assert_eq!(run(&mut f, &mut env, &code), EmulOutcome::Done);
    assert_eq!(f.regs.rip, GUEST_BASE + 15);
    let mut code = alloc::vec![0x2e; 14];
    code.extend_from_slice(&[0x0f, 0xa2]);
    assert_eq!(run(&mut f, &mut env, &code), GP, "16 bytes");
    assert_eq!(f.regs.rip, GUEST_BASE);
    // Segment, address-size and REP prefixes do not matter.
    f.regs.rax = 0;
    assert_eq!(run(&mut f, &mut env, &[0x2e, 0x67, 0xf3, 0x64, 0x0f, 0xa2]), EmulOutcome::Done);
    assert_eq!((f.regs.rip, f.regs.rax), (GUEST_BASE + 6, 0xd));
    // Only the last REX counts.
    f.regs.r9 = 0;
    assert_eq!(run(&mut f, &mut env, &[0x44, 0x41, 0x0f, 0x20, 0xd9]), EmulOutcome::Done);
    assert_eq!(f.regs.r9, 0x1000);
}

#[test]
fn unknown_instructions_change_nothing() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    f.dom.vcpus[0].arch.iopl = 3;
    for code in [
        &[0x90][..],
        &[0x0f, 0x0b],
        &[0x0f, 0x01, 0xf8], // swapgs
        &[0x0f, 0x01, 0x10], // lgdt (%rax)
        &[0x0f, 0x00, 0xd8], // ltr %ax
        &[0x0f, 0x07],       // sysret
        &[0xcd, 0x80],
        &[0x6c],       // insb
        &[0xf3, 0x6e], // rep outsb
        &[0x0f, 0x33], // rdpmc
        &[0xcf],       // iret
    ] {
        let before = (f.regs, f.dom.vcpus[0].clone().arch.debugreg, env.io.len());
        assert_eq!(run(&mut f, &mut env, code), EmulOutcome::Unhandled, "{code:02x?}");
        assert_eq!((f.regs, f.dom.vcpus[0].arch.debugreg, env.io.len()), before);
    }
}

#[test]
fn compat_code_has_no_rex() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    user_mode(&mut f);
    f.regs.cs = FLAT_USER_CS32;
    f.dom.vcpus[0].arch.iopl = 3;
    // 0x41 is `inc %ecx` in 32-bit code.
    assert_eq!(run(&mut f, &mut env, &[0x41, 0xe4, 0x60]), EmulOutcome::Unhandled);
    assert_eq!(run(&mut f, &mut env, &[0xe4, 0x60]), EmulOutcome::Done);
    f.regs.rax = 0;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0xa2]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, 0xd);
}

/// Bytes that steer the decoder into interesting paths.
const PALETTE: &[u8] = &[
    0x0f, 0x01, 0x06, 0x09, 0x20, 0x21, 0x22, 0x23, 0x30, 0x31, 0x32, 0xa2, 0xd1, 0xf9, 0xc0, 0xd8,
    0xe0, 0xf8, 0x66, 0x67, 0x2e, 0xf0, 0xf2, 0xf3, 0x40, 0x41, 0x44, 0x48, 0x4f, 0xe4, 0xe5, 0xe6,
    0xe7, 0xec, 0xed, 0xee, 0xef, 0xf4, 0xfa, 0xfb, 0x0b, b'x', b'e', b'n', 0x90,
];

/// Interesting register values.
const VALUES: &[u64] = &[
    0,
    1,
    7,
    0xe7,
    0x1b,
    0x277,
    0x3f8,
    0xcf8,
    0xcfc,
    0xffff,
    0x4000_0000,
    0x4000_0001,
    0x8000_0008,
    0xc000_0080,
    0xc000_0100,
    0xc000_0102,
    0x0000_8000_0000_0000,
    0xffff_8000_0000_0000,
    u64::MAX,
];

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    for _ in 0..20_000 {
        let mut f = Fixture::new();
        let mut env = if rng.chance(50) { FakeEnv::intel() } else { FakeEnv::amd() };
        env.refuse_xsetbv = rng.chance(10);
        let v = &mut f.dom.vcpus[0];
        v.arch.iopl = rng.below(4) as u32;
        v.arch.cr4 = rng.next() & (rng.next() | 0x5_000c);
        v.arch.fpu_ts = rng.chance(50);
        v.arch.debugreg = [0, 0x60, 0x70, 0xcf8, 0, rng.below(0x100), 0, rng.next() & 0xffff_ffff];
        if rng.chance(50) {
            v.arch.trap_ctxt[13].address = 0x1000;
        }
        f.dom.privileged = rng.chance(70);
        f.dom.vm_assist = rng.next() & 0x1f;
        if rng.chance(20) {
            user_mode(&mut f);
        }
        if rng.chance(10) {
            f.regs.cs = FLAT_USER_CS32;
        }
        if rng.chance(20) {
            f.regs.rflags |= 1 << 8;
        }
        for r in [
            &mut f.regs.rax,
            &mut f.regs.rbx,
            &mut f.regs.rcx,
            &mut f.regs.rdx,
            &mut f.regs.r9,
            &mut f.regs.r12,
        ] {
            *r = if rng.chance(50) { rng.pick(VALUES) } else { rng.next() };
        }
        let len = 1 + rng.index(20);
        let mut code: Vec<u8> = (0..len)
            .map(|_| if rng.chance(70) { rng.pick(PALETTE) } else { rng.next() as u8 })
            .collect();
        if rng.chance(15) {
            let mut fep = alloc::vec![0x0f, 0x0b, b'x', b'e', b'n'];
            fep.append(&mut code);
            code = fep;
        }
        let va = match rng.below(4) {
            0 => END - 1 - rng.below(16),
            1 => END + rng.below(8),
            _ => GUEST_BASE + rng.below(GUEST_PAGES * 4096 - 64),
        };
        if va + (code.len() as u64) <= END {
            f.poke(va, &code);
        } else if va < END {
            f.poke(va, &code[..(END - va) as usize]);
        }
        f.regs.rip = va;
        let before = f.regs;
        let ud = rng.chance(30);
        let mut ctx = f.ctx();
        let out = if ud {
            crate::pv::emulate::emulate_forced_invalid_op(&mut ctx, &mut env)
        } else {
            crate::pv::emulate::emulate_privileged_op(&mut ctx, &mut env)
        };
        let advanced = f.regs.rip.wrapping_sub(before.rip);
        match out {
            EmulOutcome::Unhandled => assert_eq!(f.regs, before, "{code:02x?}"),
            EmulOutcome::Done => assert!((1..=15).contains(&advanced), "{code:02x?}"),
            EmulOutcome::Inject { vector: 1, .. } => {
                assert!((1..=15).contains(&advanced), "{code:02x?}");
            }
            EmulOutcome::Inject { vector, error_code, cr2 } => {
                assert_eq!(f.regs.rip, before.rip, "faults leave RIP: {code:02x?}");
                assert!(matches!(vector, 6 | 13 | 14), "{vector}");
                assert_eq!(error_code.is_some(), vector != 6);
                assert_eq!(cr2.is_some(), vector == 14);
            }
        }
    }
}
