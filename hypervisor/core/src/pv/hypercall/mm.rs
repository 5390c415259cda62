// SPDX-License-Identifier: GPL-2.0-only
//! The MMU hypercalls over [`crate::mm::pv`]: `mmu_update`, `mmuext_op`,
//! `update_va_mapping`, `set_gdt` and `update_descriptor`.
//!
//! Requests are read from the guest one at a time (a huge count costs the
//! guest, not the hypervisor's memory). Only `DOMID_SELF` (or the caller's
//! own id) is accepted as `foreigndom`. TLB work the MMU core asks for is
//! carried out on this CPU: each domain has one vCPU here, so the `MULTI`
//! and `ALL` flush variants reduce to local flushes.

use alloc::vec::Vec;

use guest_abi::xen::{
    DOMID_SELF, Errno, FIRST_RESERVED_GDT_ENTRY, MmuUpdate, MmuextOp, UVMF_FLUSHTYPE_MASK,
    UVMF_INVLPG, UVMF_TLB_FLUSH,
};

use crate::mm::Mfn;
pub use crate::mm::pv::fixup_descriptor_dpl;
use crate::mm::pv::types::{PAGE_PRESENT, PageType, pte_mfn};
use crate::mm::pv::{MmuEffect, addr_ok};
use crate::pv::ctx::Ctx;
use crate::pv::descriptor;

fn check_foreigndom(ctx: &Ctx<'_>, foreigndom: u64) -> Result<(), Errno> {
    let d = foreigndom & 0xffff;
    if d == u64::from(DOMID_SELF.0) || d == u64::from(ctx.dom.id.0) {
        Ok(())
    } else if d >= u64::from(guest_abi::xen::DOMID_FIRST_RESERVED.0) {
        // DOMID_IO/DOMID_XEN page owners are not supported yet.
        Err(Errno::EPERM)
    } else {
        // Xen's get_pg_owner: no such domain (only dom0 exists so far).
        Err(Errno::ESRCH)
    }
}

fn report_done(ctx: &mut Ctx<'_>, pdone: u64, done: u64) -> Result<(), Errno> {
    if pdone != 0 {
        // Xen's `done` counters are `unsigned int`.
        let d = u32::try_from(done).unwrap_or(u32::MAX);
        ctx.write(pdone, &d)?;
    }
    Ok(())
}

/// `mmu_update(reqs, count, pdone, foreigndom)`.
pub fn mmu_update(
    ctx: &mut Ctx<'_>,
    reqs: u64,
    count: u64,
    pdone: u64,
    foreigndom: u64,
) -> Result<i64, Errno> {
    check_foreigndom(ctx, foreigndom)?;
    let count = count & 0xffff_ffff;
    let size = core::mem::size_of::<MmuUpdate>() as u64;
    let dom = ctx.dom.id;
    let mut done = 0u64;
    let mut result = Ok(0);
    while done < count {
        let req: MmuUpdate = match ctx.read(reqs.wrapping_add(done.wrapping_mul(size))) {
            Ok(r) => r,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let (_, r) = ctx.mm().do_mmu_update(dom, core::slice::from_ref(&req));
        if let Err(e) = r {
            result = Err(e);
            break;
        }
        done = done.saturating_add(1);
    }
    report_done(ctx, pdone, done)?;
    result
}

fn apply_effects(ctx: &mut Ctx<'_>, effects: &[MmuEffect]) {
    for e in effects {
        match *e {
            MmuEffect::FlushTlbLocal | MmuEffect::FlushTlbMulti { .. } | MmuEffect::FlushTlbAll => {
                ctx.platform.flush_tlb_local();
            }
            MmuEffect::InvlpgLocal { va }
            | MmuEffect::InvlpgMulti { va, .. }
            | MmuEffect::InvlpgAll { va } => {
                ctx.platform.invlpg(va);
            }
            // Guest frames are write-back RAM; nothing is cached incoherently.
            MmuEffect::FlushCache | MmuEffect::FlushCacheGlobal => {}
            MmuEffect::WritePtbase => {
                if let Some(t) = ctx.v_ref().current_table() {
                    ctx.platform.load_cr3(t);
                }
                // Xen drops the LDT shadow mappings here and lets them fault
                // back in through the new tables; resolve them again now.
                if ctx.v_ref().tables.ldt_ents != 0 {
                    descriptor::load_ldt(ctx);
                }
            }
            MmuEffect::LoadLdt => descriptor::load_ldt(ctx),
        }
    }
}

/// `mmuext_op(ops, count, pdone, foreigndom)`.
pub fn mmuext_op(
    ctx: &mut Ctx<'_>,
    ops: u64,
    count: u64,
    pdone: u64,
    foreigndom: u64,
) -> Result<i64, Errno> {
    check_foreigndom(ctx, foreigndom)?;
    let count = count & 0xffff_ffff;
    let size = core::mem::size_of::<MmuextOp>() as u64;
    let dom = ctx.dom.id;
    let mut done = 0u64;
    let mut result = Ok(0);
    let mut effects = Vec::new();
    while done < count {
        let op: MmuextOp = match ctx.read(ops.wrapping_add(done.wrapping_mul(size))) {
            Ok(o) => o,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        effects.clear();
        let mut tables = ctx.v_ref().tables;
        let (_, r) =
            ctx.mm().do_mmuext_op(dom, core::slice::from_ref(&op), &mut tables, &mut effects);
        ctx.v().tables = tables;
        apply_effects(ctx, &effects);
        if let Err(e) = r {
            result = Err(e);
            break;
        }
        done = done.saturating_add(1);
    }
    report_done(ctx, pdone, done)?;
    result
}

/// The L1 table and entry index mapping `va` in the vCPU's current table
/// (Xen's `guest_map_l1e`); `None` if an upper level is not present.
fn find_l1e(ctx: &Ctx<'_>, va: u64) -> Option<(Mfn, usize)> {
    let mut table = ctx.v_ref().current_table()?;
    for shift in [39u32, 30, 21] {
        let idx = usize::try_from((va >> shift) & 511).ok()?;
        let e = ctx.mem.read_u64(table, idx);
        if e & PAGE_PRESENT == 0 {
            return None;
        }
        table = pte_mfn(e);
    }
    Some((table, usize::try_from((va >> 12) & 511).ok()?))
}

/// `update_va_mapping(va, val, flags)`.
pub fn update_va_mapping(ctx: &mut Ctx<'_>, va: u64, val: u64, flags: u64) -> Result<i64, Errno> {
    if !addr_ok(va) {
        return Err(Errno::EINVAL);
    }
    let (l1, idx) = find_l1e(ctx, va).ok_or(Errno::EINVAL)?;
    let ptr = (l1.0 << 12) | (idx as u64).wrapping_mul(8);
    let req = MmuUpdate { ptr, val };
    let dom = ctx.dom.id;
    let (_, r) = ctx.mm().do_mmu_update(dom, core::slice::from_ref(&req));
    r?;
    match flags & UVMF_FLUSHTYPE_MASK {
        UVMF_TLB_FLUSH => ctx.platform.flush_tlb_local(),
        UVMF_INVLPG => ctx.platform.invlpg(va),
        _ => {}
    }
    Ok(0)
}

/// `set_gdt(frame_list, entries)`: validate the frames as descriptor pages
/// and keep them (typed `SegDesc`, so the guest cannot map them writable).
pub fn set_gdt(ctx: &mut Ctx<'_>, frame_list: u64, entries: u64) -> Result<i64, Errno> {
    if entries > u64::from(FIRST_RESERVED_GDT_ENTRY) {
        return Err(Errno::EINVAL);
    }
    let nr = entries.div_ceil(512);
    let frames: Vec<u64> = super::read_array(ctx, frame_list, nr)?;
    let dom = ctx.dom.id;
    let mut taken: Vec<Mfn> = Vec::new();
    for f in frames {
        let mfn = Mfn(f);
        if let Err(e) = ctx.mm().get_page_and_type(mfn, dom, PageType::SegDesc) {
            for m in taken {
                ctx.mm().put_page_and_type(m);
            }
            return Err(e);
        }
        taken.push(mfn);
    }
    let old = core::mem::replace(&mut ctx.v().gdt_frames, taken);
    for m in old {
        ctx.mm().put_page_and_type(m);
    }
    ctx.v().gdt_ents = u32::try_from(entries).unwrap_or(0);
    descriptor::load_gdt(ctx);
    ctx.platform.flush_tlb_local();
    Ok(0)
}

/// `update_descriptor(maddr, desc)`: write one descriptor into a frame of
/// the caller's, checked as Xen's `check_descriptor` would.
pub fn update_descriptor(ctx: &mut Ctx<'_>, maddr: u64, desc: u64) -> Result<i64, Errno> {
    let dom = ctx.dom.id;
    if !maddr.is_multiple_of(8) || !ctx.hooks.check_descriptor(dom, desc) {
        return Err(Errno::EINVAL);
    }
    let mfn = Mfn(maddr >> 12);
    let info = ctx.frames.info(mfn).ok_or(Errno::EINVAL)?;
    if info.owner != Some(dom) {
        return Err(Errno::EINVAL);
    }
    let is_desc_page = info.type_info.count > 0 && info.type_info.ty == PageType::SegDesc;
    if !is_desc_page {
        // Any other use needs the frame to be (temporarily) writable.
        ctx.mm().get_page_and_type(mfn, dom, PageType::Writable)?;
    }
    let idx = usize::try_from((maddr & 0xfff) / 8).map_err(|_| Errno::EINVAL)?;
    let desc = fixup_descriptor_dpl(desc);
    ctx.mem.write_u64(mfn, idx, desc);
    if is_desc_page {
        descriptor::descriptor_written(ctx, mfn, idx, desc);
    } else {
        ctx.mm().put_page_and_type(mfn);
    }
    Ok(0)
}
