// SPDX-License-Identifier: GPL-2.0-only
//! `xen/include/public/io/`: the shared-memory protocols between a guest,
//! its backends and the toolstack's daemons.
//!
//! * [`console`] — `io/console.h`: the PV console ring page.
//! * [`xs_wire`] — `io/xs_wire.h`: the xenstore wire protocol (message
//!   header, message types, error names, limits) and the xenstore ring page
//!   `xenstore_domain_interface`.

pub mod console;
pub mod xs_wire;

pub use console::*;
pub use xs_wire::*;
