// SPDX-License-Identifier: GPL-2.0-only
//! Runstate accounting, the runstate area and the vCPU operations on it.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests on known values"
)]

use guest_abi::vcpu::{RunState, VcpuOp, VcpuRegisterRunstateMemoryArea, VcpuRunstateInfo};
use guest_abi::xen::{Errno, Hypercall, VmAssistType};

use super::*;
use crate::common::domain::ShutdownReason;
use crate::pv::hypercall::call;
use crate::pv::test_support::{Fixture, GUEST_BASE};

const AREA: u64 = GUEST_BASE + 0x2000;
const ARG: u64 = GUEST_BASE + 0x3000;

fn vcpu_op(f: &mut Fixture, cmd: VcpuOp, vcpu: u64, arg: u64) -> Result<i64, Errno> {
    let mut ctx = f.ctx();
    let args = [u64::from(cmd.raw()), vcpu, arg, 0, 0, 0];
    call(&mut ctx, u64::from(Hypercall::VcpuOp.raw()), args, false)
}

fn area(f: &Fixture) -> VcpuRunstateInfo {
    let bytes = f.peek(AREA, core::mem::size_of::<VcpuRunstateInfo>());
    bytemuck::pod_read_unaligned(&bytes)
}

#[test]
fn accounting() {
    let mut f = Fixture::new();
    let v = &mut f.dom.vcpus[0];
    change(v, RunState::Blocked, 100);
    change(v, RunState::Running, 250);
    change(v, RunState::Blocked, 1000);
    let info = v.runstate.info(1200);
    assert_eq!(info.state, RunState::Blocked.raw());
    assert_eq!(info.state_entry_time, 1000);
    assert_eq!(info.time, [100 + 750, 0, 150 + 200, 0]);
    // Time never runs backwards into the totals.
    change(v, RunState::Running, 900);
    assert_eq!(v.runstate.entry_time, 1000);
}

#[test]
fn register_area_get_info_and_reregister() {
    let mut f = Fixture::new();
    f.poke(ARG, bytemuck::bytes_of(&VcpuRegisterRunstateMemoryArea { addr: AREA }));
    assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterRunstateMemoryArea, 0, ARG), Ok(0));
    // The fake clock reads 1 ms: running since 0.
    let a = area(&f);
    assert_eq!((a.state, a.state_entry_time, a.time[0]), (0, 0, 1_000_000));
    // Registering again is accepted (Linux does it twice).
    assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterRunstateMemoryArea, 0, ARG), Ok(0));
    // A change is copied out; with the update flag it is clear afterwards.
    f.dom.vm_assist |= 1 << VmAssistType::RunstateUpdateFlag.raw();
    change(&mut f.dom.vcpus[0], RunState::Blocked, 2_000_000);
    update_area(&f.dom, &mut f.mem, 0, 3_000_000);
    let a = area(&f);
    assert_eq!((a.state, a.state_entry_time), (RunState::Blocked.raw(), 2_000_000));
    assert_eq!(a.time[2], 1_000_000);
    // get_runstate_info.
    assert_eq!(vcpu_op(&mut f, VcpuOp::GetRunstateInfo, 0, ARG), Ok(0));
    let got: VcpuRunstateInfo =
        bytemuck::pod_read_unaligned(&f.peek(ARG, core::mem::size_of::<VcpuRunstateInfo>()));
    assert_eq!(got.state, RunState::Blocked.raw());
    assert_eq!(vcpu_op(&mut f, VcpuOp::GetRunstateInfo, 0, 0x10), Err(Errno::EFAULT));
    // Unregister with a NULL address.
    f.poke(ARG, bytemuck::bytes_of(&VcpuRegisterRunstateMemoryArea { addr: 0 }));
    assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterRunstateMemoryArea, 0, ARG), Ok(0));
    assert_eq!(f.dom.vcpus[0].runstate_guest, None);
}

#[test]
fn register_area_refusals() {
    let mut f = Fixture::new();
    for bad in [0xffff_8000_0000_0000u64, 0x7fff_ffff_fff8, u64::MAX - 8] {
        f.poke(ARG, bytemuck::bytes_of(&VcpuRegisterRunstateMemoryArea { addr: bad }));
        assert_eq!(
            vcpu_op(&mut f, VcpuOp::RegisterRunstateMemoryArea, 0, ARG),
            Err(Errno::EFAULT),
            "{bad:#x}"
        );
    }
    assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterRunstateMemoryArea, 0, 0x10), Err(Errno::EFAULT));
    // An unmapped (but guest-space) area is accepted; writes to it are dropped.
    f.poke(ARG, bytemuck::bytes_of(&VcpuRegisterRunstateMemoryArea { addr: 0x7000_0000 }));
    assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterRunstateMemoryArea, 0, ARG), Ok(0));
}

#[test]
fn last_vcpu_down_powers_off() {
    let mut f = Fixture::new();
    assert_eq!(vcpu_op(&mut f, VcpuOp::Up, 0, 0), Ok(0));
    assert_eq!(vcpu_op(&mut f, VcpuOp::Down, 0, 0), Ok(0));
    assert_eq!(f.dom.shutdown, Some(ShutdownReason::Poweroff));
    assert_eq!(vcpu_op(&mut f, VcpuOp::Down, 1, 0), Err(Errno::ENOENT));
}

#[test]
fn register_vcpu_info_moves_it() {
    use guest_abi::vcpu::VcpuRegisterVcpuInfo;
    use guest_abi::xen::Mfn as AbiMfn;

    use crate::mm::Mfn;
    use crate::pv::test_support::frames;

    let mut f = Fixture::new();
    for i in 0..16 {
        f.frames.assign(Mfn(frames::DATA + i), guest_abi::xen::DomId(0)).unwrap();
    }
    // Something in the old slot: upcall mask 1 and a cr2.
    let mut ctx = f.ctx();
    ctx.set_upcall_mask(1);
    ctx.set_vcpu_info_cr2(0x1234);
    let target = Mfn(frames::DATA + 5);
    let reg = |mfn: u64, offset: u32| VcpuRegisterVcpuInfo { mfn: AbiMfn(mfn), offset, rsvd: 0 };
    for (bad, why) in [
        (reg(target.0, 4096 - 63), "crosses the page end"),
        (reg(target.0, 12), "unaligned"),
        (reg(0x7_0000, 0), "not ours"),
    ] {
        f.poke(ARG, bytemuck::bytes_of(&bad));
        assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterVcpuInfo, 0, ARG), Err(Errno::EINVAL), "{why}");
    }
    f.poke(ARG, bytemuck::bytes_of(&reg(target.0, 128)));
    assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterVcpuInfo, 0, ARG), Ok(0));
    assert_eq!(vcpu_op(&mut f, VcpuOp::RegisterVcpuInfo, 0, ARG), Err(Errno::EINVAL), "twice");
    let vi = f.dom.vcpu_info_ref(guest_abi::xen::VcpuId(0)).unwrap();
    assert_eq!((vi.frame, vi.offset), (target, 128));
    // Moved contents, then everything marked pending.
    let ctx = f.ctx();
    assert_eq!(ctx.upcall_mask(), 1);
    assert!(ctx.upcall_pending());
    assert_eq!(f.mem.read_u64(target, (128 + 16) / 8), 0x1234);
    assert_eq!(f.mem.read_u64(target, (128 + 8) / 8), u64::MAX);
    // The frame now has a writable type reference: it cannot become a
    // page table while the vcpu_info lives there.
    assert_eq!(f.frames.info(target).unwrap().type_info.ty, crate::mm::pv::PageType::Writable);
}

#[test]
fn secondary_vcpus_start_offline() {
    let mut f = Fixture::new();
    f.dom.set_max_vcpus(2);
    assert_eq!(vcpu_op(&mut f, VcpuOp::GetRunstateInfo, 1, ARG), Ok(0));
    let bytes = f.peek(ARG, core::mem::size_of::<VcpuRunstateInfo>());
    let info: VcpuRunstateInfo = bytemuck::pod_read_unaligned(&bytes);
    // Never run: offline since domain creation, no running time.
    assert_eq!((info.state, info.time[0]), (RunState::Offline.raw(), 0));
    assert_eq!(f.dom.vcpus[0].runstate.state, RunState::Running);
}
