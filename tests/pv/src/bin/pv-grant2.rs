// SPDX-License-Identifier: GPL-2.0-only
//! `pv-grant2`: a domU with a version-2 grant table, for the toolstack's
//! `mode=grant-v2` (the protocol is in [`pv_tests::grant_v2`]).
//!
//! It sets up its table (one frame, mapped over a `.bss` page), is refused
//! version 3 (`-EINVAL`), switches to version 2, reads the version back,
//! gets its status frame (`GNTTABOP_get_status_frames`; asking for two is
//! `GNTST_general_error`) and maps it read-only over another `.bss` page,
//! as Linux's `gnttab_map_frames_v2` does. It publishes two v2 entries for
//! dom0: ref 8 `full_page` writable (page A) and ref 9 `sub_page` of page
//! B, read-only (frame and range first, flags last), ref 11 `transitive`
//! for dom0 naming dom0's own ref 12 (dom0 copies its page back through
//! it), and ref 10
//! `GTF_accept_transfer` for a page from dom0 at the PFN after its memory.
//!
//! While dom0 maps ref 8 the status frame must show `GTF_reading |
//! GTF_writing` for it and the entry's own flags must not (version 2 keeps
//! them apart), and `set_version(1)` is `-EBUSY` (a grant in use). After
//! dom0's "done" ref 10 is `GTF_transfer_committed |
//! GTF_transfer_completed` with the new MFN, whose M2P entry is the PFN
//! asked for and whose contents are dom0's pattern (it maps the page, now
//! its own); `swap_grant_ref` of refs 8 and 9 exchanges them. The status
//! is clear again; `set_version(1)` is still
//! `-EBUSY` while the status frame is mapped, and succeeds once it is
//! unmapped: version 1, no status frames, the entries cleared.
//!
//! It then shuts down with `SHUTDOWN_poweroff` if every check passed and
//! `SHUTDOWN_crash` otherwise: the verdict dom0 checks (on Xen 4.17 too).
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU16, Ordering, fence};

use pv_tests::grant::{
    self, ANSWER, ANSWER_OFF, DONE, DONE_OFF, PATTERN_LEN, REF_RW, REPLY, REPLY_OFF, SEED_A,
    SEED_B, Status,
};
use pv_tests::grant_v2::{self, D0_REF, REF_SUB, REF_TRANS, REF_XFER, SEED_XFER, SUB_LEN, SUB_OFF};
use pv_tests::guest_abi::grant_table::{
    GTF_accept_transfer, GTF_permit_access, GTF_reading, GTF_readonly, GTF_sub_page,
    GTF_transfer_committed, GTF_transfer_completed, GTF_transitive, GTF_writing, GntSt,
};
use pv_tests::guest_abi::sched::ShutdownReason;
use pv_tests::guest_abi::xen::{DomId, Errno, UVMF_INVLPG};
use pv_tests::ops::XenError;
use pv_tests::pt::{InitialMapping, PTE_ACCESSED, PTE_P, PTE_USER, maddr};
use pv_tests::{StartInfo, check_eq, fail, println, shinfo};

pv_tests::test_kernel!(name: "grant2", main: test_main);

/// How long each wait for dom0 may take (system time).
const TIMEOUT_NS: u64 = 120_000_000_000;

/// A page-aligned `.bss` page.
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 4096]>);

// SAFETY: the pages are only accessed through volatile reads and writes and
// atomics; this kernel has one vCPU.
unsafe impl Sync for Page {}

impl Page {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; 4096]))
    }

    fn ptr(&self) -> *mut u8 {
        self.0.get().cast()
    }

    fn va(&self) -> u64 {
        self.ptr().addr() as u64
    }

    fn read_u64(&self, off: usize) -> u64 {
        // SAFETY: callers pass 8-aligned offsets below 4096: inside the page.
        unsafe { self.ptr().wrapping_add(off).cast::<u64>().read_volatile() }
    }

    fn write_u64(&self, off: usize, v: u64) {
        // SAFETY: as in `read_u64`.
        unsafe { self.ptr().wrapping_add(off).cast::<u64>().write_volatile(v) }
    }

    fn read_u16(&self, off: usize) -> u16 {
        // SAFETY: callers pass 2-aligned offsets below 4096.
        unsafe { self.ptr().wrapping_add(off).cast::<u16>().read_volatile() }
    }
}

/// Where the grant-table frame is mapped.
static TABLE: Page = Page::new();
/// Where the status frame is mapped (read-only).
static STATUS: Page = Page::new();
/// Page A: granted writable as ref 8.
static PAGE_A: Page = Page::new();
/// Page B: its sub-page granted read-only as ref 9.
static PAGE_B: Page = Page::new();
/// Where the page dom0 transfers is mapped.
static XFER: Page = Page::new();

/// The flags of v2 entry `gref` (< 256), as an atomic.
fn flags(gref: u32) -> &'static AtomicU16 {
    let p = TABLE.ptr().wrapping_add(((gref % 256) as usize).wrapping_mul(16)).cast::<u16>();
    // SAFETY: the entry lies in the mapped table page, 2-aligned; the
    // hypervisor does not write v2 flags.
    unsafe { AtomicU16::from_ptr(p) }
}

/// Publishes v2 entry `gref`: frame, range and `domid`, then `flags`.
fn grant_v2(gref: u32, domid: DomId, frame: u64, range: Option<(u16, u16)>, gtf: u16) {
    let e = TABLE.ptr().wrapping_add(((gref % 256) as usize).wrapping_mul(16));
    let (off, len) = range.unwrap_or((0, 0));
    // SAFETY: the 16-byte entry lies in the mapped table page: domid at +2,
    // page_off at +4, length at +6, frame at +8, all aligned.
    unsafe {
        e.wrapping_add(8).cast::<u64>().write_volatile(frame);
        e.wrapping_add(4).cast::<u16>().write_volatile(off);
        e.wrapping_add(6).cast::<u16>().write_volatile(len);
        e.wrapping_add(2).cast::<u16>().write_volatile(domid.0);
    }
    fence(Ordering::SeqCst);
    flags(gref).store(gtf, Ordering::SeqCst);
}

/// Offset of v2 entry `gref`'s (< 256) `frame` in the table page.
const fn frame_off(gref: u32) -> usize {
    ((gref % 256) as usize).wrapping_mul(16).wrapping_add(8)
}

/// The status bits of entry `gref` in the mapped status frame.
fn status(gref: u32) -> u16 {
    STATUS.read_u16(((gref % 2048) as usize).wrapping_mul(2))
}

/// Waits (yielding) until the word at `off` of page A is `want`.
fn wait_for(off: usize, want: u64, what: &str) -> bool {
    let deadline = shinfo::now().unwrap_or(0).saturating_add(TIMEOUT_NS);
    while PAGE_A.read_u64(off) != want {
        if shinfo::now().unwrap_or(u64::MAX) > deadline {
            fail(format_args!("no {what} from dom0 within {} s", TIMEOUT_NS / 1_000_000_000));
            return false;
        }
        let _ = pv_tests::ops::sched_yield();
    }
    true
}

fn fill(page: &Page, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: `i < len <= 4096`: inside the page.
        unsafe { page.ptr().wrapping_add(i).write_volatile(grant::pattern(seed, i)) };
    }
}

fn errno(r: Result<(), XenError>) -> Option<Errno> {
    r.err().and_then(XenError::errno)
}

fn test_main(si: &StartInfo) {
    let ok = run(si);
    if !ok {
        println!("grant2: a check failed: shutting down with SHUTDOWN_crash");
        let _ = pv_tests::ops::sched_shutdown(ShutdownReason::Crash);
    }
}

/// The page dom0 transferred into ref 10 (`pfn` asked for): the entry,
/// the M2P, the contents. Whether every check passed.
fn received(pfn: u64) -> bool {
    let done = GTF_accept_transfer | GTF_transfer_committed | GTF_transfer_completed;
    let mut ok = check_eq(flags(REF_XFER).load(Ordering::SeqCst), done, "ref 10 completed");
    let mfn = TABLE.read_u64(frame_off(REF_XFER));
    println!("grant2: received mfn {mfn:#x}");
    ok &= check_eq(pv_tests::pt::m2p(mfn).ok(), Some(pfn), "the M2P names the PFN asked for");
    // SAFETY: XFER is this kernel's own page, used for nothing else; the
    // transferred frame is this domain's now.
    let mapped = unsafe {
        shinfo::update_va_mapping(XFER.va(), maddr(mfn) | pv_tests::pt::DATA_RW, UVMF_INVLPG)
    };
    ok &= check_eq(mapped.is_ok(), true, "the transferred frame maps (it is ours)");
    if mapped.is_ok() {
        // SAFETY: XFER maps the 4096-byte frame now.
        let bad = unsafe { grant::first_mismatch(XFER.ptr(), 4096, SEED_XFER) };
        ok &= check_eq(bad, None, "the transferred page's contents");
    }
    ok
}

/// The checks; whether every one passed.
fn run(si: &StartInfo) -> bool {
    if let Err(e) = shinfo::map(si) {
        fail(format_args!("mapping shared_info: {e}"));
        return false;
    }
    let Some(layout) = InitialMapping::new(si) else {
        fail("cannot read the initial mapping's layout");
        return false;
    };
    let mut frames = [0u64; 1];
    if !check_eq(grant::setup_table(DomId::SELF, &mut frames), Ok(Status(0)), "setup_table") {
        return false;
    }
    // SAFETY: TABLE is this kernel's own page, used for nothing else.
    let mapped = unsafe {
        shinfo::update_va_mapping(TABLE.va(), maddr(frames[0]) | pv_tests::pt::DATA_RW, UVMF_INVLPG)
    };
    if let Err(e) = mapped {
        fail(format_args!("mapping the grant-table frame: {e}"));
        return false;
    }
    let mut ok = true;
    let (r, v) = grant_v2::set_version(3);
    ok &= check_eq((errno(r), v), (Some(Errno::EINVAL), 1), "set_version(3)");
    let (r, v) = grant_v2::set_version(2);
    ok &= check_eq((r.is_ok(), v), (true, 2), "set_version(2)");
    ok &= check_eq(grant_v2::get_version(DomId::SELF).ok(), Some(2), "get_version");
    let mut two = [0u64; 2];
    let st = grant_v2::get_status_frames(DomId::SELF, &mut two).ok();
    ok &= check_eq(st, Some(Status(GntSt::GeneralError.raw())), "get_status_frames of 2");
    let mut one = [0u64; 1];
    let st = grant_v2::get_status_frames(DomId::SELF, &mut one).ok();
    if !check_eq(st, Some(Status(0)), "get_status_frames of 1") {
        return false;
    }
    println!("grant2: status frame mfn {:#x}", one[0]);
    let ro = PTE_P | PTE_USER | PTE_ACCESSED;
    // SAFETY: STATUS is this kernel's own page, used for nothing else.
    if let Err(e) = unsafe { shinfo::update_va_mapping(STATUS.va(), maddr(one[0]) | ro, 0) } {
        fail(format_args!("mapping the status frame read-only: {e}"));
        return false;
    }
    ok &= check_eq(status(REF_RW), 0, "a fresh status entry 8");

    let (Some(mfn_a), Some(mfn_b)) = (layout.va_to_mfn(PAGE_A.va()), layout.va_to_mfn(PAGE_B.va()))
    else {
        fail("no MFN for the granted pages");
        return false;
    };
    fill(&PAGE_A, PATTERN_LEN, SEED_A);
    fill(&PAGE_B, 4096, SEED_B);
    for off in [REPLY_OFF, ANSWER_OFF, DONE_OFF] {
        PAGE_A.write_u64(off, 0);
    }
    let d0 = DomId(0);
    // dom0's own grant 12, handed back to dom0 (trans_domid 0).
    grant_v2(REF_TRANS, d0, u64::from(D0_REF), Some((0, 0)), GTF_transitive);
    grant_v2(REF_RW, d0, mfn_a, None, GTF_permit_access);
    let sub = GTF_permit_access | GTF_sub_page | GTF_readonly;
    grant_v2(REF_SUB, d0, mfn_b, Some((SUB_OFF, SUB_LEN)), sub);
    // The PFN right after this domain's memory, where a balloon driver
    // would put a page it is given.
    let pfn = si.nr_pages;
    grant_v2(REF_XFER, d0, pfn, None, GTF_accept_transfer);
    println!("grant2: v2 refs {REF_RW} (full page, rw) and {REF_SUB} (sub-page, ro) granted to d0");

    if !wait_for(REPLY_OFF, REPLY, "reply") {
        return false;
    }
    let both = GTF_reading | GTF_writing;
    ok &= check_eq(status(REF_RW), both, "status entry 8 while dom0 maps it");
    let f = flags(REF_RW).load(Ordering::SeqCst);
    ok &= check_eq(f, GTF_permit_access, "entry 8's own flags while mapped (no status bits)");
    let (r, v) = grant_v2::set_version(1);
    ok &= check_eq((errno(r), v), (Some(Errno::EBUSY), 2), "set_version(1) with a grant mapped");
    // SAFETY: PAGE_A is mapped and 4096 bytes long.
    let bad = unsafe { grant::first_mismatch(PAGE_A.ptr(), PATTERN_LEN, SEED_A) };
    ok &= check_eq(bad, None, "page A's pattern after dom0's write");
    PAGE_A.write_u64(ANSWER_OFF, ANSWER);

    if !wait_for(DONE_OFF, DONE, "done") {
        return false;
    }
    println!("grant2: dom0 is done");
    ok &= received(pfn);
    ok &= check_eq(grant_v2::swap(REF_RW, REF_SUB).ok(), Some(Status(0)), "swap refs 8 and 9");
    let f8 = flags(REF_RW).load(Ordering::SeqCst);
    ok &= check_eq(f8, sub, "entry 8 holds the sub-page grant after the swap");
    ok &= check_eq(TABLE.read_u64(frame_off(REF_RW)), mfn_b, "and its frame");
    ok &= check_eq((status(REF_RW), status(REF_SUB)), (0, 0), "status entries 8 and 9 after");
    let (r, v) = grant_v2::set_version(1);
    let busy = (Some(Errno::EBUSY), 2);
    ok &= check_eq((errno(r), v), busy, "set_version(1) with the status frame mapped");
    // SAFETY: STATUS maps nothing of this kernel's any more; it stays unused.
    if let Err(e) = unsafe { shinfo::update_va_mapping(STATUS.va(), 0, UVMF_INVLPG) } {
        fail(format_args!("unmapping the status frame: {e}"));
        return false;
    }
    let (r, v) = grant_v2::set_version(1);
    ok &= check_eq((r.is_ok(), v), (true, 1), "set_version(1) once the status frame is unmapped");
    ok &= check_eq(grant_v2::get_version(DomId::SELF).ok(), Some(1), "get_version after");
    let st = grant_v2::get_status_frames(DomId::SELF, &mut one).ok();
    ok &= check_eq(st, Some(Status(GntSt::GeneralError.raw())), "get_status_frames of 1 (v1)");
    ok &= check_eq((TABLE.read_u64(64), TABLE.read_u64(72)), (0, 0), "entries 8 and 9 cleared");
    ok
}
