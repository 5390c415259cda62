// SPDX-License-Identifier: GPL-2.0-only
//! The Unix-socket transport and the event loop.
//!
//! Every connection to the socket (`/var/run/xenstored/socket` by default)
//! is a dom0 connection, as in Xen. One thread polls the listening socket,
//! the connections and a signal descriptor: readable connections are read
//! into their [`Decoder`] (at most one message's worth at a time), each
//! complete message goes to [`Xenstored::handle`] while the connection may
//! send more, and queued replies and events are written as the socket
//! accepts them. A header announcing an oversized payload is answered
//! `E2BIG` and the connection closed once that reply is out. `SIGTERM` or
//! `SIGINT` on the signal descriptor end the loop.
//!
//! With [`Server::serve_rings`], the ring transport ([`crate::rings`]:
//! dom0's own ring, introduced domains' rings, `VIRQ_DOM_EXC`) joins the
//! same loop: the `/dev/xen/evtchn` descriptor is polled too, and every
//! ring is pumped after every event and after the socket requests (which
//! may introduce domains or fire watches of ring connections).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use guest_abi::io::xs_wire::XsdError;
use guest_abi::xen::DomId;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signalfd::SignalFd;

use crate::core::{ConnId, Xenstored};
use crate::quota::Quota;
use crate::rings::Rings;
use crate::rings::linux::LinuxSys;
use crate::wire::{Decoder, FrameError, Message};

/// Why the daemon stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// Polling failed.
    #[error("poll: {0}")]
    Poll(#[from] nix::Error),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// One socket connection.
#[derive(Debug)]
struct SockConn {
    stream: UnixStream,
    decoder: Decoder,
    outbuf: Vec<u8>,
    /// Close once `outbuf` is written (after a framing error).
    closing: bool,
}

/// The daemon with its socket.
#[derive(Debug)]
pub struct Server {
    daemon: Xenstored,
    listener: UnixListener,
    path: PathBuf,
    conns: HashMap<ConnId, SockConn>,
    rings: Option<Rings<LinuxSys>>,
}

impl Server {
    /// Creates the socket at `path` (its directory too; a stale socket is
    /// replaced), readable and writable by root only.
    pub fn bind(path: &Path, quota: Quota) -> Result<Self, ServerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("removing {}", path.display()))(e)),
        }
        let listener =
            UnixListener::bind(path).map_err(io_err(format!("binding {}", path.display())))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(format!("chmod {}", path.display())))?;
        listener.set_nonblocking(true).map_err(io_err("non-blocking listener"))?;
        Ok(Self {
            daemon: Xenstored::new(quota),
            listener,
            path: path.to_owned(),
            conns: HashMap::new(),
            rings: None,
        })
    }

    /// Serves the domains' rings too (Xen's `domain_init` and `dom0_init`,
    /// [`crate::rings::linux::start`]); returns dom0's local port.
    ///
    /// # Errors
    /// What failed, in words.
    pub fn serve_rings(&mut self) -> Result<guest_abi::xen::EvtchnPort, String> {
        let (rings, port) = crate::rings::linux::start(&mut self.daemon)?;
        self.rings = Some(rings);
        Ok(port)
    }

    /// The socket's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until a signal arrives on `signals` (or forever without).
    pub fn run(&mut self, signals: Option<&SignalFd>) -> Result<(), ServerError> {
        loop {
            let ids: Vec<ConnId> = self.conns.keys().copied().collect();
            let mut fds = Vec::with_capacity(ids.len().saturating_add(2));
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            if let Some(sig) = signals {
                fds.push(PollFd::new(sig.as_fd(), PollFlags::POLLIN));
            }
            let evtchn_at = fds.len();
            if let Some(rings) = &self.rings {
                fds.push(PollFd::new(rings.sys().as_fd(), PollFlags::POLLIN));
            }
            let first_conn = fds.len();
            for id in &ids {
                let Some(conn) = self.conns.get(id) else { continue };
                let mut events = PollFlags::empty();
                if !conn.closing && self.daemon.wants_input(*id) && conn.decoder.room() > 0 {
                    events |= PollFlags::POLLIN;
                }
                if !conn.outbuf.is_empty() {
                    events |= PollFlags::POLLOUT;
                }
                fds.push(PollFd::new(conn.stream.as_fd(), events));
            }
            // A ring left busy is pumped again at once.
            let wait = if self.rings.as_ref().is_some_and(Rings::busy) {
                PollTimeout::ZERO
            } else {
                PollTimeout::NONE
            };
            match poll(&mut fds, wait) {
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready = |fd: &PollFd<'_>| fd.revents().unwrap_or(PollFlags::empty());
            let listener_ready = fds.first().map(ready).unwrap_or(PollFlags::empty());
            let signalled =
                signals.is_some() && fds.get(1).map(ready).is_some_and(|r| !r.is_empty());
            let events = self.rings.is_some()
                && fds.get(evtchn_at).map(ready).is_some_and(|r| !r.is_empty());
            let conn_ready: Vec<(ConnId, PollFlags)> =
                ids.iter().copied().zip(fds.iter().skip(first_conn).map(ready)).collect();
            drop(fds);
            if signalled && let Some(sig) = signals {
                if let Ok(Some(info)) = sig.read_signal() {
                    eprintln!("xenstored: signal {}, shutting down", info.ssi_signo);
                }
                return Ok(());
            }
            if !listener_ready.is_empty() {
                self.accept();
            }
            for (id, flags) in conn_ready {
                if flags.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                    self.read_from(id);
                }
            }
            if events && let Some(rings) = &mut self.rings {
                rings.handle_events(&mut self.daemon);
            }
            self.process_and_flush();
            if let Some(rings) = &mut self.rings {
                rings.pump_all(&mut self.daemon);
            }
            // Ring requests may have fired socket connections' watches.
            self.process_and_flush();
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let id = self.daemon.connect(DomId(0));
                    let conn = SockConn {
                        stream,
                        decoder: Decoder::default(),
                        outbuf: Vec::new(),
                        closing: false,
                    };
                    self.conns.insert(id, conn);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("xenstored: accept: {e}");
                    return;
                }
            }
        }
    }

    fn read_from(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        let mut buf = [0u8; Decoder::MAX_BUFFERED];
        let room = conn.decoder.room().min(buf.len());
        let Some(chunk) = buf.get_mut(..room) else { return };
        match conn.stream.read(chunk) {
            Ok(0) => self.drop_conn(id),
            Ok(n) => conn.decoder.push(chunk.get(..n).unwrap_or(&[])),
            Err(e)
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(_) => self.drop_conn(id),
        }
    }

    fn drop_conn(&mut self, id: ConnId) {
        self.conns.remove(&id);
        self.daemon.disconnect(id);
    }

    /// Hands buffered requests to the daemon, moves its output into the
    /// sockets' buffers and writes what the sockets take.
    fn process_and_flush(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for &id in &ids {
            while self.daemon.wants_input(id) {
                let Some(conn) = self.conns.get_mut(&id).filter(|c| !c.closing) else { break };
                match conn.decoder.next_message() {
                    Ok(Some(msg)) => match &mut self.rings {
                        Some(rings) => self.daemon.handle_with(id, msg, &mut rings.introducer()),
                        None => self.daemon.handle(id, msg),
                    },
                    Ok(None) => break,
                    Err(FrameError::TooLong { req_id, tx_id, .. }) => {
                        let request = Message { ty: 0, req_id, tx_id, payload: Vec::new() };
                        conn.outbuf.extend(Message::error(&request, XsdError::E2BIG).encode());
                        conn.closing = true;
                    }
                }
            }
        }
        for &id in &ids {
            while let Some(msg) = self.daemon.pop_output(id) {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.outbuf.extend(msg.encode());
                }
            }
            if self.daemon.is_closed(id) {
                self.drop_conn(id);
                continue;
            }
            let Some(conn) = self.conns.get_mut(&id) else { continue };
            let mut failed = false;
            while !conn.outbuf.is_empty() {
                match conn.stream.write(&conn.outbuf) {
                    Ok(0) => {
                        failed = true;
                        break;
                    }
                    Ok(n) => {
                        conn.outbuf.drain(..n.min(conn.outbuf.len()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed || (conn.closing && conn.outbuf.is_empty()) {
                self.drop_conn(id);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The socket file goes with the daemon.
        let _ = std::fs::remove_file(&self.path);
    }
}
