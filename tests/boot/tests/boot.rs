//! Boot the hypervisor under QEMU and check its console against the contract.
//!
//! Each scenario runs through QEMU's direct Multiboot loader; a representative subset also
//! runs through GRUB. No dom0 kernel is given, so every boot must end in the
//! "no dom0 kernel" panic after setting everything up. Identical boots are shared between
//! tests (see `boot_tests::boot`). Run with `cargo test -p boot-tests -- --test-threads=2`.
//!
//! `big_machine_*` boot `pv-hello` as dom0 on 6 GiB and 64 GiB machines: the per-frame
//! tables must come from memory sized to the machine.

use boot_tests::{
    BootPath, ExitKind, boot, config, expect_line, expect_no_dom0_panic, expect_number_in, line,
    warnings,
};
use hv_runner::ModuleSpec;

/// The default machine: 1 CPU, 1024 MiB, no options.
fn default_boot(path: BootPath) {
    let out = boot(&config(path, "", 1, 1024));
    expect_no_dom0_panic(&out);
    expect_line(&out, "Brought up 1 CPUs");
    expect_line(&out, "Using scheduler: SMP Credit Scheduler (credit)");
    expect_number_in(&out, "System RAM:", 1000, 1024);
    // avail - min(avail / 16, 128 MiB) with avail just under 1024 MiB.
    expect_number_in(&out, "Dom0 memory:", 880, 960);
}

/// Without `noreboot` a panic reboots after five seconds.
fn reboot_after_panic(path: BootPath) {
    let out = boot(&config(path, "", 1, 1024));
    expect_no_dom0_panic(&out);
    expect_line(&out, "Reboot in five seconds");
    assert!(!out.has_line("Manual reset required"), "{out}");
}

/// `noreboot` makes a panic halt instead.
fn noreboot(path: BootPath) {
    let out = boot(&config(path, "noreboot", 1, 1024));
    expect_no_dom0_panic(&out);
    expect_line(&out, "Manual reset required ('noreboot' specified)");
    assert!(!out.has_line("Reboot in five seconds"), "{out}");
}

/// The command line is echoed exactly as given (no image path in front).
fn command_line_echo(path: BootPath) {
    let append = "noreboot dom0_mem=384M sched=credit console_to_ring";
    let out = boot(&config(path, append, 1, 1024));
    expect_no_dom0_panic(&out);
    assert_eq!(line(&out, "Command line:"), format!("Command line: {append}"), "{out}");
}

/// `dom0_mem=256M`: an absolute dom0 size.
fn dom0_mem_absolute(path: BootPath) {
    let out = boot(&config(path, "dom0_mem=256M", 1, 1024));
    expect_no_dom0_panic(&out);
    expect_line(&out, "Dom0 memory: 256 MiB");
}

/// `dom0_mem=-512M`: everything but 512 MiB (of 2 GiB).
fn dom0_mem_negative(path: BootPath) {
    let out = boot(&config(path, "dom0_mem=-512M", 1, 2048));
    expect_no_dom0_panic(&out);
    expect_number_in(&out, "Dom0 memory:", 1450, 1536);
}

/// `dom0_mem=12Q` is malformed: a warning, then the default size.
fn dom0_mem_malformed(path: BootPath) {
    let out = boot(&config(path, "dom0_mem=12Q", 1, 1024));
    expect_no_dom0_panic(&out);
    let warned = out.lines().any(|l| l.contains("WARNING") && l.contains("dom0_mem"));
    assert!(warned, "no WARNING line naming dom0_mem\n{out}");
    expect_line(&out, "Dom0 memory:");
}

/// `sched=sedf` picks the EDF scheduler.
fn sched_sedf(path: BootPath) {
    let out = boot(&config(path, "sched=sedf", 1, 1024));
    expect_no_dom0_panic(&out);
    expect_line(&out, "Using scheduler: Simple EDF Scheduler (sedf)");
}

/// `mem=512M` caps the RAM the hypervisor uses.
fn mem_limit(path: BootPath) {
    let out = boot(&config(path, "mem=512M", 1, 1024));
    expect_no_dom0_panic(&out);
    expect_number_in(&out, "System RAM:", 500, 512);
}

/// Four CPUs are all brought up.
fn smp4(path: BootPath) {
    let out = boot(&config(path, "", 4, 1024));
    expect_no_dom0_panic(&out);
    expect_line(&out, "Brought up 4 CPUs");
}

/// `nosmp` keeps the other three CPUs down.
fn nosmp(path: BootPath) {
    let out = boot(&config(path, "nosmp", 4, 1024));
    expect_no_dom0_panic(&out);
    expect_line(&out, "Brought up 1 CPUs");
}

/// An unknown option is named in a warning and otherwise ignored.
fn unknown_option(path: BootPath) {
    let out = boot(&config(path, "frobnicate=1", 1, 1024));
    expect_no_dom0_panic(&out);
    let warned = out.lines().any(|l| l.contains("WARNING") && l.contains("frobnicate"));
    assert!(warned, "no WARNING line naming frobnicate\n{out}");
    expect_line(&out, "Dom0 memory:");
}

/// `badpage=` frames are reported as excluded from the allocator.
fn badpage(path: BootPath) {
    let out = boot(&config(path, "badpage=0x200,0x201", 1, 1024));
    expect_no_dom0_panic(&out);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("Command line:"))
        .filter(|l| l.contains("badpage") || l.to_ascii_lowercase().contains("bad page"))
        .collect();
    assert!(!lines.is_empty(), "no badpage line\n{out}");
    let text = lines.join("\n");
    let both_named = text.contains("200") && text.contains("201");
    assert!(both_named || text.contains("2 of 2"), "both frames should be reported\n{out}");
}

/// `loglvl=all` prints more than the default log level.
fn loglvl_all(path: BootPath) {
    let out = boot(&config(path, "loglvl=all", 1, 1024));
    let default = boot(&config(path, "", 1, 1024));
    expect_no_dom0_panic(&out);
    let (all, normal) = (out.lines().count(), default.lines().count());
    assert!(all > normal, "loglvl=all printed {all} lines, the default {normal}\n{out}");
}

/// `console_to_ring` is a known option: no warning.
fn console_to_ring(path: BootPath) {
    let out = boot(&config(path, "console_to_ring", 1, 1024));
    let default = boot(&config(path, "", 1, 1024));
    expect_no_dom0_panic(&out);
    let named = warnings(&out).into_iter().any(|l| l.contains("console_to_ring"));
    assert!(!named, "console_to_ring was warned about\n{out}");
    assert!(warnings(&out).len() <= warnings(&default).len(), "extra warnings\n{out}");
}

/// `com1=` reprograms the UART: the settings read back from it are reported.
fn com1_programmed(path: BootPath) {
    let out = boot(&config(path, "com1=57600,8n1,0x3f8,4", 1, 1024));
    expect_no_dom0_panic(&out);
    expect_line(&out, "Serial: com1: I/O base 0x3f8, 57600 baud, 8n1, irq 4");
}

/// `acpi=off` ignores the MADT, so the secondary CPUs are never found.
fn acpi_off(path: BootPath) {
    let out = boot(&config(path, "acpi=off", 4, 1024));
    expect_no_dom0_panic(&out);
    expect_line(&out, "ACPI disabled");
    expect_line(&out, "Brought up 1 CPUs");
}

/// Modules reach the hypervisor in order, with their own command lines (the image path
/// that QEMU's loader puts first is cooked away, as Xen does), and are kept out of the
/// allocator. The "kernel" is not an ELF image, so the dom0 builder refuses it with a
/// clear message and the hypervisor panics (Xen's "Could not set up DOM0 guest OS").
fn modules_passed(path: BootPath) {
    let dir = std::env::temp_dir().join(format!("hv-boot-modules-{}-{path}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (kernel, initrd) = (dir.join("kernel.bin"), dir.join("initrd.bin"));
    std::fs::write(&kernel, vec![0x5a_u8; 12_345]).expect("write module");
    std::fs::write(&initrd, vec![0xa5_u8; 70_000]).expect("write module");
    let mut cfg = config(path, "noreboot dom0_mem=128M", 1, 1024);
    cfg.modules =
        vec![ModuleSpec::new(&kernel, "console=hvc0 root=/dev/ram0"), ModuleSpec::new(&initrd, "")];
    let out = boot(&cfg);
    assert_eq!(out.status, ExitKind::Panic, "{out}");
    let k = line(&out, "Dom0 kernel: module 1");
    assert!(k.contains("(12345 bytes)"), "{out}");
    assert!(k.ends_with("command line \"console=hvc0 root=/dev/ram0\""), "{out}");
    let m = line(&out, "Module 2:");
    assert!(m.ends_with("command line \"\""), "{out}");
    let refused = line(&out, "Could not set up DOM0 guest OS");
    assert!(refused.contains("cannot load the dom0 kernel"), "{out}");
    expect_line(&out, "Dom0 memory: 128 MiB");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One `#[test]` per scenario, booted through `$path`.
macro_rules! scenarios {
    ($path:expr => $($scenario:ident),+ $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                super::$scenario($path);
            }
        )+
    };
}

/// Every scenario through QEMU's direct Multiboot1 loader.
mod direct {
    scenarios!(super::BootPath::Direct =>
        default_boot, reboot_after_panic, noreboot, command_line_echo, dom0_mem_absolute,
        dom0_mem_negative, dom0_mem_malformed, sched_sedf, mem_limit, smp4, nosmp,
        unknown_option, badpage, loglvl_all, console_to_ring, com1_programmed, acpi_off,
        modules_passed,
    );
}

/// A representative subset through GRUB (Multiboot2).
mod grub {
    scenarios!(super::BootPath::Grub =>
        default_boot, reboot_after_panic, command_line_echo, dom0_mem_absolute, smp4,
        modules_passed,
    );
}

/// Boots `pv-hello` as dom0 through QEMU's direct loader on a machine with `memory_mib`
/// MiB and `append`, and returns the run; the per-frame tables (frame table, M2P) scale
/// with that memory and must come from heap memory sized to it, not the static heap.
fn big_machine(memory_mib: u32, append: &str) -> std::sync::Arc<hv_runner::Outcome> {
    let kernel = hv_runner::pv_test_kernel("hello").expect("build pv-hello");
    let mut cfg = config(BootPath::Direct, append, 1, memory_mib);
    cfg.modules = vec![ModuleSpec::new(kernel, "")];
    boot(&cfg)
}

#[track_caller]
fn expect_pv_hello_success(out: &hv_runner::Outcome) {
    let ok = out.serial.lines().any(|l| l.contains("Test result: SUCCESS"));
    assert!(ok, "no 'Test result: SUCCESS'\n{out}");
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
}

/// 6 GiB: the frame table alone (36 MiB for RAM up to 7 GiB, past QEMU's PCI hole) is more
/// than the static heap holds. Dom0 gets 1 GiB: zeroing the default (all but 128 MiB)
/// takes TCG 10-30 s, depending on the host's load, and tests nothing more here
/// (`qemu/run --demo --boot direct --memory 6144` boots that).
#[test]
fn big_machine_6g_boots_dom0() {
    let out = big_machine(6144, "dom0_mem=1G");
    expect_number_in(&out, "System RAM:", 6100, 6144);
    expect_line(&out, "Dom0 memory: 1024 MiB");
    expect_pv_hello_success(&out);
    if let Some(t) = out.line_time("Starting dom0") {
        eprintln!("big_machine_6g_boots_dom0: 'Starting dom0' after {:.3} s", t.as_secs_f64());
    }
}

/// 64 GiB (QEMU allocates it lazily; dom0 gets 512 MiB so that only the per-frame tables
/// touch memory): 340 MiB of frame table and a 136 MiB M2P, both above 4 GiB.
#[test]
fn big_machine_64g_boots_dom0() {
    let out = big_machine(65536, "dom0_mem=512M");
    expect_number_in(&out, "System RAM:", 65000, 65536);
    expect_line(&out, "Dom0 memory: 512 MiB");
    expect_line(&out, "Starting dom0");
    expect_pv_hello_success(&out);
    if let Some(t) = out.line_time("Starting dom0") {
        eprintln!("big_machine_64g_boots_dom0: 'Starting dom0' after {:.3} s", t.as_secs_f64());
    }
}
