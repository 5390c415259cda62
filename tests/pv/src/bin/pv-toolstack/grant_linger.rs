// SPDX-License-Identifier: GPL-2.0-only
//! `mode=grant-linger`: the granter dies first. The domU (`pv-grant
//! linger`) shuts down right after answering, while dom0 still maps its
//! writable ref 8; dom0 destroys it (`XEN_DOMCTL_destroydomain`), and the
//! granted frame must live on as long as the mapping does (Xen keeps the
//! dying domain until its last page is freed): dom0 still reads the
//! pattern and writes through the mapping, then unmaps with its handle
//! (`GNTST_okay`), after which the domain is gone (`getdomaininfo`:
//! `-ESRCH`) and `physinfo`'s free pages are back to their count before
//! the domU was built.

use pv_tests::grant::{self, PATTERN_LEN, SEED_A};
use pv_tests::guest_abi::domctl::{XEN_DOMINF_dying, XEN_DOMINF_shutdown};
use pv_tests::guest_abi::xen::{DomId, Errno, EvtchnPort};
use pv_tests::ops::XenError;
use pv_tests::{check, check_eq, fail, println};
use xen_domain_builder::DomCtl;

use super::super::Hypervisor;
use super::{Status, TIMEOUT_NS, Window, map_and_reply, now, unmap_op, unmap1};

/// Runs the lingering-granter check on the running domU `d`.
pub fn run(
    w: &Window,
    d: DomId,
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    free_before: Result<u64, XenError>,
) {
    let handle = map_and_reply(w, d);
    let deadline = now().saturating_add(TIMEOUT_NS);
    loop {
        match hv.get_domain_info(d) {
            Ok(i) if i.flags & XEN_DOMINF_shutdown != 0 => break,
            Ok(_) if now() < deadline => {}
            other => {
                fail(format_args!("d{}: no shutdown: {:?}", d.0, other.map(|i| i.flags)));
                break;
            }
        }
        let _ = match exc {
            Some(port) => {
                pv_tests::evtchn::clear_pending(port);
                pv_tests::evtchn::sched_poll(&[port], deadline)
            }
            None => pv_tests::ops::sched_yield(),
        };
    }
    println!("grant-linger: d{} shut down with ref 8 still mapped by dom0", d.0);
    let destroyed = hv.destroy(d);
    check(destroyed.is_ok(), format_args!("destroydomain d{} while dom0 maps its grant", d.0));
    let after = hv.get_domain_info(d).map(|i| i.flags);
    println!("grant-linger: getdomaininfo d{} after the destroy: {after:?}", d.0);
    check(
        after.is_ok_and(|f| f & XEN_DOMINF_dying != 0),
        format_args!("d{} lingers as a dying domain while its frame is mapped", d.0),
    );
    let Some(handle) = handle else { return };
    // SAFETY: the window still maps the granted frame (the mapping holds
    // its references).
    let bad = unsafe { grant::first_mismatch(w.byte(0), PATTERN_LEN, SEED_A) };
    check_eq(bad, None, "page A's pattern through the mapping after the destroy");
    // SAFETY: as above; an aligned word inside the page.
    unsafe { w.byte(3096).cast::<u64>().write_volatile(7) };
    check_eq(unmap1(unmap_op(w.va, handle)), Status(0), "unmap of the dead granter's grant");
    let gone = hv.get_domain_info(d).map(drop).map_err(|e| e.errno());
    check_eq(gone, Err(Some(Errno::ESRCH)), format_args!("getdomaininfo d{} after the unmap", d.0));
    let free_after = super::super::physinfo().map(|p| p.free_pages);
    check_eq(free_after, free_before, "free pages after the unmap, as before the build");
}
