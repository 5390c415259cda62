// SPDX-License-Identifier: GPL-2.0-only
//! CRC-32 (IEEE 802.3, reflected polynomial `0xedb88320`) for gzip
//! trailers and XZ headers.
//!
//! One 256-entry table built at compile time; a byte at a time is plenty
//! for the few headers and the one kernel image checked at boot.

const POLY: u32 = 0xedb8_8320;

// Evaluated at compile time: an out-of-range index or an overflow would be
// a build error, not a run-time panic.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The CRC-32 of `data`.
pub(super) fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        let entry = TABLE.get(((c ^ u32::from(b)) & 0xff) as usize).copied().unwrap_or_default();
        entry ^ (c >> 8)
    })
}
