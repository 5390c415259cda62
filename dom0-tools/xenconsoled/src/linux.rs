// SPDX-License-Identifier: GPL-2.0-only
//! The Linux dom0 bindings behind [`crate::xen::XenHypervisor`]: console
//! pages mapped by grant through `/dev/xen/gntdev` (`xenctrl::gntdev`) and
//! one `/dev/xen/evtchn` handle per console (`xenctrl::evtchn`), as Xen
//! 4.17's daemon opens them. The foreign-mapping fallback (`ring-ref` by
//! frame) needs privcmd's `MMAPBATCH_V2`, which `xenctrl` does not offer
//! yet: it answers `Unsupported`, and the daemon logs it (Xen's builder
//! always seeds the console grant, which is tried first).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr::NonNull;

use guest_abi::io::console::XenconsInterface;
use guest_abi::xen::{DomId, EvtchnPort, GrantRef, Mfn};
use xenctrl::evtchn::Evtchn;
use xenctrl::gntdev::{Gntdev, GrantMapping};

use crate::backend::EventChannel;
use crate::ring::ConsolePage;
use crate::xen::{ConsoleMapper, EvtchnBinder, MappedConsolePage};

/// `xenctrl`'s errors as I/O errors.
fn io_err(e: xenctrl::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// Console pages mapped through gntdev.
#[derive(Debug)]
pub struct GntdevMapper {
    gntdev: Gntdev,
}

impl GntdevMapper {
    /// Opens `/dev/xen/gntdev`.
    pub fn open() -> xenctrl::Result<Self> {
        Ok(Self { gntdev: Gntdev::open()? })
    }
}

impl ConsoleMapper for GntdevMapper {
    fn map_grant(&mut self, domid: DomId, gref: GrantRef) -> io::Result<Box<dyn ConsolePage>> {
        let mapping: GrantMapping = self.gntdev.map_grant_ref(domid, gref).map_err(io_err)?;
        let page: NonNull<XenconsInterface> = mapping.as_ptr().cast();
        // SAFETY: `mapping` is a read-write mapping of one whole page
        // (page-aligned, larger than `XenconsInterface`), unmapped only when
        // it is dropped, which `MappedConsolePage` does after its last
        // access; nothing here holds a reference into it.
        Ok(Box::new(unsafe { MappedConsolePage::new(page, mapping) }))
    }

    fn map_foreign(&mut self, _domid: DomId, _mfn: Mfn) -> io::Result<Box<dyn ConsolePage>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "foreign mapping of console/ring-ref: not in xenctrl yet (the console grant is used)",
        ))
    }
}

/// One `/dev/xen/evtchn` handle per console.
#[derive(Debug, Default)]
pub struct EvtchnDevice;

impl EvtchnBinder for EvtchnDevice {
    fn bind_interdomain(
        &mut self,
        domid: DomId,
        remote: EvtchnPort,
    ) -> io::Result<Box<dyn EventChannel>> {
        let dev = Evtchn::open().map_err(io_err)?;
        let local = dev.bind_interdomain(domid, remote).map_err(io_err)?;
        Ok(Box::new(BoundPort { dev, local }))
    }
}

/// A console's bound port and its handle (closing the handle unbinds it).
#[derive(Debug)]
struct BoundPort {
    dev: Evtchn,
    local: EvtchnPort,
}

impl AsFd for BoundPort {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dev.as_fd()
    }
}

impl EventChannel for BoundPort {
    fn local_port(&self) -> EvtchnPort {
        self.local
    }

    fn notify(&mut self) -> io::Result<()> {
        self.dev.notify(self.local).map_err(io_err)
    }

    fn pending(&mut self) -> io::Result<Option<EvtchnPort>> {
        Ok(self.dev.pending().map_err(io_err)?.into_iter().next())
    }

    fn unmask(&mut self) -> io::Result<()> {
        self.dev.unmask(&[self.local]).map_err(io_err)
    }
}
