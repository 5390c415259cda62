// SPDX-License-Identifier: GPL-2.0-only
//! Memory claims (Xen 4.17's `outstanding_claims` in `page_alloc.c`): a
//! toolstack stakes a claim on free memory for a domain it is about to
//! populate (`XENMEM_claim_pages`), so that other allocations cannot take
//! it meanwhile.
//!
//! * [`Claims::set`] is `domain_set_outstanding_pages`: `pages` is the
//!   domain's target total; 0 cancels the claim; a domain with a claim
//!   gets `EINVAL`, so does a target not above `tot_pages` or above
//!   `max_pages`; the part not yet allocated (`pages - tot_pages`) must
//!   fit in the free memory not claimed by others (`ENOMEM`).
//! * [`Claims::may_allocate`] is `alloc_heap_pages`' check: once claimed
//!   memory would be needed (`outstanding + request > free`), only an
//!   allocation counted against a domain whose own claim covers it may go
//!   on; allocations counted against no domain (`MEMF_no_refcount`:
//!   `XENMEM_exchange` outputs, shared-info and grant frames) may not.
//! * [`Claims::add_tot_pages`]/[`Claims::sub_tot_pages`] are
//!   `domain_adjust_tot_pages`: an allocation consumes the domain's claim
//!   (never below 0); as in Xen, pages a domain with a claim gives back
//!   grow its claim again (the claim is "up to `pages` in total").
//!
//! Domain teardown cancels the claim (`domain_kill`). The machine-wide
//! total never exceeds the free memory in Xen's accounting; should it, the
//! unclaimed free memory counts as 0 here (Xen's unsigned arithmetic would
//! wrap), which refuses a new claim rather than overcommitting.

use guest_abi::xen::Errno;

use super::domain::Domain;

/// The machine-wide total of outstanding claims, in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    outstanding: u64,
}

impl Claims {
    /// No claims.
    #[must_use]
    pub const fn new() -> Self {
        Self { outstanding: 0 }
    }

    /// Pages claimed by all domains and not yet allocated
    /// (`get_outstanding_claims`, sysctl physinfo's `outstanding_pages`).
    #[must_use]
    pub const fn outstanding(&self) -> u64 {
        self.outstanding
    }

    /// `domain_set_outstanding_pages(d, pages)` with `free_pages` free in
    /// the machine's allocator.
    ///
    /// # Errors
    /// `EINVAL` when `d` already has a claim, or `pages` is not above
    /// `tot_pages` or is above `max_pages`; `ENOMEM` when the pages still
    /// to allocate do not fit in the unclaimed free memory.
    pub fn set(&mut self, d: &mut Domain, pages: u64, free_pages: u64) -> Result<(), Errno> {
        if pages == 0 {
            self.cancel(d);
            return Ok(());
        }
        if d.outstanding_pages != 0 || pages <= d.tot_pages || pages > d.max_pages {
            return Err(Errno::EINVAL);
        }
        let avail = free_pages.saturating_sub(self.outstanding);
        let claim = pages.saturating_sub(d.tot_pages);
        if claim > avail {
            return Err(Errno::ENOMEM);
        }
        d.outstanding_pages = claim;
        self.outstanding = self.outstanding.saturating_add(claim);
        Ok(())
    }

    /// Drops `d`'s claim, if any (a claim of 0; `domain_kill`).
    pub fn cancel(&mut self, d: &mut Domain) {
        self.outstanding = self.outstanding.saturating_sub(d.outstanding_pages);
        d.outstanding_pages = 0;
    }

    /// Whether `request` pages may be taken from the `free_pages()` free
    /// ones: for `claimant`'s `tot_pages` (`Some`), or counted against no
    /// domain (`None`: `MEMF_no_refcount`, xenheap). Without claims,
    /// always: the allocator decides, and the free count is not asked for
    /// (the common case stays cheap).
    #[must_use]
    pub fn may_allocate(
        &self,
        free_pages: impl FnOnce() -> u64,
        request: u64,
        claimant: Option<&Domain>,
    ) -> bool {
        if self.outstanding == 0
            || self.outstanding.checked_add(request).is_some_and(|n| n <= free_pages())
        {
            return true;
        }
        claimant.is_some_and(|d| d.outstanding_pages >= request)
    }

    /// `domain_adjust_tot_pages(d, n)`: `n` pages were allocated to `d`.
    pub fn add_tot_pages(&mut self, d: &mut Domain, n: u64) {
        d.tot_pages = d.tot_pages.saturating_add(n);
        let used = d.outstanding_pages.min(n);
        d.outstanding_pages = d.outstanding_pages.saturating_sub(used);
        self.outstanding = self.outstanding.saturating_sub(used);
    }

    /// `domain_adjust_tot_pages(d, -n)`: `d` gave `n` pages back. A
    /// domain with a claim claims them again, as in Xen.
    pub fn sub_tot_pages(&mut self, d: &mut Domain, n: u64) {
        d.tot_pages = d.tot_pages.saturating_sub(n);
        if d.outstanding_pages != 0 {
            d.outstanding_pages = d.outstanding_pages.saturating_add(n);
            self.outstanding = self.outstanding.saturating_add(n);
        }
    }
}

#[cfg(test)]
mod tests;
