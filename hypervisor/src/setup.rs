// SPDX-License-Identifier: GPL-2.0-only
//! `__start_xen`: the boot CPU's path from the boot loader to dom0.
//!
//! Order (as Xen's `__start_xen`): boot information and command line, console,
//! memory map, heap sized to the machine and frame allocator, idle page
//! tables, CPU tables, time, ACPI, local APIC, machine-wide memory state
//! (frame table, I/O frames, M2P: `crate::mm`), secondary CPUs, scheduler,
//! then domain 0.
use alloc::string::String;
use alloc::vec::Vec;

use hv_arch_x86_64::acpi::{self, AcpiRoot, Platform};
use hv_arch_x86_64::{apic, cpu, gdt, idt, layout, paging, smp, time};
use hv_boot::{BootError, BootInfo, PhysMemory};
use hv_core::cmdline::{self, BootOptions};
use hv_core::mm::e820::E820Map;
use hv_core::mm::frame_alloc::FrameAllocator;
use hv_core::{PAGE_SIZE, dom0_mem, sched};

use crate::mm::{ArchFrames, FRAMES};
use crate::panic::xen_panic;
use crate::{console, heap, printk};

const MIB: u64 = 1024 * 1024;
const FOUR_GIB: u64 = 1 << 32;

/// Reads boot-loader structures through the boot page tables' direct map.
struct BootMemory;

impl PhysMemory for BootMemory {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> Result<(), BootError> {
        let end = paddr.checked_add(buf.len() as u64).ok_or(BootError::Unreadable { paddr })?;
        if end > FOUR_GIB {
            return Err(BootError::Unreadable { paddr });
        }
        // SAFETY: [paddr, end) lies below 4 GiB, which the boot page tables
        // map in the direct map; we only read, into a buffer we own.
        unsafe {
            core::ptr::copy_nonoverlapping(
                layout::maddr_to_virt(paddr) as *const u8,
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
        Ok(())
    }
}

fn e820_name(kind: u32) -> &'static str {
    match kind {
        1 => "usable",
        2 => "reserved",
        3 => "ACPI data",
        4 => "ACPI NVS",
        5 => "unusable",
        _ => "unknown",
    }
}

/// The boot CPU's main line. Never returns.
pub fn start_xen(magic: u32, info_paddr: u64) -> ! {
    heap::init();
    console::init_early();

    let boot = match hv_boot::parse(magic, info_paddr, &BootMemory) {
        Ok(b) => b,
        Err(e) => xen_panic(format_args!("cannot read the boot loader's information: {e}")),
    };
    let grub2 = boot.loader_name.as_deref().is_some_and(cmdline::loader_is_grub2);
    let cooked = String::from(cmdline::cook(&boot.cmdline, grub2));
    let (opts, warnings) = cmdline::parse(&cooked);
    crate::panic::set_noreboot(opts.noreboot);
    let serial_report = console::configure(&opts);

    printk!(" __  __            _____ _   _  ___  ");
    printk!(" \\ \\/ /___ _ __   |___ /| | | |/ _ \\   Xen-compatible hypervisor");
    printk!("  \\  // _ \\ '_ \\    |_ \\| | | | | | |  written in Rust");
    printk!("  /  \\  __/ | | |  ___) | |_| | |_| |");
    printk!(" /_/\\_\\___|_| |_| |____/ \\__,_|\\___/   version {}", env!("CARGO_PKG_VERSION"));
    printk!("");
    if let Some(name) = &boot.loader_name {
        printk!("Bootloader: {name}");
    }
    printk!("Command line: {cooked}");
    for line in &serial_report {
        printk!("Serial: {line}");
    }
    for w in &warnings {
        printk!("WARNING: {w}");
    }
    for opt in opts.unsupported_here() {
        printk!("Option '{opt}' accepted; it has no effect on this machine yet");
    }

    let (map, allocator, machine_heap) = init_memory(&boot, &opts);
    crate::guest::set_machine_e820(&map);
    *FRAMES.lock() = Some(allocator);

    let cr3 = init_paging(&map);
    if let Some(region) = machine_heap {
        crate::mm::add_machine_heap(region);
    }
    init_boot_cpu();
    crate::nmi::init(opts.nmi);

    let khz = time::calibrate_tsc();
    printk!("Detected {}.{:03} MHz processor.", khz / 1000, khz % 1000);
    let brand = cpu::brand_string();
    if !brand.is_empty() {
        log::info!("CPU0: {brand}");
    }

    let platform = init_acpi(&boot, &opts);
    let lapic_base = if platform.lapic_base != 0 { platform.lapic_base } else { apic::msr_base() };
    apic::init(lapic_base);
    smp::register_boot_cpu(lapic_base);
    // Dom0 may map any I/O frame but the interrupt controllers the
    // hypervisor drives (Xen's dom0_setup_permissions).
    let mut denied = alloc::vec![lapic_base >> 12];
    denied.extend(platform.ioapics.iter().map(|io| u64::from(io.address) >> 12));
    // Xen's iomem_permit_access(0 .. 2^paddr_bits): CPUID 0x80000008.
    let paddr_bits = match cpu::cpuid(0x8000_0008, 0).eax & 0xff {
        0 => 36,
        b => b,
    };
    let io_limit = 1u64 << paddr_bits.clamp(32, 52).saturating_sub(12);
    let ticks = apic::calibrate_timer();
    log::info!(
        "Local APIC at {lapic_base:#x}, version {:#x}; timer {ticks} ticks/ms (divide by 16)",
        apic::version()
    );
    hv_arch_x86_64::traps::set_irq_handler(crate::irq::dispatch);
    // Machine-wide memory state (frame table, I/O frames, M2P): after the timer's calibration (which
    // nothing may disturb) and before any domain is built, so every builder shares it.
    let mut machine_mem = match crate::mm::init_machine_memory(&map, cr3, io_limit, denied) {
        Ok(m) => m,
        Err(e) => xen_panic(format_args!("cannot set up machine memory: {e}")),
    };
    crate::panic::PLATFORM.call_once(|| platform.clone());
    console::init_rx(&platform);

    start_secondary_cpus(&platform, &opts, cr3);
    printk!("Brought up {} CPUs", smp::num_online());

    printk!(
        "Using scheduler: {} ({})",
        sched::scheduler_name(opts.sched),
        sched::opt_name(opts.sched)
    );
    if opts.console_to_ring {
        printk!("Guest console output is copied to the console ring ('console_to_ring')");
    }

    let (ring_len, ring_cap, ring_total) = console::ring_stats();
    log::info!(
        "Console ring: {ring_len} of {ring_cap} bytes held, {ring_total} written since boot"
    );
    let (heap_used, heap_free) = heap::usage();
    log::debug!("Heap: {} KiB used, {} KiB free", heap_used / 1024, heap_free / 1024);

    // Domain 0 sizing, less the frames a bzImage kernel's decompressed ELF
    // holds while dom0's pages are allocated (Xen's `bzimage_headroom`).
    let headroom = boot.modules.first().map_or(0, crate::kernel_image::headroom_frames);
    let avail = FRAMES.lock().as_ref().map_or(0, FrameAllocator::free_frames);
    let avail = avail.saturating_sub(headroom);
    let dom0_pages = dom0_mem::compute_dom0_nr_pages(avail, &opts.dom0_mem);
    printk!("Dom0 memory: {} MiB", dom0_pages.saturating_mul(PAGE_SIZE) / MIB);

    let Some(kernel) = boot.modules.first() else {
        xen_panic(format_args!(
            "no dom0 kernel: at least one multiboot module (the dom0 kernel) is required"
        ))
    };
    let kcmd = cmdline::cook(&kernel.cmdline, grub2);
    printk!(
        "Dom0 kernel: module 1 at {:#x}-{:#x} ({} bytes), command line \"{kcmd}\"",
        kernel.start,
        kernel.end,
        kernel.end.saturating_sub(kernel.start)
    );
    for (i, m) in (1..).zip(&boot.modules).skip(1) {
        printk!(
            "Module {i}: {:#x}-{:#x}, command line \"{}\"",
            m.start,
            m.end,
            cmdline::cook(&m.cmdline, grub2)
        );
    }
    // The denominator of the null-hypercall benchmark (`qemu/bench`).
    let roundtrip = {
        let mut guard = FRAMES.lock();
        guard.as_mut().and_then(|fa| {
            hv_arch_x86_64::bench::syscall_roundtrip_cycles(cr3, &mut ArchFrames(fa), 9, 10_000)
        })
    };
    if let Some(c) = roundtrip {
        log::info!("bench: raw SYSCALL/SYSRET round trip: {c} cycles");
    }
    crate::guest::configure(opts.console_to_ring, &cooked);
    crate::guest::set_scheduler(opts.sched);
    crate::guest::set_gnttab(opts.gnttab);
    // Dom0 gets one vCPU per CPU unless `dom0_max_vcpus=` says otherwise
    // (Xen's `dom0_max_vcpus`: the CPU count clamped to MIN-MAX), at most
    // 64.
    let cpus = smp::num_online().max(1);
    let (min_vcpus, max_vcpus) = opts.dom0_max_vcpus.unwrap_or((1, cpus));
    let nr_vcpus = cpus.clamp(min_vcpus.max(1), max_vcpus.max(1)).min(64);
    let built = match crate::dom0::construct(
        &mut machine_mem,
        kernel,
        boot.modules.get(1),
        kcmd,
        dom0_pages,
        nr_vcpus,
    ) {
        Ok(b) => b,
        Err(e) => xen_panic(format_args!("Could not set up DOM0 guest OS: {e}")),
    };
    let regs = built.regs;
    let mut dom = built.dom;
    match dom.vcpus.first_mut() {
        Some(v) => v.arch.start_regs = Some(regs),
        None => xen_panic(format_args!("dom0 has no vCPU")),
    }
    if opts.dom0_vcpus_pin {
        // vCPU i on CPU i modulo the CPUs.
        for (i, v) in (0u32..).zip(dom.vcpus.iter_mut()) {
            let cpu = i.checked_rem(cpus).unwrap_or(0);
            v.processor = cpu;
            v.affinity_hard = hv_core::sched::CpuMask::only(hv_core::sched::Cpu(cpu));
        }
    }
    let mut machine = machine_mem.into_machine(dom);
    let dom0 = alloc::sync::Arc::clone(&machine.dom0);
    crate::guest::init_guest_time(&mut machine);
    *crate::guest::MACHINE.lock() = Some(machine);
    hv_arch_x86_64::entry::set_guest_handlers(crate::guest::on_syscall, crate::guest::on_trap);
    // Only now may dom0's vCPUs be placed and their CPUs kicked: a
    // secondary CPU kicked before the machine exists finds nothing to run
    // and halts without a timer (sEDF places vCPU 0 on the last CPU).
    if let Some(m) = crate::guest::MACHINE.lock().as_mut() {
        m.schedule_domain(&dom0);
    }
    printk!(
        "Starting dom0: entry {:#x}, start_info {:#x}, {nr_vcpus} vCPU{} on {cpus} CPU{}{}",
        regs.rip,
        regs.rsi,
        if nr_vcpus == 1 { "" } else { "s" },
        if cpus == 1 { "" } else { "s" },
        if opts.dom0_vcpus_pin { ", pinned" } else { "" }
    );
    crate::schedule::idle_loop(0)
}

fn init_memory(
    boot: &BootInfo,
    opts: &BootOptions,
) -> (E820Map, FrameAllocator, Option<crate::mm::HeapRegion>) {
    let mut map = E820Map::from_entries(boot.memory_map.iter().map(|r| (r.addr, r.size, r.kind)));
    printk!("Xen-e820 RAM map:");
    for e in map.entries() {
        printk!(
            " {:016x} - {:016x} ({})",
            e.addr,
            e.addr.saturating_add(e.size),
            e820_name(e.kind.raw())
        );
    }
    if let Some(limit) = opts.mem {
        map.clip(limit);
        printk!("mem={} KiB: ignoring RAM above {:#x}", limit / 1024, limit);
    }
    let total = map.total_ram_bytes();
    printk!("System RAM: {}MB ({}kB)", total / MIB, total / 1024);

    let mut reserved: Vec<(u64, u64)> = Vec::new();
    reserved.push((0, MIB));
    reserved.push(layout::image_phys_range());
    reserved.push(boot.info_range);
    reserved.extend(boot.extra_reserved.iter().copied());
    for m in &boot.modules {
        reserved.push((m.start, m.end));
    }
    // Heap memory sized to this machine, taken from RAM before the frame
    // allocator (whose bitmaps already need it) manages the rest.
    let badpage_bytes = (opts.badpages.len() as u64).saturating_mul(8);
    let machine_heap = crate::mm::carve_heap(&map, &mut reserved, badpage_bytes);
    let allocator = FrameAllocator::new(&map, &reserved, &opts.badpages);
    if !opts.badpages.is_empty() {
        printk!(
            "badpage: {} of {} listed frames excluded from the allocator",
            allocator.badpages_excluded(),
            opts.badpages.len()
        );
        for p in &opts.badpages {
            log::info!("Bad page {p:#x} excluded");
        }
    }
    log::info!(
        "Frame allocator: {} of {} frames free",
        allocator.free_frames(),
        allocator.total_frames()
    );
    (map, allocator, machine_heap)
}

fn init_paging(map: &E820Map) -> u64 {
    let regions: Vec<(u64, u64)> =
        map.entries().iter().map(|e| (e.addr, e.addr.saturating_add(e.size))).collect();
    let mut guard = FRAMES.lock();
    let Some(fa) = guard.as_mut() else { xen_panic(format_args!("frame allocator missing")) };
    let cr3 = match paging::build_idle_pagetable(&regions, &mut ArchFrames(fa)) {
        Ok(c) => c,
        Err(_) => xen_panic(format_args!("out of memory building the idle page tables")),
    };
    // SAFETY: the new tables map the image and the direct map as the boot
    // tables do; only the identity map (unused from here on) goes away.
    unsafe { paging::switch_to(cr3) };
    log::info!(
        "Idle page tables at {cr3:#x}: direct map of all {} memory-map regions",
        regions.len()
    );
    cr3
}

fn init_boot_cpu() {
    let tables = {
        let mut guard = FRAMES.lock();
        let Some(fa) = guard.as_mut() else { xen_panic(format_args!("frame allocator missing")) };
        match gdt::build(0, &mut ArchFrames(fa)) {
            Ok(t) => t,
            Err(_) => xen_panic(format_args!("out of memory for the boot CPU's tables")),
        }
    };
    // SAFETY: freshly built for CPU 0, loaded only here.
    unsafe { gdt::load(&tables) };
    idt::load();
    cpu::init_fpu();
}

fn init_acpi(boot: &BootInfo, opts: &BootOptions) -> Platform {
    if opts.acpi.contains(&hv_core::cmdline::AcpiOption::Off) {
        printk!("ACPI disabled ('acpi=off'): assuming one CPU and a standard PC");
        return Platform::default();
    }
    let root = match &boot.acpi {
        Some(r) => match r.xsdt_address {
            Some(x) if r.revision >= 2 && x != 0 => {
                AcpiRoot::Given { revision: r.revision, address: x }
            }
            _ => AcpiRoot::Given { revision: 0, address: u64::from(r.rsdt_address) },
        },
        None => AcpiRoot::SearchBios,
    };
    match acpi::discover(root) {
        Ok(p) => {
            let names: Vec<&str> =
                p.tables.iter().map(|t| core::str::from_utf8(t).unwrap_or("????")).collect();
            printk!("ACPI: tables {}", names.join(" "));
            for c in &p.cpus {
                log::info!(
                    "Processor #{} (LAPIC id {}){}{}",
                    c.uid,
                    c.apic_id,
                    if c.is_bsp { " boot processor" } else { "" },
                    if c.enabled { "" } else { " disabled" }
                );
            }
            for io in &p.ioapics {
                log::info!(
                    "IOAPIC[{}]: address {:#x}, GSI base {}",
                    io.id,
                    io.address,
                    io.gsi_base
                );
            }
            if p.s5.is_none() || p.pm1a_cnt.is_none() {
                log::warn!("ACPI: no S5 sleep state; power-off will halt instead");
            }
            p
        }
        Err(e) => {
            printk!("ACPI: unusable ({:?}); assuming one CPU", e.0);
            Platform::default()
        }
    }
}

fn start_secondary_cpus(platform: &Platform, opts: &BootOptions, cr3: u64) {
    let aps: Vec<u32> =
        platform.cpus.iter().filter(|c| !c.is_bsp && c.enabled).map(|c| c.apic_id).collect();
    if opts.nosmp {
        if !aps.is_empty() {
            printk!("SMP disabled ('nosmp'): leaving {} secondary CPUs down", aps.len());
        }
        return;
    }
    smp::set_ap_main(crate::schedule::idle_loop);
    let mut next = 1u32;
    for apic_id in aps {
        if usize::try_from(next).map_or(true, |n| n >= smp::NR_CPUS) {
            printk!("More than {} CPUs: ignoring LAPIC id {apic_id}", smp::NR_CPUS);
            continue;
        }
        let result = {
            let mut guard = FRAMES.lock();
            let Some(fa) = guard.as_mut() else { return };
            smp::start_cpu(next, apic_id, cr3, &mut ArchFrames(fa))
        };
        match result {
            Ok(()) => {
                log::info!("CPU{next}: LAPIC id {apic_id} online");
                next = next.saturating_add(1);
            }
            Err(e) => printk!("CPU with LAPIC id {apic_id} did not start: {e:?}"),
        }
    }
}
