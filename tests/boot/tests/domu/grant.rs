//! Grant tables between two domains: `pv-toolstack mode=grant` as dom0 and the granting
//! domU `pv-grant` (protocol in `tests/pv/src/grant.rs`): dom0 maps the domU's writable
//! ref 8 by address and its read-only ref 9 by PTE address, exchanges a reply and an
//! answer through the mapping, unmaps, copies both refs into its own frames, gets Xen
//! 4.17's statuses for the hostile cases, and the domU sees `GTF_reading|GTF_writing`
//! while mapped, clear afterwards, revokes its grants and powers off. `mode=grant-bench`
//! (what `qemu/bench` runs) also prints the grant figures. `mode=grant-linger`: the domU
//! dies with its grant mapped, and the frame outlives it until dom0 unmaps.

use boot_tests::{BootPath, Outcome};

use super::lifecycle::{dom0_succeeded, finished};
use super::{TIMEOUT, boot_with, serial_lines};

/// Asserts that each of `lines` appears, prefixed by `prefix`, in this order.
fn in_order(out: &Outcome, prefix: &str, lines: &[&str]) {
    let serial = serial_lines(out);
    let mut at = 0;
    for want in lines {
        let found = serial.iter().skip(at).position(|l| l.starts_with(prefix) && l.contains(want));
        let Some(pos) = found else { panic!("no `{prefix}{want}` (in order)\n{out}") };
        at = at.saturating_add(pos).saturating_add(1);
    }
}

/// The domU's side: its grants, dom0's reply, the in-use and released flags, the
/// revocation.
const DOMU_LINES: &[&str] = &[
    "--- PV test kernel: grant",
    "grant: refs 8 (rw, mfn ",
    "ok: entry 8 shows GTF_reading|GTF_writing while dom0 maps it (0x19)",
    "ok: a grant in use cannot be revoked",
    "ok: page A's pattern after dom0's write: None",
    "grant: dom0's reply 0xd0d05eedcafef00d arrived",
    "grant: dom0 is done",
    "ok: entry 8: GTF_reading/GTF_writing clear after dom0's unmap (0x1)",
    "ok: entry 9: GTF_reading/GTF_writing clear after dom0's unmap (0x5)",
    "ok: both grants revoked",
    "Test result: SUCCESS",
];

/// dom0's side, with Xen 4.17's status for each hostile case.
const DOM0_LINES: &[&str] = &[
    "toolstack mode: grant",
    "ok: map d1 ref 8 writable by address: GNTST_okay",
    "ok: page A's pattern through the grant mapping: None",
    "ok: the domU's answer 0x2f2fa11235010ff2 through the mapping",
    "ok: unmap ref 8 with its handle: GNTST_okay",
    "ok: unmap of a freed handle: GNTST_bad_handle",
    "ok: map ref 9 read-only by PTE address (GNTMAP_contains_pte): GNTST_okay",
    "ok: page B's pattern through the read-only mapping: None",
    "ok: unmap ref 9 by PTE address: GNTST_okay",
    "ok: GNTTABOP_copy of ref 8 (4096 bytes) into a dom0 frame: GNTST_okay",
    "ok: page A's pattern in the copy: None",
    "ok: GNTTABOP_copy of read-only ref 9 at offsets 100 -> 200: GNTST_okay",
    "ok: page B's bytes 100.. at 200.. of the copy",
    "ok: map of ref 10, never granted: GNTST_general_error",
    "ok: map of ref 0x100000, beyond the table: GNTST_bad_gntref",
    "ok: map of read-only ref 9 writable: GNTST_general_error",
    "ok: unmap of handle 0x7fffffff: GNTST_bad_handle",
    "ok: copy of 200 bytes from offset 4000 of ref 8: GNTST_bad_copy_arg",
    "ok: copy of 200 bytes to offset 3900 of a dom0 frame: GNTST_bad_copy_arg",
    "ok: copy from ref 10, never granted: GNTST_general_error",
    "ok: ref 8 maps (read-only) after the refusals: GNTST_okay",
    "ok: ref 8 mapped twice in one batch: (GNTST_okay, GNTST_okay)",
    "ok: two handles (",
    "ok: a write through one mapping, read through the other",
    "ok: both unmapped: (GNTST_okay, GNTST_okay)",
    "ok: GNTTABOP_copy of \"done\" into ref 8 (dest by grant): GNTST_okay",
    "domU d1: shutdown poweroff",
    "ok: the granting domU finished",
];

/// dom0 maps, copies and is refused a domU's grants with Xen's statuses.
#[test]
fn dom0_maps_and_copies_a_domus_grants() {
    let out = boot_with(&[("grant", "")], BootPath::Direct, 1, "mode=grant", TIMEOUT);
    in_order(&out, "(d1) ", DOMU_LINES);
    // dom0's lines carry no prefix; no `(d1) ` line contains one of them.
    in_order(&out, "", DOM0_LINES);
    finished(&out, 1);
    dom0_succeeded(&out);
}

/// The benchmark mode prints both figure lines with numbers, and still passes.
#[test]
fn grant_bench_prints_its_figures() {
    let out = boot_with(&[("grant", "")], BootPath::Direct, 1, "mode=grant-bench", TIMEOUT);
    for key in ["bench: grant copy 4 KiB, batch 1/16/64: ", "bench: grant map+unmap: "] {
        let lines = serial_lines(&out);
        let line = lines.iter().find(|l| l.starts_with(key));
        let Some(line) = line else { panic!("no `{key}...` line\n{out}") };
        let rest = line.trim_start_matches(key);
        assert!(rest.starts_with(|c: char| c.is_ascii_digit()), "no figure in `{line}`\n{out}");
        assert!(rest.contains("cycles") && !rest.contains(" 0 cycles"), "`{line}`\n{out}");
    }
    finished(&out, 1);
    dom0_succeeded(&out);
}

/// The granter shuts down and is destroyed while dom0 maps its grant: it lingers as a
/// dying domain, the mapping still works, the unmap succeeds and then the domain and
/// all its pages are gone.
#[test]
fn a_destroyed_granters_frame_lives_until_unmapped() {
    let out = boot_with(&[("grant", "linger")], BootPath::Direct, 1, "mode=grant-linger", TIMEOUT);
    in_order(&out, "(d1) ", &["grant: linger: shutting down with the grants mapped"]);
    in_order(
        &out,
        "",
        &[
            "ok: map d1 ref 8 writable by address: GNTST_okay",
            "grant-linger: d1 shut down with ref 8 still mapped by dom0",
            "ok: destroydomain d1 while dom0 maps its grant",
            "ok: d1 lingers as a dying domain while its frame is mapped",
            "ok: page A's pattern through the mapping after the destroy: None",
            "ok: unmap of the dead granter's grant: GNTST_okay",
            "ok: getdomaininfo d1 after the unmap: Err(Some(ESRCH))",
            "ok: free pages after the unmap, as before the build",
        ],
    );
    dom0_succeeded(&out);
}
