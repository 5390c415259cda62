// SPDX-License-Identifier: GPL-2.0-only
//! Bounced exceptions, software interrupts and callbacks, the `iret`
//! hypercall, and "probes" that expect one event each.
//!
//! # Entry
//!
//! The hypervisor delivers an exception, a permitted `int $n`, a guest-user
//! `SYSCALL` or an event upcall by writing Xen's bounce frame on the guest
//! kernel stack (`x86_64/entry.S:create_bounce_frame`) and jumping to the
//! handler with `CS = FLAT_KERNEL_CS`. From low to high addresses the frame
//! is `RCX, R11, [error code], RIP, CS | saved_upcall_mask << 32, RFLAGS,
//! RSP, SS`, with `RIP` 8 bytes above a 16-byte boundary (the frame is built
//! below `(RSP & ~15)`; from user mode `RSP` is the `stack_switch` stack).
//!
//! [`entry_address`]`(n)` is a 16-byte stub per vector (all 256): it pops
//! `RCX` and `R11` (restoring the interrupted values), pushes 0 in place of
//! the error code for vectors without one (all but 8, 10–14, 17, 21, 29,
//! 30; software interrupts never have one, so only exception vectors should
//! be used for those numbers) and the vector, and saves every
//! general-purpose register, giving a [`TrapFrame`]. [`syscall_entry`] and
//! [`event_entry`] do the same for the syscall and event callbacks (no error
//! code), with the pseudo-vectors [`VECTOR_SYSCALL`] and [`VECTOR_EVENT`].
//! `pv_bounce_dispatch` then runs the kernel's [`Hook`] and, if the hook
//! declines, [`standard`].
//!
//! # Exit
//!
//! After the handler the registers are restored from the frame (so a
//! handler may change any of them, and `RIP`, `CS`, `RFLAGS`, `RSP`, `SS`),
//! the vector is dropped and the error-code slot becomes the `flags` word
//! of Xen's `iret_context` (0, or `VGCF_in_syscall` if the hook asks for
//! it). `RCX`, `R11` and `RAX` are pushed, as Linux's `xen_iret` does, and
//! `iret` (hypercall 23) returns through a direct `syscall` or, after
//! [`set_iret_via`]`(Via::Page)`, by jumping to the hypercall page's `iret`
//! stub, which pushes the three registers itself. `iret` to a `CS` with RPL
//! 3 switches to guest-user mode; RFLAGS.IF sets `evtchn_upcall_mask` to its
//! inverse.
//!
//! # Probes
//!
//! A probe ([`probe_asm!`]) runs one instruction that should raise one
//! event: it stores its id, the expected vector, the instruction's address,
//! its `RSP` and a resume address in `PV_PROBE_*` globals, loads `RCX` and
//! `R11` with [`MAGIC_RCX`] and [`MAGIC_R11`], and executes the instruction.
//! [`standard`] records the expected event ([`Seen`], with the frame, its
//! address, the upcall mask and `vcpu_info.arch.cr2` at entry) and
//! continues at the resume address (or at the frame's `RIP`, for probes
//! that need it). Any other event is reported with [`fail`](crate::fail) and,
//! while a probe is active, also resumes there, so a wrong event never
//! hangs the kernel; with no probe active it panics (crashing the domain).

use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use guest_abi::callback::{CallbackOp, CallbackRegister, CallbackType};
use guest_abi::xen::{Errno, FLAT_KERNEL_SS, FLAT_USER_CS64, Hypercall, TrapInfo};

use crate::hypercall::{self, Via};
use crate::ops::{XenError, result};
use crate::{fail, percpu, println, shinfo};

/// `FLAT_KERNEL_CS` with RPL 0: the selector for `trap_info` entries, and
/// the `CS` a bounce frame shows for an event taken in guest-kernel mode.
pub const KERNEL_CS: u16 = 0xe030;
/// The `CS` of guest-user (and, live, guest-kernel) code: `FLAT_RING3_CS64`.
pub const USER_CS: u16 = FLAT_USER_CS64;
/// The `SS` of both modes: `FLAT_RING3_SS64`.
pub const FLAT_SS: u16 = FLAT_KERNEL_SS;

/// Pseudo-vector of the syscall callback.
pub const VECTOR_SYSCALL: u64 = 0x100;
/// Pseudo-vector of the event callback.
pub const VECTOR_EVENT: u64 = 0x101;
/// `PV_PROBE_EXPECT` when no event is expected.
pub const EXPECT_NONE: u64 = u64::MAX;

/// Number of probe ids ([`Seen`] slots).
pub const MAX_PROBES: usize = 32;

// The two magic values are also spelled out in `probe_asm!`.
/// `RCX` a probe loads before its instruction.
pub const MAGIC_RCX: u64 = 0x5ca1_ab1e_0bad_c0de;
/// `R11` a probe loads before its instruction.
pub const MAGIC_R11: u64 = 0x0ddb_a11c_afe0_f00d;

/// `trap_info.flags` bit 2: entering the handler masks events.
pub const TI_MASK_EVENTS: u8 = TrapInfo::IF_FLAG;

/// Size of a stub in the vector table.
const STUB_SIZE: u64 = 16;

/// What the entry stubs save, lowest address first: the general-purpose
/// registers, the vector, the error code (0 if none) and Xen's frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
#[allow(missing_docs, reason = "register names")]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Vector, or [`VECTOR_SYSCALL`] / [`VECTOR_EVENT`].
    pub vector: u64,
    /// Error code (0 when the vector has none). On return from the handler
    /// this slot is the `iret` `flags` word (the hook's result).
    pub error_code: u64,
    /// Return `RIP`.
    pub rip: u64,
    /// Saved `CS` (bits 0–15) and saved upcall mask (bits 32–39).
    pub cs: u64,
    /// Saved `RFLAGS` (IF = !saved upcall mask).
    pub rflags: u64,
    /// Saved `RSP`.
    pub rsp: u64,
    /// Saved `SS`.
    pub ss: u64,
}

impl TrapFrame {
    /// All zero.
    pub const ZERO: Self = Self {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rbp: 0,
        rdi: 0,
        rsi: 0,
        rdx: 0,
        rcx: 0,
        rbx: 0,
        rax: 0,
        vector: 0,
        error_code: 0,
        rip: 0,
        cs: 0,
        rflags: 0,
        rsp: 0,
        ss: 0,
    };

    /// The saved upcall mask (bits 32–39 of the `CS` slot).
    #[must_use]
    pub const fn saved_upcall_mask(&self) -> u8 {
        (self.cs >> 32).to_le_bytes()[0]
    }

    /// Whether the event came from guest-user mode (`CS` RPL 3).
    #[must_use]
    pub const fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// One recorded event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// How many events were recorded here.
    pub count: u32,
    /// The frame as delivered (first event).
    pub frame: TrapFrame,
    /// Address of the frame's `RIP` slot.
    pub frame_address: u64,
    /// `evtchn_upcall_mask` when the handler started.
    pub mask: u8,
    /// `vcpu_info.arch.cr2` when the handler started.
    pub cr2: u64,
    /// `PV_PROBE_INSN`: the probe's instruction.
    pub insn: u64,
    /// `PV_PROBE_RSP`: the probe's `RSP` at the instruction.
    pub probe_rsp: u64,
    /// The probe id active at the time.
    pub id: u64,
    /// A value the kernel's hook stored with [`set_extra`].
    pub extra: u64,
}

impl Seen {
    /// A record of the event `frame` (the frame lives on the handler's
    /// stack, where Xen wrote it), with the probe state and
    /// `vcpu_info` fields as they are now.
    #[must_use]
    pub fn capture(frame: &TrapFrame) -> Self {
        Self {
            count: 1,
            frame: *frame,
            frame_address: (&raw const frame.rip).addr() as u64,
            mask: shinfo::upcall_mask(),
            cr2: shinfo::cr2(),
            insn: PV_PROBE_INSN.load(Ordering::Relaxed),
            probe_rsp: PV_PROBE_RSP.load(Ordering::Relaxed),
            id: PV_PROBE_ID.load(Ordering::Relaxed),
            extra: EXTRA.load(Ordering::Relaxed),
        }
    }

    /// Nothing seen.
    pub const ZERO: Self = Self {
        count: 0,
        frame: TrapFrame::ZERO,
        frame_address: 0,
        mask: 0,
        cr2: 0,
        insn: 0,
        probe_rsp: 0,
        id: 0,
        extra: 0,
    };
}

/// The kernel's handler: `Some(flags)` if it handled the event (returning
/// with `iret` `flags`), `None` to let [`standard`] handle it.
pub type Hook = fn(&mut TrapFrame) -> Option<u64>;

/// Statics shared between the handler and the kernel's main flow.
struct Shared<T>(UnsafeCell<T>);

// SAFETY: probes run on vCPU 0 only; the handler runs only while the main
// flow is stopped in a probe or at an event, and every access is a
// whole-value volatile copy.
unsafe impl<T> Sync for Shared<T> {}

impl<T: Copy> Shared<T> {
    fn get(&self) -> T {
        // SAFETY: see the `Sync` impl.
        unsafe { self.0.get().read_volatile() }
    }

    fn set(&self, value: T) {
        // SAFETY: see the `Sync` impl.
        unsafe { self.0.get().write_volatile(value) }
    }
}

static HOOK: Shared<Option<Hook>> = Shared(UnsafeCell::new(None));
static SEEN: Shared<[Seen; MAX_PROBES]> = Shared(UnsafeCell::new([Seen::ZERO; MAX_PROBES]));
static UNEXPECTED: Shared<Seen> = Shared(UnsafeCell::new(Seen::ZERO));
static EXTRA: AtomicU64 = AtomicU64::new(0);
static EVENTS: AtomicU32 = AtomicU32::new(0);
static UNEXPECTED_TOTAL: AtomicU32 = AtomicU32::new(0);
/// Per vCPU ([`percpu::current`]): a handler is running there.
static IN_HANDLER: [AtomicBool; percpu::MAX_VCPUS] =
    [const { AtomicBool::new(false) }; percpu::MAX_VCPUS];

/// Probe id (index into the records).
#[unsafe(no_mangle)]
pub static PV_PROBE_ID: AtomicU64 = AtomicU64::new(0);
/// Expected vector, or [`EXPECT_NONE`].
#[unsafe(no_mangle)]
pub static PV_PROBE_EXPECT: AtomicU64 = AtomicU64::new(EXPECT_NONE);
/// Non-zero: an expected event resumes at the frame's `RIP`.
#[unsafe(no_mangle)]
pub static PV_PROBE_KEEP_RIP: AtomicU64 = AtomicU64::new(0);
/// Address of the probe's instruction.
#[unsafe(no_mangle)]
pub static PV_PROBE_INSN: AtomicU64 = AtomicU64::new(0);
/// Where to resume; 0 when no probe is active.
#[unsafe(no_mangle)]
pub static PV_PROBE_RESUME: AtomicU64 = AtomicU64::new(0);
/// The probe's `RSP` at its instruction.
#[unsafe(no_mangle)]
pub static PV_PROBE_RSP: AtomicU64 = AtomicU64::new(0);
/// Per probe id: non-zero if `RCX` or `R11` differed from the magic values
/// after the probe resumed (written by the probe).
#[unsafe(no_mangle)]
pub static PV_PROBE_CLOBBERED: [AtomicU8; MAX_PROBES] = [const { AtomicU8::new(0) }; MAX_PROBES];
/// Non-zero: return with the hypercall page's `iret` stub.
#[unsafe(no_mangle)]
static PV_BOUNCE_IRET_VIA_PAGE: AtomicU8 = AtomicU8::new(0);

/// Installs the kernel's hook (before the trap table).
pub fn set_hook(hook: Hook) {
    HOOK.set(Some(hook));
}

/// Chooses how handlers return: `iret` by `syscall` or through the page.
pub fn set_iret_via(via: Via) {
    PV_BOUNCE_IRET_VIA_PAGE.store(u8::from(via == Via::Page), Ordering::Relaxed);
}

/// Clears all records and the unexpected-event record.
pub fn reset() {
    for id in 0..MAX_PROBES {
        set_seen(id, Seen::ZERO);
    }
    UNEXPECTED.set(Seen::ZERO);
    for flag in &PV_PROBE_CLOBBERED {
        flag.store(0, Ordering::Relaxed);
    }
}

/// The record of probe `id`.
#[must_use]
pub fn seen(id: usize) -> Seen {
    if id >= MAX_PROBES {
        return Seen::ZERO;
    }
    // SAFETY: `id` is in bounds; see `Shared`'s `Sync` impl.
    unsafe { SEEN.0.get().cast::<Seen>().wrapping_add(id).read_volatile() }
}

/// Replaces the record of probe `id` (ignored if out of range).
fn set_seen(id: usize, rec: Seen) {
    if id < MAX_PROBES {
        // SAFETY: `id` is in bounds; see `Shared`'s `Sync` impl.
        unsafe { SEEN.0.get().cast::<Seen>().wrapping_add(id).write_volatile(rec) };
    }
}

/// The first unexpected event since [`reset`], and their number.
#[must_use]
pub fn unexpected() -> Seen {
    UNEXPECTED.get()
}

/// Number of unexpected events since boot (not cleared by [`reset`]).
#[must_use]
pub fn unexpected_total() -> u32 {
    UNEXPECTED_TOTAL.load(Ordering::Relaxed)
}

/// Whether probe `id` found `RCX`/`R11` changed after resuming.
#[must_use]
pub fn clobbered(id: usize) -> bool {
    PV_PROBE_CLOBBERED.get(id).is_some_and(|f| f.load(Ordering::Relaxed) != 0)
}

/// Number of event-callback upcalls so far.
#[must_use]
pub fn events() -> u32 {
    EVENTS.load(Ordering::Relaxed)
}

/// Stores a value for the current event's record (from a hook that returns
/// `None`).
pub fn set_extra(value: u64) {
    EXTRA.store(value, Ordering::Relaxed);
}

/// Whether `frame` is the event the active probe expects.
#[must_use]
pub fn is_expected(frame: &TrapFrame) -> bool {
    PV_PROBE_RESUME.load(Ordering::Relaxed) != 0
        && PV_PROBE_EXPECT.load(Ordering::Relaxed) == frame.vector
}

/// Address of the stub for `vector`.
#[must_use]
pub fn entry_address(vector: u8) -> u64 {
    let base = (&raw const pv_bounce_vectors).addr() as u64;
    base.wrapping_add(u64::from(vector).wrapping_mul(STUB_SIZE))
}

/// Address of the syscall-callback entry.
#[must_use]
pub fn syscall_entry() -> u64 {
    (&raw const pv_bounce_syscall_entry).addr() as u64
}

/// Address of the event-callback entry.
#[must_use]
pub fn event_entry() -> u64 {
    (&raw const pv_bounce_event_entry).addr() as u64
}

/// A `trap_info` entry for `vector` with software-interrupt privilege
/// `dpl` and, if `mask_events`, the "interrupt gate" flag, pointing at the
/// vector's stub with [`KERNEL_CS`].
#[must_use]
pub fn trap_info(vector: u8, dpl: u8, mask_events: bool) -> TrapInfo {
    let flags = (dpl & TrapInfo::DPL_MASK) | if mask_events { TI_MASK_EVENTS } else { 0 };
    TrapInfo { vector, flags, cs: KERNEL_CS, pad0: 0, address: entry_address(vector) }
}

/// `set_trap_table(table)`; `table` must end with an entry whose address is 0.
pub fn set_trap_table(table: &[TrapInfo]) -> Result<(), XenError> {
    if table.last().is_none_or(|t| t.address != 0) {
        return Err(XenError::from(Errno::EINVAL));
    }
    // SAFETY: the hypervisor reads entries up to the terminator, which the
    // slice holds.
    let ret = unsafe {
        hypercall::hypercall1(Hypercall::SetTrapTable.raw(), table.as_ptr().addr() as u64)
    };
    result(ret).map(drop)
}

/// `stack_switch(ss, sp)`: the stack for events from guest-user mode.
pub fn stack_switch(ss: u16, sp: u64) -> Result<(), XenError> {
    // SAFETY: the hypercall only records the two values.
    let ret = unsafe { hypercall::hypercall2(Hypercall::StackSwitch.raw(), u64::from(ss), sp) };
    result(ret).map(drop)
}

/// `callback_op(CALLBACKOP_register, {ty, flags, address})`.
pub fn register_callback(ty: CallbackType, flags: u16, address: u64) -> Result<(), XenError> {
    let arg = CallbackRegister { ty: ty.raw(), flags, pad0: 0, address };
    // SAFETY: the hypervisor reads one callback_register from `arg`.
    let ret = unsafe {
        hypercall::hypercall2(
            Hypercall::CallbackOp.raw(),
            u64::from(CallbackOp::Register.raw()),
            (&raw const arg).addr() as u64,
        )
    };
    result(ret).map(drop)
}

/// Called by the entry code with the saved frame; returns through the
/// exit code with `frame.error_code` as the `iret` flags.
#[unsafe(no_mangle)]
extern "C" fn pv_bounce_dispatch(frame: &mut TrapFrame) {
    let in_handler = IN_HANDLER.get(percpu::current()).or(IN_HANDLER.first());
    if in_handler.is_some_and(|f| f.swap(true, Ordering::Relaxed)) {
        panic!(
            "event {:#x} (error code {:#x}) at {:#x} inside the event handler",
            frame.vector, frame.error_code, frame.rip
        );
    }
    EXTRA.store(0, Ordering::Relaxed);
    let handled = HOOK.get().and_then(|hook| hook(frame));
    let flags = match handled {
        Some(flags) => flags,
        None => standard(frame),
    };
    frame.error_code = flags;
    if let Some(f) = in_handler {
        f.store(false, Ordering::Relaxed);
    }
}

/// Counts an event upcall that a hook handled (scanned the bitmaps after
/// clearing `evtchn_upcall_pending` itself); returns the `iret` flags (0).
pub fn count_event() -> u64 {
    EVENTS.fetch_add(1, Ordering::Relaxed);
    0
}

/// The default handling: events are counted (pending cleared), the
/// expected event of a probe is recorded and resumed, anything else is a
/// failure. Returns the `iret` flags (0).
pub fn standard(frame: &mut TrapFrame) -> u64 {
    if frame.vector == VECTOR_EVENT {
        EVENTS.fetch_add(1, Ordering::Relaxed);
        shinfo::clear_upcall_pending();
        return 0;
    }
    let resume = PV_PROBE_RESUME.load(Ordering::Relaxed);
    let rec = Seen::capture(frame);
    if is_expected(frame) {
        record(rec.id, rec);
        if PV_PROBE_KEEP_RIP.load(Ordering::Relaxed) == 0 {
            frame.rip = resume;
        }
        return 0;
    }
    note_unexpected(rec);
    if resume != 0 {
        frame.rip = resume;
        return 0;
    }
    panic!(
        "unexpected event {:#x} (error code {:#x}) at {:#x}, cs {:#x}, no probe active",
        frame.vector, frame.error_code, frame.rip, frame.cs
    );
}

/// Records `rec` for probe `id`, counting repeats.
fn record(id: u64, rec: Seen) {
    let Some(id) = usize::try_from(id).ok().filter(|&i| i < MAX_PROBES) else {
        note_unexpected(rec);
        return;
    };
    let mut slot = seen(id);
    if slot.count == 0 {
        slot = rec;
    } else {
        slot.count = slot.count.saturating_add(1);
    }
    set_seen(id, slot);
}

/// Records and reports an unexpected event.
pub fn note_unexpected(rec: Seen) {
    UNEXPECTED_TOTAL.fetch_add(1, Ordering::Relaxed);
    let mut first = UNEXPECTED.get();
    if first.count == 0 {
        first = rec;
    } else {
        first.count = first.count.saturating_add(1);
    }
    UNEXPECTED.set(first);
    let f = &rec.frame;
    fail(format_args!(
        "unexpected event {:#x} (error code {:#x}) at rip {:#x} cs {:#x} rflags {:#x} rsp {:#x}, \
         cr2 {:#x}, during probe {} expecting {:#x}",
        f.vector,
        f.error_code,
        f.rip,
        f.cs,
        f.rflags,
        f.rsp,
        rec.cr2,
        rec.id,
        PV_PROBE_EXPECT.load(Ordering::Relaxed)
    ));
    if f.vector == 14 {
        println!("  (#PF address in vcpu_info.arch.cr2: {:#x})", rec.cr2);
    }
}

unsafe extern "C" {
    /// The 256 vector stubs (defined below).
    static pv_bounce_vectors: u8;
    /// The syscall-callback entry.
    static pv_bounce_syscall_entry: u8;
    /// The event-callback entry.
    static pv_bounce_event_entry: u8;
}

global_asm!(
    ".pushsection .text.pv_bounce, \"ax\", @progbits",
    ".balign 16",
    ".globl pv_bounce_vectors",
    "pv_bounce_vectors:",
    ".set pv_bounce_n, 0",
    ".rept 256",
    "    .balign 16",
    "    pop %rcx",
    "    pop %r11",
    "    .if (pv_bounce_n == 8) || ((pv_bounce_n >= 10) && (pv_bounce_n <= 14)) || (pv_bounce_n == 17) || (pv_bounce_n == 21) || (pv_bounce_n == 29) || (pv_bounce_n == 30)",
    "    .else",
    "    pushq $0",
    "    .endif",
    "    pushq $pv_bounce_n",
    "    jmp pv_bounce_common",
    "    .set pv_bounce_n, pv_bounce_n + 1",
    ".endr",
    "",
    ".balign 16",
    ".globl pv_bounce_syscall_entry",
    "pv_bounce_syscall_entry:",
    "    pop %rcx",
    "    pop %r11",
    "    pushq $0",
    "    pushq ${syscall}",
    "    jmp pv_bounce_common",
    "",
    ".balign 16",
    ".globl pv_bounce_event_entry",
    "pv_bounce_event_entry:",
    "    pop %rcx",
    "    pop %r11",
    "    pushq $0",
    "    pushq ${event}",
    "    jmp pv_bounce_common",
    "",
    ".balign 16",
    "pv_bounce_common:",
    "    push %rax",
    "    push %rbx",
    "    push %rcx",
    "    push %rdx",
    "    push %rsi",
    "    push %rdi",
    "    push %rbp",
    "    push %r8",
    "    push %r9",
    "    push %r10",
    "    push %r11",
    "    push %r12",
    "    push %r13",
    "    push %r14",
    "    push %r15",
    "    mov %rsp, %rdi",
    "    cld",
    "    call pv_bounce_dispatch",
    "    pop %r15",
    "    pop %r14",
    "    pop %r13",
    "    pop %r12",
    "    pop %r11",
    "    pop %r10",
    "    pop %r9",
    "    pop %r8",
    "    pop %rbp",
    "    pop %rdi",
    "    pop %rsi",
    "    pop %rdx",
    "    pop %rcx",
    "    pop %rbx",
    "    pop %rax",
    // Drop the vector: the error-code slot is now iret_context.flags.
    "    add $8, %rsp",
    "    cmpb $0, PV_BOUNCE_IRET_VIA_PAGE(%rip)",
    "    jne 1f",
    // Linux's xen_iret: rcx, r11, rax below flags, then hypercall 23.
    "    push %rcx",
    "    push %r11",
    "    push %rax",
    "    mov ${iret}, %eax",
    "    syscall",
    "    ud2",
    // The page's iret stub pushes rcx, r11, rax itself.
    "1:  jmp hypercall_page + {iret} * {stub_size}",
    ".popsection",
    syscall = const VECTOR_SYSCALL,
    event = const VECTOR_EVENT,
    iret = const Hypercall::Iret.raw(),
    stub_size = const crate::entry::HYPERCALL_STUB_SIZE,
    options(att_syntax),
);

/// Assembly text of one probe, for `global_asm!` (all arguments are string
/// literals): set the `PV_PROBE_*` globals for probe `id` expecting vector
/// `expect` (resuming at the frame's `RIP` if `keep_rip` is `"1"`), run
/// `setup`, load [`MAGIC_RCX`]/[`MAGIC_R11`], record `RSP`, execute `insn`
/// (at local label `8`), and at local label `9` (the resume address, right
/// after `insn`) deactivate the probe, store in `PV_PROBE_CLOBBERED[id]`
/// whether `RCX`/`R11` still hold the magic values, and run `post`.
/// Clobbers `RCX`, `R10`, `R11` besides what `setup`, `insn` and `post` use.
#[macro_export]
macro_rules! probe_asm {
    (id: $id:literal, expect: $expect:literal, keep_rip: $keep:literal, setup: $setup:literal,
     insn: $insn:literal, post: $post:literal $(,)?) => {
        concat!(
            "    movq $",
            $id,
            ", PV_PROBE_ID(%rip)\n",
            "    movq $",
            $expect,
            ", PV_PROBE_EXPECT(%rip)\n",
            "    movq $",
            $keep,
            ", PV_PROBE_KEEP_RIP(%rip)\n",
            "    lea 8f(%rip), %r10\n",
            "    mov %r10, PV_PROBE_INSN(%rip)\n",
            "    lea 9f(%rip), %r10\n",
            "    mov %r10, PV_PROBE_RESUME(%rip)\n",
            "    ",
            $setup,
            "\n",
            "    movabs $0x5ca1ab1e0badc0de, %rcx\n",
            "    movabs $0x0ddba11cafe0f00d, %r11\n",
            "    mov %rsp, PV_PROBE_RSP(%rip)\n",
            "8:  ",
            $insn,
            "\n",
            "9:  movq $-1, PV_PROBE_EXPECT(%rip)\n",
            "    movq $0, PV_PROBE_RESUME(%rip)\n",
            "    movabs $0x5ca1ab1e0badc0de, %r10\n",
            "    xor %r10, %rcx\n",
            "    movabs $0x0ddba11cafe0f00d, %r10\n",
            "    xor %r10, %r11\n",
            "    or %r11, %rcx\n",
            "    setnz %r10b\n",
            "    mov %r10b, PV_PROBE_CLOBBERED+",
            $id,
            "(%rip)\n",
            "    ",
            $post,
            "\n",
        )
    };
}

/// Assembly text of a probe wrapped in a function `pv_probe_<name>` (call
/// it as `extern "C" fn()`; it clobbers only caller-saved registers, which
/// `setup`, `insn` and `post` must respect).
#[macro_export]
macro_rules! probe_fn_asm {
    ($name:literal, id: $id:literal, expect: $expect:literal, keep_rip: $keep:literal,
     setup: $setup:literal, insn: $insn:literal, post: $post:literal $(,)?) => {
        concat!(
            ".pushsection .text.pv_probe_", $name, ", \"ax\", @progbits\n",
            ".globl pv_probe_", $name, "\n",
            ".type pv_probe_", $name, ", @function\n",
            "pv_probe_", $name, ":\n",
            $crate::probe_asm!(id: $id, expect: $expect, keep_rip: $keep, setup: $setup,
                insn: $insn, post: $post),
            "    ret\n",
            ".size pv_probe_", $name, ", . - pv_probe_", $name, "\n",
            ".popsection\n",
        )
    };
}
