// SPDX-License-Identifier: GPL-2.0-only
//! The serial receive ring: bytes typed on the console UART, waiting for
//! dom0's `CONSOLEIO_read` (Xen's `serial_rx_ring`).
//!
//! The UART's receive interrupt drains the hardware FIFO into the ring;
//! dom0 takes bytes out when `VIRQ_CONSOLE` tells it input arrived. The ring
//! has a fixed size and never allocates, so it can be filled from interrupt
//! context. When it is full, new bytes are dropped (counted in
//! [`RxRing::dropped`]) and what is already queued is kept, as Xen does.

/// Bytes the ring holds (Xen's `SERIAL_RX_SIZE` is 128; a pasted line of a
/// shell command fits comfortably here).
pub const RX_RING_SIZE: usize = 1024;

/// Fixed-size FIFO of received bytes.
#[derive(Clone, Debug)]
pub struct RxRing {
    buf: [u8; RX_RING_SIZE],
    /// Index of the oldest byte.
    head: usize,
    /// Bytes held.
    len: usize,
    /// Bytes dropped because the ring was full.
    dropped: u64,
}

impl Default for RxRing {
    fn default() -> Self {
        Self::new()
    }
}

impl RxRing {
    /// An empty ring.
    #[must_use]
    pub const fn new() -> Self {
        Self { buf: [0; RX_RING_SIZE], head: 0, len: 0, dropped: 0 }
    }

    /// Bytes waiting.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Nothing waiting.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes dropped since boot because the ring was full.
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Queues `byte`; returns `false` (and counts it) when the ring is full.
    pub fn push(&mut self, byte: u8) -> bool {
        if self.len >= RX_RING_SIZE {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        let tail = self.head.saturating_add(self.len) % RX_RING_SIZE;
        if let Some(slot) = self.buf.get_mut(tail) {
            *slot = byte;
            self.len = self.len.saturating_add(1);
            true
        } else {
            false
        }
    }

    /// Moves the oldest bytes into `out`, as many as fit; returns how many.
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0usize;
        for slot in out.iter_mut() {
            if self.len == 0 {
                break;
            }
            let Some(&b) = self.buf.get(self.head) else { break };
            *slot = b;
            self.head = self.head.saturating_add(1) % RX_RING_SIZE;
            self.len = self.len.saturating_sub(1);
            n = n.saturating_add(1);
        }
        n
    }
}

#[cfg(test)]
mod tests;
