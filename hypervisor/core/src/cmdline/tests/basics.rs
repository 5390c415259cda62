// SPDX-License-Identifier: GPL-2.0-only
//! Cooking, tokenising, flags, names and bookkeeping.

use super::*;

#[test]
fn cook_strips_image_name_unless_grub2() {
    assert_eq!(cook("/boot/xen.gz noreboot  com1=auto", false), "noreboot  com1=auto");
    assert_eq!(cook("  /boot/xen.gz   noreboot", false), "noreboot");
    assert_eq!(cook("noreboot com1=auto", true), "noreboot com1=auto");
    assert_eq!(cook("   noreboot", true), "noreboot");
    assert_eq!(cook("/boot/xen.gz", false), "");
    assert_eq!(cook("", false), "");
    assert_eq!(cook("   ", false), "");
    assert_eq!(cook("\t/xen\tnosmp", false), "nosmp");
}

#[test]
fn grub2_detection() {
    for yes in ["GRUB 2.06", "GRUB 2.12-1ubuntu7", "GRUB 1.99", "GNU GRUB 2.02"] {
        assert!(loader_is_grub2(yes), "{yes}");
    }
    for no in ["GNU GRUB 0.97", "", "GRUB", "GRUB ", "grub 2.06", "qemu", "Limine", "GRUB2"] {
        assert!(!loader_is_grub2(no), "{no}");
    }
}

#[test]
fn empty_command_line_gives_xen_defaults() {
    for line in ["", "   ", "\t\n"] {
        assert_eq!(ok(line), BootOptions::default());
    }
}

#[test]
fn defaults_match_the_manual() {
    let d = BootOptions::default();
    assert!(!d.noreboot && !d.nosmp && !d.watchdog && !d.noirqbalance && !d.hap);
    assert!(d.badpages.is_empty());
    assert_eq!(d.mem, None);
    assert!(d.dom0_mem.is_default());
    assert!(!d.dom0_vcpus_pin);
    assert_eq!(d.tbuf_size, 0);
    assert_eq!(d.sched, SchedulerKind::Credit);
    assert_eq!((d.com1, d.com2), (None, None));
    assert_eq!(d.console, [ConsoleTarget::Com1, ConsoleTarget::Vga]);
    assert_eq!(d.loglvl.to_string(), "warning");
    assert_eq!(d.guest_loglvl.to_string(), "none/warning");
    assert!(!d.console_to_ring && !d.sync_console);
    assert_eq!(d.conswitch, ConSwitch { switch_char: Some(b'a'), auto_switch: true });
    assert_eq!(d.nmi, NmiAction::Dom0);
    assert_eq!(d.apic_verbosity, ApicVerbosity::Quiet);
    assert_eq!((d.lapic, d.apic), (None, None));
    assert_eq!(d.dma_bits, 30);
    assert_eq!(d.dma_emergency_pool, None);
    assert!(d.acpi.is_empty() && !d.acpi_skip_timer_override && !d.noapic);
    assert_eq!((d.vga, d.edid, d.edd), (None, None, None));
    assert!(!d.no_real_mode);
    assert!(d.given.is_empty());
    assert!(d.unsupported_here().is_empty());
    assert_eq!(d.dom0_propagated(), "");
}

#[test]
fn every_flag_sets_its_field() {
    let o = ok("noreboot nosmp watchdog noirqbalance dom0_vcpus_pin console_to_ring \
                sync_console hap acpi_skip_timer_override noapic no-real-mode");
    assert!(o.noreboot && o.nosmp && o.watchdog && o.noirqbalance && o.dom0_vcpus_pin);
    assert!(o.console_to_ring && o.sync_console && o.hap && o.acpi_skip_timer_override);
    assert!(o.noapic && o.no_real_mode);
    assert_eq!(o.given.len(), 11);
}

#[test]
fn lapic_and_nolapic() {
    assert_eq!(ok("lapic").lapic, Some(true));
    assert_eq!(ok("nolapic").lapic, Some(false));
    assert_eq!(ok("lapic nolapic").lapic, Some(false));
    assert_eq!(ok("nolapic lapic").lapic, Some(true));
    assert_eq!(ok("no-lapic").lapic, Some(false));
    assert_eq!(ok("no-nolapic").lapic, Some(true));
}

#[test]
fn no_prefix_clears_booleans() {
    let o = ok("watchdog noreboot no-watchdog no-noreboot");
    assert!(!o.watchdog && !o.noreboot);
    assert!(!ok("sync_console no_sync_console").sync_console);
    assert!(!ok("no-real-mode no-no-real-mode").no_real_mode);
}

#[test]
fn boolean_values() {
    for on in ["1", "yes", "on", "true", "enable"] {
        assert!(ok(&alloc::format!("watchdog={on}")).watchdog, "{on}");
        assert!(!ok(&alloc::format!("no-watchdog={on}")).watchdog, "{on}");
    }
    for off in ["0", "no", "off", "false", "disable"] {
        assert!(!ok(&alloc::format!("sync_console={off}")).sync_console, "{off}");
        assert!(ok(&alloc::format!("no-sync_console={off}")).sync_console, "{off}");
    }
    assert!(ok("hap=").hap, "empty value means set");
}

#[test]
fn bad_boolean_value_keeps_default() {
    let (o, w) = warned("watchdog=maybe");
    assert!(!o.watchdog);
    assert_eq!(w, ["watchdog=maybe: invalid boolean 'maybe', using default (off)"]);
    assert!(!o.was_given("watchdog"));
}

#[test]
fn dash_and_underscore_are_equivalent() {
    let o =
        ok("console-to-ring dom0-mem=256M guest-loglvl=all no_real_mode acpi-skip-timer-override");
    assert!(o.console_to_ring && o.no_real_mode && o.acpi_skip_timer_override);
    assert_eq!(o.dom0_mem.amount, Some(256 << 20));
    assert_eq!(o.guest_loglvl.lower, LogLevelThreshold::All);
    assert!(o.was_given("no-real-mode") && o.was_given("console_to_ring"));
}

#[test]
fn names_are_case_sensitive() {
    let (o, w) = warned("NOREBOOT");
    assert!(!o.noreboot);
    assert_eq!(w, ["NOREBOOT: unknown option"]);
}

#[test]
fn unknown_options_warn_and_are_skipped() {
    let (o, w) = warned("foo noreboot bar=baz =5 = no-sched-thing");
    assert!(o.noreboot);
    assert_eq!(
        w,
        [
            "foo: unknown option",
            "bar=baz: unknown option",
            "=5: unknown option",
            "=: unknown option",
            "no-sched-thing: unknown option",
        ]
    );
    assert_eq!(
        parse("foo").1,
        [Warning { option: "foo".into(), message: "unknown option".into() }]
    );
}

#[test]
fn no_prefix_on_value_option_is_rejected() {
    let (o, w) = warned("no-sched=sedf");
    assert_eq!(o.sched, SchedulerKind::Credit);
    assert_eq!(w, ["no-sched=sedf: 'no-' applies only to boolean options, ignored"]);
}

#[test]
fn missing_values_warn() {
    let (o, w) = warned("sched console= mem");
    assert_eq!(o, BootOptions::default());
    assert_eq!(
        w,
        [
            "sched: missing value, using default (credit)",
            "console=: missing value, using default (com1,vga)",
            "mem: missing value, using default (no limit)",
        ]
    );
}

#[test]
fn last_occurrence_wins_and_bad_repeat_keeps_earlier() {
    assert_eq!(ok("sched=sedf sched=credit").sched, SchedulerKind::Credit);
    let (o, w) = warned("sched=sedf sched=bvt");
    assert_eq!(o.sched, SchedulerKind::Sedf);
    assert_eq!(w, ["sched=bvt: invalid scheduler 'bvt', keeping the earlier value"]);
}

#[test]
fn whitespace_of_any_kind_separates() {
    let o = ok("  noreboot\t\tnosmp \n watchdog  ");
    assert!(o.noreboot && o.nosmp && o.watchdog);
}

#[test]
fn value_continues_after_trailing_comma() {
    let o = ok("com1=9600, 8n1, 0x408, 5 console=com1, vga");
    let com1 = o.com1.unwrap_or_default();
    assert_eq!((com1.baud, com1.io_base, com1.irq), (Some(9600), Some(0x408), Some(5)));
    assert_eq!(o.console, [ConsoleTarget::Com1, ConsoleTarget::Vga]);
}

#[test]
fn continuation_stops_at_an_option() {
    let o = ok("console=com1, noreboot dom0_mem=256M, max:512M sync_console");
    assert_eq!(o.console, [ConsoleTarget::Com1]);
    assert!(o.noreboot && o.sync_console);
    assert_eq!(o.dom0_mem.max, Some(512 << 20));
    let o = ok("console=vga, com1=115200");
    assert_eq!(o.console, [ConsoleTarget::Vga]);
    assert_eq!(o.com1.and_then(|c| c.baud), Some(115_200));
    assert_eq!(ok("console=com2,").console, [ConsoleTarget::Com2]);
}

#[test]
fn given_is_recorded_once_in_order() {
    let o = ok("vga=ask noreboot vga=current nolapic");
    assert_eq!(o.given, ["vga", "noreboot", "nolapic"]);
    assert!(o.was_given("vga") && !o.was_given("lapic"));
}

#[test]
fn unsupported_here_lists_no_effect_options() {
    let o = ok("noreboot vga=text-80x50,keep edd=off edid=no no-real-mode hap apic=bigsmp \
                dma_bits=32 dma_emergency_pool=16M watchdog noirqbalance tbuf_size=4 \
                nmi=fatal apic_verbosity=debug lapic nolapic noapic acpi=off \
                acpi_skip_timer_override conswitch=b sched=sedf dom0_mem=256M dom0_vcpus_pin");
    assert_eq!(
        o.unsupported_here(),
        [
            "vga",
            "edd",
            "edid",
            "no-real-mode",
            "hap",
            "apic",
            "dma_bits",
            "dma_emergency_pool",
            "watchdog",
            "noirqbalance",
            "tbuf_size",
            "apic_verbosity",
            "lapic",
            "nolapic",
            "noapic",
            "acpi_skip_timer_override",
            "conswitch",
            "dom0_vcpus_pin",
        ]
    );
    assert!(ok("noreboot sched=sedf console=com1").unsupported_here().is_empty());
}

#[test]
fn options_propagated_to_dom0() {
    let o = ok("acpi=off noapic acpi_skip_timer_override");
    assert_eq!(o.dom0_propagated(), "noapic acpi_skip_timer_override acpi=off");
    assert_eq!(ok("acpi=noirq,pci=noacpi").dom0_propagated(), "acpi=noirq acpi=pci=noacpi");
    assert_eq!(ok("noreboot").dom0_propagated(), "");
}

#[test]
fn dom0_cmdline_gets_only_missing_options() {
    let o = ok("acpi=ht noapic acpi_skip_timer_override");
    assert_eq!(
        o.append_to_dom0_cmdline("root=/dev/sda1 ro "),
        "root=/dev/sda1 ro noapic acpi_skip_timer_override acpi=ht"
    );
    assert_eq!(
        o.append_to_dom0_cmdline("acpi=off noapic"),
        "acpi=off noapic acpi_skip_timer_override"
    );
    assert_eq!(o.append_to_dom0_cmdline(""), "noapic acpi_skip_timer_override acpi=ht");
    assert_eq!(ok("").append_to_dom0_cmdline("quiet"), "quiet");
}

#[test]
fn realistic_command_lines() {
    let raw = "/boot/xen-3.4.gz dom0_mem=512M loglvl=all guest_loglvl=all com1=115200,8n1 \
               console=com1,vga sync_console noreboot";
    let o = ok(cook(raw, loader_is_grub2("GNU GRUB 0.97")));
    assert_eq!(o.dom0_mem.amount, Some(512 << 20));
    assert_eq!(o.loglvl.upper, LogLevelThreshold::All);
    assert_eq!(o.com1.and_then(|c| c.baud), Some(115_200));
    assert!(o.sync_console && o.noreboot);
    let o = ok(cook("dom0_mem=min:128M,max:1G,-256M sched=sedf", loader_is_grub2("GRUB 2.06")));
    assert_eq!(o.sched, SchedulerKind::Sedf);
    assert_eq!(o.dom0_mem.amount, Some(-(256 << 20)));
}

#[test]
fn hostile_input_does_not_panic() {
    let junk = "\u{0}\u{7f} é=ü ==== ,,,, com1=,,,,,,, badpage=--- mem=-- vga=gfx-xx \
                conswitch=\u{e9} loglvl=/ dom0_mem=min:,max: acpi=, console=,";
    let (_, w) = parse(junk);
    assert!(w.len() >= 10);
    let long = "x".repeat(100_000);
    assert_eq!(parse(&long).1.len(), 1);
}

#[test]
fn dom0_max_vcpus_single_and_range() {
    assert_eq!(ok("dom0_max_vcpus=2").dom0_max_vcpus, Some((2, 2)));
    assert_eq!(ok("dom0_max_vcpus=1-4").dom0_max_vcpus, Some((1, 4)));
    assert_eq!(ok("").dom0_max_vcpus, None);
    for bad in ["0", "3-2", "65", "x", "1-", "-2"] {
        let (o, w) = warned(&alloc::format!("dom0_max_vcpus={bad}"));
        assert_eq!(o.dom0_max_vcpus, None, "{bad}");
        assert_eq!(w.len(), 1, "{bad}: {w:?}");
    }
}
