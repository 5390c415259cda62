//! Debian 12's stock kernel as dom0, to a busybox `/init`.
//!
//! Uses the kernel and `busybox-static` that `qemu/fetch-debian` caches (outside the
//! repository; `qemu/test` runs it first). The test builds a gzip'd `newc` initramfs whose
//! `/init` prints a marker, shows what the kernel sees of Xen (`/sys/hypervisor`, `dmesg |
//! grep -i xen`) and powers off; it boots through GRUB with `dom0_mem=512M` and passes when
//! the marker appears and the machine powers off cleanly. Without a cached kernel it is
//! skipped with a message (only when the packages could not be fetched).
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "archive building on our own test data: a panic is a test failure"
)]

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use boot_tests::{BootPath, ExitKind, RunConfig, expect_line};
use hv_runner::ModuleSpec;

/// The line `/init` prints first.
const MARKER: &str = "HV-INIT-MARKER: init running on";

/// The init script.
const INIT: &str = "#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo \"HV-INIT-MARKER: init running on $(uname -r)\"
echo \"hypervisor type: $(cat /sys/hypervisor/type 2>/dev/null)\"
ls /proc/xen 2>/dev/null
dmesg | grep -i xen | head -20
poweroff -f
";

/// The cache `qemu/fetch-debian` fills.
fn cache() -> Option<PathBuf> {
    match std::env::var_os("HV_DEBIAN_CACHE") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|c| c.join("hv-debian")),
    }
}

/// Appends one `newc` cpio entry.
fn cpio_entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) {
    let fields = [ino, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// A gzip'd initramfs with busybox and [`INIT`].
fn initramfs(busybox: &[u8]) -> Vec<u8> {
    let mut cpio = Vec::new();
    let mut ino = 1;
    for dir in ["bin", "proc", "sys", "dev"] {
        cpio_entry(&mut cpio, ino, dir, 0o040_755, &[]);
        ino += 1;
    }
    cpio_entry(&mut cpio, ino, "bin/busybox", 0o100_755, busybox);
    cpio_entry(&mut cpio, ino + 1, "init", 0o100_755, INIT.as_bytes());
    cpio_entry(&mut cpio, 0, "TRAILER!!!", 0, &[]);
    stored_gzip(&cpio)
}

/// gzip with stored (uncompressed) DEFLATE blocks: no compressor needed,
/// and Linux's initramfs unpacker takes it like any gzip stream.
fn stored_gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = c.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn debian_12_dom0_reaches_init_and_powers_off() {
    let Some(dir) = cache() else {
        println!("skipping: no cache directory (HOME unset)");
        return;
    };
    let (kernel, busybox) = (dir.join("vmlinuz"), dir.join("busybox"));
    if !kernel.is_file() || !busybox.is_file() {
        println!(
            "skipping: Debian's kernel and busybox are not cached in {} (qemu/fetch-debian could \
             not fetch them)",
            dir.display()
        );
        return;
    }
    let busybox = std::fs::read(&busybox).expect("read busybox");
    let mut initrd = tempfile::NamedTempFile::new().expect("temp file");
    initrd.write_all(&initramfs(&busybox)).expect("write initramfs");
    let cfg = RunConfig {
        modules: vec![ModuleSpec::new(&kernel, "console=hvc0"), ModuleSpec::new(initrd.path(), "")],
        boot: BootPath::Grub,
        smp: 1,
        append: "dom0_mem=512M".to_owned(),
        timeout: Some(Duration::from_secs(240)),
        ..RunConfig::default()
    };
    let out = hv_runner::run(&cfg).expect("run QEMU");
    expect_line(&out, "bzImage v2.15: XZ payload, ");
    for needle in [MARKER, "hypervisor type: xen"] {
        let found = out.serial.lines().any(|l| !l.starts_with("(XEN)") && l.contains(needle));
        assert!(found, "no guest console line contains {needle:?}\n{out}");
    }
    assert_eq!(out.status, ExitKind::PowerOff, "expected a clean power-off\n{out}");
}
