// SPDX-License-Identifier: GPL-2.0-only
//! Port I/O from a PV guest: `in`/`out` (Xen's `read_io`/`write_io`,
//! `guest_io_okay`, `admin_io_okay`, `guest_io_read`/`guest_io_write`).
//!
//! Two checks, in Xen's order:
//!
//! 1. the *guest's* permission ([`iopl_ok`]): the virtual IOPL must reach
//!    the guest's virtual ring (kernel 1, or 0 with
//!    `VMASST_TYPE_architectural_iopl`; user 3), else `#GP(0)`. There is no
//!    per-vCPU I/O bitmap (`PHYSDEVOP_set_iobitmap`) here;
//! 2. the *administrator's* permission ([`EmulEnv::ioports_permitted`]):
//!    permitted ports are accessed for real, with the access size the guest
//!    used. `0xcf8` as a dword and the CMOS/RTC ports `0x70`/`0x71` are never
//!    passed through whole.
//!
//! Otherwise the access is split per port as in `guest_io_read`: a port the
//! domain may use on its own is accessed (byte or aligned word), PCI
//! configuration (`0xcf8` dword, `0xcfc..0xcff`) is passed through for the
//! privileged domain, the CMOS index is passed through with the NMI-disable
//! bit cleared, and everything else reads as all ones (size-masked) and
//! drops writes. The instruction completes either way.
//!
//! Simplified against Xen: PCI configuration and CMOS accesses go straight
//! to the hardware instead of through Xen's per-domain `pci_cf8`/`cmos_idx`
//! latches (no read-only device map, no locking against the hypervisor's
//! own accesses); the PV PIT channel 2 / speaker port emulation
//! (`pv_pit_handler`, ports `0x42`, `0x43`, `0x61`) reads all ones.
//! I/O breakpoints (DR7 R/W = 10b with CR4.DE) are reported as in Xen.

use guest_abi::xen::VmAssistType;

use super::{EmulEnv, EmulOutcome};
use crate::pv::ctx::Ctx;

/// CMOS/RTC index port (`RTC_PORT(0)`).
const RTC_INDEX: u16 = 0x70;
/// CMOS/RTC data port (`RTC_PORT(1)`).
const RTC_DATA: u16 = 0x71;
/// PCI `CONFIG_ADDRESS`.
const PCI_CF8: u16 = 0xcf8;
/// CR4.DE.
const CR4_DE: u64 = 1 << 3;

/// Xen's dom0 port defaults (`dom0_setup_permissions`): everything except
/// the PICs (`0x20-0x21`, `0xa0-0xa1`), the PIT (`0x40-0x43`), the PC
/// speaker / PIT gate (`0x61`), PCI configuration data (`0xcfc-0xcff`;
/// `0xcf8` is special-cased by the emulator) and the inclusive ranges in
/// `denied`: the hypervisor's console UART (`base..=base + 7`, as
/// `ns16550_init_postirq`), the ACPI PM timer, `dom0_ioports_disable=`.
#[must_use]
pub fn dom0_ioport_allowed(port: u16, denied: &[(u16, u16)]) -> bool {
    let fixed = matches!(port, 0x20..=0x21 | 0xa0..=0xa1 | 0x40..=0x43 | 0x61 | 0xcfc..=0xcff);
    !fixed && !denied.iter().any(|&(lo, hi)| (lo..=hi).contains(&port))
}

/// Xen's `iopl_ok`: does the virtual IOPL allow I/O (and `cli`/`sti`) at
/// the guest's current virtual ring?
#[must_use]
pub fn iopl_ok(ctx: &Ctx<'_>) -> bool {
    let v = ctx.v_ref();
    let cpl = if !v.arch.kernel_mode {
        3
    } else if ctx.dom.vm_assist_enabled(VmAssistType::ArchitecturalIopl.raw()) {
        0
    } else {
        1
    };
    cpl <= v.arch.iopl
}

/// `ioports_access_permitted` for `size` bytes at `port` (a range running
/// past `0xffff` is never permitted).
fn permitted(ctx: &Ctx<'_>, env: &dyn EmulEnv, port: u16, size: u8) -> bool {
    let last = u32::from(port).saturating_add(u32::from(size)).saturating_sub(1);
    match u16::try_from(last) {
        Ok(last) => env.ioports_permitted(ctx.dom, port, last),
        Err(_) => false,
    }
}

/// Xen's `is_cmos_port`.
fn is_cmos(port: u16, size: u8) -> bool {
    let end = u32::from(port).saturating_add(u32::from(size));
    port <= RTC_DATA && end > u32::from(RTC_INDEX)
}

/// Xen's `admin_io_okay`: may this access go to the hardware as is?
fn admin_io_okay(ctx: &Ctx<'_>, env: &dyn EmulEnv, port: u16, size: u8) -> bool {
    if (port == PCI_CF8 && size == 4) || is_cmos(port, size) {
        return false;
    }
    permitted(ctx, env, port, size)
}

/// All ones in the low `size` bytes.
const fn ones(size: u8) -> u32 {
    match size {
        1 => 0xff,
        2 => 0xffff,
        _ => u32::MAX,
    }
}

/// The PCI configuration data window access size at `port` for `bytes`
/// remaining (Xen: never crossing the dword, 3 becomes 2).
fn cfc_size(port: u16, bytes: u8) -> u8 {
    let room = 4u8.saturating_sub(u8::try_from(port & 3).unwrap_or(0));
    let size = bytes.min(room);
    if size == 3 { 2 } else { size }
}

/// Xen's `guest_io_read` for an access the domain may not make directly.
fn guest_io_read(ctx: &Ctx<'_>, env: &mut dyn EmulEnv, port: u16, size: u8) -> u32 {
    let privileged = ctx.dom.privileged;
    if port == PCI_CF8 && size == 4 {
        return if privileged { env.io_in(port, 4) } else { u32::MAX };
    }
    let mut data = 0u32;
    let mut shift = 0u32;
    let mut next = Some(port);
    let mut left = size;
    while left != 0 {
        let mut step = 1u8;
        // A multi-byte access at 0xffff runs off the port space: the
        // missing bytes read as all ones.
        let Some(port) = next else {
            data |= ones(left).checked_shl(shift).unwrap_or(0);
            break;
        };
        let sub = if is_cmos(port, 1) {
            if permitted(ctx, env, RTC_INDEX, 2) { env.io_in(port, 1) } else { 0xff }
        } else if (port & 0xfffc) == 0xcfc {
            step = cfc_size(port, left);
            if privileged { env.io_in(port, step) } else { u32::MAX }
        } else if matches!(port, 0x42 | 0x43 | 0x61) {
            0xff
        } else if permitted(ctx, env, port, 1) {
            if left > 1 && port & 1 == 0 && permitted(ctx, env, port, 2) {
                step = 2;
            }
            env.io_in(port, step)
        } else {
            u32::MAX
        };
        if step >= 4 {
            return sub;
        }
        data |= (sub & ones(step)).checked_shl(shift).unwrap_or(0);
        shift = shift.saturating_add(u32::from(step).saturating_mul(8));
        next = port.checked_add(u16::from(step));
        left = left.saturating_sub(step);
    }
    data
}

/// Xen's `guest_io_write` for an access the domain may not make directly.
fn guest_io_write(ctx: &Ctx<'_>, env: &mut dyn EmulEnv, port: u16, size: u8, value: u32) {
    let privileged = ctx.dom.privileged;
    if port == PCI_CF8 && size == 4 {
        if privileged {
            env.io_out(port, 4, value);
        }
        return;
    }
    let mut data = value;
    let mut next = Some(port);
    let mut left = size;
    while left != 0 {
        let mut step = 1u8;
        let Some(port) = next else { break };
        if is_cmos(port, 1) {
            if permitted(ctx, env, RTC_INDEX, 2) {
                // Never let the guest set the NMI-disable bit of the index.
                let v = if port == RTC_INDEX { data & 0x7f } else { data & 0xff };
                env.io_out(port, 1, v);
            }
        } else if (port & 0xfffc) == 0xcfc {
            step = cfc_size(port, left);
            if privileged {
                env.io_out(port, step, data & ones(step));
            }
        } else if matches!(port, 0x42 | 0x43 | 0x61) {
            // PIT channel 2 / speaker: not emulated, dropped.
        } else if permitted(ctx, env, port, 1) {
            if left > 1 && port & 1 == 0 && permitted(ctx, env, port, 2) {
                step = 2;
            }
            env.io_out(port, step, data & ones(step));
        }
        if step >= 4 {
            return;
        }
        data = data.checked_shr(u32::from(step).saturating_mul(8)).unwrap_or(0);
        next = port.checked_add(u16::from(step));
        left = left.saturating_sub(step);
    }
}

/// Xen's `check_guest_io_breakpoint`: DR6 bits of the I/O breakpoints
/// (DR7 R/W = 10b, enabled in the emulated DR7 bits) that `size` bytes at
/// `port` hit.
fn io_breakpoints(ctx: &Ctx<'_>, port: u16, size: u8) -> u64 {
    let v = ctx.v_ref();
    let dr = &v.arch.debugreg;
    let emul = dr.get(5).copied().unwrap_or(0);
    if emul == 0 || v.arch.cr4 & CR4_DE == 0 {
        return 0;
    }
    let dr7 = dr.get(7).copied().unwrap_or(0);
    let start_port = u64::from(port);
    let end_port = start_port.saturating_add(u64::from(size));
    let mut hit = 0u64;
    for (i, &addr) in dr.iter().take(4).enumerate() {
        let shift = u32::try_from(i).unwrap_or(0).saturating_mul(2);
        if emul & (3u64 << shift) == 0 {
            continue;
        }
        let len_shift = 18u32.saturating_add(shift.saturating_mul(2));
        let width: u64 = match (dr7 >> len_shift) & 3 {
            0 => 1,
            1 => 2,
            2 => 8,
            _ => 4,
        };
        let start = addr & !(width.saturating_sub(1));
        if start < end_port && start.saturating_add(width) > start_port {
            hit |= 1 << i;
        }
    }
    hit
}

/// `in`: reads `size` bytes from `port` into AL/AX/EAX (EAX zero-extends
/// into RAX). Returns the I/O breakpoint DR6 bits.
pub fn emulate_in(
    ctx: &mut Ctx<'_>,
    env: &mut dyn EmulEnv,
    port: u16,
    size: u8,
) -> Result<u64, EmulOutcome> {
    if !iopl_ok(ctx) {
        return Err(EmulOutcome::GP0);
    }
    let bp = io_breakpoints(ctx, port, size);
    let value = if admin_io_okay(ctx, env, port, size) {
        env.io_in(port, size) & ones(size)
    } else {
        guest_io_read(ctx, env, port, size) & ones(size)
    };
    let rax = ctx.regs.rax;
    ctx.regs.rax = match size {
        1 => (rax & !0xff) | u64::from(value),
        2 => (rax & !0xffff) | u64::from(value),
        _ => u64::from(value),
    };
    Ok(bp)
}

/// `out`: writes AL/AX/EAX to `port`. Returns the I/O breakpoint DR6 bits.
pub fn emulate_out(
    ctx: &mut Ctx<'_>,
    env: &mut dyn EmulEnv,
    port: u16,
    size: u8,
) -> Result<u64, EmulOutcome> {
    if !iopl_ok(ctx) {
        return Err(EmulOutcome::GP0);
    }
    let bp = io_breakpoints(ctx, port, size);
    let value = super::low32(ctx.regs.rax) & ones(size);
    if admin_io_okay(ctx, env, port, size) {
        env.io_out(port, size, value);
    } else {
        guest_io_write(ctx, env, port, size, value);
    }
    Ok(bp)
}
