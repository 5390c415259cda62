// SPDX-License-Identifier: GPL-2.0-only
//! A 64-bit PV guest's descriptor tables: its GDT and LDT as the CPU sees
//! them, the checks the hardware makes when the hypervisor returns to the
//! guest, and `SEGBASE_GS_USER_SEL`.
//!
//! The guest's GDT frames (`set_gdt`) and LDT pages (`MMUEXT_SET_LDT`) are
//! typed as segment-descriptor pages, so after validation the guest changes
//! them only through `update_descriptor`; the model here (frames plus
//! [`crate::mm::pv::PhysMem`]) is the authority and the machine layer keeps
//! a copy in the CPU's tables ([`load_gdt`], [`load_ldt`],
//! [`descriptor_written`]). GDT entries from `FIRST_RESERVED_GDT_ENTRY` up
//! are the hypervisor's, with Xen's flat ring-3 selectors for guests.
//!
//! Before every `iretq` to the guest (a vCPU's first start included) the
//! machine layer calls [`prepare_return_to_guest`], which asks
//! [`check_return_state`] what the CPU would raise for the selectors and
//! RIP in the frame; Xen lets the `iretq` fault and replays the fault as a
//! guest exception, which is what happens with the answer (or the domain
//! crashes): the hypervisor itself never faults on the way back.
//!
//! Simplification against Xen: the LDT is resolved when it is loaded
//! (`SET_LDT`, a new kernel base pointer), not on first use through a
//! shadow-mapping fault; an LDT page the guest has not mapped, or that
//! cannot be typed as a descriptor page, reads as not-present descriptors
//! (a selector load then gets `#NP`/`#GP` where Xen would bounce `#PF`).

use alloc::vec::Vec;

use guest_abi::xen::{FIRST_RESERVED_GDT_ENTRY, FLAT_RING3_CS64, FLAT_RING3_SS64};

use super::ctx::Ctx;
use super::guest_mem;
use super::platform::SegBaseReg;
use crate::PAGE_SIZE;
use crate::mm::Mfn;
use crate::mm::pv::{PageType, PhysMem};

#[cfg(test)]
mod tests;

/// Descriptors per page.
pub const DESCS_PER_PAGE: usize = 512;

/// Writable (data) / readable (code).
const RW: u64 = 1 << 41;
/// Conforming (code) / expand-down (data).
const CONFORMING: u64 = 1 << 42;
/// Code segment.
const CODE: u64 = 1 << 43;
/// Code or data (not a system descriptor).
const S: u64 = 1 << 44;
/// Descriptor privilege level field.
const DPL_SHIFT: u32 = 45;
/// Present.
const PRESENT: u64 = 1 << 47;
/// 64-bit code segment.
const LONG: u64 = 1 << 53;
/// Default operand size (32-bit).
const DB: u64 = 1 << 54;
/// Limit in 4 KiB units.
const GRANULARITY: u64 = 1 << 55;

/// Xen's descriptors in the reserved part of every GDT that a guest can
/// name: `FLAT_RING3_CS32`, `FLAT_RING3_DS32`/`SS`, `FLAT_RING3_CS64`
/// (index → descriptor).
const RESERVED_GUEST_DESCS: [(usize, u64); 3] = [
    (0xe020 >> 3, 0x00cf_fa00_0000_ffff),
    (0xe028 >> 3, 0x00cf_f200_0000_ffff),
    (0xe030 >> 3, 0x00af_fa00_0000_ffff),
];
/// The hypervisor's ring-0 code and data descriptors (`0xe008`, `0xe010`,
/// `0xe038`): present, but DPL 0.
const RESERVED_RING0_DESCS: [(usize, u64); 3] = [
    (0xe008 >> 3, 0x00af_9a00_0000_ffff),
    (0xe010 >> 3, 0x00cf_9200_0000_ffff),
    (0xe038 >> 3, 0x00cf_9a00_0000_ffff),
];
/// Stand-in for the other reserved entries (TSS, LDT, per-CPU): a present
/// system descriptor, unusable as a code or data segment.
const RESERVED_SYSTEM_DESC: u64 = 0x0000_8900_0000_0000;

/// The exception the CPU would raise, for bouncing to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegFault {
    /// `#GP` (13), `#NP` (11) or `#SS` (12).
    pub vector: u8,
    /// The selector-index error code (RPL cleared), 0 for null or RIP faults.
    pub error_code: u32,
}

impl SegFault {
    const fn gp(sel: u16) -> Self {
        Self { vector: 13, error_code: (sel & 0xfffc) as u32 }
    }
    const fn np(sel: u16) -> Self {
        Self { vector: 11, error_code: (sel & 0xfffc) as u32 }
    }
    const fn ss(sel: u16) -> Self {
        Self { vector: 12, error_code: (sel & 0xfffc) as u32 }
    }
}

/// The DPL of descriptor `d`.
#[must_use]
pub const fn dpl(d: u64) -> u16 {
    ((d >> DPL_SHIFT) & 3) as u16
}

/// The 32-bit base of descriptor `d`.
#[must_use]
pub const fn base(d: u64) -> u64 {
    ((d >> 16) & 0x00ff_ffff) | (((d >> 56) & 0xff) << 24)
}

/// The byte limit of descriptor `d` (granularity applied).
#[must_use]
pub const fn limit(d: u64) -> u64 {
    let raw = (d & 0xffff) | (((d >> 48) & 0xf) << 16);
    if d & GRANULARITY != 0 { (raw << 12) | 0xfff } else { raw }
}

/// Whether descriptor `d` is a 64-bit code segment.
#[must_use]
pub const fn is_long_code(d: u64) -> bool {
    d & (S | CODE | LONG) == S | CODE | LONG
}

/// The descriptor selector `sel` names for the running vCPU, as the CPU
/// would read it; `None` when the selector lies beyond the table's limit.
/// Null selectors return the (unused) descriptor 0 of the GDT.
#[must_use]
pub fn read_descriptor(ctx: &Ctx<'_>, sel: u16) -> Option<u64> {
    let index = usize::from(sel >> 3);
    let v = ctx.v_ref();
    if sel & 4 == 0 {
        if index >= FIRST_RESERVED_GDT_ENTRY as usize {
            let mut known = RESERVED_GUEST_DESCS.iter().chain(RESERVED_RING0_DESCS.iter());
            return Some(
                known.find(|(i, _)| *i == index).map_or(RESERVED_SYSTEM_DESC, |(_, d)| *d),
            );
        }
        // The whole of each installed frame is visible, as in Xen; pages
        // without a frame read as zero.
        let frame = v.arch.gdt_frames.get(index / DESCS_PER_PAGE);
        return Some(frame.map_or(0, |m| ctx.mem.read_u64(*m, index % DESCS_PER_PAGE)));
    }
    if index >= usize::try_from(v.arch.tables.ldt_ents).unwrap_or(0) {
        return None;
    }
    let frame = v.arch.ldt_frames.get(index / DESCS_PER_PAGE).copied().flatten();
    Some(frame.map_or(0, |m| ctx.mem.read_u64(m, index % DESCS_PER_PAGE)))
}

/// Whether the running vCPU's `CS` is a 64-bit code segment (decides how
/// instructions are decoded). Unreadable selectors count as 64-bit.
#[must_use]
pub fn cs_is_long_mode(ctx: &Ctx<'_>) -> bool {
    read_descriptor(ctx, ctx.regs.cs).is_none_or(is_long_code)
}

/// What the CPU's `iretq` to ring 3 raises for the `CS`, `SS` and `RIP` in
/// `ctx.regs`, in the order it checks them; `Ok` when the return is clean.
/// A selector with an RPL other than 3 is refused too: the hypervisor
/// never returns to ring 0–2 on a guest's behalf.
#[inline]
pub fn check_return_state(ctx: &Ctx<'_>) -> Result<(), SegFault> {
    let cs = ctx.regs.cs;
    let ss = ctx.regs.ss;
    if cs == FLAT_RING3_CS64 && ss == FLAT_RING3_SS64 {
        // The usual case (every hypercall return): the hypervisor's own
        // 64-bit ring-3 code and stack descriptors, which always pass; only
        // RIP can be wrong.
        let top = ctx.regs.rip >> 47;
        return if top == 0 || top == (u64::MAX >> 47) { Ok(()) } else { Err(SegFault::gp(0)) };
    }
    check_return_descriptors(ctx)
}

/// [`check_return_state`] through the descriptors the selectors name.
fn check_return_descriptors(ctx: &Ctx<'_>) -> Result<(), SegFault> {
    let cs = ctx.regs.cs;
    let ss = ctx.regs.ss;
    if cs & 0xfffc == 0 {
        return Err(SegFault::gp(0));
    }
    let csd = read_descriptor(ctx, cs).ok_or(SegFault::gp(cs))?;
    if cs & 3 != 3 || csd & (S | CODE) != S | CODE {
        return Err(SegFault::gp(cs));
    }
    let dpl_ok = if csd & CONFORMING != 0 { dpl(csd) <= 3 } else { dpl(csd) == 3 };
    if !dpl_ok || (csd & LONG != 0 && csd & DB != 0) {
        return Err(SegFault::gp(cs));
    }
    if csd & PRESENT == 0 {
        return Err(SegFault::np(cs));
    }
    if ss & 0xfffc == 0 {
        return Err(SegFault::gp(0));
    }
    let ssd = read_descriptor(ctx, ss).ok_or(SegFault::gp(ss))?;
    if ss & 3 != 3 || ssd & (S | CODE | RW) != S | RW || dpl(ssd) != 3 {
        return Err(SegFault::gp(ss));
    }
    if ssd & PRESENT == 0 {
        return Err(SegFault::ss(ss));
    }
    let rip = ctx.regs.rip;
    let rip_ok = if csd & LONG != 0 {
        let top = rip >> 47;
        top == 0 || top == (u64::MAX >> 47)
    } else {
        rip <= limit(csd)
    };
    if rip_ok { Ok(()) } else { Err(SegFault::gp(0)) }
}

/// `RFLAGS` bits a guest never runs with: IOPL (virtualised), NT, VM.
const EFLAGS_FORBIDDEN: u64 = (3 << 12) | (1 << 14) | (1 << 17);
/// `RFLAGS.IF` and the always-set bit 1.
const EFLAGS_IF_MBS: u64 = (1 << 9) | (1 << 1);

/// The return state of the running vCPU could not be made safe for
/// `iretq`: the domain has been crashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadReturnState;

/// Makes `ctx.regs` a state the CPU's `iretq` to ring 3 accepts, for every
/// way back to the guest (after a hypercall or trap, and a vCPU's first
/// start): `RFLAGS` without IOPL, NT and VM and with IF (Xen's
/// `iret_exit_to_guest`), then [`check_return_state`]; what `iretq` would
/// fault on becomes that exception in the guest, as when Xen's `iretq`
/// faults and the fault is replayed to the guest (the bounce lands on
/// Xen's flat kernel selectors, which always pass). If that cannot be
/// delivered, or the state still would fault, the domain is crashed and
/// the caller must not return to it.
pub fn prepare_return_to_guest(ctx: &mut Ctx<'_>) -> Result<(), BadReturnState> {
    let sanitise = |ctx: &mut Ctx<'_>| {
        ctx.regs.rflags = (ctx.regs.rflags & !EFLAGS_FORBIDDEN) | EFLAGS_IF_MBS;
    };
    sanitise(ctx);
    let Err(fault) = check_return_state(ctx) else { return Ok(()) };
    let delivered =
        super::traps::inject_exception(ctx, fault.vector, Some(fault.error_code), None).is_ok();
    sanitise(ctx);
    if delivered && check_return_state(ctx).is_ok() {
        return Ok(());
    }
    ctx.crash();
    Err(BadReturnState)
}

/// Whether `sel` (RPL already 3) may be loaded into a data segment register
/// from ring 0: a present data segment, or readable code, of DPL 3.
pub fn data_selector_loadable(ctx: &Ctx<'_>, sel: u16) -> bool {
    let Some(d) = read_descriptor(ctx, sel) else { return false };
    if d & S == 0 || d & PRESENT == 0 {
        return false;
    }
    if d & CODE != 0 {
        // Readable code; conforming code ignores the privilege check.
        d & RW != 0 && (d & CONFORMING != 0 || dpl(d) == 3)
    } else {
        dpl(d) == 3
    }
}

/// `set_segment_base(SEGBASE_GS_USER_SEL, sel)`: load the guest-user GS
/// selector from the guest's GDT/LDT while the kernel's GS base stays
/// live. A non-null selector gets RPL 3; one that would fault is replaced
/// by the null selector (Xen's fix-up; the call still succeeds, as Linux
/// expects). The user GS base becomes the descriptor's base (0 for null).
pub fn set_user_gs_selector(ctx: &mut Ctx<'_>, sel: u16) {
    let mut sel = if sel > 3 { sel | 3 } else { sel };
    if sel > 3 && !data_selector_loadable(ctx, sel) {
        sel = 0;
    }
    let user_base = if sel > 3 { read_descriptor(ctx, sel).map_or(0, base) } else { 0 };
    let kernel_base = ctx.platform.segment_base(SegBaseReg::Gs);
    ctx.platform.load_gs_selector(sel);
    ctx.platform.set_segment_base(SegBaseReg::Gs, kernel_base);
    ctx.v().arch.gs_base_user = user_base;
}

/// The 512 descriptors of frame `mfn`.
fn frame_descs(mem: &dyn PhysMem, mfn: Mfn) -> [u64; DESCS_PER_PAGE] {
    let mut out = [0u64; DESCS_PER_PAGE];
    for (i, d) in out.iter_mut().enumerate() {
        *d = mem.read_u64(mfn, i);
    }
    out
}

/// Copies the running vCPU's GDT frames into the CPU's GDT (pages without
/// a frame are cleared).
pub fn load_gdt(ctx: &mut Ctx<'_>) {
    let frames = ctx.v_ref().arch.gdt_frames.clone();
    for page in 0..(FIRST_RESERVED_GDT_ENTRY as usize / DESCS_PER_PAGE) {
        match frames.get(page) {
            Some(m) => {
                let descs = frame_descs(ctx.mem, *m);
                ctx.platform.load_gdt_page(page, Some(&descs));
            }
            None => ctx.platform.load_gdt_page(page, None),
        }
    }
}

/// Drops the LDT's frame references (Xen's `pv_destroy_ldt`).
pub fn destroy_ldt(ctx: &mut Ctx<'_>) {
    let old = core::mem::take(&mut ctx.v().arch.ldt_frames);
    for m in old.into_iter().flatten() {
        ctx.mm().put_page_and_type(m);
    }
}

/// Resolves the running vCPU's LDT (`ldt_base`, `ldt_ents`) through its
/// kernel page table, takes a `SegDesc` reference on each page, copies the
/// descriptors into the CPU's LDT and loads LDTR (Xen's `load_LDT` plus the
/// shadow mappings `pv_map_ldt_shadow_page` would make on first use).
pub fn load_ldt(ctx: &mut Ctx<'_>) {
    destroy_ldt(ctx);
    let tables = ctx.v_ref().arch.tables;
    let ents = tables.ldt_ents;
    let bytes = u64::from(ents).saturating_mul(8);
    let pages = usize::try_from(bytes.div_ceil(PAGE_SIZE)).unwrap_or(0);
    let dom = ctx.dom.id;
    let mut frames: Vec<Option<Mfn>> = Vec::with_capacity(pages);
    for page in 0..pages {
        let va = tables.ldt_base.wrapping_add((page as u64).wrapping_mul(PAGE_SIZE));
        let mfn = tables
            .guest_table
            .and_then(|l4| guest_mem::translate(ctx.mem, l4, va, false).ok())
            .filter(|m| ctx.mm().get_page_and_type(*m, dom, PageType::SegDesc).is_ok());
        match mfn {
            Some(m) => {
                let descs = frame_descs(ctx.mem, m);
                ctx.platform.load_ldt_page(page, Some(&descs));
            }
            None => ctx.platform.load_ldt_page(page, None),
        }
        frames.push(mfn);
    }
    ctx.v().arch.ldt_frames = frames;
    ctx.platform.load_ldt(ents);
}

/// `update_descriptor` wrote `desc` at entry `index` of frame `mfn`:
/// refresh the CPU's copy if the frame is part of the running vCPU's GDT
/// or LDT.
pub fn descriptor_written(ctx: &mut Ctx<'_>, mfn: Mfn, index: usize, desc: u64) {
    let v = ctx.v_ref();
    let gdt_pages: Vec<usize> =
        v.arch.gdt_frames.iter().enumerate().filter(|(_, m)| **m == mfn).map(|(p, _)| p).collect();
    let ldt_pages: Vec<usize> = v
        .arch
        .ldt_frames
        .iter()
        .enumerate()
        .filter(|(_, m)| **m == Some(mfn))
        .map(|(p, _)| p)
        .collect();
    for p in gdt_pages {
        ctx.platform.set_gdt_entry(p.saturating_mul(DESCS_PER_PAGE).saturating_add(index), desc);
    }
    for p in ldt_pages {
        ctx.platform.set_ldt_entry(p.saturating_mul(DESCS_PER_PAGE).saturating_add(index), desc);
    }
    // Other vCPUs using the frame refresh their copies before they next run.
    let me = ctx.vcpu;
    let mut others = alloc::vec::Vec::new();
    for (i, v) in ctx.dom.vcpus.iter_mut().enumerate() {
        let uses = v.arch.gdt_frames.contains(&mfn) || v.arch.ldt_frames.contains(&Some(mfn));
        if i != me && uses {
            v.arch.reload_descriptors = true;
            others.push(i);
        }
    }
    for i in others {
        ctx.dom.kick(i);
    }
}

/// Reloads the CPU's GDT and LDT copies for the running vCPU (when a vCPU
/// starts running on a CPU).
pub fn reload_descriptor_tables(ctx: &mut Ctx<'_>) {
    load_gdt(ctx);
    if ctx.v_ref().arch.tables.ldt_ents != 0 || !ctx.v_ref().arch.ldt_frames.is_empty() {
        load_ldt(ctx);
    }
}
