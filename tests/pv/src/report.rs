// SPDX-License-Identifier: GPL-2.0-only
//! Test results in XTF's style (`common/report.c`).
//!
//! A test records outcomes as it goes ([`success`], [`skip`], [`error`],
//! [`fail`], [`check`]); the worst one wins, in the order SUCCESS < SKIP <
//! ERROR < FAILURE. When the test returns, [`report`] prints exactly one
//! `Test result: <STATUS>` line, the line harnesses match (XTF's runner and
//! Xen's CI match the same text), and powers the domain off. A test that
//! recorded nothing gets `Test did not report a status` and ERROR.

use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

use guest_abi::sched::ShutdownReason;

use crate::hypercall::Via;
use crate::{ops, println};

/// A test outcome; the derived order is "how bad" (worst wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Status {
    /// Everything checked was right.
    Success = 1,
    /// The test could not run here (a missing feature); not a failure.
    Skip = 2,
    /// The test itself went wrong (an unexpected environment, a bug in the
    /// test).
    Error = 3,
    /// The hypervisor did something wrong.
    Failure = 4,
}

impl Status {
    /// The word printed after `Test result: `.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Skip => "SKIP",
            Self::Error => "ERROR",
            Self::Failure => "FAILURE",
        }
    }

    const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            1 => Some(Self::Success),
            2 => Some(Self::Skip),
            3 => Some(Self::Error),
            4 => Some(Self::Failure),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The worst status so far; 0 while none was recorded.
static STATUS: AtomicU8 = AtomicU8::new(0);

/// Records `status` (keeping the worst one).
pub fn set_status(status: Status) {
    STATUS.fetch_max(status as u8, Ordering::Relaxed);
}

/// The worst status recorded so far, if any.
#[must_use]
pub fn status() -> Option<Status> {
    Status::from_raw(STATUS.load(Ordering::Relaxed))
}

/// Records a success (does not hide an earlier failure).
pub fn success() {
    set_status(Status::Success);
}

/// Records a failure of the hypervisor and prints `FAIL: <msg>`.
pub fn fail(msg: impl fmt::Display) {
    println!("FAIL: {msg}");
    set_status(Status::Failure);
}

/// Records that the test went wrong and prints `ERROR: <msg>`.
pub fn error(msg: impl fmt::Display) {
    println!("ERROR: {msg}");
    set_status(Status::Error);
}

/// Records that (part of) the test cannot run and prints `SKIP: <msg>`.
pub fn skip(msg: impl fmt::Display) {
    println!("SKIP: {msg}");
    set_status(Status::Skip);
}

/// Prints `ok: <msg>` and records a success if `cond` holds, otherwise
/// [`fail`]s with `msg`. Returns `cond`.
pub fn check(cond: bool, msg: impl fmt::Display) -> bool {
    if cond {
        println!("ok: {msg}");
        success();
    } else {
        fail(msg);
    }
    cond
}

/// Checks that `actual == expected`, printing both on failure.
pub fn check_eq<T: PartialEq + fmt::Debug>(
    actual: T,
    expected: T,
    what: impl fmt::Display,
) -> bool {
    if actual == expected {
        check(true, format_args!("{what}: {actual:?}"))
    } else {
        check(false, format_args!("{what}: got {actual:?}, expected {expected:?}"))
    }
}

/// Prints the final `Test result: <STATUS>` line and powers the domain off
/// (`SCHEDOP_shutdown(SHUTDOWN_poweroff)`); crashes the domain if the
/// hypervisor does not shut it down.
pub fn report() -> ! {
    let status = status().unwrap_or_else(|| {
        println!("Test did not report a status");
        Status::Error
    });
    println!("Test result: {status}");
    let refused = ops::sched_shutdown_via(Via::framework(), ShutdownReason::Poweroff);
    panic!("SCHEDOP_shutdown(poweroff) returned: {refused:?}");
}
