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
//! Xen keeps the last source and destination acquired across the entries
//! of a batch; here each entry acquires and releases its own, which the
//! guest cannot tell apart except by watching the flags mid-batch.

use guest_abi::grant_table::{GNTCOPY_dest_gref, GNTCOPY_source_gref, GntSt, GnttabCopy};
use guest_abi::xen::{DomId, GrantRef};

use crate::common::grant_table::{
    GNTPIN_DEVW_MASK, GNTPIN_HSTR_INC, GNTPIN_HSTW_INC, GNTPIN_HSTW_MASK, pin_overflow_mask,
    read_shared, reduce_status_for_pin, set_status_v1,
};
use crate::mm::Mfn;
use crate::mm::pv::{PageType, PvMm};
use crate::pv::ctx::{Ctx, TargetCtx};

/// Page size, for the bounds checks.
const PAGE: u32 = 4096;

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
    let len = u32::from(op.len);
    let rc = if u32::from(op.source.offset).saturating_add(len) > PAGE
        || u32::from(op.dest.offset).saturating_add(len) > PAGE
    {
        Err(GntSt::BadCopyArg)
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
    let r = ctx.with_target(dom, |t| {
        let (mfn, page, gref) = if is_gref {
            // `ptr->u.ref`: the low half of the union.
            let gref = GrantRef(u32::try_from(u & 0xffff_ffff).unwrap_or(u32::MAX));
            let (mfn, page) = acquire_grant_for_copy(t, gref, ld, ro)?;
            (mfn, page, Some(gref))
        } else {
            let mfn = Mfn(u);
            if !t.frames.get_page(mfn, t.target.id) {
                return Err(GntSt::BadPage);
            }
            (mfn, mfn, None)
        };
        let mut b = Buf { dom: t.target.id, mfn, page, gref, typed: false };
        if !ro {
            if t.mm().get_page_type(page, PageType::Writable).is_err() {
                release_in(t, b, ro);
                return Err(GntSt::GeneralError);
            }
            b.typed = true;
        }
        Ok(b)
    });
    r.unwrap_or(Err(GntSt::BadDomain))
}

/// `gnttab_copy_release_buf`.
fn release(ctx: &mut Ctx<'_>, b: Buf, ro: bool) {
    let _ = ctx.with_target(b.dom, |t| release_in(t, b, ro));
}

fn release_in(t: &mut TargetCtx<'_>, b: Buf, ro: bool) {
    if let Some(gref) = b.gref {
        release_grant_for_copy(t, gref, ro);
    }
    let mut mm = PvMm::new(t.frames, t.mem, t.m2p, t.hooks);
    if b.typed {
        mm.put_page_type(b.page);
    }
    mm.frames.put_page(b.page);
}

/// Xen's `acquire_grant_for_copy` (version 1): pins `gref` of the target
/// for `ldom` and takes a general reference. Returns the frame to copy
/// and the frame referenced.
fn acquire_grant_for_copy(
    t: &mut TargetCtx<'_>,
    gref: GrantRef,
    ldom: DomId,
    ro: bool,
) -> Result<(Mfn, Mfn), GntSt> {
    let rd = t.target.id;
    let incr = if ro { GNTPIN_HSTR_INC } else { GNTPIN_HSTW_INC };
    let mut act = t.target.grant.active_mut(gref).copied().ok_or(GntSt::BadGntref)?;
    if act.pin != 0 && (act.domid != ldom || act.pin & pin_overflow_mask(incr) != 0) {
        return Err(GntSt::GeneralError);
    }
    let frames = &t.target.grant_frames;
    let page = if act.pin == 0 || (!ro && act.pin & (GNTPIN_DEVW_MASK | GNTPIN_HSTW_MASK) == 0) {
        set_status_v1(t.mem, frames, gref, act.pin != 0, ro, false, ldom)?;
        let frame =
            read_shared(t.mem, frames, gref).map_or(Mfn(u64::MAX), |e| Mfn(u64::from(e.frame)));
        if !t.frames.get_page(frame, rd) {
            reduce_status_for_pin(t.mem, frames, gref, act.pin, ro);
            return Err(GntSt::BadPage);
        }
        if act.pin == 0 {
            act.domid = ldom;
            act.mfn = frame;
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
            reduce_status_for_pin(t.mem, frames, gref, act.pin, ro);
            return Err(GntSt::BadDomain);
        }
        act.mfn
    };
    if let Some(a) = t.target.grant.active_mut(gref) {
        *a = act;
        a.pin = act.pin.saturating_add(incr);
    }
    Ok((act.mfn, page))
}

/// Xen's `release_grant_for_copy` (version 1).
fn release_grant_for_copy(t: &mut TargetCtx<'_>, gref: GrantRef, ro: bool) {
    let incr = if ro { GNTPIN_HSTR_INC } else { GNTPIN_HSTW_INC };
    let Some(a) = t.target.grant.active_mut(gref) else { return };
    a.pin = a.pin.saturating_sub(incr);
    let pin = a.pin;
    reduce_status_for_pin(t.mem, &t.target.grant_frames, gref, pin, ro);
}
