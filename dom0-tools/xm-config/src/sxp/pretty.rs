// SPDX-License-Identifier: GPL-2.0-only
//! xend's SXP pretty-printer (`PrettyPrint.prettyprint`, 80 columns).
//!
//! Every list is a "break all" block: printed on one line when its one-line
//! width fits in what is left of the line (columns up to `width`),
//! otherwise each element after the first on a line of its own, indented
//! four columns from the block's `(`, and the closing `)` on a line of its
//! own at the block's column. The width left is `max(0, width - column)`
//! (the original clamps its remaining space at zero). A final newline ends
//! the text; a lone atom prints as `sxp.show` does.

use super::Sxp;

/// Pretty-prints `sxp` at xend's default width of 80 columns.
pub fn pretty(sxp: &Sxp) -> String {
    pretty_width(sxp, 80)
}

/// Pretty-prints `sxp` within `width` columns (`managed_config_save` uses 78).
pub fn pretty_width(sxp: &Sxp, width: usize) -> String {
    let mut out = String::new();
    match sxp {
        Sxp::List(_) => print(sxp, 0, width, &mut out),
        _ => out.push_str(&sxp.show()),
    }
    out.push('\n');
    out
}

/// The one-line width of a value.
fn flat_width(sxp: &Sxp) -> usize {
    match sxp {
        Sxp::List(items) => {
            let inner: usize = items.iter().map(flat_width).fold(0, usize::saturating_add);
            inner.saturating_add(items.len().saturating_sub(1)).saturating_add(2)
        }
        _ => sxp.show().len(),
    }
}

/// Appends `sxp` printed from `column` on to `out`.
fn print(sxp: &Sxp, column: usize, width: usize, out: &mut String) {
    let Sxp::List(items) = sxp else {
        out.push_str(&sxp.show());
        return;
    };
    if flat_width(sxp) <= width.saturating_sub(column) {
        out.push_str(&sxp.show());
        return;
    }
    let indent = column.saturating_add(4);
    out.push('(');
    let mut col = column.saturating_add(1);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            newline(out, indent);
            col = indent;
        }
        print(item, col, width, out);
    }
    newline(out, column);
    out.push(')');
}

fn newline(out: &mut String, indent: usize) {
    out.push('\n');
    out.extend(core::iter::repeat_n(' ', indent));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sxp::parse_one;

    /// The reference's test vector for the 3.1 printer.
    #[test]
    fn small_pv_config_matches_xend_layout() {
        let text = "(vm (name vm01) (memory 256) (vcpus 2) (on_poweroff destroy) \
            (on_reboot restart) (on_crash restart) (image (linux \
            (kernel /boot/vmlinuz-2.6.18-xen) (ramdisk /boot/initrd-2.6.18-xen.img) \
            (root '/dev/xvda1 ro') (args 4))) \
            (device (vbd (uname phy:/dev/vg0/vm01) (dev xvda1) (mode w))) \
            (device (vif (mac 00:16:3e:00:00:11) (bridge xenbr0))))";
        let expected = "\
(vm
    (name vm01)
    (memory 256)
    (vcpus 2)
    (on_poweroff destroy)
    (on_reboot restart)
    (on_crash restart)
    (image
        (linux
            (kernel /boot/vmlinuz-2.6.18-xen)
            (ramdisk /boot/initrd-2.6.18-xen.img)
            (root '/dev/xvda1 ro')
            (args 4)
        )
    )
    (device (vbd (uname phy:/dev/vg0/vm01) (dev xvda1) (mode w)))
    (device (vif (mac 00:16:3e:00:00:11) (bridge xenbr0)))
)
";
        let sxp = parse_one(text).expect("parses");
        assert_eq!(pretty(&sxp), expected);
        assert_eq!(parse_one(expected).expect("reparses"), sxp);
    }

    #[test]
    fn a_list_of_exactly_the_width_stays_on_one_line() {
        // "(a " + 74 chars + ")" = 78 columns; at width 78 it fits, at 77 not.
        let long = "x".repeat(74);
        let sxp = Sxp::List(vec![Sxp::str("a"), Sxp::str(long.clone())]);
        assert_eq!(pretty_width(&sxp, 78), format!("(a {long})\n"));
        assert_eq!(pretty_width(&sxp, 77), format!("(a\n    {long}\n)\n"));
    }

    #[test]
    fn nested_lists_and_empty_lists_break_at_their_own_column() {
        let sxp = Sxp::List(vec![
            Sxp::List(vec![Sxp::str("k"), Sxp::str("v".repeat(20))]),
            Sxp::List(vec![]),
            Sxp::Int(7),
        ]);
        assert_eq!(
            pretty_width(&sxp, 20),
            "((k\n     vvvvvvvvvvvvvvvvvvvv\n )\n    ()\n    7\n)\n"
        );
        assert_eq!(pretty(&Sxp::str("a b")), "'a b'\n");
        // A block starting past the width breaks even when it is empty.
        assert_eq!(pretty_width(&Sxp::List(vec![]), 1), "(\n)\n");
    }
}
