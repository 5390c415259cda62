// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of `HYPERVISOR_domctl` over the PV fixture: the caller is the
//! fixture's dom0 (id 0, privileged), envelopes and buffers live in its
//! mapped guest area, and the fake platform hands out frames from a pool
//! that freed frames go back to.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

mod lifecycle;
mod misc;
mod vcpu;

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use guest_abi::domctl::{
    DomctlCmd, XenDomctl, XenDomctlCreatedomain, XenDomctlGetdomaininfo, xen_domctl_grant_version,
};
use guest_abi::xen::{DomId, Errno, MmuextCmd, MmuextOp};

use super::do_domctl;
use crate::common::domain::Domain;
use crate::mm::Mfn;
use crate::mm::pv::types::{PAGE_PRESENT, PAGE_RW, PAGE_USER, pte_from_mfn};
use crate::mm::pv::{FrameTable, M2p, M2pTable, PageInfo, PhysMem, PvMm};
use crate::pv::test_support::{Fixture, GUEST_BASE, GUEST_PAGES};

/// Frames of the machine: the fixture's 48, then the allocator's pool.
pub(super) const NR_FRAMES: u64 = 160;
/// First frame of the pool.
pub(super) const POOL_START: u64 = 64;

/// Where the envelope goes in the caller's memory.
pub(super) const ARG: u64 = GUEST_BASE;
/// A scratch buffer (one page).
pub(super) const BUF: u64 = GUEST_BASE + 0x1000;
/// Room for a `vcpu_guest_context` (two pages).
pub(super) const CTXT: u64 = GUEST_BASE + 0x2000;
/// The first address past the caller's mapped area.
pub(super) const UNMAPPED: u64 = GUEST_BASE + GUEST_PAGES * 4096;

/// The fixture with a bigger machine and a recycling frame pool.
pub(super) fn fixture() -> Fixture {
    let mut f = Fixture::new();
    for m in 0..NR_FRAMES {
        f.mem.add_frame(Mfn(m));
    }
    f.frames = FrameTable::new(NR_FRAMES);
    f.m2p = M2pTable::new(NR_FRAMES);
    f.platform.pool = (POOL_START..NR_FRAMES).rev().map(Mfn).collect();
    f.platform.recycle = true;
    f.platform.host.nr_cpus = 4;
    f.platform.host.threads_per_core = 1;
    f.platform.host.cores_per_socket = 4;
    f
}

/// Runs `op` from the fixture's dom0; returns the result and the envelope
/// as the caller sees it afterwards.
pub(super) fn domctl(f: &mut Fixture, op: &XenDomctl) -> (Result<i64, Errno>, XenDomctl) {
    f.poke(ARG, bytemuck::bytes_of(op));
    let r = do_domctl(&mut f.ctx(), ARG);
    let back = bytemuck::pod_read_unaligned(&f.peek(ARG, core::mem::size_of::<XenDomctl>()));
    (r, back)
}

/// An envelope for `cmd` on `dom` with `payload`.
pub(super) fn env<T: guest_abi::AbiBytes>(cmd: DomctlCmd, dom: u16, payload: &T) -> XenDomctl {
    XenDomctl::with_payload(cmd, DomId(dom), payload).unwrap()
}

/// A payload-less envelope.
pub(super) fn bare(cmd: DomctlCmd, dom: u16) -> XenDomctl {
    XenDomctl::new(cmd, DomId(dom))
}

/// A valid PV configuration with `vcpus` vCPUs.
pub(super) fn config(vcpus: u32) -> XenDomctlCreatedomain {
    let mut c: XenDomctlCreatedomain = bytemuck::Zeroable::zeroed();
    c.max_vcpus = vcpus;
    c.max_evtchn_port = 1023;
    c.max_grant_frames = -1;
    c.max_maptrack_frames = -1;
    c.grant_opts = xen_domctl_grant_version(1);
    c.ssidref = 7;
    c.handle.0 = [0xab; 16];
    c
}

/// Creates a domain (`want` 0: any id) and its vCPUs (`createdomain`,
/// then `max_vcpus`, as a toolstack does) and returns its id.
pub(super) fn create(f: &mut Fixture, want: u16, vcpus: u32) -> DomId {
    let (r, back) = domctl(f, &env(DomctlCmd::Createdomain, want, &config(vcpus)));
    assert_eq!(r, Ok(0));
    let max = guest_abi::domctl::XenDomctlMaxVcpus { max: vcpus };
    let (r, _) = domctl(f, &env(DomctlCmd::MaxVcpus, back.domain.0, &max));
    assert_eq!(r, Ok(0));
    back.domain
}

/// `getdomaininfo` of `dom` (or the next one).
pub(super) fn info(f: &mut Fixture, dom: u16) -> Result<XenDomctlGetdomaininfo, Errno> {
    let (r, back) = domctl(f, &bare(DomctlCmd::Getdomaininfo, dom));
    r.map(|_| back.payload().unwrap())
}

/// Runs `g` on domain `id` of the table.
pub(super) fn with_dom<R>(f: &Fixture, id: DomId, g: impl FnOnce(&mut Domain) -> R) -> R {
    let cell = f.domains.get(id).unwrap();
    let mut d = cell.lock();
    g(&mut d)
}

/// The frames `dom` owns.
pub(super) fn owned(f: &Fixture, dom: DomId) -> BTreeSet<Mfn> {
    f.frames.iter().filter(|(_, p)| p.owner == Some(dom)).map(|(m, _)| m).collect()
}

/// The state of every frame, for before/after comparisons.
pub(super) fn snapshot(f: &Fixture) -> Vec<PageInfo> {
    f.frames.iter().map(|(_, p)| *p).collect()
}

/// The pool as a set.
pub(super) fn pool(f: &Fixture) -> BTreeSet<Mfn> {
    f.platform.pool.iter().copied().collect()
}

/// A present entry.
pub(super) fn pte(mfn: Mfn, rw: bool) -> u64 {
    let flags = PAGE_PRESENT | PAGE_USER | if rw { PAGE_RW } else { 0 };
    pte_from_mfn(mfn, flags)
}

/// What [`populate`] built for a domain.
pub(super) struct Built {
    /// L4, L3, L2, L1.
    pub tables: [Mfn; 4],
    /// Data frames mapped writable.
    pub data: Vec<Mfn>,
    /// A frame for a GDT page (not mapped).
    pub gdt: Mfn,
    /// A frame for `vcpu_info` (mapped writable as data).
    pub spare: Mfn,
}

/// Gives domain `id` `n` frames from the pool as a domain builder would
/// (allocation, M2P), builds a 4-level table mapping the data frames,
/// pins the L4 with `mmuext_op` and installs it as vCPU 0's base pointer
/// (`MMUEXT_NEW_BASEPTR`).
pub(super) fn populate(f: &mut Fixture, id: DomId, n: usize) -> Built {
    assert!(n >= 8);
    let mut frames = Vec::new();
    for i in 0..n {
        let m = f.platform.pool.pop().unwrap();
        f.frames.assign(m, id).unwrap();
        f.m2p.set_gpfn_from_mfn(m, i as u64);
        frames.push(m);
    }
    with_dom(f, id, |d| {
        d.max_pages = 1 << 20;
        d.tot_pages = n as u64;
    });
    let tables = [frames[0], frames[1], frames[2], frames[3]];
    let gdt = frames[4];
    let spare = frames[5];
    let data: Vec<Mfn> = frames[6..].to_vec();
    for m in &frames {
        f.mem.zero_frame(*m);
    }
    f.mem.write_u64(tables[0], 0, pte(tables[1], true));
    // A linear (read-only, same-level) entry: the L4 maps itself.
    f.mem.write_u64(tables[0], 1, pte(tables[0], false));
    f.mem.write_u64(tables[1], 0, pte(tables[2], true));
    f.mem.write_u64(tables[2], 0, pte(tables[3], true));
    for (i, m) in data.iter().enumerate() {
        f.mem.write_u64(tables[3], i, pte(*m, i % 2 == 0));
    }
    f.mem.write_u64(tables[3], 100, pte(spare, true));
    let cell = f.domains.get(id).unwrap();
    let mut d = cell.lock();
    let v = &mut d.vcpus[0];
    let ops = [
        MmuextOp::new(MmuextCmd::PinL4Table, tables[0].0, 0),
        MmuextOp::new(MmuextCmd::PinL1Table, tables[3].0, 0),
        MmuextOp::new(MmuextCmd::NewBaseptr, tables[0].0, 0),
    ];
    let mut effects = Vec::new();
    let mut mm = PvMm::new(&mut f.frames, &mut f.mem, &mut f.m2p, &mut f.hooks);
    let (done, r) = mm.do_mmuext_op(id, &ops, &mut v.arch.tables, &mut effects);
    assert_eq!((done, r), (3, Ok(())));
    drop(d);
    Built { tables, data, gdt, spare }
}
