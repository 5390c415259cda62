// SPDX-License-Identifier: GPL-2.0-only
//! Catching the exceptions a test provokes on purpose, and reporting the
//! ones it does not expect.
//!
//! [`install`] registers a virtual IDT (`set_trap_table`) whose handlers
//! cover vectors 0–19 (not 15). Xen bounces an exception to a 64-bit PV
//! kernel with the frame `RCX, R11, [error code], RIP, CS, RFLAGS, RSP, SS`
//! on the current kernel stack (`create_bounce_frame`); each entry stub pops
//! `RCX`/`R11`, pushes a zero error code where the CPU has none, then the
//! vector, and the common code saves every register, calls
//! [`pv_fault_dispatch`] and returns with the `iret` hypercall
//! (`pushq $0; push %rcx; push %r11; push %rax; mov $23,%eax; syscall`,
//! Linux's `xen_iret`).
//!
//! [`probe!`](crate::probe) runs instructions with a *fixup*: if one of
//! them raises an exception, the handler records it (vector, error code,
//! `RIP`, and for `#PF` the `cr2` that Xen stores in `vcpu_info`) and resumes
//! after the instructions; the macro returns the record. An exception
//! outside a probe is a test failure: the handler prints it, records
//! FAILURE and ends the test with [`crate::report()`], so a kernel never
//! hangs or dies silently on a stray fault.

use core::arch::global_asm;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use guest_abi::sched::ShutdownReason;
use guest_abi::xen::{FLAT_KERNEL_CS, Hypercall, TrapInfo};

use crate::hypercall::{self, Via};
use crate::ops::{self, XenError};

/// `#DE`.
pub const DE: u8 = 0;
/// `#UD`.
pub const UD: u8 = 6;
/// `#NM`.
pub const NM: u8 = 7;
/// `#GP`.
pub const GP: u8 = 13;
/// `#PF`.
pub const PF: u8 = 14;

/// `#PF` error code: the page was present (a protection fault).
pub const PFEC_PRESENT: u64 = 1 << 0;
/// `#PF` error code: the access was a write.
pub const PFEC_WRITE: u64 = 1 << 1;
/// `#PF` error code: the access came from user mode (Xen clears it for
/// guest-kernel mode).
pub const PFEC_USER: u64 = 1 << 2;

/// Number of entry stubs (vectors 0–19).
const NR_VECTORS: usize = 20;

/// Vector 15 is reserved: no handler.
const RESERVED_VECTOR: u8 = 15;

/// "Nothing recorded" in [`LAST_VECTOR`].
const NONE: u64 = u64::MAX;

/// Where the probe in progress resumes after an exception; 0 outside a
/// probe. Written by the [`probe!`](crate::probe) assembly (by symbol name)
/// and cleared by the handler and by [`take`].
#[unsafe(export_name = "pv_fault_fixup")]
pub static PV_FAULT_FIXUP: AtomicU64 = AtomicU64::new(0);

static LAST_VECTOR: AtomicU64 = AtomicU64::new(NONE);
static LAST_ERROR: AtomicU64 = AtomicU64::new(0);
static LAST_RIP: AtomicU64 = AtomicU64::new(0);
static LAST_CR2: AtomicU64 = AtomicU64::new(0);
static LAST_CR2_KNOWN: AtomicBool = AtomicBool::new(false);

/// Virtual address of `vcpu_info[0].arch.cr2` once the kernel mapped its
/// shared-info page ([`set_cr2_source`]); 0 before.
static CR2_SOURCE: AtomicU64 = AtomicU64::new(0);

/// Set while an unexpected exception is being reported.
static REPORTING: AtomicBool = AtomicBool::new(false);

/// An exception caught by a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The vector.
    pub vector: u8,
    /// The error code (0 for vectors without one).
    pub error_code: u64,
    /// Where it happened.
    pub rip: u64,
    /// For `#PF`: the faulting address from `vcpu_info.arch.cr2`, if the
    /// shared-info page is mapped ([`set_cr2_source`]).
    pub cr2: Option<u64>,
}

impl Fault {
    /// Whether this is `vector` with error code `error_code`.
    #[must_use]
    pub fn is(&self, vector: u8, error_code: u64) -> bool {
        self.vector == vector && self.error_code == error_code
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:#x}) at {:#x}", vector_name(self.vector), self.error_code, self.rip)?;
        if let Some(cr2) = self.cr2 {
            write!(f, " cr2 {cr2:#x}")?;
        }
        Ok(())
    }
}

/// Formats the outcome of a probe: `no exception` or the [`Fault`].
#[derive(Clone, Copy)]
pub struct Outcome(pub Option<Fault>);

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(fault) => write!(f, "{fault}"),
            None => f.write_str("no exception"),
        }
    }
}

/// The mnemonic of exception `vector` (`#GP`).
#[must_use]
pub const fn vector_name(vector: u8) -> &'static str {
    match vector {
        0 => "#DE",
        1 => "#DB",
        2 => "NMI",
        3 => "#BP",
        4 => "#OF",
        5 => "#BR",
        6 => "#UD",
        7 => "#NM",
        8 => "#DF",
        9 => "#CSO",
        10 => "#TS",
        11 => "#NP",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        18 => "#MC",
        19 => "#XM",
        _ => "#??",
    }
}

/// Tells the handler where `vcpu_info[0].arch.cr2` is mapped (shared-info
/// page VA + 16), so `#PF` records carry the fault address.
pub fn set_cr2_source(va: u64) {
    CR2_SOURCE.store(va, Ordering::Relaxed);
}

/// The registers saved by the common entry code, lowest address first, and
/// the frame Xen built above them.
#[repr(C)]
pub struct Frame {
    /// Saved `%r15`.
    pub r15: u64,
    /// Saved `%r14`.
    pub r14: u64,
    /// Saved `%r13`.
    pub r13: u64,
    /// Saved `%r12`.
    pub r12: u64,
    /// Saved `%r11` (the guest's value, from Xen's frame).
    pub r11: u64,
    /// Saved `%r10`.
    pub r10: u64,
    /// Saved `%r9`.
    pub r9: u64,
    /// Saved `%r8`.
    pub r8: u64,
    /// Saved `%rbp`.
    pub rbp: u64,
    /// Saved `%rdi`.
    pub rdi: u64,
    /// Saved `%rsi`.
    pub rsi: u64,
    /// Saved `%rdx`.
    pub rdx: u64,
    /// Saved `%rcx` (the guest's value, from Xen's frame).
    pub rcx: u64,
    /// Saved `%rbx`.
    pub rbx: u64,
    /// Saved `%rax`.
    pub rax: u64,
    /// Vector, pushed by the entry stub.
    pub vector: u64,
    /// Error code (0 where the exception has none).
    pub error_code: u64,
    /// Interrupted `RIP`.
    pub rip: u64,
    /// Interrupted `CS` (RPL 0 from guest-kernel mode), event mask in bits
    /// 32+.
    pub cs: u64,
    /// Interrupted `RFLAGS`.
    pub rflags: u64,
    /// Interrupted `RSP`.
    pub rsp: u64,
    /// Interrupted `SS`.
    pub ss: u64,
}

global_asm!(
    ".macro pv_fault_stub vec:req, err:req",
    ".balign 16",
    "pv_fault_entry_\\vec:",
    "    pop %rcx",
    "    pop %r11",
    "    .if \\err == 0",
    "    pushq $0",
    "    .endif",
    "    pushq $\\vec",
    "    jmp pv_fault_common",
    ".endm",
    "",
    ".pushsection .text.pv_fault, \"ax\", @progbits",
    "pv_fault_stub 0, 0",
    "pv_fault_stub 1, 0",
    "pv_fault_stub 2, 0",
    "pv_fault_stub 3, 0",
    "pv_fault_stub 4, 0",
    "pv_fault_stub 5, 0",
    "pv_fault_stub 6, 0",
    "pv_fault_stub 7, 0",
    "pv_fault_stub 8, 1",
    "pv_fault_stub 9, 0",
    "pv_fault_stub 10, 1",
    "pv_fault_stub 11, 1",
    "pv_fault_stub 12, 1",
    "pv_fault_stub 13, 1",
    "pv_fault_stub 14, 1",
    "pv_fault_stub 15, 0",
    "pv_fault_stub 16, 0",
    "pv_fault_stub 17, 1",
    "pv_fault_stub 18, 0",
    "pv_fault_stub 19, 0",
    "",
    ".balign 16",
    "pv_fault_common:",
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
    "    mov %rsp, %rbx",
    "    and $-16, %rsp",
    "    cld",
    "    call pv_fault_dispatch",
    "    mov %rbx, %rsp",
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
    // Drop the vector and error code: RIP, CS, RFLAGS, RSP, SS remain.
    "    add $16, %rsp",
    // HYPERVISOR_iret: iret_context { rax, r11, rcx, flags = 0, rip, ... }.
    "    pushq $0",
    "    push %rcx",
    "    push %r11",
    "    push %rax",
    "    mov ${iret}, %eax",
    "    syscall",
    "    ud2",
    ".popsection",
    "",
    ".pushsection .rodata.pv_fault, \"a\", @progbits",
    ".balign 8",
    ".globl pv_fault_entries",
    "pv_fault_entries:",
    "    .quad pv_fault_entry_0, pv_fault_entry_1, pv_fault_entry_2, pv_fault_entry_3",
    "    .quad pv_fault_entry_4, pv_fault_entry_5, pv_fault_entry_6, pv_fault_entry_7",
    "    .quad pv_fault_entry_8, pv_fault_entry_9, pv_fault_entry_10, pv_fault_entry_11",
    "    .quad pv_fault_entry_12, pv_fault_entry_13, pv_fault_entry_14, pv_fault_entry_15",
    "    .quad pv_fault_entry_16, pv_fault_entry_17, pv_fault_entry_18, pv_fault_entry_19",
    ".popsection",
    iret = const Hypercall::Iret.raw(),
    options(att_syntax),
);

unsafe extern "C" {
    /// Addresses of the entry stubs, by vector.
    #[link_name = "pv_fault_entries"]
    static PV_FAULT_ENTRIES: [u64; NR_VECTORS];
}

/// Called by the common entry code with the saved frame: resume a probe at
/// its fixup, or report an unexpected exception and end the test.
#[unsafe(no_mangle)]
extern "C" fn pv_fault_dispatch(frame: *mut Frame) {
    // SAFETY: the entry code passes a pointer to the frame it just built on
    // this stack; nothing else refers to it until the handler returns.
    let Some(frame) = (unsafe { frame.as_mut() }) else { return };
    let vector = u8::try_from(frame.vector).unwrap_or(u8::MAX);
    let cr2 = if vector == PF { read_cr2() } else { None };
    let fixup = PV_FAULT_FIXUP.swap(0, Ordering::Relaxed);
    if fixup != 0 {
        LAST_ERROR.store(frame.error_code, Ordering::Relaxed);
        LAST_RIP.store(frame.rip, Ordering::Relaxed);
        LAST_CR2.store(cr2.unwrap_or(0), Ordering::Relaxed);
        LAST_CR2_KNOWN.store(cr2.is_some(), Ordering::Relaxed);
        LAST_VECTOR.store(frame.vector, Ordering::Relaxed);
        frame.rip = fixup;
        return;
    }
    unexpected(frame, vector, cr2)
}

/// `vcpu_info[0].arch.cr2`, if the kernel told us where it is mapped.
fn read_cr2() -> Option<u64> {
    let va = CR2_SOURCE.load(Ordering::Relaxed);
    if va == 0 {
        return None;
    }
    let ptr = core::ptr::with_exposed_provenance::<u64>(usize::try_from(va).ok()?);
    // SAFETY: `set_cr2_source` was given the address of the cr2 field of the
    // kernel's mapping of its shared-info page, which stays mapped.
    Some(unsafe { ptr.read_volatile() })
}

/// An exception outside a probe: print it, record FAILURE, end the test.
fn unexpected(frame: &Frame, vector: u8, cr2: Option<u64>) -> ! {
    if REPORTING.swap(true, Ordering::Relaxed) {
        // A fault while reporting one: give up at once.
        let _ = ops::sched_shutdown_via(Via::Syscall, ShutdownReason::Crash);
        loop {
            core::hint::spin_loop();
        }
    }
    let fault = Fault { vector, error_code: frame.error_code, rip: frame.rip, cr2 };
    crate::fail(format_args!(
        "unexpected exception {fault} (cs {:#x}, rflags {:#x}, rsp {:#x}; rax {:#x} rcx {:#x} \
         rdx {:#x} rsi {:#x} rdi {:#x})",
        frame.cs, frame.rflags, frame.rsp, frame.rax, frame.rcx, frame.rdx, frame.rsi, frame.rdi
    ));
    crate::report()
}

/// The handler of `vector` that [`install`] registers (vectors 0–19 but
/// 15), e.g. for a secondary vCPU's `trap_ctxt`.
#[must_use]
pub fn handler_address(vector: u8) -> Option<u64> {
    if vector == RESERVED_VECTOR {
        return None;
    }
    // SAFETY: the table is emitted by the global_asm block above and is
    // never written.
    let entries: &[u64; NR_VECTORS] = unsafe { &PV_FAULT_ENTRIES };
    entries.get(usize::from(vector)).copied()
}

/// Registers the handlers with `set_trap_table`.
pub fn install() -> Result<(), XenError> {
    let empty = TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 };
    let mut table = [empty; NR_VECTORS + 1];
    // SAFETY: the table is emitted by the global_asm block above and is
    // never written.
    let entries: &[u64; NR_VECTORS] = unsafe { &PV_FAULT_ENTRIES };
    let mut slots = table.iter_mut();
    for (vector, &address) in (0u8..).zip(entries.iter()) {
        if vector == RESERVED_VECTOR {
            continue;
        }
        if let Some(slot) = slots.next() {
            // DPL 0, events masked on entry (an interrupt gate, like XTF).
            *slot =
                TrapInfo { vector, flags: TrapInfo::IF_FLAG, cs: FLAT_KERNEL_CS, pad0: 0, address };
        }
    }
    // SAFETY: set_trap_table only reads the table, which ends with a zero
    // entry (the array has one slot more than the vectors installed).
    let ret = unsafe {
        hypercall::hypercall1(Hypercall::SetTrapTable.raw(), table.as_ptr().addr() as u64)
    };
    ops::result(ret).map(drop)
}

/// Forgets any earlier record; called by [`probe!`](crate::probe) before
/// the instructions run.
pub fn arm() {
    LAST_VECTOR.store(NONE, Ordering::Relaxed);
}

/// Disarms the probe and returns what it caught.
pub fn take() -> Option<Fault> {
    PV_FAULT_FIXUP.store(0, Ordering::Relaxed);
    let vector = LAST_VECTOR.swap(NONE, Ordering::Relaxed);
    if vector == NONE {
        return None;
    }
    Some(Fault {
        vector: u8::try_from(vector).unwrap_or(u8::MAX),
        error_code: LAST_ERROR.load(Ordering::Relaxed),
        rip: LAST_RIP.load(Ordering::Relaxed),
        cr2: LAST_CR2_KNOWN.load(Ordering::Relaxed).then(|| LAST_CR2.load(Ordering::Relaxed)),
    })
}

/// Runs instructions (AT&T syntax) and returns the exception they raised,
/// if any, as `Option<`[`Fault`]`>`; execution resumes after them either
/// way. `%r11` is clobbered; numeric label `2` is taken. Operands follow a
/// `;`, as in `asm!`:
///
/// ```ignore
/// // SAFETY: rdmsr only reads an MSR (or faults).
/// let fault = unsafe { pv_tests::probe!("rdmsr"; in("ecx") msr, out("eax") lo, out("edx") hi) };
/// ```
///
/// After an exception, output operands hold whatever the registers held
/// when it was raised. Must be used inside `unsafe`: the instructions can do
/// anything.
#[macro_export]
macro_rules! probe {
    ($($insn:literal),+ $(; $($operands:tt)+)?) => {{
        $crate::fault::arm();
        ::core::arch::asm!(
            "lea 2f(%rip), %r11",
            "mov %r11, pv_fault_fixup(%rip)",
            $($insn,)+
            "2:",
            $($($operands)+,)?
            out("r11") _,
            options(att_syntax),
        );
        $crate::fault::take()
    }};
}
