// SPDX-License-Identifier: GPL-2.0-only
//! Log files of guest and hypervisor output, as Xen's daemon writes them:
//! `<log-dir>/guest-<name>.log` and `<log-dir>/hypervisor.log`, opened for
//! appending; with timestamps, each line starts with
//! `[YYYY-MM-DD HH:MM:SS] ` (UTC here; Xen uses local time, which a dom0
//! normally runs in UTC) and the `\r`s after a newline are dropped; with
//! `--replace-escape` ESC bytes are written as `.`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// A log file and its line state.
#[derive(Debug)]
pub struct LogFile {
    file: File,
    timestamps: bool,
    replace_escape: bool,
    need_ts: bool,
}

/// `[YYYY-MM-DD HH:MM:SS] ` for `secs` since the epoch, in UTC.
#[must_use]
pub fn timestamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("[{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}] ", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Howard Hinnant's algorithm, shifted to start on 0000-03-01.
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe =
        doe.saturating_sub(doe / 1460).saturating_add(doe / 36_524).saturating_sub(doe / 146_096)
            / 365;
    let doy = doe
        .saturating_sub(yoe.saturating_mul(365).saturating_add(yoe / 4).saturating_sub(yoe / 100));
    let mp = doy.saturating_mul(5).saturating_add(2) / 153;
    let d = doy.saturating_sub(mp.saturating_mul(153).saturating_add(2) / 5).saturating_add(1);
    let m = if mp < 10 { mp.saturating_add(3) } else { mp.saturating_sub(9) };
    let y = yoe.saturating_add(era.saturating_mul(400)).saturating_add(u64::from(m <= 2));
    (y, m, d)
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl LogFile {
    /// Opens (creates, appends to) `path`; with timestamps, writes Xen's
    /// `Logfile Opened` line.
    pub fn open(path: &Path, timestamps: bool, replace_escape: bool) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut log = Self { file, timestamps, replace_escape, need_ts: true };
        if timestamps {
            log.write(b"Logfile Opened\n")?;
        }
        Ok(log)
    }

    /// Appends output.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let out = format_log(
            data,
            self.timestamps.then(now_secs),
            self.replace_escape,
            &mut self.need_ts,
        );
        self.file.write_all(&out)
    }
}

/// The bytes a log gets for `data`: timestamps at line starts when `now`
/// is given (tracking a line left open in `need_ts`), ESC replaced.
#[must_use]
pub fn format_log(
    data: &[u8],
    now: Option<u64>,
    replace_escape: bool,
    need_ts: &mut bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    match now {
        None => out.extend_from_slice(data),
        Some(secs) => {
            let ts = timestamp(secs);
            let mut rest = data;
            while !rest.is_empty() {
                let (line, found_nl) = match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => rest.split_at(i.saturating_add(1)),
                    None => (rest, &[][..]),
                };
                let had_nl = line.last() == Some(&b'\n');
                if *need_ts {
                    out.extend_from_slice(ts.as_bytes());
                }
                out.extend_from_slice(line);
                *need_ts = had_nl;
                rest = found_nl;
                if had_nl {
                    let skip = rest.iter().take_while(|&&b| b == b'\r').count();
                    rest = rest.get(skip..).unwrap_or(&[]);
                }
            }
        }
    }
    if replace_escape {
        for b in &mut out {
            if *b == 0x1b {
                *b = b'.';
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_dates() {
        assert_eq!(timestamp(0), "[1970-01-01 00:00:00] ");
        assert_eq!(timestamp(951_782_400), "[2000-02-29 00:00:00] ");
        assert_eq!(timestamp(1_796_608_923), "[2026-12-07 02:02:03] ");
    }

    #[test]
    fn lines_get_stamps_and_lose_carriage_returns() {
        let mut need = true;
        let out = format_log(b"a\r\n\r\rb", Some(0), false, &mut need);
        assert_eq!(out, b"[1970-01-01 00:00:00] a\r\n[1970-01-01 00:00:00] b");
        assert!(!need, "b's line is still open");
        let out = format_log(b"c\n", Some(0), false, &mut need);
        assert_eq!(out, b"c\n");
        assert!(need);
    }

    #[test]
    fn escape_is_replaced_on_request() {
        let mut need = true;
        assert_eq!(format_log(b"\x1b[1m", None, true, &mut need), b".[1m");
        assert_eq!(format_log(b"\x1b[1m", None, false, &mut need), b"\x1b[1m");
    }
}
