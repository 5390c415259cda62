// SPDX-License-Identifier: GPL-2.0-only
//! The `(vm …)` SXP of a configuration, as `make_config` (Xen 3.1) builds it.
//!
//! Order: `name memory maxmem shadow_memory restart on_poweroff on_reboot
//! on_crash vcpus vcpu_avail features on_xend_start on_xend_stop` (each
//! only when truthy), `uuid cpu cpus cpu_cap cpu_weight` (when set),
//! `(backend (blkif))`…, `localtime`, `bootloader bootloader_args`, the
//! image `(image (linux|hvm (kernel) (ramdisk) (ip) (root) (args) …))`, the
//! security label, then the devices: disks, PCI, I/O ports, IRQs, vifs, USB
//! ports, vTPM, vfbs (each after a `(device (vkbd))`).

use super::{Builder, DomainConfig};
use crate::sxp::Sxp;

impl DomainConfig {
    /// The configuration as `xm create` sends it to xend (what `-n` prints
    /// through [`crate::sxp::pretty`]).
    pub fn to_sxp(&self) -> Sxp {
        let mut vm = vec![Sxp::str("vm")];
        let pair = |k: &str, v: Sxp| Sxp::pair(k, v);
        let s = |v: &str| Sxp::str(v);
        vm.push(pair("name", s(&self.name)));
        vm.push(pair("memory", Sxp::Int(self.memory)));
        let truthy_int = |v: Option<i64>| v.filter(|n| *n != 0);
        if let Some(m) = truthy_int(self.maxmem) {
            vm.push(pair("maxmem", Sxp::Int(m)));
        }
        if self.shadow_memory != 0 {
            vm.push(pair("shadow_memory", Sxp::Int(self.shadow_memory)));
        }
        if let Some(r) = self.restart {
            vm.push(pair("restart", s(r.name())));
        }
        for (k, a) in [
            ("on_poweroff", self.on_poweroff),
            ("on_reboot", self.on_reboot),
            ("on_crash", self.on_crash),
        ] {
            if let Some(a) = a {
                vm.push(pair(k, s(a.name())));
            }
        }
        vm.push(pair("vcpus", Sxp::Int(self.vcpus)));
        if let Some(v) = truthy_int(self.vcpu_avail) {
            vm.push(pair("vcpu_avail", Sxp::Int(v)));
        }
        for (k, v) in [
            ("features", &self.features),
            ("on_xend_start", &self.on_xend_start),
            ("on_xend_stop", &self.on_xend_stop),
        ] {
            if !v.is_empty() {
                vm.push(pair(k, s(v)));
            }
        }
        if let Some(u) = &self.uuid {
            vm.push(pair("uuid", s(u)));
        }
        if let Some(c) = self.cpu {
            vm.push(pair("cpu", Sxp::Int(c)));
        }
        if let Some(c) = &self.cpus {
            vm.push(pair("cpus", s(&c.text)));
        }
        if let Some(c) = self.cpu_cap {
            vm.push(pair("cpu_cap", Sxp::Int(c)));
        }
        if let Some(w) = self.cpu_weight {
            vm.push(pair("cpu_weight", Sxp::Int(w)));
        }
        for (flag, name) in [(self.blkif, "blkif"), (self.netif, "netif"), (self.tpmif, "tpmif")] {
            if flag {
                vm.push(Sxp::element("backend", vec![Sxp::List(vec![s(name)])]));
            }
        }
        if self.localtime {
            vm.push(pair("localtime", Sxp::Int(1)));
        }
        if let Some(b) = &self.bootloader {
            vm.push(pair("bootloader", s(b)));
            vm.push(pair("bootloader_args", s(self.bootloader_args.as_deref().unwrap_or("-q"))));
        }
        vm.push(pair("image", self.image()));
        if let Some(ac) = &self.access_control {
            let mut acl = vec![s("access_control")];
            if let Some(p) = &ac.policy {
                acl.push(pair("policy", s(p)));
            }
            if let Some(l) = &ac.label {
                acl.push(pair("label", s(l)));
            }
            vm.push(Sxp::element("security", vec![Sxp::List(vec![Sxp::List(acl)])]));
        } else if let Some(r) = self.ssidref {
            vm.push(Sxp::element("security", vec![Sxp::List(vec![pair("ssidref", Sxp::Int(r))])]));
        }
        let device = |d: Sxp| Sxp::element("device", vec![d]);
        for d in &self.disks {
            let mut v =
                vec![pair("uname", s(&d.uname)), pair("dev", s(&d.dev)), pair("mode", s(&d.mode))];
            if let Some(b) = &d.backend {
                v.push(pair("backend", s(b)));
            }
            vm.push(device(Sxp::element(d.class(), v)));
        }
        if !self.pci.is_empty() {
            let devs = self
                .pci
                .iter()
                .map(|p| {
                    Sxp::element(
                        "dev",
                        vec![
                            pair("domain", s(&p.domain)),
                            pair("bus", s(&p.bus)),
                            pair("slot", s(&p.slot)),
                            pair("func", s(&p.func)),
                        ],
                    )
                })
                .collect();
            vm.push(device(Sxp::element("pci", devs)));
        }
        for r in &self.ioports {
            vm.push(device(Sxp::element(
                "ioports",
                vec![pair("from", s(&r.from)), pair("to", s(&r.to))],
            )));
        }
        for irq in &self.irqs {
            vm.push(device(Sxp::element("irq", vec![pair("irq", irq.clone())])));
        }
        for v in &self.vifs {
            vm.push(device(Sxp::element(
                "vif",
                v.settings.iter().map(|(k, val)| pair(k, s(val))).collect(),
            )));
        }
        for p in &self.usbports {
            vm.push(device(Sxp::element("usbport", vec![pair("path", s(p))])));
        }
        if let Some(t) = &self.vtpm {
            let mut v = Vec::new();
            if let Some(i) = t.instance.as_ref().filter(|i| !i.is_empty()) {
                v.push(pair("pref_instance", s(i)));
            }
            if let Some(b) = t.backend.as_ref().filter(|b| !b.is_empty()) {
                v.push(pair("backend", s(b)));
            }
            vm.push(device(Sxp::element("vtpm", v)));
        }
        for f in &self.vfbs {
            vm.push(device(Sxp::element("vkbd", Vec::new())));
            vm.push(device(Sxp::element(
                "vfb",
                f.settings.iter().map(|(k, val)| pair(k, s(val))).collect(),
            )));
        }
        Sxp::List(vm)
    }

    /// `(linux|hvm (kernel …) (ramdisk …) (ip …) (root …) (args …) …)`.
    fn image(&self) -> Sxp {
        let mut image = vec![Sxp::str(self.builder.name())];
        let mut add = |k: &str, v: &str| {
            if !v.is_empty() {
                image.push(Sxp::pair(k, Sxp::str(v)));
            }
        };
        add("kernel", self.kernel.as_deref().unwrap_or(""));
        add("ramdisk", self.ramdisk.as_deref().unwrap_or(""));
        add("ip", &self.cmdline_ip);
        add("root", &self.root);
        add("args", &self.extra);
        if self.builder == Builder::Hvm {
            for (k, v) in &self.hvm {
                image.push(Sxp::pair(k, v.clone()));
            }
        }
        Sxp::List(image)
    }
}
