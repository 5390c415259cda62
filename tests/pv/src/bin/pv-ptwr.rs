// SPDX-License-Identifier: GPL-2.0-only
//! `pv-ptwr`: writable page tables (`VMASST_TYPE_writable_pagetables`,
//! Xen's `pv_ro_page_fault` / `ptwr_emulated_update`).
//!
//! The kernel pins a zeroed spare frame as an L1 table, maps it read-only
//! at a window of its own address space, hooks it into a free entry of the
//! bootstrap L2 (so its entries map `hook(i)`), and then stores to its
//! entries with ordinary instructions, the way Linux's `set_pte`,
//! `ptep_get_and_clear`, `ptep_set_wrprotect` and `cmpxchg` on PTEs do:
//!
//! * without the assist, a store raises `#PF(P|W)` with `cr2` and changes
//!   nothing, except in the hardware domain (dom0): Xen's `fixup_page_fault`
//!   hands dom0's present write faults to `pv_ro_page_fault` (for its
//!   read-only MMIO) whatever the assist, and that emulates a store into an
//!   L1 table, so there the store is emulated (and undone);
//! * with it: a plain `mov` maps a frame (the new mapping reads the frame's
//!   pattern and is writable, and the frame can no longer be pinned as a
//!   page table); `xchg` clears an entry and returns the old one (the
//!   mapping is gone, and the frame can now be pinned); `lock cmpxchg`
//!   succeeds with ZF=1 or loads RAX with the entry and ZF=0; `lock btr`
//!   and `lock andb` write-protect an entry (CF = old RW bit; a write
//!   through the mapping then faults), `lock bts` makes it writable again;
//!   4-byte stores replace the low half (the frame) and the high half (NX)
//!   of an entry; a store into a bootstrap L1 through the initial mapping
//!   remaps one of the kernel's own windows;
//! * refused, each with `#PF(P|W)` at the store's address, the entry
//!   unchanged and the kernel still running: mapping the L4, an L3, an L2,
//!   the L1 itself or another bootstrap table writable, a frame the domain
//!   does not own (the hypervisor image, beyond memory), misaligned 8- and
//!   4-byte stores, a store to a read-only data page and to a bootstrap L2
//!   (only L1 tables are emulated); and every store after the assist is
//!   disabled again.
//!
//! Writes from guest user mode are refused by the same rule (kernel mode
//! only) and are covered by the host tests, not here.
#![no_std]
#![no_main]

use core::arch::global_asm;

use pv_tests::fault::{self, Fault, Outcome, PF, PFEC_PRESENT, PFEC_WRITE};
use pv_tests::guest_abi::xen::{
    DOMID_SELF, Hypercall, MmuUpdate, MmuextCmd, MmuextOp, SIF_INITDOMAIN, UVMF_INVLPG,
    VmAssistCmd, VmAssistType,
};
use pv_tests::hypercall::{hypercall2, hypercall3, hypercall4};
use pv_tests::ops::{self, Ret};
use pv_tests::pt::{
    BOGUS_MFN, DATA_RO, DATA_RW, InitialMapping, PAGE_SHIFT, PAGE_SIZE, PTE_ADDR, PTE_NX, PTE_P,
    PTE_RW, Read, XEN_IMAGE_MFN, maddr, peek, poke, slot,
};
use pv_tests::{Errno, StartInfo, check, check_eq, println, probe};

pv_tests::test_kernel!(name: "ptwr", main: test_main);

const VIRT_BASE: u64 = pv_tests::entry::VIRT_BASE;

/// The bits a test compares: the hypervisor may add `_PAGE_GLOBAL`,
/// `_PAGE_GUEST_KERNEL` and Accessed/Dirty.
const PTE_CHECKED: u64 = PTE_ADDR | PTE_P | PTE_RW | PTE_NX;

const PATTERN_A: u64 = 0xaaaa_0000_1111_2222;
const PATTERN_A2: u64 = 0xaaaa_3333_4444_5555;
const PATTERN_B: u64 = 0xbbbb_6666_7777_8888;

/// Page-aligned `.bss` windows whose L1 entries exist in the bootstrap
/// page tables.
const NR_WINDOWS: u64 = 5;
const W_SCRATCH: u64 = 0;
const W_SHINFO: u64 = 1;
const W_AUX: u64 = 2;
const W_L1: u64 = 3;
const W_A: u64 = 4;

/// Entries of the test L1 used by the steps.
const E_PLAIN: u64 = 0;
const E_PIN: u64 = 1;
const E_CMPXCHG: u64 = 2;
const E_HALF: u64 = 3;
const E_REFUSED: u64 = 4;

global_asm!(
    ".pushsection .bss.pv_ptwr_windows, \"aw\", @nobits",
    ".balign 4096",
    "pv_ptwr_windows:",
    "    .skip {size}",
    ".popsection",
    size = const NR_WINDOWS * PAGE_SIZE,
);

unsafe extern "C" {
    /// The windows (only their addresses are used).
    #[link_name = "pv_ptwr_windows"]
    static mut WINDOWS: [u8; 5 * 4096];
}

fn window(index: u64) -> u64 {
    ((&raw mut WINDOWS).addr() as u64).wrapping_add(index.wrapping_mul(PAGE_SIZE))
}

/// Whether `fault` is the write-protection `#PF` at `cr2` that a refused
/// emulation bounces.
fn is_wp_fault(fault: Option<Fault>, cr2: u64) -> bool {
    fault.is_some_and(|f| f.is(PF, PFEC_PRESENT | PFEC_WRITE) && f.cr2 == Some(cr2))
}

fn update_va_mapping(va: u64, val: u64) -> i64 {
    // SAFETY: changes one PTE of the current page tables: the kernel only
    // remaps its windows.
    unsafe { hypercall3(Hypercall::UpdateVaMapping.raw(), va, val, UVMF_INVLPG) }
}

/// One `MMU_NORMAL_PT_UPDATE`.
fn pt_update(ptr: u64, val: u64) -> i64 {
    let reqs = [MmuUpdate { ptr, val }];
    let mut done: u32 = 0;
    // SAFETY: Xen reads one request and writes `done`; the request changes
    // the test L1, the hook entry of the bootstrap L2, or is refused.
    unsafe {
        hypercall4(
            Hypercall::MmuUpdate.raw(),
            reqs.as_ptr().addr() as u64,
            1,
            (&raw mut done).expose_provenance() as u64,
            u64::from(DOMID_SELF.0),
        )
    }
}

fn mmuext(cmd: MmuextCmd, arg1: u64) -> i64 {
    let ops = [MmuextOp::new(cmd, arg1, 0)];
    let mut done: u32 = 0;
    // SAFETY: Xen reads one operation and writes `done`; the operations
    // pin, unpin and flush.
    unsafe {
        hypercall4(
            Hypercall::MmuextOp.raw(),
            ops.as_ptr().addr() as u64,
            1,
            (&raw mut done).expose_provenance() as u64,
            u64::from(DOMID_SELF.0),
        )
    }
}

fn invlpg(va: u64) {
    let ret = mmuext(MmuextCmd::InvlpgLocal, va);
    if ret != 0 {
        pv_tests::fail(format_args!("MMUEXT_INVLPG_LOCAL {va:#x}: {}", Ret(ret)));
    }
}

fn vm_assist(cmd: VmAssistCmd) -> i64 {
    // SAFETY: vm_assist only changes how the hypervisor treats this domain.
    unsafe {
        hypercall2(
            Hypercall::VmAssist.raw(),
            u64::from(cmd.raw()),
            u64::from(VmAssistType::WritablePagetables.raw()),
        )
    }
}

/// The domain's memory as the builder left it.
struct Mm(InitialMapping);

impl core::ops::Deref for Mm {
    type Target = InitialMapping;
    fn deref(&self) -> &InitialMapping {
        &self.0
    }
}

impl Mm {
    fn new(si: &StartInfo) -> Option<Self> {
        InitialMapping::new(si).map(Self)
    }

    fn l3_mfn(&self, va: u64) -> Option<u64> {
        self.next(self.l4_mfn, va, 39)
    }

    fn l2_mfn(&self, va: u64) -> Option<u64> {
        self.next(self.l3_mfn(va)?, va, 30)
    }

    fn l1_mfn(&self, va: u64) -> Option<u64> {
        self.next(self.l2_mfn(va)?, va, 21)
    }

    /// Spare frame `n`'s MFN (see [`InitialMapping::spare`]).
    fn spare(&self, n: u64) -> Option<u64> {
        self.0.spare(n).map(|(_, mfn)| mfn)
    }
}

/// The frames and addresses the steps share.
struct Setup {
    /// The test L1 (pinned), its read-only mapping and its hook.
    l1: u64,
    l1_va: u64,
    l2e: u64,
    hook_base: u64,
    /// Data frames with `PATTERN_A`/`PATTERN_B` in their first word, and a
    /// zeroed frame `c` that the steps map and pin.
    a: u64,
    b: u64,
    c: u64,
}

impl Setup {
    /// The address of entry `i` of the test L1 (through its read-only
    /// mapping).
    fn entry_va(&self, i: u64) -> u64 {
        slot(self.l1_va, i)
    }

    /// The address entry `i` of the test L1 maps.
    fn hook(&self, i: u64) -> u64 {
        self.hook_base.wrapping_add(i.wrapping_mul(PAGE_SIZE))
    }

    /// Entry `i` as the kernel reads it.
    fn entry(&self, i: u64) -> Result<u64, Fault> {
        peek(self.entry_va(i))
    }
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
    let va = window(W_SHINFO);
    if update_va_mapping(va, si.shared_info | DATA_RW) == 0 {
        fault::set_cr2_source(va.wrapping_add(16));
    } else {
        pv_tests::error("cannot map shared_info");
        return;
    }
    let Some(s) = setup(&mm) else { return };
    println!(
        "L4 mfn {:#x}; test L1 mfn {:#x} at {:#x}, hooked at {:#x}; a {:#x} b {:#x} c {:#x}",
        mm.l4_mfn, s.l1, s.l1_va, s.hook_base, s.a, s.b, s.c
    );

    let dom0 = si.flags & SIF_INITDOMAIN != 0;
    store_without_assist(&s, dom0, E_PLAIN, maddr(s.a) | DATA_RW, "without vm_assist");

    check_eq(vm_assist(VmAssistCmd::Enable), 0, "vm_assist(enable, writable_pagetables)");
    plain_store(&s);
    xchg_and_pin(&s);
    cmpxchg(&s);
    write_protect(&s);
    half_writes(&s);
    refused(&mm, &s);
    bootstrap_l1(&mm, &s);

    check_eq(vm_assist(VmAssistCmd::Disable), 0, "vm_assist(disable, writable_pagetables)");
    let value = maddr(s.b) | DATA_RO;
    store_without_assist(&s, dom0, E_REFUSED, value, "with the assist disabled again");
    cleanup(&s);
    let version = ops::xen_version();
    check(version.is_ok(), format_args!("xen_version still works: {version:?}"));
}

/// A free entry (index 8 or above) of the bootstrap L2 covering the image.
fn free_l2_slot(mm: &Mm, l2: u64) -> Option<u64> {
    (8..512).find(|&i| mm.entry(l2, i) == Some(0))
}

/// Zeroes frame `mfn` through the aux window.
fn zero_frame(mfn: u64) -> bool {
    let aux = window(W_AUX);
    if update_va_mapping(aux, maddr(mfn) | DATA_RW) != 0 {
        return false;
    }
    let faults = (0..512).filter(|&i| poke(slot(aux, i), 0).is_some()).count();
    update_va_mapping(aux, 0) == 0 && faults == 0
}

/// Writes `pattern` into the first word of frame `mfn`.
fn fill_frame(mfn: u64, pattern: u64) -> bool {
    let aux = window(W_AUX);
    if update_va_mapping(aux, maddr(mfn) | DATA_RW) != 0 {
        return false;
    }
    let ok = poke(aux, pattern).is_none();
    update_va_mapping(aux, 0) == 0 && ok
}

fn setup(mm: &Mm) -> Option<Setup> {
    let (Some(l1), Some(a), Some(b), Some(c)) =
        (mm.spare(0), mm.spare(1), mm.spare(2), mm.spare(3))
    else {
        pv_tests::error("no spare frames above the initial mapping");
        return None;
    };
    let ok =
        zero_frame(l1) && zero_frame(c) && fill_frame(a, PATTERN_A) && fill_frame(b, PATTERN_B);
    if !check(ok, "spare frames prepared") {
        return None;
    }
    if !check_eq(mmuext(MmuextCmd::PinL1Table, l1), 0, "pin a zeroed frame as L1") {
        return None;
    }
    let l1_va = window(W_L1);
    if !check_eq(update_va_mapping(l1_va, maddr(l1) | DATA_RO), 0, "map the L1 read-only") {
        return None;
    }
    let Some(l2) = mm.l2_mfn(VIRT_BASE) else {
        pv_tests::error("no L2 for the image");
        return None;
    };
    let Some(index) = free_l2_slot(mm, l2) else {
        pv_tests::error("no free L2 entry");
        return None;
    };
    let l2e = slot(maddr(l2), index);
    if !check_eq(
        pt_update(l2e, maddr(l1) | DATA_RW),
        0,
        format_args!("hook the L1 into L2[{index}]"),
    ) {
        return None;
    }
    let hook_base = VIRT_BASE.wrapping_add(index.wrapping_shl(21));
    Some(Setup { l1, l1_va, l2e, hook_base, a, b, c })
}

/// `mov`: map frame a writable through entry 0.
/// A store of `value` into entry `i` of the test L1 without the assist:
/// `#PF(P|W)` and nothing written, except in the hardware domain, whose
/// store Xen emulates (see the module notes); there it is undone after.
fn store_without_assist(s: &Setup, dom0: bool, i: u64, value: u64, what: &str) {
    let target = s.entry_va(i);
    let fault = poke(target, value);
    if dom0 {
        let e = s.entry(i);
        check(
            fault.is_none() && e.is_ok_and(|e| e & PTE_CHECKED == value & PTE_CHECKED),
            format_args!("{what}: dom0's PTE store is emulated: {}, {}", Outcome(fault), Read(e)),
        );
        let fault = poke(target, 0);
        check(fault.is_none() && s.entry(i) == Ok(0), "and so is clearing it again");
        invlpg(s.hook(i));
    } else {
        check(
            is_wp_fault(fault, target),
            format_args!("{what}: a PTE store raises #PF(P|W): {}", Outcome(fault)),
        );
        check(s.entry(i) == Ok(0), "and writes nothing");
    }
}

fn plain_store(s: &Setup) {
    let target = s.entry_va(E_PLAIN);
    let value = maddr(s.a) | DATA_RW;
    let fault = poke(target, value);
    check(fault.is_none(), format_args!("mov of a PTE is emulated: {}", Outcome(fault)));
    let e = s.entry(E_PLAIN);
    check(
        e.is_ok_and(|e| e & PTE_CHECKED == value & PTE_CHECKED),
        format_args!("the entry holds a | RW: {}", Read(e)),
    );
    let va = s.hook(E_PLAIN);
    invlpg(va);
    let read = peek(va);
    check(read == Ok(PATTERN_A), format_args!("the new mapping reads frame a: {}", Read(read)));
    let fault = poke(va, PATTERN_A2);
    let read = peek(va);
    check(
        fault.is_none() && read == Ok(PATTERN_A2),
        format_args!("and is writable: {}, {}", Outcome(fault), Read(read)),
    );
    check_eq(
        mmuext(MmuextCmd::PinL1Table, s.a),
        Errno::EINVAL.as_neg_i64(),
        "frame a, now mapped writable, cannot be pinned as an L1",
    );
}

/// `xchg` (`ptep_get_and_clear`) drops a writable mapping of frame c,
/// which can then become a page table.
fn xchg_and_pin(s: &Setup) {
    let target = s.entry_va(E_PIN);
    let value = maddr(s.c) | DATA_RW;
    let fault = poke(target, value);
    check(fault.is_none(), format_args!("map frame c writable: {}", Outcome(fault)));
    let einval = Errno::EINVAL.as_neg_i64();
    check_eq(mmuext(MmuextCmd::PinL1Table, s.c), einval, "frame c mapped writable: pin refused");
    let mut old = 0u64;
    // SAFETY: xchg on an entry of the test L1; the hypervisor emulates it
    // or bounces the #PF to the probe.
    let fault = unsafe { probe!("xchg {v}, ({a})"; a = in(reg) target, v = inout(reg) old) };
    check(fault.is_none(), format_args!("xchg of a PTE is emulated: {}", Outcome(fault)));
    check(
        old & PTE_CHECKED == value & PTE_CHECKED,
        format_args!("xchg returns the old entry: {old:#x}"),
    );
    check(s.entry(E_PIN) == Ok(0), "and leaves it empty");
    let va = s.hook(E_PIN);
    invlpg(va);
    let read = peek(va);
    check(
        matches!(read, Err(f) if f.vector == PF && f.cr2 == Some(va)),
        format_args!("the mapping is gone: {}", Read(read)),
    );
    check_eq(mmuext(MmuextCmd::PinL1Table, s.c), 0, "frame c can now be pinned as an L1");
    check_eq(mmuext(MmuextCmd::UnpinTable, s.c), 0, "and unpinned");
}

/// `lock cmpxchg` on an entry: success and failure.
fn cmpxchg(s: &Setup) {
    let target = s.entry_va(E_CMPXCHG);
    let new = maddr(s.a) | DATA_RW;
    let run = |expected: u64, new: u64| -> (Option<Fault>, u64, u8) {
        let mut rax = expected;
        let zf: u8;
        // SAFETY: lock cmpxchg on an entry of the test L1 (emulated, or the
        // #PF goes to the probe).
        let fault = unsafe {
            probe!("lock cmpxchg {n}, ({a})", "setz {z}";
                a = in(reg) target, n = in(reg) new, inout("rax") rax, z = out(reg_byte) zf)
        };
        (fault, rax, zf)
    };
    let (fault, _, zf) = run(0, new);
    check(
        fault.is_none() && zf == 1,
        format_args!("lock cmpxchg(0 -> a | RW) succeeds, ZF=1: {}, ZF={zf}", Outcome(fault)),
    );
    let entry = s.entry(E_CMPXCHG);
    check(
        entry.is_ok_and(|e| e & PTE_CHECKED == new & PTE_CHECKED),
        format_args!("the entry holds a | RW: {}", Read(entry)),
    );
    let va = s.hook(E_CMPXCHG);
    invlpg(va);
    let read = peek(va);
    check(read == Ok(PATTERN_A2), format_args!("and maps frame a: {}", Read(read)));
    let (fault, rax, zf) = run(0, maddr(s.b) | DATA_RW);
    check(
        fault.is_none() && zf == 0 && Ok(rax) == entry,
        format_args!(
            "lock cmpxchg with a wrong expectation: ZF=0, RAX = the entry: {}, ZF={zf}, RAX \
             {rax:#x}",
            Outcome(fault)
        ),
    );
    check(s.entry(E_CMPXCHG) == entry, "and the entry is unchanged");
}

/// `lock btr` / `lock andb` clear RW, `lock bts` sets it again.
fn write_protect(s: &Setup) {
    let target = s.entry_va(E_CMPXCHG);
    let va = s.hook(E_CMPXCHG);
    let cf: u8;
    // SAFETY: lock btr on an entry of the test L1.
    let fault = unsafe {
        probe!("lock btrq $1, ({a})", "setc {c}"; a = in(reg) target, c = out(reg_byte) cf)
    };
    check(
        fault.is_none() && cf == 1,
        format_args!("lock btr $1 of a PTE is emulated, CF=1: {}, CF={cf}", Outcome(fault)),
    );
    let e = s.entry(E_CMPXCHG);
    check(
        e.is_ok_and(|e| e & (PTE_P | PTE_RW) == PTE_P),
        format_args!("the entry is read-only: {}", Read(e)),
    );
    invlpg(va);
    let fault = poke(va, 1);
    check(
        is_wp_fault(fault, va),
        format_args!("a write through the mapping now raises #PF(P|W): {}", Outcome(fault)),
    );
    let cf: u8;
    // SAFETY: lock bts on an entry of the test L1.
    let fault = unsafe {
        probe!("lock btsq $1, ({a})", "setc {c}"; a = in(reg) target, c = out(reg_byte) cf)
    };
    check(
        fault.is_none() && cf == 0,
        format_args!("lock bts $1 makes it writable again, CF=0: {}, CF={cf}", Outcome(fault)),
    );
    invlpg(va);
    let fault = poke(va, PATTERN_A2);
    check(fault.is_none(), format_args!("the mapping is writable: {}", Outcome(fault)));
    // SAFETY: lock andb on the low byte of an entry of the test L1
    // (Linux's clear_bit with a constant bit number).
    let fault = unsafe { probe!("lock andb $0xfd, ({a})"; a = in(reg) target) };
    check(fault.is_none(), format_args!("lock andb $~RW is emulated: {}", Outcome(fault)));
    let e = s.entry(E_CMPXCHG);
    check(
        e.is_ok_and(|e| e & (PTE_P | PTE_RW) == PTE_P),
        format_args!("the entry is read-only: {}", Read(e)),
    );
    invlpg(va);
    check(is_wp_fault(poke(va, 1), va), "a write through it faults");
    check(peek(va) == Ok(PATTERN_A2), "and reads still work");
}

/// 4-byte stores into either half of an entry.
fn half_writes(s: &Setup) {
    let target = s.entry_va(E_HALF);
    let low = maddr(s.b) | DATA_RW;
    let Ok(low32) = u32::try_from(low) else {
        pv_tests::error(format_args!("frame b {:#x} is above 4 GiB", s.b));
        return;
    };
    // SAFETY: movl into the low half of an entry of the test L1.
    let fault = unsafe { probe!("movl {v:e}, ({a})"; a = in(reg) target, v = in(reg) low32) };
    check(fault.is_none(), format_args!("movl to the low half is emulated: {}", Outcome(fault)));
    let e = s.entry(E_HALF);
    check(
        e.is_ok_and(|e| e & PTE_CHECKED == low & PTE_CHECKED),
        format_args!("the entry maps b: {}", Read(e)),
    );
    let va = s.hook(E_HALF);
    invlpg(va);
    let read = peek(va);
    check(read == Ok(PATTERN_B), format_args!("the mapping reads frame b: {}", Read(read)));
    let high: u32 = 0x8000_0000;
    // SAFETY: movl into the high half of the same entry.
    let fault = unsafe { probe!("movl {v:e}, 4({a})"; a = in(reg) target, v = in(reg) high) };
    check(fault.is_none(), format_args!("movl to the high half is emulated: {}", Outcome(fault)));
    let e = s.entry(E_HALF);
    check(
        e.is_ok_and(|e| e & PTE_CHECKED == (low & PTE_CHECKED) | PTE_NX),
        format_args!("the entry is b | RW | NX: {}", Read(e)),
    );
    invlpg(va);
    check(peek(va) == Ok(PATTERN_B), "the NX mapping still reads");
}

/// Stores the hypervisor must refuse, each with `#PF(P|W)` at the store.
fn refused(mm: &Mm, s: &Setup) {
    let target = s.entry_va(E_REFUSED);
    let mut values = [(0u64, ""); 8];
    let mut n = 0usize;
    let mut add = |value: u64, what: &'static str| {
        if let Some(v) = values.get_mut(n) {
            *v = (value, what);
            n = n.wrapping_add(1);
        }
    };
    add(maddr(mm.l4_mfn) | DATA_RW, "the L4 writable");
    if let Some(l3) = mm.l3_mfn(VIRT_BASE) {
        add(maddr(l3) | DATA_RW, "the L3 writable");
    }
    if let Some(l2) = mm.l2_mfn(VIRT_BASE) {
        add(maddr(l2) | DATA_RW, "the L2 writable");
    }
    add(maddr(s.l1) | DATA_RW, "the test L1 itself writable");
    if let Some(l1) = mm.l1_mfn(VIRT_BASE) {
        add(maddr(l1) | DATA_RW, "a bootstrap L1 writable");
    }
    if !mm.owns(XEN_IMAGE_MFN) {
        add(maddr(XEN_IMAGE_MFN) | DATA_RO, "a hypervisor frame");
    }
    add(maddr(BOGUS_MFN) | DATA_RO, "a frame beyond memory");
    for &(value, what) in values.iter().take(n) {
        let fault = poke(target, value);
        check(
            is_wp_fault(fault, target),
            format_args!("a PTE mapping {what} is refused with #PF(P|W): {}", Outcome(fault)),
        );
    }
    check(s.entry(E_REFUSED) == Ok(0), "the refused entry is still empty");

    // Misaligned stores into a valid entry's bytes.
    let e = s.entry(E_PLAIN);
    let at4 = target.wrapping_add(4);
    let fault = poke(at4, maddr(s.b) | DATA_RO);
    check(is_wp_fault(fault, at4), format_args!("a misaligned 8-byte store: {}", Outcome(fault)));
    let at2 = s.entry_va(E_PLAIN).wrapping_add(2);
    let word: u32 = 0x1234_5678;
    // SAFETY: a misaligned movl into an entry of the test L1 (refused).
    let fault = unsafe { probe!("movl {v:e}, ({a})"; a = in(reg) at2, v = in(reg) word) };
    check(is_wp_fault(fault, at2), format_args!("a misaligned 4-byte store: {}", Outcome(fault)));
    check(s.entry(E_PLAIN) == e && s.entry(E_REFUSED) == Ok(0), "the entries are unchanged");

    // Read-only pages that are not L1 tables.
    let ro = window(W_A);
    check_eq(update_va_mapping(ro, maddr(s.b) | DATA_RO), 0, "map frame b read-only");
    let fault = poke(ro, 0);
    check(
        is_wp_fault(fault, ro),
        format_args!("a store to a read-only data page: {}", Outcome(fault)),
    );
    check(peek(ro) == Ok(PATTERN_B), "frame b unchanged");
    check_eq(update_va_mapping(ro, 0), 0, "unmap it");
    if let Some(l2_va) = mm.l2_mfn(VIRT_BASE).and_then(|l2| mm.table_va(l2)) {
        let at = slot(l2_va, 511);
        let before = peek(at);
        let fault = poke(at, 0);
        check(
            is_wp_fault(fault, at),
            format_args!("a store into the bootstrap L2 (not an L1): {}", Outcome(fault)),
        );
        check(peek(at) == before, "the L2 entry is unchanged");
    }
}

/// A store into one of the bootstrap L1 tables through the initial
/// mapping remaps the scratch window.
fn bootstrap_l1(mm: &Mm, s: &Setup) {
    let va = window(W_SCRATCH);
    let Some(l1_va) = mm.l1_mfn(va).and_then(|l1| mm.table_va(l1)) else {
        pv_tests::error("no bootstrap L1 for the scratch window");
        return;
    };
    let at = slot(l1_va, va.wrapping_shr(PAGE_SHIFT) & 511);
    let Ok(old) = peek(at) else {
        pv_tests::error("cannot read the scratch window's PTE");
        return;
    };
    let fault = poke(at, maddr(s.b) | DATA_RW);
    check(
        fault.is_none(),
        format_args!(
            "a store into a bootstrap L1 (initial mapping) is emulated: {}",
            Outcome(fault)
        ),
    );
    invlpg(va);
    let read = peek(va);
    check(read == Ok(PATTERN_B), format_args!("the scratch window reads frame b: {}", Read(read)));
    let fault = poke(at, old);
    check(fault.is_none(), format_args!("and the old PTE is restored: {}", Outcome(fault)));
    invlpg(va);
}

/// Clears the test L1 (by `mmu_update`: the assist is off), unhooks and
/// unpins it.
fn cleanup(s: &Setup) {
    let mut ok = true;
    for i in [E_PLAIN, E_PIN, E_CMPXCHG, E_HALF, E_REFUSED] {
        ok &= pt_update(slot(maddr(s.l1), i), 0) == 0;
    }
    check(ok, "mmu_update clears the test L1");
    check_eq(pt_update(s.l2e, 0), 0, "unhook it from the L2");
    check_eq(update_va_mapping(s.l1_va, 0), 0, "unmap it");
    check_eq(mmuext(MmuextCmd::UnpinTable, s.l1), 0, "unpin it");
    check_eq(mmuext(MmuextCmd::TlbFlushLocal, 0), 0, "flush");
    check(peek(s.hook(E_PLAIN)).is_err(), "the hooked range is gone");
}
