// SPDX-License-Identifier: GPL-2.0-only
//! Raw hypercalls, through the hypercall page or a direct `syscall`.
//!
//! 64-bit PV hypercalls are `SYSCALL` from guest-kernel mode: number in
//! `%rax`, arguments in `%rdi`, `%rsi`, `%rdx`, `%r10`, `%r8`, result in
//! `%rax`. `SYSCALL` overwrites `%rcx` and `%r11`, and Xen may clobber every
//! argument register (a debug Xen poisons them), so all of those are
//! declared clobbered here. Callee-saved registers survive.
//!
//! Two ways in, so that tests can exercise both:
//!
//! * [`page`]: `call hypercall_page + 32 * nr`, the stub the hypervisor wrote
//!   (`push %rcx; push %r11; mov $nr,%eax; syscall; pop %r11; pop %rcx;
//!   ret`), as XTF and older Linux do;
//! * [`direct`]: the same sequence inline without the page
//!   (`push %rcx; push %r11; syscall; pop %r11; pop %rcx`), as Linux does
//!   since XSA-466.
//!
//! [`Via`] picks one at run time. The `hypercallN` functions at this
//! module's root use the page.
//!
//! Every function is `unsafe`: a hypercall can do anything the kernel can
//! (write guest memory through pointer arguments, change page tables, shut
//! the domain down).

use crate::entry::{HYPERCALL_STUB_SIZE, hypercall_page_address};

pub use page::{hypercall0, hypercall1, hypercall2, hypercall3, hypercall4, hypercall5};

/// Address of the page stub of hypercall `nr` (any `nr`, also past the
/// 128 stubs, is turned into an address; calling it is the caller's
/// business).
#[must_use]
pub fn stub_address(nr: u32) -> u64 {
    hypercall_page_address().wrapping_add(u64::from(nr).wrapping_mul(HYPERCALL_STUB_SIZE))
}

/// Defines `hypercall0` to `hypercall4` of the enclosing module in terms of
/// its `hypercall5` (the missing arguments are 0).
macro_rules! fewer_arguments {
    () => {
        fewer_arguments!(hypercall0());
        fewer_arguments!(hypercall1(a1));
        fewer_arguments!(hypercall2(a1, a2));
        fewer_arguments!(hypercall3(a1, a2, a3));
        fewer_arguments!(hypercall4(a1, a2, a3, a4));
    };
    ($name:ident($($a:ident),*)) => {
        /// Hypercall `nr` with fewer arguments: the others are 0.
        ///
        /// # Safety
        ///
        /// As for `hypercall5`.
        #[inline]
        pub unsafe fn $name(nr: u32 $(, $a: u64)*) -> i64 {
            let mut args = [0u64; 5];
            let given = [$($a),*];
            for (slot, a) in args.iter_mut().zip(given) {
                *slot = a;
            }
            let [a1, a2, a3, a4, a5] = args;
            // SAFETY: forwarded from the caller.
            unsafe { hypercall5(nr, a1, a2, a3, a4, a5) }
        }
    };
}

/// Hypercalls through the stubs of the hypercall page.
pub mod page {
    use core::arch::asm;

    use super::stub_address;

    /// Hypercall `nr` with up to five arguments, through its page stub.
    ///
    /// # Safety
    ///
    /// The hypercall page must be initialised, `nr` below 128, and the
    /// arguments valid for hypercall `nr` (pointers to memory the hypervisor
    /// may read or write as that hypercall does).
    #[inline]
    pub unsafe fn hypercall5(nr: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
        let ret: i64;
        // SAFETY: the caller guarantees the stub exists and the arguments
        // suit the hypercall. The stub uses the stack (allowed: no
        // `nostack`), returns with `ret` and, like the hypervisor, may
        // change only the registers declared here.
        unsafe {
            asm!(
                "call *{stub}",
                stub = in(reg) stub_address(nr),
                lateout("rax") ret,
                inout("rdi") a1 => _,
                inout("rsi") a2 => _,
                inout("rdx") a3 => _,
                inout("r10") a4 => _,
                inout("r8") a5 => _,
                out("r9") _,
                out("rcx") _,
                out("r11") _,
                options(att_syntax),
            );
        }
        ret
    }

    fewer_arguments!();
}

/// Hypercalls through an inline `syscall`, without the hypercall page.
pub mod direct {
    use core::arch::asm;

    /// Hypercall `nr` with up to five arguments, by `syscall`.
    ///
    /// # Safety
    ///
    /// The arguments must be valid for hypercall `nr` (pointers to memory the
    /// hypervisor may read or write as that hypercall does). Unknown numbers
    /// are fine: the hypervisor returns `-ENOSYS`.
    #[inline]
    pub unsafe fn hypercall5(nr: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
        let ret: i64;
        // SAFETY: the caller guarantees the arguments suit the hypercall.
        // The sequence is Linux's `xen_hypercall_pv`; it uses the stack
        // (allowed: no `nostack`) and `syscall` clobbers %rcx/%r11, which
        // are declared even though the pushes restore them.
        unsafe {
            asm!(
                "push %rcx",
                "push %r11",
                "syscall",
                "pop %r11",
                "pop %rcx",
                inlateout("rax") u64::from(nr) => ret,
                inout("rdi") a1 => _,
                inout("rsi") a2 => _,
                inout("rdx") a3 => _,
                inout("r10") a4 => _,
                inout("r8") a5 => _,
                out("r9") _,
                out("rcx") _,
                out("r11") _,
                options(att_syntax),
            );
        }
        ret
    }

    fewer_arguments!();
}

/// How to enter the hypervisor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Via {
    /// Call the stub in the hypercall page ([`page`]).
    #[default]
    Page,
    /// Execute `syscall` inline ([`direct`]).
    Syscall,
}

impl Via {
    /// Both ways, for tests that compare them.
    pub const ALL: [Self; 2] = [Self::Page, Self::Syscall];

    /// The way the framework itself uses: the page once the hypervisor has
    /// written it, else `syscall` (so that the "page not initialised" error
    /// still reaches the console).
    #[must_use]
    pub fn framework() -> Self {
        if crate::entry::hypercall_page_initialised() { Self::Page } else { Self::Syscall }
    }

    /// A short name for messages (`page`, `syscall`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Syscall => "syscall",
        }
    }

    /// Hypercall `nr` with up to five arguments, this way.
    ///
    /// # Safety
    ///
    /// As for [`page::hypercall5`] or [`direct::hypercall5`].
    #[inline]
    pub unsafe fn hypercall5(self, nr: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
        match self {
            // SAFETY: forwarded from the caller.
            Self::Page => unsafe { page::hypercall5(nr, a1, a2, a3, a4, a5) },
            // SAFETY: forwarded from the caller.
            Self::Syscall => unsafe { direct::hypercall5(nr, a1, a2, a3, a4, a5) },
        }
    }

    /// Hypercall `nr` with no argument, this way.
    ///
    /// # Safety
    ///
    /// As for [`Via::hypercall5`].
    #[inline]
    pub unsafe fn hypercall0(self, nr: u32) -> i64 {
        // SAFETY: forwarded from the caller.
        unsafe { self.hypercall5(nr, 0, 0, 0, 0, 0) }
    }

    /// Hypercall `nr` with two arguments, this way.
    ///
    /// # Safety
    ///
    /// As for [`Via::hypercall5`].
    #[inline]
    pub unsafe fn hypercall2(self, nr: u32, a1: u64, a2: u64) -> i64 {
        // SAFETY: forwarded from the caller.
        unsafe { self.hypercall5(nr, a1, a2, 0, 0, 0) }
    }

    /// Hypercall `nr` with three arguments, this way.
    ///
    /// # Safety
    ///
    /// As for [`Via::hypercall5`].
    #[inline]
    pub unsafe fn hypercall3(self, nr: u32, a1: u64, a2: u64, a3: u64) -> i64 {
        // SAFETY: forwarded from the caller.
        unsafe { self.hypercall5(nr, a1, a2, a3, 0, 0) }
    }
}
