// SPDX-License-Identifier: GPL-2.0-only
//! Xen's errno values (`errno.h`), returned negated from hypercalls.
//!
//! The numbers are those of x86 Linux. Hypercalls return `-errno` in `%rax`;
//! internally the hypervisor works with `Result<T, Errno>` and converts with
//! [`Errno::as_neg_i64`] only at the hypercall boundary.

abi_enum! {
    /// An error number of the Xen ABI (`enum xen_errno`, `XEN_E*`).
    ///
    /// [`Errno::EINTR`] and [`Errno::ERESTART`] are hypervisor-internal
    /// (the header hides them from guests): they must never reach a guest.
    pub enum Errno: i32 {
        /// Operation not permitted.
        EPERM = 1 => "XEN_EPERM",
        /// No such file or directory.
        ENOENT = 2 => "XEN_ENOENT",
        /// No such process (or domain).
        ESRCH = 3 => "XEN_ESRCH",
        /// Interrupted system call. Hypervisor-internal only.
        EINTR = 4 => "XEN_EINTR",
        /// I/O error.
        EIO = 5 => "XEN_EIO",
        /// No such device or address.
        ENXIO = 6 => "XEN_ENXIO",
        /// Argument list too long.
        E2BIG = 7 => "XEN_E2BIG",
        /// Exec format error.
        ENOEXEC = 8 => "XEN_ENOEXEC",
        /// Bad file number.
        EBADF = 9 => "XEN_EBADF",
        /// No child processes.
        ECHILD = 10 => "XEN_ECHILD",
        /// Try again (also `EWOULDBLOCK`).
        EAGAIN = 11 => "XEN_EAGAIN",
        /// Out of memory.
        ENOMEM = 12 => "XEN_ENOMEM",
        /// Permission denied.
        EACCES = 13 => "XEN_EACCES",
        /// Bad address (a guest pointer could not be accessed).
        EFAULT = 14 => "XEN_EFAULT",
        /// Device or resource busy.
        EBUSY = 16 => "XEN_EBUSY",
        /// File exists.
        EEXIST = 17 => "XEN_EEXIST",
        /// Cross-device link.
        EXDEV = 18 => "XEN_EXDEV",
        /// No such device.
        ENODEV = 19 => "XEN_ENODEV",
        /// Is a directory.
        EISDIR = 21 => "XEN_EISDIR",
        /// Invalid argument.
        EINVAL = 22 => "XEN_EINVAL",
        /// File table overflow.
        ENFILE = 23 => "XEN_ENFILE",
        /// Too many open files.
        EMFILE = 24 => "XEN_EMFILE",
        /// No space left on device (e.g. no free event-channel port).
        ENOSPC = 28 => "XEN_ENOSPC",
        /// Read-only file system.
        EROFS = 30 => "XEN_EROFS",
        /// Too many links.
        EMLINK = 31 => "XEN_EMLINK",
        /// Math argument out of domain of function.
        EDOM = 33 => "XEN_EDOM",
        /// Math result not representable.
        ERANGE = 34 => "XEN_ERANGE",
        /// Resource deadlock would occur (also `EDEADLOCK`).
        EDEADLK = 35 => "XEN_EDEADLK",
        /// File name too long.
        ENAMETOOLONG = 36 => "XEN_ENAMETOOLONG",
        /// No record locks available.
        ENOLCK = 37 => "XEN_ENOLCK",
        /// Function not implemented (unknown hypercall or sub-operation).
        ENOSYS = 38 => "XEN_ENOSYS",
        /// Directory not empty.
        ENOTEMPTY = 39 => "XEN_ENOTEMPTY",
        /// No data available.
        ENODATA = 61 => "XEN_ENODATA",
        /// Timer expired (e.g. a singleshot timer set in the past).
        ETIME = 62 => "XEN_ETIME",
        /// Not a data message.
        EBADMSG = 74 => "XEN_EBADMSG",
        /// Value too large for defined data type.
        EOVERFLOW = 75 => "XEN_EOVERFLOW",
        /// Illegal byte sequence.
        EILSEQ = 84 => "XEN_EILSEQ",
        /// The hypercall must be restarted (continuation). Hypervisor-internal
        /// only.
        ERESTART = 85 => "XEN_ERESTART",
        /// Socket operation on non-socket.
        ENOTSOCK = 88 => "XEN_ENOTSOCK",
        /// Operation not supported.
        EOPNOTSUPP = 95 => "XEN_EOPNOTSUPP",
        /// Address already in use.
        EADDRINUSE = 98 => "XEN_EADDRINUSE",
        /// Cannot assign requested address.
        EADDRNOTAVAIL = 99 => "XEN_EADDRNOTAVAIL",
        /// No buffer space available.
        ENOBUFS = 105 => "XEN_ENOBUFS",
        /// Transport endpoint is already connected.
        EISCONN = 106 => "XEN_EISCONN",
        /// Transport endpoint is not connected.
        ENOTCONN = 107 => "XEN_ENOTCONN",
        /// Connection timed out.
        ETIMEDOUT = 110 => "XEN_ETIMEDOUT",
    }
}

impl Errno {
    /// `EWOULDBLOCK`, an alias of [`Errno::EAGAIN`].
    #[doc(alias = "XEN_EWOULDBLOCK")]
    pub const EWOULDBLOCK: Self = Self::EAGAIN;

    /// `EDEADLOCK`, an alias of [`Errno::EDEADLK`].
    #[doc(alias = "XEN_EDEADLOCK")]
    pub const EDEADLOCK: Self = Self::EDEADLK;

    /// The hypercall return value for this error: `-errno` as the 64-bit
    /// value placed in the guest's `%rax`.
    #[must_use]
    pub const fn as_neg_i64(self) -> i64 {
        (self as i32 as i64).wrapping_neg()
    }

    /// Decodes a hypercall return value: `Some` if `ret` is `-errno` for a
    /// known errno, `None` for success values and unknown negatives.
    #[must_use]
    pub fn from_neg_i64(ret: i64) -> Option<Self> {
        let positive = ret.checked_neg()?;
        let number = i32::try_from(positive).ok()?;
        Self::try_from(number).ok()
    }

    /// Whether the value is hypervisor-internal and must never be returned
    /// to a guest ([`Errno::EINTR`], [`Errno::ERESTART`]).
    #[must_use]
    pub const fn is_internal(self) -> bool {
        matches!(self, Self::EINTR | Self::ERESTART)
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Xen's names carry a `XEN_` prefix; show the familiar one.
        let name = self.xen_name();
        f.write_str(name.strip_prefix("XEN_").unwrap_or(name))
    }
}

impl core::error::Error for Errno {}
