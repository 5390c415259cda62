// SPDX-License-Identifier: GPL-2.0-only
//! `pv-bench`: hypercall and MMU-update costs, measured with the TSC.
//!
//! Prints `bench:` lines that `qemu/bench` collects next to the
//! hypervisor's own raw `SYSCALL`/`SYSRET` figure from the same boot:
//! the null hypercall (`xen_version(XENVER_version)` by direct `syscall`),
//! `mmu_update` per entry at batch sizes 1, 16 and 256 (each entry flips
//! the RW bit of one L1 entry mapping a scratch page), and the same flip
//! done by a plain store into the bootstrap L1 through its read-only
//! initial mapping, emulated by the hypervisor (writable page tables,
//! `VMASST_TYPE_writable_pagetables`), next to `mmu_update` of one entry.
//! Each figure is the median over rounds. Not a test: it reports SUCCESS
//! when it ran.
#![no_std]
#![no_main]
// Benchmark arithmetic is on small known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing
)]

use core::arch::asm;

use pv_tests::fault::{self, Outcome};
use pv_tests::hypercall::direct;
use pv_tests::{StartInfo, check, println, probe};

pv_tests::test_kernel!(name: "bench", main: test_main);

const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;
const M2P: u64 = 0xFFFF_8000_0000_0000;
const ROUNDS: usize = 9;
const DOMID_SELF: u64 = 0x7ff0;
/// `__HYPERVISOR_vm_assist`, `VMASST_CMD_enable`/`disable` and
/// `VMASST_TYPE_writable_pagetables`.
const VM_ASSIST: u32 = 21;
const VMASST_CMD_ENABLE: u64 = 0;
const VMASST_CMD_DISABLE: u64 = 1;
const VMASST_TYPE_WRITABLE_PAGETABLES: u64 = 2;

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
    if let Err(e) = fault::install() {
        pv_tests::error(format_args!("set_trap_table: {e}"));
        return;
    }
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

    // Event-channel send-to-self round trip: EVTCHNOP_send on an IPI port of
    // our own with upcalls open, so that each send returns through the event
    // callback (which clears the port) and HYPERVISOR_iret.
    {
        use pv_tests::guest_abi::callback::CallbackType;
        use pv_tests::{bounce, evtchn, shinfo};
        let null = median(&mut samples).max(1);
        let port = shinfo::map(si).ok().and_then(|()| {
            bounce::register_callback(CallbackType::Event, 0, bounce::event_entry()).ok()?;
            evtchn::install_recorder();
            evtchn::bind_ipi(0).ok()
        });
        if let Some(port) = port {
            let per_round = 1_000u64;
            let mut trips = [0u64; ROUNDS];
            let before = bounce::events();
            for s in &mut trips {
                shinfo::set_upcall_mask(0);
                let t0 = rdtsc();
                for _ in 0..per_round {
                    let mut arg = port;
                    // SAFETY: EVTCHNOP_send (4) reads one evtchn_send_t at `arg`.
                    unsafe { direct::hypercall2(32, 4, core::ptr::addr_of_mut!(arg) as u64) };
                }
                *s = rdtsc().wrapping_sub(t0) / per_round;
                shinfo::set_upcall_mask(1);
            }
            let upcalls = u64::from(bounce::events().wrapping_sub(before));
            check(upcalls == ROUNDS as u64 * per_round, "each send to self gave one upcall");
            let trip = median(&mut trips);
            println!(
                "bench: event-channel send-to-self round trip (send + upcall + iret): {trip} \
                 cycles ({}.{}x the null hypercall)",
                trip / null,
                trip * 10 / null % 10
            );
            let _ = evtchn::close(port);
        } else {
            check(false, "event channel set-up for the send-to-self round trip");
        }
    }

    // mmu_update batches on one L1 entry.
    let va = core::ptr::addr_of!(SCRATCH) as u64;
    let ptr = l1e_maddr(si, va);
    let pte = {
        let pfn = va.wrapping_sub(VIRT_BASE) >> 12;
        let mfn = peek(si.mfn_list.wrapping_add(pfn.wrapping_mul(8)));
        (mfn << 12) | 0x67 // present, rw, user, accessed, dirty
    };
    let mut single = 0u64;
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
        let per_entry = median(&mut samples);
        if batch == 1 {
            single = per_entry;
        }
        println!("bench: mmu_update batch {batch}: {per_entry} cycles per entry");
    }
    ptwr(ptr, pte, single);
}

/// The same RW flip as the `mmu_update` runs, by a plain store into the
/// L1 entry at machine address `ptr` through the read-only initial
/// mapping of its table (emulated writable page tables).
fn ptwr(ptr: u64, pte: u64, mmu_update_one: u64) {
    // SAFETY: vm_assist only changes how the hypervisor treats this domain.
    let r = unsafe {
        direct::hypercall2(VM_ASSIST, VMASST_CMD_ENABLE, VMASST_TYPE_WRITABLE_PAGETABLES)
    };
    if !check(r == 0, format_args!("vm_assist(enable, writable_pagetables): {r}")) {
        return;
    }
    let entry_va = mfn_to_va(ptr >> 12).wrapping_add(ptr & 0xfff);
    let store = |value: u64| {
        // SAFETY: a store into the scratch page's L1 entry, which the
        // hypervisor validates and emulates (or bounces to the probe);
        // the scratch page is never accessed while its entry changes.
        unsafe { probe!("mov {v}, ({a})"; a = in(reg) entry_va, v = in(reg) value) }
    };
    let first = store(pte & !2);
    let ok = first.is_none() && peek(entry_va) & 3 == 1;
    if !check(ok, format_args!("a store into a read-only L1 is emulated: {}", Outcome(first))) {
        return;
    }
    let reps = 512u64;
    let mut samples = [0u64; ROUNDS];
    let mut ok = true;
    for s in &mut samples {
        let t0 = rdtsc();
        for i in 0..reps {
            // Alternate writable and read-only: every store is a real change.
            let value = if i % 2 == 0 { pte } else { pte & !2 };
            // SAFETY: as for `store`, without the probe's bookkeeping.
            unsafe { core::ptr::write_volatile(entry_va as *mut u64, value) };
        }
        *s = rdtsc().wrapping_sub(t0) / reps;
        ok &= peek(entry_va) & 3 == 1;
    }
    check(ok, "every emulated store applied");
    let per_store = median(&mut samples);
    let _ = store(pte);
    // SAFETY: as above.
    let r = unsafe {
        direct::hypercall2(VM_ASSIST, VMASST_CMD_DISABLE, VMASST_TYPE_WRITABLE_PAGETABLES)
    };
    check(r == 0, format_args!("vm_assist(disable, writable_pagetables): {r}"));
    let tenths = per_store * 10 / mmu_update_one.max(1);
    println!(
        "bench: ptwr emulated write of one PTE: {per_store} cycles (mmu_update of one entry: \
         {mmu_update_one} cycles; ratio {}.{})",
        tenths / 10,
        tenths % 10
    );
}
