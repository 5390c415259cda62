// SPDX-License-Identifier: GPL-2.0-only
//! [`DomCtl`]: what the builder asks of the hypervisor, one method per
//! control hypercall (sub-)operation of Xen.
//!
//! | method | Xen |
//! |---|---|
//! | [`DomCtl::create_domain`] | `XEN_DOMCTL_createdomain` |
//! | [`DomCtl::get_domain_info`] | `XEN_DOMCTL_getdomaininfo` |
//! | [`DomCtl::max_mem`] | `XEN_DOMCTL_max_mem` |
//! | [`DomCtl::populate_physmap`] | `XENMEM_populate_physmap` (order 0) |
//! | [`DomCtl::mmu_update`] | `HYPERVISOR_mmu_update` with `foreigndom` |
//! | [`DomCtl::mmuext_op`] | `HYPERVISOR_mmuext_op` with `foreigndom` |
//! | [`DomCtl::write_foreign`] | privcmd's foreign mapping: `mmu_update` of the caller's own L1 entry with the domU as page owner, then a copy |
//! | [`DomCtl::set_vcpu_context`] | `XEN_DOMCTL_setvcpucontext` |
//! | [`DomCtl::hypercall_init`] | `XEN_DOMCTL_hypercall_init` |
//! | [`DomCtl::evtchn_alloc_unbound`] | `EVTCHNOP_alloc_unbound` for another domain |
//! | [`DomCtl::gnttab_setup_table`] | `GNTTABOP_setup_table` for another domain (one frame) |
//! | [`DomCtl::unpause`] | `XEN_DOMCTL_unpausedomain` |
//! | [`DomCtl::destroy`] | `XEN_DOMCTL_destroydomain` |
//!
//! The provided methods [`DomCtl::machphys_update`] and
//! [`DomCtl::pin_l4`] are the `MMU_MACHPHYS_UPDATE` request and the
//! `MMUEXT_PIN_L4_TABLE` operation with the domU as `foreigndom`, as
//! libxenguest issues them.
//!
//! A dom0 kernel implements the trait with real hypercalls (the PV test
//! kernel `pv-toolstack`), a Linux toolstack through privcmd, and the host
//! tests over plain memory.

use core::fmt;

use guest_abi::domctl::{XenDomctlCreatedomain, XenDomctlGetdomaininfo};
use guest_abi::xen::{
    DomId, EvtchnPort, Mfn, MmuUpdate, MmuUpdateCmd, MmuextCmd, MmuextOp, Pfn, VcpuGuestContext,
    VcpuId,
};

/// The control operations the builder uses (for [`crate::BuildError::Ctl`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtlOp {
    /// `XEN_DOMCTL_createdomain`.
    CreateDomain,
    /// `XEN_DOMCTL_getdomaininfo`.
    GetDomainInfo,
    /// `XEN_DOMCTL_max_mem`.
    MaxMem,
    /// `XEN_DOMCTL_max_vcpus`.
    MaxVcpus,
    /// `XENMEM_populate_physmap`.
    PopulatePhysmap,
    /// `MMU_MACHPHYS_UPDATE` requests.
    MachphysUpdate,
    /// Writing into a frame of the domain through a foreign mapping.
    WriteForeign,
    /// `MMUEXT_PIN_L4_TABLE` with `foreigndom`.
    PinL4,
    /// `XEN_DOMCTL_hypercall_init`.
    HypercallInit,
    /// `EVTCHNOP_alloc_unbound`.
    EvtchnAllocUnbound,
    /// `GNTTABOP_setup_table` for the domain.
    GnttabSetupTable,
    /// `XEN_DOMCTL_setvcpucontext`.
    SetVcpuContext,
    /// `XEN_DOMCTL_unpausedomain`.
    Unpause,
    /// `XEN_DOMCTL_destroydomain`.
    Destroy,
}

impl CtlOp {
    /// Xen's name of the operation.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::CreateDomain => "XEN_DOMCTL_createdomain",
            Self::GetDomainInfo => "XEN_DOMCTL_getdomaininfo",
            Self::MaxMem => "XEN_DOMCTL_max_mem",
            Self::MaxVcpus => "XEN_DOMCTL_max_vcpus",
            Self::PopulatePhysmap => "XENMEM_populate_physmap",
            Self::MachphysUpdate => "MMU_MACHPHYS_UPDATE",
            Self::WriteForeign => "foreign mapping write",
            Self::PinL4 => "MMUEXT_PIN_L4_TABLE",
            Self::HypercallInit => "XEN_DOMCTL_hypercall_init",
            Self::EvtchnAllocUnbound => "EVTCHNOP_alloc_unbound",
            Self::GnttabSetupTable => "GNTTABOP_setup_table",
            Self::SetVcpuContext => "XEN_DOMCTL_setvcpucontext",
            Self::Unpause => "XEN_DOMCTL_unpausedomain",
            Self::Destroy => "XEN_DOMCTL_destroydomain",
        }
    }
}

impl fmt::Display for CtlOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The hypervisor's control interface as the domain builder uses it.
///
/// Every method is one hypercall (or, for [`DomCtl::write_foreign`], what
/// privcmd's foreign mapping does); the implementation reports the
/// hypervisor's refusal as its `Error` (typically the `-errno`).
pub trait DomCtl {
    /// A refused operation.
    type Error: fmt::Debug + fmt::Display;

    /// `XEN_DOMCTL_createdomain`: a new domain, paused once by the
    /// controller, with no memory and no vCPU context. Returns its id.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    fn create_domain(&mut self, config: &XenDomctlCreatedomain) -> Result<DomId, Self::Error>;

    /// `XEN_DOMCTL_getdomaininfo` of `dom` (for `shared_info_frame` and,
    /// later, the shutdown state).
    ///
    /// # Errors
    /// The hypervisor's refusal.
    fn get_domain_info(&mut self, dom: DomId) -> Result<XenDomctlGetdomaininfo, Self::Error>;

    /// `XEN_DOMCTL_max_vcpus`: allocates `dom`'s vCPUs; `max` must equal
    /// `createdomain`'s `max_vcpus`. Xen 4.17 still needs it before any
    /// vCPU context can be set (`setvcpucontext` is `-EINVAL` until then).
    ///
    /// # Errors
    /// The hypervisor's refusal.
    fn max_vcpus(&mut self, dom: DomId, max: u32) -> Result<(), Self::Error>;

    /// `XEN_DOMCTL_max_mem`: `dom` may hold at most `max_memkb` KiB.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    fn max_mem(&mut self, dom: DomId, max_memkb: u64) -> Result<(), Self::Error>;

    /// `XENMEM_populate_physmap` for `dom`, extent order 0: `extents` holds
    /// the GPFNs on entry and their new MFNs on return. Returns how many
    /// extents were done from the start (fewer than all is a partial
    /// success, as in Xen).
    ///
    /// # Errors
    /// The hypervisor's refusal of the first extent.
    fn populate_physmap(&mut self, dom: DomId, extents: &mut [u64]) -> Result<usize, Self::Error>;

    /// `HYPERVISOR_mmu_update(reqs, count, NULL, foreigndom)`.
    ///
    /// # Errors
    /// The hypervisor's refusal of any request.
    fn mmu_update(&mut self, reqs: &[MmuUpdate], foreigndom: DomId) -> Result<(), Self::Error>;

    /// `HYPERVISOR_mmuext_op(ops, count, NULL, foreigndom)`.
    ///
    /// # Errors
    /// The hypervisor's refusal of any operation.
    fn mmuext_op(&mut self, ops: &[MmuextOp], foreigndom: DomId) -> Result<(), Self::Error>;

    /// Writes `bytes` at `offset` into frame `mfn` of `dom` (`offset +
    /// bytes.len() <= 4096`), through a writable mapping of the foreign
    /// frame in the caller's address space. An implementation may keep the
    /// last mapping for the next write; [`DomCtl::unmap_foreign`] drops it.
    ///
    /// # Errors
    /// The mapping was refused.
    fn write_foreign(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), Self::Error>;

    /// Drops any mapping [`DomCtl::write_foreign`] kept: called before the
    /// page tables are pinned, since a page table must not stay writably
    /// mapped.
    ///
    /// # Errors
    /// The unmapping was refused.
    fn unmap_foreign(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// `XEN_DOMCTL_setvcpucontext`: loads `ctx` into `vcpu` of `dom`.
    ///
    /// # Errors
    /// The hypervisor's refusal (e.g. a context that does not validate).
    fn set_vcpu_context(
        &mut self,
        dom: DomId,
        vcpu: VcpuId,
        ctx: &VcpuGuestContext,
    ) -> Result<(), Self::Error>;

    /// `XEN_DOMCTL_hypercall_init`: the hypervisor writes its hypercall
    /// page into frame `gmfn` of `dom`.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    fn hypercall_init(&mut self, dom: DomId, gmfn: Mfn) -> Result<(), Self::Error>;

    /// `EVTCHNOP_alloc_unbound { dom, remote_dom }`: a port of `dom` that
    /// `remote` may bind to.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    fn evtchn_alloc_unbound(
        &mut self,
        dom: DomId,
        remote: DomId,
    ) -> Result<EvtchnPort, Self::Error>;

    /// `GNTTABOP_setup_table { dom, nr_frames: 1 }` issued by the
    /// controller for `dom`: the frame of `dom`'s grant table that holds
    /// entries 0 to 511 (its MFN, which [`DomCtl::write_foreign`] can
    /// then write: a PV domain's grant frames are its own). A status other
    /// than `GNTST_okay` is a refusal.
    ///
    /// # Errors
    /// The hypervisor's refusal (hypercall error or status).
    fn gnttab_setup_table(&mut self, dom: DomId) -> Result<Mfn, Self::Error>;

    /// `XEN_DOMCTL_unpausedomain`.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    fn unpause(&mut self, dom: DomId) -> Result<(), Self::Error>;

    /// `XEN_DOMCTL_destroydomain` (repeated by the implementation while
    /// the hypervisor asks for a continuation).
    ///
    /// # Errors
    /// The hypervisor's refusal.
    fn destroy(&mut self, dom: DomId) -> Result<(), Self::Error>;

    /// `MMU_MACHPHYS_UPDATE` requests with `dom` as `foreigndom`: the M2P
    /// entry of each `(mfn, gpfn)` pair.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    fn machphys_update(&mut self, dom: DomId, pairs: &[(Mfn, Pfn)]) -> Result<(), Self::Error> {
        const BATCH: usize = 64;
        let mut reqs = [MmuUpdate { ptr: 0, val: 0 }; BATCH];
        for chunk in pairs.chunks(BATCH) {
            for (req, &(mfn, pfn)) in reqs.iter_mut().zip(chunk) {
                let ptr = mfn.0.checked_shl(12).unwrap_or(0)
                    | u64::from(MmuUpdateCmd::MachphysUpdate.raw());
                *req = MmuUpdate { ptr, val: pfn.0 };
            }
            self.mmu_update(reqs.get(..chunk.len()).unwrap_or(&[]), dom)?;
        }
        Ok(())
    }

    /// `MMUEXT_PIN_L4_TABLE` of frame `mfn` with `dom` as `foreigndom`.
    ///
    /// # Errors
    /// The hypervisor's refusal (the tables do not validate).
    fn pin_l4(&mut self, dom: DomId, mfn: Mfn) -> Result<(), Self::Error> {
        self.mmuext_op(&[MmuextOp::new(MmuextCmd::PinL4Table, mfn.0, 0)], dom)
    }
}
