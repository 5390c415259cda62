//! Boot every PV test kernel of `tests/pv` as dom0 and check its result line.
//!
//! Each kernel (`target/x86_64-xen/release/pv-<name>`, built once per process by
//! `hv_runner::pv_test_kernel`) is module 1 of a 1-CPU boot (2 CPUs for `pv-smp`, which
//! is also booted once with 1 CPU and must then report SKIP) through GRUB and through
//! QEMU's direct Multiboot loader. A boot passes when the serial output has a line containing
//! `Test result: SUCCESS` and the run ended in a power-off (the kernel's
//! `SCHEDOP_shutdown(poweroff)`). Failures print the end of the serial log.
//!
//! Without QEMU, `elf_notes` checks that the hypervisor's own PV ELF loader
//! (`hv_core::libelf`) accepts every kernel with the layout `tests/pv/guest.ld` promises.
//!
//! To add a kernel, create `tests/pv/src/bin/pv-<name>.rs` and add one line to the
//! `pv_kernels!` list below, or to [`ELSEWHERE`] when another file boots it
//! (`kernel_list_matches_the_sources` checks the lists and the sources agree).
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    reason = "image checks on our own build output: a panic is a test failure"
)]

use std::path::PathBuf;
use std::time::Duration;

use boot_tests::{BootPath, ExitKind, Outcome, RunConfig};
use hv_core::libelf::{self, ElfDomParms, NoteSource, PaeMode};
use hv_runner::ModuleSpec;
use xmas_elf::ElfFile;
use xmas_elf::sections::SectionData;
use xmas_elf::symbol_table::Entry;

/// Generates, for each `module => "name"` (booted with one CPU, or with `smp N` CPUs), a
/// module with one boot test per boot path, and the list [`KERNELS`] of all names.
macro_rules! pv_kernels {
    (@smp) => { 1 };
    (@smp $smp:literal) => { $smp };
    ($($module:ident => $name:literal $(smp $smp:literal)?,)+) => {
        /// Every PV test kernel, by name (`hello` is `pv-hello`).
        const KERNELS: &[&str] = &[$($name),+];

        $(
            #[doc = concat!("Boots `pv-", $name, "`.")]
            mod $module {
                /// CPUs of the boots.
                const SMP: u32 = pv_kernels!(@smp $($smp)?);

                #[test]
                fn grub() {
                    super::boot_kernel($name, super::BootPath::Grub, SMP);
                }

                #[test]
                fn direct() {
                    super::boot_kernel($name, super::BootPath::Direct, SMP);
                }
            }
        )+
    };
}

pv_kernels! {
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

/// Kernels booted by other test files, not as a lone dom0 here: `toolstack` needs domU
/// images in its initrd, `crash` and `triple-fault` crash their domain on purpose,
/// `heartbeat` is what the toolstack pauses, `fuzz` feeds garbage to the hypercalls
/// beside a healthy neighbour, `pingpong` needs a peer domU (all in `tests/domu.rs`), `spin`
/// is the scheduler bench's domU (`tests/sched_bench.rs`), `grant` grants its pages to the
/// toolstack (`tests/domu/grant.rs`). Their images are checked like the others.
const ELSEWHERE: &[&str] = &[
    "toolstack",
    "crash",
    "triple-fault",
    "heartbeat",
    "fuzz",
    "pingpong",
    "spin",
    "grant",
    "rings",
    "attack",
    "grant2",
];

/// Per-boot timeout: generous, TCG boots through GRUB take a while.
const PV_TIMEOUT: Duration = Duration::from_secs(60);

/// The line every test kernel ends with.
const RESULT_PREFIX: &str = "Test result: ";

/// Serial lines shown when a boot fails.
const TAIL_LINES: usize = 60;

/// `VIRT_BASE` and `PADDR_OFFSET` of every kernel (`tests/pv/src/entry.rs`).
const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;

/// Where `guest.ld` links `_start`: 1 MiB above `VIRT_BASE`.
const ENTRY: u64 = 0xFFFF_FFFF_8010_0000;

/// Where `guest.ld` puts the hypercall page: the page after `_start`.
const HYPERCALL_PAGE: u64 = ENTRY + 0x1000;

/// The built kernel `name`; panics with the build error.
fn kernel(name: &str) -> PathBuf {
    match hv_runner::pv_test_kernel(name) {
        Ok(path) => path,
        Err(e) => panic!("cannot build PV test kernel {name:?}: {e:#}"),
    }
}

/// The status word of the last `Test result:` line of the serial output.
fn test_result(serial: &str) -> Option<&str> {
    serial.lines().rev().find_map(|line| {
        let (_, rest) = line.split_once(RESULT_PREFIX)?;
        Some(rest.split_whitespace().next().unwrap_or(""))
    })
}

/// Boots `pv-<name>` as dom0 through `path` with `smp` CPUs and requires SUCCESS and a
/// power-off.
fn boot_kernel(name: &str, path: BootPath, smp: u32) {
    boot_kernel_expecting(name, path, smp, "SUCCESS");
}

/// Boots `pv-<name>` as dom0 through `path` with `smp` CPUs and requires the result
/// `expected` and a power-off.
fn boot_kernel_expecting(name: &str, path: BootPath, smp: u32, expected: &str) {
    let cfg = RunConfig {
        modules: vec![ModuleSpec::new(kernel(name), "")],
        boot: path,
        smp,
        timeout: Some(PV_TIMEOUT),
        ..RunConfig::default()
    };
    let out = match hv_runner::run(&cfg) {
        Ok(out) => out,
        Err(e) => panic!("cannot boot pv-{name} through {path}: {e:#}"),
    };
    let result = test_result(&out.serial);
    if result == Some(expected) && out.status == ExitKind::PowerOff {
        return;
    }
    panic!("{}", failure_report(name, path, expected, result, &out));
}

/// `pv-usermode` with dom0 on two vCPUs: guest-user mode at virtual IOPL 3
/// (`VMASST_TYPE_architectural_iopl`) must behave as with one.
#[test]
fn usermode_on_two_cpus() {
    boot_kernel("usermode", BootPath::Direct, 2);
}

/// `pv-smp` on one CPU finds no vCPU 1 and reports SKIP rather than a failure.
#[test]
fn smp_on_one_cpu_skips() {
    boot_kernel_expecting("smp", BootPath::Direct, 1, "SKIP");
}

/// What went wrong with a boot, with the end of its serial log.
fn failure_report(
    name: &str,
    path: BootPath,
    expected: &str,
    result: Option<&str>,
    out: &Outcome,
) -> String {
    let result = match result {
        Some(word) => format!("`{RESULT_PREFIX}{word}`"),
        None => format!("no `{RESULT_PREFIX}` line"),
    };
    let lines: Vec<&str> = out.serial.lines().collect();
    let tail = lines.get(lines.len().saturating_sub(TAIL_LINES)..).unwrap_or(&lines);
    let mut report = format!(
        "pv-{name} through {path}: expected `{RESULT_PREFIX}{expected}` and a power-off, got \
         {result} and {}: {} (QEMU status {}, {:.1} s)\ncommand: {}\n",
        out.status,
        out.reason,
        out.exit_code,
        out.elapsed.as_secs_f64(),
        out.command
    );
    if !out.qemu_stderr.trim().is_empty() {
        report.push_str(&format!("QEMU stderr:\n{}\n", out.qemu_stderr.trim_end()));
    }
    report.push_str(&format!("last {} of {} serial lines:\n", tail.len(), lines.len()));
    for line in tail {
        report.push_str(line);
        report.push('\n');
    }
    report
}

/// The address of symbol `name` in `elf`.
fn symbol(elf: &ElfFile<'_>, name: &str) -> u64 {
    let Some(symtab) = elf.find_section_by_name(".symtab") else { panic!("no .symtab") };
    let Ok(SectionData::SymbolTable64(symbols)) = symtab.get_data(elf) else {
        panic!(".symtab is not an ELF64 symbol table")
    };
    match symbols.iter().find(|sym| sym.get_name(elf) == Ok(name)) {
        Some(sym) => sym.value(),
        None => panic!("no symbol {name}"),
    }
}

/// Checks one kernel image against `guest.ld` and the notes of `tests/pv/src/entry.rs`.
fn check_image(name: &str, bytes: &[u8]) {
    // The loader needs an 8-byte aligned image, as boot modules are page aligned.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    let image = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()];
    image.copy_from_slice(bytes);
    let image = &*image;

    let parms: ElfDomParms = match libelf::parse(image) {
        Ok(parms) => parms,
        Err(e) => panic!("hv_core::libelf refuses pv-{name}: {e:?}"),
    };
    let elf = match ElfFile::new(image) {
        Ok(elf) => elf,
        Err(e) => panic!("pv-{name}: {e}"),
    };
    let ctx = format!("pv-{name}: {parms:#x?}");
    assert_eq!(parms.source, NoteSource::Segment, "{ctx}");
    assert_eq!(parms.warnings, Vec::<String>::new(), "{ctx}");
    assert_eq!((parms.virt_base, parms.elf_paddr_offset), (VIRT_BASE, VIRT_BASE), "{ctx}");
    assert_eq!(parms.virt_offset(), 0, "segments load at p_paddr: {ctx}");
    assert_eq!(parms.guest_os, "PV-TESTS", "{ctx}");
    assert_eq!(parms.guest_ver, "0", "{ctx}");
    assert_eq!(parms.loader, "generic", "{ctx}");
    assert_eq!(parms.xen_ver, "xen-3.0", "{ctx}");
    assert_eq!(parms.pae, PaeMode::ExtendedCr3, "PAE_MODE \"yes\": {ctx}");
    assert!(parms.requires(libelf::feature_bit("writable_page_tables").unwrap_or(u32::MAX)));
    assert!(parms.supports(libelf::feature_bit("pae_pgdir_above_4gb").unwrap_or(u32::MAX)));
    assert!(!parms.supported_features_note && parms.dom0_capable(), "{ctx}");

    let entry = symbol(&elf, "_start");
    let hypercall_page = symbol(&elf, "hypercall_page");
    assert_eq!((entry, hypercall_page), (ENTRY, HYPERCALL_PAGE), "guest.ld layout: {ctx}");
    assert_eq!(parms.virt_entry, entry, "ENTRY note: {ctx}");
    assert_eq!(elf.header.pt2.entry_point(), entry, "e_entry: {ctx}");
    assert_eq!(parms.virt_hypercall, Some(hypercall_page), "HYPERCALL_PAGE note: {ctx}");
    assert_eq!(hypercall_page % 4096, 0, "hypercall page alignment: {ctx}");

    // One loadable segment, vaddr == paddr, holding the entry point and the whole
    // hypercall page, whose bytes are still the `ret` fill.
    assert_eq!(parms.segments.len(), 1, "{ctx}");
    let seg = parms.segments[0];
    assert_eq!((seg.vaddr, seg.paddr), (ENTRY, ENTRY), "{ctx}");
    assert_eq!((parms.virt_kstart, parms.virt_kend), (seg.paddr, seg.paddr + seg.memsz), "{ctx}");
    assert!(entry >= seg.paddr && entry < seg.paddr + seg.filesz, "{ctx}");
    assert!(hypercall_page + 4096 <= seg.paddr + seg.filesz, "{ctx}");
    let offset = usize::try_from(seg.file_offset + (hypercall_page - seg.paddr)).unwrap_or(0);
    let page = &image[offset..offset + 4096];
    assert!(page.iter().all(|&b| b == 0xc3), "hypercall page not filled with ret: pv-{name}");
}

/// The hypervisor's PV ELF loader accepts every kernel, with the expected notes and layout.
#[test]
fn elf_notes() {
    for name in KERNELS.iter().chain(ELSEWHERE) {
        let path = kernel(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => panic!("reading {}: {e}", path.display()),
        };
        check_image(name, &bytes);
    }
}

/// [`KERNELS`] and [`ELSEWHERE`] list exactly the kernels in `tests/pv/src/bin` (`pv-<name>.rs`).
#[test]
fn kernel_list_matches_the_sources() {
    let dir = hv_runner::repo_root().join("tests/pv/src/bin");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => panic!("reading {}: {e}", dir.display()),
    };
    let mut found: Vec<String> = entries
        .filter_map(|entry| {
            let file = entry.ok()?.file_name().into_string().ok()?;
            Some(file.strip_prefix("pv-")?.strip_suffix(".rs")?.to_owned())
        })
        .collect();
    found.sort();
    let mut listed: Vec<String> =
        KERNELS.iter().chain(ELSEWHERE).map(|&name| name.to_owned()).collect();
    listed.sort();
    assert_eq!(
        listed,
        found,
        "the pv_kernels! list in tests/boot/tests/pv.rs vs {}",
        dir.display()
    );
}

#[test]
fn result_lines() {
    assert_eq!(test_result("x\nTest result: SUCCESS\r\n"), Some("SUCCESS"));
    assert_eq!(test_result("(d0) Test result: FAILURE\nTest result: SUCCESS"), Some("SUCCESS"));
    assert_eq!(test_result("(XEN) Test result: ERROR"), Some("ERROR"));
    assert_eq!(test_result("Test did not report a status"), None);
}
