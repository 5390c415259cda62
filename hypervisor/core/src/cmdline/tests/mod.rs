// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for the command line parser.
// Tests may do plain arithmetic and indexing on small known values.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

mod basics;
mod gnttab;
mod realmode;
mod serial;
mod values;

use super::*;
use alloc::string::ToString;

/// Parses `cmdline`, asserting there were no warnings.
fn ok(cmdline: &str) -> BootOptions {
    let (opts, warnings) = parse(cmdline);
    assert!(warnings.is_empty(), "{cmdline}: unexpected warnings {warnings:?}");
    opts
}

/// Parses `cmdline`, returning the warnings rendered as text.
fn warned(cmdline: &str) -> (BootOptions, Vec<String>) {
    let (opts, warnings) = parse(cmdline);
    (opts, warnings.iter().map(ToString::to_string).collect())
}
