// SPDX-License-Identifier: GPL-2.0-only
//! A per-CPU timer heap (Xen's `common/timer.c` per-CPU heap).
//!
//! Each timer is named by a key chosen by the caller (a vCPU's singleshot
//! timer, the scheduler tick, ...) and has one deadline. Adding a key that is
//! already armed re-arms it. Add, cancel and pop are O(log n): the heap is an
//! array-backed binary min-heap with a key → slot index, so cancelled timers
//! leave nothing behind. Timers with equal deadlines fire in the order they
//! were (re-)armed, which keeps every run reproducible.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::types::Time;

#[derive(Clone, Copy, Debug)]
struct Slot<K> {
    deadline: Time,
    /// Arming order, the tie-break for equal deadlines.
    seq: u64,
    key: K,
}

impl<K> Slot<K> {
    fn before(&self, other: &Self) -> bool {
        (self.deadline, self.seq) < (other.deadline, other.seq)
    }
}

/// Deadlines keyed by `K`, earliest first.
#[derive(Clone, Debug)]
pub struct TimerHeap<K: Ord + Copy> {
    heap: Vec<Slot<K>>,
    slot_of: BTreeMap<K, usize>,
    next_seq: u64,
}

impl<K: Ord + Copy> Default for TimerHeap<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Copy> TimerHeap<K> {
    /// An empty heap.
    pub const fn new() -> Self {
        Self { heap: Vec::new(), slot_of: BTreeMap::new(), next_seq: 0 }
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The deadline of `key`, if armed.
    pub fn deadline_of(&self, key: K) -> Option<Time> {
        let slot = *self.slot_of.get(&key)?;
        self.heap.get(slot).map(|s| s.deadline)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Time> {
        self.heap.first().map(|s| s.deadline)
    }

    /// The earliest timer without removing it.
    pub fn peek(&self) -> Option<(Time, K)> {
        self.heap.first().map(|s| (s.deadline, s.key))
    }

    /// Arms `key` for `deadline`, re-arming it if armed; returns the previous
    /// deadline.
    pub fn add(&mut self, key: K, deadline: Time) -> Option<Time> {
        let previous = self.cancel(key);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let slot = self.heap.len();
        self.heap.push(Slot { deadline, seq, key });
        self.slot_of.insert(key, slot);
        self.sift_up(slot);
        previous
    }

    /// Disarms `key`; returns its deadline if it was armed.
    pub fn cancel(&mut self, key: K) -> Option<Time> {
        let slot = *self.slot_of.get(&key)?;
        let last = self.heap.len().checked_sub(1)?;
        self.swap(slot, last);
        let removed = self.heap.pop()?;
        self.slot_of.remove(&key);
        if slot < self.heap.len() {
            self.sift_down(slot);
            self.sift_up(slot);
        }
        Some(removed.deadline)
    }

    /// Removes and returns the earliest timer if its deadline is `<= now`.
    pub fn pop_expired(&mut self, now: Time) -> Option<(Time, K)> {
        let (deadline, key) = self.peek()?;
        if deadline > now {
            return None;
        }
        self.cancel(key);
        Some((deadline, key))
    }

    /// Swaps two slots and fixes their index entries.
    fn swap(&mut self, a: usize, b: usize) {
        if a == b || a >= self.heap.len() || b >= self.heap.len() {
            return;
        }
        self.heap.swap(a, b);
        for i in [a, b] {
            if let Some(s) = self.heap.get(i) {
                self.slot_of.insert(s.key, i);
            }
        }
    }

    fn before(&self, a: usize, b: usize) -> bool {
        match (self.heap.get(a), self.heap.get(b)) {
            (Some(x), Some(y)) => x.before(y),
            _ => false,
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while let Some(parent) = i.checked_sub(1).map(|p| p / 2) {
            if !self.before(i, parent) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let Some(left) = i.checked_mul(2).and_then(|l| l.checked_add(1)) else { return };
            let right = left.saturating_add(1);
            let mut best = i;
            if self.before(left, best) {
                best = left;
            }
            if self.before(right, best) {
                best = right;
            }
            if best == i {
                return;
            }
            self.swap(i, best);
            i = best;
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "tests on known values"
)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn drain(h: &mut TimerHeap<u32>, now: Time) -> Vec<(Time, u32)> {
        core::iter::from_fn(|| h.pop_expired(now)).collect()
    }

    #[test]
    fn pops_in_deadline_order_and_fifo_on_ties() {
        let mut h = TimerHeap::new();
        for (key, deadline) in [(1, 50), (2, 10), (3, 50), (4, 30), (5, 10)] {
            assert_eq!(h.add(key, deadline), None);
        }
        assert_eq!(h.next_deadline(), Some(10));
        assert_eq!(h.pop_expired(9), None);
        assert_eq!(drain(&mut h, 30), [(10, 2), (10, 5), (30, 4)]);
        assert_eq!(drain(&mut h, 100), [(50, 1), (50, 3)]);
        assert!(h.is_empty() && h.next_deadline().is_none());
    }

    #[test]
    fn rearm_and_cancel() {
        let mut h = TimerHeap::new();
        h.add(7, 100);
        h.add(8, 100);
        assert_eq!(h.add(7, 100), Some(100), "re-arming moves 7 behind 8");
        assert_eq!(h.len(), 2);
        assert_eq!(h.deadline_of(7), Some(100));
        assert_eq!(h.cancel(9), None);
        assert_eq!(drain(&mut h, 100), [(100, 8), (100, 7)]);
        h.add(1, 5);
        h.add(2, 6);
        assert_eq!(h.cancel(1), Some(5));
        assert_eq!(h.cancel(1), None);
        assert_eq!(h.peek(), Some((6, 2)));
    }

    /// Random add / re-arm / cancel / pop against a sorted-list model.
    #[test]
    fn matches_a_naive_model() {
        let mut rng = Rng(0x5eed_7133);
        let mut h = TimerHeap::new();
        // The model: (deadline, seq, key), kept sorted.
        let mut model: Vec<(Time, u64, u32)> = Vec::new();
        let mut seq = 0u64;
        for _ in 0..20_000 {
            let key = rng.below(64) as u32;
            match rng.below(4) {
                0 | 1 => {
                    let deadline = rng.below(1000);
                    let old = model.iter().position(|m| m.2 == key).map(|i| model.remove(i).0);
                    assert_eq!(h.add(key, deadline), old);
                    model.push((deadline, seq, key));
                    seq += 1;
                }
                2 => {
                    let old = model.iter().position(|m| m.2 == key).map(|i| model.remove(i).0);
                    assert_eq!(h.cancel(key), old);
                }
                _ => {
                    let now = rng.below(1000);
                    model.sort_unstable();
                    let expect = (!model.is_empty() && model[0].0 <= now).then(|| model.remove(0));
                    assert_eq!(h.pop_expired(now), expect.map(|m| (m.0, m.2)));
                }
            }
            model.sort_unstable();
            assert_eq!(h.len(), model.len());
            assert_eq!(h.next_deadline(), model.first().map(|m| m.0));
        }
    }
}
