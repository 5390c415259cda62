// SPDX-License-Identifier: GPL-2.0-only
//! `HYPERVISOR_mmuext_op`: Xen's `do_mmuext_op` for a domain's own frames.
//!
//! * `PIN_Ln_TABLE`: a general and an `Ln` type reference, kept until
//!   unpinned, with the pinned flag set; a frame can be pinned once
//!   (`EINVAL` the second time, the extra references dropped again).
//! * `UNPIN_TABLE`: the frame must be pinned; drops the pin's references.
//!   Other holders (a base pointer, an L4 entry) keep theirs, so the table
//!   stays validated while they exist.
//! * `NEW_BASEPTR` / `NEW_USER_BASEPTR` (Xen's `new_guest_cr3`): an `L4`
//!   reference on the new table, then the old one's reference dropped;
//!   installing the current table again is a no-op, and a user base of 0
//!   clears it. The bases live in [`VcpuTables`].
//! * TLB and cache flushes and `SET_LDT` only check their arguments here
//!   (vCPU bitmaps through [`PvHooks::vcpumask_readable`]); the work is
//!   left to the machine layer as [`MmuEffect`]s, in order.
//! * `CLEAR_PAGE` / `COPY_PAGE`: the destination needs a `Writable` type
//!   reference, so neither can write a page table or descriptor page.
//! * `MARK_SUPER` / `UNMARK_SUPER`: `EOPNOTSUPP`, as in current Xen;
//!   unknown commands: `ENOSYS`.
//!
//! Operations run in order and stop at the first failure.
//!
//! With a foreign page owner (`foreigndom`, [`MmuOwners::pg`]) pinning,
//! unpinning, `CLEAR_PAGE` and `COPY_PAGE` work on the page owner's frames
//! (a domain builder pins a domU's tables: validation runs for the frame's
//! owner, so every entry must name the domU's frames); every other
//! operation concerns the caller's vCPU and is refused with `EPERM`, as in
//! Xen. Pinning for a dying foreign domain takes the pin and drops it again
//! at once (Xen's race with `domain_relinquish_resources`), reporting
//! success. Frames of the pseudo-domains `DOMID_IO` and `DOMID_XEN` are
//! never pinned, cleared or copied (`EINVAL`: Xen gives `dom_io` frames a
//! permanent `Writable` type and treats them as MMIO, not RAM).
//!
//! [`PvHooks::vcpumask_readable`]: super::PvHooks::vcpumask_readable

use alloc::vec::Vec;

use guest_abi::xen::{DomId, Errno, HYPERVISOR_VIRT_END, MmuextCmd, MmuextOp};

use super::types::PageType;
use super::{MmuOwners, PvMm};
use crate::PAGE_SIZE;
use crate::mm::Mfn;

/// Largest LDT a guest may install (`MMUEXT_SET_LDT`, 64 KiB).
pub const MAX_LDT_ENTS: u32 = 8192;

/// Per-vCPU page-table bases and LDT (the `arch` fields Xen keeps in
/// `struct vcpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuTables {
    /// Kernel-mode L4 (`guest_table`); holds an `L4` reference.
    pub guest_table: Option<Mfn>,
    /// User-mode L4 (`guest_table_user`); holds an `L4` reference.
    pub guest_table_user: Option<Mfn>,
    /// LDT linear address (`pv.ldt_base`).
    pub ldt_base: u64,
    /// LDT entry count (`pv.ldt_ents`).
    pub ldt_ents: u32,
}

/// Work `mmuext_op` leaves to the machine layer, recorded in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmuEffect {
    /// Flush this vCPU's TLB (`MMUEXT_TLB_FLUSH_LOCAL`).
    FlushTlbLocal,
    /// Flush `va` from this vCPU's TLB (`MMUEXT_INVLPG_LOCAL`).
    InvlpgLocal {
        /// Guest linear address.
        va: u64,
    },
    /// Flush the TLBs of the vCPUs in the guest bitmap at `vcpumask`
    /// (`MMUEXT_TLB_FLUSH_MULTI`); the machine layer reads the bitmap.
    FlushTlbMulti {
        /// Guest address of the vCPU bitmap.
        vcpumask: u64,
    },
    /// Flush `va` on the vCPUs in the bitmap (`MMUEXT_INVLPG_MULTI`).
    InvlpgMulti {
        /// Guest linear address.
        va: u64,
        /// Guest address of the vCPU bitmap.
        vcpumask: u64,
    },
    /// Flush every vCPU's TLB (`MMUEXT_TLB_FLUSH_ALL`).
    FlushTlbAll,
    /// Flush `va` on every vCPU (`MMUEXT_INVLPG_ALL`).
    InvlpgAll {
        /// Guest linear address.
        va: u64,
    },
    /// Write back and invalidate the local caches (`MMUEXT_FLUSH_CACHE`).
    FlushCache,
    /// Write back and invalidate all caches (`MMUEXT_FLUSH_CACHE_GLOBAL`).
    FlushCacheGlobal,
    /// The kernel base pointer changed: drop the LDT shadow mapping and
    /// reload CR3 from [`VcpuTables::guest_table`] (`write_ptbase`).
    WritePtbase,
    /// The LDT changed: reload it from [`VcpuTables`] (`load_LDT`).
    LoadLdt,
}

/// Xen's `__addr_ok`: a guest linear address outside the hypervisor hole
/// (the lower canonical half, or at/above `HYPERVISOR_VIRT_END`).
#[must_use]
pub const fn addr_ok(va: u64) -> bool {
    va < (1 << 47) || va >= HYPERVISOR_VIRT_END
}

impl PvMm<'_> {
    /// Xen's `do_mmuext_op` for `dom` on its own frames
    /// (`foreigndom` = `DOMID_SELF`), running on vCPU state `vcpu`.
    ///
    /// Returns how many operations completed and the error of the first
    /// failing one; earlier operations stay done and their effects stay in
    /// `effects`.
    pub fn do_mmuext_op(
        &mut self,
        dom: DomId,
        ops: &[MmuextOp],
        vcpu: &mut VcpuTables,
        effects: &mut Vec<MmuEffect>,
    ) -> (usize, Result<(), Errno>) {
        self.do_mmuext_op_as(MmuOwners::local(dom), ops, vcpu, effects)
    }

    /// Xen's `do_mmuext_op` for `owners.caller` with page owner
    /// `owners.pg` (resolved from `foreigndom` by the caller, which also
    /// checks access control; `owners.pt` is not used), running on the
    /// caller's vCPU state `vcpu`.
    ///
    /// Returns how many operations completed and the error of the first
    /// failing one; earlier operations stay done and their effects stay in
    /// `effects`.
    pub fn do_mmuext_op_as(
        &mut self,
        owners: MmuOwners,
        ops: &[MmuextOp],
        vcpu: &mut VcpuTables,
        effects: &mut Vec<MmuEffect>,
    ) -> (usize, Result<(), Errno>) {
        for (i, op) in ops.iter().enumerate() {
            if let Err(e) = self.mmuext_one(owners, op, vcpu, effects) {
                return (i, Err(e));
            }
        }
        (ops.len(), Ok(()))
    }

    fn mmuext_one(
        &mut self,
        owners: MmuOwners,
        op: &MmuextOp,
        vcpu: &mut VcpuTables,
        effects: &mut Vec<MmuEffect>,
    ) -> Result<(), Errno> {
        let cmd = MmuextCmd::try_from(op.cmd).map_err(|_| Errno::ENOSYS)?;
        let mfn = Mfn(op.mfn().0);
        let va = op.linear_addr();
        let dom = owners.caller;
        let pg = owners.pg;
        let on_frames = matches!(
            cmd,
            MmuextCmd::PinL1Table
                | MmuextCmd::PinL2Table
                | MmuextCmd::PinL3Table
                | MmuextCmd::PinL4Table
                | MmuextCmd::UnpinTable
                | MmuextCmd::ClearPage
                | MmuextCmd::CopyPage
        );
        let superpage = matches!(cmd, MmuextCmd::MarkSuper | MmuextCmd::UnmarkSuper);
        if !on_frames && !superpage && pg != dom {
            // `currd != pg_owner`: only frame operations act for another
            // domain.
            return Err(Errno::EPERM);
        }
        if on_frames && matches!(pg, DomId::IO | DomId::XEN) {
            // No pinnable or RAM frames (Xen: `dom_io` frames are typed
            // `Writable` for good and are `p2m_mmio_direct`).
            return Err(Errno::EINVAL);
        }
        match cmd {
            MmuextCmd::PinL1Table => self.pin_table(owners, mfn, PageType::L1),
            MmuextCmd::PinL2Table => self.pin_table(owners, mfn, PageType::L2),
            MmuextCmd::PinL3Table => self.pin_table(owners, mfn, PageType::L3),
            MmuextCmd::PinL4Table => self.pin_table(owners, mfn, PageType::L4),
            MmuextCmd::UnpinTable => self.unpin_table(pg, mfn),
            MmuextCmd::NewBaseptr => {
                self.new_guest_cr3(dom, mfn, vcpu)?;
                effects.push(MmuEffect::WritePtbase);
                Ok(())
            }
            MmuextCmd::NewUserBaseptr => self.new_user_baseptr(dom, op.arg1, vcpu),
            MmuextCmd::TlbFlushMulti | MmuextCmd::InvlpgMulti
                if !self.hooks.vcpumask_readable(dom, op.vcpumask()) =>
            {
                Err(Errno::EINVAL)
            }
            MmuextCmd::TlbFlushLocal => Self::effect(effects, MmuEffect::FlushTlbLocal),
            MmuextCmd::InvlpgLocal if addr_ok(va) => {
                Self::effect(effects, MmuEffect::InvlpgLocal { va })
            }
            MmuextCmd::TlbFlushMulti => {
                Self::effect(effects, MmuEffect::FlushTlbMulti { vcpumask: op.vcpumask() })
            }
            MmuextCmd::InvlpgMulti if addr_ok(va) => {
                Self::effect(effects, MmuEffect::InvlpgMulti { va, vcpumask: op.vcpumask() })
            }
            MmuextCmd::TlbFlushAll => Self::effect(effects, MmuEffect::FlushTlbAll),
            MmuextCmd::InvlpgAll if addr_ok(va) => {
                Self::effect(effects, MmuEffect::InvlpgAll { va })
            }
            // INVLPG of a hypervisor address: silently nothing, as in Xen.
            MmuextCmd::InvlpgLocal | MmuextCmd::InvlpgMulti | MmuextCmd::InvlpgAll => Ok(()),
            MmuextCmd::FlushCache if self.hooks.has_iomem_caps(dom) => {
                Self::effect(effects, MmuEffect::FlushCache)
            }
            MmuextCmd::FlushCache => Err(Errno::EACCES),
            MmuextCmd::FlushCacheGlobal if self.hooks.has_iomem_caps(dom) => {
                Self::effect(effects, MmuEffect::FlushCacheGlobal)
            }
            MmuextCmd::FlushCacheGlobal => Err(Errno::EINVAL),
            MmuextCmd::SetLdt => Self::set_ldt(op, vcpu, effects),
            MmuextCmd::ClearPage => self.clear_page(pg, mfn),
            MmuextCmd::CopyPage => self.copy_page(pg, mfn, Mfn(op.src_mfn().0)),
            MmuextCmd::MarkSuper | MmuextCmd::UnmarkSuper => Err(Errno::EOPNOTSUPP),
        }
    }

    fn effect(effects: &mut Vec<MmuEffect>, e: MmuEffect) -> Result<(), Errno> {
        effects.push(e);
        Ok(())
    }

    /// `MMUEXT_PIN_Ln_TABLE` on a frame of the page owner, validated (if
    /// it is not yet) for that owner.
    fn pin_table(&mut self, owners: MmuOwners, mfn: Mfn, ty: PageType) -> Result<(), Errno> {
        self.get_page_and_type(mfn, owners.pg, ty)?;
        let already = self.frames.get(mfn).is_some_and(|p| p.type_info.pinned);
        if already {
            self.put_page_and_type(mfn);
            return Err(Errno::EINVAL);
        }
        if owners.pg != owners.caller && owners.pg_dying {
            // Racing domain destruction: the pin is dropped at once.
            self.put_page_and_type(mfn);
            return Ok(());
        }
        if let Some(p) = self.frames.get_mut(mfn) {
            p.type_info.pinned = true;
        }
        Ok(())
    }

    /// `MMUEXT_UNPIN_TABLE`: drops the pin's references on `dom`'s frame
    /// `mfn` (also what domain teardown does with every pinned table).
    ///
    /// # Errors
    /// `EINVAL` when the frame is not `dom`'s or not pinned.
    pub fn unpin_table(&mut self, dom: DomId, mfn: Mfn) -> Result<(), Errno> {
        if !self.frames.get_page(mfn, dom) {
            return Err(Errno::EINVAL);
        }
        let was_pinned = match self.frames.get_mut(mfn) {
            Some(p) if p.type_info.pinned => {
                p.type_info.pinned = false;
                true
            }
            _ => false,
        };
        if was_pinned {
            self.put_page_and_type(mfn);
        }
        self.frames.put_page(mfn);
        if was_pinned { Ok(()) } else { Err(Errno::EINVAL) }
    }

    /// `new_guest_cr3`: install `mfn` as the kernel base pointer.
    fn new_guest_cr3(&mut self, dom: DomId, mfn: Mfn, vcpu: &mut VcpuTables) -> Result<(), Errno> {
        let old = vcpu.guest_table;
        if old == Some(mfn) {
            return Ok(());
        }
        self.get_page_and_type(mfn, dom, PageType::L4)?;
        vcpu.guest_table = Some(mfn);
        if let Some(old) = old {
            self.put_page_and_type(old);
        }
        Ok(())
    }

    /// `MMUEXT_NEW_USER_BASEPTR`: as `new_guest_cr3` for the user table;
    /// MFN 0 clears it.
    fn new_user_baseptr(
        &mut self,
        dom: DomId,
        raw: u64,
        vcpu: &mut VcpuTables,
    ) -> Result<(), Errno> {
        let old = vcpu.guest_table_user;
        if old.map_or(0, |m| m.0) == raw {
            return Ok(());
        }
        let new = (raw != 0).then_some(Mfn(raw));
        if let Some(new) = new {
            self.get_page_and_type(new, dom, PageType::L4)?;
        }
        vcpu.guest_table_user = new;
        if let Some(old) = old {
            self.put_page_and_type(old);
        }
        Ok(())
    }

    /// `MMUEXT_SET_LDT`.
    fn set_ldt(
        op: &MmuextOp,
        vcpu: &mut VcpuTables,
        effects: &mut Vec<MmuEffect>,
    ) -> Result<(), Errno> {
        let ents = op.nr_ents();
        let base = if ents == 0 { 0 } else { op.linear_addr() };
        if base % PAGE_SIZE != 0 || !addr_ok(base) || ents > MAX_LDT_ENTS {
            return Err(Errno::EINVAL);
        }
        if vcpu.ldt_base != base || vcpu.ldt_ents != ents {
            vcpu.ldt_base = base;
            vcpu.ldt_ents = ents;
            effects.push(MmuEffect::LoadLdt);
        }
        Ok(())
    }

    /// `MMUEXT_CLEAR_PAGE`.
    fn clear_page(&mut self, dom: DomId, mfn: Mfn) -> Result<(), Errno> {
        if !self.mem.frame_exists(mfn) {
            return Err(Errno::EINVAL);
        }
        self.get_page_and_type(mfn, dom, PageType::Writable).map_err(|_| Errno::EINVAL)?;
        self.mem.zero_frame(mfn);
        self.put_page_and_type(mfn);
        Ok(())
    }

    /// `MMUEXT_COPY_PAGE`: `src` needs only a general reference.
    fn copy_page(&mut self, dom: DomId, dst: Mfn, src: Mfn) -> Result<(), Errno> {
        if !self.mem.frame_exists(src) || !self.mem.frame_exists(dst) {
            return Err(Errno::EINVAL);
        }
        if !self.frames.get_page(src, dom) {
            return Err(Errno::EINVAL);
        }
        if self.get_page_and_type(dst, dom, PageType::Writable).is_err() {
            self.frames.put_page(src);
            return Err(Errno::EINVAL);
        }
        self.mem.copy_frame(dst, src);
        self.put_page_and_type(dst);
        self.frames.put_page(src);
        Ok(())
    }

    /// `vcpu_destroy_pagetables`: drop the references of both base
    /// pointers (vCPU teardown, or before re-initialising its context).
    pub fn vcpu_destroy_pagetables(&mut self, vcpu: &mut VcpuTables) {
        if let Some(m) = vcpu.guest_table.take() {
            self.put_page_and_type(m);
        }
        if let Some(m) = vcpu.guest_table_user.take() {
            self.put_page_and_type(m);
        }
    }
}
