// SPDX-License-Identifier: GPL-2.0-only
//! `pv-usermode`: guest-user mode, user `SYSCALL`s and privilege, in the
//! style of XTF's `test_exec_user`.
//!
//! Setup, each step checked: `mov %cr3` (emulated: `xen_pfn_to_cr3` of the
//! kernel L4's MFN) equals the MFN of `start_info.pt_base` (`mfn_list[pfn]`);
//! that L4 also becomes the user page table (`MMUEXT_NEW_USER_BASEPTR`);
//! `stack_switch(FLAT_KERNEL_SS, top of a kernel stack)`; the syscall
//! callback (`CALLBACKF_mask_events`) and a virtual IDT ([`pv_tests::bounce`])
//! with a DPL-3 `int $0x80`; the kernel and user `GS` bases
//! (`set_segment_base`), each pointing at a magic value.
//!
//! The kernel then enters user mode with the `iret` hypercall (`CS =
//! 0xe033`, `SS = 0xe02b`, `RFLAGS = 0x202`, a user stack). The user code
//! reads `%gs:0` (the user magic) and runs probes, each raising one event
//! that Xen bounces to the kernel, in guest-kernel mode, on the
//! `stack_switch` stack; the handler records it and returns to user mode
//! with `iret`:
//!
//! * `syscall` with `RAX = 17` (`xen_version`) is not a hypercall but goes
//!   to the syscall callback (frame `RCX, R11, RIP, CS, RFLAGS, RSP, SS`,
//!   `RCX` = `RIP` after the `syscall`, events masked); so does a call to
//!   the hypercall page's `xen_version` stub; `RAX` stays 17;
//! * `int $0x80` reaches its DPL-3 handler; `int3` reaches `#BP`;
//! * `cli` and `mov %cr3,%rax` raise `#GP(0)`; `ud2` raises `#UD`;
//!   `int $0x21` (DPL 1) and `int $0x81` (DPL 0) raise `#GP` with error
//!   code `(n << 3) | 2` (`permit_softint` needs DPL 3 from user mode);
//! * reading and writing an unmapped address raise `#PF` with the U bit
//!   set (error codes 4 and 6) and `vcpu_info.arch.cr2`.
//!
//! Every frame must show `CS = 0xe033` (user) with saved mask 0,
//! `RFLAGS.IF = 1`, the user `RSP`, `SS = 0xe02b`, and sit right below
//! the `stack_switch` stack's top; the handler must see the kernel `GS`.
//! The user code reads `%gs:0` again and ends with `int $0x80`, whose
//! handler `iret`s to the kernel (`CS` RPL 0, `RFLAGS.IF = 0`), which checks
//! its own `GS`, that events are masked again, that a kernel-mode `int3`
//! is again a kernel-mode frame on the current stack, and that
//! `xen_version` works.
//!
//! Then, with `VMASST_TYPE_architectural_iopl`, the kernel enters user mode
//! again with `RFLAGS.IOPL = 3` in its `iret` frame (which sets the virtual
//! IOPL under that assist): user `cli`, `sti`, `outb` and `inb` on port
//! 0x80 must raise no event (they are emulated); the same after
//! `PHYSDEVOP_set_iopl(3)` without the assist. The boot tests run this
//! kernel on one and on two CPUs (dom0 with two vCPUs).
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pv_tests::bounce::{
    self, FLAT_SS, KERNEL_CS, MAGIC_R11, MAGIC_RCX, Seen, TrapFrame, USER_CS, VECTOR_SYSCALL,
};
use pv_tests::entry::VIRT_BASE;
use pv_tests::guest_abi::callback::{CALLBACKF_mask_events, CallbackType};
use pv_tests::guest_abi::physdev::{PhysdevOp, PhysdevSetIopl};
use pv_tests::guest_abi::xen::{
    DOMID_SELF, Hypercall, MmuextCmd, MmuextOp, SegBase, TrapInfo, VmAssistCmd, VmAssistType,
    xen_pfn_to_cr3,
};
use pv_tests::hypercall::{self, stub_address};
use pv_tests::ops::{self, XenError, result};
use pv_tests::{StartInfo, check, check_eq, error, println, shinfo};

pv_tests::test_kernel!(name: "usermode", main: test_main);

/// An address whose L4 slot is empty (checked against the page tables).
const UNMAPPED: u64 = 0x1000;

/// `RFLAGS.IF`.
const RFLAGS_IF: u64 = 1 << 9;
/// `RFLAGS` bit 1, always set.
const RFLAGS_MBS: u64 = 1 << 1;

/// `#PF` error code bits.
const PFEC_WRITE: u64 = 1 << 1;
/// `#PF` error code: user mode.
const PFEC_USER: u64 = 1 << 2;

/// `PV_PROBE_EXPECT` of the final `int $0x80` that returns to the kernel.
const EXPECT_DONE: u64 = 0x1ff;

/// Magic value at the kernel's `GS` base.
const KERNEL_GS_MAGIC: u64 = 0x6b65_726e_656c_6773;
/// Magic value at the user's `GS` base.
const USER_GS_MAGIC: u64 = 0x7573_6572_5f67_735f;

/// Size of the kernel (`stack_switch`) and user stacks.
const STACK_SIZE: usize = 16 * 1024;

/// Probe id of the kernel's `mov %cr3` read.
const CR3_PROBE_ID: usize = 20;
/// Probe id of the kernel-mode `int3` after user mode.
const KERNEL_INT3_ID: usize = 21;

/// `#GP` error code of `int $n` through a gate that forbids it.
const fn softint_gp(n: u64) -> u64 {
    (n << 3) | 2
}

/// The virtual IDT: `(vector, dpl, mask events)`.
const GATES: [(u8, u8, bool); 23] = [
    (0, 0, true),
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
    (0x21, 1, false),
    (0x80, 3, false),
    (0x81, 0, false),
];

/// Whether `vector`'s gate (or callback) masks events.
fn masks_events(vector: u64) -> bool {
    vector == VECTOR_SYSCALL || GATES.iter().any(|&(v, _, mask)| u64::from(v) == vector && mask)
}

/// A 16-byte aligned stack.
#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

/// The kernel stack for events from user mode (`stack_switch`).
static mut KERNEL_STACK: Stack = Stack([0; STACK_SIZE]);
/// The user stack.
static mut USER_STACK: Stack = Stack([0; STACK_SIZE]);

/// What `%gs:0` reads with each `GS` base.
#[repr(C, align(64))]
struct GsArea([u64; 8]);

static KERNEL_GS: GsArea = GsArea([KERNEL_GS_MAGIC, 0, 0, 0, 0, 0, 0, 0]);
static USER_GS: GsArea = GsArea([USER_GS_MAGIC, 0, 0, 0, 0, 0, 0, 0]);

/// Set once both `GS` bases point at the areas: handlers read `%gs:0`.
static GS_READY: AtomicBool = AtomicBool::new(false);
/// Set by the handler of the final `int $0x80`.
static DONE: AtomicBool = AtomicBool::new(false);
/// Set when user mode was abandoned after an unexpected event.
static ABORTED: AtomicBool = AtomicBool::new(false);
/// The final `int $0x80`'s frame.
static DONE_CS: AtomicU64 = AtomicU64::new(0);
/// Kernel `%gs:0` in the final handler.
static DONE_GS: AtomicU64 = AtomicU64::new(0);

/// `%gs:0` read by the user code first and last.
#[unsafe(no_mangle)]
static PV_USER_GS_FIRST: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static PV_USER_GS_LAST: AtomicU64 = AtomicU64::new(0);
/// `RAX` after the user `syscall` and after the hypercall-page call.
#[unsafe(no_mangle)]
static PV_USER_RAX_SYSCALL: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static PV_USER_RAX_PAGE: AtomicU64 = AtomicU64::new(0);
/// The kernel `RSP` `pv_enter_user` returns on.
#[unsafe(no_mangle)]
static PV_USER_RETURN_RSP: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    /// Enters user mode at `entry` with `RSP = stack` and `RFLAGS =
    /// rflags` through the `iret` hypercall; returns when a handler sends
    /// the vCPU to `pv_user_return` (callee-saved registers are preserved).
    fn pv_enter_user(entry: u64, stack: u64, rflags: u64);
    /// The user program of the virtual-IOPL check.
    static pv_user_iopl: u8;
    /// The user program (see the `global_asm!`).
    static pv_user_main: u8;
    /// Where the final handler resumes the kernel.
    static pv_user_return: u8;
    /// `mov %cr3, %rax` in kernel mode, as probe [`CR3_PROBE_ID`]
    /// expecting no event; returns 0 if it faulted.
    fn pv_read_cr3() -> u64;
    /// `int3` in kernel mode, probe [`KERNEL_INT3_ID`].
    fn pv_probe_kernel_int3();
}

/// How the frame's `RIP` and `RSP` relate to the probe.
#[derive(Clone, Copy)]
enum At {
    /// `RIP = insn + n`, `RSP` = the probe's.
    Insn(u64),
    /// Inside the hypercall page's `xen_version` stub, after its `syscall`
    /// (`RSP` = the probe's minus the call and two pushes).
    PageStub,
}

/// One user-mode probe and what its event must look like.
struct Probe {
    name: &'static str,
    id: usize,
    vector: u64,
    error_code: Option<u64>,
    at: At,
    cr2: Option<u64>,
}

const PROBES: [Probe; 11] = [
    Probe {
        name: "syscall with RAX = 17",
        id: 0,
        vector: VECTOR_SYSCALL,
        error_code: None,
        at: At::Insn(2),
        cr2: None,
    },
    Probe {
        name: "call to the hypercall page's xen_version stub",
        id: 1,
        vector: VECTOR_SYSCALL,
        error_code: None,
        at: At::PageStub,
        cr2: None,
    },
    Probe {
        name: "int $0x80 (DPL 3)",
        id: 2,
        vector: 0x80,
        error_code: None,
        at: At::Insn(2),
        cr2: None,
    },
    Probe { name: "cli", id: 3, vector: 13, error_code: Some(0), at: At::Insn(0), cr2: None },
    Probe {
        name: "mov %cr3, %rax",
        id: 4,
        vector: 13,
        error_code: Some(0),
        at: At::Insn(0),
        cr2: None,
    },
    Probe {
        name: "read of unmapped 0x1000",
        id: 5,
        vector: 14,
        error_code: Some(PFEC_USER),
        at: At::Insn(0),
        cr2: Some(UNMAPPED),
    },
    Probe {
        name: "write to unmapped 0x1000",
        id: 6,
        vector: 14,
        error_code: Some(PFEC_USER | PFEC_WRITE),
        at: At::Insn(0),
        cr2: Some(UNMAPPED),
    },
    Probe { name: "ud2", id: 7, vector: 6, error_code: None, at: At::Insn(0), cr2: None },
    Probe { name: "int3 (DPL 3)", id: 8, vector: 3, error_code: None, at: At::Insn(1), cr2: None },
    Probe {
        name: "int $0x21 (DPL 1: #GP from user mode)",
        id: 9,
        vector: 13,
        error_code: Some(softint_gp(0x21)),
        at: At::Insn(0),
        cr2: None,
    },
    Probe {
        name: "int $0x81 (DPL 0: #GP)",
        id: 10,
        vector: 13,
        error_code: Some(softint_gp(0x81)),
        at: At::Insn(0),
        cr2: None,
    },
];

fn test_main(si: &StartInfo) {
    if let Err(e) = shinfo::map(si) {
        pv_tests::fail(format_args!("mapping shared_info at {:#x}: {e}", si.shared_info));
        return;
    }
    bounce::set_hook(hook);
    let mut table = [TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 }; GATES.len() + 1];
    for (slot, &(vector, dpl, mask)) in table.iter_mut().zip(GATES.iter()) {
        *slot = bounce::trap_info(vector, dpl, mask);
    }
    if !check(bounce::set_trap_table(&table).is_ok(), "set_trap_table with a DPL-3 int $0x80") {
        return;
    }
    let r = bounce::register_callback(CallbackType::Event, 0, bounce::event_entry());
    check(r.is_ok(), format_args!("callback_op(register, event): {r:?}"));
    if l4_entry_present(si, UNMAPPED) {
        error(format_args!("{UNMAPPED:#x} is mapped: the #PF probes cannot run"));
        return;
    }

    let Some(l4_mfn) = kernel_l4(si) else { return };
    let r = new_user_baseptr(l4_mfn);
    if !check(r.is_ok(), format_args!("MMUEXT_NEW_USER_BASEPTR {l4_mfn:#x}: {r:?}")) {
        return;
    }
    let r = bounce::stack_switch(FLAT_SS, kernel_stack_top());
    if !check(
        r.is_ok(),
        format_args!("stack_switch({FLAT_SS:#x}, {:#x}): {r:?}", kernel_stack_top()),
    ) {
        return;
    }
    let r = bounce::register_callback(
        CallbackType::Syscall,
        CALLBACKF_mask_events,
        bounce::syscall_entry(),
    );
    if !check(r.is_ok(), format_args!("callback_op(register, syscall, mask_events): {r:?}")) {
        return;
    }
    if !gs_bases() {
        return;
    }

    bounce::reset();
    println!("entering user mode");
    // SAFETY: the user program only touches its stack and the kernel's
    // globals, and ends with the int $0x80 whose handler resumes the kernel
    // at `pv_user_return` with the callee-saved registers pushed by
    // `pv_enter_user`.
    unsafe {
        pv_enter_user((&raw const pv_user_main).addr() as u64, user_stack_top(), 0x202);
    }
    println!("back in kernel mode");
    after_user_mode();
    user_iopl();
}

/// `vm_assist(cmd, VMASST_TYPE_architectural_iopl)`.
fn architectural_iopl(cmd: VmAssistCmd) -> i64 {
    // SAFETY: vm_assist only changes how the hypervisor treats this domain.
    unsafe {
        hypercall::hypercall2(
            Hypercall::VmAssist.raw(),
            u64::from(cmd.raw()),
            u64::from(VmAssistType::ArchitecturalIopl.raw()),
        )
    }
}

/// Probe ids of the user-mode `cli`, `sti`, `outb` and `inb` at virtual
/// IOPL 3.
const IOPL_PROBES: [(usize, &str); 4] =
    [(11, "cli"), (12, "sti"), (13, "outb %al, $0x80"), (14, "inb $0x80, %al")];

/// `PHYSDEVOP_set_iopl(iopl)`.
fn set_iopl(iopl: u32) -> i64 {
    let arg = PhysdevSetIopl { iopl };
    // SAFETY: PHYSDEVOP_set_iopl reads one physdev_set_iopl.
    unsafe {
        hypercall::hypercall2(
            Hypercall::PhysdevOp.raw(),
            u64::from(PhysdevOp::SetIopl.raw()),
            (&raw const arg).addr() as u64,
        )
    }
}

/// Runs the IOPL user program with `RFLAGS = rflags` in the `iret` frame
/// and checks that none of its probes raised an event.
fn iopl_run(how: &str, rflags: u64) {
    bounce::reset();
    DONE.store(false, Ordering::Relaxed);
    println!("entering user mode at IOPL 3 ({how})");
    // SAFETY: as for the first user-mode run; the program only runs the
    // probes and ends with the int $0x80 that resumes the kernel.
    unsafe {
        pv_enter_user((&raw const pv_user_iopl).addr() as u64, user_stack_top(), rflags);
    }
    check(
        DONE.load(Ordering::Relaxed) && !ABORTED.load(Ordering::Relaxed),
        format_args!("the IOPL 3 user program ({how}) ran to its final int $0x80"),
    );
    for (id, insn) in IOPL_PROBES {
        let s = bounce::seen(id);
        check(
            s.count == 0,
            format_args!(
                "user {insn} at virtual IOPL 3 ({how}) raises no event (got {} on {:#x}, error \
                 code {:#x})",
                s.count, s.frame.vector, s.frame.error_code
            ),
        );
    }
    check_eq(bounce::unexpected_total(), 0, format_args!("no unexpected events ({how})"));
}

/// Guest-user mode at virtual IOPL 3, set the architectural way (the
/// kernel `iret`s to user mode with `RFLAGS.IOPL = 3` under
/// `VMASST_TYPE_architectural_iopl`, as Xen's `do_iret` takes it) and with
/// `PHYSDEVOP_set_iopl(3)`: `cli`, `sti` and port I/O are emulated without
/// an event. The boot tests run this on one and on two vCPUs.
fn user_iopl() {
    if !check_eq(
        architectural_iopl(VmAssistCmd::Enable),
        0,
        "vm_assist(enable, architectural_iopl)",
    ) {
        return;
    }
    iopl_run("architectural IOPL, iret with IOPL 3", 0x3202);
    check_eq(architectural_iopl(VmAssistCmd::Disable), 0, "vm_assist(disable, architectural_iopl)");
    check_eq(set_iopl(3), 0, "PHYSDEVOP_set_iopl(3)");
    iopl_run("PHYSDEVOP_set_iopl(3)", 0x202);
    check_eq(set_iopl(0), 0, "PHYSDEVOP_set_iopl(0)");
}

/// Checks `%cr3` against `start_info.pt_base` and returns the L4's MFN.
fn kernel_l4(si: &StartInfo) -> Option<u64> {
    let pfn = si.pt_base.wrapping_sub(VIRT_BASE) >> 12;
    if pfn >= si.nr_pages || si.mfn_list == 0 {
        error(format_args!("pt_base {:#x} is not in the initial mapping", si.pt_base));
        return None;
    }
    let list = si.mfn_list as *const u64;
    // SAFETY: the builder maps the nr_pages-entry P2M list at mfn_list,
    // and pfn < nr_pages.
    let mfn = unsafe { list.wrapping_add(usize::try_from(pfn).unwrap_or(0)).read_volatile() };
    // SAFETY: an assembly function using only caller-saved registers; a
    // fault in it is caught and resumed by the probe machinery.
    let cr3 = unsafe { pv_read_cr3() };
    check(
        cr3 == xen_pfn_to_cr3(mfn) && bounce::unexpected_total() == 0,
        format_args!(
            "mov %cr3 in kernel mode: {cr3:#x} (expected xen_pfn_to_cr3(mfn_list[{pfn:#x}] = \
             {mfn:#x}) = {:#x})",
            xen_pfn_to_cr3(mfn)
        ),
    );
    Some(mfn)
}

/// `mmuext_op(MMUEXT_NEW_USER_BASEPTR, mfn)` for this domain.
fn new_user_baseptr(mfn: u64) -> Result<(), XenError> {
    let op = MmuextOp::new(MmuextCmd::NewUserBaseptr, mfn, 0);
    // SAFETY: the hypervisor reads one mmuext_op from `op`; pdone is NULL.
    let ret = unsafe {
        hypercall::hypercall4(
            Hypercall::MmuextOp.raw(),
            (&raw const op).addr() as u64,
            1,
            0,
            u64::from(DOMID_SELF.0),
        )
    };
    result(ret).map(drop)
}

/// `set_segment_base(which, base)`.
fn set_segment_base(which: SegBase, base: u64) -> Result<(), XenError> {
    // SAFETY: the hypercall only loads a segment base.
    let ret = unsafe {
        hypercall::hypercall2(Hypercall::SetSegmentBase.raw(), u64::from(which.raw()), base)
    };
    result(ret).map(drop)
}

/// Points the kernel and user `GS` bases at their magic values.
fn gs_bases() -> bool {
    let kernel = (&raw const KERNEL_GS).addr() as u64;
    let user = (&raw const USER_GS).addr() as u64;
    let r = set_segment_base(SegBase::GsKernel, kernel);
    let ok_kernel =
        check(r.is_ok(), format_args!("set_segment_base(GS_KERNEL, {kernel:#x}): {r:?}"));
    let r = set_segment_base(SegBase::GsUser, user);
    let ok_user = check(r.is_ok(), format_args!("set_segment_base(GS_USER, {user:#x}): {r:?}"));
    if !(ok_kernel && ok_user) {
        return false;
    }
    GS_READY.store(true, Ordering::Relaxed);
    let gs = read_gs0();
    check(gs == KERNEL_GS_MAGIC, format_args!("kernel %gs:0 = {gs:#x} (the GS_KERNEL magic)"))
}

/// `%gs:0`.
fn read_gs0() -> u64 {
    let value: u64;
    // SAFETY: called only once both GS bases point at a `GsArea`.
    unsafe { asm!("mov %gs:0, {}", out(reg) value, options(att_syntax, nostack, readonly)) };
    value
}

/// Top of the `stack_switch` stack.
fn kernel_stack_top() -> u64 {
    ((&raw const KERNEL_STACK).addr() as u64).wrapping_add(STACK_SIZE as u64)
}

/// Top of the user stack.
fn user_stack_top() -> u64 {
    ((&raw const USER_STACK).addr() as u64).wrapping_add(STACK_SIZE as u64)
}

/// The kernel's event hook: notes the kernel `%gs:0` for every event,
/// sends the final `int $0x80` back to the kernel, and abandons user mode
/// after an unexpected event outside a probe.
fn hook(frame: &mut TrapFrame) -> Option<u64> {
    if GS_READY.load(Ordering::Relaxed) {
        bounce::set_extra(read_gs0());
    }
    let expect = bounce::PV_PROBE_EXPECT.load(Ordering::Relaxed);
    if frame.vector == 0x80 && expect == EXPECT_DONE {
        DONE.store(true, Ordering::Relaxed);
        DONE_CS.store(frame.cs, Ordering::Relaxed);
        DONE_GS.store(read_gs0(), Ordering::Relaxed);
        bounce::PV_PROBE_EXPECT.store(bounce::EXPECT_NONE, Ordering::Relaxed);
        return_to_kernel(frame);
        return Some(0);
    }
    let no_probe = bounce::PV_PROBE_RESUME.load(Ordering::Relaxed) == 0;
    if frame.from_user() && no_probe && frame.vector != bounce::VECTOR_EVENT {
        bounce::note_unexpected(Seen::capture(frame));
        ABORTED.store(true, Ordering::Relaxed);
        return_to_kernel(frame);
        return Some(0);
    }
    None
}

/// Makes the handler's `iret` resume the kernel at `pv_user_return`, in
/// guest-kernel mode (`CS` RPL 0), with events masked (`RFLAGS.IF = 0`).
fn return_to_kernel(frame: &mut TrapFrame) {
    frame.rip = (&raw const pv_user_return).addr() as u64;
    frame.cs = u64::from(KERNEL_CS);
    frame.rflags = RFLAGS_MBS;
    frame.rsp = PV_USER_RETURN_RSP.load(Ordering::Relaxed);
    frame.ss = u64::from(FLAT_SS);
}

/// Everything checked once the kernel is back.
fn after_user_mode() {
    check(
        DONE.load(Ordering::Relaxed) && !ABORTED.load(Ordering::Relaxed),
        "the user program ran to its final int $0x80",
    );
    let cs = DONE_CS.load(Ordering::Relaxed);
    check(
        cs == u64::from(USER_CS),
        format_args!("final int $0x80 frame CS {cs:#x} (user, mask 0)"),
    );
    let gs = DONE_GS.load(Ordering::Relaxed);
    check(gs == KERNEL_GS_MAGIC, format_args!("kernel %gs:0 in its handler: {gs:#x}"));
    let gs = read_gs0();
    check(gs == KERNEL_GS_MAGIC, format_args!("kernel %gs:0 back in kernel mode: {gs:#x}"));
    let first = PV_USER_GS_FIRST.load(Ordering::Relaxed);
    let last = PV_USER_GS_LAST.load(Ordering::Relaxed);
    check(
        first == USER_GS_MAGIC && last == USER_GS_MAGIC,
        format_args!(
            "user %gs:0 (GS_USER base) on entry {first:#x} and after the events {last:#x} \
             (expected {USER_GS_MAGIC:#x})"
        ),
    );
    check_eq(shinfo::upcall_mask(), 1, "evtchn_upcall_mask after the iret with RFLAGS.IF = 0");
    for probe in &PROBES {
        check_user_probe(probe);
    }
    for (what, rax) in [
        ("syscall", PV_USER_RAX_SYSCALL.load(Ordering::Relaxed)),
        ("the hypercall page", PV_USER_RAX_PAGE.load(Ordering::Relaxed)),
    ] {
        check(
            rax == u64::from(Hypercall::XenVersion.raw()),
            format_args!("user RAX after {what}: {rax:#x} (17: no hypercall ran)"),
        );
    }
    kernel_mode_again();
    check_eq(bounce::unexpected_total(), 0, "no unexpected events");
    println!("event upcalls: {}", bounce::events());
    match ops::xen_version() {
        Ok((major, minor)) => {
            check(true, format_args!("xen_version works after user mode: {major}.{minor}"));
        }
        Err(e) => pv_tests::fail(format_args!("xen_version after user mode: {e}")),
    }
}

/// Checks the record of one user-mode probe.
fn check_user_probe(probe: &Probe) {
    let s = bounce::seen(probe.id);
    let name = probe.name;
    if !check(
        s.count == 1 && s.frame.vector == probe.vector,
        format_args!(
            "user {name}: one event on vector {:#x} (got {} on {:#x})",
            probe.vector, s.count, s.frame.vector
        ),
    ) {
        return;
    }
    let f = &s.frame;
    let (rip, rsp) = match probe.at {
        At::Insn(n) => (s.insn.wrapping_add(n), s.probe_rsp),
        At::PageStub => (
            stub_address(Hypercall::XenVersion.raw()).wrapping_add(10),
            s.probe_rsp.wrapping_sub(24),
        ),
    };
    check(
        f.rip == rip
            && f.cs == u64::from(USER_CS)
            && f.rflags & (RFLAGS_IF | RFLAGS_MBS) == RFLAGS_IF | RFLAGS_MBS
            && f.rsp == rsp
            && f.ss == u64::from(FLAT_SS),
        format_args!(
            "user {name}: frame RIP {:#x} CS {:#x} RFLAGS {:#x} RSP {:#x} SS {:#x} (expected RIP \
             {rip:#x} CS {USER_CS:#x} RFLAGS.IF 1 RSP {rsp:#x} SS {FLAT_SS:#x})",
            f.rip, f.cs, f.rflags, f.rsp, f.ss
        ),
    );
    let at = (kernel_stack_top() & !0xf).wrapping_sub(40);
    check(
        s.frame_address == at,
        format_args!(
            "user {name}: frame (RIP slot) at {:#x}, at the top of the stack_switch stack \
             (expected {at:#x})",
            s.frame_address
        ),
    );
    if let Some(code) = probe.error_code {
        check(
            f.error_code == code,
            format_args!("user {name}: error code {:#x} (expected {code:#x})", f.error_code),
        );
    }
    if let Some(cr2) = probe.cr2 {
        check(s.cr2 == cr2, format_args!("user {name}: vcpu_info.arch.cr2 {:#x}", s.cr2));
    }
    let mask = u8::from(masks_events(probe.vector));
    check(
        s.mask == mask,
        format_args!(
            "user {name}: evtchn_upcall_mask 0 -> {} in the handler (expected {mask})",
            s.mask
        ),
    );
    check(
        s.extra == KERNEL_GS_MAGIC,
        format_args!("user {name}: the handler runs with the kernel GS (%gs:0 = {:#x})", s.extra),
    );
    if probe.vector == VECTOR_SYSCALL {
        check(
            f.rcx == f.rip && f.r11 & RFLAGS_IF != 0 && f.rax == 17,
            format_args!(
                "user {name}: frame RCX {:#x} = RIP after the syscall, R11 {:#x} = user RFLAGS, \
                 RAX {:#x} = 17",
                f.rcx, f.r11, f.rax
            ),
        );
    } else {
        check(
            f.rcx == MAGIC_RCX && f.r11 == MAGIC_R11,
            format_args!(
                "user {name}: RCX/R11 in the frame ({:#x}/{:#x}) are the interrupted ones",
                f.rcx, f.r11
            ),
        );
    }
    // The plain `syscall` (probe 0) overwrites RCX and R11 itself.
    if probe.id != 0 {
        check(
            !bounce::clobbered(probe.id),
            format_args!("user {name}: RCX/R11 intact after the iret back to user mode"),
        );
    }
}

/// A kernel-mode `int3` after user mode: a kernel frame again.
fn kernel_mode_again() {
    // SAFETY: an assembly probe using only caller-saved registers.
    unsafe { pv_probe_kernel_int3() };
    let s = bounce::seen(KERNEL_INT3_ID);
    let f = &s.frame;
    let rip = s.insn.wrapping_add(1);
    let cs = u64::from(KERNEL_CS) | (1 << 32);
    let at = (s.probe_rsp & !0xf).wrapping_sub(40);
    check(
        s.count == 1
            && f.vector == 3
            && f.rip == rip
            && f.cs == cs
            && f.rflags & RFLAGS_IF == 0
            && f.rsp == s.probe_rsp
            && s.frame_address == at,
        format_args!(
            "kernel int3 after user mode: {} event(s) on {:#x}, RIP {:#x} (expected {rip:#x}), CS \
             {:#x} (expected {cs:#x}), RFLAGS {:#x}, RSP {:#x}, frame at {:#x} (expected {at:#x})",
            s.count, f.vector, f.rip, f.cs, f.rflags, f.rsp, s.frame_address
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
    // Kernel side: enter user mode, and the way back.
    ".pushsection .text.pv_enter_user, \"ax\", @progbits",
    ".globl pv_enter_user",
    ".type pv_enter_user, @function",
    "pv_enter_user:",
    "    push %rbx",
    "    push %rbp",
    "    push %r12",
    "    push %r13",
    "    push %r14",
    "    push %r15",
    "    mov %rsp, PV_USER_RETURN_RSP(%rip)",
    // iret_context: ss, rsp, rflags, cs, rip, flags, rcx, r11, rax.
    "    pushq ${ss}",
    "    push %rsi",
    "    push %rdx",
    "    pushq ${user_cs}",
    "    push %rdi",
    "    pushq $0",
    "    push %rcx",
    "    push %r11",
    "    push %rax",
    "    mov ${iret}, %eax",
    "    syscall",
    "    ud2",
    ".globl pv_user_return",
    "pv_user_return:",
    "    pop %r15",
    "    pop %r14",
    "    pop %r13",
    "    pop %r12",
    "    pop %rbp",
    "    pop %rbx",
    "    ret",
    ".size pv_enter_user, . - pv_enter_user",
    ".popsection",
    "",
    ".pushsection .text.pv_read_cr3, \"ax\", @progbits",
    ".globl pv_read_cr3",
    ".type pv_read_cr3, @function",
    "pv_read_cr3:",
    "    movq ${cr3_id}, PV_PROBE_ID(%rip)",
    "    movq $-1, PV_PROBE_EXPECT(%rip)",
    "    movq $0, PV_PROBE_KEEP_RIP(%rip)",
    "    lea 8f(%rip), %r10",
    "    mov %r10, PV_PROBE_INSN(%rip)",
    "    lea 9f(%rip), %r10",
    "    mov %r10, PV_PROBE_RESUME(%rip)",
    "    mov %rsp, PV_PROBE_RSP(%rip)",
    "    xor %eax, %eax",
    "8:  mov %cr3, %rax",
    "9:  movq $0, PV_PROBE_RESUME(%rip)",
    "    ret",
    ".size pv_read_cr3, . - pv_read_cr3",
    ".popsection",
    "",
    pv_tests::probe_fn_asm!("kernel_int3", id: "21", expect: "3", keep_rip: "0",
        setup: "", insn: "int3", post: ""),
    "",
    // The user program.
    ".pushsection .text.pv_user_main, \"ax\", @progbits",
    ".globl pv_user_main",
    ".type pv_user_main, @function",
    "pv_user_main:",
    "    mov %gs:0, %rax",
    "    mov %rax, PV_USER_GS_FIRST(%rip)",
    pv_tests::probe_asm!(id: "0", expect: "0x100", keep_rip: "0",
        setup: "mov $17, %eax; xor %edi, %edi; xor %esi, %esi", insn: "syscall",
        post: "mov %rax, PV_USER_RAX_SYSCALL(%rip)"),
    pv_tests::probe_asm!(id: "1", expect: "0x100", keep_rip: "1",
        setup: "xor %edi, %edi; xor %esi, %esi", insn: "call hypercall_page + 17 * 32",
        post: "mov %rax, PV_USER_RAX_PAGE(%rip)"),
    pv_tests::probe_asm!(id: "2", expect: "0x80", keep_rip: "0",
        setup: "", insn: "int $0x80", post: ""),
    pv_tests::probe_asm!(id: "3", expect: "13", keep_rip: "0", setup: "", insn: "cli", post: ""),
    pv_tests::probe_asm!(id: "4", expect: "13", keep_rip: "0",
        setup: "", insn: "mov %cr3, %rax", post: ""),
    pv_tests::probe_asm!(id: "5", expect: "14", keep_rip: "0",
        setup: "mov $0x1000, %r8d", insn: "mov (%r8), %eax", post: ""),
    pv_tests::probe_asm!(id: "6", expect: "14", keep_rip: "0",
        setup: "mov $0x1000, %r8d", insn: "movl $1, (%r8)", post: ""),
    pv_tests::probe_asm!(id: "7", expect: "6", keep_rip: "0", setup: "", insn: "ud2", post: ""),
    pv_tests::probe_asm!(id: "8", expect: "3", keep_rip: "0", setup: "", insn: "int3", post: ""),
    pv_tests::probe_asm!(id: "9", expect: "13", keep_rip: "0",
        setup: "", insn: "int $0x21", post: ""),
    pv_tests::probe_asm!(id: "10", expect: "13", keep_rip: "0",
        setup: "", insn: "int $0x81", post: ""),
    "    mov %gs:0, %rax",
    "    mov %rax, PV_USER_GS_LAST(%rip)",
    "    movq ${done}, PV_PROBE_EXPECT(%rip)",
    "    int $0x80",
    "    ud2",
    ".size pv_user_main, . - pv_user_main",
    ".popsection",
    "",
    // The user program at virtual IOPL 3: none of these may fault.
    ".pushsection .text.pv_user_iopl, \"ax\", @progbits",
    ".globl pv_user_iopl",
    ".type pv_user_iopl, @function",
    "pv_user_iopl:",
    pv_tests::probe_asm!(id: "11", expect: "-1", keep_rip: "0", setup: "", insn: "cli", post: ""),
    pv_tests::probe_asm!(id: "12", expect: "-1", keep_rip: "0", setup: "", insn: "sti", post: ""),
    pv_tests::probe_asm!(id: "13", expect: "-1", keep_rip: "0",
        setup: "mov $0x5a, %eax", insn: "outb %al, $0x80", post: ""),
    pv_tests::probe_asm!(id: "14", expect: "-1", keep_rip: "0",
        setup: "", insn: "inb $0x80, %al", post: ""),
    "    movq ${done}, PV_PROBE_EXPECT(%rip)",
    "    int $0x80",
    "    ud2",
    ".size pv_user_iopl, . - pv_user_iopl",
    ".popsection",
    ss = const FLAT_SS,
    user_cs = const USER_CS,
    iret = const Hypercall::Iret.raw(),
    cr3_id = const CR3_PROBE_ID,
    done = const EXPECT_DONE,
    options(att_syntax),
);
