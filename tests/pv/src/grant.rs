// SPDX-License-Identifier: GPL-2.0-only
//! Grant tables for the test kernels: typed `grant_table_op` calls and the
//! page protocol between the granting domU `pv-grant` and the toolstack's
//! `mode=grant` (dom0).
//!
//! # The protocol
//!
//! The domU grants dom0 two of its pages with fixed references:
//!
//! * [`REF_RW`] (8, the first ref after Xen's reserved ones):
//!   `GTF_permit_access`, writable: page A. Bytes `0..`[`PATTERN_LEN`] hold
//!   [`pattern`]`(`[`SEED_A`]`, i)`; dom0 writes [`REPLY`] at
//!   [`REPLY_OFF`] through its mapping, the domU answers with [`ANSWER`]
//!   at [`ANSWER_OFF`], and dom0 finally writes [`DONE`] at [`DONE_OFF`]
//!   with `GNTTABOP_copy` once it has unmapped everything.
//! * [`REF_RO`] (9): `GTF_permit_access | GTF_readonly`: page B, all 4096
//!   bytes [`pattern`]`(`[`SEED_B`]`, i)`.
//!
//! [`REF_UNGRANTED`] (10) lies in the table but is never granted.
//! Everything the two sides exchange is read and written volatile: the
//! other domain changes it behind the compiler's back.

use guest_abi::grant_table::{
    GntSt, GnttabCopy, GnttabMapGrantRef, GnttabOp, GnttabSetupTable, GnttabUnmapGrantRef,
};
use guest_abi::xen::Hypercall;

use crate::hypercall::hypercall3;
use crate::ops::{XenError, result};

/// The writable grant (page A).
pub const REF_RW: u32 = 8;
/// The read-only grant (page B).
pub const REF_RO: u32 = 9;
/// A ref inside the table that is never granted.
pub const REF_UNGRANTED: u32 = 10;

/// Bytes of page A that hold the pattern.
pub const PATTERN_LEN: usize = 3072;
/// Where dom0 writes [`REPLY`] (through its writable mapping).
pub const REPLY_OFF: usize = 3072;
/// Where the domU writes [`ANSWER`].
pub const ANSWER_OFF: usize = 3080;
/// Where dom0 writes [`DONE`] (with `GNTTABOP_copy`).
pub const DONE_OFF: usize = 3088;

/// dom0's reply.
pub const REPLY: u64 = 0xd0d0_5eed_cafe_f00d;
/// The domU's answer.
pub const ANSWER: u64 = !REPLY;
/// dom0 is done with the grants.
pub const DONE: u64 = 0x0000_0000_d0e5_d0e5;

/// Seed of page A's pattern.
pub const SEED_A: u8 = 0x5a;
/// Seed of page B's pattern.
pub const SEED_B: u8 = 0xb7;

/// Byte `i` of the pattern with `seed`.
#[must_use]
pub const fn pattern(seed: u8, i: usize) -> u8 {
    #[allow(clippy::cast_possible_truncation, reason = "a byte pattern keeps the low bits")]
    let lo = i as u8;
    #[allow(clippy::cast_possible_truncation, reason = "a byte pattern keeps the low bits")]
    let hi = (i >> 8) as u8;
    lo.wrapping_mul(31).wrapping_add(seed) ^ hi
}

/// The first offset in `0..len` of the page at `page` whose byte differs
/// from [`pattern`]`(seed, i)`, or `None`.
///
/// # Safety
///
/// `page` must point to `len` readable bytes.
#[must_use]
pub unsafe fn first_mismatch(page: *const u8, len: usize, seed: u8) -> Option<usize> {
    // SAFETY: forwarded from the caller: `i < len` stays in the range.
    (0..len).find(|&i| unsafe { page.wrapping_add(i).read_volatile() } != pattern(seed, i))
}

/// A `GNTST_*` status as its name, or the number.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Status(pub i16);

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match GntSt::try_from(self.0) {
            Ok(st) => f.write_str(st.xen_name()),
            Err(_) => write!(f, "GNTST {}", self.0),
        }
    }
}

impl core::fmt::Debug for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl PartialEq<GntSt> for Status {
    fn eq(&self, other: &GntSt) -> bool {
        self.0 == other.raw()
    }
}

/// `grant_table_op(cmd, ops, ops.len())` on an array of `T`.
fn op<T: bytemuck::Pod>(cmd: GnttabOp, ops: &mut [T]) -> Result<(), XenError> {
    // SAFETY: each command reads and writes exactly `count` structs of its
    // type, which `ops` holds; frame lists they point to are the caller's
    // (see `setup_table`).
    let ret = unsafe {
        hypercall3(
            Hypercall::GrantTableOp.raw(),
            u64::from(cmd.raw()),
            ops.as_mut_ptr().addr() as u64,
            ops.len() as u64,
        )
    };
    result(ret).map(drop)
}

/// `GNTTABOP_setup_table` for `dom` with `frames.len()` frames: the
/// table's MFNs land in `frames`. Returns the per-op status.
///
/// # Errors
///
/// The hypercall's own failure (a fault on the arguments).
pub fn setup_table(dom: guest_abi::xen::DomId, frames: &mut [u64]) -> Result<Status, XenError> {
    let mut s = GnttabSetupTable {
        dom,
        nr_frames: u32::try_from(frames.len()).unwrap_or(u32::MAX),
        frame_list: frames.as_mut_ptr().addr() as u64,
        ..Default::default()
    };
    op(GnttabOp::SetupTable, core::slice::from_mut(&mut s))?;
    Ok(Status(s.status))
}

/// `GNTTABOP_map_grant_ref` of each entry (statuses and handles in place).
///
/// # Errors
///
/// The hypercall's own failure.
pub fn map(ops: &mut [GnttabMapGrantRef]) -> Result<(), XenError> {
    op(GnttabOp::MapGrantRef, ops)
}

/// `GNTTABOP_unmap_grant_ref` of each entry.
///
/// # Errors
///
/// The hypercall's own failure.
pub fn unmap(ops: &mut [GnttabUnmapGrantRef]) -> Result<(), XenError> {
    op(GnttabOp::UnmapGrantRef, ops)
}

/// `GNTTABOP_copy` of each entry.
///
/// # Errors
///
/// The hypercall's own failure.
pub fn copy(ops: &mut [GnttabCopy]) -> Result<(), XenError> {
    op(GnttabOp::Copy, ops)
}
