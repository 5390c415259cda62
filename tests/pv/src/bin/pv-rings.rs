// SPDX-License-Identifier: GPL-2.0-only
//! `pv-rings`: a domU of `pv-toolstack` that checks its console and
//! xenstore rings end to end (dom0 serves them: `pv-toolstack`'s
//! `rings` module).
//!
//! 1. Its grant table as the domain builder seeded it (Xen's
//!    `xc_dom_gnttab_seed`): ref 0 (`GNTTAB_RESERVED_CONSOLE`) grants dom0
//!    the console frame and ref 1 (`GNTTAB_RESERVED_XENSTORE`) the
//!    xenstore frame, `GTF_permit_access`.
//! 2. Its console lines reach the ring ([`pv_tests::xencons`], attached by
//!    the framework): it prints `rings: console line <i> of 3` and one
//!    line longer than the framework's 128-byte buffer (`rings: long line
//!    ` and 150 digits `0123456789...`), which dom0 must print whole as
//!    `d<N>| ...` lines; the boot test compares them.
//! 3. xenstore reads ([`pv_tests::xenstore`]): `name` is the
//!    `expect_name=<name>` of its command line (the name dom0 gave it),
//!    `domid` is a number `D` and `/local/domain/D/name` is the same name,
//!    `no/such/node` is `ENOENT`, a read whose path has no NUL is
//!    `EINVAL`, `XS_TRANSACTION_START` (which dom0's store does not
//!    support) is `ENOSYS`; every request is answered within
//!    [`TIMEOUT_NS`].
//!
//! With `hostile` on its command line it then breaks both rings, as a
//! hostile domU would, and checks that dom0 gives up on them without
//! harm: a request header announcing 5000 payload bytes (more than
//! `XENSTORE_PAYLOAD_MAX`) gets the page's `error` set to
//! `XENSTORE_ERROR_COMM`, and a console `out_prod` 10000 bytes ahead of
//! `out_cons` (dom0 says so on its console; the boot test checks that
//! line and that dom0 still finishes).
//!
//! Then it reports `Test result: SUCCESS` (through both consoles; with
//! `hostile`, through `console_io` only).

#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::mem::offset_of;

use pv_tests::console::Escaped;
use pv_tests::grant::{self};
use pv_tests::guest_abi::grant_table::{
    GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE, GTF_permit_access, GntSt, GrantEntryV1,
};
use pv_tests::guest_abi::io::{XENSTORE_ERROR_COMM, XenconsInterface, XsdSockmsg, XsdSockmsgType};
use pv_tests::guest_abi::xen::{DomId, UVMF_INVLPG};
use pv_tests::pt::{DATA_RW, InitialMapping, maddr};
use pv_tests::xenstore::{Store, XsError};
use pv_tests::{StartInfo, check, check_eq, fail, println, shinfo, xencons};

pv_tests::test_kernel!(name: "rings", main: test_main);

/// How long one xenstore request may take (system time).
const TIMEOUT_NS: u64 = 30_000_000_000;

/// Length of the long line's digits.
const LONG: usize = 150;

/// A page-aligned `.bss` page where the grant-table frame is mapped.
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 4096]>);

// SAFETY: only read through volatile reads, on this kernel's one vCPU.
unsafe impl Sync for Page {}

static TABLE: Page = Page(UnsafeCell::new([0; 4096]));

fn test_main(si: &StartInfo) {
    if let Err(e) = shinfo::map(si) {
        fail(format_args!("mapping shared_info: {e}"));
        return;
    }
    check(xencons::attached(), "the console ring is attached");
    grants(si);
    for i in 1..=3 {
        println!("rings: console line {i} of 3");
    }
    let mut digits = [0u8; LONG];
    for (d, s) in digits.iter_mut().zip(b"0123456789".iter().cycle()) {
        *d = *s;
    }
    println!("rings: long line {}", Escaped(&digits));
    store(si);
    check_eq(xencons::dropped(), 0, "console bytes dropped");
    if si.cmd_line_bytes().split(|&b| b == b' ').any(|w| w == b"hostile") {
        hostile(si);
    }
}

/// The hostile part (see the module documentation).
fn hostile(si: &StartInfo) {
    let Some(mut xs) = Store::new(si) else { return };
    let header = XsdSockmsg { ty: XsdSockmsgType::Read.raw(), req_id: 99, tx_id: 0, len: 5000 };
    if let Err(e) = xs.send_all(bytemuck::bytes_of(&header), deadline()) {
        fail(format_args!("sending the oversized header: {e}"));
        return;
    }
    let end = deadline();
    while xs.server_error() != XENSTORE_ERROR_COMM {
        if xs.wait_event(end).is_err() {
            break;
        }
    }
    check_eq(xs.server_error(), XENSTORE_ERROR_COMM, "xenstore error field after a 5000-byte len");
    println!("rings: breaking the console ring");
    let Some(va) = InitialMapping::new(si).and_then(|m| m.frame_va(si.console.domu().mfn.0)) else {
        fail("the console page is not in the initial mapping");
        return;
    };
    let page = va as *mut u8;
    let (cons_at, prod_at) =
        (offset_of!(XenconsInterface, out_cons), offset_of!(XenconsInterface, out_prod));
    // SAFETY: the console page is this domain's, mapped writable in the
    // initial mapping; both offsets are fields of it.
    unsafe {
        let cons = page.wrapping_add(cons_at).cast::<u32>().read_volatile();
        page.wrapping_add(prod_at).cast::<u32>().write_volatile(cons.wrapping_add(10_000));
    }
    let _ = pv_tests::evtchn::send(si.console.domu().evtchn);
}

/// Step 1: the seeded grant entries.
fn grants(si: &StartInfo) {
    let mut frames = [0u64; 1];
    match grant::setup_table(DomId::SELF, &mut frames) {
        Ok(st) if st == GntSt::Okay => {}
        other => {
            fail(format_args!("GNTTABOP_setup_table(DOMID_SELF, 1): {other:?}"));
            return;
        }
    }
    let va = TABLE.0.get().addr() as u64;
    // SAFETY: TABLE is this kernel's own page, used for nothing else; its
    // old frame is simply no longer mapped.
    let mapped = unsafe { shinfo::update_va_mapping(va, maddr(frames[0]) | DATA_RW, UVMF_INVLPG) };
    if let Err(e) = mapped {
        fail(format_args!("mapping the grant-table frame: {e}"));
        return;
    }
    let entry = |gref: u32| -> GrantEntryV1 {
        let p = TABLE.0.get().cast::<GrantEntryV1>().wrapping_add(gref as usize);
        // SAFETY: refs 0 and 1 lie in the mapped table page, 8-aligned.
        unsafe { p.read_volatile() }
    };
    let console = si.console.domu().mfn.0;
    let want = |frame: u64| GrantEntryV1 {
        flags: GTF_permit_access,
        domid: DomId(0),
        frame: u32::try_from(frame).unwrap_or(u32::MAX),
    };
    check_eq(entry(GNTTAB_RESERVED_CONSOLE), want(console), "grant ref 0: the console to d0");
    check_eq(
        entry(GNTTAB_RESERVED_XENSTORE),
        want(si.store_mfn.0),
        "grant ref 1: the xenstore page to d0",
    );
}

/// The deadline of one request.
fn deadline() -> u64 {
    shinfo::now().unwrap_or(0).saturating_add(TIMEOUT_NS)
}

/// Step 3: the xenstore reads.
fn store(si: &StartInfo) {
    let line = si.cmd_line_bytes();
    let Some(expected) = shinfo::cmdline_value(line, "expect_name") else {
        fail("no expect_name=<name> on the command line");
        return;
    };
    let Some(mut xs) = Store::new(si) else {
        fail("the xenstore page is not in the initial mapping");
        return;
    };
    let mut buf = [0u8; 128];
    let name = match xs.read(b"name", &mut buf, deadline()) {
        Ok(n) => buf.get(..n).unwrap_or_default(),
        Err(e) => {
            fail(format_args!("XS_READ name: {e}"));
            return;
        }
    };
    println!("rings: xenstore name = \"{}\"", Escaped(name));
    check(name == expected.as_bytes(), format_args!("XS_READ name is \"{expected}\""));

    let mut buf = [0u8; 16];
    let domid = match xs.read(b"domid", &mut buf, deadline()) {
        Ok(n) => core::str::from_utf8(buf.get(..n).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse::<u16>().ok()),
        Err(e) => {
            fail(format_args!("XS_READ domid: {e}"));
            None
        }
    };
    check(domid.is_some_and(|d| d != 0), format_args!("XS_READ domid is a domU's: {domid:?}"));
    if let Some(d) = domid {
        println!("rings: xenstore domid = {d}");
        let mut path = [0u8; 64];
        let mut w = Writer { buf: &mut path, len: 0 };
        let _ = core::fmt::write(&mut w, format_args!("/local/domain/{d}/name"));
        let len = w.len;
        let mut buf = [0u8; 128];
        let got = xs.read(path.get(..len).unwrap_or_default(), &mut buf, deadline());
        let got = got.map(|n| buf.get(..n).unwrap_or_default());
        check(
            got == Ok(expected.as_bytes()),
            format_args!("XS_READ /local/domain/{d}/name is \"{expected}\""),
        );
    }

    let mut buf = [0u8; 64];
    let missing = xs.read(b"no/such/node", &mut buf, deadline());
    check_errno(missing.map(drop), b"ENOENT", "XS_READ no/such/node");
    let unterminated = xs.request(XsdSockmsgType::Read, b"name", &mut buf, deadline());
    check_errno(unterminated.map(drop), b"EINVAL", "XS_READ of a path without its NUL");
    let tx = xs.request(XsdSockmsgType::TransactionStart, b"\0", &mut buf, deadline());
    check_errno(tx.map(drop), b"ENOSYS", "XS_TRANSACTION_START");
    // The connection still works after the errors.
    let again = xs.read(b"name", &mut buf, deadline());
    check(
        again.map(|n| buf.get(..n).unwrap_or_default()) == Ok(expected.as_bytes()),
        "XS_READ name again after the errors",
    );
}

/// Checks that `r` is the `XS_ERROR` `errno`.
fn check_errno(r: Result<(), XsError>, errno: &[u8], what: &str) {
    match r {
        Err(e) if e.store_errno() == Some(errno) => {
            check(true, format_args!("{what}: {}", Escaped(errno)));
        }
        Err(e) => fail(format_args!("{what}: {e}, expected {}", Escaped(errno))),
        Ok(()) => fail(format_args!("{what}: answered, expected {}", Escaped(errno))),
    }
}

/// A `fmt::Write` into a byte buffer (truncating).
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len = self.len.saturating_add(1);
            }
        }
        Ok(())
    }
}
