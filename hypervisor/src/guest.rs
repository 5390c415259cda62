// SPDX-License-Identifier: GPL-2.0-only
//! Running PV guests: the machine's guest state, the platform services the
//! PV logic uses, and the handlers for guest `SYSCALL`s and traps.
//!
//! Every entry from a guest lands here on the CPU's hypervisor stack with
//! interrupts off: a `SYSCALL` is a hypercall (guest-kernel mode) or a
//! syscall bounce (guest-user mode); an exception is emulated or bounced
//! into the guest's virtual IDT. The work runs through
//! [`crate::schedule::with_ctx`], which then decides what the CPU returns
//! to; [`exit_to_guest`] is the last step before returning to a vCPU (a
//! shutdown, pending events, the sanity of the state `iretq` will load).
//!
//! One lock, [`MACHINE`], serialises all work on guest state; a CPU waiting
//! for it takes interrupts, so that the holder can complete a TLB
//! shootdown.

use alloc::string::String;

use core::sync::atomic::{AtomicU32, Ordering};
use guest_abi::memory::E820Entry;
use guest_abi::xen::{CpuUserRegs as GuestRegs, DomId};

use hv_arch_x86_64::pvmem::{DirectMem, MachineM2p};
use hv_arch_x86_64::{cpu, flushtlb, gdt, power, rtc, smp, time};
use hv_core::common::claims::Claims;
use hv_core::common::domain::{Domain, ShutdownReason};
use hv_core::common::domain_table::{DomainRef, DomainTable};
use hv_core::common::schedule::SchedCore;
use hv_core::common::xsm::{DummyXsm, Xsm};
use hv_core::mm::Mfn;
use hv_core::mm::frame_alloc::FrameAllocator;
use hv_core::mm::pv::{FrameTable, PvHooks};
use hv_core::mm::tlbflush::{TlbStamp, TlbflushNeed};
use hv_core::pv::context_switch::FpuArea;
use hv_core::pv::ctx::Ctx;
use hv_core::pv::descriptor;
use hv_core::pv::emulate::{self, EmulOutcome};
use hv_core::pv::hypercall;
use hv_core::pv::platform::DataSeg;
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

    fn tlbflush_current_time(&self) -> TlbStamp {
        flushtlb::current_time()
    }

    fn flush_tlb_for_type_change(&mut self, _owner: DomId, _mfn: Mfn, since: TlbStamp) {
        // The CPUs that may hold the old use (Xen's `d->dirty_cpumask`):
        // this one and every CPU running a vCPU; idle CPUs run on the idle
        // table and flushed when they went idle. Of those, only the ones
        // that have not flushed since the last type reference went.
        let mask = crate::schedule::busy_cpus() | 1u64.checked_shl(self.cpu).unwrap_or(0);
        flushtlb::filtered_flush_mask(mask, TlbflushNeed::since(since));
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
    /// What each CPU runs.
    pub sched: SchedCore,
    /// Per CPU: the domain of the vCPU it runs (what `with_ctx` locks on
    /// every guest entry, without a table lookup).
    pub curr_dom: alloc::vec::Vec<Option<DomainRef>>,
    /// Frame accounting.
    pub frames: FrameTable,
    /// Memory claims.
    pub claims: Claims,
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
        let cpus = smp::num_online().max(1);
        // Every CPU runs the scheduler chosen with `sched=`.
        let kind = SCHEDULER.get().copied().unwrap_or_default();
        let sched = match SchedCore::with_policy(cpus, kind) {
            Ok(s) => s,
            Err(e) => xen_panic(format_args!("scheduler: {e}")),
        };
        Self {
            domains,
            dom0,
            xsm: alloc::boxed::Box::new(DummyXsm),
            sched,
            curr_dom: alloc::vec::Vec::new(),
            frames,
            claims: Claims::new(),
            mem,
            m2p,
            hooks,
        }
    }

    /// Hands domain `d`'s vCPUs to the scheduler (each with its hard
    /// affinity) and wakes the runnable ones.
    pub fn schedule_domain(&mut self, d: &DomainRef) {
        let dom = d.lock();
        let now = hv_arch_x86_64::time::now_ns();
        let tickle = self.sched.reconcile_domain(&dom, now);
        drop(dom);
        for c in tickle.iter() {
            if c.0 != smp::this_cpu() {
                smp::kick(c.0);
            }
        }
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

/// The scheduler chosen with `sched=` (`XEN_SYSCTL_sched_id`).
static SCHEDULER: spin::Once<hv_core::sched::SchedulerKind> = spin::Once::new();

/// Records the boot scheduler choice.
pub fn set_scheduler(kind: hv_core::sched::SchedulerKind) {
    SCHEDULER.call_once(|| kind);
}

static GNTTAB: spin::Once<hv_core::cmdline::GnttabOpts> = spin::Once::new();

/// Records the grant-table options (`gnttab=`).
pub fn set_gnttab(opts: hv_core::cmdline::GnttabOpts) {
    GNTTAB.call_once(|| opts);
}

/// The grant-table options in effect.
pub fn gnttab_opts() -> hv_core::cmdline::GnttabOpts {
    GNTTAB.get().copied().unwrap_or_default()
}

/// Records boot options the platform services need.
pub fn configure(console_to_ring: bool, cmdline: &str) {
    CONSOLE_TO_RING.store(console_to_ring, core::sync::atomic::Ordering::Relaxed);
    XEN_CMDLINE.call_once(|| String::from(cmdline));
}

/// One consistent reading of the TSC, system time and scale.
#[must_use]
pub fn clock_sample() -> ClockSample {
    let (tsc, system_time, scale) = time::sample_scaled();
    let scale = scale.unwrap_or(TimeScale { shift: 0, mul_frac: 0 });
    ClockSample { tsc, system_time, scale }
}

/// The machine services, acting on CPU `cpu` (the calling one) for a
/// vCPU of domain `dom`.
pub struct MachinePlatform {
    /// The calling CPU's number.
    pub cpu: u32,
    /// The domain of the vCPU the services act for.
    pub dom: DomId,
}

impl Platform for MachinePlatform {
    fn softirq_pending(&mut self) -> bool {
        crate::schedule::hypercall_preempt_pending(self.cpu)
    }

    fn console_write(&mut self, dom: DomId, bytes: &[u8]) {
        crate::console::guest_write(
            dom.0,
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

    fn write_ptbase(&mut self, l4: Mfn) {
        // SAFETY: as for `load_cr3`.
        unsafe { cpu::write_ptbase(l4.0 << 12) };
    }

    fn flush_tlb_local(&mut self) {
        cpu::flush_tlb_local();
    }

    fn invlpg(&mut self, va: u64) {
        cpu::invlpg(va);
    }

    fn flush_tlb_vcpus(&mut self, vcpus: u64) {
        // The CPUs running those vCPUs now; the others' TLBs were flushed
        // when they stopped running them.
        smp::flush_tlb_mask(crate::schedule::cpus_running(self.dom, vcpus), self.cpu);
    }

    fn runs_elsewhere(&self, dom: DomId) -> bool {
        let me = 1u64.checked_shl(self.cpu).unwrap_or(0);
        crate::schedule::cpus_running(dom, u64::MAX) & !me != 0
    }

    fn set_cr0_ts(&mut self, ts: bool) {
        cpu::set_cr0_ts(ts);
    }

    fn now_ns(&self) -> u64 {
        hv_arch_x86_64::time::now_ns()
    }

    fn clock_sample(&self) -> ClockSample {
        clock_sample()
    }

    fn xen_commandline(&self) -> String {
        XEN_CMDLINE.get().cloned().unwrap_or_default()
    }

    fn alloc_frame(&mut self) -> Option<Mfn> {
        let got = FRAMES.lock().as_mut()?.alloc()?;
        // With the allocator unlocked: no stale translation may survive.
        flushtlb::filtered_flush_tlb_mask(got.tlbflush);
        let mfn = got.mfn;
        let pa = mfn.to_addr();
        // SAFETY: a frame just taken from the allocator, in the direct map.
        unsafe {
            core::ptr::write_bytes(hv_arch_x86_64::layout::maddr_to_virt(pa) as *mut u8, 0, 4096)
        };
        Some(mfn)
    }

    fn alloc_frames(&mut self, order: u32, below: Option<u64>) -> Option<Mfn> {
        let count = 1u64.checked_shl(order)?;
        let got = {
            let mut guard = FRAMES.lock();
            let fa = guard.as_mut()?;
            if order == 0 && below.is_none() {
                fa.alloc()?
            } else {
                fa.alloc_contiguous(count, count, below)?
            }
        };
        // With the allocator unlocked: no stale translation may survive.
        flushtlb::filtered_flush_tlb_mask(got.tlbflush);
        let mfn = got.mfn;
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

    fn free_pages(&self) -> u64 {
        FRAMES.lock().as_ref().map_or(0, FrameAllocator::free_frames)
    }

    fn free_frame(&mut self, mfn: Mfn) {
        if let Some(fa) = FRAMES.lock().as_mut()
            && let Err(e) = fa.free_stamped(mfn, flushtlb::current_time())
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

    fn data_selectors(&self) -> [u16; 4] {
        cpu::data_selectors()
    }

    fn load_data_selector(&mut self, reg: DataSeg, sel: u16) {
        let reg = match reg {
            DataSeg::Ds => cpu::DataSegReg::Ds,
            DataSeg::Es => cpu::DataSegReg::Es,
            DataSeg::Fs => cpu::DataSegReg::Fs,
            DataSeg::Gs => cpu::DataSegReg::Gs,
        };
        cpu::load_data_selector(reg, sel);
    }

    fn fpu_save(&mut self, area: &mut FpuArea) {
        let mut fx = cpu::FxArea(area.0);
        cpu::fxsave(&mut fx);
        area.0 = fx.0;
    }

    fn fpu_restore(&mut self, area: &FpuArea) {
        cpu::fxrstor(&cpu::FxArea(area.0));
    }

    fn load_guest_cr4(&mut self, cr4: u64) {
        cpu::load_guest_cr4_bits(cr4);
    }

    /// CPUs online, the calibrated TSC, the frame allocator's counts and
    /// the boot CPU's CPUID words. The SMT/core layout is not probed:
    /// one thread per core, one socket.
    fn host_info(&self) -> hv_core::pv::platform::HostInfo {
        let nr_cpus = smp::num_online().max(1);
        let (total_pages, free_pages) =
            FRAMES.lock().as_ref().map_or((0, 0), |fa| (fa.total_frames(), fa.free_frames()));
        let max_ext = cpu::cpuid(0x8000_0000, 0).eax;
        let ext = |leaf: u32, sub: u32| {
            if max_ext >= leaf { cpu::cpuid(leaf, sub) } else { cpu::CpuidResult::default() }
        };
        let max_std = cpu::cpuid(0, 0).eax;
        let std = |leaf: u32, sub: u32| {
            if max_std >= leaf { cpu::cpuid(leaf, sub) } else { cpu::CpuidResult::default() }
        };
        let (l1, e1, xsave, l7, e7) =
            (std(1, 0), ext(0x8000_0001, 0), std(0xd, 1), std(7, 0), ext(0x8000_0007, 0));
        let paddr = ext(0x8000_0008, 0).eax & 0xff;
        hv_core::pv::platform::HostInfo {
            nr_cpus,
            threads_per_core: 1,
            cores_per_socket: nr_cpus,
            cpu_khz: u32::try_from(time::tsc_khz()).unwrap_or(u32::MAX),
            paddr_bits: u8::try_from(if paddr == 0 { 36 } else { paddr }).unwrap_or(36),
            total_pages,
            free_pages,
            hw_cap: [l1.edx, l1.ecx, e1.edx, e1.ecx, xsave.eax, l7.ebx, l7.ecx, e7.edx],
        }
    }

    fn scheduler(&self) -> hv_core::sched::SchedulerKind {
        SCHEDULER.get().copied().unwrap_or_default()
    }

    fn gnttab_opts(&self) -> hv_core::cmdline::GnttabOpts {
        gnttab_opts()
    }

    fn console_ring_read(
        &self,
        incremental: bool,
        index: u32,
        max: u32,
    ) -> hv_core::pv::platform::ConringRead {
        crate::console::ring_read(incremental, index, max)
    }

    fn console_ring_clear(&mut self, next: u64) {
        crate::console::ring_clear_to(next);
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
///
/// A CPU that has to wait is counted in [`LOCK_WAITERS`] meanwhile, so the
/// holder's long hypercalls make way ([`machine_lock_contended`]).
pub(crate) fn lock_machine() -> spin::MutexGuard<'static, Option<Machine>> {
    if let Some(guard) = MACHINE.try_lock() {
        return guard;
    }
    LOCK_WAITERS.fetch_add(1, Ordering::Relaxed);
    loop {
        x86_64::instructions::interrupts::enable();
        for _ in 0..64 {
            core::hint::spin_loop();
        }
        x86_64::instructions::interrupts::disable();
        if let Some(guard) = MACHINE.try_lock() {
            LOCK_WAITERS.fetch_sub(1, Ordering::Relaxed);
            return guard;
        }
    }
}

/// CPUs waiting in [`lock_machine`].
static LOCK_WAITERS: AtomicU32 = AtomicU32::new(0);

/// Whether another CPU waits for the machine lock: with one lock for all
/// the hypervisor's work, the holder's long hypercall holds up every other
/// CPU's guest entries, so it is softirq work for the preemption check.
pub fn machine_lock_contended() -> bool {
    LOCK_WAITERS.load(Ordering::Relaxed) != 0
}

/// `SYSCALL` from the guest.
pub fn on_syscall(cpu: u32, regs: &mut GuestRegs) {
    crate::schedule::with_ctx(cpu, regs, |ctx| {
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
    crate::schedule::with_ctx(cpu, regs, |ctx| {
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

/// Per CPU: DR0–DR3 and DR7 as loaded into it (DR7 0: no breakpoint
/// armed, the reset state).
static LOADED_DEBUGREGS: [[core::sync::atomic::AtomicU64; 5]; smp::NR_CPUS] =
    [const { [const { core::sync::atomic::AtomicU64::new(0) }; 5] }; smp::NR_CPUS];

/// Loads the running vCPU's debug registers into CPU `cpu` where they
/// differ from what it holds (Xen's `activate_debugregs`), so its
/// breakpoints fire while it runs; they stay armed while the hypervisor
/// works (a hit there is ignored by the trap code, as in Xen).
fn load_debugregs(ctx: &Ctx<'_>, cpu: u32) {
    let Some(loaded) = LOADED_DEBUGREGS.get(usize::try_from(cpu).unwrap_or(usize::MAX)) else {
        return;
    };
    // The common case: no breakpoint wanted, none armed.
    if ctx.v_ref().arch.debugreg.get(7).copied().unwrap_or(0) & 0xff == 0
        && loaded.get(4).is_some_and(|dr7| dr7.load(core::sync::atomic::Ordering::Relaxed) == 0)
    {
        return;
    }
    let want = traps::hardware_debugregs(&ctx.v_ref().arch);
    for (reg, (slot, value)) in [0u8, 1, 2, 3, 7].into_iter().zip(loaded.iter().zip(want)) {
        // Only this CPU touches its slots: a plain load and store will do.
        if slot.load(core::sync::atomic::Ordering::Relaxed) != value {
            slot.store(value, core::sync::atomic::Ordering::Relaxed);
            cpu::write_dr(reg, value);
        }
    }
}

/// The local APIC timer of the calling CPU fired.
pub fn timer_interrupt() {
    crate::schedule::timer_interrupt();
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

/// The last step before returning to the vCPU of `ctx` on CPU `cpu`: a
/// shut-down hardware domain stops the machine; a vCPU that may not run
/// (its domain shut down or paused, the vCPU blocked or down) does not
/// return (false); otherwise its timers run (the CPU's timer is armed for
/// them and for `sched_next`, the scheduler's next event), pending events
/// are delivered and the state `iretq` will load is checked.
pub fn exit_to_guest(
    ctx: &mut Ctx<'_>,
    cpu: u32,
    sched_next: Option<u64>,
    sample: &ClockSample,
) -> bool {
    if let Some(reason) = ctx.dom.shutdown {
        if ctx.dom.id == DomId(0) {
            domain_shutdown(ctx, reason);
        }
        return false;
    }
    if !hv_core::common::schedule::vcpu_runnable(ctx.dom, ctx.v_ref()) {
        return false;
    }
    if ctx.v_ref().arch.reload_descriptors {
        // Its GDT or LDT changed while it was elsewhere.
        ctx.v().arch.reload_descriptors = false;
        descriptor::reload_descriptor_tables(ctx);
    }
    crate::schedule::run_timers(ctx, cpu, sched_next, sample);
    if traps::deliver_pending_events(ctx).is_err() {
        ctx.crash();
    }
    load_debugregs(ctx, cpu);
    // RFLAGS sanitised; what `iretq` would fault on is replayed to the
    // guest, or the domain crashes (never a fault in ring 0).
    if descriptor::prepare_return_to_guest(ctx).is_err() {
        let r = &*ctx.regs;
        printk!(
            "d{}v{} bad return state cs={:04x} ss={:04x} rip={:016x}: crashing the domain",
            ctx.dom.id.0,
            ctx.vcpu,
            r.cs,
            r.ss,
            r.rip
        );
    }
    if let Some(reason) = ctx.dom.shutdown {
        if ctx.dom.id == DomId(0) {
            domain_shutdown(ctx, reason);
        }
        return false;
    }
    true
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
pub(crate) fn domain_shutdown(ctx: &mut Ctx<'_>, reason: ShutdownReason) -> ! {
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
