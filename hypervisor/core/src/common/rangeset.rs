// SPDX-License-Identifier: GPL-2.0-only
//! Sets of inclusive `u64` ranges (Xen's `rangeset`): a domain's I/O memory,
//! I/O port and IRQ capabilities (`iomem_caps`, `ioport_caps`,
//! `irq_caps`).
//!
//! The ranges are kept sorted, disjoint and non-adjacent (adding `[a, b]`
//! merges with every range it touches; removing splits). The number of
//! ranges is capped at [`RangeSet::MAX_RANGES`] so that a caller cannot
//! make the hypervisor allocate without bound; an operation that would
//! exceed it fails with `ENOMEM` and changes nothing (Xen's allocation
//! failure).

use alloc::vec::Vec;

use guest_abi::xen::Errno;

/// A set of inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// Sorted, disjoint, non-adjacent `(first, last)` pairs.
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    /// Most ranges a set holds.
    pub const MAX_RANGES: usize = 1024;

    /// An empty set.
    #[must_use]
    pub const fn new() -> Self {
        Self { ranges: Vec::new() }
    }

    /// The ranges, in order.
    #[must_use]
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Adds `[first, last]` (`rangeset_add_range`).
    ///
    /// # Errors
    /// `EINVAL` when `first > last`; `ENOMEM` when the set is full.
    pub fn add(&mut self, first: u64, last: u64) -> Result<(), Errno> {
        if first > last {
            return Err(Errno::EINVAL);
        }
        // Ranges that touch or overlap [first, last] merge with it.
        let touches =
            |&(a, b): &(u64, u64)| b.saturating_add(1) >= first && a <= last.saturating_add(1);
        let start = self.ranges.iter().position(touches);
        let Some(start) = start else {
            if self.ranges.len() >= Self::MAX_RANGES {
                return Err(Errno::ENOMEM);
            }
            let at = self.ranges.iter().position(|&(a, _)| a > last).unwrap_or(self.ranges.len());
            self.ranges.insert(at, (first, last));
            return Ok(());
        };
        let end =
            self.ranges.iter().skip(start).take_while(|r| touches(r)).count().saturating_add(start);
        let merged_first = self.ranges.get(start).map_or(first, |r| r.0.min(first));
        let merged_last =
            end.checked_sub(1).and_then(|i| self.ranges.get(i)).map_or(last, |r| r.1.max(last));
        self.ranges.splice(start..end, [(merged_first, merged_last)]);
        Ok(())
    }

    /// Removes `[first, last]` (`rangeset_remove_range`); parts not in the
    /// set are ignored.
    ///
    /// # Errors
    /// `EINVAL` when `first > last`; `ENOMEM` when splitting a range would
    /// exceed the cap.
    pub fn remove(&mut self, first: u64, last: u64) -> Result<(), Errno> {
        if first > last {
            return Err(Errno::EINVAL);
        }
        let mut out: Vec<(u64, u64)> = Vec::new();
        out.try_reserve(self.ranges.len().saturating_add(1)).map_err(|_| Errno::ENOMEM)?;
        for &(a, b) in &self.ranges {
            if b < first || a > last {
                out.push((a, b));
                continue;
            }
            if a < first {
                out.push((a, first.saturating_sub(1)));
            }
            if b > last {
                out.push((last.saturating_add(1), b));
            }
        }
        if out.len() > Self::MAX_RANGES {
            return Err(Errno::ENOMEM);
        }
        self.ranges = out;
        Ok(())
    }

    /// Whether every value of `[first, last]` is in the set
    /// (`rangeset_contains_range`); `false` for `first > last`.
    #[must_use]
    pub fn contains_range(&self, first: u64, last: u64) -> bool {
        first <= last && self.ranges.iter().any(|&(a, b)| a <= first && last <= b)
    }

    /// Whether `value` is in the set.
    #[must_use]
    pub fn contains(&self, value: u64) -> bool {
        self.contains_range(value, value)
    }

    /// Whether any value of `[first, last]` is in the set
    /// (`rangeset_overlaps_range`).
    #[must_use]
    pub fn overlaps(&self, first: u64, last: u64) -> bool {
        first <= last && self.ranges.iter().any(|&(a, b)| a <= last && first <= b)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects, reason = "tests on known values")]
mod tests {
    use super::*;

    #[test]
    fn add_merges_touching_and_overlapping_ranges() {
        let mut s = RangeSet::new();
        s.add(10, 20).unwrap();
        s.add(30, 40).unwrap();
        s.add(0, 2).unwrap();
        assert_eq!(s.ranges(), [(0, 2), (10, 20), (30, 40)]);
        s.add(21, 29).unwrap();
        assert_eq!(s.ranges(), [(0, 2), (10, 40)], "adjacent on both sides");
        s.add(3, 3).unwrap();
        assert_eq!(s.ranges(), [(0, 3), (10, 40)]);
        s.add(5, 50).unwrap();
        assert_eq!(s.ranges(), [(0, 3), (5, 50)]);
        s.add(0, u64::MAX).unwrap();
        assert_eq!(s.ranges(), [(0, u64::MAX)]);
        assert_eq!(s.add(5, 4), Err(Errno::EINVAL));
    }

    #[test]
    fn remove_splits_and_trims() {
        let mut s = RangeSet::new();
        s.add(0, 100).unwrap();
        s.remove(10, 20).unwrap();
        assert_eq!(s.ranges(), [(0, 9), (21, 100)]);
        s.remove(0, 0).unwrap();
        s.remove(100, u64::MAX).unwrap();
        assert_eq!(s.ranges(), [(1, 9), (21, 99)]);
        s.remove(5, 50).unwrap();
        assert_eq!(s.ranges(), [(1, 4), (51, 99)]);
        s.remove(0, u64::MAX).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.remove(2, 1), Err(Errno::EINVAL));
    }

    #[test]
    fn queries() {
        let mut s = RangeSet::new();
        s.add(0x3f8, 0x3ff).unwrap();
        s.add(0x1000, 0x1fff).unwrap();
        assert!(s.contains(0x3f8) && s.contains(0x3ff) && !s.contains(0x400));
        assert!(s.contains_range(0x1000, 0x1fff) && !s.contains_range(0x3f8, 0x1000));
        assert!(s.overlaps(0x3f0, 0x3f8) && !s.overlaps(0x400, 0xfff));
        assert!(!s.contains_range(2, 1) && !s.overlaps(2, 1));
    }

    #[test]
    fn the_number_of_ranges_is_capped() {
        let mut s = RangeSet::new();
        for i in 0..RangeSet::MAX_RANGES as u64 {
            s.add(i * 4, i * 4 + 1).unwrap();
        }
        let before = s.clone();
        assert_eq!(s.add(u64::MAX - 1, u64::MAX), Err(Errno::ENOMEM));
        assert_eq!(s.remove(0, 0), Ok(()), "trimming needs no new range");
        assert_eq!(s.remove(4 * 5, 4 * 5), Ok(()));
        let mut full = before.clone();
        full.add(1 << 40, 1 << 40).unwrap_err();
        // Splitting a range in two when full.
        let mut t = RangeSet::new();
        for i in 0..RangeSet::MAX_RANGES as u64 {
            t.add(i * 10, i * 10 + 5).unwrap();
        }
        assert_eq!(t.remove(2, 3), Err(Errno::ENOMEM));
        assert_eq!(t.ranges().first(), Some(&(0, 5)), "unchanged");
        // Merging still works when full.
        t.add(6, 9).unwrap();
        assert_eq!(t.ranges().len(), RangeSet::MAX_RANGES - 1);
    }
}
