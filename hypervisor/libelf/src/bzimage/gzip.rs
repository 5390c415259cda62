// SPDX-License-Identifier: GPL-2.0-only
//! gzip payloads (RFC 1952): the member header, raw DEFLATE through
//! `miniz_oxide`, and the CRC-32 + ISIZE trailer.
//!
//! The output buffer is exactly the declared size and DEFLATE writes
//! straight into it (miniz's non-wrapping mode, so the buffer is also the
//! 32 KiB window): no other memory than the decoder state is used. Only the
//! first member is read, as Linux and Xen do.

use alloc::boxed::Box;
use alloc::string::String;

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress as inflate, inflate_flags};

use super::crc32::crc32;
use super::{BzImageError, le_u16, le_u32};

const FORMAT: &str = "gzip";
/// `CM`: DEFLATE.
const CM_DEFLATE: u8 = 8;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;
/// Fixed part of the member header.
const HEADER_LEN: usize = 10;

fn corrupt(reason: &str) -> BzImageError {
    BzImageError::Corrupt { format: FORMAT, reason: String::from(reason) }
}

/// Offset of the DEFLATE data in the gzip member `gz`.
fn data_offset(gz: &[u8]) -> Result<usize, BzImageError> {
    let truncated = || corrupt("header truncated");
    let header = gz.get(..HEADER_LEN).ok_or_else(truncated)?;
    let (cm, flags) = match header {
        [_, _, cm, flags, ..] => (*cm, *flags),
        _ => return Err(truncated()),
    };
    if cm != CM_DEFLATE {
        return Err(corrupt("compression method is not DEFLATE"));
    }
    if flags & FRESERVED != 0 {
        return Err(corrupt("reserved header flags set"));
    }
    let mut pos = HEADER_LEN;
    if flags & FEXTRA != 0 {
        let xlen = le_u16(gz, pos).ok_or_else(truncated)?;
        pos = pos.checked_add(2 + usize::from(xlen)).ok_or_else(truncated)?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = gz.get(pos..).ok_or_else(truncated)?;
            let nul = rest.iter().position(|&b| b == 0).ok_or_else(truncated)?;
            pos = pos.checked_add(nul).and_then(|p| p.checked_add(1)).ok_or_else(truncated)?;
        }
    }
    if flags & FHCRC != 0 {
        pos = pos.checked_add(2).ok_or_else(truncated)?;
    }
    if pos > gz.len() {
        return Err(truncated());
    }
    Ok(pos)
}

/// Decompresses the gzip member `gz` into `out`, which must come out full.
pub(super) fn decompress(gz: &[u8], out: &mut [u8]) -> Result<(), BzImageError> {
    let start = data_offset(gz)?;
    let data = gz.get(start..).ok_or_else(|| corrupt("header truncated"))?;
    let mut state = Box::<DecompressorOxide>::default();
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, used, produced) = inflate(&mut state, data, out, 0, flags);
    let declared = out.len() as u64;
    match status {
        TINFLStatus::Done => {}
        TINFLStatus::HasMoreOutput => return Err(BzImageError::OutputOverflow { declared }),
        TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
            return Err(corrupt("DEFLATE stream truncated"));
        }
        _ => return Err(corrupt("invalid DEFLATE data")),
    }
    if produced != out.len() {
        return Err(BzImageError::SizeMismatch { declared, produced: produced as u64 });
    }
    let trailer = start.checked_add(used).ok_or_else(|| corrupt("trailer missing"))?;
    let crc = le_u32(gz, trailer).ok_or_else(|| corrupt("trailer missing"))?;
    let isize = trailer.checked_add(4).and_then(|at| le_u32(gz, at));
    let isize = isize.ok_or_else(|| corrupt("trailer missing"))?;
    if crc32(out) != crc {
        return Err(corrupt("CRC-32 mismatch"));
    }
    if u64::from(isize) != declared & 0xffff_ffff {
        return Err(corrupt("ISIZE disagrees with the data"));
    }
    Ok(())
}
