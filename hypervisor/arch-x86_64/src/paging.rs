// SPDX-License-Identifier: GPL-2.0-only
//! The hypervisor's own ("idle") page tables.
//!
//! The boot assembly maps the image and 4 GiB of direct map with 2 MiB pages,
//! plus an identity map for the switch to long mode. [`build_idle_pagetable`]
//! replaces them with tables that populate only the hypervisor's PML4 slots:
//! the image (slot 261, shared with the boot tables) and a direct map of every
//! region of the memory map (slots 262–271), so all of the lower half and the
//! guest part of the upper half are free for PV guests.
use x86_64::PhysAddr;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::{PageTable, PageTableFlags, PhysFrame};

use crate::FrameSource;
use crate::layout::{DIRECTMAP_SIZE, DIRECTMAP_VIRT_START, maddr_to_virt, virt_to_maddr};

const TWO_MIB: u64 = 2 * 1024 * 1024;
const FOUR_GIB: u64 = 4 * 1024 * 1024 * 1024;
/// Start of the uncached window (the MMIO hole below 4 GiB).
const MMIO_HOLE_START: u64 = 3 * 1024 * 1024 * 1024;

unsafe extern "C" {
    static boot_pml4: u8;
}

/// Page-table frames ran out while building.
#[derive(Debug, Clone, Copy)]
pub struct OutOfFrames;

/// # Safety
/// `pa` must be the physical address of a page-table frame that is mapped in
/// the direct map and not otherwise borrowed for the returned lifetime.
unsafe fn table_at(pa: u64) -> &'static mut PageTable {
    // SAFETY: guaranteed by the caller.
    unsafe { &mut *(maddr_to_virt(pa) as *mut PageTable) }
}

fn next_table(
    table: &mut PageTable,
    index: usize,
    frames: &mut dyn FrameSource,
) -> Result<&'static mut PageTable, OutOfFrames> {
    let entry = &mut table[index];
    if entry.is_unused() {
        let pa = frames.alloc_frames(1, 1).ok_or(OutOfFrames)?;
        entry.set_addr(PhysAddr::new(pa), PageTableFlags::PRESENT | PageTableFlags::WRITABLE);
    }
    // SAFETY: the entry points at a page-table frame we allocated (zeroed) or
    // installed earlier in this build; tables are only reached through it.
    Ok(unsafe { table_at(entry.addr().as_u64()) })
}

fn map_2m(pml4: &mut PageTable, pa: u64, frames: &mut dyn FrameSource) -> Result<(), OutOfFrames> {
    let va = DIRECTMAP_VIRT_START.wrapping_add(pa);
    let l4 = usize::try_from((va >> 39) & 511).unwrap_or(0);
    let l3 = usize::try_from((va >> 30) & 511).unwrap_or(0);
    let l2 = usize::try_from((va >> 21) & 511).unwrap_or(0);
    let pdpt = next_table(pml4, l4, frames)?;
    let pd = next_table(pdpt, l3, frames)?;
    let mut flags = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::HUGE_PAGE
        | PageTableFlags::GLOBAL;
    if (MMIO_HOLE_START..FOUR_GIB).contains(&pa) {
        flags |= PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH;
    }
    pd[l2].set_addr(PhysAddr::new(pa), flags);
    Ok(())
}

/// Build the idle page tables: the image slot of the boot tables, and a direct
/// map of `0..4 GiB` plus every `(start, end)` region given. Returns the CR3
/// value (physical address of the new PML4).
pub fn build_idle_pagetable(
    regions: &[(u64, u64)],
    frames: &mut dyn FrameSource,
) -> Result<u64, OutOfFrames> {
    let pml4_pa = frames.alloc_frames(1, 1).ok_or(OutOfFrames)?;
    // SAFETY: freshly allocated, zeroed, direct-mapped frame.
    let pml4 = unsafe { table_at(pml4_pa) };
    // SAFETY: boot_pml4 is the boot page table in .bss; we only read it.
    let boot = unsafe { &*(core::ptr::addr_of!(boot_pml4).cast::<PageTable>()) };
    let image_slot = usize::try_from((crate::layout::XEN_VIRT_START >> 39) & 511).unwrap_or(0);
    pml4[image_slot] = boot[image_slot].clone();

    let mut pa = 0;
    while pa < FOUR_GIB {
        map_2m(pml4, pa, frames)?;
        pa = pa.saturating_add(TWO_MIB);
    }
    for &(start, end) in regions {
        let end = end.min(DIRECTMAP_SIZE);
        let mut pa = start & !(TWO_MIB - 1);
        while pa < end {
            if pa >= FOUR_GIB {
                map_2m(pml4, pa, frames)?;
            }
            pa = pa.saturating_add(TWO_MIB);
        }
    }
    Ok(pml4_pa)
}

/// Switch the calling CPU to the page tables at `cr3`.
///
/// # Safety
/// `cr3` must come from [`build_idle_pagetable`]: it maps the image, the
/// stacks in use and the direct map exactly as the current tables do.
pub unsafe fn switch_to(cr3: u64) {
    let frame = PhysFrame::containing_address(PhysAddr::new(cr3));
    // SAFETY: guaranteed by the caller.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}

/// Physical address of the boot PML4 (used by the AP trampoline).
#[must_use]
pub fn boot_pml4_maddr() -> u64 {
    virt_to_maddr(core::ptr::addr_of!(boot_pml4) as u64)
}
