// SPDX-License-Identifier: GPL-2.0-only
//! Grant tables from dom0's side, chosen on dom0's command line with
//! `mode=grant` (checks) or `mode=grant-bench` (checks, then the figures
//! of `qemu/bench`). The first domU image must be `pv-grant`; the page
//! protocol between the two is [`pv_tests::grant`].
//!
//! dom0 builds and unpauses the domU, then, as a backend does:
//!
//! 1. maps ref 8 writable with `GNTTABOP_map_grant_ref` (`GNTMAP_host_map`
//!    at a page-aligned address of its own `.bss`, [`Window`], whose L1
//!    entry exists and was cleared first, as Linux's gntdev maps over
//!    empty PTEs), retrying (yielding) until the domU has published the
//!    grant; checks page A's pattern through the mapping, writes the reply
//!    and waits for the domU's answer; unmaps with the handle;
//! 2. maps ref 9 read-only by PTE machine address (`GNTMAP_contains_pte`),
//!    checks page B, unmaps the same way;
//! 3. `GNTTABOP_copy` of both refs into its own frames (`DOMID_SELF` by
//!    MFN) and checks the bytes;
//! 4. the hostile cases, each with Xen 4.17's status: a ref in the table
//!    but not granted (`GNTST_general_error`, `_set_status_v1`'s "Bad
//!    flags"), a ref beyond the table (`GNTST_bad_gntref`), the read-only
//!    ref mapped writable (`GNTST_general_error`, "Attempt to write-pin a
//!    r/o grant entry"), unmapping a handle that is free or beyond the
//!    maptrack limit (`GNTST_bad_handle`), copies running past the page on
//!    either side (`GNTST_bad_copy_arg`, "copy beyond page area");
//! 5. maps ref 8 twice in one batch (writable by address, read-only by
//!    PTE address at a second window page): a write through one shows
//!    through the other; unmaps both in one batch;
//! 6. with `grant-bench`, [`bench`];
//! 7. writes "done" into page A with `GNTTABOP_copy` (dest by grant) and
//!    waits for the domU's shutdown as the normal mode does.
//!
//! It prints `grant: ...` progress lines and `ok:`/`FAIL:` per check.
//! `mode=grant-linger` runs [`linger`] instead of steps 2 to 7.

use core::cell::UnsafeCell;

use pv_tests::grant::{
    self, ANSWER, ANSWER_OFF, DONE, DONE_OFF, PATTERN_LEN, REF_RO, REF_RW, REF_UNGRANTED, REPLY,
    REPLY_OFF, SEED_A, SEED_B, Status,
};
use pv_tests::guest_abi::grant_table::{
    GNTCOPY_dest_gref, GNTCOPY_source_gref, GNTMAP_contains_pte, GNTMAP_host_map, GNTMAP_readonly,
    GntSt, GnttabCopy, GnttabCopyPtr, GnttabMapGrantRef, GnttabUnmapGrantRef, GrantHandle,
};
use pv_tests::guest_abi::xen::{DomId, EvtchnPort, GrantRef, UVMF_INVLPG};
use pv_tests::pt::{InitialMapping, maddr};
use pv_tests::{StartInfo, check, check_eq, fail, println, shinfo};
use xen_domain_builder::DomCtl;

use super::lifecycle::build;
use super::{Hypervisor, Image, Running, wait};

#[path = "grant_bench.rs"]
mod bench;
#[path = "grant_linger.rs"]
mod linger;

/// How long dom0 waits for the domU at each step (system time).
const TIMEOUT_NS: u64 = 60_000_000_000;

/// dom0 buffers for copies (and the benchmark's batch of 64).
pub const BUFS: usize = 64;

/// The grant mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The checks.
    Check,
    /// The checks, then the benchmark figures.
    Bench,
    /// The domU shuts down and is destroyed while dom0 still maps its
    /// grant ([`linger`]).
    Linger,
}

impl Mode {
    /// The grant mode dom0's command line asks for, if any.
    pub fn from_cmdline(si: &StartInfo) -> Option<Self> {
        match shinfo::cmdline_value(si.cmd_line_bytes(), "mode")? {
            "grant" => Some(Self::Check),
            "grant-bench" => Some(Self::Bench),
            "grant-linger" => Some(Self::Linger),
            _ => None,
        }
    }
}

/// Page-aligned `.bss` pages.
#[repr(C, align(4096))]
struct Pages<const N: usize>(UnsafeCell<[[u8; 4096]; N]>);

// SAFETY: dom0's toolstack runs on one vCPU; the pages are only accessed
// through raw pointers, volatile where another domain writes.
unsafe impl<const N: usize> Sync for Pages<N> {}

/// The page whose PTE grant mappings go into.
static WINDOW: Pages<2> = Pages(UnsafeCell::new([[0; 4096]; 2]));
/// Destination frames of copies.
static BUF: Pages<BUFS> = Pages(UnsafeCell::new([[0; 4096]; BUFS]));

/// Addresses dom0 maps grants at and copies into.
pub struct Window {
    /// Linear address of the window page.
    pub va: u64,
    /// Machine address of its L1 entry.
    pub pte: u64,
    /// A second window page right after it, and its L1 entry's address.
    pub second: (u64, u64),
    /// MFNs of [`BUF`]'s pages.
    buf_mfns: [u64; BUFS],
    /// Machine address of the L1 entry of the last buffer page (the
    /// benchmark flips its RW bit) and the entry's value.
    pub scratch_pte: (u64, u64),
}

/// Machine address of the L1 entry mapping `va` in the initial mapping.
fn l1e_of(layout: &InitialMapping, va: u64) -> Option<(u64, u64)> {
    let l3 = layout.next(layout.l4_mfn, va, 39)?;
    let l2 = layout.next(l3, va, 30)?;
    let l1 = layout.next(l2, va, 21)?;
    let index = (va >> 12) & 511;
    Some((maddr(l1).checked_add(index.checked_mul(8)?)?, layout.entry(l1, index)?))
}

impl Window {
    fn new(si: &StartInfo) -> Option<Self> {
        let layout = InitialMapping::new(si)?;
        let va = WINDOW.0.get().addr() as u64;
        let (pte, _) = l1e_of(&layout, va)?;
        let va2 = Self::page_va(va, 1);
        let (pte2, _) = l1e_of(&layout, va2)?;
        let base = BUF.0.get().addr() as u64;
        let mut buf_mfns = [0u64; BUFS];
        for (i, m) in buf_mfns.iter_mut().enumerate() {
            *m = layout.va_to_mfn(Self::page_va(base, i))?;
        }
        let scratch_pte = l1e_of(&layout, Self::page_va(base, BUFS.saturating_sub(1)))?;
        Some(Self { va, pte, second: (va2, pte2), buf_mfns, scratch_pte })
    }

    /// Address of page `i` from `base`.
    fn page_va(base: u64, i: usize) -> u64 {
        base.wrapping_add((i as u64).wrapping_mul(4096))
    }

    /// MFN of buffer page `i` (clamped to the last).
    pub fn buf_mfn(&self, i: usize) -> u64 {
        self.buf_mfns.get(i.min(BUFS.saturating_sub(1))).copied().unwrap_or(0)
    }

    /// Byte `i` of the window page (`i >= 4096`: of the second one).
    fn byte(&self, i: usize) -> *mut u8 {
        WINDOW.0.get().cast::<u8>().wrapping_add(i.min(8191))
    }

    /// Buffer page `n`.
    pub fn buf(n: usize) -> *mut u8 {
        BUF.0.get().cast::<u8>().wrapping_add(n.min(BUFS.saturating_sub(1)).wrapping_mul(4096))
    }
}

/// A map operation of `gref` of `dom` at `host_addr`.
pub fn map_op(dom: DomId, gref: u32, host_addr: u64, flags: u32) -> GnttabMapGrantRef {
    GnttabMapGrantRef { host_addr, flags, gref: GrantRef(gref), dom, ..Default::default() }
}

/// An unmap operation.
pub fn unmap_op(host_addr: u64, handle: GrantHandle) -> GnttabUnmapGrantRef {
    GnttabUnmapGrantRef { host_addr, handle, ..Default::default() }
}

/// A copy of `len` bytes from `dom`'s `gref` at `src_off` into dom0's
/// frame `mfn` at `dst_off`.
pub fn copy_from_op(
    dom: DomId,
    gref: u32,
    src_off: u16,
    mfn: u64,
    dst_off: u16,
    len: u16,
) -> GnttabCopy {
    GnttabCopy {
        source: GnttabCopyPtr { u: u64::from(gref), domid: dom, offset: src_off, pad0: 0 },
        dest: GnttabCopyPtr { u: mfn, domid: DomId::SELF, offset: dst_off, pad0: 0 },
        len,
        flags: GNTCOPY_source_gref,
        ..Default::default()
    }
}

/// One map; its status and handle (`Err` for a failed hypercall).
fn map1(op: GnttabMapGrantRef) -> (Status, GrantHandle) {
    let mut ops = [op];
    match grant::map(&mut ops) {
        Ok(()) => (Status(ops[0].status), ops[0].handle),
        Err(e) => {
            fail(format_args!("GNTTABOP_map_grant_ref: {e}"));
            (Status(i16::MIN), 0)
        }
    }
}

/// One unmap's status.
fn unmap1(op: GnttabUnmapGrantRef) -> Status {
    let mut ops = [op];
    match grant::unmap(&mut ops) {
        Ok(()) => Status(ops[0].status),
        Err(e) => {
            fail(format_args!("GNTTABOP_unmap_grant_ref: {e}"));
            Status(i16::MIN)
        }
    }
}

/// One copy's status.
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

/// System time (ns).
fn now() -> u64 {
    shinfo::now().unwrap_or(0)
}

/// Runs the grant mode with the first domU image (`pv-grant`).
pub fn run(
    mode: Mode,
    si: &StartInfo,
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    images: &[Image<'_>],
    mem: u64,
) {
    println!("toolstack mode: grant ({mode:?})");
    let Some(w) = Window::new(si) else {
        fail("grant: cannot find the window's L1 entry or the buffers' frames");
        return;
    };
    let Some(image) = images.first() else {
        fail("grant: no domU image");
        return;
    };
    let free_before = super::physinfo().map(|p| p.free_pages);
    let Some(d) = build(hv, image, mem) else { return };
    println!("domU d{}: domU-{}.kernel, {mem} MiB", d.0, image.n);
    // The windows start empty, as gntdev's PTEs do (no stale translation).
    for va in [w.va, w.second.0] {
        // SAFETY: the window pages are this module's, holding nothing.
        if let Err(e) = unsafe { shinfo::update_va_mapping(va, 0, UVMF_INVLPG) } {
            fail(format_args!("grant: clearing the window at {va:#x}: {e}"));
        }
    }
    if let Err(e) = hv.unpause(d) {
        fail(format_args!("domU d{}: unpause: {e}", d.0));
    }
    if mode == Mode::Linger {
        linger::run(&w, d, hv, exc, free_before);
        return;
    }
    let mut running = alloc::vec![Running { domid: d, n: image.n }];
    if exchange(&w, d) {
        read_only_by_pte(&w, d);
        copies(&w, d);
        hostile(&w, d);
        two_mappings(&w, d);
        if mode == Mode::Bench {
            bench::run(&w, d);
        }
        let done = DONE.to_le_bytes();
        let src = Window::buf(1);
        // SAFETY: buffer page 1 is dom0's own, 8 bytes written.
        unsafe { core::ptr::copy_nonoverlapping(done.as_ptr(), src, 8) };
        let mut op = copy_from_op(DomId::SELF, 0, 0, 0, 0, 8);
        op.source = GnttabCopyPtr { u: w.buf_mfn(1), domid: DomId::SELF, offset: 0, pad0: 0 };
        op.dest = GnttabCopyPtr {
            u: u64::from(REF_RW),
            domid: d,
            offset: u16::try_from(DONE_OFF).unwrap_or(0),
            pad0: 0,
        };
        op.flags = GNTCOPY_dest_gref;
        check_eq(copy1(op), Status(0), "GNTTABOP_copy of \"done\" into ref 8 (dest by grant)");
    }
    wait(hv, exc, &mut running);
    check(running.is_empty(), "the granting domU finished");
}

/// Step 1: map ref 8 writable, check, reply, await the answer, unmap.
/// Whether the domU took part.
fn exchange(w: &Window, d: DomId) -> bool {
    let Some(handle) = map_and_reply(w, d) else { return false };
    check_eq(unmap1(unmap_op(w.va, handle)), Status(0), "unmap ref 8 with its handle");
    // The handle is free now: a second unmap is a bad handle.
    let again = unmap1(unmap_op(w.va, handle));
    check_eq(again, Status(GntSt::BadHandle.raw()), "unmap of a freed handle");
    true
}

/// Maps ref 8 writable at the window once the domU granted it, checks
/// the pattern, writes the reply and waits for the answer; the handle.
fn map_and_reply(w: &Window, d: DomId) -> Option<GrantHandle> {
    let deadline = now().saturating_add(TIMEOUT_NS);
    let mut tries = 0u32;
    let (st, handle) = loop {
        tries = tries.saturating_add(1);
        let (st, h) = map1(map_op(d, REF_RW, w.va, GNTMAP_host_map));
        if st == GntSt::Okay || now() > deadline {
            break (st, h);
        }
        let _ = pv_tests::ops::sched_yield();
    };
    if !check_eq(st, Status(0), format_args!("map d{} ref {REF_RW} writable by address", d.0)) {
        return None;
    }
    println!("grant: mapped d{} ref {REF_RW} at {:#x}, handle {handle} ({tries} tries)", d.0, w.va);
    // SAFETY: the window maps the granted page (4096 bytes) now.
    let bad = unsafe { grant::first_mismatch(w.byte(0), PATTERN_LEN, SEED_A) };
    check_eq(bad, None, "page A's pattern through the grant mapping");
    // SAFETY: as above; an aligned word inside the page.
    unsafe { w.byte(REPLY_OFF).cast::<u64>().write_volatile(REPLY) };
    println!("grant: reply written");
    let deadline = now().saturating_add(TIMEOUT_NS);
    // SAFETY: as above.
    let answer = || unsafe { w.byte(ANSWER_OFF).cast::<u64>().read_volatile() };
    while answer() != ANSWER && now() < deadline {
        let _ = pv_tests::ops::sched_yield();
    }
    let got = answer();
    check(got == ANSWER, format_args!("the domU's answer {got:#x} through the mapping"));
    Some(handle)
}

/// Step 2: ref 9 read-only by PTE address.
fn read_only_by_pte(w: &Window, d: DomId) {
    let flags = GNTMAP_host_map | GNTMAP_readonly | GNTMAP_contains_pte;
    let (st, handle) = map1(map_op(d, REF_RO, w.pte, flags));
    if !check_eq(st, Status(0), "map ref 9 read-only by PTE address (GNTMAP_contains_pte)") {
        return;
    }
    // SAFETY: the window maps page B (read-only) now.
    let bad = unsafe { grant::first_mismatch(w.byte(0), 4096, SEED_B) };
    check_eq(bad, None, "page B's pattern through the read-only mapping");
    check_eq(unmap1(unmap_op(w.pte, handle)), Status(0), "unmap ref 9 by PTE address");
}

/// Step 3: copies of both refs into dom0's frames.
fn copies(w: &Window, d: DomId) {
    let st = copy1(copy_from_op(d, REF_RW, 0, w.buf_mfn(0), 0, 4096));
    check_eq(st, Status(0), "GNTTABOP_copy of ref 8 (4096 bytes) into a dom0 frame");
    // SAFETY: buffer page 0 is dom0's own.
    let bad = unsafe { grant::first_mismatch(Window::buf(0), PATTERN_LEN, SEED_A) };
    check_eq(bad, None, "page A's pattern in the copy");
    let word = |off: usize| {
        // SAFETY: an aligned word of buffer page 0.
        unsafe { Window::buf(0).wrapping_add(off).cast::<u64>().read_volatile() }
    };
    let (reply, answer) = (word(REPLY_OFF), word(ANSWER_OFF));
    check(
        (reply, answer) == (REPLY, ANSWER),
        format_args!("reply {reply:#x} and answer {answer:#x} in the copy"),
    );
    let st = copy1(copy_from_op(d, REF_RO, 100, w.buf_mfn(1), 200, 3896));
    check_eq(st, Status(0), "GNTTABOP_copy of read-only ref 9 at offsets 100 -> 200");
    let ok = (0..3896usize).all(|i| {
        // SAFETY: `200 + i < 4096`: inside buffer page 1.
        let b = unsafe { Window::buf(1).wrapping_add(i.wrapping_add(200)).read_volatile() };
        b == grant::pattern(SEED_B, i.wrapping_add(100))
    });
    check(ok, "page B's bytes 100.. at 200.. of the copy");
}

/// Step 4: the hostile cases with Xen 4.17's statuses.
fn hostile(w: &Window, d: DomId) {
    let general = Status(GntSt::GeneralError.raw());
    let (st, _) = map1(map_op(d, REF_UNGRANTED, w.va, GNTMAP_host_map));
    check_eq(st, general, "map of ref 10, never granted");
    let (st, _) = map1(map_op(d, 1 << 20, w.va, GNTMAP_host_map));
    check_eq(st, Status(GntSt::BadGntref.raw()), "map of ref 0x100000, beyond the table");
    let (st, _) = map1(map_op(d, REF_RO, w.va, GNTMAP_host_map));
    check_eq(st, general, "map of read-only ref 9 writable");
    let st = unmap1(unmap_op(w.va, 0x7fff_ffff));
    check_eq(st, Status(GntSt::BadHandle.raw()), "unmap of handle 0x7fffffff");
    let beyond = Status(GntSt::BadCopyArg.raw());
    let st = copy1(copy_from_op(d, REF_RW, 4000, w.buf_mfn(2), 0, 200));
    check_eq(st, beyond, "copy of 200 bytes from offset 4000 of ref 8");
    let st = copy1(copy_from_op(d, REF_RO, 0, w.buf_mfn(2), 3900, 200));
    check_eq(st, beyond, "copy of 200 bytes to offset 3900 of a dom0 frame");
    let st = copy1(copy_from_op(d, REF_UNGRANTED, 0, w.buf_mfn(2), 0, 8));
    check_eq(st, general, "copy from ref 10, never granted");
    // The hostile calls left nothing behind: ref 8 maps again.
    let (st, h) = map1(map_op(d, REF_RW, w.va, GNTMAP_host_map | GNTMAP_readonly));
    check_eq(st, Status(0), "ref 8 maps (read-only) after the refusals");
    if st == GntSt::Okay {
        check_eq(unmap1(unmap_op(w.va, h)), Status(0), "and unmaps");
    }
}

/// Step 5: ref 8 mapped twice at once (writable by address, read-only by
/// PTE address at the second window): one frame behind both, two handles,
/// both unmapped in one batch.
fn two_mappings(w: &Window, d: DomId) {
    let mut ops = [
        map_op(d, REF_RW, w.va, GNTMAP_host_map),
        map_op(d, REF_RW, w.second.1, GNTMAP_host_map | GNTMAP_readonly | GNTMAP_contains_pte),
    ];
    if grant::map(&mut ops).is_err() {
        fail("GNTTABOP_map_grant_ref of two entries");
        return;
    }
    let [rw, ro] = ops;
    let both = (Status(rw.status), Status(ro.status));
    if !check_eq(both, (Status(0), Status(0)), "ref 8 mapped twice in one batch") {
        return;
    }
    check(rw.handle != ro.handle, format_args!("two handles ({}, {})", rw.handle, ro.handle));
    const SCRATCH: usize = 3096;
    // SAFETY: both windows map page A now; an aligned word inside it.
    let seen = unsafe {
        w.byte(SCRATCH).cast::<u64>().write_volatile(0x1234_5678_9abc_def0);
        w.byte(4096 + SCRATCH).cast::<u64>().read_volatile()
    };
    check_eq(seen, 0x1234_5678_9abc_def0, "a write through one mapping, read through the other");
    let mut unmaps = [unmap_op(w.va, rw.handle), unmap_op(w.second.1, ro.handle)];
    if grant::unmap(&mut unmaps).is_err() {
        fail("GNTTABOP_unmap_grant_ref of two entries");
        return;
    }
    let [a, b] = unmaps;
    check_eq((Status(a.status), Status(b.status)), (Status(0), Status(0)), "both unmapped");
}
