// SPDX-License-Identifier: GPL-2.0-only
//! Tokens of the Python 2 subset, with Python's indentation rules.
//!
//! Produces `Newline`, `Indent` and `Dedent` tokens as Python's tokenizer
//! does: blank and comment-only lines are skipped, newlines inside
//! brackets and after a `\` continuation are not logical line ends, tabs
//! advance to the next multiple of 8. Literals: integers (decimal, `0x`
//! hex, `0o`/Python 2 leading-zero octal, `0b` binary, a trailing `L`),
//! floats, strings with `r`/`u`/`b` prefixes, `'`, `"`, `'''` and `"""`
//! quotes and Python 2's escapes (unknown escapes keep their backslash).

use super::Pos;
use crate::error::{Error, ErrorKind, Result};

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// An identifier or keyword.
    Name(String),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A string literal (escapes processed).
    Str(String),
    /// An operator or delimiter.
    Op(&'static str),
    /// The end of a logical line.
    Newline,
    /// Deeper indentation.
    Indent,
    /// Indentation back to an outer level.
    Dedent,
    /// End of input.
    Eof,
}

const OPS: [&str; 39] = [
    "**=", "//=", ">>=", "<<=", "**", "//", "<<", ">>", "<=", ">=", "==", "!=", "<>", "+=", "-=",
    "*=", "/=", "%=", "&=", "|=", "^=", "+", "-", "*", "/", "%", "<", ">", "=", "(", ")", "[", "]",
    "{", "}", ",", ":", ".", ";",
];

const MAX_INDENT_LEVELS: usize = 100;

/// Splits `src` into tokens, each with its position.
pub(crate) fn tokenize(
    src: &str,
    err: &dyn Fn(Pos, ErrorKind, String) -> Error,
) -> Result<Vec<(Tok, Pos)>> {
    let mut lx = Lexer { chars: src.chars().collect(), i: 0, line: 1, col: 1 };
    let mut out: Vec<(Tok, Pos)> = Vec::new();
    let mut indents: Vec<u32> = vec![0];
    let mut depth: u32 = 0;
    let mut at_line_start = true;
    loop {
        if at_line_start && depth == 0 {
            // Measure the indentation of the next non-blank line.
            let mut width: u32 = 0;
            while let Some(c) = lx.peek() {
                match c {
                    ' ' => width = width.saturating_add(1),
                    '\t' => width = (width / 8).saturating_add(1).saturating_mul(8),
                    '\u{c}' => width = 0,
                    _ => break,
                }
                lx.bump();
            }
            match lx.peek() {
                Some('#') => {
                    lx.skip_comment();
                    continue;
                }
                Some('\n') => {
                    lx.bump();
                    continue;
                }
                Some('\r') => {
                    lx.bump();
                    continue;
                }
                Some('\\') if lx.peek_at(1) == Some('\n') => {
                    // A continuation on an otherwise empty line.
                    lx.bump();
                    lx.bump();
                    continue;
                }
                None => break,
                Some(_) => {}
            }
            at_line_start = false;
            let pos = lx.pos();
            let current = indents.last().copied().unwrap_or(0);
            if width > current {
                if indents.len() >= MAX_INDENT_LEVELS {
                    return Err(err(
                        pos,
                        ErrorKind::Limit,
                        "too many levels of indentation".into(),
                    ));
                }
                indents.push(width);
                out.push((Tok::Indent, pos));
            } else {
                while indents.last().is_some_and(|&w| w > width) {
                    indents.pop();
                    out.push((Tok::Dedent, pos));
                }
                if indents.last().copied() != Some(width) {
                    return Err(err(
                        pos,
                        ErrorKind::Syntax,
                        "unindent does not match any outer indentation level".into(),
                    ));
                }
            }
        }
        let pos = lx.pos();
        let Some(c) = lx.peek() else { break };
        match c {
            ' ' | '\t' | '\u{c}' | '\r' => {
                lx.bump();
            }
            '#' => lx.skip_comment(),
            '\n' => {
                lx.bump();
                if depth == 0 {
                    out.push((Tok::Newline, pos));
                    at_line_start = true;
                }
            }
            '\\' => {
                lx.bump();
                if lx.peek() == Some('\r') {
                    lx.bump();
                }
                if lx.peek() != Some('\n') {
                    return Err(err(
                        lx.pos(),
                        ErrorKind::Syntax,
                        "unexpected character after line continuation character".into(),
                    ));
                }
                lx.bump();
            }
            '0'..='9' => out.push((lx.number(err)?, pos)),
            '.' if lx.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                out.push((lx.number(err)?, pos))
            }
            '\'' | '"' => out.push((Tok::Str(lx.string(false, err)?), pos)),
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(c) = lx.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    name.push(c);
                    lx.bump();
                }
                let lower = name.to_ascii_lowercase();
                let is_prefix = matches!(lower.as_str(), "r" | "u" | "b" | "ur" | "br");
                if is_prefix && matches!(lx.peek(), Some('\'' | '"')) {
                    out.push((Tok::Str(lx.string(lower.contains('r'), err)?), pos));
                } else {
                    out.push((Tok::Name(name), pos));
                }
            }
            _ => {
                let Some(op) = OPS.iter().find(|op| lx.starts_with(op)) else {
                    return Err(err(pos, ErrorKind::Syntax, format!("invalid character {c:?}")));
                };
                for _ in 0..op.len() {
                    lx.bump();
                }
                match *op {
                    "(" | "[" | "{" => depth = depth.saturating_add(1),
                    ")" | "]" | "}" => depth = depth.saturating_sub(1),
                    _ => {}
                }
                out.push((Tok::Op(op), pos));
            }
        }
    }
    let pos = lx.pos();
    if out.last().is_some_and(|(t, _)| !matches!(t, Tok::Newline | Tok::Dedent)) {
        out.push((Tok::Newline, pos));
    }
    while indents.len() > 1 {
        indents.pop();
        out.push((Tok::Dedent, pos));
    }
    out.push((Tok::Eof, pos));
    Ok(out)
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i.saturating_add(n)).copied()
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i = self.i.saturating_add(1);
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.peek_at(k) == Some(c))
    }

    fn skip_comment(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn number(&mut self, err: &dyn Fn(Pos, ErrorKind, String) -> Error) -> Result<Tok> {
        let pos = self.pos();
        let mut text = String::new();
        while let Some(c) =
            self.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        {
            // An exponent sign belongs to the literal.
            text.push(c);
            self.bump();
            if matches!(c, 'e' | 'E')
                && !text.starts_with("0x")
                && !text.starts_with("0X")
                && matches!(self.peek(), Some('+' | '-'))
                && let Some(sign) = self.bump()
            {
                text.push(sign);
            }
        }
        let bad = || err(pos, ErrorKind::Syntax, format!("invalid number literal {text:?}"));
        let body = text.strip_suffix(['L', 'l']).unwrap_or(&text);
        let lower = body.to_ascii_lowercase();
        let (digits, radix) = if let Some(h) = lower.strip_prefix("0x") {
            (h, 16)
        } else if let Some(o) = lower.strip_prefix("0o") {
            (o, 8)
        } else if let Some(b) = lower.strip_prefix("0b") {
            (b, 2)
        } else if lower.contains(['.', 'e']) {
            if body.len() != text.len() {
                return Err(bad());
            }
            return lower.parse::<f64>().map(Tok::Float).map_err(|_| bad());
        } else if lower.len() > 1 && lower.starts_with('0') {
            (lower.as_str(), 8)
        } else {
            (lower.as_str(), 10)
        };
        if digits.is_empty() {
            return Err(bad());
        }
        match i64::from_str_radix(digits, radix) {
            Ok(v) => Ok(Tok::Int(v)),
            Err(e) if matches!(e.kind(), core::num::IntErrorKind::PosOverflow) => Err(err(
                pos,
                ErrorKind::Unsupported,
                format!("integer literal {text} does not fit in 64 bits"),
            )),
            Err(_) => Err(bad()),
        }
    }

    /// A string literal from its opening quote.
    fn string(
        &mut self,
        raw: bool,
        err: &dyn Fn(Pos, ErrorKind, String) -> Error,
    ) -> Result<String> {
        let start = self.pos();
        let Some(q) = self.bump() else {
            return Err(err(start, ErrorKind::Syntax, "EOF in string".into()));
        };
        let triple = self.peek() == Some(q) && self.peek_at(1) == Some(q);
        if triple {
            self.bump();
            self.bump();
        }
        let mut bytes: Vec<u8> = Vec::new();
        let push = |bytes: &mut Vec<u8>, c: char| {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        };
        loop {
            let Some(c) = self.bump() else {
                let what = if triple {
                    "EOF while scanning triple-quoted string literal"
                } else {
                    "EOL while scanning string literal"
                };
                return Err(err(start, ErrorKind::Syntax, what.into()));
            };
            if c == q && (!triple || (self.peek() == Some(q) && self.peek_at(1) == Some(q))) {
                if triple {
                    self.bump();
                    self.bump();
                }
                break;
            }
            if c == '\n' && !triple {
                return Err(err(
                    start,
                    ErrorKind::Syntax,
                    "EOL while scanning string literal".into(),
                ));
            }
            if c != '\\' {
                push(&mut bytes, c);
                continue;
            }
            let Some(e) = self.bump() else { continue };
            if raw {
                push(&mut bytes, '\\');
                push(&mut bytes, e);
                continue;
            }
            match e {
                '\n' => {}
                '\\' | '\'' | '"' => push(&mut bytes, e),
                'a' => bytes.push(7),
                'b' => bytes.push(8),
                'f' => bytes.push(12),
                'n' => bytes.push(b'\n'),
                'r' => bytes.push(b'\r'),
                't' => bytes.push(b'\t'),
                'v' => bytes.push(11),
                'x' => {
                    let hi = self.peek().and_then(|c| c.to_digit(16));
                    let lo = self.peek_at(1).and_then(|c| c.to_digit(16));
                    let (Some(hi), Some(lo)) = (hi, lo) else {
                        return Err(err(self.pos(), ErrorKind::Value, "invalid \\x escape".into()));
                    };
                    self.bump();
                    self.bump();
                    bytes.push(u8::try_from(hi.saturating_mul(16).saturating_add(lo)).unwrap_or(0));
                }
                '0'..='7' => {
                    let mut v = e.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        let Some(d) = self.peek().and_then(|c| c.to_digit(8)) else { break };
                        self.bump();
                        v = v.saturating_mul(8).saturating_add(d);
                    }
                    // Python 2 keeps the low byte of \400..\777.
                    bytes.push(u8::try_from(v & 0xff).unwrap_or(0));
                }
                _ => {
                    push(&mut bytes, '\\');
                    push(&mut bytes, e);
                }
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
