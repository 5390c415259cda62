// SPDX-License-Identifier: GPL-2.0-only
//! The typed domain configuration, from the merged options.
//!
//! [`DomainConfig::from_vals`] does `create.py`'s `preprocess` (device
//! mini-languages, the kernel `ip=` string, NFS root) and checks what xend
//! would refuse later (event actions, builder, name, numbers, disks), each
//! error located at the file line or command-line word that set the value.
//! Fields keep xm's semantics: `None` where xm leaves an option unset (xend
//! then applies its default, see the `effective_*` methods), strings where
//! xm passes strings through. [`DomainConfig::to_sxp`] builds the `(vm …)`
//! SXP as `make_config` does, [`DomainConfig::from_sxp`] reads it back as
//! xend would.

pub mod device;
mod from_sxp;
mod make;

use crate::error::{Error, ErrorKind, Result};
use crate::options::{CreateArgs, Env, Origin, Vals, truthy};
use crate::python::PyValue;
use crate::sxp::{Sxp, py_float_str};
use device::{AccessControl, Disk, IoportRange, PciDevice, Vfb, Vif, Vtpm};
use std::path::{Component, Path, PathBuf};

/// The domain builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builder {
    /// Paravirtualised Linux (`linux`, the default).
    Linux,
    /// A hardware-virtualised guest (`hvm`).
    Hvm,
}

impl Builder {
    /// xm's name.
    pub fn name(self) -> &'static str {
        match self {
            Builder::Linux => "linux",
            Builder::Hvm => "hvm",
        }
    }
}

/// What xend does when a domain powers off, reboots or crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Clean the domain up.
    Destroy,
    /// Start a new domain in its place.
    Restart,
    /// Leave it until destroyed by hand.
    Preserve,
    /// Rename the old one (`-1`, `-2`, … and a new UUID) and start a new one.
    RenameRestart,
}

impl Action {
    /// Parses xm's name.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "destroy" => Some(Action::Destroy),
            "restart" => Some(Action::Restart),
            "preserve" => Some(Action::Preserve),
            "rename-restart" => Some(Action::RenameRestart),
            _ => None,
        }
    }

    /// xm's name.
    pub fn name(self) -> &'static str {
        match self {
            Action::Destroy => "destroy",
            Action::Restart => "restart",
            Action::Preserve => "preserve",
            Action::RenameRestart => "rename-restart",
        }
    }
}

/// The deprecated `restart` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartMode {
    /// Restart on reboot only: destroy / restart / destroy.
    OnReboot,
    /// Always restart.
    Always,
    /// Never restart.
    Never,
}

impl RestartMode {
    /// xm's name.
    pub fn name(self) -> &'static str {
        match self {
            RestartMode::OnReboot => "onreboot",
            RestartMode::Always => "always",
            RestartMode::Never => "never",
        }
    }
}

/// A physical CPU set (`cpus = "0-3,5,^1"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuSet {
    /// The text as written (what xm sends).
    pub text: String,
    /// The CPUs it selects, ascending.
    pub cpus: Vec<u32>,
}

impl CpuSet {
    /// Parses ranges, single CPUs and `^` exclusions with xend's rules:
    /// left to right, `^N` removing N from what came before, so
    /// `"0-3,^1"` is 0, 2, 3 and `"0-3,^1,1"` is 0 to 3.
    pub fn parse(text: &str) -> core::result::Result<CpuSet, String> {
        let mut cpus: Vec<u32> = Vec::new();
        for part in text.split(',').map(str::trim) {
            let bad =
                || format!("invalid CPU specifier {part:?} in cpus {text:?} (as \"0-3,5,^1\")");
            let num = |s: &str| s.trim().parse::<u32>().ok().filter(|n| *n < 4096);
            if let Some((a, b)) = part.split_once('-') {
                let (lo, hi) = (num(a).ok_or_else(bad)?, num(b).ok_or_else(bad)?);
                if hi < lo {
                    return Err(bad());
                }
                cpus.extend(lo..=hi);
            } else if let Some(n) = part.strip_prefix('^') {
                let n = num(n).ok_or_else(bad)?;
                cpus.retain(|c| *c != n);
            } else {
                cpus.push(num(part).ok_or_else(bad)?);
            }
            if cpus.len() > 65536 {
                return Err(bad());
            }
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(CpuSet { text: text.into(), cpus })
    }
}

/// A `(vm …)` configuration as `xm create` builds it.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainConfig {
    /// The domain name (default: the config file's base name).
    pub name: String,
    /// The UUID, when given.
    pub uuid: Option<String>,
    /// The builder.
    pub builder: Builder,
    /// The kernel, made absolute against the working directory.
    pub kernel: Option<String>,
    /// The initial ramdisk, made absolute.
    pub ramdisk: Option<String>,
    /// Guest kernel features.
    pub features: String,
    /// The bootloader (`pygrub` expands to `/usr/bin/pygrub`).
    pub bootloader: Option<String>,
    /// The bootloader's arguments (`-q` unless `-c`, when a bootloader is set).
    pub bootloader_args: Option<String>,
    /// The kernel's `root=` (a leading `root=` removed).
    pub root: String,
    /// Extra kernel arguments (`nfsroot=` prepended for NFS roots).
    pub extra: String,
    /// The kernel `ip=` value built from `ip`, `nfs_server`, `gateway`,
    /// `netmask`, `hostname`, `interface` and `dhcp`; empty when unused.
    pub cmdline_ip: String,
    /// Initial memory, MiB.
    pub memory: i64,
    /// Maximum memory, MiB (`None`: the same as `memory`).
    pub maxmem: Option<i64>,
    /// Shadow memory, MiB.
    pub shadow_memory: i64,
    /// Number of vCPUs.
    pub vcpus: i64,
    /// Bitmap of the vCPUs online at boot (`None`: all).
    pub vcpu_avail: Option<i64>,
    /// The physical CPU for vCPU 0 (legacy).
    pub cpu: Option<i64>,
    /// The CPUs the vCPUs may run on.
    pub cpus: Option<CpuSet>,
    /// Credit scheduler weight (`None`: xend's 256).
    pub cpu_weight: Option<i64>,
    /// Credit scheduler cap, % of one CPU (`None`: xend's 0, no cap).
    pub cpu_cap: Option<i64>,
    /// The deprecated `restart` option.
    pub restart: Option<RestartMode>,
    /// `on_poweroff` (`None`: xend's `destroy`).
    pub on_poweroff: Option<Action>,
    /// `on_reboot` (`None`: xend's `restart`).
    pub on_reboot: Option<Action>,
    /// `on_crash` (`None`: xend's `restart`).
    pub on_crash: Option<Action>,
    /// `on_xend_start` (`ignore` or `start`).
    pub on_xend_start: String,
    /// `on_xend_stop` (`ignore`, `shutdown` or `suspend`).
    pub on_xend_stop: String,
    /// The RTC runs in local time.
    pub localtime: bool,
    /// The domain is a block backend.
    pub blkif: bool,
    /// The domain is a network backend.
    pub netif: bool,
    /// The domain is a TPM backend.
    pub tpmif: bool,
    /// Disks, in order.
    pub disks: Vec<Disk>,
    /// PCI devices passed through.
    pub pci: Vec<PciDevice>,
    /// I/O port ranges passed through.
    pub ioports: Vec<IoportRange>,
    /// IRQs passed through, as given.
    pub irqs: Vec<Sxp>,
    /// Network interfaces, in order (`nics` padding applied).
    pub vifs: Vec<Vif>,
    /// Physical USB ports passed through.
    pub usbports: Vec<String>,
    /// The virtual TPM.
    pub vtpm: Option<Vtpm>,
    /// Virtual frame buffers (each brings a virtual keyboard).
    pub vfbs: Vec<Vfb>,
    /// The ACM label (the ssidref is computed by the ACM tools).
    pub access_control: Option<AccessControl>,
    /// The legacy raw ssidref.
    pub ssidref: Option<i64>,
    /// The HVM image settings (builder `hvm`), in `configure_hvm`'s order.
    pub hvm: Vec<(String, Sxp)>,
}

/// The HVM settings `configure_hvm` copies into the image, in its order.
const HVM_ARGS: [&str; 27] = [
    "device_model",
    "pae",
    "vcpus",
    "boot",
    "fda",
    "fdb",
    "localtime",
    "serial",
    "stdvga",
    "isa",
    "nographic",
    "soundhw",
    "vnc",
    "vncdisplay",
    "vncunused",
    "vncconsole",
    "vnclisten",
    "sdl",
    "display",
    "xauthority",
    "rtc_timeoffset",
    "monitor",
    "acpi",
    "apic",
    "usb",
    "usbdevice",
    "keymap",
];

/// Reads typed values out of [`Vals`], blaming the origin of bad ones.
struct Reader<'a> {
    vals: &'a Vals,
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> (PyValue, Origin) {
        self.vals
            .get(name)
            .map_or((PyValue::None, Origin::Default), |(v, o)| (v.clone(), o.clone()))
    }

    fn err(&self, name: &str, msg: impl Into<String>) -> Error {
        let (_, origin) = self.raw(name);
        Error { kind: ErrorKind::Config, location: origin.location(), message: msg.into() }
    }

    /// A string option (numbers print as Python's `str`).
    fn string(&self, name: &str) -> Result<Option<String>> {
        match self.raw(name).0 {
            PyValue::None => Ok(None),
            PyValue::Str(s) => Ok(Some(s)),
            PyValue::Int(n) => Ok(Some(n.to_string())),
            PyValue::Float(f) => Ok(Some(py_float_str(f))),
            other => {
                Err(self.err(name, format!("{name} must be a string, not {}", other.type_name())))
            }
        }
    }

    /// A string option that is falsy when unset or empty.
    fn nonempty(&self, name: &str) -> Result<Option<String>> {
        Ok(self.string(name)?.filter(|s| !s.is_empty()))
    }

    /// An integer option (strings go through `int()`, as xend does).
    fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.raw(name).0 {
            PyValue::None => Ok(None),
            PyValue::Int(n) => Ok(Some(n)),
            #[allow(clippy::cast_possible_truncation, reason = "range checked: int() truncates")]
            PyValue::Float(f) if f.is_finite() && f.abs() < 9.0e18 => Ok(Some(f.trunc() as i64)),
            PyValue::Str(s) => {
                let t = s.trim();
                t.parse::<i64>()
                    .map(Some)
                    .map_err(|_| self.err(name, format!("{name} must be an integer, not {s:?}")))
            }
            other => {
                Err(self.err(name, format!("{name} must be an integer, not {}", other.type_name())))
            }
        }
    }

    fn truthy(&self, name: &str) -> bool {
        truthy(&self.raw(name).0)
    }

    /// A list option whose entries are strings.
    fn strings(&self, name: &str) -> Result<Vec<String>> {
        match self.raw(name).0 {
            PyValue::None => Ok(Vec::new()),
            PyValue::List(items) => items
                .into_iter()
                .map(|i| match i {
                    PyValue::Str(s) => Ok(s),
                    other => Err(self.err(
                        name,
                        format!("{name} entries must be strings, not {}", other.type_name()),
                    )),
                })
                .collect(),
            PyValue::Int(0) if name == "tpmif" => Ok(Vec::new()),
            other => Err(self
                .err(name, format!("{name} must be a list of strings, not {}", other.type_name()))),
        }
    }

    fn sxp(&self, name: &str) -> Option<Sxp> {
        to_sxp_value(&self.raw(name).0)
    }
}

/// An option value as xm puts it into SXP.
fn to_sxp_value(v: &PyValue) -> Option<Sxp> {
    Some(match v {
        PyValue::None | PyValue::Other(_) => return None,
        PyValue::Bool(b) => Sxp::Int(i64::from(*b)),
        PyValue::Int(n) => Sxp::Int(*n),
        PyValue::Float(f) => Sxp::Float(*f),
        PyValue::Str(s) => Sxp::str(s.as_str()),
        PyValue::List(items) | PyValue::Tuple(items) => {
            Sxp::List(items.iter().filter_map(to_sxp_value).collect())
        }
    })
}

/// `os.path.abspath`: joined to `cwd` when relative, then normalised.
fn abspath(p: &str, cwd: &Path) -> String {
    let joined: PathBuf = if p.starts_with('/') { PathBuf::from(p) } else { cwd.join(p) };
    let mut out: Vec<String> = Vec::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    format!("/{}", out.join("/"))
}

/// xend's `_checkName`: letters, digits and these.
const NAME_CHARS: &str = "_-.:/+";

/// The largest memory size accepted, MiB (16 TiB, far above any Xen 4.17 PV
/// guest; keeps every KiB and byte conversion of it in range).
pub const MAX_MEMORY_MIB: i64 = 16 << 20;

impl DomainConfig {
    /// Builds and checks the configuration from merged options.
    pub fn from_vals(
        vals: &Vals,
        args: &CreateArgs,
        env: &Env,
        warnings: &mut Vec<String>,
    ) -> Result<DomainConfig> {
        let r = Reader { vals };
        let name = r.string("name")?.unwrap_or_default();
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || NAME_CHARS.contains(c))
        {
            return Err(r.err(
                "name",
                format!("Invalid VM name {name:?} (letters, digits and {NAME_CHARS} only)"),
            ));
        }
        let builder = match r.string("builder")?.as_deref() {
            Some("linux") => Builder::Linux,
            Some("hvm") => Builder::Hvm,
            other => {
                return Err(r.err(
                    "builder",
                    format!("unknown builder {:?} (linux or hvm)", other.unwrap_or("")),
                ));
            }
        };
        let action = |key: &str| -> Result<Option<Action>> {
            match r.string(key)? {
                None => Ok(None),
                Some(s) => Action::parse(&s).map(Some).ok_or_else(|| {
                    r.err(key, format!("Invalid event handling mode for {key}: {s:?} (destroy, restart, preserve or rename-restart)"))
                }),
            }
        };
        let restart = match r.nonempty("restart")?.as_deref() {
            None => None,
            Some("onreboot") => Some(RestartMode::OnReboot),
            Some("always") => Some(RestartMode::Always),
            Some("never") => Some(RestartMode::Never),
            Some(other) => {
                return Err(r.err(
                    "restart",
                    format!("invalid restart mode {other:?} (onreboot, always or never)"),
                ));
            }
        };
        let memory = r.int("memory")?.unwrap_or(128);
        if !(1..=MAX_MEMORY_MIB).contains(&memory) {
            return Err(r.err(
                "memory",
                format!("memory must be between 1 and {MAX_MEMORY_MIB} MiB, not {memory}"),
            ));
        }
        let maxmem = r.int("maxmem")?;
        if let Some(m) = maxmem.filter(|m| *m != 0 && (*m < memory || *m > MAX_MEMORY_MIB)) {
            return Err(r.err(
                "maxmem",
                format!("maxmem ({m} MiB) must be between memory ({memory} MiB) and {MAX_MEMORY_MIB} MiB"),
            ));
        }
        let shadow_memory = r.int("shadow_memory")?.unwrap_or(0);
        if shadow_memory < 0 {
            return Err(r.err("shadow_memory", "shadow_memory must not be negative"));
        }
        let vcpus = r.int("vcpus")?.unwrap_or(1);
        if !(1..=128).contains(&vcpus) {
            return Err(r.err("vcpus", format!("vcpus must be between 1 and 128, not {vcpus}")));
        }
        let cpu_weight = r.int("cpu_weight")?;
        // 0 leaves the scheduler's weight as it is (the credit scheduler
        // ignores a zero weight), so xend's 256 stays.
        if let Some(w) = cpu_weight.filter(|w| !(0..=65535).contains(w)) {
            return Err(
                r.err("cpu_weight", format!("cpu_weight must be between 0 and 65535, not {w}"))
            );
        }
        let cpu_cap = r.int("cpu_cap")?;
        if let Some(c) = cpu_cap.filter(|c| !(0..=65535).contains(c)) {
            return Err(r.err("cpu_cap", format!("cpu_cap must be between 0 and 65535, not {c}")));
        }
        let cpus = match r.string("cpus")? {
            None => None,
            Some(text) => Some(CpuSet::parse(&text).map_err(|m| r.err("cpus", m))?),
        };
        let dhcp = r.string("dhcp")?.unwrap_or_default();
        if dhcp != "off" && dhcp != "dhcp" {
            return Err(r.err("dhcp", format!("dhcp must be off or dhcp, not {dhcp:?}")));
        }
        let on_xend_start = r.string("on_xend_start")?.unwrap_or_default();
        if !["ignore", "start"].contains(&on_xend_start.as_str()) {
            return Err(r.err(
                "on_xend_start",
                format!("on_xend_start must be ignore or start, not {on_xend_start:?}"),
            ));
        }
        let on_xend_stop = r.string("on_xend_stop")?.unwrap_or_default();
        if !["ignore", "shutdown", "suspend"].contains(&on_xend_stop.as_str()) {
            return Err(r.err(
                "on_xend_stop",
                format!("on_xend_stop must be ignore, shutdown or suspend, not {on_xend_stop:?}"),
            ));
        }

        // preprocess_disk, _pci, _ioports, _vtpm, _access_control.
        let disks = r
            .strings("disk")?
            .iter()
            .map(|d| Disk::parse(d).map_err(|m| r.err("disk", m)))
            .collect::<Result<Vec<_>>>()?;
        let pci = r
            .strings("pci")?
            .iter()
            .map(|p| PciDevice::parse(p).map_err(|m| r.err("pci", m)))
            .collect::<Result<Vec<_>>>()?;
        let ioports = r
            .strings("ioports")?
            .iter()
            .map(|p| IoportRange::parse(p).map_err(|m| r.err("ioports", m)))
            .collect::<Result<Vec<_>>>()?;
        let vtpm = match r.strings("vtpm")?.first() {
            Some(v) => Some(Vtpm::parse(v).map_err(|m| r.err("vtpm", m))?),
            None => None,
        };
        let access = r.strings("access_control")?;
        let access_control = match access.as_slice() {
            [] => None,
            [one] => Some(AccessControl::parse(one).map_err(|m| r.err("access_control", m))?),
            _ => return Err(r.err("access_control", "Multiple access_control definitions.")),
        };
        let ssidref = r.int("ssidref")?;
        if access_control.is_some() && ssidref.is_some_and(|s| s != 0) {
            return Err(r.err(
                "ssidref",
                "ERROR: SSIDREF and access_control are mutually exclusive but both specified!",
            ));
        }

        // preprocess_ip and preprocess_nfs.
        let ip = r.string("ip")?.unwrap_or_default();
        let nfs_server = r.nonempty("nfs_server")?;
        let cmdline_ip = if !ip.is_empty() || dhcp != "off" {
            format!(
                "{ip}:{}:{}:{}:{}:{}:{dhcp}",
                nfs_server.as_deref().unwrap_or("1.2.3.4"),
                r.string("gateway")?.unwrap_or_default(),
                r.string("netmask")?.unwrap_or_default(),
                r.string("hostname")?.unwrap_or_default(),
                r.string("interface")?.unwrap_or_default(),
            )
        } else {
            String::new()
        };
        let mut extra = r.string("extra")?.unwrap_or_default();
        if let Some(nfs_root) = r.nonempty("nfs_root")? {
            let Some(server) = &nfs_server else {
                return Err(r.err("nfs_root", "Must set nfs root and nfs server"));
            };
            extra = format!("nfsroot={server}:{nfs_root} {extra}");
        }

        // configure_vifs, with the deprecated `nics` padding.
        let mut vif_specs = r.strings("vif")?;
        let nics = r.int("nics")?.unwrap_or(-1);
        if nics > 0 {
            warnings.push("The nics option is deprecated.  Please use an empty vif entry instead:\n\n  vif = [ '' ]\n".into());
            let want = usize::try_from(nics).unwrap_or(0).min(1024);
            while vif_specs.len() < want {
                vif_specs.push(String::new());
            }
        } else if nics == 0 {
            warnings.push("The nics option is deprecated.  Please remove it.".into());
        }
        let vifs = vif_specs
            .iter()
            .map(|v| Vif::parse(v).map_err(|m| r.err("vif", m)))
            .collect::<Result<Vec<_>>>()?;

        let keymap = r.string("keymap")?.unwrap_or_default();
        let vfbs = r
            .strings("vfb")?
            .iter()
            .map(|v| {
                Vfb::parse(v, &keymap, env.display.as_deref(), env.xauthority.as_deref())
                    .map_err(|m| r.err("vfb", m))
            })
            .collect::<Result<Vec<_>>>()?;

        let irqs = match r.raw("irq").0 {
            PyValue::List(items) => items.iter().filter_map(to_sxp_value).collect(),
            PyValue::None => Vec::new(),
            other => {
                return Err(r.err("irq", format!("irq must be a list, not {}", other.type_name())));
            }
        };

        let kernel = r.nonempty("kernel")?.map(|k| abspath(&k, &env.cwd));
        let ramdisk = r.nonempty("ramdisk")?.map(|k| abspath(&k, &env.cwd));
        let mut bootloader = r.nonempty("bootloader")?;
        if bootloader.as_deref() == Some("pygrub") {
            bootloader = Some("/usr/bin/pygrub".into());
        }
        let bootloader_args = bootloader.as_ref().map(|_| -> Result<String> {
            Ok(match r.nonempty("bootargs")? {
                Some(a) => a,
                None if args.console_autoconnect => String::new(),
                None => "-q".into(),
            })
        });
        let bootloader_args = bootloader_args.transpose()?;
        if builder == Builder::Linux && kernel.is_none() && bootloader.is_none() {
            return Err(r.err("kernel", "no kernel image given (set kernel, or bootloader)"));
        }
        let root = r.string("root")?.unwrap_or_default();
        let root = root.strip_prefix("root=").map(str::to_string).unwrap_or(root);

        let mut hvm = Vec::new();
        if builder == Builder::Hvm {
            for a in HVM_ARGS {
                if let Some(v) = r.sxp(a) {
                    hvm.push((a.to_string(), v));
                }
            }
            hvm.push(("vncpasswd".into(), r.sxp("vncpasswd").unwrap_or_else(|| Sxp::str("None"))));
        }

        Ok(DomainConfig {
            name,
            uuid: r.string("uuid")?,
            builder,
            kernel,
            ramdisk,
            features: r.string("features")?.unwrap_or_default(),
            bootloader,
            bootloader_args,
            root,
            extra,
            cmdline_ip,
            memory,
            maxmem,
            shadow_memory,
            vcpus,
            vcpu_avail: r.int("vcpu_avail")?,
            cpu: r.int("cpu")?,
            cpus,
            cpu_weight,
            cpu_cap,
            restart,
            on_poweroff: action("on_poweroff")?,
            on_reboot: action("on_reboot")?,
            on_crash: action("on_crash")?,
            on_xend_start,
            on_xend_stop,
            localtime: r.truthy("localtime"),
            blkif: r.truthy("blkif"),
            netif: r.truthy("netif"),
            tpmif: r.truthy("tpmif"),
            disks,
            pci,
            ioports,
            irqs,
            vifs,
            usbports: r.strings("usbport")?,
            vtpm,
            vfbs,
            access_control,
            ssidref,
            hvm,
        })
    }

    /// What xend does on power-off (its default: destroy).
    pub fn effective_on_poweroff(&self) -> Action {
        self.on_poweroff
            .or(self
                .restart
                .map(|r| if r == RestartMode::Always { Action::Restart } else { Action::Destroy }))
            .unwrap_or(Action::Destroy)
    }

    /// What xend does on reboot (its default: restart).
    pub fn effective_on_reboot(&self) -> Action {
        self.on_reboot
            .or(self
                .restart
                .map(|r| if r == RestartMode::Never { Action::Destroy } else { Action::Restart }))
            .unwrap_or(Action::Restart)
    }

    /// What xend does on a crash (its default: restart).
    pub fn effective_on_crash(&self) -> Action {
        self.on_crash
            .or(self
                .restart
                .map(|r| if r == RestartMode::Always { Action::Restart } else { Action::Destroy }))
            .unwrap_or(Action::Restart)
    }

    /// The credit weight the domain runs with (256 when unset or 0).
    pub fn effective_cpu_weight(&self) -> i64 {
        self.cpu_weight.filter(|w| *w != 0).unwrap_or(256)
    }

    /// The maximum memory, MiB (`memory` when unset).
    pub fn effective_maxmem(&self) -> i64 {
        self.maxmem.filter(|m| *m > 0).unwrap_or(self.memory)
    }

    /// The kernel command line the domain boots with: `ip=`, `root=`,
    /// then the extra arguments, as xend joins them.
    pub fn kernel_cmdline(&self) -> String {
        let mut parts = Vec::new();
        if !self.cmdline_ip.is_empty() {
            parts.push(format!("ip={}", self.cmdline_ip));
        }
        if !self.root.is_empty() {
            parts.push(format!("root={}", self.root));
        }
        if !self.extra.is_empty() {
            parts.push(self.extra.clone());
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_sets_follow_xend() {
        assert_eq!(CpuSet::parse("0-3,5,^1").map(|c| c.cpus), Ok(vec![0, 2, 3, 5]));
        assert_eq!(CpuSet::parse("0-3,^1,1").map(|c| c.cpus), Ok(vec![0, 1, 2, 3]));
        assert_eq!(CpuSet::parse("^1,0-3").map(|c| c.cpus), Ok(vec![0, 1, 2, 3]));
        assert_eq!(CpuSet::parse(" 2 , 0").map(|c| c.cpus), Ok(vec![0, 2]));
        assert!(CpuSet::parse("0,,1").is_err());
        assert!(CpuSet::parse("^0-1").is_err());
        assert!(CpuSet::parse("3-1").is_err());
        assert!(CpuSet::parse("").is_err());
    }
}
