// SPDX-License-Identifier: GPL-2.0-only
//! A PV domain's initial virtual layout, as Xen's 64-bit PV builder lays it out.
//!
//! The one copy of this arithmetic: the hypervisor's dom0 builder uses it
//! (re-exported as `hv_core::dom0_build::layout`) and so does the domain
//! builder of this crate for domUs.
//!
//! From `v_start` (the kernel's `VIRT_BASE`) upwards, each piece page-aligned:
//! `[kernel][initrd][P2M list: nr_pages × 8][start_info + VGA info]
//!  [bootstrap page tables][boot stack, 1 page]`, then padding to `v_end`,
//! a 4 MiB boundary at least 512 KiB past the stack. Every page of
//! `v_start..v_end` is mapped to the pseudo-physical frame
//! `(va - v_start) >> 12`. The number of page-table pages is the smallest
//! that can map `v_start..v_end` (one L4, plus the L3s, L2s and L1s the range
//! touches), found by iteration because the tables themselves are in range.
//! With an `INIT_P2M` note the P2M list moves to its own address instead, and
//! with `MOD_START_PFN` support an initrd may be left unmapped; both follow
//! Xen.
//!
//! A domU ([`Kind::DomU`], [`compute_for`]) has no VGA console info after its
//! start_info; instead a xenstore page and a console page follow it, before
//! the page tables: Xen's `dom0_construct` lays out its PV shim this way
//! (`vxenstore_start`, `vconsole_start`), and the toolstack's
//! `alloc_magic_pages_pv` allocates the same three pages in the same order.

use guest_abi::xen::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START, StartInfo};

const PAGE_SIZE: u64 = 4096;
const FOUR_MIB: u64 = 4 << 20;
const MIN_SLACK: u64 = 512 << 10;
const L2_SHIFT: u32 = 21;
const L3_SHIFT: u32 = 30;
const L4_SHIFT: u32 = 39;
/// `sizeof(struct start_info)` on x86_64.
pub const START_INFO_SIZE: u64 = core::mem::size_of::<StartInfo>() as u64;
/// `sizeof(struct dom0_vga_console_info)`, placed after start_info.
pub const VGA_CONSOLE_INFO_SIZE: u64 = 40;
/// Bytes per P2M entry (`unsigned long`).
const P2M_ENTRY: u64 = 8;
/// Largest number of bootstrap page-table pages tried before giving up.
const MAX_PT_PAGES: u64 = 1 << 20;

/// Which builder's layout: Xen's dom0 builder, or a domU's (toolstack).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Dom0: `[start_info + VGA console info]` then the page tables.
    #[default]
    Dom0,
    /// DomU: `[start_info][xenstore page][console page]` then the page tables.
    DomU,
}

/// What the layout is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutInput {
    /// The kernel's `VIRT_BASE`: the start of the initial mapping.
    pub virt_base: u64,
    /// First virtual address of the loaded kernel.
    pub virt_kstart: u64,
    /// End (exclusive) of the loaded kernel.
    pub virt_kend: u64,
    /// Initrd length in bytes (0 for none).
    pub initrd_len: u64,
    /// Leave the initrd unmapped and pass its first PFN (`SIF_MOD_START_PFN`).
    pub unmapped_initrd: bool,
    /// Pages the domain gets.
    pub nr_pages: u64,
    /// `INIT_P2M` note: where the kernel wants its P2M list mapped instead.
    pub p2m_base: Option<u64>,
}

/// Dom0's layout (the name of [`Layout`] before domUs shared it).
pub type Dom0Layout = Layout;

/// The computed layout. All addresses are guest virtual; ranges are `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Start of the initial mapping.
    pub v_start: u64,
    /// Kernel.
    pub kernel: (u64, u64),
    /// Initrd (empty range when none or unmapped).
    pub initrd: (u64, u64),
    /// P2M list (`start_info.mfn_list`).
    pub p2m: (u64, u64),
    /// start_info (followed by the VGA console info for dom0).
    pub start_info: (u64, u64),
    /// The xenstore ring page (domU only; empty for dom0).
    pub xenstore: (u64, u64),
    /// The console ring page (domU only; empty for dom0).
    pub console: (u64, u64),
    /// Bootstrap page tables (`start_info.pt_base`).
    pub page_tables: (u64, u64),
    /// Number of bootstrap page-table pages (`start_info.nr_pt_frames`).
    pub nr_pt_pages: u64,
    /// Boot stack page; the initial RSP is its end.
    pub stack: (u64, u64),
    /// End of the initial mapping.
    pub v_end: u64,
}

/// Why dom0 cannot be laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The kernel range is empty, reversed, or starts below `v_start`.
    BadKernelRange,
    /// An address computation overflowed (an absurd image or initrd size).
    Overflow,
    /// The initial mapping needs more memory than dom0 gets: `(needed, available)` pages.
    TooSmall(u64, u64),
    /// The mapping would reach into the hypervisor's part of the address space.
    HitsHypervisor,
}

impl core::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadKernelRange => f.write_str("kernel range is empty or below VIRT_BASE"),
            Self::Overflow => {
                f.write_str("address arithmetic overflows: image or initrd too large")
            }
            Self::TooSmall(need, have) => write!(
                f,
                "domain 0 allocation is too small for the kernel image: needs {need} pages, has {have}"
            ),
            Self::HitsHypervisor => {
                f.write_str("initial mapping overlaps the hypervisor's virtual range")
            }
        }
    }
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    let mask = to.checked_sub(1)?;
    Some(v.checked_add(mask)? & !mask)
}

/// Number of `1 << shift` sized, aligned blocks that `[lo, hi)` touches (Xen's `NR()`).
/// Modular arithmetic, as in Xen: a range in the top block of the address
/// space rounds its end up to 2^64, which wraps to 0 and still counts right.
fn blocks(lo: u64, hi: u64, shift: u32) -> Option<u64> {
    let mask = 1u64.checked_shl(shift)?.checked_sub(1)?;
    let top = hi.wrapping_add(mask) & !mask;
    Some(top.wrapping_sub(lo & !mask) >> shift)
}

/// Compute dom0's layout.
pub fn compute(input: &LayoutInput) -> Result<Layout, LayoutError> {
    compute_for(input, Kind::Dom0)
}

/// Compute the layout of a dom0 or a domU.
pub fn compute_for(input: &LayoutInput, kind: Kind) -> Result<Layout, LayoutError> {
    let v_start = input.virt_base;
    if input.virt_kstart < v_start || input.virt_kend <= input.virt_kstart {
        return Err(LayoutError::BadKernelRange);
    }
    let ovf = |v: Option<u64>| v.ok_or(LayoutError::Overflow);
    let initrd_start = ovf(round_up(input.virt_kend, PAGE_SIZE))?;
    let initrd_end = if input.unmapped_initrd {
        initrd_start
    } else {
        ovf(initrd_start.checked_add(input.initrd_len))?
    };
    let p2m_len = ovf(input.nr_pages.checked_mul(P2M_ENTRY))?;
    let (p2m, after_p2m) = match input.p2m_base {
        Some(base) => ((base, ovf(base.checked_add(p2m_len))?), initrd_end),
        None => {
            let start = ovf(round_up(initrd_end, PAGE_SIZE))?;
            let end = ovf(start.checked_add(p2m_len))?;
            ((start, end), end)
        }
    };
    let si_start = ovf(round_up(after_p2m, PAGE_SIZE))?;
    let (si_end, xenstore, console, pt_start) = match kind {
        Kind::Dom0 => {
            let si_end = ovf(si_start.checked_add(START_INFO_SIZE + VGA_CONSOLE_INFO_SIZE))?;
            let pt_start = ovf(round_up(si_end, PAGE_SIZE))?;
            (si_end, (pt_start, pt_start), (pt_start, pt_start), pt_start)
        }
        Kind::DomU => {
            let si_end = ovf(si_start.checked_add(START_INFO_SIZE))?;
            let xs = ovf(round_up(si_end, PAGE_SIZE))?;
            let xs_end = ovf(xs.checked_add(PAGE_SIZE))?;
            let con_end = ovf(xs_end.checked_add(PAGE_SIZE))?;
            (si_end, (xs, xs_end), (xs_end, con_end), con_end)
        }
    };

    let mut nr_pt_pages = 2u64;
    loop {
        let pt_end = ovf(nr_pt_pages.checked_mul(PAGE_SIZE).and_then(|l| pt_start.checked_add(l)))?;
        let stack_end = ovf(pt_end.checked_add(PAGE_SIZE))?;
        let mut v_end = ovf(round_up(stack_end, FOUR_MIB))?;
        if v_end.saturating_sub(stack_end) < MIN_SLACK {
            v_end = ovf(v_end.checked_add(FOUR_MIB))?;
        }
        let needed = 1u64
            .checked_add(ovf(blocks(v_start, v_end, L4_SHIFT))?)
            .and_then(|n| n.checked_add(blocks(v_start, v_end, L3_SHIFT)?))
            .and_then(|n| n.checked_add(blocks(v_start, v_end, L2_SHIFT)?));
        if ovf(needed)? <= nr_pt_pages {
            if v_end > HYPERVISOR_VIRT_START && v_start < HYPERVISOR_VIRT_END {
                return Err(LayoutError::HitsHypervisor);
            }
            let mapped_pages = v_end.saturating_sub(v_start) / PAGE_SIZE;
            if mapped_pages > input.nr_pages {
                return Err(LayoutError::TooSmall(mapped_pages, input.nr_pages));
            }
            return Ok(Layout {
                v_start,
                kernel: (input.virt_kstart, input.virt_kend),
                initrd: (initrd_start, initrd_end),
                p2m,
                start_info: (si_start, si_end),
                xenstore,
                console,
                page_tables: (pt_start, pt_end),
                nr_pt_pages,
                stack: (pt_end, stack_end),
                v_end,
            });
        }
        nr_pt_pages = nr_pt_pages.saturating_add(1);
        if nr_pt_pages > MAX_PT_PAGES {
            return Err(LayoutError::Overflow);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects)]
    use super::*;

    const MIB: u64 = 1 << 20;

    fn xtf(nr_pages: u64) -> LayoutInput {
        // XTF: VIRT_BASE unset (0), one LOAD at 1 MiB of 0x12000 bytes.
        LayoutInput {
            virt_base: 0,
            virt_kstart: MIB,
            virt_kend: MIB + 0x12000,
            initrd_len: 0,
            unmapped_initrd: false,
            nr_pages,
            p2m_base: None,
        }
    }

    #[test]
    fn xtf_as_dom0_with_256_mib() {
        let l = compute(&xtf(65536)).expect("layout");
        assert_eq!(l.v_start, 0);
        assert_eq!(l.initrd, (0x112000, 0x112000));
        assert_eq!(l.p2m, (0x112000, 0x112000 + 65536 * 8));
        assert_eq!(l.start_info.0, 0x192000);
        assert_eq!(l.page_tables.0, 0x193000);
        // 0..4 MiB: 1 L4 + 1 L3 + 1 L2 + 2 L1 (two 2 MiB blocks).
        assert_eq!(l.v_end, 4 * MIB);
        assert_eq!(l.nr_pt_pages, 5);
        assert_eq!(l.stack, (0x198000, 0x199000));
    }

    #[test]
    fn slack_below_512k_adds_4_mib() {
        // Kernel ending just below 4 MiB leaves too little slack.
        let mut i = xtf(65536);
        i.virt_kend = 4 * MIB - 0x1000 - 65536 * 8 - 0x6000;
        let l = compute(&i).expect("layout");
        assert!(l.v_end - l.stack.1 >= 512 * 1024);
        assert_eq!(l.v_end % (4 * MIB), 0);
    }

    #[test]
    fn linux_style_high_virt_base() {
        let base = 0xffff_ffff_8000_0000;
        let i = LayoutInput {
            virt_base: base,
            virt_kstart: base + 0x100_0000,
            virt_kend: base + 0x300_0000,
            initrd_len: 20 * MIB,
            unmapped_initrd: false,
            nr_pages: 131_072,
            p2m_base: None,
        };
        let l = compute(&i).expect("layout");
        assert_eq!(l.initrd, (base + 0x300_0000, base + 0x300_0000 + 20 * MIB));
        assert_eq!(l.p2m.0, l.initrd.1);
        assert!(l.page_tables.0 > l.start_info.1 - 1);
        assert_eq!(l.page_tables.1, l.page_tables.0 + l.nr_pt_pages * PAGE_SIZE);
        // Mapping from base: 1 L4 + 1 L3 + 1 L2 + one L1 per 2 MiB.
        let l1s = (l.v_end - base).div_ceil(2 * MIB);
        assert_eq!(l.nr_pt_pages, 3 + l1s);
    }

    #[test]
    fn init_p2m_moves_the_list_out() {
        let mut i = xtf(65536);
        i.p2m_base = Some(0x8000_0000_0000);
        let l = compute(&i).expect("layout");
        assert_eq!(l.p2m, (0x8000_0000_0000, 0x8000_0000_0000 + 65536 * 8));
        assert_eq!(l.start_info.0, 0x112000);
    }

    #[test]
    fn unmapped_initrd_takes_no_space() {
        let mut i = xtf(65536);
        i.initrd_len = 100 * MIB;
        i.unmapped_initrd = true;
        let l = compute(&i).expect("layout");
        assert_eq!(l.initrd.0, l.initrd.1);
        assert_eq!(l.v_end, 4 * MIB);
    }

    #[test]
    fn too_small_allocation_is_refused() {
        assert_eq!(compute(&xtf(512)), Err(LayoutError::TooSmall(1024, 512)));
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let mut i = xtf(65536);
        i.virt_kend = i.virt_kstart;
        assert_eq!(compute(&i), Err(LayoutError::BadKernelRange));
        let mut i = xtf(65536);
        i.virt_base = 2 * MIB;
        assert_eq!(compute(&i), Err(LayoutError::BadKernelRange));
        let mut i = xtf(u64::MAX);
        i.initrd_len = u64::MAX;
        assert_eq!(compute(&i), Err(LayoutError::Overflow));
        let mut i = xtf(u64::MAX / 8);
        i.virt_kend = u64::MAX - 10;
        assert_eq!(compute(&i), Err(LayoutError::Overflow));
    }

    #[test]
    fn mapping_into_the_hypervisor_hole_is_refused() {
        let base = 0xffff_8000_0000_0000 - 2 * MIB;
        let i = LayoutInput {
            virt_base: base,
            virt_kstart: base,
            virt_kend: base + MIB,
            initrd_len: 0,
            unmapped_initrd: false,
            nr_pages: 65536,
            p2m_base: None,
        };
        assert_eq!(compute(&i), Err(LayoutError::HitsHypervisor));
    }

    #[test]
    fn domu_has_xenstore_and_console_pages_before_the_tables() {
        let d0 = compute(&xtf(16384)).expect("dom0 layout");
        let du = compute_for(&xtf(16384), Kind::DomU).expect("domU layout");
        assert_eq!(du.start_info, (d0.start_info.0, d0.start_info.0 + START_INFO_SIZE));
        assert_eq!(du.xenstore, (du.start_info.0 + 0x1000, du.start_info.0 + 0x2000));
        assert_eq!(du.console, (du.xenstore.1, du.xenstore.1 + 0x1000));
        assert_eq!(du.page_tables.0, du.console.1);
        assert_eq!(du.page_tables.0, d0.page_tables.0 + 0x2000);
        assert_eq!(du.stack.0, du.page_tables.1);
        assert_eq!(d0.xenstore.0, d0.xenstore.1);
        assert_eq!(d0.console.0, d0.console.1);
    }

    #[test]
    fn blocks_counts_touched_blocks() {
        assert_eq!(blocks(0, 4 * MIB, L2_SHIFT), Some(2));
        assert_eq!(blocks(MIB, 3 * MIB, L2_SHIFT), Some(2));
        assert_eq!(blocks(0, 1, L4_SHIFT), Some(1));
    }
}
