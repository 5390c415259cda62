// SPDX-License-Identifier: GPL-2.0-only
//! The grant-table figures of `qemu/bench` (`mode=grant-bench`), measured
//! by dom0 with the TSC against the domU `pv-grant`'s writable ref 8,
//! medians of [`ROUNDS`] rounds:
//!
//! * `bench: grant copy 4 KiB, batch 1/16/64: N/N/N cycles per page
//!   (memcpy: N)` — `GNTTABOP_copy` of the whole granted page (source by
//!   grant) into 1, 16 or 64 distinct dom0 frames (`DOMID_SELF` by MFN) in
//!   one hypercall, divided by the batch; next to it a plain 4 KiB copy
//!   between two of dom0's pages;
//! * `bench: grant map+unmap: N cycles (mmu_update of one entry: N)` —
//!   `GNTTABOP_map_grant_ref` of ref 8 at an address (an empty PTE) and
//!   `GNTTABOP_unmap_grant_ref` of it, two hypercalls; next to it one
//!   `mmu_update` flipping the RW bit of one of dom0's L1 entries.

use pv_tests::grant::{self, REF_RW};
use pv_tests::guest_abi::grant_table::{GNTMAP_host_map, GnttabCopy};
use pv_tests::guest_abi::xen::{DOMID_SELF, DomId, MmuUpdate};
use pv_tests::pt::PTE_RW;
use pv_tests::shinfo::rdtsc;
use pv_tests::{fail, println};

use super::{BUFS, Window, copy_from_op, map_op, unmap_op};

/// Rounds per figure (the median is printed).
const ROUNDS: usize = 9;

/// The batch sizes of the copy figure.
const BATCHES: [usize; 3] = [1, 16, 64];

fn median(mut v: [u64; ROUNDS]) -> u64 {
    v.sort_unstable();
    v[ROUNDS / 2]
}

/// TSC ticks of `f`, median of [`ROUNDS`] after one warm-up call.
fn measure(mut f: impl FnMut()) -> u64 {
    f();
    let mut samples = [0u64; ROUNDS];
    for s in &mut samples {
        let t0 = rdtsc();
        f();
        *s = rdtsc().wrapping_sub(t0);
    }
    median(samples)
}

/// Runs the benchmark against `d`'s ref 8.
pub fn run(w: &Window, d: DomId) {
    let mut copy_ops: [GnttabCopy; BUFS] =
        core::array::from_fn(|i| copy_from_op(d, REF_RW, 0, w.buf_mfn(i), 0, 4096));
    let mut per_page = [0u64; BATCHES.len()];
    for (fig, &n) in per_page.iter_mut().zip(BATCHES.iter()) {
        let ops = copy_ops.get_mut(..n).unwrap_or_default();
        let mut bad = 0u32;
        let ticks = measure(|| {
            if grant::copy(ops).is_err() || ops.iter().any(|o| o.status != 0) {
                bad = bad.saturating_add(1);
            }
        });
        if bad != 0 {
            fail(format_args!("bench: {bad} grant copy batches of {n} failed"));
        }
        *fig = ticks.checked_div(n as u64).unwrap_or(0);
    }
    let memcpy = measure(|| {
        // SAFETY: buffer pages 0 and 1 are dom0's own and distinct.
        unsafe {
            core::ptr::copy_nonoverlapping(
                core::hint::black_box(Window::buf(0)).cast_const(),
                core::hint::black_box(Window::buf(1)),
                4096,
            );
        }
    });

    let mut bad = 0u32;
    let map_unmap = measure(|| {
        let mut map = [map_op(d, REF_RW, w.va, GNTMAP_host_map)];
        let mapped = grant::map(&mut map).is_ok() && map[0].status == 0;
        let mut unmap = [unmap_op(w.va, map[0].handle)];
        if !mapped || grant::unmap(&mut unmap).is_err() || unmap[0].status != 0 {
            bad = bad.saturating_add(1);
        }
    });
    if bad != 0 {
        fail(format_args!("bench: {bad} grant map+unmap rounds failed"));
    }

    let (pte, val) = w.scratch_pte;
    let mut flip = val;
    let mut bad = 0u32;
    let mmu = measure(|| {
        flip ^= PTE_RW;
        if crate::mmu_update(&[MmuUpdate { ptr: pte, val: flip }], DOMID_SELF).is_err() {
            bad = bad.saturating_add(1);
        }
    });
    if flip != val && crate::mmu_update(&[MmuUpdate { ptr: pte, val }], DOMID_SELF).is_err() {
        bad = bad.saturating_add(1);
    }
    if bad != 0 {
        fail(format_args!("bench: {bad} mmu_update flips failed"));
    }

    let [b1, b16, b64] = per_page;
    println!(
        "bench: grant copy 4 KiB, batch 1/16/64: {b1}/{b16}/{b64} cycles per page (memcpy: {memcpy})"
    );
    println!("bench: grant map+unmap: {map_unmap} cycles (mmu_update of one entry: {mmu})");
}
