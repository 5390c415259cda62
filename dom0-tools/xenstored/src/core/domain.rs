// SPDX-License-Identifier: GPL-2.0-only
//! The toolstack's domain operations: introduce, release, resume,
//! is-introduced (all dom0-only), and the special watches they fire.
//!
//! `SET_TARGET` lets a domain (a device model) act for another.
//! `INTRODUCE domid\0mfn\0port\0` records a domain's xenstore ring frame
//! and event channel and fires `@introduceDomain`; introducing it again
//! only rebinds the port, as Xen does. `RELEASE` forgets the domain,
//! closes its connections and fires `@releaseDomain`. When the hypervisor
//! signals that domains changed state (`VIRQ_DOM_EXC`), the transport asks
//! it about each introduced domain and passes the answers to
//! [`Xenstored::domains_changed`], which fires `@releaseDomain` for those
//! that shut down or died as Xen's `domain_cleanup` does. The ring itself
//! is the transport's: a first introduction asks [`DomainRings::introduce`]
//! to map the ring and bind the port (its error fails the request, and the
//! domain stays unknown, as in Xen's `introduce_domain`); introducing a
//! known domain again tells [`DomainRings::reintroduce`] (Xen rebinds the
//! port and resets the connection, `domain_conn_reset`).

use guest_abi::io::xs_wire::XsdError;
use guest_abi::xen::{DomId, EvtchnPort, Mfn};

use super::tree_ops::Event;
use super::{After, Caller, Xenstored};
use crate::path;
use crate::perms::NodePerms;
use crate::wire;

/// An introduced domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    /// The frame of its xenstore ring page, as the toolstack gave it.
    pub mfn: Mfn,
    /// Its end of the xenstore event channel.
    pub port: EvtchnPort,
    /// Whether it has shut down (cleared by `RESUME`).
    pub shutdown: bool,
    /// The domain it acts for (`XS_SET_TARGET`: a device model's guest).
    pub target: Option<DomId>,
}

/// What the hypervisor reports about an introduced domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainStatus {
    /// Running (or paused): nothing to tell.
    Running,
    /// Shut down but not yet destroyed (`XEN_DOMINF_shutdown`).
    Shutdown,
    /// Dying or already gone (`XEN_DOMINF_dying`, or unknown).
    Dying,
}

/// The transport's half of an introduction (the ring transport maps the
/// page and binds the event channel; see [`crate::rings`]).
pub trait DomainRings {
    /// `domid` is introduced for the first time with its ring frame `mfn`
    /// and its unbound port `port`: map the ring and bind the port, or
    /// fail the introduction with an error.
    ///
    /// # Errors
    /// The error the toolstack gets for its `XS_INTRODUCE`.
    fn introduce(&mut self, domid: DomId, mfn: Mfn, port: EvtchnPort) -> Result<(), XsdError>;

    /// `domid`, already introduced, is introduced again with `port`.
    fn reintroduce(&mut self, domid: DomId, port: EvtchnPort);
}

/// Rings that need nothing: introductions are only recorded (the Unix
/// socket transport alone, and the tests of the state machine).
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptRings;

impl DomainRings for AcceptRings {
    fn introduce(&mut self, _: DomId, _: Mfn, _: EvtchnPort) -> Result<(), XsdError> {
        Ok(())
    }

    fn reintroduce(&mut self, _: DomId, _: EvtchnPort) {}
}

fn domid_arg(payload: &[u8]) -> Result<DomId, XsdError> {
    let domid = DomId(wire::number::<u16>(wire::one_arg(payload)?)?);
    if domid.is_reserved() { Err(XsdError::EINVAL) } else { Ok(domid) }
}

fn special_event(name: &str) -> Event {
    Event { path: name.to_owned(), exact: false, perms: NodePerms::owned_by(DomId(0)) }
}

impl Xenstored {
    pub(super) fn introduce(
        &mut self,
        payload: &[u8],
        after: &mut Vec<After>,
        rings: &mut dyn DomainRings,
    ) -> Result<Vec<u8>, XsdError> {
        let [domid, mfn, port] = wire::args::<3>(payload)?;
        let domid = DomId(wire::number::<u16>(domid)?);
        let mfn = Mfn(wire::number::<u64>(mfn)?);
        let port = wire::number::<u32>(port)?;
        if port == 0 || domid.is_reserved() {
            return Err(XsdError::EINVAL);
        }
        let port = EvtchnPort(port);
        match self.domains.get_mut(&domid) {
            Some(known) => {
                known.port = port;
                known.mfn = mfn;
                rings.reintroduce(domid, port);
            }
            None => {
                rings.introduce(domid, mfn, port)?;
                self.domains.insert(domid, Domain { mfn, port, shutdown: false, target: None });
                after.push(After::Fire(special_event(path::INTRODUCE_DOMAIN)));
            }
        }
        Ok(super::ack())
    }

    pub(super) fn release(
        &mut self,
        payload: &[u8],
        after: &mut Vec<After>,
    ) -> Result<Vec<u8>, XsdError> {
        let domid = domid_arg(payload)?;
        if domid == DomId(0) {
            return Err(XsdError::EINVAL);
        }
        self.domains.remove(&domid).ok_or(XsdError::ENOENT)?;
        self.close_domain_conns(domid);
        after.push(After::Fire(special_event(path::RELEASE_DOMAIN)));
        Ok(super::ack())
    }

    /// `SET_TARGET domid\0target\0`: `domid` gets `target`'s rights
    /// (both must be introduced).
    pub(super) fn set_target(&mut self, payload: &[u8]) -> Result<Vec<u8>, XsdError> {
        let [domid, target] = wire::args::<2>(payload)?;
        let domid = DomId(wire::number::<u16>(domid)?);
        let target = DomId(wire::number::<u16>(target)?);
        if !self.domains.contains_key(&target) {
            return Err(XsdError::ENOENT);
        }
        self.domains.get_mut(&domid).ok_or(XsdError::ENOENT)?.target = Some(target);
        Ok(super::ack())
    }

    /// The introduced domains.
    pub fn introduced(&self) -> impl Iterator<Item = DomId> + '_ {
        self.domains.keys().copied()
    }

    /// Applies the hypervisor's view of every introduced domain: a domain
    /// newly shut down is marked so, a dying one is forgotten with its
    /// connections; if anything changed, `@releaseDomain` fires once.
    pub fn domains_changed(&mut self, status: impl Fn(DomId) -> DomainStatus) {
        let mut notify = false;
        let mut dead = Vec::new();
        for (&domid, domain) in &mut self.domains {
            let now = status(domid);
            if now != DomainStatus::Running && !domain.shutdown {
                domain.shutdown = true;
                notify = true;
            }
            if now == DomainStatus::Dying {
                dead.push(domid);
                notify = true;
            }
        }
        for domid in dead {
            self.domains.remove(&domid);
            self.close_domain_conns(domid);
        }
        if notify {
            self.fire(&special_event(path::RELEASE_DOMAIN));
        }
    }

    fn close_domain_conns(&mut self, domid: DomId) {
        for conn in self.conns.values_mut().filter(|c| c.caller.domid == domid) {
            conn.closed = true;
            conn.watches.clear();
            conn.transactions.clear();
            conn.out.clear();
        }
    }

    pub(super) fn resume(&mut self, payload: &[u8]) -> Result<Vec<u8>, XsdError> {
        let domid = domid_arg(payload)?;
        if domid == DomId(0) {
            return Err(XsdError::EINVAL);
        }
        self.domains.get_mut(&domid).ok_or(XsdError::ENOENT)?.shutdown = false;
        Ok(super::ack())
    }

    pub(super) fn is_introduced(
        &self,
        caller: Caller,
        payload: &[u8],
    ) -> Result<Vec<u8>, XsdError> {
        let mut domid = DomId(wire::number::<u16>(wire::one_arg(payload)?)?);
        if domid == DomId::SELF {
            domid = caller.domid;
        }
        let known = domid == DomId(0) || self.domains.contains_key(&domid);
        Ok(if known { b"T\0".to_vec() } else { b"F\0".to_vec() })
    }

    /// `SET_PERMS` of `@introduceDomain` / `@releaseDomain`: who hears
    /// those events.
    pub(super) fn set_special_perms(
        &mut self,
        caller: Caller,
        payload: &[u8],
    ) -> Result<Vec<u8>, XsdError> {
        let list = wire::strings(payload)?;
        let (name, perms) = list.split_first().ok_or(XsdError::EINVAL)?;
        let name = core::str::from_utf8(name).map_err(|_| XsdError::EINVAL)?;
        let perms = perms.iter().map(|p| core::str::from_utf8(p).map_err(|_| XsdError::EINVAL));
        let perms = NodePerms::parse(perms.collect::<Result<Vec<_>, _>>()?)?;
        let access = self.special_access(name, caller);
        let slot = self.special.get_mut(name).ok_or(XsdError::EINVAL)?;
        let needed = crate::perms::Access::WRITE.with(crate::perms::Access::OWNER);
        if !access.covers(needed) {
            return Err(XsdError::EACCES);
        }
        *slot = perms;
        Ok(super::ack())
    }
}
