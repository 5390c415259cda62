// SPDX-License-Identifier: GPL-2.0-only
//! vCPU runstate accounting (Xen's `vcpu_runstate_change`) and the guest's
//! runstate area (`VCPUOP_register_runstate_memory_area`,
//! `update_runstate_area`).
//!
//! Each vCPU is in one of `RUNSTATE_running`, `runnable`, `blocked` or
//! `offline`; on every change the time since the last change is added to
//! the old state's total. A registered area (a guest virtual address, kept
//! as given) receives a copy after every change, written through the
//! vCPU's kernel page table; with `VMASST_TYPE_runstate_update_flag` the
//! copy is bracketed by `XEN_RUNSTATE_UPDATE` in `state_entry_time`, as
//! Xen does so a guest can tell a torn read. A failed write is ignored, as
//! in Xen (the guest may unmap the area at any time).

use guest_abi::vcpu::{RunState, VcpuRunstateInfo, XEN_RUNSTATE_UPDATE};
use guest_abi::xen::VmAssistType;

use super::domain::{Domain, Vcpu};
use crate::mm::pv::PhysMem;
use crate::pv::guest_mem;

/// A vCPU's runstate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Runstate {
    /// Current state.
    pub state: RunState,
    /// System time the state was entered.
    pub entry_time: u64,
    /// Accumulated time per state, indexed by the state's number.
    pub time: [u64; 4],
}

impl Default for Runstate {
    fn default() -> Self {
        Self { state: RunState::Running, entry_time: 0, time: [0; 4] }
    }
}

impl Runstate {
    /// The `vcpu_runstate_info` a guest sees at system time `now`
    /// (`vcpu_runstate_get`: the current state's time includes the time
    /// since it was entered).
    #[must_use]
    pub fn info(&self, now: u64) -> VcpuRunstateInfo {
        let mut time = self.time;
        if let Some(t) = usize::try_from(self.state.raw()).ok().and_then(|i| time.get_mut(i)) {
            *t = t.saturating_add(now.saturating_sub(self.entry_time));
        }
        VcpuRunstateInfo {
            state: self.state.raw(),
            pad0: 0,
            state_entry_time: self.entry_time,
            time,
        }
    }
}

/// Xen's `vcpu_runstate_change`: moves `v` to `new` at `now`.
pub fn change(v: &mut Vcpu, new: RunState, now: u64) {
    let rs = &mut v.runstate;
    let spent = now.saturating_sub(rs.entry_time);
    if let Some(t) = usize::try_from(rs.state.raw()).ok().and_then(|i| rs.time.get_mut(i)) {
        *t = t.saturating_add(spent);
    }
    rs.state = new;
    rs.entry_time = now.max(rs.entry_time);
}

/// Xen's `update_runstate_area` for vCPU `index` of `dom` at `now`.
pub fn update_area(dom: &Domain, mem: &mut dyn PhysMem, index: usize, now: u64) {
    let Some(v) = dom.vcpus.get(index) else { return };
    let (Some(va), Some(l4)) = (v.runstate_guest, v.arch.tables.guest_table) else { return };
    let mut info = v.runstate.info(now);
    if dom.vm_assist_enabled(VmAssistType::RunstateUpdateFlag.raw()) {
        let flagged = info.state_entry_time | XEN_RUNSTATE_UPDATE;
        let at = va.wrapping_add(8);
        let _ = guest_mem::write(mem, l4, at, &flagged);
        let _ = guest_mem::write(mem, l4, va, &info);
        info.state_entry_time &= !XEN_RUNSTATE_UPDATE;
        let _ = guest_mem::write(mem, l4, at, &info.state_entry_time);
    } else {
        let _ = guest_mem::write(mem, l4, va, &info);
    }
}

#[cfg(test)]
mod tests;
