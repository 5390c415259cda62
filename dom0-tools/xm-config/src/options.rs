// SPDX-License-Identifier: GPL-2.0-only
//! `xm create`'s command line and how it meets the configuration file.
//!
//! As `xm/opts.py` and `xm/create.py` (Xen 3.1) do it:
//!
//! 1. switches (`-n`, `-q`, `-p`, `-c`, `-f FILE`, `--path=…`, …) in GNU
//!    getopt style, long names by unique prefix; the first bare word not
//!    of the form `k=v` is the config file (`-f`);
//! 2. a `name=value` word whose name is a configuration variable
//!    ([`VARIABLES`]) sets it through its setter (string, integer, `yes|y|
//!    no|n` boolean, or appended to a list: `disk=…` twice is two disks)
//!    and marks it *specified*; any other `name=value` word becomes a
//!    string variable predefined in the script (`vmid=3`);
//! 3. the file is found as given, then in each `--path` directory
//!    (`.:/etc/xen`), and run ([`crate::python`]);
//! 4. every top-level variable of the file whose value is exactly a
//!    `str`, `list`, `int` or `float` sets the option of that name,
//!    unless the command line specified it (**the command line wins**,
//!    even for lists); bools, tuples and functions are dropped silently;
//! 5. with no `name`, the name is the config file's base name.
//!
//! Variables that are no option are kept in [`Created::ignored`] (xm drops
//! them silently; a front end may warn).

use crate::config::DomainConfig;
use crate::error::{Error, ErrorKind, Location, Result};
use crate::python::{self, Binding, DeclaredVar, Host, PyValue, ScriptInput};
use crate::sxp::{self, Sxp};
use std::path::{Path, PathBuf};

/// How a command-line value is turned into the option's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setter {
    /// Kept as a string (`set_value`).
    Str,
    /// `int(value)` (`set_int`; `set_long` for `vcpu_avail`).
    Int,
    /// `yes`/`y` → 1, `no`/`n` → 0 (`set_bool`).
    Bool,
    /// Appended to a list (`append_value`).
    Append,
}

/// A configuration variable of `xm create` (Xen 3.1's `gopts.var`).
#[derive(Clone, Copy, Debug)]
pub struct Variable {
    /// The variable's name.
    pub name: &'static str,
    /// Its command-line setter.
    pub setter: Setter,
    /// Its default, as Python would hold it.
    pub default: Default,
}

/// A variable's default value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default {
    /// `None`.
    None,
    /// An integer.
    Int(i64),
    /// A string.
    Str(&'static str),
    /// An empty list.
    EmptyList,
}

impl Default {
    fn value(self) -> PyValue {
        match self {
            Default::None => PyValue::None,
            Default::Int(n) => PyValue::Int(n),
            Default::Str(s) => PyValue::Str(s.into()),
            Default::EmptyList => PyValue::List(Vec::new()),
        }
    }
}

macro_rules! vars {
    ($($name:literal $setter:ident $default:expr;)*) => {
        /// Every configuration variable of Xen 3.1's `xm create`, in its order.
        pub const VARIABLES: &[Variable] = &[$(Variable { name: $name, setter: Setter::$setter, default: $default }),*];
    };
}

vars! {
    "vncpasswd" Str Default::None;
    "vncviewer" Bool Default::None;
    "vncconsole" Bool Default::None;
    "name" Str Default::None;
    "bootloader" Str Default::None;
    "bootargs" Str Default::None;
    "bootentry" Str Default::None;
    "kernel" Str Default::None;
    "ramdisk" Str Default::Str("");
    "features" Str Default::Str("");
    "builder" Str Default::Str("linux");
    "memory" Int Default::Int(128);
    "maxmem" Int Default::None;
    "shadow_memory" Int Default::Int(0);
    "cpu" Int Default::None;
    "cpus" Str Default::None;
    "rtc_timeoffset" Str Default::Str("0");
    "pae" Int Default::Int(1);
    "acpi" Int Default::Int(1);
    "apic" Int Default::Int(1);
    "vcpus" Int Default::Int(1);
    "vcpu_avail" Int Default::None;
    "cpu_cap" Int Default::None;
    "cpu_weight" Int Default::None;
    "restart" Str Default::None;
    "on_poweroff" Str Default::None;
    "on_reboot" Str Default::None;
    "on_crash" Str Default::None;
    "blkif" Bool Default::Int(0);
    "netif" Bool Default::Int(0);
    "tpmif" Append Default::Int(0);
    "disk" Append Default::EmptyList;
    "pci" Append Default::EmptyList;
    "ioports" Append Default::EmptyList;
    "irq" Append Default::EmptyList;
    "usbport" Append Default::EmptyList;
    "vfb" Append Default::EmptyList;
    "vif" Append Default::EmptyList;
    "vtpm" Append Default::EmptyList;
    "access_control" Append Default::EmptyList;
    "nics" Int Default::Int(-1);
    "root" Str Default::Str("");
    "extra" Str Default::Str("");
    "ip" Str Default::Str("");
    "gateway" Str Default::Str("");
    "netmask" Str Default::Str("");
    "hostname" Str Default::Str("");
    "interface" Str Default::Str("eth0");
    "dhcp" Str Default::Str("off");
    "nfs_server" Str Default::None;
    "nfs_root" Str Default::None;
    "device_model" Str Default::Str("");
    "fda" Str Default::Str("");
    "fdb" Str Default::Str("");
    "serial" Str Default::Str("");
    "monitor" Bool Default::Int(0);
    "localtime" Bool Default::Int(0);
    "keymap" Str Default::Str("");
    "usb" Bool Default::Int(0);
    "usbdevice" Str Default::Str("");
    "stdvga" Bool Default::Int(0);
    "isa" Bool Default::Int(0);
    "boot" Str Default::Str("c");
    "nographic" Bool Default::Int(0);
    "soundhw" Str Default::Str("");
    "vnc" Str Default::None;
    "vncdisplay" Str Default::None;
    "vnclisten" Str Default::None;
    "vncunused" Bool Default::Int(1);
    "sdl" Str Default::None;
    "display" Str Default::None;
    "xauthority" Str Default::None;
    "uuid" Str Default::None;
    "on_xend_start" Str Default::Str("ignore");
    "on_xend_stop" Str Default::Str("ignore");
}

/// Variables that are no `gopts.var` but that xm reads when a file sets
/// them (`ssidref`, the 3.0 raw security reference).
const READ_UNDECLARED: &[&str] = &["ssidref"];

/// The variable named `name`.
pub fn variable(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

/// Where an option's value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Its default.
    Default,
    /// A command-line word.
    CommandLine(String),
    /// A file binding (its location when known).
    File(Option<Location>),
}

impl Origin {
    /// The location to blame for a bad value.
    pub fn location(&self) -> Option<Location> {
        match self {
            Origin::Default => None,
            Origin::CommandLine(word) => Some(Location::Arg(word.clone())),
            Origin::File(loc) => loc.clone(),
        }
    }
}

/// The options' values after the merge (`gopts.vals`).
#[derive(Clone, Debug, Default)]
pub struct Vals {
    entries: Vec<(String, PyValue, Origin)>,
}

impl Vals {
    /// The value and origin of `name`.
    pub fn get(&self, name: &str) -> Option<(&PyValue, &Origin)> {
        self.entries.iter().find(|(n, _, _)| n == name).map(|(_, v, o)| (v, o))
    }

    /// Sets `name`.
    pub fn set(&mut self, name: &str, value: PyValue, origin: Origin) {
        match self.entries.iter_mut().find(|(n, _, _)| n == name) {
            Some(e) => {
                e.1 = value;
                e.2 = origin;
            }
            None => self.entries.push((name.to_string(), value, origin)),
        }
    }
}

/// The parsed `xm create` command line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreateArgs {
    /// `-f`/`--defconfig` or the first bare word (default `xmdefconfig`).
    pub defconfig: Option<String>,
    /// `-F`/`--config`: a ready SXP file.
    pub config: Option<String>,
    /// `--path` (default `.:/etc/xen`).
    pub path: String,
    /// `-h`/`--help`.
    pub help: bool,
    /// `--help_config`.
    pub help_config: bool,
    /// `-q`/`--quiet`.
    pub quiet: bool,
    /// `-n`/`--dryrun`.
    pub dryrun: bool,
    /// `-x`/`--xmldryrun`.
    pub xmldryrun: bool,
    /// `-s`/`--skipdtd`.
    pub skipdtd: bool,
    /// `-p`/`--paused`.
    pub paused: bool,
    /// `-c`/`--console_autoconnect`.
    pub console_autoconnect: bool,
    /// Variables set on the command line: name, value, the word.
    pub specified: Vec<(String, PyValue, String)>,
    /// Other `name=value` words: script variables.
    pub vars: Vec<(String, String)>,
}

const SWITCHES: &[(&str, Option<char>, bool)] = &[
    ("help", Some('h'), false),
    ("help_config", None, false),
    ("quiet", Some('q'), false),
    ("path", None, true),
    ("defconfig", Some('f'), true),
    ("config", Some('F'), true),
    ("dryrun", Some('n'), false),
    ("xmldryrun", Some('x'), false),
    ("skipdtd", Some('s'), false),
    ("paused", Some('p'), false),
    ("console_autoconnect", Some('c'), false),
];

fn opt_err(msg: String) -> Error {
    Error::new(ErrorKind::Option, msg)
}

impl CreateArgs {
    /// Parses the words after `xm create`.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<CreateArgs> {
        let mut a = CreateArgs { path: ".:/etc/xen".into(), ..CreateArgs::default() };
        let mut i = 0usize;
        // After `--` the next word is not an option (xm runs getopt again
        // after each bare word, so only that one word is protected).
        let mut literal_next = false;
        while let Some(word) = words.get(i).map(AsRef::as_ref) {
            i = i.saturating_add(1);
            if !literal_next && word == "--" {
                literal_next = true;
                continue;
            }
            let literal = core::mem::take(&mut literal_next);
            if !literal && word.len() > 1 && word.starts_with('-') {
                let mut take_value = |name: &str, inline: Option<&str>| -> Result<String> {
                    if let Some(v) = inline {
                        return Ok(v.to_string());
                    }
                    let v = words.get(i).map(|w| w.as_ref().to_string());
                    i = i.saturating_add(1);
                    v.ok_or_else(|| opt_err(format!("option {name} requires argument")))
                };
                if let Some(long) = word.strip_prefix("--") {
                    let (key, inline) = match long.split_once('=') {
                        Some((k, v)) => (k, Some(v)),
                        None => (long, None),
                    };
                    let exact = SWITCHES.iter().find(|s| s.0 == key);
                    let candidates: Vec<_> =
                        SWITCHES.iter().filter(|s| s.0.starts_with(key)).collect();
                    let sw = match (exact, candidates.as_slice()) {
                        (Some(s), _) => s,
                        (None, [s]) => *s,
                        (None, []) => {
                            return Err(opt_err(format!("option --{key} not recognized")));
                        }
                        (None, _) => {
                            return Err(opt_err(format!("option --{key} not a unique prefix")));
                        }
                    };
                    if sw.2 {
                        let v = take_value(&format!("--{}", sw.0), inline)?;
                        a.apply_switch(sw.0, Some(v));
                    } else if inline.is_some() {
                        return Err(opt_err(format!(
                            "option --{} must not have an argument",
                            sw.0
                        )));
                    } else {
                        a.apply_switch(sw.0, None);
                    }
                } else {
                    let chars = word.char_indices().skip(1);
                    for (at, c) in chars {
                        let Some(sw) = SWITCHES.iter().find(|s| s.1 == Some(c)) else {
                            return Err(opt_err(format!("option -{c} not recognized")));
                        };
                        if sw.2 {
                            let rest = word
                                .get(at.saturating_add(c.len_utf8())..)
                                .filter(|r| !r.is_empty());
                            let v = take_value(&format!("-{c}"), rest)?;
                            a.apply_switch(sw.0, Some(v));
                            break;
                        }
                        a.apply_switch(sw.0, None);
                    }
                }
                continue;
            }
            match word.split_once('=') {
                Some((k, v)) => match variable(k) {
                    Some(var) => a.specify(var, v, word)?,
                    None => a.vars.push((k.trim().to_string(), v.trim().to_string())),
                },
                None => a.defconfig = Some(word.to_string()),
            }
        }
        Ok(a)
    }

    fn apply_switch(&mut self, name: &str, value: Option<String>) {
        match name {
            "help" => self.help = true,
            "help_config" => self.help_config = true,
            "quiet" => self.quiet = true,
            "path" => self.path = value.unwrap_or_default(),
            "defconfig" => self.defconfig = value,
            "config" => self.config = value,
            "dryrun" => self.dryrun = true,
            "xmldryrun" => self.xmldryrun = true,
            "skipdtd" => self.skipdtd = true,
            "paused" => self.paused = true,
            _ => self.console_autoconnect = true,
        }
    }

    /// A `name=value` word for a configuration variable.
    fn specify(&mut self, var: &Variable, v: &str, word: &str) -> Result<()> {
        let invalid = || {
            Error::at(ErrorKind::Option, Location::Arg(word.into()), format!("Invalid value: {v}"))
        };
        let value = match var.setter {
            Setter::Str => PyValue::Str(v.into()),
            Setter::Int => {
                let t = v.trim();
                let t =
                    t.strip_suffix(['L', 'l']).filter(|_| var.name == "vcpu_avail").unwrap_or(t);
                PyValue::Int(t.parse::<i64>().map_err(|_| invalid())?)
            }
            Setter::Bool => match v {
                "yes" | "y" => PyValue::Int(1),
                "no" | "n" => PyValue::Int(0),
                _ => return Err(invalid()),
            },
            Setter::Append => {
                let mut items = match self.specified.iter().find(|s| s.0 == var.name) {
                    Some((_, PyValue::List(items), _)) => items.clone(),
                    _ => Vec::new(),
                };
                items.push(PyValue::Str(v.into()));
                PyValue::List(items)
            }
        };
        match self.specified.iter_mut().find(|s| s.0 == var.name) {
            Some(s) => {
                s.1 = value;
                s.2 = word.to_string();
            }
            None => self.specified.push((var.name.to_string(), value, word.to_string())),
        }
        Ok(())
    }
}

/// What `create` reads beyond the command line.
#[derive(Clone, Debug)]
pub struct Env {
    /// The working directory (relative config, kernel and ramdisk paths).
    pub cwd: PathBuf,
    /// Host facts for `os.uname()`.
    pub host: Host,
    /// `$DISPLAY` (vfb defaults).
    pub display: Option<String>,
    /// `$XAUTHORITY`, or `$HOME/.Xauthority` (vfb defaults).
    pub xauthority: Option<String>,
}

impl Env {
    /// This process's working directory, host and environment.
    pub fn from_process() -> Env {
        let xauthority = std::env::var("XAUTHORITY")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.Xauthority")));
        Env {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            host: Host::current(),
            display: std::env::var("DISPLAY").ok().filter(|s| !s.is_empty()),
            xauthority,
        }
    }
}

/// The outcome of `xm create`'s configuration steps.
#[derive(Clone, Debug)]
pub struct Created {
    /// The parsed command line.
    pub args: CreateArgs,
    /// The configuration file used (as xm names it: `./x`, `/etc/xen/x`).
    pub config_file: Option<String>,
    /// The domain configuration (`None` for help).
    pub config: Option<DomainConfig>,
    /// The SXP sent to xend (what `-n` prints).
    pub sxp: Option<Sxp>,
    /// Variables the file declared with `xm_vars.var`.
    pub declared: Vec<DeclaredVar>,
    /// File variables that are no option (xm drops them silently).
    pub ignored: Vec<Binding>,
    /// Warnings: xm's own (`Warning: …`) and, beyond xm, file variables
    /// that look like a misspelt option.
    pub warnings: Vec<String>,
    /// What xm prints on standard output before the SXP unless `-q`
    /// (`Using config file "./x".`).
    pub info: Vec<String>,
}

impl Created {
    /// What `xm create --help_config FILE` adds for the file's `xm_vars`
    /// (`Vars.doHelp`), empty when it declares none.
    pub fn help_text(&self) -> String {
        if self.declared.is_empty() {
            return String::new();
        }
        let file = self.config_file.as_deref().unwrap_or("");
        let mut out = format!("\nConfiguration variables for {file}:\n\n");
        for v in &self.declared {
            out.push_str(&format!("{:<12} {}\n", v.name, v.usage));
        }
        out.push('\n');
        out
    }
}

/// Runs `xm create WORDS…` up to the SXP it would send xend.
pub fn create<S: AsRef<str>>(words: &[S], env: &Env) -> Result<Created> {
    let args = CreateArgs::parse(words)?;
    let mut created = Created {
        args: args.clone(),
        config_file: None,
        config: None,
        sxp: None,
        declared: Vec::new(),
        ignored: Vec::new(),
        warnings: Vec::new(),
        info: Vec::new(),
    };
    if args.help {
        return Ok(created);
    }
    if let Some(file) = &args.config {
        let path = env.cwd.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::new(ErrorKind::Io, format!("Unable to open config file: {file}: {e}"))
        })?;
        let sxp = sxp::parse_one(&text).map_err(|e| {
            Error::at(
                ErrorKind::Syntax,
                Location::File {
                    file: file.as_str().into(),
                    line: u32::try_from(e.line).unwrap_or(u32::MAX),
                    col: u32::try_from(e.col).unwrap_or(u32::MAX),
                },
                e.message,
            )
        })?;
        // xm sends the file as it is; here it is also read as xend reads it.
        let config = DomainConfig::from_sxp(&sxp).map_err(|e| Error {
            location: Some(Location::File { file: file.as_str().into(), line: 1, col: 1 }),
            ..e
        })?;
        created.config_file = Some(file.clone());
        created.config = Some(config);
        created.sxp = Some(sxp);
        return Ok(created);
    }
    let defconfig = args.defconfig.clone().unwrap_or_else(|| "xmdefconfig".into());
    let (shown, path) = locate(&defconfig, &args.path, &env.cwd).ok_or_else(|| {
        Error::new(ErrorKind::Io, format!("Unable to open config file: {defconfig}"))
    })?;
    let source = std::fs::read_to_string(&path).map_err(|e| {
        Error::new(ErrorKind::Io, format!("Unable to open config file: {defconfig}: {e}"))
    })?;
    if source.starts_with('<') {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("{shown}: XML (Xen-API) configuration files are not supported"),
        ));
    }
    created.config_file = Some(shown.clone());
    if !args.quiet {
        created.info.push(format!("Using config file \"{shown}\"."));
    }
    let script = python::run(&ScriptInput {
        file: &shown,
        source: &source,
        vars: &args.vars,
        help: args.help_config,
        host: &env.host,
    })?;
    created.declared = script.declared.clone();
    if args.help_config {
        return Ok(created);
    }
    let mut vals = Vals::default();
    for var in VARIABLES {
        vals.set(var.name, var.default.value(), Origin::Default);
    }
    for (name, value, word) in &args.specified {
        vals.set(name, value.clone(), Origin::CommandLine(word.clone()));
    }
    // parseCommandLine fills these from the environment before the file runs.
    let unset = |vals: &Vals, n: &str| !vals.get(n).is_some_and(|(v, _)| truthy(v));
    if unset(&vals, "display") {
        vals.set(
            "display",
            env.display.clone().map_or(PyValue::None, PyValue::Str),
            Origin::Default,
        );
    }
    if unset(&vals, "xauthority") {
        vals.set(
            "xauthority",
            env.xauthority.clone().map_or(PyValue::None, PyValue::Str),
            Origin::Default,
        );
    }
    const PREDEFINED: [&str; 5] = ["sys", "os", "xm_file", "xm_help", "xm_vars"];
    for b in &script.bindings {
        if args.specified.iter().any(|s| s.0 == b.name) {
            continue;
        }
        if !matches!(
            b.value,
            PyValue::Str(_) | PyValue::List(_) | PyValue::Int(_) | PyValue::Float(_)
        ) {
            continue;
        }
        if variable(&b.name).is_some() || READ_UNDECLARED.contains(&b.name.as_str()) {
            vals.set(&b.name, b.value.clone(), Origin::File(b.location.clone()));
        } else if !PREDEFINED.contains(&b.name.as_str())
            && !args.vars.iter().any(|(k, _)| *k == b.name)
        {
            created.ignored.push(b.clone());
        }
    }
    for b in &created.ignored {
        if let Some(option) = VARIABLES.iter().map(|v| v.name).find(|o| near(o, &b.name)) {
            let at = b.location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
            created.warnings.push(format!(
                "{at}variable '{}' is not an xm option and is ignored (did you mean '{option}'?)",
                b.name
            ));
        }
    }
    // The name defaults to the config file's base name.
    if !vals.get("name").is_some_and(|(v, _)| truthy(v)) {
        let base = Path::new(&defconfig)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        vals.set("name", PyValue::Str(base), Origin::Default);
    }
    let config = DomainConfig::from_vals(&vals, &args, env, &mut created.warnings)?;
    created.sxp = Some(config.to_sxp());
    created.config = Some(config);
    Ok(created)
}

/// Whether `a` and `b` differ by one edit or a swap of neighbours (and are
/// long enough for that to suggest a typo).
fn near(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b || a.len().min(b.len()) < 4 {
        return false;
    }
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    match long.len().saturating_sub(short.len()) {
        0 => {
            let diff: Vec<usize> =
                (0..short.len()).filter(|&i| short.get(i) != long.get(i)).collect();
            match diff.as_slice() {
                [_] => true,
                [i, j] => {
                    j.saturating_sub(*i) == 1
                        && short.get(*i) == long.get(*j)
                        && short.get(*j) == long.get(*i)
                }
                _ => false,
            }
        }
        1 => {
            let first =
                (0..short.len()).find(|&i| short.get(i) != long.get(i)).unwrap_or(short.len());
            short.get(first..) == long.get(first.saturating_add(1)..)
        }
        _ => false,
    }
}

/// Python's truth value of a plain value.
pub(crate) fn truthy(v: &PyValue) -> bool {
    match v {
        PyValue::None => false,
        PyValue::Bool(b) => *b,
        PyValue::Int(n) => *n != 0,
        PyValue::Float(f) => *f != 0.0,
        PyValue::Str(s) => !s.is_empty(),
        PyValue::List(l) | PyValue::Tuple(l) => !l.is_empty(),
        PyValue::Other(_) => true,
    }
}

/// `load_defconfig`'s search: the name as given, then in each `path`
/// directory; relative names are shown as `./name`.
fn locate(name: &str, search: &str, cwd: &Path) -> Option<(String, PathBuf)> {
    let dirs = core::iter::once("").chain(search.split(':'));
    for dir in dirs {
        let p = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", dir.trim_end_matches('/'))
        };
        let shown = if p.starts_with('/') { p } else { format!("./{p}") };
        let full = cwd.join(&shown);
        if full.exists() {
            return Some((shown, full));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_parse_as_xm_parses_them() {
        let a = CreateArgs::parse(&[
            "-nqf",
            "cfg",
            "--pau",
            "x=1",
            "vmid=3",
            "memory=64",
            "disk=a",
            "disk=b",
            "--path=/p",
            "-c",
        ])
        .expect("parses");
        assert!(a.dryrun && a.quiet && a.paused && a.console_autoconnect);
        assert_eq!((a.defconfig.as_deref(), a.path.as_str()), (Some("cfg"), "/p"));
        assert_eq!(
            a.vars,
            [("x".to_string(), "1".to_string()), ("vmid".to_string(), "3".to_string())]
        );
        assert_eq!(
            a.specified.first().cloned().expect("memory"),
            ("memory".to_string(), PyValue::Int(64), "memory=64".to_string())
        );
        assert_eq!(
            a.specified.get(1).map(|s| s.1.clone()).expect("disk"),
            PyValue::List(vec![PyValue::Str("a".into()), PyValue::Str("b".into())])
        );
        let a = CreateArgs::parse(&["-F", "sxp", "--", "-odd-name", "--dryrun"]).expect("parses");
        assert_eq!(
            (a.config.as_deref(), a.defconfig.as_deref(), a.dryrun),
            (Some("sxp"), Some("-odd-name"), true)
        );
        let err = |w: &[&str]| CreateArgs::parse(w).expect_err("fails").to_string();
        assert_eq!(err(&["-f"]), "option -f requires argument");
        assert_eq!(err(&["--defconfig"]), "option --defconfig requires argument");
        let help = CreateArgs::parse(&["--help"]).expect("an exact name beats a longer one");
        assert!(help.help && !help.help_config);
        assert_eq!(err(&["--d"]), "option --d not a unique prefix");
        assert_eq!(err(&["-z"]), "option -z not recognized");
        assert_eq!(err(&["--quiet=1"]), "option --quiet must not have an argument");
        assert_eq!(err(&["vcpus=two"]), "command line 'vcpus=two': Invalid value: two");
    }

    #[test]
    fn near_misses_are_typos() {
        assert!(near("memory", "memroy"));
        assert!(near("vcpus", "vpcus"));
        assert!(near("kernel", "kernal"));
        assert!(near("ramdisk", "ramdsk"));
        assert!(!near("memory", "memory"));
        assert!(!near("arch", "acpi"));
        assert!(!near("vif", "vfb"));
    }
}
