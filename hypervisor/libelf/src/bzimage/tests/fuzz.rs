// SPDX-License-Identifier: GPL-2.0-only
//! Mutated bzImages: whatever the damage, an error and never a panic.
//!
//! Each run starts from a valid image (XZ with BCJ, gzip) and applies a
//! few random byte flips, overwrites, truncations or size edits, in the
//! setup header, the compressed stream or the appended size. Seeds are
//! fixed, so a failure replays exactly.

use super::*;

/// One random mutation of `image`, whose payload starts at `payload`.
fn mutate(rng: &mut Rng, image: &mut Vec<u8>, payload: usize) {
    let len = image.len();
    match rng.below(6) {
        // Anywhere in the payload, mostly its headers.
        0 => {
            let at = payload + rng.index(64.min(len - payload));
            image[at] ^= 1 << rng.below(8);
        }
        1 => {
            let at = payload + rng.index(len - payload);
            image[at] = rng.next() as u8;
        }
        // The setup header fields the parser reads.
        2 => {
            let at = rng.pick(&[0x1f1, 0x206, 0x207, 0x248, 0x249, 0x24c, 0x24d, 0x24f]);
            image[at] = rng.next() as u8;
        }
        // The appended size (64 trailing bytes follow the payload).
        3 => {
            let at = len - 64 - 4 + rng.index(4);
            image[at] = rng.next() as u8;
        }
        4 => image.truncate(payload + rng.index(len - payload)),
        _ => {
            let at = payload + rng.index(len - payload);
            let n = 1 + rng.index(16);
            for b in image.iter_mut().skip(at).take(n) {
                *b = 0;
            }
        }
    }
}

fn fuzz(seed: u64, rounds: u32, good: &[u8]) {
    let mut rng = Rng(seed);
    let payload = parse(good).unwrap().payload_offset;
    let mut accepted = 0;
    for _ in 0..rounds {
        let mut image = good.to_vec();
        for _ in 0..=rng.below(3) {
            mutate(&mut rng, &mut image, payload);
        }
        // A small limit keeps forged sizes cheap; the originals fit.
        if decompress(&image, 1 << 20).is_ok() {
            accepted += 1;
        }
    }
    // Mutations of the trailing code or no-op overwrites may still decode.
    assert!(accepted < rounds, "every mutation was accepted");
}

#[test]
fn mutated_xz_images_never_panic() {
    let data = elf_like(40_000, 31);
    fuzz(0x5eed_0001, 400, &bzimage(&xz_payload(&data, 1 << 16)));
}

#[test]
fn mutated_gzip_images_never_panic() {
    let data = elf_like(40_000, 32);
    fuzz(0x5eed_0002, 400, &bzimage(&gzip_member(&data, 0x08)));
}
