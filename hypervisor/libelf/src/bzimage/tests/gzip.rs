// SPDX-License-Identifier: GPL-2.0-only
//! gzip payloads: header variants, round trips and refusals.

use super::*;

#[test]
fn gzip_payloads_round_trip_with_every_header_field() {
    let data = elf_like(123_457, 21);
    for flags in [0u8, 0x08, 0x02, 0x04, 0x10, 0x1e] {
        let image = bzimage(&gzip_member(&data, flags));
        let bz = parse(&image).unwrap();
        assert_eq!(bz.compression, Compression::Gzip);
        assert_eq!(bz.sizes(MAX_OUTPUT).unwrap(), (data.len(), 0));
        let out = unwrap_ok(&image);
        assert!(out.bytes() == &data[..], "flags {flags:#x}");
        assert_eq!(out.bytes().as_ptr().addr() % 8, 0);
    }
}

#[test]
fn gzip_command_output_decodes() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let data = elf_like(200_000, 22);
    let Ok(mut child) = Command::new("gzip")
        .args(["-n", "-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    else {
        println!("skipping the gzip(1) cross-check: the `gzip` command is not installed");
        return;
    };
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let gz = child.wait_with_output().unwrap().stdout;
    let out = unwrap_ok(&bzimage(&gz));
    assert!(out.bytes() == &data[..]);
}

fn gzip_corrupt(payload: &[u8], what: &str) {
    match refused(&bzimage(payload), MAX_OUTPUT) {
        BzImageError::Corrupt { format: "gzip", reason } => {
            assert!(reason.contains(what), "{what}: {reason}");
        }
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
}

#[test]
fn corrupt_gzip_is_refused() {
    let data = elf_like(40_000, 23);
    let good = gzip_member(&data, 0x08);
    let n = good.len();
    let mut s = good.clone();
    s[2] = 7;
    gzip_corrupt(&s, "not DEFLATE");
    let mut s = good.clone();
    s[3] |= 0x20;
    gzip_corrupt(&s, "reserved header flags");
    let mut s = good.clone();
    s[n - 8] ^= 1;
    gzip_corrupt(&s, "CRC-32 mismatch");
    // A name without its terminator runs off the end of the payload.
    let mut s = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3];
    s.extend_from_slice(b"no terminator");
    // A declared size without zero bytes either (16 MiB).
    s.extend_from_slice(&[1, 1, 1, 1]);
    gzip_corrupt(&s, "header truncated");
    // Cut in the middle of the DEFLATE data, size still appended.
    let mut s = good[..n / 2].to_vec();
    s.extend_from_slice(&(data.len() as u32).to_le_bytes());
    gzip_corrupt(&s, "DEFLATE");
    // Garbage DEFLATE (block type 3 is invalid).
    let mut s = good[..10].to_vec();
    s.extend_from_slice(&[0xff; 32]);
    s.extend_from_slice(&(data.len() as u32).to_le_bytes());
    gzip_corrupt(&s, "DEFLATE");
}

#[test]
fn gzip_sizes_are_enforced() {
    let data = elf_like(30_000, 24);
    let good = gzip_member(&data, 0);
    let n = good.len();
    let mut s = good.clone();
    s[n - 4..].copy_from_slice(&29_999u32.to_le_bytes());
    assert_eq!(
        refused(&bzimage(&s), MAX_OUTPUT),
        BzImageError::OutputOverflow { declared: 29_999 }
    );
    let mut s = good.clone();
    s[n - 4..].copy_from_slice(&30_001u32.to_le_bytes());
    assert_eq!(
        refused(&bzimage(&s), MAX_OUTPUT),
        BzImageError::SizeMismatch { declared: 30_001, produced: 30_000 }
    );
    assert_eq!(
        refused(&bzimage(&good), 29_000),
        BzImageError::OutputTooLarge { size: 30_000, limit: 29_000 }
    );
}
