// SPDX-License-Identifier: GPL-2.0-only
//! `pv-grant`: a domU that grants dom0 two of its pages, for the
//! toolstack's `mode=grant` (the protocol is in [`pv_tests::grant`]).
//!
//! It sets up its grant table (`GNTTABOP_setup_table` for `DOMID_SELF`,
//! one frame), maps the frame it gets back over a `.bss` page with
//! `update_va_mapping` (a PV guest maps its table like any frame it owns),
//! fills page A and page B with their patterns and publishes two v1
//! entries for domain 0: ref 8 writable (page A) and ref 9 read-only (page
//! B), `domid` and `frame` first, `flags` last. It prints `grant: refs 8
//! (rw) and 9 (ro) granted to d0`.
//!
//! Then it polls page A (yielding, bounded by [`TIMEOUT_NS`] of pvclock
//! time) for dom0's reply, written through dom0's writable mapping; while
//! dom0 holds that mapping the hypervisor must show `GTF_reading |
//! GTF_writing` in entry 8. It checks that the pattern is intact, answers,
//! and waits for dom0's "done" (written by `GNTTABOP_copy` after dom0
//! unmapped everything); then `GTF_reading`/`GTF_writing` must be clear in
//! both entries, and it revokes the grants as Linux's
//! `gnttab_end_foreign_access_ref` does (`cmpxchg` of the flags to 0,
//! refused while the grant is in use) and shuts down. With `linger` on its
//! command line it shuts down right after answering, grants still mapped
//! (the toolstack's `mode=grant-linger`).
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU16, Ordering, fence};

use pv_tests::grant::{
    self, ANSWER, ANSWER_OFF, DONE, DONE_OFF, PATTERN_LEN, REF_RO, REF_RW, REPLY, REPLY_OFF,
    SEED_A, SEED_B,
};
use pv_tests::guest_abi::grant_table::{
    GTF_permit_access, GTF_reading, GTF_readonly, GTF_writing, GntSt,
};
use pv_tests::guest_abi::xen::{DomId, UVMF_INVLPG};
use pv_tests::pt::{DATA_RW, InitialMapping, maddr};
use pv_tests::{StartInfo, check, check_eq, fail, println, shinfo};

pv_tests::test_kernel!(name: "grant", main: test_main);

/// How long each wait for dom0 may take (system time).
const TIMEOUT_NS: u64 = 120_000_000_000;

/// A page-aligned `.bss` page.
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 4096]>);

// SAFETY: the pages are only accessed through volatile reads and writes of
// single bytes, words and the grant entries' flags (atomics); this kernel
// has one vCPU.
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
}

/// Where the grant-table frame is mapped.
static TABLE: Page = Page::new();
/// Page A: granted writable as ref 8.
static PAGE_A: Page = Page::new();
/// Page B: granted read-only as ref 9.
static PAGE_B: Page = Page::new();

/// Entry `gref` (modulo the 512 of the one mapped frame) of the table.
fn entry(gref: u32) -> *mut u8 {
    TABLE.ptr().wrapping_add(((gref % 512) as usize).wrapping_mul(8))
}

/// The flags of entry `gref` in the mapped table, as an atomic.
fn flags(gref: u32) -> &'static AtomicU16 {
    let p = entry(gref).cast::<u16>();
    // SAFETY: entry `gref` (< 512) lies in the mapped table page, 2-aligned;
    // the hypervisor changes it only with locked instructions, as the
    // atomic does.
    unsafe { AtomicU16::from_ptr(p) }
}

/// Publishes entry `gref`: `domid`, `frame`, then (after a barrier) `flags`.
fn grant_access(gref: u32, domid: DomId, frame: u64, gtf: u16) {
    let e = entry(gref);
    let frame = u32::try_from(frame).unwrap_or(0);
    // SAFETY: the entry lies in the mapped table page; domid at +2, frame
    // at +4, aligned.
    unsafe {
        e.wrapping_add(2).cast::<u16>().write_volatile(domid.0);
        e.wrapping_add(4).cast::<u32>().write_volatile(frame);
    }
    fence(Ordering::SeqCst);
    flags(gref).store(gtf, Ordering::SeqCst);
}

/// Linux's `gnttab_end_foreign_access_ref_v1`: clears the flags unless
/// the grant is in use. Whether it was revoked.
fn end_access(gref: u32) -> bool {
    let f = flags(gref);
    let mut cur = f.load(Ordering::SeqCst);
    loop {
        if cur & (GTF_reading | GTF_writing) != 0 {
            return false;
        }
        match f.compare_exchange(cur, 0, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(now) => cur = now,
        }
    }
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

fn test_main(si: &StartInfo) {
    if let Err(e) = shinfo::map(si) {
        fail(format_args!("mapping shared_info: {e}"));
        return;
    }
    let Some(layout) = InitialMapping::new(si) else {
        fail("cannot read the initial mapping's layout");
        return;
    };
    let mut frames = [0u64; 1];
    match grant::setup_table(DomId::SELF, &mut frames) {
        Ok(st) if st == GntSt::Okay => {}
        other => {
            fail(format_args!("GNTTABOP_setup_table(DOMID_SELF, 1): {other:?}"));
            return;
        }
    }
    println!("grant: table frame mfn {:#x}", frames[0]);
    // SAFETY: TABLE is this kernel's own page, used for nothing else; its
    // old frame is simply no longer mapped.
    let mapped =
        unsafe { shinfo::update_va_mapping(TABLE.va(), maddr(frames[0]) | DATA_RW, UVMF_INVLPG) };
    if let Err(e) = mapped {
        fail(format_args!("mapping the grant-table frame: {e}"));
        return;
    }
    check_eq(flags(REF_RW).load(Ordering::SeqCst), 0, "a fresh table's entry 8 flags");

    let (Some(mfn_a), Some(mfn_b)) = (layout.va_to_mfn(PAGE_A.va()), layout.va_to_mfn(PAGE_B.va()))
    else {
        fail("no MFN for the granted pages");
        return;
    };
    fill(&PAGE_A, PATTERN_LEN, SEED_A);
    fill(&PAGE_B, 4096, SEED_B);
    for off in [REPLY_OFF, ANSWER_OFF, DONE_OFF] {
        PAGE_A.write_u64(off, 0);
    }
    let d0 = DomId(0);
    grant_access(REF_RW, d0, mfn_a, GTF_permit_access);
    grant_access(REF_RO, d0, mfn_b, GTF_permit_access | GTF_readonly);
    println!(
        "grant: refs {REF_RW} (rw, mfn {mfn_a:#x}) and {REF_RO} (ro, mfn {mfn_b:#x}) granted to d0"
    );

    if !wait_for(REPLY_OFF, REPLY, "reply") {
        return;
    }
    let in_use = flags(REF_RW).load(Ordering::SeqCst);
    let both = GTF_reading | GTF_writing;
    check(
        in_use & both == both,
        format_args!("entry 8 shows GTF_reading|GTF_writing while dom0 maps it ({in_use:#x})"),
    );
    check(!end_access(REF_RW), "a grant in use cannot be revoked");
    // SAFETY: PAGE_A is mapped and 4096 bytes long.
    let bad = unsafe { grant::first_mismatch(PAGE_A.ptr(), PATTERN_LEN, SEED_A) };
    check_eq(bad, None, "page A's pattern after dom0's write");
    println!("grant: dom0's reply {REPLY:#x} arrived");
    PAGE_A.write_u64(ANSWER_OFF, ANSWER);
    let line = core::str::from_utf8(si.cmd_line_bytes()).unwrap_or("");
    if line.split_whitespace().any(|w| w == "linger") {
        println!("grant: linger: shutting down with the grants mapped");
        return;
    }

    if !wait_for(DONE_OFF, DONE, "done") {
        return;
    }
    println!("grant: dom0 is done");
    for gref in [REF_RW, REF_RO] {
        let f = flags(gref).load(Ordering::SeqCst);
        check(
            f & (GTF_reading | GTF_writing) == 0,
            format_args!("entry {gref}: GTF_reading/GTF_writing clear after dom0's unmap ({f:#x})"),
        );
    }
    check(end_access(REF_RW) && end_access(REF_RO), "both grants revoked");
    println!("grant: grants revoked");
}
