//! Debian's own kernel as a domU built from Linux dom0's userland (`xc-build`), for the
//! `linux_dom0` boot test: only this hypervisor shows the domU's `console_io` lines, which
//! drive the shell input here, so the oracle does not use it.

use hv_runner::initramfs::SHELL_MARKER;

/// Where Debian's kernel is in dom0's initramfs when it is the domU.
pub const LINUX_DOMU_KERNEL: &str = "/vmlinuz-domu";

/// The Linux domU's command line: early printk through `console_io`, kept after the
/// PV console registers (no backend serves the ring).
pub const LINUX_DOMU_CMDLINE: &str = "console=hvc0 earlyprintk=xen keep_bootcon";

/// A line the Linux domU prints well into its boot (after its timer and event channels
/// are set up): dom0 destroys it once this has appeared.
pub const LINUX_DOMU_LATE_LINE: &str = "Mount-cache hash table entries";

/// The serial input that builds Debian's kernel as a domU, shows its state once it has
/// printed [`LINUX_DOMU_LATE_LINE`], destroys it while it runs, checks that it is gone
/// and exits.
pub fn linux_domu_send() -> Vec<(String, String)> {
    let steps = [
        (
            SHELL_MARKER.to_owned(),
            format!(
                "d=$(xc-build create {LINUX_DOMU_KERNEL} --memory 128 --cmdline \"{LINUX_DOMU_CMDLINE}\" \
                 --name linux); echo built-rc=$? domid=$d\n"
            ),
        ),
        (LINUX_DOMU_LATE_LINE.to_owned(), "xc-build info $d; echo info-rc=$?\n".to_owned()),
        (
            "info-rc=".to_owned(),
            "xc-build destroy $d; echo destroy-rc=$?; for i in $(seq 50); do xc-build info $d \
             >/dev/null 2>&1 || break; sleep 0.1; done; xc-build info $d; echo gone-rc=$?\n"
                .to_owned(),
        ),
        ("gone-rc=".to_owned(), "exit\n".to_owned()),
    ];
    steps.into_iter().collect()
}
