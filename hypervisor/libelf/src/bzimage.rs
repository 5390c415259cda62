// SPDX-License-Identifier: GPL-2.0-only
//! Linux bzImages as PV kernels: find and decompress the ELF payload.
//!
//! A distribution kernel (`/boot/vmlinuz-*`) is not an ELF file but an x86
//! bzImage: real-mode setup sectors, then the protected-mode code, which
//! carries the real kernel, an ELF `vmlinux` with the Xen notes, as a
//! compressed *payload*. Xen's dom0 builder (`xen/arch/x86/bzimage.c`) and
//! its toolstack both unwrap it before handing the ELF to libelf; this
//! module does the same.
//!
//! [`parse`] reads the setup header (Linux's boot protocol,
//! `Documentation/arch/x86/boot.rst`): the `"HdrS"` magic at 0x202, a
//! protocol version of at least 2.08 (0x206) for `payload_offset` (0x248)
//! and `payload_length` (0x24c), and `setup_sects` (0x1f1, where 0 means 4)
//! to find the protected-mode code at `(setup_sects + 1) * 512`. The
//! payload's compression is told by its magic; Linux appends the
//! uncompressed size as a little-endian `u32` to every compressed payload,
//! which [`BzImage::output_len`] reads (Xen's `output_length`).
//!
//! Decompression writes into buffers the caller provides
//! ([`BzImage::decompress_into`]), so that the hypervisor can use frames of
//! its own instead of the heap; [`decompress`] is the allocating form. Every
//! size is bounded: the declared output and the XZ dictionary must each fit
//! in a caller-given limit ([`MAX_OUTPUT`] by default) before anything is
//! allocated, and a stream that would produce more than it declared is cut
//! off and refused.
//!
//! Formats: XZ (Debian's `CONFIG_KERNEL_XZ`, LZMA2 with the x86 BCJ filter)
//! through `xz4rust`, a safe Rust port of xz-embedded, the decoder Xen and
//! Linux use; gzip through `miniz_oxide`'s DEFLATE decoder with the gzip
//! framing and CRC-32 here; an uncompressed ELF payload is copied. bzip2,
//! LZMA, LZO, LZ4 and zstd are recognised and refused by name. Nothing here
//! panics on image data: every offset is checked before use.

mod crc32;
mod gzip;
#[cfg(test)]
mod tests;
mod xz;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Default bound on the decompressed kernel, and on the XZ dictionary:
/// 256 MiB (Debian 12's vmlinux is about 63 MiB, its dictionary 32 MiB).
pub const MAX_OUTPUT: usize = 256 << 20;

/// Setup-header offsets (Linux boot protocol).
const SETUP_SECTS: usize = 0x1f1;
const HEADER_MAGIC: usize = 0x202;
const VERSION: usize = 0x206;
const PAYLOAD_OFFSET: usize = 0x248;
const PAYLOAD_LENGTH: usize = 0x24c;
/// End of the setup header fields this module reads (Xen's
/// `sizeof(struct setup_header)`).
pub const SETUP_HEADER_END: usize = 0x250;
/// Oldest boot protocol with `payload_offset`/`payload_length`: 2.08.
pub const MIN_PROTOCOL: u16 = 0x0208;

/// How a bzImage payload is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not compressed: the payload is the ELF itself.
    None,
    /// gzip (`1f 8b`, RFC 1952, DEFLATE).
    Gzip,
    /// XZ (`fd 37 7a 58 5a 00`), LZMA2 with optional BCJ filters.
    Xz,
}

impl Compression {
    /// The name printed in messages (`"XZ"`, `"gzip"`, `"uncompressed"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "uncompressed",
            Self::Gzip => "gzip",
            Self::Xz => "XZ",
        }
    }
}

/// Payload formats Linux can build but this loader does not decompress,
/// by magic (`Documentation/arch/x86/boot.rst`, Xen's `decompress.c`).
const UNSUPPORTED: [(&[u8], &str); 6] = [
    (&[0x1f, 0x9e], "old-style gzip (1f 9e)"),
    (b"BZh", "bzip2"),
    (&[0x5d, 0x00], "LZMA"),
    (&[0x89, b'L', b'Z', b'O'], "LZO"),
    (&[0x02, 0x21], "LZ4"),
    (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
];

const ELF_MAGIC: &[u8] = b"\x7fELF";
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

/// Why a bzImage cannot be unwrapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BzImageError {
    /// No `"HdrS"` at 0x202: not a bzImage (possibly an ELF kernel).
    NotBzImage,
    /// The image ends inside the setup header.
    TooShort {
        /// Length of the image.
        len: usize,
    },
    /// The boot protocol predates `payload_offset` (2.08).
    OldProtocol {
        /// The protocol version, `0xMMmm`.
        version: u16,
    },
    /// The payload does not lie inside the image.
    PayloadOutOfBounds {
        /// Offset of the payload in the image (setup + `payload_offset`).
        offset: u64,
        /// `payload_length`.
        len: u64,
        /// Length of the image.
        image_len: usize,
    },
    /// The payload is too short for a compressed stream and its size.
    PayloadTooShort {
        /// `payload_length`.
        len: usize,
    },
    /// A known compression format that is not supported.
    UnsupportedCompression {
        /// Its name.
        format: &'static str,
    },
    /// The payload's magic matches no known format.
    UnknownCompression {
        /// The payload's first bytes (zero-padded).
        magic: [u8; 6],
    },
    /// The declared decompressed size is over the limit.
    OutputTooLarge {
        /// The declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The XZ stream asks for a dictionary over the limit.
    DictionaryTooLarge {
        /// The dictionary size from the block header.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A buffer given to [`BzImage::decompress_into`] is too small.
    BufferTooSmall {
        /// Which buffer (`"output"` or `"dictionary"`).
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// The stream holds more data than its declared size.
    OutputOverflow {
        /// The declared size.
        declared: u64,
    },
    /// The stream ended before producing its declared size.
    SizeMismatch {
        /// The declared size.
        declared: u64,
        /// What the stream produced.
        produced: u64,
    },
    /// The compressed stream is corrupt or truncated.
    Corrupt {
        /// The format.
        format: &'static str,
        /// What the decoder found.
        reason: String,
    },
    /// Allocating a buffer of `size` bytes failed ([`decompress`] only).
    OutOfMemory {
        /// The size asked for.
        size: usize,
    },
}

impl fmt::Display for BzImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotBzImage => write!(f, "not a bzImage (no \"HdrS\" at 0x202)"),
            Self::TooShort { len } => write!(
                f,
                "bzImage truncated: {len} bytes, the setup header needs {SETUP_HEADER_END:#x}"
            ),
            Self::OldProtocol { version } => write!(
                f,
                "Cannot load bzImage v{}.{:02}: at least v2.08 is required",
                version >> 8,
                version & 0xff
            ),
            Self::PayloadOutOfBounds { offset, len, image_len } => write!(
                f,
                "bzImage payload at {offset:#x}, {len} bytes, lies outside the {image_len}-byte image"
            ),
            Self::PayloadTooShort { len } => {
                write!(f, "bzImage payload of {len} bytes is too short")
            }
            Self::UnsupportedCompression { format } => {
                write!(f, "bzImage payload is {format}-compressed; only XZ and gzip are supported")
            }
            Self::UnknownCompression { magic } => {
                write!(f, "bzImage payload has an unknown format (magic")?;
                for b in magic {
                    write!(f, " {b:02x}")?;
                }
                write!(f, ")")
            }
            Self::OutputTooLarge { size, limit } => write!(
                f,
                "bzImage payload decompresses to {size} bytes, over the {limit}-byte limit"
            ),
            Self::DictionaryTooLarge { size, limit } => {
                write!(f, "XZ payload needs a {size}-byte dictionary, over the {limit}-byte limit")
            }
            Self::BufferTooSmall { what, need, have } => {
                write!(f, "{what} buffer of {have} bytes is too small, {need} needed")
            }
            Self::OutputOverflow { declared } => {
                write!(f, "bzImage payload decompresses to more than its declared {declared} bytes")
            }
            Self::SizeMismatch { declared, produced } => {
                write!(f, "bzImage payload decompressed to {produced} bytes, {declared} declared")
            }
            Self::Corrupt { format, reason } => {
                write!(f, "corrupt {format} payload: {reason}")
            }
            Self::OutOfMemory { size } => {
                write!(f, "out of memory for a {size}-byte decompression buffer")
            }
        }
    }
}

/// A parsed bzImage: where its payload is and how it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BzImage<'a> {
    /// Boot protocol version, `0xMMmm` (2.15 is `0x020f`).
    pub version: u16,
    /// Setup sectors after the boot sector (`setup_sects`, 0 read as 4).
    pub setup_sects: u8,
    /// Offset of the payload in the image.
    pub payload_offset: usize,
    /// The payload.
    pub payload: &'a [u8],
    /// Its format.
    pub compression: Compression,
}

/// Whether `image` carries a bzImage setup header (`"HdrS"` at 0x202).
pub fn is_bzimage(image: &[u8]) -> bool {
    image.get(HEADER_MAGIC..HEADER_MAGIC.saturating_add(4)) == Some(b"HdrS".as_slice())
}

/// Parses the setup header of `image` and identifies its payload.
///
/// # Errors
/// [`BzImageError::NotBzImage`] when there is no setup header (the image may
/// be an ELF kernel), otherwise any check of the header or payload magic.
pub fn parse(image: &[u8]) -> Result<BzImage<'_>, BzImageError> {
    if !is_bzimage(image) {
        return Err(BzImageError::NotBzImage);
    }
    if image.len() < SETUP_HEADER_END {
        return Err(BzImageError::TooShort { len: image.len() });
    }
    let version = le_u16(image, VERSION).ok_or(BzImageError::TooShort { len: image.len() })?;
    if version < MIN_PROTOCOL {
        return Err(BzImageError::OldProtocol { version });
    }
    let setup_sects = match image.get(SETUP_SECTS).copied() {
        Some(0) => 4,
        Some(n) => n,
        None => return Err(BzImageError::TooShort { len: image.len() }),
    };
    let too_short = BzImageError::TooShort { len: image.len() };
    let payload_offset = le_u32(image, PAYLOAD_OFFSET).ok_or(too_short.clone())?;
    let payload_length = le_u32(image, PAYLOAD_LENGTH).ok_or(too_short)?;
    // In u64, (255 + 1) * 512 + 2 * u32::MAX cannot overflow.
    let start = (u64::from(setup_sects).saturating_add(1))
        .saturating_mul(512)
        .saturating_add(u64::from(payload_offset));
    let end = start.saturating_add(u64::from(payload_length));
    let out_of_bounds = BzImageError::PayloadOutOfBounds {
        offset: start,
        len: u64::from(payload_length),
        image_len: image.len(),
    };
    let (Ok(s), Ok(e)) = (usize::try_from(start), usize::try_from(end)) else {
        return Err(out_of_bounds);
    };
    let payload = image.get(s..e).ok_or(out_of_bounds)?;
    let compression = identify(payload)?;
    Ok(BzImage { version, setup_sects, payload_offset: s, payload, compression })
}

/// The format of `payload`, by its magic.
fn identify(payload: &[u8]) -> Result<Compression, BzImageError> {
    if payload.starts_with(ELF_MAGIC) {
        return Ok(Compression::None);
    }
    if payload.starts_with(XZ_MAGIC) {
        return Ok(Compression::Xz);
    }
    if payload.starts_with(GZIP_MAGIC) {
        return Ok(Compression::Gzip);
    }
    if let Some(&(_, format)) = UNSUPPORTED.iter().find(|(m, _)| payload.starts_with(m)) {
        return Err(BzImageError::UnsupportedCompression { format });
    }
    let mut magic = [0u8; 6];
    for (d, s) in magic.iter_mut().zip(payload) {
        *d = *s;
    }
    Err(BzImageError::UnknownCompression { magic })
}

impl BzImage<'_> {
    /// Size of the ELF once decompressed: the payload's length when it is
    /// not compressed, else the `u32` Linux appends to the payload.
    ///
    /// # Errors
    /// [`BzImageError::PayloadTooShort`] when there is no room for it.
    pub fn output_len(&self) -> Result<usize, BzImageError> {
        if self.compression == Compression::None {
            return Ok(self.payload.len());
        }
        let short = BzImageError::PayloadTooShort { len: self.payload.len() };
        let at = self.payload.len().checked_sub(4).ok_or(short.clone())?;
        let size = le_u32(self.payload, at).ok_or(short)?;
        usize::try_from(size).map_err(|_| BzImageError::OutputTooLarge {
            size: u64::from(size),
            limit: usize::MAX as u64,
        })
    }

    /// Size of the scratch buffer [`BzImage::decompress_into`] needs: the
    /// LZMA2 dictionary of an XZ payload (from its first block header), 0
    /// for the other formats.
    ///
    /// # Errors
    /// [`BzImageError::Corrupt`] when the XZ headers cannot be read.
    pub fn scratch_len(&self) -> Result<usize, BzImageError> {
        match self.compression {
            Compression::Xz => xz::dict_size(self.payload),
            Compression::None | Compression::Gzip => Ok(0),
        }
    }

    /// Checks [`BzImage::output_len`] and [`BzImage::scratch_len`] against
    /// `limit` and returns both.
    ///
    /// # Errors
    /// [`BzImageError::OutputTooLarge`] or
    /// [`BzImageError::DictionaryTooLarge`] over the limit, and those of
    /// the two functions.
    pub fn sizes(&self, limit: usize) -> Result<(usize, usize), BzImageError> {
        let out = self.output_len()?;
        if out > limit {
            return Err(BzImageError::OutputTooLarge { size: out as u64, limit: limit as u64 });
        }
        let scratch = self.scratch_len()?;
        if scratch > limit {
            return Err(BzImageError::DictionaryTooLarge {
                size: scratch as u64,
                limit: limit as u64,
            });
        }
        Ok((out, scratch))
    }

    /// Decompresses the payload into `out`, using `scratch` as the XZ
    /// dictionary, and returns the ELF's length ([`BzImage::output_len`]).
    /// Bytes of `out` beyond it are left alone.
    ///
    /// # Errors
    /// [`BzImageError::BufferTooSmall`] when `out` or `scratch` is shorter
    /// than needed; [`BzImageError::OutputOverflow`],
    /// [`BzImageError::SizeMismatch`] or [`BzImageError::Corrupt`] when the
    /// stream disagrees with its declared size or does not decode.
    pub fn decompress_into(
        &self,
        out: &mut [u8],
        scratch: &mut [u8],
    ) -> Result<usize, BzImageError> {
        let len = self.output_len()?;
        let have = out.len();
        let out = out.get_mut(..len).ok_or(BzImageError::BufferTooSmall {
            what: "output",
            need: len,
            have,
        })?;
        match self.compression {
            Compression::None => out.copy_from_slice(self.payload),
            Compression::Gzip => gzip::decompress(self.payload, out)?,
            Compression::Xz => xz::decompress(self.payload, out, scratch)?,
        }
        Ok(len)
    }
}

/// A decompressed ELF in an 8-byte-aligned buffer, as
/// [`crate::parse`] requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfBuf {
    words: Vec<u64>,
    len: usize,
}

impl ElfBuf {
    /// The ELF image.
    pub fn bytes(&self) -> &[u8] {
        let all: &[u8] = bytemuck::cast_slice(&self.words);
        all.get(..self.len).unwrap_or(all)
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A zeroed `Vec` of `len` elements, or [`BzImageError::OutOfMemory`].
fn try_zeroed<T: Copy + Default>(len: usize, bytes: usize) -> Result<Vec<T>, BzImageError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| BzImageError::OutOfMemory { size: bytes })?;
    v.resize(len, T::default());
    Ok(v)
}

/// Unwraps the bzImage `image`: parses it, checks its sizes against
/// `limit`, allocates exactly the declared output (and XZ dictionary) and
/// decompresses. The returned [`BzImage`] describes what was found.
///
/// # Errors
/// Those of [`parse`], [`BzImage::sizes`] and
/// [`BzImage::decompress_into`]; [`BzImageError::OutOfMemory`] when an
/// allocation fails.
pub fn decompress(image: &[u8], limit: usize) -> Result<(BzImage<'_>, ElfBuf), BzImageError> {
    let bz = parse(image)?;
    let (len, scratch_len) = bz.sizes(limit)?;
    let mut words: Vec<u64> = try_zeroed(len.div_ceil(8), len)?;
    let mut scratch: Vec<u8> = try_zeroed(scratch_len, scratch_len)?;
    let out: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
    bz.decompress_into(out, &mut scratch)?;
    Ok((bz, ElfBuf { words, len }))
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(s.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}
