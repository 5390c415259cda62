// SPDX-License-Identifier: GPL-2.0-only
//! The Python 2 subset of xmdomain.cfg files, parsed and evaluated, never
//! executed.
//!
//! xm runs a configuration file with `execfile` after predefining `sys`,
//! `os` (with `os.path`), `xm_file`, `xm_help`, `xm_vars` and the
//! command-line variables (`vmid=3` → `vmid = "3"`), then takes the
//! file's top-level variables. [`run`] does the same over a sandbox, with
//! every failure an [`Error`] at `file:line:col`. The language:
//!
//! - statements: assignments (chained, tuple targets, `x[i] =`), `+=` and
//!   the other augmented assignments, `if`/`elif`/`else`, `for`, `def`
//!   (positional parameters with defaults), `return`, `raise` (`raise E`,
//!   `raise E(msg)`, `raise E, msg`), `pass`, `import os, os.path, re,
//!   sys`, `;` and one-line suites, comments, `\` and bracket continuation;
//! - literals: strings (`'`, `"`, triple quotes, `r`/`u`/`b` prefixes,
//!   Python 2 escapes, adjacent literals joined), integers (decimal, hex,
//!   octal `017`/`0o17`, binary), floats, lists, tuples;
//! - expressions: `+ - * / // % **` with Python 2 semantics (`/` floors
//!   integers, `%` formats strings), comparisons (chained, `in`, `is`),
//!   `and`/`or`/`not`, `a if c else b`, indexing, slicing, calls with
//!   keyword arguments;
//! - built-ins `int`, `str`, `len`, `range`, `True`, `False`, `None`;
//!   string methods `split strip lstrip rstrip lower upper startswith
//!   endswith find replace join`, `list.append`; `os.uname()` (from
//!   [`Host`]), `re.search`/`re.match` (a small regex engine) with
//!   `.group()`; `xm_vars.var(name, use=, check=)` and `xm_vars.check()`;
//!   `xen.util.ip`'s `inet_aton`, `inet_ntoa`, `add_offset_to_ip`,
//!   `check_subnet` (its `get_current_ip*` read the host's network and
//!   are refused).
//!
//! Everything else (`while`, `class`, `try`, `lambda`, dicts, other
//! modules and functions) is refused with an error naming it; nothing from
//! the file reaches the host. Every step costs fuel, and nesting, call
//! depth and value sizes are bounded, so every input ends without
//! exhausting the stack.

mod ast;
mod eval;
mod format;
mod lexer;
mod parser;
mod regex;
mod value;

use crate::error::{Error, ErrorKind, Location, Result};
use std::sync::Arc;
use value::{Builtin, Module, Value};

/// A 1-based position in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u32,
    pub col: u32,
}

/// The host facts a configuration file may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// `os.uname()`: sysname, nodename, release, version, machine.
    pub uname: [String; 5],
}

impl Host {
    /// This machine's facts (from `/proc/sys/kernel`), for a real `xm`.
    pub fn current() -> Host {
        let read = |name: &str, default: &str| {
            std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
                .map(|s| s.trim_end().to_string())
                .unwrap_or_else(|_| default.to_string())
        };
        Host {
            uname: [
                read("ostype", "Linux"),
                read("hostname", "localhost"),
                read("osrelease", ""),
                read("version", ""),
                std::env::consts::ARCH.to_string(),
            ],
        }
    }
}

/// A variable declared with `xm_vars.var(name, use=...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredVar {
    /// The variable's name.
    pub name: String,
    /// Its usage text (`use=`), empty when none.
    pub usage: String,
    /// Where it was declared.
    pub location: Location,
}

/// A top-level value after evaluation, as far as xm can use it.
#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True`/`False` (xm ignores top-level bools).
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `list`.
    List(Vec<PyValue>),
    /// A `tuple` (xm ignores top-level tuples).
    Tuple(Vec<PyValue>),
    /// Anything else (functions, modules, …), by Python type name.
    Other(&'static str),
}

impl PyValue {
    /// Python's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "NoneType",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::List(_) => "list",
            PyValue::Tuple(_) => "tuple",
            PyValue::Other(t) => t,
        }
    }

    /// A copy out of the evaluator: at most `budget` nodes and
    /// `MAX_NESTING` levels (deeper parts become `Other`).
    fn from_value(v: &Value, budget: &mut usize, depth: usize) -> PyValue {
        *budget = budget.saturating_sub(1);
        if *budget == 0 || depth > value::MAX_NESTING {
            return PyValue::Other(v.type_name());
        }
        let depth = depth.saturating_add(1);
        match v {
            Value::None => PyValue::None,
            Value::Bool(b) => PyValue::Bool(*b),
            Value::Int(n) => PyValue::Int(*n),
            Value::Float(f) => PyValue::Float(*f),
            Value::Str(s) => PyValue::Str(s.to_string()),
            Value::List(l) => PyValue::List(
                l.borrow().iter().map(|x| PyValue::from_value(x, budget, depth)).collect(),
            ),
            Value::Tuple(t) => PyValue::Tuple(
                t.borrow().iter().map(|x| PyValue::from_value(x, budget, depth)).collect(),
            ),
            other => PyValue::Other(other.type_name()),
        }
    }
}

/// A top-level variable of an evaluated file.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The variable's name.
    pub name: String,
    /// Its final value.
    pub value: PyValue,
    /// The statement that last bound it at top level (`None` for the
    /// names xm predefines and for command-line variables never rebound).
    pub location: Option<Location>,
}

/// The outcome of evaluating a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// The top-level variables, in the order they were first bound.
    pub bindings: Vec<Binding>,
    /// Variables declared with `xm_vars.var`.
    pub declared: Vec<DeclaredVar>,
}

impl Script {
    /// The binding of `name`.
    pub fn get(&self, name: &str) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.name == name)
    }
}

/// What the evaluation starts from.
#[derive(Clone, Debug)]
pub struct ScriptInput<'a> {
    /// The file name used in errors and as `xm_file`.
    pub file: &'a str,
    /// The source text.
    pub source: &'a str,
    /// Command-line variables (`vmid=3`), predefined as strings.
    pub vars: &'a [(String, String)],
    /// `xm_help` (`xm create --help_config`): `xm_vars.check()` checks
    /// nothing and runtime errors end the file quietly, as in xm.
    pub help: bool,
    /// Host facts (`os.uname()`).
    pub host: &'a Host,
}

/// Most characters a configuration file may have.
pub const MAX_SOURCE: usize = 1 << 20;

/// Stack of the evaluation thread: far above what the nesting limits let
/// a file use, whatever stack the caller's thread has.
const EVAL_STACK: usize = 16 << 20;

/// Parses and evaluates a configuration file (on a thread of its own, so
/// the evaluator's bounded recursion never meets a small caller stack).
pub fn run(input: &ScriptInput<'_>) -> Result<Script> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("xm-config eval".into())
            .stack_size(EVAL_STACK)
            .spawn_scoped(scope, || run_here(input))
            .map_err(|e| {
                Error::new(ErrorKind::Limit, format!("cannot start the evaluator thread: {e}"))
            })?;
        worker.join().unwrap_or_else(|_| Err(Error::new(ErrorKind::Limit, "the evaluator failed")))
    })
}

fn run_here(input: &ScriptInput<'_>) -> Result<Script> {
    let file: Arc<str> = Arc::from(input.file);
    let err = |pos: Pos, kind: ErrorKind, msg: String| {
        Error::at(kind, Location::File { file: file.clone(), line: pos.line, col: pos.col }, msg)
    };
    if input.source.len() > MAX_SOURCE {
        return Err(Error::at(
            ErrorKind::Limit,
            Location::File { file: file.clone(), line: 1, col: 1 },
            "file too large",
        ));
    }
    let toks = lexer::tokenize(input.source, &err)?;
    let body = parser::Parser::new(toks, &err).module()?;
    let mut interp = eval::Interp::new(file.clone(), input.host, input.help);
    for (k, v) in input.vars {
        interp.set_module(k, Value::str(v), None);
    }
    interp.set_module("sys", Value::Module(Module::Sys), None);
    interp.set_module("os", Value::Module(Module::Os), None);
    // `from xen.util.ip import *`: module names, not built-ins, so functions
    // defined in the file do not see them (as under execfile).
    for (name, b) in [
        ("get_defaultroute", Builtin::HostNetwork("get_defaultroute")),
        ("get_current_ipaddr", Builtin::HostNetwork("get_current_ipaddr")),
        ("get_current_ipmask", Builtin::HostNetwork("get_current_ipmask")),
        ("get_current_ipgw", Builtin::HostNetwork("get_current_ipgw")),
        ("inet_aton", Builtin::InetAton),
        ("inet_ntoa", Builtin::InetNtoa),
        ("add_offset_to_ip", Builtin::AddOffsetToIp),
        ("check_subnet", Builtin::CheckSubnet),
    ] {
        interp.set_module(name, Value::Builtin(b), None);
    }
    interp.set_module("xm_file", Value::str(input.file), None);
    interp.set_module("xm_help", Value::Int(i64::from(input.help)), None);
    interp.set_module("xm_vars", Value::XmVars, None);
    // In help mode xm swallows the file's runtime errors (`except: if not
    // help: raise`): what was declared until then is still listed.
    if let Err(e) = interp.run_module(&body)
        && !input.help
    {
        return Err(e);
    }
    let mut budget = 1_000_000usize;
    let bindings = interp
        .order
        .iter()
        .filter_map(|name| {
            let (v, pos) = interp.module.get(name)?;
            Some(Binding {
                name: name.clone(),
                value: PyValue::from_value(v, &mut budget, 0),
                location: pos.map(|p| interp.loc(p)),
            })
        })
        .collect();
    Ok(Script { bindings, declared: core::mem::take(&mut interp.declared) })
}
