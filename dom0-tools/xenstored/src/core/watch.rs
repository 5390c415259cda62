// SPDX-License-Identifier: GPL-2.0-only
//! Watches: registration, the first event, and firing on changes.
//!
//! A watch is a node name (or a special `@` name) and a token chosen by
//! the client. It fires, as an `XS_WATCH_EVENT` (`path\0token\0`, `req_id`
//! 0), once when it is set, then for every change of its node or of a node
//! below it that the watcher may read; removing a node also fires the
//! watches set exactly on each removed descendant. A watch set with a
//! relative name gets relative event paths.

use guest_abi::io::xs_wire::{XsdError, XsdSockmsgType};

use super::tree_ops::Event;
use super::{After, Caller, ConnId, Xenstored};
use crate::path;
use crate::perms::Access;
use crate::wire::{self, Message};

/// One watch of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Watch {
    /// The absolute (or special) name watched.
    pub node: String,
    /// The client's token.
    pub token: String,
    /// Bytes to strip from event paths (the home prefix of a relative
    /// watch), 0 for an absolute one.
    pub strip: usize,
}

impl Watch {
    fn matches(&self, event: &Event) -> bool {
        if path::is_special(&event.path) || event.exact {
            self.node == event.path
        } else {
            path::is_at_or_below(&event.path, &self.node)
        }
    }

    fn message(&self, event_path: &str) -> Message {
        let shown = event_path.get(self.strip..).filter(|_| self.strip > 0).unwrap_or(event_path);
        Message::request(
            XsdSockmsgType::WatchEvent,
            0,
            0,
            &[shown.as_bytes(), self.token.as_bytes()],
        )
    }
}

impl Xenstored {
    pub(super) fn watch(
        &mut self,
        id: ConnId,
        caller: Caller,
        payload: &[u8],
        after: &mut Vec<After>,
    ) -> Result<Vec<u8>, XsdError> {
        let [given, token] = wire::args::<2>(payload)?;
        let node = path::canonicalize(caller.domid, given);
        path::check_watch(&node)?;
        let strip =
            if node.len() > given.len() { node.len().saturating_sub(given.len()) } else { 0 };
        let watch = Watch { node, token: token.to_owned(), strip };
        let limit = self.quota.watches;
        let conn = self.conns.get_mut(&id).ok_or(XsdError::EIO)?;
        if conn.watches.iter().any(|w| w.node == watch.node && w.token == watch.token) {
            return Err(XsdError::EEXIST);
        }
        if !caller.privileged && conn.watches.len() >= limit {
            return Err(XsdError::E2BIG);
        }
        conn.watches.push(watch.clone());
        after.push(After::Initial(watch));
        Ok(super::ack())
    }

    pub(super) fn unwatch(
        &mut self,
        id: ConnId,
        caller: Caller,
        payload: &[u8],
    ) -> Result<Vec<u8>, XsdError> {
        let [given, token] = wire::args::<2>(payload)?;
        let node = path::canonicalize(caller.domid, given);
        let conn = self.conns.get_mut(&id).ok_or(XsdError::EIO)?;
        let before = conn.watches.len();
        conn.watches.retain(|w| !(w.node == node && w.token == token));
        if conn.watches.len() == before { Err(XsdError::ENOENT) } else { Ok(super::ack()) }
    }

    pub(super) fn reset_watches(&mut self, id: ConnId) -> Result<Vec<u8>, XsdError> {
        let conn = self.conns.get_mut(&id).ok_or(XsdError::EIO)?;
        conn.watches.clear();
        conn.transactions.clear();
        Ok(super::ack())
    }

    /// The event every new watch gets at once (unless its node exists and
    /// the watcher may not read it).
    pub(super) fn initial_fire(&mut self, id: ConnId, watch: &Watch) {
        let Some(caller) = self.conns.get(&id).map(|c| self.caller_of(c)) else { return };
        if !path::is_special(&watch.node)
            && let Some(node) = self.store.get(&watch.node)
            && !caller.access(&node.perms).covers(Access::READ)
        {
            return;
        }
        self.queue_event(id, watch.message(&watch.node));
    }

    /// Sends `event` to every matching watch whose connection may see it.
    pub(super) fn fire(&mut self, event: &Event) {
        let mut deliveries = Vec::new();
        for (&id, conn) in &self.conns {
            if conn.closed {
                continue;
            }
            let caller = self.caller_of(conn);
            let allowed = if path::is_special(&event.path) {
                self.special_access(&event.path, caller).covers(Access::READ)
            } else {
                caller.access(&event.perms).covers(Access::READ)
            };
            if !allowed {
                continue;
            }
            for watch in conn.watches.iter().filter(|w| w.matches(event)) {
                deliveries.push((id, watch.message(&event.path)));
            }
        }
        for (id, msg) in deliveries {
            self.queue_event(id, msg);
        }
    }
}
