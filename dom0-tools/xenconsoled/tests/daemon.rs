// SPDX-License-Identifier: GPL-2.0-only
//! Runs the console daemon's loop against the workspace's `xenstored`
//! binary on a temporary socket, with fake domains whose console pages and
//! event channels live in memory ([`xenconsoled::fake`]): a domain
//! introduced in xenstore gets a pty and `console/tty`, its output reaches
//! the pty and the pty's input its ring, its release closes the pty, a new
//! domain gets a new one, hostile rings and floods leave the daemon
//! serving, and `xenconsole`'s attach works through the daemon's pty.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    missing_docs
)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use guest_abi::io::xs_wire::XsdSockmsgType as T;
use guest_abi::xen::{DomId, EvtchnPort, Mfn};
use xenconsoled::console::ConsoleConfig;
use xenconsoled::daemon::{Daemon, Options};
use xenconsoled::fake::{FakePage, FakeXen};
use xenconsoled::ring::{ConsolePage, Index};
use xenstored::client::Client;

/// The workspace's `xenstored`, built next to this test's profile directory.
fn xenstored_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "-p", "xenstored", "--bin", "xenstored"])
        .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    assert!(cmd.status().unwrap().success(), "building xenstored");
    profile_dir.join("xenstored")
}

struct Xenstored {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Xenstored {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("socket");
        let pid_file = dir.path().join("xenstored.pid");
        let child = Command::new(xenstored_binary())
            .arg("--foreground")
            .arg("--socket")
            .arg(&socket)
            .arg("--pid-file")
            .arg(&pid_file)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pid_file.exists() {
            assert!(Instant::now() < deadline, "xenstored did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, socket, _dir: dir }
    }

    fn client(&self) -> Client {
        let mut c = Client::connect(&self.socket).unwrap();
        c.set_timeout(Some(Duration::from_secs(30))).unwrap();
        c
    }
}

impl Drop for Xenstored {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The toolstack's side: a domain's keys written, then introduced.
fn create_domain(xs: &mut Client, xen: &FakeXen, id: u16, granted: bool) -> FakePage {
    let mfn = 0x1000 + u64::from(id);
    let port = 10 + u32::from(id);
    let page = xen.add_domain(DomId(id), Mfn(mfn), EvtchnPort(port), granted);
    let base = format!("/local/domain/{id}");
    xs.write(0, &format!("{base}/name"), format!("guest{id}").as_bytes()).unwrap();
    xs.write(0, &format!("{base}/console/ring-ref"), mfn.to_string().as_bytes()).unwrap();
    xs.write(0, &format!("{base}/console/port"), port.to_string().as_bytes()).unwrap();
    xs.write(0, &format!("{base}/console/limit"), b"1048576").unwrap();
    let payload = format!("{id}\0{mfn}\0{port}\0").into_bytes();
    xs.request(T::Introduce, 0, payload).unwrap();
    page
}

fn destroy_domain(xs: &mut Client, xen: &FakeXen, id: u16) {
    xen.remove_domain(DomId(id));
    xs.request(T::Release, 0, format!("{id}\0").into_bytes()).unwrap();
}

type FakeDaemon = Daemon<FakeXen>;

fn daemon(xs: &Xenstored, xen: &FakeXen, console: ConsoleConfig) -> FakeDaemon {
    Daemon::new(xs.client(), xen.clone(), Options { console, ..Options::default() }).unwrap()
}

/// Steps the daemon until `done` holds (or fails the test after 10 s).
fn pump_until(d: &mut FakeDaemon, what: &str, mut done: impl FnMut(&mut FakeDaemon) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(d) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        d.run_for(Duration::from_millis(20)).unwrap();
    }
}

fn tty_of(d: &mut FakeDaemon, id: u16) -> Option<String> {
    d.xs()
        .read(0, &format!("/local/domain/{id}/console/tty"))
        .ok()
        .map(|v| String::from_utf8(v).unwrap())
}

fn open_tty(path: &str) -> File {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    xenconsoled::pty::set_nonblocking(&f).unwrap();
    f
}

/// Reads from the non-blocking pty `f` while stepping the daemon until
/// `want` bytes have arrived.
fn read_pty(d: &mut FakeDaemon, f: &mut File, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < want {
        assert!(Instant::now() < deadline, "pty gave {} of {want} bytes", got.len());
        d.run_for(Duration::from_millis(10)).unwrap();
        let mut buf = [0u8; 4096];
        match f.read(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("pty read: {e}"),
        }
    }
    got
}

#[test]
fn domain_gets_a_pty_bytes_flow_both_ways_and_release_closes_it() {
    let xs = Xenstored::start();
    let xen = FakeXen::new();
    let mut tools = xs.client();
    let mut d = daemon(&xs, &xen, ConsoleConfig { discard: true, ..ConsoleConfig::default() });

    let page = create_domain(&mut tools, &xen, 5, true);
    pump_until(&mut d, "domain 5's tty", |d| tty_of(d, 5).is_some());
    let path = tty_of(&mut d, 5).unwrap();
    assert!(path.starts_with("/dev/pts/"), "{path}");
    assert_eq!(xen.maps(), [(DomId(5), "grant")], "grant ref 0 is mapped first");
    let guest = xen.channel(DomId(5)).unwrap();

    // Guest output to the pty, in order, across the ring's wrap.
    let mut tty = open_tty(&path);
    let mut sent = Vec::new();
    for round in 0..5u8 {
        let chunk: Vec<u8> =
            (0..1500u32).map(|i| b'a' + ((i as u8).wrapping_add(round)) % 26).collect();
        assert_eq!(page.guest_write(&chunk), chunk.len());
        guest.guest_notify().unwrap();
        sent.extend_from_slice(&chunk);
        let got = read_pty(&mut d, &mut tty, chunk.len());
        assert_eq!(got, chunk, "round {round}");
    }
    assert_eq!(page.index(Index::OutCons), 7500);
    assert!(guest.notifications() >= 5, "the guest is told its ring drained");

    // Input from the pty to the guest's `in` ring.
    tty.write_all(b"root\n").unwrap();
    let mut input = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while input.len() < 5 {
        assert!(Instant::now() < deadline, "input did not reach the ring");
        d.run_for(Duration::from_millis(10)).unwrap();
        input.extend(page.guest_read());
    }
    assert_eq!(input, b"root\n");

    // Release: console closed, channel unbound, watch gone.
    destroy_domain(&mut tools, &xen, 5);
    pump_until(&mut d, "domain 5's console to close", |d| d.consoles().is_empty());
    assert!(guest.is_closed());
    let mut buf = [0u8; 16];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tty.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "pty still open");
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(0) | Err(_) => break, // hung up (EIO)
            Ok(n) => panic!("unexpected {n} bytes"),
        }
    }

    // The domain comes back under a new id: a new console, mapped by frame
    // this time (no grant), with its own pty.
    let page6 = create_domain(&mut tools, &xen, 6, false);
    pump_until(&mut d, "domain 6's tty", |d| tty_of(d, 6).is_some());
    assert_eq!(xen.maps().last(), Some(&(DomId(6), "foreign")));
    let mut tty6 = open_tty(&tty_of(&mut d, 6).unwrap());
    page6.guest_write(b"again\r\n");
    xen.channel(DomId(6)).unwrap().guest_notify().unwrap();
    assert_eq!(read_pty(&mut d, &mut tty6, 7), b"again\r\n");
    assert_eq!(d.consoles().keys().copied().collect::<Vec<_>>(), [6]);
}

#[test]
fn consoles_wait_for_their_keys_and_skip_other_types() {
    let xs = Xenstored::start();
    let xen = FakeXen::new();
    let mut tools = xs.client();
    let mut d = daemon(&xs, &xen, ConsoleConfig::default());

    // Introduced before the console keys exist: served once they appear.
    xen.add_domain(DomId(3), Mfn(0x3000), EvtchnPort(7), true);
    tools.request(T::Introduce, 0, b"3\x000\x001\0".to_vec()).unwrap();
    d.run_for(Duration::from_millis(100)).unwrap();
    assert!(tty_of(&mut d, 3).is_none());
    assert!(!d.consoles()[&3].is_connected());
    tools.write(0, "/local/domain/3/console/type", b"ioemu").unwrap();
    tools.write(0, "/local/domain/3/console/ring-ref", b"12288").unwrap();
    tools.write(0, "/local/domain/3/console/port", b"7").unwrap();
    d.run_for(Duration::from_millis(100)).unwrap();
    assert!(tty_of(&mut d, 3).is_none(), "type ioemu is not ours");
    tools.write(0, "/local/domain/3/console/type", b"xenconsoled").unwrap();
    pump_until(&mut d, "domain 3's tty", |d| tty_of(d, 3).is_some());

    // A bad port value is refused without harm.
    xen.add_domain(DomId(4), Mfn(0x4000), EvtchnPort(8), false);
    tools.write(0, "/local/domain/4/console/ring-ref", b"16384").unwrap();
    tools.write(0, "/local/domain/4/console/port", b"nonsense").unwrap();
    tools.request(T::Introduce, 0, b"4\x000\x001\0".to_vec()).unwrap();
    d.run_for(Duration::from_millis(100)).unwrap();
    assert!(d.consoles().contains_key(&4) && !d.consoles()[&4].is_connected());
    // Fixed: now it connects.
    tools.write(0, "/local/domain/4/console/port", b"8").unwrap();
    pump_until(&mut d, "domain 4's tty", |d| tty_of(d, 4).is_some());

    // Dying (not yet gone) closes the console too; shutdown alone does not.
    xen.set_state(DomId(3), false, true);
    tools.request(T::Release, 0, b"4\0".to_vec()).unwrap(); // any domlist event
    xen.set_state(DomId(4), true, true);
    pump_until(&mut d, "domain 4 to go", |d| !d.consoles().contains_key(&4));
    assert!(d.consoles().contains_key(&3), "a shut-down domain keeps its console");
}

#[test]
fn hostile_rings_and_floods_leave_the_daemon_serving() {
    let xs = Xenstored::start();
    let xen = FakeXen::new();
    let mut tools = xs.client();
    let mut d = daemon(&xs, &xen, ConsoleConfig { discard: true, ..ConsoleConfig::default() });
    let mut bad = create_domain(&mut tools, &xen, 7, true);
    let good = create_domain(&mut tools, &xen, 8, true);
    pump_until(&mut d, "both ttys", |d| tty_of(d, 7).is_some() && tty_of(d, 8).is_some());
    let bad_ch = xen.channel(DomId(7)).unwrap();
    let good_ch = xen.channel(DomId(8)).unwrap();
    let mut bad_tty = open_tty(&tty_of(&mut d, 7).unwrap());
    let mut good_tty = open_tty(&tty_of(&mut d, 8).unwrap());

    // Indices claiming more than the ring: ignored, nothing consumed.
    bad.set_index(Index::OutCons, 100);
    bad.set_index(Index::OutProd, 100 + 4096);
    bad.set_index(Index::InCons, 0);
    bad.set_index(Index::InProd, 5000);
    // And a flood of notifications, far past the rate limit: at most 30
    // events per 200 ms period are taken.
    let start = Instant::now();
    for _ in 0..500 {
        bad_ch.guest_notify().unwrap();
        d.run_for(Duration::from_millis(1)).unwrap();
    }
    let periods = start.elapsed().as_millis() as u64 / 200 + 2;
    let taken = bad_ch.deliveries();
    assert!(taken >= 30, "the flood reached the limit: {taken}");
    assert!(taken <= 30 * periods, "{taken} events in {periods} periods");
    bad_tty.write_all(b"typed").unwrap();
    d.run_for(Duration::from_millis(300)).unwrap();
    assert_eq!(bad.index(Index::OutCons), 100);
    assert_eq!(bad.index(Index::InProd), 5000, "no input into a broken ring");
    let mut buf = [0u8; 64];
    assert!(bad_tty.read(&mut buf).is_err(), "nothing came out of the broken ring");

    // The other domain is served all along.
    good.guest_write(b"still here\n");
    good_ch.guest_notify().unwrap();
    assert_eq!(read_pty(&mut d, &mut good_tty, 11), b"still here\n");

    // The broken guest repairs its ring: served again.
    bad.set_index(Index::OutProd, 100);
    bad.guest_write(b"fixed\n");
    bad_ch.guest_notify().unwrap();
    assert_eq!(read_pty(&mut d, &mut bad_tty, 6), b"fixed\n");
}

#[test]
fn nobody_reading_the_pty_keeps_memory_bounded() {
    let xs = Xenstored::start();
    let xen = FakeXen::new();
    let mut tools = xs.client();
    let mut d = daemon(&xs, &xen, ConsoleConfig { discard: true, ..ConsoleConfig::default() });
    let page = create_domain(&mut tools, &xen, 9, true);
    tools.write(0, "/local/domain/9/console/limit", b"8192").unwrap();
    pump_until(&mut d, "tty", |d| tty_of(d, 9).is_some());
    let ch = xen.channel(DomId(9)).unwrap();
    // 2 MiB of output, no reader: the pty fills, the buffer stays near its
    // limit, the guest's ring keeps draining.
    for _ in 0..1024 {
        let n = page.guest_write(&[b'x'; 2048]);
        ch.guest_notify().unwrap();
        d.run_for(Duration::from_millis(1)).unwrap();
        assert!(d.consoles()[&9].buffered() <= 8192 * 5 / 4 + 2048);
        let _ = n;
    }
    pump_until(&mut d, "the ring to drain", |_| {
        page.index(Index::OutCons) == page.index(Index::OutProd)
    });
}

#[test]
fn keep_policy_stops_reading_a_full_console() {
    let xs = Xenstored::start();
    let xen = FakeXen::new();
    let mut tools = xs.client();
    let mut d = daemon(&xs, &xen, ConsoleConfig::default());
    let page = create_domain(&mut tools, &xen, 2, true);
    tools.write(0, "/local/domain/2/console/limit", b"0x1000").unwrap();
    pump_until(&mut d, "tty", |d| tty_of(d, 2).is_some());
    let ch = xen.channel(DomId(2)).unwrap();
    let mut wrote = 0usize;
    for _ in 0..200 {
        wrote += page.guest_write(&[b'k'; 2048]);
        ch.guest_notify().unwrap();
        d.run_for(Duration::from_millis(2)).unwrap();
    }
    // The guest was held back: what it wrote is in the pty, the buffer
    // (at most the limit and one ring read over) or still in its ring.
    let buffered = d.consoles()[&2].buffered();
    assert!(buffered <= 4096 + 2048, "{buffered}");
    let in_ring = page.index(Index::OutProd).wrapping_sub(page.index(Index::OutCons)) as usize;
    assert!(wrote < 200 * 2048, "the guest had to wait");
    // Now read the pty: everything written arrives, nothing lost.
    let mut tty = open_tty(&tty_of(&mut d, 2).unwrap());
    let got = read_pty(&mut d, &mut tty, wrote - in_ring);
    assert!(got.iter().all(|&b| b == b'k'));
}

#[test]
fn guest_output_is_logged_with_timestamps() {
    let xs = Xenstored::start();
    let xen = FakeXen::new();
    let mut tools = xs.client();
    let logs = tempfile::tempdir().unwrap();
    let mut d = daemon(
        &xs,
        &xen,
        ConsoleConfig {
            discard: true,
            log_dir: Some(logs.path().to_path_buf()),
            timestamps: true,
            replace_escape: true,
        },
    );
    let page = create_domain(&mut tools, &xen, 4, true);
    pump_until(&mut d, "tty", |d| tty_of(d, 4).is_some());
    page.guest_write(b"boot \x1b[1mok\x1b[0m\r\nlogin: ");
    xen.channel(DomId(4)).unwrap().guest_notify().unwrap();
    let log = logs.path().join("guest-guest4.log");
    pump_until(&mut d, "the log", |_| {
        std::fs::read_to_string(&log).is_ok_and(|s| s.ends_with("login: "))
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert!(lines[0].starts_with('[') && lines[0].ends_with("] Logfile Opened"), "{text:?}");
    assert!(lines[1].ends_with("] boot .[1mok.[0m\r"), "{text:?}");
    assert!(lines[2].ends_with("] login: "), "{text:?}");
}

#[test]
fn hypervisor_console_is_logged_incrementally() {
    let xs = Xenstored::start();
    let xen = FakeXen::new();
    let logs = tempfile::tempdir().unwrap();
    xen.hv_print(b"(XEN) boot\n");
    let opts = Options { hv_log: Some(logs.path().to_path_buf()), ..Options::default() };
    let mut d = Daemon::new(xs.client(), xen.clone(), opts).unwrap();
    let log = logs.path().join("hypervisor.log");
    assert_eq!(std::fs::read(&log).unwrap(), b"(XEN) boot\n", "the boot messages at start");
    xen.hv_print(b"(XEN) later\n");
    pump_until(&mut d, "the new line", |_| std::fs::read(&log).unwrap().len() > 11);
    d.run_for(Duration::from_millis(600)).unwrap();
    assert_eq!(std::fs::read(&log).unwrap(), b"(XEN) boot\n(XEN) later\n", "each byte once");
}

#[test]
fn binary_writes_its_pid_file_and_stops_on_sigterm() {
    let xs = Xenstored::start();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("xenconsoled.pid");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xenconsoled"))
        .args(["-i", "--test-fake-hypervisor", "--pid-file"])
        .arg(&pid_file)
        .env("XENSTORED_PATH", &xs.socket)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "no pid file");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_eq!(pid, child.id() as i32);
    // It serves: domain-list events arrive and are handled.
    let mut tools = xs.client();
    tools.request(T::Introduce, 0, b"3\x000\x001\0".to_vec()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(child.try_wait().unwrap().is_none());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGHUP)
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP reopens logs, no exit");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    assert!(!pid_file.exists(), "pid file removed");
}

#[test]
fn xenconsole_attaches_through_the_daemons_pty() {
    let xs = Xenstored::start();
    let xen = FakeXen::new();
    let mut tools = xs.client();
    let mut d = daemon(&xs, &xen, ConsoleConfig { discard: true, ..ConsoleConfig::default() });
    let page = create_domain(&mut tools, &xen, 11, true);
    let guest = {
        pump_until(&mut d, "tty", |d| tty_of(d, 11).is_some());
        xen.channel(DomId(11)).unwrap()
    };
    // The user's terminal: a pty pair, the client on its slave.
    let term = nix::pty::openpty(None, None).unwrap();
    xenconsoled::pty::make_raw(&term.slave).unwrap();
    let mut user = File::from(term.master);
    let slave = term.slave;
    let socket: PathBuf = xs.socket.clone();
    let client = std::thread::spawn(move || {
        let mut xs = Client::connect(Path::new(&socket)).unwrap();
        xenconsoled::client::attach(
            &mut xs,
            11,
            slave.as_fd(),
            slave.as_fd(),
            Duration::from_secs(5),
        )
        .unwrap()
    });
    // Guest output reaches the user's terminal...
    page.guest_write(b"login: ");
    guest.guest_notify().unwrap();
    xenconsoled::pty::set_nonblocking(&user).unwrap();
    let got = read_pty(&mut d, &mut user, 7);
    assert_eq!(got, b"login: ");
    // ...the user's typing reaches the guest...
    user.write_all(b"root\r").unwrap();
    let mut input = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while input.len() < 5 {
        assert!(Instant::now() < deadline, "typing did not reach the guest");
        d.run_for(Duration::from_millis(10)).unwrap();
        input.extend(page.guest_read());
    }
    assert_eq!(input, b"root\r");
    // ...and Ctrl-] detaches.
    user.write_all(&[0x1d]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.is_finished() {
        assert!(Instant::now() < deadline, "client did not detach");
        d.run_for(Duration::from_millis(10)).unwrap();
    }
    assert_eq!(client.join().unwrap(), xenconsoled::client::Detach::Escape);
}
