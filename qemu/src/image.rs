//! Building the hypervisor ELF and finding it on disk.

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

/// Where `cargo build` leaves the hypervisor ELF.
pub fn hypervisor_elf() -> PathBuf {
    target_dir().join("x86_64-xen").join("release").join("xen")
}

/// Builds the hypervisor (at most once per process) and returns the ELF's path.
///
/// Cargo's output goes to this process's stderr. Concurrent callers (test threads) wait
/// for the one build; a failed build is reported to every caller.
pub fn build_hypervisor() -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| build_once().map_err(|e| format!("{e:#}"))).clone().map_err(|e| anyhow!(e))
}

fn build_once() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = repo_root();
    // Cargo writes its progress to stderr; send its (normally empty) stdout there too so a
    // caller's stdout carries only what it prints itself.
    let stdout = std::io::stderr().as_fd().try_clone_to_owned().context("dup stderr")?;
    let _ = writeln!(
        std::io::stderr(),
        "hv-runner: building the hypervisor (cargo {})",
        BUILD_ARGS.join(" ")
    );
    let status = Command::new(&cargo)
        .args(BUILD_ARGS)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .status()
        .with_context(|| format!("cannot run {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("building the hypervisor failed ({status})");
    }
    let elf = hypervisor_elf();
    if !elf.is_file() {
        bail!("the build succeeded but {} does not exist", elf.display());
    }
    Ok(elf)
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
