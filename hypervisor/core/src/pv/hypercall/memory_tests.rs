// SPDX-License-Identifier: GPL-2.0-only
//! Tests of `memory_op` over the fixture guest with a recording allocator.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use alloc::vec::Vec;

use guest_abi::memory::{
    E820_RAM, E820_RESERVED, E820Entry, MEMOP_EXTENT_SHIFT, XENMEMF_populate_on_demand,
    XenMachphysMapping, XenMachphysMfnList, XenMemoryDomain, XenMemoryExchange, XenMemoryMap,
    XenMemoryReservation, xenmemf_address_bits,
};
use guest_abi::xen::{DomId, Errno, MACH2PHYS_VIRT_END, MACH2PHYS_VIRT_START};

use super::memory::memory_op;
use crate::mm::Mfn;
use crate::mm::pv::{INVALID_M2P_ENTRY, M2p, PageType, PhysMem};
use crate::pv::ctx::Ctx;
use crate::pv::platform::{Platform, SegBaseReg};
use crate::pv::test_support::{FakePlatform, Fixture, GUEST_BASE, GUEST_PAGES, frames};

/// Argument struct.
const ARG: u64 = GUEST_BASE + 0x1000;
/// Extent list / buffer.
const LIST: u64 = GUEST_BASE + 0x2000;
/// First frame the allocator hands out; the fixture has 48 frames.
const POOL: u64 = 32;
const POOL_END: u64 = 48;

/// A platform with a bump allocator over [`POOL`, `POOL_END`) that records
/// frees, and a fixed E820 and M2P chunk list; or, with `heap`, the
/// machine's allocator and TLB-flush clock over the same frames.
struct MemPlatform {
    inner: FakePlatform,
    next: u64,
    freed: Vec<Mfn>,
    e820: Vec<E820Entry>,
    chunks: Vec<Mfn>,
    last_below: Option<u64>,
    heap: Option<tlbflush::Heap>,
}

impl MemPlatform {
    fn new() -> Self {
        Self {
            inner: FakePlatform::default(),
            next: POOL,
            freed: Vec::new(),
            e820: alloc::vec![
                E820Entry { addr: 0, size: 0x9_f000, ty: E820_RAM },
                E820Entry { addr: 0xf_0000, size: 0x1_0000, ty: E820_RESERVED },
                E820Entry { addr: 0x10_0000, size: 0x7ff0_0000, ty: E820_RAM },
            ],
            chunks: alloc::vec![Mfn(0x1000), Mfn(0x1200)],
            last_below: None,
            heap: None,
        }
    }
}

impl Platform for MemPlatform {
    fn console_write(&mut self, dom: DomId, bytes: &[u8]) {
        self.inner.console_write(dom, bytes);
    }
    fn console_read(&mut self, buf: &mut [u8]) -> usize {
        self.inner.console_read(buf)
    }
    fn segment_base(&self, reg: SegBaseReg) -> u64 {
        self.inner.segment_base(reg)
    }
    fn set_segment_base(&mut self, reg: SegBaseReg, value: u64) {
        self.inner.set_segment_base(reg, value);
    }
    fn load_cr3(&mut self, l4: Mfn) {
        self.inner.load_cr3(l4);
    }
    fn flush_tlb_local(&mut self) {
        self.inner.flush_tlb_local();
    }
    fn invlpg(&mut self, va: u64) {
        self.inner.invlpg(va);
    }
    fn set_cr0_ts(&mut self, ts: bool) {
        self.inner.set_cr0_ts(ts);
    }
    fn now_ns(&self) -> u64 {
        self.inner.now_ns()
    }
    fn xen_commandline(&self) -> alloc::string::String {
        self.inner.xen_commandline()
    }
    fn alloc_frame(&mut self) -> Option<Mfn> {
        self.alloc_frames(0, None)
    }
    fn alloc_frames(&mut self, order: u32, below: Option<u64>) -> Option<Mfn> {
        self.last_below = below;
        if let Some(heap) = &mut self.heap {
            return heap.alloc(order);
        }
        let n = 1u64 << order;
        let start = self.next.next_multiple_of(n);
        if start + n > POOL_END || below.is_some_and(|b| (start + n) << 12 > b) {
            return None;
        }
        self.next = start + n;
        Some(Mfn(start))
    }
    fn free_frame(&mut self, mfn: Mfn) {
        self.freed.push(mfn);
        if let Some(heap) = &mut self.heap {
            heap.free(mfn);
        }
    }
    fn free_pages(&self) -> u64 {
        POOL_END.saturating_sub(self.next)
    }
    fn machine_memory_map(&self) -> Vec<E820Entry> {
        self.e820.clone()
    }
    fn m2p_chunk_mfns(&self) -> Vec<Mfn> {
        self.chunks.clone()
    }
}

struct T {
    f: Fixture,
    p: MemPlatform,
}

impl T {
    fn new() -> Self {
        let mut f = Fixture::new();
        f.dom.max_pages = 8;
        Self { f, p: MemPlatform::new() }
    }

    fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            dom: &mut self.f.dom,
            vcpu: 0,
            regs: &mut self.f.regs,
            frames: &mut self.f.frames,
            claims: &mut self.f.claims,
            mem: &mut self.f.mem,
            m2p: &mut self.f.m2p,
            hooks: &mut self.f.hooks,
            platform: &mut self.p,
            domains: &mut self.f.domains,
            xsm: &crate::common::xsm::DummyXsm,
            kicked: crate::common::domain_table::KickedDomains::new(),
        }
    }

    fn op(&mut self, cmd: u64, arg: u64) -> Result<i64, Errno> {
        memory_op(&mut self.ctx(), cmd, arg)
    }

    /// `memory_op` through the hypercall dispatcher, as RAX sees it.
    fn hypercall(&mut self, cmd: u64, arg: u64) -> i64 {
        super::encode(super::call(&mut self.ctx(), 12, [cmd, arg, 0, 0, 0, 0], false)) as i64
    }

    fn put<P: bytemuck::Pod>(&mut self, va: u64, v: &P) {
        self.f.poke(va, bytemuck::bytes_of(v));
    }

    fn get<P: bytemuck::Pod>(&self, va: u64) -> P {
        bytemuck::pod_read_unaligned(&self.f.peek(va, core::mem::size_of::<P>()))
    }

    fn list(&mut self, items: &[u64]) {
        self.f.poke(LIST, bytemuck::cast_slice(items));
    }

    fn list_out(&self, n: usize) -> Vec<u64> {
        (0..n).map(|i| self.get::<u64>(LIST + 8 * i as u64)).collect()
    }

    fn reservation(&mut self, cmd: u64, nr: u64, order: u32, flags: u32, domid: DomId) -> i64 {
        let r = XenMemoryReservation::new(LIST, nr, order, flags, domid);
        self.put(ARG, &r);
        self.op(cmd, ARG).unwrap()
    }
}

const INCREASE: u64 = 0;
const DECREASE: u64 = 1;
const POPULATE: u64 = 6;

#[test]
fn dispatch_and_unknown_commands() {
    let mut t = T::new();
    assert_eq!(t.hypercall(2, 0), 48, "maximum_ram_page is max_page");
    let enosys = -i64::from(Errno::ENOSYS.raw());
    // 8 was never reassigned; 63 unknown.
    for cmd in [8, 63] {
        assert_eq!(t.hypercall(cmd, ARG), enosys);
    }
    // A PV domain without a toolstack-set map: -ENOSYS, as in Xen.
    assert_eq!(t.op(9, ARG), Err(Errno::ENOSYS));
}

#[test]
fn reservation_queries() {
    let mut t = T::new();
    t.f.dom.tot_pages = 5;
    t.f.dom.max_pages = 10;
    for id in [DomId::SELF, DomId(0)] {
        t.put(ARG, &XenMemoryDomain { domid: id });
        assert_eq!(t.op(3, ARG), Ok(5));
        assert_eq!(t.op(4, ARG), Ok(10));
    }
    t.put(ARG, &XenMemoryDomain { domid: DomId(7) });
    assert_eq!(t.op(3, ARG), Err(Errno::ESRCH));
    assert_eq!(t.op(4, ARG), Err(Errno::ESRCH));
    assert_eq!(t.op(14, ARG), Err(Errno::ESRCH));
    assert_eq!(t.op(3, 0), Err(Errno::EFAULT));
    assert_eq!(t.op(4, 0xffff_8000_0000_0000), Err(Errno::EFAULT));
}

#[test]
fn maximum_gpfn_comes_from_shared_info() {
    let mut t = T::new();
    t.put(ARG, &XenMemoryDomain { domid: DomId::SELF });
    assert_eq!(t.op(14, ARG), Ok(0), "max_pfn not set yet");
    let si = t.f.dom.shared_info;
    t.f.mem.write_bytes(si, 3088, &0x1234u64.to_le_bytes());
    assert_eq!(t.op(14, ARG), Ok(0x1233));
}

#[test]
fn machine_memory_map() {
    let mut t = T::new();
    t.put(ARG, &XenMemoryMap { nr_entries: 16, pad0: 0, buffer: LIST });
    assert_eq!(t.op(10, ARG), Ok(0));
    assert_eq!(t.get::<XenMemoryMap>(ARG).nr_entries, 3);
    for (i, want) in t.p.e820.clone().iter().enumerate() {
        assert_eq!(t.get::<E820Entry>(LIST + 20 * i as u64), *want);
    }
    // Xen wants room for one more entry than it has.
    t.put(ARG, &XenMemoryMap { nr_entries: 3, pad0: 0, buffer: LIST });
    assert_eq!(t.op(10, ARG), Err(Errno::EINVAL));
    // A NULL buffer asks for the count.
    t.put(ARG, &XenMemoryMap { nr_entries: 0, pad0: 0, buffer: 0 });
    assert_eq!(t.op(10, ARG), Ok(0));
    assert_eq!(t.get::<XenMemoryMap>(ARG).nr_entries, 3);
    // Bad pointers.
    assert_eq!(t.op(10, 0), Err(Errno::EFAULT));
    t.put(ARG, &XenMemoryMap { nr_entries: 16, pad0: 0, buffer: 0x1000 });
    assert_eq!(t.op(10, ARG), Err(Errno::EFAULT));
    // Unprivileged: refused before anything is read.
    t.f.dom.privileged = false;
    assert_eq!(t.op(10, 0), Err(Errno::EPERM));
}

#[test]
fn machphys_mapping_and_mfn_list() {
    let mut t = T::new();
    assert_eq!(t.op(12, ARG), Ok(0));
    let m: XenMachphysMapping = t.get(ARG);
    assert_eq!(m.v_start, MACH2PHYS_VIRT_START);
    assert_eq!(m.v_end, MACH2PHYS_VIRT_END);
    // Xen without memory hotplug: the machine's highest frame.
    assert_eq!(m.max_mfn, t.f.frames.max_page() - 1);
    assert!(m.max_mfn < (MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) / 8);
    assert_eq!(t.op(12, 0x10), Err(Errno::EFAULT));

    let mut l =
        XenMachphysMfnList { max_extents: 1, pad0: 0, extent_start: LIST, nr_extents: 9, pad1: 0 };
    t.list(&[0, 0, 0]);
    t.put(ARG, &l);
    assert_eq!(t.op(5, ARG), Ok(0));
    assert_eq!(t.get::<XenMachphysMfnList>(ARG).nr_extents, 1);
    assert_eq!(t.list_out(2), [0x1000, 0]);
    l.max_extents = 8;
    t.put(ARG, &l);
    assert_eq!(t.op(5, ARG), Ok(0));
    assert_eq!(t.get::<XenMachphysMfnList>(ARG).nr_extents, 2);
    assert_eq!(t.list_out(3), [0x1000, 0x1200, 0]);
    l.extent_start = 0x1000;
    t.put(ARG, &l);
    assert_eq!(t.op(5, ARG), Err(Errno::EFAULT));
    assert_eq!(t.op(5, 0), Err(Errno::EFAULT));
}

#[test]
fn increase_respects_max_pages_and_reports_mfns() {
    let mut t = T::new();
    t.f.dom.max_pages = 3;
    t.list(&[0; 6]);
    assert_eq!(t.reservation(INCREASE, 5, 0, 0, DomId::SELF), 3);
    assert_eq!(t.list_out(4), [32, 33, 34, 0]);
    assert_eq!(t.f.dom.tot_pages, 3);
    for m in 32..35 {
        let info = t.f.frames.info(Mfn(m)).unwrap();
        assert_eq!((info.owner, info.count, info.allocated), (Some(DomId(0)), 1, true));
    }
    assert_eq!(t.f.frames.owner(Mfn(35)), None);
}

#[test]
fn increase_continuation_null_list_and_foreign_domain() {
    let mut t = T::new();
    t.list(&[0; 4]);
    // Restart at extent 2 of 4.
    let r = t.reservation(INCREASE | (2 << MEMOP_EXTENT_SHIFT), 4, 0, 0, DomId::SELF);
    assert_eq!(r, 4);
    assert_eq!(t.list_out(4), [0, 0, 32, 33]);
    // A restart point past the end does nothing.
    assert_eq!(t.reservation(INCREASE | (9 << MEMOP_EXTENT_SHIFT), 4, 0, 0, DomId::SELF), 9);
    // Another domain: nothing done.
    assert_eq!(t.reservation(INCREASE, 2, 0, 0, DomId(3)), 0);
    // A NULL list is allowed for increase_reservation.
    let r = XenMemoryReservation::new(0, 2, 0, 0, DomId::SELF);
    t.put(ARG, &r);
    assert_eq!(t.op(INCREASE, ARG), Ok(2));
    assert_eq!(t.f.dom.tot_pages, 4);
    // An unreadable argument gives the start extent, not -EFAULT.
    assert_eq!(t.op(INCREASE | (1 << MEMOP_EXTENT_SHIFT), 0), Ok(1));
}

#[test]
fn increase_orders_and_address_bits() {
    let mut t = T::new();
    t.list(&[0; 4]);
    // Order 1 for the privileged domain: aligned pairs.
    assert_eq!(t.reservation(INCREASE, 2, 1, 0, DomId::SELF), 2);
    assert_eq!(t.list_out(2), [32, 34]);
    assert_eq!(t.f.dom.tot_pages, 4);
    // Order 1 would exceed max_pages (8) on the third extent.
    assert_eq!(t.reservation(INCREASE, 3, 1, 0, DomId::SELF), 2);
    assert_eq!(t.f.dom.tot_pages, 8);
    // Orders above Xen 4.17's max_order do nothing: MAX_ORDER (18) for the
    // control domain, 9 for a domU.
    t.f.dom.max_pages = 1 << 30;
    assert_eq!(t.reservation(INCREASE, 1, 21, 0, DomId::SELF), 0);
    assert_eq!(t.reservation(INCREASE, 1, 19, 0, DomId::SELF), 0);
    t.f.dom.privileged = false;
    assert_eq!(t.reservation(INCREASE, 1, 10, 0, DomId::SELF), 0);
    // address_bits <= PAGE_SHIFT: nothing; a real limit (below the 48-frame
    // machine's 18 bits) reaches the allocator, which cannot meet it here.
    assert_eq!(t.reservation(INCREASE, 1, 0, xenmemf_address_bits(12), DomId::SELF), 0);
    assert_eq!(t.reservation(INCREASE, 1, 0, xenmemf_address_bits(17), DomId::SELF), 0);
    assert_eq!(t.p.last_below, Some(1 << 17));
    // A limit covering the whole machine is no limit.
    assert_eq!(t.reservation(INCREASE, 1, 0, xenmemf_address_bits(18), DomId::SELF), 1);
    assert_eq!(t.list_out(1), [40]);
    assert_eq!(t.p.last_below, None);
}

#[test]
fn decrease_releases_scrubs_and_frees() {
    let mut t = T::new();
    t.list(&[0; 3]);
    assert_eq!(t.reservation(INCREASE, 3, 0, 0, DomId::SELF), 3);
    for m in 32..35 {
        t.f.m2p.set_gpfn_from_mfn(Mfn(m), m - 30);
        t.f.mem.write_u64(Mfn(m), 7, 0xdead_beef);
    }
    t.list(&[33, 32]);
    assert_eq!(t.reservation(DECREASE, 2, 0, 0, DomId::SELF), 2);
    assert_eq!(t.f.dom.tot_pages, 1);
    // Through `free_frame`, which stamps them for the flush before reuse.
    assert_eq!(t.p.freed, [Mfn(33), Mfn(32)]);
    for m in [32, 33] {
        assert_eq!(t.f.frames.owner(Mfn(m)), None);
        assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(m)), INVALID_M2P_ENTRY);
        assert_eq!(t.f.mem.read_u64(Mfn(m), 7), 0, "scrubbed");
    }
    // The third frame is untouched.
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(34)), 4);
    assert_eq!(t.f.mem.read_u64(Mfn(34), 7), 0xdead_beef);
    assert!(t.f.frames.take_freed().is_empty());
    // Releasing again (now free) stops at once.
    t.list(&[33]);
    assert_eq!(t.reservation(DECREASE, 1, 0, 0, DomId::SELF), 0);
}

#[test]
fn decrease_refuses_frames_in_use_or_not_owned() {
    let mut t = T::new();
    t.list(&[0; 4]);
    assert_eq!(t.reservation(INCREASE, 4, 0, 0, DomId::SELF), 4);
    // 32: extra general reference (a mapping); 33: an L1 page table;
    // 40: not allocated; 0x10_0000: outside the machine.
    assert!(t.f.frames.get_page(Mfn(32), DomId(0)));
    assert!(t.f.frames.get_page(Mfn(33), DomId(0)));
    t.ctx().mm().get_page_type(Mfn(33), PageType::L1).unwrap();
    for bad in [32, 33, 40, 0x10_0000] {
        t.list(&[34, bad, 35]);
        assert_eq!(t.reservation(DECREASE, 3, 0, 0, DomId::SELF), 1, "frame {bad:#x}");
        // The next round restarts at the bad one; 34 is gone already.
        t.f.frames.assign(Mfn(34), DomId(0)).unwrap_or(());
        t.f.dom.tot_pages += 1;
    }
    assert_eq!(t.f.frames.info(Mfn(33)).unwrap().type_info.ty, PageType::L1);
    assert_eq!(t.f.frames.info(Mfn(32)).unwrap().count, 2);
    // Shared-info and grant frames are the hypervisor's to free.
    let si = t.f.dom.shared_info;
    t.f.frames.assign(si, DomId(0)).unwrap();
    t.f.frames.assign(Mfn(41), DomId(0)).unwrap();
    t.f.dom.grant_frames.push(Mfn(41));
    for special in [si.0, 41] {
        t.list(&[special]);
        assert_eq!(t.reservation(DECREASE, 1, 0, 0, DomId::SELF), 0);
    }
    // Foreign domain and unreadable list.
    t.list(&[35]);
    assert_eq!(t.reservation(DECREASE, 1, 0, 0, DomId(9)), 0);
    let r = XenMemoryReservation::new(0, 1, 0, 0, DomId::SELF);
    t.put(ARG, &r);
    assert_eq!(t.op(DECREASE, ARG), Ok(0));
    assert_eq!(t.f.frames.owner(Mfn(35)), Some(DomId(0)));
}

#[test]
fn decrease_order_one() {
    let mut t = T::new();
    t.list(&[0; 2]);
    assert_eq!(t.reservation(INCREASE, 2, 1, 0, DomId::SELF), 2);
    assert_eq!(t.list_out(2), [32, 34]);
    t.list(&[34]);
    assert_eq!(t.reservation(DECREASE, 1, 1, 0, DomId::SELF), 1);
    assert_eq!(t.p.freed, [Mfn(34), Mfn(35)]);
    assert_eq!(t.f.dom.tot_pages, 2);
}

#[test]
fn populate_physmap_sets_the_m2p() {
    let mut t = T::new();
    t.list(&[0x700, 0x900, 0xa00]);
    t.f.dom.max_pages = 2;
    assert_eq!(t.reservation(POPULATE, 3, 0, 0, DomId::SELF), 2);
    assert_eq!(t.list_out(3), [32, 33, 0xa00]);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(32)), 0x700);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(33)), 0x900);
    assert_eq!(t.f.frames.owner(Mfn(33)), Some(DomId(0)));
    // Order 1: consecutive GPFNs.
    t.f.dom.max_pages = 8;
    t.list(&[0x10]);
    assert_eq!(t.reservation(POPULATE, 1, 1, 0, DomId::SELF), 1);
    assert_eq!(t.list_out(1), [34]);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(35)), 0x11);
    // Populate-on-demand needs a translated guest; a NULL list faults.
    assert_eq!(t.reservation(POPULATE, 1, 0, XENMEMF_populate_on_demand, DomId::SELF), 0);
    let r = XenMemoryReservation::new(0, 1, 0, 0, DomId::SELF);
    t.put(ARG, &r);
    assert_eq!(t.op(POPULATE, ARG), Ok(0));
    assert_eq!(t.f.dom.tot_pages, 4);
}

#[test]
fn increase_then_decrease_round_trip_keeps_the_pool() {
    let mut t = T::new();
    t.list(&[0; 8]);
    assert_eq!(t.reservation(INCREASE, 8, 0, 0, DomId::SELF), 8);
    let got = t.list_out(8);
    t.list(&got);
    assert_eq!(t.reservation(DECREASE, 8, 0, 0, DomId::SELF), 8);
    assert_eq!(t.f.dom.tot_pages, 0);
    assert_eq!(t.p.freed.iter().map(|m| m.0).collect::<Vec<_>>(), got);
    assert!(t.f.frames.iter().all(|(_, p)| p.owner.is_none()));
}

/// Output extent list of an exchange.
const OUT_LIST: u64 = GUEST_BASE + 0x3000;
const EXCHANGE: u64 = 11;

fn res(list: u64, nr: u64, order: u32, flags: u32, domid: DomId) -> XenMemoryReservation {
    XenMemoryReservation::new(list, nr, order, flags, domid)
}

impl T {
    /// `XENMEM_exchange` of the extents in `LIST` for ones at the GPFNs in
    /// `OUT_LIST`; returns the result and `nr_exchanged` read back.
    fn exchange(
        &mut self,
        input: XenMemoryReservation,
        output: XenMemoryReservation,
        nr_exchanged: u64,
    ) -> (Result<i64, Errno>, u64) {
        self.put(ARG, &XenMemoryExchange { input, output, nr_exchanged });
        let r = self.op(EXCHANGE, ARG);
        (r, self.get::<XenMemoryExchange>(ARG).nr_exchanged)
    }

    fn out_list(&mut self, items: &[u64]) {
        self.f.poke(OUT_LIST, bytemuck::cast_slice(items));
    }

    fn out_list_out(&self, n: usize) -> Vec<u64> {
        (0..n).map(|i| self.get::<u64>(OUT_LIST + 8 * i as u64)).collect()
    }

    /// Populates `gpfns` (order 0) and marks each frame's contents.
    fn populate(&mut self, gpfns: &[u64]) -> Vec<u64> {
        self.list(gpfns);
        let n = gpfns.len();
        assert_eq!(self.reservation(POPULATE, n as u64, 0, 0, DomId::SELF), n as i64);
        let mfns = self.list_out(n);
        for &m in &mfns {
            self.f.mem.write_u64(Mfn(m), 5, 0xdead_beef);
        }
        mfns
    }

    fn owned(&self, mfn: u64) -> bool {
        self.f.frames.owner(Mfn(mfn)) == Some(DomId(0))
    }
}

#[test]
fn exchange_two_pages_for_one_contiguous_pair() {
    let mut t = T::new();
    t.populate(&[0x10, 0x11, 0x12]);
    t.list(&[33, 32]);
    t.out_list(&[0x10]);
    let (r, done) = t.exchange(
        res(LIST, 2, 0, 0, DomId::SELF),
        res(OUT_LIST, 1, 1, xenmemf_address_bits(32), DomId::SELF),
        0,
    );
    assert_eq!((r, done), (Ok(0), 2));
    // Frames 36 and 37 (the next aligned pair; a 32-bit limit is none on
    // this 48-frame machine), MFN reported, M2P set for both.
    assert_eq!(t.out_list_out(1), [36]);
    assert_eq!(t.p.last_below, None);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(36)), 0x10);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(37)), 0x11);
    assert!(t.owned(34) && t.owned(36) && t.owned(37));
    assert_eq!(t.f.mem.read_u64(Mfn(36), 5), 0, "new frames are zeroed");
    // The old frames are gone: scrubbed, out of the M2P, freed (stamped
    // for the flush before reuse).
    assert_eq!(t.p.freed, [Mfn(33), Mfn(32)]);
    for m in [32, 33] {
        assert_eq!(t.f.frames.owner(Mfn(m)), None);
        assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(m)), INVALID_M2P_ENTRY);
        assert_eq!(t.f.mem.read_u64(Mfn(m), 5), 0, "scrubbed");
    }
    // The third frame is untouched; the total is unchanged.
    assert_eq!(t.f.mem.read_u64(Mfn(34), 5), 0xdead_beef);
    assert_eq!(t.f.dom.tot_pages, 3);
    assert!(t.f.frames.take_freed().is_empty());
}

#[test]
fn exchange_one_pair_for_two_pages_and_address_limit() {
    let mut t = T::new();
    t.list(&[0x20]);
    assert_eq!(t.reservation(POPULATE, 1, 1, 0, DomId::SELF), 1);
    assert_eq!(t.list_out(1), [32]);
    // Xen's xen_destroy_contiguous_region: one order-1 extent in, two
    // order-0 out.
    t.list(&[32]);
    t.out_list(&[0x20, 0x21]);
    let (r, done) = t.exchange(res(LIST, 1, 1, 0, DomId(0)), res(OUT_LIST, 2, 0, 0, DomId(0)), 0);
    assert_eq!((r, done), (Ok(0), 1));
    assert_eq!(t.out_list_out(2), [34, 35]);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(35)), 0x21);
    assert_eq!(t.p.freed, [Mfn(32), Mfn(33)]);
    assert_eq!(t.f.dom.tot_pages, 2);
    // A limit the allocator cannot meet: -ENOMEM, nothing changed. Limits
    // at or below a page are not refused up front (the allocation fails).
    for bits in [17, 12, 1] {
        t.list(&[34, 35]);
        let (r, done) = t.exchange(
            res(LIST, 2, 0, 0, DomId::SELF),
            res(OUT_LIST, 1, 1, xenmemf_address_bits(bits), DomId::SELF),
            0,
        );
        assert_eq!((r, done), (Err(Errno::ENOMEM), 0), "bits {bits}");
        assert_eq!(t.p.last_below, Some(1 << bits));
        assert!(t.owned(34) && t.owned(35));
        assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(34)), 0x20);
    }
    assert_eq!(t.p.freed.len(), 2);
}

#[test]
fn exchange_argument_checks() {
    let mut t = T::new();
    t.populate(&[1, 2]);
    t.list(&[32, 33]);
    t.out_list(&[1]);
    let i = res(LIST, 2, 0, 0, DomId::SELF);
    let o = res(OUT_LIST, 1, 1, 0, DomId::SELF);
    let einval = (Err(Errno::EINVAL), 0);
    // Restart point past the end (written back as it was).
    assert_eq!(t.exchange(i, o, 3), (Err(Errno::EINVAL), 3));
    // Domain ids differ (even if both name the caller).
    assert_eq!(t.exchange(i, res(OUT_LIST, 1, 1, 0, DomId(0)), 0), einval);
    // Orders beyond the caller's max_order (MAX_ORDER for the control
    // domain), on either side: -EPERM, checked first (Xen 4.17).
    let eperm = (Err(Errno::EPERM), 0);
    assert_eq!(
        t.exchange(res(LIST, 2, 21, 0, DomId::SELF), res(OUT_LIST, 2, 21, 0, DomId::SELF), 0),
        eperm
    );
    assert_eq!(
        t.exchange(res(LIST, 1 << 19, 0, 0, DomId::SELF), res(OUT_LIST, 1, 19, 0, DomId::SELF), 0),
        eperm
    );
    // ... before the restart point is looked at (written back as it was).
    assert_eq!(t.exchange(res(LIST, 2, 19, 0, DomId::SELF), o, 5), (Err(Errno::EPERM), 5));
    // Sizes differ, or overflow.
    assert_eq!(t.exchange(i, res(OUT_LIST, 2, 1, 0, DomId::SELF), 0), einval);
    assert_eq!(t.exchange(i, res(OUT_LIST, 1, 0, 0, DomId::SELF), 0), einval);
    let huge = u64::MAX / 2 + 1;
    assert_eq!(
        t.exchange(res(LIST, huge, 1, 0, DomId::SELF), res(OUT_LIST, huge, 1, 0, DomId::SELF), 0),
        einval
    );
    // Lists outside guest space.
    let bad = 0xffff_8000_0000_0000;
    assert_eq!(t.exchange(res(bad, 2, 0, 0, DomId::SELF), o, 0), (Err(Errno::EFAULT), 0));
    assert_eq!(t.exchange(i, res(bad, 1, 1, 0, DomId::SELF), 0), (Err(Errno::EFAULT), 0));
    // Another domain.
    let other = (res(LIST, 2, 0, 0, DomId(7)), res(OUT_LIST, 1, 1, 0, DomId(7)));
    assert_eq!(t.exchange(other.0, other.1, 0), (Err(Errno::ESRCH), 0));
    // Unreadable argument: -EFAULT, nothing written.
    assert_eq!(t.op(EXCHANGE, 0), Err(Errno::EFAULT));
    assert_eq!(t.op(EXCHANGE, GUEST_BASE + GUEST_PAGES * 4096), Err(Errno::EFAULT));
    // A domU's max_order is 9; order 0 both ways is always fine.
    t.f.dom.privileged = false;
    let big = res(OUT_LIST, 1, 10, 0, DomId::SELF);
    assert_eq!(t.exchange(res(LIST, 1 << 10, 0, 0, DomId::SELF), big, 0), (Err(Errno::EPERM), 0));
    t.list(&[33]);
    t.out_list(&[7]);
    let one = |l| res(l, 1, 0, 0, DomId::SELF);
    assert_eq!(t.exchange(one(LIST), one(OUT_LIST), 0), (Ok(0), 1));
    assert_eq!(t.out_list_out(1), [34]);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(34)), 7);
    assert!(t.owned(32) && !t.owned(33) && t.owned(34));
    // Nothing to do: fine.
    assert_eq!(
        t.exchange(res(0, 0, 0, 0, DomId::SELF), res(0, 0, 0, 0, DomId::SELF), 0),
        (Ok(0), 0)
    );
}

#[test]
fn exchange_refuses_frames_it_cannot_take() {
    let mut t = T::new();
    t.populate(&[1, 2, 3, 4]);
    // 32: extra reference; 33: an L1 table; 40: not allocated; shared
    // info; a frame outside the machine; a frame named twice.
    assert!(t.f.frames.get_page(Mfn(32), DomId(0)));
    assert!(t.f.frames.get_page(Mfn(33), DomId(0)));
    t.f.mem.write_u64(Mfn(33), 5, 0);
    t.ctx().mm().get_page_type(Mfn(33), PageType::L1).unwrap();
    let si = t.f.dom.shared_info.0;
    t.f.frames.assign(Mfn(si), DomId(0)).unwrap();
    t.out_list(&[1]);
    for pair in [[34, 32], [33, 35], [40, 34], [si, 35], [0x10_0000, 34], [34, 34], [u64::MAX, 0]] {
        t.list(&pair);
        let (r, done) =
            t.exchange(res(LIST, 2, 0, 0, DomId::SELF), res(OUT_LIST, 1, 1, 0, DomId::SELF), 0);
        assert_eq!((r, done), (Err(Errno::EINVAL), 0), "{pair:x?}");
    }
    // An order-1 input extent running past the machine.
    t.list(&[47]);
    let (r, _) =
        t.exchange(res(LIST, 1, 1, 0, DomId::SELF), res(OUT_LIST, 2, 0, 0, DomId::SELF), 0);
    assert_eq!(r, Err(Errno::EINVAL));
    // Nothing moved, nothing allocated or freed.
    assert!((32..36).all(|m| t.owned(m)));
    assert!(t.p.freed.is_empty());
    assert_eq!(t.f.frames.info(Mfn(33)).unwrap().type_info.ty, PageType::L1);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(34)), 3);
    assert_eq!(t.f.mem.read_u64(Mfn(34), 5), 0xdead_beef);
    assert_eq!(t.f.dom.tot_pages, 4);
}

#[test]
fn exchange_partial_progress_and_restart() {
    let mut t = T::new();
    let m = t.populate(&[1, 2, 3, 4]);
    assert_eq!(m, [32, 33, 34, 35]);
    // Four pages for two pairs; the second chunk names a foreign frame.
    t.list(&[32, 33, 34, 40]);
    t.out_list(&[0x100, 0x102]);
    let i = res(LIST, 4, 0, 0, DomId::SELF);
    let o = res(OUT_LIST, 2, 1, 0, DomId::SELF);
    assert_eq!(t.exchange(i, o, 0), (Err(Errno::EINVAL), 2));
    assert_eq!(t.out_list_out(2), [36, 0x102]);
    assert!(!t.owned(32) && !t.owned(33) && t.owned(34) && t.owned(36) && t.owned(37));
    // The guest fixes the list and replays from nr_exchanged.
    t.list(&[32, 33, 34, 35]);
    assert_eq!(t.exchange(i, o, 2), (Ok(0), 4));
    assert_eq!(t.out_list_out(2), [36, 38]);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(39)), 0x103);
    assert_eq!(t.p.freed, [Mfn(32), Mfn(33), Mfn(34), Mfn(35)]);
    assert_eq!(t.f.dom.tot_pages, 4);
    // Already all done: nothing happens.
    assert_eq!(t.exchange(i, o, 4), (Ok(0), 4));
}

#[test]
fn exchange_unreadable_input_and_allocation_failure() {
    let mut t = T::new();
    t.populate(&[1, 2]);
    t.out_list(&[0; 4]);
    // An input list entry on an unmapped page.
    let unmapped = GUEST_BASE + GUEST_PAGES * 4096;
    let (r, done) =
        t.exchange(res(unmapped, 1, 0, 0, DomId::SELF), res(OUT_LIST, 1, 0, 0, DomId::SELF), 0);
    assert_eq!((r, done), (Err(Errno::EFAULT), 0));
    // One pair for two pages when one frame is left: the frame allocated
    // for the chunk goes back unused, the pair stays.
    t.p.next = 47;
    t.list(&[32]);
    let (r, done) =
        t.exchange(res(LIST, 1, 1, 0, DomId::SELF), res(OUT_LIST, 2, 0, 0, DomId::SELF), 0);
    assert_eq!((r, done), (Err(Errno::ENOMEM), 0));
    assert_eq!(t.p.freed, [Mfn(47)]);
    assert_eq!(t.f.frames.owner(Mfn(47)), None);
    assert!(t.owned(32) && t.owned(33));
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(33)), 2);
    assert_eq!(t.out_list_out(2), [0, 0]);
    assert_eq!(t.f.dom.tot_pages, 2);
}

#[test]
fn exchange_output_list_faults_are_reported_late() {
    let mut t = T::new();
    t.populate(&[1, 2]);
    // The output list page is read-only: the exchange happens, the MFN
    // cannot be reported, -EFAULT with everything exchanged (as Xen).
    let page = (OUT_LIST - GUEST_BASE) / 4096;
    t.out_list(&[0x50]);
    let ro = ((frames::DATA + page) << 12) | 0x5; // present, user
    t.f.mem.write_u64(frames::L1, page as usize, ro);
    t.list(&[32, 33]);
    let (r, done) =
        t.exchange(res(LIST, 2, 0, 0, DomId::SELF), res(OUT_LIST, 1, 1, 0, DomId::SELF), 0);
    assert_eq!((r, done), (Err(Errno::EFAULT), 2));
    assert!(t.owned(34) && t.owned(35) && !t.owned(32));
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(35)), 0x51);
    assert_eq!(t.out_list_out(1), [0x50]);
    // The argument itself read-only: nr_exchanged cannot be written back.
    let arg_page = (ARG - GUEST_BASE) / 4096;
    t.list(&[34, 35]);
    t.out_list(&[]);
    t.put(
        ARG,
        &XenMemoryExchange {
            input: res(LIST, 2, 0, 0, DomId::SELF),
            output: res(LIST, 2, 0, 0, DomId::SELF),
            nr_exchanged: 0,
        },
    );
    t.f.mem.write_u64(frames::L1, arg_page as usize, ((frames::DATA + arg_page) << 12) | 0x5);
    assert_eq!(t.op(EXCHANGE, ARG), Err(Errno::EFAULT));
    // The exchange itself went through (in place: the list is both).
    assert!(!t.owned(34) && !t.owned(35));
    assert_eq!(t.list_out(2), [36, 37]);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(36)), 34);
}

/// Adds domain `id` (unprivileged, `max_pages` 4) to the fixture's table.
fn add_domu(t: &mut T, id: u16) -> crate::common::domain_table::DomainRef {
    let mut d = crate::common::domain::Domain::new(DomId(id), false, Mfn(47));
    d.max_pages = 4;
    t.f.domains.insert(d).unwrap()
}

#[test]
fn the_privileged_domain_populates_queries_and_shrinks_another() {
    let mut t = T::new();
    let du = add_domu(&mut t, 3);
    t.list(&[0x100, 0x101, 0x102, 0, 0, 0]);
    assert_eq!(t.reservation(POPULATE, 3, 0, 0, DomId(3)), 3);
    assert_eq!(t.list_out(3), [32, 33, 34]);
    assert_eq!(du.lock().tot_pages, 3);
    assert_eq!(t.f.dom.tot_pages, 0, "the caller's own count is untouched");
    for (m, gpfn) in [(32, 0x100), (33, 0x101), (34, 0x102)] {
        assert_eq!(t.f.frames.owner(Mfn(m)), Some(DomId(3)));
        assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(m)), gpfn);
    }
    // The target's max_pages bounds it: one more fits, then nothing.
    t.list(&[0x103, 0x104]);
    assert_eq!(t.reservation(POPULATE, 2, 0, 0, DomId(3)), 1);
    t.put(ARG, &XenMemoryDomain { domid: DomId(3) });
    assert_eq!(t.op(3, ARG), Ok(4), "current_reservation of d3");
    assert_eq!(t.op(4, ARG), Ok(4), "maximum_reservation of d3");
    // Shrinking it gives the frame back, scrubbed and out of the M2P.
    t.list(&[33]);
    assert_eq!(t.reservation(DECREASE, 1, 0, 0, DomId(3)), 1);
    assert_eq!(du.lock().tot_pages, 3);
    assert_eq!(t.p.freed, [Mfn(33)]);
    assert_eq!(t.f.frames.owner(Mfn(33)), None);
    assert_eq!(t.f.m2p.get_gpfn_from_mfn(Mfn(33)), INVALID_M2P_ENTRY);
    // The caller's own frames cannot be released as the target's.
    t.f.frames.assign(Mfn(40), DomId(0)).unwrap();
    t.list(&[40]);
    assert_eq!(t.reservation(DECREASE, 1, 0, 0, DomId(3)), 0);
    assert_eq!(t.f.frames.owner(Mfn(40)), Some(DomId(0)));
}

#[test]
fn an_unprivileged_domain_reaches_no_other_domain() {
    let mut t = T::new();
    t.f.dom.privileged = false;
    let du = add_domu(&mut t, 3);
    t.list(&[0x100]);
    assert_eq!(t.reservation(POPULATE, 1, 0, 0, DomId(3)), 0);
    assert_eq!(t.reservation(INCREASE, 1, 0, 0, DomId(3)), 0);
    assert_eq!(du.lock().tot_pages, 0);
    t.put(ARG, &XenMemoryDomain { domid: DomId(3) });
    assert_eq!(t.op(3, ARG), Err(Errno::EPERM));
    assert_eq!(t.op(14, ARG), Err(Errno::EPERM));
    let x = t.exchange(res(LIST, 1, 0, 0, DomId(3)), res(OUT_LIST, 1, 0, 0, DomId(3)), 0);
    assert_eq!(x, (Err(Errno::EPERM), 0));
    // Its own domain is still its own.
    t.put(ARG, &XenMemoryDomain { domid: DomId(0) });
    assert_eq!(t.op(3, ARG), Ok(0));
    // A domain that does not exist is ESRCH for it too.
    t.put(ARG, &XenMemoryDomain { domid: DomId(9) });
    assert_eq!(t.op(3, ARG), Err(Errno::ESRCH));
}

#[test]
fn a_dying_domain_gets_no_memory() {
    let mut t = T::new();
    let du = add_domu(&mut t, 3);
    du.lock().dying = crate::common::domain::Dying::Dying;
    t.list(&[0x100]);
    assert_eq!(t.reservation(POPULATE, 1, 0, 0, DomId(3)), 0);
    assert_eq!(du.lock().tot_pages, 0);
}

mod claims;
mod tlbflush;
