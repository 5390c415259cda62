// SPDX-License-Identifier: GPL-2.0-only
//! The ring transport over a simulated system: pages in memory that the
//! test writes as the guest would, and a record of the event-channel calls.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use guest_abi::io::xs_wire::{
    XENSTORE_CONNECTED, XENSTORE_ERROR_RINGIDX, XENSTORE_RECONNECT, XENSTORE_SERVER_FEATURE_ERROR,
    XsdSockmsgType as T, mask_xenstore_idx,
};

use super::*;
use crate::core::ConnId;
use crate::ring::{VecPage, field};
use crate::wire::{Decoder, Message};

/// A page the test (the guest) and the daemon share.
#[derive(Clone, Debug, Default)]
struct SimPage(Rc<RefCell<VecPage>>);

impl RingPage for SimPage {
    fn load(&self, offset: usize) -> u32 {
        self.0.borrow().load(offset)
    }
    fn store(&mut self, offset: usize, value: u32) {
        self.0.borrow_mut().store(offset, value);
    }
    fn byte(&self, offset: usize) -> u8 {
        self.0.borrow().byte(offset)
    }
    fn set_byte(&mut self, offset: usize, value: u8) {
        self.0.borrow_mut().set_byte(offset, value);
    }
}

/// The simulated hypervisor and kernel.
#[derive(Debug, Default)]
struct Sim {
    /// Each domain's ring page (granted to dom0).
    pages: BTreeMap<DomId, SimPage>,
    /// Unbound ports waiting for dom0: (domain, port).
    unbound: BTreeSet<(DomId, EvtchnPort)>,
    /// Local port → (domain, remote port).
    bound: BTreeMap<EvtchnPort, (DomId, EvtchnPort)>,
    next_port: u32,
    notified: Vec<EvtchnPort>,
    fired: Vec<EvtchnPort>,
    unmasked: Vec<EvtchnPort>,
    domains: BTreeMap<DomId, DomainStatus>,
}

impl Sim {
    /// A domain with a fresh page and an unbound `port` for dom0.
    fn add_domain(&mut self, domid: u16, port: u32) -> SimPage {
        let page = SimPage::default();
        self.pages.insert(DomId(domid), page.clone());
        self.unbound.insert((DomId(domid), EvtchnPort(port)));
        self.domains.insert(DomId(domid), DomainStatus::Running);
        page
    }

    /// Pages still mapped by the daemon (beyond the simulation's own
    /// reference).
    fn mapped(&self, domid: u16) -> bool {
        self.pages.get(&DomId(domid)).is_some_and(|p| Rc::strong_count(&p.0) > 2)
    }
}

impl RingSys for Sim {
    type Page = SimPage;

    fn map_ring(&mut self, domid: DomId, _mfn: Mfn) -> Result<SimPage, XsdError> {
        self.pages.get(&domid).cloned().ok_or(XsdError::ENOENT)
    }

    fn bind_interdomain(&mut self, domid: DomId, port: EvtchnPort) -> Result<EvtchnPort, XsdError> {
        if !self.unbound.remove(&(domid, port)) {
            return Err(XsdError::EINVAL);
        }
        self.next_port += 1;
        let local = EvtchnPort(100 + self.next_port);
        self.bound.insert(local, (domid, port));
        Ok(local)
    }

    fn unbind(&mut self, port: EvtchnPort) {
        let (domid, remote) = self.bound.remove(&port).expect("unbinding a bound port");
        self.unbound.insert((domid, remote));
    }

    fn notify(&mut self, port: EvtchnPort) {
        assert!(self.bound.contains_key(&port), "notify on unbound port {port:?}");
        self.notified.push(port);
    }

    fn pending(&mut self) -> Vec<EvtchnPort> {
        core::mem::take(&mut self.fired)
    }

    fn unmask(&mut self, ports: &[EvtchnPort]) {
        self.unmasked.extend_from_slice(ports);
    }

    fn domains(&mut self) -> Result<BTreeMap<DomId, DomainStatus>, String> {
        Ok(self.domains.clone())
    }
}

/// The guest writes `bytes` into its request ring.
fn guest_send(page: &SimPage, bytes: &[u8]) {
    let mut p = page.0.borrow_mut();
    let mut prod = p.load(field::REQ_PROD);
    for &b in bytes {
        p.set_byte(field::REQ + mask_xenstore_idx(prod), b);
        prod = prod.wrapping_add(1);
    }
    p.store(field::REQ_PROD, prod);
}

/// The guest reads every message in its response ring.
fn guest_receive(page: &SimPage) -> Vec<Message> {
    let mut p = page.0.borrow_mut();
    let mut cons = p.load(field::RSP_CONS);
    let prod = p.load(field::RSP_PROD);
    let mut dec = Decoder::default();
    while cons != prod {
        dec.push(&[p.byte(field::RSP + mask_xenstore_idx(cons))]);
        cons = cons.wrapping_add(1);
    }
    p.store(field::RSP_CONS, cons);
    let mut out = Vec::new();
    while let Some(m) = dec.next_message().unwrap() {
        out.push(m);
    }
    out
}

struct Harness {
    daemon: Xenstored,
    rings: Rings<Sim>,
    /// A dom0 socket connection (the toolstack).
    tool: ConnId,
    /// Watch events it received, by path.
    events: Vec<String>,
}

impl Harness {
    fn new() -> Self {
        let mut daemon = Xenstored::default();
        let tool = daemon.connect(DomId(0));
        let mut rings = Rings::new(Sim::default());
        rings.set_virq(EvtchnPort(1));
        Self { daemon, rings, tool, events: Vec::new() }
    }

    /// A request from the toolstack's socket connection, as the server
    /// handles it; returns the reply.
    fn tool_req(&mut self, ty: T, args: &[&str]) -> Message {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let msg = Message::request(ty, 77, 0, &args);
        self.daemon.handle_with(self.tool, msg, &mut self.rings.introducer());
        self.rings.pump_all(&mut self.daemon);
        let mut reply = None;
        while let Some(m) = self.daemon.pop_output(self.tool) {
            if m.ty == T::WatchEvent.raw() {
                let path = m.payload.split(|&b| b == 0).next().unwrap();
                self.events.push(String::from_utf8_lossy(path).into_owned());
            } else if m.req_id == 77 {
                reply = Some(m);
            }
        }
        reply.expect("a reply")
    }

    /// Watch events of the toolstack's connection since the last call.
    fn tool_events(&mut self) -> Vec<String> {
        while let Some(m) = self.daemon.pop_output(self.tool) {
            if m.ty == T::WatchEvent.raw() {
                let path = m.payload.split(|&b| b == 0).next().unwrap();
                self.events.push(String::from_utf8_lossy(path).into_owned());
            }
        }
        core::mem::take(&mut self.events)
    }

    /// The guest's port fires (it notified dom0).
    fn fire(&mut self, domid: u16) {
        let port = self.rings.port(DomId(domid)).unwrap();
        self.rings.sys_mut().fired.push(port);
        self.rings.handle_events(&mut self.daemon);
    }
}

#[test]
fn dom0s_ring_is_bound_to_the_kernels_port_and_served_as_it_stands() {
    let mut h = Harness::new();
    let page = h.rings.sys_mut().add_domain(0, 3);
    // The kernel queued a request before the daemon started, at indexes
    // that are not zero: they are kept (no reset for dom0).
    for f in [field::REQ_CONS, field::REQ_PROD, field::RSP_CONS, field::RSP_PROD] {
        page.clone().store(f, 40);
    }
    guest_send(
        &page,
        &Message::new(T::Write, 5, 0, b"control/feature-poweroff\x001".to_vec()).encode(),
    );
    let local = h.rings.serve_dom0(&mut h.daemon, page.clone(), EvtchnPort(3)).unwrap();
    let sim = h.rings.sys();
    assert_eq!(sim.bound.get(&local), Some(&(DomId(0), EvtchnPort(3))));
    // Woken once by `dom0_init`, once for the reply.
    assert_eq!(sim.notified, [local, local]);
    assert_eq!(page.load(field::SERVER_FEATURES), XENSTORE_SERVER_FEATURE_ERROR);
    let replies = guest_receive(&page);
    assert_eq!(replies.len(), 1);
    assert_eq!((replies[0].req_id, replies[0].payload.as_slice()), (5, &b"OK\0"[..]));
    // Relative to dom0's home, and privileged.
    let value = h.tool_req(T::Read, &["/local/domain/0/control/feature-poweroff"]);
    assert_eq!(value.payload, b"1");
    // Dom0's kernel may introduce domains through the ring too.
    let dpage = h.rings.sys_mut().add_domain(4, 9);
    let msg = Message::request(T::Introduce, 6, 0, &[b"4", b"1234", b"9"]);
    guest_send(&page, &msg.encode());
    h.fire(0);
    assert_eq!(guest_receive(&page)[0].payload, b"OK\0");
    assert!(h.rings.served().any(|d| d == DomId(4)));
    assert!(h.rings.sys().mapped(4));
    drop(dpage);
}

#[test]
fn introduce_maps_binds_resets_and_serves_the_domains_ring() {
    let mut h = Harness::new();
    let page = h.rings.sys_mut().add_domain(5, 7);
    page.clone().store(field::REQ_PROD, 99);
    page.clone().store(field::RSP_CONS, 12);
    page.clone().store(field::CONNECTION, XENSTORE_RECONNECT);
    h.tool_req(T::Watch, &["@introduceDomain", "i"]);
    h.tool_events();
    let reply = h.tool_req(T::Introduce, &["5", "4660", "7"]);
    assert_eq!(reply.payload, b"OK\0");
    assert_eq!(h.tool_events(), ["@introduceDomain"]);
    let local = h.rings.port(DomId(5)).unwrap();
    assert_eq!(h.rings.sys().bound.get(&local), Some(&(DomId(5), EvtchnPort(7))));
    // `domain_conn_reset`: indexes zeroed; the waiting guest is told.
    for f in [field::REQ_CONS, field::REQ_PROD, field::RSP_CONS, field::RSP_PROD] {
        assert_eq!(page.load(f), 0);
    }
    assert_eq!(page.load(field::CONNECTION), XENSTORE_CONNECTED);
    assert_eq!(h.rings.sys().notified, [local]);

    // The guest's requests are answered as domain 5's.
    h.tool_req(T::Mkdir, &["/local/domain/5"]);
    h.tool_req(T::SetPerms, &["/local/domain/5", "n5"]);
    guest_send(&page, &Message::new(T::Write, 1, 0, b"name\0guest".to_vec()).encode());
    guest_send(&page, &Message::request(T::Read, 2, 0, &[b"/tool"]).encode());
    h.fire(5);
    let replies = guest_receive(&page);
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].payload, b"OK\0");
    assert_eq!(replies[1].as_error(), Some(XsdError::EACCES));
    assert_eq!(h.tool_req(T::Read, &["/local/domain/5/name"]).payload, b"guest");
    assert_eq!(h.rings.sys().notified.last(), Some(&local));
    assert!(h.rings.sys().unmasked.contains(&local));

    // A watch of the guest fires through its ring when dom0 writes.
    guest_send(&page, &Message::request(T::Watch, 3, 0, &[b"name", b"tok"]).encode());
    h.fire(5);
    assert_eq!(guest_receive(&page).len(), 2, "the reply and the first event");
    h.tool_req(T::Write, &["/local/domain/5/name", "renamed"]);
    let events = guest_receive(&page);
    assert_eq!(events.len(), 1);
    // Relative to the domain's home, as it asked.
    assert_eq!(events[0].payload, b"name\0tok\0");
}

#[test]
fn a_failed_introduction_leaves_nothing_behind() {
    let mut h = Harness::new();
    h.tool_req(T::Watch, &["@introduceDomain", "i"]);
    h.tool_events();
    // No page granted: the mapping fails.
    assert_eq!(h.tool_req(T::Introduce, &["6", "1", "4"]).as_error(), Some(XsdError::ENOENT));
    // A page but no unbound port: the binding fails, the page goes.
    let page = h.rings.sys_mut().add_domain(7, 4);
    assert_eq!(h.tool_req(T::Introduce, &["7", "1", "5"]).as_error(), Some(XsdError::EINVAL));
    assert!(!h.rings.sys().mapped(7));
    assert_eq!(Rc::strong_count(&page.0), 2);
    assert!(h.tool_events().is_empty());
    assert!(h.daemon.domain(DomId(6)).is_none() && h.daemon.domain(DomId(7)).is_none());
    assert_eq!(h.rings.served().count(), 0);
    // Unprivileged callers never reach the system.
    let guest = h.daemon.connect(DomId(7));
    let msg = Message::request(T::Introduce, 1, 0, &[b"7", b"1", b"4"]);
    h.daemon.handle_with(guest, msg, &mut h.rings.introducer());
    assert_eq!(h.daemon.pop_output(guest).unwrap().as_error(), Some(XsdError::EACCES));
    assert!(h.rings.sys().bound.is_empty());
}

#[test]
fn a_hostile_ring_loses_its_connection_only() {
    let mut h = Harness::new();
    let bad = h.rings.sys_mut().add_domain(8, 2);
    let good = h.rings.sys_mut().add_domain(9, 3);
    h.tool_req(T::Introduce, &["8", "1", "2"]);
    h.tool_req(T::Introduce, &["9", "1", "3"]);
    let conns = h.daemon.connections();
    bad.clone().store(field::REQ_PROD, 1025);
    h.fire(8);
    assert_eq!(bad.load(field::ERROR), XENSTORE_ERROR_RINGIDX);
    assert!(h.rings.is_broken(DomId(8)));
    assert_eq!(h.daemon.connections(), conns - 1);
    // Still introduced (until released or dead); no longer read.
    assert!(h.daemon.domain(DomId(8)).is_some());
    bad.clone().store(field::REQ_PROD, 0);
    guest_send(&bad, &Message::request(T::Read, 1, 0, &[b"/"]).encode());
    h.fire(8);
    assert_eq!(bad.load(field::RSP_PROD), 0);
    // The other domain carries on.
    guest_send(&good, &Message::request(T::Read, 1, 0, &[b"/"]).encode());
    h.fire(9);
    assert_eq!(guest_receive(&good).len(), 1);
    // Releasing the broken one unbinds and unmaps it.
    h.tool_req(T::Release, &["8"]);
    assert!(!h.rings.sys().mapped(8));
    assert!(h.rings.sys().unbound.contains(&(DomId(8), EvtchnPort(2))));
}

#[test]
fn dom_exc_releases_dying_domains_and_their_rings() {
    let mut h = Harness::new();
    let page = h.rings.sys_mut().add_domain(3, 5);
    h.rings.sys_mut().add_domain(4, 6);
    h.tool_req(T::Introduce, &["3", "1", "5"]);
    h.tool_req(T::Introduce, &["4", "1", "6"]);
    h.tool_req(T::Watch, &["@releaseDomain", "r"]);
    h.tool_events();
    // A VIRQ_DOM_EXC with nothing changed fires nothing.
    h.rings.sys_mut().fired.push(EvtchnPort(1));
    h.rings.handle_events(&mut h.daemon);
    assert!(h.tool_events().is_empty());
    assert!(h.rings.sys().unmasked.contains(&EvtchnPort(1)));
    // Domain 3 shuts down, then dies; domain 4 vanishes.
    h.rings.sys_mut().domains.insert(DomId(3), DomainStatus::Shutdown);
    h.rings.sys_mut().fired.push(EvtchnPort(1));
    h.rings.handle_events(&mut h.daemon);
    assert_eq!(h.tool_events(), ["@releaseDomain"]);
    assert!(h.daemon.domain(DomId(3)).is_some_and(|d| d.shutdown));
    h.rings.sys_mut().domains.insert(DomId(3), DomainStatus::Dying);
    h.rings.sys_mut().domains.remove(&DomId(4));
    h.rings.sys_mut().fired.push(EvtchnPort(1));
    h.rings.handle_events(&mut h.daemon);
    assert_eq!(h.tool_events(), ["@releaseDomain"]);
    assert!(h.daemon.domain(DomId(3)).is_none() && h.daemon.domain(DomId(4)).is_none());
    assert_eq!(h.rings.served().count(), 0);
    assert!(!h.rings.sys().mapped(3) && !h.rings.sys().mapped(4));
    assert!(h.rings.sys().bound.is_empty());
    drop(page);
}

#[test]
fn introducing_again_rebinds_the_port_and_starts_over() {
    let mut h = Harness::new();
    let page = h.rings.sys_mut().add_domain(6, 10);
    h.tool_req(T::Introduce, &["6", "1", "10"]);
    h.tool_req(T::Mkdir, &["/local/domain/6"]);
    h.tool_req(T::SetPerms, &["/local/domain/6", "n6"]);
    guest_send(&page, &Message::request(T::Watch, 1, 0, &[b"name", b"w"]).encode());
    h.fire(6);
    assert_eq!(guest_receive(&page).len(), 2);
    let first = h.rings.port(DomId(6)).unwrap();
    h.rings.sys_mut().unbound.insert((DomId(6), EvtchnPort(11)));
    h.tool_req(T::Watch, &["@introduceDomain", "i"]);
    h.tool_events();
    assert_eq!(h.tool_req(T::Introduce, &["6", "1", "11"]).payload, b"OK\0");
    assert!(h.tool_events().is_empty(), "no @introduceDomain for a known domain");
    let second = h.rings.port(DomId(6)).unwrap();
    assert_ne!(first, second);
    assert_eq!(h.rings.sys().bound.get(&second), Some(&(DomId(6), EvtchnPort(11))));
    assert!(!h.rings.sys().bound.contains_key(&first));
    assert_eq!(page.load(field::RSP_PROD), 0);
    // The old connection's watch is gone with it.
    h.tool_req(T::Write, &["/local/domain/6/name", "1"]);
    assert!(guest_receive(&page).is_empty());
}
