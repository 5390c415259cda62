// SPDX-License-Identifier: GPL-2.0-only
//! The limits that keep an unprivileged domain from exhausting the daemon.
//!
//! They apply to unprivileged connections only (dom0's tools are trusted),
//! with Xen 4.17's defaults: over-quota requests are answered `ENOSPC`,
//! watch events beyond the outstanding limit are dropped and the
//! connection's further requests wait until its replies are taken.

/// Per-domain limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Nodes a domain may own (`quota_nb_entry_per_domain`).
    pub nodes: usize,
    /// Bytes of a node's value and child names (`quota_max_entry_size`).
    pub entry_size: usize,
    /// Watches of a connection (`quota_nb_watch_per_domain`).
    pub watches: usize,
    /// Open transactions of a connection (`quota_max_transaction`).
    pub transactions: usize,
    /// Entries of a permission list (`quota_nb_perms_per_node`).
    pub perms_per_node: usize,
    /// Nodes one transaction may touch (`quota_trans_nodes`).
    pub transaction_nodes: usize,
    /// Replies and events queued for a connection (`quota_req_outstanding`).
    pub outstanding: usize,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            nodes: 1000,
            entry_size: 2048,
            watches: 128,
            transactions: 10,
            perms_per_node: 5,
            transaction_nodes: 1024,
            outstanding: 20,
        }
    }
}
