// SPDX-License-Identifier: GPL-2.0-only
//! Guest time: the pvclock in each `vcpu_time_info` (and in the secondary
//! copy a vCPU may register for its vDSO), the wallclock in
//! `shared_info`, and the per-vCPU single-shot and periodic timers that
//! raise `VIRQ_TIMER` (Xen's `update_vcpu_system_time`,
//! `update_domain_wallclock_time`, `do_set_timer_op` and the timer
//! `VCPUOP_*`s).
//!
//! The machine layer supplies consistent `(tsc, system time)` samples and
//! the [`TimeScale`] through [`Platform::clock_sample`]; it runs
//! [`timer_softirq`] when the CPU's timer interrupt fires or the vCPU
//! leaves the hypervisor, and arms its one-shot timer for the deadline it
//! returns.
//!
//! [`Platform::clock_sample`]: super::platform::Platform::clock_sample

use guest_abi::xen::{Errno, VcpuId, VcpuTimeInfo, Virq, XEN_PVCLOCK_TSC_STABLE_BIT};

use super::ctx::Ctx;
use super::guest_mem;
use crate::common::domain::{Domain, Vcpu};
use crate::common::event_channel;
use crate::mm::pv::PhysMem;
use crate::time::TimeScale;

/// Xen's default PV periodic timer: 100 Hz (`MILLISECS(10)`).
pub const DEFAULT_PERIOD_NS: u64 = 10_000_000;
/// Shortest period `VCPUOP_set_periodic_timer` accepts (`MILLISECS(1)`).
pub const MIN_PERIOD_NS: u64 = 1_000_000;
/// Longest period (`STIME_DELTA_MAX`, 2^62 − 1 in Xen).
pub const MAX_PERIOD_NS: u64 = (1 << 62) - 1;
/// `set_timer_op` deadlines this far beyond now are treated as bogus (Xen's
/// Linux workaround, 2^50 ns ≈ 13 days).
pub const FAR_FUTURE_NS: u64 = 1 << 50;
/// Where such a bogus deadline is moved to: now + 100 ms.
pub const BOGUS_DEADLINE_DELAY_NS: u64 = 100_000_000;

/// Offset of `time` in `vcpu_info`.
const VCPU_INFO_TIME: usize = 32;
/// Offset of `wc_version` in `shared_info`.
const WC_VERSION: usize = 3072;

/// One consistent reading of the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSample {
    /// The TSC at the sample.
    pub tsc: u64,
    /// System time (ns since boot) at that TSC.
    pub system_time: u64,
    /// TSC-to-ns scale.
    pub scale: TimeScale,
}

/// A vCPU's timers (Xen's `singleshot_timer`, `periodic_timer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuTimers {
    /// Absolute system time of the pending single-shot timer.
    pub singleshot: Option<u64>,
    /// Period of the periodic timer in ns; 0 when stopped.
    pub periodic_period: u64,
    /// When the periodic timer last fired (Xen's `periodic_last_event`,
    /// kept while it is stopped: a new period starts from it).
    pub periodic_last: u64,
    /// Set by every change of these timers or of the vCPU's
    /// `SCHEDOP_poll` timeout: the machine layer's return path then
    /// recomputes what its CPU's timer must cover, instead of reusing its
    /// last computation ([`crate::time::exit_memo`]), and clears it.
    pub changed: bool,
}

impl Default for VcpuTimers {
    fn default() -> Self {
        Self {
            singleshot: None,
            periodic_period: DEFAULT_PERIOD_NS,
            periodic_last: 0,
            changed: true,
        }
    }
}

/// The earlier of two optional deadlines.
#[must_use]
pub fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The earliest deadline that must wake vCPU `v` while it does not run:
/// its single-shot and periodic timers and its `SCHEDOP_poll` timeout (the
/// deadlines the machine layer's scan of stopped vCPUs looks at).
#[must_use]
pub fn stopped_vcpu_deadline(v: &crate::common::domain::Vcpu) -> Option<u64> {
    earliest(v.timers.next_deadline(), v.evtchn.poll.and_then(|p| p.timeout_ns))
}

impl VcpuTimers {
    /// The next deadline of either timer.
    #[must_use]
    pub fn next_deadline(&self) -> Option<u64> {
        let periodic = (self.periodic_period != 0)
            .then(|| self.periodic_last.saturating_add(self.periodic_period));
        match (self.singleshot, periodic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Xen's `update_vcpu_system_time`: publish `sample` in the
/// `vcpu_time_info` of vCPU `vcpu` (shared_info slot), bumping `version`
/// to odd before and even after the update as the pvclock protocol wants,
/// and the same in the vCPU's registered secondary copy, if any (the
/// vDSO's pvclock page). The `vcpu_info` is the registered one or the
/// `shared_info` slot; a vCPU with neither (ids from 32 up) is skipped.
pub fn update_vcpu_system_time(dom: &Domain, mem: &mut dyn PhysMem, vcpu: usize, s: &ClockSample) {
    let id = VcpuId(u32::try_from(vcpu).unwrap_or(u32::MAX));
    let Some(vi) = dom.vcpu_info_ref(id) else { return };
    let frame = vi.frame;
    let at = vi.offset.saturating_add(VCPU_INFO_TIME);
    let mut cur = [0u8; 4];
    mem.read_bytes(frame, at, &mut cur);
    let version = u32::from_le_bytes(cur);
    let odd = (version | 1).wrapping_add(if version & 1 == 0 { 0 } else { 2 });
    mem.write_bytes(frame, at, &odd.to_le_bytes());
    let info = VcpuTimeInfo {
        version: odd,
        pad0: 0,
        tsc_timestamp: s.tsc,
        system_time: s.system_time,
        tsc_to_system_mul: s.scale.mul_frac,
        tsc_shift: s.scale.shift,
        flags: XEN_PVCLOCK_TSC_STABLE_BIT,
        pad1: [0; 2],
    };
    let bytes = bytemuck::bytes_of(&info);
    // Everything but the version word, then the even version.
    mem.write_bytes(frame, at.saturating_add(4), bytes.get(4..).unwrap_or(&[]));
    mem.write_bytes(frame, at, &odd.wrapping_add(1).to_le_bytes());
    if let Some(v) = dom.vcpus.get(vcpu) {
        update_secondary_system_time(v, mem, &info);
    }
}

/// Xen's `update_secondary_system_time`: the same `vcpu_time_info` (odd
/// `version` in `info`) copied to the guest-virtual area registered with
/// `VCPUOP_register_vcpu_time_memory_area`, through the vCPU's kernel page
/// table (`update_guest_memory_policy`), version first, then the rest,
/// then the even version. A fault anywhere just ends the copy.
fn update_secondary_system_time(v: &Vcpu, mem: &mut dyn PhysMem, info: &VcpuTimeInfo) {
    let (Some(va), Some(l4)) = (v.arch.time_guest, v.arch.tables.guest_table) else { return };
    if guest_mem::write(mem, l4, va, &info.version).is_err()
        || guest_mem::write(mem, l4, va, info).is_err()
    {
        return;
    }
    let _ = guest_mem::write(mem, l4, va, &info.version.wrapping_add(1));
}

/// Xen's `update_domain_wallclock_time`: the wallclock at system time 0,
/// `wc_sec` seconds (split into `wc_sec`/`wc_sec_hi`) and `wc_nsec`.
pub fn set_wallclock(dom: &Domain, mem: &mut dyn PhysMem, wc_sec: u64, wc_nsec: u32) {
    let mut cur = [0u8; 4];
    mem.read_bytes(dom.shared_info, WC_VERSION, &mut cur);
    let version = u32::from_le_bytes(cur) | 1;
    mem.write_bytes(dom.shared_info, WC_VERSION, &version.to_le_bytes());
    let mut body = [0u8; 12];
    let lo = u32::try_from(wc_sec & 0xffff_ffff).unwrap_or(0);
    let hi = u32::try_from(wc_sec >> 32).unwrap_or(0);
    for (chunk, v) in body.chunks_exact_mut(4).zip([lo, wc_nsec, hi]) {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    mem.write_bytes(dom.shared_info, WC_VERSION.saturating_add(4), &body);
    mem.write_bytes(dom.shared_info, WC_VERSION, &version.wrapping_add(1).to_le_bytes());
}

/// Runs the timers of every vCPU of `dom` due at `now` (see
/// [`vcpu_timer_softirq`]). Returns the earliest remaining deadline.
pub fn timer_softirq(dom: &mut Domain, mem: &mut dyn PhysMem, now: u64) -> Option<u64> {
    (0..dom.vcpus.len()).filter_map(|i| vcpu_timer_softirq(dom, mem, i, now)).min()
}

/// Runs vCPU `index`'s timers due at `now`: a due single-shot timer is
/// cleared and a due periodic timer restarts from `now`, each raising
/// `VIRQ_TIMER` on the vCPU (`send_timer_event`). Returns its earliest
/// remaining deadline, for the timer of the CPU it runs on.
pub fn vcpu_timer_softirq(
    dom: &mut Domain,
    mem: &mut dyn PhysMem,
    index: usize,
    now: u64,
) -> Option<u64> {
    let v = dom.vcpus.get_mut(index)?;
    let t = &mut v.timers;
    let mut fire = false;
    if t.singleshot.is_some_and(|d| d <= now) {
        t.singleshot = None;
        fire = true;
    }
    if t.periodic_period != 0 && t.periodic_last.saturating_add(t.periodic_period) <= now {
        t.periodic_last = now;
        fire = true;
    }
    let deadline = t.next_deadline();
    let id = v.id;
    if fire {
        // A kick only matters to a blocked vCPU, which the machine
        // layer's wait loop re-examines after every interrupt.
        let _ = event_channel::send_virq(dom, mem, id, Virq::Timer);
    }
    deadline
}

/// `set_timer_op(timeout)`: 0 stops the single-shot timer; a deadline
/// more than [`FAR_FUTURE_NS`] ahead (or "negative") becomes now + 100 ms;
/// a past deadline fires at the next timer run.
pub fn set_timer_op(ctx: &mut Ctx<'_>, timeout: u64) -> Result<i64, Errno> {
    let now = ctx.platform.now_ns();
    let deadline = if timeout == 0 {
        None
    } else if timeout.cast_signed() < 0 || timeout >= now.saturating_add(FAR_FUTURE_NS) {
        Some(now.saturating_add(BOGUS_DEADLINE_DELAY_NS))
    } else {
        Some(timeout)
    };
    let t = &mut ctx.v().timers;
    t.singleshot = deadline;
    t.changed = true;
    Ok(0)
}

/// `VCPUOP_set_singleshot_timer` as Xen 4.17.2 and later (stable-4.17's
/// "xen/vcpu: ignore VCPU_SSHOTTMR_future", Debian 12's Xen): the flags
/// are ignored (4.17.0 refused a past deadline with `-ETIME` when
/// `VCPU_SSHOTTMR_future` was set, which old Linux mishandled); a deadline
/// already past stops the timer and raises `VIRQ_TIMER` at once
/// (`send_timer_event`).
pub fn set_singleshot(ctx: &mut Ctx<'_>, timeout_abs_ns: u64) -> Result<i64, Errno> {
    ctx.v().timers.changed = true;
    if timeout_abs_ns < ctx.platform.now_ns() {
        ctx.v().timers.singleshot = None;
        let id = ctx.v().id;
        let _ = event_channel::send_virq(ctx.dom, ctx.mem, id, Virq::Timer);
        return Ok(0);
    }
    ctx.v().timers.singleshot = Some(timeout_abs_ns);
    Ok(0)
}

/// `VCPUOP_stop_singleshot_timer`.
pub fn stop_singleshot(ctx: &mut Ctx<'_>) -> Result<i64, Errno> {
    let t = &mut ctx.v().timers;
    t.singleshot = None;
    t.changed = true;
    Ok(0)
}

/// `VCPUOP_set_periodic_timer` on vCPU `index` (Xen's
/// `vcpu_set_periodic_timer`): periods below 1 ms or beyond
/// `STIME_DELTA_MAX` are `-EINVAL`. A tick is due at once unless the last
/// one (of this or an earlier periodic timer) came less than a period ago:
/// then `VIRQ_TIMER` is raised now and the next tick is a period away;
/// otherwise the next tick is a period after the last one.
pub fn set_periodic(ctx: &mut Ctx<'_>, index: usize, period_ns: u64) -> Result<i64, Errno> {
    if !(MIN_PERIOD_NS..=MAX_PERIOD_NS).contains(&period_ns) {
        return Err(Errno::EINVAL);
    }
    let now = ctx.platform.now_ns();
    let v = ctx.dom.vcpus.get_mut(index).ok_or(Errno::ENOENT)?;
    v.timers.periodic_period = period_ns;
    v.timers.changed = true;
    if v.timers.periodic_last.saturating_add(period_ns) <= now {
        v.timers.periodic_last = now;
        let id = v.id;
        let _ = event_channel::send_virq(ctx.dom, ctx.mem, id, Virq::Timer);
    }
    // Its CPU re-arms for the new deadline.
    ctx.dom.kick(index);
    Ok(0)
}

/// `VCPUOP_stop_periodic_timer` on vCPU `index`.
pub fn stop_periodic(ctx: &mut Ctx<'_>, index: usize) -> Result<i64, Errno> {
    let t = &mut ctx.dom.vcpus.get_mut(index).ok_or(Errno::ENOENT)?.timers;
    t.periodic_period = 0;
    t.changed = true;
    Ok(0)
}

#[cfg(test)]
mod tests;
