// SPDX-License-Identifier: GPL-2.0-only
//! The timer work of a return to a guest, done only when something it
//! depends on changed.
//!
//! Xen does no timer work when a hypercall returns: its timers sit in a
//! per-CPU heap and are (re)armed when they are set. The machine layer
//! here recomputes, on a return, what the CPU's one-shot timer must cover
//! (the running vCPU's single-shot and periodic timers and poll timeout,
//! the scheduler's next event, the timers of the vCPUs that are not
//! running) and republishes the vCPU's pvclock once per epoch. An
//! [`ExitMemo`], kept per vCPU, records what the last full computation
//! depended on besides the vCPU's own timers (whose every change sets
//! their `changed` flag, [`crate::pv::time::VcpuTimers::changed`]), the
//! arming it left and the earliest time at which its result goes stale.
//! While none of that changed and that time is ahead, the result stands
//! and the work is skipped. The skip is exact: the full computation with
//! the same inputs before that time fires nothing, publishes nothing and
//! arms nothing.

/// What a return's timer work depends on besides the vCPU's own timers
/// and the time: plain words (an absent deadline is [`NONE`]), so that
/// comparing two is a handful of instructions on the hypercall return
/// path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitInputs {
    /// The CPU the vCPU returns on (its one-shot timer).
    pub cpu: u64,
    /// What that CPU's timer is armed for (the machine layer's record; 0
    /// once its interrupt came).
    pub armed: u64,
    /// The earliest deadline of the vCPUs that are not running.
    pub scan: u64,
    /// The scheduler's next event on the CPU.
    pub sched_next: u64,
}

/// An absent deadline in [`ExitInputs`].
pub const NONE: u64 = u64::MAX;

/// The last full computation of a vCPU's return timer work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitMemo {
    /// Its inputs, the arming being the one it left.
    inputs: ExitInputs,
    /// The earliest time the result goes stale: a deadline it computed,
    /// or the pvclock's next epoch (0: nothing to reuse).
    until: u64,
}

impl Default for ExitMemo {
    fn default() -> Self {
        Self { inputs: ExitInputs { cpu: NONE, armed: 0, scan: NONE, sched_next: NONE }, until: 0 }
    }
}

impl ExitMemo {
    /// Whether the last computation still stands at `now` for `inputs`,
    /// the vCPU's own timers being unchanged since.
    #[must_use]
    pub fn still_valid(&self, inputs: &ExitInputs, now: u64) -> bool {
        now < self.until && self.inputs == *inputs
    }

    /// Records a full computation: its inputs (with the arming it left)
    /// and when its result goes stale.
    pub fn record(&mut self, inputs: ExitInputs, until: u64) {
        *self = Self { inputs, until };
    }

    /// Forgets the last computation (the vCPU moved, or its pvclock must
    /// be published again).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, reason = "tests on known values")]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn inputs() -> ExitInputs {
        ExitInputs { cpu: 0, armed: 20 * MS, scan: NONE, sched_next: 30 * MS }
    }

    #[test]
    fn an_empty_memo_never_stands() {
        let m = ExitMemo::default();
        assert!(!m.still_valid(&inputs(), 0));
        assert!(!m.still_valid(&ExitMemo::default().inputs, 0));
    }

    #[test]
    fn the_result_stands_until_it_goes_stale() {
        let mut m = ExitMemo::default();
        m.record(inputs(), 20 * MS);
        assert!(m.still_valid(&inputs(), 19 * MS));
        // The single shot is due: the full work must run.
        assert!(!m.still_valid(&inputs(), 20 * MS));
    }

    #[test]
    fn any_change_of_the_inputs_or_the_arming_forces_the_work() {
        let mut m = ExitMemo::default();
        m.record(inputs(), 20 * MS);
        let now = 10 * MS;
        let changed = [
            // The timer's interrupt came (early): it must be re-armed.
            ExitInputs { armed: 0, ..inputs() },
            ExitInputs { cpu: 1, ..inputs() },
            ExitInputs { scan: 11 * MS, ..inputs() },
            ExitInputs { sched_next: 12 * MS, ..inputs() },
            ExitInputs { sched_next: NONE, ..inputs() },
        ];
        for c in changed {
            assert!(!m.still_valid(&c, now), "{c:?}");
        }
        m.clear();
        assert!(!m.still_valid(&inputs(), now));
    }
}
