// SPDX-License-Identifier: GPL-2.0-only
//! A small regular-expression engine for `re.search` and `re.match`.
//!
//! Configuration files test host facts with simple patterns
//! (`re.search('64', arch)` in xmexample.hvm). Supported: literals, `.`,
//! `^`, `$`, classes `[a-z]`/`[^…]`, escapes `\d \w \s \D \W \S` and
//! escaped punctuation, groups `( … )` and `(?: … )`, alternation `|`,
//! greedy `* + ?` and `{m,n}`. Anything else is an error rather than a
//! different meaning. Matching is a backtracking machine with a step
//! budget, so no pattern can run away.

/// One instruction of the compiled program.
#[derive(Clone, Debug)]
enum Inst {
    Char(char),
    Any,
    /// Ranges, negated.
    Class(Vec<(char, char)>, bool),
    Start,
    End,
    Split(usize, usize),
    Jmp(usize),
    Save(usize),
    Match,
}

/// A compiled pattern.
#[derive(Debug)]
pub(crate) struct Regex {
    prog: Vec<Inst>,
    groups: usize,
}

const MAX_PATTERN: usize = 1000;
const MAX_STEPS: usize = 200_000;

impl Regex {
    /// Compiles `pattern`, or says what is not supported.
    pub fn new(pattern: &str) -> Result<Regex, String> {
        if pattern.chars().count() > MAX_PATTERN {
            return Err("pattern too long".into());
        }
        let mut c =
            Compiler { chars: pattern.chars().collect(), i: 0, prog: Vec::new(), groups: 1 };
        c.prog.push(Inst::Save(0));
        c.alternation(0)?;
        if c.i < c.chars.len() {
            return Err("unbalanced parenthesis".into());
        }
        c.prog.push(Inst::Save(1));
        c.prog.push(Inst::Match);
        Ok(Regex { prog: c.prog, groups: c.groups })
    }

    /// The groups of the first match starting at or after position 0
    /// (`search`) or only at 0 (`match`); `Err` when the budget runs out.
    pub fn find(&self, text: &str, anchored: bool) -> Result<Option<Vec<Option<String>>>, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut budget = MAX_STEPS;
        for start in 0..=chars.len() {
            if let Some(saves) = self.run(&chars, start, &mut budget)? {
                let groups = (0..self.groups)
                    .map(|g| {
                        let a = saves.get(g.saturating_mul(2)).copied().flatten()?;
                        let b =
                            saves.get(g.saturating_mul(2).saturating_add(1)).copied().flatten()?;
                        Some(chars.get(a..b)?.iter().collect())
                    })
                    .collect();
                return Ok(Some(groups));
            }
            if anchored {
                break;
            }
        }
        Ok(None)
    }

    fn run(
        &self,
        text: &[char],
        start: usize,
        budget: &mut usize,
    ) -> Result<Option<Vec<Option<usize>>>, String> {
        let mut stack: Vec<(usize, usize, Vec<Option<usize>>)> =
            vec![(0, start, vec![None; self.groups.saturating_mul(2)])];
        while let Some((mut pc, mut pos, mut saves)) = stack.pop() {
            loop {
                *budget = budget.checked_sub(1).ok_or("regular expression too complex")?;
                let Some(inst) = self.prog.get(pc) else { break };
                let cur = text.get(pos).copied();
                let ok = match inst {
                    Inst::Char(c) => cur == Some(*c),
                    Inst::Any => cur.is_some_and(|c| c != '\n'),
                    Inst::Class(ranges, neg) => {
                        cur.is_some_and(|c| ranges.iter().any(|&(a, b)| a <= c && c <= b) != *neg)
                    }
                    Inst::Start => {
                        if pos == 0 {
                            pc = pc.saturating_add(1);
                            continue;
                        }
                        false
                    }
                    Inst::End => {
                        if pos == text.len()
                            || (pos.saturating_add(1) == text.len() && cur == Some('\n'))
                        {
                            pc = pc.saturating_add(1);
                            continue;
                        }
                        false
                    }
                    Inst::Split(a, b) => {
                        stack.push((*b, pos, saves.clone()));
                        pc = *a;
                        continue;
                    }
                    Inst::Jmp(a) => {
                        pc = *a;
                        continue;
                    }
                    Inst::Save(n) => {
                        if let Some(s) = saves.get_mut(*n) {
                            *s = Some(pos);
                        }
                        pc = pc.saturating_add(1);
                        continue;
                    }
                    Inst::Match => return Ok(Some(saves)),
                };
                if !ok {
                    break;
                }
                pc = pc.saturating_add(1);
                pos = pos.saturating_add(1);
            }
        }
        Ok(None)
    }
}

struct Compiler {
    chars: Vec<char>,
    i: usize,
    prog: Vec<Inst>,
    groups: usize,
}

impl Compiler {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i = self.i.saturating_add(1);
        Some(c)
    }

    fn alternation(&mut self, depth: u32) -> Result<(), String> {
        if depth > 32 {
            return Err("pattern too deeply nested".into());
        }
        let start = self.prog.len();
        self.sequence(depth)?;
        if self.peek() != Some('|') {
            return Ok(());
        }
        self.bump();
        // Wrap what was compiled: Split(first, second); first; Jmp(end); second.
        let first: Vec<Inst> = self.prog.drain(start..).collect();
        let first_len = first.len();
        self.prog.push(Inst::Split(
            start.saturating_add(1),
            start.saturating_add(first_len).saturating_add(2),
        ));
        let shift = 1;
        for inst in first {
            self.prog.push(relocate(inst, start, shift));
        }
        let jmp_at = self.prog.len();
        self.prog.push(Inst::Jmp(0));
        self.alternation(depth.saturating_add(1))?;
        let end = self.prog.len();
        if let Some(j) = self.prog.get_mut(jmp_at) {
            *j = Inst::Jmp(end);
        }
        Ok(())
    }

    fn sequence(&mut self, depth: u32) -> Result<(), String> {
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                return Ok(());
            }
            let atom_start = self.prog.len();
            self.atom(depth)?;
            self.quantifier(atom_start)?;
        }
        Ok(())
    }

    fn atom(&mut self, depth: u32) -> Result<(), String> {
        let Some(c) = self.bump() else { return Ok(()) };
        match c {
            '.' => self.prog.push(Inst::Any),
            '^' => self.prog.push(Inst::Start),
            '$' => self.prog.push(Inst::End),
            '(' => {
                let capture = if self.peek() == Some('?') {
                    self.bump();
                    if self.bump() != Some(':') {
                        return Err("only (?:...) extensions are supported".into());
                    }
                    None
                } else {
                    let g = self.groups;
                    self.groups = self.groups.saturating_add(1);
                    Some(g)
                };
                if let Some(g) = capture {
                    self.prog.push(Inst::Save(g.saturating_mul(2)));
                }
                self.alternation(depth.saturating_add(1))?;
                if self.bump() != Some(')') {
                    return Err("unbalanced parenthesis".into());
                }
                if let Some(g) = capture {
                    self.prog.push(Inst::Save(g.saturating_mul(2).saturating_add(1)));
                }
            }
            '[' => {
                let neg = self.peek() == Some('^');
                if neg {
                    self.bump();
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let Some(c) = self.bump() else {
                        return Err("unexpected end of regular expression".into());
                    };
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        let e = self.bump().ok_or("bogus escape (end of line)")?;
                        if let Some(class) = escape_class(e) {
                            ranges.extend(class.0);
                            continue;
                        }
                        escape_char(e)?
                    } else {
                        c
                    };
                    if self.peek() == Some('-')
                        && self.chars.get(self.i.saturating_add(1)).is_some_and(|c| *c != ']')
                    {
                        self.bump();
                        let hi = self.bump().ok_or("unexpected end of regular expression")?;
                        let hi = if hi == '\\' {
                            escape_char(self.bump().ok_or("bogus escape")?)?
                        } else {
                            hi
                        };
                        if hi < lo {
                            return Err("bad character range".into());
                        }
                        ranges.push((lo, hi));
                    } else {
                        ranges.push((lo, lo));
                    }
                }
                self.prog.push(Inst::Class(ranges, neg));
            }
            '\\' => {
                let e = self.bump().ok_or("bogus escape (end of line)")?;
                match escape_class(e) {
                    Some((ranges, neg)) => self.prog.push(Inst::Class(ranges, neg)),
                    None => self.prog.push(Inst::Char(escape_char(e)?)),
                }
            }
            '*' | '+' | '?' | '{' => return Err("nothing to repeat".into()),
            c => self.prog.push(Inst::Char(c)),
        }
        Ok(())
    }

    fn quantifier(&mut self, atom_start: usize) -> Result<(), String> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                self.bump();
                let min = self.number().unwrap_or(0);
                let max = if self.peek() == Some(',') {
                    self.bump();
                    self.number()
                } else {
                    Some(min)
                };
                if self.peek() != Some('}') {
                    return Err("unsupported repeat".into());
                }
                if max.is_some_and(|m| m < min) || min > 100 || max.is_some_and(|m| m > 100) {
                    return Err("bad repeat interval".into());
                }
                (min, max)
            }
            _ => return Ok(()),
        };
        self.bump();
        if matches!(self.peek(), Some('?' | '*' | '+')) {
            return Err("non-greedy and nested repeats are not supported".into());
        }
        let atom: Vec<Inst> = self.prog.drain(atom_start..).collect();
        for _ in 0..min {
            self.emit_copy(&atom, atom_start);
        }
        match max {
            None => {
                // L: Split(body, out); body; Jmp L
                let l = self.prog.len();
                self.prog.push(Inst::Split(0, 0));
                self.emit_copy(&atom, atom_start);
                self.prog.push(Inst::Jmp(l));
                let out = self.prog.len();
                if let Some(s) = self.prog.get_mut(l) {
                    *s = Inst::Split(l.saturating_add(1), out);
                }
            }
            Some(max) => {
                for _ in min..max {
                    let l = self.prog.len();
                    self.prog.push(Inst::Split(0, 0));
                    self.emit_copy(&atom, atom_start);
                    let out = self.prog.len();
                    if let Some(s) = self.prog.get_mut(l) {
                        *s = Inst::Split(l.saturating_add(1), out);
                    }
                }
            }
        }
        if self.prog.len() > 20 * MAX_PATTERN {
            return Err("pattern too large".into());
        }
        Ok(())
    }

    /// Appends a copy of `atom`, compiled at `orig`, here (jump targets
    /// inside it rebased).
    fn emit_copy(&mut self, atom: &[Inst], orig: usize) {
        let here = self.prog.len();
        let f = |t: usize| t.saturating_sub(orig).saturating_add(here);
        for inst in atom {
            self.prog.push(match inst {
                Inst::Split(a, b) => Inst::Split(f(*a), f(*b)),
                Inst::Jmp(a) => Inst::Jmp(f(*a)),
                other => other.clone(),
            });
        }
    }

    fn number(&mut self) -> Option<usize> {
        let mut n: Option<usize> = None;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            self.bump();
            n = Some(
                n.unwrap_or(0).saturating_mul(10).saturating_add(usize::try_from(d).unwrap_or(0)),
            );
        }
        n
    }
}

/// Shifts jump targets at or after `from` by `shift`.
fn relocate(inst: Inst, from: usize, shift: usize) -> Inst {
    let f = |t: usize| if t >= from { t.saturating_add(shift) } else { t };
    match inst {
        Inst::Split(a, b) => Inst::Split(f(a), f(b)),
        Inst::Jmp(a) => Inst::Jmp(f(a)),
        other => other,
    }
}

fn escape_class(e: char) -> Option<(Vec<(char, char)>, bool)> {
    let digits = vec![('0', '9')];
    let word = vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
    let space = vec![(' ', ' '), ('\t', '\r')];
    match e {
        'd' => Some((digits, false)),
        'D' => Some((digits, true)),
        'w' => Some((word, false)),
        'W' => Some((word, true)),
        's' => Some((space, false)),
        'S' => Some((space, true)),
        _ => None,
    }
}

fn escape_char(e: char) -> Result<char, String> {
    match e {
        'n' => Ok('\n'),
        't' => Ok('\t'),
        'r' => Ok('\r'),
        c if c.is_ascii_punctuation() || c == ' ' => Ok(c),
        c => Err(format!("unsupported escape \\{c}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(p: &str, t: &str) -> Option<String> {
        Regex::new(p)
            .expect("compiles")
            .find(t, false)
            .expect("runs")
            .and_then(|g| g.into_iter().next().flatten())
    }

    #[test]
    fn searches_like_python_re() {
        assert_eq!(search("64", "x86_64").as_deref(), Some("64"));
        assert_eq!(search("64", "i686"), None);
        assert_eq!(search("^x86", "x86_64").as_deref(), Some("x86"));
        assert_eq!(search("^86", "x86_64"), None);
        assert_eq!(search("i[3-6]86$", "i686").as_deref(), Some("i686"));
        assert_eq!(search("a.c", "xabcx").as_deref(), Some("abc"));
        assert_eq!(search("ab*c", "ac").as_deref(), Some("ac"));
        assert_eq!(search("ab+c", "abbbc").as_deref(), Some("abbbc"));
        assert_eq!(search("ab+c", "ac"), None);
        assert_eq!(search("colou?r", "color").as_deref(), Some("color"));
        assert_eq!(search("(x86|ia)_?64", "ia64").as_deref(), Some("ia64"));
        assert_eq!(search("(x86|ia)_?64", "x86_64").as_deref(), Some("x86_64"));
        assert_eq!(search("\\d{2,3}", "a1234").as_deref(), Some("123"));
        assert_eq!(search("[^0-9]+", "12ab3").as_deref(), Some("ab"));
        assert_eq!(search("\\.", "a.b").as_deref(), Some("."));
        assert_eq!(search("(a|b)*c", "ababc").as_deref(), Some("ababc"));
        let r = Regex::new("(\\w+)-(\\d+)").expect("ok");
        let g = r.find("vm-42", true).expect("runs").expect("matches");
        assert_eq!(g, vec![Some("vm-42".into()), Some("vm".into()), Some("42".into())]);
        assert!(Regex::new("a(b").is_err());
        assert!(Regex::new("*a").is_err());
        assert!(Regex::new("a\\q").is_err());
        assert!(Regex::new("(?P<x>a)").is_err());
        assert!(Regex::new("(a*)*b").expect("compiles").find(&"a".repeat(40), false).is_err());
    }
}
