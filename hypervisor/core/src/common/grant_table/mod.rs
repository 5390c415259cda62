// SPDX-License-Identifier: GPL-2.0-only
//! Grant tables, versions 1 and 2 (Xen's `xen/common/grant_table.c`): the
//! per-domain state behind `GNTTABOP_*`.
//!
//! A domain's table has three parts, as in Xen:
//!
//! * the **shared entries** in the frames `setup_table` gave the domain
//!   ([`Domain::grant_frames`]; layouts in [`entry`]): the guest writes
//!   `domid`, `frame` and then `flags` (`GTF_permit_access`,
//!   `GTF_readonly`, for version 2 also `GTF_sub_page` and
//!   `GTF_transitive`); the hypervisor sets `GTF_reading`/`GTF_writing`
//!   (in the entry for version 1, in the status frames
//!   [`Domain::grant_status_frames`] for version 2) while the grant is in
//!   use and clears them when the last use of that kind goes
//!   ([`set_status`], [`reduce_status_for_pin`]);
//! * the **active entries** ([`ActiveGrant`], one per shared entry): how
//!   often the entry is pinned (`pin`, four 8-bit counters: host/device ×
//!   read/write, Xen's `GNTPIN_*`), by which domain and which frame. While
//!   pinned the shared entry's `domid`/`frame` are no longer read: a guest
//!   rewriting them cannot move a live mapping. A copy through a v2
//!   transitive grant pins the entry it names as well (`trans`);
//! * the **maptrack table** ([`GrantMapping`]): the mappings *this* domain
//!   made of other domains' grants, indexed by the handle
//!   `GNTTABOP_map_grant_ref` returns. It grows by 256 entries (Xen's
//!   `MAPTRACK_PER_PAGE`, one 4 KiB frame of 16-byte entries) up to
//!   `max_maptrack_frames` frames (`createdomain`); when it is full and
//!   has no free handle but the one Xen keeps as its free list's tail, a
//!   map gets `GNTST_no_space` (so `n` frames hold `n * 256 - 1`). Free handles are kept
//!   on one list per domain (Xen keeps one per vCPU and steals between
//!   them; the handles a guest sees are the same kind of small integers).
//!
//! The frame references a mapping takes (a general reference, and a
//! `Writable` type reference for a writable mapping) are taken and dropped
//! by the grant operations (`crate::pv::hypercall::grant`); for a host
//! mapping the PTE then carries them exactly as an ordinary L1 entry does
//! (Xen PV: `gnttab_release_host_mappings` is false, page-table teardown
//! drops them).
//!
//! The active entries live as long as the [`Domain`]: a domain being
//! destroyed gives its shared frames back, but a mapping another domain
//! still holds of one of its grants is unmapped later against the active
//! entry (its shared entry is then gone and is not written).
//!
//! [`Domain`]: super::domain::Domain
//! The version (`GNTTABOP_set_version`) may change only while no entry
//! beyond the 8 reserved ones is pinned; the domain's `max_version` comes
//! from `createdomain` (dom0: [`GNTTAB_MAX_VERSION`]).
//!
//! [`Domain::grant_frames`]: super::domain::Domain::grant_frames
//! [`Domain::grant_status_frames`]: super::domain::Domain::grant_status_frames

mod entry;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use guest_abi::grant_table::GrantHandle;
use guest_abi::xen::{DomId, Errno, GrantRef};

pub use entry::{
    GntFrames, SHGNT_PER_PAGE_V1, SHGNT_PER_PAGE_V2, STGNT_PER_PAGE, SharedEntry, clear_flags,
    entries_per_frame, grant_to_status_frames, read_shared, read_status, reduce_status_for_pin,
    set_flags, set_status,
};

use super::domain::Domain;
use crate::mm::Mfn;

/// Highest grant-table version there is (`GNTTAB_MAX_VERSION`): what dom0
/// gets and `createdomain` may ask for.
pub const GNTTAB_MAX_VERSION: u32 = 2;
/// Maptrack entries per maptrack frame (`MAPTRACK_PER_PAGE`: 4096 / 16).
pub const MAPTRACK_PER_PAGE: u32 = 256;

/// Width of one pin counter (`GNTPIN_cntr_width`).
const GNTPIN_CNTR_WIDTH: u32 = 8;
/// One writable host mapping (`GNTPIN_hstw_inc`).
pub const GNTPIN_HSTW_INC: u32 = 1;
/// One read-only host mapping (`GNTPIN_hstr_inc`).
pub const GNTPIN_HSTR_INC: u32 = 1 << GNTPIN_CNTR_WIDTH;
/// One writable device mapping (`GNTPIN_devw_inc`).
pub const GNTPIN_DEVW_INC: u32 = 1 << (2 * GNTPIN_CNTR_WIDTH);
/// One read-only device mapping (`GNTPIN_devr_inc`).
pub const GNTPIN_DEVR_INC: u32 = 1 << (3 * GNTPIN_CNTR_WIDTH);
/// Writable host mappings (`GNTPIN_hstw_mask`).
pub const GNTPIN_HSTW_MASK: u32 = 0xff;
/// Writable device mappings (`GNTPIN_devw_mask`).
pub const GNTPIN_DEVW_MASK: u32 = 0xff << (2 * GNTPIN_CNTR_WIDTH);

/// `GNTPIN_incr2oflow_mask`: the top bit of every counter `incr` adds to;
/// a pin with one of them set could overflow and is refused.
#[must_use]
pub const fn pin_overflow_mask(incr: u32) -> u32 {
    incr << (GNTPIN_CNTR_WIDTH - 1)
}

/// An active grant entry (Xen's `struct active_grant_entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveGrant {
    /// The four pin counters (`GNTPIN_*`); 0: not in use.
    pub pin: u32,
    /// The domain the grant is in use by (valid while pinned).
    pub domid: DomId,
    /// The granted machine frame (valid while pinned).
    pub mfn: Mfn,
    /// First byte granted (`start`; a v2 `sub_page` grant's offset).
    pub start: u16,
    /// Bytes granted (`length`; 4096 for a whole page).
    pub length: u16,
    /// Copy only (`is_sub_page`): a v2 sub-page or transitive grant, which
    /// cannot be mapped.
    pub is_sub_page: bool,
    /// Through a transitive grant: the domain and ref actually pinned
    /// (`trans_domain`, `trans_gref`); `None`: this entry itself.
    pub trans: Option<(DomId, GrantRef)>,
}

impl Default for ActiveGrant {
    fn default() -> Self {
        Self {
            pin: 0,
            domid: DomId(0),
            mfn: Mfn(0),
            start: 0,
            length: 0,
            is_sub_page: false,
            trans: None,
        }
    }
}

/// One entry of a domain's maptrack table (Xen's `struct grant_mapping`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantMapping {
    /// The granting domain's ref.
    pub gref: GrantRef,
    /// `GNTMAP_*` flags still held (0: the handle is free).
    pub flags: u32,
    /// The granting domain.
    pub domid: DomId,
}

/// A domain's grant-table state besides its shared and status frames
/// (see the module documentation).
#[derive(Clone, Debug)]
pub struct GrantTable {
    /// The version in effect (`gt_version`): 1 or 2.
    pub version: u32,
    /// The highest version the domain may choose (`max_version`, from
    /// `createdomain`'s `grant_opts`).
    pub max_version: u32,
    /// Shared frames the active entries cover (`nr_grant_frames`).
    nr_frames: u32,
    /// One active entry per possible v1 entry of the shared frames (v2
    /// uses the first half).
    pub active: Vec<ActiveGrant>,
    /// The maptrack table (`maptrack_limit` = its length).
    pub maptrack: Vec<GrantMapping>,
    /// Free maptrack handles (taken from the end).
    free_handles: Vec<GrantHandle>,
}

impl Default for GrantTable {
    fn default() -> Self {
        Self {
            version: 1,
            max_version: GNTTAB_MAX_VERSION,
            nr_frames: 0,
            active: Vec::new(),
            maptrack: Vec::new(),
            free_handles: Vec::new(),
        }
    }
}

impl GrantTable {
    /// Number of grant entries in the version in effect
    /// (`nr_grant_entries`).
    #[must_use]
    pub fn nr_entries(&self) -> u32 {
        self.nr_frames.saturating_mul(entries_per_frame(self.version))
    }

    /// Grows the active entries to cover `frames` shared frames.
    ///
    /// # Errors
    /// `ENOMEM` when memory for them cannot be had (nothing changes).
    pub fn grow_to_frames(&mut self, frames: u32) -> Result<(), Errno> {
        let want =
            usize::try_from(frames.saturating_mul(SHGNT_PER_PAGE_V1)).map_err(|_| Errno::ENOMEM)?;
        if want > self.active.len() {
            let more = want.saturating_sub(self.active.len());
            self.active.try_reserve_exact(more).map_err(|_| Errno::ENOMEM)?;
            self.active.resize(want, ActiveGrant::default());
        }
        self.nr_frames = self.nr_frames.max(frames);
        Ok(())
    }

    /// The active entry of `gref`, if in range (`gref < nr_grant_entries`).
    pub fn active_mut(&mut self, gref: GrantRef) -> Option<&mut ActiveGrant> {
        if gref.0 >= self.nr_entries() {
            return None;
        }
        self.active.get_mut(usize::try_from(gref.0).ok()?)
    }

    /// Whether any entry from `first` on is pinned.
    #[must_use]
    pub fn pinned_from(&self, first: u32) -> bool {
        let n = usize::try_from(self.nr_entries()).unwrap_or(usize::MAX);
        let first = usize::try_from(first).unwrap_or(usize::MAX);
        self.active.iter().take(n).skip(first).any(|a| a.pin != 0)
    }

    /// Xen's `get_maptrack_handle`: a free handle, growing the table by
    /// one frame's worth if `max_frames` allows. `None`: `GNTST_no_space`.
    ///
    /// As in Xen, the last free handle is never handed out: Xen's free
    /// list always keeps one entry as its tail (`_get_maptrack_handle`), so
    /// a table of `n` frames holds at most `n * 256 - 1` mappings (255 for
    /// one frame), and a guest exhausting its maptrack sees the same count.
    pub fn get_maptrack_handle(&mut self, max_frames: u32) -> Option<GrantHandle> {
        if self.free_handles.len() > 1 {
            return self.free_handles.pop();
        }
        let limit = u32::try_from(self.maptrack.len()).ok()?;
        if limit / MAPTRACK_PER_PAGE >= max_frames {
            return None;
        }
        let new_limit = limit.checked_add(MAPTRACK_PER_PAGE)?;
        let n = usize::try_from(MAPTRACK_PER_PAGE).ok()?;
        self.maptrack.try_reserve_exact(n).ok()?;
        self.free_handles.try_reserve(n).ok()?;
        self.maptrack.resize(self.maptrack.len().saturating_add(n), GrantMapping::default());
        // Hand out the lowest new handle first, the rest go on the list.
        self.free_handles.extend((limit.saturating_add(1)..new_limit).rev());
        Some(limit)
    }

    /// Xen's `put_maptrack_handle`: `handle` is free again.
    pub fn put_maptrack_handle(&mut self, handle: GrantHandle) {
        if let Some(m) = self.maptrack.get_mut(usize::try_from(handle).unwrap_or(usize::MAX)) {
            *m = GrantMapping::default();
            self.free_handles.push(handle);
        }
    }

    /// The mapping behind `handle`: in range and in use.
    #[must_use]
    pub fn mapping(&self, handle: GrantHandle) -> Option<GrantMapping> {
        self.maptrack.get(usize::try_from(handle).ok()?).copied().filter(|m| m.flags != 0)
    }

    /// Stores mapping `m` under `handle` (a handle from
    /// [`get_maptrack_handle`](Self::get_maptrack_handle)).
    pub fn set_mapping(&mut self, handle: GrantHandle, m: GrantMapping) {
        if let Some(slot) = self.maptrack.get_mut(usize::try_from(handle).unwrap_or(usize::MAX)) {
            *slot = m;
        }
    }

    /// Takes every mapping in use out of the maptrack table (Xen's
    /// `gnttab_release_mappings` walk): the handles become free.
    pub fn take_mappings(&mut self) -> Vec<GrantMapping> {
        let mut out = Vec::new();
        for h in 0..self.maptrack.len() {
            let Some(m) = self.maptrack.get(h).copied().filter(|m| m.flags != 0) else {
                continue;
            };
            out.push(m);
            self.put_maptrack_handle(u32::try_from(h).unwrap_or(u32::MAX));
        }
        out
    }

    /// Mappings in use (for tests and the usage dump).
    #[must_use]
    pub fn mappings_in_use(&self) -> usize {
        self.maptrack.iter().filter(|m| m.flags != 0).count()
    }
}

/// Where domain `d`'s grant entries live.
#[must_use]
pub fn gnt_frames(d: &Domain) -> GntFrames<'_> {
    GntFrames { shared: &d.grant_frames, status: &d.grant_status_frames, version: d.grant.version }
}
