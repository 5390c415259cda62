// SPDX-License-Identifier: GPL-2.0-only
//! Port I/O: virtual IOPL, dom0 port permissions, all-ones reads and
//! dropped writes, PCI configuration and CMOS.

use super::*;
use guest_abi::xen::VmAssistType;

const RAX: u64 = 0x1122_3344_5566_7788;

fn dom0(iopl: u32) -> Fixture {
    let mut f = Fixture::new();
    f.dom.vcpus[0].arch.iopl = iopl;
    f
}

/// `in` from `port` with `code` (using DX), returning RAX.
fn in_dx(f: &mut Fixture, env: &mut FakeEnv, code: &[u8], port: u16) -> u64 {
    f.regs.rax = RAX;
    f.regs.rdx = 0xffff_0000 | u64::from(port);
    assert_eq!(run(f, env, code), EmulOutcome::Done);
    assert_eq!(f.regs.rip, GUEST_BASE + code.len() as u64);
    f.regs.rax
}

#[test]
fn dom0_defaults() {
    let c = [CONSOLE];
    for p in
        [0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43, 0x61, 0xcfc, 0xcfd, 0xcff, 0x3f8, 0x3ff]
    {
        assert!(!dom0_ioport_allowed(p, &c), "port {p:#x}");
    }
    for p in
        [0, 0x1f, 0x22, 0x60, 0x64, 0x70, 0x71, 0x80, 0x3f7, 0x400, 0xcf8, 0xcf9, 0xd00, 0xffff]
    {
        assert!(dom0_ioport_allowed(p, &c), "port {p:#x}");
    }
    assert!(dom0_ioport_allowed(0x3f8, &[]));
}

#[test]
fn every_console_uart_is_denied_to_dom0() {
    // COM1 and COM2 both driven by the hypervisor's console.
    let mut f = dom0(1);
    let mut env = FakeEnv::intel();
    env.console_ports = vec![CONSOLE, (0x2f8, 0x2ff)];
    for port in [0x3f8, 0x3f9, 0x3fd, 0x3ff, 0x2f8, 0x2fa, 0x2fc, 0x2ff] {
        // in %dx,%al reads all ones; out %al,%dx is dropped.
        assert_eq!(in_dx(&mut f, &mut env, &[0xec], port), (RAX & !0xff) | 0xff, "{port:#x}");
        f.regs.rdx = u64::from(port);
        assert_eq!(run(&mut f, &mut env, &[0xee]), EmulOutcome::Done);
    }
    assert_eq!(env.io, [], "no UART register reached the hardware");
    // A port next to COM2 still goes through.
    assert_eq!(in_dx(&mut f, &mut env, &[0xec], 0x2f7), (RAX & !0xff) | 0x5a);
    assert_eq!(env.io, [IoAccess::In(0x2f7, 1)]);
    // With only COM2 in use, COM1 is an ordinary port again.
    env.io.clear();
    env.console_ports = vec![(0x2f8, 0x2ff)];
    assert_eq!(in_dx(&mut f, &mut env, &[0xec], 0x3f8), (RAX & !0xff) | 0x5a);
    assert_eq!(in_dx(&mut f, &mut env, &[0xec], 0x2f8), (RAX & !0xff) | 0xff);
    assert_eq!(env.io, [IoAccess::In(0x3f8, 1)]);
}

#[test]
fn permitted_ports_pass_through_with_their_size() {
    let mut f = dom0(1);
    let mut env = FakeEnv::intel();
    env.port_values.insert(0x1f0, 0xbeef_cafe);
    // in $0x60,%al: only AL changes.
    f.regs.rax = RAX;
    assert_eq!(run(&mut f, &mut env, &[0xe4, 0x60]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, 0x1122_3344_5566_775a);
    assert_eq!(f.regs.rip, GUEST_BASE + 2);
    // in %dx,%ax and in %dx,%eax (zero-extends).
    assert_eq!(in_dx(&mut f, &mut env, &[0x66, 0xed], 0x1f0), 0x1122_3344_5566_cafe);
    assert_eq!(in_dx(&mut f, &mut env, &[0xed], 0x1f0), 0xbeef_cafe);
    // in $0x1c,%eax with a REX.W (ignored for I/O).
    f.regs.rax = RAX;
    assert_eq!(run(&mut f, &mut env, &[0x48, 0xe5, 0x1c]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, 0x5a5a_5a5a);
    // out %al,$0x80; out %ax,%dx; out %eax,%dx.
    f.regs.rax = RAX;
    assert_eq!(run(&mut f, &mut env, &[0xe6, 0x80]), EmulOutcome::Done);
    f.regs.rdx = 0x1f0;
    assert_eq!(run(&mut f, &mut env, &[0x66, 0xef]), EmulOutcome::Done);
    assert_eq!(run(&mut f, &mut env, &[0xef]), EmulOutcome::Done);
    assert_eq!(f.regs.rax, RAX, "out leaves RAX");
    assert_eq!(
        env.io,
        [
            IoAccess::In(0x60, 1),
            IoAccess::In(0x1f0, 2),
            IoAccess::In(0x1f0, 4),
            IoAccess::In(0x1c, 4),
            IoAccess::Out(0x80, 1, 0x88),
            IoAccess::Out(0x1f0, 2, 0x7788),
            IoAccess::Out(0x1f0, 4, 0x5566_7788),
        ]
    );
}

#[test]
fn denied_ports_read_all_ones_and_drop_writes() {
    let mut f = dom0(1);
    let mut env = FakeEnv::intel();
    // The hypervisor's console, the PICs, the PIT and its gate.
    for port in [0x3f8, 0x3fd, 0x20, 0x21, 0xa0, 0xa1, 0x40, 0x43, 0x61] {
        assert_eq!(in_dx(&mut f, &mut env, &[0xec], port), (RAX & !0xff) | 0xff);
        f.regs.rdx = u64::from(port);
        assert_eq!(run(&mut f, &mut env, &[0xee]), EmulOutcome::Done);
    }
    for port in [0x3f8, 0x3fd, 0x20, 0xa0, 0x40, 0x42] {
        assert_eq!(in_dx(&mut f, &mut env, &[0x66, 0xed], port), (RAX & !0xffff) | 0xffff);
        f.regs.rdx = u64::from(port);
        assert_eq!(run(&mut f, &mut env, &[0x66, 0xef]), EmulOutcome::Done);
    }
    for port in [0x3f8, 0x3fc, 0x40] {
        assert_eq!(in_dx(&mut f, &mut env, &[0xed], port), u64::from(u32::MAX));
        f.regs.rdx = u64::from(port);
        assert_eq!(run(&mut f, &mut env, &[0xef]), EmulOutcome::Done);
    }
    assert_eq!(env.io, []);
    // Next to the PIC, permitted ports of a word are still accessed.
    assert_eq!(in_dx(&mut f, &mut env, &[0xed], 0x20), 0x5a5a_ffff);
    assert_eq!(env.io, [IoAccess::In(0x22, 2)]);
    env.io.clear();
    // A dword straddling permitted and denied ports is split.
    assert_eq!(in_dx(&mut f, &mut env, &[0xed], 0x3f6), 0xffff_5a5a);
    assert_eq!(env.io, [IoAccess::In(0x3f6, 2)]);
    f.regs.rax = 0x1122_3344;
    f.regs.rdx = 0x3f6;
    assert_eq!(run(&mut f, &mut env, &[0xef]), EmulOutcome::Done);
    assert_eq!(env.io.last(), Some(&IoAccess::Out(0x3f6, 2, 0x3344)));
    // A dword at 0xffff runs off the port space.
    env.io.clear();
    assert_eq!(in_dx(&mut f, &mut env, &[0xed], 0xffff), 0xffff_ff5a);
    assert_eq!(env.io, [IoAccess::In(0xffff, 1)]);
    f.regs.rax = 0x1122_3344;
    f.regs.rdx = 0xffff;
    assert_eq!(run(&mut f, &mut env, &[0xef]), EmulOutcome::Done);
    assert_eq!(env.io.last(), Some(&IoAccess::Out(0xffff, 1, 0x44)));
}

#[test]
fn unprivileged_domain_touches_no_hardware() {
    let mut f = dom0(1);
    f.dom.privileged = false;
    let mut env = FakeEnv::intel();
    for port in [0x60, 0x80, 0x70, 0x71, 0xcf8, 0xcfc] {
        assert_eq!(in_dx(&mut f, &mut env, &[0xed], port), u64::from(u32::MAX));
        assert_eq!(in_dx(&mut f, &mut env, &[0xec], port), (RAX & !0xff) | 0xff);
        assert_eq!(run(&mut f, &mut env, &[0xef]), EmulOutcome::Done);
    }
    assert_eq!(env.io, []);
}

#[test]
fn virtual_iopl() {
    let mut f = dom0(0);
    let mut env = FakeEnv::intel();
    // Kernel mode counts as ring 1.
    assert_eq!(run(&mut f, &mut env, &[0xe4, 0x60]), GP);
    assert_eq!(run(&mut f, &mut env, &[0xe6, 0x80]), GP);
    assert_eq!(f.regs.rip, GUEST_BASE);
    // ... or ring 0 with VMASST_TYPE_architectural_iopl.
    f.dom.vm_assist |= VmAssistType::ArchitecturalIopl.mask();
    assert_eq!(run(&mut f, &mut env, &[0xe4, 0x60]), EmulOutcome::Done);
    f.dom.vm_assist = 0;
    f.dom.vcpus[0].arch.iopl = 1;
    assert_eq!(run(&mut f, &mut env, &[0xe4, 0x60]), EmulOutcome::Done);
    // User mode is ring 3.
    user_mode(&mut f);
    assert_eq!(run(&mut f, &mut env, &[0xe4, 0x60]), GP);
    f.dom.vcpus[0].arch.iopl = 2;
    assert_eq!(run(&mut f, &mut env, &[0xec]), GP);
    f.dom.vcpus[0].arch.iopl = 3;
    assert_eq!(run(&mut f, &mut env, &[0xe4, 0x60]), EmulOutcome::Done);
    assert_eq!(env.io, [IoAccess::In(0x60, 1), IoAccess::In(0x60, 1), IoAccess::In(0x60, 1)]);
}

#[test]
fn pci_config_and_cmos() {
    let mut f = dom0(1);
    let mut env = FakeEnv::intel();
    // CONFIG_ADDRESS as a dword and the data window go to the hardware for
    // dom0; byte accesses to 0xcf8/0xcf9 are ordinary permitted ports.
    f.regs.rax = 0x8000_0810;
    f.regs.rdx = 0xcf8;
    assert_eq!(run(&mut f, &mut env, &[0xef]), EmulOutcome::Done);
    in_dx(&mut f, &mut env, &[0xed], 0xcf8);
    in_dx(&mut f, &mut env, &[0xed], 0xcfc);
    in_dx(&mut f, &mut env, &[0x66, 0xed], 0xcfe);
    in_dx(&mut f, &mut env, &[0xec], 0xcfd);
    in_dx(&mut f, &mut env, &[0xec], 0xcf9);
    f.regs.rax = 0x6;
    f.regs.rdx = 0xcf9;
    assert_eq!(run(&mut f, &mut env, &[0xee]), EmulOutcome::Done);
    assert_eq!(
        env.io,
        [
            IoAccess::Out(0xcf8, 4, 0x8000_0810),
            IoAccess::In(0xcf8, 4),
            IoAccess::In(0xcfc, 4),
            IoAccess::In(0xcfe, 2),
            IoAccess::In(0xcfd, 1),
            IoAccess::In(0xcf9, 1),
            IoAccess::Out(0xcf9, 1, 6),
        ]
    );
    // CMOS: the NMI-disable bit of the index never reaches the hardware.
    env.io.clear();
    f.regs.rax = 0x8f;
    assert_eq!(run(&mut f, &mut env, &[0xe6, 0x70]), EmulOutcome::Done);
    assert_eq!(run(&mut f, &mut env, &[0xe4, 0x71]), EmulOutcome::Done);
    assert_eq!(env.io, [IoAccess::Out(0x70, 1, 0x0f), IoAccess::In(0x71, 1)]);
}
