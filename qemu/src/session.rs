//! Running QEMU: spawn it, tee and scan the serial port (timestamping each line), feed it
//! scripted input ([`RunConfig::send_after`]) or this process's stdin, enforce the timeout,
//! and turn the end of the process into an [`Outcome`].

use std::fs::File;
use std::io::{self, BufRead as _, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::console::{Event, LineSplitter, Scanner};
use crate::outcome::{Ending, KillReason, classify};
use crate::qemu::{QEMU, detect_accel, qemu_args};
use crate::{BootPath, ExitKind, ModuleSpec, Outcome, Result, RunConfig, grub, image};

/// Whether serial `line` is only a shell's echo of `sent` (a typed command): the text
/// after a prompt (`# ` or `$ `), or the whole line for a wrapped part, is a piece of it.
fn echoes(line: &str, sent: &str) -> bool {
    let typed = line.rsplit_once("# ").or_else(|| line.rsplit_once("$ ")).map_or(line, |(_, t)| t);
    let typed = typed.trim_end();
    !sent.is_empty() && !typed.is_empty() && sent.contains(typed)
}

/// Bytes of scripted input ([`RunConfig::send_after`]) written at once.
const TYPED_CHUNK: usize = 16;

/// The pause after each [`TYPED_CHUNK`] of scripted input.
const TYPED_PAUSE: Duration = Duration::from_millis(20);
/// How often the run loop checks on QEMU when the serial port is quiet.
const POLL: Duration = Duration::from_millis(50);
/// How long QEMU may keep running after the panic's last line before it is killed.
const PANIC_LINGER: Duration = Duration::from_millis(500);
/// How long QEMU may keep running after Xen's `Hardware Dom0 halted` line: Xen halts
/// there, while ours goes on to power off or reboot within this time.
const HALT_LINGER: Duration = Duration::from_secs(3);
/// How long QEMU may keep running after `Powering off.` / `Rebooting.`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Boots `cfg` under QEMU and waits for the run to end.
///
/// Errors are for problems before QEMU starts (no kernel, module missing, ISO build
/// failure); a QEMU that cannot be started or fails is an [`ExitKind::QemuError`] outcome.
pub fn run(cfg: &RunConfig) -> Result<Outcome> {
    let kernel = match &cfg.kernel {
        Some(path) => image::existing_kernel(path)?,
        None => image::hypervisor_image()?,
    };
    let mut cfg = cfg.clone();
    cfg.modules = absolute_modules(&cfg.modules)?;
    let accel = detect_accel()?;
    // The GRUB ISO lives in a scratch directory removed when `_scratch` is dropped.
    let (_scratch, iso) = match cfg.boot {
        BootPath::Grub => {
            let scratch = grub::scratch_dir()?;
            let iso = grub::scratch_iso(scratch.path());
            grub::make_iso(&kernel, &cfg.append, &cfg.modules, &iso)?;
            (Some(scratch), Some(iso))
        }
        BootPath::Direct => (None, None),
    };
    // The monitor's socket, in a scratch directory removed when `_monitor_dir` is dropped.
    let (_monitor_dir, monitor) = if cfg.monitor_after.is_empty() {
        (None, None)
    } else {
        let dir = grub::scratch_dir()?;
        let socket = dir.path().join("monitor.sock");
        (Some(dir), Some(socket))
    };
    let args = qemu_args(&cfg, accel, &kernel, iso.as_deref(), monitor.as_deref());
    let command = std::iter::once(QEMU.to_owned())
        .chain(args.iter().map(|a| shell_word(&a.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ");
    let log = match &cfg.serial_log {
        Some(path) => {
            Some(File::create(path).with_context(|| format!("creating {}", path.display()))?)
        }
        None => None,
    };
    let mut cmd = Command::new(QEMU);
    cmd.args(&args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    die_with_parent(&mut cmd);
    let start = Instant::now();
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Ok(Outcome {
                status: ExitKind::QemuError,
                exit_code: -1,
                serial: String::new(),
                reason: format!("cannot start {QEMU}: {e} (run qemu/setup)"),
                qemu_stderr: String::new(),
                command,
                elapsed: start.elapsed(),
                line_times: Vec::new(),
            });
        }
    };
    let mut session = Session::new(child, &cfg, log, start, monitor)?;
    let ending = session.wait(cfg.timeout)?;
    let (serial, scan, stderr, line_times) = session.finish()?;
    let (status, reason) = classify(&scan, &ending, &stderr, &serial);
    Ok(Outcome {
        status,
        exit_code: ending.exit_code(),
        serial,
        reason,
        qemu_stderr: stderr,
        command,
        elapsed: start.elapsed(),
        line_times,
    })
}

fn absolute_modules(modules: &[ModuleSpec]) -> Result<Vec<ModuleSpec>> {
    modules
        .iter()
        .map(|m| {
            if !m.path.is_file() {
                bail!("module {} does not exist", m.path.display());
            }
            let path = std::path::absolute(&m.path)
                .with_context(|| format!("resolving {}", m.path.display()))?;
            Ok(ModuleSpec { path, args: m.args.clone() })
        })
        .collect()
}

/// Quotes a word for display in a copy-pastable shell command.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "=,.-_:/+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Makes the kernel kill QEMU if the thread that started it dies (e.g. a killed test run).
fn die_with_parent(cmd: &mut Command) {
    let hook = || {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers and is async-signal-safe, so
        // it may run in the forked child before exec.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        if rc == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
    };
    // SAFETY: the hook only calls prctl (see above); it touches no memory or locks of the
    // parent process.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// A running QEMU and the threads that read its output.
struct Session {
    child: Child,
    serial_rx: Receiver<Vec<u8>>,
    reader: Option<JoinHandle<()>>,
    stderr_reader: Option<JoinHandle<String>>,
    /// QEMU's serial input when stdin is not forwarded: used for `send_after`, and kept
    /// open so QEMU never sees end-of-file on the serial input.
    stdin: Option<ChildStdin>,
    /// The `send_after` pairs not sent yet, next first (reversed: popped from the end).
    to_send: Vec<(String, String)>,
    /// The last scripted input sent: lines that only echo it back (a shell's
    /// echo of the typed command, which may contain the next marker) do not
    /// count as markers.
    last_sent: String,
    /// QEMU's monitor socket (with `monitor_after`) and the connection, once made.
    monitor: Option<(PathBuf, Option<UnixStream>)>,
    /// The `monitor_after` pairs not sent yet, reversed as `to_send`.
    monitor_to_send: Vec<(String, String)>,
    /// When QEMU was started.
    start: Instant,
    /// Arrival time (since `start`) and text of each serial line.
    line_times: Vec<(Duration, String)>,
    /// Set by the stdin forwarder when the user typed Ctrl-A X.
    quit: Arc<AtomicBool>,
    /// The terminal settings to restore (raw-mode forwarding), restored on drop.
    _raw: Option<RawTerminal>,
    echo: bool,
    log: Option<File>,
    splitter: LineSplitter,
    scan: Scanner,
    serial: Vec<u8>,
    kill_at: Option<(Instant, KillReason)>,
}

impl Session {
    fn new(
        mut child: Child,
        cfg: &RunConfig,
        log: Option<File>,
        start: Instant,
        monitor: Option<PathBuf>,
    ) -> Result<Self> {
        let stdout = child.stdout.take().context("QEMU stdout")?;
        let stderr = child.stderr.take().context("QEMU stderr")?;
        let stdin = child.stdin.take().context("QEMU stdin")?;
        let (tx, serial_rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut stdout = stdout;
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if tx.send(buf.get(..n).unwrap_or_default().to_vec()).is_err() {
                    break;
                }
            }
        });
        let echo = cfg.echo;
        let stderr_reader = thread::spawn(move || {
            let mut text = String::new();
            for line in io::BufReader::new(stderr).lines().map_while(std::result::Result::ok) {
                if echo {
                    let _ = writeln!(io::stderr(), "{line}");
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let quit = Arc::new(AtomicBool::new(false));
        let mut raw = None;
        let stdin = if cfg.forward_stdin {
            raw = RawTerminal::enter();
            let (quit, bytewise) = (Arc::clone(&quit), raw.is_some());
            thread::spawn(move || {
                if bytewise {
                    forward_raw_stdin(stdin, &quit);
                } else {
                    forward_stdin(stdin);
                }
            });
            None
        } else {
            Some(stdin)
        };
        let to_send = if cfg.forward_stdin {
            Vec::new()
        } else {
            cfg.send_after.iter().rev().cloned().collect()
        };
        Ok(Self {
            child,
            serial_rx,
            reader: Some(reader),
            stderr_reader: Some(stderr_reader),
            stdin,
            to_send,
            last_sent: String::new(),
            monitor: monitor.map(|path| (path, None)),
            monitor_to_send: cfg.monitor_after.iter().rev().cloned().collect(),
            start,
            line_times: Vec::new(),
            quit,
            _raw: raw,
            echo,
            log,
            splitter: LineSplitter::default(),
            scan: Scanner::default(),
            serial: Vec::new(),
            kill_at: None,
        })
    }

    /// Runs until QEMU exits or is killed (timeout, finished panic, stuck shutdown).
    fn wait(&mut self, timeout: Option<Duration>) -> Result<Ending> {
        let deadline =
            timeout.and_then(|t| Some((Instant::now().checked_add(t)?, KillReason::Timeout(t))));
        let mut stdout_open = true;
        loop {
            if stdout_open {
                match self.serial_rx.recv_timeout(POLL) {
                    Ok(chunk) => self.take_chunk(&chunk)?,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => stdout_open = false,
                }
            } else {
                thread::sleep(POLL);
            }
            if let Some(status) = self.child.try_wait().context("waiting for QEMU")? {
                return Ok(ending(status, None));
            }
            if self.quit.load(Ordering::Relaxed) {
                let _ = self.child.kill();
                let status = self.child.wait().context("waiting for QEMU")?;
                return Ok(ending(status, Some(KillReason::UserQuit)));
            }
            let now = Instant::now();
            for (at, reason) in [self.kill_at, deadline].into_iter().flatten() {
                if now >= at {
                    let _ = self.child.kill();
                    let status = self.child.wait().context("waiting for QEMU")?;
                    return Ok(ending(status, Some(reason)));
                }
            }
        }
    }

    /// Echoes, logs and scans one chunk of serial output.
    fn take_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        if self.echo {
            let mut out = io::stdout().lock();
            let _ = out.write_all(chunk).and_then(|()| out.flush());
        }
        if let Some(log) = &mut self.log {
            let clean: Vec<u8> = chunk.iter().copied().filter(|&b| b != b'\r').collect();
            log.write_all(&clean).context("writing the serial log")?;
        }
        self.serial.extend_from_slice(chunk);
        for line in self.splitter.push(chunk) {
            self.take_line(&line);
        }
        Ok(())
    }

    fn take_line(&mut self, line: &str) {
        let now = Instant::now();
        self.line_times.push((now.saturating_duration_since(self.start), line.to_owned()));
        if let Some((marker, text)) = self.to_send.last()
            && line.contains(marker.as_str())
            && !echoes(line, &self.last_sent)
        {
            if let Some(stdin) = &mut self.stdin {
                // Typed as a person types, a few bytes at a time: a
                // hypervisor's serial receive ring is small (Xen's holds
                // 128 bytes until dom0 reads them) and drops what does not
                // fit. QEMU gone: the run's end is reported by `wait`.
                for chunk in text.as_bytes().chunks(TYPED_CHUNK) {
                    if stdin.write_all(chunk).and_then(|()| stdin.flush()).is_err() {
                        break;
                    }
                    std::thread::sleep(TYPED_PAUSE);
                }
            }
            if let Some((_, text)) = self.to_send.pop() {
                self.last_sent = text;
            }
        }
        if let Some((marker, command)) = self.monitor_to_send.last()
            && line.contains(marker.as_str())
        {
            let command = command.clone();
            self.monitor_command(&command);
            self.monitor_to_send.pop();
        }
        let kill = match self.scan.feed(line) {
            Event::PanicFinished => Some((later(now, PANIC_LINGER), KillReason::PanicFinished)),
            Event::PowerOff | Event::Reboot => {
                Some((later(now, SHUTDOWN_GRACE), KillReason::ShutdownStuck(SHUTDOWN_GRACE)))
            }
            Event::BootFailed => Some((now, KillReason::BootFailed)),
            Event::Halted => Some((later(now, HALT_LINGER), KillReason::Halted)),
            Event::None | Event::Panic => None,
        };
        if let Some((at, reason)) = kill
            && self.kill_at.is_none_or(|(old, _)| at < old)
        {
            self.kill_at = Some((at, reason));
        }
    }

    /// Sends one HMP command to QEMU's monitor, connecting first if needed (QEMU creates
    /// the socket before it runs the guest, so it is there once serial output arrives). The
    /// connection stays open, so QEMU reads the whole command before seeing it close.
    fn monitor_command(&mut self, command: &str) {
        let Some((path, stream)) = &mut self.monitor else { return };
        if stream.is_none() {
            match UnixStream::connect(&*path) {
                Ok(s) => *stream = Some(s),
                Err(e) => {
                    let _ = writeln!(io::stderr(), "hvrun: monitor {}: {e}", path.display());
                    return;
                }
            }
        }
        if let Some(s) = stream
            && let Err(e) = s.write_all(format!("{command}\n").as_bytes()).and_then(|()| s.flush())
        {
            let _ = writeln!(io::stderr(), "hvrun: monitor command {command:?}: {e}");
        }
    }

    /// Collects the rest of the output once QEMU is gone: (serial text, scanner, stderr,
    /// line arrival times).
    #[allow(clippy::type_complexity, reason = "private, destructured at once by the caller")]
    fn finish(mut self) -> Result<(String, Scanner, String, Vec<(Duration, String)>)> {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        while let Ok(chunk) = self.serial_rx.try_recv() {
            self.take_chunk(&chunk)?;
        }
        if let Some(line) = self.splitter.finish() {
            self.scan.feed(&line);
            self.line_times.push((self.start.elapsed(), line));
        }
        let stderr = self.stderr_reader.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let serial = String::from_utf8_lossy(&self.serial).replace('\r', "");
        Ok((serial, self.scan, stderr, self.line_times))
    }
}

/// `now + delay` (or `now` in the impossible case that it overflows).
fn later(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or(now)
}

fn ending(status: ExitStatus, killed: Option<KillReason>) -> Ending {
    Ending { code: status.code(), signal: status.signal(), killed }
}

/// Copies this process's stdin, line by line, to QEMU's serial input.
fn forward_stdin(mut qemu: ChildStdin) {
    let stdin = io::stdin();
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(1..) => {
                if qemu.write_all(line.as_bytes()).and_then(|()| qemu.flush()).is_err() {
                    return;
                }
            }
            Ok(0) | Err(_) => return,
        }
    }
}

/// Ctrl-A: the escape byte of raw-mode forwarding.
const CTRL_A: u8 = 0x01;

/// Copies this process's stdin, byte by byte, to QEMU's serial input (the terminal is in
/// raw mode). Ctrl-A X sets `quit` and stops; Ctrl-A Ctrl-A sends one Ctrl-A.
fn forward_raw_stdin(mut qemu: ChildStdin, quit: &AtomicBool) {
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 256];
    let mut escape = false;
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &b in buf.get(..n).unwrap_or_default() {
            match (escape, b) {
                (false, CTRL_A) => escape = true,
                (false, _) => out.push(b),
                (true, b'x' | b'X') => {
                    quit.store(true, Ordering::Relaxed);
                    return;
                }
                (true, CTRL_A) => {
                    out.push(CTRL_A);
                    escape = false;
                }
                (true, _) => {
                    out.extend_from_slice(&[CTRL_A, b]);
                    escape = false;
                }
            }
        }
        if qemu.write_all(&out).and_then(|()| qemu.flush()).is_err() {
            return;
        }
    }
}

/// The terminal on stdin switched to raw mode (no line editing, echo or signal keys), so
/// that each key reaches the guest at once; the old settings come back on drop.
struct RawTerminal {
    saved: libc::termios,
}

impl RawTerminal {
    /// Switches stdin's terminal to raw mode; `None` if stdin is not a terminal.
    fn enter() -> Option<Self> {
        // SAFETY: termios is plain old data; an all-zero value is valid and is overwritten
        // by tcgetattr before use.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid pointer to a termios owned by this frame.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &raw mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        raw.c_iflag &= !(libc::IGNBRK
            | libc::BRKINT
            | libc::PARMRK
            | libc::ISTRIP
            | libc::INLCR
            | libc::IGNCR
            | libc::ICRNL
            | libc::IXON);
        raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
        raw.c_cflag = (raw.c_cflag & !(libc::CSIZE | libc::PARENB)) | libc::CS8;
        if let Some(vmin) = raw.c_cc.get_mut(libc::VMIN) {
            *vmin = 1;
        }
        if let Some(vtime) = raw.c_cc.get_mut(libc::VTIME) {
            *vtime = 0;
        }
        // Output processing (OPOST) stays on, so the runner's own messages keep their
        // line starts.
        // SAFETY: fd 0 and a valid pointer to an initialised termios.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw const raw) } != 0 {
            return None;
        }
        Some(Self { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: fd 0 and a valid pointer to the termios saved by `enter`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw const self.saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::echoes;

    #[test]
    fn a_shell_echo_is_not_a_marker() {
        let sent = "xm nosuch; echo xm-nosuch-rc=$?\n";
        assert!(echoes("dom0:/# xm nosuch; echo xm-nosuch-rc=$?", sent));
        // A wrapped part of a long typed line.
        assert!(echoes("nosuch; echo xm-nosuch-rc=$?", sent));
        // The command's own output.
        assert!(!echoes("xm-nosuch-rc=1", sent));
        assert!(!echoes("Error: Subcommand nosuch not found!", sent));
        assert!(!echoes("dom0:/# ", sent));
        assert!(!echoes("anything", ""));
    }
}
