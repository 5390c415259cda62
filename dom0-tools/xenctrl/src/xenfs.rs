// SPDX-License-Identifier: GPL-2.0-only
//! Dom0's own xenstore ring through xenfs (`/proc/xen`, module `xenfs`).
//!
//! A Linux dom0 with no xenstore domain allocates its xenstore ring page
//! and an unbound event-channel port for it at boot (`xenstored_local_init`:
//! the port's remote end is dom0 itself) and waits for a daemon. xenfs
//! offers both to that daemon: `/proc/xen/xsd_kva` maps the page (one page
//! at offset 0, shared with the kernel) and `/proc/xen/xsd_port` reads as
//! the port number in decimal. Xen's xenstored reads them in
//! `xenbus_evtchn` and `xenbus_map`.

use core::num::NonZeroUsize;
use core::ptr::NonNull;
use std::path::Path;

use guest_abi::xen::EvtchnPort;
use nix::fcntl::OFlag;
use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::stat::Mode;

use crate::{Error, Result};

/// The file mapping dom0's xenstore ring.
pub const XSD_KVA_PATH: &str = "/proc/xen/xsd_kva";
/// The file holding dom0's xenstore port.
pub const XSD_PORT_PATH: &str = "/proc/xen/xsd_port";

/// The ring page's size.
pub const PAGE_SIZE: usize = 4096;

/// Parses `xsd_port`'s text (a decimal number, maybe with a newline).
#[must_use]
pub fn parse_port(text: &str) -> Option<EvtchnPort> {
    text.trim().parse::<u32>().ok().filter(|&p| p != 0).map(EvtchnPort)
}

/// Dom0's xenstore port, from [`XSD_PORT_PATH`].
pub fn xsd_port() -> Result<EvtchnPort> {
    let text = std::fs::read_to_string(XSD_PORT_PATH).map_err(|e| Error::Open {
        path: XSD_PORT_PATH,
        source: nix::Error::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO)),
    })?;
    parse_port(&text).ok_or(Error::Open { path: XSD_PORT_PATH, source: nix::Error::EINVAL })
}

/// Whether this dom0 offers its xenstore ring (xenfs mounted, no
/// xenstore domain).
#[must_use]
pub fn has_xsd_kva() -> bool {
    Path::new(XSD_KVA_PATH).exists()
}

/// Dom0's xenstore ring page, mapped from [`XSD_KVA_PATH`]; unmapped when
/// dropped.
#[derive(Debug)]
pub struct XsdKva {
    ptr: NonNull<u8>,
}

impl XsdKva {
    /// Maps the page (readable and writable, shared with the kernel).
    pub fn map() -> Result<Self> {
        let open_err = |source| Error::Open { path: XSD_KVA_PATH, source };
        let fd = nix::fcntl::open(XSD_KVA_PATH, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(open_err)?;
        let size = NonZeroUsize::new(PAGE_SIZE).ok_or(open_err(nix::Error::EINVAL))?;
        // SAFETY: a new shared mapping of the file's one page; no existing
        // memory is affected. The descriptor may close afterwards.
        let ptr = unsafe {
            nix::sys::mman::mmap(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &fd,
                0,
            )
        }
        .map_err(open_err)?;
        Ok(Self { ptr: ptr.cast() })
    }

    /// The page's address in this process (shared with the kernel, which
    /// changes it at any moment).
    #[must_use]
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }
}

impl Drop for XsdKva {
    fn drop(&mut self) {
        // SAFETY: the page mapped in `map`, no longer used.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), PAGE_SIZE) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_text_parses_as_linux_prints_it() {
        assert_eq!(parse_port("3\n"), Some(EvtchnPort(3)));
        assert_eq!(parse_port("17"), Some(EvtchnPort(17)));
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("x"), None);
        assert_eq!(parse_port(""), None);
    }
}
