// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for the serial receive ring.
// Tests may do plain arithmetic and indexing on small known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use super::*;

#[test]
fn fifo_order_and_partial_reads() {
    let mut r = RxRing::new();
    assert!(r.is_empty());
    for &b in b"echo hi\r" {
        assert!(r.push(b));
    }
    assert_eq!(r.len(), 8);
    let mut out = [0u8; 5];
    assert_eq!(r.pop_into(&mut out), 5);
    assert_eq!(&out, b"echo ");
    let mut rest = [0u8; 16];
    assert_eq!(r.pop_into(&mut rest), 3);
    assert_eq!(&rest[..3], b"hi\r");
    assert!(r.is_empty());
    assert_eq!(r.pop_into(&mut rest), 0);
    assert_eq!(r.pop_into(&mut []), 0);
}

#[test]
fn full_ring_drops_new_bytes_and_keeps_old_ones() {
    let mut r = RxRing::new();
    for i in 0..RX_RING_SIZE {
        assert!(r.push(i as u8));
    }
    assert!(!r.push(0xaa));
    assert!(!r.push(0xbb));
    assert_eq!((r.len(), r.dropped()), (RX_RING_SIZE, 2));
    let mut out = vec![0u8; RX_RING_SIZE + 10];
    assert_eq!(r.pop_into(&mut out), RX_RING_SIZE);
    for (i, &b) in out.iter().take(RX_RING_SIZE).enumerate() {
        assert_eq!(b, i as u8);
    }
}

#[test]
fn wraps_around_many_times() {
    let mut r = RxRing::new();
    let mut next_in = 0u8;
    let mut next_out = 0u8;
    let mut out = [0u8; 7];
    for round in 0..2000 {
        for _ in 0..(round % 11) {
            assert!(r.push(next_in));
            next_in = next_in.wrapping_add(1);
        }
        let n = r.pop_into(&mut out);
        for &b in &out[..n] {
            assert_eq!(b, next_out);
            next_out = next_out.wrapping_add(1);
        }
    }
    assert!(r.len() < RX_RING_SIZE);
}
