//! Grant tables version 2 between two domains: `pv-toolstack mode=grant-v2` as dom0 and
//! the domU `pv-grant2` (protocol in `tests/pv/src/grant_v2.rs`): dom0 takes its own
//! table to version 2 and back; the domU switches to version 2, maps its status frame,
//! grants a full page, a sub-page and a transitive grant of dom0's own page; dom0 maps
//! the first, is refused a mapping of the others, copies exactly the sub-page's range
//! and its own page back through the transitive grant; the domU sees the status bits in the status frame
//! and `-EBUSY` for a version change while a grant or the status frame is in use, then
//! returns to version 1. On the way dom0 flushes the caches of the mapped grant's frame,
//! swaps its own refs, unmaps with `unmap_and_replace` and transfers a page to the domU,
//! which finds it in its `GTF_accept_transfer` grant and swaps two of its own refs. The domU's verdict reaches dom0 as its shutdown code, and the
//! free pages come back after its destruction. The same dom0 lines must appear on Xen 4.17
//! (`oracle`, where the domU's own lines are not shown).

use boot_tests::{BootPath, Outcome, RunConfig};
use hv_runner::ModuleSpec;

use super::lifecycle::dom0_succeeded;
use super::{TIMEOUT, boot_with, kernel, serial_lines};

/// dom0's lines, in order; the same on Xen 4.17.
pub(crate) const DOM0_LINES: &[&str] = &[
    "toolstack mode: grant-v2",
    "ok: dom0 setup_table: Some(GNTST_okay)",
    "ok: dom0 set_version(2): (true, 2)",
    "ok: dom0 get_status_frames of 1: Some(GNTST_okay)",
    "ok: dom0 get_status_frames of 2: Some(GNTST_general_error)",
    "ok: set_version(7): (Some(EINVAL), 2)",
    "ok: dom0 set_version(1): (true, 1)",
    "ok: dom0 get_status_frames of 1 at version 1: Some(GNTST_general_error)",
    "ok: map of dom0's own ref 0x100000: GNTST_bad_gntref",
    "ok: swap of dom0's refs 10 and 11: Some(GNTST_okay)",
    "ok: swap with ref 0x100000: Some(GNTST_bad_gntref)",
    "ok: map d1 v2 ref 8 writable: GNTST_okay",
    "ok: page A's pattern through the v2 grant mapping: None",
    "ok: get_version of d1: Some(2)",
    "ok: query_size of d1: Some((GNTST_okay, 1))",
    "ok: get_status_frames of d1: Some(GNTST_okay)",
    "ok: cache_flush (clean) of the mapped grant's frame: Ok(())",
    "ok: cache_flush (clean and invalidate) of 64 bytes of it: Ok(())",
    "ok: cache_flush (invalidate only): Err(Some(EOPNOTSUPP))",
    "ok: cache_flush past the page: Err(Some(EINVAL))",
    "ok: map of the sub-page ref 9: GNTST_general_error",
    "ok: copy of sub-page ref 9's 512 bytes at 256: GNTST_okay",
    "ok: page B's granted bytes in the copy",
    "ok: copy from ref 9 starting before its range: GNTST_general_error",
    "ok: copy from ref 9 ending after its range: GNTST_general_error",
    "ok: copy through the domU's transitive ref 11 (dom0's ref 12): GNTST_okay",
    "ok: dom0's own page in the copy: None",
    "ok: dom0's entry 12 unpinned after: 5",
    "ok: map of the transitive ref 11: GNTST_general_error",
    "ok: the domU's answer through the v2 mapping",
    "ok: unmap_and_replace with a bad handle: Some(GNTST_bad_handle)",
    "ok: unmap_and_replace of v2 ref 8: Some(GNTST_okay)",
    "ok: the window shows the page whose PTE moved there",
    "ok: cache_flush of the frame once unmapped: Err(Some(EINVAL))",
    "ok: transfer of a page dom0 still maps: Some(GNTST_bad_page)",
    "ok: transfer of a page to d1 ref 10: Some(GNTST_okay)",
    "ok: transfer into a permit_access ref: Some(GNTST_general_error)",
    "ok: dom0's pages: both gone",
    "ok: copy of \"done\" into v2 ref 8 (dest by grant): GNTST_okay",
    "ok: d1's shutdown code: every domU check passed",
    "ok: destroydomain d1",
    "ok: free pages after the destroy: before the build + 2 given",
];

/// The domU's own checks (shown by this hypervisor only).
const DOMU_LINES: &[&str] = &[
    "--- PV test kernel: grant2",
    "ok: set_version(3): (Some(EINVAL), 1)",
    "ok: set_version(2): (true, 2)",
    "ok: get_version: Some(2)",
    "ok: get_status_frames of 2: Some(GNTST_general_error)",
    "ok: get_status_frames of 1: Some(GNTST_okay)",
    "ok: status entry 8 while dom0 maps it: 24",
    "ok: entry 8's own flags while mapped (no status bits): 1",
    "ok: set_version(1) with a grant mapped: (Some(EBUSY), 2)",
    "ok: ref 10 completed: 14",
    "ok: the M2P names the PFN asked for",
    "ok: the transferred frame maps (it is ours)",
    "ok: the transferred page's contents: None",
    "ok: swap refs 8 and 9: Some(GNTST_okay)",
    "ok: entry 8 holds the sub-page grant after the swap: 261",
    "ok: and its frame",
    "ok: status entries 8 and 9 after: (0, 0)",
    "ok: set_version(1) with the status frame mapped: (Some(EBUSY), 2)",
    "ok: set_version(1) once the status frame is unmapped: (true, 1)",
    "ok: get_version after: Some(1)",
    "ok: get_status_frames of 1 (v1): Some(GNTST_general_error)",
    "ok: entries 8 and 9 cleared: (0, 0)",
    "Test result: SUCCESS",
];

/// Asserts that each of `lines` appears in a line starting with `prefix`, in this order.
pub(crate) fn in_order(out: &Outcome, prefix: &str, lines: &[&str]) {
    let serial = serial_lines(out);
    let mut at = 0;
    for want in lines {
        let found = serial.iter().skip(at).position(|l| l.starts_with(prefix) && l.contains(want));
        let Some(pos) = found else { panic!("no `{prefix}{want}` (in order)\n{out}") };
        at = at.saturating_add(pos).saturating_add(1);
    }
}

/// dom0 and a domU use version-2 grants with Xen 4.17's results.
#[test]
fn grant_v2_between_dom0_and_a_domu() {
    let out = boot_with(&[("grant2", "")], BootPath::Direct, 1, "mode=grant-v2", TIMEOUT);
    in_order(&out, "(d1) ", DOMU_LINES);
    in_order(&out, "", DOM0_LINES);
    dom0_succeeded(&out);
}

/// With `gnttab=max-ver:1` on the hypervisor's command line version 2 exists for nobody:
/// dom0's `set_version(2)` is `-ENOSYS`, `createdomain` refuses grant version 2 and
/// accepts 1 (the toolstack sees no `XEN_SYSCTL_PHYSCAP_gnttab_v2`). As on Xen 4.17
/// (`oracle`).
#[test]
fn gnttab_max_ver_1_allows_version_1_only() {
    let runs = hv_runner::target_dir().join("hv-runs");
    if let Err(e) = std::fs::create_dir_all(&runs) {
        panic!("creating {}: {e}", runs.display());
    }
    let initrd = match tempfile::Builder::new().prefix("domus-").suffix(".cpio").tempfile_in(&runs)
    {
        Ok(file) => file.into_temp_path(),
        Err(e) => panic!("creating the domU archive: {e}"),
    };
    let domus = [ModuleSpec::new(kernel("grant2"), "")];
    let mut modules = match hv_runner::domu::toolstack_modules(
        &kernel(hv_runner::domu::TOOLSTACK),
        &domus,
        &initrd,
    ) {
        Ok(modules) => modules,
        Err(e) => panic!("packing the domU: {e:#}"),
    };
    if let Some(dom0) = modules.first_mut() {
        "mode=grant-v2".clone_into(&mut dom0.args);
    }
    let cfg = RunConfig {
        append: format!("{} gnttab=max-ver:1", hv_runner::domu::DOMU_APPEND),
        modules,
        boot: BootPath::Direct,
        smp: 1,
        timeout: Some(TIMEOUT),
        ..RunConfig::default()
    };
    let out = match hv_runner::run(&cfg) {
        Ok(out) => out,
        Err(e) => panic!("cannot boot: {e:#}"),
    };
    in_order(&out, "", MAX_VER_1_LINES);
    dom0_succeeded(&out);
}

/// dom0's lines under `gnttab=max-ver:1`; the same on Xen 4.17.
pub(crate) const MAX_VER_1_LINES: &[&str] = &[
    "grant-v2: the hypervisor allows grant tables up to version 1 only",
    "ok: set_version(2): (Some(ENOSYS), 1)",
    "ok: createdomain with grant version 2: Some(EINVAL)",
    "ok: createdomain d",
    "s version: Some(1)",
    "ok: destroydomain d",
    "ok: free pages back",
];
