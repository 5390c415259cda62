// SPDX-License-Identifier: GPL-2.0-only
//! CPU identification, control registers, FPU/SSE set-up and halting.
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
