// SPDX-License-Identifier: GPL-2.0-only
//! [`SharedPage`]: a [`RingPage`] over a real mapping of a ring page that
//! another domain (or dom0's kernel) writes at the same time.
//!
//! Every access is a single volatile load or store of a naturally aligned
//! `u32` or a byte inside the page, so the compiler neither merges,
//! repeats nor elides them; [`RingPage::barrier`] is a full fence (Xen's
//! `xen_mb`). What the other side writes is never trusted: the ring logic
//! checks every index it reads ([`super::take_requests`]).

use core::ptr::NonNull;
use core::sync::atomic::{Ordering, fence};

use guest_abi::io::xs_wire::XenstoreDomainInterface;
use xenctrl::gntdev::GrantMapping;
use xenctrl::xenfs::XsdKva;

use super::RingPage;

/// What keeps the page mapped.
#[derive(Debug)]
pub enum Mapping {
    /// A domU's page, granted to dom0 (`/dev/xen/gntdev`).
    Grant(GrantMapping),
    /// Dom0's own page (`/proc/xen/xsd_kva`).
    Kva(XsdKva),
}

/// The bytes of the page that the ring uses.
const LEN: usize = core::mem::size_of::<XenstoreDomainInterface>();
const _: () = assert!(LEN <= 4096);

/// A mapped ring page.
#[derive(Debug)]
pub struct SharedPage {
    ptr: NonNull<u8>,
    _mapping: Mapping,
}

impl SharedPage {
    /// The page behind `mapping` (at least one page, mapped readable and
    /// writable for as long as `mapping` lives).
    #[must_use]
    pub fn new(mapping: Mapping) -> Self {
        let ptr = match &mapping {
            Mapping::Grant(m) => m.as_ptr(),
            Mapping::Kva(m) => m.as_ptr(),
        };
        Self { ptr, _mapping: mapping }
    }

    /// The address of `len` bytes at `offset`, if inside the ring's part of
    /// the page and aligned for `len`.
    fn at(&self, offset: usize, len: usize) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        (end <= LEN && offset.is_multiple_of(len))
            // SAFETY: `offset + len <= LEN <= 4096`: inside the mapping.
            .then(|| unsafe { self.ptr.as_ptr().add(offset) })
    }
}

impl RingPage for SharedPage {
    fn load(&self, offset: usize) -> u32 {
        self.at(offset, 4).map_or(0, |p| {
            // SAFETY: an aligned `u32` inside the live mapping (`at`).
            unsafe { p.cast::<u32>().read_volatile() }
        })
    }

    fn store(&mut self, offset: usize, value: u32) {
        if let Some(p) = self.at(offset, 4) {
            // SAFETY: as in `load`; the mapping is writable.
            unsafe { p.cast::<u32>().write_volatile(value) }
        }
    }

    fn byte(&self, offset: usize) -> u8 {
        self.at(offset, 1).map_or(0, |p| {
            // SAFETY: a byte inside the live mapping.
            unsafe { p.read_volatile() }
        })
    }

    fn set_byte(&mut self, offset: usize, value: u8) {
        if let Some(p) = self.at(offset, 1) {
            // SAFETY: as in `byte`; the mapping is writable.
            unsafe { p.write_volatile(value) }
        }
    }

    fn barrier(&self) {
        fence(Ordering::SeqCst);
    }
}
