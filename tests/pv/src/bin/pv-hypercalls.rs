// SPDX-License-Identifier: GPL-2.0-only
//! `pv-hypercalls`: `multicall`, the debug-register hypercalls and
//! `CONSOLEIO_read`, positive and negative.
//!
//! * `multicall` runs its entries in order and stores each result:
//!   `xen_version(XENVER_version)`, an unknown hypercall (`-ENOSYS`), a
//!   `console_io` write, and a nested `multicall` (refused, `-EINVAL`); the
//!   call itself returns 0. A list at an unmapped address is `-EFAULT`.
//!   An `iret` entry ends the batch as in Xen: the kernel resumes at the
//!   iret frame (its `RIP`, `RSP`, `RCX`, `R11`) with the frame's `RAX` as
//!   the multicall's return value, the `iret` entry's result is that `RAX`,
//!   the entry before it ran and the one after it did not.
//! * `set_debugreg`/`get_debugreg`: DR0–DR3 take guest addresses and read
//!   back; an address in the hypervisor's range is `-EPERM`; DR6 reads with
//!   its always-one bits; DR7 and DR6 with upper bits set are `-EINVAL`,
//!   DR7.GD `-EPERM`; DR4/DR5 alias DR6/DR7 (CR4.DE clear); register 8 is
//!   `-ENODEV` (all as Debian's Xen 4.17 answers).
//! * a data breakpoint (DR0 on a variable, DR7 write-watch) is loaded
//!   into the CPU: reading the variable does not trap, writing it raises
//!   `#DB` in the guest after the store, with B0 in `get_debugreg(6)`;
//!   after DR7 is cleared the write does not trap;
//! * `CONSOLEIO_read` (dom0) with no input waiting returns 0 and leaves
//!   the buffer alone; a count of 0 returns 0.
#![no_std]
#![no_main]

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use pv_tests::guest_abi::xen::{
    ConsoleIoCmd, Errno, FLAT_KERNEL_CS, FLAT_KERNEL_SS, Hypercall, MulticallEntry,
};
use pv_tests::{StartInfo, check, check_eq};
use pv_tests::{fault, hypercall, probe};

pv_tests::test_kernel!(name: "hypercalls", main: test_main);

/// An unassigned hypercall number.
const UNKNOWN_HYPERCALL: u64 = 60;
/// An unmapped low address.
const UNMAPPED: u64 = 0x1000;
/// Start of the hypervisor's range.
const HYPERVISOR_ADDRESS: u64 = 0xFFFF_8000_0000_0000;

fn neg(e: Errno) -> u64 {
    i64::from(e.raw()).wrapping_neg().cast_unsigned()
}

/// The `RAX`, `RCX` and `R11` the `iret` frame of [`multicall_iret`] holds.
const FRAME_RAX: u64 = 0x1234_5678_9abc_def0;
const FRAME_RCX: u64 = 0x0c0c_0c0c_0c0c_0c0c;
const FRAME_R11: u64 = 0x0b0b_0b0b_0b0b_0b0b;

/// Set by `pv_multicall_iret` when the vCPU resumed at the iret frame's
/// `RIP` (1) or returned from the `syscall` as from a plain hypercall (2);
/// `RCX`, `R11` and `RSP` there, and the `RSP` the frame named.
#[unsafe(no_mangle)]
static PV_MC_WHERE: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static PV_MC_RCX: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static PV_MC_R11: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static PV_MC_RSP: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static PV_MC_FRAME_RSP: AtomicU64 = AtomicU64::new(1);

global_asm!(
    // u64 pv_multicall_iret(list, nr): a multicall issued with an iret
    // frame at RSP (RIP = 1f, RSP = the caller's frame, events masked).
    ".pushsection .text.pv_multicall_iret, \"ax\", @progbits",
    ".globl pv_multicall_iret",
    "pv_multicall_iret:",
    "    push %rbp",
    "    mov %rsp, %rbp",
    "    mov %rbp, PV_MC_FRAME_RSP(%rip)",
    // iret_context: rax, r11, rcx, flags, rip, cs, rflags, rsp, ss.
    "    pushq ${ss}",
    "    push %rbp",
    "    pushq $0x2",
    "    pushq ${cs}",
    "    lea 1f(%rip), %rax",
    "    push %rax",
    "    pushq $0",
    "    movabs ${rcx}, %rax",
    "    push %rax",
    "    movabs ${r11}, %rax",
    "    push %rax",
    "    movabs ${rax}, %rax",
    "    push %rax",
    "    mov ${multicall}, %eax",
    "    syscall",
    "    movq $2, PV_MC_WHERE(%rip)",
    "    mov %rbp, %rsp",
    "    pop %rbp",
    "    ret",
    "1:  movq $1, PV_MC_WHERE(%rip)",
    "    mov %rcx, PV_MC_RCX(%rip)",
    "    mov %r11, PV_MC_R11(%rip)",
    "    mov %rsp, PV_MC_RSP(%rip)",
    "    mov %rbp, %rsp",
    "    pop %rbp",
    "    ret",
    ".popsection",
    ss = const FLAT_KERNEL_SS,
    cs = const FLAT_KERNEL_CS & !3,
    rcx = const FRAME_RCX,
    r11 = const FRAME_R11,
    rax = const FRAME_RAX,
    multicall = const Hypercall::Multicall.raw(),
    options(att_syntax),
);

unsafe extern "C" {
    /// See the `global_asm!`: returns RAX as the vCPU resumed.
    fn pv_multicall_iret(list: u64, nr: u64) -> u64;
}

fn test_main(_si: &StartInfo) {
    multicall();
    multicall_iret();
    debugregs();
    watchpoint();
    console_read();
}

fn multicall() {
    let msg = b"multicall console_io write\n";
    let mut inner =
        [MulticallEntry { op: u64::from(Hypercall::XenVersion.raw()), result: 0, args: [0; 6] }];
    let mut list = [
        MulticallEntry { op: u64::from(Hypercall::XenVersion.raw()), result: 1, args: [0; 6] },
        MulticallEntry { op: UNKNOWN_HYPERCALL, result: 1, args: [0; 6] },
        MulticallEntry {
            op: u64::from(Hypercall::ConsoleIo.raw()),
            result: 1,
            args: [
                u64::from(ConsoleIoCmd::Write.raw()),
                msg.len() as u64,
                msg.as_ptr().addr() as u64,
                0,
                0,
                0,
            ],
        },
        MulticallEntry {
            op: u64::from(Hypercall::Multicall.raw()),
            result: 1,
            args: [inner.as_mut_ptr().addr() as u64, 1, 0, 0, 0, 0],
        },
    ];
    // SAFETY: the hypervisor reads and updates `list` (and nothing else:
    // the nested multicall is refused before it reads `inner`).
    let ret = unsafe {
        hypercall::hypercall2(
            Hypercall::Multicall.raw(),
            list.as_mut_ptr().addr() as u64,
            list.len() as u64,
        )
    };
    check_eq(ret, 0, "multicall of 4 entries returns 0");
    // SAFETY: a plain xen_version(XENVER_version).
    let version = unsafe { hypercall::hypercall2(Hypercall::XenVersion.raw(), 0, 0) };
    check_eq(list[0].result, version.cast_unsigned(), "entry 0: xen_version's result");
    check_eq(list[1].result, neg(Errno::ENOSYS), "entry 1: an unknown hypercall is -ENOSYS");
    check_eq(list[2].result, 0, "entry 2: console_io write returns 0");
    check_eq(list[3].result, neg(Errno::EINVAL), "entry 3: a nested multicall is -EINVAL");
    check_eq(inner[0].result, 0, "the nested list was not run");
    // SAFETY: the list address is unmapped; the hypervisor must refuse it.
    let ret = unsafe { hypercall::hypercall2(Hypercall::Multicall.raw(), UNMAPPED, 1) };
    check_eq(ret, i64::from(Errno::EFAULT.raw()).wrapping_neg(), "multicall from an unmapped list");
    // SAFETY: no entries: nothing is read.
    let ret = unsafe { hypercall::hypercall2(Hypercall::Multicall.raw(), UNMAPPED, 0) };
    check_eq(ret, 0, "multicall of 0 entries");
}

/// An `iret` inside a `multicall`.
fn multicall_iret() {
    let version = u64::from(Hypercall::XenVersion.raw());
    let mut list = [
        MulticallEntry { op: version, result: 1, args: [0; 6] },
        MulticallEntry { op: u64::from(Hypercall::Iret.raw()), result: 1, args: [0; 6] },
        MulticallEntry { op: version, result: 1, args: [0; 6] },
    ];
    // SAFETY: the hypervisor reads and updates `list`; the iret entry
    // resumes the vCPU inside `pv_multicall_iret`, which then returns to
    // here normally (callee-saved registers kept, RCX/R11 are scratch).
    let rax = unsafe { pv_multicall_iret(list.as_mut_ptr().addr() as u64, list.len() as u64) };
    let place = PV_MC_WHERE.load(Ordering::SeqCst);
    check_eq(place, 1, "multicall with an iret entry resumes at the iret frame's RIP (1)");
    // Xen 4.17 returns the entry's result as its `int rc`: the low 32 bits
    // of the frame's RAX, sign-extended.
    let low = u32::try_from(FRAME_RAX & 0xffff_ffff).unwrap_or(0);
    let as_int = i64::from(low.cast_signed()).cast_unsigned();
    check_eq(rax, as_int, "... with the frame's RAX (as an int) as the multicall's result");
    check_eq(
        (PV_MC_RCX.load(Ordering::SeqCst), PV_MC_R11.load(Ordering::SeqCst)),
        (FRAME_RCX, FRAME_R11),
        "... and the frame's RCX and R11",
    );
    check_eq(
        PV_MC_RSP.load(Ordering::SeqCst),
        PV_MC_FRAME_RSP.load(Ordering::SeqCst),
        "... on the frame's RSP",
    );
    // SAFETY: a plain xen_version(XENVER_version).
    let v = unsafe { hypercall::hypercall2(Hypercall::XenVersion.raw(), 0, 0) };
    check_eq(list[0].result, v.cast_unsigned(), "entry 0 (before the iret) ran");
    check_eq(list[1].result, FRAME_RAX, "entry 1: the iret's result is the frame's RAX");
    check_eq(list[2].result, 1, "entry 2 (after the iret) did not run");
}

fn set_debugreg(reg: u64, value: u64) -> i64 {
    // SAFETY: only sets the virtual debug register.
    unsafe { hypercall::hypercall2(Hypercall::SetDebugreg.raw(), reg, value) }
}

fn get_debugreg(reg: u64) -> i64 {
    // SAFETY: only reads the virtual debug register.
    unsafe { hypercall::hypercall1(Hypercall::GetDebugreg.raw(), reg) }
}

fn debugregs() {
    let eperm = i64::from(Errno::EPERM.raw()).wrapping_neg();
    let einval = i64::from(Errno::EINVAL.raw()).wrapping_neg();
    let enodev = i64::from(Errno::ENODEV.raw()).wrapping_neg();
    for (reg, addr) in
        [(0u64, 0x1000u64), (1, 0x7fff_ffff_f000), (2, 0xffff_ffff_8010_0000), (3, 8)]
    {
        check_eq(set_debugreg(reg, addr), 0, format_args!("set_debugreg({reg}, {addr:#x})"));
        check_eq(get_debugreg(reg).cast_unsigned(), addr, format_args!("get_debugreg({reg})"));
    }
    check_eq(set_debugreg(0, HYPERVISOR_ADDRESS), eperm, "DR0 in the hypervisor's range");
    check_eq(get_debugreg(0), 0x1000, "DR0 unchanged after the refusal");
    check_eq(set_debugreg(6, 0), 0, "set_debugreg(6, 0)");
    check_eq(get_debugreg(6), 0xffff_0ff0, "DR6 reads with its always-one bits");
    check_eq(set_debugreg(6, 1 << 32), einval, "DR6 with upper bits");
    check_eq(set_debugreg(7, 1 << 40), einval, "DR7 with upper bits");
    check_eq(set_debugreg(7, 1 << 13), eperm, "DR7.GD");
    check_eq(set_debugreg(7, 0), 0, "set_debugreg(7, 0)");
    check_eq(get_debugreg(7), 0x400, "DR7 reads with bit 10 set");
    check_eq(set_debugreg(4, 0), 0, "register 4 (DR6 while CR4.DE is clear)");
    check_eq(get_debugreg(5), 0x400, "register 5 reads DR7");
    check_eq(set_debugreg(8, 0), enodev, "set_debugreg(8)");
    check_eq(get_debugreg(8), enodev, "get_debugreg(8)");
}

/// The variable [`watchpoint`] watches.
static WATCHED: AtomicU64 = AtomicU64::new(0);

/// A guest data breakpoint: DR0 on [`WATCHED`], DR7 = L0 | write | 8 bytes.
/// A read does not trap; a write traps into the guest's `#DB` handler
/// after the store (a trap: the value is written) and `get_debugreg(6)`
/// then shows B0; with DR7 cleared a write does not trap any more.
fn watchpoint() {
    if let Err(e) = fault::install() {
        pv_tests::error(format_args!("set_trap_table: {e}"));
        return;
    }
    let addr = WATCHED.as_ptr().addr() as u64;
    check_eq(set_debugreg(6, 0), 0, "set_debugreg(6, 0)");
    check_eq(set_debugreg(0, addr), 0, format_args!("set_debugreg(0, {addr:#x})"));
    let dr7: u64 = 1 | (1 << 16) | (3 << 18);
    check_eq(set_debugreg(7, dr7), 0, format_args!("set_debugreg(7, {dr7:#x})"));
    // SAFETY: reads the watched variable (or faults, caught).
    let read = unsafe { probe!("mov ({p}), {v}"; p = in(reg) addr, v = out(reg) _) };
    check(
        read.is_none(),
        format_args!(
            "a read of the write-watched variable does not trap: {}",
            fault::Outcome(read)
        ),
    );
    check_eq(get_debugreg(6), 0xffff_0ff0, "DR6 still clear after the read");
    // SAFETY: writes the watched variable, a static of ours (the #DB is caught).
    let hit = unsafe { probe!("movq $0x1234, ({p})"; p = in(reg) addr) };
    check(
        hit.is_some_and(|f| f.vector == 1 && f.error_code == 0),
        format_args!(
            "a write to the watched variable traps to the #DB handler: {}",
            fault::Outcome(hit)
        ),
    );
    check_eq(
        WATCHED.load(Ordering::SeqCst),
        0x1234,
        "the store completed (a data breakpoint traps)",
    );
    let dr6 = get_debugreg(6);
    check(
        dr6 & 0xf == 1 && dr6 & 0xffff_0ff0 == 0xffff_0ff0,
        format_args!("get_debugreg(6) after the hit: {dr6:#x} (B0 set)"),
    );
    check_eq(set_debugreg(7, 0), 0, "set_debugreg(7, 0)");
    // SAFETY: as above; nothing may trap now.
    let after = unsafe { probe!("movq $0x5678, ({p})"; p = in(reg) addr) };
    check(
        after.is_none(),
        format_args!("with DR7 cleared the write does not trap: {}", fault::Outcome(after)),
    );
}

fn console_read() {
    let mut buf = [0x5au8; 32];
    // SAFETY: the hypervisor writes at most 32 bytes into `buf`.
    let ret = unsafe {
        hypercall::hypercall3(
            Hypercall::ConsoleIo.raw(),
            u64::from(ConsoleIoCmd::Read.raw()),
            buf.len() as u64,
            buf.as_mut_ptr().addr() as u64,
        )
    };
    check(ret >= 0, format_args!("CONSOLEIO_read (dom0) returns a count: {ret}"));
    if ret == 0 {
        check(buf.iter().all(|&b| b == 0x5a), "no input: the buffer is untouched");
    }
    // SAFETY: a zero count reads nothing.
    let ret = unsafe {
        hypercall::hypercall3(
            Hypercall::ConsoleIo.raw(),
            u64::from(ConsoleIoCmd::Read.raw()),
            0,
            buf.as_mut_ptr().addr() as u64,
        )
    };
    check_eq(ret, 0, "CONSOLEIO_read of 0 bytes");
}
