// SPDX-License-Identifier: GPL-2.0-only
//! Serial and console options: `com1=`, `com2=`, `console=`, `conswitch=`.
//!
//! `comN=<baud|auto>[,DPS[,<io_base>[,<irq>]]]` follows Xen's
//! `ns16550_parse_port_config`: any prefix of the fields may be given; DPS is
//! data bits (5-8), parity (`n`, `o`, `e`, `m`, `s`) and stop bits (1-2),
//! e.g. `8n1`; the baud rate must lie in 1200-115200 unless `auto` (keep what
//! the boot loader programmed). Omitted I/O base and IRQ fall back to the PC
//! defaults (COM1 0x3f8/IRQ 4, COM2 0x2f8/IRQ 3), as do empty fields (so
//! `auto,8n1,,3` sets only the IRQ); IRQ 0 means polling.
//!
//! `console=` lists output targets; `conswitch=` sets the `CTRL-<char>` used
//! three times to switch serial input between Xen and domain 0.

use alloc::vec::Vec;
use core::fmt;

use super::InvalidValue;
use super::number::parse_u64;

/// Parity of a serial line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Parity {
    /// No parity bit (`n`).
    #[default]
    None,
    /// Odd parity (`o`).
    Odd,
    /// Even parity (`e`).
    Even,
    /// Parity bit always 1 (`m`).
    Mark,
    /// Parity bit always 0 (`s`).
    Space,
}

impl Parity {
    /// Parses a DPS parity letter (either case).
    pub fn from_char(c: char) -> Option<Self> {
        Some(match c.to_ascii_lowercase() {
            'n' => Self::None,
            'o' => Self::Odd,
            'e' => Self::Even,
            'm' => Self::Mark,
            's' => Self::Space,
            _ => return None,
        })
    }

    /// The DPS parity letter.
    pub fn as_char(self) -> char {
        match self {
            Self::None => 'n',
            Self::Odd => 'o',
            Self::Even => 'e',
            Self::Mark => 'm',
            Self::Space => 's',
        }
    }
}

/// Lowest and highest baud rate Xen accepts.
pub const BAUD_RANGE: (u32, u32) = (1200, 115_200);

/// Legacy PC serial port I/O bases, COM1 to COM4.
const DEFAULT_IO_BASES: [u16; 4] = [0x3f8, 0x2f8, 0x3e8, 0x2e8];
/// Legacy PC serial port IRQs, COM1 to COM4.
const DEFAULT_IRQS: [u8; 4] = [4, 3, 4, 3];

/// One serial port's `comN=` configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ComConfig {
    /// Baud rate; `None` for `auto` (keep the boot loader's setting).
    pub baud: Option<u32>,
    /// Data bits, 5 to 8.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// Stop bits, 1 or 2.
    pub stop_bits: u8,
    /// I/O port base; `None` for the port's PC default.
    pub io_base: Option<u16>,
    /// IRQ (0 = polling); `None` for the port's PC default.
    pub irq: Option<u8>,
}

impl Default for ComConfig {
    /// `auto,8n1` at the default I/O base and IRQ.
    fn default() -> Self {
        Self {
            baud: None,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            io_base: None,
            irq: None,
        }
    }
}

impl ComConfig {
    /// Parses the value of `com1=`/`com2=` (fields already joined, no spaces).
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let mut cfg = Self::default();
        let mut fields = s.split(',');
        match fields.next().unwrap_or_default() {
            "auto" | "" => cfg.baud = None,
            baud => {
                let rate = parse_u64(baud)
                    .and_then(|b| u32::try_from(b).ok())
                    .ok_or_else(|| InvalidValue::new("baud rate", baud))?;
                if rate < BAUD_RANGE.0 || rate > BAUD_RANGE.1 {
                    return Err(InvalidValue::new("baud rate", baud).because("outside 1200-115200"));
                }
                cfg.baud = Some(rate);
            }
        }
        if let Some(dps) = fields.next().filter(|dps| !dps.is_empty()) {
            (cfg.data_bits, cfg.parity, cfg.stop_bits) =
                parse_dps(dps).ok_or_else(|| InvalidValue::new("data/parity/stop bits", dps))?;
        }
        if let Some(io) = fields.next().filter(|io| !io.is_empty()) {
            let base = parse_u64(io).and_then(|b| u16::try_from(b).ok()).filter(|&b| b != 0);
            cfg.io_base = Some(base.ok_or_else(|| InvalidValue::new("I/O base", io))?);
        }
        if let Some(irq) = fields.next().filter(|irq| !irq.is_empty()) {
            let irq_num = parse_u64(irq).and_then(|i| u8::try_from(i).ok());
            cfg.irq = Some(irq_num.ok_or_else(|| InvalidValue::new("IRQ", irq))?);
        }
        if let Some(extra) = fields.next() {
            return Err(InvalidValue::new("field", extra).because("at most 4 fields"));
        }
        Ok(cfg)
    }

    /// The I/O base, or the PC default for `port_index` (0 = COM1, 1 = COM2,
    /// 2 = COM3, 3 = COM4; other indices get COM1's).
    pub fn io_base_or_default(&self, port_index: usize) -> u16 {
        let default = DEFAULT_IO_BASES.get(port_index).copied().unwrap_or(0x3f8);
        self.io_base.unwrap_or(default)
    }

    /// The IRQ, or the PC default for `port_index` (as
    /// [`ComConfig::io_base_or_default`]).
    pub fn irq_or_default(&self, port_index: usize) -> u8 {
        self.irq.unwrap_or_else(|| DEFAULT_IRQS.get(port_index).copied().unwrap_or(4))
    }
}

/// Parses DPS such as `8n1`.
fn parse_dps(s: &str) -> Option<(u8, Parity, u8)> {
    let mut chars = s.chars();
    let data = chars.next()?.to_digit(10)?;
    let parity = Parity::from_char(chars.next()?)?;
    let stop = chars.next()?.to_digit(10)?;
    if chars.next().is_some() || !(5..=8).contains(&data) || !(1..=2).contains(&stop) {
        return None;
    }
    Some((u8::try_from(data).ok()?, parity, u8::try_from(stop).ok()?))
}

impl fmt::Display for ComConfig {
    /// Xen's syntax, e.g. `115200,8n1,0x3f8,4` (omitting unset fields).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.baud {
            Some(baud) => write!(f, "{baud}")?,
            None => f.write_str("auto")?,
        }
        write!(f, ",{}{}{}", self.data_bits, self.parity.as_char(), self.stop_bits)?;
        match (self.io_base, self.irq) {
            (Some(io), Some(irq)) => write!(f, ",{io:#x},{irq}"),
            (Some(io), None) => write!(f, ",{io:#x}"),
            (None, Some(irq)) => write!(f, ",,{irq}"),
            (None, None) => Ok(()),
        }
    }
}

/// One `console=` destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsoleTarget {
    /// Serial port COM1 (`com1`).
    Com1,
    /// Serial port COM2 (`com2`).
    Com2,
    /// COM2, shared: characters with the top bit set (`com2H`).
    Com2High,
    /// COM2, shared: characters with the top bit clear (`com2L`).
    Com2Low,
    /// The VGA text console (`vga`).
    Vga,
    /// No output (`none`).
    None,
}

impl ConsoleTarget {
    /// Xen's default, `console=com1,vga`.
    pub const DEFAULT: [ConsoleTarget; 2] = [ConsoleTarget::Com1, ConsoleTarget::Vga];

    /// Parses one `console=` item (the `H`/`L` suffix in either case).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "com1" => Self::Com1,
            "com2" => Self::Com2,
            "com2H" | "com2h" => Self::Com2High,
            "com2L" | "com2l" => Self::Com2Low,
            "vga" => Self::Vga,
            "none" => Self::None,
            _ => return None,
        })
    }

    /// The canonical item name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Com1 => "com1",
            Self::Com2 => "com2",
            Self::Com2High => "com2H",
            Self::Com2Low => "com2L",
            Self::Vga => "vga",
            Self::None => "none",
        }
    }

    /// The serial port index (0 = COM1, 1 = COM2) if this is a serial target.
    pub fn serial_port(self) -> Option<usize> {
        match self {
            Self::Com1 => Some(0),
            Self::Com2 | Self::Com2High | Self::Com2Low => Some(1),
            Self::Vga | Self::None => None,
        }
    }
}

impl fmt::Display for ConsoleTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses the value of `console=`; empty items are skipped.
pub(crate) fn parse_console(s: &str) -> Result<Vec<ConsoleTarget>, InvalidValue> {
    let mut out = Vec::new();
    for item in s.split(',').filter(|item| !item.is_empty()) {
        out.push(ConsoleTarget::from_name(item).ok_or_else(|| InvalidValue::new("console", item))?);
    }
    if out.is_empty() {
        return Err(InvalidValue::new("console list", s));
    }
    Ok(out)
}

/// The `conswitch=` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConSwitch {
    /// Lower-case letter of the `CTRL-<letter>` switch sequence; `None` when
    /// switching is disabled (a backtick).
    pub switch_char: Option<u8>,
    /// Whether input switches to domain 0 automatically when it boots
    /// (disabled by a second character `x`).
    pub auto_switch: bool,
}

impl Default for ConSwitch {
    /// CTRL-a, auto-switch enabled.
    fn default() -> Self {
        Self { switch_char: Some(b'a'), auto_switch: true }
    }
}

impl ConSwitch {
    /// Parses `<switch-char>[<auto-switch-char>]`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue::new("switch characters", s);
        let mut chars = s.chars();
        let switch_char = match chars.next().ok_or_else(bad)? {
            '`' => None,
            c if c.is_ascii_alphabetic() => {
                Some(u8::try_from(c.to_ascii_lowercase()).map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
        let auto_switch = chars.next() != Some('x');
        if chars.next().is_some() {
            return Err(bad().because("at most 2 characters"));
        }
        Ok(Self { switch_char, auto_switch })
    }

    /// The control code typed for `CTRL-<switch_char>` (`a` is 0x01).
    pub fn ctrl_code(&self) -> Option<u8> {
        self.switch_char?.checked_sub(b'a')?.checked_add(1)
    }
}

impl fmt::Display for ConSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.switch_char.map_or('`', char::from))?;
        if self.auto_switch { Ok(()) } else { f.write_str("x") }
    }
}
