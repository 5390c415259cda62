// SPDX-License-Identifier: GPL-2.0-only
//! Guest virtual memory access: Xen's `copy_{from,to}_guest` for PV guests.
//!
//! The hypervisor never dereferences a guest pointer. Each access walks the
//! vCPU's current 4-level page table in software (through [`PhysMem`]) with
//! the rights the guest itself has: every level present and user-accessible,
//! and writable for a write, inside the guest's part of the address space
//! (not the hypervisor hole, canonical). Any failure is `EFAULT`, exactly
//! what a faulting `copy_from_user` gives in Xen.

use guest_abi::xen::Errno;

use crate::PAGE_SIZE;
use crate::mm::Mfn;
use crate::mm::pv::PhysMem;
use crate::mm::pv::types::{PAGE_PRESENT, PAGE_PSE, PAGE_RW, PAGE_USER, pte_mfn};

/// Whether `va` is canonical and outside the hypervisor's hole.
#[must_use]
pub const fn guest_va_ok(va: u64) -> bool {
    crate::mm::pv::addr_ok(va)
}

/// Xen's `guest_handle_okay(hnd, nr)` for a 64-bit PV guest
/// (`array_access_ok`): the array's byte size does not overflow and its
/// start lies in guest space (the accesses themselves are checked one by
/// one).
#[must_use]
pub const fn guest_handle_okay(va: u64, nr: u64, size: u64) -> bool {
    match u64::MAX.checked_div(size) {
        Some(max) => nr < max && guest_va_ok(va),
        None => false,
    }
}

/// The machine frame backing guest address `va` through L4 table `l4`.
pub fn translate(mem: &dyn PhysMem, l4: Mfn, va: u64, write: bool) -> Result<Mfn, Errno> {
    if !guest_va_ok(va) {
        return Err(Errno::EFAULT);
    }
    let mut table = l4;
    for shift in [39u32, 30, 21, 12] {
        if !mem.frame_exists(table) {
            return Err(Errno::EFAULT);
        }
        let index = usize::try_from((va >> shift) & 511).map_err(|_| Errno::EFAULT)?;
        let e = mem.read_u64(table, index);
        let need = PAGE_PRESENT | PAGE_USER | if write { PAGE_RW } else { 0 };
        if e & need != need || (shift != 12 && e & PAGE_PSE != 0) {
            return Err(Errno::EFAULT);
        }
        table = pte_mfn(e);
    }
    if mem.frame_exists(table) { Ok(table) } else { Err(Errno::EFAULT) }
}

/// Xen's `guest_get_eff_l1e`: the L1 entry that maps `va` in the page
/// table `l4`, whatever its flags, or `None` when `va` is outside guest
/// space or no L1 table covers it (an upper level not present, or a
/// superpage). Upper levels need only be present: the hypervisor reads
/// the entry as Xen does through its linear page table.
#[must_use]
pub fn guest_l1e(mem: &dyn PhysMem, l4: Mfn, va: u64) -> Option<u64> {
    if !guest_va_ok(va) {
        return None;
    }
    let index = |shift: u32| usize::try_from((va >> shift) & 511).ok();
    let mut table = l4;
    for shift in [39u32, 30, 21] {
        if !mem.frame_exists(table) {
            return None;
        }
        let e = mem.read_u64(table, index(shift)?);
        if e & PAGE_PRESENT == 0 || e & PAGE_PSE != 0 {
            return None;
        }
        table = pte_mfn(e);
    }
    if !mem.frame_exists(table) {
        return None;
    }
    Some(mem.read_u64(table, index(12)?))
}

/// The pieces `[va, va + len)` splits into at page boundaries: (va, offset
/// into the output, length).
fn chunks(va: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize)> {
    let mut done = 0usize;
    core::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = va.wrapping_add(done as u64);
        let in_page = usize::try_from(PAGE_SIZE.wrapping_sub(at & (PAGE_SIZE - 1))).unwrap_or(0);
        let n = in_page.min(len.saturating_sub(done));
        let item = (at, done, n);
        done = done.saturating_add(n);
        Some(item)
    })
}

/// Copies guest memory at `va` into `buf` (`copy_from_guest`).
pub fn copy_from_guest(mem: &dyn PhysMem, l4: Mfn, va: u64, buf: &mut [u8]) -> Result<(), Errno> {
    if va.checked_add(buf.len() as u64).is_none() {
        return Err(Errno::EFAULT);
    }
    for (at, off, n) in chunks(va, buf.len()) {
        let mfn = translate(mem, l4, at, false)?;
        let dst = buf.get_mut(off..off.saturating_add(n)).ok_or(Errno::EFAULT)?;
        mem.read_bytes(mfn, usize::try_from(at & (PAGE_SIZE - 1)).unwrap_or(0), dst);
    }
    Ok(())
}

/// Copies `bytes` to guest memory at `va` (`copy_to_guest`). Pages are
/// checked before anything is written, so a failure writes nothing.
pub fn copy_to_guest(mem: &mut dyn PhysMem, l4: Mfn, va: u64, bytes: &[u8]) -> Result<(), Errno> {
    if va.checked_add(bytes.len() as u64).is_none() {
        return Err(Errno::EFAULT);
    }
    for (at, _, _) in chunks(va, bytes.len()) {
        translate(mem, l4, at, true)?;
    }
    for (at, off, n) in chunks(va, bytes.len()) {
        let mfn = translate(mem, l4, at, true)?;
        let src = bytes.get(off..off.saturating_add(n)).ok_or(Errno::EFAULT)?;
        mem.write_bytes(mfn, usize::try_from(at & (PAGE_SIZE - 1)).unwrap_or(0), src);
    }
    Ok(())
}

/// Reads a `T` from guest address `va`.
pub fn read<T: bytemuck::Pod>(mem: &dyn PhysMem, l4: Mfn, va: u64) -> Result<T, Errno> {
    let mut v = T::zeroed();
    copy_from_guest(mem, l4, va, bytemuck::bytes_of_mut(&mut v))?;
    Ok(v)
}

/// Writes `value` to guest address `va`.
pub fn write<T: bytemuck::Pod>(
    mem: &mut dyn PhysMem,
    l4: Mfn,
    va: u64,
    value: &T,
) -> Result<(), Errno> {
    copy_to_guest(mem, l4, va, bytemuck::bytes_of(value))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests on known values")]
mod tests {
    use super::*;
    use crate::mm::pv::EmulatedMem;

    const P: u64 = PAGE_PRESENT | PAGE_USER | PAGE_RW;

    /// L4 at 1, L3 at 2, L2 at 3, L1 at 4 mapping va 0x400000.. to frames 10, 11 (11 read-only).
    fn setup() -> EmulatedMem {
        let mut m = EmulatedMem::with_frames(16);
        m.write_u64(Mfn(1), 0, (2 << 12) | P);
        m.write_u64(Mfn(2), 0, (3 << 12) | P);
        m.write_u64(Mfn(3), 2, (4 << 12) | P);
        m.write_u64(Mfn(4), 0, (10 << 12) | P);
        m.write_u64(Mfn(4), 1, (11 << 12) | PAGE_PRESENT | PAGE_USER);
        m.write_u64(Mfn(4), 2, 12 << 12 | PAGE_PRESENT | PAGE_RW);
        m
    }

    #[test]
    fn read_write_across_a_page_boundary() {
        let mut m = setup();
        let data: [u8; 8] = *b"abcdefgh";
        copy_to_guest(&mut m, Mfn(1), 0x400ffc, &data[..4]).unwrap();
        let mut back = [0u8; 4];
        copy_from_guest(&m, Mfn(1), 0x400ffc, &mut back).unwrap();
        assert_eq!(&back, b"abcd");
        // Crossing into the read-only page: reading works, writing fails untouched.
        let mut eight = [0u8; 8];
        copy_from_guest(&m, Mfn(1), 0x400ffc, &mut eight).unwrap();
        assert_eq!(copy_to_guest(&mut m, Mfn(1), 0x400ffc, &data), Err(Errno::EFAULT));
        copy_from_guest(&m, Mfn(1), 0x400ffc, &mut back).unwrap();
        assert_eq!(&back, b"abcd");
    }

    #[test]
    fn rights_are_the_guests() {
        let m = setup();
        let mut b = [0u8; 1];
        // Supervisor-only page.
        assert_eq!(copy_from_guest(&m, Mfn(1), 0x402000, &mut b), Err(Errno::EFAULT));
        // Not present.
        assert_eq!(copy_from_guest(&m, Mfn(1), 0x403000, &mut b), Err(Errno::EFAULT));
        // Hypervisor hole and non-canonical.
        assert_eq!(copy_from_guest(&m, Mfn(1), 0xffff_8000_0000_0000, &mut b), Err(Errno::EFAULT));
        assert_eq!(copy_from_guest(&m, Mfn(1), 0x0000_8000_0000_0000, &mut b), Err(Errno::EFAULT));
        // Wrap-around.
        let mut big = [0u8; 16];
        assert_eq!(copy_from_guest(&m, Mfn(1), u64::MAX - 4, &mut big), Err(Errno::EFAULT));
    }

    #[test]
    fn typed_access() {
        let mut m = setup();
        write(&mut m, Mfn(1), 0x400010, &0x1122_3344_5566_7788u64).unwrap();
        assert_eq!(read::<u64>(&m, Mfn(1), 0x400010), Ok(0x1122_3344_5566_7788));
    }
}
