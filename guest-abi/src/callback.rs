// SPDX-License-Identifier: GPL-2.0-only
//! Guest callback registration (`callback.h`): event, failsafe, syscall.
//!
//! Arguments of `HYPERVISOR_callback_op(cmd, arg)` ([`CallbackOp`]). The
//! legacy x86_64 `set_callbacks(event, failsafe, syscall)` hypercall (4)
//! registers the first three types in one go.
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

use bytemuck::{Pod, Zeroable};

abi_enum! {
    /// Commands of `HYPERVISOR_callback_op` (`CALLBACKOP_*`).
    pub enum CallbackOp: u32 {
        /// Register a callback. `arg` = [`CallbackRegister`].
        Register = 0 => "CALLBACKOP_register",
        /// Unregister a callback (`-EINVAL` for types that cannot be
        /// unregistered). `arg` = [`CallbackUnregister`].
        Unregister = 1 => "CALLBACKOP_unregister",
    }
}

abi_enum! {
    /// Callback kinds (`CALLBACKTYPE_*`), in [`CallbackRegister::ty`].
    pub enum CallbackType: u16 {
        /// Event-channel upcall entry point.
        Event = 0 => "CALLBACKTYPE_event",
        /// Entry point used when Xen cannot restore guest state (bad segment
        /// on return).
        Failsafe = 1 => "CALLBACKTYPE_failsafe",
        /// `SYSCALL` from a 64-bit guest application.
        Syscall = 2 => "CALLBACKTYPE_syscall",
        /// Old number of `sysenter` (guests built for interface versions
        /// before 0x00030207 pass 3 for [`CallbackType::Sysenter`]).
        SysenterDeprecated = 3 => "CALLBACKTYPE_sysenter_deprecated",
        /// NMI delivery.
        Nmi = 4 => "CALLBACKTYPE_nmi",
        /// `SYSENTER` from a 32-bit guest application (Intel CPUs).
        Sysenter = 5 => "CALLBACKTYPE_sysenter",
        /// `SYSCALL` from a 32-bit guest application (AMD CPUs).
        Syscall32 = 7 => "CALLBACKTYPE_syscall32",
    }
}

/// [`CallbackRegister::flags`]: mask event delivery while the callback runs
/// (ignored for event and NMI callbacks, which always mask).
pub const CALLBACKF_mask_events: u16 = 1 << 0;

/// Argument of `CALLBACKOP_register` (`callback_register_t`).
#[doc(alias = "callback_register")]
#[doc(alias = "callback_register_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct CallbackRegister {
    /// IN: a [`CallbackType`] number (Xen: `type`).
    pub ty: u16,
    /// IN: `CALLBACKF_*` flags.
    pub flags: u16,
    /// Padding; zero.
    pub pad0: u32,
    /// IN: callback entry address (`xen_callback_t`).
    pub address: u64,
}
abi_layout!(CallbackRegister: size 16, ty @ 0, flags @ 2, address @ 8);

/// Argument of `CALLBACKOP_unregister` (`callback_unregister_t`).
#[doc(alias = "callback_unregister")]
#[doc(alias = "callback_unregister_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct CallbackUnregister {
    /// IN: a [`CallbackType`] number (Xen: `type`).
    pub ty: u16,
    /// Unused; zero (Xen: `_unused`).
    pub unused: u16,
}
abi_layout!(CallbackUnregister: size 4, ty @ 0, unused @ 2);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AbiBytes;

    #[test]
    fn numbers() {
        for &op in CallbackOp::ALL {
            assert_eq!(CallbackOp::try_from(op.raw()), Ok(op));
        }
        for &ty in CallbackType::ALL {
            assert_eq!(CallbackType::try_from(ty.raw()), Ok(ty));
        }
        assert_eq!(CallbackType::Sysenter.raw(), 5);
        assert_eq!(CallbackType::Syscall32.raw(), 7);
        assert!(CallbackType::try_from(6).is_err());
        assert!(CallbackOp::try_from(2).is_err());
    }

    #[test]
    fn register_round_trip() {
        let reg = CallbackRegister {
            ty: CallbackType::Syscall.raw(),
            flags: CALLBACKF_mask_events,
            pad0: 0,
            address: 0xffff_ffff_8100_1000,
        };
        let bytes = reg.as_bytes();
        assert_eq!(bytes.get(..4), Some(&[2, 0, 1, 0][..]));
        assert_eq!(bytes.get(8..), Some(&0xffff_ffff_8100_1000u64.to_le_bytes()[..]));
        assert_eq!(CallbackRegister::from_bytes(bytes), Some(reg));
        let unreg = CallbackUnregister { ty: 4, unused: 0 };
        assert_eq!(CallbackUnregister::from_bytes(unreg.as_bytes()), Some(unreg));
    }
}
