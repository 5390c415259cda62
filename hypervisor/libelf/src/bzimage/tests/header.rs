// SPDX-License-Identifier: GPL-2.0-only
//! The setup header: where the payload is found, and every refusal.

use super::*;

#[test]
fn finds_the_payload_after_setup_sectors_and_offset() {
    let payload = xz_payload(&elf_like(4096, 1), 1 << 16);
    for sects in [1u8, 4, 39, 63] {
        let image = bzimage_with(Header { setup_sects: sects, ..Header::default() }, &payload);
        let bz = parse(&image).unwrap();
        assert_eq!(bz.setup_sects, sects);
        assert_eq!(bz.payload_offset, (usize::from(sects) + 1) * 512 + STUB);
        assert_eq!(bz.payload, &payload[..]);
        assert_eq!(bz.compression, Compression::Xz);
        assert_eq!(bz.version, 0x020f);
        assert_eq!(bz.output_len().unwrap(), 4096);
    }
}

#[test]
fn zero_setup_sects_means_four() {
    let payload = xz_payload(&elf_like(512, 2), 1 << 16);
    let image = bzimage_with(Header { setup_sects: 0, ..Header::default() }, &payload);
    let bz = parse(&image).unwrap();
    assert_eq!(bz.setup_sects, 4);
    assert_eq!(bz.payload_offset, 5 * 512 + STUB);
    assert_eq!(bz.payload, &payload[..]);
}

#[test]
fn oldest_accepted_protocol_is_2_08() {
    let payload = xz_payload(&elf_like(512, 3), 1 << 16);
    let image = bzimage_with(Header { version: 0x0208, ..Header::default() }, &payload);
    assert_eq!(parse(&image).unwrap().version, 0x0208);
    let image = bzimage_with(Header { version: 0x0207, ..Header::default() }, &payload);
    let e = parse(&image).unwrap_err();
    assert_eq!(e, BzImageError::OldProtocol { version: 0x0207 });
    assert_eq!(e.to_string(), "Cannot load bzImage v2.07: at least v2.08 is required");
}

#[test]
fn without_hdrs_it_is_not_a_bzimage() {
    let mut image = bzimage(&xz_payload(&elf_like(512, 4), 1 << 16));
    assert!(is_bzimage(&image));
    image[0x202] = b'h';
    assert!(!is_bzimage(&image));
    assert_eq!(parse(&image), Err(BzImageError::NotBzImage));
    // An ELF kernel, and anything too short to hold the magic.
    assert_eq!(parse(b"\x7fELF\x02\x01\x01"), Err(BzImageError::NotBzImage));
    assert_eq!(parse(&[]), Err(BzImageError::NotBzImage));
    assert_eq!(decompress(&image, MAX_OUTPUT).unwrap_err(), BzImageError::NotBzImage);
}

#[test]
fn truncated_header_is_refused() {
    let image = bzimage(&xz_payload(&elf_like(512, 5), 1 << 16));
    for len in [0x206, 0x207, 0x248, 0x24f] {
        assert_eq!(parse(&image[..len]), Err(BzImageError::TooShort { len }), "len {len:#x}");
    }
    assert!(parse(&image[..0x250]).is_err());
}

#[test]
fn payload_out_of_range_is_refused() {
    let payload = xz_payload(&elf_like(512, 6), 1 << 16);
    let base = Header::default();
    let len = bzimage_with(base, &payload).len();
    let cases = [
        // Length one past the end of the image (64 trailing bytes).
        Header { payload_length: Some(payload.len() as u32 + 65), ..base },
        // Offset past the end.
        Header { payload_offset: Some(u32::MAX), ..base },
        // Both at their maximum: the sum overflows 32 bits but not the check.
        Header { payload_offset: Some(u32::MAX), payload_length: Some(u32::MAX), ..base },
    ];
    for h in cases {
        let image = bzimage_with(h, &payload);
        assert_eq!(image.len(), len);
        match parse(&image) {
            Err(BzImageError::PayloadOutOfBounds { image_len, .. }) => assert_eq!(image_len, len),
            other => panic!("expected PayloadOutOfBounds, got {other:?}"),
        }
    }
    // A payload ending exactly at the end of the image is fine.
    let h = Header { payload_length: Some(payload.len() as u32 + 64), ..base };
    assert_eq!(parse(&bzimage_with(h, &payload)).unwrap().payload.len(), payload.len() + 64);
}

#[test]
fn unknown_and_unsupported_compressors_are_named() {
    let cases: [(&[u8], &str); 6] = [
        (b"BZh91AY&SY", "bzip2"),
        (&[0x5d, 0, 0, 0x80, 0], "LZMA"),
        (&[0x89, b'L', b'Z', b'O', 0, 0x0d], "LZO"),
        (&[0x02, 0x21, 0x4c, 0x18], "LZ4"),
        (&[0x28, 0xb5, 0x2f, 0xfd, 0x04], "zstd"),
        (&[0x1f, 0x9e, 8, 0], "old-style gzip (1f 9e)"),
    ];
    for (magic, name) in cases {
        let mut payload = magic.to_vec();
        payload.resize(64, 0);
        let e = parse(&bzimage(&payload)).unwrap_err();
        assert_eq!(e, BzImageError::UnsupportedCompression { format: name });
        assert!(e.to_string().contains(name), "{e}");
    }
    let e = parse(&bzimage(b"\x00\x01\x02\x03\x04\x05\x06")).unwrap_err();
    assert_eq!(e, BzImageError::UnknownCompression { magic: [0, 1, 2, 3, 4, 5] });
    assert_eq!(e.to_string(), "bzImage payload has an unknown format (magic 00 01 02 03 04 05)");
    // A one-byte payload is padded with zeroes in the message.
    let e = parse(&bzimage(&[0xaa])).unwrap_err();
    assert_eq!(e, BzImageError::UnknownCompression { magic: [0xaa, 0, 0, 0, 0, 0] });
    // An empty one has no magic at all.
    assert!(matches!(parse(&bzimage(&[])), Err(BzImageError::UnknownCompression { .. })));
}

#[test]
fn uncompressed_elf_payload_is_copied_aligned() {
    let elf = elf_like(1001, 7);
    // STUB is 4 mod 8, so the payload is misaligned in the image and the
    // copy realigns it.
    let image = bzimage(&elf);
    assert_eq!((image.as_ptr().addr() + (40 * 512 + STUB)) % 8, 4);
    let bz = parse(&image).unwrap();
    assert_eq!(bz.compression, Compression::None);
    assert_eq!(bz.output_len().unwrap(), 1001);
    assert_eq!(bz.scratch_len().unwrap(), 0);
    let out = unwrap_ok(&image);
    assert_eq!(out.bytes(), &elf[..]);
    assert_eq!(out.len(), 1001);
    assert_eq!(out.bytes().as_ptr().addr() % 8, 0);
}

#[test]
fn payload_too_short_for_its_size_is_refused() {
    let e = parse(&bzimage(&[0x1f, 0x8b, 8])).unwrap().output_len().unwrap_err();
    assert_eq!(e, BzImageError::PayloadTooShort { len: 3 });
}

#[test]
fn buffers_given_to_decompress_into_must_be_large_enough() {
    let data = elf_like(10_000, 8);
    let image = bzimage(&xz_payload(&data, 1 << 16));
    let bz = parse(&image).unwrap();
    let (out_len, dict_len) = bz.sizes(MAX_OUTPUT).unwrap();
    assert_eq!((out_len, dict_len), (10_000, 1 << 16));
    let mut out = vec![0u8; out_len + 100];
    let mut dict = vec![0u8; dict_len];
    let e = bz.decompress_into(&mut out[..out_len - 1], &mut dict).unwrap_err();
    assert_eq!(e, BzImageError::BufferTooSmall { what: "output", need: 10_000, have: 9_999 });
    let e = bz.decompress_into(&mut out, &mut dict[..dict_len - 1]).unwrap_err();
    assert_eq!(e, BzImageError::BufferTooSmall { what: "dictionary", need: 1 << 16, have: 65535 });
    // A larger output buffer is fine; the tail is untouched.
    out[out_len..].fill(0x5a);
    assert_eq!(bz.decompress_into(&mut out, &mut dict).unwrap(), 10_000);
    assert_eq!(&out[..out_len], &data[..]);
    assert!(out[out_len..].iter().all(|&b| b == 0x5a));
}
