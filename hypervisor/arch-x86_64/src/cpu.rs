// SPDX-License-Identifier: GPL-2.0-only
//! CPU identification, control registers, FPU/SSE set-up and halting.
use core::arch::asm;
use core::arch::x86_64::{__cpuid_count, _rdtsc};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

/// Result of one CPUID leaf.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuidResult {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Execute CPUID for `leaf`/`subleaf`.
#[must_use]
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    let r = __cpuid_count(leaf, subleaf);
    CpuidResult { eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx }
}

/// Read the time-stamp counter.
#[must_use]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is unprivileged here (CR4.TSD clear) and side-effect free.
    unsafe { _rdtsc() }
}

/// The processor brand string (CPUID 0x80000002..4), trimmed.
#[must_use]
pub fn brand_string() -> alloc::string::String {
    let mut bytes = alloc::vec::Vec::with_capacity(48);
    if cpuid(0x8000_0000, 0).eax >= 0x8000_0004 {
        for leaf in 0x8000_0002..=0x8000_0004u32 {
            let r = cpuid(leaf, 0);
            for word in [r.eax, r.ebx, r.ecx, r.edx] {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
        }
    }
    let s = alloc::string::String::from_utf8_lossy(&bytes);
    alloc::string::String::from(s.trim_matches(|c: char| c == '\0' || c.is_whitespace()))
}

/// The 12-byte vendor string (CPUID 0).
#[must_use]
pub fn vendor() -> [u8; 12] {
    let r = cpuid(0, 0);
    let mut v = [0u8; 12];
    for (chunk, word) in v.chunks_exact_mut(4).zip([r.ebx, r.edx, r.ecx]) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    v
}

/// Enable the FPU and SSE for this CPU (guests use them; the hypervisor
/// itself is built soft-float) and reset the x87 state.
pub fn init_fpu() {
    let leaf1 = cpuid(1, 0);
    // SAFETY: setting MP/NE and clearing EM/TS only changes how x87/SSE
    // instructions trap; no memory is affected.
    unsafe {
        Cr0::update(|f| {
            f.insert(Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR);
            f.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
    }
    let mut cr4 = Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE;
    if leaf1.ecx & (1 << 26) != 0 {
        cr4 |= Cr4Flags::OSXSAVE;
    }
    if leaf1.edx & (1 << 13) != 0 {
        cr4 |= Cr4Flags::PAGE_GLOBAL;
    }
    // SAFETY: the bits set are supported (checked above or architectural on
    // x86_64) and only enable instruction-set features.
    unsafe {
        Cr4::update(|f| f.insert(cr4));
        core::arch::asm!("fninit", options(nomem, nostack));
    }
    if leaf1.ecx & (1 << 26) != 0 {
        // Enable x87 and SSE state in XCR0.
        // SAFETY: OSXSAVE was just set; bits 0 and 1 are always valid.
        unsafe { x86_64::registers::xcontrol::XCr0::write_raw(0x3) };
    }
}

/// Loads the CR4 bits a PV guest controls (Xen's `pv_make_cr4`): TSD, DE
/// and, where the CPU has it, FSGSBASE follow `guest_cr4`; every other bit
/// stays the hypervisor's.
pub fn load_guest_cr4_bits(guest_cr4: u64) {
    const TSD: u64 = 1 << 2;
    const DE: u64 = 1 << 3;
    const FSGSBASE: u64 = 1 << 16;
    let mut allowed = TSD | DE;
    if cpuid(7, 0).ebx & 1 != 0 {
        allowed |= FSGSBASE;
    }
    let cur = Cr4::read_raw();
    let new = (cur & !(TSD | DE | FSGSBASE)) | (guest_cr4 & allowed);
    if new != cur {
        // SAFETY: only TSD, DE and (when supported) FSGSBASE change; they
        // affect how ring-3 instructions trap, not the hypervisor's memory.
        unsafe { Cr4::write_raw(new) };
    }
}

/// Halt this CPU until the next interrupt.
pub fn halt() {
    x86_64::instructions::hlt();
}

/// Disable interrupts and halt this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Spin-loop hint.
pub fn pause() {
    core::hint::spin_loop();
}

/// Read CR2 (the faulting address of the last page fault).
#[must_use]
pub fn read_cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// Read CR3.
#[must_use]
pub fn read_cr3() -> u64 {
    let (frame, flags) = x86_64::registers::control::Cr3::read_raw();
    frame.start_address().as_u64() | u64::from(flags)
}

/// `X86_DR6_DEFAULT`: DR6 with no debug condition recorded.
pub const DR6_DEFAULT: u64 = 0xffff_0ff0;

/// Read DR6 (the debug status).
#[must_use]
pub fn read_dr6() -> u64 {
    let v: u64;
    // SAFETY: reading DR6 at CPL 0 has no side effects.
    unsafe { core::arch::asm!("mov %dr6, {}", out(reg) v, options(att_syntax, nomem, nostack)) };
    v
}

/// Read DR7 (the debug control).
#[must_use]
pub fn read_dr7() -> u64 {
    let v: u64;
    // SAFETY: reading DR7 at CPL 0 has no side effects (DR7.GD is never set).
    unsafe { core::arch::asm!("mov %dr7, {}", out(reg) v, options(att_syntax, nomem, nostack)) };
    v
}

/// Write debug register `reg` (0–3, 6 or 7; others are ignored). A
/// breakpoint the hypervisor itself hits raises `#DB` in ring 0, which the
/// trap code notes and ignores (as Xen does), so any value is safe; the
/// upper 32 bits of DR6 and DR7 must be zero (the caller masks them).
pub fn write_dr(reg: u8, value: u64) {
    // SAFETY: loading a debug register at CPL 0 only arms or clears
    // breakpoints; a hit in hypervisor context is a restartable #DB the
    // trap code ignores. DR6/DR7 callers pass 32-bit values.
    unsafe {
        match reg {
            0 => {
                core::arch::asm!("mov {}, %dr0", in(reg) value, options(att_syntax, nomem, nostack))
            }
            1 => {
                core::arch::asm!("mov {}, %dr1", in(reg) value, options(att_syntax, nomem, nostack))
            }
            2 => {
                core::arch::asm!("mov {}, %dr2", in(reg) value, options(att_syntax, nomem, nostack))
            }
            3 => {
                core::arch::asm!("mov {}, %dr3", in(reg) value, options(att_syntax, nomem, nostack))
            }
            6 => core::arch::asm!(
                "mov {}, %dr6",
                in(reg) value & 0xffff_ffff,
                options(att_syntax, nomem, nostack)
            ),
            7 => core::arch::asm!(
                "mov {}, %dr7",
                in(reg) value & 0xffff_ffff,
                options(att_syntax, nomem, nostack)
            ),
            _ => {}
        }
    }
}

/// Read model-specific register `msr`.
///
/// # Safety
/// `msr` must exist on this CPU (reading an absent MSR faults).
#[must_use]
pub unsafe fn rdmsr(msr: u32) -> u64 {
    // SAFETY: guaranteed by the caller.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).read() }
}

/// Write model-specific register `msr`.
///
/// # Safety
/// `msr` must exist, accept `value`, and the write must not break the
/// hypervisor's own invariants (paging, segments, syscall entry).
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).write(value) }
}

const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;

/// Whether `va` is canonical (bits 63..47 equal).
#[must_use]
pub const fn is_canonical(va: u64) -> bool {
    let top = va >> 47;
    top == 0 || top == 0x1_ffff
}

/// The FS base.
#[must_use]
pub fn fs_base() -> u64 {
    // SAFETY: FS_BASE exists on every x86_64 CPU.
    unsafe { rdmsr(MSR_FS_BASE) }
}

/// The GS base.
#[must_use]
pub fn gs_base() -> u64 {
    // SAFETY: GS_BASE exists on every x86_64 CPU.
    unsafe { rdmsr(MSR_GS_BASE) }
}

/// Sets the FS base; non-canonical values are ignored (they would fault).
pub fn set_fs_base(v: u64) {
    if is_canonical(v) {
        // SAFETY: the hypervisor does not use FS; the value is canonical.
        unsafe { wrmsr(MSR_FS_BASE, v) }
    }
}

/// Sets the GS base; non-canonical values are ignored (they would fault).
pub fn set_gs_base(v: u64) {
    if is_canonical(v) {
        // SAFETY: the hypervisor does not use GS; the value is canonical.
        unsafe { wrmsr(MSR_GS_BASE, v) }
    }
}

/// Sets or clears CR0.TS.
pub fn set_cr0_ts(ts: bool) {
    let mut cr0 = Cr0::read();
    cr0.set(Cr0Flags::TASK_SWITCHED, ts);
    // SAFETY: only TS changes; the hypervisor never uses the FPU (soft-float).
    unsafe { Cr0::write(cr0) };
}

/// Loads CR3 with the page table at `maddr`.
///
/// # Safety
/// The table must map the hypervisor's slots (image, stacks, direct map)
/// exactly as the current one does.
pub unsafe fn write_cr3(maddr: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("mov {}, %cr3", in(reg) maddr, options(att_syntax, nostack)) };
}

/// CR4.PGE.
const CR4_PGE: u64 = 1 << 7;

/// Flushes the whole TLB, global entries included: CR4.PGE toggled when it
/// is on, a CR3 reload otherwise. Does not tick the TLB-flush clock.
fn flush_all_entries() {
    let cr4 = Cr4::read_raw();
    if cr4 & CR4_PGE == 0 {
        let cr3 = read_cr3();
        // SAFETY: reloading the current CR3 changes no mapping.
        unsafe { write_cr3(cr3) };
        return;
    }
    // SAFETY: clearing and setting PGE again only drops TLB entries.
    unsafe {
        Cr4::write_raw(cr4 & !CR4_PGE);
        Cr4::write_raw(cr4);
    }
}

/// Xen's `flush_tlb_local` (`do_tlb_flush`): flushes the whole TLB, global
/// entries (a PV guest's user mappings) included, and ticks the TLB-flush
/// clock: the clock before the flush, this CPU's time after it.
pub fn flush_tlb_local() {
    let t = crate::flushtlb::CLOCK.pre_flush();
    flush_all_entries();
    crate::flushtlb::CLOCK.post_flush(crate::smp::this_cpu(), t);
}

/// Xen's `write_ptbase` (`switch_cr3_cr4`): loads CR3 with the page table
/// at `maddr` as a full flush, global entries included, ticking the
/// TLB-flush clock.
///
/// # Safety
/// As for [`write_cr3`].
pub unsafe fn write_ptbase(maddr: u64) {
    let t = crate::flushtlb::CLOCK.pre_flush();
    let cr4 = Cr4::read_raw();
    if cr4 & CR4_PGE != 0 {
        // SAFETY: clearing PGE only drops TLB entries.
        unsafe { Cr4::write_raw(cr4 & !CR4_PGE) };
    }
    // SAFETY: guaranteed by the caller.
    unsafe { write_cr3(maddr) };
    if cr4 & CR4_PGE != 0 {
        // SAFETY: PGE back as it was.
        unsafe { Cr4::write_raw(cr4) };
    }
    crate::flushtlb::CLOCK.post_flush(crate::smp::this_cpu(), t);
}

/// Flushes one linear address from the TLB.
pub fn invlpg(va: u64) {
    // SAFETY: invlpg only drops a TLB entry; any address is accepted.
    unsafe { asm!("invlpg ({})", in(reg) va, options(att_syntax, nostack)) };
}

/// Write back and invalidate caches.
pub fn wbinvd() {
    // SAFETY: wbinvd has no memory-safety effects.
    unsafe { asm!("wbinvd", options(nostack)) };
}

/// Reads one of the MSRs every x86_64 CPU this hypervisor runs on has
/// (EFER, APIC_BASE, PAT, and MISC_ENABLE on Intel); `None` for others,
/// which might not exist.
#[must_use]
pub fn read_msr_safe(msr: u32) -> Option<u64> {
    let ok = match msr {
        0xc000_0080 | 0x1b | 0x277 => true,
        0x1a0 => &vendor() == b"GenuineIntel",
        _ => false,
    };
    // SAFETY: only architectural MSRs present on every supported CPU.
    ok.then(|| unsafe { rdmsr(msr) })
}

/// The DS, ES, FS and GS selectors.
#[must_use]
pub fn data_selectors() -> [u16; 4] {
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    // SAFETY: reading segment registers has no side effects.
    unsafe {
        asm!(
            "mov %ds, {0:x}",
            "mov %es, {1:x}",
            "mov %fs, {2:x}",
            "mov %gs, {3:x}",
            out(reg) ds,
            out(reg) es,
            out(reg) fs,
            out(reg) gs,
            options(att_syntax, nomem, nostack, preserves_flags)
        );
    }
    [ds, es, fs, gs]
}

/// A data segment register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSegReg {
    /// DS.
    Ds,
    /// ES.
    Es,
    /// FS.
    Fs,
    /// GS.
    Gs,
}

/// Loads `sel` into `reg`. The caller checked that `sel` is null or names
/// a present data (or readable code) segment in the descriptor tables
/// loaded now, so the load cannot fault; the hypervisor uses none of these
/// registers (FS and GS bases are restored by the caller).
pub fn load_data_selector(reg: DataSegReg, sel: u16) {
    // SAFETY: per the contract the load does not fault, and no hypervisor
    // code depends on DS/ES/FS/GS in 64-bit mode.
    unsafe {
        match reg {
            DataSegReg::Ds => asm!("mov {0:x}, %ds", in(reg) sel, options(att_syntax, nostack)),
            DataSegReg::Es => asm!("mov {0:x}, %es", in(reg) sel, options(att_syntax, nostack)),
            DataSegReg::Fs => asm!("mov {0:x}, %fs", in(reg) sel, options(att_syntax, nostack)),
            DataSegReg::Gs => asm!("mov {0:x}, %gs", in(reg) sel, options(att_syntax, nostack)),
        }
    }
}

/// A 16-byte aligned FXSAVE image.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub struct FxArea(pub [u8; 512]);

/// Saves the x87/SSE state into `area` (`FXSAVE64`), with CR0.TS clear
/// for the instruction and restored afterwards.
pub fn fxsave(area: &mut FxArea) {
    let ts = Cr0::read().contains(Cr0Flags::TASK_SWITCHED);
    if ts {
        set_cr0_ts(false);
    }
    // SAFETY: `area` is 512 writable bytes aligned to 16, as FXSAVE needs;
    // CR4.OSFXSR is set at boot and TS is clear here.
    unsafe { asm!("fxsave64 ({})", in(reg) area.0.as_mut_ptr(), options(att_syntax, nostack)) };
    if ts {
        set_cr0_ts(true);
    }
}

/// Loads the x87/SSE state from `area` (`FXRSTOR64`). A reserved MXCSR
/// bit would fault, so MXCSR is masked with the CPU's `MXCSR_MASK` first.
pub fn fxrstor(area: &FxArea) {
    let mut a = *area;
    let mut cur = FxArea([0; 512]);
    fxsave(&mut cur);
    let le32 = |img: &[u8; 512], at: usize| {
        img.get(at..at.saturating_add(4))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes)
    };
    let mask = match le32(&cur.0, 28) {
        0 => 0xffbf,
        m => m,
    };
    let mxcsr = le32(&a.0, 24) & mask;
    if let Some(slot) = a.0.get_mut(24..28) {
        slot.copy_from_slice(&mxcsr.to_le_bytes());
    }
    let ts = Cr0::read().contains(Cr0Flags::TASK_SWITCHED);
    if ts {
        set_cr0_ts(false);
    }
    // SAFETY: `a` is a 16-aligned 512-byte image with a valid MXCSR; TS
    // is clear for the instruction.
    unsafe { asm!("fxrstor64 ({})", in(reg) a.0.as_ptr(), options(att_syntax, nostack)) };
    if ts {
        set_cr0_ts(true);
    }
}
