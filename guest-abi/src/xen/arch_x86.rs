// SPDX-License-Identifier: GPL-2.0-only
//! x86_64 specifics of `xen.h`: address split, selectors, vCPU context.
//!
//! Mirrors `arch-x86/xen.h` and `arch-x86/xen-x86_64.h`. Everything here is
//! re-exported from [`crate::xen`].
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

use bytemuck::{Pod, Zeroable};

// ---------------------------------------------------------------------------
// Virtual address layout
// ---------------------------------------------------------------------------

/// First virtual address reserved for Xen in every 64-bit PV address space
/// (L4 slot 256). Guests must not map anything in
/// [`HYPERVISOR_VIRT_START`]..[`HYPERVISOR_VIRT_END`].
pub const HYPERVISOR_VIRT_START: u64 = 0xFFFF_8000_0000_0000;

/// End (exclusive) of Xen's reserved virtual range (L4 slots 256–271).
pub const HYPERVISOR_VIRT_END: u64 = 0xFFFF_8800_0000_0000;

/// Start of the read-only machine-to-physical table that Xen maps into every
/// PV guest (`machine_to_phys_mapping[mfn]` = PFN, 8 bytes per entry).
pub const MACH2PHYS_VIRT_START: u64 = 0xFFFF_8000_0000_0000;

/// End (exclusive) of the read-only machine-to-physical table (256 GiB).
pub const MACH2PHYS_VIRT_END: u64 = 0xFFFF_8040_0000_0000;

/// Number of 8-byte entries the M2P window can hold, i.e. the largest MFN
/// (exclusive) a guest can translate with it.
pub const MACH2PHYS_NR_ENTRIES: u64 = (MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) >> 3;

// ---------------------------------------------------------------------------
// Segment selectors and the GDT
// ---------------------------------------------------------------------------

/// Flat 32-bit ring-3 code selector in Xen's reserved GDT area (index 260).
pub const FLAT_RING3_CS32: u16 = 0xe023;
/// Flat 64-bit ring-3 code selector (index 261).
pub const FLAT_RING3_CS64: u16 = 0xe033;
/// Flat 32-bit ring-3 data selector (index 262).
pub const FLAT_RING3_DS32: u16 = 0xe02b;
/// 64-bit data segment: the NULL selector.
pub const FLAT_RING3_DS64: u16 = 0x0000;
/// Flat 32-bit ring-3 stack selector (index 262).
pub const FLAT_RING3_SS32: u16 = 0xe02b;
/// Flat 64-bit ring-3 stack selector (index 262).
pub const FLAT_RING3_SS64: u16 = 0xe02b;

/// Guest-kernel 64-bit data selector (a 64-bit PV kernel runs in ring 3).
pub const FLAT_KERNEL_DS64: u16 = FLAT_RING3_DS64;
/// Guest-kernel 32-bit data selector.
pub const FLAT_KERNEL_DS32: u16 = FLAT_RING3_DS32;
/// Guest-kernel default data selector.
pub const FLAT_KERNEL_DS: u16 = FLAT_KERNEL_DS64;
/// Guest-kernel 64-bit code selector; the initial `CS` of a PV kernel.
pub const FLAT_KERNEL_CS64: u16 = FLAT_RING3_CS64;
/// Guest-kernel 32-bit code selector.
pub const FLAT_KERNEL_CS32: u16 = FLAT_RING3_CS32;
/// Guest-kernel default code selector.
pub const FLAT_KERNEL_CS: u16 = FLAT_KERNEL_CS64;
/// Guest-kernel 64-bit stack selector; the initial `SS` of a PV kernel.
pub const FLAT_KERNEL_SS64: u16 = FLAT_RING3_SS64;
/// Guest-kernel 32-bit stack selector.
pub const FLAT_KERNEL_SS32: u16 = FLAT_RING3_SS32;
/// Guest-kernel default stack selector.
pub const FLAT_KERNEL_SS: u16 = FLAT_KERNEL_SS64;

/// Guest-user 64-bit data selector.
pub const FLAT_USER_DS64: u16 = FLAT_RING3_DS64;
/// Guest-user 32-bit data selector.
pub const FLAT_USER_DS32: u16 = FLAT_RING3_DS32;
/// Guest-user default data selector.
pub const FLAT_USER_DS: u16 = FLAT_USER_DS64;
/// Guest-user 64-bit code selector.
pub const FLAT_USER_CS64: u16 = FLAT_RING3_CS64;
/// Guest-user 32-bit code selector.
pub const FLAT_USER_CS32: u16 = FLAT_RING3_CS32;
/// Guest-user default code selector.
pub const FLAT_USER_CS: u16 = FLAT_USER_CS64;
/// Guest-user 64-bit stack selector.
pub const FLAT_USER_SS64: u16 = FLAT_RING3_SS64;
/// Guest-user 32-bit stack selector.
pub const FLAT_USER_SS32: u16 = FLAT_RING3_SS32;
/// Guest-user default stack selector.
pub const FLAT_USER_SS: u16 = FLAT_USER_SS64;

/// First GDT page reserved for Xen; the guest owns pages 0..14
/// (entries 0..[`FIRST_RESERVED_GDT_ENTRY`]).
pub const FIRST_RESERVED_GDT_PAGE: u32 = 14;
/// Byte offset of the first Xen-reserved GDT entry.
pub const FIRST_RESERVED_GDT_BYTE: u32 = FIRST_RESERVED_GDT_PAGE * 4096;
/// Index of the first Xen-reserved GDT entry (7168).
pub const FIRST_RESERVED_GDT_ENTRY: u32 = FIRST_RESERVED_GDT_BYTE / 8;

abi_enum! {
    /// `which` argument of `HYPERVISOR_set_segment_base(which, base)`
    /// (x86_64 only).
    pub enum SegBase: u32 {
        /// Set the `%fs` base.
        Fs = 0 => "SEGBASE_FS",
        /// Set the user-mode `%gs` base (the kernel's shadow `GS`).
        GsUser = 1 => "SEGBASE_GS_USER",
        /// Set the kernel-mode `%gs` base.
        GsKernel = 2 => "SEGBASE_GS_KERNEL",
        /// Load the user `%gs` selector given in `base[15:0]`.
        GsUserSel = 3 => "SEGBASE_GS_USER_SEL",
    }
}

/// Maximum number of vCPUs whose `vcpu_info` lives in `shared_info`; more
/// need `VCPUOP_register_vcpu_info`.
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;

/// Size of one stub in the hypercall page: stub `n` is at
/// `hypercall_page + n * 32`.
pub const HYPERCALL_STUB_SIZE: usize = 32;

/// Number of stubs in the 4 KiB hypercall page.
pub const NR_HYPERCALL_STUBS: usize = 4096 / HYPERCALL_STUB_SIZE;

/// The forced-emulation prefix (`ud2a; .ascii "xen"`): when it precedes
/// `cpuid`, the hypervisor emulates the instruction instead of letting it
/// run natively (`XEN_EMULATE_PREFIX`).
pub const XEN_EMULATE_PREFIX: [u8; 5] = [0x0f, 0x0b, 0x78, 0x65, 0x6e];

/// Turns a page frame number into the `cr3` value Xen reports for 64-bit PV
/// guests (`xen_pfn_to_cr3`).
#[must_use]
pub const fn xen_pfn_to_cr3(pfn: u64) -> u64 {
    pfn.wrapping_shl(12)
}

/// Inverse of [`xen_pfn_to_cr3`] (`xen_cr3_to_pfn`).
#[must_use]
pub const fn xen_cr3_to_pfn(cr3: u64) -> u64 {
    cr3 >> 12
}

// ---------------------------------------------------------------------------
// VGCF_* flags of vcpu_guest_context.flags and of the iret frame
// ---------------------------------------------------------------------------

/// `fpu_ctxt` holds valid FPU state.
pub const VGCF_i387_valid: u64 = 1 << 0;
/// Older spelling of [`VGCF_i387_valid`].
pub const VGCF_I387_VALID: u64 = VGCF_i387_valid;
/// The vCPU is in guest-kernel mode.
pub const VGCF_in_kernel: u64 = 1 << 2;
/// Older spelling of [`VGCF_in_kernel`].
pub const VGCF_IN_KERNEL: u64 = VGCF_in_kernel;
/// Entering the failsafe callback masks event delivery.
pub const VGCF_failsafe_disables_events: u64 = 1 << 3;
/// Entering the syscall callback masks event delivery.
pub const VGCF_syscall_disables_events: u64 = 1 << 4;
/// The vCPU is online (`VCPUOP_initialise` + `VCPUOP_up` not needed).
pub const VGCF_online: u64 = 1 << 5;
/// In [`IretContext::flags`]: the guest left user mode through `SYSCALL`,
/// so `HYPERVISOR_iret` restores only RAX, RIP, RFLAGS and RSP (it may return
/// with `SYSRET`), discarding R11, RCX, CS and SS.
pub const VGCF_in_syscall: u64 = 1 << 8;
/// Older spelling of [`VGCF_in_syscall`].
pub const VGCF_IN_SYSCALL: u64 = VGCF_in_syscall;

// ---------------------------------------------------------------------------
// Structures
// ---------------------------------------------------------------------------

/// One virtual IDT entry, as passed (in an array ending with an entry whose
/// `address` is 0) to `HYPERVISOR_set_trap_table` (`struct trap_info`).
#[doc(alias = "trap_info")]
#[doc(alias = "trap_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct TrapInfo {
    /// IN: exception or interrupt vector.
    pub vector: u8,
    /// IN: bits 0–1 = privilege level allowed to raise the vector with a
    /// software interrupt (0: nobody, 1–2: kernel, 3: everyone); bit 2 = mask
    /// events on entry ("interrupt gate").
    pub flags: u8,
    /// IN: code selector of the handler.
    pub cs: u16,
    /// Padding; zero.
    pub pad0: u32,
    /// IN: handler address; 0 ends the array.
    pub address: u64,
}
abi_layout!(TrapInfo: size 16, vector @ 0, flags @ 1, cs @ 2, address @ 8);

impl TrapInfo {
    /// Mask of the privilege level in [`TrapInfo::flags`] (`TI_GET_DPL`).
    pub const DPL_MASK: u8 = 3;
    /// Flag bit asking for event delivery to be masked on entry (`TI_GET_IF`).
    pub const IF_FLAG: u8 = 4;

    /// The software-interrupt privilege level (`TI_GET_DPL`).
    #[must_use]
    pub const fn dpl(&self) -> u8 {
        self.flags & Self::DPL_MASK
    }

    /// Whether entering the handler masks event delivery (`TI_GET_IF`).
    #[must_use]
    pub const fn masks_events(&self) -> bool {
        self.flags & Self::IF_FLAG != 0
    }
}

/// The frame `HYPERVISOR_iret` pops from the guest kernel stack, lowest
/// address (the `%rsp` at the hypercall) first (`struct iret_context`).
#[doc(alias = "iret_context")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct IretContext {
    /// IN: `%rax` to restore (the stub pushed it before the `syscall`).
    pub rax: u64,
    /// IN: `%r11` to restore.
    pub r11: u64,
    /// IN: `%rcx` to restore.
    pub rcx: u64,
    /// IN: [`VGCF_in_syscall`] or 0.
    pub flags: u64,
    /// IN: return `%rip`.
    pub rip: u64,
    /// IN: return `%cs` (its RPL selects kernel (0–2) or user (3) mode).
    pub cs: u64,
    /// IN: return `%rflags`; IF becomes the inverse of the upcall mask.
    pub rflags: u64,
    /// IN: return `%rsp`.
    pub rsp: u64,
    /// IN: return `%ss`.
    pub ss: u64,
}
abi_layout!(IretContext: size 72, rax @ 0, r11 @ 8, rcx @ 16, flags @ 24, rip @ 32, cs @ 40,
    rflags @ 48, rsp @ 56, ss @ 64);

/// User-visible register state of an x86_64 vCPU (`struct cpu_user_regs`).
///
/// Used inside [`VcpuGuestContext`]. Xen's C header overlays the 32-bit names
/// (`eax`, …) on the 64-bit ones with anonymous unions; only the 64-bit names
/// are kept here.
#[doc(alias = "cpu_user_regs")]
#[doc(alias = "cpu_user_regs_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct CpuUserRegs {
    /// `%r15`.
    pub r15: u64,
    /// `%r14`.
    pub r14: u64,
    /// `%r13`.
    pub r13: u64,
    /// `%r12`.
    pub r12: u64,
    /// `%rbp`.
    pub rbp: u64,
    /// `%rbx`.
    pub rbx: u64,
    /// `%r11`.
    pub r11: u64,
    /// `%r10`.
    pub r10: u64,
    /// `%r9`.
    pub r9: u64,
    /// `%r8`.
    pub r8: u64,
    /// `%rax`.
    pub rax: u64,
    /// `%rcx`.
    pub rcx: u64,
    /// `%rdx`.
    pub rdx: u64,
    /// `%rsi`.
    pub rsi: u64,
    /// `%rdi`.
    pub rdi: u64,
    /// Hypervisor-private: error code of the current exception.
    pub error_code: u32,
    /// Hypervisor-private: vector of the current exception.
    pub entry_vector: u32,
    /// `%rip`.
    pub rip: u64,
    /// `%cs`.
    pub cs: u16,
    /// Padding; zero.
    pub pad0: u16,
    /// Event-upcall mask saved on guest entry (`rflags.IF == !mask`).
    pub saved_upcall_mask: u8,
    /// Padding; zero.
    pub pad1: [u8; 3],
    /// `%rflags`.
    pub rflags: u64,
    /// `%rsp`.
    pub rsp: u64,
    /// `%ss`.
    pub ss: u16,
    /// Padding; zero.
    pub pad2: [u16; 3],
    /// `%es`.
    pub es: u16,
    /// Padding; zero.
    pub pad3: [u16; 3],
    /// `%ds`.
    pub ds: u16,
    /// Padding; zero.
    pub pad4: [u16; 3],
    /// `%fs`; non-zero takes precedence over `fs_base`.
    pub fs: u16,
    /// Padding; zero.
    pub pad5: [u16; 3],
    /// `%gs`; non-zero takes precedence over `gs_base_user`.
    pub gs: u16,
    /// Padding; zero.
    pub pad6: [u16; 3],
}
abi_layout!(CpuUserRegs: size 200,
    r15 @ 0, r14 @ 8, r13 @ 16, r12 @ 24, rbp @ 32, rbx @ 40, r11 @ 48, r10 @ 56, r9 @ 64,
    r8 @ 72, rax @ 80, rcx @ 88, rdx @ 96, rsi @ 104, rdi @ 112, error_code @ 120,
    entry_vector @ 124, rip @ 128, cs @ 136, saved_upcall_mask @ 140, rflags @ 144, rsp @ 152,
    ss @ 160, es @ 168, ds @ 176, fs @ 184, gs @ 192);

/// Complete PV vCPU state, as given to `VCPUOP_initialise` and the
/// get/set-vcpucontext domctls (`struct vcpu_guest_context`, x86_64).
#[doc(alias = "vcpu_guest_context")]
#[doc(alias = "vcpu_guest_context_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct VcpuGuestContext {
    /// FPU/SSE state in `FXSAVE` format.
    pub fpu_ctxt: [u8; 512],
    /// `VGCF_*` flags.
    pub flags: u64,
    /// General-purpose and segment registers.
    pub user_regs: CpuUserRegs,
    /// The virtual IDT (one [`TrapInfo`] per vector).
    pub trap_ctxt: [TrapInfo; 256],
    /// LDT linear address.
    pub ldt_base: u64,
    /// Number of LDT entries.
    pub ldt_ents: u64,
    /// Machine frames of the GDT.
    pub gdt_frames: [u64; 16],
    /// Number of GDT entries.
    pub gdt_ents: u64,
    /// Kernel stack segment (virtual TSS `SS`).
    pub kernel_ss: u64,
    /// Kernel stack pointer (virtual TSS `RSP`).
    pub kernel_sp: u64,
    /// CR0–CR7; for 64-bit PV `ctrlreg[1]` is the user page-table base and
    /// `ctrlreg[3]` the kernel one (both in `xen_pfn_to_cr3` form).
    pub ctrlreg: [u64; 8],
    /// DR0–DR7.
    pub debugreg: [u64; 8],
    /// Event-upcall callback address.
    pub event_callback_eip: u64,
    /// Failsafe callback address.
    pub failsafe_callback_eip: u64,
    /// Syscall callback address.
    pub syscall_callback_eip: u64,
    /// Bitmap of enabled `VMASST_TYPE_*` assists.
    pub vm_assist: u64,
    /// `%fs` base.
    pub fs_base: u64,
    /// Kernel-mode `%gs` base.
    pub gs_base_kernel: u64,
    /// User-mode `%gs` base.
    pub gs_base_user: u64,
}
abi_layout!(VcpuGuestContext: size 5168,
    fpu_ctxt @ 0, flags @ 512, user_regs @ 520, trap_ctxt @ 720, ldt_base @ 4816,
    ldt_ents @ 4824, gdt_frames @ 4832, gdt_ents @ 4960, kernel_ss @ 4968, kernel_sp @ 4976,
    ctrlreg @ 4984, debugreg @ 5048, event_callback_eip @ 5112, failsafe_callback_eip @ 5120,
    syscall_callback_eip @ 5128, vm_assist @ 5136, fs_base @ 5144, gs_base_kernel @ 5152,
    gs_base_user @ 5160);

/// x86 part of [`crate::xen::VcpuInfo`] (`struct arch_vcpu_info`).
#[doc(alias = "arch_vcpu_info")]
#[doc(alias = "arch_vcpu_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct ArchVcpuInfo {
    /// OUT (written by Xen): faulting address of the last page fault bounced
    /// to the guest.
    pub cr2: u64,
    /// Padding to keep `vcpu_info` at 64 bytes.
    pub pad: u64,
}
abi_layout!(ArchVcpuInfo: size 16, cr2 @ 0, pad @ 8);

/// x86 part of [`crate::xen::SharedInfo`] (`struct arch_shared_info`):
/// where the guest publishes its P2M for the toolstack.
#[doc(alias = "arch_shared_info")]
#[doc(alias = "arch_shared_info_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct ArchSharedInfo {
    /// Written by the guest: number of valid P2M entries.
    pub max_pfn: u64,
    /// Written by the guest: frame of the 3-level P2M frame-list list
    /// (0 = not set up, !0 = too large, use `p2m_vaddr`).
    pub pfn_to_mfn_frame_list_list: u64,
    /// Written by Xen: NMI reason bits for dom0.
    pub nmi_reason: u64,
    /// Written by the guest: `cr3` of the address space holding the linear
    /// P2M list (0 = the next two fields are invalid).
    pub p2m_cr3: u64,
    /// Written by the guest: virtual address of the linear P2M list.
    pub p2m_vaddr: u64,
    /// Written by the guest: generation count, odd while the P2M mapping is
    /// being changed.
    pub p2m_generation: u64,
}
abi_layout!(ArchSharedInfo: size 48, max_pfn @ 0, pfn_to_mfn_frame_list_list @ 8,
    nmi_reason @ 16, p2m_cr3 @ 24, p2m_vaddr @ 32, p2m_generation @ 40);
