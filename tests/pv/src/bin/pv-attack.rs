// SPDX-License-Identifier: GPL-2.0-only
//! `pv-attack`: a domU that attacks another domU's grants and event
//! channels and checks that each attack gets Xen 4.17's exact `-errno` or
//! `GNTST_*` status; and, with `role=victim`, the domU it attacks.
//! Booted in pairs by `pv-toolstack mode=attack`.
//!
//! # The victim (`role=victim attacker=<X>`)
//!
//! Sets up its grant table (one frame, mapped over a `.bss` page) and
//! publishes, in this order: ref [`REF_REVOKED`] (granted to X, then
//! revoked at once), ref [`REF_DOM0`] (page C, granted to dom0 only),
//! ref [`REF_RO`] and refs [`REF_POOL`] (page B, read-only to X), and
//! last ref [`REF_RW`] (page A, writable to X); [`REF_UNGRANTED`] is never
//! granted. It counts its ports unbound for dom0 (the toolstack allocated
//! one for the attack, the builder two more), then waits for X's [`DONE`]
//! (written into page A by `GNTTABOP_copy`, dest by grant) and checks that
//! nothing was done behind its back: page A holds its pattern and X's
//! legitimate [`REPLY`], pages B and C their patterns, no entry is still
//! `GTF_reading`/`GTF_writing`, the revoked and ungranted entries are
//! still 0, the same ports are unbound for dom0 and none is bound to X.
//! It then revokes its grants.
//!
//! # The attacker (`role=attacker victim=<V> port=<P> maptrack=<frames>`)
//!
//! `P` is the victim's port the toolstack allocated for dom0;
//! `maptrack` the `max_maptrack_frames` the toolstack gave X. Once ref 8
//! maps (retrying until the victim published it), X writes [`REPLY`]
//! through the mapping and tries, each with the status Xen 4.17 gives
//! (`xen/common/grant_table.c`, `event_channel.c`):
//!
//! * mapping a ref never granted, granted to dom0, or granted and revoked:
//!   `GNTST_general_error` (`_set_status_v1`'s "Bad flags or dom"); a ref
//!   beyond the table: `GNTST_bad_gntref`; the read-only ref writable:
//!   `GNTST_general_error` ("Attempt to write-pin a r/o grant entry");
//! * mapping the read-only ref read-only (`GNTST_okay`): the data reads
//!   through, its PTE has no `_PAGE_RW`, and a write faults (`#PF`,
//!   error code present|write);
//! * unmapping: a handle beyond the maptrack table or free (handles index
//!   the caller's own table, so another domain's handle names nothing
//!   here): `GNTST_bad_handle`; a live handle at an address that does not
//!   map its frame: `GNTST_general_error` (and the mapping stays);
//! * copying: past the end of the page on either side:
//!   `GNTST_bad_copy_arg`; into the read-only grant, or from the ref
//!   granted to dom0: `GNTST_general_error`; from the victim's frame by
//!   frame number instead of by grant: `GNTST_permission_denied`;
//! * event channels: `EVTCHNOP_bind_interdomain` to `P` (unbound for
//!   dom0, not for X), to one of the victim's ports that does not exist:
//!   `-EINVAL`, to a domain that does not exist: `-ESRCH`; `EVTCHNOP_status`
//!   of `P`, `EVTCHNOP_alloc_unbound` in the victim, `EVTCHNOP_reset` of the
//!   victim: `-EPERM` (XSM's `XSM_TARGET`); `EVTCHNOP_close` and
//!   `EVTCHNOP_send` of `P`, which names no port of X's own: `-EINVAL`;
//! * exhausting maptrack: read-only device mappings of the pool refs until
//!   one fails: `GNTST_no_space` after exactly `maptrack * 256 - 1`
//!   mappings (Xen keeps one entry of its free list as the tail); every
//!   mapping then unmaps and ref 8 maps again.
//!
//! # The granter (`role=granter grantee=<F> secs=<S>`)
//!
//! A neighbour of the fuzzer in `pv-toolstack mode=fuzz`: it grants F
//! ref 8 (page A, writable), refs 9 and 12..=15 (page B, read-only) and
//! dom0 ref 10 (page C), then for `S` seconds of system time checks every
//! 20 ms that pages B and C still hold their patterns (F may map and copy
//! its grants, but must never write B or reach C), counting how often it
//! saw F using ref 8 or 9 (`GTF_reading`); at the end the never-granted
//! entries must still be 0. It shuts down with its grants possibly still
//! mapped by F (the hypervisor keeps the frames until F unmaps them or
//! is destroyed).
//!
//! All roles end with `Test result:` and power off when every check
//! passed, and **crash** (`SHUTDOWN_crash`) otherwise, so that dom0 sees
//! the outcome on real Xen too, where a domU's console output is dropped.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU16, Ordering, fence};

use pv_tests::evtchn;
use pv_tests::grant::{self, Status};
use pv_tests::guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBinding, EvtchnOp, EvtchnStatus,
};
use pv_tests::guest_abi::grant_table::{
    GNTCOPY_dest_gref, GNTCOPY_source_gref, GNTMAP_device_map, GNTMAP_host_map, GNTMAP_readonly,
    GTF_permit_access, GTF_reading, GTF_readonly, GTF_writing, GntSt, GnttabCopy, GnttabCopyPtr,
    GnttabMapGrantRef, GnttabUnmapGrantRef, GrantHandle,
};
use pv_tests::guest_abi::sched::ShutdownReason;
use pv_tests::guest_abi::xen::{DomId, Errno, EvtchnPort, GrantRef, UVMF_INVLPG};
use pv_tests::ops::XenError;
use pv_tests::pt::{self, DATA_RW, InitialMapping, maddr};
use pv_tests::report::Status as Verdict;
use pv_tests::shinfo::{self, cmdline_value};
use pv_tests::{StartInfo, check, check_eq, fail, fault, println};

pv_tests::test_kernel!(name: "attack", main: test_main);

/// Page A, writable to the attacker.
pub const REF_RW: u32 = 8;
/// Page B, read-only to the attacker.
pub const REF_RO: u32 = 9;
/// Page C, granted to dom0 only.
pub const REF_DOM0: u32 = 10;
/// Granted to the attacker and revoked at once.
pub const REF_REVOKED: u32 = 11;
/// More read-only grants of page B (the maptrack exhaustion's pins: each
/// entry's device-read pin counter holds 127).
pub const REF_POOL: core::ops::RangeInclusive<u32> = 12..=15;
/// Never granted.
pub const REF_UNGRANTED: u32 = 16;

/// Bytes of page A holding its pattern.
const PATTERN_LEN: usize = 3072;
/// Where the attacker writes [`REPLY`] through its writable mapping.
const REPLY_OFF: usize = 3072;
/// Where the attacker copies [`DONE`] (dest by grant).
const DONE_OFF: usize = 3088;
/// The attacker's legitimate write.
const REPLY: u64 = 0xa77a_c4e5_0000_0001;
/// The attacker is done and has unmapped everything.
const DONE: u64 = 0xa77a_c4e5_d0e5_d0e5;
/// Pattern seeds of pages A, B and C.
const SEED_A: u8 = 0x3c;
const SEED_B: u8 = 0x9e;
const SEED_C: u8 = 0x47;

/// How long either side waits for the other (system time).
const TIMEOUT_NS: u64 = 120_000_000_000;

/// `_PAGE_RW`.
const PAGE_RW: u64 = 1 << 1;

/// Ports of its own the victim looks at.
const SCAN_PORTS: u32 = 64;

/// Page-aligned `.bss` pages.
#[repr(C, align(4096))]
struct Pages<const N: usize>(UnsafeCell<[[u8; 4096]; N]>);

// SAFETY: one vCPU; the pages are only accessed through raw pointers,
// volatile where another domain writes them.
unsafe impl<const N: usize> Sync for Pages<N> {}

impl<const N: usize> Pages<N> {
    const fn new() -> Self {
        Self(UnsafeCell::new([[0; 4096]; N]))
    }

    /// Address of page `i` (clamped to the last).
    fn va(&self, i: usize) -> u64 {
        (self.0.get().addr() as u64).wrapping_add((i.min(N.saturating_sub(1)) as u64) << 12)
    }

    fn byte(&self, i: usize, off: usize) -> *mut u8 {
        core::ptr::with_exposed_provenance_mut::<u8>(
            usize::try_from(self.va(i)).unwrap_or(0).wrapping_add(off.min(4095)),
        )
    }

    fn read_u64(&self, i: usize, off: usize) -> u64 {
        // SAFETY: callers pass 8-aligned offsets below 4096: inside page
        // `i`, which is mapped (or a window the caller mapped).
        unsafe { self.byte(i, off).cast::<u64>().read_volatile() }
    }

    fn write_u64(&self, i: usize, off: usize, v: u64) {
        // SAFETY: as in `read_u64`.
        unsafe { self.byte(i, off).cast::<u64>().write_volatile(v) }
    }

    fn fill(&self, i: usize, len: usize, seed: u8) {
        for at in 0..len.min(4096) {
            // SAFETY: `at < 4096`: inside page `i`.
            unsafe { self.byte(i, at).write_volatile(grant::pattern(seed, at)) };
        }
    }

    /// Whether `len` bytes of page `i` hold the pattern of `seed`.
    fn holds(&self, i: usize, len: usize, seed: u8) -> bool {
        // SAFETY: page `i` is mapped and `len <= 4096` bytes long.
        unsafe { grant::first_mismatch(self.byte(i, 0), len.min(4096), seed) }.is_none()
    }
}

/// The victim's grant-table frame (mapped here) and pages A, B, C.
static TABLE: Pages<1> = Pages::new();
static VICTIM: Pages<3> = Pages::new();
/// The attacker's two mapping windows and its copy buffer.
static WINDOW: Pages<2> = Pages::new();
static BUF: Pages<1> = Pages::new();

fn now() -> u64 {
    shinfo::now().unwrap_or(0)
}

fn test_main(si: &StartInfo) {
    let line = si.cmd_line_bytes();
    let dom = |key: &str| cmdline_value(line, key).and_then(|v| v.parse::<u16>().ok()).map(DomId);
    if let Err(e) = fault::install() {
        fail(format_args!("set_trap_table: {e}"));
    } else if let Err(e) = shinfo::map(si) {
        fail(format_args!("mapping shared_info: {e}"));
    } else {
        fault::set_cr2_source(shinfo::address().wrapping_add(16));
        match (cmdline_value(line, "role"), dom("attacker"), dom("victim")) {
            (Some("victim"), Some(x), _) => victim(si, x),
            (Some("granter"), ..) => match dom("grantee") {
                Some(f) => {
                    let secs = cmdline_value(line, "secs").and_then(|v| v.parse().ok());
                    granter(si, f, secs.unwrap_or(60));
                }
                None => fail("role=granter needs grantee=<F>"),
            },
            (Some("attacker"), _, Some(v)) => {
                let port = cmdline_value(line, "port").and_then(|p| p.parse().ok());
                let frames = cmdline_value(line, "maptrack").and_then(|p| p.parse().ok());
                match (port, frames) {
                    (Some(p), Some(f)) => attacker(si, v, EvtchnPort(p), f),
                    _ => fail("role=attacker needs port=<P> and maptrack=<frames>"),
                }
            }
            _ => fail("needs role=victim attacker=<X> or role=attacker victim=<V> ..."),
        }
    }
    // The verdict as the shutdown reason too: poweroff only on success.
    let verdict = pv_tests::report::status();
    if verdict != Some(Verdict::Success) {
        let word = verdict.map_or("ERROR", Verdict::name);
        println!("Test result: {word}");
        println!("attack: crashing on purpose to report the failure to dom0");
        let r = pv_tests::ops::sched_shutdown(ShutdownReason::Crash);
        panic!("SCHEDOP_shutdown(crash) returned: {r:?}");
    }
}

// ---------------------------------------------------------------------------
// The victim
// ---------------------------------------------------------------------------

/// The flags of entry `gref` of the mapped table, as an atomic.
fn flags(gref: u32) -> &'static AtomicU16 {
    let p = TABLE.byte(0, usize::try_from(gref % 512).unwrap_or(0).wrapping_mul(8)).cast::<u16>();
    // SAFETY: entry `gref` (< 512) lies in the mapped table page, 2-aligned;
    // the hypervisor changes it only with locked instructions.
    unsafe { AtomicU16::from_ptr(p) }
}

/// Publishes entry `gref`: `domid`, `frame`, then (after a barrier) `flags`.
fn grant_access(gref: u32, domid: DomId, frame: u64, gtf: u16) {
    let e = TABLE.byte(0, usize::try_from(gref % 512).unwrap_or(0).wrapping_mul(8));
    // SAFETY: the entry lies in the mapped table page; domid at +2, frame
    // at +4, aligned.
    unsafe {
        e.wrapping_add(2).cast::<u16>().write_volatile(domid.0);
        e.wrapping_add(4).cast::<u32>().write_volatile(u32::try_from(frame).unwrap_or(0));
    }
    fence(Ordering::SeqCst);
    flags(gref).store(gtf, Ordering::SeqCst);
}

/// Revokes `gref` unless it is in use (Linux's
/// `gnttab_end_foreign_access_ref_v1`); whether it was revoked.
fn end_access(gref: u32) -> bool {
    let f = flags(gref);
    let mut cur = f.load(Ordering::SeqCst);
    loop {
        if cur & (GTF_reading | GTF_writing) != 0 {
            return false;
        }
        match f.compare_exchange(cur, 0, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(seen) => cur = seen,
        }
    }
}

/// The victim's ports (of the first [`SCAN_PORTS`]) unbound for dom0, as
/// a bit mask, and whether one of them is bound to `x`.
fn ports(x: DomId) -> (u64, bool) {
    let (mut unbound, mut to_x) = (0u64, false);
    for p in 1..SCAN_PORTS {
        match evtchn::status(EvtchnPort(p)).map(|s| s.0) {
            Ok(EvtchnBinding::Unbound { remote_dom: DomId(0) }) => {
                unbound |= 1 << p;
            }
            Ok(EvtchnBinding::Unbound { remote_dom }) => to_x |= remote_dom == x,
            Ok(EvtchnBinding::Interdomain { dom, .. }) => to_x |= dom == x,
            _ => {}
        }
    }
    (unbound, to_x)
}

/// Sets up and maps the grant table (one frame) and fills pages A, B
/// and C; their MFNs.
fn set_up_pages(si: &StartInfo) -> Option<[u64; 3]> {
    let Some(layout) = InitialMapping::new(si) else {
        fail("cannot read the initial mapping's layout");
        return None;
    };
    let mut frames = [0u64; 1];
    match grant::setup_table(DomId::SELF, &mut frames) {
        Ok(st) if st == GntSt::Okay => {}
        other => {
            fail(format_args!("GNTTABOP_setup_table(DOMID_SELF, 1): {other:?}"));
            return None;
        }
    }
    // SAFETY: TABLE is this kernel's own page, used for nothing else.
    let mapped =
        unsafe { shinfo::update_va_mapping(TABLE.va(0), maddr(frames[0]) | DATA_RW, UVMF_INVLPG) };
    if let Err(e) = mapped {
        fail(format_args!("mapping the grant-table frame: {e}"));
        return None;
    }
    let mfn = |i: usize| layout.va_to_mfn(VICTIM.va(i)).unwrap_or(0);
    VICTIM.fill(0, PATTERN_LEN, SEED_A);
    VICTIM.fill(1, 4096, SEED_B);
    VICTIM.fill(2, 4096, SEED_C);
    for off in [REPLY_OFF, DONE_OFF] {
        VICTIM.write_u64(0, off, 0);
    }
    Some([mfn(0), mfn(1), mfn(2)])
}

/// The fuzzer's granting neighbour (see the module documentation).
fn granter(si: &StartInfo, f: DomId, secs: u64) {
    let Some([a, b, c]) = set_up_pages(si) else { return };
    grant_access(REF_DOM0, DomId(0), c, GTF_permit_access);
    grant_access(REF_RO, f, b, GTF_permit_access | GTF_readonly);
    for r in REF_POOL {
        grant_access(r, f, b, GTF_permit_access | GTF_readonly);
    }
    grant_access(REF_RW, f, a, GTF_permit_access);
    println!("attack: granter granted refs 8 (rw), 9 and 12..=15 (ro) to d{}, for {secs} s", f.0);
    let end = now().saturating_add(secs.saturating_mul(1_000_000_000));
    let (mut checks, mut in_use, mut intact) = (0u32, 0u32, true);
    while now() < end && intact {
        let next = now().saturating_add(20_000_000);
        while now() < next {
            let _ = pv_tests::ops::sched_yield();
        }
        intact = VICTIM.holds(1, 4096, SEED_B) && VICTIM.holds(2, 4096, SEED_C);
        let used =
            [REF_RW, REF_RO].iter().any(|&r| flags(r).load(Ordering::SeqCst) & GTF_reading != 0);
        in_use = in_use.saturating_add(u32::from(used));
        checks = checks.saturating_add(1);
    }
    println!("attack: granter saw its grants in use in {in_use} of {checks} checks");
    check(intact, "read-only page B and ungranted page C intact throughout");
    let untouched = [REF_REVOKED, REF_UNGRANTED].map(|r| flags(r).load(Ordering::SeqCst));
    check_eq(untouched, [0, 0], "the never-granted entries' flags");
}

fn victim(si: &StartInfo, x: DomId) {
    let Some([a, b, c]) = set_up_pages(si) else { return };
    let (ports_before, bound) = ports(x);
    check(ports_before != 0 && !bound, format_args!("ports unbound for d0: {ports_before:#x}"));
    grant_access(REF_REVOKED, x, c, GTF_permit_access);
    check(end_access(REF_REVOKED), "ref 11 granted to the attacker and revoked");
    grant_access(REF_DOM0, DomId(0), c, GTF_permit_access);
    grant_access(REF_RO, x, b, GTF_permit_access | GTF_readonly);
    for r in REF_POOL {
        grant_access(r, x, b, GTF_permit_access | GTF_readonly);
    }
    grant_access(REF_RW, x, a, GTF_permit_access);
    println!("attack: victim granted refs 8 (rw), 9 and 12..=15 (ro) to d{}, 10 to d0", x.0);

    let deadline = now().saturating_add(TIMEOUT_NS);
    while VICTIM.read_u64(0, DONE_OFF) != DONE {
        if now() > deadline {
            fail("the attacker did not finish in time");
            return;
        }
        let _ = pv_tests::ops::sched_yield();
    }
    println!("attack: the attacker is done; checking the damage");
    check(VICTIM.holds(0, PATTERN_LEN, SEED_A), "page A's pattern intact");
    check_eq(VICTIM.read_u64(0, REPLY_OFF), REPLY, "the attacker's legitimate write in page A");
    check(VICTIM.holds(1, 4096, SEED_B), "read-only page B intact");
    check(VICTIM.holds(2, 4096, SEED_C), "page C (granted to d0 only) intact");
    let mut in_use = 0u16;
    for r in [REF_RW, REF_RO, REF_DOM0].into_iter().chain(REF_POOL) {
        in_use |= flags(r).load(Ordering::SeqCst) & (GTF_reading | GTF_writing);
    }
    check_eq(in_use, 0, "no entry still GTF_reading/GTF_writing");
    let untouched = [REF_REVOKED, REF_UNGRANTED].map(|r| flags(r).load(Ordering::SeqCst));
    check_eq(untouched, [0, 0], "the revoked and the ungranted entries' flags");
    check_eq(ports(x), (ports_before, false), "the same ports unbound for d0, none bound to X");
    let revoked = [REF_RW, REF_RO, REF_DOM0].into_iter().chain(REF_POOL).all(end_access);
    check(revoked, "every grant revoked");
}

// ---------------------------------------------------------------------------
// The attacker
// ---------------------------------------------------------------------------

/// A map of `gref` of `dom` at `host_addr`.
fn map_op(dom: DomId, gref: u32, host_addr: u64, flags: u32) -> GnttabMapGrantRef {
    GnttabMapGrantRef { host_addr, flags, gref: GrantRef(gref), dom, ..Default::default() }
}

/// One map: status, handle and `dev_bus_addr`.
fn map1(op: GnttabMapGrantRef) -> (Status, GrantHandle, u64) {
    let mut ops = [op];
    match grant::map(&mut ops) {
        Ok(()) => (Status(ops[0].status), ops[0].handle, ops[0].dev_bus_addr),
        Err(e) => {
            fail(format_args!("GNTTABOP_map_grant_ref: {e}"));
            (Status(i16::MIN), 0, 0)
        }
    }
}

/// One unmap's status.
fn unmap1(host_addr: u64, dev_bus_addr: u64, handle: GrantHandle) -> Status {
    let mut ops = [GnttabUnmapGrantRef { host_addr, dev_bus_addr, handle, ..Default::default() }];
    match grant::unmap(&mut ops) {
        Ok(()) => Status(ops[0].status),
        Err(e) => {
            fail(format_args!("GNTTABOP_unmap_grant_ref: {e}"));
            Status(i16::MIN)
        }
    }
}

/// One copy's status.
fn copy1(source: GnttabCopyPtr, dest: GnttabCopyPtr, len: u16, flags: u16) -> Status {
    let mut ops = [GnttabCopy { source, dest, len, flags, ..Default::default() }];
    match grant::copy(&mut ops) {
        Ok(()) => Status(ops[0].status),
        Err(e) => {
            fail(format_args!("GNTTABOP_copy: {e}"));
            Status(i16::MIN)
        }
    }
}

/// A copy end: `u` (ref or frame) of `domid` at `offset`.
fn end(u: u64, domid: DomId, offset: u16) -> GnttabCopyPtr {
    GnttabCopyPtr { u, domid, offset, pad0: 0 }
}

/// The errno of `r` (`None`: success or not an errno).
fn errno<T>(r: Result<T, XenError>) -> Option<Errno> {
    r.err().and_then(XenError::errno)
}

/// Machine address of the L1 entry mapping `va`, and its value.
fn l1e_of(layout: &InitialMapping, va: u64) -> Option<(u64, u64)> {
    let l3 = layout.next(layout.l4_mfn, va, 39)?;
    let l2 = layout.next(l3, va, 30)?;
    let l1 = layout.next(l2, va, 21)?;
    let index = (va >> 12) & 511;
    Some((maddr(l1).checked_add(index.checked_mul(8)?)?, layout.entry(l1, index)?))
}

fn attacker(si: &StartInfo, v: DomId, port: EvtchnPort, maptrack: u32) {
    let Some(layout) = InitialMapping::new(si) else {
        fail("cannot read the initial mapping's layout");
        return;
    };
    let (w0, w1) = (WINDOW.va(0), WINDOW.va(1));
    for va in [w0, w1] {
        // SAFETY: the window pages are this kernel's and hold nothing.
        if let Err(e) = unsafe { shinfo::update_va_mapping(va, 0, UVMF_INVLPG) } {
            fail(format_args!("clearing the window at {va:#x}: {e}"));
            return;
        }
    }
    let Some(buf) = layout.va_to_mfn(BUF.va(0)) else {
        fail("no MFN for the copy buffer");
        return;
    };
    println!("attack: attacker of d{}, its port {}, maptrack {maptrack} frame(s)", v.0, port.0);

    // The legitimate mapping, once the victim has published it.
    let deadline = now().saturating_add(TIMEOUT_NS);
    let (st, h8) = loop {
        let (st, h, _) = map1(map_op(v, REF_RW, w0, GNTMAP_host_map));
        if st == GntSt::Okay || now() > deadline {
            break (st, h);
        }
        let _ = pv_tests::ops::sched_yield();
    };
    if !check_eq(st, Status(0), "map the victim's ref 8 writable (granted to us)") {
        return;
    }
    check(WINDOW.holds(0, PATTERN_LEN, SEED_A), "page A's pattern through the mapping");
    WINDOW.write_u64(0, REPLY_OFF, REPLY);

    map_attacks(v, w1);
    read_only_mapping(&layout, v, w1);
    unmap_attacks(w0, w1, h8);
    copy_attacks(v, buf);
    evtchn_attacks(v, port);
    check_eq(unmap1(w0, 0, h8), Status(0), "unmap ref 8 with its handle");
    exhaust_maptrack(v, w0, maptrack);

    let done = DONE.to_le_bytes();
    // SAFETY: the buffer page is this kernel's own; 8 bytes.
    unsafe { core::ptr::copy_nonoverlapping(done.as_ptr(), BUF.byte(0, 0), 8) };
    let st = copy1(
        end(buf, DomId::SELF, 0),
        end(u64::from(REF_RW), v, u16::try_from(DONE_OFF).unwrap_or(0)),
        8,
        GNTCOPY_dest_gref,
    );
    check_eq(st, Status(0), "GNTTABOP_copy of \"done\" into ref 8 (dest by grant)");
}

/// Maps of grants that are not ours to map.
fn map_attacks(v: DomId, w: u64) {
    let general = Status(GntSt::GeneralError.raw());
    let cases = [
        (REF_UNGRANTED, GNTMAP_host_map, general, "map of ref 16, never granted"),
        (REF_DOM0, GNTMAP_host_map, general, "map of ref 10, granted to d0"),
        (REF_DOM0, GNTMAP_host_map | GNTMAP_readonly, general, "map of ref 10 read-only"),
        (REF_REVOKED, GNTMAP_host_map, general, "map of ref 11, revoked"),
        (1 << 20, GNTMAP_host_map, Status(GntSt::BadGntref.raw()), "map of a ref beyond the table"),
        (REF_RO, GNTMAP_host_map, general, "map of read-only ref 9 writable"),
        (REF_RO, GNTMAP_device_map, general, "device map of read-only ref 9 writable"),
    ];
    for (gref, flags, want, what) in cases {
        check_eq(map1(map_op(v, gref, w, flags)).0, want, what);
    }
    // A peek at the window: still nothing mapped there.
    check(pt::peek(w).is_err(), "the window is still unmapped after the refusals");
}

/// The read-only grant mapped read-only: readable, not writable.
fn read_only_mapping(layout: &InitialMapping, v: DomId, w: u64) {
    let (st, h, _) = map1(map_op(v, REF_RO, w, GNTMAP_host_map | GNTMAP_readonly));
    if !check_eq(st, Status(0), "map of read-only ref 9 read-only") {
        return;
    }
    check(WINDOW.holds(1, 4096, SEED_B), "page B's pattern through the read-only mapping");
    let pte = l1e_of(layout, w).map(|(_, e)| e);
    check(
        pte.is_some_and(|e| e & 1 != 0 && e & PAGE_RW == 0),
        format_args!("the read-only mapping's PTE is present, not writable ({pte:#x?})"),
    );
    let wrote = pt::poke(w.wrapping_add(64), 0x0bad);
    check(
        wrote.is_some_and(|f| f.is(fault::PF, fault::PFEC_PRESENT | fault::PFEC_WRITE)),
        format_args!("a write through the read-only mapping faults ({})", fault::Outcome(wrote)),
    );
    check(WINDOW.holds(1, 4096, SEED_B), "page B unchanged by the write attempt");
    check_eq(unmap1(w, 0, h), Status(0), "unmap of the read-only mapping");
}

/// Unmaps with handles and addresses that are not a live mapping's.
fn unmap_attacks(w0: u64, w1: u64, h8: GrantHandle) {
    let bad = Status(GntSt::BadHandle.raw());
    check_eq(unmap1(w0, 0, 0x7fff_ffff), bad, "unmap of handle 0x7fffffff");
    let free = h8.wrapping_add(1);
    check_eq(unmap1(w0, 0, free), bad, format_args!("unmap of free handle {free}"));
    let general = Status(GntSt::GeneralError.raw());
    check_eq(unmap1(w1, 0, h8), general, "unmap of ref 8's handle at another address");
    check(WINDOW.holds(0, PATTERN_LEN, SEED_A), "ref 8 still mapped after the refused unmaps");
}

/// Copies that are not allowed.
fn copy_attacks(v: DomId, buf: u64) {
    let beyond = Status(GntSt::BadCopyArg.raw());
    let general = Status(GntSt::GeneralError.raw());
    let me = DomId::SELF;
    let rw = u64::from(REF_RW);
    let src = GNTCOPY_source_gref;
    let st = copy1(end(rw, v, 4000), end(buf, me, 0), 200, src);
    check_eq(st, beyond, "copy of 200 bytes from offset 4000 of ref 8");
    let st = copy1(end(rw, v, 0), end(buf, me, 3900), 200, src);
    check_eq(st, beyond, "copy of 200 bytes to offset 3900 of our frame");
    let st = copy1(end(buf, me, 0), end(rw, v, 1), 4096, GNTCOPY_dest_gref);
    check_eq(st, beyond, "copy of 4096 bytes to offset 1 of ref 8");
    let st = copy1(end(buf, me, 0), end(u64::from(REF_RO), v, 0), 8, GNTCOPY_dest_gref);
    check_eq(st, general, "copy into read-only ref 9");
    let st = copy1(end(u64::from(REF_DOM0), v, 0), end(buf, me, 0), 8, src);
    check_eq(st, general, "copy from ref 10, granted to d0");
    let st = copy1(end(u64::from(REF_REVOKED), v, 0), end(buf, me, 0), 8, src);
    check_eq(st, general, "copy from ref 11, revoked");
    let st = copy1(end(buf, v, 0), end(buf, me, 0), 8, 0);
    check_eq(st, Status(GntSt::PermissionDenied.raw()), "copy from the victim by frame");
    let st = copy1(end(u64::from(REF_RO), v, 0), end(buf, me, 0), 4096, src);
    check_eq(st, Status(0), "copy of read-only ref 9 (allowed)");
    check(BUF.holds(0, 4096, SEED_B), "page B's pattern in the copy");
}

/// Event-channel operations on the victim's ports.
fn evtchn_attacks(v: DomId, port: EvtchnPort) {
    let own = evtchn::status(port).map(|s| s.0);
    let free = matches!(own, Ok(EvtchnBinding::Closed)) || errno(own) == Some(Errno::EINVAL);
    check(free, format_args!("port {} is no port of ours ({:?})", port.0, own.map(drop)));
    let einval = Some(Errno::EINVAL);
    let eperm = Some(Errno::EPERM);
    let bind = evtchn::bind_interdomain(v, port);
    check_eq(errno(bind), einval, "bind_interdomain to the victim's port unbound for d0");
    let bind = evtchn::bind_interdomain(v, EvtchnPort(4000));
    check_eq(errno(bind), einval, "bind_interdomain to a port the victim does not have");
    let bind = evtchn::bind_interdomain(DomId(0x7fe0), EvtchnPort(1));
    check_eq(errno(bind), Some(Errno::ESRCH), "bind_interdomain to a domain that does not exist");
    let mut s = EvtchnStatus { dom: v, port, ..Default::default() };
    let st = evtchn::event_channel_op(EvtchnOp::Status, &mut s);
    check_eq(errno(st), eperm, "EVTCHNOP_status of the victim's port");
    let mut a = EvtchnAllocUnbound { dom: v, remote_dom: DomId::SELF, port: EvtchnPort(0) };
    let st = evtchn::event_channel_op(EvtchnOp::AllocUnbound, &mut a);
    check_eq(errno(st), eperm, "EVTCHNOP_alloc_unbound in the victim");
    check_eq(errno(evtchn::reset(v)), eperm, "EVTCHNOP_reset of the victim");
    check_eq(errno(evtchn::close(port)), einval, "EVTCHNOP_close of the victim's port number");
    check_eq(errno(evtchn::send(port)), einval, "EVTCHNOP_send on the victim's port number");
}

/// Read-only device mappings of the pool refs until maptrack runs out.
fn exhaust_maptrack(v: DomId, w0: u64, frames: u32) {
    let want = frames.saturating_mul(256).saturating_sub(1);
    let mut held: [(GrantHandle, u64); 1024] = [(0, 0); 1024];
    let mut n = 0usize;
    let mut last = Status(0);
    let mut pool = REF_POOL.cycle();
    for _ in 0..held.len() {
        let gref = pool.next().unwrap_or(REF_RO);
        let (st, h, bus) = map1(map_op(v, gref, 0, GNTMAP_device_map | GNTMAP_readonly));
        last = st;
        if st != GntSt::Okay {
            break;
        }
        if let Some(slot) = held.get_mut(n) {
            *slot = (h, bus);
            n = n.saturating_add(1);
        }
    }
    println!("attack: {n} read-only device mappings, then {last}");
    check_eq(last, Status(GntSt::NoSpace.raw()), "the mapping after maptrack is full");
    check_eq(n as u64, u64::from(want), format_args!("mappings held with {frames} frame(s)"));
    let mut refused = 0u32;
    for &(h, bus) in held.iter().take(n) {
        if unmap1(0, bus, h) != GntSt::Okay {
            refused = refused.saturating_add(1);
        }
    }
    check_eq(refused, 0, "every device mapping unmapped with its handle and bus address");
    let (st, h, _) = map1(map_op(v, REF_RW, w0, GNTMAP_host_map | GNTMAP_readonly));
    check_eq(st, Status(0), "ref 8 maps again once the handles are back");
    if st == GntSt::Okay {
        check_eq(unmap1(w0, 0, h), Status(0), "and unmaps");
    }
}
