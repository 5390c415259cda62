// SPDX-License-Identifier: GPL-2.0-only
//! Grant tables, version 1 (Xen's `xen/common/grant_table.c`): the
//! per-domain state behind `GNTTABOP_*`.
//!
//! A domain's table has three parts, as in Xen:
//!
//! * the **shared entries** (`grant_entry_v1_t`, 8 bytes, 512 a frame) in
//!   the frames `setup_table` gave the domain ([`Domain::grant_frames`]):
//!   the guest writes `domid`, `frame` and then `flags`
//!   (`GTF_permit_access`, `GTF_readonly`); the hypervisor sets
//!   `GTF_reading`/`GTF_writing` while the grant is in use and clears them
//!   when the last use of that kind goes ([`set_status_v1`],
//!   [`reduce_status_for_pin`]);
//! * the **active entries** ([`ActiveGrant`], one per shared entry): how
//!   often the entry is pinned (`pin`, four 8-bit counters: host/device ×
//!   read/write, Xen's `GNTPIN_*`), by which domain and which frame. While
//!   pinned the shared entry's `domid`/`frame` are no longer read: a guest
//!   rewriting them cannot move a live mapping. For version 1 the
//!   transitive fields of Xen's entry are implicit (the granting domain
//!   and the same ref), so they are not stored;
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
//! [`Domain::grant_frames`]: super::domain::Domain::grant_frames

#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use guest_abi::grant_table::{
    GTF_permit_access, GTF_reading, GTF_readonly, GTF_sub_page, GTF_type_mask, GTF_writing, GntSt,
    GrantHandle,
};
use guest_abi::xen::{DomId, Errno, GrantRef};

use crate::mm::Mfn;
use crate::mm::pv::PhysMem;

/// Shared v1 entries per frame (`SHGNT_PER_PAGE_V1`).
pub const SHGNT_PER_PAGE_V1: u32 = 512;
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

/// An active grant entry (Xen's `struct active_grant_entry`, version 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveGrant {
    /// The four pin counters (`GNTPIN_*`); 0: not in use.
    pub pin: u32,
    /// The domain the grant is in use by (valid while pinned).
    pub domid: DomId,
    /// The granted machine frame (valid while pinned).
    pub mfn: Mfn,
}

impl Default for ActiveGrant {
    fn default() -> Self {
        Self { pin: 0, domid: DomId(0), mfn: Mfn(0) }
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

/// A domain's grant-table state besides its shared frames (see the module
/// documentation).
#[derive(Clone, Debug, Default)]
pub struct GrantTable {
    /// One active entry per shared entry (`nr_grant_entries`).
    pub active: Vec<ActiveGrant>,
    /// The maptrack table (`maptrack_limit` = its length).
    pub maptrack: Vec<GrantMapping>,
    /// Free maptrack handles (taken from the end).
    free_handles: Vec<GrantHandle>,
}

impl GrantTable {
    /// Number of grant entries (`nr_grant_entries`).
    #[must_use]
    pub fn nr_entries(&self) -> u32 {
        u32::try_from(self.active.len()).unwrap_or(u32::MAX)
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
        Ok(())
    }

    /// The active entry of `gref`, if in range.
    pub fn active_mut(&mut self, gref: GrantRef) -> Option<&mut ActiveGrant> {
        self.active.get_mut(usize::try_from(gref.0).ok()?)
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

/// Where shared v1 entry `gref` lives: frame and 8-byte index, if the
/// domain still has that frame.
#[must_use]
pub fn shared_entry_slot(grant_frames: &[Mfn], gref: GrantRef) -> Option<(Mfn, usize)> {
    let frame = grant_frames.get(usize::try_from(gref.0 / SHGNT_PER_PAGE_V1).ok()?)?;
    Some((*frame, usize::try_from(gref.0 % SHGNT_PER_PAGE_V1).ok()?))
}

/// A shared v1 entry as read: flags, domid, frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedEntryV1 {
    /// `GTF_*`.
    pub flags: u16,
    /// Grantee.
    pub domid: DomId,
    /// Granted frame (an MFN for a PV granter).
    pub frame: u32,
}

impl SharedEntryV1 {
    /// Decodes the little-endian 8-byte entry.
    #[allow(clippy::cast_possible_truncation, reason = "the entry's fields, by position")]
    #[must_use]
    pub const fn from_raw(raw: u64) -> Self {
        Self { flags: raw as u16, domid: DomId((raw >> 16) as u16), frame: (raw >> 32) as u32 }
    }
}

/// Reads shared entry `gref` (`None`: no such frame any more).
#[must_use]
pub fn read_shared(mem: &dyn PhysMem, frames: &[Mfn], gref: GrantRef) -> Option<SharedEntryV1> {
    let (mfn, i) = shared_entry_slot(frames, gref)?;
    Some(SharedEntryV1::from_raw(mem.read_u64(mfn, i)))
}

/// `gnttab_clear_flags`: clears `mask` in shared entry `gref`'s flags
/// (atomically: the guest writes the same word).
pub fn clear_flags(mem: &mut dyn PhysMem, frames: &[Mfn], gref: GrantRef, mask: u16) {
    if let Some((mfn, i)) = shared_entry_slot(frames, gref) {
        mem.fetch_and_u64(mfn, i, !u64::from(mask));
    }
}

/// How often [`set_status_v1`] retries an entry the guest keeps changing
/// (Xen's bound of 5 attempts).
const SET_STATUS_TRIES: u32 = 5;

/// Xen's `_set_status_v1`: sets `GTF_reading` (and `GTF_writing` unless
/// `readonly`) in shared entry `gref`, checking first, if the entry is not
/// pinned yet, that it is a `GTF_permit_access` grant to `ldomid` (and, for
/// a mapping, not `GTF_sub_page`); a writable use of a `GTF_readonly`
/// grant is refused. Every refusal is `GNTST_general_error`, as in Xen.
///
/// Xen sets the flags with a compare-exchange on the flags and domid; here
/// the flags are ORed in atomically and the word seen before is checked to
/// be the one validated, undoing and retrying otherwise.
///
/// # Errors
/// `GntSt::GeneralError`.
pub fn set_status_v1(
    mem: &mut dyn PhysMem,
    frames: &[Mfn],
    gref: GrantRef,
    pinned: bool,
    readonly: bool,
    mapflag: bool,
    ldomid: DomId,
) -> Result<(), GntSt> {
    let (mfn, i) = shared_entry_slot(frames, gref).ok_or(GntSt::GeneralError)?;
    let mask = if mapflag { GTF_type_mask | GTF_sub_page } else { GTF_type_mask };
    let set = if readonly { GTF_reading } else { GTF_reading | GTF_writing };
    let mut seen = mem.read_u64(mfn, i);
    for _ in 0..SET_STATUS_TRIES {
        let e = SharedEntryV1::from_raw(seen);
        if !pinned && (e.flags & mask != GTF_permit_access || e.domid != ldomid) {
            return Err(GntSt::GeneralError);
        }
        if !readonly && e.flags & GTF_readonly != 0 {
            return Err(GntSt::GeneralError);
        }
        let before = mem.fetch_or_u64(mfn, i, u64::from(set));
        // The flags and domid half must be what was checked.
        if before & 0xffff_ffff == seen & 0xffff_ffff {
            return Ok(());
        }
        // Changed under us: take back the bits this attempt added.
        let added = u64::from(set) & !before;
        mem.fetch_and_u64(mfn, i, !added);
        seen = before;
    }
    Err(GntSt::GeneralError)
}

/// Xen's `reduce_status_for_pin`: clears `GTF_reading` once nothing pins
/// the entry and `GTF_writing` once no writable use is left (for a
/// writable use just ended).
pub fn reduce_status_for_pin(
    mem: &mut dyn PhysMem,
    frames: &[Mfn],
    gref: GrantRef,
    pin: u32,
    readonly: bool,
) {
    let mut clear = if pin == 0 { GTF_reading } else { 0 };
    if !readonly && pin & (GNTPIN_HSTW_MASK | GNTPIN_DEVW_MASK) == 0 {
        clear |= GTF_writing;
    }
    if clear != 0 {
        clear_flags(mem, frames, gref, clear);
    }
}
