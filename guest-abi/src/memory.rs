// SPDX-License-Identifier: GPL-2.0-only
//! Memory reservations and maps (`memory.h`): `HYPERVISOR_memory_op`.
//!
//! Commands ([`MemoryOp`]) and their argument structs. The `cmd` argument
//! of `memory_op` carries the command in its low [`MEMOP_EXTENT_SHIFT`] bits
//! and, for the reservation commands, the extent to resume from (after a
//! continuation) in the bits above ([`memop_split`]).
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

use crate::xen::DomId;
use bytemuck::{Pod, Zeroable};

abi_enum! {
    /// Commands of `HYPERVISOR_memory_op` (`XENMEM_*`). Number 8 (the old
    /// `translate_gpfn_list`) was removed.
    pub enum MemoryOp: u32 {
        /// Allocate extents; OUT: their MFNs. `arg` =
        /// [`XenMemoryReservation`]; returns the number of extents done.
        IncreaseReservation = 0 => "XENMEM_increase_reservation",
        /// Free the extents at the given GMFNs. `arg` =
        /// [`XenMemoryReservation`]; returns the number of extents done.
        DecreaseReservation = 1 => "XENMEM_decrease_reservation",
        /// Returns the highest MFN of RAM. `arg` = NULL.
        MaximumRamPage = 2 => "XENMEM_maximum_ram_page",
        /// Returns a domain's current reservation in pages. `arg` =
        /// [`XenMemoryDomain`].
        CurrentReservation = 3 => "XENMEM_current_reservation",
        /// Returns a domain's maximum reservation in pages. `arg` =
        /// [`XenMemoryDomain`].
        MaximumReservation = 4 => "XENMEM_maximum_reservation",
        /// List the MFNs of the 2 MiB extents of the M2P table. `arg` =
        /// [`XenMachphysMfnList`].
        MachphysMfnList = 5 => "XENMEM_machphys_mfn_list",
        /// Populate the given GPFNs with memory (and update the M2P). `arg`
        /// = [`XenMemoryReservation`]; returns the number of extents done.
        PopulatePhysmap = 6 => "XENMEM_populate_physmap",
        /// Map a page of a given space at a GPFN (translated guests). `arg`
        /// = [`XenAddToPhysmap`].
        AddToPhysmap = 7 => "XENMEM_add_to_physmap",
        /// The domain's pseudo-physical E820 map. `arg` = [`XenMemoryMap`].
        MemoryMap = 9 => "XENMEM_memory_map",
        /// The host E820 map (dom0). `arg` = [`XenMemoryMap`].
        MachineMemoryMap = 10 => "XENMEM_machine_memory_map",
        /// Atomically exchange extents for others (PV only). `arg` =
        /// [`XenMemoryExchange`].
        Exchange = 11 => "XENMEM_exchange",
        /// Where the M2P table is mapped. `arg` = [`XenMachphysMapping`].
        MachphysMapping = 12 => "XENMEM_machphys_mapping",
        /// Set a domain's pseudo-physical map (toolstack). `arg` =
        /// [`XenForeignMemoryMap`].
        SetMemoryMap = 13 => "XENMEM_set_memory_map",
        /// Returns the highest GFN in use. `arg` = [`XenMemoryDomain`].
        MaximumGpfn = 14 => "XENMEM_maximum_gpfn",
        /// Unmap the page at a GPFN (translated guests). `arg` =
        /// [`XenRemoveFromPhysmap`].
        RemoveFromPhysmap = 15 => "XENMEM_remove_from_physmap",
        /// Set the populate-on-demand target (toolstack).
        SetPodTarget = 16 => "XENMEM_set_pod_target",
        /// Get the populate-on-demand target (toolstack).
        GetPodTarget = 17 => "XENMEM_get_pod_target",
        /// Number of frames freed by sharing (toolstack).
        GetSharingFreedPages = 18 => "XENMEM_get_sharing_freed_pages",
        /// Number of shared frames (toolstack).
        GetSharingSharedPages = 19 => "XENMEM_get_sharing_shared_pages",
        /// Memory paging operations (toolstack).
        PagingOp = 20 => "XENMEM_paging_op",
        /// Memory access permissions (toolstack).
        AccessOp = 21 => "XENMEM_access_op",
        /// Memory sharing operations (toolstack).
        SharingOp = 22 => "XENMEM_sharing_op",
        /// Batched `add_to_physmap`.
        AddToPhysmapBatch = 23 => "XENMEM_add_to_physmap_batch",
        /// Stake a claim on free memory for a domain (privileged).
        ClaimPages = 24 => "XENMEM_claim_pages",
        /// As `machphys_mfn_list`, for the compat (32-bit) M2P.
        MachphysCompatMfnList = 25 => "XENMEM_machphys_compat_mfn_list",
        /// Virtual NUMA topology of a domain.
        GetVnumainfo = 26 => "XENMEM_get_vnumainfo",
        /// Reserved device memory regions (toolstack).
        ReservedDeviceMemoryMap = 27 => "XENMEM_reserved_device_memory_map",
        /// Map a guest resource's frames (e.g. grant table) into a tools
        /// domain. `arg` = [`XenMemAcquireResource`].
        AcquireResource = 28 => "XENMEM_acquire_resource",
    }
}

/// Bits of the `memory_op` `cmd` argument holding the command; the bits
/// above hold the start extent of a continued reservation command
/// (`MEMOP_EXTENT_SHIFT`, from Xen's `xen/hypercall.h`).
pub const MEMOP_EXTENT_SHIFT: u32 = 6;
/// Mask of the command bits of `cmd` (`MEMOP_CMD_MASK`).
pub const MEMOP_CMD_MASK: u64 = (1 << MEMOP_EXTENT_SHIFT) - 1;

/// Splits the `memory_op` `cmd` argument into (command, start extent).
#[must_use]
pub const fn memop_split(cmd: u64) -> (u32, u64) {
    #[allow(clippy::cast_possible_truncation, reason = "masked to 6 bits")]
    let op = (cmd & MEMOP_CMD_MASK) as u32;
    (op, cmd >> MEMOP_EXTENT_SHIFT)
}

// ---------------------------------------------------------------------------
// XENMEMF_* flags of xen_memory_reservation.mem_flags
// ---------------------------------------------------------------------------

/// `mem_flags` with an address-width limit of `bits` (0 = none).
#[must_use]
pub const fn xenmemf_address_bits(bits: u32) -> u32 {
    bits
}

/// The address-width limit in `mem_flags` (`XENMEMF_get_address_bits`).
#[must_use]
pub const fn xenmemf_get_address_bits(flags: u32) -> u32 {
    flags & 0xff
}

/// `mem_flags` requesting NUMA node `node` (`XENMEMF_node`).
#[must_use]
pub const fn xenmemf_node(node: u32) -> u32 {
    node.wrapping_add(1).wrapping_shl(8)
}

/// The NUMA node requested in `mem_flags` (`XENMEMF_get_node`); 0xff when
/// none was requested.
#[must_use]
pub const fn xenmemf_get_node(flags: u32) -> u32 {
    (flags >> 8).wrapping_sub(1) & 0xff
}

/// Populate the physmap with populate-on-demand entries.
pub const XENMEMF_populate_on_demand: u32 = 1 << 16;
/// Allocate only from the requested node.
pub const XENMEMF_exact_node_request: u32 = 1 << 17;
/// The requested node is a virtual node.
pub const XENMEMF_vnode: u32 = 1 << 18;

/// Argument of the reservation commands (`xen_memory_reservation_t`).
#[doc(alias = "xen_memory_reservation")]
#[doc(alias = "xen_memory_reservation_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenMemoryReservation {
    /// Guest address of a `xen_pfn_t` array: OUT MFNs (increase), IN GMFNs
    /// (decrease), IN GPFNs / OUT GMFNs (populate).
    pub extent_start: u64,
    /// IN: number of extents.
    pub nr_extents: u64,
    /// IN: each extent is `2^extent_order` pages.
    pub extent_order: u32,
    /// IN: `XENMEMF_*` flags.
    pub mem_flags: u32,
    /// IN: domain whose reservation changes (`DOMID_SELF` unless
    /// privileged).
    pub domid: DomId,
    /// Padding; zero.
    pub pad0: [u16; 3],
}
abi_layout!(XenMemoryReservation: size 32, extent_start @ 0, nr_extents @ 8, extent_order @ 16,
    mem_flags @ 20, domid @ 24);

impl XenMemoryReservation {
    /// A reservation of `nr_extents` extents of `2^extent_order` pages for
    /// `domid`, with the extent list at guest address `extent_start`.
    #[must_use]
    pub const fn new(
        extent_start: u64,
        nr_extents: u64,
        extent_order: u32,
        mem_flags: u32,
        domid: DomId,
    ) -> Self {
        Self { extent_start, nr_extents, extent_order, mem_flags, domid, pad0: [0; 3] }
    }
}

/// Argument of `XENMEM_exchange` (`xen_memory_exchange_t`).
#[doc(alias = "xen_memory_exchange")]
#[doc(alias = "xen_memory_exchange_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenMemoryExchange {
    /// IN: extents to give up (Xen: `in`).
    pub input: XenMemoryReservation,
    /// IN/OUT: extents wanted; OUT: their GMFNs (Xen: `out`).
    pub output: XenMemoryReservation,
    /// OUT: number of input extents exchanged (must be 0 on entry).
    pub nr_exchanged: u64,
}
abi_layout!(XenMemoryExchange: size 72, input @ 0, output @ 32, nr_exchanged @ 64);

/// Argument of `XENMEM_current/maximum_reservation` and
/// `XENMEM_maximum_gpfn` (`struct xen_memory_domain`).
#[doc(alias = "xen_memory_domain")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenMemoryDomain {
    /// IN: domain queried (may be `DOMID_SELF`).
    pub domid: DomId,
}
abi_layout!(XenMemoryDomain: size 2, domid @ 0);

/// Argument of `XENMEM_machphys_mfn_list` (`xen_machphys_mfn_list_t`).
#[doc(alias = "xen_machphys_mfn_list")]
#[doc(alias = "xen_machphys_mfn_list_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenMachphysMfnList {
    /// IN: size of the `extent_start` array.
    pub max_extents: u32,
    /// Padding; zero.
    pub pad0: u32,
    /// IN: guest address of a `xen_pfn_t` array filled with the MFN of each
    /// 2 MiB M2P extent (0 for holes).
    pub extent_start: u64,
    /// OUT: number of entries written.
    pub nr_extents: u32,
    /// Padding; zero.
    pub pad1: u32,
}
abi_layout!(XenMachphysMfnList: size 24, max_extents @ 0, extent_start @ 8, nr_extents @ 16);

/// Result of `XENMEM_machphys_mapping` (`xen_machphys_mapping_t`).
#[doc(alias = "xen_machphys_mapping")]
#[doc(alias = "xen_machphys_mapping_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenMachphysMapping {
    /// OUT: start of the M2P mapping.
    pub v_start: u64,
    /// OUT: end of the M2P mapping.
    pub v_end: u64,
    /// OUT: largest MFN that can be looked up.
    pub max_mfn: u64,
}
abi_layout!(XenMachphysMapping: size 24, v_start @ 0, v_end @ 8, max_mfn @ 16);

/// Shared-info page (`XENMAPSPACE_*`, [`XenAddToPhysmap::space`]).
pub const XENMAPSPACE_shared_info: u32 = 0;
/// Grant-table frame.
pub const XENMAPSPACE_grant_table: u32 = 1;
/// A GMFN of the domain.
pub const XENMAPSPACE_gmfn: u32 = 2;
/// A range of GMFNs (`add_to_physmap` only).
pub const XENMAPSPACE_gmfn_range: u32 = 3;
/// A GMFN of another domain (`add_to_physmap_batch` only).
pub const XENMAPSPACE_gmfn_foreign: u32 = 4;
/// Device MMIO (Arm only).
pub const XENMAPSPACE_dev_mmio: u32 = 5;
/// In `idx` with `XENMAPSPACE_grant_table`: map a status frame.
pub const XENMAPIDX_grant_table_status: u64 = 0x8000_0000;

/// Argument of `XENMEM_add_to_physmap` (`xen_add_to_physmap_t`).
#[doc(alias = "xen_add_to_physmap")]
#[doc(alias = "xen_add_to_physmap_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenAddToPhysmap {
    /// IN: domain whose physmap changes.
    pub domid: DomId,
    /// IN: number of pages for `XENMAPSPACE_gmfn_range`.
    pub size: u16,
    /// IN: a `XENMAPSPACE_*` value.
    pub space: u32,
    /// IN: index into the space.
    pub idx: u64,
    /// IN: GPFN where the page should appear.
    pub gpfn: u64,
}
abi_layout!(XenAddToPhysmap: size 24, domid @ 0, size @ 2, space @ 4, idx @ 8, gpfn @ 16);

/// Argument of `XENMEM_remove_from_physmap` (`xen_remove_from_physmap_t`).
#[doc(alias = "xen_remove_from_physmap")]
#[doc(alias = "xen_remove_from_physmap_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenRemoveFromPhysmap {
    /// IN: domain whose physmap changes.
    pub domid: DomId,
    /// Padding; zero.
    pub pad0: [u16; 3],
    /// IN: GPFN to unmap.
    pub gpfn: u64,
}
abi_layout!(XenRemoveFromPhysmap: size 16, domid @ 0, gpfn @ 8);

/// Argument of `XENMEM_memory_map` and `XENMEM_machine_memory_map`
/// (`xen_memory_map_t`).
#[doc(alias = "xen_memory_map")]
#[doc(alias = "xen_memory_map_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenMemoryMap {
    /// IN: capacity of `buffer` in entries; OUT: entries written.
    pub nr_entries: u32,
    /// Padding; zero.
    pub pad0: u32,
    /// IN: guest address of an array of [`E820Entry`].
    pub buffer: u64,
}
abi_layout!(XenMemoryMap: size 16, nr_entries @ 0, buffer @ 8);

/// Argument of `XENMEM_set_memory_map` (`xen_foreign_memory_map_t`).
#[doc(alias = "xen_foreign_memory_map")]
#[doc(alias = "xen_foreign_memory_map_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenForeignMemoryMap {
    /// IN: domain whose map is set.
    pub domid: DomId,
    /// Padding; zero.
    pub pad0: [u16; 3],
    /// IN: the map.
    pub map: XenMemoryMap,
}
abi_layout!(XenForeignMemoryMap: size 24, domid @ 0, map @ 8, map.buffer @ 16);

/// E820 type: usable RAM.
pub const E820_RAM: u32 = 1;
/// E820 type: reserved.
pub const E820_RESERVED: u32 = 2;
/// E820 type: ACPI tables (reclaimable).
pub const E820_ACPI: u32 = 3;
/// E820 type: ACPI NVS.
pub const E820_NVS: u32 = 4;
/// E820 type: unusable.
pub const E820_UNUSABLE: u32 = 5;

/// One entry of the maps of `XENMEM_memory_map` and
/// `XENMEM_machine_memory_map`, in the BIOS `INT 15h, E820h` format
/// (20 bytes, packed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C, packed)]
pub struct E820Entry {
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// `E820_*` type.
    pub ty: u32,
}
abi_layout!(E820Entry: size 20, addr @ 0, size @ 8, ty @ 16);

/// Resource type: an ioreq server's pages.
pub const XENMEM_resource_ioreq_server: u16 = 0;
/// Resource type: a grant table.
pub const XENMEM_resource_grant_table: u16 = 1;
/// Resource type: a vmtrace buffer.
pub const XENMEM_resource_vmtrace_buf: u16 = 2;
/// Grant-table resource id: the shared frames.
pub const XENMEM_resource_grant_table_id_shared: u32 = 0;
/// Grant-table resource id: the status frames.
pub const XENMEM_resource_grant_table_id_status: u32 = 1;

/// Argument of `XENMEM_acquire_resource` (`xen_mem_acquire_resource_t`).
#[doc(alias = "xen_mem_acquire_resource")]
#[doc(alias = "xen_mem_acquire_resource_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct XenMemAcquireResource {
    /// IN: domain owning the resource.
    pub domid: DomId,
    /// IN: `XENMEM_resource_*` type (Xen: `type`).
    pub ty: u16,
    /// IN: type-specific id.
    pub id: u32,
    /// IN/OUT: number of frames (0 with a NULL `frame_list` asks for the
    /// size).
    pub nr_frames: u32,
    /// Padding; must be zero on input.
    pub pad: u32,
    /// IN: index of the first frame.
    pub frame: u64,
    /// IN/OUT: guest address of a `xen_pfn_t` array (PV callers get MFNs).
    pub frame_list: u64,
}
abi_layout!(XenMemAcquireResource: size 32, domid @ 0, ty @ 2, id @ 4, nr_frames @ 8, pad @ 12,
    frame @ 16, frame_list @ 24);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AbiBytes;

    #[test]
    fn numbers() {
        assert_eq!(MemoryOp::ALL.len(), 28);
        for &op in MemoryOp::ALL {
            assert_eq!(MemoryOp::try_from(op.raw()), Ok(op));
            assert!(u64::from(op.raw()) <= MEMOP_CMD_MASK);
        }
        assert!(MemoryOp::try_from(8).is_err());
        assert!(MemoryOp::try_from(29).is_err());
        assert_eq!(MemoryOp::MachineMemoryMap.raw(), 10);
        assert_eq!(MemoryOp::Exchange.raw(), 11);
        assert_eq!(MemoryOp::MachphysMapping.raw(), 12);
        assert_eq!(memop_split((5 << MEMOP_EXTENT_SHIFT) | 6), (6, 5));
    }

    #[test]
    fn mem_flags() {
        let flags = xenmemf_address_bits(32) | xenmemf_node(2) | XENMEMF_exact_node_request;
        assert_eq!(xenmemf_get_address_bits(flags), 32);
        assert_eq!(xenmemf_get_node(flags), 2);
        assert_eq!(xenmemf_get_node(0), 0xff);
    }

    #[test]
    fn structs_round_trip() {
        let res = XenMemoryReservation {
            extent_start: 0x1000,
            nr_extents: 4,
            extent_order: 9,
            mem_flags: 32,
            domid: DomId::SELF,
            pad0: [0; 3],
        };
        let bytes = res.as_bytes();
        assert_eq!(bytes.get(16..20), Some(&9u32.to_le_bytes()[..]));
        assert_eq!(bytes.get(24..26), Some(&[0xf0, 0x7f][..]));
        assert_eq!(XenMemoryReservation::from_bytes(bytes), Some(res));

        let exchange = XenMemoryExchange { input: res, output: res, nr_exchanged: 0 };
        assert_eq!(exchange.as_bytes().get(32 + 24..32 + 26), Some(&[0xf0, 0x7f][..]));
        assert_eq!(XenMemoryExchange::from_bytes(exchange.as_bytes()), Some(exchange));

        let entries = [
            E820Entry { addr: 0, size: 0x9f000, ty: E820_RAM },
            E820Entry { addr: 0x10_0000, size: 0x100_0000, ty: E820_RAM },
        ];
        let raw: &[u8] = bytemuck::cast_slice(&entries);
        assert_eq!(raw.len(), 40);
        assert_eq!(raw.get(36..40), Some(&1u32.to_le_bytes()[..]));
        assert_eq!(
            E820Entry::read_prefix(raw.get(20..).unwrap_or_default()),
            entries.get(1).copied()
        );

        let map = XenMemoryMap { nr_entries: 2, pad0: 0, buffer: 0x8000 };
        assert_eq!(XenMemoryMap::from_bytes(map.as_bytes()), Some(map));
    }
}
