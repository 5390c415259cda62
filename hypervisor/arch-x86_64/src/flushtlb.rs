// SPDX-License-Identifier: GPL-2.0-only
//! The machine's TLB-flush clock (Xen's `tlbflush_clock` and per-CPU
//! `tlbflush_time`, logic in `hv_core::mm::tlbflush`) and the filtered
//! flush run before freed frames are reused.
//!
//! Every full flush of a CPU ticks the clock: [`crate::cpu::flush_tlb_local`]
//! (Xen's `flush_area_local`/`do_tlb_flush`, also run by the shootdown IPI)
//! and [`crate::cpu::write_ptbase`] (Xen's `switch_cr3_cr4`). Both drop
//! global entries too (CR4.PGE toggled), which a PV guest's user mappings
//! are; a plain CR3 load ([`crate::cpu::write_cr3`], the kernel/user
//! toggle) keeps them and does not tick.

use hv_core::mm::tlbflush::{self, FlushTlbMask, TlbClock, TlbStamp, TlbflushNeed};

use crate::{cpu, smp};

/// The clock.
pub static CLOCK: TlbClock = TlbClock::new();

/// The current time of the clock (`tlbflush_current_time`): what a freed
/// or de-typed frame is stamped with.
#[must_use]
pub fn current_time() -> TlbStamp {
    CLOCK.current()
}

/// Flushes CPU masks: the calling CPU locally, the others by a shootdown
/// (the calling CPU's number is looked up only when a flush is needed).
struct Shootdown;

impl FlushTlbMask for Shootdown {
    fn flush_tlb_mask(&mut self, mask: u64) {
        let this = smp::this_cpu();
        if mask & 1u64.checked_shl(this).unwrap_or(0) != 0 {
            cpu::flush_tlb_local();
        }
        smp::flush_tlb_mask(mask, this);
    }
}

/// Flushes the CPUs of `mask` that have not fully flushed since `need`'s
/// stamp (Xen's `tlbflush_filter` + `flush_mask`), and waits until they
/// have. Returns the CPUs flushed. Callers hold no lock another CPU may
/// spin on with interrupts disabled (the targets must take the IPI).
pub fn filtered_flush_mask(mask: u64, need: TlbflushNeed) -> u64 {
    tlbflush::filtered_flush_tlb_mask(&CLOCK, mask, need, &mut Shootdown)
}

/// Xen's `filtered_flush_tlb_mask`: flushes every online CPU that may
/// still cache frames with `need` (just taken from the allocator).
pub fn filtered_flush_tlb_mask(need: TlbflushNeed) -> u64 {
    if need.stamp().is_none() {
        return 0;
    }
    filtered_flush_mask(smp::online_mask(), need)
}
