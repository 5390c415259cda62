// SPDX-License-Identifier: GPL-2.0-only
//! The local APIC (xAPIC, memory-mapped): enable, EOI, IPIs and the timer.
use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::model_specific::Msr;

use crate::layout::maddr_to_virt;
use crate::traps::SPURIOUS_APIC_VECTOR;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_ID: u64 = 0x20;
const APIC_VERSION: u64 = 0x30;
const APIC_TPR: u64 = 0x80;
const APIC_EOI: u64 = 0xb0;
const APIC_SVR: u64 = 0xf0;
const APIC_ESR: u64 = 0x280;
const APIC_ICR_LOW: u64 = 0x300;
const APIC_ICR_HIGH: u64 = 0x310;
const APIC_LVT_TIMER: u64 = 0x320;
const APIC_LVT_LINT0: u64 = 0x350;
const APIC_LVT_LINT1: u64 = 0x360;
const APIC_LVT_ERROR: u64 = 0x370;
const APIC_TIMER_INITIAL: u64 = 0x380;
const APIC_TIMER_CURRENT: u64 = 0x390;
const APIC_TIMER_DIVIDE: u64 = 0x3e0;
const LVT_MASKED: u32 = 1 << 16;
/// LVT delivery mode NMI (`APIC_DM_NMI`).
const LVT_DM_NMI: u32 = 0x400;
/// `IA32_APIC_BASE` bit 8: this is the boot processor.
const APIC_BASE_BSP: u64 = 1 << 8;
const ICR_BUSY: u32 = 1 << 12;

/// Virtual address of the LAPIC registers (0 until [`init`]).
static BASE_VA: AtomicU64 = AtomicU64::new(0);
/// Bus-clock ticks per millisecond at divide-by-16 (0 until calibrated).
static TIMER_TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

fn read(reg: u64) -> u32 {
    let base = BASE_VA.load(Ordering::Relaxed);
    if base == 0 {
        return 0;
    }
    // SAFETY: `base` maps the 4 KiB LAPIC page uncached in the direct map
    // (set by `init`); `reg` is a register offset below 0x400.
    unsafe { core::ptr::read_volatile(base.wrapping_add(reg) as *const u32) }
}

fn write(reg: u64, value: u32) {
    let base = BASE_VA.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile(base.wrapping_add(reg) as *mut u32, value) }
}

/// Physical base of the LAPIC from `IA32_APIC_BASE`.
#[must_use]
pub fn msr_base() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU with an APIC (all).
    unsafe { Msr::new(IA32_APIC_BASE).read() & 0x000f_ffff_ffff_f000 }
}

/// Enable the calling CPU's local APIC at physical `base` (the same on every CPU).
///
/// LINT1, where the chipset signals platform NMIs (parity/SERR, IOCHK, an
/// NMI button, QEMU's monitor `nmi`), delivers NMIs on the boot CPU only and
/// is masked elsewhere, as in Xen's `setup_local_APIC`; LINT0 (ExtINT from
/// the legacy PIC) is masked everywhere.
pub fn init(base: u64) {
    BASE_VA.store(maddr_to_virt(base), Ordering::Relaxed);
    // SAFETY: setting the global-enable bit (11) of IA32_APIC_BASE, keeping
    // the base, only turns on the xAPIC.
    let bsp = unsafe {
        let mut msr = Msr::new(IA32_APIC_BASE);
        let v = msr.read();
        msr.write(v | (1 << 11));
        v & APIC_BASE_BSP != 0
    };
    write(APIC_TPR, 0);
    write(APIC_LVT_TIMER, LVT_MASKED);
    write(APIC_LVT_LINT0, LVT_MASKED);
    write(APIC_LVT_LINT1, if bsp { LVT_DM_NMI } else { LVT_DM_NMI | LVT_MASKED });
    write(APIC_LVT_ERROR, u32::from(crate::traps::ERROR_APIC_VECTOR));
    write(APIC_ESR, 0);
    write(APIC_SVR, 0x100 | u32::from(SPURIOUS_APIC_VECTOR));
    eoi();
}

/// This CPU's local APIC id.
#[must_use]
pub fn id() -> u32 {
    read(APIC_ID) >> 24
}

/// The LAPIC version register.
#[must_use]
pub fn version() -> u32 {
    read(APIC_VERSION)
}

/// Signal end of interrupt.
pub fn eoi() {
    write(APIC_EOI, 0);
}

fn wait_icr_idle() -> bool {
    for _ in 0..1_000_000 {
        if read(APIC_ICR_LOW) & ICR_BUSY == 0 {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

fn send_icr(apic_id: u32, low: u32) -> bool {
    if !wait_icr_idle() {
        return false;
    }
    write(APIC_ICR_HIGH, apic_id << 24);
    write(APIC_ICR_LOW, low);
    wait_icr_idle()
}

/// Send INIT to `apic_id`.
pub fn send_init(apic_id: u32) -> bool {
    send_icr(apic_id, 0x0000_4500)
}

/// Send a startup IPI with `vector` (start address = vector << 12).
pub fn send_startup(apic_id: u32, vector: u8) -> bool {
    send_icr(apic_id, 0x0000_4600 | u32::from(vector))
}

/// Send fixed IPI `vector` to `apic_id`.
pub fn send_ipi(apic_id: u32, vector: u8) -> bool {
    send_icr(apic_id, 0x0000_4000 | u32::from(vector))
}

/// Send an NMI to every CPU but this one.
pub fn send_nmi_allbutself() -> bool {
    send_icr(0, 0x000c_4400)
}

/// Calibrate the LAPIC timer against the PIT (divide by 16, 10 ms window).
/// Returns ticks per millisecond.
pub fn calibrate_timer() -> u64 {
    write(APIC_TIMER_DIVIDE, 0x3);
    write(APIC_LVT_TIMER, LVT_MASKED);
    let remaining = crate::pit::measure(
        10,
        || write(APIC_TIMER_INITIAL, u32::MAX),
        || read(APIC_TIMER_CURRENT),
    );
    write(APIC_TIMER_INITIAL, 0);
    let ticks = u64::from(u32::MAX.wrapping_sub(remaining)) / 10;
    TIMER_TICKS_PER_MS.store(ticks, Ordering::Relaxed);
    ticks
}

/// Timer ticks per millisecond at divide-by-16 (0 before calibration).
#[must_use]
pub fn timer_ticks_per_ms() -> u64 {
    TIMER_TICKS_PER_MS.load(Ordering::Relaxed)
}

/// Arm the timer: one-shot after `us` microseconds, on [`crate::traps::LOCAL_TIMER_VECTOR`].
pub fn timer_oneshot_us(us: u64) {
    let ticks = timer_ticks_per_ms().saturating_mul(us) / 1000;
    write(APIC_TIMER_DIVIDE, 0x3);
    write(APIC_LVT_TIMER, u32::from(crate::traps::LOCAL_TIMER_VECTOR));
    write(APIC_TIMER_INITIAL, u32::try_from(ticks.max(1)).unwrap_or(u32::MAX));
}
