// SPDX-License-Identifier: GPL-2.0-only
//! Frame commands: `getpageframeinfo3` and `hypercall_init`.
//!
//! `getpageframeinfo3` (x86 `arch_do_domctl`) rewrites, in place in the
//! caller's array, each of at most 1024 frame numbers (`-E2BIG` beyond)
//! with its type code: `XEN_DOMCTL_PFINFO_L1TAB`..`L4TAB` for a validated
//! page table, with `LPINTAB` when pinned; `NOTAB` for any other frame of
//! the domain; `XTAB` for a frame that is not the domain's or is one the
//! hypervisor shares with it (shared info, grant table: Xen's
//! `is_special_page`). A PV domain names machine frames. A fault on an
//! entry stops there with `-EFAULT`.
//!
//! `hypercall_init` writes the hypercall stubs
//! ([`crate::dom0_build::hypercall_page`]) into a frame of the domain:
//! `-EINVAL` when the frame is not the domain's, `-EPERM` when it cannot be
//! writable (a page table or descriptor page).

use guest_abi::domctl::{
    XEN_DOMCTL_PFINFO_L1TAB, XEN_DOMCTL_PFINFO_L2TAB, XEN_DOMCTL_PFINFO_L3TAB,
    XEN_DOMCTL_PFINFO_L4TAB, XEN_DOMCTL_PFINFO_LPINTAB, XEN_DOMCTL_PFINFO_NOTAB,
    XEN_DOMCTL_PFINFO_XTAB, XenDomctl, XenDomctlGetpageframeinfo3, XenDomctlHypercallInit,
};
use guest_abi::xen::Errno;

use super::payload;
use crate::common::domain::Domain;
use crate::dom0_build::hypercall_page;
use crate::mm::Mfn;
use crate::mm::pv::{FrameTable, Level, PageType, PvMm};
use crate::pv::ctx::Ctx;

/// Most frames one `getpageframeinfo3` may ask about.
pub const MAX_PFINFO: u64 = 1024;

/// The `XEN_DOMCTL_PFINFO_*` code of machine frame `mfn` for `d`.
#[must_use]
pub fn pfinfo(frames: &FrameTable, d: &Domain, mfn: Mfn) -> u32 {
    let Some(info) = frames.info(mfn) else { return XEN_DOMCTL_PFINFO_XTAB };
    let special = mfn == d.shared_info
        || d.grant_frames.contains(&mfn)
        || d.grant_status_frames.contains(&mfn);
    if info.owner != Some(d.id) || info.count == 0 || special {
        return XEN_DOMCTL_PFINFO_XTAB;
    }
    let t = info.type_info;
    let level = match t.ty.level() {
        Some(Level::L1) => XEN_DOMCTL_PFINFO_L1TAB,
        Some(Level::L2) => XEN_DOMCTL_PFINFO_L2TAB,
        Some(Level::L3) => XEN_DOMCTL_PFINFO_L3TAB,
        Some(Level::L4) => XEN_DOMCTL_PFINFO_L4TAB,
        None => XEN_DOMCTL_PFINFO_NOTAB,
    };
    if t.pinned {
        level | XEN_DOMCTL_PFINFO_LPINTAB
    } else if !t.validated || t.count == 0 {
        XEN_DOMCTL_PFINFO_NOTAB
    } else {
        level
    }
}

/// `XEN_DOMCTL_getpageframeinfo3`.
pub fn getpageframeinfo3(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let arg: XenDomctlGetpageframeinfo3 = payload(op)?;
    if arg.num > MAX_PFINFO {
        return Err(Errno::E2BIG);
    }
    ctx.with_target(op.domain, |t| {
        for i in 0..arg.num {
            let at = arg.array.wrapping_add(i.wrapping_mul(8));
            let gfn: u64 = t.read(at).map_err(|_| Errno::EFAULT)?;
            let ty = pfinfo(t.frames, t.target, Mfn(gfn));
            t.write(at, &u64::from(ty)).map_err(|_| Errno::EFAULT)?;
        }
        Ok(0)
    })?
}

/// `XEN_DOMCTL_hypercall_init`.
pub fn hypercall_init(ctx: &mut Ctx<'_>, op: &XenDomctl) -> Result<i64, Errno> {
    let arg: XenDomctlHypercallInit = payload(op)?;
    let mfn = Mfn(arg.gmfn);
    ctx.with_target(op.domain, |t| {
        let id = t.target.id;
        let mut mm = PvMm::new(t.frames, t.mem, t.m2p, t.hooks);
        if !mm.mem.frame_exists(mfn) || !mm.frames.get_page(mfn, id) {
            return Err(Errno::EINVAL);
        }
        if mm.get_page_type(mfn, PageType::Writable).is_err() {
            mm.frames.put_page(mfn);
            return Err(Errno::EPERM);
        }
        let mut page = [0u8; hypercall_page::PAGE_SIZE];
        hypercall_page::fill(&mut page);
        mm.mem.write_bytes(mfn, 0, &page);
        mm.put_page_and_type(mfn);
        Ok(0)
    })?
}
