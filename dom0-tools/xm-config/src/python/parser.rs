// SPDX-License-Identifier: GPL-2.0-only
//! Recursive-descent parser for the Python 2 subset of xmdomain.cfg files.
//!
//! Statements: expressions, assignments (chained, tuple targets, `x[i] =`),
//! augmented assignments, `if`/`elif`/`else`, `for`, `def`, `return`,
//! `raise`, `pass`, `import`, `from … import`, `;`-separated simple
//! statements and one-line suites (`if x: y = 1`). Expressions: Python 2's
//! precedence from conditional expressions down to calls, subscripts,
//! slices and attributes; list, tuple and (adjacent string) literals.
//! Anything else (`class`, `while`, `try`, `lambda`, dicts, …) is a
//! syntax error naming the construct. Nesting is limited, so no input can
//! exhaust the stack.

use super::Pos;
use super::ast::{BinOp, CmpOp, Expr, ExprKind, FuncDef, Stmt, StmtKind, Target};
use super::lexer::Tok;
use crate::error::{Error, ErrorKind, Result};
use std::rc::Rc;

/// A call's positional and keyword arguments.
type CallArgs = (Vec<Expr>, Vec<(String, Expr)>);

const MAX_DEPTH: u32 = 40;
/// Most operands of one operator chain (`a + b + …`, `a.b.c…`): each
/// one nests the tree a level deeper.
const MAX_CHAIN: u32 = 200;

const KEYWORDS: [&str; 31] = [
    "and", "as", "assert", "break", "class", "continue", "def", "del", "elif", "else", "except",
    "exec", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "not", "or",
    "pass", "print", "raise", "return", "try", "while", "with", "yield",
];

pub(crate) struct Parser<'a> {
    toks: Vec<(Tok, Pos)>,
    i: usize,
    depth: u32,
    err: &'a dyn Fn(Pos, ErrorKind, String) -> Error,
}

impl<'a> Parser<'a> {
    pub fn new(toks: Vec<(Tok, Pos)>, err: &'a dyn Fn(Pos, ErrorKind, String) -> Error) -> Self {
        Parser { toks, i: 0, depth: 0, err }
    }

    /// The whole module.
    pub fn module(&mut self) -> Result<Vec<Stmt>> {
        let mut body = Vec::new();
        while !matches!(self.peek(), Tok::Eof) {
            if matches!(self.peek(), Tok::Indent) {
                return Err(self.syntax("unexpected indent"));
            }
            body.extend(self.statement()?);
        }
        Ok(body)
    }

    fn peek(&self) -> &Tok {
        self.toks.get(self.i).map_or(&Tok::Eof, |(t, _)| t)
    }

    fn pos(&self) -> Pos {
        self.toks.get(self.i).or(self.toks.last()).map_or(Pos { line: 1, col: 1 }, |(_, p)| *p)
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.i < self.toks.len() {
            self.i = self.i.saturating_add(1);
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == kw)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = self.is_op(op);
        if yes {
            self.next();
        }
        yes
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.next();
        }
        yes
    }

    fn syntax(&self, msg: &str) -> Error {
        (self.err)(self.pos(), ErrorKind::Syntax, msg.into())
    }

    fn expect_op(&mut self, op: &str) -> Result<()> {
        if self.eat_op(op) { Ok(()) } else { Err(self.syntax(&format!("expected '{op}'"))) }
    }

    fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Tok::Name(n) if !KEYWORDS.contains(&n.as_str()) => {
                let n = n.clone();
                self.next();
                Ok(n)
            }
            _ => Err(self.syntax("expected a name")),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth = self.depth.saturating_add(1);
        if self.depth > MAX_DEPTH {
            return Err((self.err)(self.pos(), ErrorKind::Limit, "too deeply nested".into()));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// One statement (a compound one, or a line of simple ones).
    fn statement(&mut self) -> Result<Vec<Stmt>> {
        let pos = self.pos();
        if let Tok::Name(kw) = self.peek() {
            match kw.as_str() {
                "if" => {
                    self.next();
                    return Ok(vec![self.if_rest(pos)?]);
                }
                "for" => {
                    self.next();
                    let target = self.target_list()?;
                    if !self.eat_kw("in") {
                        return Err(self.syntax("expected 'in'"));
                    }
                    let iter = self.expr_list()?;
                    let body = self.suite()?;
                    if self.is_kw("else") {
                        return Err(self.unsupported("for ... else"));
                    }
                    return Ok(vec![Stmt { kind: StmtKind::For(target, iter, body), pos }]);
                }
                "def" => {
                    self.next();
                    return Ok(vec![self.def_rest(pos)?]);
                }
                "class" | "while" | "try" | "with" => {
                    let what = kw.clone();
                    return Err(self.unsupported(&format!("'{what}' statements")));
                }
                "elif" | "else" | "except" | "finally" => return Err(self.syntax("invalid syntax")),
                _ => {}
            }
        }
        let mut out = vec![self.simple()?];
        while self.eat_op(";") {
            if matches!(self.peek(), Tok::Newline | Tok::Eof) {
                break;
            }
            out.push(self.simple()?);
        }
        match self.next() {
            Tok::Newline | Tok::Eof => Ok(out),
            _ => {
                self.i = self.i.saturating_sub(1);
                Err(self.syntax("invalid syntax"))
            }
        }
    }

    fn unsupported(&self, what: &str) -> Error {
        (self.err)(
            self.pos(),
            ErrorKind::Unsupported,
            format!("{what} are not supported in domain configuration files"),
        )
    }

    fn if_rest(&mut self, pos: Pos) -> Result<Stmt> {
        let mut arms = Vec::new();
        let cond = self.test()?;
        arms.push((cond, self.suite()?));
        let mut orelse = Vec::new();
        loop {
            if self.eat_kw("elif") {
                let cond = self.test()?;
                arms.push((cond, self.suite()?));
            } else if self.eat_kw("else") {
                orelse = self.suite()?;
                break;
            } else {
                break;
            }
        }
        Ok(Stmt { kind: StmtKind::If(arms, orelse), pos })
    }

    fn def_rest(&mut self, pos: Pos) -> Result<Stmt> {
        let name = self.ident()?;
        self.expect_op("(")?;
        let mut params: Vec<(String, Option<Expr>)> = Vec::new();
        while !self.is_op(")") {
            if self.is_op("*") || self.is_op("**") {
                return Err(self.unsupported("'*args' and '**kwargs' parameters"));
            }
            let p = self.ident()?;
            let default = if self.eat_op("=") { Some(self.test()?) } else { None };
            if default.is_none() && params.iter().any(|(_, d)| d.is_some()) {
                return Err(self.syntax("non-default argument follows default argument"));
            }
            if params.iter().any(|(q, _)| *q == p) {
                return Err(self.syntax("duplicate argument in function definition"));
            }
            params.push((p, default));
            if !self.eat_op(",") {
                break;
            }
        }
        self.expect_op(")")?;
        let body = self.suite()?;
        Ok(Stmt { kind: StmtKind::Def(Rc::new(FuncDef { name, params, body })), pos })
    }

    /// `: NEWLINE INDENT stmts DEDENT` or `: simple; simple NEWLINE`.
    fn suite(&mut self) -> Result<Vec<Stmt>> {
        self.expect_op(":")?;
        self.enter()?;
        let result = self.suite_body();
        self.leave();
        result
    }

    fn suite_body(&mut self) -> Result<Vec<Stmt>> {
        if !matches!(self.peek(), Tok::Newline) {
            let mut out = vec![self.simple()?];
            while self.eat_op(";") {
                if matches!(self.peek(), Tok::Newline | Tok::Eof) {
                    break;
                }
                out.push(self.simple()?);
            }
            if !matches!(self.next(), Tok::Newline | Tok::Eof) {
                self.i = self.i.saturating_sub(1);
                return Err(self.syntax("invalid syntax"));
            }
            return Ok(out);
        }
        self.next();
        if !matches!(self.next(), Tok::Indent) {
            self.i = self.i.saturating_sub(1);
            return Err(self.syntax("expected an indented block"));
        }
        let mut body = Vec::new();
        while !matches!(self.peek(), Tok::Dedent | Tok::Eof) {
            if matches!(self.peek(), Tok::Indent) {
                return Err(self.syntax("unexpected indent"));
            }
            body.extend(self.statement()?);
        }
        self.next();
        Ok(body)
    }

    /// One simple statement.
    fn simple(&mut self) -> Result<Stmt> {
        let pos = self.pos();
        if let Tok::Name(kw) = self.peek() {
            match kw.as_str() {
                "pass" => {
                    self.next();
                    return Ok(Stmt { kind: StmtKind::Pass, pos });
                }
                "return" => {
                    self.next();
                    let value = if matches!(self.peek(), Tok::Newline | Tok::Eof) || self.is_op(";")
                    {
                        None
                    } else {
                        Some(self.expr_list()?)
                    };
                    return Ok(Stmt { kind: StmtKind::Return(value), pos });
                }
                "raise" => {
                    self.next();
                    if matches!(self.peek(), Tok::Newline | Tok::Eof) || self.is_op(";") {
                        return Ok(Stmt { kind: StmtKind::Raise(None, None), pos });
                    }
                    let exc = self.test()?;
                    let msg = if self.eat_op(",") { Some(self.test()?) } else { None };
                    return Ok(Stmt { kind: StmtKind::Raise(Some(exc), msg), pos });
                }
                "import" => {
                    self.next();
                    let mut names = Vec::new();
                    loop {
                        let p = self.pos();
                        names.push((self.dotted()?, p));
                        if self.is_kw("as") {
                            return Err(self.unsupported("'import ... as' statements"));
                        }
                        if !self.eat_op(",") {
                            break;
                        }
                    }
                    return Ok(Stmt { kind: StmtKind::Import(names), pos });
                }
                "from" => {
                    self.next();
                    let module = self.dotted()?;
                    if !self.eat_kw("import") {
                        return Err(self.syntax("expected 'import'"));
                    }
                    if !self.eat_op("*") {
                        loop {
                            self.ident()?;
                            if !self.eat_op(",") {
                                break;
                            }
                        }
                    }
                    return Ok(Stmt { kind: StmtKind::FromImport(module), pos });
                }
                "print" | "del" | "global" | "exec" | "assert" | "break" | "continue" | "yield"
                | "lambda" => {
                    let what = kw.clone();
                    return Err(self.unsupported(&format!("'{what}' statements")));
                }
                _ => {}
            }
        }
        let first = self.expr_list()?;
        const AUG: [(&str, BinOp); 7] = [
            ("+=", BinOp::Add),
            ("-=", BinOp::Sub),
            ("*=", BinOp::Mul),
            ("/=", BinOp::Div),
            ("//=", BinOp::FloorDiv),
            ("%=", BinOp::Mod),
            ("**=", BinOp::Pow),
        ];
        for (sym, op) in AUG {
            if self.eat_op(sym) {
                let target = self.to_target(first)?;
                if matches!(target, Target::Tuple(..)) {
                    return Err(self.syntax("illegal expression for augmented assignment"));
                }
                let value = self.expr_list()?;
                return Ok(Stmt { kind: StmtKind::AugAssign(target, op, value), pos });
            }
        }
        if !self.is_op("=") {
            return Ok(Stmt { kind: StmtKind::Expr(first), pos });
        }
        let mut targets = vec![first];
        while self.eat_op("=") {
            targets.push(self.expr_list()?);
        }
        let value = targets.pop().ok_or_else(|| self.syntax("invalid syntax"))?;
        let targets = targets.into_iter().map(|t| self.to_target(t)).collect::<Result<Vec<_>>>()?;
        Ok(Stmt { kind: StmtKind::Assign(targets, value), pos })
    }

    fn dotted(&mut self) -> Result<String> {
        let mut name = self.ident()?;
        while self.eat_op(".") {
            name.push('.');
            name.push_str(&self.ident()?);
        }
        Ok(name)
    }

    fn to_target(&self, e: Expr) -> Result<Target> {
        match e.kind {
            ExprKind::Name(n) => {
                if matches!(n.as_str(), "None" | "True" | "False") {
                    return Err((self.err)(
                        e.pos,
                        ErrorKind::Syntax,
                        format!("cannot assign to {n}"),
                    ));
                }
                Ok(Target::Name(n, e.pos))
            }
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                let t = items.into_iter().map(|i| self.to_target(i)).collect::<Result<Vec<_>>>()?;
                Ok(Target::Tuple(t, e.pos))
            }
            ExprKind::Index(obj, idx) => Ok(Target::Index(*obj, *idx, e.pos)),
            _ => {
                Err((self.err)(e.pos, ErrorKind::Syntax, "can't assign to this expression".into()))
            }
        }
    }

    fn target_list(&mut self) -> Result<Target> {
        let pos = self.pos();
        let mut items = vec![self.or_expr()?];
        let mut tuple = false;
        while self.eat_op(",") {
            tuple = true;
            if self.is_kw("in") {
                break;
            }
            items.push(self.or_expr()?);
        }
        let e = if tuple || items.len() > 1 {
            Expr { kind: ExprKind::Tuple(items), pos }
        } else {
            items.pop().ok_or_else(|| self.syntax("invalid syntax"))?
        };
        self.to_target(e)
    }

    /// `test (',' test)* [',']`: a tuple when there is a comma.
    fn expr_list(&mut self) -> Result<Expr> {
        let pos = self.pos();
        let first = self.test()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.at_expr_end() {
                break;
            }
            items.push(self.test()?);
        }
        Ok(Expr { kind: ExprKind::Tuple(items), pos })
    }

    fn at_expr_end(&self) -> bool {
        matches!(self.peek(), Tok::Newline | Tok::Eof)
            || ["=", ")", "]", ";", ":", "+=", "-=", "*=", "/=", "%=", "//=", "**="]
                .iter()
                .any(|o| self.is_op(o))
    }

    /// `or_test ['if' or_test 'else' test]`.
    fn test(&mut self) -> Result<Expr> {
        self.enter()?;
        let result = self.test_inner();
        self.leave();
        result
    }

    fn test_inner(&mut self) -> Result<Expr> {
        if self.is_kw("lambda") {
            return Err(self.unsupported("lambda expressions"));
        }
        let value = self.or_test()?;
        if !self.is_kw("if") {
            return Ok(value);
        }
        let pos = self.pos();
        self.next();
        let cond = self.or_test()?;
        if !self.eat_kw("else") {
            return Err(self.syntax("expected 'else'"));
        }
        let other = self.test()?;
        Ok(Expr { kind: ExprKind::IfElse(Box::new(cond), Box::new(value), Box::new(other)), pos })
    }

    fn chain(&self, n: &mut u32) -> Result<()> {
        *n = n.saturating_add(1);
        if *n > MAX_CHAIN {
            return Err((self.err)(self.pos(), ErrorKind::Limit, "expression too long".into()));
        }
        Ok(())
    }

    fn or_test(&mut self) -> Result<Expr> {
        let mut left = self.and_test()?;
        let mut n = 0;
        while self.is_kw("or") {
            self.chain(&mut n)?;
            let pos = self.pos();
            self.next();
            let right = self.and_test()?;
            left = Expr { kind: ExprKind::Or(Box::new(left), Box::new(right)), pos };
        }
        Ok(left)
    }

    fn and_test(&mut self) -> Result<Expr> {
        let mut left = self.not_test()?;
        let mut n = 0;
        while self.is_kw("and") {
            self.chain(&mut n)?;
            let pos = self.pos();
            self.next();
            let right = self.not_test()?;
            left = Expr { kind: ExprKind::And(Box::new(left), Box::new(right)), pos };
        }
        Ok(left)
    }

    fn not_test(&mut self) -> Result<Expr> {
        if self.is_kw("not") {
            let pos = self.pos();
            self.next();
            self.enter()?;
            let inner = self.not_test();
            self.leave();
            return Ok(Expr { kind: ExprKind::Not(Box::new(inner?)), pos });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr> {
        let first = self.or_expr()?;
        let mut rest = Vec::new();
        let mut pos = first.pos;
        loop {
            let op_pos = self.pos();
            let op = match self.peek() {
                Tok::Op("==") => CmpOp::Eq,
                Tok::Op("!=") | Tok::Op("<>") => CmpOp::Ne,
                Tok::Op("<") => CmpOp::Lt,
                Tok::Op("<=") => CmpOp::Le,
                Tok::Op(">") => CmpOp::Gt,
                Tok::Op(">=") => CmpOp::Ge,
                Tok::Name(n) if n == "in" => CmpOp::In,
                Tok::Name(n) if n == "is" => CmpOp::Is,
                Tok::Name(n) if n == "not" => CmpOp::NotIn,
                _ => break,
            };
            self.next();
            let op = match op {
                CmpOp::NotIn if !self.eat_kw("in") => return Err(self.syntax("expected 'in'")),
                CmpOp::Is if self.eat_kw("not") => CmpOp::IsNot,
                other => other,
            };
            if rest.is_empty() {
                pos = op_pos;
            }
            rest.push((op, self.or_expr()?));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        Ok(Expr { kind: ExprKind::Compare(Box::new(first), rest), pos })
    }

    fn or_expr(&mut self) -> Result<Expr> {
        let e = self.arith()?;
        if ["|", "^", "&", "<<", ">>", "~"].iter().any(|o| self.is_op(o)) {
            return Err(self.unsupported("bitwise operators"));
        }
        Ok(e)
    }

    fn arith(&mut self) -> Result<Expr> {
        let mut left = self.term()?;
        let mut n = 0;
        loop {
            self.chain(&mut n)?;
            let pos = self.pos();
            let op = if self.eat_op("+") {
                BinOp::Add
            } else if self.eat_op("-") {
                BinOp::Sub
            } else {
                return Ok(left);
            };
            let right = self.term()?;
            left = Expr { kind: ExprKind::Binary(op, Box::new(left), Box::new(right)), pos };
        }
    }

    fn term(&mut self) -> Result<Expr> {
        let mut left = self.factor()?;
        let mut n = 0;
        loop {
            self.chain(&mut n)?;
            let pos = self.pos();
            let op = match self.peek() {
                Tok::Op("*") => BinOp::Mul,
                Tok::Op("/") => BinOp::Div,
                Tok::Op("//") => BinOp::FloorDiv,
                Tok::Op("%") => BinOp::Mod,
                _ => return Ok(left),
            };
            self.next();
            let right = self.factor()?;
            left = Expr { kind: ExprKind::Binary(op, Box::new(left), Box::new(right)), pos };
        }
    }

    fn factor(&mut self) -> Result<Expr> {
        let pos = self.pos();
        let wrap: fn(Box<Expr>) -> ExprKind = if self.eat_op("-") {
            ExprKind::Neg
        } else if self.eat_op("+") {
            ExprKind::Pos
        } else {
            return self.power();
        };
        self.enter()?;
        let inner = self.factor();
        self.leave();
        Ok(Expr { kind: wrap(Box::new(inner?)), pos })
    }

    fn power(&mut self) -> Result<Expr> {
        let base = self.postfix()?;
        if self.is_op("**") {
            let pos = self.pos();
            self.next();
            self.enter()?;
            let exp = self.factor();
            self.leave();
            return Ok(Expr {
                kind: ExprKind::Binary(BinOp::Pow, Box::new(base), Box::new(exp?)),
                pos,
            });
        }
        Ok(base)
    }

    fn postfix(&mut self) -> Result<Expr> {
        let mut e = self.atom()?;
        let mut n = 0;
        loop {
            self.chain(&mut n)?;
            let pos = self.pos();
            if self.eat_op(".") {
                let name = self.ident()?;
                e = Expr { kind: ExprKind::Attr(Box::new(e), name), pos };
            } else if self.eat_op("(") {
                let (args, kwargs) = self.call_args()?;
                e = Expr { kind: ExprKind::Call(Box::new(e), args, kwargs), pos };
            } else if self.eat_op("[") {
                e = self.subscript(e, pos)?;
            } else {
                return Ok(e);
            }
        }
    }

    fn call_args(&mut self) -> Result<CallArgs> {
        let mut args = Vec::new();
        let mut kwargs: Vec<(String, Expr)> = Vec::new();
        while !self.is_op(")") {
            if self.is_op("*") || self.is_op("**") {
                return Err(self.unsupported("'*' and '**' arguments"));
            }
            let is_kw = matches!(self.peek(), Tok::Name(_))
                && matches!(self.toks.get(self.i.saturating_add(1)), Some((Tok::Op("="), _)));
            if is_kw {
                let name = self.ident()?;
                self.next();
                if kwargs.iter().any(|(k, _)| *k == name) {
                    return Err(self.syntax("keyword argument repeated"));
                }
                kwargs.push((name, self.test()?));
            } else {
                if !kwargs.is_empty() {
                    return Err(self.syntax("non-keyword arg after keyword arg"));
                }
                args.push(self.test()?);
            }
            if !self.eat_op(",") {
                break;
            }
        }
        self.expect_op(")")?;
        Ok((args, kwargs))
    }

    fn subscript(&mut self, obj: Expr, pos: Pos) -> Result<Expr> {
        let lower = if self.is_op(":") { None } else { Some(Box::new(self.expr_list()?)) };
        if self.eat_op(":") {
            let upper = if self.is_op("]") || self.is_op(":") {
                None
            } else {
                Some(Box::new(self.test()?))
            };
            if self.is_op(":") {
                return Err(self.unsupported("extended slices"));
            }
            self.expect_op("]")?;
            return Ok(Expr { kind: ExprKind::Slice(Box::new(obj), lower, upper), pos });
        }
        self.expect_op("]")?;
        let index = lower.ok_or_else(|| self.syntax("invalid syntax"))?;
        Ok(Expr { kind: ExprKind::Index(Box::new(obj), index), pos })
    }

    fn atom(&mut self) -> Result<Expr> {
        let pos = self.pos();
        let kind = match self.next() {
            Tok::Int(v) => ExprKind::Int(v),
            Tok::Float(v) => ExprKind::Float(v),
            Tok::Str(mut s) => {
                // Adjacent literals are one string.
                while let Tok::Str(more) = self.peek() {
                    s.push_str(more);
                    self.next();
                }
                ExprKind::Str(s)
            }
            Tok::Name(n) if !KEYWORDS.contains(&n.as_str()) => ExprKind::Name(n),
            Tok::Op("(") => {
                self.enter()?;
                let inner = self.paren_rest(pos);
                self.leave();
                return inner;
            }
            Tok::Op("[") => {
                self.enter()?;
                let items = self.seq_items("]");
                self.leave();
                ExprKind::List(items?)
            }
            Tok::Op("{") => {
                self.i = self.i.saturating_sub(1);
                return Err(self.unsupported("dictionaries"));
            }
            Tok::Indent => {
                self.i = self.i.saturating_sub(1);
                return Err(self.syntax("unexpected indent"));
            }
            Tok::Eof => {
                self.i = self.i.saturating_sub(1);
                return Err(self.syntax("unexpected EOF while parsing"));
            }
            _ => {
                self.i = self.i.saturating_sub(1);
                return Err(self.syntax("invalid syntax"));
            }
        };
        Ok(Expr { kind, pos })
    }

    fn seq_items(&mut self, close: &str) -> Result<Vec<Expr>> {
        let mut items = Vec::new();
        while !self.is_op(close) {
            items.push(self.test()?);
            if self.is_kw("for") {
                return Err(self.unsupported("comprehensions"));
            }
            if !self.eat_op(",") {
                break;
            }
        }
        self.expect_op(close)?;
        Ok(items)
    }

    /// After `(`: `()`, `(x)`, `(x,)`, `(x, y)`.
    fn paren_rest(&mut self, pos: Pos) -> Result<Expr> {
        if self.eat_op(")") {
            return Ok(Expr { kind: ExprKind::Tuple(Vec::new()), pos });
        }
        let first = self.test()?;
        if self.is_kw("for") {
            return Err(self.unsupported("generator expressions"));
        }
        if self.eat_op(")") {
            return Ok(first);
        }
        self.expect_op(",")?;
        let mut items = vec![first];
        items.extend(self.seq_items(")")?);
        Ok(Expr { kind: ExprKind::Tuple(items), pos })
    }
}
