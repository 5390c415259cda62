// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of PV privileged-instruction emulation: a fake machine
//! ([`FakeEnv`]) with an Intel or AMD CPUID table, recorded port I/O, MSRs
//! and XCR0, over the shared PV fixture guest (code at `GUEST_BASE`).
// Tests index fixed tables, build expected values arithmetically and
// unwrap known-good conversions.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]

mod cpuid;
mod ctrl;
mod decode;
mod io;
mod msr;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::{EmulEnv, EmulOutcome, dom0_ioport_allowed};
use crate::common::domain::Domain;
use crate::pv::test_support::{Fixture, GUEST_BASE};

/// The hypervisor's console UART in the fake machine.
pub const CONSOLE: (u16, u16) = (0x3f8, 0x3ff);
/// Host CR0: PE MP ET NE WP AM PG.
pub const HOST_CR0: u64 = 0x8005_0033;
/// Host CR4: PAE MCE PGE OSFXSR OSXMMEXCPT FSGSBASE OSXSAVE SMEP.
pub const HOST_CR4: u64 = 0x0015_06e0;
/// Host EFER: SCE LME LMA NXE plus SVME (hidden from guests).
pub const HOST_EFER: u64 = 0x1d01;
/// Host MISC_ENABLE: fast strings, perfmon available, MONITOR enabled.
pub const HOST_MISC_ENABLE: u64 = 0x0004_0081;
/// Host TSC.
pub const HOST_TSC: u64 = 0x1234_5678_9abc_def0;
/// Host XCR0 support: x87 SSE AVX MPX AVX-512 PKRU.
pub const HOST_XCR0: u64 = 0x2ff;

/// One recorded port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoAccess {
    /// `io_in(port, size)`.
    In(u16, u8),
    /// `io_out(port, size, value)`.
    Out(u16, u8, u32),
}

/// A recording fake machine.
pub struct FakeEnv {
    /// Host CPUID leaves; missing ones read as a marker pattern.
    pub cpuid: BTreeMap<(u32, u32), [u32; 4]>,
    /// Port accesses, in order.
    pub io: Vec<IoAccess>,
    /// Port read values (default `0x5a` per byte).
    pub port_values: BTreeMap<u16, u32>,
    /// Host MSRs readable with `rdmsr_safe`.
    pub msrs: BTreeMap<u32, u64>,
    /// `wbinvd` count.
    pub wbinvds: u32,
    /// Last XCR0 loaded.
    pub xcr0: Option<u64>,
    /// Refuse `xsetbv`.
    pub refuse_xsetbv: bool,
    /// Last real CR4 requested by `load_guest_cr4`.
    pub loaded_cr4: Option<u64>,
    /// Debug register loads.
    pub debugregs: Vec<(u8, u64)>,
    /// What `xcr0_supported` reports.
    pub xcr0_supported: u64,
    /// The console UARTs' ports (`console_ioports`; default COM1).
    pub console_ports: Vec<(u16, u16)>,
}

/// The marker returned for CPUID leaves the fake host does not define.
pub const UNDEFINED_LEAF: [u32; 4] = [0xdead, 0xbeef, 0xcafe, 0xf00d];

impl FakeEnv {
    /// An Intel host with every feature bit set in the feature leaves.
    pub fn intel() -> Self {
        let mut c = BTreeMap::new();
        // "GenuineIntel", max basic leaf 0x16.
        c.insert((0, 0), [0x16, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]);
        // Processor type 1 (must be clobbered), APIC ID 0x0a, 16 logical.
        c.insert((1, 0), [0x0003_36ea, 0x0a10_0800, u32::MAX, u32::MAX]);
        c.insert((2, 0), [0x0076_0302, 0, 0, 0x00c3_0000]);
        c.insert((4, 0), [0x1c00_4121, 0x01c0_003f, 0x3f, 0x0000_0007]);
        c.insert((4, 1), [0x1c00_4122, 0x01c0_003f, 0x3f, 0x0000_0000]);
        c.insert((4, 2), [0, 0, 0, 0]);
        c.insert((7, 0), [2, u32::MAX, u32::MAX, u32::MAX]);
        c.insert((7, 1), [u32::MAX, u32::MAX, u32::MAX, u32::MAX]);
        c.insert((7, 2), [0, 0, 0, u32::MAX]);
        c.insert((0xd, 0), [0x2ff, 0x340, 0xa88, 0]);
        c.insert((0xd, 1), [0xf, 0x340, 0x100, 0]);
        c.insert((0xd, 2), [0x100, 0x240, 0, 0]);
        c.insert((0xd, 3), [0x40, 0x3c0, 0, 0]);
        c.insert((0xd, 5), [0x40, 0x440, 2, 0]);
        c.insert((0x8000_0000, 0), [0x8000_0008, 0x1, 0x2, 0x3]);
        c.insert((0x8000_0001, 0), [0x1, 0x2, u32::MAX, u32::MAX]);
        c.insert((0x8000_0002, 0), [0x6574_6e49, 0x2952_286c, 0x6f65_5820, 0x2952_286e]);
        c.insert((0x8000_0006, 0), [0x1, 0x2, 0x0100_6040, 0x4]);
        c.insert((0x8000_0007, 0), [0x1, 0x2, 0x3, 0x100]);
        c.insert((0x8000_0008, 0), [0x0000_3027, u32::MAX, 0x5, 0x6]);
        Self::with_cpuid(c)
    }

    /// An AMD host (family 17h) with every feature bit set.
    pub fn amd() -> Self {
        let mut c = BTreeMap::new();
        // "AuthenticAMD".
        c.insert((0, 0), [0x10, 0x6874_7541, 0x444d_4163, 0x6974_6e65]);
        c.insert((1, 0), [0x0080_0f12, 0x0010_0800, u32::MAX, u32::MAX]);
        c.insert((4, 0), [0x1c00_4121, 0x01c0_003f, 0x3f, 0x7]);
        c.insert((7, 0), [0, u32::MAX, u32::MAX, u32::MAX]);
        c.insert((0xd, 0), [0x207, 0x340, 0x988, 0]);
        c.insert((0xd, 1), [0xf, 0x340, 0, 0]);
        c.insert((0xd, 2), [0x100, 0x240, 0, 0]);
        c.insert((0x8000_0000, 0), [0x8000_0021, 0x6874_7541, 0x444d_4163, 0x6974_6e65]);
        c.insert((0x8000_0001, 0), [0x0080_0f12, 0x2000_0000, u32::MAX, u32::MAX]);
        c.insert((0x8000_0005, 0), [0xff40_ff40, 0xff40_ff40, 0x2004_0140, 0x4004_0140]);
        c.insert((0x8000_0008, 0), [0x0000_3030, u32::MAX, 0x0000_700f, 0x7]);
        c.insert((0x8000_000a, 0), [1, 0x8000, 0, 0x1ebfbff]);
        c.insert((0x8000_0021, 0), [u32::MAX, 1, 2, 3]);
        let mut env = Self::with_cpuid(c);
        env.msrs.insert(super::msr::MSR_K8_HWCR, 0x0100_0010);
        env
    }

    fn with_cpuid(cpuid: BTreeMap<(u32, u32), [u32; 4]>) -> Self {
        let mut msrs = BTreeMap::new();
        msrs.insert(super::msr::MSR_EFER, HOST_EFER);
        msrs.insert(super::msr::MSR_MISC_ENABLE, HOST_MISC_ENABLE);
        msrs.insert(super::msr::MSR_TSC, HOST_TSC);
        msrs.insert(super::msr::MSR_UCODE_REV, 0xde_0000_0000);
        // An MSR the host has but the emulator does not know.
        msrs.insert(0x3a, 5);
        Self {
            cpuid,
            io: Vec::new(),
            port_values: BTreeMap::new(),
            msrs,
            wbinvds: 0,
            xcr0: None,
            refuse_xsetbv: false,
            loaded_cr4: None,
            debugregs: Vec::new(),
            xcr0_supported: HOST_XCR0,
            console_ports: vec![CONSOLE],
        }
    }
}

impl EmulEnv for FakeEnv {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let subleaf = if matches!(leaf, 4 | 7 | 0xb | 0xd) { subleaf } else { 0 };
        self.cpuid.get(&(leaf, subleaf)).copied().unwrap_or(UNDEFINED_LEAF)
    }
    fn io_in(&mut self, port: u16, size: u8) -> u32 {
        self.io.push(IoAccess::In(port, size));
        self.port_values.get(&port).copied().unwrap_or(0x5a5a_5a5a)
    }
    fn io_out(&mut self, port: u16, size: u8, value: u32) {
        self.io.push(IoAccess::Out(port, size, value));
    }
    fn console_ioports(&self) -> &[(u16, u16)] {
        &self.console_ports
    }
    fn wbinvd(&mut self) {
        self.wbinvds += 1;
    }
    fn read_host_msr(&self, msr: u32) -> Option<u64> {
        self.msrs.get(&msr).copied()
    }
    fn xsetbv(&mut self, index: u32, value: u64) -> bool {
        if self.refuse_xsetbv || index != 0 {
            return false;
        }
        self.xcr0 = Some(value);
        true
    }
    fn xcr0_supported(&self) -> u64 {
        self.xcr0_supported
    }
    fn host_cr0(&self) -> u64 {
        HOST_CR0
    }
    fn host_cr4(&self) -> u64 {
        HOST_CR4
    }
    fn load_guest_cr4(&mut self, guest_cr4: u64) {
        self.loaded_cr4 = Some(guest_cr4);
    }
    fn set_debugreg(&mut self, reg: u8, value: u64) {
        self.debugregs.push((reg, value));
    }
    fn tsc_khz(&self) -> u32 {
        2_400_000
    }
}

/// Places `code` at `GUEST_BASE`, points RIP there and runs
/// [`super::emulate_privileged_op`].
pub fn run(f: &mut Fixture, env: &mut FakeEnv, code: &[u8]) -> EmulOutcome {
    run_at(f, env, GUEST_BASE, code)
}

/// As [`run`] with the code at `va`.
pub fn run_at(f: &mut Fixture, env: &mut FakeEnv, va: u64, code: &[u8]) -> EmulOutcome {
    f.poke(va, code);
    f.regs.rip = va;
    let mut ctx = f.ctx();
    super::emulate_privileged_op(&mut ctx, env)
}

/// Places `code` at `GUEST_BASE` and runs [`super::emulate_forced_invalid_op`].
pub fn run_ud(f: &mut Fixture, env: &mut FakeEnv, code: &[u8]) -> EmulOutcome {
    f.poke(GUEST_BASE, code);
    f.regs.rip = GUEST_BASE;
    let mut ctx = f.ctx();
    super::emulate_forced_invalid_op(&mut ctx, env)
}

/// Runs `cpuid` for `leaf`/`subleaf` through the `#GP` path and returns
/// `[eax, ebx, ecx, edx]`.
pub fn cpuid_gp(f: &mut Fixture, env: &mut FakeEnv, leaf: u32, subleaf: u32) -> [u32; 4] {
    f.regs.rax = u64::from(leaf) | 0xffff_ffff_0000_0000;
    f.regs.rcx = u64::from(subleaf);
    assert_eq!(run(f, env, &[0x0f, 0xa2]), EmulOutcome::Done);
    regs4(f)
}

/// `[eax, ebx, ecx, edx]` of the fixture's registers.
pub fn regs4(f: &Fixture) -> [u32; 4] {
    for r in [f.regs.rax, f.regs.rbx, f.regs.rcx, f.regs.rdx] {
        assert_eq!(r >> 32, 0, "CPUID results zero-extend");
    }
    [f.regs.rax as u32, f.regs.rbx as u32, f.regs.rcx as u32, f.regs.rdx as u32]
}

/// The fixture with vCPU 0 in guest-user mode (on the user table).
pub fn user_mode(f: &mut Fixture) {
    let v = &mut f.dom.vcpus[0];
    v.arch.kernel_mode = false;
    v.arch.tables.guest_table_user = Some(crate::pv::test_support::frames::USER_L4);
}

/// A `#GP(0)` outcome.
pub const GP: EmulOutcome = EmulOutcome::GP0;
/// A `#UD` outcome.
pub const UD: EmulOutcome = EmulOutcome::UD;
