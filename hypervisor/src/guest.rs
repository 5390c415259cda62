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
//!
//! Dom0's vCPU `i` runs pinned on CPU `i` (so its registers simply stay in
//! that CPU's guest frame). One lock, [`MACHINE`], serialises all work on
//! guest state; a CPU waiting for it takes interrupts, so that the holder
//! can complete a TLB shootdown. Work one vCPU does for another (an event,
//! `VCPUOP_up`, a timer change) marks the other in the domain's kick mask,
//! and the CPU sends it an "event check" IPI after dropping the lock; a
//! blocked or downed vCPU waits in `hlt` with the lock released.

use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};

use guest_abi::memory::E820Entry;
use guest_abi::vcpu::RunState;
use guest_abi::xen::{CpuUserRegs as GuestRegs, DomId, Virq};
use hv_arch_x86_64::pvmem::{DirectMem, MachineM2p};
use hv_arch_x86_64::{apic, cpu, gdt, power, rtc, smp, time};
use hv_core::common::domain::{Domain, ShutdownReason};
use hv_core::common::domain_table::{DomainRef, DomainTable};
use hv_core::common::event_channel;
use hv_core::common::runstate;
use hv_core::common::xsm::{DummyXsm, Xsm};
use hv_core::mm::Mfn;
use hv_core::mm::pv::{FrameTable, PvHooks};
use hv_core::pv::ctx::Ctx;
use hv_core::pv::descriptor;
use hv_core::pv::emulate::{self, EmulOutcome};
use hv_core::pv::hypercall;
use hv_core::pv::platform::{Platform, SegBaseReg};
use hv_core::pv::ptwr;
use hv_core::pv::time::{self as guest_time, ClockSample};
use hv_core::pv::traps::{self, vector};
use hv_core::time::{NSEC_PER_SEC, TimeScale};

use crate::mm::FRAMES;
use crate::panic::xen_panic;
use crate::printk;

/// The hypervisor's entries in guest L4 tables.
pub struct Hooks {
    /// Idle page table (source of slots 257–271).
    pub idle_cr3: u64,
    /// Slot 256: the read-only M2P.
    pub m2p_l4e: u64,
    /// The CPU the current guest entry runs on (set with the machine lock).
    pub cpu: u32,
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
        smp::flush_tlb_mask(GUEST_CPUS.load(Ordering::SeqCst), self.cpu);
    }

    /// Dom0 (the hardware domain) may map every I/O frame except the
    /// interrupt controllers the hypervisor owns; other domains none.
    fn iomem_access_permitted(&self, dom: DomId, mfn: Mfn) -> bool {
        let Some((limit, denied)) = IOMEM_DENIED.get() else { return false };
        dom == DomId(0) && mfn.0 < *limit && !denied.contains(&mfn.0)
    }

    /// Dom0 holds I/O capabilities: it may set cache attributes in PTEs.
    fn has_iomem_caps(&self, dom: DomId) -> bool {
        dom == DomId(0)
    }
}

/// The first frame beyond the CPU's physical address width, and the I/O
/// frames below it dom0 may not map (local APIC, IO-APICs).
static IOMEM_DENIED: spin::Once<(u64, alloc::vec::Vec<u64>)> = spin::Once::new();

/// Records dom0's I/O limits: frames from `limit` up and `frames`.
pub fn set_iomem_denied(limit: u64, frames: alloc::vec::Vec<u64>) {
    IOMEM_DENIED.call_once(|| (limit, frames));
}

/// Everything the PV logic works on.
pub struct Machine {
    /// Every domain.
    pub domains: DomainTable,
    /// The hardware domain, dom0 (also in the table).
    pub dom0: DomainRef,
    /// Access control.
    pub xsm: alloc::boxed::Box<dyn Xsm>,
    /// Frame accounting.
    pub frames: FrameTable,
    /// Machine memory.
    pub mem: DirectMem,
    /// The M2P.
    pub m2p: MachineM2p,
    /// L4 slot provider.
    pub hooks: Hooks,
}

impl Machine {
    /// The machine state with `dom0` as its first domain, under Xen's
    /// default access-control policy.
    #[must_use]
    pub fn new(
        dom0: Domain,
        frames: FrameTable,
        mem: DirectMem,
        m2p: MachineM2p,
        hooks: Hooks,
    ) -> Self {
        let mut domains = DomainTable::new();
        let dom0 = match domains.insert(dom0) {
            Ok(d) => d,
            Err(e) => xen_panic(format_args!("dom0 cannot enter the domain table: {e:?}")),
        };
        Self { domains, dom0, xsm: alloc::boxed::Box::new(DummyXsm), frames, mem, m2p, hooks }
    }
}

/// The machine's guest state, set up by the dom0 builder.
pub static MACHINE: spin::Mutex<Option<Machine>> = spin::Mutex::new(None);

static CONSOLE_TO_RING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static XEN_CMDLINE: spin::Once<String> = spin::Once::new();
/// The host E820 (after `mem=`) for `XENMEM_machine_memory_map`.
static MACHINE_E820: spin::Once<alloc::vec::Vec<E820Entry>> = spin::Once::new();
/// The frames behind the M2P's 2 MiB chunks (`XENMEM_machphys_mfn_list`).
static M2P_CHUNKS: spin::Once<alloc::vec::Vec<Mfn>> = spin::Once::new();

/// Records the host E820 map handed to dom0 by `XENMEM_machine_memory_map`.
pub fn set_machine_e820(map: &hv_core::mm::e820::E820Map) {
    MACHINE_E820.call_once(|| {
        map.entries()
            .iter()
            .map(|e| E820Entry { addr: e.addr, size: e.size, ty: e.kind.raw() })
            .collect()
    });
}

/// Records the frames behind the M2P's 2 MiB chunks.
pub fn set_m2p_chunks(chunks: alloc::vec::Vec<Mfn>) {
    M2P_CHUNKS.call_once(|| chunks);
}

/// Records boot options the platform services need.
pub fn configure(console_to_ring: bool, cmdline: &str) {
    CONSOLE_TO_RING.store(console_to_ring, core::sync::atomic::Ordering::Relaxed);
    XEN_CMDLINE.call_once(|| String::from(cmdline));
}

/// CPUs (bit per CPU number) that run a vCPU of dom0: vCPU `i` runs pinned
/// on CPU `i` (`dom0_vcpus_pin`), so this is also the mask of the vCPUs
/// that have started. TLB shootdowns go to these.
static GUEST_CPUS: AtomicU64 = AtomicU64::new(0);

/// The machine services, acting on CPU `cpu` (the calling one).
pub struct MachinePlatform {
    /// The calling CPU's number.
    pub cpu: u32,
}

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

    fn flush_tlb_vcpus(&mut self, vcpus: u64) {
        // vCPU i runs on CPU i.
        smp::flush_tlb_mask(vcpus & GUEST_CPUS.load(Ordering::SeqCst), self.cpu);
    }

    fn set_cr0_ts(&mut self, ts: bool) {
        cpu::set_cr0_ts(ts);
    }

    fn now_ns(&self) -> u64 {
        hv_arch_x86_64::time::now_ns()
    }

    fn clock_sample(&self) -> ClockSample {
        let (tsc, system_time) = time::sample();
        let scale = time::time_scale().unwrap_or(TimeScale { shift: 0, mul_frac: 0 });
        ClockSample { tsc, system_time, scale }
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

    fn alloc_frames(&mut self, order: u32, below: Option<u64>) -> Option<Mfn> {
        let count = 1u64.checked_shl(order)?;
        let mfn = {
            let mut guard = FRAMES.lock();
            let fa = guard.as_mut()?;
            if order == 0 && below.is_none() {
                fa.alloc()?
            } else {
                fa.alloc_contiguous(count, count, below)?
            }
        };
        let len = usize::try_from(count.checked_mul(4096)?).ok()?;
        // SAFETY: frames just taken from the allocator, in the direct map.
        unsafe {
            core::ptr::write_bytes(
                hv_arch_x86_64::layout::maddr_to_virt(mfn.to_addr()) as *mut u8,
                0,
                len,
            )
        };
        Some(mfn)
    }

    fn free_frame(&mut self, mfn: Mfn) {
        if let Some(fa) = FRAMES.lock().as_mut()
            && let Err(e) = fa.free(mfn)
        {
            log::warn!("memory_op: cannot free frame {:#x}: {e:?}", mfn.0);
        }
    }

    fn machine_memory_map(&self) -> alloc::vec::Vec<E820Entry> {
        MACHINE_E820.get().cloned().unwrap_or_default()
    }

    fn m2p_chunk_mfns(&self) -> alloc::vec::Vec<Mfn> {
        M2P_CHUNKS.get().cloned().unwrap_or_default()
    }

    fn load_gdt_page(&mut self, page: usize, descs: Option<&[u64; 512]>) {
        gdt::set_guest_gdt_page(self.cpu, page, descs);
    }

    fn set_gdt_entry(&mut self, index: usize, desc: u64) {
        gdt::set_guest_gdt_entry(self.cpu, index, desc);
    }

    fn load_ldt_page(&mut self, page: usize, descs: Option<&[u64; 512]>) {
        gdt::set_ldt_page(self.cpu, page, descs);
    }

    fn set_ldt_entry(&mut self, index: usize, desc: u64) {
        gdt::set_ldt_entry(self.cpu, index, desc);
    }

    fn load_ldt(&mut self, ents: u32) {
        gdt::load_ldt(self.cpu, ents);
    }

    fn load_gs_selector(&mut self, sel: u16) {
        gdt::load_gs_selector(sel);
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

    fn load_guest_cr4(&mut self, guest_cr4: u64) {
        cpu::load_guest_cr4_bits(guest_cr4);
    }

    fn console_ioports(&self) -> &[(u16, u16)] {
        crate::console::uart_ioports()
    }
}

/// Takes the machine lock. While another CPU holds it, interrupts are
/// taken: the holder may be waiting for this CPU to answer a TLB shootdown
/// (`smp::flush_tlb_mask`), and the handlers never take the lock.
fn lock_machine() -> spin::MutexGuard<'static, Option<Machine>> {
    loop {
        if let Some(guard) = MACHINE.try_lock() {
            return guard;
        }
        x86_64::instructions::interrupts::enable();
        for _ in 0..64 {
            core::hint::spin_loop();
        }
        x86_64::instructions::interrupts::disable();
    }
}

/// The context of vCPU `cpu` (pinned on the CPU of its number) of `dom`
/// (locked by the caller) over `m`.
fn make_ctx<'a>(
    m: &'a mut Machine,
    dom: &'a mut Domain,
    cpu: u32,
    regs: &'a mut GuestRegs,
    platform: &'a mut MachinePlatform,
) -> Ctx<'a> {
    m.hooks.cpu = cpu;
    Ctx {
        dom,
        domains: &mut m.domains,
        xsm: &*m.xsm,
        vcpu: usize::try_from(cpu).unwrap_or(usize::MAX),
        regs,
        frames: &mut m.frames,
        mem: &mut m.mem,
        m2p: &mut m.m2p,
        hooks: &mut m.hooks,
        platform,
    }
}

/// Interrupts the CPUs of the vCPUs the domain asked to kick (events,
/// wake-ups, state changes), except `me`.
fn send_kicks(mask: u64, me: u32) {
    let mut left = mask & !1u64.checked_shl(me).unwrap_or(0);
    while left != 0 {
        let cpu = left.trailing_zeros();
        left &= left.wrapping_sub(1);
        smp::kick(cpu);
    }
}

/// Runs `f` on the context of the vCPU of CPU `cpu` and then prepares the
/// return to the guest. A vCPU that is blocked or down waits here, with
/// the machine lock released, until an interrupt (a kick, its timer)
/// changes that.
fn with_ctx(cpu: u32, regs: &mut GuestRegs, f: impl FnOnce(&mut Ctx<'_>)) {
    let mut f = Some(f);
    loop {
        let mut guard = lock_machine();
        let Some(m) = guard.as_mut() else {
            xen_panic(format_args!("guest entry without a guest"))
        };
        let dom0 = alloc::sync::Arc::clone(&m.dom0);
        let mut dom = dom0.lock();
        let mut platform = MachinePlatform { cpu };
        let mut ctx = make_ctx(m, &mut dom, cpu, regs, &mut platform);
        if let Some(f) = f.take() {
            f(&mut ctx);
        }
        let exit = exit_to_guest(&mut ctx);
        let kicks = core::mem::take(&mut ctx.dom.kick_mask);
        drop(dom);
        drop(guard);
        send_kicks(kicks, cpu);
        match exit {
            Exit::Resume => return,
            Exit::Wait => x86_64::instructions::interrupts::enable_and_hlt(),
        }
        x86_64::instructions::interrupts::disable();
    }
}

/// `SYSCALL` from the guest.
pub fn on_syscall(cpu: u32, regs: &mut GuestRegs) {
    with_ctx(cpu, regs, |ctx| {
        if ctx.regs.entry_vector == hv_arch_x86_64::entry::TRAP_SYSCALL32 {
            // SYSCALL from 32-bit code: no compat guests here.
            ctx.regs.rip = ctx.regs.rip.wrapping_sub(2);
            let _ = traps::inject_exception(ctx, vector::UD, None, None);
        } else if ctx.v_ref().arch.kernel_mode {
            hypercall::do_hypercall(ctx);
        } else {
            let _ = traps::bounce_syscall(ctx);
        }
    });
}

/// An exception or interrupt taken while the guest ran.
pub fn on_trap(cpu: u32, regs: &mut GuestRegs) {
    let vec = regs.entry_vector;
    let err = regs.error_code;
    // A #DB's conditions, taken (and reset) before anything else runs.
    let dr6 = (vec == u32::from(vector::DB)).then(|| {
        let dr6 = cpu::read_dr6();
        cpu::write_dr(6, cpu::DR6_DEFAULT);
        dr6
    });
    with_ctx(cpu, regs, |ctx| {
        let Ok(v) = u8::try_from(vec) else { return };
        if v >= 32 {
            return; // an interrupt, already handled
        }
        let r = match v {
            vector::PF => {
                let cr2 = cpu::read_cr2();
                // Writable page tables first (Xen's fixup_page_fault).
                match ptwr::pv_ro_page_fault(ctx, cr2, err) {
                    EmulOutcome::Done => Ok(()),
                    EmulOutcome::Inject { vector, error_code, cr2 } => {
                        traps::inject_exception(ctx, vector, error_code, cr2)
                    }
                    EmulOutcome::Unhandled => traps::inject_exception(ctx, v, Some(err), Some(cr2)),
                }
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
            vector::DB => traps::debug_trap(ctx, dr6.unwrap_or(cpu::DR6_DEFAULT)),
            vector::NM => {
                cpu::set_cr0_ts(false);
                if ctx.v_ref().arch.fpu_ts {
                    ctx.v().arch.fpu_ts = false;
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
            printk!("d{}v{} crashed: cannot deliver exception {v} ({e:?})", ctx.dom.id.0, ctx.vcpu);
        }
    });
}

/// Per vCPU of dom0 (each runs pinned on the CPU of its number, so this is
/// also per CPU): the system time the local APIC timer is armed for (0:
/// none). Indexed by vCPU rather than by `smp::this_cpu()`, which reads the
/// local APIC and would cost every guest exit an MMIO access.
static ARMED_DEADLINE: [AtomicU64; smp::NR_CPUS] = [const { AtomicU64::new(0) }; smp::NR_CPUS];
/// Per vCPU: when its pvclock was last published.
static PVCLOCK_STAMP: [AtomicU64; smp::NR_CPUS] = [const { AtomicU64::new(0) }; smp::NR_CPUS];
/// How often a running vCPU's pvclock is republished (Xen's calibration
/// epoch): the scale is exact, this only bounds rounding drift.
const PVCLOCK_EPOCH_NS: u64 = NSEC_PER_SEC;
/// Longest the one-shot timer is armed for at once.
const MAX_TIMER_US: u64 = 1_000_000;

/// The local APIC timer of the calling CPU fired: nothing is armed any
/// more (it may fire before the deadline it was armed for, the timer's
/// calibration being approximate, so the deadline alone cannot tell).
pub fn timer_interrupt() {
    let cpu = usize::try_from(smp::this_cpu()).unwrap_or(usize::MAX);
    if let Some(armed) = ARMED_DEADLINE.get(cpu) {
        armed.store(0, Ordering::Relaxed);
    }
}

/// Runs the domain's due timers (`VIRQ_TIMER`), republishes the pvclock
/// once per epoch, and arms this CPU's one-shot timer for the next
/// deadline unless an interrupt at or before it is already coming.
fn run_timers(ctx: &mut Ctx<'_>) {
    let sample = ctx.platform.clock_sample();
    let now = sample.system_time;
    if let Some(stamp) = PVCLOCK_STAMP.get(ctx.vcpu) {
        let last = stamp.load(Ordering::Relaxed);
        if last == 0 || now.saturating_sub(last) >= PVCLOCK_EPOCH_NS {
            guest_time::update_vcpu_system_time(ctx.dom, ctx.mem, ctx.vcpu, &sample);
            stamp.store(now.max(1), Ordering::Relaxed);
        }
    }
    let timers = guest_time::vcpu_timer_softirq(ctx.dom, ctx.mem, ctx.vcpu, now);
    // SCHEDOP_poll timeouts need the interrupt too (Xen's `poll_timer`).
    let poll = ctx.v_ref().evtchn.poll.and_then(|p| p.timeout_ns);
    let Some(deadline) = timers.into_iter().chain(poll).min() else { return };
    let Some(armed) = ARMED_DEADLINE.get(ctx.vcpu) else { return };
    let at = armed.load(Ordering::Relaxed);
    if at > now && at <= deadline {
        return;
    }
    let us = deadline.saturating_sub(now).div_ceil(1000).clamp(1, MAX_TIMER_US);
    apic::timer_oneshot_us(us);
    // What the interrupt stands for: the deadline itself (the count is
    // rounded up to whole microseconds, so it never fires before it), or
    // the end of a clamped interval. Storing the rounded-up time instead
    // would make every exit re-arm the timer for the same deadline.
    let covers = now.saturating_add(us.saturating_mul(1000)).min(deadline);
    armed.store(covers.max(1), Ordering::Relaxed);
}

/// Publishes dom0's first pvclock and the wallclock from the RTC (Xen's
/// `init_xen_time` and `update_domain_wallclock_time`).
pub fn init_guest_time(m: &mut Machine) {
    let (tsc, now) = time::sample();
    let Some(scale) = time::time_scale() else {
        printk!("TSC not calibrated: guests get no pvclock");
        return;
    };
    let sample = ClockSample { tsc, system_time: now, scale };
    let dom0 = alloc::sync::Arc::clone(&m.dom0);
    let dom = dom0.lock();
    for i in 0..dom.vcpus.len() {
        guest_time::update_vcpu_system_time(&dom, &mut m.mem, i, &sample);
    }
    match rtc::read() {
        Some(t) => {
            let secs = t.unix_seconds().unwrap_or(0);
            let wall_ns = u128::from(secs).saturating_mul(u128::from(NSEC_PER_SEC));
            let boot_ns = wall_ns.saturating_sub(u128::from(now));
            let per = u128::from(NSEC_PER_SEC);
            let (sec, nsec) = (boot_ns.checked_div(per), boot_ns.checked_rem(per));
            let (sec, nsec) = (sec.unwrap_or(0), nsec.unwrap_or(0));
            let wc_sec = u64::try_from(sec).unwrap_or(0);
            let wc_nsec = u32::try_from(nsec).unwrap_or(0);
            guest_time::set_wallclock(&dom, &mut m.mem, wc_sec, wc_nsec);
            printk!(
                "Wallclock {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC (RTC); TSC scale {:#x} >> {}",
                t.year,
                t.month,
                t.day,
                t.hour,
                t.minute,
                t.second,
                scale.mul_frac,
                scale.shift
            );
        }
        None => printk!("RTC unreadable: the wallclock starts at the epoch"),
    }
}

/// Moves the running vCPU to runstate `state` and updates its area.
fn set_runstate(ctx: &mut Ctx<'_>, state: RunState) {
    let now = ctx.platform.now_ns();
    runstate::change(ctx.v(), state, now);
    runstate::update_area(ctx.dom, ctx.mem, ctx.vcpu, now);
}

/// Per vCPU (= per CPU, each vCPU being pinned): DR0–DR3 and DR7 as loaded
/// into the CPU (DR7 0: no breakpoint armed, the reset state).
static LOADED_DEBUGREGS: [[AtomicU64; 5]; smp::NR_CPUS] =
    [const { [const { AtomicU64::new(0) }; 5] }; smp::NR_CPUS];

/// Loads the running vCPU's debug registers into its CPU where they
/// changed (Xen's `activate_debugregs`), so its breakpoints fire while it
/// runs; they stay armed while the hypervisor works for it (a hit there is
/// ignored by the trap code, as in Xen).
fn load_debugregs(ctx: &Ctx<'_>) {
    let Some(loaded) = LOADED_DEBUGREGS.get(ctx.vcpu) else { return };
    let want = traps::hardware_debugregs(&ctx.v_ref().arch);
    for (reg, (slot, value)) in [0u8, 1, 2, 3, 7].into_iter().zip(loaded.iter().zip(want)) {
        if slot.swap(value, Ordering::Relaxed) != value {
            cpu::write_dr(reg, value);
        }
    }
}

/// What the CPU does after [`exit_to_guest`].
enum Exit {
    /// Return to the guest.
    Resume,
    /// The vCPU is blocked or down: wait for an interrupt (with the lock
    /// released), then look again.
    Wait,
}

fn exit_to_guest(ctx: &mut Ctx<'_>) -> Exit {
    if let Some(reason) = ctx.dom.shutdown {
        domain_shutdown(ctx, reason);
    }
    if ctx.v_ref().down {
        // VCPUOP_down: off until VCPUOP_up; its registers stay in the
        // frame, so it resumes where it stopped (after its hypercall).
        if ctx.v_ref().runstate.state != RunState::Offline {
            set_runstate(ctx, RunState::Offline);
        }
        return Exit::Wait;
    }
    if ctx.v_ref().arch.reload_descriptors {
        // Its GDT or LDT changed while it was elsewhere.
        let _ = hv_core::pv::hypercall::vcpu_context::start_on_cpu(ctx);
    }
    run_timers(ctx);
    if crate::console::take_rx_notify() {
        // Serial input waits in the console's ring for CONSOLEIO_read.
        let _ = event_channel::send_global_virq(ctx.dom, ctx.mem, Virq::Console);
    }
    if ctx.v_ref().blocked {
        // SCHEDOP_block/poll: wait until an event kicks the vCPU (a timer's
        // VIRQ_TIMER included) or its poll times out; the local APIC timer
        // is armed for the next timer deadline. A poll timeout without a
        // timer due earlier takes effect at the next timer interrupt (at
        // most the 1 s re-arm interval away).
        if !event_channel::vcpu_should_wake(ctx.dom, ctx.mem, ctx.vcpu, ctx.platform.now_ns()) {
            if ctx.v_ref().runstate.state != RunState::Blocked {
                set_runstate(ctx, RunState::Blocked);
            }
            return Exit::Wait;
        }
        event_channel::vcpu_unblock(ctx.v());
    }
    if ctx.v_ref().runstate.state != RunState::Running {
        set_runstate(ctx, RunState::Running);
    }
    if traps::deliver_pending_events(ctx).is_err() {
        domain_shutdown(ctx, ShutdownReason::Crash);
    }
    load_debugregs(ctx);
    // RFLAGS sanitised; what `iretq` would fault on is replayed to the
    // guest, or the domain crashes (never a fault in ring 0).
    if descriptor::prepare_return_to_guest(ctx).is_err() {
        bad_return_state(ctx);
    }
    Exit::Resume
}

/// The vCPU's return state could not be made safe for `iretq` (see
/// `descriptor::prepare_return_to_guest`, which crashed the domain).
fn bad_return_state(ctx: &mut Ctx<'_>) -> ! {
    let r = &*ctx.regs;
    printk!(
        "d{}v{} bad return state cs={:04x} ss={:04x} rip={:016x}: crashing the domain",
        ctx.dom.id.0,
        ctx.vcpu,
        r.cs,
        r.ss,
        r.rip
    );
    domain_shutdown(ctx, ShutdownReason::Crash)
}

/// Runs dom0's vCPU 0 on the boot CPU with its initial registers.
pub fn start_boot_vcpu(regs: &GuestRegs) -> ! {
    GUEST_CPUS.fetch_or(1, Ordering::SeqCst);
    hv_arch_x86_64::entry::enter_guest(0, regs)
}

/// The idle loop of CPU `cpu` (≥ 1): waits until dom0's vCPU `cpu` has
/// been initialised and brought up (`VCPUOP_initialise`, `VCPUOP_up`; the
/// caller kicks this CPU), then runs it here for good.
pub fn secondary_vcpu_loop(cpu: u32) -> ! {
    let index = usize::try_from(cpu).unwrap_or(usize::MAX);
    loop {
        let start = {
            let mut guard = lock_machine();
            guard.as_mut().and_then(|m| {
                let dom0 = alloc::sync::Arc::clone(&m.dom0);
                let mut dom = dom0.lock();
                let v = dom.vcpus.get(index)?;
                if !v.initialised || v.down || v.arch.start_regs.is_none() {
                    return None;
                }
                let mut regs = v.arch.start_regs.unwrap_or_else(bytemuck::Zeroable::zeroed);
                let mut platform = MachinePlatform { cpu };
                let mut ctx = make_ctx(m, &mut dom, cpu, &mut regs, &mut platform);
                hv_core::pv::hypercall::vcpu_context::start_on_cpu(&mut ctx)?;
                load_debugregs(&ctx);
                // Its first `iretq` is checked like every other return.
                if descriptor::prepare_return_to_guest(&mut ctx).is_err() {
                    bad_return_state(&mut ctx);
                }
                let start = *ctx.regs;
                set_runstate(&mut ctx, RunState::Running);
                guest_time::update_vcpu_system_time(
                    ctx.dom,
                    ctx.mem,
                    index,
                    &ctx.platform.clock_sample(),
                );
                Some(start)
            })
        };
        if let Some(regs) = start {
            GUEST_CPUS.fetch_or(1u64 << cpu, Ordering::SeqCst);
            log::info!("d0v{cpu}: up on CPU{cpu}, entry {:#x}", regs.rip);
            hv_arch_x86_64::entry::enter_guest(cpu, &regs);
        }
        x86_64::instructions::interrupts::enable_and_hlt();
        x86_64::instructions::interrupts::disable();
    }
}

fn dump_guest(vcpu: usize, regs: &GuestRegs) {
    printk!("----[ Dom0 vCPU{vcpu} registers ]----");
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
            dump_guest(ctx.vcpu, ctx.regs);
            xen_panic(format_args!("Hardware Dom{id} crashed"))
        }
    }
}
