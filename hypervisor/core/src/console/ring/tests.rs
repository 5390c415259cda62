// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for the console ring.
// Tests may do plain arithmetic and indexing on small known values.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use super::*;

#[test]
fn new_ring_is_empty() {
    let r = ConsoleRing::default();
    assert_eq!(r.capacity(), 16 * 1024);
    assert!(r.is_empty());
    assert_eq!(r.len(), 0);
    assert_eq!(r.total_written(), 0);
    assert!(r.read_all().is_empty());
}

#[test]
fn zero_capacity_is_raised_to_one() {
    let mut r = ConsoleRing::new(0);
    assert_eq!(r.capacity(), 1);
    r.write(b"abc");
    assert_eq!(r.read_all(), b"c");
    assert_eq!(r.total_written(), 3);
}

#[test]
fn write_then_read_all_in_order() {
    let mut r = ConsoleRing::new(16);
    r.write(b"hello ");
    r.write(b"world");
    assert_eq!(r.read_all(), b"hello world");
    assert_eq!(r.len(), 11);
    assert_eq!(r.total_written(), 11);
}

#[test]
fn overwrites_oldest_when_full() {
    let mut r = ConsoleRing::new(8);
    r.write(b"0123456789");
    assert_eq!(r.read_all(), b"23456789");
    assert_eq!(r.oldest(), 2);
    r.write(b"ab");
    assert_eq!(r.read_all(), b"456789ab");
    assert_eq!(r.len(), 8);
    assert_eq!(r.total_written(), 12);
}

#[test]
fn write_larger_than_capacity_keeps_tail() {
    let mut r = ConsoleRing::new(4);
    r.write(b"x");
    r.write(b"abcdefghij");
    assert_eq!(r.read_all(), b"ghij");
    assert_eq!(r.total_written(), 11);
}

#[test]
fn wraps_many_times() {
    let mut r = ConsoleRing::new(7);
    let mut all = Vec::new();
    for i in 0..200u8 {
        let chunk = [i, i.wrapping_mul(3), i ^ 0x55];
        r.write(&chunk);
        all.extend_from_slice(&chunk);
    }
    assert_eq!(r.read_all(), all[all.len() - 7..]);
}

#[test]
fn clear_discards_readable_bytes_but_not_producer() {
    let mut r = ConsoleRing::new(8);
    r.write(b"abc");
    r.clear();
    assert!(r.is_empty());
    assert_eq!(r.total_written(), 3);
    r.write(b"de");
    assert_eq!(r.read_all(), b"de");
}

#[test]
fn read_from_follows_producer_incrementally() {
    let mut r = ConsoleRing::new(8);
    let mut off = 0;
    let mut buf = [0u8; 16];
    r.write(b"abc");
    let (n, next) = r.read_from(off, &mut buf);
    assert_eq!(&buf[..n], b"abc");
    off = next;
    assert_eq!(off, 3);
    let (n, next) = r.read_from(off, &mut buf);
    assert_eq!((n, next), (0, 3));
    r.write(b"de");
    let (n, next) = r.read_from(off, &mut buf);
    assert_eq!(&buf[..n], b"de");
    assert_eq!(next, 5);
}

#[test]
fn read_from_skips_overwritten_data() {
    let mut r = ConsoleRing::new(4);
    r.write(b"abcdefgh");
    let mut buf = [0u8; 16];
    let (n, next) = r.read_from(1, &mut buf);
    assert_eq!(&buf[..n], b"efgh");
    assert_eq!(next, 8);
}

#[test]
fn read_from_small_buffer_and_wrapped_data() {
    let mut r = ConsoleRing::new(5);
    r.write(b"abcdefg"); // ring holds "cdefg", physically wrapped
    let mut buf = [0u8; 2];
    let (n, next) = r.read_from(0, &mut buf);
    assert_eq!((&buf[..n], next), (&b"cd"[..], 4));
    let (n, next) = r.read_from(next, &mut buf);
    assert_eq!((&buf[..n], next), (&b"ef"[..], 6));
    let (n, next) = r.read_from(next, &mut buf);
    assert_eq!((&buf[..n], next), (&b"g"[..], 7));
}

#[test]
fn read_from_beyond_producer_or_empty_buffer() {
    let mut r = ConsoleRing::new(4);
    r.write(b"ab");
    let mut buf = [0u8; 4];
    assert_eq!(r.read_from(u64::MAX, &mut buf), (0, 2));
    assert_eq!(r.read_from(0, &mut []), (0, 0));
}

#[test]
fn read_console_with_and_without_clear() {
    let mut r = ConsoleRing::new(8);
    r.write(b"abcdef");
    let mut buf = [0u8; 4];
    assert_eq!(r.read_console(&mut buf, false), 4);
    assert_eq!(&buf, b"abcd");
    assert_eq!(r.len(), 6, "plain read keeps data (xm dmesg)");
    assert_eq!(r.read_console(&mut buf, true), 4);
    assert_eq!(r.read_all(), b"ef", "clear drops only what was read");
}
