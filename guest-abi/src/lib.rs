// SPDX-License-Identifier: GPL-2.0-only
//! The Xen x86_64 PV guest ABI as `#[repr(C)]` Rust types and numbers.
//!
//! This crate mirrors Xen's public headers (`xen/include/public/`) for what a
//! 64-bit paravirtualised guest and its hypervisor exchange: hypercall and
//! sub-operation numbers, errno values, flag words and the exact memory
//! layout of every structure passed through guest memory. It is shared by the
//! hypervisor, the dom0 tools and the test guests, so it has no knowledge of
//! how the numbers are acted upon.
//!
//! # Interface version
//!
//! The crate follows Xen's *current* public ABI (Xen 4.x), not the frozen 3.0
//! one: modern Linux refuses to run unless `XENVER_get_features` reports
//! feature bits that 3.0 never had, and uses hypercalls (`callback_op`, the
//! new `sched_op`/`event_channel_op`/`physdev_op`, `vcpu_op` runstate areas)
//! that came later. [`XEN_LATEST_INTERFACE_VERSION`] is the value of
//! `__XEN_LATEST_INTERFACE_VERSION__` in `xen-compat.h` (0x00041300, raised in
//! Xen 4.19); where a header changes a layout depending on
//! `__XEN_INTERFACE_VERSION__`, the variant for that latest version is the one
//! mirrored here. Numbers that exist only in patches or forks and never landed
//! upstream are left out.
//!
//! Layouts are those of **x86_64 only** (`unsigned long` and `xen_pfn_t` are
//! 64 bits, guest handles are 8-byte pointers). The 32-bit and
//! 32-on-64 "compat" layouts are not described.
//!
//! # Modules
//!
//! Modules are named after the header they mirror:
//!
//! * [`xen`] — `xen.h`, `arch-x86/xen.h`, `arch-x86/xen-x86_64.h` and
//!   `errno.h`: hypercall numbers, [`xen::Errno`], `start_info`,
//!   `shared_info`, vCPU context, MMU operations, domain ids, VIRQs;
//! * [`sched`], [`callback`], [`version`] (+ `features.h`),
//!   [`event_channel`], [`memory`], [`vcpu`], [`grant_table`], [`physdev`];
//! * [`io`] — `io/console.h` and `io/xs_wire.h`: the PV console and
//!   xenstore rings;
//! * [`domctl`] and [`sysctl`] — the toolstack's domain and host control
//!   interfaces (`domctl.h`, `sysctl.h`). Unlike the rest of the crate these
//!   are not a stable ABI: they mirror **Xen 4.17** exactly
//!   (`XEN_DOMCTL_INTERFACE_VERSION` = `XEN_SYSCTL_INTERFACE_VERSION` =
//!   0x15), plus the sEDF scheduler layout of Xen 4.5;
//! * [`elfnote`] — the `XEN_ELFNOTE_*` kernel image notes;
//! * [`io`] — `io/*.h`: the xenstore wire protocol and ring page
//!   (`io/xs_wire.h`, Xen 4.17);
//! * [`unions`] — the only module allowed `unsafe`, holding Xen's C unions
//!   (`start_info.console`, `evtchn_status.u`, `grant_entry_v2`) with safe
//!   accessors.
//!
//! # Conventions
//!
//! * Structs are named by Rust casing of Xen's (`evtchn_alloc_unbound` →
//!   `EvtchnAllocUnbound`); fields keep Xen's names except where they are
//!   Rust keywords (`type` → `ty`, `ref` → `gref`, `in`/`out` →
//!   `input`/`output`). Each field's docs give Xen's IN/OUT direction.
//! * Implicit C padding is spelled out as `pad*` fields so that every struct
//!   is [`bytemuck::Pod`]; they must be zero when written to a guest.
//! * C unions that are mere "one `u64` read two ways" (`mmuext_op.arg1`,
//!   `gnttab_copy_ptr.u`, …) are stored as the plain integer with accessor
//!   methods; only unions of structurally different members live in
//!   [`unions`].
//! * Guest handles (`XEN_GUEST_HANDLE(T)`) are plain `u64` guest virtual
//!   addresses: this crate never dereferences guest memory.
//! * Sizes and offsets of every struct are asserted at compile time against
//!   the numbers from Xen's x86_64 headers.
//! * Numbers a dispatcher matches on are `#[repr]` enums with `TryFrom`, each
//!   variant carrying `#[doc(alias = "XEN_C_NAME")]`; flag bits and plain
//!   values are constants spelled exactly as in Xen (hence lowercase
//!   suffixes such as `VGCF_in_syscall`).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod macros;

pub mod callback;
pub mod domctl;
pub mod elfnote;
pub mod event_channel;
pub mod grant_table;
pub mod io;
pub mod memory;
pub mod physdev;
pub mod sched;
pub mod sysctl;
pub mod unions;
pub mod vcpu;
pub mod version;
pub mod xen;

/// Re-exported so that users can name [`bytemuck::Pod`] bounds and helpers
/// without depending on the crate themselves.
pub use bytemuck;

/// `__XEN_LATEST_INTERFACE_VERSION__` of the headers this crate mirrors
/// (Xen 4.19 and later, `xen-compat.h`).
#[doc(alias = "__XEN_LATEST_INTERFACE_VERSION__")]
pub const XEN_LATEST_INTERFACE_VERSION: u32 = 0x0004_1300;

/// A raw number that is not one of the values of an ABI enum.
///
/// Returned by every `TryFrom<int>` implementation of this crate; the caller
/// decides which errno that maps to (usually `-ENOSYS` for an unknown
/// operation and `-EINVAL` for an unknown argument value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Unknown<T>(pub T);

/// Safe byte views of an ABI structure, for copying it to and from guest
/// memory.
///
/// Implemented for every struct, union and newtype of this crate. All of them
/// are [`bytemuck::Pod`]: any byte pattern of the right length is a valid
/// value, so reading a structure out of untrusted guest memory cannot produce
/// an invalid Rust value (fields still need validating, of course).
pub trait AbiBytes: bytemuck::Pod {
    /// Size of the structure in bytes, as in Xen's x86_64 ABI.
    const SIZE: usize = core::mem::size_of::<Self>();

    /// The structure's bytes, exactly as they sit in guest memory.
    fn as_bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }

    /// The structure's bytes, writable (e.g. as a copy-in destination).
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::bytes_of_mut(self)
    }

    /// Reads the structure from exactly [`Self::SIZE`] bytes with any
    /// alignment; `None` if `bytes` has another length.
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytemuck::try_pod_read_unaligned(bytes).ok()
    }

    /// Reads the structure from the first [`Self::SIZE`] bytes of `bytes`;
    /// `None` if `bytes` is shorter.
    fn read_prefix(bytes: &[u8]) -> Option<Self> {
        bytes.get(..Self::SIZE).and_then(Self::from_bytes)
    }
}

/// Reads an argument struct from the leading bytes of a compat op union
/// (`evtchn_op_t.u`, `physdev_op_t.u`).
#[must_use]
pub fn union_payload<T: AbiBytes, U: bytemuck::Pod>(union: &U) -> Option<T> {
    T::read_prefix(bytemuck::bytes_of(union))
}

/// Writes `value` into the leading bytes of a compat op union; `false` if it
/// does not fit.
pub fn set_union_payload<T: AbiBytes, U: bytemuck::Pod>(union: &mut U, value: &T) -> bool {
    let src = value.as_bytes();
    match bytemuck::bytes_of_mut(union).get_mut(..src.len()) {
        Some(dst) => {
            dst.copy_from_slice(src);
            true
        }
        None => false,
    }
}
