// SPDX-License-Identifier: GPL-2.0-only
//! Linux's event-channel device (`/dev/xen/evtchn`, module `xen-evtchn`;
//! `include/uapi/xen/evtchn.h`): event channels for a user process, the
//! role of Xen's `libxenevtchn`.
//!
//! Each `IOCTL_EVTCHN_BIND_*` binds a new local port of dom0 to this open
//! file and returns its number; when the port fires, the kernel masks it
//! and queues its number, so the file polls readable and `read()` yields
//! the pending ports (`u32` each). Writing a port number back unmasks it:
//! [`Evtchn::pending`] reads, [`Evtchn::unmask`] writes. The file is
//! opened non-blocking so that reading never waits.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use guest_abi::xen::{DomId, Errno, EvtchnPort, Virq};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::{Error, Result};

/// The device node.
pub const EVTCHN_PATH: &str = "/dev/xen/evtchn";

/// `_IOC(_IOC_NONE, 'E', nr, size)`.
const fn ioc_e(nr: u64, size: u64) -> u64 {
    (size << 16) | ((b'E' as u64) << 8) | nr
}

/// `struct ioctl_evtchn_bind_virq`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct IoctlEvtchnBindVirq {
    /// The `VIRQ_*` number.
    pub virq: u32,
}
/// `struct ioctl_evtchn_bind_interdomain`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct IoctlEvtchnBindInterdomain {
    /// The remote domain.
    pub remote_domain: u32,
    /// Its unbound port waiting for dom0.
    pub remote_port: u32,
}
/// `struct ioctl_evtchn_bind_unbound_port`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct IoctlEvtchnBindUnboundPort {
    /// The domain that may bind the new port.
    pub remote_domain: u32,
}
/// `struct ioctl_evtchn_unbind` and `struct ioctl_evtchn_notify`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct IoctlEvtchnPort {
    /// A local port bound through this file.
    pub port: u32,
}
const _: () = assert!(core::mem::size_of::<IoctlEvtchnBindInterdomain>() == 8);
const _: () = assert!(core::mem::size_of::<IoctlEvtchnPort>() == 4);

/// `IOCTL_EVTCHN_BIND_VIRQ`.
pub const IOCTL_EVTCHN_BIND_VIRQ: u64 = ioc_e(0, 4);
/// `IOCTL_EVTCHN_BIND_INTERDOMAIN`.
pub const IOCTL_EVTCHN_BIND_INTERDOMAIN: u64 = ioc_e(1, 8);
/// `IOCTL_EVTCHN_BIND_UNBOUND_PORT`.
pub const IOCTL_EVTCHN_BIND_UNBOUND_PORT: u64 = ioc_e(2, 4);
/// `IOCTL_EVTCHN_UNBIND`.
pub const IOCTL_EVTCHN_UNBIND: u64 = ioc_e(3, 4);
/// `IOCTL_EVTCHN_NOTIFY`.
pub const IOCTL_EVTCHN_NOTIFY: u64 = ioc_e(4, 4);
/// `IOCTL_EVTCHN_RESET`.
pub const IOCTL_EVTCHN_RESET: u64 = ioc_e(5, 0);

nix::ioctl_write_ptr_bad!(
    /// The raw ioctl.
    bind_virq, IOCTL_EVTCHN_BIND_VIRQ, IoctlEvtchnBindVirq);
nix::ioctl_write_ptr_bad!(
    /// The raw ioctl.
    bind_interdomain,
    IOCTL_EVTCHN_BIND_INTERDOMAIN,
    IoctlEvtchnBindInterdomain
);
nix::ioctl_write_ptr_bad!(
    /// The raw ioctl.
    bind_unbound, IOCTL_EVTCHN_BIND_UNBOUND_PORT, IoctlEvtchnBindUnboundPort);
nix::ioctl_write_ptr_bad!(
    /// The raw ioctl.
    unbind, IOCTL_EVTCHN_UNBIND, IoctlEvtchnPort);
nix::ioctl_write_ptr_bad!(
    /// The raw ioctl.
    notify, IOCTL_EVTCHN_NOTIFY, IoctlEvtchnPort);
nix::ioctl_none_bad!(
    /// The raw ioctl.
    reset, IOCTL_EVTCHN_RESET);

/// The error of a failed device call, named for `what`.
fn failed(what: &str, e: nix::Error) -> Error {
    Error::Hypercall {
        what: what.to_owned(),
        errno: Errno::from_neg_i64(i64::from(e as i32).saturating_neg()).unwrap_or(Errno::EINVAL),
    }
}

/// A port number the kernel returned.
fn port_of(what: &str, ret: nix::Result<i32>) -> Result<EvtchnPort> {
    let v = ret.map_err(|e| failed(what, e))?;
    u32::try_from(v).map(EvtchnPort).map_err(|_| failed(what, nix::Error::EINVAL))
}

/// Splits what `read()` returned into port numbers (whole `u32`s only).
#[must_use]
pub fn ports_from_bytes(bytes: &[u8]) -> Vec<EvtchnPort> {
    bytes
        .chunks_exact(4)
        .filter_map(|c| <[u8; 4]>::try_from(c).ok())
        .map(|w| EvtchnPort(u32::from_ne_bytes(w)))
        .collect()
}

/// An open event-channel device (`xenevtchn_handle`).
#[derive(Debug)]
pub struct Evtchn {
    fd: OwnedFd,
}

impl Evtchn {
    /// Opens [`EVTCHN_PATH`] (non-blocking, close-on-exec).
    pub fn open() -> Result<Self> {
        let flags = OFlag::O_RDWR | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let fd = nix::fcntl::open(EVTCHN_PATH, flags, Mode::empty())
            .map_err(|source| Error::Open { path: EVTCHN_PATH, source })?;
        Ok(Self { fd })
    }

    /// `IOCTL_EVTCHN_BIND_VIRQ`: a port for the global or per-vCPU `virq`.
    pub fn bind_virq(&self, virq: Virq) -> Result<EvtchnPort> {
        let arg = IoctlEvtchnBindVirq { virq: virq.raw() };
        // SAFETY: `arg` is a valid `ioctl_evtchn_bind_virq` for the
        // duration of the call, which only reads it.
        port_of("IOCTL_EVTCHN_BIND_VIRQ", unsafe { bind_virq(self.fd.as_raw_fd(), &raw const arg) })
    }

    /// `IOCTL_EVTCHN_BIND_INTERDOMAIN`: a local port connected to
    /// `remote_port` of `domid` (which that domain allocated unbound for
    /// dom0).
    pub fn bind_interdomain(&self, domid: DomId, remote_port: EvtchnPort) -> Result<EvtchnPort> {
        let arg = IoctlEvtchnBindInterdomain {
            remote_domain: u32::from(domid.0),
            remote_port: remote_port.0,
        };
        // SAFETY: as in `bind_virq`.
        let ret = unsafe { bind_interdomain(self.fd.as_raw_fd(), &raw const arg) };
        port_of("IOCTL_EVTCHN_BIND_INTERDOMAIN", ret)
    }

    /// `IOCTL_EVTCHN_BIND_UNBOUND_PORT`: a new local port that `domid` may
    /// bind to.
    pub fn bind_unbound_port(&self, domid: DomId) -> Result<EvtchnPort> {
        let arg = IoctlEvtchnBindUnboundPort { remote_domain: u32::from(domid.0) };
        // SAFETY: as in `bind_virq`.
        let ret = unsafe { bind_unbound(self.fd.as_raw_fd(), &raw const arg) };
        port_of("IOCTL_EVTCHN_BIND_UNBOUND_PORT", ret)
    }

    /// `IOCTL_EVTCHN_UNBIND`: closes a local port bound through this file.
    pub fn unbind(&self, port: EvtchnPort) -> Result<()> {
        let arg = IoctlEvtchnPort { port: port.0 };
        // SAFETY: as in `bind_virq`.
        let ret = unsafe { unbind(self.fd.as_raw_fd(), &raw const arg) };
        ret.map(drop).map_err(|e| failed("IOCTL_EVTCHN_UNBIND", e))
    }

    /// `IOCTL_EVTCHN_NOTIFY`: signals the other end of a local port.
    pub fn notify(&self, port: EvtchnPort) -> Result<()> {
        let arg = IoctlEvtchnPort { port: port.0 };
        // SAFETY: as in `bind_virq`.
        let ret = unsafe { notify(self.fd.as_raw_fd(), &raw const arg) };
        ret.map(drop).map_err(|e| failed("IOCTL_EVTCHN_NOTIFY", e))
    }

    /// `IOCTL_EVTCHN_RESET`: empties the queue of pending ports (after it
    /// overflowed: `read()` then fails with `EFBIG`).
    pub fn reset(&self) -> Result<()> {
        // SAFETY: the ioctl takes no argument.
        let ret = unsafe { reset(self.fd.as_raw_fd()) };
        ret.map(drop).map_err(|e| failed("IOCTL_EVTCHN_RESET", e))
    }

    /// The ports that fired since the last call (each masked until
    /// [`Evtchn::unmask`]); empty when none did.
    pub fn pending(&self) -> Result<Vec<EvtchnPort>> {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(&self.fd, &mut buf) {
            Ok(n) => Ok(ports_from_bytes(buf.get(..n).unwrap_or(&[]))),
            Err(nix::Error::EAGAIN | nix::Error::EINTR) => Ok(Vec::new()),
            Err(e) => Err(failed("read /dev/xen/evtchn", e)),
        }
    }

    /// Unmasks `ports` (writes them back), so that they can fire again.
    pub fn unmask(&self, ports: &[EvtchnPort]) -> Result<()> {
        if ports.is_empty() {
            return Ok(());
        }
        let bytes: Vec<u8> = ports.iter().flat_map(|p| p.0.to_ne_bytes()).collect();
        let n = nix::unistd::write(&self.fd, &bytes).map_err(|e| failed("unmask", e))?;
        if n == bytes.len() { Ok(()) } else { Err(failed("unmask", nix::Error::EIO)) }
    }
}

impl AsFd for Evtchn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_are_linuxs() {
        // Linux: _IOC(_IOC_NONE, 'E', nr, sizeof(struct ...)).
        assert_eq!(IOCTL_EVTCHN_BIND_VIRQ, 0x0004_4500);
        assert_eq!(IOCTL_EVTCHN_BIND_INTERDOMAIN, 0x0008_4501);
        assert_eq!(IOCTL_EVTCHN_BIND_UNBOUND_PORT, 0x0004_4502);
        assert_eq!(IOCTL_EVTCHN_UNBIND, 0x0004_4503);
        assert_eq!(IOCTL_EVTCHN_NOTIFY, 0x0004_4504);
        assert_eq!(IOCTL_EVTCHN_RESET, 0x0000_4505);
    }

    #[test]
    fn pending_ports_are_whole_words() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&7u32.to_ne_bytes());
        bytes.extend_from_slice(&300u32.to_ne_bytes());
        bytes.push(1);
        assert_eq!(ports_from_bytes(&bytes), vec![EvtchnPort(7), EvtchnPort(300)]);
        assert!(ports_from_bytes(&[1, 2]).is_empty());
    }
}
