// SPDX-License-Identifier: GPL-2.0-only
//! Images that load: what is parsed, defaulted and written.

use alloc::string::ToString;
use alloc::vec;

use guest_abi::elfnote::XenElfNote;
use guest_abi::version::{XENFEAT_dom0, XENFEAT_pae_pgdir_above_4gb, XENFEAT_writable_page_tables};

use super::builder::{LoadSpec, NoteSpec, RW, xen_raw, xen_str, xen_u32, xen_u64};
use super::presets::{self, LINUX_BASE};
use super::*;

#[test]
fn xtf_notes_and_defaults() {
    let p = ok(&presets::xtf());
    assert_eq!(p.source, NoteSource::Segment);
    assert_eq!((p.guest_os.as_str(), p.guest_ver.as_str()), ("XTF", "0"));
    assert_eq!((p.loader.as_str(), p.xen_ver.as_str()), ("generic", "xen-3.0"));
    assert_eq!(p.virt_base, 0);
    assert_eq!(p.elf_paddr_offset, 0);
    assert_eq!(p.virt_entry, 0x10_0000);
    assert_eq!(p.virt_hypercall, Some(0x10_6000));
    assert_eq!((p.virt_kstart, p.virt_kend), (0x10_0000, 0x11_2000));
    assert_eq!(p.pae, PaeMode::ExtendedCr3);
    assert_eq!(p.p2m_base, None);
    assert!(p.warnings.iter().any(|w| w == "VIRT_BASE unset, using 0"), "{:?}", p.warnings);
    assert_eq!(p.segments.len(), 1);
    let s = p.segments[0];
    assert_eq!((s.paddr, s.vaddr, s.filesz, s.memsz), (0x10_0000, 0x10_0000, 0x81f8, 0x1_2000));
}

#[test]
fn xtf_features() {
    let p = ok(&presets::xtf());
    assert!(p.requires(XENFEAT_writable_page_tables));
    assert!(p.supports(XENFEAT_writable_page_tables));
    assert!(p.supports(XENFEAT_pae_pgdir_above_4gb));
    assert!(!p.requires(XENFEAT_pae_pgdir_above_4gb));
    assert_eq!(p.f_supported, [0b1_0001]);
    assert_eq!(p.f_required, [0b1]);
    // No SUPPORTED_FEATURES note: accepted as dom0 (guest-abi.md §1.5).
    assert!(!p.supported_features_note);
    assert!(p.dom0_capable());
}

#[test]
fn xtf_loads_bytes_and_zeroes_bss() {
    let b = presets::xtf();
    let image = b.image();
    let p = parse(image.bytes()).unwrap();
    let mut target = VecTarget::for_image(&p);
    load(&p, image.bytes(), &mut target).unwrap();
    check_loaded(&b, &p, &target);
    assert_eq!(target.at(0x10_0000, 4), &[1, 8, 15, 22]);
    assert!(target.at(0x10_81f8, 0x1_2000 - 0x81f8).iter().all(|&x| x == 0));
}

#[test]
fn minios_notes_from_sections_only() {
    let b = presets::minios();
    let p = ok(&b);
    assert_eq!(p.source, NoteSource::Section);
    assert_eq!(p.guest_os, "Mini-OS");
    assert_eq!(p.virt_hypercall, Some(0x2000));
    assert_eq!((p.virt_base, p.virt_entry), (0, 0));
    assert_eq!((p.virt_kstart, p.virt_kend), (0, 0x1f060 + 0x4df48));
    assert_eq!(p.segments.len(), 2);
}

#[test]
fn minios_loads_both_segments() {
    let b = presets::minios();
    let image = b.image();
    let p = parse(image.bytes()).unwrap();
    let mut target = VecTarget::for_image(&p);
    load(&p, image.bytes(), &mut target).unwrap();
    check_loaded(&b, &p, &target);
    // The gap between the segments is not touched.
    assert!(target.at(0x1e683, 0x1f060 - 0x1e683).iter().all(|&x| x == 0xaa));
}

#[test]
fn linux_addresses() {
    let p = ok(&presets::linux());
    assert_eq!(p.source, NoteSource::Segment);
    assert_eq!((p.guest_os.as_str(), p.guest_ver.as_str()), ("linux", "2.6"));
    assert_eq!((p.virt_base, p.elf_paddr_offset), (LINUX_BASE, 0));
    assert_eq!(p.virt_offset(), LINUX_BASE);
    assert_eq!(p.virt_entry, LINUX_BASE + 0x160_0100);
    assert_eq!(p.virt_hypercall, Some(LINUX_BASE + 0x100_1000));
    assert_eq!(p.virt_kstart, 0xffff_ffff_8100_0000);
    assert_eq!(p.virt_kend, 0xffff_ffff_8160_2000);
    assert_eq!(p.p2m_base, Some(0x80_0000_0000));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn linux_features_and_dom0() {
    let p = ok(&presets::linux());
    assert!(p.supported_features_note);
    // FEATURES bits 0 and 4 plus SUPPORTED_FEATURES 0x8801 (bits 0, 11, 15).
    assert_eq!(p.f_supported, [0x8811]);
    assert_eq!(p.f_required, [0x1]);
    assert!(p.supports(XENFEAT_dom0));
    assert!(p.dom0_capable());
    let no_dom0 = presets::linux().set_note(xen_u32(XenElfNote::SupportedFeatures, 0x1));
    assert!(!ok(&no_dom0).dom0_capable());
}

#[test]
fn linux_optional_notes() {
    let p = ok(&presets::linux());
    assert_eq!(p.l1_mfn_valid, vec![(1, 1)]);
    assert!(p.suspend_cancel);
    assert!(p.mod_start_pfn);
    assert_eq!(p.virt_hv_start_low, Some(0xffff_8000_0000_0000));
    assert_eq!(p.phys_entry, Some(0x160_0200));
    assert_eq!(p.pae, PaeMode::ExtendedCr3);
    assert!(!p.bsd_symtab);
}

#[test]
fn linux_loads_by_paddr() {
    let b = presets::linux();
    let image = b.image();
    let p = parse(image.bytes()).unwrap();
    // The .data..percpu segment has p_vaddr 0 but is placed by p_paddr.
    assert_eq!(p.segments[2].vaddr, 0);
    assert_eq!(p.load_address(&p.segments[2]), LINUX_BASE + 0x140_0000);
    let mut target = VecTarget::for_image(&p);
    load(&p, image.bytes(), &mut target).unwrap();
    check_loaded(&b, &p, &target);
}

fn legacy_guest(text: &str) -> Builder {
    let mut b = presets::legacy();
    b.xen_guest = Some(text.to_string());
    b
}

#[test]
fn legacy_xen_guest_section() {
    let b = presets::legacy();
    let p = ok(&b);
    assert_eq!(p.source, NoteSource::Legacy);
    assert_eq!((p.guest_os.as_str(), p.guest_ver.as_str()), ("linux", "2.6"));
    assert_eq!((p.xen_ver.as_str(), p.loader.as_str()), ("xen-3.0", "generic"));
    assert_eq!((p.virt_base, p.elf_paddr_offset), (LINUX_BASE, LINUX_BASE));
    assert_eq!(p.virt_offset(), 0);
    // HYPERCALL_PAGE is a page number relative to VIRT_BASE.
    assert_eq!(p.virt_hypercall, Some(LINUX_BASE + 0x10_1000));
    assert_eq!(p.virt_entry, LINUX_BASE + 0x10_0000);
    assert_eq!(p.pae, PaeMode::ExtendedCr3);
    assert_eq!(p.f_supported, [0b1_0011]);
    assert_eq!(p.f_required, [0b1_0000]);
    let image = b.image();
    let mut target = VecTarget::for_image(&p);
    load(&p, image.bytes(), &mut target).unwrap();
    check_loaded(&b, &p, &target);
}

#[test]
fn legacy_paddr_offset_defaults_to_virt_base() {
    let b = legacy_guest(
        "GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000,LOADER=generic,PAE=yes",
    );
    let p = ok(&b);
    assert_eq!(p.elf_paddr_offset, LINUX_BASE);
    assert_eq!(p.virt_kstart, LINUX_BASE + 0x10_0000);
    assert_eq!(p.pae, PaeMode::Yes);
    assert_eq!(p.virt_hypercall, None);
}

#[test]
fn legacy_entry_bsd_symtab_and_unknown_keys() {
    let b = legacy_guest(
        "GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000,\
         VIRT_ENTRY=0xffffffff80100010,BSD_SYMTAB,SHINY=1,FEATURES=dom0",
    );
    let p = ok(&b);
    assert_eq!(p.virt_entry, LINUX_BASE + 0x10_0010);
    assert!(p.bsd_symtab);
    assert!(p.supports(XENFEAT_dom0));
    assert!(p.warnings.iter().any(|w| w.contains("unknown key 'SHINY'")), "{:?}", p.warnings);
    assert!(p.warnings.iter().any(|w| w.contains("BSD_SYMTAB")), "{:?}", p.warnings);
}

#[test]
fn elf_notes_paddr_offset_defaults_to_zero() {
    let p = ok(&presets::linux().drop_note(XenElfNote::PaddrOffset));
    assert_eq!(p.elf_paddr_offset, 0);
    assert_eq!(p.virt_kstart, 0xffff_ffff_8100_0000);
}

#[test]
fn old_style_paddr_offset_note() {
    // Pre-2.6.23 Linux: p_paddr held virtual addresses, PADDR_OFFSET = VIRT_BASE.
    let mut b = presets::linux().set_note(xen_u64(XenElfNote::PaddrOffset, LINUX_BASE));
    for load in &mut b.loads {
        load.paddr += LINUX_BASE;
    }
    let p = ok(&b);
    assert_eq!(p.virt_offset(), 0);
    assert_eq!(p.virt_kstart, 0xffff_ffff_8100_0000);
}

#[test]
fn notes_win_over_legacy_section() {
    let mut b = presets::xtf();
    b.xen_guest = Some("GUEST_OS=other,XEN_VER=xen-2.0,LOADER=none".to_string());
    let p = ok(&b);
    assert_eq!(p.source, NoteSource::Segment);
    assert_eq!(p.guest_os, "XTF");
}

#[test]
fn segment_without_xen_notes_falls_back_to_sections() {
    let mut b = presets::xtf();
    b.segment_notes = vec![NoteSpec { name: "GNU", type_: 3, desc: vec![1; 20] }];
    let p = ok(&b);
    assert_eq!(p.source, NoteSource::Section);
    assert_eq!(p.guest_os, "XTF");
}

#[test]
fn zero_offset_pt_note_is_skipped() {
    let mut b = presets::xtf();
    b.zero_note_offset = true;
    assert_eq!(ok(&b).source, NoteSource::Section);
}

#[test]
fn numeric_notes_of_every_width() {
    let b = presets::xtf()
        .set_note(xen_raw(XenElfNote::Entry, 0x10_0010u32.to_le_bytes().to_vec()))
        .set_note(xen_raw(XenElfNote::HypercallPage, 0x10_7000u64.to_le_bytes().to_vec()))
        .set_note(xen_raw(XenElfNote::ModStartPfn, vec![1]))
        .set_note(xen_raw(XenElfNote::SuspendCancel, vec![0, 1]));
    let p = ok(&b);
    assert_eq!(p.virt_entry, 0x10_0010);
    assert_eq!(p.virt_hypercall, Some(0x10_7000));
    assert!(p.mod_start_pfn);
    assert!(p.suspend_cancel);
}

#[test]
fn eight_byte_note_alignment() {
    let mut b = presets::linux();
    b.note_align = 8;
    let p = ok(&b);
    assert_eq!(p.virt_entry, LINUX_BASE + 0x160_0100);
    assert_eq!(p.guest_os, "linux");
}

#[test]
fn later_note_wins() {
    let mut b = presets::xtf();
    b.segment_notes.push(xen_str(XenElfNote::GuestOs, "XTF-2"));
    assert_eq!(ok(&b).guest_os, "XTF-2");
}

#[test]
fn unknown_optional_feature_warns() {
    let b = presets::xtf().set_note(xen_str(XenElfNote::Features, "shiny|dom0||"));
    let p = ok(&b);
    assert!(p.supports(XENFEAT_dom0));
    assert_eq!(p.f_required, [0]);
    assert!(p.warnings.iter().any(|w| w.contains("unknown feature 'shiny'")), "{:?}", p.warnings);
}

#[test]
fn unknown_and_uninterpreted_notes() {
    let mut b = presets::xtf();
    b.segment_notes.push(NoteSpec { name: "Xen", type_: 42, desc: vec![0; 4] });
    b.segment_notes.push(xen_str(XenElfNote::Info, "KEY=value"));
    b.segment_notes.push(xen_raw(XenElfNote::Phys32Reloc, vec![0; 12]));
    b.segment_notes.push(NoteSpec { name: "Xenon", type_: 5, desc: b"xen-2.0\0".to_vec() });
    let p = ok(&b);
    assert_eq!(p.xen_ver, "xen-3.0");
    assert!(p.warnings.iter().any(|w| w.contains("type 0x2a")), "{:?}", p.warnings);
}

#[test]
fn et_dyn_is_accepted_with_a_warning() {
    let mut b = presets::xtf();
    b.e_type = 3;
    let p = ok(&b);
    assert!(p.warnings.iter().any(|w| w.contains("ET_DYN")), "{:?}", p.warnings);
}

#[test]
fn load_without_permissions_is_ignored() {
    let mut b = presets::xtf();
    b.loads.push(LoadSpec { paddr: 0x10_0000, vaddr: 0, filesz: 0x10, memsz: 0x10, flags: 0 });
    let p = ok(&b);
    assert_eq!(p.segments.len(), 1);
    assert!(p.warnings.iter().any(|w| w.contains("without R, W or X")), "{:?}", p.warnings);
}

#[test]
fn loader_gate_accepts_linux_or_generic_prefixes() {
    let linux_no_loader = presets::xtf()
        .drop_note(XenElfNote::Loader)
        .set_note(xen_str(XenElfNote::GuestOs, "linux-6.1"));
    assert_eq!(ok(&linux_no_loader).loader, "");
    let generic_plus = presets::xtf().set_note(xen_str(XenElfNote::Loader, "generic-2"));
    assert_eq!(ok(&generic_plus).loader, "generic-2");
    let xen_ver = presets::xtf().set_note(xen_str(XenElfNote::XenVersion, "xen-3.0-x86_64"));
    assert_eq!(ok(&xen_ver).xen_ver, "xen-3.0-x86_64");
}

#[test]
fn pae_modes_and_bsd_symtab() {
    let bimodal = presets::xtf().set_note(xen_str(XenElfNote::PaeMode, "yes,bimodal"));
    assert_eq!(ok(&bimodal).pae, PaeMode::Bimodal);
    let no = presets::xtf().set_note(xen_str(XenElfNote::PaeMode, "no"));
    assert_eq!(ok(&no).pae, PaeMode::No);
    let symtab = presets::xtf().set_note(xen_str(XenElfNote::BsdSymtab, "yes"));
    assert!(ok(&symtab).bsd_symtab);
}

#[test]
fn entry_and_hypercall_page_at_the_image_edges() {
    let b = presets::xtf()
        .set_note(xen_u64(XenElfNote::Entry, 0x11_1fff))
        .set_note(xen_u64(XenElfNote::HypercallPage, 0x10_0000));
    let p = ok(&b);
    assert_eq!(p.virt_entry, 0x11_1fff);
    assert_eq!(p.virt_hypercall, Some(0x10_0000));
}

#[test]
fn misaligned_hypercall_page_warns() {
    let p = ok(&presets::xtf().set_note(xen_u64(XenElfNote::HypercallPage, 0x10_6008)));
    assert!(p.warnings.iter().any(|w| w.contains("not page-aligned")), "{:?}", p.warnings);
}

#[test]
fn bss_only_segment_is_zeroed() {
    let mut b = presets::xtf();
    b.loads.push(LoadSpec {
        paddr: 0x20_0000,
        vaddr: 0x20_0000,
        filesz: 0,
        memsz: 0x1000,
        flags: RW,
    });
    let image = b.image();
    let p = parse(image.bytes()).unwrap();
    assert_eq!(p.virt_kend, 0x20_1000);
    let mut target = VecTarget::for_image(&p);
    load(&p, image.bytes(), &mut target).unwrap();
    assert!(target.at(0x20_0000, 0x1000).iter().all(|&x| x == 0));
    assert!(target.at(0x11_2000, 0x20_0000 - 0x11_2000).iter().all(|&x| x == 0xaa));
}

#[test]
fn string_note_may_end_in_its_padding() {
    // Linux's FEATURES note: 41 bytes of `.ascii`, NUL only in the padding.
    let features = b"!writable_page_tables|pae_pgdir_above_4gb".to_vec();
    let b = presets::linux().set_note(xen_raw(XenElfNote::Features, features));
    let p = ok(&b);
    assert!(p.requires(XENFEAT_writable_page_tables));
    assert!(p.supports(XENFEAT_pae_pgdir_above_4gb));
}
