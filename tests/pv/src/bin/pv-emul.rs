// SPDX-License-Identifier: GPL-2.0-only
//! `pv-emul`: privileged and sensitive instructions executed by a 64-bit PV
//! guest kernel (ring 3), which the hypervisor must emulate, bounce or let
//! run natively as Xen does (`pv/emul-priv-op.c`, `pv/emul-inv-op.c`,
//! `traps.c`).
//!
//! Every instruction runs inside [`pv_tests::probe!`], so an exception the
//! hypervisor bounces is caught and checked instead of killing the kernel:
//!
//! * control registers: `mov %cr3` is `xen_pfn_to_cr3(mfn of pt_base)`;
//!   `mov %cr0` has PG and PE (and TS exactly when `fpu_taskswitch(1)` set
//!   it); writing CR3 with its own value works; writing CR0 with PG clear
//!   raises `#GP(0)`;
//! * MSRs: `MSR_FS_BASE` reads back a canonical value written by `wrmsr` and
//!   the hardware base follows (`mov %fs:0`), a non-canonical one raises
//!   `#GP(0)` and changes nothing; an unknown MSR read raises `#GP(0)`;
//!   `MSR_PAT` is `XEN_MSR_PAT`; `MSR_EFER` has LME, LMA and SCE;
//! * segment bases: `wrmsr MSR_GS_BASE`, `set_segment_base(SEGBASE_GS_KERNEL)`,
//!   `SEGBASE_FS` and `SEGBASE_GS_USER` agree with `rdmsr` of
//!   `MSR_GS_BASE`/`MSR_FS_BASE`/`MSR_SHADOW_GS_BASE` and with `%gs:0`;
//!   a non-canonical base is `-EINVAL`;
//! * CPUID: the forced-emulation prefix (`ud2a; "xen"; cpuid`) gives the
//!   `XenVMMXenVMM` leaves (max ≥ `0x40000002`, leaf 1 = `XENVER_version`)
//!   and the hypervisor bit of leaf 1; plain `cpuid` runs; the prefix before
//!   anything but `cpuid` raises `#UD`;
//! * port I/O: with virtual IOPL 0, `inb` and `cli` raise `#GP(0)`; after
//!   `PHYSDEVOP_set_iopl(1)` a read of the hypervisor's UART (port
//!   0x3fd) returns 0xff, port 0x80 works both ways and `cli` is accepted;
//! * `wbinvd` completes; with `fpu_taskswitch(1)` (or `mov` to CR0 with TS)
//!   `fninit` raises `#NM`, after `fpu_taskswitch(0)` or `clts` it runs.
#![no_std]
#![no_main]

use pv_tests::fault::{GP, NM, Outcome, UD};
use pv_tests::guest_abi::physdev::{PhysdevOp, PhysdevSetIopl};
use pv_tests::guest_abi::xen::{Errno, Hypercall, SegBase};
use pv_tests::hypercall::{hypercall1, hypercall2};
use pv_tests::ops::{self, Ret};
use pv_tests::{StartInfo, check, check_eq, fault, println, probe};

pv_tests::test_kernel!(name: "emul", main: test_main);

/// `VIRT_BASE` of the image: VA `VIRT_BASE + (pfn << 12)` maps PFN `pfn`.
const VIRT_BASE: u64 = pv_tests::entry::VIRT_BASE;

const MSR_EFER: u32 = 0xc000_0080;
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_SHADOW_GS_BASE: u32 = 0xc000_0102;
const MSR_PAT: u32 = 0x277;
/// No CPU has this MSR.
const MSR_UNKNOWN: u32 = 0x1234_5678;

/// The PAT every PV guest may assume (`XEN_MSR_PAT`).
const XEN_MSR_PAT: u64 = 0x0000_0501_0007_0406;

const EFER_SCE: u64 = 1 << 0;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;

const CR0_PE: u64 = 1 << 0;
const CR0_TS: u64 = 1 << 3;
const CR0_PG: u64 = 1 << 31;

/// A non-canonical address.
const NON_CANONICAL: u64 = 0x8000_0000_0000_0000;

/// The hypervisor's serial line status register (COM1 + 5), never given to
/// dom0.
const UART_LSR: u16 = 0x3fd;
/// The POST diagnostic port, which dom0 may use.
const POST_PORT: u16 = 0x80;

/// Read through `%fs:0` after `MSR_FS_BASE` points here.
static FS_PROBE: u64 = 0xf5f5_0123_4567_89ab;
/// Read through `%gs:0` after `wrmsr MSR_GS_BASE`.
static GS_PROBE_MSR: u64 = 0x6565_1111_2222_3333;
/// Read through `%gs:0` after `set_segment_base(SEGBASE_GS_KERNEL)`.
static GS_PROBE_HYPERCALL: u64 = 0x6767_4444_5555_6666;

fn test_main(si: &StartInfo) {
    if let Err(e) = fault::install() {
        pv_tests::error(format_args!("set_trap_table: {e}"));
        return;
    }
    println!("trap handlers installed");
    control_registers(si);
    msrs();
    segment_bases();
    cpuid();
    port_io();
    cache_and_fpu();
    let version = ops::xen_version();
    check(version.is_ok(), format_args!("xen_version still works: {version:?}"));
}

/// Address of a static, for segment bases.
fn addr_of(value: &'static u64) -> u64 {
    core::ptr::from_ref(value).addr() as u64
}

fn split(value: u64) -> (u32, u32) {
    let lo = u32::try_from(value & 0xffff_ffff).unwrap_or(0);
    let hi = u32::try_from(value.wrapping_shr(32)).unwrap_or(0);
    (lo, hi)
}

fn join(lo: u32, hi: u32) -> u64 {
    u64::from(hi).wrapping_shl(32) | u64::from(lo)
}

/// `rdmsr`, or the exception it raised.
fn rdmsr(msr: u32) -> Result<u64, fault::Fault> {
    let (lo, hi): (u32, u32);
    // SAFETY: rdmsr only reads an MSR (or faults, which the probe catches).
    let fault = unsafe { probe!("rdmsr"; in("ecx") msr, out("eax") lo, out("edx") hi) };
    fault.map_or(Ok(join(lo, hi)), Err)
}

/// `wrmsr`, or the exception it raised.
fn wrmsr(msr: u32, value: u64) -> Option<fault::Fault> {
    let (lo, hi) = split(value);
    // SAFETY: the MSRs written here are segment bases the kernel does not
    // use itself; a refused write faults, which the probe catches.
    unsafe { probe!("wrmsr"; in("ecx") msr, in("eax") lo, in("edx") hi) }
}

fn read_cr0() -> Result<u64, fault::Fault> {
    let value: u64;
    // SAFETY: reading CR0 has no side effects.
    let fault = unsafe { probe!("mov %cr0, {v}"; v = out(reg) value) };
    fault.map_or(Ok(value), Err)
}

fn read_cr3() -> Result<u64, fault::Fault> {
    let value: u64;
    // SAFETY: reading CR3 has no side effects.
    let fault = unsafe { probe!("mov %cr3, {v}"; v = out(reg) value) };
    fault.map_or(Ok(value), Err)
}

fn write_cr0(value: u64) -> Option<fault::Fault> {
    // SAFETY: only TS may change (the hypervisor refuses anything else).
    unsafe { probe!("mov {v}, %cr0"; v = in(reg) value) }
}

fn fpu_taskswitch(set: bool) -> i64 {
    // SAFETY: fpu_taskswitch only sets or clears the virtual CR0.TS.
    unsafe { hypercall1(Hypercall::FpuTaskswitch.raw(), u64::from(set)) }
}

fn set_segment_base(which: SegBase, base: u64) -> i64 {
    // SAFETY: the kernel uses neither FS nor GS.
    unsafe { hypercall2(Hypercall::SetSegmentBase.raw(), u64::from(which.raw()), base) }
}

fn set_iopl(iopl: u32) -> i64 {
    let arg = PhysdevSetIopl { iopl };
    // SAFETY: PHYSDEVOP_set_iopl reads one physdev_set_iopl.
    unsafe {
        hypercall2(
            Hypercall::PhysdevOp.raw(),
            u64::from(PhysdevOp::SetIopl.raw()),
            (&raw const arg).addr() as u64,
        )
    }
}

fn gs_read() -> Result<u64, fault::Fault> {
    let value: u64;
    // SAFETY: reads 8 bytes at the GS base, which points at a static.
    let fault = unsafe { probe!("mov %gs:0, {v}"; v = out(reg) value) };
    fault.map_or(Ok(value), Err)
}

fn fs_read() -> Result<u64, fault::Fault> {
    let value: u64;
    // SAFETY: reads 8 bytes at the FS base, which points at a static.
    let fault = unsafe { probe!("mov %fs:0, {v}"; v = out(reg) value) };
    fault.map_or(Ok(value), Err)
}

/// Shows an MSR read result.
struct MsrRead(Result<u64, fault::Fault>);

impl core::fmt::Display for MsrRead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Ok(v) => write!(f, "{v:#x}"),
            Err(fault) => write!(f, "{fault}"),
        }
    }
}

fn control_registers(si: &StartInfo) {
    let pt_pfn = si.pt_base.wrapping_sub(VIRT_BASE).wrapping_shr(12);
    let mfn_list =
        core::ptr::with_exposed_provenance::<u64>(usize::try_from(si.mfn_list).unwrap_or(0));
    let Ok(pfn_index) = usize::try_from(pt_pfn) else { return };
    // SAFETY: the P2M list covers nr_pages entries in the initial mapping,
    // and pt_base's PFN is one of them.
    let pt_mfn = unsafe { mfn_list.wrapping_add(pfn_index).read_volatile() };
    let expected_cr3 = pt_mfn.wrapping_shl(12);
    let cr3 = read_cr3();
    check(
        cr3 == Ok(expected_cr3),
        format_args!(
            "mov %cr3 = xen_pfn_to_cr3(mfn {pt_mfn:#x} of pt_base) {expected_cr3:#x}: {}",
            MsrRead(cr3)
        ),
    );
    if let Ok(value) = cr3 {
        let fault = {
            // SAFETY: loads CR3 with the current top-level table: nothing
            // changes.
            unsafe { probe!("mov {v}, %cr3"; v = in(reg) value) }
        };
        check(
            fault.is_none(),
            format_args!("mov to %cr3 of its own value is emulated: {}", Outcome(fault)),
        );
        check(read_cr3() == Ok(value), "%cr3 unchanged after rewriting it");
    }

    let ret = fpu_taskswitch(false);
    check_eq(ret, 0, "fpu_taskswitch(0)");
    let cr0 = read_cr0();
    check(
        cr0.is_ok_and(|v| v & (CR0_PG | CR0_PE) == CR0_PG | CR0_PE && v & CR0_TS == 0),
        format_args!("mov %cr0 has PG and PE, not TS: {}", MsrRead(cr0)),
    );
    let ret = fpu_taskswitch(true);
    check_eq(ret, 0, "fpu_taskswitch(1)");
    let cr0_ts = read_cr0();
    check(
        cr0_ts.is_ok_and(|v| v & CR0_TS != 0),
        format_args!("mov %cr0 shows TS after fpu_taskswitch(1): {}", MsrRead(cr0_ts)),
    );
    check_eq(fpu_taskswitch(false), 0, "fpu_taskswitch(0) again");
    if let Ok(value) = cr0 {
        let fault = write_cr0(value & !CR0_PG);
        check(
            fault.is_some_and(|f| f.is(GP, 0)),
            format_args!("mov to %cr0 clearing PG raises #GP(0): {}", Outcome(fault)),
        );
        let after = read_cr0();
        check(after == Ok(value), format_args!("%cr0 unchanged: {}", MsrRead(after)));
    }
    let cr4: u64;
    // SAFETY: reading CR4 has no side effects.
    let fault = unsafe { probe!("mov %cr4, {v}"; v = out(reg) cr4) };
    check(fault.is_none(), format_args!("mov %cr4 is emulated: {}", Outcome(fault)));
    if fault.is_none() {
        println!("guest %cr4 = {cr4:#x}");
    }
}

fn msrs() {
    let fs_target = addr_of(&FS_PROBE);
    let fault = wrmsr(MSR_FS_BASE, fs_target);
    check(fault.is_none(), format_args!("wrmsr MSR_FS_BASE {fs_target:#x}: {}", Outcome(fault)));
    let read = rdmsr(MSR_FS_BASE);
    check(
        read == Ok(fs_target),
        format_args!("rdmsr MSR_FS_BASE reads back {fs_target:#x}: {}", MsrRead(read)),
    );
    let through_fs = fs_read();
    check(
        through_fs == Ok(FS_PROBE),
        format_args!("%fs:0 reads through the new FS base: {}", MsrRead(through_fs)),
    );
    let fault = wrmsr(MSR_FS_BASE, NON_CANONICAL);
    check(
        fault.is_some_and(|f| f.is(GP, 0)),
        format_args!(
            "wrmsr MSR_FS_BASE non-canonical {NON_CANONICAL:#x} raises #GP(0): {}",
            Outcome(fault)
        ),
    );
    let read = rdmsr(MSR_FS_BASE);
    check(
        read == Ok(fs_target),
        format_args!("MSR_FS_BASE unchanged by the refused write: {}", MsrRead(read)),
    );
    check(wrmsr(MSR_FS_BASE, 0).is_none(), "wrmsr MSR_FS_BASE 0");

    let unknown = rdmsr(MSR_UNKNOWN);
    check(
        matches!(unknown, Err(f) if f.is(GP, 0)),
        format_args!("rdmsr of unknown MSR {MSR_UNKNOWN:#x} raises #GP(0): {}", MsrRead(unknown)),
    );
    let pat = rdmsr(MSR_PAT);
    check(
        pat == Ok(XEN_MSR_PAT),
        format_args!("rdmsr MSR_PAT = XEN_MSR_PAT {XEN_MSR_PAT:#018x}: {}", MsrRead(pat)),
    );
    let efer = rdmsr(MSR_EFER);
    let want = EFER_LME | EFER_LMA | EFER_SCE;
    check(
        efer.is_ok_and(|v| v & want == want),
        format_args!("rdmsr MSR_EFER has LME, LMA and SCE: {}", MsrRead(efer)),
    );
}

fn segment_bases() {
    let by_msr = addr_of(&GS_PROBE_MSR);
    let fault = wrmsr(MSR_GS_BASE, by_msr);
    check(fault.is_none(), format_args!("wrmsr MSR_GS_BASE {by_msr:#x}: {}", Outcome(fault)));
    let read = rdmsr(MSR_GS_BASE);
    check(read == Ok(by_msr), format_args!("rdmsr MSR_GS_BASE reads back: {}", MsrRead(read)));
    let through_gs = gs_read();
    check(
        through_gs == Ok(GS_PROBE_MSR),
        format_args!("%gs:0 reads through the wrmsr'd GS base: {}", MsrRead(through_gs)),
    );

    let by_hypercall = addr_of(&GS_PROBE_HYPERCALL);
    let ret = set_segment_base(SegBase::GsKernel, by_hypercall);
    check_eq(ret, 0, format_args!("set_segment_base(SEGBASE_GS_KERNEL, {by_hypercall:#x})"));
    let read = rdmsr(MSR_GS_BASE);
    check(
        read == Ok(by_hypercall),
        format_args!("rdmsr MSR_GS_BASE shows the set_segment_base value: {}", MsrRead(read)),
    );
    let through_gs = gs_read();
    check(
        through_gs == Ok(GS_PROBE_HYPERCALL),
        format_args!("%gs:0 reads through the set_segment_base GS base: {}", MsrRead(through_gs)),
    );
    let ret = set_segment_base(SegBase::GsKernel, NON_CANONICAL);
    check_eq(
        ret,
        Errno::EINVAL.as_neg_i64(),
        "set_segment_base(SEGBASE_GS_KERNEL, non-canonical) is -EINVAL",
    );
    let read = rdmsr(MSR_GS_BASE);
    check(
        read == Ok(by_hypercall),
        format_args!("MSR_GS_BASE unchanged by the refused base: {}", MsrRead(read)),
    );

    let fs_target = addr_of(&FS_PROBE);
    let ret = set_segment_base(SegBase::Fs, fs_target);
    check_eq(ret, 0, "set_segment_base(SEGBASE_FS)");
    let read = rdmsr(MSR_FS_BASE);
    check(
        read == Ok(fs_target),
        format_args!("rdmsr MSR_FS_BASE shows the SEGBASE_FS value: {}", MsrRead(read)),
    );
    let through_fs = fs_read();
    check(
        through_fs == Ok(FS_PROBE),
        format_args!("%fs:0 reads through the SEGBASE_FS base: {}", MsrRead(through_fs)),
    );

    let user_base = 0x0000_7f00_1234_5000;
    let ret = set_segment_base(SegBase::GsUser, user_base);
    check_eq(ret, 0, "set_segment_base(SEGBASE_GS_USER)");
    let read = rdmsr(MSR_SHADOW_GS_BASE);
    check(
        read == Ok(user_base),
        format_args!(
            "rdmsr MSR_SHADOW_GS_BASE shows the SEGBASE_GS_USER value {user_base:#x}: {}",
            MsrRead(read)
        ),
    );
    let shadow = 0x0000_7f00_5678_9000;
    let fault = wrmsr(MSR_SHADOW_GS_BASE, shadow);
    check(fault.is_none(), format_args!("wrmsr MSR_SHADOW_GS_BASE: {}", Outcome(fault)));
    let read = rdmsr(MSR_SHADOW_GS_BASE);
    check(
        read == Ok(shadow),
        format_args!("rdmsr MSR_SHADOW_GS_BASE reads back {shadow:#x}: {}", MsrRead(read)),
    );
    let through_gs = gs_read();
    check(
        through_gs == Ok(GS_PROBE_HYPERCALL),
        format_args!("the kernel GS base is untouched by the user one: {}", MsrRead(through_gs)),
    );

    check_eq(set_segment_base(SegBase::GsKernel, 0), 0, "reset the kernel GS base");
    check_eq(set_segment_base(SegBase::GsUser, 0), 0, "reset the user GS base");
    check_eq(set_segment_base(SegBase::Fs, 0), 0, "reset the FS base");
}

/// CPUID through the forced-emulation prefix (`ud2a; .ascii "xen"; cpuid`).
fn fep_cpuid(leaf: u32, subleaf: u32) -> Result<[u32; 4], fault::Fault> {
    let (eax, ebx, ecx, edx): (u32, u64, u32, u32);
    // SAFETY: CPUID only writes the four registers; %rbx (reserved by LLVM)
    // is saved in a scratch register and swapped back (if the prefix faults,
    // %rbx was never written).
    let fault = unsafe {
        probe!(
            "mov %rbx, {b}",
            ".byte 0x0f, 0x0b, 0x78, 0x65, 0x6e",
            "cpuid",
            "xchg {b}, %rbx";
            b = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") subleaf => ecx,
            out("edx") edx
        )
    };
    let ebx = u32::try_from(ebx & 0xffff_ffff).unwrap_or(0);
    fault.map_or(Ok([eax, ebx, ecx, edx]), Err)
}

/// Plain `cpuid`.
fn native_cpuid(leaf: u32, subleaf: u32) -> Result<[u32; 4], fault::Fault> {
    let (eax, ebx, ecx, edx): (u32, u64, u32, u32);
    // SAFETY: as in `fep_cpuid`.
    let fault = unsafe {
        probe!(
            "mov %rbx, {b}",
            "cpuid",
            "xchg {b}, %rbx";
            b = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") subleaf => ecx,
            out("edx") edx
        )
    };
    let ebx = u32::try_from(ebx & 0xffff_ffff).unwrap_or(0);
    fault.map_or(Ok([eax, ebx, ecx, edx]), Err)
}

fn cpuid() {
    match fep_cpuid(0x4000_0000, 0) {
        Ok([max, b, c, d]) => {
            let mut sig = [0u8; 12];
            for (chunk, word) in sig.chunks_mut(4).zip([b, c, d]) {
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            check(
                &sig == b"XenVMMXenVMM",
                format_args!(
                    "FEP cpuid 0x40000000 signature \"{}\"",
                    pv_tests::console::Escaped(&sig)
                ),
            );
            check(
                max >= 0x4000_0002,
                format_args!("FEP cpuid 0x40000000 max leaf {max:#x} >= 0x40000002"),
            );
        }
        Err(f) => pv_tests::fail(format_args!("FEP cpuid 0x40000000: {f}")),
    }
    let version = ops::xen_version()
        .map(|(major, minor)| u32::from(major).wrapping_shl(16) | u32::from(minor));
    match (fep_cpuid(0x4000_0001, 0), version) {
        (Ok([eax, ..]), Ok(v)) => {
            check_eq(eax, v, "FEP cpuid 0x40000001 eax = XENVER_version");
        }
        (Err(f), _) => pv_tests::fail(format_args!("FEP cpuid 0x40000001: {f}")),
        (_, Err(e)) => pv_tests::fail(format_args!("xen_version: {e}")),
    }
    match fep_cpuid(1, 0) {
        Ok([_, _, ecx, _]) => {
            check(
                ecx & (1 << 31) != 0,
                format_args!("FEP cpuid 1 ecx {ecx:#x} has the hypervisor bit"),
            );
        }
        Err(f) => pv_tests::fail(format_args!("FEP cpuid 1: {f}")),
    }
    match native_cpuid(0, 0) {
        Ok([max, ..]) => check(max >= 1, format_args!("plain cpuid 0 runs: max leaf {max:#x}")),
        Err(f) => check(false, format_args!("plain cpuid 0 runs: {f}")),
    };
    // SAFETY: the prefix followed by a nop: Xen emulates only CPUID after it
    // and bounces #UD, which the probe catches.
    let fault = unsafe { probe!(".byte 0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x90") };
    check(
        fault.is_some_and(|f| f.vector == UD),
        format_args!("the forced-emulation prefix before a nop raises #UD: {}", Outcome(fault)),
    );
    // SAFETY: ud2 raises #UD, which the probe catches.
    let fault = unsafe { probe!("ud2") };
    check(
        fault.is_some_and(|f| f.vector == UD),
        format_args!("ud2 raises #UD: {}", Outcome(fault)),
    );
}

fn inb(port: u16) -> Result<u8, fault::Fault> {
    let value: u8;
    // SAFETY: reads one I/O port; ports the domain may not use read as
    // all ones, and without IOPL the read faults (caught).
    let fault = unsafe { probe!("inb %dx, %al"; in("dx") port, out("al") value) };
    fault.map_or(Ok(value), Err)
}

fn outb(port: u16, value: u8) -> Option<fault::Fault> {
    // SAFETY: writes the POST port only, which has no effect on the machine.
    unsafe { probe!("outb %al, %dx"; in("dx") port, in("al") value) }
}

struct PortRead(Result<u8, fault::Fault>);

impl core::fmt::Display for PortRead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Ok(v) => write!(f, "{v:#04x}"),
            Err(fault) => write!(f, "{fault}"),
        }
    }
}

fn port_io() {
    let ret = set_iopl(0);
    check_eq(ret, 0, "PHYSDEVOP_set_iopl(0)");
    let read = inb(UART_LSR);
    check(
        matches!(read, Err(f) if f.is(GP, 0)),
        format_args!("inb {UART_LSR:#x} at virtual IOPL 0 raises #GP(0): {}", PortRead(read)),
    );
    let read = inb(POST_PORT);
    check(
        matches!(read, Err(f) if f.is(GP, 0)),
        format_args!("inb {POST_PORT:#x} at virtual IOPL 0 raises #GP(0): {}", PortRead(read)),
    );
    // SAFETY: cli at IOPL 0 faults (caught); at a sufficient IOPL Xen
    // ignores it.
    let fault = unsafe { probe!("cli") };
    check(
        fault.is_some_and(|f| f.is(GP, 0)),
        format_args!("cli at virtual IOPL 0 raises #GP(0): {}", Outcome(fault)),
    );

    let ret = set_iopl(1);
    check_eq(ret, 0, "PHYSDEVOP_set_iopl(1)");
    let read = inb(UART_LSR);
    check(
        read == Ok(0xff),
        format_args!(
            "inb {UART_LSR:#x} (the hypervisor's UART) at IOPL 1 reads 0xff: {}",
            PortRead(read)
        ),
    );
    let read = inb(POST_PORT);
    check(read.is_ok(), format_args!("inb {POST_PORT:#x} at IOPL 1 completes: {}", PortRead(read)));
    let fault = outb(POST_PORT, 0x55);
    check(
        fault.is_none(),
        format_args!("outb {POST_PORT:#x} at IOPL 1 completes: {}", Outcome(fault)),
    );
    // SAFETY: as above.
    let fault = unsafe { probe!("cli") };
    check(fault.is_none(), format_args!("cli at virtual IOPL 1 completes: {}", Outcome(fault)));

    let ret = set_iopl(4);
    check_eq(ret, Errno::EINVAL.as_neg_i64(), "PHYSDEVOP_set_iopl(4) is -EINVAL");
    let ret = set_iopl(0);
    check_eq(ret, 0, "PHYSDEVOP_set_iopl(0) again");
    let read = inb(POST_PORT);
    check(
        matches!(read, Err(f) if f.is(GP, 0)),
        format_args!("inb {POST_PORT:#x} after dropping IOPL raises #GP(0): {}", PortRead(read)),
    );
}

fn fninit() -> Option<fault::Fault> {
    // SAFETY: fninit resets the x87 state, which nothing here uses (the
    // target is soft-float); with CR0.TS set it raises #NM (caught).
    unsafe { probe!("fninit") }
}

fn cache_and_fpu() {
    // SAFETY: wbinvd writes back caches (or is ignored); it has no other
    // effect.
    let fault = unsafe { probe!("wbinvd") };
    check(fault.is_none(), format_args!("wbinvd completes: {}", Outcome(fault)));

    check_eq(fpu_taskswitch(true), 0, "fpu_taskswitch(1)");
    let fault = fninit();
    check(
        fault.is_some_and(|f| f.is(NM, 0)),
        format_args!("fninit with TS set raises #NM: {}", Outcome(fault)),
    );
    check_eq(fpu_taskswitch(false), 0, "fpu_taskswitch(0)");
    let fault = fninit();
    check(fault.is_none(), format_args!("fninit after fpu_taskswitch(0) runs: {}", Outcome(fault)));

    check_eq(fpu_taskswitch(true), 0, "fpu_taskswitch(1) before clts");
    // SAFETY: clts clears the (virtual) CR0.TS.
    let fault = unsafe { probe!("clts") };
    check(fault.is_none(), format_args!("clts is emulated: {}", Outcome(fault)));
    let cr0 = read_cr0();
    check(
        cr0.is_ok_and(|v| v & CR0_TS == 0),
        format_args!("%cr0.TS clear after clts: {}", MsrRead(cr0)),
    );
    let fault = fninit();
    check(fault.is_none(), format_args!("fninit after clts runs: {}", Outcome(fault)));

    if let Ok(value) = cr0 {
        let fault = write_cr0(value | CR0_TS);
        check(
            fault.is_none(),
            format_args!("mov to %cr0 setting TS is emulated: {}", Outcome(fault)),
        );
        let fault = fninit();
        check(
            fault.is_some_and(|f| f.is(NM, 0)),
            format_args!("fninit after mov to %cr0 with TS raises #NM: {}", Outcome(fault)),
        );
        let fault = write_cr0(value & !CR0_TS);
        check(
            fault.is_none(),
            format_args!("mov to %cr0 clearing TS is emulated: {}", Outcome(fault)),
        );
        let fault = fninit();
        check(fault.is_none(), format_args!("fninit runs again: {}", Outcome(fault)));
    }
    let ret = Ret(fpu_taskswitch(false));
    println!("final fpu_taskswitch(0): {ret}");
}
