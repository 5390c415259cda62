// SPDX-License-Identifier: GPL-2.0-only
//! Mutated and truncated images: `parse` and `load` must never panic.
//!
//! A tiny deterministic PRNG (xorshift64*) flips bytes of valid images,
//! mostly in the headers and notes, and writes boundary values into header
//! fields. Whatever `parse` accepts is then loaded into a target that only
//! checks bounds.

use super::builder::{self, Image};
use super::presets;
use super::*;

use crate::test_rng::Rng;

/// Accepts writes inside the image's own range without storing anything.
struct BoundsTarget {
    start: u64,
    end: u64,
    bytes: u64,
}

impl BoundsTarget {
    fn check(&mut self, vaddr: u64, len: u64) -> Result<(), ElfError> {
        let inside = vaddr >= self.start && vaddr.checked_add(len).is_some_and(|e| e <= self.end);
        if !inside {
            return Err(ElfError::BadDestination { vaddr, len });
        }
        self.bytes += len;
        Ok(())
    }
}

impl LoadTarget for BoundsTarget {
    fn write(&mut self, guest_vaddr: u64, bytes: &[u8]) -> Result<(), ElfError> {
        self.check(guest_vaddr, bytes.len() as u64)
    }

    fn zero(&mut self, guest_vaddr: u64, len: u64) -> Result<(), ElfError> {
        self.check(guest_vaddr, len)
    }
}

/// Parses `bytes` and loads whatever is accepted; returns whether accepted.
fn parse_and_load(bytes: &[u8]) -> bool {
    let Ok(parms) = parse(bytes) else { return false };
    assert!(parms.virt_kstart <= parms.virt_kend);
    assert!((parms.virt_kstart..parms.virt_kend).contains(&parms.virt_entry));
    let mut target = BoundsTarget { start: parms.virt_kstart, end: parms.virt_kend, bytes: 0 };
    load(&parms, bytes, &mut target).expect("an accepted image loads inside its own range");
    assert!(target.bytes <= MAX_IMAGE_SPAN);
    true
}

const INTERESTING: [u64; 10] =
    [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x8000_0000, 0xffff_ffff, 1 << 63, u64::MAX];

fn mutate(rng: &mut Rng, image: &mut Image, hot_len: usize) {
    let len = image.bytes().len();
    for _ in 0..1 + rng.index(8) {
        // Three times in four, hit the headers and notes.
        let span = if rng.index(4) == 0 { len } else { hot_len.min(len) };
        let offset = rng.index(span);
        match rng.index(3) {
            0 => image.bytes_mut()[offset] ^= 1 << rng.index(8),
            1 => image.bytes_mut()[offset] = rng.next() as u8,
            _ => {
                let value = INTERESTING[rng.index(INTERESTING.len())];
                let width = [1, 2, 4, 8][rng.index(4)];
                let offset = offset.min(len - width);
                image.bytes_mut()[offset..offset + width]
                    .copy_from_slice(&value.to_le_bytes()[..width]);
            }
        }
    }
}

/// Length of the interesting prefix (headers and segment notes) of `b`.
fn hot_len(b: &Builder) -> usize {
    let notes = builder::encode_notes(&b.segment_notes, 4).len();
    builder::PHOFF + 5 * builder::PHENT + notes + 64
}

fn fuzz(b: &Builder, seed: u64, rounds: usize) -> usize {
    let pristine = b.build();
    let hot = hot_len(b);
    let mut rng = Rng(seed);
    let mut image = Image::new(&pristine);
    let mut accepted = 0;
    for _ in 0..rounds {
        image.bytes_mut().copy_from_slice(&pristine);
        mutate(&mut rng, &mut image, hot);
        accepted += usize::from(parse_and_load(image.bytes()));
    }
    accepted
}

#[test]
fn mutated_xtf_images_never_panic() {
    let accepted = fuzz(&presets::xtf(), 0x9e37_79b9_7f4a_7c15, 5000);
    // Some mutations only touch padding or segment bytes.
    assert!(accepted > 0 && accepted < 5000, "accepted {accepted}");
}

#[test]
fn mutated_linux_images_never_panic() {
    let accepted = fuzz(&presets::linux(), 0xdead_beef_cafe_f00d, 5000);
    assert!(accepted > 0 && accepted < 5000, "accepted {accepted}");
}

#[test]
fn mutated_legacy_and_minios_images_never_panic() {
    fuzz(&presets::legacy(), 0x0123_4567_89ab_cdef, 2000);
    fuzz(&presets::minios(), 0xfeed_face_0bad_f00d, 1000);
}

#[test]
fn truncated_images_never_panic() {
    let pristine = presets::linux().build();
    let mut lengths: alloc::vec::Vec<usize> = (0..2048).collect();
    lengths.extend((2048..pristine.len()).step_by(97));
    for len in lengths {
        let image = Image::new(&pristine[..len]);
        assert!(!parse_and_load(image.bytes()), "a {len}-byte prefix was accepted");
    }
}
