// SPDX-License-Identifier: GPL-2.0-only
//! The image's Xen notes, entry point, hypercall page and boot stack.
//!
//! Everything the domain builder looks at is emitted by the one
//! `global_asm!` block below, so that it lands in a single object file that
//! the linker pulls in through the `_start` entry symbol:
//!
//! * `.note.Xen`: the `"Xen"` ELF notes (types from
//!   [`guest_abi::elfnote::XenElfNote`]), in the `PT_NOTE` segment of
//!   `guest.ld`. Addresses are 8-byte values (`.quad sym`).
//! * `_start` (`.text.entry`, first in the image): the PV entry point. The
//!   builder enters it with `%rsi` = virtual address of `start_info`,
//!   `%rsp` = top of its one-page boot stack and event delivery masked
//!   (`evtchn_upcall_mask = 1`). It moves `%rsi` to the first argument
//!   register, switches to [`STACK_SIZE`] bytes of `.bss` stack and calls
//!   `pv_rust_entry`, which [`crate::test_kernel!`] defines. Segment
//!   registers and MSRs are left as the builder set them.
//! * `hypercall_page` (`.text.hypercall_page`, page aligned): filled with
//!   `ret` (`0xc3`) bytes, like XTF, so that [`hypercall_page_initialised`]
//!   can tell whether the hypervisor wrote its stubs there.

use core::arch::global_asm;

use guest_abi::elfnote::XenElfNote;

/// Size of the framework's own stack in `.bss`. There is no guard page:
/// an overflow silently overwrites the `.bss` below (it did at 16 KiB, when
/// `pv-toolstack` called the domain builder, whose frame alone is some
/// 15.6 KiB with its page buffers, and cleared `shinfo`'s state).
pub const STACK_SIZE: usize = 64 * 1024;

/// `VIRT_BASE` and `PADDR_OFFSET`: the start of the top 2 GiB, as for Linux.
pub const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;

/// Size of the hypercall page: 128 stubs of 32 bytes.
pub const HYPERCALL_PAGE_SIZE: usize = 4096;

/// Size of one stub of the hypercall page.
pub const HYPERCALL_STUB_SIZE: u64 = 32;

/// The byte the hypercall page is filled with until the hypervisor writes it
/// (`ret`).
pub const HYPERCALL_PAGE_FILL: u8 = 0xc3;

global_asm!(
    // One Xen note: namesz = 4 ("Xen\0"), descsz, type, name, descriptor,
    // each part 4-byte aligned (ELF64 notes of type SHT_NOTE use 4-byte
    // alignment, as Xen's and Linux's do).
    ".macro pv_xen_note type:req, payload:vararg",
    "    .balign 4",
    "    .long 4, 2f - 1f, \\type",
    "    .asciz \"Xen\"",
    "    .balign 4",
    "1:  \\payload",
    "2:  .balign 4",
    ".endm",
    "",
    ".pushsection .note.Xen, \"a\", @note",
    "pv_xen_note {guest_os}, .asciz \"PV-TESTS\"",
    "pv_xen_note {guest_version}, .asciz \"0\"",
    "pv_xen_note {loader}, .asciz \"generic\"",
    "pv_xen_note {xen_version}, .asciz \"xen-3.0\"",
    "pv_xen_note {virt_base}, .quad {base}",
    "pv_xen_note {paddr_offset}, .quad {base}",
    "pv_xen_note {entry}, .quad _start",
    "pv_xen_note {hypercall_page}, .quad hypercall_page",
    "pv_xen_note {features}, .asciz \"!writable_page_tables|pae_pgdir_above_4gb\"",
    "pv_xen_note {pae_mode}, .asciz \"yes\"",
    ".popsection",
    "",
    ".pushsection .text.entry, \"ax\", @progbits",
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "    cld",
    "    mov %rsi, %rdi",
    "    lea pv_stack_top(%rip), %rsp",
    "    xor %ebp, %ebp",
    "    call pv_rust_entry",
    "    ud2",
    ".size _start, . - _start",
    ".popsection",
    "",
    ".pushsection .text.hypercall_page, \"ax\", @progbits",
    ".balign 4096",
    ".globl hypercall_page",
    ".type hypercall_page, @object",
    "hypercall_page:",
    "    .fill {page_size}, 1, {fill}",
    ".size hypercall_page, . - hypercall_page",
    ".popsection",
    "",
    ".pushsection .bss.pv_stack, \"aw\", @nobits",
    ".balign 4096",
    "pv_stack:",
    "    .skip {stack_size}",
    "pv_stack_top:",
    ".popsection",
    guest_os = const XenElfNote::GuestOs.raw(),
    guest_version = const XenElfNote::GuestVersion.raw(),
    loader = const XenElfNote::Loader.raw(),
    xen_version = const XenElfNote::XenVersion.raw(),
    virt_base = const XenElfNote::VirtBase.raw(),
    paddr_offset = const XenElfNote::PaddrOffset.raw(),
    entry = const XenElfNote::Entry.raw(),
    hypercall_page = const XenElfNote::HypercallPage.raw(),
    features = const XenElfNote::Features.raw(),
    pae_mode = const XenElfNote::PaeMode.raw(),
    base = const VIRT_BASE,
    page_size = const HYPERCALL_PAGE_SIZE,
    fill = const HYPERCALL_PAGE_FILL,
    stack_size = const STACK_SIZE,
    options(att_syntax),
);

unsafe extern "C" {
    /// The hypercall page (defined above); only its address is used.
    #[link_name = "hypercall_page"]
    static HYPERCALL_PAGE: [u8; HYPERCALL_PAGE_SIZE];
}

/// Virtual address of the hypercall page.
#[must_use]
pub fn hypercall_page_address() -> u64 {
    // `&raw const` only takes the address; nothing is read.
    (&raw const HYPERCALL_PAGE).addr() as u64
}

/// Whether the hypervisor has written its stubs into the hypercall page:
/// `false` while the first byte is still the [`HYPERCALL_PAGE_FILL`] `ret`
/// (a stub starts with `push %rcx`, `0x51`).
#[must_use]
pub fn hypercall_page_initialised() -> bool {
    let first = (&raw const HYPERCALL_PAGE).cast::<u8>();
    // SAFETY: the page is part of the loaded image (RWX PT_LOAD), so its first
    // byte is mapped and readable. The read is volatile because the
    // hypervisor, not this program, changes the bytes after the compiler saw
    // their initial value.
    let byte = unsafe { first.read_volatile() };
    byte != HYPERCALL_PAGE_FILL
}
