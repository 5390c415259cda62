//! Boot bzImage kernels as dom0: the hypervisor must unwrap them as Xen does.
//!
//! `pv_hello_*` wrap the PV test kernel `pv-hello` in a synthetic bzImage (a Linux boot
//! protocol 2.15 setup header around an XZ payload with the x86 BCJ filter, or a gzip one)
//! and expect the decompression line and `pv-hello`'s `Test result: SUCCESS` and power-off.
//!
//! `debian_12_vmlinuz` boots Debian 12's real `vmlinuz` when `qemu/fetch-debian` has cached
//! it (otherwise a `SKIP:` line, or a failure under `CI=true`) and checks the hypervisor's side only: the bzImage
//! line, dom0 started, and Linux's first console line. How far Linux gets beyond that is up
//! to the rest of the hypervisor.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "image building on our own test data: a panic is a test failure"
)]

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use boot_tests::{BootPath, ExitKind, Outcome, RunConfig, expect_line};
use hv_runner::ModuleSpec;
use lzma_rust2::{CheckType, FilterType, XzOptions, XzWriter};

/// Setup sectors of the synthetic image, as in Debian's kernel.
const SETUP_SECTS: u8 = 39;
/// Bytes between the protected-mode code and the payload.
const STUB: usize = 0x2cc;

/// A bzImage around `payload` (already compressed, size appended when compressed).
fn bzimage(payload: &[u8]) -> Vec<u8> {
    let pm = (usize::from(SETUP_SECTS) + 1) * 512;
    let mut image = vec![0u8; pm + STUB];
    image[0x1f1] = SETUP_SECTS;
    image[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
    image[0x202..0x206].copy_from_slice(b"HdrS");
    image[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    image[0x248..0x24c].copy_from_slice(&(STUB as u32).to_le_bytes());
    image[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    image.extend_from_slice(payload);
    image
}

/// `elf` as Linux's x86 XZ payload: BCJ + LZMA2, CRC-32 check, size appended.
fn xz_payload(elf: &[u8]) -> Vec<u8> {
    let mut opts = XzOptions::with_preset(6);
    opts.lzma_options.dict_size = 1 << 20;
    opts.set_check_sum_type(CheckType::Crc32);
    opts.prepend_pre_filter(FilterType::BcjX86, 0);
    let mut w = XzWriter::new(Vec::new(), opts).expect("XZ encoder");
    w.write_all(elf).expect("XZ encoding");
    let mut out = w.finish().expect("XZ encoding");
    out.extend_from_slice(&(elf.len() as u32).to_le_bytes());
    out
}

/// `elf` as a gzip member (its trailer ends in the size, as Linux's gzip payloads do).
fn gzip_payload(elf: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3];
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(elf, 9));
    out.extend_from_slice(&hv_runner::initramfs::crc32(elf).to_le_bytes());
    out.extend_from_slice(&(elf.len() as u32).to_le_bytes());
    out
}

/// Writes `image` to a file that lives as long as the returned guard.
fn temp_image(image: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().prefix("bzimage-").tempfile().expect("temp file");
    file.write_all(image).expect("write bzImage");
    file
}

fn run(module: &Path, args: &str, path: BootPath, append: &str, timeout: u64) -> Outcome {
    let cfg = RunConfig {
        modules: vec![ModuleSpec::new(module, args)],
        boot: path,
        smp: 1,
        append: append.to_owned(),
        timeout: Some(Duration::from_secs(timeout)),
        ..RunConfig::default()
    };
    match hv_runner::run(&cfg) {
        Ok(out) => out,
        Err(e) => panic!("cannot boot {} through {path}: {e:#}", module.display()),
    }
}

/// Asserts that a line of the guest's own console output (no `(XEN)`) contains `needle`.
#[track_caller]
fn expect_guest_line(out: &Outcome, needle: &str) {
    let found = out.serial.lines().any(|l| !l.starts_with("(XEN)") && l.contains(needle));
    assert!(found, "no guest console line contains {needle:?}\n{out}");
}

/// Boots `pv-hello` wrapped by `wrap` and expects it to pass.
fn boot_wrapped_pv_hello(wrap: fn(&[u8]) -> Vec<u8>, format: &str, path: BootPath) {
    let kernel = match hv_runner::pv_test_kernel("hello") {
        Ok(kernel) => kernel,
        Err(e) => panic!("cannot build pv-hello: {e:#}"),
    };
    let elf = std::fs::read(&kernel).expect("read pv-hello");
    let file = temp_image(&bzimage(&wrap(&elf)));
    let out = run(file.path(), "", path, "", 60);
    expect_line(&out, &format!("bzImage v2.15: {format} payload, "));
    expect_line(&out, &format!("bytes -> {} bytes ELF", elf.len()));
    expect_guest_line(&out, "Test result: SUCCESS");
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
}

#[test]
fn pv_hello_xz_bcj_direct() {
    boot_wrapped_pv_hello(xz_payload, "XZ", BootPath::Direct);
}

#[test]
fn pv_hello_xz_bcj_grub() {
    boot_wrapped_pv_hello(xz_payload, "XZ", BootPath::Grub);
}

#[test]
fn pv_hello_gzip_direct() {
    boot_wrapped_pv_hello(gzip_payload, "gzip", BootPath::Direct);
}

#[test]
fn debian_12_vmlinuz() {
    let Some((kernel, _)) = boot_tests::debian_prerequisites() else { return };
    let out = run(&kernel, "console=hvc0 earlyprintk=xen", BootPath::Direct, "dom0_mem=512M", 45);
    expect_line(&out, "bzImage v2.15: XZ payload, ");
    expect_line(&out, "ELF: GUEST_OS=\"linux\"");
    expect_line(&out, "Starting dom0:");
    // Linux's first words, through console_io, from xen_start_kernel.
    expect_guest_line(&out, "about to get started...");
}
