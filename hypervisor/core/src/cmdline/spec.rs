// SPDX-License-Identifier: GPL-2.0-only
//! The option table and the code applying one option to [`BootOptions`].
//!
//! Each entry names an option in Xen's spelling, says whether it is a
//! boolean flag or takes a value, and describes its default for warnings.
//! Names match with `-` and `_` treated alike. Values are parsed completely
//! before anything is stored, so a bad value leaves the field untouched.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::number::{parse_badpages, parse_size, parse_u32};
use super::options::{BootOptions, GnttabOpts};
use super::platform::{AcpiOption, ApicDriver, ApicVerbosity, NmiAction};
use super::realmode::{EddMode, EdidMode, VgaConfig};
use super::serial::{ComConfig, ConSwitch, parse_console};
use super::{InvalidValue, MAX_BADPAGES};
use crate::PAGE_SHIFT;
use crate::console::LogThresholds;
use crate::dom0_mem::Dom0Mem;
use crate::sched::SchedulerKind;

/// Whether an option is a boolean flag or needs a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `name`, `no-name` or `name=<bool>`.
    Flag,
    /// `name=value`.
    Value,
}

/// One known option.
#[derive(Debug)]
pub(crate) struct Spec {
    /// Xen's spelling.
    pub name: &'static str,
    /// Flag or value.
    pub kind: Kind,
    /// The default, as described in warnings.
    pub default: &'static str,
}

const fn flag(name: &'static str, default: &'static str) -> Spec {
    Spec { name, kind: Kind::Flag, default }
}

const fn value(name: &'static str, default: &'static str) -> Spec {
    Spec { name, kind: Kind::Value, default }
}

/// Every option of Xen's manual, in the manual's order.
pub(crate) const OPTIONS: &[Spec] = &[
    flag("noreboot", "off"),
    flag("nosmp", "off"),
    flag("watchdog", "off"),
    flag("noirqbalance", "off"),
    value("badpage", "none"),
    value("com1", "not configured"),
    value("com2", "not configured"),
    value("console", "com1,vga"),
    value("vga", "unchanged"),
    flag("no-real-mode", "off"),
    value("edid", "probe"),
    value("edd", "on"),
    flag("console_to_ring", "off"),
    flag("sync_console", "off"),
    value("conswitch", "a"),
    value("loglvl", "warning"),
    value("guest_loglvl", "none/warning"),
    value("nmi", "dom0"),
    value("mem", "no limit"),
    value("dom0_mem", "all memory less a reserve"),
    value("dom0_max_vcpus", "one per CPU"),
    flag("dom0_vcpus_pin", "off"),
    value("tbuf_size", "0"),
    value("sched", "credit"),
    value("apic_verbosity", "quiet"),
    flag("lapic", "as set up by the BIOS"),
    flag("nolapic", "as set up by the BIOS"),
    value("apic", "probe"),
    value("dma_bits", "30"),
    value("dma_emergency_pool", "built-in"),
    flag("hap", "off"),
    value("acpi", "ACPI enabled"),
    flag("acpi_skip_timer_override", "off"),
    flag("noapic", "off"),
    // Later Xen (4.17): grant-table features.
    value("gnttab", "max-ver:2,transitive,transfer"),
];

/// Compares option names with `-` and `_` treated alike.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |c: u8| if c == b'-' { b'_' } else { c };
    a.len() == b.len() && a.bytes().map(norm).eq(b.bytes().map(norm))
}

/// Finds an option by name.
pub(crate) fn lookup(name: &str) -> Option<&'static Spec> {
    OPTIONS.iter().find(|spec| same_name(spec.name, name))
}

/// Finds an option, also as `no-<name>` / `no_<name>` (negated).
pub(crate) fn resolve(name: &str) -> Option<(&'static Spec, bool)> {
    if let Some(spec) = lookup(name) {
        return Some((spec, false));
    }
    let rest = name.strip_prefix("no-").or_else(|| name.strip_prefix("no_"))?;
    lookup(rest).map(|spec| (spec, true))
}

/// Sets the boolean option `name` to `on`.
pub(crate) fn apply_flag(opts: &mut BootOptions, name: &str, on: bool) {
    match name {
        "noreboot" => opts.noreboot = on,
        "nosmp" => opts.nosmp = on,
        "watchdog" => opts.watchdog = on,
        "noirqbalance" => opts.noirqbalance = on,
        "no-real-mode" => opts.no_real_mode = on,
        "console_to_ring" => opts.console_to_ring = on,
        "sync_console" => opts.sync_console = on,
        "dom0_vcpus_pin" => opts.dom0_vcpus_pin = on,
        "lapic" => opts.lapic = Some(on),
        "nolapic" => opts.lapic = Some(!on),
        "hap" => opts.hap = on,
        "acpi_skip_timer_override" => opts.acpi_skip_timer_override = on,
        "noapic" => opts.noapic = on,
        _ => {}
    }
}

fn keyword<T>(
    what: &'static str,
    s: &str,
    f: impl Fn(&str) -> Option<T>,
) -> Result<T, InvalidValue> {
    f(s).ok_or_else(|| InvalidValue::new(what, s))
}

/// A non-negative size in bytes (default unit KiB).
fn size(s: &str) -> Result<u64, InvalidValue> {
    let bytes = parse_size(s, 10).ok_or_else(|| InvalidValue::new("size", s))?;
    u64::try_from(bytes).map_err(|_| InvalidValue::new("size", s).because("negative"))
}

/// Parses and stores the value of option `name`. `notes` collects messages
/// about parts of the value that were skipped while the rest was applied.
pub(crate) fn apply_value(
    opts: &mut BootOptions,
    name: &str,
    v: &str,
    notes: &mut Vec<String>,
) -> Result<(), InvalidValue> {
    match name {
        "badpage" => {
            let parsed = parse_badpages(v);
            notes.extend(
                parsed.invalid.iter().map(|item| format!("invalid page number '{item}', ignored")),
            );
            if parsed.truncated {
                notes.push(format!("more than {MAX_BADPAGES} bad pages, the rest ignored"));
            }
            if parsed.pages.is_empty() {
                return Err(InvalidValue::new("page list", v));
            }
            opts.badpages = parsed.pages;
        }
        "mem" => opts.mem = Some(size(v)?).filter(|&limit| limit != 0),
        "dom0_mem" => {
            opts.dom0_mem = Dom0Mem::parse(v).map_err(|bad| InvalidValue::new("size", bad))?;
        }
        "dom0_max_vcpus" => {
            let bad = || InvalidValue::new("vCPU count", v).because("must be N or MIN-MAX, 1-64");
            let (min, max) = match v.split_once('-') {
                Some((a, b)) => (parse_u32(a), parse_u32(b)),
                None => (parse_u32(v), parse_u32(v)),
            };
            let (Some(min), Some(max)) = (min, max) else { return Err(bad()) };
            if min == 0 || min > max || max > 64 {
                return Err(bad());
            }
            opts.dom0_max_vcpus = Some((min, max));
        }
        "tbuf_size" => opts.tbuf_size = keyword("page count", v, parse_u32)?,
        "sched" => opts.sched = keyword("scheduler", v, SchedulerKind::from_opt_name)?,
        "com1" => opts.com1 = Some(ComConfig::parse(v)?),
        "com2" => opts.com2 = Some(ComConfig::parse(v)?),
        "console" => opts.console = parse_console(v)?,
        "loglvl" => opts.loglvl = keyword("log level", v, LogThresholds::parse)?,
        "guest_loglvl" => opts.guest_loglvl = keyword("log level", v, LogThresholds::parse)?,
        "conswitch" => opts.conswitch = ConSwitch::parse(v)?,
        "nmi" => opts.nmi = keyword("NMI action", v, NmiAction::from_name)?,
        "gnttab" => opts.gnttab = keyword("grant-table options", v, GnttabOpts::parse)?,
        "apic_verbosity" => {
            opts.apic_verbosity = keyword("verbosity", v, ApicVerbosity::from_name)?;
        }
        "apic" => opts.apic = Some(keyword("APIC driver", v, ApicDriver::from_name)?),
        "dma_bits" => {
            let bits = keyword("bit width", v, parse_u32)?;
            if !(PAGE_SHIFT.saturating_add(1)..=64).contains(&bits) {
                return Err(InvalidValue::new("bit width", v).because("must be 13-64"));
            }
            opts.dma_bits = bits;
        }
        "dma_emergency_pool" => opts.dma_emergency_pool = Some(size(v)?),
        "acpi" => {
            let values: Vec<_> =
                v.split(',').filter(|item| !item.is_empty()).map(AcpiOption::from_name).collect();
            if values.is_empty() {
                return Err(InvalidValue::new("ACPI option", v));
            }
            opts.acpi = values;
        }
        "vga" => opts.vga = Some(VgaConfig::parse(v)?),
        "edid" => opts.edid = Some(keyword("EDID mode", v, EdidMode::from_name)?),
        "edd" => opts.edd = Some(keyword("EDD mode", v, EddMode::from_name)?),
        _ => return Err(InvalidValue::new("option", name)),
    }
    Ok(())
}
