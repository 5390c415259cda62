// SPDX-License-Identifier: GPL-2.0-only
//! The global frame allocator and the glue giving the machine layer frames.
use hv_arch_x86_64::FrameSource;
use hv_arch_x86_64::layout::maddr_to_virt;
use hv_core::mm::frame_alloc::FrameAllocator;

/// The machine's frame allocator (set once during boot).
pub static FRAMES: spin::Mutex<Option<FrameAllocator>> = spin::Mutex::new(None);

/// Frames for the machine layer's early structures: below 4 GiB (mapped by the
/// boot tables' direct map) and zeroed.
pub struct ArchFrames<'a>(pub &'a mut FrameAllocator);

const FOUR_GIB: u64 = 1 << 32;

impl FrameSource for ArchFrames<'_> {
    fn alloc_frames(&mut self, count: u64, align: u64) -> Option<u64> {
        let mfn = self.0.alloc_contiguous(count, align.max(1), Some(FOUR_GIB))?;
        let pa = mfn.to_addr();
        let len = usize::try_from(count.checked_mul(hv_core::PAGE_SIZE)?).ok()?;
        // SAFETY: the frames were just taken from the allocator, so nothing
        // else references them; they lie below 4 GiB, which both the boot and
        // the idle page tables map in the direct map.
        unsafe { core::ptr::write_bytes(maddr_to_virt(pa) as *mut u8, 0, len) };
        Some(pa)
    }
}
