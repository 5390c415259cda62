// SPDX-License-Identifier: GPL-2.0-only
//! `xm info`: facts about the host, one `key : value` line each, in the
//! order of Xen 4.1's `XendNode.info()` (node, physinfo, xeninfo,
//! xendinfo), each line `"%-23s:" % key, value` as `xm_info` prints it.
//!
//! Values are taken as 4.1's xend takes them: `uname` for the node;
//! `XEN_SYSCTL_physinfo` for the CPUs and memory (MiB = KiB / 1024,
//! `cpu_mhz` = `cpu_khz / 1000`, `hw_caps` the eight feature words as
//! `%08x` joined by `:`); `virt_caps` names the capability bits of Xen
//! 4.17's physinfo as `xl info` does; `free_cpus` counts the CPUs in no
//! pool; `xen_version` for the rest; `xend_config_format` is 4.
//! `-c` (xend's configuration) and `-n` (NUMA topology) are not there yet.

use guest_abi::domctl::XenScheduler;
use guest_abi::sysctl::{
    XEN_SYSCTL_PHYSCAP_directio, XEN_SYSCTL_PHYSCAP_gnttab_v1, XEN_SYSCTL_PHYSCAP_gnttab_v2,
    XEN_SYSCTL_PHYSCAP_hap, XEN_SYSCTL_PHYSCAP_hvm, XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share,
    XEN_SYSCTL_PHYSCAP_pv, XEN_SYSCTL_PHYSCAP_shadow, XEN_SYSCTL_PHYSCAP_vmtrace,
    XEN_SYSCTL_PHYSCAP_vpmu,
};
use xenctrl::{PhysInfo, VersionInfo, Xc};

use crate::{Failure, arg_check, flags};

/// `xm info [-c|--config] [-n|--numa]`.
pub fn run(args: &[String]) -> Result<(), Failure> {
    arg_check(args, "info", 0, 1)?;
    let (seen, _) = flags(args, "info", &[("c", "config"), ("n", "numa")])?;
    if seen.contains(&"c") {
        return Err(Failure::Failed("xm info --config: xend is not part of this xm yet".into()));
    }
    if seen.contains(&"n") {
        return Err(Failure::Failed("xm info --numa: not supported yet".into()));
    }
    let xc = Xc::open()?;
    let uts = nix::sys::utsname::uname().map_err(|e| Failure::Failed(format!("uname: {e}")))?;
    let node = Node {
        host: uts.nodename().to_string_lossy().into_owned(),
        release: uts.release().to_string_lossy().into_owned(),
        version: uts.version().to_string_lossy().into_owned(),
        machine: uts.machine().to_string_lossy().into_owned(),
    };
    let phys = xc.physinfo()?;
    let free_cpus = xc.free_cpus()?.len();
    let sched = xc.sched_id()?;
    let ver = xc.version_info()?;
    print!("{}", format_info(&info_items(&node, &phys, free_cpus, sched, &ver)));
    Ok(())
}

/// `uname`'s part.
pub struct Node {
    /// Host name.
    pub host: String,
    /// Kernel release.
    pub release: String,
    /// Kernel version string.
    pub version: String,
    /// Machine.
    pub machine: String,
}

/// The scheduler's name as xend's `xenschedinfo` gives it.
fn scheduler_name(id: u32) -> &'static str {
    match XenScheduler::try_from(id) {
        Ok(XenScheduler::Sedf) => "sedf",
        Ok(XenScheduler::Credit) => "credit",
        Ok(XenScheduler::Credit2) => "credit2",
        _ => "unknown",
    }
}

/// `virt_caps`: the names of Xen 4.17's physinfo capability bits, as
/// `xl info` lists them.
fn virt_caps(caps: u32) -> String {
    let has = |bit: u32| caps & bit != 0;
    let directio = has(XEN_SYSCTL_PHYSCAP_directio);
    let names = [
        (has(XEN_SYSCTL_PHYSCAP_pv), "pv"),
        (has(XEN_SYSCTL_PHYSCAP_hvm), "hvm"),
        (has(XEN_SYSCTL_PHYSCAP_hvm) && directio, "hvm_directio"),
        (has(XEN_SYSCTL_PHYSCAP_pv) && directio, "pv_directio"),
        (has(XEN_SYSCTL_PHYSCAP_hap), "hap"),
        (has(XEN_SYSCTL_PHYSCAP_shadow), "shadow"),
        (has(XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share), "iommu_hap_pt_share"),
        (has(XEN_SYSCTL_PHYSCAP_vmtrace), "vmtrace"),
        (has(XEN_SYSCTL_PHYSCAP_vpmu), "vpmu"),
        (has(XEN_SYSCTL_PHYSCAP_gnttab_v1), "gnttab-v1"),
        (has(XEN_SYSCTL_PHYSCAP_gnttab_v2), "gnttab-v2"),
    ];
    names.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect::<Vec<_>>().join(" ")
}

/// Pages to MiB as xend computes it (pages to KiB, then `/ 1024`).
fn pages_to_mib(pages: u64, pagesize: u64) -> u64 {
    pages.saturating_mul(pagesize.max(1) / 1024) / 1024
}

/// Every `(key, value)` of `xm info`, in order.
pub fn info_items(
    node: &Node,
    phys: &PhysInfo,
    free_cpus: usize,
    sched_id: u32,
    ver: &VersionInfo,
) -> Vec<(&'static str, String)> {
    let hw_caps = phys.hw_cap.iter().map(|w| format!("{w:08x}")).collect::<Vec<_>>().join(":");
    let pagesize = if ver.pagesize == 0 { 4096 } else { ver.pagesize };
    vec![
        ("host", node.host.clone()),
        ("release", node.release.clone()),
        ("version", node.version.clone()),
        ("machine", node.machine.clone()),
        ("nr_cpus", phys.nr_cpus.to_string()),
        ("nr_nodes", phys.nr_nodes.to_string()),
        ("cores_per_socket", phys.cores_per_socket.to_string()),
        ("threads_per_core", phys.threads_per_core.to_string()),
        ("cpu_mhz", (phys.cpu_khz / 1000).to_string()),
        ("hw_caps", hw_caps),
        ("virt_caps", virt_caps(phys.capabilities)),
        ("total_memory", pages_to_mib(phys.total_pages, pagesize).to_string()),
        ("free_memory", pages_to_mib(phys.free_pages, pagesize).to_string()),
        ("free_cpus", free_cpus.to_string()),
        ("xen_major", ver.major.to_string()),
        ("xen_minor", ver.minor.to_string()),
        ("xen_extra", ver.extra.clone()),
        ("xen_caps", ver.capabilities.clone()),
        ("xen_scheduler", scheduler_name(sched_id).to_owned()),
        ("xen_pagesize", ver.pagesize.to_string()),
        ("platform_params", format!("virt_start=0x{:x}", ver.virt_start)),
        ("xen_changeset", ver.changeset.clone()),
        ("xen_commandline", ver.commandline.clone()),
        ("cc_compiler", ver.compiler.clone()),
        ("cc_compile_by", ver.compile_by.clone()),
        ("cc_compile_domain", ver.compile_domain.clone()),
        ("cc_compile_date", ver.compile_date.clone()),
        ("xend_config_format", "4".to_owned()),
    ]
}

/// The lines: `"%-23s:" % key, value` (Python's `print` puts one space
/// between the two, so an empty value leaves a trailing space).
pub fn format_info(items: &[(&str, String)]) -> String {
    items.iter().map(|(k, v)| format!("{k:<23}: {v}\n")).collect()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "test assertions")]
mod tests {
    use super::*;

    fn sample() -> (Node, PhysInfo, VersionInfo) {
        let node = Node {
            host: "talon".into(),
            release: "6.1.0-57-amd64".into(),
            version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1".into(),
            machine: "x86_64".into(),
        };
        let mut phys: PhysInfo = bytemuck::Zeroable::zeroed();
        phys.nr_cpus = 2;
        phys.nr_nodes = 1;
        phys.cores_per_socket = 2;
        phys.threads_per_core = 1;
        phys.cpu_khz = 2_095_078;
        phys.capabilities = XEN_SYSCTL_PHYSCAP_pv | XEN_SYSCTL_PHYSCAP_gnttab_v1;
        phys.total_pages = 262_000;
        phys.free_pages = 100_000;
        phys.hw_cap = [0x0383_fbff, 0, 0, 0x40, 0, 0, 0, 0];
        let ver = VersionInfo {
            major: 4,
            minor: 17,
            extra: ".5".into(),
            capabilities: "xen-3.0-x86_64 hvm-3.0-x86_32".into(),
            changeset: "".into(),
            compiler: "gcc (Debian 12.2.0-14) 12.2.0".into(),
            compile_by: "pkg-xen-devel".into(),
            compile_domain: "".into(),
            compile_date: "Mon Nov 14 14:16:48 EST 2005".into(),
            pagesize: 4096,
            virt_start: 0xffff_8000_0000_0000,
            commandline: "dom0_mem=512M".into(),
        };
        (node, phys, ver)
    }

    #[test]
    fn lines_in_xend_41s_order_and_format() {
        let (node, phys, ver) = sample();
        let text = format_info(&info_items(&node, &phys, 0, XenScheduler::Credit.raw(), &ver));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 28);
        assert_eq!(lines[0], "host                   : talon");
        assert_eq!(lines[4], "nr_cpus                : 2");
        assert_eq!(lines[8], "cpu_mhz                : 2095");
        assert_eq!(
            lines[9],
            "hw_caps                : 0383fbff:00000000:00000000:00000040:00000000:00000000:00000000:00000000"
        );
        assert_eq!(lines[10], "virt_caps              : pv gnttab-v1");
        // 262000 pages = 1048000 KiB = 1023 MiB (integer division).
        assert_eq!(lines[11], "total_memory           : 1023");
        assert_eq!(lines[12], "free_memory            : 390");
        assert_eq!(lines[13], "free_cpus              : 0");
        assert_eq!(lines[14], "xen_major              : 4");
        assert_eq!(lines[16], "xen_extra              : .5");
        assert_eq!(lines[18], "xen_scheduler          : credit");
        assert_eq!(lines[20], "platform_params        : virt_start=0xffff800000000000");
        // An empty value keeps the space after the colon, as Python's print.
        assert_eq!(lines[21], "xen_changeset          : ");
        assert_eq!(lines[22], "xen_commandline        : dom0_mem=512M");
        assert_eq!(lines[27], "xend_config_format     : 4");
        let keys: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap_or("")).collect();
        assert_eq!(
            keys,
            [
                "host",
                "release",
                "version",
                "machine",
                "nr_cpus",
                "nr_nodes",
                "cores_per_socket",
                "threads_per_core",
                "cpu_mhz",
                "hw_caps",
                "virt_caps",
                "total_memory",
                "free_memory",
                "free_cpus",
                "xen_major",
                "xen_minor",
                "xen_extra",
                "xen_caps",
                "xen_scheduler",
                "xen_pagesize",
                "platform_params",
                "xen_changeset",
                "xen_commandline",
                "cc_compiler",
                "cc_compile_by",
                "cc_compile_domain",
                "cc_compile_date",
                "xend_config_format"
            ]
        );
    }

    #[test]
    fn scheduler_names() {
        assert_eq!(scheduler_name(XenScheduler::Sedf.raw()), "sedf");
        assert_eq!(scheduler_name(XenScheduler::Credit2.raw()), "credit2");
        assert_eq!(scheduler_name(99), "unknown");
    }
}
