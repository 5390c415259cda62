// SPDX-License-Identifier: GPL-2.0-only
//! The panic handler: report, crash the domain, never return.
//!
//! Prints `PANIC: <message>` (and where it happened), asks the hypervisor
//! to crash the domain (`SCHEDOP_shutdown(SHUTDOWN_crash)`), and if that
//! returns, yields and spins forever. A panic inside the handler skips
//! straight to the shutdown.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use guest_abi::sched::ShutdownReason;

use crate::hypercall::Via;
use crate::{ops, println};

/// Set by the first panic.
static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    if !PANICKING.swap(true, Ordering::Relaxed) {
        println!("PANIC: {}", info.message());
        if let Some(location) = info.location() {
            println!("PANIC: at {}:{}:{}", location.file(), location.line(), location.column());
        }
    }
    let via = Via::framework();
    // A returned error cannot be reported anywhere new: keep trying below.
    let _ = ops::sched_shutdown_via(via, ShutdownReason::Crash);
    loop {
        // SAFETY: SCHEDOP_yield (0) takes no argument.
        let _ = unsafe {
            via.hypercall2(
                guest_abi::xen::Hypercall::SchedOp.raw(),
                u64::from(guest_abi::sched::SchedOp::Yield.raw()),
                0,
            )
        };
        core::hint::spin_loop();
    }
}
