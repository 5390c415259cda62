// SPDX-License-Identifier: GPL-2.0-only
//! The ring transport: every domain's xenstore ring page and event
//! channel, served next to the Unix socket (Xen 4.17's
//! `xenstored_domain.c`).
//!
//! * Dom0's own ring ([`Rings::serve_dom0`], Xen's `dom0_init`): the kernel
//!   allocated the page and an unbound port whose remote end is dom0
//!   itself; the daemon maps the page (`/proc/xen/xsd_kva`), binds an
//!   interdomain port to the kernel's and notifies it once, which wakes
//!   the kernel's xenbus (`xenbus_probe`): from then on dom0's kernel and
//!   its `/dev/xen/xenbus` users reach the daemon through the ring. Its
//!   indexes are left as they are (requests may be waiting).
//! * A domU's ring, on `XS_INTRODUCE domid mfn port` ([`Introducer`], a
//!   [`DomainRings`]): its page is mapped through its grant reference 1
//!   (`GNTTAB_RESERVED_XENSTORE`, as Xen 4.17's `map_interface`; the frame
//!   number is not used), its port bound; either failing fails the
//!   request. The connection starts over with zeroed indexes
//!   (`domain_conn_reset`); a domain waiting in `XENSTORE_RECONNECT` is
//!   set `XENSTORE_CONNECTED` and notified.
//! * `VIRQ_DOM_EXC` ([`Rings::set_virq`]): on each such event the
//!   hypervisor's domain list goes to [`Xenstored::domains_changed`]
//!   (`check_domains`); a domain that is dying or gone is released there,
//!   and [`Rings::pump_all`] then unbinds its port and unmaps its page.
//! * A ring whose indexes are out of range or which announces an
//!   oversized message is given up ([`crate::ring::RingConn::pump`] writes
//!   the `error` field): its connection is dropped, its page no longer
//!   read, the domain stays introduced until it is released (Xen's
//!   `ignore_connection`).
//!
//! Nothing here blocks: every ring is pumped as far as it goes, after
//! every event and every socket request (Xen scans every connection on
//! every turn of its loop). The system calls are a [`RingSys`], so that
//! the whole transport is host-tested with pages in memory; [`linux`] is
//! the real one.

pub mod linux;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use guest_abi::io::xs_wire::XsdError;
use guest_abi::xen::{DomId, EvtchnPort, Mfn};

use crate::core::{DomainRings, DomainStatus, Xenstored};
use crate::ring::{RingConn, RingPage};

/// The system half of the ring transport.
pub trait RingSys {
    /// A mapped ring page.
    type Page: RingPage;

    /// Maps `domid`'s xenstore ring page (its frame is `mfn`).
    ///
    /// # Errors
    /// The error the introduction fails with.
    fn map_ring(&mut self, domid: DomId, mfn: Mfn) -> Result<Self::Page, XsdError>;

    /// Binds a local port to `domid`'s unbound `port`.
    ///
    /// # Errors
    /// The error the introduction fails with.
    fn bind_interdomain(&mut self, domid: DomId, port: EvtchnPort) -> Result<EvtchnPort, XsdError>;

    /// Closes a local port.
    fn unbind(&mut self, port: EvtchnPort);

    /// Signals the other end of a local port.
    fn notify(&mut self, port: EvtchnPort);

    /// The ports that fired (masked until [`RingSys::unmask`]).
    fn pending(&mut self) -> Vec<EvtchnPort>;

    /// Unmasks ports returned by [`RingSys::pending`].
    fn unmask(&mut self, ports: &[EvtchnPort]);

    /// The hypervisor's view of every existing domain.
    ///
    /// # Errors
    /// When the hypervisor could not be asked (nothing then changes).
    fn domains(&mut self) -> Result<BTreeMap<DomId, DomainStatus>, String>;
}

/// One served ring.
#[derive(Debug)]
struct Ring<P> {
    conn: RingConn<P>,
    /// The daemon's local port (none after a failed rebind).
    port: Option<EvtchnPort>,
    /// Given up after a protocol error.
    broken: bool,
}

/// Work an introduction leaves for after the request.
#[derive(Debug)]
enum Pending<P> {
    /// A new ring, mapped and bound.
    New { domid: DomId, page: P, port: EvtchnPort },
    /// A known domain introduced again with `port`.
    Rebind { domid: DomId, port: EvtchnPort },
}

/// The [`DomainRings`] the daemon calls while a request is handled.
pub struct Introducer<'a, S: RingSys> {
    sys: &'a mut S,
    pending: &'a mut Vec<Pending<S::Page>>,
}

impl<S: RingSys> DomainRings for Introducer<'_, S> {
    fn introduce(&mut self, domid: DomId, mfn: Mfn, port: EvtchnPort) -> Result<(), XsdError> {
        let page = self.sys.map_ring(domid, mfn)?;
        let port = self.sys.bind_interdomain(domid, port)?;
        self.pending.push(Pending::New { domid, page, port });
        Ok(())
    }

    fn reintroduce(&mut self, domid: DomId, port: EvtchnPort) {
        self.pending.push(Pending::Rebind { domid, port });
    }
}

/// Every served ring, with the system calls behind them.
#[derive(Debug)]
pub struct Rings<S: RingSys> {
    sys: S,
    rings: BTreeMap<DomId, Ring<S::Page>>,
    pending: Vec<Pending<S::Page>>,
    virq: Option<EvtchnPort>,
}

impl<S: RingSys> Rings<S> {
    /// No rings yet.
    pub fn new(sys: S) -> Self {
        Self { sys, rings: BTreeMap::new(), pending: Vec::new(), virq: None }
    }

    /// The system calls.
    pub fn sys(&self) -> &S {
        &self.sys
    }

    /// The system calls, mutably (tests).
    pub fn sys_mut(&mut self) -> &mut S {
        &mut self.sys
    }

    /// The local port bound to `VIRQ_DOM_EXC`.
    pub fn set_virq(&mut self, port: EvtchnPort) {
        self.virq = Some(port);
    }

    /// The domains whose rings are served (given-up ones included).
    pub fn served(&self) -> impl Iterator<Item = DomId> + '_ {
        self.rings.keys().copied()
    }

    /// Whether `domid`'s ring was given up.
    #[must_use]
    pub fn is_broken(&self, domid: DomId) -> bool {
        self.rings.get(&domid).is_some_and(|r| r.broken)
    }

    /// The local port of `domid`'s ring.
    #[must_use]
    pub fn port(&self, domid: DomId) -> Option<EvtchnPort> {
        self.rings.get(&domid).and_then(|r| r.port)
    }

    /// `domid`'s page (tests).
    pub fn page_mut(&mut self, domid: DomId) -> Option<&mut S::Page> {
        self.rings.get_mut(&domid).map(|r| &mut r.conn.page)
    }

    /// The hook for requests handled outside a ring (socket connections).
    pub fn introducer(&mut self) -> Introducer<'_, S> {
        Introducer { sys: &mut self.sys, pending: &mut self.pending }
    }

    /// Serves dom0's own ring `page`, whose kernel waits on its unbound
    /// `port` (Xen's `dom0_init`), and wakes the kernel.
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub fn serve_dom0(
        &mut self,
        daemon: &mut Xenstored,
        page: S::Page,
        port: EvtchnPort,
    ) -> Result<EvtchnPort, XsdError> {
        let local = self.sys.bind_interdomain(DomId(0), port)?;
        let id = daemon.connect(DomId(0));
        let ring = Ring { conn: RingConn::new(page, id), port: Some(local), broken: false };
        self.rings.insert(DomId(0), ring);
        self.sys.notify(local);
        self.pump_all(daemon);
        Ok(local)
    }

    /// Reads the fired ports, asks the hypervisor about domains if
    /// `VIRQ_DOM_EXC` is among them, pumps every ring and unmasks the
    /// ports.
    pub fn handle_events(&mut self, daemon: &mut Xenstored) {
        let ports = self.sys.pending();
        if self.virq.is_some_and(|v| ports.contains(&v)) {
            self.check_domains(daemon);
        }
        self.pump_all(daemon);
        self.sys.unmask(&ports);
    }

    /// Xen's `check_domains`: the hypervisor's view of the introduced
    /// domains (unknown ones are gone) to the daemon.
    pub fn check_domains(&mut self, daemon: &mut Xenstored) {
        match self.sys.domains() {
            Ok(now) => {
                daemon.domains_changed(|d| now.get(&d).copied().unwrap_or(DomainStatus::Dying))
            }
            Err(e) => eprintln!("xenstored: asking the hypervisor about domains: {e}"),
        }
        self.release_gone(daemon);
    }

    /// Whether a ring's last pump stopped before it was quiet: the loop
    /// must pump again without waiting for an event.
    #[must_use]
    pub fn busy(&self) -> bool {
        self.rings.values().any(|r| !r.broken && r.conn.has_more())
    }

    /// Moves every ring as far as it goes (a busy one a bounded amount,
    /// [`crate::ring::PUMP_ROUNDS`]): requests in, replies and events out,
    /// the guests notified; then serves what the requests introduced and
    /// drops the rings of released domains.
    pub fn pump_all(&mut self, daemon: &mut Xenstored) {
        // Each round either ends or follows an introduction; a flood of
        // introductions is bounded by the domains there can be.
        for _ in 0..64 {
            let domids: Vec<DomId> = self.rings.keys().copied().collect();
            for domid in domids {
                self.pump_one(daemon, domid);
            }
            self.release_gone(daemon);
            if self.pending.is_empty() {
                return;
            }
            self.attach(daemon);
        }
    }

    fn pump_one(&mut self, daemon: &mut Xenstored, domid: DomId) {
        let Self { sys, rings, pending, .. } = self;
        let Some(ring) = rings.get_mut(&domid).filter(|r| !r.broken) else { return };
        let mut hook = Introducer { sys: &mut *sys, pending: &mut *pending };
        match ring.conn.pump_with(daemon, &mut hook) {
            Ok(true) => {
                if let Some(port) = ring.port {
                    sys.notify(port);
                }
            }
            Ok(false) => {}
            Err(err) => {
                eprintln!("xenstored: domain {}: {err}; connection ignored", domid.0);
                ring.broken = true;
                daemon.disconnect(ring.conn.id);
            }
        }
    }

    /// Serves the rings introduced since the last call.
    fn attach(&mut self, daemon: &mut Xenstored) {
        for item in core::mem::take(&mut self.pending) {
            match item {
                Pending::New { domid, page, port } => {
                    if let Some(old) = self.rings.remove(&domid) {
                        self.drop_ring(daemon, old);
                    }
                    let id = daemon.connect(domid);
                    let mut conn = RingConn::new(page, id);
                    if conn.reset(id) {
                        self.sys.notify(port);
                    }
                    self.rings.insert(domid, Ring { conn, port: Some(port), broken: false });
                }
                Pending::Rebind { domid, port } => {
                    let Some(ring) = self.rings.get_mut(&domid) else { continue };
                    if let Some(old) = ring.port.take() {
                        self.sys.unbind(old);
                    }
                    ring.port = match self.sys.bind_interdomain(domid, port) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            eprintln!("xenstored: domain {}: rebinding port: {e:?}", domid.0);
                            None
                        }
                    };
                    daemon.disconnect(ring.conn.id);
                    if ring.broken {
                        continue;
                    }
                    let id = daemon.connect(domid);
                    if ring.conn.reset(id)
                        && let Some(p) = ring.port
                    {
                        self.sys.notify(p);
                    }
                }
            }
        }
    }

    /// Drops the rings of domains the daemon no longer knows (released,
    /// or dead), dom0's excepted.
    fn release_gone(&mut self, daemon: &mut Xenstored) {
        let gone: Vec<DomId> = self
            .rings
            .keys()
            .copied()
            .filter(|&d| d != DomId(0) && daemon.domain(d).is_none())
            .collect();
        for domid in gone {
            if let Some(ring) = self.rings.remove(&domid) {
                self.drop_ring(daemon, ring);
            }
        }
    }

    fn drop_ring(&mut self, daemon: &mut Xenstored, ring: Ring<S::Page>) {
        if let Some(port) = ring.port {
            self.sys.unbind(port);
        }
        daemon.disconnect(ring.conn.id);
        // The page is unmapped as `ring` goes.
    }
}
