// SPDX-License-Identifier: GPL-2.0-only
//! What an NMI does (Xen's `do_nmi` with `nmi=fatal|dom0|ignore`).
//!
//! The reason comes from system control port B (I/O port `0x61`), as Xen
//! reads it: bit 7 is a memory parity / PCI SERR error, bit 6 an I/O check
//! (IOCHK) error; with neither, the NMI is of unknown origin (an NMI button,
//! a watchdog, QEMU's monitor `nmi`). For every kind Xen's `nmi=` option
//! decides, and so does [`decide`]:
//!
//! * `fatal`: print a diagnostic and stop the machine ([`NmiDecision::Fatal`]);
//! * `dom0` (the default): tell dom0 (`nmi_dom0_report`). Until NMIs are
//!   forwarded to dom0 the hypervisor logs them ([`NmiDecision::Report`]);
//! * `ignore`: clear the error source and carry on ([`NmiDecision::Ignore`]).
//!
//! Either way the error source (parity/IOCHK) is cleared before returning.
//! NMIs can come in bursts, so reports are rate-limited ([`should_log`]):
//! each one is counted, and logged only for the first ones and then at
//! every power of two.

use crate::cmdline::NmiAction;

/// Port B bit 7: memory parity / PCI SERR# error.
pub const REASON_SERR: u8 = 0x80;
/// Port B bit 6: I/O channel check (IOCHK#) error.
pub const REASON_IOCHK: u8 = 0x40;

/// The source of an NMI, from port B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NmiKind {
    /// Memory parity or PCI system error (`pci_serr_error`).
    Serr,
    /// I/O check error (`io_check_error`).
    IoCheck,
    /// Neither bit set (`unknown_nmi_error`).
    Unknown,
}

impl NmiKind {
    /// The kind the port-B value `reason` reports (SERR wins over IOCHK, as
    /// in Xen, which handles SERR first).
    #[must_use]
    pub fn from_reason(reason: u8) -> Self {
        if reason & REASON_SERR != 0 {
            Self::Serr
        } else if reason & REASON_IOCHK != 0 {
            Self::IoCheck
        } else {
            Self::Unknown
        }
    }

    /// Xen's words for it.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Serr => "PCI system error (SERR) or memory parity error",
            Self::IoCheck => "I/O check error (IOCHK)",
            Self::Unknown => "unknown reason",
        }
    }
}

/// What the NMI handler does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NmiDecision {
    /// Print a diagnostic and panic (`nmi=fatal`).
    Fatal,
    /// Count, log (rate-limited) and continue (`nmi=dom0` until NMIs are
    /// forwarded to dom0).
    Report,
    /// Count only and continue (`nmi=ignore`).
    Ignore,
}

/// Xen's decision for an NMI of `kind` under `nmi=action`: the same for
/// every kind.
#[must_use]
pub fn decide(action: NmiAction, kind: NmiKind) -> NmiDecision {
    let _ = kind;
    match action {
        NmiAction::Fatal => NmiDecision::Fatal,
        NmiAction::Dom0 => NmiDecision::Report,
        NmiAction::Ignore => NmiDecision::Ignore,
    }
}

/// The port-B writes that clear the error source of `reason` (in order;
/// each value goes to port `0x61`): Xen's `pci_serr_error` sets bit 2
/// (clear and disable SERR); `io_check_error` sets bit 3 (clear and disable
/// IOCHK) and then clears it again (re-enable; Xen waits 1 ms between the
/// two). Only the low four bits of port B are writable.
#[must_use]
pub fn clear_writes(reason: u8) -> ([u8; 2], usize) {
    let low = reason & 0x0f;
    match NmiKind::from_reason(reason) {
        NmiKind::Serr => ([low | 0x04, 0], 1),
        NmiKind::IoCheck => ([low | 0x08, low & !0x08], 2),
        NmiKind::Unknown => ([0, 0], 0),
    }
}

/// Whether the `count`-th NMI (from 1) is logged: the first eight, then
/// every power of two, so a storm costs a handful of lines.
#[must_use]
pub fn should_log(count: u64) -> bool {
    (1..=8).contains(&count) || count.is_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_bits() {
        assert_eq!(NmiKind::from_reason(0), NmiKind::Unknown);
        assert_eq!(NmiKind::from_reason(0x3f), NmiKind::Unknown);
        assert_eq!(NmiKind::from_reason(0x40), NmiKind::IoCheck);
        assert_eq!(NmiKind::from_reason(0x80), NmiKind::Serr);
        assert_eq!(NmiKind::from_reason(0xc0), NmiKind::Serr);
    }

    #[test]
    fn xen_semantics_per_option() {
        for kind in [NmiKind::Serr, NmiKind::IoCheck, NmiKind::Unknown] {
            assert_eq!(decide(NmiAction::Fatal, kind), NmiDecision::Fatal);
            assert_eq!(decide(NmiAction::Dom0, kind), NmiDecision::Report);
            assert_eq!(decide(NmiAction::Ignore, kind), NmiDecision::Ignore);
        }
    }

    #[test]
    fn default_option_is_xens_release_default_and_not_fatal() {
        let (opts, _) = crate::cmdline::parse("");
        assert_eq!(opts.nmi, NmiAction::Dom0);
        assert_eq!(decide(opts.nmi, NmiKind::Unknown), NmiDecision::Report);
        let (opts, _) = crate::cmdline::parse("nmi=ignore");
        assert_eq!(decide(opts.nmi, NmiKind::Unknown), NmiDecision::Ignore);
        let (opts, _) = crate::cmdline::parse("nmi=fatal");
        assert_eq!(decide(opts.nmi, NmiKind::Serr), NmiDecision::Fatal);
    }

    #[test]
    fn clearing_the_source() {
        assert_eq!(clear_writes(0x00).1, 0);
        assert_eq!(clear_writes(0x83), ([0x07, 0], 1));
        assert_eq!(clear_writes(0x41), ([0x09, 0x01], 2));
        // Bit 3 already set stays cleared afterwards (re-enabled).
        assert_eq!(clear_writes(0x4b), ([0x0b, 0x03], 2));
    }

    #[test]
    fn rate_limit() {
        let logged: Vec<u64> = (1..=1000).filter(|&n| should_log(n)).collect();
        assert_eq!(logged, [1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64, 128, 256, 512]);
        assert!(!should_log(0));
    }
}
