// SPDX-License-Identifier: GPL-2.0-only
//! Switching a CPU between PV vCPUs (Xen's `context_switch`,
//! `save_segments` and `load_segments` in `arch/x86/domain.c`).
//!
//! A running vCPU's registers live in the CPU's guest frame (the context's
//! `regs`), its FS base and active GS base in the CPU's MSRs, its data
//! selectors in the segment registers and its FPU state in the FPU. When
//! the CPU leaves it, [`save_vcpu`] copies all of that into the vCPU
//! (`arch.user_regs`, `fs_base`, the active mode's GS base, the FPU area);
//! [`load_vcpu`] puts the next vCPU's state back: registers into the frame,
//! page table, GDT/LDT copies, data selectors and bases, virtual CR0.TS
//! and CR4 bits, FPU. A data selector that the guest's tables no longer
//! allow is loaded as null and the guest's failsafe callback gets the
//! selectors it had (Xen's `load_segments` fault path); without a failsafe
//! callback the domain is crashed.

use guest_abi::xen::CpuUserRegs;

use super::ctx::Ctx;
use super::descriptor;
use super::platform::{DataSeg, SegBaseReg};
use super::traps::{TrapBounce, create_bounce_frame};

/// The FXSAVE image of a vCPU's x87/SSE state (512 bytes, 16-aligned).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct FpuArea(pub [u8; 512]);

impl FpuArea {
    /// The state after `FNINIT` with SSE enabled (FCW 0x37f, MXCSR 0x1f80,
    /// empty tags): what a new vCPU starts with.
    #[must_use]
    pub fn initial() -> Self {
        let mut a = [0u8; 512];
        a[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        a[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        a[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
        Self(a)
    }
}

impl Default for FpuArea {
    fn default() -> Self {
        Self::initial()
    }
}

impl core::fmt::Debug for FpuArea {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FpuArea { .. }")
    }
}

/// Saves the running vCPU of `ctx` (whose registers are `ctx.regs`) into
/// its `arch` state: the CPU is about to run something else.
pub fn save_vcpu(ctx: &mut Ctx<'_>) {
    let fs = ctx.platform.segment_base(SegBaseReg::Fs);
    let gs = ctx.platform.segment_base(SegBaseReg::Gs);
    let [ds, es, fsel, gsel] = ctx.platform.data_selectors();
    let mut regs = *ctx.regs;
    regs.ds = ds;
    regs.es = es;
    regs.fs = fsel;
    regs.gs = gsel;
    let mut fpu = FpuArea::initial();
    ctx.platform.fpu_save(&mut fpu);
    let v = ctx.v();
    v.arch.user_regs = regs;
    v.arch.fs_base = fs;
    if v.arch.kernel_mode {
        v.arch.gs_base_kernel = gs;
    } else {
        v.arch.gs_base_user = gs;
    }
    v.arch.fpu = fpu;
}

/// Makes the vCPU of `ctx` the one running on this CPU: its registers
/// (those `VCPUOP_initialise` left for its first run, else the saved ones)
/// go into `ctx.regs`, and its page table, descriptor tables, selectors,
/// bases, virtual CR0.TS, CR4 bits and FPU state into the CPU.
pub fn load_vcpu(ctx: &mut Ctx<'_>) {
    let v = ctx.v();
    let regs = v.arch.start_regs.take().unwrap_or(v.arch.user_regs);
    v.arch.reload_descriptors = false;
    *ctx.regs = regs;
    if let Some(t) = ctx.v_ref().current_table() {
        ctx.platform.load_cr3(t);
    }
    descriptor::reload_descriptor_tables(ctx);
    load_segments(ctx, [regs.ds, regs.es, regs.fs, regs.gs]);
    let (ts, cr4) = (ctx.v_ref().arch.fpu_ts, ctx.v_ref().arch.cr4);
    ctx.platform.set_cr0_ts(ts);
    ctx.platform.load_guest_cr4(cr4);
    let fpu = ctx.v_ref().arch.fpu;
    ctx.platform.fpu_restore(&fpu);
}

/// Loads the vCPU's data selectors `sels` (DS, ES, FS, GS) and then its FS
/// and GS bases (a selector load overwrites the base). Selectors the
/// guest's tables do not allow are loaded as null; then the failsafe
/// callback gets the selectors the guest had (Xen's `load_segments`).
pub fn load_segments(ctx: &mut Ctx<'_>, sels: [u16; 4]) {
    let mut all_ok = true;
    for (reg, sel) in [DataSeg::Ds, DataSeg::Es, DataSeg::Fs, DataSeg::Gs].into_iter().zip(sels) {
        let ok = sel <= 3 || descriptor::data_selector_loadable(ctx, sel);
        all_ok &= ok;
        ctx.platform.load_data_selector(reg, if ok { sel } else { 0 });
    }
    let v = ctx.v_ref();
    let fs = v.arch.fs_base;
    let gs = if v.arch.kernel_mode { v.arch.gs_base_kernel } else { v.arch.gs_base_user };
    ctx.platform.set_segment_base(SegBaseReg::Fs, fs);
    ctx.platform.set_segment_base(SegBaseReg::Gs, gs);
    if !all_ok {
        ctx.regs.ds = sels[0];
        ctx.regs.es = sels[1];
        ctx.regs.fs = sels[2];
        ctx.regs.gs = sels[3];
        let cb = ctx.v_ref().arch.callbacks.failsafe;
        let tb = TrapBounce {
            eip: cb.address,
            error_code: None,
            mask_events: cb.mask_events,
            failsafe: true,
        };
        // A failed bounce (no callback, bad stack) crashes the domain.
        let _ = create_bounce_frame(ctx, &tb);
    }
}

/// The registers a vCPU that never ran has: all zero.
#[must_use]
pub fn empty_regs() -> CpuUserRegs {
    bytemuck::Zeroable::zeroed()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests on known values")]
mod tests {
    use super::*;
    use crate::pv::test_support::{Fixture, GUEST_BASE};

    #[test]
    fn save_then_load_restores_registers_bases_selectors_and_fpu() {
        let mut f = Fixture::new();
        f.regs.rax = 0x1234;
        f.regs.rip = GUEST_BASE + 0x10;
        f.platform.fs = 0xaaaa_0000;
        f.platform.gs = 0xbbbb_0000;
        f.platform.selectors = [0xe02b, 0xe02b, 0, 0];
        f.platform.fpu.0[100] = 7;
        save_vcpu(&mut f.ctx());
        let v = &f.dom.vcpus[0];
        assert_eq!(v.arch.user_regs.rax, 0x1234);
        assert_eq!(v.arch.user_regs.ds, 0xe02b);
        assert_eq!((v.arch.fs_base, v.arch.gs_base_kernel), (0xaaaa_0000, 0xbbbb_0000));
        assert_eq!(v.arch.fpu.0[100], 7);
        // Something else ran meanwhile.
        f.regs = empty_regs();
        f.platform.fs = 0;
        f.platform.gs = 0;
        f.platform.selectors = [0; 4];
        f.platform.fpu = FpuArea::initial();
        load_vcpu(&mut f.ctx());
        assert_eq!(f.regs.rax, 0x1234);
        assert_eq!(f.regs.rip, GUEST_BASE + 0x10);
        assert_eq!((f.platform.fs, f.platform.gs), (0xaaaa_0000, 0xbbbb_0000));
        assert_eq!(f.platform.selectors, [0xe02b, 0xe02b, 0, 0], "FLAT_RING3_DS32 is loadable");
        assert_eq!(f.platform.fpu.0[100], 7);
        assert_eq!(f.platform.cr3, f.dom.vcpus[0].current_table());
    }

    #[test]
    fn the_first_run_takes_the_initialise_registers() {
        let mut f = Fixture::new();
        let mut start = empty_regs();
        start.rip = 0x4242;
        f.dom.vcpus[0].arch.start_regs = Some(start);
        load_vcpu(&mut f.ctx());
        assert_eq!(f.regs.rip, 0x4242);
        assert!(f.dom.vcpus[0].arch.start_regs.is_none());
    }

    #[test]
    fn a_bad_selector_goes_to_the_failsafe_callback() {
        let mut f = Fixture::new();
        f.dom.vcpus[0].arch.callbacks.failsafe.address = GUEST_BASE + 0x800;
        f.regs.rsp = GUEST_BASE + 0x8000;
        f.regs.cs = guest_abi::xen::FLAT_KERNEL_CS;
        // 0x1003: GDT entry 0x200, beyond the guest's (empty) GDT.
        load_segments(&mut f.ctx(), [0xe02b, 0x1003, 0, 0]);
        assert_eq!(f.platform.selectors, [0xe02b, 0, 0, 0]);
        assert_eq!(f.regs.rip, GUEST_BASE + 0x800);
        assert!(f.dom.shutdown.is_none());
        // The frame holds the selectors the guest had: DS at the lowest of
        // the four, above R11 and RCX.
        let frame = f.peek(f.regs.rsp, 6 * 8);
        let q = |i: usize| u64::from_le_bytes(frame[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!((q(2), q(3), q(4), q(5)), (0xe02b, 0x1003, 0, 0));
        // Without a failsafe callback the domain is crashed.
        let mut f = Fixture::new();
        load_segments(&mut f.ctx(), [0x1003, 0, 0, 0]);
        assert!(f.dom.shutdown.is_some());
    }
}
