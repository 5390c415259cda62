// SPDX-License-Identifier: GPL-2.0-only
//! The I/O APICs: device interrupt lines (global system interrupts, GSIs)
//! routed to a local APIC vector.
//!
//! Each IO-APIC (found in the ACPI MADT, registers memory-mapped in the
//! uncached part of the direct map) is reached through an index register
//! (`IOREGSEL`, offset 0) and a data window (`IOWIN`, offset 0x10). Register
//! 1 holds the version and the number of input pins; each pin has a 64-bit
//! redirection entry at registers `0x10 + 2n` (low half) and `0x11 + 2n`
//! (high half): vector, delivery mode, destination mode, polarity, trigger
//! mode, mask, and the destination APIC id in the top byte.
//!
//! [`init`] masks every pin of every IO-APIC; [`route`] then unmasks one
//! pin with fixed delivery to one CPU in physical destination mode. The
//! hypervisor drives only the lines it uses itself (the serial console);
//! dom0 cannot reach the IO-APICs (their frames are denied to it).
use alloc::vec::Vec;

use crate::acpi::{IoApicEntry, IrqRoute};
use crate::layout::maddr_to_virt;

/// Offset of the index register.
const IOREGSEL: u64 = 0x00;
/// Offset of the data window.
const IOWIN: u64 = 0x10;
/// The version register: version in bits 0-7, last pin number in 16-23.
const REG_VERSION: u32 = 0x01;
/// First redirection table register.
const REG_REDTBL: u32 = 0x10;
/// Redirection entry: the pin is masked.
const RTE_MASKED: u32 = 1 << 16;
/// Redirection entry: level-triggered (clear: edge).
const RTE_LEVEL: u32 = 1 << 15;
/// Redirection entry: active low (clear: active high).
const RTE_ACTIVE_LOW: u32 = 1 << 13;
/// Most pins one IO-APIC can have (the pin-count field is 8 bits).
const MAX_PINS: u32 = 256;

/// One IO-APIC in use.
#[derive(Clone, Copy, Debug)]
struct Chip {
    /// Virtual address of its registers (direct map, uncached).
    va: u64,
    /// First GSI it handles.
    gsi_base: u32,
    /// Number of input pins.
    pins: u32,
}

impl Chip {
    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `va` maps the IO-APIC's register page uncached (the MMIO
        // hole of the direct map); IOREGSEL and IOWIN are 32-bit registers
        // at offsets 0 and 0x10 of it. The caller holds `CHIPS`, so no other
        // CPU changes the index between the two accesses.
        unsafe {
            core::ptr::write_volatile(self.va.wrapping_add(IOREGSEL) as *mut u32, reg);
            core::ptr::read_volatile(self.va.wrapping_add(IOWIN) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile(self.va.wrapping_add(IOREGSEL) as *mut u32, reg);
            core::ptr::write_volatile(self.va.wrapping_add(IOWIN) as *mut u32, value);
        }
    }

    /// Writes pin `pin`'s redirection entry, masking it first so that no
    /// half-written entry is ever live.
    fn set_entry(&self, pin: u32, low: u32, high: u32) {
        let reg = REG_REDTBL.saturating_add(pin.saturating_mul(2));
        self.write(reg, RTE_MASKED);
        self.write(reg.saturating_add(1), high);
        self.write(reg, low);
    }
}

/// The IO-APICs found by [`init`]; the lock also serialises the
/// index/data register pairs.
static CHIPS: spin::Mutex<Vec<Chip>> = spin::Mutex::new(Vec::new());

/// Why a line could not be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoApicError {
    /// No IO-APIC handles that GSI.
    NoSuchGsi(u32),
    /// Vectors below 0x20 are exceptions.
    BadVector(u8),
    /// Physical destination mode reaches APIC ids 0-255 only.
    BadDestination(u32),
}

/// Takes the IO-APICs of the MADT into use and masks every pin. Returns the
/// number of pins masked (0 when there is no IO-APIC).
pub fn init(entries: &[IoApicEntry]) -> u32 {
    let mut chips = CHIPS.lock();
    chips.clear();
    let mut total = 0u32;
    for e in entries {
        let mut chip =
            Chip { va: maddr_to_virt(u64::from(e.address)), gsi_base: e.gsi_base, pins: 0 };
        let version = chip.read(REG_VERSION);
        // A missing chip reads all ones; real ones have version 0x1X or 0x20.
        if version == u32::MAX {
            continue;
        }
        chip.pins = ((version >> 16) & 0xff).saturating_add(1).min(MAX_PINS);
        for pin in 0..chip.pins {
            chip.set_entry(pin, RTE_MASKED, 0);
        }
        total = total.saturating_add(chip.pins);
        chips.push(chip);
    }
    total
}

/// Routes `line` to `vector` on the CPU whose local APIC id is `apic_id`
/// (fixed delivery, physical destination) and unmasks it.
pub fn route(line: IrqRoute, vector: u8, apic_id: u32) -> Result<(), IoApicError> {
    if vector < 0x20 {
        return Err(IoApicError::BadVector(vector));
    }
    let dest = u8::try_from(apic_id).map_err(|_| IoApicError::BadDestination(apic_id))?;
    let chips = CHIPS.lock();
    let (chip, pin) = chips
        .iter()
        .find_map(|c| {
            let pin = line.gsi.checked_sub(c.gsi_base)?;
            (pin < c.pins).then_some((c, pin))
        })
        .ok_or(IoApicError::NoSuchGsi(line.gsi))?;
    let mut low = u32::from(vector);
    if line.level {
        low |= RTE_LEVEL;
    }
    if line.active_low {
        low |= RTE_ACTIVE_LOW;
    }
    chip.set_entry(pin, low, u32::from(dest) << 24);
    Ok(())
}
