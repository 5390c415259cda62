// SPDX-License-Identifier: GPL-2.0-only
//! The 8254 PIT, used once at boot as the reference clock for calibrating
//! the TSC and the local APIC timer (channel 2, gated through port 0x61).
use crate::io::{inb, outb};

/// PIT input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Busy-wait `ms` milliseconds on PIT channel 2 (at most 50 ms per call),
/// calling `during` once when the wait starts and returning what `after`
/// returns when it ends. Used to measure other clocks against the PIT.
pub fn measure<T>(ms: u64, during: impl FnOnce(), after: impl FnOnce() -> T) -> T {
    let ms = ms.clamp(1, 50);
    let count = PIT_HZ.saturating_mul(ms) / 1000;
    // Gate on, speaker off.
    let ctrl = inb(0x61);
    outb(0x61, (ctrl & !0x02) | 0x01);
    // Channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
    outb(0x43, 0b1011_0000);
    outb(0x42, (count & 0xff) as u8);
    outb(0x42, ((count >> 8) & 0xff) as u8);
    // Restart the count by toggling the gate.
    let ctrl = inb(0x61);
    outb(0x61, ctrl & !0x01);
    outb(0x61, ctrl | 0x01);
    during();
    // OUT2 (bit 5 of port 0x61) goes high at terminal count.
    while inb(0x61) & 0x20 == 0 {
        core::hint::spin_loop();
    }
    after()
}
