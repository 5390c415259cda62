// SPDX-License-Identifier: GPL-2.0-only
//! Transactions: a private copy of the tree, committed only if nothing it
//! looked at changed meanwhile.
//!
//! `TRANSACTION_START` (with `tx_id` 0; `EBUSY` inside a transaction)
//! answers a fresh id of the connection. Requests carrying that id work
//! on the transaction's copy of the tree, which logs every node read or
//! written with the generation it had when the transaction first saw it.
//! `TRANSACTION_END` `F` drops the copy; `T` commits it if every logged
//! node still has that generation in the daemon's tree (or is still
//! missing), copying the changed nodes over and firing the watches the
//! transaction's changes deferred; otherwise the answer is `EAGAIN` and
//! the transaction is gone.

use std::collections::{BTreeSet, HashMap};

use guest_abi::io::xs_wire::XsdError;

use super::tree_ops::Event;
use super::{After, Caller, ConnId, Xenstored};
use crate::store::Store;
use crate::wire;

/// What a transaction did.
#[derive(Clone, Debug, Default)]
pub(super) struct TxLog {
    /// Every node looked at, with its generation then (`None`: missing).
    pub accessed: HashMap<String, Option<u64>>,
    /// The nodes changed, created or removed.
    pub changed: BTreeSet<String>,
    /// Watch events to fire at commit.
    pub events: Vec<Event>,
}

/// An open transaction.
#[derive(Clone, Debug)]
pub(super) struct Transaction {
    /// The transaction's copy of the tree.
    pub store: Store,
    /// What it did.
    pub log: TxLog,
}

impl Xenstored {
    pub(super) fn transaction_start(
        &mut self,
        id: ConnId,
        caller: Caller,
        tx_id: u32,
    ) -> Result<Vec<u8>, XsdError> {
        let limit = self.quota.transactions;
        let store = self.store.clone();
        let conn = self.conns.get_mut(&id).ok_or(XsdError::EIO)?;
        if tx_id != 0 {
            return Err(if conn.transactions.contains_key(&tx_id) {
                XsdError::EBUSY
            } else {
                XsdError::ENOENT
            });
        }
        if !caller.privileged && conn.transactions.len() >= limit {
            return Err(XsdError::ENOSPC);
        }
        let mut new_id = conn.next_tx;
        while new_id == 0 || conn.transactions.contains_key(&new_id) {
            new_id = new_id.wrapping_add(1);
        }
        conn.next_tx = new_id.wrapping_add(1);
        conn.transactions.insert(new_id, Transaction { store, log: TxLog::default() });
        Ok(super::nul_terminated(&new_id.to_string()))
    }

    pub(super) fn transaction_end(
        &mut self,
        id: ConnId,
        tx_id: u32,
        payload: &[u8],
        after: &mut Vec<After>,
    ) -> Result<Vec<u8>, XsdError> {
        let conn = self.conns.get_mut(&id).ok_or(XsdError::EIO)?;
        if !conn.transactions.contains_key(&tx_id) {
            return Err(XsdError::ENOENT);
        }
        let commit = match wire::one_arg(payload)? {
            "T" => true,
            "F" => false,
            _ => return Err(XsdError::EINVAL),
        };
        let tx = conn.transactions.remove(&tx_id).ok_or(XsdError::ENOENT)?;
        if !commit {
            return Ok(super::ack());
        }
        let conflict =
            tx.log.accessed.iter().any(|(name, seen)| self.store.generation(name) != *seen);
        if conflict {
            return Err(XsdError::EAGAIN);
        }
        for name in &tx.log.changed {
            self.store.put(name, tx.store.get_shared(name));
        }
        after.extend(tx.log.events.into_iter().map(After::Fire));
        Ok(super::ack())
    }
}
