// SPDX-License-Identifier: GPL-2.0-only
//! The syntax tree of the Python 2 subset.

use super::Pos;
use std::rc::Rc;

/// An expression and where it starts (binary operators: the operator).
#[derive(Clone, Debug)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub pos: Pos,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
        }
    }
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Is,
    IsNot,
}

#[derive(Clone, Debug)]
pub(crate) enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    Name(String),
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Attr(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Slice(Box<Expr>, Option<Box<Expr>>, Option<Box<Expr>>),
    /// Callee, positional arguments, keyword arguments.
    Call(Box<Expr>, Vec<Expr>, Vec<(String, Expr)>),
    Neg(Box<Expr>),
    Pos(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a < b <= c`: the first operand and each (operator, operand).
    Compare(Box<Expr>, Vec<(CmpOp, Expr)>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `a if cond else b`.
    IfElse(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// Assignment targets.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Name(String, Pos),
    Tuple(Vec<Target>, Pos),
    Index(Expr, Expr, Pos),
}

/// A function definition.
#[derive(Debug)]
pub(crate) struct FuncDef {
    pub name: String,
    /// Parameter names and their default values.
    pub params: Vec<(String, Option<Expr>)>,
    pub body: Vec<Stmt>,
}

#[derive(Clone, Debug)]
pub(crate) struct Stmt {
    pub kind: StmtKind,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub(crate) enum StmtKind {
    Expr(Expr),
    /// `a = b = value`.
    Assign(Vec<Target>, Expr),
    AugAssign(Target, BinOp, Expr),
    /// `if`/`elif` arms, then the `else` body.
    If(Vec<(Expr, Vec<Stmt>)>, Vec<Stmt>),
    For(Target, Expr, Vec<Stmt>),
    Def(Rc<FuncDef>),
    Return(Option<Expr>),
    /// `raise`, `raise E`, `raise E(msg)`, `raise E, msg`.
    Raise(Option<Expr>, Option<Expr>),
    Pass,
    /// Dotted module names, e.g. `import os, os.path`.
    Import(Vec<(String, Pos)>),
    /// `from module import names` (refused when run).
    FromImport(String),
}
