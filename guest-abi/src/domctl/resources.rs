// SPDX-License-Identifier: GPL-2.0-only
//! Memory and I/O payloads: page types, shadow paging, access permissions.
//!
//! [`XenDomctlGetpageframeinfo3`] (with the `XEN_DOMCTL_PFINFO_*` type
//! codes), [`XenDomctlShadowOp`] ([`DomctlShadowOp`] and mode flags) and the
//! three permission payloads a toolstack uses to hand physical IRQs, machine
//! frames and I/O ports to a driver domain.

use bytemuck::{Pod, Zeroable};

// ---------------------------------------------------------------------------
// XEN_DOMCTL_getpageframeinfo3
// ---------------------------------------------------------------------------

/// Position of the page-type code in a `getpageframeinfo3` result.
pub const XEN_DOMCTL_PFINFO_LTAB_SHIFT: u32 = 28;
/// Not a page table.
pub const XEN_DOMCTL_PFINFO_NOTAB: u32 = 0x0 << 28;
/// An L1 page table.
pub const XEN_DOMCTL_PFINFO_L1TAB: u32 = 0x1 << 28;
/// An L2 page table.
pub const XEN_DOMCTL_PFINFO_L2TAB: u32 = 0x2 << 28;
/// An L3 page table.
pub const XEN_DOMCTL_PFINFO_L3TAB: u32 = 0x3 << 28;
/// An L4 page table.
pub const XEN_DOMCTL_PFINFO_L4TAB: u32 = 0x4 << 28;
/// Mask of the page-table level.
pub const XEN_DOMCTL_PFINFO_LTABTYPE_MASK: u32 = 0x7 << 28;
/// The page table is pinned.
pub const XEN_DOMCTL_PFINFO_LPINTAB: u32 = 0x1 << 31;
/// Invalid frame (not owned by the domain).
pub const XEN_DOMCTL_PFINFO_XTAB: u32 = 0xf << 28;
/// Frame to allocate but not copy (on restore).
pub const XEN_DOMCTL_PFINFO_XALLOC: u32 = 0xe << 28;
/// Broken (hardware-poisoned) frame.
pub const XEN_DOMCTL_PFINFO_BROKEN: u32 = 0xd << 28;
/// Mask of the whole type code.
pub const XEN_DOMCTL_PFINFO_LTAB_MASK: u32 = 0xf << 28;

/// Payload of `XEN_DOMCTL_getpageframeinfo3`
/// (`struct xen_domctl_getpageframeinfo3`). Xen may advance both fields
/// when it preempts the operation.
#[doc(alias = "xen_domctl_getpageframeinfo3")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlGetpageframeinfo3 {
    /// IN: number of frames in `array`.
    pub num: u64,
    /// IN/OUT: guest address of a `xen_pfn_t` array
    /// (`XEN_GUEST_HANDLE_64(xen_pfn_t)`); IN: guest frame numbers, OUT: a
    /// `XEN_DOMCTL_PFINFO_*` type code per frame.
    pub array: u64,
}
abi_layout!(XenDomctlGetpageframeinfo3: size 16, num @ 0, array @ 8);

// ---------------------------------------------------------------------------
// XEN_DOMCTL_shadow_op
// ---------------------------------------------------------------------------

abi_enum! {
    /// Sub-commands of `XEN_DOMCTL_shadow_op` (`XEN_DOMCTL_SHADOW_OP_*`),
    /// [`XenDomctlShadowOp::op`]. Number 3 (`ENABLE_TRANSLATE`) is gone.
    pub enum DomctlShadowOp: u32 {
        /// Leave shadow mode.
        Off = 0 => "XEN_DOMCTL_SHADOW_OP_OFF",
        /// Legacy: `Enable` with no mode flags.
        EnableTest = 1 => "XEN_DOMCTL_SHADOW_OP_ENABLE_TEST",
        /// Legacy: `Enable` with [`XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY`].
        EnableLogdirty = 2 => "XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY",
        /// Copy the dirty bitmap out and reset it.
        Clean = 11 => "XEN_DOMCTL_SHADOW_OP_CLEAN",
        /// Copy the dirty bitmap out without resetting it.
        Peek = 12 => "XEN_DOMCTL_SHADOW_OP_PEEK",
        /// Read the shadow pool size in MiB (deprecated).
        GetAllocation = 30 => "XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION",
        /// Set the shadow pool size in MiB (deprecated).
        SetAllocation = 31 => "XEN_DOMCTL_SHADOW_OP_SET_ALLOCATION",
        /// Enter shadow mode with the `XEN_DOMCTL_SHADOW_ENABLE_*` flags in
        /// `mode`.
        Enable = 32 => "XEN_DOMCTL_SHADOW_OP_ENABLE",
    }
}

/// `mode` of `Enable`: shadows are reference-counted (the guest does not
/// use explicit MMU hypercalls).
pub const XEN_DOMCTL_SHADOW_ENABLE_REFCOUNT: u32 = 1 << 1;
/// `mode` of `Enable`: track dirtied pages in a bitmap.
pub const XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY: u32 = 1 << 2;
/// `mode` of `Enable`: Xen translates guest frames to machine frames.
pub const XEN_DOMCTL_SHADOW_ENABLE_TRANSLATE: u32 = 1 << 3;
/// `mode` of `Enable`: Xen takes no guest virtual address space (HVM).
pub const XEN_DOMCTL_SHADOW_ENABLE_EXTERNAL: u32 = 1 << 4;
/// `mode` of `Clean`/`Peek`: last round, also report pages Xen maps
/// writable.
pub const XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL: u32 = 1 << 0;

/// Counters returned by `Clean`/`Peek` (`struct xen_domctl_shadow_op_stats`).
#[doc(alias = "xen_domctl_shadow_op_stats")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlShadowOpStats {
    /// OUT: shadow faults since the last clean.
    pub fault_count: u32,
    /// OUT: pages dirtied since the last clean.
    pub dirty_count: u32,
}
abi_layout!(XenDomctlShadowOpStats: size 8, fault_count @ 0, dirty_count @ 4);

/// Payload of `XEN_DOMCTL_shadow_op` (`struct xen_domctl_shadow_op`).
#[doc(alias = "xen_domctl_shadow_op")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlShadowOp {
    /// IN: a [`DomctlShadowOp`] number.
    pub op: u32,
    /// IN: `XEN_DOMCTL_SHADOW_ENABLE_*` (Enable) or
    /// `XEN_DOMCTL_SHADOW_LOGDIRTY_*` (Clean/Peek).
    pub mode: u32,
    /// IN (Set) / OUT (Get): shadow pool size in MiB.
    pub mb: u32,
    /// Padding; zero.
    pub pad: u32,
    /// IN: guest address of the dirty bitmap buffer
    /// (`XEN_GUEST_HANDLE_64(uint8)`), Clean/Peek.
    pub dirty_bitmap: u64,
    /// IN: bitmap size in pages (bits); OUT: pages covered.
    pub pages: u64,
    /// OUT: counters (Clean/Peek).
    pub stats: XenDomctlShadowOpStats,
}
abi_layout!(XenDomctlShadowOp: size 40,
    op @ 0, mode @ 4, mb @ 8, pad @ 12, dirty_bitmap @ 16, pages @ 24, stats @ 32,
    stats.fault_count @ 32, stats.dirty_count @ 36);

// ---------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------

/// Payload of `XEN_DOMCTL_irq_permission` (`struct xen_domctl_irq_permission`).
#[doc(alias = "xen_domctl_irq_permission")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlIrqPermission {
    /// IN: physical IRQ (PIRQ of the caller).
    pub pirq: u32,
    /// IN: non-zero grants access, zero revokes it.
    pub allow_access: u8,
    /// Padding; zero.
    pub pad: [u8; 3],
}
abi_layout!(XenDomctlIrqPermission: size 8, pirq @ 0, allow_access @ 4, pad @ 5);

/// Payload of `XEN_DOMCTL_iomem_permission`
/// (`struct xen_domctl_iomem_permission`).
#[doc(alias = "xen_domctl_iomem_permission")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlIomemPermission {
    /// IN: first machine frame of the range.
    pub first_mfn: u64,
    /// IN: number of frames (> 0).
    pub nr_mfns: u64,
    /// IN: non-zero grants access, zero revokes it.
    pub allow_access: u8,
    /// Padding; zero.
    pub pad: [u8; 7],
}
abi_layout!(XenDomctlIomemPermission: size 24,
    first_mfn @ 0, nr_mfns @ 8, allow_access @ 16, pad @ 17);

/// Payload of `XEN_DOMCTL_ioport_permission`
/// (`struct xen_domctl_ioport_permission`).
#[doc(alias = "xen_domctl_ioport_permission")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenDomctlIoportPermission {
    /// IN: first I/O port of the range.
    pub first_port: u32,
    /// IN: number of ports.
    pub nr_ports: u32,
    /// IN: non-zero grants access, zero revokes it.
    pub allow_access: u8,
    /// Padding; zero.
    pub pad: [u8; 3],
}
abi_layout!(XenDomctlIoportPermission: size 12,
    first_port @ 0, nr_ports @ 4, allow_access @ 8, pad @ 9);
