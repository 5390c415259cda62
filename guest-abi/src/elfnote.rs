// SPDX-License-Identifier: GPL-2.0-only
//! Xen ELF notes: the `XEN_ELFNOTE_*` types of `xen/include/public/elfnote.h`.
//!
//! A PV kernel describes itself to the domain builder with ELF notes whose
//! owner name is `"Xen"` ([`XEN_ELFNOTE_NAME`]), normally in a `PT_NOTE`
//! segment (older images such as mini-os only have an `SHT_NOTE` section).
//! Each note's type is one of [`XenElfNote`]; its descriptor is either a
//! NUL-terminated ASCII string or a little-endian number of 1, 2, 4 or 8
//! bytes, as given by [`XenElfNote::kind`] (Xen's `note_desc[]` table in
//! `xen/common/libelf/libelf-dominfo.c`).
//!
//! Before these notes existed, kernels carried a `__xen_guest`
//! section holding a comma-separated `KEY=value` string; the `LEGACY:` keys
//! of `elfnote.h` are given by [`XenElfNote::legacy_key`].
//!
//! The numbers are stable ABI: types 0–11 came with the note interface in
//! the Xen 3.0 series, 12–17 during Xen 3.x–4.2, 18 (`PHYS32_ENTRY`) with
//! PVH and 19 (`PHYS32_RELOC`, relocatable PVH) in Xen 4.19. The crash-dump notes
//! ([`XEN_ELFNOTE_CRASH_INFO`] and friends) are written by the hypervisor
//! and toolstack into core files; they never appear in a kernel image.

use core::fmt;

/// Owner name of every Xen note (`"Xen"`, the `namesz` = 4 name with its NUL
/// dropped).
pub const XEN_ELFNOTE_NAME: &str = "Xen";

/// Owner name of every Xen note as stored in the image: `"Xen\0"`.
pub const XEN_ELFNOTE_NAME_BYTES: &[u8; 4] = b"Xen\0";

/// Highest note type defined by this crate (`XEN_ELFNOTE_MAX` of Xen 4.19+).
pub const XEN_ELFNOTE_MAX: u32 = XenElfNote::Phys32Reloc.raw();

/// System information in a crash (kexec/kdump) core file
/// (`XEN_ELFNOTE_CRASH_INFO`); see Xen's `xen/include/xen/elfcore.h`.
pub const XEN_ELFNOTE_CRASH_INFO: u32 = 0x100_0001;

/// Per-CPU system registers in a crash core file (`XEN_ELFNOTE_CRASH_REGS`).
pub const XEN_ELFNOTE_CRASH_REGS: u32 = 0x100_0002;

/// Marks an `xm dump-core` file (`XEN_ELFNOTE_DUMPCORE_NONE`, no payload).
pub const XEN_ELFNOTE_DUMPCORE_NONE: u32 = 0x200_0000;

/// Header note of an `xm dump-core` file (`XEN_ELFNOTE_DUMPCORE_HEADER`).
pub const XEN_ELFNOTE_DUMPCORE_HEADER: u32 = 0x200_0001;

/// Xen version (from `XENVER_*`) in an `xm dump-core` file
/// (`XEN_ELFNOTE_DUMPCORE_XEN_VERSION`).
pub const XEN_ELFNOTE_DUMPCORE_XEN_VERSION: u32 = 0x200_0002;

/// Format version of an `xm dump-core` file
/// (`XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION`).
pub const XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION: u32 = 0x200_0003;

abi_enum! {
    /// Type of a Xen ELF note in a guest kernel image (`XEN_ELFNOTE_*`).
    pub enum XenElfNote: u32 {
        /// A `NAME=VALUE` pair (string). Not interpreted by Xen's loader.
        Info = 0 => "XEN_ELFNOTE_INFO",
        /// Virtual address of the entry point (numeric); defaults to `e_entry`.
        /// Legacy: `VIRT_ENTRY`.
        Entry = 1 => "XEN_ELFNOTE_ENTRY",
        /// Virtual address of the hypercall transfer page (numeric). Legacy:
        /// `HYPERCALL_PAGE`, which is instead a page number relative to
        /// `VIRT_BASE`.
        HypercallPage = 2 => "XEN_ELFNOTE_HYPERCALL_PAGE",
        /// Virtual address at which the kernel image is mapped (numeric);
        /// defaults to 0. Legacy: `VIRT_BASE`.
        VirtBase = 3 => "XEN_ELFNOTE_VIRT_BASE",
        /// Offset of the ELF `p_paddr` fields from the real pseudo-physical
        /// addresses (numeric), for old kernels that put `__PAGE_OFFSET` there.
        /// Defaults to 0 (legacy `ELF_PADDR_OFFSET` defaults to `VIRT_BASE`).
        PaddrOffset = 4 => "XEN_ELFNOTE_PADDR_OFFSET",
        /// The Xen interface version the kernel was built for (string, must
        /// start with `"xen-3.0"`). Legacy: `XEN_VER`.
        XenVersion = 5 => "XEN_ELFNOTE_XEN_VERSION",
        /// Name of the guest operating system (string, e.g. `"linux"`).
        /// Legacy: `GUEST_OS`.
        GuestOs = 6 => "XEN_ELFNOTE_GUEST_OS",
        /// Version of the guest operating system (string). Legacy: `GUEST_VER`.
        GuestVersion = 7 => "XEN_ELFNOTE_GUEST_VERSION",
        /// Loader type (string, `"generic"`). Legacy: `LOADER`.
        Loader = 8 => "XEN_ELFNOTE_LOADER",
        /// PAE support, x86-32 only (string: `"yes"`, `"no"`, `"bimodal"` or
        /// `"yes,bimodal"`). Legacy: `PAE` (`"yes[extended-cr3]"`).
        PaeMode = 9 => "XEN_ELFNOTE_PAE_MODE",
        /// Supported and required features (string): `XENFEAT_*` names without
        /// the prefix, separated by `|`; a leading `!` marks a required feature.
        /// Legacy: `FEATURES`.
        Features = 10 => "XEN_ELFNOTE_FEATURES",
        /// The kernel wants its symbol table loaded (string, `"yes"`/`"no"`).
        /// Legacy: `BSD_SYMTAB` (presence alone means yes).
        BsdSymtab = 11 => "XEN_ELFNOTE_BSD_SYMTAB",
        /// Lowest address the hypervisor hole may begin at (numeric, 32-bit
        /// guests only).
        HvStartLow = 12 => "XEN_ELFNOTE_HV_START_LOW",
        /// `maddr_t`-sized mask/value pairs recognising non-present L1 entries
        /// that still carry valid MFNs (numeric array; save/restore only).
        L1MfnValid = 13 => "XEN_ELFNOTE_L1_MFN_VALID",
        /// The guest supports cooperative suspend cancellation (numeric,
        /// default 0).
        SuspendCancel = 14 => "XEN_ELFNOTE_SUSPEND_CANCEL",
        /// Non-default virtual address for the initial phys-to-machine map
        /// (numeric, x86-64 only); the kernel copes with large-page mappings.
        InitP2m = 15 => "XEN_ELFNOTE_INIT_P2M",
        /// The guest accepts an initrd not mapped by its initial page tables,
        /// passed as a PFN with `SIF_MOD_START_PFN` (numeric).
        ModStartPfn = 16 => "XEN_ELFNOTE_MOD_START_PFN",
        /// Supported features as a `XENFEAT_*` bitmap of 32-bit submaps
        /// (numeric array), combined with [`XenElfNote::Features`] by Xen 4.2+.
        SupportedFeatures = 17 => "XEN_ELFNOTE_SUPPORTED_FEATURES",
        /// 32-bit physical entry point for PVH (numeric).
        Phys32Entry = 18 => "XEN_ELFNOTE_PHYS32_ENTRY",
        /// PVH physical load constraints: up to three 32-bit values, alignment,
        /// minimum and maximum address (numeric array). Its presence means the
        /// kernel can relocate itself.
        Phys32Reloc = 19 => "XEN_ELFNOTE_PHYS32_RELOC",
    }
}

/// How a note's descriptor is encoded (Xen's `note_desc[].str`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoteKind {
    /// A NUL-terminated ASCII string.
    String,
    /// One little-endian unsigned number of 1, 2, 4 or 8 bytes
    /// (Xen's `elf_note_numeric`).
    Numeric,
    /// A packed array of little-endian numbers (Xen's
    /// `elf_note_numeric_array`); the element size depends on the note.
    NumericArray,
}

impl XenElfNote {
    /// The note's name as Xen's libelf logs it (`"ENTRY"`, `"GUEST_OS"`,
    /// ...): [`Self::xen_name`] without the `XEN_ELFNOTE_` prefix.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Entry => "ENTRY",
            Self::HypercallPage => "HYPERCALL_PAGE",
            Self::VirtBase => "VIRT_BASE",
            Self::PaddrOffset => "PADDR_OFFSET",
            Self::XenVersion => "XEN_VERSION",
            Self::GuestOs => "GUEST_OS",
            Self::GuestVersion => "GUEST_VERSION",
            Self::Loader => "LOADER",
            Self::PaeMode => "PAE_MODE",
            Self::Features => "FEATURES",
            Self::BsdSymtab => "BSD_SYMTAB",
            Self::HvStartLow => "HV_START_LOW",
            Self::L1MfnValid => "L1_MFN_VALID",
            Self::SuspendCancel => "SUSPEND_CANCEL",
            Self::InitP2m => "INIT_P2M",
            Self::ModStartPfn => "MOD_START_PFN",
            Self::SupportedFeatures => "SUPPORTED_FEATURES",
            Self::Phys32Entry => "PHYS32_ENTRY",
            Self::Phys32Reloc => "PHYS32_RELOC",
        }
    }

    /// How the note's descriptor is encoded.
    pub const fn kind(self) -> NoteKind {
        match self {
            Self::Info
            | Self::XenVersion
            | Self::GuestOs
            | Self::GuestVersion
            | Self::Loader
            | Self::PaeMode
            | Self::Features
            | Self::BsdSymtab => NoteKind::String,
            Self::Entry
            | Self::HypercallPage
            | Self::VirtBase
            | Self::PaddrOffset
            | Self::HvStartLow
            | Self::SuspendCancel
            | Self::InitP2m
            | Self::ModStartPfn
            | Self::Phys32Entry => NoteKind::Numeric,
            Self::L1MfnValid | Self::SupportedFeatures | Self::Phys32Reloc => {
                NoteKind::NumericArray
            }
        }
    }

    /// The key this note replaces in the legacy `__xen_guest` string, if any
    /// (the `LEGACY:` lines of `elfnote.h`).
    pub const fn legacy_key(self) -> Option<&'static str> {
        match self {
            Self::Entry => Some("VIRT_ENTRY"),
            Self::HypercallPage => Some("HYPERCALL_PAGE"),
            Self::VirtBase => Some("VIRT_BASE"),
            Self::PaddrOffset => Some("ELF_PADDR_OFFSET"),
            Self::XenVersion => Some("XEN_VER"),
            Self::GuestOs => Some("GUEST_OS"),
            Self::GuestVersion => Some("GUEST_VER"),
            Self::Loader => Some("LOADER"),
            Self::PaeMode => Some("PAE"),
            Self::Features | Self::SupportedFeatures => Some("FEATURES"),
            Self::BsdSymtab => Some("BSD_SYMTAB"),
            Self::Info
            | Self::HvStartLow
            | Self::L1MfnValid
            | Self::SuspendCancel
            | Self::InitP2m
            | Self::ModStartPfn
            | Self::Phys32Entry
            | Self::Phys32Reloc => None,
        }
    }
}

impl fmt::Display for XenElfNote {
    /// Formats as Xen's full name, e.g. `XEN_ELFNOTE_ENTRY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.xen_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_elfnote_h() {
        let expected: [(XenElfNote, u32); 20] = [
            (XenElfNote::Info, 0),
            (XenElfNote::Entry, 1),
            (XenElfNote::HypercallPage, 2),
            (XenElfNote::VirtBase, 3),
            (XenElfNote::PaddrOffset, 4),
            (XenElfNote::XenVersion, 5),
            (XenElfNote::GuestOs, 6),
            (XenElfNote::GuestVersion, 7),
            (XenElfNote::Loader, 8),
            (XenElfNote::PaeMode, 9),
            (XenElfNote::Features, 10),
            (XenElfNote::BsdSymtab, 11),
            (XenElfNote::HvStartLow, 12),
            (XenElfNote::L1MfnValid, 13),
            (XenElfNote::SuspendCancel, 14),
            (XenElfNote::InitP2m, 15),
            (XenElfNote::ModStartPfn, 16),
            (XenElfNote::SupportedFeatures, 17),
            (XenElfNote::Phys32Entry, 18),
            (XenElfNote::Phys32Reloc, 19),
        ];
        for (note, number) in expected {
            assert_eq!(u32::from(note), number);
            assert_eq!(XenElfNote::try_from(number), Ok(note));
        }
        assert_eq!(XEN_ELFNOTE_MAX, 19);
    }

    #[test]
    fn all_is_in_numeric_order() {
        assert_eq!(XenElfNote::ALL.len(), 20);
        for (index, note) in XenElfNote::ALL.iter().enumerate() {
            assert_eq!(usize::try_from(u32::from(*note)).ok(), Some(index));
        }
    }

    #[test]
    fn unknown_numbers_are_refused() {
        for number in [20, 0x100_0001, 0x200_0000, u32::MAX] {
            assert_eq!(XenElfNote::try_from(number), Err(crate::Unknown(number)));
        }
    }

    #[test]
    fn names_and_kinds() {
        assert_eq!(XenElfNote::SupportedFeatures.name(), "SUPPORTED_FEATURES");
        for note in XenElfNote::ALL {
            assert_eq!(note.xen_name().strip_prefix("XEN_ELFNOTE_"), Some(note.name()));
        }
        assert_eq!(XenElfNote::GuestOs.kind(), NoteKind::String);
        assert_eq!(XenElfNote::VirtBase.kind(), NoteKind::Numeric);
        assert_eq!(XenElfNote::L1MfnValid.kind(), NoteKind::NumericArray);
        assert_eq!(XenElfNote::HypercallPage.legacy_key(), Some("HYPERCALL_PAGE"));
        assert_eq!(XenElfNote::InitP2m.legacy_key(), None);
        assert_eq!(XEN_ELFNOTE_NAME_BYTES.strip_suffix(b"\0"), Some(XEN_ELFNOTE_NAME.as_bytes()));
    }
}
