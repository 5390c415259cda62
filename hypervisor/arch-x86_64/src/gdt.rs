// SPDX-License-Identifier: GPL-2.0-only
//! Per-CPU GDT and TSS with Xen's reserved selectors and IST stacks.
//!
//! A 64-bit PV guest owns GDT entries 0..7167 (14 pages); the hypervisor's
//! entries live in the top two pages, at `FIRST_RESERVED_GDT_ENTRY`, laid out
//! as Xen's `gdt_table` so guests see the flat selectors they expect
//! (`FLAT_RING3_CS64 = 0xe033` ...). Each CPU gets 16 zeroed pages for its GDT
//! and 16 for an LDT.
//!
//! The guest part of the GDT (pages 0–13) and the LDT hold *copies* of the
//! running vCPU's descriptor pages: the PV logic validates the guest's frames
//! (typed as segment-descriptor pages, so the guest can change them only by
//! `update_descriptor`) and pushes their contents here with
//! [`set_guest_gdt_page`], [`set_guest_gdt_entry`], [`set_ldt_page`],
//! [`set_ldt_entry`] and [`load_ldt`]. Xen maps the guest frames into a
//! per-vCPU virtual area instead; the descriptors the CPU sees are the same.
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};

use x86_64::instructions::tables::{lgdt, load_tss};
use x86_64::structures::DescriptorTablePointer;
use x86_64::structures::gdt::{Descriptor, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

use crate::FrameSource;
use crate::layout::maddr_to_virt;
use crate::smp::NR_CPUS;

/// First GDT page reserved to the hypervisor.
pub const FIRST_RESERVED_GDT_PAGE: usize = 14;
/// First GDT entry reserved to the hypervisor.
pub const FIRST_RESERVED_GDT_ENTRY: usize = FIRST_RESERVED_GDT_PAGE * 512;
/// Total GDT entries (16 pages).
pub const GDT_ENTRIES: usize = 16 * 512;
/// Hypervisor 64-bit code selector.
pub const HYPERVISOR_CS: u16 = 0xe008;
/// Hypervisor data selector.
pub const HYPERVISOR_DS: u16 = 0xe010;
/// Guest ring-3 32-bit code selector (`FLAT_RING3_CS32`).
pub const FLAT_RING3_CS32: u16 = 0xe023;
/// Guest ring-3 data selector (`FLAT_RING3_DS32`/`SS32`/`SS64`).
pub const FLAT_RING3_DS32: u16 = 0xe02b;
/// Guest ring-3 64-bit code selector (`FLAT_RING3_CS64`).
pub const FLAT_RING3_CS64: u16 = 0xe033;
/// Hypervisor 32-bit code selector.
pub const HYPERVISOR_CS32: u16 = 0xe038;
/// TSS selector.
pub const TSS_SELECTOR: u16 = 0xe040;
/// LDT selector.
pub const LDT_SELECTOR: u16 = 0xe050;
/// Per-CPU selector (its limit is the CPU number).
pub const PER_CPU_SELECTOR: u16 = 0xe060;

/// IST index (1-based, as in IDT gates) of the NMI stack.
pub const IST_NMI: u8 = 1;
/// IST index of the double-fault stack.
pub const IST_DF: u8 = 2;
/// IST index of the machine-check stack.
pub const IST_MC: u8 = 3;

const IST_STACK_PAGES: u64 = 4;

/// Pages of the LDT area (8192 descriptors, the most an LDT may hold).
pub const LDT_PAGES: usize = 16;
/// Descriptors per page.
pub const DESCS_PER_PAGE: usize = 512;

/// Each online CPU's GDT and LDT (virtual addresses), set by [`load`].
static GDT_VA: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];
static LDT_VA: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];

/// One CPU's descriptor tables.
pub struct CpuTables {
    /// Virtual address of the 16-page GDT.
    pub gdt_va: u64,
    /// Virtual address of the 16-page LDT area.
    pub ldt_va: u64,
    /// Virtual address of the TSS.
    pub tss_va: u64,
    /// The CPU these tables belong to.
    pub cpu: u32,
    /// The hypervisor stack with the guest frame, and the `SYSCALL` stubs.
    pub entry: crate::entry::EntryStack,
}

/// Why the tables could not be built.
#[derive(Debug, Clone, Copy)]
pub struct OutOfFrames;

fn raw(d: &Descriptor) -> (u64, Option<u64>) {
    match *d {
        Descriptor::UserSegment(v) => (v, None),
        Descriptor::SystemSegment(lo, hi) => (lo, Some(hi)),
    }
}

/// Build the GDT, TSS and IST stacks of CPU `cpu`.
pub fn build(cpu: u32, frames: &mut dyn FrameSource) -> Result<CpuTables, OutOfFrames> {
    let gdt_pa = frames.alloc_frames(16, 16).ok_or(OutOfFrames)?;
    let tss_pa = frames.alloc_frames(1, 1).ok_or(OutOfFrames)?;
    let ldt_pa = frames.alloc_frames(LDT_PAGES as u64, 1).ok_or(OutOfFrames)?;
    let gdt_va = maddr_to_virt(gdt_pa);
    let ldt_va = maddr_to_virt(ldt_pa);
    let tss_va = maddr_to_virt(tss_pa);

    let mut tss = TaskStateSegment::new();
    for ist in [IST_NMI, IST_DF, IST_MC] {
        let stack = frames.alloc_frames(IST_STACK_PAGES, 1).ok_or(OutOfFrames)?;
        let top = maddr_to_virt(stack).wrapping_add(IST_STACK_PAGES * 4096);
        // The TSS is packed: update a copy of the table, then store it back.
        let mut table = tss.interrupt_stack_table;
        if let Some(slot) = table.get_mut(usize::from(ist.saturating_sub(1))) {
            *slot = VirtAddr::new(top);
        }
        tss.interrupt_stack_table = table;
    }
    let entry = crate::entry::build(cpu, frames).map_err(|_| OutOfFrames)?;
    tss.privilege_stack_table[0] = VirtAddr::new(entry.rsp0);
    tss.iomap_base = u16::try_from(core::mem::size_of::<TaskStateSegment>()).unwrap_or(u16::MAX);

    // SAFETY: `tss_va` maps a freshly allocated, zeroed frame owned by this
    // CPU for the rest of the hypervisor's life; nothing else references it.
    let tss_ref: &'static mut TaskStateSegment = unsafe {
        let p = tss_va as *mut TaskStateSegment;
        p.write(tss);
        &mut *p
    };

    // SAFETY: `gdt_va` maps 16 freshly allocated zeroed frames (64 KiB), that
    // is exactly GDT_ENTRIES u64s, owned by this CPU from now on.
    let gdt: &'static mut [u64] =
        unsafe { core::slice::from_raw_parts_mut(gdt_va as *mut u64, GDT_ENTRIES) };
    let entries: [(u16, u64); 7] = [
        (HYPERVISOR_CS, 0x00af_9a00_0000_ffff),
        (HYPERVISOR_DS, 0x00cf_9200_0000_ffff),
        (FLAT_RING3_CS32, 0x00cf_fa00_0000_ffff),
        (FLAT_RING3_DS32, 0x00cf_f200_0000_ffff),
        (FLAT_RING3_CS64, 0x00af_fa00_0000_ffff),
        (HYPERVISOR_CS32, 0x00cf_9a00_0000_ffff),
        (PER_CPU_SELECTOR, 0x0000_9100_0000_0000 | u64::from(cpu & 0xffff)),
    ];
    for (sel, value) in entries {
        if let Some(slot) = gdt.get_mut(usize::from(sel >> 3)) {
            *slot = value;
        }
    }
    let (lo, hi) = raw(&Descriptor::tss_segment(tss_ref));
    let tss_index = usize::from(TSS_SELECTOR >> 3);
    if let Some(slot) = gdt.get_mut(tss_index) {
        *slot = lo;
    }
    if let (Some(slot), Some(hi)) = (gdt.get_mut(tss_index + 1), hi) {
        *slot = hi;
    }
    Ok(CpuTables { gdt_va, ldt_va, tss_va, cpu, entry })
}

/// Load `tables` on the calling CPU: GDTR, CS/SS/DS/ES and TR.
///
/// # Safety
/// `tables` must come from [`build`] and not be loaded on another CPU (the
/// TSS busy bit would fault).
pub unsafe fn load(tables: &CpuTables) {
    let ptr = DescriptorTablePointer {
        limit: u16::try_from(GDT_ENTRIES * 8 - 1).unwrap_or(u16::MAX),
        base: VirtAddr::new(tables.gdt_va),
    };
    // SAFETY: the GDT holds valid descriptors for every selector loaded below
    // and stays mapped forever; the caller guarantees the TSS is not busy.
    unsafe {
        lgdt(&ptr);
        CS::set_reg(SegmentSelector(HYPERVISOR_CS));
        SS::set_reg(SegmentSelector(HYPERVISOR_DS));
        DS::set_reg(SegmentSelector(0));
        ES::set_reg(SegmentSelector(0));
        load_tss(SegmentSelector(TSS_SELECTOR));
    }
    let slot = usize::try_from(tables.cpu).unwrap_or(usize::MAX);
    if let (Some(g), Some(l)) = (GDT_VA.get(slot), LDT_VA.get(slot)) {
        g.store(tables.gdt_va, Ordering::Release);
        l.store(tables.ldt_va, Ordering::Release);
    }
    crate::entry::init_cpu(&tables.entry);
}

/// The calling CPU's descriptor table at `table` (GDT or LDT), as a slice
/// of `len` descriptors, handed to `f`. `cpu` is the calling CPU's number
/// (as every `cpu` argument in this module).
fn with_table<R>(
    table: &[AtomicU64; NR_CPUS],
    cpu: u32,
    len: usize,
    f: impl FnOnce(&mut [u64]) -> R,
) -> R {
    let cpu = usize::try_from(cpu).unwrap_or(usize::MAX);
    let va = table.get(cpu).map_or(0, |a| a.load(Ordering::Acquire));
    if va == 0 {
        return f(&mut []);
    }
    // SAFETY: `va` was published by `load` on this CPU and maps the CPU's own
    // table of at least `len` descriptors for the hypervisor's lifetime.
    // Only the owning CPU writes it, from hypervisor context with interrupts
    // off (guest entries), so no other reference to it is live; the CPU
    // itself only sets accessed bits, which the copies may overwrite.
    let slice = unsafe { core::slice::from_raw_parts_mut(va as *mut u64, len) };
    f(slice)
}

/// Copies `descs` (or zeros, for `None`) into page `page` (0–13) of the
/// calling CPU's GDT: the guest's descriptor frame number `page`.
pub fn set_guest_gdt_page(cpu: u32, page: usize, descs: Option<&[u64; DESCS_PER_PAGE]>) {
    if page >= FIRST_RESERVED_GDT_PAGE {
        return;
    }
    with_table(&GDT_VA, cpu, GDT_ENTRIES, |gdt| {
        let start = page.saturating_mul(DESCS_PER_PAGE);
        if let Some(dst) = gdt.get_mut(start..start.saturating_add(DESCS_PER_PAGE)) {
            match descs {
                Some(src) => dst.copy_from_slice(src),
                None => dst.fill(0),
            }
        }
    });
}

/// Sets guest descriptor `index` (below `FIRST_RESERVED_GDT_ENTRY`) of the
/// calling CPU's GDT.
pub fn set_guest_gdt_entry(cpu: u32, index: usize, desc: u64) {
    if index >= FIRST_RESERVED_GDT_ENTRY {
        return;
    }
    with_table(&GDT_VA, cpu, GDT_ENTRIES, |gdt| {
        if let Some(slot) = gdt.get_mut(index) {
            *slot = desc;
        }
    });
}

/// Copies `descs` (or zeros) into page `page` (0–15) of the calling CPU's LDT.
pub fn set_ldt_page(cpu: u32, page: usize, descs: Option<&[u64; DESCS_PER_PAGE]>) {
    with_table(&LDT_VA, cpu, LDT_PAGES * DESCS_PER_PAGE, |ldt| {
        let start = page.saturating_mul(DESCS_PER_PAGE);
        if let Some(dst) = ldt.get_mut(start..start.saturating_add(DESCS_PER_PAGE)) {
            match descs {
                Some(src) => dst.copy_from_slice(src),
                None => dst.fill(0),
            }
        }
    });
}

/// Sets descriptor `index` of the calling CPU's LDT.
pub fn set_ldt_entry(cpu: u32, index: usize, desc: u64) {
    with_table(&LDT_VA, cpu, LDT_PAGES * DESCS_PER_PAGE, |ldt| {
        if let Some(slot) = ldt.get_mut(index) {
            *slot = desc;
        }
    });
}

/// `lldt sel`.
///
/// # Safety
/// `sel` must be null or name a present LDT descriptor in the loaded GDT.
unsafe fn lldt(sel: SegmentSelector) {
    // SAFETY: guaranteed by the caller; LLDT touches no memory but the GDT.
    unsafe { core::arch::asm!("lldt {0:x}", in(reg) sel.0, options(nostack, preserves_flags)) };
}

/// Xen's `load_LDT`: points `LDT_SELECTOR` at the calling CPU's LDT area
/// with room for `ents` descriptors and loads LDTR (a null LDTR for 0).
pub fn load_ldt(cpu: u32, ents: u32) {
    let ents = usize::try_from(ents).unwrap_or(0).min(LDT_PAGES * DESCS_PER_PAGE);
    let ldt_va = LDT_VA
        .get(usize::try_from(cpu).unwrap_or(usize::MAX))
        .map_or(0, |a| a.load(Ordering::Acquire));
    if ents == 0 || ldt_va == 0 {
        // SAFETY: a null LDTR is always valid; LDT references then fault.
        unsafe { lldt(SegmentSelector(0)) };
        return;
    }
    // 1 ≤ ents ≤ 8192 here, so the limit fits easily.
    let limit = u64::try_from(ents.saturating_mul(8).saturating_sub(1)).unwrap_or(0);
    // An LDT system descriptor (type 2, present, DPL 0), 16 bytes.
    let lo = (limit & 0xffff)
        | ((ldt_va & 0x00ff_ffff) << 16)
        | (0x82 << 40)
        | (((limit >> 16) & 0xf) << 48)
        | (((ldt_va >> 24) & 0xff) << 56);
    let hi = ldt_va >> 32;
    with_table(&GDT_VA, cpu, GDT_ENTRIES, |gdt| {
        let i = usize::from(LDT_SELECTOR >> 3);
        if let Some(s) = gdt.get_mut(i) {
            *s = lo;
        }
        if let Some(s) = gdt.get_mut(i + 1) {
            *s = hi;
        }
    });
    // SAFETY: LDT_SELECTOR now names a present LDT descriptor covering
    // `ents` descriptors of this CPU's LDT area, which stays mapped.
    unsafe { lldt(SegmentSelector(LDT_SELECTOR)) };
}

/// Loads `sel` into the GS selector (the caller checked that it names a
/// usable data segment or is null); this also loads the GS base from the
/// descriptor, which the caller then overwrites as needed.
pub fn load_gs_selector(sel: u16) {
    // SAFETY: the caller validated `sel` against the descriptor tables
    // currently loaded, so the load cannot fault; GS's base is restored by
    // the caller, and nothing in the hypervisor relies on the selector.
    unsafe { x86_64::instructions::segmentation::GS::set_reg(SegmentSelector(sel)) };
}
