// SPDX-License-Identifier: GPL-2.0-only
//! The PV domain builder: the role of Xen's libxenguest (`xc_dom_*`).
//!
//! [`build`] turns a 64-bit PV kernel (ELF, or a Linux bzImage whose ELF
//! payload it unwraps) into a paused domain ready to run, through the
//! control hypercalls of a privileged domain ([`DomCtl`], one method per
//! hypercall). The same `no_std` + `alloc` library serves the PV test
//! kernel `pv-toolstack`, a Linux toolstack, and the host tests, which run
//! it against a hypervisor emulated over plain memory. Kernel images go
//! through the tree's one loader, `hv-libelf`; the layout arithmetic
//! ([`layout`]) is shared with the hypervisor's dom0 builder.
//!
//! What [`build`] does, in libxenguest's order:
//!
//! 1. parse the image and its Xen notes, lay the domain out
//!    ([`layout::compute_for`] with [`layout::Kind::DomU`]):
//!    `[kernel][initrd][P2M][start_info][xenstore][console][page tables]
//!    [boot stack]` from `VIRT_BASE`, mapped up to a 4 MiB boundary; with a
//!    `MOD_START_PFN` note the initrd is left unmapped, after the mapping,
//!    and passed by PFN (`SIF_MOD_START_PFN`). Everything is checked before
//!    the domain exists;
//! 2. `createdomain` (paused), `getdomaininfo` (its `shared_info` frame),
//!    `max_mem`, `populate_physmap` of `mem` MiB (PFN 0 up), the M2P of
//!    each frame (`MMU_MACHPHYS_UPDATE`);
//! 3. load the segments, the initrd, the P2M list, zero the xenstore,
//!    console and stack pages, write the page tables ([`pagetable`]),
//!    allocate the console and xenstore event channels (optional:
//!    [`DomainConfig::console_backend`], [`DomainConfig::store_backend`]),
//!    write start_info (`"xen-3.0-x86_64"`, `SIF_*` flags 0), reset
//!    shared_info (every vCPU's events masked), seed the grant table
//!    ([`seed_grant_table`], Xen's `xc_dom_gnttab_seed`): entries
//!    `GNTTAB_RESERVED_CONSOLE` and `GNTTAB_RESERVED_XENSTORE` grant the
//!    console and xenstore frames to their backends;
//! 4. pin the L4 (`MMUEXT_PIN_L4_TABLE`, `foreigndom` = the domain),
//!    `hypercall_init` on the `HYPERCALL_PAGE` frame, and load vCPU 0's
//!    context (`setvcpucontext`): `RIP` = entry, `RSP` = top of the boot
//!    stack, `RSI` = start_info, flat kernel selectors, `CR3` = the L4,
//!    `VGCF_in_kernel | VGCF_online`.
//!
//! The domain stays paused; the caller unpauses it. If anything fails after
//! `createdomain`, the domain is destroyed before the error is returned.
//!
//! Not done (yet): an `INIT_P2M` note is ignored and the P2M list is mapped
//! after the image, as Xen's toolstack does for kernels without the note.
//!
//! Nothing here panics on image data or on the hypervisor's answers: every
//! size and address is checked, a hostile image is an error.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod ctl;
mod error;
pub mod image;
pub mod layout;
pub mod p2m_map;
pub mod pagetable;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use guest_abi::domctl::{XenDomctlCreatedomain, xen_domctl_grant_version};
use guest_abi::grant_table::{
    GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE, GTF_permit_access, GrantEntryV1,
};
use guest_abi::unions::{ConsoleDomU, StartInfoConsole};
use guest_abi::version::XenDomainHandle;
use guest_abi::xen::{
    DomId, EvtchnPort, FLAT_KERNEL_CS, FLAT_KERNEL_DS, FLAT_KERNEL_SS, MAX_GUEST_CMDLINE, Mfn, Pfn,
    SIF_MOD_START_PFN, SharedInfo, StartInfo, VGCF_in_kernel, VGCF_online, VcpuGuestContext,
    VcpuId, XEN_LEGACY_MAX_VCPUS, xen_pfn_to_cr3,
};
use hv_libelf::{ElfDomParms, ElfError, LoadTarget};

pub use ctl::{CtlOp, DomCtl};
pub use error::BuildError;
pub use layout::Layout;

/// Size of a page.
pub const PAGE_SIZE: u64 = 4096;

/// Largest domain the builder makes: 1 TiB (the P2M list alone is then
/// 2 GiB of the caller's memory).
pub const MAX_MEM_MIB: u64 = 1 << 20;

/// `start_info.magic` of a 64-bit PV guest.
pub const START_INFO_MAGIC: &[u8] = b"xen-3.0-x86_64";

/// Most vCPUs a built domain may have (the hypervisor's per-domain limit).
pub const MAX_VCPUS: u32 = 64;

/// `max_evtchn_port` given to `createdomain` (libxl's default).
pub const MAX_EVTCHN_PORT: u32 = 1023;

/// Frames populated per `populate_physmap` call, and M2P entries per batch.
const BATCH: usize = 512;

/// What to build.
#[derive(Clone, Copy, Debug)]
pub struct DomainConfig<'a> {
    /// The kernel: a 64-bit PV ELF or a bzImage.
    pub kernel: &'a [u8],
    /// The initial ramdisk, if any.
    pub ramdisk: Option<&'a [u8]>,
    /// The kernel command line (at most 1023 bytes are passed, as Xen's
    /// `strncpy` into `start_info.cmd_line`).
    pub cmdline: &'a [u8],
    /// Memory in MiB (1 to [`MAX_MEM_MIB`]).
    pub mem_mib: u64,
    /// vCPUs (1 to [`MAX_VCPUS`]): `createdomain`'s and `max_vcpus`'
    /// count. Only vCPU 0 gets a context; the kernel brings up the others
    /// with `VCPUOP_initialise`, as with Xen's toolstack.
    pub vcpus: u32,
    /// The domain's UUID (`createdomain`'s `handle`).
    pub handle: XenDomainHandle,
    /// Security label (`createdomain`'s `ssidref`).
    pub ssidref: u32,
    /// The console backend: a port of the new domain unbound for it goes
    /// into `start_info.console.domU.evtchn`; `None` leaves it 0 (no PV
    /// console event channel; the ring page is still there).
    pub console_backend: Option<DomId>,
    /// The xenstore domain: as `console_backend`, for `store_evtchn`.
    pub store_backend: Option<DomId>,
    /// Build anyway when the hypervisor refuses `EVTCHNOP_alloc_unbound`
    /// for the domain: the port stays 0 and
    /// [`BuiltDomain::evtchn_refused`] says so (for hypervisors without
    /// interdomain event channels yet). Off by default: a refusal fails
    /// the build, as in Xen's toolstack.
    pub evtchns_optional: bool,
    /// The highest grant-table version the domain may choose
    /// (`createdomain`'s `grant_opts`); 2 by default, as libxl chooses
    /// when `physinfo` reports `XEN_SYSCTL_PHYSCAP_gnttab_v2`.
    pub max_grant_version: u32,
}

impl<'a> DomainConfig<'a> {
    /// A domain of `mem_mib` MiB running `kernel` with `cmdline`, console
    /// and xenstore served by dom0.
    #[must_use]
    pub fn new(kernel: &'a [u8], cmdline: &'a [u8], mem_mib: u64) -> Self {
        Self {
            kernel,
            ramdisk: None,
            cmdline,
            mem_mib,
            vcpus: 1,
            handle: XenDomainHandle([0; 16]),
            ssidref: 0,
            console_backend: Some(DomId(0)),
            store_backend: Some(DomId(0)),
            evtchns_optional: false,
            max_grant_version: 2,
        }
    }
}

/// What [`build`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltDomain {
    /// The new domain (paused).
    pub domid: DomId,
    /// Pages it has.
    pub nr_pages: u64,
    /// Its virtual layout.
    pub layout: Layout,
    /// Entry point.
    pub entry: u64,
    /// The start_info it was given.
    pub start_info: StartInfo,
    /// MFN of the L4 (`CR3`).
    pub l4_mfn: Mfn,
    /// The frame of the hypercall page, if the kernel asked for one.
    pub hypercall_mfn: Option<Mfn>,
    /// PFN where an unmapped initrd starts (`SIF_MOD_START_PFN`).
    pub initrd_pfn: Option<u64>,
    /// The P2M list (PFN → MFN).
    pub p2m: Vec<u64>,
    /// The hypervisor refused the console or xenstore event channel and
    /// [`DomainConfig::evtchns_optional`] let the build go on without.
    pub evtchn_refused: bool,
}

/// Everything checked and computed before the domain exists.
struct Plan {
    parms: ElfDomParms,
    layout: Layout,
    nr_pages: u64,
    /// First PFN of an unmapped initrd.
    initrd_pfn: Option<u64>,
    /// `INIT_P2M`: the first PFN of the P2M list's own pages and those pages.
    p2m_map: Option<(u64, Vec<p2m_map::MapPage>)>,
    cmdline: [u8; MAX_GUEST_CMDLINE],
}

fn pfn_of(layout: &Layout, va: u64) -> u64 {
    va.saturating_sub(layout.v_start) / PAGE_SIZE
}

/// Checks the image against the configuration and lays the domain out.
fn plan<E>(cfg: &DomainConfig<'_>, image: &[u8]) -> Result<Plan, BuildError<E>> {
    if cfg.mem_mib == 0 || cfg.mem_mib > MAX_MEM_MIB {
        return Err(BuildError::Invalid("memory size must be 1 MiB to 1 TiB"));
    }
    if cfg.vcpus == 0 || cfg.vcpus > MAX_VCPUS {
        return Err(BuildError::Invalid("vCPUs must be 1 to 64"));
    }
    let nr_pages = cfg.mem_mib.saturating_mul(256);
    let parms = hv_libelf::parse(image)?;
    let ramdisk_len = cfg.ramdisk.map_or(0, |r| r.len() as u64);
    let unmapped = parms.mod_start_pfn && ramdisk_len != 0;
    // libxenguest ignores an INIT_P2M at or above VIRT_BASE or unaligned.
    let p2m_base = parms.p2m_base.filter(|&b| b < parms.virt_base && b.is_multiple_of(PAGE_SIZE));
    let layout = layout::compute_for(
        &layout::LayoutInput {
            virt_base: parms.virt_base,
            virt_kstart: parms.virt_kstart,
            virt_kend: parms.virt_kend,
            initrd_len: ramdisk_len,
            unmapped_initrd: unmapped,
            nr_pages,
            p2m_base,
        },
        layout::Kind::DomU,
    )?;
    if parms.virt_entry < layout.kernel.0 || parms.virt_entry >= layout.kernel.1 {
        return Err(BuildError::Invalid("entry point outside the kernel image"));
    }
    if let Some(hc) = parms.virt_hypercall
        && (!hc.is_multiple_of(PAGE_SIZE)
            || hc < layout.kernel.0
            || hc.saturating_add(PAGE_SIZE) > layout.kernel.1)
    {
        return Err(BuildError::Invalid("hypercall page outside the kernel image"));
    }
    let mapped_pages = pfn_of(&layout, layout.v_end);
    let initrd_pfn = if unmapped {
        let pages = ramdisk_len.div_ceil(PAGE_SIZE);
        if mapped_pages.checked_add(pages).is_none_or(|end| end > nr_pages) {
            return Err(BuildError::Invalid("no room for the unmapped initrd"));
        }
        Some(mapped_pages)
    } else {
        None
    };
    // The P2M list's own pages follow the mapping and an unmapped initrd
    // (libxenguest allocates them last).
    let p2m_map = match p2m_base {
        Some(base) => {
            let end = layout.p2m.1.div_ceil(PAGE_SIZE).saturating_mul(PAGE_SIZE);
            p2m_map::check(base, end, layout.v_start, layout.v_end)
                .map_err(|_| BuildError::Invalid("INIT_P2M address unusable"))?;
            let map = p2m_map::pages_libxc(base, end);
            let initrd_pages = if unmapped { ramdisk_len.div_ceil(PAGE_SIZE) } else { 0 };
            let first = mapped_pages.saturating_add(initrd_pages);
            if first.saturating_add(map.len() as u64) > nr_pages {
                return Err(BuildError::Invalid("no room for the P2M list's own mapping"));
            }
            Some((first, map))
        }
        None => None,
    };
    let mut cmdline = [0u8; MAX_GUEST_CMDLINE];
    let take =
        cfg.cmdline.iter().take_while(|&&b| b != 0).take(MAX_GUEST_CMDLINE.saturating_sub(1));
    for (d, &s) in cmdline.iter_mut().zip(take) {
        *d = s;
    }
    Ok(Plan { parms, layout, nr_pages, initrd_pfn, p2m_map, cmdline })
}

/// The domain's memory as the builder writes it: by guest virtual address
/// through the P2M, or by PFN.
struct Guest<'c, C: DomCtl> {
    ctl: &'c mut C,
    dom: DomId,
    p2m: &'c [u64],
    v_start: u64,
    /// The hypervisor's error behind a failed [`LoadTarget`] call.
    failed: Option<BuildError<C::Error>>,
}

impl<C: DomCtl> Guest<'_, C> {
    fn mfn(&self, pfn: u64) -> Result<Mfn, BuildError<C::Error>> {
        usize::try_from(pfn)
            .ok()
            .and_then(|i| self.p2m.get(i))
            .map(|&m| Mfn(m))
            .ok_or(BuildError::Invalid("address outside the domain's memory"))
    }

    /// Writes `bytes` (zeroes if `None`) over `len` bytes from byte `at` of
    /// the pseudo-physical space.
    fn fill_phys(
        &mut self,
        at: u64,
        len: u64,
        bytes: Option<&[u8]>,
    ) -> Result<(), BuildError<C::Error>> {
        const ZEROS: [u8; 4096] = [0; 4096];
        let mut done = 0u64;
        while done < len {
            let pos = at.checked_add(done).ok_or(BuildError::Invalid("address overflow"))?;
            let off = pos % PAGE_SIZE;
            let n = PAGE_SIZE.saturating_sub(off).min(len.saturating_sub(done));
            let mfn = self.mfn(pos / PAGE_SIZE)?;
            let (from, count) = (usize::try_from(done), usize::try_from(n));
            let (Ok(from), Ok(count), Ok(off)) = (from, count, usize::try_from(off)) else {
                return Err(BuildError::Invalid("address overflow"));
            };
            let src = match bytes {
                Some(b) => b.get(from..from.saturating_add(count)),
                None => ZEROS.get(..count),
            }
            .ok_or(BuildError::Invalid("source shorter than its length"))?;
            self.ctl
                .write_foreign(self.dom, mfn, off, src)
                .map_err(BuildError::ctl(CtlOp::WriteForeign))?;
            done = done.saturating_add(n);
        }
        Ok(())
    }

    /// As [`Guest::fill_phys`], by guest virtual address in the initial mapping.
    fn fill(
        &mut self,
        va: u64,
        len: u64,
        bytes: Option<&[u8]>,
    ) -> Result<(), BuildError<C::Error>> {
        let at =
            va.checked_sub(self.v_start).ok_or(BuildError::Invalid("address below VIRT_BASE"))?;
        self.fill_phys(at, len, bytes)
    }

    fn load_result(
        &mut self,
        r: Result<(), BuildError<C::Error>>,
        vaddr: u64,
        len: u64,
    ) -> Result<(), ElfError> {
        r.map_err(|e| {
            self.failed = Some(e);
            ElfError::BadDestination { vaddr, len }
        })
    }
}

impl<C: DomCtl> LoadTarget for Guest<'_, C> {
    fn write(&mut self, guest_vaddr: u64, bytes: &[u8]) -> Result<(), ElfError> {
        let len = bytes.len() as u64;
        let r = self.fill(guest_vaddr, len, Some(bytes));
        self.load_result(r, guest_vaddr, len)
    }

    fn zero(&mut self, guest_vaddr: u64, len: u64) -> Result<(), ElfError> {
        let r = self.fill(guest_vaddr, len, None);
        self.load_result(r, guest_vaddr, len)
    }
}

/// Builds a paused 64-bit PV domain from `cfg` through `ctl`.
///
/// # Errors
/// An unusable image or configuration (before any hypercall), or the
/// hypervisor's refusal of a step (the domain is then destroyed).
pub fn build<C: DomCtl>(
    ctl: &mut C,
    cfg: &DomainConfig<'_>,
) -> Result<BuiltDomain, BuildError<C::Error>> {
    let image = image::prepare(cfg.kernel)?;
    let plan = plan(cfg, image.bytes())?;
    let mut config: XenDomctlCreatedomain = bytemuck::Zeroable::zeroed();
    config.ssidref = cfg.ssidref;
    config.handle = cfg.handle;
    config.max_vcpus = cfg.vcpus;
    config.max_evtchn_port = MAX_EVTCHN_PORT;
    config.max_grant_frames = -1;
    config.max_maptrack_frames = -1;
    config.grant_opts = xen_domctl_grant_version(cfg.max_grant_version);
    let domid = ctl.create_domain(&config).map_err(BuildError::ctl(CtlOp::CreateDomain))?;
    match populate_and_load(ctl, cfg, image.bytes(), &plan, domid) {
        Ok(built) => Ok(built),
        Err(e) => {
            // Best effort: the build error is what the caller needs to see.
            let _ = ctl.unmap_foreign();
            let _ = ctl.destroy(domid);
            Err(e)
        }
    }
}

fn populate_and_load<C: DomCtl>(
    ctl: &mut C,
    cfg: &DomainConfig<'_>,
    image: &[u8],
    plan: &Plan,
    domid: DomId,
) -> Result<BuiltDomain, BuildError<C::Error>> {
    let (lay, parms, nr_pages) = (&plan.layout, &plan.parms, plan.nr_pages);
    ctl.max_vcpus(domid, cfg.vcpus).map_err(BuildError::ctl(CtlOp::MaxVcpus))?;
    let info = ctl.get_domain_info(domid).map_err(BuildError::ctl(CtlOp::GetDomainInfo))?;
    ctl.max_mem(domid, nr_pages.saturating_mul(PAGE_SIZE / 1024))
        .map_err(BuildError::ctl(CtlOp::MaxMem))?;
    let p2m = populate(ctl, domid, nr_pages)?;
    let pairs: Vec<(Mfn, Pfn)> =
        (0u64..).zip(&p2m).map(|(pfn, &mfn)| (Mfn(mfn), Pfn(pfn))).collect();
    for chunk in pairs.chunks(BATCH) {
        ctl.machphys_update(domid, chunk).map_err(BuildError::ctl(CtlOp::MachphysUpdate))?;
    }
    let mut tables =
        pagetable::build(lay, &p2m).map_err(|_| BuildError::Hypervisor("page tables"))?;
    if let Some((first, map)) = &plan.p2m_map {
        pagetable::add_p2m_mapping(&mut tables, map, *first, &p2m)
            .map_err(|_| BuildError::Hypervisor("P2M page tables"))?;
    }
    let l4_mfn = Mfn(*p2m
        .get(usize::try_from(pfn_of(lay, lay.page_tables.0)).unwrap_or(usize::MAX))
        .ok_or(BuildError::Hypervisor("no L4 frame"))?);

    let mut g = Guest { ctl: &mut *ctl, dom: domid, p2m: &p2m, v_start: lay.v_start, failed: None };
    if let Err(e) = hv_libelf::load(parms, image, &mut g) {
        return Err(g.failed.take().unwrap_or(BuildError::Elf(e)));
    }
    let ramdisk = cfg.ramdisk.filter(|r| !r.is_empty());
    let (mod_start, mod_len) = match (ramdisk, plan.initrd_pfn) {
        (Some(r), Some(pfn)) => {
            g.fill_phys(pfn.saturating_mul(PAGE_SIZE), r.len() as u64, Some(r))?;
            (pfn, r.len() as u64)
        }
        (Some(r), None) => {
            g.fill(lay.initrd.0, r.len() as u64, Some(r))?;
            (lay.initrd.0, r.len() as u64)
        }
        (None, _) => (0, 0),
    };
    // The P2M list, a page at a time, its last page's tail zeroed: in the
    // initial mapping, or in its own pages (INIT_P2M, data pages first).
    let mut va = lay.p2m.0;
    for (i, chunk) in (0u64..).zip(p2m.chunks(512)) {
        let mut page = [0u8; 4096];
        for (d, m) in page.chunks_exact_mut(8).zip(chunk) {
            d.copy_from_slice(&m.to_le_bytes());
        }
        match &plan.p2m_map {
            Some((first, _)) => {
                g.fill_phys(
                    first.saturating_add(i).saturating_mul(PAGE_SIZE),
                    PAGE_SIZE,
                    Some(&page),
                )?;
            }
            None => g.fill(va, PAGE_SIZE, Some(&page))?,
        }
        va = va.saturating_add(PAGE_SIZE);
    }
    for range in [lay.xenstore, lay.console, lay.stack] {
        g.fill(range.0, range.1.saturating_sub(range.0), None)?;
    }
    for t in &tables {
        let mut page = [0u8; 4096];
        for (d, e) in page.chunks_exact_mut(8).zip(t.entries.iter()) {
            d.copy_from_slice(&e.to_le_bytes());
        }
        g.fill_phys(t.pfn.saturating_mul(PAGE_SIZE), PAGE_SIZE, Some(&page))?;
    }
    let store_mfn = g.mfn(pfn_of(lay, lay.xenstore.0))?;
    let console_mfn = g.mfn(pfn_of(lay, lay.console.0))?;
    drop(g);

    let mut evtchn_refused = false;
    let mut evtchn = |ctl: &mut C, backend: Option<DomId>| {
        let Some(remote) = backend else { return Ok(EvtchnPort(0)) };
        match ctl.evtchn_alloc_unbound(domid, remote) {
            Ok(port) => Ok(port),
            Err(_) if cfg.evtchns_optional => {
                evtchn_refused = true;
                Ok(EvtchnPort(0))
            }
            Err(error) => Err(BuildError::Ctl { op: CtlOp::EvtchnAllocUnbound, error }),
        }
    };
    let console_evtchn = evtchn(ctl, cfg.console_backend)?;
    let store_evtchn = evtchn(ctl, cfg.store_backend)?;

    let mut si: StartInfo = bytemuck::Zeroable::zeroed();
    si.set_magic(START_INFO_MAGIC);
    si.nr_pages = nr_pages;
    si.shared_info = info
        .shared_info_frame
        .checked_shl(12)
        .ok_or(BuildError::Hypervisor("shared_info frame"))?;
    si.flags = if plan.initrd_pfn.is_some() && mod_len != 0 { SIF_MOD_START_PFN } else { 0 };
    si.store_mfn = store_mfn;
    si.store_evtchn = store_evtchn;
    si.console = StartInfoConsole::from_domu(ConsoleDomU::new(console_mfn, console_evtchn));
    si.pt_base = lay.page_tables.0;
    si.nr_pt_frames = lay.nr_pt_pages;
    si.mfn_list = lay.p2m.0;
    if let Some((first, map)) = &plan.p2m_map {
        si.first_p2m_pfn = Pfn(*first);
        si.nr_p2m_frames = map.len() as u64;
    }
    si.mod_start = mod_start;
    si.mod_len = mod_len;
    si.cmd_line = plan.cmdline;
    let mut g = Guest { ctl: &mut *ctl, dom: domid, p2m: &p2m, v_start: lay.v_start, failed: None };
    let mut page = [0u8; 4096];
    let bytes = bytemuck::bytes_of(&si);
    if let Some(d) = page.get_mut(..bytes.len()) {
        d.copy_from_slice(bytes);
    }
    g.fill(lay.start_info.0, PAGE_SIZE, Some(&page))?;
    drop(g);

    // shared_info as libxenguest leaves it: zeroed, every vCPU's events masked.
    let mut shared: SharedInfo = bytemuck::Zeroable::zeroed();
    for v in shared.vcpu_info.iter_mut().take(XEN_LEGACY_MAX_VCPUS) {
        v.evtchn_upcall_mask = 1;
    }
    ctl.write_foreign(domid, Mfn(info.shared_info_frame), 0, bytemuck::bytes_of(&shared))
        .map_err(BuildError::ctl(CtlOp::WriteForeign))?;

    seed_grant_table(
        ctl,
        domid,
        [(cfg.console_backend, console_mfn), (cfg.store_backend, store_mfn)],
    )?;

    ctl.unmap_foreign().map_err(BuildError::ctl(CtlOp::WriteForeign))?;
    ctl.pin_l4(domid, l4_mfn).map_err(BuildError::ctl(CtlOp::PinL4))?;
    let hypercall_mfn = match parms.virt_hypercall {
        Some(hc) => {
            let i = usize::try_from(pfn_of(lay, hc)).unwrap_or(usize::MAX);
            let mfn = Mfn(*p2m.get(i).ok_or(BuildError::Invalid("hypercall page"))?);
            ctl.hypercall_init(domid, mfn).map_err(BuildError::ctl(CtlOp::HypercallInit))?;
            Some(mfn)
        }
        None => None,
    };

    let ctx = vcpu_context(parms.virt_entry, lay, l4_mfn);
    ctl.set_vcpu_context(domid, VcpuId(0), &ctx).map_err(BuildError::ctl(CtlOp::SetVcpuContext))?;
    Ok(BuiltDomain {
        domid,
        nr_pages,
        layout: *lay,
        entry: parms.virt_entry,
        start_info: si,
        l4_mfn,
        hypercall_mfn,
        initrd_pfn: plan.initrd_pfn,
        p2m,
        evtchn_refused,
    })
}

/// libxenguest's `xc_dom_gnttab_seed` for a PV domain: the domain's
/// first grant frame (`GNTTABOP_setup_table` by the controller), reached
/// through a foreign mapping, gets entry `GNTTAB_RESERVED_CONSOLE` for
/// `grants[0]` and `GNTTAB_RESERVED_XENSTORE` for `grants[1]`, each
/// `(backend, frame)`: `GTF_permit_access` for the backend to the frame
/// (a PV domain's GFN is its MFN). No backend, or the domain itself as
/// backend, leaves the entry empty, as in Xen; with no entry to write the
/// table is not touched.
fn seed_grant_table<C: DomCtl>(
    ctl: &mut C,
    domid: DomId,
    grants: [(Option<DomId>, Mfn); 2],
) -> Result<(), BuildError<C::Error>> {
    let wanted = |(backend, _): &(Option<DomId>, Mfn)| backend.is_some_and(|b| b != domid);
    if !grants.iter().any(wanted) {
        return Ok(());
    }
    let table = ctl.gnttab_setup_table(domid).map_err(BuildError::ctl(CtlOp::GnttabSetupTable))?;
    let refs = [GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE];
    for (gref, (backend, frame)) in refs.into_iter().zip(grants) {
        let Some(backend) = backend.filter(|&b| b != domid) else { continue };
        let frame = u32::try_from(frame.0)
            .map_err(|_| BuildError::Hypervisor("ring frame beyond a v1 grant's 32 bits"))?;
        let entry = GrantEntryV1 { flags: GTF_permit_access, domid: backend, frame };
        let offset =
            usize::try_from(gref).unwrap_or(usize::MAX).saturating_mul(size_of::<GrantEntryV1>());
        ctl.write_foreign(domid, table, offset, bytemuck::bytes_of(&entry))
            .map_err(BuildError::ctl(CtlOp::WriteForeign))?;
    }
    Ok(())
}

/// Populates PFNs `0..nr_pages` of `dom`; returns the P2M.
fn populate<C: DomCtl>(
    ctl: &mut C,
    dom: DomId,
    nr_pages: u64,
) -> Result<Vec<u64>, BuildError<C::Error>> {
    let n = usize::try_from(nr_pages).map_err(|_| BuildError::OutOfMemory(nr_pages))?;
    let mut p2m: Vec<u64> = Vec::new();
    p2m.try_reserve_exact(n).map_err(|_| BuildError::OutOfMemory(nr_pages.saturating_mul(8)))?;
    p2m.extend(0..nr_pages);
    let mut done = 0usize;
    while done < n {
        let end = done.saturating_add(BATCH).min(n);
        let batch = p2m.get_mut(done..end).ok_or(BuildError::Hypervisor("populate"))?;
        let got =
            ctl.populate_physmap(dom, batch).map_err(BuildError::ctl(CtlOp::PopulatePhysmap))?;
        if got == 0 || got > batch.len() {
            return Err(BuildError::Hypervisor("populate_physmap made no progress"));
        }
        done = done.saturating_add(got);
    }
    Ok(p2m)
}

/// vCPU 0's initial context (libxenguest's `vcpu_x86_64`).
#[must_use]
pub fn vcpu_context(entry: u64, lay: &Layout, l4_mfn: Mfn) -> VcpuGuestContext {
    let mut ctx: VcpuGuestContext = bytemuck::Zeroable::zeroed();
    let r = &mut ctx.user_regs;
    r.rip = entry;
    r.rsp = lay.stack.1;
    r.rsi = lay.start_info.0;
    r.rflags = 1 << 9;
    r.cs = FLAT_KERNEL_CS;
    r.ss = FLAT_KERNEL_SS;
    r.ds = FLAT_KERNEL_DS;
    r.es = FLAT_KERNEL_DS;
    r.fs = FLAT_KERNEL_DS;
    r.gs = FLAT_KERNEL_DS;
    ctx.kernel_ss = u64::from(FLAT_KERNEL_SS);
    ctx.kernel_sp = lay.stack.1;
    ctx.flags = VGCF_in_kernel | VGCF_online;
    if let Some(cr3) = ctx.ctrlreg.get_mut(3) {
        *cr3 = xen_pfn_to_cr3(l4_mfn.0);
    }
    ctx
}
