// SPDX-License-Identifier: GPL-2.0-only
//! Xen's boot command line, parsed into one typed [`BootOptions`].
//!
//! [`cook`] strips what the boot loader prepends (Xen's `cmdline_cook`), then
//! [`parse`] reads the options: space-separated `name` or `name=value`, where
//! `-` and `_` in names are equivalent and `no-name` clears a boolean. A
//! boolean also takes `name=<bool>` (`1`/`0`, `yes`/`no`, `on`/`off`,
//! `true`/`false`, `enable`/`disable`). The last occurrence of an option wins.
//!
//! Parsing never fails: an unknown option, or a value that does not parse,
//! yields a [`Warning`] and the field keeps its previous value (the default
//! unless the option was given earlier). Lists are the one refinement:
//! `badpage=` keeps its valid entries and warns about the others, since
//! dropping all of them would hand known-bad RAM out.
//!
//! As a convenience beyond Xen, a value ending in `,` continues with the next
//! word unless that word looks like an option (contains `=` or is a boolean
//! option name), so the manual's own example `com1=9600, 8n1, 0x408, 5` works.

mod number;
mod options;
mod platform;
mod realmode;
mod serial;
mod spec;
#[cfg(test)]
mod tests;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

pub use crate::console::{LogLevelThreshold, LogThresholds};
pub use crate::dom0_mem::Dom0Mem;
pub use crate::sched::SchedulerKind;
pub use number::{MAX_BADPAGES, parse_bool, parse_size, parse_u64};
pub use options::{BootOptions, DEFAULT_DMA_BITS, GnttabOpts, NO_EFFECT_OPTIONS};
pub use platform::{AcpiOption, ApicDriver, ApicVerbosity, NmiAction};
pub use realmode::{EddMode, EdidMode, GFX_DEPTHS, TEXT_ROWS, VgaConfig, VgaMode};
pub use serial::{BAUD_RANGE, ComConfig, ConSwitch, ConsoleTarget, Parity};

use spec::{Kind, apply_flag, apply_value, resolve};

/// A problem found while parsing; the option was ignored or partly applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The option exactly as written (`name` or `name=value`).
    pub option: String,
    /// What was wrong and what is used instead.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.message)
    }
}

/// A value (or part of one) that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidValue {
    /// What was expected, e.g. `size` or `baud rate`.
    pub what: &'static str,
    /// The offending text.
    pub text: String,
    /// Why it is wrong, when not obvious.
    pub detail: Option<&'static str>,
}

impl InvalidValue {
    pub(crate) fn new(what: &'static str, text: &str) -> Self {
        Self { what, text: text.to_string(), detail: None }
    }

    pub(crate) fn because(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} '{}'", self.what, self.text)?;
        match self.detail {
            Some(detail) => write!(f, " ({detail})"),
            None => Ok(()),
        }
    }
}

/// Whether the boot loader is GRUB 2, whose command line does not start with
/// the image name (Xen's test: `GRUB ` followed by a version not starting
/// with `0`; GRUB Legacy calls itself `GNU GRUB 0.97`).
pub fn loader_is_grub2(loader_name: &str) -> bool {
    loader_name
        .split("GRUB ")
        .skip(1)
        .any(|version| version.bytes().next().is_some_and(|b| b != b'0'))
}

/// Xen's `cmdline_cook`: strips leading blanks and, unless the loader is
/// GRUB 2, the image name (the first word) and the blanks after it.
pub fn cook(raw: &str, loader_is_grub2: bool) -> &str {
    let trimmed = raw.trim_start_matches(is_blank);
    if loader_is_grub2 {
        return trimmed;
    }
    let after_image = trimmed.split_once(is_blank).map_or("", |(_image, rest)| rest);
    after_image.trim_start_matches(is_blank)
}

fn is_blank(c: char) -> bool {
    c.is_ascii_whitespace()
}

/// Whether `word` looks like an option rather than a value continuation:
/// it has a value, or it is a boolean option (a bare value-taking option
/// name such as `vga` is not a valid option, so it counts as a value).
fn looks_like_option(word: &str) -> bool {
    word.contains('=') || resolve(word).is_some_and(|(spec, _)| spec.kind == Kind::Flag)
}

/// Splits the command line into options, joining `name=a, b` continuations.
fn tokens(cmdline: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut continuing = false;
    for word in cmdline.split(is_blank).filter(|w| !w.is_empty()) {
        match out.last_mut() {
            Some(last) if continuing && !looks_like_option(word) => last.push_str(word),
            _ => out.push(word.to_string()),
        }
        continuing = out.last().is_some_and(|t| t.contains('=') && t.ends_with(','));
    }
    out
}

/// Parses a cooked command line (see [`cook`]). Never fails.
pub fn parse(cmdline: &str) -> (BootOptions, Vec<Warning>) {
    let mut opts = BootOptions::default();
    let mut warnings = Vec::new();
    for token in tokens(cmdline) {
        parse_one(&mut opts, &token, &mut warnings);
    }
    (opts, warnings)
}

fn parse_one(opts: &mut BootOptions, token: &str, warnings: &mut Vec<Warning>) {
    let mut warn = |message: String| {
        warnings.push(Warning { option: token.to_string(), message });
    };
    let (name, value) = match token.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (token, None),
    };
    let Some((spec, negated)) = resolve(name) else {
        warn(String::from("unknown option"));
        return;
    };
    let fallback = |opts: &BootOptions| {
        if opts.was_given(spec.name) {
            String::from("keeping the earlier value")
        } else {
            alloc::format!("using default ({})", spec.default)
        }
    };
    match spec.kind {
        Kind::Flag => {
            let on = match value.filter(|v| !v.is_empty()) {
                None => true,
                Some(v) => match parse_bool(v) {
                    Some(on) => on,
                    None => {
                        let bad = InvalidValue::new("boolean", v);
                        warn(alloc::format!("{bad}, {}", fallback(opts)));
                        return;
                    }
                },
            };
            apply_flag(opts, spec.name, on != negated);
        }
        Kind::Value if negated => {
            warn(String::from("'no-' applies only to boolean options, ignored"));
            return;
        }
        Kind::Value => {
            let Some(v) = value.filter(|v| !v.is_empty()) else {
                warn(alloc::format!("missing value, {}", fallback(opts)));
                return;
            };
            let mut notes = Vec::new();
            let result = apply_value(opts, spec.name, v, &mut notes);
            notes.into_iter().for_each(&mut warn);
            if let Err(bad) = result {
                warn(alloc::format!("{bad}, {}", fallback(opts)));
                return;
            }
        }
    }
    opts.mark_given(spec.name);
}
