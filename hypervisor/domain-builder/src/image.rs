// SPDX-License-Identifier: GPL-2.0-only
//! The kernel image: an ELF as is, or a bzImage's ELF payload (Xen's
//! toolstack unwraps bzImages before libelf sees them, as the hypervisor's
//! dom0 builder does), in an 8-byte aligned buffer as `hv_libelf::parse`
//! requires.

use alloc::vec::Vec;

use hv_libelf::bzimage::{self, ElfBuf};

use crate::BuildError;

/// Largest decompressed kernel accepted (the loader's default bound).
pub const MAX_KERNEL: usize = bzimage::MAX_OUTPUT;

/// An ELF image in an aligned buffer of its own, or borrowed when the
/// caller's bytes are already aligned.
pub enum KernelImage<'a> {
    /// The caller's bytes (an 8-byte aligned ELF).
    Borrowed(&'a [u8]),
    /// A copy of a misaligned ELF.
    Copied(Vec<u64>, usize),
    /// A bzImage's decompressed payload.
    Unwrapped(ElfBuf),
}

impl KernelImage<'_> {
    /// The ELF bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Borrowed(b) => b,
            Self::Copied(words, len) => {
                let all: &[u8] = bytemuck::cast_slice(words);
                all.get(..*len).unwrap_or(all)
            }
            Self::Unwrapped(buf) => buf.bytes(),
        }
    }
}

/// Prepares `kernel` for the ELF loader: a bzImage is decompressed (within
/// [`MAX_KERNEL`]), a misaligned ELF copied.
///
/// # Errors
/// A bzImage that cannot be unwrapped; no memory for the copy.
pub fn prepare<E>(kernel: &[u8]) -> Result<KernelImage<'_>, BuildError<E>> {
    if bzimage::is_bzimage(kernel) {
        let (_, elf) = bzimage::decompress(kernel, MAX_KERNEL)?;
        return Ok(KernelImage::Unwrapped(elf));
    }
    if kernel.as_ptr().addr().is_multiple_of(8) {
        return Ok(KernelImage::Borrowed(kernel));
    }
    let words_len = kernel.len().div_ceil(8);
    let mut words: Vec<u64> = Vec::new();
    words.try_reserve_exact(words_len).map_err(|_| BuildError::OutOfMemory(kernel.len() as u64))?;
    words.resize(words_len, 0);
    let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
    if let Some(d) = dst.get_mut(..kernel.len()) {
        d.copy_from_slice(kernel);
    }
    Ok(KernelImage::Copied(words, kernel.len()))
}
