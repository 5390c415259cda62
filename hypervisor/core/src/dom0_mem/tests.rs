// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for `dom0_mem=` parsing and sizing.
// Tests may do plain arithmetic on small known values.
#![allow(clippy::arithmetic_side_effects)]

use super::*;

const MIB: i64 = 1 << 20;
const GIB_PAGES: u64 = (1 << 30) / 4096;

fn amount(bytes: i64) -> Dom0Mem {
    Dom0Mem { amount: Some(bytes), ..Dom0Mem::default() }
}

#[test]
fn parse_amount_min_max() {
    assert_eq!(Dom0Mem::parse("256M"), Ok(amount(256 * MIB)));
    let spec = Dom0Mem::parse("min:128M,max:1G,512M");
    assert_eq!(
        spec,
        Ok(Dom0Mem { amount: Some(512 * MIB), min: Some(128 * MIB), max: Some(1024 * MIB) })
    );
    assert_eq!(Dom0Mem::parse("-512M"), Ok(amount(-512 * MIB)));
    assert_eq!(Dom0Mem::parse("max:-64M").map(|s| s.max), Ok(Some(-64 * MIB)));
}

#[test]
fn parse_default_unit_is_kib_and_tolerates_empty_items() {
    assert_eq!(Dom0Mem::parse("1024"), Ok(amount(1024 * 1024)));
    assert_eq!(Dom0Mem::parse("256M,"), Ok(amount(256 * MIB)));
    assert_eq!(Dom0Mem::parse(""), Ok(Dom0Mem::default()));
    assert!(Dom0Mem::parse("").is_ok_and(|s| s.is_default()));
}

#[test]
fn parse_reports_bad_item() {
    assert_eq!(Dom0Mem::parse("12Q"), Err("12Q"));
    assert_eq!(Dom0Mem::parse("min:x,256M"), Err("x"));
    assert_eq!(Dom0Mem::parse("max:"), Err(""));
    assert_eq!(Dom0Mem::parse("mid:5"), Err("mid:5"));
    assert_eq!(Dom0Mem::parse("99999999999999999999G"), Err("99999999999999999999G"));
}

#[test]
fn exact_amount() {
    assert_eq!(compute_dom0_nr_pages(4 * GIB_PAGES, &amount(256 * MIB)), 65536);
}

#[test]
fn negative_amount_is_available_less_that() {
    let spec = Dom0Mem::parse("-512M").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(2 * GIB_PAGES, &spec), 2 * GIB_PAGES - 131072);
}

#[test]
fn negative_amount_larger_than_ram_gives_zero() {
    assert_eq!(compute_dom0_nr_pages(1000, &amount(-(1 << 40))), 0);
}

#[test]
fn default_reserves_one_sixteenth_up_to_128m() {
    // 1 GiB: reserve 64 MiB.
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &Dom0Mem::default()), GIB_PAGES - 16384);
    // 16 GiB: 1/16 would be 1 GiB, clamped to 128 MiB.
    assert_eq!(compute_dom0_nr_pages(16 * GIB_PAGES, &Dom0Mem::default()), 16 * GIB_PAGES - 32768);
    assert_eq!(compute_dom0_nr_pages(0, &Dom0Mem::default()), 0);
    assert_eq!(compute_dom0_nr_pages(15, &Dom0Mem::default()), 15);
}

#[test]
fn zero_or_sub_page_amount_means_default() {
    let default = compute_dom0_nr_pages(GIB_PAGES, &Dom0Mem::default());
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &amount(0)), default);
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &amount(4095)), default);
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &amount(-4095)), default);
}

#[test]
fn amount_larger_than_ram_is_clamped() {
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &amount(64 << 30)), GIB_PAGES);
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &amount(i64::MAX)), GIB_PAGES);
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &amount(i64::MIN)), 0);
}

#[test]
fn min_raises_and_max_lowers() {
    let spec = Dom0Mem::parse("64M,min:128M").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &spec), 32768);
    let spec = Dom0Mem::parse("512M,max:256M").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &spec), 65536);
    // Default amount capped by max.
    let spec = Dom0Mem::parse("max:256M").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &spec), 65536);
    // Max wins over min, as in Xen (max is applied after min).
    let spec = Dom0Mem::parse("min:512M,max:256M").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &spec), 65536);
    // Available memory wins over everything.
    let spec = Dom0Mem::parse("min:4G").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &spec), GIB_PAGES);
}

#[test]
fn negative_min_and_max() {
    let spec = Dom0Mem::parse("64M,min:-256M").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &spec), GIB_PAGES - 65536);
    let spec = Dom0Mem::parse("max:-256M").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &spec), GIB_PAGES - 65536);
    let spec = Dom0Mem::parse("max:-2G").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &spec), 0);
}

#[test]
fn max_zero_gives_zero_like_xen() {
    let spec = Dom0Mem::parse("max:0").unwrap_or_default();
    assert_eq!(compute_dom0_nr_pages(GIB_PAGES, &spec), 0);
}
