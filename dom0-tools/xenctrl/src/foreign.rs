// SPDX-License-Identifier: GPL-2.0-only
//! Foreign memory: another domain's frames mapped into this process, the
//! role of libxenforeignmemory on Linux.
//!
//! As there, a [`ForeignMemory`] handle holds its own privcmd file; a
//! mapping is made in two steps: `mmap` of the privcmd file reserves the
//! address range (a `VM_PFNMAP` area of privcmd's), then
//! `IOCTL_PRIVCMD_MMAPBATCH_V2` asks Linux to fill it with the frames (for
//! a PV dom0, `mmu_update` of the area's L1 entries with the domain as
//! `foreigndom`); Linux reports an error per frame. A [`ForeignMapping`]
//! unmaps on drop (`munmap`, Linux then clears the entries).
//!
//! Frames are a PV domain's machine frames (what `populate_physmap`
//! returned for it), as `xenforeignmemory_map` takes GFNs, which for PV
//! are MFNs.

use core::num::NonZeroUsize;
use core::ptr::NonNull;
use std::os::fd::{AsRawFd, OwnedFd};

use guest_abi::xen::{DomId, Errno};
use nix::fcntl::OFlag;
use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::stat::Mode;

use crate::domctl::{no_fit, refused};
use crate::privcmd::PRIVCMD_PATH;
use crate::{Error, Result};

/// Size of a frame.
pub const PAGE_SIZE: usize = 4096;

/// Most frames one mapping may hold (1 GiB; libxenforeignmemory has no
/// limit, a toolstack maps far less at a time).
pub const MAX_FRAMES: usize = 1 << 18;

/// `struct privcmd_mmapbatch_v2` (Linux's `include/uapi/xen/privcmd.h`).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct PrivcmdMmapbatchV2 {
    /// Number of frames.
    pub num: u32,
    /// The domain owning them.
    pub dom: u16,
    /// Padding (the C struct's alignment hole).
    pub pad: u16,
    /// The virtual address of the privcmd area to fill.
    pub addr: u64,
    /// `const xen_pfn_t *arr`: the frames.
    pub arr: u64,
    /// `int *err`: per-frame results, 0 or a negative errno.
    pub err: u64,
}
const _: () = assert!(core::mem::size_of::<PrivcmdMmapbatchV2>() == 32);
const _: () = assert!(core::mem::offset_of!(PrivcmdMmapbatchV2, addr) == 8);
const _: () = assert!(core::mem::offset_of!(PrivcmdMmapbatchV2, err) == 24);

/// `IOCTL_PRIVCMD_MMAPBATCH_V2`: `_IOC(_IOC_NONE, 'P', 4, sizeof(struct
/// privcmd_mmapbatch_v2))`.
pub const IOCTL_PRIVCMD_MMAPBATCH_V2: u64 = (32 << 16) | ((b'P' as u64) << 8) | 4;

nix::ioctl_write_ptr_bad!(
    /// The raw ioctl.
    privcmd_mmapbatch_v2,
    IOCTL_PRIVCMD_MMAPBATCH_V2,
    PrivcmdMmapbatchV2
);

/// Access wanted to the frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    /// Read-only.
    Read,
    /// Read and write.
    ReadWrite,
}

/// The per-frame results Linux wrote (`0` or `-errno`) as errors, `None`
/// for a mapped frame; an unknown number is `EINVAL`.
#[must_use]
pub fn frame_errors(raw: &[i32]) -> Vec<Option<Errno>> {
    raw.iter()
        .map(|&e| (e != 0).then(|| Errno::from_neg_i64(i64::from(e)).unwrap_or(Errno::EINVAL)))
        .collect()
}

/// The first frame that did not map, as an error naming it.
///
/// # Errors
/// The first failed frame's errno.
pub fn all_mapped(dom: DomId, frames: &[u64], errors: &[Option<Errno>]) -> Result<()> {
    match frames.iter().zip(errors).find_map(|(f, e)| e.map(|e| (f, e))) {
        Some((frame, errno)) => {
            Err(refused(&format!("foreign mapping of frame {frame:#x} of d{}", dom.0), errno))
        }
        None => Ok(()),
    }
}

/// A handle for mapping other domains' frames (`xenforeignmemory_handle`).
#[derive(Debug)]
pub struct ForeignMemory {
    fd: OwnedFd,
}

impl ForeignMemory {
    /// Opens privcmd for mappings.
    ///
    /// # Errors
    /// The device could not be opened.
    pub fn open() -> Result<Self> {
        let fd = nix::fcntl::open(PRIVCMD_PATH, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|source| Error::Open { path: PRIVCMD_PATH, source })?;
        Ok(Self { fd })
    }

    /// Maps `frames` of `dom`, every one of them
    /// (`xenforeignmemory_map` with an error array, any error fatal).
    ///
    /// # Errors
    /// The first frame that did not map, or the mapping could not be made.
    pub fn map(&self, dom: DomId, prot: Prot, frames: &[u64]) -> Result<ForeignMapping> {
        let m = self.map_partial(dom, prot, frames)?;
        all_mapped(dom, frames, &m.errors)?;
        Ok(m)
    }

    /// Maps `frames` of `dom`; frames that fail are left out (their pages
    /// are not accessible, [`ForeignMapping::error`] says why).
    ///
    /// # Errors
    /// The mapping as a whole was refused (no privcmd area, bad arguments,
    /// no memory).
    pub fn map_partial(&self, dom: DomId, prot: Prot, frames: &[u64]) -> Result<ForeignMapping> {
        let what = "IOCTL_PRIVCMD_MMAPBATCH_V2";
        if frames.is_empty() || frames.len() > MAX_FRAMES {
            return Err(refused(what, Errno::EINVAL));
        }
        let len = frames.len().checked_mul(PAGE_SIZE).ok_or_else(no_fit)?;
        let size = NonZeroUsize::new(len).ok_or_else(no_fit)?;
        let flags = match prot {
            Prot::Read => ProtFlags::PROT_READ,
            Prot::ReadWrite => ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        };
        // SAFETY: a new shared mapping of the privcmd file at an address the
        // kernel picks: no existing memory is affected. Linux makes it a
        // privcmd area with no pages until the ioctl fills it.
        let ptr =
            unsafe { nix::sys::mman::mmap(None, size, flags, MapFlags::MAP_SHARED, &self.fd, 0) }
                .map_err(Error::Buffer)?
                .cast::<u8>();
        // From here on `mapping` owns the area and unmaps it on every path.
        let mut mapping =
            ForeignMapping { ptr, len, errors: Vec::new(), writable: prot == Prot::ReadWrite };
        let mut errs = vec![0i32; frames.len()];
        let batch = PrivcmdMmapbatchV2 {
            num: u32::try_from(frames.len()).map_err(|_| no_fit())?,
            dom: dom.0,
            pad: 0,
            addr: ptr.as_ptr() as u64,
            arr: frames.as_ptr() as u64,
            err: errs.as_mut_ptr() as u64,
        };
        // SAFETY: `batch` describes the area just mapped (exactly
        // `frames.len()` pages), `frames` for reading and `errs` for writing,
        // both `frames.len()` long and alive across the call.
        let ret = unsafe { privcmd_mmapbatch_v2(self.fd.as_raw_fd(), &raw const batch) };
        match ret {
            // ENOENT: some frames are paged out; their errors say which.
            Ok(_) | Err(nix::Error::ENOENT) => {}
            Err(e) => {
                let errno = Errno::from_neg_i64(i64::from(e as i32).saturating_neg())
                    .unwrap_or(Errno::EINVAL);
                return Err(refused(what, errno));
            }
        }
        mapping.errors = frame_errors(&errs);
        Ok(mapping)
    }
}

/// Frames of another domain mapped here; unmapped on drop.
///
/// The memory is shared with the other domain, which may change it at any
/// time if it runs; the toolstack maps frames of domains it is building
/// (paused) or rings whose protocol copes with that.
#[derive(Debug)]
pub struct ForeignMapping {
    ptr: NonNull<u8>,
    len: usize,
    /// Per frame: `None` mapped, else why not.
    errors: Vec<Option<Errno>>,
    writable: bool,
}

impl ForeignMapping {
    /// Frames in the mapping.
    #[must_use]
    pub fn frames(&self) -> usize {
        self.len / PAGE_SIZE
    }

    /// Why frame `i` is not mapped (`None`: it is, or `i` is out of range).
    #[must_use]
    pub fn error(&self, i: usize) -> Option<Errno> {
        self.errors.get(i).copied().flatten()
    }

    /// Whether every frame is mapped.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.errors.iter().all(Option::is_none)
    }

    /// Page `i`, if it is mapped.
    #[must_use]
    pub fn page(&self, i: usize) -> Option<&[u8]> {
        let off = self.mapped_offset(i)?;
        // SAFETY: page `i` of the area is mapped to a frame (no per-frame
        // error) and readable, for as long as `self` lives.
        Some(unsafe { core::slice::from_raw_parts(self.ptr.as_ptr().add(off), PAGE_SIZE) })
    }

    /// Page `i`, writable, if it is mapped and the mapping is writable.
    pub fn page_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        if !self.writable {
            return None;
        }
        let off = self.mapped_offset(i)?;
        // SAFETY: as `page`, writable (`Prot::ReadWrite`), borrowed
        // exclusively through `&mut self`.
        Some(unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr().add(off), PAGE_SIZE) })
    }

    /// All pages as one slice, if every frame is mapped.
    #[must_use]
    pub fn bytes(&self) -> Option<&[u8]> {
        // SAFETY: every page of the area is mapped and readable.
        self.complete().then(|| unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) })
    }

    /// All pages, writable, if every frame is mapped and the mapping is
    /// writable.
    pub fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        if !self.writable || !self.complete() {
            return None;
        }
        // SAFETY: every page is mapped writable, borrowed exclusively.
        Some(unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) })
    }

    /// The byte offset of page `i` if it is mapped.
    fn mapped_offset(&self, i: usize) -> Option<usize> {
        (i < self.errors.len() && self.errors.get(i)?.is_none())
            .then(|| i.saturating_mul(PAGE_SIZE))
    }
}

impl Drop for ForeignMapping {
    fn drop(&mut self) {
        // SAFETY: the area made in `map_partial`, no longer borrowed (`&mut
        // self`); Linux clears the foreign entries. A failure leaves at worst
        // a leaked mapping.
        unsafe {
            let _ = nix::sys::mman::munmap(self.ptr.cast(), self.len);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn ioctl_number_is_linuxs() {
        // Linux: _IOC(_IOC_NONE, 'P', 4, sizeof(struct privcmd_mmapbatch_v2)) with a
        // 32-byte struct.
        assert_eq!(IOCTL_PRIVCMD_MMAPBATCH_V2, 0x0020_5004);
    }

    #[test]
    fn per_frame_errors_are_named() {
        let e = frame_errors(&[0, -22, -2, 0, -1, -9999]);
        assert_eq!(
            e,
            vec![
                None,
                Some(Errno::EINVAL),
                Some(Errno::ENOENT),
                None,
                Some(Errno::EPERM),
                Some(Errno::EINVAL)
            ]
        );
    }

    #[test]
    fn the_first_failed_frame_is_reported() {
        let frames = [0x100, 0x101, 0x102];
        assert!(all_mapped(DomId(3), &frames, &[None, None, None]).is_ok());
        match all_mapped(DomId(3), &frames, &[None, Some(Errno::EPERM), Some(Errno::EINVAL)]) {
            Err(Error::Hypercall { what, errno }) => {
                assert_eq!(errno, Errno::EPERM);
                assert_eq!(what, "foreign mapping of frame 0x101 of d3");
            }
            other => panic!("expected EPERM, got {other:?}"),
        }
    }
}
