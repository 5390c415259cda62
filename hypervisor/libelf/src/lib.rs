// SPDX-License-Identifier: GPL-2.0-only
//! PV kernel images: Xen's `libelf` for 64-bit x86 PV kernels, and Linux
//! bzImages unwrapped to their ELF payload ([`bzimage`]).
//!
//! The one kernel-image loader of the tree: the hypervisor's dom0 builder
//! (through the `hv_core::libelf` and `hv_core::bzimage` re-exports) and the
//! domain builder (`xen-domain-builder`, the toolstack's `xc_dom_*`) both
//! use it. `no_std` + `alloc`, no `unsafe`, and no panic on image data.
//!
//! [`parse`] validates an ELF64 little-endian x86-64 image, collects its
//! Xen notes and checks them the way `xen/common/libelf/libelf-dominfo.c`
//! does, producing [`ElfDomParms`] (Xen's `struct elf_dom_parms`). [`load`]
//! then copies each loadable segment to its guest virtual address through a
//! [`LoadTarget`] and zeroes the bss tail (`elf_load_binary`).
//!
//! Where the Xen information comes from, first match wins
//! (`elf_xen_parse`): `"Xen"` notes in `PT_NOTE` segments; otherwise in
//! `SHT_NOTE` sections (mini-os has no `PT_NOTE`); otherwise the legacy
//! `__xen_guest` section string. Segments are loaded by `p_paddr`, at
//! `p_paddr + virt_base - elf_paddr_offset` (Linux has a `PT_LOAD` with
//! `p_vaddr = 0` whose `p_paddr` is right).
//!
//! Beyond libelf, images are refused when loadable segments overlap, when
//! they span more than [`MAX_IMAGE_SPAN`], when a numeric note is not 1, 2,
//! 4 or 8 bytes or a string note is unterminated, and when the image is not
//! canonical or overlaps the hypervisor hole. `BSD_SYMTAB` is recorded but
//! the symbol table is not loaded. Nothing here panics on image data: all
//! offsets are checked before slicing.
//!
//! Modules: `image` (ELF structure on `xmas-elf`), `notes`, `features`,
//! `legacy` (`__xen_guest`), `checks` (Xen's note and address checks),
//! `error`, and [`bzimage`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bzimage;
mod checks;
mod error;
mod features;
mod image;
mod legacy;
mod notes;
#[cfg(test)]
mod test_prereq;
/// The deterministic PRNG of the randomised tests (also hv-core's, with
/// the `test-images` feature).
#[cfg(any(test, feature = "test-images"))]
pub mod test_rng;
#[cfg(any(test, feature = "test-images"))]
pub mod testing;
#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;

use guest_abi::version::XENFEAT_dom0;
use xmas_elf::ElfFile;

pub use error::ElfError;
pub use features::{FEATURE_NAMES, FeatureMap, feature_bit, feature_name, feature_test};

/// Size in bytes of a page (x86 4 KiB pages).
pub const PAGE_SIZE: u64 = 4096;

/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// The hypervisor's reserved virtual range, from the public ABI.
pub use guest_abi::xen::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};

/// Largest span of the loadable segments, lowest `p_paddr` to highest
/// `p_paddr + p_memsz`: 1 GiB (a Debian kernel spans about 52 MiB).
pub const MAX_IMAGE_SPAN: u64 = 1 << 30;

/// One loadable (`PT_LOAD`) segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Program header index.
    pub index: usize,
    /// `p_offset`: where the file bytes start in the image.
    pub file_offset: u64,
    /// `p_filesz`: bytes copied from the image.
    pub filesz: u64,
    /// `p_memsz`: bytes occupied in memory; the tail beyond `filesz` is zeroed.
    pub memsz: u64,
    /// `p_paddr`: the load address, before [`ElfDomParms::virt_offset`].
    pub paddr: u64,
    /// `p_vaddr`: informational; loading uses `paddr`.
    pub vaddr: u64,
}

/// PAE capability of a 32-bit kernel (Xen's `XEN_PAE_*`); 64-bit kernels
/// still carry the note but it has no effect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PaeMode {
    /// No PAE (`XEN_PAE_NO`), the default.
    #[default]
    No,
    /// Legacy `PAE=yes` (`XEN_PAE_YES`).
    Yes,
    /// PAE with page directories above 4 GiB: note `"yes"`, legacy
    /// `"yes[extended-cr3]"` (`XEN_PAE_EXTCR3`).
    ExtendedCr3,
    /// Runs with or without PAE: note containing `"bimodal"`
    /// (`XEN_PAE_BIMODAL`).
    Bimodal,
}

/// Where the Xen information of an image came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoteSource {
    /// `"Xen"` notes in `PT_NOTE` segments.
    Segment,
    /// `"Xen"` notes in `SHT_NOTE` sections (no Xen notes in segments).
    Section,
    /// The legacy `__xen_guest` section string.
    Legacy,
}

/// What a PV kernel image asks of its domain builder (Xen's
/// `struct elf_dom_parms`), with Xen's defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfDomParms {
    /// Virtual address where the initial mapping starts (`VIRT_BASE`).
    pub virt_base: u64,
    /// Entry point (`ENTRY`, else `e_entry`).
    pub virt_entry: u64,
    /// Where to write the hypercall page (`HYPERCALL_PAGE`), if wanted.
    pub virt_hypercall: Option<u64>,
    /// `HV_START_LOW` (32-bit guests only).
    pub virt_hv_start_low: Option<u64>,
    /// Where to map the initial p2m list (`INIT_P2M`), if not after the
    /// kernel.
    pub p2m_base: Option<u64>,
    /// `PADDR_OFFSET`: `virt_offset = virt_base - elf_paddr_offset`.
    pub elf_paddr_offset: u64,
    /// `GUEST_OS`, e.g. `"linux"`.
    pub guest_os: String,
    /// `GUEST_VERSION`.
    pub guest_ver: String,
    /// `XEN_VERSION`, starting with `"xen-3.0"`.
    pub xen_ver: String,
    /// `LOADER`, e.g. `"generic"`.
    pub loader: String,
    /// `PAE_MODE`.
    pub pae: PaeMode,
    /// `BSD_SYMTAB = "yes"` (recorded only; the symbol table is not loaded).
    pub bsd_symtab: bool,
    /// Features the kernel supports (`FEATURES` and `SUPPORTED_FEATURES`).
    pub f_supported: FeatureMap,
    /// Features the kernel requires (`!name` in `FEATURES`).
    pub f_required: FeatureMap,
    /// Whether a `SUPPORTED_FEATURES` note was present (then dom0 needs
    /// `XENFEAT_dom0`; see [`ElfDomParms::dom0_capable`]).
    pub supported_features_note: bool,
    /// `MOD_START_PFN`: the initrd may be left unmapped and passed by PFN.
    pub mod_start_pfn: bool,
    /// `SUSPEND_CANCEL`.
    pub suspend_cancel: bool,
    /// `L1_MFN_VALID` mask/value pairs.
    pub l1_mfn_valid: Vec<(u64, u64)>,
    /// `PHYS32_ENTRY` (PVH; unused for PV).
    pub phys_entry: Option<u32>,
    /// First virtual address of the loaded image.
    pub virt_kstart: u64,
    /// Virtual address just past the loaded image (end of the last bss).
    pub virt_kend: u64,
    /// Where the Xen information came from.
    pub source: NoteSource,
    /// The loadable segments, in program header order.
    pub segments: Vec<Segment>,
    /// Non-fatal oddities, e.g. `"VIRT_BASE unset, using 0"`.
    pub warnings: Vec<String>,
}

impl ElfDomParms {
    /// `virt_base - elf_paddr_offset` (modulo 2^64): added to `p_paddr` to
    /// get a segment's guest virtual address.
    pub fn virt_offset(&self) -> u64 {
        self.virt_base.wrapping_sub(self.elf_paddr_offset)
    }

    /// Guest virtual address where `segment` is loaded.
    pub fn load_address(&self, segment: &Segment) -> u64 {
        segment.paddr.wrapping_add(self.virt_offset())
    }

    /// Whether the kernel supports `XENFEAT_*` feature `bit`.
    pub fn supports(&self, bit: u32) -> bool {
        feature_test(&self.f_supported, bit)
    }

    /// Whether the kernel requires `XENFEAT_*` feature `bit`.
    pub fn requires(&self, bit: u32) -> bool {
        feature_test(&self.f_required, bit)
    }

    /// Whether the kernel may run as dom0: either it has no
    /// `SUPPORTED_FEATURES` note or it lists `XENFEAT_dom0` (Xen's "Kernel
    /// does not support Dom0 operation" check).
    pub fn dom0_capable(&self) -> bool {
        !self.supported_features_note || self.supports(XENFEAT_dom0)
    }
}

/// Note values gathered before the checks (unset fields are `None`).
#[derive(Default)]
struct Collected {
    virt_base: Option<u64>,
    virt_entry: Option<u64>,
    virt_hypercall: Option<u64>,
    hv_start_low: Option<u64>,
    p2m_base: Option<u64>,
    paddr_offset: Option<u64>,
    guest_os: String,
    guest_ver: String,
    xen_ver: String,
    loader: String,
    pae: PaeMode,
    bsd_symtab: bool,
    f_supported: FeatureMap,
    f_required: FeatureMap,
    supported_features_note: bool,
    mod_start_pfn: bool,
    suspend_cancel: bool,
    l1_mfn_valid: Vec<(u64, u64)>,
    phys_entry: Option<u32>,
    warnings: Vec<String>,
}

/// Parses and checks a 64-bit PV kernel image (Xen's `elf_init`,
/// `elf_parse_binary` and `elf_xen_parse`).
///
/// The image must be 8-byte aligned in memory (boot modules are
/// page-aligned); see [`ElfError::Misaligned`].
pub fn parse(image: &[u8]) -> Result<ElfDomParms, ElfError> {
    let mut c = Collected::default();
    let elf = image::open(image, &mut c)?;
    let segments = image::load_segments(&elf, &mut c)?;
    let (pstart, pend) = image::check_layout(&segments)?;

    let source = collect_notes(&elf, &mut c)?;
    let source = checks::note_check(&c, source)?;
    let e_entry = elf.header.pt2.entry_point();
    let addrs = checks::addr_calc_check(&mut c, source, e_entry, pstart, pend)?;
    Ok(ElfDomParms {
        virt_base: addrs.virt_base,
        virt_entry: addrs.virt_entry,
        virt_hypercall: c.virt_hypercall,
        virt_hv_start_low: c.hv_start_low,
        p2m_base: c.p2m_base,
        elf_paddr_offset: addrs.elf_paddr_offset,
        guest_os: c.guest_os,
        guest_ver: c.guest_ver,
        xen_ver: c.xen_ver,
        loader: c.loader,
        pae: c.pae,
        bsd_symtab: c.bsd_symtab,
        f_supported: c.f_supported,
        f_required: c.f_required,
        supported_features_note: c.supported_features_note,
        mod_start_pfn: c.mod_start_pfn,
        suspend_cancel: c.suspend_cancel,
        l1_mfn_valid: c.l1_mfn_valid,
        phys_entry: c.phys_entry,
        virt_kstart: addrs.virt_kstart,
        virt_kend: addrs.virt_kend,
        source,
        segments,
        warnings: c.warnings,
    })
}

/// Finds and applies the image's Xen information; the first kind found wins
/// (`elf_xen_parse`): notes in `PT_NOTE` segments, notes in `SHT_NOTE`
/// sections, the `__xen_guest` string. `None` if there is none.
fn collect_notes(elf: &ElfFile<'_>, c: &mut Collected) -> Result<Option<NoteSource>, ElfError> {
    let mut total = 0;
    if parse_regions(&image::note_segments(elf)?, c, &mut total)? > 0 {
        return Ok(Some(NoteSource::Segment));
    }
    if parse_regions(&image::note_sections(elf)?, c, &mut total)? > 0 {
        return Ok(Some(NoteSource::Section));
    }
    match image::section_by_name(elf, "__xen_guest")? {
        Some(guest_info) => {
            legacy::parse_guest_info(guest_info, c)?;
            Ok(Some(NoteSource::Legacy))
        }
        None => Ok(None),
    }
}

/// Parses the notes of `regions`; returns how many were `"Xen"` notes.
fn parse_regions(
    regions: &[notes::NoteRegion<'_>],
    c: &mut Collected,
    total: &mut usize,
) -> Result<usize, ElfError> {
    regions.iter().try_fold(0usize, |found, region| {
        Ok(found.saturating_add(notes::parse_region(region, c, total)?))
    })
}

/// Guest memory that [`load`] writes the kernel into, addressed by guest
/// virtual address (the dom0 builder implements it over dom0's frames).
pub trait LoadTarget {
    /// Copies `bytes` to guest virtual address `guest_vaddr`.
    fn write(&mut self, guest_vaddr: u64, bytes: &[u8]) -> Result<(), ElfError>;

    /// Zeroes `len` bytes from guest virtual address `guest_vaddr`.
    fn zero(&mut self, guest_vaddr: u64, len: u64) -> Result<(), ElfError>;
}

/// Loads the segments of `image`, as described by `parms` from [`parse`],
/// into `dest`: each segment's file bytes go to `p_paddr + virt_offset`
/// and the rest of its `p_memsz` is zeroed (Xen's `elf_load_binary`).
pub fn load(parms: &ElfDomParms, image: &[u8], dest: &mut impl LoadTarget) -> Result<(), ElfError> {
    for segment in &parms.segments {
        let bytes = image::slice(image, segment.file_offset, segment.filesz).ok_or(
            ElfError::SegmentOutsideFile {
                index: segment.index,
                offset: segment.file_offset,
                filesz: segment.filesz,
                len: image.len(),
            },
        )?;
        let vaddr = parms.load_address(segment);
        dest.write(vaddr, bytes)?;
        let bss = segment.memsz.saturating_sub(segment.filesz);
        if bss != 0 {
            dest.zero(vaddr.wrapping_add(segment.filesz), bss)?;
        }
    }
    Ok(())
}
