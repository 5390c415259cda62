// SPDX-License-Identifier: GPL-2.0-only
//! Every refusal, each from an otherwise valid image.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use guest_abi::elfnote::XenElfNote;

use super::builder::{
    Image, LoadSpec, NoteSpec, P_FILESZ, P_MEMSZ, P_OFFSET, P_PADDR, PHOFF, RW, xen_raw, xen_str,
    xen_u64,
};
use super::presets;
use super::*;

/// Parses `b` after `edit` on its bytes.
fn err_after(b: &Builder, edit: impl FnOnce(&mut Image)) -> ElfError {
    let mut image = b.image();
    edit(&mut image);
    parse(image.bytes()).expect_err("image unexpectedly accepted")
}

#[test]
fn bad_magic() {
    assert_eq!(err_after(&presets::xtf(), |i| i.bytes_mut()[1] = b'X'), ElfError::NotElf);
    assert_eq!(parse(&[]), Err(ElfError::NotElf));
    assert_eq!(parse(b"MZ\x90\x00"), Err(ElfError::NotElf));
}

#[test]
fn too_short() {
    let image = Image::new(&presets::xtf().build()[..40]);
    assert_eq!(parse(image.bytes()), Err(ElfError::TooShort { len: 40 }));
}

#[test]
fn elf32_is_refused() {
    let mut b = presets::xtf();
    b.class = 1;
    let e = err(&b);
    assert_eq!(e, ElfError::NotElf64 { class: 1 });
    assert!(e.to_string().contains("only 64-bit"));
}

#[test]
fn big_endian_is_refused() {
    let mut b = presets::xtf();
    b.data = 2;
    assert_eq!(err(&b), ElfError::NotLittleEndian { data: 2 });
}

#[test]
fn wrong_machine() {
    let mut b = presets::xtf();
    b.machine = 3; // EM_386
    assert_eq!(err(&b), ElfError::WrongMachine { machine: 3 });
}

#[test]
fn relocatable_and_core_files_are_refused() {
    for e_type in [0, 1, 4, 0xfe00] {
        let mut b = presets::xtf();
        b.e_type = e_type;
        assert_eq!(err(&b), ElfError::WrongType { e_type });
    }
}

#[test]
fn misaligned_buffer_and_tables() {
    let image = Image::misaligned(&presets::xtf().build());
    assert!(matches!(parse(image.bytes()), Err(ElfError::Misaligned { .. })));
    let e = err_after(&presets::xtf(), |i| i.put_u64(32, 0x41));
    assert_eq!(e, ElfError::Misaligned { what: "e_phoff", value: 0x41 });
    let e = err_after(&presets::xtf(), |i| i.put_u64(40, 0x1001));
    assert_eq!(e, ElfError::Misaligned { what: "e_shoff", value: 0x1001 });
}

#[test]
fn truncated_program_headers() {
    let e = err_after(&presets::xtf(), |i| i.put_u16(56, 0x4000));
    assert_eq!(e, ElfError::BadProgramHeaders { reason: "the table lies outside the image" });
    let e = err_after(&presets::xtf(), |i| i.put_u64(32, u64::MAX - 7));
    assert_eq!(e, ElfError::BadProgramHeaders { reason: "the table lies outside the image" });
    let e = err_after(&presets::xtf(), |i| i.put_u16(54, 32));
    assert_eq!(e, ElfError::BadProgramHeaders { reason: "e_phentsize is not 56" });
    let e = err_after(&presets::xtf(), |i| i.put_u64(32, 0));
    assert_eq!(e, ElfError::BadProgramHeaders { reason: "e_phoff is 0" });
}

#[test]
fn bad_section_headers() {
    let e = err_after(&presets::xtf(), |i| i.put_u64(40, 0x1_0000_0000));
    assert_eq!(e, ElfError::BadSectionHeaders { reason: "the table lies outside the image" });
    let e = err_after(&presets::xtf(), |i| i.put_u16(58, 40));
    assert_eq!(e, ElfError::BadSectionHeaders { reason: "e_shentsize is not 64" });
    let e = err_after(&presets::xtf(), |i| i.put_u16(60, 0xff00));
    assert_eq!(e, ElfError::BadSectionHeaders { reason: "e_shnum is in the reserved range" });
}

#[test]
fn segment_outside_file() {
    let b = presets::xtf();
    let len = b.build().len();
    let e = err_after(&b, |i| i.put_phdr_u64(0, P_FILESZ, len as u64));
    assert!(matches!(e, ElfError::SegmentOutsideFile { index: 0, .. }), "{e}");
    let e = err_after(&b, |i| i.put_phdr_u64(0, P_OFFSET, u64::MAX - 0x10));
    assert!(matches!(e, ElfError::SegmentOutsideFile { index: 0, .. }), "{e}");
}

#[test]
fn note_segment_outside_file() {
    let e = err_after(&presets::xtf(), |i| i.put_phdr_u64(1, P_FILESZ, 1 << 40));
    assert!(matches!(e, ElfError::SegmentOutsideFile { index: 1, .. }), "{e}");
}

#[test]
fn filesz_exceeds_memsz() {
    let mut b = presets::xtf();
    b.loads[0].memsz = 0x8000;
    assert_eq!(
        err(&b),
        ElfError::FileSizeExceedsMemSize { index: 0, filesz: 0x81f8, memsz: 0x8000 }
    );
}

#[test]
fn overlapping_segments() {
    let mut b = presets::xtf();
    b.loads.push(LoadSpec {
        paddr: 0x11_1000,
        vaddr: 0x11_1000,
        filesz: 0,
        memsz: 0x2000,
        flags: RW,
    });
    let e = err(&b);
    assert_eq!(e, ElfError::SegmentsOverlap { index: 1, other: 0 });
    assert_eq!(e.to_string(), "segment 1 overlaps segment 0");
    // Whatever the header order, the later-starting segment is reported.
    b.loads.swap(0, 1);
    assert_eq!(err(&b), ElfError::SegmentsOverlap { index: 0, other: 1 });
}

#[test]
fn huge_memsz() {
    let e = err_after(&presets::xtf(), |i| i.put_phdr_u64(0, P_MEMSZ, 2 << 30));
    assert_eq!(e, ElfError::TooLarge { span: 2 << 30, limit: MAX_IMAGE_SPAN });
}

#[test]
fn sparse_segments_spanning_too_much() {
    let mut b = presets::xtf();
    b.loads.push(LoadSpec {
        paddr: 0x8000_0000,
        vaddr: 0x8000_0000,
        filesz: 0,
        memsz: 0x1000,
        flags: RW,
    });
    assert!(matches!(err(&b), ElfError::TooLarge { .. }));
}

#[test]
fn paddr_plus_memsz_overflows() {
    let e = err_after(&presets::xtf(), |i| i.put_phdr_u64(0, P_PADDR, u64::MAX - 0x100));
    assert_eq!(e, ElfError::SegmentOverflow { index: 0 });
}

#[test]
fn no_loadable_segments() {
    let mut b = presets::xtf();
    b.loads.clear();
    assert_eq!(err(&b), ElfError::NoLoadableSegments);
    b.loads.push(LoadSpec { paddr: 0, vaddr: 0, filesz: 0, memsz: 0x1000, flags: 0 });
    assert_eq!(err(&b), ElfError::NoLoadableSegments);
    let e = err_after(&presets::xtf(), |i| i.put_u16(56, 0));
    assert_eq!(e, ElfError::NoLoadableSegments);
}

#[test]
fn entry_outside() {
    let b = presets::xtf().set_note(xen_u64(XenElfNote::Entry, 0x20_0000));
    let e = err(&b);
    assert_eq!(e, ElfError::EntryOutside { entry: 0x20_0000, start: 0x10_0000, end: 0x11_2000 });
    assert_eq!(e.to_string(), "entry point 0x200000 outside the image 0x100000-0x112000");
    let mut b = presets::xtf();
    b.entry = 0xfff;
    assert!(matches!(err(&b), ElfError::EntryOutside { entry: 0xfff, .. }));
}

#[test]
fn entry_at_image_end_is_refused() {
    let b = presets::xtf().set_note(xen_u64(XenElfNote::Entry, 0x11_2000));
    assert!(matches!(err(&b), ElfError::EntryOutside { .. }));
}

#[test]
fn hypercall_page_outside() {
    let b = presets::xtf().set_note(xen_u64(XenElfNote::HypercallPage, 0x11_2000));
    assert_eq!(
        err(&b),
        ElfError::HypercallPageOutside { addr: 0x11_2000, start: 0x10_0000, end: 0x11_2000 }
    );
    let legacy = {
        let mut b = presets::legacy();
        b.xen_guest = Some(
            "GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000,HYPERCALL_PAGE=0x200"
                .to_string(),
        );
        b
    };
    assert!(matches!(err(&legacy), ElfError::HypercallPageOutside { .. }));
}

#[test]
fn image_in_hypervisor_hole() {
    let b = presets::xtf()
        .set_note(xen_u64(XenElfNote::VirtBase, HYPERVISOR_VIRT_START))
        .set_note(xen_u64(XenElfNote::Entry, HYPERVISOR_VIRT_START + 0x10_0000))
        .set_note(xen_u64(XenElfNote::HypercallPage, HYPERVISOR_VIRT_START + 0x10_6000));
    let e = err(&b);
    assert_eq!(
        e,
        ElfError::InHypervisorHole {
            start: HYPERVISOR_VIRT_START,
            end: HYPERVISOR_VIRT_START + 0x11_2000
        }
    );
    // Just above the hole is fine.
    let above = presets::xtf()
        .set_note(xen_u64(XenElfNote::VirtBase, HYPERVISOR_VIRT_END))
        .set_note(xen_u64(XenElfNote::Entry, HYPERVISOR_VIRT_END + 0x10_0000))
        .set_note(xen_u64(XenElfNote::HypercallPage, HYPERVISOR_VIRT_END + 0x10_6000));
    assert_eq!(ok(&above).virt_kstart, HYPERVISOR_VIRT_END + 0x10_0000);
}

#[test]
fn non_canonical_image() {
    let base = 0x0000_8000_0000_0000 - 0x10_0000;
    let b = presets::xtf()
        .set_note(xen_u64(XenElfNote::VirtBase, base))
        .set_note(xen_u64(XenElfNote::Entry, base + 0x10_0000))
        .set_note(xen_u64(XenElfNote::HypercallPage, base + 0x10_6000));
    assert!(matches!(err(&b), ElfError::NonCanonical { .. }));
}

#[test]
fn missing_notes() {
    let mut b = presets::xtf();
    b.segment_notes.clear();
    b.section_notes.clear();
    let e = err(&b);
    assert_eq!(e, ElfError::NotXen);
    assert!(e.to_string().starts_with("no Xen notes: not a PV kernel"));
    // Notes of other owners do not count.
    b.segment_notes = vec![NoteSpec { name: "GNU", type_: 3, desc: vec![0; 20] }];
    assert_eq!(err(&b), ElfError::NotXen);
}

#[test]
fn bad_loader() {
    let b = presets::xtf().set_note(xen_str(XenElfNote::Loader, "netbsd"));
    let e = err(&b);
    assert_eq!(
        e,
        ElfError::BadLoader { loader: "netbsd".to_string(), guest_os: "XTF".to_string() }
    );
    let none = presets::xtf().drop_note(XenElfNote::Loader);
    assert!(matches!(err(&none), ElfError::BadLoader { .. }));
}

#[test]
fn bad_xen_version() {
    let b = presets::xtf().set_note(xen_str(XenElfNote::XenVersion, "xen-2.0"));
    let e = err(&b);
    assert_eq!(e.to_string(), "XEN_VERSION 'xen-2.0' is not xen-3.0");
    let none = presets::xtf().drop_note(XenElfNote::XenVersion);
    assert_eq!(err(&none), ElfError::BadXenVersion { xen_ver: "".to_string() });
}

#[test]
fn malformed_numeric_note_size() {
    for size in [0, 3, 5, 16] {
        let b = presets::xtf().set_note(xen_raw(XenElfNote::Entry, vec![0; size]));
        let e = err(&b);
        assert!(matches!(e, ElfError::MalformedNote { note: "ENTRY", .. }), "{e}");
        assert!(e.to_string().contains(&alloc::format!("{size} bytes")), "{e}");
    }
    let b = presets::xtf().set_note(xen_raw(XenElfNote::SupportedFeatures, vec![1, 2, 3]));
    assert!(matches!(err(&b), ElfError::MalformedNote { note: "SUPPORTED_FEATURES", .. }));
    let b = presets::xtf().set_note(xen_u64(XenElfNote::Phys32Entry, 1 << 32));
    assert!(matches!(err(&b), ElfError::MalformedNote { note: "PHYS32_ENTRY", .. }));
}

#[test]
fn unterminated_string_note() {
    let b = presets::xtf().set_note(xen_raw(XenElfNote::GuestOs, b"XTF!".to_vec()));
    let e = err(&b);
    assert_eq!(e.to_string(), "note GUEST_OS: string is not NUL-terminated");
    let long = presets::xtf().set_note(xen_str(XenElfNote::GuestVersion, &"x".repeat(5000)));
    assert!(matches!(err(&long), ElfError::MalformedNote { note: "GUEST_VERSION", .. }));
}

#[test]
fn unknown_required_feature() {
    let b = presets::xtf().set_note(xen_str(XenElfNote::Features, "!writable_page_tables|!shiny"));
    assert_eq!(err(&b), ElfError::UnknownRequiredFeature { name: "shiny".to_string() });
    let bang = presets::xtf().set_note(xen_str(XenElfNote::Features, "!"));
    assert_eq!(err(&bang), ElfError::UnknownRequiredFeature { name: "".to_string() });
    let mut legacy = presets::legacy();
    legacy.xen_guest =
        Some("GUEST_OS=linux,XEN_VER=xen-3.0,FEATURES=!hvm_safe_pvclock".to_string());
    assert!(matches!(err(&legacy), ElfError::UnknownRequiredFeature { .. }));
}

#[test]
fn paddr_offset_without_virt_base() {
    let b = presets::xtf().set_note(xen_u64(XenElfNote::PaddrOffset, 0));
    assert_eq!(err(&b), ElfError::PaddrOffsetWithoutVirtBase);
}

#[test]
fn virt_base_above_image() {
    let b = presets::xtf()
        .set_note(xen_u64(XenElfNote::VirtBase, 0x20_0000))
        .set_note(xen_u64(XenElfNote::PaddrOffset, 0x20_0000));
    assert_eq!(err(&b), ElfError::BaseAboveImage { virt_base: 0x20_0000, start: 0x10_0000 });
}

#[test]
fn image_wrapping_around() {
    let b = presets::xtf()
        .set_note(xen_u64(XenElfNote::VirtBase, 0xffff_ffff_ffff_0000))
        .set_note(xen_u64(XenElfNote::PaddrOffset, 0x10_0000));
    assert!(matches!(err(&b), ElfError::ImageWraps { .. }));
}

#[test]
fn p2m_inside_image() {
    let b = presets::linux().set_note(xen_u64(XenElfNote::InitP2m, 0xffff_ffff_8120_0000));
    assert!(matches!(err(&b), ElfError::P2mInsideImage { p2m_base: 0xffff_ffff_8120_0000, .. }));
}

#[test]
fn truncated_xen_note() {
    let mut b = presets::xtf();
    b.section_notes.clear();
    let mut image = b.image();
    // The PT_NOTE's last note loses its final descriptor byte.
    let note_phdr = PHOFF + 56 + P_FILESZ;
    let filesz = u64::from_le_bytes(image.bytes()[note_phdr..note_phdr + 8].try_into().unwrap());
    image.put_u64(note_phdr, filesz - 3);
    let e = parse(image.bytes()).unwrap_err();
    assert!(matches!(e, ElfError::TruncatedNote { .. }), "{e}");
}

#[test]
fn too_many_notes() {
    let mut b = presets::xtf();
    b.section_notes.clear();
    b.segment_notes.extend((0..notes::MAX_TOTAL_NOTES).map(|_| NoteSpec {
        name: "",
        type_: 0,
        desc: Vec::new(),
    }));
    assert_eq!(err(&b), ElfError::TooManyNotes);
}

#[test]
fn legacy_bad_numbers() {
    for text in [
        "GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xzz",
        "GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000,ELF_PADDR_OFFSET=",
        "GUEST_OS=linux,XEN_VER=xen-3.0,HYPERCALL_PAGE=0x10000000000000",
    ] {
        let mut b = presets::legacy();
        b.xen_guest = Some(text.to_string());
        assert!(matches!(err(&b), ElfError::BadLegacyValue { .. }), "{text}");
    }
}

#[test]
fn legacy_bad_loader_and_version() {
    let mut b = presets::legacy();
    b.xen_guest = Some("GUEST_OS=netbsd,XEN_VER=xen-3.0,LOADER=bsd".to_string());
    assert!(matches!(err(&b), ElfError::BadLoader { .. }));
    b.xen_guest = Some("GUEST_OS=linux,XEN_VER=xen-2.0".to_string());
    assert!(matches!(err(&b), ElfError::BadXenVersion { .. }));
    b.xen_guest = Some(String::new());
    assert!(matches!(err(&b), ElfError::BadLoader { .. }));
}

#[test]
fn load_into_too_small_target() {
    let b = presets::xtf();
    let image = b.image();
    let p = parse(image.bytes()).unwrap();
    let mut target = VecTarget::new(p.virt_kstart, 0x9000);
    let e = load(&p, image.bytes(), &mut target).unwrap_err();
    assert_eq!(e, ElfError::BadDestination { vaddr: 0x10_81f8, len: 0x1_2000 - 0x81f8 });
}

#[test]
fn load_with_a_shorter_image() {
    let b = presets::xtf();
    let image = b.image();
    let p = parse(image.bytes()).unwrap();
    let mut target = VecTarget::for_image(&p);
    let e = load(&p, &image.bytes()[..0x100], &mut target).unwrap_err();
    assert!(matches!(e, ElfError::SegmentOutsideFile { index: 0, .. }), "{e}");
}
