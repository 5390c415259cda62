// SPDX-License-Identifier: GPL-2.0-only
//! The 64-bit PV guest model: domains and vCPUs, guest memory access, trap
//! bouncing, hypercalls and privileged-instruction emulation.
//!
//! * [`domain`]: [`Domain`](domain::Domain), [`PvVcpu`](domain::PvVcpu),
//!   callbacks and shutdown reasons;
//! * [`ctx`]: [`Ctx`](ctx::Ctx), what one hypercall or trap works on;
//! * [`guest_mem`]: `copy_{from,to}_guest` by software page walk;
//! * [`platform`]: the machine services the logic needs;
//! * [`traps`]: exception bounces, callbacks, `iret`, software interrupts;
//! * [`hypercall`]: the dispatcher and the hypercalls;
//! * [`emulate`]: CPUID, MSR, control/debug register and port I/O emulation.

pub mod ctx;
pub mod domain;
pub mod emulate;
pub mod guest_mem;
pub mod hypercall;
pub mod platform;
pub mod traps;

#[cfg(test)]
pub(crate) mod test_support;
