//! The QEMU command line: accelerator choice and argument construction.

use std::ffi::OsString;
use std::path::Path;

use anyhow::bail;

use crate::{BootPath, ModuleSpec, Result, RunConfig};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// Environment variable forcing the accelerator (`tcg` or `kvm`).
pub const ACCEL_ENV: &str = "HV_ACCEL";

/// I/O port and width of the `isa-debug-exit` device.
pub const DEBUG_EXIT_DEVICE: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";

/// A QEMU accelerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation (always available).
    Tcg,
    /// Hardware virtualization through `/dev/kvm`.
    Kvm,
}

impl Accel {
    /// The name QEMU's `-accel` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcg => "tcg",
            Self::Kvm => "kvm",
        }
    }
}

/// `$HV_ACCEL` if set, else KVM when the host CPU has `vmx`/`svm` and `/dev/kvm` opens
/// read-write, else TCG.
pub fn detect_accel() -> Result<Accel> {
    match std::env::var(ACCEL_ENV).as_deref() {
        Ok("tcg") => return Ok(Accel::Tcg),
        Ok("kvm") => return Ok(Accel::Kvm),
        Ok("") | Err(std::env::VarError::NotPresent) => {}
        Ok(other) => bail!("{ACCEL_ENV}={other}: expected tcg or kvm"),
        Err(e) => bail!("{ACCEL_ENV}: {e}"),
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let kvm_usable = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok();
    Ok(if cpu_has_virtualization(&cpuinfo) && kvm_usable { Accel::Kvm } else { Accel::Tcg })
}

/// Whether a `/proc/cpuinfo` text lists the `vmx` or `svm` flag.
pub fn cpu_has_virtualization(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags"))
        .flat_map(|line| line.split_whitespace())
        .any(|flag| flag == "vmx" || flag == "svm")
}

/// Above this much guest RAM (MiB), it gets a memory backend with `reserve=off`.
pub const BIG_MACHINE_MIB: u32 = 4096;

/// QEMU's Multiboot `-initrd` value: `path args` per module, comma-separated, with commas
/// inside paths and arguments doubled.
pub fn initrd_arg(modules: &[ModuleSpec]) -> String {
    modules
        .iter()
        .map(|m| {
            let path = m.path.to_string_lossy().replace(',', ",,");
            let args = m.args.replace(',', ",,");
            if args.trim().is_empty() { path } else { format!("{path} {args}") }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The full QEMU argument list for `cfg`.
///
/// `kernel` is the hypervisor ELF (used by [`BootPath::Direct`]); `iso` the GRUB image
/// (used by [`BootPath::Grub`]). The serial port (COM1) is QEMU's stdio. `monitor` is
/// the UNIX socket QEMU's monitor listens on (`-monitor none` without one).
pub fn qemu_args(
    cfg: &RunConfig,
    accel: Accel,
    kernel: &Path,
    iso: Option<&Path>,
    monitor: Option<&Path>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-machine", &cfg.machine.to_string(), "-cpu", &cfg.cpu, "-accel", accel.name()]);
    push(&["-m", &cfg.memory_mib.to_string(), "-smp", &cfg.smp.to_string()]);
    if cfg.memory_mib > BIG_MACHINE_MIB {
        // Guest RAM without a swap reservation (MAP_NORESERVE): QEMU allocates it lazily
        // anyway, and the kernel's overcommit heuristic would refuse a machine larger
        // than the host's free memory in one piece.
        let backend = format!("memory-backend-ram,id=hv-ram,size={}M,reserve=off", cfg.memory_mib);
        push(&["-object", &backend, "-machine", "memory-backend=hv-ram"]);
    }
    let monitor = match monitor {
        Some(socket) => format!("unix:{},server=on,wait=off", socket.display()),
        None => "none".to_owned(),
    };
    push(&["-display", "none", "-monitor", &monitor, "-serial", "stdio", "-parallel", "none"]);
    push(&["-nic", "none", "-no-reboot", "-device", DEBUG_EXIT_DEVICE]);
    match cfg.boot {
        BootPath::Direct => {
            args.extend(["-kernel".into(), kernel.as_os_str().to_owned()]);
            if !cfg.append.is_empty() {
                args.extend(["-append".into(), OsString::from(&cfg.append)]);
            }
            if !cfg.modules.is_empty() {
                args.extend(["-initrd".into(), initrd_arg(&cfg.modules).into()]);
            }
        }
        BootPath::Grub => {
            if let Some(iso) = iso {
                args.extend(["-cdrom".into(), iso.as_os_str().to_owned()]);
            }
            args.extend(["-boot".into(), "d".into()]);
        }
    }
    args.extend(cfg.extra_args.iter().map(OsString::from));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initrd_doubles_commas() {
        let mods = [ModuleSpec::new("/k,1", "a=1,2 b"), ModuleSpec::new("/initrd", "")];
        assert_eq!(initrd_arg(&mods), "/k,,1 a=1,,2 b,/initrd");
    }

    #[test]
    fn virtualization_flags() {
        assert!(cpu_has_virtualization("flags\t\t: fpu vme vmx sse\n"));
        assert!(!cpu_has_virtualization("flags\t\t: fpu vmxx\nmodel name: svm\n"));
    }

    #[test]
    fn direct_args() {
        let cfg = RunConfig {
            append: "a=1,2".into(),
            boot: BootPath::Direct,
            modules: vec![ModuleSpec::new("/m", "x")],
            extra_args: vec!["-s".into()],
            ..RunConfig::default()
        };
        let args: Vec<String> = qemu_args(&cfg, Accel::Tcg, Path::new("/xen"), None, None)
            .into_iter()
            .map(|a| a.into_string().unwrap_or_default())
            .collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("-machine pc -cpu max -accel tcg -m 1024 -smp 1 "), "{joined}");
        assert!(joined.contains(" -serial stdio "), "{joined}");
        assert!(joined.ends_with("-kernel /xen -append a=1,2 -initrd /m x -s"), "{joined}");
        assert!(joined.contains(" -monitor none "), "{joined}");
    }

    #[test]
    fn big_machines_reserve_no_swap() {
        let args = |memory_mib| -> String {
            let cfg = RunConfig { memory_mib, ..RunConfig::default() };
            let args = qemu_args(&cfg, Accel::Tcg, Path::new("/xen"), None, None);
            args.into_iter()
                .map(|a| a.into_string().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(!args(4096).contains("memory-backend"));
        let big = args(65536);
        assert!(big.contains(" -m 65536 "), "{big}");
        assert!(big.contains("-object memory-backend-ram,id=hv-ram,size=65536M,reserve=off"));
        assert!(big.contains("-machine memory-backend=hv-ram"), "{big}");
    }

    #[test]
    fn monitor_socket() {
        let cfg = RunConfig::default();
        let sock = Path::new("/tmp/run-x/monitor.sock");
        let args: Vec<String> = qemu_args(&cfg, Accel::Tcg, Path::new("/xen"), None, Some(sock))
            .into_iter()
            .map(|a| a.into_string().unwrap_or_default())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains(" -monitor unix:/tmp/run-x/monitor.sock,server=on,wait=off "));
    }
}
