// SPDX-License-Identifier: GPL-2.0-only
//! Control registers, debug registers, `clts` and `xsetbv` (Xen's
//! `read_cr`/`write_cr`, `x86emul_read_dr`/`set_debugreg`,
//! `x86emul_write_xcr`/`handle_xsetbv`).
//!
//! * CR0 reads the hypervisor's CR0 with the virtual TS; a write may only
//!   change TS (`fpu_taskswitch`), anything else is refused (`#GP`).
//! * CR2 is the virtual `PvVcpu::cr2`, mirrored into `vcpu_info.arch.cr2`.
//! * CR3 reads `xen_pfn_to_cr3` of the kernel base pointer (PV guests are
//!   not translated: gfn = mfn); a write installs a new one through
//!   `MMUEXT_NEW_BASEPTR` (an L4 type reference on the new table) and
//!   reloads CR3. A frame that is not a valid L4 of the domain: `#GP`.
//! * CR4 reads Xen's PV view: the hypervisor's PAE, MCE, OSFXSR and
//!   OSXMMEXCPT plus the guest-controlled TSD, DE, FSGSBASE and OSXSAVE
//!   (kept in `PvVcpu::cr4`, each only if the CPUID policy has the
//!   feature). Writes never fault: other bits are ignored
//!   (`pv_fixup_guest_cr4`), and the machine layer is asked to load the
//!   matching real CR4.
//! * Other control registers (CR8 included): not emulated (`#GP`).
//! * Debug registers go through [`crate::pv::debugreg`] (the same checks as
//!   the `set_debugreg` hypercall): `-ENODEV` is `#UD` (DR4/DR5 with
//!   CR4.DE, DR8–DR15), any other refusal `#GP(0)`.
//! * `xsetbv`: `#UD` with a `66`/`f2`/`f3` prefix or virtual CR4.OSXSAVE
//!   clear, `#GP` from user mode, for an XCR other than 0, for bits outside
//!   the PV XCR0 policy, for an architecturally invalid XCR0, or when the
//!   hardware refuses.

use guest_abi::xen::{Errno, MmuextCmd, MmuextOp, xen_cr3_to_pfn, xen_pfn_to_cr3};

use super::cpuid::{FEAT_DE, FEAT_FSGSBASE, FEAT_TSC, FEAT_XSAVE, pv_cpuid};
use super::cpuid::{XCR0_BNDCSR, XCR0_BNDREGS, XCR0_FP, XCR0_HI_ZMM, XCR0_OPMASK, XCR0_SSE};
use super::cpuid::{XCR0_TILE_CFG, XCR0_TILE_DATA, XCR0_YMM, XCR0_ZMM, pv_xcr0_max};
use super::{EmulEnv, EmulOutcome};
use crate::mm::pv::{MmuEffect, PvMm};
use crate::pv::ctx::Ctx;
use crate::pv::debugreg;

/// CR0.TS.
pub const CR0_TS: u64 = 1 << 3;
/// CR4.TSD.
pub const CR4_TSD: u64 = 1 << 2;
/// CR4.DE.
pub const CR4_DE: u64 = 1 << 3;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.MCE.
pub const CR4_MCE: u64 = 1 << 6;
/// CR4.OSFXSR.
pub const CR4_OSFXSR: u64 = 1 << 9;
/// CR4.OSXMMEXCPT.
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
/// CR4.FSGSBASE.
pub const CR4_FSGSBASE: u64 = 1 << 16;
/// CR4.OSXSAVE.
pub const CR4_OSXSAVE: u64 = 1 << 18;

/// `PV_CR4_GUEST_MASK`: the CR4 bits a PV guest controls.
pub const PV_CR4_GUEST_MASK: u64 = CR4_TSD | CR4_DE | CR4_FSGSBASE | CR4_OSXSAVE;
/// `PV_CR4_GUEST_VISIBLE_MASK`: the hypervisor's CR4 bits a guest sees.
pub const PV_CR4_GUEST_VISIBLE_MASK: u64 = CR4_PAE | CR4_MCE | CR4_OSFXSR | CR4_OSXMMEXCPT;

/// The guest's virtual CR4.
pub fn guest_cr4(ctx: &Ctx<'_>, env: &dyn EmulEnv) -> u64 {
    (ctx.v_ref().arch.cr4 & PV_CR4_GUEST_MASK) | (env.host_cr4() & PV_CR4_GUEST_VISIBLE_MASK)
}

/// `pv_fixup_guest_cr4`: the guest-controlled bits of `cr4` its CPUID
/// policy permits.
fn fixup_guest_cr4(ctx: &Ctx<'_>, env: &dyn EmulEnv, cr4: u64) -> u64 {
    let l1 = pv_cpuid(ctx.dom, 1, 0, env);
    let l7 = pv_cpuid(ctx.dom, 7, 0, env);
    let mut allowed = 0;
    if l1[3] & FEAT_TSC != 0 {
        allowed |= CR4_TSD;
    }
    if l1[3] & FEAT_DE != 0 {
        allowed |= CR4_DE;
    }
    if l7[1] & FEAT_FSGSBASE != 0 {
        allowed |= CR4_FSGSBASE;
    }
    if l1[2] & FEAT_XSAVE != 0 {
        allowed |= CR4_OSXSAVE;
    }
    cr4 & PV_CR4_GUEST_MASK & allowed
}

/// `mov %crN, reg`.
pub fn read_cr(ctx: &Ctx<'_>, env: &dyn EmulEnv, cr: u8) -> Result<u64, EmulOutcome> {
    let v = ctx.v_ref();
    match cr {
        0 => Ok((env.host_cr0() & !CR0_TS) | if v.arch.fpu_ts { CR0_TS } else { 0 }),
        2 => Ok(v.arch.cr2),
        3 => Ok(v.arch.tables.guest_table.map_or(0, |m| xen_pfn_to_cr3(m.0))),
        4 => Ok(guest_cr4(ctx, env)),
        _ => Err(EmulOutcome::Unhandled),
    }
}

/// `mov reg, %crN`.
pub fn write_cr(
    ctx: &mut Ctx<'_>,
    env: &mut dyn EmulEnv,
    cr: u8,
    val: u64,
) -> Result<(), EmulOutcome> {
    match cr {
        0 => {
            // "Attempt to change unmodifiable CR0 flags" fails the
            // emulation in Xen.
            if (val ^ env.host_cr0()) & !CR0_TS != 0 {
                return Err(EmulOutcome::Unhandled);
            }
            set_ts(ctx, val & CR0_TS != 0);
            Ok(())
        }
        2 => {
            ctx.v().arch.cr2 = val;
            ctx.set_vcpu_info_cr2(val);
            Ok(())
        }
        3 => new_guest_cr3(ctx, val),
        4 => {
            let bits = fixup_guest_cr4(ctx, env, val);
            ctx.v().arch.cr4 = bits;
            env.load_guest_cr4(guest_cr4(ctx, env));
            Ok(())
        }
        _ => Err(EmulOutcome::Unhandled),
    }
}

/// `do_fpu_taskswitch`.
fn set_ts(ctx: &mut Ctx<'_>, ts: bool) {
    ctx.v().arch.fpu_ts = ts;
    ctx.platform.set_cr0_ts(ts);
}

/// `clts`: clears the virtual CR0.TS.
pub fn clts(ctx: &mut Ctx<'_>) {
    set_ts(ctx, false);
}

/// CR3 write: `new_guest_cr3` via `MMUEXT_NEW_BASEPTR`, then `write_ptbase`.
fn new_guest_cr3(ctx: &mut Ctx<'_>, val: u64) -> Result<(), EmulOutcome> {
    let op = MmuextOp::new(MmuextCmd::NewBaseptr, xen_cr3_to_pfn(val), 0);
    let dom = ctx.dom.id;
    let Some(vcpu) = ctx.dom.vcpus.get_mut(ctx.vcpu) else {
        return Err(EmulOutcome::Unhandled);
    };
    let mut tables = vcpu.arch.tables;
    let mut effects = alloc::vec::Vec::new();
    let mut mm = PvMm::new(&mut *ctx.frames, &mut *ctx.mem, &mut *ctx.m2p, &mut *ctx.hooks);
    let (_, rc) = mm.do_mmuext_op(dom, core::slice::from_ref(&op), &mut tables, &mut effects);
    vcpu.arch.tables = tables;
    rc.map_err(|_| EmulOutcome::Unhandled)?;
    if let (true, Some(l4)) = (effects.contains(&MmuEffect::WritePtbase), tables.guest_table) {
        ctx.platform.write_ptbase(l4);
    }
    Ok(())
}

/// `mov %drN, reg` (`x86emul_read_dr`; `-ENODEV` is `#UD`).
pub fn read_dr(ctx: &Ctx<'_>, dr: u8) -> Result<u64, EmulOutcome> {
    debugreg::read_debugreg(&ctx.v_ref().arch, u64::from(dr)).map_err(|_| EmulOutcome::UD)
}

/// `mov reg, %drN` (`x86emul_write_dr`: `set_debugreg`, `-ENODEV` → `#UD`,
/// other failures → `#GP`), loading the hardware register written.
pub fn write_dr(
    ctx: &mut Ctx<'_>,
    env: &mut dyn EmulEnv,
    dr: u8,
    val: u64,
) -> Result<(), EmulOutcome> {
    match debugreg::set_debugreg(&mut ctx.v().arch, u64::from(dr), val) {
        Ok(slot) => {
            let stored = ctx.v_ref().arch.debugreg.get(slot).copied().unwrap_or(0);
            env.set_debugreg(u8::try_from(slot).unwrap_or(7), stored);
            Ok(())
        }
        Err(Errno::ENODEV) => Err(EmulOutcome::UD),
        Err(_) => Err(EmulOutcome::GP0),
    }
}

/// Xen's `valid_xcr0`.
#[must_use]
pub const fn valid_xcr0(xcr0: u64) -> bool {
    const AVX512: u64 = XCR0_OPMASK | XCR0_ZMM | XCR0_HI_ZMM;
    const MPX: u64 = XCR0_BNDREGS | XCR0_BNDCSR;
    const AMX: u64 = XCR0_TILE_CFG | XCR0_TILE_DATA;
    if xcr0 & XCR0_FP == 0 {
        return false;
    }
    if xcr0 & XCR0_YMM != 0 && xcr0 & XCR0_SSE == 0 {
        return false;
    }
    if xcr0 & AVX512 != 0 && (xcr0 & XCR0_YMM == 0 || xcr0 & AVX512 != AVX512) {
        return false;
    }
    let mpx = xcr0 & MPX;
    let amx = xcr0 & AMX;
    (mpx == 0 || mpx == MPX) && (amx == 0 || amx == AMX)
}

/// `xsetbv`.
pub fn xsetbv(
    ctx: &mut Ctx<'_>,
    env: &mut dyn EmulEnv,
    simd_prefix: bool,
) -> Result<(), EmulOutcome> {
    if simd_prefix || guest_cr4(ctx, env) & CR4_OSXSAVE == 0 {
        return Err(EmulOutcome::UD);
    }
    if !ctx.v_ref().arch.kernel_mode {
        return Err(EmulOutcome::GP0);
    }
    let index = super::low32(ctx.regs.rcx);
    let val = (ctx.regs.rdx << 32) | (ctx.regs.rax & 0xffff_ffff);
    if index != 0 || val & !pv_xcr0_max(env) != 0 || !valid_xcr0(val) {
        return Err(EmulOutcome::GP0);
    }
    if !env.xsetbv(index, val) {
        return Err(EmulOutcome::GP0);
    }
    Ok(())
}
