// SPDX-License-Identifier: GPL-2.0-only
//! What the daemon needs from the hypervisor, as traits, so the logic runs
//! the same against Linux's Xen devices ([`crate::xen`]) and against the
//! in-memory fakes of the tests ([`crate::fake`]).

use std::io;
use std::os::fd::AsFd;

use guest_abi::xen::{DomId, EvtchnPort, GrantRef, Mfn};

use crate::ring::ConsolePage;

/// One domain as `getdomaininfo` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainState {
    /// The domain.
    pub domid: DomId,
    /// `XEN_DOMINF_dying`: being destroyed; its console is closed.
    pub dying: bool,
    /// `XEN_DOMINF_shutdown`: shut down but not yet destroyed; its console
    /// stays (its last words remain readable), as in Xen.
    pub shutdown: bool,
}

/// A bound interdomain event channel (one `/dev/xen/evtchn` handle per
/// console, as Xen's daemon opens them). The descriptor is readable when an
/// event is pending; a delivered port stays masked until [`unmask`].
///
/// [`unmask`]: EventChannel::unmask
pub trait EventChannel: AsFd {
    /// The local (dom0) port.
    fn local_port(&self) -> EvtchnPort;
    /// Sends an event to the guest.
    fn notify(&mut self) -> io::Result<()>;
    /// The pending port, if one is (`xenevtchn_pending`).
    fn pending(&mut self) -> io::Result<Option<EvtchnPort>>;
    /// Re-enables delivery of the local port.
    fn unmask(&mut self) -> io::Result<()>;
}

/// The hypervisor, as the console daemon uses it.
pub trait Hypervisor {
    /// A mapped console page; dropping it unmaps it.
    type Page: ConsolePage;
    /// A bound event channel; dropping it unbinds it.
    type Channel: EventChannel;

    /// Maps `domid`'s grant `gref` (the console's is
    /// `GNTTAB_RESERVED_CONSOLE`) read-write through gntdev.
    fn map_grant(&mut self, domid: DomId, gref: GrantRef) -> io::Result<Self::Page>;
    /// Maps `domid`'s frame `mfn` (`console/ring-ref`) read-write by a
    /// privileged foreign mapping.
    fn map_foreign(&mut self, domid: DomId, mfn: Mfn) -> io::Result<Self::Page>;
    /// Binds `domid`'s port `remote` to a new local port.
    fn bind_interdomain(&mut self, domid: DomId, remote: EvtchnPort) -> io::Result<Self::Channel>;
    /// Every domain, by increasing id.
    fn domains(&mut self) -> io::Result<Vec<DomainState>>;
    /// New bytes of the hypervisor's console ring from `*index` on,
    /// advancing `*index` (`XEN_SYSCTL_readconsole`, incremental).
    fn read_console(&mut self, index: &mut u32) -> io::Result<Vec<u8>>;
}
