// SPDX-License-Identifier: GPL-2.0-only
//! A deterministic simulation driving any [`Scheduler`] in virtual time.
//!
//! N CPUs and M units, each unit with a [`Behaviour`]: CPU-bound forever,
//! I/O-bound (run a burst, sleep, repeat) or periodic. The simulation plays
//! the machine layer: it runs each CPU's decision until its slice ends or
//! the unit blocks, ticks every CPU every tick period, delivers wakes at
//! their virtual times and reschedules tickled CPUs at once (IPIs are free).
//! All events sit in one [`TimerHeap`], so a run is fully reproducible.
//!
//! It records per-unit run time and wake-to-run latency, and checks
//! invariants after every event: a unit never runs on two CPUs, never runs
//! asleep, removed or outside its affinity, and (when enabled) no CPU idles
//! for more than one tick while an eligible unit it may run waits.
// The harness does plain arithmetic and indexing on its own small tables.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)]

mod sedf_tests;
mod tests;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::ops::Scheduler;
use super::timer::TimerHeap;
use super::types::{Cpu, CpuMask, SchedUnit, Time};

/// How a simulated vCPU uses the CPU.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Always runnable.
    CpuBound,
    /// Runs `run_ns` of CPU time, then sleeps `sleep_ns`, forever.
    IoBound { run_ns: u64, sleep_ns: u64 },
    /// Wakes every `period_ns` (from its first wake) and runs `work_ns`.
    Periodic { period_ns: u64, work_ns: u64 },
}

impl Behaviour {
    fn burst(self) -> u64 {
        match self {
            Self::CpuBound => u64::MAX,
            Self::IoBound { run_ns, .. } => run_ns,
            Self::Periodic { work_ns, .. } => work_ns,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Wake(usize),
    BurstEnd(usize),
    Tick(usize),
    Slice(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UState {
    Asleep,
    Runnable,
    Running(usize),
    Removed,
}

/// One simulated vCPU and what it experienced.
#[derive(Clone, Debug)]
pub struct SimUnit {
    pub id: SchedUnit,
    pub behaviour: Behaviour,
    pub state: UState,
    /// CPU time left in the current burst.
    remaining: u64,
    /// First wake, the origin of a periodic unit's periods.
    origin: Option<Time>,
    pub affinity: CpuMask,
    woke_at: Option<Time>,
    /// Total run time.
    pub run_ns: u64,
    /// Wake-to-run latencies.
    pub latencies: Vec<u64>,
    /// CPUs the unit ran on.
    pub ran_on: CpuMask,
}

#[derive(Clone, Debug, Default)]
struct SimCpu {
    online: bool,
    cur: Option<usize>,
    since: Time,
    resched: bool,
    starved_since: Option<Time>,
    busy_ns: u64,
}

/// The simulated machine.
pub struct Sim<S: Scheduler> {
    pub sched: S,
    pub now: Time,
    cpus: Vec<SimCpu>,
    pub units: Vec<SimUnit>,
    index: BTreeMap<SchedUnit, usize>,
    timers: TimerHeap<Event>,
    tick_ns: u64,
    /// Check work conservation (off for schedulers or set-ups that idle).
    pub check_work_conservation: bool,
    /// Longest time any CPU idled while eligible work for it waited.
    pub worst_starvation: u64,
    /// Decisions that took a unit from another CPU's queue.
    pub migrations: u64,
}

impl<S: Scheduler> Sim<S> {
    /// A machine with CPUs `0..nr_cpus` online.
    pub fn new(sched: S, nr_cpus: usize) -> Self {
        let tick_ns = sched.tick_period_ns().unwrap_or(10_000_000);
        let mut sim = Self {
            sched,
            now: 0,
            cpus: Vec::new(),
            units: Vec::new(),
            index: BTreeMap::new(),
            timers: TimerHeap::new(),
            tick_ns,
            check_work_conservation: true,
            worst_starvation: 0,
            migrations: 0,
        };
        for c in 0..nr_cpus {
            sim.init_cpu(c);
        }
        sim
    }

    /// Brings CPU `c` online (it reschedules at once).
    pub fn init_cpu(&mut self, c: usize) {
        self.sched.init_cpu(Cpu(c as u32)).unwrap();
        if self.cpus.len() <= c {
            self.cpus.resize_with(c + 1, SimCpu::default);
        }
        self.cpus[c] = SimCpu { online: true, resched: true, since: self.now, ..SimCpu::default() };
        self.timers.add(Event::Tick(c), self.now + self.tick_ns);
    }

    /// Adds a unit and wakes it now; returns its index.
    pub fn add(
        &mut self,
        id: SchedUnit,
        params: S::DomParams,
        affinity: CpuMask,
        behaviour: Behaviour,
    ) -> usize {
        self.sched.insert_unit(id, params, affinity).unwrap();
        let i = self.units.len();
        self.units.push(SimUnit {
            id,
            behaviour,
            state: UState::Asleep,
            remaining: 0,
            origin: None,
            affinity,
            woke_at: None,
            run_ns: 0,
            latencies: Vec::new(),
            ran_on: CpuMask::EMPTY,
        });
        self.index.insert(id, i);
        self.wake(i);
        i
    }

    fn tickle(&mut self, mask: CpuMask) {
        for c in mask.iter() {
            if let Some(cpu) = self.cpus.get_mut(c.index())
                && cpu.online
            {
                cpu.resched = true;
            }
        }
    }

    /// Credits the unit running on CPU `c` with the time up to now.
    fn charge(&mut self, c: usize) {
        let now = self.now;
        let cpu = &mut self.cpus[c];
        let delta = now - cpu.since;
        cpu.since = now;
        if let Some(u) = cpu.cur
            && self.units[u].state == UState::Running(c)
        {
            cpu.busy_ns += delta;
            let unit = &mut self.units[u];
            unit.run_ns += delta;
            unit.remaining = unit.remaining.saturating_sub(delta);
        }
    }

    /// Wakes unit `i` now (if asleep).
    pub fn wake(&mut self, i: usize) {
        if self.units[i].state != UState::Asleep {
            return;
        }
        self.timers.cancel(Event::Wake(i));
        let unit = &mut self.units[i];
        unit.state = UState::Runnable;
        unit.remaining = unit.behaviour.burst();
        unit.woke_at = Some(self.now);
        unit.origin.get_or_insert(self.now);
        let mask = self.sched.wake(unit.id, self.now).unwrap();
        self.tickle(mask);
    }

    /// Puts unit `i` to sleep now; it wakes only through [`Self::wake`] or,
    /// with `wake_at`, at that time.
    pub fn sleep(&mut self, i: usize, wake_at: Option<Time>) {
        if let UState::Running(c) = self.units[i].state {
            self.charge(c);
        }
        if matches!(self.units[i].state, UState::Asleep | UState::Removed) {
            return;
        }
        self.units[i].state = UState::Asleep;
        self.units[i].woke_at = None;
        self.timers.cancel(Event::BurstEnd(i));
        self.timers.cancel(Event::Wake(i));
        if let Some(t) = wake_at {
            self.timers.add(Event::Wake(i), t);
        }
        let mask = self.sched.sleep(self.units[i].id).unwrap();
        self.tickle(mask);
    }

    /// Removes unit `i`.
    pub fn remove(&mut self, i: usize) {
        if let UState::Running(c) = self.units[i].state {
            self.charge(c);
        }
        self.units[i].state = UState::Removed;
        self.timers.cancel(Event::BurstEnd(i));
        self.timers.cancel(Event::Wake(i));
        let mask = self.sched.remove_unit(self.units[i].id).unwrap();
        self.tickle(mask);
    }

    /// Changes unit `i`'s affinity.
    pub fn set_affinity(&mut self, i: usize, mask: CpuMask) {
        self.units[i].affinity = mask;
        let tickle = self.sched.set_affinity(self.units[i].id, mask).unwrap();
        self.tickle(tickle);
    }

    /// Unit `i` yields.
    pub fn yield_(&mut self, i: usize) {
        let mask = self.sched.yield_(self.units[i].id).unwrap();
        self.tickle(mask);
    }

    /// Which unit CPU `c` runs.
    pub fn running(&self, c: usize) -> Option<usize> {
        self.cpus[c].cur.filter(|&u| self.units[u].state == UState::Running(c))
    }

    /// Units waiting (runnable, not running).
    pub fn waiting(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.units.len()).filter(|&i| self.units[i].state == UState::Runnable)
    }

    /// Busy time of CPU `c`.
    pub fn busy_ns(&self, c: usize) -> u64 {
        self.cpus[c].busy_ns
    }

    /// Runs the machine for `ns` of virtual time.
    pub fn run_for(&mut self, ns: u64) {
        let end = self.now + ns;
        loop {
            self.reschedule_pending();
            self.check_invariants();
            match self.timers.next_deadline() {
                Some(t) if t <= end => self.now = t,
                _ => break,
            }
            while let Some((_, event)) = self.timers.pop_expired(self.now) {
                self.handle(event);
            }
        }
        self.now = end;
        for c in 0..self.cpus.len() {
            self.charge(c);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Wake(i) => self.wake(i),
            Event::BurstEnd(i) => {
                let wake_at = match self.units[i].behaviour {
                    Behaviour::CpuBound => None,
                    Behaviour::IoBound { sleep_ns, .. } => Some(self.now + sleep_ns),
                    Behaviour::Periodic { period_ns, .. } => {
                        let origin = self.units[i].origin.unwrap_or(self.now);
                        let k = (self.now - origin) / period_ns + 1;
                        Some(origin + k * period_ns)
                    }
                };
                self.sleep(i, wake_at);
            }
            Event::Tick(c) => {
                self.charge(c);
                let mask = self.sched.tick(Cpu(c as u32), self.now);
                self.tickle(mask);
                self.timers.add(Event::Tick(c), self.now + self.tick_ns);
            }
            Event::Slice(c) => self.cpus[c].resched = true,
        }
    }

    fn reschedule_pending(&mut self) {
        while let Some(c) = self.cpus.iter().position(|cpu| cpu.resched) {
            self.cpus[c].resched = false;
            self.reschedule(c);
        }
    }

    fn reschedule(&mut self, c: usize) {
        self.charge(c);
        let prev = self.cpus[c].cur;
        let d = self.sched.do_schedule(Cpu(c as u32), self.now);
        let next = d.next.map(|id| *self.index.get(&id).expect("decision names an unknown unit"));
        if let Some(n) = next {
            let unit = &self.units[n];
            assert!(
                matches!(unit.state, UState::Runnable) || unit.state == UState::Running(c),
                "t={} cpu{c} picked {} in state {:?}",
                self.now,
                unit.id,
                unit.state
            );
            assert!(unit.affinity.contains(Cpu(c as u32)), "{} outside its affinity", unit.id);
            assert!(d.slice_ns.is_some_and(|s| s > 0), "a running unit needs a slice");
        }
        if d.migrated {
            self.migrations += 1;
        }
        if prev != next {
            if let Some(p) = prev {
                if self.units[p].state == UState::Running(c) {
                    self.units[p].state = UState::Runnable;
                }
                self.timers.cancel(Event::BurstEnd(p));
            }
            if let Some(n) = next {
                let now = self.now;
                let unit = &mut self.units[n];
                unit.state = UState::Running(c);
                unit.ran_on.set(Cpu(c as u32));
                if !matches!(unit.behaviour, Behaviour::CpuBound) {
                    self.timers.add(Event::BurstEnd(n), now + unit.remaining);
                }
            }
        }
        if let Some(n) = next
            && let Some(woke) = self.units[n].woke_at.take()
        {
            self.units[n].latencies.push(self.now - woke);
        }
        self.cpus[c].cur = next;
        match d.slice_ns {
            Some(s) => self.timers.add(Event::Slice(c), self.now + s),
            None => self.timers.cancel(Event::Slice(c)),
        };
        self.tickle(d.tickle);
    }

    fn check_invariants(&mut self) {
        for (i, unit) in self.units.iter().enumerate() {
            if let UState::Running(c) = unit.state {
                assert_eq!(self.cpus[c].cur, Some(i), "{} running on two CPUs?", unit.id);
            }
        }
        for c in 0..self.cpus.len() {
            if !self.cpus[c].online {
                continue;
            }
            if let Some(u) = self.cpus[c].cur {
                let state = self.units[u].state;
                assert!(
                    matches!(state, UState::Running(x) if x == c),
                    "t={} cpu{c} still runs {} in state {state:?}",
                    self.now,
                    self.units[u].id
                );
            }
            let cpu = Cpu(c as u32);
            let starved = self.cpus[c].cur.is_none()
                && self.units.iter().any(|u| {
                    u.state == UState::Runnable
                        && u.affinity.contains(cpu)
                        && self.sched.is_eligible(u.id)
                });
            if starved {
                let since = *self.cpus[c].starved_since.get_or_insert(self.now);
                let waited = self.now - since;
                self.worst_starvation = self.worst_starvation.max(waited);
                if self.check_work_conservation {
                    assert!(
                        waited <= self.tick_ns,
                        "t={} cpu{c} idle for {waited} ns while eligible work waits",
                        self.now
                    );
                }
            } else {
                self.cpus[c].starved_since = None;
            }
        }
    }
}

/// Expected long-run CPU shares (in CPUs) for always-runnable units with
/// `weights` on `cpus` CPUs: proportional to weight, but no unit above one
/// CPU (water-filling: saturated units are fixed at 1 and the rest re-shared).
pub fn water_fill(weights: &[u64], cpus: f64) -> Vec<f64> {
    let mut share = alloc::vec![0.0; weights.len()];
    let mut saturated = alloc::vec![false; weights.len()];
    loop {
        let left = cpus - saturated.iter().filter(|&&s| s).count() as f64;
        let total: u64 = weights.iter().zip(&saturated).filter(|(_, s)| !**s).map(|(w, _)| w).sum();
        let mut changed = false;
        for i in 0..weights.len() {
            if saturated[i] {
                share[i] = 1.0;
                continue;
            }
            share[i] = left * weights[i] as f64 / total as f64;
            if share[i] > 1.0 {
                saturated[i] = true;
                changed = true;
            }
        }
        if !changed {
            return share;
        }
    }
}
