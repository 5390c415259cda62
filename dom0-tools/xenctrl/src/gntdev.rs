// SPDX-License-Identifier: GPL-2.0-only
//! Linux's grant-device (`/dev/xen/gntdev`, module `xen-gntdev`;
//! `include/uapi/xen/gntdev.h`): mapping pages another domain granted to
//! dom0 into this process, the role of Xen's `libxengnttab`.
//!
//! `IOCTL_GNTDEV_MAP_GRANT_REF` registers grant references and returns an
//! offset ("index") into the device; `mmap` of the device at that offset
//! asks the kernel to map the grants (`GNTTABOP_map_grant_ref`), which
//! fails if the domain did not grant the page. Unmapping is `munmap` then
//! `IOCTL_GNTDEV_UNMAP_GRANT_REF`; [`GrantMapping`] does both when dropped.

use core::num::NonZeroUsize;
use core::ptr::NonNull;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use guest_abi::xen::{DomId, Errno, GrantRef};
use nix::fcntl::OFlag;
use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::stat::Mode;

use crate::{Error, Result};

/// The device node.
pub const GNTDEV_PATH: &str = "/dev/xen/gntdev";

/// The page size of grant mappings.
pub const PAGE_SIZE: usize = 4096;

/// `struct ioctl_gntdev_grant_ref`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct IoctlGntdevGrantRef {
    /// The granting domain.
    pub domid: u32,
    /// Its grant reference.
    pub gref: u32,
}

/// `struct ioctl_gntdev_map_grant_ref` with one reference.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct IoctlGntdevMapGrantRef {
    /// IN: number of references (1).
    pub count: u32,
    /// Padding.
    pub pad: u32,
    /// OUT: the offset to `mmap` at.
    pub index: u64,
    /// IN: the references.
    pub refs: [IoctlGntdevGrantRef; 1],
}

/// `struct ioctl_gntdev_unmap_grant_ref`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct IoctlGntdevUnmapGrantRef {
    /// IN: the offset the map ioctl returned.
    pub index: u64,
    /// IN: number of pages.
    pub count: u32,
    /// Padding.
    pub pad: u32,
}
const _: () = assert!(core::mem::size_of::<IoctlGntdevMapGrantRef>() == 24);
const _: () = assert!(core::mem::size_of::<IoctlGntdevUnmapGrantRef>() == 16);

/// `IOCTL_GNTDEV_MAP_GRANT_REF`: `_IOC(_IOC_NONE, 'G', 0, 24)`.
pub const IOCTL_GNTDEV_MAP_GRANT_REF: u64 = (24 << 16) | ((b'G' as u64) << 8);
/// `IOCTL_GNTDEV_UNMAP_GRANT_REF`: `_IOC(_IOC_NONE, 'G', 1, 16)`.
pub const IOCTL_GNTDEV_UNMAP_GRANT_REF: u64 = (16 << 16) | ((b'G' as u64) << 8) | 1;

nix::ioctl_readwrite_bad!(
    /// The raw ioctl.
    map_grant_ref, IOCTL_GNTDEV_MAP_GRANT_REF, IoctlGntdevMapGrantRef);
nix::ioctl_write_ptr_bad!(
    /// The raw ioctl.
    unmap_grant_ref, IOCTL_GNTDEV_UNMAP_GRANT_REF, IoctlGntdevUnmapGrantRef);

fn failed(what: &str, e: nix::Error) -> Error {
    Error::Hypercall {
        what: what.to_owned(),
        errno: Errno::from_neg_i64(i64::from(e as i32).saturating_neg()).unwrap_or(Errno::EINVAL),
    }
}

/// An open grant device (`xengnttab_handle`).
#[derive(Debug)]
pub struct Gntdev {
    fd: Arc<OwnedFd>,
}

impl Gntdev {
    /// Opens [`GNTDEV_PATH`] (close-on-exec).
    pub fn open() -> Result<Self> {
        let fd = nix::fcntl::open(GNTDEV_PATH, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|source| Error::Open { path: GNTDEV_PATH, source })?;
        Ok(Self { fd: Arc::new(fd) })
    }

    /// Maps grant `gref` of `domid`, readable and writable
    /// (`xengnttab_map_grant_ref`).
    pub fn map_grant_ref(&self, domid: DomId, gref: GrantRef) -> Result<GrantMapping> {
        let mut op = IoctlGntdevMapGrantRef {
            count: 1,
            refs: [IoctlGntdevGrantRef { domid: u32::from(domid.0), gref: gref.0 }],
            ..Default::default()
        };
        // SAFETY: `op` is a valid one-reference `ioctl_gntdev_map_grant_ref`
        // that the kernel reads and writes (`index`) during the call.
        unsafe { map_grant_ref(self.fd.as_raw_fd(), &raw mut op) }
            .map_err(|e| failed("IOCTL_GNTDEV_MAP_GRANT_REF", e))?;
        let index = op.index;
        let size = NonZeroUsize::new(PAGE_SIZE).ok_or(Error::Buffer(nix::Error::EINVAL))?;
        let offset = i64::try_from(index).map_err(|_| failed("mmap", nix::Error::EINVAL));
        let mapped = offset.and_then(|offset| {
            // SAFETY: a new shared mapping of the device at the offset the
            // kernel just gave for this grant; no existing memory is
            // affected.
            unsafe {
                nix::sys::mman::mmap(
                    None,
                    size,
                    ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                    MapFlags::MAP_SHARED,
                    &*self.fd,
                    offset,
                )
            }
            .map_err(|e| failed("mmap of a grant (not granted?)", e))
        });
        match mapped {
            Ok(ptr) => Ok(GrantMapping { fd: Arc::clone(&self.fd), ptr: ptr.cast(), index }),
            Err(e) => {
                unmap_index(&self.fd, index);
                Err(e)
            }
        }
    }
}

/// `IOCTL_GNTDEV_UNMAP_GRANT_REF` of one page at `index`.
fn unmap_index(fd: &OwnedFd, index: u64) {
    let op = IoctlGntdevUnmapGrantRef { index, count: 1, pad: 0 };
    // SAFETY: `op` is a valid `ioctl_gntdev_unmap_grant_ref`, only read.
    let _ = unsafe { unmap_grant_ref(fd.as_raw_fd(), &raw const op) };
}

/// A mapped grant page; unmapped when dropped.
#[derive(Debug)]
pub struct GrantMapping {
    fd: Arc<OwnedFd>,
    ptr: NonNull<u8>,
    index: u64,
}

impl GrantMapping {
    /// The page's address in this process (shared with the granting
    /// domain, which may change it at any moment).
    #[must_use]
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }
}

impl Drop for GrantMapping {
    fn drop(&mut self) {
        // SAFETY: the page mapped in `map_grant_ref`, no longer used (the
        // mapping is being dropped); a failure leaves it mapped.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), PAGE_SIZE) };
        unmap_index(&self.fd, self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_are_linuxs() {
        assert_eq!(IOCTL_GNTDEV_MAP_GRANT_REF, 0x0018_4700);
        assert_eq!(IOCTL_GNTDEV_UNMAP_GRANT_REF, 0x0010_4701);
    }
}
