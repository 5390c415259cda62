// SPDX-License-Identifier: GPL-2.0-only
//! The typed configuration back from SXP: what xend does with the `(vm …)`
//! that `xm create` sends (or an `xm create -F` file, or the `(domain …)`
//! of `xm list -l`).
//!
//! Keys are read as `make_config` writes them; values are atoms (numbers
//! arrive as strings on the wire). Unknown keys and device settings are
//! ignored, as xend ignores what it does not know (`(domid …)`, `(state
//! …)`, a vbd's `(uuid …)`); known values are checked as on the way in.

use super::device::{
    AccessControl, Disk, IoportRange, PciDevice, VFB_KEYS, VIF_KEYS, Vfb, Vif, Vtpm,
};
use super::{Action, Builder, CpuSet, DomainConfig, RestartMode};
use crate::error::{Error, ErrorKind, Result};
use crate::sxp::{Sxp, py_float_str};

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, msg)
}

/// The text of an atom (numbers as Python prints them).
fn text(v: &Sxp) -> Option<String> {
    match v {
        Sxp::Str(s) => Some(s.clone()),
        Sxp::Int(n) => Some(n.to_string()),
        Sxp::Float(f) => Some(py_float_str(*f)),
        Sxp::List(_) => None,
    }
}

/// The value of child `key` of `node` as text (`(key)` alone is "").
fn child_text(node: &Sxp, key: &str) -> Option<String> {
    let c = node.child(key)?;
    Some(c.children().first().and_then(text).unwrap_or_default())
}

fn child_int(node: &Sxp, key: &str) -> Result<Option<i64>> {
    value_int(node.child(key).and_then(|c| c.children().first()), key)
}

fn value_int(v: Option<&Sxp>, key: &str) -> Result<Option<i64>> {
    match v {
        None => Ok(None),
        Some(Sxp::Int(n)) => Ok(Some(*n)),
        Some(v) => {
            let t = text(v).unwrap_or_default();
            t.trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| err(format!("{key} must be an integer, not {t:?}")))
        }
    }
}

/// `(k v)` children of a device, for the keys in `known`.
fn settings(dev: &Sxp, known: &[&str]) -> Vec<(String, String)> {
    dev.children()
        .iter()
        .filter_map(|c| {
            let k = c.name()?;
            known
                .contains(&k)
                .then(|| (k.to_string(), c.children().first().and_then(text).unwrap_or_default()))
        })
        .collect()
}

impl DomainConfig {
    /// Reads a `(vm …)` or `(domain …)` configuration.
    pub fn from_sxp(sxp: &Sxp) -> Result<DomainConfig> {
        if !matches!(sxp.name(), Some("vm" | "domain")) {
            return Err(err("expected a (vm ...) or (domain ...) configuration"));
        }
        let name = child_text(sxp, "name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| err("Missing VM Name"))?;
        let action = |key: &str| -> Result<Option<Action>> {
            match child_text(sxp, key) {
                None => Ok(None),
                Some(s) => Action::parse(&s)
                    .map(Some)
                    .ok_or_else(|| err(format!("Invalid event handling mode for {key}: {s:?}"))),
            }
        };
        let restart = match child_text(sxp, "restart").as_deref() {
            None => None,
            Some("onreboot") => Some(RestartMode::OnReboot),
            Some("always") => Some(RestartMode::Always),
            Some("never") => Some(RestartMode::Never),
            Some(other) => return Err(err(format!("invalid restart mode {other:?}"))),
        };
        let image = sxp.child_value("image");
        let builder = match image.and_then(Sxp::name) {
            None | Some("linux") => Builder::Linux,
            Some("hvm") => Builder::Hvm,
            Some(other) => return Err(err(format!("unknown builder {other:?} (linux or hvm)"))),
        };
        let image_text = |k: &str| image.and_then(|i| child_text(i, k)).filter(|s| !s.is_empty());
        let mut hvm = Vec::new();
        if let Some(img) = image.filter(|_| builder == Builder::Hvm) {
            for c in img.children() {
                let Some(k) = c.name() else { continue };
                if ["kernel", "ramdisk", "ip", "root", "args"].contains(&k) {
                    continue;
                }
                hvm.push((
                    k.to_string(),
                    c.children().first().cloned().unwrap_or_else(|| Sxp::str("")),
                ));
            }
        }
        let cpus = match child_text(sxp, "cpus") {
            None => None,
            Some(t) => Some(CpuSet::parse(&t).map_err(err)?),
        };
        let mut c = DomainConfig {
            name,
            uuid: child_text(sxp, "uuid"),
            builder,
            kernel: image_text("kernel"),
            ramdisk: image_text("ramdisk"),
            features: child_text(sxp, "features").unwrap_or_default(),
            bootloader: child_text(sxp, "bootloader").filter(|s| !s.is_empty()),
            bootloader_args: None,
            root: image_text("root").unwrap_or_default(),
            extra: image_text("args").unwrap_or_default(),
            cmdline_ip: image_text("ip").unwrap_or_default(),
            memory: child_int(sxp, "memory")?.unwrap_or(128),
            maxmem: child_int(sxp, "maxmem")?,
            shadow_memory: child_int(sxp, "shadow_memory")?.unwrap_or(0),
            vcpus: child_int(sxp, "vcpus")?.unwrap_or(1),
            vcpu_avail: child_int(sxp, "vcpu_avail")?,
            cpu: child_int(sxp, "cpu")?,
            cpus,
            cpu_weight: child_int(sxp, "cpu_weight")?,
            cpu_cap: child_int(sxp, "cpu_cap")?,
            restart,
            on_poweroff: action("on_poweroff")?,
            on_reboot: action("on_reboot")?,
            on_crash: action("on_crash")?,
            on_xend_start: child_text(sxp, "on_xend_start").unwrap_or_else(|| "ignore".into()),
            on_xend_stop: child_text(sxp, "on_xend_stop").unwrap_or_else(|| "ignore".into()),
            localtime: child_int(sxp, "localtime")?.is_some_and(|v| v != 0),
            blkif: false,
            netif: false,
            tpmif: false,
            disks: Vec::new(),
            pci: Vec::new(),
            ioports: Vec::new(),
            irqs: Vec::new(),
            vifs: Vec::new(),
            usbports: Vec::new(),
            vtpm: None,
            vfbs: Vec::new(),
            access_control: None,
            ssidref: None,
            hvm,
        };
        if c.bootloader.is_some() {
            c.bootloader_args = Some(child_text(sxp, "bootloader_args").unwrap_or_default());
        }
        if c.memory < 1 || c.vcpus < 1 {
            return Err(err("memory and vcpus must be at least 1"));
        }
        for item in sxp.children() {
            match item.name() {
                Some("backend") => match item.children().first().and_then(Sxp::name) {
                    Some("blkif") => c.blkif = true,
                    Some("netif") => c.netif = true,
                    Some("tpmif") => c.tpmif = true,
                    _ => {}
                },
                Some("security") => {
                    let Some(inner) = item.children().first() else { continue };
                    let items = if inner.name().is_some() {
                        core::slice::from_ref(inner)
                    } else {
                        inner.children_all()
                    };
                    for e in items {
                        match e.name() {
                            Some("access_control") => {
                                c.access_control = Some(AccessControl {
                                    policy: child_text(e, "policy"),
                                    label: child_text(e, "label"),
                                });
                            }
                            Some("ssidref") => {
                                c.ssidref = value_int(e.children().first(), "ssidref")?
                            }
                            _ => {}
                        }
                    }
                }
                Some("device") => {
                    if let Some(dev) = item.children().first() {
                        c.add_device(dev)?;
                    }
                }
                _ => {}
            }
        }
        Ok(c)
    }

    fn add_device(&mut self, dev: &Sxp) -> Result<()> {
        match dev.name() {
            Some("vbd" | "tap") => {
                let uname = child_text(dev, "uname").unwrap_or_default();
                let vdev = child_text(dev, "dev").unwrap_or_default();
                let mode = child_text(dev, "mode").unwrap_or_else(|| "r".into());
                let mut spec = format!("{uname},{vdev},{mode}");
                if let Some(b) = child_text(dev, "backend").filter(|b| !b.is_empty()) {
                    spec = format!("{spec},{b}");
                }
                self.disks.push(Disk::parse(&spec).map_err(err)?);
            }
            Some("pci") => {
                for d in dev.children().iter().filter(|d| d.name() == Some("dev")) {
                    let part = |k: &str| child_text(d, k).unwrap_or_default();
                    let strip = |s: String| s.strip_prefix("0x").map(str::to_string).unwrap_or(s);
                    let spec = format!(
                        "{}:{}:{}.{}",
                        strip(part("domain")),
                        strip(part("bus")),
                        strip(part("slot")),
                        strip(part("func"))
                    );
                    self.pci.push(PciDevice::parse(&spec).map_err(err)?);
                }
            }
            Some("ioports") => {
                let from = child_text(dev, "from").unwrap_or_default();
                let to = child_text(dev, "to").unwrap_or_default();
                let spec =
                    format!("{}-{}", from.trim_start_matches("0x"), to.trim_start_matches("0x"));
                self.ioports.push(IoportRange::parse(&spec).map_err(err)?);
            }
            Some("irq") => {
                if let Some(v) = dev.child_value("irq") {
                    self.irqs.push(v.clone());
                }
            }
            Some("vif") => {
                let found = settings(dev, &VIF_KEYS);
                // Checked as on the way in; kept in the order the SXP has.
                let spec: Vec<String> = found.iter().map(|(k, v)| format!("{k}={v}")).collect();
                Vif::parse(&spec.join(",")).map_err(err)?;
                self.vifs.push(Vif { settings: found });
            }
            Some("usbport") => self.usbports.push(child_text(dev, "path").unwrap_or_default()),
            Some("vtpm") => {
                self.vtpm = Some(Vtpm {
                    instance: child_text(dev, "pref_instance"),
                    backend: child_text(dev, "backend"),
                });
            }
            Some("vfb") => {
                let mut known: Vec<&str> = VFB_KEYS.to_vec();
                known.push("keymap");
                self.vfbs.push(Vfb { settings: settings(dev, &known) });
            }
            _ => {}
        }
        Ok(())
    }
}

impl Sxp {
    /// All items of a list, head included (empty for atoms).
    fn children_all(&self) -> &[Sxp] {
        match self {
            Sxp::List(items) => items,
            _ => &[],
        }
    }
}
