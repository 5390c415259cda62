// SPDX-License-Identifier: GPL-2.0-only
//! The initiator's wait in a TLB shootdown (Xen's `flush_area_mask` waiting
//! for `flush_cpumask` to drain): done only when every target has answered.
//!
//! A shootdown that has not completed must never be treated as done: a CPU
//! that has not flushed may still hold a stale writable mapping of a frame
//! that just became a page table or went back to the allocator, which would
//! let a guest write where it must not. So the initiator keeps waiting for
//! as long as it takes, and once per [`REPORT_INTERVAL_NS`] reports the CPUs
//! that have not answered (and the caller sends them the IPI again, in case
//! it was lost or could not be sent).

/// How often a late shootdown is reported (and the IPI re-sent): 1 s.
pub const REPORT_INTERVAL_NS: u64 = 1_000_000_000;

/// What the initiator does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStep {
    /// Every target has flushed: the shootdown is complete.
    Done,
    /// Keep spinning.
    Spin,
    /// Still waiting after `waited_ns`: report the CPUs in `late` (bit per
    /// CPU number), send them the IPI again, then keep waiting.
    Report {
        /// The targets that have not answered yet.
        late: u64,
        /// Time since the shootdown started.
        waited_ns: u64,
    },
}

/// The state of one initiator's wait.
#[derive(Clone, Copy, Debug)]
pub struct ShootdownWait {
    start: u64,
    next_report: u64,
}

impl ShootdownWait {
    /// A wait starting at time `now` (ns).
    #[must_use]
    pub fn new(now: u64) -> Self {
        Self { start: now, next_report: now.saturating_add(REPORT_INTERVAL_NS) }
    }

    /// The next step, given the time and the targets that still owe a flush.
    /// Never [`WaitStep::Done`] while `pending` is not empty, however long
    /// the wait has been.
    pub fn step(&mut self, now: u64, pending: u64) -> WaitStep {
        if pending == 0 {
            return WaitStep::Done;
        }
        if now < self.next_report {
            return WaitStep::Spin;
        }
        // Skip the intervals a long stall (an NMI, a slow console) let pass:
        // one report per call at most.
        while self.next_report <= now {
            self.next_report = self.next_report.saturating_add(REPORT_INTERVAL_NS);
            if self.next_report == u64::MAX {
                break;
            }
        }
        WaitStep::Report { late: pending, waited_ns: now.saturating_sub(self.start) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = REPORT_INTERVAL_NS;

    #[test]
    fn done_as_soon_as_every_target_answered() {
        let mut w = ShootdownWait::new(100);
        assert_eq!(w.step(100, 0b110), WaitStep::Spin);
        assert_eq!(w.step(200, 0b100), WaitStep::Spin);
        assert_eq!(w.step(300, 0), WaitStep::Done);
    }

    #[test]
    fn a_target_that_never_answers_is_never_given_up_on() {
        let mut w = ShootdownWait::new(0);
        let mut reports = Vec::new();
        // A minute of polling every millisecond with CPU 3 silent.
        for ms in 0..60_000u64 {
            match w.step(ms * 1_000_000, 1 << 3) {
                WaitStep::Done => panic!("treated as flushed after {ms} ms"),
                WaitStep::Spin => {}
                WaitStep::Report { late, waited_ns } => reports.push((late, waited_ns)),
            }
        }
        // One report per second, naming the silent CPU.
        assert_eq!(reports.len(), 59);
        assert!(reports.iter().all(|&(late, _)| late == 1 << 3));
        assert_eq!(reports.first(), Some(&(1 << 3, S)));
        assert_eq!(reports.last(), Some(&(1 << 3, 59 * S)));
        // It answers at last: done.
        assert_eq!(w.step(61 * S, 0), WaitStep::Done);
    }

    #[test]
    fn a_long_stall_gives_one_report_not_a_burst() {
        let mut w = ShootdownWait::new(0);
        assert_eq!(w.step(10 * S + 5, 1), WaitStep::Report { late: 1, waited_ns: 10 * S + 5 });
        assert_eq!(w.step(10 * S + 6, 1), WaitStep::Spin);
        assert_eq!(w.step(11 * S, 1), WaitStep::Report { late: 1, waited_ns: 11 * S });
    }

    #[test]
    fn clock_at_the_end_of_time_does_not_overflow() {
        let mut w = ShootdownWait::new(u64::MAX - 10);
        assert_eq!(w.step(u64::MAX - 5, 1), WaitStep::Spin);
        assert!(matches!(w.step(u64::MAX, 1), WaitStep::Report { late: 1, .. }));
        assert_eq!(w.step(u64::MAX, 0), WaitStep::Done);
    }
}
