// SPDX-License-Identifier: GPL-2.0-only
//! sEDF unit tests: placement, queues, waking. Whole-system behaviour is
//! tested in `sched::sim`.
