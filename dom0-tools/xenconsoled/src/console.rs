// SPDX-License-Identifier: GPL-2.0-only
//! One domain's PV console: the per-console state of Xen's daemon and its
//! transitions.
//!
//! [`Console::connect`] (Xen's `console_create_ring`) runs whenever the
//! domain's `console` directory changes: it reads `ring-ref` and `port`
//! (missing: not ready yet, try again on the next change), skips consoles
//! whose `type` is set to something other than `xenconsoled`, maps the page
//! (grant `GNTTAB_RESERVED_CONSOLE` first, then the `ring-ref` frame;
//! remapped when `ring-ref` changes), binds the port (rebound when `port`
//! changes), opens the pty once and writes its slave path to
//! `console/tty`, and opens the log. Events move the `out` ring into the
//! [`Buffer`] and on to the pty; pty input goes to the `in` ring.
//!
//! Rate limiting as Xen's: a console that took [`RATE_LIMIT_ALLOWANCE`]
//! events within [`RATE_LIMIT_PERIOD`] is left masked until the period
//! ends, so a guest notifying in a loop costs dom0 little.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use guest_abi::grant_table::GNTTAB_RESERVED_CONSOLE;
use guest_abi::xen::{DomId, EvtchnPort, GrantRef, Mfn};
use nix::poll::PollFlags;
use xenstored::client::{Client, ClientError};

use crate::backend::{EventChannel, Hypervisor};
use crate::buffer::Buffer;
use crate::log::LogFile;
use crate::pty::Pty;
use crate::ring::{self, OutRing};

/// Events a console may take per [`RATE_LIMIT_PERIOD`].
pub const RATE_LIMIT_ALLOWANCE: u32 = 30;
/// The rate-limiting period.
pub const RATE_LIMIT_PERIOD: Duration = Duration::from_millis(200);
/// The buffer limit of a domain without `console/limit` (or with 0): the
/// 1 MiB xend and xl write there, so a guest's output cannot grow dom0's
/// memory without bound (Xen's daemon has no limit then).
pub const DEFAULT_LIMIT: usize = 1 << 20;
/// The smallest limit a console gets: a discard drops half a limit and a
/// ring read adds up to [`XENCONS_OUT_SIZE`](guest_abi::io::console::XENCONS_OUT_SIZE)
/// bytes, so below two rings' worth a `discard` buffer could still grow.
pub const MIN_LIMIT: usize = 2 * guest_abi::io::console::XENCONS_OUT_SIZE as usize;
/// Bytes read from the pty per event (Xen's `msg[80]`).
const TTY_READ_CHUNK: usize = 80;

/// The daemon-wide settings a console follows.
#[derive(Clone, Debug, Default)]
pub struct ConsoleConfig {
    /// `--overflow-data=discard` (else `keep`).
    pub discard: bool,
    /// Log guest output (`--log=guest|all`) into this directory.
    pub log_dir: Option<std::path::PathBuf>,
    /// Timestamps in guest logs.
    pub timestamps: bool,
    /// `--replace-escape`.
    pub replace_escape: bool,
}

/// What went wrong setting a console up.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// xenstore failed.
    #[error("xenstore: {0}")]
    Xs(#[from] ClientError),
    /// The hypervisor or the kernel refused.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// A xenstore value made no sense.
    #[error("bad {0}")]
    Invalid(&'static str),
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> ConsoleError {
    move |source| ConsoleError::Io { what, source }
}

fn nix_err(what: &'static str) -> impl FnOnce(nix::Error) -> ConsoleError {
    move |e| ConsoleError::Io { what, source: io::Error::from(e) }
}

/// `t + d`, saturating at `t` where the clock cannot represent it.
#[must_use]
pub fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

/// `strtoul(s, 0, 0)`: decimal, `0x` hex or `0` octal, leading part only;
/// 0 when nothing parses.
#[must_use]
pub fn parse_ulong(s: &str) -> u64 {
    let s = s.trim_start();
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (s.get(1..).unwrap_or(""), 8)
    } else {
        (s, 10)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    u64::from_str_radix(digits.get(..end).unwrap_or(""), radix).unwrap_or(0)
}

/// `sscanf("%u"/"%i")`-like: the leading decimal number.
fn parse_number(s: &str) -> Option<u64> {
    let s = s.trim_start();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.get(..end)?.parse().ok()
}

/// One domain's console.
pub struct Console<H: Hypervisor> {
    domid: DomId,
    xspath: String,
    page: Option<H::Page>,
    /// The frame mapped, when mapped by `ring-ref` rather than by grant.
    ring_ref: Option<u64>,
    channel: Option<H::Channel>,
    remote_port: Option<EvtchnPort>,
    pty: Option<Pty>,
    buffer: Buffer,
    log: Option<LogFile>,
    event_count: u32,
    next_period: Instant,
    dead: bool,
    broken_reported: bool,
}

impl<H: Hypervisor> std::fmt::Debug for Console<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("domid", &self.domid)
            .field("mapped", &self.page.is_some())
            .field("ring_ref", &self.ring_ref)
            .field("remote_port", &self.remote_port)
            .field("pty", &self.pty)
            .field("buffered", &self.buffer.pending().len())
            .field("event_count", &self.event_count)
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

impl<H: Hypervisor> Console<H> {
    /// A console not yet connected.
    #[must_use]
    pub fn new(domid: DomId) -> Self {
        Self {
            domid,
            xspath: format!("/local/domain/{}/console", domid.0),
            page: None,
            ring_ref: None,
            channel: None,
            remote_port: None,
            pty: None,
            buffer: Buffer::new(DEFAULT_LIMIT),
            log: None,
            event_count: 0,
            next_period: later(Instant::now(), RATE_LIMIT_PERIOD),
            dead: false,
            broken_reported: false,
        }
    }

    /// The domain.
    #[must_use]
    pub fn domid(&self) -> DomId {
        self.domid
    }

    /// `/local/domain/<id>/console`.
    #[must_use]
    pub fn xspath(&self) -> &str {
        &self.xspath
    }

    /// The pty's slave path, once open.
    #[must_use]
    pub fn tty_path(&self) -> Option<&std::path::Path> {
        self.pty.as_ref().map(Pty::path)
    }

    /// Whether the domain is gone (to be cleaned up).
    #[must_use]
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Whether page, channel and pty are all there.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.page.is_some() && self.channel.is_some() && self.pty.is_some()
    }

    fn read_opt(xs: &mut Client, path: &str) -> Result<Option<String>, ConsoleError> {
        match xs.read(0, path) {
            Ok(v) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
            Err(ClientError::Xs(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Xen's `console_create_ring`: (re)connects to what `console/` says.
    pub fn connect(
        &mut self,
        xs: &mut Client,
        hv: &mut H,
        cfg: &ConsoleConfig,
    ) -> Result<(), ConsoleError> {
        if self.dead {
            return Ok(());
        }
        let ring_ref = Self::read_opt(xs, &format!("{}/ring-ref", self.xspath))?;
        let port = Self::read_opt(xs, &format!("{}/port", self.xspath))?;
        let (Some(ring_ref), Some(port)) = (ring_ref, port) else {
            return Ok(());
        };
        let ring_ref = parse_number(&ring_ref).ok_or(ConsoleError::Invalid("ring-ref"))?;
        let port = parse_number(&port)
            .and_then(|p| u32::try_from(p).ok())
            .map(EvtchnPort)
            .ok_or(ConsoleError::Invalid("port"))?;
        if let Some(ty) = Self::read_opt(xs, &format!("{}/type", self.xspath))?
            && ty != "xenconsoled"
        {
            return Ok(());
        }

        if self.ring_ref.is_some_and(|r| r != ring_ref) {
            self.page = None;
            self.ring_ref = None;
        }
        if self.page.is_none() {
            match hv.map_grant(self.domid, GrantRef(GNTTAB_RESERVED_CONSOLE)) {
                Ok(page) => self.page = Some(page),
                Err(_) => {
                    let page = hv
                        .map_foreign(self.domid, Mfn(ring_ref))
                        .map_err(io_err("mapping the console page"))?;
                    self.page = Some(page);
                    self.ring_ref = Some(ring_ref);
                }
            }
        }

        if self.remote_port == Some(port) && self.channel.is_some() {
            return Ok(());
        }
        self.channel = None;
        self.remote_port = None;
        let channel =
            hv.bind_interdomain(self.domid, port).map_err(io_err("binding the console port"))?;
        if self.pty.is_none()
            && let Err(e) = self.create_tty(xs)
        {
            return Err(e);
        }
        self.channel = Some(channel);
        self.remote_port = Some(port);
        if self.log.is_none() {
            self.log = self.open_log(xs, cfg);
        }
        Ok(())
    }

    /// Xen's `console_create_tty`: a new pty, `limit` read, `tty` written.
    fn create_tty(&mut self, xs: &mut Client) -> Result<(), ConsoleError> {
        let pty = Pty::open().map_err(nix_err("opening a pty"))?;
        if let Some(limit) = Self::read_opt(xs, &format!("{}/limit", self.xspath))? {
            let limit = usize::try_from(parse_ulong(&limit)).unwrap_or(usize::MAX);
            self.buffer.set_max_capacity(if limit == 0 {
                DEFAULT_LIMIT
            } else {
                limit.max(MIN_LIMIT)
            });
        }
        let path = pty.path().to_string_lossy().into_owned();
        xs.write(0, &format!("{}/tty", self.xspath), path.as_bytes())?;
        self.pty = Some(pty);
        Ok(())
    }

    fn open_log(&self, xs: &mut Client, cfg: &ConsoleConfig) -> Option<LogFile> {
        let dir = cfg.log_dir.as_ref()?;
        let name = Self::read_opt(xs, &format!("/local/domain/{}/name", self.domid.0)).ok()??;
        if name.is_empty() || name.contains('/') || name == ".." {
            return None;
        }
        match LogFile::open(
            &dir.join(format!("guest-{name}.log")),
            cfg.timestamps,
            cfg.replace_escape,
        ) {
            Ok(log) => Some(log),
            Err(e) => {
                eprintln!("xenconsoled: domain {}: log: {e}", self.domid.0);
                None
            }
        }
    }

    /// Reopens the log (`SIGHUP`).
    pub fn reopen_log(&mut self, xs: &mut Client, cfg: &ConsoleConfig) {
        if !self.dead && self.pty.is_some() {
            self.log = None;
            self.log = self.open_log(xs, cfg);
        }
    }

    /// Xen's `console_evtchn_unmask`: a new period starts every
    /// [`RATE_LIMIT_PERIOD`]; a console that was held back is unmasked.
    pub fn rate_limit_tick(&mut self, now: Instant) {
        if later(now, Duration::from_millis(5)) > self.next_period {
            self.next_period = later(now, RATE_LIMIT_PERIOD);
            if self.event_count >= RATE_LIMIT_ALLOWANCE
                && let Some(ch) = &mut self.channel
            {
                let _ = ch.unmask();
            }
            self.event_count = 0;
        }
    }

    /// When a held-back console's period ends.
    #[must_use]
    pub fn rate_limited_until(&self) -> Option<Instant> {
        (self.event_count >= RATE_LIMIT_ALLOWANCE).then_some(self.next_period)
    }

    /// The event channel to poll, if the ring may be read now.
    #[must_use]
    pub fn ring_fd(&self, cfg: &ConsoleConfig) -> Option<std::os::fd::BorrowedFd<'_>> {
        if self.dead
            || self.event_count >= RATE_LIMIT_ALLOWANCE
            || !self.buffer.available(cfg.discard)
        {
            return None;
        }
        self.channel.as_ref().map(AsFd::as_fd)
    }

    /// The pty master and what to poll it for.
    #[must_use]
    pub fn tty_poll(&self) -> Option<(std::os::fd::BorrowedFd<'_>, PollFlags)> {
        let pty = self.pty.as_ref()?;
        let mut events = PollFlags::empty();
        if !self.dead && self.page.as_ref().is_some_and(|p| ring::in_free(p) > 0) {
            events |= PollFlags::POLLIN;
        }
        if !self.buffer.is_empty() {
            events |= PollFlags::POLLOUT;
        }
        (!events.is_empty()).then(|| (pty.master(), events | PollFlags::POLLPRI))
    }

    /// Xen's `handle_ring_read`: the event channel is readable.
    pub fn handle_ring(&mut self, cfg: &ConsoleConfig) {
        if self.dead {
            return;
        }
        let Some(ch) = &mut self.channel else { return };
        let port = match ch.pending() {
            Ok(Some(port)) => port,
            Ok(None) => return,
            Err(e) => {
                eprintln!("xenconsoled: domain {}: event channel: {e}", self.domid.0);
                return;
            }
        };
        if port != ch.local_port() {
            return;
        }
        self.event_count = self.event_count.saturating_add(1);
        self.buffer_append(cfg);
        if self.event_count < RATE_LIMIT_ALLOWANCE
            && let Some(ch) = &mut self.channel
        {
            let _ = ch.unmask();
        }
    }

    /// Xen's `buffer_append`: the `out` ring into the buffer and the log.
    pub fn buffer_append(&mut self, cfg: &ConsoleConfig) {
        let (Some(page), Some(ch)) = (&mut self.page, &mut self.channel) else { return };
        let mut bytes = Vec::new();
        match ring::read_out(page, &mut bytes) {
            OutRing::Empty => {}
            OutRing::Broken { prod, cons } => {
                if !self.broken_reported {
                    self.broken_reported = true;
                    eprintln!(
                        "xenconsoled: domain {}: console ring broken (out_prod {prod:#x}, out_cons {cons:#x}), ignoring it",
                        self.domid.0
                    );
                }
            }
            OutRing::Read(_) => {
                let _ = ch.notify();
                if let Some(log) = &mut self.log
                    && let Err(e) = log.write(&bytes)
                {
                    eprintln!("xenconsoled: domain {}: log write: {e}", self.domid.0);
                }
                self.buffer.append(&bytes, cfg.discard);
            }
        }
    }

    /// Xen's `handle_console_tty` with `revents` from poll; `alive` asks
    /// the hypervisor whether the domain still exists.
    pub fn handle_tty(
        &mut self,
        revents: PollFlags,
        xs: &mut Client,
        alive: &mut dyn FnMut() -> bool,
    ) {
        if self.pty.is_none() {
            return;
        }
        if revents.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL) {
            self.broken_tty(xs, alive());
            return;
        }
        if revents.contains(PollFlags::POLLIN) {
            self.tty_read(xs, alive);
        }
        if revents.contains(PollFlags::POLLOUT) {
            self.tty_write(xs, alive);
        }
    }

    /// Xen's `console_handle_broken_tty`: a new pty if the domain lives,
    /// else the console goes.
    fn broken_tty(&mut self, xs: &mut Client, recreate: bool) {
        self.pty = None;
        if recreate {
            if let Err(e) = self.create_tty(xs) {
                eprintln!("xenconsoled: domain {}: new pty: {e}", self.domid.0);
            }
        } else {
            self.shutdown();
        }
    }

    fn tty_read(&mut self, xs: &mut Client, alive: &mut dyn FnMut() -> bool) {
        if self.dead {
            return;
        }
        let Some(page) = &self.page else { return };
        let free = ring::in_free(page).min(TTY_READ_CHUNK);
        if free == 0 {
            return;
        }
        let Some(pty) = &self.pty else { return };
        let mut msg = [0u8; TTY_READ_CHUNK];
        let got = nix::unistd::read(pty.master(), msg.get_mut(..free).unwrap_or(&mut []));
        match got {
            Err(nix::Error::EAGAIN | nix::Error::EINTR) => {}
            Err(_) => {
                let live = alive();
                self.broken_tty(xs, live);
            }
            Ok(n) => {
                if alive() {
                    if let (Some(page), Some(ch)) = (&mut self.page, &mut self.channel) {
                        ring::write_in(page, msg.get(..n).unwrap_or(&[]));
                        let _ = ch.notify();
                    }
                } else {
                    self.pty = None;
                    self.shutdown();
                }
            }
        }
    }

    fn tty_write(&mut self, xs: &mut Client, alive: &mut dyn FnMut() -> bool) {
        if self.dead {
            return;
        }
        let Some(pty) = &self.pty else { return };
        match nix::unistd::write(pty.master(), self.buffer.pending()) {
            Ok(n) if n > 0 => self.buffer.advance(n),
            Err(nix::Error::EAGAIN | nix::Error::EINTR) => {}
            _ => {
                let live = alive();
                self.broken_tty(xs, live);
            }
        }
    }

    /// Xen's `shutdown_domain`: the domain is going; unmap and unbind now,
    /// the pty goes at cleanup.
    pub fn shutdown(&mut self) {
        self.dead = true;
        self.page = None;
        self.ring_ref = None;
        self.channel = None;
        self.remote_port = None;
    }

    /// Bytes waiting for the pty (tests and diagnostics).
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buffer.pending().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_as_strtoul_base_0() {
        assert_eq!(parse_ulong("1048576"), 1_048_576);
        assert_eq!(parse_ulong("0x1000"), 4096);
        assert_eq!(parse_ulong("010"), 8);
        assert_eq!(parse_ulong(" 42kB"), 42);
        assert_eq!(parse_ulong("0"), 0);
        assert_eq!(parse_ulong("junk"), 0);
        assert_eq!(parse_ulong("99999999999999999999999"), 0);
    }

    #[test]
    fn ring_ref_and_port_parse_as_sscanf() {
        assert_eq!(parse_number("4660"), Some(4660));
        assert_eq!(parse_number("7\n"), Some(7));
        assert_eq!(parse_number("x7"), None);
        assert_eq!(parse_number(""), None);
    }
}
