//! The oracle: Debian 12's Xen 4.17, as `qemu/fetch-xen` caches it, booted by QEMU's
//! direct Multiboot loader exactly like our hypervisor ([`RunConfig::kernel`]).
//!
//! Xen never powers the machine off: after dom0's `SCHEDOP_shutdown(poweroff)` it prints
//! `Hardware Dom0 halted: halting machine` and halts every CPU, which the runner reports as
//! a [`crate::ExitKind::PowerOff`] (see [`crate::console::Event::Halted`]).

use std::path::PathBuf;

use crate::{BootPath, ModuleSpec, RunConfig};

/// Xen's command line for the oracle boots: the console on COM1 (QEMU's serial port),
/// dom0 at 256 MiB, and a halt (not a reboot) if dom0 crashes.
pub const XEN_APPEND: &str = "console=com1 com1=115200,8n1 dom0_mem=256M noreboot";

/// The cache directory of `qemu/fetch-xen`: `$HV_XEN_CACHE`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/hv-xen417`.
pub fn xen_cache() -> Option<PathBuf> {
    let nonempty = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty()).map(PathBuf::from);
    match nonempty("HV_XEN_CACHE") {
        Some(dir) => Some(dir),
        None => nonempty("XDG_CACHE_HOME")
            .or_else(|| nonempty("HOME").map(|h| h.join(".cache")))
            .map(|c| c.join("hv-xen417")),
    }
}

/// Xen 4.17's multiboot ELF as `qemu/fetch-xen` unpacked it, if it is there.
pub fn cached_xen() -> Option<PathBuf> {
    let xen = xen_cache()?.join("xen-4.17");
    xen.metadata().is_ok_and(|m| m.is_file() && m.len() > 0).then_some(xen)
}

/// A boot of `xen` with `modules` (the first is dom0's kernel) on `smp` CPUs through
/// QEMU's direct loader, with [`XEN_APPEND`].
pub fn xen_config(xen: PathBuf, modules: Vec<ModuleSpec>, smp: u32) -> RunConfig {
    RunConfig {
        kernel: Some(xen),
        append: XEN_APPEND.to_owned(),
        modules,
        smp,
        boot: BootPath::Direct,
        ..RunConfig::default()
    }
}
