// SPDX-License-Identifier: GPL-2.0-only
//! The hypervisor's interrupt vectors: what each one does before the CPU
//! returns to what it interrupted (a guest, the idle loop, or a lock spin).
//!
//! Handlers here run with interrupts off, without the machine lock, and
//! must never take it: a CPU holding the lock may be waiting for this one
//! to acknowledge a TLB shootdown. Work that needs guest state is left to
//! the guest-exit path (`guest::exit_to_guest`), which every interrupt
//! taken in guest context goes through afterwards.

use hv_arch_x86_64::smp;
use hv_arch_x86_64::traps::{
    CpuUserRegs, EVENT_CHECK_VECTOR, INVALIDATE_TLB_VECTOR, LOCAL_TIMER_VECTOR, SERIAL_VECTOR,
};

/// Handles `vector` (the local APIC is acknowledged by the caller).
pub fn dispatch(vector: u8, _regs: &mut CpuUserRegs) {
    match vector {
        INVALIDATE_TLB_VECTOR => smp::on_flush_ipi(),
        // Only wake the CPU: its exit path or idle loop looks at its vCPU.
        EVENT_CHECK_VECTOR => {}
        // Guest timers run on the way back to the guest (`run_timers`).
        // So are NMI reports the console was too busy to print.
        LOCAL_TIMER_VECTOR => {
            crate::nmi::report_deferred();
            crate::guest::timer_interrupt();
        }
        // Serial input: into the console's receive ring; the exit path
        // sends VIRQ_CONSOLE (`console::take_rx_notify`).
        SERIAL_VECTOR => crate::console::serial_rx_interrupt(),
        _ => {}
    }
}
