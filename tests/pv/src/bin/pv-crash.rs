// SPDX-License-Identifier: GPL-2.0-only
//! `pv-crash`: a guest that crashes, for the "a domU's crash ends that domU
//! only" checks (booted as a domU by `pv-toolstack`).
//!
//! It prints a line, clears its virtual IDT (`set_trap_table(NULL)`) and
//! executes `ud2`: the hypervisor finds no handler to bounce the `#UD` to
//! and crashes the domain, which its toolstack sees as `shutdown crash`.
//! Nothing after the `ud2` may run; if it does, the kernel reports failure.
#![no_std]
#![no_main]

use pv_tests::guest_abi::xen::Hypercall;
use pv_tests::{StartInfo, fail, hypercall, println};

pv_tests::test_kernel!(name: "crash", main: test_main);

fn test_main(_si: &StartInfo) {
    println!("crashing on purpose: #UD with no trap table");
    // SAFETY: a NULL trap table clears the vCPU's virtual IDT; the kernel
    // needs no handler afterwards, since the next instruction ends it.
    let rc = unsafe { hypercall::hypercall1(Hypercall::SetTrapTable.raw(), 0) };
    if rc != 0 {
        fail(format_args!("set_trap_table(NULL): {rc}"));
        return;
    }
    // SAFETY: `ud2` raises #UD, which the hypervisor cannot deliver: the
    // domain is crashed and this vCPU never runs again.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    fail("still running after an undeliverable #UD");
}
