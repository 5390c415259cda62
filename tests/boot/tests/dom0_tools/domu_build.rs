//! A domU built from Linux dom0's userland (`xc-build`, `xenctrl::builder` over privcmd
//! and the shared domain builder), shared by the `linux_dom0` boot test (this hypervisor)
//! and the oracle (Xen 4.17): the dom0 initramfs carries the PV test kernel `pv-hello` as
//! [`DOMU_KERNEL`]; the shell builds and unpauses it, waits until it shuts down
//! (`getdomaininfo`), shows its state, destroys it and checks that it is gone.

use boot_tests::Outcome;
use hv_runner::initramfs::SHELL_MARKER;

/// Where the domU kernel is in dom0's initramfs.
pub const DOMU_KERNEL: &str = "/pv-hello";

/// The domU's command line (pv-hello prints it).
pub const DOMU_CMDLINE: &str = "built-by-linux-dom0";

/// The extra initramfs files: `pv-hello` at [`DOMU_KERNEL`].
pub fn domu_files() -> Vec<(String, Vec<u8>)> {
    let path = hv_runner::pv_test_kernel("hello").expect("build pv-hello");
    vec![(DOMU_KERNEL.to_owned(), std::fs::read(path).expect("read pv-hello"))]
}

/// The serial input that drives the build in the dom0 shell, then `exit`.
pub fn build_send() -> Vec<(String, String)> {
    let steps = [
        (
            SHELL_MARKER.to_owned(),
            format!(
                "d=$(xc-build create {DOMU_KERNEL} --memory 16 --cmdline {DOMU_CMDLINE} \
                 --name hello); echo built-rc=$? domid=$d\n"
            ),
        ),
        ("built-rc=".to_owned(), "xc-build wait $d --timeout 120; echo wait-rc=$?\n".to_owned()),
        ("wait-rc=".to_owned(), "xc-build info $d; echo info-rc=$?\n".to_owned()),
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

/// What dom0 must see of the `pv-hello` domU on any hypervisor: built, shut down with
/// reason poweroff after running, 4096 pages (16 MiB), destroyed and gone; returns its domid.
pub fn expect_domu_built_from_dom0(out: &Outcome) -> u16 {
    let domid = built_domid(out);
    assert!(domid > 0, "domid {domid}\n{out}");
    let d = format!("d{domid}");
    let lines: Vec<&str> = out.serial.lines().map(str::trim_end).collect();
    for want in [format!("{d}: shutdown poweroff"), "wait-rc=0".to_owned()] {
        assert!(lines.iter().any(|l| l.ends_with(&want)), "no line ending {want:?}\n{out}");
    }
    expect_destroyed_and_gone(out, &d);
    let info = info_line(out, &d);
    assert!(info.contains("shutdown(poweroff)"), "info after shutdown: {info}\n{out}");
    assert!(info.contains("tot_pages=4096"), "16 MiB = 4096 pages: {info}\n{out}");
    domid
}

/// The domid of dom0's `built-rc=0 domid=<n>` line (anywhere on a serial line).
pub fn built_domid(out: &Outcome) -> u16 {
    out.serial
        .lines()
        .find_map(|l| {
            l.split_once("built-rc=0 domid=").map(|(_, d)| d.split(' ').next().unwrap_or(d))
        })
        .and_then(|d| d.trim_end().parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no `built-rc=0 domid=<n>` line\n{out}"))
}

/// `xc-build info`'s line for domain `d` (`d<N>: ... tot_pages=...`), wherever it stands
/// on its serial line (the shell's echo of the next typed command may share it).
pub fn info_line<'a>(out: &'a Outcome, d: &str) -> &'a str {
    out.serial
        .lines()
        .find_map(|l| l.get(l.find(&format!("{d}: "))?..).filter(|r| r.contains("tot_pages=")))
        .map_or_else(|| panic!("no `xc-build info` line\n{out}"), str::trim_end)
}

/// dom0's lines after `xc-build destroy` of domain `d`: info, destroy, then gone.
pub fn expect_destroyed_and_gone(out: &Outcome, d: &str) {
    let lines: Vec<&str> = out.serial.lines().map(str::trim_end).collect();
    for want in [
        "info-rc=0".to_owned(),
        "destroy-rc=0".to_owned(),
        format!("xc-build: {d}: XEN_DOMCTL_getdomaininfo: ESRCH"),
        "gone-rc=1".to_owned(),
    ] {
        assert!(lines.iter().any(|l| l.ends_with(&want)), "no line ending {want:?}\n{out}");
    }
}

/// A domU still running when dom0 looked (`xc-build info`: not shut down, `tot_pages`
/// pages), then destroyed and gone; returns its domid.
pub fn expect_running_domu_destroyed(out: &Outcome, tot_pages: u64) -> u16 {
    let domid = built_domid(out);
    let d = format!("d{domid}");
    let info = info_line(out, &d);
    let pages = format!("tot_pages={tot_pages}");
    assert!(!info.contains("shutdown") && info.contains(&pages), "{info}\n{out}");
    expect_destroyed_and_gone(out, &d);
    domid
}
