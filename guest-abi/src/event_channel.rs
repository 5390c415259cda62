// SPDX-License-Identifier: GPL-2.0-only
//! Event channels (`event_channel.h`): ports, bindings, 2-level and FIFO ABIs.
//!
//! Arguments of `HYPERVISOR_event_channel_op(cmd, arg)` ([`EvtchnOp`]), one
//! struct per command, plus the constants of the 2-level ABI (bitmaps in
//! [`crate::xen::SharedInfo`]) and of the FIFO ABI. The legacy
//! `event_channel_op_compat` hypercall (16) takes an [`EvtchnOpCompat`].
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

use crate::unions::EvtchnStatusU;
use crate::xen::{DomId, EvtchnPort, VcpuId};
use bytemuck::{Pod, Zeroable};

pub use crate::unions::{EvtchnStatusInterdomain, EvtchnStatusIrq, EvtchnStatusUnbound};

abi_enum! {
    /// Commands of `HYPERVISOR_event_channel_op` (`EVTCHNOP_*`).
    pub enum EvtchnOp: u32 {
        /// Connect to an unbound port of another domain.
        /// `arg` = [`EvtchnBindInterdomain`].
        BindInterdomain = 0 => "EVTCHNOP_bind_interdomain",
        /// Bind a VIRQ on a vCPU. `arg` = [`EvtchnBindVirq`].
        BindVirq = 1 => "EVTCHNOP_bind_virq",
        /// Bind a physical IRQ (privileged). `arg` = [`EvtchnBindPirq`].
        BindPirq = 2 => "EVTCHNOP_bind_pirq",
        /// Close a port. `arg` = [`EvtchnClose`].
        Close = 3 => "EVTCHNOP_close",
        /// Notify the remote end of a port. `arg` = [`EvtchnSend`].
        Send = 4 => "EVTCHNOP_send",
        /// Query a port's state. `arg` = [`EvtchnStatus`].
        Status = 5 => "EVTCHNOP_status",
        /// Allocate a port awaiting an interdomain connection.
        /// `arg` = [`EvtchnAllocUnbound`].
        AllocUnbound = 6 => "EVTCHNOP_alloc_unbound",
        /// Allocate a port for inter-vCPU notifications. `arg` =
        /// [`EvtchnBindIpi`].
        BindIpi = 7 => "EVTCHNOP_bind_ipi",
        /// Choose the vCPU a port notifies. `arg` = [`EvtchnBindVcpu`].
        BindVcpu = 8 => "EVTCHNOP_bind_vcpu",
        /// Unmask a port, delivering a pending event. `arg` =
        /// [`EvtchnUnmask`].
        Unmask = 9 => "EVTCHNOP_unmask",
        /// Close all ports of a domain (and revert to the 2-level ABI).
        /// `arg` = [`EvtchnReset`].
        Reset = 10 => "EVTCHNOP_reset",
        /// Switch to the FIFO ABI on one vCPU. `arg` = [`EvtchnInitControl`].
        InitControl = 11 => "EVTCHNOP_init_control",
        /// Add a page to the FIFO event array. `arg` = [`EvtchnExpandArray`].
        ExpandArray = 12 => "EVTCHNOP_expand_array",
        /// Set a port's FIFO priority. `arg` = [`EvtchnSetPriority`].
        SetPriority = 13 => "EVTCHNOP_set_priority",
        /// Continuation of a preempted `EVTCHNOP_reset`. `arg` =
        /// [`EvtchnReset`].
        ResetCont = 14 => "EVTCHNOP_reset_cont",
    }
}

abi_enum! {
    /// State of a port, returned in [`EvtchnStatus::status`]
    /// (`EVTCHNSTAT_*`).
    pub enum EvtchnStat: u32 {
        /// Not in use.
        Closed = 0 => "EVTCHNSTAT_closed",
        /// Waiting for an interdomain connection.
        Unbound = 1 => "EVTCHNSTAT_unbound",
        /// Connected to a remote domain.
        Interdomain = 2 => "EVTCHNSTAT_interdomain",
        /// Bound to a physical IRQ.
        Pirq = 3 => "EVTCHNSTAT_pirq",
        /// Bound to a virtual IRQ.
        Virq = 4 => "EVTCHNSTAT_virq",
        /// Bound to a virtual IPI.
        Ipi = 5 => "EVTCHNSTAT_ipi",
    }
}

/// Argument of `EVTCHNOP_alloc_unbound` (`evtchn_alloc_unbound_t`).
#[doc(alias = "evtchn_alloc_unbound")]
#[doc(alias = "evtchn_alloc_unbound_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnAllocUnbound {
    /// IN: domain to allocate the port in (`DOMID_SELF` unless privileged).
    pub dom: DomId,
    /// IN: domain allowed to connect (may be `DOMID_SELF`).
    pub remote_dom: DomId,
    /// OUT: the new port.
    pub port: EvtchnPort,
}
abi_layout!(EvtchnAllocUnbound: size 8, dom @ 0, remote_dom @ 2, port @ 4);

/// Argument of `EVTCHNOP_bind_interdomain` (`evtchn_bind_interdomain_t`).
#[doc(alias = "evtchn_bind_interdomain")]
#[doc(alias = "evtchn_bind_interdomain_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnBindInterdomain {
    /// IN: remote domain (may be `DOMID_SELF`).
    pub remote_dom: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// IN: unbound remote port that accepts the caller.
    pub remote_port: EvtchnPort,
    /// OUT: the new local port (set pending on success).
    pub local_port: EvtchnPort,
}
abi_layout!(EvtchnBindInterdomain: size 12, remote_dom @ 0, remote_port @ 4, local_port @ 8);

/// Argument of `EVTCHNOP_bind_virq` (`evtchn_bind_virq_t`).
#[doc(alias = "evtchn_bind_virq")]
#[doc(alias = "evtchn_bind_virq_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnBindVirq {
    /// IN: a [`crate::xen::Virq`] number.
    pub virq: u32,
    /// IN: vCPU to bind on (global VIRQs: vCPU 0 first).
    pub vcpu: VcpuId,
    /// OUT: the new port.
    pub port: EvtchnPort,
}
abi_layout!(EvtchnBindVirq: size 12, virq @ 0, vcpu @ 4, port @ 8);

/// [`EvtchnBindPirq::flags`]: the IRQ may be shared with other domains.
pub const BIND_PIRQ__WILL_SHARE: u32 = 1;

/// Argument of `EVTCHNOP_bind_pirq` (`evtchn_bind_pirq_t`).
#[doc(alias = "evtchn_bind_pirq")]
#[doc(alias = "evtchn_bind_pirq_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnBindPirq {
    /// IN: physical IRQ (PIRQ) number.
    pub pirq: u32,
    /// IN: `BIND_PIRQ__*` flags.
    pub flags: u32,
    /// OUT: the new port.
    pub port: EvtchnPort,
}
abi_layout!(EvtchnBindPirq: size 12, pirq @ 0, flags @ 4, port @ 8);

/// Argument of `EVTCHNOP_bind_ipi` (`evtchn_bind_ipi_t`).
#[doc(alias = "evtchn_bind_ipi")]
#[doc(alias = "evtchn_bind_ipi_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnBindIpi {
    /// IN: vCPU the port notifies (fixed for the port's lifetime).
    pub vcpu: VcpuId,
    /// OUT: the new port.
    pub port: EvtchnPort,
}
abi_layout!(EvtchnBindIpi: size 8, vcpu @ 0, port @ 4);

/// Argument of `EVTCHNOP_close` (`evtchn_close_t`); the remote end of an
/// interdomain channel goes back to unbound.
#[doc(alias = "evtchn_close")]
#[doc(alias = "evtchn_close_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnClose {
    /// IN: local port to close.
    pub port: EvtchnPort,
}
abi_layout!(EvtchnClose: size 4, port @ 0);

/// Argument of `EVTCHNOP_send` (`evtchn_send_t`).
#[doc(alias = "evtchn_send")]
#[doc(alias = "evtchn_send_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnSend {
    /// IN: local port whose remote end is notified.
    pub port: EvtchnPort,
}
abi_layout!(EvtchnSend: size 4, port @ 0);

/// Argument of `EVTCHNOP_status` (`evtchn_status_t`).
#[doc(alias = "evtchn_status")]
#[doc(alias = "evtchn_status_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnStatus {
    /// IN: domain owning the port (`DOMID_SELF` unless privileged).
    pub dom: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// IN: port to query.
    pub port: EvtchnPort,
    /// OUT: an [`EvtchnStat`] number.
    pub status: u32,
    /// OUT: vCPU the port notifies.
    pub vcpu: VcpuId,
    /// OUT: binding details, selected by `status`
    /// (see [`EvtchnStatus::binding`]).
    pub u: EvtchnStatusU,
}
abi_layout!(EvtchnStatus: size 24, dom @ 0, port @ 4, status @ 8, vcpu @ 12, u @ 16);

/// The decoded result of `EVTCHNOP_status`: `status` together with the
/// matching member of the `u` union.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EvtchnBinding {
    /// `EVTCHNSTAT_closed`.
    Closed,
    /// `EVTCHNSTAT_unbound`: `remote_dom` may connect.
    Unbound {
        /// Domain allowed to bind to the port.
        remote_dom: DomId,
    },
    /// `EVTCHNSTAT_interdomain`: connected to `port` of `dom`.
    Interdomain {
        /// Remote domain.
        dom: DomId,
        /// Remote port.
        port: EvtchnPort,
    },
    /// `EVTCHNSTAT_pirq`: bound to this physical IRQ.
    Pirq(u32),
    /// `EVTCHNSTAT_virq`: bound to this virtual IRQ.
    Virq(u32),
    /// `EVTCHNSTAT_ipi`.
    Ipi,
}

impl EvtchnBinding {
    /// The `EVTCHNSTAT_*` value describing this binding.
    #[must_use]
    pub const fn stat(&self) -> EvtchnStat {
        match self {
            Self::Closed => EvtchnStat::Closed,
            Self::Unbound { .. } => EvtchnStat::Unbound,
            Self::Interdomain { .. } => EvtchnStat::Interdomain,
            Self::Pirq(_) => EvtchnStat::Pirq,
            Self::Virq(_) => EvtchnStat::Virq,
            Self::Ipi => EvtchnStat::Ipi,
        }
    }

    /// The `u` union matching this binding (zero for closed and IPI).
    #[must_use]
    pub const fn union(&self) -> EvtchnStatusU {
        match *self {
            Self::Closed | Self::Ipi => EvtchnStatusU::from_pirq(0),
            Self::Unbound { remote_dom } => EvtchnStatusU::from_unbound(remote_dom),
            Self::Interdomain { dom, port } => EvtchnStatusU::from_interdomain(dom, port),
            Self::Pirq(pirq) => EvtchnStatusU::from_pirq(pirq),
            Self::Virq(virq) => EvtchnStatusU::from_virq(virq),
        }
    }
}

impl EvtchnStatus {
    /// Decodes `status` and `u`; `Err` carries an unknown `status` value.
    pub fn binding(&self) -> Result<EvtchnBinding, crate::Unknown<u32>> {
        Ok(match EvtchnStat::try_from(self.status)? {
            EvtchnStat::Closed => EvtchnBinding::Closed,
            EvtchnStat::Unbound => EvtchnBinding::Unbound { remote_dom: self.u.unbound().dom },
            EvtchnStat::Interdomain => {
                let remote = self.u.interdomain();
                EvtchnBinding::Interdomain { dom: remote.dom, port: remote.port }
            }
            EvtchnStat::Pirq => EvtchnBinding::Pirq(self.u.pirq()),
            EvtchnStat::Virq => EvtchnBinding::Virq(self.u.virq()),
            EvtchnStat::Ipi => EvtchnBinding::Ipi,
        })
    }

    /// Fills the OUT fields `status` and `u` from `binding`.
    pub fn set_binding(&mut self, binding: EvtchnBinding) {
        self.status = binding.stat().raw();
        self.u = binding.union();
    }
}

/// Argument of `EVTCHNOP_bind_vcpu` (`evtchn_bind_vcpu_t`).
#[doc(alias = "evtchn_bind_vcpu")]
#[doc(alias = "evtchn_bind_vcpu_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnBindVcpu {
    /// IN: port to re-target (not IPI or per-vCPU VIRQ ports).
    pub port: EvtchnPort,
    /// IN: vCPU to notify from now on.
    pub vcpu: VcpuId,
}
abi_layout!(EvtchnBindVcpu: size 8, port @ 0, vcpu @ 4);

/// Argument of `EVTCHNOP_unmask` (`evtchn_unmask_t`).
#[doc(alias = "evtchn_unmask")]
#[doc(alias = "evtchn_unmask_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnUnmask {
    /// IN: local port to unmask.
    pub port: EvtchnPort,
}
abi_layout!(EvtchnUnmask: size 4, port @ 0);

/// Argument of `EVTCHNOP_reset` and `EVTCHNOP_reset_cont`
/// (`evtchn_reset_t`).
#[doc(alias = "evtchn_reset")]
#[doc(alias = "evtchn_reset_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnReset {
    /// IN: domain whose ports are closed (`DOMID_SELF` unless privileged).
    pub dom: DomId,
}
abi_layout!(EvtchnReset: size 2, dom @ 0);

/// Argument of `EVTCHNOP_init_control` (`evtchn_init_control_t`).
#[doc(alias = "evtchn_init_control")]
#[doc(alias = "evtchn_init_control_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnInitControl {
    /// IN: guest frame holding the vCPU's FIFO control block.
    pub control_gfn: u64,
    /// IN: offset of the control block within that frame.
    pub offset: u32,
    /// IN: vCPU the control block belongs to.
    pub vcpu: VcpuId,
    /// OUT: number of link bits in an event word
    /// ([`EVTCHN_FIFO_LINK_BITS`]).
    pub link_bits: u8,
    /// Padding; zero.
    pub pad: [u8; 7],
}
abi_layout!(EvtchnInitControl: size 24, control_gfn @ 0, offset @ 8, vcpu @ 12, link_bits @ 16,
    pad @ 17);

/// Argument of `EVTCHNOP_expand_array` (`evtchn_expand_array_t`).
#[doc(alias = "evtchn_expand_array")]
#[doc(alias = "evtchn_expand_array_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnExpandArray {
    /// IN: guest frame to add to the event array.
    pub array_gfn: u64,
}
abi_layout!(EvtchnExpandArray: size 8, array_gfn @ 0);

/// Argument of `EVTCHNOP_set_priority` (`evtchn_set_priority_t`).
#[doc(alias = "evtchn_set_priority")]
#[doc(alias = "evtchn_set_priority_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnSetPriority {
    /// IN: port to change.
    pub port: EvtchnPort,
    /// IN: priority, [`EVTCHN_FIFO_PRIORITY_MAX`] (highest) to
    /// [`EVTCHN_FIFO_PRIORITY_MIN`].
    pub priority: u32,
}
abi_layout!(EvtchnSetPriority: size 8, port @ 0, priority @ 4);

/// Argument of the legacy `event_channel_op_compat` hypercall
/// (`evtchn_op_t`): a command and the matching struct in a union.
///
/// The union is kept as raw words; read it with
/// [`EvtchnOpCompat::payload`] after matching `cmd`.
#[doc(alias = "evtchn_op")]
#[doc(alias = "evtchn_op_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnOpCompat {
    /// IN: an [`EvtchnOp`] number (only commands 0–9 exist here).
    pub cmd: u32,
    /// IN/OUT: the command's argument struct (largest: [`EvtchnStatus`]).
    pub u: [u32; 6],
}
abi_layout!(EvtchnOpCompat: size 28, cmd @ 0, u @ 4);

impl EvtchnOpCompat {
    /// Reads the union as the argument struct `T` (its leading bytes).
    #[must_use]
    pub fn payload<T: crate::AbiBytes>(&self) -> Option<T> {
        crate::union_payload(&self.u)
    }

    /// Writes `value` into the leading bytes of the union (e.g. to copy the
    /// OUT fields back); `false` if `T` does not fit.
    pub fn set_payload<T: crate::AbiBytes>(&mut self, value: &T) -> bool {
        crate::set_union_payload(&mut self.u, value)
    }
}

// ---------------------------------------------------------------------------
// 2-level and FIFO ABIs
// ---------------------------------------------------------------------------

/// Number of ports of the 2-level ABI on x86_64 (64 × 64 bits).
pub const EVTCHN_2L_NR_CHANNELS: u32 = 4096;

/// Highest FIFO priority.
pub const EVTCHN_FIFO_PRIORITY_MAX: u32 = 0;
/// Default FIFO priority.
pub const EVTCHN_FIFO_PRIORITY_DEFAULT: u32 = 7;
/// Lowest FIFO priority.
pub const EVTCHN_FIFO_PRIORITY_MIN: u32 = 15;
/// Number of FIFO queues (one per priority).
pub const EVTCHN_FIFO_MAX_QUEUES: usize = 16;

/// FIFO event word bit: the event is pending.
pub const EVTCHN_FIFO_PENDING: u32 = 31;
/// FIFO event word bit: the event is masked.
pub const EVTCHN_FIFO_MASKED: u32 = 30;
/// FIFO event word bit: the event is on a queue.
pub const EVTCHN_FIFO_LINKED: u32 = 29;
/// FIFO event word bit: the event is being processed by Xen.
pub const EVTCHN_FIFO_BUSY: u32 = 28;
/// Width of the link field of a FIFO event word.
pub const EVTCHN_FIFO_LINK_BITS: u32 = 17;
/// Mask of the link field of a FIFO event word.
pub const EVTCHN_FIFO_LINK_MASK: u32 = (1 << EVTCHN_FIFO_LINK_BITS) - 1;
/// Number of ports of the FIFO ABI.
pub const EVTCHN_FIFO_NR_CHANNELS: u32 = 1 << EVTCHN_FIFO_LINK_BITS;

/// Per-vCPU FIFO control block in guest memory
/// (`evtchn_fifo_control_block_t`).
#[doc(alias = "evtchn_fifo_control_block")]
#[doc(alias = "evtchn_fifo_control_block_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnFifoControlBlock {
    /// Bitmap of non-empty queues (set by Xen, cleared by the guest).
    pub ready: u32,
    /// Reserved; zero.
    pub rsvd: u32,
    /// Head port of each priority queue.
    pub head: [u32; EVTCHN_FIFO_MAX_QUEUES],
}
abi_layout!(EvtchnFifoControlBlock: size 72, ready @ 0, rsvd @ 4, head @ 8);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AbiBytes;

    #[test]
    fn numbers() {
        assert_eq!(EvtchnOp::ALL.len(), 15);
        for (i, &op) in EvtchnOp::ALL.iter().enumerate() {
            assert_eq!(op.raw() as usize, i);
            assert_eq!(EvtchnOp::try_from(op.raw()), Ok(op));
        }
        assert!(EvtchnOp::try_from(15).is_err());
        for (i, &stat) in EvtchnStat::ALL.iter().enumerate() {
            assert_eq!(stat.raw() as usize, i);
            assert_eq!(EvtchnStat::try_from(stat.raw()), Ok(stat));
        }
        assert!(EvtchnStat::try_from(6).is_err());
        assert_eq!(EVTCHN_FIFO_NR_CHANNELS, 131_072);
        assert_eq!(EVTCHN_2L_NR_CHANNELS, 64 * 64);
    }

    #[test]
    fn op_structs_round_trip() {
        let alloc =
            EvtchnAllocUnbound { dom: DomId::SELF, remote_dom: DomId(0), port: EvtchnPort(5) };
        assert_eq!(alloc.as_bytes(), &[0xf0, 0x7f, 0, 0, 5, 0, 0, 0]);
        assert_eq!(EvtchnAllocUnbound::from_bytes(alloc.as_bytes()), Some(alloc));

        let virq = EvtchnBindVirq { virq: 0, vcpu: VcpuId(1), port: EvtchnPort(9) };
        assert_eq!(virq.as_bytes().get(8..), Some(&[9, 0, 0, 0][..]));
        assert_eq!(EvtchnBindVirq::from_bytes(virq.as_bytes()), Some(virq));

        let inter = EvtchnBindInterdomain {
            remote_dom: DomId(3),
            pad0: 0,
            remote_port: EvtchnPort(4),
            local_port: EvtchnPort(7),
        };
        assert_eq!(inter.as_bytes(), &[3, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0]);

        let init = EvtchnInitControl {
            control_gfn: 0x1234,
            offset: 0x40,
            vcpu: VcpuId(0),
            link_bits: 17,
            pad: [0; 7],
        };
        assert_eq!(init.as_bytes().get(16), Some(&17));
        assert_eq!(EvtchnInitControl::from_bytes(init.as_bytes()), Some(init));
        assert_eq!(EvtchnReset::from_bytes(&[0xf0, 0x7f]), Some(EvtchnReset { dom: DomId::SELF }));
    }

    #[test]
    fn status_binding() {
        let mut status =
            EvtchnStatus { dom: DomId::SELF, port: EvtchnPort(3), ..Default::default() };
        for binding in [
            EvtchnBinding::Closed,
            EvtchnBinding::Unbound { remote_dom: DomId(0) },
            EvtchnBinding::Interdomain { dom: DomId(2), port: EvtchnPort(11) },
            EvtchnBinding::Pirq(9),
            EvtchnBinding::Virq(2),
            EvtchnBinding::Ipi,
        ] {
            status.set_binding(binding);
            assert_eq!(status.binding(), Ok(binding));
            assert_eq!(EvtchnStatus::from_bytes(status.as_bytes()), Some(status));
        }
        status.set_binding(EvtchnBinding::Interdomain { dom: DomId(2), port: EvtchnPort(11) });
        assert_eq!(status.as_bytes().get(8..12), Some(&[2, 0, 0, 0][..]));
        assert_eq!(status.as_bytes().get(16..24), Some(&[2, 0, 0, 0, 11, 0, 0, 0][..]));
        status.status = 99;
        assert_eq!(status.binding(), Err(crate::Unknown(99)));
    }

    #[test]
    fn compat_payload() {
        let mut op = EvtchnOpCompat { cmd: EvtchnOp::BindVirq.raw(), u: [0; 6] };
        let arg = EvtchnBindVirq { virq: 1, vcpu: VcpuId(0), port: EvtchnPort(0) };
        assert!(op.set_payload(&arg));
        assert_eq!(op.payload::<EvtchnBindVirq>(), Some(arg));
        assert_eq!(op.as_bytes().get(4..8), Some(&[1, 0, 0, 0][..]));
        assert!(op.set_payload(&EvtchnStatus::default()));
        assert!(!op.set_payload(&crate::xen::MulticallEntry::default()));
    }
}
