// SPDX-License-Identifier: GPL-2.0-only
//! Event-channel operations that reach a second domain (Xen 4.17's
//! `evtchn_alloc_unbound`, `evtchn_bind_interdomain`, `evtchn_close`,
//! `evtchn_send`, `evtchn_status`, `evtchn_reset` and `evtchn_destroy`).
//!
//! An operation runs over [`Domains`]: the calling domain, already locked
//! by whoever runs the operation (the machine layer, for a hypercall), and
//! the domain table for any other domain, which is looked up and locked
//! for the operation. [`Domains::with_pair`] hands an operation two
//! domains at once, both locked, as Xen's `evtchn_bind_interdomain` and
//! `evtchn_close` take both `event_lock`s:
//!
//! * the caller is never locked again through the table (ids are compared
//!   first), so the caller may be either end;
//! * two domains other than the caller are locked lower id first, Xen's
//!   order ("first acquiring lock of domain with smaller id");
//! * the caller is always locked before any other domain (the table's
//!   documented order), and all of it happens under the machine lock,
//!   which serialises the hypervisor's work: no cycle can form, and no
//!   domain lock is held while a CPU waits for another (the machine layer
//!   waits for other CPUs only after dropping every lock).
//!
//! Access control goes through the [`Xsm`] hooks with Xen's dummy-policy
//! defaults: `evtchn_unbound` and `evtchn_status` and `evtchn_reset` are
//! `XSM_TARGET` (the domain itself or a privileged one), `evtchn_interdomain`
//! and `evtchn_send` `XSM_HOOK` (anyone; the port's state decides).
//!
//! Sending to another domain raises the peer's port on its notify vCPU
//! (`evtchn_port_set_pending`); when that marks or wakes one of the peer's
//! vCPUs, the peer is recorded in [`Domains::kicked`] so that the machine
//! layer wakes it in the scheduler or interrupts the CPU running it, without
//! looking at every domain after every hypercall.

use guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnStat, EvtchnStatus,
};
use guest_abi::xen::{DomId, Errno, EvtchnPort, VcpuId};

use super::{ChannelState, Evtchn, set_pending, two_level};
use crate::common::domain::Domain;
use crate::common::domain_table::{DomainTable, KickedDomains};
use crate::common::xsm::Xsm;
use crate::mm::pv::PhysMem;

/// The second domain of a [`Domains::with_pair`] call.
pub enum Peer<'a> {
    /// The same domain as the first (a loopback channel).
    Same,
    /// Another domain, locked.
    Other(&'a mut Domain),
    /// No domain has the id (any more).
    Gone,
}

/// The domains an event-channel operation may reach (see the module
/// documentation).
pub struct Domains<'a> {
    /// The calling domain, locked by the caller of the operation.
    pub caller: &'a mut Domain,
    /// Every domain (the caller's entry, if any, is never locked here).
    pub table: &'a DomainTable,
    /// Access control.
    pub xsm: &'a dyn Xsm,
    /// Machine memory (the shared-info bitmaps).
    pub mem: &'a mut dyn PhysMem,
    /// Other domains whose vCPUs the operation kicked.
    pub kicked: &'a mut KickedDomains,
}

impl Domains<'_> {
    /// `DOMID_SELF` as the caller's id.
    #[must_use]
    pub fn resolve(&self, id: DomId) -> DomId {
        if id == DomId::SELF { self.caller.id } else { id }
    }

    /// Runs `f` on domain `a` and domain `b`, both locked (see the module
    /// documentation for the order). `b` may be the same domain
    /// ([`Peer::Same`]) or missing ([`Peer::Gone`]).
    ///
    /// # Errors
    /// `ESRCH` when no domain has id `a`.
    pub fn with_pair<R>(
        &mut self,
        a: DomId,
        b: DomId,
        f: impl FnOnce(&mut Domain, Peer<'_>, &mut dyn PhysMem) -> R,
    ) -> Result<R, Errno> {
        let Self { caller, table, mem, .. } = self;
        let me = caller.id;
        if a == me {
            if b == a {
                return Ok(f(caller, Peer::Same, *mem));
            }
            return Ok(match table.get(b) {
                Some(cb) => f(caller, Peer::Other(&mut cb.lock()), *mem),
                None => f(caller, Peer::Gone, *mem),
            });
        }
        let ca = table.get(a).ok_or(Errno::ESRCH)?;
        if b == me {
            return Ok(f(&mut ca.lock(), Peer::Other(caller), *mem));
        }
        if b == a {
            return Ok(f(&mut ca.lock(), Peer::Same, *mem));
        }
        let Some(cb) = table.get(b) else {
            return Ok(f(&mut ca.lock(), Peer::Gone, *mem));
        };
        // Xen's order for two domains: the lower id first.
        let (mut ga, mut gb) = if a.0 < b.0 {
            let ga = ca.lock();
            (ga, cb.lock())
        } else {
            let gb = cb.lock();
            (ca.lock(), gb)
        };
        Ok(f(&mut ga, Peer::Other(&mut gb), *mem))
    }

    /// Runs `f` on domain `id`, locked unless it is the caller.
    ///
    /// # Errors
    /// `ESRCH` when no domain has the id.
    pub fn with_one<R>(
        &mut self,
        id: DomId,
        f: impl FnOnce(&mut Domain, &mut dyn PhysMem) -> R,
    ) -> Result<R, Errno> {
        self.with_pair(id, id, |d, _, mem| f(d, mem))
    }
}

/// `get_free_port` of domain `d`: `-EINVAL` once it is dying, else the
/// lowest free port up to its `max_evtchn_port` (`-ENOSPC` beyond).
///
/// # Errors
/// As described.
pub fn get_free_port(d: &mut Domain) -> Result<EvtchnPort, Errno> {
    if d.is_dying() {
        return Err(Errno::EINVAL);
    }
    let max = d.max_evtchn_port;
    d.evtchn.get_free_port(max)
}

/// Binds free port `port` of `d`.
pub(super) fn bind(d: &mut Domain, port: EvtchnPort, state: ChannelState, notify: VcpuId) {
    if let Some(chn) = d.evtchn.get_mut(port) {
        *chn = Evtchn { state, notify_vcpu_id: notify };
    }
}

/// `EVTCHNOP_alloc_unbound`: a port of domain `arg.dom` that `arg.remote_dom`
/// (`DOMID_SELF`: the caller) may bind to. Xen's order: the domain looked
/// up (`-ESRCH`), a free port (`-EINVAL` for a dying domain, `-ENOSPC`
/// beyond its limit), then access control (`xsm_evtchn_unbound`,
/// `-EPERM`). The remote domain need not exist yet, as with Xen's dummy
/// policy: a toolstack allocates a port for a domain it builds next (Xen's
/// FLASK policy would refuse it with `-ESRCH`).
///
/// # Errors
/// As described.
#[doc(alias = "EVTCHNOP_alloc_unbound")]
#[doc(alias = "evtchn_alloc_unbound")]
pub fn alloc_unbound(ds: &mut Domains<'_>, arg: &mut EvtchnAllocUnbound) -> Result<(), Errno> {
    let target = ds.resolve(arg.dom);
    let remote = ds.resolve(arg.remote_dom);
    let src = ds.caller.subject();
    let xsm = ds.xsm;
    let port = ds.with_one(target, |d, _| {
        let port = get_free_port(d)?;
        xsm.evtchn_unbound(src, d.subject(), remote)?;
        bind(d, port, ChannelState::Unbound { remote_domid: remote }, VcpuId(0));
        Ok(port)
    })??;
    arg.port = port;
    Ok(())
}

/// Whether port `rport` of `rd` is unbound and waiting for domain `ld`.
fn waits_for(rd: &Domain, rport: EvtchnPort, ld: DomId) -> bool {
    rd.evtchn.get(rport).is_some_and(
        |r| matches!(r.state, ChannelState::Unbound { remote_domid } if remote_domid == ld),
    )
}

/// `EVTCHNOP_bind_interdomain`: connect a new port of the caller to
/// `remote_port` of `remote_dom`, which must be unbound and waiting for the
/// caller. Xen's order: the remote domain (`-ESRCH`), a free local port,
/// the remote port (`-EINVAL` when invalid, not unbound or waiting for
/// another domain), access control (`xsm_evtchn_interdomain`). The new
/// port is set pending (notifications sent to the unbound port may have
/// been lost).
///
/// # Errors
/// As described.
#[doc(alias = "EVTCHNOP_bind_interdomain")]
#[doc(alias = "evtchn_bind_interdomain")]
pub fn bind_interdomain(
    ds: &mut Domains<'_>,
    arg: &mut EvtchnBindInterdomain,
) -> Result<(), Errno> {
    let me = ds.caller.id;
    let rdom = ds.resolve(arg.remote_dom);
    let rport = arg.remote_port;
    let xsm = ds.xsm;
    let lport = ds.with_pair(me, rdom, |ld, peer, mem| {
        let rd_subject = match &peer {
            Peer::Gone => return Err(Errno::ESRCH),
            Peer::Same => ld.subject(),
            Peer::Other(rd) => rd.subject(),
        };
        let lport = get_free_port(ld)?;
        let waiting = match &peer {
            Peer::Other(rd) => waits_for(rd, rport, ld.id),
            _ => waits_for(ld, rport, ld.id),
        };
        if !waiting {
            return Err(Errno::EINVAL);
        }
        xsm.evtchn_interdomain(ld.subject(), rd_subject)?;
        let notify = ld.evtchn.get(lport).map_or(VcpuId(0), |c| c.notify_vcpu_id);
        bind(ld, lport, ChannelState::Interdomain { remote_dom: rdom, remote_port: rport }, notify);
        let back = ChannelState::Interdomain { remote_dom: ld.id, remote_port: lport };
        let rchn = match peer {
            Peer::Other(rd) => rd.evtchn.get_mut(rport),
            _ => ld.evtchn.get_mut(rport),
        };
        if let Some(r) = rchn {
            r.state = back;
        }
        set_pending(ld, mem, notify, lport);
        Ok(lport)
    })??;
    arg.local_port = lport;
    Ok(())
}

/// `evtchn_free`: no stale event on re-bind, notify vCPU back to 0.
fn free(d: &mut Domain, mem: &mut dyn PhysMem, port: EvtchnPort) {
    two_level::clear_pending(mem, d.shared_info, port);
    if let Some(c) = d.evtchn.get_mut(port) {
        *c = Evtchn::FREE;
    }
}

/// `evtchn_close` of `port` of domain `id` (the caller's, or another's
/// for a reset or a teardown): a VIRQ is unbound from its vCPU, the remote
/// end of an interdomain channel goes back to unbound waiting for `id`,
/// and the port's pending bit is cleared. Free, reserved and invalid ports
/// are `-EINVAL`.
///
/// # Errors
/// As described; `ESRCH` when no domain has the id.
#[doc(alias = "EVTCHNOP_close")]
#[doc(alias = "evtchn_close")]
pub fn close(ds: &mut Domains<'_>, id: DomId, port: EvtchnPort) -> Result<(), Errno> {
    let state = ds.with_one(id, |d, _| d.evtchn.get(port).map(|c| c.state))?;
    let remote = match state.ok_or(Errno::EINVAL)? {
        ChannelState::Free | ChannelState::Reserved => return Err(Errno::EINVAL),
        ChannelState::Interdomain { remote_dom, .. } => remote_dom,
        _ => id,
    };
    ds.with_pair(id, remote, |d, peer, mem| {
        let chn = d.evtchn.get(port).copied().ok_or(Errno::EINVAL)?;
        match chn.state {
            ChannelState::Free | ChannelState::Reserved => return Err(Errno::EINVAL),
            ChannelState::Unbound { .. } | ChannelState::Ipi | ChannelState::Pirq { .. } => {}
            ChannelState::Virq { virq } => {
                for v in &mut d.vcpus {
                    if v.evtchn.virq_port(virq) == port {
                        v.evtchn.set_virq_port(virq, EvtchnPort(0));
                    }
                }
            }
            ChannelState::Interdomain { remote_dom, remote_port } => {
                // Closed and re-bound between the two looks: as if free.
                if remote_dom != remote {
                    return Err(Errno::EINVAL);
                }
                let me = d.id;
                let back = ChannelState::Interdomain { remote_dom: me, remote_port: port };
                let rchn = match peer {
                    Peer::Other(rd) => rd.evtchn.get_mut(remote_port),
                    Peer::Same => d.evtchn.get_mut(remote_port),
                    Peer::Gone => None,
                };
                if let Some(r) = rchn.filter(|r| r.state == back) {
                    r.state = ChannelState::Unbound { remote_domid: me };
                }
            }
        }
        free(d, mem, port);
        Ok(())
    })?
}

/// `EVTCHNOP_send` on the caller's `port`: interdomain, raise the remote
/// port on its notify vCPU (in the peer); IPI, raise the port itself;
/// unbound, silently dropped. An invalid port is `-EINVAL`, then access
/// control (`xsm_evtchn_send`) decides, then any other state (VIRQ, PIRQ,
/// free, reserved) is `-EINVAL`. `Ok(true)` if a vCPU was marked or woken;
/// another domain's is recorded in [`Domains::kicked`].
///
/// # Errors
/// As described.
#[doc(alias = "EVTCHNOP_send")]
#[doc(alias = "evtchn_send")]
pub fn send(ds: &mut Domains<'_>, port: EvtchnPort) -> Result<bool, Errno> {
    let chn = ds.caller.evtchn.get(port).copied().ok_or(Errno::EINVAL)?;
    let src = ds.caller.subject();
    match chn.state {
        ChannelState::Interdomain { remote_dom, remote_port } if remote_dom != ds.caller.id => {
            let Some(cell) = ds.table.get(remote_dom) else {
                // Cannot happen: a destroyed peer's ports are closed first.
                return Ok(false);
            };
            let mut rd = cell.lock();
            ds.xsm.evtchn_send(src, Some(rd.subject()))?;
            let notify = rd.evtchn.get(remote_port).map_or(VcpuId(0), |r| r.notify_vcpu_id);
            let kicked = set_pending(&mut rd, ds.mem, notify, remote_port);
            if rd.kick_mask != 0 {
                ds.kicked.push(rd.id);
            }
            Ok(kicked)
        }
        ChannelState::Interdomain { remote_port, .. } => {
            ds.xsm.evtchn_send(src, Some(src))?;
            let notify = ds.caller.evtchn.get(remote_port).map_or(VcpuId(0), |r| r.notify_vcpu_id);
            Ok(set_pending(ds.caller, ds.mem, notify, remote_port))
        }
        ChannelState::Ipi => {
            ds.xsm.evtchn_send(src, None)?;
            Ok(set_pending(ds.caller, ds.mem, chn.notify_vcpu_id, port))
        }
        ChannelState::Unbound { .. } => ds.xsm.evtchn_send(src, None).map(|()| false),
        _ => {
            ds.xsm.evtchn_send(src, None)?;
            Err(Errno::EINVAL)
        }
    }
}

/// `EVTCHNOP_status` of port `arg.port` of domain `arg.dom`: fills
/// `status`, `vcpu` and the member of `u` that the state selects; the
/// union's other bytes keep what the guest passed, as Xen writes back its
/// copy of the whole struct. Xen's order: the domain (`-ESRCH`), the port
/// (`-EINVAL`), access control (`xsm_evtchn_status`: the domain itself or
/// a privileged one, else `-EPERM`).
///
/// # Errors
/// As described.
#[doc(alias = "EVTCHNOP_status")]
#[doc(alias = "evtchn_status")]
pub fn status(ds: &mut Domains<'_>, arg: &mut EvtchnStatus) -> Result<(), Errno> {
    let id = ds.resolve(arg.dom);
    let src = ds.caller.subject();
    let xsm = ds.xsm;
    let port = arg.port;
    let (chn, subject) = ds
        .with_one(id, |d, _| d.evtchn.get(port).copied().map(|c| (c, d.subject())))?
        .ok_or(Errno::EINVAL)?;
    xsm.evtchn_status(src, subject)?;
    fill_status(chn, arg);
    Ok(())
}

/// The OUT fields of `EVTCHNOP_status` for port `chn`.
pub(super) fn fill_status(chn: Evtchn, arg: &mut EvtchnStatus) {
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
}

/// `EVTCHNOP_reset` (`resuming` false) and `EVTCHNOP_reset_cont` of domain
/// `id`: Xen's order is the domain (`-ESRCH`), access control
/// (`xsm_evtchn_reset`: itself or a privileged caller, `-EPERM`), then
/// `-EINVAL` for another domain that its controller has not paused; then
/// every port is closed. A reset here always completes in one call, so a
/// continuation never finds one in progress: `-EBUSY`, as Xen answers.
///
/// # Errors
/// As described.
#[doc(alias = "EVTCHNOP_reset")]
#[doc(alias = "evtchn_reset")]
pub fn reset(ds: &mut Domains<'_>, id: DomId, resuming: bool) -> Result<(), Errno> {
    let id = ds.resolve(id);
    let src = ds.caller.subject();
    let (subject, paused) = ds.with_one(id, |d, _| (d.subject(), d.pause_count > 0))?;
    ds.xsm.evtchn_reset(src, subject)?;
    if id != src.id && !paused {
        return Err(Errno::EINVAL);
    }
    if resuming {
        return Err(Errno::EBUSY);
    }
    let valid = ds.with_one(id, |d, _| d.evtchn.valid_evtchns())?;
    for port in 1..valid {
        // Free ports refuse; that is expected.
        let _ = close(ds, id, EvtchnPort(port));
    }
    Ok(())
}

/// `evtchn_destroy` of dying domain `id`: every port closed, highest first;
/// the peers' ends of its interdomain channels go back to unbound, waiting
/// for it (nobody can bind them any more: it never comes back).
pub fn destroy(ds: &mut Domains<'_>, id: DomId) {
    let Ok(valid) = ds.with_one(id, |d, _| d.evtchn.valid_evtchns()) else { return };
    for port in (1..valid).rev() {
        let _ = close(ds, id, EvtchnPort(port));
    }
}

#[cfg(test)]
mod tests;
