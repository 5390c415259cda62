//! Reading the hypervisor's serial console: line splitting, `(XEN) ` lines, and the
//! [`Scanner`] that spots the power-off, reboot and panic messages of the console contract.

/// The prefix of every hypervisor console line.
pub const PREFIX: &str = "(XEN)";

/// The text of a hypervisor console line: `line` without its `(XEN) ` prefix, trailing
/// whitespace and any leading `[timestamp] `; `None` for lines that are not the hypervisor's.
pub fn xen_text(line: &str) -> Option<&str> {
    let rest = line.trim_end().strip_prefix(PREFIX)?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    if let Some(stamped) = rest.strip_prefix('[')
        && let Some((_, after)) = stamped.split_once("] ")
    {
        return Some(after);
    }
    Some(rest)
}

/// The hypervisor's lines in a serial transcript (see [`xen_text`]), in order.
pub fn xen_lines(serial: &str) -> impl Iterator<Item = &str> {
    serial.lines().filter_map(xen_text)
}

/// The first hypervisor line containing `needle`.
pub fn find_line<'a>(serial: &'a str, needle: &str) -> Option<&'a str> {
    xen_lines(serial).find(|line| line.contains(needle))
}

/// Splits a byte stream into lines (without `\n` or `\r`), keeping the unfinished tail.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Adds `bytes` and returns the lines they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in bytes {
            match byte {
                b'\n' => lines.push(self.take()),
                b'\r' => {}
                _ => self.partial.push(byte),
            }
        }
        lines
    }

    /// The unfinished last line, if any (call at end of stream).
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        line
    }
}

/// What a console line means for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing of interest.
    None,
    /// `Panic on CPU <n>:` — the panic banner.
    Panic,
    /// After a panic, `Manual reset required` or `Reboot in five seconds...`: nothing more
    /// of interest will come.
    PanicFinished,
    /// `Powering off.`
    PowerOff,
    /// `Rebooting.`
    Reboot,
    /// The GRUB fallback entry's failure line ([`crate::grub::FAILURE_MARKER`]).
    BootFailed,
    /// Xen's `hwdom_shutdown` line after which it halts every CPU without powering the
    /// machine off: `Hardware Dom0 halted: halting machine` (dom0's power-off) or
    /// `Hardware Dom0 crashed: 'noreboot' set - not rebooting.`. Nothing more will come
    /// from Xen; a hypervisor that goes on to power off or reboot is given
    /// `HALT_LINGER` (3 s) to do so.
    Halted,
}

/// Most panic message lines kept in [`Scanner::panic_message`].
const MAX_PANIC_LINES: usize = 8;

/// Follows the console line by line and remembers what the contract cares about.
#[derive(Clone, Debug, Default)]
pub struct Scanner {
    /// The panic banner (e.g. `Panic on CPU 0:`), once seen.
    pub panic_banner: Option<String>,
    /// The message lines printed after the panic banner.
    pub panic_message: Vec<String>,
    /// The line that ended the panic (`Manual reset required ...` / `Reboot in five seconds...`).
    pub panic_end: Option<String>,
    /// `Powering off.` was printed.
    pub power_off: bool,
    /// `Rebooting.` was printed.
    pub rebooting: bool,
    /// GRUB's fallback entry ran.
    pub boot_failed: bool,
    /// Xen's `Hardware Dom<N> halted: ...` or `Hardware Dom<N> crashed: ...` line, once
    /// seen (see [`Event::Halted`]).
    pub halted: Option<String>,
    /// The last non-empty line seen.
    pub last_line: Option<String>,
    in_panic: bool,
}

impl Scanner {
    /// Takes one line (without its newline) and says what it means.
    pub fn feed(&mut self, line: &str) -> Event {
        if !line.trim().is_empty() {
            self.last_line = Some(line.trim_end().to_owned());
        }
        if line.contains(crate::grub::FAILURE_MARKER) {
            self.boot_failed = true;
            return Event::BootFailed;
        }
        let Some(text) = xen_text(line) else { return Event::None };
        if text.starts_with("Panic on CPU") {
            self.panic_banner = Some(text.trim_end_matches(':').to_owned());
            self.in_panic = true;
            return Event::Panic;
        }
        if self.panic_banner.is_some()
            && (text.starts_with("Manual reset required")
                || text.starts_with("Reboot in five seconds"))
        {
            self.in_panic = false;
            self.panic_end = Some(text.to_owned());
            return Event::PanicFinished;
        }
        if self.in_panic {
            let is_rule = text.trim().is_empty() || text.trim().chars().all(|c| c == '*');
            if is_rule && !self.panic_message.is_empty() {
                self.in_panic = false;
            } else if !is_rule && self.panic_message.len() < MAX_PANIC_LINES {
                self.panic_message.push(text.to_owned());
            }
            return Event::None;
        }
        if is_hwdom_halt(text) {
            self.halted = Some(text.trim_end().to_owned());
            return Event::Halted;
        }
        match text.trim() {
            "Powering off." => {
                self.power_off = true;
                Event::PowerOff
            }
            "Rebooting." => {
                self.rebooting = true;
                Event::Reboot
            }
            _ => Event::None,
        }
    }

    /// Whether Xen's halt line (see [`Event::Halted`]) was about dom0's crash.
    pub fn hwdom_crashed(&self) -> bool {
        self.halted.as_deref().is_some_and(|line| line.contains(" crashed:"))
    }

    /// `Panic on CPU 0: <message>` once a panic was seen.
    pub fn panic_summary(&self) -> Option<String> {
        let banner = self.panic_banner.as_ref()?;
        Some(if self.panic_message.is_empty() {
            banner.clone()
        } else {
            format!("{banner}: {}", self.panic_message.join(" / "))
        })
    }
}

/// Whether `text` is Xen's `hwdom_shutdown` line for dom0's power-off or crash:
/// `Hardware Dom<N> halted: halting machine` or `Hardware Dom<N> crashed: ...`.
fn is_hwdom_halt(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("Hardware Dom") else { return false };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.starts_with(" halted: halting machine")
        || (rest.starts_with(" crashed:") && rest.contains("'noreboot' set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefix_and_timestamp() {
        assert_eq!(xen_text("(XEN) Brought up 4 CPUs\r"), Some("Brought up 4 CPUs"));
        assert_eq!(xen_text("(XEN) [    1.5] Powering off."), Some("Powering off."));
        assert_eq!(xen_text("(XEN)"), Some(""));
        assert_eq!(xen_text("SeaBIOS"), None);
    }

    #[test]
    fn splits_lines_across_chunks() {
        let mut split = LineSplitter::default();
        assert!(split.push(b"(XEN) a").is_empty());
        assert_eq!(split.push(b"b\r\n(XEN) c\r\nd"), ["(XEN) ab", "(XEN) c"]);
        assert_eq!(split.finish().as_deref(), Some("d"));
        assert_eq!(split.finish(), None);
    }

    #[test]
    fn panic_sequence() {
        let mut scan = Scanner::default();
        let log = "(XEN) Dom0 memory: 896 MiB\n(XEN) \n(XEN) ****\n(XEN) Panic on CPU 0:\n\
                   (XEN) no dom0 kernel: none given\n(XEN) ****\n(XEN) \n\
                   (XEN) Reboot in five seconds...\n";
        let events: Vec<Event> = log.lines().map(|l| scan.feed(l)).collect();
        assert_eq!(events.iter().filter(|e| **e == Event::Panic).count(), 1);
        assert_eq!(events.last(), Some(&Event::PanicFinished));
        assert_eq!(
            scan.panic_summary().as_deref(),
            Some("Panic on CPU 0: no dom0 kernel: none given")
        );
        assert!(!scan.power_off);
    }

    #[test]
    fn power_off_and_reboot() {
        let mut scan = Scanner::default();
        assert_eq!(scan.feed("(XEN) Powering off."), Event::PowerOff);
        assert_eq!(scan.feed("(XEN) Rebooting."), Event::Reboot);
        assert_eq!(scan.feed("Powering off."), Event::None);
        assert!(scan.power_off && scan.rebooting && scan.panic_banner.is_none());
    }

    #[test]
    fn xen_halts() {
        let mut scan = Scanner::default();
        assert_eq!(scan.feed("(XEN) Hardware Dom0 halted: halting machine"), Event::Halted);
        assert!(!scan.hwdom_crashed() && !scan.power_off);
        let mut scan = Scanner::default();
        let crash = "(XEN) Hardware Dom0 crashed: 'noreboot' set - not rebooting.";
        assert_eq!(scan.feed(crash), Event::Halted);
        assert!(scan.hwdom_crashed());
        assert_eq!(scan.feed("Hardware Dom0 halted: halting machine"), Event::None);
        assert_eq!(scan.feed("(XEN) Hardware Domain halted"), Event::None);
    }
}
