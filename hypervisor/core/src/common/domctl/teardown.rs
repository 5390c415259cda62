// SPDX-License-Identifier: GPL-2.0-only
//! `XEN_DOMCTL_destroydomain`: Xen's `domain_kill` and
//! `domain_relinquish_resources` for a 64-bit PV domain.
//!
//! The domain is marked dying (no vCPU of it may run) and its memory
//! claim cancelled; while another CPU still runs one of its vCPUs the call
//! returns `-EAGAIN` (Xen pauses the domain synchronously first; libxc
//! repeats a destroy on `EAGAIN`). Then everything it holds is given back:
//!
//! 1. its event channels are closed (`evtchn_destroy`): the other end of
//!    each interdomain channel goes back to unbound, waiting for it;
//! 2. each vCPU drops the references its state holds ([`vcpu_release`]):
//!    the kernel and user base pointers (`vcpu_destroy_pagetables`), the
//!    GDT and LDT frames (`pv_destroy_gdt`, `pv_destroy_ldt`) and a
//!    registered `vcpu_info` frame (`unmap_vcpu_info`);
//! 3. its frames let go of one another ([`PvMm::relinquish_memory`]:
//!    every pinned table unpinned with the `MMUEXT_UNPIN_TABLE` operation,
//!    allocation references dropped, remaining page tables devalidated
//!    level by level) — including the shared-info and grant-table frames,
//!    which the domain owns like Xen's `xenpage_list`;
//! 4. every frame freed by that is scrubbed (zeroed), its M2P entry made
//!    invalid, and handed to the machine's allocator
//!    ([`Platform::free_frame`]), which stamps it with the TLB-flush clock
//!    so that the CPUs that may still cache it are flushed before reuse.
//!
//! After that the grants the domain still maps are unpinned
//! (`gnttab_release_mappings`, [`release_mappings`]: host mappings'
//! references went with its page tables). Its own active grant entries
//! stay with the [`Domain`](crate::common::domain::Domain): a frame it
//! granted that another domain still maps keeps its references, so the
//! domain stays dead in the table until that mapping is unmapped; the
//! unmap then frees the frame and unlinks the domain.
//!
//! Then the domain is dead (`DOMDYING_dead`) and leaves the domain table,
//! and the hardware domain gets `VIRQ_DOM_EXC`. The work is bounded by the
//! domain's frames, so it completes in one call (Xen returns `-ERESTART`
//! to be called again for long teardowns). Should any frame still be held
//! from outside the domain, the dead domain stays in the table (shown as
//! `XEN_DOMINF_dying`, its id not reused) and a later `destroydomain`
//! tries again.
//!
//! [`PvMm::relinquish_memory`]: crate::mm::pv::PvMm::relinquish_memory
//! [`Platform::free_frame`]: crate::pv::platform::Platform::free_frame
//! [`release_mappings`]: crate::pv::hypercall::grant::release_mappings

use guest_abi::xen::{DomId, Errno, Virq};

use crate::common::domain::{Dying, Vcpu};
use crate::common::event_channel;
use crate::mm::pv::{INVALID_M2P_ENTRY, PvMm};
use crate::pv::ctx::{Ctx, TargetCtx};

/// `XEN_DOMCTL_destroydomain`: `-EINVAL` for the caller itself, dom0 or a
/// privileged domain; `-ESRCH` when there is no such domain.
pub fn destroydomain(ctx: &mut Ctx<'_>, id: DomId) -> Result<i64, Errno> {
    if id == ctx.dom.id || id == DomId(0) {
        return Err(Errno::EINVAL);
    }
    ctx.with_target(id, |t| {
        if t.target.privileged {
            return Err(Errno::EINVAL);
        }
        begin_kill(t)
    })??;
    // `evtchn_destroy`: every port closed, the peers' ends back to unbound
    // (idempotent, for a teardown that takes several calls). Before the
    // memory goes: closing clears pending bits in its shared-info frame.
    event_channel::interdomain::destroy(&mut ctx.evtchn_domains(), id);
    let done = ctx.with_target(id, domain_kill)??;
    // `gnttab_release_mappings`: the grants it still maps are unpinned.
    crate::pv::hypercall::grant::release_mappings(ctx, id);
    if done {
        ctx.domains.remove(id);
        notify_dom_exc(ctx);
    }
    Ok(0)
}

/// The start of Xen's `domain_kill` on the target: it is dying, and no
/// other CPU runs it any more (else `-EAGAIN`).
fn begin_kill(t: &mut TargetCtx<'_>) -> Result<(), Errno> {
    let d = &mut *t.target;
    if d.dying == Dying::Alive {
        // Dying: no vCPU may run any more; the kicks stop those running.
        d.dying = Dying::Dying;
        // `domain_set_outstanding_pages(d, 0)`.
        t.claims.cancel(d);
        for i in 0..d.vcpus.len() {
            d.kick(i);
        }
    }
    // Xen's `domain_pause` in `domain_kill`: nothing is torn down while
    // another CPU still runs one of its vCPUs (on its page tables, with its
    // frames in the TLB). That CPU switches away once it sees the kick; the
    // caller repeats the call, as for Xen's continuation.
    if t.platform.runs_elsewhere(d.id) {
        return Err(Errno::EAGAIN);
    }
    Ok(())
}

/// The rest of Xen's `domain_kill` on the target, its event channels
/// closed: `Ok(true)` once every frame is back and the domain can be
/// unlinked.
fn domain_kill(t: &mut TargetCtx<'_>) -> Result<bool, Errno> {
    let d = &mut *t.target;
    // The vCPUs' references dropped (idempotent, for a teardown that takes
    // several calls).
    let id = d.id;
    let mut mm = PvMm::new(t.frames, t.mem, t.m2p, t.hooks);
    for v in &mut d.vcpus {
        vcpu_release(&mut mm, v, true);
    }
    let left = PvMm::new(t.frames, t.mem, t.m2p, t.hooks).relinquish_memory(id)?;
    // Nothing maps them any more, but a CPU may still cache a translation:
    // the allocator has it flushed before anyone else gets the frame.
    for f in t.frames.take_freed() {
        t.m2p.set_gpfn_from_mfn(f, INVALID_M2P_ENTRY);
        t.mem.zero_frame(f);
        t.platform.free_frame(f);
    }
    let d = &mut *t.target;
    d.grant_frames.clear();
    d.grant_status_frames.clear();
    d.tot_pages = 0;
    d.dying = Dying::Dead;
    Ok(left == 0)
}

/// Drops the references vCPU `v`'s state holds: base pointers, GDT and
/// LDT frames and, with `vcpu_info`, a registered `vcpu_info` frame; the
/// vCPU is then down and without a context (Xen's `vcpu_reset` keeps the
/// `vcpu_info`, domain teardown drops it too).
pub fn vcpu_release(mm: &mut PvMm<'_>, v: &mut Vcpu, vcpu_info: bool) {
    mm.vcpu_destroy_pagetables(&mut v.arch.tables);
    for m in core::mem::take(&mut v.arch.gdt_frames) {
        mm.put_page_and_type(m);
    }
    v.arch.gdt_ents = 0;
    for m in core::mem::take(&mut v.arch.ldt_frames).into_iter().flatten() {
        mm.put_page_and_type(m);
    }
    v.arch.tables.ldt_base = 0;
    v.arch.tables.ldt_ents = 0;
    if vcpu_info && let Some(vi) = v.vcpu_info.take() {
        mm.put_page_and_type(vi.frame);
    }
    v.arch.start_regs = None;
    v.arch.reload_descriptors = false;
    v.down = true;
    v.initialised = false;
    v.blocked = false;
    v.evtchn.poll = Default::default();
}

/// `send_global_virq(VIRQ_DOM_EXC)`: the hardware domain (dom0) hears of
/// the change.
fn notify_dom_exc(ctx: &mut Ctx<'_>) {
    let dom0 = DomId(0);
    if ctx.dom.id == dom0 {
        let _ = event_channel::send_global_virq(ctx.dom, ctx.mem, Virq::DomExc);
    } else if let Some(cell) = ctx.domains.get(dom0) {
        let mut d = cell.lock();
        let _ = event_channel::send_global_virq(&mut d, ctx.mem, Virq::DomExc);
    }
}
