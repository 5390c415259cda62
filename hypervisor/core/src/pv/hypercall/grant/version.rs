// SPDX-License-Identifier: GPL-2.0-only
//! `GNTTABOP_set_version`, `GNTTABOP_get_version` and
//! `GNTTABOP_get_status_frames` (Xen 4.17's `gnttab_set_version`,
//! `gnttab_get_version`, `gnttab_get_status_frames`,
//! `gnttab_populate_status_frames`, `gnttab_unpopulate_status_frames`).
//!
//! `set_version`, on the caller's own table, in Xen's order: a version
//! other than 1 or 2 is `-EINVAL`; 2 with a `max_version` of 1 `-ENOSYS`;
//! the version in effect succeeds at once. Otherwise an entry beyond the 8
//! reserved ones still pinned is `-EBUSY`; 1 → 2 allocates the status
//! frames (one per 8 shared frames, `-ENOMEM` if there is no memory);
//! 2 → 1 is `-ERANGE` if a reserved entry cannot be written as a v1 one (a
//! transitive grant, or a frame above 32 bits), and `-EBUSY` if the guest
//! still maps a status frame (nothing changes then). The reserved entries
//! (the toolstack's console and xenstore grants) are kept across the
//! change, converted to the new layout (a v2 status moves into the v1
//! flags and back; a reserved v2 entry that is not `GTF_permit_access`
//! becomes empty); every other entry is cleared. The version in effect is
//! written back in every case.
//!
//! `get_status_frames` lists a v2 table's status frames (of the caller or,
//! with access control's `grant_setup`, another domain): no such domain
//! `GNTST_bad_domain`, refused `GNTST_permission_denied`, more frames than
//! there are (always, for a v1 table) `GNTST_general_error`, a list that
//! cannot be written `GNTST_bad_virt_addr`; a list outside guest space is
//! `-EFAULT`, a count other than 1 `-EINVAL`.

use alloc::vec::Vec;

use guest_abi::grant_table::{
    GNTTAB_NR_RESERVED_ENTRIES, GTF_permit_access, GTF_reading, GTF_transitive, GTF_type_mask,
    GTF_writing, GntSt, GnttabGetStatusFrames, GnttabGetVersion, GnttabSetVersion,
};
use guest_abi::xen::{DomId, Errno, GrantRef};

use super::refused;
use crate::common::claims::Claims;
use crate::common::grant_table::{
    gnt_frames, grant_to_status_frames, read_shared, read_status, set_flags,
};
use crate::mm::Mfn;
use crate::mm::pv::{FrameTable, INVALID_M2P_ENTRY, M2p, PhysMem};
use crate::pv::ctx::Ctx;
use crate::pv::guest_mem::guest_handle_okay;
use crate::pv::platform::Platform;

/// `GNTTABOP_set_version`.
pub fn set_version(ctx: &mut Ctx<'_>, args: u64) -> Result<i64, Errno> {
    let mut op: GnttabSetVersion = ctx.read(args)?;
    let res = change_version(ctx, op.version);
    op.version = ctx.dom.grant.version;
    ctx.write(args, &op)?;
    res.map(|()| 0)
}

/// The machine state status frames come from and go back to.
pub struct FramePool<'a> {
    /// Frame accounting.
    pub frames: &'a mut FrameTable,
    /// Memory claims (a xenheap page never comes from claimed memory).
    pub claims: &'a mut Claims,
    /// Machine memory.
    pub mem: &'a mut dyn PhysMem,
    /// The M2P (freed frames' entries are invalidated).
    pub m2p: &'a mut dyn M2p,
    /// The frame allocator.
    pub platform: &'a mut dyn Platform,
}

fn change_version(ctx: &mut Ctx<'_>, version: u32) -> Result<(), Errno> {
    if version != 1 && version != 2 {
        return Err(Errno::EINVAL);
    }
    let gt = &ctx.dom.grant;
    if version == 2 && gt.max_version == 1 {
        // "Behave as before set_version was introduced."
        return Err(Errno::ENOSYS);
    }
    if gt.version == version {
        return Ok(());
    }
    if gt.pinned_from(GNTTAB_NR_RESERVED_ENTRIES) {
        return Err(Errno::EBUSY);
    }
    let old = gt.version;
    let id = ctx.dom.id;
    let mut pool = FramePool {
        frames: ctx.frames,
        claims: ctx.claims,
        mem: ctx.mem,
        m2p: ctx.m2p,
        platform: ctx.platform,
    };
    let d = &mut *ctx.dom;
    if old == 1 {
        let n = u32::try_from(d.grant_frames.len()).unwrap_or(u32::MAX);
        populate_status_frames(&mut pool, id, &mut d.grant_status_frames, n)?;
    } else {
        let g = gnt_frames(d);
        for i in 0..GNTTAB_NR_RESERVED_ENTRIES {
            let Some(e) = read_shared(pool.mem, &g, GrantRef(i)) else { continue };
            let ty = e.flags & GTF_type_mask;
            if ty == GTF_transitive || (ty == GTF_permit_access && e.frame >> 32 != 0) {
                return Err(Errno::ERANGE);
            }
        }
    }
    // The reserved entries as v1 entries (flags with status, domid, frame).
    let g = gnt_frames(d);
    let mut kept = [0u64; GNTTAB_NR_RESERVED_ENTRIES as usize];
    for (i, k) in (0..).zip(kept.iter_mut()) {
        let Some(e) = read_shared(pool.mem, &g, GrantRef(i)) else { continue };
        *k = if old == 1 {
            u64::from(e.flags) | u64::from(e.domid.0) << 16 | e.frame << 32
        } else if e.flags & GTF_type_mask == GTF_permit_access {
            let flags = e.flags | read_status(pool.mem, &g, GrantRef(i));
            u64::from(flags) | u64::from(e.domid.0) << 16 | (e.frame & 0xffff_ffff) << 32
        } else {
            0
        };
    }
    if old == 2 {
        unpopulate_status_frames(&mut pool, id, &mut d.grant_status_frames)?;
    }
    for &m in &d.grant_frames {
        pool.mem.zero_frame(m);
    }
    d.grant.version = version;
    let g = gnt_frames(d);
    for (i, k) in (0..).zip(kept) {
        let Some((m, slot)) = g.header_slot(GrantRef(i)) else { continue };
        if version == 1 {
            pool.mem.write_u64(m, slot, k);
            continue;
        }
        let status = u64::from(GTF_reading | GTF_writing);
        pool.mem.write_u64(m, slot, k & 0xffff_ffff & !status);
        pool.mem.write_u64(m, slot.saturating_add(1), k >> 32);
        // The status frames are fresh (zeroed): the entry's bits go in.
        #[allow(clippy::cast_possible_truncation, reason = "GTF_reading | GTF_writing")]
        set_flags(pool.mem, &g, GrantRef(i), (k & status) as u16);
    }
    Ok(())
}

/// Xen's `gnttab_populate_status_frames`: zeroed status frames for `nr`
/// shared frames, shared with domain `id` (not counted in its pages).
///
/// # Errors
/// `ENOMEM`: nothing is added.
pub fn populate_status_frames(
    pool: &mut FramePool<'_>,
    id: DomId,
    status: &mut Vec<Mfn>,
    nr: u32,
) -> Result<(), Errno> {
    let want = usize::try_from(grant_to_status_frames(nr)).map_err(|_| Errno::ENOMEM)?;
    let had = status.len();
    while status.len() < want {
        let got = if pool.claims.may_allocate(|| pool.platform.free_pages(), 1, None) {
            pool.platform.alloc_frame()
        } else {
            None
        };
        let Some(mfn) = got else {
            for m in status.drain(had..) {
                let _ = pool.frames.release(m, id);
            }
            free_released(pool);
            return Err(Errno::ENOMEM);
        };
        pool.mem.zero_frame(mfn);
        if pool.frames.assign(mfn, id).is_err() {
            pool.platform.free_frame(mfn);
            for m in status.drain(had..) {
                let _ = pool.frames.release(m, id);
            }
            free_released(pool);
            return Err(Errno::ENOMEM);
        }
        status.push(mfn);
    }
    Ok(())
}

/// Xen's `gnttab_unpopulate_status_frames` for a PV domain: the status
/// frames go back, unless the guest still maps one (a reference besides
/// the allocation's).
///
/// # Errors
/// `EBUSY`: nothing changes.
fn unpopulate_status_frames(
    pool: &mut FramePool<'_>,
    id: DomId,
    status: &mut Vec<Mfn>,
) -> Result<(), Errno> {
    let busy = status.iter().any(|&m| {
        pool.frames.info(m).is_none_or(|p| p.owner != Some(id) || !p.allocated || p.count != 1)
    });
    if busy {
        return Err(Errno::EBUSY);
    }
    for m in status.drain(..) {
        let _ = pool.frames.release(m, id);
    }
    free_released(pool);
    Ok(())
}

/// Frames freed by released references go back to the allocator.
fn free_released(pool: &mut FramePool<'_>) {
    for f in pool.frames.take_freed() {
        pool.m2p.set_gpfn_from_mfn(f, INVALID_M2P_ENTRY);
        pool.mem.zero_frame(f);
        pool.platform.free_frame(f);
    }
}

/// `GNTTABOP_get_version`: any domain the caller may query.
pub fn get_version(ctx: &mut Ctx<'_>, args: u64) -> Result<i64, Errno> {
    let mut op: GnttabGetVersion = ctx.read(args)?;
    op.version = ctx.with_target(op.dom, |t| {
        t.xsm.grant_query_size(t.caller, t.target.subject()).map(|()| t.target.grant.version)
    })??;
    ctx.write(args, &op)?;
    Ok(0)
}

/// Offset of `status` in `gnttab_get_status_frames_t`.
const STATUS_FIELD: u64 = core::mem::offset_of!(GnttabGetStatusFrames, status) as u64;

/// `GNTTABOP_get_status_frames`.
pub fn get_status_frames(ctx: &mut Ctx<'_>, args: u64, count: u64) -> Result<i64, Errno> {
    if count != 1 {
        return Err(Errno::EINVAL);
    }
    let op: GnttabGetStatusFrames = ctx.read(args)?;
    if !guest_handle_okay(op.frame_list, u64::from(op.nr_frames), 8) {
        return Err(Errno::EFAULT);
    }
    let list = ctx.with_target(op.dom, |t| {
        t.xsm.grant_setup(t.caller, t.target.subject())?;
        Ok(t.target.grant_status_frames.clone())
    });
    let status = match list.and_then(|r| r) {
        Err(e) => refused(e),
        Ok(frames) if usize::try_from(op.nr_frames).map_or(true, |n| n > frames.len()) => {
            GntSt::GeneralError.raw()
        }
        Ok(frames) => {
            let mut st = GntSt::Okay.raw();
            let n = usize::try_from(op.nr_frames).unwrap_or(0);
            for (i, m) in (0u64..).zip(frames.iter().take(n)) {
                if ctx.write(op.frame_list.wrapping_add(i.wrapping_mul(8)), &m.0).is_err() {
                    st = GntSt::BadVirtAddr.raw();
                }
            }
            st
        }
    };
    ctx.write(args.wrapping_add(STATUS_FIELD), &status)?;
    Ok(0)
}
