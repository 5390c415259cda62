// SPDX-License-Identifier: GPL-2.0-only
//! One domU's xenstore ring, answered by dom0 (`xenstored`'s part, for a
//! store that holds two nodes per domU).
//!
//! The store knows `/local/domain/<id>/name` (the name the toolstack gave
//! the domU) and `/local/domain/<id>/domid`; a relative path is relative
//! to `/local/domain/<id>/`. Requests, as Xen 4.17's `xenstored` answers
//! them:
//!
//! * `XS_READ` of a node: the value (no NUL); of any other path `XS_ERROR
//!   "ENOENT"`; a payload that is not one NUL-terminated path (no NUL, a
//!   NUL inside, not ASCII, longer than `XENSTORE_ABS_PATH_MAX`) `EINVAL`;
//!   a transaction id that is not 0 `ENOENT` (no such transaction);
//! * every other type `ENOSYS`.
//!
//! A message is gathered from the ring as it arrives (header, then `len`
//! payload bytes); `len` above `XENSTORE_PAYLOAD_MAX`, or a ring index out
//! of range, breaks the connection as in `xenstored`: the page's `error`
//! becomes `XENSTORE_ERROR_COMM` (the server advertises
//! `XENSTORE_SERVER_FEATURE_ERROR`), a line says so and the ring is no
//! longer read. One reply is pending at most: the next request is read
//! only when the previous reply is all in the `rsp` ring; each
//! [`Store::serve`] handles at most [`MAX_REQUESTS`] requests.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::mem::{offset_of, size_of};

use pv_tests::evtchn;
use pv_tests::guest_abi::io::{
    XENSTORE_ABS_PATH_MAX, XENSTORE_ERROR_COMM, XENSTORE_PAYLOAD_MAX,
    XENSTORE_SERVER_FEATURE_ERROR, XenstoreDomainInterface, XsdSockmsg, XsdSockmsgType,
};
use pv_tests::guest_abi::xen::{DomId, EvtchnPort};
use pv_tests::println;
use pv_tests::ring::{Ring, Side, XENSTORE_REQ, XENSTORE_RSP};

/// Requests handled per [`Store::serve`].
pub const MAX_REQUESTS: usize = 8;

/// Size of a message header.
const HEADER: usize = size_of::<XsdSockmsg>();

/// The xenstore ring of one domU.
pub struct Store {
    page: *mut u8,
    req: Ring,
    rsp: Ring,
    domid: DomId,
    port: EvtchnPort,
    name: String,
    /// The message being gathered: header, then payload.
    input: Vec<u8>,
    /// Reply bytes not yet in the `rsp` ring.
    output: Vec<u8>,
    broken: bool,
}

impl Store {
    /// The store side of the xenstore page mapped at `page`.
    ///
    /// # Safety
    /// `page` maps the domU's xenstore frame writable for as long as the
    /// returned value lives.
    pub unsafe fn attach(page: *mut u8, domid: DomId, port: EvtchnPort, name: String) -> Self {
        // SAFETY: forwarded from the caller; the layouts are the xenstore
        // page's.
        let (req, rsp) = unsafe {
            (
                Ring::attach(page, XENSTORE_REQ, Side::Consumer),
                Ring::attach(page, XENSTORE_RSP, Side::Producer),
            )
        };
        let s = Self {
            page,
            req,
            rsp,
            domid,
            port,
            name,
            input: Vec::with_capacity(HEADER),
            output: Vec::new(),
            broken: false,
        };
        s.store_u32(
            offset_of!(XenstoreDomainInterface, server_features),
            XENSTORE_SERVER_FEATURE_ERROR,
        );
        s
    }

    /// The local port bound to the domU's xenstore port.
    pub const fn port(&self) -> EvtchnPort {
        self.port
    }

    fn store_u32(&self, offset: usize, value: u32) {
        // SAFETY: `attach`'s contract: the page is mapped writable; the
        // offsets are fields of the xenstore interface, inside it.
        unsafe { self.page.wrapping_add(offset).cast::<u32>().write_volatile(value) }
    }

    /// Gives up on a domU that broke the protocol.
    fn break_off(&mut self, why: &str) {
        println!("d{}: xenstore: {why}; connection dropped", self.domid.0);
        self.store_u32(offset_of!(XenstoreDomainInterface, error), XENSTORE_ERROR_COMM);
        self.broken = true;
        let _ = evtchn::send(self.port);
    }

    /// Moves pending reply bytes into the `rsp` ring. Returns whether all
    /// are out.
    fn flush(&mut self) -> bool {
        if self.output.is_empty() {
            return true;
        }
        match self.rsp.write(&self.output) {
            Ok(0) => false,
            Ok(n) => {
                self.output.drain(..n.min(self.output.len()));
                let _ = evtchn::send(self.port);
                self.output.is_empty()
            }
            Err(_) => {
                self.break_off("rsp_cons out of range");
                false
            }
        }
    }

    /// Answers what the domU asked (bounded). Returns whether more may be
    /// waiting.
    pub fn serve(&mut self) -> bool {
        for _ in 0..MAX_REQUESTS {
            if self.broken || !self.flush() {
                return false;
            }
            match self.gather() {
                Gathered::Message => {
                    let reply = self.answer();
                    self.output = reply;
                    self.input.clear();
                }
                Gathered::Partial => return false,
                Gathered::Broken(why) => {
                    self.break_off(why);
                    return false;
                }
            }
        }
        !self.broken
    }

    /// Reads ring bytes into the message being gathered.
    fn gather(&mut self) -> Gathered {
        loop {
            let want = match self.input.get(..HEADER) {
                None => HEADER,
                Some(h) => {
                    let hdr: XsdSockmsg = bytemuck::pod_read_unaligned(h);
                    if usize::try_from(hdr.len).is_ok_and(|l| l > XENSTORE_PAYLOAD_MAX) {
                        return Gathered::Broken("message longer than XENSTORE_PAYLOAD_MAX");
                    }
                    HEADER.saturating_add(hdr.len as usize)
                }
            };
            let have = self.input.len();
            if have >= want {
                return Gathered::Message;
            }
            let mut chunk = [0u8; 256];
            let room = chunk.len().min(want.saturating_sub(have));
            let n = match self.req.read(chunk.get_mut(..room).unwrap_or_default()) {
                Ok(n) => n,
                Err(_) => return Gathered::Broken("req_prod out of range"),
            };
            if n == 0 {
                return Gathered::Partial;
            }
            let _ = evtchn::send(self.port);
            self.input.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// The reply to the gathered message.
    fn answer(&self) -> Vec<u8> {
        let Some((h, payload)) = self.input.split_at_checked(HEADER) else {
            return Vec::new();
        };
        let hdr: XsdSockmsg = bytemuck::pod_read_unaligned(h);
        let result = match XsdSockmsgType::try_from(hdr.ty) {
            Ok(XsdSockmsgType::Read) if hdr.tx_id != 0 => Err("ENOENT"),
            Ok(XsdSockmsgType::Read) => self.read(payload),
            _ => Err("ENOSYS"),
        };
        let (ty, body) = match result {
            Ok(value) => (hdr.ty, value.into_bytes()),
            Err(errno) => {
                let mut b = Vec::from(errno.as_bytes());
                b.push(0);
                (XsdSockmsgType::ErrorReply.raw(), b)
            }
        };
        let len = u32::try_from(body.len()).unwrap_or(0);
        let reply = XsdSockmsg { ty, req_id: hdr.req_id, tx_id: hdr.tx_id, len };
        let mut out = Vec::from(bytemuck::bytes_of(&reply));
        out.extend_from_slice(&body);
        out
    }

    /// `XS_READ` of the path in `payload`.
    fn read(&self, payload: &[u8]) -> Result<String, &'static str> {
        let path = payload.strip_suffix(b"\0").ok_or("EINVAL")?;
        if path.is_empty()
            || path.len() > XENSTORE_ABS_PATH_MAX
            || path.iter().any(|&b| b == 0 || !b.is_ascii_graphic())
        {
            return Err("EINVAL");
        }
        let path = core::str::from_utf8(path).map_err(|_| "EINVAL")?;
        let home = format!("/local/domain/{}", self.domid.0);
        let node = if path.starts_with('/') {
            path.strip_prefix(home.as_str()).and_then(|rest| rest.strip_prefix('/'))
        } else {
            Some(path)
        };
        match node {
            Some("name") => Ok(self.name.clone()),
            Some("domid") => Ok(format!("{}", self.domid.0)),
            _ => Err("ENOENT"),
        }
    }
}

/// What [`Store::gather`] found.
enum Gathered {
    /// A whole message is in `input`.
    Message,
    /// More bytes are to come.
    Partial,
    /// The domU broke the protocol.
    Broken(&'static str),
}
