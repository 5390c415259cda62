// SPDX-License-Identifier: GPL-2.0-only
//! `GNTTABOP_copy` (Xen's `gnttab_copy_one`, `acquire_grant_for_copy`,
//! `release_grant_for_copy`).
//!
//! Each side is a grant ref of its domain (`GNTCOPY_source_gref`,
//! `GNTCOPY_dest_gref`) or a frame of the caller, which must then be named
//! `DOMID_SELF` (anything else is `GNTST_permission_denied`); no such
//! domain is `GNTST_bad_domain`. A grant is pinned for the copy as a host
//! mapping would be (read-only for the source, writable for the
//! destination, with `GTF_reading`/`GTF_writing` set meanwhile and the same
//! refusals: `GNTST_bad_gntref`, `GNTST_general_error`, `GNTST_bad_page`);
//! a frame must be the domain's (`GNTST_bad_page`); the destination takes
//! a `Writable` type reference (a page table is `GNTST_general_error`).
//! Offsets plus length beyond the page are `GNTST_bad_copy_arg`.
//!
//! Version 2 grants add, for copies only: `GTF_sub_page` (the copy must lie
//! within `[page_off, page_off + length)`, else `GNTST_general_error`) and
//! `GTF_transitive` (the entry names a grant of a third domain, which is
//! pinned in turn for the granter; one level only, never the granter
//! itself, no such domain `GNTST_general_error`; with
//! `gnttab=no-transitive` every transitive grant is refused so). A
//! transitive grant is
//! treated as a sub-page one: it cannot be mapped while copied.
//!
//! Xen keeps the last source and destination acquired across the entries
//! of a batch; here each entry acquires and releases its own, which the
//! guest cannot tell apart except by watching the flags mid-batch. Where
//! Xen finds a transitive entry changed while the third domain was pinned
//! and restarts the copy (`ERESTART`), this entry fails with
//! `GNTST_general_error`.

use guest_abi::grant_table::{
    GNTCOPY_dest_gref, GNTCOPY_source_gref, GTF_sub_page, GTF_transitive, GTF_type_mask, GntSt,
    GnttabCopy,
};
use guest_abi::xen::{DomId, GrantRef};

use crate::common::grant_table::{
    ActiveGrant, GNTPIN_DEVW_MASK, GNTPIN_HSTR_INC, GNTPIN_HSTW_INC, GNTPIN_HSTW_MASK, gnt_frames,
    pin_overflow_mask, read_shared, reduce_status_for_pin, set_status,
};
use crate::mm::Mfn;
use crate::mm::pv::{PageType, PvMm};
use crate::pv::ctx::{Ctx, TargetCtx};

/// Page size, for the bounds checks.
const PAGE: u16 = 4096;

/// One side of a copy once acquired.
#[derive(Clone, Copy)]
struct Buf {
    /// The domain named (resolved: not `DOMID_SELF`).
    dom: DomId,
    /// The frame copied from or to.
    mfn: Mfn,
    /// The frame holding the general reference taken.
    page: Mfn,
    /// Held through a grant (released with `release_grant_for_copy`).
    gref: Option<GrantRef>,
    /// A `Writable` type reference is held on `page`.
    typed: bool,
    /// First byte the side may touch.
    off: u16,
    /// Bytes from `off` it may touch.
    len: u16,
}

impl Buf {
    /// Whether `[off, off + len)` lies within what was granted.
    fn covers(&self, off: u16, len: u16) -> bool {
        off >= self.off
            && u32::from(off).saturating_add(u32::from(len))
                <= u32::from(self.off).saturating_add(u32::from(self.len))
    }
}

/// `GNTTABOP_copy` for one entry: its status.
pub fn copy_one(ctx: &mut Ctx<'_>, op: &GnttabCopy) -> i16 {
    match copy_inner(ctx, op) {
        Ok(()) => GntSt::Okay.raw(),
        Err(s) => s.raw(),
    }
}

fn copy_inner(ctx: &mut Ctx<'_>, op: &GnttabCopy) -> Result<(), GntSt> {
    let src_gref = op.flags & GNTCOPY_source_gref != 0;
    let dst_gref = op.flags & GNTCOPY_dest_gref != 0;
    // gnttab_copy_lock_domains.
    let src_dom = lock_domain(ctx, op.source.domid, src_gref)?;
    let dst_dom = lock_domain(ctx, op.dest.domid, dst_gref)?;
    let subject = |ctx: &mut Ctx<'_>, id| ctx.with_target(id, |t| t.target.subject()).ok();
    let (Some(s), Some(d)) = (subject(ctx, src_dom), subject(ctx, dst_dom)) else {
        return Err(GntSt::BadDomain);
    };
    if ctx.xsm.grant_copy(s, d).is_err() {
        return Err(GntSt::PermissionDenied);
    }
    let src = claim(ctx, src_dom, op.source.u, src_gref, true)?;
    let dst = match claim(ctx, dst_dom, op.dest.u, dst_gref, false) {
        Ok(b) => b,
        Err(e) => {
            release(ctx, src, true);
            return Err(e);
        }
    };
    // gnttab_copy_buf.
    let end = |off: u16| u32::from(off).saturating_add(u32::from(op.len));
    let rc = if end(op.source.offset) > u32::from(PAGE) || end(op.dest.offset) > u32::from(PAGE) {
        Err(GntSt::BadCopyArg)
    } else if !src.covers(op.source.offset, op.len) || !dst.covers(op.dest.offset, op.len) {
        Err(GntSt::GeneralError)
    } else {
        let (src_off, dst_off) = (usize::from(op.source.offset), usize::from(op.dest.offset));
        ctx.mem.copy_bytes(dst.mfn, dst_off, src.mfn, src_off, usize::from(op.len));
        Ok(())
    };
    release(ctx, src, true);
    release(ctx, dst, false);
    rc
}

/// `gnttab_copy_lock_domain`: the domain a side names, resolved.
fn lock_domain(ctx: &mut Ctx<'_>, id: DomId, is_gref: bool) -> Result<DomId, GntSt> {
    if id != DomId::SELF && !is_gref {
        return Err(GntSt::PermissionDenied);
    }
    ctx.with_target(id, |t| t.target.id).map_err(|_| GntSt::BadDomain)
}

/// `gnttab_copy_claim_buf`.
fn claim(ctx: &mut Ctx<'_>, dom: DomId, u: u64, is_gref: bool, ro: bool) -> Result<Buf, GntSt> {
    let ld = ctx.dom.id;
    let mut b = if is_gref {
        // `ptr->u.ref`: the low half of the union.
        let gref = GrantRef(u32::try_from(u & 0xffff_ffff).unwrap_or(u32::MAX));
        // `gnttab=no-transitive` (`opt_transitive_grants`).
        let transitive = ctx.platform.gnttab_opts().transitive;
        let a = acquire_grant_for_copy(ctx, dom, gref, ld, ro, transitive)?;
        let (mfn, page) = (a.mfn, a.page);
        Buf { dom, mfn, page, gref: Some(gref), typed: false, off: a.start, len: a.length }
    } else {
        let mfn = Mfn(u);
        let owned = ctx.with_target(dom, |t| t.frames.get_page(mfn, t.target.id));
        if owned != Ok(true) {
            return Err(GntSt::BadPage);
        }
        Buf { dom, mfn, page: mfn, gref: None, typed: false, off: 0, len: PAGE }
    };
    if !ro {
        let r = ctx.with_target(dom, |t| t.mm().get_page_type(b.page, PageType::Writable));
        if !matches!(r, Ok(Ok(()))) {
            release(ctx, b, ro);
            return Err(GntSt::GeneralError);
        }
        b.typed = true;
    }
    Ok(b)
}

/// `gnttab_copy_release_buf`.
fn release(ctx: &mut Ctx<'_>, b: Buf, ro: bool) {
    if let Some(gref) = b.gref {
        release_grant_for_copy(ctx, b.dom, gref, ro);
    }
    let mut mm = PvMm::new(ctx.frames, ctx.mem, ctx.m2p, ctx.hooks);
    if b.typed {
        mm.put_page_type(b.page);
    }
    mm.frames.put_page(b.page);
}

/// What `acquire_grant_for_copy` hands back: the frame, the frame holding
/// the general reference taken, and the granted range.
#[derive(Clone, Copy)]
struct Acquired {
    mfn: Mfn,
    page: Mfn,
    start: u16,
    length: u16,
}

/// The first half of an acquire, on the granting domain.
enum Step {
    /// Pinned, with a reference.
    Done(Acquired),
    /// A transitive entry: its status is set; `(td, gref)` is to be
    /// acquired for the granter, `old_pin` is the pin seen.
    Transitive(DomId, GrantRef, u32),
}

/// Xen's `acquire_grant_for_copy`: pins `gref` of `rd` for `ldom` and takes
/// a general reference on the frame; a v2 transitive entry (when
/// `allow_transitive`) pins the grant it names as well, for `rd`.
fn acquire_grant_for_copy(
    ctx: &mut Ctx<'_>,
    rd: DomId,
    gref: GrantRef,
    ldom: DomId,
    ro: bool,
    allow_transitive: bool,
) -> Result<Acquired, GntSt> {
    let step = ctx
        .with_target(rd, |t| acquire_local(t, gref, ldom, ro, allow_transitive))
        .unwrap_or(Err(GntSt::BadDomain))?;
    let (td, tgref, old_pin) = match step {
        Step::Done(a) => return Ok(a),
        Step::Transitive(td, tgref, old_pin) => (td, tgref, old_pin),
    };
    let undo_status = |ctx: &mut Ctx<'_>| {
        let _ = ctx.with_target(rd, |t| {
            let pin = t.target.grant.active_mut(gref).map_or(0, |a| a.pin);
            reduce_status_for_pin(t.mem, &gnt_frames(t.target), gref, pin, ro);
        });
    };
    // rcu_lock_domain_by_id: DOMID_SELF names no domain here.
    let inner = if td == DomId::SELF || ctx.with_target(td, |_| ()).is_err() {
        Err(GntSt::GeneralError)
    } else {
        acquire_grant_for_copy(ctx, td, tgref, rd, ro, false)
    };
    let a = match inner {
        Ok(a) => a,
        Err(e) => {
            undo_status(ctx);
            return Err(e);
        }
    };
    let incr = if ro { GNTPIN_HSTR_INC } else { GNTPIN_HSTW_INC };
    let kept = ctx
        .with_target(rd, |t| {
            let v2 = t.target.grant.version == 2;
            let Some(act) = t.target.grant.active_mut(gref) else { return false };
            let same = act.domid == ldom
                && act.mfn == a.mfn
                && act.start == a.start
                && act.length == a.length
                && act.trans == Some((td, tgref))
                && act.is_sub_page;
            if !v2 || act.pin != old_pin || (old_pin != 0 && !same) {
                return false;
            }
            if old_pin == 0 {
                *act = ActiveGrant {
                    pin: 0,
                    domid: ldom,
                    mfn: a.mfn,
                    start: a.start,
                    length: a.length,
                    is_sub_page: true,
                    trans: Some((td, tgref)),
                };
            }
            act.pin = act.pin.saturating_add(incr);
            true
        })
        .unwrap_or(false);
    if !kept {
        release_grant_for_copy(ctx, td, tgref, ro);
        undo_status(ctx);
        ctx.frames.put_page(a.page);
        return Err(GntSt::GeneralError);
    }
    Ok(a)
}

/// The granting domain's part of `acquire_grant_for_copy`.
fn acquire_local(
    t: &mut TargetCtx<'_>,
    gref: GrantRef,
    ldom: DomId,
    ro: bool,
    allow_transitive: bool,
) -> Result<Step, GntSt> {
    let rd = t.target.id;
    let incr = if ro { GNTPIN_HSTR_INC } else { GNTPIN_HSTW_INC };
    let mut act = t.target.grant.active_mut(gref).copied().ok_or(GntSt::BadGntref)?;
    if act.pin != 0 && (act.domid != ldom || act.pin & pin_overflow_mask(incr) != 0) {
        return Err(GntSt::GeneralError);
    }
    let g = gnt_frames(t.target);
    let e = read_shared(t.mem, &g, gref).ok_or(GntSt::GeneralError)?;
    let needs_status =
        act.pin == 0 || (!ro && act.pin & (GNTPIN_DEVW_MASK | GNTPIN_HSTW_MASK) == 0);
    if g.version == 2 && e.flags & GTF_type_mask == GTF_transitive {
        if needs_status {
            set_status(t.mem, &g, gref, act.pin != 0, ro, false, ldom)?;
        }
        if !allow_transitive || e.trans_domid == rd {
            reduce_status_for_pin(t.mem, &g, gref, act.pin, ro);
            return Err(GntSt::GeneralError);
        }
        return Ok(Step::Transitive(e.trans_domid, e.trans_gref, act.pin));
    }
    let page = if needs_status {
        set_status(t.mem, &g, gref, act.pin != 0, ro, false, ldom)?;
        // Read again: the guest may have rewritten the entry meanwhile.
        let e = read_shared(t.mem, &g, gref).ok_or(GntSt::GeneralError)?;
        let frame = Mfn(e.frame);
        if !t.frames.get_page(frame, rd) {
            reduce_status_for_pin(t.mem, &g, gref, act.pin, ro);
            return Err(GntSt::BadPage);
        }
        if act.pin == 0 {
            let sub = g.version == 2 && e.flags & GTF_sub_page != 0;
            let (start, length) = if sub { (e.page_off, e.length) } else { (0, PAGE) };
            act = ActiveGrant {
                pin: 0,
                domid: ldom,
                mfn: frame,
                start,
                length,
                is_sub_page: sub,
                trans: None,
            };
        }
        frame
    } else {
        // Already pinned: a reference on the frame on record, which must
        // still be the granter's and the granter alive.
        let owner = t.frames.owner(act.mfn).filter(|&o| t.frames.get_page(act.mfn, o));
        if owner != Some(rd) || t.target.is_dying() {
            if owner.is_some() {
                t.frames.put_page(act.mfn);
            }
            reduce_status_for_pin(t.mem, &g, gref, act.pin, ro);
            return Err(GntSt::BadDomain);
        }
        act.mfn
    };
    if let Some(a) = t.target.grant.active_mut(gref) {
        *a = act;
        a.pin = act.pin.saturating_add(incr);
    }
    Ok(Step::Done(Acquired { mfn: act.mfn, page, start: act.start, length: act.length }))
}

/// Xen's `release_grant_for_copy`: unpins `gref` of `rd` and, for a
/// transitive entry, the grant it pinned in turn.
fn release_grant_for_copy(ctx: &mut Ctx<'_>, rd: DomId, gref: GrantRef, ro: bool) {
    let incr = if ro { GNTPIN_HSTR_INC } else { GNTPIN_HSTW_INC };
    let trans = ctx.with_target(rd, |t| {
        let a = t.target.grant.active_mut(gref)?;
        a.pin = a.pin.saturating_sub(incr);
        let (pin, trans) = (a.pin, a.trans);
        reduce_status_for_pin(t.mem, &gnt_frames(t.target), gref, pin, ro);
        trans
    });
    if let Ok(Some((td, tgref))) = trans
        && td != rd
    {
        release_grant_for_copy(ctx, td, tgref, ro);
    }
}
