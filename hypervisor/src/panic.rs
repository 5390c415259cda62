// SPDX-License-Identifier: GPL-2.0-only
//! Panic: Xen's banner on the console, then reboot — or halt with `noreboot`.
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use hv_arch_x86_64::{acpi::Platform, cpu, power, smp, time};

use crate::console::printk_force;

/// `noreboot` was given.
static NOREBOOT: AtomicBool = AtomicBool::new(false);
static PANICKING: AtomicBool = AtomicBool::new(false);
/// ACPI platform data for the reset register (set once ACPI is parsed).
pub static PLATFORM: spin::Once<Platform> = spin::Once::new();

/// Record the `noreboot` option.
pub fn set_noreboot(noreboot: bool) {
    NOREBOOT.store(noreboot, Ordering::Relaxed);
}

/// Xen's `panic()`: print the banner and message, then reboot or halt.
pub fn xen_panic(args: fmt::Arguments<'_>) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while panicking: just stop this CPU.
        cpu::halt_forever();
    }
    x86_64::instructions::interrupts::disable();
    let cpu = smp::this_cpu();
    printk_force(format_args!("****************************************"));
    printk_force(format_args!("Panic on CPU {cpu}:"));
    printk_force(args);
    printk_force(format_args!("****************************************"));
    printk_force(format_args!(""));
    if NOREBOOT.load(Ordering::Relaxed) {
        printk_force(format_args!("Manual reset required ('noreboot' specified)"));
        cpu::halt_forever();
    }
    printk_force(format_args!("Reboot in five seconds..."));
    time::udelay(5_000_000);
    power::reboot(PLATFORM.get())
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(loc) => {
            xen_panic(format_args!("{}\n(at {}:{})", info.message(), loc.file(), loc.line()))
        }
        None => xen_panic(format_args!("{}", info.message())),
    }
}
