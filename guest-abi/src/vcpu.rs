// SPDX-License-Identifier: GPL-2.0-only
//! vCPU bring-up, timers and runstate (`vcpu.h`): `HYPERVISOR_vcpu_op`.
//!
//! Commands ([`VcpuOp`]) of `vcpu_op(cmd, vcpuid, arg)` and their argument
//! structs. `VCPUOP_initialise` takes a
//! [`crate::xen::VcpuGuestContext`].
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

use crate::xen::Mfn;
use bytemuck::{Pod, Zeroable};

abi_enum! {
    /// Commands of `HYPERVISOR_vcpu_op` (`VCPUOP_*`).
    pub enum VcpuOp: u32 {
        /// Set the initial state of a vCPU (once). `arg` =
        /// [`crate::xen::VcpuGuestContext`].
        Initialise = 0 => "VCPUOP_initialise",
        /// Make an initialised vCPU runnable. `arg` = NULL.
        Up = 1 => "VCPUOP_up",
        /// Make a vCPU non-runnable. `arg` = NULL.
        Down = 2 => "VCPUOP_down",
        /// Returns 1 if the vCPU is up. `arg` = NULL.
        IsUp = 3 => "VCPUOP_is_up",
        /// Copy out the runstate. `arg` = [`VcpuRunstateInfo`].
        GetRunstateInfo = 4 => "VCPUOP_get_runstate_info",
        /// Register a guest-virtual area that Xen keeps updated with the
        /// runstate (re-registrable). `arg` =
        /// [`VcpuRegisterRunstateMemoryArea`].
        RegisterRunstateMemoryArea = 5 => "VCPUOP_register_runstate_memory_area",
        /// Start the periodic timer. `arg` = [`VcpuSetPeriodicTimer`].
        SetPeriodicTimer = 6 => "VCPUOP_set_periodic_timer",
        /// Stop the periodic timer. `arg` = NULL.
        StopPeriodicTimer = 7 => "VCPUOP_stop_periodic_timer",
        /// Arm the single-shot timer. `arg` = [`VcpuSetSingleshotTimer`].
        SetSingleshotTimer = 8 => "VCPUOP_set_singleshot_timer",
        /// Disarm the single-shot timer. `arg` = NULL.
        StopSingleshotTimer = 9 => "VCPUOP_stop_singleshot_timer",
        /// Move the vCPU's `vcpu_info` into a guest page (once). `arg` =
        /// [`VcpuRegisterVcpuInfo`].
        RegisterVcpuInfo = 10 => "VCPUOP_register_vcpu_info",
        /// Send an NMI to the vCPU. `arg` = NULL.
        SendNmi = 11 => "VCPUOP_send_nmi",
        /// Physical CPU ids of a pinned vCPU. `arg` = [`VcpuGetPhysid`].
        GetPhysid = 12 => "VCPUOP_get_physid",
        /// Register a secondary copy of the vCPU time info. `arg` =
        /// [`VcpuRegisterTimeMemoryArea`].
        RegisterVcpuTimeMemoryArea = 13 => "VCPUOP_register_vcpu_time_memory_area",
        /// As `RegisterRunstateMemoryArea`, by guest-physical address.
        /// `arg` = [`VcpuRegisterRunstateMemoryArea`].
        RegisterRunstatePhysArea = 14 => "VCPUOP_register_runstate_phys_area",
        /// As `RegisterVcpuTimeMemoryArea`, by guest-physical address.
        /// `arg` = [`VcpuRegisterTimeMemoryArea`].
        RegisterVcpuTimePhysArea = 15 => "VCPUOP_register_vcpu_time_phys_area",
    }
}

abi_enum! {
    /// Scheduling state of a vCPU (`RUNSTATE_*`), in
    /// [`VcpuRunstateInfo::state`].
    pub enum RunState: i32 {
        /// Running on a physical CPU.
        Running = 0 => "RUNSTATE_running",
        /// Runnable but not scheduled.
        Runnable = 1 => "RUNSTATE_runnable",
        /// Blocked (idle).
        Blocked = 2 => "RUNSTATE_blocked",
        /// Neither runnable nor blocked (paused, hot-unplugged, …).
        Offline = 3 => "RUNSTATE_offline",
    }
}

/// Set in [`VcpuRunstateInfo::state_entry_time`] while Xen updates the area
/// (with `VMASST_TYPE_runstate_update_flag`).
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// A vCPU's runstate (`vcpu_runstate_info_t`).
#[doc(alias = "vcpu_runstate_info")]
#[doc(alias = "vcpu_runstate_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuRunstateInfo {
    /// OUT: a [`RunState`] number.
    pub state: i32,
    /// Padding; zero.
    pub pad0: u32,
    /// OUT: system time (ns) when `state` was entered; bit 63 is
    /// [`XEN_RUNSTATE_UPDATE`].
    pub state_entry_time: u64,
    /// OUT: time spent in each [`RunState`] (ns); the sum tracks system
    /// time.
    pub time: [u64; 4],
}
abi_layout!(VcpuRunstateInfo: size 48, state @ 0, state_entry_time @ 8, time @ 16);

/// Argument of `VCPUOP_register_runstate_memory_area` and
/// `VCPUOP_register_runstate_phys_area`
/// (`vcpu_register_runstate_memory_area_t`).
#[doc(alias = "vcpu_register_runstate_memory_area")]
#[doc(alias = "vcpu_register_runstate_memory_area_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuRegisterRunstateMemoryArea {
    /// IN: address of a [`VcpuRunstateInfo`]: guest-virtual for the
    /// memory-area command on PV, guest-physical for the phys-area one
    /// (Xen: union `addr.{h,v,p}`).
    pub addr: u64,
}
abi_layout!(VcpuRegisterRunstateMemoryArea: size 8, addr @ 0);

/// Argument of `VCPUOP_set_periodic_timer` (`vcpu_set_periodic_timer_t`).
#[doc(alias = "vcpu_set_periodic_timer")]
#[doc(alias = "vcpu_set_periodic_timer_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuSetPeriodicTimer {
    /// IN: period in ns (below 1 ms may be refused).
    pub period_ns: u64,
}
abi_layout!(VcpuSetPeriodicTimer: size 8, period_ns @ 0);

/// [`VcpuSetSingleshotTimer::flags`]: fail with `-ETIME` if the timeout is
/// already in the past.
pub const VCPU_SSHOTTMR_future: u32 = 1 << 0;

/// Argument of `VCPUOP_set_singleshot_timer`
/// (`vcpu_set_singleshot_timer_t`).
#[doc(alias = "vcpu_set_singleshot_timer")]
#[doc(alias = "vcpu_set_singleshot_timer_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuSetSingleshotTimer {
    /// IN: absolute system time (ns) of expiry.
    pub timeout_abs_ns: u64,
    /// IN: `VCPU_SSHOTTMR_*` flags.
    pub flags: u32,
    /// Padding; zero.
    pub pad0: u32,
}
abi_layout!(VcpuSetSingleshotTimer: size 16, timeout_abs_ns @ 0, flags @ 8);

/// Argument of `VCPUOP_register_vcpu_info` (`vcpu_register_vcpu_info_t`).
#[doc(alias = "vcpu_register_vcpu_info")]
#[doc(alias = "vcpu_register_vcpu_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuRegisterVcpuInfo {
    /// IN: frame to place the `vcpu_info` in.
    pub mfn: Mfn,
    /// IN: offset within the frame (the 64-byte structure must not cross
    /// the page end).
    pub offset: u32,
    /// Unused; zero.
    pub rsvd: u32,
}
abi_layout!(VcpuRegisterVcpuInfo: size 16, mfn @ 0, offset @ 8, rsvd @ 12);

/// Argument of `VCPUOP_get_physid` (`vcpu_get_physid_t`).
#[doc(alias = "vcpu_get_physid")]
#[doc(alias = "vcpu_get_physid_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuGetPhysid {
    /// OUT: on x86, APIC id in bits 31:0 and ACPI id in bits 63:32.
    pub phys_id: u64,
}
abi_layout!(VcpuGetPhysid: size 8, phys_id @ 0);

impl VcpuGetPhysid {
    /// The x86 APIC id (`xen_vcpu_physid_to_x86_apicid`).
    #[must_use]
    #[allow(clippy::cast_possible_truncation, reason = "low 32 bits by definition")]
    pub const fn apic_id(&self) -> u32 {
        self.phys_id as u32
    }

    /// The x86 ACPI id (`xen_vcpu_physid_to_x86_acpiid`).
    #[must_use]
    #[allow(clippy::cast_possible_truncation, reason = "high 32 bits by definition")]
    pub const fn acpi_id(&self) -> u32 {
        (self.phys_id >> 32) as u32
    }
}

/// Argument of `VCPUOP_register_vcpu_time_memory_area` and
/// `VCPUOP_register_vcpu_time_phys_area`
/// (`vcpu_register_time_memory_area_t`).
#[doc(alias = "vcpu_register_time_memory_area")]
#[doc(alias = "vcpu_register_time_memory_area_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuRegisterTimeMemoryArea {
    /// IN: address of a [`crate::xen::VcpuTimeInfo`] (virtual or physical,
    /// as for the runstate area).
    pub addr: u64,
}
abi_layout!(VcpuRegisterTimeMemoryArea: size 8, addr @ 0);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AbiBytes;

    #[test]
    fn numbers() {
        assert_eq!(VcpuOp::ALL.len(), 16);
        for (i, &op) in VcpuOp::ALL.iter().enumerate() {
            assert_eq!(op.raw() as usize, i);
            assert_eq!(VcpuOp::try_from(op.raw()), Ok(op));
        }
        assert!(VcpuOp::try_from(16).is_err());
        for &state in RunState::ALL {
            assert_eq!(RunState::try_from(state.raw()), Ok(state));
        }
        assert!(RunState::try_from(-1).is_err());
    }

    #[test]
    fn structs_round_trip() {
        let info = VcpuRunstateInfo {
            state: RunState::Running.raw(),
            pad0: 0,
            state_entry_time: XEN_RUNSTATE_UPDATE | 10,
            time: [1, 2, 3, 4],
        };
        let bytes = info.as_bytes();
        assert_eq!(bytes.get(15), Some(&0x80));
        assert_eq!(bytes.get(40..48), Some(&4u64.to_le_bytes()[..]));
        assert_eq!(VcpuRunstateInfo::from_bytes(bytes), Some(info));

        let reg = VcpuRegisterVcpuInfo { mfn: Mfn(0x1234), offset: 0x40, rsvd: 0 };
        assert_eq!(reg.as_bytes().get(8..12), Some(&0x40u32.to_le_bytes()[..]));
        assert_eq!(VcpuRegisterVcpuInfo::from_bytes(reg.as_bytes()), Some(reg));

        let timer =
            VcpuSetSingleshotTimer { timeout_abs_ns: 5, flags: VCPU_SSHOTTMR_future, pad0: 0 };
        assert_eq!(VcpuSetSingleshotTimer::from_bytes(timer.as_bytes()), Some(timer));

        let physid = VcpuGetPhysid { phys_id: (7 << 32) | 3 };
        assert_eq!((physid.apic_id(), physid.acpi_id()), (3, 7));
    }
}
