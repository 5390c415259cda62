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
    if si.cmd_line_bytes().split(|&b| b == b' ').any(|w| w == b"drift") {
        pvclock_drift(si);
    }
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

/// How long the pvclock is watched, ns of system time.
const DRIFT_NS: u64 = 10_000_000_000;
/// Length of one busy or blocked slice of the watch, ns.
const SLICE_NS: u64 = 50_000_000;

/// A `vcpu_op` without an argument on vCPU 0.
fn vcpu_op0(cmd: pv_tests::guest_abi::vcpu::VcpuOp) -> i64 {
    use pv_tests::guest_abi::xen::Hypercall;
    // SAFETY: the commands used here read no memory.
    unsafe { direct::hypercall3(Hypercall::VcpuOp.raw(), u64::from(cmd.raw()), 0, 0) }
}

/// `set_timer_op(deadline)`: this vCPU's single-shot timer.
fn set_timer_op(deadline: u64) {
    use pv_tests::guest_abi::xen::Hypercall;
    // SAFETY: only arms this vCPU's timer.
    let _ = unsafe { direct::hypercall1(Hypercall::SetTimerOp.raw(), deadline) };
}

/// What a pvclock reader saw while the record was republished.
#[derive(Default)]
struct Steps {
    /// The record last seen, and the reading it gave.
    last: Option<(pv_tests::guest_abi::xen::VcpuTimeInfo, u64)>,
    /// Republications seen (version changes between two reads).
    republished: u32,
    /// Largest step forward and backward (ns) between the old and the new
    /// record at the same TSC value.
    forward: u64,
    backward: u64,
    /// Reads that gave an earlier time than the read before, and the
    /// largest such step back (ns).
    went_back: u32,
    max_back: u64,
}

impl Steps {
    /// Reads the pvclock once; returns the system time it gives.
    fn read(&mut self) -> u64 {
        use pv_tests::shinfo;
        let Some(cur) = shinfo::time_info() else { return 0 };
        // After the record: a republication in between only makes it stale.
        let tsc = rdtsc();
        let now = shinfo::pvclock_ns(&cur, tsc);
        if let Some((old, prev)) = self.last {
            if old.version != cur.version {
                self.republished += 1;
                let before = shinfo::pvclock_ns(&old, tsc);
                if now >= before {
                    self.forward = self.forward.max(now - before);
                } else {
                    self.backward = self.backward.max(before - now);
                }
            }
            if now < prev {
                self.went_back += 1;
                self.max_back = self.max_back.max(prev - now);
            }
        }
        self.last = Some((cur, now));
        now
    }
}

/// The pvclock against the hypervisor's own clock over [`DRIFT_NS`].
///
/// Takes the published record r0, then alternates [`SLICE_NS`] of busy
/// reading (events masked; the single-shot timer at the slice's end is the
/// exit that lets the hypervisor republish) with [`SLICE_NS`] blocked in
/// `SCHEDOP_block` until a single-shot timer (`set_timer_op`, the periodic
/// ticker stopped, as Linux does), reading the pvclock throughout and at
/// every wake. After the 10 s it blocks until the hypervisor publishes a
/// new record r1. Drift: r0 extrapolated to `r1.tsc_timestamp` minus
/// `r1.system_time`, the hypervisor's `NOW()` at that publication; positive
/// means the guest's extrapolation runs ahead.
fn pvclock_drift(si: &StartInfo) {
    use pv_tests::guest_abi::callback::CallbackType;
    use pv_tests::guest_abi::vcpu::VcpuOp;
    use pv_tests::guest_abi::xen::Virq;
    use pv_tests::{bounce, evtchn, shinfo};
    if !shinfo::mapped() && shinfo::map(si).is_err() {
        check(false, "shared_info mapped for the pvclock");
        return;
    }
    let ok = bounce::register_callback(CallbackType::Event, 0, bounce::event_entry()).is_ok();
    evtchn::install_recorder();
    let port = match evtchn::bind_virq(Virq::Timer.raw(), 0) {
        Ok(port) if ok => port,
        r => {
            check(false, format_args!("event callback and VIRQ_TIMER for the pvclock: {r:?}"));
            return;
        }
    };
    check(vcpu_op0(VcpuOp::StopPeriodicTimer) == 0, "VCPUOP_stop_periodic_timer");
    let Some(r0) = shinfo::time_info() else { return };
    let mut steps = Steps::default();
    let start = steps.read();
    let end = start + DRIFT_NS;
    let mut blocked = false;
    let mut now = start;
    while now < end {
        let slice_end = (now + SLICE_NS).min(end);
        set_timer_op(slice_end);
        if blocked {
            let mut blocks = 0u32;
            while now < slice_end && blocks < 1000 {
                let _ = evtchn::sched_block();
                shinfo::set_upcall_mask(1);
                blocks += 1;
                now = steps.read();
            }
        } else {
            while now < slice_end {
                now = steps.read();
            }
        }
        blocked = !blocked;
    }
    // Wait (blocked, waking every slice) for a publication after the 10 s.
    let version = steps.last.map_or(r0.version, |(t, _)| t.version);
    let mut waited = 0u32;
    while shinfo::time_info().is_some_and(|t| t.version == version) && waited < 100 {
        set_timer_op(now + SLICE_NS);
        let _ = evtchn::sched_block();
        shinfo::set_upcall_mask(1);
        waited += 1;
        now = steps.read();
    }
    let _ = evtchn::close(port);
    let Some(r1) = shinfo::time_info().filter(|t| t.version != version) else {
        check(false, "the hypervisor republished the pvclock after 10 s");
        return;
    };
    let predicted = shinfo::pvclock_ns(&r0, r1.tsc_timestamp);
    let drift = i128::from(predicted) - i128::from(r1.system_time);
    let span = r1.system_time.wrapping_sub(r0.system_time).max(1);
    // Parts per million, in millionths (the drift is often a few ns).
    let micro_ppm = drift * 1_000_000_000_000 / i128::from(span);
    let sign = if drift < 0 { "-" } else { "+" };
    println!(
        "bench: pvclock drift vs the hypervisor's clock: {drift:+} ns over {}.{:03} s \
         ({sign}{}.{:06} ppm; first record extrapolated to the first republication after \
         10 s, minus its system_time)",
        span / 1_000_000_000,
        span / 1_000_000 % 1000,
        micro_ppm.unsigned_abs() / 1_000_000,
        micro_ppm.unsigned_abs() % 1_000_000
    );
    println!(
        "bench: pvclock republications over 10 s (alternating 50 ms busy / blocked): {}, \
         largest step at a republication +{} ns / -{} ns; reads that went backwards: {} \
         (largest {} ns)",
        steps.republished, steps.forward, steps.backward, steps.went_back, steps.max_back
    );
}
