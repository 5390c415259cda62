// SPDX-License-Identifier: GPL-2.0-only
//! ACPI table discovery with the `acpi` crate: CPUs, IOAPICs and ISA interrupt
//! source overrides from the MADT, power-management registers from the FADT,
//! `\_S5` from the DSDT.
use alloc::vec::Vec;
use core::ptr::NonNull;

use acpi::address::AddressSpace;
use acpi::fadt::Fadt;
use acpi::platform::ProcessorState;
use acpi::platform::interrupt::{Polarity, TriggerMode};
use acpi::{AcpiHandler, AcpiTables, InterruptModel, PhysicalMapping};

use crate::layout::maddr_to_virt;

/// Maps ACPI tables through the direct map (which covers every region of the
/// memory map, ACPI ones included).
#[derive(Clone, Copy, Debug)]
pub struct DirectMapHandler;

impl AcpiHandler for DirectMapHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let va = maddr_to_virt(physical_address as u64) as *mut T;
        // SAFETY: the direct map maps all physical memory the firmware
        // describes; the pointer is non-null (the direct map is in the upper
        // half) and the caller (the acpi crate) only reads `size` bytes.
        unsafe {
            PhysicalMapping::new(physical_address, NonNull::new_unchecked(va), size, size, *self)
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Where the ACPI root came from.
#[derive(Clone, Copy, Debug)]
pub enum AcpiRoot {
    /// The boot loader gave us the RSDP: its revision and the RSDT (revision
    /// 0) or XSDT (revision >= 2) address.
    Given {
        /// RSDP revision.
        revision: u8,
        /// RSDT or XSDT physical address.
        address: u64,
    },
    /// Search the BIOS areas for the RSDP.
    SearchBios,
}

/// One processor from the MADT.
#[derive(Clone, Copy, Debug)]
pub struct CpuEntry {
    /// Its local APIC id.
    pub apic_id: u32,
    /// ACPI processor UID.
    pub uid: u32,
    /// Usable (enabled, or online-capable).
    pub enabled: bool,
    /// The boot processor.
    pub is_bsp: bool,
}

/// One IOAPIC from the MADT.
#[derive(Clone, Copy, Debug)]
pub struct IoApicEntry {
    /// Its APIC id.
    pub id: u8,
    /// Physical address of its registers.
    pub address: u32,
    /// First GSI it handles.
    pub gsi_base: u32,
}

/// How an interrupt line signals: the IO-APIC redirection entry's trigger
/// mode and polarity bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqRoute {
    /// Global system interrupt (IO-APIC input, counted across IO-APICs).
    pub gsi: u32,
    /// Level-triggered (else edge).
    pub level: bool,
    /// Active low (else active high).
    pub active_low: bool,
}

/// One MADT interrupt source override: ISA IRQ `isa_irq` arrives on
/// `route.gsi` with the given signalling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaOverride {
    /// The ISA IRQ (0-15).
    pub isa_irq: u8,
    /// Where and how it arrives.
    pub route: IrqRoute,
}

/// A register for power control: I/O port or memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmRegister {
    /// I/O port.
    Io(u16),
    /// Memory-mapped at this physical address.
    Memory(u64),
}

/// What the hypervisor needs from ACPI.
#[derive(Clone, Debug, Default)]
pub struct Platform {
    /// LAPIC physical base.
    pub lapic_base: u64,
    /// Processors, boot processor first.
    pub cpus: Vec<CpuEntry>,
    /// IOAPICs.
    pub ioapics: Vec<IoApicEntry>,
    /// MADT interrupt source overrides for ISA IRQs.
    pub isa_overrides: Vec<IsaOverride>,
    /// PM1a control register.
    pub pm1a_cnt: Option<PmRegister>,
    /// PM1b control register.
    pub pm1b_cnt: Option<PmRegister>,
    /// S5 sleep type from `\_S5`.
    pub s5: Option<hv_core::acpi_sleep::SleepType>,
    /// ACPI reset register and value.
    pub reset: Option<(PmRegister, u8)>,
    /// The table signatures found, in order.
    pub tables: Vec<[u8; 4]>,
}

impl Platform {
    /// Where ISA IRQ `irq` arrives: its interrupt source override, else GSI
    /// `irq`, edge-triggered, active high (the ISA bus's conventions).
    #[must_use]
    pub fn isa_irq_route(&self, irq: u8) -> IrqRoute {
        self.isa_overrides
            .iter()
            .find(|o| o.isa_irq == irq)
            .map_or(IrqRoute { gsi: u32::from(irq), level: false, active_low: false }, |o| o.route)
    }
}

/// Why ACPI could not be used.
#[derive(Debug)]
pub struct AcpiFailure(pub acpi::AcpiError);

fn pm_register(ga: &acpi::address::GenericAddress) -> Option<PmRegister> {
    if ga.address == 0 {
        return None;
    }
    match ga.address_space {
        AddressSpace::SystemIo => u16::try_from(ga.address).ok().map(PmRegister::Io),
        AddressSpace::SystemMemory => Some(PmRegister::Memory(ga.address)),
        _ => None,
    }
}

/// Discover the platform from the ACPI tables.
pub fn discover(root: AcpiRoot) -> Result<Platform, AcpiFailure> {
    // SAFETY: the addresses come from the boot loader's copy of the RSDP (or
    // a checksummed BIOS search); the acpi crate validates every table's
    // signature and checksum before use and maps through `DirectMapHandler`.
    let tables = unsafe {
        match root {
            AcpiRoot::Given { revision, address } => AcpiTables::from_rsdt(
                DirectMapHandler,
                revision,
                usize::try_from(address).unwrap_or(0),
            ),
            AcpiRoot::SearchBios => AcpiTables::search_for_rsdp_bios(DirectMapHandler),
        }
    }
    .map_err(AcpiFailure)?;

    let mut platform = Platform::default();
    for header in tables.headers() {
        platform.tables.push(header.signature.as_str().as_bytes().try_into().unwrap_or(*b"????"));
    }
    let info = tables.platform_info().map_err(AcpiFailure)?;
    if let InterruptModel::Apic(apic) = &info.interrupt_model {
        platform.lapic_base = apic.local_apic_address;
        for io in apic.io_apics.iter() {
            platform.ioapics.push(IoApicEntry {
                id: io.id,
                address: io.address,
                gsi_base: io.global_system_interrupt_base,
            });
        }
        for o in apic.interrupt_source_overrides.iter() {
            // "Same as bus" is the ISA convention: edge, active high.
            platform.isa_overrides.push(IsaOverride {
                isa_irq: o.isa_source,
                route: IrqRoute {
                    gsi: o.global_system_interrupt,
                    level: matches!(o.trigger_mode, TriggerMode::Level),
                    active_low: matches!(o.polarity, Polarity::ActiveLow),
                },
            });
        }
    }
    if let Some(procs) = &info.processor_info {
        let bsp = procs.boot_processor;
        platform.cpus.push(CpuEntry {
            apic_id: bsp.local_apic_id,
            uid: bsp.processor_uid,
            enabled: true,
            is_bsp: true,
        });
        for p in procs.application_processors.iter() {
            platform.cpus.push(CpuEntry {
                apic_id: p.local_apic_id,
                uid: p.processor_uid,
                enabled: p.state != ProcessorState::Disabled,
                is_bsp: false,
            });
        }
    }
    if let Ok(fadt) = tables.find_table::<Fadt>() {
        platform.pm1a_cnt = fadt.pm1a_control_block().ok().as_ref().and_then(pm_register);
        platform.pm1b_cnt = fadt.pm1b_control_block().ok().flatten().as_ref().and_then(pm_register);
        if let Some(reg) = fadt.reset_register().ok().as_ref().and_then(pm_register) {
            platform.reset = Some((reg, fadt.reset_value));
        }
    }
    if let Ok(dsdt) = tables.dsdt() {
        let len = usize::try_from(dsdt.length).unwrap_or(0).min(4 * 1024 * 1024);
        // SAFETY: the DSDT's address and length come from its validated
        // header; the direct map covers it and we only read.
        let aml = unsafe {
            core::slice::from_raw_parts(maddr_to_virt(dsdt.address as u64) as *const u8, len)
        };
        platform.s5 = hv_core::acpi_sleep::find_s5(aml);
    }
    Ok(platform)
}
