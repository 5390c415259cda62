// SPDX-License-Identifier: GPL-2.0-only
//! Machine memory at boot: the frame allocator, heap memory sized to the
//! machine, and the machine-wide PV memory state every domain builder uses.
//!
//! Boot order (`setup::start_xen`):
//!
//! 1. [`carve_heap`], before the frame allocator exists: the allocator's own
//!    bitmaps get a region below 4 GiB (the boot page tables' direct map),
//!    added to the heap at once; the per-frame structures get a region at the
//!    top of RAM, sized from the highest RAM address. Both are reserved, so
//!    the allocator never hands them out.
//! 2. [`add_machine_heap`], once the idle page tables map all RAM.
//! 3. [`init_machine_memory`]: the PV frame table (with every non-RAM frame
//!    and the first MiB owned by `DOMID_IO`), the M2P and its guest mapping,
//!    and dom0's I/O limits (the interrupt controllers' frames denied) —
//!    Xen's `arch_init_memory`, `paging_init` and `dom0_setup_permissions`.
//!    A domain builder then only allocates and maps its domain's own pages
//!    ([`MachineMemory`]), and [`MachineMemory::into_machine`] is the one
//!    place the running [`Machine`] is put together.
use alloc::vec::Vec;

use hv_arch_x86_64::FrameSource;
use hv_arch_x86_64::layout::maddr_to_virt;
use hv_arch_x86_64::pvmem::{DirectMem, MachineM2p};
use hv_core::PAGE_SIZE;
use hv_core::common::domain::Domain;
use hv_core::mm::e820::E820Map;
use hv_core::mm::frame_alloc::FrameAllocator;
use hv_core::mm::pv::FrameTable;
use hv_core::mm::tlbflush::TlbflushNeed;

use crate::guest::{Hooks, Machine};
use crate::{heap, printk};

/// The machine's frame allocator (set once during boot).
pub static FRAMES: spin::Mutex<Option<FrameAllocator>> = spin::Mutex::new(None);

/// Frames for the machine layer's early structures: below 4 GiB (mapped by the
/// boot tables' direct map) and zeroed.
pub struct ArchFrames<'a>(pub &'a mut FrameAllocator);

const FOUR_GIB: u64 = 1 << 32;
const MIB: u64 = 1 << 20;
const TWO_MIB: u64 = 2 * MIB;

impl FrameSource for ArchFrames<'_> {
    fn alloc_frames(&mut self, count: u64, align: u64) -> Option<u64> {
        let got = self.0.alloc_contiguous(count, align.max(1), Some(FOUR_GIB))?;
        boot_flush(got.tlbflush);
        zeroed(got.mfn.to_addr(), count)
    }
}

/// Frames anywhere in RAM, zeroed: for use once the idle page tables map
/// all of it (after `setup::init_paging`).
pub struct DirectFrames<'a>(pub &'a mut FrameAllocator);

impl FrameSource for DirectFrames<'_> {
    fn alloc_frames(&mut self, count: u64, align: u64) -> Option<u64> {
        let got = self.0.alloc_contiguous(count, align.max(1), None)?;
        boot_flush(got.tlbflush);
        zeroed(got.mfn.to_addr(), count)
    }
}

/// The TLB flush frames taken at boot need, run with the allocator still
/// locked: at boot no domain has freed a frame, so there is none, and no
/// other CPU takes that lock (a shootdown target spinning on it with
/// interrupts off would never answer).
fn boot_flush(need: TlbflushNeed) {
    hv_arch_x86_64::flushtlb::filtered_flush_tlb_mask(need);
}

fn zeroed(pa: u64, count: u64) -> Option<u64> {
    let len = usize::try_from(count.checked_mul(PAGE_SIZE)?).ok()?;
    // SAFETY: the frames were just taken from the allocator, so nothing
    // else references them; the callers only allocate where the current
    // page tables' direct map reaches (below 4 GiB, or all RAM once the idle
    // tables are in use).
    unsafe { core::ptr::write_bytes(maddr_to_virt(pa) as *mut u8, 0, len) };
    Some(pa)
}

/// Heap bytes the per-frame structures of a machine with frames
/// `0..max_page` need: the PV frame table, a domain builder's P2M list
/// (8 bytes per page, at most all of RAM) and the frame table's list of
/// freed frames, plus 1/32 and 4 MiB of slack; a multiple of 2 MiB.
fn machine_heap_bytes(max_page: u64) -> u64 {
    let need = FrameTable::bytes_for(max_page).saturating_add(max_page.saturating_mul(8));
    need.saturating_add(need / 32)
        .saturating_add(4 * MIB)
        .checked_next_multiple_of(TWO_MIB)
        .unwrap_or(u64::MAX)
}

/// A region of RAM set aside for the heap: physical start and length.
#[derive(Clone, Copy, Debug)]
pub struct HeapRegion {
    start: u64,
    len: u64,
}

/// Takes RAM for the heap out of `map` before the frame allocator is built
/// (each region is appended to `reserved`, which the allocator then skips):
/// below 4 GiB, room for the allocator's bitmaps (added to the heap now);
/// at the top of RAM, room for the per-frame structures, returned to be
/// added by [`add_machine_heap`] once all RAM is mapped. `extra` is heap
/// the allocator needs besides its bitmaps (its `badpage=` list).
pub fn carve_heap(map: &E820Map, reserved: &mut Vec<(u64, u64)>, extra: u64) -> Option<HeapRegion> {
    let early = FrameAllocator::bookkeeping_bytes(map)
        .saturating_add(extra)
        .saturating_add(64 * 1024)
        .checked_next_multiple_of(PAGE_SIZE)
        .unwrap_or(u64::MAX);
    match map.find_free(early, FOUR_GIB, reserved) {
        Some(start) => {
            let added = usize::try_from(early).ok().and_then(|len| {
                let va = usize::try_from(maddr_to_virt(start)).ok()?;
                // SAFETY: RAM below 4 GiB (mapped by the boot page tables'
                // direct map and by the idle tables built later) that no
                // reserved range overlaps, reserved from the frame allocator
                // for good below, so the heap owns it.
                unsafe { heap::add_region(va, len) }.ok()
            });
            if added.is_some() {
                reserved.push((start, start.saturating_add(early)));
                log::info!(
                    "Heap: {} KiB at {start:#x} for the frame allocator's bitmaps",
                    early / 1024
                );
            }
        }
        None => printk!("WARNING: no RAM below 4 GiB for the frame allocator's bitmaps"),
    }
    let max_page = map.max_ram_addr() / PAGE_SIZE;
    let len = machine_heap_bytes(max_page);
    let Some(start) = map.find_free(len, u64::MAX, reserved) else {
        printk!(
            "WARNING: no {} MiB of contiguous RAM for the per-frame tables; they will not fit",
            len / MIB
        );
        return None;
    };
    reserved.push((start, start.saturating_add(len)));
    Some(HeapRegion { start, len })
}

/// Adds the region [`carve_heap`] set aside for the per-frame structures
/// to the heap. Call once the idle page tables map all RAM.
pub fn add_machine_heap(region: HeapRegion) {
    let HeapRegion { start, len } = region;
    let added = usize::try_from(len).ok().and_then(|n| {
        let va = usize::try_from(maddr_to_virt(start)).ok()?;
        // SAFETY: RAM that `carve_heap` reserved from the frame allocator
        // (so nothing else uses it), mapped by the idle tables' direct map
        // of all RAM, which every CPU uses from now on.
        unsafe { heap::add_region(va, n) }.ok()
    });
    match added {
        Some(()) => log::info!(
            "Heap: {} MiB at {start:#x}-{:#x} for the per-frame tables",
            len / MIB,
            start.saturating_add(len)
        ),
        None => printk!("WARNING: the per-frame tables' heap region could not be added"),
    }
}

/// The machine-wide PV memory state: what every domain's memory is
/// accounted in, shared by all domain builders.
pub struct MachineMemory {
    /// Frame accounting for every machine frame.
    pub frames: FrameTable,
    /// Machine memory through the direct map.
    pub mem: DirectMem,
    /// The M2P.
    pub m2p: MachineM2p,
    /// The hypervisor's L4 slots of guest page tables.
    pub hooks: Hooks,
}

impl MachineMemory {
    /// The running machine: this state with `dom` in it (the one place a
    /// [`Machine`] is built).
    pub fn into_machine(self, dom: Domain) -> Machine {
        let Self { frames, mem, m2p, hooks } = self;
        Machine::new(dom, frames, mem, m2p, hooks)
    }
}

/// Builds the machine-wide memory state for the RAM of `map`: frame table
/// with the I/O frames given to `DOMID_IO`, the M2P (from frames anywhere
/// in RAM) and its guest mapping, dom0's I/O limits (frames from
/// `io_limit` up, and `io_denied`), and the hooks giving guest page tables
/// the hypervisor's slots of `idle_cr3`.
///
/// # Errors
///
/// When memory for the M2P runs out.
pub fn init_machine_memory(
    map: &E820Map,
    idle_cr3: u64,
    io_limit: u64,
    io_denied: Vec<u64>,
) -> Result<MachineMemory, &'static str> {
    let ram: Vec<(u64, u64)> =
        map.ram_regions().map(|e| (e.addr, e.addr.saturating_add(e.size))).collect();
    let max_page = map.max_ram_addr() / PAGE_SIZE;
    let mut frames = FrameTable::new(max_page);
    if frames.max_page() != max_page {
        return Err("no memory for the frame table");
    }
    let io = frames.assign_io_frames(&ram);
    let m2p = {
        let mut guard = FRAMES.lock();
        let fa = guard.as_mut().ok_or("no frame allocator")?;
        MachineM2p::new(max_page, &mut DirectFrames(fa)).ok_or("out of memory for the M2P")?
    };
    crate::guest::set_m2p_chunks(m2p.chunk_mfns());
    crate::guest::set_iomem_denied(io_limit, io_denied);
    log::info!(
        "Frame table: {max_page} frames ({} KiB), {io} I/O frames; M2P: {} KiB",
        FrameTable::bytes_for(max_page) / 1024,
        max_page.saturating_mul(8) / 1024
    );
    let hooks = Hooks { idle_cr3, m2p_l4e: m2p.l4_entry(), cpu: 0 };
    Ok(MachineMemory { frames, mem: DirectMem::new(&ram), m2p, hooks })
}
