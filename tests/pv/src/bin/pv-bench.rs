// SPDX-License-Identifier: GPL-2.0-only
//! `pv-bench`: hypercall and MMU-update costs, measured with the TSC.
//!
//! Prints `bench:` lines that `qemu/bench` collects next to the
//! hypervisor's own raw `SYSCALL`/`SYSRET` figure from the same boot:
//! the null hypercall (`xen_version(XENVER_version)` by direct `syscall`),
//! and `mmu_update` per entry at batch sizes 1, 16 and 256 (each entry
//! flips the RW bit of one L1 entry mapping a scratch page). Each figure
//! is the median over rounds. Not a test: it reports SUCCESS when it ran.
#![no_std]
#![no_main]
// Benchmark arithmetic is on small known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing
)]

use core::arch::asm;

use pv_tests::hypercall::direct;
use pv_tests::{StartInfo, check, println};

pv_tests::test_kernel!(name: "bench", main: test_main);

const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;
const M2P: u64 = 0xFFFF_8000_0000_0000;
const ROUNDS: usize = 9;
const DOMID_SELF: u64 = 0x7ff0;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

static mut SCRATCH: Page = Page([0; 4096]);

fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc only reads the time-stamp counter.
    unsafe { asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Reads a u64 at a kernel virtual address.
fn peek(va: u64) -> u64 {
    // SAFETY: callers pass addresses of the initial mapping or the M2P,
    // both mapped readable for the kernel.
    unsafe { core::ptr::read_volatile(va as *const u64) }
}

/// Virtual address of machine frame `mfn` in the initial mapping.
fn mfn_to_va(mfn: u64) -> u64 {
    let pfn = peek(M2P.wrapping_add(mfn.wrapping_mul(8)));
    VIRT_BASE.wrapping_add(pfn << 12)
}

/// Machine address of the L1 entry mapping `va`, walking from `pt_base`.
fn l1e_maddr(si: &StartInfo, va: u64) -> u64 {
    let mut table_va = si.pt_base;
    for shift in [39u32, 30, 21] {
        let e = peek(table_va.wrapping_add(((va >> shift) & 511) * 8));
        table_va = mfn_to_va((e & 0x000f_ffff_ffff_f000) >> 12);
    }
    // The L1's machine frame: translate its VA back through the P2M.
    let pfn = table_va.wrapping_sub(VIRT_BASE) >> 12;
    let mfn = peek(si.mfn_list.wrapping_add(pfn.wrapping_mul(8)));
    (mfn << 12) | (((va >> 12) & 511) * 8)
}

fn test_main(si: &StartInfo) {
    // Null hypercall.
    let per_round = 10_000u64;
    let mut samples = [0u64; ROUNDS];
    for s in &mut samples {
        let t0 = rdtsc();
        for _ in 0..per_round {
            // SAFETY: XENVER_version takes no pointer.
            unsafe { direct::hypercall2(17, 0, 0) };
        }
        *s = rdtsc().wrapping_sub(t0) / per_round;
    }
    println!("bench: null hypercall (xen_version): {} cycles", median(&mut samples));

    // mmu_update batches on one L1 entry.
    let va = core::ptr::addr_of!(SCRATCH) as u64;
    let ptr = l1e_maddr(si, va);
    let pte = {
        let pfn = va.wrapping_sub(VIRT_BASE) >> 12;
        let mfn = peek(si.mfn_list.wrapping_add(pfn.wrapping_mul(8)));
        (mfn << 12) | 0x67 // present, rw, user, accessed, dirty
    };
    for batch in [1usize, 16, 256] {
        let mut reqs = [[0u64; 2]; 256];
        for (i, r) in reqs.iter_mut().enumerate().take(batch) {
            // Alternate read-only and writable: every entry is a real change.
            r[0] = ptr;
            r[1] = if i % 2 == 0 { pte & !2 } else { pte };
        }
        if batch % 2 == 1 {
            // End writable, so the next round starts from the same state.
            if let Some(last) = reqs.get_mut(batch - 1) {
                last[1] = pte;
            }
        }
        let reps = (2048 / batch).max(8) as u64;
        let mut samples = [0u64; ROUNDS];
        let mut ok = true;
        for s in &mut samples {
            let t0 = rdtsc();
            for _ in 0..reps {
                let mut done = 0u32;
                // SAFETY: `reqs` and `done` are live buffers of the sizes given.
                let r = unsafe {
                    direct::hypercall4(
                        1,
                        reqs.as_ptr() as u64,
                        batch as u64,
                        core::ptr::addr_of_mut!(done) as u64,
                        DOMID_SELF,
                    )
                };
                ok &= r == 0 && done as usize == batch;
            }
            *s = rdtsc().wrapping_sub(t0) / (reps * batch as u64);
        }
        check(ok, format_args!("mmu_update batches of {batch} all applied"));
        println!("bench: mmu_update batch {batch}: {} cycles per entry", median(&mut samples));
    }
    println!("bench: ptwr emulated write: not measured (ptwr is not implemented yet)");
}
