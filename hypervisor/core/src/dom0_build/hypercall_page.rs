// SPDX-License-Identifier: GPL-2.0-only
//! The hypercall page written at a PV kernel's `HYPERCALL_PAGE` note address.
//!
//! 64-bit PV hypercalls are `SYSCALL` from guest-kernel mode with the
//! hypercall number in RAX. The page holds one 32-byte stub per hypercall
//! number 0..127, in Xen's exact byte format so that guests which inspect or
//! patch it keep working: `push %rcx; push %r11; mov $i,%eax; syscall;
//! pop %r11; pop %rcx; ret`. Stub 23 (`iret`) also pushes RAX and does not
//! return: guests jump to it with the iret frame on their stack. Bytes not
//! covered by a stub are `int3`.

/// Size of the page.
pub const PAGE_SIZE: usize = 4096;
/// Size of one stub slot.
pub const STUB_SIZE: usize = 32;
/// `__HYPERVISOR_iret`.
pub const HYPERVISOR_IRET: u32 = 23;

fn stub(i: u32) -> ([u8; 16], usize) {
    let n = i.to_le_bytes();
    if i == HYPERVISOR_IRET {
        // push %rcx; push %r11; push %rax; mov $23,%eax; syscall
        ([0x51, 0x41, 0x53, 0x50, 0xb8, n[0], n[1], n[2], n[3], 0x0f, 0x05, 0, 0, 0, 0, 0], 11)
    } else {
        // push %rcx; push %r11; mov $i,%eax; syscall; pop %r11; pop %rcx; ret
        (
            [
                0x51, 0x41, 0x53, 0xb8, n[0], n[1], n[2], n[3], 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3,
                0, 0,
            ],
            14,
        )
    }
}

/// Fill `page` with the hypercall stubs.
pub fn fill(page: &mut [u8; PAGE_SIZE]) {
    page.fill(0xcc);
    for (i, slot) in (0u32..).zip(page.chunks_exact_mut(STUB_SIZE)) {
        let (bytes, len) = stub(i);
        if let (Some(dst), Some(src)) = (slot.get_mut(..len), bytes.get(..len)) {
            dst.copy_from_slice(src);
        }
    }
}

#[cfg(test)]
mod tests {
    // Tests index fixed-size pages with constant offsets and unwrap fixed-size conversions.
    #![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;

    fn page() -> [u8; PAGE_SIZE] {
        let mut p = [0u8; PAGE_SIZE];
        fill(&mut p);
        p
    }

    #[test]
    fn ordinary_stub_matches_xen() {
        let p = page();
        // xen_version (17) at 17 * 32.
        assert_eq!(
            &p[17 * 32..17 * 32 + 14],
            &[0x51, 0x41, 0x53, 0xb8, 17, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3]
        );
        assert!(p[17 * 32 + 14..18 * 32].iter().all(|&b| b == 0xcc));
    }

    #[test]
    fn iret_stub_pushes_rax_and_does_not_return() {
        let p = page();
        assert_eq!(
            &p[23 * 32..23 * 32 + 11],
            &[0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05]
        );
        assert_eq!(p[23 * 32 + 11], 0xcc);
    }

    #[test]
    fn every_slot_is_filled_and_first_byte_is_not_ret() {
        let p = page();
        assert_eq!(p[0], 0x51, "XTF treats 0xc3 at offset 0 as an uninitialised page");
        for i in 0..PAGE_SIZE / STUB_SIZE {
            assert_eq!(p[i * STUB_SIZE], 0x51);
            let imm_at = if i == 23 { 5 } else { 4 };
            let imm =
                u32::from_le_bytes(p[i * 32 + imm_at..i * 32 + imm_at + 4].try_into().unwrap());
            assert_eq!(imm as usize, i);
        }
    }
}
