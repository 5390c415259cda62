// SPDX-License-Identifier: GPL-2.0-only
//! Numbers, sizes and booleans as written on the command line.
//!
//! Xen reads numbers with `simple_strtoul(…, 0)` and sizes with
//! `parse_size_and_unit`. Here the whole value must be consumed (no trailing
//! garbage), numbers are decimal or `0x` hexadecimal (a leading zero does not
//! mean octal) and every step is overflow-checked.

use alloc::vec::Vec;

/// Splits a leading run of digits of the given radix off `s`.
fn split_digits(s: &str, radix: u32) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_digit(radix)).unwrap_or(s.len());
    s.split_at_checked(end).unwrap_or((s, ""))
}

/// Accumulates the digits of `digits` (all valid in `radix`), checking overflow.
fn digits_value(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.chars().try_fold(0u64, |acc, c| {
        acc.checked_mul(u64::from(radix))?.checked_add(u64::from(c.to_digit(radix)?))
    })
}

/// Splits a decimal or `0x`/`0X` hexadecimal number off the front of `s`.
/// Returns `None` when there is no digit or the value overflows.
fn split_number(s: &str) -> Option<(u64, &str)> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
    let (digits, rest) = match hex {
        Some(h) => split_digits(h, 16),
        None => split_digits(s, 10),
    };
    let radix = if hex.is_some() { 16 } else { 10 };
    Some((digits_value(digits, radix)?, rest))
}

/// Parses a whole unsigned number, decimal or `0x` hexadecimal.
pub fn parse_u64(s: &str) -> Option<u64> {
    match split_number(s)? {
        (value, "") => Some(value),
        _ => None,
    }
}

/// Parses a whole unsigned number that fits in a `u32`.
pub fn parse_u32(s: &str) -> Option<u32> {
    u32::try_from(parse_u64(s)?).ok()
}

/// Parses a size with an optional unit suffix into bytes (Xen's
/// `parse_size_and_unit`).
///
/// Syntax: an optional `-`, a decimal or `0x` hex number, then an optional
/// case-insensitive suffix `B`, `K`, `M`, `G` or `T` (shifts 0, 10, 20, 30,
/// 40). Without a suffix the number is shifted by `default_shift` (10 for
/// Xen's default of KiB). Hex digits are read greedily, so in `0x10B` the `B`
/// is a digit. Returns `None` for anything else or if the byte count does not
/// fit in an `i64`.
pub fn parse_size(s: &str, default_shift: u32) -> Option<i64> {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (number, suffix) = split_number(s)?;
    let shift = match suffix {
        "" => default_shift,
        "B" | "b" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        _ => return None,
    };
    let bytes = number.checked_mul(1u64.checked_shl(shift)?)?;
    let bytes = i64::try_from(bytes).ok()?;
    Some(if negative { bytes.checked_neg()? } else { bytes })
}

/// Xen's `parse_bool`: `Some(true)` for `1`/`yes`/`on`/`true`/`enable`,
/// `Some(false)` for `0`/`no`/`off`/`false`/`disable`, else `None`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "yes" | "on" | "true" | "enable" => Some(true),
        "0" | "no" | "off" | "false" | "disable" => Some(false),
        _ => None,
    }
}

/// Most bad pages accepted from one `badpage=` option; a range longer than
/// the remaining room is truncated.
pub const MAX_BADPAGES: usize = 4096;

/// Outcome of parsing `badpage=`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BadPages<'a> {
    /// The page (frame) numbers accepted, in order.
    pub pages: Vec<u64>,
    /// Items that were not a page number or `first-last` range.
    pub invalid: Vec<&'a str>,
    /// Whether [`MAX_BADPAGES`] cut the list short.
    pub truncated: bool,
}

/// Parses `badpage=`: comma-separated page numbers or inclusive `a-b` ranges
/// (Xen 3.4 accepts both). Empty items are skipped; bad items are reported
/// and skipped so the good ones still protect the machine.
pub(crate) fn parse_badpages(s: &str) -> BadPages<'_> {
    let mut out = BadPages::default();
    for item in s.split(',').filter(|item| !item.is_empty()) {
        let range = match item.split_once('-') {
            Some((first, last)) => parse_u64(first).zip(parse_u64(last)),
            None => parse_u64(item).map(|page| (page, page)),
        };
        let Some((first, last)) = range.filter(|(first, last)| first <= last) else {
            out.invalid.push(item);
            continue;
        };
        for page in first..=last {
            if out.pages.len() >= MAX_BADPAGES {
                out.truncated = true;
                return out;
            }
            out.pages.push(page);
        }
    }
    out
}
