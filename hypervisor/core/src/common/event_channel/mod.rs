// SPDX-License-Identifier: GPL-2.0-only
//! Event channels of a domain (Xen's `event_channel.c`), 2-level ABI.
//!
//! A domain owns a table of ports ([`EvtchnTable`], Xen's `d->evtchn`):
//! each [`Evtchn`] has a state ([`ChannelState`], Xen's `ECS_*`) and the
//! vCPU it notifies. The table grows by [`EVTCHNS_PER_BUCKET`] ports up to
//! the 2-level ABI's [`EVTCHN_2L_NR_CHANNELS`]; a port is *valid* when its
//! bucket exists (`port_is_valid`), and ports are handed out lowest free
//! first (`get_free_port`), so running out is `-ENOSPC`. Port 0 is
//! reserved at creation, as in Xen, so that 0 can mean "no port". Each
//! vCPU keeps its VIRQ → port table ([`VcpuEvtchn`]).
//!
//! Raising a port (`evtchn_port_set_pending`) goes through the 2-level
//! bitmaps in the shared-info frame ([`two_level`]) and, when the port is
//! newly pending and unmasked, marks the notified vCPU's upcall pending and
//! kicks it: a vCPU blocked in `SCHEDOP_block` or `SCHEDOP_poll` becomes
//! runnable again. A newly pending port also wakes the vCPUs polling it,
//! masked or not (`evtchn_check_pollers`). The trap code delivers the upcall
//! on the way back to the guest (`traps::deliver_pending_events`).
//!
//! * [`ops`]: the `EVTCHNOP_*` operations on a domain, with Xen's checks
//!   and errors (`hypercall::evtchn` copies their arguments in and out);
//! * [`send_virq`] / [`send_global_virq`]: raising VIRQs from the
//!   hypervisor (timer, console, debug keys);
//! * [`block`], [`poll`], [`vcpu_should_wake`], [`vcpu_unblock`]: the event
//!   side of `SCHEDOP_block` and `SCHEDOP_poll`, and the predicate the
//!   machine's wait loop uses.
//!
//! * [`interdomain`]: the operations that reach a second domain (binding to
//!   another domain's unbound port, closing, sending to the peer, status
//!   and reset of another domain's ports, a dying domain's teardown), with
//!   both domains locked in Xen's order.
//!
//! The bitmap updates are locked read-modify-writes of guest memory
//! ([`two_level`]); the port tables change under the domain's lock and the
//! machine lock.

pub mod interdomain;
pub mod ops;
pub mod two_level;

#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use guest_abi::event_channel::EVTCHN_2L_NR_CHANNELS;
use guest_abi::xen::{DomId, Errno, EvtchnPort, NR_VIRQS, VcpuId, Virq, VirqKind};

use super::domain::{Domain, Vcpu};
use crate::mm::pv::PhysMem;

/// Ports added to a domain's table at a time (Xen's `EVTCHNS_PER_BUCKET`:
/// a page of 64-byte `struct evtchn`).
pub const EVTCHNS_PER_BUCKET: u32 = 64;

/// Physical IRQs a domain may name in `EVTCHNOP_bind_pirq` (Xen 3.4's
/// `NR_PIRQS` on x86); higher numbers are `-EINVAL`.
pub const NR_PIRQS: u32 = 256;

/// Most ports one `SCHEDOP_poll` may list (Xen's "fairly arbitrary limit").
pub const SCHED_POLL_MAX_PORTS: u32 = 128;

/// Number of VIRQ slots per vCPU.
const NR_VIRQ_SLOTS: usize = NR_VIRQS as usize;

/// What a port is bound to (Xen's `ECS_*`).
#[doc(alias = "ECS_FREE")]
#[doc(alias = "ECS_UNBOUND")]
#[doc(alias = "ECS_INTERDOMAIN")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// `ECS_FREE`: available.
    Free,
    /// `ECS_RESERVED`: never handed out (port 0).
    Reserved,
    /// `ECS_UNBOUND`: waiting for `remote_domid` to bind to it.
    Unbound {
        /// The domain allowed to connect.
        remote_domid: DomId,
    },
    /// `ECS_INTERDOMAIN`: connected to `remote_port` of `remote_dom`.
    Interdomain {
        /// The remote domain.
        remote_dom: DomId,
        /// The remote port.
        remote_port: EvtchnPort,
    },
    /// `ECS_PIRQ`: bound to a physical IRQ.
    Pirq {
        /// The PIRQ number.
        irq: u32,
    },
    /// `ECS_VIRQ`: bound to a virtual IRQ.
    Virq {
        /// The VIRQ number.
        virq: u32,
    },
    /// `ECS_IPI`: an inter-vCPU notification port.
    Ipi,
}

/// One port (Xen's `struct evtchn`).
#[doc(alias = "evtchn")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evtchn {
    /// The binding.
    pub state: ChannelState,
    /// The vCPU the port notifies (`notify_vcpu_id`); for a per-vCPU VIRQ
    /// or an IPI also the vCPU it is bound to.
    pub notify_vcpu_id: VcpuId,
}

impl Evtchn {
    /// A free port notifying vCPU 0.
    pub const FREE: Self = Self { state: ChannelState::Free, notify_vcpu_id: VcpuId(0) };
}

/// A domain's ports (Xen's `d->evtchn` buckets and `valid_evtchns`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvtchnTable {
    /// Every valid port, by number.
    chans: Vec<Evtchn>,
}

impl EvtchnTable {
    /// One bucket of free ports, port 0 reserved (`evtchn_init`).
    #[must_use]
    pub fn new() -> Self {
        let mut chans = alloc::vec![Evtchn::FREE; EVTCHNS_PER_BUCKET as usize];
        if let Some(zero) = chans.first_mut() {
            zero.state = ChannelState::Reserved;
        }
        Self { chans }
    }

    /// Number of valid ports (`valid_evtchns`).
    #[must_use]
    pub fn valid_evtchns(&self) -> u32 {
        u32::try_from(self.chans.len()).unwrap_or(u32::MAX)
    }

    /// `port_is_valid`: the port's bucket exists.
    #[must_use]
    pub fn port_is_valid(&self, port: EvtchnPort) -> bool {
        port.0 < self.valid_evtchns()
    }

    /// The port, if valid.
    #[must_use]
    pub fn get(&self, port: EvtchnPort) -> Option<&Evtchn> {
        self.chans.get(usize::try_from(port.0).ok()?)
    }

    /// The port, if valid, for changing.
    pub fn get_mut(&mut self, port: EvtchnPort) -> Option<&mut Evtchn> {
        self.chans.get_mut(usize::try_from(port.0).ok()?)
    }

    /// The valid ports in order, with their numbers.
    pub fn iter(&self) -> impl Iterator<Item = (EvtchnPort, &Evtchn)> {
        (0u32..).zip(self.chans.iter()).map(|(p, c)| (EvtchnPort(p), c))
    }

    /// `get_free_port`: the lowest free port up to `max_port` (the
    /// domain's `max_evtchn_port`), adding a bucket if every valid port is
    /// in use; `-ENOSPC` once the ports up to `max_port` or the 2-level
    /// ABI's ports are all taken (`evtchn_allocate_port`). The port stays
    /// free until the caller binds it.
    pub fn get_free_port(&mut self, max_port: u32) -> Result<EvtchnPort, Errno> {
        let free = self
            .iter()
            .take_while(|(p, _)| p.0 <= max_port)
            .find(|(_, c)| c.state == ChannelState::Free);
        if let Some((port, _)) = free {
            return Ok(port);
        }
        let port = self.valid_evtchns();
        if port > max_port || port >= EVTCHN_2L_NR_CHANNELS {
            return Err(Errno::ENOSPC);
        }
        let grown = port.saturating_add(EVTCHNS_PER_BUCKET).min(EVTCHN_2L_NR_CHANNELS);
        self.chans.resize(usize::try_from(grown).map_err(|_| Errno::ENOSPC)?, Evtchn::FREE);
        Ok(EvtchnPort(port))
    }
}

impl Default for EvtchnTable {
    fn default() -> Self {
        Self::new()
    }
}

/// A vCPU's event-channel state (Xen's `virq_to_evtchn` and `poll_evtchn`).
#[doc(alias = "virq_to_evtchn")]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VcpuEvtchn {
    /// The port bound to each VIRQ on this vCPU (0: none). Global VIRQs
    /// live in vCPU 0's table wherever their port notifies.
    pub virq_to_evtchn: [EvtchnPort; NR_VIRQ_SLOTS],
    /// Set while the vCPU waits in `SCHEDOP_poll`.
    pub poll: Option<PollState>,
}

impl VcpuEvtchn {
    /// The port bound to VIRQ number `virq` here (0: none or out of range).
    #[must_use]
    pub fn virq_port(&self, virq: u32) -> EvtchnPort {
        usize::try_from(virq)
            .ok()
            .and_then(|i| self.virq_to_evtchn.get(i))
            .copied()
            .unwrap_or_default()
    }

    /// Records `port` as VIRQ `virq`'s port (ignored out of range).
    fn set_virq_port(&mut self, virq: u32, port: EvtchnPort) {
        if let Some(slot) = usize::try_from(virq).ok().and_then(|i| self.virq_to_evtchn.get_mut(i))
        {
            *slot = port;
        }
    }
}

/// What a vCPU in `SCHEDOP_poll` waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollState {
    /// The one port polled (`poll_evtchn`), or `None` when several (or
    /// none) were listed: then any port of the domain becoming pending
    /// wakes the vCPU, as in Xen.
    pub port: Option<EvtchnPort>,
    /// Absolute system time (ns, [`Platform::now_ns`]) at which the poll
    /// gives up; `None`: no timeout.
    ///
    /// [`Platform::now_ns`]: super::platform::Platform::now_ns
    pub timeout_ns: Option<u64>,
}

/// Xen's `virq_is_global`: VIRQs bound once per domain (on vCPU 0) rather
/// than per vCPU. Numbers without a name are global, as in Xen.
#[must_use]
pub fn virq_is_global(virq: u32) -> bool {
    Virq::try_from(virq).map_or(true, |v| v.kind() != VirqKind::PerVcpu)
}

/// The vCPU with id `id`, if the domain has it (`domain_vcpu`).
fn vcpu(dom: &Domain, id: VcpuId) -> Option<&Vcpu> {
    dom.vcpus.get(usize::try_from(id.0).ok()?).filter(|v| v.id == id)
}

/// The vCPU with id `id`, for changing.
fn vcpu_mut(dom: &mut Domain, id: VcpuId) -> Option<&mut Vcpu> {
    dom.vcpus.get_mut(usize::try_from(id.0).ok()?).filter(|v| v.id == id)
}

/// Xen's `vcpu_unblock`: the vCPU is runnable again (no longer blocked or
/// polling). Returns whether it was blocked.
pub fn vcpu_unblock(v: &mut Vcpu) -> bool {
    v.evtchn.poll = None;
    core::mem::replace(&mut v.blocked, false)
}

/// `vcpu_mark_events_pending`: set the vCPU's upcall pending and, if that
/// is new, kick it. Returns whether it was newly marked.
fn mark_events_pending(dom: &mut Domain, mem: &mut dyn PhysMem, id: VcpuId) -> bool {
    if two_level::test_and_set_upcall_pending(mem, dom.vcpu_info_ref(id)) {
        return false;
    }
    if let Some(v) = vcpu_mut(dom, id) {
        vcpu_unblock(v);
    }
    dom.kick(usize::try_from(id.0).unwrap_or(usize::MAX));
    true
}

/// `evtchn_check_pollers`: wake the vCPUs polling `port` (or any port).
fn check_pollers(dom: &mut Domain, port: EvtchnPort) -> bool {
    let mut woke = 0u64;
    for (i, v) in dom.vcpus.iter_mut().enumerate() {
        if v.evtchn.poll.is_some_and(|p| p.port.is_none_or(|q| q == port)) {
            vcpu_unblock(v);
            woke |= u32::try_from(i).ok().and_then(|i| 1u64.checked_shl(i)).unwrap_or(0);
        }
    }
    dom.kick_mask |= woke;
    woke != 0
}

/// `evtchn_2l_set_pending` on vCPU `notify`: returns whether a vCPU was
/// newly marked or woken (the machine layer should make it run).
#[doc(alias = "evtchn_port_set_pending")]
#[doc(alias = "evtchn_2l_set_pending")]
pub fn set_pending(
    dom: &mut Domain,
    mem: &mut dyn PhysMem,
    notify: VcpuId,
    port: EvtchnPort,
) -> bool {
    let si = dom.shared_info;
    if two_level::test_and_set_pending(mem, si, port) {
        return false;
    }
    let mut kicked = false;
    if !two_level::is_masked(mem, si, port)
        && !two_level::test_and_set_pending_sel(mem, dom.vcpu_info_ref(notify), port)
    {
        kicked = mark_events_pending(dom, mem, notify);
    }
    check_pollers(dom, port) || kicked
}

/// `evtchn_2l_unmask`: clear `port`'s mask bit and, if it was masked and is
/// pending, raise it on its notify vCPU. Returns whether a vCPU was kicked.
#[doc(alias = "evtchn_2l_unmask")]
pub fn unmask(dom: &mut Domain, mem: &mut dyn PhysMem, port: EvtchnPort) -> bool {
    let si = dom.shared_info;
    let notify = dom.evtchn.get(port).map_or(VcpuId(0), |c| c.notify_vcpu_id);
    if two_level::test_and_clear_mask(mem, si, port)
        && two_level::is_pending(mem, si, port)
        && !two_level::test_and_set_pending_sel(mem, dom.vcpu_info_ref(notify), port)
    {
        return mark_events_pending(dom, mem, notify);
    }
    false
}

/// Xen's `send_guest_vcpu_virq`: raise per-vCPU VIRQ `virq` on vCPU `id`,
/// if the guest bound it there. A global VIRQ is sent as by
/// [`send_global_virq`]. Returns whether a vCPU needs a kick.
#[doc(alias = "send_guest_vcpu_virq")]
pub fn send_virq(dom: &mut Domain, mem: &mut dyn PhysMem, id: VcpuId, virq: Virq) -> bool {
    if virq_is_global(virq.raw()) {
        return send_global_virq(dom, mem, virq);
    }
    let port = vcpu(dom, id).map_or(EvtchnPort(0), |v| v.evtchn.virq_port(virq.raw()));
    if port.0 == 0 {
        return false;
    }
    set_pending(dom, mem, id, port)
}

/// Xen's `send_guest_global_virq`: raise global VIRQ `virq` through vCPU 0's
/// binding, on the vCPU its port notifies. Returns whether a vCPU needs a
/// kick. A per-vCPU VIRQ is sent to vCPU 0.
#[doc(alias = "send_guest_global_virq")]
pub fn send_global_virq(dom: &mut Domain, mem: &mut dyn PhysMem, virq: Virq) -> bool {
    if !virq_is_global(virq.raw()) {
        return send_virq(dom, mem, VcpuId(0), virq);
    }
    let port = vcpu(dom, VcpuId(0)).map_or(EvtchnPort(0), |v| v.evtchn.virq_port(virq.raw()));
    let Some(notify) = dom.evtchn.get(port).filter(|_| port.0 != 0).map(|c| c.notify_vcpu_id)
    else {
        return false;
    };
    set_pending(dom, mem, notify, port)
}

/// The event side of `SCHEDOP_block` (`vcpu_block_enable_events`): enable
/// upcalls on vCPU `id`, then block it unless an event is already waiting.
/// Returns whether the vCPU is now blocked.
#[doc(alias = "vcpu_block_enable_events")]
#[doc(alias = "SCHEDOP_block")]
pub fn block(dom: &mut Domain, mem: &mut dyn PhysMem, id: VcpuId) -> bool {
    two_level::set_upcall_mask(mem, dom.vcpu_info_ref(id), 0);
    let blocked = !two_level::events_need_delivery(mem, dom.vcpu_info_ref(id));
    if let Some(v) = vcpu_mut(dom, id) {
        v.blocked = blocked;
        v.evtchn.poll = None;
    }
    blocked
}

/// The event side of `SCHEDOP_poll` (`do_poll`, after the port list was
/// copied in): return at once (`Ok(false)`) if vCPU `id` has an upcall to
/// deliver or a listed port is pending (masked or not), `-EINVAL` for a
/// port that is not valid, else block the vCPU polling and return
/// `Ok(true)`. `timeout_ns` is absolute system time, 0 for none.
#[doc(alias = "do_poll")]
#[doc(alias = "SCHEDOP_poll")]
pub fn poll(
    dom: &mut Domain,
    mem: &dyn PhysMem,
    id: VcpuId,
    ports: &[EvtchnPort],
    timeout_ns: u64,
) -> Result<bool, Errno> {
    if two_level::events_need_delivery(mem, dom.vcpu_info_ref(id)) {
        return Ok(false);
    }
    for &port in ports {
        if !dom.evtchn.port_is_valid(port) {
            return Err(Errno::EINVAL);
        }
        if two_level::is_pending(mem, dom.shared_info, port) {
            return Ok(false);
        }
    }
    let state = PollState {
        port: match ports {
            [one] => Some(*one),
            _ => None,
        },
        timeout_ns: (timeout_ns != 0).then_some(timeout_ns),
    };
    let v = vcpu_mut(dom, id).ok_or(Errno::EINVAL)?;
    v.blocked = true;
    v.evtchn.poll = Some(state);
    v.timers.changed = true;
    Ok(true)
}

/// Whether vCPU `index` of `dom` may run at system time `now_ns`: it is
/// not blocked (an event kicked it, or it never blocked), its poll timed
/// out, or it is blocked without polling and has an unmasked upcall
/// pending (`local_events_need_delivery`, for updates made behind the
/// event code). A missing vCPU may "run" so that no caller waits forever.
/// Pure: the caller wakes the vCPU with [`vcpu_unblock`].
#[must_use]
pub fn vcpu_should_wake(dom: &Domain, mem: &dyn PhysMem, index: usize, now_ns: u64) -> bool {
    let Some(v) = dom.vcpus.get(index) else { return true };
    if !v.blocked {
        return true;
    }
    match v.evtchn.poll {
        Some(p) => p.timeout_ns.is_some_and(|t| now_ns >= t),
        None => two_level::events_need_delivery(mem, dom.vcpu_info_ref(v.id)),
    }
}
