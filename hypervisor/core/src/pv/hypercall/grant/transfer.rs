// SPDX-License-Identifier: GPL-2.0-only
//! `GNTTABOP_transfer` (Xen 4.17's `gnttab_transfer`,
//! `gnttab_prepare_for_transfer`, x86's `steal_page`): page flipping.
//!
//! For each entry the caller gives up its frame `mfn` to domain `domid`,
//! into the receiver's `GTF_accept_transfer` grant `ref`:
//!
//! 1. the frame must be the caller's and used by nothing else (only its
//!    allocation reference, no type, not the shared-info, a grant-table or
//!    a status frame), else `GNTST_bad_page` and nothing happens; a frame
//!    number that does not exist is `GNTST_bad_page` too;
//! 2. it leaves the caller (`steal_page`: owner cleared, `tot_pages` - 1)
//!    and the caller's TLBs are flushed. From here on a failure frees the
//!    frame (scrubbed) — it is lost to the caller, as the ABI says: no such
//!    receiver (also `DOMID_SELF`) `GNTST_bad_domain`, access control `GNTST_permission_denied`,
//!    a frame above what a v1 entry can name (`GNTST_address_too_big`,
//!    where Xen would copy it to a lower frame first), a dying receiver or
//!    one at its `max_pages` `GNTST_general_error`, a ref beyond its table
//!    or an entry that is not exactly `GTF_accept_transfer` for the caller
//!    `GNTST_general_error`;
//! 3. the entry is marked `GTF_transfer_committed`, the frame joins the
//!    receiver (`tot_pages` + 1), its M2P entry becomes the PFN the
//!    receiver put in the entry's `frame`, the entry's `frame` becomes the
//!    MFN and `GTF_transfer_completed` is set.
//!
//! The frame's contents travel with it.

use guest_abi::grant_table::{
    GTF_accept_transfer, GTF_transfer_committed, GTF_transfer_completed, GntSt, GnttabTransfer,
};
use guest_abi::xen::{DomId, GrantRef};

use crate::common::grant_table::gnt_frames;
use crate::mm::Mfn;
use crate::mm::pv::INVALID_M2P_ENTRY;
use crate::pv::ctx::{Ctx, TargetCtx};
use crate::pv::hypercall::mm::{all_vcpus, flush_vcpus};

/// How often the commit retries an entry the guest keeps changing.
const COMMIT_TRIES: u32 = 5;

/// `GNTTABOP_transfer` for one entry.
pub fn transfer_one(ctx: &mut Ctx<'_>, op: &mut GnttabTransfer) {
    op.status = match transfer(ctx, op) {
        Ok(()) => GntSt::Okay.raw(),
        Err(s) => s.raw(),
    };
}

fn transfer(ctx: &mut Ctx<'_>, op: &GnttabTransfer) -> Result<(), GntSt> {
    let mfn = Mfn(op.mfn);
    steal_page(ctx, mfn)?;
    // gnttab_flush_tlb: the caller may no longer reach the frame.
    let all = all_vcpus(ctx);
    flush_vcpus(ctx, all, None);
    let ld = ctx.dom.id;
    // rcu_lock_domain_by_id: DOMID_SELF names no domain here.
    let r = if op.domid == DomId::SELF {
        Err(GntSt::BadDomain)
    } else {
        ctx.with_target(op.domid, |t| receive(t, ld, mfn, op.gref)).unwrap_or(Err(GntSt::BadDomain))
    };
    if r.is_err() {
        // free_domheap_page: the frame is gone for the caller too.
        ctx.m2p.set_gpfn_from_mfn(mfn, INVALID_M2P_ENTRY);
        ctx.mem.zero_frame(mfn);
        ctx.platform.free_frame(mfn);
    }
    r
}

/// x86's `steal_page` for a PV caller: takes `mfn` away from the caller,
/// which must use it for nothing but holding it. The frame is then
/// unowned and outside the allocator.
fn steal_page(ctx: &mut Ctx<'_>, mfn: Mfn) -> Result<(), GntSt> {
    let d = &*ctx.dom;
    let special = mfn == d.shared_info
        || d.grant_frames.contains(&mfn)
        || d.grant_status_frames.contains(&mfn);
    let Some(info) = ctx.frames.info(mfn) else { return Err(GntSt::BadPage) };
    if info.owner != Some(d.id)
        || !info.allocated
        || info.count != 1
        || info.type_info.count != 0
        || special
    {
        return Err(GntSt::BadPage);
    }
    ctx.frames.release(mfn, d.id).map_err(|_| GntSt::BadPage)?;
    // The release freed it (count 0); only this frame can be queued, and
    // anything else queued goes to the allocator as usual.
    for f in ctx.frames.take_freed() {
        if f != mfn {
            ctx.m2p.set_gpfn_from_mfn(f, INVALID_M2P_ENTRY);
            ctx.mem.zero_frame(f);
            ctx.platform.free_frame(f);
        }
    }
    ctx.claims.sub_tot_pages(ctx.dom, 1);
    Ok(())
}

/// The receiver's half: checks, commit, ownership, M2P, the entry.
fn receive(t: &mut TargetCtx<'_>, ld: DomId, mfn: Mfn, gref: GrantRef) -> Result<(), GntSt> {
    if t.xsm.grant_transfer(t.caller, t.target.subject()).is_err() {
        return Err(GntSt::PermissionDenied);
    }
    // A v1 entry (and a PV v1 receiver's allocation width) names 32 bits.
    if t.target.grant.version == 1 && mfn.0 >> 32 != 0 {
        return Err(GntSt::AddressTooBig);
    }
    if t.target.is_dying() || t.target.tot_pages >= t.target.max_pages {
        return Err(GntSt::GeneralError);
    }
    let g = gnt_frames(t.target);
    if gref.0 >= t.target.grant.nr_entries() {
        return Err(GntSt::GeneralError);
    }
    let (tab, i) = g.header_slot(gref).ok_or(GntSt::GeneralError)?;
    // gnttab_prepare_for_transfer: exactly GTF_accept_transfer for us.
    let want = u64::from(GTF_accept_transfer) | u64::from(ld.0) << 16;
    let mut committed = false;
    for _ in 0..COMMIT_TRIES {
        let seen = t.mem.read_u64(tab, i) & 0xffff_ffff;
        if seen != want {
            return Err(GntSt::GeneralError);
        }
        let before = t.mem.fetch_or_u64(tab, i, u64::from(GTF_transfer_committed));
        if before & 0xffff_ffff == want {
            committed = true;
            break;
        }
        // Changed under us: take back what this attempt added.
        if before & u64::from(GTF_transfer_committed) == 0 {
            t.mem.fetch_and_u64(tab, i, !u64::from(GTF_transfer_committed));
        }
    }
    if !committed {
        return Err(GntSt::GeneralError);
    }
    if t.frames.assign(mfn, t.target.id).is_err() {
        return Err(GntSt::GeneralError);
    }
    let d = &mut *t.target;
    t.claims.add_tot_pages(d, 1);
    // guest_physmap_add_page (PV): the M2P names the receiver's PFN; the
    // entry then names the frame.
    let g = gnt_frames(d);
    let pfn = crate::common::grant_table::read_shared(t.mem, &g, gref).map_or(0, |e| e.frame);
    let pfn = if g.version == 2 { pfn } else { pfn & 0xffff_ffff };
    t.m2p.set_gpfn_from_mfn(mfn, pfn);
    if g.version == 2 {
        t.mem.write_u64(tab, i.saturating_add(1), mfn.0);
    } else {
        let w = t.mem.read_u64(tab, i);
        t.mem.write_u64(tab, i, (w & 0xffff_ffff) | mfn.0 << 32);
    }
    t.mem.fetch_or_u64(tab, i, u64::from(GTF_transfer_completed));
    Ok(())
}
