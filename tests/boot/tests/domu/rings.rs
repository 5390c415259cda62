//! The domUs' console and xenstore rings, served by dom0 (`pv-toolstack`'s `rings`
//! module): the domain builder seeds grant refs 0 and 1, each domU's console lines
//! reach dom0 through its console ring and come out as `d<N>| <line>`, and dom0 answers
//! its xenstore reads (`pv-rings`: `name`, `domid`, `/local/domain/<id>/name`, ENOENT,
//! EINVAL, ENOSYS). A hostile `pv-rings` breaks both rings and dom0 gives up on them
//! without harm. The oracle runs the first boot on Xen 4.17, where the `d1| ` lines are
//! the only domU output.

use boot_tests::{BootPath, Outcome};

use super::lifecycle::{dom0_succeeded, finished};
use super::{TIMEOUT, boot_with, serial_lines};

// `ring_lines`: shared with the oracle (`tests/oracle.rs`).
include!("rings_lines.rs");

/// Asserts that each of `want` is a whole line `<prefix><want>` (or that line with the
/// checked value after `: `), in this order.
pub(crate) fn whole_lines_in_order(out: &Outcome, prefix: &str, want: &[String]) {
    let lines = serial_lines(out);
    let mut at = 0;
    for w in want {
        let line = format!("{prefix}{w}");
        let with_value = format!("{line}: ");
        let found = lines.iter().skip(at).position(|l| *l == line || l.starts_with(&with_value));
        let Some(pos) = found else { panic!("no line `{line}` (in order)\n{out}") };
        at = at.saturating_add(pos).saturating_add(1);
    }
}

/// Every line a domU printed with `console_io` (`(d<N>) `) came through its console
/// ring too (`d<N>| `), and the ring's result line is SUCCESS.
fn ring_carries_everything(out: &Outcome, d: u16) {
    let lines = serial_lines(out);
    let (hv, ring) = (format!("(d{d}) "), format!("d{d}| "));
    let texts: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix(&hv)).collect();
    for text in &texts {
        let echoed = format!("{ring}{text}");
        assert!(lines.contains(&echoed.as_str()), "`{hv}{text}` has no `{echoed}`\n{out}");
    }
    let seen = texts.len();
    assert!(seen > 3, "d{d} printed only {seen} lines\n{out}");
    assert!(lines.contains(&format!("{ring}Test result: SUCCESS").as_str()), "d{d}\n{out}");
}

/// `pv-rings` (d1) checks its grants, console and xenstore beside `pv-hello` (d2):
/// both domUs' lines come through their rings, each xenstore answer is right.
#[test]
fn dom0_serves_the_console_and_xenstore_rings() {
    let domus = [("rings", "expect_name=domU-1"), ("hello", "beside")];
    let out = boot_with(&domus, BootPath::Direct, 1, "", TIMEOUT);
    whole_lines_in_order(&out, "d1| ", &ring_lines("domU-1"));
    whole_lines_in_order(&out, "(d1) ", &ring_lines("domU-1"));
    assert!(
        serial_lines(&out).iter().any(|l| l.starts_with("d1| rings: xenstore domid = 1")),
        "the xenstore domid\n{out}"
    );
    for d in [1, 2] {
        ring_carries_everything(&out, d);
        finished(&out, d);
    }
    dom0_succeeded(&out);
}

/// A hostile `pv-rings` (d2, after its own checks passed) announces a 5000-byte
/// xenstore message and moves its console `out_prod` 10000 bytes ahead: dom0 drops
/// both connections (the xenstore page's `error` becomes `XENSTORE_ERROR_COMM`), says
/// so, and serves d1 and finishes as usual; on two CPUs.
#[test]
fn dom0_survives_hostile_rings() {
    let domus = [("hello", "first"), ("rings", "expect_name=domU-2 hostile")];
    let out = boot_with(&domus, BootPath::Direct, 2, "", TIMEOUT);
    whole_lines_in_order(&out, "d2| ", &ring_lines("domU-2"));
    let lines = serial_lines(&out);
    for want in [
        "d2: xenstore: message longer than XENSTORE_PAYLOAD_MAX; connection dropped",
        "d2: console ring index out of range; no longer read",
        "(d2) ok: xenstore error field after a 5000-byte len: 1",
    ] {
        assert!(lines.contains(&want), "no line `{want}`\n{out}");
    }
    assert!(
        !lines.iter().any(|l| l.starts_with("d2| Test result")),
        "d2's ring was still read after it broke it\n{out}"
    );
    ring_carries_everything(&out, 1);
    finished(&out, 1);
    finished(&out, 2);
    dom0_succeeded(&out);
}
