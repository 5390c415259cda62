// SPDX-License-Identifier: GPL-2.0-only
//! Page-table arithmetic and guarded memory access for the MMU test
//! kernels: entry addresses and frame numbers, and `peek`/`poke` that
//! catch the exception an access raises (through [`crate::probe!`]).

use crate::fault::Fault;

/// Page shift.
pub const PAGE_SHIFT: u32 = 12;
/// Page size.
pub const PAGE_SIZE: u64 = 4096;
/// Address bits of a page-table entry.
pub const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;

/// `base + 8 * index`: entry `index` of a table at `base`.
#[must_use]
pub const fn slot(base: u64, index: u64) -> u64 {
    base.wrapping_add(index.wrapping_mul(8))
}

/// The frame an entry points at.
#[must_use]
pub const fn pte_mfn(pte: u64) -> u64 {
    (pte & PTE_ADDR).wrapping_shr(PAGE_SHIFT)
}

/// The machine address of frame `mfn`.
#[must_use]
pub const fn maddr(mfn: u64) -> u64 {
    mfn.wrapping_shl(PAGE_SHIFT)
}

/// Reads a `u64` at `va`, or the exception that raised.
///
/// # Errors
///
/// The fault the read raised (a `#PF` is caught by the probe).
pub fn peek(va: u64) -> Result<u64, Fault> {
    let value: u64;
    // SAFETY: a read has no side effect; if `va` is not readable the
    // exception is caught by the probe.
    let fault = unsafe { crate::probe!("mov ({a}), {v}"; a = in(reg) va, v = out(reg) value) };
    fault.map_or(Ok(value), Err)
}

/// `mov %reg,(va)`: writes a `u64` at `va`; returns the exception it
/// raised, if any. Only for test kernels: callers write to their own
/// windows or spare frames, or to addresses whose write the hypervisor must
/// emulate or refuse.
pub fn poke(va: u64, value: u64) -> Option<Fault> {
    // SAFETY: the test kernels write only what the doc comment lists; a
    // refused write raises an exception the probe catches.
    unsafe { crate::probe!("mov {v}, ({a})"; a = in(reg) va, v = in(reg) value) }
}

/// Shows a read result.
pub struct Read(pub Result<u64, Fault>);

impl core::fmt::Display for Read {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Ok(v) => write!(f, "{v:#x}"),
            Err(fault) => write!(f, "{fault}"),
        }
    }
}
