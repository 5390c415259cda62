// SPDX-License-Identifier: GPL-2.0-only
//! The CMOS real-time clock, read once at boot for the guests' wallclock
//! (Xen's `get_cmos_time`).
//!
//! The registers are read twice with the update-in-progress flag clear
//! until two readings agree, so a read never straddles an update; BCD and
//! 12-hour formats are converted; the century register (ACPI FADT's
//! default, 0x32) is used when it holds a plausible value, else 20xx.

use hv_core::time::{RtcTime, bcd_to_bin};

use crate::io::{inb, outb};

const CMOS_INDEX: u16 = 0x70;
const CMOS_DATA: u16 = 0x71;
const REG_STATUS_A: u8 = 0x0a;
const REG_STATUS_B: u8 = 0x0b;
const STATUS_A_UIP: u8 = 0x80;
const STATUS_B_24H: u8 = 0x02;
const STATUS_B_BINARY: u8 = 0x04;
const REG_CENTURY: u8 = 0x32;

fn cmos_read(reg: u8) -> u8 {
    // Keep NMIs enabled (bit 7 clear).
    outb(CMOS_INDEX, reg & 0x7f);
    inb(CMOS_DATA)
}

/// Raw registers: seconds, minutes, hours, day, month, year, century.
fn raw() -> [u8; 7] {
    // Bounded wait for the end of an update (they last under 2 ms).
    for _ in 0..1_000_000 {
        if cmos_read(REG_STATUS_A) & STATUS_A_UIP == 0 {
            break;
        }
        core::hint::spin_loop();
    }
    [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, REG_CENTURY].map(cmos_read)
}

/// The RTC's date and time, or `None` if it reads as nonsense.
#[must_use]
pub fn read() -> Option<RtcTime> {
    let mut now = raw();
    for _ in 0..8 {
        let again = raw();
        if again == now {
            break;
        }
        now = again;
    }
    let status_b = cmos_read(REG_STATUS_B);
    let conv = |v: u8| if status_b & STATUS_B_BINARY != 0 { v } else { bcd_to_bin(v) };
    let [sec, min, hour_raw, day, month, year, century] = now;
    let pm = hour_raw & 0x80 != 0;
    let mut hour = conv(hour_raw & 0x7f);
    if status_b & STATUS_B_24H == 0 {
        hour %= 12;
        if pm {
            hour = hour.saturating_add(12);
        }
    }
    let century = match conv(century) {
        c @ 19..=21 => u32::from(c),
        _ => 20,
    };
    let t = RtcTime {
        year: century.saturating_mul(100).saturating_add(u32::from(conv(year))),
        month: u32::from(conv(month)),
        day: u32::from(conv(day)),
        hour: u32::from(hour),
        minute: u32::from(conv(min)),
        second: u32::from(conv(sec)),
    };
    t.unix_seconds().map(|_| t)
}
