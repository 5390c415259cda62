// SPDX-License-Identifier: GPL-2.0-only
//! The MMU hypercalls over [`crate::mm::pv`]: `mmu_update`, `mmuext_op`,
//! `update_va_mapping`, `set_gdt` and `update_descriptor`.
//!
//! Requests are read from the guest one at a time (a huge count costs the
//! guest, not the hypervisor's memory). `foreigndom` names the page owner
//! in its low 16 bits (Xen's `get_pg_owner`: `DOMID_SELF`, `DOMID_IO`,
//! `DOMID_XEN` or another domain; the caller's own id is refused with
//! `ESRCH`, as Xen does) and, for `mmu_update`, the page-table owner plus
//! one in its upper 16 bits. Access control goes through
//! [`Xsm::mmu_update`] (per kind of request, when the first one is seen)
//! and [`Xsm::mmuext_op`] (up front). A foreign page-table owner's CPUs are
//! not flushed after an update (as for the caller's own tables, the TLB
//! work is the caller's to ask for).
//!
//! `mmu_update` and `mmuext_op` are preemptible before every request but
//! the first, continued as Xen 4.17 does (see [`super::continuation`]):
//! the request pointer advanced, the count of requests left flagged
//! [`MMU_UPDATE_PREEMPTED`], `*pdone` accumulating over the runs (read
//! back when the flag is set; an unreadable or unwritable `pdone` is
//! ignored, as in Xen). Each run re-checks its arguments (the request
//! array must start in guest space, `guest_handle_okay`: `-EFAULT`), the
//! owners and access control.
//!
//! TLB work the MMU core asks for is carried out on this CPU for the
//! calling vCPU; the `MULTI` and `ALL` variants (and `update_va_mapping`'s
//! `UVMF_ALL` and vCPU bitmaps) also flush the other vCPUs' CPUs,
//! completely (as Xen's `flush_tlb_mask`).
//!
//! [`Xsm::mmu_update`]: crate::common::xsm::Xsm::mmu_update
//! [`Xsm::mmuext_op`]: crate::common::xsm::Xsm::mmuext_op

use alloc::vec::Vec;

use guest_abi::xen::{
    DOMID_FIRST_RESERVED, DomId, Errno, FIRST_RESERVED_GDT_ENTRY, Hypercall, MmuUpdate,
    MmuUpdateCmd, MmuextOp, UVMF_ALL, UVMF_FLUSHTYPE_MASK, UVMF_INVLPG, UVMF_TLB_FLUSH,
};

use super::continuation::{MMU_UPDATE_PREEMPTED, create_continuation};
use crate::common::xsm::XsmSubject;
use crate::mm::Mfn;
pub use crate::mm::pv::fixup_descriptor_dpl;
use crate::mm::pv::types::{PAGE_PRESENT, PageType, pte_mfn};
use crate::mm::pv::{MmuEffect, MmuOwners, PvMm, addr_ok};
use crate::pv::ctx::Ctx;
use crate::pv::descriptor;
use crate::pv::guest_mem::guest_handle_okay;

/// A domain `foreigndom` named, as far as the MMU hypercalls need it.
#[derive(Clone, Copy, Debug)]
struct Owner {
    /// Identity for access control (its id is the real id, never
    /// `DOMID_SELF`).
    subject: XsmSubject,
    /// Being destroyed.
    dying: bool,
    /// Has vCPU 0 (a page-table owner must).
    has_vcpu0: bool,
}

impl Owner {
    fn of_caller(ctx: &Ctx<'_>) -> Self {
        Self { subject: ctx.dom.subject(), dying: ctx.dom.is_dying(), has_vcpu0: true }
    }

    fn id(&self) -> DomId {
        self.subject.id
    }
}

/// Another domain `id` (`rcu_lock_domain_by_id`): looked up and locked
/// just long enough to read what the MMU needs (the machine lock keeps it
/// from changing meanwhile).
fn other_domain(ctx: &mut Ctx<'_>, id: DomId) -> Result<Owner, Errno> {
    if id == ctx.dom.id || id.0 >= DOMID_FIRST_RESERVED.0 {
        return Err(Errno::ESRCH);
    }
    ctx.with_target(id, |t| Owner {
        subject: t.target.subject(),
        dying: t.target.is_dying(),
        has_vcpu0: !t.target.vcpus.is_empty(),
    })
}

/// Xen's `get_pg_owner(domid)`: the caller for `DOMID_SELF`, the
/// pseudo-domains for `DOMID_IO` and `DOMID_XEN`, else another domain.
///
/// # Errors
/// `ESRCH` for the caller's own id ("cannot specify itself as foreign
/// domain") and for ids naming no domain.
fn get_pg_owner(ctx: &mut Ctx<'_>, domid: u16) -> Result<Owner, Errno> {
    let id = DomId(domid);
    if id == ctx.dom.id {
        return Err(Errno::ESRCH);
    }
    match id {
        DomId::SELF => Ok(Owner::of_caller(ctx)),
        DomId::IO | DomId::XEN => Ok(Owner {
            subject: XsmSubject { id, privileged: false, ssidref: 0 },
            dying: false,
            has_vcpu0: false,
        }),
        _ => other_domain(ctx, id),
    }
}

/// The page-table owner of `mmu_update` (`foreigndom >> 16`, plus one;
/// 0: the caller).
///
/// # Errors
/// `ESRCH` for no such domain (`DOMID_SELF` is not translated here, as in
/// Xen's `rcu_lock_domain_by_id`), `EINVAL` for a domain without vCPU 0.
fn get_pt_owner(ctx: &mut Ctx<'_>, pt_dom: u64) -> Result<Owner, Errno> {
    let Some(id) = pt_dom.checked_sub(1) else {
        return Ok(Owner::of_caller(ctx));
    };
    let id = DomId(u16::try_from(id).map_err(|_| Errno::ESRCH)?);
    if id == ctx.dom.id {
        return Ok(Owner::of_caller(ctx));
    }
    let owner = other_domain(ctx, id)?;
    if !owner.has_vcpu0 {
        return Err(Errno::EINVAL);
    }
    Ok(owner)
}

/// Adds the requests done to `*pdone` (Xen: "add incremental work we have
/// done to the @done output parameter"); as in Xen, a `pdone` that cannot
/// be written is ignored.
fn report_done(ctx: &mut Ctx<'_>, pdone: u64, done: u32) {
    if pdone != 0 {
        let _ = ctx.write(pdone, &done);
    }
}

/// What a continued `mmu_update`/`mmuext_op` starts from: the count
/// without [`MMU_UPDATE_PREEMPTED`] and the requests done by the earlier
/// runs, read back from `*pdone` (0 if it cannot be read, as in Xen).
fn resume_count(ctx: &Ctx<'_>, count: u32, pdone: u64) -> (u32, u32) {
    if count & MMU_UPDATE_PREEMPTED == 0 {
        return (count, 0);
    }
    let done = if pdone == 0 { 0 } else { ctx.read::<u32>(pdone).unwrap_or(0) };
    (count & !MMU_UPDATE_PREEMPTED, done)
}

/// The form Xen continues with to return a final result after dropping an
/// old guest table (count [`MMU_UPDATE_PREEMPTED`], no requests: the
/// result is `foreigndom`, as an `int`). This hypervisor never creates it
/// (validation is not preemptible), but a guest may issue it.
fn final_result_form(reqs: u64, count: u32, foreigndom: u32) -> Option<i64> {
    (count == MMU_UPDATE_PREEMPTED && reqs == 0).then_some(i64::from(foreigndom.cast_signed()))
}

/// The continuation of an `mmu_update`/`mmuext_op` preempted after `i` of
/// its `count` requests of `size` bytes at `reqs`.
fn continue_mmu(
    ctx: &mut Ctx<'_>,
    op: Hypercall,
    [reqs, pdone, foreigndom]: [u64; 3],
    size: u64,
    count: u32,
    i: u32,
) -> i64 {
    let next = reqs.wrapping_add(u64::from(i).wrapping_mul(size));
    let left = count.wrapping_sub(i) | MMU_UPDATE_PREEMPTED;
    create_continuation(ctx, op, &[next, u64::from(left), pdone, foreigndom])
}

/// The access-control check `mmu_update` makes before the first request of
/// a kind (Xen's `xsm_needed`/`xsm_checked`): normal updates involve the
/// page owner and the page-table owner, M2P updates the page owner.
fn mmu_update_xsm(
    ctx: &Ctx<'_>,
    req: &MmuUpdate,
    pt: &Owner,
    pg: &Owner,
    checked: &mut [bool; 2],
) -> Result<(), Errno> {
    const MACHPHYS: u64 = MmuUpdateCmd::MachphysUpdate.raw() as u64;
    const NORMAL: u64 = MmuUpdateCmd::NormalPtUpdate.raw() as u64;
    const PRESERVE_AD: u64 = MmuUpdateCmd::PtUpdatePreserveAd.raw() as u64;
    const NO_TRANSLATE: u64 = MmuUpdateCmd::PtUpdateNoTranslate.raw() as u64;
    let caller = ctx.dom.subject();
    match req.ptr & 7 {
        // Refused with EPERM by the MMU before any check.
        MACHPHYS if pt.id() != caller.id => Ok(()),
        MACHPHYS if !checked[1] => {
            ctx.xsm.mmu_update(caller, pg.subject)?;
            checked[1] = true;
            Ok(())
        }
        MACHPHYS => Ok(()),
        NORMAL | PRESERVE_AD | NO_TRANSLATE if !checked[0] => {
            ctx.xsm.mmu_update(caller, pg.subject)?;
            ctx.xsm.mmu_update(caller, pt.subject)?;
            checked[0] = true;
            Ok(())
        }
        // Unknown commands fail in the MMU (ENOSYS).
        _ => Ok(()),
    }
}

/// `mmu_update(reqs, count, pdone, foreigndom)`: page-table owner in the
/// upper 16 bits of `foreigndom` (plus one), page owner in the lower.
///
/// Preemptible before every request but the first (Xen's
/// `hypercall_preempt_check` in `do_mmu_update`): the continuation carries
/// the requests left, flagged [`MMU_UPDATE_PREEMPTED`], and the request
/// pointer advanced; `*pdone` accumulates over the runs.
pub fn mmu_update(
    ctx: &mut Ctx<'_>,
    reqs: u64,
    count: u64,
    pdone: u64,
    foreigndom: u64,
) -> Result<i64, Errno> {
    // Xen's `count` and `foreigndom` are `unsigned int`.
    let count = (count & 0xffff_ffff) as u32;
    let foreigndom = (foreigndom & 0xffff_ffff) as u32;
    if let Some(rc) = final_result_form(reqs, count, foreigndom) {
        return Ok(rc);
    }
    let (count, done) = resume_count(ctx, count, pdone);
    let size = core::mem::size_of::<MmuUpdate>() as u64;
    if !guest_handle_okay(reqs, u64::from(count), size) {
        return Err(Errno::EFAULT);
    }
    let pt = match get_pt_owner(ctx, u64::from(foreigndom >> 16)) {
        Ok(pt) => pt,
        Err(Errno::ESRCH) => return Err(Errno::ESRCH),
        Err(e) => {
            report_done(ctx, pdone, done);
            return Err(e);
        }
    };
    let pg = match get_pg_owner(ctx, (foreigndom & 0xffff) as u16) {
        Ok(pg) => pg,
        Err(e) => {
            report_done(ctx, pdone, done);
            return Err(e);
        }
    };
    let owners = MmuOwners { caller: ctx.dom.id, pt: pt.id(), pg: pg.id(), pg_dying: pg.dying };
    let mut checked = [false; 2];
    let mut i = 0u32;
    let mut result = Ok(0);
    while i < count {
        if i != 0 && ctx.hypercall_preempt_check() {
            let args = [reqs, pdone, u64::from(foreigndom)];
            result = Ok(continue_mmu(ctx, Hypercall::MmuUpdate, args, size, count, i));
            break;
        }
        let req: MmuUpdate = match ctx.read(reqs.wrapping_add(u64::from(i).wrapping_mul(size))) {
            Ok(r) => r,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        if let Err(e) = mmu_update_xsm(ctx, &req, &pt, &pg, &mut checked) {
            result = Err(e);
            break;
        }
        let (_, r) = ctx.mm().do_mmu_update_as(owners, core::slice::from_ref(&req));
        if let Err(e) = r {
            result = Err(e);
            break;
        }
        i = i.wrapping_add(1);
    }
    report_done(ctx, pdone, done.wrapping_add(i));
    result
}

/// Every vCPU of the domain, as a mask.
pub(super) fn all_vcpus(ctx: &Ctx<'_>) -> u64 {
    match u32::try_from(ctx.dom.vcpus.len()) {
        Ok(n) if n < 64 => (1u64 << n).wrapping_sub(1),
        _ => u64::MAX,
    }
}

/// The vCPUs named by the guest bitmap at `vcpumask` (its first word: at
/// most 64 vCPUs here); an unreadable bitmap names them all.
fn read_vcpumask(ctx: &Ctx<'_>, vcpumask: u64) -> u64 {
    ctx.read::<u64>(vcpumask).unwrap_or(u64::MAX) & all_vcpus(ctx)
}

/// Flushes `va` (or the whole TLB, for `None`) on the vCPUs in `mask`: the
/// calling one here, the others by a full flush on their CPUs.
pub fn flush_vcpus(ctx: &mut Ctx<'_>, mask: u64, va: Option<u64>) {
    let me = u32::try_from(ctx.vcpu).ok().and_then(|i| 1u64.checked_shl(i)).unwrap_or(0);
    if mask & me != 0 {
        match va {
            Some(va) => ctx.platform.invlpg(va),
            None => ctx.platform.flush_tlb_local(),
        }
    }
    if mask & !me != 0 {
        ctx.platform.flush_tlb_vcpus(mask & !me);
    }
}

fn apply_effects(ctx: &mut Ctx<'_>, effects: &[MmuEffect]) {
    for e in effects {
        match *e {
            MmuEffect::FlushTlbLocal => ctx.platform.flush_tlb_local(),
            MmuEffect::InvlpgLocal { va } => ctx.platform.invlpg(va),
            MmuEffect::FlushTlbMulti { vcpumask } => {
                let mask = read_vcpumask(ctx, vcpumask);
                flush_vcpus(ctx, mask, None);
            }
            MmuEffect::InvlpgMulti { va, vcpumask } => {
                let mask = read_vcpumask(ctx, vcpumask);
                flush_vcpus(ctx, mask, Some(va));
            }
            MmuEffect::FlushTlbAll => flush_vcpus(ctx, all_vcpus(ctx), None),
            MmuEffect::InvlpgAll { va } => flush_vcpus(ctx, all_vcpus(ctx), Some(va)),
            // Guest frames are write-back RAM; nothing is cached incoherently.
            MmuEffect::FlushCache | MmuEffect::FlushCacheGlobal => {}
            MmuEffect::WritePtbase => {
                if let Some(t) = ctx.v_ref().current_table() {
                    ctx.platform.write_ptbase(t);
                }
                // Xen drops the LDT shadow mappings here and lets them fault
                // back in through the new tables; resolve them again now.
                if ctx.v_ref().arch.tables.ldt_ents != 0 {
                    descriptor::load_ldt(ctx);
                }
            }
            MmuEffect::LoadLdt => descriptor::load_ldt(ctx),
        }
    }
}

/// `mmuext_op(ops, count, pdone, foreigndom)`: page owner in the lower 16
/// bits of `foreigndom`. Preemptible as [`mmu_update`] (Xen's
/// `do_mmuext_op`).
pub fn mmuext_op(
    ctx: &mut Ctx<'_>,
    ops: u64,
    count: u64,
    pdone: u64,
    foreigndom: u64,
) -> Result<i64, Errno> {
    let count = (count & 0xffff_ffff) as u32;
    let foreigndom = (foreigndom & 0xffff_ffff) as u32;
    if let Some(rc) = final_result_form(ops, count, foreigndom) {
        return Ok(rc);
    }
    let (count, done) = resume_count(ctx, count, pdone);
    let size = core::mem::size_of::<MmuextOp>() as u64;
    if !guest_handle_okay(ops, u64::from(count), size) {
        return Err(Errno::EFAULT);
    }
    let pg = get_pg_owner(ctx, (foreigndom & 0xffff) as u16)?;
    ctx.xsm.mmuext_op(ctx.dom.subject(), pg.subject)?;
    let owners = MmuOwners::foreign(ctx.dom.id, pg.id(), pg.dying);
    let mut i = 0u32;
    let mut result = Ok(0);
    let mut effects = Vec::new();
    while i < count {
        if i != 0 && ctx.hypercall_preempt_check() {
            let args = [ops, pdone, u64::from(foreigndom)];
            result = Ok(continue_mmu(ctx, Hypercall::MmuextOp, args, size, count, i));
            break;
        }
        let op: MmuextOp = match ctx.read(ops.wrapping_add(u64::from(i).wrapping_mul(size))) {
            Ok(o) => o,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        effects.clear();
        let mut tables = ctx.v_ref().arch.tables;
        let (_, r) =
            ctx.mm().do_mmuext_op_as(owners, core::slice::from_ref(&op), &mut tables, &mut effects);
        ctx.v().arch.tables = tables;
        apply_effects(ctx, &effects);
        if let Err(e) = r {
            result = Err(e);
            break;
        }
        i = i.wrapping_add(1);
    }
    report_done(ctx, pdone, done.wrapping_add(i));
    result
}

/// The L1 table and entry index mapping `va` in the vCPU's current table
/// (Xen's `guest_map_l1e`); `None` if an upper level is not present.
pub(super) fn find_l1e(ctx: &Ctx<'_>, va: u64) -> Option<(Mfn, usize)> {
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
    // The bits above the flush type: UVMF_LOCAL (0), UVMF_ALL, or the
    // address of a vCPU bitmap (UVMF_MULTI).
    let target = flags & !UVMF_FLUSHTYPE_MASK;
    let mask = match target {
        0 => u32::try_from(ctx.vcpu).ok().and_then(|i| 1u64.checked_shl(i)).unwrap_or(0),
        UVMF_ALL => all_vcpus(ctx),
        bitmap => read_vcpumask(ctx, bitmap),
    };
    match flags & UVMF_FLUSHTYPE_MASK {
        UVMF_TLB_FLUSH => flush_vcpus(ctx, mask, None),
        UVMF_INVLPG => flush_vcpus(ctx, mask, Some(va)),
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
    install_gdt(ctx, ctx.vcpu, &frames, entries)?;
    Ok(0)
}

/// Xen's `pv_set_gdt` for vCPU `index`: takes a `SegDesc` reference on
/// each of `frames` (all or none), drops the old ones and installs the
/// table. The running vCPU's copy in the CPU is refreshed at once; another
/// vCPU reloads its copy before it next runs.
pub fn install_gdt(
    ctx: &mut Ctx<'_>,
    index: usize,
    frames: &[u64],
    entries: u64,
) -> Result<(), Errno> {
    if index >= ctx.dom.vcpus.len() {
        return Err(Errno::EINVAL);
    }
    let dom = ctx.dom.id;
    let taken = take_gdt_refs(&mut ctx.mm(), dom, frames, entries)?;
    let old = match ctx.dom.vcpus.get_mut(index) {
        Some(v) => {
            v.arch.gdt_ents = u32::try_from(entries).unwrap_or(0);
            v.arch.reload_descriptors = index != ctx.vcpu;
            core::mem::replace(&mut v.arch.gdt_frames, taken)
        }
        None => taken,
    };
    for m in old {
        ctx.mm().put_page_and_type(m);
    }
    if index == ctx.vcpu {
        descriptor::load_gdt(ctx);
        ctx.platform.flush_tlb_local();
    }
    Ok(())
}

/// The reference half of `pv_set_gdt`: checks the entry count and takes a
/// `SegDesc` reference on each of `frames` for `dom`, all or none.
///
/// # Errors
/// `EINVAL` for more than `FIRST_RESERVED_GDT_ENTRY` entries; otherwise
/// the error of the first frame that cannot be a descriptor page.
pub fn take_gdt_refs(
    mm: &mut PvMm<'_>,
    dom: DomId,
    frames: &[u64],
    entries: u64,
) -> Result<Vec<Mfn>, Errno> {
    if entries > u64::from(FIRST_RESERVED_GDT_ENTRY) {
        return Err(Errno::EINVAL);
    }
    let mut taken: Vec<Mfn> = Vec::new();
    for &f in frames {
        let mfn = Mfn(f);
        if let Err(e) = mm.get_page_and_type(mfn, dom, PageType::SegDesc) {
            for m in taken {
                mm.put_page_and_type(m);
            }
            return Err(e);
        }
        taken.push(mfn);
    }
    Ok(taken)
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
