// SPDX-License-Identifier: GPL-2.0-only
//! The scheduler core (Xen's `common/sched/core.c`): which vCPU each
//! physical CPU runs, kept in step with the vCPUs' state and decided by
//! the scheduling policy ([`crate::sched`]).
//!
//! A vCPU is *runnable* ([`vcpu_runnable`]) when its domain is alive, not
//! shut down and not paused, and the vCPU is initialised, up and not
//! blocked. [`SchedCore::sync_vcpu`] tells the policy when that changes
//! (Xen's `vcpu_wake` and `vcpu_sleep_nosync`); the CPUs the policy wants
//! to look again (a woken vCPU to place, a running one that went to sleep)
//! get their `resched` flag, and the machine layer interrupts them. A CPU
//! whose flag is set, or whose time slice ran out, calls
//! [`SchedCore::schedule`] on its way back to a guest and switches to the
//! vCPU it names (none: the CPU idles).
//!
//! The policy is the one chosen at boot ([`Policy`]): credit, whose
//! accounting ticks come on a per-CPU grid, or sEDF, which wants no ticks
//! but a timer at the end of each decision, an idle CPU's included (the
//! next period start of a waiting vCPU).
//!
//! Everything here runs under the machine lock; the per-CPU state is
//! plain data.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use guest_abi::xen::{DomId, VcpuId};

use super::domain::{Domain, Vcpu};
use crate::sched::credit::grid_after;
use crate::sched::{
    Cpu, CpuMask, CreditGlobalParams, CreditParams, CreditScheduler, Decision, SchedError,
    SchedUnit, Scheduler, SchedulerKind, SedfParams, SedfScheduler, Time,
};

/// Xen's `vcpu_runnable`: the domain may run and the vCPU has work.
#[must_use]
pub fn vcpu_runnable(d: &Domain, v: &Vcpu) -> bool {
    d.is_runnable() && v.initialised && !v.down && !v.blocked
}

/// What one physical CPU runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pcpu {
    /// The vCPU it runs (`None`: idle).
    pub curr: Option<SchedUnit>,
    /// The policy asked it to decide again (`SCHEDULE_SOFTIRQ` raised).
    pub resched: bool,
    /// When the current slice ends.
    pub slice_end: Option<Time>,
    /// When the policy's next accounting tick is due on this CPU.
    pub next_tick: Time,
}

/// The scheduling policy chosen at boot (Xen's `sched=`).
#[derive(Debug)]
pub enum Policy {
    /// The credit scheduler.
    Credit(CreditScheduler),
    /// The simple EDF scheduler.
    Sedf(SedfScheduler),
}

/// Calls `$f` on whichever scheduler `$p` holds.
macro_rules! on_policy {
    ($p:expr, $s:ident => $f:expr) => {
        match $p {
            Policy::Credit($s) => $f,
            Policy::Sedf($s) => $f,
        }
    };
}

impl Policy {
    /// Which scheduler this is.
    #[must_use]
    pub fn kind(&self) -> SchedulerKind {
        on_policy!(self, s => s.kind())
    }

    fn tick_period_ns(&self) -> Option<u64> {
        on_policy!(self, s => s.tick_period_ns())
    }

    /// Xen's `dump_runq` text of the policy.
    ///
    /// # Errors
    /// The writer's.
    pub fn dump(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        on_policy!(self, s => s.dump(out))
    }
}

/// The scheduler core: the policy, the per-CPU state and the units the
/// policy has been told are awake.
pub struct SchedCore {
    policy: Policy,
    pcpus: Vec<Pcpu>,
    awake: BTreeSet<SchedUnit>,
    /// What the policy was given of each domain: its vCPU count, credit
    /// parameters and each vCPU's hard affinity.
    known: BTreeMap<DomId, Known>,
    /// sEDF parameters changed since [`Self::publish_sedf`] last ran.
    sedf_adjusted: bool,
}

/// A domain as the policy knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Known {
    params: CreditParams,
    sedf: SedfParams,
    affinity: Vec<CpuMask>,
}

impl core::fmt::Debug for SchedCore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SchedCore").field("pcpus", &self.pcpus).field("awake", &self.awake).finish()
    }
}

/// The unit of vCPU `index` of domain `dom`.
fn unit_of(dom: DomId, index: usize) -> SchedUnit {
    SchedUnit { dom, vcpu: VcpuId(u32::try_from(index).unwrap_or(u32::MAX)) }
}

impl SchedCore {
    /// A core over `nr_cpus` online CPUs with the credit policy.
    ///
    /// # Errors
    /// The policy's, for a CPU count it cannot hold.
    pub fn new(nr_cpus: u32) -> Result<Self, SchedError> {
        Self::with_policy(nr_cpus, SchedulerKind::Credit)
    }

    /// A core over `nr_cpus` online CPUs with the policy `kind`
    /// (`sched=`): every CPU runs it.
    ///
    /// # Errors
    /// The policy's, for a CPU count it cannot hold.
    pub fn with_policy(nr_cpus: u32, kind: SchedulerKind) -> Result<Self, SchedError> {
        let mut policy = match kind {
            SchedulerKind::Credit => {
                Policy::Credit(CreditScheduler::new(CreditGlobalParams::default())?)
            }
            SchedulerKind::Sedf => Policy::Sedf(SedfScheduler::new()),
        };
        let mut pcpus = Vec::new();
        for c in 0..nr_cpus {
            on_policy!(&mut policy, s => s.init_cpu(Cpu(c)))?;
            pcpus.push(Pcpu { resched: true, ..Pcpu::default() });
        }
        Ok(Self {
            policy,
            pcpus,
            awake: BTreeSet::new(),
            known: BTreeMap::new(),
            sedf_adjusted: false,
        })
    }

    /// The policy (for the debug dump).
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether the policy wants accounting ticks (credit) rather than a
    /// timer at the end of every decision (sEDF).
    fn ticks(&self) -> bool {
        self.policy.tick_period_ns().is_some()
    }

    /// CPU `cpu`'s state.
    #[must_use]
    pub fn pcpu(&self, cpu: u32) -> Option<&Pcpu> {
        self.pcpus.get(usize::try_from(cpu).ok()?)
    }

    fn pcpu_mut(&mut self, cpu: Cpu) -> Option<&mut Pcpu> {
        self.pcpus.get_mut(cpu.index())
    }

    /// The vCPU CPU `cpu` runs.
    #[must_use]
    pub fn curr(&self, cpu: u32) -> Option<SchedUnit> {
        self.pcpu(cpu).and_then(|p| p.curr)
    }

    /// The CPU vCPU `unit` runs on, if it runs.
    #[must_use]
    pub fn running_on(&self, unit: SchedUnit) -> Option<u32> {
        self.pcpus.iter().position(|p| p.curr == Some(unit)).and_then(|i| u32::try_from(i).ok())
    }

    /// Xen's `vcpu_sleep_sync`, the selection: the vCPUs of `d` that may no
    /// longer run but that a CPU other than `me` has not switched away from
    /// yet, as `(cpu, unit)`. [`Self::sync_vcpu`] tickled those CPUs; the
    /// caller waits, without the machine lock, until each has switched, so
    /// that a paused domain is off every CPU when `pausedomain` returns.
    #[must_use]
    pub fn sleep_sync_targets(&self, d: &Domain, me: u32) -> Vec<(u32, SchedUnit)> {
        let mut out = Vec::new();
        for (i, v) in d.vcpus.iter().enumerate() {
            let unit = unit_of(d.id, i);
            if vcpu_runnable(d, v) {
                continue;
            }
            if let Some(c) = self.running_on(unit)
                && c != me
            {
                out.push((c, unit));
            }
        }
        out
    }

    /// Gives every vCPU of `d` to the policy with `params` (credit; sEDF
    /// takes the domain's [`Domain::sched_sedf`]) and `affinity` (per
    /// vCPU; missing entries mean every CPU), asleep; then
    /// [`Self::sync_domain`] wakes the runnable ones.
    ///
    /// # Errors
    /// The policy's (a unit already there, an empty affinity).
    pub fn insert_domain(
        &mut self,
        d: &Domain,
        params: CreditParams,
        affinity: &[CpuMask],
    ) -> Result<(), SchedError> {
        let mut known = Known { params, sedf: d.sched_sedf, affinity: Vec::new() };
        for i in 0..d.vcpus.len() {
            let aff = affinity.get(i).copied().unwrap_or(CpuMask::ALL);
            let unit = unit_of(d.id, i);
            match &mut self.policy {
                Policy::Credit(s) => s.insert_unit(unit, params, aff)?,
                Policy::Sedf(s) => s.insert_unit(unit, d.sched_sedf, aff)?,
            }
            known.affinity.push(aff);
        }
        self.known.insert(d.id, known);
        Ok(())
    }

    /// Whether the policy has domain `dom`.
    #[must_use]
    pub fn has_domain(&self, dom: DomId) -> bool {
        self.known.contains_key(&dom)
    }

    /// Brings the policy in step with domain `d` as the toolstack set it:
    /// a domain it does not have yet is inserted (its vCPUs' hard
    /// affinities, its credit parameters), changed parameters and
    /// affinities are passed on, and the vCPUs' runnability synced.
    /// Returns the CPUs that must decide again.
    pub fn reconcile_domain(&mut self, d: &Domain, now: Time) -> CpuMask {
        let mut tickle = CpuMask::EMPTY;
        let affinity: Vec<CpuMask> = d.vcpus.iter().map(|v| v.affinity_hard).collect();
        match self.known.get(&d.id).cloned() {
            None => {
                if self.insert_domain(d, d.sched_credit, &affinity).is_err() {
                    return CpuMask::EMPTY;
                }
            }
            Some(k) => {
                match &mut self.policy {
                    Policy::Credit(s) => {
                        if k.params != d.sched_credit
                            && s.adjust(d.id, d.sched_credit).is_ok()
                            && let Some(known) = self.known.get_mut(&d.id)
                        {
                            known.params = d.sched_credit;
                        }
                    }
                    Policy::Sedf(s) => {
                        if k.sedf != d.sched_sedf
                            && s.adjust(d.id, d.sched_sedf).is_ok()
                            && let Some(known) = self.known.get_mut(&d.id)
                        {
                            known.sedf = d.sched_sedf;
                            self.sedf_adjusted = true;
                            // The CPUs decide again with the new parameters.
                            tickle = tickle
                                .or(CpuMask::first_n(u32::try_from(self.pcpus.len()).unwrap_or(0)));
                        }
                    }
                }
                for (i, aff) in affinity.iter().enumerate() {
                    if k.affinity.get(i) != Some(aff)
                        && let Ok(m) = on_policy!(&mut self.policy, s => s.set_affinity(unit_of(d.id, i), *aff))
                    {
                        tickle = tickle.or(m);
                        if let Some(slot) =
                            self.known.get_mut(&d.id).and_then(|known| known.affinity.get_mut(i))
                        {
                            *slot = *aff;
                        }
                    }
                }
            }
        }
        self.raise(tickle);
        tickle.or(self.sync_domain(d, now))
    }

    /// Removes the domains the policy has that `exists` says are gone.
    pub fn forget_missing(&mut self, exists: impl Fn(DomId) -> bool) -> CpuMask {
        let gone: Vec<(DomId, usize)> = self
            .known
            .iter()
            .filter(|(id, _)| !exists(**id))
            .map(|(id, k)| (*id, k.affinity.len()))
            .collect();
        let mut tickle = CpuMask::EMPTY;
        for (id, n) in gone {
            tickle = tickle.or(self.remove_domain(id, n));
        }
        tickle
    }

    /// Takes domain `dom`'s `nr_vcpus` vCPUs out of the policy (Xen's
    /// `sched_destroy_domain`); returns the CPUs that must decide again.
    pub fn remove_domain(&mut self, dom: DomId, nr_vcpus: usize) -> CpuMask {
        self.known.remove(&dom);
        let mut tickle = CpuMask::EMPTY;
        for i in 0..nr_vcpus {
            let unit = unit_of(dom, i);
            self.awake.remove(&unit);
            if let Ok(m) = on_policy!(&mut self.policy, s => s.remove_unit(unit)) {
                tickle = tickle.or(m);
            }
            for p in &mut self.pcpus {
                if p.curr == Some(unit) {
                    p.resched = true;
                }
            }
        }
        self.raise(tickle);
        tickle
    }

    /// Whether sEDF parameters changed since the last
    /// [`Self::publish_sedf`]: weight-driven domains' slices may have
    /// moved, and the domains should be shown them.
    #[must_use]
    pub fn sedf_adjusted(&self) -> bool {
        self.sedf_adjusted
    }

    /// Shows domain `d` its sEDF parameters as the policy has them (a
    /// weight-driven domain's slice is computed from every weight on its
    /// CPU), for `XEN_DOMCTL_SCHEDOP_getinfo`. The machine layer calls it
    /// for every domain once [`Self::sedf_adjusted`] says so, then
    /// [`Self::sedf_published`].
    pub fn publish_sedf(&mut self, d: &mut Domain) {
        let Policy::Sedf(s) = &self.policy else { return };
        let Some(view) = s.dom_params(d.id) else { return };
        if let Some(known) = self.known.get_mut(&d.id) {
            known.sedf = view;
            d.sched_sedf = view;
        }
    }

    /// Every domain was shown its sEDF parameters.
    pub fn sedf_published(&mut self) {
        self.sedf_adjusted = false;
    }

    /// Sets the `resched` flag of the CPUs in `mask`.
    fn raise(&mut self, mask: CpuMask) {
        for c in mask.iter() {
            if let Some(p) = self.pcpu_mut(c) {
                p.resched = true;
            }
        }
    }

    /// Tells the policy whether vCPU `index` of `d` is runnable now (Xen's
    /// `vcpu_wake`/`vcpu_sleep_nosync`, done when the state changed).
    /// Returns the CPUs that must decide again, their flags already set.
    pub fn sync_vcpu(&mut self, d: &Domain, index: usize, now: Time) -> CpuMask {
        let Some(v) = d.vcpus.get(index) else { return CpuMask::EMPTY };
        let unit = unit_of(d.id, index);
        let runnable = vcpu_runnable(d, v);
        let mut tickle = CpuMask::EMPTY;
        if runnable && !self.awake.contains(&unit) {
            if let Ok(m) = on_policy!(&mut self.policy, s => s.wake(unit, now)) {
                self.awake.insert(unit);
                tickle = m;
            }
        } else if !runnable && self.awake.contains(&unit) {
            self.awake.remove(&unit);
            if let Ok(m) = on_policy!(&mut self.policy, s => s.sleep(unit)) {
                tickle = m;
            }
            // Its CPU must stop running it whatever the policy said.
            if let Some(c) = self.running_on(unit) {
                tickle = tickle.with(Cpu(c));
            }
        }
        self.raise(tickle);
        tickle
    }

    /// [`Self::sync_vcpu`] for every vCPU of `d`.
    pub fn sync_domain(&mut self, d: &Domain, now: Time) -> CpuMask {
        let mut tickle = CpuMask::EMPTY;
        for i in 0..d.vcpus.len() {
            tickle = tickle.or(self.sync_vcpu(d, i, now));
        }
        tickle
    }

    /// Whether CPU `cpu` must call [`Self::schedule`]: asked to, or its
    /// slice is over.
    #[must_use]
    pub fn need_resched(&self, cpu: u32, now: Time) -> bool {
        self.pcpu(cpu).is_some_and(|p| p.resched || p.slice_end.is_some_and(|e| now >= e))
    }

    /// Whether `cpu` carries the master accounting timer (Xen's
    /// `prv->master`): the first CPU.
    fn is_master(cpu: u32) -> bool {
        cpu == 0
    }

    /// The accounting timer's next deadline, on the master CPU (credit).
    fn acct_deadline(&self, cpu: u32) -> Option<Time> {
        match &self.policy {
            Policy::Credit(s) if Self::is_master(cpu) => s.next_acct(),
            _ => None,
        }
    }

    /// Runs the policy's tick on `cpu` when its tick is due, and on the
    /// master CPU the accounting when that is due (even while it idles);
    /// returns the CPUs that must decide again.
    ///
    /// Ticks are due on a fixed grid of tick periods, as the accounting is
    /// on one of time slices: a tick taken late does not move the next one
    /// (re-arming from when it was handled let every CPU's ticks, and the
    /// accounting run from them, drift later by the interrupt latency each
    /// time, and the credit handed out per accounting fell behind the CPU
    /// time burnt).
    pub fn tick(&mut self, cpu: u32, now: Time) -> CpuMask {
        let c = Cpu(cpu);
        let tick_due = self.pcpu(cpu).is_some_and(|p| p.curr.is_some() && now >= p.next_tick);
        let acct_due = self.acct_deadline(cpu).is_some_and(|d| now >= d);
        let Policy::Credit(policy) = &mut self.policy else { return CpuMask::EMPTY };
        let period = policy.tick_period_ns().unwrap_or(10_000_000).max(1);
        let tickle = if tick_due {
            if let Some(p) = self.pcpus.get_mut(c.index()) {
                p.next_tick = grid_after(now, period);
            }
            policy.tick(c, now)
        } else if acct_due {
            policy.master_acct(now)
        } else {
            return CpuMask::EMPTY;
        };
        self.raise(tickle);
        tickle
    }

    /// The next time CPU `cpu` needs its timer for scheduling: its slice
    /// end or its accounting tick, whichever is first, and on the master
    /// CPU the accounting (an idle CPU other than the master needs none).
    /// Under sEDF: the end of the current decision, idle or not.
    #[must_use]
    pub fn next_event(&self, cpu: u32) -> Option<Time> {
        let p = self.pcpu(cpu)?;
        if !self.ticks() {
            return p.slice_end;
        }
        let acct = self.acct_deadline(cpu);
        let own = p.curr.map(|_| p.slice_end.map_or(p.next_tick, |e| e.min(p.next_tick)));
        match (own, acct) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Xen's `schedule()` on `cpu`: the policy picks what runs next; the
    /// CPU's state records it. The caller switches to `next` when it
    /// differs from the previous `curr`, and interrupts the CPUs in
    /// `tickle`.
    pub fn schedule(&mut self, cpu: u32, now: Time) -> Decision {
        let c = Cpu(cpu);
        let d = on_policy!(&mut self.policy, s => s.do_schedule(c, now));
        // A unit the policy still runs but that went to sleep meanwhile
        // cannot have been chosen: it is not in `awake`.
        let next = d.next.filter(|u| self.awake.contains(u));
        let period = self.policy.tick_period_ns().unwrap_or(10_000_000).max(1);
        // sEDF times its idle decisions too (the next period start).
        let timed = next.is_some() || !self.ticks();
        if let Some(p) = self.pcpu_mut(c) {
            let was_idle = p.curr.is_none();
            p.curr = next;
            p.resched = false;
            p.slice_end = d.slice_ns.filter(|_| timed).map(|s| now.saturating_add(s));
            if was_idle && next.is_some() {
                // Xen restarts the tick on the grid of tick periods.
                p.next_tick = grid_after(now, period);
            }
        }
        self.raise(d.tickle);
        Decision { next, ..d }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "tests on known values"
)]
mod tests {
    use super::*;
    use crate::mm::Mfn;

    fn domain(id: u16, vcpus: usize) -> Domain {
        let mut d = Domain::new(DomId(id), id == 0, Mfn(1));
        d.set_max_vcpus(vcpus);
        for v in &mut d.vcpus {
            v.down = false;
            v.initialised = true;
        }
        d
    }

    fn u(d: u16, v: u32) -> SchedUnit {
        SchedUnit { dom: DomId(d), vcpu: VcpuId(v) }
    }

    #[test]
    fn runnable_follows_domain_and_vcpu_state() {
        let mut d = domain(1, 1);
        assert!(vcpu_runnable(&d, &d.vcpus[0]));
        d.pause_count = 1;
        assert!(!vcpu_runnable(&d, &d.vcpus[0]));
        d.pause_count = 0;
        d.vcpus[0].blocked = true;
        assert!(!vcpu_runnable(&d, &d.vcpus[0]));
        d.vcpus[0].blocked = false;
        d.shutdown = Some(crate::common::domain::ShutdownReason::Poweroff);
        assert!(!vcpu_runnable(&d, &d.vcpus[0]));
    }

    #[test]
    fn more_vcpus_than_cpus_share_them_and_blocking_hands_the_cpu_over() {
        let mut s = SchedCore::new(1).unwrap();
        let mut d = domain(0, 2);
        s.insert_domain(&d, CreditParams::default(), &[]).unwrap();
        assert!(s.sync_domain(&d, 0).contains(Cpu(0)));
        let first = s.schedule(0, 0).next.unwrap();
        assert_eq!(s.curr(0), Some(first));
        assert!(!s.need_resched(0, 1));
        // The slice runs out: the other vCPU gets the CPU.
        let end = s.pcpu(0).unwrap().slice_end.unwrap();
        assert!(s.need_resched(0, end));
        let second = s.schedule(0, end).next.unwrap();
        assert_ne!(first, second);
        // The running one blocks: its CPU must decide again, and runs the other.
        let idx = second.vcpu.0 as usize;
        d.vcpus[idx].blocked = true;
        assert!(s.sync_vcpu(&d, idx, end + 1).contains(Cpu(0)));
        assert!(s.need_resched(0, end + 1));
        assert_eq!(s.schedule(0, end + 1).next, Some(first));
        // Both blocked: idle.
        let fi = first.vcpu.0 as usize;
        d.vcpus[fi].blocked = true;
        s.sync_vcpu(&d, fi, end + 2);
        assert_eq!(s.schedule(0, end + 2).next, None);
        assert_eq!(s.curr(0), None);
        assert_eq!(s.next_event(0), None, "an idle CPU needs no tick");
        // A wake-up tickles the idle CPU.
        d.vcpus[fi].blocked = false;
        assert!(s.sync_vcpu(&d, fi, end + 3).contains(Cpu(0)));
        assert_eq!(s.schedule(0, end + 3).next, Some(first));
    }

    /// Domains 0 and 1 with a vCPU each, pinned to CPUs 0 and 1 and running
    /// there.
    fn two_pinned_domains() -> (SchedCore, Domain, Domain) {
        let mut s = SchedCore::new(2).unwrap();
        let d0 = domain(0, 1);
        let d1 = domain(1, 1);
        s.insert_domain(&d0, CreditParams::default(), &[CpuMask::only(Cpu(0))]).unwrap();
        s.insert_domain(&d1, CreditParams::default(), &[CpuMask::only(Cpu(1))]).unwrap();
        s.sync_domain(&d0, 0);
        s.sync_domain(&d1, 0);
        assert_eq!(s.schedule(0, 0).next, Some(u(0, 0)));
        assert_eq!(s.schedule(1, 0).next, Some(u(1, 0)));
        (s, d0, d1)
    }

    #[test]
    fn paused_and_removed_domains_do_not_run() {
        let (mut s, _d0, mut d1) = two_pinned_domains();
        d1.pause_count = 1;
        assert!(s.sync_domain(&d1, 5).contains(Cpu(1)));
        assert_eq!(s.schedule(1, 5).next, None);
        d1.pause_count = 0;
        s.sync_domain(&d1, 6);
        assert_eq!(s.schedule(1, 6).next, Some(u(1, 0)));
        assert!(s.remove_domain(DomId(1), 1).contains(Cpu(1)));
        assert_eq!(s.schedule(1, 7).next, None);
        assert_eq!(s.running_on(u(0, 0)), Some(0));
    }

    /// Found by the `pause` boot test: `pausedomain` returned while the paused
    /// domU still ran on the other CPU (its CPU time kept growing). The vCPUs a
    /// pause stopped but that another CPU still runs are what the caller must
    /// wait for (Xen's `vcpu_sleep_sync`); none once that CPU rescheduled.
    #[test]
    fn a_paused_vcpu_running_elsewhere_is_waited_for() {
        let (mut s, d0, mut d1) = two_pinned_domains();
        assert!(s.sleep_sync_targets(&d1, 0).is_empty(), "runnable: nothing to wait for");
        d1.pause_count = 1;
        assert!(s.sync_domain(&d1, 5).contains(Cpu(1)));
        assert_eq!(s.sleep_sync_targets(&d1, 0), vec![(1, u(1, 0))]);
        assert!(s.sleep_sync_targets(&d1, 1).is_empty(), "its own CPU does not wait");
        assert!(s.sleep_sync_targets(&d0, 0).is_empty());
        assert_eq!(s.schedule(1, 6).next, None);
        assert!(s.sleep_sync_targets(&d1, 0).is_empty(), "switched away");
    }

    #[test]
    fn reconcile_inserts_adjusts_and_forgets_domains() {
        let mut s = SchedCore::new(2).unwrap();
        let mut d = domain(3, 2);
        d.vcpus[1].affinity_hard = CpuMask::only(Cpu(1));
        assert!(!s.has_domain(DomId(3)));
        let t = s.reconcile_domain(&d, 0);
        assert!(s.has_domain(DomId(3)));
        assert!(!t.is_empty(), "its runnable vCPUs were woken");
        assert_eq!(s.schedule(1, 0).next.map(|u| u.dom), Some(DomId(3)));
        d.sched_credit = CreditParams { weight: 512, cap: 0 };
        d.vcpus[0].affinity_hard = CpuMask::only(Cpu(0));
        s.reconcile_domain(&d, 1);
        assert_eq!(credit(&s).dom_params(DomId(3)), Some(CreditParams { weight: 512, cap: 0 }));
        assert!(!s.forget_missing(|id| id != DomId(3)).is_empty());
        assert!(!s.has_domain(DomId(3)));
        assert_eq!(s.schedule(1, 2).next, None);
    }

    fn credit(s: &SchedCore) -> &CreditScheduler {
        match &s.policy {
            Policy::Credit(c) => c,
            Policy::Sedf(_) => panic!("not credit"),
        }
    }

    #[test]
    fn sedf_core_times_idle_cpus_and_publishes_weight_slices() {
        use crate::sched::sedf::SedfPut;
        let ms = 1_000_000;
        let mut s = SchedCore::with_policy(1, SchedulerKind::Sedf).unwrap();
        assert_eq!(s.policy().kind(), SchedulerKind::Sedf);
        let mut d = domain(1, 1);
        d.sched_sedf = SedfParams::default()
            .put(SedfPut { period: 20 * ms, slice: 5 * ms, ..SedfPut::default() })
            .unwrap();
        assert!(s.reconcile_domain(&d, ms).contains(Cpu(0)));
        // Its first period begins at 1 + 5 ms: the idle CPU's timer is due then.
        assert_eq!(s.schedule(0, ms).next, None);
        assert_eq!(s.next_event(0), Some(6 * ms));
        assert!(!s.need_resched(0, 5 * ms));
        assert!(s.need_resched(0, 6 * ms));
        assert_eq!(s.tick(0, 6 * ms), CpuMask::EMPTY, "no ticks");
        assert_eq!(s.schedule(0, 6 * ms).next, Some(u(1, 0)));
        assert_eq!(s.next_event(0), Some(11 * ms));
        // A weight-driven domain: its slice comes from the weights.
        let mut e = domain(2, 1);
        s.reconcile_domain(&e, 7 * ms);
        e.sched_sedf = e.sched_sedf.put(SedfPut { weight: 2, ..SedfPut::default() }).unwrap();
        s.reconcile_domain(&e, 8 * ms);
        assert!(s.sedf_adjusted());
        s.publish_sedf(&mut e);
        s.sedf_published();
        // (100 - 5 - 25) ms of the weight period, all of it for weight 2.
        assert_eq!((e.sched_sedf.weight, e.sched_sedf.slice), (2, 70 * ms));
        assert!(s.reconcile_domain(&e, 9 * ms).is_empty(), "nothing changed");
    }

    #[test]
    fn ticks_come_every_period_while_busy() {
        let mut s = SchedCore::new(1).unwrap();
        let d = domain(0, 1);
        s.insert_domain(&d, CreditParams::default(), &[]).unwrap();
        s.sync_domain(&d, 0);
        s.schedule(0, 0);
        let next = s.next_event(0).unwrap();
        assert!(next <= 10_000_000);
        s.tick(0, 10_000_000);
        assert_eq!(s.pcpu(0).unwrap().next_tick, 20_000_000);
        s.tick(0, 15_000_000);
        assert_eq!(s.pcpu(0).unwrap().next_tick, 20_000_000, "not due yet");
    }
}
