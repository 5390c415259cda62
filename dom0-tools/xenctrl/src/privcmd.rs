// SPDX-License-Identifier: GPL-2.0-only
//! Linux's privcmd device (`/dev/xen/privcmd`): `IOCTL_PRIVCMD_HYPERCALL`
//! issues one hypercall with up to five arguments on the caller's behalf.
//!
//! The ioctl's return value is the hypercall's (a non-negative result);
//! a `-errno` from the hypervisor comes back as the ioctl failing with that
//! errno, which Xen and Linux number alike on x86.

use std::os::fd::{AsRawFd, OwnedFd};

use guest_abi::xen::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::{Error, Result};

/// The device node.
pub const PRIVCMD_PATH: &str = "/dev/xen/privcmd";

/// `struct privcmd_hypercall` (Linux's `include/uapi/xen/privcmd.h`).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct PrivcmdHypercall {
    /// The hypercall number.
    pub op: u64,
    /// Its arguments.
    pub arg: [u64; 5],
}
const _: () = assert!(core::mem::size_of::<PrivcmdHypercall>() == 48);

/// `IOCTL_PRIVCMD_HYPERCALL`: `_IOC(_IOC_NONE, 'P', 0, sizeof(struct
/// privcmd_hypercall))`.
pub const IOCTL_PRIVCMD_HYPERCALL: u64 = (48 << 16) | ((b'P' as u64) << 8);

nix::ioctl_write_ptr_bad!(
    /// The raw ioctl.
    privcmd_hypercall,
    IOCTL_PRIVCMD_HYPERCALL,
    PrivcmdHypercall
);

/// An open privcmd device.
#[derive(Debug)]
pub struct Privcmd {
    fd: OwnedFd,
}

impl Privcmd {
    /// Opens [`PRIVCMD_PATH`] (close-on-exec).
    pub fn open() -> Result<Self> {
        let fd = nix::fcntl::open(PRIVCMD_PATH, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|source| Error::Open { path: PRIVCMD_PATH, source })?;
        Ok(Self { fd })
    }

    /// Issues hypercall `op` with `arg`. Every pointer among the arguments
    /// must point into a [`crate::buffer::HypercallBuffer`] that outlives
    /// the call (the callers in this crate guarantee it); the hypervisor
    /// checks every address it is given against the caller's page tables
    /// anyway, so a wrong one is `-EFAULT`, not memory corruption beyond
    /// what the hypercall was asked to write.
    pub fn hypercall(&self, what: &str, op: u64, arg: [u64; 5]) -> Result<i64> {
        let call = PrivcmdHypercall { op, arg };
        // SAFETY: `call` is a valid `privcmd_hypercall` for the duration of
        // the ioctl, which only reads it; the memory the hypercall itself
        // touches is the caller's contract above.
        let ret = unsafe { privcmd_hypercall(self.fd.as_raw_fd(), &raw const call) };
        match ret {
            Ok(v) => Ok(i64::from(v)),
            Err(e) => Err(Error::Hypercall {
                what: what.to_owned(),
                errno: Errno::from_neg_i64(i64::from(e as i32).saturating_neg())
                    .unwrap_or(Errno::EINVAL),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_number_is_linuxs() {
        // Linux: #define IOCTL_PRIVCMD_HYPERCALL _IOC(_IOC_NONE, 'P', 0, 48)
        assert_eq!(IOCTL_PRIVCMD_HYPERCALL, 0x0030_5000);
    }
}
