// SPDX-License-Identifier: GPL-2.0-only
//! The 2-level event ABI on the shared-info page (Xen's `event_2l.c`).
//!
//! A domain's shared-info frame holds two bitmaps of
//! [`EVTCHN_2L_NR_CHANNELS`] bits, `evtchn_pending` (set by the hypervisor,
//! cleared by the guest) and `evtchn_mask` (written by the guest), and per
//! vCPU a `vcpu_info` whose `evtchn_pending_sel` has one bit per 64-bit
//! word of `evtchn_pending` and whose `evtchn_upcall_pending` byte asks for
//! an upcall. The order of the tests below is the protocol the guest's
//! scan relies on:
//!
//! * raising a port: set its pending bit; only if that bit was clear and
//!   the port is not masked, set the word's selector bit, and only if that
//!   was clear, mark the vCPU's upcall pending;
//! * unmasking: clear the mask bit; only if it was set and the port is
//!   pending, raise the selector and the upcall the same way.
//!
//! Everything is read and written through [`PhysMem`] on the frame; ports
//! beyond the bitmaps and vCPUs without a `vcpu_info` in the frame (ids
//! from [`XEN_LEGACY_MAX_VCPUS`]) read as clear and are never written. The
//! read-modify-write sequences are not atomic against guest code on other
//! CPUs: the caller runs the domain's only vCPU (see the module docs of
//! [`super`]).

use core::mem::{offset_of, size_of};

use guest_abi::event_channel::EVTCHN_2L_NR_CHANNELS;
use guest_abi::xen::{EvtchnPort, SharedInfo, VcpuId, VcpuInfo, XEN_LEGACY_MAX_VCPUS};

use crate::mm::Mfn;
use crate::mm::pv::PhysMem;

/// Bits per bitmap word (`BITS_PER_EVTCHN_WORD` of a 64-bit guest).
pub const BITS_PER_EVTCHN_WORD: u32 = 64;

/// `u64` index of the first word of `evtchn_pending` in the frame.
const PENDING_WORD0: usize = offset_of!(SharedInfo, evtchn_pending) / 8;
/// `u64` index of the first word of `evtchn_mask` in the frame.
const MASK_WORD0: usize = offset_of!(SharedInfo, evtchn_mask) / 8;
/// Size of one `vcpu_info`.
const VCPU_INFO_SIZE: usize = size_of::<VcpuInfo>();
/// Offset of `evtchn_upcall_pending` in `vcpu_info`.
const UPCALL_PENDING: usize = offset_of!(VcpuInfo, evtchn_upcall_pending);
/// Offset of `evtchn_upcall_mask` in `vcpu_info`.
const UPCALL_MASK: usize = offset_of!(VcpuInfo, evtchn_upcall_mask);
/// Offset of `evtchn_pending_sel` in `vcpu_info`.
const PENDING_SEL: usize = offset_of!(VcpuInfo, evtchn_pending_sel);

/// The bitmap word index and bit of `port`, if the 2-level ABI has it.
fn word_and_bit(port: EvtchnPort) -> Option<(usize, u64)> {
    if port.0 >= EVTCHN_2L_NR_CHANNELS {
        return None;
    }
    let word = usize::try_from(port.0 / BITS_PER_EVTCHN_WORD).ok()?;
    Some((word, 1u64 << (port.0 % BITS_PER_EVTCHN_WORD)))
}

/// Byte offset of `vcpu_info[vcpu]` in the frame, if it is there.
fn vcpu_info_offset(vcpu: VcpuId) -> Option<usize> {
    let index = usize::try_from(vcpu.0).ok().filter(|&i| i < XEN_LEGACY_MAX_VCPUS)?;
    index.checked_mul(VCPU_INFO_SIZE)
}

/// Sets `bit` in word `index` of the frame; returns whether it was set.
fn test_and_set(mem: &mut dyn PhysMem, frame: Mfn, index: usize, bit: u64) -> bool {
    mem.fetch_or_u64(frame, index, bit) & bit != 0
}

/// Clears `bit` in word `index` of the frame; returns whether it was set.
fn test_and_clear(mem: &mut dyn PhysMem, frame: Mfn, index: usize, bit: u64) -> bool {
    mem.fetch_and_u64(frame, index, !bit) & bit != 0
}

/// Whether `port`'s bit is set in the bitmap starting at word `base`.
fn test(mem: &dyn PhysMem, frame: Mfn, base: usize, port: EvtchnPort) -> bool {
    word_and_bit(port)
        .is_some_and(|(word, bit)| mem.read_u64(frame, base.saturating_add(word)) & bit != 0)
}

/// `evtchn_2l_is_pending`: `port`'s bit in `evtchn_pending`.
#[must_use]
pub fn is_pending(mem: &dyn PhysMem, shared_info: Mfn, port: EvtchnPort) -> bool {
    test(mem, shared_info, PENDING_WORD0, port)
}

/// `evtchn_2l_is_masked`: `port`'s bit in `evtchn_mask`.
#[must_use]
pub fn is_masked(mem: &dyn PhysMem, shared_info: Mfn, port: EvtchnPort) -> bool {
    test(mem, shared_info, MASK_WORD0, port)
}

/// Sets `port`'s pending bit; returns whether it was already set (also
/// for a port beyond the bitmap, which is never raised).
pub fn test_and_set_pending(mem: &mut dyn PhysMem, shared_info: Mfn, port: EvtchnPort) -> bool {
    let Some((word, bit)) = word_and_bit(port) else { return true };
    test_and_set(mem, shared_info, PENDING_WORD0.saturating_add(word), bit)
}

/// `evtchn_2l_clear_pending`: clears `port`'s pending bit.
pub fn clear_pending(mem: &mut dyn PhysMem, shared_info: Mfn, port: EvtchnPort) {
    if let Some((word, bit)) = word_and_bit(port) {
        test_and_clear(mem, shared_info, PENDING_WORD0.saturating_add(word), bit);
    }
}

/// Sets `port`'s mask bit (as a guest does; used by tests and callers that
/// mask on the guest's behalf).
pub fn set_mask(mem: &mut dyn PhysMem, shared_info: Mfn, port: EvtchnPort) {
    if let Some((word, bit)) = word_and_bit(port) {
        test_and_set(mem, shared_info, MASK_WORD0.saturating_add(word), bit);
    }
}

/// Clears `port`'s mask bit; returns whether it was set.
pub fn test_and_clear_mask(mem: &mut dyn PhysMem, shared_info: Mfn, port: EvtchnPort) -> bool {
    let Some((word, bit)) = word_and_bit(port) else { return false };
    test_and_clear(mem, shared_info, MASK_WORD0.saturating_add(word), bit)
}

/// Where a vCPU's `vcpu_info` lives: a frame and the byte offset in it
/// (its `shared_info` slot, or the area `VCPUOP_register_vcpu_info` chose;
/// the offset is 8-byte aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuInfoRef {
    /// The frame holding the `vcpu_info`.
    pub frame: Mfn,
    /// Byte offset of the `vcpu_info` in the frame.
    pub offset: usize,
}

impl VcpuInfoRef {
    /// `vcpu`'s slot in the `shared_info` frame (ids below 32 only).
    #[must_use]
    pub fn legacy(shared_info: Mfn, vcpu: VcpuId) -> Option<Self> {
        vcpu_info_offset(vcpu).map(|offset| Self { frame: shared_info, offset })
    }
}

/// `vcpu_info.evtchn_pending_sel`; 0 for a vCPU without one.
#[must_use]
pub fn pending_sel(mem: &dyn PhysMem, vi: Option<VcpuInfoRef>) -> u64 {
    vi.map_or(0, |vi| mem.read_u64(vi.frame, vi.offset.saturating_add(PENDING_SEL) / 8))
}

/// Sets the selector bit of `port`'s word in `evtchn_pending_sel`; returns
/// whether it was already set (true for a vCPU without one).
pub fn test_and_set_pending_sel(
    mem: &mut dyn PhysMem,
    vi: Option<VcpuInfoRef>,
    port: EvtchnPort,
) -> bool {
    let (Some(vi), Some((word, _))) = (vi, word_and_bit(port)) else {
        return true;
    };
    let index = vi.offset.saturating_add(PENDING_SEL) / 8;
    test_and_set(mem, vi.frame, index, 1u64 << word)
}

/// Sets every bit of `evtchn_pending_sel` (after a `vcpu_info` move).
pub fn set_all_pending_sel(mem: &mut dyn PhysMem, vi: VcpuInfoRef) {
    mem.write_u64(vi.frame, vi.offset.saturating_add(PENDING_SEL) / 8, u64::MAX);
}

/// One byte of the `vcpu_info`; 0 for a vCPU without one.
fn vcpu_byte(mem: &dyn PhysMem, vi: Option<VcpuInfoRef>, field: usize) -> u8 {
    let Some(vi) = vi else { return 0 };
    let mut byte = [0u8];
    mem.read_bytes(vi.frame, vi.offset.saturating_add(field), &mut byte);
    byte[0]
}

/// Writes one byte of the `vcpu_info` (nothing for a vCPU without one).
fn set_vcpu_byte(mem: &mut dyn PhysMem, vi: Option<VcpuInfoRef>, field: usize, v: u8) {
    if let Some(vi) = vi {
        mem.write_bytes(vi.frame, vi.offset.saturating_add(field), &[v]);
    }
}

/// `evtchn_upcall_pending != 0`.
#[must_use]
pub fn upcall_pending(mem: &dyn PhysMem, vi: Option<VcpuInfoRef>) -> bool {
    vcpu_byte(mem, vi, UPCALL_PENDING) != 0
}

/// Sets `evtchn_upcall_pending`; returns whether it was already set (true
/// for a vCPU without one: nothing to kick).
pub fn test_and_set_upcall_pending(mem: &mut dyn PhysMem, vi: Option<VcpuInfoRef>) -> bool {
    let Some(vi) = vi else { return true };
    // `vcpu_info` is 8-byte aligned (register_vcpu_info checks it): the
    // flag is the low byte of its first word, set with one locked OR so a
    // guest clearing it on another CPU is never overwritten.
    let index = vi.offset.saturating_add(UPCALL_PENDING) / 8;
    mem.fetch_or_u64(vi.frame, index, 1) & 0xff != 0
}

/// `evtchn_upcall_mask` (1 for a vCPU without one).
#[must_use]
pub fn upcall_mask(mem: &dyn PhysMem, vi: Option<VcpuInfoRef>) -> u8 {
    if vi.is_none() {
        return 1;
    }
    vcpu_byte(mem, vi, UPCALL_MASK)
}

/// Sets `evtchn_upcall_mask`.
pub fn set_upcall_mask(mem: &mut dyn PhysMem, vi: Option<VcpuInfoRef>, mask: u8) {
    set_vcpu_byte(mem, vi, UPCALL_MASK, mask);
}

/// Xen's `local_events_need_delivery`: an upcall is pending and not masked.
#[must_use]
pub fn events_need_delivery(mem: &dyn PhysMem, vi: Option<VcpuInfoRef>) -> bool {
    upcall_pending(mem, vi) && upcall_mask(mem, vi) == 0
}
