// SPDX-License-Identifier: GPL-2.0-only
//! Privileged-instruction emulation for 64-bit PV guests (Xen's
//! `pv/emul-priv-op.c`, `pv/emul-inv-op.c` and the PV CPUID policy).
//!
//! A PV guest kernel runs in ring 3, so every privileged instruction it
//! executes raises `#GP(0)`; the machine layer hands that fault to
//! [`emulate_privileged_op`], which decodes the instruction at `RIP` and
//! runs it against the vCPU's *virtual* state. A `#UD` goes to
//! [`emulate_forced_invalid_op`], which only knows Xen's forced-emulation
//! prefix `ud2a; .ascii "xen"` followed by `cpuid`.
//!
//! # Pieces
//!
//! * `decode`: instruction fetch through the guest's page tables and a
//!   decoder for exactly the instructions emulated here;
//! * [`cpuid`]: [`pv_cpuid`] and [`guest_cpuid`], Xen's PV CPUID policy and
//!   the hypervisor leaves at `0x40000000`;
//! * [`msr`]: `rdmsr`/`wrmsr` (`read_msr`/`write_msr`, `guest_rdmsr`) and
//!   [`msr::XEN_MSR_PAT`], the PAT every PV guest assumes;
//! * `ctrl`: control and debug registers, `clts`, `xsetbv`;
//! * [`io`]: `in`/`out` with the virtual IOPL, the domain's port
//!   permissions and Xen's dom0 defaults ([`dom0_ioport_allowed`]);
//! * [`mem_write`]: decoder and executor of the memory-writing
//!   instructions that writable page tables (`pv::ptwr`) emulate.
//!
//! # Outcome contract
//!
//! [`EmulOutcome::Done`]: the instruction was emulated and `RIP` now points
//! after it. [`EmulOutcome::Inject`]: the caller bounces that exception to
//! the guest (`traps::inject_exception`); `RIP` is left at the instruction
//! for faults and points after it for the single-step / I/O-breakpoint
//! `#DB` trap. [`EmulOutcome::Unhandled`]: nothing was changed; the caller
//! bounces the original `#GP(0)` (or `#UD`), exactly what Xen does when
//! `x86_emulate` returns `X86EMUL_UNHANDLEABLE`.
//!
//! # Privilege
//!
//! Guest-kernel mode stands for CPL 0 (Xen fakes a DPL-0 `CS` for
//! `x86_emulate`'s `mode_ring0()`), guest-user mode for CPL 3: control,
//! debug register, MSR, cache, `xsetbv`, `clts` and `hlt` from user mode
//! get `#GP(0)`. Port I/O, `cli`/`sti` follow Xen's `iopl_ok`: the kernel
//! counts as ring 1 (ring 0 with `VMASST_TYPE_architectural_iopl`), user
//! mode as ring 3, compared with the virtual IOPL.
//!
//! # Simplifications against Xen (details in the submodules)
//!
//! * code whose `CS` descriptor (GDT or LDT) is not 64-bit decodes without
//!   REX prefixes, but segment bases and limits are not applied (every
//!   segment is treated as flat);
//! * `ins`/`outs`, `lmsw`/`smsw` and everything else `x86_emulate` could
//!   do are [`EmulOutcome::Unhandled`];
//! * `hlt` in guest-kernel mode blocks the vCPU (`Vcpu::blocked`, the
//!   effect of `SCHEDOP_block`) instead of bouncing `#GP` as Xen does;
//! * no I/O bitmap (`PHYSDEVOP_set_iobitmap`), no CPUID faulting, no vPMU.

pub mod cpuid;
pub mod io;
pub mod mem_write;
pub mod msr;

mod ctrl;
mod decode;

#[cfg(test)]
mod tests;

pub use cpuid::{
    XEN_CPUID_MAX_NUM_LEAVES, XEN_VERSION_MAJOR, XEN_VERSION_MINOR, guest_cpuid, pv_cpuid,
};
pub use io::dom0_ioport_allowed;

use decode::{Insn, Op};
use guest_abi::xen::CpuUserRegs;

use super::ctx::Ctx;
use crate::common::domain::Domain;

/// The machine as the emulator needs it; implemented by the machine layer
/// for the CPU the calling vCPU runs on.
pub trait EmulEnv {
    /// Raw host `CPUID` of `leaf`/`subleaf` as `[eax, ebx, ecx, edx]`.
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4];

    /// A real port read of `size` bytes (1, 2 or 4), zero-extended.
    fn io_in(&mut self, port: u16, size: u8) -> u32;

    /// A real port write of the low `size` bytes (1, 2 or 4) of `value`.
    fn io_out(&mut self, port: u16, size: u8, value: u32);

    /// Writes back and invalidates the CPU's caches (`WBINVD`).
    fn wbinvd(&mut self);

    /// A host MSR read (`rdmsr_safe`); `None` if it faults.
    fn read_host_msr(&self, msr: u32) -> Option<u64>;

    /// Loads `XCR[index]` for the running vCPU (`XSETBV`); `false` if the
    /// hardware refused.
    fn xsetbv(&mut self, index: u32, value: u64) -> bool;

    /// The XCR0 bits the host supports and the hypervisor context-switches
    /// for guests (Xen's `xfeature_mask`); 0 hides XSAVE (and everything
    /// built on it, AVX included) from the CPUID policy.
    fn xcr0_supported(&self) -> u64;

    /// The inclusive I/O port ranges of the UARTs the hypervisor's console
    /// drives, which dom0 must not touch (Xen's `ioports_deny_access` of the
    /// console ports). Default: COM1, `0x3f8-0x3ff`.
    fn console_ioports(&self) -> &[(u16, u16)] {
        &[(0x3f8, 0x3ff)]
    }

    /// Xen's `ioports_access_permitted`: may `dom` access every port in
    /// `first..=last` directly? The machine layer keeps the per-domain
    /// ranges. Default: the privileged domain gets [`dom0_ioport_allowed`]
    /// with the console UARTs ([`EmulEnv::console_ioports`]) denied;
    /// override it to deny more (the ACPI PM timer, `dom0_ioports_disable=`).
    ///
    /// Any other domain may use the ports the toolstack granted it
    /// (`XEN_DOMCTL_ioport_permission`, [`Domain::ioport_caps`]), never the
    /// console UARTs.
    fn ioports_permitted(&self, dom: &Domain, first: u16, last: u16) -> bool {
        let console = self.console_ioports();
        if dom.privileged {
            return (first..=last).all(|p| dom0_ioport_allowed(p, console));
        }
        dom.ioport_caps.contains_range(u64::from(first), u64::from(last))
            && !console.iter().any(|&(lo, hi)| lo <= last && first <= hi)
    }

    /// The hardware CR0 the vCPU runs with, apart from TS (Xen's
    /// `read_cr0()`). Default: [`DEFAULT_HOST_CR0`].
    fn host_cr0(&self) -> u64 {
        DEFAULT_HOST_CR0
    }

    /// The hypervisor's CR4 (Xen's `mmu_cr4_features`); guests see its PAE,
    /// MCE, OSFXSR and OSXMMEXCPT. Default: [`DEFAULT_HOST_CR4`].
    fn host_cr4(&self) -> u64 {
        DEFAULT_HOST_CR4
    }

    /// The guest changed its virtual CR4 to `guest_cr4`: load the real CR4
    /// derived from it (Xen's `write_cr4(pv_make_cr4(v))`: TSD, DE,
    /// FSGSBASE and OSXSAVE follow the guest). Default: nothing (the
    /// guest's choices stay virtual).
    fn load_guest_cr4(&mut self, guest_cr4: u64) {
        let _ = guest_cr4;
    }

    /// Loads hardware debug register `reg` (0–3, 6, 7) for the running
    /// vCPU. Default: nothing (the machine layer loads the virtual
    /// registers at context switch).
    fn set_debugreg(&mut self, reg: u8, value: u64) {
        let _ = (reg, value);
    }

    /// TSC frequency in kHz, for the Xen time leaf. Default: unknown (0).
    fn tsc_khz(&self) -> u32 {
        0
    }
}

/// Default [`EmulEnv::host_cr0`]: PE, MP, ET, NE, WP, PG.
pub const DEFAULT_HOST_CR0: u64 = 0x8001_0033;
/// Default [`EmulEnv::host_cr4`]: PAE, OSFXSR, OSXMMEXCPT.
pub const DEFAULT_HOST_CR4: u64 = 0x620;

/// What the caller does after an emulation attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmulOutcome {
    /// Emulated; `RIP` advanced past the instruction.
    Done,
    /// Bounce this exception to the guest.
    Inject {
        /// Exception vector.
        vector: u8,
        /// Error code to push, if the vector has one.
        error_code: Option<u32>,
        /// Fault address of a `#PF` (the guest's CR2).
        cr2: Option<u64>,
    },
    /// Not emulated and nothing changed: bounce the original exception.
    Unhandled,
}

/// Exception vectors used here.
mod vector {
    pub const DB: u8 = 1;
    pub const UD: u8 = 6;
    pub const GP: u8 = 13;
    pub const PF: u8 = 14;
}

impl EmulOutcome {
    /// `#GP(0)`.
    pub const GP0: Self = Self::Inject { vector: vector::GP, error_code: Some(0), cr2: None };
    /// `#UD`.
    pub const UD: Self = Self::Inject { vector: vector::UD, error_code: None, cr2: None };

    /// A `#PF` at `addr` with error code `ec` (the caller adds the
    /// user-mode bit, as `pv_inject_event` does).
    #[must_use]
    pub const fn page_fault(addr: u64, ec: u32) -> Self {
        Self::Inject { vector: vector::PF, error_code: Some(ec), cr2: Some(addr) }
    }
}

/// `X86_EFLAGS_TF`.
const EFLAGS_TF: u64 = 1 << 8;
/// `X86_EFLAGS_RF`.
const EFLAGS_RF: u64 = 1 << 16;
/// `DR_STEP` in DR6.
const DR6_BS: u64 = 1 << 14;
use crate::pv::debugreg::{DR6_DEFAULT, DR6_ZEROS};
/// `X86_DR6_BP_MASK`: breakpoint match bits B0-B3.
const DR6_BP_MASK: u64 = 0xf;

/// Xen's `pv_emulate_privileged_op`: emulate the instruction that raised
/// `#GP(0)` at `ctx.regs.rip`.
///
/// A fetch fault gives `#PF` (error code 0, as Xen's `insn_fetch`); an
/// instruction longer than 15 bytes or a fetch from the hypervisor's
/// address range gives `#GP(0)`.
pub fn emulate_privileged_op(ctx: &mut Ctx<'_>, env: &mut dyn EmulEnv) -> EmulOutcome {
    let long_mode = super::descriptor::cs_is_long_mode(ctx);
    let insn = match decode::decode(ctx, long_mode) {
        Ok(i) => i,
        Err(outcome) => return outcome,
    };
    execute(ctx, env, &insn)
}

/// Xen's `emulate_forced_invalid_op`: after `#UD`, emulate `cpuid` behind
/// the forced-emulation prefix `0f 0b 78 65 6e` (`ud2a; .ascii "xen"`).
///
/// Anything else is [`EmulOutcome::Unhandled`] (the caller bounces `#UD`);
/// a fault while reading the 7 bytes is a `#PF` at the first unreadable
/// byte, as in Xen. Allowed from guest-user mode too.
pub fn emulate_forced_invalid_op(ctx: &mut Ctx<'_>, env: &mut dyn EmulEnv) -> EmulOutcome {
    const SIG: [u8; 5] = [0x0f, 0x0b, b'x', b'e', b'n'];
    const CPUID: [u8; 2] = [0x0f, 0xa2];
    let rip = ctx.regs.rip;
    let mut sig = [0u8; 5];
    if let Err(addr) = decode::fetch_exact(ctx, rip, &mut sig) {
        return EmulOutcome::page_fault(addr, 0);
    }
    if sig != SIG {
        return EmulOutcome::Unhandled;
    }
    let at = rip.wrapping_add(5);
    let mut op = [0u8; 2];
    if let Err(addr) = decode::fetch_exact(ctx, at, &mut op) {
        return EmulOutcome::page_fault(addr, 0);
    }
    if op != CPUID {
        return EmulOutcome::Unhandled;
    }
    emulate_cpuid(ctx, env, true);
    complete(ctx, 7, 0)
}

/// Runs a decoded instruction.
fn execute(ctx: &mut Ctx<'_>, env: &mut dyn EmulEnv, insn: &Insn) -> EmulOutcome {
    let kernel = ctx.v_ref().arch.kernel_mode;
    if insn.lock && insn.op != Op::Other {
        return EmulOutcome::UD;
    }
    let privileged = matches!(
        insn.op,
        Op::Rdmsr
            | Op::Wrmsr
            | Op::Clts
            | Op::Wbinvd
            | Op::Hlt
            | Op::MovFromCr { .. }
            | Op::MovToCr { .. }
            | Op::MovFromDr { .. }
            | Op::MovToDr { .. }
    );
    if privileged && !kernel {
        return EmulOutcome::GP0;
    }
    let len = insn.len;
    let result = match insn.op {
        Op::Cpuid => {
            emulate_cpuid(ctx, env, false);
            Ok(0)
        }
        Op::Rdmsr => msr::rdmsr(ctx, env).map(|()| 0),
        Op::Wrmsr => msr::wrmsr(ctx, env).map(|()| 0),
        Op::Rdtsc => msr::rdtsc(ctx, env).map(|()| 0),
        Op::Rdtscp => Err(EmulOutcome::UD),
        Op::Clts => {
            ctrl::clts(ctx);
            Ok(0)
        }
        Op::Wbinvd => {
            // Xen's cache_op: only a domain with I/O capabilities flushes
            // for real; others are ignored (Linux uses it in timing loops).
            if ctx.dom.privileged {
                env.wbinvd();
            }
            Ok(0)
        }
        Op::Xsetbv => ctrl::xsetbv(ctx, env, insn.has_simd_prefix()).map(|()| 0),
        Op::Hlt => {
            ctx.v().blocked = true;
            Ok(0)
        }
        Op::Cli | Op::Sti => {
            // Xen's validate(): a no-op when the virtual IOPL allows it
            // (the upcall mask is deliberately not touched), else #GP.
            if io::iopl_ok(ctx) { Ok(0) } else { Err(EmulOutcome::Unhandled) }
        }
        Op::MovFromCr { cr, gpr } => ctrl::read_cr(ctx, env, cr).map(|v| {
            set_gpr(ctx.regs, gpr, v);
            0
        }),
        Op::MovToCr { cr, gpr } => {
            let v = gpr_value(ctx.regs, gpr);
            ctrl::write_cr(ctx, env, cr, v).map(|()| 0)
        }
        Op::MovFromDr { dr, gpr } => ctrl::read_dr(ctx, dr).map(|v| {
            set_gpr(ctx.regs, gpr, v);
            0
        }),
        Op::MovToDr { dr, gpr } => {
            let v = gpr_value(ctx.regs, gpr);
            ctrl::write_dr(ctx, env, dr, v).map(|()| 0)
        }
        Op::In { port, size } => io::emulate_in(ctx, env, port.resolve(ctx.regs), size),
        Op::Out { port, size } => io::emulate_out(ctx, env, port.resolve(ctx.regs), size),
        Op::Other => Err(EmulOutcome::Unhandled),
    };
    match result {
        Ok(bpmatch) => complete(ctx, len, bpmatch),
        Err(outcome) => outcome,
    }
}

/// `cpuid` with the vCPU's view, `via_fep` for the forced-emulation path.
fn emulate_cpuid(ctx: &mut Ctx<'_>, env: &dyn EmulEnv, via_fep: bool) {
    let leaf = low32(ctx.regs.rax);
    let subleaf = low32(ctx.regs.rcx);
    let [a, b, c, d] = guest_cpuid(ctx.dom, ctx.v_ref(), via_fep, leaf, subleaf, env);
    ctx.regs.rax = u64::from(a);
    ctx.regs.rbx = u64::from(b);
    ctx.regs.rcx = u64::from(c);
    ctx.regs.rdx = u64::from(d);
}

/// Retires an emulated instruction of `len` bytes (Xen's
/// `pv_emul_instruction_done` plus `x86_emulate`'s single-step): RF is
/// cleared, and a pending single step or I/O breakpoint match (`bpmatch`,
/// DR6 bits 0–3) raises the `#DB` trap with DR6 updated.
pub(crate) fn complete(ctx: &mut Ctx<'_>, len: u64, bpmatch: u64) -> EmulOutcome {
    ctx.regs.rip = ctx.regs.rip.wrapping_add(len);
    let single_step = ctx.regs.rflags & EFLAGS_TF != 0;
    ctx.regs.rflags &= !EFLAGS_RF;
    let hit = bpmatch | if single_step { DR6_BS } else { 0 };
    if hit == 0 {
        return EmulOutcome::Done;
    }
    let v = ctx.v();
    if let Some(dr6) = v.arch.debugreg.get_mut(6) {
        // x86_merge_dr6: breakpoint matches B0-B3 are not sticky.
        *dr6 = ((*dr6 & !DR6_BP_MASK) | hit | DR6_DEFAULT) & !DR6_ZEROS;
    }
    EmulOutcome::Inject { vector: vector::DB, error_code: None, cr2: None }
}

/// The low 32 bits of a register.
#[allow(clippy::cast_possible_truncation, reason = "deliberate truncation to the 32-bit half")]
const fn low32(v: u64) -> u32 {
    v as u32
}

/// General-purpose register `n` (0 = RAX … 15 = R15, x86 encoding order).
const fn gpr_value(regs: &CpuUserRegs, n: u8) -> u64 {
    match n & 15 {
        0 => regs.rax,
        1 => regs.rcx,
        2 => regs.rdx,
        3 => regs.rbx,
        4 => regs.rsp,
        5 => regs.rbp,
        6 => regs.rsi,
        7 => regs.rdi,
        8 => regs.r8,
        9 => regs.r9,
        10 => regs.r10,
        11 => regs.r11,
        12 => regs.r12,
        13 => regs.r13,
        14 => regs.r14,
        _ => regs.r15,
    }
}

/// Sets general-purpose register `n` (full 64 bits).
fn set_gpr(regs: &mut CpuUserRegs, n: u8, v: u64) {
    let slot = match n & 15 {
        0 => &mut regs.rax,
        1 => &mut regs.rcx,
        2 => &mut regs.rdx,
        3 => &mut regs.rbx,
        4 => &mut regs.rsp,
        5 => &mut regs.rbp,
        6 => &mut regs.rsi,
        7 => &mut regs.rdi,
        8 => &mut regs.r8,
        9 => &mut regs.r9,
        10 => &mut regs.r10,
        11 => &mut regs.r11,
        12 => &mut regs.r12,
        13 => &mut regs.r13,
        14 => &mut regs.r14,
        _ => &mut regs.r15,
    };
    *slot = v;
}

/// Whether `va` is canonical (bits 63..47 all equal).
const fn is_canonical(va: u64) -> bool {
    let top = va >> 47;
    top == 0 || top == (u64::MAX >> 47)
}
