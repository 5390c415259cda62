// SPDX-License-Identifier: GPL-2.0-only
//! Grant tables (`grant_table.h`): entries, flags and `grant_table_op`.
//!
//! A domain grants another access to its frames by filling entries of its
//! grant table ([`GrantEntryV1`], or [`GrantEntryV2`] after
//! `GNTTABOP_set_version(2)`), indexed by [`crate::xen::GrantRef`]. The
//! grantee uses `HYPERVISOR_grant_table_op(cmd, args, count)` ([`GnttabOp`])
//! with an array of `count` per-command structs. Per-operation results are
//! [`GntSt`] values in each struct's `status`.
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

use crate::xen::{DomId, GrantRef};
use bytemuck::{Pod, Zeroable};

pub use crate::unions::{
    GrantEntryV2, GrantEntryV2FullPage, GrantEntryV2SubPage, GrantEntryV2Transitive,
};

abi_enum! {
    /// Commands of `HYPERVISOR_grant_table_op` (`GNTTABOP_*`).
    pub enum GnttabOp: u32 {
        /// Map granted frames. `args` = [`GnttabMapGrantRef`]`[count]`.
        MapGrantRef = 0 => "GNTTABOP_map_grant_ref",
        /// Unmap them. `args` = [`GnttabUnmapGrantRef`]`[count]`.
        UnmapGrantRef = 1 => "GNTTABOP_unmap_grant_ref",
        /// Size the caller's table and get its frames. `args` =
        /// [`GnttabSetupTable`].
        SetupTable = 2 => "GNTTABOP_setup_table",
        /// Dump a table to the console (debug). `args` = [`GnttabDumpTable`].
        DumpTable = 3 => "GNTTABOP_dump_table",
        /// Transfer page ownership. `args` = [`GnttabTransfer`]`[count]`.
        Transfer = 4 => "GNTTABOP_transfer",
        /// Hypervisor-side copy. `args` = [`GnttabCopy`]`[count]`.
        Copy = 5 => "GNTTABOP_copy",
        /// Current and maximum table size. `args` = [`GnttabQuerySize`].
        QuerySize = 6 => "GNTTABOP_query_size",
        /// Unmap, replacing the PTE. `args` =
        /// [`GnttabUnmapAndReplace`]`[count]`.
        UnmapAndReplace = 7 => "GNTTABOP_unmap_and_replace",
        /// Choose table format 1 or 2. `args` = [`GnttabSetVersion`].
        SetVersion = 8 => "GNTTABOP_set_version",
        /// Frames of the v2 status array. `args` =
        /// [`GnttabGetStatusFrames`].
        GetStatusFrames = 9 => "GNTTABOP_get_status_frames",
        /// Table format in use. `args` = [`GnttabGetVersion`].
        GetVersion = 10 => "GNTTABOP_get_version",
        /// Swap two entries. `args` = [`GnttabSwapGrantRef`]`[count]`.
        SwapGrantRef = 11 => "GNTTABOP_swap_grant_ref",
        /// Cache maintenance on granted memory. `args` =
        /// [`GnttabCacheFlush`]`[count]`.
        CacheFlush = 12 => "GNTTABOP_cache_flush",
    }
}

abi_enum! {
    /// Per-operation status codes (`GNTST_*`, all errors negative).
    pub enum GntSt: i16 {
        /// Success.
        Okay = 0 => "GNTST_okay",
        /// Undefined error.
        GeneralError = -1 => "GNTST_general_error",
        /// Unrecognised domain id.
        BadDomain = -2 => "GNTST_bad_domain",
        /// Unrecognised or inappropriate grant reference.
        BadGntref = -3 => "GNTST_bad_gntref",
        /// Unrecognised or inappropriate handle.
        BadHandle = -4 => "GNTST_bad_handle",
        /// Inappropriate virtual address to map.
        BadVirtAddr = -5 => "GNTST_bad_virt_addr",
        /// Inappropriate device address to unmap.
        BadDevAddr = -6 => "GNTST_bad_dev_addr",
        /// Out of space in the I/O MMU.
        NoDeviceSpace = -7 => "GNTST_no_device_space",
        /// Not enough privilege.
        PermissionDenied = -8 => "GNTST_permission_denied",
        /// The page is invalid for the operation.
        BadPage = -9 => "GNTST_bad_page",
        /// Copy arguments cross a page boundary.
        BadCopyArg = -10 => "GNTST_bad_copy_arg",
        /// Transfer page address too large.
        AddressTooBig = -11 => "GNTST_address_too_big",
        /// Not done; try again.
        Eagain = -12 => "GNTST_eagain",
        /// Out of space (handles etc.).
        NoSpace = -13 => "GNTST_no_space",
    }
}

// ---------------------------------------------------------------------------
// Grant entries
// ---------------------------------------------------------------------------

/// The first entries reserved for the toolstack (kept across version
/// changes).
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
/// Reserved entry granting the console ring to the backend.
pub const GNTTAB_RESERVED_CONSOLE: u32 = 0;
/// Reserved entry granting the xenstore ring to the store domain.
pub const GNTTAB_RESERVED_XENSTORE: u32 = 1;

/// One entry of a version-1 grant table (`grant_entry_v1_t`).
///
/// To publish an entry the granting guest writes `domid` and `frame`, then
/// (after a write barrier) `flags`.
#[doc(alias = "grant_entry_v1")]
#[doc(alias = "grant_entry_v1_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GrantEntryV1 {
    /// `GTF_*` type and flags (written by the guest and by Xen).
    pub flags: u16,
    /// Domain being granted access (guest-written).
    pub domid: DomId,
    /// Frame granted / slot for a transfer (guest-written); the transferred
    /// MFN after `GTF_transfer_completed` (Xen-written).
    pub frame: u32,
}
abi_layout!(GrantEntryV1: size 8, flags @ 0, domid @ 2, frame @ 4);

/// Header shared by v1 and v2 entries (`grant_entry_header_t`).
#[doc(alias = "grant_entry_header")]
#[doc(alias = "grant_entry_header_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GrantEntryHeader {
    /// `GTF_*` type and flags.
    pub flags: u16,
    /// Domain being granted access.
    pub domid: DomId,
}
abi_layout!(GrantEntryHeader: size 4, flags @ 0, domid @ 2);

/// Per-entry status word of a v2 table (`grant_status_t`): `GTF_reading`
/// and `GTF_writing`, kept apart from the entries.
#[doc(alias = "grant_status_t")]
pub type GrantStatus = u16;

/// Entry type: grants nothing.
pub const GTF_invalid: u16 = 0;
/// Entry type: `domid` may map/access `frame`.
pub const GTF_permit_access: u16 = 1;
/// Entry type: `domid` may transfer one frame to this guest.
pub const GTF_accept_transfer: u16 = 2;
/// Entry type: `domid` may use a grant of another domain (v2 only).
pub const GTF_transitive: u16 = 3;
/// Mask of the entry type.
pub const GTF_type_mask: u16 = 3;
/// `permit_access`: read-only access only (guest-written).
pub const GTF_readonly: u16 = 1 << 2;
/// `permit_access`: currently mapped for reading (Xen-written).
pub const GTF_reading: u16 = 1 << 3;
/// `permit_access`: currently mapped for writing (Xen-written).
pub const GTF_writing: u16 = 1 << 4;
/// `permit_access`: x86 cache attribute PWT.
pub const GTF_PWT: u16 = 1 << 5;
/// `permit_access`: x86 cache attribute PCD.
pub const GTF_PCD: u16 = 1 << 6;
/// `permit_access`: x86 cache attribute PAT.
pub const GTF_PAT: u16 = 1 << 7;
/// `permit_access`: only a sub-range is granted, copy only (v2).
pub const GTF_sub_page: u16 = 1 << 8;
/// `accept_transfer`: Xen is committed to the transfer; do not touch the
/// entry until `GTF_transfer_completed`.
pub const GTF_transfer_committed: u16 = 1 << 2;
/// `accept_transfer`: the transferred frame has been written.
pub const GTF_transfer_completed: u16 = 1 << 3;

// ---------------------------------------------------------------------------
// Operation structures
// ---------------------------------------------------------------------------

/// `GnttabMapGrantRef::flags`: map for device (I/O) access.
pub const GNTMAP_device_map: u32 = 1 << 0;
/// Map for CPU access.
pub const GNTMAP_host_map: u32 = 1 << 1;
/// Map read-only.
pub const GNTMAP_readonly: u32 = 1 << 2;
/// `host_map`: the mapping is usable by the current application too.
pub const GNTMAP_application_map: u32 = 1 << 3;
/// `host_map`: `host_addr` is the machine address of a PTE to update.
pub const GNTMAP_contains_pte: u32 = 1 << 4;
/// The mapping may fail without side effects.
pub const GNTMAP_can_fail: u32 = 1 << 5;
/// First bit of the flags copied into guest-available PTE bits
/// (`XENFEAT_gnttab_map_avail_bits`).
pub const GNTMAP_guest_avail0: u32 = 16;
/// Mask of the guest-available bits.
pub const GNTMAP_guest_avail_mask: u32 = !0 << GNTMAP_guest_avail0;

/// Handle returned by `GNTTABOP_map_grant_ref` (`grant_handle_t`).
#[doc(alias = "grant_handle_t")]
pub type GrantHandle = u32;

/// One operation of `GNTTABOP_map_grant_ref` (`gnttab_map_grant_ref_t`).
#[doc(alias = "gnttab_map_grant_ref")]
#[doc(alias = "gnttab_map_grant_ref_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabMapGrantRef {
    /// IN: virtual address to map at, or PTE machine address with
    /// `GNTMAP_contains_pte`.
    pub host_addr: u64,
    /// IN: `GNTMAP_*` flags.
    pub flags: u32,
    /// IN: grant reference in `dom`'s table (Xen: `ref`).
    pub gref: GrantRef,
    /// IN: granting domain.
    pub dom: DomId,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
    /// OUT: handle for the unmap.
    pub handle: GrantHandle,
    /// OUT: bus address for device access (`GNTMAP_device_map`).
    pub dev_bus_addr: u64,
}
abi_layout!(GnttabMapGrantRef: size 32, host_addr @ 0, flags @ 8, gref @ 12, dom @ 16,
    status @ 18, handle @ 20, dev_bus_addr @ 24);

/// One operation of `GNTTABOP_unmap_grant_ref` (`gnttab_unmap_grant_ref_t`).
#[doc(alias = "gnttab_unmap_grant_ref")]
#[doc(alias = "gnttab_unmap_grant_ref_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabUnmapGrantRef {
    /// IN: host mapping to remove (0 = none).
    pub host_addr: u64,
    /// IN: device mapping to remove (0 = none).
    pub dev_bus_addr: u64,
    /// IN: handle from the map.
    pub handle: GrantHandle,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
    /// Padding; zero.
    pub pad0: u16,
}
abi_layout!(GnttabUnmapGrantRef: size 24, host_addr @ 0, dev_bus_addr @ 8, handle @ 16,
    status @ 20);

/// Argument of `GNTTABOP_setup_table` (`gnttab_setup_table_t`).
#[doc(alias = "gnttab_setup_table")]
#[doc(alias = "gnttab_setup_table_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabSetupTable {
    /// IN: domain (`DOMID_SELF` unless privileged).
    pub dom: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// IN: number of frames wanted (the table grows to at least this).
    pub nr_frames: u32,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
    /// Padding; zero.
    pub pad1: [u16; 3],
    /// IN: guest address of a `xen_pfn_t[nr_frames]` array; OUT: the
    /// table's frames (MFNs for PV).
    pub frame_list: u64,
}
abi_layout!(GnttabSetupTable: size 24, dom @ 0, nr_frames @ 4, status @ 8, frame_list @ 16);

/// Argument of `GNTTABOP_dump_table` (`gnttab_dump_table_t`).
#[doc(alias = "gnttab_dump_table")]
#[doc(alias = "gnttab_dump_table_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabDumpTable {
    /// IN: domain whose table is dumped.
    pub dom: DomId,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
}
abi_layout!(GnttabDumpTable: size 4, dom @ 0, status @ 2);

/// One operation of `GNTTABOP_transfer` (`gnttab_transfer_t`).
#[doc(alias = "gnttab_transfer")]
#[doc(alias = "gnttab_transfer_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabTransfer {
    /// IN: frame to give away (lost even on failure, except
    /// `GNTST_bad_page`).
    pub mfn: u64,
    /// IN: receiving domain.
    pub domid: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// IN: the receiver's `accept_transfer` grant (Xen: `ref`).
    pub gref: GrantRef,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
    /// Padding; zero.
    pub pad1: [u16; 3],
}
abi_layout!(GnttabTransfer: size 24, mfn @ 0, domid @ 8, gref @ 12, status @ 16);

/// [`GnttabCopy::flags`]: `source.u` is a grant reference (else a GMFN).
pub const GNTCOPY_source_gref: u16 = 1 << 0;
/// [`GnttabCopy::flags`]: `dest.u` is a grant reference (else a GMFN).
pub const GNTCOPY_dest_gref: u16 = 1 << 1;

/// One end of a [`GnttabCopy`] (`struct gnttab_copy_ptr`).
///
/// Xen's `u` is a union of `grant_ref_t ref` and `xen_pfn_t gmfn`; it is
/// stored as the 8-byte slot and read with [`gref`](Self::gref) or
/// [`gmfn`](Self::gmfn) according to the `GNTCOPY_*_gref` flag.
#[doc(alias = "gnttab_copy_ptr")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabCopyPtr {
    /// IN: grant reference (low 32 bits) or GMFN.
    pub u: u64,
    /// IN: domain owning the frame.
    pub domid: DomId,
    /// IN: byte offset within the frame.
    pub offset: u16,
    /// Padding; zero.
    pub pad0: u32,
}
abi_layout!(GnttabCopyPtr: size 16, u @ 0, domid @ 8, offset @ 10);

impl GnttabCopyPtr {
    /// `u.ref`: the grant reference (the union's 32-bit member).
    #[must_use]
    #[allow(clippy::cast_possible_truncation, reason = "the C member is 32 bits wide")]
    pub const fn gref(&self) -> GrantRef {
        GrantRef(self.u as u32)
    }

    /// `u.gmfn`: the frame number.
    #[must_use]
    pub const fn gmfn(&self) -> u64 {
        self.u
    }
}

/// One operation of `GNTTABOP_copy` (`gnttab_copy_t`).
#[doc(alias = "gnttab_copy")]
#[doc(alias = "gnttab_copy_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabCopy {
    /// IN: where to copy from.
    pub source: GnttabCopyPtr,
    /// IN: where to copy to.
    pub dest: GnttabCopyPtr,
    /// IN: number of bytes (neither end may cross a page).
    pub len: u16,
    /// IN: `GNTCOPY_*` flags.
    pub flags: u16,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
    /// Padding; zero.
    pub pad0: u16,
}
abi_layout!(GnttabCopy: size 40, source @ 0, dest @ 16, dest.offset @ 26, len @ 32, flags @ 34,
    status @ 36);

/// Argument of `GNTTABOP_query_size` (`gnttab_query_size_t`).
#[doc(alias = "gnttab_query_size")]
#[doc(alias = "gnttab_query_size_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabQuerySize {
    /// IN: domain queried.
    pub dom: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// OUT: current number of frames.
    pub nr_frames: u32,
    /// OUT: maximum number of frames.
    pub max_nr_frames: u32,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
    /// Padding; zero.
    pub pad1: u16,
}
abi_layout!(GnttabQuerySize: size 16, dom @ 0, nr_frames @ 4, max_nr_frames @ 8, status @ 12);

/// One operation of `GNTTABOP_unmap_and_replace`
/// (`gnttab_unmap_and_replace_t`).
#[doc(alias = "gnttab_unmap_and_replace")]
#[doc(alias = "gnttab_unmap_and_replace_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabUnmapAndReplace {
    /// IN: host mapping to remove.
    pub host_addr: u64,
    /// IN: address whose PTE replaces it (and is itself zapped).
    pub new_addr: u64,
    /// IN: handle from the map.
    pub handle: GrantHandle,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
    /// Padding; zero.
    pub pad0: u16,
}
abi_layout!(GnttabUnmapAndReplace: size 24, host_addr @ 0, new_addr @ 8, handle @ 16,
    status @ 20);

/// Argument of `GNTTABOP_set_version` (`gnttab_set_version_t`).
#[doc(alias = "gnttab_set_version")]
#[doc(alias = "gnttab_set_version_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabSetVersion {
    /// IN: requested version (1 or 2); OUT: version in effect.
    pub version: u32,
}
abi_layout!(GnttabSetVersion: size 4, version @ 0);

/// Argument of `GNTTABOP_get_status_frames` (`gnttab_get_status_frames_t`).
#[doc(alias = "gnttab_get_status_frames")]
#[doc(alias = "gnttab_get_status_frames_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabGetStatusFrames {
    /// IN: size of `frame_list`.
    pub nr_frames: u32,
    /// IN: domain queried.
    pub dom: DomId,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
    /// IN: guest address of a `u64` array; OUT: the status frames.
    pub frame_list: u64,
}
abi_layout!(GnttabGetStatusFrames: size 16, nr_frames @ 0, dom @ 4, status @ 6, frame_list @ 8);

/// Argument of `GNTTABOP_get_version` (`gnttab_get_version_t`).
#[doc(alias = "gnttab_get_version")]
#[doc(alias = "gnttab_get_version_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabGetVersion {
    /// IN: domain queried.
    pub dom: DomId,
    /// Padding; zero.
    pub pad: u16,
    /// OUT: version in effect.
    pub version: u32,
}
abi_layout!(GnttabGetVersion: size 8, dom @ 0, pad @ 2, version @ 4);

/// One operation of `GNTTABOP_swap_grant_ref` (`gnttab_swap_grant_ref_t`).
#[doc(alias = "gnttab_swap_grant_ref")]
#[doc(alias = "gnttab_swap_grant_ref_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabSwapGrantRef {
    /// IN: first entry.
    pub ref_a: GrantRef,
    /// IN: second entry.
    pub ref_b: GrantRef,
    /// OUT: a [`GntSt`] value.
    pub status: i16,
    /// Padding; zero.
    pub pad0: u16,
}
abi_layout!(GnttabSwapGrantRef: size 12, ref_a @ 0, ref_b @ 4, status @ 8);

/// [`GnttabCacheFlush::op`]: clean (write back).
pub const GNTTAB_CACHE_CLEAN: u32 = 1 << 0;
/// [`GnttabCacheFlush::op`]: invalidate.
pub const GNTTAB_CACHE_INVAL: u32 = 1 << 1;
/// [`GnttabCacheFlush::op`]: `a` is a grant reference (else a bus address).
pub const GNTTAB_CACHE_SOURCE_GREF: u32 = 1 << 31;

/// One operation of `GNTTABOP_cache_flush` (`gnttab_cache_flush_t`).
///
/// Xen's `a` is a union of `uint64_t dev_bus_addr` and `grant_ref_t ref`,
/// selected by [`GNTTAB_CACHE_SOURCE_GREF`].
#[doc(alias = "gnttab_cache_flush")]
#[doc(alias = "gnttab_cache_flush_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GnttabCacheFlush {
    /// IN: bus address, or grant reference in the low 32 bits.
    pub a: u64,
    /// IN: offset from the start of the grant.
    pub offset: u16,
    /// IN: length within the grant.
    pub length: u16,
    /// IN: `GNTTAB_CACHE_*` flags.
    pub op: u32,
}
abi_layout!(GnttabCacheFlush: size 16, a @ 0, offset @ 8, length @ 10, op @ 12);

impl GnttabCacheFlush {
    /// `a.ref`: the grant reference (the union's 32-bit member).
    #[must_use]
    #[allow(clippy::cast_possible_truncation, reason = "the C member is 32 bits wide")]
    pub const fn gref(&self) -> GrantRef {
        GrantRef(self.a as u32)
    }

    /// `a.dev_bus_addr`.
    #[must_use]
    pub const fn dev_bus_addr(&self) -> u64 {
        self.a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AbiBytes;

    #[test]
    fn numbers() {
        assert_eq!(GnttabOp::ALL.len(), 13);
        for (i, &op) in GnttabOp::ALL.iter().enumerate() {
            assert_eq!(op.raw() as usize, i);
            assert_eq!(GnttabOp::try_from(op.raw()), Ok(op));
        }
        assert!(GnttabOp::try_from(13).is_err());
        for (i, &st) in GntSt::ALL.iter().enumerate() {
            assert_eq!(i16::try_from(i).map(|i| -i), Ok(i16::from(st)));
            assert_eq!(GntSt::try_from(st.raw()), Ok(st));
        }
        assert!(GntSt::try_from(1).is_err());
        assert_eq!(GNTMAP_guest_avail_mask, 0xffff_0000);
    }

    #[test]
    fn entries_round_trip() {
        let entry = GrantEntryV1 {
            flags: GTF_permit_access | GTF_readonly,
            domid: DomId(0),
            frame: 0x1_2345,
        };
        assert_eq!(entry.as_bytes(), &[5, 0, 0, 0, 0x45, 0x23, 1, 0]);
        assert_eq!(GrantEntryV1::from_bytes(entry.as_bytes()), Some(entry));
        let table: [GrantEntryV1; 2] = [entry, GrantEntryV1::default()];
        let raw: &[u8] = bytemuck::cast_slice(&table);
        assert_eq!(GrantEntryV1::read_prefix(raw), Some(entry));
    }

    #[test]
    fn op_structs_round_trip() {
        let map = GnttabMapGrantRef {
            host_addr: 0xffff_c900_0000_0000,
            flags: GNTMAP_host_map | GNTMAP_readonly,
            gref: GrantRef(8),
            dom: DomId(1),
            status: GntSt::BadGntref.raw(),
            handle: 3,
            dev_bus_addr: 0,
        };
        let bytes = map.as_bytes();
        assert_eq!(bytes.get(12..16), Some(&8u32.to_le_bytes()[..]));
        assert_eq!(bytes.get(18..20), Some(&(-3i16).to_le_bytes()[..]));
        assert_eq!(GnttabMapGrantRef::from_bytes(bytes), Some(map));

        let setup = GnttabSetupTable {
            dom: DomId::SELF,
            nr_frames: 4,
            status: 0,
            frame_list: 0x7000,
            ..Default::default()
        };
        assert_eq!(setup.as_bytes().get(4..8), Some(&4u32.to_le_bytes()[..]));
        assert_eq!(GnttabSetupTable::from_bytes(setup.as_bytes()), Some(setup));

        let copy = GnttabCopy {
            source: GnttabCopyPtr { u: 5, domid: DomId(1), offset: 0, pad0: 0 },
            dest: GnttabCopyPtr { u: 0x1234, domid: DomId::SELF, offset: 16, pad0: 0 },
            len: 64,
            flags: GNTCOPY_source_gref,
            status: 0,
            pad0: 0,
        };
        assert_eq!(copy.source.gref(), GrantRef(5));
        assert_eq!(copy.dest.gmfn(), 0x1234);
        assert_eq!(copy.as_bytes().get(32..34), Some(&64u16.to_le_bytes()[..]));
        assert_eq!(GnttabCopy::from_bytes(copy.as_bytes()), Some(copy));

        let flush = GnttabCacheFlush { a: 9, offset: 0, length: 8, op: GNTTAB_CACHE_SOURCE_GREF };
        assert_eq!(flush.gref(), GrantRef(9));
        assert_eq!(GnttabCacheFlush::from_bytes(flush.as_bytes()), Some(flush));
    }
}
