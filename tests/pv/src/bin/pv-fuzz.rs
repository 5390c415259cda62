// SPDX-License-Identifier: GPL-2.0-only
//! `pv-fuzz`: a domU that feeds pseudo-random garbage to every hypercall
//! (booted as a domU by `pv-toolstack` beside healthy neighbours).
//!
//! First it sweeps every hypercall number in 0..=64 and every sub-op in
//! 0..32 with NULL, zeroed and all-ones structures and pointers into the
//! hypervisor, unmapped, non-canonical and page-crossing addresses
//! ([`sweep`]). Then, for `calls=<n>` calls (default [`DEFAULT_CALLS`]),
//! it picks a hypercall
//! number in 0..=64 (now and then one far outside), a sub-op (mostly small,
//! so that real sub-ops are hit) and arguments from a deterministic
//! generator seeded by `seed=<n>` (default [`DEFAULT_SEED`]; printed, so a
//! failure can be replayed, with `verbose` printing every call and
//! `trace=<n>` every call from the n-th on, checking after each that this
//! kernel's counts of the calls made still add up). The
//! argument values mix uniform noise, small numbers, boundary constants,
//! counts, domain ids, frame numbers and machine addresses, non-canonical
//! addresses, unmapped guest addresses, addresses in the hypervisor's own
//! space (M2P, direct map, image), and pointers into a four-page scratch
//! buffer whose contents come from the same generator, framed by two
//! unmapped guard pages, so that structures and lists read and written by
//! the hypervisor are garbage too and long ones run into unmapped memory.
//! `multicall` gets lists of such calls.
//!
//! One call in three is instead **aimed** ([`aim`]): a well-formed
//! grant-table or event-channel operation on the neighbours named by
//! `neighbours=<dom>[:<port>|:w<ref>|:r<ref>...],...` (the toolstack's
//! `mode=fuzz` passes the ids, ports and grant refs it knows), or an
//! `mmu_update` of this kernel's own real L1 entries (its guard pages and
//! its grant window). What the neighbours did not allow (an ungranted ref,
//! a write to a read-only one, any port of theirs) must be refused; an
//! aimed operation that gets through fails the test. A
//! summary per kind of aimed call is printed at the end.
//!
//! The hypervisor must survive every call and answer with a result or a
//! `-errno` in Xen's range (`-1..=-4095`; `get_debugreg` and Xen's
//! final-result form of `mmu_update`/`mmuext_op` may return any value,
//! see [`any_value`]); the kernel then checks that the
//! hypervisor still serves it (`xen_version`, the console, an event
//! channel), prints a summary per hypercall and shuts down normally.
//!
//! # What is excluded or constrained, and why
//!
//! Only what would legitimately end or stall this domain, or pull its own
//! memory from under it, is held back; everything else gets garbage:
//!
//! * `iret` (23) is never called: it pops a return frame from this
//!   kernel's own stack.
//! * `sched_op` / `sched_op_compat`: `SCHEDOP_shutdown` and
//!   `SCHEDOP_block` (which sleeps until an event and unmasks upcalls this
//!   kernel has no handler for) become `SCHEDOP_yield`;
//!   `SCHEDOP_shutdown_code` is given `SHUTDOWN_poweroff` (the code would
//!   otherwise become the reason of the final shutdown); `SCHEDOP_watchdog`
//!   gets timeout 0 (an armed watchdog would kill the domain);
//!   `SCHEDOP_poll` gets an absolute timeout at most 1 ms ahead (a valid
//!   port list would otherwise block it forever). These structures live in
//!   a buffer of their own, which no other argument points into. Sub-ops
//!   are compared as Xen reads them, truncated to 32 bits.
//!   `SCHEDOP_remote_shutdown` is not constrained: a domU may not shut any
//!   domain down, itself included.
//! * `vcpu_op`: `VCPUOP_down` of vCPU 0 (this kernel's only vCPU) targets
//!   vCPU 1; `VCPUOP_send_nmi` becomes `VCPUOP_is_up` (the NMI would go to
//!   whatever garbage NMI callback was registered).
//! * `GNTTABOP_unmap_and_replace` never names this kernel's own mapping
//!   as `new_addr` (whose PTE it would move away and clear, also when the
//!   replacement then fails, as in Xen): its list is in the scratch buffer
//!   (else NULL) with such `new_addr`s cleared.
//! * `update_va_mapping` and `update_va_mapping_otherdomain` never target
//!   this kernel's own mapping (image, stack, scratch, page tables).
//! * Any generated value that names one of this domain's own frames, as a
//!   frame number or a machine address (also the frame field of a PTE), is
//!   drawn again: pinning, unmapping, freeing, clearing or retyping the
//!   kernel's own live frames (`mmu_update`, `mmuext_op`, `memory_op`,
//!   `update_descriptor`, `set_gdt`, grant transfers) is the kernel's own
//!   fault, not the hypervisor's. The exception: 32 spare frames nothing
//!   maps are named on purpose (as MFNs, machine addresses and PTEs), so
//!   that garbage gets pinned, typed, validated as page tables,
//!   descriptor pages and GDTs, and freed. Two uses of them would still
//!   hand this kernel's control to garbage and are rewritten in the
//!   scratch structures: `MMUEXT_NEW_BASEPTR` (a garbage L4 as its page
//!   tables) and `VCPUOP_register_vcpu_info` on one of its frames (a
//!   garbage event mask).
//! * The guard pages are unmapped again after each aimed `mmu_update`
//!   of their L1 entries (a frame left mapped there would let a long list
//!   run on into the kernel's own memory).
//! * `GNTTABOP_map_grant_ref` entries mapping by address over this
//!   kernel's own mapping are moved to the grant window (a neighbour's
//!   granted frame would replace a page of ours).
//! * `console_io(CONSOLEIO_write)` prints at most 64 bytes, from a
//!   printable buffer when the pointer would be the scratch buffer (keeps
//!   the serial log readable).
//! * `multicall` lists are built from sanitised calls and never nest a
//!   `multicall`.
//! * State the kernel needs is restored after the call that may have
//!   changed it: the virtual IDT after `set_trap_table` (so a stray
//!   exception is reported, not fatal), `CR0.TS` after `fpu_taskswitch`,
//!   `DR7` after `set_debugreg` (a breakpoint on its own code or data would
//!   trap), the user `%gs` selector after `set_segment_base` (a selector
//!   whose descriptor changes later would send the next context switch to
//!   the failsafe callback); all of them after a `multicall`.
//!
//! Event delivery stays masked throughout (nothing unmasks it once
//! `SCHEDOP_block` is gone), so garbage event, failsafe and NMI callbacks
//! are never entered.
#![no_std]
#![no_main]

use core::arch::global_asm;

use pv_tests::guest_abi::xen::{DOMID_SELF, Hypercall, UVMF_INVLPG};
use pv_tests::hypercall::direct;
use pv_tests::pt::InitialMapping;
use pv_tests::{StartInfo, check, evtchn, fail, fault, ops, println, shinfo};

pv_tests::test_kernel!(name: "fuzz", main: test_main);

#[path = "pv-fuzz/aim.rs"]
mod aim;

/// Calls made unless `calls=` says otherwise.
const DEFAULT_CALLS: u32 = 1_000_000;

/// Seed unless `seed=` says otherwise.
const DEFAULT_SEED: u64 = 0x5eed_f00d;

/// Hypercall numbers fuzzed: 0..=64.
const NR_FUZZED: u32 = 65;

/// The hypercalls Xen implements for a 64-bit PV guest (three in four
/// calls pick one of these, the rest any number in 0..=64).
const IMPLEMENTED: [u64; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 25, 26, 28,
    29, 30, 32, 33, 35, 36,
];

/// Spare frames the fuzzer may name.
const NR_SPARES: usize = 32;

/// Size of one `mmuext_op`.
const MMUEXT_OP_SIZE: u64 = 24;

/// `GNTMAP_contains_pte`.
const GNTMAP_CONTAINS_PTE: u32 = 1 << 4;

/// `MMUEXT_NEW_BASEPTR`.
const MMUEXT_NEW_BASEPTR: u32 = 5;

/// `VCPUOP_register_vcpu_info`.
const VCPUOP_REGISTER_VCPU_INFO: u32 = 10;

/// Size of the scratch buffer.
const SCRATCH_SIZE: usize = 4 * 4096;

/// Bytes of scratch refreshed around a pointer before each call.
const REFRESH: usize = 512;

/// Most entries of a generated multicall list.
const MAX_MULTICALL: usize = 8;

/// Size of one `multicall_entry`.
const MC_ENTRY_WORDS: usize = 8;

/// `VIRT_BASE`: the kernel's own mapping starts here.
const VIRT_BASE: u64 = pv_tests::entry::VIRT_BASE;

/// The frame field of a PTE.
const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;

/// `-errno` values Xen can return.
const MAX_ERRNO: i64 = 4095;

const SCHEDOP_YIELD: u64 = 0;
const SCHEDOP_BLOCK: u32 = 1;
const SCHEDOP_SHUTDOWN: u32 = 2;
const SCHEDOP_POLL: u32 = 3;
const SCHEDOP_SHUTDOWN_CODE: u32 = 5;
const SCHEDOP_WATCHDOG: u32 = 6;
const VCPUOP_DOWN: u32 = 2;
const VCPUOP_IS_UP: u64 = 3;
const VCPUOP_SEND_NMI: u32 = 11;
const CONSOLEIO_WRITE: u32 = 0;
const SEGBASE_GS_USER_SEL: u64 = 3;

global_asm!(
    ".pushsection .bss.pv_fuzz, \"aw\", @nobits",
    ".balign 4096",
    "pv_fuzz_guard_low:",
    "    .skip 4096",
    "pv_fuzz_scratch:",
    "    .skip {scratch}",
    "pv_fuzz_guard_high:",
    "    .skip 4096",
    "pv_fuzz_safe:",
    "    .skip 4096",
    "pv_fuzz_multicall:",
    "    .skip 4096",
    "pv_fuzz_window:",
    "    .skip 4096",
    ".popsection",
    scratch = const SCRATCH_SIZE,
);

unsafe extern "C" {
    #[link_name = "pv_fuzz_guard_low"]
    static mut GUARD_LOW: [u8; 4096];
    #[link_name = "pv_fuzz_scratch"]
    static mut SCRATCH: [u8; SCRATCH_SIZE];
    #[link_name = "pv_fuzz_guard_high"]
    static mut GUARD_HIGH: [u8; 4096];
    /// The constrained `sched_op` arguments, one 32-byte slot per call.
    #[link_name = "pv_fuzz_safe"]
    static mut SAFE: [u64; 512];
    /// The multicall list.
    #[link_name = "pv_fuzz_multicall"]
    static mut MULTICALL: [u64; 512];
    /// The grant window: unmapped, where aimed grant maps go.
    #[link_name = "pv_fuzz_window"]
    static mut WINDOW: [u8; 4096];
}

/// Printable bytes for `CONSOLEIO_write`.
static PRINTABLE: [u8; 64] = *b"fuzz:garbage-to-console_io-is-printed-as-is-up-to-64-bytes-only.";

/// The low 32 bits of `v`: how Xen reads an `int` or `unsigned int`
/// argument or field.
const fn low32(v: u64) -> u64 {
    v & 0xffff_ffff
}

/// Addresses of the kernel's fixed buffers.
fn scratch() -> u64 {
    (&raw mut SCRATCH).addr() as u64
}
fn guard_low() -> u64 {
    (&raw mut GUARD_LOW).addr() as u64
}
fn guard_high() -> u64 {
    (&raw mut GUARD_HIGH).addr() as u64
}
fn window() -> u64 {
    (&raw mut WINDOW).addr() as u64
}
fn safe_slot(slot: usize) -> u64 {
    ((&raw mut SAFE).addr() as u64).wrapping_add((slot as u64 % 128).wrapping_mul(32))
}

/// What an argument of a hypercall is, for shaped calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A sub-op.
    Sub,
    /// A pointer to a structure or list.
    Ptr,
    /// A count, an index, a vCPU or register number.
    Count,
    /// A domain id.
    Dom,
    /// A machine address.
    Maddr,
    /// Flags.
    Flags,
    /// Anything (a value, an address, a selector).
    Value,
}

/// The argument kinds of hypercall `nr` (Xen's prototypes); unknown ones
/// take a sub-op and pointers.
fn kinds(nr: u32) -> [Kind; 5] {
    use Kind::{Count, Dom, Flags, Maddr, Ptr, Sub, Value};
    match nr {
        0 | 16 | 19 | 35 | 36 => [Ptr, Value, Value, Value, Value],
        1 | 26 => [Ptr, Count, Ptr, Dom, Value],
        2 => [Ptr, Count, Value, Value, Value],
        3 | 4 | 15 => [Value, Value, Value, Value, Value],
        5 | 9 => [Count, Value, Value, Value, Value],
        8 => [Count, Value, Value, Value, Value],
        10 => [Maddr, Value, Value, Value, Value],
        14 => [Value, Value, Flags, Value, Value],
        22 => [Value, Value, Flags, Dom, Value],
        18 | 20 => [Sub, Count, Ptr, Value, Value],
        21 => [Sub, Count, Value, Value, Value],
        24 => [Sub, Count, Ptr, Value, Value],
        25 => [Sub, Value, Value, Value, Value],
        _ => [Sub, Ptr, Ptr, Value, Value],
    }
}

/// splitmix64: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value below `n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next().checked_rem(n).unwrap_or(0)
    }

    fn pick(&mut self, values: &[u64]) -> u64 {
        let i = usize::try_from(self.below(values.len() as u64)).unwrap_or(0);
        values.get(i).copied().unwrap_or(0)
    }
}

/// The generator with what it must not produce.
struct Fuzzer {
    rng: Rng,
    /// Lowest and highest MFN of this domain.
    own_mfns: (u64, u64),
    /// Frames of this domain that nothing maps (`InitialMapping::spare`):
    /// fair game for pins, type changes, page-table updates and frees.
    spares: [u64; NR_SPARES],
    /// End of the kernel's own mapping.
    image_end: u64,
    verbose: bool,
    /// What aimed calls aim at.
    targets: aim::Targets,
}

/// One generated call.
#[derive(Clone, Copy, Debug)]
struct Call {
    nr: u32,
    args: [u64; 5],
}

impl Fuzzer {
    /// Whether `v` names one of this domain's frames (but a spare one).
    fn own_frame(&self, v: u64) -> bool {
        let (lo, hi) = self.own_mfns;
        let hit = |m: u64| m >= lo && m <= hi && !self.spares.contains(&m);
        hit(v) || hit((v & PTE_ADDR) >> 12)
    }

    /// A spare frame's MFN.
    fn spare(&mut self) -> u64 {
        let i = usize::try_from(self.rng.below(NR_SPARES as u64)).unwrap_or(0);
        self.spares.get(i).copied().unwrap_or(u64::MAX)
    }

    /// Whether `va` is in the kernel's own mapping.
    fn own_va(&self, va: u64) -> bool {
        va >= VIRT_BASE && va < self.image_end
    }

    /// A pointer into the scratch buffer (possibly running into the guard).
    fn scratch_ptr(&mut self) -> u64 {
        let off = self.rng.below((SCRATCH_SIZE as u64).wrapping_add(64));
        let off = if self.rng.below(4) == 0 { off } else { off & !7 };
        scratch().wrapping_add(off).wrapping_sub(32)
    }

    /// One raw value from the mix described in the module documentation.
    fn raw(&mut self) -> u64 {
        let r = self.rng.next();
        match self.rng.below(18) {
            16 => self.spare(),
            17 => (self.spare() << 12) | (r & 0xff8) | (r >> 62),
            0..=2 => r,
            3..=4 => r % 16,
            5 => self.rng.pick(&[
                0,
                1,
                u64::MAX,
                u64::from(u32::MAX),
                0x7fff_ffff,
                0x8000_0000,
                0x8000_0000_0000_0000,
                0x7fff_ffff_ffff_ffff,
                4096,
                4095,
                0xffff,
                0x1_0000_0000,
            ]),
            6 => {
                let off = r % (1 << 24);
                self.rng.pick(&[
                    0xFFFF_8000_0000_0000u64.wrapping_add(off),
                    0xFFFF_8300_0000_0000u64.wrapping_add(off),
                    0xFFFF_82D0_8020_0000u64.wrapping_add(off % (1 << 20)),
                    0xFFFF_8100_0000_0000u64.wrapping_add(off),
                    0xFFFF_87FF_FFFF_F000,
                ])
            }
            7..=9 => self.scratch_ptr(),
            10 => self.rng.pick(&[
                0,
                0x1000,
                r & 0x0000_7fff_ffff_f000,
                VIRT_BASE.wrapping_add(0x4000_0000),
                guard_low().wrapping_add(r % 4096),
                guard_high().wrapping_add(r % 4096),
                0x0000_7fff_ffff_fff8,
            ]),
            11 => 0x0000_8000_0000_0000u64.wrapping_add(r % (1 << 46)),
            12 => r % 0x4_0000,
            13 => ((r % 0x4_0000) << 12) | (r >> 60),
            14 => {
                self.rng.pick(&[0, 1, 2, 3, 0x7ff0, 0x7ff1, 0x7ff2, 0x7ff3, 0x7ff4, 0x7fff, 0xffff])
            }
            _ => {
                let k = r % 64;
                let p = 1u64 << k;
                if r & (1 << 7) != 0 { p.wrapping_sub(1) } else { p }
            }
        }
    }

    /// A value that does not name this domain's frames.
    fn word(&mut self) -> u64 {
        loop {
            let v = self.raw();
            if !self.own_frame(v) {
                return v;
            }
        }
    }

    /// A sub-op number: mostly small.
    fn subop(&mut self) -> u64 {
        match self.rng.below(20) {
            0..=13 => self.rng.below(16),
            14..=16 => self.rng.below(64),
            _ => self.word(),
        }
    }

    /// An argument: often a pointer into scratch, often small.
    fn arg(&mut self) -> u64 {
        match self.rng.below(20) {
            0..=8 => self.scratch_ptr(),
            9..=11 => self.rng.below(16),
            _ => self.word(),
        }
    }

    /// A word of a structure in scratch: fields are often counts, ports,
    /// sub-ops or pointers.
    fn field(&mut self) -> u64 {
        match self.rng.below(22) {
            20 => self.spare(),
            21 => u64::from(DOMID_SELF.0),
            0..=6 => self.rng.below(16),
            7..=8 => self.rng.below(256),
            9..=11 => self.scratch_ptr(),
            _ => self.word(),
        }
    }

    /// A value of `kind`.
    fn of_kind(&mut self, kind: Kind) -> u64 {
        let r = self.rng.below(20);
        match kind {
            Kind::Sub => self.subop(),
            Kind::Ptr if r < 17 => self.scratch_ptr(),
            Kind::Count if r < 14 => self.rng.below(16),
            Kind::Count if r < 18 => self.rng.below(4096),
            Kind::Dom if r < 12 => u64::from(DOMID_SELF.0),
            Kind::Dom if r < 14 => 0,
            Kind::Maddr if r < 12 => (self.spare() << 12) | (self.rng.below(512) << 3),
            Kind::Flags if r < 16 => self.rng.below(8),
            Kind::Value => self.field(),
            _ => self.word(),
        }
    }

    /// Writes a plausible list for `mmu_update` and `mmuext_op` (requests on
    /// the spare frames) where their first argument points.
    fn shape_lists(&mut self, nr: u32, args: &[u64; 5]) {
        let entry_words = match Hypercall::try_from(nr) {
            Ok(Hypercall::MmuUpdate) => 2,
            Ok(Hypercall::MmuextOp) => 3,
            _ => return,
        };
        if self.rng.below(2) == 0 {
            return;
        }
        let n = self.rng.below(8).wrapping_add(1);
        for i in 0..n.wrapping_mul(entry_words) {
            let at = args[0].wrapping_add(i.wrapping_mul(8));
            if !Self::in_scratch(at, 8) {
                break;
            }
            let field = i.checked_rem(entry_words).unwrap_or(0);
            let v = match (entry_words, field) {
                // mmu_update { ptr = spare maddr | cmd, val = PTE }.
                (2, 0) => (self.spare() << 12) | (self.rng.below(512) << 3) | self.rng.below(3),
                (2, _) if self.rng.below(2) == 0 => (self.spare() << 12) | self.rng.below(0x1000),
                // mmuext_op { cmd, arg1 = spare MFN or address, arg2 }.
                (3, 0) => self.rng.below(20),
                (3, 1) if self.rng.below(2) == 0 => self.spare(),
                _ => self.field(),
            };
            let p = core::ptr::with_exposed_provenance_mut::<u64>(usize::try_from(at).unwrap_or(0));
            // SAFETY: eight bytes inside the scratch buffer (checked above).
            unsafe { p.write_unaligned(v) };
        }
    }

    /// Fills `REFRESH` bytes of scratch around `ptr` (if it points there).
    fn refresh(&mut self, ptr: u64) {
        let base = scratch();
        let Some(off) = ptr.checked_sub(base) else { return };
        let Ok(off) = usize::try_from(off) else { return };
        if off >= SCRATCH_SIZE {
            return;
        }
        let start = (off & !7).saturating_sub(64);
        let end = start.saturating_add(REFRESH).min(SCRATCH_SIZE);
        for at in (start..end).step_by(8) {
            let v = self.field();
            let p = core::ptr::with_exposed_provenance_mut::<u64>(
                usize::try_from(base).unwrap_or(0).wrapping_add(at),
            );
            // SAFETY: `at + 8 <= SCRATCH_SIZE`: an aligned word of the
            // scratch buffer, which only the fuzzer and the hypervisor use.
            unsafe { p.write_volatile(v) };
        }
    }

    /// A sanitised call; `slot` picks the safe-argument slot.
    fn call(&mut self, slot: usize, in_multicall: bool) -> Call {
        let nr = loop {
            let nr = if self.rng.below(64) == 0 {
                u32::try_from(self.rng.pick(&[65, 127, 128, 0x8000_0000, u64::from(u32::MAX)]))
                    .unwrap_or(u32::MAX)
            } else if self.rng.below(4) != 0 {
                u32::try_from(self.rng.pick(&IMPLEMENTED)).unwrap_or(0)
            } else {
                u32::try_from(self.rng.below(u64::from(NR_FUZZED))).unwrap_or(0)
            };
            let excluded =
                nr == Hypercall::Iret.raw() || (in_multicall && nr == Hypercall::Multicall.raw());
            if !excluded {
                break nr;
            }
        };
        let mut args = [0u64; 5];
        for a in &mut args {
            *a = self.arg();
        }
        args[0] = self.subop();
        if self.rng.below(10) < 7 {
            // Shaped: each argument of the kind the hypercall takes.
            for (a, kind) in args.iter_mut().zip(kinds(nr)) {
                *a = self.of_kind(kind);
            }
        }
        for &a in &args {
            self.refresh(a);
        }
        self.shape_lists(nr, &args);
        self.constrain(nr, &mut args, slot);
        let call = Call { nr, args };
        self.sanitise(&call);
        call
    }

    /// `GNTTABOP_unmap_and_replace`.
    const GNTTABOP_UNMAP_AND_REPLACE: u64 = 7;

    /// `sizeof(struct gnttab_unmap_and_replace)`: `host_addr`, `new_addr`,
    /// `handle`, `status`.
    const UNMAP_AND_REPLACE_SIZE: u64 = 24;

    /// Whether `[at, at + len)` lies in the scratch buffer.
    fn in_scratch(at: u64, len: u64) -> bool {
        let base = scratch();
        at >= base
            && at.checked_add(len).is_some_and(|end| end <= base.wrapping_add(SCRATCH_SIZE as u64))
    }

    /// Rewrites what a call would read from scratch that could switch this
    /// kernel's page tables or move its `vcpu_info` to a frame it does not
    /// control: `MMUEXT_NEW_BASEPTR` entries become an unknown command,
    /// `VCPUOP_register_vcpu_info` of one of its frames an invalid MFN.
    fn sanitise(&self, c: &Call) {
        match Hypercall::try_from(c.nr) {
            Ok(Hypercall::GrantTableOp) if low32(c.args[0]) == 0 => {
                // GNTTABOP_map_grant_ref by address over our own mapping:
                // a neighbour's granted frame would replace a page of ours.
                let count = low32(c.args[2]).min(64);
                for i in 0..count {
                    let at = c.args[1].wrapping_add(i.wrapping_mul(32));
                    if !Self::in_scratch(at, 16) {
                        break;
                    }
                    let p = core::ptr::with_exposed_provenance_mut::<u64>(
                        usize::try_from(at).unwrap_or(0),
                    );
                    let f = core::ptr::with_exposed_provenance::<u32>(
                        usize::try_from(at.wrapping_add(8)).unwrap_or(0),
                    );
                    // SAFETY: 16 bytes inside the scratch buffer (checked
                    // above): the op's `host_addr` and `flags`.
                    unsafe {
                        let va = p.read_unaligned();
                        let by_pte = f.read_unaligned() & GNTMAP_CONTAINS_PTE != 0;
                        if !by_pte && self.own_va(va) && va & !0xfff != window() {
                            p.write_unaligned(window());
                        }
                    }
                }
            }
            Ok(Hypercall::GrantTableOp) if low32(c.args[0]) == Self::GNTTABOP_UNMAP_AND_REPLACE => {
                // GNTTABOP_unmap_and_replace moves the PTE at `new_addr`
                // into the grant's slot and clears it: at one of our own
                // addresses it would unmap a page of this kernel (as on
                // Xen). No replacement (0) instead.
                let count = low32(c.args[2]).min(1024);
                for i in 0..count {
                    let at = c.args[1].wrapping_add(i.wrapping_mul(Self::UNMAP_AND_REPLACE_SIZE));
                    if !Self::in_scratch(at, 16) {
                        break;
                    }
                    let p = core::ptr::with_exposed_provenance_mut::<u64>(
                        usize::try_from(at.wrapping_add(8)).unwrap_or(0),
                    );
                    // SAFETY: 16 bytes inside the scratch buffer (checked
                    // above): the op's `host_addr` and `new_addr`.
                    unsafe {
                        let va = p.read_unaligned();
                        if self.own_va(va) || self.own_va(va & !0xfff) {
                            p.write_unaligned(0);
                        }
                    }
                }
            }
            Ok(Hypercall::MmuextOp) => {
                let count = low32(c.args[1]).min(1024);
                for i in 0..count {
                    let at = c.args[0].wrapping_add(i.wrapping_mul(MMUEXT_OP_SIZE));
                    if !Self::in_scratch(at, 4) {
                        break;
                    }
                    let p = core::ptr::with_exposed_provenance_mut::<u32>(
                        usize::try_from(at).unwrap_or(0),
                    );
                    // SAFETY: four bytes inside the scratch buffer (checked
                    // above); unaligned access is fine on x86.
                    unsafe {
                        if p.read_unaligned() == MMUEXT_NEW_BASEPTR {
                            p.write_unaligned(0x7fff_ffff);
                        }
                    }
                }
            }
            Ok(Hypercall::VcpuOp) if low32(c.args[0]) == u64::from(VCPUOP_REGISTER_VCPU_INFO) => {
                let at = c.args[2];
                if Self::in_scratch(at, 8) {
                    let p = core::ptr::with_exposed_provenance_mut::<u64>(
                        usize::try_from(at).unwrap_or(0),
                    );
                    let (lo, hi) = self.own_mfns;
                    // SAFETY: eight bytes inside the scratch buffer.
                    unsafe {
                        let mfn = p.read_unaligned();
                        if mfn >= lo && mfn <= hi {
                            p.write_unaligned(u64::MAX);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Applies the constraints of the module documentation.
    fn constrain(&mut self, nr: u32, args: &mut [u64; 5], slot: usize) {
        let cmd = u32::try_from(low32(args[0])).unwrap_or(u32::MAX);
        match Hypercall::try_from(nr) {
            Ok(Hypercall::SchedOp | Hypercall::SchedOpCompat) => match cmd {
                SCHEDOP_BLOCK | SCHEDOP_SHUTDOWN => args[0] = SCHEDOP_YIELD,
                SCHEDOP_SHUTDOWN_CODE | SCHEDOP_WATCHDOG | SCHEDOP_POLL
                    if nr == Hypercall::SchedOp.raw() =>
                {
                    let at = safe_slot(slot);
                    let words = match cmd {
                        // sched_shutdown { reason = poweroff }.
                        SCHEDOP_SHUTDOWN_CODE => [0, 0, 0, 0],
                        // sched_watchdog { id, timeout = 0 }.
                        SCHEDOP_WATCHDOG => [self.word() & 0xffff_ffff, 0, 0, 0],
                        // sched_poll { ports, nr_ports, timeout <= now + 1 ms }.
                        _ => {
                            let now = shinfo::now().unwrap_or(1);
                            let timeout = now.saturating_add(self.rng.below(1_000_000)).max(1);
                            [self.word(), self.word(), timeout, 0]
                        }
                    };
                    for (i, w) in words.into_iter().enumerate() {
                        let p = core::ptr::with_exposed_provenance_mut::<u64>(
                            usize::try_from(at).unwrap_or(0).wrapping_add(i.wrapping_mul(8)),
                        );
                        // SAFETY: slot `slot` of the safe buffer, 32 bytes
                        // inside it; nothing else points there.
                        unsafe { p.write_volatile(w) };
                    }
                    args[1] = at;
                }
                _ => {}
            },
            Ok(Hypercall::VcpuOp) => {
                if cmd == VCPUOP_SEND_NMI {
                    args[0] = VCPUOP_IS_UP;
                } else if cmd == VCPUOP_DOWN && low32(args[1]) == 0 {
                    args[1] = 1;
                }
            }
            Ok(Hypercall::GrantTableOp) if low32(args[0]) == Self::GNTTABOP_UNMAP_AND_REPLACE => {
                // Only lists in the scratch buffer, which `sanitise` can
                // clean of our own addresses (anywhere else, small handles
                // and our own pointers abound: the stolen `new_addr` PTE
                // would be one of ours).
                if !Self::in_scratch(args[1], Self::UNMAP_AND_REPLACE_SIZE) {
                    args[1] = 0;
                }
            }
            Ok(Hypercall::UpdateVaMapping | Hypercall::UpdateVaMappingOtherdomain) => {
                while self.own_va(args[0]) || self.own_va(args[0] & !0xfff) {
                    args[0] = self.word();
                }
            }
            Ok(Hypercall::ConsoleIo) if cmd == CONSOLEIO_WRITE => {
                args[1] = low32(args[1]).checked_rem(65).unwrap_or(0);
                let base = scratch();
                if args[2] >= base.wrapping_sub(64)
                    && args[2] < base.wrapping_add(SCRATCH_SIZE as u64).wrapping_add(4096)
                {
                    let start = PRINTABLE.as_ptr().addr() as u64;
                    args[2] = start.wrapping_add(64u64.saturating_sub(args[1]));
                }
            }
            Ok(Hypercall::Multicall) => {
                let n = usize::try_from(self.rng.below(MAX_MULTICALL as u64).wrapping_add(1))
                    .unwrap_or(0);
                let list = (&raw mut MULTICALL).addr();
                let mut subs = [Call { nr: 0, args: [0; 5] }; MAX_MULTICALL];
                for i in 0..n {
                    let c = self.call(slot.wrapping_add(i).wrapping_add(1), true);
                    if let Some(sub) = subs.get_mut(i) {
                        *sub = c;
                    }
                    let mut entry = [0u64; MC_ENTRY_WORDS];
                    entry[0] = u64::from(c.nr);
                    entry[1] = self.word();
                    for (e, a) in entry.iter_mut().skip(2).zip(c.args) {
                        *e = a;
                    }
                    entry[7] = self.word();
                    for (j, w) in entry.into_iter().enumerate() {
                        let p = core::ptr::with_exposed_provenance_mut::<u64>(
                            list.wrapping_add(i.wrapping_mul(64)).wrapping_add(j.wrapping_mul(8)),
                        );
                        // SAFETY: entry `i < MAX_MULTICALL` of the
                        // multicall page, word `j < 8`.
                        unsafe { p.write_volatile(w) };
                    }
                }
                // Later sub-calls refreshed scratch that earlier ones read.
                for sub in subs.iter().take(n) {
                    self.sanitise(sub);
                }
                if self.rng.below(4) != 0 {
                    args[0] = list as u64;
                    args[1] = n as u64;
                } else if self.rng.below(2) == 0 {
                    // The right list with a wrong count: the entries past
                    // `n` are stale (earlier, sanitised calls) or zero.
                    args[0] = list as u64;
                } else {
                    // Garbage list pointer (never the scratch buffer,
                    // whose contents are not sanitised calls).
                    while args[0] >= guard_low() && args[0] < guard_high().wrapping_add(4096) {
                        args[0] = self.rng.pick(&[0, 0xFFFF_8300_0000_0000, 0x1000]);
                    }
                }
                let clamp = if self.rng.below(8) == 0 { 4097 } else { 64 };
                if args[0] == list as u64 {
                    args[1] = args[1].checked_rem(clamp).unwrap_or(0);
                    if args[1] > n as u64 {
                        // Zero the entries past `n` up to the count (op 0 =
                        // set_trap_table(NULL) is harmless and restored).
                        for i in n..usize::try_from(args[1]).unwrap_or(0).min(64) {
                            for j in 0..MC_ENTRY_WORDS {
                                let p = core::ptr::with_exposed_provenance_mut::<u64>(
                                    list.wrapping_add(i.wrapping_mul(64))
                                        .wrapping_add(j.wrapping_mul(8)),
                                );
                                // SAFETY: entry `i < 64` of the multicall
                                // page, word `j < 8`.
                                unsafe { p.write_volatile(0) };
                            }
                        }
                    }
                    if args[1] > 64 {
                        // Past the page: the list runs into whatever
                        // follows. Keep it to the page.
                        args[1] = 64;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether call `nr` with `args` may return any value, not only a result
/// or `-errno`: `get_debugreg` (a register's value), and Xen's final-result
/// form of `mmu_update`/`mmuext_op` (no requests, count
/// `MMU_UPDATE_PREEMPTED`: it returns `foreigndom` as an `int`, seen with
/// seed 0x1 at call 363720).
fn any_value(nr: u32, args: &[u64; 5]) -> bool {
    let mmu = nr == Hypercall::MmuUpdate.raw() || nr == Hypercall::MmuextOp.raw();
    nr == Hypercall::GetDebugreg.raw() || (mmu && args[0] == 0 && low32(args[1]) == 0x8000_0000)
}

/// Unmaps the guard pages again (an aimed `mmu_update` may have mapped a
/// spare frame there: a long list running past the scratch buffer would
/// then go on into this kernel's own memory, the stack included, as it
/// did with seed 0xdeadbeef: `GNTTABOP_unmap_grant_ref` with a count of
/// 0x53e8d1f9 wrote its statuses over the tallies).
fn unmap_guards() {
    for guard in [guard_low(), guard_high()] {
        // SAFETY: the guard pages are this kernel's and hold nothing.
        if let Err(e) = unsafe { shinfo::update_va_mapping(guard, 0, UVMF_INVLPG) } {
            fail(format_args!("unmapping guard page {guard:#x} again: {e}"));
        }
    }
}

/// Restores the state a fuzzed call may have changed (see the module
/// documentation); `nr` is the call made.
fn restore(nr: u32) {
    let all = nr == Hypercall::Multicall.raw();
    if all || nr == Hypercall::FpuTaskswitch.raw() {
        // SAFETY: clears CR0.TS, as the kernel runs.
        let _ = unsafe { direct::hypercall1(Hypercall::FpuTaskswitch.raw(), 0) };
    }
    if all || nr == Hypercall::SetDebugreg.raw() {
        // SAFETY: DR7 = 0 disables every breakpoint.
        let _ = unsafe { direct::hypercall2(Hypercall::SetDebugreg.raw(), 7, 0) };
    }
    if all || nr == Hypercall::SetSegmentBase.raw() {
        // SAFETY: a null user %gs selector; the kernel never uses user %gs.
        let _ =
            unsafe { direct::hypercall2(Hypercall::SetSegmentBase.raw(), SEGBASE_GS_USER_SEL, 0) };
    }
    if (all || nr == Hypercall::SetTrapTable.raw())
        && let Err(e) = fault::install()
    {
        fail(format_args!("re-installing the trap table: {e}"));
    }
}

/// The pointer classes of the sweep: NULL, a zeroed structure, an
/// all-ones structure, the hypervisor's direct map, its image, the M2P,
/// a non-canonical address, an unmapped page, the last bytes before the
/// upper guard page.
fn sweep_pointers() -> [u64; 9] {
    [
        0,
        scratch(),
        scratch().wrapping_add(SWEEP_FILL as u64),
        0xFFFF_8300_0010_0000,
        0xFFFF_82D0_8020_0000,
        0xFFFF_8000_0000_0000,
        0x0000_8000_0000_0000,
        0x1000,
        guard_high().wrapping_sub(4),
    ]
}

/// Bytes of each sweep structure.
const SWEEP_FILL: usize = 1024;

/// Every hypercall in 0..=64, each sub-op in 0..32 where it takes one, with
/// each pointer class of [`sweep_pointers`]; the other arguments typical
/// (count 0 or 1, `DOMID_SELF`, 0), under the same constraints as the
/// random calls. Returns `(calls, odd results)`.
fn sweep(f: &mut Fuzzer) -> (u32, u32) {
    let (mut calls, mut odd) = (0u32, 0u32);
    for nr in 0..NR_FUZZED {
        if nr == Hypercall::Iret.raw() || nr == Hypercall::Multicall.raw() {
            continue;
        }
        let kinds = kinds(nr);
        let subs = if kinds[0] == Kind::Sub { 32 } else { 1 };
        for sub in 0..subs {
            for (variant, ptr) in (0u64..).zip(sweep_pointers()) {
                let base = usize::try_from(scratch()).unwrap_or(0);
                for at in (0..2 * SWEEP_FILL).step_by(8) {
                    let v = if at < SWEEP_FILL { 0 } else { u64::MAX };
                    let p = core::ptr::with_exposed_provenance_mut::<u64>(base.wrapping_add(at));
                    // SAFETY: the first 2 KiB of the scratch buffer.
                    unsafe { p.write_volatile(v) };
                }
                let mut args = [0u64; 5];
                for (i, (a, kind)) in args.iter_mut().zip(kinds).enumerate() {
                    *a = match kind {
                        Kind::Sub if i == 0 => sub,
                        Kind::Ptr | Kind::Sub => ptr,
                        Kind::Count => variant % 2,
                        Kind::Dom => u64::from(DOMID_SELF.0),
                        Kind::Maddr | Kind::Flags | Kind::Value => 0,
                    };
                }
                if kinds[0] != Kind::Sub && kinds[0] != Kind::Ptr {
                    args[0] = ptr;
                }
                f.constrain(nr, &mut args, usize::try_from(variant).unwrap_or(0));
                let c = Call { nr, args };
                f.sanitise(&c);
                let [a0, a1, a2, a3, a4] = args;
                if f.verbose {
                    println!("sweep: hypercall {nr} ({a0:#x}, {a1:#x}, {a2:#x}, {a3:#x}, {a4:#x})");
                }
                // SAFETY: as for the random calls in `test_main`.
                let rc = unsafe { direct::hypercall5(nr, a0, a1, a2, a3, a4) };
                restore(nr);
                calls = calls.saturating_add(1);
                if rc < -MAX_ERRNO && !any_value(nr, &args) {
                    odd = odd.saturating_add(1);
                    fail(format_args!(
                        "sweep: hypercall {nr} ({a0:#x}, {a1:#x}, {a2:#x}, {a3:#x}, {a4:#x}) \
                         returned {rc:#x}"
                    ));
                }
            }
        }
    }
    (calls, odd)
}

/// Per-hypercall counts.
#[derive(Clone, Copy, Default)]
struct Tally {
    ok: u32,
    err: u32,
}

fn test_main(si: &StartInfo) {
    let cmdline = si.cmd_line_bytes();
    let seed = shinfo::cmdline_value(cmdline, "seed")
        .and_then(|v| {
            v.strip_prefix("0x").map_or_else(|| v.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
        })
        .unwrap_or(DEFAULT_SEED);
    let calls: u32 = shinfo::cmdline_value(cmdline, "calls")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CALLS);
    let verbose =
        core::str::from_utf8(cmdline).is_ok_and(|l| l.split_whitespace().any(|w| w == "verbose"));
    // `trace=<n>`: from call n on, print each call and its result and
    // check this kernel's counts after each (to find the call of a
    // failure the every-1000-calls check saw).
    let trace: u32 =
        shinfo::cmdline_value(cmdline, "trace").and_then(|v| v.parse().ok()).unwrap_or(u32::MAX);
    if let Err(e) = fault::install() {
        fail(format_args!("set_trap_table: {e}"));
        return;
    }
    if let Err(e) = shinfo::map(si) {
        fail(format_args!("mapping shared_info: {e}"));
        return;
    }
    let Some(map) = InitialMapping::new(si) else {
        fail("cannot read the initial mapping");
        return;
    };
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for pfn in 0..si.nr_pages {
        if let Some(m) = map.mfn(pfn) {
            lo = lo.min(m);
            hi = hi.max(m);
        }
    }
    let image_end = VIRT_BASE.wrapping_add(map.mapped_limit << 12);
    let mut targets = aim::Targets::parse(shinfo::cmdline_value(cmdline, "neighbours"));
    targets.window = window();
    for (pte, va) in targets.ptes.iter_mut().zip([guard_low(), guard_high(), window()]) {
        let l1e = || {
            let l3 = map.next(map.l4_mfn, va, 39)?;
            let l2 = map.next(l3, va, 30)?;
            let l1 = map.next(l2, va, 21)?;
            pv_tests::pt::maddr(l1).checked_add(((va >> 12) & 511) << 3)
        };
        let Some(at) = l1e() else {
            fail(format_args!("no L1 entry for {va:#x}"));
            return;
        };
        *pte = at;
    }
    for guard in [guard_low(), guard_high(), window()] {
        // SAFETY: the guard pages and the window are this kernel's and
        // hold nothing.
        if let Err(e) = unsafe { shinfo::update_va_mapping(guard, 0, UVMF_INVLPG) } {
            fail(format_args!("unmapping guard page {guard:#x}: {e}"));
            return;
        }
    }
    println!(
        "fuzzing: seed {seed:#x}, {calls} calls, hypercalls 0..={}, own frames {lo:#x}..={hi:#x}, \
         own mapping up to {image_end:#x}",
        NR_FUZZED - 1
    );
    let mut spares = [u64::MAX; NR_SPARES];
    for (n, slot) in (0u64..).zip(spares.iter_mut()) {
        if let Some((_, mfn)) = map.spare(n) {
            *slot = mfn;
        }
    }
    let mut neighbours = [0u16; 4];
    for (slot, d) in neighbours.iter_mut().zip(targets.ids()) {
        *slot = d;
    }
    let named = neighbours.get(..targets.ids().count()).unwrap_or(&[]);
    println!("fuzzing: aimed at neighbours {named:?}");
    let mut f = Fuzzer { rng: Rng(seed), own_mfns: (lo, hi), spares, image_end, verbose, targets };
    f.refresh(scratch());
    for off in (REFRESH..SCRATCH_SIZE).step_by(REFRESH) {
        f.refresh(scratch().wrapping_add(off as u64).wrapping_add(64));
    }
    let swept = sweep(&mut f);
    check(swept.1 == 0, format_args!("sweep: {} calls, every result a value or -errno", swept.0));
    let mut tally = [Tally::default(); NR_FUZZED as usize + 1];
    let mut aimed_tally = [Tally::default(); aim::KINDS.len()];
    let mut odd = 0u32;
    let mut breaches = 0u32;
    let mut aimed_calls = 0u64;
    for i in 0..calls {
        let aimed = (f.rng.below(3) == 0).then(|| f.aimed());
        let c = match &aimed {
            Some(a) => a.call,
            None => f.call(usize::try_from(i).unwrap_or(0), false),
        };
        let [a0, a1, a2, a3, a4] = c.args;
        let traced = f.verbose || i >= trace;
        if traced {
            println!("#{i}: hypercall {} ({a0:#x}, {a1:#x}, {a2:#x}, {a3:#x}, {a4:#x})", c.nr);
            if aimed.is_some() {
                println!("#{i}: aimed structure {:#x?}", aim::words(a1));
            }
        }
        // SAFETY: the arguments are garbage by design; what they may do to
        // this kernel is held back as the module documentation lists (no
        // own frame, no own mapping, no shutdown, no blocking); all other
        // memory they name is the scratch buffer, unmapped, or the
        // hypervisor's, which it must refuse.
        let rc = unsafe { direct::hypercall5(c.nr, a0, a1, a2, a3, a4) };
        restore(c.nr);
        if aimed.as_ref().is_some_and(|a| a.kind == aim::MMU_KIND) {
            unmap_guards();
        }
        if let Some(a) = &aimed {
            let refused = rc < 0 || (a.status_at != 0 && aim::status(a.status_at) != 0);
            if let Some(t) = aimed_tally.get_mut(a.kind) {
                if refused {
                    t.err = t.err.saturating_add(1)
                } else {
                    t.ok = t.ok.saturating_add(1)
                }
            }
            if a.hostile && !refused {
                breaches = breaches.saturating_add(1);
                if breaches <= 8 {
                    fail(format_args!(
                        "#{i}: aimed {} on a neighbour succeeded: hypercall {} ({a0:#x}, {a1:#x}), \
                         structure {:#x?}",
                        aim::KINDS.get(a.kind).unwrap_or(&"?"),
                        c.nr,
                        aim::words(a1),
                    ));
                }
            }
        }
        let t = tally.get_mut(usize::try_from(c.nr).unwrap_or(usize::MAX)).or(None);
        let slot = match t {
            Some(t) => t,
            None => match tally.last_mut() {
                Some(t) => t,
                None => continue,
            },
        };
        if rc < 0 {
            slot.err = slot.err.saturating_add(1)
        } else {
            slot.ok = slot.ok.saturating_add(1)
        }
        let weird = rc < -MAX_ERRNO && !any_value(c.nr, &c.args);
        if weird {
            odd = odd.saturating_add(1);
            if odd <= 8 {
                fail(format_args!(
                    "#{i}: hypercall {} ({a0:#x}, {a1:#x}, {a2:#x}, {a3:#x}, {a4:#x}) returned \
                     {rc:#x}: neither a result nor -errno",
                    c.nr
                ));
            }
        }
        let done = i.wrapping_add(1);
        aimed_calls = aimed_calls.saturating_add(u64::from(aimed.is_some()));
        // The fuzzer's own state must be intact: the counts add up. (A
        // hypervisor writing where it must not, or mapping something over
        // this kernel's memory, shows here.)
        let counted = |t: &[Tally]| {
            t.iter().fold(0u64, |n, t| {
                n.saturating_add(u64::from(t.ok)).saturating_add(u64::from(t.err))
            })
        };
        if traced {
            println!("#{i}: -> {rc:#x}");
        }
        if (traced || done.checked_rem(1000) == Some(0))
            && (counted(&tally) != u64::from(done) || counted(&aimed_tally) != aimed_calls)
        {
            fail(format_args!(
                "after call #{i}: the tallies ({}, {}) no longer count the calls ({done}, \
                 {aimed_calls}): this kernel's memory was changed behind its back",
                counted(&tally),
                counted(&aimed_tally),
            ));
            break;
        }
        if done.checked_rem(50000) == Some(0) {
            println!("fuzzing: {done} calls done");
        }
    }
    println!("fuzzing done: per hypercall (ok/errors):");
    for (nr, t) in tally.iter().enumerate() {
        if t.ok != 0 || t.err != 0 {
            let name = u32::try_from(nr)
                .ok()
                .and_then(|n| Hypercall::try_from(n).ok())
                .map_or("(other)", Hypercall::xen_name);
            println!("  {nr:3} {name}: {}/{}", t.ok, t.err);
        }
    }
    println!("aimed calls per kind (succeeded/refused):");
    for (name, t) in aim::KINDS.iter().zip(aimed_tally) {
        println!("  {name}: {}/{}", t.ok, t.err);
    }
    check(odd == 0, "every result is a value or -errno");
    check(breaches == 0, "every aimed grant or port operation on a neighbour was refused");
    check(ops::xen_version().is_ok(), "xen_version still answers");
    check(ops::console_write(b"console still works\n").is_ok(), "console_io still answers");
    let port = evtchn::alloc_unbound(DOMID_SELF, DOMID_SELF);
    check(port.is_ok(), format_args!("event channels still work ({port:?})"));
    check(true, format_args!("survived {calls} fuzzed hypercalls (seed {seed:#x})"));
}
