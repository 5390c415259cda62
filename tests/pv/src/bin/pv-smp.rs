// SPDX-License-Identifier: GPL-2.0-only
//! `pv-smp`: a second vCPU, brought up and driven from vCPU 0 (boot it with
//! two CPUs; with one, `VCPUOP_is_up(1)` is `-ENOENT` and the kernel
//! reports SKIP).
//!
//! * Bring-up: before `VCPUOP_initialise`, vCPU 1 is down
//!   (`VCPUOP_is_up` 0, runstate offline) and `VCPUOP_up` is `-EINVAL`;
//!   the vCPU past the last is `-ENOENT`. Contexts with a non-canonical
//!   `RIP`, an unaligned LDT base, a CR3 that cannot be an L4 of the
//!   domain (a writable data frame, a frame beyond memory), or guest-user
//!   mode without a user page table are `-EINVAL`, an unmapped context
//!   pointer `-EFAULT`, and none of them initialises the vCPU. A good
//!   context starts vCPU 1 in [`secondary_entry`] on its own `.bss` stack,
//!   in kernel mode (`VGCF_in_kernel`) on the current page table
//!   (`ctrlreg[3]` from `start_info.pt_base` through the P2M), with the
//!   event callback, the fault handlers of [`pv_tests::fault`] and its
//!   [`percpu`] block as kernel GS base. A second `VCPUOP_initialise` is
//!   `-EEXIST`; after `VCPUOP_up` vCPU 1 announces itself (once, with
//!   `%gs:0` = 1 and upcalls masked) and `VCPUOP_is_up(1)` is 1.
//!   The context Xen accepts but cannot start as given: null `CS` and `SS`
//!   and `RFLAGS.IF` clear. Xen only forces RPL 3 on the selectors (they
//!   stay null) and IF on; its first `iretq` faults and the fault reaches
//!   the guest as `#GP(0)`. vCPU 1's `#GP` handler ([`pv_smp_start_gp`])
//!   must see exactly two, at the entry `RIP`: the first with the null `CS`
//!   in its frame (it puts the kernel `CS` there), the second with the
//!   null `SS` (`FLAT_KERNEL_SS`), and run with the real `RFLAGS.IF` set.
//! * IPIs: a port bound with `EVTCHNOP_bind_ipi` to each vCPU; 1000 ping-
//!   pong round trips in which both vCPUs wait in `SCHEDOP_block` (masked
//!   check, then block) arrive one for one, none lost or doubled; the mean
//!   round trip is printed as a `bench:` line (pvclock ns).
//! * `SCHEDOP_poll` on vCPU 1 (a masked port) wakes when vCPU 0 sends on the
//!   port, and returns at its timeout when nobody does.
//! * TLB shootdown: vCPU 1 keeps reading a window page; vCPU 0 switches the
//!   window between two frames with `update_va_mapping` (`UVMF_INVLPG` and
//!   `UVMF_TLB_FLUSH` to all vCPUs, `UVMF_INVLPG` to a vCPU bitmap) and with
//!   `mmu_update` followed by `MMUEXT_TLB_FLUSH_MULTI`, `INVLPG_MULTI`
//!   (bitmap naming vCPU 1), `TLB_FLUSH_ALL` and `INVLPG_ALL`; each time
//!   vCPU 1's next reads see the new frame. A local-only flush is run as an
//!   unchecked control (`note:` line).
//! * `VCPUOP_down(1)` while vCPU 1 counts in a loop: `VCPUOP_is_up(1)` 0,
//!   runstate offline with offline time accumulating, the counter stops;
//!   `VCPUOP_up(1)` resumes it where it stopped (the counter moves on, the
//!   entry is not run again), and the runstate shows running, blocked and
//!   offline time.
#![no_std]
#![no_main]

use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use pv_tests::bounce;
use pv_tests::evtchn as ev;
use pv_tests::fault;
use pv_tests::guest_abi::callback::CallbackType;
use pv_tests::guest_abi::event_channel::EvtchnBinding;
use pv_tests::guest_abi::vcpu::{RunState, VcpuOp, VcpuRunstateInfo, VcpuSetPeriodicTimer};
use pv_tests::guest_abi::xen::{
    DOMID_SELF, Errno, EvtchnPort, FLAT_KERNEL_CS, FLAT_KERNEL_DS, FLAT_KERNEL_SS, Hypercall,
    MmuUpdate, MmuextCmd, MmuextOp, TrapInfo, UVMF_ALL, UVMF_INVLPG, UVMF_TLB_FLUSH,
    VGCF_in_kernel, VcpuGuestContext, VcpuId, Virq, xen_pfn_to_cr3,
};
use pv_tests::hypercall::{hypercall3, hypercall4};
use pv_tests::ops::{Ret, XenError, result};
use pv_tests::percpu;
use pv_tests::pt::{
    BOGUS_MFN, InitialMapping, PAGE_SIZE, PTE_ACCESSED, PTE_P, PTE_RW, maddr, poke, slot,
};
use pv_tests::{StartInfo, check, check_eq, println, shinfo};

pv_tests::test_kernel!(name: "smp", main: test_main);

const MS: u64 = 1_000_000;
/// How long vCPU 0 waits for anything vCPU 1 should do.
const TIMEOUT: u64 = 3_000 * MS;
/// Ping-pong round trips.
const ROUNDS: u32 = 1000;
/// `SCHEDOP_poll` timeout of the quiet-port case.
const POLL_TIMEOUT: u64 = 20 * MS;
/// vCPU 1's stack.
const STACK_SIZE: usize = 16 * 1024;
/// An address no page maps.
const UNMAPPED: u64 = 0x1000;
/// A non-canonical address.
const NON_CANONICAL: u64 = 0x8000_0000_0000_0000;

/// What the TLB check's two frames hold.
const PATTERN_A: u64 = 0xa11c_e000_0000_000a;
const PATTERN_B: u64 = 0xb0b0_0000_0000_000b;

/// Commands for vCPU 1 (low byte of [`CMD`]).
const OP_PINGPONG: u64 = 1;
const OP_POLL_WAKE: u64 = 2;
const OP_POLL_TIMEOUT: u64 = 3;
const OP_TLB_READ: u64 = 4;
const OP_COUNT: u64 = 5;

// ---------------------------------------------------------------------------
// State shared by the two vCPUs
// ---------------------------------------------------------------------------

/// Times [`secondary_entry`] ran.
static ENTRIES: AtomicU32 = AtomicU32::new(0);
/// Set by vCPU 1 once it has recorded its arrival.
static ALIVE: AtomicBool = AtomicBool::new(false);
/// [`percpu::current`], `evtchn_upcall_mask` and `RSP` at vCPU 1's entry,
/// and its pvclock then.
static ARRIVAL_ID: AtomicU64 = AtomicU64::new(u64::MAX);
static ARRIVAL_MASK: AtomicU32 = AtomicU32::new(u32::MAX);
static ARRIVAL_RSP: AtomicU64 = AtomicU64::new(0);
static ARRIVAL_TIME: AtomicU64 = AtomicU64::new(0);
/// `#GP`s vCPU 1's start handler saw, the first two error codes and the
/// frame's `CS` and `SS` each time, the real `RFLAGS` at the first one, and
/// frames it could not repair.
static START_GPS: AtomicU32 = AtomicU32::new(0);
static START_GP_RECORD: [AtomicU64; 6] = [const { AtomicU64::new(u64::MAX) }; 6];
static START_GP_RFLAGS: AtomicU64 = AtomicU64::new(0);
static START_GP_BAD: AtomicU32 = AtomicU32::new(0);
/// `(sequence << 8) | op`, written by vCPU 0.
static CMD: AtomicU64 = AtomicU64::new(0);
/// The last sequence number vCPU 1 finished.
static DONE: AtomicU64 = AtomicU64::new(0);
/// Ends the looping commands.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by vCPU 1 right before it polls.
static READY: AtomicBool = AtomicBool::new(false);
/// A command's result (a hypercall's return value), and a second figure.
static RESULT: AtomicI64 = AtomicI64::new(0);
static FIGURE: AtomicU64 = AtomicU64::new(0);
/// The ports: ping (notifies vCPU 1), pong (vCPU 0), poll (vCPU 1, masked).
static PING: AtomicU32 = AtomicU32::new(0);
static PONG: AtomicU32 = AtomicU32::new(0);
static POLL: AtomicU32 = AtomicU32::new(0);
/// The window vCPU 1 reads, what it read last, and how many reads it did.
static TLB_VA: AtomicU64 = AtomicU64::new(0);
static SEEN: AtomicU64 = AtomicU64::new(0);
static READS: AtomicU64 = AtomicU64::new(0);
/// Incremented by vCPU 1 in [`OP_COUNT`].
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// vCPU 1's stack.
#[repr(C, align(4096))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);

// SAFETY: only vCPU 1 uses the stack (vCPU 0 takes its address).
unsafe impl Sync for Stack {}

static STACK: Stack = Stack(UnsafeCell::new([0; STACK_SIZE]));

fn stack_bottom() -> u64 {
    STACK.0.get().addr() as u64
}

fn stack_top() -> u64 {
    stack_bottom().wrapping_add(STACK_SIZE as u64)
}

/// Three page-aligned windows: the one vCPU 1 reads, and one each to write
/// the two frames through.
#[repr(C, align(4096))]
struct Windows(UnsafeCell<[u8; 3 * 4096]>);

// SAFETY: the windows are only accessed through `poke` and volatile reads.
unsafe impl Sync for Windows {}

static WINDOWS: Windows = Windows(UnsafeCell::new([0; 3 * 4096]));

const W_TEST: u64 = 0;
const W_A: u64 = 1;
const W_B: u64 = 2;

fn window(index: u64) -> u64 {
    (WINDOWS.0.get().addr() as u64).wrapping_add(index.wrapping_mul(PAGE_SIZE))
}

/// The `vcpu_guest_context` handed to `VCPUOP_initialise` (5 KiB: kept out
/// of vCPU 0's stack).
struct Context(UnsafeCell<VcpuGuestContext>);

// SAFETY: only vCPU 0's main flow uses it, through `with_context`.
unsafe impl Sync for Context {}

// SAFETY: `VcpuGuestContext` is plain data (`Pod`): all zeroes is valid.
static CONTEXT: Context = Context(UnsafeCell::new(unsafe { core::mem::zeroed() }));

/// Runs `f` on [`CONTEXT`].
fn with_context<R>(f: impl FnOnce(&mut VcpuGuestContext) -> R) -> R {
    // SAFETY: called from vCPU 0's main flow only and never re-entered
    // (`f` does not call it), so this is the only reference.
    f(unsafe { &mut *CONTEXT.0.get() })
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects (CR4.TSD is clear for PV guests).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// System time (ns) through the running vCPU's pvclock.
fn now() -> u64 {
    shinfo::time_info().map_or(0, |t| shinfo::pvclock_ns(&t, rdtsc()))
}

/// Spins until `cond` holds or `timeout` ns have passed; whether it held.
fn wait_until(timeout: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = now().wrapping_add(timeout);
    loop {
        if cond() {
            return true;
        }
        if now() > deadline {
            return cond();
        }
        core::hint::spin_loop();
    }
}

/// Spins for `ns` nanoseconds.
fn delay(ns: u64) {
    let end = now().wrapping_add(ns);
    while now() < end {
        core::hint::spin_loop();
    }
}

/// `vcpu_op(cmd, vcpu, arg)`.
fn vcpu_op_raw(cmd: VcpuOp, vcpu: u32, arg: u64) -> Result<u64, XenError> {
    // SAFETY: the commands used read or write at most one structure at
    // `arg` (a context, a runstate, a timer period), or none.
    result(unsafe {
        hypercall3(Hypercall::VcpuOp.raw(), u64::from(cmd.raw()), u64::from(vcpu), arg)
    })
}

fn vcpu_op(cmd: VcpuOp, vcpu: u32) -> Result<u64, XenError> {
    vcpu_op_raw(cmd, vcpu, 0)
}

fn initialise(c: &VcpuGuestContext) -> Result<u64, XenError> {
    vcpu_op_raw(VcpuOp::Initialise, 1, core::ptr::from_ref(c).addr() as u64)
}

fn runstate(vcpu: u32) -> Option<VcpuRunstateInfo> {
    let mut info = VcpuRunstateInfo { state: -1, pad0: 0, state_entry_time: 0, time: [0; 4] };
    vcpu_op_raw(VcpuOp::GetRunstateInfo, vcpu, core::ptr::from_mut(&mut info).addr() as u64)
        .ok()
        .map(|_| info)
}

fn state_of(info: Option<VcpuRunstateInfo>) -> Option<RunState> {
    info.and_then(|i| RunState::try_from(i.state).ok())
}

/// Time in runstate `s` of `info` (0 if unknown).
fn time_in(info: Option<VcpuRunstateInfo>, s: RunState) -> u64 {
    let index = usize::try_from(s.raw()).unwrap_or(usize::MAX);
    info.and_then(|i| i.time.get(index).copied()).unwrap_or(0)
}

fn err(e: Errno) -> Result<u64, XenError> {
    Err(XenError::from(e))
}

/// `mmu_update` of one PTE (machine address `ptr`).
fn pt_update(ptr: u64, val: u64) -> i64 {
    let req = MmuUpdate { ptr, val };
    let mut done: u32 = 0;
    // SAFETY: one normal PT update of the test window's L1 entry, to a
    // frame of the domain's; `done` receives the count.
    unsafe {
        hypercall4(
            Hypercall::MmuUpdate.raw(),
            core::ptr::from_ref(&req).addr() as u64,
            1,
            core::ptr::from_mut(&mut done).addr() as u64,
            u64::from(DOMID_SELF.0),
        )
    }
}

/// One `mmuext_op`.
fn mmuext(cmd: MmuextCmd, arg1: u64, arg2: u64) -> i64 {
    let op = MmuextOp::new(cmd, arg1, arg2);
    let mut done: u32 = 0;
    // SAFETY: TLB flushes only (the vCPU bitmap, if any, is `arg2`).
    unsafe {
        hypercall4(
            Hypercall::MmuextOp.raw(),
            core::ptr::from_ref(&op).addr() as u64,
            1,
            core::ptr::from_mut(&mut done).addr() as u64,
            u64::from(DOMID_SELF.0),
        )
    }
}

/// `update_va_mapping(va, val, flags)`.
fn update_va_mapping(va: u64, val: u64, flags: u64) -> i64 {
    // SAFETY: remaps only the kernel's own window pages to its spare frames;
    // nothing else lives there.
    unsafe { hypercall3(Hypercall::UpdateVaMapping.raw(), va, val, flags) }
}

/// Waits (events masked, then `SCHEDOP_block`, which unmasks them and
/// returns once an upcall ran) until the upcall recorder has handled `port`
/// `target` times, or `deadline` (pvclock ns) has passed; leaves events
/// masked. Whether the count was reached.
fn wait_port(port: EvtchnPort, target: u32, deadline: Option<u64>) -> bool {
    loop {
        shinfo::set_upcall_mask(1);
        if ev::handled(port) >= target {
            return true;
        }
        if deadline.is_some_and(|d| now() > d) {
            return false;
        }
        let _ = ev::sched_block();
    }
}

// ---------------------------------------------------------------------------
// vCPU 1
// ---------------------------------------------------------------------------

/// Where vCPU 1 starts (its context's `RIP`, `RSP` at the top of [`STACK`]
/// as after a call): records its arrival, then runs the commands vCPU 0
/// posts in [`CMD`].
extern "C" fn secondary_entry() -> ! {
    let rsp: u64;
    // SAFETY: reads the stack pointer.
    unsafe { core::arch::asm!("mov %rsp, {}", out(reg) rsp, options(att_syntax, nomem, nostack)) };
    ENTRIES.fetch_add(1, Ordering::SeqCst);
    // From now on the common fault handlers (not the start `#GP` one).
    if let Err(e) = fault::install() {
        pv_tests::fail(format_args!("vCPU 1: set_trap_table: {e}"));
    }
    ARRIVAL_ID.store(percpu::current() as u64, Ordering::Relaxed);
    ARRIVAL_MASK.store(u32::from(shinfo::upcall_mask()), Ordering::Relaxed);
    ARRIVAL_RSP.store(rsp, Ordering::Relaxed);
    ARRIVAL_TIME.store(now(), Ordering::Relaxed);
    ALIVE.store(true, Ordering::Release);
    println!("vCPU 1: up, %gs:0 = {}", percpu::current());
    let mut last = 0u64;
    loop {
        let cmd = CMD.load(Ordering::Acquire);
        let seq = cmd.wrapping_shr(8);
        if seq == last {
            core::hint::spin_loop();
            continue;
        }
        last = seq;
        match cmd & 0xff {
            OP_PINGPONG => pingpong_secondary(),
            OP_POLL_WAKE => {
                let port = EvtchnPort(POLL.load(Ordering::Relaxed));
                READY.store(true, Ordering::Release);
                let r = ev::sched_poll(&[port], 0);
                RESULT.store(r.map_or_else(|e| e.0, |()| 0), Ordering::Relaxed);
                FIGURE.store(u64::from(ev::is_pending(port)), Ordering::Relaxed);
                ev::clear_pending(port);
            }
            OP_POLL_TIMEOUT => {
                let port = EvtchnPort(POLL.load(Ordering::Relaxed));
                let start = now();
                let r = ev::sched_poll(&[port], start.wrapping_add(POLL_TIMEOUT));
                FIGURE.store(now().wrapping_sub(start), Ordering::Relaxed);
                RESULT.store(r.map_or_else(|e| e.0, |()| 0), Ordering::Relaxed);
            }
            OP_TLB_READ => {
                let ptr = core::ptr::with_exposed_provenance::<u64>(
                    usize::try_from(TLB_VA.load(Ordering::Relaxed)).unwrap_or(0),
                );
                while !STOP.load(Ordering::Acquire) {
                    // SAFETY: the window is mapped (read-only) to one of the
                    // two spare frames throughout; vCPU 0 only switches
                    // which one.
                    let v = unsafe { ptr.read_volatile() };
                    SEEN.store(v, Ordering::SeqCst);
                    READS.fetch_add(1, Ordering::SeqCst);
                }
            }
            OP_COUNT => {
                while !STOP.load(Ordering::Acquire) {
                    COUNTER.fetch_add(1, Ordering::SeqCst);
                }
            }
            _ => {}
        }
        DONE.store(seq, Ordering::Release);
    }
}

global_asm!(
    // vCPU 1's #GP handler until it runs `secondary_entry`. Xen's frame:
    // RCX, R11, error code, RIP, CS, RFLAGS, RSP, SS (16-byte aligned).
    ".pushsection .text.pv_smp_start_gp, \"ax\", @progbits",
    ".globl pv_smp_start_gp",
    "pv_smp_start_gp:",
    "    push %rax",
    "    push %rdx",
    "    push %rsi",
    "    push %rdi",
    "    push %r8",
    "    push %r9",
    "    push %r10",
    "    pushfq",
    "    pop %rsi",
    "    lea 56(%rsp), %rdi",
    "    sub $8, %rsp",
    "    call pv_smp_start_gp_fix",
    "    add $8, %rsp",
    "    pop %r10",
    "    pop %r9",
    "    pop %r8",
    "    pop %rdi",
    "    pop %rsi",
    "    pop %rdx",
    "    pop %rax",
    "    pop %rcx",
    "    pop %r11",
    "    add $8, %rsp",
    // HYPERVISOR_iret: iret_context { rax, r11, rcx, flags = 0, rip, ... }.
    "    pushq $0",
    "    push %rcx",
    "    push %r11",
    "    push %rax",
    "    mov ${iret}, %eax",
    "    syscall",
    "    ud2",
    ".popsection",
    iret = const Hypercall::Iret.raw(),
    options(att_syntax),
);

unsafe extern "C" {
    /// The `#GP` handler of vCPU 1's start context.
    static pv_smp_start_gp: u8;
}

/// Called by [`pv_smp_start_gp`] with Xen's frame (`RCX, R11, error code,
/// RIP, CS, RFLAGS, RSP, SS`) and the real `RFLAGS` at the handler's entry:
/// records the fault and replaces the first null selector (`CS`, then
/// `SS`) with the flat kernel one.
#[unsafe(no_mangle)]
extern "C" fn pv_smp_start_gp_fix(frame: *mut [u64; 8], rflags: u64) {
    // SAFETY: the handler passes the frame Xen built on this stack.
    let Some(frame) = (unsafe { frame.as_mut() }) else { return };
    let n = START_GPS.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        START_GP_RFLAGS.store(rflags, Ordering::SeqCst);
    }
    let [_, _, error, _, cs, _, _, ss] = *frame;
    let base = usize::try_from(n).unwrap_or(usize::MAX).saturating_mul(3);
    for (i, v) in [error, cs & 0xffff, ss & 0xffff].into_iter().enumerate() {
        if let Some(slot) = START_GP_RECORD.get(base.saturating_add(i)) {
            slot.store(v, Ordering::SeqCst);
        }
    }
    if cs & 0xfffc == 0 {
        // RPL 0: the iret stays in guest-kernel mode.
        frame[4] = u64::from(FLAT_KERNEL_CS & !3);
    } else if ss & 0xfffc == 0 {
        frame[7] = u64::from(FLAT_KERNEL_SS);
    } else {
        // Not what the test provoked: stop vCPU 1 here.
        START_GP_BAD.fetch_add(1, Ordering::SeqCst);
        let _ = vcpu_op(VcpuOp::Down, 1);
    }
}

/// vCPU 1's half of the ping-pong: wait for each ping, answer with a pong.
fn pingpong_secondary() {
    let ping = EvtchnPort(PING.load(Ordering::Relaxed));
    let pong = EvtchnPort(PONG.load(Ordering::Relaxed));
    let base = ev::handled(ping);
    let mut answered = 0u32;
    for i in 1..=ROUNDS {
        if !wait_port(ping, base.wrapping_add(i), None) {
            break;
        }
        if ev::send(pong).is_err() {
            break;
        }
        answered = i;
    }
    FIGURE.store(u64::from(answered), Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// vCPU 0: commands
// ---------------------------------------------------------------------------

/// Posts command `op` for vCPU 1; returns its sequence number.
fn post(seq: &mut u64, op: u64) -> u64 {
    *seq = seq.wrapping_add(1);
    STOP.store(false, Ordering::SeqCst);
    CMD.store(seq.wrapping_shl(8) | op, Ordering::Release);
    *seq
}

/// Waits for vCPU 1 to finish command `seq`.
fn finished(seq: u64, what: impl fmt::Display) -> bool {
    let ok = wait_until(TIMEOUT, || DONE.load(Ordering::Acquire) >= seq);
    if !ok {
        pv_tests::fail(format_args!("vCPU 1 did not finish {what}"));
    }
    ok
}

/// Posts `op` and waits for it.
fn run(seq: &mut u64, op: u64, what: impl fmt::Display) -> bool {
    let s = post(seq, op);
    finished(s, what)
}

// ---------------------------------------------------------------------------
// vCPU 0: the checks
// ---------------------------------------------------------------------------

fn test_main(si: &StartInfo) {
    if let Err(e) = percpu::enable() {
        pv_tests::error(format_args!("set_segment_base(GS_KERNEL): {e}"));
        return;
    }
    if let Err(e) = shinfo::map(si) {
        pv_tests::error(format_args!("mapping shared_info: {e}"));
        return;
    }
    if let Err(e) = fault::install() {
        pv_tests::error(format_args!("set_trap_table: {e}"));
        return;
    }
    ev::install_recorder();
    let r = bounce::register_callback(CallbackType::Event, 0, bounce::event_entry());
    if !check(r.is_ok(), format_args!("callback_op(register, event): {r:?}")) {
        return;
    }
    let Some(map) = InitialMapping::new(si) else {
        pv_tests::error("cannot work out the initial mapping from start_info");
        return;
    };

    match vcpu_op(VcpuOp::IsUp, 1) {
        Err(e) if e.errno() == Some(Errno::ENOENT) => {
            pv_tests::skip("VCPUOP_is_up(1) is -ENOENT: one vCPU (boot with two CPUs)");
            return;
        }
        r => check_eq(r, Ok(0), "VCPUOP_is_up(1) before bring-up"),
    };
    let max = u32::try_from(percpu::MAX_VCPUS).unwrap_or(32);
    let Some(nr_vcpus) = (1..=max)
        .find(|&id| vcpu_op(VcpuOp::IsUp, id).is_err_and(|e| e.errno() == Some(Errno::ENOENT)))
    else {
        pv_tests::error("no vCPU id is -ENOENT");
        return;
    };
    println!("the domain has {nr_vcpus} vCPUs");
    if nr_vcpus == 2 {
        check_eq(vcpu_op(VcpuOp::IsUp, 2), err(Errno::ENOENT), "VCPUOP_is_up(2) with 2 vCPUs");
    }
    check_eq(vcpu_op(VcpuOp::IsUp, 0), Ok(1), "VCPUOP_is_up(0)");

    if !bring_up(&map) {
        return;
    }
    let mut seq = 0u64;
    let ok = ipis(&mut seq) && poll(&mut seq) && tlb_shootdown(&map, &mut seq);
    if ok {
        down_and_up(&mut seq);
    }
    check_eq(bounce::unexpected_total(), 0, "no unexpected events");
}

/// Makes a good context bad (the second argument is a writable data
/// frame's MFN).
type Spoil = fn(&mut VcpuGuestContext, u64);

/// Step 1 and 2: the refused contexts, then a good one and `VCPUOP_up`.
fn bring_up(map: &InitialMapping) -> bool {
    check_eq(vcpu_op(VcpuOp::Up, 1), err(Errno::EINVAL), "VCPUOP_up(1) before initialise");
    check_eq(
        state_of(runstate(1)),
        Some(RunState::Offline),
        "VCPUOP_get_runstate_info(1) before bring-up: offline",
    );
    let Some(l4) = map.va_to_mfn(pv_tests::start_info().map_or(0, |s| s.pt_base)) else {
        pv_tests::error("the L4's MFN");
        return false;
    };
    let Some(data_mfn) = map.va_to_mfn(stack_bottom()) else {
        pv_tests::error("the MFN of vCPU 1's stack");
        return false;
    };
    println!("L4 mfn {l4:#x}, vCPU 1 stack {:#x}..{:#x}", stack_bottom(), stack_top());
    with_context(|c| good_context(c, l4));

    let bad: [(&str, Spoil); 6] = [
        ("a non-canonical RIP", |c, _| c.user_regs.rip = NON_CANONICAL),
        ("a non-canonical event callback", |c, _| c.event_callback_eip = NON_CANONICAL),
        ("an unaligned LDT base", |c, _| {
            c.ldt_base = window(W_TEST).wrapping_add(8);
            c.ldt_ents = 1;
        }),
        ("CR3 = a writable data frame", |c, data| c.ctrlreg[3] = xen_pfn_to_cr3(data)),
        ("CR3 = a frame beyond memory", |c, _| c.ctrlreg[3] = xen_pfn_to_cr3(BOGUS_MFN)),
        ("guest-user mode and no user page table", |c, _| c.flags = 0),
    ];
    for (what, spoil) in bad {
        let r = with_context(|c| {
            spoil(c, data_mfn);
            let r = initialise(c);
            good_context(c, l4);
            r
        });
        check_eq(r, err(Errno::EINVAL), format_args!("VCPUOP_initialise(1) with {what}"));
    }
    let r = vcpu_op_raw(VcpuOp::Initialise, 1, UNMAPPED);
    check_eq(r, err(Errno::EFAULT), "VCPUOP_initialise(1) from an unmapped address");
    check_eq(vcpu_op(VcpuOp::Up, 1), err(Errno::EINVAL), "VCPUOP_up(1) still refused after those");

    // What Xen accepts but cannot return to as given: null CS and SS, IF
    // clear. vCPU 1's #GP handler repairs the frame of each fault.
    let r = with_context(|c| {
        c.user_regs.cs = 0;
        c.user_regs.ss = 0;
        c.user_regs.rflags = 0x2;
        if let Some(t) = c.trap_ctxt.get_mut(13) {
            t.address = (&raw const pv_smp_start_gp).addr() as u64;
        }
        initialise(c)
    });
    if !check_eq(r, Ok(0), "VCPUOP_initialise(1) with null CS and SS and IF clear") {
        return false;
    }
    check_eq(with_context(|c| initialise(c)), err(Errno::EEXIST), "VCPUOP_initialise(1) again");
    check_eq(vcpu_op(VcpuOp::IsUp, 1), Ok(0), "VCPUOP_is_up(1) after initialise, before up");
    check(!ALIVE.load(Ordering::Acquire), "vCPU 1 does not run before VCPUOP_up");
    check_eq(vcpu_op(VcpuOp::Up, 1), Ok(0), "VCPUOP_up(1)");
    if !check(wait_until(TIMEOUT, || ALIVE.load(Ordering::Acquire)), "vCPU 1 announces itself") {
        return false;
    }
    let seen_at = now();
    check_eq(vcpu_op(VcpuOp::IsUp, 1), Ok(1), "VCPUOP_is_up(1) after up");
    check_eq(ENTRIES.load(Ordering::SeqCst), 1, "vCPU 1 entered once");
    start_faults();
    check_eq(ARRIVAL_ID.load(Ordering::Relaxed), 1, "vCPU 1's %gs:0 (its percpu block)");
    check_eq(ARRIVAL_MASK.load(Ordering::Relaxed), 1, "vCPU 1 starts with evtchn_upcall_mask");
    let rsp = ARRIVAL_RSP.load(Ordering::Relaxed);
    check(
        rsp > stack_bottom() && rsp <= stack_top(),
        format_args!("vCPU 1 runs on its own stack (rsp {rsp:#x})"),
    );
    let arrival = ARRIVAL_TIME.load(Ordering::Relaxed);
    check(
        arrival != 0 && arrival <= seen_at.wrapping_add(MS),
        format_args!(
            "vCPU 1's pvclock ({arrival} ns at arrival) is set and agrees with vCPU 0's \
             ({seen_at} ns when seen, at most 1 ms behind)"
        ),
    );
    check_eq(vcpu_op(VcpuOp::Up, 1), Ok(0), "VCPUOP_up(1) of a running vCPU");
    true
}

/// The `#GP`s of vCPU 1's start with null `CS` and `SS`.
fn start_faults() {
    let rec: [u64; 6] = core::array::from_fn(|i| {
        START_GP_RECORD.get(i).map_or(u64::MAX, |a| a.load(Ordering::SeqCst))
    });
    check_eq(START_GPS.load(Ordering::SeqCst), 2, "vCPU 1's start raised #GP twice");
    check_eq(START_GP_BAD.load(Ordering::SeqCst), 0, "every start #GP was about a null selector");
    check_eq(
        rec,
        [0, 0, 3, 0, u64::from(FLAT_KERNEL_CS) & !3, 3],
        "start #GPs: (error code, frame CS, frame SS) = (0, null, null), then (0, kernel CS, null)",
    );
    let rflags = START_GP_RFLAGS.load(Ordering::SeqCst);
    check(
        rflags & (1 << 9) != 0 && rflags & (3 << 12) == 0,
        format_args!("vCPU 1 runs with the real RFLAGS.IF set and IOPL 0 ({rflags:#x})"),
    );
}

/// A context that starts vCPU 1 in [`secondary_entry`] (see the module docs).
fn good_context(c: &mut VcpuGuestContext, l4: u64) {
    *c = pv_tests::guest_abi::bytemuck::Zeroable::zeroed();
    c.flags = VGCF_in_kernel;
    let entry: extern "C" fn() -> ! = secondary_entry;
    c.user_regs.rip = entry as usize as u64;
    c.user_regs.rsp = stack_top().wrapping_sub(8);
    c.user_regs.cs = FLAT_KERNEL_CS;
    c.user_regs.ss = FLAT_KERNEL_SS;
    c.user_regs.ds = FLAT_KERNEL_DS;
    c.user_regs.es = FLAT_KERNEL_DS;
    c.user_regs.rflags = 0x2;
    for (vector, t) in (0u8..).zip(c.trap_ctxt.iter_mut()) {
        if let Some(address) = fault::handler_address(vector) {
            *t =
                TrapInfo { vector, flags: TrapInfo::IF_FLAG, cs: FLAT_KERNEL_CS, pad0: 0, address };
        }
    }
    c.kernel_ss = u64::from(FLAT_KERNEL_SS);
    c.kernel_sp = stack_top();
    c.ctrlreg[3] = xen_pfn_to_cr3(l4);
    c.event_callback_eip = bounce::event_entry();
    c.gs_base_kernel = percpu::block_address(1).unwrap_or(0);
}

/// Step 3: ping-pong through IPI ports.
fn ipis(seq: &mut u64) -> bool {
    let (Ok(ping), Ok(pong)) = (ev::bind_ipi(1), ev::bind_ipi(0)) else {
        pv_tests::fail("EVTCHNOP_bind_ipi for vCPUs 1 and 0");
        return false;
    };
    check_eq(
        ev::status(ping).ok(),
        Some((EvtchnBinding::Ipi, VcpuId(1))),
        "status of the ping port",
    );
    check_eq(
        ev::status(pong).ok(),
        Some((EvtchnBinding::Ipi, VcpuId(0))),
        "status of the pong port",
    );
    ev::set_port_vcpu(ping, 1);
    PING.store(ping.0, Ordering::Relaxed);
    PONG.store(pong.0, Ordering::Relaxed);
    // A 10 ms ticker on vCPU 0 (its VIRQ_TIMER handled there), so that a
    // lost pong ends a block and the wait can time out.
    match ev::bind_virq(Virq::Timer.raw(), 0) {
        Ok(_) => {
            let period = VcpuSetPeriodicTimer { period_ns: 10 * MS };
            let r = vcpu_op_raw(
                VcpuOp::SetPeriodicTimer,
                0,
                core::ptr::from_ref(&period).addr() as u64,
            );
            check(r.is_ok(), format_args!("VCPUOP_set_periodic_timer(0, 10 ms): {r:?}"));
        }
        Err(e) => pv_tests::fail(format_args!("bind_virq(VIRQ_TIMER, 0): {e}")),
    }
    let blocked_before = time_in(runstate(1), RunState::Blocked);

    let s = post(seq, OP_PINGPONG);
    let base = ev::handled(pong);
    let start = now();
    let deadline = start.wrapping_add(TIMEOUT.wrapping_mul(10));
    let mut rounds = 0u32;
    for i in 1..=ROUNDS {
        if let Err(e) = ev::send(ping) {
            pv_tests::fail(format_args!("send on the ping port: {e}"));
            break;
        }
        if !wait_port(pong, base.wrapping_add(i), Some(deadline)) {
            pv_tests::fail(format_args!("no pong for ping {i}"));
            break;
        }
        rounds = i;
    }
    let took = now().wrapping_sub(start);
    if !finished(s, "the ping-pong") {
        return false;
    }
    check_eq(rounds, ROUNDS, "round trips completed (vCPU 0 blocked for each pong)");
    check_eq(FIGURE.load(Ordering::Relaxed), u64::from(ROUNDS), "pings vCPU 1 answered");
    check_eq(
        (ev::handled(ping), ev::handled(pong).wrapping_sub(base)),
        (ROUNDS, ROUNDS),
        "every ping handled on vCPU 1 and every pong on vCPU 0, none lost or doubled",
    );
    let blocked = time_in(runstate(1), RunState::Blocked).wrapping_sub(blocked_before);
    check(blocked > 0, format_args!("vCPU 1 blocked for {blocked} ns during the ping-pong"));
    if rounds > 0 {
        println!(
            "bench: SMP IPI ping-pong round trip (send, SCHEDOP_block wake-up, upcall, both \
             ways): {} ns (mean of {rounds}, pvclock)",
            took.checked_div(u64::from(rounds)).unwrap_or(0)
        );
    }
    true
}

/// Step 4: `SCHEDOP_poll` on vCPU 1.
fn poll(seq: &mut u64) -> bool {
    let Ok(port) = ev::bind_ipi(1) else {
        pv_tests::fail("EVTCHNOP_bind_ipi(1) for the poll port");
        return false;
    };
    ev::set_mask(port);
    ev::set_port_vcpu(port, 1);
    POLL.store(port.0, Ordering::Relaxed);

    READY.store(false, Ordering::SeqCst);
    let s = post(seq, OP_POLL_WAKE);
    if !check(wait_until(TIMEOUT, || READY.load(Ordering::Acquire)), "vCPU 1 about to poll") {
        return false;
    }
    let blocked = wait_until(TIMEOUT, || state_of(runstate(1)) == Some(RunState::Blocked));
    check(blocked, "vCPU 1 blocked in SCHEDOP_poll (runstate blocked)");
    let r = ev::send(port);
    check(r.is_ok(), format_args!("send on the (masked) poll port: {r:?}"));
    if !finished(s, "SCHEDOP_poll") {
        return false;
    }
    check_eq(RESULT.load(Ordering::Relaxed), 0, "SCHEDOP_poll on vCPU 1 woken by vCPU 0's send");
    check_eq(FIGURE.load(Ordering::Relaxed), 1, "the port was pending when the poll returned");

    if !run(seq, OP_POLL_TIMEOUT, "SCHEDOP_poll with a timeout") {
        return false;
    }
    let took = FIGURE.load(Ordering::Relaxed);
    check_eq(RESULT.load(Ordering::Relaxed), 0, "SCHEDOP_poll on a quiet port times out with 0");
    check(
        (POLL_TIMEOUT..2_000 * MS).contains(&took),
        format_args!("it returned after {took} ns (timeout {POLL_TIMEOUT} ns)"),
    );
    true
}

/// Step 5: remote TLB flushes.
fn tlb_shootdown(map: &InitialMapping, seq: &mut u64) -> bool {
    let (Some((_, a)), Some((_, b))) = (map.spare(0), map.spare(1)) else {
        pv_tests::error("no spare frames above the initial mapping");
        return false;
    };
    let va = window(W_TEST);
    let Some(l1e) = l1e_maddr(map, va) else {
        pv_tests::error(format_args!("no L1 entry for the window {va:#x}"));
        return false;
    };
    let rw = PTE_P | PTE_RW | PTE_ACCESSED;
    let ro = PTE_P | PTE_ACCESSED;
    let setup = [
        update_va_mapping(window(W_A), maddr(a) | rw, UVMF_INVLPG),
        update_va_mapping(window(W_B), maddr(b) | rw, UVMF_INVLPG),
        update_va_mapping(va, maddr(a) | ro, UVMF_INVLPG),
    ];
    let written = poke(window(W_A), PATTERN_A).is_none() && poke(window(W_B), PATTERN_B).is_none();
    if !check(
        setup == [0; 3] && written,
        format_args!("spare frames {a:#x} and {b:#x} mapped and written, window {va:#x} on a"),
    ) {
        return false;
    }
    TLB_VA.store(va, Ordering::Relaxed);
    let s = post(seq, OP_TLB_READ);
    if !check(seen_after_now(PATTERN_A), "vCPU 1 reads frame a through the window") {
        STOP.store(true, Ordering::SeqCst);
        return false;
    }

    let mask: u64 = 1 << 1;
    let mask_ptr = core::ptr::from_ref(&mask).addr() as u64;
    let frames = [(b, PATTERN_B, "b"), (a, PATTERN_A, "a")];
    let cases: [(&str, &dyn Fn(u64) -> i64); 7] = [
        ("update_va_mapping(UVMF_INVLPG | UVMF_ALL)", &|pte| {
            update_va_mapping(va, pte, UVMF_INVLPG | UVMF_ALL)
        }),
        ("update_va_mapping(UVMF_TLB_FLUSH | UVMF_ALL)", &|pte| {
            update_va_mapping(va, pte, UVMF_TLB_FLUSH | UVMF_ALL)
        }),
        ("update_va_mapping(UVMF_INVLPG | bitmap {1})", &|pte| {
            update_va_mapping(va, pte, UVMF_INVLPG | mask_ptr)
        }),
        ("mmu_update + MMUEXT_TLB_FLUSH_MULTI {1}", &|pte| {
            or_first(pt_update(l1e, pte), || mmuext(MmuextCmd::TlbFlushMulti, 0, mask_ptr))
        }),
        ("mmu_update + MMUEXT_INVLPG_MULTI {1}", &|pte| {
            or_first(pt_update(l1e, pte), || mmuext(MmuextCmd::InvlpgMulti, va, mask_ptr))
        }),
        ("mmu_update + MMUEXT_TLB_FLUSH_ALL", &|pte| {
            or_first(pt_update(l1e, pte), || mmuext(MmuextCmd::TlbFlushAll, 0, 0))
        }),
        ("mmu_update + MMUEXT_INVLPG_ALL", &|pte| {
            or_first(pt_update(l1e, pte), || mmuext(MmuextCmd::InvlpgAll, va, 0))
        }),
    ];
    for (i, (what, remap)) in cases.iter().enumerate() {
        let Some(&(mfn, pattern, name)) = frames.get(i % 2) else { continue };
        let ret = remap(maddr(mfn) | ro);
        let seen = seen_after_now(pattern);
        check(
            ret == 0 && seen,
            format_args!(
                "{what} to frame {name}: {}, vCPU 1 then reads {:#x}",
                Ret(ret),
                SEEN.load(Ordering::SeqCst)
            ),
        );
    }
    // The control: the last case left the window on frame b; switch it to
    // a with a flush of vCPU 0's TLB only.
    let ret = update_va_mapping(va, maddr(a) | ro, UVMF_INVLPG);
    let fresh = seen_within(PATTERN_A, 100 * MS);
    println!(
        "note: after a local-only flush ({}), vCPU 1 {} ({:#x})",
        Ret(ret),
        if fresh {
            "saw the new frame anyway"
        } else {
            "kept reading the old frame: a stale TLB entry"
        },
        SEEN.load(Ordering::SeqCst)
    );
    let ret = mmuext(MmuextCmd::TlbFlushAll, 0, 0);
    check(
        ret == 0 && seen_after_now(PATTERN_A),
        format_args!("after MMUEXT_TLB_FLUSH_ALL vCPU 1 reads frame a: {}", Ret(ret)),
    );
    STOP.store(true, Ordering::SeqCst);
    let done = finished(s, "the TLB reads");
    println!("vCPU 1 read the window {} times", READS.load(Ordering::SeqCst));
    done
}

/// `first` if it is an error, else the result of `then`.
fn or_first(first: i64, then: impl FnOnce() -> i64) -> i64 {
    if first == 0 { then() } else { first }
}

/// Waits until vCPU 1 has done a complete read that started after this
/// call, and returns whether such a read saw `pattern` (it waits up to
/// [`TIMEOUT`] for that).
fn seen_after_now(pattern: u64) -> bool {
    seen_within(pattern, TIMEOUT)
}

/// [`seen_after_now`] waiting up to `timeout` ns.
fn seen_within(pattern: u64, timeout: u64) -> bool {
    let from = READS.load(Ordering::SeqCst);
    wait_until(timeout, || {
        READS.load(Ordering::SeqCst) >= from.wrapping_add(2)
            && SEEN.load(Ordering::SeqCst) == pattern
    })
}

/// Machine address of the L1 entry mapping `va` (bootstrap tables).
fn l1e_maddr(map: &InitialMapping, va: u64) -> Option<u64> {
    let l3 = map.next(map.l4_mfn, va, 39)?;
    let l2 = map.next(l3, va, 30)?;
    let l1 = map.next(l2, va, 21)?;
    Some(slot(maddr(l1), va.wrapping_shr(12) & 511))
}

/// Step 6: `VCPUOP_down` and `VCPUOP_up` of a vCPU that is counting.
fn down_and_up(seq: &mut u64) {
    COUNTER.store(0, Ordering::SeqCst);
    let s = post(seq, OP_COUNT);
    if !check(wait_until(TIMEOUT, || COUNTER.load(Ordering::SeqCst) > 1000), "vCPU 1 counts") {
        STOP.store(true, Ordering::SeqCst);
        return;
    }
    // Running while it counts; as a domU its CPU may be lent to another
    // domain's vCPU for a moment (runnable then), so it is sampled until
    // it is seen running.
    let mut before = runstate(1);
    wait_until(TIMEOUT, || {
        before = runstate(1);
        state_of(before) == Some(RunState::Running)
    });
    check_eq(state_of(before), Some(RunState::Running), "runstate of vCPU 1 while counting");

    check_eq(vcpu_op(VcpuOp::Down, 1), Ok(0), "VCPUOP_down(1)");
    check_eq(vcpu_op(VcpuOp::IsUp, 1), Ok(0), "VCPUOP_is_up(1) after down");
    let offline = wait_until(TIMEOUT, || state_of(runstate(1)) == Some(RunState::Offline));
    check(offline, "VCPUOP_get_runstate_info(1): offline while down");
    let c1 = COUNTER.load(Ordering::SeqCst);
    let r1 = runstate(1);
    delay(20 * MS);
    let c2 = COUNTER.load(Ordering::SeqCst);
    let r2 = runstate(1);
    check_eq(c2, c1, "vCPU 1's counter stands still while it is down (20 ms)");
    let (o1, o2) = (time_in(r1, RunState::Offline), time_in(r2, RunState::Offline));
    check(
        o2 >= o1.wrapping_add(10 * MS),
        format_args!("offline time accumulates while down: {o1} -> {o2} ns"),
    );
    check_eq(state_of(r2), Some(RunState::Offline), "still offline 20 ms later");
    check_eq(vcpu_op(VcpuOp::Down, 1), Ok(0), "VCPUOP_down(1) again");

    check_eq(vcpu_op(VcpuOp::Up, 1), Ok(0), "VCPUOP_up(1) again");
    check_eq(vcpu_op(VcpuOp::IsUp, 1), Ok(1), "VCPUOP_is_up(1) after up");
    let moved = wait_until(TIMEOUT, || COUNTER.load(Ordering::SeqCst) > c2.wrapping_add(1000));
    check(
        moved,
        format_args!("vCPU 1 resumes counting from {c2} (now {})", COUNTER.load(Ordering::SeqCst)),
    );
    check_eq(ENTRIES.load(Ordering::SeqCst), 1, "it resumed where it stopped (entry not rerun)");
    let after = runstate(1);
    check_eq(state_of(after), Some(RunState::Running), "runstate of vCPU 1 after up");
    let (run0, run1) = (time_in(before, RunState::Running), time_in(after, RunState::Running));
    check(run1 > run0, format_args!("running time accumulates: {run0} -> {run1} ns"));
    let blocked = time_in(after, RunState::Blocked);
    check(blocked > 0, format_args!("blocked time (ping-pong, poll): {blocked} ns"));
    let off = time_in(after, RunState::Offline);
    check(off >= o2, format_args!("offline time (before bring-up and while down): {off} ns"));
    STOP.store(true, Ordering::SeqCst);
    finished(s, "counting");
}
