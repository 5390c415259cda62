// SPDX-License-Identifier: GPL-2.0-only
//! Grant tables version 2 for the test kernels: typed `set_version`,
//! `get_version`, `get_status_frames` and `query_size` calls, and the page
//! protocol between the domU `pv-grant2` and the toolstack's
//! `mode=grant-v2` (dom0).
//!
//! # The protocol
//!
//! The domU switches its table to version 2 and publishes two v2 entries
//! for dom0 (reusing [`crate::grant`]'s pages, patterns and offsets):
//!
//! * [`crate::grant::REF_RW`] (8): `full_page`, writable: page A with the
//!   pattern, dom0's reply, the domU's answer and dom0's "done" as in
//!   `mode=grant`;
//! * [`REF_SUB`] (9): `sub_page` of page B, read-only: bytes
//!   [`SUB_OFF`]`..`[`SUB_OFF`]` + `[`SUB_LEN`] only, copy only;
//! * [`REF_TRANS`] (11): `transitive` for dom0, naming dom0's own grant
//!   [`D0_REF`] (12, a page of dom0's filled with
//!   [`crate::grant::pattern`]`(`[`SEED_D0`]`, i)`, granted read-only to
//!   the domU): dom0 copies its own page back through the domU's grant;
//! * [`REF_XFER`] (10): `GTF_accept_transfer` for dom0 into the PFN right
//!   after the domU's memory (`nr_pages`): dom0 transfers a page filled
//!   with [`crate::grant::pattern`]`(`[`SEED_XFER`]`, i)` before its
//!   "done"; the domU then finds the entry completed, the MFN in it, the
//!   M2P naming its PFN, and the pattern in the page.
//!
//! The domU checks what it sees (the status frame's bits, `-EBUSY` for a
//! version change while a grant or the status frame is in use) and shuts
//! down with `SHUTDOWN_poweroff` only if every check passed, else with
//! `SHUTDOWN_crash`: dom0 reads the verdict from the shutdown code, which
//! it sees on Xen 4.17 too (where a domU's console lines are not shown).

use guest_abi::grant_table::{
    GnttabCacheFlush, GnttabGetStatusFrames, GnttabGetVersion, GnttabOp, GnttabQuerySize,
    GnttabSetVersion, GnttabSwapGrantRef, GnttabTransfer, GnttabUnmapAndReplace,
};
use guest_abi::xen::{DomId, GrantRef, Hypercall};

use crate::grant::Status;
use crate::hypercall::hypercall3;
use crate::ops::{XenError, result};

/// The sub-page grant (page B).
pub const REF_SUB: u32 = 9;
/// The domU's `GTF_accept_transfer` grant: dom0 gives it a page.
pub const REF_XFER: u32 = 10;
/// Seed of the pattern of the page dom0 transfers.
pub const SEED_XFER: u8 = 0x3c;
/// The domU's transitive grant to dom0, naming dom0's [`D0_REF`].
pub const REF_TRANS: u32 = 11;
/// dom0's own (v1) grant of a page to the domU, read-only.
pub const D0_REF: u32 = 12;
/// Seed of the pattern of dom0's page granted as [`D0_REF`].
pub const SEED_D0: u8 = 0xd0;
/// First byte of page B granted by [`REF_SUB`].
pub const SUB_OFF: u16 = 256;
/// Bytes of page B granted by [`REF_SUB`].
pub const SUB_LEN: u16 = 512;

/// `grant_table_op(cmd, one, 1)`.
fn op1<T: bytemuck::Pod>(cmd: GnttabOp, one: &mut T) -> Result<(), XenError> {
    // SAFETY: each command reads and writes one struct of its type, which
    // `one` is; a frame list it points to is the caller's (see
    // `get_status_frames`).
    let ret = unsafe {
        hypercall3(
            Hypercall::GrantTableOp.raw(),
            u64::from(cmd.raw()),
            core::ptr::from_mut(one).addr() as u64,
            1,
        )
    };
    result(ret).map(drop)
}

/// `GNTTABOP_set_version(version)`: the hypercall's result and the
/// version in effect written back.
pub fn set_version(version: u32) -> (Result<(), XenError>, u32) {
    let mut op = GnttabSetVersion { version };
    let r = op1(GnttabOp::SetVersion, &mut op);
    (r, op.version)
}

/// `GNTTABOP_get_version` of `dom`.
///
/// # Errors
///
/// The hypercall's failure (`-ESRCH`, access control).
pub fn get_version(dom: DomId) -> Result<u32, XenError> {
    let mut op = GnttabGetVersion { dom, ..Default::default() };
    op1(GnttabOp::GetVersion, &mut op)?;
    Ok(op.version)
}

/// `GNTTABOP_get_status_frames` of `dom` into `frames` (its length is
/// `nr_frames`). Returns the per-op status.
///
/// # Errors
///
/// The hypercall's own failure.
pub fn get_status_frames(dom: DomId, frames: &mut [u64]) -> Result<Status, XenError> {
    let mut op = GnttabGetStatusFrames {
        nr_frames: u32::try_from(frames.len()).unwrap_or(u32::MAX),
        dom,
        status: 0,
        frame_list: frames.as_mut_ptr().addr() as u64,
    };
    op1(GnttabOp::GetStatusFrames, &mut op)?;
    Ok(Status(op.status))
}

/// `GNTTABOP_query_size` of `dom`: status, frames, maximum.
///
/// # Errors
///
/// The hypercall's own failure.
pub fn query_size(dom: DomId) -> Result<(Status, u32, u32), XenError> {
    let mut op = GnttabQuerySize { dom, ..Default::default() };
    op1(GnttabOp::QuerySize, &mut op)?;
    Ok((Status(op.status), op.nr_frames, op.max_nr_frames))
}

/// `GNTTABOP_swap_grant_ref` of the caller's refs `a` and `b`: the status.
///
/// # Errors
///
/// The hypercall's own failure.
pub fn swap(a: u32, b: u32) -> Result<Status, XenError> {
    let mut op =
        GnttabSwapGrantRef { ref_a: GrantRef(a), ref_b: GrantRef(b), ..Default::default() };
    op1(GnttabOp::SwapGrantRef, &mut op)?;
    Ok(Status(op.status))
}

/// `GNTTABOP_cache_flush` of `length` bytes at `offset` of the frame at
/// machine address `maddr` with `GNTTAB_CACHE_*` flags `flags`.
///
/// # Errors
///
/// The hypercall's result (`-EINVAL`, `-EPERM`, `-EOPNOTSUPP`, ...).
pub fn cache_flush(maddr: u64, offset: u16, length: u16, flags: u32) -> Result<(), XenError> {
    let mut op = GnttabCacheFlush { a: maddr, offset, length, op: flags };
    op1(GnttabOp::CacheFlush, &mut op)
}

/// `GNTTABOP_transfer` of the caller's frame `mfn` to `domid`'s `gref`:
/// the status.
///
/// # Errors
///
/// The hypercall's own failure.
pub fn transfer(mfn: u64, domid: DomId, gref: u32) -> Result<Status, XenError> {
    let mut op = GnttabTransfer { mfn, domid, gref: GrantRef(gref), ..Default::default() };
    op1(GnttabOp::Transfer, &mut op)?;
    Ok(Status(op.status))
}

/// `GNTTABOP_unmap_and_replace` of the host mapping at `host_addr`
/// (`handle`), moving the caller's PTE of `new_addr` into its place: the
/// status.
///
/// # Errors
///
/// The hypercall's own failure.
pub fn unmap_and_replace(host_addr: u64, new_addr: u64, handle: u32) -> Result<Status, XenError> {
    let mut op = GnttabUnmapAndReplace { host_addr, new_addr, handle, ..Default::default() };
    op1(GnttabOp::UnmapAndReplace, &mut op)?;
    Ok(Status(op.status))
}
