// SPDX-License-Identifier: GPL-2.0-only
//! The real thing: Debian 12's `vmlinuz` (bzImage, XZ + x86 BCJ payload),
//! when `qemu/fetch-debian` has cached it; if not, skipped with a `SKIP:`
//! line, or failed under `CI=true` (`crate::test_prereq`).
//!
//! The kernel is looked up as `$HV_DEBIAN_CACHE/vmlinuz`, else
//! `${XDG_CACHE_HOME:-$HOME/.cache}/hv-debian/vmlinuz`, the symlink the
//! script leaves. The decompressed ELF must parse with `libelf` and carry
//! the Xen notes of a 64-bit PV dom0 kernel: GUEST_OS "linux", an entry
//! inside the image, and a hypercall page inside it when the note exists.

use std::string::String;

use super::*;
use crate as libelf;

#[test]
fn debian_12_vmlinuz_unwraps_to_a_xen_pv_elf() {
    let Some(path) = crate::test_prereq::debian_kernel() else { return };
    let image = std::fs::read(&path).unwrap();
    let bz = parse(&image).unwrap();
    assert_eq!(bz.compression, Compression::Xz, "{}", path.display());
    assert!(bz.version >= 0x020f, "boot protocol {:#x}", bz.version);
    let (out_len, dict) = bz.sizes(MAX_OUTPUT).unwrap();
    let (_, elf) = decompress(&image, MAX_OUTPUT).unwrap();
    assert_eq!(elf.len(), out_len);
    println!(
        "{}: protocol {}.{:02}, setup_sects {}, payload at {:#x}: {} {} bytes -> {} bytes ELF \
         (dictionary {} MiB)",
        path.display(),
        bz.version >> 8,
        bz.version & 0xff,
        bz.setup_sects,
        bz.payload_offset,
        bz.compression.name(),
        bz.payload.len(),
        elf.len(),
        dict >> 20
    );
    assert_eq!(elf.bytes().get(..4), Some(&b"\x7fELF"[..]));
    let parms = libelf::parse(elf.bytes()).unwrap_or_else(|e| panic!("libelf: {e}"));
    assert_eq!(parms.guest_os, String::from("linux"));
    assert_eq!(parms.xen_ver, String::from("xen-3.0"));
    assert!(parms.dom0_capable());
    assert_eq!(parms.virt_base, 0xffff_ffff_8000_0000);
    assert!(
        (parms.virt_kstart..parms.virt_kend).contains(&parms.virt_entry),
        "entry {:#x} outside {:#x}..{:#x}",
        parms.virt_entry,
        parms.virt_kstart,
        parms.virt_kend
    );
    // Debian's 6.1.192 has no HYPERCALL_PAGE note: kernels with Linux's
    // XSA-466 change issue `syscall` themselves. Older ones have one.
    let hypercall = match parms.virt_hypercall {
        Some(page) => {
            assert!(page.is_multiple_of(4096), "hypercall page {page:#x}");
            assert!((parms.virt_kstart..parms.virt_kend).contains(&page));
            alloc::format!("{page:#x}")
        }
        None => String::from("none (direct syscall hypercalls)"),
    };
    println!(
        "ELF: GUEST_OS=\"{}\" GUEST_VERSION=\"{}\" XEN_VERSION=\"{}\" VIRT_BASE={:#x} \
         ENTRY={:#x} HYPERCALL_PAGE={hypercall} kernel {:#x}..{:#x}",
        parms.guest_os,
        parms.guest_ver,
        parms.xen_ver,
        parms.virt_base,
        parms.virt_entry,
        parms.virt_kstart,
        parms.virt_kend
    );
}
