// SPDX-License-Identifier: GPL-2.0-only
//! The context a hypercall, trap bounce or emulation runs in: the current
//! domain and vCPU, its live registers, the PV MMU state, the other
//! domains, access control and the machine.
//!
//! An operation on a domain named by the guest (`DOMID_SELF`, its own id or
//! another domain's) goes through [`Ctx::with_target`], which looks the
//! domain up, locks it if it is not the caller, and hands the operation a
//! [`TargetCtx`]: the target domain, the caller's guest memory for the
//! arguments, and the machine state.

use guest_abi::xen::{CpuUserRegs, DomId, Errno};

use super::guest_mem;
use super::platform::{Platform, SegBaseReg};
use crate::common::claims::Claims;
use crate::common::domain::{Domain, Vcpu};
use crate::common::domain_table::{DomainTable, KickedDomains};
use crate::common::event_channel::interdomain::Domains;
use crate::common::event_channel::two_level::VcpuInfoRef;
use crate::common::xsm::{Xsm, XsmSubject};
use crate::mm::Mfn;
use crate::mm::pv::{FrameTable, M2p, PhysMem, PvHooks, PvMm};

/// Offset of `evtchn_upcall_pending` in `vcpu_info`.
const UPCALL_PENDING: usize = 0;
/// Offset of `evtchn_upcall_mask` in `vcpu_info`.
const UPCALL_MASK: usize = 1;
/// Offset of `arch.cr2` in `vcpu_info`.
const VCPU_INFO_CR2: usize = 16;

/// Everything a hypercall handler may touch.
pub struct Ctx<'a> {
    /// The calling domain.
    pub dom: &'a mut Domain,
    /// Index of the calling vCPU in `dom.vcpus`.
    pub vcpu: usize,
    /// The vCPU's live registers (the guest frame on the hypervisor stack).
    pub regs: &'a mut CpuUserRegs,
    /// Frame accounting.
    pub frames: &'a mut FrameTable,
    /// The machine's memory claims.
    pub claims: &'a mut Claims,
    /// Machine memory.
    pub mem: &'a mut dyn PhysMem,
    /// Machine-to-physical table.
    pub m2p: &'a mut dyn M2p,
    /// PV MMU hooks.
    pub hooks: &'a mut dyn PvHooks,
    /// Machine services.
    pub platform: &'a mut dyn Platform,
    /// Every domain. The calling one may be in it too, locked by whoever
    /// built this context: reach it as [`Ctx::dom`], never through the
    /// table (see [`Ctx::with_target`]).
    pub domains: &'a mut DomainTable,
    /// Access control.
    pub xsm: &'a dyn Xsm,
    /// Other domains whose vCPUs this operation kicked (interdomain
    /// events): the machine layer wakes or interrupts them afterwards.
    pub kicked: KickedDomains,
}

/// What an operation on a target domain works with (see
/// [`Ctx::with_target`]): the target, the caller's identity and guest
/// memory, and the machine state.
pub struct TargetCtx<'a> {
    /// The domain operated on: the caller itself or another, locked.
    pub target: &'a mut Domain,
    /// The caller, for access control.
    pub caller: XsmSubject,
    /// Frame accounting.
    pub frames: &'a mut FrameTable,
    /// The machine's memory claims.
    pub claims: &'a mut Claims,
    /// Machine memory.
    pub mem: &'a mut dyn PhysMem,
    /// Machine-to-physical table.
    pub m2p: &'a mut dyn M2p,
    /// PV MMU hooks.
    pub hooks: &'a mut dyn PvHooks,
    /// Machine services.
    pub platform: &'a mut dyn Platform,
    /// Access control.
    pub xsm: &'a dyn Xsm,
    /// The caller's current page table, for its arguments.
    caller_l4: Option<Mfn>,
    /// The calling vCPU's `vcpu_info`, for the preemption check.
    caller_vcpu_info: Option<VcpuInfoRef>,
}

/// Xen's `local_events_need_delivery`: `evtchn_upcall_pending` set and
/// `evtchn_upcall_mask` clear in the `vcpu_info` at `vi`.
fn local_events_need_delivery(mem: &dyn PhysMem, vi: Option<VcpuInfoRef>) -> bool {
    let Some(vi) = vi else { return false };
    let mut b = [0u8; 2];
    mem.read_bytes(vi.frame, vi.offset, &mut b);
    b[UPCALL_PENDING] != 0 && b[UPCALL_MASK] == 0
}

impl TargetCtx<'_> {
    /// Whether the target is the caller.
    #[must_use]
    pub fn is_self(&self) -> bool {
        self.target.id == self.caller.id
    }

    fn l4(&self) -> Result<Mfn, Errno> {
        self.caller_l4.ok_or(Errno::EFAULT)
    }

    /// Reads a `T` from the caller's memory.
    pub fn read<T: bytemuck::Pod>(&self, va: u64) -> Result<T, Errno> {
        guest_mem::read(self.mem, self.l4()?, va)
    }

    /// Writes a `T` to the caller's memory.
    pub fn write<T: bytemuck::Pod>(&mut self, va: u64, value: &T) -> Result<(), Errno> {
        let l4 = self.l4()?;
        guest_mem::write(self.mem, l4, va, value)
    }

    /// `copy_from_guest` from the caller's memory.
    pub fn copy_from_guest(&self, va: u64, buf: &mut [u8]) -> Result<(), Errno> {
        guest_mem::copy_from_guest(self.mem, self.l4()?, va, buf)
    }

    /// `copy_to_guest` into the caller's memory.
    pub fn copy_to_guest(&mut self, va: u64, bytes: &[u8]) -> Result<(), Errno> {
        let l4 = self.l4()?;
        guest_mem::copy_to_guest(self.mem, l4, va, bytes)
    }

    /// The PV MMU over this context's machine state.
    pub fn mm(&mut self) -> PvMm<'_> {
        PvMm::new(self.frames, self.mem, self.m2p, self.hooks)
    }

    /// Xen's `hypercall_preempt_check` for the calling vCPU (see
    /// [`Ctx::hypercall_preempt_check`]).
    pub fn hypercall_preempt_check(&mut self) -> bool {
        self.platform.softirq_pending()
            || local_events_need_delivery(self.mem, self.caller_vcpu_info)
    }
}

impl Ctx<'_> {
    /// The calling vCPU.
    ///
    /// # Panics
    /// Never for a context built by the machine layer (its vCPU index is
    /// valid); an invalid index is a hypervisor bug.
    #[allow(clippy::indexing_slicing, reason = "the vCPU index is established by the caller")]
    #[inline]
    pub fn v(&mut self) -> &mut Vcpu {
        &mut self.dom.vcpus[self.vcpu]
    }

    /// The calling vCPU, shared.
    #[allow(clippy::indexing_slicing, reason = "the vCPU index is established by the caller")]
    #[must_use]
    #[inline]
    pub fn v_ref(&self) -> &Vcpu {
        &self.dom.vcpus[self.vcpu]
    }

    /// The PV MMU over this context's state.
    pub fn mm(&mut self) -> PvMm<'_> {
        PvMm::new(self.frames, self.mem, self.m2p, self.hooks)
    }

    fn l4(&self) -> Result<Mfn, Errno> {
        self.v_ref().current_table().ok_or(Errno::EFAULT)
    }

    /// `copy_from_guest` through the vCPU's current page table.
    pub fn copy_from_guest(&self, va: u64, buf: &mut [u8]) -> Result<(), Errno> {
        guest_mem::copy_from_guest(self.mem, self.l4()?, va, buf)
    }

    /// `copy_to_guest` through the vCPU's current page table.
    pub fn copy_to_guest(&mut self, va: u64, bytes: &[u8]) -> Result<(), Errno> {
        let l4 = self.l4()?;
        guest_mem::copy_to_guest(self.mem, l4, va, bytes)
    }

    /// Reads a `T` from the guest.
    pub fn read<T: bytemuck::Pod>(&self, va: u64) -> Result<T, Errno> {
        guest_mem::read(self.mem, self.l4()?, va)
    }

    /// Writes a `T` to the guest.
    pub fn write<T: bytemuck::Pod>(&mut self, va: u64, value: &T) -> Result<(), Errno> {
        let l4 = self.l4()?;
        guest_mem::write(self.mem, l4, va, value)
    }

    /// The calling vCPU's `vcpu_info` (registered area or `shared_info`
    /// slot).
    fn vcpu_info(&self) -> Option<VcpuInfoRef> {
        self.dom.vcpu_info_ref(self.v_ref().id)
    }

    fn vcpu_info_byte(&self, field: usize) -> u8 {
        self.vcpu_info().map_or(0, |vi| self.mem.read_u8(vi.frame, vi.offset.saturating_add(field)))
    }

    fn set_vcpu_info_byte(&mut self, field: usize, value: u8) {
        if let Some(vi) = self.vcpu_info() {
            self.mem.write_bytes(vi.frame, vi.offset.saturating_add(field), &[value]);
        }
    }

    /// Xen's `hypercall_preempt_check`: whether a long hypercall should
    /// stop here and continue later, because this CPU has softirq work
    /// ([`Platform::softirq_pending`]) or the calling vCPU has events to be
    /// sent (`local_events_need_delivery`: an upcall pending and not
    /// masked).
    pub fn hypercall_preempt_check(&mut self) -> bool {
        self.platform.softirq_pending() || local_events_need_delivery(self.mem, self.vcpu_info())
    }

    /// `vcpu_info->evtchn_upcall_mask`.
    #[must_use]
    pub fn upcall_mask(&self) -> u8 {
        self.vcpu_info_byte(UPCALL_MASK)
    }

    /// Sets `vcpu_info->evtchn_upcall_mask`.
    pub fn set_upcall_mask(&mut self, mask: u8) {
        self.set_vcpu_info_byte(UPCALL_MASK, mask);
    }

    /// `vcpu_info->evtchn_upcall_pending`.
    #[must_use]
    pub fn upcall_pending(&self) -> bool {
        self.vcpu_info_byte(UPCALL_PENDING) != 0
    }

    /// Stores the page-fault address in `vcpu_info->arch.cr2`.
    pub fn set_vcpu_info_cr2(&mut self, cr2: u64) {
        if let Some(vi) = self.vcpu_info() {
            let at = vi.offset.saturating_add(VCPU_INFO_CR2);
            self.mem.write_bytes(vi.frame, at, &cr2.to_le_bytes());
        }
    }

    /// Xen's `toggle_guest_mode`: switch between guest-kernel and guest-user
    /// mode, swapping the GS bases and the page table. Switching to user
    /// mode without a user page table fails (the caller crashes the domain).
    pub fn toggle_guest_mode(&mut self) -> Result<(), Errno> {
        let to_kernel = !self.v_ref().arch.kernel_mode;
        if !to_kernel && self.v_ref().arch.tables.guest_table_user.is_none() {
            return Err(Errno::EINVAL);
        }
        let live = self.platform.segment_base(SegBaseReg::Gs);
        let v = &mut self.dom.vcpus;
        let Some(v) = v.get_mut(self.vcpu) else { return Err(Errno::EINVAL) };
        if v.arch.kernel_mode {
            v.arch.gs_base_kernel = live;
        } else {
            v.arch.gs_base_user = live;
        }
        v.arch.kernel_mode = to_kernel;
        let (gs, table) = if to_kernel {
            (v.arch.gs_base_kernel, v.arch.tables.guest_table)
        } else {
            (v.arch.gs_base_user, v.arch.tables.guest_table_user)
        };
        self.platform.set_segment_base(SegBaseReg::Gs, gs);
        if let Some(t) = table {
            self.platform.load_cr3(t);
        }
        Ok(())
    }

    /// Runs `f` on domain `id` (Xen's `rcu_lock_domain_by_any_id`):
    /// `DOMID_SELF` or the caller's own id is the caller; another id is
    /// looked up in the table and locked for the call (lock order: the
    /// caller, then one other domain). Access control is `f`'s to check,
    /// with [`TargetCtx::caller`].
    ///
    /// # Errors
    /// `ESRCH` when no domain has the id.
    pub fn with_target<R>(
        &mut self,
        id: DomId,
        f: impl FnOnce(&mut TargetCtx<'_>) -> R,
    ) -> Result<R, Errno> {
        let caller = self.dom.subject();
        let caller_l4 = self.v_ref().current_table();
        let caller_vcpu_info = self.vcpu_info();
        if id == DomId::SELF || id == self.dom.id {
            return Ok(f(&mut TargetCtx {
                target: self.dom,
                caller,
                frames: self.frames,
                claims: self.claims,
                mem: self.mem,
                m2p: self.m2p,
                hooks: self.hooks,
                platform: self.platform,
                xsm: self.xsm,
                caller_l4,
                caller_vcpu_info,
            }));
        }
        let cell = self.domains.get(id).ok_or(Errno::ESRCH)?;
        let mut target = cell.lock();
        Ok(f(&mut TargetCtx {
            target: &mut target,
            caller,
            frames: self.frames,
            claims: self.claims,
            mem: self.mem,
            m2p: self.m2p,
            hooks: self.hooks,
            platform: self.platform,
            xsm: self.xsm,
            caller_l4,
            caller_vcpu_info,
        }))
    }

    /// The domains an event-channel operation of the caller may reach
    /// (the caller, locked, and the table; see
    /// [`crate::common::event_channel::interdomain`]).
    pub fn evtchn_domains(&mut self) -> Domains<'_> {
        Domains {
            caller: self.dom,
            table: self.domains,
            xsm: self.xsm,
            mem: self.mem,
            kicked: &mut self.kicked,
        }
    }

    /// Shuts the calling domain down with `reason` (Xen's
    /// `domain_shutdown`): the machine layer stops running it once the
    /// current operation returns, and dom0 gets `VIRQ_DOM_EXC`.
    pub fn shutdown_domain(&mut self, reason: crate::common::domain::ShutdownReason) {
        if self.dom.begin_shutdown(reason) {
            crate::common::domain::notify_dom_exc(self.dom.id, None, self.domains, self.mem);
        }
    }

    /// Marks the domain crashed (Xen's `domain_crash`).
    pub fn crash(&mut self) {
        self.shutdown_domain(crate::common::domain::ShutdownReason::Crash);
    }
}
