// SPDX-License-Identifier: GPL-2.0-only
//! `VCPUOP_initialise`: a secondary vCPU's first context (Xen's
//! `arch_set_info_guest` for a 64-bit PV vCPU), and what the machine layer
//! does when such a vCPU first runs on its CPU.
//!
//! The caller (any vCPU of the domain) hands a full `vcpu_guest_context`.
//! Everything is checked before anything changes: addresses the vCPU will
//! run at or be called back on must be canonical, the LDT page-aligned and
//! at most 8192 entries, debug registers as `set_debugreg` checks them.
//! Then the GDT frames take their `SegDesc` references and the kernel (and
//! optional user) L4 its `L4` type reference — a failure there is `-EINVAL`
//! with every reference taken so far dropped again. Selectors get RPL 3
//! (`fixup_guest_{code,stack}_selector`: a null selector stays null, as in
//! Xen, and the first return to the guest then raises `#GP(0)` in it),
//! `RFLAGS.IOPL` becomes the virtual IOPL and `RFLAGS.IF` is forced on
//! ("ensure real hardware interrupts are enabled"). A context for guest-user
//! mode without a user page table (`ctrlreg[1]`) is `-EINVAL`, as in Xen.
//! The registers wait in [`PvVcpu::start_regs`] until the vCPU is up
//! and its CPU runs it: [`start_on_cpu`] then loads the descriptor tables,
//! segment bases and CR3 there. FPU state (`VGCF_i387_valid`) is not taken
//! over: a new vCPU starts with a clean FPU (Linux passes none).
//!
//! [`PvVcpu::start_regs`]: crate::pv::domain::PvVcpu::start_regs

use alloc::vec::Vec;

use guest_abi::callback::CallbackType;
use guest_abi::xen::{
    CpuUserRegs, Errno, TrapInfo, VGCF_failsafe_disables_events, VGCF_in_kernel,
    VGCF_syscall_disables_events, VcpuGuestContext,
};

use super::vcpu_state::{check_debugreg, is_canonical};
use crate::mm::Mfn;
use crate::mm::pv::{PageType, addr_ok};
use crate::pv::ctx::Ctx;
use crate::pv::descriptor;
use crate::pv::domain::Callback;
use crate::pv::platform::SegBaseReg;

#[cfg(test)]
mod tests;

/// Most LDT entries (Xen's limit).
const MAX_LDT_ENTS: u64 = 8192;
/// A `vcpu_guest_context` in 8-byte words.
const CONTEXT_WORDS: usize = core::mem::size_of::<VcpuGuestContext>() / 8;
const _: () = assert!(core::mem::size_of::<VcpuGuestContext>().is_multiple_of(8));
/// `RFLAGS.IOPL`.
const EFLAGS_IOPL: u64 = 3 << 12;

/// `RFLAGS.IF`.
const EFLAGS_IF: u64 = 1 << 9;
/// `RFLAGS` bit 1 (always set).
const EFLAGS_MBS: u64 = 1 << 1;

/// Xen's `fixup_guest_{code,stack}_selector` for a 64-bit guest
/// (`GUEST_KERNEL_RPL` 3): an RPL below 3 becomes 3, null selectors
/// included (0 becomes 3, still null: the return to the guest faults and
/// the guest gets the `#GP(0)`).
const fn ring3(sel: u16) -> u16 {
    sel | 3
}

/// The checks of `arch_set_info_guest` that need no state.
fn check_context(c: &VcpuGuestContext) -> Result<(), Errno> {
    let addresses = [
        c.user_regs.rip,
        c.user_regs.rsp,
        c.kernel_sp,
        c.fs_base,
        c.gs_base_kernel,
        c.gs_base_user,
        c.event_callback_eip,
        c.syscall_callback_eip,
        c.failsafe_callback_eip,
    ];
    if !addresses.iter().all(|&a| is_canonical(a))
        || c.trap_ctxt.iter().any(|t| !is_canonical(t.address))
    {
        return Err(Errno::EINVAL);
    }
    if (c.ldt_ents != 0 && !is_canonical(c.ldt_base))
        || !addr_ok(c.ldt_base)
        || c.ldt_base & 0xfff != 0
        || c.ldt_ents > MAX_LDT_ENTS
    {
        return Err(Errno::EINVAL);
    }
    // Guest-user mode needs a user page table (Xen: "!(flags &
    // VGCF_in_kernel) && !ctrlreg[1]" for a vCPU not yet initialised).
    if c.flags & VGCF_in_kernel == 0 && c.ctrlreg[1] == 0 {
        return Err(Errno::EINVAL);
    }
    for idx in [0usize, 1, 2, 3, 6, 7] {
        let value = c.debugreg.get(idx).copied().unwrap_or(0);
        check_debugreg(idx, value).map_err(|_| Errno::EINVAL)?;
    }
    Ok(())
}

/// Takes the type reference a vCPU's base pointer holds on `raw` (a CR3
/// value, `xen_pfn_to_cr3` form); `-EINVAL` when the frame cannot be an L4
/// of the domain.
fn take_l4(ctx: &mut Ctx<'_>, raw: u64) -> Result<Mfn, Errno> {
    let mfn = Mfn(raw >> 12);
    let dom = ctx.dom.id;
    ctx.mm().get_page_and_type(mfn, dom, PageType::L4).map_err(|_| Errno::EINVAL)?;
    Ok(mfn)
}

/// `VCPUOP_initialise(index, arg)`: see the module documentation.
/// `-EEXIST` once the vCPU has a context, `-EFAULT` for an unreadable one.
pub fn initialise(ctx: &mut Ctx<'_>, index: usize, arg: u64) -> Result<i64, Errno> {
    let initialised = ctx.dom.vcpus.get(index).ok_or(Errno::ENOENT)?.initialised;
    if initialised {
        return Err(Errno::EEXIST);
    }
    // 5 KiB: read into the heap, not onto the hypervisor stack.
    let mut words: Vec<u64> = alloc::vec![0; CONTEXT_WORDS];
    ctx.copy_from_guest(arg, bytemuck::cast_slice_mut(&mut words))?;
    let c: &VcpuGuestContext =
        bytemuck::try_from_bytes(bytemuck::cast_slice(&words)).map_err(|_| Errno::EFAULT)?;
    check_context(c)?;

    let nr_gdt = usize::try_from(c.gdt_ents.div_ceil(512)).map_err(|_| Errno::EINVAL)?;
    let gdt = c.gdt_frames.get(..nr_gdt).ok_or(Errno::EINVAL)?;
    super::mm::install_gdt(ctx, index, gdt, c.gdt_ents)?;
    let kernel = match take_l4(ctx, c.ctrlreg[3]) {
        Ok(m) => m,
        Err(e) => {
            drop_gdt(ctx, index);
            return Err(e);
        }
    };
    let user = if c.ctrlreg[1] != 0 {
        match take_l4(ctx, c.ctrlreg[1]) {
            Ok(m) => Some(m),
            Err(e) => {
                ctx.mm().put_page_and_type(kernel);
                drop_gdt(ctx, index);
                return Err(e);
            }
        }
    } else {
        None
    };

    let mut regs: CpuUserRegs = c.user_regs;
    regs.cs = ring3(regs.cs);
    regs.ss = ring3(regs.ss);
    let iopl = u32::try_from((regs.rflags & EFLAGS_IOPL) >> 12).unwrap_or(0);
    // IOPL is virtualised; real interrupts stay enabled in the guest.
    regs.rflags = (regs.rflags & !EFLAGS_IOPL) | EFLAGS_IF | EFLAGS_MBS;
    let vm_assist = c.vm_assist;
    let v = ctx.dom.vcpus.get_mut(index).ok_or(Errno::ENOENT)?;
    let old = (v.arch.tables.guest_table.take(), v.arch.tables.guest_table_user.take());
    v.arch.tables.guest_table = Some(kernel);
    v.arch.tables.guest_table_user = user;
    v.arch.tables.ldt_base = c.ldt_base;
    v.arch.tables.ldt_ents = u32::try_from(c.ldt_ents).unwrap_or(0);
    v.arch.kernel_mode = c.flags & VGCF_in_kernel != 0;
    for (slot, t) in v.arch.trap_ctxt.iter_mut().zip(c.trap_ctxt.iter()) {
        *slot = TrapInfo { cs: ring3(t.cs), ..*t };
    }
    v.arch.kernel_ss = u64::from(ring3(u16::try_from(c.kernel_ss & 0xffff).unwrap_or(0)));
    v.arch.kernel_sp = c.kernel_sp;
    v.arch.iopl = iopl;
    v.arch.fs_base = c.fs_base;
    v.arch.gs_base_kernel = c.gs_base_kernel;
    v.arch.gs_base_user = c.gs_base_user;
    for (i, slot) in v.arch.debugreg.iter_mut().enumerate() {
        let value = c.debugreg.get(i).copied().unwrap_or(0);
        *slot = check_debugreg(i, value).unwrap_or(0);
    }
    v.arch.cr4 = 0;
    let event = Callback { address: c.event_callback_eip, mask_events: true };
    let failsafe = Callback {
        address: c.failsafe_callback_eip,
        mask_events: c.flags & VGCF_failsafe_disables_events != 0,
    };
    let syscall = Callback {
        address: c.syscall_callback_eip,
        mask_events: c.flags & VGCF_syscall_disables_events != 0,
    };
    for (ty, cb) in [
        (CallbackType::Event, event),
        (CallbackType::Failsafe, failsafe),
        (CallbackType::Syscall, syscall),
    ] {
        if let Some(slot) = v.arch.callbacks.slot_mut(ty) {
            *slot = cb;
        }
    }
    v.arch.start_regs = Some(regs);
    v.arch.reload_descriptors = true;
    v.initialised = true;
    if index == 0 {
        ctx.dom.vm_assist = vm_assist;
    }
    for m in [old.0, old.1].into_iter().flatten() {
        ctx.mm().put_page_and_type(m);
    }
    Ok(0)
}

/// Drops the GDT references `initialise` took for vCPU `index`.
fn drop_gdt(ctx: &mut Ctx<'_>, index: usize) {
    let old = ctx.dom.vcpus.get_mut(index).map(|v| core::mem::take(&mut v.arch.gdt_frames));
    for m in old.into_iter().flatten() {
        ctx.mm().put_page_and_type(m);
    }
}

/// The running vCPU is about to run on this CPU for the first time since
/// `VCPUOP_initialise` (or its tables changed elsewhere): load its GDT and
/// LDT copies, its FS/GS bases and its page table into the CPU. Returns the
/// registers to start with, if it has fresh ones.
pub fn start_on_cpu(ctx: &mut Ctx<'_>) -> Option<CpuUserRegs> {
    let regs = ctx.v().arch.start_regs.take();
    if core::mem::take(&mut ctx.v().arch.reload_descriptors) {
        descriptor::reload_descriptor_tables(ctx);
    }
    if regs.is_some() {
        let v = ctx.v_ref();
        let (fs, gs, table) = (
            v.arch.fs_base,
            if v.arch.kernel_mode { v.arch.gs_base_kernel } else { v.arch.gs_base_user },
            v.current_table(),
        );
        ctx.platform.set_segment_base(SegBaseReg::Fs, fs);
        ctx.platform.set_segment_base(SegBaseReg::Gs, gs);
        if let Some(t) = table {
            ctx.platform.load_cr3(t);
        }
    }
    regs
}
