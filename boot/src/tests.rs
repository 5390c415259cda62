//! Host tests: real Multiboot 1 / Multiboot 2 structures built byte by byte
//! (as QEMU and GRUB lay them out) in a fake physical memory.
#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use crate::*;
use alloc::string::ToString;
use alloc::vec;

// ---------------------------------------------------------------------------
// Fake physical memory.
// ---------------------------------------------------------------------------

/// Sparse physical memory: a list of readable `(base, bytes)` regions.
struct FakeMem {
    regions: Vec<(u64, Vec<u8>)>,
}

impl FakeMem {
    /// One zeroed readable region `[base, base + len)`.
    fn new(base: u64, len: usize) -> Self {
        Self { regions: vec![(base, vec![0; len])] }
    }

    fn add_region(&mut self, base: u64, len: usize) {
        self.regions.push((base, vec![0; len]));
    }

    fn write(&mut self, paddr: u64, bytes: &[u8]) {
        for (base, data) in &mut self.regions {
            if paddr >= *base && paddr + bytes.len() as u64 <= *base + data.len() as u64 {
                let off = (paddr - *base) as usize;
                data[off..off + bytes.len()].copy_from_slice(bytes);
                return;
            }
        }
        panic!("test bug: write outside fake memory at {paddr:#x}");
    }

    fn u32(&mut self, paddr: u64, v: u32) {
        self.write(paddr, &v.to_le_bytes());
    }

    fn u64(&mut self, paddr: u64, v: u64) {
        self.write(paddr, &v.to_le_bytes());
    }

    fn cstr(&mut self, paddr: u64, s: &str) {
        self.write(paddr, s.as_bytes());
        self.write(paddr + s.len() as u64, &[0]);
    }
}

impl PhysMemory for FakeMem {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> Result<(), BootError> {
        let end = paddr.checked_add(buf.len() as u64).ok_or(BootError::Unreadable { paddr })?;
        for (base, data) in &self.regions {
            if paddr >= *base && end <= *base + data.len() as u64 {
                let off = (paddr - *base) as usize;
                buf.copy_from_slice(&data[off..off + buf.len()]);
                return Ok(());
            }
        }
        Err(BootError::Unreadable { paddr })
    }
}

fn malformed(r: Result<BootInfo, BootError>) -> &'static str {
    match r {
        Err(BootError::Malformed(why)) => why,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn ram(addr: u64, size: u64) -> MemoryRegion {
    MemoryRegion { addr, size, kind: 1 }
}

fn reg(addr: u64, size: u64, kind: u32) -> MemoryRegion {
    MemoryRegion { addr, size, kind }
}

// ---------------------------------------------------------------------------
// Multiboot 1, laid out as QEMU's `-kernel` loader (hw/i386/multiboot.c and
// the multiboot option ROM) does: e820 map at 0x9000, the 88-byte MBI at
// 0x9500, module list / command lines / loader name after the kernel image.
// ---------------------------------------------------------------------------

const MB1_INFO: u64 = 0x9500;
const MB1_MMAP: u64 = 0x9000;
const MB1_MODS: u64 = 0x10_8000;
const MB1_CMDLINE: u64 = 0x10_8020;
const MB1_MOD0_STR: u64 = 0x10_8060;
const MB1_MOD1_STR: u64 = 0x10_8090;
const MB1_LOADER: u64 = 0x10_80b0;

const MB1_FLAGS_QEMU: u32 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9);
const XEN_CMDLINE: &str = "/build/xen.elf console=com1 dom0_mem=512M loglvl=all";

/// SeaBIOS-style e820 map for a 128 MiB guest.
fn qemu_e820() -> Vec<MemoryRegion> {
    vec![
        reg(0, 0x9_fc00, 1),
        reg(0x9_fc00, 0x400, 2),
        reg(0xf_0000, 0x1_0000, 2),
        reg(0x10_0000, 0x7ee_0000, 1),
        reg(0x7fe_0000, 0x2_0000, 2),
        reg(0xfffc_0000, 0x4_0000, 2),
    ]
}

/// Write MB1 mmap entries (`size` = 20 as QEMU does) at `at`; returns
/// `mmap_length`.
fn put_mb1_mmap(m: &mut FakeMem, at: u64, regions: &[MemoryRegion], entry_size: u32) -> u32 {
    let mut cur = at;
    for r in regions {
        m.u32(cur, entry_size);
        m.u64(cur + 4, r.addr);
        m.u64(cur + 12, r.size);
        m.u32(cur + 20, r.kind);
        cur += 4 + u64::from(entry_size);
    }
    (cur - at) as u32
}

fn qemu_mb1() -> FakeMem {
    let mut m = FakeMem::new(0, 0x20_0000);
    let mmap_len = put_mb1_mmap(&mut m, MB1_MMAP, &qemu_e820(), 20);
    m.u32(MB1_INFO, MB1_FLAGS_QEMU);
    m.u32(MB1_INFO + 4, 639); // mem_lower
    m.u32(MB1_INFO + 8, 130_944); // mem_upper
    m.u32(MB1_INFO + 12, 0x8000_ffff); // boot_device
    m.u32(MB1_INFO + 16, MB1_CMDLINE as u32);
    m.u32(MB1_INFO + 20, 2); // mods_count
    m.u32(MB1_INFO + 24, MB1_MODS as u32);
    m.u32(MB1_INFO + 44, mmap_len);
    m.u32(MB1_INFO + 48, MB1_MMAP as u32);
    m.u32(MB1_INFO + 64, MB1_LOADER as u32);
    // Module list.
    m.u32(MB1_MODS, 0x10_a000);
    m.u32(MB1_MODS + 4, 0x10_a000 + 0x1234);
    m.u32(MB1_MODS + 8, MB1_MOD0_STR as u32);
    m.u32(MB1_MODS + 16, 0x10_c000);
    m.u32(MB1_MODS + 20, 0x10_c100);
    m.u32(MB1_MODS + 24, MB1_MOD1_STR as u32);
    m.cstr(MB1_CMDLINE, XEN_CMDLINE);
    m.cstr(MB1_MOD0_STR, "/boot/vmlinuz console=hvc0");
    m.cstr(MB1_MOD1_STR, "/boot/initrd.img");
    m.cstr(MB1_LOADER, "qemu");
    m
}

#[test]
fn mb1_qemu_full() {
    let m = qemu_mb1();
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    let expected = BootInfo {
        protocol: Protocol::Multiboot1,
        loader_name: Some("qemu".to_string()),
        cmdline: XEN_CMDLINE.to_string(),
        memory_map: qemu_e820(),
        modules: vec![
            Module {
                start: 0x10_a000,
                end: 0x10_b234,
                cmdline: "/boot/vmlinuz console=hvc0".to_string(),
            },
            Module { start: 0x10_c000, end: 0x10_c100, cmdline: "/boot/initrd.img".to_string() },
        ],
        acpi: None,
        info_range: (MB1_INFO, MB1_INFO + 120),
        extra_reserved: vec![
            (MB1_CMDLINE, MB1_CMDLINE + XEN_CMDLINE.len() as u64 + 1),
            (MB1_LOADER, MB1_LOADER + 5),
            (MB1_MODS, MB1_MODS + 32),
            (MB1_MOD0_STR, MB1_MOD0_STR + 27),
            (MB1_MOD1_STR, MB1_MOD1_STR + 17),
            (MB1_MMAP, MB1_MMAP + 6 * 24),
        ],
    };
    assert_eq!(bi, expected);
}

#[test]
fn mb1_meminfo_only_synthesises_map() {
    let mut m = FakeMem::new(0, 0x1_0000);
    m.u32(MB1_INFO, 1 << 0);
    m.u32(MB1_INFO + 4, 639);
    m.u32(MB1_INFO + 8, 0x1_fc00); // 127 MiB
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.memory_map, vec![ram(0, 639 * 1024), ram(0x10_0000, 0x1_fc00 * 1024)]);
    assert!(bi.modules.is_empty());
    assert!(bi.extra_reserved.is_empty());
    assert_eq!(bi.cmdline, "");
    assert_eq!(bi.loader_name, None);
}

#[test]
fn mb1_mem_lower_clamped_and_zero_regions_dropped() {
    let mut m = FakeMem::new(0, 0x1_0000);
    m.u32(MB1_INFO, 1 << 0);
    m.u32(MB1_INFO + 4, 0xffff_ffff);
    m.u32(MB1_INFO + 8, 0);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.memory_map, vec![ram(0, 0xa_0000)]);
}

#[test]
fn mb1_no_flags_gives_empty_info() {
    let mut m = qemu_mb1();
    m.u32(MB1_INFO, 0);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.protocol, Protocol::Multiboot1);
    assert_eq!(bi.cmdline, "");
    assert_eq!(bi.loader_name, None);
    assert!(bi.memory_map.is_empty() && bi.modules.is_empty() && bi.extra_reserved.is_empty());
    assert_eq!(bi.info_range, (MB1_INFO, MB1_INFO + MB1_INFO_SIZE));
}

#[test]
fn mb1_mmap_preferred_over_meminfo() {
    let m = qemu_mb1();
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.memory_map.len(), 6);
    assert_eq!(bi.memory_map[3], ram(0x10_0000, 0x7ee_0000));
}

#[test]
fn mb1_empty_mmap_falls_back_to_meminfo() {
    let mut m = qemu_mb1();
    m.u32(MB1_INFO + 44, 0);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.memory_map, vec![ram(0, 639 * 1024), ram(0x10_0000, 130_944 * 1024)]);
    assert!(!bi.extra_reserved.iter().any(|r| r.0 == MB1_MMAP));
}

#[test]
fn mb1_mmap_entry_size_zero_is_error() {
    let mut m = qemu_mb1();
    m.u32(MB1_MMAP + 24, 0); // second entry's size
    assert!(malformed(parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m)).contains("size"));
}

#[test]
fn mb1_mmap_larger_entry_stride() {
    let mut m = qemu_mb1();
    let len = put_mb1_mmap(&mut m, MB1_MMAP, &qemu_e820(), 28);
    m.u32(MB1_INFO + 44, len);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.memory_map, qemu_e820());
    assert!(bi.extra_reserved.contains(&(MB1_MMAP, MB1_MMAP + 6 * 32)));
}

#[test]
fn mb1_mmap_entry_running_past_length_is_error() {
    let mut m = qemu_mb1();
    m.u32(MB1_INFO + 44, 6 * 24 - 4);
    malformed(parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m));
}

#[test]
fn mb1_mmap_zero_length_and_overflowing_entries_skipped() {
    let mut m = qemu_mb1();
    let regions = [
        reg(0, 0x9_fc00, 1),
        reg(0x5000_0000, 0, 1),
        reg(u64::MAX - 0xfff, 0x2000, 1),
        reg(0x10_0000, 0x100_0000, 1),
    ];
    let len = put_mb1_mmap(&mut m, MB1_MMAP, &regions, 20);
    m.u32(MB1_INFO + 44, len);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.memory_map, vec![ram(0, 0x9_fc00), ram(0x10_0000, 0x100_0000)]);
}

#[test]
fn mb1_too_many_mmap_entries_is_error() {
    let mut m = FakeMem::new(0, 0x20_0000);
    let regions: Vec<_> = (0..513u64).map(|i| ram(i * 0x1000, 0x1000)).collect();
    let len = put_mb1_mmap(&mut m, 0x1_0000, &regions, 20);
    m.u32(MB1_INFO, 1 << 6);
    m.u32(MB1_INFO + 44, len);
    m.u32(MB1_INFO + 48, 0x1_0000);
    assert!(malformed(parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m)).contains("too many"));

    // Exactly the cap is fine.
    m.u32(MB1_INFO + 44, len - 24);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.memory_map.len(), MAX_MMAP_ENTRIES);
}

#[test]
fn mb1_absurd_mmap_length_never_panics() {
    let mut m = qemu_mb1();
    m.u32(MB1_INFO + 44, u32::MAX);
    m.u32(MB1_INFO + 48, u32::MAX);
    assert!(parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).is_err());
}

#[test]
fn mb1_module_end_before_start_is_error() {
    let mut m = qemu_mb1();
    m.u32(MB1_MODS + 20, 0x10_b000); // module 1 end < start 0x10c000
    assert!(malformed(parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m)).contains("end < start"));
}

#[test]
fn mb1_too_many_modules_is_error() {
    let mut m = qemu_mb1();
    m.u32(MB1_INFO + 20, 65);
    assert!(malformed(parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m)).contains("modules"));
    m.u32(MB1_INFO + 20, u32::MAX);
    malformed(parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m));
}

#[test]
fn mb1_module_without_string_and_empty_module() {
    let mut m = qemu_mb1();
    m.u32(MB1_MODS + 8, 0); // no string
    m.u32(MB1_MODS + 20, 0x10_c000); // zero-length module
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.modules[0].cmdline, "");
    assert_eq!((bi.modules[1].start, bi.modules[1].end), (0x10_c000, 0x10_c000));
    assert!(!bi.extra_reserved.iter().any(|r| r.0 == MB1_MOD0_STR));
}

#[test]
fn mb1_mods_flag_with_zero_count() {
    let mut m = qemu_mb1();
    m.u32(MB1_INFO + 20, 0);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert!(bi.modules.is_empty());
    assert!(!bi.extra_reserved.iter().any(|r| r.0 == MB1_MODS));
}

#[test]
fn mb1_unterminated_string_capped_at_4k() {
    let mut m = qemu_mb1();
    m.write(0x18_0000, &[b'x'; 5000]);
    m.u32(MB1_INFO + 16, 0x18_0000);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.cmdline.len(), MAX_STRING_LEN);
    assert!(bi.cmdline.bytes().all(|b| b == b'x'));
    assert!(bi.extra_reserved.contains(&(0x18_0000, 0x18_0000 + 4096)));
}

#[test]
fn mb1_string_of_exactly_4k_then_nul() {
    let mut m = qemu_mb1();
    m.write(0x18_0000, &[b'y'; 4096]);
    m.u32(MB1_INFO + 16, 0x18_0000);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.cmdline.len(), 4096);
}

#[test]
fn mb1_non_utf8_is_lossy() {
    let mut m = qemu_mb1();
    m.write(MB1_CMDLINE, b"a\xffb\xc3\0");
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.cmdline, "a\u{fffd}b\u{fffd}");
    assert!(bi.extra_reserved.contains(&(MB1_CMDLINE, MB1_CMDLINE + 5)));
}

#[test]
fn mb1_string_right_at_end_of_readable_memory() {
    let mut m = qemu_mb1();
    // A 4-byte region holding "abc\0": chunked reads would run past it.
    m.add_region(0x4000_0000, 4);
    m.cstr(0x4000_0000, "abc");
    m.u32(MB1_INFO + 16, 0x4000_0000);
    let bi = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m).unwrap();
    assert_eq!(bi.cmdline, "abc");
}

#[test]
fn mb1_unterminated_string_into_unreadable_memory() {
    let mut m = qemu_mb1();
    m.add_region(0x4000_0000, 4);
    m.write(0x4000_0000, b"abcd");
    m.u32(MB1_INFO + 16, 0x4000_0000);
    assert_eq!(
        parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m),
        Err(BootError::Unreadable { paddr: 0x4000_0004 })
    );
}

#[test]
fn mb1_unreadable_info_structure() {
    let m = FakeMem::new(0, 0x1000);
    assert_eq!(
        parse(MULTIBOOT1_BOOTLOADER_MAGIC, 0x10_0000, &m),
        Err(BootError::Unreadable { paddr: 0x10_0000 })
    );
    // Straddling the end of memory.
    assert!(matches!(
        parse(MULTIBOOT1_BOOTLOADER_MAGIC, 0xff0, &m),
        Err(BootError::Unreadable { .. })
    ));
}

#[test]
fn mb1_unreadable_pointers() {
    let mut m = qemu_mb1();
    m.u32(MB1_INFO + 48, 0x8000_0000); // mmap_addr
    assert!(matches!(
        parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m),
        Err(BootError::Unreadable { .. })
    ));
    let mut m = qemu_mb1();
    m.u32(MB1_INFO + 24, 0x8000_0000); // mods_addr
    assert!(matches!(
        parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m),
        Err(BootError::Unreadable { .. })
    ));
    let mut m = qemu_mb1();
    m.u32(MB1_INFO + 64, 0xffff_fff0); // loader name
    assert!(matches!(
        parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m),
        Err(BootError::Unreadable { .. })
    ));
}

#[test]
fn mb1_info_at_top_of_address_space() {
    let m = FakeMem::new(0, 0x1000);
    assert!(parse(MULTIBOOT1_BOOTLOADER_MAGIC, u64::MAX - 8, &m).is_err());
}

// ---------------------------------------------------------------------------
// Multiboot 2, laid out as GRUB's `multiboot2` command does.
// ---------------------------------------------------------------------------

/// Builds a Multiboot 2 information structure tag by tag.
struct Mb2 {
    bytes: Vec<u8>,
}

impl Mb2 {
    fn new() -> Self {
        Self { bytes: vec![0; 8] }
    }

    /// Append a tag with `size` = 8 + payload length, padded to 8 bytes.
    fn tag(self, typ: u32, payload: &[u8]) -> Self {
        self.raw_tag(typ, 8 + payload.len() as u32, payload)
    }

    /// Append a tag with an explicit (possibly lying) `size`.
    fn raw_tag(mut self, typ: u32, size: u32, payload: &[u8]) -> Self {
        self.bytes.extend_from_slice(&typ.to_le_bytes());
        self.bytes.extend_from_slice(&size.to_le_bytes());
        self.bytes.extend_from_slice(payload);
        while !self.bytes.len().is_multiple_of(8) {
            self.bytes.push(0);
        }
        self
    }

    fn string(self, typ: u32, s: &[u8]) -> Self {
        let mut p = s.to_vec();
        p.push(0);
        self.tag(typ, &p)
    }

    fn module(self, start: u32, end: u32, s: &str) -> Self {
        let mut p = Vec::new();
        p.extend_from_slice(&start.to_le_bytes());
        p.extend_from_slice(&end.to_le_bytes());
        p.extend_from_slice(s.as_bytes());
        p.push(0);
        self.tag(3, &p)
    }

    fn meminfo(self, lower: u32, upper: u32) -> Self {
        let mut p = Vec::new();
        p.extend_from_slice(&lower.to_le_bytes());
        p.extend_from_slice(&upper.to_le_bytes());
        self.tag(4, &p)
    }

    fn mmap(self, entry_size: u32, regions: &[MemoryRegion]) -> Self {
        let mut p = Vec::new();
        p.extend_from_slice(&entry_size.to_le_bytes());
        p.extend_from_slice(&0u32.to_le_bytes());
        for r in regions {
            let mut e = vec![0u8; entry_size.max(20) as usize];
            e[0..8].copy_from_slice(&r.addr.to_le_bytes());
            e[8..16].copy_from_slice(&r.size.to_le_bytes());
            e[16..20].copy_from_slice(&r.kind.to_le_bytes());
            p.extend_from_slice(&e);
        }
        self.tag(6, &p)
    }

    /// Append the end tag and fill in `total_size`.
    fn finish(self) -> Vec<u8> {
        let mut b = self.tag(0, &[]).bytes;
        let total = b.len() as u32;
        b[0..4].copy_from_slice(&total.to_le_bytes());
        b
    }

    /// Like `finish` but without an end tag.
    fn finish_without_end(self) -> Vec<u8> {
        let mut b = self.bytes;
        let total = b.len() as u32;
        b[0..4].copy_from_slice(&total.to_le_bytes());
        b
    }
}

fn fix_checksum(bytes: &mut [u8], range: core::ops::Range<usize>, at: usize) {
    bytes[at] = 0;
    let sum = bytes[range].iter().fold(0u8, |a, &b| a.wrapping_add(b));
    bytes[at] = sum.wrapping_neg();
}

/// An ACPI 1.0 RSDP (20 bytes).
fn rsdp_v1(rsdt: u32) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(b"RSD PTR ");
    r.push(0);
    r.extend_from_slice(b"BOCHS ");
    r.push(0);
    r.extend_from_slice(&rsdt.to_le_bytes());
    fix_checksum(&mut r, 0..20, 8);
    r
}

/// An ACPI 2.0 RSDP (36 bytes).
fn rsdp_v2(rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(b"RSD PTR ");
    r.push(0);
    r.extend_from_slice(b"OVMF  ");
    r.push(2);
    r.extend_from_slice(&rsdt.to_le_bytes());
    r.extend_from_slice(&36u32.to_le_bytes());
    r.extend_from_slice(&xsdt.to_le_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    fix_checksum(&mut r, 0..20, 8);
    fix_checksum(&mut r, 0..36, 32);
    r
}

const MB2_INFO: u64 = 0x1_0000;
const GRUB_CMDLINE: &str = "console=com1,vga com1=115200,8n1 dom0_mem=1G,max:1G loglvl=all";

fn grub_e820() -> Vec<MemoryRegion> {
    vec![
        reg(0, 0x9_fc00, 1),
        reg(0x9_fc00, 0x400, 2),
        reg(0xf_0000, 0x1_0000, 2),
        reg(0x10_0000, 0x3fee_0000, 1),
        reg(0x3ffe_0000, 0x2_0000, 3),
        reg(0xfed1_c000, 0x4000, 4),
        reg(0xfeff_c000, 0x4000, 2),
        reg(0x1_0000_0000, 0x1_0000_0000, 1),
        reg(0x2_0000_0000, 0x1000, 5),
    ]
}

fn grub_builder() -> Mb2 {
    let mut bootdev = Vec::new();
    bootdev.extend_from_slice(&0x80u32.to_le_bytes());
    bootdev.extend_from_slice(&0u32.to_le_bytes());
    bootdev.extend_from_slice(&0xffff_ffffu32.to_le_bytes());
    Mb2::new()
        .string(1, GRUB_CMDLINE.as_bytes())
        .string(2, b"GRUB 2.12")
        .module(0x20_0000, 0x5a_3123, "/boot/vmlinuz-6.1.0 root=/dev/sda1 ro")
        .module(0x5a_4000, 0x90_0000, "/boot/initrd.img-6.1.0")
        .meminfo(639, 1_047_424)
        .tag(5, &bootdev) // bootdev (size 20): ignored
        .mmap(24, &grub_e820())
        .tag(21, &0x20_0000u32.to_le_bytes()) // load base address (size 12): ignored
        .tag(14, &rsdp_v1(0x3ffe_1000))
        .tag(15, &rsdp_v2(0x3ffe_1000, 0x3ffe_1100))
}

fn mem_with(at: u64, info: &[u8]) -> FakeMem {
    let mut m = FakeMem::new(0, 0x20_0000);
    m.write(at, info);
    m
}

fn parse_mb2(info: &[u8]) -> Result<BootInfo, BootError> {
    parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem_with(MB2_INFO, info))
}

#[test]
fn mb2_grub_full() {
    let info = grub_builder().finish();
    let bi = parse_mb2(&info).unwrap();
    let expected = BootInfo {
        protocol: Protocol::Multiboot2,
        loader_name: Some("GRUB 2.12".to_string()),
        cmdline: GRUB_CMDLINE.to_string(),
        memory_map: grub_e820(),
        modules: vec![
            Module {
                start: 0x20_0000,
                end: 0x5a_3123,
                cmdline: "/boot/vmlinuz-6.1.0 root=/dev/sda1 ro".to_string(),
            },
            Module {
                start: 0x5a_4000,
                end: 0x90_0000,
                cmdline: "/boot/initrd.img-6.1.0".to_string(),
            },
        ],
        acpi: Some(AcpiRoot {
            revision: 2,
            rsdp_copy: rsdp_v2(0x3ffe_1000, 0x3ffe_1100),
            rsdt_address: 0x3ffe_1000,
            xsdt_address: Some(0x3ffe_1100),
        }),
        info_range: (MB2_INFO, MB2_INFO + info.len() as u64),
        extra_reserved: vec![],
    };
    assert_eq!(bi, expected);
}

#[test]
fn mb2_unaligned_info_address() {
    let info = grub_builder().finish();
    let at = MB2_INFO + 4;
    let bi = parse(MULTIBOOT2_BOOTLOADER_MAGIC, at, &mem_with(at, &info)).unwrap();
    assert_eq!(bi.info_range, (at, at + info.len() as u64));
    assert_eq!(bi.modules.len(), 2);
    assert_eq!(bi.cmdline, GRUB_CMDLINE);
}

#[test]
fn mb2_info_ending_exactly_at_end_of_memory() {
    let info = grub_builder().finish();
    let at = 0x20_0000 - info.len() as u64;
    let bi = parse(MULTIBOOT2_BOOTLOADER_MAGIC, at, &mem_with(at, &info)).unwrap();
    assert_eq!(bi.info_range.1, 0x20_0000);
}

#[test]
fn mb2_minimal_structure() {
    let bi = parse_mb2(&Mb2::new().finish()).unwrap();
    assert_eq!(bi.protocol, Protocol::Multiboot2);
    assert_eq!(bi.cmdline, "");
    assert_eq!(bi.loader_name, None);
    assert!(bi.memory_map.is_empty() && bi.modules.is_empty() && bi.acpi.is_none());
    assert_eq!(bi.info_range, (MB2_INFO, MB2_INFO + 16));
}

#[test]
fn mb2_acpi_v1_only() {
    let info = Mb2::new().tag(14, &rsdp_v1(0xe_0000)).finish();
    let acpi = parse_mb2(&info).unwrap().acpi.unwrap();
    assert_eq!(
        acpi,
        AcpiRoot {
            revision: 0,
            rsdp_copy: rsdp_v1(0xe_0000),
            rsdt_address: 0xe_0000,
            xsdt_address: None
        }
    );
}

#[test]
fn mb2_prefers_acpi_v2_regardless_of_order() {
    let info = Mb2::new().tag(15, &rsdp_v2(1, 0x1000)).tag(14, &rsdp_v1(2)).finish();
    let acpi = parse_mb2(&info).unwrap().acpi.unwrap();
    assert_eq!((acpi.revision, acpi.rsdt_address, acpi.xsdt_address), (2, 1, Some(0x1000)));
}

#[test]
fn mb2_bad_v2_checksum_falls_back_to_v1() {
    let mut v2 = rsdp_v2(1, 0x1000);
    v2[9] ^= 0x55; // breaks the 20-byte checksum
    let info = Mb2::new().tag(14, &rsdp_v1(2)).tag(15, &v2).finish();
    let acpi = parse_mb2(&info).unwrap().acpi.unwrap();
    assert_eq!((acpi.revision, acpi.rsdt_address, acpi.xsdt_address), (0, 2, None));

    let mut v2 = rsdp_v2(1, 0x1000);
    v2[24] ^= 0x01; // breaks only the extended checksum
    let info = Mb2::new().tag(14, &rsdp_v1(2)).tag(15, &v2).finish();
    assert_eq!(parse_mb2(&info).unwrap().acpi.unwrap().rsdt_address, 2);
}

#[test]
fn mb2_bad_rsdp_checksums_give_no_acpi() {
    let mut v1 = rsdp_v1(2);
    v1[19] ^= 0xff;
    let mut v2 = rsdp_v2(1, 0x1000);
    v2[0] = b'X'; // bad signature (checksum fixed up)
    fix_checksum(&mut v2, 0..20, 8);
    fix_checksum(&mut v2, 0..36, 32);
    let info = Mb2::new().tag(14, &v1).tag(15, &v2).finish();
    assert_eq!(parse_mb2(&info).unwrap().acpi, None);
}

#[test]
fn mb2_rsdp_v2_length_past_tag_or_truncated_is_skipped() {
    let mut v2 = rsdp_v2(1, 0x1000);
    v2[20..24].copy_from_slice(&200u32.to_le_bytes());
    fix_checksum(&mut v2, 0..20, 8);
    let info = Mb2::new().tag(15, &v2).tag(14, &rsdp_v1(7)).finish();
    assert_eq!(parse_mb2(&info).unwrap().acpi.unwrap().rsdt_address, 7);

    // Truncated tags (shorter than an RSDP) are skipped, not read past.
    let info = Mb2::new().tag(15, &rsdp_v2(1, 2)[..30]).tag(14, &rsdp_v1(7)[..12]).finish();
    assert_eq!(parse_mb2(&info).unwrap().acpi, None);
}

#[test]
fn mb2_meminfo_fallback_when_no_mmap() {
    let info = Mb2::new().meminfo(639, 0x1_fc00).finish();
    let bi = parse_mb2(&info).unwrap();
    assert_eq!(bi.memory_map, vec![ram(0, 639 * 1024), ram(0x10_0000, 0x1_fc00 * 1024)]);
}

#[test]
fn mb2_basic_meminfo_wrong_size_is_error() {
    let info = Mb2::new().tag(4, &[0; 4]).finish();
    assert!(malformed(parse_mb2(&info)).contains("meminfo"));
    let info = Mb2::new().tag(4, &[0; 16]).finish();
    assert!(malformed(parse_mb2(&info)).contains("meminfo"));
}

#[test]
fn mb2_mmap_entry_size_zero_or_small_is_error() {
    for entry_size in [0, 8, 20] {
        let info = Mb2::new().mmap(entry_size, &grub_e820()).finish();
        assert!(malformed(parse_mb2(&info)).contains("entry_size"), "entry_size {entry_size}");
    }
}

#[test]
fn mb2_mmap_tag_too_small_is_error() {
    let info = Mb2::new().tag(6, &[24, 0, 0, 0]).finish();
    malformed(parse_mb2(&info));
}

#[test]
fn mb2_mmap_larger_entries_and_trailing_partial() {
    let info = Mb2::new().mmap(32, &grub_e820()).finish();
    assert_eq!(parse_mb2(&info).unwrap().memory_map, grub_e820());

    // Entry size 24 with 8 stray trailing bytes: typed view not usable, the
    // raw walk ignores the partial entry.
    let mut p = vec![24, 0, 0, 0, 0, 0, 0, 0];
    for r in grub_e820() {
        p.extend_from_slice(&r.addr.to_le_bytes());
        p.extend_from_slice(&r.size.to_le_bytes());
        p.extend_from_slice(&r.kind.to_le_bytes());
        p.extend_from_slice(&[0; 4]);
    }
    p.extend_from_slice(&[0xaa; 8]);
    let info = Mb2::new().tag(6, &p).finish();
    assert_eq!(parse_mb2(&info).unwrap().memory_map, grub_e820());
}

#[test]
fn mb2_mmap_skips_zero_length_and_overflowing_entries() {
    let regions = [reg(0, 0x9_f000, 1), reg(0x1000_0000, 0, 1), reg(u64::MAX, 2, 2)];
    let info = Mb2::new().mmap(24, &regions).finish();
    assert_eq!(parse_mb2(&info).unwrap().memory_map, vec![ram(0, 0x9_f000)]);
}

#[test]
fn mb2_too_many_mmap_entries_is_error() {
    let regions: Vec<_> = (0..513u64).map(|i| ram(i * 0x1000, 0x1000)).collect();
    let info = Mb2::new().mmap(24, &regions).finish();
    assert!(malformed(parse_mb2(&info)).contains("too many"));
    let info = Mb2::new().mmap(24, &regions[..512]).finish();
    assert_eq!(parse_mb2(&info).unwrap().memory_map.len(), 512);
}

#[test]
fn mb2_empty_mmap_falls_back_to_meminfo() {
    let info = Mb2::new().mmap(24, &[]).meminfo(639, 2048).finish();
    assert_eq!(
        parse_mb2(&info).unwrap().memory_map,
        vec![ram(0, 639 * 1024), ram(0x10_0000, 2048 * 1024)]
    );
}

#[test]
fn mb2_mmap_preferred_over_meminfo() {
    let info = Mb2::new().meminfo(1, 2).mmap(24, &grub_e820()).finish();
    assert_eq!(parse_mb2(&info).unwrap().memory_map, grub_e820());
}

#[test]
fn mb2_tag_running_past_total_size_is_error() {
    let info = Mb2::new().raw_tag(1, 0x100, b"abc\0").finish();
    malformed(parse_mb2(&info));
    let info = Mb2::new().raw_tag(1, u32::MAX, b"abc\0").finish();
    malformed(parse_mb2(&info));
}

#[test]
fn mb2_tag_size_smaller_than_header_is_error() {
    let info = Mb2::new().raw_tag(1, 4, &[]).finish();
    malformed(parse_mb2(&info));
    let info = Mb2::new().raw_tag(7, 0, &[]).finish();
    malformed(parse_mb2(&info));
}

#[test]
fn mb2_missing_end_tag_is_error() {
    let info = Mb2::new().string(1, b"x").finish_without_end();
    assert!(malformed(parse_mb2(&info)).contains("end tag"));
}

#[test]
fn mb2_data_after_end_tag_is_error() {
    let mut info = Mb2::new().finish();
    info.extend_from_slice(&[0; 8]);
    let total = info.len() as u32;
    info[0..4].copy_from_slice(&total.to_le_bytes());
    malformed(parse_mb2(&info));
}

#[test]
fn mb2_absurd_total_size_is_error() {
    let mut info = Mb2::new().finish();
    for total in [u32::MAX, MAX_MB2_TOTAL_SIZE + 8, 0x8000_0000] {
        info[0..4].copy_from_slice(&total.to_le_bytes());
        assert!(malformed(parse_mb2(&info)).contains("1 MiB"));
    }
    for total in [0u32, 7, 8] {
        info[0..4].copy_from_slice(&total.to_le_bytes());
        assert!(malformed(parse_mb2(&info)).contains("too small"));
    }
    info[0..4].copy_from_slice(&20u32.to_le_bytes());
    assert!(malformed(parse_mb2(&info)).contains("multiple of 8"));
}

#[test]
fn mb2_truncated_structure_is_unreadable() {
    // total_size claims 4 KiB but only the first 16 bytes are readable.
    let mut info = Mb2::new().finish();
    info[0..4].copy_from_slice(&4096u32.to_le_bytes());
    let mut m = FakeMem::new(MB2_INFO, 16);
    m.write(MB2_INFO, &info);
    assert!(matches!(
        parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &m),
        Err(BootError::Unreadable { .. })
    ));
    // Header itself unreadable.
    let m = FakeMem::new(MB2_INFO, 4);
    assert_eq!(
        parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &m),
        Err(BootError::Unreadable { paddr: MB2_INFO })
    );
}

#[test]
fn mb2_module_tag_too_small_is_error() {
    let info = Mb2::new().tag(3, &[0; 4]).finish();
    assert!(malformed(parse_mb2(&info)).contains("module tag"));
}

#[test]
fn mb2_module_end_before_start_is_error() {
    let info = Mb2::new().module(0x30_0000, 0x20_0000, "bad").finish();
    assert!(malformed(parse_mb2(&info)).contains("end < start"));
}

#[test]
fn mb2_module_without_string_terminator_or_string() {
    // size 16: no string bytes at all; size 19: "abc" without NUL.
    let mut p = Vec::new();
    p.extend_from_slice(&0x1000u32.to_le_bytes());
    p.extend_from_slice(&0x2000u32.to_le_bytes());
    let mut q = p.clone();
    q.extend_from_slice(b"abc");
    let info = Mb2::new().tag(3, &p).tag(3, &q).finish();
    let bi = parse_mb2(&info).unwrap();
    assert_eq!(bi.modules[0], Module { start: 0x1000, end: 0x2000, cmdline: String::new() });
    assert_eq!(bi.modules[1].cmdline, "abc");
}

#[test]
fn mb2_too_many_modules_is_error() {
    let mut b = Mb2::new();
    for i in 0..64u32 {
        b = b.module(i * 0x1000, i * 0x1000 + 0x800, "m");
    }
    let ok = b.finish();
    assert_eq!(parse_mb2(&ok).unwrap().modules.len(), 64);

    let mut b = Mb2::new();
    for i in 0..65u32 {
        b = b.module(i * 0x1000, i * 0x1000 + 0x800, "m");
    }
    assert!(malformed(parse_mb2(&b.finish())).contains("too many modules"));
}

#[test]
fn mb2_strings_lossy_unterminated_and_capped() {
    let long = vec![b'z'; 6000];
    let info = Mb2::new().tag(1, b"dom0\xff\xfe=1").tag(2, &long).finish();
    let bi = parse_mb2(&info).unwrap();
    assert_eq!(bi.cmdline, "dom0\u{fffd}\u{fffd}=1");
    assert_eq!(bi.loader_name.unwrap().len(), MAX_STRING_LEN);
}

#[test]
fn mb2_first_cmdline_and_loader_name_win() {
    let info = Mb2::new()
        .string(1, b"first")
        .string(1, b"second")
        .string(2, b"A")
        .string(2, b"B")
        .finish();
    let bi = parse_mb2(&info).unwrap();
    assert_eq!((bi.cmdline.as_str(), bi.loader_name.as_deref()), ("first", Some("A")));
}

#[test]
fn mb2_embedded_nul_terminates_string() {
    let info = Mb2::new().tag(1, b"abc\0def\0").finish();
    assert_eq!(parse_mb2(&info).unwrap().cmdline, "abc");
}

// ---------------------------------------------------------------------------
// Common.
// ---------------------------------------------------------------------------

#[test]
fn bad_magic_is_rejected() {
    let m = qemu_mb1();
    assert_eq!(parse(0x1BAD_B002, MB1_INFO, &m), Err(BootError::BadMagic(0x1BAD_B002)));
    assert_eq!(parse(0, MB1_INFO, &m), Err(BootError::BadMagic(0)));
}

#[test]
fn null_info_pointer_is_rejected() {
    let m = qemu_mb1();
    malformed(parse(MULTIBOOT1_BOOTLOADER_MAGIC, 0, &m));
    malformed(parse(MULTIBOOT2_BOOTLOADER_MAGIC, 0, &m));
}

#[test]
fn wrong_protocol_for_structure_never_panics() {
    // MB2 magic on an MB1 structure and vice versa: errors or garbage, never
    // a panic.
    let m = qemu_mb1();
    let _ = parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB1_INFO, &m);
    let info = grub_builder().finish();
    let _ = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB2_INFO, &mem_with(MB2_INFO, &info));
}

#[test]
fn error_display() {
    assert_eq!(
        BootError::BadMagic(0x1234).to_string(),
        "bad boot loader magic 0x00001234 (expected 0x2badb002 or 0x36d76289)"
    );
    assert_eq!(
        BootError::Unreadable { paddr: 0x9500 }.to_string(),
        "boot information unreadable at physical address 0x9500"
    );
    assert_eq!(BootError::Malformed("x").to_string(), "malformed boot information: x");
    assert!(!BootError::OutOfMemory.to_string().is_empty());
}

#[test]
fn phys_memory_by_reference() {
    let m = qemu_mb1();
    let r: &FakeMem = &m;
    assert!(parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &r).is_ok());
}

/// Deterministic xorshift64* generator for the mutation tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A byte that is often an interesting boundary value.
    fn byte(&mut self) -> u8 {
        match self.below(4) {
            0 => 0,
            1 => 0xff,
            _ => self.next() as u8,
        }
    }
}

#[test]
fn mb2_random_mutations_never_panic() {
    let base = grub_builder().finish();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ok = 0;
    for _ in 0..3000 {
        let mut info = base.clone();
        for _ in 0..=rng.below(4) {
            let i = rng.below(info.len());
            info[i] = rng.byte();
        }
        if parse_mb2(&info).is_ok() {
            ok += 1;
        }
    }
    // Some mutations only touch payload bytes and still parse.
    assert!(ok > 0);
}

#[test]
fn mb1_random_mutations_never_panic() {
    let base = qemu_mb1();
    let ranges: [(u64, usize); 6] = [
        (MB1_INFO, 88),
        (MB1_MMAP, 6 * 24),
        (MB1_MODS, 32),
        (MB1_CMDLINE, 8),
        (MB1_MOD0_STR, 8),
        (MB1_LOADER, 5),
    ];
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..3000 {
        let mut m = FakeMem { regions: base.regions.clone() };
        for _ in 0..=rng.below(4) {
            let (start, len) = ranges[rng.below(ranges.len())];
            let b = rng.byte();
            m.write(start + rng.below(len) as u64, &[b]);
        }
        let _ = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &m);
    }
}
