// SPDX-License-Identifier: GPL-2.0-only
//! `rdmsr`/`wrmsr`.

use super::*;
use crate::mm::Mfn;
use crate::mm::pv::PhysMem;
use crate::pv::emulate::msr::*;

/// `rdmsr` of `msr`; `Ok(EDX:EAX)` when emulated.
fn rdmsr(f: &mut Fixture, env: &mut FakeEnv, msr: u32) -> Result<u64, EmulOutcome> {
    f.regs.rcx = u64::from(msr) | 0xffff_ffff_0000_0000;
    f.regs.rax = u64::MAX;
    f.regs.rdx = u64::MAX;
    match run(f, env, &[0x0f, 0x32]) {
        EmulOutcome::Done => {
            assert_eq!(f.regs.rip, GUEST_BASE + 2);
            assert_eq!((f.regs.rax >> 32, f.regs.rdx >> 32), (0, 0), "zero-extended");
            Ok((f.regs.rdx << 32) | f.regs.rax)
        }
        other => {
            assert_eq!(f.regs.rip, GUEST_BASE, "a fault leaves RIP");
            Err(other)
        }
    }
}

/// `wrmsr` of `val` to `msr` (with junk in the upper register halves).
fn wrmsr(f: &mut Fixture, env: &mut FakeEnv, msr: u32, val: u64) -> EmulOutcome {
    f.regs.rcx = u64::from(msr);
    f.regs.rax = (val & 0xffff_ffff) | 0xdead_0000_0000_0000;
    f.regs.rdx = (val >> 32) | 0xbeef_0000_0000_0000;
    run(f, env, &[0x0f, 0x30])
}

/// Registers a `#GP` handler so unknown MSRs are not faked.
fn with_gp_handler(f: &mut Fixture) {
    f.dom.vcpus[0].arch.trap_ctxt[13].address = 0xffff_ffff_8000_1000;
}

#[test]
fn segment_bases() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    let done = EmulOutcome::Done;
    assert_eq!(wrmsr(&mut f, &mut env, MSR_FS_BASE, 0x7fff_1234_0000), done);
    assert_eq!((f.platform.fs, f.dom.vcpus[0].arch.fs_base), (0x7fff_1234_0000, 0x7fff_1234_0000));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_FS_BASE), Ok(0x7fff_1234_0000));
    assert_eq!(wrmsr(&mut f, &mut env, MSR_GS_BASE, 0xffff_8880_0000_0000), done);
    assert_eq!(f.platform.gs, 0xffff_8880_0000_0000);
    assert_eq!(f.dom.vcpus[0].arch.gs_base_kernel, 0xffff_8880_0000_0000);
    assert_eq!(rdmsr(&mut f, &mut env, MSR_GS_BASE), Ok(0xffff_8880_0000_0000));
    // The shadow base is the other mode's: the user GS base.
    assert_eq!(wrmsr(&mut f, &mut env, MSR_SHADOW_GS_BASE, 0x7f00_0000_0000), done);
    assert_eq!(f.dom.vcpus[0].arch.gs_base_user, 0x7f00_0000_0000);
    assert_eq!(f.platform.gs, 0xffff_8880_0000_0000, "live GS untouched");
    assert_eq!(rdmsr(&mut f, &mut env, MSR_SHADOW_GS_BASE), Ok(0x7f00_0000_0000));
    // Non-canonical values: #GP, nothing written.
    for msr in [MSR_FS_BASE, MSR_GS_BASE, MSR_SHADOW_GS_BASE] {
        for bad in [0x0000_8000_0000_0000, 0xffff_0000_0000_0000, 0x8000_0000_0000_0000] {
            assert_eq!(wrmsr(&mut f, &mut env, msr, bad), GP);
            assert_eq!(f.regs.rip, GUEST_BASE);
        }
    }
    assert_eq!(f.platform.fs, 0x7fff_1234_0000);
    assert_eq!(f.dom.vcpus[0].arch.gs_base_user, 0x7f00_0000_0000);
}

#[test]
fn fixed_and_sanitised_values() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    with_gp_handler(&mut f);
    assert_eq!(rdmsr(&mut f, &mut env, MSR_PAT), Ok(XEN_MSR_PAT));
    assert_eq!(XEN_MSR_PAT, 0x0000_0501_0007_0406);
    assert_eq!(wrmsr(&mut f, &mut env, MSR_PAT, XEN_MSR_PAT), EmulOutcome::Done);
    assert_eq!(wrmsr(&mut f, &mut env, MSR_PAT, 0x0007_0406_0007_0406), GP);
    // EFER: SVME hidden; only the same value may be written back.
    assert_eq!(rdmsr(&mut f, &mut env, MSR_EFER), Ok(0xd01));
    assert_eq!(wrmsr(&mut f, &mut env, MSR_EFER, 0xd01), EmulOutcome::Done);
    assert_eq!(wrmsr(&mut f, &mut env, MSR_EFER, 0xd00), GP);
    assert_eq!(wrmsr(&mut f, &mut env, MSR_EFER, 0x1d01), GP);
    // APIC_BASE: enabled at the default address, BSP on vCPU 0.
    assert_eq!(rdmsr(&mut f, &mut env, MSR_APIC_BASE), Ok(0xfee0_0900));
    f.dom.vcpus[0].id = guest_abi::xen::VcpuId(1);
    assert_eq!(rdmsr(&mut f, &mut env, MSR_APIC_BASE), Ok(0xfee0_0800));
    // MISC_ENABLE: no perfmon/MONITOR, BTS/PEBS unavailable, xTPR off;
    // writes are ignored as in Xen.
    assert_eq!(rdmsr(&mut f, &mut env, MSR_MISC_ENABLE), Ok(0x0080_1801));
    assert_eq!(wrmsr(&mut f, &mut env, MSR_MISC_ENABLE, 0), EmulOutcome::Done);
    assert_eq!(rdmsr(&mut f, &mut env, MSR_TSC), Ok(HOST_TSC));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_UCODE_REV), Ok(0xde_0000_0000));
    assert_eq!(wrmsr(&mut f, &mut env, MSR_UCODE_REV, 0), EmulOutcome::Done);
    assert_eq!(wrmsr(&mut f, &mut env, MSR_UCODE_REV, 1), GP);
    assert_eq!(rdmsr(&mut f, &mut env, MSR_PLATFORM_INFO), Ok(0));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_PERF_CAPABILITIES), Ok(0));
    assert_eq!(wrmsr(&mut f, &mut env, MSR_MISC_FEATURES_ENABLES, 0), EmulOutcome::Done);
    assert_eq!(wrmsr(&mut f, &mut env, MSR_MISC_FEATURES_ENABLES, 1), GP, "no CPUID faulting");
}

#[test]
fn unknown_msrs_fault_unless_the_guest_cannot_take_it() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    env.msrs.insert(0x4000_0001, 7);
    // No #GP handler yet: an MSR the host has reads as 0 ("faking RDMSR"),
    // except in the hypervisor range; writes still fault.
    assert_eq!(rdmsr(&mut f, &mut env, 0x3a), Ok(0));
    assert_eq!(rdmsr(&mut f, &mut env, 0x3b), Err(GP));
    assert_eq!(rdmsr(&mut f, &mut env, 0x4000_0001), Err(GP));
    assert_eq!(wrmsr(&mut f, &mut env, 0x3a, 5), GP);
    with_gp_handler(&mut f);
    for msr in [
        0x3a,
        0x48,        // SPEC_CTRL
        0x10a,       // ARCH_CAPABILITIES
        0x802,       // x2APIC ID
        0xd90,       // BNDCFGS
        0xda0,       // XSS
        0xc000_0081, // STAR
        0xc000_0103, // TSC_AUX
        0x4000_0001,
        0x4000_0200,
        u32::MAX,
    ] {
        assert_eq!(rdmsr(&mut f, &mut env, msr), Err(GP), "rdmsr {msr:#x}");
        assert_eq!(wrmsr(&mut f, &mut env, msr, 0), GP, "wrmsr {msr:#x}");
    }
}

#[test]
fn hypercall_page_msr() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    with_gp_handler(&mut f);
    let page = Mfn(40);
    f.frames.assign(page, f.dom.id).unwrap();
    assert_eq!(rdmsr(&mut f, &mut env, 0x4000_0000), Ok(0));
    assert_eq!(wrmsr(&mut f, &mut env, 0x4000_0000, page.0 << 12), EmulOutcome::Done);
    let mut stub = [0u8; 14];
    f.mem.read_bytes(page, 0, &mut stub);
    assert_eq!(stub, [0x51, 0x41, 0x53, 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3]);
    let mut stub1 = [0u8; 8];
    f.mem.read_bytes(page, 32, &mut stub1);
    assert_eq!(stub1[..5], [0x51, 0x41, 0x53, 0xb8, 1]);
    let info = f.frames.info(page).unwrap();
    assert_eq!((info.count, info.type_info.count), (1, 0), "temporary references dropped");
    // A page index, a frame of nobody, a frame beyond memory: #GP.
    assert_eq!(wrmsr(&mut f, &mut env, 0x4000_0000, (page.0 << 12) | 1), GP);
    assert_eq!(wrmsr(&mut f, &mut env, 0x4000_0000, 41 << 12), GP);
    assert_eq!(wrmsr(&mut f, &mut env, 0x4000_0000, !0xfff), GP);
}

#[test]
fn vmce_and_vpmu() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    with_gp_handler(&mut f);
    assert_eq!(rdmsr(&mut f, &mut env, MSR_MCG_CAP), Ok(0x0100_0c02));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_MCG_STATUS), Ok(0));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_MC0_CTL), Ok(u64::MAX));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_MC0_CTL + 1), Ok(0));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_MC0_CTL + 7), Ok(0));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_MC0_CTL + 8), Err(GP), "only two banks");
    assert_eq!(wrmsr(&mut f, &mut env, MSR_MC0_CTL + 1, 0), EmulOutcome::Done);
    assert_eq!(wrmsr(&mut f, &mut env, MSR_MCG_STATUS, 0), EmulOutcome::Done);
    // vPMU off: counters read 0, writes vanish; AMD ones #GP on Intel.
    assert_eq!(rdmsr(&mut f, &mut env, 0xc1), Ok(0));
    assert_eq!(wrmsr(&mut f, &mut env, 0x186, 0x43_003c), EmulOutcome::Done);
    assert_eq!(rdmsr(&mut f, &mut env, 0xc001_0000), Err(GP));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_K8_HWCR), Err(GP));
    let mut amd = FakeEnv::amd();
    assert_eq!(rdmsr(&mut f, &mut amd, MSR_MCG_CAP), Ok(2));
    assert_eq!(rdmsr(&mut f, &mut amd, 0xc001_0004), Ok(0));
    assert_eq!(rdmsr(&mut f, &mut amd, 0xc1), Err(GP));
}

#[test]
fn amd_specific_msrs() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::amd();
    with_gp_handler(&mut f);
    assert_eq!(rdmsr(&mut f, &mut env, MSR_K8_HWCR), Ok(1 << 24));
    assert_eq!(wrmsr(&mut f, &mut env, MSR_K8_HWCR, 0), EmulOutcome::Done);
    assert_eq!(rdmsr(&mut f, &mut env, MSR_AMD64_DE_CFG), Ok(2));
    assert_eq!(rdmsr(&mut f, &mut env, 0xc001_0064), Ok(0), "P-state 0");
    assert_eq!(wrmsr(&mut f, &mut env, 0xc001_0062, 1), EmulOutcome::Done);
    assert_eq!(rdmsr(&mut f, &mut env, MSR_AMD64_NB_CFG), Ok(0));
    assert_eq!(wrmsr(&mut f, &mut env, MSR_AMD64_NB_CFG, 1 << 46), EmulOutcome::Done);
    // Family 17h: MMIO_CONF_BASE is outside 10h..16h.
    assert_eq!(rdmsr(&mut f, &mut env, MSR_FAM10H_MMIO_CONF_BASE), Err(GP));
    assert_eq!(rdmsr(&mut f, &mut env, MSR_PLATFORM_ID), Err(GP), "Intel only");
}
