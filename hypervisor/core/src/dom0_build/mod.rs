// SPDX-License-Identifier: GPL-2.0-only
//! Building domain 0: the pure parts of Xen's `dom0_construct`.
//!
//! [`layout`] computes where everything goes in dom0's initial virtual
//! address space (kernel, initrd, P2M list, start_info, bootstrap page
//! tables, boot stack) exactly as Xen's PV dom0 builder does, so that an
//! unmodified PV kernel finds what it expects. The machine side (allocating
//! frames, writing page tables) uses this plan. [`hypercall_page`] is the
//! page of `SYSCALL` stubs written at the kernel's `HYPERCALL_PAGE` address.
//!
//! The layout arithmetic lives in the domain builder crate
//! (`xen-domain-builder`), which lays out domUs the same way; it is
//! re-exported here so that there is one copy.
pub mod hypercall_page;
pub use xen_domain_builder::{layout, p2m_map};
