// SPDX-License-Identifier: GPL-2.0-only
//! What the PV logic asks of the machine layer.
//!
//! Everything here acts on the CPU the calling vCPU runs on (the machine
//! layer runs a vCPU's hypercalls and traps on its own CPU). Host tests
//! implement it with a recording fake.

use guest_abi::xen::DomId;

use crate::mm::Mfn;

/// A segment base register of the running vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegBaseReg {
    /// `MSR_FS_BASE`.
    Fs,
    /// `MSR_GS_BASE`: the GS base of the current guest mode.
    Gs,
}

/// A data segment register (the selectors a context switch saves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSeg {
    /// DS.
    Ds,
    /// ES.
    Es,
    /// FS.
    Fs,
    /// GS.
    Gs,
}

/// What `XEN_SYSCTL_physinfo` and the topology queries report of the host
/// ([`Platform::host_info`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// CPUs online (`num_online_cpus`); CPU numbers are `0..nr_cpus`.
    pub nr_cpus: u32,
    /// Hardware threads per core.
    pub threads_per_core: u32,
    /// Cores per socket.
    pub cores_per_socket: u32,
    /// TSC frequency in kHz (`cpu_khz`).
    pub cpu_khz: u32,
    /// Physical address width of the CPU (`paddr_bits`).
    pub paddr_bits: u8,
    /// Frames of RAM the hypervisor manages (`total_pages`).
    pub total_pages: u64,
    /// Frames free in the allocator now.
    pub free_pages: u64,
    /// The boot CPU's feature words (Xen's `x86_capability[0..8]`:
    /// CPUID 1 EDX, 1 ECX, 0x80000001 EDX, 0x80000001 ECX, 0xD.1 EAX,
    /// 7.0 EBX, 7.0 ECX, 0x80000007 EDX).
    pub hw_cap: [u32; 8],
}

/// One read of the hypervisor console ring ([`Platform::console_ring_read`]).
pub use crate::console::ring::ConringRead;

/// Machine services for hypercalls, trap bounces and emulation.
pub trait Platform {
    /// Writes guest console output of `dom` (`CONSOLEIO_write`).
    fn console_write(&mut self, dom: DomId, bytes: &[u8]);

    /// Reads pending serial input for dom0 (`CONSOLEIO_read`); returns the
    /// number of bytes stored.
    fn console_read(&mut self, buf: &mut [u8]) -> usize;

    /// Whether this CPU has work more urgent than the hypercall it runs
    /// (the softirq half of Xen's `hypercall_preempt_check`: a timer or
    /// scheduler deadline passed, an interrupt waiting, another CPU waiting
    /// for the hypervisor). Asked between the units of work of long
    /// hypercalls, which then continue later (see
    /// [`crate::pv::hypercall::continuation`]); it must be cheap. Default:
    /// never.
    fn softirq_pending(&mut self) -> bool {
        false
    }

    /// The live value of segment base `reg`.
    fn segment_base(&self, reg: SegBaseReg) -> u64;

    /// Loads segment base `reg` (the caller checked it is canonical).
    fn set_segment_base(&mut self, reg: SegBaseReg, value: u64);

    /// Switches the CPU to guest page table `l4` without a full flush: the
    /// guest's global (user) mappings stay, and the TLB-flush clock does
    /// not tick (Xen's `toggle_guest_pt` between a vCPU's kernel and user
    /// tables).
    fn load_cr3(&mut self, l4: Mfn);

    /// Switches the CPU to guest page table `l4` for a new base pointer
    /// (Xen's `write_ptbase`): a full flush, global mappings included, that
    /// ticks the TLB-flush clock. Default: [`Platform::load_cr3`] (host
    /// tests).
    fn write_ptbase(&mut self, l4: Mfn) {
        self.load_cr3(l4);
    }

    /// Flushes the CPU's whole TLB, global entries included, ticking the
    /// TLB-flush clock (Xen's `flush_tlb_local`).
    fn flush_tlb_local(&mut self);

    /// Flushes guest address `va` from the CPU's TLB.
    fn invlpg(&mut self, va: u64);

    /// Flushes the whole TLB of the CPUs running the calling domain's vCPUs
    /// in `vcpus` (bit per vCPU index; the calling vCPU's bit is ignored),
    /// and returns once they have. Default: nothing (one vCPU).
    fn flush_tlb_vcpus(&mut self, vcpus: u64) {
        let _ = vcpus;
    }

    /// Whether a CPU other than the calling one still runs a vCPU of
    /// `dom` (one told to stop may not have switched away yet). Default:
    /// no (one CPU).
    fn runs_elsewhere(&self, dom: DomId) -> bool {
        let _ = dom;
        false
    }

    /// Sets or clears the hardware CR0.TS of the CPU (lazy FPU switching).
    fn set_cr0_ts(&mut self, ts: bool);

    /// Nanoseconds since boot (Xen's `NOW()`).
    fn now_ns(&self) -> u64;

    /// A consistent `(TSC, system time, scale)` reading for the pvclock.
    /// Default: the system time with a 1 GHz TSC that equals it (host
    /// tests).
    fn clock_sample(&self) -> crate::pv::time::ClockSample {
        let now = self.now_ns();
        crate::pv::time::ClockSample {
            tsc: now,
            system_time: now,
            scale: crate::time::TimeScale { shift: 1, mul_frac: 0x8000_0000 },
        }
    }

    /// The hypervisor's command line (`XENVER_commandline`).
    fn xen_commandline(&self) -> alloc::string::String;

    /// A zeroed frame for the hypervisor to share with a guest (grant
    /// table frames), or `None` when memory is exhausted.
    fn alloc_frame(&mut self) -> Option<Mfn>;

    /// `2^order` contiguous zeroed frames, the first aligned to `2^order`,
    /// ending at or below machine address `below` if given (Xen's
    /// `alloc_domheap_pages` with `MEMF_bits`); `None` when no such run is
    /// free. Default: order 0 without a limit through
    /// [`Platform::alloc_frame`], nothing else.
    fn alloc_frames(&mut self, order: u32, below: Option<u64>) -> Option<Mfn> {
        if order == 0 && below.is_none() { self.alloc_frame() } else { None }
    }

    /// Frames free in the machine's allocator now (Xen's
    /// `total_avail_pages`), for the claim checks. Default: what
    /// [`Platform::host_info`] reports.
    fn free_pages(&self) -> u64 {
        self.host_info().free_pages
    }

    /// Returns a frame a domain owned (already scrubbed and owned by no one
    /// any more) to the machine's allocator, stamped with the TLB-flush
    /// clock: whoever gets it next first flushes the CPUs that may still
    /// cache it (Xen's `free_heap_pages`; no flush is needed now). Default:
    /// nothing (host tests).
    fn free_frame(&mut self, mfn: Mfn) {
        let _ = mfn;
    }

    /// The host E820 map as the hypervisor uses it (after `mem=`), for
    /// `XENMEM_machine_memory_map`. Default: empty (host tests).
    fn machine_memory_map(&self) -> alloc::vec::Vec<guest_abi::memory::E820Entry> {
        alloc::vec::Vec::new()
    }

    /// The machine frame backing each 2 MiB chunk of the read-only M2P,
    /// in virtual-address order, for `XENMEM_machphys_mfn_list`. Default:
    /// empty (host tests).
    fn m2p_chunk_mfns(&self) -> alloc::vec::Vec<Mfn> {
        alloc::vec::Vec::new()
    }

    /// Loads guest GDT page `page` (0–13) of the CPU's GDT with `descs`,
    /// or clears it for `None`. Default: nothing (host tests).
    fn load_gdt_page(&mut self, page: usize, descs: Option<&[u64; 512]>) {
        let _ = (page, descs);
    }

    /// Sets guest GDT entry `index` of the CPU's GDT. Default: nothing.
    fn set_gdt_entry(&mut self, index: usize, desc: u64) {
        let _ = (index, desc);
    }

    /// Loads page `page` (0–15) of the CPU's LDT with `descs`, or clears
    /// it. Default: nothing.
    fn load_ldt_page(&mut self, page: usize, descs: Option<&[u64; 512]>) {
        let _ = (page, descs);
    }

    /// Sets LDT entry `index` of the CPU's LDT. Default: nothing.
    fn set_ldt_entry(&mut self, index: usize, desc: u64) {
        let _ = (index, desc);
    }

    /// Loads LDTR for an LDT of `ents` descriptors (null for 0). Default:
    /// nothing.
    fn load_ldt(&mut self, ents: u32) {
        let _ = ents;
    }

    /// The grant-table features of the command line (`gnttab=`). Default:
    /// Xen's (version 2, transitive grants and transfers allowed).
    fn gnttab_opts(&self) -> crate::cmdline::GnttabOpts {
        crate::cmdline::GnttabOpts::default()
    }

    /// The host's CPUs, memory and features (`XEN_SYSCTL_physinfo`).
    /// Default: one CPU, nothing else known (host tests).
    fn host_info(&self) -> HostInfo {
        HostInfo { nr_cpus: 1, threads_per_core: 1, cores_per_socket: 1, ..HostInfo::default() }
    }

    /// The scheduler chosen at boot (`sched=`). Default: credit.
    fn scheduler(&self) -> crate::sched::SchedulerKind {
        crate::sched::SchedulerKind::Credit
    }

    /// Nanoseconds CPU `cpu` has spent idle (`get_cpu_idle_time`).
    /// Default: 0.
    fn cpu_idle_time(&self, cpu: u32) -> u64 {
        let _ = cpu;
        0
    }

    /// Reads the hypervisor console ring as
    /// [`ConsoleRing::read_console_ring`](crate::console::ring::ConsoleRing::read_console_ring)
    /// does. Default: an empty ring.
    fn console_ring_read(&self, incremental: bool, index: u32, max: u32) -> ConringRead {
        let _ = (incremental, index, max);
        ConringRead::default()
    }

    /// Discards the console ring's bytes before index `next`
    /// ([`ConsoleRing::clear_to`](crate::console::ring::ConsoleRing::clear_to)).
    /// Default: nothing.
    fn console_ring_clear(&mut self, next: u64) {
        let _ = next;
    }

    /// Loads the GS selector `sel`, which the caller checked is null or a
    /// loadable data segment (the hardware GS base changes with it).
    /// Default: nothing.
    fn load_gs_selector(&mut self, sel: u16) {
        let _ = sel;
    }

    /// The CPU's DS, ES, FS and GS selectors.
    fn data_selectors(&self) -> [u16; 4] {
        [0; 4]
    }

    /// Loads `sel` into data segment register `reg` (the caller checked
    /// that it is null or loadable from the guest's tables); this also
    /// loads the segment's base, which the caller then sets.
    fn load_data_selector(&mut self, reg: DataSeg, sel: u16) {
        let _ = (reg, sel);
    }

    /// Saves the CPU's x87/SSE state (`FXSAVE`).
    fn fpu_save(&mut self, area: &mut crate::pv::context_switch::FpuArea) {
        let _ = area;
    }

    /// Loads the x87/SSE state (`FXRSTOR`).
    fn fpu_restore(&mut self, area: &crate::pv::context_switch::FpuArea) {
        let _ = area;
    }

    /// Loads the guest-controlled CR4 bits of the vCPU starting to run.
    fn load_guest_cr4(&mut self, cr4: u64) {
        let _ = cr4;
    }
}
