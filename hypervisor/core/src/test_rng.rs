// SPDX-License-Identifier: GPL-2.0-only
//! The deterministic PRNG of the randomised tests: `hv-libelf`'s (one copy
//! in the tree), through its `test-images` feature.

pub use hv_libelf::test_rng::Rng;
