// SPDX-License-Identifier: GPL-2.0-only
//! `vga=`, `edid=`, `edd=` and `no-real-mode`.

use super::*;

fn vga(cmdline: &str) -> VgaConfig {
    ok(cmdline).vga.unwrap_or_else(|| panic!("{cmdline}: vga not set"))
}

#[test]
fn vga_modes() {
    assert_eq!(vga("vga=ask"), VgaConfig { mode: VgaMode::Ask, keep: false });
    assert_eq!(vga("vga=current").mode, VgaMode::Current);
    for rows in TEXT_ROWS {
        assert_eq!(vga(&alloc::format!("vga=text-80x{rows}")).mode, VgaMode::Text { rows });
    }
    assert_eq!(
        vga("vga=gfx-1024x768x32").mode,
        VgaMode::Gfx { width: 1024, height: 768, depth: 32 }
    );
    assert_eq!(vga("vga=mode-0x0335").mode, VgaMode::Mode(0x335));
    assert_eq!(vga("vga=mode-0X317").mode, VgaMode::Mode(0x317));
}

#[test]
fn vga_keep() {
    assert_eq!(
        vga("vga=text-80x50,keep"),
        VgaConfig { mode: VgaMode::Text { rows: 50 }, keep: true }
    );
    assert!(vga("vga=current,keep").keep);
}

#[test]
fn vga_rejects_bad_modes() {
    for (bad, msg) in [
        ("vga=text-80x24", "invalid VGA mode 'text-80x24'"),
        ("vga=text-132x25", "invalid VGA mode 'text-132x25'"),
        ("vga=text-80x", "invalid VGA mode 'text-80x'"),
        ("vga=gfx-1024x768x12", "invalid VGA mode 'gfx-1024x768x12'"),
        ("vga=gfx-0x768x32", "invalid VGA mode 'gfx-0x768x32'"),
        ("vga=gfx-1024x768", "invalid VGA mode 'gfx-1024x768'"),
        ("vga=gfx-99999x768x32", "invalid VGA mode 'gfx-99999x768x32'"),
        ("vga=gfx-+1x768x32", "invalid VGA mode 'gfx-+1x768x32'"),
        ("vga=mode-335", "invalid VGA mode 'mode-335'"),
        ("vga=mode-0x10000", "invalid VGA mode 'mode-0x10000'"),
        ("vga=normal", "invalid VGA mode 'normal'"),
        ("vga=ask,kept", "invalid VGA flag 'kept'"),
        ("vga=ask,keep,keep", "invalid VGA flag 'keep,keep'"),
    ] {
        let (o, w) = warned(bad);
        assert_eq!(o.vga, None, "{bad}");
        assert_eq!(w, [alloc::format!("{bad}: {msg}, using default (unchanged)")]);
    }
}

#[test]
fn vga_display_round_trips() {
    for s in ["ask", "current,keep", "text-80x43", "gfx-800x600x16", "mode-0x335,keep"] {
        assert_eq!(VgaConfig::parse(s).map(|v| v.to_string()).as_deref(), Ok(s));
    }
}

#[test]
fn edid_and_edd() {
    assert_eq!(ok("edid=no").edid, Some(EdidMode::No));
    assert_eq!(ok("edid=force").edid, Some(EdidMode::Force));
    assert_eq!(ok("edd=off").edd, Some(EddMode::Off));
    assert_eq!(ok("edd=on").edd, Some(EddMode::On));
    assert_eq!(ok("edd=skipmbr").edd, Some(EddMode::SkipMbr));
    assert_eq!(EddMode::SkipMbr.name(), "skipmbr");
    assert_eq!(EdidMode::Force.name(), "force");
    let (o, w) = warned("edid=yes edd=maybe");
    assert_eq!((o.edid, o.edd), (None, None));
    assert_eq!(
        w,
        [
            "edid=yes: invalid EDID mode 'yes', using default (probe)",
            "edd=maybe: invalid EDD mode 'maybe', using default (on)",
        ]
    );
}

#[test]
fn no_real_mode_flag() {
    let o = ok("no-real-mode");
    assert!(o.no_real_mode);
    assert_eq!(o.given, ["no-real-mode"]);
    assert!(ok("no_real_mode").no_real_mode);
}
