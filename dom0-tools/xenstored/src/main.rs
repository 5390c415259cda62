// SPDX-License-Identifier: GPL-2.0-only
//! `xenstored`: the xenstore daemon of dom0.
//!
//! Binds the socket, serves the domains' rings where this is a dom0 whose
//! kernel offers its xenstore ring (`/proc/xen/xsd_kva`; not with
//! `--no-domain-init`), then (unless `--foreground`) detaches as a daemon,
//! writes `--pid-file` and serves until `SIGTERM` or `SIGINT`,
//! removing the socket and the pid file on the way out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use xenstored::quota::Quota;
use xenstored::server::Server;

/// The xenstore daemon: Xen's xenstore protocol over a Unix socket.
#[derive(Debug, Parser)]
#[command(name = "xenstored", version)]
struct Options {
    /// Path of the Unix socket to serve.
    #[arg(long, default_value = xenstored::client::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Write the daemon's pid to this file.
    #[arg(long, short = 'F')]
    pid_file: Option<PathBuf>,
    /// Serve the Unix socket only: no domain rings, even where dom0's
    /// ring is offered (`/proc/xen/xsd_kva`).
    #[arg(long, short = 'D')]
    no_domain_init: bool,
    /// Stay in the foreground (do not fork).
    #[arg(long, short = 'N', visible_alias = "no-fork")]
    foreground: bool,
    /// Nodes a domain may own.
    #[arg(long, default_value_t = Quota::default().nodes)]
    quota_nodes: usize,
    /// Bytes of one node (value and child names) for a domain.
    #[arg(long, default_value_t = Quota::default().entry_size)]
    quota_entry_size: usize,
    /// Watches of a domain.
    #[arg(long, default_value_t = Quota::default().watches)]
    quota_watches: usize,
    /// Open transactions of a domain.
    #[arg(long, default_value_t = Quota::default().transactions)]
    quota_transactions: usize,
    /// Entries of a node's permission list set by a domain.
    #[arg(long, default_value_t = Quota::default().perms_per_node)]
    quota_perms: usize,
    /// Nodes one transaction of a domain may touch.
    #[arg(long, default_value_t = Quota::default().transaction_nodes)]
    quota_transaction_nodes: usize,
    /// Replies and events queued for a domain before it must read them.
    #[arg(long, default_value_t = Quota::default().outstanding)]
    quota_outstanding: usize,
}

impl Options {
    fn quota(&self) -> Quota {
        Quota {
            nodes: self.quota_nodes,
            entry_size: self.quota_entry_size,
            watches: self.quota_watches,
            transactions: self.quota_transactions,
            perms_per_node: self.quota_perms,
            transaction_nodes: self.quota_transaction_nodes,
            outstanding: self.quota_outstanding,
        }
    }
}

fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir().map(|cwd| cwd.join(&path)).unwrap_or(path)
    }
}

fn run(options: Options) -> Result<(), String> {
    let socket = absolute(options.socket.clone());
    let pid_file = options.pid_file.clone().map(absolute);
    let mut server = Server::bind(&socket, options.quota()).map_err(|e| e.to_string())?;
    // Xen's `domain_init` + `dom0_init`, where this is a dom0 whose kernel
    // waits for a xenstore daemon.
    if !options.no_domain_init && xenctrl::xenfs::has_xsd_kva() {
        let port = server.serve_rings()?;
        eprintln!("xenstored: serving dom0's xenstore ring (local port {})", port.0);
    }
    let mut mask = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        mask.add(signal);
    }
    mask.thread_block().map_err(|e| format!("blocking signals: {e}"))?;
    if !options.foreground {
        nix::unistd::daemon(false, false).map_err(|e| format!("daemon: {e}"))?;
    }
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))?;
    if let Some(pid_file) = &pid_file {
        std::fs::write(pid_file, format!("{}\n", std::process::id()))
            .map_err(|e| format!("writing {}: {e}", pid_file.display()))?;
    }
    let result = server.run(Some(&signals)).map_err(|e| e.to_string());
    if let Some(pid_file) = &pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    result
}

fn main() -> ExitCode {
    match run(Options::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xenstored: {message}");
            ExitCode::FAILURE
        }
    }
}
