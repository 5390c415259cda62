// SPDX-License-Identifier: GPL-2.0-only
//! Host tests: the builder against an emulated hypervisor ([`fake`]).
//!
//! Images come from `hv_libelf::testing` (XTF-, Linux- and mini-os-like
//! ELFs), wrapped in a bzImage for one test, mutated for the fuzz test, and
//! the real PV test kernel `pv-hello` when it has been built. Each built
//! domain is checked from the outside, as the guest will see it: the page
//! tables from the context's `CR3` map the whole initial area with the right
//! frames and rights, the image bytes are at their addresses, the P2M list
//! in guest memory and the M2P agree, start_info and the vCPU context hold
//! what Xen's toolstack puts there.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test code over known data"
)]

mod fake;

use guest_abi::elfnote::XenElfNote;
use guest_abi::grant_table::{GTF_permit_access, GrantEntryV1};
use guest_abi::xen::{
    DomId, FLAT_KERNEL_CS, FLAT_KERNEL_SS, SIF_MOD_START_PFN, StartInfo, VGCF_in_kernel,
    VGCF_online,
};
use hv_libelf::testing::builder::{self, Builder, Image, content_byte, xen_u32};
use hv_libelf::testing::presets;

use super::*;
use fake::FakeXen;

/// Builds `cfg` on a fresh fake; panics with the error.
fn build_ok(cfg: &DomainConfig<'_>) -> (FakeXen, BuiltDomain) {
    let mut xen = FakeXen::new();
    match build(&mut xen, cfg) {
        Ok(built) => (xen, built),
        Err(e) => panic!("build failed: {e}"),
    }
}

/// Everything a correctly built domain satisfies.
fn check_domain(xen: &FakeXen, built: &BuiltDomain, cfg: &DomainConfig<'_>) {
    let dom = &xen.domains[&built.domid.0];
    let lay = &built.layout;
    assert_eq!(dom.pause_count, 1, "still paused");
    assert_eq!(dom.tot_pages, cfg.mem_mib * 256);
    assert_eq!(dom.max_kb, Some(cfg.mem_mib * 1024));
    assert_eq!(dom.pinned_l4, Some(built.l4_mfn.0));
    assert_eq!(xen.mapped, None, "no foreign mapping left");

    // The context.
    let ctx = dom.ctx.expect("vCPU context set");
    assert_eq!(ctx.user_regs.rip, built.entry);
    assert_eq!(ctx.user_regs.rsp, lay.stack.1);
    assert_eq!(ctx.user_regs.rsi, lay.start_info.0);
    assert_eq!((ctx.user_regs.cs, ctx.user_regs.ss), (FLAT_KERNEL_CS, FLAT_KERNEL_SS));
    assert_eq!((ctx.kernel_ss, ctx.kernel_sp), (u64::from(FLAT_KERNEL_SS), lay.stack.1));
    assert_eq!(ctx.flags, VGCF_in_kernel | VGCF_online);
    assert_eq!(ctx.ctrlreg[3], built.l4_mfn.0 << 12);
    assert_eq!((ctx.event_callback_eip, ctx.failsafe_callback_eip), (0, 0));
    assert_eq!(ctx.user_regs.rflags, 0x200);

    // The mapping: every page of v_start..v_end is PFN (va - v_start) >> 12,
    // read-only exactly for the page-table frames.
    let l4 = built.l4_mfn.0;
    let mut va = lay.v_start;
    while va < lay.v_end {
        let pfn = (va - lay.v_start) / 4096;
        let (mfn, rw) = xen.translate(l4, va).unwrap_or_else(|| panic!("{va:#x} unmapped"));
        assert_eq!(mfn, built.p2m[pfn as usize], "frame of {va:#x}");
        let is_table = (lay.page_tables.0..lay.page_tables.1).contains(&va);
        assert_eq!(rw, !is_table, "rights of {va:#x}");
        assert_eq!(xen.tables.contains(&mfn), is_table, "{va:#x}: table frames are the area");
        va += 4096;
    }
    assert!(xen.translate(l4, lay.v_end).is_none(), "nothing mapped past v_end");
    assert_eq!(xen.translate(l4, lay.page_tables.0).map(|m| m.0), Some(l4), "pt_base is the L4");

    // P2M list in guest memory, M2P.
    let (p2m_bytes, _) = xen.read_va(l4, lay.p2m.0, built.p2m.len() * 8);
    let listed: Vec<u64> =
        p2m_bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(listed, built.p2m);
    for (pfn, mfn) in built.p2m.iter().enumerate() {
        assert_eq!(xen.m2p.get(mfn), Some(&(pfn as u64)), "M2P of {mfn:#x}");
        assert_eq!(xen.owner.get(mfn), Some(&built.domid));
    }

    // start_info, as written in guest memory.
    let (si_bytes, si_rw) = xen.read_va(l4, lay.start_info.0, size_of::<StartInfo>());
    assert!(si_rw);
    let si: StartInfo = bytemuck::pod_read_unaligned(&si_bytes);
    assert_eq!(si, built.start_info);
    assert_eq!(si.magic_bytes(), b"xen-3.0-x86_64");
    assert_eq!(si.nr_pages, cfg.mem_mib * 256);
    assert_eq!(si.shared_info, dom.shared_info << 12);
    assert_eq!(si.flags & !SIF_MOD_START_PFN, 0, "no SIF_PRIVILEGED/INITDOMAIN for a domU");
    assert_eq!((si.pt_base, si.nr_pt_frames), (lay.page_tables.0, lay.nr_pt_pages));
    assert_eq!(si.mfn_list, lay.p2m.0);
    let want_cmdline: Vec<u8> = cfg.cmdline.iter().copied().take(1023).collect();
    assert_eq!(si.cmd_line_bytes(), &want_cmdline[..]);
    assert_eq!(si.store_mfn.0, xen.translate(l4, lay.xenstore.0).unwrap().0);
    let con = si.console.domu();
    assert_eq!(con.mfn.0, xen.translate(l4, lay.console.0).unwrap().0);
    for (port, backend) in [(si.store_evtchn, cfg.store_backend), (con.evtchn, cfg.console_backend)]
    {
        match backend {
            Some(remote) => assert_eq!(dom.ports.get(&port.0), Some(&remote)),
            None => assert_eq!(port.0, 0),
        }
    }
    // The grant table seeded as xc_dom_gnttab_seed does: ref 0 the console,
    // ref 1 the xenstore page, each to its backend; nothing else.
    let grants = [(cfg.console_backend, con.mfn.0), (cfg.store_backend, si.store_mfn.0)];
    match dom.grant_frame {
        Some(table) => {
            let page = xen.page(table);
            for (gref, (backend, frame)) in grants.into_iter().enumerate() {
                let entry: GrantEntryV1 =
                    bytemuck::pod_read_unaligned(&page[gref * 8..gref * 8 + 8]);
                let want = match backend {
                    Some(b) => {
                        GrantEntryV1 { flags: GTF_permit_access, domid: b, frame: frame as u32 }
                    }
                    None => bytemuck::Zeroable::zeroed(),
                };
                assert_eq!(entry, want, "grant ref {gref}");
            }
            assert!(page[16..].iter().all(|&b| b == 0), "only refs 0 and 1 written");
            assert_eq!(
                xen.owner.get(&table),
                Some(&built.domid),
                "the grant frame is the domain's"
            );
        }
        None => assert!(grants.iter().all(|g| g.0.is_none()), "grant table not seeded"),
    }
    for page in [lay.xenstore.0, lay.console.0, lay.stack.0] {
        assert!(xen.read_va(l4, page, 4096).0.iter().all(|&b| b == 0), "{page:#x} zeroed");
    }

    // shared_info reset, events masked.
    let shared = xen.page(dom.shared_info);
    for v in 0..32 {
        assert_eq!(shared[v * 64], 0, "vcpu_info {v} upcall_pending");
        assert_eq!(shared[v * 64 + 1], 1, "vcpu_info {v} upcall_mask");
    }

    // The hypercall page is the frame of the note's address.
    assert_eq!(dom.hypercall_gmfn, built.hypercall_mfn.map(|m| m.0));
    // createdomain asked for a PV domain with one vCPU and grant tables
    // up to version 2 (libxl's default).
    let config = dom.config.unwrap();
    assert_eq!((config.flags, config.max_vcpus, config.grant_opts), (0, 1, 2));
}

/// Checks that each load segment of `b` is in guest memory with its bytes
/// and a zeroed tail (skipping the hypercall page, which Xen overwrote).
fn check_segments(xen: &FakeXen, built: &BuiltDomain, b: &Builder, virt_offset: u64) {
    let hc = xen.domains[&built.domid.0].hypercall_gmfn;
    for (i, load) in b.loads.iter().enumerate() {
        let va = load.paddr.wrapping_add(virt_offset);
        let (bytes, _) = xen.read_va(built.l4_mfn.0, va, load.memsz as usize);
        for (j, &byte) in bytes.iter().enumerate() {
            let page_mfn = xen.translate(built.l4_mfn.0, va + j as u64).unwrap().0;
            if Some(page_mfn) == hc {
                continue;
            }
            let want = if (j as u64) < load.filesz { content_byte(i, j) } else { 0 };
            assert_eq!(byte, want, "segment {i} byte {j:#x}");
        }
    }
}

#[test]
fn builds_an_xtf_like_kernel() {
    let b = presets::xtf();
    let image = b.image();
    let cfg = DomainConfig::new(image.bytes(), b"console=hvc0 loglvl=all", 16);
    let (xen, built) = build_ok(&cfg);
    check_domain(&xen, &built, &cfg);
    check_segments(&xen, &built, &b, 0);
    let lay = &built.layout;
    // XTF: VIRT_BASE 0, image at 1 MiB; the layout is dom0's plus the
    // xenstore and console pages.
    assert_eq!(lay.v_start, 0);
    assert_eq!(built.entry, 0x10_0000);
    assert_eq!(lay.p2m, (0x11_2000, 0x11_2000 + 4096 * 8));
    assert_eq!(lay.start_info.0, 0x11_a000);
    assert_eq!(
        (lay.xenstore.0, lay.console.0, lay.page_tables.0),
        (0x11_b000, 0x11_c000, 0x11_d000)
    );
    assert_eq!(lay.v_end, 0x40_0000);
    assert_eq!(built.hypercall_mfn.map(|m| m.0), Some(built.p2m[0x106]));
    assert_eq!(xen.domains.len(), 1);
}

#[test]
fn builds_a_linux_like_kernel_with_an_unmapped_initrd() {
    // Linux has MOD_START_PFN: the initrd goes after the mapping, by PFN.
    let b = presets::linux();
    let image = b.image();
    let initrd: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let mut cfg = DomainConfig::new(image.bytes(), b"root=/dev/xvda ro", 32);
    cfg.ramdisk = Some(&initrd);
    let (xen, built) = build_ok(&cfg);
    check_domain(&xen, &built, &cfg);
    check_segments(&xen, &built, &b, presets::LINUX_BASE);
    let si = built.start_info;
    let pfn = built.initrd_pfn.expect("unmapped initrd");
    assert_eq!(pfn, (built.layout.v_end - built.layout.v_start) / 4096);
    assert_eq!((si.mod_start, si.mod_len, si.flags), (pfn, initrd.len() as u64, SIF_MOD_START_PFN));
    for (k, chunk) in initrd.chunks(4096).enumerate() {
        let mfn = built.p2m[pfn as usize + k];
        assert_eq!(&xen.page(mfn)[..chunk.len()], chunk, "initrd page {k}");
    }
    // Linux has INIT_P2M too: the list is at 0x8000000000 in pages of its
    // own after the initrd (libxenguest: data pages, then one L3, L2, L1),
    // and `check_domain` read it back through the guest's tables.
    let data = (built.p2m.len() as u64 * 8).div_ceil(4096);
    assert_eq!(si.mfn_list, 0x80_0000_0000);
    assert_eq!(si.first_p2m_pfn.0, pfn + initrd.len().div_ceil(4096) as u64);
    assert_eq!(si.nr_p2m_frames, data + 3);
    assert!(built.layout.p2m.0 >= built.layout.v_end || built.layout.p2m.1 <= built.layout.v_start);
}

#[test]
fn a_kernel_without_mod_start_pfn_gets_its_initrd_mapped() {
    let b = presets::xtf();
    let image = b.image();
    let initrd = vec![0x5au8; 3 * 4096 + 17];
    let mut cfg = DomainConfig::new(image.bytes(), b"", 16);
    cfg.ramdisk = Some(&initrd);
    let (xen, built) = build_ok(&cfg);
    check_domain(&xen, &built, &cfg);
    let (si, lay) = (built.start_info, built.layout);
    assert_eq!((si.mod_start, si.mod_len, si.flags), (lay.initrd.0, initrd.len() as u64, 0));
    assert_eq!(lay.initrd.0, 0x11_2000, "right after the kernel");
    assert_eq!(xen.read_va(built.l4_mfn.0, lay.initrd.0, initrd.len()).0, initrd);
    assert_eq!(lay.p2m.0, (lay.initrd.1 + 4095) & !4095);
}

#[test]
fn linux_with_mod_start_pfn_but_no_initrd_maps_nothing_extra() {
    let b = presets::linux();
    let image = b.image();
    let cfg = DomainConfig::new(image.bytes(), b"", 32);
    let (xen, built) = build_ok(&cfg);
    check_domain(&xen, &built, &cfg);
    assert_eq!((built.start_info.mod_start, built.start_info.mod_len), (0, 0));
    assert_eq!(built.initrd_pfn, None);
}

#[test]
fn without_backends_the_event_channels_are_zero() {
    let b = presets::xtf();
    let image = b.image();
    let mut cfg = DomainConfig::new(image.bytes(), b"", 16);
    cfg.console_backend = None;
    cfg.store_backend = None;
    let (xen, built) = build_ok(&cfg);
    check_domain(&xen, &built, &cfg);
    assert!(!xen.log.contains(&CtlOp::EvtchnAllocUnbound));
    assert!(!xen.log.contains(&CtlOp::GnttabSetupTable), "no grant to seed");
}

/// One backend only: only its entry is written; a domain that is its own
/// backend gets no entry (Xen's `xc_dom_set_gnttab_entry`).
#[test]
fn only_real_backends_get_a_seeded_grant() {
    let b = presets::xtf();
    let image = b.image();
    let mut cfg = DomainConfig::new(image.bytes(), b"", 16);
    cfg.console_backend = Some(DomId(7));
    cfg.store_backend = None;
    let (xen, built) = build_ok(&cfg);
    check_domain(&xen, &built, &cfg);
    assert_eq!(xen.log.iter().filter(|&&o| o == CtlOp::GnttabSetupTable).count(), 1);

    // The fake numbers domains from 1: the first one is its own backend.
    cfg.console_backend = Some(DomId(1));
    let mut xen = FakeXen::new();
    let built = build(&mut xen, &cfg).unwrap();
    assert_eq!(built.domid, DomId(1));
    assert!(!xen.log.contains(&CtlOp::GnttabSetupTable), "no grant for the domain itself");
}

#[test]
fn optional_event_channels_survive_a_refusal() {
    let b = presets::xtf();
    let image = b.image();
    let mut cfg = DomainConfig::new(image.bytes(), b"", 16);
    cfg.evtchns_optional = true;
    let mut xen = FakeXen::new();
    xen.fail = Some((CtlOp::EvtchnAllocUnbound, 1));
    let built = build(&mut xen, &cfg).unwrap();
    assert!(built.evtchn_refused);
    assert_eq!(built.start_info.console.domu().evtchn.0, 0);
    assert_eq!(built.start_info.store_evtchn.0, 1, "the second allocation worked");
    let (xen, built) = build_ok(&cfg);
    assert!(!built.evtchn_refused);
    check_domain(&xen, &built, &cfg);
}

#[test]
fn a_long_command_line_is_cut_to_1023_bytes() {
    let b = presets::xtf();
    let image = b.image();
    let long = vec![b'x'; 3000];
    let cfg = DomainConfig::new(image.bytes(), &long, 16);
    let (xen, built) = build_ok(&cfg);
    check_domain(&xen, &built, &cfg);
    assert_eq!(built.start_info.cmd_line_bytes().len(), 1023);
}

#[test]
fn a_misaligned_image_is_copied() {
    let b = presets::xtf();
    let image = Image::misaligned(&b.build());
    let cfg = DomainConfig::new(image.bytes(), b"", 16);
    let (xen, built) = build_ok(&cfg);
    check_segments(&xen, &built, &b, 0);
}

/// `elf` wrapped in a bzImage with an uncompressed payload (boot protocol
/// 2.15, two setup sectors).
fn bzimage(elf: &[u8]) -> Vec<u8> {
    let setup_sects = 2u8;
    let mut img = vec![0u8; (usize::from(setup_sects) + 1) * 512];
    img[0x1f1] = setup_sects;
    img[0x202..0x206].copy_from_slice(b"HdrS");
    img[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    img[0x248..0x24c].copy_from_slice(&0x100u32.to_le_bytes());
    img[0x24c..0x250].copy_from_slice(&(elf.len() as u32).to_le_bytes());
    img.extend_from_slice(&[0x90; 0x100]);
    img.extend_from_slice(elf);
    img
}

#[test]
fn a_bzimage_is_unwrapped() {
    let b = presets::xtf();
    let bz = bzimage(&b.build());
    let image = Image::new(&bz);
    let cfg = DomainConfig::new(image.bytes(), b"", 16);
    let (xen, built) = build_ok(&cfg);
    check_domain(&xen, &built, &cfg);
    check_segments(&xen, &built, &b, 0);
}

#[test]
fn refusals_before_any_hypercall() {
    let b = presets::xtf();
    let image = b.image();
    let vcpus = |n| DomainConfig { vcpus: n, ..DomainConfig::new(image.bytes(), b"", 16) };
    let cases: [(DomainConfig<'_>, &str); 6] = [
        (vcpus(0), "vCPUs"),
        (vcpus(MAX_VCPUS + 1), "vCPUs"),
        (DomainConfig::new(image.bytes(), b"", 0), "memory size"),
        (DomainConfig::new(image.bytes(), b"", MAX_MEM_MIB + 1), "memory size"),
        (DomainConfig::new(image.bytes(), b"", 1), "layout"),
        (DomainConfig::new(b"not an ELF at all, not a bzImage", b"", 16), "kernel image"),
    ];
    for (cfg, what) in cases {
        let mut xen = FakeXen::new();
        let err = build(&mut xen, &cfg).expect_err("refused");
        assert!(err.to_string().contains(what), "{err} (expected {what})");
        assert!(xen.log.is_empty(), "no hypercall for {what}: {:?}", xen.log);
    }
    // An entry point outside the image.
    let bad = presets::xtf().set_note(builder::xen_u64(XenElfNote::Entry, 0x90_0000));
    let bad_image = bad.image();
    let mut xen = FakeXen::new();
    let cfg = DomainConfig::new(bad_image.bytes(), b"", 16);
    assert!(build(&mut xen, &cfg).is_err());
    assert!(xen.log.is_empty());
    // An unmapped initrd that does not fit.
    let b = presets::linux();
    let image = b.image();
    let initrd = vec![0u8; 40 << 20];
    let mut cfg = DomainConfig::new(image.bytes(), b"", 32);
    cfg.ramdisk = Some(&initrd);
    let mut xen = FakeXen::new();
    let err = build(&mut xen, &cfg).expect_err("too big");
    assert!(err.to_string().contains("initrd"), "{err}");
}

#[test]
fn every_hypervisor_refusal_is_reported_and_the_domain_destroyed() {
    let b = presets::xtf();
    let image = b.image();
    let cfg = DomainConfig::new(image.bytes(), b"", 16);
    for op in [
        CtlOp::MaxVcpus,
        CtlOp::GetDomainInfo,
        CtlOp::MaxMem,
        CtlOp::PopulatePhysmap,
        CtlOp::MachphysUpdate,
        CtlOp::EvtchnAllocUnbound,
        CtlOp::GnttabSetupTable,
        CtlOp::PinL4,
        CtlOp::HypercallInit,
        CtlOp::SetVcpuContext,
    ] {
        for nth in [1, 2] {
            let mut xen = FakeXen::new();
            xen.fail = Some((op, nth));
            match build(&mut xen, &cfg) {
                Err(BuildError::Ctl { op: failed, .. }) => assert_eq!(failed, op),
                Err(e) => panic!("{op} #{nth}: unexpected error {e}"),
                // Operations called once cannot fail a second time.
                Ok(_) => {
                    assert_eq!(nth, 2, "{op} #{nth} did not fail the build");
                    continue;
                }
            }
            assert!(xen.live_domains().is_empty(), "{op} #{nth}: domain left behind");
            assert_eq!(xen.log.last(), Some(&CtlOp::Destroy));
            assert!(xen.frames.is_empty(), "{op}: frames left");
        }
    }
    let mut xen = FakeXen::new();
    xen.fail = Some((CtlOp::CreateDomain, 1));
    let err = build(&mut xen, &cfg).expect_err("create refused");
    assert!(matches!(err, BuildError::Ctl { op: CtlOp::CreateDomain, .. }));
    assert!(!xen.log.contains(&CtlOp::Destroy));
}

#[test]
fn several_domains_side_by_side() {
    let b = presets::xtf();
    let image = b.image();
    let cfg = DomainConfig::new(image.bytes(), b"first", 16);
    let cfg2 = DomainConfig::new(image.bytes(), b"second", 24);
    let mut xen = FakeXen::new();
    let one = build(&mut xen, &cfg).unwrap();
    let two = build(&mut xen, &cfg2).unwrap();
    assert_ne!(one.domid, two.domid);
    check_domain(&xen, &one, &cfg);
    check_domain(&xen, &two, &cfg2);
    xen.unpause(one.domid).unwrap();
    assert_eq!(xen.domains[&one.domid.0].pause_count, 0);
}

/// A tiny xorshift for the fuzz test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn mutated_images_never_panic_and_leave_nothing_behind() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let bases = [
        presets::xtf().build(),
        presets::linux().build(),
        presets::minios().build(),
        presets::xtf().set_note(xen_u32(XenElfNote::ModStartPfn, 1)).build(),
    ];
    let initrd = vec![7u8; 5000];
    for round in 0..400 {
        let mut bytes = bases[round % bases.len()].clone();
        let flips = 1 + rng.next() % 8;
        for _ in 0..flips {
            let at = (rng.next() % bytes.len() as u64) as usize;
            bytes[at] = match rng.next() % 3 {
                0 => rng.next() as u8,
                1 => 0xff,
                _ => 0,
            };
        }
        if round % 7 == 0 {
            bytes.truncate((rng.next() % bytes.len() as u64) as usize);
        }
        let image = Image::new(&bytes);
        let mut cfg = DomainConfig::new(image.bytes(), b"fuzz", 8 + rng.next() % 24);
        if round % 2 == 0 {
            cfg.ramdisk = Some(&initrd);
        }
        let mut xen = FakeXen::new();
        match build(&mut xen, &cfg) {
            Ok(built) => check_domain(&xen, &built, &cfg),
            Err(_) => assert!(xen.live_domains().is_empty(), "round {round}: domain left"),
        }
    }
}

/// The real PV test kernel, when `cargo build -p pv-tests` (x86_64-xen)
/// has left it in the target directory.
#[test]
fn builds_the_real_pv_hello_when_built() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let path = target.join("x86_64-xen/release/pv-hello");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("SKIP: {} not built (cargo build -p pv-tests for x86_64-xen)", path.display());
        return;
    };
    let image = Image::new(&bytes);
    let cfg = DomainConfig::new(image.bytes(), b"domU", 32);
    let (xen, built) = build_ok(&cfg);
    check_domain(&xen, &built, &cfg);
    // tests/pv/guest.ld: VIRT_BASE 0xffffffff80000000, _start 1 MiB above,
    // the hypercall page on the next page.
    assert_eq!(built.layout.v_start, 0xffff_ffff_8000_0000);
    assert_eq!(built.entry, 0xffff_ffff_8010_0000);
    assert_eq!(built.hypercall_mfn.map(|m| m.0), Some(built.p2m[0x101]));
    let _ = DomId(0);
}

#[test]
fn several_vcpus_are_created_and_only_vcpu0_gets_a_context() {
    let b = presets::xtf();
    let image = b.image();
    let cfg = DomainConfig { vcpus: 4, ..DomainConfig::new(image.bytes(), b"", 16) };
    let mut xen = FakeXen::new();
    let built = build(&mut xen, &cfg).expect("built");
    let dom = &xen.domains[&built.domid.0];
    assert_eq!(dom.config.unwrap().max_vcpus, 4);
    assert_eq!(dom.max_vcpus, Some(4), "XEN_DOMCTL_max_vcpus with createdomain's count");
    assert!(dom.ctx.is_some());
    assert_eq!(xen.log.iter().filter(|op| **op == CtlOp::SetVcpuContext).count(), 1);
}
