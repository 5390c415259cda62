// SPDX-License-Identifier: GPL-2.0-only
//! Trap and interrupt dispatch from the entry stubs.
//!
//! A fault in hypervisor context is fatal: the CPU state is printed in Xen's
//! format and the hypervisor panics. Interrupt vectors go to the local APIC
//! handlers. NMIs go to the composition root's NMI handler
//! ([`set_nmi_handler`]), which decides by `nmi=`; they are fatal only
//! without one. (Guest traps are bounced in a later issue; the frame layout is
//! already Xen's `cpu_user_regs`.)
use core::fmt;

use crate::apic;

/// Vector of the console UART's receive interrupt (routed through the
/// IO-APIC; below the high-priority IPI and timer vectors, as Xen's
/// dynamically allocated device vectors are).
pub const SERIAL_VECTOR: u8 = 0x60;
/// Vector of the local APIC timer (Xen's `LOCAL_TIMER_VECTOR`).
pub const LOCAL_TIMER_VECTOR: u8 = 0xfa;
/// Vector of the "call function" IPI.
pub const CALL_FUNCTION_VECTOR: u8 = 0xfb;
/// Vector of the "event check" IPI (wakes a CPU).
pub const EVENT_CHECK_VECTOR: u8 = 0xfc;
/// Vector of the TLB-shootdown IPI.
pub const INVALIDATE_TLB_VECTOR: u8 = 0xfd;
/// Vector of the local APIC error interrupt.
pub const ERROR_APIC_VECTOR: u8 = 0xfe;
/// Vector of the local APIC spurious interrupt.
pub const SPURIOUS_APIC_VECTOR: u8 = 0xff;

/// The frame the entry stubs build: Xen's `struct cpu_user_regs` up to and
/// including `ss` (the part the CPU and the stubs push). It is a prefix of
/// [`guest_abi::xen::CpuUserRegs`], whose trailing `es`/`ds`/`fs`/`gs` slots
/// exist only in a vCPU's saved context, never on a hypervisor stack; the
/// asserts below keep the two layouts in step. `cs` and `ss` are whole
/// quadwords here because the CPU pushes them so (guest-abi splits the upper
/// bytes into padding and `saved_upcall_mask`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct CpuUserRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub error_code: u32,
    pub entry_vector: u32,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Assert that field `$f` sits at the same offset in the frame and in Xen's struct.
macro_rules! same_offset {
    ($($f:ident),+) => {
        $(assert!(
            core::mem::offset_of!(CpuUserRegs, $f)
                == core::mem::offset_of!(guest_abi::xen::CpuUserRegs, $f)
        );)+
    };
}

const _: () = {
    assert!(core::mem::size_of::<CpuUserRegs>() == 21 * 8);
    same_offset!(r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi);
    same_offset!(error_code, entry_vector, rip, cs, rflags, rsp, ss);
};

/// Exception names, by vector.
const EXCEPTION_NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "nmi",
    "int3",
    "overflow",
    "bounds",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid tss",
    "segment not found",
    "stack error",
    "general protection fault",
    "page fault",
    "spurious interrupt bug",
    "coprocessor error",
    "alignment check",
    "machine check",
    "simd error",
    "virtualisation exception",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "vmm communication",
    "security exception",
    "reserved",
];

/// The name of exception `vector`.
#[must_use]
pub fn exception_name(vector: u32) -> &'static str {
    usize::try_from(vector)
        .ok()
        .and_then(|v| EXCEPTION_NAMES.get(v))
        .copied()
        .unwrap_or("interrupt")
}

/// Register dump in Xen's layout.
pub struct RegisterDump<'a> {
    /// The registers.
    pub regs: &'a CpuUserRegs,
    /// CPU number.
    pub cpu: u32,
}

impl fmt::Display for RegisterDump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.regs;
        let context = if r.cs & 3 == 0 { "hypervisor" } else { "guest" };
        writeln!(f, "----[ Xen-rust  x86_64  debug=n  Not tainted ]----")?;
        writeln!(f, "CPU:    {}", self.cpu)?;
        writeln!(f, "RIP:    {:04x}:[<{:016x}>]", r.cs, r.rip)?;
        writeln!(f, "RFLAGS: {:016x}   CONTEXT: {context}", r.rflags)?;
        writeln!(f, "rax: {:016x}   rbx: {:016x}   rcx: {:016x}", r.rax, r.rbx, r.rcx)?;
        writeln!(f, "rdx: {:016x}   rsi: {:016x}   rdi: {:016x}", r.rdx, r.rsi, r.rdi)?;
        writeln!(f, "rbp: {:016x}   rsp: {:016x}   r8:  {:016x}", r.rbp, r.rsp, r.r8)?;
        writeln!(f, "r9:  {:016x}   r10: {:016x}   r11: {:016x}", r.r9, r.r10, r.r11)?;
        writeln!(f, "r12: {:016x}   r13: {:016x}   r14: {:016x}", r.r12, r.r13, r.r14)?;
        writeln!(
            f,
            "r15: {:016x}   cr2: {:016x}   cr3: {:016x}",
            r.r15,
            crate::cpu::read_cr2(),
            crate::cpu::read_cr3()
        )?;
        write!(f, "ss: {:04x}   cs: {:04x}", r.ss, r.cs)
    }
}

/// Handler for device and IPI vectors (installed by the composition root).
pub type IrqHandler = fn(vector: u8, regs: &mut CpuUserRegs);

static IRQ_HANDLER: spin::Once<IrqHandler> = spin::Once::new();

/// Install the handler for non-exception vectors.
pub fn set_irq_handler(handler: IrqHandler) {
    IRQ_HANDLER.call_once(|| handler);
}

/// The NMI vector.
pub const NMI_VECTOR: u32 = 2;

/// Handler for NMIs (installed by the composition root).
///
/// It runs on the CPU's NMI IST stack with further NMIs blocked until the
/// `iretq` that ends it, whatever was interrupted: hypervisor code with or
/// without interrupts enabled (even the first instructions of an entry stub,
/// still on a guest stack), or a guest. It must therefore take no lock
/// that the interrupted code may hold (only `try_lock`), not allocate, and
/// not fault (a nested exception's `iretq` would unblock NMIs while this
/// stack is in use).
pub type NmiHandler = fn(regs: &CpuUserRegs, cpu: u32);

static NMI_HANDLER: spin::Once<NmiHandler> = spin::Once::new();

/// Install the NMI handler.
pub fn set_nmi_handler(handler: NmiHandler) {
    NMI_HANDLER.call_once(|| handler);
}

/// An NMI: the registered handler, or fatal without one. Returning pops
/// the frame the stub built on the NMI IST stack and `iretq`s to exactly
/// the interrupted context (ring 0 or a guest in ring 3, its RFLAGS.IF as it
/// was); guest state is not touched, since the interrupted code may be in
/// the middle of changing it.
fn handle_nmi(regs: &CpuUserRegs) {
    match NMI_HANDLER.get() {
        Some(h) => h(regs, crate::smp::this_cpu()),
        None => fatal_trap(regs),
    }
}

/// Called by `trap_common` with the saved registers.
#[unsafe(no_mangle)]
extern "C" fn handle_trap(regs: &mut CpuUserRegs) {
    let vector = regs.entry_vector;
    if vector == NMI_VECTOR {
        handle_nmi(regs);
        return;
    }
    // From ring 3 (except on the IST vectors, whose frames are elsewhere),
    // the frame is this CPU's guest frame at the top of its stack, with
    // room for the whole `cpu_user_regs`.
    if regs.cs & 3 == 3 && !matches!(vector, 2 | 8 | 18) {
        let p = core::ptr::from_mut(regs).cast::<guest_abi::xen::CpuUserRegs>();
        if let Some(cpu) = crate::entry::frame_cpu(p as u64) {
            if matches!(vector, crate::entry::TRAP_SYSCALL | crate::entry::TRAP_SYSCALL32) {
                crate::entry::guest_syscall(cpu, full_again(p));
                return;
            }
            if vector >= 32 {
                if let Ok(v) = u8::try_from(vector)
                    && v != SPURIOUS_APIC_VECTOR
                {
                    if let Some(h) = IRQ_HANDLER.get() {
                        h(v, regs);
                    }
                    apic::eoi();
                }
                // Give the guest layer its chance to deliver events.
                crate::entry::guest_trap(cpu, full_again(p));
                return;
            }
            crate::entry::guest_trap(cpu, full_again(p));
            return;
        }
    }
    if vector == 1 {
        hypervisor_debug_trap(regs);
        return;
    }
    match u8::try_from(vector) {
        Ok(v) if v >= 32 => {
            if v == SPURIOUS_APIC_VECTOR {
                return;
            }
            if let Some(h) = IRQ_HANDLER.get() {
                h(v, regs);
            }
            apic::eoi();
        }
        _ => fatal_trap(regs),
    }
}

/// `#DB` in hypervisor context (Xen's `do_debug` for `!guest_mode`): a
/// guest's data breakpoint stays armed while the hypervisor runs for it,
/// and a watched address may be touched here. It is restartable: go on
/// (without logging, which could need a lock the interrupted code holds);
/// an instruction breakpoint (a fault, which would recur) disarms DR7
/// first. Guests cannot point breakpoints at hypervisor addresses.
fn hypervisor_debug_trap(regs: &mut CpuUserRegs) {
    let dr6 = crate::cpu::read_dr6();
    crate::cpu::write_dr(6, crate::cpu::DR6_DEFAULT);
    let dr7 = crate::cpu::read_dr7();
    // (B bit, enable bits, RW field) of each breakpoint; RW 00 = execute.
    let bps = [
        (1u64, 3u64, 3u64 << 16),
        (2, 3 << 2, 3 << 20),
        (4, 3 << 4, 3 << 24),
        (8, 3 << 6, 3 << 28),
    ];
    let insn_bp =
        bps.iter().any(|&(hit, enable, rw)| dr6 & hit != 0 && dr7 & enable != 0 && dr7 & rw == 0);
    if insn_bp {
        crate::cpu::write_dr(7, 0);
    }
    // Single-stepping cannot reach ring 0 (SFMASK and the IDT clear TF).
    regs.rflags &= !(1 << 8);
}

/// Re-borrows the guest frame after the IRQ handler's borrow ended.
fn full_again(p: *mut guest_abi::xen::CpuUserRegs) -> &'static mut guest_abi::xen::CpuUserRegs {
    // SAFETY: `p` is this CPU's guest frame (checked by the caller); no
    // other reference to it is live.
    unsafe { &mut *p }
}

fn fatal_trap(regs: &CpuUserRegs) -> ! {
    let cpu = crate::smp::this_cpu();
    log::error!("{}", RegisterDump { regs, cpu });
    if regs.entry_vector == 14 {
        panic!(
            "FATAL TRAP: vector = {} ({})\n[error_code={:04x}] faulting linear address: {:016x}",
            regs.entry_vector,
            exception_name(regs.entry_vector),
            regs.error_code,
            crate::cpu::read_cr2()
        );
    }
    panic!(
        "FATAL TRAP: vector = {} ({})\n[error_code={:04x}]",
        regs.entry_vector,
        exception_name(regs.entry_vector),
        regs.error_code
    );
}
