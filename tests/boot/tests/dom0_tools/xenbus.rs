//! Checks that dom0's kernel xenbus talks to the project's `xenstored` through dom0's
//! xenstore ring, shared by the `linux_dom0` boot test (this hypervisor) and the oracle
//! (Xen 4.17).
//!
//! At start `xenstored` maps the ring page the kernel allocated (`/proc/xen/xsd_kva`),
//! binds an event channel to the kernel's unbound port (`/proc/xen/xsd_port`) and
//! notifies it, as Xen's `dom0_init` does; that wakes the kernel's `xenbus_probe`, after
//! which the kernel writes `control/feature-poweroff` (and `-reboot`) under its home
//! `/local/domain/0` on its own. The shell then reads those through the daemon's socket,
//! writes and reads through the kernel's xenbus devices (`/dev/xen/xenbus`,
//! `/proc/xen/xenbus`: the kernel relays the messages over the ring), and holds a watch
//! through `/dev/xen/xenbus` that a write over the socket fires (the event comes back
//! through the ring and the kernel).

use boot_tests::Outcome;
use hv_runner::initramfs::SHELL_MARKER;

/// The serial input that drives [`expect_kernel_xenbus`]'s commands in the dom0 shell.
pub const XENBUS_SEND: [(&str, &str); 6] = [
    (
        SHELL_MARKER,
        "for i in 1 2 3 4 5 6 7 8 9 10; do v=$(xenstore-read \
         /local/domain/0/control/feature-poweroff 2>/dev/null) && break; sleep 1; done; \
         echo xb-feature=$v/$(xenstore-read /local/domain/0/control/feature-reboot)\n",
    ),
    (
        "xb-feature=",
        "XENSTORED_PATH=/dev/xen/xenbus xenstore-write /local/domain/0/hv-ring via-kernel && \
         echo xb-dev-write=$(xenstore-read /local/domain/0/hv-ring)\n",
    ),
    (
        "xb-dev-write=",
        "echo xb-proc-read=$(XENSTORED_PATH=/proc/xen/xenbus xenstore-read \
         /local/domain/0/hv-ring)\n",
    ),
    // Typed input can be lost while a background job starts: the next command waits
    // for a marker that only the shell's output has (`xb-2watching`, not its echo).
    (
        "xb-proc-read=",
        "W=/local/domain/0/hv-w; XENSTORED_PATH=/dev/xen/xenbus xenstore-watch -n 2 $W \
         >/var/run/w & sleep 2; echo xb-$((1+1))watching\n",
    ),
    (
        "xb-2watching",
        "xenstore-write $W x; sleep 2; echo xb-watch=$(tr '\\n' ' ' </var/run/w)end\n",
    ),
    ("xb-watch=", "exit\n"),
];

/// What a Linux dom0 must see with the project's `xenstored` on any hypervisor.
pub fn expect_kernel_xenbus(out: &Outcome) {
    let lines: Vec<&str> = out.serial.lines().map(str::trim_end).collect();
    let serving = "xenstored: serving dom0's xenstore ring (local port ";
    assert!(lines.iter().any(|l| l.contains(serving)), "no line {serving:?}\n{out}");
    for want in [
        "xb-feature=1/1",
        "xb-dev-write=via-kernel",
        "xb-proc-read=via-kernel",
        "xb-watch=/local/domain/0/hv-w /local/domain/0/hv-w end",
    ] {
        assert!(lines.iter().any(|l| l.ends_with(want)), "no line {want:?}\n{out}");
    }
}
