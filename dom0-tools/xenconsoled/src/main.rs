// SPDX-License-Identifier: GPL-2.0-only
//! `xenconsoled`: the console daemon of dom0, with Xen 4.17's options.
//!
//! Connects to xenstored (`XENSTORED_PATH` or `/var/run/xenstored/socket`),
//! opens the hypervisor through privcmd, detaches unless `-i`, writes
//! `--pid-file` and serves until `SIGTERM` or `SIGINT`; `SIGHUP` reopens
//! the logs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use xenconsoled::backend::Hypervisor;
use xenconsoled::console::ConsoleConfig;
use xenconsoled::daemon::{Daemon, Options};
use xenconsoled::fake::FakeXen;
use xenconsoled::xen::XenHypervisor;
use xenstored::client::Client;

/// Which logs (`--log`, `--timestamp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Which {
    None,
    Guest,
    Hv,
    All,
}

impl Which {
    fn guest(self) -> bool {
        matches!(self, Self::Guest | Self::All)
    }
    fn hv(self) -> bool {
        matches!(self, Self::Hv | Self::All)
    }
}

/// What to do when a console's buffer is over its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Overflow {
    Discard,
    Keep,
}

/// The Xen console daemon: each domain's PV console on a pty.
#[derive(Debug, Parser)]
#[command(name = "xenconsoled", version)]
struct Cli {
    /// Log to stderr too.
    #[arg(short, long)]
    verbose: bool,
    /// Stay in the foreground.
    #[arg(short, long)]
    interactive: bool,
    /// Which output to log.
    #[arg(long, value_enum, default_value = "none")]
    log: Which,
    /// Directory of the logs.
    #[arg(long, default_value = "/var/log/xen/console")]
    log_dir: PathBuf,
    /// Write the daemon's pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Which logs get timestamps.
    #[arg(short, long, value_enum, default_value = "none")]
    timestamp: Which,
    /// Over a console's limit, discard the middle of its output or stop
    /// reading the guest's ring.
    #[arg(short, long, value_enum, default_value = "discard")]
    overflow_data: Overflow,
    /// Write ESC as `.` in logs.
    #[arg(long)]
    replace_escape: bool,
    /// Tests only: serve an empty in-memory hypervisor instead of privcmd's.
    #[arg(long, hide = true)]
    test_fake_hypervisor: bool,
}

fn run(cli: Cli) -> Result<(), String> {
    let socket = std::env::var_os("XENSTORED_PATH")
        .map_or_else(|| PathBuf::from(xenstored::client::DEFAULT_SOCKET), PathBuf::from);
    let xs = Client::connect(&socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    let hv = if cli.test_fake_hypervisor {
        None
    } else {
        Some(XenHypervisor::open().map_err(|e| e.to_string())?)
    };
    if cli.log != Which::None {
        std::fs::create_dir_all(&cli.log_dir)
            .map_err(|e| format!("{}: {e}", cli.log_dir.display()))?;
    }
    let opts = Options {
        console: ConsoleConfig {
            discard: cli.overflow_data == Overflow::Discard,
            log_dir: cli.log.guest().then(|| cli.log_dir.clone()),
            timestamps: cli.timestamp.guest(),
            replace_escape: cli.replace_escape,
        },
        hv_log: cli.log.hv().then(|| cli.log_dir.clone()),
        hv_timestamps: cli.timestamp.hv(),
    };
    let mut mask = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        mask.add(signal);
    }
    mask.thread_block().map_err(|e| format!("blocking signals: {e}"))?;
    if !cli.interactive {
        nix::unistd::daemon(false, cli.verbose).map_err(|e| format!("daemon: {e}"))?;
    }
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))?;
    let pid_file = cli.pid_file.as_ref();
    if let Some(pid_file) = pid_file {
        std::fs::write(pid_file, format!("{}\n", std::process::id()))
            .map_err(|e| format!("writing {}: {e}", pid_file.display()))?;
    }
    let result = match hv {
        Some(hv) => serve(xs, hv, opts, &signals),
        None => serve(xs, FakeXen::new(), opts, &signals),
    };
    if let Some(pid_file) = pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    result
}

fn serve<H: Hypervisor>(
    xs: Client,
    hv: H,
    opts: Options,
    signals: &SignalFd,
) -> Result<(), String> {
    use std::os::fd::AsFd;
    let mut daemon = Daemon::new(xs, hv, opts).map_err(|e| e.to_string())?;
    loop {
        if daemon.run_once(Some(signals.as_fd()), None).map_err(|e| e.to_string())? {
            continue;
        }
        while let Ok(Some(info)) = signals.read_signal() {
            if info.ssi_signo == Signal::SIGHUP as u32 {
                daemon.reopen_logs();
            } else {
                return Ok(());
            }
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xenconsoled: {message}");
            ExitCode::FAILURE
        }
    }
}
