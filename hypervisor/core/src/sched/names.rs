// SPDX-License-Identifier: GPL-2.0-only
//! Scheduler selection: the `sched=` choice and its printed names.
//!
//! Xen keeps a table of schedulers, each with a long `name` printed at boot
//! (`Using scheduler: SMP Credit Scheduler (credit)`) and a short `opt_name`
//! matched against `sched=`.

use core::fmt;

/// The CPU scheduler chosen with `sched=` (Xen 3.x: `credit` or `sedf`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SchedulerKind {
    /// The SMP credit scheduler (`sched=credit`, the default).
    #[default]
    Credit,
    /// The simple earliest-deadline-first scheduler (`sched=sedf`).
    Sedf,
}

impl SchedulerKind {
    /// Every scheduler, in the order Xen lists them.
    pub const ALL: [SchedulerKind; 2] = [SchedulerKind::Sedf, SchedulerKind::Credit];

    /// Looks a scheduler up by its `sched=` name (exact, case-sensitive).
    pub fn from_opt_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| opt_name(*kind) == name)
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(opt_name(*self))
    }
}

/// The scheduler's long name, as Xen prints it at boot.
pub fn scheduler_name(kind: SchedulerKind) -> &'static str {
    match kind {
        SchedulerKind::Credit => "SMP Credit Scheduler",
        SchedulerKind::Sedf => "Simple EDF Scheduler",
    }
}

/// The scheduler's short name, the value accepted by `sched=`.
pub fn opt_name(kind: SchedulerKind) -> &'static str {
    match kind {
        SchedulerKind::Credit => "credit",
        SchedulerKind::Sedf => "sedf",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn names_match_xen() {
        assert_eq!(scheduler_name(SchedulerKind::Credit), "SMP Credit Scheduler");
        assert_eq!(scheduler_name(SchedulerKind::Sedf), "Simple EDF Scheduler");
        assert_eq!(opt_name(SchedulerKind::Credit), "credit");
        assert_eq!(opt_name(SchedulerKind::Sedf), "sedf");
        let k = SchedulerKind::default();
        assert_eq!(
            format!("Using scheduler: {} ({k})", scheduler_name(k)),
            "Using scheduler: SMP Credit Scheduler (credit)"
        );
    }

    #[test]
    fn from_opt_name_is_exact() {
        assert_eq!(SchedulerKind::from_opt_name("credit"), Some(SchedulerKind::Credit));
        assert_eq!(SchedulerKind::from_opt_name("sedf"), Some(SchedulerKind::Sedf));
        assert_eq!(SchedulerKind::from_opt_name("Credit"), None);
        assert_eq!(SchedulerKind::from_opt_name("credit2"), None);
        assert_eq!(SchedulerKind::from_opt_name(""), None);
    }
}
