// SPDX-License-Identifier: GPL-2.0-only
//! Common code (Xen's `xen/common`): what every architecture shares.
//!
//! * [`domain`]: [`Domain`](domain::Domain) and [`Vcpu`](domain::Vcpu)
//!   with their architecture parts, shutdown reasons, lifecycle state;
//! * [`domain_table`]: the domains by id, counted references;
//! * [`claims`]: memory claims (`XENMEM_claim_pages`, outstanding pages);
//! * [`grant_table`]: grant tables v1: active entries, pins and the
//!   maptrack table;
//! * [`xsm`]: the access-control hook layer and Xen's default policy;
//! * [`event_channel`]: the domain's event-channel ports, the 2-level
//!   bitmaps in shared_info, VIRQs, block and poll wake-ups;
//! * [`runstate`]: vCPU runstate accounting and the guest's runstate area;
//! * [`schedule`]: which vCPU each CPU runs, kept in step with the vCPUs;
//! * [`rangeset`]: sets of ranges, for I/O memory, port and IRQ
//!   capabilities;
//! * [`domctl`]: toolstack domain control (`HYPERVISOR_domctl`);
//! * [`sysctl`]: toolstack host control (`HYPERVISOR_sysctl`).
//!
//! The x86 PV code (traps, emulation, the PV MMU hypercalls, descriptors,
//! writable page tables) is in [`crate::pv`].

pub mod claims;
pub mod domain;
pub mod domain_table;
pub mod domctl;
pub mod event_channel;
pub mod grant_table;
pub mod rangeset;
pub mod runstate;
pub mod schedule;
#[cfg(test)]
mod schedule_sim;
pub mod sysctl;
pub mod xsm;
