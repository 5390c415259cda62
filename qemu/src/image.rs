//! Building the hypervisor ELF and the PV test kernels, and finding them on disk.

use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context as _, anyhow, bail};

use crate::Result;

/// The custom target the hypervisor is built for (a file in the repository root).
pub const TARGET_SPEC: &str = "x86_64-xen.json";

/// The cargo arguments that build the hypervisor (run from the repository root).
pub const BUILD_ARGS: &[&str] = &[
    "build",
    "-p",
    "hypervisor",
    "--release",
    "--target",
    TARGET_SPEC,
    "-Zjson-target-spec",
    "-Zbuild-std=core,alloc",
    "-Zbuild-std-features=compiler-builtins-mem",
];

/// The cargo arguments that build the PV test kernels (`tests/pv`), on the same target and
/// with the same flags as the hypervisor so that the build-std artifacts are shared.
pub const PV_BUILD_ARGS: &[&str] = &[
    "build",
    "-p",
    "pv-tests",
    "--release",
    "--target",
    TARGET_SPEC,
    "-Zjson-target-spec",
    "-Zbuild-std=core,alloc",
    "-Zbuild-std-features=compiler-builtins-mem",
];

/// The Rust target of the dom0 tools: ordinary Linux binaries, linked statically
/// ([`DOM0_TOOLS_RUSTFLAGS`]) so that they run in a busybox initramfs.
pub const DOM0_TOOLS_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The flags that link the dom0 tools statically (glibc's static libraries), without debug
/// information (the workspace's release profile keeps it; a dom0 initramfs must stay small).
pub const DOM0_TOOLS_RUSTFLAGS: &str = "-C target-feature=+crt-static -C strip=debuginfo";

/// The cargo arguments that build the dom0 tools (`dom0-tools/`).
pub const DOM0_TOOLS_BUILD_ARGS: &[&str] = &[
    "build",
    "-p",
    "xm",
    "-p",
    "xenstored",
    "-p",
    "xenconsoled",
    "-p",
    "xc-build",
    "--release",
    "--target",
    DOM0_TOOLS_TARGET,
];

/// The binaries of the dom0 tools a dom0 initramfs carries.
pub const DOM0_TOOL_BINARIES: &[&str] =
    &["xm", "xenstored", "xenstore", "xenconsoled", "xenconsole", "xc-build"];

/// The names the multi-call `xenstore` client answers to, as Xen's tools are installed.
pub const XENSTORE_CLIENT_LINKS: &[&str] = &[
    "xenstore-read",
    "xenstore-write",
    "xenstore-ls",
    "xenstore-list",
    "xenstore-rm",
    "xenstore-exists",
    "xenstore-chmod",
    "xenstore-watch",
];

/// The PV test kernel `qemu/run` boots as dom0 when no module is given (`pv-hello`).
pub const DEFAULT_DOM0: &str = "hello";

/// Environment variable naming a kernel ELF to boot instead of building the hypervisor.
pub const KERNEL_ENV: &str = "HV_KERNEL";

/// The repository root (the cargo workspace this crate lives in).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the root) or `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => repo_root().join(dir),
        _ => repo_root().join("target"),
    }
}

/// Where `cargo build` leaves the binaries for the hypervisor's target.
pub fn xen_target_release_dir() -> PathBuf {
    target_dir().join("x86_64-xen").join("release")
}

/// Where `cargo build` leaves the hypervisor ELF.
pub fn hypervisor_elf() -> PathBuf {
    xen_target_release_dir().join("xen")
}

/// Where `cargo build` leaves PV test kernel `name` (`hello` → `.../pv-hello`); no build.
pub fn pv_test_elf(name: &str) -> PathBuf {
    xen_target_release_dir().join(format!("pv-{name}"))
}

/// Builds the hypervisor (at most once per process) and returns the ELF's path.
///
/// Cargo's output goes to this process's stderr. Concurrent callers (test threads) wait
/// for the one build; a failed build is reported to every caller.
pub fn build_hypervisor() -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build("the hypervisor", BUILD_ARGS)
                .and_then(|()| existing_output(hypervisor_elf()))
                .map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Builds all PV test kernels (`tests/pv`, at most once per process) and returns the
/// directory holding them (`target/x86_64-xen/release`, files `pv-<name>`).
///
/// Like [`build_hypervisor`]: cargo's output goes to stderr, concurrent callers wait for
/// the one build, and a failure is reported to every caller.
pub fn build_pv_tests() -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build("the PV test kernels", PV_BUILD_ARGS)
                .map(|()| xen_target_release_dir())
                .map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Builds the dom0 tools (at most once per process), statically linked for Linux, and
/// returns the directory holding them ([`DOM0_TOOL_BINARIES`]).
pub fn build_dom0_tools() -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build_env(
                "the dom0 tools",
                DOM0_TOOLS_BUILD_ARGS,
                &[("RUSTFLAGS", DOM0_TOOLS_RUSTFLAGS)],
            )
            .map(|()| target_dir().join(DOM0_TOOLS_TARGET).join("release"))
            .map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// PV test kernel `name` (`hello` for `pv-hello`), building the kernels first if this
/// process has not yet ([`build_pv_tests`]).
pub fn pv_test_kernel(name: &str) -> Result<PathBuf> {
    build_pv_tests()?;
    existing_output(pv_test_elf(name)).with_context(|| {
        format!("no PV test kernel {name:?} (is tests/pv/src/bin/pv-{name}.rs there?)")
    })
}

/// The already-built PV test kernel `name` (no build), or an error saying how to build it.
pub fn prebuilt_pv_test_kernel(name: &str) -> Result<PathBuf> {
    let elf = pv_test_elf(name);
    if !elf.is_file() {
        bail!(
            "{} does not exist: build it first (cargo {}) or drop --no-build",
            elf.display(),
            PV_BUILD_ARGS.join(" ")
        );
    }
    Ok(elf)
}

/// `path` if the build left a file there.
fn existing_output(path: PathBuf) -> Result<PathBuf> {
    if !path.is_file() {
        bail!("the build succeeded but {} does not exist", path.display());
    }
    Ok(path)
}

/// Runs `cargo <args>` in the repository root; `what` names the build in messages.
fn cargo_build(what: &str, args: &[&str]) -> Result<()> {
    cargo_build_env(what, args, &[])
}

/// As [`cargo_build`], with `env` set for cargo.
fn cargo_build_env(what: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = repo_root();
    // Cargo writes its progress to stderr; send its (normally empty) stdout there too so a
    // caller's stdout carries only what it prints itself.
    let stdout = std::io::stderr().as_fd().try_clone_to_owned().context("dup stderr")?;
    let _ = writeln!(std::io::stderr(), "hv-runner: building {what} (cargo {})", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .status()
        .with_context(|| format!("cannot run {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("building {what} failed ({status})");
    }
    Ok(())
}

/// The kernel to boot: `$HV_KERNEL` if set, else the freshly built hypervisor.
pub fn hypervisor_image() -> Result<PathBuf> {
    match std::env::var_os(KERNEL_ENV) {
        Some(path) if !path.is_empty() => existing_kernel(Path::new(&path)),
        _ => build_hypervisor(),
    }
}

/// The already-built hypervisor ELF (no build), or an error saying how to build it.
pub fn prebuilt_hypervisor() -> Result<PathBuf> {
    let elf = hypervisor_elf();
    if !elf.is_file() {
        bail!("{} does not exist: build it first (hvrun build) or drop --no-build", elf.display());
    }
    Ok(elf)
}

/// `path` made absolute, after checking that it is a file.
pub fn existing_kernel(path: &Path) -> Result<PathBuf> {
    if !path.is_file() {
        bail!("kernel image {} does not exist", path.display());
    }
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}
