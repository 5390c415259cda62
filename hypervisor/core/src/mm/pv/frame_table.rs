// SPDX-License-Identifier: GPL-2.0-only
//! The frame table: one [`PageInfo`] per machine frame (Xen's
//! `frame_table[]`), with ownership and general reference counts.
//!
//! This file holds the operations that need no access to frame contents:
//! `assign_pages`, `get_page`, `put_page` and the release of the allocation
//! reference. Type references (`get_page_type`/`put_page_type`) may have to
//! validate or devalidate a page table and so live on [`super::PvMm`].
//!
//! Rules kept from Xen:
//!
//! * a reference can only be taken on an allocated frame (count > 0), and
//!   only by its owner (`get_page` fails for foreign and free frames);
//! * the count never wraps: the last two values are refused, as
//!   `page_get_owner_and_reference` does;
//! * when the count drops to 0 the frame is freed: owner and type are
//!   cleared and the frame is queued for the allocator ([`take_freed`]).
//!
//! [`take_freed`]: FrameTable::take_freed

use alloc::vec;
use alloc::vec::Vec;

use guest_abi::xen::{DomId, Errno};

use super::types::{PageInfo, TypeInfo};
use crate::mm::Mfn;
use crate::mm::tlbflush::TlbStamp;

/// Largest general or type count a frame may reach; the top values are
/// reserved so that no increment can wrap (Xen reserves them in
/// `page_get_owner_and_reference` and `_get_page_type`).
pub const MAX_REF_COUNT: u32 = u32::MAX - 2;

/// Per-frame accounting for machine frames `0..max_page`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameTable {
    frames: Vec<PageInfo>,
    freed: Vec<Mfn>,
}

impl FrameTable {
    /// A table covering frames `0..max_page`, all free. Sizes that do not
    /// fit in memory give an empty table.
    #[must_use]
    pub fn new(max_page: u64) -> Self {
        let len = usize::try_from(max_page).unwrap_or(0);
        Self { frames: vec![PageInfo::default(); len], freed: Vec::new() }
    }

    /// Bytes of memory a table covering `max_page` frames needs: what the
    /// hypervisor must set aside for it (its heap is sized from this).
    #[must_use]
    pub fn bytes_for(max_page: u64) -> u64 {
        max_page.saturating_mul(core::mem::size_of::<PageInfo>() as u64)
    }

    /// Gives every frame that is not RAM to [`DomId::IO`] (Xen's
    /// `arch_init_memory`): the first MiB and every frame whose start lies
    /// outside the `[start, end)` byte ranges of `ram`. Returns how many
    /// frames it assigned. Runs in time linear in the number of regions and
    /// I/O frames, not in all of `max_page`.
    pub fn assign_io_frames(&mut self, ram: &[(u64, u64)]) -> u64 {
        const PAGE: u64 = crate::PAGE_SIZE;
        // Frame m is RAM iff some region has start <= m * PAGE < end, i.e.
        // m in [ceil(start / PAGE), ceil(end / PAGE)).
        let mut covered: Vec<(u64, u64)> = ram
            .iter()
            .map(|&(s, e)| (s.div_ceil(PAGE).max(0x100), e.div_ceil(PAGE)))
            .filter(|&(s, e)| s < e)
            .collect();
        covered.sort_unstable();
        let mut assigned = 0u64;
        let mut next = 0u64;
        let max_page = self.max_page();
        let mut give = |table: &mut Self, from: u64, to: u64| {
            for m in from..to.min(max_page) {
                if table.assign(Mfn(m), DomId::IO).is_ok() {
                    assigned = assigned.saturating_add(1);
                }
            }
        };
        for (s, e) in covered {
            if s > next {
                give(self, next, s);
            }
            next = next.max(e);
        }
        give(self, next, max_page);
        assigned
    }

    /// Number of frames covered (`max_page`).
    #[must_use]
    pub fn max_page(&self) -> u64 {
        u64::try_from(self.frames.len()).unwrap_or(u64::MAX)
    }

    /// Whether `mfn` is covered by the table (`mfn_valid`).
    #[must_use]
    pub fn mfn_valid(&self, mfn: Mfn) -> bool {
        self.get(mfn).is_some()
    }

    /// A copy of the accounting state of `mfn`.
    #[must_use]
    pub fn info(&self, mfn: Mfn) -> Option<PageInfo> {
        self.get(mfn).copied()
    }

    /// The current owner of `mfn` (`page_get_owner`).
    #[must_use]
    pub fn owner(&self, mfn: Mfn) -> Option<DomId> {
        self.get(mfn).and_then(|p| p.owner)
    }

    pub(super) fn get(&self, mfn: Mfn) -> Option<&PageInfo> {
        usize::try_from(mfn.0).ok().and_then(|i| self.frames.get(i))
    }

    pub(super) fn get_mut(&mut self, mfn: Mfn) -> Option<&mut PageInfo> {
        usize::try_from(mfn.0).ok().and_then(|i| self.frames.get_mut(i))
    }

    /// Every covered frame with its state, in MFN order.
    pub fn iter(&self) -> impl Iterator<Item = (Mfn, &PageInfo)> {
        (0u64..).zip(self.frames.iter()).map(|(i, p)| (Mfn(i), p))
    }

    /// Gives a free frame to `dom` (Xen's `assign_pages`): owner set, the
    /// allocation reference taken, type cleared.
    ///
    /// # Errors
    ///
    /// `EINVAL` if `mfn` is outside the table, `EBUSY` if it is in use.
    pub fn assign(&mut self, mfn: Mfn, dom: DomId) -> Result<(), Errno> {
        let page = self.get_mut(mfn).ok_or(Errno::EINVAL)?;
        if page.count != 0 || page.owner.is_some() {
            return Err(Errno::EBUSY);
        }
        *page = PageInfo {
            owner: Some(dom),
            count: 1,
            allocated: true,
            type_info: TypeInfo::default(),
            linear_pt_count: 0,
            tlbflush_timestamp: TlbStamp::default(),
        };
        Ok(())
    }

    /// Drops `dom`'s allocation reference on `mfn` (what
    /// `XENMEM_decrease_reservation` does through `guest_remove_page`).
    /// The frame is freed only once every other reference is gone, so a
    /// frame that is still mapped or used as a page table stays owned.
    ///
    /// # Errors
    ///
    /// `EINVAL` if `dom` does not own `mfn` or already released it.
    pub fn release(&mut self, mfn: Mfn, dom: DomId) -> Result<(), Errno> {
        let page = self.get_mut(mfn).ok_or(Errno::EINVAL)?;
        if page.owner != Some(dom) || !page.allocated {
            return Err(Errno::EINVAL);
        }
        page.allocated = false;
        self.put_page(mfn);
        Ok(())
    }

    /// Xen's `get_page`: takes a general reference on `mfn` for `dom`.
    ///
    /// Fails (returns `false`, taking nothing) if the frame is not covered,
    /// not allocated (count 0), would overflow, or is owned by another
    /// domain.
    #[must_use]
    pub fn get_page(&mut self, mfn: Mfn, dom: DomId) -> bool {
        let Some(page) = self.get_mut(mfn) else {
            return false;
        };
        if page.count == 0 || page.count >= MAX_REF_COUNT || page.owner != Some(dom) {
            return false;
        }
        page.count = page.count.saturating_add(1);
        true
    }

    /// Xen's `put_page`: drops a general reference; the last one frees the
    /// frame. Dropping a reference that is not held is ignored.
    pub fn put_page(&mut self, mfn: Mfn) {
        let Some(page) = self.get_mut(mfn) else {
            return;
        };
        if page.count == 0 {
            return;
        }
        page.count = page.count.saturating_sub(1);
        if page.count == 0 {
            // free_domheap_page: every type reference travels with a general
            // one, so the type count is 0 here; clear the rest.
            *page = PageInfo::default();
            self.freed.push(mfn);
        }
    }

    /// Frames freed since the last call, for the frame allocator. A freed
    /// frame may still sit in TLBs of its last owner's CPUs: it goes back
    /// through `Platform::free_frame`, which stamps it with the TLB-flush
    /// clock, and the allocator has the CPUs that have not flushed since
    /// flush before handing it out again (Xen's `free_heap_pages` and
    /// `alloc_heap_pages`, [`crate::mm::tlbflush`]).
    pub fn take_freed(&mut self) -> Vec<Mfn> {
        core::mem::take(&mut self.freed)
    }

    /// Test hook: force a frame's general count (to reach overflow limits).
    #[cfg(test)]
    pub(super) fn set_count_for_test(&mut self, mfn: Mfn, count: u32) {
        if let Some(p) = self.get_mut(mfn) {
            p.count = count;
        }
    }

    /// Test hook: force a frame's type count (to reach overflow limits).
    #[cfg(test)]
    pub(super) fn set_type_count_for_test(&mut self, mfn: Mfn, count: u32) {
        if let Some(p) = self.get_mut(mfn) {
            p.type_info.count = count;
        }
    }
}
