// SPDX-License-Identifier: GPL-2.0-only
//! The access-control hook layer (Xen's XSM): every privilege decision the
//! hypervisor makes goes through one [`Xsm`] trait.
//!
//! Each hook names the decision (who may read the console, change another
//! domain's memory, issue a domctl, ...) and has a default that is Xen's
//! "dummy" policy (`xsm/dummy.h`): the hook's [`XsmAction`] decides through
//! [`default_action`] — any domain for [`XsmAction::Hook`], the domain
//! itself or a privileged one for [`XsmAction::Target`], only a privileged
//! domain for [`XsmAction::Priv`]. [`DummyXsm`] is that policy. The
//! sHype/ACM policies (Simple Type Enforcement, Chinese Wall) implement the
//! trait later and override the hooks they care about, calling the default
//! for the rest, as Xen's ACM module sat on top of the dummy hooks.
//!
//! Hooks see an [`XsmSubject`] for each domain involved, not the domain
//! itself, so that a decision can be taken while the domains involved are
//! locked by the caller.

use guest_abi::xen::{DomId, Errno};

/// What a hook knows of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XsmSubject {
    /// The domain's id.
    pub id: DomId,
    /// Control-domain privilege (`is_control_domain`).
    pub privileged: bool,
    /// The sHype/ACM security label (`ssidref`), 0 without a policy.
    pub ssidref: u32,
}

/// Xen's `xsm_default_t`: who the dummy policy lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsmAction {
    /// Anyone (`XSM_HOOK`): the call's own checks decide.
    Hook,
    /// The domain itself or a privileged one (`XSM_TARGET`).
    Target,
    /// A device model for its target or a privileged domain (`XSM_DM_PRIV`);
    /// there are no device-model domains here, so: privileged.
    DmPriv,
    /// A privileged domain only (`XSM_PRIV`).
    Priv,
}

/// Xen's `xsm_default_action`: the dummy policy's answer for `action`
/// taken by `src` on `target` (`None`: no target domain).
///
/// # Errors
/// `EPERM` when `src` may not.
pub fn default_action(
    action: XsmAction,
    src: XsmSubject,
    target: Option<XsmSubject>,
) -> Result<(), Errno> {
    let ok = match action {
        XsmAction::Hook => true,
        XsmAction::Target => src.privileged || target.is_some_and(|t| t.id == src.id),
        XsmAction::DmPriv | XsmAction::Priv => src.privileged,
    };
    if ok { Ok(()) } else { Err(Errno::EPERM) }
}

/// The console operations a hook distinguishes (`CONSOLEIO_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleOp {
    /// `CONSOLEIO_write`: the domain's output.
    Write,
    /// `CONSOLEIO_read`: the hypervisor's console input.
    Read,
}

/// The privilege decisions of the hypervisor. Every method has Xen's dummy
/// default; a policy overrides what it restricts further.
pub trait Xsm: Send + Sync {
    /// `CONSOLEIO_*` by `src` (`xsm_console_io`): writing is anyone's
    /// (the console driver rate-limits it), reading the privileged
    /// domain's.
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn console_io(&self, src: XsmSubject, op: ConsoleOp) -> Result<(), Errno> {
        match op {
            ConsoleOp::Write => default_action(XsmAction::Hook, src, None),
            ConsoleOp::Read => default_action(XsmAction::Priv, src, None),
        }
    }

    /// `xen_version` sub-op `cmd` (`xsm_xen_version`): the hypervisor's
    /// command line and build id are the privileged domain's, the rest
    /// anyone's.
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn xen_version(&self, src: XsmSubject, cmd: u32) -> Result<(), Errno> {
        use guest_abi::version::XenVersionOp as Op;
        match Op::try_from(cmd) {
            Ok(Op::Commandline | Op::Commandline2 | Op::BuildId) => {
                default_action(XsmAction::Priv, src, None)
            }
            _ => default_action(XsmAction::Hook, src, None),
        }
    }

    /// Growing or shrinking `target`'s memory (`xsm_memory_adjust_reservation`:
    /// `increase_reservation`, `decrease_reservation`, `populate_physmap`,
    /// `XENMEM_exchange`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn memory_adjust_reservation(&self, src: XsmSubject, target: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Target, src, Some(target))
    }

    /// Staking or cancelling a claim on free memory for `target`
    /// (`xsm_claim_pages`, `XENMEM_claim_pages`): the privileged domain's.
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn claim_pages(&self, src: XsmSubject, target: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Priv, src, Some(target))
    }

    /// Reading `target`'s reservation (`xsm_memory_stat_reservation`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn memory_stat_reservation(&self, src: XsmSubject, target: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Target, src, Some(target))
    }

    /// The host memory map (`xsm_machine_memory_map`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn machine_memory_map(&self, src: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Priv, src, None)
    }

    /// `mmu_update` requests by `src` involving domain `owner`, called once
    /// for the page owner (`foreigndom`) and once for the owner of the page
    /// tables written (`xsm_mmu_update(d, pt_owner, pg_owner)`): what a
    /// domain builder and privcmd do. As in Xen's dummy hook, the page
    /// owner `DOMID_IO` is everyone's (the I/O permissions decide).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn mmu_update(&self, src: XsmSubject, owner: XsmSubject) -> Result<(), Errno> {
        if owner.id == DomId::IO {
            return Ok(());
        }
        default_action(XsmAction::Target, src, Some(owner))
    }

    /// `mmuext_op` by `src` with page owner `owner` (`xsm_mmuext_op`:
    /// pinning a domU's page tables from its builder).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn mmuext_op(&self, src: XsmSubject, owner: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Target, src, Some(owner))
    }

    /// Mapping frames of I/O memory `mfn` (`xsm_iomem_mapping`); the
    /// domain's own I/O capabilities are checked by the caller.
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn iomem_mapping(&self, src: XsmSubject, _mfn: u64) -> Result<(), Errno> {
        default_action(XsmAction::Hook, src, None)
    }

    /// An unbound event channel of `chn_dom` for `remote` to bind
    /// (`xsm_evtchn_unbound`): the domain itself or the privileged one
    /// creates it.
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn evtchn_unbound(
        &self,
        src: XsmSubject,
        chn_dom: XsmSubject,
        _remote: DomId,
    ) -> Result<(), Errno> {
        default_action(XsmAction::Target, src, Some(chn_dom))
    }

    /// Connecting `local`'s new port to `remote`'s unbound one
    /// (`xsm_evtchn_interdomain`): anyone (the remote port's
    /// `remote_domid` decides).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn evtchn_interdomain(&self, local: XsmSubject, _remote: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Hook, local, None)
    }

    /// Sending on one of `src`'s ports (`xsm_evtchn_send`, asked before
    /// the port's state is looked at); `remote` is the domain notified
    /// (`None`: the port is not interdomain).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn evtchn_send(&self, src: XsmSubject, _remote: Option<XsmSubject>) -> Result<(), Errno> {
        default_action(XsmAction::Hook, src, None)
    }

    /// Reading the state of a port of `chn_dom` (`xsm_evtchn_status`): the
    /// domain itself or a privileged one.
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn evtchn_status(&self, src: XsmSubject, chn_dom: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Target, src, Some(chn_dom))
    }

    /// Closing every port of `target` (`xsm_evtchn_reset`): the domain
    /// itself or a privileged one.
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn evtchn_reset(&self, src: XsmSubject, target: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Target, src, Some(target))
    }

    /// Setting up or sizing `target`'s grant table (`xsm_grant_setup`,
    /// `xsm_grant_query_size`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn grant_setup(&self, src: XsmSubject, target: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Target, src, Some(target))
    }

    /// Mapping a grant of `granter` into `grantee` (`xsm_grant_mapref`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn grant_mapref(&self, grantee: XsmSubject, _granter: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Hook, grantee, None)
    }

    /// Unmapping a grant of `granter` from `grantee`
    /// (`xsm_grant_unmapref`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn grant_unmapref(&self, grantee: XsmSubject, _granter: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Hook, grantee, None)
    }

    /// `GNTTABOP_copy` from `src` to `dest` (`xsm_grant_copy`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn grant_copy(&self, src: XsmSubject, _dest: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Hook, src, None)
    }

    /// `GNTTABOP_transfer` of a frame of `src` to `dest`
    /// (`xsm_grant_transfer`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn grant_transfer(&self, src: XsmSubject, _dest: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Hook, src, None)
    }

    /// Reading `target`'s grant-table version or size
    /// (`xsm_grant_query_size`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn grant_query_size(&self, src: XsmSubject, target: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::Target, src, Some(target))
    }

    /// Control operation `cmd` (`XEN_DOMCTL_*`) on `target` (`xsm_domctl`;
    /// `None` for `createdomain`, which has no target yet).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn domctl(&self, src: XsmSubject, target: Option<XsmSubject>, _cmd: u32) -> Result<(), Errno> {
        default_action(XsmAction::Priv, src, target)
    }

    /// System control operation `cmd` (`XEN_SYSCTL_*`, `xsm_sysctl`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn sysctl(&self, src: XsmSubject, _cmd: u32) -> Result<(), Errno> {
        default_action(XsmAction::Priv, src, None)
    }

    /// Shutting down another domain (`SCHEDOP_remote_shutdown`,
    /// `xsm_schedop_shutdown`).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn schedop_shutdown(&self, src: XsmSubject, target: XsmSubject) -> Result<(), Errno> {
        default_action(XsmAction::DmPriv, src, Some(target))
    }

    /// Whether a new domain may be labelled `ssidref` (the policies check
    /// their conflict sets here; the dummy has no labels).
    ///
    /// # Errors
    /// `EPERM` when refused.
    fn domain_create(&self, src: XsmSubject, _ssidref: u32) -> Result<(), Errno> {
        default_action(XsmAction::Priv, src, None)
    }
}

/// Xen's dummy policy: the defaults of [`Xsm`], nothing more.
#[derive(Clone, Copy, Debug, Default)]
pub struct DummyXsm;

impl Xsm for DummyXsm {}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(id: u16, privileged: bool) -> XsmSubject {
        XsmSubject { id: DomId(id), privileged, ssidref: 0 }
    }

    #[test]
    fn default_actions_follow_xens_dummy_policy() {
        let (d0, d1, d2) = (dom(0, true), dom(1, false), dom(2, false));
        for a in [XsmAction::Hook, XsmAction::Target, XsmAction::DmPriv, XsmAction::Priv] {
            assert_eq!(default_action(a, d0, Some(d1)), Ok(()), "{a:?}: dom0 may");
        }
        assert_eq!(default_action(XsmAction::Hook, d1, Some(d2)), Ok(()));
        assert_eq!(default_action(XsmAction::Target, d1, Some(d1)), Ok(()));
        assert_eq!(default_action(XsmAction::Target, d1, Some(d2)), Err(Errno::EPERM));
        assert_eq!(default_action(XsmAction::Target, d1, None), Err(Errno::EPERM));
        assert_eq!(default_action(XsmAction::Priv, d1, Some(d1)), Err(Errno::EPERM));
        assert_eq!(default_action(XsmAction::DmPriv, d1, Some(d2)), Err(Errno::EPERM));
    }

    #[test]
    fn dummy_hooks_let_dom0_do_everything_and_domus_only_their_own() {
        let x = DummyXsm;
        let (d0, d1, d2) = (dom(0, true), dom(1, false), dom(2, false));
        assert_eq!(x.console_io(d1, ConsoleOp::Write), Ok(()));
        assert_eq!(x.console_io(d1, ConsoleOp::Read), Err(Errno::EPERM));
        assert_eq!(x.console_io(d0, ConsoleOp::Read), Ok(()));
        assert_eq!(x.xen_version(d1, 0), Ok(()));
        assert_eq!(x.xen_version(d1, 9), Err(Errno::EPERM));
        assert_eq!(x.xen_version(d0, 9), Ok(()));
        assert_eq!(x.memory_adjust_reservation(d1, d1), Ok(()));
        assert_eq!(x.memory_adjust_reservation(d1, d2), Err(Errno::EPERM));
        assert_eq!(x.memory_adjust_reservation(d0, d2), Ok(()));
        assert_eq!(x.claim_pages(d1, d1), Err(Errno::EPERM), "not even for itself");
        assert_eq!(x.claim_pages(d0, d2), Ok(()));
        assert_eq!(x.claim_pages(d0, d0), Ok(()));
        assert_eq!(x.mmu_update(d1, d2), Err(Errno::EPERM));
        assert_eq!(x.mmu_update(d0, d2), Ok(()));
        let io = XsmSubject { id: DomId::IO, privileged: false, ssidref: 0 };
        let xen = XsmSubject { id: DomId::XEN, privileged: false, ssidref: 0 };
        assert_eq!(x.mmu_update(d1, io), Ok(()), "I/O permissions decide");
        assert_eq!(x.mmu_update(d1, xen), Err(Errno::EPERM));
        assert_eq!(x.mmu_update(d0, xen), Ok(()));
        assert_eq!(x.mmuext_op(d1, d1), Ok(()));
        assert_eq!(x.mmuext_op(d1, io), Err(Errno::EPERM));
        assert_eq!(x.mmuext_op(d1, d2), Err(Errno::EPERM));
        assert_eq!(x.mmuext_op(d0, d2), Ok(()));
        assert_eq!(x.machine_memory_map(d1), Err(Errno::EPERM));
        assert_eq!(x.domctl(d1, Some(d1), 1), Err(Errno::EPERM));
        assert_eq!(x.domctl(d0, None, 1), Ok(()));
        assert_eq!(x.sysctl(d1, 1), Err(Errno::EPERM));
        assert_eq!(x.evtchn_unbound(d1, d1, DomId(0)), Ok(()));
        assert_eq!(x.evtchn_unbound(d1, d2, DomId(0)), Err(Errno::EPERM));
        assert_eq!(x.evtchn_unbound(d0, d2, DomId(1)), Ok(()));
        assert_eq!(x.evtchn_interdomain(d1, d2), Ok(()));
        assert_eq!(x.evtchn_send(d1, Some(d2)), Ok(()));
        assert_eq!(x.evtchn_send(d1, None), Ok(()));
        assert_eq!(x.evtchn_status(d1, d1), Ok(()));
        assert_eq!(x.evtchn_status(d1, d2), Err(Errno::EPERM));
        assert_eq!(x.evtchn_status(d0, d2), Ok(()));
        assert_eq!(x.evtchn_reset(d1, d1), Ok(()));
        assert_eq!(x.evtchn_reset(d1, d2), Err(Errno::EPERM));
        assert_eq!(x.evtchn_reset(d0, d2), Ok(()));
        assert_eq!(x.grant_setup(d1, d2), Err(Errno::EPERM));
        assert_eq!(x.schedop_shutdown(d1, d2), Err(Errno::EPERM));
        assert_eq!(x.schedop_shutdown(d0, d2), Ok(()));
        assert_eq!(x.domain_create(d1, 0), Err(Errno::EPERM));
    }
}
