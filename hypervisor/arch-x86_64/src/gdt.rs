// SPDX-License-Identifier: GPL-2.0-only
//! Per-CPU GDT and TSS with Xen's reserved selectors and IST stacks.
//!
//! A 64-bit PV guest owns GDT entries 0..7167 (14 pages); the hypervisor's
//! entries live in the top two pages, at `FIRST_RESERVED_GDT_ENTRY`, laid out
//! as Xen's `gdt_table` so guests see the flat selectors they expect
//! (`FLAT_RING3_CS64 = 0xe033` ...). Each CPU gets 16 zeroed pages for its GDT:
//! the guest part stays empty until guests install frames there.
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::{lgdt, load_tss};
use x86_64::structures::DescriptorTablePointer;
use x86_64::structures::gdt::{Descriptor, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

use crate::FrameSource;
use crate::layout::maddr_to_virt;

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

/// One CPU's descriptor tables.
pub struct CpuTables {
    /// Virtual address of the 16-page GDT.
    pub gdt_va: u64,
    /// Virtual address of the TSS.
    pub tss_va: u64,
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
    let gdt_va = maddr_to_virt(gdt_pa);
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
    Ok(CpuTables { gdt_va, tss_va, entry })
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
    crate::entry::init_cpu(&tables.entry);
}
