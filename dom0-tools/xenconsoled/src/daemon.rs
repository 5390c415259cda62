// SPDX-License-Identifier: GPL-2.0-only
//! The daemon's event loop (Xen's `handle_io`): one `poll` over the
//! xenstore connection, each console's event channel and pty master, the
//! stop descriptor, and timeouts for rate-limited consoles and the
//! hypervisor log.
//!
//! Domains are found as Xen's `enum_domains` finds them: on every
//! `@introduceDomain`/`@releaseDomain` (token `domlist`) the hypervisor's
//! domain list is read; a new domain (not dom0) gets a [`Console`] and a
//! watch on its `console` directory (token `dom<id>`), a dying or vanished
//! one is shut down (unmapped, unbound) and then cleaned up (pty closed,
//! log closed, watch removed). A domain that comes back under a new id is
//! a new domain with a new pty. Nothing a domain does ends the loop; only
//! the stop descriptor, a failed xenstore connection or a failed `poll`
//! do.

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use guest_abi::xen::DomId;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use xenstored::client::{Client, ClientError};

use crate::backend::Hypervisor;
use crate::console::{Console, ConsoleConfig};
use crate::log::LogFile;

/// How often the hypervisor's console is read for `--log=hv` (Xen waits
/// for `VIRQ_CON_RING`, which needs the evtchn binding; see [`crate::xen`]).
pub const HV_LOG_INTERVAL: Duration = Duration::from_millis(500);

/// The daemon's settings (Xen's command line).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// What guests' consoles do.
    pub console: ConsoleConfig,
    /// Write `<log_dir>/hypervisor.log` (`--log=hv|all`).
    pub hv_log: Option<PathBuf>,
    /// Timestamps in the hypervisor log.
    pub hv_timestamps: bool,
}

/// Why the loop ended.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The xenstore connection failed.
    #[error("xenstore: {0}")]
    Xs(#[from] ClientError),
    /// `poll` failed.
    #[error("poll: {0}")]
    Poll(nix::Error),
}

/// What a poll slot belongs to.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Stop,
    Xs,
    Ring(u16),
    Tty(u16),
}

/// The console daemon.
pub struct Daemon<H: Hypervisor> {
    xs: Client,
    hv: H,
    opts: Options,
    domains: BTreeMap<u16, Console<H>>,
    hv_log: Option<(LogFile, u32)>,
    next_hv_read: Instant,
}

impl<H: Hypervisor> std::fmt::Debug for Daemon<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("opts", &self.opts)
            .field("domains", &self.domains)
            .finish_non_exhaustive()
    }
}

impl<H: Hypervisor> Daemon<H> {
    /// Connects the pieces: watches the domain list and, with `--log=hv`,
    /// opens the hypervisor log and writes the console so far into it.
    pub fn new(mut xs: Client, hv: H, opts: Options) -> Result<Self, DaemonError> {
        xs.watch("@introduceDomain", "domlist")?;
        xs.watch("@releaseDomain", "domlist")?;
        let hv_log = match &opts.hv_log {
            Some(dir) => {
                match LogFile::open(
                    &dir.join("hypervisor.log"),
                    opts.hv_timestamps,
                    opts.console.replace_escape,
                ) {
                    Ok(log) => Some((log, 0)),
                    Err(e) => {
                        eprintln!("xenconsoled: hypervisor log: {e}");
                        None
                    }
                }
            }
            None => None,
        };
        let mut daemon =
            Self { xs, hv, opts, domains: BTreeMap::new(), hv_log, next_hv_read: Instant::now() };
        daemon.read_hv_console();
        daemon.enum_domains();
        Ok(daemon)
    }

    /// The consoles, by domain id.
    #[must_use]
    pub fn consoles(&self) -> &BTreeMap<u16, Console<H>> {
        &self.domains
    }

    /// The xenstore connection.
    pub fn xs(&mut self) -> &mut Client {
        &mut self.xs
    }

    /// Xen's `enum_domains`: new domains get a console, dying or vanished
    /// ones are shut down.
    pub fn enum_domains(&mut self) {
        let list = match self.hv.domains() {
            Ok(list) => list,
            Err(e) => {
                eprintln!("xenconsoled: listing domains: {e}");
                return;
            }
        };
        let mut seen = Vec::new();
        for d in list {
            if d.domid.0 == 0 || d.domid.is_reserved() {
                continue;
            }
            seen.push(d.domid.0);
            if d.dying {
                if let Some(c) = self.domains.get_mut(&d.domid.0) {
                    c.shutdown();
                }
            } else if !self.domains.contains_key(&d.domid.0) {
                self.create_domain(d.domid);
            }
        }
        for (id, c) in &mut self.domains {
            if !seen.contains(id) {
                c.shutdown();
            }
        }
    }

    fn create_domain(&mut self, domid: DomId) {
        let mut console = Console::new(domid);
        let token = format!("dom{}", domid.0);
        if let Err(e) = self.xs.watch(console.xspath(), &token) {
            eprintln!("xenconsoled: domain {}: watch: {e}", domid.0);
            return;
        }
        if let Err(e) = console.connect(&mut self.xs, &mut self.hv, &self.opts.console) {
            eprintln!("xenconsoled: domain {}: {e}", domid.0);
        }
        self.domains.insert(domid.0, console);
    }

    /// Handles every watch event that has arrived.
    fn handle_xs(&mut self) -> Result<(), DaemonError> {
        while let Some((_path, token)) = self.xs.try_event()? {
            if token == "domlist" {
                self.enum_domains();
            } else if let Some(id) = token.strip_prefix("dom").and_then(|s| s.parse::<u16>().ok())
                && let Some(c) = self.domains.get_mut(&id)
                && let Err(e) = c.connect(&mut self.xs, &mut self.hv, &self.opts.console)
            {
                eprintln!("xenconsoled: domain {id}: {e}");
            }
        }
        Ok(())
    }

    fn read_hv_console(&mut self) {
        let Some((log, index)) = &mut self.hv_log else { return };
        self.next_hv_read = crate::console::later(Instant::now(), HV_LOG_INTERVAL);
        match self.hv.read_console(index) {
            Ok(bytes) if !bytes.is_empty() => {
                if let Err(e) = log.write(&bytes) {
                    eprintln!("xenconsoled: hypervisor log: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => eprintln!("xenconsoled: reading the hypervisor console: {e}"),
        }
    }

    /// Reopens every log (`SIGHUP`).
    pub fn reopen_logs(&mut self) {
        for c in self.domains.values_mut() {
            c.reopen_log(&mut self.xs, &self.opts.console);
        }
        if let (Some((log, _)), Some(dir)) = (&mut self.hv_log, &self.opts.hv_log) {
            match LogFile::open(
                &dir.join("hypervisor.log"),
                self.opts.hv_timestamps,
                self.opts.console.replace_escape,
            ) {
                Ok(new) => *log = new,
                Err(e) => eprintln!("xenconsoled: hypervisor log: {e}"),
            }
        }
    }

    /// Removes the consoles of dead domains.
    fn cleanup(&mut self) {
        let dead: Vec<u16> =
            self.domains.iter().filter(|(_, c)| c.is_dead()).map(|(id, _)| *id).collect();
        for id in dead {
            if let Some(c) = self.domains.remove(&id) {
                let _ = self.xs.unwatch(c.xspath(), &format!("dom{id}"));
            }
        }
    }

    /// One round: poll (waiting at most `max_wait`, if given), then handle
    /// what is ready. Returns `false` when `stop` became readable.
    pub fn run_once(
        &mut self,
        stop: Option<BorrowedFd<'_>>,
        max_wait: Option<Duration>,
    ) -> Result<bool, DaemonError> {
        self.handle_xs()?;
        self.cleanup();
        let now = Instant::now();
        let mut deadline: Option<Instant> = None;
        for c in self.domains.values_mut() {
            c.rate_limit_tick(now);
            if let Some(t) = c.rate_limited_until() {
                deadline = Some(deadline.map_or(t, |d| d.min(t)));
            }
        }
        if self.hv_log.is_some() {
            let t = self.next_hv_read;
            deadline = Some(deadline.map_or(t, |d| d.min(t)));
        }
        if let Some(wait) = max_wait {
            let t = crate::console::later(now, wait);
            deadline = Some(deadline.map_or(t, |d| d.min(t)));
        }

        let mut slots = Vec::new();
        let mut fds = Vec::new();
        if let Some(stop) = stop {
            slots.push(Slot::Stop);
            fds.push(PollFd::new(stop, PollFlags::POLLIN));
        }
        slots.push(Slot::Xs);
        fds.push(PollFd::new(std::os::fd::AsFd::as_fd(&self.xs), PollFlags::POLLIN));
        for (&id, c) in &self.domains {
            if let Some(fd) = c.ring_fd(&self.opts.console) {
                slots.push(Slot::Ring(id));
                fds.push(PollFd::new(fd, PollFlags::POLLIN | PollFlags::POLLPRI));
            }
            if let Some((fd, events)) = c.tty_poll() {
                slots.push(Slot::Tty(id));
                fds.push(PollFd::new(fd, events));
            }
        }
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = t.saturating_duration_since(now).as_millis().max(1);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let ready = match poll(&mut fds, timeout) {
            Ok(n) => n,
            Err(nix::Error::EINTR) => 0,
            Err(e) => return Err(DaemonError::Poll(e)),
        };
        let revents: Vec<(Slot, PollFlags)> = slots
            .into_iter()
            .zip(fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())))
            .filter(|(_, r)| !r.is_empty())
            .collect();
        drop(fds);

        if self.hv_log.is_some() && Instant::now() >= self.next_hv_read {
            self.read_hv_console();
        }
        if ready <= 0 {
            return Ok(true);
        }
        for (slot, ev) in revents {
            match slot {
                Slot::Stop => return Ok(false),
                Slot::Xs => {
                    if ev.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL)
                        && !ev.contains(PollFlags::POLLIN)
                    {
                        return Err(ClientError::Protocol("xenstore connection lost").into());
                    }
                    self.handle_xs()?;
                }
                Slot::Ring(id) => {
                    if let Some(c) = self.domains.get_mut(&id) {
                        c.handle_ring(&self.opts.console);
                    }
                }
                Slot::Tty(id) => {
                    let hv = &mut self.hv;
                    if let Some(c) = self.domains.get_mut(&id) {
                        let mut alive = || {
                            hv.domains()
                                .is_ok_and(|l| l.iter().any(|d| d.domid.0 == id && !d.dying))
                        };
                        c.handle_tty(ev, &mut self.xs, &mut alive);
                    }
                }
            }
        }
        self.cleanup();
        Ok(true)
    }

    /// Runs until `stop` is readable (or forever without one).
    pub fn run(&mut self, stop: Option<BorrowedFd<'_>>) -> Result<(), DaemonError> {
        while self.run_once(stop, None)? {}
        Ok(())
    }

    /// Runs for about `time` (tests step the daemon with this).
    pub fn run_for(&mut self, time: Duration) -> Result<(), DaemonError> {
        let start = Instant::now();
        loop {
            let left = time.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Ok(());
            }
            self.run_once(None, Some(left))?;
        }
    }
}
