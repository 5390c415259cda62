// SPDX-License-Identifier: GPL-2.0-only
//! XZ payloads: the LZMA2 dictionary size from the headers, and decoding
//! with `xz4rust` into caller-provided output and dictionary buffers.
//!
//! `xz4rust` (xz-embedded in safe Rust) decodes into a fixed dictionary of
//! at least the size the block header declares, so [`dict_size`] reads it
//! first: the 12-byte stream header (magic, flags, CRC-32), then the first
//! block header (size byte, flags, optional sizes, the filter chain ending
//! in LZMA2 `0x21` with its one-byte dictionary property), both checked
//! against their CRC-32 (the `.xz` file format, version 1.2). A later
//! block asking for more is refused by the decoder itself.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use xz4rust::{XzDecoder, XzNextBlockResult};

use super::crc32::crc32;
use super::{BzImageError, le_u32};

const FORMAT: &str = "XZ";
const STREAM_HEADER_LEN: usize = 12;
/// Filter ID of LZMA2.
const FILTER_LZMA2: u64 = 0x21;
/// Largest LZMA2 dictionary property the decoder accepts (3 GiB).
const MAX_DICT_PROP: u8 = 39;
/// Block-header flags: filter count - 1, reserved, size fields present.
const BH_FILTERS: u8 = 0x03;
const BH_RESERVED: u8 = 0x3c;
const BH_COMPRESSED_SIZE: u8 = 0x40;
const BH_UNCOMPRESSED_SIZE: u8 = 0x80;

fn corrupt(reason: impl Into<String>) -> BzImageError {
    BzImageError::Corrupt { format: FORMAT, reason: reason.into() }
}

/// A multibyte integer (7 bits a byte, little-endian, at most 9 bytes) at
/// `*pos` in `b`; advances `*pos`.
fn vli(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..63).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos = pos.checked_add(1)?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The LZMA2 dictionary size the first block of the stream `xz` needs
/// (0 for a stream without blocks).
pub(super) fn dict_size(xz: &[u8]) -> Result<usize, BzImageError> {
    let header = xz.get(..STREAM_HEADER_LEN).ok_or_else(|| corrupt("stream header truncated"))?;
    let (flags, crc) = (header.get(6..8), le_u32(header, 8));
    let (Some(flags), Some(crc)) = (flags, crc) else {
        return Err(corrupt("stream header truncated"));
    };
    if crc32(flags) != crc {
        return Err(corrupt("stream header CRC-32 mismatch"));
    }
    let size_byte = *xz.get(STREAM_HEADER_LEN).ok_or_else(|| corrupt("block header truncated"))?;
    if size_byte == 0 {
        // The index follows at once: no blocks, no dictionary.
        return Ok(0);
    }
    // The real size is (size_byte + 1) * 4: 8 to 1024 bytes, CRC-32 last.
    let len = (usize::from(size_byte)).saturating_add(1).saturating_mul(4);
    let end = STREAM_HEADER_LEN.saturating_add(len);
    let block = xz.get(STREAM_HEADER_LEN..end).ok_or_else(|| corrupt("block header truncated"))?;
    let (body, crc) = block
        .split_at_checked(len.saturating_sub(4))
        .ok_or_else(|| corrupt("block header truncated"))?;
    if le_u32(crc, 0) != Some(crc32(body)) {
        return Err(corrupt("block header CRC-32 mismatch"));
    }
    let bad = || corrupt("malformed block header");
    let flags = *body.get(1).ok_or_else(bad)?;
    if flags & BH_RESERVED != 0 {
        return Err(corrupt("unsupported block header flags"));
    }
    let mut pos = 2usize;
    for present in [BH_COMPRESSED_SIZE, BH_UNCOMPRESSED_SIZE] {
        if flags & present != 0 {
            vli(body, &mut pos).ok_or_else(bad)?;
        }
    }
    let filters = (flags & BH_FILTERS).saturating_add(1);
    for i in 1..=filters {
        let id = vli(body, &mut pos).ok_or_else(bad)?;
        let props_len = vli(body, &mut pos).ok_or_else(bad)?;
        let props_len = usize::try_from(props_len).map_err(|_| bad())?;
        let props_end = pos.checked_add(props_len).ok_or_else(bad)?;
        let props = body.get(pos..props_end).ok_or_else(bad)?;
        pos = props_end;
        if i != filters {
            continue;
        }
        if id != FILTER_LZMA2 {
            return Err(corrupt(format!("last filter is {id:#x}, not LZMA2")));
        }
        let &[prop] = props else {
            return Err(corrupt("LZMA2 properties are not one byte"));
        };
        if prop > MAX_DICT_PROP {
            return Err(corrupt(format!("LZMA2 dictionary property {prop} out of range")));
        }
        // 2 or 3, shifted by 11..=30: at most 3 GiB, so usize on 64-bit.
        let size = (2u64 | u64::from(prop & 1)) << ((prop >> 1).saturating_add(11));
        return usize::try_from(size).map_err(|_| bad());
    }
    Err(bad())
}

/// Decodes the first stream of `xz` into `out`, which must come out full,
/// with `dict` as the LZMA2 dictionary.
pub(super) fn decompress(xz: &[u8], out: &mut [u8], dict: &mut [u8]) -> Result<(), BzImageError> {
    let need = dict_size(xz)?;
    if dict.len() < need {
        return Err(BzImageError::BufferTooSmall { what: "dictionary", need, have: dict.len() });
    }
    let dict = dict.get_mut(..need).unwrap_or_default();
    let declared = out.len() as u64;
    // The decoder state is about 30 KiB: keep it off the stack.
    let mut decoder = Box::new(XzDecoder::with_fixed_size_dict(dict));
    let (mut read, mut written) = (0usize, 0usize);
    loop {
        let input = xz.get(read..).unwrap_or_default();
        let output = out.get_mut(written..).unwrap_or_default();
        let room = output.len();
        let step = decoder.decode(input, output).map_err(|e| corrupt(format!("{e}")))?;
        read = read.saturating_add(step.input_consumed());
        written = written.saturating_add(step.output_produced());
        match step {
            XzNextBlockResult::EndOfStream(..) => break,
            XzNextBlockResult::NeedMoreData(..) if step.made_progress() => {}
            XzNextBlockResult::NeedMoreData(..) if room == step.output_produced() && room == 0 => {
                return Err(BzImageError::OutputOverflow { declared });
            }
            XzNextBlockResult::NeedMoreData(..) => return Err(corrupt("stream truncated")),
        }
    }
    if written != out.len() {
        return Err(BzImageError::SizeMismatch { declared, produced: written as u64 });
    }
    Ok(())
}
