// SPDX-License-Identifier: GPL-2.0-only
//! Typed hypercalls: `console_io`, `xen_version` and `sched_op`.
//!
//! Safe wrappers over [`crate::hypercall`] for the operations every test
//! needs. They go through the hypercall page (the framework checks that it
//! was written before a test runs) and return `Err` with the hypervisor's
//! negative result when it fails. Buffers are the ABI's own types from
//! [`guest_abi`], so their sizes are Xen's.

use core::fmt;

use guest_abi::sched::{SchedOp, SchedShutdown, ShutdownReason};
use guest_abi::version::{XenCapabilitiesInfo, XenExtraversion, XenFeatureInfo, XenVersionOp};
use guest_abi::xen::{ConsoleIoCmd, Errno, Hypercall};

use crate::hypercall;

/// A failed hypercall: its (negative) return value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct XenError(pub i64);

impl XenError {
    /// The Xen errno, if the value is `-errno` of a known one.
    #[must_use]
    pub fn errno(self) -> Option<Errno> {
        Errno::from_neg_i64(self.0)
    }
}

impl From<Errno> for XenError {
    fn from(errno: Errno) -> Self {
        Self(errno.as_neg_i64())
    }
}

impl fmt::Display for XenError {
    /// `-ENOSYS (-38)`, or the bare number for an unknown value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno() {
            Some(errno) => write!(f, "-{errno} ({})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The result of a hypercall: `Ok` for values `>= 0`, else the error.
pub fn result(ret: i64) -> Result<u64, XenError> {
    u64::try_from(ret).map_err(|_| XenError(ret))
}

/// Formats a hypercall return value: `0x1234`, or `-ENOSYS (-38)`.
#[derive(Clone, Copy)]
pub struct Ret(pub i64);

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match result(self.0) {
            Ok(value) => write!(f, "{value:#x}"),
            Err(e) => write!(f, "{e}"),
        }
    }
}

/// `console_io(CONSOLEIO_write, len, buf)` through `via`: writes `bytes` to
/// the hypervisor's console. Empty writes are not sent.
pub fn console_write_via(via: hypercall::Via, bytes: &[u8]) -> Result<(), XenError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let len = u64::try_from(bytes.len()).map_err(|_| XenError::from(Errno::EINVAL))?;
    // SAFETY: CONSOLEIO_write only reads `len` bytes from `buf`, which
    // `bytes` covers.
    let ret = unsafe {
        via.hypercall3(
            Hypercall::ConsoleIo.raw(),
            u64::from(ConsoleIoCmd::Write.raw()),
            len,
            bytes.as_ptr().addr() as u64,
        )
    };
    result(ret).map(drop)
}

/// `console_io(CONSOLEIO_write, len, buf)` through the hypercall page.
pub fn console_write(bytes: &[u8]) -> Result<(), XenError> {
    console_write_via(hypercall::Via::Page, bytes)
}

/// `xen_version(cmd, arg)` with a raw argument pointer.
///
/// # Safety
///
/// `arg` must be null or point to writable memory of the size sub-operation
/// `cmd` writes (e.g. 16 bytes for `XENVER_extraversion`).
pub unsafe fn xen_version_raw(cmd: u32, arg: *mut u8) -> i64 {
    // SAFETY: forwarded from the caller.
    unsafe { hypercall::hypercall2(Hypercall::XenVersion.raw(), u64::from(cmd), arg.addr() as u64) }
}

/// `XENVER_version`: `(major, minor)`.
pub fn xen_version() -> Result<(u16, u16), XenError> {
    // SAFETY: XENVER_version takes no argument.
    let ret = unsafe { xen_version_raw(XenVersionOp::Version.raw(), core::ptr::null_mut()) };
    let value = result(ret)?;
    let major = u16::try_from(value.checked_shr(16).unwrap_or(0) & 0xffff).unwrap_or(u16::MAX);
    let minor = u16::try_from(value & 0xffff).unwrap_or(u16::MAX);
    Ok((major, minor))
}

/// Runs a `xen_version` sub-operation that fills a `T`.
fn xen_version_into<T: guest_abi::AbiBytes>(op: XenVersionOp, mut out: T) -> Result<T, XenError> {
    let bytes = out.as_bytes_mut();
    // SAFETY: `bytes` is a writable buffer of exactly the size of the ABI
    // structure that `op` writes.
    let ret = unsafe { xen_version_raw(op.raw(), bytes.as_mut_ptr()) };
    result(ret).map(|_| out)
}

/// `XENVER_extraversion`: the version suffix (e.g. `".0"`).
pub fn xen_extraversion() -> Result<XenExtraversion, XenError> {
    xen_version_into(XenVersionOp::Extraversion, XenExtraversion::new(b""))
}

/// `XENVER_capabilities`: the guest types the hypervisor runs
/// (e.g. `"xen-3.0-x86_64 ..."`).
pub fn xen_capabilities() -> Result<XenCapabilitiesInfo, XenError> {
    xen_version_into(XenVersionOp::Capabilities, XenCapabilitiesInfo::new(b""))
}

/// `XENVER_get_features`: feature submap `index` (`1 << XENFEAT_*` bits).
pub fn xen_features(index: u32) -> Result<u32, XenError> {
    let info = XenFeatureInfo { submap_idx: index, submap: 0 };
    xen_version_into(XenVersionOp::GetFeatures, info).map(|info| info.submap)
}

/// `XENVER_pagesize`: the hypervisor's page size.
pub fn xen_pagesize() -> Result<u64, XenError> {
    // SAFETY: XENVER_pagesize takes no argument.
    result(unsafe { xen_version_raw(XenVersionOp::Pagesize.raw(), core::ptr::null_mut()) })
}

/// `sched_op(SCHEDOP_yield, NULL)`.
pub fn sched_yield() -> Result<(), XenError> {
    // SAFETY: SCHEDOP_yield takes no argument.
    let ret = unsafe {
        hypercall::hypercall2(Hypercall::SchedOp.raw(), u64::from(SchedOp::Yield.raw()), 0)
    };
    result(ret).map(drop)
}

/// `sched_op(SCHEDOP_shutdown, &{reason})` through `via`; returns only if
/// the hypervisor refuses (or, for a suspend, when the domain resumes).
pub fn sched_shutdown_via(via: hypercall::Via, reason: ShutdownReason) -> Result<(), XenError> {
    let arg = SchedShutdown { reason: reason.raw() };
    // SAFETY: SCHEDOP_shutdown reads one `sched_shutdown` from the pointer,
    // which points at `arg`.
    let ret = unsafe {
        via.hypercall2(
            Hypercall::SchedOp.raw(),
            u64::from(SchedOp::Shutdown.raw()),
            (&raw const arg).addr() as u64,
        )
    };
    result(ret).map(drop)
}

/// `sched_op(SCHEDOP_shutdown, &{reason})` through the hypercall page.
pub fn sched_shutdown(reason: ShutdownReason) -> Result<(), XenError> {
    sched_shutdown_via(hypercall::Via::Page, reason)
}
