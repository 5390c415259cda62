// SPDX-License-Identifier: GPL-2.0-only
//! `xenconsole`: attaches a terminal to a domain's console pty, as Xen's
//! `tools/console/client` (what `xm console` and `xm create -c` run).
//!
//! The pty's path is read from `/local/domain/<id>/console/tty`, waiting a
//! while for the daemon to write it (a domain just created may not have
//! one yet). Both the pty and, when it is a terminal, the user's terminal
//! go to raw mode; bytes are copied both ways until a read from the
//! terminal returns exactly the escape character `Ctrl-]` (0x1d), the
//! terminal closes, or the `tty` key changes to something that cannot be
//! opened (the console went away). When the pty fails (the daemon closed
//! it) the client waits for `tty` to change, as Xen's does.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use xenstored::client::{Client, ClientError};

use crate::pty::make_raw;

/// `Ctrl-]`: detaches from the console.
pub const ESCAPE_CHARACTER: u8 = 0x1d;

/// How long to wait for a new domain's `tty` (Xen's client waits 5 s).
pub const TTY_WAIT: Duration = Duration::from_secs(5);

/// The xenstore key holding domain `domid`'s PV console pty.
#[must_use]
pub fn tty_key(domid: u16) -> String {
    format!("/local/domain/{domid}/console/tty")
}

/// Where the pty's path comes from: a watched xenstore key, or a fake in
/// tests.
pub trait TtySource {
    /// A descriptor readable when the key may have changed.
    fn watch_fd(&self) -> BorrowedFd<'_>;
    /// Consumes pending change notices; whether there were any.
    fn take_changes(&mut self) -> io::Result<bool>;
    /// The key's value, `None` if absent.
    fn read(&mut self) -> io::Result<Option<String>>;
}

/// A watched key in xenstore.
#[derive(Debug)]
pub struct XsTty<'a> {
    xs: &'a mut Client,
    key: String,
}

fn xs_io(e: ClientError) -> io::Error {
    match e {
        ClientError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl<'a> XsTty<'a> {
    /// Watches `key` (token empty, as Xen's client).
    pub fn watch(xs: &'a mut Client, key: String) -> io::Result<Self> {
        xs.watch(&key, "").map_err(xs_io)?;
        Ok(Self { xs, key })
    }
}

impl TtySource for XsTty<'_> {
    fn watch_fd(&self) -> BorrowedFd<'_> {
        self.xs.as_fd()
    }

    fn take_changes(&mut self) -> io::Result<bool> {
        let mut any = false;
        while self.xs.try_event().map_err(xs_io)?.is_some() {
            any = true;
        }
        Ok(any)
    }

    fn read(&mut self) -> io::Result<Option<String>> {
        match self.xs.read(0, &self.key) {
            Ok(v) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
            Err(ClientError::Xs(_)) => Ok(None),
            Err(e) => Err(xs_io(e)),
        }
    }
}

/// Opens the pty named by the source, if it names one that opens.
fn open_named(src: &mut dyn TtySource) -> io::Result<Option<File>> {
    match src.read()? {
        Some(path) if !path.is_empty() => Ok(OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open(path.trim_end_matches('\0'))
            .ok()),
        _ => Ok(None),
    }
}

/// Xen's `get_pty_fd`: the pty, waiting up to `wait` for the key to name
/// one that opens.
pub fn open_pty(src: &mut dyn TtySource, wait: Duration) -> io::Result<Option<File>> {
    let now = Instant::now();
    let deadline = now.checked_add(wait).unwrap_or(now);
    loop {
        src.take_changes()?;
        if let Some(f) = open_named(src)? {
            return Ok(Some(f));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let ms = left.as_millis().max(1);
        let mut fds = [PollFd::new(src.watch_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Why [`console_loop`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detach {
    /// The user typed the escape character.
    Escape,
    /// The terminal's input ended or failed.
    InputClosed,
    /// The `tty` key no longer names a pty that opens.
    ConsoleGone,
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = data.get(n..).unwrap_or(&[]),
            Err(nix::Error::EINTR) => {}
            Err(nix::Error::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(1000u16));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Xen's `console_loop`: copies `input` to the pty and the pty to
/// `output`; `interactive` says whether `input` is read at all.
pub fn console_loop(
    input: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
    pty: Option<File>,
    src: &mut dyn TtySource,
    interactive: bool,
) -> io::Result<Detach> {
    let mut pty = pty;
    loop {
        let (xs_ready, in_ready, pty_ready) = {
            let mut fds = vec![PollFd::new(src.watch_fd(), PollFlags::POLLIN)];
            if interactive {
                fds.push(PollFd::new(input, PollFlags::POLLIN));
            }
            if let Some(p) = &pty {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready =
                |f: Option<&PollFd<'_>>| f.and_then(PollFd::revents).is_some_and(|r| !r.is_empty());
            let xs = ready(fds.first());
            let inp = interactive && ready(fds.get(1));
            let p = pty.is_some() && ready(fds.get(if interactive { 2 } else { 1 }));
            (xs, inp, p)
        };
        if xs_ready && src.take_changes()? {
            match open_named(src)? {
                Some(f) => pty = Some(f),
                None => return Ok(Detach::ConsoleGone),
            }
            continue;
        }
        if in_ready {
            let mut msg = [0u8; 60];
            match nix::unistd::read(input, &mut msg) {
                Ok(1) if msg.first() == Some(&ESCAPE_CHARACTER) => return Ok(Detach::Escape),
                Ok(0) => return Ok(Detach::InputClosed),
                Ok(n) => {
                    if let Some(p) = &pty
                        && write_all(p.as_fd(), msg.get(..n).unwrap_or(&[])).is_err()
                    {
                        pty = None;
                    }
                }
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                Err(_) => return Ok(Detach::InputClosed),
            }
        }
        if pty_ready && let Some(p) = &pty {
            let mut msg = [0u8; 512];
            match nix::unistd::read(p.as_fd(), &mut msg) {
                Ok(0) | Err(nix::Error::EIO | nix::Error::EBADF) => pty = None,
                Ok(n) => write_all(output, msg.get(..n).unwrap_or(&[]))?,
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                Err(_) => pty = None,
            }
        }
    }
}

/// Attaches `input`/`output` to domain `domid`'s console: watches its
/// `tty` key, waits up to `wait` for a pty, sets raw modes (restoring the
/// terminal's afterwards) and runs [`console_loop`].
pub fn attach(
    xs: &mut Client,
    domid: u16,
    input: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
    wait: Duration,
) -> io::Result<Detach> {
    let mut src = XsTty::watch(xs, tty_key(domid))?;
    let Some(pty) = open_pty(&mut src, wait)? else {
        return Err(io::Error::new(io::ErrorKind::NotFound, "Could not read tty from store"));
    };
    let _ = make_raw(&pty);
    let interactive =
        nix::unistd::isatty(input).unwrap_or(false) && nix::unistd::isatty(output).unwrap_or(false);
    let saved = if interactive { make_raw(input).ok() } else { None };
    let result = console_loop(input, output, Some(pty), &mut src, interactive);
    if let Some(old) = saved {
        let _ = nix::sys::termios::tcsetattr(input, nix::sys::termios::SetArg::TCSANOW, &old);
    }
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    use std::sync::{Arc, Mutex};
    use std::thread;

    use super::*;
    use crate::pty::{Pty, set_nonblocking};

    /// A `tty` key in memory; writing to `poke` signals a change.
    struct FakeTty {
        value: Arc<Mutex<Option<String>>>,
        watch: UnixStream,
    }

    impl TtySource for FakeTty {
        fn watch_fd(&self) -> BorrowedFd<'_> {
            self.watch.as_fd()
        }
        fn take_changes(&mut self) -> io::Result<bool> {
            self.watch.set_nonblocking(true)?;
            let mut buf = [0u8; 64];
            let mut any = false;
            while let Ok(n) = (&self.watch).read(&mut buf) {
                if n == 0 {
                    break;
                }
                any = true;
            }
            Ok(any)
        }
        fn read(&mut self) -> io::Result<Option<String>> {
            Ok(self.value.lock().unwrap().clone())
        }
    }

    struct Setup {
        /// The console's pty, as the daemon holds it.
        console: Pty,
        /// The user's terminal: the test types into and reads from its master.
        user: std::fs::File,
        key: Arc<Mutex<Option<String>>>,
        poke: UnixStream,
        client: thread::JoinHandle<io::Result<Detach>>,
    }

    fn setup() -> Setup {
        let console = Pty::open().unwrap();
        let term = nix::pty::openpty(None, None).unwrap();
        make_raw(&term.slave).unwrap();
        let slave: OwnedFd = term.slave;
        let key = Arc::new(Mutex::new(Some(console.path().to_string_lossy().into_owned())));
        let (poke, watch) = UnixStream::pair().unwrap();
        let mut src = FakeTty { value: Arc::clone(&key), watch };
        let client = thread::spawn(move || {
            let pty = open_pty(&mut src, Duration::from_secs(5))?.unwrap();
            console_loop(slave.as_fd(), slave.as_fd(), Some(pty), &mut src, true)
        });
        let user = std::fs::File::from(term.master);
        set_nonblocking(&user).unwrap();
        Setup { console, user, key, poke, client }
    }

    fn read_exactly(fd: BorrowedFd<'_>, want: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < want {
            assert!(Instant::now() < deadline, "got {got:?}, wanted {want} bytes");
            let mut buf = [0u8; 256];
            match nix::unistd::read(fd, &mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(nix::Error::EAGAIN) => thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    fn wait(client: thread::JoinHandle<io::Result<Detach>>) -> Detach {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !client.is_finished() {
            assert!(Instant::now() < deadline, "client did not return");
            thread::sleep(Duration::from_millis(5));
        }
        client.join().unwrap().unwrap()
    }

    #[test]
    fn copies_both_ways_and_escape_detaches() {
        let mut s = setup();
        // Console output reaches the terminal, byte for byte.
        nix::unistd::write(s.console.master(), b"Welcome\r\n\x1d inside output\n").unwrap();
        assert_eq!(read_exactly(s.user.as_fd(), 25), b"Welcome\r\n\x1d inside output\n");
        // Typing reaches the console; an escape among other bytes is data.
        s.user.write_all(b"ls\r").unwrap();
        assert_eq!(read_exactly(s.console.master(), 3), b"ls\r");
        thread::sleep(Duration::from_millis(50));
        s.user.write_all(b"a\x1db").unwrap();
        assert_eq!(read_exactly(s.console.master(), 3), b"a\x1db");
        assert!(!s.client.is_finished());
        // Ctrl-] alone detaches; nothing of it reaches the console.
        thread::sleep(Duration::from_millis(50));
        s.user.write_all(&[ESCAPE_CHARACTER]).unwrap();
        assert_eq!(wait(s.client), Detach::Escape);
        let mut buf = [0u8; 8];
        assert_eq!(nix::unistd::read(s.console.master(), &mut buf), Err(nix::Error::EAGAIN));
    }

    #[test]
    fn a_vanished_tty_key_ends_the_session() {
        let mut s = setup();
        nix::unistd::write(s.console.master(), b"x").unwrap();
        assert_eq!(read_exactly(s.user.as_fd(), 1), b"x");
        *s.key.lock().unwrap() = None;
        s.poke.write_all(b"!").unwrap();
        assert_eq!(wait(s.client), Detach::ConsoleGone);
    }

    #[test]
    fn a_closed_console_waits_for_a_new_pty() {
        let mut s = setup();
        nix::unistd::write(s.console.master(), b"1").unwrap();
        assert_eq!(read_exactly(s.user.as_fd(), 1), b"1");
        // The daemon closes the pty (and would write a new one).
        drop(s.console);
        thread::sleep(Duration::from_millis(100));
        assert!(!s.client.is_finished(), "a dead pty alone does not end it");
        let fresh = Pty::open().unwrap();
        *s.key.lock().unwrap() = Some(fresh.path().to_string_lossy().into_owned());
        s.poke.write_all(b"!").unwrap();
        nix::unistd::write(fresh.master(), b"2").unwrap();
        assert_eq!(read_exactly(s.user.as_fd(), 1), b"2");
        s.user.write_all(&[ESCAPE_CHARACTER]).unwrap();
        assert_eq!(wait(s.client), Detach::Escape);
    }

    #[test]
    fn waiting_for_a_tty_gives_up() {
        let (_poke, watch) = UnixStream::pair().unwrap();
        let mut src = FakeTty { value: Arc::new(Mutex::new(None)), watch };
        let start = Instant::now();
        assert!(open_pty(&mut src, Duration::from_millis(200)).unwrap().is_none());
        assert!(start.elapsed() >= Duration::from_millis(200));
        *src.value.lock().unwrap() = Some("/nonexistent/pty".into());
        assert!(open_pty(&mut src, Duration::from_millis(50)).unwrap().is_none());
    }
}
