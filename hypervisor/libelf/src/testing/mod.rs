// SPDX-License-Identifier: GPL-2.0-only
//! Synthetic PV kernel images for tests (feature `test-images`): an ELF64
//! writer ([`builder`]) and images modelled on XTF, mini-os, Linux and a
//! legacy `__xen_guest` kernel ([`presets`]).
//!
//! The crate's own tests use them, and so do the domain builder's host
//! tests (as a dev-dependency with the feature), so that the tree has one
//! test-image writer as it has one loader. Not for production use: the
//! writer indexes and unwraps freely on its own well-formed data.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test-image writer over its own, known-good data"
)]

pub mod builder;
pub mod presets;
