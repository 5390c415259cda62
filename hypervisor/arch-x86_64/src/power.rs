// SPDX-License-Identifier: GPL-2.0-only
//! Machine power control: reboot, ACPI power-off, halt.
use crate::acpi::{Platform, PmRegister};
use crate::io::{inb, outb, outw};
use crate::layout::maddr_to_virt;
use crate::{cpu, time};

const SLP_EN: u16 = 1 << 13;

fn write_reg8(reg: PmRegister, value: u8) {
    match reg {
        PmRegister::Io(port) => outb(port, value),
        // SAFETY: the FADT names this register; it is mapped in the direct map.
        PmRegister::Memory(pa) => unsafe {
            core::ptr::write_volatile(maddr_to_virt(pa) as *mut u8, value)
        },
    }
}

fn write_reg16(reg: PmRegister, value: u16) {
    match reg {
        PmRegister::Io(port) => outw(port, value),
        // SAFETY: as above.
        PmRegister::Memory(pa) => unsafe {
            core::ptr::write_volatile(maddr_to_virt(pa) as *mut u16, value)
        },
    }
}

/// Power the machine off through ACPI S5. Returns if that did not work.
pub fn acpi_power_off(platform: &Platform) {
    let (Some(pm1a), Some(s5)) = (platform.pm1a_cnt, platform.s5) else { return };
    if let Some(pm1b) = platform.pm1b_cnt {
        write_reg16(pm1b, (u16::from(s5.slp_typ_b) << 10) | SLP_EN);
    }
    write_reg16(pm1a, (u16::from(s5.slp_typ_a) << 10) | SLP_EN);
    time::udelay(100_000);
}

/// Reset the machine: ACPI reset register, keyboard controller, port 0xCF9,
/// then a triple fault.
pub fn reboot(platform: Option<&Platform>) -> ! {
    x86_64::instructions::interrupts::disable();
    if let Some((reg, value)) = platform.and_then(|p| p.reset) {
        write_reg8(reg, value);
        time::udelay(50_000);
    }
    for _ in 0..10 {
        // Wait for the keyboard controller's input buffer, then pulse reset.
        for _ in 0..0x10000 {
            if inb(0x64) & 0x02 == 0 {
                break;
            }
        }
        outb(0x64, 0xfe);
        time::udelay(10_000);
    }
    outb(0xcf9, 0x02);
    time::udelay(10);
    outb(0xcf9, 0x06);
    time::udelay(50_000);
    // Triple fault: an empty IDT and an exception.
    let null =
        x86_64::structures::DescriptorTablePointer { limit: 0, base: x86_64::VirtAddr::new(0) };
    // SAFETY: deliberately loading an empty IDT so that the next exception
    // triple-faults and resets the CPU; nothing runs after this.
    unsafe {
        x86_64::instructions::tables::lidt(&null);
        core::arch::asm!("int3", options(nomem, nostack));
    }
    cpu::halt_forever()
}
