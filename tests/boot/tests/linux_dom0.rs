//! Debian 12's stock kernel as dom0, to a busybox `/init`.
//!
//! Uses the kernel and `busybox-static` that `qemu/fetch-debian` caches (outside the
//! repository; `qemu/test` runs it first) and the runner's initramfs builder
//! ([`hv_runner::initramfs`]): its `/init` prints a marker, shows what the kernel sees of
//! Xen (`/sys/hypervisor`, `dmesg | grep -i xen`), then powers off or runs a shell on the
//! console. They boot with `dom0_mem=512M` through GRUB (and `-kernel`), on one CPU and on
//! two (dom0 then has two vCPUs, which Linux must bring up), and pass when the marker
//! appears and the machine powers off cleanly; the shell test also types a command into
//! the shell over the serial port (serial input → `VIRQ_CONSOLE` → `CONSOLEIO_read` →
//! Linux's `hvc0`) and expects its computed answer. Without a cached kernel they print
//! `SKIP: <test>: ...` and pass, except under `CI=true`, where they fail
//! ([`boot_tests::missing_prerequisite`]).

use std::time::Duration;

use boot_tests::{BootPath, ExitKind, Outcome, RunConfig, expect_line};
use hv_runner::ModuleSpec;
use hv_runner::initramfs::{self, InitAction, MARKER, SHELL_MARKER};

#[path = "dom0_tools/domu_build.rs"]
mod domu_build;
#[path = "dom0_tools/linux_domu.rs"]
mod linux_domu;
#[path = "dom0_tools/xm_info.rs"]
mod xm_info;
use xm_info::{XM_INFO_SEND, expect_xm_info};

#[path = "dom0_tools/xenbus.rs"]
mod xenbus;

/// Boots the cached Debian kernel with an initramfs doing `action`, sending `send_after`;
/// `None` (after a `SKIP:` line) when the packages are not cached, a failure under `CI=true`.
fn boot_linux(action: InitAction, send_after: &[(&str, &str)]) -> Option<Outcome> {
    boot_linux_on(BootPath::Grub, 1, action, send_after)
}

/// As [`boot_linux`], through `boot` on `smp` CPUs (dom0 gets one vCPU per CPU).
fn boot_linux_on(
    boot: BootPath,
    smp: u32,
    action: InitAction,
    send_after: &[(&str, &str)],
) -> Option<Outcome> {
    boot_tests::debian_prerequisites()?;
    let initrd = tempfile::NamedTempFile::new().expect("temp file");
    let modules = initramfs::linux_dom0_modules(action, initrd.path()).expect("initramfs");
    let cfg = RunConfig {
        modules,
        boot,
        smp,
        append: initramfs::LINUX_DOM0_APPEND.to_owned(),
        timeout: Some(Duration::from_secs(240)),
        send_after: send_after.iter().map(|&(m, t)| (m.to_owned(), t.to_owned())).collect(),
        ..RunConfig::default()
    };
    Some(hv_runner::run(&cfg).expect("run QEMU"))
}

/// Asserts that some guest (not `(XEN) `) console line contains `needle`.
#[track_caller]
fn expect_guest_line(out: &Outcome, needle: &str) {
    let found = out.serial.lines().any(|l| !l.starts_with("(XEN)") && l.contains(needle));
    assert!(found, "no guest console line contains {needle:?}\n{out}");
}

#[test]
fn debian_12_dom0_reaches_init_and_powers_off() {
    let Some(out) = boot_linux(InitAction::PowerOff, &[]) else { return };
    expect_line(&out, "bzImage v2.15: XZ payload, ");
    for needle in [MARKER, "hypervisor type: xen"] {
        expect_guest_line(&out, needle);
    }
    assert_eq!(out.status, ExitKind::PowerOff, "expected a clean power-off\n{out}");
}

/// Boots to `/init` and power-off through `boot` on `vcpus` CPUs, and checks that
/// Linux brought up that many vCPUs.
fn reaches_init_on(boot: BootPath, vcpus: u32) {
    let Some(out) = boot_linux_on(boot, vcpus, InitAction::PowerOff, &[]) else { return };
    expect_guest_line(&out, MARKER);
    let s = if vcpus == 1 { "" } else { "s" };
    expect_guest_line(&out, &format!("smp: Brought up 1 node, {vcpus} CPU{s}"));
    assert_eq!(out.status, ExitKind::PowerOff, "expected a clean power-off\n{out}");
}

#[test]
fn debian_12_dom0_direct_boot_one_vcpu() {
    reaches_init_on(BootPath::Direct, 1);
}

#[test]
fn debian_12_dom0_two_vcpus_grub() {
    reaches_init_on(BootPath::Grub, 2);
}

#[test]
fn debian_12_dom0_two_vcpus_direct() {
    reaches_init_on(BootPath::Direct, 2);
}

#[test]
fn debian_12_dom0_shell_takes_serial_input() {
    // The echo of the typed line shows `typed-$((6*7))`; only the shell's answer has
    // `typed-42`. `exit` ends the shell and /init powers off.
    let send = [(SHELL_MARKER, "echo typed-$((6*7))\n"), ("typed-42", "exit\n")];
    let Some(out) = boot_linux(InitAction::Shell, &send) else { return };
    expect_guest_line(&out, MARKER);
    let answered = out.serial.lines().any(|l| l.trim_end() == "typed-42");
    assert!(answered, "the shell did not answer the typed command with typed-42\n{out}");
    assert_eq!(out.status, ExitKind::PowerOff, "expected a clean power-off after exit\n{out}");
}

/// More vCPUs than CPUs: `dom0_max_vcpus=4` on 2 CPUs. The scheduler shares the two CPUs
/// between dom0's four vCPUs (context switches between vCPUs of one domain on each CPU,
/// blocked vCPUs giving their CPU up); Linux must bring all four up and reach `/init`.
#[test]
fn debian_12_dom0_four_vcpus_on_two_cpus() {
    if boot_tests::debian_prerequisites().is_none() {
        return;
    }
    let initrd = tempfile::NamedTempFile::new().expect("temp file");
    let modules =
        initramfs::linux_dom0_modules(InitAction::PowerOff, initrd.path()).expect("initramfs");
    let cfg = RunConfig {
        modules,
        boot: BootPath::Direct,
        smp: 2,
        append: format!("{} dom0_max_vcpus=4", initramfs::LINUX_DOM0_APPEND),
        timeout: Some(Duration::from_secs(300)),
        ..RunConfig::default()
    };
    let out = hv_runner::run(&cfg).expect("run QEMU");
    expect_line(&out, "Starting dom0: entry");
    expect_line(&out, "4 vCPUs on 2 CPUs");
    expect_guest_line(&out, MARKER);
    expect_guest_line(&out, "smp: Brought up 1 node, 4 CPUs");
    assert_eq!(out.status, ExitKind::PowerOff, "expected a clean power-off\n{out}");
}

/// Dom0 laid out by the kernel's notes as Xen lays it out (issue 14): Debian's kernel has
/// `MOD_START_PFN` and `INIT_P2M` (0x8000000000), so a 64 MiB initramfs stays unmapped (passed
/// by PFN) and the P2M list gets its own mapping there; the initial mapping ends just past the
/// kernel, and Linux finds no W+X page. (With both in the initial mapping, Linux reported 263
/// W+X pages.)
#[test]
fn debian_12_dom0_large_initrd_layout_as_xen() {
    let Some((kernel, busybox)) = boot_tests::debian_prerequisites() else {
        return;
    };
    let busybox = std::fs::read(&busybox).expect("busybox");
    let initrd = tempfile::NamedTempFile::new().expect("temp file");
    let image =
        initramfs::initramfs_padded(&busybox, InitAction::PowerOff, 64 << 20).expect("initramfs");
    assert!(image.len() >= 64 << 20);
    std::fs::write(initrd.path(), &image).expect("write initramfs");
    let cfg = RunConfig {
        modules: vec![
            ModuleSpec::new(kernel, initramfs::LINUX_DOM0_ARGS),
            ModuleSpec::new(initrd.path(), ""),
        ],
        boot: BootPath::Direct,
        append: "dom0_mem=768M".to_owned(),
        memory_mib: 2048,
        timeout: Some(Duration::from_secs(300)),
        ..RunConfig::default()
    };
    let out = hv_runner::run(&cfg).expect("run QEMU");
    // Xen 4.17.7's lines for this kernel and dom0_mem: no ramdisk line, the P2M at INIT_P2M.
    expect_line(&out, " Phys-Mach map: 0000008000000000->0000008000180000");
    assert!(!out.serial.contains(" Init. ramdisk:"), "the initrd is mapped\n{out}");
    let field = |name: &str| {
        let line = out.serial.lines().find(|l| l.contains(name)).expect(name);
        let end = line.rsplit("->").next().expect("range").trim();
        u64::from_str_radix(end, 16).expect("hex")
    };
    let (kend, total) = (field(" Loaded kernel: "), field(" TOTAL: "));
    assert!(total > kend && total - kend <= 4 << 20, "the mapping ends past the kernel\n{out}");
    expect_guest_line(&out, "Checked W+X mappings: passed");
    expect_guest_line(&out, MARKER);
    assert_eq!(out.status, ExitKind::PowerOff, "expected a clean power-off\n{out}");
}

/// The dom0 toolstack in Linux dom0 (issue 12's first step): the initramfs carries the Xen
/// driver modules of Debian's kernel package and `dom0-tools`' static `xm`; `/init` loads
/// the modules and mounts xenfs, so `/dev/xen` has privcmd, evtchn, gntdev and gntalloc.
/// `xm info` then asks the hypervisor through privcmd (`xen_version`, `sysctl physinfo`,
/// `sched_id`, `cpupool` free CPUs) and prints xm's `key : value` lines; `xm dmesg` prints
/// the hypervisor's console ring.
#[test]
fn debian_12_dom0_runs_xm_info_and_dmesg() {
    let Some(out) = boot_linux(InitAction::Shell, &XM_INFO_SEND) else { return };
    expect_xm_info(&out);
    let lines: Vec<&str> = out.serial.lines().map(str::trim_end).collect();
    for want in [
        "nr_cpus                : 1",
        "xen_major              : 3",
        "xen_scheduler          : credit",
        "xen_commandline        : dom0_mem=512M",
    ] {
        assert!(lines.iter().any(|l| l.ends_with(want)), "no line {want:?}\n{out}");
    }
    let total = lines.iter().find_map(|l| l.strip_prefix("total_memory           : "));
    let total: u64 = total.and_then(|t| t.parse().ok()).unwrap_or(0);
    assert!((900..=1024).contains(&total), "total_memory {total} MiB on a 1 GiB machine\n{out}");
    assert_eq!(out.status, ExitKind::PowerOff, "expected a clean power-off after exit\n{out}");
}

/// Dom0's kernel xenbus served by the project's `xenstored` over dom0's xenstore ring
/// (xenfs's `xsd_kva` and `xsd_port`, an interdomain event channel from dom0 to itself):
/// the kernel writes its `control/feature-*` nodes once the daemon wakes it, and
/// `/dev/xen/xenbus` and `/proc/xen/xenbus` reach the daemon (reads, writes, a watch).
#[test]
fn debian_12_dom0_kernel_xenbus_reaches_xenstored() {
    let Some(out) = boot_linux(InitAction::Shell, &xenbus::XENBUS_SEND) else { return };
    xenbus::expect_kernel_xenbus(&out);
}

/// A domU built from Linux dom0's userland (`xc-build create`: the shared PV domain
/// builder through `xenctrl`'s privcmd glue, foreign frames written through
/// `IOCTL_PRIVCMD_MMAPBATCH_V2` mappings): `pv-hello` from the initramfs runs as d1, its
/// console_io lines (`(d1) ...`, its command line, `Test result: SUCCESS`) appear on the
/// hypervisor's serial, it powers off; dom0 sees the shutdown (`getdomaininfo`), destroys
/// it and finds it gone ([`domu_build::expect_domu_built_from_dom0`]).
#[test]
fn debian_12_dom0_builds_a_domu_from_userland() {
    if boot_tests::debian_prerequisites().is_none() {
        return;
    }
    let initrd = tempfile::NamedTempFile::new().expect("temp file");
    let modules = initramfs::linux_dom0_modules_with(
        InitAction::Shell,
        initrd.path(),
        domu_build::domu_files(),
    )
    .expect("initramfs");
    let cfg = RunConfig {
        modules,
        boot: BootPath::Direct,
        append: initramfs::LINUX_DOM0_APPEND.to_owned(),
        timeout: Some(Duration::from_secs(300)),
        send_after: domu_build::build_send(),
        ..RunConfig::default()
    };
    let out = hv_runner::run(&cfg).expect("run QEMU");
    let domid = domu_build::expect_domu_built_from_dom0(&out);
    let prefix = format!("(d{domid}) ");
    // (A domU line may follow dom0's prompt on the same serial line.)
    let domu: Vec<&str> = out.serial.lines().filter_map(|l| l.get(l.find(&prefix)?..)).collect();
    assert!(
        domu.iter().any(|l| l.contains("cmd_line:") && l.contains(domu_build::DOMU_CMDLINE)),
        "the domU did not print its command line\n{out}"
    );
    assert!(
        domu.iter().any(|l| l.contains("Test result: SUCCESS")),
        "no `{prefix}Test result: SUCCESS`\n{out}"
    );
    assert_eq!(out.status, ExitKind::PowerOff, "expected a clean power-off after exit\n{out}");
}

/// Debian's own kernel (the dom0's vmlinuz, a bzImage) as a domU built from Linux dom0's
/// userland with 128 MiB: its early console lines arrive through `console_io` as
/// `(d<N>) ...` (`Linux version`, its command line, `Booting kernel on Xen`, the Xen event
/// channel ABI, up to [`linux_domu::LINUX_DOMU_LATE_LINE`]); dom0 then sees it alive
/// (`getdomaininfo`: not shut down), destroys it while it runs and finds it gone.
#[test]
fn debian_12_dom0_builds_debian_linux_as_a_domu() {
    let Some((kernel, _)) = boot_tests::debian_prerequisites() else { return };
    let vmlinuz = std::fs::read(&kernel).expect("read vmlinuz");
    let initrd = tempfile::NamedTempFile::new().expect("temp file");
    let modules = initramfs::linux_dom0_modules_with(
        InitAction::Shell,
        initrd.path(),
        vec![(linux_domu::LINUX_DOMU_KERNEL.to_owned(), vmlinuz)],
    )
    .expect("initramfs");
    let cfg = RunConfig {
        modules,
        boot: BootPath::Direct,
        append: initramfs::LINUX_DOM0_APPEND.to_owned(),
        timeout: Some(Duration::from_secs(600)),
        send_after: linux_domu::linux_domu_send(),
        ..RunConfig::default()
    };
    let out = hv_runner::run(&cfg).expect("run QEMU");
    let lines: Vec<&str> = out.serial.lines().map(str::trim_end).collect();
    let domid = domu_build::expect_running_domu_destroyed(&out, 32768);
    let prefix = format!("(d{domid}) ");
    // (A domU line may follow dom0's prompt on the same serial line.)
    let domu: Vec<&str> = lines.iter().filter_map(|l| l.get(l.find(&prefix)?..)).collect();
    for want in [
        "Linux version 6.1",
        "Command line: console=hvc0 earlyprintk=xen",
        "Hypervisor detected: Xen PV",
        "Booting kernel on Xen",
        "xen:events: Using 2-level ABI",
        linux_domu::LINUX_DOMU_LATE_LINE,
    ] {
        assert!(domu.iter().any(|l| l.contains(want)), "no `{prefix}...{want}...` line\n{out}");
    }
    assert_eq!(out.status, ExitKind::PowerOff, "expected a clean power-off after exit\n{out}");
}
