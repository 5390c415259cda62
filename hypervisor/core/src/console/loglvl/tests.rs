// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests for log levels, thresholds and the rate limiter.
// Tests may do plain arithmetic on small known values.
#![allow(clippy::arithmetic_side_effects)]

use super::*;
use alloc::string::ToString;

#[test]
fn thresholds_parse_single_and_pair() {
    let t = LogThresholds::parse("info").unwrap_or_default();
    assert_eq!((t.lower, t.upper), (LogLevelThreshold::Info, LogLevelThreshold::Info));
    let t = LogThresholds::parse("none/warning");
    assert_eq!(t, Some(LogThresholds::GUEST_DEFAULT));
    let t = LogThresholds::parse("error/all");
    assert_eq!(t, Some(LogThresholds::new(LogLevelThreshold::Error, LogLevelThreshold::All)));
}

#[test]
fn thresholds_upper_raised_to_lower() {
    let t = LogThresholds::parse("debug/error");
    assert_eq!(t, Some(LogThresholds::new(LogLevelThreshold::Debug, LogLevelThreshold::Debug)));
}

#[test]
fn thresholds_reject_garbage() {
    for bad in ["", "/", "warn", "warning/", "/info", "info/debug/all", "INFO", "warnings"] {
        assert_eq!(LogThresholds::parse(bad), None, "{bad}");
    }
}

#[test]
fn thresholds_display_round_trips() {
    assert_eq!(LogThresholds::XEN_DEFAULT.to_string(), "warning");
    assert_eq!(LogThresholds::GUEST_DEFAULT.to_string(), "none/warning");
    for s in ["all", "none/debug", "error/info"] {
        assert_eq!(LogThresholds::parse(s).map(|t| t.to_string()).as_deref(), Some(s));
    }
}

#[test]
fn default_level_is_warning() {
    assert_eq!(LogLevel::default(), LogLevel::Warning);
    assert_eq!(LogThresholds::default(), LogThresholds::XEN_DEFAULT);
}

#[test]
fn split_prefix_levels_and_guest_tag() {
    assert_eq!(LogLevel::split_prefix("<0>boom"), (LogLevel::Error, false, "boom"));
    assert_eq!(LogLevel::split_prefix("<3>x"), (LogLevel::Debug, false, "x"));
    assert_eq!(LogLevel::split_prefix("<G><2>dom1"), (LogLevel::Info, true, "dom1"));
    assert_eq!(LogLevel::split_prefix("<G>plain"), (LogLevel::Warning, true, "plain"));
    assert_eq!(LogLevel::split_prefix("plain"), (LogLevel::Warning, false, "plain"));
    assert_eq!(LogLevel::split_prefix("<9>odd"), (LogLevel::Warning, false, "<9>odd"));
    assert_eq!(LogLevel::split_prefix(""), (LogLevel::Warning, false, ""));
}

#[test]
fn xen_default_prints_errors_and_warnings_only() {
    let mut rl = RateLimiter::default();
    let t = LogThresholds::XEN_DEFAULT;
    for _ in 0..100 {
        assert!(t.decide(LogLevel::Error, 0, &mut rl));
        assert!(t.decide(LogLevel::Warning, 0, &mut rl));
        assert!(!t.decide(LogLevel::Info, 0, &mut rl));
        assert!(!t.decide(LogLevel::Debug, 0, &mut rl));
    }
    assert_eq!(rl.take_missed(), 0, "unconditional and dropped levels never count");
}

#[test]
fn guest_default_rate_limits_errors_and_warnings() {
    let mut rl = RateLimiter::default();
    let t = LogThresholds::GUEST_DEFAULT;
    let printed = (0..25).filter(|_| t.decide(LogLevel::Error, 1000, &mut rl)).count();
    assert_eq!(printed, 10, "burst of 10");
    assert_eq!(rl.take_missed(), 15);
    assert_eq!(rl.take_missed(), 0, "take resets");
    assert!(!t.decide(LogLevel::Info, 1000, &mut rl));
    assert_eq!(rl.missed(), 0, "dropped level is not a rate-limit miss");
}

#[test]
fn loglvl_all_prints_everything() {
    let mut rl = RateLimiter::new(5000, 0);
    let t = LogThresholds::parse("all").unwrap_or_default();
    for level in [LogLevel::Error, LogLevel::Warning, LogLevel::Info, LogLevel::Debug] {
        assert!(t.decide(level, 0, &mut rl));
    }
}

#[test]
fn loglvl_none_prints_nothing() {
    let mut rl = RateLimiter::default();
    let t = LogThresholds::parse("none").unwrap_or_default();
    assert!(!t.decide(LogLevel::Error, 0, &mut rl));
}

#[test]
fn ratelimiter_refills_one_message_per_interval() {
    let mut rl = RateLimiter::default();
    for _ in 0..10 {
        assert!(rl.allow(0));
    }
    assert!(!rl.allow(0));
    assert!(!rl.allow(4999));
    assert!(rl.allow(5000));
    assert!(!rl.allow(5001));
    assert_eq!(rl.take_missed(), 3);
}

#[test]
fn ratelimiter_bucket_is_capped() {
    let mut rl = RateLimiter::default();
    assert!(rl.allow(0));
    // A very long quiet period refills at most `burst` messages.
    let later = 10_000_000;
    let printed = (0..20).filter(|_| rl.allow(later)).count();
    assert_eq!(printed, 10);
}

#[test]
fn ratelimiter_survives_clock_going_backwards_and_huge_times() {
    let mut rl = RateLimiter::new(u64::MAX, u64::MAX);
    assert!(rl.allow(u64::MAX));
    let mut rl = RateLimiter::default();
    for _ in 0..10 {
        assert!(rl.allow(100_000));
    }
    assert!(!rl.allow(50), "time went backwards: no new tokens");
    assert!(rl.allow(105_000));
}
