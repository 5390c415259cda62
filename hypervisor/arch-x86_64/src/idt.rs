// SPDX-License-Identifier: GPL-2.0-only
//! The IDT and the assembly entry stubs for all 256 vectors.
//!
//! Every stub pushes an error code (0 when the CPU does not), stores its
//! vector in the upper half of that slot, and joins `trap_common`, which saves
//! the registers in Xen's `struct cpu_user_regs` order, calls
//! [`crate::traps::handle_trap`] and leaves through `restore_all_guest`
//! ([`crate::entry`]), the one frame-popping `iretq` path. NMI, #DF and #MC run on IST stacks.
use core::arch::global_asm;

use x86_64::VirtAddr;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;

use crate::gdt::{HYPERVISOR_CS, IST_DF, IST_MC, IST_NMI};

global_asm!(
    r#"
    .section .text
    .balign 16
    .globl trap_stubs
trap_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if ((0x60227D00 >> vec) & 1) == 0
    push $0
    .endif
    movl $vec, 4(%rsp)
    jmp trap_common
    .set vec, vec + 1
    .endr

    .globl trap_common
trap_common:
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %rax
    push %r8
    push %r9
    push %r10
    push %r11
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov  %rsp, %rdi
    cld
    sub  $8, %rsp
    call handle_trap
    add  $8, %rsp
    # Pop the frame and iretq, to ring 0 or to a guest alike (entry.rs).
    jmp  restore_all_guest
"#,
    options(att_syntax)
);

unsafe extern "C" {
    static trap_stubs: u8;
}

/// Stub size in bytes (each stub is 16-byte aligned).
const STUB_SIZE: u64 = 16;

/// One IDT gate, encoded.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Gate {
    low: u64,
    high: u64,
}

const _: () = assert!(core::mem::size_of::<Gate>() == 16);

fn gate(handler: u64, ist: u8, dpl: u8) -> Gate {
    let type_attr: u64 = 0x8e | (u64::from(dpl & 3) << 5);
    let low = (handler & 0xffff)
        | (u64::from(HYPERVISOR_CS) << 16)
        | (u64::from(ist & 7) << 32)
        | (type_attr << 40)
        | ((handler >> 16) & 0xffff) << 48;
    Gate { low, high: handler >> 32 }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: spin::Once<Idt> = spin::Once::new();

fn idt() -> &'static Idt {
    IDT.call_once(|| {
        let base = core::ptr::addr_of!(trap_stubs) as u64;
        let mut table = [Gate::default(); 256];
        for (vector, slot) in (0u64..).zip(table.iter_mut()) {
            let ist = match vector {
                2 => IST_NMI,
                8 => IST_DF,
                18 => IST_MC,
                _ => 0,
            };
            // #BP and #OF may be raised by the guest with int3/into (Xen's DPL-3 gates).
            let dpl = if matches!(vector, 3 | 4) { 3 } else { 0 };
            *slot = gate(base.wrapping_add(vector.wrapping_mul(STUB_SIZE)), ist, dpl);
        }
        Idt(table)
    })
}

/// Load the (shared) IDT on the calling CPU.
pub fn load() {
    let table = idt();
    let ptr = DescriptorTablePointer {
        limit: u16::try_from(core::mem::size_of::<Idt>().saturating_sub(1)).unwrap_or(u16::MAX),
        base: VirtAddr::new(core::ptr::from_ref(table) as u64),
    };
    // SAFETY: the IDT is a 'static table whose gates point at the stubs above,
    // which are valid handlers for their vectors with the hypervisor's CS.
    unsafe { lidt(&ptr) };
}
