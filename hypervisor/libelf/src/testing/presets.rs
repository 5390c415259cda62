// SPDX-License-Identifier: GPL-2.0-only
//! Images modelled on real PV kernels (guest-abi.md §1.2, §2.1, §3.1).

use alloc::string::String;
use alloc::vec;

use guest_abi::elfnote::XenElfNote;

use super::builder::{
    Builder, LoadSpec, NoteSpec, RW, RWX, RX, xen_raw, xen_str, xen_u32, xen_u64,
};

/// XTF `test-pv64-*` (guest-abi.md §1.2): one RWX `PT_LOAD` at 1 MiB,
/// entry 1 MiB, notes in a `PT_NOTE` (and its section).
pub fn xtf() -> Builder {
    let mut b = Builder::empty();
    b.entry = 0x10_0000;
    b.loads = vec![LoadSpec {
        paddr: 0x10_0000,
        vaddr: 0x10_0000,
        filesz: 0x81f8,
        memsz: 0x1_2000,
        flags: RWX,
    }];
    b.notes(vec![
        xen_str(XenElfNote::GuestOs, "XTF"),
        xen_str(XenElfNote::GuestVersion, "0"),
        xen_str(XenElfNote::Loader, "generic"),
        xen_u64(XenElfNote::HypercallPage, 0x10_6000),
        xen_str(XenElfNote::XenVersion, "xen-3.0"),
        xen_str(XenElfNote::Features, "!writable_page_tables|pae_pgdir_above_4gb"),
        xen_str(XenElfNote::PaeMode, "yes"),
    ])
}

/// mini-os (guest-abi.md §2.1): linked at 0, notes only in an `SHT_NOTE`.
pub fn minios() -> Builder {
    let mut b = Builder::empty();
    b.entry = 0;
    b.loads = vec![
        LoadSpec { paddr: 0, vaddr: 0, filesz: 0x1e683, memsz: 0x1e683, flags: RX },
        LoadSpec { paddr: 0x1f060, vaddr: 0x1f060, filesz: 0x2f48, memsz: 0x4df48, flags: RW },
    ];
    b.section_notes = vec![
        xen_str(XenElfNote::GuestOs, "Mini-OS"),
        xen_str(XenElfNote::Loader, "generic"),
        xen_u64(XenElfNote::HypercallPage, 0x2000),
        xen_str(XenElfNote::XenVersion, "xen-3.0"),
    ];
    b
}

/// Linux `VIRT_BASE` (`__START_KERNEL_map`).
pub const LINUX_BASE: u64 = 0xffff_ffff_8000_0000;

/// A scaled-down Linux vmlinux (guest-abi.md §3.1): four `PT_LOAD`s (one
/// with `p_vaddr = 0`), a GNU build-id note before the Xen ones.
pub fn linux() -> Builder {
    let mut b = Builder::empty();
    b.entry = 0x100_0000;
    b.loads = vec![
        LoadSpec {
            paddr: 0x100_0000,
            vaddr: LINUX_BASE + 0x100_0000,
            filesz: 0x2000,
            memsz: 0x2000,
            flags: RX,
        },
        LoadSpec {
            paddr: 0x120_0000,
            vaddr: LINUX_BASE + 0x120_0000,
            filesz: 0x1000,
            memsz: 0x3000,
            flags: RW,
        },
        LoadSpec { paddr: 0x140_0000, vaddr: 0, filesz: 0x800, memsz: 0x1000, flags: RW },
        LoadSpec {
            paddr: 0x160_0000,
            vaddr: LINUX_BASE + 0x160_0000,
            filesz: 0x1000,
            memsz: 0x2000,
            flags: RWX,
        },
    ];
    let mut l1_mfn_valid = 1u64.to_le_bytes().to_vec();
    l1_mfn_valid.extend_from_slice(&1u64.to_le_bytes());
    b.notes(vec![
        NoteSpec { name: "GNU", type_: 3, desc: vec![0xab; 20] },
        xen_str(XenElfNote::GuestOs, "linux"),
        xen_str(XenElfNote::GuestVersion, "2.6"),
        xen_str(XenElfNote::XenVersion, "xen-3.0"),
        xen_u64(XenElfNote::VirtBase, LINUX_BASE),
        xen_u64(XenElfNote::PaddrOffset, 0),
        xen_u64(XenElfNote::InitP2m, 0x80_0000_0000),
        xen_u64(XenElfNote::Entry, LINUX_BASE + 0x160_0100),
        xen_u64(XenElfNote::HypercallPage, LINUX_BASE + 0x100_1000),
        xen_str(XenElfNote::Features, "!writable_page_tables|pae_pgdir_above_4gb"),
        xen_u32(XenElfNote::SupportedFeatures, 0x8801),
        xen_str(XenElfNote::PaeMode, "yes"),
        xen_str(XenElfNote::Loader, "generic"),
        xen_raw(XenElfNote::L1MfnValid, l1_mfn_valid),
        xen_u32(XenElfNote::SuspendCancel, 1),
        xen_u32(XenElfNote::ModStartPfn, 1),
        xen_u64(XenElfNote::HvStartLow, 0xffff_8000_0000_0000),
        xen_u32(XenElfNote::Phys32Entry, 0x160_0200),
    ])
}

/// A Linux 2.6.16-xen style image: no notes, a `__xen_guest` section, and
/// virtual addresses in `p_paddr`.
pub fn legacy() -> Builder {
    let mut b = Builder::empty();
    b.entry = LINUX_BASE + 0x10_0000;
    b.loads = vec![LoadSpec {
        paddr: LINUX_BASE + 0x10_0000,
        vaddr: LINUX_BASE + 0x10_0000,
        filesz: 0x3000,
        memsz: 0x4000,
        flags: RWX,
    }];
    b.xen_guest = Some(String::from(
        "GUEST_OS=linux,GUEST_VER=2.6,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000,\
         ELF_PADDR_OFFSET=0xffffffff80000000,HYPERCALL_PAGE=0x101,LOADER=generic,\
         FEATURES=writable_page_tables|writable_descriptor_tables|!pae_pgdir_above_4gb,\
         PAE=yes[extended-cr3]",
    ));
    b
}
