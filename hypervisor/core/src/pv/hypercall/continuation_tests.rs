// SPDX-License-Identifier: GPL-2.0-only
//! Tests of hypercall continuations: long `mmu_update`, `mmuext_op`,
//! `memory_op` and `multicall` preempted by a platform that says "preempt"
//! every few questions, re-issued as the guest would, and compared with
//! the same work done in one go; plus hostile continuation arguments.
// Tests may do plain arithmetic, indexing and unwrapping on known values.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use alloc::vec::Vec;

use guest_abi::memory::{MEMOP_EXTENT_SHIFT, MemoryOp, XenMemoryReservation};
use guest_abi::xen::{DomId, Errno, MmuUpdate, MmuextCmd, MmuextOp, MulticallEntry};

use super::continuation::MMU_UPDATE_PREEMPTED;
use super::do_hypercall;
use crate::mm::Mfn;
use crate::mm::pv::types::{PAGE_PRESENT, PAGE_RW, PAGE_USER, pte_from_mfn};
use crate::mm::pv::{MmuOwners, PhysMem, VcpuTables, audit};
use crate::pv::test_support::{Fixture, GUEST_BASE, frames};

/// Request lists.
const REQS: u64 = GUEST_BASE + 0x1000;
/// Multicall lists.
const LIST: u64 = GUEST_BASE + 0x9000;
/// `*pdone`.
const PDONE: u64 = GUEST_BASE + 0xf000;
/// Where the guest's `SYSCALL` ends (the RIP it enters the hypervisor with).
const AFTER_SYSCALL: u64 = GUEST_BASE + 0x102;
/// A pinned L1 table of dom0.
const L1: Mfn = Mfn(33);
/// Frames of dom0 the updates map.
const TARGETS: [Mfn; 6] = [Mfn(34), Mfn(35), Mfn(36), Mfn(37), Mfn(38), Mfn(39)];
const RO: u64 = PAGE_PRESENT | PAGE_USER;
const RW: u64 = RO | PAGE_RW;
const DOMID_SELF: u64 = 0x7ff0;

const MMU_UPDATE: u64 = 1;
const MULTICALL: u64 = 13;
const XEN_VERSION: u64 = 17;
const MEMORY_OP: u64 = 12;
const MMUEXT_OP: u64 = 26;

fn err(e: Errno) -> i64 {
    -i64::from(e.raw())
}

/// A fixture with [`L1`] pinned and [`TARGETS`] owned by dom0.
fn fixture() -> Fixture {
    let mut f = Fixture::new();
    f.frames.assign(L1, DomId(0)).unwrap();
    for m in TARGETS {
        f.frames.assign(m, DomId(0)).unwrap();
    }
    let op = MmuextOp::new(MmuextCmd::PinL1Table, L1.0, 0);
    let (mut t, mut e) = (VcpuTables::default(), Vec::new());
    let owners = MmuOwners::local(DomId(0));
    assert_eq!(f.ctx().mm().do_mmuext_op_as(owners, &[op], &mut t, &mut e).1, Ok(()));
    f
}

/// `n` updates of [`L1`]'s entries 0..n (every third one writable).
fn write_reqs(f: &mut Fixture, at: u64, n: u64) {
    for k in 0..n {
        let flags = if k % 3 == 0 { RW } else { RO };
        let r = MmuUpdate {
            ptr: (L1.0 << 12) | ((k % 512) * 8),
            val: pte_from_mfn(TARGETS[(k % 6) as usize], flags),
        };
        f.poke(at + 16 * k, bytemuck::bytes_of(&r));
    }
}

/// Issues hypercall `nr` as the guest would: the registers set, entered
/// with RIP just past the `SYSCALL`.
fn issue(f: &mut Fixture, nr: u64, a: [u64; 4]) -> i64 {
    f.regs.rax = nr;
    [f.regs.rdi, f.regs.rsi, f.regs.rdx, f.regs.r10] = a;
    f.regs.rip = AFTER_SYSCALL;
    do_hypercall(&mut f.ctx());
    f.regs.rax as i64
}

/// Whether the last hypercall asked to be issued again: RIP back on the
/// `SYSCALL` and RAX the hypercall number.
fn continued(f: &Fixture, nr: u64) -> bool {
    if f.regs.rip == AFTER_SYSCALL - 2 {
        assert_eq!(f.regs.rax, nr, "a continuation re-issues the same hypercall");
        assert!(f.dom.vcpus[0].hcall_preempted);
        true
    } else {
        assert_eq!(f.regs.rip, AFTER_SYSCALL, "RIP only moves for a continuation");
        false
    }
}

/// Re-executes the `SYSCALL` with the registers the continuation left;
/// returns RAX.
fn reissue(f: &mut Fixture) -> i64 {
    f.regs.rip += 2;
    do_hypercall(&mut f.ctx());
    f.regs.rax as i64
}

fn pdone(f: &Fixture) -> u32 {
    u32::from_le_bytes(f.peek(PDONE, 4).try_into().unwrap())
}

/// What the MMU work left behind: [`L1`]'s entries and the counts of the
/// frames involved.
fn mmu_state(f: &Fixture) -> (Vec<u64>, Vec<(u32, u32)>) {
    let entries = (0..512).map(|i| f.mem.read_u64(L1, i)).collect();
    let counts = core::iter::once(L1)
        .chain(TARGETS)
        .map(|m| {
            let i = f.frames.info(m).unwrap();
            (i.count, i.type_info.count)
        })
        .collect();
    (entries, counts)
}

#[test]
fn a_preempted_mmu_update_ends_as_an_unpreempted_one() {
    const N: u64 = 300;
    let mut whole = fixture();
    write_reqs(&mut whole, REQS, N);
    whole.poke(PDONE, &[0xff; 4]);
    assert_eq!(issue(&mut whole, MMU_UPDATE, [REQS, N, PDONE, DOMID_SELF]), 0);
    assert!(!continued(&whole, MMU_UPDATE));
    assert_eq!(pdone(&whole), N as u32);

    let mut f = fixture();
    write_reqs(&mut f, REQS, N);
    f.poke(PDONE, &[0xff; 4]);
    f.platform.preempt_every = 7;
    let mut rc = issue(&mut f, MMU_UPDATE, [REQS, N, PDONE, DOMID_SELF]);
    let mut runs = 1;
    while continued(&f, MMU_UPDATE) {
        // The arguments describe exactly the work left.
        let done = u64::from(pdone(&f));
        assert_eq!(rc, MMU_UPDATE as i64, "a continuation returns the hypercall number");
        assert_eq!(f.regs.rdi, REQS + 16 * done, "the request pointer is advanced");
        assert_eq!(f.regs.rsi, (N - done) | u64::from(MMU_UPDATE_PREEMPTED));
        assert_eq!((f.regs.rdx, f.regs.r10), (PDONE, DOMID_SELF));
        assert!(done > 0 && done < N);
        rc = reissue(&mut f);
        runs += 1;
    }
    assert_eq!(rc, 0);
    assert!(runs > 10, "preempted {runs} times");
    assert_eq!(pdone(&f), N as u32, "pdone counts every run");
    assert_eq!(mmu_state(&f), mmu_state(&whole));
    audit(&f.frames, &f.mem, &[]).unwrap();
}

#[test]
fn every_run_does_at_least_one_request() {
    let mut f = fixture();
    write_reqs(&mut f, REQS, 5);
    f.platform.preempt_every = 1;
    let mut rc = issue(&mut f, MMU_UPDATE, [REQS, 5, PDONE, DOMID_SELF]);
    let mut runs = 1;
    while continued(&f, MMU_UPDATE) {
        assert_eq!(pdone(&f), runs);
        rc = reissue(&mut f);
        runs += 1;
    }
    assert_eq!((rc, runs, pdone(&f)), (0, 5, 5));
    // One request: never asks.
    let checks = f.platform.preempt_checks;
    assert_eq!(issue(&mut f, MMU_UPDATE, [REQS, 1, PDONE, DOMID_SELF]), 0);
    assert_eq!(f.platform.preempt_checks, checks, "the fast path does not ask");
}

#[test]
fn pending_unmasked_events_preempt() {
    let mut f = fixture();
    write_reqs(&mut f, REQS, 4);
    // vcpu_info of vCPU 0 (the shared-info slot): upcall pending, masked.
    f.mem.write_bytes(frames::SHARED_INFO, 0, &[1, 1]);
    assert_eq!(issue(&mut f, MMU_UPDATE, [REQS, 4, PDONE, DOMID_SELF]), 0);
    assert!(!continued(&f, MMU_UPDATE), "masked events wait");
    f.mem.write_bytes(frames::SHARED_INFO, 0, &[1, 0]);
    assert_eq!(issue(&mut f, MMU_UPDATE, [REQS, 4, PDONE, DOMID_SELF]), MMU_UPDATE as i64);
    assert!(continued(&f, MMU_UPDATE));
    assert_eq!(pdone(&f), 1);
}

#[test]
fn hostile_continuation_arguments_are_checked_again() {
    let mut f = fixture();
    write_reqs(&mut f, REQS, 8);
    let flag = u64::from(MMU_UPDATE_PREEMPTED);
    // The flag with an unreadable pdone: counted from 0; the final write is
    // ignored, as in Xen.
    assert_eq!(issue(&mut f, MMU_UPDATE, [REQS, 2 | flag, 0x10, DOMID_SELF]), 0);
    assert_eq!(crate::mm::pv::types::pte_mfn(f.mem.read_u64(L1, 1)), TARGETS[1]);
    // A pdone the guest set to anything: it is only the guest's report.
    f.poke(PDONE, &u32::MAX.to_le_bytes());
    assert_eq!(issue(&mut f, MMU_UPDATE, [REQS, 2 | flag, PDONE, DOMID_SELF]), 0);
    assert_eq!(pdone(&f), 1, "wraps as Xen's unsigned int");
    // A request pointer in the hypervisor's area or non-canonical.
    for bad in [0xffff_8000_0000_0000u64, 0x8000_0000_0000, 0xffff_8700_0000_0000] {
        assert_eq!(
            issue(&mut f, MMU_UPDATE, [bad, 1 | flag, PDONE, DOMID_SELF]),
            err(Errno::EFAULT)
        );
        assert_eq!(
            issue(&mut f, MMUEXT_OP, [bad, 1 | flag, PDONE, DOMID_SELF]),
            err(Errno::EFAULT)
        );
        assert_eq!(issue(&mut f, MULTICALL, [bad, 1, 0, 0]), err(Errno::EFAULT));
    }
    // A count the guest inflated: the requests past the list fault.
    f.poke(PDONE, &0u32.to_le_bytes());
    let end = GUEST_BASE + 16 * 4096 - 32;
    write_reqs(&mut f, end, 2);
    assert_eq!(
        issue(&mut f, MMU_UPDATE, [end, 0x7fff_ffff | flag, PDONE, DOMID_SELF]),
        err(Errno::EFAULT)
    );
    assert_eq!(pdone(&f), 2, "the readable requests were done");
    // Xen's final-result form (no requests, count exactly the flag).
    assert_eq!(issue(&mut f, MMU_UPDATE, [0, flag, 0, 0xffff_ffea]), -22);
    assert_eq!(issue(&mut f, MMUEXT_OP, [0, flag, 0, 5]), 5);
    // The guest rewrites its list between runs: the new requests are
    // validated like any other.
    f.platform.preempt_every = 2;
    write_reqs(&mut f, REQS, 8);
    f.poke(PDONE, &0u32.to_le_bytes());
    assert_eq!(issue(&mut f, MMU_UPDATE, [REQS, 8, PDONE, DOMID_SELF]), MMU_UPDATE as i64);
    assert!(continued(&f, MMU_UPDATE));
    let next = f.regs.rdi;
    let bad = MmuUpdate { ptr: (L1.0 << 12) | (8 * 7), val: pte_from_mfn(L1, RW) };
    f.poke(next, bytemuck::bytes_of(&bad));
    assert_eq!(reissue(&mut f), err(Errno::EBUSY), "a writable mapping of a page table");
    assert!(!continued(&f, MMU_UPDATE));
    assert_eq!(pdone(&f), 2);
    // ...or names another domain: looked up again.
    f.platform.preempt_every = 0;
    write_reqs(&mut f, REQS, 8);
    assert_eq!(issue(&mut f, MMU_UPDATE, [REQS, 8 | flag, PDONE, 9]), err(Errno::ESRCH));
    audit(&f.frames, &f.mem, &[]).unwrap();
}

#[test]
fn a_preempted_mmuext_op_continues_with_the_rest() {
    const N: u64 = 40;
    let mut f = fixture();
    let op = MmuextOp::new(MmuextCmd::TlbFlushLocal, 0, 0);
    for k in 0..N {
        f.poke(REQS + 24 * k, bytemuck::bytes_of(&op));
    }
    f.platform.preempt_every = 9;
    f.poke(PDONE, &0u32.to_le_bytes());
    let mut rc = issue(&mut f, MMUEXT_OP, [REQS, N, PDONE, DOMID_SELF]);
    let mut runs = 1;
    while continued(&f, MMUEXT_OP) {
        let done = u64::from(pdone(&f));
        assert_eq!(f.regs.rdi, REQS + 24 * done);
        assert_eq!(f.regs.rsi, (N - done) | u64::from(MMU_UPDATE_PREEMPTED));
        rc = reissue(&mut f);
        runs += 1;
    }
    assert_eq!((rc, pdone(&f)), (0, N as u32));
    assert!(runs >= 4);
    assert_eq!(f.platform.flushes, N as u32);
}

fn entry(op: u64, args: [u64; 6]) -> MulticallEntry {
    MulticallEntry { op, result: 0xdead, args }
}

fn mc_entry(f: &Fixture, i: u64) -> MulticallEntry {
    bytemuck::pod_read_unaligned(&f.peek(LIST + 64 * i, 64))
}

#[test]
fn a_preempted_multicall_resumes_with_the_rest_of_the_list() {
    const N: u64 = 150;
    let mut f = fixture();
    for i in 0..N {
        f.poke(LIST + 64 * i, bytemuck::bytes_of(&entry(XEN_VERSION, [0; 6])));
    }
    f.platform.preempt_every = 16;
    let mut rc = issue(&mut f, MULTICALL, [LIST, N, 0, 0]);
    let mut runs = 1;
    while continued(&f, MULTICALL) {
        let at = (f.regs.rdi - LIST) / 64;
        assert!(at > 0 && at < N);
        assert_eq!(f.regs.rsi, N - at, "the rest of the list");
        assert_ne!(mc_entry(&f, at - 1).result, 0xdead, "entries before it ran");
        assert_eq!(mc_entry(&f, at).result, 0xdead, "the entry it continues at did not");
        rc = reissue(&mut f);
        runs += 1;
    }
    assert_eq!(rc, 0);
    assert!(runs >= 9, "{runs} runs");
    let version = mc_entry(&f, 0).result;
    assert!((0..N).all(|i| mc_entry(&f, i).result == version));
    assert!(!f.dom.vcpus[0].mc_state.in_multicall);
}

#[test]
fn a_preempted_entry_makes_the_multicall_continue_from_it() {
    let mut f = fixture();
    let mut whole = fixture();
    let reqs2 = REQS + 16 * 100;
    let pdone2 = PDONE + 8;
    for g in [&mut f, &mut whole] {
        write_reqs(g, REQS, 100);
        // A second list re-mapping entries 0..20 read-only.
        for k in 0..20 {
            let r = MmuUpdate { ptr: (L1.0 << 12) | (k * 8), val: pte_from_mfn(TARGETS[5], RO) };
            g.poke(reqs2 + 16 * k, bytemuck::bytes_of(&r));
        }
        let list = [
            entry(XEN_VERSION, [0; 6]),
            entry(MMU_UPDATE, [REQS, 100, PDONE, DOMID_SELF, 0, 0]),
            entry(XEN_VERSION, [0; 6]),
            entry(MMU_UPDATE, [reqs2, 20, pdone2, DOMID_SELF, 0, 0]),
            entry(XEN_VERSION, [0; 6]),
        ];
        for (i, e) in list.iter().enumerate() {
            g.poke(LIST + 64 * i as u64, bytemuck::bytes_of(e));
        }
        g.poke(PDONE, &[0; 16]);
    }
    assert_eq!(issue(&mut whole, MULTICALL, [LIST, 5, 0, 0]), 0);

    f.platform.preempt_every = 11;
    let mut rc = issue(&mut f, MULTICALL, [LIST, 5, 0, 0]);
    let mut saw_entry_continuation = false;
    while continued(&f, MULTICALL) {
        let at = (f.regs.rdi - LIST) / 64;
        assert_eq!(f.regs.rsi, 5 - at);
        let e = mc_entry(&f, at);
        if e.op == MMU_UPDATE && e.args[1] & u64::from(MMU_UPDATE_PREEMPTED) != 0 {
            // The entry was rewritten in place as its own continuation.
            saw_entry_continuation = true;
            let (list, total, pd) = if at == 1 { (REQS, 100, PDONE) } else { (reqs2, 20, pdone2) };
            let done = u64::from(u32::from_le_bytes(f.peek(pd, 4).try_into().unwrap()));
            assert_eq!(e.args[0], list + 16 * done);
            assert_eq!(e.args[1], (total - done) | u64::from(MMU_UPDATE_PREEMPTED));
            assert_eq!(e.result, MMU_UPDATE, "its result is the continuation's");
        }
        rc = reissue(&mut f);
    }
    assert_eq!(rc, 0);
    assert!(saw_entry_continuation);
    for i in 0..5 {
        let (a, b) = (mc_entry(&f, i), mc_entry(&whole, i));
        assert_eq!(a.result, b.result, "entry {i}");
    }
    assert_eq!(f.peek(PDONE, 12), whole.peek(PDONE, 12), "both pdone counters");
    assert_eq!(mmu_state(&f), mmu_state(&whole));
    audit(&f.frames, &f.mem, &[]).unwrap();
}

#[test]
fn a_multicall_continuation_that_cannot_be_written_back_fails() {
    let mut f = fixture();
    write_reqs(&mut f, REQS, 10);
    // The entry sits in the last 64 bytes of the guest area, read-only
    // from here on: the fixture's L1 maps it, clear RW.
    let last = GUEST_BASE + 15 * 4096;
    let e = entry(MMU_UPDATE, [REQS, 10, PDONE, DOMID_SELF, 0, 0]);
    f.poke(last, bytemuck::bytes_of(&e));
    let pte = f.mem.read_u64(frames::L1, 15);
    f.mem.write_u64(frames::L1, 15, pte & !PAGE_RW);
    f.platform.preempt_every = 3;
    assert_eq!(issue(&mut f, MULTICALL, [last, 1, 0, 0]), err(Errno::EFAULT));
    assert!(!continued(&f, MULTICALL), "the continuation was cancelled");
}

#[test]
fn multicall_counts_are_32_bit_and_unlimited() {
    let mut f = fixture();
    for i in 0..3 {
        f.poke(LIST + 64 * i, bytemuck::bytes_of(&entry(XEN_VERSION, [0; 6])));
    }
    // The upper half of nr_calls is not Xen's (uint32_t).
    assert_eq!(issue(&mut f, MULTICALL, [LIST, (7 << 32) | 3, 0, 0]), 0);
    assert_ne!(mc_entry(&f, 2).result, 0xdead);
    // More than 4096 entries are fine (preemption bounds each run): the
    // list runs off the guest's mapping here, after the 150 entries there.
    f.platform.preempt_every = 50;
    let mut rc = issue(&mut f, MULTICALL, [LIST, 5000, 0, 0]);
    while continued(&f, MULTICALL) {
        rc = reissue(&mut f);
    }
    assert_eq!(rc, err(Errno::EFAULT));
}

/// A populate_physmap of `n` single frames from the fixture's free frames
/// (40 on), the extent list at [`REQS`].
fn populate_setup(f: &mut Fixture, n: u64) -> u64 {
    f.platform.next_frame = Some(Mfn(40));
    f.dom.max_pages = f.dom.tot_pages + 64;
    for k in 0..n {
        f.poke(REQS + 8 * k, &(0x1000 + k).to_le_bytes());
    }
    let arg = PDONE;
    let r = XenMemoryReservation::new(REQS, n, 0, 0, DomId::SELF);
    f.poke(arg, bytemuck::bytes_of(&r));
    arg
}

#[test]
fn memory_op_reservations_continue_with_the_extent_in_cmd() {
    let populate = u64::from(MemoryOp::PopulatePhysmap.raw());
    let mut f = fixture();
    let arg = populate_setup(&mut f, 8);
    f.platform.preempt_every = 3;
    let mut rc = issue(&mut f, MEMORY_OP, [populate, arg, 0, 0]);
    let mut starts = Vec::new();
    while continued(&f, MEMORY_OP) {
        assert_eq!(rc, MEMORY_OP as i64);
        assert_eq!(f.regs.rdi & 0x3f, populate, "same command");
        assert_eq!(f.regs.rsi, arg, "same argument");
        starts.push(f.regs.rdi >> MEMOP_EXTENT_SHIFT);
        rc = reissue(&mut f);
    }
    assert_eq!(rc, 8, "the extents done in all");
    assert!(starts.len() >= 2 && starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    let mfns: Vec<u64> =
        (0..8).map(|k| u64::from_le_bytes(f.peek(REQS + 8 * k, 8).try_into().unwrap())).collect();
    assert_eq!(mfns, (40..48).collect::<Vec<_>>());
    // decrease_reservation of them, preempted too.
    let decrease = u64::from(MemoryOp::DecreaseReservation.raw());
    let r = XenMemoryReservation::new(REQS, 8, 0, 0, DomId::SELF);
    f.poke(arg, bytemuck::bytes_of(&r));
    let mut rc = issue(&mut f, MEMORY_OP, [decrease, arg, 0, 0]);
    while continued(&f, MEMORY_OP) {
        rc = reissue(&mut f);
    }
    assert_eq!(rc, 8);
    assert_eq!(f.platform.freed.len(), 8);
}

#[test]
fn hostile_memory_op_start_extents() {
    let populate = u64::from(MemoryOp::PopulatePhysmap.raw());
    let mut f = fixture();
    let arg = populate_setup(&mut f, 4);
    // A start at or past the end does nothing and says so.
    for start in [4u64, 5, 1 << 40] {
        let cmd = populate | (start << MEMOP_EXTENT_SHIFT);
        assert_eq!(issue(&mut f, MEMORY_OP, [cmd, arg, 0, 0]), start as i64);
    }
    assert!(f.platform.next_frame == Some(Mfn(40)), "nothing allocated");
    // A start inside the list: only the rest is done.
    let cmd = populate | (3 << MEMOP_EXTENT_SHIFT);
    assert_eq!(issue(&mut f, MEMORY_OP, [cmd, arg, 0, 0]), 4);
    assert_eq!(f.peek(REQS + 24, 8), 40u64.to_le_bytes());
    assert_eq!(f.peek(REQS, 8), 0x1000u64.to_le_bytes());
    // Lists longer than Xen can encode in a continuation: nothing.
    let r = XenMemoryReservation::new(REQS, u64::from(u32::MAX >> 6) + 1, 0, 0, DomId::SELF);
    f.poke(arg, bytemuck::bytes_of(&r));
    assert_eq!(issue(&mut f, MEMORY_OP, [populate, arg, 0, 0]), 0);
    // Commands that take no start extent refuse one.
    for op in [MemoryOp::Exchange, MemoryOp::MaximumRamPage, MemoryOp::CurrentReservation] {
        let cmd = u64::from(op.raw()) | (1 << MEMOP_EXTENT_SHIFT);
        assert_eq!(issue(&mut f, MEMORY_OP, [cmd, arg, 0, 0]), err(Errno::EINVAL), "{op:?}");
    }
}
