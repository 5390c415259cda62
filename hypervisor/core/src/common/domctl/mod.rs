// SPDX-License-Identifier: GPL-2.0-only
//! `HYPERVISOR_domctl` (hypercall 36): toolstack domain control, as Xen
//! 4.17's `do_domctl` (`xen/common/domctl.c`) with the x86 part of
//! `arch_do_domctl` (`xen/arch/x86/domctl.c`) for 64-bit PV domains.
//!
//! # The envelope
//!
//! The 144-byte [`XenDomctl`] is read from the caller (`-EFAULT`), its
//! `interface_version` must be 0x15 (`-EACCES`). The target domain is
//! looked up by id (`rcu_lock_domain_by_id`: `DOMID_SELF` is not an id
//! here) — `-ESRCH` when there is none, except for `createdomain` (no
//! target) and `getdomaininfo` (which then looks for the next domain).
//! Access control decides next through [`Xsm::domctl`] (`-EPERM` for a
//! domU under the default policy); only then is the command decoded, so an
//! unknown or unimplemented command is `-ENOSYS` after those checks, as in
//! Xen (`arch_do_domctl`'s default). Commands with OUT fields in the
//! envelope copy it back (`-EFAULT` when that fails).
//!
//! # Commands
//!
//! * life cycle ([`domain`]): `createdomain`, `destroydomain`
//!   ([`teardown`]), `pausedomain`, `unpausedomain`, `resumedomain`,
//!   `getdomaininfo`, `max_mem`, `setdomainhandle`, `setdebugging`,
//!   `settimeoffset`, `set_address_size`, `get_address_size`;
//! * vCPUs ([`vcpu`]): `max_vcpus`, `getvcpuinfo`, `setvcpuaffinity`,
//!   `getvcpuaffinity`, `setvcpucontext`, `getvcpucontext`;
//! * scheduling ([`sched`]): `scheduler_op` for the credit scheduler;
//! * memory ([`memory`]): `getpageframeinfo3`, `hypercall_init`;
//! * permissions ([`perms`]): `iomem_permission`, `ioport_permission`,
//!   `irq_permission`.
//!
//! Every other 4.17 command is `-ENOSYS` (HVM, device pass-through,
//! shadow/log-dirty, vm_event, monitor, NUMA, soft reset, ...).
//!
//! # Deviations from Xen 4.17
//!
//! * One machine lock serialises every hypercall, so there is no
//!   `domctl_lock` and no continuation to retry it.
//! * `destroydomain` completes in one call: the work is bounded by the
//!   domain's frames and vCPUs, so it never returns `-ERESTART`. It
//!   refuses dom0 and any privileged (hardware) domain with `-EINVAL`
//!   besides the caller itself (Xen only refuses the caller), and the
//!   domain leaves the table at once (nothing else can hold references to
//!   its frames: there are no foreign or grant mappings yet).
//! * `getdomaininfo` and `getdomaininfolist` go through [`Xsm::domctl`]
//!   only (Xen's dummy `xsm_getdomaininfo` is a pass).
//! * `max_vcpus` must equal `createdomain`'s `max_vcpus`, as in 4.17; the
//!   vCPU structures are allocated by `createdomain` (down, without a
//!   context) but, as in Xen, exist for the toolstack only after
//!   `max_vcpus` (`Domain::vcpus_created`).
//! * Affinity bitmaps longer than the host's CPUs are zero-filled only up to
//!   [`bitmap::MAX_BITMAP_BYTES`] (Xen writes zeroes up to any `nr_bits`).
//!
//! [`Xsm::domctl`]: crate::common::xsm::Xsm::domctl

pub mod bitmap;
pub mod domain;
pub mod memory;
pub mod perms;
pub mod sched;
pub mod teardown;
pub mod vcpu;

#[cfg(test)]
mod tests;

use guest_abi::domctl::{DomctlCmd, XenDomctl};
use guest_abi::xen::{DomId, Errno};

use crate::common::xsm::XsmSubject;
use crate::pv::ctx::Ctx;

/// Largest number of vCPUs a domain may have (Xen's `MAX_VIRT_CPUS` for
/// x86 PV is far larger; here the per-domain vCPU bitmaps — the kick mask
/// and the TLB flush masks — have 64 bits).
pub const MAX_VCPUS: u32 = 64;

/// When the envelope goes back to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Copyback {
    /// Never (the command has no OUT field in the envelope).
    No,
    /// After success.
    OnSuccess,
    /// Whatever the outcome (`scheduler_op`).
    Always,
}

/// `HYPERVISOR_domctl(u_domctl)`.
///
/// # Errors
/// See the module documentation.
pub fn do_domctl(ctx: &mut Ctx<'_>, arg: u64) -> Result<i64, Errno> {
    let mut op: XenDomctl = ctx.read(arg)?;
    if !op.version_ok() {
        return Err(Errno::EACCES);
    }
    let cmd = op.op().ok();
    let caller = ctx.dom.subject();
    // The target (`rcu_lock_domain_by_id`).
    let target = match cmd {
        Some(DomctlCmd::Createdomain) => None,
        _ => {
            let t = subject_of(ctx, op.domain);
            if t.is_none() && cmd != Some(DomctlCmd::Getdomaininfo) {
                return Err(Errno::ESRCH);
            }
            t
        }
    };
    ctx.xsm.domctl(caller, target, op.cmd)?;
    let Some(cmd) = cmd else { return Err(Errno::ENOSYS) };
    let (ret, copyback) = dispatch(ctx, cmd, &mut op);
    let copy = match copyback {
        Copyback::No => false,
        Copyback::OnSuccess => ret.is_ok(),
        Copyback::Always => true,
    };
    if copy {
        ctx.write(arg, &op)?;
    }
    ret
}

/// Runs `cmd`; says whether the envelope goes back.
fn dispatch(
    ctx: &mut Ctx<'_>,
    cmd: DomctlCmd,
    op: &mut XenDomctl,
) -> (Result<i64, Errno>, Copyback) {
    use Copyback::{Always, No, OnSuccess};
    match cmd {
        DomctlCmd::Createdomain => (domain::createdomain(ctx, op), OnSuccess),
        DomctlCmd::Destroydomain => (teardown::destroydomain(ctx, op.domain), No),
        DomctlCmd::Pausedomain => (domain::pausedomain(ctx, op.domain), No),
        DomctlCmd::Unpausedomain => (domain::unpausedomain(ctx, op.domain), No),
        DomctlCmd::Resumedomain => (domain::resumedomain(ctx, op.domain), No),
        DomctlCmd::Getdomaininfo => (domain::getdomaininfo(ctx, op), OnSuccess),
        DomctlCmd::MaxMem => (domain::max_mem(ctx, op), No),
        DomctlCmd::Setdomainhandle => (domain::setdomainhandle(ctx, op), No),
        DomctlCmd::Setdebugging => (domain::setdebugging(ctx, op), No),
        DomctlCmd::Settimeoffset => (domain::settimeoffset(ctx, op), No),
        DomctlCmd::SetAddressSize => (domain::set_address_size(ctx, op), No),
        DomctlCmd::GetAddressSize => (domain::get_address_size(ctx, op), OnSuccess),
        DomctlCmd::MaxVcpus => (vcpu::max_vcpus(ctx, op), No),
        DomctlCmd::Getvcpuinfo => (vcpu::getvcpuinfo(ctx, op), OnSuccess),
        DomctlCmd::Setvcpuaffinity | DomctlCmd::Getvcpuaffinity => {
            (vcpu::vcpuaffinity(ctx, cmd, op), No)
        }
        DomctlCmd::Setvcpucontext => (vcpu::setvcpucontext(ctx, op), No),
        DomctlCmd::Getvcpucontext => (vcpu::getvcpucontext(ctx, op), OnSuccess),
        DomctlCmd::SchedulerOp => (sched::scheduler_op(ctx, op), Always),
        DomctlCmd::Getpageframeinfo3 => (memory::getpageframeinfo3(ctx, op), No),
        DomctlCmd::HypercallInit => (memory::hypercall_init(ctx, op), No),
        DomctlCmd::IomemPermission => (perms::iomem_permission(ctx, op), No),
        DomctlCmd::IoportPermission => (perms::ioport_permission(ctx, op), No),
        DomctlCmd::IrqPermission => (perms::irq_permission(ctx, op), No),
        _ => (Err(Errno::ENOSYS), No),
    }
}

/// What access control knows of domain `id`, if it exists (the caller is
/// reached through [`Ctx::dom`], never locked through the table).
pub(crate) fn subject_of(ctx: &Ctx<'_>, id: DomId) -> Option<XsmSubject> {
    if id == ctx.dom.id {
        return Some(ctx.dom.subject());
    }
    ctx.domains.get(id).map(|d| d.lock().subject())
}

/// The argument struct of `op`; `-EINVAL` if it does not fit (never for
/// the domctl payloads, which are asserted to fit).
fn payload<T: guest_abi::AbiBytes>(op: &XenDomctl) -> Result<T, Errno> {
    op.payload().ok_or(Errno::EINVAL)
}

/// Stores `value` as the argument struct of `op`.
fn set_payload<T: guest_abi::AbiBytes>(op: &mut XenDomctl, value: &T) {
    let _ = op.set_payload(value);
}
