// SPDX-License-Identifier: GPL-2.0-only
//! Built-in functions and methods: `int`, `str`, `len`, `range`,
//! `os.uname`, `re.search`/`re.match`, `xm_vars.var`/`check`, the string
//! methods, `list.append` and `match.group`.

use super::{Interp, MAX_ITEMS, R, Raised};
use crate::error::ErrorKind;
use crate::python::format::MAX_LEN;
use crate::python::regex::Regex;
use crate::python::value::{Builtin, Value};
use crate::python::{DeclaredVar, Pos};
use std::rc::Rc;

impl Interp<'_> {
    pub(super) fn call_builtin(
        &mut self,
        b: Builtin,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
        pos: Pos,
    ) -> R<Value> {
        if !kwargs.is_empty() && b != Builtin::XmVarsVar {
            return Err(self.exc(
                pos,
                "TypeError",
                format!("{}() takes no keyword arguments", b.name()),
            ));
        }
        let arity = |lo: usize, hi: usize| -> R<()> {
            if args.len() < lo || args.len() > hi {
                return Err(self.exc(
                    pos,
                    "TypeError",
                    format!("{}() takes {lo} to {hi} arguments ({} given)", b.name(), args.len()),
                ));
            }
            Ok(())
        };
        match b {
            Builtin::Int => {
                arity(0, 2)?;
                let base = match args.get(1) {
                    Some(v) => Some(
                        v.as_int()
                            .ok_or_else(|| self.exc(pos, "TypeError", "an integer is required"))?,
                    ),
                    None => None,
                };
                match args.first() {
                    None => Ok(Value::Int(0)),
                    Some(Value::Str(s)) => self.int_from_str(s, base.unwrap_or(10), pos),
                    Some(_) if base.is_some() => Err(self.exc(
                        pos,
                        "TypeError",
                        "int() can't convert non-string with explicit base",
                    )),
                    Some(Value::Float(f)) => {
                        if !f.is_finite() || f.abs() >= 9.2e18 {
                            return Err(self.overflow(pos));
                        }
                        #[allow(
                            clippy::cast_possible_truncation,
                            reason = "finite and in range: int() truncates"
                        )]
                        Ok(Value::Int(f.trunc() as i64))
                    }
                    Some(v) => match v.as_int() {
                        Some(n) => Ok(Value::Int(n)),
                        None => Err(self.exc(
                            pos,
                            "TypeError",
                            format!(
                                "int() argument must be a string or a number, not '{}'",
                                v.type_name()
                            ),
                        )),
                    },
                }
            }
            Builtin::Str => {
                arity(0, 1)?;
                Ok(Value::str(&args.first().map(Value::to_str).unwrap_or_default()))
            }
            Builtin::Len => {
                arity(1, 1)?;
                let n = match args.first() {
                    Some(Value::Str(s)) => s.chars().count(),
                    Some(Value::List(l)) => l.borrow().len(),
                    Some(Value::Tuple(t)) => t.borrow().len(),
                    Some(v) => {
                        return Err(self.exc(
                            pos,
                            "TypeError",
                            format!("object of type '{}' has no len()", v.type_name()),
                        ));
                    }
                    None => 0,
                };
                Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
            }
            Builtin::Range => {
                arity(1, 3)?;
                let ints = args
                    .iter()
                    .map(|a| {
                        a.as_int().ok_or_else(|| {
                            self.exc(pos, "TypeError", "range() integer argument expected")
                        })
                    })
                    .collect::<R<Vec<i64>>>()?;
                let (start, stop, step) = match ints.as_slice() {
                    [stop] => (0, *stop, 1),
                    [start, stop] => (*start, *stop, 1),
                    [start, stop, step] => (*start, *stop, *step),
                    _ => (0, 0, 1),
                };
                if step == 0 {
                    return Err(self.exc(
                        pos,
                        "ValueError",
                        "range() step argument must not be zero",
                    ));
                }
                let mut out = Vec::new();
                let mut i = start;
                while (step > 0 && i < stop) || (step < 0 && i > stop) {
                    if out.len() >= MAX_ITEMS {
                        return Err(self.fail(pos, ErrorKind::Limit, "range() result too long"));
                    }
                    out.push(Value::Int(i));
                    let Some(next) = i.checked_add(step) else { break };
                    i = next;
                }
                Ok(Value::list(out))
            }
            Builtin::OsUname => {
                arity(0, 0)?;
                let u = &self.host.uname;
                Ok(Value::tuple(u.iter().map(|s| Value::str(s)).collect()))
            }
            Builtin::ReSearch | Builtin::ReMatch => {
                arity(2, 2)?;
                let (Some(Value::Str(p)), Some(Value::Str(s))) = (args.first(), args.get(1)) else {
                    return Err(self.exc(
                        pos,
                        "TypeError",
                        format!("{}() takes a pattern string and a string", b.name()),
                    ));
                };
                let re = Regex::new(p).map_err(|m| {
                    self.fail(
                        pos,
                        ErrorKind::Unsupported,
                        format!("{}: pattern {p:?}: {m}", b.name()),
                    )
                })?;
                let found = re
                    .find(s, b == Builtin::ReMatch)
                    .map_err(|m| self.fail(pos, ErrorKind::Limit, format!("{}: {m}", b.name())))?;
                Ok(found.map_or(Value::None, |g| Value::Match(Rc::from(g))))
            }
            Builtin::XmVarsVar => self.xm_vars_var(args, kwargs, pos),
            Builtin::XmVarsCheck => {
                arity(0, 0)?;
                self.xm_vars_check(pos)?;
                Ok(Value::None)
            }
            Builtin::InetAton => {
                arity(1, 1)?;
                let n = self.inet_aton(args.first(), pos)?;
                Ok(Value::Int(i64::from(n)))
            }
            Builtin::InetNtoa => {
                arity(1, 1)?;
                let n = args.first().and_then(Value::as_int).ok_or_else(|| self.exc(pos, "TypeError", "an integer is required"))?;
                Ok(Value::str(&self.inet_ntoa(n, pos)?))
            }
            Builtin::AddOffsetToIp => {
                arity(2, 2)?;
                let n = self.inet_aton(args.first(), pos)?;
                let off = args.get(1).and_then(Value::as_int).ok_or_else(|| self.exc(pos, "TypeError", "an integer is required"))?;
                let sum = i64::from(n).checked_add(off).ok_or_else(|| self.overflow(pos))?;
                Ok(Value::str(&self.inet_ntoa(sum, pos)?))
            }
            Builtin::CheckSubnet => {
                arity(3, 3)?;
                let ip = self.inet_aton(args.first(), pos)?;
                let net = self.inet_aton(args.get(1), pos)?;
                let mask = self.inet_aton(args.get(2), pos)?;
                Ok(Value::Bool(ip & mask == net & mask))
            }
            Builtin::HostNetwork(name) => Err(self.fail(
                pos,
                ErrorKind::Unsupported,
                format!("{name}() reads the host's network configuration, which domain configuration files do not see here"),
            )),
        }
    }

    /// `socket.inet_aton` of a dotted quad, as a 32-bit number.
    fn inet_aton(&self, v: Option<&Value>, pos: Pos) -> R<u32> {
        let Some(Value::Str(s)) = v else {
            return Err(self.exc(pos, "TypeError", "inet_aton() argument 1 must be string"));
        };
        let parts: Vec<Option<u8>> = s.split('.').map(|p| p.parse::<u8>().ok()).collect();
        match parts.as_slice() {
            [Some(a), Some(b), Some(c), Some(d)] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => Err(self.exc(pos, "error", "illegal IP address string passed to inet_aton")),
        }
    }

    /// `socket.inet_ntoa` of a 32-bit number.
    fn inet_ntoa(&self, n: i64, pos: Pos) -> R<String> {
        let n = u32::try_from(n)
            .map_err(|_| self.exc(pos, "error", "'I' format requires 0 <= number <= 4294967295"))?;
        let [a, b, c, d] = n.to_be_bytes();
        Ok(format!("{a}.{b}.{c}.{d}"))
    }

    /// `xm_vars.var(name, use=None, check=None)` (`xen.xm.help.Vars.var`).
    fn xm_vars_var(
        &mut self,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
        pos: Pos,
    ) -> R<Value> {
        let mut slots: [Option<Value>; 3] = [None, None, None];
        if args.len() > 3 {
            return Err(self.exc(pos, "TypeError", "var() takes at most 4 arguments"));
        }
        for (slot, a) in slots.iter_mut().zip(args) {
            *slot = Some(a);
        }
        for (k, v) in kwargs {
            let i = match k.as_str() {
                "name" => 0,
                "use" => 1,
                "check" => 2,
                _ => {
                    return Err(self.exc(
                        pos,
                        "TypeError",
                        format!("var() got an unexpected keyword argument '{k}'"),
                    ));
                }
            };
            let Some(slot) = slots.get_mut(i) else { continue };
            if slot.is_some() {
                return Err(self.exc(
                    pos,
                    "TypeError",
                    format!("var() got multiple values for keyword argument '{k}'"),
                ));
            }
            *slot = Some(v);
        }
        let [name, usage, check] = slots;
        let Some(Value::Str(name)) = name else {
            return Err(self.exc(pos, "TypeError", "xm_vars.var() needs a variable name string"));
        };
        let usage = match usage {
            None | Some(Value::None) => String::new(),
            Some(v) => v.to_str(),
        };
        let check = check.filter(|c| !matches!(c, Value::None));
        self.declared.push(DeclaredVar { name: name.to_string(), usage, location: self.loc(pos) });
        self.checks.push((name.to_string(), check, pos));
        Ok(Value::None)
    }

    /// `xm_vars.check()`: each declared variable's check runs on its value
    /// (`None` when unset) and its result replaces it; an exception becomes
    /// `name - message`, as `Var.doCheck` re-raises it. In help mode
    /// (`xm create --help_config`) nothing is checked.
    fn xm_vars_check(&mut self, pos: Pos) -> R<()> {
        if self.help {
            return Ok(());
        }
        let checks = self.checks.clone();
        for (name, check, _) in checks {
            let Some(check) = check else { continue };
            let current = self.module.get(&name).map_or(Value::None, |(v, _)| v.clone());
            match self.call(&check, vec![Value::str(&name), current], Vec::new(), pos) {
                Ok(v) => {
                    let at = self.module.get(&name).and_then(|(_, p)| *p);
                    self.set_module(&name, v, at.or(Some(pos)));
                }
                Err(Raised { error, class: Some(class) }) => {
                    // str(ex) is the exception's message without its class.
                    let text = error.message.strip_prefix(class).unwrap_or(&error.message);
                    let text = text.strip_prefix(": ").unwrap_or(text);
                    return Err(self.exc(pos, class, format!("{name} - {text}")));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    pub(super) fn call_method(
        &mut self,
        obj: &Value,
        m: &str,
        args: Vec<Value>,
        pos: Pos,
    ) -> R<Value> {
        let str_arg = |i: usize| -> R<Option<Rc<str>>> {
            match args.get(i) {
                None | Some(Value::None) => Ok(None),
                Some(Value::Str(s)) => Ok(Some(s.clone())),
                Some(v) => Err(self.exc(
                    pos,
                    "TypeError",
                    format!("expected a string, not {}", v.type_name()),
                )),
            }
        };
        let nargs = |lo: usize, hi: usize| -> R<()> {
            if args.len() < lo || args.len() > hi {
                return Err(self.exc(
                    pos,
                    "TypeError",
                    format!("{m}() takes {lo} to {hi} arguments ({} given)", args.len()),
                ));
            }
            Ok(())
        };
        match obj {
            Value::List(l) => {
                nargs(1, 1)?;
                if l.borrow().len() >= MAX_ITEMS {
                    return Err(self.fail(pos, ErrorKind::Limit, "list too long"));
                }
                l.borrow_mut().extend(args.first().cloned());
                self.mutated.push(Rc::downgrade(l));
                Ok(Value::None)
            }
            Value::Match(groups) => {
                nargs(0, 1)?;
                let g = match args.first() {
                    Some(v) => {
                        v.as_int().ok_or_else(|| self.exc(pos, "IndexError", "no such group"))?
                    }
                    None => 0,
                };
                let g =
                    usize::try_from(g).map_err(|_| self.exc(pos, "IndexError", "no such group"))?;
                match groups.get(g) {
                    Some(Some(s)) => Ok(Value::str(s)),
                    Some(None) => Ok(Value::None),
                    None => Err(self.exc(pos, "IndexError", "no such group")),
                }
            }
            Value::Str(s) => match m {
                "strip" | "lstrip" | "rstrip" => {
                    nargs(0, 1)?;
                    let set = str_arg(0)?;
                    let pred = |c: char| match &set {
                        Some(set) => set.contains(c),
                        None => c.is_ascii_whitespace(),
                    };
                    let r = match m {
                        "strip" => s.trim_matches(pred),
                        "lstrip" => s.trim_start_matches(pred),
                        _ => s.trim_end_matches(pred),
                    };
                    Ok(Value::str(r))
                }
                "lower" => {
                    nargs(0, 0)?;
                    Ok(Value::str(&s.to_ascii_lowercase()))
                }
                "upper" => {
                    nargs(0, 0)?;
                    Ok(Value::str(&s.to_ascii_uppercase()))
                }
                "startswith" | "endswith" => {
                    nargs(1, 1)?;
                    let p = str_arg(0)?.unwrap_or_default();
                    Ok(Value::Bool(if m == "startswith" {
                        s.starts_with(&*p)
                    } else {
                        s.ends_with(&*p)
                    }))
                }
                "find" => {
                    nargs(1, 1)?;
                    let p = str_arg(0)?.unwrap_or_default();
                    let at = s.find(&*p).map_or(-1, |b| {
                        i64::try_from(s.get(..b).unwrap_or("").chars().count()).unwrap_or(-1)
                    });
                    Ok(Value::Int(at))
                }
                "replace" => {
                    nargs(2, 2)?;
                    let (from, to) =
                        (str_arg(0)?.unwrap_or_default(), str_arg(1)?.unwrap_or_default());
                    let out = if from.is_empty() { s.to_string() } else { s.replace(&*from, &to) };
                    if out.len() > MAX_LEN {
                        return Err(self.fail(pos, ErrorKind::Limit, "string too long"));
                    }
                    Ok(Value::str(&out))
                }
                "split" => {
                    nargs(0, 1)?;
                    let parts: Vec<Value> = match str_arg(0)? {
                        Some(sep) if sep.is_empty() => {
                            return Err(self.exc(pos, "ValueError", "empty separator"));
                        }
                        Some(sep) => s.split(&*sep).map(Value::str).collect(),
                        None => s.split_ascii_whitespace().map(Value::str).collect(),
                    };
                    Ok(Value::list(parts))
                }
                "join" => {
                    nargs(1, 1)?;
                    let items = self.iterate(args.first().unwrap_or(&Value::None), pos)?;
                    let mut parts = Vec::with_capacity(items.len());
                    for it in items {
                        let Value::Str(t) = it else {
                            return Err(self.exc(
                                pos,
                                "TypeError",
                                format!("sequence item: expected string, {} found", it.type_name()),
                            ));
                        };
                        parts.push(t);
                    }
                    let out = parts.iter().map(|p| &**p).collect::<Vec<&str>>().join(s);
                    if out.len() > MAX_LEN {
                        return Err(self.fail(pos, ErrorKind::Limit, "string too long"));
                    }
                    Ok(Value::str(&out))
                }
                _ => Err(self.exc(
                    pos,
                    "AttributeError",
                    format!("'str' object has no attribute '{m}'"),
                )),
            },
            _ => Err(self.exc(
                pos,
                "AttributeError",
                format!("'{}' object has no attribute '{m}'", obj.type_name()),
            )),
        }
    }

    /// `int(s, base)` with Python 2's rules (spaces, sign, `0x` for base 16
    /// or 0, trailing `L`).
    fn int_from_str(&self, s: &str, base: i64, pos: Pos) -> R<Value> {
        let bad = || {
            self.exc(
                pos,
                "ValueError",
                format!("invalid literal for int() with base {base}: {}", Value::str(s).repr()),
            )
        };
        let t = s.trim();
        let (neg, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let lower = digits.to_ascii_lowercase();
        let (digits, radix) = match base {
            0 => {
                if let Some(h) = lower.strip_prefix("0x") {
                    (h.to_string(), 16)
                } else if let Some(o) = lower.strip_prefix("0o") {
                    (o.to_string(), 8)
                } else if lower.len() > 1 && lower.starts_with('0') {
                    (lower.clone(), 8)
                } else {
                    (lower.clone(), 10)
                }
            }
            16 => (lower.strip_prefix("0x").unwrap_or(&lower).to_string(), 16),
            2..=36 => (lower.clone(), u32::try_from(base).unwrap_or(10)),
            _ => return Err(self.exc(pos, "ValueError", "int() base must be >= 2 and <= 36")),
        };
        if digits.is_empty() || digits.starts_with(['+', '-']) {
            return Err(bad());
        }
        let mag = u64::from_str_radix(&digits, radix).map_err(|_| bad())?;
        let v = if neg { 0i64.checked_sub_unsigned(mag) } else { i64::try_from(mag).ok() };
        v.map(Value::Int).ok_or_else(|| self.overflow(pos))
    }
}
