// SPDX-License-Identifier: GPL-2.0-only
//! [`BuildError`]: why a domain could not be built.

use core::fmt;

use hv_libelf::ElfError;
use hv_libelf::bzimage::BzImageError;

use crate::ctl::CtlOp;
use crate::layout::LayoutError;

/// Why a domain could not be built. `E` is the [`crate::DomCtl`]
/// implementation's error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError<E> {
    /// The kernel is a bzImage that cannot be unwrapped.
    BzImage(BzImageError),
    /// The kernel (or a bzImage's payload) is not a usable PV ELF image.
    Elf(ElfError),
    /// The kernel cannot be laid out in the domain's memory.
    Layout(LayoutError),
    /// The configuration or image is unusable: what is wrong.
    Invalid(&'static str),
    /// Memory for the builder's own bookkeeping could not be allocated
    /// (bytes wanted).
    OutOfMemory(u64),
    /// The hypervisor refused an operation.
    Ctl {
        /// Which.
        op: CtlOp,
        /// The implementation's error.
        error: E,
    },
    /// The hypervisor returned something impossible (e.g. fewer frames
    /// than asked without an error, an MFN that cannot be mapped).
    Hypervisor(&'static str),
}

impl<E> BuildError<E> {
    /// The hypervisor's refusal of `op` as a `BuildError` (for `map_err`).
    pub fn ctl(op: CtlOp) -> impl FnOnce(E) -> Self {
        move |error| Self::Ctl { op, error }
    }
}

impl<E: fmt::Display> fmt::Display for BuildError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BzImage(e) => write!(f, "bzImage: {e}"),
            Self::Elf(e) => write!(f, "kernel image: {e}"),
            Self::Layout(e) => write!(f, "layout: {e}"),
            Self::Invalid(what) => write!(f, "invalid domain: {what}"),
            Self::OutOfMemory(n) => write!(f, "builder out of memory ({n} bytes)"),
            Self::Ctl { op, error } => write!(f, "{op}: {error}"),
            Self::Hypervisor(what) => write!(f, "unexpected hypervisor answer: {what}"),
        }
    }
}

impl<E> From<ElfError> for BuildError<E> {
    fn from(e: ElfError) -> Self {
        Self::Elf(e)
    }
}

impl<E> From<BzImageError> for BuildError<E> {
    fn from(e: BzImageError) -> Self {
        Self::BzImage(e)
    }
}

impl<E> From<LayoutError> for BuildError<E> {
    fn from(e: LayoutError) -> Self {
        Self::Layout(e)
    }
}
