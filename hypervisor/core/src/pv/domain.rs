// SPDX-License-Identifier: GPL-2.0-only
//! Domains and their PV vCPUs: the state Xen keeps in `struct domain` and
//! `struct vcpu` (with `arch.pv`) for a 64-bit PV guest.
//!
//! The registers of a running vCPU live in the machine layer's per-CPU frame
//! (Xen's `guest_cpu_user_regs()`); everything else a hypercall or a trap
//! bounce consults is here.

use alloc::vec::Vec;

use guest_abi::callback::CallbackType;
use guest_abi::xen::{DomId, TrapInfo, VcpuId};

use super::event_channel::{EvtchnTable, VcpuEvtchn};
use crate::mm::Mfn;
use crate::mm::pv::VcpuTables;

/// A registered guest callback (`callback_register`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Callback {
    /// Guest address of the entry point; 0 = none.
    pub address: u64,
    /// Deliver with events masked (`CALLBACKF_mask_events`).
    pub mask_events: bool,
}

/// The callbacks of one vCPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Callbacks {
    /// `CALLBACKTYPE_event`: event-channel upcall.
    pub event: Callback,
    /// `CALLBACKTYPE_failsafe`: bad segment on return to the guest.
    pub failsafe: Callback,
    /// `CALLBACKTYPE_syscall`: 64-bit `SYSCALL` from guest user mode.
    pub syscall: Callback,
    /// `CALLBACKTYPE_syscall32`: `SYSCALL` from 32-bit guest user code.
    pub syscall32: Callback,
    /// `CALLBACKTYPE_sysenter`: `SYSENTER` from guest user mode.
    pub sysenter: Callback,
    /// `CALLBACKTYPE_nmi`: NMI delivery.
    pub nmi: Callback,
}

impl Callbacks {
    /// The slot of callback type `ty`, if it is one a 64-bit guest can register.
    pub fn slot_mut(&mut self, ty: CallbackType) -> Option<&mut Callback> {
        match ty {
            CallbackType::Event => Some(&mut self.event),
            CallbackType::Failsafe => Some(&mut self.failsafe),
            CallbackType::Syscall => Some(&mut self.syscall),
            CallbackType::Syscall32 => Some(&mut self.syscall32),
            CallbackType::Sysenter => Some(&mut self.sysenter),
            CallbackType::Nmi => Some(&mut self.nmi),
            CallbackType::SysenterDeprecated => None,
        }
    }
}

/// Per-vCPU PV state (Xen's `struct pv_vcpu` and friends).
#[derive(Clone, Debug)]
pub struct PvVcpu {
    /// vCPU number within the domain.
    pub id: VcpuId,
    /// Guest-kernel mode (`TF_kernel_mode`): selects `guest_table` and the
    /// kernel GS base; otherwise guest-user mode.
    pub kernel_mode: bool,
    /// Page-table bases and LDT.
    pub tables: VcpuTables,
    /// Virtual IDT (`set_trap_table`), by vector.
    pub trap_ctxt: [TrapInfo; 256],
    /// Callbacks.
    pub callbacks: Callbacks,
    /// Kernel stack selector for bounces from user mode (`stack_switch`).
    pub kernel_ss: u64,
    /// Kernel stack pointer for bounces from user mode (`stack_switch`).
    pub kernel_sp: u64,
    /// FS base (MSR value while the vCPU is not running).
    pub fs_base: u64,
    /// Guest-kernel GS base, when not loaded.
    pub gs_base_kernel: u64,
    /// Guest-user GS base, when not loaded.
    pub gs_base_user: u64,
    /// Virtual IOPL (`PHYSDEVOP_set_iopl`), 0–3.
    pub iopl: u32,
    /// Virtual CR0.TS (`fpu_taskswitch`).
    pub fpu_ts: bool,
    /// Virtual CR2 (last page-fault address bounced).
    pub cr2: u64,
    /// Virtual debug registers (`set_debugreg`).
    pub debugreg: [u64; 8],
    /// Guest-controlled virtual CR4 bits (Xen's `pv.ctrlreg[4]` within
    /// `PV_CR4_GUEST_MASK`: TSD, DE, FSGSBASE, OSXSAVE); the other CR4 bits
    /// a guest reads are the hypervisor's (see `emulate`).
    pub cr4: u64,
    /// GDT frames (`set_gdt`) and entry count.
    pub gdt_frames: Vec<Mfn>,
    /// Number of GDT entries.
    pub gdt_ents: u32,
    /// The frames behind the LDT's pages (`MMUEXT_SET_LDT`), each holding a
    /// `SegDesc` type reference; `None` where the guest's page could not be
    /// used as a descriptor page (its descriptors read as not present).
    pub ldt_frames: Vec<Option<Mfn>>,
    /// Single-shot and periodic timers.
    pub timers: super::time::VcpuTimers,
    /// Runstate accounting.
    pub runstate: super::runstate::Runstate,
    /// Guest address of the registered runstate area, if any.
    pub runstate_guest: Option<u64>,
    /// Guest address of the secondary `vcpu_time_info` copy
    /// (`VCPUOP_register_vcpu_time_memory_area`, Xen's `time_info_guest`).
    pub time_guest: Option<u64>,
    /// Taken down by `VCPUOP_down` (`_VPF_down`); secondary vCPUs start
    /// down until `VCPUOP_up`.
    pub down: bool,
    /// Has a context (`is_initialised`): by the domain builder for vCPU 0,
    /// by `VCPUOP_initialise` for the others.
    pub initialised: bool,
    /// The registers the vCPU starts with when it first runs (set by
    /// `VCPUOP_initialise`, taken by the machine layer).
    pub start_regs: Option<guest_abi::xen::CpuUserRegs>,
    /// The vCPU's GDT or LDT changed while it was not running on its CPU:
    /// the CPU's copies must be reloaded before it runs again.
    pub reload_descriptors: bool,
    /// The `vcpu_info` placed by `VCPUOP_register_vcpu_info` (its frame
    /// holds a `Writable` type reference); `None`: the `shared_info` slot.
    pub vcpu_info: Option<super::event_channel::two_level::VcpuInfoRef>,
    /// The vCPU is blocked (`SCHEDOP_block`, `SCHEDOP_poll`) until an event
    /// kicks it (see [`super::event_channel::vcpu_should_wake`]).
    pub blocked: bool,
    /// VIRQ bindings and the `SCHEDOP_poll` state.
    pub evtchn: VcpuEvtchn,
}

impl PvVcpu {
    /// A fresh vCPU: kernel mode, no tables, empty trap table.
    #[must_use]
    pub fn new(id: VcpuId) -> Self {
        Self {
            id,
            kernel_mode: true,
            tables: VcpuTables::default(),
            trap_ctxt: [TrapInfo { vector: 0, flags: 0, cs: 0, pad0: 0, address: 0 }; 256],
            callbacks: Callbacks::default(),
            kernel_ss: 0,
            kernel_sp: 0,
            fs_base: 0,
            gs_base_kernel: 0,
            gs_base_user: 0,
            iopl: 0,
            fpu_ts: false,
            cr2: 0,
            debugreg: [0; 8],
            cr4: 0,
            gdt_frames: Vec::new(),
            gdt_ents: 0,
            ldt_frames: Vec::new(),
            timers: super::time::VcpuTimers::default(),
            runstate: super::runstate::Runstate::default(),
            runstate_guest: None,
            time_guest: None,
            down: false,
            initialised: true,
            start_regs: None,
            reload_descriptors: false,
            vcpu_info: None,
            blocked: false,
            evtchn: VcpuEvtchn::default(),
        }
    }

    /// The L4 the vCPU runs on in its current mode (`pagetable_get_mfn` of
    /// `guest_table` or `guest_table_user`).
    #[must_use]
    pub fn current_table(&self) -> Option<Mfn> {
        if self.kernel_mode { self.tables.guest_table } else { self.tables.guest_table_user }
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

/// A PV domain (Xen's `struct domain`).
#[derive(Clone, Debug)]
pub struct Domain {
    /// Domain id.
    pub id: DomId,
    /// Control-domain privilege (`is_privileged`): dom0.
    pub privileged: bool,
    /// Machine frame of the shared-info page.
    pub shared_info: Mfn,
    /// Pages allocated to the domain (`tot_pages`).
    pub tot_pages: u64,
    /// Allocation limit (`max_pages`).
    pub max_pages: u64,
    /// `VMASST_*` bits enabled by `vm_assist`.
    pub vm_assist: u64,
    /// Set once the domain shut down or crashed.
    pub shutdown: Option<ShutdownReason>,
    /// Grant-table frames (version 1), shared with the guest.
    pub grant_frames: Vec<Mfn>,
    /// Most grant-table frames the domain may set up.
    pub max_grant_frames: u32,
    /// The vCPUs.
    pub vcpus: Vec<PvVcpu>,
    /// The event-channel ports (`d->evtchn`).
    pub evtchn: EvtchnTable,
    /// vCPUs (bit per index) that an event, a wake-up or a state change
    /// concerns and that the machine layer must make look at it (Xen's
    /// `vcpu_kick`): a vCPU running elsewhere is interrupted, a blocked one
    /// woken. Drained by the machine layer.
    pub kick_mask: u64,
}

impl Domain {
    /// A domain with one vCPU, `shared_info` and no pages yet.
    #[must_use]
    pub fn new(id: DomId, privileged: bool, shared_info: Mfn) -> Self {
        Self {
            id,
            privileged,
            shared_info,
            tot_pages: 0,
            max_pages: 0,
            vm_assist: 0,
            shutdown: None,
            grant_frames: Vec::new(),
            max_grant_frames: 32,
            vcpus: alloc::vec![PvVcpu::new(VcpuId(0))],
            evtchn: EvtchnTable::new(),
            kick_mask: 0,
        }
    }

    /// Gives the domain `n` vCPUs (Xen's `max_vcpus`): the ones added are
    /// down and uninitialised until `VCPUOP_initialise` and `VCPUOP_up`.
    /// Never removes vCPUs.
    pub fn set_max_vcpus(&mut self, n: usize) {
        while self.vcpus.len() < n {
            let id = VcpuId(u32::try_from(self.vcpus.len()).unwrap_or(u32::MAX));
            let mut v = PvVcpu::new(id);
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

    /// Whether `VMASST_TYPE_*` number `ty` is enabled.
    #[must_use]
    pub fn vm_assist_enabled(&self, ty: u32) -> bool {
        ty < 64 && self.vm_assist & (1u64 << ty) != 0
    }
}
