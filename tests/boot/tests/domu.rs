//! DomUs: the PV test kernel `pv-toolstack` as dom0 builds PV test kernels as domUs with
//! the domain builder, runs them and reports their shutdown (needs the `domctl`
//! hypercall).
//!
//! Each boot packs the domUs into dom0's initrd as `qemu/run --domu` does
//! (`hv_runner::domu`), with `dom0_mem=64M`, and passes when the serial output has, for
//! each domU `d<N>`: its console lines prefixed `(d<N>) ` with `(d<N>) Test result:
//! SUCCESS`, the toolstack's `domU d<N>: shutdown poweroff`; then dom0's own
//! `Test result: SUCCESS` as its last result line, and a power-off.
//!
//! The lifecycle tests (`domu/lifecycle.rs`) pause and unpause a running domU, create
//! and destroy domUs 20 times counting free memory, crash domUs whose exceptions cannot
//! be delivered, and fuzz the hypercalls from a domU; `domu/pingpong.rs` has two domUs
//! talk over an interdomain event channel; the grant tests (`domu/grant.rs`) map and copy a
//! domU's grants from dom0.
#![allow(clippy::indexing_slicing, reason = "test assertions on our own output")]

use std::time::Duration;

use boot_tests::{BootPath, ExitKind, Outcome, RunConfig};
use hv_runner::ModuleSpec;

#[path = "domu/attack.rs"]
mod attack;
#[path = "domu/fuzz.rs"]
mod fuzz;
#[path = "domu/grant.rs"]
mod grant;
#[path = "domu/grant_v2.rs"]
mod grant_v2;
#[path = "domu/lifecycle.rs"]
mod lifecycle;
#[path = "domu/pingpong.rs"]
mod pingpong;
#[path = "domu/rings.rs"]
mod rings;

/// Per-boot timeout: two domUs and dom0 under TCG.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(120);

/// The built PV test kernel `name`; panics with the build error.
fn kernel(name: &str) -> std::path::PathBuf {
    match hv_runner::pv_test_kernel(name) {
        Ok(path) => path,
        Err(e) => panic!("cannot build PV test kernel {name:?}: {e:#}"),
    }
}

/// Boots `pv-toolstack` with `domus` (PV test kernel names and command lines) through
/// `path`.
fn boot(domus: &[(&str, &str)], path: BootPath) -> Outcome {
    boot_on(domus, path, 1)
}

/// As [`boot`], on `smp` CPUs.
fn boot_on(domus: &[(&str, &str)], path: BootPath, smp: u32) -> Outcome {
    boot_with(domus, path, smp, "", TIMEOUT)
}

/// As [`boot_on`], with `dom0_args` on the toolstack's command line and `timeout`.
pub(crate) fn boot_with(
    domus: &[(&str, &str)],
    path: BootPath,
    smp: u32,
    dom0_args: &str,
    timeout: Duration,
) -> Outcome {
    let specs: Vec<ModuleSpec> =
        domus.iter().map(|(name, args)| ModuleSpec::new(kernel(name), *args)).collect();
    let runs = hv_runner::target_dir().join("hv-runs");
    if let Err(e) = std::fs::create_dir_all(&runs) {
        panic!("creating {}: {e}", runs.display());
    }
    let initrd = match tempfile::Builder::new().prefix("domus-").suffix(".cpio").tempfile_in(&runs)
    {
        Ok(file) => file.into_temp_path(),
        Err(e) => panic!("creating the domU archive: {e}"),
    };
    let mut modules = match hv_runner::domu::toolstack_modules(
        &kernel(hv_runner::domu::TOOLSTACK),
        &specs,
        &initrd,
    ) {
        Ok(modules) => modules,
        Err(e) => panic!("packing the domUs: {e:#}"),
    };
    if let Some(dom0) = modules.first_mut() {
        dom0_args.clone_into(&mut dom0.args);
    }
    let cfg = RunConfig {
        append: hv_runner::domu::DOMU_APPEND.to_owned(),
        modules,
        boot: path,
        smp,
        timeout: Some(timeout),
        ..RunConfig::default()
    };
    match hv_runner::run(&cfg) {
        Ok(out) => out,
        Err(e) => panic!("cannot boot pv-toolstack through {path}: {e:#}"),
    }
}

/// The serial lines (raw, with their prefixes).
pub(crate) fn serial_lines(out: &Outcome) -> Vec<&str> {
    out.serial.lines().map(str::trim_end).collect()
}

/// Checks one boot that ran `n` domUs, numbered 1..=n.
fn check(out: &Outcome, n: u16) {
    let lines = serial_lines(out);
    let pos = |pred: &dyn Fn(&str) -> bool| lines.iter().position(|l| pred(l));
    for d in 1..=n {
        let prefix = format!("(d{d}) ");
        let banner = pos(&|l| l.starts_with(&prefix) && l.contains("--- PV test kernel: hello"));
        let result = pos(&|l| l.starts_with(&prefix) && l.contains("Test result: SUCCESS"));
        let shutdown = pos(&|l| l.contains(&format!("domU d{d}: shutdown poweroff")));
        assert!(banner.is_some(), "no `{prefix}--- PV test kernel: hello` line\n{out}");
        assert!(result.is_some(), "no `{prefix}Test result: SUCCESS` line\n{out}");
        assert!(shutdown.is_some(), "no `domU d{d}: shutdown poweroff` line\n{out}");
        assert!(result < shutdown, "d{d} reported its result after its shutdown\n{out}");
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix) && l.contains("domain: a domU")),
            "d{d} does not see itself as a domU\n{out}"
        );
    }
    let last_result = lines.iter().rev().find(|l| l.contains("Test result: "));
    assert!(
        last_result.is_some_and(|l| !l.starts_with("(d") && l.contains("Test result: SUCCESS")),
        "dom0's `Test result: SUCCESS` is not the last result line\n{out}"
    );
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
}

#[test]
fn one_domu_direct() {
    let out = boot(&[("hello", "first domU")], BootPath::Direct);
    check(&out, 1);
    let cmdline = |l: &&str| l.starts_with("(d1) ") && l.contains("cmd_line:");
    assert!(
        serial_lines(&out).iter().any(|l| cmdline(l) && l.ends_with("\"first domU\"")),
        "the domU's command line\n{out}"
    );
    // The toolstack's XENMEM_claim_pages checks ran (on a scratch domain
    // before the domU was built).
    for line in [
        "ok: XENMEM_claim_pages of 256 pages",
        "ok: claim consumed by populate: (Some((16, 240)), Some(240))",
        "ok: claim over the free memory: Some(ENOMEM)",
    ] {
        assert!(out.serial.contains(line), "missing `{line}`\n{out}");
    }
}

#[test]
fn two_domus_grub() {
    let out = boot(&[("hello", "one"), ("hello", "two")], BootPath::Grub);
    check(&out, 2);
}

/// Without domU images the toolstack has nothing to do and says SKIP.
#[test]
fn no_domus_skips() {
    let cfg = RunConfig {
        modules: vec![ModuleSpec::new(kernel(hv_runner::domu::TOOLSTACK), "")],
        boot: BootPath::Direct,
        timeout: Some(TIMEOUT),
        ..RunConfig::default()
    };
    let out = match hv_runner::run(&cfg) {
        Ok(out) => out,
        Err(e) => panic!("cannot boot pv-toolstack: {e:#}"),
    };
    assert!(out.serial.contains("Test result: SKIP"), "expected SKIP\n{out}");
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
}

/// Eight domUs at once on two CPUs: each is built, scheduled beside the others and dom0,
/// shuts down and is destroyed; the toolstack sees all eight go.
#[test]
fn eight_domus_on_two_cpus() {
    let domus: Vec<(&str, String)> = (1..=8).map(|i| ("hello", format!("domU {i}"))).collect();
    let specs: Vec<(&str, &str)> = domus.iter().map(|(k, a)| (*k, a.as_str())).collect();
    let out = boot_on(&specs, BootPath::Direct, 2);
    check(&out, 8);
}

/// A domU with two vCPUs (`domu_vcpus=2`: `createdomain` and `max_vcpus` with 2, a context
/// for vCPU 0 only) on two CPUs, dom0 waiting in `SCHEDOP_block`: `pv-smp` brings its second vCPU up with
/// `VCPUOP_initialise` and runs its IPI, poll, TLB-shootdown and down/up checks as a domU.
#[test]
fn a_two_vcpu_domu_runs_pv_smp() {
    let out =
        boot_with(&[("smp", "")], BootPath::Direct, 2, "domu_vcpus=2", Duration::from_secs(240));
    let lines = serial_lines(&out);
    // (One domU only: pv-smp expects each of its vCPUs to be running while
    // it counts, which two such domUs on two CPUs cannot all have.)
    for d in 1..=1 {
        let prefix = format!("(d{d}) ");
        for want in ["--- PV test kernel: smp", "Test result: SUCCESS"] {
            assert!(
                lines.iter().any(|l| l.starts_with(&prefix) && l.contains(want)),
                "no `{prefix}{want}` line\n{out}"
            );
        }
        assert!(
            !lines.iter().any(|l| l.starts_with(&prefix) && l.contains("FAIL")),
            "d{d} failed a check\n{out}"
        );
        let shutdown = format!("domU d{d}: shutdown poweroff");
        assert!(lines.iter().any(|l| l.contains(&shutdown)), "no `{shutdown}`\n{out}");
    }
    let last = lines.iter().rev().find(|l| l.contains("Test result: "));
    assert!(
        last.is_some_and(|l| !l.starts_with("(d") && l.contains("SUCCESS")),
        "dom0's `Test result: SUCCESS` is not the last result line\n{out}"
    );
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
}

/// A domU that crashes (an undeliverable `#UD`) ends alone: its neighbours run to
/// completion, the toolstack sees `shutdown crash` for it and powers off cleanly.
#[test]
fn a_crashing_domu_ends_alone() {
    let out =
        boot_on(&[("hello", "before"), ("crash", ""), ("hello", "after")], BootPath::Direct, 2);
    let lines = serial_lines(&out);
    assert!(
        lines.iter().any(|l| l.starts_with("(d2) ") && l.contains("crashing on purpose")),
        "the crashing domU did not start\n{out}"
    );
    assert!(
        lines.iter().any(|l| l.contains("domU d2: shutdown crash")),
        "no `domU d2: shutdown crash` line\n{out}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("(d2) ") && l.contains("Test result")),
        "the crashed domU kept running\n{out}"
    );
    for d in [1, 3] {
        let prefix = format!("(d{d}) ");
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix) && l.contains("Test result: SUCCESS")),
            "d{d} did not finish\n{out}"
        );
        assert!(
            lines.iter().any(|l| l.contains(&format!("domU d{d}: shutdown poweroff"))),
            "no `domU d{d}: shutdown poweroff` line\n{out}"
        );
    }
    let last_result = lines.iter().rev().find(|l| l.contains("Test result: "));
    assert!(
        last_result.is_some_and(|l| !l.starts_with("(d") && l.contains("Test result: SUCCESS")),
        "dom0's `Test result: SUCCESS` is not the last result line\n{out}"
    );
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
}
