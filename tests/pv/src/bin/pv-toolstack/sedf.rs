// SPDX-License-Identifier: GPL-2.0-only
//! `mode=sedf-bench`: the sEDF guarantee measured in a guest (issue 13),
//! on a hypervisor booted with `sched=sedf`, with `pv-spin` as the first
//! domU image.
//!
//! Three `pv-spin` domUs are built paused and their vCPUs pinned to the
//! last CPU (`XEN_DOMCTL_setvcpuaffinity`): A gets period 20 ms and slice
//! 5 ms without extra time (`XEN_DOMCTL_scheduler_op` putinfo in Xen 4.5's
//! `xen_domctl_sched_sedf` layout, read back with getinfo); B and C keep
//! sEDF's defaults (best-effort: extra time only) and burn the CPU beside
//! it. Before that, a putinfo with a slice longer than its period must be
//! refused with `-EINVAL`, as Xen 4.5 refuses it. All three run for
//! `sedf_secs=<n>` seconds (default 5) of system time; A checks every
//! period from its runstate (`pv-spin`'s `period=` mode) and dom0 reads its
//! report back from the console ring (`console_to_ring`) and prints
//!
//! `bench: sedf (20 ms, 5 ms) domain under load: N.N% of periods got their
//! slice`
//!
//! with a detail line (periods, least and most running time in one
//! period, each domU's share of the CPU from its runstate).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use pv_tests::guest_abi::domctl::{
    DomctlCmd, DomctlSchedOp, XEN_VCPUAFFINITY_HARD, XenDomctlSchedSedf, XenDomctlSchedulerOpSedf,
    XenDomctlVcpuaffinity, XenScheduler, XenctlBitmap,
};
use pv_tests::guest_abi::sysctl::{SysctlCmd, XenSysctl, XenSysctlSchedId};
use pv_tests::guest_abi::xen::{DomId, Errno, EvtchnPort, Hypercall, VcpuId};
use pv_tests::hypercall::hypercall1;
use pv_tests::ops::{XenError, result};
use pv_tests::{StartInfo, check, check_eq, fail, println, shinfo, success};

use super::bench::{Phase, console_ring, nr_cpus};
use super::{Hypervisor, Image, domctl_with};

/// The guaranteed domain's period and slice, ns.
const PERIOD_NS: u64 = 20_000_000;
const SLICE_NS: u64 = 5_000_000;

/// Whether dom0's command line asks for this mode.
pub fn wanted(si: &StartInfo) -> bool {
    shinfo::cmdline_value(si.cmd_line_bytes(), "mode") == Some("sedf-bench")
}

/// `sedf_secs=<n>` (default 5).
fn seconds(si: &StartInfo) -> u64 {
    shinfo::cmdline_value(si.cmd_line_bytes(), "sedf_secs")
        .and_then(|v| v.parse().ok())
        .filter(|&s| s > 0)
        .unwrap_or(5)
}

/// `XEN_SYSCTL_sched_id`.
fn sched_id() -> Result<u32, XenError> {
    let zero = XenSysctlSchedId { sched_id: 0 };
    let mut op =
        XenSysctl::with_payload(SysctlCmd::SchedId, &zero).ok_or(XenError::from(Errno::EINVAL))?;
    // SAFETY: sysctl reads and writes only the envelope.
    let ret =
        unsafe { hypercall1(Hypercall::Sysctl.raw(), core::ptr::from_mut(&mut op).addr() as u64) };
    result(ret)?;
    let out: XenSysctlSchedId = op.payload().ok_or(XenError::from(Errno::EINVAL))?;
    Ok(out.sched_id)
}

/// `XEN_DOMCTL_scheduler_op` for sEDF: `cmd` with `p`; returns the
/// parameters the call left in the payload.
fn sedf_op(
    dom: DomId,
    cmd: DomctlSchedOp,
    p: XenDomctlSchedSedf,
) -> Result<XenDomctlSchedSedf, XenError> {
    let s =
        XenDomctlSchedulerOpSedf { sched_id: XenScheduler::Sedf.raw(), cmd: cmd.raw(), sedf: p };
    let back = domctl_with(DomctlCmd::SchedulerOp, dom, &s)?;
    let out: XenDomctlSchedulerOpSedf = back.payload().ok_or(XenError::from(Errno::EINVAL))?;
    Ok(out.sedf)
}

/// Pins vCPU 0 of `dom` to CPU `cpu` (hard affinity).
fn pin(dom: DomId, cpu: u64) -> Result<(), XenError> {
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

/// The numbers after `(d<dom>) <prefix>` on the last such line of `text`.
fn numbers(text: &str, dom: DomId, prefix: &str) -> Option<Vec<u64>> {
    let head = format!("(d{}) {prefix}", dom.0);
    let line = text.lines().rev().find_map(|l| l.strip_prefix(head.as_str()))?;
    Some(
        line.split_whitespace()
            .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
            .collect(),
    )
}

/// A share of one CPU in tenths of a percent, as `N.N%`.
fn percent(part: u64, whole: u64) -> String {
    let tenths = u128::from(part).saturating_mul(1000).checked_div(u128::from(whole)).unwrap_or(0);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// Runs the measurement (see the module documentation).
pub fn run(si: &StartInfo, hv: &mut Hypervisor, exc: Option<EvtchnPort>, found: &[Image<'_>]) {
    let Some(kernel) = found.first().and_then(|i| i.kernel) else {
        fail("sedf-bench: the first domU image has no kernel");
        return;
    };
    match sched_id() {
        Ok(id) if id == XenScheduler::Sedf.raw() => {}
        Ok(id) => {
            fail(format_args!(
                "sedf-bench: the hypervisor runs scheduler {id}, not sEDF (sched=sedf)"
            ));
            return;
        }
        Err(e) => {
            fail(format_args!("XEN_SYSCTL_sched_id: {e}"));
            return;
        }
    }
    if let Err(e) = measure(hv, exc, kernel, seconds(si)) {
        fail(format_args!("sedf-bench: {e}"));
        return;
    }
    success();
}

fn measure(
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    kernel: &[u8],
    secs: u64,
) -> Result<(), XenError> {
    let cpus = nr_cpus()?;
    let cpu = cpus.saturating_sub(1);
    let mut create_ns = Vec::new();
    let phase = Phase::build(hv, kernel, 3, &mut create_ns)?;
    let doms = phase.domids();
    let (Some(&a), Some(&b), Some(&c)) = (doms.first(), doms.get(1), doms.get(2)) else {
        return Err(XenError::from(Errno::EINVAL));
    };
    let p = |period, slice, extratime, weight| XenDomctlSchedSedf {
        period,
        slice,
        latency: 0,
        extratime,
        weight,
    };
    // Xen 4.5's defaults: best-effort, extra time only.
    let dflt = sedf_op(b, DomctlSchedOp::Getinfo, p(0, 0, 0, 0))?;
    check_eq(dflt, p(100_000_000, 0, 1, 0), "a new domain's sEDF parameters (Xen 4.5)");
    let bad = sedf_op(a, DomctlSchedOp::Putinfo, p(PERIOD_NS, PERIOD_NS + 1, 0, 0));
    check(
        bad.is_err_and(|e| e == XenError::from(Errno::EINVAL)),
        "a slice longer than the period is -EINVAL",
    );
    sedf_op(a, DomctlSchedOp::Putinfo, p(PERIOD_NS, SLICE_NS, 0, 0))?;
    let got = sedf_op(a, DomctlSchedOp::Getinfo, p(0, 0, 0, 0))?;
    check_eq(got, p(PERIOD_NS, SLICE_NS, 0, 0), "getinfo after putinfo");
    for d in &doms {
        pin(*d, cpu)?;
    }
    let extra = format!("period={PERIOD_NS} slice={SLICE_NS}");
    let window = secs.saturating_mul(1_000_000_000);
    phase.run_with(hv, exc, window, &extra)?;

    let ring = console_ring()?;
    let text = core::str::from_utf8(&ring).unwrap_or("");
    let Some(per) = numbers(text, a, "spin: periods ") else {
        fail(format_args!(
            "no `spin: periods` line of d{} in the console ring (console_to_ring)",
            a.0
        ));
        return Err(XenError::from(Errno::ENOENT));
    };
    let (Some(&count), Some(&met), Some(&least), Some(&most)) =
        (per.first(), per.get(1), per.get(2), per.get(3))
    else {
        return Err(XenError::from(Errno::EINVAL));
    };
    let mut shares = String::new();
    for d in [a, b, c] {
        // `spin: window <ns> ns, ran <ns> ns, gaps <n>, work <n> units, running <ns> ns, ...`
        if let Some(n) = numbers(text, d, "spin: window ")
            && let (Some(&w), Some(&running)) = (n.first(), n.get(4))
        {
            shares.push_str(&format!(" d{} {}", d.0, percent(running, w)));
        }
    }
    println!(
        "bench: sedf d{} ({} ms, {} ms) on CPU {cpu} with d{} d{} best-effort: {met} of {count} \
         periods met, least {} us, most {} us; CPU shares{shares}",
        a.0,
        PERIOD_NS / 1_000_000,
        SLICE_NS / 1_000_000,
        b.0,
        c.0,
        least / 1000,
        most / 1000
    );
    println!(
        "bench: sedf ({} ms, {} ms) domain under load: {} of periods got their slice",
        PERIOD_NS / 1_000_000,
        SLICE_NS / 1_000_000,
        percent(met, count)
    );
    check(count > 0, "whole periods were measured");
    Ok(())
}
