// SPDX-License-Identifier: GPL-2.0-only
//! `mode=attack`: a hostile domU attacks a victim domU (both `pv-attack`,
//! the first domU image; the attacks and the expected statuses are in its
//! module documentation).
//!
//! dom0 takes the first two free domain ids V and X, builds the victim V
//! with `role=victim attacker=<X>`, allocates a port in V for itself
//! (`EVTCHNOP_alloc_unbound`, `remote_dom` = dom0: a port X must not be
//! able to bind), then builds the attacker X with `role=attacker
//! victim=<V> port=<that port> maptrack=<`[`MAPTRACK_FRAMES`]`>`, created
//! with `max_maptrack_frames` = [`MAPTRACK_FRAMES`] so that it can exhaust
//! its maptrack quickly. It unpauses both and waits for their shutdowns:
//! each must be `poweroff`, which `pv-attack` uses only when all its checks
//! passed (it crashes otherwise), so the outcome is known to dom0 also on
//! real Xen, where a domU's console output is not shown. dom0 prints
//! `domU d<N>: shutdown <reason>` for each, destroys them and checks that
//! `physinfo`'s free pages are back to their count before the first build
//! (waiting up to [`SETTLE_NS`] for Xen's deferred frees, see
//! [`settled_free_pages`]).

use alloc::format;

use pv_tests::guest_abi::domctl::{
    XEN_DOMINF_dying, XEN_DOMINF_shutdown, XenDomctlCreatedomain, XenDomctlGetdomaininfo,
};
use pv_tests::guest_abi::sched::ShutdownReason;
use pv_tests::guest_abi::xen::{
    DomId, EvtchnPort, Mfn, MmuUpdate, MmuextOp, VcpuGuestContext, VcpuId,
};
use pv_tests::ops::XenError;
use pv_tests::{StartInfo, check, check_eq, evtchn, fail, println, shinfo};
use xen_domain_builder::{DomCtl, DomainConfig};

use super::{Hypervisor, Image, physinfo, reason_name};

/// The attacker's `max_maptrack_frames`.
pub const MAPTRACK_FRAMES: i32 = 1;

/// How long dom0 waits for the pair (system time).
const TIMEOUT_NS: u64 = 300_000_000_000;

/// Whether dom0's command line asks for this mode.
pub fn wanted(si: &StartInfo) -> bool {
    shinfo::cmdline_value(si.cmd_line_bytes(), "mode") == Some("attack")
}

/// The first `N` domain ids from 1 that no domain has.
pub fn free_ids<const N: usize>(hv: &mut Hypervisor) -> Option<[DomId; N]> {
    let mut free = (1u16..0x7ff0).map(DomId).filter(|&d| hv.get_domain_info(d).is_err());
    let mut out = [DomId(0); N];
    for slot in &mut out {
        *slot = free.next()?;
    }
    Some(out)
}

/// The builder's [`DomCtl`] with a different `max_maptrack_frames` in
/// `createdomain` (everything else goes to the [`Hypervisor`]).
pub struct Maptrack<'a> {
    /// The real one.
    pub hv: &'a mut Hypervisor,
    /// `max_maptrack_frames` for the new domain.
    pub frames: i32,
}

impl DomCtl for Maptrack<'_> {
    type Error = XenError;

    fn create_domain(&mut self, config: &XenDomctlCreatedomain) -> Result<DomId, XenError> {
        let mut config = *config;
        config.max_maptrack_frames = self.frames;
        self.hv.create_domain(&config)
    }
    fn get_domain_info(&mut self, dom: DomId) -> Result<XenDomctlGetdomaininfo, XenError> {
        self.hv.get_domain_info(dom)
    }
    fn max_vcpus(&mut self, dom: DomId, max: u32) -> Result<(), XenError> {
        self.hv.max_vcpus(dom, max)
    }
    fn max_mem(&mut self, dom: DomId, max_memkb: u64) -> Result<(), XenError> {
        self.hv.max_mem(dom, max_memkb)
    }
    fn populate_physmap(&mut self, dom: DomId, extents: &mut [u64]) -> Result<usize, XenError> {
        self.hv.populate_physmap(dom, extents)
    }
    fn mmu_update(&mut self, reqs: &[MmuUpdate], foreigndom: DomId) -> Result<(), XenError> {
        self.hv.mmu_update(reqs, foreigndom)
    }
    fn mmuext_op(&mut self, ops: &[MmuextOp], foreigndom: DomId) -> Result<(), XenError> {
        self.hv.mmuext_op(ops, foreigndom)
    }
    fn write_foreign(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), XenError> {
        self.hv.write_foreign(dom, mfn, offset, bytes)
    }
    fn unmap_foreign(&mut self) -> Result<(), XenError> {
        self.hv.unmap_foreign()
    }
    fn set_vcpu_context(
        &mut self,
        dom: DomId,
        vcpu: VcpuId,
        ctx: &VcpuGuestContext,
    ) -> Result<(), XenError> {
        self.hv.set_vcpu_context(dom, vcpu, ctx)
    }
    fn hypercall_init(&mut self, dom: DomId, gmfn: Mfn) -> Result<(), XenError> {
        self.hv.hypercall_init(dom, gmfn)
    }
    fn evtchn_alloc_unbound(&mut self, dom: DomId, remote: DomId) -> Result<EvtchnPort, XenError> {
        self.hv.evtchn_alloc_unbound(dom, remote)
    }
    fn gnttab_setup_table(&mut self, dom: DomId) -> Result<Mfn, XenError> {
        self.hv.gnttab_setup_table(dom)
    }
    fn unpause(&mut self, dom: DomId) -> Result<(), XenError> {
        self.hv.unpause(dom)
    }
    fn destroy(&mut self, dom: DomId) -> Result<(), XenError> {
        self.hv.destroy(dom)
    }
}

/// Builds `kernel` as domain `want` with `cmdline` (and `maptrack`
/// frames, if given), paused.
pub fn build_as(
    hv: &mut Hypervisor,
    want: DomId,
    kernel: &[u8],
    cmdline: &str,
    mem: u64,
    maptrack: Option<i32>,
) -> Option<DomId> {
    hv.next_domid = want;
    let mut cfg = DomainConfig::new(kernel, cmdline.as_bytes(), mem);
    cfg.evtchns_optional = true;
    let built = match maptrack {
        Some(frames) => xen_domain_builder::build(&mut Maptrack { hv, frames }, &cfg),
        None => xen_domain_builder::build(hv, &cfg),
    };
    hv.next_domid = DomId(0);
    match built {
        Ok(b) => {
            println!("domU d{}: \"{cmdline}\"", b.domid.0);
            Some(b.domid)
        }
        Err(e) => {
            fail(format_args!("building d{}: {e}", want.0));
            None
        }
    }
}

/// Waits until every domain of `doms` has shut down (or `deadline`
/// passed), prints and destroys each; their shutdown reasons in order
/// (`None`: no shutdown seen).
pub fn reap<const N: usize>(
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    doms: [DomId; N],
    deadline: u64,
) -> [Option<u32>; N] {
    let mut reasons = [None; N];
    let mut gone = [false; N];
    while gone.iter().any(|g| !g) {
        if let Some(port) = exc {
            evtchn::clear_pending(port);
        }
        for ((dom, reason), gone) in doms.iter().zip(&mut reasons).zip(&mut gone) {
            if *gone {
                continue;
            }
            match hv.get_domain_info(*dom) {
                Ok(info) if info.flags & XEN_DOMINF_shutdown != 0 => {
                    let code = info.shutdown_code();
                    println!("domU d{}: shutdown {}", dom.0, reason_name(code));
                    *reason = Some(code);
                }
                Ok(info) if info.flags & XEN_DOMINF_dying != 0 => {
                    fail(format_args!("d{} is dying without a shutdown", dom.0));
                }
                Ok(_) if shinfo::now().unwrap_or(0) < deadline => continue,
                Ok(_) => fail(format_args!("d{} did not shut down in time", dom.0)),
                Err(e) => fail(format_args!("getdomaininfo d{}: {e}", dom.0)),
            }
            if let Err(e) = hv.destroy(*dom) {
                fail(format_args!("destroy d{}: {e}", dom.0));
            }
            *gone = true;
        }
        if gone.iter().all(|g| *g) {
            break;
        }
        let waited = match exc {
            Some(port) => evtchn::sched_poll(&[port], deadline),
            None => pv_tests::ops::sched_yield(),
        };
        if waited.is_err() {
            let _ = pv_tests::ops::sched_yield();
        }
    }
    reasons
}

/// Runs the mode (see the module documentation).
pub fn run(
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    images: &[Image<'_>],
    mem: u64,
    si: &StartInfo,
) {
    println!("toolstack mode: attack");
    let Some(kernel) = images.first().and_then(|i| i.kernel) else {
        fail("attack: the first domU image has no kernel");
        return;
    };
    let Some([v, x]) = free_ids::<2>(hv) else {
        fail("attack: no two free domain ids");
        return;
    };
    let free_before = stable_free_pages();
    let Some(v) = build_as(hv, v, kernel, &format!("role=victim attacker={}", x.0), mem, None)
    else {
        return;
    };
    let port = match evtchn::alloc_unbound(v, DomId(0)) {
        Ok(port) => port,
        Err(e) => {
            fail(format_args!("attack: alloc_unbound(d{}, remote d0): {e}", v.0));
            let _ = hv.destroy(v);
            return;
        }
    };
    let line = format!("role=attacker victim={} port={} maptrack={MAPTRACK_FRAMES}", v.0, port.0);
    let Some(x) = build_as(hv, x, kernel, &line, mem, Some(MAPTRACK_FRAMES)) else {
        let _ = hv.destroy(v);
        return;
    };
    println!("attack: d{} attacks d{} (port {} of d{} is for d0)", x.0, v.0, port.0, v.0);
    for dom in [v, x] {
        if let Err(e) = hv.unpause(dom) {
            fail(format_args!("attack: unpause d{}: {e}", dom.0));
        }
    }
    let deadline = shinfo::now().unwrap_or(0).saturating_add(TIMEOUT_NS);
    let reasons = reap(hv, exc, [v, x], deadline);
    let poweroff = Some(ShutdownReason::Poweroff.raw());
    check_eq(reasons[0], poweroff, format_args!("the victim d{} powered off (unharmed)", v.0));
    check_eq(reasons[1], poweroff, format_args!("the attacker d{} powered off (all refused)", x.0));
    let free_after = settled_free_pages(free_before);
    audit(si, free_before, free_after, "both are destroyed");
}

/// Checks that `after` (free pages after the domUs are gone) equals
/// `before`, or, with `audit_slack=<n>` on dom0's command line, is at
/// most `n` pages short of it.
///
/// The slack is for the oracle only: Xen 4.17 ends one page short after
/// an attack run, even 15 s later (193112 free pages before, 193111
/// after): an allocation of Xen's own that outlives the domains, not
/// identified. A domain's own memory (thousands of pages) is far beyond
/// it. Our hypervisor is held to 0.
pub fn audit(
    si: &StartInfo,
    before: Result<u64, XenError>,
    after: Result<u64, XenError>,
    what: &str,
) {
    let slack: u64 = shinfo::cmdline_value(si.cmd_line_bytes(), "audit_slack")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let ok = match (before, after) {
        (Ok(b), Ok(a)) => a <= b && b.saturating_sub(a) <= slack,
        _ => false,
    };
    check(
        ok,
        format_args!("free pages back after {what} ({before:?} -> {after:?}, slack {slack})"),
    );
}

/// `physinfo`'s free pages once two reads 1 s apart agree (at most
/// [`SETTLE_NS`]): the count before a build, with whatever Xen still had
/// to free from earlier domains (the toolstack's claim checks) freed.
pub fn stable_free_pages() -> Result<u64, XenError> {
    let deadline = shinfo::now().unwrap_or(0).saturating_add(SETTLE_NS);
    let mut last = physinfo().map(|p| p.free_pages);
    loop {
        let pause = shinfo::now().unwrap_or(0).saturating_add(1_000_000_000);
        while shinfo::now().unwrap_or(u64::MAX) < pause {
            let _ = pv_tests::ops::sched_yield();
        }
        let now = physinfo().map(|p| p.free_pages);
        if now == last || shinfo::now().unwrap_or(u64::MAX) > deadline {
            return now;
        }
        last = now;
    }
}

/// How long [`settled_free_pages`] waits (system time).
const SETTLE_NS: u64 = 5_000_000_000;

/// `physinfo`'s free pages once they equal `before`, or after
/// [`SETTLE_NS`]: Xen frees a destroyed domain's last pages (its
/// `struct domain`, vCPUs, grant and maptrack frames) only after an RCU
/// grace period (`complete_domain_destroy`), a moment after
/// `XEN_DOMCTL_destroydomain` returned.
pub fn settled_free_pages(before: Result<u64, XenError>) -> Result<u64, XenError> {
    let deadline = shinfo::now().unwrap_or(0).saturating_add(SETTLE_NS);
    loop {
        let now = physinfo().map(|p| p.free_pages);
        if now == before || shinfo::now().unwrap_or(u64::MAX) > deadline {
            return now;
        }
        let _ = pv_tests::ops::sched_yield();
    }
}
