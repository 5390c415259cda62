// SPDX-License-Identifier: GPL-2.0-only
//! CPUID: the PV policy on Intel and AMD hosts, the Xen leaves, OSXSAVE and
//! the forced-emulation prefix.

use super::*;
use crate::pv::emulate::cpuid::*;
use crate::pv::test_support::GUEST_PAGES;

const MTRR: u32 = 1 << 12;
const SEP: u32 = 1 << 11;

#[test]
fn basic_leaves_on_intel() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    assert_eq!(cpuid_gp(&mut f, &mut env, 0, 0), [0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]);
    assert_eq!(f.regs.rip, GUEST_BASE + 2);
    // Dom0's kernel: processor type and APIC ID clobbered, HYPERVISOR set,
    // MTRR leaked.
    let l1 = cpuid_gp(&mut f, &mut env, 1, 0);
    assert_eq!(l1, [0x0003_06ea, 0x0010_0800, PV_1C, PV_1D | MTRR]);
    for hidden in [3, 5, 6, 7, 8, 15, 17, 18, 21, 24, 27] {
        assert_eq!(l1[2] & (1 << hidden), 0, "leaf 1 ECX bit {hidden} must be hidden");
    }
    assert_ne!(l1[2] & (1 << 31), 0, "HYPERVISOR");
    for hidden in [1, 3, 13, 17, 18, 21, 29, 31] {
        assert_eq!(l1[3] & (1 << hidden), 0, "leaf 1 EDX bit {hidden} must be hidden");
    }
    assert_eq!(cpuid_gp(&mut f, &mut env, 2, 0), [0x0076_0301, 0, 0, 0x00c3_0000]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 4, 0), [0x1c00_4121, 0x01c0_003f, 0x3f, 7]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 4, 2), [0; 4]);
    for empty in [3, 5, 6, 8, 9, 0xa, 0xb, 0xc, 0xe, 0x16, 0x1f] {
        assert_eq!(cpuid_gp(&mut f, &mut env, empty, 0), [0; 4], "leaf {empty:#x}");
    }
}

#[test]
fn structured_features_and_xsave() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    let l7 = cpuid_gp(&mut f, &mut env, 7, 0);
    assert_eq!(l7, [1, PV_7B | PV_7B_HOST, PV_7C, PV_7D]);
    for hidden in [1, 2, 4, 7, 10, 12, 14, 15, 20, 25, 26, 27] {
        assert_eq!(l7[1] & (1 << hidden), 0, "leaf 7 EBX bit {hidden} (SMEP, SMAP, ...)");
    }
    assert_ne!(l7[1] & 1, 0, "FSGSBASE");
    for hidden in [2, 3, 4, 16, 22, 31] {
        assert_eq!(l7[2] & (1 << hidden), 0, "leaf 7 ECX bit {hidden} (UMIP, PKU, ...)");
    }
    for hidden in [26, 27, 29, 31] {
        assert_eq!(l7[3] & (1 << hidden), 0, "leaf 7 EDX bit {hidden} (IBRSB, ...)");
    }
    assert_eq!(cpuid_gp(&mut f, &mut env, 7, 1), [PV_71A, 0, 0, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 7, 2), [0; 4]);
    // x87, SSE, AVX and AVX-512 of the host's 0x2ff; no MPX, no PKRU.
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 0), [0xe7, 0x340, 0xa88, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 1), [PV_D1A, 0, 0, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 2), [0x100, 0x240, 0, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 3), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 5), [0x40, 0x440, 2, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 9), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 63), [0; 4]);
}

#[test]
fn extended_leaves_on_intel() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0000, 0), [0x8000_0008, 0, 0, 0]);
    let e1 = cpuid_gp(&mut f, &mut env, 0x8000_0001, 0);
    assert_eq!(e1, [0, 0, PV_E1C, PV_E1D]);
    assert_eq!(e1[3] & (1 << 27), 0, "RDTSCP hidden");
    assert_eq!(e1[3] & (1 << 26), 0, "1 GiB pages hidden");
    assert_ne!(e1[3] & (1 << 29), 0, "long mode");
    assert_eq!(
        cpuid_gp(&mut f, &mut env, 0x8000_0002, 0),
        [0x6574_6e49, 0x2952_286c, 0x6f65_5820, 0x2952_286e]
    );
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0005, 0), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0006, 0), [0, 0, 0x0100_6040, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0007, 0), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0008, 0), [0x3027, PV_E8B, 0, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0009, 0), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0021, 0), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xc000_0000, 0), [0; 4]);
}

#[test]
fn amd_host() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::amd();
    let vendor = [0x6874_7541, 0x444d_4163, 0x6974_6e65];
    let l0 = cpuid_gp(&mut f, &mut env, 0, 0);
    assert_eq!(l0, [0xd, vendor[0], vendor[1], vendor[2]]);
    // SYSENTER is unusable from long mode on AMD.
    let l1 = cpuid_gp(&mut f, &mut env, 1, 0);
    assert_eq!(l1[3], (PV_1D & !SEP) | MTRR);
    assert_eq!(cpuid_gp(&mut f, &mut env, 2, 0), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 4, 0), [0; 4]);
    assert_eq!(
        cpuid_gp(&mut f, &mut env, 0x8000_0000, 0),
        [0x8000_0021, vendor[0], vendor[1], vendor[2]]
    );
    let common = 0x0183_f3ff;
    let e1 = cpuid_gp(&mut f, &mut env, 0x8000_0001, 0);
    assert_eq!(
        e1,
        [0x0080_0f12, 0x2000_0000, PV_E1C, (PV_E1D & !common) | (PV_1D & !SEP & common)]
    );
    assert_eq!(
        cpuid_gp(&mut f, &mut env, 0x8000_0005, 0),
        [0xff40_ff40, 0xff40_ff40, 0x2004_0140, 0x4004_0140]
    );
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0008, 0), [0x3030, PV_E8B, 0x700f, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_000a, 0), [0; 4], "no SVM");
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0021, 0), [PV_E21A, 0, 0, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0022, 0), [0; 4]);
}

#[test]
fn xen_leaves() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    assert_eq!(
        cpuid_gp(&mut f, &mut env, 0x4000_0000, 0),
        [0x4000_0005, 0x566e_6558, 0x6558_4d4d, 0x4d4d_566e]
    );
    let sig = cpuid_gp(&mut f, &mut env, 0x4000_0000, 0);
    let mut text = Vec::new();
    for w in &sig[1..] {
        text.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(&text, b"XenVMMXenVMM");
    assert_eq!(
        cpuid_gp(&mut f, &mut env, 0x4000_0001, 0),
        [
            guest_abi::version::xen_version_number(
                crate::pv::hypercall::version::XEN_MAJOR,
                crate::pv::hypercall::version::XEN_MINOR
            ),
            0,
            0,
            0
        ]
    );
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0002, 0), [1, 0x4000_0000, 1, 0]);
    // Invariant TSC: "host TSC reliable"; no emulation, no RDTSCP.
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0003, 0), [2, 0, 2_400_000, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0003, 1), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0003, 2), [2_400_000, 0, 0, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0004, 0), [0; 4], "HVM leaf");
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0005, 0), [0, 0x27, 0, 0]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0005, 1), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0006, 0), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0100, 0), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x4000_0200, 0), [0; 4]);
    let mut amd = FakeEnv::amd();
    assert_eq!(cpuid_gp(&mut f, &mut amd, 0x4000_0003, 0)[0], 0);
    amd.cpuid.insert((0x8000_0007, 0), [0, 0, 0, 1 << 8]);
    assert_eq!(cpuid_gp(&mut f, &mut amd, 0x4000_0003, 0)[0], 2);
}

#[test]
fn static_view_matches_and_dom_u_has_no_mtrr() {
    let f = Fixture::new();
    let env = FakeEnv::intel();
    let dom_u = Domain::new(guest_abi::xen::DomId(3), false, crate::mm::Mfn(5));
    let v = &dom_u.vcpus[0];
    assert_eq!(pv_cpuid(&dom_u, 1, 0, &env)[3], PV_1D);
    assert_eq!(guest_cpuid(&dom_u, v, false, 1, 0, &env)[3], PV_1D);
    assert_eq!(guest_cpuid(&f.dom, &f.dom.vcpus[0], false, 1, 0, &env)[3], PV_1D | MTRR);
    // Dom0's user space does not see the leak either.
    let mut user = f.dom.vcpus[0].clone();
    user.arch.kernel_mode = false;
    assert_eq!(guest_cpuid(&f.dom, &user, false, 1, 0, &env)[3], PV_1D);
}

#[test]
fn osxsave_follows_virtual_cr4_and_fep_kernel_view() {
    const OSXSAVE: u32 = 1 << 27;
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    assert_eq!(cpuid_gp(&mut f, &mut env, 1, 0)[2] & OSXSAVE, 0);
    // The enlightened path in kernel mode sees the hypervisor's OSXSAVE.
    f.regs.rax = 1;
    assert_eq!(
        run_ud(&mut f, &mut env, &[0x0f, 0x0b, b'x', b'e', b'n', 0x0f, 0xa2]),
        EmulOutcome::Done
    );
    assert_ne!(regs4(&f)[2] & OSXSAVE, 0);
    // ... but not in user mode.
    user_mode(&mut f);
    f.poke(GUEST_BASE, &[0x0f, 0x0b, b'x', b'e', b'n', 0x0f, 0xa2]);
    f.regs.rax = 1;
    f.regs.rip = GUEST_BASE;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_forced_invalid_op(&mut ctx, &mut env),
        EmulOutcome::Done
    );
    assert_eq!(regs4(&f)[2] & OSXSAVE, 0);
    // Once the guest sets CR4.OSXSAVE, everyone sees it.
    f.dom.vcpus[0].arch.cr4 = 1 << 18;
    f.regs.rax = 1;
    f.regs.rip = GUEST_BASE;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_forced_invalid_op(&mut ctx, &mut env),
        EmulOutcome::Done
    );
    assert_ne!(regs4(&f)[2] & OSXSAVE, 0);
}

#[test]
fn forced_emulation_prefix() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    f.regs.rax = 0x4000_0000;
    f.regs.rbx = 0xffff_ffff_ffff_ffff;
    let fep = [0x0f, 0x0b, b'x', b'e', b'n', 0x0f, 0xa2];
    assert_eq!(run_ud(&mut f, &mut env, &fep), EmulOutcome::Done);
    assert_eq!(f.regs.rip, GUEST_BASE + 7);
    assert_eq!(regs4(&f), [0x4000_0005, 0x566e_6558, 0x6558_4d4d, 0x4d4d_566e]);
    // Plain ud2, another signature, or FEP before anything but cpuid: #UD.
    for code in [
        &[0x0f, 0x0b, 0x90, 0x90, 0x90, 0x90, 0x90][..],
        &[0x0f, 0x0b, b'x', b'e', b'N', 0x0f, 0xa2],
        &[0x0f, 0x0b, b'x', b'e', b'n', 0xb8, 0x01],
        &[0x0f, 0x0b, b'x', b'e', b'n', 0x0f, 0x30],
    ] {
        f.poke(GUEST_BASE, code);
        f.regs.rip = GUEST_BASE;
        let before = f.regs;
        let mut ctx = f.ctx();
        assert_eq!(
            crate::pv::emulate::emulate_forced_invalid_op(&mut ctx, &mut env),
            EmulOutcome::Unhandled
        );
        assert_eq!(f.regs, before, "nothing changes");
    }
    // FEP cpuid is not privileged.
    user_mode(&mut f);
    f.poke(GUEST_BASE, &fep);
    f.regs.rip = GUEST_BASE;
    f.regs.rax = 0;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_forced_invalid_op(&mut ctx, &mut env),
        EmulOutcome::Done
    );
    assert_eq!(f.regs.rax, 0xd);
}

#[test]
fn forced_emulation_prefix_fetch_faults() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    let end = GUEST_BASE + GUEST_PAGES * 4096;
    // The signature is cut by the end of the mapping: #PF at the first
    // unmapped byte.
    f.poke(end - 3, &[0x0f, 0x0b, b'x']);
    f.regs.rip = end - 3;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_forced_invalid_op(&mut ctx, &mut env),
        EmulOutcome::page_fault(end, 0)
    );
    // The signature fits, the cpuid does not.
    f.poke(end - 6, &[0x0f, 0x0b, b'x', b'e', b'n', 0x0f]);
    f.regs.rip = end - 6;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_forced_invalid_op(&mut ctx, &mut env),
        EmulOutcome::page_fault(end, 0)
    );
    // The whole thing right at the end of the mapping works.
    f.poke(end - 7, &[0x0f, 0x0b, b'x', b'e', b'n', 0x0f, 0xa2]);
    f.regs.rip = end - 7;
    f.regs.rax = 0;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_forced_invalid_op(&mut ctx, &mut env),
        EmulOutcome::Done
    );
    assert_eq!(f.regs.rip, end);
}

#[test]
fn single_step_over_cpuid_raises_debug_trap() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    f.regs.rflags |= 1 << 8 | 1 << 16;
    f.regs.rax = 0;
    assert_eq!(
        run(&mut f, &mut env, &[0x0f, 0xa2]),
        EmulOutcome::Inject { vector: 1, error_code: None, cr2: None }
    );
    assert_eq!(f.regs.rip, GUEST_BASE + 2, "trap: after the instruction");
    assert_eq!(f.regs.rax, 0xd, "the instruction completed");
    assert_eq!(f.regs.rflags & (1 << 16), 0, "RF cleared");
    assert_eq!(f.dom.vcpus[0].arch.debugreg[6], 0xffff_4ff0);
}

#[test]
fn xsave_state_the_hypervisor_does_not_switch_is_hidden() {
    const XSAVE: u32 = 1 << 26;
    const AVX: u32 = 1 << 28;
    const AVX2: u32 = 1 << 5;
    const AVX512F: u32 = 1 << 16;
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    // No XSAVE support at all: no XSAVE, AVX, FMA, F16C, AVX2, AVX-512...
    env.xcr0_supported = 0;
    let l1 = cpuid_gp(&mut f, &mut env, 1, 0);
    assert_eq!(l1[2] & (XSAVE | AVX | (1 << 12) | (1 << 29)), 0);
    let l7 = cpuid_gp(&mut f, &mut env, 7, 0);
    assert_eq!(l7[1] & (AVX2 | AVX512F | (1 << 31)), 0);
    assert_eq!(l7[2] & ((1 << 9) | (1 << 10)), 0, "VAES, VPCLMULQDQ");
    assert_ne!(l7[2] & (1 << 8), 0, "GFNI is SSE-based");
    assert_eq!(cpuid_gp(&mut f, &mut env, 7, 1)[0] & ((1 << 4) | (1 << 5)), 0);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 0), [0; 4]);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0x8000_0001, 0)[2] & ((1 << 11) | (1 << 16)), 0);
    // x87/SSE only: XSAVE without AVX.
    env.xcr0_supported = 3;
    assert_eq!(cpuid_gp(&mut f, &mut env, 1, 0)[2] & (XSAVE | AVX), XSAVE);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 0)[0], 3);
    // AVX without AVX-512 state.
    env.xcr0_supported = 7;
    assert_eq!(cpuid_gp(&mut f, &mut env, 1, 0)[2] & (XSAVE | AVX), XSAVE | AVX);
    let l7 = cpuid_gp(&mut f, &mut env, 7, 0);
    assert_eq!(l7[1] & (AVX2 | AVX512F), AVX2);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 0)[0], 7);
    assert_eq!(cpuid_gp(&mut f, &mut env, 0xd, 5), [0; 4]);
}

#[test]
fn default_machine_services() {
    /// Only the required methods.
    struct Minimal(FakeEnv);
    impl EmulEnv for Minimal {
        fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
            self.0.cpuid(leaf, subleaf)
        }
        fn io_in(&mut self, port: u16, size: u8) -> u32 {
            self.0.io_in(port, size)
        }
        fn io_out(&mut self, port: u16, size: u8, value: u32) {
            self.0.io_out(port, size, value);
        }
        fn wbinvd(&mut self) {}
        fn read_host_msr(&self, msr: u32) -> Option<u64> {
            self.0.read_host_msr(msr)
        }
        fn xsetbv(&mut self, _index: u32, _value: u64) -> bool {
            false
        }
        fn xcr0_supported(&self) -> u64 {
            0
        }
    }
    let mut f = Fixture::new();
    f.dom.vcpus[0].arch.iopl = 1;
    let mut env = Minimal(FakeEnv::intel());
    let exec = |f: &mut Fixture, env: &mut Minimal, code: &[u8]| {
        f.poke(GUEST_BASE, code);
        f.regs.rip = GUEST_BASE;
        let mut ctx = f.ctx();
        crate::pv::emulate::emulate_privileged_op(&mut ctx, env)
    };
    assert_eq!(exec(&mut f, &mut env, &[0x0f, 0x20, 0xc0]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, crate::pv::emulate::DEFAULT_HOST_CR0);
    assert_eq!(exec(&mut f, &mut env, &[0x0f, 0x20, 0xe0]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, crate::pv::emulate::DEFAULT_HOST_CR4);
    f.regs.rdx = 0x3f8;
    assert_eq!(exec(&mut f, &mut env, &[0xec]), EmulOutcome::Done);
    f.regs.rdx = 0x2f8;
    assert_eq!(exec(&mut f, &mut env, &[0xec]), EmulOutcome::Done);
    assert_eq!(env.0.io, [IoAccess::In(0x2f8, 1)], "COM1 is denied by default");
    // No XSAVE support: no OSXSAVE either, whatever the guest writes.
    f.regs.rax = 1 << 18;
    assert_eq!(exec(&mut f, &mut env, &[0x0f, 0x22, 0xe0]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.cr4, 0);
}
