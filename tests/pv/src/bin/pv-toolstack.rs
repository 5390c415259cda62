// SPDX-License-Identifier: GPL-2.0-only
//! `pv-toolstack`: a minimal toolstack in a dom0 PV test kernel.
//!
//! Booted as dom0 with an initrd (the second boot module) that is a cpio
//! `newc` archive holding `domU-<n>.kernel` and optionally
//! `domU-<n>.cmdline` (what `qemu/run --domu` packs), it builds each kernel
//! as a paused domU with the domain builder (`xen-domain-builder`, the
//! role of libxenguest), unpauses them all and waits: it binds
//! `VIRQ_DOM_EXC` and, on each event, asks `XEN_DOMCTL_getdomaininfo`
//! about its domUs; a domU that shut down is reported as
//! `domU d<N>: shutdown <reason>` and destroyed. When none is left the
//! kernel reports `Test result: SUCCESS` and powers the machine off. No
//! domU image at all is a SKIP.
//!
//! The builder's [`DomCtl`] is implemented with real hypercalls:
//! `HYPERVISOR_domctl` with the Xen 4.17 envelope, `memory_op
//! (XENMEM_populate_physmap)` for the domU, `mmu_update`/`mmuext_op` with
//! the domU as `foreigndom`, `EVTCHNOP_alloc_unbound` and
//! `GNTTABOP_setup_table` for the domU, and a
//! one-page window in this kernel's `.bss` whose L1 entry is rewritten with
//! `mmu_update` (page owner: the domU) to write into a domU frame, as
//! privcmd's foreign mappings do.
//!
//! Before building, it checks `XENMEM_claim_pages` on a scratch domain
//! ([`claim_checks`]): Xen's refusals (`-EINVAL` for an extent order,
//! memory flags, `DOMID_SELF`, an unknown domain, a target above
//! `max_pages`, a second claim; `-ENOMEM` for more than is free), a claim
//! shown in `getdomaininfo` and sysctl `physinfo` as `outstanding_pages`
//! and consumed by `populate_physmap`, and a claim of 0 cancelling it.
//!
//! Options on dom0's command line: `domu_mem=<MiB>` (default 32) and
//! `domu_vcpus=<n>` (default 1) for every domU. If the hypervisor refuses `EVTCHNOP_alloc_unbound` for another
//! domain, the domUs are built without console and xenstore event channels
//! (`DomainConfig::evtchns_optional`; a note says so). The builder's memory comes from a heap in `.bss`
//! ([`HEAP_SIZE`]). `bench=<secs>` runs the scheduler and domain-creation
//! benchmark ([`bench`]) with the first domU image instead; `mode=pause`,
//! `mode=cycles` and `mode=destroy` run the lifecycle checks of
//! [`lifecycle`] instead of running the domUs side by side; `mode=pingpong`
//! has two domUs talk over an interdomain event channel ([`pingpong`]);
//! `mode=sedf-bench` the sEDF guarantee figure ([`sedf`], with
//! `sched=sedf`), `mode=grant` and `mode=grant-bench` the grant-table checks
//! and figures of [`grant`]; `mode=grant-v2` the version-2 checks of
//! [`grant_v2`]; `mode=attack` a hostile domU against a victim
//! ([`attack`]); `mode=fuzz` the hypercall fuzzer beside two working
//! neighbours ([`fuzz`]).
//!
//! dom0 serves its domUs' console and xenstore rings ([`rings`]): each
//! domU's console lines appear as `d<N>| <line>` on dom0's console, and
//! its xenstore reads of `name` get `domU-<n>` (the image's number).
#![no_std]
#![no_main]

extern crate alloc;

#[path = "pv-toolstack/attack.rs"]
mod attack;
#[path = "pv-toolstack/fuzz.rs"]
mod fuzz;
#[path = "pv-toolstack/grant.rs"]
mod grant;
#[path = "pv-toolstack/grant_v2.rs"]
mod grant_v2;
#[path = "pv-toolstack/lifecycle.rs"]
mod lifecycle;
#[path = "pv-toolstack/pingpong.rs"]
mod pingpong;
#[path = "pv-toolstack/rings.rs"]
mod rings;
#[path = "pv-toolstack/sedf.rs"]
mod sedf;

use alloc::vec::Vec;
use core::arch::global_asm;

use linked_list_allocator::LockedHeap;
use pv_tests::console::Escaped;
use pv_tests::evtchn;
use pv_tests::guest_abi::domctl::{
    DomctlCmd, XEN_DOMINF_dying, XEN_DOMINF_shutdown, XenDomctl, XenDomctlCreatedomain,
    XenDomctlGetdomaininfo, XenDomctlHypercallInit, XenDomctlMaxMem, XenDomctlMaxVcpus,
    XenDomctlVcpucontext,
};
use pv_tests::guest_abi::grant_table::GntSt;
use pv_tests::guest_abi::memory::{MemoryOp, XenMemoryReservation};
use pv_tests::guest_abi::sched::ShutdownReason;
use pv_tests::guest_abi::sysctl::{SysctlCmd, XenSysctl, XenSysctlPhysinfo};
use pv_tests::guest_abi::xen::{
    DOMID_SELF, DomId, Errno, EvtchnPort, Hypercall, Mfn, MmuUpdate, MmuextCmd, MmuextOp,
    VcpuGuestContext, VcpuId, Virq,
};
use pv_tests::hypercall::{hypercall2, hypercall4};
use pv_tests::ops::{XenError, result};
use pv_tests::pt::{DATA_RW, InitialMapping, maddr};
use pv_tests::{StartInfo, check, check_eq, fail, println, shinfo, skip};
use xen_domain_builder::{DomCtl, DomainConfig};

pv_tests::test_kernel!(name: "toolstack", main: test_main);

#[path = "../toolstack/bench.rs"]
mod bench;

/// Size of the builder's heap.
const HEAP_SIZE: usize = 4 << 20;

/// Memory of each domU unless `domu_mem=` says otherwise.
const DEFAULT_DOMU_MIB: u64 = 32;

global_asm!(
    ".pushsection .bss.pv_toolstack, \"aw\", @nobits",
    ".balign 4096",
    "pv_toolstack_window:",
    "    .skip 4096",
    "pv_toolstack_heap:",
    "    .skip {heap}",
    ".popsection",
    heap = const HEAP_SIZE,
);

unsafe extern "C" {
    /// The foreign-mapping window (only its address is used).
    #[link_name = "pv_toolstack_window"]
    static mut WINDOW: [u8; 4096];
    /// The heap's memory (only its address is used).
    #[link_name = "pv_toolstack_heap"]
    static mut HEAP_MEMORY: [u8; HEAP_SIZE];
}

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

fn init_heap() {
    let start = (&raw mut HEAP_MEMORY).cast::<u8>();
    // SAFETY: the `.bss` area is this kernel's, mapped and used for nothing
    // else, and the heap is initialised once, before the first allocation.
    unsafe { HEAP.lock().init(start, HEAP_SIZE) };
}

fn window() -> u64 {
    (&raw mut WINDOW).addr() as u64
}

// ---------------------------------------------------------------------------
// Hypercalls
// ---------------------------------------------------------------------------

/// `HYPERVISOR_domctl(op)`.
fn domctl(op: &mut XenDomctl) -> Result<(), XenError> {
    // SAFETY: domctl reads and writes only the 144-byte envelope, and for
    // setvcpucontext reads the context it points at, which the caller keeps
    // alive for the call.
    let ret =
        unsafe { hypercall2(Hypercall::Domctl.raw(), core::ptr::from_mut(op).addr() as u64, 0) };
    result(ret).map(drop)
}

/// A domctl with payload `arg` on `dom`; returns the envelope after the call.
fn domctl_with<T: pv_tests::guest_abi::AbiBytes>(
    cmd: DomctlCmd,
    dom: DomId,
    arg: &T,
) -> Result<XenDomctl, XenError> {
    let mut op = XenDomctl::with_payload(cmd, dom, arg).ok_or(XenError::from(Errno::EINVAL))?;
    domctl(&mut op)?;
    Ok(op)
}

/// A domctl without payload on `dom`.
fn domctl_plain(cmd: DomctlCmd, dom: DomId) -> Result<(), XenError> {
    domctl(&mut XenDomctl::new(cmd, dom))
}

/// `HYPERVISOR_sysctl(XEN_SYSCTL_physinfo)`.
fn physinfo() -> Result<XenSysctlPhysinfo, XenError> {
    let mut op = XenSysctl::new(SysctlCmd::Physinfo);
    // SAFETY: sysctl reads and writes only the envelope.
    let ret = unsafe {
        hypercall2(Hypercall::Sysctl.raw(), core::ptr::from_mut(&mut op).addr() as u64, 0)
    };
    result(ret)?;
    op.payload().ok_or(XenError::from(Errno::EINVAL))
}

/// `XENMEM_claim_pages` of `pages` for `dom`, with `order` and `flags` in
/// the reservation (Xen wants both 0).
fn claim_pages(pages: u64, order: u32, flags: u32, dom: DomId) -> Result<(), XenError> {
    let mut r = XenMemoryReservation::new(0, pages, order, flags, dom);
    // SAFETY: the hypervisor only reads `r`.
    let ret = unsafe {
        hypercall2(
            Hypercall::MemoryOp.raw(),
            u64::from(MemoryOp::ClaimPages.raw()),
            core::ptr::from_mut(&mut r).addr() as u64,
        )
    };
    result(ret).map(drop)
}

/// `HYPERVISOR_mmu_update(reqs, n, NULL, foreigndom)`.
fn mmu_update(reqs: &[MmuUpdate], foreigndom: DomId) -> Result<(), XenError> {
    // SAFETY: the hypervisor reads the requests; they change only the
    // window's L1 entry or a domU's M2P entries and frames.
    let ret = unsafe {
        hypercall4(
            Hypercall::MmuUpdate.raw(),
            reqs.as_ptr().addr() as u64,
            reqs.len() as u64,
            0,
            u64::from(foreigndom.0),
        )
    };
    result(ret).map(drop)
}

/// `HYPERVISOR_mmuext_op(ops, n, NULL, foreigndom)`.
fn mmuext_op(ops: &[MmuextOp], foreigndom: DomId) -> Result<(), XenError> {
    // SAFETY: the hypervisor reads the operations: pins of a domU's tables
    // and TLB flushes of the window.
    let ret = unsafe {
        hypercall4(
            Hypercall::MmuextOp.raw(),
            ops.as_ptr().addr() as u64,
            ops.len() as u64,
            0,
            u64::from(foreigndom.0),
        )
    };
    result(ret).map(drop)
}

// ---------------------------------------------------------------------------
// The builder's DomCtl
// ---------------------------------------------------------------------------

/// [`DomCtl`] over real hypercalls, with a one-page foreign window.
struct Hypervisor {
    /// Machine address of the window's L1 entry.
    window_pte: u64,
    /// What the window maps now.
    mapped: Option<(DomId, Mfn)>,
    /// The id the next `createdomain` asks for (0: any).
    next_domid: DomId,
    /// The domUs' console and xenstore rings dom0 serves.
    rings: rings::Rings,
}

impl Hypervisor {
    fn new(si: &StartInfo) -> Option<Self> {
        let map = InitialMapping::new(si)?;
        let va = window();
        let l3 = map.next(map.l4_mfn, va, 39)?;
        let l2 = map.next(l3, va, 30)?;
        let l1 = map.next(l2, va, 21)?;
        let index = va.checked_shr(12)? & 511;
        let window_pte = maddr(l1).checked_add(index.checked_mul(8)?)?;
        Some(Self { window_pte, mapped: None, next_domid: DomId(0), rings: rings::Rings::new(si) })
    }

    /// Points the window at `val` (a PTE; 0 unmaps) with `owner` as the
    /// page owner, and flushes its TLB entry.
    fn set_window(&mut self, val: u64, owner: DomId) -> Result<(), XenError> {
        self.mapped = None;
        mmu_update(&[MmuUpdate { ptr: self.window_pte, val }], owner)?;
        mmuext_op(&[MmuextOp::new(MmuextCmd::InvlpgLocal, window(), 0)], DOMID_SELF)
    }
}

impl DomCtl for Hypervisor {
    type Error = XenError;

    fn create_domain(&mut self, config: &XenDomctlCreatedomain) -> Result<DomId, XenError> {
        let op = domctl_with(DomctlCmd::Createdomain, self.next_domid, config)?;
        Ok(op.domain)
    }

    fn get_domain_info(&mut self, dom: DomId) -> Result<XenDomctlGetdomaininfo, XenError> {
        let zero: XenDomctlGetdomaininfo = bytemuck::Zeroable::zeroed();
        let op = domctl_with(DomctlCmd::Getdomaininfo, dom, &zero)?;
        let info: XenDomctlGetdomaininfo = op.payload().ok_or(XenError::from(Errno::EINVAL))?;
        // Getdomaininfo answers the next domain at or after the one asked.
        if info.domain != dom {
            return Err(XenError::from(Errno::ESRCH));
        }
        Ok(info)
    }

    fn max_vcpus(&mut self, dom: DomId, max: u32) -> Result<(), XenError> {
        domctl_with(DomctlCmd::MaxVcpus, dom, &XenDomctlMaxVcpus { max }).map(drop)
    }

    fn max_mem(&mut self, dom: DomId, max_memkb: u64) -> Result<(), XenError> {
        domctl_with(DomctlCmd::MaxMem, dom, &XenDomctlMaxMem { max_memkb }).map(drop)
    }

    fn populate_physmap(&mut self, dom: DomId, extents: &mut [u64]) -> Result<usize, XenError> {
        let mut r = XenMemoryReservation::new(
            extents.as_mut_ptr().addr() as u64,
            extents.len() as u64,
            0,
            0,
            dom,
        );
        // SAFETY: the hypervisor reads the GPFNs from and writes the MFNs
        // to `extents`, which `r` describes exactly.
        let ret = unsafe {
            hypercall2(
                Hypercall::MemoryOp.raw(),
                u64::from(MemoryOp::PopulatePhysmap.raw()),
                core::ptr::from_mut(&mut r).addr() as u64,
            )
        };
        let done = result(ret)?;
        usize::try_from(done).map_err(|_| XenError::from(Errno::EINVAL))
    }

    fn mmu_update(&mut self, reqs: &[MmuUpdate], foreigndom: DomId) -> Result<(), XenError> {
        mmu_update(reqs, foreigndom)
    }

    fn mmuext_op(&mut self, ops: &[MmuextOp], foreigndom: DomId) -> Result<(), XenError> {
        mmuext_op(ops, foreigndom)
    }

    fn write_foreign(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), XenError> {
        if offset.checked_add(bytes.len()).is_none_or(|end| end > 4096) {
            return Err(XenError::from(Errno::EINVAL));
        }
        if self.mapped != Some((dom, mfn)) {
            self.set_window(maddr(mfn.0) | DATA_RW, dom)?;
            self.mapped = Some((dom, mfn));
        }
        let dst = (&raw mut WINDOW).cast::<u8>().wrapping_add(offset);
        // SAFETY: the window page is mapped writable to the domU's frame
        // (the mmu_update above succeeded) and `offset + len <= 4096` keeps
        // the copy inside it; the source is a distinct slice.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        Ok(())
    }

    fn unmap_foreign(&mut self) -> Result<(), XenError> {
        if self.mapped.is_some() { self.set_window(0, DOMID_SELF) } else { Ok(()) }
    }

    fn set_vcpu_context(
        &mut self,
        dom: DomId,
        vcpu: VcpuId,
        ctx: &VcpuGuestContext,
    ) -> Result<(), XenError> {
        let arg =
            XenDomctlVcpucontext { vcpu, pad: 0, ctxt: core::ptr::from_ref(ctx).addr() as u64 };
        domctl_with(DomctlCmd::Setvcpucontext, dom, &arg).map(drop)
    }

    fn hypercall_init(&mut self, dom: DomId, gmfn: Mfn) -> Result<(), XenError> {
        domctl_with(DomctlCmd::HypercallInit, dom, &XenDomctlHypercallInit { gmfn: gmfn.0 })
            .map(drop)
    }

    fn evtchn_alloc_unbound(&mut self, dom: DomId, remote: DomId) -> Result<EvtchnPort, XenError> {
        evtchn::alloc_unbound(dom, remote)
    }

    fn gnttab_setup_table(&mut self, dom: DomId) -> Result<Mfn, XenError> {
        let mut frame = [0u64; 1];
        let status = pv_tests::grant::setup_table(dom, &mut frame)?;
        match status.0 {
            0 => Ok(Mfn(frame.first().copied().unwrap_or(0))),
            s if s == GntSt::BadDomain.raw() => Err(XenError::from(Errno::ESRCH)),
            s if s == GntSt::PermissionDenied.raw() => Err(XenError::from(Errno::EPERM)),
            _ => Err(XenError::from(Errno::EINVAL)),
        }
    }

    fn unpause(&mut self, dom: DomId) -> Result<(), XenError> {
        domctl_plain(DomctlCmd::Unpausedomain, dom)
    }

    fn destroy(&mut self, dom: DomId) -> Result<(), XenError> {
        self.rings.forget(dom);
        // Xen asks for the call to be repeated while it tears down.
        loop {
            match domctl_plain(DomctlCmd::Destroydomain, dom) {
                Err(e) if e.errno() == Some(Errno::EAGAIN) => {}
                other => return other,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The initrd: a cpio newc archive
// ---------------------------------------------------------------------------

/// One domU image found in the archive.
struct Image<'a> {
    n: u32,
    kernel: Option<&'a [u8]>,
    cmdline: &'a [u8],
}

/// A hex field of a newc header.
fn hex(field: Option<&[u8]>) -> Option<usize> {
    let text = core::str::from_utf8(field?).ok()?;
    usize::from_str_radix(text, 16).ok()
}

/// `(name, data)` of each member of the newc archive `a` (stops at the
/// trailer or at the first malformed header, which is reported).
fn cpio_members(a: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(h) = a.get(at..at.saturating_add(110)) {
        if h.get(..6) != Some(b"070701".as_slice()) {
            println!("initrd: no newc header at offset {at}");
            break;
        }
        let (Some(size), Some(namesize)) = (hex(h.get(54..62)), hex(h.get(94..102))) else {
            println!("initrd: bad header at offset {at}");
            break;
        };
        let name_at = at.saturating_add(110);
        let Some(name) = a.get(name_at..name_at.saturating_add(namesize.saturating_sub(1))) else {
            break;
        };
        let data_at = name_at.saturating_add(namesize).next_multiple_of(4);
        let Some(data) = a.get(data_at..data_at.saturating_add(size)) else {
            println!("initrd: member at offset {at} runs past the archive");
            break;
        };
        if name == b"TRAILER!!!" {
            break;
        }
        out.push((name, data));
        at = data_at.saturating_add(size).next_multiple_of(4);
    }
    out
}

/// The domU images of the archive, by `n`.
fn images(archive: &[u8]) -> Vec<Image<'_>> {
    let mut out: Vec<Image<'_>> = Vec::new();
    for (name, data) in cpio_members(archive) {
        let Some(rest) = name.strip_prefix(b"domU-") else { continue };
        let Some(dot) = rest.iter().position(|&b| b == b'.') else { continue };
        let (num, kind) = rest.split_at(dot);
        let Some(n) = core::str::from_utf8(num).ok().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let at = match out.iter().position(|i| i.n == n) {
            Some(at) => at,
            None => {
                out.push(Image { n, kernel: None, cmdline: b"" });
                out.len().saturating_sub(1)
            }
        };
        let Some(image) = out.get_mut(at) else { continue };
        match kind {
            b".kernel" => image.kernel = Some(data),
            b".cmdline" => {
                let end = data.iter().position(|&b| b == 0 || b == b'\n').unwrap_or(data.len());
                image.cmdline = data.get(..end).unwrap_or(data);
            }
            _ => {}
        }
    }
    out.sort_by_key(|i| i.n);
    out
}

/// The initrd dom0 was given (mapped at `mod_start`).
fn initrd(si: &StartInfo) -> &'static [u8] {
    let (start, len) = (si.mod_start, si.mod_len);
    if start == 0 || len == 0 || start.checked_add(len).is_none() {
        return &[];
    }
    let (Ok(start), Ok(len)) = (usize::try_from(start), usize::try_from(len)) else { return &[] };
    // SAFETY: the dom0 builder mapped the initrd at `mod_start` for
    // `mod_len` bytes in the initial mapping, which stays mapped and which
    // this kernel never writes.
    unsafe { core::slice::from_raw_parts(start as *const u8, len) }
}

/// `domu_mem=<MiB>` from dom0's command line.
/// `domu_vcpus=<n>` on dom0's command line (default 1).
fn domu_vcpus(si: &StartInfo) -> u32 {
    let line = core::str::from_utf8(si.cmd_line_bytes()).unwrap_or("");
    line.split_whitespace().find_map(|w| w.strip_prefix("domu_vcpus=")?.parse().ok()).unwrap_or(1)
}

fn domu_mem(si: &StartInfo) -> u64 {
    let line = core::str::from_utf8(si.cmd_line_bytes()).unwrap_or("");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("domu_mem=")?.parse().ok())
        .unwrap_or(DEFAULT_DOMU_MIB)
}

// ---------------------------------------------------------------------------
// The toolstack
// ---------------------------------------------------------------------------

/// A running domU.
struct Running {
    domid: DomId,
    n: u32,
}

fn reason_name(code: u32) -> &'static str {
    match ShutdownReason::try_from(code) {
        Ok(ShutdownReason::Poweroff) => "poweroff",
        Ok(ShutdownReason::Reboot) => "reboot",
        Ok(ShutdownReason::Suspend) => "suspend",
        Ok(ShutdownReason::Crash) => "crash",
        Ok(ShutdownReason::Watchdog) => "watchdog",
        Ok(ShutdownReason::SoftReset) => "soft_reset",
        Err(_) => "unknown",
    }
}

fn test_main(si: &StartInfo) {
    init_heap();
    if let Err(e) = shinfo::map(si) {
        fail(format_args!("mapping shared_info: {e}"));
        return;
    }
    let archive = initrd(si);
    let found = images(archive);
    println!("initrd: {} bytes, {} domU image(s)", archive.len(), found.len());
    if found.is_empty() {
        skip("no domU images in the initrd (boot with qemu/run --domu)");
        return;
    }
    let Some(mut hv) = Hypervisor::new(si) else {
        fail("cannot find the L1 entry of the foreign-mapping window");
        return;
    };
    let exc = match evtchn::bind_virq(Virq::DomExc.raw(), 0) {
        Ok(port) => Some(port),
        Err(e) => {
            println!("note: bind_virq(VIRQ_DOM_EXC): {e}; polling by yielding");
            None
        }
    };

    if let Some(secs) = bench::seconds(si) {
        match found.first().and_then(|i| i.kernel) {
            Some(kernel) => bench::run(&mut hv, exc, kernel, secs),
            None => fail("bench: the first domU image has no kernel"),
        }
        return;
    }
    claim_checks(&mut hv);

    let mem = domu_mem(si);
    let vcpus = domu_vcpus(si);
    if pingpong::wanted(si) {
        pingpong::run(&mut hv, exc, &found, mem, si);
        return;
    }
    if attack::wanted(si) {
        attack::run(&mut hv, exc, &found, mem, si);
        return;
    }
    if fuzz::wanted(si) {
        fuzz::run(&mut hv, exc, &found, mem, si);
        return;
    }
    if grant_v2::wanted(si) {
        grant_v2::run(si, &mut hv, exc, &found, mem);
        return;
    }
    if sedf::wanted(si) {
        sedf::run(si, &mut hv, exc, &found);
        return;
    }
    if let Some(mode) = grant::Mode::from_cmdline(si) {
        grant::run(mode, si, &mut hv, exc, &found, mem);
        return;
    }
    if let Some(mode) = lifecycle::Mode::from_cmdline(si) {
        lifecycle::run(mode, &mut hv, exc, &found, mem);
        return;
    }
    let mut running: Vec<Running> = Vec::new();
    for image in &found {
        let Some(kernel) = image.kernel else {
            fail(format_args!("domU-{}: no kernel", image.n));
            continue;
        };
        let mut cfg = DomainConfig::new(kernel, image.cmdline, mem);
        cfg.vcpus = vcpus;
        cfg.evtchns_optional = true;
        let built = match xen_domain_builder::build(&mut hv, &cfg) {
            Ok(built) => built,
            Err(e) => {
                fail(format_args!("domU-{}: build failed: {e}", image.n));
                continue;
            }
        };
        if built.evtchn_refused {
            println!(
                "note: EVTCHNOP_alloc_unbound refused for d{}: no console/xenstore event channel",
                built.domid.0
            );
        }
        let d = built.domid.0;
        println!(
            "domU d{d}: domU-{}.kernel, {mem} MiB, entry {:#x}, cmdline \"{}\"",
            image.n,
            built.entry,
            Escaped(image.cmdline)
        );
        hv.rings.serve(&built, alloc::format!("domU-{}", image.n));
        running.push(Running { domid: built.domid, n: image.n });
    }
    for r in &running {
        if let Err(e) = hv.unpause(r.domid) {
            fail(format_args!("domU d{}: unpause: {e}", r.domid.0));
        }
    }
    wait(&mut hv, exc, &mut running);
    check(running.is_empty(), format_args!("all {} domU(s) ran and are gone", found.len()));
}

/// The scratch domain of [`claim_checks`].
const CLAIM_DOMID: DomId = DomId(0x7000);

/// The errno of `r`, `None` for success or an unknown value.
fn errno_of(r: Result<(), XenError>) -> Option<Errno> {
    r.err().and_then(XenError::errno)
}

/// `XENMEM_claim_pages` on a scratch domain, as a toolstack claims memory
/// for a domain before populating it (see the module notes).
fn claim_checks(hv: &mut Hypervisor) {
    let mut config: XenDomctlCreatedomain = bytemuck::Zeroable::zeroed();
    config.max_vcpus = 1;
    config.max_evtchn_port = 1023;
    config.max_grant_frames = -1;
    config.max_maptrack_frames = -1;
    config.grant_opts = pv_tests::guest_abi::domctl::xen_domctl_grant_version(1);
    // An id of its own, so that the domUs still get d1, d2, ...
    let d = match domctl_with(DomctlCmd::Createdomain, CLAIM_DOMID, &config) {
        Ok(op) => op.domain,
        Err(e) => {
            fail(format_args!("claim: createdomain: {e}"));
            return;
        }
    };
    // 1024 pages at most.
    if let Err(e) = hv.max_mem(d, 4096) {
        fail(format_args!("claim: max_mem: {e}"));
    }
    let einval = Some(Errno::EINVAL);
    check_eq(errno_of(claim_pages(16, 1, 0, d)), einval, "claim with extent order 1");
    check_eq(errno_of(claim_pages(16, 0, 1, d)), einval, "claim with memory flags");
    check_eq(errno_of(claim_pages(16, 0, 0, DOMID_SELF)), einval, "claim for DOMID_SELF");
    check_eq(errno_of(claim_pages(16, 0, 0, DomId(0x7fef))), einval, "claim for no domain");
    check_eq(errno_of(claim_pages(1025, 0, 0, d)), einval, "claim above max_pages");
    let outstanding = |hv: &mut Hypervisor| {
        let dom = hv.get_domain_info(d).map(|i| (i.tot_pages, i.outstanding_pages)).ok();
        (dom, physinfo().map(|p| p.outstanding_pages).ok())
    };
    check_eq(claim_pages(256, 0, 0, d).ok(), Some(()), "XENMEM_claim_pages of 256 pages");
    check_eq(outstanding(hv), (Some((0, 256)), Some(256)), "claim: (tot, outstanding), physinfo");
    check_eq(errno_of(claim_pages(300, 0, 0, d)), einval, "a second claim");
    let mut extents: Vec<u64> = (0..16).collect();
    check_eq(hv.populate_physmap(d, &mut extents).ok(), Some(16), "claim: populate 16 pages");
    check_eq(outstanding(hv), (Some((16, 240)), Some(240)), "claim consumed by populate");
    check_eq(claim_pages(0, 0, 0, d).ok(), Some(()), "a claim of 0 cancels");
    check_eq(outstanding(hv), (Some((16, 0)), Some(0)), "claim cancelled");
    // More than is free: -ENOMEM.
    if let Err(e) = hv.max_mem(d, u64::MAX) {
        fail(format_args!("claim: max_mem: {e}"));
    }
    let free = physinfo().map_or(0, |p| p.free_pages);
    let over = claim_pages(free.saturating_add(17), 0, 0, d);
    check_eq(errno_of(over), Some(Errno::ENOMEM), "claim over the free memory");
    check_eq(outstanding(hv), (Some((16, 0)), Some(0)), "nothing claimed");
    if let Err(e) = hv.destroy(d) {
        fail(format_args!("claim: destroy d{}: {e}", d.0));
    }
}

/// Waits until every domU in `running` has shut down and is destroyed.
fn wait(hv: &mut Hypervisor, exc: Option<EvtchnPort>, running: &mut Vec<Running>) {
    while !running.is_empty() {
        if let Some(port) = exc {
            evtchn::clear_pending(port);
        }
        let busy = hv.rings.service();
        let mut i = 0;
        while let Some(r) = running.get(i) {
            let (domid, n) = (r.domid, r.n);
            match hv.get_domain_info(domid) {
                Ok(info) if info.flags & XEN_DOMINF_shutdown != 0 => {
                    println!("domU d{}: shutdown {}", domid.0, reason_name(info.shutdown_code()));
                    if let Err(e) = hv.destroy(domid) {
                        fail(format_args!("domU d{}: destroy: {e}", domid.0));
                    }
                    running.remove(i);
                }
                Ok(info) if info.flags & XEN_DOMINF_dying != 0 => {
                    fail(format_args!("domU d{} (domU-{n}) is dying without a shutdown", domid.0));
                    running.remove(i);
                }
                Ok(_) => i = i.saturating_add(1),
                Err(e) => {
                    fail(format_args!("domU d{} (domU-{n}): getdomaininfo: {e}", domid.0));
                    running.remove(i);
                }
            }
        }
        if running.is_empty() {
            break;
        }
        let ports: Vec<EvtchnPort> = exc.into_iter().chain(hv.rings.ports()).collect();
        let waited = match exc {
            Some(_) if !busy => evtchn::sched_poll(&ports, 0),
            _ => pv_tests::ops::sched_yield(),
        };
        if let Err(e) = waited {
            fail(format_args!("waiting for VIRQ_DOM_EXC: {e}"));
            return;
        }
    }
}
