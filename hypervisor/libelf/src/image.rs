// SPDX-License-Identifier: GPL-2.0-only
//! ELF64 structure on `xmas-elf`: the file header, the program and section
//! header tables, and the loadable segments (Xen's `elf_init`,
//! `elf_parse_binary` and the dom0 builder's compatibility check).
//!
//! `xmas-elf` asserts (panics) on short, misaligned or out-of-range input,
//! so every table is validated here before `xmas-elf` touches it: the image
//! buffer and both header tables must be 8-byte aligned (boot modules are
//! page-aligned), entries must have the ELF64 sizes, and tables must lie
//! inside the image. Segment and section contents are sliced with checked
//! arithmetic, never through `xmas-elf`'s unchecked `raw_data`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use xmas_elf::ElfFile;
use xmas_elf::header::{self, Machine, Type as ElfType};
use xmas_elf::program::{self, ProgramHeader, Type as PhType};
use xmas_elf::sections::{SHN_LORESERVE, SectionHeader, ShType};

use super::notes::NoteRegion;
use super::{Collected, ElfError, MAX_IMAGE_SPAN, Segment};

/// Size of the ELF64 file header.
const EHDR_SIZE: usize = 64;
/// Size of an ELF64 program header.
const PHDR_SIZE: u64 = 56;
/// Size of an ELF64 section header.
const SHDR_SIZE: u64 = 64;
/// Alignment `xmas-elf` needs for its header structs.
const HEADER_ALIGN: u64 = 8;

/// The bytes `offset..offset + size` of `image`, if they are all inside it.
pub(super) fn slice(image: &[u8], offset: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let len = usize::try_from(size).ok()?;
    image.get(start..start.checked_add(len)?)
}

fn le_u16(image: &[u8], offset: usize) -> Option<u16> {
    let bytes = image.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes(bytes.try_into().ok()?))
}

/// Whether `count` entries of `size` bytes from `offset` fit in `len` bytes.
fn table_fits(offset: u64, count: u16, size: u64, len: usize) -> bool {
    size.checked_mul(u64::from(count))
        .and_then(|bytes| bytes.checked_add(offset))
        .is_some_and(|end| u64::try_from(len).is_ok_and(|len| end <= len))
}

/// Validates the ELF header and both header tables, then opens the image.
pub(super) fn open<'a>(image: &'a [u8], c: &mut Collected) -> Result<ElfFile<'a>, ElfError> {
    if image.get(..4) != Some(&header::MAGIC[..]) {
        return Err(ElfError::NotElf);
    }
    if image.len() < EHDR_SIZE {
        return Err(ElfError::TooShort { len: image.len() });
    }
    let class = image.get(4).copied().unwrap_or_default();
    if class != 2 {
        return Err(ElfError::NotElf64 { class });
    }
    let data = image.get(5).copied().unwrap_or_default();
    if data != 1 {
        return Err(ElfError::NotLittleEndian { data });
    }
    let addr = u64::try_from(image.as_ptr().addr()).unwrap_or_default();
    if !addr.is_multiple_of(HEADER_ALIGN) {
        return Err(ElfError::Misaligned { what: "image buffer address", value: addr });
    }
    let elf = ElfFile::new(image).map_err(|_| ElfError::TooShort { len: image.len() })?;
    let pt2 = elf.header.pt2;
    let machine = le_u16(image, 18).unwrap_or_default();
    if pt2.machine().as_machine() != Machine::X86_64 {
        return Err(ElfError::WrongMachine { machine });
    }
    match pt2.type_().as_type() {
        ElfType::Executable => {}
        ElfType::SharedObject => c
            .warnings
            .push(String::from("ET_DYN image: loaded at its link addresses without relocation")),
        _ => return Err(ElfError::WrongType { e_type: pt2.type_().0 }),
    }
    check_program_table(&elf, image.len())?;
    check_section_table(&elf, image.len())?;
    Ok(elf)
}

fn check_program_table(elf: &ElfFile<'_>, len: usize) -> Result<(), ElfError> {
    let pt2 = elf.header.pt2;
    let bad = |reason| Err(ElfError::BadProgramHeaders { reason });
    if pt2.ph_count() == 0 {
        return Err(ElfError::NoLoadableSegments);
    }
    if u64::from(pt2.ph_entry_size()) != PHDR_SIZE {
        return bad("e_phentsize is not 56");
    }
    if pt2.ph_offset() == 0 {
        return bad("e_phoff is 0");
    }
    if !pt2.ph_offset().is_multiple_of(HEADER_ALIGN) {
        return Err(ElfError::Misaligned { what: "e_phoff", value: pt2.ph_offset() });
    }
    if !table_fits(pt2.ph_offset(), pt2.ph_count(), PHDR_SIZE, len) {
        return bad("the table lies outside the image");
    }
    Ok(())
}

fn check_section_table(elf: &ElfFile<'_>, len: usize) -> Result<(), ElfError> {
    let pt2 = elf.header.pt2;
    let bad = |reason| Err(ElfError::BadSectionHeaders { reason });
    if pt2.sh_count() == 0 {
        return Ok(());
    }
    if pt2.sh_count() >= SHN_LORESERVE {
        return bad("e_shnum is in the reserved range");
    }
    if u64::from(pt2.sh_entry_size()) != SHDR_SIZE {
        return bad("e_shentsize is not 64");
    }
    if !pt2.sh_offset().is_multiple_of(HEADER_ALIGN) {
        return Err(ElfError::Misaligned { what: "e_shoff", value: pt2.sh_offset() });
    }
    if !table_fits(pt2.sh_offset(), pt2.sh_count(), SHDR_SIZE, len) {
        return bad("the table lies outside the image");
    }
    Ok(())
}

/// Program headers with their indices (the table was checked by [`open`]).
fn program_headers<'a>(
    elf: &'a ElfFile<'a>,
) -> impl Iterator<Item = (usize, ProgramHeader<'a>)> + 'a {
    (0..elf.header.pt2.ph_count())
        .filter_map(|index| Some((usize::from(index), elf.program_header(index).ok()?)))
}

/// Section headers with their indices (the table was checked by [`open`]).
fn section_headers<'a>(
    elf: &'a ElfFile<'a>,
) -> impl Iterator<Item = (usize, SectionHeader<'a>)> + 'a {
    (0..elf.header.pt2.sh_count())
        .filter_map(|index| Some((usize::from(index), elf.section_header(index).ok()?)))
}

/// The loadable segments: `PT_LOAD` with any of R, W, X set (Xen's
/// `elf_phdr_is_loadable`), each checked against the image and for overflow.
pub(super) fn load_segments(
    elf: &ElfFile<'_>,
    c: &mut Collected,
) -> Result<Vec<Segment>, ElfError> {
    let len = elf.input.len();
    let mut segments = Vec::new();
    for (index, ph) in program_headers(elf) {
        if ph.get_type() != Ok(PhType::Load) {
            continue;
        }
        let flags = ph.flags().0 & (program::FLAG_R | program::FLAG_W | program::FLAG_X);
        if flags == 0 {
            c.warnings.push(format!("segment {index}: PT_LOAD without R, W or X ignored"));
            continue;
        }
        let segment = Segment {
            index,
            file_offset: ph.offset(),
            filesz: ph.file_size(),
            memsz: ph.mem_size(),
            paddr: ph.physical_addr(),
            vaddr: ph.virtual_addr(),
        };
        if segment.filesz > segment.memsz {
            return Err(ElfError::FileSizeExceedsMemSize {
                index,
                filesz: segment.filesz,
                memsz: segment.memsz,
            });
        }
        if slice(elf.input, segment.file_offset, segment.filesz).is_none() {
            return Err(ElfError::SegmentOutsideFile {
                index,
                offset: segment.file_offset,
                filesz: segment.filesz,
                len,
            });
        }
        if segment.memsz > MAX_IMAGE_SPAN {
            return Err(ElfError::TooLarge { span: segment.memsz, limit: MAX_IMAGE_SPAN });
        }
        if segment.paddr.checked_add(segment.memsz).is_none() {
            return Err(ElfError::SegmentOverflow { index });
        }
        segments.push(segment);
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadableSegments);
    }
    Ok(segments)
}

/// Checks that no two segments overlap in load address and that together
/// they span at most [`MAX_IMAGE_SPAN`]. Returns `(pstart, pend)`.
pub(super) fn check_layout(segments: &[Segment]) -> Result<(u64, u64), ElfError> {
    let mut sorted: Vec<&Segment> = segments.iter().collect();
    sorted.sort_by_key(|segment| (segment.paddr, segment.index));
    let mut previous: Option<&Segment> = None;
    for segment in sorted.iter().copied().filter(|segment| segment.memsz != 0) {
        if let Some(prev) = previous
            && prev.paddr.saturating_add(prev.memsz) > segment.paddr
        {
            return Err(ElfError::SegmentsOverlap { index: segment.index, other: prev.index });
        }
        previous = Some(segment);
    }
    let pstart = segments.iter().map(|segment| segment.paddr).min().unwrap_or_default();
    let pend = segments
        .iter()
        .map(|segment| segment.paddr.saturating_add(segment.memsz))
        .max()
        .unwrap_or_default();
    let span = pend.saturating_sub(pstart);
    if span > MAX_IMAGE_SPAN {
        return Err(ElfError::TooLarge { span, limit: MAX_IMAGE_SPAN });
    }
    Ok((pstart, pend))
}

/// The `PT_NOTE` segments, skipping those with `p_offset == 0` as Xen does
/// (some binutils left it unset).
pub(super) fn note_segments<'a>(elf: &'a ElfFile<'a>) -> Result<Vec<NoteRegion<'a>>, ElfError> {
    let mut regions = Vec::new();
    for (index, ph) in program_headers(elf) {
        if ph.get_type() != Ok(PhType::Note) || ph.offset() == 0 {
            continue;
        }
        let data =
            slice(elf.input, ph.offset(), ph.file_size()).ok_or(ElfError::SegmentOutsideFile {
                index,
                offset: ph.offset(),
                filesz: ph.file_size(),
                len: elf.input.len(),
            })?;
        regions.push(NoteRegion { data, file_offset: ph.offset(), align: ph.align() });
    }
    Ok(regions)
}

/// The `SHT_NOTE` sections (from index 1, as Xen).
pub(super) fn note_sections<'a>(elf: &'a ElfFile<'a>) -> Result<Vec<NoteRegion<'a>>, ElfError> {
    let mut regions = Vec::new();
    for (index, sh) in section_headers(elf).skip(1) {
        if sh.get_type() != Ok(ShType::Note) {
            continue;
        }
        let data = section_data(elf, index, &sh)?;
        regions.push(NoteRegion { data, file_offset: sh.offset(), align: sh.align() });
    }
    Ok(regions)
}

fn section_data<'a>(
    elf: &ElfFile<'a>,
    index: usize,
    sh: &SectionHeader<'a>,
) -> Result<&'a [u8], ElfError> {
    slice(elf.input, sh.offset(), sh.size()).ok_or(ElfError::SectionOutsideFile {
        index,
        offset: sh.offset(),
        size: sh.size(),
    })
}

/// The contents of the first section called `name`, if any.
///
/// Names come from the section name string table (`e_shstrndx`); without a
/// valid one no section has a name.
pub(super) fn section_by_name<'a>(
    elf: &'a ElfFile<'a>,
    name: &str,
) -> Result<Option<&'a [u8]>, ElfError> {
    let strtab_index = elf.header.pt2.sh_str_index();
    if strtab_index == 0 || strtab_index >= elf.header.pt2.sh_count() {
        return Ok(None);
    }
    let Ok(strtab_header) = elf.section_header(strtab_index) else { return Ok(None) };
    let strtab = section_data(elf, usize::from(strtab_index), &strtab_header)?;
    for (index, sh) in section_headers(elf).skip(1) {
        let start = usize::try_from(sh.name()).unwrap_or(usize::MAX);
        let Some(rest) = strtab.get(start..) else { continue };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        if rest.get(..end) == Some(name.as_bytes()) {
            return section_data(elf, index, &sh).map(Some);
        }
    }
    Ok(None)
}
