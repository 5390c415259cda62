// SPDX-License-Identifier: GPL-2.0-only
//! The domain builder's hypervisor interface from Linux userland: an
//! implementation of `xen_domain_builder::DomCtl` over [`Xc`] and
//! [`ForeignMemory`], the glue libxenguest has over libxenctrl and
//! libxenforeignmemory. With it the shared PV builder
//! ([`xen_domain_builder::build`]) builds a domU from dom0's userland
//! exactly as the PV test toolstack does from its kernel:
//!
//! * domctls ([`crate::domctl`]), `populate_physmap` and
//!   `mmu_update`/`mmuext_op` with `foreigndom` ([`crate::memory`]);
//! * writes into the domain's frames through a foreign mapping of the
//!   frame (`IOCTL_PRIVCMD_MMAPBATCH_V2`), the last one kept for the next
//!   write and dropped before the page tables are pinned;
//! * `EVTCHNOP_alloc_unbound` and `GNTTABOP_setup_table` for the domain,
//!   issued here through privcmd as libxenctrl's `xc_evtchn_alloc_unbound`
//!   and `xc_dom_gnttab_setup` do.
//!
//! [`gnttab_status`] (a grant status as an error) is pure and host-tested.

use guest_abi::domctl::{XenDomctlCreatedomain, XenDomctlGetdomaininfo};
use guest_abi::event_channel::{EvtchnAllocUnbound, EvtchnOp};
use guest_abi::grant_table::{GntSt, GnttabOp, GnttabSetupTable};
use guest_abi::xen::{
    DomId, Errno, EvtchnPort, Hypercall, Mfn, MmuUpdate, MmuextOp, VcpuGuestContext, VcpuId,
};
use xen_domain_builder::{BuildError, BuiltDomain, DomCtl, DomainConfig};

use crate::buffer::HypercallBuffer;
use crate::domctl::{no_fit, refused};
use crate::foreign::{ForeignMapping, ForeignMemory, PAGE_SIZE, Prot};
use crate::{Error, Result, Xc};

/// A grant-table status as this crate's result: `GNTST_okay` is success,
/// `GNTST_bad_domain` `ESRCH`, `GNTST_permission_denied` `EPERM`, others
/// `EINVAL`.
///
/// # Errors
/// Any status but `GNTST_okay`.
pub fn gnttab_status(what: &str, status: i16) -> Result<()> {
    match GntSt::try_from(status) {
        Ok(GntSt::Okay) => Ok(()),
        Ok(GntSt::BadDomain) => Err(refused(what, Errno::ESRCH)),
        Ok(GntSt::PermissionDenied) => Err(refused(what, Errno::EPERM)),
        _ => Err(refused(what, Errno::EINVAL)),
    }
}

impl Xc {
    /// `EVTCHNOP_alloc_unbound { dom, remote_dom }`: a port of `dom` that
    /// `remote` may bind to.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    pub fn evtchn_alloc_unbound(&self, dom: DomId, remote: DomId) -> Result<EvtchnPort> {
        let arg = EvtchnAllocUnbound { dom, remote_dom: remote, port: EvtchnPort(0) };
        let mut buf = HypercallBuffer::new(core::mem::size_of::<EvtchnAllocUnbound>())?;
        if !buf.write(0, &arg) {
            return Err(no_fit());
        }
        let cmd = EvtchnOp::AllocUnbound;
        self.privcmd.hypercall(
            cmd.xen_name(),
            u64::from(Hypercall::EventChannelOp.raw()),
            [u64::from(cmd.raw()), buf.addr(0).ok_or_else(no_fit)?, 0, 0, 0],
        )?;
        let out: EvtchnAllocUnbound = buf.read(0).ok_or_else(no_fit)?;
        Ok(out.port)
    }

    /// `GNTTABOP_setup_table { dom, nr_frames }` for `dom`: the frames of
    /// its grant table (a PV domain's own frames).
    ///
    /// # Errors
    /// The hypervisor's refusal or a status other than `GNTST_okay`.
    pub fn gnttab_setup_table(&self, dom: DomId, nr_frames: u32) -> Result<Vec<Mfn>> {
        let n = usize::try_from(nr_frames).map_err(|_| no_fit())?;
        let list = HypercallBuffer::new(n.saturating_mul(8))?;
        let arg = GnttabSetupTable {
            dom,
            nr_frames,
            frame_list: list.addr(0).ok_or_else(no_fit)?,
            ..bytemuck::Zeroable::zeroed()
        };
        let mut buf = HypercallBuffer::new(core::mem::size_of::<GnttabSetupTable>())?;
        if !buf.write(0, &arg) {
            return Err(no_fit());
        }
        let cmd = GnttabOp::SetupTable;
        self.privcmd.hypercall(
            cmd.xen_name(),
            u64::from(Hypercall::GrantTableOp.raw()),
            [u64::from(cmd.raw()), buf.addr(0).ok_or_else(no_fit)?, 1, 0, 0],
        )?;
        let out: GnttabSetupTable = buf.read(0).ok_or_else(no_fit)?;
        gnttab_status(cmd.xen_name(), out.status)?;
        (0..n).map(|i| list.read::<u64>(i.saturating_mul(8)).map(Mfn).ok_or_else(no_fit)).collect()
    }
}

/// [`DomCtl`] for the shared builder, from Linux dom0's userland.
#[derive(Debug)]
pub struct LinuxDomCtl<'a> {
    xc: &'a Xc,
    foreign: ForeignMemory,
    /// The frame mapped for the last write, kept for the next.
    window: Option<(DomId, Mfn, ForeignMapping)>,
}

impl<'a> LinuxDomCtl<'a> {
    /// The builder's interface over `xc`, with a privcmd file of its own for
    /// foreign mappings.
    ///
    /// # Errors
    /// privcmd could not be opened.
    pub fn new(xc: &'a Xc) -> Result<Self> {
        Ok(Self { xc, foreign: ForeignMemory::open()?, window: None })
    }
}

impl DomCtl for LinuxDomCtl<'_> {
    type Error = Error;

    fn create_domain(&mut self, config: &XenDomctlCreatedomain) -> Result<DomId> {
        self.xc.create_domain(DomId(0), config)
    }

    fn get_domain_info(&mut self, dom: DomId) -> Result<XenDomctlGetdomaininfo> {
        self.xc.domain_info(dom)
    }

    fn max_vcpus(&mut self, dom: DomId, max: u32) -> Result<()> {
        self.xc.max_vcpus(dom, max)
    }

    fn max_mem(&mut self, dom: DomId, max_memkb: u64) -> Result<()> {
        self.xc.max_mem(dom, max_memkb)
    }

    fn populate_physmap(&mut self, dom: DomId, extents: &mut [u64]) -> Result<usize> {
        self.xc.populate_physmap(dom, 0, extents)
    }

    fn mmu_update(&mut self, reqs: &[MmuUpdate], foreigndom: DomId) -> Result<()> {
        self.xc.mmu_update(reqs, foreigndom)
    }

    fn mmuext_op(&mut self, ops: &[MmuextOp], foreigndom: DomId) -> Result<()> {
        self.xc.mmuext_op(ops, foreigndom)
    }

    fn write_foreign(&mut self, dom: DomId, mfn: Mfn, offset: usize, bytes: &[u8]) -> Result<()> {
        let what = "foreign mapping write";
        if offset.checked_add(bytes.len()).is_none_or(|end| end > PAGE_SIZE) {
            return Err(refused(what, Errno::EINVAL));
        }
        let hit = matches!(&self.window, Some((d, m, _)) if *d == dom && *m == mfn);
        if !hit {
            // Unmap the old frame before mapping the next.
            self.window = None;
            let map = self.foreign.map(dom, Prot::ReadWrite, &[mfn.0])?;
            self.window = Some((dom, mfn, map));
        }
        let page = self
            .window
            .as_mut()
            .and_then(|(_, _, m)| m.page_mut(0))
            .ok_or_else(|| refused(what, Errno::EFAULT))?;
        page.get_mut(offset..offset.saturating_add(bytes.len()))
            .ok_or_else(|| refused(what, Errno::EINVAL))?
            .copy_from_slice(bytes);
        Ok(())
    }

    fn unmap_foreign(&mut self) -> Result<()> {
        self.window = None;
        Ok(())
    }

    fn set_vcpu_context(&mut self, dom: DomId, vcpu: VcpuId, ctx: &VcpuGuestContext) -> Result<()> {
        self.xc.set_vcpu_context(dom, vcpu, ctx)
    }

    fn hypercall_init(&mut self, dom: DomId, gmfn: Mfn) -> Result<()> {
        self.xc.hypercall_init(dom, gmfn)
    }

    fn evtchn_alloc_unbound(&mut self, dom: DomId, remote: DomId) -> Result<EvtchnPort> {
        self.xc.evtchn_alloc_unbound(dom, remote)
    }

    fn gnttab_setup_table(&mut self, dom: DomId) -> Result<Mfn> {
        let frames = self.xc.gnttab_setup_table(dom, 1)?;
        frames.first().copied().ok_or_else(|| refused("GNTTABOP_setup_table", Errno::EINVAL))
    }

    fn unpause(&mut self, dom: DomId) -> Result<()> {
        self.xc.unpause_domain(dom)
    }

    fn destroy(&mut self, dom: DomId) -> Result<()> {
        self.window = None;
        self.xc.destroy_domain(dom)
    }
}

/// Builds `cfg` as a paused domU from this process (`xc_dom_*` from
/// `xl create`'s point of view); the caller unpauses it.
///
/// # Errors
/// What [`xen_domain_builder::build`] reports; privcmd not openable.
pub fn build_domain(
    xc: &Xc,
    cfg: &DomainConfig<'_>,
) -> core::result::Result<BuiltDomain, BuildError<Error>> {
    let mut ctl =
        LinuxDomCtl::new(xc).map_err(BuildError::ctl(xen_domain_builder::CtlOp::CreateDomain))?;
    xen_domain_builder::build(&mut ctl, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_statuses_map_to_errnos() {
        assert!(gnttab_status("g", 0).is_ok());
        for (status, want) in
            [(-2, Errno::ESRCH), (-8, Errno::EPERM), (-1, Errno::EINVAL), (-100, Errno::EINVAL)]
        {
            match gnttab_status("g", status) {
                Err(Error::Hypercall { errno, what }) => {
                    assert_eq!(errno, want, "status {status}");
                    assert_eq!(what, "g");
                }
                other => panic!("status {status}: {other:?}"),
            }
        }
    }
}
