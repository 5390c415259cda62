// SPDX-License-Identifier: GPL-2.0-only
//! The dom0 builder (Xen's `dom0_construct` for 64-bit PV kernels).
//!
//! It works in the machine-wide memory state built at boot
//! (`crate::mm::MachineMemory`: frame table, M2P) and only allocates,
//! accounts and maps dom0's own pages.
//!
//! From the first module (the kernel: an ELF, or a bzImage whose payload
//! `kernel_image` decompresses) and the optional second (the initrd): parse
//! the ELF and its Xen notes, allocate dom0's pages, lay out
//! `[kernel][initrd][P2M][start_info][page tables][stack]` from
//! `VIRT_BASE` (see `hv_core::dom0_build::layout`) — without the initrd
//! when the kernel has `MOD_START_PFN` (it is then found by PFN right
//! after the initial power-of-two allocation, `SIF_MOD_START_PFN`), and
//! without the P2M when it has `INIT_P2M` (the list then gets a mapping of
//! its own there, `hv_core::dom0_build::p2m_map`, in 4 KiB pages where Xen
//! prefers superpages), as Xen's `dom0_construct_pv` does — load the segments,
//! build the initial 4-level page tables (page-table pages mapped
//! read-only), then pin and install the L4 through the PV MMU exactly as a
//! guest's `MMUEXT_PIN_L4_TABLE` + `MMUEXT_NEW_BASEPTR` would, so every
//! reference count starts right. start_info, the P2M list, shared_info
//! (all `evtchn_upcall_mask = 1`) and the hypercall page are filled in and
//! the initial registers are Xen's: `CS:RIP = FLAT_KERNEL_CS:entry`,
//! `SS:RSP = FLAT_KERNEL_SS:stack end`, `RSI = start_info`, `RFLAGS = IF`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use guest_abi::xen::{
    CpuUserRegs as GuestRegs, DomId, FLAT_KERNEL_CS, FLAT_KERNEL_SS, MmuextCmd, MmuextOp, Pfn,
    SIF_INITDOMAIN, SIF_MOD_START_PFN, SIF_PRIVILEGED, StartInfo, XEN_LEGACY_MAX_VCPUS,
};
use hv_arch_x86_64::flushtlb;
use hv_arch_x86_64::pvmem::DirectMem;
use hv_boot::Module;
use hv_core::common::domain::Domain;
use hv_core::dom0_build::{hypercall_page, layout, p2m_map};
use hv_core::libelf::{self, ElfError, LoadTarget};
use hv_core::mm::Mfn;
use hv_core::mm::pv::types::{PAGE_ACCESSED, PAGE_DIRTY, PAGE_PRESENT, PAGE_RW, PAGE_USER};
use hv_core::mm::pv::{M2p, PhysMem, PvMm};
use hv_core::mm::tlbflush::TlbflushNeed;

use crate::mm::{FRAMES, MachineMemory};
use crate::printk;

const PAGE: u64 = 4096;
const DOM0: DomId = DomId(0);

/// Dom0's memory as the builder sees it: guest virtual → PFN → MFN.
struct Dom0Mem<'a> {
    mem: &'a mut DirectMem,
    p2m: &'a [u64],
    v_start: u64,
}

impl Dom0Mem<'_> {
    fn mfn_of(&self, va: u64) -> Option<Mfn> {
        let pfn = va.checked_sub(self.v_start)? / PAGE;
        self.p2m.get(usize::try_from(pfn).ok()?).map(|&m| Mfn(m))
    }

    /// Writes `bytes` (or zeroes, when `bytes` is `None`) over `[va, va+len)`.
    fn fill(&mut self, va: u64, len: u64, bytes: Option<&[u8]>) -> Result<(), ElfError> {
        let bad = ElfError::BadDestination { vaddr: va, len };
        let mut done = 0u64;
        let zeros = [0u8; 4096];
        while done < len {
            let at = va.checked_add(done).ok_or(bad.clone())?;
            let off = at % PAGE;
            let n = PAGE.saturating_sub(off).min(len.saturating_sub(done));
            let mfn = self.mfn_of(at).ok_or(bad.clone())?;
            let from = usize::try_from(done).map_err(|_| bad.clone())?;
            let count = usize::try_from(n).map_err(|_| bad.clone())?;
            let src = match bytes {
                Some(b) => b.get(from..from.saturating_add(count)).ok_or(bad.clone())?,
                None => zeros.get(..count).ok_or(bad.clone())?,
            };
            self.mem.write_bytes(mfn, off as usize, src);
            done = done.saturating_add(n);
        }
        Ok(())
    }
}

impl LoadTarget for Dom0Mem<'_> {
    fn write(&mut self, guest_vaddr: u64, bytes: &[u8]) -> Result<(), ElfError> {
        self.fill(guest_vaddr, bytes.len() as u64, Some(bytes))
    }

    fn zero(&mut self, guest_vaddr: u64, len: u64) -> Result<(), ElfError> {
        self.fill(guest_vaddr, len, None)
    }
}

/// What the builder produced.
pub struct Built {
    /// Dom0, its memory accounted in the machine-wide state.
    pub dom: Domain,
    /// Dom0's initial registers.
    pub regs: GuestRegs,
}

fn l_index(va: u64, shift: u32) -> usize {
    ((va >> shift) & 511) as usize
}

/// The table that the entries for `va` at the level below the last of
/// `shifts` live in, found by following present entries from `l4`.
fn walk(mem: &DirectMem, l4: Mfn, va: u64, shifts: &[u32]) -> Option<Mfn> {
    let mut table = l4;
    for &shift in shifts {
        let e = mem.read_u64(table, l_index(va, shift));
        if e & PAGE_PRESENT == 0 {
            return None;
        }
        table = Mfn((e & 0x000f_ffff_ffff_f000) >> 12);
    }
    Some(table)
}

/// Writes `bytes` into dom0's frames from pseudo-physical frame `first` on.
fn copy_to_pfns(mem: &mut DirectMem, p2m: &[u64], first: u64, bytes: &[u8]) -> Result<(), String> {
    for (chunk, pfn) in bytes.chunks(4096).zip(first..) {
        let mfn = p2m.get(usize::try_from(pfn).unwrap_or(usize::MAX)).copied();
        mem.write_bytes(Mfn(mfn.ok_or("initrd or P2M beyond dom0's pages")?), 0, chunk);
    }
    Ok(())
}

/// Which pseudo-physical frames hold what, beyond the initial mapping (as
/// Xen's `dom0_construct_pv` numbers them): an unmapped initrd right after
/// the initial power-of-two allocation, then the P2M list's own mapping.
struct Pfns {
    /// First PFN of an unmapped initrd (`SIF_MOD_START_PFN`).
    initrd: Option<u64>,
    /// `start_info.first_p2m_pfn`.
    first_p2m: u64,
    /// The P2M area's pages, in PFN order from `first_p2m` (empty without
    /// `INIT_P2M`).
    p2m_map: Vec<p2m_map::MapPage>,
}

impl Pfns {
    fn plan(
        lay: &layout::Layout,
        parms: &libelf::ElfDomParms,
        initrd_len: u64,
        unmapped: bool,
        nr_pages: u64,
    ) -> Result<Self, String> {
        let mapped = lay.v_end.saturating_sub(lay.v_start) / PAGE;
        let initrd_pages = initrd_len.div_ceil(PAGE);
        let mapped_initrd = if unmapped { 0 } else { initrd_pages };
        let first_p2m = p2m_map::first_pfn(mapped, mapped_initrd, initrd_pages);
        if first_p2m > nr_pages {
            return Err(String::from("Domain 0 allocation is too small for kernel image"));
        }
        let initrd = unmapped.then(|| first_p2m.saturating_sub(initrd_pages));
        let p2m_map = match parms.p2m_base {
            Some(base) => {
                p2m_map::check(base, lay.p2m.1, lay.v_start, lay.v_end)
                    .map_err(|e| format!("INIT_P2M {base:#x}: {e}"))?;
                p2m_map::pages(base, lay.p2m.1)
            }
            None => Vec::new(),
        };
        if first_p2m.saturating_add(p2m_map.len() as u64) > nr_pages {
            return Err(String::from("Dom0 allocation too small for initial P->M table"));
        }
        Ok(Self { initrd, first_p2m, p2m_map })
    }

    /// The PFNs of the P2M list's data pages, in list order.
    fn p2m_data_pfns(&self) -> Vec<u64> {
        (self.first_p2m..)
            .zip(&self.p2m_map)
            .filter(|(_, p)| p.role == p2m_map::Role::Data)
            .map(|(pfn, _)| pfn)
            .collect()
    }
}

/// Builds dom0 from `kernel` (and `initrd`) with `nr_pages` pages, in the
/// machine-wide memory state `machine`.
pub fn construct(
    machine: &mut MachineMemory,
    kernel: &Module,
    initrd: Option<&Module>,
    cmdline: &str,
    nr_pages: u64,
    nr_vcpus: u32,
) -> Result<Built, String> {
    // An ELF module as is, or a bzImage's payload decompressed into frames
    // that are freed when `kernel_image` goes out of scope.
    let kernel_image = crate::kernel_image::load(kernel)?;
    let image = kernel_image.bytes();
    let parms = libelf::parse(image).map_err(|e| format!("cannot load the dom0 kernel: {e}"))?;
    for w in &parms.warnings {
        printk!("libelf: {w}");
    }
    if !parms.dom0_capable() {
        return Err(String::from("Kernel does not support Dom0 operation"));
    }
    printk!(
        "Dom0 kernel: 64-bit, PAE, lsb, paddr {:#x} -> {:#x}",
        parms.virt_kstart.wrapping_sub(parms.virt_offset()),
        parms.virt_kend.wrapping_sub(parms.virt_offset())
    );
    printk!(
        "ELF: GUEST_OS=\"{}\" LOADER=\"{}\" XEN_VERSION=\"{}\" VIRT_BASE={:#x} ENTRY={:#x}",
        parms.guest_os,
        parms.loader,
        parms.xen_ver,
        parms.virt_base,
        parms.virt_entry
    );
    // SAFETY: as for the kernel image.
    let initrd_bytes = initrd.map(|m| unsafe { hv_arch_x86_64::pvmem::phys_slice(m.start, m.end) });
    let initrd_len = initrd_bytes.map_or(0, |b| b.len() as u64);
    // As Xen: a kernel with MOD_START_PFN gets its initrd unmapped (by PFN),
    // one with INIT_P2M its P2M list at that address.
    let unmapped = parms.mod_start_pfn && initrd_len != 0;
    let lay = layout::compute(&layout::LayoutInput {
        virt_base: parms.virt_base,
        virt_kstart: parms.virt_kstart,
        virt_kend: parms.virt_kend,
        initrd_len,
        unmapped_initrd: unmapped,
        nr_pages,
        p2m_base: parms.p2m_base,
    })
    .map_err(|e| format!("cannot lay out dom0: {e}"))?;
    let pfns = Pfns::plan(&lay, &parms, initrd_len, unmapped, nr_pages)?;
    if parms.virt_entry < lay.kernel.0 || parms.virt_entry >= lay.kernel.1 {
        return Err(format!(
            "dom0 entry point {:#x} is outside the kernel image",
            parms.virt_entry
        ));
    }
    if let Some(hc) = parms.virt_hypercall
        && (!hc.is_multiple_of(PAGE) || hc < lay.kernel.0 || hc.saturating_add(PAGE) > lay.kernel.1)
    {
        return Err(format!("dom0 hypercall page {hc:#x} is outside the kernel image"));
    }
    printk!("PHYSICAL MEMORY ARRANGEMENT: {nr_pages} pages for dom0");
    printk!("VIRTUAL MEMORY ARRANGEMENT:");
    printk!(" Loaded kernel: {:016x}->{:016x}", lay.kernel.0, lay.kernel.1);
    if lay.initrd.1 > lay.initrd.0 {
        printk!(" Init. ramdisk: {:016x}->{:016x}", lay.initrd.0, lay.initrd.1);
    }
    printk!(" Phys-Mach map: {:016x}->{:016x}", lay.p2m.0, lay.p2m.1);
    printk!(" Start info:    {:016x}->{:016x}", lay.start_info.0, lay.start_info.1);
    printk!(" Page tables:   {:016x}->{:016x}", lay.page_tables.0, lay.page_tables.1);
    printk!(" Boot stack:    {:016x}->{:016x}", lay.stack.0, lay.stack.1);
    printk!(" TOTAL:         {:016x}->{:016x}", lay.v_start, lay.v_end);
    printk!(" ENTRY ADDRESS: {:016x}", parms.virt_entry);

    // Dom0's own memory; the machine-wide state (frame table, I/O frames,
    // M2P) was built at boot (`crate::mm::init_machine_memory`).
    let MachineMemory { frames, mem, m2p, hooks } = machine;
    // No domain has freed a frame yet, so nothing needs a TLB flush; the
    // allocations' needs are honoured all the same, with the allocator
    // unlocked.
    let shared_info = {
        let mut guard = FRAMES.lock();
        let fa = guard.as_mut().ok_or("no frame allocator")?;
        fa.alloc().ok_or("out of memory for shared_info")?
    };
    flushtlb::filtered_flush_tlb_mask(shared_info.tlbflush);
    let shared_info = shared_info.mfn;

    // Dom0's pages.
    let mut p2m: Vec<u64> = Vec::with_capacity(usize::try_from(nr_pages).unwrap_or(0));
    let mut need = TlbflushNeed::NONE;
    {
        let mut guard = FRAMES.lock();
        let fa = guard.as_mut().ok_or("no frame allocator")?;
        for _ in 0..nr_pages {
            let m = fa.alloc().ok_or("out of memory allocating dom0's pages")?;
            need = need.merge(m.tlbflush);
            p2m.push(m.mfn.0);
        }
    }
    flushtlb::filtered_flush_tlb_mask(need);
    for (pfn, &m) in (0u64..).zip(p2m.iter()) {
        let mfn = Mfn(m);
        frames.assign(mfn, DOM0).map_err(|e| format!("cannot assign frame {m:#x}: {e:?}"))?;
        m2p.set_gpfn_from_mfn(mfn, pfn);
        mem.zero_frame(mfn);
    }
    mem.zero_frame(shared_info);
    frames.assign(shared_info, DOM0).map_err(|e| format!("shared_info: {e:?}"))?;
    for i in 0..XEN_LEGACY_MAX_VCPUS {
        // evtchn_upcall_mask of every vcpu_info: events start masked.
        mem.write_bytes(shared_info, i.saturating_mul(64).saturating_add(1), &[1]);
    }

    let v_start = lay.v_start;
    let pt_mfn = |va: u64, p2m: &[u64]| -> Result<Mfn, String> {
        let pfn = va.wrapping_sub(v_start) / PAGE;
        p2m.get(pfn as usize)
            .map(|&m| Mfn(m))
            .ok_or_else(|| String::from("page table outside dom0"))
    };

    {
        let mut target = Dom0Mem { mem: &mut *mem, p2m: &p2m, v_start };
        libelf::load(&parms, image, &mut target)
            .map_err(|e| format!("cannot load the dom0 kernel: {e}"))?;
        match (initrd_bytes, pfns.initrd) {
            (Some(b), Some(first)) => copy_to_pfns(target.mem, &p2m, first, b)?,
            (Some(b), None) => target
                .fill(lay.initrd.0, b.len() as u64, Some(b))
                .map_err(|e| format!("initrd: {e}"))?,
            _ => {}
        }
        // The P2M list, a page at a time (no second copy of it on the heap):
        // in the initial mapping, or in the pages of its own mapping.
        let data_pfns = pfns.p2m_data_pfns();
        let mut va = lay.p2m.0;
        for (i, chunk) in p2m.chunks(512).enumerate() {
            let mut page = [0u8; 4096];
            for (d, m) in page.chunks_exact_mut(8).zip(chunk) {
                d.copy_from_slice(&m.to_le_bytes());
            }
            let bytes = page.get(..chunk.len().saturating_mul(8)).ok_or("p2m chunk")?;
            let len = bytes.len() as u64;
            if pfns.p2m_map.is_empty() {
                target.fill(va, len, Some(bytes)).map_err(|e| format!("p2m: {e}"))?;
            } else {
                let pfn = data_pfns.get(i).copied().ok_or("p2m data page")?;
                copy_to_pfns(target.mem, &p2m, pfn, bytes)?;
            }
            va = va.saturating_add(len);
        }

        let mut si: StartInfo = bytemuck::Zeroable::zeroed();
        let magic = b"xen-3.0-x86_64";
        for (d, s) in si.magic.iter_mut().zip(magic) {
            *d = *s;
        }
        si.nr_pages = nr_pages;
        si.shared_info = shared_info.to_addr();
        si.flags = SIF_PRIVILEGED | SIF_INITDOMAIN;
        si.pt_base = lay.page_tables.0;
        si.nr_pt_frames = lay.nr_pt_pages;
        si.mfn_list = lay.p2m.0;
        if !pfns.p2m_map.is_empty() {
            si.first_p2m_pfn = Pfn(pfns.first_p2m);
            si.nr_p2m_frames = pfns.p2m_map.len() as u64;
        }
        if let Some(b) = initrd_bytes {
            si.mod_start = pfns.initrd.unwrap_or(lay.initrd.0);
            si.mod_len = b.len() as u64;
            if pfns.initrd.is_some() {
                si.flags |= SIF_MOD_START_PFN;
            }
        }
        let max = si.cmd_line.len().saturating_sub(1);
        for (d, s) in si.cmd_line.iter_mut().zip(cmdline.bytes().take(max)) {
            *d = s;
        }
        let bytes = bytemuck::bytes_of(&si);
        target
            .fill(lay.start_info.0, bytes.len() as u64, Some(bytes))
            .map_err(|e| format!("start_info: {e}"))?;

        if let Some(hc) = parms.virt_hypercall {
            let mut page = [0u8; 4096];
            hypercall_page::fill(&mut page);
            target.fill(hc, PAGE, Some(&page)).map_err(|e| format!("hypercall page: {e}"))?;
        }
    }

    // Bootstrap page tables.
    let mut next_pt = lay.page_tables.0;
    let mut take_pt = |p2m: &[u64]| -> Result<Mfn, String> {
        if next_pt >= lay.page_tables.1 {
            return Err(String::from("bootstrap page-table area exhausted"));
        }
        let m = pt_mfn(next_pt, p2m)?;
        next_pt = next_pt.saturating_add(PAGE);
        Ok(m)
    };
    let upper = PAGE_PRESENT | PAGE_RW | PAGE_USER | PAGE_ACCESSED | PAGE_DIRTY;
    let l4 = take_pt(&p2m)?;
    let mut va = v_start;
    while va < lay.v_end {
        let mut table = l4;
        for shift in [39u32, 30, 21] {
            let idx = l_index(va, shift);
            let e = mem.read_u64(table, idx);
            table = if e & PAGE_PRESENT != 0 {
                Mfn((e & 0x000f_ffff_ffff_f000) >> 12)
            } else {
                let t = take_pt(&p2m)?;
                mem.write_u64(table, idx, (t.0 << 12) | upper);
                t
            };
        }
        let mfn = pt_mfn(va, &p2m)?;
        let mut flags = PAGE_PRESENT | PAGE_RW | PAGE_USER | PAGE_ACCESSED | PAGE_DIRTY;
        if (lay.page_tables.0..lay.page_tables.1).contains(&va) {
            flags &= !(PAGE_RW | PAGE_DIRTY);
        }
        mem.write_u64(table, l_index(va, 12), (mfn.0 << 12) | flags);
        va = va.saturating_add(PAGE);
    }

    // The P2M list's own mapping (INIT_P2M), hooked into the same L4, so
    // that pinning validates it with the rest.
    for (page, pfn) in pfns.p2m_map.iter().zip(pfns.first_p2m..) {
        let mfn = p2m.get(usize::try_from(pfn).unwrap_or(usize::MAX)).copied();
        let mfn = Mfn(mfn.ok_or("P2M page outside dom0")?);
        let (parent, shift, flags) = match page.role {
            p2m_map::Role::L3 => (Some(l4), 39, upper),
            p2m_map::Role::L2 => (walk(mem, l4, page.va, &[39]), 30, upper),
            p2m_map::Role::L1 => (walk(mem, l4, page.va, &[39, 30]), 21, upper),
            p2m_map::Role::Data => (walk(mem, l4, page.va, &[39, 30, 21]), 12, upper),
        };
        let parent = parent.ok_or("P2M table missing")?;
        mem.write_u64(parent, l_index(page.va, shift), (mfn.0 << 12) | flags);
    }

    let mut dom = Domain::new(DOM0, true, shared_info);
    // Xen gives dom0 the highest grant-table version allowed (`gnttab=`).
    dom.grant.max_version = crate::guest::gnttab_opts().max_version;
    dom.set_max_vcpus(usize::try_from(nr_vcpus).unwrap_or(1).max(1));
    dom.tot_pages = nr_pages;
    dom.max_pages = nr_pages;
    {
        let mut pv = PvMm::new(frames, mem, m2p, hooks);
        let ops = [
            MmuextOp::new(MmuextCmd::PinL4Table, l4.0, 0),
            MmuextOp::new(MmuextCmd::NewBaseptr, l4.0, 0),
        ];
        let mut effects = Vec::new();
        let v = dom.vcpus.first_mut().ok_or("dom0 has no vCPU")?;
        let (_, r) = pv.do_mmuext_op(DOM0, &ops, &mut v.arch.tables, &mut effects);
        r.map_err(|e| format!("dom0's initial page tables do not validate: {e:?}"))?;
    }

    let mut regs: GuestRegs = bytemuck::Zeroable::zeroed();
    regs.rip = parms.virt_entry;
    regs.rsp = lay.stack.1;
    regs.rsi = lay.start_info.0;
    regs.cs = FLAT_KERNEL_CS;
    regs.ss = FLAT_KERNEL_SS;
    regs.rflags = 0x202;
    Ok(Built { dom, regs })
}
