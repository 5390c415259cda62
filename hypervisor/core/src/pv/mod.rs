// SPDX-License-Identifier: GPL-2.0-only
//! The 64-bit PV guest model: domains and vCPUs, guest memory access, trap
//! bouncing, hypercalls and privileged-instruction emulation.
//!
//! * [`domain`]: [`Domain`](domain::Domain), [`PvVcpu`](domain::PvVcpu),
//!   callbacks and shutdown reasons;
//! * [`ctx`]: [`Ctx`](ctx::Ctx), what one hypercall or trap works on;
//! * [`guest_mem`]: `copy_{from,to}_guest` by software page walk;
//! * [`event_channel`]: the domain's event-channel ports, the 2-level
//!   bitmaps in shared_info, VIRQs, block and poll wake-ups;
//! * [`descriptor`]: the guest's GDT/LDT as the CPU sees them, the checks
//!   of a return to the guest, `SEGBASE_GS_USER_SEL`;
//! * [`platform`]: the machine services the logic needs;
//! * [`runstate`]: vCPU runstate accounting and the guest's runstate area;
//! * [`time`]: pvclock, wallclock and the vCPU timers (`VIRQ_TIMER`);
//! * [`traps`]: exception bounces, callbacks, `iret`, software interrupts;
//! * [`hypercall`]: the dispatcher and the hypercalls;
//! * [`emulate`]: CPUID, MSR, control/debug register and port I/O emulation;
//! * [`ptwr`]: writable page tables, emulated stores to read-only L1 tables.

pub mod ctx;
pub mod descriptor;
pub mod domain;
pub mod emulate;
pub mod event_channel;
pub mod guest_mem;
pub mod hypercall;
pub mod platform;
pub mod ptwr;
pub mod runstate;
pub mod time;
pub mod traps;

#[cfg(test)]
pub(crate) mod test_support;
