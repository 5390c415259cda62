// SPDX-License-Identifier: GPL-2.0-only
//! Core guest interface (`xen.h`): hypercalls, errno, boot and shared data.
//!
//! Mirrors `xen/include/public/xen.h` together with the x86_64 parts of
//! `arch-x86/xen.h` and `arch-x86/xen-x86_64.h` (in the private `arch_x86`
//! submodule, re-exported here) and `errno.h` ([`Errno`]).
//!
//! What lives here:
//!
//! * [`Hypercall`] — every `__HYPERVISOR_*` number;
//! * [`Errno`] — the error numbers hypercalls return negated;
//! * id newtypes [`DomId`], [`VcpuId`], [`Mfn`], [`Pfn`], [`EvtchnPort`],
//!   [`GrantRef`] and the reserved `DOMID_*` values;
//! * start-of-day data: [`StartInfo`] (`SIF_*` flags), [`SharedInfo`],
//!   [`VcpuInfo`], [`VcpuTimeInfo`];
//! * MMU interfaces: [`MmuUpdate`] ([`MmuUpdateCmd`]), [`MmuextOp`]
//!   ([`MmuextCmd`]), `UVMF_*` flags of `update_va_mapping`;
//! * [`MulticallEntry`], [`Virq`], [`ConsoleIoCmd`], `vm_assist` numbers;
//! * x86_64 specifics: address split (`HYPERVISOR_VIRT_START`, M2P window),
//!   flat selectors, [`TrapInfo`], [`CpuUserRegs`], [`VcpuGuestContext`],
//!   [`IretContext`], `VGCF_*` flags, [`SegBase`].
//!
//! Scheduler shutdown reasons (`SHUTDOWN_*`) are in [`crate::sched`], next to
//! `SCHEDOP_shutdown`, as in Xen's `sched.h`.
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

mod arch_x86;
mod errno;

pub use self::arch_x86::*;
pub use self::errno::Errno;

use crate::unions::StartInfoConsole;
use bytemuck::{Pod, Zeroable};

// ---------------------------------------------------------------------------
// Hypercall numbers
// ---------------------------------------------------------------------------

abi_enum! {
    /// Hypercall numbers (`__HYPERVISOR_*`): the value in `%rax` at the
    /// `SYSCALL`, and the index of the 32-byte stub in the hypercall page.
    ///
    /// Arguments are in `%rdi`, `%rsi`, `%rdx`, `%r10`, `%r8` (and `%r9`);
    /// the result is returned in `%rax`. Number 11 and 43–47 are unassigned.
    pub enum Hypercall: u32 {
        /// `set_trap_table(const trap_info_t traps[])`: install the virtual
        /// IDT ([`TrapInfo`]).
        SetTrapTable = 0 => "__HYPERVISOR_set_trap_table",
        /// `mmu_update(const mmu_update_t reqs[], unsigned count,
        /// unsigned *done, unsigned foreigndom)` ([`MmuUpdate`]).
        MmuUpdate = 1 => "__HYPERVISOR_mmu_update",
        /// `set_gdt(const xen_pfn_t frames[], unsigned entries)`.
        SetGdt = 2 => "__HYPERVISOR_set_gdt",
        /// `stack_switch(unsigned long ss, unsigned long sp)`: the kernel
        /// stack used on guest user → kernel transitions.
        StackSwitch = 3 => "__HYPERVISOR_stack_switch",
        /// Legacy `set_callbacks(event, failsafe, syscall)` (x86_64 form).
        SetCallbacks = 4 => "__HYPERVISOR_set_callbacks",
        /// `fpu_taskswitch(int set)`: set (non-zero) or clear `CR0.TS`.
        FpuTaskswitch = 5 => "__HYPERVISOR_fpu_taskswitch",
        /// Legacy `sched_op(int cmd, unsigned long arg)`, superseded by
        /// [`Hypercall::SchedOp`] since interface 0x00030101.
        SchedOpCompat = 6 => "__HYPERVISOR_sched_op_compat",
        /// `platform_op(xen_platform_op_t *op)` (dom0 only; was `dom0_op`).
        PlatformOp = 7 => "__HYPERVISOR_platform_op",
        /// `set_debugreg(int reg, unsigned long value)`.
        SetDebugreg = 8 => "__HYPERVISOR_set_debugreg",
        /// `get_debugreg(int reg)`; returns the value or `-EINVAL` cast to
        /// unsigned long.
        GetDebugreg = 9 => "__HYPERVISOR_get_debugreg",
        /// `update_descriptor(u64 maddr, u64 desc)`: write one GDT/LDT entry.
        UpdateDescriptor = 10 => "__HYPERVISOR_update_descriptor",
        /// `memory_op(unsigned cmd, void *arg)` ([`crate::memory`]).
        MemoryOp = 12 => "__HYPERVISOR_memory_op",
        /// `multicall(multicall_entry_t calls[], unsigned long nr)`
        /// ([`MulticallEntry`]).
        Multicall = 13 => "__HYPERVISOR_multicall",
        /// `update_va_mapping(unsigned long va, u64 pte, unsigned long flags)`
        /// (`UVMF_*` flags).
        UpdateVaMapping = 14 => "__HYPERVISOR_update_va_mapping",
        /// `set_timer_op(u64 timeout_abs_ns)`: one-shot timer (0 cancels).
        SetTimerOp = 15 => "__HYPERVISOR_set_timer_op",
        /// Legacy `event_channel_op(evtchn_op_t *op)`, superseded by
        /// [`Hypercall::EventChannelOp`] since interface 0x00030202.
        EventChannelOpCompat = 16 => "__HYPERVISOR_event_channel_op_compat",
        /// `xen_version(int cmd, void *arg)` ([`crate::version`]).
        XenVersion = 17 => "__HYPERVISOR_xen_version",
        /// `console_io(unsigned cmd, unsigned count, char buf[])`
        /// ([`ConsoleIoCmd`]).
        ConsoleIo = 18 => "__HYPERVISOR_console_io",
        /// Legacy `physdev_op(physdev_op_t *op)`, superseded by
        /// [`Hypercall::PhysdevOp`] since interface 0x00030202.
        PhysdevOpCompat = 19 => "__HYPERVISOR_physdev_op_compat",
        /// `grant_table_op(unsigned cmd, void *args, unsigned count)`
        /// ([`crate::grant_table`]).
        GrantTableOp = 20 => "__HYPERVISOR_grant_table_op",
        /// `vm_assist(unsigned cmd, unsigned type)` ([`VmAssistCmd`],
        /// [`VmAssistType`]).
        VmAssist = 21 => "__HYPERVISOR_vm_assist",
        /// `update_va_mapping_otherdomain(va, pte, flags, domid_t domid)`.
        UpdateVaMappingOtherdomain = 22 => "__HYPERVISOR_update_va_mapping_otherdomain",
        /// `iret(void)`: return from a bounced exception or event using the
        /// [`IretContext`] on the guest kernel stack (x86 only).
        Iret = 23 => "__HYPERVISOR_iret",
        /// `vcpu_op(int cmd, unsigned vcpuid, void *arg)` ([`crate::vcpu`]).
        VcpuOp = 24 => "__HYPERVISOR_vcpu_op",
        /// `set_segment_base(unsigned which, unsigned long base)`
        /// ([`SegBase`]; x86_64 only).
        SetSegmentBase = 25 => "__HYPERVISOR_set_segment_base",
        /// `mmuext_op(mmuext_op_t ops[], unsigned count, unsigned *done,
        /// unsigned foreigndom)` ([`MmuextOp`]).
        MmuextOp = 26 => "__HYPERVISOR_mmuext_op",
        /// `xsm_op(void *op)`: security-module operations (was `acm_op`).
        XsmOp = 27 => "__HYPERVISOR_xsm_op",
        /// `nmi_op(unsigned cmd, void *arg)`.
        NmiOp = 28 => "__HYPERVISOR_nmi_op",
        /// `sched_op(int cmd, void *arg)` ([`crate::sched`]).
        SchedOp = 29 => "__HYPERVISOR_sched_op",
        /// `callback_op(int cmd, void *arg)` ([`crate::callback`]).
        CallbackOp = 30 => "__HYPERVISOR_callback_op",
        /// `xenoprof_op(int op, void *arg)` (removed in Xen 4.22).
        XenoprofOp = 31 => "__HYPERVISOR_xenoprof_op",
        /// `event_channel_op(int cmd, void *arg)` ([`crate::event_channel`]).
        EventChannelOp = 32 => "__HYPERVISOR_event_channel_op",
        /// `physdev_op(int cmd, void *arg)` ([`crate::physdev`]).
        PhysdevOp = 33 => "__HYPERVISOR_physdev_op",
        /// `hvm_op(unsigned long op, void *arg)`.
        HvmOp = 34 => "__HYPERVISOR_hvm_op",
        /// `sysctl(xen_sysctl_t *op)` (toolstack).
        Sysctl = 35 => "__HYPERVISOR_sysctl",
        /// `domctl(xen_domctl_t *op)` (toolstack).
        Domctl = 36 => "__HYPERVISOR_domctl",
        /// `kexec_op(unsigned long op, void *arg)`.
        KexecOp = 37 => "__HYPERVISOR_kexec_op",
        /// `tmem_op` (transcendent memory; removed, number reserved).
        TmemOp = 38 => "__HYPERVISOR_tmem_op",
        /// `argo_op` (inter-domain messaging).
        ArgoOp = 39 => "__HYPERVISOR_argo_op",
        /// `xenpmu_op(unsigned op, void *arg)` (performance counters).
        XenpmuOp = 40 => "__HYPERVISOR_xenpmu_op",
        /// `dm_op(domid_t domid, unsigned nr_bufs, xen_dm_op_buf_t bufs[])`.
        DmOp = 41 => "__HYPERVISOR_dm_op",
        /// `hypfs_op(unsigned cmd, const char *path, ...)`.
        HypfsOp = 42 => "__HYPERVISOR_hypfs_op",
        /// `mca(xen_mc_t *op)`: machine-check access (x86 `arch_0`).
        #[doc(alias = "__HYPERVISOR_arch_0")]
        Mca = 48 => "__HYPERVISOR_mca",
        /// Continuation of a preempted paging domctl (x86 `arch_1`; the name
        /// is Xen-internal, from `asm/hypercall.h`).
        #[doc(alias = "__HYPERVISOR_arch_1")]
        PagingDomctlCont = 49 => "__HYPERVISOR_paging_domctl_cont",
        /// Architecture-specific hypercall 2 (unused on x86).
        Arch2 = 50 => "__HYPERVISOR_arch_2",
        /// Architecture-specific hypercall 3 (unused on x86).
        Arch3 = 51 => "__HYPERVISOR_arch_3",
        /// Architecture-specific hypercall 4 (unused on x86).
        Arch4 = 52 => "__HYPERVISOR_arch_4",
        /// Architecture-specific hypercall 5 (unused on x86).
        Arch5 = 53 => "__HYPERVISOR_arch_5",
        /// Architecture-specific hypercall 6 (unused on x86).
        Arch6 = 54 => "__HYPERVISOR_arch_6",
        /// Architecture-specific hypercall 7 (unused on x86).
        Arch7 = 55 => "__HYPERVISOR_arch_7",
    }
}

// ---------------------------------------------------------------------------
// Identifier newtypes
// ---------------------------------------------------------------------------

/// Defines a transparent newtype over an ABI integer.
macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Pod, Zeroable,
        )]
        #[repr(transparent)]
        pub struct $name(pub $inner);

        impl From<$inner> for $name {
            fn from(value: $inner) -> Self {
                Self(value)
            }
        }

        impl From<$name> for $inner {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl crate::AbiBytes for $name {}

        const _: () = assert!(
            core::mem::size_of::<$name>() == core::mem::size_of::<$inner>()
        );
    };
}

id_newtype! {
    /// A domain id (`domid_t`, 16 bits). Values from
    /// [`DOMID_FIRST_RESERVED`] up are reserved names, not domains.
    #[doc(alias = "domid_t")]
    DomId(u16)
}

id_newtype! {
    /// A virtual CPU number within a domain (the `unsigned int vcpu` /
    /// `vcpuid` arguments).
    VcpuId(u32)
}

id_newtype! {
    /// A machine frame number (`xen_pfn_t` holding an MFN): host physical
    /// address >> 12.
    Mfn(u64)
}

id_newtype! {
    /// A pseudo-physical (guest) frame number (`xen_pfn_t` holding a PFN or
    /// GFN): the index into the guest's P2M.
    #[doc(alias = "xen_pfn_t")]
    Pfn(u64)
}

id_newtype! {
    /// An event-channel port number (`evtchn_port_t`).
    #[doc(alias = "evtchn_port_t")]
    EvtchnPort(u32)
}

id_newtype! {
    /// A grant reference: an index into a domain's grant table
    /// (`grant_ref_t`).
    #[doc(alias = "grant_ref_t")]
    GrantRef(u32)
}

impl DomId {
    /// The calling domain ([`DOMID_SELF`]).
    pub const SELF: Self = Self(0x7FF0);
    /// Restrict mappings to I/O memory ([`DOMID_IO`]).
    pub const IO: Self = Self(0x7FF1);
    /// Xen itself, for mapping its heap ([`DOMID_XEN`]).
    pub const XEN: Self = Self(0x7FF2);
    /// Owner of shared (copy-on-write) pages ([`DOMID_COW`]).
    pub const COW: Self = Self(0x7FF3);
    /// Owner of pages whose owner is unknown ([`DOMID_INVALID`]).
    pub const INVALID: Self = Self(0x7FF4);
    /// "Any domain": let the handler pick ([`DOMID_ANY`]).
    pub const ANY: Self = Self(0x7FF5);
    /// The idle domain ([`DOMID_IDLE`]).
    pub const IDLE: Self = Self(0x7FFF);

    /// Whether this is a reserved id rather than a real domain.
    #[must_use]
    pub const fn is_reserved(self) -> bool {
        self.0 >= DOMID_FIRST_RESERVED.0
    }
}

/// Domain ids at or above this value are reserved names.
pub const DOMID_FIRST_RESERVED: DomId = DomId(0x7FF0);
/// The calling domain.
pub const DOMID_SELF: DomId = DomId::SELF;
/// As `foreigndom` of `mmu_update`: permit only I/O mappings.
pub const DOMID_IO: DomId = DomId::IO;
/// As `foreigndom`: map restricted parts of Xen's heap (privileged only).
pub const DOMID_XEN: DomId = DomId::XEN;
/// Owner of sharable pages.
pub const DOMID_COW: DomId = DomId::COW;
/// Marks pages with an unknown owner.
pub const DOMID_INVALID: DomId = DomId::INVALID;
/// No specific domain requested; the handler chooses or treats it as a
/// wildcard.
pub const DOMID_ANY: DomId = DomId::ANY;
/// The idle domain.
pub const DOMID_IDLE: DomId = DomId::IDLE;
/// Mask of the valid bits of a domain id.
pub const DOMID_MASK: u16 = 0x7FFF;

// ---------------------------------------------------------------------------
// Virtual interrupts
// ---------------------------------------------------------------------------

abi_enum! {
    /// Virtual interrupt sources a guest can bind with
    /// `EVTCHNOP_bind_virq` (`VIRQ_*`).
    pub enum Virq: u32 {
        /// Per-vCPU: timebase update and/or requested timeout.
        Timer = 0 => "VIRQ_TIMER",
        /// Per-vCPU: request to dump debug information.
        Debug = 1 => "VIRQ_DEBUG",
        /// Global: bytes received on the emergency console (dom0).
        Console = 2 => "VIRQ_CONSOLE",
        /// Global: exceptional event for some domain (dom0).
        DomExc = 3 => "VIRQ_DOM_EXC",
        /// Global: trace buffer has records.
        Tbuf = 4 => "VIRQ_TBUF",
        /// Global: a domain paused for debugging.
        Debugger = 6 => "VIRQ_DEBUGGER",
        /// Per-vCPU: oprofile sample available.
        Xenoprof = 7 => "VIRQ_XENOPROF",
        /// Global: bytes received on the console ring.
        ConRing = 8 => "VIRQ_CON_RING",
        /// Global: physical CPU state changed.
        PcpuState = 9 => "VIRQ_PCPU_STATE",
        /// Global: a memory event occurred.
        MemEvent = 10 => "VIRQ_MEM_EVENT",
        /// Per-domain: Argo message notification.
        Argo = 11 => "VIRQ_ARGO",
        /// Global: Xen is low on heap memory.
        Enomem = 12 => "VIRQ_ENOMEM",
        /// Per-vCPU: performance-counter interrupt.
        Xenpmu = 13 => "VIRQ_XENPMU",
        /// Global: machine-check event (x86 `VIRQ_ARCH_0`).
        #[doc(alias = "VIRQ_ARCH_0")]
        Mca = 16 => "VIRQ_MCA",
        /// Architecture-specific VIRQ 1.
        Arch1 = 17 => "VIRQ_ARCH_1",
        /// Architecture-specific VIRQ 2.
        Arch2 = 18 => "VIRQ_ARCH_2",
        /// Architecture-specific VIRQ 3.
        Arch3 = 19 => "VIRQ_ARCH_3",
        /// Architecture-specific VIRQ 4.
        Arch4 = 20 => "VIRQ_ARCH_4",
        /// Architecture-specific VIRQ 5.
        Arch5 = 21 => "VIRQ_ARCH_5",
        /// Architecture-specific VIRQ 6.
        Arch6 = 22 => "VIRQ_ARCH_6",
        /// Architecture-specific VIRQ 7.
        Arch7 = 23 => "VIRQ_ARCH_7",
    }
}

/// Number of VIRQ slots (valid VIRQs are below this).
pub const NR_VIRQS: u32 = 24;

/// How a [`Virq`] may be bound (the V/D/G classes of `xen.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VirqKind {
    /// Bound once per vCPU, each on its own port; never rebound.
    PerVcpu,
    /// Bound once per domain, first on vCPU 0, may then be moved.
    PerDomain,
    /// Like per-domain, but only one domain at a time may bind it.
    Global,
}

impl Virq {
    /// The binding class of this VIRQ (architecture VIRQs are global on x86).
    #[must_use]
    pub const fn kind(self) -> VirqKind {
        match self {
            Self::Timer | Self::Debug | Self::Xenoprof | Self::Xenpmu => VirqKind::PerVcpu,
            Self::Argo => VirqKind::PerDomain,
            _ => VirqKind::Global,
        }
    }
}

// ---------------------------------------------------------------------------
// mmu_update
// ---------------------------------------------------------------------------

abi_enum! {
    /// The command in bits 1:0 of [`MmuUpdate::ptr`] (`MMU_*`).
    pub enum MmuUpdateCmd: u32 {
        /// Checked `*ptr = val`, `ptr` a machine address of a PTE.
        NormalPtUpdate = 0 => "MMU_NORMAL_PT_UPDATE",
        /// Set the M2P entry of the frame containing `ptr` to `val`.
        MachphysUpdate = 1 => "MMU_MACHPHYS_UPDATE",
        /// As `NormalPtUpdate`, keeping the PTE's current Accessed/Dirty
        /// bits (ORed into `val`).
        PtUpdatePreserveAd = 2 => "MMU_PT_UPDATE_PRESERVE_AD",
        /// As `NormalPtUpdate`, but `val` is never translated through the
        /// foreign domain's page tables.
        PtUpdateNoTranslate = 3 => "MMU_PT_UPDATE_NO_TRANSLATE",
    }
}

/// Mask of the command bits in [`MmuUpdate::ptr`].
pub const MMU_UPDATE_CMD_MASK: u64 = 3;

/// One request of `HYPERVISOR_mmu_update` (`mmu_update_t`).
///
/// `foreigndom` (4th argument): bits 15:0 = FD, owner of the data pages
/// referenced (or `DOMID_SELF`); bits 31:16 = PFD + 1, owner of the page-table
/// pages (0 = `DOMID_SELF`).
#[doc(alias = "mmu_update")]
#[doc(alias = "mmu_update_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct MmuUpdate {
    /// IN: machine address of the PTE (or frame) with the
    /// [`MmuUpdateCmd`] in bits 1:0.
    pub ptr: u64,
    /// IN: new PTE contents (or new M2P value).
    pub val: u64,
}
abi_layout!(MmuUpdate: size 16, ptr @ 0, val @ 8);

impl MmuUpdate {
    /// The command encoded in bits 1:0 of `ptr`.
    #[must_use]
    pub const fn cmd(&self) -> MmuUpdateCmd {
        match self.ptr & MMU_UPDATE_CMD_MASK {
            0 => MmuUpdateCmd::NormalPtUpdate,
            1 => MmuUpdateCmd::MachphysUpdate,
            2 => MmuUpdateCmd::PtUpdatePreserveAd,
            _ => MmuUpdateCmd::PtUpdateNoTranslate,
        }
    }

    /// The machine address in `ptr`, command bits cleared.
    #[must_use]
    pub const fn address(&self) -> u64 {
        self.ptr & !MMU_UPDATE_CMD_MASK
    }
}

// ---------------------------------------------------------------------------
// mmuext_op
// ---------------------------------------------------------------------------

abi_enum! {
    /// Extended MMU commands of `HYPERVISOR_mmuext_op` (`MMUEXT_*`), in
    /// [`MmuextOp::cmd`]. The argument each one reads is given per variant.
    pub enum MmuextCmd: u32 {
        /// Pin `mfn` as an L1 page table.
        PinL1Table = 0 => "MMUEXT_PIN_L1_TABLE",
        /// Pin `mfn` as an L2 page table.
        PinL2Table = 1 => "MMUEXT_PIN_L2_TABLE",
        /// Pin `mfn` as an L3 page table.
        PinL3Table = 2 => "MMUEXT_PIN_L3_TABLE",
        /// Pin `mfn` as an L4 page table.
        PinL4Table = 3 => "MMUEXT_PIN_L4_TABLE",
        /// Unpin the page table at `mfn`.
        UnpinTable = 4 => "MMUEXT_UNPIN_TABLE",
        /// Install `mfn` as the (kernel) page-table base.
        NewBaseptr = 5 => "MMUEXT_NEW_BASEPTR",
        /// Flush the local TLB.
        TlbFlushLocal = 6 => "MMUEXT_TLB_FLUSH_LOCAL",
        /// Flush `linear_addr` from the local TLB.
        InvlpgLocal = 7 => "MMUEXT_INVLPG_LOCAL",
        /// Flush the TLBs of the vCPUs in the bitmap at `vcpumask`.
        TlbFlushMulti = 8 => "MMUEXT_TLB_FLUSH_MULTI",
        /// Flush `linear_addr` on the vCPUs in the bitmap at `vcpumask`.
        InvlpgMulti = 9 => "MMUEXT_INVLPG_MULTI",
        /// Flush every vCPU's TLB.
        TlbFlushAll = 10 => "MMUEXT_TLB_FLUSH_ALL",
        /// Flush `linear_addr` on every vCPU.
        InvlpgAll = 11 => "MMUEXT_INVLPG_ALL",
        /// Write back and invalidate the local caches.
        FlushCache = 12 => "MMUEXT_FLUSH_CACHE",
        /// Load the LDT at page-aligned `linear_addr` with `nr_ents` entries.
        SetLdt = 13 => "MMUEXT_SET_LDT",
        /// Install `mfn` as the user-mode page-table base (x86_64 only).
        NewUserBaseptr = 15 => "MMUEXT_NEW_USER_BASEPTR",
        /// Zero the page `mfn`.
        ClearPage = 16 => "MMUEXT_CLEAR_PAGE",
        /// Copy page `src_mfn` to page `mfn`.
        CopyPage = 17 => "MMUEXT_COPY_PAGE",
        /// Write back and invalidate the caches of all CPUs.
        FlushCacheGlobal = 18 => "MMUEXT_FLUSH_CACHE_GLOBAL",
        /// Mark the superpage headed by `mfn`.
        MarkSuper = 19 => "MMUEXT_MARK_SUPER",
        /// Unmark the superpage headed by `mfn`.
        UnmarkSuper = 20 => "MMUEXT_UNMARK_SUPER",
    }
}

/// One operation of `HYPERVISOR_mmuext_op` (`struct mmuext_op`).
///
/// Xen declares `arg1` and `arg2` as unions; each is stored here as the full
/// 8-byte slot, read through the accessor matching the command:
///
/// * `arg1`: [`mfn`](Self::mfn) (pin/unpin, base pointers, clear/copy page,
///   superpages) or [`linear_addr`](Self::linear_addr) (INVLPG, SET_LDT);
/// * `arg2`: [`nr_ents`](Self::nr_ents) (SET_LDT; a 32-bit member, so only
///   the low half is meaningful), [`vcpumask`](Self::vcpumask) (guest
///   address of a vCPU bitmap, the `*_MULTI` commands) or
///   [`src_mfn`](Self::src_mfn) (COPY_PAGE).
#[doc(alias = "mmuext_op")]
#[doc(alias = "mmuext_op_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct MmuextOp {
    /// IN: an [`MmuextCmd`] number.
    pub cmd: u32,
    /// Padding; zero.
    pub pad0: u32,
    /// IN: first argument union (`mfn` / `linear_addr`).
    pub arg1: u64,
    /// IN: second argument union (`nr_ents` / `vcpumask` / `src_mfn`).
    pub arg2: u64,
}
abi_layout!(MmuextOp: size 24, cmd @ 0, arg1 @ 8, arg2 @ 16);

impl MmuextOp {
    /// Builds an operation from its command and raw argument slots.
    #[must_use]
    pub const fn new(cmd: MmuextCmd, arg1: u64, arg2: u64) -> Self {
        Self { cmd: cmd.raw(), pad0: 0, arg1, arg2 }
    }

    /// `arg1.mfn`: the machine frame operated on.
    #[must_use]
    pub const fn mfn(&self) -> Mfn {
        Mfn(self.arg1)
    }

    /// `arg1.linear_addr`: the guest linear address operated on.
    #[must_use]
    pub const fn linear_addr(&self) -> u64 {
        self.arg1
    }

    /// `arg2.nr_ents`: number of LDT entries (the union's 32-bit member,
    /// i.e. the low half of the slot on little-endian x86).
    #[must_use]
    #[allow(clippy::cast_possible_truncation, reason = "the C member is 32 bits wide")]
    pub const fn nr_ents(&self) -> u32 {
        self.arg2 as u32
    }

    /// `arg2.vcpumask`: guest virtual address of the vCPU bitmap.
    #[must_use]
    pub const fn vcpumask(&self) -> u64 {
        self.arg2
    }

    /// `arg2.src_mfn`: source frame of `MMUEXT_COPY_PAGE`.
    #[must_use]
    pub const fn src_mfn(&self) -> Mfn {
        Mfn(self.arg2)
    }
}

// ---------------------------------------------------------------------------
// update_va_mapping flags
// ---------------------------------------------------------------------------

/// `update_va_mapping` flags: no TLB flush.
pub const UVMF_NONE: u64 = 0;
/// Flush the entire TLB(s).
pub const UVMF_TLB_FLUSH: u64 = 1;
/// Flush only the one entry.
pub const UVMF_INVLPG: u64 = 2;
/// Mask of the flush-type bits.
pub const UVMF_FLUSHTYPE_MASK: u64 = 3;
/// Flush the vCPUs in a bitmap whose guest address is ORed into the flags
/// (which must then be 8-byte aligned).
pub const UVMF_MULTI: u64 = 0;
/// Flush the local TLB only (`UVMF_MULTI` with a NULL bitmap).
pub const UVMF_LOCAL: u64 = 0;
/// Flush all vCPUs' TLBs.
pub const UVMF_ALL: u64 = 1 << 2;

// ---------------------------------------------------------------------------
// console_io, vm_assist
// ---------------------------------------------------------------------------

abi_enum! {
    /// Commands of `HYPERVISOR_console_io(cmd, count, buffer)`.
    pub enum ConsoleIoCmd: u32 {
        /// Write `count` bytes from `buffer` to Xen's console.
        Write = 0 => "CONSOLEIO_write",
        /// Read up to `count` bytes; returns the number read.
        Read = 1 => "CONSOLEIO_read",
    }
}

abi_enum! {
    /// Commands of `HYPERVISOR_vm_assist(cmd, type)`.
    pub enum VmAssistCmd: u32 {
        /// Turn the assist on.
        Enable = 0 => "VMASST_CMD_enable",
        /// Turn the assist off.
        Disable = 1 => "VMASST_CMD_disable",
    }
}

abi_enum! {
    /// Optional behaviours a guest may request with `vm_assist`.
    pub enum VmAssistType: u32 {
        /// x86/32: emulate full 4 GiB segment limits.
        FourGbSegments = 0 => "VMASST_TYPE_4gb_segments",
        /// x86/32: trap (vector 15) whenever the above is used.
        FourGbSegmentsNotify = 1 => "VMASST_TYPE_4gb_segments_notify",
        /// Allow direct writes to L1 page-table entries (emulated).
        WritablePagetables = 2 => "VMASST_TYPE_writable_pagetables",
        /// x86/PAE: page directories above 4 GiB.
        PaeExtendedCr3 = 3 => "VMASST_TYPE_pae_extended_cr3",
        /// Architectural virtual IOPL semantics (updated by `iret`, kernel
        /// treated as level 0).
        ArchitecturalIopl = 4 => "VMASST_TYPE_architectural_iopl",
        /// Set `XEN_RUNSTATE_UPDATE` in the runstate area while updating it.
        RunstateUpdateFlag = 5 => "VMASST_TYPE_runstate_update_flag",
        /// x86_64: hide the M2P from user mode strictly.
        M2pStrict = 32 => "VMASST_TYPE_m2p_strict",
    }
}

impl VmAssistType {
    /// The bit of this assist in [`VcpuGuestContext::vm_assist`].
    #[must_use]
    pub const fn mask(self) -> u64 {
        1u64 << self.raw()
    }
}

// ---------------------------------------------------------------------------
// multicall
// ---------------------------------------------------------------------------

/// One call of `HYPERVISOR_multicall` (`multicall_entry_t`).
#[doc(alias = "multicall_entry")]
#[doc(alias = "multicall_entry_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct MulticallEntry {
    /// IN: [`Hypercall`] number.
    pub op: u64,
    /// OUT: the call's return value.
    pub result: u64,
    /// IN: arguments (Xen reads at most five).
    pub args: [u64; 6],
}
abi_layout!(MulticallEntry: size 64, op @ 0, result @ 8, args @ 16);

// ---------------------------------------------------------------------------
// Time, vcpu_info, shared_info
// ---------------------------------------------------------------------------

/// [`VcpuTimeInfo::flags`]: the TSC is stable across vCPUs.
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
/// [`VcpuTimeInfo::flags`]: the guest was stopped (paused) by the toolstack.
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

/// Per-vCPU system time parameters, written by Xen (`vcpu_time_info_t`).
///
/// System time (ns) = `system_time + ((((tsc - tsc_timestamp) << tsc_shift)
/// * tsc_to_system_mul) >> 32)` (a negative shift shifts right). Xen makes
/// `version` odd before and even after an update, like a seqlock.
#[doc(alias = "vcpu_time_info")]
#[doc(alias = "vcpu_time_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuTimeInfo {
    /// Update counter; odd while an update is in progress.
    pub version: u32,
    /// Padding; zero.
    pub pad0: u32,
    /// TSC at the last update.
    pub tsc_timestamp: u64,
    /// Nanoseconds since boot at `tsc_timestamp`.
    pub system_time: u64,
    /// TSC-to-nanoseconds multiplier (32.32 fixed point).
    pub tsc_to_system_mul: u32,
    /// Binary shift applied to the TSC delta before multiplying.
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*` flags.
    pub flags: u8,
    /// Padding; zero.
    pub pad1: [u8; 2],
}
abi_layout!(VcpuTimeInfo: size 32, version @ 0, tsc_timestamp @ 8, system_time @ 16,
    tsc_to_system_mul @ 24, tsc_shift @ 28, flags @ 29);

/// Per-vCPU shared data: event upcall state, `cr2` and time (`vcpu_info_t`).
#[doc(alias = "vcpu_info")]
#[doc(alias = "vcpu_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuInfo {
    /// Set non-zero by Xen when an event is pending for this vCPU; cleared
    /// by the guest before it scans for work.
    pub evtchn_upcall_pending: u8,
    /// Written by the guest: non-zero masks event upcalls (the PV "interrupt
    /// flag"); Xen masks it on every vCPU at boot.
    pub evtchn_upcall_mask: u8,
    /// Padding; zero.
    pub pad0: [u8; 6],
    /// Set by Xen: one bit per word of `evtchn_pending` with a newly pending,
    /// unmasked port.
    pub evtchn_pending_sel: u64,
    /// x86 state (`cr2` of the last bounced page fault).
    pub arch: ArchVcpuInfo,
    /// System time parameters.
    pub time: VcpuTimeInfo,
}
abi_layout!(VcpuInfo: size 64, evtchn_upcall_pending @ 0, evtchn_upcall_mask @ 1,
    evtchn_pending_sel @ 8, arch @ 16, arch.cr2 @ 16, time @ 32);

/// The page shared between Xen and a domain (`shared_info_t`), whose machine
/// address is in [`StartInfo::shared_info`].
#[doc(alias = "shared_info")]
#[doc(alias = "shared_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SharedInfo {
    /// Per-vCPU data of the first [`XEN_LEGACY_MAX_VCPUS`] vCPUs.
    pub vcpu_info: [VcpuInfo; XEN_LEGACY_MAX_VCPUS],
    /// 2-level ABI pending bitmap, one bit per port (set by Xen, cleared by
    /// the guest).
    pub evtchn_pending: [u64; 64],
    /// 2-level ABI mask bitmap, one bit per port (written by the guest).
    pub evtchn_mask: [u64; 64],
    /// Wallclock update counter (seqlock, like [`VcpuTimeInfo::version`]).
    pub wc_version: u32,
    /// Wallclock seconds since the Unix epoch at system time 0 (low 32 bits).
    pub wc_sec: u32,
    /// Wallclock nanoseconds.
    pub wc_nsec: u32,
    /// High 32 bits of the wallclock seconds.
    pub wc_sec_hi: u32,
    /// x86 P2M publication area.
    pub arch: ArchSharedInfo,
}
abi_layout!(SharedInfo: size 3136, vcpu_info @ 0, evtchn_pending @ 2048, evtchn_mask @ 2560,
    wc_version @ 3072, wc_sec @ 3076, wc_nsec @ 3080, wc_sec_hi @ 3084, arch @ 3088,
    arch.max_pfn @ 3088, arch.p2m_generation @ 3128);

// ---------------------------------------------------------------------------
// start_info
// ---------------------------------------------------------------------------

/// The domain is privileged.
pub const SIF_PRIVILEGED: u32 = 1 << 0;
/// The domain is the initial control domain (dom0).
pub const SIF_INITDOMAIN: u32 = 1 << 1;
/// `mod_start` is a multiboot module package ([`XenMultibootModList`]).
pub const SIF_MULTIBOOT_MOD: u32 = 1 << 2;
/// `mod_start` is a PFN, not a virtual address (module left unmapped).
pub const SIF_MOD_START_PFN: u32 = 1 << 3;
/// The tools understand a virtually mapped P2M (no 3-level tree needed).
pub const SIF_VIRT_P2M_4TOOLS: u32 = 1 << 4;
/// Byte reserved for xen-pm options.
pub const SIF_PM_MASK: u32 = 0xFF << 8;

/// Size of [`StartInfo::cmd_line`].
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// The `start_info.magic` Xen writes for a 64-bit PV guest.
pub const START_INFO_MAGIC_X86_64: &[u8] = b"xen-3.0-x86_64";

/// Start-of-day information for a PV guest, whose virtual address is in
/// `%rsi` at the kernel entry point (`start_info_t`).
///
/// All fields are written by the domain builder. The first block is refilled
/// on resume; the rest (from `pt_base`) only on initial boot.
#[doc(alias = "start_info")]
#[doc(alias = "start_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct StartInfo {
    /// `"xen-<version>-<platform>"`, NUL-padded ([`START_INFO_MAGIC_X86_64`]).
    pub magic: [u8; 32],
    /// Total pages allocated to the domain.
    pub nr_pages: u64,
    /// **Machine** address of the [`SharedInfo`] page.
    pub shared_info: u64,
    /// `SIF_*` flags.
    pub flags: u32,
    /// Padding; zero.
    pub pad0: u32,
    /// MFN of the xenstore ring page (domU).
    pub store_mfn: Mfn,
    /// Event channel of the xenstore ring (0 for dom0: local xenstore).
    pub store_evtchn: EvtchnPort,
    /// Padding; zero.
    pub pad1: u32,
    /// Console union: `domU` ring page + port, or `dom0` VGA info location.
    pub console: StartInfoConsole,
    /// Virtual address of the initial top-level page table.
    pub pt_base: u64,
    /// Number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// Virtual address of the P2M array (`unsigned long[nr_pages]`).
    pub mfn_list: u64,
    /// Virtual address of the initial ramdisk (its PFN with
    /// [`SIF_MOD_START_PFN`]); 0 if none.
    pub mod_start: u64,
    /// Size of the initial ramdisk in bytes.
    pub mod_len: u64,
    /// Kernel command line, NUL-terminated.
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// First PFN of the initial P2M table and its page tables (with the
    /// `INIT_P2M` ELF note).
    pub first_p2m_pfn: Pfn,
    /// Number of PFNs forming the initial P2M table.
    pub nr_p2m_frames: u64,
}
abi_layout!(StartInfo: size 1168, magic @ 0, nr_pages @ 32, shared_info @ 40, flags @ 48,
    store_mfn @ 56, store_evtchn @ 64, console @ 72, pt_base @ 88, nr_pt_frames @ 96,
    mfn_list @ 104, mod_start @ 112, mod_len @ 120, cmd_line @ 128, first_p2m_pfn @ 1152,
    nr_p2m_frames @ 1160);

/// Copies `src` into `dst`, truncating so that at least one NUL remains, and
/// zero-fills the rest.
fn copy_c_string(dst: &mut [u8], src: &[u8]) {
    let room = dst.len().saturating_sub(1);
    dst.fill(0);
    for (d, s) in dst.iter_mut().zip(src.iter().take(room)) {
        *d = *s;
    }
}

/// The bytes of a NUL-terminated buffer before the first NUL.
fn c_string_bytes(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.get(..end).unwrap_or(&[])
}

impl StartInfo {
    /// Sets `magic` from `text` (truncated, NUL-padded).
    pub fn set_magic(&mut self, text: &[u8]) {
        copy_c_string(&mut self.magic, text);
    }

    /// `magic` up to its first NUL.
    #[must_use]
    pub fn magic_bytes(&self) -> &[u8] {
        c_string_bytes(&self.magic)
    }

    /// Sets `cmd_line` from `text` (truncated to 1023 bytes, NUL-padded).
    pub fn set_cmd_line(&mut self, text: &[u8]) {
        copy_c_string(&mut self.cmd_line, text);
    }

    /// `cmd_line` up to its first NUL.
    #[must_use]
    pub fn cmd_line_bytes(&self) -> &[u8] {
        c_string_bytes(&self.cmd_line)
    }
}

/// One entry of a multiboot module package ([`SIF_MULTIBOOT_MOD`]);
/// addresses are relative to the start of the package, and an entry with
/// `mod_start == 0` ends the list (`struct xen_multiboot_mod_list`).
#[doc(alias = "xen_multiboot_mod_list")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenMultibootModList {
    /// Offset of the module's first byte.
    pub mod_start: u32,
    /// Offset of the module's last byte (inclusive).
    pub mod_end: u32,
    /// Offset of the module's NUL-terminated command line.
    pub cmdline: u32,
    /// Unused; zero.
    pub pad: u32,
}
abi_layout!(XenMultibootModList: size 16, mod_start @ 0, mod_end @ 4, cmdline @ 8, pad @ 12);

#[cfg(test)]
mod tests;
