// SPDX-License-Identifier: GPL-2.0-only
//! `XEN_DOMCTL_scheduler_op` (Xen's `sched_adjust` and `csched_dom_cntl`).
//!
//! The request must name the scheduler the host booted with
//! (`XEN_SYSCTL_sched_id`: credit 5, or sEDF 4 with `sched=sedf`) and one
//! of the four sub-commands (`-EINVAL` otherwise). Credit keeps a weight
//! and a cap per domain ([`Domain::sched_credit`]): `getinfo` reports them,
//! `putinfo` changes the weight unless it is 0 and the cap unless it is
//! `0xffff`; the per-vCPU sub-commands are `-EINVAL` for credit, as in Xen.
//! The new values go through [`CreditParams::validate`] — a deviation: a
//! cap above 100 × the host's CPUs is `-EINVAL` (Xen 4.17 stores any cap;
//! libxl bounds it).
//!
//! Under `sched=sedf` the payload is Xen 4.5's ([`XenDomctlSchedulerOpSedf`],
//! period, slice, latency, extratime, weight) and only `putinfo` and
//! `getinfo` exist (`-EINVAL` otherwise, as 4.5's `sched_adjust`).
//! `putinfo` follows 4.5's `sedf_adjust` ([`SedfParams::put`]: its
//! `-EINVAL`s) on [`Domain::sched_sedf`], which the scheduler core applies
//! to every vCPU when the hypercall returns; `getinfo` reports vCPU 0's
//! values, `extratime` as bit 0, a weight-driven domain's slice as the
//! scheduler computed it.
//!
//! [`Domain::sched_credit`]: crate::common::domain::Domain::sched_credit
//! [`Domain::sched_sedf`]: crate::common::domain::Domain::sched_sedf
//! [`CreditParams::validate`]: crate::sched::CreditParams::validate
//! [`SedfParams::put`]: crate::sched::SedfParams::put

use guest_abi::domctl::{
    DomctlSchedOp, XenDomctl, XenDomctlSchedCredit, XenDomctlSchedSedf, XenDomctlSchedulerOp,
    XenDomctlSchedulerOpSedf, XenScheduler,
};
use guest_abi::xen::Errno;

use super::payload;
use crate::pv::ctx::Ctx;
use crate::sched::sedf::SedfPut;
use crate::sched::sedf::params::EXTRA_AWARE;
use crate::sched::{CreditParams, SchedulerKind};

/// The `XEN_SCHEDULER_*` id of a boot scheduler.
#[must_use]
pub fn sched_id(kind: SchedulerKind) -> XenScheduler {
    match kind {
        SchedulerKind::Credit => XenScheduler::Credit,
        SchedulerKind::Sedf => XenScheduler::Sedf,
    }
}

/// `XEN_DOMCTL_scheduler_op`.
pub fn scheduler_op(ctx: &mut Ctx<'_>, op: &mut XenDomctl) -> Result<i64, Errno> {
    let mut s: XenDomctlSchedulerOp = payload(op)?;
    let kind = ctx.platform.scheduler();
    if s.sched_id != sched_id(kind).raw() {
        return Err(Errno::EINVAL);
    }
    let cmd = s.op().map_err(|_| Errno::EINVAL)?;
    if kind == SchedulerKind::Sedf {
        return sedf_op(ctx, op, cmd);
    }
    let nr_cpus = ctx.platform.host_info().nr_cpus;
    let p: XenDomctlSchedCredit = s.params().ok_or(Errno::EINVAL)?;
    let out = ctx.with_target(op.domain, |t| {
        let cur = t.target.sched_credit;
        match cmd {
            DomctlSchedOp::Getinfo => {
                Ok(Some(XenDomctlSchedCredit { weight: cur.weight, cap: cur.cap }))
            }
            DomctlSchedOp::Putinfo => {
                let new = CreditParams {
                    weight: if p.weight != 0 { p.weight } else { cur.weight },
                    cap: if p.cap != u16::MAX { p.cap } else { cur.cap },
                };
                t.target.sched_credit = new.validate(nr_cpus).map_err(|_| Errno::EINVAL)?;
                Ok(None)
            }
            DomctlSchedOp::Putvcpuinfo | DomctlSchedOp::Getvcpuinfo => Err(Errno::EINVAL),
        }
    })??;
    if let Some(out) = out {
        let _ = s.set_params(&out);
        let _ = op.set_payload(&s);
    }
    Ok(0)
}

/// `XEN_DOMCTL_scheduler_op` under sEDF (Xen 4.5's `sedf_adjust`).
fn sedf_op(ctx: &mut Ctx<'_>, op: &mut XenDomctl, cmd: DomctlSchedOp) -> Result<i64, Errno> {
    let mut s: XenDomctlSchedulerOpSedf = payload(op)?;
    let p = s.sedf;
    let out = ctx.with_target(op.domain, |t| {
        let cur = t.target.sched_sedf;
        match cmd {
            DomctlSchedOp::Getinfo => Ok(Some(XenDomctlSchedSedf {
                period: cur.period,
                slice: cur.slice,
                latency: cur.latency,
                extratime: if cur.extratime { EXTRA_AWARE } else { 0 },
                weight: cur.weight,
            })),
            DomctlSchedOp::Putinfo => {
                let put = SedfPut {
                    period: p.period,
                    slice: p.slice,
                    latency: p.latency,
                    extratime: p.extratime,
                    weight: p.weight,
                };
                t.target.sched_sedf = cur.put(put).map_err(|_| Errno::EINVAL)?;
                Ok(None)
            }
            DomctlSchedOp::Putvcpuinfo | DomctlSchedOp::Getvcpuinfo => Err(Errno::EINVAL),
        }
    })??;
    if let Some(out) = out {
        s.sedf = out;
        let _ = op.set_payload(&s);
    }
    Ok(0)
}
