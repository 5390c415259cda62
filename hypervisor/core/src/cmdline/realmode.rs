// SPDX-License-Identifier: GPL-2.0-only
//! Options for Xen's real-mode boot code: `vga=`, `edid=`, `edd=`.
//!
//! Xen runs these BIOS calls (video mode set, VESA DDC, EDD disk probe) in
//! real mode before entering long mode; `no-real-mode` skips them all. Here
//! they are parsed and validated only, so a typo is reported even on
//! machines that cannot honour them.
//!
//! `vga=` accepts `ask`, `current`, `text-80x<rows>` (rows 25, 28, 30, 34,
//! 43, 50 or 60), `gfx-<width>x<height>x<depth>` (depth 8, 15, 16, 24 or 32)
//! and `mode-0x<hex>`, optionally followed by `,keep`.

use core::fmt;

use super::InvalidValue;
use super::number::parse_u64;

/// Text-mode row counts `vga=text-80x<rows>` accepts.
pub const TEXT_ROWS: [u8; 7] = [25, 28, 30, 34, 43, 50, 60];
/// Colour depths `vga=gfx-WxHxD` accepts.
pub const GFX_DEPTHS: [u8; 5] = [8, 15, 16, 24, 32];

/// The video mode requested with `vga=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VgaMode {
    /// `ask`: show a menu of modes at boot.
    Ask,
    /// `current`: keep the mode the boot loader left.
    Current,
    /// `text-80x<rows>`.
    Text {
        /// Number of text rows (one of [`TEXT_ROWS`]).
        rows: u8,
    },
    /// `gfx-<width>x<height>x<depth>`: a VESA graphics mode.
    Gfx {
        /// Horizontal resolution in pixels.
        width: u16,
        /// Vertical resolution in pixels.
        height: u16,
        /// Bits per pixel (one of [`GFX_DEPTHS`]).
        depth: u8,
    },
    /// `mode-0x<hex>`: a mode number as listed by `vga=ask`.
    Mode(u16),
}

/// The whole `vga=` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VgaConfig {
    /// The requested mode.
    pub mode: VgaMode,
    /// `,keep`: keep writing to VGA after domain 0 starts booting.
    pub keep: bool,
}

fn split_x(s: &str) -> Option<(&str, &str)> {
    s.split_once('x')
}

fn decimal<T: TryFrom<u64>>(s: &str) -> Option<T> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    T::try_from(parse_u64(s)?).ok()
}

impl VgaMode {
    /// Parses a mode (without `,keep`).
    pub fn parse(s: &str) -> Option<Self> {
        if s == "ask" {
            return Some(Self::Ask);
        }
        if s == "current" {
            return Some(Self::Current);
        }
        if let Some(res) = s.strip_prefix("text-") {
            let (cols, rows) = split_x(res)?;
            let rows = decimal::<u8>(rows).filter(|r| TEXT_ROWS.contains(r))?;
            return (cols == "80").then_some(Self::Text { rows });
        }
        if let Some(res) = s.strip_prefix("gfx-") {
            let (width, rest) = split_x(res)?;
            let (height, depth) = split_x(rest)?;
            let width = decimal::<u16>(width).filter(|&w| w != 0)?;
            let height = decimal::<u16>(height).filter(|&h| h != 0)?;
            let depth = decimal::<u8>(depth).filter(|d| GFX_DEPTHS.contains(d))?;
            return Some(Self::Gfx { width, height, depth });
        }
        let hex = s.strip_prefix("mode-")?;
        if !(hex.starts_with("0x") || hex.starts_with("0X")) {
            return None;
        }
        Some(Self::Mode(u16::try_from(parse_u64(hex)?).ok()?))
    }
}

impl fmt::Display for VgaMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Ask => f.write_str("ask"),
            Self::Current => f.write_str("current"),
            Self::Text { rows } => write!(f, "text-80x{rows}"),
            Self::Gfx { width, height, depth } => write!(f, "gfx-{width}x{height}x{depth}"),
            Self::Mode(mode) => write!(f, "mode-{mode:#x}"),
        }
    }
}

impl VgaConfig {
    /// Parses the value of `vga=`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let (mode, keep) = match s.split_once(',') {
            Some((mode, "keep")) => (mode, true),
            Some((_, extra)) => return Err(InvalidValue::new("VGA flag", extra)),
            None => (s, false),
        };
        let mode = VgaMode::parse(mode).ok_or_else(|| InvalidValue::new("VGA mode", mode))?;
        Ok(Self { mode, keep })
    }
}

impl fmt::Display for VgaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.mode, if self.keep { ",keep" } else { "" })
    }
}

/// `edid=`: monitor EDID retrieval via VESA DDC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EdidMode {
    /// `edid=no`: do not retrieve EDID.
    No,
    /// `edid=force`: retrieve EDID even where Xen would skip it.
    Force,
}

impl EdidMode {
    /// Parses `no` or `force`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "no" => Some(Self::No),
            "force" => Some(Self::Force),
            _ => None,
        }
    }

    /// The option value.
    pub fn name(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Force => "force",
        }
    }
}

/// `edd=`: Extended Disk Data retrieval from the BIOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EddMode {
    /// `edd=off`: skip EDD.
    Off,
    /// `edd=on`: retrieve EDD (Xen's default).
    On,
    /// `edd=skipmbr`: retrieve EDD but skip reading the MBR signatures.
    SkipMbr,
}

impl EddMode {
    /// Parses `off`, `on` or `skipmbr`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "on" => Some(Self::On),
            "skipmbr" => Some(Self::SkipMbr),
            _ => None,
        }
    }

    /// The option value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::On => "on",
            Self::SkipMbr => "skipmbr",
        }
    }
}
