// SPDX-License-Identifier: GPL-2.0-only
//! `GNTTABOP_swap_grant_ref` and `GNTTABOP_cache_flush` (Xen 4.17's
//! `swap_grant_ref`, `_cache_flush`, `grant_map_exists`, x86 flavour).
//!
//! `swap_grant_ref` exchanges two entries of the caller's own table (for
//! version 2 their status entries too): a ref beyond the table is
//! `GNTST_bad_gntref`, an entry in use `GNTST_eagain`; the same ref twice
//! is a no-op.
//!
//! `cache_flush` writes back and invalidates the caches over a frame given
//! by machine address (`GNTTAB_CACHE_SOURCE_GREF` is not supported: Xen
//! refuses the flag with `-EINVAL` before reaching its `-EOPNOTSUPP`). The
//! frame must be the caller's or a frame some domain's grant to the caller
//! is pinned on (a mapping or a copy in progress); other failures end the
//! whole call with `-errno`: an offset or length beyond the page or an
//! unknown flag `-EINVAL`, a frame that does not exist `-EINVAL`, one no
//! grant-table owner holds `-EPERM`, one not granted `-EINVAL`. x86 can
//! only clean, or clean and invalidate, together (a whole-page flush);
//! invalidating alone is `-EOPNOTSUPP`. An empty operation does nothing.
//! The search of the owner's table goes 4096 entries at a time and may
//! continue the hypercall in between, with the ref reached in the command's
//! upper bits, as Xen does.

use guest_abi::grant_table::{
    GNTTAB_CACHE_CLEAN, GNTTAB_CACHE_INVAL, GntSt, GnttabCacheFlush, GnttabSwapGrantRef,
};
use guest_abi::xen::{DomId, Errno, GrantRef, Hypercall};

use super::super::continuation::create_continuation;
use crate::common::domain::Domain;
use crate::common::grant_table::{clear_flags, gnt_frames, read_status, set_flags};
use crate::mm::Mfn;
use crate::pv::ctx::Ctx;
use crate::pv::guest_mem::guest_handle_okay;

/// Entries searched per step (`1 << GNTTABOP_CONTINUATION_ARG_SHIFT`).
const SEARCH_STEP: u32 = 1 << 12;

/// `GNTTABOP_swap_grant_ref` for one entry.
pub fn swap_grant_ref(ctx: &mut Ctx<'_>, op: &mut GnttabSwapGrantRef) {
    op.status = match swap(ctx, op.ref_a, op.ref_b) {
        Ok(()) => GntSt::Okay.raw(),
        Err(s) => s.raw(),
    };
}

fn swap(ctx: &mut Ctx<'_>, a: GrantRef, b: GrantRef) -> Result<(), GntSt> {
    let d = &mut *ctx.dom;
    let n = d.grant.nr_entries();
    if a.0 >= n || b.0 >= n {
        return Err(GntSt::BadGntref);
    }
    if a == b {
        return Ok(());
    }
    let pinned = |d: &mut Domain, r| d.grant.active_mut(r).is_none_or(|x| x.pin != 0);
    if pinned(d, a) || pinned(d, b) {
        return Err(GntSt::Eagain);
    }
    let g = gnt_frames(d);
    let (Some((ma, ia)), Some((mb, ib))) = (g.header_slot(a), g.header_slot(b)) else {
        return Err(GntSt::BadGntref);
    };
    let words = if g.version == 2 { 2 } else { 1 };
    for w in 0..words {
        let (ja, jb) = (ia.saturating_add(w), ib.saturating_add(w));
        let (va, vb) = (ctx.mem.read_u64(ma, ja), ctx.mem.read_u64(mb, jb));
        ctx.mem.write_u64(ma, ja, vb);
        ctx.mem.write_u64(mb, jb, va);
    }
    if g.version == 2 {
        let (sa, sb) = (read_status(ctx.mem, &g, a), read_status(ctx.mem, &g, b));
        clear_flags(ctx.mem, &g, a, !0);
        clear_flags(ctx.mem, &g, b, !0);
        set_flags(ctx.mem, &g, a, sb);
        set_flags(ctx.mem, &g, b, sa);
    }
    Ok(())
}

/// `GNTTABOP_cache_flush`: `cmd` with its continuation bits.
pub fn cache_flush(ctx: &mut Ctx<'_>, cmd: u32, args: u64, count: u64) -> Result<i64, Errno> {
    let size = core::mem::size_of::<GnttabCacheFlush>() as u64;
    if !guest_handle_okay(args, count, size) {
        return Err(Errno::EFAULT);
    }
    let raw = cmd & (SEARCH_STEP - 1);
    let mut cur_ref = cmd & !(SEARCH_STEP - 1);
    for i in 0..count {
        let va = args.wrapping_add(i.wrapping_mul(size));
        if i != 0 && ctx.hypercall_preempt_check() {
            let rest = [u64::from(raw), va, count.wrapping_sub(i)];
            return Ok(create_continuation(ctx, Hypercall::GrantTableOp, &rest));
        }
        let op: GnttabCacheFlush = ctx.read(va)?;
        while !flush_one(ctx, &op, &mut cur_ref)? {
            if ctx.hypercall_preempt_check() {
                let rest = [u64::from(raw | cur_ref), va, count.wrapping_sub(i)];
                return Ok(create_continuation(ctx, Hypercall::GrantTableOp, &rest));
            }
        }
        cur_ref = 0;
    }
    Ok(0)
}

/// Xen's `_cache_flush`: `Ok(true)` when done, `Ok(false)` when the search
/// of the owner's table is to go on from `cur_ref`.
fn flush_one(ctx: &mut Ctx<'_>, op: &GnttabCacheFlush, cur_ref: &mut u32) -> Result<bool, Errno> {
    let (off, len) = (u32::from(op.offset), u32::from(op.length));
    let known = GNTTAB_CACHE_INVAL | GNTTAB_CACHE_CLEAN;
    if off >= 4096 || len > 4096 || off.saturating_add(len) > 4096 || op.op & !known != 0 {
        return Err(Errno::EINVAL);
    }
    if len == 0 || op.op == 0 {
        return if *cur_ref == 0 { Ok(true) } else { Err(Errno::EILSEQ) };
    }
    let mfn = Mfn(op.dev_bus_addr() >> 12);
    if !ctx.frames.mfn_valid(mfn) {
        return Err(Errno::EINVAL);
    }
    // page_get_owner_and_reference; the owner must have a grant table
    // (a domain, not DOMID_IO or a free frame).
    let Some(owner) = ctx.frames.owner(mfn).filter(|&o| ctx.frames.get_page(mfn, o)) else {
        return Err(Errno::EPERM);
    };
    let me = ctx.dom.id;
    let found = if owner == me {
        Ok(true)
    } else {
        ctx.with_target(owner, |t| grant_map_exists(t.target, me, mfn, cur_ref))
            .map_err(|_| Errno::EPERM)
            .and_then(|r| r)
    };
    let rc = match found {
        Ok(true) if op.op == GNTTAB_CACHE_INVAL => Err(Errno::EOPNOTSUPP),
        Ok(true) => {
            ctx.mem.clean_cache(mfn);
            Ok(true)
        }
        other => other,
    };
    ctx.frames.put_page(mfn);
    rc
}

/// Xen's `grant_map_exists`: whether an entry of `rd` from `cur_ref` on
/// (4096 at a time) is pinned by `ld` on `mfn`; `Ok(false)` with
/// `cur_ref` advanced when the search must go on.
fn grant_map_exists(rd: &Domain, ld: DomId, mfn: Mfn, cur_ref: &mut u32) -> Result<bool, Errno> {
    let n = rd.grant.nr_entries();
    let end = cur_ref.saturating_add(SEARCH_STEP).min(n);
    let from = usize::try_from(*cur_ref).unwrap_or(usize::MAX);
    let upto = usize::try_from(end).unwrap_or(0);
    let hit = rd
        .grant
        .active
        .get(from..upto)
        .is_some_and(|acts| acts.iter().any(|a| a.pin != 0 && a.domid == ld && a.mfn == mfn));
    if hit {
        return Ok(true);
    }
    if end < n {
        *cur_ref = end;
        return Ok(false);
    }
    Err(Errno::EINVAL)
}
