//! Checks of the dom0 toolstack's `xm info`/`xm dmesg`/`xm list`/`xm domid`/`xm domname` and of `xenstored` with the
//! `xenstore-*` tools (over its Unix socket) in a Linux dom0, shared by the
//! `linux_dom0` boot test (this hypervisor) and the oracle (Xen 4.17).

use boot_tests::Outcome;
use hv_runner::initramfs::{self, SHELL_MARKER};

/// What a Linux dom0 with the toolstack (this hypervisor's and Xen 4.17's) must see on any hypervisor: the Xen devices, `xm info`'s lines that do
/// not depend on the hypervisor, `xm dmesg` finding the hypervisor's command line in its
/// console ring, and xm's error for an unknown subcommand.
pub fn expect_xm_info(out: &Outcome) {
    assert!(
        !out.serial.contains("Initramfs unpacking failed"),
        "the kernel could not unpack the whole initramfs (too big for dom0's memory?)\n{out}"
    );
    let tools = out
        .serial
        .lines()
        .find(|l| l.contains(initramfs::TOOLS_MARKER) && !l.contains("echo"))
        .unwrap_or_else(|| panic!("no {:?} line\n{out}", initramfs::TOOLS_MARKER));
    for dev in ["privcmd", "evtchn", "gntdev", "gntalloc"] {
        assert!(tools.contains(dev), "/dev/xen lacks {dev}: {tools}\n{out}");
    }
    let lines: Vec<&str> = out.serial.lines().map(str::trim_end).collect();
    for want in [
        "xen_pagesize           : 4096",
        "platform_params        : virt_start=0xffff800000000000",
        "xend_config_format     : 4",
        "xm-info-rc=0",
        "xm-dmesg-rc=0",
        "Error: Subcommand nosuch not found!",
        "xm-nosuch-rc=1",
        "HV-TOOLS: xenstored started",
        "HV-TOOLS: xenconsoled started",
        "xs-read=Domain-0",
        "xs-ls-rc=0",
        "Name                                        ID   Mem VCPUs      State   Time(s)",
        "domid-of-Domain-0=0",
        "domname-of-0=Domain-0",
        "Error: Domain 'nosuch' does not exist.",
        "xm-list-rc=1",
    ] {
        assert!(lines.iter().any(|l| l.ends_with(want)), "no line {want:?}\n{out}");
    }
    // `xm list`'s row for dom0: its name from xenstore, id 0, one vCPU, running.
    let row = lines.iter().find(|l| l.starts_with("Domain-0 ") && l.contains("r-----"));
    let fields: Vec<&str> = row.map(|r| r.split_whitespace().collect()).unwrap_or_default();
    assert!(
        matches!(fields.as_slice(), ["Domain-0", "0", _, "1", "r-----", _]),
        "no `xm list` row for Domain-0 running on one vCPU: {row:?}\n{out}"
    );
}

/// The serial input that drives [`expect_xm_info`]'s commands in the dom0 shell.
pub const XM_INFO_SEND: [(&str, &str); 6] = [
    (SHELL_MARKER, "xm info; echo xm-info-rc=$?\n"),
    ("xm-info-rc=", "xm dmesg | grep -c 'Command line:'; echo xm-dmesg-rc=$?\n"),
    ("xm-dmesg-rc=", "xm nosuch; echo xm-nosuch-rc=$?\n"),
    (
        "xm-nosuch-rc=",
        "xenstore-write /local/domain/0/name Domain-0 && echo xs-read=$(xenstore-read \
         /local/domain/0/name); xenstore-ls /local; echo xs-ls-rc=$?\n",
    ),
    (
        "xs-ls-rc=",
        "xm list; echo domid-of-Domain-0=$(xm domid Domain-0); echo domname-of-0=$(xm domname \
         0); xm list nosuch; echo xm-list-rc=$?\n",
    ),
    ("xm-list-rc=", "exit\n"),
];
