// SPDX-License-Identifier: GPL-2.0-only
//! [`LinuxSys`]: the ring transport's system calls in a Linux dom0, through
//! `xenctrl`: `/dev/xen/evtchn` for the ports, `/dev/xen/gntdev` for
//! domUs' pages, xenfs for dom0's own, privcmd for the domain list.
//!
//! [`start`] is Xen 4.17's `domain_init` + `dom0_init`: open the devices,
//! bind `VIRQ_DOM_EXC`, then serve dom0's ring.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};

use guest_abi::domctl::{XEN_DOMINF_dying, XEN_DOMINF_shutdown};
use guest_abi::grant_table::GNTTAB_RESERVED_XENSTORE;
use guest_abi::io::xs_wire::XsdError;
use guest_abi::xen::{DomId, EvtchnPort, GrantRef, Mfn, Virq};
use xenctrl::evtchn::Evtchn;
use xenctrl::gntdev::Gntdev;
use xenctrl::xenfs::{self, XsdKva};
use xenctrl::{Error, Xc};

use super::{RingSys, Rings};
use crate::core::{DomainStatus, Xenstored};
use crate::ring::shared::{Mapping, SharedPage};

/// The error a failed system call gives the toolstack's request: its
/// errno if the protocol has a name for it, else `EINVAL` (Xen's
/// `send_error` for an untranslatable errno).
#[must_use]
pub fn xs_error(err: &Error) -> XsdError {
    match err {
        Error::Hypercall { errno, .. } => {
            XsdError::from_name(errno.xen_name().as_bytes()).unwrap_or(XsdError::EINVAL)
        }
        Error::Open { source, .. } | Error::Buffer(source) => {
            XsdError::from_name(format!("{source:?}").as_bytes()).unwrap_or(XsdError::EINVAL)
        }
    }
}

/// The devices of a Linux dom0.
#[derive(Debug)]
pub struct LinuxSys {
    evtchn: Evtchn,
    gntdev: Gntdev,
    xc: Xc,
}

impl LinuxSys {
    /// Opens privcmd, evtchn and gntdev.
    ///
    /// # Errors
    /// When a device cannot be opened.
    pub fn open() -> Result<Self, Error> {
        Ok(Self { xc: Xc::open()?, evtchn: Evtchn::open()?, gntdev: Gntdev::open()? })
    }
}

impl AsFd for LinuxSys {
    /// The event-channel device, readable when ports fired.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.evtchn.as_fd()
    }
}

impl RingSys for LinuxSys {
    type Page = SharedPage;

    fn map_ring(&mut self, domid: DomId, _mfn: Mfn) -> Result<SharedPage, XsdError> {
        let gref = GrantRef(GNTTAB_RESERVED_XENSTORE);
        match self.gntdev.map_grant_ref(domid, gref) {
            Ok(m) => Ok(SharedPage::new(Mapping::Grant(m))),
            Err(e) => {
                eprintln!("xenstored: domain {}: mapping its ring: {e}", domid.0);
                Err(xs_error(&e))
            }
        }
    }

    fn bind_interdomain(&mut self, domid: DomId, port: EvtchnPort) -> Result<EvtchnPort, XsdError> {
        self.evtchn.bind_interdomain(domid, port).map_err(|e| {
            eprintln!("xenstored: domain {}: binding port {}: {e}", domid.0, port.0);
            xs_error(&e)
        })
    }

    fn unbind(&mut self, port: EvtchnPort) {
        if let Err(e) = self.evtchn.unbind(port) {
            eprintln!("xenstored: unbinding port {}: {e}", port.0);
        }
    }

    fn notify(&mut self, port: EvtchnPort) {
        if let Err(e) = self.evtchn.notify(port) {
            eprintln!("xenstored: notifying port {}: {e}", port.0);
        }
    }

    fn pending(&mut self) -> Vec<EvtchnPort> {
        match self.evtchn.pending() {
            Ok(ports) => ports,
            Err(e) => {
                // An overflowed queue (EFBIG): start over; every ring is
                // pumped anyway.
                eprintln!("xenstored: reading event channels: {e}");
                let _ = self.evtchn.reset();
                Vec::new()
            }
        }
    }

    fn unmask(&mut self, ports: &[EvtchnPort]) {
        if let Err(e) = self.evtchn.unmask(ports) {
            eprintln!("xenstored: unmasking ports: {e}");
        }
    }

    fn domains(&mut self) -> Result<BTreeMap<DomId, DomainStatus>, String> {
        let list = self.xc.all_domains().map_err(|e| e.to_string())?;
        Ok(list
            .iter()
            .map(|d| {
                let status = if d.flags & XEN_DOMINF_dying != 0 {
                    DomainStatus::Dying
                } else if d.flags & XEN_DOMINF_shutdown != 0 {
                    DomainStatus::Shutdown
                } else {
                    DomainStatus::Running
                };
                (d.domain, status)
            })
            .collect())
    }
}

/// Xen's `domain_init` and `dom0_init`: opens the devices, binds
/// `VIRQ_DOM_EXC` and serves dom0's own ring (`/proc/xen/xsd_kva` and
/// `xsd_port`). Returns the transport and dom0's local port.
///
/// # Errors
/// What failed, in words.
pub fn start(daemon: &mut Xenstored) -> Result<(Rings<LinuxSys>, EvtchnPort), String> {
    let sys = LinuxSys::open().map_err(|e| e.to_string())?;
    let virq =
        sys.evtchn.bind_virq(Virq::DomExc).map_err(|e| format!("binding VIRQ_DOM_EXC: {e}"))?;
    let mut rings = Rings::new(sys);
    rings.set_virq(virq);
    let port = xenfs::xsd_port().map_err(|e| e.to_string())?;
    let page = XsdKva::map().map_err(|e| e.to_string())?;
    let local = rings
        .serve_dom0(daemon, SharedPage::new(Mapping::Kva(page)), port)
        .map_err(|e| format!("binding dom0's xenstore port {}: {}", port.0, e.xen_name()))?;
    Ok((rings, local))
}
