// SPDX-License-Identifier: GPL-2.0-only
//! `xenconsole`: attach this terminal to a domain's PV console
//! (`Ctrl-]` detaches), as Xen's client.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use xenconsoled::client::{TTY_WAIT, attach};
use xenstored::client::Client;

/// Attach to a domain's console.
#[derive(Debug, Parser)]
#[command(name = "xenconsole", version)]
struct Cli {
    /// Console type; only `pv` (the domain's first PV console).
    #[arg(long, default_value = "pv")]
    r#type: String,
    /// The domain, by id or by name.
    domain: String,
}

fn domid(xs: &mut Client, domain: &str) -> Result<u16, String> {
    if let Ok(id) = domain.parse::<u16>() {
        return Ok(id);
    }
    let ids = xs.directory(0, "/local/domain").map_err(|e| e.to_string())?;
    for id in ids {
        let Ok(n) = id.parse::<u16>() else { continue };
        if xs.read(0, &format!("/local/domain/{n}/name")).is_ok_and(|v| v == domain.as_bytes()) {
            return Ok(n);
        }
    }
    Err(format!("{domain} is an invalid domain identifier"))
}

fn run(cli: Cli) -> Result<(), String> {
    if cli.r#type != "pv" {
        return Err(format!("invalid type argument {}", cli.r#type));
    }
    let socket = std::env::var_os("XENSTORED_PATH")
        .map_or_else(|| PathBuf::from(xenstored::client::DEFAULT_SOCKET), PathBuf::from);
    let mut xs = Client::connect(&socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    let id = domid(&mut xs, &cli.domain)?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    attach(&mut xs, id, stdin.as_fd(), stdout.as_fd(), TTY_WAIT)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xenconsole: {message}");
            ExitCode::FAILURE
        }
    }
}
