//! Lifecycle boot tests of domUs: the toolstack pauses and unpauses a running domU
//! (`mode=pause`), 20 create/destroy cycles give back every page (`mode=cycles`),
//! domUs whose exceptions cannot be delivered (`pv-triple-fault`) end alone, a domU
//! that feeds garbage to every hypercall (`pv-fuzz`) survives beside a healthy one, and
//! fuzzed domUs give back every page when destroyed, and a domU destroyed while it runs
//! is gone with all its pages.

use std::time::Duration;

use boot_tests::{BootPath, ExitKind, Outcome};

use super::{boot_with, serial_lines};

/// Per-boot timeout of the longer runs (20 domain builds; thousands of fuzzed calls).
const LONG_TIMEOUT: Duration = Duration::from_secs(300);

/// Asserts that domU `d` reported SUCCESS and powered off.
pub(super) fn finished(out: &Outcome, d: u16) {
    let lines = serial_lines(out);
    let prefix = format!("(d{d}) ");
    assert!(
        lines.iter().any(|l| l.starts_with(&prefix) && l.contains("Test result: SUCCESS")),
        "d{d} did not finish with SUCCESS\n{out}"
    );
    assert!(
        lines.iter().any(|l| l.contains(&format!("domU d{d}: shutdown poweroff"))),
        "no `domU d{d}: shutdown poweroff` line\n{out}"
    );
}

/// Asserts that dom0 ends with `Test result: SUCCESS`, without any FAIL line, and
/// that the machine powered off.
pub(super) fn dom0_succeeded(out: &Outcome) {
    let lines = serial_lines(out);
    let dom0_fail = lines.iter().find(|l| !l.starts_with("(d") && l.contains("FAIL"));
    assert!(dom0_fail.is_none(), "dom0 reported {dom0_fail:?}\n{out}");
    let last_result = lines.iter().rev().find(|l| l.contains("Test result: "));
    assert!(
        last_result.is_some_and(|l| !l.starts_with("(d") && l.contains("Test result: SUCCESS")),
        "dom0's `Test result: SUCCESS` is not the last result line\n{out}"
    );
    assert_eq!(out.status, ExitKind::PowerOff, "expected a power-off\n{out}");
}

/// The number after `key` in the first line containing it.
fn number_after(out: &Outcome, key: &str) -> Option<u64> {
    let lines = serial_lines(out);
    let line = lines.iter().find(|l| l.contains(key))?;
    let rest = line.split_once(key)?.1.trim_start();
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The toolstack pauses the running `pv-heartbeat` (d1) beside a healthy domU: it is
/// reported paused and not running, its CPU time stands still, nested pauses hold it,
/// no beat is printed while it is held, the gap it sees covers the hold, and after the
/// unpause it finishes.
#[test]
fn pause_and_unpause_a_running_domu() {
    let out = boot_with(
        &[("heartbeat", "beats=60"), ("hello", "beside")],
        BootPath::Direct,
        2,
        "mode=pause",
        super::TIMEOUT,
    );
    let lines = serial_lines(&out);
    let pos = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let paused = pos("pause: d1 paused");
    // The end of the hold: dom0 prints this line before its last unpause (its
    // `unpaused` line, after the call, can come after the first new beat,
    // which d1 prints on its own CPU).
    let unpaused = pos("pause: d1 held paused for");
    let (Some(paused), Some(unpaused)) = (paused, unpaused) else {
        panic!("no `pause: d1 paused` / `pause: d1 held paused for` lines\n{out}");
    };
    assert!(paused < unpaused, "unpaused before paused\n{out}");
    let beat = |l: &str| l.starts_with("(d1) ") && l.contains("beat ");
    let during: Vec<&str> = lines[paused..unpaused].iter().copied().filter(|l| beat(l)).collect();
    assert!(during.is_empty(), "d1 beat while paused: {during:?}\n{out}");
    assert!(lines[..paused].iter().any(|l| beat(l)), "d1 never beat before its pause\n{out}");
    assert!(lines[unpaused..].iter().any(|l| beat(l)), "d1 never beat after its unpause\n{out}");
    let held = number_after(&out, "pause: d1 held paused for");
    let gap = number_after(&out, "(d1) longest gap between beats:");
    let (Some(held), Some(gap)) = (held, gap) else {
        panic!("no hold time or longest gap\n{out}");
    };
    assert!(held >= 400, "held only {held} ms\n{out}");
    assert!(gap >= held, "d1's longest gap {gap} ms is shorter than its pause {held} ms\n{out}");
    for needle in [
        "ok: d1 is XEN_DOMINF_paused",
        "ok: d1 is not running once pausedomain returned",
        "ok: d1's CPU time after 300 ms paused",
        "ok: d1 is still paused after two pauses and one unpause",
        "ok: d1's CPU time while still paused",
        "ok: d1 is no longer paused",
        "ok: unpausedomain of unpaused d1",
        "ok: d1 makes progress again after its unpause",
    ] {
        assert!(pos(needle).is_some(), "no `{needle}` line\n{out}");
    }
    finished(&out, 1);
    finished(&out, 2);
    dom0_succeeded(&out);
}

/// Twenty create/destroy cycles (odd ones run the domU to its shutdown, even ones
/// destroy it unstarted) end with exactly the free pages they started with, and every
/// destroyed domain is gone.
#[test]
fn twenty_create_destroy_cycles_give_back_every_page() {
    let out = boot_with(
        &[("hello", "cycling")],
        BootPath::Direct,
        2,
        "mode=cycles cycles=20 domu_mem=8",
        LONG_TIMEOUT,
    );
    let lines = serial_lines(&out);
    for i in 1..=20 {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("cycle {i}: d"))),
            "no `cycle {i}:` line\n{out}"
        );
    }
    let before = number_after(&out, "free pages before:");
    let after = lines
        .iter()
        .find_map(|l| l.strip_prefix("cycles: free pages after: Ok("))
        .and_then(|r| r.trim_end_matches(')').parse::<u64>().ok());
    assert!(before.is_some() && before == after, "free pages {before:?} -> {after:?}\n{out}");
    assert!(
        lines.iter().any(|l| l.contains("ok: free pages after 20 create/destroy cycles")),
        "no free-pages check\n{out}"
    );
    let ran =
        lines.iter().filter(|l| l.contains("Test result: SUCCESS") && l.starts_with("(d")).count();
    assert_eq!(ran, 10, "expected 10 domUs to run to SUCCESS\n{out}");
    dom0_succeeded(&out);
}

/// DomUs whose `#UD` cannot be delivered (kernel stack unmapped, in the hypervisor's
/// direct map, in the read-only M2P, or nested faults overflowing the stack) are crashed
/// alone: their neighbours finish, the toolstack sees `shutdown crash` for each and the
/// hypervisor powers off cleanly.
#[test]
fn triple_faulting_domus_end_alone() {
    let modes = ["unmapped-stack", "hypervisor-stack", "m2p-stack", "fault-loop"];
    let args: Vec<String> = modes.iter().map(|m| format!("how={m}")).collect();
    let mut domus: Vec<(&str, &str)> = vec![("hello", "before")];
    domus.extend(args.iter().map(|a| ("triple-fault", a.as_str())));
    domus.push(("hello", "after"));
    let out = boot_with(&domus, BootPath::Direct, 2, "", super::TIMEOUT);
    let lines = serial_lines(&out);
    for (d, how) in (2u16..).zip(modes) {
        let prefix = format!("(d{d}) ");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(&format!("triple fault ({how})"))),
            "d{d} ({how}) did not start\n{out}"
        );
        assert!(
            lines.iter().any(|l| l.contains(&format!("domU d{d}: shutdown crash"))),
            "no `domU d{d}: shutdown crash` line ({how})\n{out}"
        );
        assert!(
            !lines.iter().any(|l| l.starts_with(&prefix) && l.contains("Test result")),
            "d{d} ({how}) kept running\n{out}"
        );
    }
    finished(&out, 1);
    finished(&out, 6);
    dom0_succeeded(&out);
}

/// A domU that sweeps every hypercall and sub-op with bad pointers and then feeds
/// 20000 pseudo-random garbage hypercalls survives them (the hypervisor answers with
/// results or errors, never panics) and finishes; its healthy neighbour finishes too.
#[test]
fn hypercall_fuzzing_domu_survives() {
    let out = boot_with(
        &[("fuzz", "seed=0x5eedf00d calls=20000"), ("hello", "neighbour")],
        BootPath::Direct,
        2,
        "",
        LONG_TIMEOUT,
    );
    let lines = serial_lines(&out);
    assert!(
        lines.iter().any(|l| l.starts_with("(d1) ") && l.contains("fuzzing: seed 0x5eedf00d")),
        "the fuzzer did not start\n{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("(d1) ") && l.contains("every result a value or -errno")),
        "the fuzzer's sweep did not finish\n{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("(d1) ") && l.contains("ok: survived 20000 fuzzed hypercalls")),
        "the fuzzer did not survive\n{out}"
    );
    finished(&out, 1);
    finished(&out, 2);
    dom0_succeeded(&out);
}

/// What a fuzzed domU leaves behind (pinned and typed frames, grant and event-channel
/// state, registered areas, timers) is all given back at its destruction: four
/// create/destroy cycles of `pv-fuzz` (two of them fuzzing) end with the free pages
/// they started with.
#[test]
fn fuzzed_domus_give_back_every_page() {
    let out = boot_with(
        &[("fuzz", "seed=0xc1c1e calls=10000")],
        BootPath::Direct,
        2,
        "mode=cycles cycles=4 domu_mem=16",
        LONG_TIMEOUT,
    );
    let lines = serial_lines(&out);
    assert!(
        lines.iter().any(|l| l.contains("ok: free pages after 4 create/destroy cycles")),
        "no free-pages check\n{out}"
    );
    for d in [1, 3] {
        let prefix = format!("(d{d}) ");
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix) && l.contains("ok: survived 10000")),
            "d{d} did not fuzz to the end\n{out}"
        );
    }
    dom0_succeeded(&out);
}

/// The toolstack destroys a domU while it runs on the other CPU (repeating the call on
/// `-EAGAIN` until that CPU switched away): it is gone, its neighbour finishes, and
/// every page comes back.
#[test]
fn destroying_a_running_domu() {
    let out = boot_with(
        &[("heartbeat", "beats=100000"), ("hello", "beside")],
        BootPath::Direct,
        2,
        "mode=destroy",
        super::TIMEOUT,
    );
    let lines = serial_lines(&out);
    let destroyed = lines.iter().position(|l| l.contains("destroy: d1 destroyed while running"));
    let Some(destroyed) = destroyed else { panic!("no `destroy: d1 destroyed` line\n{out}") };
    assert!(
        lines[..destroyed].iter().any(|l| l.starts_with("(d1) ") && l.contains("beat ")),
        "d1 never ran before its destruction\n{out}"
    );
    assert!(
        !lines[destroyed..].iter().any(|l| l.starts_with("(d1) ")),
        "d1 printed after its destruction\n{out}"
    );
    for needle in [
        "ok: d1 is still running when destroyed",
        "ok: destroydomain of running d1",
        "ok: getdomaininfo of destroyed d1",
        "ok: free pages after destroying a running domU",
    ] {
        assert!(lines.iter().any(|l| l.contains(needle)), "no `{needle}` line\n{out}");
    }
    finished(&out, 2);
    dom0_succeeded(&out);
}
