// SPDX-License-Identifier: GPL-2.0-only
//! Guest-time tests: pvclock and wallclock publication, the timers and
//! their hypercalls over the fixture guest.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests on known values"
)]

use guest_abi::event_channel::EvtchnBindVirq;
use guest_abi::vcpu::{VcpuOp, VcpuSetPeriodicTimer, VcpuSetSingleshotTimer};
use guest_abi::xen::{Errno, EvtchnPort, Hypercall, SharedInfo, VcpuId};

use super::*;
use crate::common::event_channel::ops;
use crate::pv::hypercall::{call, encode};
use crate::pv::test_support::{Fixture, GUEST_BASE, frames};

const BUF: u64 = GUEST_BASE + 0x1000;

fn shared(f: &Fixture) -> SharedInfo {
    let mut s: SharedInfo = bytemuck::Zeroable::zeroed();
    f.mem.read_bytes(frames::SHARED_INFO, 0, bytemuck::bytes_of_mut(&mut s));
    s
}

fn bind_timer(f: &mut Fixture) -> EvtchnPort {
    let mut a = EvtchnBindVirq { virq: Virq::Timer.raw(), vcpu: VcpuId(0), port: EvtchnPort(0) };
    ops::bind_virq(&mut f.dom, &mut a).unwrap();
    a.port
}

fn pending(f: &Fixture, port: EvtchnPort) -> bool {
    let s = shared(f);
    let p = usize::try_from(port.0).unwrap();
    s.evtchn_pending[p / 64] & (1 << (p % 64)) != 0
}

fn clear_pending(f: &mut Fixture, port: EvtchnPort) {
    let mut s = shared(f);
    let p = usize::try_from(port.0).unwrap();
    s.evtchn_pending[p / 64] &= !(1 << (p % 64));
    s.vcpu_info[0].evtchn_pending_sel = 0;
    s.vcpu_info[0].evtchn_upcall_pending = 0;
    f.mem.write_bytes(frames::SHARED_INFO, 0, bytemuck::bytes_of(&s));
}

#[test]
fn pvclock_is_published_with_an_even_version() {
    let mut f = Fixture::new();
    let s = ClockSample {
        tsc: 123_456_789,
        system_time: 42_000,
        scale: TimeScale::from_hz(3_000_000_000).unwrap(),
    };
    update_vcpu_system_time(&f.dom, &mut f.mem, 0, &s);
    let t = shared(&f).vcpu_info[0].time;
    assert_eq!(t.version, 2);
    assert_eq!(t.tsc_timestamp, 123_456_789);
    assert_eq!(t.system_time, 42_000);
    assert_eq!(t.tsc_to_system_mul, s.scale.mul_frac);
    assert_eq!(t.tsc_shift, -1);
    assert_eq!(t.flags, guest_abi::xen::XEN_PVCLOCK_TSC_STABLE_BIT);
    update_vcpu_system_time(&f.dom, &mut f.mem, 0, &s);
    assert_eq!(shared(&f).vcpu_info[0].time.version, 4);
    // A guest that left the version odd does not make it stay odd.
    f.mem.write_bytes(frames::SHARED_INFO, 32, &7u32.to_le_bytes());
    update_vcpu_system_time(&f.dom, &mut f.mem, 0, &s);
    assert_eq!(shared(&f).vcpu_info[0].time.version, 10);
}

#[test]
fn wallclock() {
    let mut f = Fixture::new();
    set_wallclock(&f.dom, &mut f.mem, 0x1_2345_6789, 500);
    let s = shared(&f);
    assert_eq!((s.wc_version, s.wc_sec, s.wc_nsec, s.wc_sec_hi), (2, 0x2345_6789, 500, 1));
}

#[test]
fn timers_raise_virq_timer() {
    let mut f = Fixture::new();
    let port = bind_timer(&mut f);
    // The default 100 Hz ticker, started at 0.
    assert_eq!(timer_softirq(&mut f.dom, &mut f.mem, 5_000_000), Some(10_000_000));
    assert!(!pending(&f, port));
    assert_eq!(timer_softirq(&mut f.dom, &mut f.mem, 10_000_001), Some(20_000_001));
    assert!(pending(&f, port));
    clear_pending(&mut f, port);
    // A single-shot deadline before the next tick.
    f.dom.vcpus[0].timers.singleshot = Some(12_000_000);
    assert_eq!(timer_softirq(&mut f.dom, &mut f.mem, 11_000_000), Some(12_000_000));
    assert_eq!(timer_softirq(&mut f.dom, &mut f.mem, 12_000_000), Some(20_000_001));
    assert!(pending(&f, port));
    assert_eq!(f.dom.vcpus[0].timers.singleshot, None);
    // Both stopped: no deadline.
    f.dom.vcpus[0].timers.periodic_period = 0;
    assert_eq!(timer_softirq(&mut f.dom, &mut f.mem, 30_000_000), None);
}

fn hc(f: &mut Fixture, nr: Hypercall, args: [u64; 6]) -> Result<i64, Errno> {
    let mut ctx = f.ctx();
    call(&mut ctx, u64::from(nr.raw()), args, false)
}

#[test]
fn set_timer_op_rules() {
    let mut f = Fixture::new(); // the fake clock reads 1 ms
    assert_eq!(hc(&mut f, Hypercall::SetTimerOp, [5_000_000, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(f.dom.vcpus[0].timers.singleshot, Some(5_000_000));
    assert_eq!(hc(&mut f, Hypercall::SetTimerOp, [0; 6]), Ok(0));
    assert_eq!(f.dom.vcpus[0].timers.singleshot, None);
    // Past deadlines are kept (they fire at once); absurd ones become +100 ms.
    assert_eq!(hc(&mut f, Hypercall::SetTimerOp, [1, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(f.dom.vcpus[0].timers.singleshot, Some(1));
    for bogus in [u64::MAX, 1 << 63, (1 << 50) + 1_000_000] {
        assert_eq!(hc(&mut f, Hypercall::SetTimerOp, [bogus, 0, 0, 0, 0, 0]), Ok(0));
        assert_eq!(f.dom.vcpus[0].timers.singleshot, Some(101_000_000), "{bogus:#x}");
    }
}

fn vcpu_op(f: &mut Fixture, cmd: VcpuOp, vcpu: u64, arg: u64) -> Result<i64, Errno> {
    hc(f, Hypercall::VcpuOp, [u64::from(cmd.raw()), vcpu, arg, 0, 0, 0])
}

#[test]
fn vcpu_op_timers_and_ids() {
    let mut f = Fixture::new();
    assert_eq!(vcpu_op(&mut f, VcpuOp::IsUp, 0, 0), Ok(1));
    // vcpuid is an `unsigned int`: the upper half of the register is ignored.
    assert_eq!(vcpu_op(&mut f, VcpuOp::IsUp, 1 << 40, 0), Ok(1));
    for id in [1u64, 31, 4095, u64::from(u32::MAX)] {
        assert_eq!(vcpu_op(&mut f, VcpuOp::IsUp, id, 0), Err(Errno::ENOENT), "{id}");
        assert_eq!(vcpu_op(&mut f, VcpuOp::SetPeriodicTimer, id, BUF), Err(Errno::ENOENT));
    }
    // Periodic: 1 ms at least; bad pointer is EFAULT.
    f.poke(BUF, bytemuck::bytes_of(&VcpuSetPeriodicTimer { period_ns: 999_999 }));
    assert_eq!(vcpu_op(&mut f, VcpuOp::SetPeriodicTimer, 0, BUF), Err(Errno::EINVAL));
    f.poke(BUF, bytemuck::bytes_of(&VcpuSetPeriodicTimer { period_ns: 4_000_000 }));
    assert_eq!(vcpu_op(&mut f, VcpuOp::SetPeriodicTimer, 0, BUF), Ok(0));
    // Xen's `vcpu_set_periodic_timer`: a period after the last tick (at 0),
    // which is not due yet at 1 ms.
    assert_eq!(f.dom.vcpus[0].timers.next_deadline(), Some(4_000_000));
    assert_eq!(vcpu_op(&mut f, VcpuOp::SetPeriodicTimer, 0, 0x10), Err(Errno::EFAULT));
    assert_eq!(vcpu_op(&mut f, VcpuOp::StopPeriodicTimer, 0, 0), Ok(0));
    assert_eq!(f.dom.vcpus[0].timers.next_deadline(), None);
    // Single-shot: VCPU_SSHOTTMR_future is ignored (stable-4.17); a past
    // deadline, with or without it, fires at once and leaves no timer.
    let port = bind_timer(&mut f);
    for flags in [1, 0] {
        clear_pending(&mut f, port);
        f.dom.vcpus[0].timers.singleshot = Some(99);
        let past = VcpuSetSingleshotTimer { timeout_abs_ns: 10, flags, pad0: 0 };
        f.poke(BUF, bytemuck::bytes_of(&past));
        assert_eq!(vcpu_op(&mut f, VcpuOp::SetSingleshotTimer, 0, BUF), Ok(0));
        assert_eq!(f.dom.vcpus[0].timers.singleshot, None);
        assert!(pending(&f, port), "VIRQ_TIMER raised at once (flags {flags})");
    }
    clear_pending(&mut f, port);
    let future = VcpuSetSingleshotTimer { timeout_abs_ns: 2_000_000, flags: 1, pad0: 0 };
    f.poke(BUF, bytemuck::bytes_of(&future));
    assert_eq!(vcpu_op(&mut f, VcpuOp::SetSingleshotTimer, 0, BUF), Ok(0));
    assert_eq!(f.dom.vcpus[0].timers.singleshot, Some(2_000_000));
    assert!(!pending(&f, port));
    // A periodic timer whose last tick is a period ago or more ticks at
    // once, and then a period from now (the fake clock reads 1 ms).
    f.dom.vcpus[0].timers.periodic_last = 0;
    f.poke(BUF, bytemuck::bytes_of(&VcpuSetPeriodicTimer { period_ns: 1_000_000 }));
    assert_eq!(vcpu_op(&mut f, VcpuOp::SetPeriodicTimer, 0, BUF), Ok(0));
    assert!(pending(&f, port), "the periodic timer ticked at once");
    assert_eq!(f.dom.vcpus[0].timers.periodic_last, 1_000_000);
    assert_eq!(vcpu_op(&mut f, VcpuOp::StopPeriodicTimer, 0, 0), Ok(0));
    assert_eq!(vcpu_op(&mut f, VcpuOp::StopSingleshotTimer, 0, 0), Ok(0));
    assert_eq!(f.dom.vcpus[0].timers.singleshot, None);
    // Not implemented yet, and unknown commands.
    assert_eq!(vcpu_op(&mut f, VcpuOp::SendNmi, 0, 0), Err(Errno::ENOSYS));
    assert_eq!(hc(&mut f, Hypercall::VcpuOp, [99, 0, 0, 0, 0, 0]), Err(Errno::ENOSYS));
    assert_eq!(encode(Err(Errno::ENOENT)), (-2i64).cast_unsigned());
}

/// The secondary copy's guest address in the fixture.
const TIME_AREA: u64 = GUEST_BASE + 0x2040;

fn time_area(f: &Fixture) -> VcpuTimeInfo {
    bytemuck::pod_read_unaligned(&f.peek(TIME_AREA, core::mem::size_of::<VcpuTimeInfo>()))
}

#[test]
fn secondary_time_area_follows_the_main_copy() {
    use guest_abi::vcpu::VcpuRegisterTimeMemoryArea;
    let mut f = Fixture::new();
    f.poke(BUF, bytemuck::bytes_of(&VcpuRegisterTimeMemoryArea { addr: TIME_AREA }));
    assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterVcpuTimeMemoryArea, 0, BUF), Ok(0));
    assert_eq!(f.dom.vcpus[0].arch.time_guest, Some(TIME_AREA));
    // Filled at once, as the main copy (Linux checks the stable flag
    // right after registering); the fake clock reads 1 ms.
    let t = time_area(&f);
    assert_eq!(t, shared(&f).vcpu_info[0].time);
    assert_eq!((t.version, t.system_time), (2, 1_000_000));
    assert_eq!(t.flags, guest_abi::xen::XEN_PVCLOCK_TSC_STABLE_BIT);
    // Every update reaches both, with the same even version, even while
    // the vCPU is in user mode (the kernel table is used).
    f.dom.vcpus[0].arch.kernel_mode = false;
    f.dom.vcpus[0].arch.tables.guest_table_user = None;
    let s = ClockSample {
        tsc: 77,
        system_time: 5_000_000,
        scale: TimeScale::from_hz(2_000_000_000).unwrap(),
    };
    update_vcpu_system_time(&f.dom, &mut f.mem, 0, &s);
    let t = time_area(&f);
    assert_eq!(t, shared(&f).vcpu_info[0].time);
    assert_eq!((t.version, t.tsc_timestamp, t.system_time), (4, 77, 5_000_000));
    // NULL unregisters; the area is left alone afterwards.
    f.dom.vcpus[0].arch.kernel_mode = true;
    f.poke(BUF, bytemuck::bytes_of(&VcpuRegisterTimeMemoryArea { addr: 0 }));
    assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterVcpuTimeMemoryArea, 0, BUF), Ok(0));
    assert_eq!(f.dom.vcpus[0].arch.time_guest, None);
    update_vcpu_system_time(&f.dom, &mut f.mem, 0, &s);
    assert_eq!(shared(&f).vcpu_info[0].time.version, 8);
    assert_eq!(time_area(&f).version, 4);
}

#[test]
fn secondary_time_area_errors_and_faults() {
    use guest_abi::vcpu::VcpuRegisterTimeMemoryArea;
    let mut f = Fixture::new();
    let op = VcpuOp::RegisterVcpuTimeMemoryArea;
    // Unreadable argument; areas reaching outside guest space.
    assert_eq!(vcpu_op(&mut f, op, 0, 0x10), Err(Errno::EFAULT));
    for bad in [0xffff_8000_0000_0000, 0x7fff_ffff_fff0, u64::MAX - 8] {
        f.poke(BUF, bytemuck::bytes_of(&VcpuRegisterTimeMemoryArea { addr: bad }));
        assert_eq!(vcpu_op(&mut f, op, 0, BUF), Err(Errno::EFAULT), "{bad:#x}");
        assert_eq!(f.dom.vcpus[0].arch.time_guest, None);
    }
    assert_eq!(vcpu_op(&mut f, op, 3, BUF), Err(Errno::ENOENT));
    // An unmapped (or read-only) area is accepted; the copies just fault,
    // and the main copy is still published.
    let unmapped = GUEST_BASE + 0x10_0000;
    f.poke(BUF, bytemuck::bytes_of(&VcpuRegisterTimeMemoryArea { addr: unmapped }));
    assert_eq!(vcpu_op(&mut f, op, 0, BUF), Ok(0));
    assert_eq!(f.dom.vcpus[0].arch.time_guest, Some(unmapped));
    assert_eq!(shared(&f).vcpu_info[0].time.version, 2);
    // An area straddling into an unmapped page: the version goes in, the
    // rest faults; nothing is left half-written beyond the version.
    let edge = GUEST_BASE + 16 * 4096 - 8;
    f.poke(BUF, bytemuck::bytes_of(&VcpuRegisterTimeMemoryArea { addr: edge }));
    assert_eq!(vcpu_op(&mut f, op, 0, BUF), Ok(0));
    assert_eq!(f.peek(edge, 4), 3u32.to_le_bytes(), "odd: an update never finished");
    assert_eq!(shared(&f).vcpu_info[0].time.version, 4);
}

/// Found by `pv-time` failing under load: a vCPU that blocked right after
/// arming a single shot had that deadline only in its CPU's armed timer;
/// the machine layer now hands every deadline of a vCPU that stops running
/// to its scan of stopped vCPUs, and this is the deadline it hands over:
/// the earliest of the single shot, the periodic timer and a poll timeout.
#[test]
fn a_stopped_vcpu_is_woken_by_its_earliest_deadline() {
    use crate::common::domain::Vcpu;
    use crate::common::event_channel::PollState;
    let mut v = Vcpu::new(VcpuId(0));
    // (A new vCPU has Xen's default 10 ms periodic timer.)
    v.timers.periodic_period = 0;
    assert_eq!(stopped_vcpu_deadline(&v), None);
    v.timers.singleshot = Some(20_000_000);
    assert_eq!(stopped_vcpu_deadline(&v), Some(20_000_000));
    v.timers.periodic_period = 5_000_000;
    v.timers.periodic_last = 10_000_000;
    assert_eq!(stopped_vcpu_deadline(&v), Some(15_000_000));
    v.evtchn.poll = Some(PollState { port: None, timeout_ns: Some(12_000_000) });
    assert_eq!(stopped_vcpu_deadline(&v), Some(12_000_000));
    v.timers.singleshot = None;
    v.timers.periodic_period = 0;
    assert_eq!(stopped_vcpu_deadline(&v), Some(12_000_000), "a poll timeout alone");
    assert_eq!(earliest(None, Some(3)), Some(3));
    assert_eq!(earliest(Some(2), Some(3)), Some(2));
}
