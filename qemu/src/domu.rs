//! DomUs for the toolstack test kernel: `--domu PATH [CMDLINE]` packs each domU kernel and
//! its command line into a `newc` cpio archive, dom0's initrd, and boots the PV test
//! kernel `pv-toolstack` as dom0, which builds and runs them.
//!
//! Archive members: `domU-<n>.kernel` (the image, as given) and `domU-<n>.cmdline` (the
//! command line, possibly empty), `n` counting from 1 in the order given; then the
//! trailer. No compression: `pv-toolstack` reads the archive as it is.

use std::path::Path;

use anyhow::Context as _;

use crate::initramfs::newc_archive;
use crate::{ModuleSpec, Result, image};

/// The PV test kernel that acts as the toolstack (`pv-toolstack`).
pub const TOOLSTACK: &str = "toolstack";

/// The hypervisor command line a `--domu` boot gets unless `--append` has a `dom0_mem=`:
/// dom0 small, so that the domUs find memory.
pub const DOMU_APPEND: &str = "dom0_mem=64M";

/// The cpio archive holding `domus` (each a kernel and its command line).
pub fn domu_archive(domus: &[ModuleSpec]) -> Result<Vec<u8>> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (n, domu) in (1..).zip(domus) {
        let kernel = std::fs::read(&domu.path)
            .with_context(|| format!("reading domU kernel {}", domu.path.display()))?;
        files.push((format!("domU-{n}.kernel"), kernel));
        files.push((format!("domU-{n}.cmdline"), domu.args.clone().into_bytes()));
    }
    let entries: Vec<(&str, &[u8])> =
        files.iter().map(|(name, data)| (name.as_str(), data.as_slice())).collect();
    newc_archive(&entries)
}

/// The boot modules of a toolstack boot: `toolstack` (the `pv-toolstack` ELF) as dom0's
/// kernel and the archive of `domus`, written to `initrd`, as its initrd.
pub fn toolstack_modules(
    toolstack: &Path,
    domus: &[ModuleSpec],
    initrd: &Path,
) -> Result<Vec<ModuleSpec>> {
    let archive = domu_archive(domus)?;
    std::fs::write(initrd, archive).with_context(|| format!("writing {}", initrd.display()))?;
    Ok(vec![ModuleSpec::new(toolstack, ""), ModuleSpec::new(initrd, "")])
}

/// [`toolstack_modules`] with `pv-toolstack` built (or, with `no_build`, as already built) and
/// given the command line `toolstack_args`.
pub fn modules(
    domus: &[ModuleSpec],
    toolstack_args: &str,
    initrd: &Path,
    no_build: bool,
) -> Result<Vec<ModuleSpec>> {
    let toolstack = if no_build {
        image::prebuilt_pv_test_kernel(TOOLSTACK)?
    } else {
        image::pv_test_kernel(TOOLSTACK)?
    };
    let mut modules = toolstack_modules(&toolstack, domus, initrd)?;
    if let Some(dom0) = modules.first_mut() {
        toolstack_args.clone_into(&mut dom0.args);
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::initramfs::parse_newc;

    #[test]
    fn archive_names_and_contents() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"\x7fELF one").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&b, b"\x7fELF second kernel").unwrap_or_else(|e| panic!("{e}"));
        let domus = [ModuleSpec::new(&a, "x=1 y"), ModuleSpec::new(&b, "")];
        let archive = domu_archive(&domus).unwrap_or_else(|e| panic!("{e:#}"));
        let entries = parse_newc(&archive);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["domU-1.kernel", "domU-1.cmdline", "domU-2.kernel", "domU-2.cmdline"]);
        let data: Vec<&[u8]> = entries.iter().map(|e| e.2.as_slice()).collect();
        assert_eq!(data, [&b"\x7fELF one"[..], b"x=1 y", b"\x7fELF second kernel", b""]);
        assert!(domu_archive(&[ModuleSpec::new(dir.path().join("missing"), "")]).is_err());
    }
}
