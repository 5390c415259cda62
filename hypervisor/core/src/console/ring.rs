// SPDX-License-Identifier: GPL-2.0-only
//! The console ring: Xen's `conring`, the buffer behind `xm dmesg`.
//!
//! A fixed-size byte ring indexed by two free-running 64-bit counters, as
//! Xen's `conringp` (producer: bytes ever written) and `conringc` (oldest
//! byte still available). Writing never blocks: once full, the oldest bytes
//! are overwritten and `conringc` moves forward. Readers either take
//! everything available ([`ConsoleRing::read_all`], `xm dmesg`; then
//! [`ConsoleRing::clear`] for `xm dmesg -c`) or follow the producer
//! incrementally with [`ConsoleRing::read_from`], resuming at the returned
//! offset and skipping whatever was overwritten meanwhile.

use alloc::vec;
use alloc::vec::Vec;

/// Bounded byte ring holding the most recent console output.
#[derive(Clone, Debug)]
pub struct ConsoleRing {
    buf: Vec<u8>,
    /// Bytes ever written (Xen's `conringp`).
    producer: u64,
    /// Index of the oldest byte still readable (Xen's `conringc`).
    consumer: u64,
}

impl ConsoleRing {
    /// Xen's default ring size, 16 KiB.
    pub const DEFAULT_CAPACITY: usize = 16 * 1024;

    /// An empty ring holding `capacity` bytes (a capacity of 0 is raised to 1).
    pub fn new(capacity: usize) -> Self {
        Self { buf: vec![0; capacity.max(1)], producer: 0, consumer: 0 }
    }

    /// How many bytes the ring can hold.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn capacity_u64(&self) -> u64 {
        u64::try_from(self.buf.len()).unwrap_or(u64::MAX)
    }

    /// Position of ring index `pos` inside `buf`.
    fn slot(&self, pos: u64) -> usize {
        let idx = pos.checked_rem(self.capacity_u64()).unwrap_or(0);
        usize::try_from(idx).unwrap_or(0)
    }

    /// Appends `data`, overwriting the oldest bytes once the ring is full.
    pub fn write(&mut self, data: &[u8]) {
        let cap = self.capacity();
        // Only the last `cap` bytes of a long write can survive.
        let skip = data.len().saturating_sub(cap);
        let kept = data.get(skip..).unwrap_or_default();
        let skip64 = u64::try_from(skip).unwrap_or(u64::MAX);
        self.producer = self.producer.saturating_add(skip64);
        let mut rest = kept;
        while !rest.is_empty() {
            let start = self.slot(self.producer);
            let room = cap.saturating_sub(start);
            let (chunk, tail) = rest.split_at(rest.len().min(room));
            if let Some(dst) = self.buf.get_mut(start..start.saturating_add(chunk.len())) {
                dst.copy_from_slice(chunk);
            }
            let n = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
            self.producer = self.producer.saturating_add(n);
            rest = tail;
        }
        let oldest = self.producer.saturating_sub(self.capacity_u64());
        self.consumer = self.consumer.max(oldest);
    }

    /// Number of bytes currently readable.
    pub fn len(&self) -> usize {
        usize::try_from(self.producer.saturating_sub(self.consumer)).unwrap_or(usize::MAX)
    }

    /// Whether nothing is readable.
    pub fn is_empty(&self) -> bool {
        self.producer == self.consumer
    }

    /// Bytes ever written: the producer index (Xen's `conringp`).
    pub fn total_written(&self) -> u64 {
        self.producer
    }

    /// Index of the oldest readable byte (Xen's `conringc`).
    pub fn oldest(&self) -> u64 {
        self.consumer
    }

    /// Copies readable bytes starting at ring index `offset` into `buf`.
    ///
    /// An `offset` older than [`ConsoleRing::oldest`] starts at the oldest
    /// byte (the rest was overwritten); one at or beyond the producer reads
    /// nothing. Returns the number of bytes copied and the offset to resume
    /// from (never beyond [`ConsoleRing::total_written`]).
    pub fn read_from(&self, offset: u64, buf: &mut [u8]) -> (usize, u64) {
        let mut pos = offset.max(self.consumer);
        if pos >= self.producer {
            return (0, self.producer);
        }
        let mut copied = 0usize;
        while pos < self.producer && copied < buf.len() {
            let start = self.slot(pos);
            let avail = usize::try_from(self.producer.saturating_sub(pos)).unwrap_or(usize::MAX);
            let n = avail
                .min(self.capacity().saturating_sub(start))
                .min(buf.len().saturating_sub(copied));
            let src = self.buf.get(start..start.saturating_add(n));
            let dst = buf.get_mut(copied..copied.saturating_add(n));
            match (src, dst) {
                (Some(src), Some(dst)) if n > 0 => dst.copy_from_slice(src),
                _ => break,
            }
            copied = copied.saturating_add(n);
            pos = pos.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        }
        (copied, pos)
    }

    /// All readable bytes, oldest first (`xm dmesg`).
    pub fn read_all(&self) -> Vec<u8> {
        let mut out = vec![0; self.len()];
        let (n, _) = self.read_from(self.consumer, &mut out);
        out.truncate(n);
        out
    }

    /// Xen's `read_console_ring`: copies up to `buf.len()` of the oldest bytes;
    /// with `clear`, the bytes copied are no longer readable afterwards.
    pub fn read_console(&mut self, buf: &mut [u8], clear: bool) -> usize {
        let (n, next) = self.read_from(self.consumer, buf);
        if clear {
            self.consumer = next;
        }
        n
    }

    /// Discards everything readable (`xm dmesg -c` after reading).
    pub fn clear(&mut self) {
        self.consumer = self.producer;
    }
}

impl Default for ConsoleRing {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests;
