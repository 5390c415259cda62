// SPDX-License-Identifier: GPL-2.0-only
//! Control and debug registers, `clts`, `xsetbv`, `wbinvd`, `hlt`,
//! `cli`/`sti`, `rdtsc`.

use super::*;
use crate::mm::Mfn;
use crate::mm::pv::{PageType, PhysMem};
use crate::pv::test_support::frames;

const TS: u64 = 1 << 3;
const CR4_OSXSAVE: u64 = 1 << 18;
const CR4_DE: u64 = 1 << 3;

#[test]
fn cr0_reads_host_with_virtual_ts_and_only_ts_changes() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    f.regs.rax = u64::MAX;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x20, 0xc0]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, HOST_CR0);
    assert_eq!(f.regs.rip, GUEST_BASE + 3);
    f.dom.vcpus[0].arch.fpu_ts = true;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x20, 0xc0]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, HOST_CR0 | TS);
    // mov %rax,%cr0 clearing and setting TS.
    f.regs.rax = HOST_CR0;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x22, 0xc0]), EmulOutcome::Done);
    assert!(!f.dom.vcpus[0].arch.fpu_ts && !f.platform.ts);
    f.regs.rax = HOST_CR0 | TS;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x22, 0xc0]), EmulOutcome::Done);
    assert!(f.dom.vcpus[0].arch.fpu_ts && f.platform.ts);
    // Any other change is refused without side effects.
    f.regs.rax = (HOST_CR0 & !(1 << 31)) | TS;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x22, 0xc0]), EmulOutcome::Unhandled);
    assert_eq!(f.regs.rip, GUEST_BASE);
    // clts.
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x06]), EmulOutcome::Done);
    assert!(!f.dom.vcpus[0].arch.fpu_ts && !f.platform.ts);
    assert_eq!(f.regs.rip, GUEST_BASE + 2);
}

#[test]
fn cr2_is_virtual_and_mirrored_in_vcpu_info() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    f.regs.rsi = 0xdead_beef_0000;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x22, 0xd6]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.cr2, 0xdead_beef_0000);
    assert_eq!(f.mem.read_u64(frames::SHARED_INFO, 2), 0xdead_beef_0000);
    // mov %cr2,%r12 (REX.B).
    assert_eq!(run(&mut f, &mut env, &[0x41, 0x0f, 0x20, 0xd4]), EmulOutcome::Done);
    assert_eq!(f.regs.r12, 0xdead_beef_0000);
    assert_eq!(f.regs.rip, GUEST_BASE + 4);
}

#[test]
fn cr3_read_and_write() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    // mov %cr3,%r9.
    assert_eq!(run(&mut f, &mut env, &[0x41, 0x0f, 0x20, 0xd9]), EmulOutcome::Done);
    assert_eq!(f.regs.r9, frames::L4.0 << 12);
    // A REX followed by a legacy prefix is ignored: mov %cr3,%rcx.
    assert_eq!(run(&mut f, &mut env, &[0x41, 0x66, 0x0f, 0x20, 0xd9]), EmulOutcome::Done);
    assert_eq!(f.regs.rcx, frames::L4.0 << 12);
    assert_eq!(f.regs.rip, GUEST_BASE + 5);
    // A frame the domain does not own: refused, nothing changes.
    f.regs.rax = 46 << 12;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x22, 0xd8]), EmulOutcome::Unhandled);
    assert_eq!(f.dom.vcpus[0].arch.tables.guest_table, Some(frames::L4));
    assert_eq!(f.platform.cr3, None);
    assert_eq!(f.regs.rip, GUEST_BASE);
    // A fresh, empty frame of the domain becomes the new L4.
    let new_l4 = Mfn(45);
    f.frames.assign(new_l4, f.dom.id).unwrap();
    f.regs.rax = new_l4.0 << 12;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x22, 0xd8]), EmulOutcome::Done);
    assert_eq!(f.regs.rip, GUEST_BASE + 3);
    assert_eq!(f.dom.vcpus[0].arch.tables.guest_table, Some(new_l4));
    assert_eq!(f.platform.cr3, Some(new_l4));
    let info = f.frames.info(new_l4).unwrap();
    assert_eq!((info.type_info.ty, info.type_info.count), (PageType::L4, 1));
    // The empty table maps no code: the next fetch faults.
    f.regs.rip = GUEST_BASE;
    let mut ctx = f.ctx();
    assert_eq!(
        crate::pv::emulate::emulate_privileged_op(&mut ctx, &mut env),
        EmulOutcome::page_fault(GUEST_BASE, 0)
    );
}

#[test]
fn cr4_is_xens_pv_view() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    let visible = 0x660; // PAE MCE OSFXSR OSXMMEXCPT of the host.
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x20, 0xe0]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, visible);
    // Guest-controlled bits stick, others (PGE, VMXE, SMEP) are ignored.
    f.regs.rax = (1 << 2) | CR4_DE | (1 << 7) | (1 << 13) | (1 << 16) | CR4_OSXSAVE | (1 << 20);
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x22, 0xe0]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.cr4, 0x5_000c);
    assert_eq!(env.loaded_cr4, Some(0x5_000c | visible));
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x20, 0xe0]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, 0x5_000c | visible);
    // Writing the read value back is fine too.
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x22, 0xe0]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.cr4, 0x5_000c);
    // A host without XSAVE: OSXSAVE cannot be set.
    env.cpuid.get_mut(&(1, 0)).unwrap()[2] &= !(1 << 26);
    f.regs.rax = CR4_OSXSAVE;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x22, 0xe0]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.cr4, 0);
}

#[test]
fn other_control_registers_and_bad_forms() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    // CR8 (REX.R), CR1, CR5: not emulated.
    for code in [&[0x44, 0x0f, 0x20, 0xc0][..], &[0x0f, 0x20, 0xc8], &[0x0f, 0x22, 0xe8]] {
        assert_eq!(run(&mut f, &mut env, code), EmulOutcome::Unhandled);
        assert_eq!(f.regs.rip, GUEST_BASE);
    }
    // LOCK mov cr: #UD (no CR8_LEGACY for PV).
    assert_eq!(run(&mut f, &mut env, &[0xf0, 0x0f, 0x20, 0xc0]), UD);
    // From guest-user mode everything privileged is #GP(0).
    user_mode(&mut f);
    for code in [
        &[0x0f, 0x20, 0xc0][..],
        &[0x0f, 0x22, 0xd8],
        &[0x0f, 0x21, 0xc0],
        &[0x0f, 0x23, 0xf8],
        &[0x0f, 0x06],
        &[0x0f, 0x09],
        &[0x0f, 0x32],
        &[0x0f, 0x30],
        &[0xf4],
    ] {
        assert_eq!(run(&mut f, &mut env, code), GP, "{code:02x?}");
        assert_eq!(f.regs.rip, GUEST_BASE);
    }
}

#[test]
fn debug_registers() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    f.regs.rax = 0x1000;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xc0]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.debugreg[0], 0x1000);
    assert_eq!(env.debugregs, [(0, 0x1000)]);
    // mov %dr0,%rbx.
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x21, 0xc3]), EmulOutcome::Done);
    assert_eq!(f.regs.rbx, 0x1000);
    // Breakpoints in the hypervisor's range are refused.
    f.regs.rax = 0xffff_8000_0000_1000;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xc0]), GP);
    // DR6: reserved bits fixed, upper half refused.
    f.regs.rax = 0x1;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xf0]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.debugreg[6], 0xffff_0ff1);
    f.regs.rax = 1 << 32;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xf0]), GP);
    // DR7: GD refused, reserved bits fixed (4.17 clears RTM, bit 11, even
    // when the CPU has it).
    f.regs.rax = 1 << 13;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xf8]), GP);
    f.regs.rax = 0xd801;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xf8]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.debugreg[7], 0x0401);
    // DR4/DR5 alias DR6/DR7 while CR4.DE is clear...
    f.regs.rax = 0;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xe0]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.debugreg[6], 0xffff_0ff0);
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x21, 0xe9]), EmulOutcome::Done);
    assert_eq!(f.regs.rcx, 0x0401);
    // ... and are #UD with it, as is DR8.
    f.dom.vcpus[0].arch.cr4 = CR4_DE;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xe0]), UD);
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x21, 0xe9]), UD);
    assert_eq!(run(&mut f, &mut env, &[0x44, 0x0f, 0x23, 0xc0]), UD);
    assert_eq!(run(&mut f, &mut env, &[0x44, 0x0f, 0x21, 0xc0]), UD);
}

#[test]
fn io_breakpoints_need_cr4_de_and_trap_after_the_access() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    f.dom.vcpus[0].arch.iopl = 1;
    // L0 enabled, R/W0 = I/O, 1 byte.
    let dr7 = 0x2_0001;
    f.regs.rax = dr7;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xf8]), GP, "I/O breakpoints need DE");
    f.dom.vcpus[0].arch.cr4 = CR4_DE;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x23, 0xf8]), EmulOutcome::Done);
    assert_eq!(f.dom.vcpus[0].arch.debugreg[7], 0x2_0400, "the enable is emulated");
    assert_eq!(f.dom.vcpus[0].arch.debugreg[5], 1);
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x21, 0xf8]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, 0x2_0401);
    f.dom.vcpus[0].arch.debugreg[0] = 0x80;
    f.regs.rax = 0x11;
    assert_eq!(
        run(&mut f, &mut env, &[0xe6, 0x80]),
        EmulOutcome::Inject { vector: 1, error_code: None, cr2: None }
    );
    assert_eq!(f.regs.rip, GUEST_BASE + 2);
    assert_eq!(env.io.last(), Some(&IoAccess::Out(0x80, 1, 0x11)));
    assert_eq!(f.dom.vcpus[0].arch.debugreg[6] & 0xf, 1);
    // Another port: no trap.
    assert_eq!(run(&mut f, &mut env, &[0xe6, 0x81]), EmulOutcome::Done);
}

#[test]
fn xsetbv() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    let code = [0x0f, 0x01, 0xd1];
    f.regs.rax = 7;
    assert_eq!(run(&mut f, &mut env, &code), UD, "CR4.OSXSAVE clear");
    f.dom.vcpus[0].arch.cr4 = CR4_OSXSAVE;
    assert_eq!(run(&mut f, &mut env, &code), EmulOutcome::Done);
    assert_eq!(env.xcr0, Some(7));
    assert_eq!(f.regs.rip, GUEST_BASE + 3);
    f.regs.rax = 0xe7;
    assert_eq!(run(&mut f, &mut env, &code), EmulOutcome::Done);
    assert_eq!(env.xcr0, Some(0xe7));
    for bad in [0x2, 0x5, 0x27, 0x1f, 0x207] {
        f.regs.rax = bad;
        assert_eq!(run(&mut f, &mut env, &code), GP, "xcr0 {bad:#x}");
    }
    assert_eq!(env.xcr0, Some(0xe7));
    f.regs.rax = 7;
    f.regs.rcx = 1;
    assert_eq!(run(&mut f, &mut env, &code), GP, "XCR1");
    f.regs.rcx = 0;
    f.regs.rdx = 1;
    assert_eq!(run(&mut f, &mut env, &code), GP, "upper half");
    f.regs.rdx = 0;
    assert_eq!(run(&mut f, &mut env, &[0x66, 0x0f, 0x01, 0xd1]), UD);
    env.refuse_xsetbv = true;
    assert_eq!(run(&mut f, &mut env, &code), GP);
    env.refuse_xsetbv = false;
    user_mode(&mut f);
    assert_eq!(run(&mut f, &mut env, &code), GP);
}

#[test]
fn cache_halt_and_interrupt_flag() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x09]), EmulOutcome::Done);
    assert_eq!(env.wbinvds, 1);
    f.dom.privileged = false;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x09]), EmulOutcome::Done);
    assert_eq!(env.wbinvds, 1, "ignored for an unprivileged domain");
    assert_eq!(run(&mut f, &mut env, &[0xf4]), EmulOutcome::Done);
    assert!(f.dom.vcpus[0].blocked);
    assert_eq!(f.regs.rip, GUEST_BASE + 1);
    // cli/sti: a no-op with enough virtual IOPL, else the #GP stands.
    assert_eq!(run(&mut f, &mut env, &[0xfa]), EmulOutcome::Unhandled);
    f.dom.vcpus[0].arch.iopl = 1;
    let flags = f.regs.rflags;
    assert_eq!(run(&mut f, &mut env, &[0xfa]), EmulOutcome::Done);
    assert_eq!(run(&mut f, &mut env, &[0xfb]), EmulOutcome::Done);
    assert_eq!(f.regs.rflags, flags);
    user_mode(&mut f);
    assert_eq!(run(&mut f, &mut env, &[0xfb]), EmulOutcome::Unhandled);
    f.dom.vcpus[0].arch.iopl = 3;
    assert_eq!(run(&mut f, &mut env, &[0xfb]), EmulOutcome::Done);
}

#[test]
fn rdtsc_with_guest_tsd() {
    let mut f = Fixture::new();
    let mut env = FakeEnv::intel();
    f.dom.vcpus[0].arch.cr4 = 1 << 2;
    f.regs.rax = u64::MAX;
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x31]), EmulOutcome::Done);
    assert_eq!((f.regs.rdx, f.regs.rax), (HOST_TSC >> 32, HOST_TSC & 0xffff_ffff));
    // RDTSCP is not in the PV policy.
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x01, 0xf9]), UD);
    user_mode(&mut f);
    assert_eq!(run(&mut f, &mut env, &[0x0f, 0x31]), GP);
}
