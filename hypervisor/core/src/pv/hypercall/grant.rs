// SPDX-License-Identifier: GPL-2.0-only
//! `grant_table_op(cmd, args, count)`, version 1: the caller's table, or
//! another domain's for the privileged domain (access control's
//! `grant_setup`; a domain builder seeds a new domain's table this way).
//! No such domain is `GNTST_bad_domain`, a refusal
//! `GNTST_permission_denied`.
//!
//! `setup_table` grows the table to the requested number of frames (up to
//! the domain's maximum) and returns their machine frame numbers;
//! `query_size` reports the current and maximum size. Only version 1
//! exists: `set_version`/`get_version` are `-ENOSYS`, which guests read as
//! "an older Xen with version 1 only". Mapping, copying and transferring
//! grants come with inter-domain support (a later issue).

use guest_abi::grant_table::{GntSt, GnttabOp, GnttabQuerySize, GnttabSetupTable};
use guest_abi::xen::Errno;

use crate::pv::ctx::{Ctx, TargetCtx};

/// Most entries one call may carry.
const MAX_OPS: u64 = 512;

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
    for i in 0..want {
        let Some(mfn) = t.target.grant_frames.get(i).copied() else { return Ok(()) };
        t.write(s.frame_list.wrapping_add((i as u64).wrapping_mul(8)), &mfn.0)?;
    }
    s.status = GntSt::Okay.raw();
    Ok(())
}

/// `grant_table_op`.
pub fn grant_table_op(ctx: &mut Ctx<'_>, cmd: u64, args: u64, count: u64) -> Result<i64, Errno> {
    let op = u32::try_from(cmd).ok().and_then(|c| GnttabOp::try_from(c).ok());
    let count = count & 0xffff_ffff;
    if count > MAX_OPS {
        return Err(Errno::EINVAL);
    }
    match op {
        Some(GnttabOp::SetupTable) => {
            let size = core::mem::size_of::<GnttabSetupTable>() as u64;
            for i in 0..count {
                let va = args.wrapping_add(i.wrapping_mul(size));
                let mut s: GnttabSetupTable = ctx.read(va)?;
                setup_one(ctx, &mut s)?;
                ctx.write(va, &s)?;
            }
            Ok(0)
        }
        Some(GnttabOp::QuerySize) => {
            if count != 1 {
                return Err(Errno::EINVAL);
            }
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
        _ => Err(Errno::ENOSYS),
    }
}
