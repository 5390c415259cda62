//! The `hvrun` command line: `run`, `build`, `iso` and `initramfs` subcommands (see
//! `qemu/README.md`).

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::initramfs::{self, InitAction};
use crate::{BootPath, Machine, ModuleSpec, Result, RunConfig, domu, image};

/// Exit status of `hvrun` when it fails before QEMU runs (bad arguments, build or ISO failure).
pub const RUNNER_ERROR: u8 = 6;

/// Builds the hypervisor and boots it under QEMU.
#[derive(Debug, Parser)]
#[command(name = "hvrun", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Boot the hypervisor under QEMU (the default command of qemu/run).
    ///
    /// The serial console is copied to stdout (and typed lines to it when stdin is a
    /// terminal). The exit status says how the run ended: 0 power-off, 1 panic,
    /// 2 unexpected reset, 3 timeout, 4 QEMU error, 5 reboot, 6 runner error.
    Run(RunArgs),
    /// Build the hypervisor ELF and print its path.
    Build,
    /// Build the GRUB boot ISO only.
    Iso(IsoArgs),
    /// Write the busybox initramfs a Linux dom0 boots to (what `run --linux-dom0` uses).
    Initramfs(InitramfsArgs),
}

/// Options of `hvrun initramfs`.
#[derive(Debug, Args)]
pub struct InitramfsArgs {
    /// Power off right after printing what the kernel sees of Xen, instead of running an
    /// interactive shell on the console.
    #[arg(long)]
    pub power_off: bool,
    /// The static busybox binary (default: the one qemu/fetch-debian cached).
    #[arg(long, value_name = "FILE")]
    pub busybox: Option<PathBuf>,
    /// Where to write the gzip'd cpio archive.
    #[arg(value_name = "OUT")]
    pub output: PathBuf,
}

/// What goes into the boot media (shared by `run` and `iso`).
#[derive(Debug, Args)]
pub struct MediaArgs {
    /// The hypervisor command line.
    #[arg(long, value_name = "CMDLINE", default_value = "", allow_hyphen_values = true)]
    pub append: String,
    /// A boot module: FILE, then its command line ARGS unless the next word starts with
    /// `--` (ARGS may be left out). Repeatable; the first module is dom0's kernel. Without
    /// any, dom0 is the PV test kernel pv-hello (built from tests/pv).
    #[arg(long = "module", value_names = ["FILE", "ARGS"], num_args = 2, allow_hyphen_values = true)]
    pub modules: Vec<String>,
    /// Boot without any module (no dom0 kernel) instead of the default pv-hello.
    #[arg(long, conflicts_with = "modules")]
    pub no_dom0: bool,
    /// Use the hypervisor ELF (target/x86_64-xen/release/xen) and the default dom0
    /// (target/x86_64-xen/release/pv-hello) already built, without building.
    #[arg(long)]
    pub no_build: bool,
    /// Boot this kernel ELF instead of the hypervisor (implies --no-build).
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
}

impl MediaArgs {
    /// The modules given with `--module`, in order.
    pub fn module_specs(&self) -> Vec<ModuleSpec> {
        // `normalize_args` makes every occurrence exactly two values: FILE and ARGS.
        self.modules
            .chunks(2)
            .filter_map(|pair| {
                let (file, args) = pair.split_first()?;
                Some(ModuleSpec::new(file, args.first().cloned().unwrap_or_default()))
            })
            .collect()
    }

    /// The modules to boot: those given with `--module`; without any, the default dom0
    /// [`image::DEFAULT_DOM0`] (`pv-hello`, built unless `--no-build`), or none with
    /// `--no-dom0`.
    pub fn modules(&self) -> Result<Vec<ModuleSpec>> {
        let given = self.module_specs();
        if !given.is_empty() || self.no_dom0 {
            return Ok(given);
        }
        let dom0 = if self.no_build {
            image::prebuilt_pv_test_kernel(image::DEFAULT_DOM0)?
        } else {
            image::pv_test_kernel(image::DEFAULT_DOM0)?
        };
        Ok(vec![ModuleSpec::new(dom0, "")])
    }

    fn kernel(&self) -> Result<PathBuf> {
        match &self.kernel {
            Some(path) => image::existing_kernel(path),
            None if self.no_build => image::prebuilt_hypervisor(),
            None => image::hypervisor_image(),
        }
    }
}

/// Options of `hvrun run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Command line and modules.
    #[command(flatten)]
    pub media: MediaArgs,
    /// A domU: its kernel FILE, then its command line ARGS unless the next word starts with
    /// `--` (repeatable). The domUs are packed into a cpio archive that the PV test kernel
    /// pv-toolstack, booted as dom0, builds and runs them from. Adds `dom0_mem=64M` unless
    /// --append has a `dom0_mem=`.
    #[arg(long = "domu", value_names = ["FILE", "ARGS"], num_args = 2, allow_hyphen_values = true,
        conflicts_with_all = ["modules", "no_dom0", "linux_dom0"])]
    pub domus: Vec<String>,
    /// Dom0's command line in a `--domu` boot (pv-toolstack's options, e.g. `domu_mem=64` or
    /// `bench=10`).
    #[arg(
        long,
        value_name = "ARGS",
        default_value = "",
        allow_hyphen_values = true,
        requires = "domus"
    )]
    pub toolstack_args: String,
    /// Boot Debian's Linux (cached by qemu/fetch-debian) as dom0 with `console=hvc0` and a
    /// busybox initramfs that shows what it sees of Xen and runs an interactive shell on the
    /// console (`exit` powers off). Adds `dom0_mem=512M` unless --append has a `dom0_mem=`.
    #[arg(long, conflicts_with_all = ["modules", "no_dom0"])]
    pub linux_dom0: bool,
    /// Number of CPUs.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=255))]
    pub smp: u32,
    /// Guest RAM in MiB.
    #[arg(long, value_name = "MiB", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(16..))]
    pub memory: u32,
    /// Boot through a GRUB ISO or QEMU's Multiboot loader.
    #[arg(long, value_enum, default_value_t = BootPath::Grub)]
    pub boot: BootPath,
    /// Kill QEMU after this many seconds (0: never). Default 60; with --linux-dom0, never
    /// when stdin is a terminal (an interactive shell), else 300.
    #[arg(long, value_name = "S")]
    pub timeout: Option<u64>,
    /// Also write the serial output to FILE.
    #[arg(long, value_name = "FILE")]
    pub serial_log: Option<PathBuf>,
    /// QEMU machine type.
    #[arg(long, value_enum, default_value_t = Machine::Pc)]
    pub machine: Machine,
    /// QEMU CPU model.
    #[arg(long, value_name = "MODEL", default_value = "max")]
    pub cpu: String,
    /// Extra QEMU argument, passed through (repeatable; e.g. `--qemu-arg -s`).
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// At the end, print when the first serial line containing TEXT arrived, in seconds
    /// since QEMU started (`hvrun: time to "TEXT": S s`, or `never`). Repeatable.
    #[arg(long = "report-time", value_name = "TEXT")]
    pub report_time: Vec<String>,
    /// Once a serial line containing MARKER arrives, send COMMAND to QEMU's monitor (e.g.
    /// `--monitor-after "Starting dom0" nmi`). Repeatable; each pair is armed after the
    /// previous one was sent.
    #[arg(long = "monitor-after", value_names = ["MARKER", "COMMAND"], num_args = 2)]
    pub monitor_after: Vec<String>,
}

/// Options of `hvrun iso`.
#[derive(Debug, Args)]
pub struct IsoArgs {
    /// Command line and modules.
    #[command(flatten)]
    pub media: MediaArgs,
    /// Where to write the ISO.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

impl RunArgs {
    /// The domUs given with `--domu`, in order.
    pub fn domu_specs(&self) -> Vec<ModuleSpec> {
        self.domus
            .chunks(2)
            .filter_map(|pair| {
                let (file, args) = pair.split_first()?;
                Some(ModuleSpec::new(file, args.first().cloned().unwrap_or_default()))
            })
            .collect()
    }

    /// The timeout in seconds (0: none), defaults applied.
    pub fn timeout_secs(&self, interactive: bool) -> u64 {
        match (self.timeout, self.linux_dom0, interactive) {
            (Some(t), _, _) => t,
            (None, true, true) => 0,
            (None, true, false) => 300,
            (None, false, _) => 60,
        }
    }

    /// The hypervisor command line: `--append`, with [`initramfs::LINUX_DOM0_APPEND`] in
    /// front for `--linux-dom0` (or [`domu::DOMU_APPEND`] for `--domu`) when it has no
    /// `dom0_mem=`.
    pub fn append(&self) -> String {
        let given = self.media.append.trim();
        let extra = if self.linux_dom0 {
            initramfs::LINUX_DOM0_APPEND
        } else if !self.domus.is_empty() {
            domu::DOMU_APPEND
        } else {
            return self.media.append.clone();
        };
        if given.split_whitespace().any(|w| w.starts_with("dom0_mem=")) {
            self.media.append.clone()
        } else if given.is_empty() {
            extra.to_owned()
        } else {
            format!("{extra} {given}")
        }
    }

    /// The [`RunConfig`] these options describe (building the hypervisor if needed). With
    /// `--linux-dom0` the initramfs, with `--domu` the domUs' archive, is written to
    /// `initrd` (required then).
    pub fn to_config(&self, initrd: Option<&std::path::Path>) -> Result<RunConfig> {
        let interactive = std::io::stdin().is_terminal();
        let domus = self.domu_specs();
        let modules = match (self.linux_dom0, domus.is_empty(), initrd) {
            (true, _, Some(initrd)) => initramfs::linux_dom0_modules(InitAction::Shell, initrd)?,
            (false, false, Some(initrd)) => {
                domu::modules(&domus, &self.toolstack_args, initrd, self.media.no_build)?
            }
            (true, _, None) | (false, false, None) => {
                anyhow::bail!("--linux-dom0 and --domu need a file for the initrd")
            }
            (false, true, _) => self.media.modules()?,
        };
        let timeout = self.timeout_secs(interactive);
        Ok(RunConfig {
            kernel: Some(self.media.kernel()?),
            append: self.append(),
            modules,
            smp: self.smp,
            memory_mib: self.memory,
            boot: self.boot,
            timeout: (timeout > 0).then(|| Duration::from_secs(timeout)),
            machine: self.machine,
            cpu: self.cpu.clone(),
            extra_args: self.qemu_args.clone(),
            serial_log: self.serial_log.clone(),
            echo: true,
            forward_stdin: interactive,
            send_after: Vec::new(),
            monitor_after: self
                .monitor_after
                .chunks(2)
                .filter_map(|pair| match pair {
                    [marker, command] => Some((marker.clone(), command.clone())),
                    _ => None,
                })
                .collect(),
        })
    }
}

/// Rewrites `--module FILE [ARGS]` (and `--domu FILE [ARGS]`) so clap always sees two
/// values: ARGS becomes an empty word when the word after FILE is missing or starts with
/// `--`; `--module=FILE` is split.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut rest = args.into_iter().peekable();
    while let Some(arg) = rest.next() {
        let text = arg.to_string_lossy().into_owned();
        if text == "--" {
            out.push(arg);
            out.extend(rest);
            break;
        }
        let file = if text == "--module" || text == "--domu" {
            out.push(arg);
            match rest.next() {
                Some(file) => file,
                None => break,
            }
        } else if let Some(file) = text.strip_prefix("--module=") {
            out.push("--module".into());
            file.into()
        } else if let Some(file) = text.strip_prefix("--domu=") {
            out.push("--domu".into());
            file.into()
        } else {
            out.push(arg);
            continue;
        };
        out.push(file);
        let has_args = rest.peek().is_some_and(|next| !next.to_string_lossy().starts_with("--"));
        out.push(if has_args { rest.next().unwrap_or_default() } else { OsString::new() });
    }
    out
}

/// Entry point of `hvrun`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { RUNNER_ERROR } else { 0 });
        }
    };
    match execute(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("hvrun: error: {e:#}");
            ExitCode::from(RUNNER_ERROR)
        }
    }
}

fn execute(cli: &Cli) -> Result<u8> {
    match &cli.command {
        Cmd::Build => {
            println!("{}", image::build_hypervisor()?.display());
            Ok(0)
        }
        Cmd::Iso(args) => {
            let kernel = args.media.kernel()?;
            let modules = args.media.modules()?;
            crate::make_iso(&kernel, &args.media.append, &modules, &args.output)?;
            println!("{}", args.output.display());
            Ok(0)
        }
        Cmd::Initramfs(args) => {
            let busybox = match &args.busybox {
                Some(path) => path.clone(),
                None => initramfs::cached_debian()
                    .map(|(_, busybox)| busybox)
                    .context("no cached busybox: run qemu/fetch-debian or give --busybox")?,
            };
            let action = if args.power_off { InitAction::PowerOff } else { InitAction::Shell };
            initramfs::write_initramfs(&busybox, action, &args.output)?;
            println!("{}", args.output.display());
            Ok(0)
        }
        Cmd::Run(args) => {
            // The initramfs of --linux-dom0 (the archive of --domu) lives as long as the run.
            let initrd = if args.linux_dom0 || !args.domus.is_empty() {
                let runs = crate::target_dir().join("hv-runs");
                std::fs::create_dir_all(&runs)
                    .with_context(|| format!("creating {}", runs.display()))?;
                let file = tempfile::Builder::new()
                    .prefix("initrd-")
                    .suffix(".gz")
                    .tempfile_in(&runs)
                    .context("creating the initramfs file")?;
                Some(file.into_temp_path())
            } else {
                None
            };
            let outcome = crate::run(&args.to_config(initrd.as_deref())?)?;
            for needle in &args.report_time {
                match outcome.line_time(needle) {
                    Some(t) => eprintln!("hvrun: time to {needle:?}: {:.3} s", t.as_secs_f64()),
                    None => eprintln!("hvrun: time to {needle:?}: never"),
                }
            }
            eprintln!("hvrun: {}: {}", outcome.status, outcome.reason);
            Ok(outcome.status.exit_status())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> RunArgs {
        let argv = ["hvrun", "run"].iter().chain(words).map(OsString::from);
        match Cli::try_parse_from(normalize_args(argv)) {
            Ok(Cli { command: Cmd::Run(args) }) => args,
            other => panic!("unexpected parse result {other:?}"),
        }
    }

    #[test]
    fn module_words() {
        let args =
            parse(&["--module", "a", "x=1 y", "--module", "b", "--smp", "2", "--module=c", "-v"]);
        let mods = args.media.module_specs();
        assert_eq!(
            mods,
            [ModuleSpec::new("a", "x=1 y"), ModuleSpec::new("b", ""), ModuleSpec::new("c", "-v")]
        );
        assert_eq!(args.smp, 2);
        let last = parse(&["--append", "noreboot", "--module", "k"]);
        assert_eq!(last.media.module_specs(), [ModuleSpec::new("k", "")]);
        assert_eq!(last.media.append, "noreboot");
    }

    #[test]
    fn no_dom0() {
        let args = parse(&["--no-dom0", "--boot", "direct"]);
        assert!(args.media.no_dom0);
        assert!(args.media.modules().is_ok_and(|mods| mods.is_empty()));
        let given = parse(&["--module", "k", "console=hvc0"]);
        assert!(!given.media.no_dom0);
        let argv = ["hvrun", "run", "--no-dom0", "--module", "k"].map(OsString::from);
        assert!(Cli::try_parse_from(normalize_args(argv)).is_err(), "--no-dom0 with --module");
    }

    #[test]
    fn defaults() {
        let args = parse(&[]);
        assert_eq!((args.smp, args.memory, args.boot), (1, 1024, BootPath::Grub));
        assert_eq!(
            (args.timeout, args.timeout_secs(true), args.timeout_secs(false)),
            (None, 60, 60)
        );
        assert_eq!((args.machine, args.cpu.as_str()), (Machine::Pc, "max"));
        let extra = parse(&["--qemu-arg", "-s", "--qemu-arg", "-S", "--boot", "direct"]);
        assert_eq!(extra.qemu_args, ["-s", "-S"]);
        assert_eq!(extra.boot, BootPath::Direct);
    }

    #[test]
    fn domus() {
        let args = parse(&["--domu", "a", "x=1", "--domu", "b", "--smp", "2", "--domu=c"]);
        assert_eq!(
            args.domu_specs(),
            [ModuleSpec::new("a", "x=1"), ModuleSpec::new("b", ""), ModuleSpec::new("c", "")]
        );
        assert_eq!(args.append(), "dom0_mem=64M");
        let args = parse(&["--domu", "a", "--append", "loglvl=all"]);
        assert_eq!(args.append(), "dom0_mem=64M loglvl=all");
        let args = parse(&["--domu", "a", "--append", "dom0_mem=128M"]);
        assert_eq!(args.append(), "dom0_mem=128M");
        for clash in [&["--domu", "a", "--module", "k"][..], &["--domu", "a", "--linux-dom0"]] {
            let argv = ["hvrun", "run"].iter().chain(clash).map(OsString::from);
            assert!(Cli::try_parse_from(normalize_args(argv)).is_err(), "{clash:?}");
        }
    }

    #[test]
    fn linux_dom0() {
        let args = parse(&["--linux-dom0"]);
        assert!(args.linux_dom0);
        assert_eq!(args.append(), "dom0_mem=512M");
        assert_eq!((args.timeout_secs(true), args.timeout_secs(false)), (0, 300));
        let args = parse(&["--linux-dom0", "--append", "loglvl=all", "--timeout", "90"]);
        assert_eq!(args.append(), "dom0_mem=512M loglvl=all");
        assert_eq!(args.timeout_secs(true), 90);
        let args = parse(&["--linux-dom0", "--append", "dom0_mem=1G noreboot"]);
        assert_eq!(args.append(), "dom0_mem=1G noreboot");
        assert_eq!(parse(&["--append", "x"]).append(), "x", "only with --linux-dom0");
        for clash in [&["--linux-dom0", "--module", "k"][..], &["--linux-dom0", "--no-dom0"]] {
            let argv = ["hvrun", "run"].iter().chain(clash).map(OsString::from);
            assert!(Cli::try_parse_from(normalize_args(argv)).is_err(), "{clash:?}");
        }
    }
}
