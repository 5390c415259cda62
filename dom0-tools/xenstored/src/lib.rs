// SPDX-License-Identifier: GPL-2.0-only
//! xenstored: the xenstore daemon of the dom0 toolstack.
//!
//! Xenstore is the small hierarchical database through which the toolstack,
//! the backends and the guests describe domains and devices to one another
//! (`/local/domain/<id>/...`). This crate speaks Xen 4.17's wire protocol
//! (`io/xs_wire.h`, mirrored in [`guest_abi::io::xs_wire`]) with Xen's
//! semantics: permissions, watches, transactions with conflict detection,
//! domain introduction and quotas.
//!
//! The crate is split so that everything but the transport is plain,
//! host-testable logic:
//!
//! * [`wire`] — message framing, replies and argument splitting;
//! * [`path`] — node names: validation and resolution of relative paths;
//! * [`perms`] — Xen's permission lists (`n`/`r`/`w`/`b` + domid);
//! * [`store`] — the tree of nodes;
//! * [`quota`] — the per-domain limits;
//! * [`core`] — the daemon's state machine: connections, watches,
//!   transactions, domains; it consumes [`wire::Message`]s and queues
//!   replies and watch events per connection, whatever the transport;
//! * [`server`] — the Unix-socket transport and the event loop;
//! * [`ring`] — the byte-moving half of the ring transport (a domain's
//!   shared page), host-tested on a page in memory;
//! * [`rings`] — the ring transport: dom0's own ring (xenfs), introduced
//!   domains' rings (gntdev), their event channels and `VIRQ_DOM_EXC`
//!   (evtchn), the hypervisor's domain list (privcmd), host-tested over
//!   a simulated system;
//! * [`client`] — a small blocking client (the `xenstore` tools and the
//!   tests).
//!
//! Not yet done: the `XS_CONTROL` commands beyond `check`, `print`,
//! `quota` and `help`, and ring reconnection
//! (`XENSTORE_SERVER_FEATURE_RECONNECTION`).

pub mod client;
pub mod core;
pub mod path;
pub mod perms;
pub mod quota;
pub mod ring;
pub mod rings;
pub mod server;
pub mod store;
pub mod wire;

pub use guest_abi::io::xs_wire::XsdError;
