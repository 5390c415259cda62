// SPDX-License-Identifier: GPL-2.0-only
//! `xm create -n` on configurations equivalent to Xen's examples: the typed
//! configuration and the exact SXP xm prints.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "test assertions on our own output"
)]

use std::path::PathBuf;
use xm_config::config::device::{DeviceType, DiskMode};
use xm_config::config::{Action, Builder};
use xm_config::python::Host;
use xm_config::sxp::{self, Sxp};
use xm_config::{DomainConfig, Env, create};

fn env() -> Env {
    Env {
        cwd: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        host: Host { uname: ["Linux", "dom0", "2.6.18-xen", "#1 SMP", "x86_64"].map(String::from) },
        display: None,
        xauthority: Some("/root/.Xauthority".into()),
    }
}

/// The fixture `name` by absolute path.
fn fixture(name: &str) -> String {
    env().cwd.join(name).display().to_string()
}

/// An environment whose working directory is `/srv/xen`.
fn env_in_srv() -> Env {
    Env { cwd: PathBuf::from("/srv/xen"), ..env() }
}

fn dry_run(words: &[&str]) -> (xm_config::Created, String) {
    dry_run_in(words, &env())
}

fn dry_run_in(words: &[&str], env: &Env) -> (xm_config::Created, String) {
    let created = create(words, env).unwrap_or_else(|e| panic!("xm create {words:?}: {e}"));
    // What xm sends, xend reads back into the same configuration; through
    // the text form too (where numbers are atoms).
    let sent = created.sxp.as_ref().expect("an SXP config");
    let config = created.config.as_ref().expect("a config");
    assert_eq!(&DomainConfig::from_sxp(sent).expect("reads back"), config);
    let text = sxp::pretty(sent);
    let reread =
        DomainConfig::from_sxp(&sxp::parse_one(&text).expect("parses")).expect("reads back");
    assert_eq!(sxp::pretty(&reread.to_sxp()).replace(" )", ")"), text.replace(" )", ")"));
    let text = sxp::pretty(created.sxp.as_ref().expect("an SXP config"));
    (created, text)
}

#[test]
fn xmexample1_gives_the_minimal_pv_domain() {
    let (created, text) = dry_run(&["-n", "xmexample1"]);
    assert_eq!(created.config_file.as_deref(), Some("./xmexample1"));
    let c = created.config.expect("config");
    assert_eq!(c.name, "ExampleDomain");
    assert_eq!(c.memory, 64);
    assert_eq!(c.effective_maxmem(), 64);
    assert_eq!(c.vcpus, 1);
    assert_eq!(c.builder, Builder::Linux);
    assert_eq!(c.kernel.as_deref(), Some("/boot/vmlinuz-2.6.10-xenU"));
    assert_eq!(c.ramdisk, None);
    assert_eq!(c.kernel_cmdline(), "root=/dev/hda1 ro 4");
    assert_eq!(c.disks.len(), 1);
    let d = &c.disks[0];
    assert_eq!((d.kind.as_str(), d.params.as_str(), d.vdev.as_str()), ("phy", "hda1", "hda1"));
    assert_eq!((d.access, d.devid, d.backend.as_deref()), (DiskMode::Write, 0x301, None));
    assert_eq!(c.vifs.len(), 1);
    assert_eq!(c.vifs[0].mac(), None);
    assert_eq!((c.on_poweroff, c.on_reboot, c.on_crash), (None, None, None));
    assert_eq!(
        (c.effective_on_poweroff(), c.effective_on_reboot(), c.effective_on_crash()),
        (Action::Destroy, Action::Restart, Action::Restart)
    );
    assert_eq!(c.effective_cpu_weight(), 256);
    // The linux list is 73 columns: one too many to stay on one line at
    // column 8.
    assert_eq!(
        text,
        "\
(vm
    (name ExampleDomain)
    (memory 64)
    (vcpus 1)
    (on_xend_start ignore)
    (on_xend_stop ignore)
    (image
        (linux
            (kernel /boot/vmlinuz-2.6.10-xenU)
            (root '/dev/hda1 ro')
            (args 4)
        )
    )
    (device (vbd (uname phy:hda1) (dev hda1) (mode w)))
    (device (vif))
)
"
    );
    // xendomains greps the name out of this output.
    assert!(text.lines().any(|l| l.trim() == "(name ExampleDomain)"));
    // Read back, numbers are atoms: the text is the same.
    assert_eq!(sxp::parse_one(&text).expect("reads back").show(), created.sxp.unwrap().show());
}

#[test]
fn xmexample2_takes_vmid_from_the_command_line() {
    let (created, text) = dry_run(&["xmexample2", "vmid=3", "--dryrun"]);
    assert_eq!(created.declared.len(), 1);
    assert_eq!(created.declared[0].name, "vmid");
    assert_eq!(created.declared[0].usage, "Virtual machine id. Integer greater than 0.");
    let c = created.config.expect("config");
    assert_eq!(c.name, "VM3");
    assert_eq!(c.vcpus, 4);
    assert_eq!(
        c.disks.iter().map(|d| d.uname.as_str()).collect::<Vec<_>>(),
        ["phy:sda10", "phy:sda6"]
    );
    assert_eq!(c.disks[1].access, DiskMode::Read);
    assert_eq!(c.disks[0].devid, 0x801);
    assert_eq!(c.extra, "4 VMID=3 usr=/dev/sda6");
    // vmid_check is a function, so xm ignores it; vmid itself is a
    // command-line variable, not an option.
    assert!(created.ignored.is_empty(), "{:?}", created.ignored);
    assert_eq!(
        text,
        "\
(vm
    (name VM3)
    (memory 64)
    (vcpus 4)
    (on_xend_start ignore)
    (on_xend_stop ignore)
    (image
        (linux
            (kernel /boot/vmlinuz-2.6.10-xenU)
            (root '/dev/sda1 ro')
            (args '4 VMID=3 usr=/dev/sda6')
        )
    )
    (device (vbd (uname phy:sda10) (dev sda1) (mode w)))
    (device (vbd (uname phy:sda6) (dev sda6) (mode r)))
    (device (vif))
)
"
    );
}

#[test]
fn command_line_options_win_over_the_file() {
    let (created, text) = dry_run(&[
        "xmexample1",
        "memory=256",
        "name=override",
        "vif=bridge=xenbr1",
        "disk=file:/img/a.img,xvda,w",
        "disk=file:/img/b.img,xvdb,r",
        "on_crash=preserve",
        "localtime=yes",
    ]);
    let c = created.config.expect("config");
    assert_eq!((c.name.as_str(), c.memory), ("override", 256));
    // A command-line list replaces the file's whole list.
    assert_eq!(c.disks.iter().map(|d| d.vdev.as_str()).collect::<Vec<_>>(), ["xvda", "xvdb"]);
    assert_eq!(c.vifs.len(), 1);
    assert_eq!(c.vifs[0].bridge(), Some("xenbr1"));
    assert_eq!(c.on_crash, Some(Action::Preserve));
    assert!(c.localtime);
    assert!(text.contains("    (on_crash preserve)\n"));
    assert!(text.contains("    (localtime 1)\n"));
    assert!(text.contains("    (device (vbd (uname file:/img/b.img) (dev xvdb) (mode r)))\n"));
    assert!(text.contains("    (device (vif (bridge xenbr1)))\n"));
}

/// The xm man page's example, from the xm-test suite: no config file.
#[test]
fn man_page_create_without_a_config_file() {
    let (created, text) = dry_run_in(
        &[
            "/dev/null",
            "ramdisk=initrd.img",
            "kernel=/boot/vmlinuz-2.6.12.6-xenU",
            "name=ramdisk",
            "vif=",
            "vcpus=1",
            "memory=64",
            "root=/dev/ram0",
        ],
        &env_in_srv(),
    );
    let c = created.config.expect("config");
    assert_eq!(c.ramdisk.as_deref(), Some("/srv/xen/initrd.img"));
    assert_eq!(c.vifs.len(), 1);
    assert_eq!(
        text,
        "\
(vm
    (name ramdisk)
    (memory 64)
    (vcpus 1)
    (on_xend_start ignore)
    (on_xend_stop ignore)
    (image
        (linux
            (kernel /boot/vmlinuz-2.6.12.6-xenU)
            (ramdisk /srv/xen/initrd.img)
            (root /dev/ram0)
        )
    )
    (device (vif))
)
"
    );
}

#[test]
fn the_name_defaults_to_the_file_name() {
    let (created, _) = dry_run(&["xmexample1", "name="]);
    assert_eq!(created.config.expect("config").name, "xmexample1");
}

#[test]
fn hvm_example_uses_the_hosts_uname() {
    let (created, text) = dry_run(&["xmexample.hvm"]);
    let c = created.config.expect("config");
    assert_eq!(c.builder, Builder::Hvm);
    assert_eq!(c.disks[1].device_type, DeviceType::Cdrom);
    assert_eq!(c.disks[1].devid, 0x1600);
    let names: Vec<&str> = created.ignored.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["arch", "arch_libdir"]);
    let image = created.sxp.as_ref().unwrap().child_value("image").unwrap().clone();
    assert_eq!(image.name(), Some("hvm"));
    assert_eq!(image.child_value("device_model"), Some(&Sxp::str("/usr/lib64/xen/bin/qemu-dm")));
    assert_eq!(image.child_value("vnc"), Some(&Sxp::Int(1)));
    // An empty password prints as nothing: `(vncpasswd )`.
    assert_eq!(image.child_value("vncpasswd"), Some(&Sxp::str("")));
    assert!(text.contains("            (vncpasswd )\n"), "{text}");
    assert_eq!(image.child_value("xauthority"), Some(&Sxp::str("/root/.Xauthority")));
    assert!(text.contains("    (device (vif (bridge xenbr0) (type ioemu)))\n"), "{text}");
    assert!(text.contains("    (device (vbd (uname ) (dev hdc:cdrom) (mode r)))\n"), "{text}");

    // On a 32-bit host the same file picks lib.
    let mut e = env();
    e.host.uname[4] = "i686".into();
    let created = create(&["xmexample.hvm"], &e).expect("creates");
    let image = created.sxp.as_ref().unwrap().child_value("image").unwrap().clone();
    assert_eq!(image.child_value("device_model"), Some(&Sxp::str("/usr/lib/xen/bin/qemu-dm")));
}

#[test]
fn a_config_using_most_of_the_language_and_options() {
    let path = fixture("everything.cfg");
    let (created, text) = dry_run_in(&["-c", &path], &env_in_srv());
    let c = created.config.expect("config");
    assert_eq!((c.memory, c.maxmem, c.vcpus), (512, Some(768), 3));
    assert_eq!(c.cpus.as_ref().unwrap().cpus, vec![0, 2, 3]);
    assert_eq!((c.cpu_weight, c.cpu_cap), (Some(512), Some(88)));
    assert_eq!(c.name, "all-inone");
    assert_eq!(c.kernel.as_deref(), Some("/srv/xen/vmlinuz"));
    assert_eq!(c.ramdisk.as_deref(), Some("/srv/boot/initrd.gz"));
    assert_eq!(c.extra, "console=hvc0 quiet");
    assert_eq!(c.root, "/dev/xvda1 ro");
    assert_eq!(c.cmdline_ip, "10.0.0.2:1.2.3.4:10.0.0.1:255.255.255.0:vm7:eth0:off");
    assert_eq!(
        c.kernel_cmdline(),
        "ip=10.0.0.2:1.2.3.4:10.0.0.1:255.255.255.0:vm7:eth0:off root=/dev/xvda1 ro console=hvc0 quiet"
    );
    assert_eq!(
        c.disks.iter().map(|d| d.vdev.as_str()).collect::<Vec<_>>(),
        ["xvda", "xvdb", "xvdc"]
    );
    assert_eq!(c.disks[2].class(), "tap");
    assert_eq!(c.disks[2].access, DiskMode::WriteShared);
    assert_eq!(c.vifs[0].mac(), Some("00:16:3e:00:00:11"));
    assert_eq!(
        (c.on_poweroff, c.on_reboot, c.on_crash),
        (Some(Action::Destroy), Some(Action::Restart), Some(Action::Preserve))
    );
    let mut ignored: Vec<&str> = created.ignored.iter().map(|b| b.name.as_str()).collect();
    ignored.sort_unstable();
    // Tuples and bools are dropped silently by xm, like functions.
    assert_eq!(ignored, ["a", "b", "base", "c", "i", "neg", "ratio"]);
    let get = |n: &str| created.ignored.iter().find(|b| b.name == n).unwrap().value.clone();
    assert_eq!(get("ratio"), xm_config::python::PyValue::Int(3));
    assert_eq!(get("neg"), xm_config::python::PyValue::Int(2));
    let expected = "\
(vm
    (name all-inone)
    (memory 512)
    (maxmem 768)
    (on_poweroff destroy)
    (on_reboot restart)
    (on_crash preserve)
    (vcpus 3)
    (on_xend_start ignore)
    (on_xend_stop ignore)
    (uuid 06ed00fe-1162-4fc4-b5d8-11993ee4a8b9)
    (cpus '0-3,^1')
    (cpu_cap 88)
    (cpu_weight 512)
    (image
        (linux
            (kernel /srv/xen/vmlinuz)
            (ramdisk /srv/boot/initrd.gz)
            (ip 10.0.0.2:1.2.3.4:10.0.0.1:255.255.255.0:vm7:eth0:off)
            (root '/dev/xvda1 ro')
            (args 'console=hvc0 quiet')
        )
    )
    (device (vbd (uname file:/img/disk0.img) (dev xvda) (mode w)))
    (device (vbd (uname file:/img/disk1.img) (dev xvdb) (mode w)))
    (device
        (tap (uname tap:aio:/img/shared.img) (dev xvdc) (mode 'w!') (backend 0))
    )
    (device (pci (dev (domain 0x0000) (bus 0x00) (slot 0x1d) (func 0x0))))
    (device (ioports (from 0x02f8) (to 0x02ff)))
    (device (irq (irq 7)))
    (device (vif (bridge xenbr0) (mac 00:16:3e:00:00:11)))
    (device (vif (bridge xenbr1) (script vif-bridge)))
    (device (vtpm (pref_instance 1) (backend 0)))
    (device (vkbd))
    (device
        (vfb
            (vnclisten 0.0.0.0)
            (type vnc)
            (vncdisplay 1)
            (xauthority /root/.Xauthority)
        )
    )
)
";
    assert_eq!(text, expected);
}

#[test]
fn info_lines_and_misspelt_options() {
    let (created, text) = dry_run(&["typo.cfg"]);
    assert_eq!(created.info, ["Using config file \"./typo.cfg\"."]);
    // xm would silently use the defaults; the typos only warn.
    assert!(text.contains("(memory 128)") && text.contains("(vcpus 1)"));
    assert_eq!(
        created.warnings,
        [
            "./typo.cfg:3:1: variable 'memroy' is not an xm option and is ignored (did you mean 'memory'?)",
            "./typo.cfg:4:1: variable 'vpcus' is not an xm option and is ignored (did you mean 'vcpus'?)",
        ]
    );
    let (created, _) = dry_run(&["-q", "typo.cfg"]);
    assert!(created.info.is_empty());
}

#[test]
fn help_config_lists_the_files_variables_without_checking_them() {
    let created =
        create(&["--help_config", "xmexample2"], &env()).expect("no check runs in help mode");
    assert!(created.config.is_none());
    assert_eq!(
        created.help_text(),
        "\nConfiguration variables for ./xmexample2:\n\nvmid         Virtual machine id. Integer greater than 0.\n\n"
    );
}

#[test]
fn the_search_path_finds_configs_elsewhere() {
    let dir = env().cwd.display().to_string();
    let (created, _) =
        dry_run_in(&[&format!("--path=/nonexistent:{dir}"), "xmexample1"], &env_in_srv());
    assert_eq!(created.config_file, Some(format!("{dir}/xmexample1")));
    let e =
        create(&["--path=/nonexistent", "xmexample1"], &env_in_srv()).expect_err("not on the path");
    assert_eq!(e.to_string(), "Unable to open config file: xmexample1");
}

#[test]
fn sxp_from_xm_list_long_reads_back() {
    // The shape of a real `xm list -l` entry (Xen 3.3, from the reference).
    let text = "(domain
    (domid 15)
    (on_crash restart)
    (uuid 6b1b2d7e-0f63-4b0c-0a1d-4c8f3e1c2b11)
    (bootloader_args )
    (vcpus 1)
    (name UbuntuPVS810)
    (on_poweroff destroy)
    (on_reboot restart)
    (bootloader /usr/bin/pygrub)
    (maxmem 4096)
    (memory 4096)
    (features )
    (start_time 1230489041.67)
    (cpu_time 5.977945576)
    (image
        (linux
            (kernel )
            (notes
                (HV_START_LOW 18446603336221196288)
                (FEATURES '!writable_page_tables|pae_pgdir_above_4gb')
                (GUEST_OS linux)
            )
        )
    )
    (status 2)
    (state -b----)
    (device
        (vif
            (bridge eth0)
            (mac 00:16:3e:5b:2c:41)
            (script /etc/xen/scripts/vif-bridge)
            (backend 0)
        )
    )
)
";
    let v = sxp::parse_one(text).expect("parses");
    assert_eq!(v.name(), Some("domain"));
    assert_eq!(v.child_value("name"), Some(&Sxp::str("UbuntuPVS810")));
    assert_eq!(v.child_value("state"), Some(&Sxp::str("-b----")));
    assert_eq!(v.child_value("bootloader_args"), None, "an empty value reads back as nothing");
    let notes = v.child_value("image").and_then(|linux| linux.child("notes")).expect("notes");
    assert_eq!(
        notes.child_value("FEATURES"),
        Some(&Sxp::str("!writable_page_tables|pae_pgdir_above_4gb"))
    );
    let vif = v.child_value("device").expect("device");
    assert_eq!(vif.child_value("script"), Some(&Sxp::str("/etc/xen/scripts/vif-bridge")));
    // xend's layout prints it back byte for byte, except that an empty
    // string reads back as nothing (in xend too).
    let without_empty = text
        .replace("(bootloader_args )", "(bootloader_args)")
        .replace("(features )", "(features)")
        .replace("(kernel )", "(kernel)");
    assert_eq!(sxp::pretty(&v), without_empty);

    // xend's reading of it: what it knows, the rest ignored.
    let c = DomainConfig::from_sxp(&v).expect("a domain");
    assert_eq!(
        (c.name.as_str(), c.memory, c.effective_maxmem(), c.vcpus),
        ("UbuntuPVS810", 4096, 4096, 1)
    );
    assert_eq!(
        (c.bootloader.as_deref(), c.bootloader_args.as_deref(), c.kernel.as_deref()),
        (Some("/usr/bin/pygrub"), Some(""), None)
    );
    assert_eq!(c.vifs.len(), 1);
    assert_eq!((c.vifs[0].bridge(), c.vifs[0].mac()), (Some("eth0"), Some("00:16:3e:5b:2c:41")));
    assert_eq!(c.on_crash, Some(Action::Restart));
    let bad = sxp::parse_one("(vm (name x) (on_crash explode))").expect("parses");
    assert_eq!(
        DomainConfig::from_sxp(&bad).expect_err("bad").to_string(),
        "Invalid event handling mode for on_crash: \"explode\""
    );
    let bad = sxp::parse_one("(vm (name x) (device (vbd (uname phy:sda1) (dev floppy) (mode w))))")
        .expect("parses");
    assert_eq!(
        DomainConfig::from_sxp(&bad).expect_err("bad").to_string(),
        "Unable to find number for device (floppy)"
    );
    assert!(DomainConfig::from_sxp(&sxp::parse_one("(vm (memory 64))").expect("parses")).is_err());
    assert!(DomainConfig::from_sxp(&Sxp::str("vm")).is_err());
}

#[test]
fn a_ready_sxp_file_is_sent_as_it_is() {
    let dir = std::env::temp_dir().join(format!("xm-config-sxp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vm.sxp");
    let text = "(vm (name fromsxp) (memory 96) (image (linux (kernel /k))) (device (vif (bridge xenbr0))))\n";
    std::fs::write(&path, text).unwrap();
    let p = path.display().to_string();
    let created = create(&["-F", &p, "-n"], &env_in_srv()).expect("reads the SXP");
    assert_eq!(created.sxp.as_ref().map(Sxp::show).as_deref(), Some(text.trim_end()));
    let c = created.config.expect("read as xend reads it");
    assert_eq!((c.name.as_str(), c.memory, c.vifs.len()), ("fromsxp", 96, 1));
    std::fs::write(&path, "(vm (name x) (vcpus many))").unwrap();
    let e = create(&["-F", &p], &env_in_srv()).expect_err("bad vcpus");
    assert_eq!(e.to_string(), format!("{p}:1:1: vcpus must be an integer, not \"many\""));
    let _ = std::fs::remove_dir_all(&dir);
}
