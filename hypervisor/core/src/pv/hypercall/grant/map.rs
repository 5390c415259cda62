// SPDX-License-Identifier: GPL-2.0-only
//! `GNTTABOP_map_grant_ref`, `GNTTABOP_unmap_grant_ref` and
//! `GNTTABOP_unmap_and_replace` (Xen's `map_grant_ref`, `unmap_common`,
//! `unmap_common_complete`) and the release of a dying domain's mappings
//! (`gnttab_release_mappings`).
//!
//! Map, in Xen's order and with Xen's statuses: no `GNTMAP_host_map` or
//! `GNTMAP_device_map` is `GNTST_bad_gntref`; no such domain (also
//! `DOMID_SELF`, which map does not accept) `GNTST_bad_domain`; access
//! control `GNTST_permission_denied`; no maptrack handle `GNTST_no_space`;
//! a ref beyond the table `GNTST_bad_gntref`; an entry pinned by another
//! domain, not `GTF_permit_access` to the caller, a `GTF_readonly` grant
//! mapped writable, a frame that cannot take a writable type (a page
//! table), or a PTE that cannot be written `GNTST_general_error`; a frame
//! the granter does not own `GNTST_bad_page`. A failed map undoes its pin
//! and references.
//!
//! References: a mapping holds one general reference on the frame and, if
//! writable, one `Writable` type reference, per kind (host, device). A
//! host mapping's references are carried by its PTE (see
//! [`crate::mm::pv::GrantPte`]).
//!
//! Unmap: a handle out of range or not in use is `GNTST_bad_handle`; a
//! `dev_bus_addr` that does not match a device mapping `GNTST_bad_dev_addr`;
//! a host address whose PTE no longer maps the grant
//! `GNTST_general_error` (the mapping stays). A `host_addr` of 0 leaves
//! the host mapping in place. The PTE is cleared and the caller's TLBs
//! flushed before the references go. `unmap_and_replace` unmaps a host
//! mapping the same way but puts the caller's PTE of `new_addr` in its
//! place (clearing it at `new_addr`); a `GNTMAP_contains_pte` mapping
//! with a `new_addr`, or a `new_addr` without an L1 entry, is
//! `GNTST_general_error`.

use alloc::vec::Vec;

use guest_abi::grant_table::{
    GNTMAP_device_map, GNTMAP_host_map, GNTMAP_readonly, GntSt, GnttabMapGrantRef,
    GnttabUnmapAndReplace, GnttabUnmapGrantRef, GrantHandle,
};
use guest_abi::xen::{DomId, GrantRef};

use crate::common::domain::{Domain, Dying};
use crate::common::grant_table::{
    ActiveGrant, GNTPIN_DEVR_INC, GNTPIN_DEVW_INC, GNTPIN_DEVW_MASK, GNTPIN_HSTR_INC,
    GNTPIN_HSTW_INC, GNTPIN_HSTW_MASK, GrantMapping, gnt_frames, pin_overflow_mask, read_shared,
    reduce_status_for_pin, set_status,
};
use crate::mm::Mfn;
use crate::mm::pv::{GrantPte, INVALID_M2P_ENTRY, PageType, PvMm, addr_ok};
use crate::pv::ctx::{Ctx, TargetCtx};
use crate::pv::hypercall::mm::{all_vcpus, find_l1e, flush_vcpus};

/// Where the PTE for `addr` is, for the caller.
fn grant_pte(ctx: &Ctx<'_>, addr: u64, flags: u32) -> GrantPte {
    GrantPte::new(addr, flags, |va| if addr_ok(va) { find_l1e(ctx, va) } else { None })
}

/// The pin increment of a map with `flags` (0: neither host nor device).
fn pin_incr(flags: u32) -> u32 {
    let ro = flags & GNTMAP_readonly != 0;
    let mut incr = 0;
    if flags & GNTMAP_device_map != 0 {
        incr |= if ro { GNTPIN_DEVR_INC } else { GNTPIN_DEVW_INC };
    }
    if flags & GNTMAP_host_map != 0 {
        incr |= if ro { GNTPIN_HSTR_INC } else { GNTPIN_HSTW_INC };
    }
    incr
}

/// `GNTTABOP_map_grant_ref` for one entry.
pub fn map_grant_ref(ctx: &mut Ctx<'_>, op: &mut GnttabMapGrantRef) {
    op.status = match map_inner(ctx, op) {
        Ok(()) => GntSt::Okay.raw(),
        Err(s) => s.raw(),
    };
}

fn map_inner(ctx: &mut Ctx<'_>, op: &mut GnttabMapGrantRef) -> Result<(), GntSt> {
    let incr = pin_incr(op.flags);
    if incr == 0 {
        return Err(GntSt::BadGntref);
    }
    // rcu_lock_domain_by_id: DOMID_SELF is no domain here.
    if op.dom == DomId::SELF {
        return Err(GntSt::BadDomain);
    }
    match ctx.with_target(op.dom, |t| t.xsm.grant_mapref(t.caller, t.target.subject())) {
        Err(_) => return Err(GntSt::BadDomain),
        Ok(Err(_)) => return Err(GntSt::PermissionDenied),
        Ok(Ok(())) => {}
    }
    let at = grant_pte(ctx, op.host_addr, op.flags);
    let max = ctx.dom.max_maptrack_frames;
    let handle = ctx.dom.grant.get_maptrack_handle(max).ok_or(GntSt::NoSpace)?;
    let ld = ctx.dom.id;
    let r =
        ctx.with_target(op.dom, |t| map_in(t, ld, op, incr, at)).unwrap_or(Err(GntSt::BadDomain));
    match r {
        Ok(mfn) => {
            let m = GrantMapping { gref: op.gref, flags: op.flags, domid: op.dom };
            ctx.dom.grant.set_mapping(handle, m);
            op.dev_bus_addr = mfn.0 << 12;
            op.handle = handle;
            Ok(())
        }
        Err(s) => {
            ctx.dom.grant.put_maptrack_handle(handle);
            Err(s)
        }
    }
}

/// The granting domain's half of a map: pin, references, the PTE.
fn map_in(
    t: &mut TargetCtx<'_>,
    ld: DomId,
    op: &GnttabMapGrantRef,
    incr: u32,
    at: GrantPte,
) -> Result<Mfn, GntSt> {
    let rd = t.target.id;
    let gref = op.gref;
    let ro = op.flags & GNTMAP_readonly != 0;
    let mut act = t.target.grant.active_mut(gref).copied().ok_or(GntSt::BadGntref)?;
    // A copy's sub-page or transitive pin cannot be mapped alongside.
    if act.pin != 0
        && (act.domid != ld || act.pin & pin_overflow_mask(incr) != 0 || act.is_sub_page)
    {
        return Err(GntSt::GeneralError);
    }
    let mut page_ref = false;
    if act.pin == 0 || (!ro && act.pin & (GNTPIN_HSTW_MASK | GNTPIN_DEVW_MASK) == 0) {
        let g = gnt_frames(t.target);
        set_status(t.mem, &g, gref, act.pin != 0, ro, true, ld)?;
        if act.pin == 0 {
            // get_paged_frame: a PV granter's frame number is the MFN, and
            // the frame must be its own.
            let frame = read_shared(t.mem, &g, gref).map_or(Mfn(u64::MAX), |e| Mfn(e.frame));
            if !t.frames.get_page(frame, rd) {
                reduce_status_for_pin(t.mem, &g, gref, act.pin, ro);
                return Err(GntSt::BadPage);
            }
            page_ref = true;
            act.domid = ld;
            act.mfn = frame;
        }
    }
    act.pin = act.pin.saturating_add(incr);
    if page_ref {
        // A whole page of this entry (`start`, `length`, `trans_*`).
        if let Some(a) = t.target.grant.active_mut(gref) {
            *a = ActiveGrant { length: 4096, ..ActiveGrant::default() };
        }
    }
    set_active(t.target, gref, act.pin, Some((act.domid, act.mfn)));
    let mfn = act.mfn;
    match take_map_refs(t, ld, op, at, mfn, page_ref) {
        Ok(()) => Ok(mfn),
        Err(s) => {
            let pin = act.pin.saturating_sub(incr);
            set_active(t.target, gref, pin, None);
            reduce_status_for_pin(t.mem, &gnt_frames(t.target), gref, pin, ro);
            Err(s)
        }
    }
}

/// Stores `pin` (and, when given, the grantee and frame) in `gref`'s
/// active entry.
fn set_active(d: &mut Domain, gref: GrantRef, pin: u32, who: Option<(DomId, Mfn)>) {
    if let Some(a) = d.grant.active_mut(gref) {
        a.pin = pin;
        if let Some((domid, mfn)) = who {
            a.domid = domid;
            a.mfn = mfn;
        }
    }
}

/// Takes the references of a mapping of `mfn` and writes the host PTE;
/// on failure everything taken is given back. `page_ref`: a general
/// reference is already held (from the first pin).
fn take_map_refs(
    t: &mut TargetCtx<'_>,
    ld: DomId,
    op: &GnttabMapGrantRef,
    at: GrantPte,
    mfn: Mfn,
    page_ref: bool,
) -> Result<(), GntSt> {
    let rd = t.target.id;
    let ro = op.flags & GNTMAP_readonly != 0;
    let device = op.flags & GNTMAP_device_map != 0;
    let host = op.flags & GNTMAP_host_map != 0;
    // page_get_owner_and_reference.
    let owner = if page_ref {
        Some(rd)
    } else {
        t.frames.owner(mfn).filter(|&o| t.frames.get_page(mfn, o))
    };
    let mut refs = u32::from(owner.is_some());
    let mut types = 0u32;
    let mut mm = PvMm::new(t.frames, t.mem, t.m2p, t.hooks);
    let rc = (|| {
        // Only the granter's own RAM frames are mapped here (a PV
        // granter's I/O frames fail get_paged_frame already).
        if owner != Some(rd) {
            return Err(GntSt::GeneralError);
        }
        if device && !ro {
            mm.get_page_type(mfn, PageType::Writable).map_err(|_| GntSt::GeneralError)?;
            types = types.saturating_add(1);
        }
        if host {
            if device {
                if !mm.frames.get_page(mfn, rd) {
                    return Err(GntSt::GeneralError);
                }
                refs = refs.saturating_add(1);
            }
            if !ro {
                mm.get_page_type(mfn, PageType::Writable).map_err(|_| GntSt::GeneralError)?;
                types = types.saturating_add(1);
            }
            mm.create_grant_pv_mapping(ld, at, mfn, op.flags)?;
        }
        Ok(())
    })();
    if rc.is_err() {
        for _ in 0..types {
            mm.put_page_type(mfn);
        }
        for _ in 0..refs {
            mm.frames.put_page(mfn);
        }
    }
    rc
}

/// What one unmap asks for (`struct gnttab_unmap_common`).
#[derive(Clone, Copy)]
struct Unmap {
    host_addr: u64,
    dev_bus_addr: u64,
    handle: GrantHandle,
    /// `unmap_and_replace`'s `new_addr` (0: none).
    new_addr: u64,
}

/// `GNTTABOP_unmap_grant_ref` for one entry.
pub fn unmap_grant_ref(ctx: &mut Ctx<'_>, op: &mut GnttabUnmapGrantRef) {
    let u = Unmap {
        host_addr: op.host_addr,
        dev_bus_addr: op.dev_bus_addr,
        handle: op.handle,
        new_addr: 0,
    };
    op.status = match unmap_inner(ctx, u) {
        Ok(()) => GntSt::Okay.raw(),
        Err(s) => s.raw(),
    };
}

/// `GNTTABOP_unmap_and_replace` for one entry: the host mapping at
/// `host_addr` is removed and, with a `new_addr`, the caller's PTE for
/// `new_addr` moves into its place (`new_addr` is then unmapped); never a
/// device mapping (`dev_bus_addr` 0).
pub fn unmap_and_replace(ctx: &mut Ctx<'_>, op: &mut GnttabUnmapAndReplace) {
    let u = Unmap {
        host_addr: op.host_addr,
        dev_bus_addr: 0,
        handle: op.handle,
        new_addr: op.new_addr,
    };
    op.status = match unmap_inner(ctx, u) {
        Ok(()) => GntSt::Okay.raw(),
        Err(s) => s.raw(),
    };
}

fn unmap_inner(ctx: &mut Ctx<'_>, op: Unmap) -> Result<(), GntSt> {
    let map = ctx.dom.grant.mapping(op.handle).ok_or(GntSt::BadHandle)?;
    let at = grant_pte(ctx, op.host_addr, map.flags);
    let new = (op.new_addr != 0)
        .then(|| if addr_ok(op.new_addr) { find_l1e(ctx, op.new_addr) } else { None });
    let ld = ctx.dom.id;
    let r = ctx.with_target(map.domid, |t| {
        if t.xsm.grant_unmapref(t.caller, t.target.subject()).is_err() {
            return Err(GntSt::PermissionDenied);
        }
        unmap_common(t, ld, map, op, at, new)
    });
    let Ok(r) = r else {
        // The granter is gone: only possible once the grant was unmapped
        // behind the grant table's back (Xen: "naughty", the caller
        // crashes).
        ctx.crash();
        return Err(GntSt::GeneralError);
    };
    let (done, mfn) = r?;
    if done == 0 {
        return Ok(());
    }
    let left = map.flags & !(done & (GNTMAP_host_map | GNTMAP_device_map));
    if left & (GNTMAP_host_map | GNTMAP_device_map) == 0 {
        ctx.dom.grant.put_maptrack_handle(op.handle);
    } else {
        ctx.dom.grant.set_mapping(op.handle, GrantMapping { flags: left, ..map });
    }
    // gnttab_flush_tlb: no CPU may still reach the frame through the
    // cleared PTE once its references go.
    if done & GNTMAP_host_map != 0 {
        let all = all_vcpus(ctx);
        flush_vcpus(ctx, all, None);
    }
    let gone =
        ctx.with_target(map.domid, |t| unmap_complete(t, map.gref, done, mfn)).unwrap_or(false);
    release_freed(ctx);
    if gone {
        ctx.domains.remove(map.domid);
    }
    Ok(())
}

/// Xen's `unmap_common` on the granter: checks the mapping against its
/// active entry and clears (or, with `new`, replaces) the host PTE.
/// Returns the kinds of mapping undone (`GNTMAP_host_map`/
/// `GNTMAP_device_map`, with `GNTMAP_readonly`) and the frame.
fn unmap_common(
    t: &mut TargetCtx<'_>,
    ld: DomId,
    map: GrantMapping,
    op: Unmap,
    at: GrantPte,
    new: Option<Option<(Mfn, usize)>>,
) -> Result<(u32, Mfn), GntSt> {
    let act = t.target.grant.active_mut(map.gref).copied().ok_or(GntSt::BadHandle)?;
    let mfn = act.mfn;
    let device = map.flags & GNTMAP_device_map != 0;
    if op.dev_bus_addr != 0 && device && op.dev_bus_addr != mfn.0 << 12 {
        return Err(GntSt::BadDevAddr);
    }
    let ro = map.flags & GNTMAP_readonly;
    let mut done = 0;
    if op.host_addr != 0 && map.flags & GNTMAP_host_map != 0 {
        t.mm().replace_grant_pv_mapping(ld, at, mfn, map.flags, new)?;
        done |= GNTMAP_host_map | ro;
    }
    if op.dev_bus_addr != 0 && device {
        done |= GNTMAP_device_map | ro;
    }
    Ok((done, mfn))
}

/// Xen's `unmap_common_complete`: the references and pins of the undone
/// mappings go. Returns whether the granter is dead and now owns no frame
/// (its last frame was this one): it can leave the domain table.
fn unmap_complete(t: &mut TargetCtx<'_>, gref: GrantRef, done: u32, mfn: Mfn) -> bool {
    let ro = done & GNTMAP_readonly != 0;
    let mut mm = PvMm::new(t.frames, t.mem, t.m2p, t.hooks);
    let mut pin = t.target.grant.active_mut(gref).map_or(0, |a| a.pin);
    if done & GNTMAP_device_map != 0 {
        if !ro {
            mm.put_page_type(mfn);
        }
        mm.frames.put_page(mfn);
        pin = pin.saturating_sub(if ro { GNTPIN_DEVR_INC } else { GNTPIN_DEVW_INC });
    }
    if done & GNTMAP_host_map != 0 {
        if !ro {
            mm.put_page_type(mfn);
        }
        mm.frames.put_page(mfn);
        pin = pin.saturating_sub(if ro { GNTPIN_HSTR_INC } else { GNTPIN_HSTW_INC });
    }
    set_active(t.target, gref, pin, None);
    reduce_status_for_pin(t.mem, &gnt_frames(t.target), gref, pin, ro);
    dead_and_empty(t)
}

/// Frames freed by dropped references go back to the allocator (scrubbed,
/// M2P entry invalidated), as the teardown does.
fn release_freed(ctx: &mut Ctx<'_>) {
    for f in ctx.frames.take_freed() {
        ctx.m2p.set_gpfn_from_mfn(f, INVALID_M2P_ENTRY);
        ctx.mem.zero_frame(f);
        ctx.platform.free_frame(f);
    }
}

/// Xen's `gnttab_release_mappings` for the dying domain `ld`: every grant
/// it still maps is unpinned. Host mappings' references went with its page
/// tables; device mappings' references are dropped here. Runs after the
/// domain's memory was relinquished; `ld` must not be locked.
pub fn release_mappings(ctx: &mut Ctx<'_>, ld: DomId) {
    let maps: Vec<GrantMapping> = match ctx.domains.get(ld) {
        Some(cell) => cell.lock().grant.take_mappings(),
        None => return,
    };
    let mut gone = Vec::new();
    for m in maps {
        if ctx.with_target(m.domid, |t| release_one(t, m)).unwrap_or(false) {
            gone.push(m.domid);
        }
    }
    release_freed(ctx);
    for id in gone {
        ctx.domains.remove(id);
    }
}

/// Unpins one mapping of the dying domain; returns whether the granter is
/// dead and owns no frame any more.
fn release_one(t: &mut TargetCtx<'_>, m: GrantMapping) -> bool {
    let ro = m.flags & GNTMAP_readonly != 0;
    let Some(act) = t.target.grant.active_mut(m.gref).copied() else { return false };
    let mut pin = act.pin;
    if m.flags & GNTMAP_device_map != 0 {
        let mut mm = PvMm::new(t.frames, t.mem, t.m2p, t.hooks);
        if !ro {
            mm.put_page_type(act.mfn);
        }
        mm.frames.put_page(act.mfn);
        pin = pin.saturating_sub(if ro { GNTPIN_DEVR_INC } else { GNTPIN_DEVW_INC });
    }
    if m.flags & GNTMAP_host_map != 0 {
        pin = pin.saturating_sub(if ro { GNTPIN_HSTR_INC } else { GNTPIN_HSTW_INC });
    }
    set_active(t.target, m.gref, pin, None);
    reduce_status_for_pin(t.mem, &gnt_frames(t.target), m.gref, pin, false);
    dead_and_empty(t)
}

/// Whether the target is dead and owns no frame any more (Xen frees the
/// domain with its last page): it can leave the domain table.
fn dead_and_empty(t: &TargetCtx<'_>) -> bool {
    let id = t.target.id;
    t.target.dying == Dying::Dead && !t.frames.iter().any(|(_, p)| p.owner == Some(id))
}
