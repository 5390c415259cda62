//! The scheduler benchmark in short: `pv-toolstack bench=2` as dom0 with the CPU-burning
//! domU `pv-spin` on two CPUs (what `qemu/bench` runs for 10 s under QEMU's instruction
//! counter) prints its three figures with sane numbers.
//!
//! The bounds are loose on purpose: boot tests run beside each other under TCG, and
//! accuracy is the benchmark command's business. What must hold: four weighted domUs and
//! a capped one ran and measured something, the cap kept its domU well under a whole CPU,
//! and dom0 finished with `Test result: SUCCESS` and a power-off.
#![allow(clippy::indexing_slicing, reason = "test assertions on our own output")]

use std::time::Duration;

use boot_tests::{BootPath, ExitKind, Outcome, RunConfig};
use hv_runner::ModuleSpec;

/// Per-boot timeout: five domUs of 2 s each, their builds and the boot, under TCG.
const TIMEOUT: Duration = Duration::from_secs(240);

/// The built PV test kernel `name`; panics with the build error.
fn kernel(name: &str) -> std::path::PathBuf {
    match hv_runner::pv_test_kernel(name) {
        Ok(path) => path,
        Err(e) => panic!("cannot build PV test kernel {name:?}: {e:#}"),
    }
}

/// Boots `pv-toolstack bench=<secs>` with `pv-spin` on two CPUs.
fn boot_bench(secs: u32) -> Outcome {
    let runs = hv_runner::target_dir().join("hv-runs");
    if let Err(e) = std::fs::create_dir_all(&runs) {
        panic!("creating {}: {e}", runs.display());
    }
    let initrd = match tempfile::Builder::new().prefix("bench-").suffix(".cpio").tempfile_in(&runs)
    {
        Ok(file) => file.into_temp_path(),
        Err(e) => panic!("creating the domU archive: {e}"),
    };
    let spin = [ModuleSpec::new(kernel("spin"), "")];
    let mut modules = match hv_runner::domu::toolstack_modules(
        &kernel(hv_runner::domu::TOOLSTACK),
        &spin,
        &initrd,
    ) {
        Ok(modules) => modules,
        Err(e) => panic!("packing the domU: {e:#}"),
    };
    modules[0].args = format!("bench={secs}");
    let cfg = RunConfig {
        append: format!("{} console_to_ring", hv_runner::domu::DOMU_APPEND),
        modules,
        boot: BootPath::Direct,
        smp: 2,
        timeout: Some(TIMEOUT),
        // QEMU's instruction counter: system time follows the instructions
        // executed, so the shares do not depend on the host's load (as
        // `qemu/bench` measures them).
        extra_args: vec!["-icount".into(), "shift=0".into()],
        ..RunConfig::default()
    };
    match hv_runner::run(&cfg) {
        Ok(out) => out,
        Err(e) => panic!("cannot boot pv-toolstack bench: {e:#}"),
    }
}

/// The number after `key` on the line starting with `prefix`: `N.N%` or `N ms` figures.
fn figure(out: &Outcome, prefix: &str, key: &str) -> f64 {
    let line = out.serial.lines().find(|l| l.starts_with(prefix));
    let Some(line) = line else { panic!("no `{prefix}...` line\n{out}") };
    let Some((_, rest)) = line.split_once(key) else { panic!("no `{key}` in `{line}`\n{out}") };
    let number = rest.trim_start().split(['%', ' ']).next().unwrap_or("");
    match number.parse() {
        Ok(n) => n,
        Err(e) => panic!("`{number}` in `{line}`: {e}\n{out}"),
    }
}

#[test]
fn credit_bench_prints_sane_figures() {
    let out = boot_bench(2);
    let shares = figure(
        &out,
        "bench: credit shares, 4 domUs weights 256:256:512:1024 on 2 CPUs, 2 s:",
        "max error",
    );
    assert!((0.0..=50.0).contains(&shares), "shares max error {shares}%\n{out}");
    let cap = figure(&out, "bench: credit cap 30:", "measured");
    assert!((10.0..=50.0).contains(&cap), "cap 30 measured {cap}%\n{out}");
    let create = figure(&out, "bench: domain create (64 MiB domU):", "domU):");
    assert!((1.0..=30_000.0).contains(&create), "domain create {create} ms\n{out}");
    for d in 1..=5 {
        let prefix = format!("(d{d}) ");
        assert!(
            out.serial
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains("Test result: SUCCESS")),
            "d{d} did not finish\n{out}"
        );
    }
    let last_result = out.serial.lines().rev().find(|l| l.contains("Test result: "));
    assert!(
        last_result.is_some_and(|l| !l.starts_with("(d") && l.contains("Test result: SUCCESS")),
        "dom0's `Test result: SUCCESS` is not the last result line\n{out}"
    );
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
}
