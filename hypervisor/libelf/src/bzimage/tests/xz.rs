// SPDX-License-Identifier: GPL-2.0-only
//! XZ payloads: round trips through the x86 BCJ filter, cross-checks with
//! the `xz` command, and every refusal.

use std::process::{Command, Stdio};

use super::*;

/// Decodes an XZ bzImage of `data` and checks the result.
fn round_trip(data: &[u8], dict: u32) {
    let image = bzimage(&xz_payload(data, dict));
    let bz = parse(&image).unwrap();
    assert_eq!(bz.compression, Compression::Xz);
    assert_eq!(
        bz.sizes(MAX_OUTPUT).unwrap(),
        (data.len(), if data.is_empty() { 0 } else { dict as usize })
    );
    let out = unwrap_ok(&image);
    assert_eq!(out.len(), data.len());
    assert!(out.bytes() == data, "{} bytes decoded differently", data.len());
    assert_eq!(out.bytes().as_ptr().addr() % 8, 0);
}

#[test]
fn bcj_payloads_round_trip() {
    for (len, dict) in [(1, 4096), (4096, 1 << 16), (100_003, 1 << 16), (300_000, 1 << 20)] {
        round_trip(&elf_like(len, len as u64), dict);
    }
}

#[test]
fn the_bcj_filter_is_really_in_the_chain() {
    // Plain LZMA2 of code-like data compresses worse than BCJ + LZMA2: a
    // sanity check that the encoder applied the filter the decoder undid.
    let data = code_like(200_000, 11);
    let mut opts = XzOptions::with_preset(6);
    opts.set_check_sum_type(CheckType::Crc32);
    let mut w = XzWriter::new(Vec::new(), opts).unwrap();
    w.write_all(&data).unwrap();
    let plain = w.finish().unwrap();
    let bcj = xz_stream(&data, 1 << 23);
    assert_ne!(plain, bcj);
    // The block header lists two filters, BCJ x86 (0x04) then LZMA2.
    assert_eq!(bcj[13] & 3, 1, "filter count");
    assert_eq!(bcj[14], 0x04, "first filter is x86 BCJ");
    let out = unwrap_ok(&bzimage(&with_size(bcj, data.len())));
    assert!(out.bytes() == &data[..]);
    let out = unwrap_ok(&bzimage(&with_size(plain, data.len())));
    assert!(out.bytes() == &data[..]);
}

#[test]
fn empty_stream_decodes_to_nothing() {
    let image = bzimage(&xz_payload(&[], 1 << 16));
    let bz = parse(&image).unwrap();
    assert_eq!(bz.output_len().unwrap(), 0);
    let out = unwrap_ok(&image);
    assert!(out.is_empty());
}

#[test]
fn crc64_and_no_check_streams_decode() {
    let data = elf_like(20_000, 12);
    for check in [CheckType::Crc64, CheckType::None] {
        let mut opts = XzOptions::with_preset(1);
        opts.set_check_sum_type(check);
        let mut w = XzWriter::new(Vec::new(), opts).unwrap();
        w.write_all(&data).unwrap();
        let out = unwrap_ok(&bzimage(&with_size(w.finish().unwrap(), data.len())));
        assert!(out.bytes() == &data[..]);
    }
}

#[test]
fn sha256_check_is_refused_cleanly() {
    let data = elf_like(2_000, 13);
    let mut opts = XzOptions::with_preset(1);
    opts.set_check_sum_type(CheckType::Sha256);
    let mut w = XzWriter::new(Vec::new(), opts).unwrap();
    w.write_all(&data).unwrap();
    let e = refused(&bzimage(&with_size(w.finish().unwrap(), data.len())), MAX_OUTPUT);
    assert!(matches!(e, BzImageError::Corrupt { format: "XZ", .. }), "{e:?}");
}

/// `data` compressed by the `xz` command as Linux's `scripts/xz_wrap.sh`
/// does for x86, or `None` (with a message) when `xz` is not installed.
fn xz_command(data: &[u8], dict: &str) -> Option<Vec<u8>> {
    let lzma2 = format!("--lzma2=preset=6,dict={dict}");
    let child = Command::new("xz")
        .args(["--format=xz", "--check=crc32", "--x86", &lzma2, "--stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("skipping the xz(1) cross-check: the `xz` command is not installed");
        return None;
    };
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "xz failed");
    Some(out.stdout)
}

#[test]
fn streams_from_the_xz_command_decode() {
    let data = elf_like(500_000, 14);
    let Some(stream) = xz_command(&data, "1MiB") else { return };
    let image = bzimage(&with_size(stream, data.len()));
    let bz = parse(&image).unwrap();
    assert_eq!(bz.scratch_len().unwrap(), 1 << 20);
    let out = unwrap_ok(&image);
    assert!(out.bytes() == &data[..]);
}

#[test]
fn dictionary_sizes_follow_the_property_byte() {
    // 2^n and 3 * 2^(n-1): the two encodings of the property byte.
    for dict in [4096u32, 1 << 16, 3 << 15, 1 << 20, 3 << 19, 32 << 20] {
        let stream = xz_stream(b"\x7fELF tiny", dict);
        assert_eq!(crate::bzimage::xz::dict_size(&stream).unwrap(), dict as usize, "dict {dict}");
    }
}

#[test]
fn declared_size_over_the_limit_is_refused_before_allocating() {
    let data = elf_like(50_000, 15);
    let image = bzimage(&xz_payload(&data, 1 << 16));
    let e = refused(&image, 49_999);
    assert_eq!(e, BzImageError::OutputTooLarge { size: 50_000, limit: 49_999 });
    // A forged 4 GiB size: refused without trying to allocate it.
    let image = bzimage(&with_size(xz_stream(&data, 1 << 16), u32::MAX as usize));
    let e = refused(&image, MAX_OUTPUT);
    assert_eq!(
        e,
        BzImageError::OutputTooLarge { size: u64::from(u32::MAX), limit: MAX_OUTPUT as u64 }
    );
    assert!(e.to_string().contains("over the 268435456-byte limit"), "{e}");
}

#[test]
fn dictionary_over_the_limit_is_refused() {
    let data = elf_like(1_000, 16);
    let image = bzimage(&xz_payload(&data, 1 << 20));
    let e = refused(&image, 1 << 19);
    assert_eq!(e, BzImageError::DictionaryTooLarge { size: 1 << 20, limit: 1 << 19 });
}

#[test]
fn output_beyond_the_declared_size_is_cut_off() {
    let data = elf_like(70_000, 17);
    let stream = xz_stream(&data, 1 << 16);
    let image = bzimage(&with_size(stream.clone(), data.len() - 1));
    assert_eq!(refused(&image, MAX_OUTPUT), BzImageError::OutputOverflow { declared: 69_999 });
    let image = bzimage(&with_size(stream, data.len() + 1));
    let e = refused(&image, MAX_OUTPUT);
    assert_eq!(e, BzImageError::SizeMismatch { declared: 70_001, produced: 70_000 });
}

/// Recomputes the CRC-32 of the first block header of `stream` after an edit.
fn fix_block_header_crc(stream: &mut [u8]) {
    let len = (usize::from(stream[12]) + 1) * 4;
    let crc = crc32::crc32(&stream[12..12 + len - 4]);
    stream[12 + len - 4..12 + len].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn corrupt_headers_are_refused() {
    let data = elf_like(5_000, 18);
    let good = xz_stream(&data, 1 << 16);
    let corrupt = |stream: Vec<u8>, what: &str| {
        let e = refused(&bzimage(&with_size(stream, data.len())), MAX_OUTPUT);
        match e {
            BzImageError::Corrupt { format: "XZ", ref reason } => {
                assert!(reason.contains(what), "{what}: {reason}");
            }
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
    };
    let mut s = good.clone();
    s[7] ^= 0x01;
    corrupt(s, "stream header CRC-32");
    let mut s = good.clone();
    s[14] ^= 0x10;
    corrupt(s, "block header CRC-32");
    // Block header: [size, flags, 0x04, 0x00 (BCJ, no props), 0x21, 0x01, prop, pad..., crc].
    let mut s = good.clone();
    assert_eq!(&s[14..18], &[0x04, 0x00, 0x21, 0x01]);
    s[18] = 40;
    fix_block_header_crc(&mut s);
    corrupt(s, "dictionary property 40");
    let mut s = good.clone();
    s[16] = 0x03; // delta in place of LZMA2
    fix_block_header_crc(&mut s);
    corrupt(s, "not LZMA2");
    let mut s = good.clone();
    s[13] |= 0x20;
    fix_block_header_crc(&mut s);
    corrupt(s, "unsupported block header flags");
    let mut s = good.clone();
    s[6] = 0x01;
    corrupt(s, "stream header CRC-32");
    corrupt(good[..12].to_vec(), "block header truncated");
    // With the 4-byte size appended, 7 bytes of stream are still too few.
    corrupt(good[..7].to_vec(), "stream header truncated");
}

#[test]
fn corrupt_or_truncated_data_is_refused() {
    let data = elf_like(60_000, 19);
    let good = xz_stream(&data, 1 << 16);
    let mid = good.len() / 2;
    let mut flipped = good.clone();
    flipped[mid] ^= 0x55;
    let e = refused(&bzimage(&with_size(flipped, data.len())), MAX_OUTPUT);
    assert!(matches!(e, BzImageError::Corrupt { format: "XZ", .. }), "{e:?}");
    let e = refused(&bzimage(&with_size(good[..mid].to_vec(), data.len())), MAX_OUTPUT);
    assert!(matches!(e, BzImageError::Corrupt { format: "XZ", .. }), "{e:?}");
    assert!(e.to_string().starts_with("corrupt XZ payload: "), "{e}");
    // The content check catches what LZMA2 decodes without complaint.
    let mut bad_check = good.clone();
    let footer = bad_check.len() - 12;
    // The index and footer follow the 4-byte CRC-32 of the data.
    let index_len = (usize::from(bad_check[footer + 4]) + 1) * 4;
    let check = footer - index_len - 4;
    bad_check[check] ^= 1;
    let e = refused(&bzimage(&with_size(bad_check, data.len())), MAX_OUTPUT);
    assert!(matches!(e, BzImageError::Corrupt { format: "XZ", .. }), "{e:?}");
}
