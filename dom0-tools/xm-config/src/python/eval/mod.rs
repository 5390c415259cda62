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

mod builtins;
mod ops;

use super::ast::{BinOp, Expr, ExprKind, FuncDef, Stmt, StmtKind, Target};
use super::value::{Builtin, Module, Seq, Value};
use super::{DeclaredVar, Host, Pos};
use crate::error::{Error, ErrorKind, Location};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;

const FUEL: u64 = 2_000_000;
const MAX_CALL_DEPTH: u32 = 40;
const MAX_ITEMS: usize = 100_000;
/// Most statements and expressions being evaluated inside one another
/// (across calls): bounds the evaluator's stack, whatever the mix of
/// nesting and recursion (about 1 MiB of stack unoptimised; [`crate::python::run`]
/// evaluates on a thread of its own with a 16 MiB stack).
const MAX_NESTING: u32 = 100;

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
    file: Arc<str>,
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
    /// Every list that was changed after it was made: each reference
    /// cycle runs through one of them, so emptying them at the end frees
    /// every cycle the file made (`l.append(l)`).
    mutated: Vec<Weak<Seq>>,
    /// Current evaluator recursion ([`MAX_NESTING`]).
    nesting: u32,
}

impl Drop for Interp<'_> {
    fn drop(&mut self) {
        for l in self.mutated.drain(..) {
            if let Some(l) = l.upgrade() {
                l.clear();
            }
        }
    }
}

impl<'h> Interp<'h> {
    pub fn new(file: Arc<str>, host: &'h Host, help: bool) -> Self {
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
            mutated: Vec::new(),
            nesting: 0,
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

    /// Enters one level of evaluator recursion (a statement or an
    /// expression), refusing past [`MAX_NESTING`].
    fn enter(&mut self, pos: Pos) -> R<()> {
        if self.nesting >= MAX_NESTING {
            return Err(self.fail(
                pos,
                ErrorKind::Limit,
                "expressions and calls nested too deeply",
            ));
        }
        self.nesting = self.nesting.saturating_add(1);
        Ok(())
    }

    fn stmt(&mut self, stmt: &Stmt, frame: &mut Option<Frame>) -> R<Flow> {
        self.enter(stmt.pos)?;
        let result = self.stmt_inner(stmt, frame);
        self.nesting = self.nesting.saturating_sub(1);
        result
    }

    fn stmt_inner(&mut self, stmt: &Stmt, frame: &mut Option<Frame>) -> R<Flow> {
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
                        self.mutated.push(Rc::downgrade(l));
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
                self.mutated.push(Rc::downgrade(l));
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
        self.enter(e.pos)?;
        let result = self.expr_inner(e, frame);
        self.nesting = self.nesting.saturating_sub(1);
        result
    }

    fn expr_inner(&mut self, e: &Expr, frame: &mut Option<Frame>) -> R<Value> {
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
                Value::tuple(v)
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
            Value::Tuple(t) => Ok(t.borrow().clone()),
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
                let t = t.borrow();
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
                let t = t.borrow();
                let (a, b) = (bound(lo, t.len(), 0)?, bound(hi, t.len(), t.len())?);
                Ok(Value::tuple(t.get(a..b.max(a)).unwrap_or(&[]).to_vec()))
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
