// SPDX-License-Identifier: GPL-2.0-only
//! Synthetic ELF64 PV kernel images, written byte by byte.
//!
//! File layout: ELF header, program headers (`PT_LOAD`s then an optional
//! `PT_NOTE`), the segment notes, each segment's file bytes, the section
//! notes, the `__xen_guest` string, `.shstrtab`, then the section headers
//! (null, `.note.Xen`, `__xen_guest`, `.shstrtab`, as present).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use guest_abi::elfnote::XenElfNote;

/// `PF_X | PF_W | PF_R`.
pub const RWX: u32 = 7;
/// `PF_R | PF_X`.
pub const RX: u32 = 5;
/// `PF_R | PF_W`.
pub const RW: u32 = 6;

/// Offset of the program header table.
pub const PHOFF: usize = 64;
/// Size of one program header.
pub const PHENT: usize = 56;

/// An image in an 8-byte-aligned buffer (what `parse` requires).
pub struct Image {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Image {
    /// Copies `bytes` to an 8-aligned place.
    pub fn new(bytes: &[u8]) -> Self {
        Self::at(bytes, 0)
    }

    /// Copies `bytes` to an address 1 past an 8-byte boundary.
    pub fn misaligned(bytes: &[u8]) -> Self {
        Self::at(bytes, 1)
    }

    fn at(bytes: &[u8], skew: usize) -> Self {
        let mut buf = vec![0; bytes.len() + 16];
        let start = buf.as_ptr().align_offset(8) + skew;
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        Self { buf, start, len: bytes.len() }
    }

    /// The image.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The image, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Writes a little-endian `u16` at `offset`.
    pub fn put_u16(&mut self, offset: usize, value: u16) {
        self.bytes_mut()[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
    }

    /// Writes a little-endian `u64` at `offset`.
    pub fn put_u64(&mut self, offset: usize, value: u64) {
        self.bytes_mut()[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    }

    /// Sets field `field_offset` (e.g. [`P_PADDR`]) of program header `index`.
    pub fn put_phdr_u64(&mut self, index: usize, field_offset: usize, value: u64) {
        self.put_u64(PHOFF + index * PHENT + field_offset, value);
    }
}

/// Offset of `p_offset` in a program header.
pub const P_OFFSET: usize = 8;
/// Offset of `p_paddr` in a program header.
pub const P_PADDR: usize = 24;
/// Offset of `p_filesz` in a program header.
pub const P_FILESZ: usize = 32;
/// Offset of `p_memsz` in a program header.
pub const P_MEMSZ: usize = 40;

/// One note to emit.
#[derive(Clone)]
pub struct NoteSpec {
    /// Owner name, without NUL.
    pub name: &'static str,
    /// Note type.
    pub type_: u32,
    /// Descriptor bytes.
    pub desc: Vec<u8>,
}

/// A `"Xen"` string note (NUL added).
pub fn xen_str(note: XenElfNote, value: &str) -> NoteSpec {
    let mut desc = value.as_bytes().to_vec();
    desc.push(0);
    NoteSpec { name: "Xen", type_: note as u32, desc }
}

/// A `"Xen"` 64-bit numeric note (`.quad`).
pub fn xen_u64(note: XenElfNote, value: u64) -> NoteSpec {
    xen_raw(note, value.to_le_bytes().to_vec())
}

/// A `"Xen"` 32-bit numeric note (`.long`).
pub fn xen_u32(note: XenElfNote, value: u32) -> NoteSpec {
    xen_raw(note, value.to_le_bytes().to_vec())
}

/// A `"Xen"` note with raw descriptor bytes.
pub fn xen_raw(note: XenElfNote, desc: Vec<u8>) -> NoteSpec {
    NoteSpec { name: "Xen", type_: note as u32, desc }
}

/// One `PT_LOAD` segment; its file bytes are [`content_byte`]s.
#[derive(Clone, Copy)]
pub struct LoadSpec {
    /// `p_paddr`.
    pub paddr: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_flags`.
    pub flags: u32,
}

/// File byte `offset` of load segment `segment`.
pub fn content_byte(segment: usize, offset: usize) -> u8 {
    (offset.wrapping_mul(7) ^ segment.wrapping_mul(13)).wrapping_add(1) as u8
}

/// An image description.
#[derive(Clone)]
pub struct Builder {
    /// `EI_CLASS`.
    pub class: u8,
    /// `EI_DATA`.
    pub data: u8,
    /// `e_type`.
    pub e_type: u16,
    /// `e_machine`.
    pub machine: u16,
    /// `e_entry`.
    pub entry: u64,
    /// The `PT_LOAD` segments.
    pub loads: Vec<LoadSpec>,
    /// Notes in a `PT_NOTE` segment (none: no `PT_NOTE`).
    pub segment_notes: Vec<NoteSpec>,
    /// Notes in an `SHT_NOTE` section (none: no section).
    pub section_notes: Vec<NoteSpec>,
    /// `p_align`/`sh_addralign` of the note containers (4 or 8).
    pub note_align: u64,
    /// Write `p_offset = 0` for the `PT_NOTE` (old binutils).
    pub zero_note_offset: bool,
    /// Contents of a `__xen_guest` section (NUL added).
    pub xen_guest: Option<String>,
}

fn pad_to(out: &mut Vec<u8>, align: usize) {
    while !out.len().is_multiple_of(align) {
        out.push(0);
    }
}

fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn push32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn push64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Encodes notes with `align`-byte padding.
pub fn encode_notes(notes: &[NoteSpec], align: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for note in notes {
        let namesz = if note.name.is_empty() { 0 } else { note.name.len() + 1 };
        push32(&mut out, namesz as u32);
        push32(&mut out, note.desc.len() as u32);
        push32(&mut out, note.type_);
        out.extend_from_slice(note.name.as_bytes());
        if namesz != 0 {
            out.push(0);
        }
        pad_to(&mut out, align);
        out.extend_from_slice(&note.desc);
        pad_to(&mut out, align);
    }
    out
}

impl Builder {
    /// An x86-64 `ET_EXEC` with nothing in it.
    pub fn empty() -> Self {
        Self {
            class: 2,
            data: 1,
            e_type: 2,
            machine: 0x3e,
            entry: 0,
            loads: Vec::new(),
            segment_notes: Vec::new(),
            section_notes: Vec::new(),
            note_align: 4,
            zero_note_offset: false,
            xen_guest: None,
        }
    }

    /// Puts `notes` in both a `PT_NOTE` and an `SHT_NOTE` (as linkers do).
    pub fn notes(mut self, notes: Vec<NoteSpec>) -> Self {
        self.section_notes = notes.clone();
        self.segment_notes = notes;
        self
    }

    /// Replaces (or adds) the `"Xen"` note of type `note`.
    pub fn set_note(mut self, spec: NoteSpec) -> Self {
        for list in [&mut self.segment_notes, &mut self.section_notes] {
            match list.iter_mut().find(|n| n.name == spec.name && n.type_ == spec.type_) {
                Some(existing) => *existing = spec.clone(),
                None => list.push(spec.clone()),
            }
        }
        self
    }

    /// Removes the `"Xen"` note of type `note` everywhere.
    pub fn drop_note(mut self, note: XenElfNote) -> Self {
        for list in [&mut self.segment_notes, &mut self.section_notes] {
            list.retain(|n| !(n.name == "Xen" && n.type_ == note as u32));
        }
        self
    }

    /// Writes the image.
    pub fn build(&self) -> Vec<u8> {
        let align = self.note_align as usize;
        let has_pt_note = !self.segment_notes.is_empty();
        let phnum = self.loads.len() + usize::from(has_pt_note);
        let mut body = vec![0u8; PHOFF + phnum * PHENT];

        // Segment notes.
        pad_to(&mut body, 8);
        let seg_notes_off = body.len();
        let seg_notes = encode_notes(&self.segment_notes, align);
        body.extend_from_slice(&seg_notes);

        // Load segment contents.
        let mut load_offsets = Vec::new();
        for (i, load) in self.loads.iter().enumerate() {
            pad_to(&mut body, 16);
            load_offsets.push(body.len());
            body.extend((0..load.filesz as usize).map(|j| content_byte(i, j)));
        }

        // Section notes.
        pad_to(&mut body, 8);
        let sec_notes_off = body.len();
        let sec_notes = encode_notes(&self.section_notes, align);
        body.extend_from_slice(&sec_notes);

        // __xen_guest.
        let guest_off = body.len();
        if let Some(text) = &self.xen_guest {
            body.extend_from_slice(text.as_bytes());
            body.push(0);
        }
        let guest_len = body.len() - guest_off;

        // Section names.
        let shstrtab_off = body.len();
        let names: &[u8] = b"\0.note.Xen\0__xen_guest\0.shstrtab\0";
        body.extend_from_slice(names);

        // Section headers: (name, type, offset, size, align).
        let mut shdrs: Vec<(u32, u32, u64, u64, u64)> = vec![(0, 0, 0, 0, 0)];
        if !self.section_notes.is_empty() {
            shdrs.push((1, 7, sec_notes_off as u64, sec_notes.len() as u64, self.note_align));
        }
        if self.xen_guest.is_some() {
            shdrs.push((11, 1, guest_off as u64, guest_len as u64, 1));
        }
        shdrs.push((23, 3, shstrtab_off as u64, names.len() as u64, 1));
        pad_to(&mut body, 8);
        let shoff = body.len();
        for (name, type_, offset, size, sh_align) in &shdrs {
            push32(&mut body, *name);
            push32(&mut body, *type_);
            push64(&mut body, 0); // sh_flags
            push64(&mut body, 0); // sh_addr
            push64(&mut body, *offset);
            push64(&mut body, *size);
            push32(&mut body, 0); // sh_link
            push32(&mut body, 0); // sh_info
            push64(&mut body, *sh_align);
            push64(&mut body, 0); // sh_entsize
        }

        // ELF header.
        let mut ehdr = Vec::new();
        ehdr.extend_from_slice(&[0x7f, b'E', b'L', b'F', self.class, self.data, 1, 0]);
        ehdr.extend_from_slice(&[0; 8]);
        push16(&mut ehdr, self.e_type);
        push16(&mut ehdr, self.machine);
        push32(&mut ehdr, 1);
        push64(&mut ehdr, self.entry);
        push64(&mut ehdr, PHOFF as u64);
        push64(&mut ehdr, shoff as u64);
        push32(&mut ehdr, 0); // e_flags
        push16(&mut ehdr, 64);
        push16(&mut ehdr, PHENT as u16);
        push16(&mut ehdr, phnum as u16);
        push16(&mut ehdr, 64);
        push16(&mut ehdr, shdrs.len() as u16);
        push16(&mut ehdr, (shdrs.len() - 1) as u16);
        body[..64].copy_from_slice(&ehdr);

        // Program headers.
        let mut phdrs = Vec::new();
        for (load, offset) in self.loads.iter().zip(&load_offsets) {
            push32(&mut phdrs, 1); // PT_LOAD
            push32(&mut phdrs, load.flags);
            push64(&mut phdrs, *offset as u64);
            push64(&mut phdrs, load.vaddr);
            push64(&mut phdrs, load.paddr);
            push64(&mut phdrs, load.filesz);
            push64(&mut phdrs, load.memsz);
            push64(&mut phdrs, 0x1000);
        }
        if has_pt_note {
            push32(&mut phdrs, 4); // PT_NOTE
            push32(&mut phdrs, 4); // PF_R
            push64(&mut phdrs, if self.zero_note_offset { 0 } else { seg_notes_off as u64 });
            push64(&mut phdrs, 0);
            push64(&mut phdrs, 0);
            push64(&mut phdrs, seg_notes.len() as u64);
            push64(&mut phdrs, seg_notes.len() as u64);
            push64(&mut phdrs, self.note_align);
        }
        body[PHOFF..PHOFF + phdrs.len()].copy_from_slice(&phdrs);
        body
    }

    /// Writes the image into an aligned buffer.
    pub fn image(&self) -> Image {
        Image::new(&self.build())
    }
}
