// SPDX-License-Identifier: GPL-2.0-only
//! Test prerequisites that live outside the repository (Debian's kernel that
//! `qemu/fetch-debian` caches): one place deciding between skipping and failing.
//!
//! A test whose prerequisite is missing calls [`missing`]: under CI (`CI=true`) it
//! fails with a message naming the prerequisite and how to get it, so a CI run can
//! never pass without having run the test; elsewhere it prints a loud
//! `SKIP: <test>: <reason>` line to stderr and the caller returns.

use std::io::Write as _;
use std::path::PathBuf;

/// Whether this is a CI run (`CI=true`), where a missing prerequisite is a failure.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports that the calling test's prerequisite `what` is missing (`how` says how to
/// get it): panics under `CI=true`, else prints `SKIP: <test>: ...` to stderr.
///
/// # Panics
///
/// Under `CI=true`, always.
#[track_caller]
pub fn missing(what: &str, how: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<unnamed test>");
    assert!(!in_ci(), "{test}: prerequisite missing under CI=true: {what} ({how})");
    // Straight to the stderr handle, not `eprintln!`: the test harness captures the
    // latter, and the SKIP must show in every run's output.
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {what} ({how})");
}

/// Where `qemu/fetch-debian` caches Debian's kernel: `$HV_DEBIAN_CACHE`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/hv-debian`.
fn debian_cache() -> Option<PathBuf> {
    let nonempty = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty()).map(PathBuf::from);
    nonempty("HV_DEBIAN_CACHE").or_else(|| {
        nonempty("XDG_CACHE_HOME")
            .or_else(|| nonempty("HOME").map(|h| h.join(".cache")))
            .map(|c| c.join("hv-debian"))
    })
}

/// Debian 12's `vmlinuz` as `qemu/fetch-debian` caches it, or `None` after
/// [`missing`] (which fails the test under CI).
#[track_caller]
pub fn debian_kernel() -> Option<PathBuf> {
    let dir = debian_cache();
    let kernel = dir.as_ref().map(|d| d.join("vmlinuz")).filter(|k| k.is_file());
    if kernel.is_none() {
        let place =
            dir.map_or_else(|| String::from("$HOME/.cache/hv-debian"), |d| d.display().to_string());
        missing(
            &format!("Debian 12's kernel is not cached in {place}"),
            "run qemu/fetch-debian, or point HV_DEBIAN_CACHE at its cache",
        );
    }
    kernel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_exactly_true() {
        // Only the decision's input is checked here; `missing` itself is exercised by
        // the tests that need the cache.
        let ci = std::env::var("CI").ok();
        assert_eq!(in_ci(), ci.as_deref() == Some("true"));
    }
}
