// SPDX-License-Identifier: GPL-2.0-only
//! Scheduler operations (`sched.h`): yield, block, poll and shutdown.
//!
//! Arguments of `HYPERVISOR_sched_op(cmd, arg)` ([`SchedOp`]) and the
//! shutdown reason codes ([`ShutdownReason`]). The legacy
//! `sched_op_compat(cmd, unsigned long arg)` (hypercall 6) takes the reason
//! directly as `arg` and supports only yield, block and shutdown.

use crate::xen::DomId;
use bytemuck::{Pod, Zeroable};

abi_enum! {
    /// Commands of `HYPERVISOR_sched_op` (`SCHEDOP_*`).
    pub enum SchedOp: u32 {
        /// Give up the CPU voluntarily. `arg` = NULL.
        Yield = 0 => "SCHEDOP_yield",
        /// Block until an event arrives; atomically unmasks event delivery
        /// and rechecks for pending events first. `arg` = NULL.
        Block = 1 => "SCHEDOP_block",
        /// Shut the calling domain down. `arg` = [`SchedShutdown`].
        Shutdown = 2 => "SCHEDOP_shutdown",
        /// Wait until one of a set of ports is pending or a timeout expires.
        /// `arg` = [`SchedPoll`].
        Poll = 3 => "SCHEDOP_poll",
        /// Shut another domain down (privileged). `arg` =
        /// [`SchedRemoteShutdown`].
        RemoteShutdown = 4 => "SCHEDOP_remote_shutdown",
        /// Record a shutdown code without shutting down (for suspend
        /// cancellation). `arg` = [`SchedShutdown`].
        ShutdownCode = 5 => "SCHEDOP_shutdown_code",
        /// Create, kick or destroy a domain watchdog. `arg` =
        /// [`SchedWatchdog`].
        Watchdog = 6 => "SCHEDOP_watchdog",
        /// Temporarily pin the calling vCPU to a physical CPU (hardware
        /// domain only). `arg` = [`SchedPinOverride`].
        PinOverride = 7 => "SCHEDOP_pin_override",
    }
}

abi_enum! {
    /// Reason codes of `SCHEDOP_shutdown` (`SHUTDOWN_*`), interpreted by the
    /// toolstack.
    pub enum ShutdownReason: u32 {
        /// The domain exited normally: clean up and destroy it.
        Poweroff = 0 => "SHUTDOWN_poweroff",
        /// Clean up, destroy and restart the domain.
        Reboot = 1 => "SHUTDOWN_reboot",
        /// Clean up and save the suspend information.
        Suspend = 2 => "SHUTDOWN_suspend",
        /// The domain crashed.
        Crash = 3 => "SHUTDOWN_crash",
        /// Restart because the watchdog expired.
        Watchdog = 4 => "SHUTDOWN_watchdog",
        /// Reset the domain's Xen state but keep its memory and vCPU
        /// contexts, so that it can set its interfaces up again.
        SoftReset = 5 => "SHUTDOWN_soft_reset",
    }
}

/// Largest valid [`ShutdownReason`] number (`SHUTDOWN_MAX`).
pub const SHUTDOWN_MAX: u32 = 5;

/// Argument of `SCHEDOP_shutdown` and `SCHEDOP_shutdown_code`
/// (`sched_shutdown_t`).
#[doc(alias = "sched_shutdown")]
#[doc(alias = "sched_shutdown_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SchedShutdown {
    /// IN: a [`ShutdownReason`] number.
    pub reason: u32,
}
abi_layout!(SchedShutdown: size 4, reason @ 0);

/// Argument of `SCHEDOP_poll` (`sched_poll_t`).
#[doc(alias = "sched_poll")]
#[doc(alias = "sched_poll_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SchedPoll {
    /// IN: guest address of an array of `evtchn_port_t`.
    pub ports: u64,
    /// IN: number of ports in the array.
    pub nr_ports: u32,
    /// Padding; zero.
    pub pad0: u32,
    /// IN: absolute system time (ns) to give up at; 0 = no timeout.
    pub timeout: u64,
}
abi_layout!(SchedPoll: size 24, ports @ 0, nr_ports @ 8, timeout @ 16);

/// Argument of `SCHEDOP_remote_shutdown` (`sched_remote_shutdown_t`).
#[doc(alias = "sched_remote_shutdown")]
#[doc(alias = "sched_remote_shutdown_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SchedRemoteShutdown {
    /// IN: domain to shut down.
    pub domain_id: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// IN: a [`ShutdownReason`] number.
    pub reason: u32,
}
abi_layout!(SchedRemoteShutdown: size 8, domain_id @ 0, reason @ 4);

/// Argument of `SCHEDOP_watchdog` (`sched_watchdog_t`).
#[doc(alias = "sched_watchdog")]
#[doc(alias = "sched_watchdog_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SchedWatchdog {
    /// IN: watchdog id (0 creates a new one, returned as the result).
    pub id: u32,
    /// IN: timeout in seconds (0 destroys watchdog `id`).
    pub timeout: u32,
}
abi_layout!(SchedWatchdog: size 8, id @ 0, timeout @ 4);

/// Argument of `SCHEDOP_pin_override` (`sched_pin_override_t`).
#[doc(alias = "sched_pin_override")]
#[doc(alias = "sched_pin_override_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SchedPinOverride {
    /// IN: physical CPU to pin to; negative undoes the override.
    pub pcpu: i32,
}
abi_layout!(SchedPinOverride: size 4, pcpu @ 0);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AbiBytes;

    #[test]
    fn numbers() {
        assert_eq!(SchedOp::ALL.len(), 8);
        for (i, &op) in SchedOp::ALL.iter().enumerate() {
            assert_eq!(op.raw() as usize, i);
            assert_eq!(SchedOp::try_from(op.raw()), Ok(op));
        }
        assert!(SchedOp::try_from(8).is_err());
        for &reason in ShutdownReason::ALL {
            assert_eq!(ShutdownReason::try_from(reason.raw()), Ok(reason));
            assert!(reason.raw() <= SHUTDOWN_MAX);
        }
        assert_eq!(ShutdownReason::Crash.raw(), 3);
        assert!(ShutdownReason::try_from(SHUTDOWN_MAX + 1).is_err());
    }

    #[test]
    fn poll_round_trip() {
        let poll = SchedPoll { ports: 0x7000, nr_ports: 3, pad0: 0, timeout: 1 };
        let bytes = poll.as_bytes();
        assert_eq!(bytes.get(8..12), Some(&3u32.to_le_bytes()[..]));
        assert_eq!(bytes.get(16..24), Some(&1u64.to_le_bytes()[..]));
        assert_eq!(SchedPoll::from_bytes(bytes), Some(poll));
        let remote = SchedRemoteShutdown { domain_id: DomId(4), pad0: 0, reason: 1 };
        assert_eq!(remote.as_bytes(), &[4, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            SchedShutdown::from_bytes(&2u32.to_le_bytes()),
            Some(SchedShutdown { reason: 2 })
        );
    }
}
