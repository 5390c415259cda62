// SPDX-License-Identifier: GPL-2.0-only
//! `iomem_permission`, `ioport_permission`, `irq_permission`: the
//! toolstack hands I/O resources to a (driver) domain.
//!
//! Ranges are stored in the target's [`RangeSet`]s (`iomem_caps`,
//! `ioport_caps`, `irq_caps`); granting adds, revoking removes. The caller
//! may only hand out what it may use itself (`-EPERM`): the hardware
//! domain (dom0) has the machine's I/O rules (the machine layer's
//! `iomem_access_permitted` hook, asked for both ends of the range; every
//! port [`dom0_ioport_allowed`] accepts; every IRQ), any other domain its
//! own caps. Invalid ranges: iomem wrapping around (`-EINVAL`, also for an
//! empty range), ports past `0xffff` or empty (`-EINVAL`), a PIRQ at or
//! above the caller's `nr_pirqs` (`-EINVAL`).
//!
//! What is enforced: port I/O emulation lets a non-privileged domain use
//! exactly its `ioport_caps` (minus the console UARTs). I/O memory and IRQ
//! grants are stored and reported only: the PV MMU still asks the machine
//! layer's rule (dom0 only) and there is no PIRQ routing to domUs yet.
//!
//! [`RangeSet`]: crate::common::rangeset::RangeSet
//! [`dom0_ioport_allowed`]: crate::pv::emulate::io::dom0_ioport_allowed

use guest_abi::domctl::{
    XenDomctl, XenDomctlIomemPermission, XenDomctlIoportPermission, XenDomctlIrqPermission,
};
use guest_abi::xen::Errno;

use super::payload;
use crate::common::event_channel::NR_PIRQS;
use crate::common::rangeset::RangeSet;
use crate::pv::ctx::Ctx;
use crate::pv::emulate::io::dom0_ioport_allowed;

/// Number of I/O ports (`MAX_IOPORTS`).
const MAX_IOPORTS: u64 = 0x1_0000;

/// Grants (`allow`) or revokes `[first, last]` in `set`.
fn apply(set: &mut RangeSet, allow: bool, first: u64, last: u64) -> Result<i64, Errno> {
    if allow { set.add(first, last) } else { set.remove(first, last) }.map(|()| 0)
}

/// `XEN_DOMCTL_iomem_permission`.
pub fn iomem_permission(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let p: XenDomctlIomemPermission = payload(op)?;
    let first = p.first_mfn;
    let last = first.wrapping_add(p.nr_mfns).wrapping_sub(1);
    if last < first {
        return Err(Errno::EINVAL);
    }
    let ok = if ctx.dom.privileged {
        // The machine's rule for the hardware domain, asked at both ends
        // of the range (the hook answers per frame; a grant is only stored,
        // see the module documentation).
        ctx.hooks.iomem_access_permitted(ctx.dom.id, crate::mm::Mfn(first))
            && ctx.hooks.iomem_access_permitted(ctx.dom.id, crate::mm::Mfn(last))
    } else {
        ctx.dom.iomem_caps.contains_range(first, last)
    };
    if !ok {
        return Err(Errno::EPERM);
    }
    let allow = p.allow_access != 0;
    ctx.with_target(op.domain, |t| apply(&mut t.target.iomem_caps, allow, first, last))?
}

/// `XEN_DOMCTL_ioport_permission`.
pub fn ioport_permission(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let p: XenDomctlIoportPermission = payload(op)?;
    let first = u64::from(p.first_port);
    let end = first.saturating_add(u64::from(p.nr_ports));
    if end <= first || end > MAX_IOPORTS {
        return Err(Errno::EINVAL);
    }
    let last = end.saturating_sub(1);
    let ok = if ctx.dom.privileged {
        (first..=last).all(|port| u16::try_from(port).is_ok_and(|q| dom0_ioport_allowed(q, &[])))
    } else {
        ctx.dom.ioport_caps.contains_range(first, last)
    };
    if !ok {
        return Err(Errno::EPERM);
    }
    let allow = p.allow_access != 0;
    ctx.with_target(op.domain, |t| apply(&mut t.target.ioport_caps, allow, first, last))?
}

/// `XEN_DOMCTL_irq_permission` (PIRQ = IRQ for a PV caller).
pub fn irq_permission(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let p: XenDomctlIrqPermission = payload(op)?;
    if p.pirq >= NR_PIRQS {
        return Err(Errno::EINVAL);
    }
    let irq = u64::from(p.pirq);
    if !ctx.dom.privileged && !ctx.dom.irq_caps.contains(irq) {
        return Err(Errno::EPERM);
    }
    let allow = p.allow_access != 0;
    ctx.with_target(op.domain, |t| apply(&mut t.target.irq_caps, allow, irq, irq))?
}
