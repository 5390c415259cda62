// SPDX-License-Identifier: GPL-2.0-only
//! A PV vCPU's virtual debug registers: Xen 4.17's `set_debugreg` (the
//! `set_debugreg` hypercall, `mov %drN` emulation through
//! `x86emul_write_dr`, and `arch_set_info_guest`) and `x86emul_read_dr`
//! (`get_debugreg`, `mov` from `%drN`). One implementation for all of them.
//!
//! * DR0–DR3 must be guest addresses (`breakpoint_addr_ok`): `-EPERM`.
//! * DR6/DR7 with any of the upper 32 bits set: `-EINVAL`; their reserved
//!   bits are forced (DR6 bits 4–11 and 16–31 to 1, bit 12 to 0; DR7 bit
//!   10 to 1, bits 11, 12, 14 and 15 to 0 — 4.17 clears DR7.RTM whatever
//!   the CPU has).
//! * DR7.GD: `-EPERM`. An I/O breakpoint (R/W = 10b) needs the guest's
//!   CR4.DE (else `-EPERM`); its enables are kept apart (Xen's
//!   `dr7_emul`, here slot [`DR7_EMUL_SLOT`]) and emulated, never loaded.
//! * DR4/DR5 alias DR6/DR7 while the guest's CR4.DE is clear, else
//!   `-ENODEV` (`#UD` for the instruction); other numbers are `-ENODEV`.
//!
//! Slots of [`PvVcpu::debugreg`]: 0–3 the breakpoint addresses, 6 and 7
//! DR6/DR7, 5 the emulated I/O enables, 4 unused. The machine layer loads
//! the hardware registers from these before the vCPU runs
//! (`traps::hardware_debugregs`).

use guest_abi::xen::Errno;

use super::domain::PvVcpu;
use crate::mm::pv::addr_ok;

/// CR4.DE.
const CR4_DE: u64 = 1 << 3;
/// `X86_DR6_DEFAULT`: DR6 with no debug condition recorded (its
/// read-as-one bits).
pub const DR6_DEFAULT: u64 = 0xffff_0ff0;
/// DR6 bits that read as 0 (bit 12).
pub const DR6_ZEROS: u64 = 0x1000;
/// `X86_DR7_DEFAULT`: DR7 with nothing enabled (bit 10 reads as 1).
pub const DR7_DEFAULT: u64 = 0x400;
/// DR7 bits 4.17 forces to 0 (`~DR_CONTROL_RESERVED_ZERO`: 11, 12, 14, 15).
const DR7_ZEROS: u64 = 0xd800;
/// DR7.GD (`DR_GENERAL_DETECT`).
const DR7_GD: u64 = 1 << 13;
/// DR7 local/global enables (`DR7_ACTIVE_MASK`).
const DR7_ACTIVE_MASK: u64 = 0xff;
/// DR7 R/W value of an I/O breakpoint (`DR_IO`).
const DR_IO: u64 = 2;
/// Slot of the emulated I/O-breakpoint enables in [`PvVcpu::debugreg`].
pub const DR7_EMUL_SLOT: usize = 5;

/// The debug registers of a new or reset vCPU (DR6/DR7 defaults).
pub const INITIAL: [u64; 8] = [0, 0, 0, 0, 0, 0, DR6_DEFAULT, DR7_DEFAULT];

/// The slot that debug register `reg` lives in for `v` (DR4/DR5 alias
/// DR6/DR7 without CR4.DE), or `-ENODEV`.
fn slot(v: &PvVcpu, reg: u64) -> Result<usize, Errno> {
    let de = v.cr4 & CR4_DE != 0;
    match reg {
        0..=3 | 6 | 7 => usize::try_from(reg).map_err(|_| Errno::ENODEV),
        4 if !de => Ok(6),
        5 if !de => Ok(7),
        _ => Err(Errno::ENODEV),
    }
}

/// `set_debugreg(v, reg, value)`: checks `value` and stores it. Returns
/// the slot written (6 or 7 for DR4/DR5), so a caller running `v` can load
/// that hardware register.
pub fn set_debugreg(v: &mut PvVcpu, reg: u64, value: u64) -> Result<usize, Errno> {
    let slot = slot(v, reg)?;
    let stored = match slot {
        0..=3 => {
            if !addr_ok(value) {
                return Err(Errno::EPERM);
            }
            value
        }
        6 => {
            if value >> 32 != 0 {
                return Err(Errno::EINVAL);
            }
            (value & !DR6_ZEROS) | DR6_DEFAULT
        }
        _ => {
            if value >> 32 != 0 {
                return Err(Errno::EINVAL);
            }
            let mut value = (value & !DR7_ZEROS) | DR7_DEFAULT;
            if value & DR7_GD != 0 {
                return Err(Errno::EPERM);
            }
            let mut io_enable = 0;
            if value & DR7_ACTIVE_MASK != 0 {
                // (R/W field shift, enable bits) of DR0..DR3.
                for (rw_shift, enable) in [(16u32, 3u64), (20, 3 << 2), (24, 3 << 4), (28, 3 << 6)]
                {
                    if (value >> rw_shift) & 3 == DR_IO {
                        if v.cr4 & CR4_DE == 0 {
                            return Err(Errno::EPERM);
                        }
                        io_enable |= value & enable;
                    }
                }
                value &= !io_enable;
            }
            if let Some(emul) = v.debugreg.get_mut(DR7_EMUL_SLOT) {
                *emul = io_enable;
            }
            value
        }
    };
    if let Some(dr) = v.debugreg.get_mut(slot) {
        *dr = stored;
    }
    Ok(slot)
}

/// `x86emul_read_dr(reg)`: the value the guest reads (DR7 with its
/// emulated I/O enables), or `-ENODEV` (`#UD`).
pub fn read_debugreg(v: &PvVcpu, reg: u64) -> Result<u64, Errno> {
    let slot = slot(v, reg)?;
    let get = |i: usize| v.debugreg.get(i).copied().unwrap_or(0);
    Ok(if slot == 7 { get(7) | get(DR7_EMUL_SLOT) } else { get(slot) })
}

/// `arch_set_info_guest`'s debug registers: back to [`INITIAL`], then
/// each of DR0–DR3, DR6, DR7 from `context` through [`set_debugreg`], a
/// refused value leaving the default (4.17 ignores the errors).
pub fn load_context(v: &mut PvVcpu, context: &[u64; 8]) {
    v.debugreg = INITIAL;
    for reg in [0usize, 1, 2, 3, 6, 7] {
        let value = context.get(reg).copied().unwrap_or(0);
        let _ = set_debugreg(v, reg as u64, value);
    }
}

/// `arch_get_info_guest`'s debug registers: DR0–DR3, DR6, DR7 with the
/// emulated enables, DR4/DR5 zero.
#[must_use]
pub fn save_context(v: &PvVcpu) -> [u64; 8] {
    let mut out = [0u64; 8];
    for reg in [0usize, 1, 2, 3, 6, 7] {
        if let (Some(slot), Ok(value)) = (out.get_mut(reg), read_debugreg(v, reg as u64)) {
            *slot = value;
        }
    }
    out
}

#[cfg(test)]
mod tests;
