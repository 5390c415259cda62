// SPDX-License-Identifier: GPL-2.0-only
//! Memory hypercalls a toolstack makes for another domain, as libxenctrl's
//! `xc_domain_*_physmap`/`xc_domain_claim_pages` and `xc_mmu*` make them:
//! `memory_op` (`XENMEM_populate_physmap`, `increase_reservation`,
//! `decrease_reservation`, `claim_pages`) and `mmu_update`/`mmuext_op`
//! with a `foreigndom`. Arrays go through locked hypercall buffers;
//! [`reservation`] (the argument) and [`extents_done`] (the answer) are
//! pure and host-tested.

use guest_abi::memory::{MemoryOp, XenMemoryReservation};
use guest_abi::xen::{DomId, Errno, Hypercall, MmuUpdate, MmuextOp};

use crate::buffer::HypercallBuffer;
use crate::domctl::{no_fit, refused};
use crate::{Result, Xc};

/// Extents per `memory_op` call (libxenctrl splits larger requests too).
pub const EXTENTS_PER_CALL: usize = 512;

/// Requests per `mmu_update`/`mmuext_op` call.
pub const MMU_PER_CALL: usize = 512;

/// `xen_memory_reservation` of `nr` extents of order `order` for `dom`,
/// the extent array at `extent_start`.
#[must_use]
pub fn reservation(extent_start: u64, nr: usize, order: u32, dom: DomId) -> XenMemoryReservation {
    XenMemoryReservation::new(extent_start, nr as u64, order, 0, dom)
}

/// A `memory_op` return value as extents done, at most `asked`.
///
/// # Errors
/// `EINVAL` for a count beyond what was asked (a hypervisor bug).
pub fn extents_done(what: &str, ret: i64, asked: usize) -> Result<usize> {
    usize::try_from(ret).ok().filter(|&n| n <= asked).ok_or_else(|| refused(what, Errno::EINVAL))
}

impl Xc {
    /// `memory_op(cmd, reservation)` with `extents` in and out; returns the
    /// extents done.
    fn reservation_op(
        &self,
        cmd: MemoryOp,
        dom: DomId,
        order: u32,
        extents: &mut [u64],
    ) -> Result<usize> {
        let mut list = HypercallBuffer::new(core::mem::size_of_val(extents))?;
        if !write_u64s(&mut list, extents) {
            return Err(no_fit());
        }
        let r = reservation(list.addr(0).ok_or_else(no_fit)?, extents.len(), order, dom);
        let mut arg = HypercallBuffer::new(core::mem::size_of::<XenMemoryReservation>())?;
        if !arg.write(0, &r) {
            return Err(no_fit());
        }
        let ret = self.privcmd.hypercall(
            cmd.xen_name(),
            u64::from(Hypercall::MemoryOp.raw()),
            [u64::from(cmd.raw()), arg.addr(0).ok_or_else(no_fit)?, 0, 0, 0],
        )?;
        let done = extents_done(cmd.xen_name(), ret, extents.len())?;
        for (i, e) in extents.iter_mut().enumerate() {
            *e = list.read(i.saturating_mul(8)).ok_or_else(no_fit)?;
        }
        Ok(done)
    }

    /// `XENMEM_populate_physmap` for `dom`: `gpfns` (extents of `2^order`
    /// pages) in, their first MFNs out (a PV domain's frames). Returns how
    /// many were done from the start, in calls of [`EXTENTS_PER_CALL`].
    ///
    /// # Errors
    /// The hypervisor's refusal before any extent was done.
    pub fn populate_physmap(&self, dom: DomId, order: u32, gpfns: &mut [u64]) -> Result<usize> {
        self.reservation_batches(MemoryOp::PopulatePhysmap, dom, order, gpfns)
    }

    /// `XENMEM_increase_reservation` of `mfns.len()` extents for `dom`; the
    /// new frames are written to `mfns`. Returns how many were done.
    ///
    /// # Errors
    /// The hypervisor's refusal before any extent was done.
    pub fn increase_reservation(&self, dom: DomId, order: u32, mfns: &mut [u64]) -> Result<usize> {
        self.reservation_batches(MemoryOp::IncreaseReservation, dom, order, mfns)
    }

    /// `XENMEM_decrease_reservation`: `dom` gives up the extents at `gmfns`.
    /// Returns how many were released.
    ///
    /// # Errors
    /// The hypervisor's refusal before any extent was done.
    pub fn decrease_reservation(&self, dom: DomId, order: u32, gmfns: &[u64]) -> Result<usize> {
        let mut copy = gmfns.to_vec();
        self.reservation_batches(MemoryOp::DecreaseReservation, dom, order, &mut copy)
    }

    /// One of the reservation calls in batches; stops at a partial batch.
    fn reservation_batches(
        &self,
        cmd: MemoryOp,
        dom: DomId,
        order: u32,
        extents: &mut [u64],
    ) -> Result<usize> {
        let mut total = 0usize;
        for chunk in extents.chunks_mut(EXTENTS_PER_CALL) {
            let n = chunk.len();
            let done = match self.reservation_op(cmd, dom, order, chunk) {
                Ok(done) => done,
                Err(e) if total == 0 => return Err(e),
                Err(_) => return Ok(total),
            };
            total = total.saturating_add(done);
            if done < n {
                break;
            }
        }
        Ok(total)
    }

    /// `XENMEM_claim_pages`: reserves `pages` of the free memory for `dom`
    /// (0 cancels its claim).
    ///
    /// # Errors
    /// The hypervisor's refusal (`ENOMEM`: not that much free).
    pub fn claim_pages(&self, dom: DomId, pages: u64) -> Result<()> {
        let r = XenMemoryReservation::new(0, pages, 0, 0, dom);
        let mut arg = HypercallBuffer::new(core::mem::size_of::<XenMemoryReservation>())?;
        if !arg.write(0, &r) {
            return Err(no_fit());
        }
        let cmd = MemoryOp::ClaimPages;
        self.privcmd
            .hypercall(
                cmd.xen_name(),
                u64::from(Hypercall::MemoryOp.raw()),
                [u64::from(cmd.raw()), arg.addr(0).ok_or_else(no_fit)?, 0, 0, 0],
            )
            .map(drop)
    }

    /// `HYPERVISOR_mmu_update(reqs, n, NULL, foreigndom)`, in calls of
    /// [`MMU_PER_CALL`].
    ///
    /// # Errors
    /// The hypervisor's refusal of any request.
    pub fn mmu_update(&self, reqs: &[MmuUpdate], foreigndom: DomId) -> Result<()> {
        self.batched(Hypercall::MmuUpdate, "mmu_update", reqs, foreigndom)
    }

    /// `HYPERVISOR_mmuext_op(ops, n, NULL, foreigndom)`, in calls of
    /// [`MMU_PER_CALL`].
    ///
    /// # Errors
    /// The hypervisor's refusal of any operation.
    pub fn mmuext_op(&self, ops: &[MmuextOp], foreigndom: DomId) -> Result<()> {
        self.batched(Hypercall::MmuextOp, "mmuext_op", ops, foreigndom)
    }

    /// `hc(list, n, NULL, foreigndom)` over `items` in batches.
    fn batched<T: bytemuck::Pod>(
        &self,
        hc: Hypercall,
        what: &str,
        items: &[T],
        foreigndom: DomId,
    ) -> Result<()> {
        for chunk in items.chunks(MMU_PER_CALL) {
            let mut buf = HypercallBuffer::new(core::mem::size_of_val(chunk))?;
            let bytes: &[u8] = bytemuck::cast_slice(chunk);
            buf.bytes_mut().get_mut(..bytes.len()).ok_or_else(no_fit)?.copy_from_slice(bytes);
            self.privcmd.hypercall(
                what,
                u64::from(hc.raw()),
                [
                    buf.addr(0).ok_or_else(no_fit)?,
                    chunk.len() as u64,
                    0,
                    u64::from(foreigndom.0),
                    0,
                ],
            )?;
        }
        Ok(())
    }
}

/// Copies `values` to the start of `buf`; `false` if they do not fit.
fn write_u64s(buf: &mut HypercallBuffer, values: &[u64]) -> bool {
    let bytes: &[u8] = bytemuck::cast_slice(values);
    match buf.bytes_mut().get_mut(..bytes.len()) {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            true
        }
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn reservation_layout() {
        let r = reservation(0x7000_1000, 3, 9, DomId(4));
        let b = bytemuck::bytes_of(&r);
        assert_eq!(&b[0..8], &0x7000_1000u64.to_le_bytes());
        assert_eq!(&b[8..16], &3u64.to_le_bytes());
        assert_eq!(&b[16..20], &9u32.to_le_bytes());
        assert_eq!(&b[20..24], &0u32.to_le_bytes(), "mem_flags");
        assert_eq!(&b[24..26], &4u16.to_le_bytes());
    }

    #[test]
    fn extents_done_is_bounded() {
        assert_eq!(extents_done("x", 3, 3).unwrap(), 3);
        assert_eq!(extents_done("x", 0, 3).unwrap(), 0);
        assert!(matches!(
            extents_done("x", 4, 3),
            Err(Error::Hypercall { errno: Errno::EINVAL, .. })
        ));
        assert!(extents_done("x", -1, 3).is_err());
    }

    #[test]
    fn write_u64s_fits_or_refuses() {
        let mut b = HypercallBuffer::new(8).unwrap();
        assert!(write_u64s(&mut b, &[1, 2]));
        assert_eq!(b.read::<u64>(8), Some(2));
        assert!(!write_u64s(&mut b, &vec![0; 513]));
    }
}
