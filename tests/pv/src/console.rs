// SPDX-License-Identifier: GPL-2.0-only
//! Console output through `console_io`: [`print!`](crate::print) and
//! [`println!`](crate::println).
//!
//! Text is gathered in a small stack buffer ([`LINE_BUFFER`] bytes) and sent
//! with `CONSOLEIO_write` at each newline, when the buffer fills up and at
//! the end of each macro call, so a line usually reaches the hypervisor in
//! one hypercall. Nothing is allocated. Write errors are ignored: there is
//! nowhere else to report them. A domU's text also goes to its PV console
//! ring ([`crate::xencons`]).

use core::fmt;

use crate::hypercall::Via;
use crate::ops;

/// Size of the buffer a [`Console`] gathers text in.
pub const LINE_BUFFER: usize = 128;

/// A `fmt::Write` sink that sends its text with `CONSOLEIO_write`.
///
/// Flushes on newlines, when full, and when dropped.
pub struct Console {
    buf: [u8; LINE_BUFFER],
    len: usize,
}

impl Console {
    /// An empty console writer.
    #[must_use]
    pub const fn new() -> Self {
        Self { buf: [0; LINE_BUFFER], len: 0 }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        if let Some(pending) = self.buf.get(..self.len) {
            // Errors are dropped: the console is the only place to report them.
            let _ = ops::console_write_via(Via::framework(), pending);
            crate::xencons::write(pending);
        }
        self.len = 0;
    }

    /// Buffers `bytes`, flushing as needed.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = byte;
                self.len = self.len.saturating_add(1);
            }
            if byte == b'\n' || self.len >= LINE_BUFFER {
                self.flush();
            }
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Formats `args` to the console (used by the macros).
pub fn print(args: fmt::Arguments<'_>) {
    let mut console = Console::new();
    // `Console::write_str` never fails; a `Display` impl might, and then the
    // rest of the text is dropped.
    let _ = fmt::write(&mut console, args);
}

/// Prints to the hypervisor console (`console_io`).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::print(::core::format_args!($($arg)*))
    };
}

/// Prints a line (ending `"\n"`) to the hypervisor console (`console_io`).
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::print(::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

/// Displays bytes from guest or hypervisor memory as text: printable ASCII
/// as is, everything else (and `"` and `\`) as `\xNN` escapes.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &byte in self.0 {
            if (b' '..=b'~').contains(&byte) && byte != b'"' && byte != b'\\' {
                fmt::Write::write_char(f, char::from(byte))?;
            } else {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// The bytes of `buf` before its first NUL (all of them if there is none).
#[must_use]
pub fn c_str(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.get(..end).unwrap_or(buf)
}
