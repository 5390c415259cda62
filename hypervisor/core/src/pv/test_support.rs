// SPDX-License-Identifier: GPL-2.0-only
//! Host-test fixtures for the PV model: a recording [`Platform`] and a
//! small guest with page tables in [`EmulatedMem`].

use alloc::vec::Vec;

use guest_abi::xen::{CpuUserRegs, DomId, FLAT_KERNEL_CS, FLAT_KERNEL_SS};

use super::ctx::Ctx;
use super::platform::{Platform, SegBaseReg};
use crate::common::claims::Claims;
use crate::common::domain::Domain;
use crate::common::domain_table::DomainTable;
use crate::common::xsm::DummyXsm;
use crate::mm::Mfn;
use crate::mm::pv::types::{PAGE_PRESENT, PAGE_RW, PAGE_USER};
use crate::mm::pv::{EmulatedMem, FrameTable, M2pTable, PhysMem, PvHooks};

/// A platform that records what it is asked.
#[derive(Default, Debug)]
pub struct FakePlatform {
    /// Console output.
    pub console: Vec<u8>,
    /// Pending console input.
    pub input: Vec<u8>,
    /// FS base.
    pub fs: u64,
    /// GS base.
    pub gs: u64,
    /// Last CR3 loaded.
    pub cr3: Option<Mfn>,
    /// TLB flushes.
    pub flushes: u32,
    /// invlpg addresses.
    pub invlpgs: Vec<u64>,
    /// CR0.TS.
    pub ts: bool,
    /// Next frame `alloc_frame` hands out (`None`: out of memory).
    pub next_frame: Option<Mfn>,
    /// The CPU's guest GDT pages as loaded (`None`: cleared).
    pub gdt_pages: Vec<Option<[u64; 512]>>,
    /// Single GDT entries set, in order.
    pub gdt_entries: Vec<(usize, u64)>,
    /// The CPU's LDT pages as loaded.
    pub ldt_pages: Vec<Option<[u64; 512]>>,
    /// Single LDT entries set, in order.
    pub ldt_entries: Vec<(usize, u64)>,
    /// Entries of the loaded LDT.
    pub ldt_ents: u32,
    /// Last GS selector loaded.
    pub gs_sel: u16,
    /// Masks passed to `flush_tlb_vcpus`, in order.
    pub remote_flushes: Vec<u64>,
    /// DS, ES, FS, GS as loaded.
    pub selectors: [u16; 4],
    /// The FPU state.
    pub fpu: crate::pv::context_switch::FpuArea,
    /// Frames given back through `free_frame`, in order.
    pub freed: Vec<Mfn>,
    /// Frames `alloc_frame` hands out before [`FakePlatform::next_frame`]
    /// (a pool; taken from the end).
    pub pool: Vec<Mfn>,
    /// What `host_info` reports.
    pub host: super::platform::HostInfo,
    /// The boot scheduler.
    pub sched: crate::sched::SchedulerKind,
    /// The hypervisor console ring.
    pub conring: crate::console::ring::ConsoleRing,
    /// `free_frame` also puts the frame back into [`FakePlatform::pool`].
    pub recycle: bool,
    /// What `gnttab_opts` reports (`gnttab=`).
    pub gnttab: crate::cmdline::GnttabOpts,
    /// `softirq_pending` says yes at every this-many-th question (0:
    /// never): a long hypercall is preempted that often.
    pub preempt_every: u32,
    /// Questions `softirq_pending` was asked.
    pub preempt_checks: u32,
    /// Domains another CPU still runs (`runs_elsewhere`).
    pub running_elsewhere: Vec<guest_abi::xen::DomId>,
}

/// Stores `descs` as page `page` of a recorded descriptor table.
fn record_page(pages: &mut Vec<Option<[u64; 512]>>, page: usize, descs: Option<&[u64; 512]>) {
    if pages.len() <= page {
        pages.resize(page.saturating_add(1), None);
    }
    if let Some(slot) = pages.get_mut(page) {
        *slot = descs.copied();
    }
}

impl Platform for FakePlatform {
    fn softirq_pending(&mut self) -> bool {
        self.preempt_checks = self.preempt_checks.saturating_add(1);
        self.preempt_every != 0 && self.preempt_checks.is_multiple_of(self.preempt_every)
    }
    fn console_write(&mut self, _dom: DomId, bytes: &[u8]) {
        self.console.extend_from_slice(bytes);
    }
    fn console_read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.input.len());
        for (d, s) in buf.iter_mut().zip(self.input.drain(..n)) {
            *d = s;
        }
        n
    }
    fn segment_base(&self, reg: SegBaseReg) -> u64 {
        match reg {
            SegBaseReg::Fs => self.fs,
            SegBaseReg::Gs => self.gs,
        }
    }
    fn set_segment_base(&mut self, reg: SegBaseReg, value: u64) {
        match reg {
            SegBaseReg::Fs => self.fs = value,
            SegBaseReg::Gs => self.gs = value,
        }
    }
    fn load_cr3(&mut self, l4: Mfn) {
        self.cr3 = Some(l4);
    }
    fn flush_tlb_local(&mut self) {
        self.flushes = self.flushes.saturating_add(1);
    }
    fn invlpg(&mut self, va: u64) {
        self.invlpgs.push(va);
    }
    fn flush_tlb_vcpus(&mut self, vcpus: u64) {
        self.remote_flushes.push(vcpus);
    }
    fn runs_elsewhere(&self, dom: guest_abi::xen::DomId) -> bool {
        self.running_elsewhere.contains(&dom)
    }
    fn set_cr0_ts(&mut self, ts: bool) {
        self.ts = ts;
    }
    fn now_ns(&self) -> u64 {
        1_000_000
    }
    fn xen_commandline(&self) -> alloc::string::String {
        alloc::string::String::from("console=com1")
    }
    fn alloc_frame(&mut self) -> Option<Mfn> {
        if let Some(m) = self.pool.pop() {
            return Some(m);
        }
        let m = self.next_frame?;
        self.next_frame = Some(Mfn(m.0.saturating_add(1)));
        Some(m)
    }
    fn load_gdt_page(&mut self, page: usize, descs: Option<&[u64; 512]>) {
        record_page(&mut self.gdt_pages, page, descs);
    }
    fn set_gdt_entry(&mut self, index: usize, desc: u64) {
        self.gdt_entries.push((index, desc));
    }
    fn load_ldt_page(&mut self, page: usize, descs: Option<&[u64; 512]>) {
        record_page(&mut self.ldt_pages, page, descs);
    }
    fn data_selectors(&self) -> [u16; 4] {
        self.selectors
    }
    fn load_data_selector(&mut self, reg: super::platform::DataSeg, sel: u16) {
        use super::platform::DataSeg;
        let i = match reg {
            DataSeg::Ds => 0,
            DataSeg::Es => 1,
            DataSeg::Fs => 2,
            DataSeg::Gs => 3,
        };
        if let Some(s) = self.selectors.get_mut(i) {
            *s = sel;
        }
        // A selector load overwrites the base.
        match reg {
            DataSeg::Fs => self.fs = 0,
            DataSeg::Gs => self.gs = 0,
            DataSeg::Ds | DataSeg::Es => {}
        }
    }
    fn fpu_save(&mut self, area: &mut crate::pv::context_switch::FpuArea) {
        *area = self.fpu;
    }
    fn fpu_restore(&mut self, area: &crate::pv::context_switch::FpuArea) {
        self.fpu = *area;
    }
    fn set_ldt_entry(&mut self, index: usize, desc: u64) {
        self.ldt_entries.push((index, desc));
    }
    fn load_ldt(&mut self, ents: u32) {
        self.ldt_ents = ents;
    }
    fn free_frame(&mut self, mfn: Mfn) {
        self.freed.push(mfn);
        if self.recycle {
            self.pool.push(mfn);
        }
    }
    fn host_info(&self) -> super::platform::HostInfo {
        self.host
    }
    fn scheduler(&self) -> crate::sched::SchedulerKind {
        self.sched
    }
    fn gnttab_opts(&self) -> crate::cmdline::GnttabOpts {
        self.gnttab
    }
    fn cpu_idle_time(&self, cpu: u32) -> u64 {
        u64::from(cpu).saturating_mul(1000).saturating_add(7)
    }
    fn console_ring_read(
        &self,
        incremental: bool,
        index: u32,
        max: u32,
    ) -> super::platform::ConringRead {
        self.conring.read_console_ring(incremental, index, max)
    }
    fn console_ring_clear(&mut self, next: u64) {
        self.conring.clear_to(next);
    }
    fn load_gs_selector(&mut self, sel: u16) {
        self.gs_sel = sel;
        // As the CPU does: the selector load replaces the live GS base.
        self.gs = 0;
    }
}

/// Hooks for tests: nothing in the hypervisor slots.
pub struct NoHooks;

impl PvHooks for NoHooks {
    fn xen_l4_slot(&self, _dom: DomId, _l4: Mfn, _slot: usize) -> u64 {
        0
    }
}

/// Frame numbers of the fixture guest.
pub mod frames {
    use crate::mm::Mfn;
    /// Kernel L4.
    pub const L4: Mfn = Mfn(1);
    /// L3.
    pub const L3: Mfn = Mfn(2);
    /// L2.
    pub const L2: Mfn = Mfn(3);
    /// L1 mapping [`super::GUEST_BASE`]...
    pub const L1: Mfn = Mfn(4);
    /// Shared info.
    pub const SHARED_INFO: Mfn = Mfn(5);
    /// User L4 (maps the same L3).
    pub const USER_L4: Mfn = Mfn(6);
    /// First data frame: page `i` of the guest area is frame `DATA + i`.
    pub const DATA: u64 = 16;
}

/// Guest virtual address of the fixture's mapped area (16 pages, RW, user).
pub const GUEST_BASE: u64 = 0x40_0000;
/// Pages mapped at [`GUEST_BASE`].
pub const GUEST_PAGES: u64 = 16;

/// A fixture guest: memory, frame table, M2P and domain with vCPU 0 in
/// kernel mode on [`frames::L4`].
pub struct Fixture {
    /// Memory.
    pub mem: EmulatedMem,
    /// Frame table.
    pub frames: FrameTable,
    /// Memory claims.
    pub claims: Claims,
    /// M2P.
    pub m2p: M2pTable,
    /// Hooks.
    pub hooks: NoHooks,
    /// Platform.
    pub platform: FakePlatform,
    /// Domain.
    pub dom: Domain,
    /// Registers.
    pub regs: CpuUserRegs,
    /// The other domains (the fixture's own is [`Fixture::dom`]).
    pub domains: DomainTable,
}

impl Fixture {
    /// Builds the fixture (page tables are plain memory here, not typed
    /// in the frame table).
    #[must_use]
    pub fn new() -> Self {
        let total = frames::DATA.saturating_add(GUEST_PAGES).saturating_add(16);
        let mut mem = EmulatedMem::with_frames(total);
        let p = PAGE_PRESENT | PAGE_RW | PAGE_USER;
        for l4 in [frames::L4, frames::USER_L4] {
            mem.write_u64(l4, 0, (frames::L3.0 << 12) | p);
        }
        mem.write_u64(frames::L3, 0, (frames::L2.0 << 12) | p);
        mem.write_u64(frames::L2, 2, (frames::L1.0 << 12) | p);
        for i in 0..GUEST_PAGES {
            let idx = usize::try_from(i).unwrap_or(0);
            mem.write_u64(frames::L1, idx, (frames::DATA.saturating_add(i) << 12) | p);
        }
        let mut dom = Domain::new(DomId(0), true, frames::SHARED_INFO);
        if let Some(v) = dom.vcpus.first_mut() {
            v.arch.tables.guest_table = Some(frames::L4);
        }
        let regs = CpuUserRegs {
            cs: FLAT_KERNEL_CS,
            ss: FLAT_KERNEL_SS,
            rip: GUEST_BASE,
            rsp: GUEST_BASE + GUEST_PAGES * 4096,
            rflags: 0x202,
            ..bytemuck::Zeroable::zeroed()
        };
        Self {
            mem,
            frames: FrameTable::new(total),
            claims: Claims::new(),
            m2p: M2pTable::new(total),
            hooks: NoHooks,
            platform: FakePlatform::default(),
            dom,
            regs,
            domains: DomainTable::new(),
        }
    }

    /// A context over the fixture.
    pub fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            dom: &mut self.dom,
            vcpu: 0,
            regs: &mut self.regs,
            frames: &mut self.frames,
            claims: &mut self.claims,
            mem: &mut self.mem,
            m2p: &mut self.m2p,
            hooks: &mut self.hooks,
            platform: &mut self.platform,
            domains: &mut self.domains,
            xsm: &DummyXsm,
            kicked: crate::common::domain_table::KickedDomains::new(),
        }
    }

    /// Reads guest memory at `va` through the kernel table.
    #[must_use]
    pub fn peek(&self, va: u64, len: usize) -> Vec<u8> {
        let mut buf = alloc::vec![0u8; len];
        super::guest_mem::copy_from_guest(&self.mem, frames::L4, va, &mut buf).unwrap_or_default();
        buf
    }

    /// Writes guest memory at `va` through the kernel table.
    pub fn poke(&mut self, va: u64, bytes: &[u8]) {
        super::guest_mem::copy_to_guest(&mut self.mem, frames::L4, va, bytes).unwrap_or_default();
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}
