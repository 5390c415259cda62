// SPDX-License-Identifier: GPL-2.0-only
//! Hypercall buffers: whole pages of anonymous memory locked in RAM
//! (`mlock`), as libxencall makes them when `/dev/xen/hypercall` is not
//! used. The hypervisor reads and writes them by the caller's virtual
//! address while the hypercall runs; locked, they are present and stay
//! put.
//!
//! All access from Rust goes through [`HypercallBuffer::read`] and
//! [`HypercallBuffer::write`] of `Pod` values at checked offsets.

use core::num::NonZeroUsize;
use core::ptr::NonNull;

use bytemuck::Pod;
use nix::sys::mman::{MapFlags, ProtFlags};

use crate::{Error, Result};

/// The page size the buffers are made of.
const PAGE: usize = 4096;

/// Locked, zeroed memory for hypercall arguments.
#[derive(Debug)]
pub struct HypercallBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

impl HypercallBuffer {
    /// A buffer of at least `len` bytes (whole pages, at least one).
    pub fn new(len: usize) -> Result<Self> {
        let len = len.max(1).div_ceil(PAGE).saturating_mul(PAGE);
        let size = NonZeroUsize::new(len).ok_or(Error::Buffer(nix::Error::EINVAL))?;
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // affected.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_POPULATE,
            )
        }
        .map_err(Error::Buffer)?
        .cast::<u8>();
        let buf = Self { ptr, len };
        // SAFETY: the range is the mapping just made.
        unsafe { nix::sys::mman::mlock(buf.ptr.cast(), len) }.map_err(Error::Buffer)?;
        Ok(buf)
    }

    /// Its size in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (never: at least one page).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of byte `off`, for a hypercall argument; `None` past the
    /// end.
    #[must_use]
    pub fn addr(&self, off: usize) -> Option<u64> {
        (off <= self.len).then(|| (self.ptr.as_ptr() as u64).saturating_add(off as u64))
    }

    /// The contents.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is this buffer's mapping, readable and
        // initialised (zero-filled by the kernel), borrowed for `&self`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The contents, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `bytes`, borrowed exclusively for `&mut self`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Writes `value` at `off`; `false` if it does not fit.
    pub fn write<T: Pod>(&mut self, off: usize, value: &T) -> bool {
        let src = bytemuck::bytes_of(value);
        match self.bytes_mut().get_mut(off..off.saturating_add(src.len())) {
            Some(dst) if dst.len() == src.len() => {
                dst.copy_from_slice(src);
                true
            }
            _ => false,
        }
    }

    /// Reads a `T` at `off`; `None` if it does not fit.
    #[must_use]
    pub fn read<T: Pod>(&self, off: usize) -> Option<T> {
        let size = core::mem::size_of::<T>();
        let src = self.bytes().get(off..off.checked_add(size)?)?;
        Some(bytemuck::pod_read_unaligned(src))
    }
}

impl Drop for HypercallBuffer {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer borrowed (`&mut
        // self`); failures leave at worst a leaked mapping.
        unsafe {
            let _ = nix::sys::mman::munlock(self.ptr.cast(), self.len);
            let _ = nix::sys::mman::munmap(self.ptr.cast(), self.len);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn whole_pages_zeroed_and_bounds_checked() {
        // mlock may be limited (RLIMIT_MEMLOCK) on a build host; one page is
        // within every default limit.
        let mut b = HypercallBuffer::new(10).unwrap();
        assert_eq!(b.len(), PAGE);
        assert!(b.bytes().iter().all(|&x| x == 0));
        assert!(b.write(8, &0x1122_3344_5566_7788u64));
        assert_eq!(b.read::<u64>(8), Some(0x1122_3344_5566_7788));
        assert!(!b.write(PAGE - 4, &0u64));
        assert_eq!(b.read::<u64>(PAGE - 4), None);
        assert_eq!(b.read::<u64>(usize::MAX), None);
        assert_eq!(b.addr(PAGE), Some(b.addr(0).unwrap() + PAGE as u64));
        assert_eq!(b.addr(PAGE + 1), None);
    }
}
