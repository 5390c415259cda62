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
    XenMachphysMapping, XenMachphysMfnList, XenMemoryDomain, XenMemoryMap, XenMemoryReservation,
    xenmemf_address_bits,
};
use guest_abi::xen::{DomId, Errno, MACH2PHYS_VIRT_END, MACH2PHYS_VIRT_START};

use super::memory::memory_op;
use crate::mm::Mfn;
use crate::mm::pv::{INVALID_M2P_ENTRY, M2p, PageType, PhysMem};
use crate::pv::ctx::Ctx;
use crate::pv::platform::{Platform, SegBaseReg};
use crate::pv::test_support::{FakePlatform, Fixture, GUEST_BASE};

/// Argument struct.
const ARG: u64 = GUEST_BASE + 0x1000;
/// Extent list / buffer.
const LIST: u64 = GUEST_BASE + 0x2000;
/// First frame the allocator hands out; the fixture has 48 frames.
const POOL: u64 = 32;
const POOL_END: u64 = 48;

/// A platform with a bump allocator over [`POOL`, `POOL_END`) that records
/// frees, and a fixed E820 and M2P chunk list.
struct MemPlatform {
    inner: FakePlatform,
    next: u64,
    freed: Vec<Mfn>,
    e820: Vec<E820Entry>,
    chunks: Vec<Mfn>,
    last_below: Option<u64>,
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
            mem: &mut self.f.mem,
            m2p: &mut self.f.m2p,
            hooks: &mut self.f.hooks,
            platform: &mut self.p,
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
        let r = XenMemoryReservation {
            extent_start: LIST,
            nr_extents: nr,
            extent_order: order,
            mem_flags: flags,
            domid,
            pad0: [0; 3],
        };
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
    // 8 was never reassigned; 11 (exchange) is not implemented; 63 unknown.
    for cmd in [8, 11, 63] {
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
    assert_eq!(m.max_mfn, (MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) / 8 - 1);
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
    let r = XenMemoryReservation {
        extent_start: 0,
        nr_extents: 2,
        extent_order: 0,
        mem_flags: 0,
        domid: DomId::SELF,
        pad0: [0; 3],
    };
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
    // Orders above MAX_ORDER do nothing.
    t.f.dom.max_pages = 1 << 30;
    assert_eq!(t.reservation(INCREASE, 1, 21, 0, DomId::SELF), 0);
    // Unprivileged domains get order 0 only.
    t.f.dom.privileged = false;
    assert_eq!(t.reservation(INCREASE, 1, 1, 0, DomId::SELF), 0);
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
    let flushes = t.p.inner.flushes;
    t.list(&[33, 32]);
    assert_eq!(t.reservation(DECREASE, 2, 0, 0, DomId::SELF), 2);
    assert_eq!(t.f.dom.tot_pages, 1);
    assert_eq!(t.p.freed, [Mfn(33), Mfn(32)]);
    assert!(t.p.inner.flushes > flushes, "the TLB is flushed before the frames are reused");
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
    let r = XenMemoryReservation {
        extent_start: 0,
        nr_extents: 1,
        extent_order: 0,
        mem_flags: 0,
        domid: DomId::SELF,
        pad0: [0; 3],
    };
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
    let r = XenMemoryReservation {
        extent_start: 0,
        nr_extents: 1,
        extent_order: 0,
        mem_flags: 0,
        domid: DomId::SELF,
        pad0: [0; 3],
    };
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
