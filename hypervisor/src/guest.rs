// SPDX-License-Identifier: GPL-2.0-only
//! Running PV guests: the machine's guest state, the platform services the
//! PV logic uses, and the handlers for guest `SYSCALL`s and traps.
//!
//! Every entry from a guest lands here on the CPU's hypervisor stack with
//! interrupts off: a `SYSCALL` is a hypercall (guest-kernel mode) or a
//! syscall bounce (guest-user mode); an exception is emulated or bounced
//! into the guest's virtual IDT. Before returning, [`exit_to_guest`]
//! handles a shutdown, a block, pending events and the sanity of the
//! state `iretq` will load.

use alloc::string::String;

use guest_abi::xen::{
    CpuUserRegs as GuestRegs, DomId, FLAT_RING3_CS32, FLAT_RING3_CS64, FLAT_RING3_SS64,
};
use hv_arch_x86_64::pvmem::{DirectMem, MachineM2p};
use hv_arch_x86_64::{cpu, power};
use hv_core::mm::Mfn;
use hv_core::mm::pv::{FrameTable, PvHooks};
use hv_core::pv::ctx::Ctx;
use hv_core::pv::domain::{Domain, ShutdownReason};
use hv_core::pv::emulate::{self, EmulOutcome};
use hv_core::pv::hypercall;
use hv_core::pv::platform::{Platform, SegBaseReg};
use hv_core::pv::traps::{self, vector};

use crate::mm::FRAMES;
use crate::panic::xen_panic;
use crate::printk;

/// The hypervisor's entries in guest L4 tables.
pub struct Hooks {
    /// Idle page table (source of slots 257–271).
    pub idle_cr3: u64,
    /// Slot 256: the read-only M2P.
    pub m2p_l4e: u64,
}

impl PvHooks for Hooks {
    fn xen_l4_slot(&self, _dom: DomId, _l4: Mfn, slot: usize) -> u64 {
        if slot == 256 {
            self.m2p_l4e
        } else {
            hv_arch_x86_64::pvmem::idle_l4_entry(self.idle_cr3, slot)
        }
    }

    fn flush_tlb_for_type_change(&mut self, _owner: DomId, _mfn: Mfn) {
        cpu::flush_tlb_local();
    }
}

/// Everything the PV logic works on.
pub struct Machine {
    /// The (only) domain: dom0.
    pub dom: Domain,
    /// Frame accounting.
    pub frames: FrameTable,
    /// Machine memory.
    pub mem: DirectMem,
    /// The M2P.
    pub m2p: MachineM2p,
    /// L4 slot provider.
    pub hooks: Hooks,
}

/// The machine's guest state, set up by the dom0 builder.
pub static MACHINE: spin::Mutex<Option<Machine>> = spin::Mutex::new(None);

static CONSOLE_TO_RING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static XEN_CMDLINE: spin::Once<String> = spin::Once::new();

/// Records boot options the platform services need.
pub fn configure(console_to_ring: bool, cmdline: &str) {
    CONSOLE_TO_RING.store(console_to_ring, core::sync::atomic::Ordering::Relaxed);
    XEN_CMDLINE.call_once(|| String::from(cmdline));
}

/// The machine services, acting on the current CPU.
pub struct MachinePlatform;

impl Platform for MachinePlatform {
    fn console_write(&mut self, _dom: DomId, bytes: &[u8]) {
        crate::console::guest_write(
            bytes,
            CONSOLE_TO_RING.load(core::sync::atomic::Ordering::Relaxed),
        );
    }

    fn console_read(&mut self, buf: &mut [u8]) -> usize {
        crate::console::guest_read(buf)
    }

    fn segment_base(&self, reg: SegBaseReg) -> u64 {
        match reg {
            SegBaseReg::Fs => cpu::fs_base(),
            SegBaseReg::Gs => cpu::gs_base(),
        }
    }

    fn set_segment_base(&mut self, reg: SegBaseReg, value: u64) {
        match reg {
            SegBaseReg::Fs => cpu::set_fs_base(value),
            SegBaseReg::Gs => cpu::set_gs_base(value),
        }
    }

    fn load_cr3(&mut self, l4: Mfn) {
        // SAFETY: `l4` is a validated guest L4 (the PV MMU holds its type
        // reference), so the hypervisor's slots are installed in it.
        unsafe { cpu::write_cr3(l4.0 << 12) };
    }

    fn flush_tlb_local(&mut self) {
        cpu::flush_tlb_local();
    }

    fn invlpg(&mut self, va: u64) {
        cpu::invlpg(va);
    }

    fn set_cr0_ts(&mut self, ts: bool) {
        cpu::set_cr0_ts(ts);
    }

    fn now_ns(&self) -> u64 {
        hv_arch_x86_64::time::now_ns()
    }

    fn xen_commandline(&self) -> String {
        XEN_CMDLINE.get().cloned().unwrap_or_default()
    }

    fn alloc_frame(&mut self) -> Option<Mfn> {
        let mut guard = FRAMES.lock();
        let fa = guard.as_mut()?;
        let mfn = fa.alloc()?;
        let pa = mfn.to_addr();
        // SAFETY: a frame just taken from the allocator, in the direct map.
        unsafe {
            core::ptr::write_bytes(hv_arch_x86_64::layout::maddr_to_virt(pa) as *mut u8, 0, 4096)
        };
        Some(mfn)
    }
}

/// Machine services for instruction emulation.
struct MachineEmul;

impl emulate::EmulEnv for MachineEmul {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let r = cpu::cpuid(leaf, subleaf);
        [r.eax, r.ebx, r.ecx, r.edx]
    }

    fn io_in(&mut self, port: u16, size: u8) -> u32 {
        hv_arch_x86_64::io::port_in(port, size)
    }

    fn io_out(&mut self, port: u16, size: u8, value: u32) {
        hv_arch_x86_64::io::port_out(port, size, value);
    }

    fn wbinvd(&mut self) {
        cpu::wbinvd();
    }

    fn read_host_msr(&self, msr: u32) -> Option<u64> {
        hv_arch_x86_64::cpu::read_msr_safe(msr)
    }

    fn xsetbv(&mut self, _index: u32, _value: u64) -> bool {
        // XSAVE state is not managed for guests yet.
        false
    }

    fn xcr0_supported(&self) -> u64 {
        0
    }
}

/// Runs `f` on a context for the current vCPU and then prepares the return
/// to the guest.
fn with_ctx(regs: &mut GuestRegs, f: impl FnOnce(&mut Ctx<'_>)) {
    let mut guard = MACHINE.lock();
    let Some(m) = guard.as_mut() else { xen_panic(format_args!("guest entry without a guest")) };
    let mut platform = MachinePlatform;
    let mut ctx = Ctx {
        dom: &mut m.dom,
        vcpu: 0,
        regs,
        frames: &mut m.frames,
        mem: &mut m.mem,
        m2p: &mut m.m2p,
        hooks: &mut m.hooks,
        platform: &mut platform,
    };
    f(&mut ctx);
    exit_to_guest(&mut ctx);
}

/// `SYSCALL` from the guest.
pub fn on_syscall(regs: &mut GuestRegs) {
    with_ctx(regs, |ctx| {
        if ctx.regs.entry_vector == hv_arch_x86_64::entry::TRAP_SYSCALL32 {
            // SYSCALL from 32-bit code: no compat guests here.
            ctx.regs.rip = ctx.regs.rip.wrapping_sub(2);
            let _ = traps::inject_exception(ctx, vector::UD, None, None);
        } else if ctx.v_ref().kernel_mode {
            hypercall::do_hypercall(ctx);
        } else {
            let _ = traps::bounce_syscall(ctx);
        }
    });
}

/// An exception or interrupt taken while the guest ran.
pub fn on_trap(regs: &mut GuestRegs) {
    let vec = regs.entry_vector;
    let err = regs.error_code;
    with_ctx(regs, |ctx| {
        let Ok(v) = u8::try_from(vec) else { return };
        if v >= 32 {
            return; // an interrupt, already handled
        }
        let r = match v {
            vector::PF => {
                let cr2 = cpu::read_cr2();
                traps::inject_exception(ctx, v, Some(err), Some(cr2))
            }
            vector::GP => {
                if err & 3 == 2 {
                    let n = u8::try_from(err >> 3).unwrap_or(0);
                    match traps::try_software_interrupt(ctx, n, 2) {
                        Some(r) => r,
                        None => traps::inject_exception(ctx, v, Some(err), None),
                    }
                } else if err == 0 {
                    match emulate::emulate_privileged_op(ctx, &mut MachineEmul) {
                        EmulOutcome::Done => Ok(()),
                        EmulOutcome::Inject { vector, error_code, cr2 } => {
                            traps::inject_exception(ctx, vector, error_code, cr2)
                        }
                        EmulOutcome::Unhandled => traps::inject_exception(ctx, v, Some(0), None),
                    }
                } else {
                    traps::inject_exception(ctx, v, Some(err), None)
                }
            }
            vector::UD => match emulate::emulate_forced_invalid_op(ctx, &mut MachineEmul) {
                EmulOutcome::Done => Ok(()),
                EmulOutcome::Inject { vector, error_code, cr2 } => {
                    traps::inject_exception(ctx, vector, error_code, cr2)
                }
                EmulOutcome::Unhandled => traps::inject_exception(ctx, v, None, None),
            },
            vector::NM => {
                cpu::set_cr0_ts(false);
                if ctx.v_ref().fpu_ts {
                    ctx.v().fpu_ts = false;
                    traps::inject_exception(ctx, v, None, None)
                } else {
                    Ok(())
                }
            }
            _ => {
                let code = traps::has_error_code(v).then_some(err);
                traps::inject_exception(ctx, v, code, None)
            }
        };
        if let Err(e) = r {
            printk!("d{}v0 crashed: cannot deliver exception {v} ({e:?})", ctx.dom.id.0);
        }
    });
}

/// EFLAGS bits a guest may never return with: IOPL, NT, VM.
const EFLAGS_FORBIDDEN: u64 = (3 << 12) | (1 << 14) | (1 << 17);

fn exit_to_guest(ctx: &mut Ctx<'_>) {
    if let Some(reason) = ctx.dom.shutdown {
        domain_shutdown(ctx, reason);
    }
    if ctx.v_ref().blocked {
        // Wait for an event; nothing but the guest itself can end the wait.
        ctx.v().blocked = false;
        while !ctx.upcall_pending() {
            x86_64::instructions::interrupts::enable_and_hlt();
            x86_64::instructions::interrupts::disable();
        }
    }
    if traps::deliver_pending_events(ctx).is_err() {
        domain_shutdown(ctx, ShutdownReason::Crash);
    }
    let r = &mut *ctx.regs;
    r.rflags = (r.rflags & !EFLAGS_FORBIDDEN) | (1 << 9) | 2;
    let cs_ok = r.cs == FLAT_RING3_CS64 || r.cs == FLAT_RING3_CS32;
    let ss_ok = r.ss == FLAT_RING3_SS64;
    if !cs_ok || !ss_ok || !cpu::is_canonical(r.rip) {
        printk!(
            "d{}v0 bad return state cs={:04x} ss={:04x} rip={:016x}: crashing the domain",
            ctx.dom.id.0,
            r.cs,
            r.ss,
            r.rip
        );
        ctx.crash();
        domain_shutdown(ctx, ShutdownReason::Crash);
    }
}

fn dump_guest(regs: &GuestRegs) {
    printk!("----[ Dom0 vCPU0 registers ]----");
    printk!("RIP:    {:04x}:[<{:016x}>]   RFLAGS: {:016x}", regs.cs, regs.rip, regs.rflags);
    printk!("rax: {:016x}   rbx: {:016x}   rcx: {:016x}", regs.rax, regs.rbx, regs.rcx);
    printk!("rdx: {:016x}   rsi: {:016x}   rdi: {:016x}", regs.rdx, regs.rsi, regs.rdi);
    printk!("rbp: {:016x}   rsp: {:016x}   r8:  {:016x}", regs.rbp, regs.rsp, regs.r8);
    printk!("r9:  {:016x}   r10: {:016x}   r11: {:016x}", regs.r9, regs.r10, regs.r11);
    printk!("r12: {:016x}   r13: {:016x}   r14: {:016x}", regs.r12, regs.r13, regs.r14);
    printk!("r15: {:016x}   ss: {:04x}   cs: {:04x}", regs.r15, regs.ss, regs.cs);
}

/// Dom0 stopped: Xen's `hwdom_shutdown`.
fn domain_shutdown(ctx: &mut Ctx<'_>, reason: ShutdownReason) -> ! {
    let id = ctx.dom.id.0;
    match reason {
        ShutdownReason::Poweroff => {
            printk!("Hardware Dom{id} halted: halting machine");
            printk!("Powering off.");
            if let Some(p) = crate::panic::PLATFORM.get() {
                power::acpi_power_off(p);
            }
            printk!("Power-off failed: halting");
            cpu::halt_forever()
        }
        ShutdownReason::Reboot | ShutdownReason::Watchdog | ShutdownReason::SoftReset => {
            printk!("Hardware Dom{id} shutdown: rebooting machine");
            printk!("Rebooting.");
            power::reboot(crate::panic::PLATFORM.get())
        }
        ShutdownReason::Suspend => {
            printk!("Hardware Dom{id} asked to suspend, which this hypervisor cannot do: halting");
            cpu::halt_forever()
        }
        ShutdownReason::Crash => {
            dump_guest(ctx.regs);
            xen_panic(format_args!("Hardware Dom{id} crashed"))
        }
    }
}
