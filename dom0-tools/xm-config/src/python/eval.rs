// SPDX-License-Identifier: GPL-2.0-only
//! The tree-walking evaluator: runs the parsed subset over a sandbox.
//!
//! Nothing in a file reaches the host: the only host facts are those the
//! caller passes in ([`Host`]), the only modules are shims of `os`
//! (`uname()`), `os.path` (no functions), `re` (`search`, `match`) and
//! `sys` (none), and every other attribute or call is an error. Scoping is
//! that of `execfile(path, globs, locs)` with separate dicts, as xm runs
//! files: top-level statements bind module variables, functions see only
//! their own locals and the built-ins (`int`, `str`, `len`, `range`,
//! `True`, `False`, `None`). Every step costs fuel and calls nest to a
//! limit, so every input ends.

use super::ast::{BinOp, CmpOp, Expr, ExprKind, FuncDef, Stmt, StmtKind, Target};
use super::format::{MAX_LEN, format};
use super::regex::Regex;
use super::value::{Builtin, Module, Value};
use super::{DeclaredVar, Host, Pos};
use crate::error::{Error, ErrorKind, Location};
use std::collections::HashMap;
use std::rc::Rc;

const FUEL: u64 = 2_000_000;
const MAX_CALL_DEPTH: u32 = 40;
const MAX_ITEMS: usize = 100_000;

/// An error, or a Python exception that `xm_vars.check` may catch.
pub(crate) struct Raised {
    pub error: Error,
    /// The Python exception class, for errors a Python program could catch.
    pub class: Option<&'static str>,
}

type R<T> = Result<T, Raised>;

enum Flow {
    Normal,
    Return(Value),
}

/// A function call's local variables.
type Frame = HashMap<String, Value>;

pub(crate) struct Interp<'h> {
    file: Rc<str>,
    host: &'h Host,
    help: bool,
    fuel: u64,
    depth: u32,
    /// Module variables and where each was last bound.
    pub module: HashMap<String, (Value, Option<Pos>)>,
    /// Module variables in first-binding order.
    pub order: Vec<String>,
    pub declared: Vec<DeclaredVar>,
    checks: Vec<(String, Option<Value>, Pos)>,
}

impl<'h> Interp<'h> {
    pub fn new(file: Rc<str>, host: &'h Host, help: bool) -> Self {
        Interp {
            file,
            host,
            help,
            fuel: FUEL,
            depth: 0,
            module: HashMap::new(),
            order: Vec::new(),
            declared: Vec::new(),
            checks: Vec::new(),
        }
    }

    pub fn loc(&self, pos: Pos) -> Location {
        Location::File { file: self.file.clone(), line: pos.line, col: pos.col }
    }

    fn fail(&self, pos: Pos, kind: ErrorKind, msg: impl Into<String>) -> Raised {
        Raised { error: Error::at(kind, self.loc(pos), msg), class: None }
    }

    /// A Python exception of `class` (the message reads `Class: text`).
    fn exc(&self, pos: Pos, class: &'static str, msg: impl Into<String>) -> Raised {
        let kind = match class {
            "NameError" => ErrorKind::Name,
            "TypeError" | "AttributeError" => ErrorKind::Type,
            _ => ErrorKind::Value,
        };
        let msg = msg.into();
        let text = if msg.is_empty() { class.to_string() } else { format!("{class}: {msg}") };
        Raised { error: Error::at(kind, self.loc(pos), text), class: Some(class) }
    }

    /// Binds a module variable (used for the names xm predefines).
    pub fn set_module(&mut self, name: &str, value: Value, pos: Option<Pos>) {
        if !self.module.contains_key(name) {
            self.order.push(name.to_string());
        }
        self.module.insert(name.to_string(), (value, pos));
    }

    pub fn run_module(&mut self, body: &[Stmt]) -> Result<(), Error> {
        match self.block(body, &mut None) {
            Ok(Flow::Normal) => Ok(()),
            Ok(Flow::Return(_)) => Err(Error::new(ErrorKind::Syntax, "'return' outside function")),
            Err(r) => Err(r.error),
        }
    }

    fn tick(&mut self, pos: Pos) -> R<()> {
        self.fuel = self.fuel.checked_sub(1).ok_or_else(|| {
            self.fail(
                pos,
                ErrorKind::Limit,
                "evaluation step limit reached (the file runs too long)",
            )
        })?;
        Ok(())
    }

    fn block(&mut self, body: &[Stmt], frame: &mut Option<Frame>) -> R<Flow> {
        for stmt in body {
            if let Flow::Return(v) = self.stmt(stmt, frame)? {
                return Ok(Flow::Return(v));
            }
        }
        Ok(Flow::Normal)
    }

    fn stmt(&mut self, stmt: &Stmt, frame: &mut Option<Frame>) -> R<Flow> {
        self.tick(stmt.pos)?;
        match &stmt.kind {
            StmtKind::Expr(e) => {
                self.expr(e, frame)?;
            }
            StmtKind::Assign(targets, value) => {
                let v = self.expr(value, frame)?;
                for t in targets {
                    self.assign(t, v.clone(), frame)?;
                }
            }
            StmtKind::AugAssign(target, op, value) => {
                let current = match target {
                    Target::Name(n, p) => self.lookup(n, *p, frame)?,
                    Target::Index(obj, idx, p) => {
                        let o = self.expr(obj, frame)?;
                        let i = self.expr(idx, frame)?;
                        self.index(&o, &i, *p)?
                    }
                    Target::Tuple(_, p) => {
                        return Err(self.fail(
                            *p,
                            ErrorKind::Syntax,
                            "illegal augmented assignment",
                        ));
                    }
                };
                let rhs = self.expr(value, frame)?;
                // `l += x` extends a list in place, as Python does.
                let result = match (&current, op) {
                    (Value::List(l), BinOp::Add) => {
                        let extra = self.iterate(&rhs, value.pos)?;
                        if l.borrow().len().saturating_add(extra.len()) > MAX_ITEMS {
                            return Err(self.fail(value.pos, ErrorKind::Limit, "list too long"));
                        }
                        l.borrow_mut().extend(extra);
                        current.clone()
                    }
                    _ => self.binary(*op, &current, &rhs, value.pos)?,
                };
                self.assign(target, result, frame)?;
            }
            StmtKind::If(arms, orelse) => {
                for (cond, body) in arms {
                    if self.expr(cond, frame)?.truthy() {
                        return self.block(body, frame);
                    }
                }
                return self.block(orelse, frame);
            }
            StmtKind::For(target, iter, body) => {
                let items = {
                    let v = self.expr(iter, frame)?;
                    self.iterate(&v, iter.pos)?
                };
                for item in items {
                    self.assign(target, item, frame)?;
                    if let Flow::Return(v) = self.block(body, frame)? {
                        return Ok(Flow::Return(v));
                    }
                }
            }
            StmtKind::Def(def) => {
                self.assign(
                    &Target::Name(def.name.clone(), stmt.pos),
                    Value::Func(def.clone()),
                    frame,
                )?;
            }
            StmtKind::Return(value) => {
                if frame.is_none() {
                    return Err(self.fail(
                        stmt.pos,
                        ErrorKind::Syntax,
                        "'return' outside function",
                    ));
                }
                let v = match value {
                    Some(e) => self.expr(e, frame)?,
                    None => Value::None,
                };
                return Ok(Flow::Return(v));
            }
            StmtKind::Raise(exc, msg) => {
                return Err(self.raise(exc.as_ref(), msg.as_ref(), stmt.pos, frame));
            }
            StmtKind::Pass => {}
            StmtKind::Import(names) => {
                for (name, pos) in names {
                    let module = match name.as_str() {
                        "os" | "os.path" => Module::Os,
                        "re" => Module::Re,
                        "sys" => Module::Sys,
                        other => {
                            return Err(self.fail(
                                *pos,
                                ErrorKind::Unsupported,
                                format!("ImportError: module {other} is not available to domain configuration files (only os, os.path, re and sys are)"),
                            ));
                        }
                    };
                    self.assign(
                        &Target::Name(module.name().to_string(), *pos),
                        Value::Module(module),
                        frame,
                    )?;
                }
            }
            StmtKind::FromImport(module) => {
                return Err(self.fail(
                    stmt.pos,
                    ErrorKind::Unsupported,
                    format!(
                        "'from {module} import' is not supported in domain configuration files"
                    ),
                ));
            }
        }
        Ok(Flow::Normal)
    }

    fn raise(
        &mut self,
        exc: Option<&Expr>,
        msg: Option<&Expr>,
        pos: Pos,
        frame: &mut Option<Frame>,
    ) -> Raised {
        let Some(exc) = exc else {
            return self.fail(pos, ErrorKind::Unsupported, "bare 'raise' outside an except clause");
        };
        // `raise ValueError`, `raise ValueError("m")`, `raise ValueError, "m"`.
        let (class_expr, args): (&Expr, &[Expr]) = match &exc.kind {
            ExprKind::Call(callee, args, kw) if kw.is_empty() => (callee, args),
            _ => (exc, &[]),
        };
        let ExprKind::Name(class) = &class_expr.kind else {
            return self.fail(
                pos,
                ErrorKind::Unsupported,
                "only built-in exception classes can be raised",
            );
        };
        let Some(class) = EXCEPTIONS.iter().find(|c| **c == class.as_str()) else {
            return self.fail(
                pos,
                ErrorKind::Unsupported,
                format!("unknown exception class {class}"),
            );
        };
        let mut text = String::new();
        let message = msg.or(args.first());
        if let Some(m) = message {
            match self.expr(m, frame) {
                Ok(v) => text = v.to_str(),
                Err(e) => return e,
            }
        }
        self.exc(pos, class, text)
    }

    fn assign(&mut self, target: &Target, value: Value, frame: &mut Option<Frame>) -> R<()> {
        match target {
            Target::Name(name, pos) => {
                match frame {
                    Some(f) => {
                        f.insert(name.clone(), value);
                    }
                    None => self.set_module(name, value, Some(*pos)),
                }
                Ok(())
            }
            Target::Tuple(targets, pos) => {
                let items = self.iterate(&value, *pos)?;
                if items.len() != targets.len() {
                    let msg = if items.len() > targets.len() {
                        "too many values to unpack".to_string()
                    } else {
                        format!("need more than {} values to unpack", items.len())
                    };
                    return Err(self.exc(*pos, "ValueError", msg));
                }
                for (t, v) in targets.iter().zip(items) {
                    self.assign(t, v, frame)?;
                }
                Ok(())
            }
            Target::Index(obj, idx, pos) => {
                let o = self.expr(obj, frame)?;
                let i = self.expr(idx, frame)?;
                let Value::List(l) = &o else {
                    return Err(self.exc(
                        *pos,
                        "TypeError",
                        format!("'{}' object does not support item assignment", o.type_name()),
                    ));
                };
                let len = l.borrow().len();
                let at = self.seq_index(&i, len, *pos)?;
                if let Some(slot) = l.borrow_mut().get_mut(at) {
                    *slot = value;
                }
                Ok(())
            }
        }
    }

    fn lookup(&self, name: &str, pos: Pos, frame: &Option<Frame>) -> R<Value> {
        match frame {
            Some(f) => {
                if let Some(v) = f.get(name) {
                    return Ok(v.clone());
                }
            }
            None => {
                if let Some((v, _)) = self.module.get(name) {
                    return Ok(v.clone());
                }
            }
        }
        let builtin = match name {
            "None" => Value::None,
            "True" => Value::Bool(true),
            "False" => Value::Bool(false),
            "int" => Value::Builtin(Builtin::Int),
            "str" => Value::Builtin(Builtin::Str),
            "len" => Value::Builtin(Builtin::Len),
            "range" => Value::Builtin(Builtin::Range),
            _ if frame.is_some() => {
                return Err(self.exc(
                    pos,
                    "NameError",
                    format!("global name '{name}' is not defined"),
                ));
            }
            _ => return Err(self.exc(pos, "NameError", format!("name '{name}' is not defined"))),
        };
        Ok(builtin)
    }

    fn expr(&mut self, e: &Expr, frame: &mut Option<Frame>) -> R<Value> {
        self.tick(e.pos)?;
        Ok(match &e.kind {
            ExprKind::Int(n) => Value::Int(*n),
            ExprKind::Float(f) => Value::Float(*f),
            ExprKind::Str(s) => Value::str(s),
            ExprKind::Name(n) => self.lookup(n, e.pos, frame)?,
            ExprKind::List(items) => {
                let v = items.iter().map(|i| self.expr(i, frame)).collect::<R<Vec<_>>>()?;
                Value::list(v)
            }
            ExprKind::Tuple(items) => {
                let v = items.iter().map(|i| self.expr(i, frame)).collect::<R<Vec<_>>>()?;
                Value::Tuple(Rc::from(v))
            }
            ExprKind::Attr(obj, name) => {
                let o = self.expr(obj, frame)?;
                self.attr(&o, name, e.pos)?
            }
            ExprKind::Index(obj, idx) => {
                let o = self.expr(obj, frame)?;
                let i = self.expr(idx, frame)?;
                self.index(&o, &i, e.pos)?
            }
            ExprKind::Slice(obj, lo, hi) => {
                let o = self.expr(obj, frame)?;
                let lo = match lo {
                    Some(x) => Some(self.expr(x, frame)?),
                    None => None,
                };
                let hi = match hi {
                    Some(x) => Some(self.expr(x, frame)?),
                    None => None,
                };
                self.slice(&o, lo.as_ref(), hi.as_ref(), e.pos)?
            }
            ExprKind::Call(callee, args, kwargs) => {
                let f = self.expr(callee, frame)?;
                let args = args.iter().map(|a| self.expr(a, frame)).collect::<R<Vec<_>>>()?;
                let mut kw = Vec::with_capacity(kwargs.len());
                for (k, v) in kwargs {
                    kw.push((k.clone(), self.expr(v, frame)?));
                }
                self.call(&f, args, kw, e.pos)?
            }
            ExprKind::Neg(x) => {
                let v = self.expr(x, frame)?;
                match v {
                    Value::Float(f) => Value::Float(-f),
                    _ => match v.as_int() {
                        Some(n) => Value::Int(n.checked_neg().ok_or_else(|| self.overflow(e.pos))?),
                        None => {
                            return Err(self.exc(
                                e.pos,
                                "TypeError",
                                format!("bad operand type for unary -: '{}'", v.type_name()),
                            ));
                        }
                    },
                }
            }
            ExprKind::Pos(x) => {
                let v = self.expr(x, frame)?;
                match v {
                    Value::Float(_) => v,
                    _ => match v.as_int() {
                        Some(n) => Value::Int(n),
                        None => {
                            return Err(self.exc(
                                e.pos,
                                "TypeError",
                                format!("bad operand type for unary +: '{}'", v.type_name()),
                            ));
                        }
                    },
                }
            }
            ExprKind::Not(x) => Value::Bool(!self.expr(x, frame)?.truthy()),
            ExprKind::Binary(op, a, b) => {
                let a = self.expr(a, frame)?;
                let b = self.expr(b, frame)?;
                self.binary(*op, &a, &b, e.pos)?
            }
            ExprKind::Compare(first, rest) => {
                let mut left = self.expr(first, frame)?;
                for (op, right) in rest {
                    let right = self.expr(right, frame)?;
                    if !self.compare(*op, &left, &right, e.pos)? {
                        return Ok(Value::Bool(false));
                    }
                    left = right;
                }
                Value::Bool(true)
            }
            ExprKind::And(a, b) => {
                let a = self.expr(a, frame)?;
                if !a.truthy() { a } else { self.expr(b, frame)? }
            }
            ExprKind::Or(a, b) => {
                let a = self.expr(a, frame)?;
                if a.truthy() { a } else { self.expr(b, frame)? }
            }
            ExprKind::IfElse(cond, a, b) => {
                if self.expr(cond, frame)?.truthy() {
                    self.expr(a, frame)?
                } else {
                    self.expr(b, frame)?
                }
            }
        })
    }

    fn overflow(&self, pos: Pos) -> Raised {
        // Python 2 would switch to `long`, a type xm then ignores.
        self.fail(pos, ErrorKind::Unsupported, "integer result does not fit in 64 bits")
    }

    fn iterate(&self, v: &Value, pos: Pos) -> R<Vec<Value>> {
        match v {
            Value::List(l) => Ok(l.borrow().clone()),
            Value::Tuple(t) => Ok(t.to_vec()),
            Value::Str(s) => {
                Ok(s.chars().map(|c| Value::str(c.encode_utf8(&mut [0u8; 4]))).collect())
            }
            _ => Err(self.exc(
                pos,
                "TypeError",
                format!("'{}' object is not iterable", v.type_name()),
            )),
        }
    }

    fn seq_index(&self, i: &Value, len: usize, pos: Pos) -> R<usize> {
        let Some(n) = i.as_int() else {
            return Err(self.exc(
                pos,
                "TypeError",
                format!("indices must be integers, not {}", i.type_name()),
            ));
        };
        let len_i = i64::try_from(len).unwrap_or(i64::MAX);
        let k = if n < 0 { n.checked_add(len_i) } else { Some(n) };
        match k.and_then(|k| usize::try_from(k).ok()).filter(|k| *k < len) {
            Some(k) => Ok(k),
            None => Err(self.exc(pos, "IndexError", "index out of range")),
        }
    }

    fn index(&self, o: &Value, i: &Value, pos: Pos) -> R<Value> {
        match o {
            Value::List(l) => {
                let l = l.borrow();
                let k = self.seq_index(i, l.len(), pos)?;
                Ok(l.get(k).cloned().unwrap_or(Value::None))
            }
            Value::Tuple(t) => {
                let k = self.seq_index(i, t.len(), pos)?;
                Ok(t.get(k).cloned().unwrap_or(Value::None))
            }
            Value::Str(s) => {
                let chars: Vec<char> = s.chars().collect();
                let k = self.seq_index(i, chars.len(), pos)?;
                Ok(chars.get(k).map_or(Value::None, |c| Value::str(c.encode_utf8(&mut [0u8; 4]))))
            }
            _ => Err(self.exc(
                pos,
                "TypeError",
                format!("'{}' object is not subscriptable", o.type_name()),
            )),
        }
    }

    fn slice(&self, o: &Value, lo: Option<&Value>, hi: Option<&Value>, pos: Pos) -> R<Value> {
        let bound = |v: Option<&Value>, len: usize, default: usize| -> R<usize> {
            let Some(v) = v else { return Ok(default) };
            if matches!(v, Value::None) {
                return Ok(default);
            }
            let n = v.as_int().ok_or_else(|| {
                self.exc(pos, "TypeError", "slice indices must be integers or None")
            })?;
            let len_i = i64::try_from(len).unwrap_or(i64::MAX);
            let k = if n < 0 { n.saturating_add(len_i).max(0) } else { n.min(len_i) };
            Ok(usize::try_from(k).unwrap_or(0))
        };
        match o {
            Value::List(l) => {
                let l = l.borrow();
                let (a, b) = (bound(lo, l.len(), 0)?, bound(hi, l.len(), l.len())?);
                Ok(Value::list(l.get(a..b.max(a)).unwrap_or(&[]).to_vec()))
            }
            Value::Tuple(t) => {
                let (a, b) = (bound(lo, t.len(), 0)?, bound(hi, t.len(), t.len())?);
                Ok(Value::Tuple(Rc::from(t.get(a..b.max(a)).unwrap_or(&[]))))
            }
            Value::Str(s) => {
                let chars: Vec<char> = s.chars().collect();
                let (a, b) = (bound(lo, chars.len(), 0)?, bound(hi, chars.len(), chars.len())?);
                Ok(Value::str(&chars.get(a..b.max(a)).unwrap_or(&[]).iter().collect::<String>()))
            }
            _ => Err(self.exc(
                pos,
                "TypeError",
                format!("'{}' object is not subscriptable", o.type_name()),
            )),
        }
    }

    fn attr(&self, o: &Value, name: &str, pos: Pos) -> R<Value> {
        let found = match (o, name) {
            (Value::Module(Module::Os), "uname") => Some(Value::Builtin(Builtin::OsUname)),
            (Value::Module(Module::Os), "path") => Some(Value::Module(Module::OsPath)),
            (Value::Module(Module::Re), "search") => Some(Value::Builtin(Builtin::ReSearch)),
            (Value::Module(Module::Re), "match") => Some(Value::Builtin(Builtin::ReMatch)),
            (Value::XmVars, "var") => Some(Value::Builtin(Builtin::XmVarsVar)),
            (Value::XmVars, "check") => Some(Value::Builtin(Builtin::XmVarsCheck)),
            (Value::Str(_), m) => {
                STR_METHODS.iter().find(|s| **s == m).map(|s| Value::Method(Box::new(o.clone()), s))
            }
            (Value::List(_), "append") => Some(Value::Method(Box::new(o.clone()), "append")),
            (Value::Match(_), "group") => Some(Value::Method(Box::new(o.clone()), "group")),
            _ => None,
        };
        match found {
            Some(v) => Ok(v),
            None if matches!(o, Value::Module(_)) => Err(self.fail(
                pos,
                ErrorKind::Unsupported,
                format!(
                    "{}.{name} is not available to domain configuration files",
                    o.repr().trim_start_matches("<module '").trim_end_matches("'>")
                ),
            )),
            None => Err(self.exc(
                pos,
                "AttributeError",
                format!("'{}' object has no attribute '{name}'", o.type_name()),
            )),
        }
    }

    fn call(
        &mut self,
        f: &Value,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
        pos: Pos,
    ) -> R<Value> {
        match f {
            Value::Func(def) => self.call_func(def, args, kwargs, pos),
            Value::Builtin(b) => self.call_builtin(*b, args, kwargs, pos),
            Value::Method(obj, m) => {
                if !kwargs.is_empty() {
                    return Err(self.exc(
                        pos,
                        "TypeError",
                        format!("{m}() takes no keyword arguments"),
                    ));
                }
                self.call_method(obj, m, args, pos)
            }
            _ => Err(self.exc(
                pos,
                "TypeError",
                format!("'{}' object is not callable", f.type_name()),
            )),
        }
    }

    fn call_func(
        &mut self,
        def: &Rc<FuncDef>,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
        pos: Pos,
    ) -> R<Value> {
        if self.depth >= MAX_CALL_DEPTH {
            return Err(self.fail(pos, ErrorKind::Limit, "maximum recursion depth exceeded"));
        }
        let nparams = def.params.len();
        if args.len() > nparams {
            return Err(self.exc(
                pos,
                "TypeError",
                format!("{}() takes at most {nparams} arguments ({} given)", def.name, args.len()),
            ));
        }
        let mut locals = Frame::new();
        let mut args = args.into_iter();
        let mut kwargs = kwargs;
        for (name, default) in &def.params {
            let v = if let Some(a) = args.next() {
                if kwargs.iter().any(|(k, _)| k == name) {
                    return Err(self.exc(
                        pos,
                        "TypeError",
                        format!("{}() got multiple values for keyword argument '{name}'", def.name),
                    ));
                }
                a
            } else if let Some(k) = kwargs.iter().position(|(k, _)| k == name) {
                kwargs.swap_remove(k).1
            } else if let Some(d) = default {
                // Defaults are evaluated at call time here, in module scope.
                self.expr(d, &mut None)?
            } else {
                return Err(self.exc(
                    pos,
                    "TypeError",
                    format!("{}() takes exactly {nparams} arguments", def.name),
                ));
            };
            locals.insert(name.clone(), v);
        }
        if let Some((k, _)) = kwargs.first() {
            return Err(self.exc(
                pos,
                "TypeError",
                format!("{}() got an unexpected keyword argument '{k}'", def.name),
            ));
        }
        self.depth = self.depth.saturating_add(1);
        let mut frame = Some(locals);
        let result = self.block(&def.body, &mut frame);
        self.depth = self.depth.saturating_sub(1);
        match result? {
            Flow::Return(v) => Ok(v),
            Flow::Normal => Ok(Value::None),
        }
    }

    fn call_builtin(
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
                    Some(Value::Tuple(t)) => t.len(),
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
                Ok(Value::Tuple(Rc::from(u.iter().map(|s| Value::str(s)).collect::<Vec<_>>())))
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
        }
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

    fn call_method(&mut self, obj: &Value, m: &str, args: Vec<Value>, pos: Pos) -> R<Value> {
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

    fn binary(&self, op: BinOp, a: &Value, b: &Value, pos: Pos) -> R<Value> {
        let type_err = || {
            self.exc(
                pos,
                "TypeError",
                format!(
                    "unsupported operand type(s) for {}: '{}' and '{}'",
                    op.symbol(),
                    a.type_name(),
                    b.type_name()
                ),
            )
        };
        // Sequences first.
        match (op, a, b) {
            (BinOp::Add, Value::Str(x), Value::Str(y)) => {
                if x.len().saturating_add(y.len()) > MAX_LEN {
                    return Err(self.fail(pos, ErrorKind::Limit, "string too long"));
                }
                return Ok(Value::str(&format!("{x}{y}")));
            }
            (BinOp::Add, Value::List(x), Value::List(y)) => {
                let mut v = x.borrow().clone();
                v.extend(y.borrow().iter().cloned());
                if v.len() > MAX_ITEMS {
                    return Err(self.fail(pos, ErrorKind::Limit, "list too long"));
                }
                return Ok(Value::list(v));
            }
            (BinOp::Add, Value::Tuple(x), Value::Tuple(y)) => {
                let v: Vec<Value> = x.iter().chain(y.iter()).cloned().collect();
                return Ok(Value::Tuple(Rc::from(v)));
            }
            (BinOp::Mod, Value::Str(f), args) => {
                return format(f, args).map(|s| Value::str(&s)).map_err(|m| {
                    let class =
                        if m.starts_with("unsupported format") || m.starts_with("incomplete") {
                            "ValueError"
                        } else {
                            "TypeError"
                        };
                    self.exc(pos, class, m)
                });
            }
            (BinOp::Mul, Value::Str(_) | Value::List(_) | Value::Tuple(_), n)
                if n.as_int().is_some() =>
            {
                return self.repeat(a, n.as_int().unwrap_or(0), pos);
            }
            (BinOp::Mul, n, Value::Str(_) | Value::List(_) | Value::Tuple(_))
                if n.as_int().is_some() =>
            {
                return self.repeat(b, n.as_int().unwrap_or(0), pos);
            }
            _ => {}
        }
        if let (Some(x), Some(y)) = (a.as_int(), b.as_int()) {
            let zero = || self.exc(pos, "ZeroDivisionError", "integer division or modulo by zero");
            let r = match op {
                BinOp::Add => x.checked_add(y),
                BinOp::Sub => x.checked_sub(y),
                BinOp::Mul => x.checked_mul(y),
                // Python 2: `/` on integers floors, like `//`.
                BinOp::Div | BinOp::FloorDiv => {
                    if y == 0 {
                        return Err(zero());
                    }
                    floor_div(x, y)
                }
                BinOp::Mod => {
                    if y == 0 {
                        return Err(zero());
                    }
                    floor_div(x, y).and_then(|q| q.checked_mul(y)).and_then(|p| x.checked_sub(p))
                }
                BinOp::Pow => {
                    if y < 0 {
                        return self.float_binary(op, a, b, pos);
                    }
                    u32::try_from(y).ok().and_then(|e| x.checked_pow(e))
                }
            };
            return r.map(Value::Int).ok_or_else(|| self.overflow(pos));
        }
        if a.as_float().is_some() && b.as_float().is_some() {
            return self.float_binary(op, a, b, pos);
        }
        Err(type_err())
    }

    fn float_binary(&self, op: BinOp, a: &Value, b: &Value, pos: Pos) -> R<Value> {
        let (x, y) = (a.as_float().unwrap_or(0.0), b.as_float().unwrap_or(0.0));
        if y == 0.0 && matches!(op, BinOp::Div | BinOp::FloorDiv | BinOp::Mod) {
            return Err(self.exc(pos, "ZeroDivisionError", "float division by zero"));
        }
        let r = match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
            BinOp::FloorDiv => (x / y).floor(),
            BinOp::Mod => {
                let m = x % y;
                if m != 0.0 && (m < 0.0) != (y < 0.0) { m + y } else { m }
            }
            BinOp::Pow => x.powf(y),
        };
        Ok(Value::Float(r))
    }

    fn repeat(&self, seq: &Value, n: i64, pos: Pos) -> R<Value> {
        let n = usize::try_from(n.max(0)).unwrap_or(0);
        let too_long = || self.fail(pos, ErrorKind::Limit, "repetition result too long");
        match seq {
            Value::Str(s) => {
                if s.len().saturating_mul(n) > MAX_LEN {
                    return Err(too_long());
                }
                Ok(Value::str(&s.repeat(n)))
            }
            Value::List(l) => {
                let l = l.borrow();
                if l.len().saturating_mul(n) > MAX_ITEMS {
                    return Err(too_long());
                }
                Ok(Value::list(l.iter().cloned().cycle().take(l.len().saturating_mul(n)).collect()))
            }
            Value::Tuple(t) => {
                if t.len().saturating_mul(n) > MAX_ITEMS {
                    return Err(too_long());
                }
                Ok(Value::Tuple(
                    t.iter().cloned().cycle().take(t.len().saturating_mul(n)).collect(),
                ))
            }
            _ => Ok(Value::None),
        }
    }

    fn compare(&self, op: CmpOp, a: &Value, b: &Value, pos: Pos) -> R<bool> {
        use core::cmp::Ordering::{Greater, Less};
        let order = || {
            a.compare(b).ok_or_else(|| {
                self.fail(
                    pos,
                    ErrorKind::Unsupported,
                    format!(
                        "cannot order '{}' and '{}' (Python 2 orders them arbitrarily)",
                        a.type_name(),
                        b.type_name()
                    ),
                )
            })
        };
        Ok(match op {
            CmpOp::Eq => a.equals(b),
            CmpOp::Ne => !a.equals(b),
            CmpOp::Lt => order()? == Less,
            CmpOp::Le => order()? != Greater,
            CmpOp::Gt => order()? == Greater,
            CmpOp::Ge => order()? != Less,
            CmpOp::In | CmpOp::NotIn => {
                let found = match b {
                    Value::Str(h) => match a {
                        Value::Str(n) => h.contains(&**n),
                        _ => {
                            return Err(self.exc(
                                pos,
                                "TypeError",
                                "'in <string>' requires string as left operand",
                            ));
                        }
                    },
                    Value::List(l) => l.borrow().iter().any(|x| x.equals(a)),
                    Value::Tuple(t) => t.iter().any(|x| x.equals(a)),
                    _ => {
                        return Err(self.exc(
                            pos,
                            "TypeError",
                            format!("argument of type '{}' is not iterable", b.type_name()),
                        ));
                    }
                };
                found == (op == CmpOp::In)
            }
            CmpOp::Is | CmpOp::IsNot => {
                let same = match (a, b) {
                    (Value::None, Value::None) => true,
                    (Value::Bool(x), Value::Bool(y)) => x == y,
                    (Value::None | Value::Bool(_), _) | (_, Value::None | Value::Bool(_)) => false,
                    (Value::List(x), Value::List(y)) => Rc::ptr_eq(x, y),
                    (Value::Module(x), Value::Module(y)) => x == y,
                    _ => {
                        a.equals(b)
                            && a.type_name() == b.type_name()
                            && !matches!(a, Value::Str(_) | Value::Int(_) | Value::Float(_))
                    }
                };
                same == (op == CmpOp::Is)
            }
        })
    }
}

/// Python's floor division of integers (`None` on overflow).
fn floor_div(x: i64, y: i64) -> Option<i64> {
    let q = x.checked_div(y)?;
    let r = x.checked_rem(y)?;
    if r != 0 && ((r < 0) != (y < 0)) { q.checked_sub(1) } else { Some(q) }
}

const EXCEPTIONS: [&str; 9] = [
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "NameError",
    "RuntimeError",
    "StandardError",
    "Exception",
    "AssertionError",
];

const STR_METHODS: [&str; 11] = [
    "strip",
    "lstrip",
    "rstrip",
    "lower",
    "upper",
    "startswith",
    "endswith",
    "find",
    "replace",
    "split",
    "join",
];
