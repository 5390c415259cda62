// SPDX-License-Identifier: GPL-2.0-only
//! Event channels from the guest side: typed `event_channel_op` calls, the
//! 2-level bitmaps in `shared_info`, `SCHEDOP_poll`/`SCHEDOP_block`, and an
//! upcall recorder.
//!
//! The wrappers return the port (or nothing) or the hypervisor's error.
//! The bitmap accessors work on the `shared_info` page [`shinfo::map`]
//! mapped (they read as clear and write nothing before that) with atomic
//! bit operations, as a guest must: the hypervisor sets pending bits behind
//! the kernel's back.
//!
//! [`install_recorder`] hooks the event callback of [`bounce`]: each upcall
//! notes `evtchn_upcall_mask` at entry and `evtchn_pending_sel`, then scans
//! like Linux's 2-level handler (clear `evtchn_upcall_pending`, take the
//! selector, and for each selected word handle the pending, unmasked ports,
//! clearing their pending bits) and counts each port handled
//! ([`handled`]). With several vCPUs ([`percpu`]) each upcall uses its own
//! vCPU's selector and handles only the ports [`set_port_vcpu`] gave it
//! (all ports belong to vCPU 0 by default). [`bounce::standard`] then counts the upcall
//! ([`bounce::events`]) and the handler returns with `HYPERVISOR_iret`.

use core::mem::offset_of;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use guest_abi::AbiBytes;
use guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindVcpu, EvtchnBindVirq,
    EvtchnBinding, EvtchnOp, EvtchnOpCompat, EvtchnReset, EvtchnStatus,
};
use guest_abi::sched::{SchedOp, SchedPoll};
use guest_abi::xen::{DomId, Errno, EvtchnPort, Hypercall, SharedInfo, VcpuId, VcpuInfo};

use crate::bounce::{self, TrapFrame, VECTOR_EVENT};
use crate::ops::{XenError, result};
use crate::{hypercall, percpu, shinfo};

/// Ports [`handled`] counts individually.
pub const RECORDED_PORTS: usize = 256;

/// `event_channel_op(cmd, arg)` with a raw argument address.
///
/// # Safety
///
/// `arg` must be an address the hypervisor may read and write as command
/// `cmd` does (or one it must refuse with `-EFAULT`).
pub unsafe fn event_channel_op_raw(cmd: u32, arg: u64) -> i64 {
    // SAFETY: forwarded from the caller.
    unsafe { hypercall::hypercall2(Hypercall::EventChannelOp.raw(), u64::from(cmd), arg) }
}

/// `event_channel_op(op, &arg)`: `arg` is the command's struct, updated
/// with its OUT fields.
pub fn event_channel_op<T: AbiBytes>(op: EvtchnOp, arg: &mut T) -> Result<(), XenError> {
    // SAFETY: `arg` is the command's own struct, readable and writable.
    let ret = unsafe { event_channel_op_raw(op.raw(), (&raw mut *arg).addr() as u64) };
    result(ret).map(drop)
}

/// The legacy `event_channel_op_compat(&op)` (hypercall 16).
pub fn event_channel_op_compat(op: &mut EvtchnOpCompat) -> Result<(), XenError> {
    // SAFETY: the hypervisor reads and writes the one `evtchn_op_t` at `op`.
    let ret = unsafe {
        hypercall::hypercall1(Hypercall::EventChannelOpCompat.raw(), (&raw mut *op).addr() as u64)
    };
    result(ret).map(drop)
}

/// `EVTCHNOP_alloc_unbound`: a port of `dom` that `remote` may bind.
pub fn alloc_unbound(dom: DomId, remote: DomId) -> Result<EvtchnPort, XenError> {
    let mut a = EvtchnAllocUnbound { dom, remote_dom: remote, port: EvtchnPort(0) };
    event_channel_op(EvtchnOp::AllocUnbound, &mut a).map(|()| a.port)
}

/// `EVTCHNOP_bind_interdomain` to `port` of `dom`: the new local port.
pub fn bind_interdomain(dom: DomId, port: EvtchnPort) -> Result<EvtchnPort, XenError> {
    let mut a =
        EvtchnBindInterdomain { remote_dom: dom, pad0: 0, remote_port: port, local_port: port };
    event_channel_op(EvtchnOp::BindInterdomain, &mut a).map(|()| a.local_port)
}

/// `EVTCHNOP_bind_virq` of VIRQ number `virq` on `vcpu`.
pub fn bind_virq(virq: u32, vcpu: u32) -> Result<EvtchnPort, XenError> {
    let mut a = EvtchnBindVirq { virq, vcpu: VcpuId(vcpu), port: EvtchnPort(0) };
    event_channel_op(EvtchnOp::BindVirq, &mut a).map(|()| a.port)
}

/// `EVTCHNOP_bind_ipi` notifying `vcpu`.
pub fn bind_ipi(vcpu: u32) -> Result<EvtchnPort, XenError> {
    let mut a = EvtchnBindIpi { vcpu: VcpuId(vcpu), port: EvtchnPort(0) };
    event_channel_op(EvtchnOp::BindIpi, &mut a).map(|()| a.port)
}

/// `EVTCHNOP_send` on `port`.
pub fn send(port: EvtchnPort) -> Result<(), XenError> {
    let mut a = port;
    event_channel_op(EvtchnOp::Send, &mut a)
}

/// `EVTCHNOP_close` of `port`.
pub fn close(port: EvtchnPort) -> Result<(), XenError> {
    let mut a = port;
    event_channel_op(EvtchnOp::Close, &mut a)
}

/// `EVTCHNOP_unmask` of `port`.
pub fn unmask(port: EvtchnPort) -> Result<(), XenError> {
    let mut a = port;
    event_channel_op(EvtchnOp::Unmask, &mut a)
}

/// `EVTCHNOP_bind_vcpu`: `port` notifies `vcpu` from now on.
pub fn bind_vcpu(port: EvtchnPort, vcpu: u32) -> Result<(), XenError> {
    let mut a = EvtchnBindVcpu { port, vcpu: VcpuId(vcpu) };
    event_channel_op(EvtchnOp::BindVcpu, &mut a)
}

/// `EVTCHNOP_reset` of `dom`.
pub fn reset(dom: DomId) -> Result<(), XenError> {
    let mut a = EvtchnReset { dom };
    event_channel_op(EvtchnOp::Reset, &mut a)
}

/// `EVTCHNOP_status` of our `port`: the binding and the notified vCPU.
pub fn status(port: EvtchnPort) -> Result<(EvtchnBinding, VcpuId), XenError> {
    let mut s = EvtchnStatus { dom: DomId::SELF, port, ..Default::default() };
    event_channel_op(EvtchnOp::Status, &mut s)?;
    let binding = s.binding().map_err(|_| XenError::from(Errno::EINVAL))?;
    Ok((binding, s.vcpu))
}

/// `sched_op(SCHEDOP_poll, &arg)` with a raw argument.
pub fn sched_poll_raw(arg: &SchedPoll) -> i64 {
    // SAFETY: the hypervisor reads the `sched_poll` at `arg` and the port
    // list it names (or refuses it with -EFAULT); it writes nothing.
    unsafe {
        hypercall::hypercall2(
            Hypercall::SchedOp.raw(),
            u64::from(SchedOp::Poll.raw()),
            (&raw const *arg).addr() as u64,
        )
    }
}

/// `SCHEDOP_poll` on `ports` with absolute timeout `timeout` (ns, 0: none).
pub fn sched_poll(ports: &[EvtchnPort], timeout: u64) -> Result<(), XenError> {
    let nr_ports = u32::try_from(ports.len()).map_err(|_| XenError::from(Errno::EINVAL))?;
    let arg = SchedPoll { ports: ports.as_ptr().addr() as u64, nr_ports, pad0: 0, timeout };
    result(sched_poll_raw(&arg)).map(drop)
}

/// `SCHEDOP_block`: enables upcalls and waits for an event.
pub fn sched_block() -> Result<(), XenError> {
    // SAFETY: SCHEDOP_block takes no argument.
    let ret = unsafe {
        hypercall::hypercall2(Hypercall::SchedOp.raw(), u64::from(SchedOp::Block.raw()), 0)
    };
    result(ret).map(drop)
}

// ---------------------------------------------------------------------------
// Bitmaps
// ---------------------------------------------------------------------------

/// The word of `shared_info` at byte `offset`, if mapped.
fn word(offset: usize) -> Option<&'static AtomicU64> {
    if !shinfo::mapped() || offset >= 4096 || !offset.is_multiple_of(8) {
        return None;
    }
    let ptr = usize::try_from(shinfo::address()).ok()?.wrapping_add(offset) as *mut u64;
    // SAFETY: an 8-byte aligned word inside the mapped shared_info page,
    // which stays mapped; the hypervisor updates it too, hence atomics.
    Some(unsafe { AtomicU64::from_ptr(ptr) })
}

/// The bitmap word of `port` in the array at `base`, and its bit.
fn port_word(base: usize, port: EvtchnPort) -> Option<(&'static AtomicU64, u64)> {
    let index = usize::try_from(port.0 / 64).ok().filter(|&i| i < 64)?;
    Some((word(base.wrapping_add(index.wrapping_mul(8)))?, 1u64 << (port.0 % 64)))
}

const PENDING: usize = offset_of!(SharedInfo, evtchn_pending);
const MASK: usize = offset_of!(SharedInfo, evtchn_mask);

/// Offset in `shared_info` of the running vCPU's `evtchn_pending_sel`.
fn pending_sel_offset() -> usize {
    offset_of!(SharedInfo, vcpu_info)
        .wrapping_add(percpu::current().wrapping_mul(core::mem::size_of::<VcpuInfo>()))
        .wrapping_add(offset_of!(VcpuInfo, evtchn_pending_sel))
}

/// `port`'s bit in `evtchn_pending`.
#[must_use]
pub fn is_pending(port: EvtchnPort) -> bool {
    port_word(PENDING, port).is_some_and(|(w, bit)| w.load(Ordering::SeqCst) & bit != 0)
}

/// `port`'s bit in `evtchn_mask`.
#[must_use]
pub fn is_masked(port: EvtchnPort) -> bool {
    port_word(MASK, port).is_some_and(|(w, bit)| w.load(Ordering::SeqCst) & bit != 0)
}

/// Sets `port`'s mask bit.
pub fn set_mask(port: EvtchnPort) {
    if let Some((w, bit)) = port_word(MASK, port) {
        w.fetch_or(bit, Ordering::SeqCst);
    }
}

/// Clears `port`'s mask bit directly (without `EVTCHNOP_unmask`).
pub fn clear_mask(port: EvtchnPort) {
    if let Some((w, bit)) = port_word(MASK, port) {
        w.fetch_and(!bit, Ordering::SeqCst);
    }
}

/// Clears `port`'s pending bit.
pub fn clear_pending(port: EvtchnPort) {
    if let Some((w, bit)) = port_word(PENDING, port) {
        w.fetch_and(!bit, Ordering::SeqCst);
    }
}

/// The running vCPU's `evtchn_pending_sel`.
#[must_use]
pub fn pending_sel() -> u64 {
    word(pending_sel_offset()).map_or(0, |w| w.load(Ordering::SeqCst))
}

/// Takes (reads and clears) the running vCPU's `evtchn_pending_sel`.
pub fn take_pending_sel() -> u64 {
    word(pending_sel_offset()).map_or(0, |w| w.swap(0, Ordering::SeqCst))
}

/// Clears every pending bit, the selector and the upcall flag: a clean
/// slate between checks (events are masked while the kernel does this).
pub fn clear_all_pending() {
    for i in 0..64usize {
        if let Some(w) = word(PENDING.wrapping_add(i.wrapping_mul(8))) {
            w.store(0, Ordering::SeqCst);
        }
    }
    take_pending_sel();
    shinfo::clear_upcall_pending();
}

// ---------------------------------------------------------------------------
// Upcall recorder
// ---------------------------------------------------------------------------

static HANDLED: [AtomicU32; RECORDED_PORTS] = [const { AtomicU32::new(0) }; RECORDED_PORTS];
static HANDLED_OTHER: AtomicU32 = AtomicU32::new(0);
static MASK_AT_ENTRY: AtomicU8 = AtomicU8::new(0);
static SEL_AT_ENTRY: AtomicU64 = AtomicU64::new(0);
/// The vCPU whose upcalls handle each recorded port (0 by default).
static PORT_VCPU: [AtomicU8; RECORDED_PORTS] = [const { AtomicU8::new(0) }; RECORDED_PORTS];

/// Lets the upcall recorder on vCPU `vcpu` (and only there) handle `port`,
/// as Linux handles a port only on the CPU it is bound to; by default
/// vCPU 0 handles every port. Ports from [`RECORDED_PORTS`] up, and vCPUs
/// past 255, cannot be assigned.
pub fn set_port_vcpu(port: EvtchnPort, vcpu: u32) {
    let slot = usize::try_from(port.0).ok().and_then(|i| PORT_VCPU.get(i));
    if let (Some(slot), Ok(vcpu)) = (slot, u8::try_from(vcpu)) {
        slot.store(vcpu, Ordering::Relaxed);
    }
}

/// The vCPU that handles port number `port` (see [`set_port_vcpu`]).
fn port_vcpu(port: usize) -> usize {
    PORT_VCPU.get(port).map_or(0, |v| usize::from(v.load(Ordering::Relaxed)))
}

/// Installs [`event_hook`] as the bounce hook.
pub fn install_recorder() {
    bounce::set_hook(event_hook);
}

/// How many times the upcall handler handled `port` (ports from
/// [`RECORDED_PORTS`] up are counted together under any of them).
#[must_use]
pub fn handled(port: EvtchnPort) -> u32 {
    usize::try_from(port.0)
        .ok()
        .and_then(|i| HANDLED.get(i))
        .map_or(HANDLED_OTHER.load(Ordering::Relaxed), |c| c.load(Ordering::Relaxed))
}

/// Total ports handled by upcalls.
#[must_use]
pub fn handled_total() -> u32 {
    HANDLED.iter().fold(HANDLED_OTHER.load(Ordering::Relaxed), |n, c| {
        n.wrapping_add(c.load(Ordering::Relaxed))
    })
}

/// `evtchn_upcall_mask` when the last upcall started.
#[must_use]
pub fn mask_at_entry() -> u8 {
    MASK_AT_ENTRY.load(Ordering::Relaxed)
}

/// `evtchn_pending_sel` when the last upcall started.
#[must_use]
pub fn sel_at_entry() -> u64 {
    SEL_AT_ENTRY.load(Ordering::Relaxed)
}

/// The bounce hook: scans the bitmaps on an event upcall (see the module
/// docs) and counts the upcall ([`bounce::count_event`]). It must not fall
/// back to [`bounce::standard`], which clears `evtchn_upcall_pending`
/// again: an event raised on another CPU between the scan and that second
/// clear would leave its selector bit set with no upcall pending, lost.
pub fn event_hook(frame: &mut TrapFrame) -> Option<u64> {
    if frame.vector != VECTOR_EVENT {
        return None;
    }
    let me = percpu::current();
    MASK_AT_ENTRY.store(shinfo::upcall_mask(), Ordering::Relaxed);
    SEL_AT_ENTRY.store(pending_sel(), Ordering::Relaxed);
    shinfo::clear_upcall_pending();
    let mut sel = take_pending_sel();
    while sel != 0 {
        let w = sel.trailing_zeros() as usize;
        sel &= sel.wrapping_sub(1);
        let at = w.wrapping_mul(8);
        let (Some(pending), Some(mask)) =
            (word(PENDING.wrapping_add(at)), word(MASK.wrapping_add(at)))
        else {
            continue;
        };
        let mut bits = pending.load(Ordering::SeqCst) & !mask.load(Ordering::SeqCst);
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits.wrapping_sub(1);
            let port = w.wrapping_mul(64).wrapping_add(b);
            if port_vcpu(port) != me {
                // Another vCPU's port: its own upcall handles it.
                continue;
            }
            pending.fetch_and(!(1u64 << b), Ordering::SeqCst);
            match HANDLED.get(port) {
                Some(c) => c.fetch_add(1, Ordering::Relaxed),
                None => HANDLED_OTHER.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
    Some(bounce::count_event())
}
