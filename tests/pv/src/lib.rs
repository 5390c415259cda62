// SPDX-License-Identifier: GPL-2.0-only
//! A framework for paravirtualised (PV) test kernels.
//!
//! Each test kernel is a tiny 64-bit Xen PV guest (`src/bin/pv-<name>.rs`)
//! that boots as dom0 (or a domU) on this hypervisor or on an unmodified
//! Xen, runs its checks through hypercalls and ends with XTF's result line,
//! `Test result: SUCCESS` (or `SKIP`, `ERROR`, `FAILURE`), followed by
//! `SCHEDOP_shutdown(poweroff)`. The ABI is Xen's, from [`guest_abi`].
//!
//! # Writing a test kernel
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use pv_tests::{StartInfo, check, println};
//!
//! pv_tests::test_kernel!(name: "example", main: test_main);
//!
//! fn test_main(si: &StartInfo) {
//!     println!("{} pages", si.nr_pages);
//!     check(si.nr_pages > 0, "the domain has memory");
//! }
//! ```
//!
//! The framework ([`run`]) prints the banner `--- PV test kernel: <name> ---`,
//! makes sure the hypervisor wrote the hypercall page, calls `main` and then
//! [`report()`]s. A panic prints `PANIC: <message>` and crashes the domain.
//! Add the kernel's name to the list in `tests/boot/tests/pv.rs` to have it
//! booted by the boot tests.
//!
//! # Image
//!
//! `guest.ld` links each kernel at `0xFFFFFFFF80100000`, in the top 2 GiB
//! like Linux, with `VIRT_BASE = PADDR_OFFSET = 0xFFFFFFFF80000000`; the
//! notes, the entry code, the hypercall page and the stack are in [`entry`].
//! Hypercalls go through the hypercall page or a direct `syscall`
//! ([`hypercall`]); [`ops`] has typed wrappers, [`console`] the print macros,
//! [`evtchn`] event-channel calls, bitmaps and an upcall recorder,
//! [`percpu`] the running vCPU's id for kernels with several vCPUs. A domU
//! also prints to its PV console ring ([`xencons`], over [`ring`]);
//! [`xenstore`] is a small client of the xenstore ring.
#![no_std]

pub mod bounce;
pub mod console;
pub mod entry;
pub mod evtchn;
pub mod fault;
pub mod grant;
pub mod grant_v2;
pub mod hypercall;
pub mod ops;
mod panic;
pub mod percpu;
pub mod pt;
pub mod report;
pub mod ring;
pub mod shinfo;
pub mod xencons;
pub mod xenstore;

use core::sync::atomic::{AtomicPtr, Ordering};

pub use guest_abi;
pub use guest_abi::xen::{Errno, StartInfo};
pub use report::{Status, check, check_eq, error, fail, report, skip, success};

/// The `start_info` the kernel was entered with.
static START_INFO: AtomicPtr<StartInfo> = AtomicPtr::new(core::ptr::null_mut());

/// The `start_info` page the domain builder passed in `%rsi`, once [`run`]
/// has checked it.
#[must_use]
pub fn start_info() -> Option<&'static StartInfo> {
    // SAFETY: `run` stores only a non-null, aligned pointer to the builder's
    // start_info page, which stays mapped and is never written by the kernel.
    unsafe { START_INFO.load(Ordering::Relaxed).as_ref() }
}

/// Runs a test kernel: banner, hypercall-page check, `main`, [`report()`].
///
/// Called by the `pv_rust_entry` function that [`test_kernel!`] defines,
/// with `%rsi` from the entry point.
pub fn run(name: &str, main: fn(&StartInfo), start_info: *const StartInfo) -> ! {
    if start_info.is_null() || !start_info.is_aligned() {
        panic!("bad start_info pointer {start_info:p} in %rsi");
    }
    START_INFO.store(start_info.cast_mut(), Ordering::Relaxed);
    let Some(si) = self::start_info() else { panic!("start_info vanished") };
    // A domU's text goes to its console ring too, from the banner on.
    xencons::attach(si);
    println!("--- PV test kernel: {name} ---");
    if !entry::hypercall_page_initialised() {
        panic!(
            "hypercall page at {:#x} not initialised (first byte still {:#x})",
            entry::hypercall_page_address(),
            entry::HYPERCALL_PAGE_FILL
        );
    }
    main(si);
    report()
}

/// Defines a test kernel's entry: `test_kernel!(name: "hello", main: f)`
/// with `fn f(&StartInfo)`; the name is printed in the banner.
#[macro_export]
macro_rules! test_kernel {
    (name: $name:expr, main: $main:path $(,)?) => {
        /// Called by `_start` with the `start_info` pointer from `%rsi`.
        #[unsafe(no_mangle)]
        extern "C" fn pv_rust_entry(start_info: *const $crate::StartInfo) -> ! {
            $crate::run($name, $main, start_info)
        }
    };
}
