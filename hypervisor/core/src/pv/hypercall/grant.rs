// SPDX-License-Identifier: GPL-2.0-only
//! `grant_table_op(cmd, args, count)` for the caller's own table, version 1.
//!
//! `setup_table` grows the table to the requested number of frames (up to
//! the domain's maximum) and returns their machine frame numbers;
//! `query_size` reports the current and maximum size. Only version 1
//! exists: `set_version`/`get_version` are `-ENOSYS`, which guests read as
//! "an older Xen with version 1 only". Mapping, copying and transferring
//! grants come with inter-domain support (a later issue).

use guest_abi::grant_table::{GntSt, GnttabOp, GnttabQuerySize, GnttabSetupTable};
use guest_abi::xen::{DOMID_SELF, DomId, Errno};

use crate::pv::ctx::Ctx;

/// Most entries one call may carry.
const MAX_OPS: u64 = 512;

fn own(ctx: &Ctx<'_>, d: DomId) -> bool {
    d == DOMID_SELF || d == ctx.dom.id
}

fn setup_one(ctx: &mut Ctx<'_>, s: &mut GnttabSetupTable) -> Result<(), Errno> {
    if !own(ctx, s.dom) {
        s.status =
            if ctx.dom.privileged { GntSt::BadDomain.raw() } else { GntSt::PermissionDenied.raw() };
        return Ok(());
    }
    if s.nr_frames > ctx.dom.max_grant_frames {
        s.status = GntSt::GeneralError.raw();
        return Ok(());
    }
    let want = usize::try_from(s.nr_frames).map_err(|_| Errno::EINVAL)?;
    while ctx.dom.grant_frames.len() < want {
        let Some(mfn) = ctx.platform.alloc_frame() else {
            s.status = GntSt::GeneralError.raw();
            return Ok(());
        };
        let dom = ctx.dom.id;
        // Shared with the guest like a xenheap page: owned by it, not counted.
        if ctx.frames.assign(mfn, dom).is_err() {
            s.status = GntSt::GeneralError.raw();
            return Ok(());
        }
        ctx.dom.grant_frames.push(mfn);
    }
    for i in 0..want {
        let mfn = ctx.dom.grant_frames.get(i).copied().ok_or(Errno::EINVAL)?;
        ctx.write(s.frame_list.wrapping_add((i as u64).wrapping_mul(8)), &mfn.0)?;
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
            if own(ctx, q.dom) {
                q.nr_frames = u32::try_from(ctx.dom.grant_frames.len()).unwrap_or(u32::MAX);
                q.max_nr_frames = ctx.dom.max_grant_frames;
                q.status = GntSt::Okay.raw();
            } else {
                q.status = GntSt::BadDomain.raw();
            }
            ctx.write(args, &q)?;
            Ok(0)
        }
        _ => Err(Errno::ENOSYS),
    }
}
