// SPDX-License-Identifier: GPL-2.0-only
//! The raw `SYSCALL`/`SYSRET` round trip, measured on this CPU: the
//! denominator of the null-hypercall benchmark.
//!
//! A private address space maps a two-instruction ring-3 loop
//! (`dec %r12; syscall; jmp`) and `LSTAR` points at a ring-0 stub that
//! returns at once with `SYSRETQ` while `%r12` is non-zero; at zero it
//! restores the hypervisor stack and returns to the caller. Interrupts stay
//! off throughout (`SFMASK` clears IF; the ring-3 RFLAGS is 0x2). The
//! normal `LSTAR` and page tables are restored afterwards.

use core::arch::{asm, global_asm};

use crate::FrameSource;
use crate::layout::maddr_to_virt;

global_asm!(
    r#"
    .section .text
    .balign 16
    .globl bench_enter
bench_enter:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov  %rsp, bench_saved_rsp(%rip)
    mov  %rdx, %r12
    mov  %rdi, %rcx
    mov  $0x2, %r11
    mov  %rsi, %rsp
    sysretq

    .balign 16
    .globl bench_lstar
bench_lstar:
    test %r12, %r12
    jz   1f
    sysretq
1:  mov  bench_saved_rsp(%rip), %rsp
    pop  %r15
    pop  %r14
    pop  %r13
    pop  %r12
    pop  %rbp
    pop  %rbx
    ret

    .section .bss
    .balign 8
bench_saved_rsp: .quad 0
"#,
    options(att_syntax)
);

unsafe extern "C" {
    fn bench_enter(rip: u64, rsp: u64, count: u64);
    static bench_lstar: u8;
}

/// Ring-3 loop: `1: dec %r12; syscall; jmp 1b`.
const USER_CODE: [u8; 7] = [0x49, 0xff, 0xcc, 0x0f, 0x05, 0xeb, 0xf9];
/// Where the loop is mapped.
const USER_VA: u64 = 0x40_0000;
const MSR_LSTAR: u32 = 0xc000_0082;
/// Present, writable, user.
const PTE_URW: u64 = 0x7;

/// Median cycles of one ring-3 `SYSCALL` → ring-0 `SYSRETQ` round trip,
/// over `rounds` rounds of `per_round` calls; `None` if memory for the
/// private page tables is missing.
pub fn syscall_roundtrip_cycles(
    idle_cr3: u64,
    frames: &mut dyn FrameSource,
    rounds: usize,
    per_round: u64,
) -> Option<u64> {
    let l4 = frames.alloc_frames(1, 1)?;
    let l3 = frames.alloc_frames(1, 1)?;
    let l2 = frames.alloc_frames(1, 1)?;
    let l1 = frames.alloc_frames(1, 1)?;
    let code = frames.alloc_frames(1, 1)?;
    let stack = frames.alloc_frames(1, 1)?;
    let put = |table: u64, idx: usize, val: u64| {
        // SAFETY: freshly allocated, zeroed page-table frames; idx < 512.
        unsafe { core::ptr::write_volatile((maddr_to_virt(table) as *mut u64).add(idx), val) }
    };
    for slot in 256..272 {
        put(l4, slot, crate::pvmem::idle_l4_entry(idle_cr3, slot));
    }
    put(l4, 0, l3 | PTE_URW);
    put(l3, 0, l2 | PTE_URW);
    put(l2, 2, l1 | PTE_URW);
    put(l1, 0, code | PTE_URW);
    put(l1, 1, stack | PTE_URW);
    // SAFETY: the code frame is ours and mapped in the direct map.
    unsafe {
        core::ptr::copy_nonoverlapping(USER_CODE.as_ptr(), maddr_to_virt(code) as *mut u8, 7)
    };
    // SAFETY: LSTAR exists; reading it has no side effects.
    let saved_lstar = unsafe { crate::cpu::rdmsr(MSR_LSTAR) };
    let old_cr3 = crate::cpu::read_cr3();
    let mut samples: alloc::vec::Vec<u64> = alloc::vec::Vec::with_capacity(rounds);
    x86_64::instructions::interrupts::without_interrupts(|| {
        // SAFETY: the private L4 maps the hypervisor's slots like the idle
        // table; LSTAR points at a stub that only SYSRETs or returns to
        // `bench_enter`'s caller; both are restored below.
        unsafe {
            crate::cpu::write_cr3(l4);
            crate::cpu::wrmsr(MSR_LSTAR, core::ptr::addr_of!(bench_lstar) as u64);
        }
        for _ in 0..rounds {
            let t0 = crate::cpu::rdtsc();
            // SAFETY: the loop is mapped at USER_VA with a user stack page
            // above it; it ends by a SYSCALL with %r12 = 0.
            unsafe { bench_enter(USER_VA, USER_VA.wrapping_add(0x2000 - 64), per_round) };
            let t1 = crate::cpu::rdtsc();
            samples.push(t1.saturating_sub(t0).checked_div(per_round).unwrap_or(0));
        }
        // SAFETY: restoring the previous values.
        unsafe {
            crate::cpu::wrmsr(MSR_LSTAR, saved_lstar);
            asm!("mov {}, %cr3", in(reg) old_cr3, options(att_syntax, nostack));
        }
    });
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied()
}
