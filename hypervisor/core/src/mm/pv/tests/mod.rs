// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for the PV MMU, on an emulated machine.
//!
//! [`Machine`] bundles a frame table, [`EmulatedMem`], an M2P and recording
//! hooks; [`Machine::guest`] builds the standard small domain: a 4-level
//! table `L4 → L3 → L2 → L1` mapping four data frames writable and four
//! read-only. Every test ends with [`Machine::audit`], which recounts all
//! references from the page tables.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

mod attacks;
mod audit_oracle;
mod basics;
mod foreign;
mod io_frames;
mod mmu_update;
mod mmuext;
mod property;
mod relinquish;
mod validate;

use alloc::vec::Vec;

use guest_abi::xen::{DomId, Errno, MmuUpdate, MmuextCmd, MmuextOp};

use super::types::{PAGE_ACCESSED, PAGE_DIRTY, PAGE_PRESENT, PAGE_RW, PAGE_USER, pte_from_mfn};
use super::{
    EmulatedMem, FrameTable, M2pTable, MmuEffect, PageInfo, PageType, PhysMem, PvHooks, PvMm,
    VcpuTables, audit,
};
use crate::mm::Mfn;
use crate::mm::tlbflush::{TlbClock, TlbStamp};

/// The domain under test.
pub(super) const DOM: DomId = DomId(1);
/// Another domain.
pub(super) const OTHER: DomId = DomId(2);

/// Frames of the standard layout.
pub(super) const L4: Mfn = Mfn(10);
pub(super) const L3: Mfn = Mfn(11);
pub(super) const L2: Mfn = Mfn(12);
pub(super) const L1: Mfn = Mfn(13);
/// Spare frames of `DOM` (not mapped by the standard layout).
pub(super) const SPARE: [Mfn; 6] = [Mfn(14), Mfn(15), Mfn(16), Mfn(17), Mfn(18), Mfn(19)];
/// Data frames mapped writable by L1 slots 0..4.
pub(super) const RW_DATA: [Mfn; 4] = [Mfn(20), Mfn(21), Mfn(22), Mfn(23)];
/// Data frames mapped read-only by L1 slots 4..8.
pub(super) const RO_DATA: [Mfn; 4] = [Mfn(24), Mfn(25), Mfn(26), Mfn(27)];
/// Frames of `OTHER`.
pub(super) const FOREIGN: Mfn = Mfn(40);
/// A frame in the table that nobody owns (a hypervisor frame).
pub(super) const UNOWNED: Mfn = Mfn(5);
/// Frames covered by the table and backed by memory.
pub(super) const NR_FRAMES: u64 = 64;

/// `P|RW|US|A`.
pub(super) const RW: u64 = PAGE_PRESENT | PAGE_RW | PAGE_USER | PAGE_ACCESSED;
/// `P|US|A`.
pub(super) const RO: u64 = PAGE_PRESENT | PAGE_USER | PAGE_ACCESSED;
/// `A|D`.
pub(super) const AD: u64 = PAGE_ACCESSED | PAGE_DIRTY;

/// A present entry.
pub(super) fn pte(mfn: Mfn, flags: u64) -> u64 {
    pte_from_mfn(mfn, flags)
}

/// The value the test hooks install in hypervisor L4 slot `slot`.
pub(super) fn xen_slot_value(slot: usize) -> u64 {
    pte_from_mfn(Mfn(0xDEAD_0000 + slot as u64), PAGE_PRESENT | PAGE_RW)
}

/// An `MMU_NORMAL_PT_UPDATE` of entry `index` of `table`.
pub(super) fn upd(table: Mfn, index: u64, val: u64) -> MmuUpdate {
    MmuUpdate { ptr: (table.0 << 12) | (index << 3), val }
}

/// An `mmuext_op`.
pub(super) fn op(cmd: MmuextCmd, arg1: u64, arg2: u64) -> MmuextOp {
    MmuextOp::new(cmd, arg1, arg2)
}

/// Hooks that record what the MMU asked the machine for.
#[derive(Default)]
pub(super) struct Hooks {
    /// Domains allowed to map I/O frames.
    pub iomem: Vec<DomId>,
    /// `flush_tlb_for_type_change` calls.
    pub flushes: Vec<(DomId, Mfn)>,
    /// The stamps those calls filtered with, in order.
    pub flush_stamps: Vec<TlbStamp>,
    /// The TLB-flush clock.
    pub clock: TlbClock,
    /// vCPU bitmap addresses that cannot be read.
    pub bad_vcpumasks: Vec<u64>,
}

impl PvHooks for Hooks {
    fn xen_l4_slot(&self, _dom: DomId, _l4: Mfn, slot: usize) -> u64 {
        xen_slot_value(slot)
    }

    fn iomem_access_permitted(&self, dom: DomId, _mfn: Mfn) -> bool {
        self.iomem.contains(&dom)
    }

    fn has_iomem_caps(&self, dom: DomId) -> bool {
        self.iomem.contains(&dom)
    }

    fn vcpumask_readable(&self, _dom: DomId, vcpumask: u64) -> bool {
        !self.bad_vcpumasks.contains(&vcpumask)
    }

    fn tlbflush_current_time(&self) -> TlbStamp {
        self.clock.current()
    }

    fn flush_tlb_for_type_change(&mut self, owner: DomId, mfn: Mfn, since: TlbStamp) {
        self.flushes.push((owner, mfn));
        self.flush_stamps.push(since);
    }
}

/// An emulated machine.
pub(super) struct Machine {
    pub frames: FrameTable,
    pub mem: EmulatedMem,
    pub m2p: M2pTable,
    pub hooks: Hooks,
    pub vcpu: VcpuTables,
    pub effects: Vec<MmuEffect>,
}

impl Machine {
    /// `NR_FRAMES` frames, `UNOWNED` free, nothing assigned.
    pub fn empty() -> Self {
        Self {
            frames: FrameTable::new(NR_FRAMES),
            mem: EmulatedMem::with_frames(NR_FRAMES),
            m2p: M2pTable::new(NR_FRAMES),
            hooks: Hooks::default(),
            vcpu: VcpuTables::default(),
            effects: Vec::new(),
        }
    }

    /// `DOM` owns frames 10..40 and `OTHER` owns 40..48; the standard
    /// layout is written but not pinned.
    pub fn unpinned() -> Self {
        let mut m = Self::empty();
        for f in 10..40 {
            m.frames.assign(Mfn(f), DOM).unwrap();
        }
        for f in 40..48 {
            m.frames.assign(Mfn(f), OTHER).unwrap();
        }
        m.write(L4, 0, pte(L3, RW));
        m.write(L3, 0, pte(L2, RW));
        m.write(L2, 0, pte(L1, RW));
        for (i, d) in RW_DATA.iter().enumerate() {
            m.write(L1, i, pte(*d, RW));
        }
        for (i, d) in RO_DATA.iter().enumerate() {
            m.write(L1, 4 + i, pte(*d, RO));
        }
        m
    }

    /// The standard layout with its L4 pinned.
    pub fn guest() -> Self {
        let mut m = Self::unpinned();
        m.ext(&[op(MmuextCmd::PinL4Table, L4.0, 0)]).1.unwrap();
        m
    }

    pub fn mm(&mut self) -> PvMm<'_> {
        PvMm::new(&mut self.frames, &mut self.mem, &mut self.m2p, &mut self.hooks)
    }

    /// A direct memory write (what the guest does to unpinned frames).
    pub fn write(&mut self, mfn: Mfn, index: usize, val: u64) {
        self.mem.write_u64(mfn, index, val);
    }

    pub fn read(&self, mfn: Mfn, index: usize) -> u64 {
        self.mem.read_u64(mfn, index)
    }

    pub fn info(&self, mfn: Mfn) -> PageInfo {
        self.frames.info(mfn).unwrap()
    }

    /// (general count, type count).
    pub fn counts(&self, mfn: Mfn) -> (u32, u32) {
        let i = self.info(mfn);
        (i.count, i.type_info.count)
    }

    pub fn ty(&self, mfn: Mfn) -> PageType {
        self.info(mfn).type_info.ty
    }

    pub fn mmu(&mut self, reqs: &[MmuUpdate]) -> (usize, Result<(), Errno>) {
        self.mmu_as(DOM, reqs)
    }

    pub fn mmu_as(&mut self, dom: DomId, reqs: &[MmuUpdate]) -> (usize, Result<(), Errno>) {
        self.mm().do_mmu_update(dom, reqs)
    }

    /// One `MMU_NORMAL_PT_UPDATE`.
    pub fn set(&mut self, table: Mfn, index: u64, val: u64) -> Result<(), Errno> {
        self.mmu(&[upd(table, index, val)]).1
    }

    pub fn ext(&mut self, ops: &[MmuextOp]) -> (usize, Result<(), Errno>) {
        self.ext_as(DOM, ops)
    }

    pub fn ext_as(&mut self, dom: DomId, ops: &[MmuextOp]) -> (usize, Result<(), Errno>) {
        let Self { frames, mem, m2p, hooks, vcpu, effects } = self;
        PvMm::new(frames, mem, m2p, hooks).do_mmuext_op(dom, ops, vcpu, effects)
    }

    /// One `mmuext_op`.
    pub fn ext1(&mut self, cmd: MmuextCmd, arg1: u64, arg2: u64) -> Result<(), Errno> {
        self.ext(&[op(cmd, arg1, arg2)]).1
    }

    /// Pin `mfn` at level 1–4.
    pub fn pin(&mut self, level: u32, mfn: Mfn) -> Result<(), Errno> {
        let cmd = match level {
            1 => MmuextCmd::PinL1Table,
            2 => MmuextCmd::PinL2Table,
            3 => MmuextCmd::PinL3Table,
            _ => MmuextCmd::PinL4Table,
        };
        self.ext1(cmd, mfn.0, 0)
    }

    pub fn unpin(&mut self, mfn: Mfn) -> Result<(), Errno> {
        self.ext1(MmuextCmd::UnpinTable, mfn.0, 0)
    }

    /// The frame table matches a recount from the page tables.
    #[track_caller]
    pub fn audit(&self) {
        let bases: Vec<Mfn> =
            [self.vcpu.guest_table, self.vcpu.guest_table_user].into_iter().flatten().collect();
        audit(&self.frames, &self.mem, &bases).unwrap();
    }
}
