// SPDX-License-Identifier: GPL-2.0-only
//! `xenstore`: the xenstore command-line tools as one multi-call binary.
//!
//! Called as `xenstore-read`, `xenstore-write`, `xenstore-ls`,
//! `xenstore-list`, `xenstore-rm`, `xenstore-exists`, `xenstore-chmod`,
//! `xenstore-watch`
//! (e.g. through symlinks) or as `xenstore <command> ...`. The socket is
//! `$XENSTORED_PATH` or `/var/run/xenstored/socket`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use xenstored::client::{Client, ClientError, DEFAULT_SOCKET};

const USAGE: &str = "usage: xenstore {read|write|ls|list|rm|exists|chmod|watch} args...
  read PATH...            print each node's value
  write PATH VALUE...     write pairs of path and value
  ls [PATH]               print the tree below PATH (default /)
  list PATH               print PATH's children
  rm PATH...              remove nodes and their subtrees
  exists PATH             exit status 0 if PATH exists
  chmod PATH PERM...      set permissions (n|r|w|b followed by a domid)
  watch [-n N] PATH       print the paths of PATH's watch events (the first N)";

/// Xen's `xenstore-ls` value display: printable ASCII as is, the rest
/// escaped.
fn escape(value: &[u8]) -> String {
    let mut out = String::new();
    for &b in value {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

fn ls(client: &mut Client, path: &str, depth: usize, out: &mut String) -> Result<(), ClientError> {
    for child in client.directory(0, path)? {
        let full = if path == "/" { format!("/{child}") } else { format!("{path}/{child}") };
        let value = client.read(0, &full).unwrap_or_default();
        out.push_str(&format!("{:depth$}{child} = \"{}\"\n", "", escape(&value)));
        ls(client, &full, depth.saturating_add(1), out)?;
    }
    Ok(())
}

/// Prints each event's path as it comes (the first is the watch's own
/// initial event), `count` of them or forever.
fn watch(client: &mut Client, path: &str, count: Option<usize>) -> Result<(), ClientError> {
    use std::io::Write;
    client.watch(path, "xenstore-watch")?;
    let mut seen = 0usize;
    while count.is_none_or(|n| seen < n) {
        if let Some((event, _)) = client.next_event(std::time::Duration::from_secs(3600))? {
            println!("{event}");
            let _ = std::io::stdout().flush();
            seen = seen.saturating_add(1);
        }
    }
    Ok(())
}

fn run(command: &str, args: &[String], socket: &Path) -> Result<ExitCode, String> {
    let fail = |e: ClientError| format!("xenstore-{command}: {e}");
    let mut client = Client::connect(socket)
        .map_err(|e| format!("could not connect to {}: {e}", socket.display()))?;
    match (command, args) {
        ("read", paths) if !paths.is_empty() => {
            for path in paths {
                let value = client.read(0, path).map_err(fail)?;
                println!("{}", String::from_utf8_lossy(&value));
            }
        }
        ("write", pairs) if !pairs.is_empty() && pairs.len() % 2 == 0 => {
            for pair in pairs.chunks(2) {
                if let [path, value] = pair {
                    client.write(0, path, value.as_bytes()).map_err(fail)?;
                }
            }
        }
        ("ls", rest) if rest.len() <= 1 => {
            let mut out = String::new();
            ls(&mut client, rest.first().map_or("/", String::as_str), 0, &mut out).map_err(fail)?;
            print!("{out}");
        }
        ("list", [path]) => {
            for child in client.directory(0, path).map_err(fail)? {
                println!("{child}");
            }
        }
        ("rm", paths) if !paths.is_empty() => {
            for path in paths {
                client.rm(0, path).map_err(fail)?;
            }
        }
        ("exists", [path]) => {
            return Ok(if client.read(0, path).is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        ("chmod", [path, perms @ ..]) if !perms.is_empty() => {
            let perms: Vec<&str> = perms.iter().map(String::as_str).collect();
            client.set_perms(0, path, &perms).map_err(fail)?;
        }
        ("watch", [path]) => watch(&mut client, path, None).map_err(fail)?,
        ("watch", [flag, count, path]) if flag == "-n" => {
            let count = count.parse().map_err(|_| USAGE.to_owned())?;
            watch(&mut client, path, Some(count)).map_err(fail)?;
        }
        _ => return Err(USAGE.to_owned()),
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    let called =
        argv.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_owned()).unwrap_or_default();
    let command = match called.strip_prefix("xenstore-") {
        Some(cmd) => cmd.to_owned(),
        None if argv.len() > 1 => argv.remove(1),
        None => String::new(),
    };
    let args = argv.get(1..).unwrap_or(&[]).to_vec();
    let socket = std::env::var_os("XENSTORED_PATH")
        .map_or_else(|| PathBuf::from(DEFAULT_SOCKET), PathBuf::from);
    match run(&command, &args, &socket) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
