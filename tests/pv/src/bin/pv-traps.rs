// SPDX-License-Identifier: GPL-2.0-only
//! `pv-traps`: exceptions and software interrupts bounced to the guest
//! kernel in guest-kernel mode (Xen's `create_bounce_frame`, `do_iret`,
//! `do_general_protection`'s soft-int emulation, `pv_inject_event`).
//!
//! A virtual IDT ([`pv_tests::bounce`]) catches every vector; the kernel
//! maps `shared_info` to read `evtchn_upcall_mask` and `arch.cr2`. Each
//! probe runs one instruction and checks the frame the handler got: vector,
//! error code, `RIP` (the faulting instruction for faults, the next one for
//! traps and `int`), `CS = 0xe030 | saved_upcall_mask << 32` (RPL 0: the
//! event came from guest-kernel mode), `RFLAGS.IF = !evtchn_upcall_mask`,
//! `RSP` and `SS` of the interrupted code, `RCX`/`R11` of the interrupted
//! code, the frame's place right below `RSP & ~15`, the upcall mask in the
//! handler (set by `trap_info` flag bit 2) and after `iret` (restored from
//! `RFLAGS.IF`), and `RCX`/`R11` after `iret`. The probes:
//!
//! * `#DE` (`div` by zero), `int3` and `int $3` (`#BP` through a DPL-3
//!   entry), `ud2` (`#UD`), `#PF` on reading and on writing an unmapped
//!   address (error code 0 and 2, `vcpu_info.arch.cr2`);
//! * `int $0x80` to a DPL-3 entry, `int $0x21` to a DPL-1 entry (allowed
//!   from guest-kernel mode: `permit_softint`), `int $0x20` to a DPL-1
//!   entry that masks events, and `int $0x81` to a DPL-0 entry, which is a
//!   `#GP` with error code `(0x81 << 3) | 2` at the `int`;
//! * the forced-emulation prefix before a non-`cpuid` instruction: `#UD` at
//!   the prefix.
//!
//! All run four times: with events masked (dom0's initial state) and
//! unmasked, each with handlers returning through the hypercall page's
//! `iret` stub and through a direct `syscall`. Then: the forced-emulation prefix before `cpuid`
//! returns Xen's `0x40000000` leaf ("XenVMMXenVMM") with no exception, and
//! `xen_version` still works.
#![no_std]
#![no_main]

use core::arch::global_asm;

use pv_tests::bounce::{self, FLAT_SS, KERNEL_CS, MAGIC_R11, MAGIC_RCX, Seen};
use pv_tests::guest_abi::callback::CallbackType;
use pv_tests::guest_abi::xen::TrapInfo;
use pv_tests::hypercall::Via;
use pv_tests::{StartInfo, check, check_eq, error, ops, println, shinfo};

pv_tests::test_kernel!(name: "traps", main: test_main);

/// An address whose L4 slot is empty (checked against the page tables).
const UNMAPPED: u64 = 0x1000;

/// `#PF` error code bits.
const PFEC_WRITE: u64 = 1 << 1;

/// `RFLAGS.IF`.
const RFLAGS_IF: u64 = 1 << 9;
/// `RFLAGS` bit 1, always set.
const RFLAGS_MBS: u64 = 1 << 1;

/// `#GP` error code of `int $n` through a gate that forbids it:
/// `(n << 3) | X86_XEC_IDT`.
const fn softint_gp(n: u64) -> u64 {
    (n << 3) | 2
}

/// The virtual IDT: `(vector, dpl, mask events)`. Every exception vector is
/// covered so that any stray exception is reported.
const GATES: [(u8, u8, bool); 24] = [
    (0, 0, false),
    (1, 0, true),
    (2, 0, true),
    (3, 3, false),
    (4, 3, true),
    (5, 0, true),
    (6, 0, false),
    (7, 0, true),
    (8, 0, true),
    (9, 0, true),
    (10, 0, true),
    (11, 0, true),
    (12, 0, true),
    (13, 0, true),
    (14, 0, true),
    (16, 0, true),
    (17, 0, true),
    (18, 0, true),
    (19, 0, true),
    (20, 0, true),
    (0x20, 1, true),
    (0x21, 1, false),
    (0x80, 3, false),
    (0x81, 0, false),
];

/// Whether `vector`'s gate masks events.
fn gate_masks(vector: u64) -> bool {
    GATES.iter().any(|&(v, _, mask)| u64::from(v) == vector && mask)
}

/// One probe: an assembly function (see the `global_asm!` below) and what
/// its event must look like.
struct Probe {
    name: &'static str,
    id: usize,
    run: unsafe extern "C" fn(),
    vector: u64,
    /// `Some` for vectors with an error code.
    error_code: Option<u64>,
    /// Expected `RIP` minus the probe instruction's address.
    rip_offset: u64,
    /// `#PF`: the expected `vcpu_info.arch.cr2`.
    cr2: Option<u64>,
}

unsafe extern "C" {
    fn pv_probe_de();
    fn pv_probe_int3();
    fn pv_probe_int_3();
    fn pv_probe_ud2();
    fn pv_probe_pf_read();
    fn pv_probe_pf_write();
    fn pv_probe_int80();
    fn pv_probe_int81();
    fn pv_probe_int21();
    fn pv_probe_int20();
    fn pv_probe_fep_nop();
    /// `cpuid` leaf `leaf` (subleaf 0) behind the forced-emulation prefix,
    /// results in `out` (`eax`, `ebx`, `ecx`, `edx`); probe id 11,
    /// expecting no event.
    fn pv_fep_cpuid(leaf: u32, out: *mut [u32; 4]);
}

/// Probe id of [`pv_fep_cpuid`].
const FEP_CPUID_ID: usize = 11;

const PROBES: [Probe; 11] = [
    Probe {
        name: "#DE (div by zero)",
        id: 0,
        run: pv_probe_de,
        vector: 0,
        error_code: None,
        rip_offset: 0,
        cr2: None,
    },
    Probe {
        name: "int3 (#BP, DPL 3)",
        id: 1,
        run: pv_probe_int3,
        vector: 3,
        error_code: None,
        rip_offset: 1,
        cr2: None,
    },
    Probe {
        name: "int $3 (cd 03, #BP, DPL 3)",
        id: 2,
        run: pv_probe_int_3,
        vector: 3,
        error_code: None,
        rip_offset: 2,
        cr2: None,
    },
    Probe {
        name: "ud2 (#UD)",
        id: 3,
        run: pv_probe_ud2,
        vector: 6,
        error_code: None,
        rip_offset: 0,
        cr2: None,
    },
    Probe {
        name: "#PF reading unmapped 0x1000",
        id: 4,
        run: pv_probe_pf_read,
        vector: 14,
        error_code: Some(0),
        rip_offset: 0,
        cr2: Some(UNMAPPED),
    },
    Probe {
        name: "#PF writing unmapped 0x1000 (RSP 16-byte aligned)",
        id: 5,
        run: pv_probe_pf_write,
        vector: 14,
        error_code: Some(PFEC_WRITE),
        rip_offset: 0,
        cr2: Some(UNMAPPED),
    },
    Probe {
        name: "int $0x80 (DPL 3)",
        id: 6,
        run: pv_probe_int80,
        vector: 0x80,
        error_code: None,
        rip_offset: 2,
        cr2: None,
    },
    Probe {
        name: "int $0x81 (DPL 0: #GP)",
        id: 7,
        run: pv_probe_int81,
        vector: 13,
        error_code: Some(softint_gp(0x81)),
        rip_offset: 0,
        cr2: None,
    },
    Probe {
        name: "int $0x21 (DPL 1, from kernel mode)",
        id: 8,
        run: pv_probe_int21,
        vector: 0x21,
        error_code: None,
        rip_offset: 2,
        cr2: None,
    },
    Probe {
        name: "int $0x20 (DPL 1, masking events)",
        id: 9,
        run: pv_probe_int20,
        vector: 0x20,
        error_code: None,
        rip_offset: 2,
        cr2: None,
    },
    Probe {
        name: "forced-emulation prefix + nop (#UD)",
        id: 10,
        run: pv_probe_fep_nop,
        vector: 6,
        error_code: None,
        rip_offset: 0,
        cr2: None,
    },
];

fn test_main(si: &StartInfo) {
    if let Err(e) = shinfo::map(si) {
        pv_tests::fail(format_args!("mapping shared_info at {:#x}: {e}", si.shared_info));
        return;
    }
    check_eq(shinfo::upcall_mask(), 1, "dom0 starts with vcpu_info[0].evtchn_upcall_mask");

    let mut table = [TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 }; GATES.len() + 1];
    for (slot, &(vector, dpl, mask)) in table.iter_mut().zip(GATES.iter()) {
        *slot = bounce::trap_info(vector, dpl, mask);
    }
    if !check(bounce::set_trap_table(&table).is_ok(), "set_trap_table of 24 entries") {
        return;
    }
    let r = bounce::register_callback(CallbackType::Event, 0, bounce::event_entry());
    check(r.is_ok(), format_args!("callback_op(register, event): {r:?}"));

    if l4_entry_present(si, UNMAPPED) {
        error(format_args!("{UNMAPPED:#x} is mapped: the #PF probes cannot run"));
        return;
    }

    let phases =
        [(1, 1u8, Via::Page), (2, 0u8, Via::Syscall), (3, 0u8, Via::Page), (4, 1u8, Via::Syscall)];
    for (phase, mask, via) in phases {
        println!(
            "phase {phase}: evtchn_upcall_mask {mask}, handlers return with iret through {}",
            via.name()
        );
        bounce::reset();
        bounce::set_iret_via(via);
        shinfo::set_upcall_mask(mask);
        for probe in &PROBES {
            run_probe(probe, phase, mask);
        }
    }
    shinfo::set_upcall_mask(1);
    bounce::set_iret_via(Via::Syscall);

    fep_cpuid();

    check_eq(bounce::unexpected_total(), 0, "no unexpected exceptions");
    println!("event upcalls: {}", bounce::events());
    match ops::xen_version() {
        Ok((major, minor)) => {
            check(true, format_args!("xen_version still works: {major}.{minor}"));
        }
        Err(e) => pv_tests::fail(format_args!("xen_version after the traps: {e}")),
    }
    check_eq(shinfo::upcall_mask(), 1, "evtchn_upcall_mask restored to 1");
}

/// Runs `probe` with `evtchn_upcall_mask == mask` and checks its event.
fn run_probe(probe: &Probe, phase: u32, mask: u8) {
    // SAFETY: the probe is an assembly function that only uses
    // caller-saved registers and returns normally (its event resumes it).
    unsafe { (probe.run)() };
    let mask_after = shinfo::upcall_mask();
    shinfo::set_upcall_mask(mask);
    let s = bounce::seen(probe.id);
    let tag = format_args!("[{phase}] {}", probe.name);
    if !check(
        s.count == 1 && s.frame.vector == probe.vector,
        format_args!(
            "{tag}: one event on vector {:#x} (got {} on {:#x})",
            probe.vector, s.count, s.frame.vector
        ),
    ) {
        return;
    }
    check_kernel_frame(&s, tag, probe.rip_offset, mask);
    if let Some(code) = probe.error_code {
        check(
            s.frame.error_code == code,
            format_args!("{tag}: error code {:#x} (expected {code:#x})", s.frame.error_code),
        );
    }
    if let Some(cr2) = probe.cr2 {
        check(
            s.cr2 == cr2,
            format_args!("{tag}: vcpu_info.arch.cr2 {:#x} (expected {cr2:#x})", s.cr2),
        );
    }
    let in_handler = mask | u8::from(gate_masks(probe.vector));
    check(
        s.mask == in_handler && mask_after == mask,
        format_args!(
            "{tag}: evtchn_upcall_mask {mask} -> {} in the handler (expected {in_handler}) -> \
             {mask_after} after iret (expected {mask})",
            s.mask
        ),
    );
    check(
        s.frame.rcx == MAGIC_RCX && s.frame.r11 == MAGIC_R11 && !bounce::clobbered(probe.id),
        format_args!(
            "{tag}: RCX/R11 in the frame ({:#x}/{:#x}) and after iret{} are the interrupted ones",
            s.frame.rcx,
            s.frame.r11,
            if bounce::clobbered(probe.id) { " (CHANGED)" } else { "" }
        ),
    );
}

/// Checks the frame of an event taken in guest-kernel mode at `RSP =
/// s.probe_rsp` with upcall mask `mask`.
fn check_kernel_frame(s: &Seen, tag: core::fmt::Arguments<'_>, rip_offset: u64, mask: u8) {
    let f = &s.frame;
    let rip = s.insn.wrapping_add(rip_offset);
    let cs = u64::from(KERNEL_CS) | (u64::from(mask) << 32);
    let iflag = if mask == 0 { RFLAGS_IF } else { 0 };
    check(
        f.rip == rip
            && f.cs == cs
            && f.rflags & (RFLAGS_IF | RFLAGS_MBS) == iflag | RFLAGS_MBS
            && f.rsp == s.probe_rsp
            && f.ss == u64::from(FLAT_SS),
        format_args!(
            "{tag}: frame RIP {:#x} CS {:#x} RFLAGS {:#x} RSP {:#x} SS {:#x} (expected RIP {rip:#x} \
             CS {cs:#x} RFLAGS.IF {} RSP {:#x} SS {FLAT_SS:#x})",
            f.rip,
            f.cs,
            f.rflags,
            f.rsp,
            f.ss,
            u8::from(mask == 0),
            s.probe_rsp
        ),
    );
    let at = (s.probe_rsp & !0xf).wrapping_sub(40);
    check(
        s.frame_address == at,
        format_args!(
            "{tag}: frame (RIP slot) at {:#x}, right below RSP & ~15 (expected {at:#x})",
            s.frame_address
        ),
    );
}

/// The forced-emulation prefix before `cpuid`: Xen's leaf 0x40000000.
fn fep_cpuid() {
    let mut out = [0u32; 4];
    let unexpected = bounce::unexpected_total();
    // SAFETY: the function writes the four results to `out`; an exception
    // in it is caught by the probe machinery and resumed past the cpuid.
    unsafe { pv_fep_cpuid(0x4000_0000, &raw mut out) };
    let [eax, ebx, ecx, edx] = out;
    let mut sig = [0u8; 12];
    for (chunk, reg) in sig.chunks_exact_mut(4).zip([ebx, ecx, edx]) {
        chunk.copy_from_slice(&reg.to_le_bytes());
    }
    let seen = bounce::seen(FEP_CPUID_ID);
    check(
        seen.count == 0 && bounce::unexpected_total() == unexpected,
        "forced-emulation prefix + cpuid raises no exception",
    );
    check(
        &sig == b"XenVMMXenVMM" && (0x4000_0002..0x4000_0100).contains(&eax),
        format_args!(
            "forced-emulation cpuid 0x40000000: eax {eax:#x}, signature \"{}\"",
            pv_tests::console::Escaped(&sig)
        ),
    );
}

/// Whether the L4 entry covering `address` is present in the initial page
/// tables (`start_info.pt_base`, mapped read-only by the builder).
fn l4_entry_present(si: &StartInfo, address: u64) -> bool {
    let index = usize::try_from(address.checked_shr(39).unwrap_or(0) & 0x1ff).unwrap_or(0);
    let l4 = si.pt_base as *const u64;
    if l4.is_null() || !l4.is_aligned() {
        return true;
    }
    // SAFETY: the builder maps the bootstrap L4 at pt_base readable; index
    // < 512 stays inside the page.
    let entry = unsafe { l4.wrapping_add(index).read_volatile() };
    entry & 1 != 0
}

global_asm!(
    pv_tests::probe_fn_asm!("de", id: "0", expect: "0", keep_rip: "0",
        setup: "xor %edx, %edx; mov $1, %eax; xor %r8d, %r8d", insn: "div %r8d", post: ""),
    pv_tests::probe_fn_asm!("int3", id: "1", expect: "3", keep_rip: "0",
        setup: "", insn: "int3", post: ""),
    pv_tests::probe_fn_asm!("int_3", id: "2", expect: "3", keep_rip: "0",
        setup: "", insn: ".byte 0xcd, 0x03", post: ""),
    pv_tests::probe_fn_asm!("ud2", id: "3", expect: "6", keep_rip: "0",
        setup: "", insn: "ud2", post: ""),
    pv_tests::probe_fn_asm!("pf_read", id: "4", expect: "14", keep_rip: "0",
        setup: "mov $0x1000, %r8d", insn: "mov (%r8), %eax", post: ""),
    // Called with RSP = 8 (mod 16): one more push aligns it.
    pv_tests::probe_fn_asm!("pf_write", id: "5", expect: "14", keep_rip: "0",
        setup: "sub $8, %rsp; mov $0x1000, %r8d", insn: "movl $1, (%r8)", post: "add $8, %rsp"),
    pv_tests::probe_fn_asm!("int80", id: "6", expect: "0x80", keep_rip: "0",
        setup: "", insn: "int $0x80", post: ""),
    pv_tests::probe_fn_asm!("int81", id: "7", expect: "13", keep_rip: "0",
        setup: "", insn: "int $0x81", post: ""),
    pv_tests::probe_fn_asm!("int21", id: "8", expect: "0x21", keep_rip: "0",
        setup: "", insn: "int $0x21", post: ""),
    pv_tests::probe_fn_asm!("int20", id: "9", expect: "0x20", keep_rip: "0",
        setup: "", insn: "int $0x20", post: ""),
    pv_tests::probe_fn_asm!("fep_nop", id: "10", expect: "6", keep_rip: "0",
        setup: "", insn: ".byte 0x0f, 0x0b, 0x78, 0x65, 0x6e; nop", post: ""),
    ".pushsection .text.pv_fep_cpuid, \"ax\", @progbits",
    ".globl pv_fep_cpuid",
    ".type pv_fep_cpuid, @function",
    "pv_fep_cpuid:",
    "    push %rbx",
    "    mov %rsi, %r9",
    "    movq ${id}, PV_PROBE_ID(%rip)",
    "    movq $-1, PV_PROBE_EXPECT(%rip)",
    "    movq $0, PV_PROBE_KEEP_RIP(%rip)",
    "    lea 8f(%rip), %r10",
    "    mov %r10, PV_PROBE_INSN(%rip)",
    "    lea 9f(%rip), %r10",
    "    mov %r10, PV_PROBE_RESUME(%rip)",
    "    mov %rsp, PV_PROBE_RSP(%rip)",
    "    mov %edi, %eax",
    "    xor %ebx, %ebx",
    "    xor %ecx, %ecx",
    "    xor %edx, %edx",
    "8:  .byte 0x0f, 0x0b, 0x78, 0x65, 0x6e",
    "    cpuid",
    "9:  movq $0, PV_PROBE_RESUME(%rip)",
    "    mov %eax, 0(%r9)",
    "    mov %ebx, 4(%r9)",
    "    mov %ecx, 8(%r9)",
    "    mov %edx, 12(%r9)",
    "    pop %rbx",
    "    ret",
    ".size pv_fep_cpuid, . - pv_fep_cpuid",
    ".popsection",
    id = const FEP_CPUID_ID,
    options(att_syntax),
);
