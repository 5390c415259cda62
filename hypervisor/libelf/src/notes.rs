// SPDX-License-Identifier: GPL-2.0-only
//! Xen ELF notes: walking note containers and applying each `"Xen"` note
//! (Xen's `elf_xen_parse_notes` and `elf_xen_parse_note`).
//!
//! A note is a 12-byte header (`namesz`, `descsz`, `type`, little-endian
//! `u32`s), the name, and the descriptor, each padded to the container's
//! note alignment: 4 bytes, or 8 when the segment or section is 8-aligned
//! (Xen's `elf_note_round_up`). Notes of other owners are skipped.
//!
//! Stricter than Xen, which reads a malformed descriptor as 0 or marks the
//! image broken later: a numeric descriptor must be 1, 2, 4 or 8 bytes, a
//! string must be NUL-terminated inside its descriptor or the descriptor's
//! padding, and a `"Xen"` note must not run past its container. Each of
//! these refuses the image. (Xen reads a string up to its first NUL, so a
//! terminator in the padding works there: Linux's `FEATURES` note,
//! `.ascii "!writable_page_tables|pae_pgdir_above_4gb"`, has none of its
//! own.)

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;

use guest_abi::elfnote::{XEN_ELFNOTE_NAME, XenElfNote};

use super::features::{merge_supported, parse_features};
use super::{Collected, ElfError, PaeMode};

/// Most notes examined across all containers (`ELF_MAX_TOTAL_NOTE_COUNT`).
pub(super) const MAX_TOTAL_NOTES: usize = 65536;

/// Longest string note accepted (`ELF_MAX_STRING_LENGTH`).
const MAX_STRING_LEN: usize = 4096;

/// Size of a note header.
const NOTE_HEADER_SIZE: usize = 12;

/// The bytes of one `PT_NOTE` segment or `SHT_NOTE` section.
pub(super) struct NoteRegion<'a> {
    /// The container's bytes.
    pub(super) data: &'a [u8],
    /// File offset of `data`, for messages.
    pub(super) file_offset: u64,
    /// `p_align` or `sh_addralign`.
    pub(super) align: u64,
}

/// Parses every note in `region`, applying the `"Xen"` ones to `collected`.
///
/// `total` counts notes across all regions. Returns the number of Xen notes.
pub(super) fn parse_region(
    region: &NoteRegion<'_>,
    collected: &mut Collected,
    total: &mut usize,
) -> Result<usize, ElfError> {
    let align: usize = if region.align > 4 { 8 } else { 4 };
    let data = region.data;
    let mut xen_notes: usize = 0;
    let mut pos = 0usize;
    while pos < data.len() {
        *total = total.saturating_add(1);
        if *total > MAX_TOTAL_NOTES {
            return Err(ElfError::TooManyNotes);
        }
        let offset = region.file_offset.saturating_add(u64::try_from(pos).unwrap_or(u64::MAX));
        let Some(note) = split_note(data, pos, align) else {
            if data.get(pos..).is_some_and(|rest| rest.iter().all(|&b| b == 0)) {
                break; // Trailing padding.
            }
            if name_at(data, pos).is_some_and(is_xen) {
                return Err(ElfError::TruncatedNote { offset });
            }
            collected.warnings.push(format!(
                "note at file offset {offset:#x} runs past the end of its container; \
                 rest ignored"
            ));
            break;
        };
        if is_xen(note.name) {
            apply_note(note.type_, note.desc, note.padded_desc, collected)?;
            xen_notes = xen_notes.saturating_add(1);
        }
        pos = note.next;
    }
    Ok(xen_notes)
}

/// One note split out of its container.
struct RawNote<'a> {
    type_: u32,
    name: &'a [u8],
    desc: &'a [u8],
    /// The descriptor with its padding, as far as the container goes.
    padded_desc: &'a [u8],
    /// Offset of the following note.
    next: usize,
}

fn read_u32(data: &[u8], pos: usize) -> Option<u32> {
    let bytes = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn round_up(value: usize, align: usize) -> Option<usize> {
    value.checked_next_multiple_of(align)
}

fn split_note(data: &[u8], pos: usize, align: usize) -> Option<RawNote<'_>> {
    let namesz = usize::try_from(read_u32(data, pos)?).ok()?;
    let descsz = usize::try_from(read_u32(data, pos.checked_add(4)?)?).ok()?;
    let type_ = read_u32(data, pos.checked_add(8)?)?;
    let name_start = pos.checked_add(NOTE_HEADER_SIZE)?;
    let name_end = name_start.checked_add(namesz)?;
    let desc_start = round_up(name_end, align)?;
    let desc_end = desc_start.checked_add(descsz)?;
    // Padding after the last descriptor may be missing.
    let next = round_up(desc_end, align)?;
    Some(RawNote {
        type_,
        name: data.get(name_start..name_end)?,
        desc: data.get(desc_start..desc_end)?,
        padded_desc: data.get(desc_start..next.min(data.len()))?,
        next,
    })
}

/// The name of a note whose descriptor may be truncated.
fn name_at(data: &[u8], pos: usize) -> Option<&[u8]> {
    let namesz = usize::try_from(read_u32(data, pos)?).ok()?;
    let name_start = pos.checked_add(NOTE_HEADER_SIZE)?;
    data.get(name_start..name_start.checked_add(namesz)?)
}

/// Whether a note name (up to its first NUL) is `"Xen"`.
fn is_xen(name: &[u8]) -> bool {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    name.get(..end) == Some(XEN_ELFNOTE_NAME.as_bytes())
}

/// Applies one `"Xen"` note of type `type_` (Xen's `elf_xen_parse_note`);
/// `padded` is `desc` with its padding, where a string may end.
fn apply_note(type_: u32, desc: &[u8], padded: &[u8], c: &mut Collected) -> Result<(), ElfError> {
    let Ok(note) = XenElfNote::try_from(type_) else {
        c.warnings.push(format!("unknown Xen ELF note type {type_:#x} ignored"));
        return Ok(());
    };
    match note {
        // INFO is not interpreted by Xen; PHYS32_RELOC only matters to PVH.
        XenElfNote::Info | XenElfNote::Phys32Reloc => {}
        XenElfNote::Entry => c.virt_entry = Some(numeric(note, desc)?),
        XenElfNote::HypercallPage => c.virt_hypercall = Some(numeric(note, desc)?),
        XenElfNote::VirtBase => c.virt_base = Some(numeric(note, desc)?),
        XenElfNote::PaddrOffset => c.paddr_offset = Some(numeric(note, desc)?),
        XenElfNote::HvStartLow => c.hv_start_low = Some(numeric(note, desc)?),
        XenElfNote::InitP2m => c.p2m_base = Some(numeric(note, desc)?),
        XenElfNote::SuspendCancel => c.suspend_cancel = numeric(note, desc)? != 0,
        XenElfNote::ModStartPfn => c.mod_start_pfn = numeric(note, desc)? != 0,
        XenElfNote::Phys32Entry => {
            let value = numeric(note, desc)?;
            c.phys_entry = Some(u32::try_from(value).map_err(|_| ElfError::MalformedNote {
                note: note.name(),
                reason: format!("{value:#x} does not fit in 32 bits"),
            })?);
        }
        XenElfNote::XenVersion => c.xen_ver = string(note, padded)?,
        XenElfNote::GuestOs => c.guest_os = string(note, padded)?,
        XenElfNote::GuestVersion => c.guest_ver = string(note, padded)?,
        XenElfNote::Loader => c.loader = string(note, padded)?,
        XenElfNote::PaeMode => {
            let value = string(note, padded)?;
            if value == "yes" {
                c.pae = PaeMode::ExtendedCr3;
            }
            if value.contains("bimodal") {
                c.pae = PaeMode::Bimodal;
            }
        }
        XenElfNote::BsdSymtab => c.bsd_symtab = string(note, padded)? == "yes",
        XenElfNote::Features => {
            let value = string(note, padded)?;
            parse_features(
                &value,
                &mut c.f_supported,
                &mut c.f_required,
                &mut c.warnings,
                "FEATURES",
            )?;
        }
        XenElfNote::SupportedFeatures => {
            merge_supported(desc, &mut c.f_supported)?;
            c.supported_features_note = true;
        }
        XenElfNote::L1MfnValid => l1_mfn_valid(desc, c),
    }
    Ok(())
}

/// A numeric descriptor: little-endian, 1, 2, 4 or 8 bytes
/// (Xen's `elf_note_numeric`).
fn numeric(note: XenElfNote, desc: &[u8]) -> Result<u64, ElfError> {
    if !matches!(desc.len(), 1 | 2 | 4 | 8) {
        return Err(ElfError::MalformedNote {
            note: note.name(),
            reason: format!("numeric descriptor of {} bytes (need 1, 2, 4 or 8)", desc.len()),
        });
    }
    let mut bytes = [0; 8];
    for (byte, value) in bytes.iter_mut().zip(desc) {
        *byte = *value;
    }
    Ok(u64::from_le_bytes(bytes))
}

/// A NUL-terminated string descriptor (with its padding, see the module
/// docs); non-UTF-8 bytes become U+FFFD.
fn string(note: XenElfNote, desc: &[u8]) -> Result<String, ElfError> {
    let malformed =
        |reason: &str| ElfError::MalformedNote { note: note.name(), reason: reason.to_owned() };
    let end = desc
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| malformed("string is not NUL-terminated"))?;
    if end > MAX_STRING_LEN {
        return Err(malformed("string is longer than 4096 bytes"));
    }
    let bytes = desc.get(..end).unwrap_or_default();
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// `L1_MFN_VALID`: 64-bit mask/value pairs (x86-64 `maddr_t`).
fn l1_mfn_valid(desc: &[u8], c: &mut Collected) {
    if desc.is_empty() || !desc.len().is_multiple_of(16) {
        c.warnings.push(format!(
            "L1_MFN_VALID: {} bytes is not a list of 64-bit mask/value pairs; ignored",
            desc.len()
        ));
        return;
    }
    c.l1_mfn_valid = desc
        .chunks_exact(16)
        .map(|pair| {
            let (mask, value) = pair.split_at(8);
            let word = |half: &[u8]| half.try_into().map(u64::from_le_bytes).unwrap_or_default();
            (word(mask), word(value))
        })
        .collect();
}
