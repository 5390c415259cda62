// SPDX-License-Identifier: GPL-2.0-only
//! Starts the `xenstored` binary on a temporary socket and speaks the
//! protocol to it: writes and reads, watches, a transaction conflict,
//! malformed input, the `xenstore` tools, concurrent transactions and a
//! clean `SIGTERM` shutdown.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use guest_abi::io::xs_wire::{XsdError, XsdSockmsgType as T};
use xenstored::client::{Client, ClientError};
use xenstored::wire::{Decoder, Message};

struct Daemon {
    child: Child,
    socket: PathBuf,
    pid_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/socket");
        let pid_file = dir.path().join("xenstored.pid");
        let child = Command::new(env!("CARGO_BIN_EXE_xenstored"))
            .arg("--foreground")
            .arg("--socket")
            .arg(&socket)
            .arg("--pid-file")
            .arg(&pid_file)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() {
            assert!(Instant::now() < deadline, "xenstored did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, socket, pid_file, _dir: dir }
    }

    fn client(&self) -> Client {
        client(&self.socket)
    }

    fn tool(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_xenstore"))
            .args(args)
            .env("XENSTORED_PATH", &self.socket)
            .output()
            .unwrap()
    }
}

/// A client that fails a test rather than hang it.
fn client(socket: &Path) -> Client {
    let mut client = Client::connect(socket).unwrap();
    client.set_timeout(Some(Duration::from_secs(30))).unwrap();
    client
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn xs_err(result: Result<impl std::fmt::Debug, ClientError>) -> XsdError {
    match result {
        Err(ClientError::Xs(e)) => e,
        other => panic!("expected an xenstore error, got {other:?}"),
    }
}

#[test]
fn write_read_watch_and_transaction_conflict() {
    let daemon = Daemon::start();
    let mut a = daemon.client();
    let mut b = daemon.client();
    a.write(0, "/vm/1/name", b"guest").unwrap();
    assert_eq!(b.read(0, "/vm/1/name").unwrap(), b"guest");
    assert_eq!(b.directory(0, "/vm").unwrap(), ["1"]);
    assert_eq!(xs_err(b.read(0, "/vm/2")), XsdError::ENOENT);
    assert_eq!(b.get_perms(0, "/vm/1").unwrap(), ["n0"]);

    b.watch("/vm", "tok").unwrap();
    assert_eq!(b.next_event(Duration::from_secs(5)).unwrap(), Some(("/vm".into(), "tok".into())));
    a.write(0, "/vm/1/state", b"running").unwrap();
    assert_eq!(
        b.next_event(Duration::from_secs(5)).unwrap(),
        Some(("/vm/1/state".into(), "tok".into()))
    );
    assert_eq!(b.next_event(Duration::from_millis(100)).unwrap(), None);

    let tx = a.transaction_start().unwrap();
    assert_eq!(a.read(tx, "/vm/1/state").unwrap(), b"running");
    a.write(tx, "/vm/1/state", b"paused").unwrap();
    b.write(0, "/vm/1/state", b"crashed").unwrap();
    assert_eq!(xs_err(a.transaction_end(tx, true)), XsdError::EAGAIN);
    assert_eq!(a.read(0, "/vm/1/state").unwrap(), b"crashed");
    let tx = a.transaction_start().unwrap();
    a.write(tx, "/vm/1/state", b"paused").unwrap();
    a.transaction_end(tx, true).unwrap();
    assert_eq!(b.read(0, "/vm/1/state").unwrap(), b"paused");
}

#[test]
fn watch_events_can_be_polled_without_blocking() {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;

    let daemon = Daemon::start();
    let mut a = daemon.client();
    let mut b = daemon.client();
    b.watch("/poll", "t").unwrap();
    assert_eq!(b.try_event().unwrap(), Some(("/poll".into(), "t".into())));
    assert_eq!(b.try_event().unwrap(), None, "nothing more, and no waiting");
    a.write(0, "/poll/x", b"1").unwrap();
    a.write(0, "/poll/y", b"2").unwrap();
    let mut fds = [PollFd::new(b.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(5000u16)).unwrap(), 1);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 2 {
        assert!(Instant::now() < deadline);
        if let Some((path, _)) = b.try_event().unwrap() {
            got.push(path);
        }
    }
    assert_eq!(got, ["/poll/x", "/poll/y"]);
    // Requests still work after non-blocking reads.
    assert_eq!(b.read(0, "/poll/y").unwrap(), b"2");
}

fn raw_exchange(socket: &Path, bytes: &[u8]) -> Vec<Message> {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(bytes).unwrap();
    let mut dec = Decoder::default();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => dec.push(&buf[..n]),
        }
        while let Ok(Some(msg)) = dec.next_message() {
            out.push(msg);
        }
        if out.len() >= 3 {
            return out;
        }
    }
}

#[test]
fn malformed_messages_get_errors_and_the_daemon_lives_on() {
    let daemon = Daemon::start();
    // An unknown type, a missing NUL, a bad transaction id.
    let mut bytes = Message { ty: 4242, req_id: 1, tx_id: 0, payload: b"x".to_vec() }.encode();
    bytes.extend(
        Message { ty: T::Read.raw(), req_id: 2, tx_id: 0, payload: b"/tool".to_vec() }.encode(),
    );
    bytes.extend(
        Message { ty: T::Read.raw(), req_id: 3, tx_id: 77, payload: b"/tool\0".to_vec() }.encode(),
    );
    let replies = raw_exchange(&daemon.socket, &bytes);
    let errors: Vec<_> = replies.iter().map(|m| (m.req_id, m.as_error())).collect();
    assert_eq!(
        errors,
        [(1, Some(XsdError::ENOSYS)), (2, Some(XsdError::EINVAL)), (3, Some(XsdError::ENOENT))]
    );
    // An oversized payload: E2BIG, then the connection is closed.
    let mut header =
        Message { ty: T::Write.raw(), req_id: 9, tx_id: 0, payload: Vec::new() }.encode();
    header[12..16].copy_from_slice(&100_000u32.to_ne_bytes());
    let replies = raw_exchange(&daemon.socket, &header);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].as_error(), Some(XsdError::E2BIG));
    assert_eq!(daemon.client().read(0, "/tool/xenstored").unwrap(), b"");
}

#[test]
fn the_xenstore_tools() {
    let daemon = Daemon::start();
    assert!(
        daemon.tool(&["write", "/local/domain/0/name", "Domain-0", "/x", "a\"b"]).status.success()
    );
    let out = daemon.tool(&["read", "/local/domain/0/name"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "Domain-0\n");
    let out = daemon.tool(&["ls", "/local"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "domain = \"\"\n 0 = \"\"\n  name = \"Domain-0\"\n"
    );
    let out = daemon.tool(&["ls"]);
    assert!(String::from_utf8(out.stdout).unwrap().contains("x = \"a\\\"b\"\n"));
    assert!(daemon.tool(&["chmod", "/x", "n0", "r5"]).status.success());
    assert_eq!(daemon.client().get_perms(0, "/x").unwrap(), ["n0", "r5"]);
    assert!(daemon.tool(&["exists", "/x"]).status.success());
    assert!(daemon.tool(&["rm", "/x"]).status.success());
    assert!(!daemon.tool(&["exists", "/x"]).status.success());
    let out = daemon.tool(&["read", "/x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("ENOENT"));
    assert_eq!(String::from_utf8(daemon.tool(&["list", "/local/domain"]).stdout).unwrap(), "0\n");
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_xenstore"))
        .args(["watch", "-n", "2", "/w"])
        .env("XENSTORED_PATH", &daemon.socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the watch is set (its first event printed), a write fires it.
    // The output is read on a thread, so that a missing event fails the
    // test instead of hanging it.
    let mut stdout = watcher.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = [0u8; 3];
        let _ = stdout.read_exact(&mut first);
        let _ = lines_tx.send(String::from_utf8_lossy(&first).into_owned());
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        let _ = lines_tx.send(rest);
    });
    let first = lines.recv_timeout(Duration::from_secs(20));
    assert_eq!(first.as_deref(), Ok("/w\n"));
    assert!(daemon.tool(&["write", "/w/x", "1"]).status.success());
    let rest = lines.recv_timeout(Duration::from_secs(20));
    let _ = watcher.kill();
    assert_eq!(rest.as_deref(), Ok("/w/x\n"));
    assert!(watcher.wait().unwrap().success());
}

#[test]
fn sigterm_stops_it_cleanly() {
    let mut daemon = Daemon::start();
    let mut client = daemon.client();
    client.write(0, "/a", b"1").unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(daemon.child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!daemon.socket.exists(), "socket left behind");
    assert!(!daemon.pid_file.exists(), "pid file left behind");
}

/// Clients increment one counter in transactions, retrying on `EAGAIN`:
/// no increment may be lost (the transactions serialise).
#[test]
fn concurrent_transactional_increments_are_not_lost() {
    const CLIENTS: u32 = 6;
    const ROUNDS: u32 = 40;
    let daemon = Daemon::start();
    daemon.client().write(0, "/counter", b"0").unwrap();
    let socket = daemon.socket.clone();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut client = client(&socket);
                let mut retries = 0u32;
                for _ in 0..ROUNDS {
                    loop {
                        let tx = client.transaction_start().unwrap();
                        let value: u32 = String::from_utf8(client.read(tx, "/counter").unwrap())
                            .unwrap()
                            .parse()
                            .unwrap();
                        client.write(tx, "/counter", (value + 1).to_string().as_bytes()).unwrap();
                        match client.transaction_end(tx, true) {
                            Ok(()) => break,
                            Err(ClientError::Xs(XsdError::EAGAIN)) => retries += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                retries
            })
        })
        .collect();
    let retries: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let total = daemon.client().read(0, "/counter").unwrap();
    assert_eq!(
        String::from_utf8(total).unwrap(),
        (CLIENTS * ROUNDS).to_string(),
        "{retries} retries"
    );
}
