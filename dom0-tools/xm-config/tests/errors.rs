// SPDX-License-Identifier: GPL-2.0-only
//! Errors: each with its exact `file:line:col: message`, never a panic.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "test assertions on our own output"
)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use xm_config::python::{self, Host, ScriptInput};
use xm_config::{Env, ErrorKind, create};

fn host() -> Host {
    Host { uname: ["Linux", "dom0", "2.6.18-xen", "#1 SMP", "x86_64"].map(String::from) }
}

/// Evaluates `source` as the file `t.cfg`; the error's text.
fn eval_err(source: &str) -> (ErrorKind, String) {
    let h = host();
    let e = python::run(&ScriptInput { file: "t.cfg", source, vars: &[], help: false, host: &h })
        .expect_err("must fail");
    (e.kind, e.to_string())
}

fn env() -> Env {
    Env {
        cwd: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        host: host(),
        display: None,
        xauthority: None,
    }
}

/// Writes `source` to a temporary file and runs `xm create` on it.
fn create_err(source: &str, extra: &[&str]) -> (ErrorKind, String) {
    let dir = std::env::temp_dir().join(format!("xm-config-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = dir.join(format!("c{}.cfg", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, source).unwrap();
    let p = path.display().to_string();
    let mut words = vec![p.as_str()];
    words.extend_from_slice(extra);
    let e = create(&words, &env()).expect_err("must fail");
    let text = e.to_string().replace(&p, "c.cfg");
    let _ = std::fs::remove_file(&path);
    (e.kind, text)
}

#[test]
fn syntax_errors_point_at_the_token() {
    assert_eq!(
        eval_err("memory = 64 +\n"),
        (ErrorKind::Syntax, "t.cfg:1:14: invalid syntax".into())
    );
    assert_eq!(
        eval_err("name = 'abc\n"),
        (ErrorKind::Syntax, "t.cfg:1:8: EOL while scanning string literal".into())
    );
    assert_eq!(
        eval_err("x = '''abc\n\n"),
        (ErrorKind::Syntax, "t.cfg:1:5: EOF while scanning triple-quoted string literal".into())
    );
    assert_eq!(
        eval_err("if 1:\nx = 2\n"),
        (ErrorKind::Syntax, "t.cfg:2:1: expected an indented block".into())
    );
    assert_eq!(
        eval_err("x = 1\n  y = 2\n"),
        (ErrorKind::Syntax, "t.cfg:2:3: unexpected indent".into())
    );
    assert_eq!(
        eval_err("if 1:\n    x = 1\n  y = 2\n"),
        (
            ErrorKind::Syntax,
            "t.cfg:3:3: unindent does not match any outer indentation level".into()
        )
    );
    assert_eq!(
        eval_err("disk = ['a',\n        'b'\n"),
        (ErrorKind::Syntax, "t.cfg:3:1: expected ']'".into())
    );
    assert_eq!(
        eval_err("x = 0x\n"),
        (ErrorKind::Syntax, "t.cfg:1:5: invalid number literal \"0x\"".into())
    );
    assert_eq!(eval_err("x = $\n"), (ErrorKind::Syntax, "t.cfg:1:5: invalid character '$'".into()));
    assert_eq!(
        eval_err("None = 1\n"),
        (ErrorKind::Syntax, "t.cfg:1:1: cannot assign to None".into())
    );
}

#[test]
fn unsupported_python_is_refused_not_run() {
    assert_eq!(
        eval_err("import subprocess\n"),
        (
            ErrorKind::Unsupported,
            "t.cfg:1:8: ImportError: module subprocess is not available to domain configuration files (only os, os.path, re and sys are)".into()
        )
    );
    assert_eq!(
        eval_err("import os\nos.system('rm -rf /')\n"),
        (
            ErrorKind::Unsupported,
            "t.cfg:2:3: os.system is not available to domain configuration files".into()
        )
    );
    assert_eq!(
        eval_err("x = os.path.exists('/etc')\n"),
        (
            ErrorKind::Unsupported,
            "t.cfg:1:12: os.path.exists is not available to domain configuration files".into()
        )
    );
    assert_eq!(
        eval_err("while 1:\n    pass\n"),
        (
            ErrorKind::Unsupported,
            "t.cfg:1:1: 'while' statements are not supported in domain configuration files".into()
        )
    );
    assert_eq!(
        eval_err("x = {'a': 1}\n"),
        (
            ErrorKind::Unsupported,
            "t.cfg:1:5: dictionaries are not supported in domain configuration files".into()
        )
    );
    assert_eq!(
        eval_err("from xen.util.ip import *\n"),
        (
            ErrorKind::Unsupported,
            "t.cfg:1:1: 'from xen.util.ip import' is not supported in domain configuration files"
                .into()
        )
    );
    assert_eq!(
        eval_err("print 'hi'\n"),
        (
            ErrorKind::Unsupported,
            "t.cfg:1:1: 'print' statements are not supported in domain configuration files".into()
        )
    );
}

#[test]
fn runtime_errors_carry_python_messages() {
    assert_eq!(
        eval_err("name = 'VM%d' % vmid\n"),
        (ErrorKind::Name, "t.cfg:1:17: NameError: name 'vmid' is not defined".into())
    );
    assert_eq!(
        eval_err("name = 'VM%d' % 'x'\n"),
        (ErrorKind::Type, "t.cfg:1:15: TypeError: %d format: a number is required, not str".into())
    );
    assert_eq!(
        eval_err("memory = 64 + '1'\n"),
        (
            ErrorKind::Type,
            "t.cfg:1:13: TypeError: unsupported operand type(s) for +: 'int' and 'str'".into()
        )
    );
    assert_eq!(
        eval_err("x = 1 / 0\n"),
        (
            ErrorKind::Value,
            "t.cfg:1:7: ZeroDivisionError: integer division or modulo by zero".into()
        )
    );
    assert_eq!(
        eval_err("x = [1][3]\n"),
        (ErrorKind::Value, "t.cfg:1:8: IndexError: index out of range".into())
    );
    assert_eq!(
        eval_err("raise ValueError('no')\n"),
        (ErrorKind::Value, "t.cfg:1:1: ValueError: no".into())
    );
    assert_eq!(
        eval_err("def f(a):\n    return b\nx = f(1)\n"),
        (ErrorKind::Name, "t.cfg:2:12: NameError: global name 'b' is not defined".into())
    );
    assert_eq!(
        eval_err("import os\ndef f():\n    return os.uname()\nx = f()\n"),
        (ErrorKind::Name, "t.cfg:3:12: NameError: global name 'os' is not defined".into()),
        "functions see only their locals and built-ins, as under execfile with separate dicts"
    );
    assert_eq!(
        eval_err("x = 9223372036854775807 + 1\n"),
        (ErrorKind::Unsupported, "t.cfg:1:25: integer result does not fit in 64 bits".into())
    );
    // A function cannot see itself (module names are not its globals)...
    assert_eq!(
        eval_err("def f():\n    return f()\nx = f()\n"),
        (ErrorKind::Name, "t.cfg:2:12: NameError: global name 'f' is not defined".into())
    );
    // ... but can recurse through an argument, up to a limit.
    assert_eq!(
        eval_err("def f(g):\n    return g(g)\nx = f(f)\n"),
        (ErrorKind::Limit, "t.cfg:2:13: maximum recursion depth exceeded".into())
    );
    assert_eq!(
        eval_err("l = []\nfor i in range(100000):\n    for j in range(100000):\n        pass\n"),
        (
            ErrorKind::Limit,
            "t.cfg:4:9: evaluation step limit reached (the file runs too long)".into()
        )
    );
    assert_eq!(
        eval_err("x = 'a' * 100000000\n"),
        (ErrorKind::Limit, "t.cfg:1:9: repetition result too long".into())
    );
    assert_eq!(
        eval_err("x = '1' < 2\n"),
        (
            ErrorKind::Unsupported,
            "t.cfg:1:9: cannot order 'str' and 'int' (Python 2 orders them arbitrarily)".into()
        )
    );
}

#[test]
fn xm_vars_checks_report_the_variable() {
    let xmexample2 = std::fs::read_to_string(env().cwd.join("xmexample2")).unwrap();
    // No vmid: the check gets None.
    assert_eq!(
        create_err(&xmexample2, &[]),
        (
            ErrorKind::Type,
            "c.cfg:15:14: TypeError: vmid - int() argument must be a string or a number, not 'NoneType'".into()
        )
    );
    assert_eq!(
        create_err(&xmexample2, &["vmid=0"]),
        (ErrorKind::Value, "c.cfg:15:14: ValueError: vmid - ".into())
    );
    assert_eq!(
        create_err(&xmexample2, &["vmid=x"]),
        (
            ErrorKind::Value,
            "c.cfg:15:14: ValueError: vmid - invalid literal for int() with base 10: 'x'".into()
        )
    );
}

#[test]
fn configuration_errors_point_at_the_assignment() {
    let base = "kernel = '/boot/k'\n";
    let case = |tail: &str, args: &[&str]| create_err(&format!("{base}{tail}"), args);
    assert_eq!(
        case("disk = ['phy:hda1,hda1']\n", &[]),
        (ErrorKind::Config, "c.cfg:2:1: Invalid disk specifier: phy:hda1,hda1".into())
    );
    assert_eq!(
        case("\ndisk = [ 'phy:hda1,hda1,w',\n  'phy:sdb,floppy,r' ]\n", &[]),
        (ErrorKind::Config, "c.cfg:3:1: Unable to find number for device (floppy)".into())
    );
    assert_eq!(
        case("on_crash = 'explode'\n", &[]),
        (
            ErrorKind::Config,
            "c.cfg:2:1: Invalid event handling mode for on_crash: \"explode\" (destroy, restart, preserve or rename-restart)".into()
        )
    );
    assert_eq!(
        case("vif = ['colour=red']\n", &[]),
        (ErrorKind::Config, "c.cfg:2:1: Invalid vif option: colour".into())
    );
    assert_eq!(
        case("vif = 'bridge=xenbr0'\n", &[]),
        (ErrorKind::Config, "c.cfg:2:1: vif must be a list of strings, not str".into())
    );
    assert_eq!(
        case("memory = 'lots'\n", &[]),
        (ErrorKind::Config, "c.cfg:2:1: memory must be an integer, not \"lots\"".into())
    );
    assert_eq!(
        case("vcpus = 0\n", &[]),
        (ErrorKind::Config, "c.cfg:2:1: vcpus must be between 1 and 128, not 0".into())
    );
    assert_eq!(
        case("name = 'a b'\n", &[]),
        (
            ErrorKind::Config,
            "c.cfg:2:1: Invalid VM name \"a b\" (letters, digits and _-.:/+ only)".into()
        )
    );
    assert_eq!(
        case("nfs_root = '/srv/root'\n", &[]),
        (ErrorKind::Config, "c.cfg:2:1: Must set nfs root and nfs server".into())
    );
    assert_eq!(
        case("cpus = '0-3,x'\n", &[]),
        (
            ErrorKind::Config,
            "c.cfg:2:1: invalid CPU specifier \"x\" in cpus \"0-3,x\" (as \"0-3,5,^1\")".into()
        )
    );
    assert_eq!(
        case("vtpm = ['instance=0']\n", &[]),
        (ErrorKind::Config, "c.cfg:2:1: VM config error: vTPM instance must not be 0.".into())
    );
    assert_eq!(
        create_err("memory = 64\n", &[]),
        (ErrorKind::Config, "no kernel image given (set kernel, or bootloader)".into()),
    );
    // Values from the command line blame the word.
    assert_eq!(
        case("", &["disk=phy:sda,sda"]),
        (
            ErrorKind::Config,
            "command line 'disk=phy:sda,sda': Invalid disk specifier: phy:sda,sda".into()
        )
    );
    assert_eq!(
        case("", &["memory=lots"]),
        (ErrorKind::Option, "command line 'memory=lots': Invalid value: lots".into())
    );
    assert_eq!(
        case("", &["localtime=maybe"]),
        (ErrorKind::Option, "command line 'localtime=maybe': Invalid value: maybe".into())
    );
    assert_eq!(case("", &["--bogus"]), (ErrorKind::Option, "option --bogus not recognized".into()));
}

#[test]
fn missing_files_are_reported_as_xm_does() {
    let e = create(&["no-such-config"], &env()).expect_err("missing");
    assert_eq!(
        (e.kind, e.to_string()),
        (ErrorKind::Io, "Unable to open config file: no-such-config".into())
    );
}

#[test]
fn xm_vars_takes_only_name_use_and_check() {
    // Xen 3.x's Vars.var(name, use=None, check=None) has no checkfn.
    assert_eq!(
        eval_err("xm_vars.var('vmid', checkfn=None, use='id')\n"),
        (
            ErrorKind::Type,
            "t.cfg:1:12: TypeError: var() got an unexpected keyword argument 'checkfn'".into()
        )
    );
    let h = host();
    let vars = [("vmid".to_string(), "7".to_string())];
    let src = "def c(var, val):\n    return int(val) * 2\nxm_vars.var('vmid', 'the id', c)\nxm_vars.check()\nx = vmid + 1\n";
    let s = python::run(&ScriptInput {
        file: "t.cfg",
        source: src,
        vars: &vars,
        help: false,
        host: &h,
    })
    .expect("runs");
    assert_eq!(s.get("x").map(|b| b.value.clone()), Some(python::PyValue::Int(15)));
    assert_eq!(s.declared[0].usage, "the id");
}

#[test]
fn memory_sizes_are_bounded() {
    let base = "kernel = '/boot/k'\n";
    assert_eq!(
        create_err(&format!("{base}memory = 512\nmaxmem = 256\n"), &[]),
        (
            ErrorKind::Config,
            "c.cfg:3:1: maxmem (256 MiB) must be between memory (512 MiB) and 16777216 MiB".into()
        )
    );
    assert_eq!(
        create_err(base, &["memory=99999999999"]),
        (
            ErrorKind::Config,
            "command line 'memory=99999999999': memory must be between 1 and 16777216 MiB, not 99999999999".into()
        )
    );
}

#[test]
fn xen_util_ip_helpers() {
    let h = host();
    let vars = [("vmid".to_string(), "3".to_string())];
    let src = "ip = add_offset_to_ip('10.0.0.250', int(vmid) * 3)\n\
               n = inet_aton('192.168.1.2')\n\
               back = inet_ntoa(n + 1)\n\
               inside = check_subnet(ip, '10.0.1.0', '255.255.255.0')\n";
    let s = python::run(&ScriptInput {
        file: "t.cfg",
        source: src,
        vars: &vars,
        help: false,
        host: &h,
    })
    .expect("runs");
    let get = |n: &str| s.get(n).map(|b| b.value.clone());
    assert_eq!(get("ip"), Some(python::PyValue::Str("10.0.1.3".into())));
    assert_eq!(get("n"), Some(python::PyValue::Int(0xc0a8_0102)));
    assert_eq!(get("back"), Some(python::PyValue::Str("192.168.1.3".into())));
    assert_eq!(get("inside"), Some(python::PyValue::Bool(true)));
    assert_eq!(
        eval_err("ip = get_current_ipaddr()\n"),
        (
            ErrorKind::Unsupported,
            "t.cfg:1:24: get_current_ipaddr() reads the host's network configuration, which domain configuration files do not see here".into()
        )
    );
    assert_eq!(
        eval_err("n = inet_aton('1.2.3')\n"),
        (
            ErrorKind::Value,
            "t.cfg:1:14: error: illegal IP address string passed to inet_aton".into()
        )
    );
    assert_eq!(
        eval_err("ip = add_offset_to_ip('255.255.255.255', 1)\n"),
        (
            ErrorKind::Value,
            "t.cfg:1:22: error: 'I' format requires 0 <= number <= 4294967295".into()
        )
    );
    assert_eq!(
        eval_err("def f():\n    return inet_aton('1.2.3.4')\nx = f()\n"),
        (ErrorKind::Name, "t.cfg:2:12: NameError: global name 'inet_aton' is not defined".into())
    );
}
