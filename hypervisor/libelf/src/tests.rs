// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for the PV kernel image parser and loader.
//!
//! `builder` writes synthetic images modelled on XTF, mini-os, Linux and a
//! legacy `__xen_guest` kernel; `accept` checks what is parsed and loaded,
//! `refuse` every refusal, `fuzz` that mutated images never panic.
// Tests do plain arithmetic, indexing and unwrapping on small known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]

mod accept;
mod fuzz;
mod refuse;
mod units;

use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::testing::{builder, presets};
use builder::Builder;

/// Parses `b`, panicking with the error message on failure.
fn ok(b: &Builder) -> ElfDomParms {
    let image = b.image();
    parse(image.bytes()).unwrap_or_else(|e| panic!("image refused: {e}"))
}

/// Parses `b`, expecting a refusal.
fn err(b: &Builder) -> ElfError {
    let image = b.image();
    parse(image.bytes()).expect_err("image unexpectedly accepted")
}

/// Guest memory `[base, base + len)` backed by a `Vec`, initially 0xAA.
struct VecTarget {
    base: u64,
    mem: Vec<u8>,
}

impl VecTarget {
    fn new(base: u64, len: usize) -> Self {
        Self { base, mem: vec![0xaa; len] }
    }

    /// For the whole image of `parms`.
    fn for_image(parms: &ElfDomParms) -> Self {
        Self::new(parms.virt_kstart, (parms.virt_kend - parms.virt_kstart) as usize)
    }

    fn range(&self, vaddr: u64, len: u64) -> Result<core::ops::Range<usize>, ElfError> {
        let start = vaddr.checked_sub(self.base).and_then(|s| usize::try_from(s).ok());
        let end = start.and_then(|s| s.checked_add(usize::try_from(len).ok()?));
        match (start, end) {
            (Some(start), Some(end)) if end <= self.mem.len() => Ok(start..end),
            _ => Err(ElfError::BadDestination { vaddr, len }),
        }
    }

    fn at(&self, vaddr: u64, len: u64) -> &[u8] {
        &self.mem[self.range(vaddr, len).unwrap()]
    }
}

impl LoadTarget for VecTarget {
    fn write(&mut self, guest_vaddr: u64, bytes: &[u8]) -> Result<(), ElfError> {
        let range = self.range(guest_vaddr, bytes.len() as u64)?;
        self.mem[range].copy_from_slice(bytes);
        Ok(())
    }

    fn zero(&mut self, guest_vaddr: u64, len: u64) -> Result<(), ElfError> {
        let range = self.range(guest_vaddr, len)?;
        self.mem[range].fill(0);
        Ok(())
    }
}

/// Checks that every segment of `b` was loaded at its `p_paddr +
/// virt_offset` with the right bytes and a zeroed tail.
fn check_loaded(b: &Builder, parms: &ElfDomParms, target: &VecTarget) {
    for (i, (load, segment)) in b.loads.iter().zip(&parms.segments).enumerate() {
        let vaddr = parms.load_address(segment);
        assert_eq!(vaddr, load.paddr.wrapping_add(parms.virt_offset()));
        let bytes = target.at(vaddr, load.filesz);
        assert!(
            bytes.iter().enumerate().all(|(j, &byte)| byte == builder::content_byte(i, j)),
            "segment {i}: file bytes differ"
        );
        let bss = target.at(vaddr + load.filesz, load.memsz - load.filesz);
        assert!(bss.iter().all(|&byte| byte == 0), "segment {i}: bss not zeroed");
    }
}
