// SPDX-License-Identifier: GPL-2.0-only
//! Secondary CPU bring-up (INIT-SIPI-SIPI) and CPU numbering.
//!
//! The boot CPU is CPU 0. Each AP is started alone: the boot CPU builds its
//! descriptor tables and stack, publishes them with the page-table root,
//! copies the real-mode trampoline (boot/entry.S) below 1 MiB, sends the
//! IPIs and waits for the AP to call in from [`__start_secondary`].
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::gdt::CpuTables;
use crate::layout::maddr_to_virt;
use crate::{FrameSource, apic, cpu, gdt, idt, time};
use hv_core::mm::shootdown::{ShootdownWait, WaitStep};

/// Most CPUs the hypervisor drives (Xen's NR_CPUS of the era).
pub const NR_CPUS: usize = 64;
/// Physical address the AP trampoline is copied to.
pub const TRAMPOLINE_PHYS: u64 = 0x8000;
const AP_STACK_PAGES: u64 = 8;

unsafe extern "C" {
    static trampoline_start: u8;
    static trampoline_end: u8;
    static mut ap_boot_stack_top: u64;
    static mut ap_boot_cr3: u64;
}

const NO_CPU: u32 = u32::MAX;
static APIC_TO_CPU: [AtomicU32; 256] = [const { AtomicU32::new(NO_CPU) }; 256];
static CPU_APIC_ID: [AtomicU32; NR_CPUS] = [const { AtomicU32::new(NO_CPU) }; NR_CPUS];
static ONLINE: AtomicU32 = AtomicU32::new(0);
static BOOTING_CPU: AtomicU32 = AtomicU32::new(NO_CPU);
static CALLED_IN: AtomicBool = AtomicBool::new(false);
static LAPIC_BASE: AtomicU64 = AtomicU64::new(0);
static BOOTING_TABLES: spin::Mutex<Option<CpuTables>> = spin::Mutex::new(None);
static AP_MAIN: spin::Once<fn(u32) -> !> = spin::Once::new();

/// Why an AP did not come up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// Too many CPUs, or a CPU number already in use.
    BadCpu,
    /// No memory for its tables or stack.
    OutOfFrames,
    /// The IPIs could not be sent.
    IpiFailed,
    /// It never called in.
    Timeout,
}

fn register(cpu_index: u32, apic_id: u32) {
    if let Some(slot) = APIC_TO_CPU.get(usize::try_from(apic_id).unwrap_or(usize::MAX)) {
        slot.store(cpu_index, Ordering::Relaxed);
    }
    if let Some(slot) = CPU_APIC_ID.get(usize::try_from(cpu_index).unwrap_or(usize::MAX)) {
        slot.store(apic_id, Ordering::Relaxed);
    }
    ONLINE.fetch_add(1, Ordering::SeqCst);
}

/// Record the boot CPU (CPU 0) once its LAPIC is up.
pub fn register_boot_cpu(lapic_base: u64) {
    LAPIC_BASE.store(lapic_base, Ordering::Relaxed);
    register(0, apic::id());
}

/// The calling CPU's number (0 before the APIC is up).
#[must_use]
pub fn this_cpu() -> u32 {
    let id = apic::id();
    APIC_TO_CPU
        .get(usize::try_from(id).unwrap_or(usize::MAX))
        .map(|c| c.load(Ordering::Relaxed))
        .filter(|&c| c != NO_CPU)
        .unwrap_or(0)
}

/// The online CPUs (bit per CPU number; Xen's `cpu_online_map`).
#[must_use]
pub fn online_mask() -> u64 {
    let mut mask = 0u64;
    for (cpu, id) in CPU_APIC_ID.iter().enumerate().take(64) {
        if id.load(Ordering::Relaxed) != NO_CPU {
            mask |= 1u64 << cpu;
        }
    }
    mask
}

/// Number of CPUs online.
#[must_use]
pub fn num_online() -> u32 {
    ONLINE.load(Ordering::SeqCst)
}

/// LAPIC id of CPU `cpu`, if online.
#[must_use]
pub fn apic_id_of(cpu: u32) -> Option<u32> {
    CPU_APIC_ID
        .get(usize::try_from(cpu).ok()?)
        .map(|a| a.load(Ordering::Relaxed))
        .filter(|&a| a != NO_CPU)
}

/// Set what every AP runs once it is up (its idle loop).
pub fn set_ap_main(f: fn(u32) -> !) {
    AP_MAIN.call_once(|| f);
}

fn copy_trampoline() {
    let start = core::ptr::addr_of!(trampoline_start);
    let end = core::ptr::addr_of!(trampoline_end);
    let len = (end as usize).saturating_sub(start as usize);
    // SAFETY: the trampoline is < 4 KiB of image text; the destination page
    // below 1 MiB is never handed out by the frame allocator and is mapped
    // in the direct map.
    unsafe {
        core::ptr::copy_nonoverlapping(start, maddr_to_virt(TRAMPOLINE_PHYS) as *mut u8, len)
    };
}

/// Start CPU `cpu_index` whose LAPIC id is `apic_id`, running on page tables `cr3`.
pub fn start_cpu(
    cpu_index: u32,
    apic_id: u32,
    cr3: u64,
    frames: &mut dyn FrameSource,
) -> Result<(), StartError> {
    if usize::try_from(cpu_index).map_or(true, |c| c >= NR_CPUS) || apic_id_of(cpu_index).is_some()
    {
        return Err(StartError::BadCpu);
    }
    let tables = gdt::build(cpu_index, frames).map_err(|_| StartError::OutOfFrames)?;
    let stack = frames.alloc_frames(AP_STACK_PAGES, 1).ok_or(StartError::OutOfFrames)?;
    *BOOTING_TABLES.lock() = Some(tables);
    BOOTING_CPU.store(cpu_index, Ordering::SeqCst);
    CALLED_IN.store(false, Ordering::SeqCst);
    // SAFETY: the two boot variables are only read by an AP we start below,
    // after these writes (the IPIs are serialising).
    unsafe {
        core::ptr::addr_of_mut!(ap_boot_stack_top)
            .write_volatile(maddr_to_virt(stack).wrapping_add(AP_STACK_PAGES * 4096));
        core::ptr::addr_of_mut!(ap_boot_cr3).write_volatile(cr3);
    }
    copy_trampoline();
    let vector = u8::try_from(TRAMPOLINE_PHYS >> 12).unwrap_or(8);
    if !apic::send_init(apic_id) {
        return Err(StartError::IpiFailed);
    }
    time::udelay(10_000);
    for _ in 0..2 {
        if !apic::send_startup(apic_id, vector) {
            return Err(StartError::IpiFailed);
        }
        time::udelay(200);
        if CALLED_IN.load(Ordering::SeqCst) {
            break;
        }
    }
    // Emulated CPUs can be slow to start: allow up to 5 s.
    for _ in 0..5000 {
        if CALLED_IN.load(Ordering::SeqCst) {
            return Ok(());
        }
        time::udelay(1000);
    }
    Err(StartError::Timeout)
}

/// Rust entry of an AP, from the trampoline, on its own stack and the idle
/// page tables.
#[unsafe(no_mangle)]
extern "C" fn __start_secondary() -> ! {
    let cpu_index = BOOTING_CPU.load(Ordering::SeqCst);
    let tables = BOOTING_TABLES.lock().take();
    let Some(tables) = tables else { cpu::halt_forever() };
    // SAFETY: these tables were built for this CPU and are loaded nowhere else.
    unsafe { gdt::load(&tables) };
    idt::load();
    cpu::init_fpu();
    apic::init(LAPIC_BASE.load(Ordering::Relaxed));
    register(cpu_index, apic::id());
    CALLED_IN.store(true, Ordering::SeqCst);
    match AP_MAIN.get() {
        Some(f) => f(cpu_index),
        None => cpu::halt_forever(),
    }
}

/// CPUs (bit per CPU number) that still owe a TLB flush to the initiator of
/// the shootdown in progress.
static FLUSH_PENDING: AtomicU64 = AtomicU64::new(0);

/// Sends the shootdown IPI to every CPU in `targets`. A CPU that is not
/// online runs nothing and holds no guest mapping: its bit is cleared. A send
/// that fails (the ICR stayed busy) leaves the bit pending for a retry.
fn send_flush_ipis(targets: u64) {
    for cpu in 0..64u32 {
        if targets & (1u64 << cpu) == 0 {
            continue;
        }
        match apic_id_of(cpu) {
            Some(id) => {
                if !apic::send_ipi(id, crate::traps::INVALIDATE_TLB_VECTOR) {
                    log::warn!("TLB shootdown: IPI to CPU{cpu} not sent; retrying");
                }
            }
            None => {
                FLUSH_PENDING.fetch_and(!(1u64 << cpu), Ordering::SeqCst);
            }
        }
    }
}

/// Flushes the TLB of every CPU in `mask` (bit per CPU number) but the
/// calling one, `this`, and waits until each has done so.
///
/// Initiators must be serialised by the caller (the machine lock), and
/// every target must take interrupts within a bounded time: a CPU waiting
/// for that lock spins with interrupts enabled, an idle or blocked CPU
/// halts with them enabled, and a CPU in guest mode always takes them.
/// A shootdown is never given up on: until every target has answered the
/// initiator keeps waiting, naming the late CPUs every second and sending
/// them the IPI again (`hv_core::mm::shootdown`); carrying on would let a
/// guest keep a stale writable mapping.
pub fn flush_tlb_mask(mask: u64, this: u32) {
    let others = mask & !(1u64.checked_shl(this).unwrap_or(0));
    if others == 0 {
        return;
    }
    FLUSH_PENDING.fetch_or(others, Ordering::SeqCst);
    send_flush_ipis(others);
    let mut wait = ShootdownWait::new(time::now_ns());
    loop {
        let pending = FLUSH_PENDING.load(Ordering::SeqCst) & others;
        match wait.step(time::now_ns(), pending) {
            WaitStep::Done => return,
            WaitStep::Spin => core::hint::spin_loop(),
            WaitStep::Report { late, waited_ns } => {
                let mut cpus = alloc::string::String::new();
                for cpu in (0..64u32).filter(|c| late & (1u64 << c) != 0) {
                    let _ = core::fmt::Write::write_fmt(&mut cpus, format_args!(" CPU{cpu}"));
                }
                log::error!(
                    "TLB shootdown from CPU{this}: still waiting after {} ms for{cpus} \
                     (not treated as flushed; IPI sent again)",
                    waited_ns / 1_000_000
                );
                send_flush_ipis(late);
            }
        }
    }
}

/// The `INVALIDATE_TLB_VECTOR` handler: a full flush (ticking the TLB-flush
/// clock, as Xen's `flush_area_local`), then tell the initiator.
pub fn on_flush_ipi() {
    cpu::flush_tlb_local();
    let me = this_cpu();
    FLUSH_PENDING.fetch_and(!(1u64.checked_shl(me).unwrap_or(0)), Ordering::SeqCst);
}

/// Sends the "event check" IPI to CPU `cpu`: it leaves guest mode or its
/// halt and looks at its vCPU's events and timers.
pub fn kick(cpu: u32) {
    if let Some(id) = apic_id_of(cpu) {
        let _ = apic::send_ipi(id, crate::traps::EVENT_CHECK_VECTOR);
    }
}
