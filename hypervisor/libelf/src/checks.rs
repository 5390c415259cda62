// SPDX-License-Identifier: GPL-2.0-only
//! Xen's sanity checks on the collected notes: `elf_xen_note_check` and
//! `elf_xen_addr_calc_check`, plus the dom0 builder's hypervisor-hole test.
//!
//! Defaults follow libelf: `VIRT_BASE` unset means 0 (with a warning);
//! `PADDR_OFFSET` unset means 0 with ELF notes but `VIRT_BASE` with the
//! legacy `__xen_guest` section (old kernels put virtual addresses in
//! `p_paddr`); `ENTRY` unset means `e_entry`. The image then occupies
//! `[virt_kstart, virt_kend)` = `[pstart, pend) + virt_base - paddr_offset`.
//!
//! Differences from Xen: the entry point must be strictly below
//! `virt_kend` (Xen accepts `entry == virt_kend`); the hypercall page must
//! lie inside the image itself rather than anywhere in the initial mapping;
//! and the canonical-address and hypervisor-hole checks cover
//! `[virt_base, virt_kend)` only, so the builder must still check the whole
//! initial mapping (`v_start..v_end`, Xen's "DOM0 image overlaps with Xen
//! private area").

use alloc::format;
use alloc::string::String;

use super::{
    Collected, ElfError, HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START, NoteSource, PAGE_SIZE,
};

/// End of the lower canonical half of the x86-64 address space.
const LOWER_HALF_END: u64 = 0x0000_8000_0000_0000;
/// Start of the upper canonical half.
const UPPER_HALF_START: u64 = 0xffff_8000_0000_0000;

/// Xen's `elf_xen_note_check`: the image must say it is for the generic
/// loader (or be Linux) and for the Xen 3.0 interface. `source` is where the
/// notes were found, `None` if nowhere.
pub(super) fn note_check(
    c: &Collected,
    source: Option<NoteSource>,
) -> Result<NoteSource, ElfError> {
    let source = source.ok_or(ElfError::NotXen)?;
    if !c.loader.starts_with("generic") && !c.guest_os.starts_with("linux") {
        return Err(ElfError::BadLoader { loader: c.loader.clone(), guest_os: c.guest_os.clone() });
    }
    if !c.xen_ver.starts_with("xen-3.0") {
        return Err(ElfError::BadXenVersion { xen_ver: c.xen_ver.clone() });
    }
    Ok(source)
}

/// The image's virtual placement, as computed by [`addr_calc_check`].
pub(super) struct Addresses {
    /// `VIRT_BASE`, defaulted.
    pub(super) virt_base: u64,
    /// `PADDR_OFFSET`, defaulted.
    pub(super) elf_paddr_offset: u64,
    /// Entry point, defaulted.
    pub(super) virt_entry: u64,
    /// First virtual address of the image.
    pub(super) virt_kstart: u64,
    /// Virtual address just past the image.
    pub(super) virt_kend: u64,
}

/// Xen's `elf_xen_addr_calc_check`: applies the defaults, places the image
/// and checks the entry point, hypercall page and `INIT_P2M` against it.
///
/// `pstart`/`pend` are the lowest `p_paddr` and highest `p_paddr + p_memsz`
/// of the loadable segments.
pub(super) fn addr_calc_check(
    c: &mut Collected,
    source: NoteSource,
    e_entry: u64,
    pstart: u64,
    pend: u64,
) -> Result<Addresses, ElfError> {
    if c.paddr_offset.is_some() && c.virt_base.is_none() {
        return Err(ElfError::PaddrOffsetWithoutVirtBase);
    }
    let virt_base = c.virt_base.unwrap_or_else(|| {
        c.warnings.push(String::from("VIRT_BASE unset, using 0"));
        0
    });
    let elf_paddr_offset = match (c.paddr_offset, source) {
        (Some(offset), _) => offset,
        (None, NoteSource::Legacy) => virt_base,
        (None, NoteSource::Segment | NoteSource::Section) => 0,
    };
    // Modular arithmetic, as in Xen: old kernels have paddr_offset > 0.
    let virt_offset = virt_base.wrapping_sub(elf_paddr_offset);
    let start = pstart.wrapping_add(virt_offset);
    let end = pend.wrapping_add(virt_offset);
    if start > end {
        return Err(ElfError::ImageWraps { start, end });
    }
    let virt_entry = c.virt_entry.unwrap_or(e_entry);
    if virt_base > start {
        return Err(ElfError::BaseAboveImage { virt_base, start });
    }
    if !(start..end).contains(&virt_entry) {
        return Err(ElfError::EntryOutside { entry: virt_entry, start, end });
    }
    if let Some(p2m_base) = c.p2m_base
        && (start..end).contains(&p2m_base)
    {
        return Err(ElfError::P2mInsideImage { p2m_base, start, end });
    }
    if let Some(addr) = c.virt_hypercall {
        if !(start..end).contains(&addr) {
            return Err(ElfError::HypercallPageOutside { addr, start, end });
        }
        if !addr.is_multiple_of(PAGE_SIZE) {
            c.warnings.push(format!("hypercall page {addr:#x} is not page-aligned"));
        }
    }
    check_placement(virt_base, end)?;
    if c.bsd_symtab {
        c.warnings.push(String::from("BSD_SYMTAB: symbol table loading not supported; ignored"));
    }
    Ok(Addresses { virt_base, elf_paddr_offset, virt_entry, virt_kstart: start, virt_kend: end })
}

/// The range `[start, end)` must be canonical and clear of the hypervisor's
/// reserved range `[HYPERVISOR_VIRT_START, HYPERVISOR_VIRT_END)`.
fn check_placement(start: u64, end: u64) -> Result<(), ElfError> {
    let lower = end <= LOWER_HALF_END;
    let upper = start >= UPPER_HALF_START;
    if !lower && !upper {
        return Err(ElfError::NonCanonical { start, end });
    }
    if start < HYPERVISOR_VIRT_END && end > HYPERVISOR_VIRT_START {
        return Err(ElfError::InHypervisorHole { start, end });
    }
    Ok(())
}
