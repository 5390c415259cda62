// SPDX-License-Identifier: GPL-2.0-only
//! Reading SXP text (`sxp.Parser` of xend).
//!
//! Lists are `( … )`; `#` starts a comment to the end of the line; strings
//! are quoted with `"` or `'` and take C escapes (`\a \b \t \n \v \f \r \\
//! \' \"`, `\xHH`, octal `\ooo` up to 0377); any other printable ASCII run
//! is an atom, ended by white space, `#` or one of `{}()<>[]!;` (a
//! separator is itself the first character of the next atom, as in xend).
//! Atoms and strings read back as [`Sxp::Str`]. Control characters other
//! than white space and bytes outside ASCII are errors, as in xend; so is a
//! `)` at the top level or end of input inside a list or string. An unknown
//! escape keeps its backslash and character (xend drops the character);
//! lists nest at most [`MAX_DEPTH`] deep.

use super::Sxp;

/// A syntax error with its 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// What is wrong, in xend's words where it has them.
    pub message: String,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Deepest list nesting accepted (values are dropped and printed
/// recursively, so the depth is bounded; real SXP nests a few levels).
pub const MAX_DEPTH: usize = 256;

/// Parses every top-level value of `text`.
pub fn parse(text: &str) -> Result<Vec<Sxp>, ParseError> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0, line: 1, col: 1 };
    let mut stack: Vec<(Vec<Sxp>, usize, usize)> = Vec::new();
    let mut top = Vec::new();
    loop {
        let Some(c) = p.peek() else {
            if let Some((_, line, col)) = stack.last() {
                return Err(ParseError {
                    line: *line,
                    col: *col,
                    message: "unexpected EOF".into(),
                });
            }
            return Ok(top);
        };
        let (line, col) = (p.line, p.col);
        let value = match c {
            '\u{4}' => {
                // Ctrl-D ends the input, as in xend.
                if let Some((_, line, col)) = stack.last() {
                    return Err(p.err_at(*line, *col, "unexpected EOF"));
                }
                return Ok(top);
            }
            ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' => {
                p.bump();
                continue;
            }
            '#' => {
                while p.peek().is_some_and(|c| c != '\n') {
                    p.bump();
                }
                continue;
            }
            '(' => {
                p.bump();
                if stack.len() >= MAX_DEPTH {
                    return Err(p.err_at(line, col, "lists nested too deeply"));
                }
                stack.push((Vec::new(), line, col));
                continue;
            }
            ')' => {
                p.bump();
                match stack.pop() {
                    Some((items, _, _)) => Sxp::List(items),
                    None => return Err(p.err_at(line, col, "syntax error: )")),
                }
            }
            '"' | '\'' => {
                p.bump();
                p.string(c)?
            }
            ' '..='~' => {
                let mut s = String::from(c);
                p.bump();
                while let Some(c) = p.peek() {
                    if c.is_ascii_whitespace() || c == '\u{b}' || "{}()<>[]!;#".contains(c) {
                        break;
                    }
                    if !(' '..='~').contains(&c) {
                        return Err(
                            p.err_here(&format!("invalid character: code {}", u32::from(c)))
                        );
                    }
                    s.push(c);
                    p.bump();
                }
                Sxp::Str(s)
            }
            _ => return Err(p.err_here(&format!("invalid character: code {}", u32::from(c)))),
        };
        match stack.last_mut() {
            Some((items, _, _)) => items.push(value),
            None => top.push(value),
        }
    }
}

/// Parses text holding exactly one value.
pub fn parse_one(text: &str) -> Result<Sxp, ParseError> {
    let mut values = parse(text)?;
    match values.len() {
        1 => Ok(values.remove(0)),
        n => Err(ParseError { line: 1, col: 1, message: format!("expected one value, found {n}") }),
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos = self.pos.saturating_add(1);
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn err_at(&self, line: usize, col: usize, message: &str) -> ParseError {
        ParseError { line, col, message: message.into() }
    }

    fn err_here(&self, message: &str) -> ParseError {
        self.err_at(self.line, self.col, message)
    }

    /// The rest of a string after its opening `delim`.
    fn string(&mut self, delim: char) -> Result<Sxp, ParseError> {
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.bump() else { return Err(self.err_here("unexpected EOF")) };
            if c == delim {
                break;
            }
            if c != '\\' {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            let Some(e) = self.bump() else { return Err(self.err_here("unexpected EOF")) };
            let simple = match e {
                'a' => Some(7u8),
                'b' => Some(8),
                't' => Some(b'\t'),
                'n' => Some(b'\n'),
                'v' => Some(11),
                'f' => Some(12),
                'r' => Some(b'\r'),
                '\\' | '\'' | '"' => u8::try_from(e).ok(),
                _ => None,
            };
            if let Some(b) = simple {
                bytes.push(b);
            } else if e == 'x' {
                let mut value: u32 = 0;
                let mut digits: u32 = 0;
                while digits < 2 {
                    let Some(d) = self.peek().and_then(|c| c.to_digit(16)) else { break };
                    self.bump();
                    value = value.saturating_mul(16).saturating_add(d);
                    digits = digits.saturating_add(1);
                }
                if digits == 0 {
                    return Err(self.err_here("invalid hex escape"));
                }
                bytes.push(u8::try_from(value).unwrap_or(0));
            } else if let Some(first) = e.to_digit(8) {
                let mut value = first;
                let mut digits: u32 = 1;
                while digits < 3 {
                    let Some(d) = self.peek().and_then(|c| c.to_digit(8)) else { break };
                    self.bump();
                    value = value.saturating_mul(8).saturating_add(d);
                    digits = digits.saturating_add(1);
                }
                let Ok(b) = u8::try_from(value) else {
                    return Err(self.err_here("invalid octal escape: out of range"));
                };
                bytes.push(b);
            } else {
                bytes.push(b'\\');
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(e.encode_utf8(&mut buf).as_bytes());
            }
        }
        Ok(Sxp::Str(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_atoms_strings_and_comments() {
        let v = parse("(vm (name 'a b') # comment\n (x \"q\\\"\\x41\\101\\n\"))\n(y)").expect("ok");
        assert_eq!(v.len(), 2);
        let vm = v.first().expect("vm");
        assert_eq!(vm.child_value("name"), Some(&Sxp::str("a b")));
        assert_eq!(vm.child_value("x"), Some(&Sxp::str("q\"AA\n")));
        assert_eq!(parse("(a[b] c;d)").expect("ok"), vec![parse_one("(a [b ] c ;d)").expect("ok")]);
        assert_eq!(parse_one("(features )").expect("ok").children(), &[]);
        assert_eq!(parse_one("(s '\\q')").expect("ok").children(), &[Sxp::str("\\q")]);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = parse("(a\n  (b c)\n").expect_err("unterminated");
        assert_eq!((e.line, e.col, e.message.as_str()), (1, 1, "unexpected EOF"));
        let e = parse("(a))").expect_err("extra )");
        assert_eq!(e.to_string(), "1:4: syntax error: )");
        let e = parse("(a \u{7})").expect_err("bell");
        assert_eq!(e.to_string(), "1:4: invalid character: code 7");
        let e = parse("('\\400')").expect_err("octal");
        assert_eq!(e.message, "invalid octal escape: out of range");
        assert!(parse("('abc").is_err());
        assert!(parse_one("(a) (b)").is_err());
    }

    #[test]
    fn printed_values_read_back() {
        for text in ["(a 'b c' \"it's\" '\\x01\\n' () (d (e)))", "x", "(image (linux (kernel )))"] {
            let v = parse_one(text).expect("parses");
            assert_eq!(parse_one(&v.show()).expect("reparses"), v);
        }
    }
}
