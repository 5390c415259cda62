//! NMIs injected through QEMU's monitor (`nmi`: LINT1 of every CPU, which the hypervisor
//! routes as NMI on the boot CPU only, as Xen does) while dom0 runs.
//!
//! `pv-bench` is dom0 on two CPUs; the runner sends `nmi` to QEMU's monitor after given
//! serial lines ([`RunConfig::monitor_after`]).
//! With the default `nmi=dom0` each NMI is logged (rate-limited) and the guest still ends
//! with `Test result: SUCCESS` and a power-off; `nmi=ignore` does the same silently;
//! `nmi=fatal` panics on the first one.

use std::time::Duration;

use boot_tests::{BootPath, ExitKind, Outcome, RunConfig};
use hv_runner::ModuleSpec;

/// Serial markers after which one `nmi` goes to QEMU's monitor: dom0 starting, its banner
/// and its first benchmark.
const MARKERS: [&str; 3] =
    ["Starting dom0", "--- PV test kernel: bench ---", "bench: null hypercall"];

/// Boots `pv-bench` (with command line `args`) on two CPUs with `append`, sending `nmi`
/// to QEMU's monitor after each of `markers`.
fn boot_with_nmis(append: &str, args: &str, markers: &[String]) -> Outcome {
    let kernel = match hv_runner::pv_test_kernel("bench") {
        Ok(path) => path,
        Err(e) => panic!("cannot build pv-bench: {e:#}"),
    };
    let cfg = RunConfig {
        append: append.to_owned(),
        modules: vec![ModuleSpec::new(kernel, args)],
        boot: BootPath::Direct,
        smp: 2,
        timeout: Some(Duration::from_secs(60)),
        monitor_after: markers.iter().map(|m| (m.clone(), "nmi".to_owned())).collect(),
        ..RunConfig::default()
    };
    match hv_runner::run(&cfg) {
        Ok(out) => out,
        Err(e) => panic!("cannot boot pv-bench [{append}]: {e:#}"),
    }
}

fn early_markers() -> Vec<String> {
    MARKERS.iter().map(|m| (*m).to_owned()).collect()
}

#[track_caller]
fn expect_success(out: &Outcome) {
    let ok = out.serial.lines().any(|l| l.contains("Test result: SUCCESS"));
    assert!(ok, "no 'Test result: SUCCESS'\n{out}");
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
}

#[test]
fn nmi_default_dom0_is_logged_and_dom0_completes() {
    // `drift` keeps pv-bench running 10 s longer, alternating busy guest code and blocking
    // (the CPU halted in the hypervisor); the first NMI comes once that starts, and each
    // report triggers the next, eight in all, so both contexts are hit (which one each NMI
    // hits is up to timing; each report names it).
    let mut markers = vec!["bench: ptwr".to_owned()];
    markers.extend((1..8).map(|n| format!("NMI #{n} received")));
    let out = boot_with_nmis("noreboot", "drift", &markers);
    expect_success(&out);
    let reports: Vec<&str> = out.lines().filter(|l| l.contains("NMI #")).collect();
    assert_eq!(reports.len(), 8, "expected eight NMI reports\n{out}");
    assert!(reports.iter().all(|l| l.contains("'nmi=dom0': not forwarded")), "{out}");
    let ok = out.serial.lines().any(|l| l.contains("bench: pvclock drift"));
    assert!(ok, "pv-bench did not finish its drift run\n{out}");
}

#[test]
fn nmi_ignore_is_silent_and_dom0_completes() {
    let out = boot_with_nmis("noreboot nmi=ignore", "", &early_markers());
    expect_success(&out);
    assert!(!out.has_line("NMI"), "nmi=ignore printed an NMI line\n{out}");
}

#[test]
fn nmi_fatal_panics() {
    let out = boot_with_nmis("noreboot nmi=fatal", "", &early_markers());
    assert_eq!(out.status, ExitKind::Panic, "expected a panic\n{out}");
    assert!(out.reason.contains("NMI received for unknown reason"), "{out}");
    assert!(out.reason.contains("'nmi=fatal'"), "{out}");
}
