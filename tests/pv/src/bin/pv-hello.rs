// SPDX-License-Identifier: GPL-2.0-only
//! `pv-hello`: prints what the domain builder and `xen_version` report.
//!
//! The default dom0 of `qemu/run`. Prints every start_info field a dom0
//! cares about and the hypervisor's version, extraversion, capabilities,
//! feature submap 0 and page size; then checks that the magic is the
//! 64-bit PV one and, as dom0, that the domain is the initial domain, or as
//! a domU (booted by `pv-toolstack`: no `SIF_INITDOMAIN`), that its builder
//! gave it a console and a xenstore page.
#![no_std]
#![no_main]

use pv_tests::console::{Escaped, c_str};
use pv_tests::guest_abi::version::XENFEAT_dom0;
use pv_tests::guest_abi::xen::{
    SIF_INITDOMAIN, SIF_MOD_START_PFN, SIF_MULTIBOOT_MOD, SIF_PM_MASK, SIF_PRIVILEGED,
    SIF_VIRT_P2M_4TOOLS, START_INFO_MAGIC_X86_64,
};
use pv_tests::ops::{self, XenError};
use pv_tests::{StartInfo, check, println};

pv_tests::test_kernel!(name: "hello", main: test_main);

/// The `SIF_*` flags and their names, for decoding `start_info.flags`.
const SIF_NAMES: [(u32, &str); 5] = [
    (SIF_PRIVILEGED, "SIF_PRIVILEGED"),
    (SIF_INITDOMAIN, "SIF_INITDOMAIN"),
    (SIF_MULTIBOOT_MOD, "SIF_MULTIBOOT_MOD"),
    (SIF_MOD_START_PFN, "SIF_MOD_START_PFN"),
    (SIF_VIRT_P2M_4TOOLS, "SIF_VIRT_P2M_4TOOLS"),
];

fn test_main(si: &StartInfo) {
    print_start_info(si);
    print_version();
    check(
        si.magic_bytes().starts_with(START_INFO_MAGIC_X86_64),
        format_args!(
            "start_info magic \"{}\" starts with \"{}\"",
            Escaped(si.magic_bytes()),
            Escaped(START_INFO_MAGIC_X86_64)
        ),
    );
    if si.flags & SIF_INITDOMAIN != 0 {
        println!("domain: the initial domain (dom0)");
        check(si.flags & SIF_PRIVILEGED != 0, "dom0 has SIF_PRIVILEGED");
    } else {
        let console = si.console.domu();
        println!(
            "domain: a domU (console mfn {:#x} evtchn {}, xenstore mfn {:#x} evtchn {})",
            console.mfn.0, console.evtchn.0, si.store_mfn.0, si.store_evtchn.0
        );
        check(si.flags & SIF_PRIVILEGED == 0, "a domU has no SIF_PRIVILEGED");
        check(
            console.mfn.0 != 0 && si.store_mfn.0 != 0,
            "the domU's builder gave it console and xenstore pages",
        );
    }
}

fn print_start_info(si: &StartInfo) {
    println!("start_info:");
    println!("  magic:        \"{}\"", Escaped(si.magic_bytes()));
    println!("  nr_pages:     {} ({} MiB)", si.nr_pages, si.nr_pages.checked_shr(8).unwrap_or(0));
    pv_tests::print!("  flags:        {:#x}", si.flags);
    let mut sep = " (";
    let mut rest = si.flags;
    for (bit, name) in SIF_NAMES {
        if si.flags & bit != 0 {
            pv_tests::print!("{sep}{name}");
            sep = "|";
            rest &= !bit;
        }
    }
    if si.flags & SIF_PM_MASK != 0 {
        // Xen's processor power-management bits (XEN_PROCESSOR_PM_*), bits 8-15.
        pv_tests::print!("{sep}SIF_PM={:#x}", (si.flags & SIF_PM_MASK).checked_shr(8).unwrap_or(0));
        sep = "|";
        rest &= !SIF_PM_MASK;
    }
    if rest != 0 {
        pv_tests::print!("{sep}{rest:#x}");
        sep = "|";
    }
    println!("{}", if sep == "|" { ")" } else { "" });
    println!("  shared_info:  {:#x} (machine address)", si.shared_info);
    println!("  pt_base:      {:#x}", si.pt_base);
    println!("  nr_pt_frames: {}", si.nr_pt_frames);
    println!("  mfn_list:     {:#x}", si.mfn_list);
    println!("  mod_start:    {:#x}", si.mod_start);
    println!("  mod_len:      {}", si.mod_len);
    println!("  cmd_line:     \"{}\"", Escaped(si.cmd_line_bytes()));
}

fn print_version() {
    match ops::xen_version() {
        Ok((major, minor)) => println!("XENVER_version:      {major}.{minor}"),
        Err(e) => println!("XENVER_version:      {e}"),
    }
    match ops::xen_extraversion() {
        Ok(extra) => println!("XENVER_extraversion: \"{}\"", Escaped(c_str(&extra.0))),
        Err(e) => println!("XENVER_extraversion: {e}"),
    }
    match ops::xen_capabilities() {
        Ok(caps) => println!("XENVER_capabilities: \"{}\"", Escaped(c_str(&caps.0))),
        Err(e) => println!("XENVER_capabilities: {e}"),
    }
    match ops::xen_features(0) {
        Ok(map) => {
            let dom0 = map.checked_shr(XENFEAT_dom0).unwrap_or(0) & 1 != 0;
            println!("XENVER_get_features: submap 0 = {map:#010x} (XENFEAT_dom0: {dom0})");
        }
        Err(e) => println!("XENVER_get_features: {e}"),
    }
    let pagesize: Result<u64, XenError> = ops::xen_pagesize();
    match pagesize {
        Ok(size) => println!("XENVER_pagesize:     {size}"),
        Err(e) => println!("XENVER_pagesize:     {e}"),
    }
}
