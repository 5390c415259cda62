// SPDX-License-Identifier: GPL-2.0-only
//! SXP, the s-expression format of xm and xend (`xen/xend/sxp.py`).
//!
//! `xm create -n` prints a domain's configuration as SXP, `xm list -l`
//! prints domains in it, and xend takes and returns it on its wire. A value
//! is an atom (a string; xm also writes integers and floats, which read back
//! as strings) or a list. [`Sxp::show`] writes the one-line form as
//! `sxp.show` does, [`pretty`] the 80-column layout of xend's
//! `PrettyPrint.prettyprint`, and [`parse`] reads text as `sxp.Parser` does.

mod parse;
mod pretty;

pub use parse::{ParseError, parse, parse_one};
pub use pretty::{pretty, pretty_width};

use core::fmt::Write as _;

/// One SXP value.
#[derive(Clone, Debug, PartialEq)]
pub enum Sxp {
    /// A string atom, printed bare when every character is "atomic", else
    /// quoted as Python 2's `repr` quotes it.
    Str(String),
    /// An integer, printed in decimal.
    Int(i64),
    /// A float, printed as Python 2's `str(float)` (12 significant digits).
    Float(f64),
    /// A list `(a b c)`; by convention the head names the element.
    List(Vec<Sxp>),
}

impl Sxp {
    /// A string atom.
    pub fn str(s: impl Into<String>) -> Self {
        Sxp::Str(s.into())
    }

    /// The element `(name value)`.
    pub fn pair(name: &str, value: Sxp) -> Self {
        Sxp::List(vec![Sxp::str(name), value])
    }

    /// The element `(name children...)`.
    pub fn element(name: &str, children: Vec<Sxp>) -> Self {
        let mut v = Vec::with_capacity(children.len().saturating_add(1));
        v.push(Sxp::str(name));
        v.extend(children);
        Sxp::List(v)
    }

    /// The element name (the first item of a list whose head is a string).
    pub fn name(&self) -> Option<&str> {
        match self {
            Sxp::List(items) => match items.first() {
                Some(Sxp::Str(s)) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The string of an atom.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Sxp::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items after the head of a list (empty for atoms).
    pub fn children(&self) -> &[Sxp] {
        match self {
            Sxp::List(items) => items.get(1..).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The first child element named `name` (`sxp.child`).
    pub fn child(&self, name: &str) -> Option<&Sxp> {
        self.children().iter().find(|c| c.name() == Some(name))
    }

    /// The value of the first child `(name value)` (`sxp.child_value`).
    pub fn child_value(&self, name: &str) -> Option<&Sxp> {
        self.child(name).and_then(|c| c.children().first())
    }

    /// The one-line text form (`sxp.show`).
    pub fn show(&self) -> String {
        let mut out = String::new();
        self.show_into(&mut out);
        out
    }

    fn show_into(&self, out: &mut String) {
        match self {
            Sxp::List(items) => {
                out.push('(');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    x.show_into(out);
                }
                out.push(')');
            }
            Sxp::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Sxp::Float(f) => out.push_str(&py_float_str(*f)),
            Sxp::Str(s) if atomp(s) => out.push_str(s),
            Sxp::Str(s) => out.push_str(&py_repr_str(s)),
        }
    }
}

impl core::fmt::Display for Sxp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.show())
    }
}

/// Whether `s` prints bare (`sxp.atomp` of Xen 3.x: the empty string too).
pub fn atomp(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_alphanumeric() || b".-_:/~".contains(&c)) || s == "@"
}

/// Python 2's `repr` of a byte string: single quotes unless the text holds
/// a `'` and no `"`; `\t \n \r`, other control and non-ASCII bytes as `\xNN`.
pub fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push(quote);
    for b in s.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if char::from(b) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..0x7f => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push(quote);
    out
}

/// Python 2's `str(float)`: `%.12g`, with `.0` added to integral values.
pub fn py_float_str(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let g = format_g(f, 12);
    if g.contains(['.', 'e']) { g } else { g + ".0" }
}

/// C's `%.{prec}g` for a finite value.
pub fn format_g(f: f64, prec: usize) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec.saturating_sub(1), f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let prec_i = i64::try_from(prec).unwrap_or(i64::MAX);
    if exp < -4 || exp >= prec_i {
        let m = strip_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = usize::try_from(prec_i.saturating_sub(1).saturating_sub(exp)).unwrap_or(0);
        strip_fraction_zeros(&format!("{f:.decimals$}")).to_string()
    }
}

fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_and_quoting_follow_sxp_show() {
        assert_eq!(Sxp::str("phy:/dev/vg0/vm01").show(), "phy:/dev/vg0/vm01");
        assert_eq!(Sxp::str("/dev/xvda1 ro").show(), "'/dev/xvda1 ro'");
        assert_eq!(Sxp::str("").show(), "");
        assert_eq!(Sxp::str("it's").show(), "\"it's\"");
        assert_eq!(Sxp::str("a'b\"c").show(), "'a\\'b\"c'");
        assert_eq!(Sxp::str("tab\there\n\u{1}").show(), "'tab\\there\\n\\x01'");
        assert_eq!(Sxp::str("é").show(), "'\\xc3\\xa9'");
        assert_eq!(Sxp::str("!writable_page_tables|pae").show(), "'!writable_page_tables|pae'");
        let l = Sxp::element("vm", vec![Sxp::pair("memory", Sxp::Int(64)), Sxp::List(vec![])]);
        assert_eq!(l.show(), "(vm (memory 64) ())");
    }

    #[test]
    fn floats_print_as_python2_str() {
        assert_eq!(py_float_str(1.0), "1.0");
        assert_eq!(py_float_str(1230489041.67), "1230489041.67");
        assert_eq!(py_float_str(5.977945576), "5.977945576");
        assert_eq!(py_float_str(0.1), "0.1");
        assert_eq!(py_float_str(1e20), "1e+20");
        assert_eq!(py_float_str(1.5e-7), "1.5e-07");
        assert_eq!(py_float_str(123456789012.0), "123456789012.0");
        assert_eq!(py_float_str(1234567890123.0), "1.23456789012e+12");
        assert_eq!(py_float_str(-2.5), "-2.5");
    }

    #[test]
    fn accessors_find_children() {
        let vm = parse_one("(vm (name x) (image (linux (kernel /k))))").expect("parses");
        assert_eq!(vm.name(), Some("vm"));
        assert_eq!(vm.child_value("name").and_then(Sxp::as_str), Some("x"));
        let linux = vm.child_value("image").expect("image");
        assert_eq!(linux.child_value("kernel"), Some(&Sxp::str("/k")));
        assert_eq!(vm.child("missing"), None);
    }
}
