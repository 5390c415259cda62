// SPDX-License-Identifier: GPL-2.0-only
//! Xen's C unions, with the crate's only `unsafe`: documented accessors.
//!
//! A C union can be read through any member. In Rust that is `unsafe`, so
//! each union here is built to make every read sound, and the reads are
//! wrapped once in safe accessor methods:
//!
//! * every member is a [`bytemuck::Pod`] struct of **exactly the union's
//!   size** (Xen's shorter members are completed with explicit `pad*`
//!   fields), so whichever member was written, all bytes are initialised;
//! * every bit pattern is valid for every member, so reading "the wrong"
//!   member yields a well-defined (if meaningless) value, never UB;
//! * the members are private: values are built with the `from_*`
//!   constructors and read with the accessors, which pick the member the
//!   way Xen does (e.g. by `evtchn_status.status`), or with
//!   [`crate::AbiBytes`].
//!
//! The unions are:
//!
//! * [`StartInfoConsole`] — `start_info.console`, `domU` ring or `dom0` VGA
//!   info ([`crate::xen::StartInfo::console`]);
//! * [`EvtchnStatusU`] — `evtchn_status.u`
//!   ([`crate::event_channel::EvtchnStatus::u`]);
//! * [`GrantEntryV2`] — `union grant_entry_v2`, one entry of a version-2
//!   grant table.
//!
//! Unions whose members are just one integer read two ways (`mmuext_op.arg1`
//! and friends) are plain integers with accessors in their own modules.
#![allow(unsafe_code, reason = "reading C unions; each access is justified below")]

use crate::grant_table::GrantEntryHeader;
use crate::xen::{DomId, EvtchnPort, GrantRef, Mfn};
use bytemuck::{Pod, Zeroable};
use core::fmt;

/// Implements byte-wise equality for a union.
macro_rules! union_eq {
    ($ty:ty) => {
        impl PartialEq for $ty {
            fn eq(&self, other: &Self) -> bool {
                bytemuck::bytes_of(self) == bytemuck::bytes_of(other)
            }
        }

        impl Eq for $ty {}
    };
}

// ---------------------------------------------------------------------------
// start_info.console
// ---------------------------------------------------------------------------

/// `start_info.console.domU`: the console ring of an unprivileged domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct ConsoleDomU {
    /// MFN of the console ring page (`struct xencons_interface`).
    pub mfn: Mfn,
    /// Event channel of the console ring (0: no PV console).
    pub evtchn: EvtchnPort,
    /// Padding (C tail padding of the member); zero.
    pub pad0: u32,
}
abi_layout!(ConsoleDomU: size 16, mfn @ 0, evtchn @ 8);

impl ConsoleDomU {
    /// The member for a ring at `mfn` notified through `evtchn`.
    #[must_use]
    pub const fn new(mfn: Mfn, evtchn: EvtchnPort) -> Self {
        Self { mfn, evtchn, pad0: 0 }
    }
}

/// `start_info.console.dom0`: where the domain builder put the
/// `dom0_vga_console_info` (both 0 when there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct ConsoleDom0 {
    /// Offset of the console info from the start of `start_info`.
    pub info_off: u32,
    /// Size of the console info.
    pub info_size: u32,
    /// Rest of the union (not part of Xen's member); zero.
    pub pad0: [u32; 2],
}
abi_layout!(ConsoleDom0: size 16, info_off @ 0, info_size @ 4);

impl ConsoleDom0 {
    /// The member describing VGA info at `info_off`, `info_size` bytes long.
    #[must_use]
    pub const fn new(info_off: u32, info_size: u32) -> Self {
        Self { info_off, info_size, pad0: [0; 2] }
    }
}

/// `start_info.console`: the `domU` member for ordinary domains, the `dom0`
/// member when `SIF_INITDOMAIN` is set.
#[derive(Clone, Copy)]
#[repr(C)]
pub union StartInfoConsole {
    domu: ConsoleDomU,
    dom0: ConsoleDom0,
}
abi_layout!(StartInfoConsole: size 16, domu @ 0, dom0 @ 0);
const _: () = assert!(
    core::mem::size_of::<ConsoleDomU>() == 16
        && core::mem::size_of::<ConsoleDom0>() == 16
        && core::mem::align_of::<StartInfoConsole>() == 8
);

// SAFETY: both members are Pod, `'static`, free of padding and exactly 16
// bytes long (asserted above), so the `repr(C)` union has no padding bytes,
// is valid for any bit pattern and for all zeroes.
unsafe impl Zeroable for StartInfoConsole {}
// SAFETY: as above; the union is also `Copy`.
unsafe impl Pod for StartInfoConsole {}

impl StartInfoConsole {
    /// A console union holding the `domU` member.
    #[must_use]
    pub const fn from_domu(domu: ConsoleDomU) -> Self {
        Self { domu }
    }

    /// A console union holding the `dom0` member.
    #[must_use]
    pub const fn from_dom0(dom0: ConsoleDom0) -> Self {
        Self { dom0 }
    }

    /// Reads the `domU` member (meaningful when `SIF_INITDOMAIN` is clear).
    #[must_use]
    pub const fn domu(&self) -> ConsoleDomU {
        // SAFETY: every member covers all 16 bytes, so they are initialised
        // whichever member was written, and `ConsoleDomU` is valid for any
        // bit pattern.
        unsafe { self.domu }
    }

    /// Reads the `dom0` member (meaningful when `SIF_INITDOMAIN` is set).
    #[must_use]
    pub const fn dom0(&self) -> ConsoleDom0 {
        // SAFETY: as in `domu`: all 16 bytes are initialised and
        // `ConsoleDom0` is valid for any bit pattern.
        unsafe { self.dom0 }
    }
}

union_eq!(StartInfoConsole);

impl fmt::Debug for StartInfoConsole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartInfoConsole")
            .field("domu", &self.domu())
            .field("dom0", &self.dom0())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// evtchn_status.u
// ---------------------------------------------------------------------------

/// `evtchn_status.u.unbound`: the domain allowed to connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnStatusUnbound {
    /// Remote domain that may bind to the port.
    pub dom: DomId,
    /// Rest of the union; zero.
    pub pad0: [u16; 3],
}
abi_layout!(EvtchnStatusUnbound: size 8, dom @ 0);

/// `evtchn_status.u.interdomain`: the connected remote end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnStatusInterdomain {
    /// Remote domain.
    pub dom: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// Remote port.
    pub port: EvtchnPort,
}
abi_layout!(EvtchnStatusInterdomain: size 8, dom @ 0, port @ 4);

/// `evtchn_status.u.pirq` / `.virq`: the bound interrupt number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EvtchnStatusIrq {
    /// PIRQ or VIRQ number.
    pub irq: u32,
    /// Rest of the union; zero.
    pub pad0: u32,
}
abi_layout!(EvtchnStatusIrq: size 8, irq @ 0);

/// `evtchn_status.u`: what the port is bound to, selected by
/// `evtchn_status.status` (`EVTCHNSTAT_*`). Use
/// [`crate::event_channel::EvtchnStatus::binding`] for a decoded view.
#[derive(Clone, Copy)]
#[repr(C)]
pub union EvtchnStatusU {
    unbound: EvtchnStatusUnbound,
    interdomain: EvtchnStatusInterdomain,
    pirq: EvtchnStatusIrq,
    virq: EvtchnStatusIrq,
}
abi_layout!(EvtchnStatusU: size 8, unbound @ 0, interdomain @ 0, pirq @ 0, virq @ 0);
const _: () = assert!(
    core::mem::size_of::<EvtchnStatusUnbound>() == 8
        && core::mem::size_of::<EvtchnStatusInterdomain>() == 8
        && core::mem::size_of::<EvtchnStatusIrq>() == 8
        && core::mem::align_of::<EvtchnStatusU>() == 4
);

// SAFETY: all members are Pod, `'static`, padding-free and exactly 8 bytes
// (asserted above): the union has no padding and accepts any bit pattern.
unsafe impl Zeroable for EvtchnStatusU {}
// SAFETY: as above; the union is also `Copy`.
unsafe impl Pod for EvtchnStatusU {}

impl EvtchnStatusU {
    /// The `unbound` member: `dom` may connect.
    #[must_use]
    pub const fn from_unbound(dom: DomId) -> Self {
        Self { unbound: EvtchnStatusUnbound { dom, pad0: [0; 3] } }
    }

    /// The `interdomain` member: connected to `port` of `dom`.
    #[must_use]
    pub const fn from_interdomain(dom: DomId, port: EvtchnPort) -> Self {
        Self { interdomain: EvtchnStatusInterdomain { dom, pad0: 0, port } }
    }

    /// The `pirq` member.
    #[must_use]
    pub const fn from_pirq(pirq: u32) -> Self {
        Self { pirq: EvtchnStatusIrq { irq: pirq, pad0: 0 } }
    }

    /// The `virq` member.
    #[must_use]
    pub const fn from_virq(virq: u32) -> Self {
        Self { virq: EvtchnStatusIrq { irq: virq, pad0: 0 } }
    }

    /// Reads the `unbound` member.
    #[must_use]
    pub const fn unbound(&self) -> EvtchnStatusUnbound {
        // SAFETY: every member covers all 8 bytes, so they are initialised,
        // and the member type is valid for any bit pattern.
        unsafe { self.unbound }
    }

    /// Reads the `interdomain` member.
    #[must_use]
    pub const fn interdomain(&self) -> EvtchnStatusInterdomain {
        // SAFETY: as in `unbound`.
        unsafe { self.interdomain }
    }

    /// Reads the `pirq` member.
    #[must_use]
    pub const fn pirq(&self) -> u32 {
        // SAFETY: as in `unbound`.
        unsafe { self.pirq.irq }
    }

    /// Reads the `virq` member.
    #[must_use]
    pub const fn virq(&self) -> u32 {
        // SAFETY: as in `unbound`.
        unsafe { self.virq.irq }
    }
}

union_eq!(EvtchnStatusU);

impl fmt::Debug for EvtchnStatusU {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EvtchnStatusU").field(&bytemuck::bytes_of(self)).finish()
    }
}

// ---------------------------------------------------------------------------
// grant_entry_v2
// ---------------------------------------------------------------------------

/// `grant_entry_v2.full_page`: a whole-frame grant (`GTF_permit_access`
/// without `GTF_sub_page`, or `GTF_accept_transfer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GrantEntryV2FullPage {
    /// Common header (flags, grantee).
    pub hdr: GrantEntryHeader,
    /// Padding; zero.
    pub pad0: u32,
    /// Frame granted (same meaning as in a v1 entry, but 64 bits).
    pub frame: u64,
}
abi_layout!(GrantEntryV2FullPage: size 16, hdr @ 0, frame @ 8);

/// `grant_entry_v2.sub_page`: access to bytes `[page_off, page_off +
/// length)` of `frame` (`GTF_permit_access | GTF_sub_page`, copy only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GrantEntryV2SubPage {
    /// Common header (flags, grantee).
    pub hdr: GrantEntryHeader,
    /// Offset of the granted range in the frame.
    pub page_off: u16,
    /// Length of the granted range.
    pub length: u16,
    /// Frame granted.
    pub frame: u64,
}
abi_layout!(GrantEntryV2SubPage: size 16, hdr @ 0, page_off @ 4, length @ 6, frame @ 8);

/// `grant_entry_v2.transitive`: use grant `gref` of `trans_domid` as if it
/// were local (`GTF_transitive`, copy only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GrantEntryV2Transitive {
    /// Common header (flags, grantee).
    pub hdr: GrantEntryHeader,
    /// Domain owning the original grant.
    pub trans_domid: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// The original grant reference in `trans_domid`.
    pub gref: GrantRef,
    /// Rest of the union (C tail); zero.
    pub pad1: u32,
}
abi_layout!(GrantEntryV2Transitive: size 16, hdr @ 0, trans_domid @ 4, gref @ 8);

/// One entry of a version-2 grant table (`grant_entry_v2_t`). The member is
/// selected by the type bits of `hdr.flags` (`GTF_*`).
#[doc(alias = "grant_entry_v2")]
#[doc(alias = "grant_entry_v2_t")]
#[derive(Clone, Copy)]
#[repr(C)]
pub union GrantEntryV2 {
    full_page: GrantEntryV2FullPage,
    sub_page: GrantEntryV2SubPage,
    transitive: GrantEntryV2Transitive,
    spacer: [u32; 4],
}
abi_layout!(GrantEntryV2: size 16, full_page @ 0, sub_page @ 0, transitive @ 0, spacer @ 0);
const _: () = assert!(
    core::mem::size_of::<GrantEntryV2FullPage>() == 16
        && core::mem::size_of::<GrantEntryV2SubPage>() == 16
        && core::mem::size_of::<GrantEntryV2Transitive>() == 16
        && core::mem::align_of::<GrantEntryV2>() == 8
);

// SAFETY: all members are Pod, `'static`, padding-free and exactly 16 bytes
// (asserted above): the union has no padding and accepts any bit pattern.
unsafe impl Zeroable for GrantEntryV2 {}
// SAFETY: as above; the union is also `Copy`.
unsafe impl Pod for GrantEntryV2 {}

impl GrantEntryV2 {
    /// An entry holding the `full_page` member.
    #[must_use]
    pub const fn from_full_page(full_page: GrantEntryV2FullPage) -> Self {
        Self { full_page }
    }

    /// An entry holding the `sub_page` member.
    #[must_use]
    pub const fn from_sub_page(sub_page: GrantEntryV2SubPage) -> Self {
        Self { sub_page }
    }

    /// An entry holding the `transitive` member.
    #[must_use]
    pub const fn from_transitive(transitive: GrantEntryV2Transitive) -> Self {
        Self { transitive }
    }

    /// The header shared by every member (`hdr`).
    #[must_use]
    pub const fn hdr(&self) -> GrantEntryHeader {
        self.full_page().hdr
    }

    /// Reads the `full_page` member.
    #[must_use]
    pub const fn full_page(&self) -> GrantEntryV2FullPage {
        // SAFETY: every member covers all 16 bytes, so they are initialised,
        // and the member type is valid for any bit pattern.
        unsafe { self.full_page }
    }

    /// Reads the `sub_page` member.
    #[must_use]
    pub const fn sub_page(&self) -> GrantEntryV2SubPage {
        // SAFETY: as in `full_page`.
        unsafe { self.sub_page }
    }

    /// Reads the `transitive` member.
    #[must_use]
    pub const fn transitive(&self) -> GrantEntryV2Transitive {
        // SAFETY: as in `full_page`.
        unsafe { self.transitive }
    }
}

union_eq!(GrantEntryV2);

impl fmt::Debug for GrantEntryV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantEntryV2")
            .field("hdr", &self.hdr())
            .field("bytes", &bytemuck::bytes_of(self))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AbiBytes;

    #[test]
    fn console_union_views() {
        let domu = StartInfoConsole::from_domu(ConsoleDomU::new(Mfn(0x1234), EvtchnPort(3)));
        assert_eq!(domu.domu().mfn, Mfn(0x1234));
        assert_eq!(domu.domu().evtchn, EvtchnPort(3));
        // The dom0 view of the same bytes is the low/high halves of the MFN.
        assert_eq!(domu.dom0().info_off, 0x1234);
        assert_eq!(domu.dom0().info_size, 0);

        let dom0 = StartInfoConsole::from_dom0(ConsoleDom0::new(1168, 40));
        assert_eq!(dom0.as_bytes().get(..8), Some(&[0x90, 4, 0, 0, 40, 0, 0, 0][..]));
        assert_eq!(dom0.dom0().info_size, 40);
        assert_eq!(StartInfoConsole::from_bytes(dom0.as_bytes()), Some(dom0));
        assert_ne!(dom0, domu);
        assert_eq!(StartInfoConsole::default().domu(), ConsoleDomU::default());
    }

    #[test]
    fn evtchn_status_union_views() {
        let u = EvtchnStatusU::from_interdomain(DomId(7), EvtchnPort(42));
        assert_eq!(u.interdomain().dom, DomId(7));
        assert_eq!(u.interdomain().port, EvtchnPort(42));
        assert_eq!(u.unbound().dom, DomId(7));
        assert_eq!(u.as_bytes(), &[7, 0, 0, 0, 42, 0, 0, 0]);
        assert_eq!(EvtchnStatusU::from_virq(3).virq(), 3);
        assert_eq!(EvtchnStatusU::from_pirq(9).pirq(), 9);
        assert_eq!(EvtchnStatusU::from_bytes(u.as_bytes()), Some(u));
    }

    #[test]
    fn grant_entry_v2_views() {
        let hdr = GrantEntryHeader { flags: 1, domid: DomId(0) };
        let full =
            GrantEntryV2::from_full_page(GrantEntryV2FullPage { hdr, pad0: 0, frame: 0xabcd });
        assert_eq!(full.hdr(), hdr);
        assert_eq!(full.full_page().frame, 0xabcd);
        let sub = GrantEntryV2::from_sub_page(GrantEntryV2SubPage {
            hdr,
            page_off: 16,
            length: 32,
            frame: 5,
        });
        assert_eq!(sub.as_bytes().get(4..8), Some(&[16, 0, 32, 0][..]));
        let trans = GrantEntryV2::from_transitive(GrantEntryV2Transitive {
            hdr,
            trans_domid: DomId(3),
            pad0: 0,
            gref: GrantRef(8),
            pad1: 0,
        });
        assert_eq!(trans.transitive().gref, GrantRef(8));
        assert_eq!(GrantEntryV2::from_bytes(trans.as_bytes()), Some(trans));
    }
}
