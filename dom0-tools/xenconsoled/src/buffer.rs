// SPDX-License-Identifier: GPL-2.0-only
//! The bytes read from a guest's `out` ring that the pty has not taken
//! yet (Xen's `struct buffer`).
//!
//! `max_capacity` is the domain's `console/limit`. With the overflow
//! policy `keep` the daemon stops reading the ring while the buffer holds
//! that much (the guest then waits for room); with `discard` (Xen's
//! default) it keeps reading and, once the buffer is a quarter over the
//! limit, drops the part already written out or, failing that, the middle
//! of the data, keeping the oldest half-limit and the newest bytes.

/// Pending output of one console.
#[derive(Debug, Default)]
pub struct Buffer {
    data: Vec<u8>,
    consumed: usize,
    max_capacity: usize,
}

impl Buffer {
    /// A buffer holding at most about `max_capacity` bytes (0: unlimited).
    #[must_use]
    pub fn new(max_capacity: usize) -> Self {
        Self { data: Vec::new(), consumed: 0, max_capacity }
    }

    /// The limit (0: unlimited).
    #[must_use]
    pub fn max_capacity(&self) -> usize {
        self.max_capacity
    }

    /// Changes the limit.
    pub fn set_max_capacity(&mut self, max_capacity: usize) {
        self.max_capacity = max_capacity;
    }

    /// Whether the ring may be read into this buffer (`buffer_available`).
    #[must_use]
    pub fn available(&self, discard: bool) -> bool {
        discard || self.max_capacity == 0 || self.data.len() < self.max_capacity
    }

    /// Whether nothing is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.data.len() == self.consumed
    }

    /// The bytes still to be written out.
    #[must_use]
    pub fn pending(&self) -> &[u8] {
        self.data.get(self.consumed..).unwrap_or(&[])
    }

    /// Total bytes held, written out or not (Xen's `size`).
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Appends bytes just read from the ring, then applies the overflow
    /// policy.
    pub fn append(&mut self, bytes: &[u8], discard: bool) {
        self.data.extend_from_slice(bytes);
        let max = self.max_capacity;
        if !discard || max == 0 || self.data.len() <= max.saturating_mul(5) / 4 {
            return;
        }
        if self.consumed > max / 4 {
            self.data.drain(..self.consumed);
            self.consumed = 0;
        } else {
            // Keep the first half-limit and everything past the limit.
            self.data.drain(max / 2..max);
        }
    }

    /// `len` bytes were written out.
    pub fn advance(&mut self, len: usize) {
        self.consumed = self.consumed.saturating_add(len).min(self.data.len());
        if self.consumed == self.data.len() {
            self.data.clear();
            self.consumed = 0;
            if self.max_capacity != 0 && self.data.capacity() > self.max_capacity {
                self.data.shrink_to(self.max_capacity);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

    use super::*;

    #[test]
    fn keep_policy_stops_at_the_limit() {
        let mut b = Buffer::new(100);
        b.append(&[1; 99], false);
        assert!(b.available(false));
        b.append(&[2; 50], false);
        assert!(!b.available(false), "full: stop reading the ring");
        assert_eq!(b.len(), 149, "keep drops nothing");
        b.advance(149);
        assert!(b.is_empty() && b.available(false));
    }

    #[test]
    fn discard_policy_drops_the_written_part_first() {
        let mut b = Buffer::new(100);
        b.append(&[1; 60], true);
        b.advance(30);
        b.append(&[2; 70], true); // 130 > 125, consumed 30 > 25
        assert_eq!(b.len(), 100);
        assert_eq!(b.pending().len(), 100);
        assert_eq!(&b.pending()[..30], &[1; 30]);
        assert!(b.available(true));
    }

    #[test]
    fn discard_policy_drops_the_middle() {
        let mut b = Buffer::new(100);
        let data: Vec<u8> = (0..130u8).collect();
        b.append(&data, true);
        // Oldest 50 kept, then everything past the limit (100..130).
        let mut want: Vec<u8> = (0..50u8).collect();
        want.extend(100..130u8);
        assert_eq!(b.pending(), &want[..]);
        // Each discard takes half a limit off, so with a limit of at least
        // two rings' worth (what consoles get, `MIN_LIMIT`) the buffer is
        // bounded however much a guest writes.
        let mut b = Buffer::new(4096);
        for _ in 0..1000 {
            b.append(&[7; 2048], true);
            assert!(b.len() <= 5 * 4096 / 4 + 2048, "{}", b.len());
        }
    }

    #[test]
    fn unlimited_keeps_everything() {
        let mut b = Buffer::new(0);
        b.append(&[1; 5000], true);
        assert_eq!(b.len(), 5000);
        b.advance(4000);
        assert_eq!(b.pending().len(), 1000);
        b.advance(9999);
        assert!(b.is_empty());
    }
}
