// SPDX-License-Identifier: GPL-2.0-only
//! Claims: Xen's checks and accounting, with hostile values.

use guest_abi::xen::{DomId, Errno};

use super::Claims;
use crate::common::domain::Domain;
use crate::mm::Mfn;

fn dom(id: u16, tot: u64, max: u64) -> Domain {
    let mut d = Domain::new(DomId(id), false, Mfn(0));
    d.tot_pages = tot;
    d.max_pages = max;
    d
}

#[test]
fn a_claim_reserves_the_pages_still_to_allocate() {
    let mut c = Claims::new();
    let mut d = dom(1, 10, 100);
    assert_eq!(c.set(&mut d, 60, 1000), Ok(()));
    assert_eq!((d.outstanding_pages, c.outstanding()), (50, 50));
    // Others may no longer take what is claimed...
    assert!(c.may_allocate(|| 1000, 950, None));
    assert!(!c.may_allocate(|| 1000, 951, None));
    let mut other = dom(2, 0, 2000);
    assert!(!c.may_allocate(|| 1000, 951, Some(&other)));
    // ...the claimant may, up to its claim.
    assert!(c.may_allocate(|| 50, 50, Some(&d)));
    assert!(!c.may_allocate(|| 50, 51, Some(&d)));
    // A second claim for another domain sees only the unclaimed memory.
    assert_eq!(c.set(&mut other, 951, 1000), Err(Errno::ENOMEM));
    assert_eq!(c.set(&mut other, 950, 1000), Ok(()));
    assert_eq!(c.outstanding(), 1000);
    assert!(!c.may_allocate(|| 1000, 1, None));
}

#[test]
fn allocations_consume_the_claim_and_frees_grow_it_again() {
    let mut c = Claims::new();
    let mut d = dom(1, 0, 100);
    assert_eq!(c.set(&mut d, 8, 100), Ok(()));
    c.add_tot_pages(&mut d, 3);
    assert_eq!((d.tot_pages, d.outstanding_pages, c.outstanding()), (3, 5, 5));
    c.sub_tot_pages(&mut d, 1);
    assert_eq!((d.tot_pages, d.outstanding_pages, c.outstanding()), (2, 6, 6));
    // More than claimed: the claim ends at 0, never below.
    c.add_tot_pages(&mut d, 10);
    assert_eq!((d.tot_pages, d.outstanding_pages, c.outstanding()), (12, 0, 0));
    // Without a claim, frees claim nothing.
    c.sub_tot_pages(&mut d, 5);
    assert_eq!((d.tot_pages, d.outstanding_pages, c.outstanding()), (7, 0, 0));
    // The domain may claim again once its claim is used up.
    assert_eq!(c.set(&mut d, 9, 100), Ok(()));
    assert_eq!(c.outstanding(), 2);
}

#[test]
fn xens_refusals() {
    let mut c = Claims::new();
    let mut d = dom(1, 10, 100);
    // Not above tot_pages, above max_pages.
    assert_eq!(c.set(&mut d, 10, 1000), Err(Errno::EINVAL));
    assert_eq!(c.set(&mut d, 5, 1000), Err(Errno::EINVAL));
    assert_eq!(c.set(&mut d, 101, 1000), Err(Errno::EINVAL));
    assert_eq!(c.set(&mut d, u64::MAX, u64::MAX), Err(Errno::EINVAL));
    // More than is free.
    assert_eq!(c.set(&mut d, 100, 89), Err(Errno::ENOMEM));
    assert_eq!(c.set(&mut d, 100, 0), Err(Errno::ENOMEM));
    assert_eq!((d.outstanding_pages, c.outstanding()), (0, 0), "nothing staked");
    // One claim at a time, whatever its size.
    assert_eq!(c.set(&mut d, 100, 90), Ok(()));
    assert_eq!(c.set(&mut d, 50, 1000), Err(Errno::EINVAL));
    assert_eq!(c.set(&mut d, 100, 1000), Err(Errno::EINVAL));
    assert_eq!(c.outstanding(), 90);
}

#[test]
fn a_claim_of_zero_cancels_and_is_always_fine() {
    let mut c = Claims::new();
    let mut d = dom(1, 10, 100);
    let mut e = dom(2, 0, 100);
    assert_eq!(c.set(&mut d, 0, 0), Ok(()), "nothing to cancel");
    assert_eq!(c.set(&mut d, 30, 100), Ok(()));
    assert_eq!(c.set(&mut e, 40, 100), Ok(()));
    assert_eq!(c.outstanding(), 60);
    assert_eq!(c.set(&mut d, 0, 0), Ok(()));
    assert_eq!((d.outstanding_pages, c.outstanding()), (0, 40));
    c.cancel(&mut e);
    c.cancel(&mut e);
    assert_eq!((e.outstanding_pages, c.outstanding()), (0, 0));
}

#[test]
fn no_arithmetic_wraps_at_the_extremes() {
    let mut c = Claims::new();
    let mut d = dom(1, 0, u64::MAX);
    assert_eq!(c.set(&mut d, u64::MAX, u64::MAX), Ok(()));
    assert_eq!(c.outstanding(), u64::MAX);
    assert!(!c.may_allocate(|| u64::MAX, 1, None));
    assert!(c.may_allocate(|| u64::MAX, u64::MAX, Some(&d)));
    c.sub_tot_pages(&mut d, u64::MAX);
    assert_eq!((d.tot_pages, d.outstanding_pages, c.outstanding()), (0, u64::MAX, u64::MAX));
    c.add_tot_pages(&mut d, u64::MAX);
    c.add_tot_pages(&mut d, u64::MAX);
    assert_eq!((d.tot_pages, d.outstanding_pages, c.outstanding()), (u64::MAX, 0, 0));
    // A total somehow above the free memory: no unclaimed memory at all.
    let mut e = dom(2, 0, 100);
    let mut f = dom(3, 0, 100);
    assert_eq!(c.set(&mut e, 50, 50), Ok(()));
    assert_eq!(c.set(&mut f, 1, 10), Err(Errno::ENOMEM));
}
