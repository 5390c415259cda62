//! A busybox initramfs for booting Debian's Linux as dom0: a gzip'd `newc` cpio archive
//! with `/bin/busybox` and an `/init` script, built in memory (no `cpio` or `gzip` needed).
//!
//! [`init_script`] writes the `/init`: it mounts `proc`, `sysfs` and `devtmpfs`, prints
//! [`MARKER`] with the kernel release, shows what the kernel sees of Xen
//! (`/sys/hypervisor` type and version, `dmesg | grep -i xen | head`), then either powers
//! off at once ([`InitAction::PowerOff`]) or runs an interactive shell on the console
//! (`setsid cttyhack sh`, i.e. on `/dev/hvc0` with it as controlling terminal) and powers
//! off when the shell exits ([`InitAction::Shell`]; [`SHELL_MARKER`] is printed just
//! before). [`debian_cache`] locates what `qemu/fetch-debian` cached.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::{ModuleSpec, Result};

/// The line `/init` prints first (followed by the kernel release).
pub const MARKER: &str = "HV-INIT-MARKER: init running on";

/// The line `/init` prints just before it starts the interactive shell.
pub const SHELL_MARKER: &str = "HV-SHELL: interactive shell on the console";

/// The hypervisor command line the Linux dom0 boots with, unless the user gives one.
pub const LINUX_DOM0_APPEND: &str = "dom0_mem=512M";

/// The Linux kernel's command line as dom0.
pub const LINUX_DOM0_ARGS: &str = "console=hvc0";

/// What `/init` does after printing what it sees of Xen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InitAction {
    /// `poweroff -f` at once.
    PowerOff,
    /// An interactive shell on the console; `poweroff -f` when it exits.
    Shell,
}

/// The Xen driver modules of Debian's kernel a dom0 toolstack needs, in load order
/// (`xenfs` uses `xen-privcmd`): they are modules in Debian's `linux-image` package.
pub const XEN_MODULES: &[&str] =
    &["xen-privcmd", "xen-evtchn", "xen-gntdev", "xen-gntalloc", "xenfs"];

/// Where the initramfs keeps [`XEN_MODULES`] (`<dir>/<name>.ko`).
pub const XEN_MODULE_DIR: &str = "lib/modules/xen";

/// The line `/init` prints once the Xen modules are loaded and xenfs is mounted: the
/// entries of `/dev/xen` follow it.
pub const TOOLS_MARKER: &str = "HV-TOOLS: /dev/xen:";

/// What a dom0 initramfs carries besides busybox: the toolstack's binaries (static
/// Linux executables, installed in `/bin`) and the Xen driver modules
/// ([`XEN_MODULES`], from the same Debian package as the kernel).
#[derive(Clone, Debug, Default)]
pub struct Dom0Tools {
    /// `(name in /bin, contents)`.
    pub binaries: Vec<(String, Vec<u8>)>,
    /// `(module name without .ko, contents)`, in load order.
    pub modules: Vec<(String, Vec<u8>)>,
    /// `(name in /bin, target)`: symbolic links (a multi-call binary's names).
    pub links: Vec<(String, String)>,
    /// `(path from the root, contents)`: further files (mode 0644), e.g. domU kernels
    /// for the toolstack to build; their directories must exist in the archive.
    pub files: Vec<(String, Vec<u8>)>,
}

/// The `/init` script for `action`.
pub fn init_script(action: InitAction) -> String {
    init_script_with(action, false)
}

/// The `/init` script for `action`; with `tools`, it loads the Xen modules, mounts xenfs on
/// `/proc/xen` and prints [`TOOLS_MARKER`] with what `/dev/xen` holds.
pub fn init_script_with(action: InitAction, tools: bool) -> String {
    let mut s = String::from(
        "#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo \"HV-INIT-MARKER: init running on $(uname -r)\"
echo \"hypervisor type: $(cat /sys/hypervisor/type 2>/dev/null)\"
v=/sys/hypervisor/version
echo \"hypervisor version: $(cat $v/major 2>/dev/null).$(cat $v/minor 2>/dev/null)$(cat $v/extra 2>/dev/null)\"
ls /proc/xen 2>/dev/null
dmesg | grep -i xen | head
",
    );
    if tools {
        s.push_str(&format!(
            "for m in {}; do
    [ -f /{XEN_MODULE_DIR}/$m.ko ] && insmod /{XEN_MODULE_DIR}/$m.ko
done
mount -t xenfs xenfs /proc/xen
echo \"{TOOLS_MARKER} $(ls /dev/xen 2>/dev/null | tr '\\n' ' ')\"
mkdir -p /var/run/xenstored /var/log/xen
xenstored --pid-file /var/run/xenstored.pid && echo \"HV-TOOLS: xenstored started\"
mkdir -p /var/log/xen/console
xenconsoled --pid-file /var/run/xenconsoled.pid && echo \"HV-TOOLS: xenconsoled started\"
",
            XEN_MODULES.join(" ")
        ));
    }
    if action == InitAction::Shell {
        s.push_str(
            "echo \"HV-SHELL: interactive shell on the console ('exit' powers off)\"
export HOME=/ PS1='dom0:\\w# '
setsid cttyhack sh
",
        );
    }
    s.push_str("poweroff -f\n");
    s
}

/// The gzip'd `newc` initramfs: directories `bin`, `proc`, `sys`, `dev`, then
/// `bin/busybox` (the static busybox binary given) and `init` ([`init_script`]).
pub fn initramfs(busybox: &[u8], action: InitAction) -> Result<Vec<u8>> {
    initramfs_padded(busybox, action, 0)
}

/// As [`initramfs`], with a file `padding` of `pad` bytes (a pattern, stored
/// uncompressed like everything else) making the archive that much bigger:
/// a large initrd, as one carrying a toolstack and domU images is.
pub fn initramfs_padded(busybox: &[u8], action: InitAction, pad: usize) -> Result<Vec<u8>> {
    initramfs_with(busybox, action, None, pad)
}

/// As [`initramfs_padded`], with the dom0 toolstack `tools` if given ([`Dom0Tools`]:
/// binaries in `/bin`, modules in [`XEN_MODULE_DIR`], loaded by `/init`).
pub fn initramfs_with(
    busybox: &[u8],
    action: InitAction,
    tools: Option<&Dom0Tools>,
    pad: usize,
) -> Result<Vec<u8>> {
    let mut cpio = Vec::new();
    let mut ino = 1u32;
    let mut add = |cpio: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]| {
        let r = cpio_entry(cpio, ino, name, mode, data);
        ino = ino.saturating_add(1);
        r
    };
    for dir in ["bin", "proc", "sys", "dev"] {
        add(&mut cpio, dir, 0o040_755, &[])?;
    }
    add(&mut cpio, "bin/busybox", 0o100_755, busybox)?;
    add(&mut cpio, "init", 0o100_755, init_script_with(action, tools.is_some()).as_bytes())?;
    if let Some(t) = tools {
        for dir in ["lib", "lib/modules", XEN_MODULE_DIR] {
            add(&mut cpio, dir, 0o040_755, &[])?;
        }
        for (name, data) in &t.modules {
            add(&mut cpio, &format!("{XEN_MODULE_DIR}/{name}.ko"), 0o100_644, data)?;
        }
        for (name, data) in &t.binaries {
            add(&mut cpio, &format!("bin/{name}"), 0o100_755, data)?;
        }
        for (name, target) in &t.links {
            add(&mut cpio, &format!("bin/{name}"), 0o120_777, target.as_bytes())?;
        }
        for (path, data) in &t.files {
            add(&mut cpio, path.trim_start_matches('/'), 0o100_644, data)?;
        }
    }
    if pad > 0 {
        let bytes: Vec<u8> = (0..251u8).cycle().take(pad).collect();
        add(&mut cpio, "padding", 0o100_644, &bytes)?;
    }
    cpio_entry(&mut cpio, 0, "TRAILER!!!", 0, &[])?;
    stored_gzip(&cpio)
}

/// Reads the busybox binary at `busybox` and writes the initramfs to `out`.
pub fn write_initramfs(busybox: &Path, action: InitAction, out: &Path) -> Result<()> {
    let bb = std::fs::read(busybox).with_context(|| format!("reading {}", busybox.display()))?;
    std::fs::write(out, initramfs(&bb, action)?)
        .with_context(|| format!("writing {}", out.display()))
}

/// A `newc` cpio archive of regular files (mode 0644, inodes from 1) and the trailer.
pub fn newc_archive(files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut cpio = Vec::new();
    for (ino, (name, data)) in (1u32..).zip(files) {
        cpio_entry(&mut cpio, ino, name, 0o100_644, data)?;
    }
    cpio_entry(&mut cpio, 0, "TRAILER!!!", 0, &[])?;
    Ok(cpio)
}

/// Pads `out` with zero bytes to a multiple of 4.
fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Appends one `newc` cpio entry (owner root, one link, mtime 0).
fn cpio_entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) -> Result<()> {
    let size = u32::try_from(data.len()).context("cpio member over 4 GiB")?;
    let name_size = u32::try_from(name.len()).context("cpio name too long")?.saturating_add(1);
    // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
    // rdevminor, namesize, check.
    let fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, name_size, 0];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
    Ok(())
}

/// gzip with stored (uncompressed) DEFLATE blocks: no compressor needed, and Linux's
/// initramfs unpacker takes it like any gzip stream.
fn stored_gzip(data: &[u8]) -> Result<Vec<u8>> {
    let total = u32::try_from(data.len()).context("initramfs over 4 GiB")?;
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = u16::try_from(c.len()).context("stored block")?;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    Ok(out)
}

/// CRC-32 (IEEE 802.3, reflected), as gzip's trailer.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Where `qemu/fetch-debian` caches Debian's kernel and busybox: `$HV_DEBIAN_CACHE`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/hv-debian`. `None` without any of those variables.
pub fn debian_cache() -> Option<PathBuf> {
    let nonempty = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty()).map(PathBuf::from);
    match nonempty("HV_DEBIAN_CACHE") {
        Some(dir) => Some(dir),
        None => nonempty("XDG_CACHE_HOME")
            .or_else(|| nonempty("HOME").map(|h| h.join(".cache")))
            .map(|c| c.join("hv-debian")),
    }
}

/// The cached Debian kernel and busybox, `(vmlinuz, busybox)`, if both are there.
pub fn cached_debian() -> Option<(PathBuf, PathBuf)> {
    let dir = debian_cache()?;
    let (kernel, busybox) = (dir.join("vmlinuz"), dir.join("busybox"));
    (kernel.is_file() && busybox.is_file()).then_some((kernel, busybox))
}

/// The boot modules of a Linux dom0: the cached kernel with `console=hvc0` and an
/// initramfs doing `action`, written to `initrd`.
pub fn linux_dom0_modules(action: InitAction, initrd: &Path) -> Result<Vec<ModuleSpec>> {
    linux_dom0_modules_with(action, initrd, Vec::new())
}

/// As [`linux_dom0_modules`], with `files` (`(path from the root, contents)`) added to
/// the initramfs beside the toolstack ([`Dom0Tools::files`]).
pub fn linux_dom0_modules_with(
    action: InitAction,
    initrd: &Path,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Vec<ModuleSpec>> {
    let Some((kernel, busybox)) = cached_debian() else {
        bail!(
            "Debian's kernel and busybox are not cached in {} (run qemu/fetch-debian)",
            debian_cache().map_or_else(
                || "$HOME/.cache/hv-debian".to_owned(),
                |d| { d.display().to_string() }
            )
        );
    };
    let mut tools = dom0_tools(&kernel)?;
    tools.files = files;
    let bb = std::fs::read(&busybox).with_context(|| format!("reading {}", busybox.display()))?;
    std::fs::write(initrd, initramfs_with(&bb, action, Some(&tools), 0)?)
        .with_context(|| format!("writing {}", initrd.display()))?;
    Ok(vec![ModuleSpec::new(kernel, LINUX_DOM0_ARGS), ModuleSpec::new(initrd, "")])
}

/// The dom0 toolstack for the cached kernel `kernel`: `dom0-tools`' binaries, built
/// static for Linux ([`crate::image::build_dom0_tools`]), and [`XEN_MODULES`] from the
/// kernel's own module tree in the cache (`lib/modules/<release>/kernel/drivers/xen`).
pub fn dom0_tools(kernel: &Path) -> Result<Dom0Tools> {
    let dir = crate::image::build_dom0_tools()?;
    let mut binaries = Vec::new();
    for name in crate::image::DOM0_TOOL_BINARIES {
        let path = dir.join(name);
        let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        binaries.push(((*name).to_owned(), data));
    }
    // vmlinuz-<release> → lib/modules/<release> beside boot/ in the cache's root.
    let release = kernel
        .canonicalize()
        .ok()
        .and_then(|k| k.file_name().map(|n| n.to_string_lossy().into_owned()))
        .and_then(|n| n.strip_prefix("vmlinuz-").map(str::to_owned))
        .with_context(|| format!("{}: not a vmlinuz-<release> file", kernel.display()))?;
    let root = debian_cache().context("no Debian cache")?.join("root");
    let xen = root.join("lib/modules").join(&release).join("kernel/drivers/xen");
    let mut modules = Vec::new();
    for name in XEN_MODULES {
        let flat = xen.join(format!("{name}.ko"));
        let nested = xen.join(name).join(format!("{name}.ko"));
        let path = if flat.is_file() { flat } else { nested };
        let data = std::fs::read(&path)
            .with_context(|| format!("reading {} (run qemu/fetch-debian)", path.display()))?;
        modules.push(((*name).to_owned(), data));
    }
    let links = crate::image::XENSTORE_CLIENT_LINKS
        .iter()
        .map(|l| ((*l).to_owned(), "xenstore".to_owned()))
        .collect();
    Ok(Dom0Tools { binaries, modules, links, files: Vec::new() })
}

#[cfg(test)]
pub(crate) use tests::parse_cpio as parse_newc;

#[cfg(test)]
mod tests {
    #![allow(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        reason = "test data"
    )]

    use super::*;

    /// Reads back a `newc` archive: (name, mode, data) per entry, trailer excluded.
    pub(crate) fn parse_cpio(mut a: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = 0usize;
        loop {
            assert_eq!(&a[..6], b"070701", "magic at {off}");
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&a[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            let name = std::str::from_utf8(&a[110..110 + namesize - 1]).unwrap().to_owned();
            assert_eq!(a[110 + namesize - 1], 0);
            let data_at = (110 + namesize).next_multiple_of(4);
            let data = a[data_at..data_at + size].to_vec();
            let next = (data_at + size).next_multiple_of(4);
            off += next;
            a = &a[next..];
            if name == "TRAILER!!!" {
                assert!(a.is_empty());
                return out;
            }
            out.push((name, mode, data));
        }
    }

    /// Undoes [`stored_gzip`], checking the header, block framing, CRC and length.
    fn unstore(g: &[u8]) -> Vec<u8> {
        assert_eq!(&g[..4], &[0x1f, 0x8b, 8, 0]);
        let mut p = 10;
        let mut out = Vec::new();
        loop {
            let last = g[p] & 1;
            assert_eq!(g[p] >> 1, 0, "stored block");
            let len = u16::from_le_bytes([g[p + 1], g[p + 2]]);
            let nlen = u16::from_le_bytes([g[p + 3], g[p + 4]]);
            assert_eq!(len, !nlen);
            out.extend_from_slice(&g[p + 5..p + 5 + usize::from(len)]);
            p += 5 + usize::from(len);
            if last == 1 {
                break;
            }
        }
        assert_eq!(u32::from_le_bytes(g[p..p + 4].try_into().unwrap()), crc32(&out));
        assert_eq!(u32::from_le_bytes(g[p + 4..p + 8].try_into().unwrap()) as usize, out.len());
        assert_eq!(g.len(), p + 8);
        out
    }

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn gzip_round_trips_across_blocks() {
        for len in [0usize, 1, 0xffff, 0x1_0000, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(unstore(&stored_gzip(&data).unwrap()), data, "len {len}");
        }
    }

    #[test]
    fn archive_holds_the_dom0_tools() {
        let tools = Dom0Tools {
            binaries: vec![("xm".into(), b"xm-binary".to_vec())],
            modules: XEN_MODULES.iter().map(|m| ((*m).to_owned(), m.as_bytes().to_vec())).collect(),
            links: vec![("xenstore-read".into(), "xenstore".into())],
            files: vec![("/pv-hello".into(), b"domU kernel".to_vec())],
        };
        let entries = parse_cpio(&unstore(
            &initramfs_with(b"bb", InitAction::PowerOff, Some(&tools), 0).unwrap(),
        ));
        let find = |n: &str| entries.iter().find(|e| e.0 == n).unwrap_or_else(|| panic!("{n}"));
        assert_eq!((find("bin/xm").1, find("bin/xm").2.as_slice()), (0o100_755, &b"xm-binary"[..]));
        assert_eq!(find("lib/modules/xen/xenfs.ko").2, b"xenfs");
        assert_eq!(find("bin/xenstore-read").1, 0o120_777);
        assert_eq!(find("bin/xenstore-read").2, b"xenstore");
        assert_eq!(
            (find("pv-hello").1, find("pv-hello").2.as_slice()),
            (0o100_644, &b"domU kernel"[..])
        );
        let init = String::from_utf8(find("init").2.clone()).unwrap();
        // The modules load in order (xenfs needs privcmd), then xenfs is mounted.
        let at = |s: &str| init.find(s).unwrap_or_else(|| panic!("{s} in\n{init}"));
        assert!(
            at("for m in xen-privcmd xen-evtchn xen-gntdev xen-gntalloc xenfs;")
                < at("mount -t xenfs")
        );
        assert!(at(TOOLS_MARKER) < at("xenstored --pid-file"));
        assert!(!init_script(InitAction::PowerOff).contains("insmod"));
    }

    #[test]
    fn archive_holds_busybox_and_init() {
        let busybox = b"\x7fELF fake busybox".repeat(5000);
        for action in [InitAction::PowerOff, InitAction::Shell] {
            let entries = parse_cpio(&unstore(&initramfs(&busybox, action).unwrap()));
            let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
            assert_eq!(names, ["bin", "proc", "sys", "dev", "bin/busybox", "init"]);
            assert_eq!(entries[0].1, 0o040_755);
            assert_eq!((entries[4].1, &entries[4].2), (0o100_755, &busybox));
            let init = String::from_utf8(entries[5].2.clone()).unwrap();
            assert_eq!(entries[5].1, 0o100_755);
            assert!(init.starts_with("#!/bin/busybox sh\n"));
            assert!(init.contains(MARKER) && init.contains("mount -t devtmpfs"));
            assert!(init.contains("/sys/hypervisor/type") && init.contains("grep -i xen | head"));
            assert!(init.ends_with("poweroff -f\n"));
            assert_eq!(init.contains("setsid cttyhack sh"), action == InitAction::Shell);
            assert_eq!(init.contains(SHELL_MARKER), action == InitAction::Shell);
        }
    }
}
