// SPDX-License-Identifier: GPL-2.0-only
//! Console output of domUs, line by line with a `(d<N>) ` prefix, as Xen's
//! `guest_console_write` prints it for domains other than the hardware
//! domain.
//!
//! Each domain's bytes are gathered in a buffer of its own
//! ([`DOMAIN_PBUF_SIZE`], Xen's `cd->pbuf`) until a newline, or until the
//! buffer is full, and then printed as one line `(d<N>) <text>`. Bytes that
//! are not printable ASCII (nor a tab) are dropped, so a guest cannot send
//! escape sequences to the console. Dom0's output is not buffered here:
//! it goes to the console as it is written.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;

/// Bytes kept per domain before a line is forced out (Xen's
/// `DOMAIN_PBUF_SIZE`, less its NUL).
pub const DOMAIN_PBUF_SIZE: usize = 199;

/// The partial lines of every domain.
#[derive(Debug, Default)]
pub struct GuestLines {
    pbufs: BTreeMap<u16, Vec<u8>>,
}

impl GuestLines {
    /// No partial lines.
    #[must_use]
    pub const fn new() -> Self {
        Self { pbufs: BTreeMap::new() }
    }

    /// Takes `bytes` written by domain `dom`; `emit` gets each complete
    /// line, prefixed and ending in `\n`.
    pub fn write(&mut self, dom: u16, bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        let buf = self.pbufs.entry(dom).or_default();
        for &b in bytes {
            if b == b'\n' || buf.len() >= DOMAIN_PBUF_SIZE {
                let mut line = format!("(d{dom}) ").into_bytes();
                line.append(buf);
                line.push(b'\n');
                emit(&line);
                if b == b'\n' {
                    continue;
                }
            }
            if b == b'\t' || (b' '..=b'~').contains(&b) {
                buf.push(b);
            }
        }
        if buf.is_empty() {
            self.pbufs.remove(&dom);
        }
    }

    /// Forgets domain `dom`'s partial line (the domain is gone).
    pub fn forget(&mut self, dom: u16) {
        self.pbufs.remove(&dom);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, reason = "test data")]
    use super::*;
    use alloc::string::String;

    fn run(g: &mut GuestLines, dom: u16, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        g.write(dom, bytes, |l| out.push(String::from_utf8_lossy(l).into_owned()));
        out
    }

    #[test]
    fn lines_are_prefixed_and_buffered_per_domain() {
        let mut g = GuestLines::new();
        assert!(run(&mut g, 1, b"Test res").is_empty());
        assert!(run(&mut g, 2, b"other ").is_empty());
        assert_eq!(run(&mut g, 1, b"ult: SUCCESS\nnext"), ["(d1) Test result: SUCCESS\n"]);
        assert_eq!(run(&mut g, 2, b"line\n\n"), ["(d2) other line\n", "(d2) \n"]);
        assert_eq!(run(&mut g, 1, b"\n"), ["(d1) next\n"]);
        assert!(g.pbufs.is_empty());
    }

    #[test]
    fn control_bytes_are_dropped_and_long_lines_split() {
        let mut g = GuestLines::new();
        assert_eq!(run(&mut g, 3, b"a\x1b[2Jb\tc\r\n"), ["(d3) a[2Jb\tc\n"]);
        let long = [b'x'; 450];
        let lines = run(&mut g, 4, &long);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), "(d4) ".len() + DOMAIN_PBUF_SIZE + 1);
        g.forget(4);
        assert!(g.pbufs.is_empty());
    }
}
