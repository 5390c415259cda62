// SPDX-License-Identifier: GPL-2.0-only
//! `mode=pingpong`: two domUs talk over an interdomain event channel that
//! the toolstack set up, as `xl` does for a frontend and its backend.
//!
//! With the first domU image (`pv-pingpong`) the toolstack builds A and B,
//! with ids it chooses (the first two free ones): A with `role=a peer=<B>`,
//! then allocates a port in A for B (`EVTCHNOP_alloc_unbound`, `dom` = A,
//! `remote_dom` = B, before B exists, as Xen's default policy allows), then
//! B with `role=b peer=<A> port=<that port>`; both get `rounds=<N>`
//! (`rounds=` on dom0's command line, default [`DEFAULT_ROUNDS`]) and
//! `cpus=same|different`. With two CPUs or more, A's vCPU is pinned to
//! CPU 0 and B's to CPU 1 (`XEN_DOMCTL_setvcpuaffinity`), so that every
//! notification crosses CPUs; with one CPU, or `pingpong=same` on dom0's
//! command line, both are pinned to CPU 0. The toolstack checks that dom0
//! sees the channel with `EVTCHNOP_status` (A's port: unbound for B), then
//! unpauses both, waits for their shutdowns and destroys them. It prints
//! `pingpong: d<A> and d<B> on <placement>` first and
//! `pingpong: both domUs done` at the end.

use alloc::format;
use alloc::vec::Vec;

use pv_tests::guest_abi::domctl::{
    DomctlCmd, XEN_VCPUAFFINITY_HARD, XenDomctlVcpuaffinity, XenctlBitmap,
};
use pv_tests::guest_abi::event_channel::{EvtchnBinding, EvtchnOp, EvtchnStatus};
use pv_tests::guest_abi::xen::{DomId, EvtchnPort, VcpuId};
use pv_tests::ops::XenError;
use pv_tests::{StartInfo, check_eq, evtchn, fail, println, shinfo};
use xen_domain_builder::{DomCtl, DomainConfig};

use super::{Hypervisor, Image, Running, domctl_with, physinfo, wait};

/// Round trips unless `rounds=` says otherwise.
const DEFAULT_ROUNDS: u32 = 1000;

/// Whether dom0's command line asks for this mode.
pub fn wanted(si: &StartInfo) -> bool {
    shinfo::cmdline_value(si.cmd_line_bytes(), "mode") == Some("pingpong")
}

/// The first two domain ids from 1 that no domain has.
fn free_ids(hv: &mut Hypervisor) -> Option<(DomId, DomId)> {
    let mut free = (1u16..0x7ff0).map(DomId).filter(|&d| hv.get_domain_info(d).is_err());
    Some((free.next()?, free.next()?))
}

/// Pins vCPU 0 of `dom` to CPU `cpu` (hard affinity).
fn pin(dom: DomId, cpu: u32) -> Result<(), XenError> {
    let mut map = [0u8; 8];
    if let Some(byte) = usize::try_from(cpu / 8).ok().and_then(|i| map.get_mut(i)) {
        *byte = 1u8 << (cpu % 8);
    }
    let aff = XenDomctlVcpuaffinity {
        vcpu: VcpuId(0),
        flags: XEN_VCPUAFFINITY_HARD,
        cpumap_hard: XenctlBitmap::new(map.as_mut_ptr().addr() as u64, 64),
        cpumap_soft: XenctlBitmap::new(0, 0),
    };
    domctl_with(DomctlCmd::Setvcpuaffinity, dom, &aff).map(drop)
}

/// Builds `kernel` as domain `want` with `cmdline`.
fn build(
    hv: &mut Hypervisor,
    want: DomId,
    kernel: &[u8],
    cmdline: &str,
    mem: u64,
) -> Option<DomId> {
    hv.next_domid = want;
    let cfg = DomainConfig::new(kernel, cmdline.as_bytes(), mem);
    let built = xen_domain_builder::build(hv, &cfg);
    hv.next_domid = DomId(0);
    match built {
        Ok(b) => {
            println!("domU d{}: \"{cmdline}\"", b.domid.0);
            hv.rings.serve(&b, alloc::format!("domU-{}", b.domid.0));
            Some(b.domid)
        }
        Err(e) => {
            fail(format_args!("pingpong: building d{}: {e}", want.0));
            None
        }
    }
}

/// Runs the mode (see the module documentation).
pub fn run(
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    images: &[Image<'_>],
    mem: u64,
    si: &StartInfo,
) {
    let line = si.cmd_line_bytes();
    let rounds = shinfo::cmdline_value(line, "rounds")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let Some(kernel) = images.first().and_then(|i| i.kernel) else {
        fail("pingpong: the first domU image has no kernel");
        return;
    };
    let Some((a, b)) = free_ids(hv) else {
        fail("pingpong: no two free domain ids");
        return;
    };
    let cpus = physinfo().map_or(1, |p| p.nr_cpus);
    let same = cpus < 2 || shinfo::cmdline_value(line, "pingpong") == Some("same");
    let (placement, word) =
        if same { ("the same CPU", "same") } else { ("different CPUs", "different") };
    println!("pingpong: d{} and d{} on {placement}, {rounds} round trips", a.0, b.0);

    let a_line = format!("role=a peer={} rounds={rounds} cpus={word}", b.0);
    let Some(a) = build(hv, a, kernel, &a_line, mem) else { return };
    let port = match evtchn::alloc_unbound(a, b) {
        Ok(port) => port,
        Err(e) => {
            fail(format_args!("pingpong: alloc_unbound(d{}, remote d{}): {e}", a.0, b.0));
            let _ = hv.destroy(a);
            return;
        }
    };
    let mut s = EvtchnStatus { dom: a, port, ..Default::default() };
    let seen =
        evtchn::event_channel_op(EvtchnOp::Status, &mut s).ok().and_then(|()| s.binding().ok());
    check_eq(seen, Some(EvtchnBinding::Unbound { remote_dom: b }), "dom0's status of A's port");
    let b_line = format!("role=b peer={} port={} rounds={rounds} cpus={word}", a.0, port.0);
    let Some(b) = build(hv, b, kernel, &b_line, mem) else {
        let _ = hv.destroy(a);
        return;
    };
    for (dom, cpu) in [(a, 0), (b, if same { 0 } else { 1 })] {
        if let Err(e) = pin(dom, cpu) {
            fail(format_args!("pingpong: pinning d{} to CPU {cpu}: {e}", dom.0));
        }
    }
    let mut running: Vec<Running> = Vec::new();
    for (dom, n) in [(a, 1), (b, 2)] {
        if let Err(e) = hv.unpause(dom) {
            fail(format_args!("pingpong: unpause d{}: {e}", dom.0));
        }
        running.push(Running { domid: dom, n });
    }
    wait(hv, exc, &mut running);
    println!("pingpong: both domUs done");
}
