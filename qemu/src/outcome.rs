//! How a run ended: [`ExitKind`], [`Outcome`], and the rules that turn QEMU's exit and the
//! console contract into them ([`classify`]).

use std::fmt;
use std::time::Duration;

use crate::console::{self, Scanner};

/// The kinds of endings, in the order of `hvrun run`'s exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitKind {
    /// `Powering off.` and QEMU exited 0, or the success code `0x31` on `isa-debug-exit`.
    PowerOff,
    /// `Rebooting.` and then a reset (QEMU runs with `-no-reboot`, so it exits).
    Reboot,
    /// A panic banner on the console, or any other code on `isa-debug-exit`.
    Panic,
    /// A reset (QEMU exited 0) without any shutdown message: usually a triple fault.
    UnexpectedReset,
    /// The run took longer than the timeout and QEMU was killed.
    Timeout,
    /// QEMU did not start, failed, or was stopped by something else; or GRUB failed.
    QemuError,
}

impl ExitKind {
    /// The exit status of `hvrun run` for this ending.
    pub fn exit_status(self) -> u8 {
        match self {
            Self::PowerOff => 0,
            Self::Panic => 1,
            Self::UnexpectedReset => 2,
            Self::Timeout => 3,
            Self::QemuError => 4,
            Self::Reboot => 5,
        }
    }

    /// A short lower-case name (`power-off`, `panic`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::PowerOff => "power-off",
            Self::Reboot => "reboot",
            Self::Panic => "panic",
            Self::UnexpectedReset => "unexpected-reset",
            Self::Timeout => "timeout",
            Self::QemuError => "qemu-error",
        }
    }
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything known about a finished run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: ExitKind,
    /// QEMU's exit status; `128 + signal` when it was killed (by the runner or otherwise),
    /// `-1` when it never started.
    pub exit_code: i32,
    /// The whole serial output, carriage returns removed.
    pub serial: String,
    /// One line saying why the run got its [`ExitKind`] (for a panic: the panic message).
    pub reason: String,
    /// What QEMU printed on its stderr.
    pub qemu_stderr: String,
    /// The QEMU command line, for reproducing the run by hand.
    pub command: String,
    /// Wall time from starting QEMU to its end.
    pub elapsed: Duration,
    /// When each serial line arrived, counted from QEMU's start, with the line
    /// (carriage returns removed), in order.
    pub line_times: Vec<(Duration, String)>,
}

impl Outcome {
    /// The hypervisor's console lines without their `(XEN) ` prefix.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        console::xen_lines(&self.serial)
    }

    /// The first hypervisor line containing `needle`.
    pub fn find_line(&self, needle: &str) -> Option<&str> {
        console::find_line(&self.serial, needle)
    }

    /// Whether some hypervisor line contains `needle`.
    pub fn has_line(&self, needle: &str) -> bool {
        self.find_line(needle).is_some()
    }

    /// When the first serial line containing `needle` arrived, counted from QEMU's start.
    pub fn line_time(&self, needle: &str) -> Option<Duration> {
        self.line_times.iter().find(|(_, line)| line.contains(needle)).map(|(t, _)| *t)
    }
}

impl fmt::Display for Outcome {
    /// `kind: reason`, then the QEMU command, QEMU's stderr and the serial transcript.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} (QEMU status {}, {:.1} s)",
            self.status,
            self.reason,
            self.exit_code,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "command: {}", self.command)?;
        if !self.qemu_stderr.trim().is_empty() {
            writeln!(f, "QEMU stderr:\n{}", self.qemu_stderr.trim_end())?;
        }
        write!(f, "serial:\n{}", self.serial)
    }
}

/// Why the runner killed QEMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// The panic was reported and the hypervisor halts or is about to reset.
    PanicFinished,
    /// The overall timeout expired.
    Timeout(Duration),
    /// `Powering off.` / `Rebooting.` was printed but QEMU kept running this long after.
    ShutdownStuck(Duration),
    /// GRUB's fallback entry ran.
    BootFailed,
    /// The user typed Ctrl-A X on the forwarded terminal.
    UserQuit,
    /// Xen printed its `hwdom_shutdown` line and halts the machine (it never powers off).
    Halted,
}

/// How QEMU's process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ending {
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Set when the runner killed it.
    pub killed: Option<KillReason>,
}

impl Ending {
    /// The number reported as [`Outcome::exit_code`].
    pub fn exit_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(signal)) => signal.saturating_add(128),
            (None, None) => -1,
        }
    }
}

/// The success value the hypervisor writes to `isa-debug-exit` (QEMU exits with 99).
pub const DEBUG_EXIT_SUCCESS: i32 = 0x31;

/// Decides the [`ExitKind`] and reason from what the console showed and how QEMU ended.
pub fn classify(scan: &Scanner, end: &Ending, stderr: &str, serial: &str) -> (ExitKind, String) {
    let last = scan.last_line.as_deref().unwrap_or("<no serial output>");
    if scan.boot_failed {
        return (
            ExitKind::QemuError,
            "GRUB could not boot the hypervisor (bad Multiboot2 image?)".into(),
        );
    }
    if let Some(summary) = scan.panic_summary() {
        return (ExitKind::Panic, summary);
    }
    match end.killed {
        // Killed after Xen's halt line (or by the timeout soon after it); a
        // hypervisor that went on to power off or reboot is classified below.
        Some(KillReason::Halted | KillReason::Timeout(_)) if scan.halted.is_some() => {
            let line = scan.halted.as_deref().unwrap_or_default();
            return if scan.hwdom_crashed() {
                (ExitKind::Panic, format!("Xen: {line}"))
            } else {
                (
                    ExitKind::PowerOff,
                    format!("Xen halted the machine after dom0's power-off: {line}"),
                )
            };
        }
        Some(KillReason::Timeout(limit)) => {
            let msg = format!(
                "no power-off, reboot or panic within {} s; last line: {last}",
                limit.as_secs()
            );
            return (ExitKind::Timeout, msg);
        }
        Some(KillReason::ShutdownStuck(grace)) => {
            let what = if scan.power_off {
                "Powering off. (ACPI S5 failed?)"
            } else {
                "Rebooting. (reset failed?)"
            };
            let msg = format!("QEMU still running {} s after {what}", grace.as_secs());
            return (ExitKind::Timeout, msg);
        }
        Some(KillReason::UserQuit) => {
            return (ExitKind::QemuError, "stopped by the user (Ctrl-A X)".into());
        }
        Some(KillReason::BootFailed | KillReason::PanicFinished | KillReason::Halted) | None => {}
    }
    let first_error = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    match (end.code, end.signal) {
        (Some(0), _) if stderr.contains("terminating on signal") => {
            (ExitKind::QemuError, format!("QEMU was stopped: {first_error}"))
        }
        (Some(0), _) if scan.power_off => (ExitKind::PowerOff, "the hypervisor powered off".into()),
        (Some(0), _) if scan.rebooting => (ExitKind::Reboot, "the hypervisor rebooted".into()),
        (Some(0), _) => (
            ExitKind::UnexpectedReset,
            format!("reset without a shutdown request: triple fault? last line: {last}"),
        ),
        (Some(99), _) => (ExitKind::PowerOff, "isa-debug-exit success code 0x31".into()),
        (Some(1), _) if serial.is_empty() && !first_error.is_empty() => {
            (ExitKind::QemuError, format!("QEMU failed: {first_error}"))
        }
        (Some(code), _) if code % 2 == 1 => {
            let value = code.saturating_sub(1) / 2;
            (ExitKind::Panic, format!("isa-debug-exit code {value:#x} (QEMU exit status {code})"))
        }
        (Some(code), _) => {
            (ExitKind::QemuError, format!("QEMU exited with status {code}: {first_error}"))
        }
        (None, Some(signal)) => {
            (ExitKind::QemuError, format!("QEMU was killed by signal {signal}"))
        }
        (None, None) => (ExitKind::QemuError, "QEMU ended for an unknown reason".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(log: &str) -> Scanner {
        let mut scan = Scanner::default();
        log.lines().for_each(|l| {
            scan.feed(l);
        });
        scan
    }

    fn exited(code: i32) -> Ending {
        Ending { code: Some(code), signal: None, killed: None }
    }

    #[test]
    fn exit_rules() {
        let kind = |log: &str, end: Ending, stderr: &str| classify(&scan(log), &end, stderr, log).0;
        assert_eq!(kind("(XEN) Powering off.", exited(0), ""), ExitKind::PowerOff);
        assert_eq!(kind("(XEN) Rebooting.", exited(0), ""), ExitKind::Reboot);
        assert_eq!(kind("(XEN) hello", exited(0), ""), ExitKind::UnexpectedReset);
        assert_eq!(kind("(XEN) hello", exited(99), ""), ExitKind::PowerOff);
        assert_eq!(kind("(XEN) hello", exited(15), ""), ExitKind::Panic);
        assert_eq!(kind("(XEN) hello", exited(1), "warning"), ExitKind::Panic);
        assert_eq!(kind("", exited(1), "qemu: bad option"), ExitKind::QemuError);
        assert_eq!(kind("", exited(0), "qemu: terminating on signal 2"), ExitKind::QemuError);
        let killed = |r| Ending { code: None, signal: Some(9), killed: Some(r) };
        let timeout = KillReason::Timeout(Duration::from_secs(60));
        assert_eq!(kind("(XEN) x", killed(timeout), ""), ExitKind::Timeout);
        assert_eq!(kind("(XEN) Panic on CPU 0:\n(XEN) boom", killed(timeout), ""), ExitKind::Panic);
        assert_eq!(killed(timeout).exit_code(), 137);
        let halt = "(XEN) Hardware Dom0 halted: halting machine";
        assert_eq!(kind(halt, killed(KillReason::Halted), ""), ExitKind::PowerOff);
        assert_eq!(kind(halt, killed(timeout), ""), ExitKind::PowerOff);
        let crash = "(XEN) Hardware Dom0 crashed: 'noreboot' set - not rebooting.";
        assert_eq!(kind(crash, killed(KillReason::Halted), ""), ExitKind::Panic);
    }

    #[test]
    fn statuses() {
        assert_eq!(ExitKind::PowerOff.exit_status(), 0);
        assert_eq!(ExitKind::Reboot.exit_status(), 5);
        assert_eq!(ExitKind::QemuError.to_string(), "qemu-error");
    }
}
