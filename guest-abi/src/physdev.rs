// SPDX-License-Identifier: GPL-2.0-only
//! Physical device access (`physdev.h`): IRQs, I/O privilege, PCI.
//!
//! Commands of `HYPERVISOR_physdev_op(cmd, arg)` ([`PhysdevOp`]) and their
//! argument structs. Most are for the hardware domain (PIRQ routing, IO-APIC
//! access, PCI device announcements); [`PhysdevSetIopl`] and
//! [`PhysdevSetIobitmap`] are available to any PV guest with I/O ports. The
//! legacy `physdev_op_compat` hypercall (19) takes a [`PhysdevOpCompat`].
//! Number 4 (`PHYSDEVOP_IRQ_UNMASK_NOTIFY`) is obsolete and unsupported;
//! 18 and 22 are unassigned.
#![allow(non_upper_case_globals, reason = "Xen's constant names are kept verbatim")]

use crate::xen::DomId;
use bytemuck::{Pod, Zeroable};

abi_enum! {
    /// Commands of `HYPERVISOR_physdev_op` (`PHYSDEVOP_*`).
    pub enum PhysdevOp: u32 {
        /// Query an IRQ's status. `arg` = [`PhysdevIrqStatusQuery`].
        IrqStatusQuery = 5 => "PHYSDEVOP_irq_status_query",
        /// Set the vCPU's I/O privilege level. `arg` = [`PhysdevSetIopl`].
        SetIopl = 6 => "PHYSDEVOP_set_iopl",
        /// Set the vCPU's I/O port bitmap. `arg` = [`PhysdevSetIobitmap`].
        SetIobitmap = 7 => "PHYSDEVOP_set_iobitmap",
        /// Read an IO-APIC register. `arg` = [`PhysdevApic`].
        ApicRead = 8 => "PHYSDEVOP_apic_read",
        /// Write an IO-APIC register. `arg` = [`PhysdevApic`].
        ApicWrite = 9 => "PHYSDEVOP_apic_write",
        /// Allocate a vector for an IRQ. `arg` = [`PhysdevIrq`].
        AllocIrqVector = 10 => "PHYSDEVOP_alloc_irq_vector",
        /// Free an IRQ's vector. `arg` = [`PhysdevIrq`].
        FreeIrqVector = 11 => "PHYSDEVOP_free_irq_vector",
        /// Signal end of interrupt. `arg` = [`PhysdevEoi`].
        Eoi = 12 => "PHYSDEVOP_eoi",
        /// Map a GSI or MSI to a PIRQ. `arg` = [`PhysdevMapPirq`].
        MapPirq = 13 => "PHYSDEVOP_map_pirq",
        /// Unmap a PIRQ. `arg` = [`PhysdevUnmapPirq`].
        UnmapPirq = 14 => "PHYSDEVOP_unmap_pirq",
        /// Announce a PCI device (legacy). `arg` = [`PhysdevManagePci`].
        ManagePciAdd = 15 => "PHYSDEVOP_manage_pci_add",
        /// Withdraw a PCI device (legacy). `arg` = [`PhysdevManagePci`].
        ManagePciRemove = 16 => "PHYSDEVOP_manage_pci_remove",
        /// Register the PIRQ "needs EOI" bitmap page, unmasking on EOI.
        /// `arg` = [`PhysdevPirqEoiGmfn`].
        PirqEoiGmfnV1 = 17 => "PHYSDEVOP_pirq_eoi_gmfn_v1",
        /// Restore a device's MSI state. `arg` = [`PhysdevRestoreMsi`].
        RestoreMsi = 19 => "PHYSDEVOP_restore_msi",
        /// Announce a PCI device with SR-IOV details. `arg` =
        /// [`PhysdevManagePciExt`].
        ManagePciAddExt = 20 => "PHYSDEVOP_manage_pci_add_ext",
        /// Configure a GSI's trigger mode and polarity. `arg` =
        /// [`PhysdevSetupGsi`].
        SetupGsi = 21 => "PHYSDEVOP_setup_gsi",
        /// Allocate a free PIRQ. `arg` = [`PhysdevGetFreePirq`].
        GetFreePirq = 23 => "PHYSDEVOP_get_free_pirq",
        /// Report an MMCONFIG region. `arg` = [`PhysdevPciMmcfgReserved`].
        PciMmcfgReserved = 24 => "PHYSDEVOP_pci_mmcfg_reserved",
        /// Announce a PCI device. `arg` = [`PhysdevPciDeviceAdd`].
        PciDeviceAdd = 25 => "PHYSDEVOP_pci_device_add",
        /// Withdraw a PCI device. `arg` = [`PhysdevPciDevice`].
        PciDeviceRemove = 26 => "PHYSDEVOP_pci_device_remove",
        /// Restore MSI state (with segment). `arg` = [`PhysdevPciDevice`].
        RestoreMsiExt = 27 => "PHYSDEVOP_restore_msi_ext",
        /// Register the PIRQ "needs EOI" bitmap page, EOI semantics
        /// unchanged. `arg` = [`PhysdevPirqEoiGmfn`].
        PirqEoiGmfnV2 = 28 => "PHYSDEVOP_pirq_eoi_gmfn_v2",
        /// USB debug-port coordination. `arg` = [`PhysdevDbgpOp`].
        DbgpOp = 29 => "PHYSDEVOP_dbgp_op",
        /// MSI-X resources will not change. `arg` = [`PhysdevPciDevice`].
        PrepareMsix = 30 => "PHYSDEVOP_prepare_msix",
        /// MSI-X resources may change. `arg` = [`PhysdevPciDevice`].
        ReleaseMsix = 31 => "PHYSDEVOP_release_msix",
        /// A device was reset. `arg` = [`PciDeviceReset`].
        PciDeviceReset = 32 => "PHYSDEVOP_pci_device_reset",
    }
}

/// Argument of `PHYSDEVOP_eoi` (`physdev_eoi_t`).
#[doc(alias = "physdev_eoi")]
#[doc(alias = "physdev_eoi_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevEoi {
    /// IN: PIRQ serviced.
    pub irq: u32,
}
abi_layout!(PhysdevEoi: size 4, irq @ 0);

/// Argument of `PHYSDEVOP_pirq_eoi_gmfn_v1/v2` (`physdev_pirq_eoi_gmfn_t`).
#[doc(alias = "physdev_pirq_eoi_gmfn")]
#[doc(alias = "physdev_pirq_eoi_gmfn_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevPirqEoiGmfn {
    /// IN: guest frame of the bitmap, indexed by PIRQ.
    pub gmfn: u64,
}
abi_layout!(PhysdevPirqEoiGmfn: size 8, gmfn @ 0);

/// [`PhysdevIrqStatusQuery::flags`]: `PHYSDEVOP_eoi` is needed after
/// servicing.
pub const XENIRQSTAT_needs_eoi: u32 = 1 << 0;
/// [`PhysdevIrqStatusQuery::flags`]: the IRQ is shared between guests.
pub const XENIRQSTAT_shared: u32 = 1 << 1;

/// Argument of `PHYSDEVOP_irq_status_query` (`physdev_irq_status_query_t`).
#[doc(alias = "physdev_irq_status_query")]
#[doc(alias = "physdev_irq_status_query_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevIrqStatusQuery {
    /// IN: PIRQ queried.
    pub irq: u32,
    /// OUT: `XENIRQSTAT_*` flags.
    pub flags: u32,
}
abi_layout!(PhysdevIrqStatusQuery: size 8, irq @ 0, flags @ 4);

/// Argument of `PHYSDEVOP_set_iopl` (`physdev_set_iopl_t`).
#[doc(alias = "physdev_set_iopl")]
#[doc(alias = "physdev_set_iopl_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevSetIopl {
    /// IN: new virtual IOPL (0–3).
    pub iopl: u32,
}
abi_layout!(PhysdevSetIopl: size 4, iopl @ 0);

/// Argument of `PHYSDEVOP_set_iobitmap` (`physdev_set_iobitmap_t`).
#[doc(alias = "physdev_set_iobitmap")]
#[doc(alias = "physdev_set_iobitmap_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevSetIobitmap {
    /// IN: guest address of the bitmap (a set bit denies the port; Xen
    /// always reads 2 bytes, possibly one past `nr_ports`).
    pub bitmap: u64,
    /// IN: number of ports covered by the bitmap.
    pub nr_ports: u32,
    /// Padding; zero.
    pub pad0: u32,
}
abi_layout!(PhysdevSetIobitmap: size 16, bitmap @ 0, nr_ports @ 8);

/// Argument of `PHYSDEVOP_apic_read/write` (`physdev_apic_t`).
#[doc(alias = "physdev_apic")]
#[doc(alias = "physdev_apic_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevApic {
    /// IN: physical base of the IO-APIC.
    pub apic_physbase: u64,
    /// IN: register index.
    pub reg: u32,
    /// IN (write) or OUT (read): register value.
    pub value: u32,
}
abi_layout!(PhysdevApic: size 16, apic_physbase @ 0, reg @ 8, value @ 12);

/// Argument of `PHYSDEVOP_alloc/free_irq_vector` (`physdev_irq_t`).
#[doc(alias = "physdev_irq")]
#[doc(alias = "physdev_irq_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevIrq {
    /// IN: IRQ line.
    pub irq: u32,
    /// IN or OUT: vector.
    pub vector: u32,
}
abi_layout!(PhysdevIrq: size 8, irq @ 0, vector @ 4);

/// [`PhysdevMapPirq::ty`]: an MSI.
pub const MAP_PIRQ_TYPE_MSI: i32 = 0x0;
/// [`PhysdevMapPirq::ty`]: a GSI (legacy or IO-APIC interrupt).
pub const MAP_PIRQ_TYPE_GSI: i32 = 0x1;
/// [`PhysdevMapPirq::ty`]: unknown.
pub const MAP_PIRQ_TYPE_UNKNOWN: i32 = 0x2;
/// [`PhysdevMapPirq::ty`]: an MSI with the PCI segment in `bus[31:16]`.
pub const MAP_PIRQ_TYPE_MSI_SEG: i32 = 0x3;
/// [`PhysdevMapPirq::ty`]: several MSI vectors.
pub const MAP_PIRQ_TYPE_MULTI_MSI: i32 = 0x4;

/// Argument of `PHYSDEVOP_map_pirq` (`physdev_map_pirq_t`).
#[doc(alias = "physdev_map_pirq")]
#[doc(alias = "physdev_map_pirq_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevMapPirq {
    /// IN: domain the PIRQ is for.
    pub domid: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// IN: `MAP_PIRQ_TYPE_*` (Xen: `type`).
    pub ty: i32,
    /// IN: GSI or MSI index (ignored for multi-MSI).
    pub index: i32,
    /// IN or OUT: PIRQ number (negative = allocate).
    pub pirq: i32,
    /// IN: PCI bus (segment in bits 31:16 for the `*_SEG`/multi types).
    pub bus: i32,
    /// IN: PCI device/function.
    pub devfn: i32,
    /// IN: MSI-X entry or number of vectors (OUT too for multi-MSI).
    pub entry_nr: i32,
    /// Padding; zero.
    pub pad1: u32,
    /// IN: MSI-X table base.
    pub table_base: u64,
}
abi_layout!(PhysdevMapPirq: size 40, domid @ 0, ty @ 4, index @ 8, pirq @ 12, bus @ 16,
    devfn @ 20, entry_nr @ 24, table_base @ 32);

/// Argument of `PHYSDEVOP_unmap_pirq` (`physdev_unmap_pirq_t`).
#[doc(alias = "physdev_unmap_pirq")]
#[doc(alias = "physdev_unmap_pirq_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevUnmapPirq {
    /// IN: domain owning the PIRQ.
    pub domid: DomId,
    /// Padding; zero.
    pub pad0: u16,
    /// IN: PIRQ to unmap.
    pub pirq: i32,
}
abi_layout!(PhysdevUnmapPirq: size 8, domid @ 0, pirq @ 4);

/// A PCI bus and device/function pair (the anonymous `physfn` structs of
/// `physdev.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PciBusDevfn {
    /// Bus number.
    pub bus: u8,
    /// Device (bits 7:3) and function (bits 2:0).
    pub devfn: u8,
}
abi_layout!(PciBusDevfn: size 2, bus @ 0, devfn @ 1);

/// Argument of `PHYSDEVOP_manage_pci_add/remove` (`physdev_manage_pci_t`).
#[doc(alias = "physdev_manage_pci")]
#[doc(alias = "physdev_manage_pci_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevManagePci {
    /// IN: bus number.
    pub bus: u8,
    /// IN: device/function.
    pub devfn: u8,
}
abi_layout!(PhysdevManagePci: size 2, bus @ 0, devfn @ 1);

/// Argument of `PHYSDEVOP_restore_msi` (`physdev_restore_msi_t`).
#[doc(alias = "physdev_restore_msi")]
#[doc(alias = "physdev_restore_msi_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevRestoreMsi {
    /// IN: bus number.
    pub bus: u8,
    /// IN: device/function.
    pub devfn: u8,
}
abi_layout!(PhysdevRestoreMsi: size 2, bus @ 0, devfn @ 1);

/// Argument of `PHYSDEVOP_manage_pci_add_ext` (`physdev_manage_pci_ext_t`).
#[doc(alias = "physdev_manage_pci_ext")]
#[doc(alias = "physdev_manage_pci_ext_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevManagePciExt {
    /// IN: bus number.
    pub bus: u8,
    /// IN: device/function.
    pub devfn: u8,
    /// Padding; zero.
    pub pad0: u16,
    /// IN: non-zero for an ARI extended function.
    pub is_extfn: u32,
    /// IN: non-zero for an SR-IOV virtual function.
    pub is_virtfn: u32,
    /// IN: the physical function of a virtual function.
    pub physfn: PciBusDevfn,
    /// Padding; zero.
    pub pad1: u16,
}
abi_layout!(PhysdevManagePciExt: size 16, bus @ 0, devfn @ 1, is_extfn @ 4, is_virtfn @ 8,
    physfn @ 12);

/// Argument of `PHYSDEVOP_setup_gsi` (`physdev_setup_gsi_t`).
#[doc(alias = "physdev_setup_gsi")]
#[doc(alias = "physdev_setup_gsi_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevSetupGsi {
    /// IN: GSI.
    pub gsi: i32,
    /// IN: 0 = edge, 1 = level.
    pub triggering: u8,
    /// IN: 0 = active high, 1 = active low.
    pub polarity: u8,
    /// Padding; zero.
    pub pad0: u16,
}
abi_layout!(PhysdevSetupGsi: size 8, gsi @ 0, triggering @ 4, polarity @ 5);

/// Argument of `PHYSDEVOP_get_free_pirq` (`physdev_get_free_pirq_t`).
#[doc(alias = "physdev_get_free_pirq")]
#[doc(alias = "physdev_get_free_pirq_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevGetFreePirq {
    /// IN: `MAP_PIRQ_TYPE_GSI` or `MAP_PIRQ_TYPE_MSI` (Xen: `type`).
    pub ty: i32,
    /// OUT: the free PIRQ.
    pub pirq: u32,
}
abi_layout!(PhysdevGetFreePirq: size 8, ty @ 0, pirq @ 4);

/// [`PhysdevPciMmcfgReserved::flags`]: the region is reserved in the E820.
pub const XEN_PCI_MMCFG_RESERVED: u32 = 0x1;

/// Argument of `PHYSDEVOP_pci_mmcfg_reserved`
/// (`physdev_pci_mmcfg_reserved_t`).
#[doc(alias = "physdev_pci_mmcfg_reserved")]
#[doc(alias = "physdev_pci_mmcfg_reserved_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevPciMmcfgReserved {
    /// IN: physical address of the region.
    pub address: u64,
    /// IN: PCI segment.
    pub segment: u16,
    /// IN: first bus covered.
    pub start_bus: u8,
    /// IN: last bus covered.
    pub end_bus: u8,
    /// IN: `XEN_PCI_MMCFG_*` flags.
    pub flags: u32,
}
abi_layout!(PhysdevPciMmcfgReserved: size 16, address @ 0, segment @ 8, start_bus @ 10,
    end_bus @ 11, flags @ 12);

/// [`PhysdevPciDeviceAdd::flags`]: ARI extended function.
pub const XEN_PCI_DEV_EXTFN: u32 = 0x1;
/// [`PhysdevPciDeviceAdd::flags`]: SR-IOV virtual function.
pub const XEN_PCI_DEV_VIRTFN: u32 = 0x2;
/// [`PhysdevPciDeviceAdd::flags`]: `optarr[0]` holds the proximity domain.
pub const XEN_PCI_DEV_PXM: u32 = 0x4;

/// Fixed part of the argument of `PHYSDEVOP_pci_device_add`
/// (`physdev_pci_device_add_t`); a variable `u32 optarr[]` follows it at
/// offset 12 (`optarr[0]` = proximity domain with [`XEN_PCI_DEV_PXM`]).
#[doc(alias = "physdev_pci_device_add")]
#[doc(alias = "physdev_pci_device_add_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevPciDeviceAdd {
    /// IN: PCI segment.
    pub seg: u16,
    /// IN: bus number.
    pub bus: u8,
    /// IN: device/function.
    pub devfn: u8,
    /// IN: `XEN_PCI_DEV_*` flags.
    pub flags: u32,
    /// IN: the physical function of a virtual function.
    pub physfn: PciBusDevfn,
    /// Padding before `optarr`; zero.
    pub pad0: u16,
}
abi_layout!(PhysdevPciDeviceAdd: size 12, seg @ 0, bus @ 2, devfn @ 3, flags @ 4, physfn @ 8);

/// A PCI device by segment/bus/devfn (`physdev_pci_device_t`), the argument
/// of several commands.
#[doc(alias = "physdev_pci_device")]
#[doc(alias = "physdev_pci_device_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevPciDevice {
    /// IN: PCI segment.
    pub seg: u16,
    /// IN: bus number.
    pub bus: u8,
    /// IN: device/function.
    pub devfn: u8,
}
abi_layout!(PhysdevPciDevice: size 4, seg @ 0, bus @ 2, devfn @ 3);

/// [`PciDeviceReset::flags`]: cold reset.
pub const PCI_DEVICE_RESET_COLD: u32 = 0x0;
/// [`PciDeviceReset::flags`]: warm reset.
pub const PCI_DEVICE_RESET_WARM: u32 = 0x1;
/// [`PciDeviceReset::flags`]: hot reset.
pub const PCI_DEVICE_RESET_HOT: u32 = 0x2;
/// [`PciDeviceReset::flags`]: function-level reset.
pub const PCI_DEVICE_RESET_FLR: u32 = 0x3;
/// Mask of the reset kind in [`PciDeviceReset::flags`].
pub const PCI_DEVICE_RESET_MASK: u32 = 0x3;

/// Argument of `PHYSDEVOP_pci_device_reset` (`struct pci_device_reset`).
#[doc(alias = "pci_device_reset")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PciDeviceReset {
    /// IN: device reset.
    pub dev: PhysdevPciDevice,
    /// IN: `PCI_DEVICE_RESET_*` kind.
    pub flags: u32,
}
abi_layout!(PciDeviceReset: size 8, dev @ 0, flags @ 4);

/// [`PhysdevDbgpOp::op`]: the debug port is about to be reset.
pub const PHYSDEVOP_DBGP_RESET_PREPARE: u8 = 1;
/// [`PhysdevDbgpOp::op`]: the reset is done.
pub const PHYSDEVOP_DBGP_RESET_DONE: u8 = 2;
/// [`PhysdevDbgpOp::bus`]: bus type unknown.
pub const PHYSDEVOP_DBGP_BUS_UNKNOWN: u8 = 0;
/// [`PhysdevDbgpOp::bus`]: PCI; `pci` identifies the controller.
pub const PHYSDEVOP_DBGP_BUS_PCI: u8 = 1;

/// Argument of `PHYSDEVOP_dbgp_op` (`physdev_dbgp_op_t`).
#[doc(alias = "physdev_dbgp_op")]
#[doc(alias = "physdev_dbgp_op_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevDbgpOp {
    /// IN: `PHYSDEVOP_DBGP_RESET_*`.
    pub op: u8,
    /// IN: `PHYSDEVOP_DBGP_BUS_*`.
    pub bus: u8,
    /// IN: the controller (Xen: union `u.pci`).
    pub pci: PhysdevPciDevice,
}
abi_layout!(PhysdevDbgpOp: size 6, op @ 0, bus @ 1, pci @ 2);

/// Argument of the legacy `physdev_op_compat` hypercall (`physdev_op_t`):
/// a command and the matching struct in a union (commands 5–11 only).
///
/// The union is kept as raw words; read it with
/// [`PhysdevOpCompat::payload`] after matching `cmd`.
#[doc(alias = "physdev_op")]
#[doc(alias = "physdev_op_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PhysdevOpCompat {
    /// IN: a [`PhysdevOp`] number.
    pub cmd: u32,
    /// Padding; zero.
    pub pad0: u32,
    /// IN/OUT: the command's argument struct (largest: [`PhysdevApic`]).
    pub u: [u64; 2],
}
abi_layout!(PhysdevOpCompat: size 24, cmd @ 0, u @ 8);

impl PhysdevOpCompat {
    /// Reads the union as the argument struct `T` (its leading bytes).
    #[must_use]
    pub fn payload<T: crate::AbiBytes>(&self) -> Option<T> {
        crate::union_payload(&self.u)
    }

    /// Writes `value` into the leading bytes of the union; `false` if `T`
    /// does not fit.
    pub fn set_payload<T: crate::AbiBytes>(&mut self, value: &T) -> bool {
        crate::set_union_payload(&mut self.u, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AbiBytes;

    #[test]
    fn numbers() {
        assert_eq!(PhysdevOp::ALL.len(), 26);
        for &op in PhysdevOp::ALL {
            assert_eq!(PhysdevOp::try_from(op.raw()), Ok(op));
        }
        for missing in [0, 4, 18, 22, 33] {
            assert!(PhysdevOp::try_from(missing).is_err());
        }
        assert_eq!(PhysdevOp::Eoi.raw(), 12);
        assert_eq!(PhysdevOp::PirqEoiGmfnV1.raw(), 17);
        assert_eq!(PhysdevOp::PirqEoiGmfnV2.raw(), 28);
        assert_eq!(PhysdevOp::DbgpOp.raw(), 29);
    }

    #[test]
    fn structs_round_trip() {
        let iopl = PhysdevSetIopl { iopl: 3 };
        assert_eq!(iopl.as_bytes(), &[3, 0, 0, 0]);
        let bitmap = PhysdevSetIobitmap { bitmap: 0x5000, nr_ports: 65536, pad0: 0 };
        assert_eq!(bitmap.as_bytes().get(8..12), Some(&65536u32.to_le_bytes()[..]));
        assert_eq!(PhysdevSetIobitmap::from_bytes(bitmap.as_bytes()), Some(bitmap));

        let map = PhysdevMapPirq {
            domid: DomId::SELF,
            ty: MAP_PIRQ_TYPE_GSI,
            index: 9,
            pirq: -1,
            ..Default::default()
        };
        let bytes = map.as_bytes();
        assert_eq!(bytes.get(12..16), Some(&(-1i32).to_le_bytes()[..]));
        assert_eq!(PhysdevMapPirq::from_bytes(bytes), Some(map));

        let add = PhysdevPciDeviceAdd {
            seg: 0,
            bus: 3,
            devfn: 0x10,
            flags: XEN_PCI_DEV_PXM,
            physfn: PciBusDevfn::default(),
            pad0: 0,
        };
        let mut with_pxm = add.as_bytes().to_vec();
        with_pxm.extend_from_slice(&1u32.to_le_bytes());
        assert_eq!(PhysdevPciDeviceAdd::read_prefix(&with_pxm), Some(add));
    }

    #[test]
    fn compat_payload() {
        let mut op = PhysdevOpCompat { cmd: PhysdevOp::ApicRead.raw(), ..Default::default() };
        let apic = PhysdevApic { apic_physbase: 0xfec0_0000, reg: 1, value: 0 };
        assert!(op.set_payload(&apic));
        assert_eq!(op.payload::<PhysdevApic>(), Some(apic));
        assert_eq!(op.as_bytes().get(8..16), Some(&0xfec0_0000u64.to_le_bytes()[..]));
        assert!(!op.set_payload(&PhysdevMapPirq::default()));
    }
}
