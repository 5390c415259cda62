// SPDX-License-Identifier: GPL-2.0-only
//! `VCPUOP_initialise`: a secondary vCPU's first context (Xen's
//! `arch_set_info_guest` for a 64-bit PV vCPU), and what the machine layer
//! does when such a vCPU first runs on its CPU.
//!
//! The caller (any vCPU of the domain) hands a full `vcpu_guest_context`.
//! Everything is checked before anything changes: addresses the vCPU will
//! run at or be called back on must be canonical, the LDT page-aligned and
//! at most 8192 entries, debug registers through `set_debugreg`, a refused value leaving its default (as 4.17).
//! Then the GDT frames take their `SegDesc` references and the kernel (and
//! optional user) L4 its `L4` type reference — a failure there is `-EINVAL`
//! with every reference taken so far dropped again. Selectors get RPL 3
//! (`fixup_guest_{code,stack}_selector`: a null selector stays null, as in
//! Xen, and the first return to the guest then raises `#GP(0)` in it),
//! `RFLAGS.IOPL` becomes the virtual IOPL and `RFLAGS.IF` is forced on
//! ("ensure real hardware interrupts are enabled"). A context for guest-user
//! mode without a user page table (`ctrlreg[1]`) is `-EINVAL`, as in Xen. The registers wait in [`PvVcpu::start_regs`] until the vCPU is up
//! and its CPU runs it: [`start_on_cpu`] then loads the descriptor tables,
//! segment bases and CR3 there. FPU state (`VGCF_i387_valid`) is not taken
//! over: a new vCPU starts with a clean FPU (Linux passes none).
//!
//! [`set_info_guest`] is the one validator and loader of a context, shared
//! with `XEN_DOMCTL_setvcpucontext` (which operates on another, paused
//! domain); [`get_info_guest`] is `XEN_DOMCTL_getvcpucontext`'s reverse.
//!
//! [`PvVcpu::start_regs`]: crate::pv::domain::PvVcpu::start_regs

use alloc::vec::Vec;

use guest_abi::callback::CallbackType;
use guest_abi::xen::{
    CpuUserRegs, DomId, Errno, TrapInfo, VGCF_failsafe_disables_events, VGCF_in_kernel,
    VGCF_online, VGCF_syscall_disables_events, VcpuGuestContext,
};

use super::vcpu_state::is_canonical;
use crate::common::domain::{Domain, Vcpu};
use crate::mm::Mfn;
use crate::mm::pv::{PageType, PvMm, addr_ok};
use crate::pv::ctx::Ctx;
use crate::pv::debugreg;
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
    Ok(())
}

/// Takes the type reference a vCPU's base pointer holds on `raw` (a CR3
/// value, `xen_pfn_to_cr3` form); `-EINVAL` when the frame cannot be an L4
/// of the domain.
fn take_l4(mm: &mut PvMm<'_>, dom: DomId, raw: u64) -> Result<Mfn, Errno> {
    let mfn = Mfn(raw >> 12);
    mm.get_page_and_type(mfn, dom, PageType::L4).map_err(|_| Errno::EINVAL)?;
    Ok(mfn)
}

/// Reads a `vcpu_guest_context` from guest memory into the heap (5 KiB:
/// not onto the hypervisor stack) with `copy`.
///
/// # Errors
/// Whatever `copy` returns (`EFAULT`).
pub fn read_context(
    copy: impl FnOnce(&mut [u8]) -> Result<(), Errno>,
) -> Result<ContextBuf, Errno> {
    let mut buf = ContextBuf::zeroed();
    copy(bytemuck::cast_slice_mut(&mut buf.words))?;
    Ok(buf)
}

/// A `vcpu_guest_context` on the heap.
pub struct ContextBuf {
    words: Vec<u64>,
}

impl ContextBuf {
    /// An all-zero context.
    #[must_use]
    pub fn zeroed() -> Self {
        Self { words: alloc::vec![0; CONTEXT_WORDS] }
    }

    /// The context.
    ///
    /// # Panics
    /// Never: the buffer has the context's size and 8-byte alignment.
    #[must_use]
    pub fn get(&self) -> &VcpuGuestContext {
        bytemuck::from_bytes(bytemuck::cast_slice(&self.words))
    }

    /// The context, writable.
    pub fn get_mut(&mut self) -> &mut VcpuGuestContext {
        bytemuck::from_bytes_mut(bytemuck::cast_slice_mut(&mut self.words))
    }

    /// The context's bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.words)
    }
}

/// `VCPUOP_initialise(index, arg)`: see the module documentation.
/// `-EEXIST` once the vCPU has a context, `-EFAULT` for an unreadable one.
pub fn initialise(ctx: &mut Ctx<'_>, index: usize, arg: u64) -> Result<i64, Errno> {
    let initialised = ctx.dom.vcpus.get(index).ok_or(Errno::ENOENT)?.initialised;
    if initialised {
        return Err(Errno::EEXIST);
    }
    let c = read_context(|buf| ctx.copy_from_guest(arg, buf))?;
    let mut mm = PvMm::new(ctx.frames, ctx.mem, ctx.m2p, ctx.hooks);
    set_info_guest(ctx.dom, &mut mm, index, c.get())?;
    Ok(0)
}

/// Xen's `arch_set_info_guest` for vCPU `index` of 64-bit PV domain `dom`:
/// the one context validator of `VCPUOP_initialise` and
/// `XEN_DOMCTL_setvcpucontext`.
///
/// For a vCPU without a context: every check first, then the GDT frames'
/// `SegDesc` and the base pointers' `L4` references (all or none), then
/// the state. For a vCPU that has one (only the domctl gets here, on a
/// paused domain): its page tables, GDT and LDT must be the ones in the
/// context (`-EOPNOTSUPP` otherwise, as Xen); registers, callbacks,
/// segment bases and debug registers are replaced. Either way the
/// registers wait in `start_regs` for the vCPU's next start on its CPU,
/// and `VGCF_online` is left to the caller (Xen applies it at the end of
/// `arch_set_info_guest`).
///
/// # Errors
/// `EINVAL` for a context that fails the checks or whose frames cannot be
/// typed; `ENOENT` for no such vCPU; `EOPNOTSUPP` as above.
pub fn set_info_guest(
    dom: &mut Domain,
    mm: &mut PvMm<'_>,
    index: usize,
    c: &VcpuGuestContext,
) -> Result<(), Errno> {
    check_context(c)?;
    let initialised = dom.vcpus.get(index).ok_or(Errno::ENOENT)?.initialised;
    let nr_gdt = usize::try_from(c.gdt_ents.div_ceil(512)).map_err(|_| Errno::EINVAL)?;
    let gdt = c.gdt_frames.get(..nr_gdt).ok_or(Errno::EINVAL)?;
    if index == 0 && c.vm_assist & !VM_ASSIST_VALID != 0 {
        return Err(Errno::EINVAL);
    }
    // Guest-user mode needs a user page table (Xen: "!(flags &
    // VGCF_in_kernel) && !ctrlreg[1]" for a vCPU not yet initialised).
    if !initialised && c.flags & VGCF_in_kernel == 0 && c.ctrlreg[1] == 0 {
        return Err(Errno::EINVAL);
    }
    if initialised {
        let v = dom.vcpus.get(index).ok_or(Errno::ENOENT)?;
        if !same_tables(v, c, gdt) {
            return Err(Errno::EOPNOTSUPP);
        }
        if let Some(v) = dom.vcpus.get_mut(index) {
            apply_state(v, c);
        }
        return Ok(());
    }
    let id = dom.id;
    let taken = super::mm::take_gdt_refs(mm, id, gdt, c.gdt_ents)?;
    let drop_all = |mm: &mut PvMm<'_>, frames: &[Mfn]| {
        for &m in frames {
            mm.put_page_and_type(m);
        }
    };
    let kernel = match take_l4(mm, id, c.ctrlreg[3]) {
        Ok(m) => m,
        Err(e) => {
            drop_all(mm, &taken);
            return Err(e);
        }
    };
    let user = if c.ctrlreg[1] != 0 {
        match take_l4(mm, id, c.ctrlreg[1]) {
            Ok(m) => Some(m),
            Err(e) => {
                mm.put_page_and_type(kernel);
                drop_all(mm, &taken);
                return Err(e);
            }
        }
    } else {
        None
    };
    let Some(v) = dom.vcpus.get_mut(index) else {
        drop_all(mm, &taken);
        return Err(Errno::ENOENT);
    };
    let old_gdt = core::mem::replace(&mut v.arch.gdt_frames, taken);
    v.arch.gdt_ents = u32::try_from(c.gdt_ents).unwrap_or(0);
    let old = (v.arch.tables.guest_table.take(), v.arch.tables.guest_table_user.take());
    v.arch.tables.guest_table = Some(kernel);
    v.arch.tables.guest_table_user = user;
    v.arch.tables.ldt_base = c.ldt_base;
    v.arch.tables.ldt_ents = u32::try_from(c.ldt_ents).unwrap_or(0);
    apply_state(v, c);
    v.initialised = true;
    if index == 0 {
        dom.vm_assist = c.vm_assist;
    }
    drop_all(mm, &old_gdt);
    for m in [old.0, old.1].into_iter().flatten() {
        mm.put_page_and_type(m);
    }
    Ok(())
}

/// `VMASST_TYPE_*` bits a 64-bit PV guest may enable (Xen's
/// `VM_ASSIST_VALID`, `arch_vm_assist_valid_mask`): types 0–5
/// (4gb_segments, 4gb_segments_notify, writable_pagetables,
/// pae_extended_cr3, architectural_iopl, runstate_update_flag) and
/// m2p_strict (32).
const VM_ASSIST_VALID: u64 = 0x3f | (1 << 32);

/// The else-branch of `arch_set_info_guest`: an initialised vCPU keeps its
/// base pointers, GDT and LDT.
fn same_tables(v: &Vcpu, c: &VcpuGuestContext, gdt: &[u64]) -> bool {
    let t = &v.arch.tables;
    let cr3 = |m: Option<Mfn>| m.map_or(0, |m| m.0 << 12);
    let mut ok = cr3(t.guest_table) == c.ctrlreg[3];
    ok &= match t.guest_table_user {
        None => c.ctrlreg[1] == 0 && c.flags & VGCF_in_kernel != 0,
        Some(_) => cr3(t.guest_table_user) == c.ctrlreg[1],
    };
    ok &= u64::from(v.arch.gdt_ents) == c.gdt_ents;
    ok &= v.arch.gdt_frames.iter().map(|m| m.0).eq(gdt.iter().copied());
    ok &= u64::from(t.ldt_ents) == c.ldt_ents;
    if t.ldt_ents != 0 {
        ok &= t.ldt_base == c.ldt_base;
    }
    ok
}

/// The register, trap, callback and segment state of `c` (checked).
fn apply_state(v: &mut Vcpu, c: &VcpuGuestContext) {
    let mut regs: CpuUserRegs = c.user_regs;
    regs.cs = ring3(regs.cs);
    regs.ss = ring3(regs.ss);
    let iopl = u32::try_from((regs.rflags & EFLAGS_IOPL) >> 12).unwrap_or(0);
    // IOPL is virtualised; real interrupts stay enabled in the guest.
    regs.rflags = (regs.rflags & !EFLAGS_IOPL) | EFLAGS_IF | EFLAGS_MBS;
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
    v.arch.cr4 = 0;
    debugreg::load_context(&mut v.arch, &c.debugreg);
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
}

/// Xen's `arch_get_info_guest` for a 64-bit PV vCPU: the context
/// `XEN_DOMCTL_getvcpucontext` returns. The registers are those the vCPU
/// will start with (`start_regs`); a vCPU that already ran has its live
/// registers in the machine layer's frame, which this layer does not see,
/// and reports zeroed ones with its other state. FPU state is not kept
/// (`VGCF_i387_valid` clear).
#[must_use]
pub fn get_info_guest(dom: &Domain, v: &Vcpu) -> ContextBuf {
    let mut buf = ContextBuf::zeroed();
    let c = buf.get_mut();
    c.flags = if v.down { 0 } else { VGCF_online };
    if let Some(r) = v.arch.start_regs {
        c.user_regs = r;
    }
    c.user_regs.rflags |= u64::from(v.arch.iopl & 3) << 12;
    for (dst, src) in c.trap_ctxt.iter_mut().zip(v.arch.trap_ctxt.iter()) {
        *dst = *src;
    }
    let t = &v.arch.tables;
    c.ldt_base = if t.ldt_ents != 0 { t.ldt_base } else { 0 };
    c.ldt_ents = u64::from(t.ldt_ents);
    for (dst, m) in c.gdt_frames.iter_mut().zip(v.arch.gdt_frames.iter()) {
        *dst = m.0;
    }
    c.gdt_ents = u64::from(v.arch.gdt_ents);
    c.kernel_ss = v.arch.kernel_ss;
    c.kernel_sp = v.arch.kernel_sp;
    c.ctrlreg[3] = t.guest_table.map_or(0, |m| m.0 << 12);
    c.ctrlreg[1] = t.guest_table_user.map_or(0, |m| m.0 << 12);
    c.ctrlreg[4] = v.arch.cr4;
    c.debugreg = debugreg::save_context(&v.arch);
    let cbs = &v.arch.callbacks;
    c.event_callback_eip = cbs.event.address;
    c.failsafe_callback_eip = cbs.failsafe.address;
    c.syscall_callback_eip = cbs.syscall.address;
    if cbs.failsafe.mask_events {
        c.flags |= VGCF_failsafe_disables_events;
    }
    if cbs.syscall.mask_events {
        c.flags |= VGCF_syscall_disables_events;
    }
    c.fs_base = v.arch.fs_base;
    c.gs_base_kernel = v.arch.gs_base_kernel;
    c.gs_base_user = v.arch.gs_base_user;
    if v.arch.kernel_mode {
        c.flags |= VGCF_in_kernel;
    }
    c.vm_assist = dom.vm_assist;
    buf
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
            ctx.platform.write_ptbase(t);
        }
    }
    regs
}
