// SPDX-License-Identifier: GPL-2.0-only
//! `grant_table_op(cmd, args, count)` (Xen 4.17's `do_grant_table_op`).
//!
//! * `setup_table` grows the caller's table (or, for the privileged
//!   domain, another's: access control's `grant_setup`; a domain builder
//!   seeds a new domain's table this way) to the requested number of
//!   frames, up to the domain's maximum, and returns their machine frame
//!   numbers (for a v2 table it also grows the status frames to match);
//!   `query_size` reports the current and maximum size. No such
//!   domain is `GNTST_bad_domain`, a refusal `GNTST_permission_denied`.
//! * `map_grant_ref` / `unmap_grant_ref` ([`map`]): host mappings by
//!   linear address or PTE machine address (`GNTMAP_contains_pte`),
//!   read-only or writable, and device mappings (`dev_bus_addr` is the
//!   machine address: there is no IOMMU); per-op status in each entry.
//! * `copy` ([`copy`]): source and destination by grant ref or, for the
//!   caller's own frames (`DOMID_SELF`), by frame.
//! * `set_version`, `get_version`, `get_status_frames` ([`version`]):
//!   version 2 as Xen 4.17 has it, within the domain's `max_version`.
//! * `unmap_and_replace` ([`map`]): an unmap that moves another PTE of
//!   the caller into the grant PTE's place.
//! * `swap_grant_ref` and `cache_flush` ([`misc`]); `transfer`
//!   ([`transfer`]): page flipping into a `GTF_accept_transfer` grant.
//! * `dump_table` is `-ENOSYS`, as in Xen 4.17 (which has no handler).
//!
//! The batched operations check for preemption between entries and
//! continue as Xen does (the argument pointer advanced, the count reduced;
//! `copy` likewise).

mod copy;
mod map;
mod misc;
mod transfer;
mod version;

#[cfg(test)]
mod tests;

use guest_abi::grant_table::{
    GntSt, GnttabCopy, GnttabMapGrantRef, GnttabOp, GnttabQuerySize, GnttabSetupTable,
    GnttabSwapGrantRef, GnttabTransfer, GnttabUnmapAndReplace, GnttabUnmapGrantRef,
};
use guest_abi::xen::{Errno, Hypercall};

use super::continuation::create_continuation;
use crate::pv::ctx::{Ctx, TargetCtx};

/// Most entries one `setup_table` call may carry.
const MAX_SETUP_OPS: u64 = 512;

/// `GNTTABOP_CMD_MASK`: the command; the bits above are a continuation
/// argument only `cache_flush` may carry.
const GNTTABOP_CMD_MASK: u32 = (1 << 12) - 1;

/// The status for a domain `with_target` could not give, or that access
/// control refused: `GNTST_bad_domain`, `GNTST_permission_denied`.
fn refused(e: Errno) -> i16 {
    if e == Errno::ESRCH { GntSt::BadDomain.raw() } else { GntSt::PermissionDenied.raw() }
}

/// `GNTTABOP_setup_table` for one entry: the caller's table or, with the
/// right (a domain builder seeding a new domain's), another domain's.
fn setup_one(ctx: &mut Ctx<'_>, s: &mut GnttabSetupTable) -> Result<(), Errno> {
    let r = ctx.with_target(s.dom, |t| {
        t.xsm.grant_setup(t.caller, t.target.subject())?;
        Ok(setup_frames(t, s))
    });
    match r {
        Ok(Ok(inner)) => inner,
        Ok(Err(e)) | Err(e) => {
            s.status = refused(e);
            Ok(())
        }
    }
}

/// Grows the target's table to `s.nr_frames` and lists its frames in the
/// caller's `s.frame_list`; the error is a fault on that list.
fn setup_frames(t: &mut TargetCtx<'_>, s: &mut GnttabSetupTable) -> Result<(), Errno> {
    s.status = GntSt::GeneralError.raw();
    if s.nr_frames > t.target.max_grant_frames || t.target.is_dying() {
        return Ok(());
    }
    let Ok(want) = usize::try_from(s.nr_frames) else { return Ok(()) };
    // A v2 table's status frames first: if they cannot be had nothing
    // changes (Xen frees the shared frames it grew in that case).
    if t.target.grant.version == 2 {
        let mut pool = version::FramePool {
            frames: t.frames,
            claims: t.claims,
            mem: t.mem,
            m2p: t.m2p,
            platform: t.platform,
        };
        let had = u32::try_from(t.target.grant_frames.len()).unwrap_or(u32::MAX);
        let (id, nr) = (t.target.id, s.nr_frames.max(had));
        let status = &mut t.target.grant_status_frames;
        if version::populate_status_frames(&mut pool, id, status, nr).is_err() {
            return Ok(());
        }
    }
    while t.target.grant_frames.len() < want {
        // A xenheap page: never from claimed memory.
        if !t.claims.may_allocate(|| t.platform.free_pages(), 1, None) {
            return Ok(());
        }
        let Some(mfn) = t.platform.alloc_frame() else { return Ok(()) };
        // Shared with the guest like a xenheap page: owned by it, not counted.
        if t.frames.assign(mfn, t.target.id).is_err() {
            t.platform.free_frame(mfn);
            return Ok(());
        }
        t.target.grant_frames.push(mfn);
    }
    let have = u32::try_from(t.target.grant_frames.len()).unwrap_or(u32::MAX);
    if t.target.grant.grow_to_frames(have).is_err() {
        return Ok(());
    }
    for i in 0..want {
        let Some(mfn) = t.target.grant_frames.get(i).copied() else { return Ok(()) };
        t.write(s.frame_list.wrapping_add((i as u64).wrapping_mul(8)), &mfn.0)?;
    }
    s.status = GntSt::Okay.raw();
    Ok(())
}

/// `GNTTABOP_query_size`.
fn query_size(ctx: &mut Ctx<'_>, args: u64) -> Result<i64, Errno> {
    let mut q: GnttabQuerySize = ctx.read(args)?;
    let size = ctx.with_target(q.dom, |t| {
        t.xsm.grant_setup(t.caller, t.target.subject())?;
        let n = u32::try_from(t.target.grant_frames.len()).unwrap_or(u32::MAX);
        Ok((n, t.target.max_grant_frames))
    });
    match size.and_then(|r| r) {
        Ok((nr, max)) => {
            q.nr_frames = nr;
            q.max_nr_frames = max;
            q.status = GntSt::Okay.raw();
        }
        Err(e) => q.status = refused(e),
    }
    ctx.write(args, &q)?;
    Ok(0)
}

/// Runs `one` on each of the `count` `T`s at `args`, writing each back;
/// between entries a pending preemption continues the hypercall with the
/// rest (Xen's `gnttab_map_grant_ref` and siblings).
fn batch<T: bytemuck::Pod>(
    ctx: &mut Ctx<'_>,
    cmd: u32,
    args: u64,
    count: u64,
    mut one: impl FnMut(&mut Ctx<'_>, &mut T),
) -> Result<i64, Errno> {
    let size = core::mem::size_of::<T>() as u64;
    for i in 0..count {
        let va = args.wrapping_add(i.wrapping_mul(size));
        if i != 0 && ctx.hypercall_preempt_check() {
            let rest = [u64::from(cmd), va, count.wrapping_sub(i)];
            return Ok(create_continuation(ctx, Hypercall::GrantTableOp, &rest));
        }
        let mut op: T = ctx.read(va)?;
        one(ctx, &mut op);
        ctx.write(va, &op)?;
    }
    Ok(0)
}

/// `grant_table_op`.
pub fn grant_table_op(ctx: &mut Ctx<'_>, cmd: u64, args: u64, count: u64) -> Result<i64, Errno> {
    // Both are `unsigned int` in Xen; a count above INT_MAX is refused.
    let cmd = u32::try_from(cmd & 0xffff_ffff).unwrap_or(u32::MAX);
    let count = count & 0xffff_ffff;
    if count > u64::from(i32::MAX.cast_unsigned()) {
        return Err(Errno::EINVAL);
    }
    let raw = cmd & GNTTABOP_CMD_MASK;
    let op = GnttabOp::try_from(raw).ok();
    if cmd & !GNTTABOP_CMD_MASK != 0 && op != Some(GnttabOp::CacheFlush) {
        return Err(Errno::EINVAL);
    }
    match op {
        Some(GnttabOp::SetupTable) => {
            if count > MAX_SETUP_OPS {
                return Err(Errno::EINVAL);
            }
            let size = core::mem::size_of::<GnttabSetupTable>() as u64;
            for i in 0..count {
                let va = args.wrapping_add(i.wrapping_mul(size));
                let mut s: GnttabSetupTable = ctx.read(va)?;
                setup_one(ctx, &mut s)?;
                ctx.write(va, &s)?;
            }
            Ok(0)
        }
        Some(GnttabOp::QuerySize) if count == 1 => query_size(ctx, args),
        Some(GnttabOp::MapGrantRef) => {
            batch(ctx, raw, args, count, |c, op: &mut GnttabMapGrantRef| map::map_grant_ref(c, op))
        }
        Some(GnttabOp::UnmapGrantRef) => batch(ctx, raw, args, count, |c, op| {
            map::unmap_grant_ref(c, op as &mut GnttabUnmapGrantRef);
        }),
        Some(GnttabOp::UnmapAndReplace) => batch(ctx, raw, args, count, |c, op| {
            map::unmap_and_replace(c, op as &mut GnttabUnmapAndReplace);
        }),
        Some(GnttabOp::Copy) => {
            batch(ctx, raw, args, count, |c, op: &mut GnttabCopy| op.status = copy::copy_one(c, op))
        }
        Some(GnttabOp::SwapGrantRef) => batch(ctx, raw, args, count, |c, op| {
            misc::swap_grant_ref(c, op as &mut GnttabSwapGrantRef);
        }),
        Some(GnttabOp::CacheFlush) => misc::cache_flush(ctx, cmd, args, count),
        // `gnttab=no-transfer` (`opt_grant_transfer`).
        Some(GnttabOp::Transfer) if !ctx.platform.gnttab_opts().transfer => Err(Errno::EOPNOTSUPP),
        Some(GnttabOp::Transfer) => batch(ctx, raw, args, count, |c, op: &mut GnttabTransfer| {
            transfer::transfer_one(c, op);
        }),
        Some(GnttabOp::SetVersion) => version::set_version(ctx, args),
        Some(GnttabOp::GetVersion) => version::get_version(ctx, args),
        Some(GnttabOp::GetStatusFrames) => version::get_status_frames(ctx, args, count),
        Some(GnttabOp::QuerySize) => Err(Errno::EINVAL),
        _ => Err(Errno::ENOSYS),
    }
}

pub use map::release_mappings;
