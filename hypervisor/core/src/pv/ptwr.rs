// SPDX-License-Identifier: GPL-2.0-only
//! Writable page tables: Xen's `pv_ro_page_fault` and `ptwr_emulated_update`.
//!
//! A 64-bit PV kernel may map its L1 page tables only read-only. With
//! `VMASST_TYPE_writable_pagetables` enabled it may still store to them as
//! if they were writable: the store raises a write-protection `#PF`, and
//! instead of bouncing it the hypervisor emulates the instruction, checking
//! the new entry exactly as `mmu_update` would. Linux relies on this for
//! `set_pte`, `pte_clear`, `ptep_get_and_clear` (`xchg`),
//! `ptep_set_wrprotect` (`lock btr`/`lock and`) and `cmpxchg` on PTEs.
//!
//! # Rules (Xen's `fixup_page_fault`, `pv_ro_page_fault`, `ptwr_do_page_fault`)
//!
//! The fault is taken over only if all of these hold; otherwise the caller
//! bounces the original `#PF` as for any other fault:
//!
//! * the vCPU is in guest-kernel mode;
//! * the error code has WRITE and PRESENT and neither RSVD nor INSN_FETCH;
//! * the domain enabled `VMASST_TYPE_writable_pagetables`, or it is the
//!   hardware domain (dom0, `Domain::privileged`): Xen's
//!   `fixup_page_fault` also calls `pv_ro_page_fault` for the hardware
//!   domain's present write faults (for its read-only MMIO ranges), and that
//!   emulates a store into an L1 table without looking at the assist;
//! * `cr2` is a guest address (not the hypervisor's range);
//! * the L1 entry mapping `cr2` in the current page table
//!   ([`guest_mem::guest_l1e`], Xen's `guest_get_eff_kern_l1e`) is present
//!   and read-only, and its frame is owned by the domain and is an in-use,
//!   validated L1 page table;
//! * the instruction at `RIP` decodes as one of the memory writes of
//!   [`mem_write`] (64-bit code only);
//! * every access it makes is naturally aligned and inside the page of
//!   `cr2` (`ptwr_emulated_update`'s "bad access" check);
//! * the new entry passes `mod_l1_entry`'s validation
//!   ([`PvMm::ptwr_update`]).
//!
//! A write narrower than 8 bytes is merged with the rest of the entry and
//! validated as a whole entry. `xchg`, `cmpxchg` and `lock`-prefixed
//! read-modify-writes are compare-exchanges against the value read; a
//! mismatch (`X86EMUL_CMPXCHG_FAILED` → `X86EMUL_RETRY`) returns to the
//! guest with `RIP` unchanged, so it re-executes the instruction. On
//! success `RIP` moves past the instruction, the flags and registers are
//! updated as the instruction defines, and a pending single step raises
//! `#DB` as after any emulated instruction.
//!
//! # Simplifications against Xen
//!
//! * any failure after the checks above (refused entry, misaligned or
//!   out-of-page access, undecodable instruction, instruction bytes that
//!   cannot be read) bounces the original `#PF`; Xen bounces a `#PF` for
//!   the instruction fetch instead in the last case;
//! * only the instructions of [`mem_write`] are emulated, not everything
//!   `x86_emulate` can do (string stores, `movnti`, `adc`/`sbb`, ...);
//! * the L1 entry is compared and written under the machine lock rather
//!   than with a hardware `cmpxchg`; Accessed/Dirty updates by the
//!   page walker of another CPU running the same page tables could be lost
//!   (Xen's plain `UPDATE_ENTRY` has the same window); there is one vCPU;
//! * no read-only MMIO emulation (`mmio_ro_do_page_fault`), no L1TF
//!   checks on non-present entries, no 32-bit PAE half-write fix-up (only
//!   64-bit guests run here).

use guest_abi::xen::{DomId, VmAssistType};

use super::ctx::Ctx;
use super::emulate::mem_write::{self, Exchange, Executed, MemOps, Refused, operand_mask};
use super::emulate::{self, EmulOutcome};
use super::guest_mem::{self, guest_va_ok};
use crate::PAGE_SIZE;
use crate::mm::Mfn;
use crate::mm::pv::types::{PAGE_PRESENT, PAGE_RW, pte_mfn};
use crate::mm::pv::{FrameTable, PageType, PtwrResult, PvMm};

#[cfg(test)]
mod tests;

/// `PFEC_page_present`.
pub const PFEC_PRESENT: u32 = 1 << 0;
/// `PFEC_write_access`.
pub const PFEC_WRITE: u32 = 1 << 1;
/// `PFEC_user_mode`.
pub const PFEC_USER: u32 = 1 << 2;
/// `PFEC_reserved_bit`.
pub const PFEC_RESERVED: u32 = 1 << 3;
/// `PFEC_insn_fetch`.
pub const PFEC_INSN_FETCH: u32 = 1 << 4;

/// Xen's `pv_ro_page_fault` for writable page tables: try to emulate the
/// write that raised `#PF` at `cr2` with `error_code` (see the module
/// rules).
///
/// [`EmulOutcome::Done`]: handled (emulated, or a lost compare-exchange to
/// be retried); [`EmulOutcome::Inject`]: emulated, and the single-step
/// `#DB` is due; [`EmulOutcome::Unhandled`]: nothing changed, bounce the
/// original `#PF`.
pub fn pv_ro_page_fault(ctx: &mut Ctx<'_>, cr2: u64, error_code: u32) -> EmulOutcome {
    let wanted = PFEC_WRITE | PFEC_PRESENT;
    if !ctx.v_ref().arch.kernel_mode
        || error_code & (PFEC_RESERVED | PFEC_INSN_FETCH) != 0
        || error_code & wanted != wanted
        || !(ctx.dom.vm_assist_enabled(VmAssistType::WritablePagetables.raw())
            || ctx.dom.privileged)
        || !guest_va_ok(cr2)
    {
        return EmulOutcome::Unhandled;
    }
    let Some(l4) = ctx.v_ref().current_table() else { return EmulOutcome::Unhandled };
    let Some(pte) = guest_mem::guest_l1e(ctx.mem, l4, cr2) else {
        return EmulOutcome::Unhandled;
    };
    if pte & (PAGE_PRESENT | PAGE_RW) != PAGE_PRESENT {
        return EmulOutcome::Unhandled;
    }
    let l1 = pte_mfn(pte);
    let dom = ctx.dom.id;
    if !is_in_use_l1(ctx.frames, l1, dom) {
        return EmulOutcome::Unhandled;
    }
    let Some(insn) = mem_write::fetch_and_decode(ctx) else { return EmulOutcome::Unhandled };
    let seg_base = insn.mem.seg.map_or(0, |s| ctx.platform.segment_base(s));
    let mut regs = *ctx.regs;
    let mut mem = PtwrMem { mm: ctx.mm(), dom, cr2, l1 };
    match mem_write::execute(&insn, &mut regs, seg_base, &mut mem) {
        Ok(Executed::Done) => {
            *ctx.regs = regs;
            emulate::complete(ctx, u64::from(insn.len), 0)
        }
        Ok(Executed::Retry) => EmulOutcome::Done,
        Err(Refused) => EmulOutcome::Unhandled,
    }
}

/// Whether `mfn` is a validated L1 page table in use, owned by `dom`
/// (`ptwr_do_page_fault`'s ownership and type checks; repeated under the
/// page lock by [`PvMm::ptwr_update`]).
fn is_in_use_l1(frames: &FrameTable, mfn: Mfn, dom: DomId) -> bool {
    frames.info(mfn).is_some_and(|p| {
        let t = p.type_info;
        p.owner == Some(dom) && t.ty == PageType::L1 && t.validated && t.count > 0
    })
}

/// The emulated instruction's view of memory: the L1 table `l1` mapped
/// read-only at the page of `cr2`.
struct PtwrMem<'m> {
    mm: PvMm<'m>,
    dom: DomId,
    cr2: u64,
    l1: Mfn,
}

impl PtwrMem<'_> {
    /// The entry index and bit offset of a `size`-byte access at `addr`:
    /// only naturally aligned accesses inside the `cr2` page.
    fn locate(&self, addr: u64, size: u8) -> Result<(usize, u32), Refused> {
        let size = u64::from(size);
        let same_page = (addr ^ self.cr2) & !(PAGE_SIZE - 1) == 0;
        if !matches!(size, 1 | 2 | 4 | 8) || !same_page || addr & size.wrapping_sub(1) != 0 {
            return Err(Refused);
        }
        let index = usize::try_from((addr & (PAGE_SIZE - 1)) >> 3).map_err(|_| Refused)?;
        let shift = u32::try_from((addr & 7).wrapping_mul(8)).map_err(|_| Refused)?;
        Ok((index, shift))
    }

    /// `ptwr_emulated_update`: a write (`old` = `None`) or compare-exchange
    /// of `size` bytes, merged into the whole entry.
    fn update(
        &mut self,
        addr: u64,
        size: u8,
        old: Option<u64>,
        new: u64,
    ) -> Result<Exchange, Refused> {
        let (index, shift) = self.locate(addr, size)?;
        let mask = operand_mask(size) << shift;
        let full = self.mm.mem.read_u64(self.l1, index);
        let merge = |v: u64| (full & !mask) | ((v << shift) & mask);
        match self.mm.ptwr_update(self.dom, self.l1, index, old.map(merge), merge(new)) {
            Ok(PtwrResult::Updated) => Ok(Exchange::Done),
            Ok(PtwrResult::Mismatch(current)) => Ok(Exchange::Mismatch((current & mask) >> shift)),
            Err(_) => Err(Refused),
        }
    }
}

impl MemOps for PtwrMem<'_> {
    fn read(&mut self, addr: u64, size: u8) -> Result<u64, Refused> {
        let (index, shift) = self.locate(addr, size)?;
        Ok((self.mm.mem.read_u64(self.l1, index) >> shift) & operand_mask(size))
    }

    fn write(&mut self, addr: u64, size: u8, value: u64) -> Result<(), Refused> {
        self.update(addr, size, None, value).map(drop)
    }

    fn cmpxchg(&mut self, addr: u64, size: u8, old: u64, new: u64) -> Result<Exchange, Refused> {
        self.update(addr, size, Some(old), new)
    }
}
