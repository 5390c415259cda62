// SPDX-License-Identifier: GPL-2.0-only
//! Reference-count audit: recounts every reference from first principles
//! and compares with the frame table (the NL-2 and NLI-1 invariants of the
//! reliability plan; Xen's old `audit_domains` keyhandler).
//!
//! Expected counts come from: the allocation reference, the pin, the base
//! pointers passed in, and the entries of every validated page table
//! (read from memory). The audit also checks that no validated L1 maps a
//! frame writable unless that frame is typed `Writable` (so no page table
//! or descriptor page is writable) and that every frame an L2–L4 table
//! refers to belongs to the table's owner, and every frame an L1 maps is
//! owned by some domain (foreign mappings, `pg_owner` ≠ `pt_owner`, are
//! legitimate at L1; their references are counted like any other). It is meant for tests and a debug keyhandler: it
//! walks every frame and is O(frames × 512).

use alloc::vec;
use alloc::vec::Vec;

use guest_abi::xen::DomId;

use super::frame_table::FrameTable;
use super::mem::PhysMem;
use super::types::{Level, PT_ENTRIES, PageType, pte_mfn, pte_present, pte_writable};
use crate::mm::Mfn;

/// The first inconsistency [`audit`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditError {
    /// The general count differs from the references found.
    Count {
        /// Frame.
        mfn: Mfn,
        /// References found.
        expected: u64,
        /// Recorded count.
        actual: u32,
    },
    /// The type count differs from the type references found.
    TypeCount {
        /// Frame.
        mfn: Mfn,
        /// Type references found.
        expected: u64,
        /// Recorded type count.
        actual: u32,
    },
    /// `linear_pt_count` differs from the linear entries found.
    LinearCount {
        /// Frame.
        mfn: Mfn,
        /// Linear entries held minus linear uses found.
        expected: i64,
        /// Recorded value.
        actual: i16,
    },
    /// A validated L1 maps `target` writable but `target` is not typed
    /// `Writable` (a page table or descriptor page would be writable).
    WritableProtected {
        /// The L1 table.
        table: Mfn,
        /// Entry index.
        index: usize,
        /// The mapped frame.
        target: Mfn,
    },
    /// A validated L2–L4 table refers to a frame its owner does not own,
    /// or a validated L1 maps a frame nobody owns (free or hypervisor).
    Foreign {
        /// The table.
        table: Mfn,
        /// Entry index.
        index: usize,
        /// The referenced frame.
        target: Mfn,
    },
    /// An entry of a validated table L2–L4 points to a frame not typed as
    /// the level below or (linear) the same level.
    BadChildType {
        /// The table.
        table: Mfn,
        /// Entry index.
        index: usize,
    },
}

/// Running totals, indexed by MFN.
struct Tally {
    count: Vec<u64>,
    types: Vec<u64>,
    linear: Vec<i64>,
}

impl Tally {
    fn slot(mfn: Mfn) -> Option<usize> {
        usize::try_from(mfn.0).ok()
    }

    fn add(&mut self, mfn: Mfn, general: u64, ty: u64) {
        if let Some(i) = Self::slot(mfn) {
            if let Some(c) = self.count.get_mut(i) {
                *c = c.saturating_add(general);
            }
            if let Some(t) = self.types.get_mut(i) {
                *t = t.saturating_add(ty);
            }
        }
    }

    fn linear(&mut self, mfn: Mfn, delta: i64) {
        if let Some(l) = Self::slot(mfn).and_then(|i| self.linear.get_mut(i)) {
            *l = l.saturating_add(delta);
        }
    }
}

/// Checks every frame of `frames` against the references found in `mem`.
/// `base_pointers` lists the L4 frames held by vCPU base pointers (each
/// holding one general and one type reference), once per holder.
///
/// # Errors
///
/// The first [`AuditError`] found.
pub fn audit(
    frames: &FrameTable,
    mem: &dyn PhysMem,
    base_pointers: &[Mfn],
) -> Result<(), AuditError> {
    let n = usize::try_from(frames.max_page()).unwrap_or(0);
    let mut tally = Tally { count: vec![0; n], types: vec![0; n], linear: vec![0; n] };
    for (mfn, page) in frames.iter() {
        let t = page.type_info;
        tally.add(mfn, u64::from(page.allocated), 0);
        if t.pinned {
            tally.add(mfn, 1, 1);
        }
        if let (true, Some(level), Some(owner)) =
            (t.count > 0 && t.validated, t.ty.level(), page.owner)
        {
            audit_table(frames, mem, &mut tally, mfn, level, owner)?;
        }
    }
    for &m in base_pointers {
        tally.add(m, 1, 1);
    }
    for (mfn, page) in frames.iter() {
        let i = Tally::slot(mfn).unwrap_or(usize::MAX);
        let expected = tally.count.get(i).copied().unwrap_or(0);
        if expected != u64::from(page.count) {
            return Err(AuditError::Count { mfn, expected, actual: page.count });
        }
        let expected = tally.types.get(i).copied().unwrap_or(0);
        if expected != u64::from(page.type_info.count) {
            return Err(AuditError::TypeCount { mfn, expected, actual: page.type_info.count });
        }
        let expected = tally.linear.get(i).copied().unwrap_or(0);
        if expected != i64::from(page.linear_pt_count) {
            return Err(AuditError::LinearCount { mfn, expected, actual: page.linear_pt_count });
        }
    }
    Ok(())
}

/// Tallies the references held by the entries of one validated table.
fn audit_table(
    frames: &FrameTable,
    mem: &dyn PhysMem,
    tally: &mut Tally,
    table: Mfn,
    level: Level,
    owner: DomId,
) -> Result<(), AuditError> {
    for index in (0..PT_ENTRIES).filter(|&i| level.is_guest_slot(i)) {
        let e = mem.read_u64(table, index);
        let target = pte_mfn(e);
        if !pte_present(e) || (level != Level::L1 && target == table) {
            continue;
        }
        let Some(info) = frames.info(target) else {
            continue; // I/O frame outside the table: no references
        };
        if level == Level::L1 && info.owner == Some(DomId::IO) {
            continue;
        }
        let owner_ok =
            if level == Level::L1 { info.owner.is_some() } else { info.owner == Some(owner) };
        if !owner_ok {
            return Err(AuditError::Foreign { table, index, target });
        }
        match level.child() {
            None if pte_writable(e) => {
                if info.type_info.ty != PageType::Writable {
                    return Err(AuditError::WritableProtected { table, index, target });
                }
                tally.add(target, 1, 1);
            }
            None => tally.add(target, 1, 0),
            Some(child) => {
                let ty = info.type_info.ty;
                if ty == level.page_type() {
                    tally.linear(table, 1);
                    tally.linear(target, -1);
                } else if ty != child.page_type() {
                    return Err(AuditError::BadChildType { table, index });
                }
                tally.add(target, 1, 1);
            }
        }
    }
    Ok(())
}
