// SPDX-License-Identifier: GPL-2.0-only
//! A domU's PV console: what it prints also goes to the `out` ring of its
//! console page (`start_info.console.domU`), with a notification on the
//! console event channel, for the backend in dom0 (`pv-toolstack` prints
//! it as `d<N>| <line>`, which real Xen's release build shows too).
//!
//! [`crate::run`] attaches every domU's console ([`attach`]); dom0 keeps
//! `console_io` only. Writing never blocks for long: when the ring is full
//! the writer yields a few times while the backend makes progress, then
//! drops what does not fit; once the backend has read nothing for a whole
//! wait the ring counts as stalled and later writes drop at once until it
//! moves again. Two vCPUs (or an event handler) printing at the same time
//! do not wait for each other either: the second writer's text goes to
//! `console_io` only.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use guest_abi::xen::{EvtchnPort, SIF_INITDOMAIN, StartInfo};

use crate::ring::{CONSOLE_OUT, Ring, Side};
use crate::{evtchn, ops, pt};

/// Address of the console page in the initial mapping (0: not attached).
static PAGE: AtomicU64 = AtomicU64::new(0);
/// The console event channel (0: none).
static PORT: AtomicU32 = AtomicU32::new(0);
/// Held by the one writer of the ring.
static BUSY: AtomicBool = AtomicBool::new(false);
/// The backend read nothing during the last wait.
static STALLED: AtomicBool = AtomicBool::new(false);
/// Bytes dropped because the ring was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Yields a writer waits, at most, for room in a full ring.
const MAX_YIELDS: u32 = 64;

/// Attaches a domU's console ring (not dom0's). Returns whether the ring
/// is now in use.
pub fn attach(si: &StartInfo) -> bool {
    if si.flags & SIF_INITDOMAIN != 0 {
        return false;
    }
    let console = si.console.domu();
    let Some(map) = pt::InitialMapping::new(si) else { return false };
    let Some(va) = map.frame_va(console.mfn.0) else { return false };
    PORT.store(console.evtchn.0, Ordering::Relaxed);
    PAGE.store(va, Ordering::Release);
    true
}

/// Whether [`attach`] found the ring.
#[must_use]
pub fn attached() -> bool {
    PAGE.load(Ordering::Acquire) != 0
}

/// Bytes dropped so far because the ring was full.
#[must_use]
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Writes `bytes` to the ring (see the module documentation); returns how
/// many went in.
pub fn write(bytes: &[u8]) -> usize {
    let page = PAGE.load(Ordering::Acquire);
    if page == 0 || bytes.is_empty() {
        return 0;
    }
    if BUSY.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return 0;
    }
    // SAFETY: `attach` found the page in the initial mapping, which maps
    // it writable for the domain's whole life; the layout is the console
    // page's.
    let mut ring = unsafe { Ring::attach(page as *mut u8, CONSOLE_OUT, Side::Producer) };
    let port = EvtchnPort(PORT.load(Ordering::Relaxed));
    let mut done = 0usize;
    let mut yields = 0u32;
    while let Some(rest) = bytes.get(done..).filter(|r| !r.is_empty()) {
        let Ok(n) = ring.write(rest) else { break };
        if n > 0 {
            done = done.saturating_add(n);
            STALLED.store(false, Ordering::Relaxed);
            if port.0 != 0 {
                let _ = evtchn::send(port);
            }
            continue;
        }
        if STALLED.load(Ordering::Relaxed) || yields >= MAX_YIELDS {
            STALLED.store(true, Ordering::Relaxed);
            break;
        }
        yields = yields.saturating_add(1);
        let _ = ops::sched_yield();
    }
    let lost = bytes.len().saturating_sub(done) as u64;
    if lost > 0 {
        DROPPED.fetch_add(lost, Ordering::Relaxed);
    }
    BUSY.store(false, Ordering::Release);
    done
}
