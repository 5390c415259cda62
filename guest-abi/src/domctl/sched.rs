// SPDX-License-Identifier: GPL-2.0-only
//! `XEN_DOMCTL_scheduler_op`: scheduler ids and per-domain parameters.
//!
//! [`XenDomctlSchedulerOp`] is Xen 4.17's payload: a scheduler id, a
//! [`DomctlSchedOp`] and a 16-byte union of parameter structs (kept as raw
//! words, read with [`XenDomctlSchedulerOp::params`]).
//!
//! sEDF ([`XenScheduler::Sedf`]) is not in 4.17. Its parameters
//! ([`XenDomctlSchedSedf`], 32 bytes) are mirrored from Xen 4.5's
//! `domctl.h`, where they were the largest member of the same union. They do
//! not fit 4.17's 16-byte union, so an sEDF request is read from the
//! envelope as the whole 4.5 payload, [`XenDomctlSchedulerOpSedf`] (same
//! `sched_id`/`cmd` header, 40 bytes, asserted to fit the 128-byte domctl
//! union).

use crate::AbiBytes;
use bytemuck::{Pod, Zeroable};

abi_enum! {
    /// Scheduler ids (`XEN_SCHEDULER_*`): [`XenDomctlSchedulerOp::sched_id`]
    /// and the answer of `XEN_SYSCTL_sched_id`.
    pub enum XenScheduler: u32 {
        /// Simple EDF; removed in Xen 4.6 (id and layout from Xen 4.5).
        Sedf = 4 => "XEN_SCHEDULER_SEDF",
        /// Credit (proportional share with caps).
        Credit = 5 => "XEN_SCHEDULER_CREDIT",
        /// Credit2.
        Credit2 = 6 => "XEN_SCHEDULER_CREDIT2",
        /// ARINC 653 static partitioning.
        Arinc653 = 7 => "XEN_SCHEDULER_ARINC653",
        /// Real-time deferrable server.
        Rtds = 8 => "XEN_SCHEDULER_RTDS",
        /// Null scheduler: one vCPU per physical CPU.
        Null = 9 => "XEN_SCHEDULER_NULL",
    }
}

abi_enum! {
    /// Sub-commands of `XEN_DOMCTL_scheduler_op` (`XEN_DOMCTL_SCHEDOP_*`),
    /// [`XenDomctlSchedulerOp::cmd`].
    pub enum DomctlSchedOp: u32 {
        /// Set the parameters of every vCPU of the domain.
        Putinfo = 0 => "XEN_DOMCTL_SCHEDOP_putinfo",
        /// Read the domain's (default) parameters.
        Getinfo = 1 => "XEN_DOMCTL_SCHEDOP_getinfo",
        /// Set per-vCPU parameters (schedulers that have them, e.g. RTDS);
        /// the union holds [`XenDomctlSchedulerOpVcpus`].
        Putvcpuinfo = 2 => "XEN_DOMCTL_SCHEDOP_putvcpuinfo",
        /// Read per-vCPU parameters; the union holds
        /// [`XenDomctlSchedulerOpVcpus`].
        Getvcpuinfo = 3 => "XEN_DOMCTL_SCHEDOP_getvcpuinfo",
    }
}

/// Parameters of the credit scheduler (`struct xen_domctl_sched_credit`).
#[doc(alias = "xen_domctl_sched_credit")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSchedCredit {
    /// IN/OUT: relative weight (1–65535; 0 on put = unchanged).
    pub weight: u16,
    /// IN/OUT: cap in percent of one CPU (0 = none).
    pub cap: u16,
}
abi_layout!(XenDomctlSchedCredit: size 4, weight @ 0, cap @ 2);

/// Parameters of the credit2 scheduler (`struct xen_domctl_sched_credit2`).
#[doc(alias = "xen_domctl_sched_credit2")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSchedCredit2 {
    /// IN/OUT: relative weight (0 on put = unchanged).
    pub weight: u16,
    /// IN/OUT: cap in percent of one CPU (0 = none).
    pub cap: u16,
}
abi_layout!(XenDomctlSchedCredit2: size 4, weight @ 0, cap @ 2);

/// [`XenDomctlSchedRtds::flags`]: the vCPU may run beyond its budget when
/// CPUs are otherwise idle.
pub const XEN_DOMCTL_SCHEDRT_extra: u32 = 1 << 0;

/// Parameters of the RTDS scheduler (`struct xen_domctl_sched_rtds`).
#[doc(alias = "xen_domctl_sched_rtds")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSchedRtds {
    /// IN/OUT: replenishment period in microseconds.
    pub period: u32,
    /// IN/OUT: budget per period in microseconds.
    pub budget: u32,
    /// IN/OUT: `XEN_DOMCTL_SCHEDRT_*`.
    pub flags: u32,
}
abi_layout!(XenDomctlSchedRtds: size 12, period @ 0, budget @ 4, flags @ 8);

/// Parameters of the sEDF scheduler, Xen 4.5 layout
/// (`struct xen_domctl_sched_sedf`; removed in Xen 4.6).
///
/// Times are in nanoseconds (Xen 4.5 accepted periods from 10 µs to 10 s
/// and slices of at least 5 µs, no longer than the period).
#[doc(alias = "xen_domctl_sched_sedf")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSchedSedf {
    /// IN/OUT: period.
    pub period: u64,
    /// IN/OUT: guaranteed time slice per period.
    pub slice: u64,
    /// IN/OUT: scaled period used when the domain wakes after blocking.
    pub latency: u64,
    /// IN/OUT: bit 0 set if the domain may use slack time (other bits are
    /// ignored).
    pub extratime: u32,
    /// IN/OUT: weight for sharing slack time.
    pub weight: u32,
}
abi_layout!(XenDomctlSchedSedf: size 32,
    period @ 0, slice @ 8, latency @ 16, extratime @ 24, weight @ 28);

/// One element of the per-vCPU parameter array
/// (`xen_domctl_schedparam_vcpu_t`): a 12-byte union of
/// credit/credit2/rtds parameters and the vCPU id.
#[doc(alias = "xen_domctl_schedparam_vcpu")]
#[doc(alias = "xen_domctl_schedparam_vcpu_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSchedparamVcpu {
    /// IN/OUT: the scheduler's parameter struct, in the leading bytes
    /// ([`XenDomctlSchedparamVcpu::params`]).
    pub u: [u32; 3],
    /// IN: vCPU the parameters are for.
    pub vcpuid: u32,
}
abi_layout!(XenDomctlSchedparamVcpu: size 16, u @ 0, vcpuid @ 12);

impl XenDomctlSchedparamVcpu {
    /// Reads the union as `T` (a `XenDomctlSched*` struct); `None` if `T`
    /// does not fit.
    #[must_use]
    pub fn params<T: AbiBytes>(&self) -> Option<T> {
        crate::union_payload(&self.u)
    }

    /// Writes `value` into the leading bytes of the union; `false` if it
    /// does not fit.
    pub fn set_params<T: AbiBytes>(&mut self, value: &T) -> bool {
        crate::set_union_payload(&mut self.u, value)
    }
}

/// Member `v` of the [`XenDomctlSchedulerOp`] union, for the per-vCPU
/// sub-commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSchedulerOpVcpus {
    /// IN: guest address of an array of [`XenDomctlSchedparamVcpu`]
    /// (`XEN_GUEST_HANDLE_64(xen_domctl_schedparam_vcpu_t)`).
    pub vcpus: u64,
    /// IN: number of array elements; OUT: number processed.
    pub nr_vcpus: u32,
    /// Padding; zero.
    pub padding: u32,
}
abi_layout!(XenDomctlSchedulerOpVcpus: size 16, vcpus @ 0, nr_vcpus @ 8, padding @ 12);

/// Payload of `XEN_DOMCTL_scheduler_op` (`struct xen_domctl_scheduler_op`,
/// Xen 4.17).
#[doc(alias = "xen_domctl_scheduler_op")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSchedulerOp {
    /// IN: the [`XenScheduler`] the caller believes the domain runs under
    /// (must match).
    pub sched_id: u32,
    /// IN: a [`DomctlSchedOp`] number.
    pub cmd: u32,
    /// IN/OUT: [`XenDomctlSchedCredit`], [`XenDomctlSchedCredit2`],
    /// [`XenDomctlSchedRtds`] or [`XenDomctlSchedulerOpVcpus`], in the
    /// leading bytes.
    pub u: [u64; 2],
}
abi_layout!(XenDomctlSchedulerOp: size 24, sched_id @ 0, cmd @ 4, u @ 8);

impl XenDomctlSchedulerOp {
    /// Decodes `sched_id`.
    pub fn scheduler(&self) -> Result<XenScheduler, crate::Unknown<u32>> {
        XenScheduler::try_from(self.sched_id)
    }

    /// Decodes `cmd`.
    pub fn op(&self) -> Result<DomctlSchedOp, crate::Unknown<u32>> {
        DomctlSchedOp::try_from(self.cmd)
    }

    /// Reads the union as `T`; `None` if `T` does not fit (sEDF does not:
    /// read [`XenDomctlSchedulerOpSedf`] from the envelope instead).
    #[must_use]
    pub fn params<T: AbiBytes>(&self) -> Option<T> {
        crate::union_payload(&self.u)
    }

    /// Writes `value` into the leading bytes of the union; `false` if it
    /// does not fit.
    pub fn set_params<T: AbiBytes>(&mut self, value: &T) -> bool {
        crate::set_union_payload(&mut self.u, value)
    }
}

/// Payload of `XEN_DOMCTL_scheduler_op` for sEDF: Xen 4.5's
/// `struct xen_domctl_scheduler_op` with its `sedf` member, the largest of
/// that release's union.
///
/// Shares the 8-byte header of [`XenDomctlSchedulerOp`], so a dispatcher
/// reads the 4.17 struct first and, when `sched_id` is
/// [`XenScheduler::Sedf`], re-reads the envelope's union as this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlSchedulerOpSedf {
    /// IN: [`XenScheduler::Sedf`].
    pub sched_id: u32,
    /// IN: [`DomctlSchedOp::Putinfo`] or [`DomctlSchedOp::Getinfo`] (4.5 had
    /// no per-vCPU sub-commands).
    pub cmd: u32,
    /// IN (put) / OUT (get): the parameters.
    pub sedf: XenDomctlSchedSedf,
}
abi_layout!(XenDomctlSchedulerOpSedf: size 40,
    sched_id @ 0, cmd @ 4, sedf @ 8, sedf.period @ 8, sedf.slice @ 16, sedf.latency @ 24,
    sedf.extratime @ 32, sedf.weight @ 36);

// The sEDF payload keeps 4.17's header and starts its parameters where the
// 4.17 union starts.
const _: () = assert!(
    core::mem::offset_of!(XenDomctlSchedulerOpSedf, sedf)
        == core::mem::offset_of!(XenDomctlSchedulerOp, u)
);

// The 4.17 members fit the 16-byte scheduler_op union, and those allowed
// per vCPU fit the 12-byte schedparam_vcpu union.
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<XenDomctlSchedCredit>() <= 12);
    assert!(size_of::<XenDomctlSchedCredit2>() <= 12);
    assert!(size_of::<XenDomctlSchedRtds>() <= 12);
    assert!(size_of::<XenDomctlSchedulerOpVcpus>() <= 16);
    assert!(size_of::<XenDomctlSchedSedf>() > 16);
};
