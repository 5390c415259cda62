// SPDX-License-Identifier: GPL-2.0-only
//! `mode=grant-v2` on a hypervisor booted with `gnttab=max-ver:1` (no
//! `XEN_SYSCTL_PHYSCAP_gnttab_v2` in `physinfo`): version 2 exists for
//! nobody. dom0's `set_version(2)` is `-ENOSYS` (version 1 written back);
//! `createdomain` with `grant_opts` version 2 is `-EINVAL`, with version 1
//! it succeeds, and that domain's version is 1; it is destroyed and the
//! free pages come back.

use pv_tests::guest_abi::xen::Errno;
use pv_tests::{check, check_eq, fail, println};
use xen_domain_builder::{BuildError, CtlOp, DomCtl, DomainConfig};

use super::super::{Hypervisor, Image};
use super::grant_v2;

/// Runs the checks with the first domU image (built, never run).
pub fn run(hv: &mut Hypervisor, images: &[Image<'_>], mem: u64) {
    println!("grant-v2: the hypervisor allows grant tables up to version 1 only");
    let (r, v) = grant_v2::set_version(2);
    check_eq((r.err().and_then(|e| e.errno()), v), (Some(Errno::ENOSYS), 1), "set_version(2)");
    let Some(kernel) = images.first().and_then(|i| i.kernel) else {
        fail("grant-v2: no domU image");
        return;
    };
    let free_before = super::settled_free();
    let mut cfg = DomainConfig::new(kernel, b"", mem);
    cfg.evtchns_optional = true;
    let refused = match xen_domain_builder::build(hv, &cfg) {
        Err(BuildError::Ctl { op: CtlOp::CreateDomain, error }) => error.errno(),
        Err(_) => None,
        Ok(built) => {
            let _ = hv.destroy(built.domid);
            None
        }
    };
    check_eq(refused, Some(Errno::EINVAL), "createdomain with grant version 2");
    cfg.max_grant_version = 1;
    match xen_domain_builder::build(hv, &cfg) {
        Ok(built) => {
            let d = built.domid;
            check(true, format_args!("createdomain d{} with grant version 1", d.0));
            check_eq(grant_v2::get_version(d).ok(), Some(1), format_args!("d{}'s version", d.0));
            check(hv.destroy(d).is_ok(), format_args!("destroydomain d{}", d.0));
        }
        Err(e) => fail(format_args!("createdomain with grant version 1: {e}")),
    }
    let free = super::wait_free(free_before);
    check_eq(free, free_before, "free pages back");
}
