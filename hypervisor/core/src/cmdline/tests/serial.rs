// SPDX-License-Identifier: GPL-2.0-only
//! `com1=`, `com2=`, `console=` and `conswitch=`.

use super::*;

fn com1(cmdline: &str) -> ComConfig {
    ok(cmdline).com1.unwrap_or_else(|| panic!("{cmdline}: com1 not set"))
}

#[test]
fn com_full_specification() {
    let c = com1("com1=9600,8n1,0x408,5");
    assert_eq!(
        c,
        ComConfig {
            baud: Some(9600),
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            io_base: Some(0x408),
            irq: Some(5)
        }
    );
    assert_eq!(c.io_base_or_default(0), 0x408);
    assert_eq!(c.irq_or_default(0), 5);
}

#[test]
fn com_prefixes_use_defaults() {
    let c = com1("com1=115200");
    assert_eq!((c.baud, c.data_bits, c.parity, c.stop_bits), (Some(115_200), 8, Parity::None, 1));
    assert_eq!((c.io_base, c.irq), (None, None));
    assert_eq!((c.io_base_or_default(0), c.irq_or_default(0)), (0x3f8, 4));
    assert_eq!((c.io_base_or_default(1), c.irq_or_default(1)), (0x2f8, 3));
    assert_eq!(c.io_base_or_default(3), 0x2e8);
    assert_eq!(c.io_base_or_default(99), 0x3f8);
    let c = com1("com1=38400,7e2");
    assert_eq!((c.data_bits, c.parity, c.stop_bits, c.io_base), (7, Parity::Even, 2, None));
    let c = com1("com1=19200,8o1,0x3e8");
    assert_eq!((c.io_base, c.irq), (Some(0x3e8), None));
    let c = ok("com2=57600,5s1,0x2f8,0").com2.unwrap_or_default();
    assert_eq!((c.data_bits, c.parity, c.irq), (5, Parity::Space, Some(0)));
}

#[test]
fn com_auto_baud() {
    assert_eq!(com1("com1=auto").baud, None);
    let c = com1("com1=auto,8m1");
    assert_eq!((c.baud, c.parity), (None, Parity::Mark));
    assert_eq!(com1("com1=,8N1").baud, None, "empty baud keeps auto");
    let c = com1("com1=9600,,0x2e8");
    assert_eq!((c.data_bits, c.parity, c.stop_bits, c.io_base), (8, Parity::None, 1, Some(0x2e8)));
}

#[test]
fn com_rejects_bad_fields() {
    for (bad, msg) in [
        ("com1=300", "invalid baud rate '300' (outside 1200-115200)"),
        ("com1=230400", "invalid baud rate '230400' (outside 1200-115200)"),
        ("com1=fast", "invalid baud rate 'fast'"),
        ("com1=9600,9n1", "invalid data/parity/stop bits '9n1'"),
        ("com1=9600,4n1", "invalid data/parity/stop bits '4n1'"),
        ("com1=9600,8x1", "invalid data/parity/stop bits '8x1'"),
        ("com1=9600,8n3", "invalid data/parity/stop bits '8n3'"),
        ("com1=9600,8n", "invalid data/parity/stop bits '8n'"),
        ("com1=9600,8n11", "invalid data/parity/stop bits '8n11'"),
        ("com1=9600,8n1,0", "invalid I/O base '0'"),
        ("com1=9600,8n1,0x10000", "invalid I/O base '0x10000'"),
        ("com1=9600,8n1,0x3f8,256", "invalid IRQ '256'"),
        ("com1=9600,8n1,0x3f8,4,x", "invalid field 'x' (at most 4 fields)"),
    ] {
        let (o, w) = warned(bad);
        assert_eq!(o.com1, None, "{bad}");
        assert_eq!(w, [alloc::format!("{bad}: {msg}, using default (not configured)")]);
    }
}

#[test]
fn com_display_round_trips() {
    for s in ["9600,8n1,0x408,5", "auto,8n1", "115200,7e2,0x3e8", "auto,8n1,,3"] {
        let parsed = ComConfig::parse(s).map(|c| c.to_string());
        assert_eq!(parsed.as_deref(), Ok(s));
    }
}

#[test]
fn console_lists() {
    assert_eq!(ok("console=vga").console, [ConsoleTarget::Vga]);
    assert_eq!(
        ok("console=com2H,com2L").console,
        [ConsoleTarget::Com2High, ConsoleTarget::Com2Low]
    );
    assert_eq!(ok("console=none").console, [ConsoleTarget::None]);
    assert_eq!(ok("console=com1,com2,vga").console.len(), 3);
    let (o, w) = warned("console=com3,vga");
    assert_eq!(o.console, ConsoleTarget::DEFAULT);
    assert_eq!(w, ["console=com3,vga: invalid console 'com3', using default (com1,vga)"]);
}

#[test]
fn console_target_helpers() {
    assert_eq!(ConsoleTarget::Com1.serial_port(), Some(0));
    assert_eq!(ConsoleTarget::Com2Low.serial_port(), Some(1));
    assert_eq!(ConsoleTarget::Vga.serial_port(), None);
    assert_eq!(ConsoleTarget::from_name("com2h"), Some(ConsoleTarget::Com2High));
    for t in [ConsoleTarget::Com2High, ConsoleTarget::None, ConsoleTarget::Com1] {
        assert_eq!(ConsoleTarget::from_name(&t.to_string()), Some(t));
    }
}

#[test]
fn conswitch_values() {
    let c = ok("conswitch=b").conswitch;
    assert_eq!(c, ConSwitch { switch_char: Some(b'b'), auto_switch: true });
    assert_eq!(c.ctrl_code(), Some(2));
    let c = ok("conswitch=ax").conswitch;
    assert_eq!(c, ConSwitch { switch_char: Some(b'a'), auto_switch: false });
    let c = ok("conswitch=`").conswitch;
    assert_eq!((c.switch_char, c.ctrl_code(), c.auto_switch), (None, None, true));
    assert!(!ok("conswitch=`x").conswitch.auto_switch);
    assert_eq!(ok("conswitch=Z").conswitch.switch_char, Some(b'z'));
    assert!(ok("conswitch=cy").conswitch.auto_switch, "only x disables auto-switch");
    assert_eq!(ok("conswitch=ax").conswitch.to_string(), "ax");
    assert_eq!(ConSwitch::default().to_string(), "a");
}

#[test]
fn conswitch_rejects_bad_values() {
    for bad in ["conswitch=1", "conswitch=abc", "conswitch=\u{e9}", "conswitch=#x"] {
        let (o, w) = warned(bad);
        assert_eq!(o.conswitch, ConSwitch::default(), "{bad}");
        assert_eq!(w.len(), 1, "{bad}");
    }
}
