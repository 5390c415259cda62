// SPDX-License-Identifier: GPL-2.0-only
//! A console's pty pair: the daemon keeps the master (non-blocking) and the
//! slave open (Linux returns `EIO` on the master whenever no slave is open,
//! so holding one keeps the console usable while no client is attached);
//! clients open the slave by its path.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

/// An open pty pair.
#[derive(Debug)]
pub struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
    path: PathBuf,
}

/// Puts the terminal on `fd` into raw mode (`cfmakeraw`), returning the
/// previous settings.
pub fn make_raw<F: AsFd>(fd: F) -> nix::Result<nix::sys::termios::Termios> {
    let old = tcgetattr(&fd)?;
    let mut raw = old.clone();
    cfmakeraw(&mut raw);
    tcsetattr(&fd, SetArg::TCSANOW, &raw)?;
    Ok(old)
}

/// Sets `O_NONBLOCK` on `fd`.
pub fn set_nonblocking<F: AsFd>(fd: F) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

impl Pty {
    /// Opens a pair, the slave in raw mode, the master non-blocking (as
    /// Xen's `console_create_tty`).
    pub fn open() -> nix::Result<Self> {
        let pair = nix::pty::openpty(None, None)?;
        make_raw(&pair.slave)?;
        let path = nix::unistd::ttyname(&pair.slave)?;
        set_nonblocking(&pair.master)?;
        Ok(Self { master: pair.master, slave: pair.slave, path })
    }

    /// The slave's path, e.g. `/dev/pts/3`.
    #[must_use]
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The master side.
    #[must_use]
    pub fn master(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }

    /// The slave kept open by the daemon.
    #[must_use]
    pub fn slave(&self) -> BorrowedFd<'_> {
        self.slave.as_fd()
    }
}
