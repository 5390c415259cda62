// SPDX-License-Identifier: GPL-2.0-only
//! Why a kernel image was refused: one variant per check, with Xen's wording
//! where Xen has one.

use alloc::string::String;
use core::fmt;

use super::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};

/// A PV kernel image that cannot be parsed or loaded.
///
/// Segment numbers are program header indices, as `readelf -l` shows them;
/// offsets are file offsets into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The image does not start with `\x7fELF`.
    NotElf,
    /// The image is shorter than an ELF64 file header.
    TooShort {
        /// Length of the image in bytes.
        len: usize,
    },
    /// `EI_CLASS` is not `ELFCLASS64`.
    NotElf64 {
        /// The `EI_CLASS` byte (1 = 32-bit).
        class: u8,
    },
    /// `EI_DATA` is not `ELFDATA2LSB`.
    NotLittleEndian {
        /// The `EI_DATA` byte (2 = big-endian).
        data: u8,
    },
    /// `e_machine` is not `EM_X86_64`.
    WrongMachine {
        /// The `e_machine` value.
        machine: u16,
    },
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN`.
    WrongType {
        /// The `e_type` value.
        e_type: u16,
    },
    /// The image buffer or one of its header tables is not 8-byte aligned.
    Misaligned {
        /// What is misaligned.
        what: &'static str,
        /// Its address or file offset.
        value: u64,
    },
    /// The program header table is malformed or lies outside the image.
    BadProgramHeaders {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The section header table is malformed or lies outside the image.
    BadSectionHeaders {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// There is no loadable `PT_LOAD` segment.
    NoLoadableSegments,
    /// A segment's file bytes lie (partly) outside the image.
    SegmentOutsideFile {
        /// Program header index.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
        /// Length of the image.
        len: usize,
    },
    /// A section's bytes lie (partly) outside the image.
    SectionOutsideFile {
        /// Section header index.
        index: usize,
        /// `sh_offset`.
        offset: u64,
        /// `sh_size`.
        size: u64,
    },
    /// A `PT_LOAD` segment has `p_filesz > p_memsz`.
    FileSizeExceedsMemSize {
        /// Program header index.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// A `PT_LOAD` segment's `p_paddr + p_memsz` overflows.
    SegmentOverflow {
        /// Program header index.
        index: usize,
    },
    /// Two `PT_LOAD` segments overlap in load (physical) address.
    SegmentsOverlap {
        /// Program header index of the later-starting segment.
        index: usize,
        /// Program header index of the segment it overlaps.
        other: usize,
    },
    /// The loadable segments span more than [`super::MAX_IMAGE_SPAN`].
    TooLarge {
        /// Bytes from the lowest to the end of the highest segment.
        span: u64,
        /// The limit.
        limit: u64,
    },
    /// More notes than Xen's `ELF_MAX_TOTAL_NOTE_COUNT`.
    TooManyNotes,
    /// A Xen note runs past the end of its segment or section.
    TruncatedNote {
        /// File offset of the note header.
        offset: u64,
    },
    /// A Xen note's descriptor has the wrong shape for its type.
    MalformedNote {
        /// The note's name (`"ENTRY"`, ...).
        note: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A feature marked required (`!name`) is not one this loader knows.
    UnknownRequiredFeature {
        /// The feature name without the `!`.
        name: String,
    },
    /// No Xen notes and no `__xen_guest` section.
    NotXen,
    /// Neither `LOADER` starts with `generic` nor `GUEST_OS` with `linux`.
    BadLoader {
        /// The `LOADER` value (possibly empty).
        loader: String,
        /// The `GUEST_OS` value (possibly empty).
        guest_os: String,
    },
    /// `XEN_VERSION` does not start with `xen-3.0`.
    BadXenVersion {
        /// The `XEN_VERSION` value (possibly empty).
        xen_ver: String,
    },
    /// A numeric `__xen_guest` value is not a number.
    BadLegacyValue {
        /// The key, e.g. `VIRT_BASE`.
        key: String,
        /// The value as written.
        value: String,
    },
    /// `PADDR_OFFSET` is given but `VIRT_BASE` is not.
    PaddrOffsetWithoutVirtBase,
    /// The image's virtual range wraps around the address space.
    ImageWraps {
        /// Computed `virt_kstart`.
        start: u64,
        /// Computed `virt_kend`.
        end: u64,
    },
    /// `VIRT_BASE` lies above the start of the image.
    BaseAboveImage {
        /// `VIRT_BASE`.
        virt_base: u64,
        /// Computed `virt_kstart`.
        start: u64,
    },
    /// The entry point lies outside `[virt_kstart, virt_kend)`.
    EntryOutside {
        /// The entry point.
        entry: u64,
        /// Computed `virt_kstart`.
        start: u64,
        /// Computed `virt_kend`.
        end: u64,
    },
    /// The hypercall page lies outside `[virt_kstart, virt_kend)`.
    HypercallPageOutside {
        /// The hypercall page address.
        addr: u64,
        /// Computed `virt_kstart`.
        start: u64,
        /// Computed `virt_kend`.
        end: u64,
    },
    /// `INIT_P2M` lies inside the image.
    P2mInsideImage {
        /// The `INIT_P2M` address.
        p2m_base: u64,
        /// Computed `virt_kstart`.
        start: u64,
        /// Computed `virt_kend`.
        end: u64,
    },
    /// The image's virtual range is not canonical (crosses the x86-64 hole).
    NonCanonical {
        /// `VIRT_BASE`.
        start: u64,
        /// Computed `virt_kend`.
        end: u64,
    },
    /// The image overlaps the hypervisor's reserved virtual range.
    InHypervisorHole {
        /// `VIRT_BASE`.
        start: u64,
        /// Computed `virt_kend`.
        end: u64,
    },
    /// The [`super::LoadTarget`] cannot take bytes at a guest address.
    BadDestination {
        /// First guest virtual address of the write.
        vaddr: u64,
        /// Length of the write.
        len: u64,
    },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotElf => write!(f, "not an ELF image (bad magic)"),
            Self::TooShort { len } => {
                write!(f, "image is {len} bytes, shorter than an ELF64 header (64 bytes)")
            }
            Self::NotElf64 { class: 1 } => {
                write!(f, "32-bit ELF image: only 64-bit (ELF64) PV kernels are supported")
            }
            Self::NotElf64 { class } => write!(f, "ELF class {class} is not ELFCLASS64"),
            Self::NotLittleEndian { data } => {
                write!(f, "ELF data encoding {data} is not little-endian (ELFDATA2LSB)")
            }
            Self::WrongMachine { machine } => {
                write!(f, "ELF machine {machine:#x} is not x86-64 (EM_X86_64 = 0x3e)")
            }
            Self::WrongType { e_type } => {
                write!(f, "ELF type {e_type} is not an executable (ET_EXEC or ET_DYN)")
            }
            Self::Misaligned { what, value } => {
                write!(f, "{what} {value:#x} is not 8-byte aligned")
            }
            Self::BadProgramHeaders { reason } => write!(f, "bad program header table: {reason}"),
            Self::BadSectionHeaders { reason } => write!(f, "bad section header table: {reason}"),
            Self::NoLoadableSegments => write!(f, "no loadable PT_LOAD segment"),
            Self::SegmentOutsideFile { index, offset, filesz, len } => write!(
                f,
                "segment {index}: file bytes {offset:#x}+{filesz:#x} lie outside the \
                 {len:#x}-byte image"
            ),
            Self::SectionOutsideFile { index, offset, size } => {
                write!(f, "section {index}: bytes {offset:#x}+{size:#x} lie outside the image")
            }
            Self::FileSizeExceedsMemSize { index, filesz, memsz } => {
                write!(f, "segment {index}: p_filesz {filesz:#x} exceeds p_memsz {memsz:#x}")
            }
            Self::SegmentOverflow { index } => {
                write!(f, "segment {index}: p_paddr + p_memsz overflows")
            }
            Self::SegmentsOverlap { index, other } => {
                write!(f, "segment {index} overlaps segment {other}")
            }
            Self::TooLarge { span, limit } => {
                write!(f, "loadable segments span {span:#x} bytes, more than the {limit:#x} limit")
            }
            Self::TooManyNotes => write!(f, "too many ELF notes"),
            Self::TruncatedNote { offset } => {
                write!(f, "Xen note at file offset {offset:#x} runs past the end of its container")
            }
            Self::MalformedNote { note, reason } => write!(f, "note {note}: {reason}"),
            Self::UnknownRequiredFeature { name } => {
                write!(f, "required feature '!{name}' is unknown")
            }
            Self::NotXen => write!(
                f,
                "no Xen notes: not a PV kernel (no Xen ELF notes or '__xen_guest' section)"
            ),
            Self::BadLoader { loader, guest_os } => write!(
                f,
                "LOADER '{loader}' is not generic and GUEST_OS '{guest_os}' is not linux: \
                 will only load images built for the generic loader or Linux"
            ),
            Self::BadXenVersion { xen_ver } => write!(f, "XEN_VERSION '{xen_ver}' is not xen-3.0"),
            Self::BadLegacyValue { key, value } => {
                write!(f, "__xen_guest {key} value '{value}' is not a number")
            }
            Self::PaddrOffsetWithoutVirtBase => {
                write!(f, "ELF_PADDR_OFFSET set but VIRT_BASE unset")
            }
            Self::ImageWraps { start, end } => {
                write!(f, "image {start:#x}-{end:#x} wraps around the address space")
            }
            Self::BaseAboveImage { virt_base, start } => {
                write!(f, "VIRT_BASE {virt_base:#x} lies above the image start {start:#x}")
            }
            Self::EntryOutside { entry, start, end } => {
                write!(f, "entry point {entry:#x} outside the image {start:#x}-{end:#x}")
            }
            Self::HypercallPageOutside { addr, start, end } => {
                write!(f, "hypercall page {addr:#x} outside the image {start:#x}-{end:#x}")
            }
            Self::P2mInsideImage { p2m_base, start, end } => {
                write!(f, "INIT_P2M {p2m_base:#x} lies inside the image {start:#x}-{end:#x}")
            }
            Self::NonCanonical { start, end } => {
                write!(f, "image {start:#x}-{end:#x} is not in canonical address space")
            }
            Self::InHypervisorHole { start, end } => write!(
                f,
                "image {start:#x}-{end:#x} overlaps the hypervisor hole \
                 {HYPERVISOR_VIRT_START:#x}-{HYPERVISOR_VIRT_END:#x}"
            ),
            Self::BadDestination { vaddr, len } => {
                write!(f, "cannot load {len:#x} bytes at guest address {vaddr:#x}")
            }
        }
    }
}

impl core::error::Error for ElfError {}
