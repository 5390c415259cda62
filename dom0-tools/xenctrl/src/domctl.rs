// SPDX-License-Identifier: GPL-2.0-only
//! Typed `HYPERVISOR_domctl` calls (Xen 4.17's interface 0x15), as
//! libxenctrl's `xc_domain_*` make them: the envelope ([`XenDomctl`]) is
//! built here with `guest-abi`'s argument struct in its union, copied into
//! a locked [`HypercallBuffer`], issued through privcmd, and read back.
//!
//! The envelope builders ([`envelope`], [`vcpucontext_envelope`]) and the
//! answer checks ([`check_domaininfo`]) are pure and host-tested; the
//! hypercalls themselves need a dom0.

use bytemuck::Zeroable;
use guest_abi::domctl::{
    DomctlCmd, XenDomctl, XenDomctlCreatedomain, XenDomctlGetdomaininfo, XenDomctlHypercallInit,
    XenDomctlMaxMem, XenDomctlMaxVcpus, XenDomctlSetdomainhandle, XenDomctlVcpucontext,
};
use guest_abi::version::XenDomainHandle;
use guest_abi::xen::{DomId, Errno, Hypercall, Mfn, VcpuGuestContext, VcpuId};

use crate::buffer::HypercallBuffer;
use crate::{Error, Result, Xc};

/// `Error::Buffer(EINVAL)`: an argument that does not fit its buffer.
pub(crate) fn no_fit() -> Error {
    Error::Buffer(nix::Error::EINVAL)
}

/// The error `what` failed with `errno` (for refusals decided here, as
/// libxenctrl sets `errno` itself for some).
pub(crate) fn refused(what: &str, errno: Errno) -> Error {
    Error::Hypercall { what: what.to_owned(), errno }
}

/// The envelope of `cmd` on `dom` with `payload` in its union.
///
/// # Errors
/// `payload` larger than the union (never for `guest-abi`'s domctl
/// structs, which are asserted to fit).
pub fn envelope<T: guest_abi::AbiBytes>(
    cmd: DomctlCmd,
    dom: DomId,
    payload: &T,
) -> Result<XenDomctl> {
    XenDomctl::with_payload(cmd, dom, payload).ok_or_else(no_fit)
}

/// `XEN_DOMCTL_setvcpucontext`/`getvcpucontext`'s envelope: `vcpu` of
/// `dom`, the context at guest address `ctxt` (0 for `getvcpucontext`'s
/// "is it initialised" probe).
///
/// # Errors
/// As [`envelope`].
pub fn vcpucontext_envelope(
    cmd: DomctlCmd,
    dom: DomId,
    vcpu: VcpuId,
    ctxt: u64,
) -> Result<XenDomctl> {
    envelope(cmd, dom, &XenDomctlVcpucontext { vcpu, pad: 0, ctxt })
}

/// Checks `getdomaininfo`'s answer for `dom`: Xen answers the first domain
/// at or after the one asked, so another id means `dom` does not exist
/// (`ESRCH`, as `xc_domain_getinfo_single` reports it).
///
/// # Errors
/// `ESRCH` for another domain's answer, `EINVAL` for an envelope without
/// the payload.
pub fn check_domaininfo(dom: DomId, op: &XenDomctl) -> Result<XenDomctlGetdomaininfo> {
    let info: XenDomctlGetdomaininfo =
        op.payload().ok_or_else(|| refused(DomctlCmd::Getdomaininfo.xen_name(), Errno::EINVAL))?;
    if info.domain != dom {
        return Err(refused(DomctlCmd::Getdomaininfo.xen_name(), Errno::ESRCH));
    }
    Ok(info)
}

/// How often [`Xc::destroy_domain`] re-issues `destroydomain` while Xen
/// asks for it (`-EAGAIN`: teardown preempted) before giving up.
const DESTROY_RETRIES: u32 = 1 << 20;

impl Xc {
    /// `HYPERVISOR_domctl(op)`: `op` in, the hypervisor's copy back out
    /// (also on failure, as Xen copies back what it wrote).
    ///
    /// # Errors
    /// The hypervisor's `-errno`, named by the command.
    pub fn domctl(&self, op: &mut XenDomctl) -> Result<i64> {
        self.domctl_with_extra(op, None)
    }

    /// As [`Xc::domctl`], for a command whose payload points at `extra`
    /// (already holding its address in the envelope).
    fn domctl_with_extra(
        &self,
        op: &mut XenDomctl,
        _extra: Option<&HypercallBuffer>,
    ) -> Result<i64> {
        let mut buf = HypercallBuffer::new(core::mem::size_of::<XenDomctl>())?;
        if !buf.write(0, op) {
            return Err(no_fit());
        }
        let addr = buf.addr(0).ok_or_else(no_fit)?;
        let name = op.op().map_or("XEN_DOMCTL_(unknown)", |c| c.xen_name());
        let ret =
            self.privcmd.hypercall(name, u64::from(Hypercall::Domctl.raw()), [addr, 0, 0, 0, 0]);
        if let Some(back) = buf.read(0) {
            *op = back;
        }
        ret
    }

    /// A domctl with `payload` on `dom`; the envelope after the call.
    fn domctl_payload<T: guest_abi::AbiBytes>(
        &self,
        cmd: DomctlCmd,
        dom: DomId,
        payload: &T,
    ) -> Result<XenDomctl> {
        let mut op = envelope(cmd, dom, payload)?;
        self.domctl(&mut op)?;
        Ok(op)
    }

    /// A domctl without payload on `dom`.
    fn domctl_plain(&self, cmd: DomctlCmd, dom: DomId) -> Result<()> {
        self.domctl(&mut XenDomctl::new(cmd, dom)).map(drop)
    }

    /// `XEN_DOMCTL_createdomain`: a new paused domain; `dom` is the id
    /// wanted, `DomId(0)` for any. Returns the id given.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    pub fn create_domain(&self, dom: DomId, config: &XenDomctlCreatedomain) -> Result<DomId> {
        Ok(self.domctl_payload(DomctlCmd::Createdomain, dom, config)?.domain)
    }

    /// `XEN_DOMCTL_max_vcpus`.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    pub fn max_vcpus(&self, dom: DomId, max: u32) -> Result<()> {
        self.domctl_payload(DomctlCmd::MaxVcpus, dom, &XenDomctlMaxVcpus { max }).map(drop)
    }

    /// `XEN_DOMCTL_max_mem` in KiB.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    pub fn max_mem(&self, dom: DomId, max_memkb: u64) -> Result<()> {
        self.domctl_payload(DomctlCmd::MaxMem, dom, &XenDomctlMaxMem { max_memkb }).map(drop)
    }

    /// `XEN_DOMCTL_getdomaininfo` of exactly `dom` ([`check_domaininfo`]).
    ///
    /// # Errors
    /// `ESRCH` when `dom` does not exist, or the hypervisor's refusal.
    pub fn domain_info(&self, dom: DomId) -> Result<XenDomctlGetdomaininfo> {
        let op =
            self.domctl_payload(DomctlCmd::Getdomaininfo, dom, &XenDomctlGetdomaininfo::zeroed())?;
        check_domaininfo(dom, &op)
    }

    /// `XEN_DOMCTL_getdomaininfo` of the first domain at or after `dom`
    /// (how a domain list is walked); `None` past the last one (`ESRCH`).
    ///
    /// # Errors
    /// The hypervisor's refusal other than `ESRCH`.
    pub fn next_domain_info(&self, dom: DomId) -> Result<Option<XenDomctlGetdomaininfo>> {
        match self.domctl_payload(DomctlCmd::Getdomaininfo, dom, &XenDomctlGetdomaininfo::zeroed())
        {
            Ok(op) => Ok(op.payload()),
            Err(Error::Hypercall { errno: Errno::ESRCH, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `XEN_DOMCTL_pausedomain`.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    pub fn pause_domain(&self, dom: DomId) -> Result<()> {
        self.domctl_plain(DomctlCmd::Pausedomain, dom)
    }

    /// `XEN_DOMCTL_unpausedomain`.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    pub fn unpause_domain(&self, dom: DomId) -> Result<()> {
        self.domctl_plain(DomctlCmd::Unpausedomain, dom)
    }

    /// `XEN_DOMCTL_destroydomain`, re-issued while the hypervisor answers
    /// `-EAGAIN` (as `xc_domain_destroy`).
    ///
    /// # Errors
    /// The hypervisor's refusal, or `EAGAIN` after [`DESTROY_RETRIES`].
    pub fn destroy_domain(&self, dom: DomId) -> Result<()> {
        let mut last = Ok(());
        for _ in 0..DESTROY_RETRIES {
            last = self.domctl_plain(DomctlCmd::Destroydomain, dom);
            match &last {
                Err(Error::Hypercall { errno: Errno::EAGAIN, .. }) => {}
                _ => return last,
            }
        }
        last
    }

    /// `XEN_DOMCTL_setdomainhandle`: the domain's UUID.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    pub fn set_domain_handle(&self, dom: DomId, handle: XenDomainHandle) -> Result<()> {
        self.domctl_payload(DomctlCmd::Setdomainhandle, dom, &XenDomctlSetdomainhandle { handle })
            .map(drop)
    }

    /// `XEN_DOMCTL_hypercall_init`: the hypervisor writes its hypercall page
    /// into frame `gmfn` of `dom`.
    ///
    /// # Errors
    /// The hypervisor's refusal.
    pub fn hypercall_init(&self, dom: DomId, gmfn: Mfn) -> Result<()> {
        self.domctl_payload(DomctlCmd::HypercallInit, dom, &XenDomctlHypercallInit { gmfn: gmfn.0 })
            .map(drop)
    }

    /// `XEN_DOMCTL_setvcpucontext`: loads `ctx` into `vcpu` of `dom`.
    ///
    /// # Errors
    /// The hypervisor's refusal (e.g. a context that does not validate).
    pub fn set_vcpu_context(&self, dom: DomId, vcpu: VcpuId, ctx: &VcpuGuestContext) -> Result<()> {
        let mut ctx_buf = HypercallBuffer::new(core::mem::size_of::<VcpuGuestContext>())?;
        if !ctx_buf.write(0, ctx) {
            return Err(no_fit());
        }
        let addr = ctx_buf.addr(0).ok_or_else(no_fit)?;
        let mut op = vcpucontext_envelope(DomctlCmd::Setvcpucontext, dom, vcpu, addr)?;
        self.domctl_with_extra(&mut op, Some(&ctx_buf)).map(drop)
    }

    /// `XEN_DOMCTL_getvcpucontext`: `vcpu` of `dom`'s register state.
    ///
    /// # Errors
    /// The hypervisor's refusal (`ESRCH`/`EINVAL` for a vCPU that does not
    /// exist, `ENODATA` for one never initialised).
    pub fn vcpu_context(&self, dom: DomId, vcpu: VcpuId) -> Result<VcpuGuestContext> {
        let ctx_buf = HypercallBuffer::new(core::mem::size_of::<VcpuGuestContext>())?;
        let addr = ctx_buf.addr(0).ok_or_else(no_fit)?;
        let mut op = vcpucontext_envelope(DomctlCmd::Getvcpucontext, dom, vcpu, addr)?;
        self.domctl_with_extra(&mut op, Some(&ctx_buf))?;
        ctx_buf.read(0).ok_or_else(no_fit)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;
    use guest_abi::domctl::XEN_DOMCTL_INTERFACE_VERSION;

    #[test]
    fn envelope_carries_cmd_version_domain_and_payload() {
        let op =
            envelope(DomctlCmd::MaxMem, DomId(7), &XenDomctlMaxMem { max_memkb: 0x1234 }).unwrap();
        let bytes = bytemuck::bytes_of(&op);
        assert_eq!(&bytes[0..4], &11u32.to_le_bytes(), "XEN_DOMCTL_max_mem is 11");
        assert_eq!(&bytes[4..8], &0x15u32.to_le_bytes(), "interface 0x15");
        assert_eq!(XEN_DOMCTL_INTERFACE_VERSION, 0x15);
        assert_eq!(&bytes[8..10], &7u16.to_le_bytes());
        assert_eq!(&bytes[16..24], &0x1234u64.to_le_bytes(), "payload at offset 16");
        assert!(bytes[24..].iter().all(|&b| b == 0));
    }

    #[test]
    fn vcpucontext_envelope_layout() {
        let op = vcpucontext_envelope(DomctlCmd::Setvcpucontext, DomId(3), VcpuId(2), 0xdead_b000)
            .unwrap();
        let bytes = bytemuck::bytes_of(&op);
        assert_eq!(&bytes[0..4], &12u32.to_le_bytes(), "XEN_DOMCTL_setvcpucontext is 12");
        assert_eq!(&bytes[16..20], &2u32.to_le_bytes(), "vcpu");
        assert_eq!(&bytes[24..32], &0xdead_b000u64.to_le_bytes(), "ctxt pointer at 8");
    }

    #[test]
    fn domaininfo_of_another_domain_is_esrch() {
        let mut info = XenDomctlGetdomaininfo::zeroed();
        info.domain = DomId(5);
        info.tot_pages = 42;
        let op = envelope(DomctlCmd::Getdomaininfo, DomId(5), &info).unwrap();
        assert_eq!(check_domaininfo(DomId(5), &op).unwrap().tot_pages, 42);
        match check_domaininfo(DomId(4), &op) {
            Err(Error::Hypercall { errno: Errno::ESRCH, what }) => {
                assert_eq!(what, "XEN_DOMCTL_getdomaininfo");
            }
            other => panic!("expected ESRCH, got {other:?}"),
        }
    }
}
