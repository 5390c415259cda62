// SPDX-License-Identifier: GPL-2.0-only
//! `pv-mmu`: the PV MMU hypercalls and the attacks on them (Xen's
//! `arch/x86/mm.c`, `pv/mm.c`, `pv/descriptor-tables.c`).
//!
//! The kernel works with frames it owns but that the builder never mapped
//! (PFNs just below `nr_pages`) and with a few page-aligned `.bss` windows
//! whose L1 entries exist in the bootstrap page tables. Every memory access
//! that may fault goes through [`pv_tests::probe!`], so a bounced `#PF` is
//! checked rather than fatal.
//!
//! Positive paths:
//!
//! * `update_va_mapping`: map a spare frame RW, write and read it, remap it
//!   read-only (a write raises `#PF` with `cr2` in `vcpu_info`), unmap it;
//! * `mmu_update` on the same PTE in batches of 1 and 16 (`*pdone` counts
//!   the requests done, also when one in the middle fails);
//!   `MMU_MACHPHYS_UPDATE` shows in the read-only M2P, and the M2P of every
//!   PFN of the domain is that PFN;
//! * `mmuext_op`: pin a zeroed frame as L1 (twice: `-EINVAL`), map it
//!   read-only, hook it into the bootstrap L2 and map through it, unpin;
//!   `TLB_FLUSH_LOCAL`, `INVLPG_LOCAL`, `*pdone`;
//! * grant tables: `setup_table` gives a frame that maps RW, `query_size`,
//!   `set_version`;
//! * `set_gdt` with a read-only zeroed frame, `update_descriptor` of code
//!   and data descriptors (DPL raised to 3).
//!
//! Attacks, each refused with Xen's error code and the guest still running:
//! (a) mapping the L4 writable, (b) mapping any bootstrap page-table frame
//! writable (also by upgrading its existing read-only PTE), (c) PTEs to
//! frames the domain does not own (the hypervisor image, beyond memory) and
//! `mmu_update` of a PTE inside such a frame, (d) writing the hypervisor's
//! L4 slots 256–271, (e) a writable self-map of the L4 (a read-only one
//! works and is itself read-only), (f) pinning a writable-mapped frame as an
//! L1 and mapping a pinned L1 writable, (g) unpinning an unpinned frame,
//! (h) an L2 superpage, (i) writing the M2P and touching hypervisor memory
//! (`#PF`), (j) `update_va_mapping` in the hypervisor hole, (k) a foreign
//! `foreigndom`, (l) `NEW_BASEPTR` with a non-L4, (m) GDT frames mapped
//! writable, system descriptors, descriptors written into page tables.
#![no_std]
#![no_main]

use core::arch::global_asm;

use pv_tests::fault::{self, Outcome, PF, PFEC_PRESENT, PFEC_WRITE};
use pv_tests::guest_abi::grant_table::{
    GntSt, GnttabOp, GnttabQuerySize, GnttabSetVersion, GnttabSetupTable,
};
use pv_tests::guest_abi::xen::{
    DOMID_SELF, DomId, Errno, HYPERVISOR_VIRT_START, Hypercall, MACH2PHYS_VIRT_START, MmuUpdate,
    MmuextCmd, MmuextOp, UVMF_INVLPG,
};
use pv_tests::hypercall::{hypercall2, hypercall3, hypercall4};
use pv_tests::ops::{self, Ret};
use pv_tests::pt::{
    self, BOGUS_MFN, DATA_RO, DATA_RW, InitialMapping, PAGE_SHIFT, PAGE_SIZE, PTE_ACCESSED, PTE_P,
    PTE_PSE, PTE_RW, Read, XEN_IMAGE_MFN, maddr, peek, poke, pte_mfn, slot,
};
use pv_tests::{StartInfo, check, check_eq, println};

pv_tests::test_kernel!(name: "mmu", main: test_main);

/// VA `VIRT_BASE + (pfn << 12)` maps PFN `pfn` in the initial mapping.
const VIRT_BASE: u64 = pv_tests::entry::VIRT_BASE;
/// The read-only M2P (`m2p[mfn] = pfn`).
const M2P: u64 = MACH2PHYS_VIRT_START;

/// `mmu_update` commands in bits 1:0 of `ptr`.
const MMU_NORMAL_PT_UPDATE: u64 = 0;
const MMU_MACHPHYS_UPDATE: u64 = 1;

/// A domain that does not exist.
const OTHER_DOMAIN: u64 = 5;
/// The hypervisor's L4 slots (`ROOT_PAGETABLE_{FIRST,LAST}_XEN_SLOT`).
const FIRST_XEN_SLOT: u64 = 256;
const LAST_XEN_SLOT: u64 = 271;
/// An L4 slot in the guest kernel's half that the builder leaves empty.
const SELF_MAP_SLOT: u64 = 300;
/// Hypervisor-private addresses (Xen's direct map and text).
const XEN_DIRECTMAP: u64 = 0xffff_8300_0000_0000;
const XEN_TEXT: u64 = 0xffff_82d0_8020_0000;
/// PCI MMCFG area, L4 slot 257.
const XEN_SLOT_257: u64 = 0xffff_8080_0000_0000;

/// Patterns written into the spare frames.
const PATTERN_A: u64 = 0xaaaa_0000_1111_2222;
const PATTERN_A2: u64 = 0xaaaa_3333_4444_5555;
const PATTERN_B: u64 = 0xbbbb_6666_7777_8888;
const PATTERN_GNT: u64 = 0x1234_5678_0000_0000;

/// Descriptors: flat 4 GiB data and 64-bit code, DPL 0, and what they
/// become with the DPL raised to 3; a 64-bit TSS and an LDT descriptor.
const DESC_DATA_DPL0: u64 = 0x00cf_9300_0000_ffff;
const DESC_DATA_DPL3: u64 = 0x00cf_f300_0000_ffff;
const DESC_CODE64_DPL0: u64 = 0x00af_9b00_0000_ffff;
const DESC_CODE64_DPL3: u64 = 0x00af_fb00_0000_ffff;
const DESC_TSS: u64 = 0x0000_8900_0000_0067;
const DESC_LDT: u64 = 0x0000_8200_0000_0fff;
/// `FIRST_RESERVED_GDT_ENTRY`.
const FIRST_RESERVED_GDT_ENTRY: u64 = 14 * 512;

/// Page-aligned `.bss` windows, mapped by the builder like the rest of the
/// image, so their L1 entries exist.
const NR_WINDOWS: u64 = 8;
const W_SCRATCH: u64 = 0;
const W_SHINFO: u64 = 1;
const W_GNT: u64 = 2;
const W_GDT: u64 = 3;
const W_AUX: u64 = 4;
const W_A: u64 = 5;
const W_B: u64 = 6;

global_asm!(
    ".pushsection .bss.pv_mmu_windows, \"aw\", @nobits",
    ".balign 4096",
    "pv_mmu_windows:",
    "    .skip {size}",
    ".popsection",
    size = const NR_WINDOWS * PAGE_SIZE,
);

unsafe extern "C" {
    /// The windows (only their addresses are used; the kernel reaches them
    /// through [`peek`] and [`poke`]).
    #[link_name = "pv_mmu_windows"]
    static mut WINDOWS: [u8; 8 * 4096];
}

fn window(index: u64) -> u64 {
    ((&raw mut WINDOWS).addr() as u64).wrapping_add(index.wrapping_mul(PAGE_SIZE))
}

fn errno(e: Errno) -> i64 {
    e.as_neg_i64()
}

fn update_va_mapping(va: u64, val: u64) -> i64 {
    // SAFETY: update_va_mapping changes one PTE of the current page tables;
    // the kernel only remaps its windows and expects every other request to
    // be refused.
    unsafe { hypercall3(Hypercall::UpdateVaMapping.raw(), va, val, UVMF_INVLPG) }
}

/// `mmu_update(reqs, n, &done, foreigndom)`: the result and `*pdone`.
fn mmu_update_dom(reqs: &[MmuUpdate], foreigndom: u64) -> (i64, u32) {
    let mut done: u32 = u32::MAX;
    // SAFETY: Xen reads `reqs.len()` requests and writes one u32 to `done`;
    // the requests change only the windows' PTEs, the spare frames and the
    // M2P entries of the domain's own frames, or are meant to be refused.
    let ret = unsafe {
        hypercall4(
            Hypercall::MmuUpdate.raw(),
            reqs.as_ptr().addr() as u64,
            reqs.len() as u64,
            (&raw mut done).expose_provenance() as u64,
            foreigndom,
        )
    };
    (ret, done)
}

fn mmu_update(reqs: &[MmuUpdate]) -> (i64, u32) {
    mmu_update_dom(reqs, u64::from(DOMID_SELF.0))
}

/// One `MMU_NORMAL_PT_UPDATE`.
fn pt_update(ptr: u64, val: u64) -> i64 {
    mmu_update(&[MmuUpdate { ptr: ptr | MMU_NORMAL_PT_UPDATE, val }]).0
}

/// `mmuext_op(ops, n, &done, foreigndom)`: the result and `*pdone`.
fn mmuext_dom(ops: &[MmuextOp], foreigndom: u64) -> (i64, u32) {
    let mut done: u32 = u32::MAX;
    // SAFETY: Xen reads `ops.len()` operations and writes one u32 to `done`;
    // the operations pin, unpin and flush, or are meant to be refused.
    let ret = unsafe {
        hypercall4(
            Hypercall::MmuextOp.raw(),
            ops.as_ptr().addr() as u64,
            ops.len() as u64,
            (&raw mut done).expose_provenance() as u64,
            foreigndom,
        )
    };
    (ret, done)
}

fn mmuext(cmd: MmuextCmd, arg1: u64) -> i64 {
    mmuext_dom(&[MmuextOp::new(cmd, arg1, 0)], u64::from(DOMID_SELF.0)).0
}

fn invlpg(va: u64) {
    let ret = mmuext(MmuextCmd::InvlpgLocal, va);
    if ret != 0 {
        pv_tests::fail(format_args!("MMUEXT_INVLPG_LOCAL {va:#x}: {}", Ret(ret)));
    }
}

fn set_gdt(frames: &[u64], entries: u64) -> i64 {
    // SAFETY: set_gdt reads the frame list; the frames hold only zero or
    // checked descriptors, and the selectors in use are Xen's reserved ones.
    unsafe { hypercall2(Hypercall::SetGdt.raw(), frames.as_ptr().addr() as u64, entries) }
}

fn update_descriptor(ma: u64, desc: u64) -> i64 {
    // SAFETY: writes one checked descriptor into a frame of the domain's, or
    // is refused.
    unsafe { hypercall2(Hypercall::UpdateDescriptor.raw(), ma, desc) }
}

fn grant_table_op<T>(cmd: GnttabOp, arg: &mut T) -> i64 {
    // SAFETY: `arg` is the structure `cmd` reads and writes (count 1); the
    // frame list it may point to is the caller's.
    unsafe {
        hypercall3(
            Hypercall::GrantTableOp.raw(),
            u64::from(cmd.raw()),
            core::ptr::from_mut(arg).expose_provenance() as u64,
            1,
        )
    }
}

/// The domain's memory as the builder left it.
struct Mm {
    map: InitialMapping,
    /// VA of the initial L4.
    l4_va: u64,
    nr_pt_frames: u64,
    shared_info: u64,
}

impl core::ops::Deref for Mm {
    type Target = InitialMapping;
    fn deref(&self) -> &InitialMapping {
        &self.map
    }
}

impl Mm {
    fn new(si: &StartInfo) -> Option<Self> {
        Some(Self {
            map: InitialMapping::new(si)?,
            l4_va: si.pt_base,
            nr_pt_frames: si.nr_pt_frames,
            shared_info: si.shared_info,
        })
    }

    /// The MFN of the L2 table covering `va` in the current tables.
    fn l2_mfn(&self, va: u64) -> Option<u64> {
        let l4e = self.entry(self.l4_mfn, va.wrapping_shr(39) & 511)?;
        if l4e & PTE_P == 0 {
            return None;
        }
        let l3e = self.entry(pte_mfn(l4e), va.wrapping_shr(30) & 511)?;
        (l3e & PTE_P != 0).then_some(pte_mfn(l3e))
    }

    /// Machine address of the L1 entry mapping `va`.
    fn l1e_maddr(&self, va: u64) -> Option<u64> {
        let l2e = self.entry(self.l2_mfn(va)?, va.wrapping_shr(21) & 511)?;
        if l2e & PTE_P == 0 || l2e & PTE_PSE != 0 {
            return None;
        }
        Some(slot(maddr(pte_mfn(l2e)), va.wrapping_shr(12) & 511))
    }

    /// The current value of the L1 entry mapping `va`.
    fn l1e(&self, va: u64) -> Option<u64> {
        let ma = self.l1e_maddr(va)?;
        self.entry(ma.wrapping_shr(PAGE_SHIFT), (ma & 0xfff).wrapping_shr(3))
    }
}

/// The spare frames used.
struct Spares {
    a: u64,
    a_pfn: u64,
    b: u64,
    l1: u64,
    gdt: u64,
}

fn test_main(si: &StartInfo) {
    if let Err(e) = fault::install() {
        pv_tests::error(format_args!("set_trap_table: {e}"));
        return;
    }
    let Some(mm) = Mm::new(si) else {
        pv_tests::error("cannot work out the initial mapping from start_info");
        return;
    };
    let spares = (|| {
        let (a_pfn, a) = mm.spare(0)?;
        Some(Spares { a, a_pfn, b: mm.spare(1)?.1, l1: mm.spare(2)?.1, gdt: mm.spare(3)?.1 })
    })();
    let Some(sp) = spares else {
        pv_tests::error("no spare frames above the initial mapping");
        return;
    };
    println!(
        "L4 mfn {:#x}, {} pt frames, initial mapping below pfn {:#x}, spare mfns a {:#x} b {:#x} \
         l1 {:#x} gdt {:#x}, windows at {:#x}",
        mm.l4_mfn,
        mm.nr_pt_frames,
        mm.mapped_limit,
        sp.a,
        sp.b,
        sp.l1,
        sp.gdt,
        window(0)
    );
    shared_info(&mm);
    m2p(&mm);
    if !prepare_spares(&sp) {
        return;
    }
    update_va_mapping_paths(&mm, &sp);
    mmu_update_paths(&mm, &sp);
    mmuext_paths(&mm, &sp);
    attacks(&mm, &sp);
    grant_tables();
    descriptor_tables(&mm, &sp);
    let version = ops::xen_version();
    check(version.is_ok(), format_args!("xen_version still works: {version:?}"));
    let still = peek(window(W_A));
    check(
        still == Ok(PATTERN_A2),
        format_args!("spare frame a still mapped and intact: {}", Read(still)),
    );
}

/// Maps the shared-info page so that `#PF` records carry `cr2`.
fn shared_info(mm: &Mm) {
    let va = window(W_SHINFO);
    let ret = update_va_mapping(va, mm.shared_info | DATA_RW);
    check_eq(ret, 0, format_args!("update_va_mapping of shared_info {:#x} RW", mm.shared_info));
    if ret == 0 {
        fault::set_cr2_source(va.wrapping_add(16));
        let mask = peek(va).map(|w| w.wrapping_shr(8) & 0xff);
        check(mask == Ok(1), format_args!("vcpu_info[0].evtchn_upcall_mask is 1: {}", Read(mask)));
    }
}

/// The M2P of every PFN of the domain is that PFN.
fn m2p(mm: &Mm) {
    // Every PFN of the initial domain has a frame.
    let (bad, first_bad) = mm.m2p_mismatches(None);
    check(
        bad == 0,
        format_args!(
            "m2p[p2m[pfn]] == pfn for all {} pfns ({bad} wrong, first {first_bad:?})",
            mm.nr_pages
        ),
    );
    let kernel = pt::m2p(mm.va_to_mfn(pv_tests::entry::hypercall_page_address()).unwrap_or(0));
    check(
        kernel.is_ok_and(|pfn| pfn == 0x101),
        format_args!("the M2P entry of the hypercall page is pfn 0x101: {}", Read(kernel)),
    );
}

/// Maps spare frames a and b RW at their windows with known contents.
fn prepare_spares(sp: &Spares) -> bool {
    let ra = update_va_mapping(window(W_A), maddr(sp.a) | DATA_RW);
    let rb = update_va_mapping(window(W_B), maddr(sp.b) | DATA_RW);
    let ok = check(
        ra == 0 && rb == 0,
        format_args!("update_va_mapping of spare frames RW: {}, {}", Ret(ra), Ret(rb)),
    );
    if !ok {
        return false;
    }
    let fa = poke(window(W_A), PATTERN_A);
    let fb = poke(window(W_B), PATTERN_B);
    check(
        fa.is_none() && fb.is_none(),
        format_args!("spare frames writable: {}, {}", Outcome(fa), Outcome(fb)),
    )
}

fn update_va_mapping_paths(mm: &Mm, sp: &Spares) {
    let va = window(W_SCRATCH);
    let ret = update_va_mapping(va, maddr(sp.a) | DATA_RW);
    check_eq(ret, 0, "update_va_mapping(scratch, a | RW)");
    let read = peek(va);
    check(read == Ok(PATTERN_A), format_args!("scratch reads frame a: {}", Read(read)));
    let pte = mm.l1e(va);
    check(
        pte.is_some_and(|e| pte_mfn(e) == sp.a && e & (PTE_P | PTE_RW) == PTE_P | PTE_RW),
        format_args!("the L1 entry of scratch maps a RW: {pte:x?}"),
    );
    let fault = poke(va, PATTERN_A2);
    check(fault.is_none(), format_args!("write through scratch: {}", Outcome(fault)));
    let alias = peek(window(W_A));
    check(
        alias == Ok(PATTERN_A2),
        format_args!("the write shows through a's other mapping: {}", Read(alias)),
    );

    let ret = update_va_mapping(va, maddr(sp.a) | DATA_RO);
    check_eq(ret, 0, "update_va_mapping(scratch, a | RO)");
    let read = peek(va);
    check(read == Ok(PATTERN_A2), format_args!("read-only scratch reads a: {}", Read(read)));
    let fault = poke(va, 0);
    check(
        fault.is_some_and(|f| f.is(PF, PFEC_PRESENT | PFEC_WRITE) && f.cr2 == Some(va)),
        format_args!("write to read-only scratch raises #PF(P|W) with cr2: {}", Outcome(fault)),
    );
    check(peek(va) == Ok(PATTERN_A2), "the refused write changed nothing");

    let ret = update_va_mapping(va, 0);
    check_eq(ret, 0, "update_va_mapping(scratch, 0) unmaps");
    let read = peek(va);
    check(
        matches!(read, Err(f) if f.is(PF, 0) && f.cr2 == Some(va)),
        format_args!("read of unmapped scratch raises #PF(0): {}", Read(read)),
    );
}

fn mmu_update_paths(mm: &Mm, sp: &Spares) {
    let va = window(W_SCRATCH);
    let Some(ptr) = mm.l1e_maddr(va) else {
        pv_tests::error("no L1 entry for the scratch window");
        return;
    };
    let b_rw = maddr(sp.b) | DATA_RW;
    let a_rw = maddr(sp.a) | DATA_RW;
    let (ret, done) = mmu_update(&[MmuUpdate { ptr, val: b_rw }]);
    check(ret == 0 && done == 1, format_args!("mmu_update batch of 1: {}, done {done}", Ret(ret)));
    invlpg(va);
    let read = peek(va);
    check(read == Ok(PATTERN_B), format_args!("scratch now reads frame b: {}", Read(read)));

    // 16 updates of the same PTE: b, a, b, ..., a.
    let mut reqs = [MmuUpdate { ptr, val: b_rw }; 16];
    for (i, req) in (0u32..).zip(reqs.iter_mut()) {
        req.val = if i % 2 == 0 { b_rw } else { a_rw };
    }
    let (ret, done) = mmu_update(&reqs);
    check(
        ret == 0 && done == 16,
        format_args!("mmu_update batch of 16: {}, done {done}", Ret(ret)),
    );
    invlpg(va);
    let read = peek(va);
    check(
        read == Ok(PATTERN_A2),
        format_args!("the last of the 16 updates wins (frame a): {}", Read(read)),
    );

    // Request 8 maps the L4 writable: refused, 8 done, request 7 (b) stays.
    if let Some(bad) = reqs.get_mut(8) {
        bad.val = maddr(mm.l4_mfn) | DATA_RW;
    }
    if let Some(seventh) = reqs.get_mut(7) {
        seventh.val = b_rw;
    }
    let (ret, done) = mmu_update(&reqs);
    check(
        ret == errno(Errno::EBUSY) && done == 8,
        format_args!(
            "mmu_update batch of 16 failing at 8 (L4 writable): {} (-EBUSY), done {done} (8)",
            Ret(ret)
        ),
    );
    invlpg(va);
    let read = peek(va);
    check(
        read == Ok(PATTERN_B),
        format_args!("requests before the failure took effect (frame b): {}", Read(read)),
    );

    // MMU_MACHPHYS_UPDATE of a's M2P entry, then back.
    let update_m2p = |mfn: u64, pfn: u64| {
        mmu_update(&[MmuUpdate { ptr: maddr(mfn) | MMU_MACHPHYS_UPDATE, val: pfn }])
    };
    let (ret, done) = update_m2p(sp.a, 0x12345);
    check(
        ret == 0 && done == 1,
        format_args!("MMU_MACHPHYS_UPDATE m2p[a] = 0x12345: {}, done {done}", Ret(ret)),
    );
    let read = pt::m2p(sp.a);
    check(read == Ok(0x12345), format_args!("the RO M2P shows 0x12345: {}", Read(read)));
    let (ret, _) = update_m2p(sp.a, sp.a_pfn);
    check_eq(ret, 0, "MMU_MACHPHYS_UPDATE restores m2p[a]");
    let read = pt::m2p(sp.a);
    check(read == Ok(sp.a_pfn), format_args!("the RO M2P shows pfn again: {}", Read(read)));
    let (ret, _) = update_m2p(BOGUS_MFN, 0);
    check_eq(
        ret,
        errno(Errno::EINVAL),
        format_args!("MMU_MACHPHYS_UPDATE of mfn {BOGUS_MFN:#x} (no such frame) is -EINVAL"),
    );
    if !mm.owns(XEN_IMAGE_MFN) {
        let (ret, _) = update_m2p(XEN_IMAGE_MFN, 0);
        check_eq(
            ret,
            errno(Errno::EINVAL),
            format_args!("MMU_MACHPHYS_UPDATE of mfn {XEN_IMAGE_MFN:#x} (not ours) is -EINVAL"),
        );
    }
    let (ret, done) = mmu_update(&[MmuUpdate { ptr, val: 0 }]);
    check(ret == 0 && done == 1, format_args!("mmu_update unmaps scratch: {}", Ret(ret)));
    invlpg(va);
}

fn mmuext_paths(mm: &Mm, sp: &Spares) {
    check_eq(mmuext(MmuextCmd::TlbFlushLocal, 0), 0, "MMUEXT_TLB_FLUSH_LOCAL");
    check_eq(mmuext(MmuextCmd::InvlpgLocal, window(W_A)), 0, "MMUEXT_INVLPG_LOCAL");

    // A zeroed frame, mapped nowhere.
    let aux = window(W_AUX);
    let ret = update_va_mapping(aux, maddr(sp.l1) | DATA_RW);
    check_eq(ret, 0, "map the future L1 frame to zero it");
    let mut faults = 0u32;
    for i in 0..512 {
        if poke(slot(aux, i), 0).is_some() {
            faults = faults.wrapping_add(1);
        }
    }
    check_eq(faults, 0, "zeroing the future L1 frame");
    check_eq(update_va_mapping(aux, 0), 0, "unmap it again");

    let l1 = sp.l1;
    check_eq(mmuext(MmuextCmd::PinL1Table, l1), 0, "MMUEXT_PIN_L1_TABLE of a zeroed frame");
    check_eq(
        mmuext(MmuextCmd::PinL1Table, l1),
        errno(Errno::EINVAL),
        "(f) pinning it again is -EINVAL",
    );
    check_eq(update_va_mapping(aux, maddr(l1) | DATA_RO), 0, "a pinned L1 maps read-only");
    let read = peek(aux);
    check(read == Ok(0), format_args!("and reads as zero: {}", Read(read)));
    check_eq(
        update_va_mapping(aux, maddr(l1) | DATA_RW),
        errno(Errno::EBUSY),
        "(f) mapping a pinned L1 writable is -EBUSY",
    );
    let read = peek(aux);
    check(read == Ok(0), format_args!("the read-only mapping survives: {}", Read(read)));
    check_eq(update_va_mapping(aux, 0), 0, "unmap the L1");

    check_eq(
        mmuext(MmuextCmd::NewBaseptr, l1),
        errno(Errno::EINVAL),
        "(l) MMUEXT_NEW_BASEPTR with an L1 is -EINVAL",
    );
    check_eq(
        mmuext(MmuextCmd::NewBaseptr, sp.a),
        errno(Errno::EINVAL),
        "(l) MMUEXT_NEW_BASEPTR with a writable-mapped frame is -EINVAL",
    );

    hook_l1(mm, sp);

    check_eq(mmuext(MmuextCmd::UnpinTable, l1), 0, "MMUEXT_UNPIN_TABLE");
    check_eq(
        mmuext(MmuextCmd::UnpinTable, l1),
        errno(Errno::EINVAL),
        "(g) unpinning it again is -EINVAL",
    );
    check_eq(
        mmuext(MmuextCmd::UnpinTable, sp.b),
        errno(Errno::EINVAL),
        "(g) unpinning a data frame is -EINVAL",
    );
    check_eq(
        mmuext(MmuextCmd::PinL1Table, sp.a),
        errno(Errno::EINVAL),
        "(f) pinning a writable-mapped frame as L1 is -EINVAL",
    );

    let ops = [
        MmuextOp::new(MmuextCmd::TlbFlushLocal, 0, 0),
        MmuextOp::new(MmuextCmd::InvlpgLocal, window(W_A), 0),
        MmuextOp::new(MmuextCmd::UnpinTable, sp.b, 0),
        MmuextOp::new(MmuextCmd::TlbFlushLocal, 0, 0),
    ];
    let (ret, done) = mmuext_dom(&ops, u64::from(DOMID_SELF.0));
    check(
        ret == errno(Errno::EINVAL) && done == 2,
        format_args!("mmuext_op batch failing at 2: {} (-EINVAL), done {done} (2)", Ret(ret)),
    );
}

/// A free entry (at or after `from`) of the bootstrap L2 covering the
/// image.
fn free_l2_slot(mm: &Mm, l2: u64, from: u64) -> Option<u64> {
    (from..512).find(|&i| mm.entry(l2, i) == Some(0))
}

/// Hooks the pinned L1 into the bootstrap L2 and maps through it.
fn hook_l1(mm: &Mm, sp: &Spares) {
    let Some(l2) = mm.l2_mfn(VIRT_BASE) else {
        pv_tests::error("no L2 for the image");
        return;
    };
    let Some(index) = free_l2_slot(mm, l2, 8) else {
        pv_tests::error("no free L2 entry");
        return;
    };
    let l2e = slot(maddr(l2), index);
    let va = VIRT_BASE.wrapping_add(index.wrapping_shl(21));
    let ret = pt_update(l2e, maddr(sp.l1) | DATA_RW);
    check_eq(ret, 0, format_args!("mmu_update of L2 entry {index}: the pinned L1"));
    if ret != 0 {
        return;
    }
    check_eq(update_va_mapping(va, maddr(sp.b) | DATA_RW), 0, "map frame b through the new L1");
    let read = peek(va);
    check(read == Ok(PATTERN_B), format_args!("{va:#x} reads frame b: {}", Read(read)));
    check_eq(update_va_mapping(va, 0), 0, "unmap it");
    check_eq(pt_update(l2e, 0), 0, "clear the L2 entry");
    check_eq(mmuext(MmuextCmd::TlbFlushLocal, 0), 0, "flush");
}

fn attacks(mm: &Mm, sp: &Spares) {
    let va = window(W_SCRATCH);
    let ebusy = errno(Errno::EBUSY);
    let einval = errno(Errno::EINVAL);

    // (a) the L4, writable and read-only.
    check_eq(
        update_va_mapping(va, maddr(mm.l4_mfn) | DATA_RW),
        ebusy,
        "(a) update_va_mapping of the L4 writable is -EBUSY",
    );
    check_eq(update_va_mapping(va, maddr(mm.l4_mfn) | DATA_RO), 0, "(a) the L4 maps read-only");
    let via_window = peek(slot(va, 511));
    let via_builder = peek(slot(mm.l4_va, 511));
    check(
        via_window.is_ok() && via_window == via_builder,
        format_args!("the read-only L4 mapping reads L4[511]: {}", Read(via_window)),
    );
    check_eq(update_va_mapping(va, 0), 0, "unmap it");

    // (b) every bootstrap page-table frame.
    let Some(ptr) = mm.l1e_maddr(va) else {
        pv_tests::error("no L1 entry for the scratch window");
        return;
    };
    for i in 0..mm.nr_pt_frames {
        let table_va = mm.l4_va.wrapping_add(i.wrapping_mul(PAGE_SIZE));
        let Some(mfn) = mm.va_to_mfn(table_va) else { continue };
        let ret = pt_update(ptr, maddr(mfn) | DATA_RW);
        check_eq(
            ret,
            ebusy,
            format_args!("(b) mmu_update mapping page-table frame {i} (mfn {mfn:#x}) RW"),
        );
    }
    match (mm.l1e_maddr(mm.l4_va), mm.l1e(mm.l4_va)) {
        (Some(l4_pte), Some(old)) => {
            let ret = pt_update(l4_pte, old | PTE_RW);
            check_eq(ret, ebusy, "(b) mmu_update upgrading the L4's own RO PTE to RW");
            check(mm.l1e(mm.l4_va) == Some(old), "the L4's PTE is unchanged");
        }
        _ => pv_tests::error("no PTE for the L4"),
    }

    // (c) frames the domain does not own.
    let eperm = errno(Errno::EPERM);
    for (flags, what) in [(DATA_RW, "RW"), (DATA_RO, "RO")] {
        check_eq(
            update_va_mapping(va, maddr(BOGUS_MFN) | flags),
            eperm,
            format_args!("(c) mapping mfn {BOGUS_MFN:#x} (beyond memory) {what} is -EPERM"),
        );
    }
    if mm.owns(XEN_IMAGE_MFN) {
        println!("mfn {XEN_IMAGE_MFN:#x} belongs to this domain here: not an attack");
    } else {
        for (flags, what) in [(DATA_RW, "RW"), (DATA_RO, "RO")] {
            check_eq(
                update_va_mapping(va, maddr(XEN_IMAGE_MFN) | flags),
                ebusy,
                format_args!("(c) mapping mfn {XEN_IMAGE_MFN:#x} (not ours) {what} is -EBUSY"),
            );
        }
        check_eq(
            pt_update(slot(maddr(XEN_IMAGE_MFN), 1), 0),
            einval,
            format_args!("(c) mmu_update of a PTE inside mfn {XEN_IMAGE_MFN:#x} is -EINVAL"),
        );
    }
    check_eq(
        pt_update(slot(maddr(BOGUS_MFN), 1), 0),
        einval,
        format_args!("(c) mmu_update of a PTE inside mfn {BOGUS_MFN:#x} is -EINVAL"),
    );
    check_eq(pt_update(slot(0, 1), 0), einval, "(c) mmu_update of a PTE inside mfn 0 is -EINVAL");
    let read = peek(va);
    check(read.is_err(), format_args!("scratch is still unmapped: {}", Read(read)));

    // (d) the hypervisor's L4 slots.
    let l4 = maddr(mm.l4_mfn);
    let m2p_slot = peek(slot(mm.l4_va, FIRST_XEN_SLOT));
    if let Ok(value) = m2p_slot {
        check_eq(
            pt_update(slot(l4, FIRST_XEN_SLOT), value),
            einval,
            "(d) mmu_update of L4 slot 256 (even with its own value) is -EINVAL",
        );
    }
    for index in [FIRST_XEN_SLOT.wrapping_add(4), LAST_XEN_SLOT] {
        check_eq(
            pt_update(slot(l4, index), 0),
            einval,
            format_args!("(d) mmu_update clearing L4 slot {index} is -EINVAL"),
        );
    }
    check(peek(slot(mm.l4_va, FIRST_XEN_SLOT)) == m2p_slot, "L4 slot 256 unchanged");
    check(pt::m2p(sp.a) == Ok(sp.a_pfn), "the M2P is still readable");

    self_map(mm);
    superpage(mm, sp);
    hypervisor_memory(sp);

    // (j) update_va_mapping in the hypervisor hole.
    for hole in [HYPERVISOR_VIRT_START, XEN_DIRECTMAP, 0x0000_8000_0000_0000] {
        check_eq(
            update_va_mapping(hole, maddr(sp.a) | DATA_RO),
            einval,
            format_args!("(j) update_va_mapping at {hole:#x} is -EINVAL"),
        );
    }

    // (k) another domain's page tables.
    let esrch = errno(Errno::ESRCH);
    let (ret, _) = mmu_update_dom(&[MmuUpdate { ptr, val: maddr(sp.a) | DATA_RO }], OTHER_DOMAIN);
    check_eq(ret, esrch, "(k) mmu_update with foreigndom 5 (no such domain) is -ESRCH");
    let (ret, _) = mmuext_dom(&[MmuextOp::new(MmuextCmd::TlbFlushLocal, 0, 0)], OTHER_DOMAIN);
    check_eq(ret, esrch, "(k) mmuext_op with foreigndom 5 is -ESRCH");
    let read = peek(va);
    check(read.is_err(), format_args!("scratch is still unmapped: {}", Read(read)));
}

/// (e) Self-mapping the L4 in a free slot.
fn self_map(mm: &Mm) {
    let l4 = maddr(mm.l4_mfn);
    let entry = slot(l4, SELF_MAP_SLOT);
    if peek(slot(mm.l4_va, SELF_MAP_SLOT)) != Ok(0) {
        pv_tests::error(format_args!("L4 slot {SELF_MAP_SLOT} is in use"));
        return;
    }
    check_eq(
        pt_update(entry, l4 | DATA_RW),
        errno(Errno::EINVAL),
        format_args!("(e) a writable self-map of the L4 in slot {SELF_MAP_SLOT} is -EINVAL"),
    );
    let ret = pt_update(entry, l4 | DATA_RO);
    check_eq(ret, 0, "(e) a read-only self-map of the L4 is accepted");
    if ret != 0 {
        return;
    }
    // Slot s four times: the L4 itself as a page; sign-extended.
    let s = SELF_MAP_SLOT;
    let linear = 0xffff_0000_0000_0000
        | s.wrapping_shl(39)
        | s.wrapping_shl(30)
        | s.wrapping_shl(21)
        | s.wrapping_shl(12);
    let via_map = peek(slot(linear, 511));
    let via_builder = peek(slot(mm.l4_va, 511));
    check(
        via_map.is_ok() && via_map == via_builder,
        format_args!("the self-map reads L4[511]: {}", Read(via_map)),
    );
    let own = peek(slot(linear, s));
    check(
        own.is_ok_and(|e| pte_mfn(e) == mm.l4_mfn && e & PTE_RW == 0),
        format_args!("and its own read-only entry: {}", Read(own)),
    );
    if let Ok(value) = via_map {
        let fault = poke(slot(linear, 511), value);
        check(
            fault.is_some_and(|f| f.is(PF, PFEC_PRESENT | PFEC_WRITE)),
            format_args!("(e) writing through the self-map raises #PF(P|W): {}", Outcome(fault)),
        );
    }
    check_eq(pt_update(entry, 0), 0, "remove the self-map");
    check_eq(mmuext(MmuextCmd::TlbFlushLocal, 0), 0, "flush");
    let gone = peek(linear);
    check(gone.is_err(), format_args!("the self-map is gone: {}", Read(gone)));
}

/// (h) A 2 MiB superpage in the bootstrap L2.
fn superpage(mm: &Mm, sp: &Spares) {
    let Some(l2) = mm.l2_mfn(VIRT_BASE) else { return };
    let Some(index) = free_l2_slot(mm, l2, 16) else { return };
    let big = maddr(sp.a & !0x1ff) | DATA_RW | PTE_PSE;
    check_eq(
        pt_update(slot(maddr(l2), index), big),
        errno(Errno::EINVAL),
        format_args!("(h) an L2 superpage (PSE) entry {index} is -EINVAL"),
    );
    check(mm.entry(l2, index) == Some(0), "the L2 entry is still empty");
}

/// (i) The M2P is read-only; hypervisor memory is out of reach.
fn hypervisor_memory(sp: &Spares) {
    let m2p_a = slot(M2P, sp.a);
    let fault = poke(m2p_a, 0x4242);
    check(
        fault.is_some_and(|f| f.is(PF, PFEC_PRESENT | PFEC_WRITE) && f.cr2 == Some(m2p_a)),
        format_args!("(i) writing the M2P raises #PF(P|W) with cr2: {}", Outcome(fault)),
    );
    check(pt::m2p(sp.a) == Ok(sp.a_pfn), "the M2P entry is unchanged");
    for address in [XEN_DIRECTMAP, XEN_TEXT, XEN_SLOT_257] {
        let read = peek(address);
        check(
            matches!(read, Err(f) if f.vector == PF && f.error_code & PFEC_WRITE == 0
                && f.cr2 == Some(address)),
            format_args!("(i) reading hypervisor address {address:#x} raises #PF: {}", Read(read)),
        );
        let fault = poke(address, 0);
        check(
            fault.is_some_and(|f| f.vector == PF && f.error_code & PFEC_WRITE != 0),
            format_args!(
                "(i) writing hypervisor address {address:#x} raises #PF(W): {}",
                Outcome(fault)
            ),
        );
    }
}

fn grant_tables() {
    let mut frames = [0u64; 1];
    let mut setup = GnttabSetupTable {
        dom: DOMID_SELF,
        pad0: 0,
        nr_frames: 1,
        status: i16::MAX,
        pad1: [0; 3],
        frame_list: frames.as_mut_ptr().expose_provenance() as u64,
    };
    let ret = grant_table_op(GnttabOp::SetupTable, &mut setup);
    let frame = frames.first().copied().unwrap_or(0);
    check(
        ret == 0 && setup.status == GntSt::Okay.raw() && frame != 0,
        format_args!(
            "GNTTABOP_setup_table(DOMID_SELF, 1): {}, status {}, frame {frame:#x}",
            Ret(ret),
            setup.status
        ),
    );
    if ret == 0 && frame != 0 {
        let va = window(W_GNT);
        check_eq(update_va_mapping(va, maddr(frame) | DATA_RW), 0, "the grant frame maps RW");
        let last = va.wrapping_add(PAGE_SIZE - 8);
        let fault = poke(last, PATTERN_GNT);
        let read = peek(last);
        check(
            fault.is_none() && read == Ok(PATTERN_GNT),
            format_args!("the grant frame is writable: {}, {}", Outcome(fault), Read(read)),
        );
        check(poke(last, 0).is_none(), "restore the grant entry");
    }

    let mut query = GnttabQuerySize {
        dom: DOMID_SELF,
        pad0: 0,
        nr_frames: 0,
        max_nr_frames: 0,
        status: 1,
        pad1: 0,
    };
    let ret = grant_table_op(GnttabOp::QuerySize, &mut query);
    check(
        ret == 0
            && query.status == GntSt::Okay.raw()
            && query.nr_frames >= 1
            && query.max_nr_frames >= query.nr_frames,
        format_args!(
            "GNTTABOP_query_size: {}, status {}, {} of {} frames",
            Ret(ret),
            query.status,
            query.nr_frames,
            query.max_nr_frames
        ),
    );

    let mut version = GnttabSetVersion { version: 1 };
    let ret = grant_table_op(GnttabOp::SetVersion, &mut version);
    // v1-only hypervisors (old Xen) say -ENOSYS; newer Xen accepts v1.
    check(
        ret == errno(Errno::ENOSYS) || (ret == 0 && version.version == 1),
        format_args!(
            "GNTTABOP_set_version(1) is -ENOSYS (v1 only) or keeps v1: {}, version {}",
            Ret(ret),
            version.version
        ),
    );

    let mut other = GnttabSetupTable {
        dom: DomId(u16::try_from(OTHER_DOMAIN).unwrap_or(5)),
        status: i16::MAX,
        ..setup
    };
    let ret = grant_table_op(GnttabOp::SetupTable, &mut other);
    check(
        ret == 0 && other.status == GntSt::BadDomain.raw(),
        format_args!(
            "GNTTABOP_setup_table for domain 5 (none): {}, status {} (GNTST_bad_domain)",
            Ret(ret),
            other.status
        ),
    );
    let mut huge = GnttabSetupTable { nr_frames: 0x10_0000, status: i16::MAX, ..setup };
    let ret = grant_table_op(GnttabOp::SetupTable, &mut huge);
    check(
        ret == 0 && huge.status == GntSt::GeneralError.raw(),
        format_args!(
            "GNTTABOP_setup_table of 2^20 frames: {}, status {} (GNTST_general_error)",
            Ret(ret),
            huge.status
        ),
    );
}

fn descriptor_tables(mm: &Mm, sp: &Spares) {
    let gdt = sp.gdt;
    let aux = window(W_AUX);
    check_eq(update_va_mapping(aux, maddr(gdt) | DATA_RW), 0, "map the future GDT frame");
    let mut faults = 0u32;
    for i in 0..512 {
        if poke(slot(aux, i), 0).is_some() {
            faults = faults.wrapping_add(1);
        }
    }
    check_eq(faults, 0, "zeroing it");
    check_eq(update_va_mapping(aux, 0), 0, "unmap it");

    let gdt_va = window(W_GDT);
    check_eq(
        update_va_mapping(gdt_va, maddr(gdt) | PTE_P | PTE_ACCESSED),
        0,
        "map the GDT frame read-only",
    );
    check_eq(set_gdt(&[gdt], 16), 0, "set_gdt(1 zeroed frame, 16 entries)");
    let scratch = window(W_SCRATCH);
    check_eq(
        update_va_mapping(scratch, maddr(gdt) | DATA_RW),
        errno(Errno::EBUSY),
        "(m) mapping the GDT frame writable is -EBUSY",
    );

    let base = maddr(gdt);
    let cases = [
        (1, DESC_DATA_DPL0, DESC_DATA_DPL3, "flat data DPL0"),
        (2, DESC_CODE64_DPL0, DESC_CODE64_DPL3, "64-bit code DPL0"),
    ];
    for (index, desc, stored, what) in cases {
        check_eq(
            update_descriptor(slot(base, index), desc),
            0,
            format_args!("update_descriptor of a {what} descriptor"),
        );
        let read = peek(slot(gdt_va, index));
        check(
            read == Ok(stored),
            format_args!("it is stored with DPL 3 ({stored:#018x}): {}", Read(read)),
        );
    }
    for (desc, what) in [(DESC_TSS, "64-bit TSS"), (DESC_LDT, "LDT")] {
        check_eq(
            update_descriptor(slot(base, 3), desc),
            errno(Errno::EINVAL),
            format_args!("(m) update_descriptor of a {what} descriptor is -EINVAL"),
        );
    }
    check(peek(slot(gdt_va, 3)) == Ok(0), "the refused descriptors left entry 3 empty");
    check_eq(
        update_descriptor(slot(base, 4).wrapping_add(4), DESC_DATA_DPL0),
        errno(Errno::EINVAL),
        "(m) update_descriptor at a misaligned address is -EINVAL",
    );
    check_eq(
        update_descriptor(slot(maddr(BOGUS_MFN), 1), DESC_DATA_DPL0),
        errno(Errno::EINVAL),
        "(m) update_descriptor into a frame that does not exist is -EINVAL",
    );
    check_eq(
        update_descriptor(slot(maddr(mm.l4_mfn), SELF_MAP_SLOT), 0),
        errno(Errno::EINVAL),
        "(m) update_descriptor into the L4 is -EINVAL",
    );
    check(peek(slot(mm.l4_va, SELF_MAP_SLOT)) == Ok(0), "the L4 entry is unchanged");
    check_eq(
        update_descriptor(slot(maddr(sp.b), 1), DESC_DATA_DPL0),
        0,
        "update_descriptor into an ordinary frame of the domain",
    );
    let read = peek(slot(window(W_B), 1));
    check(read == Ok(DESC_DATA_DPL3), format_args!("it lands there, DPL 3: {}", Read(read)));

    check_eq(
        set_gdt(&[sp.a], 16),
        errno(Errno::EINVAL),
        "(m) set_gdt with a writable-mapped frame is -EINVAL",
    );
    check_eq(
        set_gdt(&[BOGUS_MFN], 16),
        errno(Errno::EINVAL),
        "(m) set_gdt with a frame that does not exist is -EINVAL",
    );
    check_eq(
        set_gdt(&[gdt], FIRST_RESERVED_GDT_ENTRY.wrapping_add(1)),
        errno(Errno::EINVAL),
        "(m) set_gdt with more than 7168 entries is -EINVAL",
    );
    check_eq(
        update_va_mapping(scratch, maddr(gdt) | DATA_RW),
        errno(Errno::EBUSY),
        "the GDT frame is still in use after the refused set_gdt calls",
    );
}
