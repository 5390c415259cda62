//! Xen 4.17's `set_debugreg`/`x86emul_read_dr` rules, value by value
//! (the errnos are those Debian's Xen 4.17 gives `pv-hypercalls`).

use guest_abi::xen::{Errno, HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};

use super::*;

fn vcpu() -> PvVcpu {
    PvVcpu::default()
}

#[test]
fn a_new_vcpu_reads_the_defaults() {
    let v = vcpu();
    assert_eq!(read_debugreg(&v, 6), Ok(DR6_DEFAULT));
    assert_eq!(read_debugreg(&v, 7), Ok(DR7_DEFAULT));
    assert_eq!(read_debugreg(&v, 4), Ok(DR6_DEFAULT), "DR4 aliases DR6 without CR4.DE");
    assert_eq!(read_debugreg(&v, 5), Ok(DR7_DEFAULT));
    for reg in [8, 15, 0x1_0000_0000, u64::MAX] {
        assert_eq!(read_debugreg(&v, reg), Err(Errno::ENODEV), "DR{reg:#x}");
    }
}

#[test]
fn breakpoint_addresses_stay_out_of_the_hypervisor() {
    let mut v = vcpu();
    assert_eq!(set_debugreg(&mut v, 0, 0x40_1000), Ok(0));
    assert_eq!(set_debugreg(&mut v, 3, (1 << 47) - 1), Ok(3));
    assert_eq!(set_debugreg(&mut v, 1, HYPERVISOR_VIRT_END), Ok(1));
    for bad in [1 << 47, HYPERVISOR_VIRT_START, HYPERVISOR_VIRT_END - 1] {
        assert_eq!(set_debugreg(&mut v, 2, bad), Err(Errno::EPERM), "{bad:#x}");
    }
    assert_eq!(read_debugreg(&v, 0), Ok(0x40_1000));
    assert_eq!(read_debugreg(&v, 2), Ok(0), "a refused value changes nothing");
}

#[test]
fn dr6_and_dr7_reserved_bits() {
    let mut v = vcpu();
    assert_eq!(set_debugreg(&mut v, 6, 1 << 32), Err(Errno::EINVAL));
    assert_eq!(set_debugreg(&mut v, 7, 1 << 32), Err(Errno::EINVAL));
    assert_eq!(set_debugreg(&mut v, 6, 0x1001), Ok(6));
    assert_eq!(read_debugreg(&v, 6), Ok(DR6_DEFAULT | 1), "bit 12 reads 0");
    // Bits 11, 12, 14, 15 cleared (RTM too), bit 10 set.
    assert_eq!(set_debugreg(&mut v, 7, 0xd801), Ok(7));
    assert_eq!(read_debugreg(&v, 7), Ok(0x401));
    assert_eq!(set_debugreg(&mut v, 7, 1 << 13), Err(Errno::EPERM), "general detect");
    // DR4/DR5 write DR6/DR7 without CR4.DE.
    assert_eq!(set_debugreg(&mut v, 5, 0), Ok(7));
    assert_eq!(read_debugreg(&v, 7), Ok(DR7_DEFAULT));
    v.cr4 = CR4_DE;
    assert_eq!(set_debugreg(&mut v, 4, 0), Err(Errno::ENODEV));
    assert_eq!(read_debugreg(&v, 5), Err(Errno::ENODEV));
    assert_eq!(set_debugreg(&mut v, 8, 0), Err(Errno::ENODEV));
}

#[test]
fn io_breakpoints_need_cr4_de_and_are_emulated() {
    let mut v = vcpu();
    // DR1 as an I/O breakpoint (R/W1 = 10b), locally enabled.
    let io = (2 << 20) | (1 << 2);
    assert_eq!(set_debugreg(&mut v, 7, io), Err(Errno::EPERM));
    v.cr4 = CR4_DE;
    assert_eq!(set_debugreg(&mut v, 7, io | 1), Ok(7));
    assert_eq!(v.debugreg[7], DR7_DEFAULT | (2 << 20) | 1, "the I/O enable is not loaded");
    assert_eq!(v.debugreg[DR7_EMUL_SLOT], 1 << 2);
    assert_eq!(read_debugreg(&v, 7), Ok(DR7_DEFAULT | io | 1), "but it reads back");
    // Nothing enabled: the emulated enables go.
    assert_eq!(set_debugreg(&mut v, 7, 2 << 20), Ok(7));
    assert_eq!(v.debugreg[DR7_EMUL_SLOT], 0);
}

#[test]
fn a_context_loads_what_set_debugreg_takes_and_saves_dr7_whole() {
    let mut v = vcpu();
    let mut c = [0u64; 8];
    c[0] = 0x1000;
    c[1] = HYPERVISOR_VIRT_START; // refused: stays 0
    c[6] = 1 << 40; // refused: stays the default
    c[7] = 0x3;
    load_context(&mut v, &c);
    let saved = save_context(&v);
    assert_eq!(saved, [0x1000, 0, 0, 0, 0, 0, DR6_DEFAULT, DR7_DEFAULT | 3]);
}
