// SPDX-License-Identifier: GPL-2.0-only
//! The PV console and xenstore rings: Xen's `io/console.h` and
//! `io/xs_wire.h`.
//!
//! Both are one shared page of the domU (`start_info.console.domU.mfn`,
//! `start_info.store_mfn`) with free-running 32-bit producer and consumer
//! indices, masked by the ring size on use; each side notifies the other
//! over the event channel in `start_info`. The xenstore ring carries
//! [`XsdSockmsg`] messages, each a header and `len` payload bytes.

use bytemuck::{Pod, Zeroable};

/// `XENCONS_RING_IDX`.
pub type XenconsRingIdx = u32;

/// The console page (`struct xencons_interface`): `input` is the
/// backend's output to the guest (`in`), `output` the guest's (`out`).
#[doc(alias = "xencons_interface")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenconsInterface {
    /// `in`: characters for the guest (backend produces).
    pub input: [u8; 1024],
    /// `out`: characters from the guest (guest produces).
    pub output: [u8; 2048],
    /// `in_cons` (guest-written).
    pub in_cons: XenconsRingIdx,
    /// `in_prod` (backend-written).
    pub in_prod: XenconsRingIdx,
    /// `out_cons` (backend-written).
    pub out_cons: XenconsRingIdx,
    /// `out_prod` (guest-written).
    pub out_prod: XenconsRingIdx,
}
abi_layout!(XenconsInterface: size 3088, input @ 0, output @ 1024, in_cons @ 3072,
    in_prod @ 3076, out_cons @ 3080, out_prod @ 3084);

/// Size of the console's `out` ring.
pub const XENCONS_OUT_SIZE: u32 = 2048;
/// Size of the console's `in` ring.
pub const XENCONS_IN_SIZE: u32 = 1024;

/// `XENSTORE_RING_SIZE`: each of the two xenstore rings.
pub const XENSTORE_RING_SIZE: u32 = 1024;
/// `XENSTORE_PAYLOAD_MAX`: the largest payload of one message.
pub const XENSTORE_PAYLOAD_MAX: u32 = 4096;
/// `XENSTORE_ABS_PATH_MAX`.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// `XENSTORE_REL_PATH_MAX`.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;
/// `XENSTORE_SERVER_FEATURE_RECONNECTION`.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// `XENSTORE_SERVER_FEATURE_ERROR`.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// `XENSTORE_CONNECTED`: `connection` while the ring is in use.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `XENSTORE_RECONNECT`: `connection` while the guest asks for a reset.
pub const XENSTORE_RECONNECT: u32 = 1;
/// `XENSTORE_ERROR_NONE`.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `XENSTORE_ERROR_COMM`: the server saw a corrupted or hostile ring.
pub const XENSTORE_ERROR_COMM: u32 = 1;

/// `XENSTORE_RING_IDX`.
pub type XenstoreRingIdx = u32;

/// The xenstore page (`struct xenstore_domain_interface`, Xen 4.17).
#[doc(alias = "xenstore_domain_interface")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenstoreDomainInterface {
    /// Requests to the store (guest produces).
    pub req: [u8; 1024],
    /// Replies and watch events (store produces).
    pub rsp: [u8; 1024],
    /// `req_cons` (store-written).
    pub req_cons: XenstoreRingIdx,
    /// `req_prod` (guest-written).
    pub req_prod: XenstoreRingIdx,
    /// `rsp_cons` (guest-written).
    pub rsp_cons: XenstoreRingIdx,
    /// `rsp_prod` (store-written).
    pub rsp_prod: XenstoreRingIdx,
    /// `XENSTORE_SERVER_FEATURE_*` the store supports (store-written).
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` / `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*` (store-written).
    pub error: u32,
}
abi_layout!(XenstoreDomainInterface: size 2076, req @ 0, rsp @ 1024, req_cons @ 2048,
    req_prod @ 2052, rsp_cons @ 2056, rsp_prod @ 2060, server_features @ 2064,
    connection @ 2068, error @ 2072);

/// The header of a xenstore message (`struct xsd_sockmsg`).
#[doc(alias = "xsd_sockmsg")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XsdSockmsg {
    /// `XS_*` ([`XsdSockmsgType`]).
    pub ty: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id (0 outside a transaction).
    pub tx_id: u32,
    /// Payload bytes that follow.
    pub len: u32,
}
abi_layout!(XsdSockmsg: size 16, ty @ 0, req_id @ 4, tx_id @ 8, len @ 12);

abi_enum! {
    /// Message types of the xenstore protocol (`enum xsd_sockmsg_type`).
    pub enum XsdSockmsgType: u32 {
        /// Control (debug) commands.
        Control = 0 => "XS_CONTROL",
        /// List a directory.
        Directory = 1 => "XS_DIRECTORY",
        /// Read a node: payload `path\0`, reply the value (no NUL).
        Read = 2 => "XS_READ",
        /// Read a node's permissions.
        GetPerms = 3 => "XS_GET_PERMS",
        /// Set a watch.
        Watch = 4 => "XS_WATCH",
        /// Remove a watch.
        Unwatch = 5 => "XS_UNWATCH",
        /// Start a transaction.
        TransactionStart = 6 => "XS_TRANSACTION_START",
        /// End a transaction.
        TransactionEnd = 7 => "XS_TRANSACTION_END",
        /// Introduce a domain to the store.
        Introduce = 8 => "XS_INTRODUCE",
        /// Release a domain.
        Release = 9 => "XS_RELEASE",
        /// A domain's home path.
        GetDomainPath = 10 => "XS_GET_DOMAIN_PATH",
        /// Write a node.
        Write = 11 => "XS_WRITE",
        /// Make a directory.
        Mkdir = 12 => "XS_MKDIR",
        /// Remove a node.
        Rm = 13 => "XS_RM",
        /// Set a node's permissions.
        SetPerms = 14 => "XS_SET_PERMS",
        /// A watch fired (store to guest).
        WatchEvent = 15 => "XS_WATCH_EVENT",
        /// An error reply: payload the errno's name and a NUL.
        ErrorReply = 16 => "XS_ERROR",
        /// Is a domain introduced.
        IsDomainIntroduced = 17 => "XS_IS_DOMAIN_INTRODUCED",
        /// Resume a domain.
        Resume = 18 => "XS_RESUME",
        /// Set a domain's target.
        SetTarget = 19 => "XS_SET_TARGET",
        /// Remove every watch of the connection.
        ResetWatches = 21 => "XS_RESET_WATCHES",
        /// Part of a directory listing.
        DirectoryPart = 22 => "XS_DIRECTORY_PART",
    }
}
