// SPDX-License-Identifier: GPL-2.0-only
//! Runtime values of the evaluator, with Python 2's `str`, `repr`, truth
//! and comparison rules.

use super::ast::FuncDef;
use crate::sxp::{py_float_str, py_repr_str};
use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

/// The modules a configuration file can import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Module {
    Os,
    OsPath,
    Re,
    Sys,
}

impl Module {
    pub fn name(self) -> &'static str {
        match self {
            Module::Os => "os",
            Module::OsPath => "os.path",
            Module::Re => "re",
            Module::Sys => "sys",
        }
    }
}

/// Built-in functions and methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    Int,
    Str,
    Len,
    Range,
    OsUname,
    ReSearch,
    ReMatch,
    XmVarsVar,
    XmVarsCheck,
    /// `xen.util.ip.inet_aton`.
    InetAton,
    /// `xen.util.ip.inet_ntoa`.
    InetNtoa,
    /// `xen.util.ip.add_offset_to_ip`.
    AddOffsetToIp,
    /// `xen.util.ip.check_subnet`.
    CheckSubnet,
    /// `xen.util.ip.get_current_ipaddr`/`ipmask`/`ipgw`: the host's network.
    HostNetwork(&'static str),
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Int => "int",
            Builtin::Str => "str",
            Builtin::Len => "len",
            Builtin::Range => "range",
            Builtin::OsUname => "os.uname",
            Builtin::ReSearch => "re.search",
            Builtin::ReMatch => "re.match",
            Builtin::XmVarsVar => "xm_vars.var",
            Builtin::XmVarsCheck => "xm_vars.check",
            Builtin::InetAton => "inet_aton",
            Builtin::InetNtoa => "inet_ntoa",
            Builtin::AddOffsetToIp => "add_offset_to_ip",
            Builtin::CheckSubnet => "check_subnet",
            Builtin::HostNetwork(name) => name,
        }
    }
}

/// A value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<Seq>),
    /// Immutable by the language; the same storage as lists.
    Tuple(Rc<Seq>),
    Func(Rc<FuncDef>),
    Builtin(Builtin),
    /// A method bound to its object (`"a,b".split`, `l.append`).
    Method(Box<Value>, &'static str),
    Module(Module),
    /// The `xm_vars` object.
    XmVars,
    /// A successful `re.search`: the groups' text (group 0 first).
    Match(Rc<[Option<String>]>),
}

impl Value {
    pub fn str(s: &str) -> Self {
        Value::Str(Rc::from(s))
    }

    pub fn list(items: Vec<Value>) -> Self {
        Value::List(Rc::new(Seq(RefCell::new(items))))
    }

    pub fn tuple(items: Vec<Value>) -> Self {
        Value::Tuple(Rc::new(Seq(RefCell::new(items))))
    }

    /// Python 2's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Func(_) => "function",
            Value::Builtin(_) | Value::Method(..) => "builtin_function_or_method",
            Value::Module(_) => "module",
            Value::XmVars => "instance",
            Value::Match(_) => "_sre.SRE_Match",
        }
    }

    /// Python's truth value.
    pub fn truthy(&self) -> bool {
        match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.borrow().is_empty(),
            Value::Tuple(t) => !t.borrow().is_empty(),
            _ => true,
        }
    }

    /// An integer view of ints and bools.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// A float view of numbers.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            #[allow(
                clippy::cast_precision_loss,
                reason = "Python converts int to float the same way"
            )]
            _ => self.as_int().map(|n| n as f64),
        }
    }

    /// `str(value)`.
    pub fn to_str(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            Value::Float(f) => py_float_str(*f),
            _ => self.repr(),
        }
    }

    /// `repr(value)`; containers nested past [`MAX_NESTING`] (or
    /// containing themselves) print as `[...]`, as Python prints a list
    /// that contains itself.
    pub fn repr(&self) -> String {
        self.repr_at(0)
    }

    fn repr_at(&self, depth: usize) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(n) => n.to_string(),
            Value::Float(f) => py_float_repr(*f),
            Value::Str(s) => py_repr_str(s),
            Value::List(_) if depth >= MAX_NESTING => "[...]".into(),
            Value::Tuple(_) if depth >= MAX_NESTING => "(...)".into(),
            Value::List(l) => {
                let items: Vec<String> =
                    l.borrow().iter().map(|v| v.repr_at(depth.saturating_add(1))).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Tuple(t) => {
                let items: Vec<String> =
                    t.borrow().iter().map(|v| v.repr_at(depth.saturating_add(1))).collect();
                if items.len() == 1 {
                    format!("({},)", items.join(""))
                } else {
                    format!("({})", items.join(", "))
                }
            }
            Value::Func(f) => format!("<function {}>", f.name),
            Value::Builtin(b) => format!("<built-in function {}>", b.name()),
            Value::Method(_, m) => format!("<built-in method {m}>"),
            Value::Module(m) => format!("<module '{}'>", m.name()),
            Value::XmVars => "<xen.xm.help.Vars instance>".into(),
            Value::Match(_) => "<_sre.SRE_Match object>".into(),
        }
    }

    /// `a == b` (numbers compare across int, bool and float); containers
    /// nested past [`MAX_NESTING`] compare unequal.
    pub fn equals(&self, other: &Value) -> bool {
        self.equals_at(other, 0)
    }

    fn equals_at(&self, other: &Value, depth: usize) -> bool {
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
                if Rc::ptr_eq(a, b) {
                    return true;
                }
                if depth >= MAX_NESTING {
                    return false;
                }
                let (a, b) = (a.borrow(), b.borrow());
                a.len() == b.len()
                    && a.iter().zip(b.iter()).all(|(x, y)| x.equals_at(y, depth.saturating_add(1)))
            }
            (Value::Float(_), _) | (_, Value::Float(_)) => {
                match (self.as_float(), other.as_float()) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                }
            }
            (Value::Int(_) | Value::Bool(_), Value::Int(_) | Value::Bool(_)) => {
                self.as_int() == other.as_int()
            }
            (Value::Module(a), Value::Module(b)) => a == b,
            (Value::Builtin(a), Value::Builtin(b)) => a == b,
            (Value::Func(a), Value::Func(b)) => Rc::ptr_eq(a, b),
            (Value::XmVars, Value::XmVars) => true,
            _ => false,
        }
    }

    /// Ordering of numbers, strings, lists and tuples; `None` across other
    /// types (Python 2 orders them arbitrarily; this evaluator refuses) and
    /// past [`MAX_NESTING`].
    pub fn compare(&self, other: &Value) -> Option<core::cmp::Ordering> {
        self.compare_at(other, 0)
    }

    fn compare_at(&self, other: &Value, depth: usize) -> Option<core::cmp::Ordering> {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Value::Int(_) | Value::Bool(_), Value::Int(_) | Value::Bool(_)) => {
                Some(self.as_int()?.cmp(&other.as_int()?))
            }
            (
                Value::Float(_) | Value::Int(_) | Value::Bool(_),
                Value::Float(_) | Value::Int(_) | Value::Bool(_),
            ) => self.as_float()?.partial_cmp(&other.as_float()?),
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
                if depth >= MAX_NESTING {
                    return None;
                }
                let (a, b) = (a.borrow(), b.borrow());
                for (x, y) in a.iter().zip(b.iter()) {
                    if !x.equals_at(y, depth.saturating_add(1)) {
                        return x.compare_at(y, depth.saturating_add(1));
                    }
                }
                Some(a.len().cmp(&b.len()))
            }
            _ => None,
        }
    }
}

/// How deep the recursive operations (`repr`, `==`, ordering, conversion
/// out of the evaluator) look into nested lists and tuples.
pub(crate) const MAX_NESTING: usize = 64;

/// A list's or tuple's items. Dropping one never recurses: nested
/// containers that nothing else holds are taken apart on a work list, so a
/// list nested a million deep (`l = [l]` in a loop) is freed like a flat one.
#[derive(Debug)]
pub(crate) struct Seq(RefCell<Vec<Value>>);

impl Seq {
    pub fn borrow(&self) -> Ref<'_, Vec<Value>> {
        self.0.borrow()
    }

    pub fn borrow_mut(&self) -> RefMut<'_, Vec<Value>> {
        self.0.borrow_mut()
    }

    /// Empties the container (breaking any cycle through it).
    pub fn clear(&self) {
        let items = core::mem::take(&mut *self.0.borrow_mut());
        drop(items);
    }
}

impl Drop for Seq {
    fn drop(&mut self) {
        let mut work: Vec<Value> = core::mem::take(self.0.get_mut());
        while let Some(v) = work.pop() {
            match v {
                Value::List(rc) | Value::Tuple(rc) => {
                    if let Ok(mut seq) = Rc::try_unwrap(rc) {
                        work.append(seq.0.get_mut());
                    }
                }
                Value::Method(obj, _) => work.push(*obj),
                _ => {}
            }
        }
    }
}

/// Python 2.7's `repr(float)`: the shortest text that reads back, in
/// positional form for exponents -4..16, else as `1.5e+20`.
pub(crate) fn py_float_repr(f: f64) -> String {
    if !f.is_finite() {
        return py_float_str(f);
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = usize::try_from(exp).unwrap_or(0).saturating_add(1);
            let mut int_part: String = digits.chars().take(int_len).collect();
            while int_part.len() < int_len {
                int_part.push('0');
            }
            let frac: String = digits.chars().skip(int_len).collect();
            format!("{int_part}.{}", if frac.is_empty() { "0" } else { &frac })
        } else {
            let zeros = usize::try_from(exp.unsigned_abs().saturating_sub(1)).unwrap_or(0);
            format!("0.{}{digits}", "0".repeat(zeros))
        }
    } else {
        let e_sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{e_sign}{:02}", exp.unsigned_abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_is_python27s() {
        for (f, want) in [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (123456789012345.0, "123456789012345.0"),
            (1e16, "1e+16"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
        ] {
            assert_eq!(py_float_repr(f), want, "{f}");
        }
        assert_eq!(Value::Float(1.0 / 3.0).to_str(), "0.333333333333");
        assert_eq!(Value::list(vec![Value::Float(0.5), Value::str("a")]).to_str(), "[0.5, 'a']");
    }
}
