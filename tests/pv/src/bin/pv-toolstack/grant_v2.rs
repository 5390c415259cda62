// SPDX-License-Identifier: GPL-2.0-only
//! `mode=grant-v2`: grant tables version 2 from dom0's side. The first
//! domU image must be `pv-grant2`; the protocol is
//! [`pv_tests::grant_v2`].
//!
//! On a hypervisor without version 2 (`gnttab=max-ver:1`) it runs
//! [`max_ver`] instead.
//!
//! 1. dom0's own table: `setup_table` of one frame, `set_version(2)`
//!    (the version written back), its one status frame listed by
//!    `GNTTABOP_get_status_frames` (two is `GNTST_general_error`), back to
//!    version 1, where it has none; a map of its own ref beyond its
//!    table is `GNTST_bad_gntref` (and gives it its first maptrack page).
//! 2. It builds the domU (allowed version 2, as libxl does), unpauses it
//!    and maps its v2 `full_page` ref 8 writable (retrying, yielding, until
//!    the domU has published it); checks page A's pattern; reads the
//!    domU's version (2), table size and status frame as the privileged
//!    domain may.
//! 3. The `sub_page` ref 9: mapping it is `GNTST_general_error` (copy
//!    only); copying the granted range succeeds with page B's bytes;
//!    copies starting before the range or ending after it are
//!    `GNTST_general_error`.
//!    With ref 8 mapped, `GNTTABOP_cache_flush` of its frame cleans (also
//!    with invalidate), invalidating alone is `-EOPNOTSUPP`, a range past
//!    the page `-EINVAL`; `swap_grant_ref` of dom0's own refs succeeds,
//!    beyond its table it is `GNTST_bad_gntref`.
//!    Through the domU's `transitive` ref 11, which names dom0's own ref 12
//!    (a page of dom0's granted read-only to the domU in dom0's v1 table,
//!    mapped for the purpose), dom0 copies its own page back; its entry
//!    12 is unpinned afterwards; mapping ref 11 is `GNTST_general_error`.
//! 4. It writes the reply, waits for the answer (meanwhile the domU checks
//!    the status frame and that it cannot change version), unmaps with
//!    `GNTTABOP_unmap_and_replace` (another PTE of dom0's moves into the
//!    window; a bad handle is `GNTST_bad_handle`; the frame can no longer
//!    be flushed: `-EINVAL`), transfers a page to the domU's ref 10
//!    (refused while dom0 maps it; a second page sent to a ref that does
//!    not accept transfers is `GNTST_general_error` and lost; dom0 owns
//!    two pages less), and copies "done" into ref 8 (a v2 grant as copy
//!    destination).
//! 5. The domU's verdict is its shutdown code: `SHUTDOWN_poweroff` only if
//!    all its checks passed. dom0 destroys it and `physinfo`'s free pages
//!    must come back to their count before the build (status frames
//!    included) plus the two pages dom0 gave away.

use core::cell::UnsafeCell;

use pv_tests::grant::{
    self, ANSWER, ANSWER_OFF, DONE, DONE_OFF, PATTERN_LEN, REF_RW, REPLY, REPLY_OFF, SEED_A,
    SEED_B, Status,
};
use pv_tests::grant_v2::{
    self, D0_REF, REF_SUB, REF_TRANS, REF_XFER, SEED_D0, SEED_XFER, SUB_LEN, SUB_OFF,
};
use pv_tests::guest_abi::domctl::XEN_DOMINF_shutdown;
use pv_tests::guest_abi::grant_table::{
    GNTCOPY_dest_gref, GNTCOPY_source_gref, GNTMAP_host_map, GNTTAB_CACHE_CLEAN,
    GNTTAB_CACHE_INVAL, GTF_permit_access, GTF_readonly, GntSt, GnttabCopy, GnttabCopyPtr,
    GnttabMapGrantRef,
};
use pv_tests::guest_abi::sched::ShutdownReason;
use pv_tests::guest_abi::sysctl::XEN_SYSCTL_PHYSCAP_gnttab_v2;
use pv_tests::guest_abi::xen::{DomId, Errno, EvtchnPort, GrantRef, UVMF_INVLPG};
use pv_tests::pt::{DATA_RW, InitialMapping, maddr};
use pv_tests::{StartInfo, check, check_eq, fail, println, shinfo};
use xen_domain_builder::DomCtl;

use super::lifecycle::build;
use super::{Hypervisor, Image};

#[path = "grant_v2_max_ver.rs"]
mod max_ver;

/// How long dom0 waits for the domU at each step (system time).
const TIMEOUT_NS: u64 = 60_000_000_000;

/// Page-aligned `.bss` pages (see [`page`]).
#[repr(C, align(4096))]
struct Pages(UnsafeCell<[[u8; 4096]; 8]>);

// SAFETY: dom0's toolstack runs on one vCPU; the pages are only accessed
// through raw pointers, volatile where another domain writes.
unsafe impl Sync for Pages {}

static PAGES: Pages = Pages(UnsafeCell::new([[0; 4096]; 8]));

/// Page `i` of [`PAGES`]: 0 the window, 1 and 2 copy buffers, 3 the page
/// whose PTE replaces the grant's, 4 and 5 pages given away, 6 where
/// dom0's own grant-table frame is mapped, 7 the page dom0 grants.
fn page(i: usize) -> *mut u8 {
    PAGES.0.get().cast::<u8>().wrapping_add(i.min(7).wrapping_mul(4096))
}

/// Whether dom0's command line asks for this mode.
pub fn wanted(si: &StartInfo) -> bool {
    shinfo::cmdline_value(si.cmd_line_bytes(), "mode") == Some("grant-v2")
}

fn now() -> u64 {
    shinfo::now().unwrap_or(0)
}

fn yield_now() {
    let _ = pv_tests::ops::sched_yield();
}

/// One map: status, handle and `dev_bus_addr`.
fn map1(d: DomId, gref: u32, va: u64, flags: u32) -> (Status, u32, u64) {
    let mut ops = [GnttabMapGrantRef {
        host_addr: va,
        flags,
        gref: GrantRef(gref),
        dom: d,
        ..Default::default()
    }];
    match grant::map(&mut ops) {
        Ok(()) => (Status(ops[0].status), ops[0].handle, ops[0].dev_bus_addr),
        Err(e) => {
            fail(format_args!("GNTTABOP_map_grant_ref: {e}"));
            (Status(i16::MIN), 0, 0)
        }
    }
}

fn copy1(op: GnttabCopy) -> Status {
    let mut ops = [op];
    match grant::copy(&mut ops) {
        Ok(()) => Status(ops[0].status),
        Err(e) => {
            fail(format_args!("GNTTABOP_copy: {e}"));
            Status(i16::MIN)
        }
    }
}

/// A copy of `len` bytes of `d`'s `gref` from `off` into dom0's `mfn` at
/// the same offset.
fn copy_from(d: DomId, gref: u32, off: u16, len: u16, mfn: u64) -> GnttabCopy {
    GnttabCopy {
        source: GnttabCopyPtr { u: u64::from(gref), domid: d, offset: off, pad0: 0 },
        dest: GnttabCopyPtr { u: mfn, domid: DomId::SELF, offset: off, pad0: 0 },
        len,
        flags: GNTCOPY_source_gref,
        ..Default::default()
    }
}

/// Step 1: dom0's own table through version 2 and back; its frame.
fn own_table() -> u64 {
    let mut frames = [0u64; 1];
    check_eq(
        grant::setup_table(DomId::SELF, &mut frames).ok(),
        Some(Status(0)),
        "dom0 setup_table",
    );
    let (r, v) = grant_v2::set_version(2);
    check_eq((r.is_ok(), v), (true, 2), "dom0 set_version(2)");
    let mut one = [0u64; 1];
    let st = grant_v2::get_status_frames(DomId::SELF, &mut one).ok();
    check_eq(st, Some(Status(0)), "dom0 get_status_frames of 1");
    let mut two = [0u64; 2];
    let st = grant_v2::get_status_frames(DomId::SELF, &mut two).ok();
    let general = Some(Status(GntSt::GeneralError.raw()));
    check_eq(st, general, "dom0 get_status_frames of 2");
    let (r, v) = grant_v2::set_version(7);
    check_eq((r.err().and_then(|e| e.errno()), v), (Some(Errno::EINVAL), 2), "set_version(7)");
    let (r, v) = grant_v2::set_version(1);
    check_eq((r.is_ok(), v), (true, 1), "dom0 set_version(1)");
    let st = grant_v2::get_status_frames(DomId::SELF, &mut one).ok();
    check_eq(st, general, "dom0 get_status_frames of 1 at version 1");
    // A map takes a maptrack handle before it looks at the ref: Xen's
    // first one allocates dom0's first maptrack page, which stays. Taken
    // here, before the free pages are counted.
    let (st, ..) = map1(DomId(0), 1 << 20, 0, GNTMAP_host_map);
    check_eq(st, Status(GntSt::BadGntref.raw()), "map of dom0's own ref 0x100000");
    check_eq(grant_v2::swap(10, 11).ok(), Some(Status(0)), "swap of dom0's refs 10 and 11");
    let st = grant_v2::swap(10, 1 << 20).ok();
    check_eq(st, Some(Status(GntSt::BadGntref.raw())), "swap with ref 0x100000");
    frames[0]
}

/// Maps dom0's own grant-table frame `table` and grants the domU `d` a
/// page of dom0's, read-only, as ref 12 (for the domU's transitive grant).
fn grant_own_page(table: u64, d: DomId, layout: &InitialMapping) -> bool {
    let va = page(6).addr() as u64;
    // SAFETY: page 6 is this module's and holds nothing; the frame is
    // dom0's grant table.
    if let Err(e) = unsafe { shinfo::update_va_mapping(va, maddr(table) | DATA_RW, UVMF_INVLPG) } {
        fail(format_args!("grant-v2: mapping dom0's grant table: {e}"));
        return false;
    }
    for i in 0..4096 {
        // SAFETY: page 7 is dom0's own.
        unsafe { page(7).wrapping_add(i).write_volatile(grant::pattern(SEED_D0, i)) };
    }
    let Some(mfn) = layout.va_to_mfn(page(7).addr() as u64) else {
        fail("grant-v2: no MFN for dom0's granted page");
        return false;
    };
    let e = page(6).wrapping_add(usize::try_from(D0_REF).unwrap_or(0).wrapping_mul(8));
    // SAFETY: v1 entry 12 of the mapped table: domid at +2, frame at +4,
    // then the flags.
    unsafe {
        e.wrapping_add(2).cast::<u16>().write_volatile(d.0);
        e.wrapping_add(4).cast::<u32>().write_volatile(u32::try_from(mfn).unwrap_or(0));
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        e.cast::<u16>().write_volatile(GTF_permit_access | GTF_readonly);
    }
    true
}

/// The flags of dom0's own entry 12.
fn own_flags() -> u16 {
    let e = page(6).wrapping_add(usize::try_from(D0_REF).unwrap_or(0).wrapping_mul(8));
    // SAFETY: entry 12 of the mapped table.
    unsafe { e.cast::<u16>().read_volatile() }
}

/// Step 3b: dom0's own page back through the domU's transitive ref 11.
fn transitive(d: DomId, va: u64, buf_mfn: u64) {
    let st = copy1(copy_from(d, REF_TRANS, 0, 4096, buf_mfn));
    check_eq(st, Status(0), "copy through the domU's transitive ref 11 (dom0's ref 12)");
    // SAFETY: buffer page 1 is dom0's own.
    let bad = unsafe { grant::first_mismatch(page(1), 4096, SEED_D0) };
    check_eq(bad, None, "dom0's own page in the copy");
    check_eq(own_flags(), GTF_permit_access | GTF_readonly, "dom0's entry 12 unpinned after");
    let (st, ..) = map1(d, REF_TRANS, va, GNTMAP_host_map);
    check_eq(st, Status(GntSt::GeneralError.raw()), "map of the transitive ref 11");
}

/// Runs the mode with the first domU image (`pv-grant2`).
pub fn run(
    si: &StartInfo,
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    images: &[Image<'_>],
    mem: u64,
) {
    println!("toolstack mode: grant-v2");
    let caps = super::physinfo().map(|p| p.capabilities);
    if caps.is_ok_and(|c| c & XEN_SYSCTL_PHYSCAP_gnttab_v2 == 0) {
        max_ver::run(hv, images, mem);
        return;
    }
    let table = own_table();
    let Some(layout) = InitialMapping::new(si) else {
        fail("grant-v2: no initial mapping");
        return;
    };
    let (va, buf) = (page(0).addr() as u64, page(1).addr() as u64);
    let Some(buf_mfn) = layout.va_to_mfn(buf) else {
        fail("grant-v2: no MFN for the copy buffer");
        return;
    };
    let Some(image) = images.first() else {
        fail("grant-v2: no domU image");
        return;
    };
    let free_before = settled_free();
    let Some(d) = build(hv, image, mem) else { return };
    println!("domU d{}: domU-{}.kernel, {mem} MiB", d.0, image.n);
    // Room for one more page, as libxl leaves (LIBXL_MAXMEM_CONSTANT).
    if let Err(e) = hv.max_mem(d, mem.saturating_mul(1024).saturating_add(1024)) {
        fail(format_args!("domU d{}: max_mem: {e}", d.0));
    }
    // SAFETY: the window page is this module's, holding nothing.
    if let Err(e) = unsafe { shinfo::update_va_mapping(va, 0, UVMF_INVLPG) } {
        fail(format_args!("grant-v2: clearing the window: {e}"));
    }
    let own = grant_own_page(table, d, &layout);
    if let Err(e) = hv.unpause(d) {
        fail(format_args!("domU d{}: unpause: {e}", d.0));
    }
    let mut given = 0;
    if exchange(d, va, buf_mfn, own) {
        given = give_page(hv, d, &layout);
        // SAFETY: buffer page 2 is dom0's own; 8 bytes written.
        unsafe { page(2).cast::<u64>().write_volatile(DONE) };
        let src_mfn = layout.va_to_mfn(page(2).addr() as u64).unwrap_or(0);
        let off = u16::try_from(DONE_OFF).unwrap_or(0);
        let op = GnttabCopy {
            source: GnttabCopyPtr { u: src_mfn, domid: DomId::SELF, offset: 0, pad0: 0 },
            dest: GnttabCopyPtr { u: u64::from(REF_RW), domid: d, offset: off, pad0: 0 },
            len: 8,
            flags: GNTCOPY_dest_gref,
            ..Default::default()
        };
        check_eq(copy1(op), Status(0), "copy of \"done\" into v2 ref 8 (dest by grant)");
    }
    // The pages dom0 gave away are free once the domU is gone.
    finish(hv, exc, d, free_before.map(|n| n.saturating_add(given)));
}

/// Steps 2 to 4 (with `own`, dom0's ref 12 granted, the transitive copy);
/// whether the domU took part.
fn exchange(d: DomId, va: u64, buf_mfn: u64, own: bool) -> bool {
    let deadline = now().saturating_add(TIMEOUT_NS);
    let (st, handle, bus) = loop {
        let (st, h, bus) = map1(d, REF_RW, va, GNTMAP_host_map);
        if st == GntSt::Okay || now() > deadline {
            break (st, h, bus);
        }
        yield_now();
    };
    if !check_eq(st, Status(0), format_args!("map d{} v2 ref {REF_RW} writable", d.0)) {
        return false;
    }
    // SAFETY: the window maps page A (4096 bytes) now.
    let bad = unsafe { grant::first_mismatch(page(0), PATTERN_LEN, SEED_A) };
    check_eq(bad, None, "page A's pattern through the v2 grant mapping");
    check_eq(grant_v2::get_version(d).ok(), Some(2), format_args!("get_version of d{}", d.0));
    let size = grant_v2::query_size(d).ok().map(|(s, n, _)| (s, n));
    check_eq(size, Some((Status(0), 1)), format_args!("query_size of d{}", d.0));
    let mut one = [0u64; 1];
    let st = grant_v2::get_status_frames(d, &mut one).ok();
    check_eq(st, Some(Status(0)), format_args!("get_status_frames of d{}", d.0));

    // Cache maintenance of the granted frame while it is mapped: x86
    // cleans (the whole page) but cannot only invalidate.
    let clean = GNTTAB_CACHE_CLEAN;
    let r = grant_v2::cache_flush(bus, 0, 4096, clean).map_err(|e| e.errno());
    check_eq(r, Ok(()), "cache_flush (clean) of the mapped grant's frame");
    let r = grant_v2::cache_flush(bus, 64, 64, clean | GNTTAB_CACHE_INVAL).map_err(|e| e.errno());
    check_eq(r, Ok(()), "cache_flush (clean and invalidate) of 64 bytes of it");
    let r = grant_v2::cache_flush(bus, 0, 64, GNTTAB_CACHE_INVAL).map_err(|e| e.errno());
    check_eq(r, Err(Some(Errno::EOPNOTSUPP)), "cache_flush (invalidate only)");
    let r = grant_v2::cache_flush(bus, 4000, 200, clean).map_err(|e| e.errno());
    check_eq(r, Err(Some(Errno::EINVAL)), "cache_flush past the page");

    let general = Status(GntSt::GeneralError.raw());
    let (st, ..) = map1(d, REF_SUB, va, GNTMAP_host_map);
    check_eq(st, general, "map of the sub-page ref 9");
    let st = copy1(copy_from(d, REF_SUB, SUB_OFF, SUB_LEN, buf_mfn));
    check_eq(st, Status(0), "copy of sub-page ref 9's 512 bytes at 256");
    let ok = (usize::from(SUB_OFF)..usize::from(SUB_OFF + SUB_LEN)).all(|i| {
        // SAFETY: `i < 768`: inside buffer page 1.
        let b = unsafe { page(1).wrapping_add(i).read_volatile() };
        b == grant::pattern(SEED_B, i)
    });
    check(ok, "page B's granted bytes in the copy");
    let st = copy1(copy_from(d, REF_SUB, SUB_OFF - 1, 8, buf_mfn));
    check_eq(st, general, "copy from ref 9 starting before its range");
    let st = copy1(copy_from(d, REF_SUB, 700, 100, buf_mfn));
    check_eq(st, general, "copy from ref 9 ending after its range");
    if own {
        transitive(d, va, buf_mfn);
    }

    // SAFETY: the window still maps page A; an aligned word inside it.
    unsafe { page(0).wrapping_add(REPLY_OFF).cast::<u64>().write_volatile(REPLY) };
    let deadline = now().saturating_add(TIMEOUT_NS);
    // SAFETY: as above.
    let answer = || unsafe { page(0).wrapping_add(ANSWER_OFF).cast::<u64>().read_volatile() };
    while answer() != ANSWER && now() < deadline {
        yield_now();
    }
    check_eq(answer(), ANSWER, "the domU's answer through the v2 mapping");
    // Unmap by moving another PTE of dom0's into the grant's place.
    let marker = 0x5eed_0f7e_9ace_0000_u64;
    // SAFETY: page 3 is dom0's own; an aligned word.
    unsafe { page(3).cast::<u64>().write_volatile(marker) };
    let new_va = page(3).addr() as u64;
    let st = grant_v2::unmap_and_replace(va, new_va, handle.wrapping_add(1000)).ok();
    check_eq(st, Some(Status(GntSt::BadHandle.raw())), "unmap_and_replace with a bad handle");
    let st = grant_v2::unmap_and_replace(va, new_va, handle).ok();
    check_eq(st, Some(Status(0)), "unmap_and_replace of v2 ref 8");
    // SAFETY: the window maps page 3's frame now (its own PTE moved).
    let seen = unsafe { page(0).cast::<u64>().read_volatile() };
    check_eq(seen, marker, "the window shows the page whose PTE moved there");
    // SAFETY: the window is this module's; page 3's address maps nothing
    // any more and is not used again.
    if let Err(e) = unsafe { shinfo::update_va_mapping(va, 0, UVMF_INVLPG) } {
        fail(format_args!("grant-v2: clearing the window: {e}"));
    }
    let r = grant_v2::cache_flush(bus, 0, 64, clean).map_err(|e| e.errno());
    check_eq(r, Err(Some(Errno::EINVAL)), "cache_flush of the frame once unmapped");
    true
}

/// dom0 gives the domU a page (ref 10): refused while dom0 maps it, then
/// taken, dom0's page count one lower; a second page sent to a ref that is
/// not `GTF_accept_transfer` is refused and lost. Returns how many pages
/// dom0 owns less.
fn give_page(hv: &mut Hypervisor, d: DomId, layout: &InitialMapping) -> u64 {
    let (va, lost_va) = (page(4).addr() as u64, page(5).addr() as u64);
    for i in 0..4096 {
        // SAFETY: page 4 is dom0's own.
        unsafe { page(4).wrapping_add(i).write_volatile(grant::pattern(SEED_XFER, i)) };
    }
    let (Some(mfn), Some(lost)) = (layout.va_to_mfn(va), layout.va_to_mfn(lost_va)) else {
        fail("grant-v2: no MFN for the pages to give");
        return 0;
    };
    let st = grant_v2::transfer(mfn, d, REF_XFER).ok();
    check_eq(st, Some(Status(GntSt::BadPage.raw())), "transfer of a page dom0 still maps");
    for v in [va, lost_va] {
        // SAFETY: pages 4 and 5 are this module's and not used again.
        if let Err(e) = unsafe { shinfo::update_va_mapping(v, 0, UVMF_INVLPG) } {
            fail(format_args!("grant-v2: unmapping a page to give: {e}"));
        }
    }
    let pages = |hv: &mut Hypervisor| hv.get_domain_info(DomId(0)).map(|i| i.tot_pages).ok();
    let before = pages(hv);
    let st = grant_v2::transfer(mfn, d, REF_XFER).ok();
    check_eq(st, Some(Status(0)), format_args!("transfer of a page to d{} ref 10", d.0));
    let st = grant_v2::transfer(lost, d, REF_RW).ok();
    check_eq(st, Some(Status(GntSt::GeneralError.raw())), "transfer into a permit_access ref");
    let after = pages(hv);
    check_eq(after, before.map(|n| n.saturating_sub(2)), "dom0's pages: both gone");
    before.zip(after).map_or(0, |(b, a)| b.saturating_sub(a))
}

/// Step 5: the domU's verdict, its destruction, the pages back.
fn finish(hv: &mut Hypervisor, exc: Option<EvtchnPort>, d: DomId, free_before: Option<u64>) {
    let deadline = now().saturating_add(TIMEOUT_NS);
    let code = loop {
        match hv.get_domain_info(d) {
            Ok(i) if i.flags & XEN_DOMINF_shutdown != 0 => break Some(i.shutdown_code()),
            Ok(_) if now() < deadline => {}
            _ => break None,
        }
        let _ = match exc {
            Some(port) => {
                pv_tests::evtchn::clear_pending(port);
                pv_tests::evtchn::sched_poll(&[port], deadline)
            }
            None => pv_tests::ops::sched_yield(),
        };
    };
    let poweroff = Some(ShutdownReason::Poweroff.raw());
    check_eq(code, poweroff, format_args!("d{}'s shutdown code: every domU check passed", d.0));
    check(hv.destroy(d).is_ok(), format_args!("destroydomain d{}", d.0));
    // Xen frees a destroyed domain's pages once the last reference goes
    // (RCU): give it a moment.
    let free = wait_free(free_before);
    check_eq(free, free_before, "free pages after the destroy: before the build + 2 given");
}

/// `physinfo`'s free pages once they stop changing (for 100 ms, within
/// 5 s): a domain destroyed before (Xen frees its pages after an RCU grace
/// period) must not count.
pub(super) fn settled_free() -> Option<u64> {
    let deadline = now().saturating_add(5_000_000_000);
    let mut last = super::physinfo().map(|p| p.free_pages).ok();
    loop {
        let until = now().saturating_add(100_000_000);
        while now() < until {
            yield_now();
        }
        let free = super::physinfo().map(|p| p.free_pages).ok();
        if free == last || now() > deadline {
            return free;
        }
        last = free;
    }
}

/// `physinfo`'s free pages once they reach `want`, or after 5 s: Xen
/// frees a destroyed domain's pages once the last reference goes (RCU).
pub(super) fn wait_free(want: Option<u64>) -> Option<u64> {
    let deadline = now().saturating_add(5_000_000_000);
    let mut free = super::physinfo().map(|p| p.free_pages).ok();
    while free != want && now() < deadline {
        yield_now();
        free = super::physinfo().map(|p| p.free_pages).ok();
    }
    free
}
