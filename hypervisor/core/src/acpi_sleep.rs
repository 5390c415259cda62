// SPDX-License-Identifier: GPL-2.0-only
//! Finding the S5 (soft-off) sleep type in the DSDT's AML, for power-off.
//!
//! Powering off through ACPI means writing `SLP_TYPa | SLP_EN` to PM1a_CNT,
//! where SLP_TYPa comes from the `\_S5` package in the DSDT. A full AML
//! interpreter is not needed for that: `\_S5` is a named package of
//! constants, `Name (_S5, Package () { a, b, ... })`, which this module
//! finds and decodes. The AML is firmware input, so every read is bounded.

/// SLP_TYPa and SLP_TYPb values for S5 (3 bits each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SleepType {
    /// Value for PM1a_CNT.SLP_TYP.
    pub slp_typ_a: u8,
    /// Value for PM1b_CNT.SLP_TYP.
    pub slp_typ_b: u8,
}

const NAME_OP: u8 = 0x08;
const PACKAGE_OP: u8 = 0x12;
const ZERO_OP: u8 = 0x00;
const ONE_OP: u8 = 0x01;
const ONES_OP: u8 = 0xff;
const BYTE_PREFIX: u8 = 0x0a;
const WORD_PREFIX: u8 = 0x0b;
const DWORD_PREFIX: u8 = 0x0c;

/// Decode one integer constant at `aml[pos..]`: `(value, bytes used)`.
fn integer(aml: &[u8], pos: usize) -> Option<(u64, usize)> {
    let op = *aml.get(pos)?;
    let bytes = |n: usize| -> Option<u64> {
        let start = pos.checked_add(1)?;
        let slice = aml.get(start..start.checked_add(n)?)?;
        Some(slice.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    };
    match op {
        ZERO_OP => Some((0, 1)),
        ONE_OP => Some((1, 1)),
        ONES_OP => Some((u64::MAX, 1)),
        BYTE_PREFIX => Some((bytes(1)?, 2)),
        WORD_PREFIX => Some((bytes(2)?, 3)),
        DWORD_PREFIX => Some((bytes(4)?, 5)),
        _ => None,
    }
}

/// Length in bytes of the PkgLength encoding at `aml[pos]`.
fn pkg_length_size(aml: &[u8], pos: usize) -> Option<usize> {
    let lead = *aml.get(pos)?;
    Some(usize::from(lead >> 6) + 1)
}

/// Find `\_S5` in `aml` (the DSDT body) and return its sleep types.
#[must_use]
pub fn find_s5(aml: &[u8]) -> Option<SleepType> {
    let mut search = 0;
    while let Some(rel) = aml.get(search..)?.windows(4).position(|w| w == b"_S5_") {
        let at = search.checked_add(rel)?;
        search = at.checked_add(4)?;
        // Preceded by NameOp, optionally with a root prefix '\'.
        let before = at.checked_sub(1).and_then(|i| aml.get(i)).copied();
        let named = match before {
            Some(NAME_OP) => true,
            Some(b'\\') => at.checked_sub(2).and_then(|i| aml.get(i)).copied() == Some(NAME_OP),
            _ => false,
        };
        if !named || aml.get(search).copied() != Some(PACKAGE_OP) {
            continue;
        }
        let mut pos = search.checked_add(1)?;
        pos = pos.checked_add(pkg_length_size(aml, pos)?)?;
        let count = *aml.get(pos)?;
        pos = pos.checked_add(1)?;
        if count < 1 {
            continue;
        }
        let Some((a, used)) = integer(aml, pos) else { continue };
        let b =
            if count >= 2 { integer(aml, pos.checked_add(used)?).map_or(0, |(b, _)| b) } else { 0 };
        let mask = |v: u64| u8::try_from(v & 7).unwrap_or(0);
        return Some(SleepType { slp_typ_a: mask(a), slp_typ_b: mask(b) });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_piix_style_package() {
        // Name (\_S5, Package (0x04) { Zero, Zero, Zero, Zero })
        let aml = [0x10, 0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0, 0, 0, 0];
        assert_eq!(find_s5(&aml), Some(SleepType { slp_typ_a: 0, slp_typ_b: 0 }));
    }

    #[test]
    fn byte_prefixed_values() {
        // Name (_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })
        let aml = [0x08, b'_', b'S', b'5', b'_', 0x12, 0x0a, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0, 0];
        assert_eq!(find_s5(&aml), Some(SleepType { slp_typ_a: 5, slp_typ_b: 5 }));
    }

    #[test]
    fn reference_without_name_op_is_skipped() {
        // A use of _S5_ that is not its definition, then the definition.
        let aml = [
            0x70, b'_', b'S', b'5', b'_', 0x60, 0x08, b'_', b'S', b'5', b'_', 0x12, 0x05, 0x02,
            0x0a, 0x07, 0x01,
        ];
        assert_eq!(find_s5(&aml), Some(SleepType { slp_typ_a: 7, slp_typ_b: 1 }));
    }

    #[test]
    fn truncated_or_missing_is_none() {
        assert_eq!(find_s5(&[]), None);
        assert_eq!(find_s5(b"_S5_"), None);
        assert_eq!(find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x12]), None);
        assert_eq!(find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x02, 0x0a]), None);
        assert_eq!(find_s5(&[0x08, b'_', b'S', b'4', b'_', 0x12, 0x04, 0x01, 0x00]), None);
    }

    #[test]
    fn multi_byte_pkg_length() {
        // PkgLength with one extra byte (lead bits 01).
        let aml = [0x08, b'_', b'S', b'5', b'_', 0x12, 0x40, 0x01, 0x02, 0x0b, 0x06, 0x00, 0x00];
        assert_eq!(find_s5(&aml), Some(SleepType { slp_typ_a: 6, slp_typ_b: 0 }));
    }
}
