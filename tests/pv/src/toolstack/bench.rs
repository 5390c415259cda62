// SPDX-License-Identifier: GPL-2.0-only
//! `pv-toolstack`'s benchmark mode: `bench=<secs>` on dom0's command line
//! (what `qemu/bench` passes), with the CPU-burning domU `pv-spin` as the
//! first image of the initrd.
//!
//! It prints, from what the domUs measured:
//!
//! * `bench: credit shares, 4 domUs weights 256:256:512:1024 on <C> CPUs,
//!   <secs> s: max error N.N%` — four `pv-spin` domUs with those credit
//!   weights (`XEN_DOMCTL_scheduler_op` putinfo, before they are unpaused)
//!   share the machine for `<secs>` s of system time. Each reports the time
//!   its vCPU ran in that window as it read it from its runstate
//!   (`RUNSTATE_running`, what a guest's steal-time accounting reads: the
//!   context switches as they happened, not the credit scheduler's
//!   bookkeeping); running time over the window is its measured share of a
//!   CPU. The error of a domU is `|measured − expected| / expected`; the
//!   line shows the largest.
//! * `bench: credit cap 30: measured N.N%` — one `pv-spin` with cap 30
//!   runs alone for `<secs>` s (uncapped, it would have a whole CPU): the
//!   share of a CPU it measured the same way.
//! * `bench: domain create (64 MiB domU): N ms` — the mean time of the
//!   domain builds above (five 64 MiB domUs), `XEN_DOMCTL_createdomain`
//!   through the built domain ready to unpause, by dom0's pvclock.
//!
//! Two guest-side cross-checks are printed per domU: **by work**, `C × W_i
//! / ΣW` with `W` the work units each domU got done (valid when every CPU
//! executes instructions at the same rate), and **by clock**, the time the
//! guest saw itself run by its own pvclock (valid when its CPU runs
//! continuously in real time). Under QEMU's TCG neither holds: with
//! `-icount`, QEMU runs the CPUs round-robin in one thread (each guest's
//! clock shows the other CPU's turns as gaps, halving "by clock", and the
//! CPUs' instruction shares differ by a few percent); without it, each CPU
//! is a host thread whose speed and preemption follow the host's load.
//!
//! **Expected shares** are what Xen's credit scheduler gives single-vCPU
//! domains that always want to run: each gets CPU in proportion to its
//! weight, except that one vCPU cannot use more than one CPU. So shares are
//! filled by water-filling ([`expected_shares`]): with `C` CPUs and weights
//! `w_i`, `share_i = C × w_i / Σw`; any domain whose share exceeds one CPU
//! gets exactly one CPU and drops out, and the rest share the remaining
//! CPUs by the same rule. For 256:256:512:1024 on 2 CPUs: 25%, 25%, 50%,
//! 100% of a CPU (the 1024 domain wants exactly one CPU).
//!
//! Each phase builds its domUs paused, sets their credit parameters, then
//! writes the window `start=<ns> end=<ns>` (system time, starting
//! [`START_MARGIN_NS`] ahead so that every domU is booted and spinning) into
//! each domU's `start_info` command line and unpauses them all; dom0 then
//! blocks on `VIRQ_DOM_EXC` until they shut down. The domUs print their
//! counts to the console; dom0 reads them back from the hypervisor's
//! console ring (`XEN_SYSCTL_readconsole`, as `xl dmesg` does), which holds
//! guest lines only with the hypervisor option `console_to_ring`.
//! The per-domU details (`bench: shares d<N> ...`) show beside each
//! measured share the vCPU's runstate time (the hypervisor's own
//! accounting, as the guest read it), to tell a measurement problem from a
//! scheduling one.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::mem::offset_of;

use pv_tests::guest_abi::domctl::{
    DomctlCmd, DomctlSchedOp, XenDomctlSchedCredit, XenDomctlSchedulerOp, XenScheduler,
};
use pv_tests::guest_abi::sysctl::{SysctlCmd, XenSysctl, XenSysctlPhysinfo, XenSysctlReadconsole};
use pv_tests::guest_abi::xen::{DomId, Errno, EvtchnPort, Hypercall, Mfn};
use pv_tests::hypercall::hypercall1;
use pv_tests::ops::{XenError, result};
use pv_tests::{StartInfo, error, fail, println, shinfo, success};
use xen_domain_builder::{BuiltDomain, DomCtl, DomainConfig};

use super::{Hypervisor, Running, domctl_with, wait};

/// Memory of each benchmark domU (the domain-create figure's size).
const DOMU_MIB: u64 = 64;

/// Credit weights of the shares run.
const WEIGHTS: [u16; 4] = [256, 256, 512, 1024];

/// Credit cap of the cap run (percent of one CPU).
const CAP: u16 = 30;

/// How far ahead of "now" a window starts once its domUs are built.
const START_MARGIN_NS: u64 = 100_000_000;

/// Parts per million: the unit of shares (1 000 000 = one whole CPU).
const PPM: u64 = 1_000_000;

/// Nanoseconds per second.
const NS_PER_S: u64 = 1_000_000_000;

/// Size of the buffer the console ring is read into (the ring is 16 KiB).
const RING_BUFFER: usize = 64 << 10;

/// `bench=<secs>` from dom0's command line.
pub fn seconds(si: &StartInfo) -> Option<u64> {
    let line = core::str::from_utf8(si.cmd_line_bytes()).unwrap_or("");
    line.split_whitespace().find_map(|w| w.strip_prefix("bench=")?.parse().ok()).filter(|&s| s > 0)
}

/// A share in parts per million of one CPU, displayed as a percentage with
/// one decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ppm(u64);

impl fmt::Display for Ppm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = self.0.saturating_add(500) / 1000;
        write!(f, "{}.{}%", tenths / 10, tenths % 10)
    }
}

/// `a × b / c` without overflow (0 when `c` is 0).
fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    let q = u128::from(a).saturating_mul(u128::from(b)).checked_div(u128::from(c)).unwrap_or(0);
    u64::try_from(q).unwrap_or(u64::MAX)
}

/// The shares (of one CPU) that credit gives single-vCPU domains of
/// `weights` that always want to run on `cpus` CPUs: water-filling, see
/// the module documentation.
fn expected_shares(weights: &[u16], cpus: u64) -> Vec<Ppm> {
    let mut share: Vec<Option<u64>> = vec![None; weights.len()];
    let mut left = cpus.saturating_mul(PPM);
    loop {
        let open = || weights.iter().zip(share.iter()).filter(|(_, s)| s.is_none());
        let wsum: u64 = open().map(|(&w, _)| u64::from(w)).sum();
        if wsum == 0 {
            break;
        }
        // A domain whose proportional share is a whole CPU or more is
        // settled at one CPU; the others share what is left.
        let full = weights
            .iter()
            .zip(share.iter_mut())
            .find(|(w, s)| s.is_none() && mul_div(left, u64::from(**w), wsum) >= PPM);
        match full {
            Some((_, s)) => {
                *s = Some(PPM);
                left = left.saturating_sub(PPM);
            }
            None => {
                for (w, s) in weights.iter().zip(share.iter_mut()) {
                    if s.is_none() {
                        *s = Some(mul_div(left, u64::from(*w), wsum));
                    }
                }
            }
        }
    }
    share.into_iter().map(|s| Ppm(s.unwrap_or(0))).collect()
}

/// What one `pv-spin` domU reported.
#[derive(Clone, Copy, Debug)]
struct Spin {
    window_ns: u64,
    ran_ns: u64,
    gaps: u64,
    work: u64,
    running_ns: u64,
}

impl Spin {
    /// The share of a CPU the guest saw in its runstate.
    fn share(&self) -> Ppm {
        Ppm(mul_div(self.running_ns, PPM, self.window_ns))
    }

    /// The share of a CPU the guest saw by its own clock (the time it saw
    /// itself run, see `pv-spin`).
    fn clock_share(&self) -> Ppm {
        Ppm(mul_div(self.ran_ns, PPM, self.window_ns))
    }
}

/// The numbers of a `spin: window <ns> ns, ran <ns> ns, gaps <n>, work
/// <units> units, running <ns> ns, late <ns> ns` line.
fn parse_spin(text: &str) -> Option<Spin> {
    let mut numbers =
        text.split_whitespace().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok());
    Some(Spin {
        window_ns: numbers.next()?,
        ran_ns: numbers.next()?,
        gaps: numbers.next()?,
        work: numbers.next()?,
        running_ns: numbers.next()?,
    })
}

/// `HYPERVISOR_sysctl(op)`.
fn sysctl(op: &mut XenSysctl) -> Result<(), XenError> {
    // SAFETY: sysctl reads and writes the envelope and, for readconsole,
    // writes at most `count` bytes to the buffer it names, which the caller
    // keeps alive for the call.
    let ret = unsafe { hypercall1(Hypercall::Sysctl.raw(), core::ptr::from_mut(op).addr() as u64) };
    result(ret).map(drop)
}

/// The host's CPU count (`XEN_SYSCTL_physinfo`).
pub(super) fn nr_cpus() -> Result<u64, XenError> {
    let zero: XenSysctlPhysinfo = bytemuck::Zeroable::zeroed();
    let mut op =
        XenSysctl::with_payload(SysctlCmd::Physinfo, &zero).ok_or(XenError::from(Errno::EINVAL))?;
    sysctl(&mut op)?;
    let info: XenSysctlPhysinfo = op.payload().ok_or(XenError::from(Errno::EINVAL))?;
    Ok(u64::from(info.nr_cpus))
}

/// The hypervisor's console ring, oldest byte first.
pub(super) fn console_ring() -> Result<Vec<u8>, XenError> {
    let mut buf = vec![0u8; RING_BUFFER];
    let rc = XenSysctlReadconsole {
        buffer: buf.as_mut_ptr().addr() as u64,
        count: u32::try_from(buf.len()).unwrap_or(u32::MAX),
        ..bytemuck::Zeroable::zeroed()
    };
    let mut op = XenSysctl::with_payload(SysctlCmd::Readconsole, &rc)
        .ok_or(XenError::from(Errno::EINVAL))?;
    sysctl(&mut op)?;
    let rc: XenSysctlReadconsole = op.payload().ok_or(XenError::from(Errno::EINVAL))?;
    buf.truncate(usize::try_from(rc.count).unwrap_or(0));
    Ok(buf)
}

/// The last `spin:` line of each of `doms` in the console ring.
fn collect(doms: &[DomId]) -> Result<Vec<Spin>, XenError> {
    let ring = console_ring()?;
    let text = core::str::from_utf8(&ring).unwrap_or("");
    let mut out = Vec::new();
    for d in doms {
        let mut prefix = String::new();
        let _ = fmt::write(&mut prefix, format_args!("(d{}) spin: ", d.0));
        let line = text.lines().rev().find_map(|l| l.strip_prefix(prefix.as_str()));
        match line.and_then(parse_spin) {
            Some(spin) => out.push(spin),
            None => {
                error(format_args!(
                    "no `spin:` line of d{} in the console ring (boot with console_to_ring)",
                    d.0
                ));
                return Err(XenError::from(Errno::ENOENT));
            }
        }
    }
    Ok(out)
}

/// `XEN_DOMCTL_scheduler_op` putinfo for credit.
fn set_credit(dom: DomId, weight: u16, cap: u16) -> Result<(), XenError> {
    let mut s = XenDomctlSchedulerOp {
        sched_id: XenScheduler::Credit.raw(),
        cmd: DomctlSchedOp::Putinfo.raw(),
        u: [0; 2],
    };
    if !s.set_params(&XenDomctlSchedCredit { weight, cap }) {
        return Err(XenError::from(Errno::EINVAL));
    }
    domctl_with(DomctlCmd::SchedulerOp, dom, &s).map(drop)
}

/// The system time now; 0 if the pvclock is unreadable (shared_info is
/// mapped before the bench starts).
fn now() -> u64 {
    shinfo::now().unwrap_or(0)
}

/// Domains of one phase, built paused.
pub(super) struct Phase {
    pub(super) built: Vec<BuiltDomain>,
}

impl Phase {
    /// Builds `n` domUs of `kernel`, adding each build's duration to
    /// `create_ns`.
    pub(super) fn build(
        hv: &mut Hypervisor,
        kernel: &[u8],
        n: usize,
        create_ns: &mut Vec<u64>,
    ) -> Result<Self, XenError> {
        let mut built = Vec::new();
        for _ in 0..n {
            let mut cfg = DomainConfig::new(kernel, b"", DOMU_MIB);
            cfg.evtchns_optional = true;
            let t0 = now();
            match xen_domain_builder::build(hv, &cfg) {
                Ok(b) => {
                    create_ns.push(now().saturating_sub(t0));
                    built.push(b);
                }
                Err(e) => {
                    fail(format_args!("building a {DOMU_MIB} MiB pv-spin domU: {e}"));
                    return Err(XenError::from(Errno::EINVAL));
                }
            }
        }
        Ok(Self { built })
    }

    pub(super) fn domids(&self) -> Vec<DomId> {
        self.built.iter().map(|b| b.domid).collect()
    }

    /// Gives every domU the window of `secs` seconds starting
    /// [`START_MARGIN_NS`] from now, unpauses them and waits until all have
    /// shut down; returns their reports.
    fn run(
        self,
        hv: &mut Hypervisor,
        exc: Option<EvtchnPort>,
        window_ns: u64,
    ) -> Result<Vec<Spin>, XenError> {
        let doms = self.domids();
        self.run_with(hv, exc, window_ns, "")?;
        collect(&doms)
    }

    /// [`Self::run`] with `extra` appended to each domU's command line,
    /// leaving the reports in the console ring.
    pub(super) fn run_with(
        self,
        hv: &mut Hypervisor,
        exc: Option<EvtchnPort>,
        window_ns: u64,
        extra: &str,
    ) -> Result<(), XenError> {
        let start = now().saturating_add(START_MARGIN_NS);
        let end = start.saturating_add(window_ns);
        let mut line = String::new();
        let _ = fmt::write(&mut line, format_args!("start={start} end={end} {extra}"));
        for b in &self.built {
            let mut si = b.start_info;
            si.set_cmd_line(line.as_bytes());
            let pfn = b.layout.start_info.0.saturating_sub(b.layout.v_start) / 4096;
            let mfn = usize::try_from(pfn).ok().and_then(|i| b.p2m.get(i)).copied();
            let mfn = mfn.ok_or(XenError::from(Errno::EINVAL))?;
            hv.write_foreign(b.domid, Mfn(mfn), offset_of!(StartInfo, cmd_line), &si.cmd_line)?;
        }
        hv.unmap_foreign()?;
        let mut running: Vec<Running> = Vec::new();
        for (n, b) in (1..).zip(&self.built) {
            hv.unpause(b.domid)?;
            running.push(Running { domid: b.domid, n });
        }
        wait(hv, exc, &mut running);
        Ok(())
    }
}

/// Runs the benchmark with `kernel` (`pv-spin`) for `secs` seconds per
/// measured run and prints its figures.
pub fn run(hv: &mut Hypervisor, exc: Option<EvtchnPort>, kernel: &[u8], secs: u64) {
    let cpus = match nr_cpus() {
        Ok(n) if n > 0 => n,
        Ok(_) | Err(_) => {
            error("XEN_SYSCTL_physinfo: no CPU count");
            return;
        }
    };
    let mut create_ns = Vec::new();
    if let Err(e) = shares(hv, exc, kernel, secs, cpus, &mut create_ns) {
        error(format_args!("shares run: {e}"));
        return;
    }
    if let Err(e) = cap(hv, exc, kernel, secs, &mut create_ns) {
        error(format_args!("cap run: {e}"));
        return;
    }
    let n = u64::try_from(create_ns.len()).unwrap_or(0);
    let total: u64 = create_ns.iter().sum();
    let mean_us = total.checked_div(n).unwrap_or(0) / 1000;
    let min_us = create_ns.iter().min().copied().unwrap_or(0) / 1000;
    let max_us = create_ns.iter().max().copied().unwrap_or(0) / 1000;
    println!(
        "bench: domain create ({DOMU_MIB} MiB domU): {} ms",
        mean_us.saturating_add(500) / 1000
    );
    println!(
        "bench: domain create: mean {mean_us} us, min {min_us} us, max {max_us} us over {n} builds"
    );
    success();
}

/// The shares run (see the module documentation).
fn shares(
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    kernel: &[u8],
    secs: u64,
    cpus: u64,
    create_ns: &mut Vec<u64>,
) -> Result<(), XenError> {
    let phase = Phase::build(hv, kernel, WEIGHTS.len(), create_ns)?;
    for (b, &w) in phase.built.iter().zip(&WEIGHTS) {
        set_credit(b.domid, w, 0)?;
    }
    let doms = phase.domids();
    let spins = phase.run(hv, exc, secs.saturating_mul(NS_PER_S))?;
    let expected = expected_shares(&WEIGHTS, cpus);
    let total_work: u64 = spins.iter().map(|s| s.work).sum();
    let mut max_err = Ppm(0);
    for (((d, w), e), s) in doms.iter().zip(&WEIGHTS).zip(&expected).zip(&spins) {
        let measured = s.share();
        let err = Ppm(mul_div(measured.0.abs_diff(e.0), PPM, e.0));
        max_err = max_err.max(err);
        let by_work = Ppm(mul_div(s.work, cpus.saturating_mul(PPM), total_work));
        println!(
            "bench: shares d{} weight {w}: expected {e}, measured {measured} (error {err}); \
             by work {by_work} ({} units), by clock {} ({} gaps)",
            d.0,
            s.work,
            s.clock_share(),
            s.gaps
        );
    }
    let weights: Vec<String> = WEIGHTS.iter().map(|w| format!("{w}")).collect();
    println!(
        "bench: credit shares, {} domUs weights {} on {cpus} CPUs, {secs} s: max error {max_err}",
        WEIGHTS.len(),
        weights.join(":")
    );
    Ok(())
}

/// The cap run (see the module documentation).
fn cap(
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    kernel: &[u8],
    secs: u64,
    create_ns: &mut Vec<u64>,
) -> Result<(), XenError> {
    let phase = Phase::build(hv, kernel, 1, create_ns)?;
    for b in &phase.built {
        set_credit(b.domid, 0, CAP)?;
    }
    let doms = phase.domids();
    let spins = phase.run(hv, exc, secs.saturating_mul(NS_PER_S))?;
    let (Some(d), Some(s)) = (doms.first(), spins.first()) else {
        return Err(XenError::from(Errno::ENOENT));
    };
    println!(
        "bench: cap d{} cap {CAP}: measured {}; by clock {} ({} gaps), {} work units",
        d.0,
        s.share(),
        s.clock_share(),
        s.gaps,
        s.work
    );
    println!("bench: credit cap {CAP}: measured {}", s.share());
    Ok(())
}
