// SPDX-License-Identifier: GPL-2.0-only
//! `pv-heartbeat`: a domU whose progress is visible, for the toolstack's
//! pause/unpause checks (booted by `pv-toolstack` with `mode=pause`).
//!
//! It prints `beat <i> at <t> ms` every [`PERIOD_MS`] of system time
//! (pvclock), spinning in between so that it always wants the CPU, for
//! `beats=<n>` beats (default [`DEFAULT_BEATS`]). Then it prints
//! `longest gap between beats: <g> ms`: while its toolstack holds it
//! paused no beat is printed, and the gap around the pause is at least the
//! time it was held. The test passes when every beat was printed.
#![no_std]
#![no_main]

use pv_tests::{StartInfo, check, fail, println, shinfo};

pv_tests::test_kernel!(name: "heartbeat", main: test_main);

/// Time between beats.
const PERIOD_MS: u64 = 20;

/// Beats unless `beats=` says otherwise.
const DEFAULT_BEATS: u32 = 60;

const MS: u64 = 1_000_000;

fn test_main(si: &StartInfo) {
    if let Err(e) = shinfo::map(si) {
        fail(format_args!("mapping shared_info: {e}"));
        return;
    }
    let beats = shinfo::cmdline_value(si.cmd_line_bytes(), "beats")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_BEATS);
    let Some(start) = shinfo::now() else {
        fail("no pvclock");
        return;
    };
    let mut last = start;
    let mut longest = 0u64;
    for i in 1..=beats {
        let due = last.saturating_add(PERIOD_MS.saturating_mul(MS));
        let mut now = start;
        while now < due {
            now = shinfo::now().unwrap_or(u64::MAX);
            core::hint::spin_loop();
        }
        longest = longest.max(now.saturating_sub(last));
        last = now;
        println!("beat {i} at {} ms", now.saturating_sub(start) / MS);
    }
    println!("longest gap between beats: {} ms", longest / MS);
    check(true, format_args!("{beats} beats"));
}
