// SPDX-License-Identifier: GPL-2.0-only
//! `rdmsr`/`wrmsr` from a PV guest kernel (Xen's `read_msr`/`write_msr` in
//! `pv/emul-priv-op.c` with the PV parts of `guest_rdmsr`/`guest_wrmsr`,
//! `vmce_rdmsr` and `guest_{rd,wr}msr_xen`).
//!
//! `ECX` names the MSR, `EDX:EAX` holds the value. Unknown MSRs give
//! `#GP(0)` (Xen since 4.15, without `msr_relaxed`), except that a read of
//! an MSR the host has, by a guest that registered no `#GP` handler, reads
//! as 0 (Xen's "faking RDMSR" fallback for guests that cannot survive the
//! fault).
//!
//! Emulated: the FS/GS/shadow-GS bases (canonical checks), `TSC`, `EFER`
//! (reads a sanitised host value; only rewriting that value is allowed),
//! `PAT` (Xen's fixed [`XEN_MSR_PAT`]; rewriting it is allowed),
//! `APIC_BASE`, `MISC_ENABLE` (sanitised; writes ignored), microcode
//! revision and platform ID, `PLATFORM_INFO` / `MISC_FEATURES_ENABLES`
//! (no CPUID faulting offered), `PERF_CAPABILITIES`, the vPMU counters
//! (vPMU off: read 0, writes dropped), a stateless vMCE (2 banks), AMD
//! P-state, `HWCR`, `DE_CFG`, `NB_CFG`, `MMIO_CONF_BASE` (read 0 / writes
//! dropped, dom0 is not a pinned cpufreq controller) and the Xen hypercall
//! page MSR `0x40000000`.
//!
//! Not virtualised (so `#GP`, and hidden in CPUID): `SPEC_CTRL`,
//! `PRED_CMD`, `FLUSH_CMD`, `ARCH_CAPABILITIES`, `TSC_AUX`, `XSS`, the
//! x2APIC range, `BNDCFGS`, `PKRS`. vMCE bank writes are dropped rather
//! than stored.

use super::cpuid::{Vendor, XEN_MSR_BASE};
use super::{EmulEnv, EmulOutcome, is_canonical, low32};
use crate::dom0_build::hypercall_page;
use crate::mm::Mfn;
use crate::mm::pv::{PageType, PvMm};
use crate::pv::ctx::Ctx;
use crate::pv::platform::SegBaseReg;

/// `MSR_IA32_TSC`.
pub const MSR_TSC: u32 = 0x10;
/// `MSR_IA32_PLATFORM_ID`.
pub const MSR_PLATFORM_ID: u32 = 0x17;
/// `MSR_APIC_BASE`.
pub const MSR_APIC_BASE: u32 = 0x1b;
/// `MSR_IA32_UCODE_REV` / `MSR_AMD_PATCHLEVEL`.
pub const MSR_UCODE_REV: u32 = 0x8b;
/// `MSR_INTEL_PLATFORM_INFO`.
pub const MSR_PLATFORM_INFO: u32 = 0xce;
/// `MSR_INTEL_MISC_FEATURES_ENABLES`.
pub const MSR_MISC_FEATURES_ENABLES: u32 = 0x140;
/// `MSR_IA32_MCG_CAP`.
pub const MSR_MCG_CAP: u32 = 0x179;
/// `MSR_IA32_MCG_STATUS`.
pub const MSR_MCG_STATUS: u32 = 0x17a;
/// `MSR_IA32_MCG_CTL`.
pub const MSR_MCG_CTL: u32 = 0x17b;
/// `MSR_IA32_MISC_ENABLE`.
pub const MSR_MISC_ENABLE: u32 = 0x1a0;
/// `MSR_IA32_CR_PAT`.
pub const MSR_PAT: u32 = 0x277;
/// `MSR_IA32_PERF_CAPABILITIES`.
pub const MSR_PERF_CAPABILITIES: u32 = 0x345;
/// `MSR_IA32_MC0_CTL`: first vMCE bank register.
pub const MSR_MC0_CTL: u32 = 0x400;
/// `MSR_EFER`.
pub const MSR_EFER: u32 = 0xc000_0080;
/// `MSR_FS_BASE`.
pub const MSR_FS_BASE: u32 = 0xc000_0100;
/// `MSR_GS_BASE`.
pub const MSR_GS_BASE: u32 = 0xc000_0101;
/// `MSR_SHADOW_GS_BASE` (`KERNEL_GS_BASE`).
pub const MSR_SHADOW_GS_BASE: u32 = 0xc000_0102;
/// `MSR_K8_HWCR`.
pub const MSR_K8_HWCR: u32 = 0xc001_0015;
/// `MSR_AMD64_NB_CFG`.
pub const MSR_AMD64_NB_CFG: u32 = 0xc001_001f;
/// `MSR_FAM10H_MMIO_CONF_BASE`.
pub const MSR_FAM10H_MMIO_CONF_BASE: u32 = 0xc001_0058;
/// `MSR_AMD64_DE_CFG`.
pub const MSR_AMD64_DE_CFG: u32 = 0xc001_1029;

/// `XEN_MSR_PAT`: the PAT every PV guest sees (WB, WT, UC-, UC, WC, WP,
/// UC, UC); part of the PV ABI.
pub const XEN_MSR_PAT: u64 = 0x0000_0501_0007_0406;

/// `APIC_BASE_BSP`.
const APIC_BASE_BSP: u64 = 1 << 8;
/// `APIC_BASE_ENABLE`.
const APIC_BASE_ENABLE: u64 = 1 << 11;
/// `APIC_DEFAULT_PHYS_BASE`.
const APIC_DEFAULT_PHYS_BASE: u64 = 0xfee0_0000;

/// `EFER_KNOWN_MASK` without SVME and AIBRSE (never shown to guests):
/// SCE, LME, LMA, NXE, LMSLE, FFXSE.
const EFER_GUEST_MASK: u64 = (1 << 0) | (1 << 8) | (1 << 10) | (1 << 11) | (1 << 13) | (1 << 14);

/// Guest vMCE banks (`GUEST_MC_BANK_NUM`).
const GUEST_MC_BANKS: u32 = 2;
/// `MCG_CMCI_P | MCG_TES_P | MCG_SER_P` (Intel's `INTEL_GUEST_MCG_CAP`).
const INTEL_MCG_CAP_BITS: u64 = (1 << 10) | (1 << 11) | (1 << 24);

/// `HWCR.TscFreqSel` (family 10h and later).
const K8_HWCR_TSC_FREQ_SEL: u64 = 1 << 24;
/// `DE_CFG.LFENCE_SERIALISE`.
const AMD64_DE_CFG_LFENCE_SERIALISE: u64 = 1 << 1;

/// The MSR classes whose accesses are silently neutralised.
fn is_vpmu_msr(msr: u32, vendor: Vendor) -> bool {
    let intel = matches!(msr, 0xc1..=0xc8 | 0x186..=0x189 | 0x309..=0x30b | 0x38d..=0x390);
    let amd = matches!(msr, 0xc001_0000..=0xc001_0007 | 0xc001_0200..=0xc001_020b);
    (intel && vendor == Vendor::Intel) || (amd && vendor == Vendor::Amd)
}

/// AMD `K7_FID_VID_*`, `K8_PSTATE_*`.
const fn is_amd_pstate_msr(msr: u32) -> bool {
    matches!(msr, 0xc001_0041 | 0xc001_0042 | 0xc001_0061..=0xc001_006b)
}

/// Host family from leaf 1 EAX (Xen's `get_cpu_family`).
fn family(env: &dyn EmulEnv) -> u32 {
    let eax = env.cpuid(1, 0)[0];
    let fam = (eax >> 8) & 0xf;
    if fam == 0xf { fam.saturating_add((eax >> 20) & 0xff) } else { fam }
}

/// vMCE bank register `msr` (banks 0 and 1 only): `Some(is_ctl)`.
fn vmce_bank(msr: u32) -> Option<bool> {
    let off = msr.checked_sub(MSR_MC0_CTL)?;
    (off < GUEST_MC_BANKS.saturating_mul(4)).then_some(off % 4 == 0)
}

/// `guest_efer`: the host EFER with unknown bits, SVME and AIBRSE hidden.
fn guest_efer(env: &dyn EmulEnv) -> Option<u64> {
    env.read_host_msr(MSR_EFER).map(|e| e & EFER_GUEST_MASK)
}

/// `guest_misc_enable`: no perfmon or MONITOR, BTS/PEBS unavailable, xTPR
/// messages disabled.
const fn guest_misc_enable(v: u64) -> u64 {
    const PERF_AVAIL: u64 = 1 << 7;
    const BTS_UNAVAIL: u64 = 1 << 11;
    const PEBS_UNAVAIL: u64 = 1 << 12;
    const MONITOR_ENABLE: u64 = 1 << 18;
    const XTPR_DISABLE: u64 = 1 << 23;
    (v & !(PERF_AVAIL | MONITOR_ENABLE)) | BTS_UNAVAIL | PEBS_UNAVAIL | XTPR_DISABLE
}

/// The value of `msr` for the running vCPU, or `None` for `#GP`.
fn read_msr(ctx: &Ctx<'_>, env: &dyn EmulEnv, msr: u32) -> Option<u64> {
    let vendor = Vendor::of(env);
    let intel = vendor == Vendor::Intel;
    let amd = vendor == Vendor::Amd;
    Some(match msr {
        MSR_APIC_BASE => {
            // Linux PV guests read it; vCPU 0 is the BSP.
            let bsp = if ctx.v_ref().id.0 == 0 { APIC_BASE_BSP } else { 0 };
            APIC_BASE_ENABLE | APIC_DEFAULT_PHYS_BASE | bsp
        }
        MSR_FS_BASE => ctx.platform.segment_base(SegBaseReg::Fs),
        MSR_GS_BASE => ctx.platform.segment_base(SegBaseReg::Gs),
        MSR_SHADOW_GS_BASE => ctx.v_ref().arch.gs_base_user,
        MSR_TSC => env.read_host_msr(MSR_TSC)?,
        MSR_EFER => guest_efer(env)?,
        MSR_PAT => XEN_MSR_PAT,
        MSR_PLATFORM_ID if intel => env.read_host_msr(msr)?,
        MSR_UCODE_REV => env.read_host_msr(msr)?,
        // No CPUID faulting is offered.
        MSR_PLATFORM_INFO | MSR_MISC_FEATURES_ENABLES => 0,
        MSR_MISC_ENABLE => guest_misc_enable(env.read_host_msr(msr)?),
        MSR_PERF_CAPABILITIES => 0,
        MSR_MCG_CAP => u64::from(GUEST_MC_BANKS) | if intel { INTEL_MCG_CAP_BITS } else { 0 },
        // No MCG_CTL_P: MCG_CTL reads as 0; nothing pending.
        MSR_MCG_STATUS | MSR_MCG_CTL => 0,
        m if vmce_bank(m).is_some() => {
            if vmce_bank(m) == Some(true) {
                u64::MAX
            } else {
                0
            }
        }
        m if is_amd_pstate_msr(m) && amd => 0,
        MSR_K8_HWCR if amd => {
            if family(env) >= 0x10 {
                K8_HWCR_TSC_FREQ_SEL
            } else {
                0
            }
        }
        MSR_AMD64_DE_CFG if amd => AMD64_DE_CFG_LFENCE_SERIALISE,
        MSR_AMD64_NB_CFG => 0,
        MSR_FAM10H_MMIO_CONF_BASE if amd && (0x10..0x17).contains(&family(env)) => 0,
        m if is_vpmu_msr(m, vendor) => 0,
        // Write-only hypercall page MSR reads as zero.
        XEN_MSR_BASE => 0,
        _ => return None,
    })
}

/// Handles a write to `msr`; `Err` for `#GP`.
fn write_msr(ctx: &mut Ctx<'_>, env: &dyn EmulEnv, msr: u32, val: u64) -> Result<(), ()> {
    let vendor = Vendor::of(env);
    let intel = vendor == Vendor::Intel;
    let amd = vendor == Vendor::Amd;
    match msr {
        MSR_FS_BASE | MSR_GS_BASE | MSR_SHADOW_GS_BASE if !is_canonical(val) => Err(()),
        MSR_FS_BASE => {
            ctx.platform.set_segment_base(SegBaseReg::Fs, val);
            ctx.v().arch.fs_base = val;
            Ok(())
        }
        MSR_GS_BASE => {
            // The live GS base is the kernel's: emulation only runs in
            // guest-kernel mode.
            ctx.platform.set_segment_base(SegBaseReg::Gs, val);
            ctx.v().arch.gs_base_kernel = val;
            Ok(())
        }
        MSR_SHADOW_GS_BASE => {
            ctx.v().arch.gs_base_user = val;
            Ok(())
        }
        // Linux writes back the value it read.
        MSR_EFER if guest_efer(env) == Some(val) => Ok(()),
        MSR_PAT if val == XEN_MSR_PAT => Ok(()),
        // Intel: a write of 0 precedes reading the microcode revision.
        MSR_UCODE_REV if intel && val == 0 => Ok(()),
        MSR_MISC_FEATURES_ENABLES if val == 0 => Ok(()),
        // Xen logs a changed value and carries on.
        MSR_MISC_ENABLE if env.read_host_msr(msr).is_some() => Ok(()),
        MSR_MCG_STATUS | MSR_MCG_CTL => Ok(()),
        m if vmce_bank(m).is_some() => Ok(()),
        m if (is_amd_pstate_msr(m) || m == MSR_K8_HWCR || m == MSR_AMD64_DE_CFG) && amd => Ok(()),
        MSR_AMD64_NB_CFG => Ok(()),
        MSR_FAM10H_MMIO_CONF_BASE if amd && (0x10..0x17).contains(&family(env)) => Ok(()),
        // MPERF/APERF, PERF_CTL, THERM_CONTROL, ENERGY_PERF_BIAS: dom0 is
        // not a pinned cpufreq controller, so Xen drops them.
        0xe7 | 0xe8 if vendor != Vendor::Other => Ok(()),
        0x199 | 0x19a | 0x1b0 if intel => Ok(()),
        m if is_vpmu_msr(m, vendor) => Ok(()),
        XEN_MSR_BASE => write_hypercall_page(ctx, val),
        _ => Err(()),
    }
}

/// `guest_wrmsr_xen`: write the hypercall stubs into the guest frame
/// `val >> 12` (page index `val & 0xfff` must be 0), which must be the
/// domain's and typable as writable.
fn write_hypercall_page(ctx: &mut Ctx<'_>, val: u64) -> Result<(), ()> {
    if val & 0xfff != 0 {
        return Err(());
    }
    let mfn = Mfn(val >> 12);
    let dom = ctx.dom.id;
    let mut mm = PvMm::new(&mut *ctx.frames, &mut *ctx.mem, &mut *ctx.m2p, &mut *ctx.hooks);
    mm.get_page_and_type(mfn, dom, PageType::Writable).map_err(|_| ())?;
    let mut page = [0u8; hypercall_page::PAGE_SIZE];
    hypercall_page::fill(&mut page);
    mm.mem.write_bytes(mfn, 0, &page);
    mm.put_page_and_type(mfn);
    Ok(())
}

/// `rdmsr`.
pub fn rdmsr(ctx: &mut Ctx<'_>, env: &dyn EmulEnv) -> Result<(), EmulOutcome> {
    let msr = low32(ctx.regs.rcx);
    let value = match read_msr(ctx, env, msr) {
        Some(v) => v,
        None => {
            // Xen's "faking RDMSR": a guest without a #GP handler would die
            // of the fault, so an MSR the host has reads as 0.
            let no_gp_handler = ctx.v_ref().arch.trap_ctxt.get(13).is_none_or(|t| t.address == 0);
            if no_gp_handler && msr >> 16 != 0x4000 && env.read_host_msr(msr).is_some() {
                0
            } else {
                return Err(EmulOutcome::GP0);
            }
        }
    };
    ctx.regs.rax = value & 0xffff_ffff;
    ctx.regs.rdx = value >> 32;
    Ok(())
}

/// `wrmsr`.
pub fn wrmsr(ctx: &mut Ctx<'_>, env: &dyn EmulEnv) -> Result<(), EmulOutcome> {
    let msr = low32(ctx.regs.rcx);
    let val = (ctx.regs.rdx << 32) | (ctx.regs.rax & 0xffff_ffff);
    write_msr(ctx, env, msr, val).map_err(|()| EmulOutcome::GP0)
}

/// `rdtsc` that faulted because the guest set CR4.TSD: allowed in
/// guest-kernel mode (`#GP` in user mode), reads the TSC.
pub fn rdtsc(ctx: &mut Ctx<'_>, env: &dyn EmulEnv) -> Result<(), EmulOutcome> {
    const CR4_TSD: u64 = 1 << 2;
    let v = ctx.v_ref();
    if v.arch.cr4 & CR4_TSD != 0 && !v.arch.kernel_mode {
        return Err(EmulOutcome::GP0);
    }
    let tsc = env.read_host_msr(MSR_TSC).ok_or(EmulOutcome::GP0)?;
    ctx.regs.rax = tsc & 0xffff_ffff;
    ctx.regs.rdx = tsc >> 32;
    Ok(())
}
