// SPDX-License-Identifier: GPL-2.0-only
//! Domain 0 memory sizing: `dom0_mem=` and Xen's `compute_dom0_nr_pages`.
//!
//! `dom0_mem=` is a comma-separated list of `amt`, `min:amt` and `max:amt`,
//! each a size as accepted by [`crate::cmdline::parse_size`] (default unit
//! KiB). A negative amount means "all available memory less this much".
//! When no amount is given, domain 0 gets all available memory less a
//! reserve of 1/16th of it, clamped to 128 MiB, for DMA buffers and the like.
//!
//! Sizes are kept in bytes and converted to 4 KiB pages (rounding towards
//! zero) only when computing, as Xen's `parse_amt` does. An amount that
//! rounds to zero pages counts as "not given", like Xen's `dom0_nrpages == 0`.

use crate::PAGE_SIZE;
use crate::cmdline::parse_size;

/// The parsed `dom0_mem=` specification, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dom0Mem {
    /// Exact amount (`amt`); negative: all available less this; `None`: the
    /// default (all available less a reserve).
    pub amount: Option<i64>,
    /// Lower bound (`min:amt`); negative: all available less this.
    pub min: Option<i64>,
    /// Upper bound (`max:amt`); negative: all available less this;
    /// `None`: unlimited.
    pub max: Option<i64>,
}

/// Largest default reserve kept back from domain 0: 128 MiB, in pages.
pub const MAX_DEFAULT_RESERVE_PAGES: u64 = (128 << 20) / PAGE_SIZE;

impl Dom0Mem {
    /// Parses the value of `dom0_mem=`.
    ///
    /// Empty items (e.g. from a trailing comma) are ignored; a later item of
    /// the same kind replaces an earlier one. On error, returns the offending
    /// amount text.
    pub fn parse(s: &str) -> Result<Self, &str> {
        let mut spec = Self::default();
        for item in s.split(',').filter(|item| !item.is_empty()) {
            let (slot, text) = if let Some(text) = item.strip_prefix("min:") {
                (&mut spec.min, text)
            } else if let Some(text) = item.strip_prefix("max:") {
                (&mut spec.max, text)
            } else {
                (&mut spec.amount, item)
            };
            *slot = Some(parse_size(text, 10).ok_or(text)?);
        }
        Ok(spec)
    }

    /// Whether nothing was specified.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Bytes to pages, rounding the magnitude down (Xen's `parse_amt`).
fn to_pages(bytes: i64) -> i64 {
    let pages = bytes.unsigned_abs() / PAGE_SIZE;
    let pages = i64::try_from(pages).unwrap_or(i64::MAX);
    if bytes < 0 { pages.saturating_neg() } else { pages }
}

/// A page count where negative means "available less this", floored at 0.
fn resolve(pages: i64, avail_pages: u64) -> u64 {
    match u64::try_from(pages) {
        Ok(pages) => pages,
        Err(_) => avail_pages.saturating_sub(pages.unsigned_abs()),
    }
}

/// Number of 4 KiB pages to give domain 0 (Xen's `compute_dom0_nr_pages`).
///
/// `avail_pages` is the memory available for domain 0: the free heap plus
/// the pages of the boot modules that will be released to it.
pub fn compute_dom0_nr_pages(avail_pages: u64, spec: &Dom0Mem) -> u64 {
    let amount = spec.amount.map(to_pages).filter(|&pages| pages != 0);
    let mut nr = match amount {
        Some(pages) => resolve(pages, avail_pages),
        None => {
            let reserve = (avail_pages / 16).min(MAX_DEFAULT_RESERVE_PAGES);
            avail_pages.saturating_sub(reserve)
        }
    };
    let min = spec.min.map_or(0, |bytes| resolve(to_pages(bytes), avail_pages));
    let max = spec.max.map_or(u64::MAX, |bytes| resolve(to_pages(bytes), avail_pages));
    nr = nr.max(min);
    nr = nr.min(max);
    nr.min(avail_pages)
}

#[cfg(test)]
mod tests;
