//! Running QEMU: spawn it, tee and scan the serial port, enforce the timeout, and turn the
//! end of the process into an [`Outcome`].

use std::fs::File;
use std::io::{self, BufRead as _, Read as _, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::console::{Event, LineSplitter, Scanner};
use crate::outcome::{Ending, KillReason, classify};
use crate::qemu::{QEMU, detect_accel, qemu_args};
use crate::{BootPath, ExitKind, ModuleSpec, Outcome, Result, RunConfig, grub, image};

/// How often the run loop checks on QEMU when the serial port is quiet.
const POLL: Duration = Duration::from_millis(50);
/// How long QEMU may keep running after the panic's last line before it is killed.
const PANIC_LINGER: Duration = Duration::from_millis(500);
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
    let args = qemu_args(&cfg, accel, &kernel, iso.as_deref());
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
            });
        }
    };
    let mut session = Session::new(child, &cfg, log)?;
    let ending = session.wait(cfg.timeout)?;
    let (serial, scan, stderr) = session.finish()?;
    let (status, reason) = classify(&scan, &ending, &stderr, &serial);
    Ok(Outcome {
        status,
        exit_code: ending.exit_code(),
        serial,
        reason,
        qemu_stderr: stderr,
        command,
        elapsed: start.elapsed(),
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
    /// Kept open (when not forwarded) so QEMU never sees end-of-file on the serial input.
    _stdin: Option<ChildStdin>,
    echo: bool,
    log: Option<File>,
    splitter: LineSplitter,
    scan: Scanner,
    serial: Vec<u8>,
    kill_at: Option<(Instant, KillReason)>,
}

impl Session {
    fn new(mut child: Child, cfg: &RunConfig, log: Option<File>) -> Result<Self> {
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
        let stdin = if cfg.forward_stdin {
            thread::spawn(move || forward_stdin(stdin));
            None
        } else {
            Some(stdin)
        };
        Ok(Self {
            child,
            serial_rx,
            reader: Some(reader),
            stderr_reader: Some(stderr_reader),
            _stdin: stdin,
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
        let kill = match self.scan.feed(line) {
            Event::PanicFinished => Some((later(now, PANIC_LINGER), KillReason::PanicFinished)),
            Event::PowerOff | Event::Reboot => {
                Some((later(now, SHUTDOWN_GRACE), KillReason::ShutdownStuck(SHUTDOWN_GRACE)))
            }
            Event::BootFailed => Some((now, KillReason::BootFailed)),
            Event::None | Event::Panic => None,
        };
        if let Some((at, reason)) = kill
            && self.kill_at.is_none_or(|(old, _)| at < old)
        {
            self.kill_at = Some((at, reason));
        }
    }

    /// Collects the rest of the output once QEMU is gone: (serial text, scanner, stderr).
    fn finish(mut self) -> Result<(String, Scanner, String)> {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        while let Ok(chunk) = self.serial_rx.try_recv() {
            self.take_chunk(&chunk)?;
        }
        if let Some(line) = self.splitter.finish() {
            self.scan.feed(&line);
        }
        let stderr = self.stderr_reader.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let serial = String::from_utf8_lossy(&self.serial).replace('\r', "");
        Ok((serial, self.scan, stderr))
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
