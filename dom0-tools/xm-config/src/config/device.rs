// SPDX-License-Identifier: GPL-2.0-only
//! The device mini-languages of xmdomain.cfg: `disk`, `vif`, `vfb`,
//! `vtpm`, `pci`, `ioports`, `access_control`.
//!
//! Each is parsed as `xm/create.py` (Xen 3.1) preprocesses it, with its
//! messages, and checked as xend's device controllers check it (disk mode,
//! virtual device number), so a bad entry fails here rather than in xend.

use crate::py2dict;

/// A disk's access mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskMode {
    /// `r`: read-only.
    Read,
    /// `w`: read-write.
    Write,
    /// `w!`: read-write, even if another domain has it writable.
    WriteShared,
}

/// What the guest sees a disk as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceType {
    /// A disk (the default).
    Disk,
    /// A CD-ROM (`hdc:cdrom`).
    Cdrom,
}

/// One `disk` entry: `'TYPE:PARAMS,VDEV[:cdrom],MODE[,BACKEND]'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// The backend device as written (`phy:hda1`, `file:/img`, `tap:aio:/img`).
    pub uname: String,
    /// The frontend device as written (`hda1`, `xvda`, `0x301`, `hdc:cdrom`, `ioemu:hda`).
    pub dev: String,
    /// The mode as written (`r`, `w`, `w!`).
    pub mode: String,
    /// The backend domain, when given.
    pub backend: Option<String>,
    /// The backend type: the part of `uname` before the first `:` (`phy`,
    /// `file`, `tap`, `nbd`, …; empty for an empty CD-ROM).
    pub kind: String,
    /// The rest of `uname` (`hda1`, `/img`, `aio:/img`).
    pub params: String,
    /// The frontend device name without `ioemu:` and `:cdrom`/`:disk`.
    pub vdev: String,
    /// Disk or CD-ROM.
    pub device_type: DeviceType,
    /// The virtual device number xend gives the frontend (`0x301` for `hda1`).
    pub devid: u32,
    /// The access mode.
    pub access: DiskMode,
}

impl Disk {
    /// Parses an entry; `Err` holds xm's or xend's message.
    pub fn parse(spec: &str) -> Result<Disk, String> {
        let fields: Vec<&str> = spec.split(',').collect();
        let (uname, dev, mode, backend) = match fields.as_slice() {
            [u, d, m] => (*u, *d, *m, None),
            [u, d, m, b] => (*u, *d, *m, Some(b.to_string()).filter(|b| !b.is_empty())),
            _ => return Err(format!("Invalid disk specifier: {spec}")),
        };
        let mut vdev = dev.split_once("ioemu:").map_or(dev, |(_, d)| d);
        let mut device_type = DeviceType::Disk;
        if let Some((d, t)) = vdev.split_once(':') {
            device_type = match t {
                "cdrom" => DeviceType::Cdrom,
                "disk" => DeviceType::Disk,
                other => {
                    return Err(format!("Invalid device type '{other}' in disk specifier: {spec}"));
                }
            };
            vdev = d;
        }
        let (kind, params) = match uname.split_once(':') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None if uname.is_empty() && device_type == DeviceType::Cdrom => {
                (String::new(), String::new())
            }
            None if uname.is_empty() => {
                return Err(format!("Block device must have physical details specified: {spec}"));
            }
            None => {
                return Err(format!(
                    "Invalid disk specifier: {spec} (the backend device needs a type, as in phy:{uname} or file:{uname})"
                ));
            }
        };
        let access = match mode {
            "r" => DiskMode::Read,
            "w" => DiskMode::Write,
            "w!" => DiskMode::WriteShared,
            _ => {
                return Err(format!(
                    "Invalid mode '{mode}' in disk specifier: {spec} (r, w or w!)"
                ));
            }
        };
        let devid = blkdev_name_to_number(vdev)
            .ok_or_else(|| format!("Unable to find number for device ({vdev})"))?;
        Ok(Disk {
            uname: uname.into(),
            dev: dev.into(),
            mode: mode.into(),
            backend,
            kind,
            params,
            vdev: vdev.into(),
            device_type,
            devid,
            access,
        })
    }

    /// The device class xend uses: `tap` for `tap:` disks, else `vbd`.
    pub fn class(&self) -> &'static str {
        if self.uname.starts_with("tap:") { "tap" } else { "vbd" }
    }
}

/// xend's `blkdev_name_to_number` without its `stat` of the host's
/// `/dev` node: SCSI (`sda`…`sdiz`), IDE (`hda`…`hdt`), Xen (`xvda`…`xvdp`)
/// names with partitions, or a hex number.
pub fn blkdev_name_to_number(name: &str) -> Option<u32> {
    const SCSI_MAJORS: [u32; 16] =
        [8, 65, 66, 67, 68, 69, 70, 71, 128, 129, 130, 131, 132, 133, 134, 135];
    const IDE_MAJORS: [u32; 10] = [3, 22, 33, 34, 56, 57, 88, 89, 90, 91];
    let short = name.strip_prefix("/dev/").unwrap_or(name);
    let letter =
        |c: u8, last: u8| (b'a'..=last).contains(&c).then(|| u32::from(c.wrapping_sub(b'a')));
    let partition = |rest: &str, max: u32| -> Option<u32> {
        if rest.is_empty() {
            return Some(0);
        }
        if rest.starts_with('0') || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest.parse::<u32>().ok().filter(|p| (1..=max).contains(p))
    };
    let b = short.as_bytes();
    if let Some(rest) = short.strip_prefix("sd") {
        let rb = rest.as_bytes();
        if let Some(l) = rb.first().and_then(|c| letter(*c, b'z')) {
            if let Some(p) = rest.get(1..).and_then(|r| partition(r, 15)) {
                let major = SCSI_MAJORS.get(usize::try_from(l / 16).ok()?)?;
                return major
                    .checked_mul(256)?
                    .checked_add((l % 16).checked_mul(16)?.checked_add(p)?);
            }
            if let (Some(l1), Some(l2)) = (
                rb.first().and_then(|c| letter(*c, b'i')),
                rb.get(1).and_then(|c| letter(*c, b'z')),
            ) && let Some(p) = rest.get(2..).and_then(|r| partition(r, 15))
            {
                let idx = l1.checked_add(1)?.checked_mul(26)?.checked_add(l2)?;
                let major = SCSI_MAJORS.get(usize::try_from(idx / 16).ok()?)?;
                return major
                    .checked_mul(256)?
                    .checked_add((idx % 16).checked_mul(16)?.checked_add(p)?);
            }
        }
    } else if let Some(rest) = short.strip_prefix("hd") {
        if let Some(l) = rest.as_bytes().first().and_then(|c| letter(*c, b't'))
            && let Some(p) = rest.get(1..).and_then(|r| partition(r, 63))
        {
            let major = IDE_MAJORS.get(usize::try_from(l / 2).ok()?)?;
            return major.checked_mul(256)?.checked_add((l % 2).checked_mul(64)?.checked_add(p)?);
        }
    } else if let Some(rest) = short.strip_prefix("xvd")
        && let Some(l) = rest.as_bytes().first().and_then(|c| letter(*c, b'p'))
        && let Some(p) = rest.get(1..).and_then(|r| partition(r, 15))
    {
        return 202u32.checked_mul(256)?.checked_add(l.checked_mul(16)?)?.checked_add(p);
    }
    let hex = name.strip_prefix("0x").unwrap_or(name);
    if !b.is_empty() && !hex.is_empty() && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return u32::from_str_radix(hex, 16).ok();
    }
    None
}

/// `comma_sep_kv_to_dict`: `k=v, k=v` pairs (trimmed), later values
/// replacing earlier ones in place, in Python 2 dict order.
pub(crate) fn kv_pairs(spec: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok(pairs);
    }
    for item in spec.split(',') {
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!("{item} should be a pair, separated by an equals sign."));
        };
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        match pairs.iter_mut().find(|(pk, _)| *pk == k) {
            Some(p) => p.1 = v,
            None => pairs.push((k, v)),
        }
    }
    Ok(pairs)
}

/// Reorders `pairs` (in insertion order) into Python 2 dict order.
pub(crate) fn dict_order(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let order: Vec<String> = py2dict::order(&keys).into_iter().map(str::to_string).collect();
    order.into_iter().filter_map(|k| pairs.iter().find(|(pk, _)| *pk == k).cloned()).collect()
}

/// One `vif` entry: `k=v` settings, e.g. `'mac=00:16:3e:00:00:11, bridge=xenbr0'`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Vif {
    /// The settings in the order xm emits them (Python 2 dict order).
    pub settings: Vec<(String, String)>,
}

/// The keys a vif entry may set (Xen 3.1).
pub const VIF_KEYS: [&str; 9] =
    ["backend", "bridge", "ip", "mac", "script", "type", "vifname", "rate", "model"];

impl Vif {
    /// Parses an entry; `Err` holds xm's message.
    pub fn parse(spec: &str) -> Result<Vif, String> {
        let pairs = kv_pairs(spec)?;
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !VIF_KEYS.contains(&k.as_str())) {
            return Err(format!("Invalid vif option: {k}"));
        }
        if let Some((_, mac)) = pairs.iter().find(|(k, _)| k == "mac")
            && !is_mac(mac)
        {
            return Err(format!(
                "Invalid MAC address {mac:?} (six two-digit hex octets, as 00:16:3e:01:02:03)"
            ));
        }
        Ok(Vif { settings: dict_order(pairs) })
    }

    /// The value of setting `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The MAC address (`None`: xend picks a random `00:16:3e:…` one).
    pub fn mac(&self) -> Option<&str> {
        self.get("mac")
    }

    /// The bridge (`None`: the first bridge / the default script's).
    pub fn bridge(&self) -> Option<&str> {
        self.get("bridge")
    }
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// One `vfb` entry (`type=vnc|sdl` and the VNC/SDL settings).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Vfb {
    /// The settings in the order xm emits them (dict order, then the
    /// defaults it appends: `keymap`, `display`, `xauthority`).
    pub settings: Vec<(String, String)>,
}

/// The keys a vfb entry may set (Xen 3.1).
pub const VFB_KEYS: [&str; 7] =
    ["vnclisten", "vncunused", "vncdisplay", "display", "xauthority", "type", "vncpasswd"];

impl Vfb {
    /// Parses an entry, adding xm's defaults; `Err` holds xm's message.
    pub fn parse(
        spec: &str,
        keymap: &str,
        display: Option<&str>,
        xauthority: Option<&str>,
    ) -> Result<Vfb, String> {
        let mut pairs = kv_pairs(spec)?;
        if !pairs.iter().any(|(k, _)| k == "type") {
            pairs.push(("type".into(), "sdl".into()));
        }
        let mut settings = dict_order(pairs);
        if let Some((k, _)) = settings.iter().find(|(k, _)| !VFB_KEYS.contains(&k.as_str())) {
            return Err(format!("configuration option {k} unknown to vfbs"));
        }
        if let Some((_, t)) = settings.iter().find(|(k, _)| k == "type")
            && t != "vnc"
            && t != "sdl"
        {
            return Err(format!("vfb type must be vnc or sdl, not {t:?}"));
        }
        let has = |settings: &[(String, String)], key: &str| settings.iter().any(|(k, _)| k == key);
        if !keymap.is_empty() {
            settings.push(("keymap".into(), keymap.into()));
        }
        if let Some(d) = display.filter(|_| !has(&settings, "display")) {
            settings.push(("display".into(), d.into()));
        }
        if !has(&settings, "xauthority") {
            settings.push(("xauthority".into(), xauthority.unwrap_or_default().into()));
        }
        Ok(Vfb { settings })
    }

    /// The value of setting `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The `vtpm` entry (only the first counts): `instance=N,backend=DOM`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Vtpm {
    /// The preferred instance (`VTPMD` is 0), when given.
    pub instance: Option<String>,
    /// The backend domain, when given.
    pub backend: Option<String>,
}

impl Vtpm {
    /// Parses an entry; `Err` holds xm's message.
    pub fn parse(spec: &str) -> Result<Vtpm, String> {
        let mut v = Vtpm::default();
        for item in spec.split(',') {
            let Some((k, val)) = item.trim().split_once('=') else {
                return Err(format!("Invalid vtpm specifier: {spec}"));
            };
            let (k, val) = (k.trim(), val.trim().to_string());
            match k {
                "instance" => v.instance = Some(val),
                "backend" => v.backend = Some(val),
                _ => return Err(format!("Invalid vtpm specifier: {spec}")),
            }
        }
        if let Some(inst) = &v.instance {
            if inst == "VTPMD" {
                v.instance = Some("0".into());
            } else {
                match inst.trim().parse::<i64>() {
                    Ok(0) => return Err("VM config error: vTPM instance must not be 0.".into()),
                    Ok(_) => {}
                    Err(_) => {
                        return Err("Vm config error: could not parse instance number.".into());
                    }
                }
            }
        }
        Ok(v)
    }
}

/// A PCI device `[DOMAIN:]BUS:SLOT.FUNC` (hex), kept as xm sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciDevice {
    /// `0x` + domain digits (`0x0` when omitted).
    pub domain: String,
    /// `0x` + bus digits.
    pub bus: String,
    /// `0x` + slot digits.
    pub slot: String,
    /// `0x` + function digit.
    pub func: String,
}

impl PciDevice {
    /// Parses `[DDDD:]BB:SS.F` (`,` also separates, as xm allows).
    pub fn parse(spec: &str) -> Result<PciDevice, String> {
        let bad = || format!("Error in PCI slot syntax \"{spec}\"");
        let hex = |s: &str, max: usize| -> Option<String> {
            (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| format!("0x{s}"))
        };
        let (head, func) = spec.rsplit_once(['.', ',']).ok_or_else(bad)?;
        let parts: Vec<&str> = head.split([':', ',']).collect();
        let (domain, bus, slot) = match parts.as_slice() {
            [b, s] => ("0", *b, *s),
            [d, b, s] => (*d, *b, *s),
            _ => return Err(bad()),
        };
        Ok(PciDevice {
            domain: hex(domain, 4).ok_or_else(bad)?,
            bus: hex(bus, 2).ok_or_else(bad)?,
            slot: hex(slot, 2).ok_or_else(bad)?,
            func: hex(func, 1).ok_or_else(bad)?,
        })
    }
}

/// An I/O port range `FROM[-TO]` (hex), kept as xm sends it (`0x…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoportRange {
    /// First port.
    pub from: String,
    /// Last port.
    pub to: String,
}

impl IoportRange {
    /// Parses `FROM[-TO]`.
    pub fn parse(spec: &str) -> Result<IoportRange, String> {
        let bad = || format!("Invalid i/o port range specifier: {spec}");
        let port = |s: &str| -> Option<u32> {
            u32::from_str_radix(s, 16).ok().filter(|p| *p <= 0xffff && !s.is_empty())
        };
        let (a, b) = match spec.split_once('-') {
            Some((a, b)) => (a, b),
            None => (spec, spec),
        };
        let (pa, pb) = (port(a).ok_or_else(bad)?, port(b).ok_or_else(bad)?);
        if pb < pa {
            return Err(bad());
        }
        Ok(IoportRange { from: format!("0x{a}"), to: format!("0x{b}") })
    }
}

/// The `access_control` entry: `policy=NAME,label=LABEL`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AccessControl {
    /// The policy name (must be the active policy when the domain starts).
    pub policy: Option<String>,
    /// The domain's label.
    pub label: Option<String>,
}

impl AccessControl {
    /// Parses the entry; `Err` holds xm's message.
    pub fn parse(spec: &str) -> Result<AccessControl, String> {
        let items: Vec<&str> = spec.split(',').collect();
        if items.len() > 2 {
            return Err(format!("Too many elements in access_control specifier: {spec}"));
        }
        let mut a = AccessControl::default();
        for item in items {
            let Some((k, v)) = item.trim().split_once('=') else {
                return Err(format!("Invalid access_control specifier: {spec}"));
            };
            match k.trim() {
                "policy" => a.policy = Some(v.trim().into()),
                "label" => a.label = Some(v.trim().into()),
                _ => return Err(format!("Invalid access_control specifier: {spec}")),
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_match_xend() {
        assert_eq!(blkdev_name_to_number("hda1"), Some(0x301));
        assert_eq!(blkdev_name_to_number("hdc"), Some(0x1600));
        assert_eq!(blkdev_name_to_number("sda1"), Some(0x801));
        assert_eq!(blkdev_name_to_number("sdq"), Some(65 * 256));
        assert_eq!(blkdev_name_to_number("sdaa1"), Some(65 * 256 + 10 * 16 + 1));
        assert_eq!(blkdev_name_to_number("/dev/sda6"), Some(0x806));
        assert_eq!(blkdev_name_to_number("xvda"), Some(51712));
        assert_eq!(blkdev_name_to_number("xvdb2"), Some(51712 + 16 + 2));
        assert_eq!(blkdev_name_to_number("0x301"), Some(0x301));
        assert_eq!(blkdev_name_to_number("hdu"), None);
        assert_eq!(blkdev_name_to_number("sda16"), None);
        assert_eq!(blkdev_name_to_number("floppy"), None);
        assert_eq!(blkdev_name_to_number(""), None);
    }

    #[test]
    fn disks_parse_and_validate() {
        let d = Disk::parse("phy:hda1,hda1,w").expect("ok");
        assert_eq!(
            (d.kind.as_str(), d.params.as_str(), d.devid, d.access),
            ("phy", "hda1", 0x301, DiskMode::Write)
        );
        assert_eq!(d.class(), "vbd");
        let d = Disk::parse(",hdc:cdrom,r").expect("ok");
        assert_eq!(
            (d.device_type, d.vdev.as_str(), d.kind.as_str()),
            (DeviceType::Cdrom, "hdc", "")
        );
        let d = Disk::parse("tap:aio:/img,xvda,w!,1").expect("ok");
        assert_eq!(
            (d.class(), d.params.as_str(), d.backend.as_deref(), d.access),
            ("tap", "aio:/img", Some("1"), DiskMode::WriteShared)
        );
        assert_eq!(
            Disk::parse("phy:hda1,hda1").expect_err("2 fields"),
            "Invalid disk specifier: phy:hda1,hda1"
        );
        assert!(Disk::parse("phy:hda1,hda1,x").expect_err("mode").starts_with("Invalid mode 'x'"));
        assert_eq!(
            Disk::parse("phy:a,floppy,r").expect_err("dev"),
            "Unable to find number for device (floppy)"
        );
        assert!(Disk::parse("hda1,hda1,w").is_err());
        assert!(Disk::parse(",hda,w").is_err());
    }

    #[test]
    fn vifs_and_vfbs_follow_xm() {
        let v = Vif::parse("mac=00:16:3E:00:00:11, bridge=xen-br0").expect("ok");
        assert_eq!(
            v.settings,
            vec![("bridge".into(), "xen-br0".into()), ("mac".into(), "00:16:3E:00:00:11".into())]
        );
        assert_eq!(Vif::parse("").expect("empty").settings, vec![]);
        assert_eq!(Vif::parse("colour=red").expect_err("key"), "Invalid vif option: colour");
        assert_eq!(
            Vif::parse("bridge").expect_err("pair"),
            "bridge should be a pair, separated by an equals sign."
        );
        assert!(Vif::parse("mac=00:16:3e:00:00").is_err());
        let f = Vfb::parse("type=vnc,vncdisplay=1", "de", Some(":0"), Some("/root/.Xauthority"))
            .expect("ok");
        assert_eq!(f.get("type"), Some("vnc"));
        assert_eq!(f.settings.last(), Some(&("xauthority".into(), "/root/.Xauthority".into())));
        assert_eq!(f.get("keymap"), Some("de"));
        assert_eq!(
            Vfb::parse("vnunused=1", "", None, None).expect_err("typo"),
            "configuration option vnunused unknown to vfbs"
        );
        assert_eq!(Vfb::parse("", "", None, None).expect("default").get("type"), Some("sdl"));
    }

    #[test]
    fn small_languages_parse() {
        assert_eq!(
            Vtpm::parse("instance=1,backend=0").expect("ok"),
            Vtpm { instance: Some("1".into()), backend: Some("0".into()) }
        );
        assert_eq!(Vtpm::parse("instance=VTPMD").expect("ok").instance.as_deref(), Some("0"));
        assert_eq!(
            Vtpm::parse("instance=0").expect_err("0"),
            "VM config error: vTPM instance must not be 0."
        );
        assert_eq!(
            Vtpm::parse("type=paravirtualized").expect_err("type"),
            "Invalid vtpm specifier: type=paravirtualized"
        );
        let p = PciDevice::parse("c0:02.1").expect("ok");
        assert_eq!(
            (p.domain.as_str(), p.bus.as_str(), p.slot.as_str(), p.func.as_str()),
            ("0x0", "0xc0", "0x02", "0x1")
        );
        assert_eq!(PciDevice::parse("0001:00:1f.7").expect("ok").domain, "0x0001");
        assert!(PciDevice::parse("c0:02").is_err());
        assert!(PciDevice::parse("xyz:02.1").is_err());
        assert_eq!(
            IoportRange::parse("02f8-02ff").expect("ok"),
            IoportRange { from: "0x02f8".into(), to: "0x02ff".into() }
        );
        assert_eq!(IoportRange::parse("3f8").expect("ok").to, "0x3f8");
        assert!(IoportRange::parse("3f8-3f0").is_err());
        assert!(IoportRange::parse("1-2-3").is_err());
        let a = AccessControl::parse("policy=example.chwall_ste.client_v1, label=dom_HomeBanking")
            .expect("ok");
        assert_eq!(a.label.as_deref(), Some("dom_HomeBanking"));
        assert!(AccessControl::parse("policy=a,label=b,x=c").is_err());
    }
}
