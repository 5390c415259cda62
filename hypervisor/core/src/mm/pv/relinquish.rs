// SPDX-License-Identifier: GPL-2.0-only
//! Xen's `relinquish_memory` (`arch/x86/domain.c`): the frame side of
//! destroying a domain.
//!
//! Once the domain's vCPUs have dropped their base pointers, descriptor
//! tables and `vcpu_info` mappings, every reference left on its frames
//! comes from the frames themselves: pins, allocation references, and the
//! entries of its page tables. [`PvMm::relinquish_memory`] walks the
//! domain's frames in passes, as Xen walks `d->page_list`:
//!
//! 1. every pinned table is unpinned ([`PvMm::unpin_table`], the
//!    `MMUEXT_UNPIN_TABLE` operation), every allocation reference dropped
//!    (`PGC_allocated`), and L4 tables that still hold type references are
//!    forcibly devalidated;
//! 2. then L3 tables, 3. then L2 tables, the same way.
//!
//! Devalidating a table releases what its entries hold, so lower levels
//! lose their references level by level, and a frame whose last reference
//! goes is freed into the frame table's queue ([`FrameTable::take_freed`]).
//! Linear page-table references cannot form cycles (a table is never both
//! a linear target and a holder, XSA-240), so after the passes a
//! consistent domain holds nothing: [`PvMm::relinquish_memory`] returns
//! the number of its frames still referenced, 0 unless something outside
//! the domain holds one of them.
//!
//! [`FrameTable::take_freed`]: super::FrameTable::take_freed

use alloc::vec::Vec;

use guest_abi::xen::{DomId, Errno};

use super::PvMm;
use super::types::Level;
use crate::mm::Mfn;

impl PvMm<'_> {
    /// Releases every reference `dom`'s frames hold (see the module
    /// documentation). Returns how many of its frames are still owned
    /// afterwards (held by someone else).
    ///
    /// # Errors
    /// `ENOMEM` when the list of the domain's frames cannot be allocated
    /// (nothing is changed then).
    pub fn relinquish_memory(&mut self, dom: DomId) -> Result<u64, Errno> {
        let owned = self.owned_frames(dom)?;
        for (pass, level) in [Level::L4, Level::L3, Level::L2].into_iter().enumerate() {
            for &mfn in &owned {
                // Hold the frame while working on it (`get_page`); a frame
                // already freed by an earlier devalidation is skipped.
                if !self.frames.get_page(mfn, dom) {
                    continue;
                }
                if pass == 0 {
                    if self.frames.get(mfn).is_some_and(|p| p.type_info.pinned) {
                        let _ = self.unpin_table(dom, mfn);
                    }
                    if self.frames.get(mfn).is_some_and(|p| p.allocated) {
                        let _ = self.frames.release(mfn, dom);
                    }
                }
                self.force_devalidate(mfn, level);
                self.frames.put_page(mfn);
            }
        }
        let left = owned.iter().filter(|&&m| self.frames.owner(m) == Some(dom)).count();
        Ok(u64::try_from(left).unwrap_or(u64::MAX))
    }

    /// The frames `dom` owns, in MFN order.
    fn owned_frames(&self, dom: DomId) -> Result<Vec<Mfn>, Errno> {
        let n = self.frames.iter().filter(|(_, p)| p.owner == Some(dom)).count();
        let mut owned = Vec::new();
        owned.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        owned.extend(self.frames.iter().filter(|(_, p)| p.owner == Some(dom)).map(|(m, _)| m));
        Ok(owned)
    }
}
