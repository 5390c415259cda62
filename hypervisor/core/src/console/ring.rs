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

    /// The read half of Xen's `read_console_ring` (`XEN_SYSCTL_readconsole`):
    /// up to `max` bytes from the oldest readable byte or, with
    /// `incremental`, from ring index `index` when that index lies in
    /// `(oldest, newest]` (Xen's 32-bit indices, compared modulo 2^32).
    /// Returns the bytes and the index after the last one; the caller
    /// copies them to the guest and only then, for a `clear` request,
    /// calls [`ConsoleRing::clear_to`] with that index, so a faulting copy
    /// clears nothing (as in Xen). At most the ring's capacity is returned.
    #[must_use]
    pub fn read_console_ring(&self, incremental: bool, index: u32, max: u32) -> ConringRead {
        let readable = self.producer.saturating_sub(self.consumer);
        let mut start = self.consumer;
        if incremental {
            // Bytes between the requested index and the producer, in Xen's
            // wrapping 32-bit arithmetic.
            let behind = u64::from(Self::index32(self.producer).wrapping_sub(index));
            if behind < readable {
                start = self.producer.saturating_sub(behind);
            }
        }
        let avail = self.producer.saturating_sub(start);
        let want = usize::try_from(avail.min(u64::from(max))).unwrap_or(0);
        let mut bytes = vec![0; want];
        let (n, next) = self.read_from(start, &mut bytes);
        bytes.truncate(n);
        ConringRead { bytes, next }
    }

    /// The `clear` half of `read_console_ring`: bytes before ring index
    /// `next` (as returned by [`ConsoleRing::read_console_ring`]) are no
    /// longer readable. Never moves past the producer or backwards.
    pub fn clear_to(&mut self, next: u64) {
        self.consumer = self.consumer.max(next.min(self.producer));
    }

    /// Xen's 32-bit view of ring index `pos` (`conringp`/`conringc` are
    /// `uint32_t` and wrap).
    #[must_use]
    pub fn index32(pos: u64) -> u32 {
        u32::try_from(pos & u64::from(u32::MAX)).unwrap_or(0)
    }
}

/// What one [`ConsoleRing::read_console_ring`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConringRead {
    /// The bytes read, oldest first.
    pub bytes: Vec<u8>,
    /// Ring index just past the last byte read (Xen's `op->index` OUT,
    /// truncated to 32 bits by [`ConsoleRing::index32`]).
    pub next: u64,
}

impl Default for ConsoleRing {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests;
