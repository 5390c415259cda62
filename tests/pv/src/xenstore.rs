// SPDX-License-Identifier: GPL-2.0-only
//! A small xenstore client over the domU's xenstore ring
//! (`start_info.store_mfn`, `store_evtchn`; `io/xs_wire.h`).
//!
//! One request at a time: [`Store::request`] writes an [`XsdSockmsg`]
//! header and its payload to the `req` ring (waiting for room), notifies
//! the store, and waits on the event channel (`SCHEDOP_poll` with a
//! deadline of system time, so shared_info must be mapped) for the reply
//! with the same `req_id` in the `rsp` ring; watch events in between are
//! skipped. A reply larger than the caller's buffer is read to its end and
//! reported [`XsError::TooLong`]. Nothing waits past the deadline.

use guest_abi::io::{XENSTORE_PAYLOAD_MAX, XsdSockmsg, XsdSockmsgType};
use guest_abi::xen::{EvtchnPort, StartInfo};

use crate::ops::XenError;
use crate::ring::{Corrupt, Ring, Side, XENSTORE_REQ, XENSTORE_RSP};
use crate::{evtchn, pt, shinfo};

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsError {
    /// `XS_ERROR` with this errno name (`"ENOENT"`, `"EINVAL"`, ...; at
    /// most 15 bytes kept).
    Store([u8; 16]),
    /// No (complete) reply before the deadline.
    Timeout,
    /// The store's index is out of range, or the reply is malformed.
    Protocol(&'static str),
    /// The reply's payload did not fit the buffer.
    TooLong(u32),
    /// A hypercall failed.
    Hypercall(XenError),
}

impl XsError {
    /// The errno name of an `XS_ERROR` reply.
    #[must_use]
    pub fn store_errno(&self) -> Option<&[u8]> {
        match self {
            Self::Store(name) => Some(crate::console::c_str(name)),
            _ => None,
        }
    }
}

impl core::fmt::Display for XsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Store(name) => {
                write!(f, "XS_ERROR {}", crate::console::Escaped(crate::console::c_str(name)))
            }
            Self::Timeout => f.write_str("no reply in time"),
            Self::Protocol(what) => write!(f, "protocol error: {what}"),
            Self::TooLong(len) => write!(f, "reply of {len} bytes does not fit"),
            Self::Hypercall(e) => write!(f, "{e}"),
        }
    }
}

impl From<Corrupt> for XsError {
    fn from(_: Corrupt) -> Self {
        Self::Protocol("ring index out of range")
    }
}

/// The domain's connection to the store.
#[derive(Debug)]
pub struct Store {
    page: *mut u8,
    req: Ring,
    rsp: Ring,
    port: EvtchnPort,
    next_id: u32,
}

impl Store {
    /// The domain's xenstore ring, if its page is in the initial mapping.
    #[must_use]
    pub fn new(si: &StartInfo) -> Option<Self> {
        let map = pt::InitialMapping::new(si)?;
        let va = map.frame_va(si.store_mfn.0)?;
        let page = va as *mut u8;
        // SAFETY: the store page is one of the domain's pages, mapped
        // writable in the initial mapping for the domain's whole life.
        let (req, rsp) = unsafe {
            (
                Ring::attach(page, XENSTORE_REQ, Side::Producer),
                Ring::attach(page, XENSTORE_RSP, Side::Consumer),
            )
        };
        Some(Self { page, req, rsp, port: si.store_evtchn, next_id: 1 })
    }

    /// Waits for the store's notification (or the deadline).
    fn wait(&self, deadline: u64) -> Result<(), XsError> {
        let now = shinfo::now().ok_or(XsError::Protocol("no system time"))?;
        if now >= deadline {
            return Err(XsError::Timeout);
        }
        evtchn::sched_poll(&[self.port], deadline).map_err(XsError::Hypercall)
    }

    /// The page's `error` field (`XENSTORE_ERROR_*`, written by the store).
    #[must_use]
    pub fn server_error(&self) -> u32 {
        let at = core::mem::offset_of!(guest_abi::io::XenstoreDomainInterface, error);
        // SAFETY: the field lies in the store page (see `new`).
        unsafe { self.page.wrapping_add(at).cast::<u32>().read_volatile() }
    }

    /// Waits until system time `deadline` for the store's notification
    /// (for callers that watch the page themselves).
    ///
    /// # Errors
    /// [`XsError::Timeout`] once the deadline has passed.
    pub fn wait_event(&self, deadline: u64) -> Result<(), XsError> {
        evtchn::clear_pending(self.port);
        self.wait(deadline)
    }

    /// Writes all of `bytes` to the request ring by `deadline` (a raw
    /// request, or part of one: [`Store::request`] sends whole ones).
    ///
    /// # Errors
    /// No room before the deadline, or a broken ring.
    pub fn send_all(&mut self, bytes: &[u8], deadline: u64) -> Result<(), XsError> {
        let mut done = 0usize;
        while let Some(rest) = bytes.get(done..).filter(|r| !r.is_empty()) {
            evtchn::clear_pending(self.port);
            let n = self.req.write(rest)?;
            done = done.saturating_add(n);
            if n > 0 {
                evtchn::send(self.port).map_err(XsError::Hypercall)?;
            } else {
                self.wait(deadline)?;
            }
        }
        Ok(())
    }

    /// Reads exactly `out.len()` bytes of the reply ring by `deadline`.
    fn recv_exact(&mut self, out: &mut [u8], deadline: u64) -> Result<(), XsError> {
        let mut done = 0usize;
        while let Some(rest) = out.get_mut(done..).filter(|r| !r.is_empty()) {
            evtchn::clear_pending(self.port);
            let n = self.rsp.read(rest)?;
            done = done.saturating_add(n);
            if n > 0 {
                evtchn::send(self.port).map_err(XsError::Hypercall)?;
            } else {
                self.wait(deadline)?;
            }
        }
        Ok(())
    }

    /// Sends request `ty` with `payload` and waits (until system time
    /// `deadline`) for its reply; the reply's payload lands in `out`.
    /// Returns the reply's type and payload length.
    ///
    /// # Errors
    /// See [`XsError`]; an `XS_ERROR` reply is [`XsError::Store`].
    pub fn request(
        &mut self,
        ty: XsdSockmsgType,
        payload: &[u8],
        out: &mut [u8],
        deadline: u64,
    ) -> Result<(u32, usize), XsError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|_| payload.len() <= XENSTORE_PAYLOAD_MAX)
            .ok_or(XsError::Protocol("request too long"))?;
        let req_id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let header = XsdSockmsg { ty: ty.raw(), req_id, tx_id: 0, len };
        self.send_all(bytemuck::bytes_of(&header), deadline)?;
        self.send_all(payload, deadline)?;
        loop {
            let mut raw = [0u8; core::mem::size_of::<XsdSockmsg>()];
            self.recv_exact(&mut raw, deadline)?;
            let reply: XsdSockmsg = bytemuck::pod_read_unaligned(&raw);
            if usize::try_from(reply.len).is_ok_and(|l| l > XENSTORE_PAYLOAD_MAX) {
                return Err(XsError::Protocol("reply longer than XENSTORE_PAYLOAD_MAX"));
            }
            let len = reply.len as usize;
            let fits = len <= out.len();
            let mut scratch = [0u8; 64];
            if fits {
                self.recv_exact(out.get_mut(..len).unwrap_or_default(), deadline)?;
            } else {
                let mut left = len;
                while left > 0 {
                    let n = left.min(scratch.len());
                    self.recv_exact(scratch.get_mut(..n).unwrap_or_default(), deadline)?;
                    left = left.saturating_sub(n);
                }
            }
            if reply.ty == XsdSockmsgType::WatchEvent.raw() {
                continue;
            }
            if reply.req_id != req_id {
                return Err(XsError::Protocol("reply to another request"));
            }
            if !fits {
                return Err(XsError::TooLong(reply.len));
            }
            if reply.ty == XsdSockmsgType::ErrorReply.raw() {
                let mut name = [0u8; 16];
                let text = crate::console::c_str(out.get(..len).unwrap_or_default());
                for (d, &s) in name.iter_mut().zip(text.iter().take(15)) {
                    *d = s;
                }
                return Err(XsError::Store(name));
            }
            return Ok((reply.ty, len));
        }
    }

    /// `XS_READ` of `path`: the value's length in `out`.
    ///
    /// # Errors
    /// As [`Store::request`]; a reply of another type is a protocol error.
    pub fn read(&mut self, path: &[u8], out: &mut [u8], deadline: u64) -> Result<usize, XsError> {
        let mut payload = [0u8; 256];
        let with_nul = path.len().saturating_add(1);
        let buf = payload.get_mut(..with_nul).ok_or(XsError::Protocol("path too long"))?;
        for (d, &s) in buf.iter_mut().zip(path) {
            *d = s;
        }
        let (ty, len) = self.request(XsdSockmsgType::Read, buf, out, deadline)?;
        if ty == XsdSockmsgType::Read.raw() {
            Ok(len)
        } else {
            Err(XsError::Protocol("XS_READ answered with another type"))
        }
    }
}
