// SPDX-License-Identifier: GPL-2.0-only
//! Domains and vCPUs: the common state Xen keeps in `struct domain` and
//! `struct vcpu` (`xen/common/domain.c`), with the x86 PV state as their
//! `arch` part ([`crate::pv::domain`]).
//!
//! A domain lives in the [`DomainTable`](super::domain_table::DomainTable)
//! from creation until its teardown is complete. Its life: created paused
//! by the controller (or running, for dom0), unpaused, shut down by itself
//! (`SCHEDOP_shutdown`, a crash) or by the controller, then killed
//! (`is_dying`: resources relinquished) and unlinked.

use alloc::vec::Vec;

use guest_abi::xen::{DomId, VcpuId};

use super::event_channel::{EvtchnTable, VcpuEvtchn};
use super::rangeset::RangeSet;
use super::runstate::Runstate;
use super::xsm::XsmSubject;
use crate::mm::Mfn;
use crate::pv::domain::PvVcpu;
use crate::pv::time::VcpuTimers;
use crate::sched::{CpuMask, CreditParams, SedfParams};

/// A vCPU (Xen's `struct vcpu`): the state common to every architecture,
/// and the x86 PV state in [`Vcpu::arch`].
#[derive(Clone, Debug)]
pub struct Vcpu {
    /// vCPU number within the domain.
    pub id: VcpuId,
    /// Single-shot and periodic timers.
    pub timers: VcpuTimers,
    /// Runstate accounting.
    pub runstate: Runstate,
    /// Guest address of the registered runstate area, if any.
    pub runstate_guest: Option<u64>,
    /// Taken down by `VCPUOP_down` (`_VPF_down`); secondary vCPUs start
    /// down until `VCPUOP_up`.
    pub down: bool,
    /// Has a context (`is_initialised`): by the domain builder for vCPU 0,
    /// by `VCPUOP_initialise` for the others.
    pub initialised: bool,
    /// The `vcpu_info` placed by `VCPUOP_register_vcpu_info` (its frame
    /// holds a `Writable` type reference); `None`: the `shared_info` slot.
    pub vcpu_info: Option<super::event_channel::two_level::VcpuInfoRef>,
    /// The vCPU is blocked (`SCHEDOP_block`, `SCHEDOP_poll`) until an event
    /// kicks it (see [`super::event_channel::vcpu_should_wake`]).
    pub blocked: bool,
    /// VIRQ bindings and the `SCHEDOP_poll` state.
    pub evtchn: VcpuEvtchn,
    /// The physical CPU the vCPU runs or last ran on (`v->processor`).
    pub processor: u32,
    /// Hard affinity: the CPUs the vCPU may run on
    /// (`XEN_DOMCTL_setvcpuaffinity`; every CPU by default).
    pub affinity_hard: CpuMask,
    /// Soft affinity: the CPUs the vCPU prefers.
    pub affinity_soft: CpuMask,
    /// The x86 PV state (Xen's `v->arch`).
    pub arch: PvVcpu,
    /// The running hypercall is to be issued again (Xen's
    /// `v->hcall_preempted`, see [`crate::pv::hypercall::continuation`]).
    pub hcall_preempted: bool,
    /// The multicall state (Xen's `v->mc_state`).
    pub mc_state: crate::pv::hypercall::continuation::McState,
}

impl Vcpu {
    /// A fresh vCPU: running state, kernel mode, no tables, empty trap
    /// table.
    #[must_use]
    pub fn new(id: VcpuId) -> Self {
        Self {
            id,
            timers: VcpuTimers::default(),
            runstate: Runstate::default(),
            runstate_guest: None,
            down: false,
            initialised: true,
            vcpu_info: None,
            blocked: false,
            evtchn: VcpuEvtchn::default(),
            processor: 0,
            affinity_hard: CpuMask::ALL,
            affinity_soft: CpuMask::ALL,
            arch: PvVcpu::default(),
            hcall_preempted: false,
            mc_state: crate::pv::hypercall::continuation::McState::default(),
        }
    }

    /// The L4 the vCPU runs on in its current mode.
    #[must_use]
    pub fn current_table(&self) -> Option<Mfn> {
        self.arch.current_table()
    }
}

/// Why a domain stopped (`SHUTDOWN_*` plus a crash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    /// `SHUTDOWN_poweroff`.
    Poweroff,
    /// `SHUTDOWN_reboot`.
    Reboot,
    /// `SHUTDOWN_suspend`.
    Suspend,
    /// `SHUTDOWN_crash` or a crash forced by the hypervisor.
    Crash,
    /// `SHUTDOWN_watchdog`.
    Watchdog,
    /// `SHUTDOWN_soft_reset`.
    SoftReset,
}

impl ShutdownReason {
    /// Xen's `SHUTDOWN_*` code of this reason.
    #[must_use]
    pub const fn code(self) -> u32 {
        match self {
            Self::Poweroff => 0,
            Self::Reboot => 1,
            Self::Suspend => 2,
            Self::Crash => 3,
            Self::Watchdog => 4,
            Self::SoftReset => 5,
        }
    }

    /// The reason for `SHUTDOWN_*` code `code`.
    #[must_use]
    pub const fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::Poweroff,
            1 => Self::Reboot,
            2 => Self::Suspend,
            3 => Self::Crash,
            4 => Self::Watchdog,
            5 => Self::SoftReset,
            _ => return None,
        })
    }

    /// Xen's name as printed in its logs.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Poweroff => "poweroff",
            Self::Reboot => "reboot",
            Self::Suspend => "suspend",
            Self::Crash => "crash",
            Self::Watchdog => "watchdog",
            Self::SoftReset => "soft_reset",
        }
    }
}

/// How far a domain's destruction has come (Xen's `is_dying`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dying {
    /// Alive (`DOMDYING_alive`).
    #[default]
    Alive,
    /// Being torn down: no new vCPU runs, no new mappings or references
    /// (`DOMDYING_dying`).
    Dying,
    /// Every resource relinquished; only the table entry and outstanding
    /// references remain (`DOMDYING_dead`).
    Dead,
}

/// A domain (Xen's `struct domain`).
#[derive(Clone, Debug)]
pub struct Domain {
    /// Domain id.
    pub id: DomId,
    /// Control-domain privilege (`is_privileged`): dom0. Privilege
    /// decisions go through [`super::xsm::Xsm`], which reads this.
    pub privileged: bool,
    /// The toolstack's 16-byte handle (`XEN_DOMCTL_setdomainhandle`, the
    /// domain's UUID to `xm`).
    pub handle: [u8; 16],
    /// Controller pauses outstanding (`controller_pause_count`): the
    /// domain's vCPUs run only while it is 0.
    pub pause_count: u32,
    /// Whether the vCPUs exist for the toolstack (Xen 4.17's `d->vcpu[i]`
    /// non-NULL): a domain from `createdomain` has none until
    /// `XEN_DOMCTL_max_vcpus`, and vCPU domctls on it are `-EINVAL` until
    /// then. The `vcpus` vector is allocated at creation all the same.
    pub vcpus_created: bool,
    /// Destruction state.
    pub dying: Dying,
    /// The access-control label (sHype/ACM `ssidref`; 0 = none).
    pub ssidref: u32,
    /// Machine frame of the shared-info page.
    pub shared_info: Mfn,
    /// Pages allocated to the domain (`tot_pages`).
    pub tot_pages: u64,
    /// Allocation limit (`max_pages`).
    pub max_pages: u64,
    /// Pages claimed for the domain and not yet allocated
    /// (`outstanding_pages`, [`crate::common::claims`]).
    pub outstanding_pages: u64,
    /// `VMASST_*` bits enabled by `vm_assist`.
    pub vm_assist: u64,
    /// Set once the domain shut down or crashed.
    pub shutdown: Option<ShutdownReason>,
    /// Grant-table frames, shared with the guest.
    pub grant_frames: Vec<Mfn>,
    /// Grant status frames (version 2 only), shared with the guest.
    pub grant_status_frames: Vec<Mfn>,
    /// Most grant-table frames the domain may set up.
    pub max_grant_frames: u32,
    /// Active grant entries and the maptrack table
    /// ([`super::grant_table`]).
    pub grant: super::grant_table::GrantTable,
    /// The vCPUs.
    pub vcpus: Vec<Vcpu>,
    /// The event-channel ports (`d->evtchn`).
    pub evtchn: EvtchnTable,
    /// vCPUs (bit per index) that an event, a wake-up or a state change
    /// concerns and that the machine layer must make look at it (Xen's
    /// `vcpu_kick`): a vCPU running elsewhere is interrupted, a blocked one
    /// woken. Drained by the machine layer.
    pub kick_mask: u64,
    /// `XEN_DOMCTL_CDF_*` the domain was created with (`d->options`).
    pub options: u32,
    /// `XEN_X86_EMU_*` devices emulated for it (`arch.emulation_flags`).
    pub emulation_flags: u32,
    /// Creation completed: the controller's first unpause happened
    /// (`creation_finished`).
    pub creation_finished: bool,
    /// Under a debugger (`XEN_DOMCTL_setdebugging`, `debugger_attached`).
    pub debugger_attached: bool,
    /// Seconds added to the wallclock the domain sees
    /// (`XEN_DOMCTL_settimeoffset`, `time_offset.seconds`).
    pub time_offset_seconds: i64,
    /// Highest event-channel port the domain may use (`max_evtchn_port`
    /// of `createdomain`).
    pub max_evtchn_port: u32,
    /// Most grant maptrack frames (`max_maptrack_frames`).
    pub max_maptrack_frames: u32,
    /// Credit-scheduler weight and cap (`XEN_DOMCTL_SCHEDOP_putinfo`).
    pub sched_credit: CreditParams,
    /// sEDF parameters (`XEN_DOMCTL_SCHEDOP_putinfo` under `sched=sedf`;
    /// a weight-driven domain's slice as the scheduler computed it).
    pub sched_sedf: SedfParams,
    /// Machine frames the domain may map as I/O memory (`iomem_caps`).
    pub iomem_caps: RangeSet,
    /// I/O ports the domain may access (`arch.ioport_caps`).
    pub ioport_caps: RangeSet,
    /// Physical IRQs the domain may use (`irq_caps`).
    pub irq_caps: RangeSet,
}

impl Domain {
    /// A domain with one vCPU, `shared_info` and no pages yet.
    #[must_use]
    pub fn new(id: DomId, privileged: bool, shared_info: Mfn) -> Self {
        Self {
            id,
            privileged,
            handle: [0; 16],
            pause_count: 0,
            vcpus_created: true,
            dying: Dying::Alive,
            ssidref: 0,
            shared_info,
            tot_pages: 0,
            max_pages: 0,
            outstanding_pages: 0,
            vm_assist: 0,
            shutdown: None,
            grant_frames: Vec::new(),
            grant_status_frames: Vec::new(),
            max_grant_frames: 32,
            grant: super::grant_table::GrantTable::default(),
            vcpus: alloc::vec![Vcpu::new(VcpuId(0))],
            evtchn: EvtchnTable::new(),
            kick_mask: 0,
            options: 0,
            emulation_flags: 0,
            creation_finished: true,
            debugger_attached: false,
            time_offset_seconds: 0,
            max_evtchn_port: guest_abi::event_channel::EVTCHN_2L_NR_CHANNELS.saturating_sub(1),
            max_maptrack_frames: 1024,
            sched_credit: CreditParams::default(),
            sched_sedf: SedfParams::default(),
            iomem_caps: RangeSet::new(),
            ioport_caps: RangeSet::new(),
            irq_caps: RangeSet::new(),
        }
    }

    /// Gives the domain `n` vCPUs (Xen's `max_vcpus`): the ones added are
    /// down and uninitialised until `VCPUOP_initialise` and `VCPUOP_up`.
    /// Never removes vCPUs.
    pub fn set_max_vcpus(&mut self, n: usize) {
        while self.vcpus.len() < n {
            let id = VcpuId(u32::try_from(self.vcpus.len()).unwrap_or(u32::MAX));
            let mut v = Vcpu::new(id);
            v.down = true;
            v.initialised = false;
            // Offline until their first run, as Xen starts every vCPU
            // (vCPU 0 runs from the start here).
            v.runstate.state = guest_abi::vcpu::RunState::Offline;
            self.vcpus.push(v);
        }
    }

    /// Asks the machine layer to make vCPU `index` look at its state
    /// (`vcpu_kick`); indexes past 63 are not tracked.
    pub fn kick(&mut self, index: usize) {
        if let Some(bit) = u32::try_from(index).ok().and_then(|i| 1u64.checked_shl(i)) {
            self.kick_mask |= bit;
        }
    }

    /// Where vCPU `id`'s `vcpu_info` is: the registered area, else its
    /// `shared_info` slot (none for ids from 32 up without a registration).
    #[must_use]
    pub fn vcpu_info_ref(
        &self,
        id: VcpuId,
    ) -> Option<super::event_channel::two_level::VcpuInfoRef> {
        let registered =
            self.vcpus.get(usize::try_from(id.0).unwrap_or(usize::MAX)).and_then(|v| v.vcpu_info);
        registered
            .or_else(|| super::event_channel::two_level::VcpuInfoRef::legacy(self.shared_info, id))
    }

    /// Xen's `domain_shutdown`: records `reason` unless the domain is
    /// already shut down. Returns whether this call shut it down (then the
    /// caller tells the hardware domain, see [`notify_dom_exc`]).
    pub fn begin_shutdown(&mut self, reason: ShutdownReason) -> bool {
        if self.shutdown.is_some() {
            return false;
        }
        self.shutdown = Some(reason);
        true
    }

    /// What access control knows of the domain.
    #[must_use]
    pub fn subject(&self) -> XsmSubject {
        XsmSubject { id: self.id, privileged: self.privileged, ssidref: self.ssidref }
    }

    /// Whether the domain is being or has been destroyed.
    #[must_use]
    pub fn is_dying(&self) -> bool {
        self.dying != Dying::Alive
    }

    /// Whether the domain's vCPUs may run: alive, not shut down, not
    /// paused by the controller.
    #[must_use]
    pub fn is_runnable(&self) -> bool {
        self.dying == Dying::Alive && self.shutdown.is_none() && self.pause_count == 0
    }

    /// Whether `VMASST_TYPE_*` number `ty` is enabled.
    #[must_use]
    pub fn vm_assist_enabled(&self, ty: u32) -> bool {
        ty < 64 && self.vm_assist & (1u64 << ty) != 0
    }
}

/// Tells the hardware domain (dom0) that domain `id` shut down
/// (`VIRQ_DOM_EXC`, as Xen's `domain_shutdown` does). `dom0` is dom0
/// itself when the caller holds it (pass `None` to look it up in
/// `domains`); nothing happens for dom0's own shutdown, which stops the
/// machine.
pub fn notify_dom_exc(
    id: DomId,
    dom0: Option<&mut Domain>,
    domains: &super::domain_table::DomainTable,
    mem: &mut dyn crate::mm::pv::PhysMem,
) {
    if id == DomId(0) {
        return;
    }
    let virq = guest_abi::xen::Virq::DomExc;
    match dom0 {
        Some(d0) => {
            super::event_channel::send_global_virq(d0, mem, virq);
        }
        None => {
            if let Some(cell) = domains.get(DomId(0)) {
                let mut d0 = cell.lock();
                super::event_channel::send_global_virq(&mut d0, mem, virq);
            }
        }
    }
}
