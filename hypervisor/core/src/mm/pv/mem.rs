// SPDX-License-Identifier: GPL-2.0-only
//! Machine memory and the M2P table as the PV MMU sees them.
//!
//! [`PhysMem`] is the only way this module touches frame contents: 4 KiB
//! frames read and written as 512 little-endian `u64` entries. The machine
//! layer implements it over the hypervisor's direct map (Xen's
//! `map_domain_page`); [`EmulatedMem`] implements it over a `BTreeMap` so
//! page-type validation runs on the build host (the `Emulate` pattern of
//! Redox `rmm`).
//!
//! [`M2p`] is the machine-to-physical table that `MMU_MACHPHYS_UPDATE`
//! writes (Xen's `set_gpfn_from_mfn`); guests read it read-only at
//! `MACH2PHYS_VIRT_START`. [`M2pTable`] is a plain vector model of it.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use super::types::PT_ENTRIES;
use crate::mm::Mfn;

/// Machine memory seen as 4 KiB frames of [`PT_ENTRIES`] `u64` entries.
///
/// Callers in this module only pass `index < 512` and frames for which
/// [`frame_exists`](Self::frame_exists) holds; implementations must still
/// not panic otherwise (reads give 0, writes are dropped).
pub trait PhysMem {
    /// Entry `index` of frame `mfn`.
    fn read_u64(&self, mfn: Mfn, index: usize) -> u64;

    /// Sets entry `index` of frame `mfn` to `val`.
    fn write_u64(&mut self, mfn: Mfn, index: usize, val: u64);

    /// Atomically ORs `bits` into entry `index` of frame `mfn`; returns the
    /// old value. Memory a guest shares with the hypervisor (event bitmaps,
    /// `vcpu_info`) is changed by other CPUs at the same time, so the
    /// machine layer uses a locked instruction; the default (single-CPU
    /// test memories) reads and writes.
    fn fetch_or_u64(&mut self, mfn: Mfn, index: usize, bits: u64) -> u64 {
        let old = self.read_u64(mfn, index);
        self.write_u64(mfn, index, old | bits);
        old
    }

    /// Atomically ANDs `bits` into entry `index` of frame `mfn`; returns
    /// the old value (see [`fetch_or_u64`](Self::fetch_or_u64)).
    fn fetch_and_u64(&mut self, mfn: Mfn, index: usize, bits: u64) -> u64 {
        let old = self.read_u64(mfn, index);
        self.write_u64(mfn, index, old & bits);
        old
    }

    /// Whether `mfn` is backed by memory this object can access.
    fn frame_exists(&self, mfn: Mfn) -> bool;

    /// Zeroes frame `mfn` (`clear_domain_page`).
    fn zero_frame(&mut self, mfn: Mfn) {
        for i in 0..PT_ENTRIES {
            self.write_u64(mfn, i, 0);
        }
    }

    /// Writes back and invalidates the cache lines of frame `mfn` (Xen's
    /// `clean_and_invalidate_dcache_va_range` on x86, which flushes the
    /// whole page: `flush_area_local(FLUSH_CACHE)`), for
    /// `GNTTABOP_cache_flush`. A memory without caches of its own (the
    /// host tests' [`EmulatedMem`]) has nothing to write back.
    fn clean_cache(&mut self, mfn: Mfn) {
        let _ = mfn;
    }

    /// Copies frame `src` over frame `dst` (`copy_domain_page`).
    fn copy_frame(&mut self, dst: Mfn, src: Mfn) {
        for i in 0..PT_ENTRIES {
            let v = self.read_u64(src, i);
            self.write_u64(dst, i, v);
        }
    }

    /// Copies `len` bytes of frame `src` from byte `src_off` into frame
    /// `dst` at byte `dst_off`, as `memmove` (the two may be the same
    /// frame); the length is clamped so that neither side runs past its
    /// frame. `GNTTABOP_copy`'s data path: the machine layer copies
    /// directly between the two frames; the default goes through a
    /// buffer.
    fn copy_bytes(&mut self, dst: Mfn, dst_off: usize, src: Mfn, src_off: usize, len: usize) {
        let room = |off: usize| (PT_ENTRIES * 8).saturating_sub(off);
        let n = len.min(room(src_off)).min(room(dst_off));
        let mut buf = [0u8; PT_ENTRIES * 8];
        let Some(bytes) = buf.get_mut(..n) else { return };
        self.read_bytes(src, src_off, bytes);
        self.write_bytes(dst, dst_off, bytes);
    }

    /// Byte `offset` of frame `mfn` (0 beyond the frame): the hot path's
    /// `vcpu_info` flags. The default goes through
    /// [`read_u64`](Self::read_u64).
    fn read_u8(&self, mfn: Mfn, offset: usize) -> u8 {
        let word = self.read_u64(mfn, offset / 8);
        word.to_le_bytes().get(offset % 8).copied().unwrap_or(0)
    }

    /// Reads `buf.len()` bytes of frame `mfn` from byte `offset`; bytes
    /// beyond the frame read as 0. The default goes through
    /// [`read_u64`](Self::read_u64); the machine layer copies directly.
    fn read_bytes(&self, mfn: Mfn, offset: usize, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            let at = offset.saturating_add(i);
            let word = self.read_u64(mfn, at / 8);
            *b = word.to_le_bytes().get(at % 8).copied().unwrap_or(0);
        }
    }

    /// Writes `bytes` into frame `mfn` from byte `offset`; bytes beyond the
    /// frame are dropped.
    fn write_bytes(&mut self, mfn: Mfn, offset: usize, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let at = offset.saturating_add(i);
            if at >= PT_ENTRIES * 8 {
                break;
            }
            let mut word = self.read_u64(mfn, at / 8).to_le_bytes();
            if let Some(slot) = word.get_mut(at % 8) {
                *slot = b;
            }
            self.write_u64(mfn, at / 8, u64::from_le_bytes(word));
        }
    }
}

/// Host-side machine memory: only the frames added exist, zero-filled.
#[derive(Clone, Debug, Default)]
pub struct EmulatedMem {
    frames: BTreeMap<u64, Box<[u64; PT_ENTRIES]>>,
}

impl EmulatedMem {
    /// Memory with no frames.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Memory with frames `0..count`.
    #[must_use]
    pub fn with_frames(count: u64) -> Self {
        let mut mem = Self::new();
        for mfn in 0..count {
            mem.add_frame(Mfn(mfn));
        }
        mem
    }

    /// Adds a zeroed frame (no effect if it exists).
    pub fn add_frame(&mut self, mfn: Mfn) {
        self.frames.entry(mfn.0).or_insert_with(|| Box::new([0; PT_ENTRIES]));
    }

    /// All entries of a frame, or `None` if it does not exist.
    #[must_use]
    pub fn frame(&self, mfn: Mfn) -> Option<&[u64; PT_ENTRIES]> {
        self.frames.get(&mfn.0).map(|b| &**b)
    }
}

impl PhysMem for EmulatedMem {
    fn read_u64(&self, mfn: Mfn, index: usize) -> u64 {
        self.frames.get(&mfn.0).and_then(|f| f.get(index)).copied().unwrap_or(0)
    }

    fn write_u64(&mut self, mfn: Mfn, index: usize, val: u64) {
        if let Some(slot) = self.frames.get_mut(&mfn.0).and_then(|f| f.get_mut(index)) {
            *slot = val;
        }
    }

    fn frame_exists(&self, mfn: Mfn) -> bool {
        self.frames.contains_key(&mfn.0)
    }
}

/// `INVALID_M2P_ENTRY`: the M2P value of frames no guest has named.
pub const INVALID_M2P_ENTRY: u64 = u64::MAX;

/// The machine-to-physical table (`machine_to_phys_mapping`).
pub trait M2p {
    /// `set_gpfn_from_mfn`: record that `mfn` backs guest frame `gpfn`.
    /// Frames beyond the table are ignored.
    fn set_gpfn_from_mfn(&mut self, mfn: Mfn, gpfn: u64);

    /// `get_gpfn_from_mfn`: the guest frame of `mfn`, or
    /// [`INVALID_M2P_ENTRY`].
    fn get_gpfn_from_mfn(&self, mfn: Mfn) -> u64;
}

/// A vector-backed [`M2p`] covering frames `0..max_page`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct M2pTable {
    entries: Vec<u64>,
}

impl M2pTable {
    /// A table for `max_page` frames, every entry invalid. Sizes that do
    /// not fit in memory give an empty table.
    #[must_use]
    pub fn new(max_page: u64) -> Self {
        let len = usize::try_from(max_page).unwrap_or(0);
        Self { entries: vec![INVALID_M2P_ENTRY; len] }
    }
}

impl M2p for M2pTable {
    fn set_gpfn_from_mfn(&mut self, mfn: Mfn, gpfn: u64) {
        let slot = usize::try_from(mfn.0).ok().and_then(|i| self.entries.get_mut(i));
        if let Some(slot) = slot {
            *slot = gpfn;
        }
    }

    fn get_gpfn_from_mfn(&self, mfn: Mfn) -> u64 {
        usize::try_from(mfn.0)
            .ok()
            .and_then(|i| self.entries.get(i))
            .copied()
            .unwrap_or(INVALID_M2P_ENTRY)
    }
}
