// SPDX-License-Identifier: GPL-2.0-only
//! The domain table: Xen's domain list and hash, with lookup by id
//! (`rcu_lock_domain_by_id`) and reference counting (`get_domain`,
//! `put_domain`).
//!
//! A [`DomainRef`] is a counted reference to a domain: the domain's memory
//! stays valid while any reference is held, even after it has been
//! unlinked from the table, so a dying domain in use elsewhere cannot
//! vanish under its user. The domain's state is behind its own lock.
//!
//! Lock order: the machine lock, then the current domain, then one other
//! domain. Code holding the current domain must not lock it again through
//! the table: [`DomainTable::get`] hands the same domain back, so callers
//! compare ids first (see `Ctx::with_target`).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use guest_abi::xen::{DOMID_FIRST_RESERVED, DomId, Errno};

use super::domain::Domain;

/// One domain, behind its lock.
#[derive(Debug)]
pub struct DomainCell {
    id: DomId,
    inner: spin::Mutex<Domain>,
}

impl DomainCell {
    /// The domain's id (never changes, readable without the lock).
    #[must_use]
    pub fn id(&self) -> DomId {
        self.id
    }

    /// Locks the domain.
    #[inline]
    pub fn lock(&self) -> spin::MutexGuard<'_, Domain> {
        self.inner.lock()
    }

    /// Locks the domain if nobody holds it.
    #[must_use]
    pub fn try_lock(&self) -> Option<spin::MutexGuard<'_, Domain>> {
        self.inner.try_lock()
    }
}

/// A counted reference to a domain (Xen's `get_domain`; dropping it is
/// `put_domain`).
pub type DomainRef = Arc<DomainCell>;

/// Every domain that exists, by id.
#[derive(Debug, Default)]
pub struct DomainTable {
    domains: BTreeMap<u16, DomainRef>,
    /// Where the search for a free id starts (Xen's `domid` rover in
    /// `XEN_DOMCTL_createdomain`).
    rover: u16,
}

impl DomainTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Links `dom` into the table (Xen's `domain_create` insertion).
    ///
    /// # Errors
    /// `EINVAL` for a reserved id (`DOMID_FIRST_RESERVED` and up), `EEXIST`
    /// when the id is taken.
    pub fn insert(&mut self, dom: Domain) -> Result<DomainRef, Errno> {
        let id = dom.id;
        if id.0 >= DOMID_FIRST_RESERVED.0 {
            return Err(Errno::EINVAL);
        }
        if self.domains.contains_key(&id.0) {
            return Err(Errno::EEXIST);
        }
        let cell = Arc::new(DomainCell { id, inner: spin::Mutex::new(dom) });
        self.domains.insert(id.0, Arc::clone(&cell));
        Ok(cell)
    }

    /// A reference to domain `id`, dying or not (`rcu_lock_domain_by_id`).
    #[must_use]
    pub fn get(&self, id: DomId) -> Option<DomainRef> {
        self.domains.get(&id.0).cloned()
    }

    /// Whether domain `id` is in the table.
    #[must_use]
    pub fn contains(&self, id: DomId) -> bool {
        self.domains.contains_key(&id.0)
    }

    /// Unlinks domain `id` once its teardown is complete (the end of
    /// Xen's `domain_destroy`); outstanding references keep its memory.
    pub fn remove(&mut self, id: DomId) -> Option<DomainRef> {
        self.domains.remove(&id.0)
    }

    /// The domains in id order, starting at the first id ≥ `from` (what
    /// `getdomaininfo` and `getdomaininfolist` walk).
    pub fn iter_from(&self, from: DomId) -> impl Iterator<Item = &DomainRef> {
        self.domains.range(from.0..).map(|(_, d)| d)
    }

    /// The number of domains.
    #[must_use]
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// A free id for a new domain: the first free one after the last id
    /// handed out, wrapping below `DOMID_FIRST_RESERVED` and never 0 (Xen's
    /// rover in `XEN_DOMCTL_createdomain`).
    ///
    /// # Errors
    /// `ENOMEM` when every id is taken.
    pub fn allocate_id(&mut self) -> Result<DomId, Errno> {
        let id =
            next_free_id(self.rover, |id| self.domains.contains_key(&id)).ok_or(Errno::ENOMEM)?;
        self.rover = id;
        Ok(DomId(id))
    }
}

/// How many other domains one operation records in [`KickedDomains`]
/// before it only says "some more".
const KICKED_INLINE: usize = 4;

/// The other domains whose vCPUs one operation kicked (an interdomain
/// event woke or marked one of their vCPUs): the machine layer looks only
/// at these after the operation, instead of at every domain. Fixed size,
/// no allocation; past [`KICKED_INLINE`] domains it records an overflow,
/// and the machine layer then looks at every domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KickedDomains {
    ids: [DomId; KICKED_INLINE],
    len: u8,
    overflow: bool,
}

impl KickedDomains {
    /// Nothing kicked.
    #[must_use]
    pub const fn new() -> Self {
        Self { ids: [DomId(0); KICKED_INLINE], len: 0, overflow: false }
    }

    /// Records domain `id` (once).
    pub fn push(&mut self, id: DomId) {
        if self.iter().any(|d| d == id) {
            return;
        }
        match self.ids.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = id;
                self.len = self.len.saturating_add(1);
            }
            None => self.overflow = true,
        }
    }

    /// Whether no other domain was kicked (the hot path's test).
    #[must_use]
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0 && !self.overflow
    }

    /// Whether more domains were kicked than recorded.
    #[must_use]
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// The recorded domains.
    pub fn iter(&self) -> impl Iterator<Item = DomId> + '_ {
        self.ids.iter().take(usize::from(self.len)).copied()
    }
}

/// The first id after `rover` that `taken` does not claim, wrapping below
/// `DOMID_FIRST_RESERVED` and skipping 0.
fn next_free_id(rover: u16, taken: impl Fn(u16) -> bool) -> Option<u16> {
    let limit = DOMID_FIRST_RESERVED.0;
    let mut id = rover;
    for _ in 1..limit {
        id = if id.saturating_add(1) >= limit { 1 } else { id.saturating_add(1) };
        if !taken(id) {
            return Some(id);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects, reason = "tests on known values")]
mod tests {
    use super::*;
    use crate::mm::Mfn;

    fn dom(id: u16) -> Domain {
        Domain::new(DomId(id), id == 0, Mfn(0x100))
    }

    #[test]
    fn lookup_insert_remove() {
        let mut t = DomainTable::new();
        let d0 = t.insert(dom(0)).unwrap();
        assert_eq!(d0.id(), DomId(0));
        assert_eq!(t.insert(dom(0)).unwrap_err(), Errno::EEXIST);
        assert_eq!(t.insert(dom(DOMID_FIRST_RESERVED.0)).unwrap_err(), Errno::EINVAL);
        assert_eq!(t.insert(dom(0xffff)).unwrap_err(), Errno::EINVAL);
        t.insert(dom(5)).unwrap();
        t.insert(dom(2)).unwrap();
        assert_eq!(t.len(), 3);
        let ids: alloc::vec::Vec<u16> = t.iter_from(DomId(1)).map(|d| d.id().0).collect();
        assert_eq!(ids, [2, 5]);
        assert!(t.get(DomId(3)).is_none());
        assert_eq!(t.get(DomId(5)).unwrap().lock().id, DomId(5));
        assert!(t.remove(DomId(5)).is_some());
        assert!(t.get(DomId(5)).is_none() && !t.contains(DomId(5)));
        assert!(t.remove(DomId(5)).is_none());
    }

    #[test]
    fn a_reference_outlives_unlinking() {
        let mut t = DomainTable::new();
        t.insert(dom(7)).unwrap();
        let r = t.get(DomId(7)).unwrap();
        assert_eq!(Arc::strong_count(&r), 2);
        drop(t.remove(DomId(7)));
        assert_eq!(Arc::strong_count(&r), 1);
        r.lock().tot_pages = 3;
        assert_eq!(r.lock().tot_pages, 3);
    }

    #[test]
    fn ids_are_allocated_round_robin_and_run_out() {
        let mut t = DomainTable::new();
        t.insert(dom(0)).unwrap();
        assert_eq!(t.allocate_id(), Ok(DomId(1)));
        t.insert(dom(1)).unwrap();
        assert_eq!(t.allocate_id(), Ok(DomId(2)));
        // Not taken yet, but the rover moved on (ids are not reused at once).
        assert_eq!(t.allocate_id(), Ok(DomId(3)));
        t.rover = DOMID_FIRST_RESERVED.0 - 1;
        assert_eq!(t.allocate_id(), Ok(DomId(2)), "wraps past 0 and the taken 1");
        let last = DOMID_FIRST_RESERVED.0 - 1;
        assert_eq!(next_free_id(5, |id| id != last), Some(last));
        assert_eq!(next_free_id(last, |id| id < 9), Some(9));
        assert_eq!(next_free_id(3, |_| true), None, "every id taken");
    }

    #[test]
    fn kicked_domains_are_recorded_once_then_overflow() {
        let mut k = KickedDomains::new();
        assert!(k.is_empty());
        k.push(DomId(3));
        k.push(DomId(3));
        assert!(!k.is_empty() && !k.overflowed());
        assert_eq!(k.iter().collect::<alloc::vec::Vec<_>>(), [DomId(3)]);
        for d in 4..8 {
            k.push(DomId(d));
        }
        assert!(k.overflowed());
        assert_eq!(k.iter().count(), KICKED_INLINE);
    }

    #[test]
    fn try_lock_sees_a_held_domain() {
        let mut t = DomainTable::new();
        let r = t.insert(dom(3)).unwrap();
        let g = r.lock();
        assert!(r.try_lock().is_none());
        drop(g);
        assert!(r.try_lock().is_some());
    }
}
