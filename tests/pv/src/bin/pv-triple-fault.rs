// SPDX-License-Identifier: GPL-2.0-only
//! `pv-triple-fault`: a domU whose exception cannot be delivered even
//! though it has handlers, the PV form of a triple fault (booted as a domU
//! by `pv-toolstack`; `pv-crash` is the other kind: no handler at all).
//!
//! It installs its virtual IDT, then raises `#UD` in a way that leaves the
//! hypervisor nowhere to put the exception frame (Xen's
//! `create_bounce_frame` fails and the domain is crashed). The command line
//! picks how (`how=<mode>`):
//!
//! * `unmapped-stack` (default): `%rsp` points at an unmapped address;
//! * `hypervisor-stack`: `%rsp` points into the hypervisor's direct map
//!   (`0xFFFF830000200000`): the frame must not land there;
//! * `m2p-stack`: `%rsp` points into the read-only M2P (guest-readable,
//!   never guest-writable);
//! * `fault-loop`: the stack is fine but the `#UD` and `#PF` handlers are
//!   unmapped: each delivery faults again on fetching the handler, every
//!   nested `#PF` frame goes one frame further down the stack, until the
//!   stack runs into a page this kernel unmapped below it and the next
//!   frame cannot be written.
//!
//! The domain must end as `shutdown crash` and nothing after the `#UD` may
//! run; if it does, the kernel reports failure (if it still can).
#![no_std]
#![no_main]

use core::arch::global_asm;

use pv_tests::guest_abi::xen::{FLAT_KERNEL_CS, Hypercall, TrapInfo, UVMF_INVLPG};
use pv_tests::{StartInfo, fail, fault, hypercall, println, shinfo};

pv_tests::test_kernel!(name: "triple-fault", main: test_main);

/// An address no PV domU has mapped (below `VIRT_BASE`, far from 0).
const UNMAPPED: u64 = 0x0000_7fff_dead_0000;

/// The hypervisor's direct map of physical 2 MiB (its own image).
const HYPERVISOR_DIRECT_MAP: u64 = 0xFFFF_8300_0020_0000;

/// Inside the read-only M2P table.
const M2P: u64 = 0xFFFF_8000_0000_8000;

global_asm!(
    ".pushsection .bss.pv_triple_fault, \"aw\", @nobits",
    ".balign 4096",
    "pv_triple_fault_guard:",
    "    .skip 4096",
    "pv_triple_fault_stack:",
    "    .skip 4096",
    ".popsection",
);

unsafe extern "C" {
    /// The page unmapped below [`STACK`].
    #[link_name = "pv_triple_fault_guard"]
    static mut GUARD: [u8; 4096];
    /// The one-page stack of `fault-loop`.
    #[link_name = "pv_triple_fault_stack"]
    static mut STACK: [u8; 4096];
}

fn test_main(si: &StartInfo) {
    let how = shinfo::cmdline_value(si.cmd_line_bytes(), "how").unwrap_or("unmapped-stack");
    if let Err(e) = fault::install() {
        fail(format_args!("set_trap_table: {e}"));
        return;
    }
    let sp = match how {
        "unmapped-stack" => UNMAPPED,
        "hypervisor-stack" => HYPERVISOR_DIRECT_MAP,
        "m2p-stack" => M2P,
        "fault-loop" => match fault_loop_stack() {
            Ok(sp) => sp,
            Err(e) => {
                fail(e);
                return;
            }
        },
        other => {
            fail(format_args!("unknown how={other}"));
            return;
        }
    };
    println!("triple fault ({how}): #UD with %rsp = {sp:#x}");
    // SAFETY: the kernel gives up its stack and raises #UD: the hypervisor
    // cannot deliver it (see the module documentation) and crashes the
    // domain, so nothing after the `ud2` runs and the lost stack is never
    // used by Rust code again.
    unsafe {
        core::arch::asm!("mov {sp}, %rsp", "ud2", "ud2", sp = in(reg) sp, options(att_syntax, noreturn));
    }
}

/// For `fault-loop`: unmaps the guard page, points the `#UD` and `#PF`
/// handlers at an unmapped address and returns the top of the stack page
/// above the guard.
fn fault_loop_stack() -> Result<u64, &'static str> {
    let guard = (&raw mut GUARD).addr() as u64;
    // SAFETY: the guard page is this kernel's and holds nothing.
    unsafe { shinfo::update_va_mapping(guard, 0, UVMF_INVLPG) }
        .map_err(|_| "cannot unmap the guard page")?;
    let entry = |vector: u8| TrapInfo {
        vector,
        flags: TrapInfo::IF_FLAG,
        cs: FLAT_KERNEL_CS,
        pad0: 0,
        address: UNMAPPED,
    };
    let end = TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 };
    let table = [entry(fault::UD), entry(fault::PF), end];
    // SAFETY: set_trap_table reads the zero-terminated table; the handlers
    // it installs are never reached by Rust code (the next #UD ends the
    // domain).
    let rc = unsafe {
        hypercall::hypercall1(Hypercall::SetTrapTable.raw(), table.as_ptr().addr() as u64)
    };
    if rc != 0 {
        return Err("set_trap_table with unmapped handlers refused");
    }
    Ok(((&raw mut STACK).addr() as u64).wrapping_add(4096))
}
