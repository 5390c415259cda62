// SPDX-License-Identifier: GPL-2.0-only
//! `xenctl_bitmap` CPU masks in the caller's memory (Xen's
//! `xenctl_bitmap_to_bitmap` and `bitmap_to_xenctl_bitmap`).
//!
//! Bit `n` is bit `n % 8` of byte `n / 8`. Reading takes
//! `min(nr_bits, host CPUs)` bits rounded up to bytes, the guest's last
//! partial byte masked to its `nr_bits`; writing stores the host's bytes and
//! zeroes the rest of the guest's buffer — up to [`MAX_BITMAP_BYTES`] (Xen
//! zeroes up to any `nr_bits`, a guest-sized loop).

use guest_abi::domctl::XenctlBitmap;
use guest_abi::xen::Errno;

use crate::sched::{Cpu, CpuMask};

/// Most bytes of a guest bitmap zero-filled past the host's CPUs: 4096
/// bits, Xen's largest `NR_CPUS`.
pub const MAX_BITMAP_BYTES: u32 = 512;

/// Bytes of a mask covering `nbits` CPUs (at most a [`CpuMask`]'s 16).
fn host_bytes(nbits: u32) -> u32 {
    nbits.min(CpuMask::CAPACITY).div_ceil(8)
}

/// Reads `bm` as a mask of `nbits` CPUs with `read(address, buffer)`.
///
/// # Errors
/// What `read` returns (`EFAULT`).
pub fn read_cpumask(
    read: impl FnOnce(u64, &mut [u8]) -> Result<(), Errno>,
    bm: &XenctlBitmap,
    nbits: u32,
) -> Result<CpuMask, Errno> {
    let guest_bytes = bm.nr_bits.div_ceil(8);
    let copy = guest_bytes.min(host_bytes(nbits));
    let mut bytes = [0u8; 16];
    let n = usize::try_from(copy).unwrap_or(0);
    if let Some(buf) = bytes.get_mut(..n)
        && !buf.is_empty()
    {
        read(bm.bitmap, buf)?;
        if bm.nr_bits & 7 != 0
            && guest_bytes == copy
            && let Some(last) = buf.last_mut()
        {
            *last &= !(0xffu8 << (bm.nr_bits & 7));
        }
    }
    let mut mask = CpuMask::EMPTY;
    for cpu in 0..nbits.min(CpuMask::CAPACITY) {
        let byte = bytes.get(usize::try_from(cpu / 8).unwrap_or(0)).copied().unwrap_or(0);
        if byte & (1 << (cpu % 8)) != 0 {
            mask.set(Cpu(cpu));
        }
    }
    Ok(mask)
}

/// Writes `mask` (of `nbits` CPUs) into `bm` with `write(address, bytes)`.
///
/// # Errors
/// What `write` returns (`EFAULT`).
pub fn write_cpumask(
    mut write: impl FnMut(u64, &[u8]) -> Result<(), Errno>,
    bm: &XenctlBitmap,
    mask: CpuMask,
    nbits: u32,
) -> Result<(), Errno> {
    let guest_bytes = bm.nr_bits.div_ceil(8);
    let copy = guest_bytes.min(host_bytes(nbits));
    let mut bytes = [0u8; 16];
    for cpu in mask.iter().filter(|c| c.0 < nbits) {
        if let Some(b) = bytes.get_mut(usize::try_from(cpu.0 / 8).unwrap_or(usize::MAX)) {
            *b |= 1 << (cpu.0 % 8);
        }
    }
    let n = usize::try_from(copy).unwrap_or(0);
    if let Some(src) = bytes.get(..n)
        && !src.is_empty()
    {
        write(bm.bitmap, src)?;
    }
    let zero_end = guest_bytes.min(MAX_BITMAP_BYTES);
    if zero_end > copy {
        let zeros = [0u8; MAX_BITMAP_BYTES as usize];
        let len = usize::try_from(zero_end.saturating_sub(copy)).unwrap_or(0);
        if let Some(z) = zeros.get(..len) {
            write(bm.bitmap.wrapping_add(u64::from(copy)), z)?;
        }
    }
    Ok(())
}
