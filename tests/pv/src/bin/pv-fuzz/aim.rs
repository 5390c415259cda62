// SPDX-License-Identifier: GPL-2.0-only
//! Calls aimed at real targets: the neighbours' domain ids and event
//! channel ports (`neighbours=<dom>[:<port>...],...` on the command line,
//! what the toolstack knows of them), and real page-table entries of this
//! kernel's own (the L1 entries of its two guard pages and of its grant
//! window).
//!
//! Each aimed call is a well-formed structure with one or two fields
//! chosen from the targets and the rest drawn from small ranges:
//!
//! * `GNTTABOP_map_grant_ref` of refs 0..20 (or one beyond any table) of a
//!   neighbour, this domain or a garbage id, at the grant window by
//!   address or by its PTE's machine address (`GNTMAP_contains_pte`), with
//!   random `GNTMAP_*` flags; `GNTTABOP_unmap_grant_ref` of small handles
//!   there; `GNTTABOP_copy` between a neighbour's ref or a spare frame and
//!   a spare frame, by ref or by frame, with random offsets and lengths;
//! * `EVTCHNOP_bind_interdomain` to a neighbour's port (or a small one),
//!   `EVTCHNOP_status` and `EVTCHNOP_alloc_unbound` naming a neighbour,
//!   `EVTCHNOP_send`, `close`, `unmask`, `bind_vcpu` of small ports of this
//!   domain (the numbers the neighbours' ports have);
//! * `mmu_update` of the guard pages' and the window's L1 entries with
//!   empty PTEs, PTEs of spare frames with random flags, and PTEs of frames
//!   that are not ours.
//!
//! The neighbours allow this domain no port and grant it only the refs
//! `neighbours=` lists (`w<ref>` writable, `r<ref>` read-only), so every
//! aimed map or copy of another ref of a neighbour, every write access
//! (a writable map, a copy into it) to a read-only one, every bind to,
//! status of and allocation in a neighbour must be refused:
//! [`Aimed::hostile`] marks them and the caller fails the test if one
//! succeeds. The granted refs themselves may be mapped at the window, by
//! address or by PTE, read-only or writable, and copied from and to, and
//! these mappings are left for the unmaps, the other calls and the
//! domains' destruction to deal with.

use pv_tests::guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindVcpu, EvtchnOp, EvtchnStatus,
};
use pv_tests::guest_abi::grant_table::{
    GNTCOPY_dest_gref, GNTCOPY_source_gref, GNTMAP_contains_pte, GNTMAP_device_map,
    GNTMAP_host_map, GNTMAP_readonly, GnttabCopy, GnttabCopyPtr, GnttabMapGrantRef, GnttabOp,
    GnttabUnmapGrantRef,
};
use pv_tests::guest_abi::xen::{
    DOMID_SELF, DomId, EvtchnPort, GrantRef, Hypercall, MmuUpdate, VcpuId,
};

use super::{Call, Fuzzer, scratch};

/// Most neighbours and ports of each that `neighbours=` may name.
const MAX_NEIGHBOURS: usize = 4;
const MAX_PORTS: usize = 4;

/// Where in the scratch buffer aimed structures go (after the part the
/// sweep zeroes, 64-byte aligned slots).
const AIM_OFFSET: u64 = 8192;

/// Most grant refs of a neighbour `neighbours=` may name.
const MAX_REFS: usize = 8;

/// A neighbour: its domain id and the ports and grant refs of it the
/// toolstack knows (refs: `(ref, writable)`, granted to this domain).
#[derive(Clone, Copy, Default)]
pub struct Neighbour {
    dom: u16,
    ports: [u32; MAX_PORTS],
    nports: usize,
    refs: [(u32, bool); MAX_REFS],
    nrefs: usize,
}

impl Neighbour {
    /// Whether `gref` is granted to us, and writable.
    fn grant(&self, gref: u32) -> Option<bool> {
        self.refs.iter().take(self.nrefs).find(|r| r.0 == gref).map(|r| r.1)
    }
}

/// What the aimed calls aim at.
#[derive(Clone, Copy, Default)]
pub struct Targets {
    neighbours: [Neighbour; MAX_NEIGHBOURS],
    n: usize,
    /// Linear address of the grant window (an unmapped page of ours).
    pub window: u64,
    /// Machine addresses of the L1 entries of the guard pages and the
    /// window.
    pub ptes: [u64; 3],
}

impl Targets {
    /// Parses `neighbours=<dom>[:<port>|:w<ref>|:r<ref>...],...` (`w`/`r`: a
    /// grant ref the neighbour gave this domain, writable or read-only).
    pub fn parse(value: Option<&str>) -> Self {
        let mut t = Self::default();
        for item in value.unwrap_or("").split(',').filter(|s| !s.is_empty()) {
            let mut fields = item.split(':');
            let Some(dom) = fields.next().and_then(|d| d.parse().ok()) else { continue };
            let Some(slot) = t.neighbours.get_mut(t.n) else { break };
            *slot = Neighbour { dom, ..Neighbour::default() };
            for field in fields {
                let (writable, gref) = match field.as_bytes().first() {
                    Some(b'w') => (true, field.get(1..).and_then(|r| r.parse().ok())),
                    Some(b'r') => (false, field.get(1..).and_then(|r| r.parse().ok())),
                    _ => {
                        if let (Some(p), Ok(port)) =
                            (slot.ports.get_mut(slot.nports), field.parse())
                        {
                            *p = port;
                            slot.nports = slot.nports.saturating_add(1);
                        }
                        continue;
                    }
                };
                if let (Some(r), Some(gref)) = (slot.refs.get_mut(slot.nrefs), gref) {
                    *r = (gref, writable);
                    slot.nrefs = slot.nrefs.saturating_add(1);
                }
            }
            t.n = t.n.saturating_add(1);
        }
        t
    }

    /// The neighbours' ids, for the start line.
    pub fn ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.neighbours.iter().take(self.n).map(|n| n.dom)
    }
}

/// The kinds of aimed calls (indexes of the tally).
pub const KINDS: [&str; 10] = [
    "grant map",
    "grant unmap",
    "grant copy",
    "evtchn bind_interdomain",
    "evtchn status",
    "evtchn alloc_unbound",
    "evtchn send",
    "evtchn close",
    "evtchn unmask/bind_vcpu",
    "mmu_update of own L1 entries",
];

/// The kind of the aimed `mmu_update` of our own L1 entries (the caller
/// unmaps the guard pages again after it).
pub const MMU_KIND: usize = 9;

/// One aimed call.
pub struct Aimed {
    /// The call.
    pub call: Call,
    /// Index into [`KINDS`].
    pub kind: usize,
    /// It names a neighbour's grant or port and must be refused.
    pub hostile: bool,
    /// Where a grant op's status lands (0: the return value says).
    pub status_at: u64,
}

/// Writes `v` at `at` in the scratch buffer.
fn put<T: Copy>(at: u64, v: T) {
    let p = core::ptr::with_exposed_provenance_mut::<T>(usize::try_from(at).unwrap_or(0));
    // SAFETY: `at` is an aimed slot: `scratch + AIM_OFFSET + 64 * i` with
    // `i < 64`, and every structure here is at most 64 bytes, so the write
    // stays in the scratch buffer, which only the fuzzer and the
    // hypervisor use.
    unsafe { p.write_unaligned(v) };
}

impl Fuzzer {
    /// A domain id: a neighbour's mostly, else ourselves or garbage;
    /// `true` if a neighbour's.
    fn aim_dom(&mut self) -> (DomId, bool) {
        let t = self.targets;
        match self.rng.below(8) {
            0..=4 if t.n > 0 => {
                let i = usize::try_from(self.rng.below(t.n as u64)).unwrap_or(0);
                let d = t.neighbours.get(i).map_or(0, |n| n.dom);
                (DomId(d), true)
            }
            5 => (DOMID_SELF, false),
            6 => (DomId(u16::try_from(self.rng.below(16)).unwrap_or(0)), false),
            _ => (DomId(u16::try_from(self.rng.below(0x8000)).unwrap_or(0)), false),
        }
    }

    /// A port of a neighbour (if `dom` is one and its ports are known),
    /// else a small one.
    fn aim_port(&mut self, dom: DomId) -> EvtchnPort {
        let t = self.targets;
        let known = t.neighbours.iter().take(t.n).find(|n| n.dom == dom.0);
        if let Some(n) = known.filter(|n| n.nports > 0)
            && self.rng.below(2) == 0
        {
            let i = usize::try_from(self.rng.below(n.nports as u64)).unwrap_or(0);
            return EvtchnPort(n.ports.get(i).copied().unwrap_or(1));
        }
        EvtchnPort(
            u32::try_from(self.rng.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 63, 64, 1023, 4096]))
                .unwrap_or(1),
        )
    }

    /// The neighbour `dom` is, if it is one.
    fn neighbour(&self, dom: DomId) -> Option<Neighbour> {
        self.targets.neighbours.iter().take(self.targets.n).find(|n| n.dom == dom.0).copied()
    }

    /// A grant ref: often one `dom` granted us, else small, sometimes
    /// beyond any table.
    fn aim_ref(&mut self, dom: DomId) -> u32 {
        if let Some(n) = self.neighbour(dom).filter(|n| n.nrefs > 0)
            && self.rng.below(2) == 0
        {
            let i = usize::try_from(self.rng.below(n.nrefs as u64)).unwrap_or(0);
            return n.refs.get(i).map_or(0, |r| r.0);
        }
        if self.rng.below(10) == 0 {
            1 << 20
        } else {
            u32::try_from(self.rng.below(20)).unwrap_or(0)
        }
    }

    /// Whether an access to `gref` of `dom` (writing if `write`) must be
    /// refused: `dom` is a neighbour that did not grant it (so).
    fn refused_grant(&self, dom: DomId, gref: u32, write: bool) -> bool {
        self.neighbour(dom).is_some_and(|n| match n.grant(gref) {
            Some(writable) => write && !writable,
            None => true,
        })
    }

    /// A copy end (the destination if `write`): a neighbour's ref, or a
    /// spare frame of ours by frame; whether it must be refused.
    fn aim_end(&mut self, by_ref: bool, write: bool) -> (GnttabCopyPtr, bool) {
        let offset = u16::try_from(self.rng.below(4200)).unwrap_or(0);
        if by_ref {
            let (dom, _) = self.aim_dom();
            let gref = self.aim_ref(dom);
            let p = GnttabCopyPtr { u: u64::from(gref), domid: dom, offset, pad0: 0 };
            (p, self.refused_grant(dom, gref, write))
        } else {
            // By frame: ours (a spare), or a neighbour's id (refused).
            let (dom, hostile) =
                if self.rng.below(4) == 0 { self.aim_dom() } else { (DOMID_SELF, false) };
            let p = GnttabCopyPtr { u: self.spare(), domid: dom, offset, pad0: 0 };
            (p, hostile && dom != DOMID_SELF)
        }
    }

    /// An aimed call (see the module documentation).
    pub fn aimed(&mut self) -> Aimed {
        let slot = scratch().wrapping_add(AIM_OFFSET).wrapping_add(self.rng.below(64) << 6);
        let grant = Hypercall::GrantTableOp.raw();
        let evtchn = Hypercall::EventChannelOp.raw();
        let kind = usize::try_from(self.rng.below(KINDS.len() as u64)).unwrap_or(0);
        let mut hostile = false;
        let mut status_at = 0;
        let (nr, args) = match kind {
            0 => {
                let (dom, _) = self.aim_dom();
                let mut flags = u32::try_from(self.rng.below(32)).unwrap_or(0);
                if self.rng.below(4) != 0 {
                    flags |= GNTMAP_host_map;
                }
                let host_addr = if flags & GNTMAP_contains_pte != 0 {
                    self.targets.ptes[2]
                } else {
                    self.targets.window
                };
                let op = GnttabMapGrantRef {
                    host_addr,
                    flags: flags
                        & (GNTMAP_host_map
                            | GNTMAP_device_map
                            | GNTMAP_readonly
                            | GNTMAP_contains_pte
                            | (1 << 3)),
                    gref: GrantRef(self.aim_ref(dom)),
                    dom,
                    ..GnttabMapGrantRef::default()
                };
                put(slot, op);
                hostile = self.refused_grant(dom, op.gref.0, op.flags & GNTMAP_readonly == 0);
                status_at = slot.wrapping_add(18);
                (grant, [u64::from(GnttabOp::MapGrantRef.raw()), slot, 1, 0, 0])
            }
            1 => {
                let host_addr = self.rng.pick(&[0, self.targets.window, self.targets.ptes[2]]);
                let op = GnttabUnmapGrantRef {
                    host_addr,
                    dev_bus_addr: if self.rng.below(2) == 0 { 0 } else { self.spare() << 12 },
                    handle: u32::try_from(self.rng.below(8)).unwrap_or(0),
                    ..GnttabUnmapGrantRef::default()
                };
                put(slot, op);
                status_at = slot.wrapping_add(20);
                (grant, [u64::from(GnttabOp::UnmapGrantRef.raw()), slot, 1, 0, 0])
            }
            2 => {
                let flags = u16::try_from(self.rng.below(4)).unwrap_or(0);
                let (source, hs) = self.aim_end(flags & GNTCOPY_source_gref != 0, false);
                let (dest, hd) = self.aim_end(flags & GNTCOPY_dest_gref != 0, true);
                let len =
                    u16::try_from(self.rng.pick(&[0, 1, 8, 100, 4096, 4097, 65535])).unwrap_or(0);
                put(slot, GnttabCopy { source, dest, len, flags, ..GnttabCopy::default() });
                hostile = hs || hd;
                status_at = slot.wrapping_add(36);
                (grant, [u64::from(GnttabOp::Copy.raw()), slot, 1, 0, 0])
            }
            3 => {
                let (dom, n) = self.aim_dom();
                let remote_port = self.aim_port(dom);
                put(
                    slot,
                    EvtchnBindInterdomain {
                        remote_dom: dom,
                        pad0: 0,
                        remote_port,
                        local_port: EvtchnPort(0),
                    },
                );
                hostile = n;
                (evtchn, [u64::from(EvtchnOp::BindInterdomain.raw()), slot, 0, 0, 0])
            }
            4 => {
                let (dom, n) = self.aim_dom();
                let port = self.aim_port(dom);
                put(slot, EvtchnStatus { dom, port, ..EvtchnStatus::default() });
                hostile = n;
                (evtchn, [u64::from(EvtchnOp::Status.raw()), slot, 0, 0, 0])
            }
            5 => {
                let (dom, n) = self.aim_dom();
                let (remote, _) = self.aim_dom();
                put(slot, EvtchnAllocUnbound { dom, remote_dom: remote, port: EvtchnPort(0) });
                hostile = n;
                (evtchn, [u64::from(EvtchnOp::AllocUnbound.raw()), slot, 0, 0, 0])
            }
            6 | 7 => {
                let (dom, _) = self.aim_dom();
                put(slot, self.aim_port(dom));
                let op = if kind == 6 { EvtchnOp::Send } else { EvtchnOp::Close };
                (evtchn, [u64::from(op.raw()), slot, 0, 0, 0])
            }
            8 => {
                let (dom, _) = self.aim_dom();
                let port = self.aim_port(dom);
                if self.rng.below(2) == 0 {
                    put(slot, port);
                    (evtchn, [u64::from(EvtchnOp::Unmask.raw()), slot, 0, 0, 0])
                } else {
                    let vcpu = VcpuId(u32::try_from(self.rng.below(3)).unwrap_or(0));
                    put(slot, EvtchnBindVcpu { port, vcpu });
                    (evtchn, [u64::from(EvtchnOp::BindVcpu.raw()), slot, 0, 0, 0])
                }
            }
            _ => {
                let n = self.rng.below(3).wrapping_add(1);
                for i in 0..n {
                    let pte =
                        self.targets.ptes.get(usize::try_from(self.rng.below(3)).unwrap_or(0));
                    let ptr = pte.copied().unwrap_or(0) | self.rng.pick(&[0, 0, 2]);
                    let flags = self.rng.below(0x1000) & !0x80;
                    let val = match self.rng.below(4) {
                        0 => 0,
                        1 | 2 => (self.spare() << 12) | flags,
                        _ => (self.rng.below(0x4_0000) << 12) | flags | 1,
                    };
                    let val = if self.own_frame(val) { 0 } else { val };
                    put(slot.wrapping_add(i.wrapping_mul(16)), MmuUpdate { ptr, val });
                }
                (Hypercall::MmuUpdate.raw(), [slot, n, 0, u64::from(DOMID_SELF.0), 0])
            }
        };
        Aimed { call: Call { nr, args }, kind, hostile, status_at }
    }
}

/// The `i16` status a grant operation wrote at `at`.
pub fn status(at: u64) -> i16 {
    let p = core::ptr::with_exposed_provenance::<i16>(usize::try_from(at).unwrap_or(0));
    // SAFETY: `at` is a status field inside an aimed slot of the scratch
    // buffer (see `put`).
    unsafe { p.read_unaligned() }
}

/// The first five words of an aimed structure at `at`, for a message.
pub fn words(at: u64) -> [u64; 5] {
    let mut out = [0u64; 5];
    if at < scratch()
        || at > scratch().wrapping_add((super::SCRATCH_SIZE as u64).saturating_sub(40))
    {
        return out;
    }
    for (i, w) in (0u64..).zip(out.iter_mut()) {
        let p = core::ptr::with_exposed_provenance::<u64>(
            usize::try_from(at.wrapping_add(i.wrapping_mul(8))).unwrap_or(0),
        );
        // SAFETY: checked above: 40 bytes inside the scratch buffer.
        *w = unsafe { p.read_unaligned() };
    }
    out
}
