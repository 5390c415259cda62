// SPDX-License-Identifier: GPL-2.0-only
//! Platform options: `nmi=`, `apic_verbosity=`, `apic=` and `acpi=`.
//!
//! Enumerations for the keyword options that tune interrupt and firmware
//! handling. `acpi=` values are Linux's: the ones Xen interprets get their
//! own variant, any other value is kept verbatim in [`AcpiOption::Other`]
//! because Xen still hands it on to domain 0.

use alloc::string::{String, ToString};
use core::fmt;

/// What to do on an NMI (`nmi=`; Xen's words: "parity or I/O error", and
/// it applies them to NMIs of unknown reason too). [`crate::nmi::decide`]
/// turns it into the handler's action.
///
/// Xen's default is `dom0` in release builds and `fatal` in debug builds;
/// this hypervisor uses the release default, [`NmiAction::Dom0`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NmiAction {
    /// `fatal`: print a diagnostic and stop (here: panic).
    Fatal,
    /// `dom0`: forward the NMI to domain 0 (here, until forwarding exists:
    /// log it, rate-limited, and continue).
    #[default]
    Dom0,
    /// `ignore`: clear and ignore the error.
    Ignore,
}

impl NmiAction {
    /// Parses `fatal`, `dom0` or `ignore`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "fatal" => Some(Self::Fatal),
            "dom0" => Some(Self::Dom0),
            "ignore" => Some(Self::Ignore),
            _ => None,
        }
    }

    /// The option value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fatal => "fatal",
            Self::Dom0 => "dom0",
            Self::Ignore => "ignore",
        }
    }
}

/// Amount of APIC/IO-APIC setup detail printed (`apic_verbosity=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApicVerbosity {
    /// The default: nothing extra.
    #[default]
    Quiet,
    /// `verbose`.
    Verbose,
    /// `debug`.
    Debug,
}

impl ApicVerbosity {
    /// Parses `verbose` or `debug` (`quiet` is the default, not a value).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "verbose" => Some(Self::Verbose),
            "debug" => Some(Self::Debug),
            _ => None,
        }
    }
}

/// Platform APIC driver forced with `apic=` (normally probed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApicDriver {
    /// `bigsmp`: flat physical mode for large SMP systems.
    BigSmp,
    /// `default`: the standard PC driver.
    Default,
    /// `es7000`: Unisys ES7000.
    Es7000,
    /// `summit`: IBM Summit.
    Summit,
}

impl ApicDriver {
    /// Parses `bigsmp`, `default`, `es7000` or `summit`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "bigsmp" => Some(Self::BigSmp),
            "default" => Some(Self::Default),
            "es7000" => Some(Self::Es7000),
            "summit" => Some(Self::Summit),
            _ => None,
        }
    }

    /// The option value.
    pub fn name(self) -> &'static str {
        match self {
            Self::BigSmp => "bigsmp",
            Self::Default => "default",
            Self::Es7000 => "es7000",
            Self::Summit => "summit",
        }
    }
}

/// One `acpi=` value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AcpiOption {
    /// `off`: disable ACPI.
    Off,
    /// `force`: enable ACPI even on blacklisted firmware.
    Force,
    /// `strict`: reject non-conforming tables.
    Strict,
    /// `ht`: use ACPI only to enumerate hyper-threads.
    Ht,
    /// `noirq`: do not route interrupts through ACPI.
    NoIrq,
    /// A value Xen does not interpret, passed on to domain 0 unchanged.
    Other(String),
}

impl AcpiOption {
    /// Maps a value to its variant; unknown values become [`AcpiOption::Other`].
    pub fn from_name(s: &str) -> Self {
        match s {
            "off" => Self::Off,
            "force" => Self::Force,
            "strict" => Self::Strict,
            "ht" => Self::Ht,
            "noirq" => Self::NoIrq,
            other => Self::Other(other.to_string()),
        }
    }

    /// The value as written on the command line.
    pub fn name(&self) -> &str {
        match self {
            Self::Off => "off",
            Self::Force => "force",
            Self::Strict => "strict",
            Self::Ht => "ht",
            Self::NoIrq => "noirq",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for AcpiOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
