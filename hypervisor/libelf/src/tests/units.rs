// SPDX-License-Identifier: GPL-2.0-only
//! Small pieces: the feature table, C numbers, names and error messages.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use guest_abi::elfnote::XenElfNote;

use super::presets::LINUX_BASE;
use super::*;

#[test]
fn feature_table_and_parser() {
    assert_eq!(FEATURE_NAMES.len(), 7);
    for (bit, name) in FEATURE_NAMES {
        assert_eq!(feature_bit(name), Some(bit));
        assert_eq!(feature_name(bit), Some(name));
    }
    assert_eq!(feature_bit("mmu_pt_update_preserve_ad"), None);
    let (mut supported, mut required, mut warnings) = ([0], [0], Vec::new());
    features::parse_features(
        "!dom0|hvm_callback_vector|auto_translated_physmap",
        &mut supported,
        &mut required,
        &mut warnings,
        "test",
    )
    .unwrap();
    assert_eq!(supported, [(1 << 11) | (1 << 8) | (1 << 2)]);
    assert_eq!(required, [1 << 11]);
    assert!(warnings.is_empty());
    assert!(!feature_test(&supported, 40));
}

#[test]
fn c_numbers() {
    assert_eq!(legacy::parse_c_number("0xffffffff80000000"), Some(LINUX_BASE));
    assert_eq!(legacy::parse_c_number("0X10"), Some(16));
    assert_eq!(legacy::parse_c_number("010"), Some(8));
    assert_eq!(legacy::parse_c_number("0"), Some(0));
    assert_eq!(legacy::parse_c_number("257"), Some(257));
    for junk in ["", "0x", "08", "12a", "-1", " 1", "0x1_0", "99999999999999999999999"] {
        assert_eq!(legacy::parse_c_number(junk), None, "{junk}");
    }
}

#[test]
fn note_names_display() {
    assert_eq!(XenElfNote::Entry.to_string(), "XEN_ELFNOTE_ENTRY");
    assert_eq!(XenElfNote::try_from(17).map(|n| n.name()), Ok("SUPPORTED_FEATURES"));
}

#[test]
fn error_messages() {
    let cases: [(ElfError, &str); 7] = [
        (ElfError::SegmentsOverlap { index: 2, other: 1 }, "segment 2 overlaps segment 1"),
        (
            ElfError::EntryOutside { entry: 0x20_0000, start: 0x10_0000, end: 0x11_2000 },
            "entry point 0x200000 outside the image 0x100000-0x112000",
        ),
        (ElfError::NotXen, "no Xen notes: not a PV kernel"),
        (
            ElfError::BadXenVersion { xen_ver: String::from("xen-2.0") },
            "XEN_VERSION 'xen-2.0' is not xen-3.0",
        ),
        (ElfError::NotElf64 { class: 1 }, "32-bit ELF image"),
        (
            ElfError::InHypervisorHole { start: 0xffff_8000_0000_0000, end: 0xffff_8000_0010_0000 },
            "overlaps the hypervisor hole 0xffff800000000000-0xffff880000000000",
        ),
        (
            ElfError::UnknownRequiredFeature { name: String::from("shiny") },
            "required feature '!shiny' is unknown",
        ),
    ];
    for (error, text) in cases {
        assert!(error.to_string().contains(text), "{error} does not contain {text}");
    }
}
