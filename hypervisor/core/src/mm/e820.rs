// SPDX-License-Identifier: GPL-2.0-only
//! The machine memory map (e820), sanitised.
//!
//! Firmware maps may be unsorted, overlap, contain empty entries or split
//! one region into several. [`E820Map::from_entries`] sweeps over all entry
//! boundaries and gives every byte the most restrictive type covering it
//! (as Xen and Linux `sanitize_e820_map`: the higher type number wins, so any
//! reserved type beats RAM), then merges adjacent regions of the same type.
//! Entries whose end would pass 2^64 are truncated at `u64::MAX`.
//!
//! [`E820Map::clip`] implements `mem=`: RAM at or above the limit is dropped
//! (an entry straddling it is truncated); other types are kept.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Type of one memory map region (e820 / multiboot type numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum E820Type {
    /// 1: usable RAM.
    Ram,
    /// 2: reserved.
    Reserved,
    /// 3: ACPI tables, reclaimable after parsing.
    Acpi,
    /// 4: ACPI non-volatile storage.
    Nvs,
    /// 5: unusable (defective) memory.
    Unusable,
    /// Any other type number.
    Other(u32),
}

impl E820Type {
    /// The type for an e820/multiboot type number.
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            1 => Self::Ram,
            2 => Self::Reserved,
            3 => Self::Acpi,
            4 => Self::Nvs,
            5 => Self::Unusable,
            other => Self::Other(other),
        }
    }

    /// The e820 type number.
    pub fn raw(self) -> u32 {
        match self {
            Self::Ram => 1,
            Self::Reserved => 2,
            Self::Acpi => 3,
            Self::Nvs => 4,
            Self::Unusable => 5,
            Self::Other(raw) => raw,
        }
    }

    /// Precedence when regions overlap: RAM lowest, then by type number.
    fn rank(self) -> u64 {
        match self {
            Self::Ram => 0,
            other => u64::from(other.raw()).saturating_add(1),
        }
    }
}

impl From<u32> for E820Type {
    fn from(raw: u32) -> Self {
        Self::from_raw(raw)
    }
}

/// One region of the memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct E820Entry {
    /// Start physical address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// Region type.
    pub kind: E820Type,
}

impl E820Entry {
    /// Exclusive end address (saturating at `u64::MAX`).
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }
}

/// A sanitised memory map: sorted, non-overlapping, adjacent regions of the
/// same type merged, no empty regions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct E820Map {
    entries: Vec<E820Entry>,
}

impl E820Map {
    /// Builds a sanitised map from raw `(addr, size, type)` triples.
    pub fn from_entries(raw: impl IntoIterator<Item = (u64, u64, u32)>) -> Self {
        // Boundary events: (position, starts?, type).
        let mut events: Vec<(u64, bool, E820Type)> = Vec::new();
        for (addr, size, raw_type) in raw {
            let end = addr.saturating_add(size);
            if end > addr {
                let kind = E820Type::from_raw(raw_type);
                events.push((addr, true, kind));
                events.push((end, false, kind));
            }
        }
        events.sort_unstable_by_key(|&(pos, _, _)| pos);

        let mut active: BTreeMap<u64, (E820Type, usize)> = BTreeMap::new();
        let mut map = Self::default();
        let mut events = events.into_iter().peekable();
        while let Some(&(pos, _, _)) = events.peek() {
            while let Some((_, starts, kind)) = events.next_if(|&(p, _, _)| p == pos) {
                let slot = active.entry(kind.rank()).or_insert((kind, 0));
                if starts {
                    slot.1 = slot.1.saturating_add(1);
                } else {
                    slot.1 = slot.1.saturating_sub(1);
                    if slot.1 == 0 {
                        active.remove(&kind.rank());
                    }
                }
            }
            let next = events.peek().map(|&(p, _, _)| p);
            if let (Some(next), Some((_, &(kind, _)))) = (next, active.last_key_value()) {
                map.push_merged(pos, next, kind);
            }
        }
        map
    }

    /// Appends `[start, end)` of `kind`, merging with a touching last entry.
    fn push_merged(&mut self, start: u64, end: u64, kind: E820Type) {
        let size = end.saturating_sub(start);
        match self.entries.last_mut() {
            Some(last) if last.kind == kind && last.end() == start => {
                last.size = last.size.saturating_add(size);
            }
            _ => self.entries.push(E820Entry { addr: start, size, kind }),
        }
    }

    /// All regions, in address order.
    pub fn entries(&self) -> &[E820Entry] {
        &self.entries
    }

    /// The RAM regions, in address order.
    pub fn ram_regions(&self) -> impl Iterator<Item = &E820Entry> + '_ {
        self.entries.iter().filter(|e| e.kind == E820Type::Ram)
    }

    /// Total bytes of RAM.
    pub fn total_ram_bytes(&self) -> u64 {
        self.ram_regions().fold(0u64, |sum, e| sum.saturating_add(e.size))
    }

    /// Exclusive end address of the highest RAM region (0 without RAM).
    pub fn max_ram_addr(&self) -> u64 {
        self.ram_regions().map(E820Entry::end).max().unwrap_or(0)
    }

    /// Whether `[start, end)` lies entirely within RAM.
    pub fn is_ram(&self, start: u64, end: u64) -> bool {
        start < end && self.ram_regions().any(|e| e.addr <= start && end <= e.end())
    }

    /// The highest page-aligned start of `size` bytes of RAM at or above
    /// 1 MiB, ending at or below `limit`, that overlaps none of the
    /// `reserved` `[start, end)` ranges (for memory the hypervisor takes
    /// before its frame allocator exists). `None` when nothing fits.
    pub fn find_free(&self, size: u64, limit: u64, reserved: &[(u64, u64)]) -> Option<u64> {
        const PAGE: u64 = crate::PAGE_SIZE;
        const FLOOR: u64 = 1 << 20;
        let size = size.checked_next_multiple_of(PAGE)?.max(PAGE);
        for region in self.ram_regions().collect::<Vec<_>>().into_iter().rev() {
            let low = region.addr.max(FLOOR).checked_next_multiple_of(PAGE)?;
            let mut end = region.end().min(limit) & !(PAGE - 1);
            // Each overlap moves `end` down below a reserved range: at most
            // one step per range.
            for _ in 0..=reserved.len() {
                let Some(start) = end.checked_sub(size).filter(|&s| s >= low) else { break };
                match reserved.iter().filter(|&&(rs, re)| rs < end && start < re).map(|r| r.0).min()
                {
                    Some(rs) => end = rs & !(PAGE - 1),
                    None => return Some(start),
                }
            }
        }
        None
    }

    /// Drops RAM at or above `max_addr` (`mem=`), truncating a region that
    /// straddles it. Returns the number of RAM bytes removed.
    pub fn clip(&mut self, max_addr: u64) -> u64 {
        let mut removed = 0u64;
        self.entries.retain_mut(|e| {
            if e.kind != E820Type::Ram || e.end() <= max_addr {
                return true;
            }
            let keep = max_addr.saturating_sub(e.addr);
            removed = removed.saturating_add(e.size.saturating_sub(keep));
            e.size = keep;
            keep > 0
        });
        removed
    }
}

#[cfg(test)]
mod tests;
