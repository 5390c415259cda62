// SPDX-License-Identifier: GPL-2.0-only
//! `pv-memory`: `memory_op` (Xen's `common/memory.c` and the x86 memory
//! maps), positive and negative, with the M2P checked after every change.
//!
//! The kernel works with frames it owns but that the builder never mapped
//! (PFNs just below `nr_pages`, [`InitialMapping::spare`]); it keeps its
//! P2M list up to date as Linux does, and looks at frames through a
//! page-aligned `.bss` window remapped with `update_va_mapping`.
//!
//! * Queries: `current_reservation` is `nr_pages` (by `DOMID_SELF` and by
//!   id), `maximum_reservation` at least that, `maximum_ram_page` above
//!   every frame of the domain, `maximum_gpfn` from `shared_info`'s
//!   `max_pfn`; another domain is `-ESRCH`, an unreadable argument
//!   `-EFAULT`.
//! * Maps: `machphys_mapping` (the read-only M2P's range, `max_mfn` the
//!   machine's highest frame as in Xen without memory hotplug),
//!   `machphys_mfn_list`, `memory_map` (`-ENOSYS`, or a map),
//!   `machine_memory_map` (sorted, with RAM; a buffer without room for one
//!   more entry is `-EINVAL`); bad pointers are `-EFAULT`.
//! * Reservations: `decrease_reservation` of a spare frame (gone from the
//!   M2P, no longer mappable, the reservation one lower); a mapped kernel
//!   frame (Xen drops its allocation, 1 done, the frame lives on while
//!   mapped; ours refuses, 0 done: a documented deviation); refusals of a
//!   frame not the domain's, a bad order, another domain and bad list
//!   pointers (0 extents done); `increase_reservation` up to `max_pages` and
//!   back; `populate_physmap` back at the PFN (M2P set, the new frame reads
//!   as zero, or is the frame just given up with this domain's own data:
//!   Xen scrubs only a dying domain's frames).
//! * `XENMEM_exchange`: two order-0 frames for one order-1 extent below
//!   4 GiB (contiguous, aligned MFNs, M2P set, the old frames gone, the
//!   reservation unchanged), and back; refusals with Xen's error codes
//!   (`nr_exchanged` past the end, sizes or domains that differ, an order
//!   beyond `max_order` (`-EPERM`),
//!   another domain, bad pointers, frames the domain cannot give up,
//!   a frame named twice, an impossible address limit), after which the
//!   frames are still the domain's.
//! * The M2P of every PFN of the domain is that PFN, before and after.
#![no_std]
#![no_main]

use core::arch::global_asm;
use core::mem::offset_of;

use pv_tests::fault;
use pv_tests::guest_abi::memory::{
    E820_RAM, E820Entry, MemoryOp, XenMachphysMapping, XenMachphysMfnList, XenMemoryDomain,
    XenMemoryExchange, XenMemoryMap, XenMemoryReservation, xenmemf_address_bits,
};
use pv_tests::guest_abi::xen::{
    ArchSharedInfo, DOMID_SELF, DomId, Errno, Hypercall, MACH2PHYS_NR_ENTRIES, MACH2PHYS_VIRT_END,
    MACH2PHYS_VIRT_START, SharedInfo, UVMF_INVLPG,
};
use pv_tests::hypercall::{hypercall2, hypercall3};
use pv_tests::ops::Ret;
use pv_tests::pt::{self, InitialMapping, PAGE_SIZE, Read, maddr, peek, poke, slot};
use pv_tests::{StartInfo, check, check_eq, println, shinfo};

pv_tests::test_kernel!(name: "memory", main: test_main);

/// The M2P's and the P2M's "no frame" value.
const INVALID: u64 = u64::MAX;
/// A domain that does not exist.
const OTHER_DOMAIN: DomId = DomId(5);
/// The hypervisor image's first frame on this hypervisor (physical 2 MiB):
/// never the domain's.
const XEN_IMAGE_MFN: u64 = 0x200;
/// An address in the hypervisor's range: outside guest space.
const HYPERVISOR_ADDRESS: u64 = 0xFFFF_8000_0000_0000;
/// An unmapped low address.
const UNMAPPED: u64 = 0x1000;
/// An extent order above Xen's `MAX_ORDER`.
const BAD_ORDER: u32 = 21;
/// A writable data mapping (present, RW, user, accessed).
const DATA_RW: u64 = 0x1 | 0x2 | 0x4 | 0x20;
/// A pattern written into frames before they are given up.
const PATTERN: u64 = 0x5a5a_1234_8765_a5a5;

const INCREASE: MemoryOp = MemoryOp::IncreaseReservation;
const DECREASE: MemoryOp = MemoryOp::DecreaseReservation;
const POPULATE: MemoryOp = MemoryOp::PopulatePhysmap;

global_asm!(
    ".pushsection .bss.pv_memory_window, \"aw\", @nobits",
    ".balign 4096",
    "pv_memory_window:",
    "    .skip 4096",
    ".popsection",
);

unsafe extern "C" {
    /// The window (only its address is used; the kernel reaches it through
    /// [`peek`] and [`poke`]).
    #[link_name = "pv_memory_window"]
    static mut WINDOW: [u8; 4096];
}

fn window() -> u64 {
    (&raw mut WINDOW).addr() as u64
}

fn neg(e: Errno) -> i64 {
    e.as_neg_i64()
}

/// `memory_op(cmd, arg)` with a raw argument.
fn memory_op_raw(cmd: MemoryOp, arg: u64) -> i64 {
    // SAFETY: the memory_op commands used here read and write only the
    // argument structure and the lists it points to, all the kernel's own
    // (or addresses the hypervisor must refuse), and change only frames the
    // kernel set aside.
    unsafe { hypercall2(Hypercall::MemoryOp.raw(), u64::from(cmd.raw()), arg) }
}

/// `memory_op(cmd, &arg)`.
fn memory_op<T>(cmd: MemoryOp, arg: &mut T) -> i64 {
    memory_op_raw(cmd, core::ptr::from_mut(arg).expose_provenance() as u64)
}

/// A reservation argument for `list` (a raw address, so that bad ones can
/// be passed too).
fn res(list: u64, nr: u64, order: u32, flags: u32, domid: DomId) -> XenMemoryReservation {
    XenMemoryReservation::new(list, nr, order, flags, domid)
}

fn addr_of(list: &mut [u64]) -> u64 {
    list.as_mut_ptr().expose_provenance() as u64
}

/// A reservation command over `list` (all of it, order `order`).
fn reserve(op: MemoryOp, list: &mut [u64], order: u32, domid: DomId) -> i64 {
    let nr = list.len() as u64;
    let mut r = res(addr_of(list), nr, order, 0, domid);
    memory_op(op, &mut r)
}

fn update_va_mapping(va: u64, pte: u64) -> i64 {
    // SAFETY: only the kernel's own window is remapped.
    unsafe { hypercall3(Hypercall::UpdateVaMapping.raw(), va, pte, UVMF_INVLPG) }
}

/// Maps `mfn` at the window.
fn map(mfn: u64) -> i64 {
    update_va_mapping(window(), maddr(mfn) | DATA_RW)
}

fn unmap() {
    let ret = update_va_mapping(window(), 0);
    if ret != 0 {
        pv_tests::fail(format_args!("unmapping the window: {}", Ret(ret)));
    }
}

/// Whether frame `mfn` can be mapped and reads as zero throughout.
fn reads_zero(mfn: u64) -> Result<bool, i64> {
    let ret = map(mfn);
    if ret != 0 {
        return Err(ret);
    }
    let zero = (0..PAGE_SIZE / 8).all(|i| peek(slot(window(), i)) == Ok(0));
    unmap();
    Ok(zero)
}

/// Whether frame `mfn` holds what [`dirty`] left: [`PATTERN`] at word 7, zero elsewhere.
fn holds_pattern(mfn: u64) -> bool {
    if map(mfn) != 0 {
        return false;
    }
    let ok =
        (0..PAGE_SIZE / 8).all(|i| peek(slot(window(), i)) == Ok(if i == 7 { PATTERN } else { 0 }));
    unmap();
    ok
}

/// Writes [`PATTERN`] into `mfn` (so that a scrub shows) and unmaps it.
fn dirty(mfn: u64) {
    let ret = map(mfn);
    let fault = (ret == 0).then(|| poke(slot(window(), 7), PATTERN)).flatten();
    check(ret == 0 && fault.is_none(), format_args!("frame {mfn:#x} writable: {}", Ret(ret)));
    if ret == 0 {
        unmap();
    }
}

/// Sets P2M entry `pfn` (the kernel's list, as Linux keeps it).
fn set_p2m(mm: &InitialMapping, pfn: u64, mfn: u64) {
    let fault = poke(slot(mm.p2m, pfn), mfn);
    check(fault.is_none(), format_args!("P2M entry {pfn:#x} writable"));
}

fn domain_query(op: MemoryOp, domid: DomId) -> i64 {
    let mut d = XenMemoryDomain { domid };
    memory_op(op, &mut d)
}

fn current() -> i64 {
    domain_query(MemoryOp::CurrentReservation, DOMID_SELF)
}

fn test_main(si: &StartInfo) {
    if let Err(e) = fault::install() {
        pv_tests::error(format_args!("set_trap_table: {e}"));
        return;
    }
    let Some(mm) = InitialMapping::new(si) else {
        pv_tests::error("cannot work out the initial mapping from start_info");
        return;
    };
    if let Err(e) = shinfo::map(si) {
        pv_tests::error(format_args!("mapping shared_info: {e}"));
        return;
    }
    fault::set_cr2_source(shinfo::address());
    let spares: Option<[(u64, u64); 3]> = (|| Some([mm.spare(0)?, mm.spare(1)?, mm.spare(2)?]))();
    let Some(spares) = spares else {
        pv_tests::error("no spare frames above the initial mapping");
        return;
    };
    println!(
        "{} pages, initial mapping below pfn {:#x}, spare (pfn, mfn) {spares:x?}, window {:#x}",
        mm.nr_pages,
        mm.mapped_limit,
        window()
    );
    m2p_consistent(&mm, "at boot");
    queries(si, &mm);
    maps();
    reservations(&mm, spares[0]);
    m2p_consistent(&mm, "after the reservation changes");
    exchange(&mm, spares[2], spares[1]);
    m2p_consistent(&mm, "after the exchanges");
    check_eq(current(), si.nr_pages.cast_signed(), "the reservation is back where it started");
}

/// The M2P of every PFN of the domain with a frame is that PFN.
fn m2p_consistent(mm: &InitialMapping, when: &str) {
    let (bad, first_bad) = mm.m2p_mismatches(Some(INVALID));
    check(
        bad == 0,
        format_args!(
            "{when}: m2p[p2m[pfn]] == pfn for all {} pfns ({bad} wrong, first {first_bad:x?})",
            mm.nr_pages
        ),
    );
}

fn queries(si: &StartInfo, mm: &InitialMapping) {
    let nr = si.nr_pages.cast_signed();
    check_eq(current(), nr, "current_reservation(DOMID_SELF) is nr_pages");
    check_eq(domain_query(MemoryOp::CurrentReservation, DomId(0)), nr, "... and by id 0");
    let max = domain_query(MemoryOp::MaximumReservation, DOMID_SELF);
    check(max >= nr, format_args!("maximum_reservation {} >= nr_pages {nr}", Ret(max)));
    for op in [MemoryOp::CurrentReservation, MemoryOp::MaximumReservation, MemoryOp::MaximumGpfn] {
        check_eq(domain_query(op, OTHER_DOMAIN), neg(Errno::ESRCH), format_args!("{op:?} of dom5"));
        check_eq(memory_op_raw(op, 0), neg(Errno::EFAULT), format_args!("{op:?} from NULL"));
    }
    let max_page = memory_op_raw(MemoryOp::MaximumRamPage, 0);
    let highest = (0..mm.nr_pages).filter_map(|p| mm.mfn(p)).max().unwrap_or(0);
    check(
        u64::try_from(max_page).is_ok_and(|m| m > highest),
        format_args!("maximum_ram_page {} above the highest frame {highest:#x}", Ret(max_page)),
    );
    // maximum_gpfn: max_pfn - 1 from shared_info (as Linux sets it).
    let max_pfn_offset =
        offset_of!(SharedInfo, arch).wrapping_add(offset_of!(ArchSharedInfo, max_pfn));
    let max_pfn_va = shinfo::address().wrapping_add(max_pfn_offset as u64);
    let before = peek(max_pfn_va).unwrap_or(0);
    check_eq(
        domain_query(MemoryOp::MaximumGpfn, DOMID_SELF),
        before.max(1).wrapping_sub(1).cast_signed(),
        "maximum_gpfn is shared_info's max_pfn - 1",
    );
    let fault = poke(max_pfn_va, si.nr_pages);
    check(fault.is_none(), "shared_info.arch.max_pfn writable");
    check_eq(
        domain_query(MemoryOp::MaximumGpfn, DOMID_SELF),
        nr.wrapping_sub(1),
        "maximum_gpfn after setting max_pfn = nr_pages",
    );
}

fn maps() {
    let mut m = XenMachphysMapping { v_start: 0, v_end: 0, max_mfn: 0 };
    check_eq(memory_op(MemoryOp::MachphysMapping, &mut m), 0, "machphys_mapping");
    // Without memory hotplug Xen reports the machine's highest frame
    // (`max_page - 1`), not the table's.
    let max_page = memory_op_raw(MemoryOp::MaximumRamPage, 0);
    check_eq(
        (m.v_start, m.v_end, m.max_mfn),
        (MACH2PHYS_VIRT_START, MACH2PHYS_VIRT_END, max_page.cast_unsigned().wrapping_sub(1)),
        "machphys_mapping: the read-only M2P, up to maximum_ram_page - 1",
    );
    check(m.max_mfn < MACH2PHYS_NR_ENTRIES, "within the M2P");
    check_eq(
        memory_op_raw(MemoryOp::MachphysMapping, HYPERVISOR_ADDRESS),
        neg(Errno::EFAULT),
        "machphys_mapping into the hypervisor's range",
    );

    let mut chunks = [0u64; 64];
    let mut l = XenMachphysMfnList {
        max_extents: 64,
        pad0: 0,
        extent_start: addr_of(&mut chunks),
        nr_extents: 0,
        pad1: 0,
    };
    check_eq(memory_op(MemoryOp::MachphysMfnList, &mut l), 0, "machphys_mfn_list");
    let n = usize::try_from(l.nr_extents).unwrap_or(usize::MAX);
    check(
        (1..=64).contains(&n) && chunks.iter().take(n).all(|&c| c != 0 && c != INVALID),
        format_args!("machphys_mfn_list: {n} chunks, first {:#x}", chunks[0]),
    );
    let first = chunks[0];
    chunks = [0; 64];
    l.max_extents = 1;
    check_eq(memory_op(MemoryOp::MachphysMfnList, &mut l), 0, "machphys_mfn_list of 1");
    check_eq((l.nr_extents, chunks[0], chunks[1]), (1, first, 0), "... gives the first only");
    l.extent_start = HYPERVISOR_ADDRESS;
    l.max_extents = 64;
    check_eq(
        memory_op(MemoryOp::MachphysMfnList, &mut l),
        neg(Errno::EFAULT),
        "machphys_mfn_list into the hypervisor's range",
    );

    let mut e820 = [E820Entry { addr: 0, size: 0, ty: 0 }; 128];
    let buffer = e820.as_mut_ptr().expose_provenance() as u64;
    let mut map = XenMemoryMap { nr_entries: 128, pad0: 0, buffer };
    let ret = memory_op(MemoryOp::MemoryMap, &mut map);
    check(
        ret == neg(Errno::ENOSYS) || (ret == 0 && map.nr_entries > 0),
        format_args!("memory_map: {} ({} entries)", Ret(ret), map.nr_entries),
    );

    let mut map = XenMemoryMap { nr_entries: 128, pad0: 0, buffer };
    check_eq(memory_op(MemoryOp::MachineMemoryMap, &mut map), 0, "machine_memory_map (dom0)");
    let n = usize::try_from(map.nr_entries).unwrap_or(usize::MAX).min(e820.len());
    let entries = e820.get(..n).unwrap_or(&[]);
    let sorted = entries.windows(2).all(|w| match w {
        [a, b] => {
            let (a_addr, a_size, b_addr) = (a.addr, a.size, b.addr);
            a_addr.saturating_add(a_size) <= b_addr
        }
        _ => true,
    });
    let ram = entries.iter().any(|e| {
        let (ty, size) = (e.ty, e.size);
        ty == E820_RAM && size > 0
    });
    check(
        n > 0 && sorted && ram,
        format_args!("machine_memory_map: {n} entries, sorted {sorted}, with RAM {ram}"),
    );
    let mut tight = XenMemoryMap { nr_entries: map.nr_entries, pad0: 0, buffer };
    check_eq(
        memory_op(MemoryOp::MachineMemoryMap, &mut tight),
        neg(Errno::EINVAL),
        "machine_memory_map without room for one more entry",
    );
    let mut bad = XenMemoryMap { nr_entries: 128, pad0: 0, buffer: HYPERVISOR_ADDRESS };
    check_eq(
        memory_op(MemoryOp::MachineMemoryMap, &mut bad),
        neg(Errno::EFAULT),
        "machine_memory_map into the hypervisor's range",
    );
    check_eq(
        memory_op_raw(MemoryOp::MachineMemoryMap, UNMAPPED),
        neg(Errno::EFAULT),
        "machine_memory_map from an unmapped argument",
    );
}

fn reservations(mm: &InitialMapping, (pfn, mfn): (u64, u64)) {
    let start = current();
    let kernel_mfn = mm.va_to_mfn(pv_tests::entry::hypercall_page_address()).unwrap_or(0);
    dirty(mfn);

    // A frame still mapped: Xen drops the domain's allocation reference
    // (1 extent done) and frees the frame only at its last reference, so
    // the reservation stays; ours refuses it (0 done), a documented
    // deviation (`hypervisor/core/src/pv/hypercall/memory.rs`). Either way
    // the kernel keeps running on it.
    let done = reserve(DECREASE, &mut [kernel_mfn], 0, DOMID_SELF);
    check(done == 0 || done == 1, format_args!("decrease a mapped kernel frame: {done}"));
    // Refusals: nothing is done (0 extents), the frames stay.
    check_eq(reserve(DECREASE, &mut [XEN_IMAGE_MFN], 0, DOMID_SELF), 0, "decrease a Xen frame");
    check_eq(reserve(DECREASE, &mut [mfn], BAD_ORDER, DOMID_SELF), 0, "decrease, order 21");
    check_eq(reserve(DECREASE, &mut [mfn], 0, OTHER_DOMAIN), 0, "decrease for dom5");
    let mut r = res(HYPERVISOR_ADDRESS, 1, 0, 0, DOMID_SELF);
    check_eq(memory_op(DECREASE, &mut r), 0, "decrease, list in the hypervisor's range");
    let mut r = res(UNMAPPED, 1, 0, 0, DOMID_SELF);
    check_eq(memory_op(DECREASE, &mut r), 0, "decrease, unmapped list");
    check_eq(memory_op_raw(DECREASE, UNMAPPED), 0, "decrease, unmapped argument");
    check_eq(current(), start, "nothing was released");
    check_eq(pt::m2p(mfn), Ok(pfn), "the spare frame is still at its pfn");

    // Give the spare frame up.
    check_eq(reserve(DECREASE, &mut [mfn], 0, DOMID_SELF), 1, "decrease_reservation of 1 frame");
    set_p2m(mm, pfn, INVALID);
    check_eq(current(), start.wrapping_sub(1), "the reservation is one lower");
    check_eq(pt::m2p(mfn), Ok(INVALID), "the frame left the M2P");
    check(map(mfn) != 0, "the frame can no longer be mapped");
    check_eq(reserve(DECREASE, &mut [mfn], 0, DOMID_SELF), 0, "decrease of the same frame again");

    // Populate refusals while there is room.
    let mut list = [pfn];
    check_eq(reserve(POPULATE, &mut list, BAD_ORDER, DOMID_SELF), 0, "populate, order 21");
    check_eq(reserve(POPULATE, &mut list, 0, OTHER_DOMAIN), 0, "populate for dom5");
    let mut r = res(HYPERVISOR_ADDRESS, 1, 0, 0, DOMID_SELF);
    check_eq(memory_op(POPULATE, &mut r), 0, "populate, list in the hypervisor's range");
    check_eq(memory_op_raw(POPULATE, 0), 0, "populate, NULL argument");
    check_eq(reserve(INCREASE, &mut [0], BAD_ORDER, DOMID_SELF), 0, "increase, order 21");
    check_eq(reserve(INCREASE, &mut [0], 0, OTHER_DOMAIN), 0, "increase for dom5");
    check_eq(current(), start.wrapping_sub(1), "nothing was allocated");

    // increase_reservation up to max_pages, and back.
    let max = domain_query(MemoryOp::MaximumReservation, DOMID_SELF);
    if max == start {
        let mut got = [0u64];
        check_eq(reserve(INCREASE, &mut got, 0, DOMID_SELF), 1, "increase_reservation of 1");
        let new = got[0];
        check(new != 0 && new != INVALID, format_args!("increase reported mfn {new:#x}"));
        check_eq(current(), start, "the reservation is back at max_pages");
        check_eq(reserve(INCREASE, &mut [0], 0, DOMID_SELF), 0, "increase beyond max_pages");
        check_eq(reads_zero(new), Ok(true), "the increased frame reads as zero");
        check_eq(reserve(DECREASE, &mut [new], 0, DOMID_SELF), 1, "decrease it again");
    } else {
        println!("max_pages {max} is not nr_pages: increase_reservation not checked");
    }

    // Populate the PFN again.
    check_eq(reserve(POPULATE, &mut list, 0, DOMID_SELF), 1, "populate_physmap of the pfn");
    let new = list[0];
    set_p2m(mm, pfn, new);
    check(new != pfn && new != INVALID, format_args!("populate reported mfn {new:#x}"));
    check_eq(pt::m2p(new), Ok(pfn), "the new frame's M2P entry is the pfn");
    check_eq(current(), start, "the reservation is back");
    // Xen scrubs only a dying domain's frames: the frame this domain just
    // gave up may come back with its own data. Ours scrubs every release.
    let zero = reads_zero(new);
    check(
        zero == Ok(true) || (new == mfn && holds_pattern(new)),
        format_args!("the populated frame reads as zero, or is the given-up one as left: {zero:?}"),
    );
    if new != mfn {
        check(map(mfn) != 0, "the old frame is still not the domain's");
    }
}

/// `XENMEM_exchange`: the result and `nr_exchanged` read back.
fn exchange_op(
    input: XenMemoryReservation,
    output: XenMemoryReservation,
    nr_exchanged: u64,
) -> (i64, u64) {
    let mut x = XenMemoryExchange { input, output, nr_exchanged };
    let ret = memory_op(MemoryOp::Exchange, &mut x);
    (ret, x.nr_exchanged)
}

/// Exchanges the spare frames at `lo` and `hi` (PFNs `p` and `p + 1`).
fn exchange(mm: &InitialMapping, lo: (u64, u64), hi: (u64, u64)) {
    let (p, p1) = (lo.0, hi.0);
    if p1 != p.wrapping_add(1) {
        pv_tests::error(format_args!("spare pfns {p:#x} and {p1:#x} are not consecutive"));
        return;
    }
    let start = current();
    let (m0, m1) = (lo.1, hi.1);
    dirty(m0);
    dirty(m1);
    let bits32 = xenmemf_address_bits(32);

    // Two order-0 frames for one order-1 extent below 4 GiB (Linux's
    // xen_create_contiguous_region).
    let mut input = [m0, m1];
    let mut output = [p];
    let i = res(addr_of(&mut input), 2, 0, 0, DOMID_SELF);
    let o = res(addr_of(&mut output), 1, 1, bits32, DOMID_SELF);
    check_eq(exchange_op(i, o, 0), (0, 2), "exchange 2 x order 0 for 1 x order 1 below 4 GiB");
    let pair = output[0];
    set_p2m(mm, p, pair);
    set_p2m(mm, p1, pair.wrapping_add(1));
    check(
        pair.is_multiple_of(2) && pair.wrapping_add(2) <= 1 << 20,
        format_args!("the new extent {pair:#x} is aligned and below 4 GiB"),
    );
    check_eq(
        (pt::m2p(pair), pt::m2p(pair.wrapping_add(1))),
        (Ok(p), Ok(p1)),
        "the new frames' M2P entries are p and p + 1",
    );
    check_eq((pt::m2p(m0), pt::m2p(m1)), (Ok(INVALID), Ok(INVALID)), "the old frames left the M2P");
    check(map(m0) != 0 && map(m1) != 0, "the old frames can no longer be mapped");
    check_eq(current(), start, "the reservation is unchanged");
    for m in [pair, pair.wrapping_add(1)] {
        check_eq(reads_zero(m), Ok(true), format_args!("new frame {m:#x} reads as zero"));
    }

    // And back: one order-1 extent for two order-0 frames (Linux's
    // xen_destroy_contiguous_region).
    dirty(pair);
    let mut input = [pair];
    let mut output = [p, p1];
    let i = res(addr_of(&mut input), 1, 1, 0, DOMID_SELF);
    let o = res(addr_of(&mut output), 2, 0, 0, DOMID_SELF);
    check_eq(exchange_op(i, o, 0), (0, 1), "exchange 1 x order 1 for 2 x order 0");
    let (n0, n1) = (output[0], output[1]);
    set_p2m(mm, p, n0);
    set_p2m(mm, p1, n1);
    check_eq((pt::m2p(n0), pt::m2p(n1)), (Ok(p), Ok(p1)), "the M2P of the two new frames");
    check_eq(pt::m2p(pair), Ok(INVALID), "the pair left the M2P");
    check(map(pair) != 0, "the pair can no longer be mapped");
    check_eq(current(), start, "the reservation is still unchanged");

    exchange_refusals(mm, (p, n0), (p1, n1));
}

/// The refused exchanges; the frames at `a` and `b` stay the domain's.
fn exchange_refusals(mm: &InitialMapping, a: (u64, u64), b: (u64, u64)) {
    let kernel_mfn = mm.va_to_mfn(pv_tests::entry::hypercall_page_address()).unwrap_or(0);
    let mut output = [a.0];
    let out = addr_of(&mut output);
    let o = res(out, 1, 1, 0, DOMID_SELF);
    let mut input = [a.1, b.1];
    let inp = addr_of(&mut input);
    let i = res(inp, 2, 0, 0, DOMID_SELF);
    let einval = neg(Errno::EINVAL);
    check_eq(exchange_op(i, o, 3), (einval, 3), "exchange with nr_exchanged past the end");
    check_eq(
        exchange_op(i, res(out, 1, 0, 0, DOMID_SELF), 0),
        (einval, 0),
        "exchange of 2 pages for 1",
    );
    check_eq(
        exchange_op(
            res(inp, 2, BAD_ORDER, 0, DOMID_SELF),
            res(out, 2, BAD_ORDER, 0, DOMID_SELF),
            0,
        ),
        (neg(Errno::EPERM), 0),
        "exchange with order 21 (beyond max_order: -EPERM before other checks)",
    );
    check_eq(
        exchange_op(i, res(out, 1, 1, 0, DomId(0)), 0),
        (einval, 0),
        "exchange with different domain ids",
    );
    check_eq(
        exchange_op(res(inp, 2, 0, 0, OTHER_DOMAIN), res(out, 1, 1, 0, OTHER_DOMAIN), 0),
        (neg(Errno::ESRCH), 0),
        "exchange for dom5",
    );
    check_eq(
        exchange_op(res(HYPERVISOR_ADDRESS, 2, 0, 0, DOMID_SELF), o, 0),
        (neg(Errno::EFAULT), 0),
        "exchange with the input list in the hypervisor's range",
    );
    check_eq(
        exchange_op(i, res(HYPERVISOR_ADDRESS, 1, 1, 0, DOMID_SELF), 0),
        (neg(Errno::EFAULT), 0),
        "exchange with the output list in the hypervisor's range",
    );
    check_eq(
        exchange_op(res(UNMAPPED, 2, 0, 0, DOMID_SELF), o, 0),
        (neg(Errno::EFAULT), 0),
        "exchange with an unmapped input list",
    );
    check_eq(
        memory_op_raw(MemoryOp::Exchange, UNMAPPED),
        neg(Errno::EFAULT),
        "exchange from an unmapped argument",
    );
    for (bad, what) in [
        ([a.1, XEN_IMAGE_MFN], "a Xen frame"),
        ([kernel_mfn, b.1], "a mapped kernel frame"),
        ([a.1, a.1], "a frame named twice"),
    ] {
        let mut list = bad;
        let i = res(addr_of(&mut list), 2, 0, 0, DOMID_SELF);
        check_eq(exchange_op(i, o, 0), (einval, 0), format_args!("exchange of {what}"));
    }
    check_eq(
        exchange_op(i, res(out, 1, 1, xenmemf_address_bits(13), DOMID_SELF), 0),
        (neg(Errno::ENOMEM), 0),
        "exchange for an extent below 8 KiB",
    );
    check_eq(
        (pt::m2p(a.1), pt::m2p(b.1)),
        (Ok(a.0), Ok(b.0)),
        "after the refusals the frames are still at their pfns",
    );
    check_eq(output[0], a.0, "the output list was not written");
    for m in [a.1, b.1] {
        let ret = map(m);
        check_eq(ret, 0, format_args!("frame {m:#x} still maps"));
        if ret == 0 {
            let read = peek(window());
            check(read.is_ok(), format_args!("frame {m:#x} reads: {}", Read(read)));
            unmap();
        }
    }
}
