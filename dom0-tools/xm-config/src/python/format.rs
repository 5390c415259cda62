// SPDX-License-Identifier: GPL-2.0-only
//! Python 2's `%` string formatting (`"VM%d" % vmid`, `"%s:%d" % (a, b)`).
//!
//! Conversions `d i u o x X e E f F g G c s r %`, flags `- + space # 0`,
//! width and precision (also `*`), length modifiers `h l L` ignored. A
//! tuple right operand supplies the arguments in turn, anything else is one
//! argument; `%(name)s` needs a dict, which this evaluator does not have.
//! Errors carry Python's messages.

use super::value::Value;
use crate::sxp::format_g;

/// The longest result a format may produce.
pub(crate) const MAX_LEN: usize = 1 << 20;

/// `fmt % args`, or Python's `TypeError`/`ValueError` text.
pub(crate) fn format(fmt: &str, args: &Value) -> Result<String, String> {
    let args: Vec<Value> = match args {
        Value::Tuple(t) => t.borrow().clone(),
        other => vec![other.clone()],
    };
    let mut next = args.iter();
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'(') {
            return Err("format requires a mapping".into());
        }
        let mut left = false;
        let mut plus = false;
        let mut space = false;
        let mut alt = false;
        let mut zero = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '+' => plus = true,
                ' ' => space = true,
                '#' => alt = true,
                '0' => zero = true,
                _ => break,
            }
            chars.next();
        }
        let mut width: usize = 0;
        if chars.peek() == Some(&'*') {
            chars.next();
            let w = next.next().ok_or("not enough arguments for format string")?;
            let w = w.as_int().ok_or("* wants int")?;
            if w < 0 {
                left = true;
            }
            width = usize::try_from(w.unsigned_abs()).unwrap_or(usize::MAX);
        } else {
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                chars.next();
                width = width.saturating_mul(10).saturating_add(usize::try_from(d).unwrap_or(0));
            }
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p: usize = 0;
            if chars.peek() == Some(&'*') {
                chars.next();
                let w = next.next().ok_or("not enough arguments for format string")?;
                p = usize::try_from(w.as_int().ok_or("* wants int")?.max(0)).unwrap_or(0);
            } else {
                while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                    chars.next();
                    p = p.saturating_mul(10).saturating_add(usize::try_from(d).unwrap_or(0));
                }
            }
            precision = Some(p);
        }
        if width > MAX_LEN || precision.is_some_and(|p| p > MAX_LEN) {
            return Err("formatted result is too long".into());
        }
        while matches!(chars.peek(), Some('h' | 'l' | 'L')) {
            chars.next();
        }
        let Some(conv) = chars.next() else { return Err("incomplete format".into()) };
        if conv == '%' {
            out.push('%');
            continue;
        }
        let arg = next.next().ok_or("not enough arguments for format string")?;
        let (sign, body) = match conv {
            's' | 'r' => {
                let mut s = if conv == 's' { arg.to_str() } else { arg.repr() };
                if let Some(p) = precision {
                    s = s.chars().take(p).collect();
                }
                (String::new(), s)
            }
            'c' => {
                let s = match arg {
                    Value::Str(s) if s.chars().count() == 1 => s.to_string(),
                    _ => {
                        let n = arg.as_int().ok_or("%c requires int or char")?;
                        let c = u8::try_from(n).map_err(|_| "%c arg not in range(0x100)")?;
                        char::from(c).to_string()
                    }
                };
                (String::new(), s)
            }
            'd' | 'i' | 'u' | 'o' | 'x' | 'X' => {
                let n = match arg {
                    Value::Float(f) if f.is_finite() && f.abs() < 9.2e18 => {
                        #[allow(
                            clippy::cast_possible_truncation,
                            reason = "Python truncates floats for %d"
                        )]
                        let n = f.trunc() as i64;
                        n
                    }
                    _ => arg.as_int().ok_or_else(|| {
                        format!("%{conv} format: a number is required, not {}", arg.type_name())
                    })?,
                };
                let mag = n.unsigned_abs();
                let mut digits = match conv {
                    'o' => format!("{mag:o}"),
                    'x' => format!("{mag:x}"),
                    'X' => format!("{mag:X}"),
                    _ => mag.to_string(),
                };
                if let Some(p) = precision {
                    while digits.len() < p {
                        digits.insert(0, '0');
                    }
                }
                if alt {
                    match conv {
                        'o' if !digits.starts_with('0') => digits.insert(0, '0'),
                        'x' => digits.insert_str(0, "0x"),
                        'X' => digits.insert_str(0, "0X"),
                        _ => {}
                    }
                }
                (sign_of(n < 0, plus, space), digits)
            }
            'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
                let f = match arg {
                    Value::Str(_) | Value::None | Value::List(_) | Value::Tuple(_) => {
                        return Err(format!("float argument required, not {}", arg.type_name()));
                    }
                    _ => arg.as_float().ok_or_else(|| {
                        format!("float argument required, not {}", arg.type_name())
                    })?,
                };
                let p = precision.unwrap_or(6);
                let mag = f.abs();
                let mut body = match conv {
                    'e' | 'E' => exp_format(mag, p),
                    'f' | 'F' => format!("{mag:.p$}"),
                    _ => format_g(mag, if p == 0 { 1 } else { p }),
                };
                if conv.is_ascii_uppercase() {
                    body = body.to_ascii_uppercase();
                }
                (sign_of(f.is_sign_negative() && f != 0.0, plus, space), body)
            }
            other => {
                return Err(format!(
                    "unsupported format character '{other}' (0x{:x})",
                    u32::from(other)
                ));
            }
        };
        let len = sign.len().saturating_add(body.chars().count());
        let pad = width.saturating_sub(len);
        if left {
            out.push_str(&sign);
            out.push_str(&body);
            out.extend(core::iter::repeat_n(' ', pad));
        } else if zero && !matches!(conv, 's' | 'r' | 'c') {
            out.push_str(&sign);
            out.extend(core::iter::repeat_n('0', pad));
            out.push_str(&body);
        } else {
            out.extend(core::iter::repeat_n(' ', pad));
            out.push_str(&sign);
            out.push_str(&body);
        }
        if out.len() > MAX_LEN {
            return Err("formatted result is too long".into());
        }
    }
    if next.next().is_some() {
        return Err("not all arguments converted during string formatting".into());
    }
    Ok(out)
}

fn sign_of(negative: bool, plus: bool, space: bool) -> String {
    if negative {
        "-".into()
    } else if plus {
        "+".into()
    } else if space {
        " ".into()
    } else {
        String::new()
    }
}

/// C's `%.{p}e`: at least two exponent digits.
fn exp_format(f: f64, p: usize) -> String {
    let s = format!("{f:.p$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i64 = e.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    format!("{m}e{sign}{:02}", e.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(items: Vec<Value>) -> Value {
        Value::tuple(items)
    }

    #[test]
    fn formats_like_python2() {
        assert_eq!(format("VM%d", &Value::Int(3)).as_deref(), Ok("VM3"));
        assert_eq!(format("phy:sda%d,sda1,w", &Value::Int(10)).as_deref(), Ok("phy:sda10,sda1,w"));
        let t = tuple(vec![Value::str("a"), Value::Int(-5), Value::Float(2.5)]);
        assert_eq!(
            format(
                "%s|%4d|%-4d|%05d|%.2f|%%",
                &tuple(vec![
                    Value::str("a"),
                    Value::Int(-5),
                    Value::Int(7),
                    Value::Int(-42),
                    Value::Float(2.5)
                ])
            )
            .as_deref(),
            Ok("a|  -5|7   |-0042|2.50|%")
        );
        assert_eq!(
            format(
                "%r %s %x %#o %X",
                &tuple(vec![
                    Value::str("x'"),
                    Value::None,
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(255)
                ])
            )
            .as_deref(),
            Ok("\"x'\" None ff 010 FF")
        );
        assert_eq!(
            format(
                "%e %g %G",
                &tuple(vec![Value::Float(12345.678), Value::Float(0.0001), Value::Float(1e20)])
            )
            .as_deref(),
            Ok("1.234568e+04 0.0001 1E+20")
        );
        assert_eq!(
            format("%s", &t),
            Err("not all arguments converted during string formatting".to_string())
        );
        assert_eq!(
            format("%s %s", &Value::str("x")),
            Err("not enough arguments for format string".to_string())
        );
        assert_eq!(
            format("%d", &Value::str("x")),
            Err("%d format: a number is required, not str".to_string())
        );
        assert_eq!(
            format("%y", &Value::Int(1)),
            Err("unsupported format character 'y' (0x79)".to_string())
        );
        assert_eq!(
            format("%s", &tuple(vec![Value::list(vec![Value::Int(1), Value::str("b")])]))
                .as_deref(),
            Ok("[1, 'b']")
        );
        assert!(format("%999999999d", &Value::Int(1)).is_err());
        // Checked against CPython.
        let args = tuple(vec![
            Value::Int(3),
            Value::Int(4),
            Value::Float(2.25),
            Value::str("ab"),
            Value::Int(65),
            Value::str("z"),
            Value::str("abcdef"),
            Value::Int(5),
            Value::Int(42),
            Value::Int(2),
            Value::Float(1.23456),
        ]);
        assert_eq!(
            format("%+d % d %5.1f %-6s| %c %c %.3s %*d %.*f", &args).as_deref(),
            Ok("+3  4   2.2 ab    | A z abc    42 1.23")
        );
        let args = tuple(vec![
            Value::Int(-255),
            Value::Int(-8),
            Value::Int(0),
            Value::Float(-1.23456),
            Value::Float(1234.5),
        ]);
        assert_eq!(
            format("%x %o %#x %08.3f %-8.3e|", &args).as_deref(),
            Ok("-ff -10 0x0 -001.235 1.234e+03|")
        );
    }
}
