// SPDX-License-Identifier: GPL-2.0-only
//! Log levels, `loglvl=` thresholds and `printk` rate limiting.
//!
//! Xen tags each message with a level (`XENLOG_ERR` … `XENLOG_DEBUG`, written
//! as a `<0>`…`<3>` prefix, optionally preceded by `<G>` for guest-related
//! messages). Two thresholds decide its fate: levels at or below `lower` are
//! always printed, levels above `lower` but at or below `upper` are printed
//! subject to the global rate limiter, anything else is dropped. Defaults:
//! `loglvl=warning` (lower = upper = warning) and `guest_loglvl=none/warning`.
//!
//! [`RateLimiter`] is Xen's `__printk_ratelimit` token bucket: one token per
//! millisecond, each message costs `ratelimit_ms` tokens, the bucket holds
//! `burst * ratelimit_ms` (burst 10, 5000 ms). Suppressed messages are counted
//! so the caller can print `printk: N messages suppressed.`.

use core::fmt;

/// Severity of one console message (Xen's `XENLOG_*`, most severe first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `XENLOG_ERR`, prefix `<0>`.
    Error,
    /// `XENLOG_WARNING`, prefix `<1>`; also the level of untagged messages.
    #[default]
    Warning,
    /// `XENLOG_INFO`, prefix `<2>`.
    Info,
    /// `XENLOG_DEBUG`, prefix `<3>`.
    Debug,
}

impl LogLevel {
    /// Position on the [`LogLevelThreshold`] scale.
    fn rank(self) -> u8 {
        match self {
            LogLevel::Error => 1,
            LogLevel::Warning => 2,
            LogLevel::Info => 3,
            LogLevel::Debug => 4,
        }
    }

    /// Splits Xen's level prefixes off a message.
    ///
    /// Returns the level (`<0>`…`<3>`, default [`LogLevel::Warning`]), whether
    /// the message carried the guest tag `<G>` (which Xen writes before the
    /// level), and the remaining text.
    pub fn split_prefix(msg: &str) -> (LogLevel, bool, &str) {
        let (guest, rest) = match msg.strip_prefix("<G>") {
            Some(rest) => (true, rest),
            None => (false, msg),
        };
        let tagged = [
            ("<0>", LogLevel::Error),
            ("<1>", LogLevel::Warning),
            ("<2>", LogLevel::Info),
            ("<3>", LogLevel::Debug),
        ];
        for (prefix, level) in tagged {
            if let Some(text) = rest.strip_prefix(prefix) {
                return (level, guest, text);
            }
        }
        (LogLevel::default(), guest, rest)
    }
}

/// One `loglvl=` bound: which levels it includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevelThreshold {
    /// No level.
    None,
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warning,
    /// Everything but debug messages.
    Info,
    /// Every level.
    Debug,
    /// Every level (Xen's `all`).
    All,
}

impl LogLevelThreshold {
    /// Parses a level name: `none`, `error`, `warning`, `info`, `debug`, `all`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Self::None,
            "error" => Self::Error,
            "warning" => Self::Warning,
            "info" => Self::Info,
            "debug" => Self::Debug,
            "all" => Self::All,
            _ => return None,
        })
    }

    /// The name accepted by [`LogLevelThreshold::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::All => "all",
        }
    }

    /// Whether messages of `level` fall within this bound.
    pub fn includes(self, level: LogLevel) -> bool {
        let rank = match self {
            Self::None => 0,
            Self::Error => 1,
            Self::Warning => 2,
            Self::Info => 3,
            Self::Debug => 4,
            Self::All => 5,
        };
        level.rank() <= rank
    }
}

/// The pair of bounds set by `loglvl=` or `guest_loglvl=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogThresholds {
    /// Levels up to this one are always printed.
    pub lower: LogLevelThreshold,
    /// Levels above `lower` up to this one are printed when the rate limiter
    /// allows; never below `lower`.
    pub upper: LogLevelThreshold,
}

impl LogThresholds {
    /// Xen's default for hypervisor messages: `loglvl=warning`.
    pub const XEN_DEFAULT: Self =
        Self { lower: LogLevelThreshold::Warning, upper: LogLevelThreshold::Warning };

    /// Xen's default for guest-related messages: `guest_loglvl=none/warning`.
    pub const GUEST_DEFAULT: Self =
        Self { lower: LogLevelThreshold::None, upper: LogLevelThreshold::Warning };

    /// Builds a pair, raising `upper` to `lower` if it is below it (as Xen).
    pub fn new(lower: LogLevelThreshold, upper: LogLevelThreshold) -> Self {
        Self { lower, upper: upper.max(lower) }
    }

    /// Parses `level[/level]`; a missing second level equals the first.
    pub fn parse(s: &str) -> Option<Self> {
        let (lower, upper) = match s.split_once('/') {
            Some((lower, upper)) => (lower, upper),
            None => (s, s),
        };
        Some(Self::new(LogLevelThreshold::from_name(lower)?, LogLevelThreshold::from_name(upper)?))
    }

    /// Decides whether a message of `level` is printed at time `now_ms`.
    ///
    /// Levels within `lower` always print; levels only within `upper` print
    /// when `ratelimit` has a token (consuming it, or counting a miss);
    /// all other levels are dropped without touching the limiter.
    pub fn decide(&self, level: LogLevel, now_ms: u64, ratelimit: &mut RateLimiter) -> bool {
        if self.lower.includes(level) {
            true
        } else if self.upper.includes(level) {
            ratelimit.allow(now_ms)
        } else {
            false
        }
    }
}

impl Default for LogThresholds {
    fn default() -> Self {
        Self::XEN_DEFAULT
    }
}

impl fmt::Display for LogThresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lower == self.upper {
            f.write_str(self.lower.name())
        } else {
            write!(f, "{}/{}", self.lower.name(), self.upper.name())
        }
    }
}

/// Xen's `printk_ratelimit` token bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimiter {
    ratelimit_ms: u64,
    burst: u64,
    tokens: u64,
    last_ms: Option<u64>,
    missed: u64,
}

impl RateLimiter {
    /// Xen's `printk_ratelimit_ms`: minimum average gap between messages.
    pub const XEN_RATELIMIT_MS: u64 = 5000;
    /// Xen's `printk_ratelimit_burst`: messages allowed back to back.
    pub const XEN_BURST: u64 = 10;

    /// A limiter allowing `burst` messages at once, then one per
    /// `ratelimit_ms` milliseconds. The bucket starts full.
    pub fn new(ratelimit_ms: u64, burst: u64) -> Self {
        let tokens = burst.saturating_mul(ratelimit_ms);
        Self { ratelimit_ms, burst, tokens, last_ms: None, missed: 0 }
    }

    /// Whether a rate-limited message may be printed at `now_ms`; counts a
    /// miss when it may not. A clock going backwards adds no tokens.
    pub fn allow(&mut self, now_ms: u64) -> bool {
        let elapsed = self.last_ms.map_or(0, |last| now_ms.saturating_sub(last));
        self.last_ms = Some(self.last_ms.map_or(now_ms, |last| last.max(now_ms)));
        let cap = self.burst.saturating_mul(self.ratelimit_ms);
        self.tokens = self.tokens.saturating_add(elapsed).min(cap);
        if self.burst > 0 && self.tokens >= self.ratelimit_ms {
            self.tokens = self.tokens.saturating_sub(self.ratelimit_ms);
            true
        } else {
            self.missed = self.missed.saturating_add(1);
            false
        }
    }

    /// Returns how many messages were suppressed since the last call and
    /// resets the count (print `printk: N messages suppressed.` if non-zero).
    pub fn take_missed(&mut self) -> u64 {
        core::mem::take(&mut self.missed)
    }

    /// Suppressed messages not yet collected with [`RateLimiter::take_missed`].
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(Self::XEN_RATELIMIT_MS, Self::XEN_BURST)
    }
}

#[cfg(test)]
mod tests;
