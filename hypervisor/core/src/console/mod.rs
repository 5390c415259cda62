// SPDX-License-Identifier: GPL-2.0-only
//! Hypervisor console: the message ring and log-level filtering.
//!
//! Mirrors `xen/drivers/char/console.c`: [`ring::ConsoleRing`] is Xen's
//! `conring` (what `xm dmesg` reads), and [`loglvl`] implements the
//! `loglvl=`/`guest_loglvl=` thresholds with `printk_ratelimit`;
//! [`rx::RxRing`] is Xen's `serial_rx_ring` (input for dom0);
//! [`guest_lines::GuestLines`] prefixes domUs' lines with `(d<N>) `. The serial
//! and VGA back ends live in the machine layer; this module only decides what
//! is kept and what is printed.

pub mod guest_lines;
pub mod loglvl;
pub mod ring;
pub mod rx;

pub use guest_lines::GuestLines;
pub use loglvl::{LogLevel, LogLevelThreshold, LogThresholds, RateLimiter};
pub use ring::ConsoleRing;
pub use rx::RxRing;
