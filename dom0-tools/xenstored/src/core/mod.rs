// SPDX-License-Identifier: GPL-2.0-only
//! The daemon's state machine, independent of any transport.
//!
//! A transport creates a connection for the domain at its other end
//! ([`Xenstored::connect`]: socket connections are dom0's, a ring would be
//! its domain's), hands every framed request to [`Xenstored::handle`], and
//! sends what [`Xenstored::pop_output`] yields: the replies in order, with
//! watch events (`req_id` 0) interleaved as they happen. A connection that
//! [`Xenstored::is_closed`] (its domain was released) is to be dropped.
//!
//! Requests are dispatched as Xen 4.17's `process_message`: an unknown type
//! is `ENOSYS`, a toolstack-only type from an unprivileged connection
//! `EACCES`, an unknown transaction id `ENOENT`; then the operation runs
//! (tree operations in `tree_ops`, watches in `watch`, transactions in
//! `transaction`, domains in `domain`, `XS_CONTROL` in `control`).

mod control;
mod domain;
mod transaction;
mod tree_ops;
mod watch;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};

use guest_abi::io::xs_wire::{XENSTORE_PAYLOAD_MAX, XsdError, XsdSockmsgType};
use guest_abi::xen::DomId;

use crate::path;
use crate::perms::{Access, NodePerms};
use crate::quota::Quota;
use crate::store::Store;
use crate::wire::{self, Message};

pub use domain::{AcceptRings, Domain, DomainRings, DomainStatus};
use transaction::Transaction;
use tree_ops::{Ctx, Event};
use watch::Watch;

/// Identifies one connection of the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The connection's domain.
    pub domid: DomId,
    /// Whether it has every right (dom0: Xen's `!domain_is_unprivileged`).
    pub privileged: bool,
    /// The domain it also acts for (`XS_SET_TARGET`).
    pub target: Option<DomId>,
}

impl Caller {
    /// The caller's rights on a node with `perms`.
    #[must_use]
    pub fn access(&self, perms: &NodePerms) -> Access {
        perms.access_as(self.domid, self.target, self.privileged)
    }
}

/// One connection.
#[derive(Debug)]
struct Conn {
    caller: Caller,
    watches: Vec<Watch>,
    transactions: HashMap<u32, Transaction>,
    next_tx: u32,
    out: VecDeque<Message>,
    closed: bool,
}

/// The whole daemon state.
#[derive(Debug)]
pub struct Xenstored {
    store: Store,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    domains: BTreeMap<DomId, Domain>,
    special: HashMap<&'static str, NodePerms>,
    quota: Quota,
    generation: u64,
}

impl Default for Xenstored {
    fn default() -> Self {
        Self::new(Quota::default())
    }
}

impl Xenstored {
    /// A daemon with Xen's initial tree and the given limits.
    #[must_use]
    pub fn new(quota: Quota) -> Self {
        let special = [path::INTRODUCE_DOMAIN, path::RELEASE_DOMAIN]
            .into_iter()
            .map(|name| (name, NodePerms::owned_by(DomId(0))))
            .collect();
        Self {
            store: Store::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            domains: BTreeMap::new(),
            special,
            quota,
            generation: 1,
        }
    }

    /// The tree (outside any transaction).
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The limits in force.
    #[must_use]
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// Opens a connection for domain `domid`; dom0's is privileged.
    pub fn connect(&mut self, domid: DomId) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn = self.next_conn.wrapping_add(1);
        let conn = Conn {
            caller: Caller { domid, privileged: domid == DomId(0), target: None },
            watches: Vec::new(),
            transactions: HashMap::new(),
            next_tx: 1,
            out: VecDeque::new(),
            closed: false,
        };
        self.conns.insert(id, conn);
        id
    }

    /// Forgets a connection with its watches and open transactions.
    pub fn disconnect(&mut self, id: ConnId) {
        self.conns.remove(&id);
    }

    /// Number of open connections.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Whether the connection must be dropped by its transport.
    #[must_use]
    pub fn is_closed(&self, id: ConnId) -> bool {
        self.conns.get(&id).is_none_or(|c| c.closed)
    }

    /// Whether the connection may send another request now: an
    /// unprivileged one waits while [`Quota::outstanding`] messages are
    /// queued for it.
    #[must_use]
    pub fn wants_input(&self, id: ConnId) -> bool {
        self.conns.get(&id).is_some_and(|c| {
            !c.closed && (c.caller.privileged || c.out.len() < self.quota.outstanding)
        })
    }

    /// The next message to send on the connection.
    pub fn pop_output(&mut self, id: ConnId) -> Option<Message> {
        self.conns.get_mut(&id)?.out.pop_front()
    }

    /// Whether messages are queued for the connection.
    #[must_use]
    pub fn has_output(&self, id: ConnId) -> bool {
        self.conns.get(&id).is_some_and(|c| !c.out.is_empty())
    }

    /// The introduced domain `domid`.
    #[must_use]
    pub fn domain(&self, domid: DomId) -> Option<&Domain> {
        self.domains.get(&domid)
    }

    /// Handles one request of connection `id`, queueing its reply and the
    /// watch events it causes; introductions are only recorded
    /// ([`AcceptRings`]).
    pub fn handle(&mut self, id: ConnId, msg: Message) {
        self.handle_with(id, msg, &mut AcceptRings);
    }

    /// As [`Xenstored::handle`], with `rings` mapping the ring of a domain
    /// the request introduces (an error there fails the request).
    pub fn handle_with(&mut self, id: ConnId, msg: Message, rings: &mut dyn DomainRings) {
        let Some(caller) = self.conns.get(&id).filter(|c| !c.closed).map(|c| self.caller_of(c))
        else {
            return;
        };
        let mut after = Vec::new();
        let reply = match self.dispatch(id, caller, &msg, &mut after, rings) {
            // A reply that does not fit one message (a huge directory) is
            // refused as Xen's `send_reply` does.
            Ok(payload) if payload.len() > XENSTORE_PAYLOAD_MAX => {
                Message::error(&msg, XsdError::E2BIG)
            }
            Ok(payload) => Message::reply(&msg, payload),
            Err(err) => Message::error(&msg, err),
        };
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.out.push_back(reply);
        }
        for item in after {
            match item {
                After::Fire(event) => self.fire(&event),
                After::Initial(watch) => self.initial_fire(id, &watch),
            }
        }
    }

    fn dispatch(
        &mut self,
        id: ConnId,
        caller: Caller,
        msg: &Message,
        after: &mut Vec<After>,
        rings: &mut dyn DomainRings,
    ) -> Result<Vec<u8>, XsdError> {
        use XsdSockmsgType as T;
        let ty = msg.msg_type().map_err(|_| XsdError::ENOSYS)?;
        let privileged_only = matches!(
            ty,
            T::Control
                | T::Introduce
                | T::Release
                | T::IsDomainIntroduced
                | T::Resume
                | T::SetTarget
        );
        if privileged_only && !caller.privileged {
            return Err(XsdError::EACCES);
        }
        // Every request but the watch ones names a transaction of its
        // connection or none (Xen's `transaction_lookup`).
        let tx_ignored = matches!(ty, T::Watch | T::Unwatch);
        let tx_known = self.conns.get(&id).is_some_and(|c| c.transactions.contains_key(&msg.tx_id));
        if !tx_ignored && msg.tx_id != 0 && !tx_known {
            return Err(XsdError::ENOENT);
        }
        let p = msg.payload.as_slice();
        match ty {
            T::Watch => self.watch(id, caller, p, after),
            T::Unwatch => self.unwatch(id, caller, p),
            T::ResetWatches => self.reset_watches(id),
            T::Introduce => self.introduce(p, after, rings),
            T::Release => self.release(p, after),
            T::Resume => self.resume(p),
            T::IsDomainIntroduced => self.is_introduced(caller, p),
            T::GetDomainPath => {
                let domid = wire::number::<u16>(wire::one_arg(p)?)?;
                Ok(nul_terminated(&path::home(DomId(domid))))
            }
            T::TransactionStart => self.transaction_start(id, caller, msg.tx_id),
            T::TransactionEnd => self.transaction_end(id, msg.tx_id, p, after),
            T::SetPerms if p.starts_with(b"@") => self.set_special_perms(caller, p),
            T::Read
            | T::Write
            | T::Mkdir
            | T::Rm
            | T::Directory
            | T::DirectoryPart
            | T::GetPerms
            | T::SetPerms => self.tree_op(id, caller, ty, msg.tx_id, p, after),
            T::SetTarget => self.set_target(p),
            T::Control => self.control(p),
            // The daemon's own message types are not requests.
            T::WatchEvent | T::ErrorReply | T::Invalid => Err(XsdError::ENOSYS),
        }
    }

    /// Runs a tree operation inside the request's transaction, if any.
    fn tree_op(
        &mut self,
        id: ConnId,
        caller: Caller,
        ty: XsdSockmsgType,
        tx_id: u32,
        payload: &[u8],
        after: &mut Vec<After>,
    ) -> Result<Vec<u8>, XsdError> {
        let mut tx = if tx_id == 0 {
            None
        } else {
            let conn = self.conns.get_mut(&id).ok_or(XsdError::EIO)?;
            Some(conn.transactions.remove(&tx_id).ok_or(XsdError::ENOENT)?)
        };
        let (tree, log) = match tx.as_mut() {
            Some(tx) => (&mut tx.store, Some(&mut tx.log)),
            None => (&mut self.store, None),
        };
        let mut ctx = Ctx {
            tree,
            log,
            caller,
            quota: &self.quota,
            generation: &mut self.generation,
            events: Vec::new(),
        };
        let result = ctx.run(ty, payload);
        let events = core::mem::take(&mut ctx.events);
        match tx {
            Some(mut tx) => {
                tx.log.events.extend(events);
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.transactions.insert(tx_id, tx);
                }
            }
            None => after.extend(events.into_iter().map(After::Fire)),
        }
        result
    }

    /// Queues the watch event `msg` for connection `id` unless an
    /// unprivileged connection already has [`Quota::outstanding`] messages
    /// waiting (the event is then dropped).
    /// Events too long for one message are not sent (as in Xen).
    fn queue_event(&mut self, id: ConnId, msg: Message) {
        if msg.payload.len() > XENSTORE_PAYLOAD_MAX {
            return;
        }
        let limit = self.quota.outstanding;
        if let Some(conn) = self.conns.get_mut(&id)
            && (conn.caller.privileged || conn.out.len() < limit)
        {
            conn.out.push_back(msg);
        }
    }

    /// The rights of `caller` on a special node.
    fn special_access(&self, name: &str, caller: Caller) -> Access {
        self.special.get(name).map_or(Access::NONE, |p| caller.access(p))
    }

    /// A connection's caller, with the target its domain was given.
    fn caller_of(&self, conn: &Conn) -> Caller {
        let target = self.domains.get(&conn.caller.domid).and_then(|d| d.target);
        Caller { target, ..conn.caller }
    }
}

/// Work done once the reply is queued.
#[derive(Debug)]
enum After {
    /// Fire the watches matching an event.
    Fire(Event),
    /// The first event of the connection's newest watch.
    Initial(Watch),
}

/// `text` followed by a NUL.
fn nul_terminated(text: &str) -> Vec<u8> {
    let mut out = text.as_bytes().to_vec();
    out.push(0);
    out
}

/// The `OK\0` acknowledgement.
fn ack() -> Vec<u8> {
    b"OK\0".to_vec()
}
