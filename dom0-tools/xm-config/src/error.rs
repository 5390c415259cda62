// SPDX-License-Identifier: GPL-2.0-only
//! The crate's one error type: what went wrong, and where.
//!
//! Errors from a configuration file carry `file:line:col` (1-based, columns
//! counted in characters); errors from a command-line `name=value` word
//! carry the word. [`Error`]'s `Display` prints `file:line:col: message`,
//! the form compilers use, so editors can jump to it.

use std::sync::Arc;

/// Where an error (or a value) comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A position in a configuration file.
    File {
        /// The file name as given to the evaluator.
        file: Arc<str>,
        /// 1-based line.
        line: u32,
        /// 1-based column, in characters.
        col: u32,
    },
    /// A `name=value` word of the `xm create` command line.
    Arg(String),
}

impl core::fmt::Display for Location {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Location::File { file, line, col } => write!(f, "{file}:{line}:{col}"),
            Location::Arg(word) => write!(f, "command line '{word}'"),
        }
    }
}

/// The kind of an [`Error`], after Python's exception classes where one fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file is not in the accepted Python syntax (`SyntaxError`,
    /// `IndentationError`).
    Syntax,
    /// A name is not defined (`NameError`).
    Name,
    /// An operation on a value of the wrong type (`TypeError`,
    /// `AttributeError`).
    Type,
    /// A value is out of range or malformed (`ValueError`,
    /// `ZeroDivisionError`, `OverflowError`, or `raise` in the file).
    Value,
    /// Valid Python that this evaluator does not run (an unknown module or
    /// call, a statement outside the subset); nothing is ever executed.
    Unsupported,
    /// A resource limit (steps, nesting, sizes) was reached.
    Limit,
    /// A command-line option or `name=value` word is invalid (xm's
    /// `OptionError` and `Invalid value`).
    Option,
    /// The resulting domain configuration is invalid (xm's `err()` and
    /// xend's `VmError` checks).
    Config,
    /// The configuration file could not be found or read.
    Io,
}

/// An error with its kind, location and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What kind of error.
    pub kind: ErrorKind,
    /// Where, when known.
    pub location: Option<Location>,
    /// The message (without the location).
    pub message: String,
}

impl Error {
    /// An error at `location`.
    pub fn at(kind: ErrorKind, location: Location, message: impl Into<String>) -> Self {
        Error { kind, location: Some(location), message: message.into() }
    }

    /// An error without a location.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, location: None, message: message.into() }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
