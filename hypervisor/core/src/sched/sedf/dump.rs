// SPDX-License-Identifier: GPL-2.0-only
//! The sEDF scheduler's state as text, laid out like Xen's
//! `sedf_dump_cpu_state` (`xl debug-keys r`): each CPU's runq, waitq and
//! extraqs, one line per vCPU.

use core::fmt;

use super::{PEN_Q, SedfScheduler, UTIL_Q};
use crate::sched::names::{opt_name, scheduler_name};
use crate::sched::ops::Scheduler;
use crate::sched::types::SchedUnit;

impl SedfScheduler {
    fn dump_unit(&self, out: &mut impl fmt::Write, unit: SchedUnit) -> fmt::Result {
        let Some(u) = self.units.get(&unit) else { return Ok(()) };
        let running = self.running_on(unit).is_some();
        writeln!(
            out,
            "{}.{} has={} p={} sl={} ddl={} w={} sc={} xtr({})={} ew={}",
            unit.dom.0,
            unit.vcpu.0,
            if running { 'T' } else { 'F' },
            u.period,
            u.slice,
            u.deadl_abs,
            u.weight,
            u.score.get(UTIL_Q).copied().unwrap_or(0),
            if u.extra_aware { "yes" } else { "no" },
            u.extra_time_tot,
            u.extraweight
        )
    }

    pub(super) fn dump_state(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let kind = self.kind();
        writeln!(out, "Scheduler: {} ({})", scheduler_name(kind), opt_name(kind))?;
        for cpu in self.online.iter() {
            let Some(p) = self.pcpu(cpu) else { continue };
            writeln!(out, "CPU[{:02}] now={}", cpu.0, self.last_now)?;
            let queues = [
                ("RUNQ", &p.runq),
                ("WAITQ", &p.waitq),
                ("EXTRAQ (penalty)", p.extraq.get(PEN_Q).unwrap_or(&p.runq)),
                ("EXTRAQ (utilization)", p.extraq.get(UTIL_Q).unwrap_or(&p.runq)),
            ];
            for (name, q) in queues {
                writeln!(out, "{name}")?;
                for (i, unit) in q.iter().enumerate() {
                    write!(out, "{i:3}: ")?;
                    self.dump_unit(out, *unit)?;
                }
            }
            writeln!(out, "not on Q")?;
            for (i, (unit, _)) in
                self.units.iter().filter(|(k, u)| u.cpu == cpu && !self.on_queue(**k)).enumerate()
            {
                write!(out, "{i:3}: ")?;
                self.dump_unit(out, *unit)?;
            }
        }
        Ok(())
    }
}
