// SPDX-License-Identifier: GPL-2.0-only
//! `mode=fuzz`: the hypercall fuzzer `pv-fuzz` beside two neighbours that
//! do real work, aimed at them.
//!
//! The first domU image must be `pv-pingpong`, the second `pv-fuzz`, and
//! an optional third `pv-attack`, the granter G. dom0 takes the first four
//! free domain ids A, B, F and G, builds the ping-pong
//! pair as `mode=pingpong` does (A with `role=a peer=<B>`, a port of A
//! allocated for B, B with `role=b peer=<A> port=<it>`, both `rounds=<R>`
//! from dom0's `rounds=`, default [`DEFAULT_ROUNDS`], `cpus=same`), the
//! granter G with `role=granter grantee=<F> secs=<S>` (dom0's
//! `granter_secs=`, default [`DEFAULT_GRANTER_SECS`]; it grants F refs 8
//! writable and 9, 12..=15 read-only), then the fuzzer F with its image's
//! command line followed by `neighbours=<A>:<port>,<B>,<G>:w8:r9:r12:...`
//! (everything dom0 knows of them: their ids, A's port and G's refs; B's
//! port is its own to choose) and dom0's `calls=` and `seed=` if given. It
//! unpauses all of them and waits for their shutdowns (each must be
//! `poweroff`), destroys them and checks that `physinfo`'s free pages are
//! back exactly to their count before the first build. It prints `fuzz:
//! F=d<F> fuzzing beside A=d<A> and B=d<B> [and the granter G=d<G>]`
//! first and `fuzz: all three|four domUs done` at the end; whether the
//! neighbours did their work right is in their own `Test result:` lines
//! (and G's, and F's, in their shutdown reason too).

use alloc::format;
use alloc::string::String;

use pv_tests::guest_abi::sched::ShutdownReason;
use pv_tests::guest_abi::xen::EvtchnPort;
use pv_tests::{StartInfo, check_eq, evtchn, fail, println, shinfo};
use xen_domain_builder::DomCtl;

use super::attack::{audit, build_as, free_ids, reap, settled_free_pages, stable_free_pages};
use super::{Hypervisor, Image};

/// How long the granter runs unless `granter_secs=` says otherwise.
const DEFAULT_GRANTER_SECS: u64 = 60;

/// Round trips of the ping-pong pair unless `rounds=` says otherwise.
const DEFAULT_ROUNDS: u32 = 2000;

/// How long dom0 waits for the three (system time): 10^6 fuzzed calls
/// take minutes under TCG.
const TIMEOUT_NS: u64 = 7_200_000_000_000;

/// Whether dom0's command line asks for this mode.
pub fn wanted(si: &StartInfo) -> bool {
    shinfo::cmdline_value(si.cmd_line_bytes(), "mode") == Some("fuzz")
}

/// Runs the mode (see the module documentation).
pub fn run(
    hv: &mut Hypervisor,
    exc: Option<EvtchnPort>,
    images: &[Image<'_>],
    mem: u64,
    si: &StartInfo,
) {
    println!("toolstack mode: fuzz");
    let line = si.cmd_line_bytes();
    let (Some(pingpong), Some(fuzzer)) = (images.first(), images.get(1)) else {
        fail("fuzz: needs two domU images, pv-pingpong and pv-fuzz");
        return;
    };
    let (Some(pingpong), Some(fuzz_kernel)) = (pingpong.kernel, fuzzer.kernel) else {
        fail("fuzz: a domU image has no kernel");
        return;
    };
    let rounds = shinfo::cmdline_value(line, "rounds")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let Some([a, b, f, g]) = free_ids::<4>(hv) else {
        fail("fuzz: no four free domain ids");
        return;
    };
    let granter = images.get(2).and_then(|i| i.kernel);
    match granter {
        Some(_) => println!(
            "fuzz: F=d{} fuzzing beside A=d{} and B=d{} and the granter G=d{}",
            f.0, a.0, b.0, g.0
        ),
        None => println!("fuzz: F=d{} fuzzing beside A=d{} and B=d{}", f.0, a.0, b.0),
    }
    let free_before = stable_free_pages();

    let a_line = format!("role=a peer={} rounds={rounds} cpus=same", b.0);
    let Some(a) = build_as(hv, a, pingpong, &a_line, mem, None) else { return };
    let port = match evtchn::alloc_unbound(a, b) {
        Ok(port) => port,
        Err(e) => {
            fail(format_args!("fuzz: alloc_unbound(d{}, remote d{}): {e}", a.0, b.0));
            let _ = hv.destroy(a);
            return;
        }
    };
    let b_line = format!("role=b peer={} port={} rounds={rounds} cpus=same", a.0, port.0);
    let Some(b) = build_as(hv, b, pingpong, &b_line, mem, None) else {
        let _ = hv.destroy(a);
        return;
    };
    let g = match granter {
        Some(kernel) => {
            let secs = shinfo::cmdline_value(line, "granter_secs")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(DEFAULT_GRANTER_SECS);
            let g_line = format!("role=granter grantee={} secs={secs}", f.0);
            let Some(g) = build_as(hv, g, kernel, &g_line, mem, None) else {
                let _ = hv.destroy(a);
                let _ = hv.destroy(b);
                return;
            };
            Some(g)
        }
        None => None,
    };
    let mut f_line = String::from(core::str::from_utf8(fuzzer.cmdline).unwrap_or(""));
    f_line.push_str(&format!(" neighbours={}:{},{}", a.0, port.0, b.0));
    if let Some(g) = g {
        // The granter's refs: w = writable, r = read-only (`pv-attack`).
        f_line.push_str(&format!(",{}:w8:r9:r12:r13:r14:r15", g.0));
    }
    for key in ["calls", "seed"] {
        if let Some(v) = shinfo::cmdline_value(line, key) {
            f_line.push_str(&format!(" {key}={v}"));
        }
    }
    let Some(f) = build_as(hv, f, fuzz_kernel, f_line.trim_start(), mem, None) else {
        for d in [Some(a), Some(b), g].into_iter().flatten() {
            let _ = hv.destroy(d);
        }
        return;
    };
    for dom in [Some(f), Some(a), Some(b), g].into_iter().flatten() {
        if let Err(e) = hv.unpause(dom) {
            fail(format_args!("fuzz: unpause d{}: {e}", dom.0));
        }
    }
    let deadline = shinfo::now().unwrap_or(0).saturating_add(TIMEOUT_NS);
    let poweroff = Some(ShutdownReason::Poweroff.raw());
    if let Some(g) = g {
        let reasons = reap(hv, exc, [a, b, f, g], deadline);
        println!("fuzz: all four domUs done");
        check_eq(reasons, [poweroff; 4], "A, B, the fuzzer and the granter all powered off");
    } else {
        let reasons = reap(hv, exc, [a, b, f], deadline);
        println!("fuzz: all three domUs done");
        check_eq(reasons, [poweroff; 3], "A, B and the fuzzer all powered off");
    }
    let free_after = settled_free_pages(free_before);
    audit(si, free_before, free_after, "every domU is destroyed");
}
