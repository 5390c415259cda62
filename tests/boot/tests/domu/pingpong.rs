//! Interdomain event channels: `pv-toolstack mode=pingpong` builds two `pv-pingpong`
//! domUs, allocates a port in the first (A, d1) for the second (B, d2), passes it on
//! B's command line; B binds to it and they exchange notifications, each waiting with
//! `SCHEDOP_poll`. Booted on one CPU (both domUs on it) and on two (pinned apart).

use boot_tests::{BootPath, ExitKind, Outcome};

use super::{boot_with, serial_lines};

/// Round trips per boot (a few seconds under TCG).
const ROUNDS: u32 = 300;

/// Boots the ping-pong on `smp` CPUs and checks what both domUs and dom0 report.
fn pingpong(smp: u32, placement: &str) -> Outcome {
    let args = format!("mode=pingpong rounds={ROUNDS}");
    let out = boot_with(&[("pingpong", "")], BootPath::Direct, smp, &args, super::TIMEOUT);
    let lines = serial_lines(&out);
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has(&format!("pingpong: d1 and d2 on {placement}")), "placement\n{out}");
    for d in [1, 2] {
        let prefix = format!("(d{d}) ");
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix) && l.contains("Test result: SUCCESS")),
            "d{d} did not finish with SUCCESS\n{out}"
        );
        assert!(has(&format!("domU d{d}: shutdown poweroff")), "d{d} did not power off\n{out}");
    }
    assert!(has("(d1) pingpong: A, port "), "A did not find its port\n{out}");
    assert!(has(&format!("(d1) pingpong: A answered {ROUNDS} notifications")), "A\n{out}");
    assert!(has(&format!("(d2) pingpong: {ROUNDS} round trips, ")), "B\n{out}");
    assert!(
        has("(d2) bench: evtchn ping-pong between two domains, "),
        "no bench line from B\n{out}"
    );
    assert!(has("pingpong: both domUs done"), "dom0 did not see both end\n{out}");
    let dom0_fail = lines.iter().find(|l| !l.starts_with("(d") && l.contains("FAIL"));
    assert!(dom0_fail.is_none(), "dom0 reported {dom0_fail:?}\n{out}");
    let last_result = lines.iter().rev().find(|l| l.contains("Test result: "));
    assert!(
        last_result.is_some_and(|l| !l.starts_with("(d") && l.contains("Test result: SUCCESS")),
        "dom0's `Test result: SUCCESS` is not the last result line\n{out}"
    );
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
    out
}

/// Both domUs on the one CPU: every notification is a switch between them.
#[test]
fn evtchn_pingpong_on_one_cpu() {
    pingpong(1, "the same CPU");
}

/// A pinned to CPU 0, B to CPU 1: every notification wakes the other CPU's vCPU.
#[test]
fn evtchn_pingpong_across_two_cpus() {
    pingpong(2, "different CPUs");
}
