// SPDX-License-Identifier: GPL-2.0-only
//! One domU's console `out` ring, drained into `d<N>| <line>` lines on
//! dom0's console (`xenconsoled`'s part).
//!
//! Each drain reads at most one ring's worth (2048 bytes), notifies the
//! domU that there is room again, and prints each complete line in one
//! `console_io` write; `\r` is dropped, a line longer than [`LINE_MAX`]
//! is printed in pieces, and bytes that are not printable ASCII are shown
//! as `\xNN`. A ring whose producer index is out of range (a hostile or
//! broken domU) is reported once and no longer read.

use alloc::vec::Vec;
use core::fmt::Write as _;

use pv_tests::evtchn;
use pv_tests::guest_abi::io::XENCONS_OUT_SIZE;
use pv_tests::guest_abi::xen::{DomId, EvtchnPort};
use pv_tests::println;
use pv_tests::ring::{CONSOLE_OUT, Ring, Side};

/// Longest line printed in one piece.
pub const LINE_MAX: usize = 256;

/// The console ring of one domU.
pub struct Console {
    ring: Ring,
    domid: DomId,
    port: EvtchnPort,
    line: Vec<u8>,
    broken: bool,
}

impl Console {
    /// The backend side of the console page mapped at `page`.
    ///
    /// # Safety
    /// `page` maps the domU's console frame writable for as long as the
    /// returned value lives.
    pub unsafe fn attach(page: *mut u8, domid: DomId, port: EvtchnPort) -> Self {
        // SAFETY: forwarded from the caller; the layout is the console
        // page's.
        let ring = unsafe { Ring::attach(page, CONSOLE_OUT, Side::Consumer) };
        Self { ring, domid, port, line: Vec::with_capacity(LINE_MAX), broken: false }
    }

    /// The local port bound to the domU's console port.
    pub const fn port(&self) -> EvtchnPort {
        self.port
    }

    /// Reads what the domU wrote (at most one ring's worth) and prints the
    /// complete lines. Returns whether more may be waiting.
    pub fn drain(&mut self) -> bool {
        if self.broken {
            return false;
        }
        let mut buf = [0u8; XENCONS_OUT_SIZE as usize];
        let n = match self.ring.read(&mut buf) {
            Ok(n) => n,
            Err(_) => {
                println!("d{}: console ring index out of range; no longer read", self.domid.0);
                self.broken = true;
                return false;
            }
        };
        if n == 0 {
            return false;
        }
        let _ = evtchn::send(self.port);
        for &b in buf.get(..n).unwrap_or_default() {
            match b {
                b'\n' => self.emit(),
                b'\r' => {}
                _ => {
                    self.line.push(b);
                    if self.line.len() >= LINE_MAX {
                        self.emit();
                    }
                }
            }
        }
        n == buf.len()
    }

    /// Prints an unfinished last line.
    pub fn finish(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }

    /// Prints the gathered line as `d<N>| <text>` in one `console_io`.
    fn emit(&mut self) {
        let mut out = alloc::string::String::with_capacity(self.line.len().saturating_add(16));
        let _ = write!(out, "d{}| ", self.domid.0);
        for &b in &self.line {
            if (b' '..=b'~').contains(&b) {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
        out.push('\n');
        let _ = pv_tests::ops::console_write(out.as_bytes());
        self.line.clear();
    }
}
