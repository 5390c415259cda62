// SPDX-License-Identifier: GPL-2.0-only
//! The PV CPUID policy: what a 64-bit PV guest sees for each leaf.
//!
//! Xen builds `pv_def_policy` from the host policy and the featureset
//! markers of `public/arch-x86/cpufeatureset.h`: a PV guest gets the `A`
//! (all guests, default-on) features and never the `S`/`H` (HVM-only) or
//! unmarked ones. [`pv_cpuid`] is that static view, in the shape of Xen's
//! `guest_cpuid` first pass (`xen/arch/x86/cpuid.c`, `cpu-policy.c`
//! `recalculate_misc`/`recalculate_xstate`); [`guest_cpuid`] adds the
//! second, per-vCPU pass (OSXSAVE from the virtual CR4, dom0's MTRR leak).
//!
//! * basic leaves up to `0xd`; out-of-range leaves read as zero (the AMD
//!   model, as in Xen); leaf 1 clobbers the processor type and the initial
//!   APIC ID (PV guests see APIC ID 0, the `vcpu_id * 2` of Xen is HVM-only)
//!   and always sets HYPERVISOR; MONITOR (5), thermal (6), DCA (9), vPMU
//!   (`0xa`), topology (`0xb`) and PSN (3) leaves are empty;
//! * XSAVE state (`0xd`) is limited to x87, SSE, AVX and AVX-512 (MPX, PKRU,
//!   AMX, LWP and XSAVES are not PV features);
//! * extended leaves up to `0x80000008` (Intel) or `0x80000021` (AMD), with
//!   Xen's vendor-specific clobbering; AMD leaves `0x80000009..0x80000020`
//!   are empty;
//! * hypervisor leaves at `0x40000000` ([`XEN_CPUID_MAX_NUM_LEAVES`] + 1
//!   leaves, "XenVMMXenVMM", version, hypercall page and MSR base, time,
//!   HVM (empty for PV), PV machine address width).
//!
//! Deviations from Xen's PV default policy, because the MSRs behind them
//! are not virtualised here: IBRSB/STIBP/SSBD/IBPB (`MSR_SPEC_CTRL`,
//! `MSR_PRED_CMD`), ARCH_CAPS (`MSR_ARCH_CAPABILITIES`) and
//! RDTSCP/RDPID (`MSR_TSC_AUX`) are hidden. Dom0's MONITOR/EIST leaks (for
//! `XENPF_set_processor_pminfo`) are not reproduced; no toolstack policy
//! (`XEN_DOMCTL_set_cpu_policy`) yet.

use super::EmulEnv;
use crate::common::domain::{Domain, Vcpu};

/// Major version reported in leaf `0x40000001`: the one `XENVER_version`
/// reports (kept below 4.2 so Linux dom0 skips the platform-op paths that
/// newer versions enable).
pub const XEN_VERSION_MAJOR: u16 = crate::pv::hypercall::version::XEN_MAJOR;
/// Minor version reported in leaf `0x40000001`.
pub const XEN_VERSION_MINOR: u16 = crate::pv::hypercall::version::XEN_MINOR;

/// First hypervisor leaf (no Viridian shift for PV guests).
pub const XEN_CPUID_BASE: u32 = 0x4000_0000;
/// Number of Xen leaves after the base (`XEN_CPUID_MAX_NUM_LEAVES`).
pub const XEN_CPUID_MAX_NUM_LEAVES: u32 = 5;
/// `XEN_CPUID_SIGNATURE_EBX`: "XenV".
pub const XEN_CPUID_SIGNATURE_EBX: u32 = 0x566e_6558;
/// `XEN_CPUID_SIGNATURE_ECX`: "MMXe".
pub const XEN_CPUID_SIGNATURE_ECX: u32 = 0x6558_4d4d;
/// `XEN_CPUID_SIGNATURE_EDX`: "nVMM".
pub const XEN_CPUID_SIGNATURE_EDX: u32 = 0x4d4d_566e;
/// `XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD` (leaf 3, ECX).
pub const XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD: u32 = 1;
/// Base of the hypervisor MSRs (hypercall page MSR).
pub const XEN_MSR_BASE: u32 = 0x4000_0000;

/// Highest basic leaf a guest can see (`CPUID_GUEST_NR_BASIC - 1`).
const MAX_BASIC: u32 = 0xd;
/// Highest extended leaf on Intel (`CPUID_GUEST_NR_EXTD_INTEL - 1`).
const MAX_EXTD_INTEL: u32 = 0x8000_0008;
/// Highest extended leaf on AMD (`CPUID_GUEST_NR_EXTD_AMD - 1`).
const MAX_EXTD_AMD: u32 = 0x8000_0021;

/// Builds a mask from bit numbers (evaluated at compile time only, where
/// an out-of-range index or shift is a build error).
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "const evaluation of literal bit lists"
)]
const fn bits(list: &[u32]) -> u32 {
    let mut m = 0u32;
    let mut i = 0;
    while i < list.len() {
        m |= 1 << list[i];
        i += 1;
    }
    m
}

/// Leaf 1 EDX (featureset word 0) bits a PV guest sees: FPU DE TSC MSR PAE
/// MCE CX8 APIC SEP MCA CMOV PAT CLFLUSH ACPI MMX FXSR SSE SSE2 SS HTT.
/// Hidden: VME PSE MTRR PGE PSE36 (`S`), PSN, DS TM1 PBE (unmarked).
pub const PV_1D: u32 =
    bits(&[0, 2, 4, 5, 6, 7, 8, 9, 11, 14, 15, 16, 19, 22, 23, 24, 25, 26, 27, 28]);
/// Leaf 1 ECX (word 1): SSE3 PCLMULQDQ SSSE3 FMA CX16 SSE4.1 SSE4.2 MOVBE
/// POPCNT AESNI XSAVE AVX F16C RDRAND HYPERVISOR. Hidden: DTES64 MONITOR
/// DS-CPL VMX SMX EIST TM2 SDBG XTPR PDCM PCID DCA X2APIC TSC_DEADLINE;
/// OSXSAVE is dynamic.
pub const PV_1C: u32 = bits(&[0, 1, 9, 12, 13, 19, 20, 22, 23, 25, 26, 28, 29, 30, 31]);
/// Leaf `0x80000001` EDX (word 2): SYSCALL NX MMXEXT FFXSR LM 3DNOWEXT
/// 3DNOW (RDTSCP hidden here, PAGE1GB is `H`).
pub const PV_E1D: u32 = bits(&[11, 20, 22, 25, 29, 30, 31]);
/// Leaf `0x80000001` ECX (word 3): LAHF_LM CMP_LEGACY ABM SSE4A
/// MISALIGNSSE 3DNOWPREFETCH XOP FMA4 TBM DBEXT ADDR_MSK_EXT.
pub const PV_E1C: u32 = bits(&[0, 1, 5, 6, 7, 8, 11, 16, 21, 26, 30]);
/// Leaf `0xd` subleaf 1 EAX (word 4): XSAVEOPT XSAVEC XGETBV1.
pub const PV_D1A: u32 = bits(&[0, 1, 2]);
/// Leaf 7 subleaf 0 EBX (word 5): FSGSBASE BMI1 AVX2 BMI2 ERMS RTM AVX512F
/// AVX512DQ RDSEED ADX AVX512_IFMA CLFLUSHOPT CLWB AVX512CD SHA AVX512BW
/// AVX512VL. Hidden: TSC_ADJUST SMEP SMAP MPX (`S`), INVPCID (`H`), SGX PQM
/// PQE PROC_TRACE (unmarked), HLE (`a`).
pub const PV_7B: u32 = bits(&[0, 3, 5, 8, 9, 11, 16, 17, 18, 19, 21, 23, 24, 28, 29, 30, 31]);
/// Word 5 "special" bits copied from the host (FDP_EXCP_ONLY, NO_FPU_SEL).
pub const PV_7B_HOST: u32 = bits(&[6, 13]);
/// Leaf 7 subleaf 0 ECX (word 6): PREFETCHWT1 AVX512_VBMI AVX512_VBMI2 GFNI
/// VAES VPCLMULQDQ AVX512_VNNI AVX512_BITALG AVX512_VPOPCNTDQ CLDEMOTE
/// (RDPID hidden here; UMIP `S`, PKU/PKS `H`, LA57 unmarked).
pub const PV_7C: u32 = bits(&[0, 1, 6, 8, 9, 10, 11, 12, 14, 25]);
/// Leaf 7 subleaf 0 EDX (word 9): FSRM MD_CLEAR SERIALIZE AVX512_FP16
/// (IBRSB STIBP ARCH_CAPS SSBD hidden here, L1D_FLUSH `S`).
pub const PV_7D: u32 = bits(&[4, 10, 14, 23]);
/// Leaf 7 subleaf 1 EAX (word 10): SHA512 SM3 SM4 AVX_VNNI AVX512_BF16 FZRM
/// FSRS FSRCS AVX_IFMA.
pub const PV_71A: u32 = bits(&[0, 1, 2, 4, 5, 10, 11, 12, 23]);
/// Leaf `0x80000007` EDX (word 7): nothing by default (ITSC is `a`).
pub const PV_E7D: u32 = 0;
/// Leaf `0x80000008` EBX (word 8): CLZERO RSTR_FP_ERR_PTRS SSB_NO BTC_NO
/// IBPB_RET (IBPB hidden here).
pub const PV_E8B: u32 = bits(&[0, 2, 26, 29, 30]);
/// Leaf `0x80000021` EAX (word 11): NO_NEST_BP LFENCE_DISPATCH VERW_CLEAR
/// NSCB AMD_FSRS AMD_FSRC.
pub const PV_E21A: u32 = bits(&[0, 2, 5, 6, 10, 11]);

/// Features that need AVX state (Xen's deep dependencies of AVX), by word:
/// leaf 1 ECX FMA AVX F16C.
const AVX_DEPS_1C: u32 = bits(&[12, 28, 29]);
/// Leaf 7 EBX: AVX2 and the AVX-512 set.
const AVX_DEPS_7B: u32 = bits(&[5, 16, 17, 21, 28, 30, 31]);
/// Leaf 7 ECX: AVX512_VBMI, VBMI2, VAES, VPCLMULQDQ, VNNI, BITALG, VPOPCNTDQ.
const AVX_DEPS_7C: u32 = bits(&[1, 6, 9, 10, 11, 12, 14]);
/// Leaf 7 EDX: AVX512_FP16.
const AVX_DEPS_7D: u32 = bits(&[23]);
/// Leaf 7:1 EAX: AVX_VNNI, AVX512_BF16, AVX_IFMA.
const AVX_DEPS_71A: u32 = bits(&[4, 5, 23]);
/// Leaf `0x80000001` ECX: XOP, FMA4.
const AVX_DEPS_E1C: u32 = bits(&[11, 16]);
/// Features that need AVX-512 state: leaf 7 EBX.
const AVX512_DEPS_7B: u32 = bits(&[16, 17, 21, 28, 30, 31]);
/// Leaf 7 ECX.
const AVX512_DEPS_7C: u32 = bits(&[1, 6, 11, 12, 14]);
/// Leaf 7 EDX.
const AVX512_DEPS_7D: u32 = bits(&[23]);
/// Leaf 7:1 EAX.
const AVX512_DEPS_71A: u32 = bits(&[5]);

/// `CPUID_COMMON_1D_FEATURES`: leaf 1 EDX bits AMD mirrors in
/// `0x80000001` EDX.
const COMMON_1D: u32 = 0x0183_f3ff;

/// Leaf 1 ECX: XSAVE.
pub const FEAT_XSAVE: u32 = 1 << 26;
/// Leaf 1 ECX: OSXSAVE.
pub const FEAT_OSXSAVE: u32 = 1 << 27;
/// Leaf 1 ECX: AVX.
const FEAT_AVX: u32 = 1 << 28;
/// Leaf 1 EDX: DE.
pub const FEAT_DE: u32 = 1 << 2;
/// Leaf 1 EDX: TSC.
pub const FEAT_TSC: u32 = 1 << 4;
/// Leaf 1 EDX: SEP.
const FEAT_SEP: u32 = 1 << 11;
/// Leaf 1 EDX: MTRR.
const FEAT_MTRR: u32 = 1 << 12;
/// Leaf 7 EBX: FSGSBASE.
pub const FEAT_FSGSBASE: u32 = 1 << 0;
/// Leaf 7 EBX: RTM.
pub const FEAT_RTM: u32 = 1 << 11;
/// Leaf 7 EBX: AVX512F.
const FEAT_AVX512F: u32 = 1 << 16;
/// Leaf `0x80000007` EDX: invariant TSC.
const FEAT_ITSC: u32 = 1 << 8;

/// XCR0: x87.
pub const XCR0_FP: u64 = 1 << 0;
/// XCR0: SSE.
pub const XCR0_SSE: u64 = 1 << 1;
/// XCR0: AVX (YMM).
pub const XCR0_YMM: u64 = 1 << 2;
/// XCR0: MPX bounds registers.
pub const XCR0_BNDREGS: u64 = 1 << 3;
/// XCR0: MPX bounds configuration.
pub const XCR0_BNDCSR: u64 = 1 << 4;
/// XCR0: AVX-512 opmask.
pub const XCR0_OPMASK: u64 = 1 << 5;
/// XCR0: AVX-512 ZMM_Hi256.
pub const XCR0_ZMM: u64 = 1 << 6;
/// XCR0: AVX-512 Hi16_ZMM.
pub const XCR0_HI_ZMM: u64 = 1 << 7;
/// XCR0: AMX TILECFG.
pub const XCR0_TILE_CFG: u64 = 1 << 17;
/// XCR0: AMX TILEDATA.
pub const XCR0_TILE_DATA: u64 = 1 << 18;

/// CR4.OSXSAVE.
const CR4_OSXSAVE: u64 = 1 << 18;

/// The host CPU vendor, as far as the policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// "GenuineIntel".
    Intel,
    /// "AuthenticAMD" or "HygonGenuine".
    Amd,
    /// Anything else (treated like Intel for clobbering).
    Other,
}

impl Vendor {
    /// The vendor of the host `env`.
    #[must_use]
    pub fn of(env: &dyn EmulEnv) -> Self {
        match env.cpuid(0, 0)[1] {
            0x756e_6547 => Self::Intel,
            0x6874_7541 | 0x6f67_7948 => Self::Amd,
            _ => Self::Other,
        }
    }
}

/// Which XSAVE-managed state the policy can offer, from the host's CPUID
/// and the XCR0 bits the hypervisor supports (Xen's `sanitise_featureset`
/// deep dependencies, reduced to XSAVE → AVX → AVX-512).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Xstate {
    xsave: bool,
    avx: bool,
    avx512: bool,
}

impl Xstate {
    fn of(env: &dyn EmulEnv) -> Self {
        let have = |bits: u64| env.xcr0_supported() & bits == bits;
        let l1c = env.cpuid(1, 0)[2];
        let l7b = env.cpuid(7, 0)[1];
        let xsave = l1c & FEAT_XSAVE != 0 && have(XCR0_FP | XCR0_SSE);
        let avx = xsave && l1c & FEAT_AVX != 0 && have(XCR0_YMM);
        let avx512 = avx && l7b & FEAT_AVX512F != 0 && have(XCR0_OPMASK | XCR0_ZMM | XCR0_HI_ZMM);
        Self { xsave, avx, avx512 }
    }

    /// Leaf 7 subleaf 0 EBX/ECX/EDX and subleaf 1 EAX masks.
    const fn leaf7_masks(self) -> [u32; 4] {
        if !self.avx {
            [!AVX_DEPS_7B, !AVX_DEPS_7C, !AVX_DEPS_7D, !AVX_DEPS_71A]
        } else if !self.avx512 {
            [!AVX512_DEPS_7B, !AVX512_DEPS_7C, !AVX512_DEPS_7D, !AVX512_DEPS_71A]
        } else {
            [u32::MAX; 4]
        }
    }
}

/// The XCR0 bits a PV guest may enable: x87 and SSE with XSAVE, AVX and
/// AVX-512 when the policy has them (Xen's `recalculate_xstate`); 0
/// without XSAVE.
#[must_use]
pub fn pv_xcr0_max(env: &dyn EmulEnv) -> u64 {
    let x = Xstate::of(env);
    let mut xcr0 = 0;
    if x.xsave {
        xcr0 |= XCR0_FP | XCR0_SSE;
    }
    if x.avx {
        xcr0 |= XCR0_YMM;
    }
    if x.avx512 {
        xcr0 |= XCR0_OPMASK | XCR0_ZMM | XCR0_HI_ZMM;
    }
    xcr0
}

/// Xen's static PV view of `leaf`/`subleaf` for `dom` (the first pass of
/// `guest_cpuid`, without per-vCPU adjustments).
#[must_use]
pub fn pv_cpuid(dom: &Domain, leaf: u32, subleaf: u32, env: &dyn EmulEnv) -> [u32; 4] {
    let _ = dom;
    let vendor = Vendor::of(env);
    match leaf {
        0..=MAX_BASIC => basic_leaf(env, vendor, leaf, subleaf),
        0x4000_0000..=0x4000_01ff => hypervisor_leaf(env, leaf, subleaf),
        0x8000_0000..=0x8000_ffff => extended_leaf(env, vendor, leaf, subleaf),
        _ => [0; 4],
    }
}

/// Xen's `guest_cpuid` for a running vCPU: [`pv_cpuid`] plus the dynamic
/// adjustments. `via_fep` says the request came through the
/// forced-emulation prefix (`#UD`), not a faulting `cpuid` (`#GP`).
///
/// Leaf 1 OSXSAVE follows the virtual CR4, or, for the enlightened path in
/// guest-kernel mode, the hypervisor's CR4 (a Linux ABI quirk Xen keeps).
/// Dom0's kernel additionally sees MTRR when the host has it (Xenolinux
/// uses it to detect `XENPF_*_memtype`).
#[must_use]
pub fn guest_cpuid(
    dom: &Domain,
    vcpu: &Vcpu,
    via_fep: bool,
    leaf: u32,
    subleaf: u32,
    env: &dyn EmulEnv,
) -> [u32; 4] {
    let mut r = pv_cpuid(dom, leaf, subleaf, env);
    if leaf == 1 && r != [0; 4] {
        let osxsave = vcpu.arch.cr4 & CR4_OSXSAVE != 0
            || (via_fep && vcpu.arch.kernel_mode && env.host_cr4() & CR4_OSXSAVE != 0);
        if osxsave && r[2] & FEAT_XSAVE != 0 {
            r[2] |= FEAT_OSXSAVE;
        }
        if dom.privileged && vcpu.arch.kernel_mode && env.cpuid(1, 0)[3] & FEAT_MTRR != 0 {
            r[3] |= FEAT_MTRR;
        }
    }
    r
}

/// Leaf 1 without dynamic bits.
fn leaf1_static(env: &dyn EmulEnv) -> [u32; 4] {
    let h = env.cpuid(1, 0);
    let mut d = h[3] & PV_1D;
    // On AMD, SYSENTER is unusable from long mode and Xen drops it from
    // the host capabilities.
    if Vendor::of(env) == Vendor::Amd {
        d &= !FEAT_SEP;
    }
    let mut c = h[2] & PV_1C;
    let x = Xstate::of(env);
    if !x.xsave {
        c &= !FEAT_XSAVE;
    }
    if !x.avx {
        c &= !AVX_DEPS_1C;
    }
    [h[0] & 0x0fff_0fff, h[1] & 0x00ff_ffff, c | (1 << 31), d]
}

/// Leaf 7 without dynamic bits.
fn leaf7_static(env: &dyn EmulEnv, subleaf: u32) -> [u32; 4] {
    let h0 = env.cpuid(7, 0);
    let [m7b, m7c, m7d, m71a] = Xstate::of(env).leaf7_masks();
    let sub1 = if h0[0] >= 1 { env.cpuid(7, 1)[0] & PV_71A & m71a } else { 0 };
    let max_sub = u32::from(sub1 != 0);
    match subleaf {
        0 => [
            max_sub,
            (h0[1] & PV_7B & m7b) | (h0[1] & PV_7B_HOST),
            h0[2] & PV_7C & m7c,
            h0[3] & PV_7D & m7d,
        ],
        1 if max_sub >= 1 => [sub1, 0, 0, 0],
        _ => [0; 4],
    }
}

/// Basic leaves `0..=0xd`.
fn basic_leaf(env: &dyn EmulEnv, vendor: Vendor, leaf: u32, subleaf: u32) -> [u32; 4] {
    let h0 = env.cpuid(0, 0);
    let max = h0[0].min(MAX_BASIC);
    if leaf > max {
        return [0; 4];
    }
    match leaf {
        0 => [max, h0[1], h0[2], h0[3]],
        1 => leaf1_static(env),
        2 if vendor != Vendor::Amd => {
            // Fixed to one query.
            let h = env.cpuid(2, 0);
            [(h[0] & !0xff) | 1, h[1], h[2], h[3]]
        }
        4 if vendor != Vendor::Amd => {
            let h = env.cpuid(4, subleaf);
            let ty = h[0] & 0x1f;
            if (1..=3).contains(&ty) { [h[0] & 0xffff_c3ff, h[1], h[2], h[3] & 7] } else { [0; 4] }
        }
        7 => leaf7_static(env, subleaf),
        0xd => xstate_leaf(env, subleaf),
        // 2/4 on AMD, PSN (3), MONITOR (5), power (6), 8, DCA (9),
        // vPMU (0xa, vPMU off), topology (0xb), 0xc.
        _ => [0; 4],
    }
}

/// Leaf `0xd` (XSAVE state components).
fn xstate_leaf(env: &dyn EmulEnv, subleaf: u32) -> [u32; 4] {
    let xcr0 = pv_xcr0_max(env);
    if xcr0 == 0 {
        return [0; 4];
    }
    match subleaf {
        0 => {
            let h = env.cpuid(0xd, 0);
            // EBX is the size for the current XCR0: read live.
            [lo32(xcr0), h[1], h[2], hi32(xcr0)]
        }
        1 => [env.cpuid(0xd, 1)[0] & PV_D1A, 0, 0, 0],
        2..=62 if xcr0 & (1u64 << subleaf) != 0 => {
            let h = env.cpuid(0xd, subleaf);
            // Size, offset, and only the alignment flag (no XSS states).
            [h[0], h[1], h[2] & 2, 0]
        }
        _ => [0; 4],
    }
}

/// Extended leaves `0x80000000..`.
fn extended_leaf(env: &dyn EmulEnv, vendor: Vendor, leaf: u32, subleaf: u32) -> [u32; 4] {
    let _ = subleaf;
    let h0 = env.cpuid(0x8000_0000, 0);
    let cap = if vendor == Vendor::Amd { MAX_EXTD_AMD } else { MAX_EXTD_INTEL };
    let max = if h0[0] >= 0x8000_0000 { h0[0].min(cap) } else { 0x8000_0000 };
    if leaf > max {
        return [0; 4];
    }
    let amd = vendor == Vendor::Amd;
    let h = env.cpuid(leaf, 0);
    match leaf {
        0x8000_0000 => {
            if amd {
                [max, h0[1], h0[2], h0[3]]
            } else {
                [max, 0, 0, 0]
            }
        }
        0x8000_0001 => {
            let avx = if Xstate::of(env).avx { u32::MAX } else { !AVX_DEPS_E1C };
            let c = h[2] & PV_E1C & avx;
            let d = h[3] & PV_E1D & !COMMON_1D;
            if amd {
                let l1 = leaf1_static(env);
                [l1[0], h[1] & 0xff00_ffff, c, d | (l1[3] & COMMON_1D)]
            } else {
                [0, 0, c, d]
            }
        }
        0x8000_0002..=0x8000_0004 => h,
        0x8000_0005 => {
            if amd {
                h
            } else {
                [0; 4]
            }
        }
        0x8000_0006 => {
            if amd {
                h
            } else {
                [0, 0, h[2], 0]
            }
        }
        0x8000_0007 => [0, 0, 0, h[3] & PV_E7D],
        0x8000_0008 => {
            // Physical address bits from the host, 48 linear bits.
            let phys = h[0] & 0xff;
            let c = if amd { h[2] & 0x0003_f0ff } else { 0 };
            [(48 << 8) | phys, h[1] & PV_E8B, c, 0]
        }
        0x8000_0021 => [h[0] & PV_E21A, 0, 0, 0],
        _ => [0; 4],
    }
}

/// The Xen leaves (`cpuid_hypervisor_leaves`).
fn hypervisor_leaf(env: &dyn EmulEnv, leaf: u32, subleaf: u32) -> [u32; 4] {
    let idx = leaf.wrapping_sub(XEN_CPUID_BASE);
    match idx {
        0 => [
            XEN_CPUID_BASE | XEN_CPUID_MAX_NUM_LEAVES,
            XEN_CPUID_SIGNATURE_EBX,
            XEN_CPUID_SIGNATURE_ECX,
            XEN_CPUID_SIGNATURE_EDX,
        ],
        1 => {
            [guest_abi::version::xen_version_number(XEN_VERSION_MAJOR, XEN_VERSION_MINOR), 0, 0, 0]
        }
        2 => [1, XEN_MSR_BASE, XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD, 0],
        3 => match subleaf {
            // No TSC emulation: tsc_mode "default", host TSC reliable when
            // invariant, RDTSCP as in the policy (hidden).
            0 => {
                let itsc = env.cpuid(0x8000_0007, 0)[3] & FEAT_ITSC != 0;
                [u32::from(itsc) << 1, 0, env.tsc_khz(), 0]
            }
            2 => [env.tsc_khz(), 0, 0, 0],
            // Subleaf 1: no vTSC offset or scale.
            _ => [0; 4],
        },
        // 4: the HVM leaf, empty for PV.
        5 if subleaf == 0 => {
            // Max machine address width: the host's physical address bits.
            let h0 = env.cpuid(0x8000_0000, 0);
            let bits = if h0[0] >= 0x8000_0008 { env.cpuid(0x8000_0008, 0)[0] & 0xff } else { 36 };
            [0, bits, 0, 0]
        }
        _ => [0; 4],
    }
}

/// Low half of a `u64`.
#[allow(clippy::cast_possible_truncation, reason = "deliberate split into 32-bit halves")]
const fn lo32(v: u64) -> u32 {
    v as u32
}

/// High half of a `u64`.
#[allow(clippy::cast_possible_truncation, reason = "deliberate split into 32-bit halves")]
const fn hi32(v: u64) -> u32 {
    (v >> 32) as u32
}
