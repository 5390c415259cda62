// SPDX-License-Identifier: GPL-2.0-only
//! The hypervisor console: `(XEN) `-prefixed lines to the serial ports named by
//! `console=`, filtered by `loglvl=`, and always into the console ring (the
//! buffer `xm dmesg` reads).
//!
//! Also the `log` backend, so `log::info!` & co. land here with their level;
//! [`printk!`] prints at Xen's default level (warning), as Xen's plain
//! `printk` does, which is what `loglvl=warning` (the default) shows.
//!
//! Serial input goes to dom0 as in Xen: the input UART (the first console
//! port in use) raises its receive interrupt through the IO-APIC
//! ([`init_rx`]); [`serial_rx_interrupt`] drains the UART into the receive
//! ring (Xen's `serial_rx_ring`) and raises a flag that the guest-exit path
//! takes with [`take_rx_notify`] to send `VIRQ_CONSOLE`; dom0 then reads
//! the bytes with `CONSOLEIO_read` ([`guest_read`]). Without a usable
//! IO-APIC the UART is polled instead (by [`take_rx_notify`] and
//! [`guest_read`]).
//!
//! Locking: one lock, `CONSOLE`, held only for short stretches, with
//! interrupts off (hypervisor code runs with interrupts disabled except in
//! its halt loops and while spinning on the machine lock, neither of which
//! holds this lock). The receive interrupt only ever `try_lock`s it: if
//! another CPU is printing, it leaves the bytes in the UART and raises the
//! notify flag, and dom0's `CONSOLEIO_read` drains them.
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use hv_arch_x86_64::acpi::Platform;
use hv_arch_x86_64::serial::{Serial, SerialConfig};
use hv_arch_x86_64::{apic, ioapic, traps};
use hv_core::cmdline::{BootOptions, ConsoleTarget};
use hv_core::console::GuestLines;
use hv_core::console::loglvl::{LogLevel, LogThresholds, RateLimiter};
use hv_core::console::ring::ConsoleRing;
use hv_core::console::rx::RxRing;

/// Default console ring size (Xen's 16 KiB).
const CONRING_SIZE: usize = 16 * 1024;
/// Most bytes one receive interrupt moves out of the UART (its FIFO holds
/// 16; the bound keeps a misbehaving device from holding the CPU).
const RX_DRAIN_MAX: usize = 256;

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
    /// ISA IRQ of each port (`com1=...,irq`; default 4 and 3; 0 = polled).
    irqs: [u8; 2],
    /// Received bytes waiting for dom0.
    rx: RxRing,
    /// DomUs' partial lines (`(d<N>) ` prefix).
    guest_lines: GuestLines,
}

static CONSOLE: spin::Mutex<Option<Console>> = spin::Mutex::new(None);
/// New input arrived since [`take_rx_notify`] last returned `true`.
static RX_NOTIFY: AtomicBool = AtomicBool::new(false);
/// The input UART is polled (no receive interrupt).
static RX_POLLED: AtomicBool = AtomicBool::new(true);
/// The console UARTs' I/O port ranges, denied to dom0 (set by [`init_rx`]).
static UART_PORTS: spin::Once<alloc::vec::Vec<(u16, u16)>> = spin::Once::new();
/// COM1's ports, denied to dom0 until [`init_rx`] has run.
const COM1_PORTS: [(u16, u16); 1] = [(0x3f8, 0x3ff)];

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
        irqs: [4, 3],
        rx: RxRing::new(),
        guest_lines: GuestLines::new(),
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
                        if let (Some(irq), Some(i)) = (c.irq, con.irqs.get_mut(index)) {
                            *i = irq;
                        }
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
    /// The port input comes from: the first console port in use.
    fn input_port(&self) -> Option<usize> {
        (0..2).find(|&i| {
            self.use_com.get(i).copied().unwrap_or(false)
                && self.com.get(i).is_some_and(Option::is_some)
        })
    }

    /// Moves what the input UART holds into the receive ring (bytes beyond
    /// the ring's room are read and dropped, so the UART's interrupt line
    /// drops). Returns whether anything was received.
    fn drain_uart(&mut self) -> bool {
        let Some(index) = self.input_port() else { return false };
        let Some(Some(uart)) = self.com.get_mut(index) else { return false };
        let mut got = false;
        for _ in 0..RX_DRAIN_MAX {
            let Some(b) = uart.try_read() else { break };
            let _ = self.rx.push(b);
            got = true;
        }
        got
    }

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

/// As [`printk`], but only if the console is free now: `false` (nothing
/// printed) when its lock is held, perhaps by the very code this CPU
/// interrupted. For NMI context, which must never wait for a lock.
pub fn printk_try(level: LogLevel, args: fmt::Arguments<'_>) -> bool {
    let now_ms = hv_arch_x86_64::time::now_ns() / 1_000_000;
    let Some(mut guard) = CONSOLE.try_lock() else { return false };
    let Some(con) = guard.as_mut() else { return true };
    if !con.thresholds.decide(level, now_ms, &mut con.ratelimit) {
        return true;
    }
    let missed = con.ratelimit.take_missed();
    if missed > 0 {
        print_locked(con, format_args!("printk: {missed} messages suppressed."));
    }
    print_locked(con, args);
    true
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

/// Guest console output (`CONSOLEIO_write`) of domain `dom`: dom0's
/// straight to the serial ports, a domU's a line at a time with a
/// `(d<N>) ` prefix (Xen's `guest_console_write`); `\n` is sent as `\r\n`;
/// into the ring only with `console_to_ring`, as in Xen.
pub fn guest_write(dom: u16, bytes: &[u8], to_ring: bool) {
    let mut guard = CONSOLE.lock();
    let Some(con) = guard.as_mut() else { return };
    if dom != 0 {
        let mut lines = core::mem::take(&mut con.guest_lines);
        lines.write(dom, bytes, |line| con.guest_emit(line, to_ring));
        con.guest_lines = lines;
        return;
    }
    con.guest_emit(bytes, to_ring);
}

impl Console {
    /// Guest text to the ring (with `console_to_ring`) and the serial ports.
    fn guest_emit(&mut self, bytes: &[u8], to_ring: bool) {
        let con = self;
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
}

/// Serial input for dom0 (`CONSOLEIO_read`): the receive ring, topped up
/// with whatever the UART holds that its interrupt has not taken yet.
pub fn guest_read(buf: &mut [u8]) -> usize {
    let mut guard = CONSOLE.lock();
    let Some(con) = guard.as_mut() else { return 0 };
    let _ = con.drain_uart();
    con.rx.pop_into(buf)
}

/// Takes the console UART's receive interrupt into use: masks every
/// IO-APIC pin, routes the input port's ISA IRQ (through the MADT's
/// interrupt source overrides) to [`traps::SERIAL_VECTOR`] on the boot CPU
/// and enables the UART's "received data available" interrupt. Without an
/// IO-APIC (`acpi=off`, no MADT) or with IRQ 0 (`com1=...,0`), input is
/// polled. Also records the UART ports dom0 may not touch
/// ([`uart_ioports`]). Call once, on the boot CPU, after [`configure`].
pub fn init_rx(platform: &Platform) {
    let pins = ioapic::init(&platform.ioapics);
    let mut guard = CONSOLE.lock();
    let Some(con) = guard.as_mut() else { return };
    UART_PORTS.call_once(|| con.com.iter().flatten().map(Serial::io_ports).collect());
    let Some(index) = con.input_port() else {
        drop(guard);
        crate::printk!("Serial input: none (no console UART)");
        return;
    };
    let irq = con.irqs.get(index).copied().unwrap_or(0);
    let route = platform.isa_irq_route(irq);
    let result = if irq == 0 {
        Err("IRQ 0 given: polling")
    } else if pins == 0 {
        Err("no IO-APIC: polling")
    } else {
        match ioapic::route(route, traps::SERIAL_VECTOR, apic::id()) {
            Ok(()) => {
                if let Some(Some(uart)) = con.com.get_mut(index) {
                    uart.enable_rx_interrupt();
                }
                RX_POLLED.store(false, Ordering::Release);
                Ok(())
            }
            Err(_) => Err("cannot route the IRQ: polling"),
        }
    };
    drop(guard);
    let com = index.saturating_add(1);
    match result {
        Ok(()) => crate::printk!(
            "Serial input: com{com} IRQ {irq} -> GSI {} ({}, active {}) -> vector {:#x}",
            route.gsi,
            if route.level { "level" } else { "edge" },
            if route.active_low { "low" } else { "high" },
            traps::SERIAL_VECTOR
        ),
        Err(why) => crate::printk!("Serial input: com{com}, {why}"),
    }
}

/// The console UART's receive interrupt ([`traps::SERIAL_VECTOR`]): drains
/// the UART into the receive ring and flags new input for dom0. Never
/// blocks: if the console is busy on another CPU, the bytes stay in the
/// UART for [`guest_read`] and only the flag is raised.
pub fn serial_rx_interrupt() {
    let Some(mut guard) = CONSOLE.try_lock() else {
        RX_NOTIFY.store(true, Ordering::Release);
        return;
    };
    let got = guard.as_mut().is_some_and(Console::drain_uart);
    drop(guard);
    if got {
        RX_NOTIFY.store(true, Ordering::Release);
    }
}

/// `true` once after new serial input arrived: the guest-exit path then
/// sends `VIRQ_CONSOLE` to dom0 (Xen's `serial_rx` → `send_global_virq`).
/// When the UART is polled (no receive interrupt), this polls it.
pub fn take_rx_notify() -> bool {
    if RX_POLLED.load(Ordering::Acquire)
        && let Some(mut guard) = CONSOLE.try_lock()
        && guard.as_mut().is_some_and(Console::drain_uart)
    {
        return true;
    }
    RX_NOTIFY.swap(false, Ordering::AcqRel)
}

/// Whether [`take_rx_notify`] may have something to say (input arrived, or
/// the UART is polled).
pub fn rx_pending() -> bool {
    RX_POLLED.load(Ordering::Relaxed) || RX_NOTIFY.load(Ordering::Relaxed)
}

/// The inclusive I/O port ranges of the UARTs the console drives, which
/// dom0 must not access (Xen's `ioports_deny_access` of the console's
/// ports): for `EmulEnv::console_ioports`. COM1 until [`init_rx`] has run.
pub fn uart_ioports() -> &'static [(u16, u16)] {
    UART_PORTS.get().map_or(&COM1_PORTS, alloc::vec::Vec::as_slice)
}

/// `XEN_SYSCTL_readconsole`'s read of the console ring (Xen's
/// `read_console_ring`, see [`ConsoleRing::read_console_ring`]).
pub fn ring_read(incremental: bool, index: u32, max: u32) -> hv_core::console::ring::ConringRead {
    CONSOLE
        .lock()
        .as_ref()
        .map(|c| c.ring.read_console_ring(incremental, index, max))
        .unwrap_or_default()
}

/// `XEN_SYSCTL_readconsole`'s `clear`: the bytes before ring index `next`
/// are no longer readable.
pub fn ring_clear_to(next: u64) {
    if let Some(c) = CONSOLE.lock().as_mut() {
        c.ring.clear_to(next);
    }
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
