// SPDX-License-Identifier: GPL-2.0-only
//! Sizes, numbers, memory, scheduler, logging and platform options.

use super::*;

const MIB: i64 = 1 << 20;

#[test]
fn parse_size_units() {
    assert_eq!(parse_size("256M", 10), Some(256 * MIB));
    assert_eq!(parse_size("256m", 10), Some(256 * MIB));
    assert_eq!(parse_size("1G", 10), Some(1 << 30));
    assert_eq!(parse_size("2t", 10), Some(2 << 40));
    assert_eq!(parse_size("4096", 10), Some(4096 << 10), "default unit KiB");
    assert_eq!(parse_size("4096", 0), Some(4096));
    assert_eq!(parse_size("512B", 10), Some(512));
    assert_eq!(parse_size("64k", 10), Some(64 << 10));
    assert_eq!(parse_size("0", 10), Some(0));
}

#[test]
fn parse_size_hex_and_negative() {
    assert_eq!(parse_size("0x100M", 10), Some(256 * MIB));
    assert_eq!(parse_size("0X10", 0), Some(16));
    assert_eq!(parse_size("0x10B", 0), Some(0x10b), "B is a hex digit here");
    assert_eq!(parse_size("-512M", 10), Some(-512 * MIB));
    assert_eq!(parse_size("-0x10K", 10), Some(-16 << 10));
    assert_eq!(parse_size("010", 0), Some(10), "leading zero is decimal");
}

#[test]
fn parse_size_rejects_garbage_and_overflow() {
    for bad in ["", "-", "M", "12Q", "1MB", "1 M", " 1", "+1", "--1", "0x", "0xG", "1.5G", "1_000"]
    {
        assert_eq!(parse_size(bad, 10), None, "{bad:?}");
    }
    assert_eq!(parse_size("8388608T", 10), None, "2^63 bytes overflows i64");
    assert_eq!(parse_size("8388607T", 10), Some(8_388_607 << 40));
    assert_eq!(parse_size("99999999999999999999", 0), None);
    assert_eq!(parse_size("9223372036854775807", 0), Some(i64::MAX));
    assert_eq!(parse_size("-9223372036854775807", 0), Some(-i64::MAX));
    assert_eq!(parse_size("1", 64), None);
    assert_eq!(parse_size("1", 63), None);
}

#[test]
fn parse_u64_and_bool_helpers() {
    assert_eq!(parse_u64("0x1f"), Some(31));
    assert_eq!(parse_u64("0X1F"), Some(31));
    assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_u64("18446744073709551616"), None);
    assert_eq!(parse_u64("1k"), None);
    assert_eq!(parse_u64("-1"), None);
    assert_eq!(parse_bool("on"), Some(true));
    assert_eq!(parse_bool("disable"), Some(false));
    assert_eq!(parse_bool("On"), None);
}

#[test]
fn mem_option() {
    assert_eq!(ok("mem=512M").mem, Some(512 << 20));
    assert_eq!(ok("mem=4194304").mem, Some(4 << 30), "KiB by default");
    assert_eq!(ok("mem=1073741824B").mem, Some(1 << 30));
    assert_eq!(ok("mem=0x10M").mem, Some(16 << 20));
    assert_eq!(ok("mem=0").mem, None, "0 means no limit");
    let (o, w) = warned("mem=-1G mem=lots");
    assert_eq!(o.mem, None);
    assert_eq!(
        w,
        [
            "mem=-1G: invalid size '-1G' (negative), using default (no limit)",
            "mem=lots: invalid size 'lots', using default (no limit)",
        ]
    );
}

#[test]
fn dom0_mem_option_and_warning_text() {
    let o = ok("dom0_mem=min:128M,max:2G,-256M");
    assert_eq!(
        o.dom0_mem,
        Dom0Mem { amount: Some(-256 * MIB), min: Some(128 * MIB), max: Some(2048 * MIB) }
    );
    let (o, w) = warned("dom0_mem=12Q");
    assert!(o.dom0_mem.is_default());
    assert_eq!(w, ["dom0_mem=12Q: invalid size '12Q', using default (all memory less a reserve)"]);
    let (_, w) = warned("dom0_mem=256M,max:huge");
    assert_eq!(
        w,
        ["dom0_mem=256M,max:huge: invalid size 'huge', using default (all memory less a reserve)"]
    );
}

#[test]
fn badpage_lists() {
    assert_eq!(ok("badpage=0x12345").badpages, [0x12345]);
    assert_eq!(ok("badpage=1,0x2,300").badpages, [1, 2, 300]);
    assert_eq!(ok("badpage=0x10-0x13,7").badpages, [0x10, 0x11, 0x12, 0x13, 7]);
    assert_eq!(ok("badpage=5,").badpages, [5]);
    assert_eq!(ok("badpage=1 badpage=2").badpages, [2], "last option wins");
    assert!(ok("badpage=1").was_given("badpage"));
}

#[test]
fn badpage_keeps_valid_entries() {
    let (o, w) = warned("badpage=0x10,zz,9-3,0x20");
    assert_eq!(o.badpages, [0x10, 0x20]);
    assert_eq!(
        w,
        [
            "badpage=0x10,zz,9-3,0x20: invalid page number 'zz', ignored",
            "badpage=0x10,zz,9-3,0x20: invalid page number '9-3', ignored",
        ]
    );
    let (o, w) = warned("badpage=nope");
    assert!(o.badpages.is_empty());
    assert_eq!(w.len(), 2);
    assert_eq!(w[1], "badpage=nope: invalid page list 'nope', using default (none)");
}

#[test]
fn badpage_huge_range_is_capped() {
    let (o, w) = warned("badpage=0-0xffffffffffffffff");
    assert_eq!(o.badpages.len(), MAX_BADPAGES);
    assert_eq!(w, ["badpage=0-0xffffffffffffffff: more than 4096 bad pages, the rest ignored"]);
}

#[test]
fn tbuf_size_option() {
    assert_eq!(ok("tbuf_size=20").tbuf_size, 20);
    assert_eq!(ok("tbuf_size=0x10").tbuf_size, 16);
    let (o, w) = warned("tbuf_size=4294967296");
    assert_eq!(o.tbuf_size, 0);
    assert_eq!(w, ["tbuf_size=4294967296: invalid page count '4294967296', using default (0)"]);
}

#[test]
fn sched_option() {
    assert_eq!(ok("sched=credit").sched, SchedulerKind::Credit);
    assert_eq!(ok("sched=sedf").sched, SchedulerKind::Sedf);
    let (o, w) = warned("sched=bvt");
    assert_eq!(o.sched, SchedulerKind::Credit);
    assert_eq!(w, ["sched=bvt: invalid scheduler 'bvt', using default (credit)"]);
}

#[test]
fn loglvl_options() {
    let o = ok("loglvl=all/debug guest_loglvl=error");
    assert_eq!(o.loglvl, LogThresholds::new(LogLevelThreshold::All, LogLevelThreshold::All));
    assert_eq!(o.guest_loglvl.to_string(), "error");
    assert_eq!(ok("loglvl=none/info").loglvl.to_string(), "none/info");
    let (o, w) = warned("loglvl=loud guest_loglvl=info/");
    assert_eq!(
        (o.loglvl, o.guest_loglvl),
        (LogThresholds::XEN_DEFAULT, LogThresholds::GUEST_DEFAULT)
    );
    assert_eq!(
        w,
        [
            "loglvl=loud: invalid log level 'loud', using default (warning)",
            "guest_loglvl=info/: invalid log level 'info/', using default (none/warning)",
        ]
    );
}

#[test]
fn nmi_option() {
    assert_eq!(ok("nmi=fatal").nmi, NmiAction::Fatal);
    assert_eq!(ok("nmi=ignore").nmi, NmiAction::Ignore);
    assert_eq!(ok("nmi=dom0").nmi, NmiAction::Dom0);
    let (o, w) = warned("nmi=panic");
    assert_eq!(o.nmi, NmiAction::Dom0);
    assert_eq!(w, ["nmi=panic: invalid NMI action 'panic', using default (dom0)"]);
    assert_eq!(NmiAction::Fatal.name(), "fatal");
}

#[test]
fn apic_options() {
    assert_eq!(ok("apic_verbosity=verbose").apic_verbosity, ApicVerbosity::Verbose);
    assert_eq!(ok("apic_verbosity=debug").apic_verbosity, ApicVerbosity::Debug);
    for (name, driver) in [
        ("bigsmp", ApicDriver::BigSmp),
        ("default", ApicDriver::Default),
        ("es7000", ApicDriver::Es7000),
        ("summit", ApicDriver::Summit),
    ] {
        assert_eq!(ok(&alloc::format!("apic={name}")).apic, Some(driver));
        assert_eq!(driver.name(), name);
    }
    let (o, w) = warned("apic=x2apic apic_verbosity=quiet");
    assert_eq!((o.apic, o.apic_verbosity), (None, ApicVerbosity::Quiet));
    assert_eq!(w.len(), 2);
}

#[test]
fn dma_options() {
    assert_eq!(ok("dma_bits=32").dma_bits, 32);
    assert_eq!(ok("dma_bits=13").dma_bits, 13);
    let (o, w) = warned("dma_bits=12 dma_bits=65 dma_bits=x");
    assert_eq!(o.dma_bits, 30);
    assert_eq!(w[0], "dma_bits=12: invalid bit width '12' (must be 13-64), using default (30)");
    assert_eq!(w.len(), 3);
    assert_eq!(ok("dma_emergency_pool=16M").dma_emergency_pool, Some(16 << 20));
    assert_eq!(ok("dma_emergency_pool=0").dma_emergency_pool, Some(0));
    let (o, _) = warned("dma_emergency_pool=-1M");
    assert_eq!(o.dma_emergency_pool, None);
}

#[test]
fn acpi_option() {
    assert_eq!(ok("acpi=off").acpi, [AcpiOption::Off]);
    assert_eq!(
        ok("acpi=force,strict,ht,noirq").acpi,
        [AcpiOption::Force, AcpiOption::Strict, AcpiOption::Ht, AcpiOption::NoIrq]
    );
    assert_eq!(ok("acpi=copy_dsdt").acpi, [AcpiOption::Other("copy_dsdt".into())]);
    assert_eq!(ok("acpi=strict acpi=off").acpi, [AcpiOption::Off], "last wins");
    let (o, w) = warned("acpi=,");
    assert!(o.acpi.is_empty());
    assert_eq!(w, ["acpi=,: invalid ACPI option ',', using default (ACPI enabled)"]);
}
