// SPDX-License-Identifier: GPL-2.0-only
//! The console ring page (`io/console.h`) from the backend's side.
//!
//! The guest produces into `out` and consumes from `in`; the daemon does
//! the opposite. Indices are free-running 32-bit counters masked by the
//! ring size on use. The page is shared with the guest, so every index is
//! read once, checked, and only then used: `prod - cons` beyond the ring's
//! size means the guest broke its ring, and, as Xen's daemon does, such a
//! ring is left alone (nothing read from `out`, nothing written to `in`)
//! rather than trusted. Barriers sit where Xen's `xen_mb()`/`xen_wmb()` do:
//! between reading the indices and touching the data, and between the data
//! and publishing the new index.

use std::sync::atomic::{Ordering, fence};

use guest_abi::io::console::{XENCONS_IN_SIZE, XENCONS_OUT_SIZE};

/// The four indices of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    /// `in_cons` (guest-written).
    InCons,
    /// `in_prod` (daemon-written).
    InProd,
    /// `out_cons` (daemon-written).
    OutCons,
    /// `out_prod` (guest-written).
    OutProd,
}

/// A mapped console page. Implementations read and write the shared memory
/// with single, untorn accesses (volatile for a real mapping); they do no
/// checking, the ring functions below do.
pub trait ConsolePage {
    /// Reads one index.
    fn index(&self, which: Index) -> u32;
    /// Writes one index.
    fn set_index(&mut self, which: Index, value: u32);
    /// The byte at `pos` (below [`XENCONS_OUT_SIZE`]) of `out`.
    fn out_byte(&self, pos: usize) -> u8;
    /// Stores `byte` at `pos` (below [`XENCONS_IN_SIZE`]) of `in`.
    fn set_in_byte(&mut self, pos: usize, byte: u8);
}

/// `MASK_XENCONS_IDX` for a power-of-two ring of `size` bytes.
fn mask(idx: u32, size: u32) -> usize {
    (idx & size.wrapping_sub(1)) as usize
}

/// What [`read_out`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutRing {
    /// Nothing to read.
    Empty,
    /// This many bytes were moved to the buffer and consumed.
    Read(usize),
    /// The guest's indices claim more than the ring holds: ignored.
    Broken {
        /// `out_prod` as read.
        prod: u32,
        /// `out_cons` as read.
        cons: u32,
    },
}

/// Moves everything the guest produced in `out` to `dst` and publishes the
/// new `out_cons` (Xen's `buffer_append`). The caller notifies the guest
/// after [`OutRing::Read`].
pub fn read_out<P: ConsolePage + ?Sized>(page: &mut P, dst: &mut Vec<u8>) -> OutRing {
    let cons = page.index(Index::OutCons);
    let prod = page.index(Index::OutProd);
    fence(Ordering::SeqCst);
    let size = prod.wrapping_sub(cons);
    if size == 0 {
        return OutRing::Empty;
    }
    if size > XENCONS_OUT_SIZE {
        return OutRing::Broken { prod, cons };
    }
    dst.reserve(size as usize);
    let mut idx = cons;
    while idx != prod {
        dst.push(page.out_byte(mask(idx, XENCONS_OUT_SIZE)));
        idx = idx.wrapping_add(1);
    }
    fence(Ordering::SeqCst);
    page.set_index(Index::OutCons, prod);
    OutRing::Read(size as usize)
}

/// Room in `in` (Xen's `ring_free_bytes`): 0 when full or broken.
pub fn in_free<P: ConsolePage + ?Sized>(page: &P) -> usize {
    let cons = page.index(Index::InCons);
    let prod = page.index(Index::InProd);
    fence(Ordering::SeqCst);
    let used = prod.wrapping_sub(cons);
    if used > XENCONS_IN_SIZE {
        return 0;
    }
    XENCONS_IN_SIZE.wrapping_sub(used) as usize
}

/// Writes as much of `src` as fits into `in` and publishes the new
/// `in_prod`; returns how many bytes went in (0 for a broken ring). The
/// caller notifies the guest when that is not 0.
pub fn write_in<P: ConsolePage + ?Sized>(page: &mut P, src: &[u8]) -> usize {
    let free = in_free(page);
    let n = free.min(src.len());
    if n == 0 {
        return 0;
    }
    let mut prod = page.index(Index::InProd);
    for &byte in src.iter().take(n) {
        page.set_in_byte(mask(prod, XENCONS_IN_SIZE), byte);
        prod = prod.wrapping_add(1);
    }
    fence(Ordering::SeqCst);
    page.set_index(Index::InProd, prod);
    n
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

    use super::*;
    use crate::fake::FakePage;

    #[test]
    fn empty_ring_reads_nothing() {
        let page = FakePage::new();
        let mut out = Vec::new();
        assert_eq!(read_out(&mut page.clone(), &mut out), OutRing::Empty);
        assert!(out.is_empty());
        assert_eq!(in_free(&page), 1024);
    }

    #[test]
    fn out_bytes_in_order_and_consumed() {
        let mut page = FakePage::new();
        assert_eq!(page.guest_write(b"hello\n"), 6);
        let mut out = Vec::new();
        assert_eq!(read_out(&mut page, &mut out), OutRing::Read(6));
        assert_eq!(out, b"hello\n");
        assert_eq!(page.index(Index::OutCons), 6);
        assert_eq!(read_out(&mut page, &mut out), OutRing::Empty);
    }

    #[test]
    fn out_ring_wraps_and_indices_wrap_at_u32() {
        let mut page = FakePage::new();
        // Start just below the 32-bit wrap and off the ring's start.
        page.set_index(Index::OutCons, u32::MAX - 5);
        page.set_index(Index::OutProd, u32::MAX - 5);
        let data: Vec<u8> = (0..2048u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(page.guest_write(&data), 2048);
        assert_eq!(page.guest_write(b"x"), 0, "full ring takes nothing");
        let mut out = Vec::new();
        assert_eq!(read_out(&mut page, &mut out), OutRing::Read(2048));
        assert_eq!(out, data);
        assert_eq!(page.index(Index::OutCons), (u32::MAX - 5).wrapping_add(2048));
    }

    #[test]
    fn hostile_out_indices_are_left_alone() {
        let mut page = FakePage::new();
        page.set_index(Index::OutCons, 10);
        page.set_index(Index::OutProd, 10 + 2049);
        let mut out = Vec::new();
        assert_eq!(read_out(&mut page, &mut out), OutRing::Broken { prod: 2059, cons: 10 });
        assert!(out.is_empty());
        assert_eq!(page.index(Index::OutCons), 10, "nothing consumed");
        // prod behind cons is a huge difference too.
        page.set_index(Index::OutProd, 9);
        assert!(matches!(read_out(&mut page, &mut out), OutRing::Broken { .. }));
        // Exactly a full ring is fine.
        page.set_index(Index::OutProd, 10 + 2048);
        assert_eq!(read_out(&mut page, &mut out), OutRing::Read(2048));
    }

    #[test]
    fn in_ring_fills_wraps_and_is_consumed() {
        let mut page = FakePage::new();
        page.set_index(Index::InCons, 1000);
        page.set_index(Index::InProd, 1000);
        let data: Vec<u8> = (0..1500u32).map(|i| (i % 253) as u8).collect();
        assert_eq!(write_in(&mut page, &data), 1024);
        assert_eq!(in_free(&page), 0);
        assert_eq!(write_in(&mut page, b"more"), 0);
        assert_eq!(page.guest_read(), &data[..1024]);
        assert_eq!(in_free(&page), 1024);
        assert_eq!(write_in(&mut page, &data[1024..]), 476);
        assert_eq!(page.guest_read(), &data[1024..]);
    }

    #[test]
    fn hostile_in_indices_give_no_room() {
        let mut page = FakePage::new();
        page.set_index(Index::InCons, 0);
        page.set_index(Index::InProd, 1025);
        assert_eq!(in_free(&page), 0);
        assert_eq!(write_in(&mut page, b"abc"), 0);
        assert_eq!(page.index(Index::InProd), 1025, "index untouched");
        page.set_index(Index::InCons, 2000);
        page.set_index(Index::InProd, 10);
        assert_eq!(in_free(&page), 0);
    }
}
