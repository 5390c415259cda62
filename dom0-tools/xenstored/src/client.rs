// SPDX-License-Identifier: GPL-2.0-only
//! A small blocking xenstore client over the daemon's Unix socket or a
//! xenbus device (Linux's `/dev/xen/xenbus` or `/proc/xen/xenbus`, through
//! which the kernel relays the messages over its ring), for the
//! `xenstore-*` tools and the tests. As libxenstore's `get_handle`, a path
//! that is a socket is connected to, anything else opened read-write.
//!
//! Requests are sent one at a time; watch events that arrive before a
//! reply are kept for [`Client::next_event`].

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use guest_abi::io::xs_wire::{XsdError, XsdSockmsgType as T};

use crate::wire::{Decoder, Message};

/// The socket Xen's tools use.
pub const DEFAULT_SOCKET: &str = "/var/run/xenstored/socket";

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("xenstore socket: {0}")]
    Io(#[from] io::Error),
    /// The daemon answered an error.
    #[error("{}", .0.xen_name())]
    Xs(XsdError),
    /// The daemon's answer made no sense.
    #[error("xenstore protocol: {0}")]
    Protocol(&'static str),
}

/// What carries the messages.
#[derive(Debug)]
enum Stream {
    /// The daemon's socket.
    Socket(UnixStream),
    /// A xenbus device.
    Device(File),
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Socket(s) => s.as_fd(),
            Self::Device(f) => f.as_fd(),
        }
    }
}

impl Stream {
    /// Reads what is there, waiting at most `timeout` (`TimedOut`).
    fn read_within(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
        let wait = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
        };
        let ready = {
            let mut fds = [PollFd::new(self.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, wait).map_err(io::Error::from)?
        };
        if ready == 0 {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match self {
            Self::Socket(s) => s.read(buf),
            Self::Device(f) => f.read(buf),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Socket(s) => s.write_all(bytes),
            Self::Device(f) => f.write_all(bytes),
        }
    }
}

/// A connection to the daemon.
#[derive(Debug)]
pub struct Client {
    stream: Stream,
    decoder: Decoder,
    next_req: u32,
    events: VecDeque<(String, String)>,
    timeout: Option<Duration>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Client {
    /// Connects to the socket at `path`, or opens the xenbus device there.
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = if std::fs::metadata(path)?.file_type().is_socket() {
            Stream::Socket(UnixStream::connect(path)?)
        } else {
            Stream::Device(File::options().read(true).write(true).open(path)?)
        };
        Ok(Self {
            stream,
            decoder: Decoder::default(),
            next_req: 1,
            events: VecDeque::new(),
            timeout: None,
        })
    }

    /// Gives up on a reply after `timeout` (an `Io` error); `None`, the
    /// default, waits forever.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.timeout = timeout;
        Ok(())
    }

    fn receive(&mut self) -> Result<Message, ClientError> {
        self.receive_within(self.timeout)
    }

    fn receive_within(&mut self, timeout: Option<Duration>) -> Result<Message, ClientError> {
        loop {
            if let Some(msg) =
                self.decoder.next_message().map_err(|_| ClientError::Protocol("oversized reply"))?
            {
                return Ok(msg);
            }
            let mut buf = [0u8; 4096];
            let n = self.stream.read_within(&mut buf, timeout)?;
            if n == 0 {
                return Err(ClientError::Protocol("connection closed"));
            }
            self.decoder.push(buf.get(..n).unwrap_or(&[]));
        }
    }

    fn stash_event(&mut self, msg: &Message) {
        let mut parts = msg.payload.split(|&b| b == 0);
        let path = text(parts.next().unwrap_or(&[]));
        let token = text(parts.next().unwrap_or(&[]));
        self.events.push_back((path, token));
    }

    /// Sends a request with a raw payload and waits for its reply.
    pub fn request(&mut self, ty: T, tx: u32, payload: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let req_id = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        self.stream.write_all(&Message::new(ty, req_id, tx, payload).encode())?;
        loop {
            let msg = self.receive()?;
            if msg.ty == T::WatchEvent.raw() {
                self.stash_event(&msg);
                continue;
            }
            if msg.req_id != req_id {
                return Err(ClientError::Protocol("reply to another request"));
            }
            return match msg.as_error() {
                Some(err) => Err(ClientError::Xs(err)),
                None if msg.ty == T::ErrorReply.raw() => {
                    Err(ClientError::Protocol("unknown error name"))
                }
                None => Ok(msg.payload),
            };
        }
    }

    fn args(&mut self, ty: T, tx: u32, args: &[&str]) -> Result<Vec<u8>, ClientError> {
        let msg =
            Message::request(ty, 0, tx, &args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
        self.request(ty, tx, msg.payload)
    }

    /// `XS_READ`.
    pub fn read(&mut self, tx: u32, path: &str) -> Result<Vec<u8>, ClientError> {
        self.args(T::Read, tx, &[path])
    }

    /// `XS_WRITE`.
    pub fn write(&mut self, tx: u32, path: &str, value: &[u8]) -> Result<(), ClientError> {
        let mut payload = path.as_bytes().to_vec();
        payload.push(0);
        payload.extend_from_slice(value);
        self.request(T::Write, tx, payload).map(drop)
    }

    /// `XS_MKDIR`.
    pub fn mkdir(&mut self, tx: u32, path: &str) -> Result<(), ClientError> {
        self.args(T::Mkdir, tx, &[path]).map(drop)
    }

    /// `XS_RM`.
    pub fn rm(&mut self, tx: u32, path: &str) -> Result<(), ClientError> {
        self.args(T::Rm, tx, &[path]).map(drop)
    }

    /// `XS_DIRECTORY`: the children's names.
    pub fn directory(&mut self, tx: u32, path: &str) -> Result<Vec<String>, ClientError> {
        let raw = self.args(T::Directory, tx, &[path])?;
        Ok(raw.split(|&b| b == 0).filter(|s| !s.is_empty()).map(text).collect())
    }

    /// `XS_GET_PERMS`: the entries, e.g. `["n0", "r3"]`.
    pub fn get_perms(&mut self, tx: u32, path: &str) -> Result<Vec<String>, ClientError> {
        let raw = self.args(T::GetPerms, tx, &[path])?;
        Ok(raw.split(|&b| b == 0).filter(|s| !s.is_empty()).map(text).collect())
    }

    /// `XS_SET_PERMS`.
    pub fn set_perms(&mut self, tx: u32, path: &str, perms: &[&str]) -> Result<(), ClientError> {
        let mut args = vec![path];
        args.extend_from_slice(perms);
        self.args(T::SetPerms, tx, &args).map(drop)
    }

    /// `XS_WATCH`.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), ClientError> {
        self.args(T::Watch, 0, &[path, token]).map(drop)
    }

    /// `XS_UNWATCH`.
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), ClientError> {
        self.args(T::Unwatch, 0, &[path, token]).map(drop)
    }

    /// `XS_TRANSACTION_START`: the new transaction's id.
    pub fn transaction_start(&mut self) -> Result<u32, ClientError> {
        let raw = self.args(T::TransactionStart, 0, &[""])?;
        let id = raw.strip_suffix(&[0]).unwrap_or(&raw);
        text(id).parse().map_err(|_| ClientError::Protocol("bad transaction id"))
    }

    /// `XS_TRANSACTION_END`: commit (`true`) or abort.
    pub fn transaction_end(&mut self, tx: u32, commit: bool) -> Result<(), ClientError> {
        self.args(T::TransactionEnd, tx, &[if commit { "T" } else { "F" }]).map(drop)
    }

    /// A watch event that has already arrived, without waiting: for callers
    /// that poll the connection ([`AsFd`]) beside other descriptors. Call it
    /// until it answers `None` after each readable poll, and before polling
    /// (a reply may have brought events along).
    pub fn try_event(&mut self) -> Result<Option<(String, String)>, ClientError> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(Some(event));
            }
            if let Some(msg) =
                self.decoder.next_message().map_err(|_| ClientError::Protocol("oversized reply"))?
            {
                if msg.ty != T::WatchEvent.raw() {
                    return Err(ClientError::Protocol("unexpected reply"));
                }
                self.stash_event(&msg);
                continue;
            }
            let mut buf = [0u8; 4096];
            match self.stream.read_within(&mut buf, Some(Duration::ZERO)) {
                Ok(0) => return Err(ClientError::Protocol("connection closed")),
                Ok(n) => self.decoder.push(buf.get(..n).unwrap_or(&[])),
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next watch event (path, token), waiting at most `timeout`.
    pub fn next_event(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<(String, String)>, ClientError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        match self.receive_within(Some(timeout)) {
            Ok(msg) if msg.ty == T::WatchEvent.raw() => {
                self.stash_event(&msg);
                Ok(self.events.pop_front())
            }
            Ok(_) => Err(ClientError::Protocol("unexpected reply")),
            Err(ClientError::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl AsFd for Client {
    /// The socket, readable when a reply or a watch event arrives.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}
