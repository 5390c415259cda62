// SPDX-License-Identifier: GPL-2.0-only
//! The x86 PV parts of domains and vCPUs: what Xen keeps in `struct
//! arch_vcpu` (with its `pv` member) and `struct arch_domain` for a 64-bit
//! PV guest. The common parts ([`Domain`](crate::common::domain::Domain),
//! [`Vcpu`](crate::common::domain::Vcpu)) hold these as their `arch` field.
//!
//! The registers of a running vCPU live in the machine layer's per-CPU frame
//! (Xen's `guest_cpu_user_regs()`); everything else a hypercall or a trap
//! bounce consults is here or in the common part.

use alloc::vec::Vec;

use guest_abi::callback::CallbackType;
use guest_abi::xen::TrapInfo;

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

/// Per-vCPU x86 PV state (Xen's `struct arch_vcpu` with `struct pv_vcpu`).
#[derive(Clone, Debug)]
pub struct PvVcpu {
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
    /// Guest address of the secondary `vcpu_time_info` copy
    /// (`VCPUOP_register_vcpu_time_memory_area`, Xen's `time_info_guest`).
    pub time_guest: Option<u64>,
    /// The registers the vCPU starts with when it first runs (set by
    /// `VCPUOP_initialise`, taken by the machine layer).
    pub start_regs: Option<guest_abi::xen::CpuUserRegs>,
    /// The registers while the vCPU does not run (Xen's
    /// `arch.user_regs`), data selectors included.
    pub user_regs: guest_abi::xen::CpuUserRegs,
    /// The x87/SSE state while the vCPU does not run.
    pub fpu: super::context_switch::FpuArea,
    /// When the machine layer last published the vCPU's pvclock (0: it
    /// must be published before the vCPU runs again).
    pub pvclock_stamp: u64,
    /// The last full computation of its return timer work (the machine
    /// layer's; see [`crate::time::exit_memo`]).
    pub exit_memo: crate::time::exit_memo::ExitMemo,
    /// The vCPU's GDT or LDT changed while it was not running on its CPU:
    /// the CPU's copies must be reloaded before it runs again.
    pub reload_descriptors: bool,
}

impl Default for PvVcpu {
    /// A fresh vCPU: kernel mode, no tables, empty trap table.
    fn default() -> Self {
        Self {
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
            debugreg: super::debugreg::INITIAL,
            cr4: 0,
            gdt_frames: Vec::new(),
            gdt_ents: 0,
            ldt_frames: Vec::new(),
            time_guest: None,
            start_regs: None,
            user_regs: bytemuck::Zeroable::zeroed(),
            fpu: super::context_switch::FpuArea::initial(),
            pvclock_stamp: 0,
            exit_memo: crate::time::exit_memo::ExitMemo::default(),
            reload_descriptors: false,
        }
    }
}

impl PvVcpu {
    /// The L4 the vCPU runs on in its current mode (`pagetable_get_mfn` of
    /// `guest_table` or `guest_table_user`).
    #[must_use]
    pub fn current_table(&self) -> Option<Mfn> {
        if self.kernel_mode { self.tables.guest_table } else { self.tables.guest_table_user }
    }
}
