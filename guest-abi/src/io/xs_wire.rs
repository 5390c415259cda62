// SPDX-License-Identifier: GPL-2.0-only
//! `io/xs_wire.h` (Xen 4.17): the xenstore wire protocol.
//!
//! Every message, in either direction and over either transport (the
//! daemon's Unix socket or a domain's ring page), is an [`XsdSockmsg`]
//! header followed by `len` payload bytes, usually NUL-terminated strings.
//! Errors travel as [`XsdSockmsgType::ErrorReply`] messages whose payload is the
//! errno's *name* ([`XsdError::xen_name`], e.g. `"ENOENT\0"`), not its
//! number.

use bytemuck::{Pod, Zeroable};

abi_enum! {
    /// The message type of an [`XsdSockmsg`] (`enum xsd_sockmsg_type`).
    #[doc(alias = "xsd_sockmsg_type")]
    pub enum XsdSockmsgType: u32 {
        /// Debug/control commands (`XS_DEBUG` in older Xen).
        Control = 0 => "XS_CONTROL",
        /// List a node's children.
        Directory = 1 => "XS_DIRECTORY",
        /// Read a node's value.
        Read = 2 => "XS_READ",
        /// Read a node's permissions.
        GetPerms = 3 => "XS_GET_PERMS",
        /// Register a watch.
        Watch = 4 => "XS_WATCH",
        /// Remove a watch.
        Unwatch = 5 => "XS_UNWATCH",
        /// Start a transaction.
        TransactionStart = 6 => "XS_TRANSACTION_START",
        /// Commit or abort a transaction.
        TransactionEnd = 7 => "XS_TRANSACTION_END",
        /// Introduce a domain's ring (toolstack only).
        Introduce = 8 => "XS_INTRODUCE",
        /// Forget a domain (toolstack only).
        Release = 9 => "XS_RELEASE",
        /// `/local/domain/<domid>`.
        GetDomainPath = 10 => "XS_GET_DOMAIN_PATH",
        /// Write a node's value, creating it and its parents.
        Write = 11 => "XS_WRITE",
        /// Create a node (and its parents) if missing.
        Mkdir = 12 => "XS_MKDIR",
        /// Remove a node and its subtree.
        Rm = 13 => "XS_RM",
        /// Replace a node's permissions.
        SetPerms = 14 => "XS_SET_PERMS",
        /// An asynchronous watch event from the daemon.
        WatchEvent = 15 => "XS_WATCH_EVENT",
        /// An error reply from the daemon (`Error` would clash with `TryFrom::Error`).
        ErrorReply = 16 => "XS_ERROR",
        /// Whether a domain is introduced (toolstack only).
        IsDomainIntroduced = 17 => "XS_IS_DOMAIN_INTRODUCED",
        /// Clear a domain's shutdown state (toolstack only).
        Resume = 18 => "XS_RESUME",
        /// Let a domain act for another (toolstack only).
        SetTarget = 19 => "XS_SET_TARGET",
        /// Remove every watch of the connection (20, `XS_RESTRICT`, was removed).
        ResetWatches = 21 => "XS_RESET_WATCHES",
        /// List part of a node's children.
        DirectoryPart = 22 => "XS_DIRECTORY_PART",
        /// Guaranteed to remain an invalid type.
        Invalid = 0xffff => "XS_INVALID",
    }
}

/// `XS_TYPE_COUNT`: one past the last defined message type.
pub const XS_TYPE_COUNT: u32 = 23;

/// The errors a xenstore daemon may report (`xsd_errors[]`, in Xen's
/// order), with their Linux/Xen errno numbers as discriminants;
/// [`XsdError::xen_name`] is the string sent in an
/// [`XsdSockmsgType::ErrorReply`].
#[doc(alias = "xsd_errors")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum XsdError {
    /// Invalid argument.
    EINVAL = 22,
    /// Permission denied.
    EACCES = 13,
    /// Already exists.
    EEXIST = 17,
    /// Is a directory.
    EISDIR = 21,
    /// No such node, watch, transaction or domain.
    ENOENT = 2,
    /// Out of memory.
    ENOMEM = 12,
    /// A quota is exceeded.
    ENOSPC = 28,
    /// I/O error.
    EIO = 5,
    /// Directory not empty.
    ENOTEMPTY = 39,
    /// Unknown operation.
    ENOSYS = 38,
    /// Read-only.
    EROFS = 30,
    /// Busy (e.g. a transaction started inside a transaction).
    EBUSY = 16,
    /// Try again: the transaction conflicted.
    EAGAIN = 11,
    /// Already connected.
    EISCONN = 106,
    /// Too big.
    E2BIG = 7,
    /// Operation not permitted.
    EPERM = 1,
}

impl XsdError {
    /// Every error, in the order of Xen's `xsd_errors[]`.
    pub const ALL: &'static [Self] = &[
        Self::EINVAL,
        Self::EACCES,
        Self::EEXIST,
        Self::EISDIR,
        Self::ENOENT,
        Self::ENOMEM,
        Self::ENOSPC,
        Self::EIO,
        Self::ENOTEMPTY,
        Self::ENOSYS,
        Self::EROFS,
        Self::EBUSY,
        Self::EAGAIN,
        Self::EISCONN,
        Self::E2BIG,
        Self::EPERM,
    ];

    /// The errno number.
    #[must_use]
    pub const fn raw(self) -> i32 {
        self as i32
    }

    /// The name sent on the wire (without its NUL).
    #[must_use]
    pub const fn xen_name(self) -> &'static str {
        match self {
            Self::EINVAL => "EINVAL",
            Self::EACCES => "EACCES",
            Self::EEXIST => "EEXIST",
            Self::EISDIR => "EISDIR",
            Self::ENOENT => "ENOENT",
            Self::ENOMEM => "ENOMEM",
            Self::ENOSPC => "ENOSPC",
            Self::EIO => "EIO",
            Self::ENOTEMPTY => "ENOTEMPTY",
            Self::ENOSYS => "ENOSYS",
            Self::EROFS => "EROFS",
            Self::EBUSY => "EBUSY",
            Self::EAGAIN => "EAGAIN",
            Self::EISCONN => "EISCONN",
            Self::E2BIG => "E2BIG",
            Self::EPERM => "EPERM",
        }
    }

    /// The error whose wire name is `name` (without its NUL).
    #[must_use]
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.xen_name().as_bytes() == name)
    }
}

/// The header of every xenstore message (`struct xsd_sockmsg`), in the
/// host's byte order.
#[doc(alias = "xsd_sockmsg")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XsdSockmsg {
    /// An [`XsdSockmsgType`].
    pub ty: u32,
    /// Request identifier, echoed in the daemon's reply (0 in watch events).
    pub req_id: u32,
    /// Transaction id (0 if not related to a transaction).
    pub tx_id: u32,
    /// Length of the payload that follows.
    pub len: u32,
}
abi_layout!(XsdSockmsg: size 16, ty @ 0, req_id @ 4, tx_id @ 8, len @ 12);

/// `XS_WATCH_PATH`: index of the path in a watch event's strings.
pub const XS_WATCH_PATH: usize = 0;
/// `XS_WATCH_TOKEN`: index of the token in a watch event's strings.
pub const XS_WATCH_TOKEN: usize = 1;

/// `XENSTORE_RING_SIZE`: bytes of each of the two rings of the page.
pub const XENSTORE_RING_SIZE: usize = 1024;

/// `MASK_XENSTORE_IDX`: a free-running ring index reduced to an offset.
#[must_use]
pub const fn mask_xenstore_idx(idx: u32) -> usize {
    (idx as usize) & (XENSTORE_RING_SIZE - 1)
}

/// The xenstore ring page a domain shares with the daemon
/// (`struct xenstore_domain_interface`); the indexes are free-running.
#[doc(alias = "xenstore_domain_interface")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenstoreDomainInterface {
    /// Requests to the daemon.
    pub req: [u8; XENSTORE_RING_SIZE],
    /// Replies and asynchronous watch events.
    pub rsp: [u8; XENSTORE_RING_SIZE],
    /// Daemon's consumer index of `req`.
    pub req_cons: u32,
    /// Guest's producer index of `req`.
    pub req_prod: u32,
    /// Guest's consumer index of `rsp`.
    pub rsp_cons: u32,
    /// Daemon's producer index of `rsp`.
    pub rsp_prod: u32,
    /// `XENSTORE_SERVER_FEATURE_*` bits the daemon supports.
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` or `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*`.
    pub error: u32,
}
abi_layout!(XenstoreDomainInterface: size 2076,
    req @ 0, rsp @ 1024, req_cons @ 2048, req_prod @ 2052, rsp_cons @ 2056,
    rsp_prod @ 2060, server_features @ 2064, connection @ 2068, error @ 2072);

/// `XENSTORE_PAYLOAD_MAX`: the largest payload of one message.
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// `XENSTORE_ABS_PATH_MAX`: the longest absolute path.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// `XENSTORE_REL_PATH_MAX`: the longest path below a domain's home.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// `XENSTORE_SERVER_FEATURE_RECONNECTION`: the ring can be reconnected.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// `XENSTORE_SERVER_FEATURE_ERROR`: the page has the `error` field.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// `XENSTORE_CONNECTED`: the steady state.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `XENSTORE_RECONNECT`: a reconnection is in progress.
pub const XENSTORE_RECONNECT: u32 = 1;
/// `XENSTORE_ERROR_NONE`.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `XENSTORE_ERROR_COMM`: communication problem.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `XENSTORE_ERROR_RINGIDX`: invalid ring index.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `XENSTORE_ERROR_PROTO`: protocol violation (payload too long).
pub const XENSTORE_ERROR_PROTO: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_are_numbered_as_xen() {
        assert_eq!(XsdSockmsgType::try_from(15), Ok(XsdSockmsgType::WatchEvent));
        assert_eq!(XsdSockmsgType::try_from(20), Err(crate::Unknown(20)));
        assert_eq!(XsdSockmsgType::DirectoryPart.raw() + 1, XS_TYPE_COUNT);
    }

    #[test]
    fn error_names_round_trip() {
        assert_eq!(XsdError::from_name(b"EAGAIN"), Some(XsdError::EAGAIN));
        assert_eq!(XsdError::ENOENT.xen_name(), "ENOENT");
        assert_eq!(XsdError::from_name(b"EWHAT"), None);
        assert_eq!(XsdError::ALL.len(), 16);
    }

    #[test]
    fn ring_index_wraps() {
        assert_eq!(mask_xenstore_idx(1024), 0);
        assert_eq!(mask_xenstore_idx(1025 + 4096), 1);
    }
}
