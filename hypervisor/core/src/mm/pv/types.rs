// SPDX-License-Identifier: GPL-2.0-only
//! Page types, per-frame accounting and the x86_64 PTE bits Xen checks.
//!
//! Xen packs a frame's state into `count_info` (general references plus
//! `PGC_*` flags) and `u.inuse.type_info` (type count plus `PGT_*` bits);
//! here the same state is a plain struct, [`PageInfo`], with a
//! [`TypeInfo`] whose fields mirror `PGT_type_mask`, `PGT_count_mask`,
//! `PGT_validated` and `PGT_pinned`. `PGT_partial` does not exist because
//! validation is not preemptible in this model (see the module notes in
//! [`super`]).
//!
//! PTE constants are those of `asm-x86/page.h` and `x86_64/page.h`, written
//! as masks on the 64-bit entry itself rather than on Xen's 24-bit "flags"
//! encoding (`get_pte_flags`), so `_PAGE_NX` is bit 63 here, not bit 23.

use guest_abi::xen::DomId;

use crate::mm::Mfn;
use crate::mm::tlbflush::TlbStamp;

/// Entries per page-table page (`L1_PAGETABLE_ENTRIES` etc.).
pub const PT_ENTRIES: usize = 512;

/// First L4 slot owned by the hypervisor (`ROOT_PAGETABLE_FIRST_XEN_SLOT`):
/// `HYPERVISOR_VIRT_START` = `0xFFFF_8000_0000_0000`.
pub const ROOT_PAGETABLE_FIRST_XEN_SLOT: usize = 256;
/// Last L4 slot owned by the hypervisor (`ROOT_PAGETABLE_LAST_XEN_SLOT`),
/// the one below `HYPERVISOR_VIRT_END` = `0xFFFF_8800_0000_0000`.
pub const ROOT_PAGETABLE_LAST_XEN_SLOT: usize = 271;

/// `_PAGE_PRESENT`.
pub const PAGE_PRESENT: u64 = 1 << 0;
/// `_PAGE_RW`.
pub const PAGE_RW: u64 = 1 << 1;
/// `_PAGE_USER`.
pub const PAGE_USER: u64 = 1 << 2;
/// `_PAGE_PWT` (write-through).
pub const PAGE_PWT: u64 = 1 << 3;
/// `_PAGE_PCD` (cache disable).
pub const PAGE_PCD: u64 = 1 << 4;
/// `_PAGE_ACCESSED`.
pub const PAGE_ACCESSED: u64 = 1 << 5;
/// `_PAGE_DIRTY`.
pub const PAGE_DIRTY: u64 = 1 << 6;
/// `_PAGE_PSE` in L2/L3 entries (superpage).
pub const PAGE_PSE: u64 = 1 << 7;
/// `_PAGE_PAT` in L1 entries (same bit as [`PAGE_PSE`]).
pub const PAGE_PAT: u64 = 1 << 7;
/// `_PAGE_GLOBAL`.
pub const PAGE_GLOBAL: u64 = 1 << 8;
/// `_PAGE_AVAIL`: bits 9–11, free for the guest.
pub const PAGE_AVAIL: u64 = 0x7 << 9;
/// `_PAGE_AVAIL_HIGH`: bits 52–62, free for the guest.
pub const PAGE_AVAIL_HIGH: u64 = 0x7FF << 52;
/// `_PAGE_GUEST_KERNEL`: bit 52, set by Xen on guest-kernel L1 entries so
/// kernel and user mappings (both `_PAGE_USER` on 64-bit PV) differ.
pub const PAGE_GUEST_KERNEL: u64 = 1 << 52;
/// `_PAGE_NX`: bit 63.
pub const PAGE_NX: u64 = 1 << 63;
/// `PAGE_CACHE_ATTRS`: the bits that select the memory type.
pub const PAGE_CACHE_ATTRS: u64 = PAGE_PWT | PAGE_PCD | PAGE_PAT;
/// Address bits of an entry (`PADDR_MASK & PAGE_MASK`, 52-bit physical).
pub const PTE_ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Every bit of an entry that is a flag, not an address bit.
pub const PTE_FLAG_BITS: u64 = !PTE_ADDR_MASK;

/// `base_disallow_mask`: every flag except PRESENT, RW, USER, ACCESSED,
/// DIRTY, AVAIL, AVAIL_HIGH and NX (Xen's `arch_init_memory`).
pub const BASE_DISALLOW_MASK: u64 = PTE_FLAG_BITS
    & !(PAGE_PRESENT
        | PAGE_RW
        | PAGE_USER
        | PAGE_ACCESSED
        | PAGE_DIRTY
        | PAGE_AVAIL
        | PAGE_AVAIL_HIGH
        | PAGE_NX);
/// `L1_DISALLOW_MASK` (without `_PAGE_GNTTAB`, which is 0 in release
/// builds): as the base mask, but the global bit is allowed.
pub const L1_DISALLOW_MASK: u64 = BASE_DISALLOW_MASK & !PAGE_GLOBAL;
/// `L2_DISALLOW_MASK`, also used for L3 (64-bit guests) and L4: PSE, and
/// therefore superpages, is refused here.
pub const L2_DISALLOW_MASK: u64 = BASE_DISALLOW_MASK;

/// `FASTPATH_FLAG_WHITELIST`: flags a guest may change in a present entry
/// without re-validation (`mod_lN_entry` fast path). RW, PRESENT, PSE and
/// the cache attributes are deliberately absent (XSA-182).
pub const FASTPATH_FLAG_WHITELIST: u64 =
    PAGE_NX | PAGE_AVAIL_HIGH | PAGE_AVAIL | PAGE_GLOBAL | PAGE_DIRTY | PAGE_ACCESSED | PAGE_USER;

/// The MFN `get_page_from_l1e` treats as "INVALID_MFN" (all 40 address
/// bits set): a request naming it gets `EINVAL`, not `EPERM`.
pub const INVALID_PTE_MFN: Mfn = Mfn(PTE_ADDR_MASK >> 12);

/// Whether `pte` has `_PAGE_PRESENT`.
#[must_use]
pub const fn pte_present(pte: u64) -> bool {
    pte & PAGE_PRESENT != 0
}

/// Whether `pte` has `_PAGE_RW`.
#[must_use]
pub const fn pte_writable(pte: u64) -> bool {
    pte & PAGE_RW != 0
}

/// The frame an entry points to (`lNe_get_mfn`).
#[must_use]
pub const fn pte_mfn(pte: u64) -> Mfn {
    Mfn((pte & PTE_ADDR_MASK) >> 12)
}

/// Builds an entry from a frame and flags (`lNe_from_mfn`); address bits
/// beyond 52 bits and flag bits in `flags` that overlap the address are
/// dropped.
#[must_use]
pub const fn pte_from_mfn(mfn: Mfn, flags: u64) -> u64 {
    ((mfn.0 << 12) & PTE_ADDR_MASK) | (flags & PTE_FLAG_BITS)
}

/// `lNe_has_changed(old, new, ~FASTPATH_FLAG_WHITELIST)`: whether the
/// address or any flag outside the fast-path whitelist differs.
#[must_use]
pub const fn pte_needs_revalidation(old: u64, new: u64) -> bool {
    (old ^ new) & (PTE_ADDR_MASK | (PTE_FLAG_BITS & !FASTPATH_FLAG_WHITELIST)) != 0
}

/// A page-table level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Page table (maps 4 KiB pages).
    L1,
    /// Page directory.
    L2,
    /// Page-directory pointer table.
    L3,
    /// Root (PML4).
    L4,
}

impl Level {
    /// Every level, bottom up.
    pub const ALL: [Self; 4] = [Self::L1, Self::L2, Self::L3, Self::L4];

    /// The page type of a table at this level (`PGT_lN_page_table`).
    #[must_use]
    pub const fn page_type(self) -> PageType {
        match self {
            Self::L1 => PageType::L1,
            Self::L2 => PageType::L2,
            Self::L3 => PageType::L3,
            Self::L4 => PageType::L4,
        }
    }

    /// The level entries of this table point to (`None` for L1, whose
    /// entries map data frames).
    #[must_use]
    pub const fn child(self) -> Option<Self> {
        match self {
            Self::L1 => None,
            Self::L2 => Some(Self::L1),
            Self::L3 => Some(Self::L2),
            Self::L4 => Some(Self::L3),
        }
    }

    /// The flags a present entry at this level must not have
    /// (`l1_disallow_mask(d)`, `L2_DISALLOW_MASK`, `l3_disallow_mask(d)`
    /// for 64-bit guests, `L4_DISALLOW_MASK`). Domains with I/O memory
    /// capabilities may choose cache attributes in L1 entries.
    #[must_use]
    pub const fn disallow_mask(self, has_iomem_caps: bool) -> u64 {
        match self {
            Self::L1 if has_iomem_caps => L1_DISALLOW_MASK & !PAGE_CACHE_ATTRS,
            Self::L1 => L1_DISALLOW_MASK,
            Self::L2 | Self::L3 | Self::L4 => L2_DISALLOW_MASK,
        }
    }

    /// Whether slot `index` of a table at this level belongs to the guest
    /// (`is_guest_l4_slot`; every slot of L1–L3 on 64-bit PV).
    #[must_use]
    pub const fn is_guest_slot(self, index: usize) -> bool {
        match self {
            Self::L4 => {
                index < ROOT_PAGETABLE_FIRST_XEN_SLOT || index > ROOT_PAGETABLE_LAST_XEN_SLOT
            }
            Self::L1 | Self::L2 | Self::L3 => true,
        }
    }

    /// Xen's `adjust_guest_lNe` for 64-bit PV: guest kernels run in ring 3,
    /// so every present entry gets `_PAGE_USER`; L1 kernel mappings are
    /// tagged `_PAGE_GUEST_KERNEL`, user ones made global; L4 entries get
    /// `_PAGE_ACCESSED`. None of these bits affects reference counting.
    #[must_use]
    pub const fn adjust_guest_entry(self, pte: u64) -> u64 {
        if !pte_present(pte) {
            return pte;
        }
        match self {
            Self::L1 => {
                let mut e = pte;
                if e & PAGE_USER == 0 {
                    e |= PAGE_GUEST_KERNEL | PAGE_USER;
                }
                if e & PAGE_GUEST_KERNEL == 0 {
                    e |= PAGE_GLOBAL | PAGE_USER;
                }
                e
            }
            Self::L2 | Self::L3 => pte | PAGE_USER,
            Self::L4 => pte | PAGE_USER | PAGE_ACCESSED,
        }
    }
}

/// What a frame is used as (`PGT_type_mask`). Uses are mutually exclusive;
/// the type can change only while [`TypeInfo::count`] is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PageType {
    /// `PGT_none`: no special use (a fresh frame).
    #[default]
    None,
    /// `PGT_writable_page`: mapped writable somewhere.
    Writable,
    /// `PGT_l1_page_table`.
    L1,
    /// `PGT_l2_page_table`.
    L2,
    /// `PGT_l3_page_table`.
    L3,
    /// `PGT_l4_page_table`.
    L4,
    /// `PGT_seg_desc_page`: part of a GDT or LDT.
    SegDesc,
}

impl PageType {
    /// The page-table level of this type, if it is one.
    #[must_use]
    pub const fn level(self) -> Option<Level> {
        match self {
            Self::L1 => Some(Level::L1),
            Self::L2 => Some(Level::L2),
            Self::L3 => Some(Level::L3),
            Self::L4 => Some(Level::L4),
            Self::None | Self::Writable | Self::SegDesc => None,
        }
    }

    /// Whether the type is a page table of some level.
    #[must_use]
    pub const fn is_page_table(self) -> bool {
        self.level().is_some()
    }

    /// Whether a frame of this type must never be mapped writable by a
    /// guest (page tables and descriptor pages).
    #[must_use]
    pub const fn is_protected(self) -> bool {
        self.is_page_table() || matches!(self, Self::SegDesc)
    }
}

/// A frame's type state (`u.inuse.type_info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeInfo {
    /// Current use (`PGT_type_mask`).
    pub ty: PageType,
    /// References in the current use (`PGT_count_mask`).
    pub count: u32,
    /// The contents were checked for this type (`PGT_validated`); page
    /// tables lose it when their count drops to 0.
    pub validated: bool,
    /// Pinned by `MMUEXT_PIN_Ln_TABLE` (`PGT_pinned`); the pin holds one
    /// type and one general reference.
    pub pinned: bool,
}

/// Per-frame accounting (`struct page_info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageInfo {
    /// The owning domain (`page_get_owner`); `None` for free and hypervisor
    /// frames. [`DomId::IO`] marks I/O frames (Xen's `dom_io`).
    pub owner: Option<DomId>,
    /// General references (`count_info & PGC_count_mask`), including the
    /// allocation reference below.
    pub count: u32,
    /// The frame is allocated to its owner (`PGC_allocated`), which holds
    /// one general reference until the owner releases the frame.
    pub allocated: bool,
    /// Type state.
    pub type_info: TypeInfo,
    /// Xen's `linear_pt_count`: > 0 counts linear (same-level) entries this
    /// table holds, < 0 counts linear entries elsewhere pointing at it. A
    /// table is never both, which bounds de-typing recursion (XSA-240).
    pub linear_pt_count: i16,
    /// Xen's `tlbflush_timestamp` of an in-use frame: the TLB-flush time
    /// its type count last dropped to 0 (a writable mapping, or its use as
    /// a page table, may live on in TLBs until every CPU flushed after it).
    /// 0 for a frame that had no typed use since it was assigned.
    pub tlbflush_timestamp: TlbStamp,
}
