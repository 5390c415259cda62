// SPDX-License-Identifier: GPL-2.0-only
//! The daemon's side of a domain's xenstore ring page, without the
//! mapping: moving bytes between the page's two rings and a connection.
//!
//! The page is a [`XenstoreDomainInterface`]: the guest produces requests
//! into `req` (it advances `req_prod`, the daemon `req_cons`) and the
//! daemon produces replies and events into `rsp` (it advances `rsp_prod`,
//! the guest `rsp_cons`). Indexes are free-running `u32`s reduced with
//! [`mask_xenstore_idx`]; a producer/consumer pair more than
//! [`XENSTORE_RING_SIZE`] apart is a broken guest
//! (`XENSTORE_ERROR_RINGIDX`). The page is shared with a guest that may
//! change it at any moment, so it is only reached through [`RingPage`]:
//! [`shared::SharedPage`] over a real mapping (volatile accesses, full
//! barriers), [`VecPage`] in the tests. The event channels and the
//! mappings are [`crate::rings`]'.

use core::mem::offset_of;

use guest_abi::io::xs_wire::{
    XENSTORE_CONNECTED, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX, XENSTORE_RECONNECT,
    XENSTORE_RING_SIZE, XENSTORE_SERVER_FEATURE_ERROR, XenstoreDomainInterface, mask_xenstore_idx,
};

use crate::core::{AcceptRings, ConnId, DomainRings, Xenstored};
use crate::wire::{Decoder, FrameError};

/// Byte-level access to a shared ring page.
pub trait RingPage {
    /// Reads the `u32` at `offset`.
    fn load(&self, offset: usize) -> u32;
    /// Writes the `u32` at `offset`.
    fn store(&mut self, offset: usize, value: u32);
    /// Reads the byte at `offset`.
    fn byte(&self, offset: usize) -> u8;
    /// Writes the byte at `offset`.
    fn set_byte(&mut self, offset: usize, value: u8);
    /// Orders the accesses before it against those after it (a full
    /// barrier on a real page).
    fn barrier(&self) {}
}

/// A ring page in ordinary memory (tests, and a guest's view in them).
#[derive(Clone, Debug)]
pub struct VecPage(pub Vec<u8>);

impl Default for VecPage {
    fn default() -> Self {
        Self(vec![0; core::mem::size_of::<XenstoreDomainInterface>()])
    }
}

impl RingPage for VecPage {
    fn load(&self, offset: usize) -> u32 {
        let mut word = [0u8; 4];
        if let Some(bytes) = self.0.get(offset..offset.saturating_add(4)) {
            word.copy_from_slice(bytes);
        }
        u32::from_ne_bytes(word)
    }

    fn store(&mut self, offset: usize, value: u32) {
        if let Some(bytes) = self.0.get_mut(offset..offset.saturating_add(4)) {
            bytes.copy_from_slice(&value.to_ne_bytes());
        }
    }

    fn byte(&self, offset: usize) -> u8 {
        self.0.get(offset).copied().unwrap_or(0)
    }

    fn set_byte(&mut self, offset: usize, value: u8) {
        if let Some(b) = self.0.get_mut(offset) {
            *b = value;
        }
    }
}

/// Offsets of the page's fields.
pub mod field {
    use super::{XenstoreDomainInterface, offset_of};
    /// `req[]`.
    pub const REQ: usize = offset_of!(XenstoreDomainInterface, req);
    /// `rsp[]`.
    pub const RSP: usize = offset_of!(XenstoreDomainInterface, rsp);
    /// `req_cons`.
    pub const REQ_CONS: usize = offset_of!(XenstoreDomainInterface, req_cons);
    /// `req_prod`.
    pub const REQ_PROD: usize = offset_of!(XenstoreDomainInterface, req_prod);
    /// `rsp_cons`.
    pub const RSP_CONS: usize = offset_of!(XenstoreDomainInterface, rsp_cons);
    /// `rsp_prod`.
    pub const RSP_PROD: usize = offset_of!(XenstoreDomainInterface, rsp_prod);
    /// `server_features`.
    pub const SERVER_FEATURES: usize = offset_of!(XenstoreDomainInterface, server_features);
    /// `connection`.
    pub const CONNECTION: usize = offset_of!(XenstoreDomainInterface, connection);
    /// `error`.
    pub const ERROR: usize = offset_of!(XenstoreDomainInterface, error);
}

/// A broken ring; the value is the `XENSTORE_ERROR_*` the daemon writes
/// into the page before giving up on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// Producer and consumer more than a ring apart.
    #[error("invalid ring index")]
    RingIdx,
    /// A message announcing more than `XENSTORE_PAYLOAD_MAX` bytes.
    #[error("protocol violation")]
    Proto,
}

impl RingError {
    /// The page's `error` value.
    #[must_use]
    pub const fn code(self) -> u32 {
        match self {
            Self::RingIdx => XENSTORE_ERROR_RINGIDX,
            Self::Proto => XENSTORE_ERROR_PROTO,
        }
    }
}

fn pending(prod: u32, cons: u32) -> Result<usize, RingError> {
    let used = usize::try_from(prod.wrapping_sub(cons)).map_err(|_| RingError::RingIdx)?;
    if used > XENSTORE_RING_SIZE { Err(RingError::RingIdx) } else { Ok(used) }
}

/// Copies up to `max` request bytes out of the page; returns them.
pub fn take_requests(page: &mut impl RingPage, max: usize) -> Result<Vec<u8>, RingError> {
    let cons = page.load(field::REQ_CONS);
    let prod = page.load(field::REQ_PROD);
    page.barrier();
    let n = pending(prod, cons)?.min(max);
    let mut out = Vec::with_capacity(n);
    let mut idx = cons;
    for _ in 0..n {
        out.push(page.byte(field::REQ.saturating_add(mask_xenstore_idx(idx))));
        idx = idx.wrapping_add(1);
    }
    page.barrier();
    page.store(field::REQ_CONS, idx);
    Ok(out)
}

/// Copies as much of `out` as the response ring has room for into the
/// page, removing it from `out`; returns the number of bytes.
pub fn put_responses(page: &mut impl RingPage, out: &mut Vec<u8>) -> Result<usize, RingError> {
    let cons = page.load(field::RSP_CONS);
    let prod = page.load(field::RSP_PROD);
    page.barrier();
    let room = XENSTORE_RING_SIZE.saturating_sub(pending(prod, cons)?);
    let n = room.min(out.len());
    let mut idx = prod;
    for &b in out.iter().take(n) {
        page.set_byte(field::RSP.saturating_add(mask_xenstore_idx(idx)), b);
        idx = idx.wrapping_add(1);
    }
    page.barrier();
    page.store(field::RSP_PROD, idx);
    out.drain(..n);
    Ok(n)
}

/// A domain's connection over its ring page.
#[derive(Debug)]
pub struct RingConn<P> {
    /// The shared page.
    pub page: P,
    /// The daemon's connection for the domain.
    pub id: ConnId,
    decoder: Decoder,
    outbuf: Vec<u8>,
    /// The last pump stopped while the guest was still producing.
    more: bool,
}

/// Rounds of [`RingConn::pump`] before it leaves the rest for later, so
/// that a guest producing requests as fast as they are answered cannot
/// keep the daemon from its other connections.
pub const PUMP_ROUNDS: usize = 16;

impl<P: RingPage> RingConn<P> {
    /// Takes over `page` for connection `id`, advertising the features
    /// this daemon has (the `error` field; not reconnection).
    pub fn new(mut page: P, id: ConnId) -> Self {
        page.store(field::SERVER_FEATURES, XENSTORE_SERVER_FEATURE_ERROR);
        Self { page, id, decoder: Decoder::default(), outbuf: Vec::new(), more: false }
    }

    /// Starts over as connection `id` (Xen's `domain_conn_reset` on an
    /// introduction): partial input and unsent output are dropped and the
    /// four indexes zeroed. Returns whether the guest was waiting for a
    /// reconnection (`XENSTORE_RECONNECT`, now `XENSTORE_CONNECTED`) and
    /// must be notified.
    pub fn reset(&mut self, id: ConnId) -> bool {
        self.id = id;
        self.decoder = Decoder::default();
        self.outbuf.clear();
        for f in [field::REQ_CONS, field::REQ_PROD, field::RSP_CONS, field::RSP_PROD] {
            self.page.store(f, 0);
        }
        self.page.barrier();
        if self.page.load(field::CONNECTION) == XENSTORE_RECONNECT {
            self.page.store(field::CONNECTION, XENSTORE_CONNECTED);
            return true;
        }
        false
    }

    /// Does what an event-channel notification calls for: takes the
    /// requests the guest produced (as far as the daemon lets this domain
    /// have requests outstanding), handles them, and puts replies and
    /// events into the page. Returns whether the guest must be notified;
    /// on a broken ring the error is written into the page's `error`
    /// field and returned, and the connection is to be dropped.
    pub fn pump(&mut self, daemon: &mut Xenstored) -> Result<bool, RingError> {
        self.pump_with(daemon, &mut AcceptRings)
    }

    /// As [`RingConn::pump`], with `rings` serving the introductions the
    /// requests make (dom0's own ring carries the toolstack's requests too).
    pub fn pump_with(
        &mut self,
        daemon: &mut Xenstored,
        rings: &mut dyn DomainRings,
    ) -> Result<bool, RingError> {
        let result = self.pump_inner(daemon, rings);
        if let Err(err) = result {
            self.page.store(field::ERROR, err.code());
        }
        result
    }

    fn pump_inner(
        &mut self,
        daemon: &mut Xenstored,
        rings: &mut dyn DomainRings,
    ) -> Result<bool, RingError> {
        let mut notify = false;
        self.more = false;
        for _ in 0..PUMP_ROUNDS {
            let mut progress = false;
            if daemon.wants_input(self.id) && self.decoder.room() > 0 {
                let bytes = take_requests(&mut self.page, self.decoder.room())?;
                if !bytes.is_empty() {
                    notify = true;
                    progress = true;
                    self.decoder.push(&bytes);
                }
            }
            while daemon.wants_input(self.id) {
                match self.decoder.next_message() {
                    Ok(Some(msg)) => {
                        daemon.handle_with(self.id, msg, rings);
                        progress = true;
                    }
                    Ok(None) => break,
                    Err(FrameError::TooLong { .. }) => return Err(RingError::Proto),
                }
            }
            while let Some(msg) = daemon.pop_output(self.id) {
                self.outbuf.extend(msg.encode());
            }
            if put_responses(&mut self.page, &mut self.outbuf)? > 0 {
                notify = true;
                progress = true;
            }
            if !progress {
                return Ok(notify);
            }
        }
        self.more = true;
        Ok(notify)
    }

    /// Whether the last pump left work for the next one (see
    /// [`PUMP_ROUNDS`]): the transport must come back without waiting for
    /// an event.
    #[must_use]
    pub fn has_more(&self) -> bool {
        self.more
    }
}

pub mod shared;

#[cfg(test)]
mod tests;
