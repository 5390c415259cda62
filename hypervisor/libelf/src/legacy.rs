// SPDX-License-Identifier: GPL-2.0-only
//! The legacy `__xen_guest` section (Xen's `elf_xen_parse_guest_info`).
//!
//! Kernels older than the Xen ELF notes (Xen ≤ 3.0.2, Linux 2.6.16-xen)
//! carry one NUL-terminated string of comma-separated `KEY=value` items:
//!
//! ```text
//! GUEST_OS=linux,GUEST_VER=2.6,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000,
//! ELF_PADDR_OFFSET=0xffffffff80000000,HYPERCALL_PAGE=0x101,LOADER=generic,
//! FEATURES=writable_page_tables|!pae_pgdir_above_4gb,PAE=yes[extended-cr3]
//! ```
//!
//! Numbers use C `strtoull(…, 0)` bases (`0x` hex, leading `0` octal, else
//! decimal). `HYPERCALL_PAGE` is a page number relative to `VIRT_BASE`.
//! `BSD_SYMTAB` counts by its presence. Unlike Xen, which reads a malformed
//! number as its longest valid prefix (often 0), this parser refuses it;
//! unknown keys are reported as warnings instead of silently skipped.

use alloc::format;
use alloc::string::{String, ToString};

use super::features::parse_features;
use super::{Collected, ElfError, PAGE_SHIFT, PaeMode};

/// Parses the contents of a `__xen_guest` section into `c`.
///
/// The string ends at the first NUL or at the end of the section.
pub(super) fn parse_guest_info(section: &[u8], c: &mut Collected) -> Result<(), ElfError> {
    let end = section.iter().position(|&b| b == 0).unwrap_or(section.len());
    let text = String::from_utf8_lossy(section.get(..end).unwrap_or_default()).into_owned();
    for item in text.split(',').filter(|item| !item.is_empty()) {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        let number = || parse_c_number(value).ok_or_else(|| bad_value(key, value));
        match key {
            "LOADER" => c.loader = value.to_string(),
            "GUEST_OS" => c.guest_os = value.to_string(),
            "GUEST_VER" => c.guest_ver = value.to_string(),
            "XEN_VER" => c.xen_ver = value.to_string(),
            "PAE" if value == "yes[extended-cr3]" => c.pae = PaeMode::ExtendedCr3,
            "PAE" if value.starts_with("yes") => c.pae = PaeMode::Yes,
            "PAE" => {}
            "BSD_SYMTAB" => c.bsd_symtab = true,
            "VIRT_BASE" => c.virt_base = Some(number()?),
            "VIRT_ENTRY" => c.virt_entry = Some(number()?),
            "ELF_PADDR_OFFSET" => c.paddr_offset = Some(number()?),
            "HYPERCALL_PAGE" => {
                let pfn = number()?;
                let addr = pfn.checked_mul(1 << PAGE_SHIFT).ok_or_else(|| bad_value(key, value))?;
                c.virt_hypercall = Some(addr);
            }
            "FEATURES" => parse_features(
                value,
                &mut c.f_supported,
                &mut c.f_required,
                &mut c.warnings,
                "__xen_guest FEATURES",
            )?,
            _ => c.warnings.push(format!("__xen_guest: unknown key '{key}' ignored")),
        }
    }
    // The page number is relative to VIRT_BASE (when there is one).
    if let (Some(base), Some(page)) = (c.virt_base, c.virt_hypercall) {
        let addr = base
            .checked_add(page)
            .ok_or_else(|| bad_value("HYPERCALL_PAGE", &format!("{:#x}", page >> PAGE_SHIFT)))?;
        c.virt_hypercall = Some(addr);
    }
    Ok(())
}

fn bad_value(key: &str, value: &str) -> ElfError {
    ElfError::BadLegacyValue { key: key.to_string(), value: value.to_string() }
}

/// Parses a whole unsigned number with C `strtoull(s, NULL, 0)` bases:
/// `0x`/`0X` hexadecimal, a leading `0` octal, otherwise decimal.
pub(super) fn parse_c_number(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (s.get(1..)?, 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|ch| ch.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}
