// SPDX-License-Identifier: GPL-2.0-only
//! The credit scheduler's state as text, laid out like Xen's `csched_dump`
//! and `csched_dump_pcpu` (`xl debug-keys r`).

use core::fmt;

use super::{CreditScheduler, CreditUnit};
use crate::sched::names::{opt_name, scheduler_name};
use crate::sched::ops::Scheduler;
use crate::sched::types::SchedUnit;

impl CreditScheduler {
    fn dump_unit(&self, out: &mut impl fmt::Write, unit: SchedUnit, u: &CreditUnit) -> fmt::Result {
        let params = self.doms.get(&unit.dom).map(|d| d.params).unwrap_or_default();
        let mut flags = 0u8;
        if u.parked {
            flags |= 1;
        }
        if u.yielding {
            flags |= 2;
        }
        write!(
            out,
            "[{}.{}] pri={} flags={flags:x} cpu={} credit={} [w={},cap={}]",
            unit.dom.0,
            unit.vcpu.0,
            u.pri.xen_value(),
            u.cpu,
            u.credit,
            params.weight,
            params.cap
        )?;
        if u.asleep {
            out.write_str(" asleep")?;
        }
        writeln!(out)
    }

    pub(super) fn dump_state(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let kind = self.kind();
        let p = self.params;
        writeln!(out, "Scheduler: {} ({})", scheduler_name(kind), opt_name(kind))?;
        writeln!(out, "info:")?;
        writeln!(out, "\tncpus              = {}", self.nr_cpus())?;
        writeln!(out, "\tmaster             = {}", self.online.first().map_or(0, |c| c.0))?;
        writeln!(
            out,
            "\tcredit             = {}",
            p.credits_per_tslice().saturating_mul(i64::from(self.nr_cpus()))
        )?;
        writeln!(out, "\tcredit balance     = {}", self.credit_balance)?;
        writeln!(out, "\tweight             = {}", self.active_weight())?;
        writeln!(out, "\trunq_sort          = {}", self.runq_sort)?;
        writeln!(out, "\tdefault-weight     = {}", super::CSCHED_DEFAULT_WEIGHT)?;
        writeln!(out, "\ttslice             = {}ms", p.tslice_ms)?;
        writeln!(out, "\tratelimit          = {}us", p.ratelimit_us)?;
        writeln!(out, "\tcredits per msec   = {}", super::params::CSCHED_CREDITS_PER_MSEC)?;
        writeln!(out, "\tticks per tslice   = {}", p.ticks_per_tslice())?;
        writeln!(out, "idlers: {}", self.idlers)?;
        writeln!(out, "active units:")?;
        let mut n = 0u32;
        for dom in &self.active_doms {
            for unit in self.doms.get(dom).map(|d| d.active_units.as_slice()).unwrap_or_default() {
                if let Some(u) = self.units.get(unit) {
                    n = n.saturating_add(1);
                    write!(out, "\t{n:3}: ")?;
                    self.dump_unit(out, *unit, u)?;
                }
            }
        }
        for cpu in self.online.iter() {
            let Some(pcpu) = self.pcpu(cpu) else { continue };
            writeln!(out, "CPU[{:02}] tick={}, sort={}", cpu.0, pcpu.tick, pcpu.runq_sort_last)?;
            match pcpu.curr.and_then(|c| Some((c, self.units.get(&c)?))) {
                Some((c, u)) => {
                    write!(out, "\trun: ")?;
                    self.dump_unit(out, c, u)?;
                }
                None => writeln!(out, "\trun: [idle]")?,
            }
            for (i, e) in pcpu.runq.iter().enumerate() {
                if let Some(u) = self.units.get(&e.unit) {
                    write!(out, "\t{:3}: ", i.saturating_add(1))?;
                    self.dump_unit(out, e.unit, u)?;
                }
            }
        }
        Ok(())
    }
}
