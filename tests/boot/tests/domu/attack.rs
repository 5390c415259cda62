//! Hostile domUs: `pv-toolstack mode=attack` builds the victim `pv-attack role=victim`
//! (d1) and the attacker `pv-attack role=attacker` (d2, one maptrack frame). The attacker
//! maps grants not granted, granted to dom0 or revoked, writes through a read-only grant
//! mapping, unmaps with wrong handles and addresses, copies past the page, exhausts its
//! maptrack and binds, closes, sends on and asks about the victim's ports; each attack
//! must get Xen 4.17's status. The victim checks nothing changed behind its back. Both
//! power off only when every check passed (they crash otherwise), which dom0 checks.

use boot_tests::BootPath;

use super::lifecycle::{dom0_succeeded, finished};
use super::{TIMEOUT, boot_with, serial_lines};

/// What the attacker (d2) must report, each attack with Xen 4.17's status.
const ATTACKER_LINES: &[&str] = &[
    "ok: map the victim's ref 8 writable (granted to us): GNTST_okay",
    "ok: map of ref 16, never granted: GNTST_general_error",
    "ok: map of ref 10, granted to d0: GNTST_general_error",
    "ok: map of ref 10 read-only: GNTST_general_error",
    "ok: map of ref 11, revoked: GNTST_general_error",
    "ok: map of a ref beyond the table: GNTST_bad_gntref",
    "ok: map of read-only ref 9 writable: GNTST_general_error",
    "ok: device map of read-only ref 9 writable: GNTST_general_error",
    "ok: map of read-only ref 9 read-only: GNTST_okay",
    "ok: the read-only mapping's PTE is present, not writable",
    "ok: a write through the read-only mapping faults (#PF(0x3)",
    "ok: page B unchanged by the write attempt",
    "ok: unmap of handle 0x7fffffff: GNTST_bad_handle",
    "ok: unmap of free handle ",
    "ok: unmap of ref 8's handle at another address: GNTST_general_error",
    "ok: copy of 200 bytes from offset 4000 of ref 8: GNTST_bad_copy_arg",
    "ok: copy of 200 bytes to offset 3900 of our frame: GNTST_bad_copy_arg",
    "ok: copy of 4096 bytes to offset 1 of ref 8: GNTST_bad_copy_arg",
    "ok: copy into read-only ref 9: GNTST_general_error",
    "ok: copy from ref 10, granted to d0: GNTST_general_error",
    "ok: copy from ref 11, revoked: GNTST_general_error",
    "ok: copy from the victim by frame: GNTST_permission_denied",
    "ok: copy of read-only ref 9 (allowed): GNTST_okay",
    "ok: bind_interdomain to the victim's port unbound for d0: Some(EINVAL)",
    "ok: bind_interdomain to a port the victim does not have: Some(EINVAL)",
    "ok: bind_interdomain to a domain that does not exist: Some(ESRCH)",
    "ok: EVTCHNOP_status of the victim's port: Some(EPERM)",
    "ok: EVTCHNOP_alloc_unbound in the victim: Some(EPERM)",
    "ok: EVTCHNOP_reset of the victim: Some(EPERM)",
    "ok: EVTCHNOP_close of the victim's port number: Some(EINVAL)",
    "ok: EVTCHNOP_send on the victim's port number: Some(EINVAL)",
    "ok: unmap ref 8 with its handle: GNTST_okay",
    "attack: 255 read-only device mappings, then GNTST_no_space",
    "ok: the mapping after maptrack is full: GNTST_no_space",
    "ok: mappings held with 1 frame(s): 255",
    "ok: every device mapping unmapped with its handle and bus address",
    "ok: ref 8 maps again once the handles are back: GNTST_okay",
    "ok: GNTTABOP_copy of \"done\" into ref 8 (dest by grant): GNTST_okay",
    "Test result: SUCCESS",
];

/// What the victim (d1) must report.
const VICTIM_LINES: &[&str] = &[
    "ok: ref 11 granted to the attacker and revoked",
    "attack: victim granted refs 8 (rw), 9 and 12..=15 (ro) to d2, 10 to d0",
    "attack: the attacker is done; checking the damage",
    "ok: page A's pattern intact",
    "ok: the attacker's legitimate write in page A",
    "ok: read-only page B intact",
    "ok: page C (granted to d0 only) intact",
    "ok: no entry still GTF_reading/GTF_writing: 0",
    "ok: the revoked and the ungranted entries' flags: [0, 0]",
    "ok: the same ports unbound for d0, none bound to X",
    "ok: every grant revoked",
    "Test result: SUCCESS",
];

/// The attacker's every attack is refused with Xen's status, the victim is unharmed,
/// both power off and every page comes back.
#[test]
fn a_hostile_domu_is_refused_everything() {
    let out = boot_with(&[("attack", "")], BootPath::Direct, 2, "mode=attack", TIMEOUT);
    let lines = serial_lines(&out);
    for (prefix, want) in [("(d2) ", ATTACKER_LINES), ("(d1) ", VICTIM_LINES)] {
        let mut at = 0;
        for line in want {
            let found =
                lines.iter().skip(at).position(|l| l.starts_with(prefix) && l.contains(line));
            let Some(pos) = found else { panic!("no `{prefix}{line}` (in order)\n{out}") };
            at = at.saturating_add(pos).saturating_add(1);
        }
        let failed = lines.iter().find(|l| l.starts_with(prefix) && l.contains("FAIL"));
        assert!(failed.is_none(), "{prefix}reported {failed:?}\n{out}");
    }
    for needle in [
        "attack: d2 attacks d1 (port ",
        "ok: the victim d1 powered off (unharmed)",
        "ok: the attacker d2 powered off (all refused)",
        "ok: free pages back after both are destroyed",
    ] {
        assert!(lines.iter().any(|l| l.contains(needle)), "no `{needle}` line\n{out}");
    }
    finished(&out, 1);
    finished(&out, 2);
    dom0_succeeded(&out);
}
