// SPDX-License-Identifier: GPL-2.0-only
//! An emulated hypervisor implementing [`DomCtl`] over plain memory.
//!
//! Machine frames are a map of 4 KiB pages with owners; domains are paused
//! once at creation; `populate_physmap` hands out scattered MFNs (so a P2M
//! mix-up shows) and does **not** set the M2P (the builder must); a foreign
//! write needs the frame to be the domain's and not a pinned page table;
//! pinning walks the four levels, checks that every frame referenced is the
//! domain's and that no L1 entry maps a page-table frame writable, and
//! fails while a foreign mapping is still held. Any operation can be made
//! to fail ([`FakeXen::fail`]).

use std::collections::{BTreeMap, BTreeSet};

use guest_abi::domctl::{XenDomctlCreatedomain, XenDomctlGetdomaininfo};
use guest_abi::xen::{
    DomId, EvtchnPort, Mfn, MmuUpdate, MmuUpdateCmd, MmuextCmd, MmuextOp, VcpuGuestContext, VcpuId,
};

use crate::ctl::{CtlOp, DomCtl};
use crate::pagetable::{PTE_ADDR, PTE_PRESENT, PTE_RW};

/// A refusal of the fake: what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeError(pub String);

impl core::fmt::Display for FakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(why: impl Into<String>) -> Result<T, FakeError> {
    Err(FakeError(why.into()))
}

/// One domain of the fake.
#[derive(Clone, Debug, Default)]
pub struct FakeDom {
    pub config: Option<XenDomctlCreatedomain>,
    pub max_kb: Option<u64>,
    /// `XEN_DOMCTL_max_vcpus` given (Xen 4.17 creates the vCPUs then).
    pub max_vcpus: Option<u32>,
    pub tot_pages: u64,
    pub shared_info: u64,
    pub pause_count: u32,
    pub pinned_l4: Option<u64>,
    pub ctx: Option<VcpuGuestContext>,
    pub hypercall_gmfn: Option<u64>,
    pub ports: BTreeMap<u32, DomId>,
    /// The grant table's first frame, once `GNTTABOP_setup_table` made it.
    pub grant_frame: Option<u64>,
}

/// The emulated hypervisor.
#[derive(Default)]
pub struct FakeXen {
    pub frames: BTreeMap<u64, Box<[u8; 4096]>>,
    pub owner: BTreeMap<u64, DomId>,
    pub m2p: BTreeMap<u64, u64>,
    pub tables: BTreeSet<u64>,
    pub domains: BTreeMap<u16, FakeDom>,
    pub next_mfn: u64,
    pub next_domid: u16,
    /// The frame the caller's window maps (kept between writes).
    pub mapped: Option<u64>,
    /// Operations in order.
    pub log: Vec<CtlOp>,
    /// Fail this operation (its `n`th call, counting from 1).
    pub fail: Option<(CtlOp, usize)>,
}

impl FakeXen {
    pub fn new() -> Self {
        Self { next_mfn: 0x1_2345, next_domid: 1, ..Self::default() }
    }

    fn enter(&mut self, op: CtlOp) -> Result<(), FakeError> {
        self.log.push(op);
        if let Some((fail, n)) = self.fail {
            let count = self.log.iter().filter(|&&o| o == fail).count();
            if fail == op && count == n {
                return refuse(format!("injected failure of {op}"));
            }
        }
        Ok(())
    }

    fn alloc_frame(&mut self, owner: DomId) -> u64 {
        let mfn = self.next_mfn;
        // Scattered, descending and ascending: frames are never contiguous.
        self.next_mfn = if mfn.is_multiple_of(2) { mfn + 7 } else { mfn + 3 };
        self.frames.insert(mfn, Box::new([0; 4096]));
        self.owner.insert(mfn, owner);
        mfn
    }

    fn dom(&mut self, dom: DomId) -> Result<&mut FakeDom, FakeError> {
        match self.domains.get_mut(&dom.0) {
            Some(d) => Ok(d),
            None => refuse(format!("ESRCH: no domain {}", dom.0)),
        }
    }

    fn owned_by(&self, mfn: u64, dom: DomId) -> Result<(), FakeError> {
        if self.owner.get(&mfn) == Some(&dom) {
            Ok(())
        } else {
            refuse(format!("EPERM: frame {mfn:#x} is not d{}'s", dom.0))
        }
    }

    /// The page `mfn`.
    pub fn page(&self, mfn: u64) -> &[u8; 4096] {
        self.frames.get(&mfn).map(|b| &**b).unwrap_or_else(|| panic!("no frame {mfn:#x}"))
    }

    /// Entry `i` of table `mfn`.
    pub fn entry(&self, mfn: u64, i: usize) -> u64 {
        u64::from_le_bytes(self.page(mfn)[i * 8..i * 8 + 8].try_into().unwrap())
    }

    /// Reads `len` bytes at `va` through the page tables rooted at `l4`;
    /// also returns whether every page is writable.
    pub fn read_va(&self, l4: u64, va: u64, len: usize) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(len);
        let mut writable = true;
        let mut at = va;
        while out.len() < len {
            let (mfn, rw) = self.translate(l4, at).unwrap_or_else(|| panic!("{at:#x} unmapped"));
            writable &= rw;
            let off = (at % 4096) as usize;
            let n = (4096 - off).min(len - out.len());
            out.extend_from_slice(&self.page(mfn)[off..off + n]);
            at += n as u64;
        }
        (out, writable)
    }

    /// The frame and writability of `va` under `l4`.
    pub fn translate(&self, l4: u64, va: u64) -> Option<(u64, bool)> {
        let mut table = l4;
        let mut rw = true;
        for shift in [39u32, 30, 21, 12] {
            let e = self.entry(table, ((va >> shift) & 511) as usize);
            if e & PTE_PRESENT == 0 {
                return None;
            }
            rw &= e & PTE_RW != 0;
            table = (e & PTE_ADDR) >> 12;
        }
        Some((table, rw))
    }

    /// Validates and marks the tables under `mfn` at `level` (4 = L4).
    fn validate(&mut self, dom: DomId, mfn: u64, level: u32) -> Result<(), FakeError> {
        self.owned_by(mfn, dom)?;
        self.tables.insert(mfn);
        let entries: Vec<u64> = (0..512).map(|i| self.entry(mfn, i)).collect();
        for e in entries.into_iter().filter(|e| e & PTE_PRESENT != 0) {
            let target = (e & PTE_ADDR) >> 12;
            if level > 1 {
                self.validate(dom, target, level - 1)?;
            } else {
                self.owned_by(target, dom)?;
            }
        }
        Ok(())
    }

    /// After pinning: no L1 entry maps a table frame writable.
    fn check_no_writable_tables(&self, l4: u64) -> Result<(), FakeError> {
        let mut stack = vec![(l4, 4u32)];
        while let Some((mfn, level)) = stack.pop() {
            for i in 0..512 {
                let e = self.entry(mfn, i);
                if e & PTE_PRESENT == 0 {
                    continue;
                }
                let target = (e & PTE_ADDR) >> 12;
                if level == 1 {
                    if e & PTE_RW != 0 && self.tables.contains(&target) {
                        return refuse(format!("EINVAL: table {target:#x} mapped writable"));
                    }
                } else {
                    stack.push((target, level - 1));
                }
            }
        }
        Ok(())
    }

    /// Domains that still exist.
    pub fn live_domains(&self) -> Vec<u16> {
        self.domains.keys().copied().collect()
    }
}

impl DomCtl for FakeXen {
    type Error = FakeError;

    fn create_domain(&mut self, config: &XenDomctlCreatedomain) -> Result<DomId, FakeError> {
        self.enter(CtlOp::CreateDomain)?;
        if config.max_vcpus == 0 || config.grant_opts == 0 {
            return refuse("EINVAL: bad createdomain config");
        }
        let id = DomId(self.next_domid);
        self.next_domid += 1;
        let shared_info = self.alloc_frame(id);
        let dom = FakeDom {
            config: Some(*config),
            shared_info,
            pause_count: 1,
            // Dirty, as a hypervisor might leave it: the builder resets it.
            ..FakeDom::default()
        };
        self.frames.get_mut(&shared_info).unwrap().fill(0xee);
        self.domains.insert(id.0, dom);
        Ok(id)
    }

    fn get_domain_info(&mut self, dom: DomId) -> Result<XenDomctlGetdomaininfo, FakeError> {
        self.enter(CtlOp::GetDomainInfo)?;
        let d = self.dom(dom)?;
        let mut info: XenDomctlGetdomaininfo = bytemuck::Zeroable::zeroed();
        info.domain = dom;
        info.tot_pages = d.tot_pages;
        info.max_pages = d.max_kb.unwrap_or(0) / 4;
        info.shared_info_frame = d.shared_info;
        Ok(info)
    }

    fn max_vcpus(&mut self, dom: DomId, max: u32) -> Result<(), FakeError> {
        self.enter(CtlOp::MaxVcpus)?;
        if self.dom(dom)?.config.map(|c| c.max_vcpus) != Some(max) {
            return refuse("EINVAL: not createdomain's max_vcpus");
        }
        self.dom(dom)?.max_vcpus = Some(max);
        Ok(())
    }

    fn max_mem(&mut self, dom: DomId, max_memkb: u64) -> Result<(), FakeError> {
        self.enter(CtlOp::MaxMem)?;
        self.dom(dom)?.max_kb = Some(max_memkb);
        Ok(())
    }

    fn populate_physmap(&mut self, dom: DomId, extents: &mut [u64]) -> Result<usize, FakeError> {
        self.enter(CtlOp::PopulatePhysmap)?;
        let (tot, max) = {
            let d = self.dom(dom)?;
            (d.tot_pages, d.max_kb.ok_or(FakeError("no max_mem".into()))? / 4)
        };
        // Partial progress: at most 100 per call, as a preempted Xen would.
        let room = usize::try_from(max.saturating_sub(tot)).unwrap();
        let n = extents.len().min(100).min(room);
        if n == 0 {
            return refuse("ENOMEM: over max_mem");
        }
        for e in extents.iter_mut().take(n) {
            *e = self.alloc_frame(dom);
        }
        self.dom(dom)?.tot_pages += n as u64;
        Ok(n)
    }

    fn mmu_update(&mut self, reqs: &[MmuUpdate], foreigndom: DomId) -> Result<(), FakeError> {
        self.enter(CtlOp::MachphysUpdate)?;
        for r in reqs {
            match r.cmd() {
                MmuUpdateCmd::MachphysUpdate => {
                    let mfn = r.address() >> 12;
                    self.owned_by(mfn, foreigndom)?;
                    self.m2p.insert(mfn, r.val);
                }
                _ => return refuse("ENOSYS: only MMU_MACHPHYS_UPDATE"),
            }
        }
        Ok(())
    }

    fn mmuext_op(&mut self, ops: &[MmuextOp], foreigndom: DomId) -> Result<(), FakeError> {
        for op in ops {
            match MmuextCmd::try_from(op.cmd) {
                Ok(MmuextCmd::PinL4Table) => {
                    self.enter(CtlOp::PinL4)?;
                    if self.mapped.is_some() {
                        return refuse("EBUSY: a foreign mapping is still held");
                    }
                    let mfn = op.mfn().0;
                    self.validate(foreigndom, mfn, 4)?;
                    self.check_no_writable_tables(mfn)?;
                    self.dom(foreigndom)?.pinned_l4 = Some(mfn);
                }
                _ => return refuse("ENOSYS: only MMUEXT_PIN_L4_TABLE"),
            }
        }
        Ok(())
    }

    fn write_foreign(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), FakeError> {
        self.dom(dom)?;
        self.owned_by(mfn.0, dom)?;
        if self.tables.contains(&mfn.0) {
            return refuse("EINVAL: writable mapping of a page table");
        }
        if offset + bytes.len() > 4096 {
            return refuse("write beyond the frame");
        }
        if self.mapped != Some(mfn.0) {
            self.log.push(CtlOp::WriteForeign);
            self.mapped = Some(mfn.0);
        }
        self.frames.get_mut(&mfn.0).unwrap()[offset..offset + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    fn unmap_foreign(&mut self) -> Result<(), FakeError> {
        self.mapped = None;
        Ok(())
    }

    fn set_vcpu_context(
        &mut self,
        dom: DomId,
        vcpu: VcpuId,
        ctx: &VcpuGuestContext,
    ) -> Result<(), FakeError> {
        self.enter(CtlOp::SetVcpuContext)?;
        if vcpu.0 != 0 || self.dom(dom)?.max_vcpus.is_none() {
            return refuse("EINVAL: no such vCPU (before XEN_DOMCTL_max_vcpus there is none)");
        }
        let cr3_mfn = ctx.ctrlreg[3] >> 12;
        if self.dom(dom)?.pinned_l4 != Some(cr3_mfn) {
            return refuse("EINVAL: CR3 is not a pinned L4");
        }
        self.dom(dom)?.ctx = Some(*ctx);
        Ok(())
    }

    fn hypercall_init(&mut self, dom: DomId, gmfn: Mfn) -> Result<(), FakeError> {
        self.enter(CtlOp::HypercallInit)?;
        self.dom(dom)?;
        self.owned_by(gmfn.0, dom)?;
        // A recognisable page: stub 0 starts with `push %rcx`, the rest int3.
        let page = self.frames.get_mut(&gmfn.0).unwrap();
        page.fill(0xcc);
        page[0] = 0x51;
        self.dom(dom)?.hypercall_gmfn = Some(gmfn.0);
        Ok(())
    }

    fn evtchn_alloc_unbound(&mut self, dom: DomId, remote: DomId) -> Result<EvtchnPort, FakeError> {
        self.enter(CtlOp::EvtchnAllocUnbound)?;
        let d = self.dom(dom)?;
        let port = u32::try_from(d.ports.len()).unwrap() + 1;
        d.ports.insert(port, remote);
        Ok(EvtchnPort(port))
    }

    fn gnttab_setup_table(&mut self, dom: DomId) -> Result<Mfn, FakeError> {
        self.enter(CtlOp::GnttabSetupTable)?;
        if let Some(mfn) = self.dom(dom)?.grant_frame {
            return Ok(Mfn(mfn));
        }
        // Xen's grant frames are the domain's own (shared xenheap pages).
        let mfn = self.alloc_frame(dom);
        self.dom(dom)?.grant_frame = Some(mfn);
        Ok(Mfn(mfn))
    }

    fn unpause(&mut self, dom: DomId) -> Result<(), FakeError> {
        self.enter(CtlOp::Unpause)?;
        let d = self.dom(dom)?;
        d.pause_count = d.pause_count.checked_sub(1).ok_or(FakeError("EINVAL".into()))?;
        Ok(())
    }

    fn destroy(&mut self, dom: DomId) -> Result<(), FakeError> {
        self.enter(CtlOp::Destroy)?;
        self.domains.remove(&dom.0).ok_or(FakeError("ESRCH".into()))?;
        let frames: Vec<u64> =
            self.owner.iter().filter(|&(_, &o)| o == dom).map(|(&m, _)| m).collect();
        for m in frames {
            self.owner.remove(&m);
            self.frames.remove(&m);
            self.tables.remove(&m);
            self.m2p.remove(&m);
        }
        Ok(())
    }
}
