// SPDX-License-Identifier: GPL-2.0-only
//! `gnttab=` (Xen 4.17's `parse_gnttab`).

use super::*;

#[test]
fn gnttab_option() {
    let d = GnttabOpts::default();
    assert_eq!((d.max_version, d.transitive, d.transfer), (2, true, true));
    let (o, w) = parse("gnttab=max-ver:1,no-transitive");
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(o.gnttab, GnttabOpts { max_version: 1, transitive: false, transfer: true });
    let (o, _) = parse("gnttab=max_ver:2,transfer=off,transitive=1");
    assert_eq!(o.gnttab, GnttabOpts { max_version: 2, transitive: true, transfer: false });
    for bad in ["max-ver:3", "max-ver:0", "max-ver:", "bogus", "transfer=maybe", ""] {
        assert_eq!(GnttabOpts::parse(bad), None, "{bad:?}");
        let (o, w) = parse(&format!("gnttab={bad}"));
        assert_eq!(o.gnttab, d, "{bad:?}: defaults kept");
        assert_eq!(w.len(), 1, "{bad:?}: one warning");
    }
}
