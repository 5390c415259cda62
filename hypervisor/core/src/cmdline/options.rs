// SPDX-License-Identifier: GPL-2.0-only
//! [`BootOptions`]: every documented Xen boot option, with Xen's defaults.
//!
//! One plain struct with public fields so the composition root can read the
//! configuration directly. Besides the values it records which options were
//! given (`given`), so the hypervisor can report options it accepted but
//! cannot honour yet ([`BootOptions::unsupported_here`]) and build the
//! options Xen forwards to domain 0 ([`BootOptions::dom0_propagated`]).

use alloc::string::String;
use alloc::vec::Vec;

use super::number::parse_bool;
use super::platform::{AcpiOption, ApicDriver, ApicVerbosity, NmiAction};
use super::realmode::{EddMode, EdidMode, VgaConfig};
use super::serial::{ComConfig, ConSwitch, ConsoleTarget};
use crate::console::LogThresholds;
use crate::dom0_mem::Dom0Mem;
use crate::sched::SchedulerKind;

/// `gnttab=` (Xen 4.17's `parse_gnttab`): grant-table features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GnttabOpts {
    /// `max-ver:<n>` (1 or 2, also spelt `max_ver:`): the highest version
    /// a domain may use (`opt_gnttab_max_version`, default 2).
    pub max_version: u32,
    /// `[no-]transitive`: copies through v2 transitive grants (default on).
    pub transitive: bool,
    /// `[no-]transfer`: `GNTTABOP_transfer` (default on).
    pub transfer: bool,
}

impl Default for GnttabOpts {
    fn default() -> Self {
        Self { max_version: 2, transitive: true, transfer: true }
    }
}

impl GnttabOpts {
    /// Parses a comma-separated `gnttab=` value on top of the defaults;
    /// `None` if any item is not understood (Xen then keeps what it
    /// applied before the bad item; here nothing is applied).
    #[must_use]
    pub fn parse(v: &str) -> Option<Self> {
        let mut o = Self::default();
        for item in v.split(',') {
            let ver = item.strip_prefix("max-ver:").or_else(|| item.strip_prefix("max_ver:"));
            if let Some(n) = ver {
                o.max_version = match n {
                    "1" => 1,
                    "2" => 2,
                    _ => return None,
                };
                continue;
            }
            let (name, on) = match item.strip_prefix("no-") {
                Some(rest) => (rest, false),
                None => match item.split_once('=') {
                    Some((name, val)) => (name, parse_bool(val)?),
                    None => (item, true),
                },
            };
            match name {
                "transitive" => o.transitive = on,
                "transfer" => o.transfer = on,
                _ => return None,
            }
        }
        Some(o)
    }
}

/// Options that are parsed and validated but have no effect on this
/// hypervisor yet, in the spelling used by [`BootOptions::given`].
pub const NO_EFFECT_OPTIONS: &[&str] = &[
    "watchdog",
    "dom0_vcpus_pin",
    "noirqbalance",
    "tbuf_size",
    "conswitch",
    "apic_verbosity",
    "lapic",
    "nolapic",
    "apic",
    "dma_bits",
    "dma_emergency_pool",
    "hap",
    "acpi_skip_timer_override",
    "noapic",
    "vga",
    "no-real-mode",
    "edid",
    "edd",
];

/// Xen's default `dma_bits`: addresses below 1 GiB are DMA-able.
pub const DEFAULT_DMA_BITS: u32 = 30;

/// The typed hypervisor command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootOptions {
    /// `noreboot`: do not reboot automatically on fatal errors.
    pub noreboot: bool,
    /// `nosmp`: bring up the boot processor only.
    pub nosmp: bool,
    /// `watchdog`: enable the NMI watchdog.
    pub watchdog: bool,
    /// `noirqbalance`: no software IRQ balancing.
    pub noirqbalance: bool,
    /// `badpage=`: machine frame numbers never to allocate.
    pub badpages: Vec<u64>,
    /// `mem=`: highest physical address of RAM to use, in bytes
    /// (`None` or `mem=0`: no limit).
    pub mem: Option<u64>,
    /// `dom0_mem=`: domain 0 memory specification.
    pub dom0_mem: Dom0Mem,
    /// `dom0_max_vcpus=<n>` or `<min>-<max>`: domain 0's vCPU count
    /// (default: one per CPU; never more than the CPUs, since dom0's vCPUs
    /// run pinned one per CPU).
    pub dom0_max_vcpus: Option<(u32, u32)>,
    /// `dom0_vcpus_pin`: pin domain 0's vCPUs to the matching CPUs.
    pub dom0_vcpus_pin: bool,
    /// `tbuf_size=`: per-CPU trace buffer size in pages (default 0).
    pub tbuf_size: u32,
    /// `sched=`: the CPU scheduler (default credit).
    pub sched: SchedulerKind,
    /// `com1=`: COM1 settings; `None` when not given.
    pub com1: Option<ComConfig>,
    /// `com2=`: COM2 settings; `None` when not given.
    pub com2: Option<ComConfig>,
    /// `console=`: output destinations (default `com1,vga`).
    pub console: Vec<ConsoleTarget>,
    /// `loglvl=`: thresholds for hypervisor messages (default `warning`).
    pub loglvl: LogThresholds,
    /// `guest_loglvl=`: thresholds for guest-related messages
    /// (default `none/warning`).
    pub guest_loglvl: LogThresholds,
    /// `console_to_ring`: copy guest console output into the console ring.
    pub console_to_ring: bool,
    /// `sync_console`: write console output synchronously.
    pub sync_console: bool,
    /// `conswitch=`: serial input switch character (default CTRL-a).
    pub conswitch: ConSwitch,
    /// `nmi=`: what an NMI does (default `dom0`; see [`crate::nmi`]).
    pub nmi: NmiAction,
    /// `apic_verbosity=`: APIC setup logging.
    pub apic_verbosity: ApicVerbosity,
    /// `lapic` (`Some(true)`) / `nolapic` (`Some(false)`); `None`: as the BIOS
    /// left it.
    pub lapic: Option<bool>,
    /// `apic=`: forced APIC platform driver; `None`: probe.
    pub apic: Option<ApicDriver>,
    /// `dma_bits=`: DMA address width (default 30).
    pub dma_bits: u32,
    /// `dma_emergency_pool=`: DMA pool floor in bytes; `None`: built-in.
    pub dma_emergency_pool: Option<u64>,
    /// `hap`: use hardware-assisted paging when available.
    pub hap: bool,
    /// `acpi=`: ACPI table handling, passed on to domain 0.
    pub acpi: Vec<AcpiOption>,
    /// `acpi_skip_timer_override`: ignore the BIOS timer IRQ override.
    pub acpi_skip_timer_override: bool,
    /// `noapic`: ignore IO-APICs, use the legacy PIC.
    pub noapic: bool,
    /// `vga=`: video mode; `None` when not given.
    pub vga: Option<VgaConfig>,
    /// `no-real-mode`: skip the real-mode boot code.
    pub no_real_mode: bool,
    /// `edid=`: EDID retrieval; `None`: probe normally.
    pub edid: Option<EdidMode>,
    /// `edd=`: EDD retrieval; `None`: Xen's default (on).
    pub edd: Option<EddMode>,
    /// `gnttab=`: grant-table features.
    pub gnttab: GnttabOpts,
    /// Canonical names (Xen's spelling, e.g. `no-real-mode`, `lapic`) of the
    /// options successfully applied, in first-given order, without repeats.
    pub given: Vec<&'static str>,
}

impl Default for BootOptions {
    fn default() -> Self {
        Self {
            noreboot: false,
            nosmp: false,
            watchdog: false,
            noirqbalance: false,
            badpages: Vec::new(),
            mem: None,
            dom0_mem: Dom0Mem::default(),
            dom0_max_vcpus: None,
            dom0_vcpus_pin: false,
            tbuf_size: 0,
            sched: SchedulerKind::Credit,
            com1: None,
            com2: None,
            console: ConsoleTarget::DEFAULT.to_vec(),
            loglvl: LogThresholds::XEN_DEFAULT,
            guest_loglvl: LogThresholds::GUEST_DEFAULT,
            console_to_ring: false,
            sync_console: false,
            conswitch: ConSwitch::default(),
            nmi: NmiAction::Dom0,
            apic_verbosity: ApicVerbosity::Quiet,
            lapic: None,
            apic: None,
            dma_bits: DEFAULT_DMA_BITS,
            dma_emergency_pool: None,
            hap: false,
            acpi: Vec::new(),
            acpi_skip_timer_override: false,
            noapic: false,
            vga: None,
            no_real_mode: false,
            edid: None,
            edd: None,
            gnttab: GnttabOpts::default(),
            given: Vec::new(),
        }
    }
}

impl BootOptions {
    /// Whether the option `name` (as listed in [`BootOptions::given`]) was
    /// given and accepted.
    pub fn was_given(&self, name: &str) -> bool {
        self.given.contains(&name)
    }

    /// Records that the option `name` was applied.
    pub(crate) fn mark_given(&mut self, name: &'static str) {
        if !self.was_given(name) {
            self.given.push(name);
        }
    }

    /// Options given that this hypervisor accepts but cannot honour yet
    /// (see [`NO_EFFECT_OPTIONS`]), in the order given.
    pub fn unsupported_here(&self) -> Vec<&'static str> {
        self.given.iter().copied().filter(|name| NO_EFFECT_OPTIONS.contains(name)).collect()
    }

    /// The options Xen forwards to domain 0's command line, space-separated
    /// in Xen's order: `noapic`, `acpi_skip_timer_override`, then one
    /// `acpi=<value>` per `acpi=` value. Empty when there are none.
    pub fn dom0_propagated(&self) -> String {
        self.propagated_words().collect::<Vec<_>>().join(" ")
    }

    /// Appends [`BootOptions::dom0_propagated`] to domain 0's own command
    /// line, skipping each option the command line already has (as Xen does:
    /// any `acpi=` there suppresses all forwarded `acpi=` values).
    pub fn append_to_dom0_cmdline(&self, dom0_cmdline: &str) -> String {
        let has = |pred: &dyn Fn(&str) -> bool| dom0_cmdline.split_ascii_whitespace().any(pred);
        let has_noapic = has(&|w| w == "noapic");
        let has_timer = has(&|w| w == "acpi_skip_timer_override");
        let has_acpi = has(&|w| w.starts_with("acpi="));
        let mut out = String::from(dom0_cmdline.trim_end());
        for word in self.propagated_words() {
            let skip = match word.as_str() {
                "noapic" => has_noapic,
                "acpi_skip_timer_override" => has_timer,
                _ => has_acpi,
            };
            if !skip {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&word);
            }
        }
        out
    }

    fn propagated_words(&self) -> impl Iterator<Item = String> + '_ {
        let noapic = self.noapic.then(|| String::from("noapic"));
        let timer = self.acpi_skip_timer_override.then(|| String::from("acpi_skip_timer_override"));
        let acpi = self.acpi.iter().map(|value| alloc::format!("acpi={value}"));
        noapic.into_iter().chain(timer).chain(acpi)
    }
}
