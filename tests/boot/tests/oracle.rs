//! The oracle: every PV test kernel that `tests/pv.rs` boots as dom0 (its `pv_kernels!`
//! list, with the same CPU count), booted as dom0 of Debian 12's Xen 4.17 instead of ours,
//! must report `Test result: SUCCESS` there too; and the dom0 toolstack `pv-toolstack`
//! must build, run and reap one `pv-hello` domU on it, serve a `pv-rings` domU's
//! console and xenstore rings (its `d1| ` lines are the domU's only output there), and run
//! the `pv-attack` pair (`mode=attack`, every attack answered as the attacker expects). A
//! test kernel asserts Xen's behaviour, so one that fails on real Xen asserts something Xen
//! does not do.
//!
//! Xen is the `qemu/fetch-xen` cache's (`hv_runner::oracle`), booted through QEMU's direct
//! Multiboot loader with `console=com1 com1=115200,8n1 dom0_mem=256M noreboot`. Xen never
//! powers off: after dom0's shutdown it prints `Hardware Dom0 halted: halting machine`,
//! and the runner ends the boot there (a power-off outcome). Without the cached Xen the
//! tests print `SKIP: <test>: ...` and pass, except under `CI=true`, where they fail
//! ([`boot_tests::missing_prerequisite`]).
//!
//! Every kernel of the list passes on Xen 4.17: there are no known deviations to exempt.
#![allow(clippy::indexing_slicing, reason = "test assertions on our own output")]

use std::path::PathBuf;
use std::time::Duration;

use boot_tests::{ExitKind, Outcome, RunConfig};
use hv_runner::ModuleSpec;
use hv_runner::initramfs::{self, InitAction};

#[path = "dom0_tools/domu_build.rs"]
mod domu_build;
#[path = "dom0_tools/xm_info.rs"]
mod xm_info;

#[path = "dom0_tools/xenbus.rs"]
mod xenbus;
use xm_info::{XM_INFO_SEND, expect_xm_info};

/// Generates, for each `module => "name"` (one CPU, or `smp N`), a test booting
/// `pv-<name>` as Xen's dom0, and the list [`KERNELS`] of `(name, cpus)`.
macro_rules! oracle_kernels {
    (@smp) => { 1 };
    (@smp $smp:literal) => { $smp };
    ($($module:ident => $name:literal $(smp $smp:literal)?,)+) => {
        /// Every kernel booted here, by name (`hello` is `pv-hello`), with its CPU count.
        const KERNELS: &[(&str, u32)] = &[$(($name, oracle_kernels!(@smp $($smp)?))),+];

        $(
            #[doc = concat!("Boots `pv-", $name, "` as dom0 of Xen 4.17.")]
            #[test]
            fn $module() {
                boot_on_xen($name, oracle_kernels!(@smp $($smp)?));
            }
        )+
    };
}

// The `pv_kernels!` list of `tests/pv.rs` (`same_kernels_as_pv_rs` checks it).
oracle_kernels! {
    bench => "bench",
    hello => "hello",
    hypercall_abi => "hypercall-abi",
    mmu => "mmu",
    ptwr => "ptwr",
    emul => "emul",
    evtchn => "evtchn",
    traps => "traps",
    usermode => "usermode",
    segments => "segments",
    time => "time",
    hypercalls => "hypercalls",
    memory => "memory",
    smp => "smp" smp 2,
}

/// Per-boot timeout. A boot normally ends at Xen's halt line, 15-40 s after QEMU starts
/// under TCG; this only bounds a hung kernel.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The line every test kernel ends with.
const RESULT_PREFIX: &str = "Test result: ";

/// Serial lines shown when a boot fails.
const TAIL_LINES: usize = 80;

/// The built kernel `name`; panics with the build error.
fn kernel(name: &str) -> PathBuf {
    match hv_runner::pv_test_kernel(name) {
        Ok(path) => path,
        Err(e) => panic!("cannot build PV test kernel {name:?}: {e:#}"),
    }
}

/// Boots `modules` as Xen's on `smp` CPUs; `None` (after a `SKIP:` line, or a failure
/// under `CI=true`) without the cached Xen.
fn boot(modules: Vec<ModuleSpec>, smp: u32) -> Option<Outcome> {
    boot_appending(modules, smp, "")
}

/// As [`boot`], with `extra` appended to Xen's command line.
fn boot_appending(modules: Vec<ModuleSpec>, smp: u32, extra: &str) -> Option<Outcome> {
    let xen = boot_tests::xen_prerequisite()?;
    let mut cfg =
        RunConfig { timeout: Some(TIMEOUT), ..hv_runner::oracle::xen_config(xen, modules, smp) };
    cfg.append.push_str(extra);
    match hv_runner::run(&cfg) {
        Ok(out) => Some(out),
        Err(e) => panic!("cannot boot Xen 4.17: {e:#}"),
    }
}

/// The status word of the last `Test result:` line of dom0 (not a `(d<N>) ` domU).
fn test_result(serial: &str) -> Option<&str> {
    serial.lines().rev().filter(|line| !line.starts_with("(d")).find_map(|line| {
        let (_, rest) = line.split_once(RESULT_PREFIX)?;
        Some(rest.split_whitespace().next().unwrap_or(""))
    })
}

/// Boots `pv-<name>` as Xen 4.17's dom0 on `smp` CPUs and requires SUCCESS and Xen's
/// halt after dom0's power-off.
fn boot_on_xen(name: &str, smp: u32) {
    let Some(out) = boot(vec![ModuleSpec::new(kernel(name), "")], smp) else { return };
    expect_success(&format!("pv-{name}"), &out);
}

/// Requires dom0's `Test result: SUCCESS` and Xen's halt after dom0's power-off.
#[track_caller]
fn expect_success(what: &str, out: &Outcome) {
    let result = test_result(&out.serial);
    if result == Some("SUCCESS") && out.status == ExitKind::PowerOff {
        return;
    }
    let result = match result {
        Some(word) => format!("`{RESULT_PREFIX}{word}`"),
        None => format!("no `{RESULT_PREFIX}` line"),
    };
    let fails: Vec<&str> = out.serial.lines().filter(|l| l.starts_with("FAIL")).collect();
    let lines: Vec<&str> = out.serial.lines().collect();
    let tail = lines.get(lines.len().saturating_sub(TAIL_LINES)..).unwrap_or(&lines);
    panic!(
        "{what} on Xen 4.17: expected `{RESULT_PREFIX}SUCCESS` and Xen's halt, got {result} and \
         {}: {} ({:.1} s)\ncommand: {}\nfailed checks:\n{}\nlast {} of {} serial lines:\n{}",
        out.status,
        out.reason,
        out.elapsed.as_secs_f64(),
        out.command,
        fails.join("\n"),
        tail.len(),
        lines.len(),
        tail.join("\n"),
    );
}

// `ring_lines`: what `pv-rings` prints (shared with `domu/rings.rs`).
include!("domu/rings_lines.rs");

/// Packs `domus` into the toolstack's initrd and boots `pv-toolstack` as Xen 4.17's dom0
/// with `dom0_args` on its command line on `smp` CPUs; `None` without the cached Xen.
fn boot_toolstack(domus: &[ModuleSpec], dom0_args: &str, smp: u32) -> Option<Outcome> {
    boot_toolstack_appending(domus, dom0_args, smp, "")
}

/// As [`boot_toolstack`], with `extra` appended to Xen's command line.
fn boot_toolstack_appending(
    domus: &[ModuleSpec],
    dom0_args: &str,
    smp: u32,
    extra: &str,
) -> Option<Outcome> {
    let runs = hv_runner::target_dir().join("hv-runs");
    if let Err(e) = std::fs::create_dir_all(&runs) {
        panic!("creating {}: {e}", runs.display());
    }
    let initrd = match tempfile::Builder::new().prefix("oracle-").suffix(".cpio").tempfile_in(&runs)
    {
        Ok(file) => file.into_temp_path(),
        Err(e) => panic!("creating the domU archive: {e}"),
    };
    let mut modules = match hv_runner::domu::toolstack_modules(
        &kernel(hv_runner::domu::TOOLSTACK),
        domus,
        &initrd,
    ) {
        Ok(modules) => modules,
        Err(e) => panic!("packing the domUs: {e:#}"),
    };
    if let Some(dom0) = modules.first_mut() {
        dom0_args.clone_into(&mut dom0.args);
    }
    boot_appending(modules, smp, extra)
}

/// The dom0 toolstack builds one `pv-hello` domU on Xen 4.17, runs it and reaps its
/// power-off. Xen's release build drops a domU's `console_io` output, but the domU's
/// console ring reaches dom0, which prints it as `d1| ` lines.
#[test]
fn toolstack_one_domu() {
    let Some(out) = boot_toolstack(&[ModuleSpec::new(kernel("hello"), "")], "", 1) else {
        return;
    };
    assert!(
        out.serial.lines().any(|l| l.contains("domU d1: shutdown poweroff")),
        "no `domU d1: shutdown poweroff` line\n{out}"
    );
    assert!(
        out.serial.lines().any(|l| l.trim_end() == "d1| Test result: SUCCESS"),
        "no `d1| Test result: SUCCESS` line from the domU's console ring\n{out}"
    );
    expect_success("pv-toolstack with one pv-hello domU", &out);
}

/// `pv-rings` as a domU of the toolstack on Xen 4.17: the grant refs the builder seeded,
/// its console ring and dom0's xenstore answers, all seen through its `d1| ` lines (the
/// same checks as the `domu` boot test on our hypervisor).
#[test]
fn toolstack_serves_domu_rings() {
    let domus = [ModuleSpec::new(kernel("rings"), "expect_name=domU-1")];
    let Some(out) = boot_toolstack(&domus, "", 1) else { return };
    let lines: Vec<&str> = out.serial.lines().map(str::trim_end).collect();
    let mut at = 0;
    for want in ring_lines("domU-1").iter().chain(&["Test result: SUCCESS".to_owned()]) {
        let line = format!("d1| {want}");
        let with_value = format!("{line}: ");
        let found = lines.iter().skip(at).position(|l| *l == line || l.starts_with(&with_value));
        let Some(pos) = found else { panic!("no line `{line}` (in order)\n{out}") };
        at = at.saturating_add(pos).saturating_add(1);
    }
    assert!(lines.contains(&"domU d1: shutdown poweroff"), "no shutdown\n{out}");
    expect_success("pv-toolstack with a pv-rings domU", &out);
}

/// `pv-toolstack mode=attack` on Xen 4.17: the attacker `pv-attack` is refused every
/// attack on its victim with the status it expects (Xen's), and the victim is unharmed.
/// Their console output is not visible on Xen, but both power off only when all their
/// checks passed (they crash otherwise), and dom0 reports how each shut down.
#[test]
fn toolstack_attack() {
    // `audit_slack=1`: Xen keeps one page of its own after the run (see
    // `audit` in `pv-toolstack/attack.rs`); ours is held to 0 by `domu`.
    let dom0 = "mode=attack audit_slack=1";
    let Some(out) = boot_toolstack(&[ModuleSpec::new(kernel("attack"), "")], dom0, 2) else {
        return;
    };
    for d in [1, 2] {
        assert!(
            out.serial.lines().any(|l| l.contains(&format!("domU d{d}: shutdown poweroff"))),
            "no `domU d{d}: shutdown poweroff` line (d1 victim, d2 attacker)\n{out}"
        );
    }
    expect_success("pv-toolstack mode=attack", &out);
}

/// `pv-toolstack mode=grant-v2` with the domU `pv-grant2` on Xen 4.17 (boot test `domu`
/// `grant_v2`): dom0's checks of grant tables version 2 must hold on real Xen; the domU's
/// own checks show in its shutdown code, which dom0 checks.
#[test]
fn toolstack_grant_v2() {
    let domus = [ModuleSpec::new(kernel("grant2"), "")];
    let Some(out) = boot_toolstack(&domus, "mode=grant-v2", 1) else { return };
    for want in [
        "ok: dom0 set_version(2): (true, 2)",
        "ok: dom0 get_status_frames of 1: Some(GNTST_okay)",
        "ok: dom0 get_status_frames of 2: Some(GNTST_general_error)",
        "ok: dom0 set_version(1): (true, 1)",
        "ok: map d1 v2 ref 8 writable: GNTST_okay",
        "ok: get_version of d1: Some(2)",
        "ok: map of the sub-page ref 9: GNTST_general_error",
        "ok: copy of sub-page ref 9's 512 bytes at 256: GNTST_okay",
        "ok: copy from ref 9 starting before its range: GNTST_general_error",
        "ok: copy from ref 9 ending after its range: GNTST_general_error",
        "ok: copy through the domU's transitive ref 11 (dom0's ref 12): GNTST_okay",
        "ok: dom0's own page in the copy: None",
        "ok: dom0's entry 12 unpinned after: 5",
        "ok: map of the transitive ref 11: GNTST_general_error",
        "ok: the domU's answer through the v2 mapping",
        "ok: swap of dom0's refs 10 and 11: Some(GNTST_okay)",
        "ok: cache_flush (clean) of the mapped grant's frame: Ok(())",
        "ok: cache_flush (invalidate only): Err(Some(EOPNOTSUPP))",
        "ok: unmap_and_replace of v2 ref 8: Some(GNTST_okay)",
        "ok: the window shows the page whose PTE moved there",
        "ok: cache_flush of the frame once unmapped: Err(Some(EINVAL))",
        "ok: transfer of a page dom0 still maps: Some(GNTST_bad_page)",
        "ok: transfer of a page to d1 ref 10: Some(GNTST_okay)",
        "ok: transfer into a permit_access ref: Some(GNTST_general_error)",
        "ok: d1's shutdown code: every domU check passed",
        "ok: free pages after the destroy: before the build + 2 given",
    ] {
        assert!(out.serial.lines().any(|l| l.contains(want)), "no `{want}` line\n{out}");
    }
    expect_success("pv-toolstack mode=grant-v2 with a pv-grant2 domU", &out);
}

/// `pv-toolstack mode=grant-v2` on Xen 4.17 booted with `gnttab=max-ver:1` (boot test
/// `domu` `grant_v2::gnttab_max_ver_1_allows_version_1_only`): no version 2 for anyone.
#[test]
fn toolstack_gnttab_max_ver_1() {
    let domus = [ModuleSpec::new(kernel("grant2"), "")];
    let Some(out) = boot_toolstack_appending(&domus, "mode=grant-v2", 1, " gnttab=max-ver:1")
    else {
        return;
    };
    for want in [
        "grant-v2: the hypervisor allows grant tables up to version 1 only",
        "ok: set_version(2): (Some(ENOSYS), 1)",
        "ok: createdomain with grant version 2: Some(EINVAL)",
        "s version: Some(1)",
        "ok: free pages back",
    ] {
        assert!(out.serial.lines().any(|l| l.contains(want)), "no `{want}` line\n{out}");
    }
    expect_success("pv-toolstack mode=grant-v2 under gnttab=max-ver:1", &out);
}

/// [`KERNELS`] is the `pv_kernels!` list of `tests/pv.rs`, CPU counts included.
#[test]
fn same_kernels_as_pv_rs() {
    let path = hv_runner::repo_root().join("tests/boot/tests/pv.rs");
    let source = match std::fs::read_to_string(&path) {
        Ok(source) => source,
        Err(e) => panic!("reading {}: {e}", path.display()),
    };
    let Some((_, list)) = source.split_once("\npv_kernels! {\n") else {
        panic!("no `pv_kernels! {{` list in {}", path.display())
    };
    let list = list.split_once("\n}").map_or(list, |(list, _)| list);
    let listed: Vec<(String, u32)> = list
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("=> \"")?;
            let (name, rest) = rest.split_once('"')?;
            let smp = rest
                .split_once("smp ")
                .map_or(Some(1), |(_, n)| n.trim_end_matches(',').trim().parse().ok())?;
            Some((name.to_owned(), smp))
        })
        .collect();
    let ours: Vec<(String, u32)> =
        KERNELS.iter().map(|&(name, smp)| (name.to_owned(), smp)).collect();
    assert_eq!(ours, listed, "the oracle_kernels! list vs {}", path.display());
}

#[test]
fn result_lines() {
    assert_eq!(test_result("Test result: SUCCESS\n(d1) Test result: FAILURE"), Some("SUCCESS"));
    assert_eq!(test_result("x\nTest result: FAILURE\r\n"), Some("FAILURE"));
    assert_eq!(test_result("(XEN) nothing"), None);
}

/// Debian's Linux as Xen 4.17's dom0 with the project's dom0 toolstack (the same
/// initramfs as the `linux_dom0` boot test): the Xen modules load, and `xm info` and
/// `xm dmesg` work on real Xen through privcmd, reporting Xen 4.17.
#[test]
fn linux_dom0_runs_xm_info() {
    if boot_tests::debian_prerequisites().is_none() {
        return;
    }
    let Some(xen) = boot_tests::xen_prerequisite() else { return };
    let initrd = tempfile::NamedTempFile::new().expect("temp file");
    let modules =
        initramfs::linux_dom0_modules(InitAction::Shell, initrd.path()).expect("initramfs");
    let cfg = RunConfig {
        timeout: Some(Duration::from_secs(300)),
        send_after: XM_INFO_SEND.iter().map(|&(m, t)| (m.to_owned(), t.to_owned())).collect(),
        ..hv_runner::oracle::xen_config(xen, modules, 1)
    };
    let out = hv_runner::run(&cfg).expect("run QEMU");
    expect_xm_info(&out);
    let lines: Vec<&str> = out.serial.lines().map(str::trim_end).collect();
    for want in ["xen_major              : 4", "xen_minor              : 17"] {
        assert!(lines.iter().any(|l| l.ends_with(want)), "no line {want:?}\n{out}");
    }
}

/// The same dom0 on Xen 4.17: its kernel xenbus reaches the project's `xenstored` over
/// dom0's xenstore ring ([`xenbus::expect_kernel_xenbus`]).
#[test]
fn linux_dom0_kernel_xenbus_reaches_xenstored() {
    if boot_tests::debian_prerequisites().is_none() {
        return;
    }
    let Some(xen) = boot_tests::xen_prerequisite() else { return };
    let initrd = tempfile::NamedTempFile::new().expect("temp file");
    let modules =
        initramfs::linux_dom0_modules(InitAction::Shell, initrd.path()).expect("initramfs");
    let cfg = RunConfig {
        timeout: Some(Duration::from_secs(300)),
        send_after: xenbus::XENBUS_SEND
            .iter()
            .map(|&(m, t)| (m.to_owned(), t.to_owned()))
            .collect(),
        ..hv_runner::oracle::xen_config(xen, modules, 1)
    };
    let out = hv_runner::run(&cfg).expect("run QEMU");
    xenbus::expect_kernel_xenbus(&out);
}

/// A domU built from Linux dom0's userland on Xen 4.17 (the same initramfs and shell
/// input as `linux_dom0::debian_12_dom0_builds_a_domu_from_userland`): Xen's release
/// build drops the domU's console_io output, so the checks are dom0's: the domain is
/// built, shuts down with reason poweroff, is destroyed and gone.
#[test]
fn linux_dom0_builds_a_domu_from_userland() {
    if boot_tests::debian_prerequisites().is_none() {
        return;
    }
    let Some(xen) = boot_tests::xen_prerequisite() else { return };
    let initrd = tempfile::NamedTempFile::new().expect("temp file");
    let modules = initramfs::linux_dom0_modules_with(
        InitAction::Shell,
        initrd.path(),
        domu_build::domu_files(),
    )
    .expect("initramfs");
    let cfg = RunConfig {
        timeout: Some(Duration::from_secs(300)),
        send_after: domu_build::build_send(),
        ..hv_runner::oracle::xen_config(xen, modules, 1)
    };
    let out = hv_runner::run(&cfg).expect("run QEMU");
    // Linux's power-off on Xen ends in ACPI S5, which the runner sees as a reset; the
    // checks are dom0's lines.
    domu_build::expect_domu_built_from_dom0(&out);
}

/// Debian's own kernel (the dom0's bzImage) as a domU built from Linux dom0's userland on
/// Xen 4.17 (as `linux_dom0::debian_12_dom0_builds_debian_linux_as_a_domu`): Xen runs the
/// domain the shared builder made (after 30 s it is alive, not shut down: a bad start
/// state would be a crash), dom0 destroys it while it runs and finds it gone.
#[test]
fn linux_dom0_builds_debian_linux_as_a_domu() {
    let Some((kernel, _)) = boot_tests::debian_prerequisites() else { return };
    let Some(xen) = boot_tests::xen_prerequisite() else { return };
    let vmlinuz = std::fs::read(&kernel).expect("read vmlinuz");
    let initrd = tempfile::NamedTempFile::new().expect("temp file");
    let modules = initramfs::linux_dom0_modules_with(
        InitAction::Shell,
        initrd.path(),
        vec![("/vmlinuz-domu".to_owned(), vmlinuz)],
    )
    .expect("initramfs");
    let send = [
        (
            initramfs::SHELL_MARKER,
            "d=$(xc-build create /vmlinuz-domu --memory 128 --cmdline 'console=hvc0' --name \
             linux); echo built-rc=$? domid=$d\n",
        ),
        ("built-rc=", "sleep 30; xc-build info $d; echo info-rc=$?\n"),
        (
            "info-rc=",
            "xc-build destroy $d; echo destroy-rc=$?; for i in $(seq 50); do xc-build info $d \
             >/dev/null 2>&1 || break; sleep 0.1; done; xc-build info $d; echo gone-rc=$?\n",
        ),
        ("gone-rc=", "exit\n"),
    ];
    let cfg = RunConfig {
        timeout: Some(Duration::from_secs(300)),
        send_after: send.iter().map(|&(m, t)| (m.to_owned(), t.to_owned())).collect(),
        // xc-build holds the decompressed kernel (65 MB) while it builds: more than a
        // 256 MiB dom0 with this initramfs can spare.
        append: hv_runner::oracle::XEN_APPEND.replace("dom0_mem=256M", "dom0_mem=512M"),
        ..hv_runner::oracle::xen_config(xen, modules, 1)
    };
    let out = hv_runner::run(&cfg).expect("run QEMU");
    domu_build::expect_running_domu_destroyed(&out, 32768);
}
