// SPDX-License-Identifier: GPL-2.0-only
//! Framing of xenstore messages and the shapes of their payloads.
//!
//! A message is an [`XsdSockmsg`] header (native byte order) and `len`
//! payload bytes, at most [`XENSTORE_PAYLOAD_MAX`]. Requests carry
//! NUL-terminated strings; a `WRITE` carries its path NUL-terminated and
//! then the raw value. Replies are the payload of the request's type, `OK\0`
//! for acknowledgements, or an [`XsdSockmsgType::ErrorReply`] carrying the
//! errno's name.

use guest_abi::AbiBytes;
use guest_abi::io::xs_wire::{XENSTORE_PAYLOAD_MAX, XsdError, XsdSockmsg, XsdSockmsgType};

/// Size of the message header.
pub const HEADER_LEN: usize = core::mem::size_of::<XsdSockmsg>();

/// One xenstore message, request or reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The raw message type (requests may carry unknown ones).
    pub ty: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id, 0 outside a transaction.
    pub tx_id: u32,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// A message of type `ty`.
    #[must_use]
    pub fn new(ty: XsdSockmsgType, req_id: u32, tx_id: u32, payload: Vec<u8>) -> Self {
        Self { ty: ty.raw(), req_id, tx_id, payload }
    }

    /// A request whose payload is `args`, each NUL-terminated.
    #[must_use]
    pub fn request(ty: XsdSockmsgType, req_id: u32, tx_id: u32, args: &[&[u8]]) -> Self {
        let mut payload = Vec::new();
        for arg in args {
            payload.extend_from_slice(arg);
            payload.push(0);
        }
        Self::new(ty, req_id, tx_id, payload)
    }

    /// The error reply to `request`.
    #[must_use]
    pub fn error(request: &Self, err: XsdError) -> Self {
        let mut payload = err.xen_name().as_bytes().to_vec();
        payload.push(0);
        Self::new(XsdSockmsgType::ErrorReply, request.req_id, request.tx_id, payload)
    }

    /// A reply of the request's own type.
    #[must_use]
    pub fn reply(request: &Self, payload: Vec<u8>) -> Self {
        Self { ty: request.ty, req_id: request.req_id, tx_id: request.tx_id, payload }
    }

    /// The decoded type, or the unknown number.
    pub fn msg_type(&self) -> Result<XsdSockmsgType, guest_abi::Unknown<u32>> {
        XsdSockmsgType::try_from(self.ty)
    }

    /// The error of an error reply.
    #[must_use]
    pub fn as_error(&self) -> Option<XsdError> {
        if self.ty != XsdSockmsgType::ErrorReply.raw() {
            return None;
        }
        let name = self.payload.strip_suffix(&[0]).unwrap_or(&self.payload);
        XsdError::from_name(name)
    }

    /// Header and payload as sent on the wire. Payloads longer than a `u32`
    /// cannot be built by this crate (they are bounded by
    /// [`XENSTORE_PAYLOAD_MAX`] well before).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let header = XsdSockmsg {
            ty: self.ty,
            req_id: self.req_id,
            tx_id: self.tx_id,
            len: u32::try_from(self.payload.len()).unwrap_or(u32::MAX),
        };
        let mut out = Vec::with_capacity(HEADER_LEN.saturating_add(self.payload.len()));
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// A byte stream that cannot be framed any further.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header announces more than [`XENSTORE_PAYLOAD_MAX`] bytes; the
    /// stream cannot be resynchronised, so the connection must end (Xen
    /// drops such a connection too).
    #[error("payload of {len} bytes exceeds XENSTORE_PAYLOAD_MAX")]
    TooLong {
        /// The announced length.
        len: u32,
        /// The request's id, for the error reply.
        req_id: u32,
        /// The request's transaction id.
        tx_id: u32,
    },
}

/// Cuts a byte stream into [`Message`]s.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// The most a decoder holds before its messages are taken.
    pub const MAX_BUFFERED: usize = HEADER_LEN + XENSTORE_PAYLOAD_MAX;

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// How many more bytes may be read before [`Self::next_message`] must
    /// be called (the transport's read size, which bounds the buffer).
    #[must_use]
    pub fn room(&self) -> usize {
        Self::MAX_BUFFERED.saturating_sub(self.buf.len())
    }

    /// Whether a partial message is buffered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next complete message, if one is buffered.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        let Some(header) = XsdSockmsg::read_prefix(&self.buf) else {
            return Ok(None);
        };
        let len = usize::try_from(header.len).unwrap_or(usize::MAX);
        if len > XENSTORE_PAYLOAD_MAX {
            return Err(FrameError::TooLong {
                len: header.len,
                req_id: header.req_id,
                tx_id: header.tx_id,
            });
        }
        let end = HEADER_LEN.saturating_add(len);
        let Some(payload) = self.buf.get(HEADER_LEN..end) else {
            return Ok(None);
        };
        let message = Message {
            ty: header.ty,
            req_id: header.req_id,
            tx_id: header.tx_id,
            payload: payload.to_vec(),
        };
        self.buf.drain(..end);
        Ok(Some(message))
    }
}

/// The NUL-terminated strings of a payload; `EINVAL` if the payload does
/// not end with a NUL (an empty payload has no strings).
pub fn strings(payload: &[u8]) -> Result<Vec<&[u8]>, XsdError> {
    let Some(body) = payload.strip_suffix(&[0]) else {
        return if payload.is_empty() { Ok(Vec::new()) } else { Err(XsdError::EINVAL) };
    };
    Ok(body.split(|&b| b == 0).collect())
}

/// Exactly `N` NUL-terminated strings, as text.
pub fn args<const N: usize>(payload: &[u8]) -> Result<[&str; N], XsdError> {
    let list = strings(payload)?;
    if list.len() != N {
        return Err(XsdError::EINVAL);
    }
    let mut out = [""; N];
    for (slot, raw) in out.iter_mut().zip(list) {
        *slot = core::str::from_utf8(raw).map_err(|_| XsdError::EINVAL)?;
    }
    Ok(out)
}

/// The single argument of a one-argument request (`onearg`: exactly one
/// NUL, at the end).
pub fn one_arg(payload: &[u8]) -> Result<&str, XsdError> {
    let [arg] = args::<1>(payload)?;
    Ok(arg)
}

/// A `WRITE`'s path (NUL-terminated) and value (the rest, raw).
pub fn path_and_value(payload: &[u8]) -> Result<(&str, &[u8]), XsdError> {
    let nul = payload.iter().position(|&b| b == 0).ok_or(XsdError::EINVAL)?;
    let (path, rest) = payload.split_at(nul);
    let value = rest.get(1..).unwrap_or(&[]);
    Ok((core::str::from_utf8(path).map_err(|_| XsdError::EINVAL)?, value))
}

/// A decimal number as libxenstore writes them; `EINVAL` otherwise.
pub fn number<T: core::str::FromStr>(text: &str) -> Result<T, XsdError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(XsdError::EINVAL);
    }
    text.parse().map_err(|_| XsdError::EINVAL)
}

#[cfg(test)]
mod tests;
