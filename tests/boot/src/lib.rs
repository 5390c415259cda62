//! Helpers for the boot integration tests (`tests/boot.rs`): booting a configuration once
//! per test process ([`boot`]), and checking the hypervisor's console against the contract.
//!
//! Each boot uses the hypervisor from [`hv_runner::hypervisor_image`] (built once per
//! process, or `$HV_KERNEL`), with a [`BOOT_TIMEOUT`] timeout.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

pub use hv_runner::{BootPath, ExitKind, Outcome, RunConfig};

/// The per-boot timeout.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// The message every boot ends with while no dom0 kernel is given.
pub const NO_DOM0: &str = "no dom0 kernel";

/// A configuration: `append` booted through `path` with `smp` CPUs and `memory_mib` MiB.
pub fn config(path: BootPath, append: &str, smp: u32, memory_mib: u32) -> RunConfig {
    RunConfig {
        append: append.to_owned(),
        boot: path,
        smp,
        memory_mib,
        timeout: Some(BOOT_TIMEOUT),
        ..RunConfig::default()
    }
}

/// Boots `cfg`, or returns the outcome of an identical earlier boot in this process (tests
/// that need the same boot share it; concurrent requests wait for the one run).
///
/// Panics if the run could not be made (build failure, missing tools).
pub fn boot(cfg: &RunConfig) -> Arc<Outcome> {
    type Cell = Arc<OnceLock<Arc<Outcome>>>;
    static RUNS: OnceLock<Mutex<HashMap<RunConfig, Cell>>> = OnceLock::new();
    let cell: Cell = {
        let mut runs =
            RUNS.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(runs.entry(cfg.clone()).or_default())
    };
    Arc::clone(cell.get_or_init(|| match hv_runner::run(cfg) {
        Ok(outcome) => Arc::new(outcome),
        Err(e) => panic!("cannot boot {} [{}]: {e:#}", cfg.boot, cfg.append),
    }))
}

/// Asserts that the run ended in the hypervisor's "no dom0 kernel" panic.
#[track_caller]
pub fn expect_no_dom0_panic(outcome: &Outcome) {
    assert_eq!(outcome.status, ExitKind::Panic, "expected a panic\n{outcome}");
    assert!(outcome.reason.contains(NO_DOM0), "expected a '{NO_DOM0}' panic\n{outcome}");
    assert!(outcome.has_line(NO_DOM0), "no '{NO_DOM0}' line\n{outcome}");
}

/// The first console line containing `needle` (without `(XEN) `); panics if there is none.
#[track_caller]
pub fn line<'a>(outcome: &'a Outcome, needle: &str) -> &'a str {
    match outcome.find_line(needle) {
        Some(line) => line,
        None => panic!("no console line contains {needle:?}\n{outcome}"),
    }
}

/// Asserts that some console line contains `needle`.
#[track_caller]
pub fn expect_line(outcome: &Outcome, needle: &str) {
    line(outcome, needle);
}

/// The number right after `prefix` in the first line containing it (e.g. `Dom0 memory:`
/// in `Dom0 memory: 943 MiB` gives 943); panics if there is none.
#[track_caller]
pub fn number_after(outcome: &Outcome, prefix: &str) -> u64 {
    let text = line(outcome, prefix);
    match text.split_once(prefix).and_then(|(_, rest)| leading_number(rest)) {
        Some(n) => n,
        None => panic!("no number after {prefix:?} in {text:?}\n{outcome}"),
    }
}

/// Asserts that `low <= n <= high` for the number after `prefix`.
#[track_caller]
pub fn expect_number_in(outcome: &Outcome, prefix: &str, low: u64, high: u64) {
    let n = number_after(outcome, prefix);
    assert!((low..=high).contains(&n), "{prefix} {n} is not within {low}..={high}\n{outcome}");
}

/// Whether this is a CI run (`CI=true`), where a missing prerequisite fails the test.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports that the calling test's prerequisite `what` is missing (`how` says how to get
/// it): under `CI=true` the test fails with that message (a CI run must not pass without
/// running it); elsewhere a loud `SKIP: <test>: <what> (<how>)` line goes to stderr and
/// the caller returns. The test's name is its thread's, as the test harness names it.
///
/// # Panics
///
/// Under `CI=true`, always.
#[track_caller]
pub fn missing_prerequisite(what: &str, how: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<unnamed test>");
    assert!(!in_ci(), "{test}: prerequisite missing under CI=true: {what} ({how})");
    // Straight to the stderr handle, not `eprintln!`: the test harness captures the
    // latter, and the SKIP must show in every run's output.
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {what} ({how})");
}

/// Debian 12's kernel and `busybox-static`, `(vmlinuz, busybox)`, as `qemu/fetch-debian`
/// caches them; `None` after [`missing_prerequisite`] (a failure under `CI=true`).
#[track_caller]
pub fn debian_prerequisites() -> Option<(PathBuf, PathBuf)> {
    let found = hv_runner::initramfs::cached_debian();
    if found.is_none() {
        let place = hv_runner::initramfs::debian_cache()
            .map_or_else(|| "$HOME/.cache/hv-debian".to_owned(), |d| d.display().to_string());
        missing_prerequisite(
            &format!("Debian 12's kernel and busybox are not cached in {place}"),
            "run qemu/fetch-debian, or point HV_DEBIAN_CACHE at its cache",
        );
    }
    found
}

/// Debian 12's Xen 4.17 (its multiboot ELF) as `qemu/fetch-xen` caches it; `None` after
/// [`missing_prerequisite`] (a failure under `CI=true`).
#[track_caller]
pub fn xen_prerequisite() -> Option<PathBuf> {
    let found = hv_runner::oracle::cached_xen();
    if found.is_none() {
        let place = hv_runner::oracle::xen_cache()
            .map_or_else(|| "$HOME/.cache/hv-xen417".to_owned(), |d| d.display().to_string());
        missing_prerequisite(
            &format!("Debian 12's Xen 4.17 is not cached in {place}"),
            "run qemu/fetch-xen, or point HV_XEN_CACHE at its cache",
        );
    }
    found
}

/// The decimal number at the start of `text` (after leading spaces).
pub fn leading_number(text: &str) -> Option<u64> {
    let text = text.trim_start();
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    text.get(..end)?.parse().ok()
}

/// The console's `WARNING` lines.
pub fn warnings(outcome: &Outcome) -> Vec<&str> {
    outcome.lines().filter(|line| line.contains("WARNING")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(leading_number(" 943 MiB"), Some(943));
        assert_eq!(leading_number("1023MB (1048063kB)"), Some(1023));
        assert_eq!(leading_number("MiB"), None);
    }
}
