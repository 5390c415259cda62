// SPDX-License-Identifier: GPL-2.0-only
//! `xm`: the Xen domain management command, as Xen 3.x/4.1's
//! (`tools/python/xen/xm/main.py`): `xm <subcommand> [args]`, errors as
//! `Error: <message>` on stderr followed by the subcommand's usage, exit
//! status 1 on any error.
//!
//! Subcommands so far: `info` ([`info`]), `dmesg` ([`dmesg`]), `list`,
//! `domid` and `domname` ([`list`]), which in Xen 3.x ask xend and here ask
//! the hypervisor directly through `xenctrl` (and xenstored for names,
//! [`domains`]) until this project's xend exists; the output is xm's.

mod dmesg;
mod domains;
mod help;
mod info;
mod list;

use std::process::ExitCode;

/// What a subcommand failed with.
#[derive(Debug)]
pub enum Failure {
    /// Bad arguments: `Error: <message>`, then the subcommand's usage.
    Usage(&'static str, String),
    /// The operation failed: `Error: <message>`.
    Failed(String),
}

impl From<xenctrl::Error> for Failure {
    fn from(e: xenctrl::Error) -> Self {
        Self::Failed(e.to_string())
    }
}

/// A subcommand's entry point.
type Command = fn(&[String]) -> Result<(), Failure>;

/// The subcommands, by name.
const COMMANDS: &[(&str, Command)] = &[
    ("dmesg", dmesg::run),
    ("domid", list::domid),
    ("domname", list::domname),
    ("info", info::run),
    ("list", list::run),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        help::short_help();
        return ExitCode::FAILURE;
    };
    if name == "help" || name == "--help" || name == "-h" {
        help::short_help();
        return ExitCode::SUCCESS;
    }
    let rest = args.get(1..).unwrap_or(&[]);
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        help::cmd_help(name);
        return ExitCode::FAILURE;
    }
    let Some((_, cmd)) = COMMANDS.iter().find(|(n, _)| n == name) else {
        eprintln!("Error: Subcommand {name} not found!");
        help::short_help();
        return ExitCode::FAILURE;
    };
    match cmd(rest) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(cmd, msg)) => {
            eprintln!("Error: {msg}");
            help::cmd_help(cmd);
            ExitCode::FAILURE
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("Error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// xm's `arg_check`: `args` (not counting `--`) must number `lo..=hi`.
pub fn arg_check(args: &[String], name: &'static str, lo: usize, hi: usize) -> Result<(), Failure> {
    let n = args.iter().filter(|a| *a != "--").count();
    if (lo..=hi).contains(&n) {
        return Ok(());
    }
    let msg = if lo == hi {
        format!("'xm {name}' requires {lo} argument{}.\n", if lo == 1 { "" } else { "s" })
    } else {
        format!("'xm {name}' requires between {lo} and {hi} arguments.\n")
    };
    Err(Failure::Usage(name, msg))
}

/// Splits `args` as getopt's `gnu_getopt` does for flag-only options:
/// `(flags seen, positional parameters)`; an unknown option is an error
/// worded as Python's getopt (`option -x not recognized`).
pub fn flags<'a>(
    args: &'a [String],
    name: &'static str,
    known: &[(&'static str, &'static str)],
) -> Result<(Vec<&'static str>, Vec<&'a str>), Failure> {
    let mut seen = Vec::new();
    let mut params = Vec::new();
    let mut rest_positional = false;
    for a in args {
        if rest_positional || a == "-" || !a.starts_with('-') {
            params.push(a.as_str());
        } else if a == "--" {
            rest_positional = true;
        } else if let Some(long) = a.strip_prefix("--") {
            match known.iter().find(|(_, l)| *l == long) {
                Some((s, _)) => seen.push(*s),
                None => {
                    return Err(Failure::Usage(name, format!("option --{long} not recognized")));
                }
            }
        } else {
            for c in a.chars().skip(1) {
                let short = c.to_string();
                match known.iter().find(|(s, _)| *s == short) {
                    Some((s, _)) => seen.push(*s),
                    None => {
                        return Err(Failure::Usage(name, format!("option -{c} not recognized")));
                    }
                }
            }
        }
    }
    Ok((seen, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn getopt_like_flags() {
        let known = [("c", "clear")];
        let a = v(&["-c"]);
        let (seen, params) = flags(&a, "dmesg", &known).unwrap_or_default_for_test();
        assert_eq!((seen, params), (vec!["c"], vec![]));
        let a = v(&["--clear", "x"]);
        let (seen, params) = flags(&a, "dmesg", &known).unwrap_or_default_for_test();
        assert_eq!((seen, params), (vec!["c"], vec!["x"]));
        let a = v(&["-z"]);
        match flags(&a, "dmesg", &known) {
            Err(Failure::Usage("dmesg", m)) => assert_eq!(m, "option -z not recognized"),
            other => panic!("{other:?}"),
        }
        let a = v(&["--", "-c"]);
        let (seen, params) = flags(&a, "dmesg", &known).unwrap_or_default_for_test();
        assert_eq!((seen, params), (vec![], vec!["-c"]));
    }

    #[test]
    fn arg_check_messages_are_xms() {
        match arg_check(&v(&["a", "b"]), "info", 0, 1) {
            Err(Failure::Usage("info", m)) => {
                assert_eq!(m, "'xm info' requires between 0 and 1 arguments.\n");
            }
            other => panic!("{other:?}"),
        }
        match arg_check(&v(&[]), "log", 1, 1) {
            Err(Failure::Usage("log", m)) => assert_eq!(m, "'xm log' requires 1 argument.\n"),
            other => panic!("{other:?}"),
        }
        assert!(arg_check(&v(&["--", "x"]), "info", 0, 1).is_ok());
    }

    trait TestUnwrap<T> {
        fn unwrap_or_default_for_test(self) -> T;
    }
    impl<T> TestUnwrap<T> for Result<T, Failure> {
        fn unwrap_or_default_for_test(self) -> T {
            match self {
                Ok(t) => t,
                Err(e) => panic!("{e:?}"),
            }
        }
    }
}
