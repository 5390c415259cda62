// SPDX-License-Identifier: GPL-2.0-only
//! Operators with Python 2's semantics: arithmetic (integer `/` floors,
//! `%` formats strings, overflow is an error rather than a `long`),
//! sequence concatenation and repetition (bounded), comparisons.

use super::{Interp, MAX_ITEMS, R};
use crate::error::ErrorKind;
use crate::python::Pos;
use crate::python::ast::{BinOp, CmpOp};
use crate::python::format::{MAX_LEN, format};
use crate::python::value::Value;
use std::rc::Rc;

impl Interp<'_> {
    pub(super) fn binary(&self, op: BinOp, a: &Value, b: &Value, pos: Pos) -> R<Value> {
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
                let (x, y) = (x.borrow(), y.borrow());
                let v: Vec<Value> = x.iter().chain(y.iter()).cloned().collect();
                return Ok(Value::tuple(v));
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
                let t = t.borrow();
                if t.len().saturating_mul(n) > MAX_ITEMS {
                    return Err(too_long());
                }
                Ok(Value::tuple(
                    t.iter().cloned().cycle().take(t.len().saturating_mul(n)).collect(),
                ))
            }
            _ => Ok(Value::None),
        }
    }

    pub(super) fn compare(&self, op: CmpOp, a: &Value, b: &Value, pos: Pos) -> R<bool> {
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
                    Value::Tuple(t) => t.borrow().iter().any(|x| x.equals(a)),
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
