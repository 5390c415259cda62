// SPDX-License-Identifier: GPL-2.0-only
//! `pv-pingpong`: one end of an interdomain event channel, as a domU of
//! `pv-toolstack mode=pingpong`.
//!
//! The toolstack builds two of these: A with `role=a peer=<B's domid>`,
//! B with `role=b peer=<A's domid> port=<A's port>`, after allocating that
//! port in A for B (`EVTCHNOP_alloc_unbound` with `dom` = A, `remote_dom`
//! = B). Both take `rounds=<N>` (default [`DEFAULT_ROUNDS`]).
//!
//! * A finds its port with `EVTCHNOP_status` on its own ports (the one
//!   unbound for B, or already connected to B), checks that asking about
//!   B's ports is `-EPERM`, then N times: waits for the port to become
//!   pending (`SCHEDOP_poll` on it, the upcall masked), clears it, sends.
//! * B binds to A's port (`EVTCHNOP_bind_interdomain`: a new local port,
//!   set pending at once, which B clears), checks `EVTCHNOP_status` of its
//!   own port (interdomain to A's) and `-EPERM` for A's, then N times:
//!   sends, waits for the answer. It prints the round trips' cost:
//!   `pingpong: N round trips, C cycles per round trip (T ns)` (TSC cycles
//!   and pvclock nanoseconds over the whole run) and the benchmark line
//!   `bench: evtchn ping-pong between two domains, <same CPU|different
//!   CPUs>: C cycles per round trip` (from `cpus=same|different`).
//!
//! Both count how often the upcall flag was set with the answer (the
//! event raised the vCPU's `evtchn_upcall_pending`, not only the port's
//! bit) and shut down with `Test result: SUCCESS`.
#![no_std]
#![no_main]

use pv_tests::guest_abi::event_channel::{EvtchnBinding, EvtchnOp, EvtchnStatus};
use pv_tests::guest_abi::xen::{DomId, Errno, EvtchnPort};
use pv_tests::ops::XenError;
use pv_tests::shinfo::{self, cmdline_value};
use pv_tests::{StartInfo, check, check_eq, evtchn, fail, println};

pv_tests::test_kernel!(name: "pingpong", main: test_main);

/// Round trips unless `rounds=` says otherwise.
const DEFAULT_ROUNDS: u32 = 1000;

/// Ports of our own that A looks at to find the toolstack's.
const SCAN_PORTS: u32 = 64;

/// The end of the channel this domain is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    A,
    B,
}

fn test_main(si: &StartInfo) {
    let cmdline = si.cmd_line_bytes();
    let role = match cmdline_value(cmdline, "role") {
        Some("a") => Role::A,
        Some("b") => Role::B,
        _ => {
            fail("no role=a or role=b on the command line");
            return;
        }
    };
    let number = |key: &str| cmdline_value(cmdline, key).and_then(|v| v.parse::<u32>().ok());
    let Some(peer) = number("peer").and_then(|p| u16::try_from(p).ok()).map(DomId) else {
        fail("no peer=<domid> on the command line");
        return;
    };
    let rounds = number("rounds").unwrap_or(DEFAULT_ROUNDS);
    if let Err(e) = shinfo::map(si) {
        fail(format_args!("mapping shared_info: {e}"));
        return;
    }
    // Events are waited for by polling the port: no upcall into the guest.
    shinfo::set_upcall_mask(1);
    match role {
        Role::A => run_a(peer, rounds),
        Role::B => match number("port") {
            Some(port) => {
                let cpus = match cmdline_value(cmdline, "cpus") {
                    Some("different") => "different CPUs",
                    _ => "same CPU",
                };
                run_b(peer, EvtchnPort(port), rounds, cpus);
            }
            None => fail("role=b without port=<A's port>"),
        },
    }
}

/// `EVTCHNOP_status` of `port` of `dom`.
fn status_of(dom: DomId, port: EvtchnPort) -> Result<EvtchnBinding, XenError> {
    let mut s = EvtchnStatus { dom, port, ..Default::default() };
    evtchn::event_channel_op(EvtchnOp::Status, &mut s)?;
    s.binding().map_err(|_| XenError::from(Errno::EINVAL))
}

/// Whether `r` failed with `errno`.
fn fails_with<T>(r: Result<T, XenError>, errno: Errno) -> bool {
    r.err().and_then(XenError::errno) == Some(errno)
}

/// Waits until `port` is pending (a spurious wake-up polls again), then
/// clears it; returns whether the upcall flag was set too (and clears it
/// and the selector, as a guest's handler does).
fn wait_for(port: EvtchnPort) -> Result<bool, XenError> {
    while !evtchn::is_pending(port) {
        evtchn::sched_poll(&[port], 0)?;
    }
    evtchn::clear_pending(port);
    let upcall = shinfo::upcall_pending() != 0;
    shinfo::clear_upcall_pending();
    evtchn::take_pending_sel();
    Ok(upcall)
}

/// A: answers every notification on the toolstack's port.
fn run_a(peer: DomId, rounds: u32) {
    let for_peer = |p: EvtchnPort| match status_of(DomId::SELF, p) {
        Ok(EvtchnBinding::Unbound { remote_dom }) => remote_dom == peer,
        Ok(EvtchnBinding::Interdomain { dom, .. }) => dom == peer,
        _ => false,
    };
    let mine = (1..SCAN_PORTS).map(EvtchnPort).find(|&p| for_peer(p));
    let Some(port) = mine else {
        fail(format_args!("no port of ours is for d{}", peer.0));
        return;
    };
    println!("pingpong: A, port {} for d{}", port.0, peer.0);
    check(
        fails_with(status_of(peer, EvtchnPort(1)), Errno::EPERM),
        "EVTCHNOP_status of the peer's port: -EPERM",
    );
    let mut upcalls = 0u32;
    for i in 0..rounds {
        match wait_for(port) {
            Ok(up) => upcalls = upcalls.saturating_add(u32::from(up)),
            Err(e) => {
                fail(format_args!("round {i}: poll: {e}"));
                return;
            }
        }
        if i == 0 {
            // Connected by now (B sent); checked before B can end and go.
            let connected = status_of(DomId::SELF, port)
                .is_ok_and(|b| matches!(b, EvtchnBinding::Interdomain { dom, .. } if dom == peer));
            check(connected, "EVTCHNOP_status of our port: interdomain to the peer");
        }
        if let Err(e) = evtchn::send(port) {
            fail(format_args!("round {i}: send: {e}"));
            return;
        }
    }
    println!("pingpong: A answered {rounds} notifications ({upcalls} with the upcall flag)");
}

/// B: binds to A's port and measures `rounds` round trips.
fn run_b(peer: DomId, remote: EvtchnPort, rounds: u32, cpus: &str) {
    let port = match evtchn::bind_interdomain(peer, remote) {
        Ok(port) => port,
        Err(e) => {
            fail(format_args!("bind_interdomain(d{}, port {}): {e}", peer.0, remote.0));
            return;
        }
    };
    println!("pingpong: B, port {} bound to d{} port {}", port.0, peer.0, remote.0);
    check(evtchn::is_pending(port), "the new port is pending at once");
    check_eq(
        status_of(DomId::SELF, port).ok(),
        Some(EvtchnBinding::Interdomain { dom: peer, port: remote }),
        "EVTCHNOP_status of our port",
    );
    check(fails_with(status_of(peer, remote), Errno::EPERM), "EVTCHNOP_status of A's port: -EPERM");
    check(
        fails_with(evtchn::bind_interdomain(peer, remote), Errno::EINVAL),
        "a second bind to the connected port: -EINVAL",
    );
    evtchn::clear_pending(port);
    shinfo::clear_upcall_pending();
    evtchn::take_pending_sel();
    let (t0, c0) = (shinfo::now(), shinfo::rdtsc());
    let mut upcalls = 0u32;
    for i in 0..rounds {
        if let Err(e) = evtchn::send(port) {
            fail(format_args!("round {i}: send: {e}"));
            return;
        }
        match wait_for(port) {
            Ok(up) => upcalls = upcalls.saturating_add(u32::from(up)),
            Err(e) => {
                fail(format_args!("round {i}: poll: {e}"));
                return;
            }
        }
    }
    let cycles = shinfo::rdtsc().saturating_sub(c0);
    let ns = shinfo::now().zip(t0).map_or(0, |(t1, t0)| t1.saturating_sub(t0));
    let n = u64::from(rounds);
    println!(
        "pingpong: {rounds} round trips, {} cycles per round trip ({} ns), {upcalls} with the upcall flag",
        cycles.checked_div(n).unwrap_or(0),
        ns.checked_div(n).unwrap_or(0)
    );
    println!(
        "bench: evtchn ping-pong between two domains, {cpus}: {} cycles per round trip",
        cycles.checked_div(n).unwrap_or(0)
    );
    check(rounds > 0, "round trips counted");
}
