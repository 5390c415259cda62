// SPDX-License-Identifier: GPL-2.0-only
//! The x86 64-bit PV guest model (Xen's `xen/arch/x86/pv` and the x86
//! parts it uses): guest memory access, trap bouncing, hypercalls and
//! privileged-instruction emulation. The common domain and vCPU state is in
//! [`crate::common`].
//!
//! * [`domain`]: the x86 PV part of a vCPU ([`PvVcpu`](domain::PvVcpu)) and
//!   its callbacks;
//! * [`context_switch`]: saving and loading a vCPU's CPU state when a CPU
//!   switches between vCPUs;
//! * [`ctx`]: [`Ctx`](ctx::Ctx), what one hypercall or trap works on;
//! * [`guest_mem`]: `copy_{from,to}_guest` by software page walk;
//! * [`descriptor`]: the guest's GDT/LDT as the CPU sees them, the checks
//!   of a return to the guest, `SEGBASE_GS_USER_SEL`;
//! * [`platform`]: the machine services the logic needs;
//! * [`time`]: pvclock, wallclock and the vCPU timers (`VIRQ_TIMER`);
//! * [`traps`]: exception bounces, callbacks, `iret`, software interrupts;
//! * [`hypercall`]: the dispatcher and the hypercalls;
//! * [`emulate`]: CPUID, MSR, control/debug register and port I/O emulation;
//! * [`ptwr`]: writable page tables, emulated stores to read-only L1 tables.

pub mod context_switch;
pub mod ctx;
pub mod debugreg;
pub mod descriptor;
pub mod domain;
pub mod emulate;
pub mod guest_mem;
pub mod hypercall;
pub mod platform;
pub mod ptwr;
pub mod time;
pub mod traps;

#[cfg(test)]
pub(crate) mod test_support;
