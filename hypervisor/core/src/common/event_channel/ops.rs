// SPDX-License-Identifier: GPL-2.0-only
//! The `EVTCHNOP_*` operations on a domain's ports, as Xen's
//! `evtchn_alloc_unbound`, `evtchn_bind_*`, `evtchn_close`, `evtchn_send`,
//! `evtchn_status`, `evtchn_bind_vcpu`, `evtchn_unmask` and `evtchn_reset`.
//!
//! Each takes the calling domain, and guest memory where the shared-info
//! bitmaps change, and fills the OUT fields of its argument struct; the
//! checks come in Xen's order, so that a call with several faults fails
//! with the error Xen returns. Errors are logged nowhere: they are the
//! guest's.
//!
//! The operations that may reach another domain live in [`interdomain`]
//! (over the domain table); the functions of the same name here run them
//! for one domain alone, with Xen's dummy policy: `DOMID_SELF` and the
//! domain's own id name it, any other id is `-ESRCH`, so interdomain
//! channels are loopbacks (what the host tests of one domain use).

use guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindPirq, EvtchnBindVirq,
    EvtchnStatus,
};
use guest_abi::xen::{DomId, Errno, EvtchnPort, NR_VIRQS, VcpuId};

use super::interdomain::{self, Domains, bind, get_free_port};
use super::{ChannelState, NR_PIRQS, unmask, vcpu, vcpu_mut, virq_is_global};
use crate::common::domain::Domain;
use crate::common::domain_table::{DomainTable, KickedDomains};
use crate::common::xsm::DummyXsm;
use crate::mm::pv::PhysMem;

/// Runs `f` over `dom` alone (an empty table, the dummy policy).
fn alone<R>(dom: &mut Domain, mem: &mut dyn PhysMem, f: impl FnOnce(&mut Domains<'_>) -> R) -> R {
    let table = DomainTable::new();
    let mut kicked = KickedDomains::new();
    f(&mut Domains { caller: dom, table: &table, xsm: &DummyXsm, mem, kicked: &mut kicked })
}

/// Machine memory for the operations that touch none (allocating a port,
/// reading its state): reads as zeros, ignores writes.
struct NoMem;

impl PhysMem for NoMem {
    fn read_u64(&self, _: crate::mm::Mfn, _: usize) -> u64 {
        0
    }

    fn write_u64(&mut self, _: crate::mm::Mfn, _: usize, _: u64) {}

    fn frame_exists(&self, _: crate::mm::Mfn) -> bool {
        false
    }
}

/// `EVTCHNOP_alloc_unbound` within one domain (see
/// [`interdomain::alloc_unbound`]).
///
/// # Errors
/// As there.
#[doc(alias = "EVTCHNOP_alloc_unbound")]
pub fn alloc_unbound(dom: &mut Domain, arg: &mut EvtchnAllocUnbound) -> Result<(), Errno> {
    alone(dom, &mut NoMem, |ds| interdomain::alloc_unbound(ds, arg))
}

/// `EVTCHNOP_bind_interdomain` within one domain (see
/// [`interdomain::bind_interdomain`]).
///
/// # Errors
/// As there.
#[doc(alias = "EVTCHNOP_bind_interdomain")]
pub fn bind_interdomain(
    dom: &mut Domain,
    mem: &mut dyn PhysMem,
    arg: &mut EvtchnBindInterdomain,
) -> Result<(), Errno> {
    alone(dom, mem, |ds| interdomain::bind_interdomain(ds, arg))
}

/// `EVTCHNOP_bind_virq`: bind VIRQ `virq` on vCPU `vcpu` (global VIRQs only
/// on vCPU 0, once per domain; per-vCPU ones once per vCPU).
#[doc(alias = "EVTCHNOP_bind_virq")]
#[doc(alias = "evtchn_bind_virq")]
pub fn bind_virq(dom: &mut Domain, arg: &mut EvtchnBindVirq) -> Result<(), Errno> {
    let virq = arg.virq;
    if virq >= NR_VIRQS {
        return Err(Errno::EINVAL);
    }
    if virq_is_global(virq) && arg.vcpu.0 != 0 {
        return Err(Errno::EINVAL);
    }
    let v = vcpu(dom, arg.vcpu).ok_or(Errno::ENOENT)?;
    if v.evtchn.virq_port(virq).0 != 0 {
        return Err(Errno::EEXIST);
    }
    let port = get_free_port(dom)?;
    bind(dom, port, ChannelState::Virq { virq }, arg.vcpu);
    if let Some(v) = vcpu_mut(dom, arg.vcpu) {
        v.evtchn.set_virq_port(virq, port);
    }
    arg.port = port;
    Ok(())
}

/// `EVTCHNOP_bind_ipi`: a port that notifies vCPU `vcpu`.
#[doc(alias = "EVTCHNOP_bind_ipi")]
#[doc(alias = "evtchn_bind_ipi")]
pub fn bind_ipi(dom: &mut Domain, arg: &mut EvtchnBindIpi) -> Result<(), Errno> {
    vcpu(dom, arg.vcpu).ok_or(Errno::ENOENT)?;
    let port = get_free_port(dom)?;
    bind(dom, port, ChannelState::Ipi, arg.vcpu);
    arg.port = port;
    Ok(())
}

/// `EVTCHNOP_bind_pirq`: `-EINVAL` for a PIRQ number beyond [`NR_PIRQS`],
/// else `-EPERM`: no domain has access to physical IRQs yet
/// (`pirq_access_permitted`).
#[doc(alias = "EVTCHNOP_bind_pirq")]
#[doc(alias = "evtchn_bind_pirq")]
pub fn bind_pirq(_dom: &mut Domain, arg: &mut EvtchnBindPirq) -> Result<(), Errno> {
    if arg.pirq >= NR_PIRQS {
        return Err(Errno::EINVAL);
    }
    Err(Errno::EPERM)
}

/// `evtchn_close` of one domain's `port` (see [`interdomain::close`]).
///
/// # Errors
/// As there.
#[doc(alias = "EVTCHNOP_close")]
pub fn close(dom: &mut Domain, mem: &mut dyn PhysMem, port: EvtchnPort) -> Result<(), Errno> {
    let id = dom.id;
    alone(dom, mem, |ds| interdomain::close(ds, id, port))
}

/// `evtchn_send` within one domain (see [`interdomain::send`]). `Ok(true)`
/// if a vCPU needs a kick.
///
/// # Errors
/// As there.
#[doc(alias = "EVTCHNOP_send")]
pub fn send(dom: &mut Domain, mem: &mut dyn PhysMem, port: EvtchnPort) -> Result<bool, Errno> {
    alone(dom, mem, |ds| interdomain::send(ds, port))
}

/// `EVTCHNOP_status` within one domain (see [`interdomain::status`]):
/// `-ESRCH` for any other domain.
///
/// # Errors
/// As there.
#[doc(alias = "EVTCHNOP_status")]
pub fn status(dom: &Domain, arg: &mut EvtchnStatus) -> Result<(), Errno> {
    if arg.dom != DomId::SELF && arg.dom != dom.id {
        return Err(Errno::ESRCH);
    }
    let chn = dom.evtchn.get(arg.port).copied().ok_or(Errno::EINVAL)?;
    interdomain::fill_status(chn, arg);
    Ok(())
}

/// `EVTCHNOP_bind_vcpu`: make `port` notify `vcpu`. Allowed for unbound,
/// interdomain and PIRQ ports and for global VIRQs; per-vCPU VIRQs, IPIs
/// and unused ports are `-EINVAL`, a missing vCPU `-ENOENT` (checked
/// first).
#[doc(alias = "EVTCHNOP_bind_vcpu")]
#[doc(alias = "evtchn_bind_vcpu")]
pub fn bind_vcpu(dom: &mut Domain, port: EvtchnPort, id: VcpuId) -> Result<(), Errno> {
    vcpu(dom, id).ok_or(Errno::ENOENT)?;
    let chn = dom.evtchn.get_mut(port).ok_or(Errno::EINVAL)?;
    match chn.state {
        ChannelState::Virq { virq } if virq_is_global(virq) => chn.notify_vcpu_id = id,
        ChannelState::Unbound { .. }
        | ChannelState::Interdomain { .. }
        | ChannelState::Pirq { .. } => chn.notify_vcpu_id = id,
        _ => return Err(Errno::EINVAL),
    }
    Ok(())
}

/// `EVTCHNOP_unmask`: clear `port`'s mask bit and deliver it if pending.
/// `Ok(true)` if a vCPU needs a kick; `-EINVAL` for an invalid port.
#[doc(alias = "EVTCHNOP_unmask")]
#[doc(alias = "evtchn_unmask")]
pub fn unmask_port(
    dom: &mut Domain,
    mem: &mut dyn PhysMem,
    port: EvtchnPort,
) -> Result<bool, Errno> {
    if !dom.evtchn.port_is_valid(port) {
        return Err(Errno::EINVAL);
    }
    Ok(unmask(dom, mem, port))
}

/// `EVTCHNOP_reset` of one domain, by itself (see
/// [`interdomain::reset`]).
///
/// # Errors
/// As there.
#[doc(alias = "EVTCHNOP_reset")]
pub fn reset(dom: &mut Domain, mem: &mut dyn PhysMem, id: DomId) -> Result<(), Errno> {
    alone(dom, mem, |ds| interdomain::reset(ds, id, false))
}

/// `EVTCHNOP_reset_cont` of one domain, by itself: `-ESRCH` for any other
/// domain, else never a reset in progress, `-EBUSY` (see
/// [`interdomain::reset`]).
///
/// # Errors
/// As described.
#[doc(alias = "EVTCHNOP_reset_cont")]
pub fn reset_cont(dom: &Domain, id: DomId) -> Result<(), Errno> {
    if id != DomId::SELF && id != dom.id {
        return Err(Errno::ESRCH);
    }
    Err(Errno::EBUSY)
}
