// SPDX-License-Identifier: GPL-2.0-only
//! The vCPU run loop on each CPU: what happens after a guest entry's work
//! and before the CPU returns to a guest (Xen's `schedule()`,
//! `context_switch()` and the idle loop, in their machine-layer part).
//!
//! After a hypercall or trap has run on the current vCPU, the scheduler
//! core ([`SchedCore`]) is brought in step with what changed (a vCPU
//! blocked, woke up, went down or came up, a domain was paused or shut
//! down); CPUs it wants to decide again are interrupted. A CPU whose
//! `resched` flag is set, or whose slice ran out, asks the core what to run
//! and switches: the outgoing vCPU's state is saved
//! ([`context_switch::save_vcpu`]), the incoming one's loaded into the
//! guest frame and the CPU ([`context_switch::load_vcpu`]). With nothing
//! to run the CPU goes to [`idle_loop`], which waits for an interrupt and
//! enters a guest again through `enter_guest`.
//!
//! vCPU timers of vCPUs that are not running (a blocked vCPU's single-shot
//! timer, a poll timeout) are looked at when a CPU's timer interrupt fired
//! or the CPU is idle; the earliest deadline among them is
//! [`SCAN_DEADLINE`], which every CPU's timer covers.
//!
//! Everything runs under the machine lock, one domain locked at a time
//! (an event-channel operation may lock a second one, see
//! `hv_core::common::event_channel::interdomain`). Events a hypercall sent
//! to other domains come back in the context's list of kicked domains
//! ([`KickedDomains`]): only those are looked at, so the hot path stays a
//! test of an empty list.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use guest_abi::vcpu::RunState;
use guest_abi::xen::{CpuUserRegs as GuestRegs, DomId, Virq};
use hv_arch_x86_64::pvmem::{DirectMem, MachineM2p};
use hv_arch_x86_64::{apic, cpu, smp};
use hv_core::common::claims::Claims;
use hv_core::common::domain::Domain;
use hv_core::common::domain_table::{DomainTable, KickedDomains};
use hv_core::common::event_channel;
use hv_core::common::runstate;
use hv_core::common::xsm::Xsm;
use hv_core::mm::pv::FrameTable;
use hv_core::pv::context_switch;
use hv_core::pv::ctx::Ctx;
use hv_core::pv::time::{self as guest_time, ClockSample};
use hv_core::sched::{CpuMask, SchedUnit};
use hv_core::time::exit_memo::{self, ExitInputs};
use hv_core::time::{NSEC_PER_SEC, oneshot};

use crate::guest::{Hooks, Machine, MachinePlatform, lock_machine};
use crate::panic::xen_panic;

/// "No vCPU" in [`CURRENT`].
const IDLE: u64 = u64::MAX;

/// Per CPU: the vCPU it runs, as `domid << 32 | vcpu` ([`IDLE`]: none).
/// Read without the machine lock by TLB shootdowns.
static CURRENT: [AtomicU64; smp::NR_CPUS] = [const { AtomicU64::new(IDLE) }; smp::NR_CPUS];

/// Per CPU: its timer interrupt fired since the CPU last looked at the
/// timers of the vCPUs that are not running.
static TIMER_FIRED: [AtomicBool; smp::NR_CPUS] = [const { AtomicBool::new(false) }; smp::NR_CPUS];

/// Per CPU: the system time its local APIC timer is armed for (0: none).
static ARMED_DEADLINE: [AtomicU64; smp::NR_CPUS] = [const { AtomicU64::new(0) }; smp::NR_CPUS];

/// The earliest timer deadline of a vCPU that is not running (`u64::MAX`:
/// none); every CPU arms its timer no later than this.
static SCAN_DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);

/// How often a running vCPU's pvclock is republished (Xen's calibration
/// epoch): the scale is exact, this only bounds rounding drift.
const PVCLOCK_EPOCH_NS: u64 = NSEC_PER_SEC;
/// Longest the one-shot timer is armed for at once.
const MAX_TIMER_US: u64 = 1_000_000;
/// The hypercalls after which every domain's vCPUs are brought in step
/// with the scheduler (they can pause, shut down or unpause other
/// domains): `sched_op` (`SCHEDOP_remote_shutdown`), `domctl`. Changes to
/// the caller's own vCPUs come through its kick mask.
const RESYNC_HYPERCALLS: u64 = (1 << 29) | (1 << 36);

/// Whether hypercall `nr` is one of [`RESYNC_HYPERCALLS`].
fn resyncs(nr: u64) -> bool {
    nr < 64 && (RESYNC_HYPERCALLS >> nr) & 1 != 0
}

fn encode(u: Option<SchedUnit>) -> u64 {
    u.map_or(IDLE, |u| (u64::from(u.dom.0) << 32) | u64::from(u.vcpu.0))
}

fn cpu_index(cpu: u32) -> usize {
    usize::try_from(cpu).unwrap_or(usize::MAX)
}

/// The CPUs that run a vCPU of domain `dom` whose index is in `vcpus`.
#[must_use]
pub fn cpus_running(dom: DomId, vcpus: u64) -> u64 {
    let mut mask = 0u64;
    for (c, cur) in CURRENT.iter().enumerate().take(64) {
        let v = cur.load(Ordering::Acquire);
        if v != IDLE && (v >> 32) == u64::from(dom.0) {
            let idx = v & 0xffff_ffff;
            if idx < 64 && vcpus & (1u64 << idx) != 0 {
                mask |= 1u64 << c;
            }
        }
    }
    mask
}

/// The CPUs that run any vCPU.
#[must_use]
pub fn busy_cpus() -> u64 {
    let mut mask = 0u64;
    for (c, cur) in CURRENT.iter().enumerate().take(64) {
        if cur.load(Ordering::Acquire) != IDLE {
            mask |= 1u64 << c;
        }
    }
    mask
}

/// The local APIC timer of the calling CPU fired: nothing is armed any
/// more (it may fire before the deadline it was armed for, the timer's
/// calibration being approximate), and the timers of the vCPUs that are
/// not running are due for a look.
pub fn timer_interrupt() {
    let cpu = cpu_index(smp::this_cpu());
    if let Some(armed) = ARMED_DEADLINE.get(cpu) {
        armed.store(0, Ordering::Relaxed);
    }
    if let Some(f) = TIMER_FIRED.get(cpu) {
        f.store(true, Ordering::Relaxed);
    }
}

/// Whether CPU `cpu`, busy in a hypercall with interrupts off, has work
/// that should preempt it (the softirq half of Xen's
/// `hypercall_preempt_check`, see
/// [`hv_core::pv::hypercall::continuation`]): its timer fired or is due
/// (the interrupt waits, masked, for the hypercall to end: a vCPU timer,
/// the scheduler's slice or tick), the timers of the vCPUs not running are
/// due, serial input waits, or another CPU waits for the machine lock.
/// Atomic loads and, when a deadline is set, one TSC read.
pub fn hypercall_preempt_pending(cpu: u32) -> bool {
    let c = cpu_index(cpu);
    if TIMER_FIRED.get(c).is_some_and(|f| f.load(Ordering::Relaxed))
        || crate::guest::machine_lock_contended()
        || crate::console::rx_pending()
    {
        return true;
    }
    let armed = ARMED_DEADLINE.get(c).map_or(0, |a| a.load(Ordering::Relaxed));
    let scan = SCAN_DEADLINE.load(Ordering::Relaxed);
    let due = if armed == 0 { scan } else { armed.min(scan) };
    due != u64::MAX && hv_arch_x86_64::time::now_ns() >= due
}

/// Interrupts the CPUs in `mask` but `me`.
fn send_ipis(mask: CpuMask, me: u32) {
    for c in mask.iter() {
        if c.0 != me {
            smp::kick(c.0);
        }
    }
}

/// The parts of the machine a context is built from.
struct Parts<'a> {
    domains: &'a mut DomainTable,
    curr_dom: &'a mut alloc::vec::Vec<Option<hv_core::common::domain_table::DomainRef>>,
    xsm: &'a dyn Xsm,
    frames: &'a mut FrameTable,
    claims: &'a mut Claims,
    mem: &'a mut DirectMem,
    m2p: &'a mut MachineM2p,
    hooks: &'a mut Hooks,
}

impl Parts<'_> {
    fn ctx<'b>(
        &'b mut self,
        dom: &'b mut Domain,
        vcpu: usize,
        regs: &'b mut GuestRegs,
        platform: &'b mut MachinePlatform,
    ) -> Ctx<'b> {
        self.hooks.cpu = platform.cpu;
        Ctx {
            dom,
            vcpu,
            regs,
            frames: self.frames,
            claims: self.claims,
            mem: self.mem,
            m2p: self.m2p,
            hooks: self.hooks,
            platform,
            domains: self.domains,
            xsm: self.xsm,
            kicked: KickedDomains::new(),
        }
    }
}

fn split(m: &mut Machine) -> (Parts<'_>, &mut hv_core::common::schedule::SchedCore) {
    let Machine { domains, xsm, frames, claims, mem, m2p, hooks, sched, curr_dom, .. } = m;
    (Parts { domains, curr_dom, xsm: &**xsm, frames, claims, mem, m2p, hooks }, sched)
}

fn vcpu_index(u: SchedUnit) -> usize {
    usize::try_from(u.vcpu.0).unwrap_or(usize::MAX)
}

/// Runs `f` on the current vCPU of CPU `cpu` (whose registers are
/// `regs`, the CPU's guest frame), then prepares the return to a guest:
/// the same vCPU, another one (switched to in `regs`), or none (the CPU
/// goes idle and never comes back here).
pub fn with_ctx(cpu: u32, regs: &mut GuestRegs, f: impl FnOnce(&mut Ctx<'_>)) {
    let nr = regs.rax;
    let from_syscall = regs.entry_vector == hv_arch_x86_64::entry::TRAP_SYSCALL;
    let mut guard = lock_machine();
    let Some(m) = guard.as_mut() else { xen_panic(format_args!("guest entry without a guest")) };
    let Some(unit) = current(cpu) else {
        drop(guard);
        idle_loop(cpu)
    };
    // One clock reading for the scheduler checks and the vCPU's timers
    // (taken again after a hypercall that was preempted: it ran long).
    let mut sample = crate::guest::clock_sample();
    let mut now = sample.system_time;
    let mut ipis = CpuMask::EMPTY;
    let cached = m
        .curr_dom
        .get(cpu_index(cpu))
        .and_then(Option::as_ref)
        .filter(|d| d.id() == unit.dom)
        .cloned();
    let (mut parts, sched) = split(m);
    if let Some(cell) = cached.or_else(|| parts.domains.get(unit.dom)) {
        let mut dom = cell.lock();
        let idx = vcpu_index(unit);
        let kicked: KickedDomains;
        let was_shut = dom.shutdown.is_some();
        let mut platform = MachinePlatform { cpu, dom: unit.dom };
        let resync = from_syscall && resyncs(nr);
        let kicks = {
            let mut ctx = parts.ctx(&mut dom, idx, regs, &mut platform);
            f(&mut ctx);
            if from_syscall && ctx.v_ref().hcall_preempted {
                // A continuation: the work that preempted it is due now.
                sample = crate::guest::clock_sample();
                now = sample.system_time;
            }
            if ctx.dom.shutdown.is_some() && ctx.dom.id == DomId(0) {
                hardware_domain_shutdown(&mut ctx);
            }
            // Xen's `vcpu_block`: pending work cancels the block at once.
            if ctx.v_ref().blocked && event_channel::vcpu_should_wake(ctx.dom, ctx.mem, idx, now) {
                event_channel::vcpu_unblock(ctx.v());
            }
            let kicks = core::mem::take(&mut ctx.dom.kick_mask);
            kicked = core::mem::take(&mut ctx.kicked);
            let own = 1u64.checked_shl(unit.vcpu.0).unwrap_or(0);
            // The fast path: nothing changed for the scheduler (a kick of
            // the running vCPU itself only means events to deliver, which
            // the return does), no softirq work: return to the same vCPU
            // under the same lock.
            if kicks & !own == 0
                && kicked.is_empty()
                && !resync
                && ctx.dom.shutdown.is_none()
                && !sched.need_resched(cpu, now)
                && !softirq_pending(cpu, now)
            {
                // (`exit_to_guest` refuses a vCPU that may not run.)
                let next = sched.next_event(cpu);
                if crate::guest::exit_to_guest(&mut ctx, cpu, next, &sample)
                    && ctx.dom.shutdown.is_none()
                {
                    return;
                }
            }
            kicks | own
        };
        let newly_shut = !was_shut && dom.shutdown.is_some();
        // A shutdown stops every vCPU of the domain.
        let sync = if newly_shut { u64::MAX } else { kicks };
        ipis = ipis.or(sync_kicked(sched, &mut dom, sync, kicks, cpu, now));
        drop(dom);
        // Events this work sent to other domains: a shutdown's
        // `VIRQ_DOM_EXC` to dom0 and the toolstack's operations (resync)
        // look at every domain; interdomain events name the domains they
        // kicked, unless there were too many to list.
        if newly_shut || resync || kicked.overflowed() {
            ipis = ipis.or(other_kicks(&mut parts, sched, unit.dom, cpu, now));
        } else {
            ipis = ipis.or(listed_kicks(&mut parts, sched, &kicked, cpu, now));
        }
    } else {
        // The domain went away under its running vCPU.
        ipis = ipis.or(sched.remove_domain(unit.dom, 64));
    }
    if from_syscall && resyncs(nr) {
        ipis = ipis.or(sync_all(&mut parts, sched, now));
    }
    ipis = ipis.or(softirq(m, cpu, now));
    let resume = reschedule(m, cpu, Some(unit), regs, now, &mut ipis);
    // A toolstack operation that stopped vCPUs running elsewhere (a pause)
    // returns once they are off their CPUs, as Xen's `vcpu_sleep_sync`.
    let waits = if from_syscall && nr == DOMCTL {
        sleep_sync_targets(m, cpu)
    } else {
        alloc::vec::Vec::new()
    };
    drop(guard);
    send_ipis(ipis, cpu);
    sleep_sync(&waits);
    if !resume {
        idle_loop(cpu)
    }
}

/// `HYPERVISOR_domctl`.
const DOMCTL: u64 = 36;

/// The vCPUs that may no longer run but that another CPU than `me` still
/// runs, as `(cpu, encoded unit)` ([`SchedCore::sleep_sync_targets`] of
/// every domain).
///
/// [`SchedCore::sleep_sync_targets`]: hv_core::common::schedule::SchedCore::sleep_sync_targets
fn sleep_sync_targets(m: &mut Machine, me: u32) -> alloc::vec::Vec<(u32, u64)> {
    let (parts, sched) = split(m);
    let cells: alloc::vec::Vec<_> = parts.domains.iter_from(DomId(0)).cloned().collect();
    let mut out = alloc::vec::Vec::new();
    for cell in cells {
        let dom = cell.lock();
        for (c, u) in sched.sleep_sync_targets(&dom, me) {
            out.push((c, encode(Some(u))));
        }
    }
    out
}

/// Waits until each CPU of `waits` no longer runs its vCPU (it was
/// interrupted and switches once it gets the machine lock), with
/// interrupts enabled so that this CPU still answers TLB shootdowns.
fn sleep_sync(waits: &[(u32, u64)]) {
    for &(c, code) in waits {
        let Some(slot) = CURRENT.get(cpu_index(c)) else { continue };
        while slot.load(Ordering::Acquire) == code {
            x86_64::instructions::interrupts::enable();
            core::hint::spin_loop();
            x86_64::instructions::interrupts::disable();
        }
    }
}

/// After work on domain `dom`: each vCPU in `sync` (bit per index; all
/// bits: every vCPU) is woken or put to sleep in the scheduler as its
/// state says, and the CPU that runs a vCPU in `kicks` elsewhere than `me`
/// is interrupted so that it sees its events.
fn sync_kicked(
    sched: &mut hv_core::common::schedule::SchedCore,
    dom: &mut Domain,
    sync: u64,
    kicks: u64,
    me: u32,
    now: u64,
) -> CpuMask {
    let mut ipis = CpuMask::EMPTY;
    for idx in 0..dom.vcpus.len().min(64) {
        let bit = 1u64 << idx;
        let u = SchedUnit {
            dom: dom.id,
            vcpu: guest_abi::xen::VcpuId(u32::try_from(idx).unwrap_or(u32::MAX)),
        };
        if sync & bit != 0 {
            ipis = ipis.or(sched.sync_vcpu(dom, idx, now));
            // A vCPU that is not on a CPU changes runstate here, as Xen's
            // `vcpu_sleep_nosync` (a runnable one that may no longer run
            // becomes offline, whatever the reason) and `vcpu_wake` (a
            // blocked or offline one that may run becomes runnable); a
            // running one changes when its CPU switches away.
            if sched.running_on(u).is_none() {
                let runnable = dom
                    .vcpus
                    .get(idx)
                    .is_some_and(|v| hv_core::common::schedule::vcpu_runnable(dom, v));
                if let Some(v) = dom.vcpus.get_mut(idx) {
                    let want = match (v.runstate.state, runnable) {
                        (RunState::Runnable, false) => Some(RunState::Offline),
                        (RunState::Blocked | RunState::Offline, true) => Some(RunState::Runnable),
                        _ => None,
                    };
                    if let Some(state) = want {
                        runstate::change(v, state, now);
                    }
                }
            }
        }
        if kicks & bit != 0
            && let Some(c) = sched.running_on(u)
            && c != me
        {
            ipis = ipis.with(hv_core::sched::Cpu(c));
        }
    }
    ipis
}

/// The vCPU whose state CPU `cpu` holds (in its guest frame and
/// registers), if any.
fn current(cpu: u32) -> Option<SchedUnit> {
    let v = CURRENT.get(cpu_index(cpu))?.load(Ordering::Acquire);
    (v != IDLE).then(|| SchedUnit {
        dom: DomId(u16::try_from(v >> 32).unwrap_or(u16::MAX)),
        vcpu: guest_abi::xen::VcpuId(u32::try_from(v & 0xffff_ffff).unwrap_or(u32::MAX)),
    })
}

/// Brings the scheduler in step with every domain (new ones inserted,
/// destroyed ones removed, parameters, affinities and runnability).
fn sync_all(
    parts: &mut Parts<'_>,
    sched: &mut hv_core::common::schedule::SchedCore,
    now: u64,
) -> CpuMask {
    let mut ipis = CpuMask::EMPTY;
    let cells: alloc::vec::Vec<_> = parts.domains.iter_from(DomId(0)).cloned().collect();
    for cell in &cells {
        let mut dom = cell.lock();
        let kicks = core::mem::take(&mut dom.kick_mask);
        ipis = ipis.or(sched.reconcile_domain(&dom, now));
        ipis = ipis.or(sync_kicked(sched, &mut dom, 0, kicks, u32::MAX, now));
    }
    if sched.sedf_adjusted() {
        // sEDF parameters changed: weight-driven slices may have moved on
        // every domain; show each its own for `getinfo`.
        for cell in &cells {
            sched.publish_sedf(&mut cell.lock());
        }
        sched.sedf_published();
    }
    let domains = &*parts.domains;
    ipis.or(sched.forget_missing(|id| domains.contains(id)))
}

/// The kicks left in domains other than `except`: their vCPUs are woken
/// in the scheduler or interrupted where they run.
fn other_kicks(
    parts: &mut Parts<'_>,
    sched: &mut hv_core::common::schedule::SchedCore,
    except: DomId,
    cpu: u32,
    now: u64,
) -> CpuMask {
    let mut ipis = CpuMask::EMPTY;
    let cells: alloc::vec::Vec<_> = parts.domains.iter_from(DomId(0)).cloned().collect();
    for cell in cells {
        if cell.id() == except {
            continue;
        }
        let mut dom = cell.lock();
        let kicks = core::mem::take(&mut dom.kick_mask);
        if kicks != 0 {
            ipis = ipis.or(sync_kicked(sched, &mut dom, kicks, kicks, cpu, now));
        }
    }
    ipis
}

/// The kicks left in the domains of `kicked` (none of them the one whose
/// work recorded them, which is unlocked by now): their vCPUs are woken in
/// the scheduler or interrupted where they run.
fn listed_kicks(
    parts: &mut Parts<'_>,
    sched: &mut hv_core::common::schedule::SchedCore,
    kicked: &KickedDomains,
    cpu: u32,
    now: u64,
) -> CpuMask {
    let mut ipis = CpuMask::EMPTY;
    for id in kicked.iter() {
        let Some(cell) = parts.domains.get(id) else { continue };
        let mut dom = cell.lock();
        let kicks = core::mem::take(&mut dom.kick_mask);
        if kicks != 0 {
            ipis = ipis.or(sync_kicked(sched, &mut dom, kicks, kicks, cpu, now));
        }
    }
    ipis
}

/// Whether [`softirq`] has work on `cpu` now.
fn softirq_pending(cpu: u32, now: u64) -> bool {
    TIMER_FIRED.get(cpu_index(cpu)).is_some_and(|f| f.load(Ordering::Relaxed))
        || now >= SCAN_DEADLINE.load(Ordering::Relaxed)
        || crate::console::rx_pending()
}

/// The CPU's softirq work: when its timer fired (or `force`), the timers
/// of the vCPUs that are not running, the scheduler's accounting tick,
/// and serial input for dom0.
fn softirq(m: &mut Machine, cpu: u32, now: u64) -> CpuMask {
    let mut ipis = CpuMask::EMPTY;
    let fired = TIMER_FIRED.get(cpu_index(cpu)).is_some_and(|f| f.swap(false, Ordering::Relaxed));
    let scan_due = now >= SCAN_DEADLINE.load(Ordering::Relaxed);
    if fired || scan_due {
        ipis = ipis.or(scan_timers(m, now));
        ipis = ipis.or(m.sched.tick(cpu, now));
    }
    if crate::console::take_rx_notify() {
        // Serial input waits in the console's ring for CONSOLEIO_read.
        let (parts, sched) = split(m);
        if let Some(d0) = parts.domains.get(DomId(0)) {
            let mut d0 = d0.lock();
            event_channel::send_global_virq(&mut d0, parts.mem, Virq::Console);
            let kicks = core::mem::take(&mut d0.kick_mask);
            ipis = ipis.or(sync_kicked(sched, &mut d0, kicks, kicks, cpu, now));
        }
    }
    ipis
}

/// Runs the due timers (and poll timeouts) of every vCPU that is not
/// running, wakes the ones that got work, and records the next deadline
/// among them in [`SCAN_DEADLINE`].
fn scan_timers(m: &mut Machine, now: u64) -> CpuMask {
    let (parts, sched) = split(m);
    let mut ipis = CpuMask::EMPTY;
    let mut next = u64::MAX;
    let cells: alloc::vec::Vec<_> = parts.domains.iter_from(DomId(0)).cloned().collect();
    for cell in cells {
        let mut dom = cell.lock();
        for idx in 0..dom.vcpus.len() {
            let u = SchedUnit {
                dom: dom.id,
                vcpu: guest_abi::xen::VcpuId(u32::try_from(idx).unwrap_or(u32::MAX)),
            };
            if sched.running_on(u).is_some() {
                continue;
            }
            if let Some(d) = guest_time::vcpu_timer_softirq(&mut dom, parts.mem, idx, now) {
                next = next.min(d);
            }
            let poll = dom.vcpus.get(idx).and_then(|v| v.evtchn.poll).and_then(|p| p.timeout_ns);
            if let Some(v) = dom.vcpus.get_mut(idx)
                && v.blocked
                && poll.is_some_and(|t| now >= t)
            {
                event_channel::vcpu_unblock(v);
            } else if let Some(t) = poll {
                next = next.min(t);
            }
        }
        let kicks = core::mem::take(&mut dom.kick_mask);
        ipis = ipis.or(sync_kicked(sched, &mut dom, u64::MAX, kicks, u32::MAX, now));
    }
    SCAN_DEADLINE.store(next, Ordering::Relaxed);
    ipis
}

/// vCPU `v` stopped running on its CPU: its timers (single shot,
/// periodic, poll timeout) are no longer in any CPU's armed deadline
/// ([`run_timers`] only covers the running vCPU), so the earliest of them
/// joins [`SCAN_DEADLINE`] at once, not at the next scan.
///
/// Without this a vCPU that blocked right after arming a single shot
/// (`pv-time`: `VCPUOP_set_singleshot_timer`, `SCHEDOP_block`) depended on
/// the interrupt its CPU was armed for before: if that interrupt was due
/// but not yet taken when the CPU went idle (a late APIC interrupt, or the
/// exit path's scan consuming `TIMER_FIRED` while the blocking vCPU still
/// counted as running), the idle loop saw no deadline at all and re-armed
/// the timer for [`MAX_TIMER_US`], and the 20 ms block lasted a second.
fn stopped_running(v: &hv_core::common::domain::Vcpu) {
    if let Some(d) = guest_time::stopped_vcpu_deadline(v) {
        SCAN_DEADLINE.fetch_min(d, Ordering::Relaxed);
    }
}

/// What the CPU runs next: keeps `prev` or switches. Returns whether a
/// vCPU is ready in `regs` (false: idle). Loops until the chosen vCPU can
/// take the return path (one that crashes on its way back gives its CPU
/// up, bounded by the number of attempts).
fn reschedule(
    m: &mut Machine,
    cpu: u32,
    mut prev: Option<SchedUnit>,
    regs: &mut GuestRegs,
    now: u64,
    ipis: &mut CpuMask,
) -> bool {
    for _ in 0..16 {
        let still = prev.is_some_and(|u| runnable_unit(m, u));
        if !still && let Some(u) = prev {
            // Make sure the policy knows, then decide again.
            let (parts, sched) = split(m);
            if let Some(cell) = parts.domains.get(u.dom) {
                let dom = cell.lock();
                *ipis = ipis.or(sched.sync_vcpu(&dom, vcpu_index(u), now));
            }
        }
        if !still || m.sched.need_resched(cpu, now) {
            let d = m.sched.schedule(cpu, now);
            *ipis = ipis.or(d.tickle);
            if d.next != prev {
                switch(m, cpu, prev, d.next, regs, now);
                prev = d.next;
            }
        }
        let Some(u) = prev else { return false };
        if prepare_return(m, cpu, u, regs) {
            return true;
        }
        // It cannot run on (it crashed, shut down or blocked on its way
        // back): decide again, and pass on what that told other domains.
        let (mut parts, sched) = split(m);
        if let Some(cell) = parts.domains.get(u.dom) {
            let dom = cell.lock();
            *ipis = ipis.or(sched.sync_domain(&dom, now));
        }
        *ipis = ipis.or(other_kicks(&mut parts, sched, u.dom, cpu, now));
    }
    // Nothing could run after many attempts: idle.
    if prev.is_some() {
        switch(m, cpu, prev, None, regs, now);
    }
    false
}

fn runnable_unit(m: &mut Machine, u: SchedUnit) -> bool {
    let Some(cell) = m.domains.get(u.dom) else { return false };
    let dom = cell.lock();
    dom.vcpus.get(vcpu_index(u)).is_some_and(|v| hv_core::common::schedule::vcpu_runnable(&dom, v))
}

/// The runstate a vCPU that stops running enters.
fn runstate_after(dom: &Domain, idx: usize) -> RunState {
    match dom.vcpus.get(idx) {
        Some(v) if v.down || !v.initialised => RunState::Offline,
        Some(v) if v.blocked => RunState::Blocked,
        _ => RunState::Runnable,
    }
}

/// Switches CPU `cpu` from `prev` to `next` (either may be none): saves
/// `prev` out of `regs` and the CPU, loads `next` into them.
fn switch(
    m: &mut Machine,
    cpu: u32,
    prev: Option<SchedUnit>,
    next: Option<SchedUnit>,
    regs: &mut GuestRegs,
    now: u64,
) {
    let (mut parts, _) = split(m);
    if let Some(u) = prev
        && let Some(cell) = parts.domains.get(u.dom)
    {
        let mut dom = cell.lock();
        let idx = vcpu_index(u);
        let state = runstate_after(&dom, idx);
        let mut platform = MachinePlatform { cpu, dom: u.dom };
        let mut ctx = parts.ctx(&mut dom, idx, regs, &mut platform);
        context_switch::save_vcpu(&mut ctx);
        runstate::change(ctx.v(), state, now);
        runstate::update_area(ctx.dom, ctx.mem, idx, now);
        // From now on only the scan sees its timers: they join the scan's
        // deadline, which every CPU's timer covers.
        stopped_running(ctx.v_ref());
    }
    if let Some(c) = CURRENT.get(cpu_index(cpu)) {
        c.store(encode(next), Ordering::Release);
    }
    let next_dom = next.and_then(|u| parts.domains.get(u.dom));
    let i = cpu_index(cpu);
    if parts.curr_dom.len() <= i {
        parts.curr_dom.resize(i.saturating_add(1), None);
    }
    if let Some(slot) = parts.curr_dom.get_mut(i) {
        *slot = next_dom;
    }
    // Nothing of the previous vCPU may stay in this CPU's TLB: a full
    // flush, global entries included, which ticks the TLB-flush clock.
    // SAFETY: the idle table maps the hypervisor exactly as every guest
    // L4 does (its slots are copied into each).
    unsafe { cpu::write_ptbase(parts.hooks.idle_cr3) };
    let Some(u) = next else { return };
    let Some(cell) = parts.domains.get(u.dom) else { return };
    let mut dom = cell.lock();
    let idx = vcpu_index(u);
    let mut platform = MachinePlatform { cpu, dom: u.dom };
    let mut ctx = parts.ctx(&mut dom, idx, regs, &mut platform);
    context_switch::load_vcpu(&mut ctx);
    runstate::change(ctx.v(), RunState::Running, now);
    runstate::update_area(ctx.dom, ctx.mem, idx, now);
    // A fresh pvclock for the CPU it now runs on.
    ctx.v().arch.pvclock_stamp = 0;
    ctx.v().arch.exit_memo.clear();
}

/// The last steps before returning to vCPU `u` in `regs`: its timers and
/// pvclock, pending events, the sanity of the state `iretq` loads. False
/// when it cannot return (it crashed on the way, or went to sleep).
fn prepare_return(m: &mut Machine, cpu: u32, u: SchedUnit, regs: &mut GuestRegs) -> bool {
    let sched_next = m.sched.next_event(cpu);
    let (mut parts, _) = split(m);
    let Some(cell) = parts.domains.get(u.dom) else { return false };
    let mut dom = cell.lock();
    let idx = vcpu_index(u);
    let mut platform = MachinePlatform { cpu, dom: u.dom };
    let mut ctx = parts.ctx(&mut dom, idx, regs, &mut platform);
    let sample = crate::guest::clock_sample();
    crate::guest::exit_to_guest(&mut ctx, cpu, sched_next, &sample)
}

/// Runs the current vCPU's due timers, republishes its pvclock once per
/// epoch, and arms this CPU's one-shot timer for the next deadline (the
/// vCPU's timers and poll timeout, the scheduler's slice and tick, the
/// timers of vCPUs not running) unless an interrupt at or before it is
/// already coming.
pub fn run_timers(ctx: &mut Ctx<'_>, cpu: u32, sched_next: Option<u64>, sample: &ClockSample) {
    let now = sample.system_time;
    if !ctx.v_ref().timers.changed
        && ctx.v_ref().arch.exit_memo.still_valid(&exit_inputs(cpu, sched_next), now)
    {
        return;
    }
    ctx.v().timers.changed = false;
    let last = ctx.v_ref().arch.pvclock_stamp;
    if last == 0 || now.saturating_sub(last) >= PVCLOCK_EPOCH_NS {
        guest_time::update_vcpu_system_time(ctx.dom, ctx.mem, ctx.vcpu, sample);
        ctx.v().arch.pvclock_stamp = now.max(1);
    }
    let timers = guest_time::vcpu_timer_softirq(ctx.dom, ctx.mem, ctx.vcpu, now);
    // SCHEDOP_poll timeouts need the interrupt too (Xen's `poll_timer`);
    // no deadline at all is u64::MAX (the scan's "none").
    let poll = ctx.v_ref().evtchn.poll.and_then(|p| p.timeout_ns);
    let deadline = SCAN_DEADLINE
        .load(Ordering::Relaxed)
        .min(timers.unwrap_or(u64::MAX))
        .min(poll.unwrap_or(u64::MAX))
        .min(sched_next.unwrap_or(u64::MAX));
    if deadline != u64::MAX {
        arm_timer(cpu, now, deadline);
    }
    // What the next return may reuse until a deadline or the next pvclock
    // epoch comes (the vCPU's timers having fired above are not due).
    let epoch = ctx.v_ref().arch.pvclock_stamp.saturating_add(PVCLOCK_EPOCH_NS);
    ctx.v().arch.exit_memo.record(exit_inputs(cpu, sched_next), deadline.min(epoch));
}

/// What [`run_timers`] depends on besides the vCPU's own timers, on
/// `cpu` now.
fn exit_inputs(cpu: u32, sched_next: Option<u64>) -> ExitInputs {
    ExitInputs {
        cpu: u64::from(cpu),
        armed: ARMED_DEADLINE.get(cpu_index(cpu)).map_or(0, |a| a.load(Ordering::Relaxed)),
        scan: SCAN_DEADLINE.load(Ordering::Relaxed),
        sched_next: sched_next.unwrap_or(exit_memo::NONE),
    }
}

/// Arms CPU `cpu`'s one-shot timer for `deadline` (`u64::MAX`: none, the
/// longest interval) by [`oneshot::plan`], unless an interrupt at or
/// before it is already coming, and records what it covers in
/// [`ARMED_DEADLINE`].
fn arm_timer(cpu: u32, now: u64, deadline: u64) {
    let Some(armed) = ARMED_DEADLINE.get(cpu_index(cpu)) else { return };
    if let Some(a) = oneshot::plan(now, armed.load(Ordering::Relaxed), deadline, MAX_TIMER_US) {
        apic::timer_oneshot_us(a.us);
        armed.store(a.covers, Ordering::Relaxed);
    }
}

/// Arms an idle CPU's timer for the next deadline of the vCPUs that are
/// not running and the scheduler's (`sched_next`: the master CPU's
/// accounting), at most [`MAX_TIMER_US`] away.
fn arm_idle_timer(cpu: u32, now: u64, sched_next: Option<u64>) {
    let deadline = SCAN_DEADLINE.load(Ordering::Relaxed).min(sched_next.unwrap_or(u64::MAX));
    arm_timer(cpu, now, deadline);
}

/// The idle loop of CPU `cpu`: wait for an interrupt, look at the timers
/// and the scheduler, and enter the first vCPU it names.
pub fn idle_loop(cpu: u32) -> ! {
    loop {
        let mut regs: GuestRegs = bytemuck::Zeroable::zeroed();
        let mut ipis = CpuMask::EMPTY;
        let entered = {
            let mut guard = lock_machine();
            match guard.as_mut() {
                None => false,
                Some(m) => {
                    let now = hv_arch_x86_64::time::now_ns();
                    ipis = ipis.or(softirq(m, cpu, now));
                    // Nothing is loaded on an idle CPU.
                    let prev = current(cpu);
                    let ok = reschedule(m, cpu, prev, &mut regs, now, &mut ipis);
                    if !ok {
                        arm_idle_timer(cpu, now, m.sched.next_event(cpu));
                    }
                    ok
                }
            }
        };
        send_ipis(ipis, cpu);
        if entered {
            hv_arch_x86_64::entry::enter_guest(cpu, &regs);
        }
        x86_64::instructions::interrupts::enable_and_hlt();
        x86_64::instructions::interrupts::disable();
    }
}

/// The hardware domain stopped: Xen's `hwdom_shutdown`.
fn hardware_domain_shutdown(ctx: &mut Ctx<'_>) {
    let Some(reason) = ctx.dom.shutdown else { return };
    crate::guest::domain_shutdown(ctx, reason);
}
