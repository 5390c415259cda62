// SPDX-License-Identifier: GPL-2.0-only
//! The dom0 kernel image: the module itself, or a bzImage's ELF payload
//! decompressed into frames of its own (Xen's `bzimage_parse`).
//!
//! The decompressed ELF of a distribution kernel (about 63 MiB for Debian
//! 12) and its XZ dictionary (32 MiB) do not fit the 16 MiB heap, so both
//! are contiguous runs of frames from the frame allocator, used through the
//! direct map: the dictionary is returned as soon as decompression ends,
//! the ELF when the [`KernelImage`] is dropped after dom0 is built. As Xen
//! reserves `bzimage_headroom` before sizing dom0, [`headroom_frames`] tells
//! the dom0 sizing how many frames this will take, so that a default
//! `dom0_mem` leaves room for them.
//!
//! `hv_core::bzimage` does the parsing and decompression; this module only
//! provides the memory and prints the result.

use alloc::format;
use alloc::string::String;

use hv_arch_x86_64::flushtlb;
use hv_arch_x86_64::layout::maddr_to_virt;
use hv_boot::Module;
use hv_core::PAGE_SIZE;
use hv_core::bzimage::{self, BzImage, BzImageError, MAX_OUTPUT};
use hv_core::mm::Mfn;

use crate::mm::FRAMES;
use crate::printk;

/// A run of contiguous frames, returned to the allocator on drop.
struct Frames {
    first: Mfn,
    count: u64,
}

impl Frames {
    /// `bytes` rounded up to whole frames, or `None` when memory is short.
    fn alloc(bytes: usize) -> Option<Self> {
        let count = u64::try_from(bytes).ok()?.div_ceil(PAGE_SIZE).max(1);
        let got = FRAMES.lock().as_mut()?.alloc_contiguous(count, 1, None)?;
        // Boot time: no domain freed a frame yet; honoured all the same.
        flushtlb::filtered_flush_tlb_mask(got.tlbflush);
        Some(Self { first: got.mfn, count })
    }

    fn len(&self) -> usize {
        usize::try_from(self.count.saturating_mul(PAGE_SIZE)).unwrap_or(0)
    }

    /// Where the frames are in the direct map.
    fn va(&self) -> u64 {
        maddr_to_virt(self.first.to_addr())
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: the frames are RAM taken from the allocator by `alloc` and
        // owned by `self` until drop; the idle page tables direct-map all
        // RAM; the borrow of `self` keeps any mutable view from coexisting.
        unsafe { core::slice::from_raw_parts(self.va() as *const u8, self.len()) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; `&mut self` makes this view exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.va() as *mut u8, self.len()) }
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        let mut guard = FRAMES.lock();
        if let Some(fa) = guard.as_mut() {
            for i in 0..self.count {
                // Frames this struct took; a failure would be a double free,
                // which the allocator refuses without harm.
                let _ = fa.free(Mfn(self.first.0.saturating_add(i)));
            }
        }
    }
}

/// The kernel as libelf will read it.
pub struct KernelImage {
    /// The module (an ELF kernel); `None` when `elf` holds the image.
    module: Option<&'static [u8]>,
    /// The decompressed ELF and its length.
    elf: Option<(Frames, usize)>,
}

impl KernelImage {
    /// The ELF bytes.
    pub fn bytes(&self) -> &[u8] {
        match (&self.elf, self.module) {
            (Some((frames, len)), _) => frames.as_slice().get(..*len).unwrap_or_default(),
            (None, Some(module)) => module,
            (None, None) => &[],
        }
    }
}

/// The module's bytes.
fn module_bytes(kernel: &Module) -> &'static [u8] {
    // SAFETY: boot modules are RAM reserved from the frame allocator and
    // never written while dom0 is built.
    unsafe { hv_arch_x86_64::pvmem::phys_slice(kernel.start, kernel.end) }
}

/// Frames decompressing `kernel` will hold while dom0's memory is
/// allocated (the ELF; the dictionary is freed before): 0 for an ELF kernel
/// or a bzImage that will be refused anyway.
pub fn headroom_frames(kernel: &Module) -> u64 {
    let Ok(bz) = bzimage::parse(module_bytes(kernel)) else { return 0 };
    let Ok((out, _)) = bz.sizes(MAX_OUTPUT) else { return 0 };
    u64::try_from(out).map_or(0, |b| b.div_ceil(PAGE_SIZE))
}

/// The kernel image of module `kernel`: the module itself unless it is a
/// bzImage, whose payload is decompressed into frames.
pub fn load(kernel: &Module) -> Result<KernelImage, String> {
    let image = module_bytes(kernel);
    let bz = match bzimage::parse(image) {
        Ok(bz) => bz,
        Err(BzImageError::NotBzImage) => return Ok(KernelImage { module: Some(image), elf: None }),
        Err(e) => return Err(format!("cannot load the dom0 kernel: {e}")),
    };
    let started = hv_arch_x86_64::time::now_ns();
    let (elf, len) = decompress(&bz)?;
    let ms = hv_arch_x86_64::time::now_ns().saturating_sub(started) / 1_000_000;
    printk!(
        "Dom0 kernel: bzImage v{}.{:02}: {} payload, {} bytes -> {} bytes ELF ({ms} ms)",
        bz.version >> 8,
        bz.version & 0xff,
        bz.compression.name(),
        bz.payload.len(),
        len
    );
    Ok(KernelImage { module: None, elf: Some((elf, len)) })
}

/// Decompresses `bz` into fresh frames; the dictionary's are freed on return.
fn decompress(bz: &BzImage<'_>) -> Result<(Frames, usize), String> {
    let fail = |e: BzImageError| format!("cannot load the dom0 kernel: {e}");
    let (out_len, dict_len) = bz.sizes(MAX_OUTPUT).map_err(fail)?;
    let mut out = Frames::alloc(out_len)
        .ok_or_else(|| format!("out of memory for the {out_len}-byte decompressed dom0 kernel"))?;
    let mut dict = if dict_len == 0 {
        None
    } else {
        Some(Frames::alloc(dict_len).ok_or_else(|| {
            format!("out of memory for the {dict_len}-byte XZ dictionary of the dom0 kernel")
        })?)
    };
    let scratch = dict.as_mut().map_or(&mut [][..], Frames::as_mut_slice);
    let len = bz.decompress_into(out.as_mut_slice(), scratch).map_err(fail)?;
    Ok((out, len))
}
