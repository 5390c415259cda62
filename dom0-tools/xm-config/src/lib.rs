// SPDX-License-Identifier: GPL-2.0-only
//! xm's domain configuration files (`xmdomain.cfg`), without Python.
//!
//! `xm create cfg name=value…` runs `cfg`, a Python 2 script, takes its
//! top-level variables, lets the command line override them, checks and
//! preprocesses the result and sends xend the domain as SXP
//! (`(vm (name …) (memory …) … (image (linux …)) (device …)…)`, what
//! `xm create -n` prints). This crate does each step, after Xen 3.1's
//! `xm/create.py`, `xm/opts.py` and `xm/help.py`:
//!
//! - [`python`]: the subset of Python real configurations use (the
//!   example configs need `import os, re`, `os.uname()`, `re.search`,
//!   `def` with `raise ValueError`, `if`/`else`, `%` formatting and
//!   `xm_vars`), parsed and evaluated in a sandbox with errors at
//!   `file:line:col`;
//! - [`options`]: the `xm create` command line (options, `name=value`
//!   variables, the config file as first bare word) and xm's merge rule
//!   (command line wins, only `str`/`list`/`int`/`float` values count);
//! - [`config`]: the typed [`DomainConfig`] with xm's and xend's defaults
//!   and checks (disks, vifs, vfbs, vtpm, pci, ioports, …);
//! - [`DomainConfig::to_sxp`]: the `(vm …)` SXP as `make_config` builds
//!   it, [`DomainConfig::from_sxp`]: xend's reading of it (also of `xm
//!   list -l`'s `(domain …)`), and [`sxp`]: the SXP value, printer (xend's
//!   80-column layout) and parser.
//!
//! [`create`] chains them: `xm create -n` is
//! `sxp::pretty(&create(args, &env)?.config.to_sxp())`.

#![forbid(unsafe_code)]

pub mod config;
mod error;
pub mod options;
mod py2dict;
pub mod python;
pub mod sxp;

pub use config::DomainConfig;
pub use error::{Error, ErrorKind, Location, Result};
pub use options::{CreateArgs, Created, Env, create};
