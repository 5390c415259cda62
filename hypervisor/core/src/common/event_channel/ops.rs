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
//! Domain ids: `DOMID_SELF` and the caller's own id name the caller; any
//! other id is `-ESRCH` (no other domain exists yet; a privileged domain
//! will name others once there are some). Interdomain channels are
//! therefore loopbacks: `alloc_unbound` for ourselves, then
//! `bind_interdomain` to that port gives two connected ports.

use guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindPirq, EvtchnBindVirq,
    EvtchnStat, EvtchnStatus,
};
use guest_abi::xen::{DomId, Errno, EvtchnPort, NR_VIRQS, VcpuId};

use super::{
    ChannelState, Evtchn, NR_PIRQS, set_pending, two_level, unmask, vcpu, vcpu_mut, virq_is_global,
};
use crate::common::domain::Domain;
use crate::mm::pv::PhysMem;

/// `rcu_lock_domain_by_any_id` for the domains that exist: the caller.
fn check_domain(dom: &Domain, id: DomId) -> Result<(), Errno> {
    if id == DomId::SELF || id == dom.id { Ok(()) } else { Err(Errno::ESRCH) }
}

/// Binds free port `port` (from `get_free_port`).
fn bind(dom: &mut Domain, port: EvtchnPort, state: ChannelState, notify: VcpuId) {
    if let Some(chn) = dom.evtchn.get_mut(port) {
        *chn = Evtchn { state, notify_vcpu_id: notify };
    }
}

/// `EVTCHNOP_alloc_unbound` within one domain: a port of `dom` that
/// `remote_dom` may bind to, where both name `dom` (the lookup of other
/// domains is the hypercall layer's, see [`alloc_unbound_in`]).
#[doc(alias = "EVTCHNOP_alloc_unbound")]
#[doc(alias = "evtchn_alloc_unbound")]
pub fn alloc_unbound(dom: &mut Domain, arg: &mut EvtchnAllocUnbound) -> Result<(), Errno> {
    check_domain(dom, arg.dom)?;
    let remote = if arg.remote_dom == DomId::SELF { dom.id } else { arg.remote_dom };
    // Xen with FLASK refuses a remote domain that does not exist.
    check_domain(dom, remote)?;
    alloc_unbound_in(dom, remote, arg)
}

/// The port allocation of `EVTCHNOP_alloc_unbound` in domain `dom` (the
/// one the caller named, already looked up and allowed) for domain
/// `remote` (already resolved and known to exist): stores the port in
/// `arg.port`.
pub fn alloc_unbound_in(
    dom: &mut Domain,
    remote: DomId,
    arg: &mut EvtchnAllocUnbound,
) -> Result<(), Errno> {
    let port = dom.evtchn.get_free_port()?;
    bind(dom, port, ChannelState::Unbound { remote_domid: remote }, VcpuId(0));
    arg.port = port;
    Ok(())
}

/// `EVTCHNOP_bind_interdomain`: connect a new port to `remote_port` of
/// `remote_dom`, which must be unbound and waiting for us. The new port is
/// set pending (notifications sent to the unbound port may be lost).
#[doc(alias = "EVTCHNOP_bind_interdomain")]
#[doc(alias = "evtchn_bind_interdomain")]
pub fn bind_interdomain(
    dom: &mut Domain,
    mem: &mut dyn PhysMem,
    arg: &mut EvtchnBindInterdomain,
) -> Result<(), Errno> {
    let rdom = if arg.remote_dom == DomId::SELF { dom.id } else { arg.remote_dom };
    check_domain(dom, rdom)?;
    let lport = dom.evtchn.get_free_port()?;
    let rport = arg.remote_port;
    let waiting = dom.evtchn.get(rport).is_some_and(
        |r| matches!(r.state, ChannelState::Unbound { remote_domid } if remote_domid == dom.id),
    );
    if !waiting {
        return Err(Errno::EINVAL);
    }
    let notify = dom.evtchn.get(lport).map_or(VcpuId(0), |c| c.notify_vcpu_id);
    bind(dom, lport, ChannelState::Interdomain { remote_dom: rdom, remote_port: rport }, notify);
    if let Some(r) = dom.evtchn.get_mut(rport) {
        r.state = ChannelState::Interdomain { remote_dom: dom.id, remote_port: lport };
    }
    set_pending(dom, mem, notify, lport);
    arg.local_port = lport;
    Ok(())
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
    let port = dom.evtchn.get_free_port()?;
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
    let port = dom.evtchn.get_free_port()?;
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

/// `evtchn_close`: free `port`; a VIRQ is unbound from its vCPU, the remote
/// end of an interdomain channel goes back to unbound (waiting for us), and
/// the port's pending bit is cleared. Free, reserved and invalid ports are
/// `-EINVAL`.
#[doc(alias = "EVTCHNOP_close")]
#[doc(alias = "evtchn_close")]
pub fn close(dom: &mut Domain, mem: &mut dyn PhysMem, port: EvtchnPort) -> Result<(), Errno> {
    let chn = dom.evtchn.get(port).copied().ok_or(Errno::EINVAL)?;
    match chn.state {
        ChannelState::Free | ChannelState::Reserved => return Err(Errno::EINVAL),
        ChannelState::Unbound { .. } | ChannelState::Ipi | ChannelState::Pirq { .. } => {}
        ChannelState::Virq { virq } => {
            for v in &mut dom.vcpus {
                if v.evtchn.virq_port(virq) == port {
                    v.evtchn.set_virq_port(virq, EvtchnPort(0));
                }
            }
        }
        ChannelState::Interdomain { remote_port, .. } => {
            let me = dom.id;
            if let Some(r) = dom.evtchn.get_mut(remote_port) {
                r.state = ChannelState::Unbound { remote_domid: me };
            }
        }
    }
    // `evtchn_free`: no stale event on re-bind, notify vCPU back to 0.
    two_level::clear_pending(mem, dom.shared_info, port);
    if let Some(c) = dom.evtchn.get_mut(port) {
        *c = Evtchn::FREE;
    }
    Ok(())
}

/// `evtchn_send`: notify the other end of `port`. Interdomain: raise the
/// remote port on its notify vCPU; IPI: raise the port itself; unbound:
/// silently dropped. Any other state (VIRQ, PIRQ, free, reserved) and an
/// invalid port are `-EINVAL`. `Ok(true)` if a vCPU needs a kick.
#[doc(alias = "EVTCHNOP_send")]
#[doc(alias = "evtchn_send")]
pub fn send(dom: &mut Domain, mem: &mut dyn PhysMem, port: EvtchnPort) -> Result<bool, Errno> {
    let chn = dom.evtchn.get(port).copied().ok_or(Errno::EINVAL)?;
    match chn.state {
        ChannelState::Interdomain { remote_port, .. } => {
            let notify = dom.evtchn.get(remote_port).map_or(VcpuId(0), |r| r.notify_vcpu_id);
            Ok(set_pending(dom, mem, notify, remote_port))
        }
        ChannelState::Ipi => Ok(set_pending(dom, mem, chn.notify_vcpu_id, port)),
        ChannelState::Unbound { .. } => Ok(false),
        _ => Err(Errno::EINVAL),
    }
}

/// `EVTCHNOP_status`: fills `status`, `vcpu` and the member of `u` that
/// the state selects; the union's other bytes keep what the guest passed,
/// as Xen writes back its copy of the whole struct.
#[doc(alias = "EVTCHNOP_status")]
#[doc(alias = "evtchn_status")]
pub fn status(dom: &Domain, arg: &mut EvtchnStatus) -> Result<(), Errno> {
    check_domain(dom, arg.dom)?;
    let chn = dom.evtchn.get(arg.port).copied().ok_or(Errno::EINVAL)?;
    let u = bytemuck::bytes_of_mut(&mut arg.u);
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(dst) = u.get_mut(at..at.saturating_add(bytes.len())) {
            dst.copy_from_slice(bytes);
        }
    };
    let stat = match chn.state {
        ChannelState::Free | ChannelState::Reserved => EvtchnStat::Closed,
        ChannelState::Unbound { remote_domid } => {
            put(0, &remote_domid.0.to_le_bytes());
            EvtchnStat::Unbound
        }
        ChannelState::Interdomain { remote_dom, remote_port } => {
            put(0, &remote_dom.0.to_le_bytes());
            put(4, &remote_port.0.to_le_bytes());
            EvtchnStat::Interdomain
        }
        ChannelState::Pirq { irq } => {
            put(0, &irq.to_le_bytes());
            EvtchnStat::Pirq
        }
        ChannelState::Virq { virq } => {
            put(0, &virq.to_le_bytes());
            EvtchnStat::Virq
        }
        ChannelState::Ipi => EvtchnStat::Ipi,
    };
    arg.status = stat.raw();
    arg.vcpu = chn.notify_vcpu_id;
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

/// `EVTCHNOP_reset`: close every port of domain `id` (ours).
#[doc(alias = "EVTCHNOP_reset")]
#[doc(alias = "evtchn_reset")]
pub fn reset(dom: &mut Domain, mem: &mut dyn PhysMem, id: DomId) -> Result<(), Errno> {
    check_domain(dom, id)?;
    let ports: alloc::vec::Vec<EvtchnPort> = dom.evtchn.iter().map(|(p, _)| p).collect();
    for port in ports {
        // Free and reserved ports refuse; that is expected.
        let _ = close(dom, mem, port);
    }
    Ok(())
}

/// `EVTCHNOP_reset_cont`: continue a preempted reset of domain `id`. A
/// reset here always completes at once, so none is ever in progress:
/// `-EBUSY`, as Xen answers a continuation without a reset under way.
#[doc(alias = "EVTCHNOP_reset_cont")]
#[doc(alias = "evtchn_reset_cont")]
pub fn reset_cont(dom: &Domain, id: DomId) -> Result<(), Errno> {
    check_domain(dom, id)?;
    Err(Errno::EBUSY)
}
