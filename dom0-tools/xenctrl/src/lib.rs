// SPDX-License-Identifier: GPL-2.0-only
//! `xenctrl`: the dom0 toolstack's control library, the role of Xen's
//! `libxenctrl` (`libxc`).
//!
//! It runs in Debian's Linux dom0 and reaches the hypervisor through
//! Linux's privcmd driver (`/dev/xen/privcmd`, module `xen-privcmd`):
//!
//! * [`privcmd`]: the device and its `IOCTL_PRIVCMD_HYPERCALL`, the one
//!   place a hypercall is issued;
//! * [`buffer`]: hypercall buffers, page-aligned memory locked in RAM
//!   (the hypervisor reads and writes them by guest virtual address while
//!   the hypercall runs, so they must not be paged out);
//! * [`Xc`]: the typed calls the tools make (`xen_version`, `sysctl`,
//!   `domctl` on Xen 4.17's interface 0x15), with the argument structs of
//!   `guest-abi`, shared with the hypervisor;
//! * [`domains`]: the domain list (`XEN_SYSCTL_getdomaininfolist`);
//! * [`evtchn`]: event channels through `/dev/xen/evtchn`;
//! * [`gntdev`]: mapping other domains' grants through `/dev/xen/gntdev`;
//! * [`xenfs`]: dom0's own xenstore ring and port (`/proc/xen/xsd_kva`,
//!   `/proc/xen/xsd_port`).
//!
//! * [`domctl`], [`memory`]: domain control and memory hypercalls for
//!   other domains; [`foreign`]: their frames mapped here
//!   (`IOCTL_PRIVCMD_MMAPBATCH_V2`); [`builder`]: the PV domain builder's
//!   `DomCtl` over them (libxenguest's glue).
//!
//! Errors are [`Error`]: the device could not be opened, or the hypervisor
//! answered a hypercall with `-errno` (named with Xen's errno).

pub mod buffer;
pub mod builder;
pub mod domains;
pub mod domctl;
pub mod evtchn;
pub mod foreign;
pub mod gntdev;
pub mod memory;
pub mod privcmd;
mod xc;
pub mod xenfs;

pub use xc::{PhysInfo, VersionInfo, Xc};

use guest_abi::xen::Errno;

/// What can go wrong talking to the hypervisor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The privcmd device could not be opened (not dom0, module not loaded,
    /// no permission).
    #[error(
        "cannot open {path}: {source} (is this Xen's dom0, with the xen-privcmd module loaded?)"
    )]
    Open {
        /// The device path.
        path: &'static str,
        /// What the kernel said.
        source: nix::Error,
    },
    /// A hypercall failed: the hypervisor's `-errno`, or the kernel's
    /// (e.g. `EFAULT`, `ENOTTY`) before it reached the hypervisor.
    #[error("{what}: {errno}")]
    Hypercall {
        /// Which call, as the hypervisor names it.
        what: String,
        /// The error number.
        errno: Errno,
    },
    /// Hypercall buffer memory could not be set up.
    #[error("hypercall buffer: {0}")]
    Buffer(nix::Error),
}

/// This crate's result.
pub type Result<T> = core::result::Result<T, Error>;
