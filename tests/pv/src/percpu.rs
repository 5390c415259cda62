// SPDX-License-Identifier: GPL-2.0-only
//! Which vCPU the code runs on, for kernels that bring up more than one.
//!
//! Each vCPU's kernel-mode GS base points at its own [`Block`], a 64-byte
//! record whose first word is the vCPU id (Linux likewise reaches its
//! per-CPU area through GS): vCPU 0 sets its own with
//! `set_segment_base(SEGBASE_GS_KERNEL)` in [`enable`], and a secondary
//! vCPU gets [`block_address`]`(id)` as the `gs_base_kernel` of its
//! `VCPUOP_initialise` context. [`current`] then reads `%gs:0`.
//!
//! Until [`enable`] has run, as in every single-vCPU kernel, [`current`] is
//! 0 without touching GS, so kernels that point GS elsewhere for their own
//! checks are unaffected. The framework picks its per-vCPU state with
//! [`current`]: the `vcpu_info` that [`crate::shinfo`] and
//! [`crate::evtchn`] use, and the re-entry guard of [`crate::bounce`].

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

use guest_abi::xen::{Hypercall, SegBase, XEN_LEGACY_MAX_VCPUS};

use crate::hypercall;
use crate::ops::{XenError, result};

/// vCPUs with a [`Block`]: those with a `vcpu_info` in `shared_info`.
pub const MAX_VCPUS: usize = XEN_LEGACY_MAX_VCPUS;

/// One vCPU's record, reached through its kernel GS base.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Block {
    /// The vCPU id (`%gs:0`).
    pub id: u64,
}

#[allow(clippy::indexing_slicing, reason = "const context; `i` is below the length")]
const fn blocks() -> [Block; MAX_VCPUS] {
    let mut all = [const { Block { id: 0 } }; MAX_VCPUS];
    let mut i = 0;
    while i < MAX_VCPUS {
        all[i].id = i as u64;
        i = i.wrapping_add(1);
    }
    all
}

static BLOCKS: [Block; MAX_VCPUS] = blocks();

/// Set once vCPU 0's GS base points at its block.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Address of vCPU `id`'s [`Block`] (the `gs_base_kernel` to give it), if
/// it has one.
#[must_use]
pub fn block_address(id: usize) -> Option<u64> {
    BLOCKS.get(id).map(|b| core::ptr::from_ref(b).addr() as u64)
}

/// Points vCPU 0's kernel GS base at its block and turns [`current`] on.
/// Call on vCPU 0 before bringing up others.
pub fn enable() -> Result<(), XenError> {
    let base = block_address(0).unwrap_or(0);
    // SAFETY: only this vCPU's kernel GS base changes; the framework reads
    // GS only through `current`, which is not on yet.
    let ret = unsafe {
        hypercall::hypercall2(
            Hypercall::SetSegmentBase.raw(),
            u64::from(SegBase::GsKernel.raw()),
            base,
        )
    };
    result(ret)?;
    ENABLED.store(true, Ordering::Release);
    Ok(())
}

/// Whether [`enable`] has run.
#[must_use]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// The id of the vCPU running this code (0 until [`enable`]).
#[must_use]
pub fn current() -> usize {
    if !enabled() {
        return 0;
    }
    let id: u64;
    // SAFETY: after `enable`, every vCPU's kernel GS base points at its
    // block (vCPU 0's by `enable`, the others' by their initial context),
    // whose first word is readable.
    unsafe {
        asm!("mov %gs:0, {}", out(reg) id, options(att_syntax, nostack, readonly, preserves_flags));
    }
    usize::try_from(id).unwrap_or(0)
}
