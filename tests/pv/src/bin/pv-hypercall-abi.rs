// SPDX-License-Identifier: GPL-2.0-only
//! `pv-hypercall-abi`: the 64-bit PV hypercall calling convention.
//!
//! Checks, through both the hypercall page and a direct `syscall`:
//!
//! * both give the same `xen_version(XENVER_version)`;
//! * an unknown `xen_version` sub-op and an unknown hypercall number return
//!   `-ENOSYS`;
//! * `console_io(CONSOLEIO_write)` from an address in the hypervisor's
//!   private range, and from an unmapped low address, returns `-EFAULT`;
//! * `XENVER_extraversion` writes exactly its 16 bytes into a `.bss`
//!   buffer, NUL-terminated and NUL-padded; `XENVER_capabilities` lists
//!   `xen-3.0-x86_64`;
//! * the callee-saved registers `%rbx`, `%rbp`, `%r12`–`%r15` survive a
//!   hypercall (an assembly probe loads patterns, enters the hypervisor and
//!   compares).
#![no_std]
#![no_main]

use core::arch::global_asm;
use core::cell::UnsafeCell;

use pv_tests::console::{Escaped, c_str};
use pv_tests::guest_abi::version::{XEN_EXTRAVERSION_LEN, XenVersionOp};
use pv_tests::guest_abi::xen::{
    ConsoleIoCmd, Errno, HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START, Hypercall, SIF_PRIVILEGED,
    START_INFO_MAGIC_X86_64,
};
use pv_tests::hypercall::{Via, stub_address};
use pv_tests::ops::{self, Ret};
use pv_tests::{StartInfo, check, check_eq, println, skip};

pv_tests::test_kernel!(name: "hypercall-abi", main: test_main);

/// An address in Xen's private part of the hypervisor hole
/// (`HYPERVISOR_VIRT_START + 0x400_0000_0000`, PML4 slot 264), never
/// accessible to a PV guest.
const XEN_PRIVATE_ADDRESS: u64 = 0xFFFF_8400_0000_0000;

/// A low address: unmapped unless the builder mapped something at 0.
const LOW_ADDRESS: u64 = 0x1000;

/// An unassigned hypercall number (Xen's table has 64 entries; 60 is free).
const UNKNOWN_HYPERCALL: u32 = 60;

/// A `xen_version` command that does not exist.
const UNKNOWN_XENVER: u32 = 64;

/// A `.bss` buffer for `XENVER_extraversion`: the 16 bytes Xen writes plus a
/// guard of the same size that must stay untouched.
struct BssBuffer(UnsafeCell<[u8; 2 * XEN_EXTRAVERSION_LEN]>);

// SAFETY: the kernel runs on one vCPU without interrupts; only `test_main`
// touches the buffer.
unsafe impl Sync for BssBuffer {}

static EXTRAVERSION: BssBuffer = BssBuffer(UnsafeCell::new([0; 2 * XEN_EXTRAVERSION_LEN]));

/// Fill byte of [`EXTRAVERSION`] before the hypercall.
const POISON: u8 = 0xa5;

fn test_main(si: &StartInfo) {
    check(
        si.magic_bytes().starts_with(START_INFO_MAGIC_X86_64),
        "start_info magic is the 64-bit PV one",
    );
    both_paths_agree();
    unknown_operations(si);
    bad_console_pointers(si);
    extraversion_in_bss();
    capabilities();
    callee_saved_registers();
}

/// `xen_version(XENVER_version)` by page and by `syscall`.
fn both_paths_agree() {
    let [page, direct] = Via::ALL.map(|via| {
        // SAFETY: XENVER_version takes no argument.
        unsafe { via.hypercall2(Hypercall::XenVersion.raw(), 0, 0) }
    });
    check(page > 0, format_args!("XENVER_version through the page: {}", Ret(page)));
    check(direct > 0, format_args!("XENVER_version through syscall: {}", Ret(direct)));
    check(
        direct == page,
        format_args!("XENVER_version: syscall {} == page {}", Ret(direct), Ret(page)),
    );
}

/// Unknown `xen_version` sub-op and unknown hypercall number: `-ENOSYS`.
fn unknown_operations(si: &StartInfo) {
    let enosys = Errno::ENOSYS.as_neg_i64();
    if XenVersionOp::try_from(UNKNOWN_XENVER).is_ok()
        || Hypercall::try_from(UNKNOWN_HYPERCALL).is_ok()
    {
        pv_tests::error("the 'unknown' numbers of this test are known to guest-abi");
        return;
    }
    for via in Via::ALL {
        // SAFETY: an unknown xen_version command reads and writes nothing.
        let ret =
            unsafe { via.hypercall2(Hypercall::XenVersion.raw(), u64::from(UNKNOWN_XENVER), 0) };
        // Xen's XSM hook refuses unknown commands to unprivileged domains
        // (-EPERM) before the switch can say -ENOSYS.
        let expected_eperm = si.flags & SIF_PRIVILEGED == 0 && ret == Errno::EPERM.as_neg_i64();
        check(
            ret == enosys || expected_eperm,
            format_args!(
                "xen_version({UNKNOWN_XENVER}) through {} returns -ENOSYS: {}",
                via.name(),
                Ret(ret)
            ),
        );
        // SAFETY: an unknown hypercall does nothing; its page stub exists (the
        // page has 128).
        let ret = unsafe { via.hypercall0(UNKNOWN_HYPERCALL) };
        check(
            ret == enosys,
            format_args!(
                "hypercall {UNKNOWN_HYPERCALL} through {} returns -ENOSYS: {}",
                via.name(),
                Ret(ret)
            ),
        );
    }
}

/// `console_io(CONSOLEIO_write)` from addresses the guest cannot access.
fn bad_console_pointers(si: &StartInfo) {
    let efault = Errno::EFAULT.as_neg_i64();
    let hole = HYPERVISOR_VIRT_START..HYPERVISOR_VIRT_END;
    if !hole.contains(&XEN_PRIVATE_ADDRESS) {
        pv_tests::error("XEN_PRIVATE_ADDRESS is outside the hypervisor hole");
        return;
    }
    let low_mapped = l4_entry_present(si, LOW_ADDRESS);
    for via in Via::ALL {
        for (address, what) in [(XEN_PRIVATE_ADDRESS, "hypervisor hole"), (LOW_ADDRESS, "low")] {
            if address == LOW_ADDRESS && low_mapped {
                skip(format_args!("{address:#x} is mapped: no unmapped-pointer check"));
                continue;
            }
            // SAFETY: CONSOLEIO_write only reads the buffer; the hypervisor
            // must refuse these addresses rather than read them.
            let ret = unsafe {
                via.hypercall3(
                    Hypercall::ConsoleIo.raw(),
                    u64::from(ConsoleIoCmd::Write.raw()),
                    16,
                    address,
                )
            };
            check(
                ret == efault,
                format_args!(
                    "console_io write from {what} address {address:#x} through {} returns \
                     -EFAULT: {}",
                    via.name(),
                    Ret(ret)
                ),
            );
        }
    }
}

/// Whether the L4 entry covering `address` is present in the initial page
/// tables (`start_info.pt_base`, mapped read-only by the builder).
fn l4_entry_present(si: &StartInfo, address: u64) -> bool {
    let index = usize::try_from(address.checked_shr(39).unwrap_or(0) & 0x1ff).unwrap_or(0);
    let l4 = si.pt_base as *const u64;
    if l4.is_null() || !l4.is_aligned() {
        return true; // Cannot tell: assume mapped, so the check is skipped.
    }
    // SAFETY: the builder maps the bootstrap page tables, the L4 at pt_base
    // among them, readable in the initial mapping; index < 512 stays inside
    // the 4 KiB page.
    let entry = unsafe { l4.wrapping_add(index).read_volatile() };
    entry & 1 != 0
}

/// `XENVER_extraversion` into a `.bss` buffer: 16 bytes, NUL-terminated and
/// NUL-padded, nothing written past them.
fn extraversion_in_bss() {
    let buf = EXTRAVERSION.0.get();
    // SAFETY: only this function uses the buffer (see `BssBuffer`).
    unsafe { buf.write([POISON; 2 * XEN_EXTRAVERSION_LEN]) };
    // SAFETY: XENVER_extraversion writes XEN_EXTRAVERSION_LEN bytes, and the
    // buffer is twice that.
    let ret = unsafe { ops::xen_version_raw(XenVersionOp::Extraversion.raw(), buf.cast::<u8>()) };
    check_eq(ret, 0, "XENVER_extraversion into .bss returns 0");
    // SAFETY: as above; the hypercall has finished writing.
    let bytes = unsafe { buf.read() };
    let (value, guard) = bytes.split_at(XEN_EXTRAVERSION_LEN);
    let text = c_str(value);
    println!("extraversion: \"{}\"", Escaped(text));
    check(text.len() < XEN_EXTRAVERSION_LEN, "XENVER_extraversion is NUL-terminated");
    let padding = value.get(text.len()..).unwrap_or(&[]);
    check(padding.iter().all(|&b| b == 0), "XENVER_extraversion is NUL-padded to 16 bytes");
    check(
        guard.iter().all(|&b| b == POISON),
        "XENVER_extraversion writes nothing past its 16 bytes",
    );
}

/// `XENVER_capabilities` lists the 64-bit PV guest type.
fn capabilities() {
    match ops::xen_capabilities() {
        Ok(caps) => {
            let text = c_str(&caps.0);
            let found =
                text.windows(START_INFO_MAGIC_X86_64.len()).any(|w| w == START_INFO_MAGIC_X86_64);
            check(
                found,
                format_args!("XENVER_capabilities \"{}\" has xen-3.0-x86_64", Escaped(text)),
            );
        }
        Err(e) => pv_tests::fail(format_args!("XENVER_capabilities: {e}")),
    }
}

/// The callee-saved registers survive a hypercall, by page and by syscall.
fn callee_saved_registers() {
    const NAMES: [&str; 6] = ["rbx", "rbp", "r12", "r13", "r14", "r15"];
    let thunk = (&raw const pv_syscall_thunk).addr() as u64;
    let targets = [(stub_address(Hypercall::XenVersion.raw()), "page"), (thunk, "syscall")];
    for (target, how) in targets {
        // SAFETY: the probe saves and restores every callee-saved register
        // itself and calls `target`, a hypercall stub or the syscall thunk,
        // with xen_version(XENVER_version, NULL), which writes no memory.
        let changed =
            unsafe { pv_callee_saved_probe(target, u64::from(Hypercall::XenVersion.raw())) };
        for (bit, name) in (0u32..).zip(NAMES) {
            let kept = changed.checked_shr(bit).unwrap_or(0) & 1 == 0;
            check(kept, format_args!("%{name} survives a hypercall through {how}"));
        }
    }
}

unsafe extern "C" {
    /// Loads patterns into `%rbx`, `%rbp`, `%r12`–`%r15`, calls `target` with
    /// `%eax = nr` and `%rdi = %rsi = 0`, and returns a mask of the registers
    /// whose pattern changed (bit 0 `%rbx`, 1 `%rbp`, 2–5 `%r12`–`%r15`).
    fn pv_callee_saved_probe(target: u64, nr: u64) -> u64;

    /// `push %rcx; push %r11; syscall; pop %r11; pop %rcx; ret`: a hypercall
    /// with the number already in `%eax` (Linux's `xen_hypercall_pv`).
    static pv_syscall_thunk: u8;
}

global_asm!(
    ".pushsection .text.pv_callee_saved_probe, \"ax\", @progbits",
    ".globl pv_callee_saved_probe",
    ".type pv_callee_saved_probe, @function",
    "pv_callee_saved_probe:",
    "    push %rbx",
    "    push %rbp",
    "    push %r12",
    "    push %r13",
    "    push %r14",
    "    push %r15",
    // The target, at 0(%rsp); %rsp is now 16-byte aligned for the call.
    "    push %rdi",
    "    mov %esi, %eax",
    "    movabs ${p0}, %rbx",
    "    movabs ${p1}, %rbp",
    "    movabs ${p2}, %r12",
    "    movabs ${p3}, %r13",
    "    movabs ${p4}, %r14",
    "    movabs ${p5}, %r15",
    "    xor %edi, %edi",
    "    xor %esi, %esi",
    "    call *(%rsp)",
    "    xor %eax, %eax",
    "    movabs ${p0}, %rdx",
    "    cmp %rdx, %rbx",
    "    setne %cl",
    "    movzbl %cl, %ecx",
    "    or %ecx, %eax",
    "    movabs ${p1}, %rdx",
    "    cmp %rdx, %rbp",
    "    setne %cl",
    "    movzbl %cl, %ecx",
    "    shl $1, %ecx",
    "    or %ecx, %eax",
    "    movabs ${p2}, %rdx",
    "    cmp %rdx, %r12",
    "    setne %cl",
    "    movzbl %cl, %ecx",
    "    shl $2, %ecx",
    "    or %ecx, %eax",
    "    movabs ${p3}, %rdx",
    "    cmp %rdx, %r13",
    "    setne %cl",
    "    movzbl %cl, %ecx",
    "    shl $3, %ecx",
    "    or %ecx, %eax",
    "    movabs ${p4}, %rdx",
    "    cmp %rdx, %r14",
    "    setne %cl",
    "    movzbl %cl, %ecx",
    "    shl $4, %ecx",
    "    or %ecx, %eax",
    "    movabs ${p5}, %rdx",
    "    cmp %rdx, %r15",
    "    setne %cl",
    "    movzbl %cl, %ecx",
    "    shl $5, %ecx",
    "    or %ecx, %eax",
    "    add $8, %rsp",
    "    pop %r15",
    "    pop %r14",
    "    pop %r13",
    "    pop %r12",
    "    pop %rbp",
    "    pop %rbx",
    "    ret",
    ".size pv_callee_saved_probe, . - pv_callee_saved_probe",
    "",
    ".globl pv_syscall_thunk",
    ".type pv_syscall_thunk, @function",
    "pv_syscall_thunk:",
    "    push %rcx",
    "    push %r11",
    "    syscall",
    "    pop %r11",
    "    pop %rcx",
    "    ret",
    ".size pv_syscall_thunk, . - pv_syscall_thunk",
    ".popsection",
    p0 = const 0xb0b0_1111_2222_3333_u64,
    p1 = const 0xb9b9_4444_5555_6666_u64,
    p2 = const 0x1212_7777_8888_9999_u64,
    p3 = const 0x1313_aaaa_bbbb_cccc_u64,
    p4 = const 0x1414_dddd_eeee_ffff_u64,
    p5 = const 0x1515_0101_0202_0303_u64,
    options(att_syntax),
);
