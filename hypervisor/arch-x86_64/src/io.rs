// SPDX-License-Identifier: GPL-2.0-only
//! Port I/O, wrapped once.
//!
//! Port I/O cannot break Rust's memory model, but writing the wrong port can
//! reset or wedge the machine, so only the machine layer's device drivers
//! (PIT, UART, ACPI PM registers, reset ports) call these.
use x86_64::instructions::port::Port;

/// Read a byte from `port`.
#[must_use]
pub fn inb(port: u16) -> u8 {
    // SAFETY: a port read has no memory-safety effect; callers in this crate
    // only read ports of devices they drive.
    unsafe { Port::<u8>::new(port).read() }
}

/// Write a byte to `port`.
pub fn outb(port: u16, value: u8) {
    // SAFETY: as for `inb`; device side effects are the caller's intent.
    unsafe { Port::<u8>::new(port).write(value) }
}

/// Read a 16-bit word from `port`.
#[must_use]
pub fn inw(port: u16) -> u16 {
    // SAFETY: see `inb`.
    unsafe { Port::<u16>::new(port).read() }
}

/// Write a 16-bit word to `port`.
pub fn outw(port: u16, value: u16) {
    // SAFETY: see `outb`.
    unsafe { Port::<u16>::new(port).write(value) }
}

/// Read a 32-bit word from `port`.
#[must_use]
pub fn inl(port: u16) -> u32 {
    // SAFETY: see `inb`.
    unsafe { Port::<u32>::new(port).read() }
}

/// Write a 32-bit word to `port`.
pub fn outl(port: u16, value: u32) {
    // SAFETY: see `outb`.
    unsafe { Port::<u32>::new(port).write(value) }
}

/// Reads `size` (1, 2 or 4) bytes from `port`; other sizes read all ones.
#[must_use]
pub fn port_in(port: u16, size: u8) -> u32 {
    match size {
        1 => u32::from(inb(port)),
        2 => u32::from(inw(port)),
        4 => inl(port),
        _ => u32::MAX,
    }
}

/// Writes `size` (1, 2 or 4) bytes to `port`; other sizes are dropped.
pub fn port_out(port: u16, size: u8, value: u32) {
    match size {
        1 => outb(port, value.to_le_bytes()[0]),
        2 => outw(port, u16::from_le_bytes([value.to_le_bytes()[0], value.to_le_bytes()[1]])),
        4 => outl(port, value),
        _ => {}
    }
}
