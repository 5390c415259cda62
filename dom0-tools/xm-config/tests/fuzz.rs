// SPDX-License-Identifier: GPL-2.0-only
//! Random input never panics: the evaluator, the option parser and the SXP
//! reader return errors (or values) for seeded random text, random token
//! soups and mutations of the example configurations.
#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test-only random generation"
)]

use std::path::PathBuf;
use xm_config::python::{self, Host, ScriptInput};
use xm_config::sxp::{self, Sxp};
use xm_config::{CreateArgs, DomainConfig, Env, create};

/// xorshift64*: deterministic, seeded.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }
}

const TOKENS: &[&str] = &[
    "name",
    "memory",
    "disk",
    "vif",
    "vmid",
    "x",
    "def",
    "f",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "**",
    "==",
    "<",
    ">=",
    "not",
    "and",
    "or",
    "if",
    "elif",
    "else",
    "for",
    "in",
    "range",
    "return",
    "raise",
    "ValueError",
    "import",
    "os",
    "re",
    "os.uname()",
    "re.search",
    "xm_vars",
    ".var",
    ".check()",
    "'VM%d'",
    "\"%s-%s\"",
    "'''t'''",
    "'phy:hda1,hda1,w'",
    "''",
    "0x1f",
    "017",
    "3",
    "1.5",
    "None",
    "True",
    "len",
    "int",
    "str",
    "\n",
    "\n    ",
    "\n        ",
    "\t",
    " ",
    "#c\n",
    "\\\n",
    ";",
    ".",
    "'",
    "\"",
    "`",
    "$",
    "é",
    "lambda",
    "while",
    "print",
    "pass",
];

/// Iterations multiplier: `XM_CONFIG_FUZZ_SCALE=50` for a longer run.
fn scale() -> usize {
    std::env::var("XM_CONFIG_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

fn host() -> Host {
    Host { uname: ["Linux", "h", "r", "v", "x86_64"].map(String::from) }
}

fn eval(source: &str) {
    let h = host();
    let vars = [("vmid".to_string(), "3".to_string())];
    let _ =
        python::run(&ScriptInput { file: "fuzz.cfg", source, vars: &vars, help: false, host: &h });
}

#[test]
fn random_token_soups_do_not_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..4000 * scale() {
        let n = 1 + rng.below(60);
        let src: String =
            (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect::<Vec<_>>().join(" ");
        eval(&src);
        read_sxp(&src);
    }
}

/// SXP text through the reader and xend's reading of a configuration.
fn read_sxp(src: &str) {
    if let Ok(values) = sxp::parse(src) {
        for v in values {
            let _ = DomainConfig::from_sxp(&v);
            let _ = sxp::pretty(&v);
        }
    }
}

#[test]
fn mutated_sxp_configs_do_not_panic() {
    let base = "(vm (name a) (memory 64) (maxmem 128) (vcpus 2) (cpus 0-3,^1) (on_crash preserve) \
        (image (linux (kernel /k) (ramdisk /r) (root '/dev/xvda1 ro') (args 4))) \
        (security ((access_control (policy p) (label l)))) \
        (device (vbd (uname phy:sda1) (dev xvda) (mode w) (backend 0))) \
        (device (pci (dev (domain 0x0) (bus 0x00) (slot 0x1d) (func 0x0)))) \
        (device (ioports (from 0x2f8) (to 0x2ff))) (device (irq (irq 7))) \
        (device (vif (bridge xenbr0) (mac 00:16:3e:00:00:11))) (device (vtpm (pref_instance 1))) \
        (device (vkbd)) (device (vfb (type vnc) (vncdisplay 1))))";
    assert!(DomainConfig::from_sxp(&sxp::parse_one(base).expect("parses")).is_ok());
    let chars: Vec<char> = base.chars().collect();
    let mut rng = Rng(99);
    const ALPHABET: &[u8] = b"() '\"x0-:^,.!";
    for _ in 0..3000 * scale() {
        let mut text = chars.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(text.len());
            if rng.below(2) == 0 {
                text.remove(at);
            } else {
                text.insert(at, char::from(ALPHABET[rng.below(ALPHABET.len())]));
            }
        }
        read_sxp(&text.into_iter().collect::<String>());
    }
}

#[test]
fn random_bytes_do_not_panic() {
    let mut rng = Rng(42);
    for _ in 0..3000 * scale() {
        let n = rng.below(200);
        let bytes: Vec<u8> = (0..n).map(|_| u8::try_from(rng.next() & 0x7f).unwrap_or(0)).collect();
        let src = String::from_utf8_lossy(&bytes);
        eval(&src);
        read_sxp(&src);
        let words: Vec<&str> = src.split_whitespace().collect();
        let _ = CreateArgs::parse(&words);
    }
}

fn without_empty(v: Sxp) -> Sxp {
    match v {
        Sxp::List(items) => {
            Sxp::List(items.into_iter().filter(|i| *i != Sxp::str("")).map(without_empty).collect())
        }
        other => other,
    }
}

#[test]
fn mutated_example_configs_do_not_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let env = Env { cwd: dir.clone(), host: host(), display: None, xauthority: None };
    let tmp = std::env::temp_dir().join(format!("xm-config-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let mut rng = Rng(7);
    let mut ok = 0;
    for name in ["xmexample1", "xmexample2", "xmexample.hvm", "everything.cfg"] {
        let original: Vec<char> =
            std::fs::read_to_string(dir.join(name)).expect("fixture").chars().collect();
        for round in 0..300 * scale() {
            let mut text = original.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(text.len().max(1));
                match rng.below(3) {
                    0 => {
                        const ALPHABET: &[u8] = b" ()[]'\",:=+%\n\t#0123456789abcdefxyz";
                        let c = char::from(ALPHABET[rng.below(ALPHABET.len())]);
                        if at < text.len() {
                            text[at] = c;
                        }
                    }
                    1 => {
                        if at < text.len() {
                            text.remove(at);
                        }
                    }
                    _ => {
                        const INSERTS: &[u8] = b"()[]'\"=,:\n    x1";
                        let c = char::from(INSERTS[rng.below(INSERTS.len())]);
                        text.insert(at.min(text.len()), c);
                    }
                }
            }
            let src: String = text.into_iter().collect();
            eval(&src);
            let path = tmp.join(format!("m{round}"));
            std::fs::write(&path, &src).expect("write");
            let p = path.display().to_string();
            if let Ok(c) = create(&[p.as_str(), "vmid=3"], &env) {
                ok += 1;
                // Whatever is accepted prints and reads back (an empty
                // string prints as nothing in Xen 3.x's SXP).
                let text = sxp::pretty(c.sxp.as_ref().expect("sxp"));
                assert_eq!(
                    sxp::parse_one(&text).expect("reads back").show(),
                    without_empty(c.sxp.expect("sxp")).show()
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    // Many mutations land in comments, names or strings and still work.
    assert!(ok > 100 * scale(), "only {ok} mutated configs were accepted");
}

#[test]
fn deep_nesting_and_long_chains_are_refused_not_overflowed() {
    for src in [
        format!("x = {}1{}\n", "(".repeat(5000), ")".repeat(5000)),
        format!("x = {}1{}\n", "[".repeat(5000), "]".repeat(5000)),
        format!("x = 1{}\n", " + 1".repeat(100_000)),
        format!("x = {}1\n", "-".repeat(100_000)),
        format!("x = {}1\n", "not ".repeat(100_000)),
        format!("x = a{}\n", ".b".repeat(100_000)),
        (0..200).map(|i| format!("{}if 1:\n", " ".repeat(i))).collect::<String>(),
    ] {
        eval(&src);
    }
    // Values nested far deeper than the syntax allows, and cycles: built,
    // printed, compared, copied out and freed without recursion running away.
    let h = host();
    for src in [
        "l = []\nfor i in range(500):\n    for j in range(500):\n        l = [l]\ns = str(l)\nb = l == l\n",
        "t = ()\nfor i in range(500):\n    for j in range(500):\n        t = (t,)\ns = '%s' % (t,)\n",
        "l = []\nl.append(l)\ns = str(l)\ne = [l] == [l]\nc = [l] < [l, 1]\n",
        "a = []\nb = [a]\na.append(b)\na += [a]\na[0] = a\nc = a <= b\n",
    ] {
        let s = python::run(&ScriptInput {
            file: "deep.cfg",
            source: src,
            vars: &[],
            help: false,
            host: &h,
        })
        .unwrap_or_else(|e| panic!("{src}: {e}"));
        let shown = s.get("s").map(|b| format!("{:?}", b.value)).unwrap_or_default();
        assert!(shown.len() < 10_000, "{shown}");
    }
    let deep = format!("{}{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(
        sxp::parse(&deep).expect_err("too deep").to_string(),
        "1:257: lists nested too deeply"
    );
    let ok = format!("{}{}", "(".repeat(256), ")".repeat(256));
    assert_eq!(sxp::parse(&ok).map(|v| v.len()), Ok(1));
    let _ = sxp::pretty(&sxp::parse_one("(a (b (c (d))))").expect("parses"));
}

#[test]
fn recursion_through_nested_expressions_is_refused_not_overflowed() {
    // Each call nests ~30 expression levels; 40 calls would need far more
    // stack than a test thread has if the evaluator's depth were unbounded.
    let nest = format!("{}g(g){}", "(".repeat(10), ")".repeat(10));
    let body = format!("{}1 + {nest}{}", "[".repeat(7), "]".repeat(7));
    let src = format!("def f(g):\n    return {body}\nx = f(f)\n");
    let h = host();
    let e =
        python::run(&ScriptInput { file: "r.cfg", source: &src, vars: &[], help: false, host: &h })
            .expect_err("too deep");
    assert_eq!(e.kind, xm_config::ErrorKind::Limit);
    assert!(e.to_string().ends_with("expressions and calls nested too deeply"), "{e}");
}
