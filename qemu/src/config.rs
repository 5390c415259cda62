//! What to boot and how: [`RunConfig`] and its parts.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How the hypervisor is handed to the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum BootPath {
    /// A GRUB rescue ISO (`grub-mkrescue`) booted from CD: GRUB loads the hypervisor with
    /// `multiboot2` and each module with `module2`. This is how real machines boot it.
    #[default]
    Grub,
    /// QEMU's own Multiboot1 loader: `-kernel <ELF> -append <cmdline> -initrd <modules>`.
    Direct,
}

impl fmt::Display for BootPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Grub => "grub",
            Self::Direct => "direct",
        })
    }
}

/// The QEMU machine type (`-machine`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Machine {
    /// i440FX + PIIX3/4 (`-machine pc`).
    #[default]
    Pc,
    /// Q35 + ICH9 (`-machine q35`).
    Q35,
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pc => "pc",
            Self::Q35 => "q35",
        })
    }
}

/// One boot module (e.g. a dom0 kernel or initrd) and its command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ModuleSpec {
    /// The file to load.
    pub path: PathBuf,
    /// The module's command line (may be empty).
    pub args: String,
}

impl ModuleSpec {
    /// A module loaded from `path` with command line `args`.
    pub fn new(path: impl Into<PathBuf>, args: impl Into<String>) -> Self {
        Self { path: path.into(), args: args.into() }
    }
}

/// Everything that describes one boot of the hypervisor under QEMU.
///
/// Use struct-update syntax from [`RunConfig::default`]:
/// `RunConfig { append: "dom0_mem=256M".into(), smp: 4, ..RunConfig::default() }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunConfig {
    /// The hypervisor ELF; `None` means [`crate::hypervisor_image`] (build it, or `$HV_KERNEL`).
    pub kernel: Option<PathBuf>,
    /// The hypervisor command line, e.g. `"dom0_mem=256M noreboot"`.
    pub append: String,
    /// Boot modules, in order (the first one is dom0's kernel).
    pub modules: Vec<ModuleSpec>,
    /// Number of virtual CPUs (`-smp`).
    pub smp: u32,
    /// Guest RAM in MiB (`-m`).
    pub memory_mib: u32,
    /// GRUB ISO or QEMU's direct Multiboot loader.
    pub boot: BootPath,
    /// Kill QEMU and report [`crate::ExitKind::Timeout`] after this long; `None` waits forever.
    pub timeout: Option<Duration>,
    /// QEMU machine type.
    pub machine: Machine,
    /// QEMU CPU model (`-cpu`), `max` by default.
    pub cpu: String,
    /// Extra arguments appended verbatim to the QEMU command line.
    pub extra_args: Vec<String>,
    /// Also write the serial output (carriage returns dropped) to this file.
    pub serial_log: Option<PathBuf>,
    /// Copy the serial output to this process's stdout as it arrives.
    pub echo: bool,
    /// Forward this process's stdin to the serial port: when it is a terminal, byte by byte
    /// with the terminal in raw mode (Ctrl-A X stops QEMU, Ctrl-A Ctrl-A sends Ctrl-A),
    /// else line by line.
    pub forward_stdin: bool,
    /// Input for the serial port during the run, in order: once a serial line containing
    /// the first string (a marker) has arrived, the second is written to the serial port;
    /// then the next pair is armed. Ignored with `forward_stdin`.
    pub send_after: Vec<(String, String)>,
    /// QEMU monitor (HMP) commands during the run, in order: once a serial line containing
    /// the first string (a marker) has arrived, the second (e.g. `nmi`) is sent to QEMU's
    /// monitor, which then listens on a UNIX socket in a scratch directory (`-monitor
    /// unix:...`; `-monitor none` when this is empty); then the next pair is armed.
    pub monitor_after: Vec<(String, String)>,
}

/// The default per-run timeout (60 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for RunConfig {
    /// 1 CPU, 1024 MiB, GRUB boot on `pc` with `-cpu max`, 60 s timeout, no echo.
    fn default() -> Self {
        Self {
            kernel: None,
            append: String::new(),
            modules: Vec::new(),
            smp: 1,
            memory_mib: 1024,
            boot: BootPath::default(),
            timeout: Some(DEFAULT_TIMEOUT),
            machine: Machine::default(),
            cpu: "max".to_owned(),
            extra_args: Vec::new(),
            serial_log: None,
            echo: false,
            forward_stdin: false,
            send_after: Vec::new(),
            monitor_after: Vec::new(),
        }
    }
}
