// SPDX-License-Identifier: GPL-2.0-only
//! The hypervisor console: `(XEN) `-prefixed lines to the serial ports named by
//! `console=`, filtered by `loglvl=`, and always into the console ring (the
//! buffer `xm dmesg` reads).
//!
//! Also the `log` backend, so `log::info!` & co. land here with their level;
//! [`printk!`] prints at Xen's default level (warning), as Xen's plain
//! `printk` does, which is what `loglvl=warning` (the default) shows.
use core::fmt::{self, Write};

use hv_arch_x86_64::serial::{Serial, SerialConfig};
use hv_core::cmdline::{BootOptions, ConsoleTarget};
use hv_core::console::loglvl::{LogLevel, LogThresholds, RateLimiter};
use hv_core::console::ring::ConsoleRing;

/// Default console ring size (Xen's 16 KiB).
const CONRING_SIZE: usize = 16 * 1024;

/// How COM2 shares its line (`com2H`/`com2L`): the most significant bit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HighBit {
    Any,
    Set,
    Clear,
}

struct Console {
    ring: ConsoleRing,
    com: [Option<Serial>; 2],
    com2_bit: HighBit,
    use_com: [bool; 2],
    thresholds: LogThresholds,
    ratelimit: RateLimiter,
    line_start: bool,
}

static CONSOLE: spin::Mutex<Option<Console>> = spin::Mutex::new(None);

/// Bring up the console on COM1 at 115200 8n1 (before the command line is read).
pub fn init_early() {
    let com1 = Serial::init(SerialConfig::default_at(0x3f8)).ok();
    *CONSOLE.lock() = Some(Console {
        ring: ConsoleRing::new(CONRING_SIZE),
        com: [com1, None],
        com2_bit: HighBit::Any,
        use_com: [true, false],
        thresholds: LogThresholds::default(),
        ratelimit: RateLimiter::default(),
        line_start: true,
    });
    // Ignoring the error: a second logger cannot be installed, and there is none.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
}

fn serial_config(opts: &hv_core::cmdline::ComConfig, default_base: u16) -> SerialConfig {
    SerialConfig {
        io_base: opts.io_base.unwrap_or(default_base),
        baud: opts.baud,
        data_bits: opts.data_bits,
        parity: u8::try_from(u32::from(opts.parity.as_char())).unwrap_or(b'n'),
        stop_bits: opts.stop_bits,
    }
}

/// Apply `com1=`, `com2=`, `console=` and `loglvl=`. Returns a description
/// of each serial port programmed, for the boot log.
pub fn configure(opts: &BootOptions) -> alloc::vec::Vec<alloc::string::String> {
    let mut report = alloc::vec::Vec::new();
    let mut guard = CONSOLE.lock();
    let Some(con) = guard.as_mut() else { return report };
    con.thresholds = opts.loglvl;
    con.use_com = [false, false];
    con.com2_bit = HighBit::Any;
    for target in &opts.console {
        match target {
            ConsoleTarget::Com1 => con.use_com[0] = true,
            ConsoleTarget::Com2 => con.use_com[1] = true,
            ConsoleTarget::Com2High => {
                con.use_com[1] = true;
                con.com2_bit = HighBit::Set;
            }
            ConsoleTarget::Com2Low => {
                con.use_com[1] = true;
                con.com2_bit = HighBit::Clear;
            }
            ConsoleTarget::Vga | ConsoleTarget::None => {}
        }
    }
    for (index, (cfg, default_base)) in
        [(&opts.com1, 0x3f8u16), (&opts.com2, 0x2f8u16)].into_iter().enumerate()
    {
        let wanted = con.use_com.get(index).copied().unwrap_or(false);
        let Some(slot) = con.com.get_mut(index) else { continue };
        match cfg {
            Some(c) => {
                let sc = serial_config(c, default_base);
                match Serial::init(sc) {
                    Ok(mut s) => {
                        let eff = s.effective();
                        report.push(alloc::format!(
                            "com{}: I/O base {:#x}, {} baud{}, {}{}{}, irq {}",
                            index.saturating_add(1),
                            eff.io_base,
                            eff.baud.unwrap_or(0),
                            if c.baud.is_none() { " (auto)" } else { "" },
                            eff.data_bits,
                            char::from(eff.parity),
                            eff.stop_bits,
                            c.irq.unwrap_or(if index == 0 { 4 } else { 3 }),
                        ));
                        *slot = Some(s);
                    }
                    Err(e) => {
                        report.push(alloc::format!(
                            "com{}: cannot program UART at {:#x}: {:?}",
                            index.saturating_add(1),
                            sc.io_base,
                            e
                        ));
                        *slot = None;
                    }
                }
            }
            None if wanted && slot.is_none() => {
                *slot = Serial::init(SerialConfig::default_at(default_base)).ok();
            }
            None => {}
        }
    }
    report
}

impl Console {
    fn emit(&mut self, bytes: &[u8]) {
        self.ring.write(bytes);
        self.emit_serial(bytes);
    }

    fn emit_serial(&mut self, bytes: &[u8]) {
        if let (true, Some(s)) = (self.use_com[0], self.com[0].as_mut()) {
            s.write(bytes);
        }
        if self.use_com[1] {
            let bit = self.com2_bit;
            if let Some(s) = self.com[1].as_mut() {
                for &b in bytes {
                    let b = match bit {
                        HighBit::Any => b,
                        HighBit::Set => b | 0x80,
                        HighBit::Clear => b & 0x7f,
                    };
                    s.write(&[b]);
                }
            }
        }
    }
}

struct LineWriter<'a>(&'a mut Console);

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for piece in s.split_inclusive('\n') {
            if self.0.line_start {
                self.0.emit(b"(XEN) ");
                self.0.line_start = false;
            }
            if let Some(line) = piece.strip_suffix('\n') {
                self.0.emit(line.as_bytes());
                self.0.emit(b"\r\n");
                self.0.line_start = true;
            } else {
                self.0.emit(piece.as_bytes());
            }
        }
        Ok(())
    }
}

fn print_locked(con: &mut Console, args: fmt::Arguments<'_>) {
    let mut w = LineWriter(con);
    // Writing to the console cannot fail.
    let _ = w.write_fmt(args);
    if !w.0.line_start {
        let _ = w.write_str("\n");
    }
}

/// Print one message (one or more lines) at `level`.
pub fn printk(level: LogLevel, args: fmt::Arguments<'_>) {
    let now_ms = hv_arch_x86_64::time::now_ns() / 1_000_000;
    let mut guard = CONSOLE.lock();
    let Some(con) = guard.as_mut() else { return };
    if !con.thresholds.decide(level, now_ms, &mut con.ratelimit) {
        return;
    }
    let missed = con.ratelimit.take_missed();
    if missed > 0 {
        print_locked(con, format_args!("printk: {missed} messages suppressed."));
    }
    print_locked(con, args);
}

/// Print regardless of `loglvl` and of a console lock held by a CPU that
/// will never release it (panic and fatal-trap paths).
pub fn printk_force(args: fmt::Arguments<'_>) {
    let mut tries = 0u32;
    let mut guard = loop {
        if let Some(g) = CONSOLE.try_lock() {
            break g;
        }
        tries = tries.saturating_add(1);
        if tries > 10_000_000 {
            // SAFETY: the holder is stuck (we are panicking); breaking its
            // lock risks interleaved output, never memory unsafety, since the
            // console state stays valid between byte writes.
            unsafe { CONSOLE.force_unlock() };
        }
        core::hint::spin_loop();
    };
    if let Some(con) = guard.as_mut() {
        print_locked(con, args);
    }
}

/// Guest console output (`CONSOLEIO_write`): straight to the serial
/// ports, with `\n` sent as `\r\n`; into the ring only with
/// `console_to_ring`, as in Xen.
pub fn guest_write(bytes: &[u8], to_ring: bool) {
    let mut guard = CONSOLE.lock();
    let Some(con) = guard.as_mut() else { return };
    if to_ring {
        con.ring.write(bytes);
    }
    for piece in bytes.split_inclusive(|&b| b == b'\n') {
        match piece.strip_suffix(b"\n") {
            Some(line) => {
                con.emit_serial(line);
                con.emit_serial(b"\r\n");
            }
            None => con.emit_serial(piece),
        }
    }
}

/// Serial input for dom0 (`CONSOLEIO_read`): bytes waiting on COM1.
pub fn guest_read(buf: &mut [u8]) -> usize {
    let mut guard = CONSOLE.lock();
    let Some(con) = guard.as_mut() else { return 0 };
    let Some(s) = con.com[0].as_mut() else { return 0 };
    let mut n: usize = 0;
    for slot in buf.iter_mut() {
        match s.try_read() {
            Some(b) => {
                *slot = b;
                n = n.saturating_add(1);
            }
            None => break,
        }
    }
    n
}

/// Console ring usage: (bytes held, capacity, bytes ever written).
pub fn ring_stats() -> (usize, usize, u64) {
    CONSOLE
        .lock()
        .as_ref()
        .map_or((0, 0, 0), |c| (c.ring.len(), c.ring.capacity(), c.ring.total_written()))
}

/// Print at Xen's default level (warning), like Xen's `printk`.
#[macro_export]
macro_rules! printk {
    ($($arg:tt)*) => {
        $crate::console::printk(hv_core::console::loglvl::LogLevel::Warning, format_args!($($arg)*))
    };
}

struct Logger;
static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = match record.level() {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warning,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug | log::Level::Trace => LogLevel::Debug,
        };
        printk(level, *record.args());
    }

    fn flush(&self) {}
}
