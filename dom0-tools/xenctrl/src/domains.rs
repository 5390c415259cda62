// SPDX-License-Identifier: GPL-2.0-only
//! The domain list (`XEN_SYSCTL_getdomaininfolist`), libxenctrl's
//! `xc_domain_getinfolist`: one [`XenDomctlGetdomaininfo`] per existing
//! domain from a given id on, in id order.

use guest_abi::domctl::XenDomctlGetdomaininfo;
use guest_abi::sysctl::{SysctlCmd, XenSysctl, XenSysctlGetdomaininfolist};
use guest_abi::xen::DomId;

use crate::buffer::HypercallBuffer;
use crate::{Error, Result, Xc};

/// One domain's state as the hypervisor reports it.
pub type DomainInfo = XenDomctlGetdomaininfo;

impl Xc {
    /// Up to `max` domains with ids from `first` on (`xc_domain_getinfolist`).
    pub fn domain_info_list(&self, first: DomId, max: u32) -> Result<Vec<DomainInfo>> {
        let elem = core::mem::size_of::<DomainInfo>();
        let count = usize::try_from(max).unwrap_or(0).max(1);
        let buf = HypercallBuffer::new(count.saturating_mul(elem))?;
        let arg = XenSysctlGetdomaininfolist {
            first_domain: first,
            pad0: 0,
            max_domains: max,
            buffer: buf.addr(0).ok_or(Error::Buffer(nix::Error::EINVAL))?,
            num_domains: 0,
            pad1: 0,
        };
        let mut op = XenSysctl::with_payload(SysctlCmd::Getdomaininfolist, &arg)
            .ok_or(Error::Buffer(nix::Error::EINVAL))?;
        self.sysctl(&mut op)?;
        let out: XenSysctlGetdomaininfolist =
            op.payload().ok_or(Error::Buffer(nix::Error::EINVAL))?;
        let n = usize::try_from(out.num_domains).unwrap_or(0).min(count);
        Ok((0..n).filter_map(|i| buf.read(i.saturating_mul(elem))).collect())
    }

    /// Every domain (in batches, as `xl list` asks).
    pub fn all_domains(&self) -> Result<Vec<DomainInfo>> {
        const BATCH: u32 = 256;
        let mut all: Vec<DomainInfo> = Vec::new();
        let mut first = DomId(0);
        loop {
            let batch = self.domain_info_list(first, BATCH)?;
            let full = batch.len() == BATCH as usize;
            let Some(last) = batch.last().map(|d| d.domain.0) else { break };
            all.extend(batch);
            if !full {
                break;
            }
            match last.checked_add(1) {
                Some(next) => first = DomId(next),
                None => break,
            }
        }
        Ok(all)
    }
}
