// SPDX-License-Identifier: GPL-2.0-only
//! `XENMEM_claim_pages` and what claims do to the other `memory_op`s.

use super::*;
use crate::common::domain::Domain;

const CLAIM: u64 = 24;

impl T {
    /// `XENMEM_claim_pages` of `pages` for `domid`.
    fn claim(&mut self, pages: u64, domid: DomId) -> Result<i64, Errno> {
        self.put(ARG, &XenMemoryReservation::new(0, pages, 0, 0, domid));
        self.op(CLAIM, ARG)
    }

    /// Frames the fake allocator has left.
    fn free(&self) -> u64 {
        POOL_END - self.p.next
    }
}

#[test]
fn claim_arguments_are_checked_as_xen_does() {
    let mut t = T::new();
    t.put(ARG, &XenMemoryReservation::new(0, 4, 0, 0, DomId(0)));
    // A restart point: -EINVAL before anything is read.
    assert_eq!(t.op(CLAIM | (1 << MEMOP_EXTENT_SHIFT), 0), Err(Errno::EINVAL));
    assert_eq!(t.op(CLAIM, 0), Err(Errno::EFAULT));
    assert_eq!(t.op(CLAIM, 0xffff_8000_0000_0000), Err(Errno::EFAULT));
    // An extent list, an order, memory flags: -EINVAL.
    for r in [
        XenMemoryReservation::new(LIST, 4, 0, 0, DomId(0)),
        XenMemoryReservation::new(0, 4, 1, 0, DomId(0)),
        XenMemoryReservation::new(0, 4, u32::MAX, 0, DomId(0)),
        XenMemoryReservation::new(0, 4, 0, xenmemf_address_bits(32), DomId(0)),
        XenMemoryReservation::new(0, 4, 0, 1 << 31, DomId(0)),
    ] {
        t.put(ARG, &r);
        assert_eq!(t.op(CLAIM, ARG), Err(Errno::EINVAL), "{r:?}");
    }
    // Domains are looked up by id: DOMID_SELF and unknown ids are -EINVAL.
    for id in [DomId::SELF, DomId(7), DomId::IO, DomId::XEN, DomId(u16::MAX)] {
        assert_eq!(t.claim(4, id), Err(Errno::EINVAL), "{id:?}");
    }
    assert_eq!(t.f.claims.outstanding(), 0);
    // The privileged domain only, even for itself.
    t.f.dom.privileged = false;
    assert_eq!(t.claim(4, DomId(0)), Err(Errno::EPERM));
    assert_eq!(t.claim(0, DomId(0)), Err(Errno::EPERM));
    // Through the dispatcher: -errno in RAX.
    assert_eq!(t.hypercall(CLAIM, ARG), -i64::from(Errno::EPERM.raw()));
}

#[test]
fn a_claim_is_consumed_by_allocations_and_cancelled_with_zero() {
    let mut t = T::new();
    // max_pages 8, nothing allocated yet.
    assert_eq!(t.claim(9, DomId(0)), Err(Errno::EINVAL), "above max_pages");
    assert_eq!(t.claim(0, DomId(0)), Ok(0), "nothing to cancel");
    assert_eq!(t.claim(5, DomId(0)), Ok(0));
    assert_eq!((t.f.dom.outstanding_pages, t.f.claims.outstanding()), (5, 5));
    assert_eq!(t.claim(6, DomId(0)), Err(Errno::EINVAL), "one claim at a time");
    assert_eq!(t.claim(u64::MAX, DomId(0)), Err(Errno::EINVAL));
    t.list(&[0; 3]);
    assert_eq!(t.reservation(INCREASE, 3, 0, 0, DomId::SELF), 3);
    assert_eq!((t.f.dom.tot_pages, t.f.claims.outstanding()), (3, 2));
    // A page given back is claimed again (Xen's domain_adjust_tot_pages).
    t.list(&[32]);
    assert_eq!(t.reservation(DECREASE, 1, 0, 0, DomId::SELF), 1);
    assert_eq!((t.f.dom.tot_pages, t.f.claims.outstanding()), (2, 3));
    // An exchange neither consumes nor grows it.
    t.list(&[33]);
    t.put(OUT_LIST, &0x40u64);
    let (r, _) = t.exchange(res(LIST, 1, 0, 0, DomId(0)), res(OUT_LIST, 1, 0, 0, DomId(0)), 0);
    assert_eq!(r, Ok(0));
    assert_eq!((t.f.dom.tot_pages, t.f.claims.outstanding()), (2, 3));
    assert_eq!(t.claim(0, DomId(0)), Ok(0));
    assert_eq!((t.f.dom.outstanding_pages, t.f.claims.outstanding()), (0, 0));
    // Now a claim must exceed the pages already there.
    assert_eq!(t.claim(2, DomId(0)), Err(Errno::EINVAL));
    assert_eq!(t.claim(3, DomId(0)), Ok(0));
    assert_eq!(t.f.claims.outstanding(), 1);
}

#[test]
fn claimed_memory_is_kept_from_others() {
    let mut t = T::new();
    let mut domu = Domain::new(DomId(5), false, Mfn(47));
    domu.max_pages = 100;
    t.f.domains.insert(domu).unwrap();
    t.f.dom.max_pages = 100;
    assert_eq!(t.free(), 16);
    // More than is free: -ENOMEM, nothing staked.
    assert_eq!(t.claim(17, DomId(5)), Err(Errno::ENOMEM));
    assert_eq!(t.f.claims.outstanding(), 0);
    assert_eq!(t.claim(12, DomId(5)), Ok(0));
    assert_eq!(t.f.domains.get(DomId(5)).unwrap().lock().outstanding_pages, 12);
    // Dom0 may take the 4 unclaimed frames, then no more...
    t.list(&[0; 8]);
    assert_eq!(t.reservation(INCREASE, 8, 0, 0, DomId::SELF), 4);
    assert_eq!(t.free(), 12);
    // ...no claim of its own fits...
    assert_eq!(t.claim(5, DomId(0)), Err(Errno::ENOMEM));
    // ...an exchange finds no unclaimed memory either...
    t.list(&[32]);
    let (r, done) = t.exchange(res(LIST, 1, 0, 0, DomId(0)), res(OUT_LIST, 1, 0, 0, DomId(0)), 0);
    assert_eq!((r, done), (Err(Errno::ENOMEM), 0));
    // ...but the claimant gets its frames, populated by dom0.
    t.list(&(0..12).collect::<Vec<u64>>());
    assert_eq!(t.reservation(POPULATE, 12, 0, 0, DomId(5)), 12);
    let domu = t.f.domains.get(DomId(5)).unwrap();
    let (tot, outstanding) = {
        let d = domu.lock();
        (d.tot_pages, d.outstanding_pages)
    };
    assert_eq!((tot, outstanding), (12, 0));
    assert_eq!((t.free(), t.f.claims.outstanding()), (0, 0));
}

#[test]
fn a_claim_covers_only_what_it_claimed() {
    let mut t = T::new();
    t.f.dom.max_pages = 100;
    assert_eq!(t.claim(10, DomId(0)), Ok(0));
    // 16 free, 10 claimed by dom0 itself: an 8-page extent needs
    // 10 + 8 > 16, and Xen lets the claimant through as its own claim
    // covers the request (10 >= 8).
    t.list(&[0]);
    assert_eq!(t.reservation(POPULATE, 1, 3, 0, DomId::SELF), 1);
    assert_eq!((t.f.dom.tot_pages, t.f.claims.outstanding()), (8, 2));
    // 8 free, 2 claimed: another order-3 extent needs 10 > 8 and the claim
    // (2) does not cover 8.
    t.list(&[8]);
    assert_eq!(t.reservation(POPULATE, 1, 3, 0, DomId::SELF), 0);
    // Two single pages are fine: the claim covers each.
    t.list(&[8, 9]);
    assert_eq!(t.reservation(POPULATE, 2, 0, 0, DomId::SELF), 2);
    assert_eq!(t.f.claims.outstanding(), 0);
}
