// SPDX-License-Identifier: GPL-2.0-only
//! Shared grant entries and their status flags, version 1 and 2 (Xen's
//! `shared_entry_v1`/`shared_entry_v2`, `status_entry`, `_set_status_v1`,
//! `_set_status_v2`, `reduce_status_for_pin`).
//!
//! * Version 1: 8-byte entries (`grant_entry_v1_t`, 512 a frame); the
//!   hypervisor's `GTF_reading`/`GTF_writing` live in the entry's own
//!   flags.
//! * Version 2: 16-byte entries (`grant_entry_v2_t`, 256 a frame) whose
//!   first word is the same header (flags, domid) followed by the
//!   `full_page` frame, the `sub_page` range or the `transitive` domain
//!   and ref; the status bits live apart, one 16-bit `grant_status_t` per
//!   entry in the status frames (2048 a frame), which the guest maps
//!   read-only (`GNTTABOP_get_status_frames`).
//!
//! [`GntFrames`] names where a domain's entries are (its shared and status
//! frames and the version in effect); every accessor here takes one, so
//! the operations read the right layout.

use guest_abi::grant_table::{
    GTF_permit_access, GTF_reading, GTF_readonly, GTF_sub_page, GTF_transitive, GTF_type_mask,
    GTF_writing, GntSt,
};
use guest_abi::xen::{DomId, GrantRef};

use crate::mm::Mfn;
use crate::mm::pv::PhysMem;

/// Shared v1 entries per frame (`SHGNT_PER_PAGE_V1`).
pub const SHGNT_PER_PAGE_V1: u32 = 512;
/// Shared v2 entries per frame (`SHGNT_PER_PAGE_V2`).
pub const SHGNT_PER_PAGE_V2: u32 = 256;
/// Status entries per status frame (`grant_status_t`, 2 bytes).
pub const STGNT_PER_PAGE: u32 = 2048;

/// Entries per shared frame in `version`.
#[must_use]
pub const fn entries_per_frame(version: u32) -> u32 {
    if version == 2 { SHGNT_PER_PAGE_V2 } else { SHGNT_PER_PAGE_V1 }
}

/// Xen's `grant_to_status_frames`: status frames a v2 table of `frames`
/// shared frames needs.
#[must_use]
pub const fn grant_to_status_frames(frames: u32) -> u32 {
    frames.saturating_mul(SHGNT_PER_PAGE_V2).div_ceil(STGNT_PER_PAGE)
}

/// Where a domain's grant entries live.
#[derive(Clone, Copy, Debug)]
pub struct GntFrames<'a> {
    /// The shared frames (`shared_raw`).
    pub shared: &'a [Mfn],
    /// The status frames (version 2 only; empty otherwise).
    pub status: &'a [Mfn],
    /// The version in effect (`gt_version`): 1 or 2.
    pub version: u32,
}

impl GntFrames<'_> {
    /// Frame and `u64` index of entry `gref`'s first word (the header:
    /// flags in bits 0–15, domid in 16–31).
    #[must_use]
    pub fn header_slot(&self, gref: GrantRef) -> Option<(Mfn, usize)> {
        let per = entries_per_frame(self.version);
        let frame = self.shared.get(usize::try_from(gref.0.checked_div(per)?).ok()?)?;
        let i = usize::try_from(gref.0.checked_rem(per)?).ok()?;
        Some((*frame, if self.version == 2 { i.checked_mul(2)? } else { i }))
    }

    /// Frame, `u64` index and bit shift of entry `gref`'s status bits: the
    /// header word itself for version 1, its `grant_status_t` for 2.
    fn status_slot(&self, gref: GrantRef) -> Option<(Mfn, usize, u32)> {
        if self.version != 2 {
            let (m, i) = self.header_slot(gref)?;
            return Some((m, i, 0));
        }
        let frame = self.status.get(usize::try_from(gref.0.checked_div(STGNT_PER_PAGE)?).ok()?)?;
        let i = gref.0.checked_rem(STGNT_PER_PAGE)?;
        let shift = i.checked_rem(4)?.checked_mul(16)?;
        Some((*frame, usize::try_from(i.checked_div(4)?).ok()?, shift))
    }
}

/// A shared entry as read, whatever its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedEntry {
    /// `GTF_*` (for version 2 without the status bits).
    pub flags: u16,
    /// Grantee.
    pub domid: DomId,
    /// Granted frame (`frame`, `full_page.frame`, `sub_page.frame`).
    pub frame: u64,
    /// `sub_page.page_off` (version 2).
    pub page_off: u16,
    /// `sub_page.length` (version 2).
    pub length: u16,
    /// `transitive.trans_domid` (version 2).
    pub trans_domid: DomId,
    /// `transitive.gref` (version 2).
    pub trans_gref: GrantRef,
}

impl SharedEntry {
    /// Decodes a v1 entry (one little-endian word).
    #[allow(clippy::cast_possible_truncation, reason = "the entry's fields, by position")]
    #[must_use]
    pub const fn from_v1(raw: u64) -> Self {
        Self {
            flags: raw as u16,
            domid: DomId((raw >> 16) as u16),
            frame: raw >> 32,
            page_off: 0,
            length: 0,
            trans_domid: DomId(0),
            trans_gref: GrantRef(0),
        }
    }

    /// Decodes a v2 entry from its two words.
    #[allow(clippy::cast_possible_truncation, reason = "the union's fields, by position")]
    #[must_use]
    pub const fn from_v2(w0: u64, w1: u64) -> Self {
        Self {
            flags: w0 as u16,
            domid: DomId((w0 >> 16) as u16),
            frame: w1,
            page_off: (w0 >> 32) as u16,
            length: (w0 >> 48) as u16,
            trans_domid: DomId((w0 >> 32) as u16),
            trans_gref: GrantRef(w1 as u32),
        }
    }
}

/// Reads entry `gref` (`None`: no such frame).
#[must_use]
pub fn read_shared(mem: &dyn PhysMem, g: &GntFrames<'_>, gref: GrantRef) -> Option<SharedEntry> {
    let (mfn, i) = g.header_slot(gref)?;
    let w0 = mem.read_u64(mfn, i);
    if g.version == 2 {
        Some(SharedEntry::from_v2(w0, mem.read_u64(mfn, i.checked_add(1)?)))
    } else {
        Some(SharedEntry::from_v1(w0))
    }
}

/// The status bits of entry `gref` (`GTF_reading`/`GTF_writing`; for
/// version 1 the whole flags field).
#[allow(clippy::cast_possible_truncation, reason = "one 16-bit field of the word")]
#[must_use]
pub fn read_status(mem: &dyn PhysMem, g: &GntFrames<'_>, gref: GrantRef) -> u16 {
    g.status_slot(gref).map_or(0, |(m, i, sh)| (mem.read_u64(m, i) >> sh) as u16)
}

/// `gnttab_clear_flags`: clears `mask` in entry `gref`'s status
/// (atomically: the guest shares the word).
pub fn clear_flags(mem: &mut dyn PhysMem, g: &GntFrames<'_>, gref: GrantRef, mask: u16) {
    if let Some((m, i, sh)) = g.status_slot(gref) {
        mem.fetch_and_u64(m, i, !(u64::from(mask) << sh));
    }
}

/// Sets `bits` in entry `gref`'s status (atomically).
pub fn set_flags(mem: &mut dyn PhysMem, g: &GntFrames<'_>, gref: GrantRef, bits: u16) {
    if let Some((m, i, sh)) = g.status_slot(gref) {
        mem.fetch_or_u64(m, i, u64::from(bits) << sh);
    }
}

/// How often the v1 update retries an entry the guest keeps changing
/// (Xen's bound of 5 attempts).
const SET_STATUS_TRIES: u32 = 5;

/// Xen's `_set_status`: marks entry `gref` in use (`GTF_reading`, and
/// `GTF_writing` unless `readonly`), checking first, if it is not `pinned`
/// yet, that it grants access to `ldomid` (`GTF_permit_access`; for a
/// mapping not `GTF_sub_page`; for a copy of a v2 table also
/// `GTF_transitive`); a writable use of a `GTF_readonly` grant is refused.
/// Every refusal is `GNTST_general_error`, as in Xen.
///
/// # Errors
/// `GntSt::GeneralError`.
pub fn set_status(
    mem: &mut dyn PhysMem,
    g: &GntFrames<'_>,
    gref: GrantRef,
    pinned: bool,
    readonly: bool,
    mapflag: bool,
    ldomid: DomId,
) -> Result<(), GntSt> {
    if g.version == 2 {
        set_status_v2(mem, g, gref, pinned, readonly, mapflag, ldomid)
    } else {
        set_status_v1(mem, g, gref, pinned, readonly, mapflag, ldomid)
    }
}

/// `_set_status_v1`: Xen sets the flags with a compare-exchange on the
/// flags and domid; here the flags are ORed in atomically and the word
/// seen before is checked to be the one validated, undoing and retrying
/// otherwise.
fn set_status_v1(
    mem: &mut dyn PhysMem,
    g: &GntFrames<'_>,
    gref: GrantRef,
    pinned: bool,
    readonly: bool,
    mapflag: bool,
    ldomid: DomId,
) -> Result<(), GntSt> {
    let (mfn, i) = g.header_slot(gref).ok_or(GntSt::GeneralError)?;
    let mask = if mapflag { GTF_type_mask | GTF_sub_page } else { GTF_type_mask };
    let set = if readonly { GTF_reading } else { GTF_reading | GTF_writing };
    let mut seen = mem.read_u64(mfn, i);
    for _ in 0..SET_STATUS_TRIES {
        let e = SharedEntry::from_v1(seen);
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

/// `_set_status_v2`: the status bits are set in the separate status
/// entry, then the header is read again and, if it changed to something
/// not allowed meanwhile, the bits are taken back.
fn set_status_v2(
    mem: &mut dyn PhysMem,
    g: &GntFrames<'_>,
    gref: GrantRef,
    pinned: bool,
    readonly: bool,
    mapflag: bool,
    ldomid: DomId,
) -> Result<(), GntSt> {
    let (mfn, i) = g.header_slot(gref).ok_or(GntSt::GeneralError)?;
    let (sm, si, sh) = g.status_slot(gref).ok_or(GntSt::GeneralError)?;
    let mask = if mapflag { GTF_type_mask | GTF_sub_page } else { GTF_type_mask };
    let usable = |e: SharedEntry| {
        let ty = e.flags & mask;
        (ty == GTF_permit_access || (!mapflag && ty == GTF_transitive)) && e.domid == ldomid
    };
    let e = SharedEntry::from_v1(mem.read_u64(mfn, i));
    if !pinned && !usable(e) {
        return Err(GntSt::GeneralError);
    }
    let set = if readonly {
        GTF_reading
    } else {
        if e.flags & GTF_readonly != 0 {
            return Err(GntSt::GeneralError);
        }
        GTF_reading | GTF_writing
    };
    mem.fetch_or_u64(sm, si, u64::from(set) << sh);
    let e = SharedEntry::from_v1(mem.read_u64(mfn, i));
    if !pinned {
        if !usable(e) || (!readonly && e.flags & GTF_readonly != 0) {
            clear_flags(mem, g, gref, GTF_reading | GTF_writing);
            return Err(GntSt::GeneralError);
        }
    } else if e.flags & GTF_readonly != 0 {
        clear_flags(mem, g, gref, GTF_writing);
        return Err(GntSt::GeneralError);
    }
    Ok(())
}

/// Xen's `reduce_status_for_pin`: clears `GTF_reading` once nothing pins
/// the entry and `GTF_writing` once no writable use is left (for a
/// writable use just ended).
pub fn reduce_status_for_pin(
    mem: &mut dyn PhysMem,
    g: &GntFrames<'_>,
    gref: GrantRef,
    pin: u32,
    readonly: bool,
) {
    let mut clear = if pin == 0 { GTF_reading } else { 0 };
    if !readonly && pin & (super::GNTPIN_HSTW_MASK | super::GNTPIN_DEVW_MASK) == 0 {
        clear |= GTF_writing;
    }
    if clear != 0 {
        clear_flags(mem, g, gref, clear);
    }
}
