// SPDX-License-Identifier: GPL-2.0-only
//! `xenconsoled`: the console daemon of the Linux dom0 toolstack, after Xen
//! 4.17's `tools/console/daemon`, and the `xenconsole` client.
//!
//! The daemon watches `@introduceDomain`/`@releaseDomain` in xenstore, and
//! for every domain (but dom0) its `console` directory; a domain whose
//! `console/ring-ref` and `console/port` are there (and whose
//! `console/type` is `xenconsoled` or absent) gets its console page mapped,
//! its console event channel bound and a pty pair whose slave path is
//! written to `/local/domain/<id>/console/tty`. Bytes the guest produces in
//! the `out` ring go to the pty (and the optional log), bytes read from the
//! pty go to the `in` ring.
//!
//! * [`ring`]: the ring arithmetic on a [`ring::ConsolePage`], with Xen's
//!   barriers and index checks;
//! * [`buffer`]: the output buffer between ring and pty, with `limit` and
//!   the overflow policy;
//! * [`backend`]: what the daemon needs from the hypervisor, as traits
//!   (map a console page, bind an event channel, list domains, read the
//!   hypervisor's console);
//! * [`xen`]: the real backend for Linux dom0 (the adapter point for the
//!   gntdev, privcmd foreign mapping and evtchn bindings of `xenctrl`);
//! * [`fake`]: an in-memory backend, pages and event channels the tests
//!   play the guest's side of;
//! * [`pty`], [`log`]: pty pairs in raw mode, log files;
//! * [`console`]: one domain's console, Xen's per-console state machine;
//! * [`daemon`]: the event loop over xenstore, event channels and ptys;
//! * [`client`]: `xenconsole`, attaching a terminal to a domain's pty.

pub mod backend;
pub mod buffer;
pub mod client;
pub mod console;
pub mod daemon;
pub mod fake;
pub mod linux;
pub mod log;
pub mod pty;
pub mod ring;
pub mod xen;
