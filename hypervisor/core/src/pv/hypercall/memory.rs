// SPDX-License-Identifier: GPL-2.0-only
//! `memory_op` (hypercall 12) for PV domains: reservations and memory maps.
//!
//! Xen splits this between `common/memory.c` (reservations, reservation
//! queries) and `arch/x86/mm.c` plus `x86_64/mm.c` (memory maps, the M2P).
//! The handlers here follow that split's behaviour for a 64-bit PV guest:
//!
//! * `increase_reservation`, `decrease_reservation`, `populate_physmap`
//!   return the number of extents done; every failure (unreadable
//!   argument, foreign domain, allocation limit, bad frame, unwritable
//!   list) just stops the loop, as Xen does. They are preemptible before
//!   every extent but the first of a run: the continuation is the same
//!   command with the extents done so far in the bits of `cmd` above
//!   `MEMOP_EXTENT_SHIFT` (Xen's `op | (nr_done << MEMOP_EXTENT_SHIFT)`),
//!   and a run starts from there; lists longer than Xen can encode
//!   (`nr_extents > UINT_MAX >> MEMOP_EXTENT_SHIFT`) do nothing. The other
//!   commands Xen's common code handles refuse a start extent (`-EINVAL`).
//! * For PV the extent list of `decrease_reservation` holds MFNs, that of
//!   `populate_physmap` GPFNs in and MFNs out (the M2P is set; the guest
//!   updates its own P2M).
//! * Extent orders are bounded by Xen 4.17's `max_order` of the caller
//!   (9 for a domU, 12 with I/O capabilities, [`MAX_ORDER`] = 18 for the
//!   control domain): a reservation beyond it does nothing.
//! * `XENMEM_exchange` follows `memory_exchange`: `-EPERM` for an order
//!   beyond the caller's `max_order` on either side; `-EINVAL` for a restart
//!   point past the end, different domain ids or extent lists of different
//!   sizes; `-EFAULT` for a list outside guest space; `-ESRCH` for no such
//!   domain, `-EPERM` for one the
//!   caller may not change. Then chunk by chunk
//!   (the input extents that make one output extent, or the reverse), each
//!   all or nothing: the input MFNs (PV: machine frames) must be the
//!   target's and free to take (as for `decrease_reservation` below, Xen's
//!   `steal_page`: `-EINVAL`, also for a frame named twice), the new
//!   frames come from the allocator within the output `address_bits`
//!   (`-ENOMEM`), the old ones are scrubbed, dropped from the M2P and
//!   freed, and the new ones get the M2P of the output GPFNs and their
//!   MFNs written back. `tot_pages` does not change and `max_pages` is not
//!   consulted (`MEMF_no_refcount`). `nr_exchanged` says how far it got; a
//!   faulting output entry is reported as `-EFAULT` after the fact, as in
//!   Xen.
//! * `XENMEM_claim_pages` (Xen 4.17's checks, in its order): `-EINVAL` for
//!   a restart point, an extent list, an extent order or memory flags, and
//!   for a domain id that names no domain (looked up by id: `DOMID_SELF`
//!   names none); `-EPERM` unless the caller is privileged
//!   (`xsm_claim_pages`); then `domain_set_outstanding_pages`
//!   ([`crate::common::claims`]): `nr_extents` is the domain's target
//!   total, 0 cancels. Once memory is claimed, allocations for a domain
//!   without a covering claim, and those counted against no domain
//!   (`XENMEM_exchange` outputs, `MEMF_no_refcount`), may not use it;
//!   allocations and releases adjust the domain's claim
//!   (`domain_adjust_tot_pages`).
//! * `XENMEM_add_to_physmap` is for translated guests only: for a PV
//!   domain (every domain here) it is `-EACCES` once the argument is read
//!   and the domain found (Xen's `xatp_permission_check`); a PV guest gets
//!   its grant status frames with `GNTTABOP_get_status_frames` instead.
//! * `XENMEM_memory_map` is `-ENOSYS`: Xen answers so for a PV domain
//!   whose toolstack set no map (`d->arch.nr_e820 == 0`), and Linux then
//!   assumes one RAM region; `set_memory_map` is not implemented.
//!
//! Deliberate differences from Xen, all on the safe side:
//!
//! * `decrease_reservation` only releases a frame that nothing else uses
//!   (general count 1, type count 0, not the shared-info or a grant-table
//!   frame) and stops at any other. Xen drops the allocation reference of
//!   a frame still in use (unpinning it) and frees it at the last
//!   reference; that needs `tot_pages` accounting in `put_page`, which the
//!   frame table does not have.
//! * Released frames are scrubbed (zeroed) and their M2P entries set
//!   invalid before they go back to the machine allocator, which stamps
//!   them with the TLB-flush clock: the CPUs that may still cache them are
//!   flushed when they are handed out again (Xen's TLB-flush timestamps,
//!   `crate::mm::tlbflush`).
//! * A domain may name itself by its id (Xen 3.4 required `DOMID_SELF`
//!   for an unprivileged caller; later Xen allows both). Another domain is
//!   looked up in the domain table (none: `ESRCH` for queries, nothing done
//!   for reservations) and reached only with access control's consent
//!   (`xsm_memory_stat_reservation`, `xsm_memory_adjust_reservation`: the
//!   privileged domain, as a domain builder or balloon driver needs): a
//!   refusal is `EPERM` for queries and exchanges, nothing done for
//!   reservations. A dying domain gets no new memory.
//! * `XENMEM_machine_memory_map` from an unprivileged domain is `-EPERM`
//!   (XSM's answer in later Xen; Xen 3.4's `IS_PRIV` check gave `-EINVAL`).
//! * `XENMEM_exchange` takes the input frames only once the whole chunk
//!   was checked and the output allocated, so a failed chunk needs no
//!   reassignment. It is preemptible between chunks as in Xen: the chunks
//!   done go into `nr_exchanged` and the continuation is `XENMEM_exchange`
//!   with the same argument.

use alloc::vec::Vec;

use guest_abi::memory::{
    E820Entry, MEMOP_EXTENT_SHIFT, MemoryOp, XENMAPSPACE_gmfn_foreign, XENMEMF_populate_on_demand,
    XenAddToPhysmap, XenMachphysMapping, XenMachphysMfnList, XenMemoryDomain, XenMemoryExchange,
    XenMemoryMap, XenMemoryReservation, memop_split, xenmemf_get_address_bits,
};
use guest_abi::xen::{
    ArchSharedInfo, DomId, Errno, Hypercall, MACH2PHYS_VIRT_END, MACH2PHYS_VIRT_START, SharedInfo,
};

use super::super::ctx::{Ctx, TargetCtx};
use super::super::guest_mem::guest_va_ok;
use super::continuation::create_continuation;
use crate::PAGE_SHIFT;
use crate::mm::Mfn;
use crate::mm::pv::INVALID_M2P_ENTRY;

/// Largest extent order any domain may ask for (Xen's x86 `MAX_ORDER`,
/// `CONFIG_PAGEALLOC_MAX_ORDER` = 2 × `PAGETABLE_ORDER`): 1 GiB extents.
pub const MAX_ORDER: u32 = 18;

/// Xen's default `memop-max-order` for an ordinary domU
/// (`CONFIG_DOMU_MAX_ORDER` = `PAGETABLE_ORDER`): 2 MiB extents.
const DOMU_MAX_ORDER: u32 = 9;

/// Xen's default for the hardware domain and a domain with I/O
/// capabilities (`CONFIG_HWDOM_MAX_ORDER`, `CONFIG_PTDOM_MAX_ORDER`).
const HWDOM_MAX_ORDER: u32 = 12;

/// Xen 4.17's `max_order(current->domain)`: the largest extent order the
/// caller may use in a reservation or an exchange, with the default
/// `memop-max-order`: [`DOMU_MAX_ORDER`], raised to [`HWDOM_MAX_ORDER`] for
/// a domain with I/O capabilities (`cache_flush_permitted`) and to
/// [`MAX_ORDER`] for the control domain (`CONFIG_CTLDOM_MAX_ORDER`).
fn max_order(ctx: &Ctx<'_>) -> u32 {
    if ctx.dom.privileged {
        MAX_ORDER
    } else if ctx.hooks.has_iomem_caps(ctx.dom.id) {
        HWDOM_MAX_ORDER
    } else {
        DOMU_MAX_ORDER
    }
}

/// Size of one `xen_pfn_t` in an extent list.
const PFN_SIZE: u64 = 8;

/// Offset of `arch.max_pfn` in the shared-info page.
const SHARED_INFO_MAX_PFN: usize =
    core::mem::offset_of!(SharedInfo, arch) + core::mem::offset_of!(ArchSharedInfo, max_pfn);

/// `HYPERVISOR_memory_op(cmd, arg)`.
pub fn memory_op(ctx: &mut Ctx<'_>, cmd: u64, arg: u64) -> Result<i64, Errno> {
    let (op, start) = memop_split(cmd);
    let Ok(op) = MemoryOp::try_from(op) else {
        return Err(Errno::ENOSYS);
    };
    match op {
        MemoryOp::IncreaseReservation
        | MemoryOp::DecreaseReservation
        | MemoryOp::PopulatePhysmap => {
            let (done, preempted) = reservation(ctx, op, start, arg);
            if preempted {
                let cmd = u64::from(op.raw()) | (done << MEMOP_EXTENT_SHIFT);
                return Ok(create_continuation(ctx, Hypercall::MemoryOp, &[cmd, arg]));
            }
            Ok(to_i64(done))
        }
        // Xen's common code takes no start extent for these.
        MemoryOp::MaximumRamPage
        | MemoryOp::CurrentReservation
        | MemoryOp::MaximumReservation
        | MemoryOp::MaximumGpfn
        | MemoryOp::Exchange
            if start != 0 =>
        {
            Err(Errno::EINVAL)
        }
        MemoryOp::MaximumRamPage => Ok(to_i64(ctx.frames.max_page())),
        MemoryOp::CurrentReservation | MemoryOp::MaximumReservation | MemoryOp::MaximumGpfn => {
            domain_query(ctx, op, arg)
        }
        MemoryOp::MachineMemoryMap => machine_memory_map(ctx, arg),
        MemoryOp::MachphysMapping => {
            // Without memory hotplug (no SRAT hot-pluggable ranges), Xen
            // reports the highest frame of the machine, not of the table.
            let mapping = XenMachphysMapping {
                v_start: MACH2PHYS_VIRT_START,
                v_end: MACH2PHYS_VIRT_END,
                max_mfn: ctx.frames.max_page().saturating_sub(1),
            };
            ctx.write(arg, &mapping)?;
            Ok(0)
        }
        MemoryOp::MachphysMfnList => machphys_mfn_list(ctx, arg),
        MemoryOp::Exchange => exchange(ctx, arg),
        MemoryOp::ClaimPages => claim_pages(ctx, start, arg),
        MemoryOp::AddToPhysmap => add_to_physmap(ctx, start, arg),
        // No toolstack-set map (see the module notes).
        _ => Err(Errno::ENOSYS),
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `XENMEM_current_reservation`, `XENMEM_maximum_reservation`,
/// `XENMEM_maximum_gpfn` of the caller or, with the right, another domain.
fn domain_query(ctx: &mut Ctx<'_>, op: MemoryOp, arg: u64) -> Result<i64, Errno> {
    let q: XenMemoryDomain = ctx.read(arg)?;
    ctx.with_target(q.domid, |t| {
        t.xsm.memory_stat_reservation(t.caller, t.target.subject())?;
        Ok(match op {
            MemoryOp::CurrentReservation => to_i64(t.target.tot_pages),
            MemoryOp::MaximumReservation => to_i64(t.target.max_pages),
            // PV guests store nr_pfns in shared_info.arch.max_pfn; Xen answers
            // one less (0 while the guest has not set it).
            _ => {
                let mut raw = [0u8; 8];
                t.mem.read_bytes(t.target.shared_info, SHARED_INFO_MAX_PFN, &mut raw);
                to_i64(u64::from_le_bytes(raw).max(1).saturating_sub(1))
            }
        })
    })?
}

/// `XENMEM_machine_memory_map` (privileged): the host E820.
fn machine_memory_map(ctx: &mut Ctx<'_>, arg: u64) -> Result<i64, Errno> {
    ctx.xsm.machine_memory_map(ctx.dom.subject())?;
    let mut map: XenMemoryMap = ctx.read(arg)?;
    let e820 = ctx.platform.machine_memory_map();
    let n = u32::try_from(e820.len()).map_err(|_| Errno::EINVAL)?;
    if map.buffer != 0 {
        // Xen wants room for one more entry than it has.
        if map.nr_entries < n.saturating_add(1) {
            return Err(Errno::EINVAL);
        }
        let size = core::mem::size_of::<E820Entry>() as u64;
        for (i, e) in (0u64..).zip(e820.iter()) {
            ctx.write(map.buffer.wrapping_add(i.wrapping_mul(size)), e)?;
        }
    }
    map.nr_entries = n;
    ctx.write(arg, &map)?;
    Ok(0)
}

/// `XENMEM_machphys_mfn_list`: the frames behind the M2P's 2 MiB chunks.
fn machphys_mfn_list(ctx: &mut Ctx<'_>, arg: u64) -> Result<i64, Errno> {
    let mut list: XenMachphysMfnList = ctx.read(arg)?;
    let chunks = ctx.platform.m2p_chunk_mfns();
    let mut done = 0u32;
    for mfn in chunks.iter().take(usize::try_from(list.max_extents).unwrap_or(usize::MAX)) {
        let va = list.extent_start.wrapping_add(u64::from(done).wrapping_mul(PFN_SIZE));
        ctx.write(va, &mfn.0)?;
        done = done.saturating_add(1);
    }
    list.nr_extents = done;
    ctx.write(arg, &list)?;
    Ok(0)
}

/// `XENMEM_claim_pages`: stake, or with 0 cancel, a claim on free memory
/// for a domain (see the module notes).
fn claim_pages(ctx: &mut Ctx<'_>, start: u64, arg: u64) -> Result<i64, Errno> {
    if start != 0 {
        return Err(Errno::EINVAL);
    }
    let r: XenMemoryReservation = ctx.read(arg)?;
    if r.extent_start != 0 || r.extent_order != 0 || r.mem_flags != 0 {
        return Err(Errno::EINVAL);
    }
    // `rcu_lock_domain_by_id`: a real id only, and none is -EINVAL.
    if r.domid == DomId::SELF {
        return Err(Errno::EINVAL);
    }
    let free = ctx.platform.free_pages();
    ctx.with_target(r.domid, |t| {
        t.xsm.claim_pages(t.caller, t.target.subject())?;
        t.claims.set(t.target, r.nr_extents, free)
    })
    .map_err(|_| Errno::EINVAL)??;
    Ok(0)
}

/// Xen's `get_order_from_pages`: the smallest order with `2^order >= n`.
fn order_from_pages(n: u64) -> u32 {
    n.max(1).next_power_of_two().trailing_zeros()
}

/// The three reservation commands; returns the extents done (counting the
/// `start` already done before a continuation) and whether the run was
/// preempted before the end.
fn reservation(ctx: &mut Ctx<'_>, op: MemoryOp, start: u64, arg: u64) -> (u64, bool) {
    let done = reservation_extents(ctx, op, start, arg);
    (done.extents, done.preempted)
}

/// How far a reservation run got.
#[derive(Clone, Copy)]
struct Progress {
    /// Extents done, counting those of earlier runs.
    extents: u64,
    /// Stopped by preemption (more work left).
    preempted: bool,
}

impl Progress {
    const fn stopped(extents: u64) -> Self {
        Self { extents, preempted: false }
    }
}

/// The body of [`reservation`].
fn reservation_extents(ctx: &mut Ctx<'_>, op: MemoryOp, start: u64, arg: u64) -> Progress {
    let stop = Progress::stopped(start);
    let Ok(r) = ctx.read::<XenMemoryReservation>(arg) else {
        return stop;
    };
    // Too large to encode a continuation (Xen's limit, for a 32-bit
    // `cmd`), or a restart point at or past the end.
    if r.nr_extents > u64::from(u32::MAX >> MEMOP_EXTENT_SHIFT) || start >= r.nr_extents {
        return stop;
    }
    if r.extent_order > max_order(ctx) {
        return stop;
    }
    let bits = xenmemf_get_address_bits(r.mem_flags);
    let mut below = None;
    if bits != 0 && bits < order_from_pages(ctx.frames.max_page()).saturating_add(PAGE_SHIFT) {
        if bits <= PAGE_SHIFT {
            return stop;
        }
        below = Some(1u64 << bits);
    }
    let list = r.extent_start;
    // `guest_handle_subrange_okay` (a NULL list is fine for increase).
    if !(op == MemoryOp::IncreaseReservation && list == 0)
        && !list_range_ok(list, start, r.nr_extents)
    {
        return stop;
    }
    let done = ctx.with_target(r.domid, |t| {
        if t.xsm.memory_adjust_reservation(t.caller, t.target.subject()).is_err()
            || t.target.is_dying()
        {
            return stop;
        }
        match op {
            MemoryOp::IncreaseReservation => increase(t, &r, start, below),
            MemoryOp::DecreaseReservation => decrease(t, &r, start),
            _ => {
                if r.mem_flags & XENMEMF_populate_on_demand != 0 {
                    // Populate-on-demand needs a translated guest.
                    return stop;
                }
                populate(t, &r, start, below)
            }
        }
    });
    // No such domain: nothing done.
    done.unwrap_or(stop)
}

/// Whether extents `start..nr` of the list at `va` lie in guest space.
fn list_range_ok(va: u64, start: u64, nr: u64) -> bool {
    if start >= nr {
        return true;
    }
    let first = start.checked_mul(PFN_SIZE).and_then(|o| va.checked_add(o));
    let last =
        nr.checked_mul(PFN_SIZE).and_then(|o| va.checked_add(o)).and_then(|e| e.checked_sub(1));
    match (first, last) {
        (Some(a), Some(b)) => guest_va_ok(a) && guest_va_ok(b) && (a >> 47) == (b >> 47),
        _ => false,
    }
}

/// Address of extent `i` in the list at `va`.
fn slot(va: u64, i: u64) -> u64 {
    va.wrapping_add(i.wrapping_mul(PFN_SIZE))
}

/// Allocates one extent of `2^order` frames to the calling domain
/// (`alloc_domheap_pages` + `assign_pages`), within `max_pages` and
/// outside memory others claimed.
fn alloc_extent(ctx: &mut TargetCtx<'_>, order: u32, below: Option<u64>) -> Option<Mfn> {
    let n = 1u64 << order;
    if ctx.target.tot_pages.checked_add(n)? > ctx.target.max_pages {
        return None;
    }
    let base = alloc_assigned(ctx, order, below, true)?;
    ctx.claims.add_tot_pages(ctx.target, n);
    Some(base)
}

/// Allocates `2^order` zeroed frames and gives them to the calling domain
/// in the frame table, leaving `tot_pages` to the caller. `refcount`: the
/// frames will count in the domain's `tot_pages`, so its claim may cover
/// them (otherwise `MEMF_no_refcount`: only unclaimed memory).
fn alloc_assigned(
    ctx: &mut TargetCtx<'_>,
    order: u32,
    below: Option<u64>,
    refcount: bool,
) -> Option<Mfn> {
    let n = 1u64 << order;
    let claimant = refcount.then_some(&*ctx.target);
    if !ctx.claims.may_allocate(|| ctx.platform.free_pages(), n, claimant) {
        return None;
    }
    let base = ctx.platform.alloc_frames(order, below)?;
    let dom = ctx.target.id;
    for k in 0..n {
        if ctx.frames.assign(Mfn(base.0.saturating_add(k)), dom).is_err() {
            // A frame the frame table cannot take: give the run back.
            for j in 0..k {
                let mfn = Mfn(base.0.saturating_add(j));
                let _ = ctx.frames.release(mfn, dom);
            }
            let _ = ctx.frames.take_freed();
            for j in 0..n {
                ctx.platform.free_frame(Mfn(base.0.saturating_add(j)));
            }
            return None;
        }
    }
    Some(base)
}

/// Releases the `2^order`-frame extents at `extents`, which
/// [`alloc_assigned`] gave the domain but the guest never saw, straight
/// back to the allocator.
fn unassign(ctx: &mut TargetCtx<'_>, extents: &[Mfn], order: u32) {
    let dom = ctx.target.id;
    for base in extents {
        for k in 0..1u64 << order {
            let _ = ctx.frames.release(Mfn(base.0.saturating_add(k)), dom);
        }
    }
    for f in ctx.frames.take_freed() {
        ctx.platform.free_frame(f);
    }
}

/// `increase_reservation`: allocate, and report each extent's MFN.
fn increase(
    ctx: &mut TargetCtx<'_>,
    r: &XenMemoryReservation,
    start: u64,
    below: Option<u64>,
) -> Progress {
    let mut i = start;
    while i < r.nr_extents {
        if i != start && ctx.hypercall_preempt_check() {
            return Progress { extents: i, preempted: true };
        }
        let Some(mfn) = alloc_extent(ctx, r.extent_order, below) else { break };
        // As in Xen, an extent whose MFN cannot be reported stays allocated.
        if r.extent_start != 0 && ctx.write(slot(r.extent_start, i), &mfn.0).is_err() {
            break;
        }
        i = i.saturating_add(1);
    }
    Progress::stopped(i)
}

/// `populate_physmap` for PV: allocate at each GPFN, set the M2P, report
/// the MFN.
fn populate(
    ctx: &mut TargetCtx<'_>,
    r: &XenMemoryReservation,
    start: u64,
    below: Option<u64>,
) -> Progress {
    let mut i = start;
    while i < r.nr_extents {
        if i != start && ctx.hypercall_preempt_check() {
            return Progress { extents: i, preempted: true };
        }
        let Ok(gpfn) = ctx.read::<u64>(slot(r.extent_start, i)) else { break };
        let Some(mfn) = alloc_extent(ctx, r.extent_order, below) else { break };
        for j in 0..1u64 << r.extent_order {
            ctx.m2p.set_gpfn_from_mfn(Mfn(mfn.0.saturating_add(j)), gpfn.wrapping_add(j));
        }
        if ctx.write(slot(r.extent_start, i), &mfn.0).is_err() {
            break;
        }
        i = i.saturating_add(1);
    }
    Progress::stopped(i)
}

/// `decrease_reservation` for PV: the list holds MFNs.
fn decrease(ctx: &mut TargetCtx<'_>, r: &XenMemoryReservation, start: u64) -> Progress {
    let mut i = start;
    let mut preempted = false;
    let mut freed = Vec::new();
    'extents: while i < r.nr_extents {
        if i != start && ctx.hypercall_preempt_check() {
            preempted = true;
            break;
        }
        let Ok(gmfn) = ctx.read::<u64>(slot(r.extent_start, i)) else { break };
        for j in 0..1u64 << r.extent_order {
            let Some(mfn) = gmfn.checked_add(j).map(Mfn) else { break 'extents };
            if !guest_remove_page(ctx, mfn, &mut freed) {
                break 'extents;
            }
            ctx.claims.sub_tot_pages(ctx.target, 1);
        }
        i = i.saturating_add(1);
    }
    // Nothing maps the frames any more, but CPUs may still cache old
    // translations: the allocator has them flushed before reuse.
    for mfn in freed {
        ctx.platform.free_frame(mfn);
    }
    Progress { extents: i, preempted }
}

/// `XENMEM_add_to_physmap` (Xen's checks in order: a start extent beyond
/// `size`'s width `-EDOM`, the argument `-EFAULT`, a foreign space
/// `-ENOSYS`, no such domain `-ESRCH`, not translated `-EACCES`).
fn add_to_physmap(ctx: &mut Ctx<'_>, start: u64, arg: u64) -> Result<i64, Errno> {
    if start > u64::from(u16::MAX) {
        return Err(Errno::EDOM);
    }
    let xatp: XenAddToPhysmap = ctx.read(arg)?;
    if xatp.space == XENMAPSPACE_gmfn_foreign {
        return Err(Errno::ENOSYS);
    }
    ctx.with_target(xatp.domid, |_| ())?;
    Err(Errno::EACCES)
}

/// Releases one frame of the calling domain that nothing else uses and
/// appends it to `freed`, scrubbed and with its M2P entry invalidated,
/// ready for the allocator, leaving `tot_pages` to the caller. `false`
/// (nothing done) for any other frame.
fn guest_remove_page(ctx: &mut TargetCtx<'_>, mfn: Mfn, freed: &mut Vec<Mfn>) -> bool {
    let dom = ctx.target.id;
    if !only_allocated(ctx, mfn) || ctx.frames.release(mfn, dom).is_err() {
        return false;
    }
    // The count was 1, so the release freed the frame. Only releases free
    // frames, so the frame table's queue holds nothing else; whatever it
    // holds is free and goes to the allocator the same way.
    for f in ctx.frames.take_freed() {
        ctx.m2p.set_gpfn_from_mfn(f, INVALID_M2P_ENTRY);
        ctx.mem.zero_frame(f);
        freed.push(f);
    }
    true
}

/// Whether `mfn` is a frame of the calling domain that only its allocation
/// reference holds (general count 1, no type reference) and that is not
/// the shared-info or a grant-table frame: one that can leave the domain
/// at once (the condition of Xen's `steal_page`).
fn only_allocated(ctx: &TargetCtx<'_>, mfn: Mfn) -> bool {
    let Some(info) = ctx.frames.info(mfn) else {
        return false;
    };
    let special = mfn == ctx.target.shared_info
        || ctx.target.grant_frames.contains(&mfn)
        || ctx.target.grant_status_frames.contains(&mfn);
    info.owner == Some(ctx.target.id)
        && info.allocated
        && info.count == 1
        && info.type_info.count == 0
        && !special
}

/// Offset of `nr_exchanged` in `xen_memory_exchange`.
const NR_EXCHANGED: u64 = core::mem::offset_of!(XenMemoryExchange, nr_exchanged) as u64;

/// `XENMEM_exchange` (Xen's `memory_exchange`): trade extents of the
/// calling domain for fresh ones, chunk by chunk, each chunk all or
/// nothing. `nr_exchanged` (IN: input extents already done, for a replayed
/// call; OUT: input extents done) is written back whatever the outcome.
fn exchange(ctx: &mut Ctx<'_>, arg: u64) -> Result<i64, Errno> {
    let mut exch: XenMemoryExchange = ctx.read(arg)?;
    let rc = exchange_chunks(ctx, &mut exch);
    // Xen's final `copy_field_to_guest`: a fault here wins.
    ctx.write(arg.wrapping_add(NR_EXCHANGED), &exch.nr_exchanged)?;
    match rc? {
        Exchanged::All => Ok(0),
        Exchanged::Preempted => {
            let cmd = u64::from(MemoryOp::Exchange.raw());
            Ok(create_continuation(ctx, Hypercall::MemoryOp, &[cmd, arg]))
        }
    }
}

/// How an exchange run ended without error.
enum Exchanged {
    /// Every chunk was exchanged.
    All,
    /// Preempted: `nr_exchanged` says where to continue.
    Preempted,
}

/// Pages covered by `nr` extents of `2^order` pages, if that fits.
fn extent_pages(nr: u64, order: u32) -> Option<u64> {
    nr.checked_mul(1u64.checked_shl(order)?)
}

/// The checks and the chunk loop of `memory_exchange`; sets
/// `exch.nr_exchanged` to the input extents done.
fn exchange_chunks(ctx: &mut Ctx<'_>, exch: &mut XenMemoryExchange) -> Result<Exchanged, Errno> {
    let (input, output) = (exch.input, exch.output);
    if input.extent_order.max(output.extent_order) > max_order(ctx) {
        return Err(Errno::EPERM);
    }
    if exch.nr_exchanged > input.nr_extents || input.domid != output.domid {
        return Err(Errno::EINVAL);
    }
    match (
        extent_pages(input.nr_extents, input.extent_order),
        extent_pages(output.nr_extents, output.extent_order),
    ) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(Errno::EINVAL),
    }
    if !list_range_ok(input.extent_start, 0, input.nr_extents)
        || !list_range_ok(output.extent_start, 0, output.nr_extents)
    {
        return Err(Errno::EFAULT);
    }
    ctx.with_target(input.domid, |t| {
        t.xsm.memory_adjust_reservation(t.caller, t.target.subject())?;
        exchange_domain(t, exch)
    })?
}

/// The chunk loop of `memory_exchange` over the target domain.
fn exchange_domain(
    ctx: &mut TargetCtx<'_>,
    exch: &mut XenMemoryExchange,
) -> Result<Exchanged, Errno> {
    let (input, output) = (exch.input, exch.output);
    // One chunk: `2^in_chunk` input extents for `2^out_chunk` output ones
    // (one of the two is 0).
    let in_chunk = output.extent_order.saturating_sub(input.extent_order);
    let out_chunk = input.extent_order.saturating_sub(output.extent_order);
    // MEMF_bits: no limit when it covers the machine (Xen does not refuse
    // tiny limits here: the allocation just fails).
    let bits = xenmemf_get_address_bits(output.mem_flags);
    let below = (bits != 0
        && bits < order_from_pages(ctx.frames.max_page()).saturating_add(PAGE_SHIFT))
    .then(|| 1u64.checked_shl(bits))
    .flatten();
    let plan = Chunks { input, output, in_chunk, out_chunk, below };
    let mut freed = Vec::new();
    let mut rc = Ok(());
    let first = exch.nr_exchanged >> in_chunk;
    let mut i = first;
    let end = input.nr_extents >> in_chunk;
    let mut preempted = false;
    while i < end {
        // Between chunks, as Xen (which only gets here without an error).
        if i != first && rc.is_ok() && ctx.hypercall_preempt_check() {
            preempted = true;
            break;
        }
        match exchange_chunk(ctx, &plan, i, &mut freed) {
            Ok(late) => rc = rc.and(late),
            Err(e) => {
                rc = Err(e);
                break;
            }
        }
        i = i.saturating_add(1);
    }
    exch.nr_exchanged = if i >= end { input.nr_extents } else { i << in_chunk };
    let rc = rc.map(|()| if preempted { Exchanged::Preempted } else { Exchanged::All });
    // As for decrease_reservation: flushed before the frames are reused.
    for mfn in freed {
        ctx.platform.free_frame(mfn);
    }
    rc
}

/// The shape of an exchange, for [`exchange_chunk`].
struct Chunks {
    input: XenMemoryReservation,
    output: XenMemoryReservation,
    /// log2 of the input extents per chunk.
    in_chunk: u32,
    /// log2 of the output extents per chunk.
    out_chunk: u32,
    /// Machine address the new frames must end below.
    below: Option<u64>,
}

/// Exchanges chunk `i`. `Err`: nothing of the chunk was done (`EFAULT` for
/// an unreadable input list, `EINVAL` for a frame that is not the domain's
/// or still in use, `ENOMEM`). `Ok(Err(EFAULT))`: the chunk was exchanged
/// but an output list entry could not be read or written (Xen carries on).
/// The input frames, scrubbed and out of the M2P, are appended to `freed`.
fn exchange_chunk(
    ctx: &mut TargetCtx<'_>,
    c: &Chunks,
    i: u64,
    freed: &mut Vec<Mfn>,
) -> Result<Result<(), Errno>, Errno> {
    let per_in = 1u64 << c.input.extent_order;
    let n_in = 1u64 << c.in_chunk;
    let n_out = 1u64 << c.out_chunk;
    // Gather and check the input frames (Xen's `steal_page` loop).
    let total = usize::try_from(n_in.saturating_mul(per_in)).map_err(|_| Errno::ENOMEM)?;
    let mut frames: Vec<Mfn> = Vec::new();
    frames.try_reserve_exact(total).map_err(|_| Errno::ENOMEM)?;
    for j in 0..n_in {
        let idx = (i << c.in_chunk).saturating_add(j);
        let gmfn: u64 = ctx.read(slot(c.input.extent_start, idx)).map_err(|_| Errno::EFAULT)?;
        for k in 0..per_in {
            // A PV guest names machine frames (`gmfn_to_mfn` is 1:1).
            let mfn = gmfn.checked_add(k).map(Mfn).ok_or(Errno::EINVAL)?;
            if !only_allocated(ctx, mfn) {
                return Err(Errno::EINVAL);
            }
            frames.push(mfn);
        }
    }
    // A frame named twice: Xen's second `steal_page` fails.
    let mut sorted: Vec<Mfn> = Vec::new();
    sorted.try_reserve_exact(frames.len()).map_err(|_| Errno::ENOMEM)?;
    sorted.extend_from_slice(&frames);
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w.first() == w.get(1)) {
        return Err(Errno::EINVAL);
    }
    // Allocate the output extents.
    let mut out: Vec<Mfn> = Vec::new();
    out.try_reserve_exact(usize::try_from(n_out).map_err(|_| Errno::ENOMEM)?)
        .map_err(|_| Errno::ENOMEM)?;
    for _ in 0..n_out {
        let Some(base) = alloc_assigned(ctx, c.output.extent_order, c.below, false) else {
            unassign(ctx, &out, c.output.extent_order);
            return Err(Errno::ENOMEM);
        };
        out.push(base);
    }
    // Nothing can fail from here on: give up the inputs...
    for &mfn in &frames {
        let _ = guest_remove_page(ctx, mfn, freed);
    }
    // ...and hand over the outputs at the guest's GPFNs. As many pages go
    // as come (`MEMF_no_refcount`): `tot_pages` and the claim stay.
    let per_out = 1u64 << c.output.extent_order;
    let mut rc = Ok(());
    for (j, base) in (0u64..).zip(out) {
        let at = slot(c.output.extent_start, (i << c.out_chunk).saturating_add(j));
        let gpfn = ctx.read::<u64>(at);
        for k in 0..per_out {
            let entry = gpfn.map_or(INVALID_M2P_ENTRY, |g| g.wrapping_add(k));
            ctx.m2p.set_gpfn_from_mfn(Mfn(base.0.saturating_add(k)), entry);
        }
        if gpfn.is_err() || ctx.write(at, &base.0).is_err() {
            rc = Err(Errno::EFAULT);
        }
    }
    Ok(rc)
}
