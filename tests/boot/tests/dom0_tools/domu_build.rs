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

/// dom0's view (any hypervisor): the build succeeded with a domain id, the domain shut
/// down with reason poweroff, `getdomaininfo` showed it so, it was destroyed and is gone
/// (`ESRCH`). Returns the domain id.
pub fn expect_domu_built_from_dom0(out: &Outcome) -> u16 {
    let lines: Vec<&str> = out.serial.lines().map(str::trim_end).collect();
    let domid = lines
        .iter()
        .find_map(|l| {
            l.split_once("built-rc=0 domid=").map(|(_, d)| d.split(' ').next().unwrap_or(d))
        })
        .and_then(|d| d.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no `built-rc=0 domid=<n>` line\n{out}"));
    assert!(domid > 0, "domid {domid}\n{out}");
    let d = format!("d{domid}");
    for want in [
        format!("{d}: shutdown poweroff"),
        "wait-rc=0".to_owned(),
        "info-rc=0".to_owned(),
        "destroy-rc=0".to_owned(),
        format!("xc-build: {d}: XEN_DOMCTL_getdomaininfo: ESRCH"),
        "gone-rc=1".to_owned(),
    ] {
        assert!(lines.iter().any(|l| l.ends_with(&want)), "no line ending {want:?}\n{out}");
    }
    let info = lines
        .iter()
        .find_map(|l| l.get(l.find(&format!("{d}: "))?..).filter(|r| r.contains("tot_pages=")))
        .unwrap_or_else(|| panic!("no `xc-build info` line\n{out}"));
    assert!(info.contains("shutdown(poweroff)"), "info after shutdown: {info}\n{out}");
    assert!(info.contains("tot_pages=4096"), "16 MiB = 4096 pages: {info}\n{out}");
    domid
}
