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

#[test]
fn read_console_ring_plain_reads_from_the_oldest_byte() {
    let mut r = ConsoleRing::new(8);
    r.write(b"hello");
    let got = r.read_console_ring(false, 0, 3);
    assert_eq!(got.bytes, b"hel");
    assert_eq!(got.next, 3);
    // Without clear nothing moves: the same read again.
    assert_eq!(r.read_console_ring(false, 3, 100).bytes, b"hello");
    // Overwritten bytes are gone: only the newest 8 remain.
    r.write(b" world");
    let got = r.read_console_ring(false, 0, 100);
    assert_eq!(got.bytes, b"lo world");
    assert_eq!(got.next, 11);
}

#[test]
fn read_console_ring_incremental_follows_the_index() {
    let mut r = ConsoleRing::new(16);
    r.write(b"abcdef");
    let first = r.read_console_ring(true, 0, 4);
    // Index 0 is the oldest byte itself, not inside (oldest, newest]:
    // read from the oldest.
    assert_eq!(first.bytes, b"abcd");
    let idx = ConsoleRing::index32(first.next);
    let second = r.read_console_ring(true, idx, 100);
    assert_eq!(second.bytes, b"ef");
    assert_eq!(second.next, 6);
    // Caught up: an index at the producer reads nothing.
    assert!(r.read_console_ring(true, 6, 100).bytes.is_empty());
    // An index outside the readable window (too new, or overwritten)
    // starts at the oldest byte again.
    assert_eq!(r.read_console_ring(true, 1000, 100).bytes, b"abcdef");
    r.write(b"0123456789ABCDEF");
    assert_eq!(r.read_console_ring(true, 3, 2).bytes, b"01", "index 3 was overwritten");
    assert_eq!(r.read_console_ring(true, 16, 100).bytes, b"ABCDEF");
}

#[test]
fn read_console_ring_clear_discards_only_what_was_read() {
    let mut r = ConsoleRing::new(16);
    r.write(b"abcdef");
    let got = r.read_console_ring(false, 0, 4);
    r.clear_to(got.next);
    assert_eq!(r.read_all(), b"ef");
    r.clear_to(0);
    assert_eq!(r.read_all(), b"ef", "never backwards");
    r.clear_to(u64::MAX);
    assert!(r.is_empty(), "never past the producer");
    assert_eq!(r.total_written(), 6);
}

#[test]
fn read_console_ring_indices_wrap_at_32_bits() {
    // The ring's own counters are 64-bit; Xen's indices are 32-bit.
    let mut w = ConsoleRing::new(8);
    w.producer = (1 << 32) - 2;
    w.consumer = w.producer;
    w.write(b"wxyz");
    assert_eq!(ConsoleRing::index32(w.total_written()), 2);
    // Index u32::MAX (one byte in) is inside the window although it is
    // numerically above the producer's 32-bit index.
    assert_eq!(w.read_console_ring(true, u32::MAX, 10).bytes, b"xyz");
    assert_eq!(w.read_console_ring(true, 0, 10).bytes, b"yz");
    assert_eq!(w.read_console_ring(true, 2, 10).bytes, b"", "at the producer");
}
