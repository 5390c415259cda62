// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for the bzImage loader.
//!
//! The helpers here build synthetic bzImages: a setup header with the
//! fields the loader reads around a payload compressed at test time (XZ
//! with the x86 BCJ filter by `lzma-rust2` or the `xz` command, gzip by
//! `miniz_oxide`'s encoder). `header` covers the setup header and its
//! refusals, `xz` and `gzip` each format's round trips and refusals,
//! `fuzz` that mutated images never panic, and `debian` the real Debian 12
//! kernel when `qemu/fetch-debian` has cached it.
// Tests do plain arithmetic, indexing and unwrapping on small known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]

mod debian;
mod fuzz;
mod gzip;
mod header;
mod xz;

use std::io::Write as _;
use std::vec::Vec;

use lzma_rust2::{CheckType, FilterType, XzOptions, XzWriter};

use super::*;
use crate::test_rng::Rng;

/// Bytes between the protected-mode code start and the payload (Linux's
/// decompressor stub sits there).
const STUB: usize = 0x2cc;

/// Fields of a synthetic setup header.
#[derive(Clone, Copy)]
struct Header {
    setup_sects: u8,
    version: u16,
    /// `payload_offset`; `None` puts the payload right after [`STUB`].
    payload_offset: Option<u32>,
    /// `payload_length`; `None` is the payload's length.
    payload_length: Option<u32>,
}

impl Default for Header {
    fn default() -> Self {
        Self { setup_sects: 39, version: 0x020f, payload_offset: None, payload_length: None }
    }
}

/// A bzImage: boot sector and setup sectors with the header, the stub,
/// the payload, and 64 bytes of trailing code.
fn bzimage_with(h: Header, payload: &[u8]) -> Vec<u8> {
    let sects = if h.setup_sects == 0 { 4 } else { usize::from(h.setup_sects) };
    let pm = (sects + 1) * 512;
    let mut image = vec![0u8; pm + STUB];
    image[0x1f1] = h.setup_sects;
    image[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
    image[0x202..0x206].copy_from_slice(b"HdrS");
    image[0x206..0x208].copy_from_slice(&h.version.to_le_bytes());
    let offset = h.payload_offset.unwrap_or(STUB as u32);
    let length = h.payload_length.unwrap_or(payload.len() as u32);
    image[0x248..0x24c].copy_from_slice(&offset.to_le_bytes());
    image[0x24c..0x250].copy_from_slice(&length.to_le_bytes());
    for (i, b) in image[pm..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    image.extend_from_slice(payload);
    image.extend_from_slice(&[0xcc; 64]);
    image
}

/// A bzImage with a default (protocol 2.15, 39 setup sectors) header.
fn bzimage(payload: &[u8]) -> Vec<u8> {
    bzimage_with(Header::default(), payload)
}

/// `len` bytes that look like x86 code to the BCJ filter: runs of
/// repeated "instructions" with `call`/`jmp rel32` (`e8`/`e9`) and their
/// targets, plus some text.
fn code_like(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        match rng.below(4) {
            0 | 1 => {
                out.push(if rng.chance(80) { 0xe8 } else { 0xe9 });
                let target = (rng.below(0x1_0000) as u32).wrapping_sub(out.len() as u32);
                out.extend_from_slice(&target.to_le_bytes());
            }
            2 => out.extend_from_slice(&[0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x10]),
            _ => out.extend_from_slice(b"linux xen pv dom0 "),
        }
    }
    out.truncate(len);
    out
}

/// An ELF-looking blob: `\x7fELF` followed by [`code_like`] bytes.
fn elf_like(len: usize, seed: u64) -> Vec<u8> {
    let mut v = code_like(len, seed);
    let n = len.min(4);
    v[..n].copy_from_slice(&b"\x7fELF"[..n]);
    v
}

/// Linux's `size_append`: the uncompressed size as a little-endian u32.
fn with_size(mut stream: Vec<u8>, size: usize) -> Vec<u8> {
    stream.extend_from_slice(&(size as u32).to_le_bytes());
    stream
}

/// `data` as an XZ stream: x86 BCJ + LZMA2 with a `dict`-byte
/// dictionary and a CRC-32 check, as `scripts/xz_wrap.sh` makes for x86.
fn xz_stream(data: &[u8], dict: u32) -> Vec<u8> {
    let mut opts = XzOptions::with_preset(6);
    opts.lzma_options.dict_size = dict;
    opts.set_check_sum_type(CheckType::Crc32);
    opts.prepend_pre_filter(FilterType::BcjX86, 0);
    let mut w = XzWriter::new(Vec::new(), opts).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

/// An XZ (BCJ) payload of `data` with the size appended.
fn xz_payload(data: &[u8], dict: u32) -> Vec<u8> {
    with_size(xz_stream(data, dict), data.len())
}

/// `data` as a gzip member (`gzip -n`: no name, no time) with `flags`
/// and their optional fields.
fn gzip_member(data: &[u8], flags: u8) -> Vec<u8> {
    let mut gz = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 2, 3];
    if flags & 0x04 != 0 {
        gz.extend_from_slice(&[4, 0, b'x', b'y', 2, 0]);
    }
    if flags & 0x08 != 0 {
        gz.extend_from_slice(b"vmlinux.bin\0");
    }
    if flags & 0x10 != 0 {
        gz.extend_from_slice(b"a comment\0");
    }
    if flags & 0x02 != 0 {
        gz.extend_from_slice(&[0xab, 0xcd]);
    }
    gz.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(data, 9));
    gz.extend_from_slice(&crc32::crc32(data).to_le_bytes());
    gz.extend_from_slice(&(data.len() as u32).to_le_bytes());
    gz
}

/// Decompresses `image` with the default limit, panicking on refusal.
fn unwrap_ok(image: &[u8]) -> ElfBuf {
    match decompress(image, MAX_OUTPUT) {
        Ok((_, elf)) => elf,
        Err(e) => panic!("bzImage refused: {e}"),
    }
}

/// Decompresses `image` with `limit`, expecting a refusal.
fn refused(image: &[u8], limit: usize) -> BzImageError {
    match decompress(image, limit) {
        Ok(_) => panic!("bzImage unexpectedly accepted"),
        Err(e) => e,
    }
}

#[test]
fn crc32_known_values() {
    assert_eq!(crc32::crc32(b""), 0);
    assert_eq!(crc32::crc32(b"123456789"), 0xcbf4_3926);
    assert_eq!(crc32::crc32(b"The quick brown fox jumps over the lazy dog"), 0x414f_a339);
}
