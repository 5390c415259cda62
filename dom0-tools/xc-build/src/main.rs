// SPDX-License-Identifier: GPL-2.0-only
//! `xc-build`: builds and runs a PV domU from Linux dom0's userland with the
//! shared domain builder (`xen-domain-builder` through `xenctrl::builder`),
//! the low-level core of `xm create` until xend exists.
//!
//! * `xc-build create <kernel> [--ramdisk F] [--cmdline S] [--memory MiB]
//!   [--vcpus N] [--name S] [--paused]`: builds the kernel (PV ELF or
//!   bzImage) as a new domain, records `name` and `domid` under
//!   `/local/domain/<id>/` if xenstored runs, unpauses it (unless
//!   `--paused`) and prints the new domain id alone on stdout;
//! * `xc-build info <domid>`: the domain's state from `getdomaininfo`
//!   (`d<id>: <state> ...`), exit status 1 if there is no such domain;
//! * `xc-build wait <domid> [--timeout S]`: waits until the domain shuts
//!   down and prints `d<id>: shutdown <reason>` (exit status 1 on timeout
//!   or if it disappears);
//! * `xc-build context <domid> [vcpu]`: a vCPU's registers
//!   (`getvcpucontext`: `rip`, `rsp`, `rflags`, `cr3`, ...);
//! * `xc-build destroy <domid>`: `XEN_DOMCTL_destroydomain` (and its
//!   xenstore directory).
//!
//! Errors go to stderr as `xc-build: <what>` with exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use guest_abi::domctl::{
    XEN_DOMINF_blocked, XEN_DOMINF_dying, XEN_DOMINF_paused, XEN_DOMINF_running,
    XEN_DOMINF_shutdown, XenDomctlGetdomaininfo,
};
use guest_abi::sched::ShutdownReason;
use guest_abi::xen::DomId;
use xen_domain_builder::DomainConfig;
use xenctrl::Xc;

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "xc-build", about = "Build, inspect and destroy PV domUs from dom0")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build a PV kernel as a new domain and unpause it; prints its id.
    Create {
        /// The kernel (64-bit PV ELF or bzImage).
        kernel: PathBuf,
        /// An initial ramdisk.
        #[arg(long)]
        ramdisk: Option<PathBuf>,
        /// The kernel command line.
        #[arg(long, default_value = "")]
        cmdline: String,
        /// Memory in MiB.
        #[arg(long, default_value_t = 32)]
        memory: u64,
        /// Number of vCPUs.
        #[arg(long, default_value_t = 1)]
        vcpus: u32,
        /// The domain's name (written to xenstore if xenstored runs).
        #[arg(long)]
        name: Option<String>,
        /// Leave the domain paused.
        #[arg(long)]
        paused: bool,
    },
    /// Print a domain's state.
    Info {
        /// The domain id.
        domid: u16,
    },
    /// Wait until a domain shuts down and print the reason.
    Wait {
        /// The domain id.
        domid: u16,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Print a vCPU's registers (`getvcpucontext`).
    Context {
        /// The domain id.
        domid: u16,
        /// The vCPU.
        #[arg(default_value_t = 0)]
        vcpu: u32,
    },
    /// Destroy a domain.
    Destroy {
        /// The domain id.
        domid: u16,
    },
}

/// Xen's name of shutdown code `code`.
fn reason_name(code: u32) -> &'static str {
    match ShutdownReason::try_from(code) {
        Ok(ShutdownReason::Poweroff) => "poweroff",
        Ok(ShutdownReason::Reboot) => "reboot",
        Ok(ShutdownReason::Suspend) => "suspend",
        Ok(ShutdownReason::Crash) => "crash",
        Ok(ShutdownReason::Watchdog) => "watchdog",
        Ok(ShutdownReason::SoftReset) => "soft_reset",
        Err(_) => "unknown",
    }
}

/// One line describing `info`: its state flags (as `xm list` letters
/// spelt out), shutdown reason, pages, vCPUs and CPU time.
fn describe(info: &XenDomctlGetdomaininfo) -> String {
    let mut state = Vec::new();
    for (bit, name) in [
        (XEN_DOMINF_running, "running"),
        (XEN_DOMINF_blocked, "blocked"),
        (XEN_DOMINF_paused, "paused"),
        (XEN_DOMINF_dying, "dying"),
    ] {
        if info.flags & bit != 0 {
            state.push(name.to_owned());
        }
    }
    if info.flags & XEN_DOMINF_shutdown != 0 {
        state.push(format!("shutdown({})", reason_name(info.shutdown_code())));
    }
    if state.is_empty() {
        state.push("-".to_owned());
    }
    format!(
        "d{}: {} tot_pages={} max_pages={} vcpus={} cpu_time={}ns",
        info.domain.0,
        state.join(","),
        info.tot_pages,
        info.max_pages,
        info.nr_online_vcpus,
        info.cpu_time
    )
}

/// Writes the domain's `name` and `domid` to xenstore, if a daemon answers.
fn record_in_xenstore(domid: DomId, name: &str) -> Result<(), String> {
    let socket = std::path::Path::new(xenstored::client::DEFAULT_SOCKET);
    let mut xs = xenstored::client::Client::connect(socket).map_err(|e| e.to_string())?;
    let dir = format!("/local/domain/{}", domid.0);
    xs.write(0, &format!("{dir}/name"), name.as_bytes()).map_err(|e| e.to_string())?;
    xs.write(0, &format!("{dir}/domid"), domid.0.to_string().as_bytes()).map_err(|e| e.to_string())
}

/// Removes the domain's xenstore directory, if a daemon answers.
fn forget_in_xenstore(domid: DomId) {
    let socket = std::path::Path::new(xenstored::client::DEFAULT_SOCKET);
    if let Ok(mut xs) = xenstored::client::Client::connect(socket) {
        let _ = xs.rm(0, &format!("/local/domain/{}", domid.0));
    }
}

/// What `create` was given.
struct Create {
    kernel: PathBuf,
    ramdisk: Option<PathBuf>,
    cmdline: String,
    memory: u64,
    vcpus: u32,
    name: Option<String>,
    paused: bool,
}

fn create(xc: &Xc, c: &Create) -> Result<(), String> {
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let kernel = read(&c.kernel)?;
    let ramdisk = c.ramdisk.as_ref().map(read).transpose()?;
    let mut cfg = DomainConfig::new(&kernel, c.cmdline.as_bytes(), c.memory);
    cfg.ramdisk = ramdisk.as_deref();
    cfg.vcpus = c.vcpus;
    let built = xenctrl::builder::build_domain(xc, &cfg).map_err(|e| format!("build: {e}"))?;
    let domid = built.domid;
    let name = c.name.clone().unwrap_or_else(|| {
        c.kernel.file_name().map_or_else(|| "domU".to_owned(), |n| n.to_string_lossy().into_owned())
    });
    eprintln!(
        "xc-build: d{} \"{name}\": {} MiB, {} vCPU(s), entry {:#x}, start_info {:#x}",
        domid.0, c.memory, c.vcpus, built.entry, built.layout.start_info.0
    );
    if let Err(e) = record_in_xenstore(domid, &name) {
        eprintln!("xc-build: note: name not recorded in xenstore: {e}");
    }
    if !c.paused
        && let Err(e) = xc.unpause_domain(domid)
    {
        let _ = xc.destroy_domain(domid);
        return Err(format!("unpause d{}: {e}", domid.0));
    }
    println!("{}", domid.0);
    Ok(())
}

fn wait(xc: &Xc, dom: DomId, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let info = xc.domain_info(dom).map_err(|e| format!("d{}: {e}", dom.0))?;
        if info.flags & XEN_DOMINF_shutdown != 0 {
            println!("d{}: shutdown {}", dom.0, reason_name(info.shutdown_code()));
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "d{}: no shutdown within {}s ({})",
                dom.0,
                timeout.as_secs(),
                describe(&info)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let xc = Xc::open().map_err(|e| e.to_string())?;
    match cli.cmd {
        Cmd::Create { kernel, ramdisk, cmdline, memory, vcpus, name, paused } => {
            create(&xc, &Create { kernel, ramdisk, cmdline, memory, vcpus, name, paused })
        }
        Cmd::Info { domid } => {
            let info = xc.domain_info(DomId(domid)).map_err(|e| format!("d{domid}: {e}"))?;
            println!("{}", describe(&info));
            Ok(())
        }
        Cmd::Wait { domid, timeout } => wait(&xc, DomId(domid), Duration::from_secs(timeout)),
        Cmd::Context { domid, vcpu } => {
            let c = xc
                .vcpu_context(DomId(domid), guest_abi::xen::VcpuId(vcpu))
                .map_err(|e| format!("d{domid}v{vcpu}: {e}"))?;
            let r = &c.user_regs;
            println!(
                "d{domid}v{vcpu}: rip={:#x} rsp={:#x} rflags={:#x} cs={:#x} cr3={:#x} \
                 upcall_mask={} rax={:#x} rdi={:#x} rsi={:#x}",
                r.rip,
                r.rsp,
                r.rflags,
                r.cs,
                c.ctrlreg.get(3).copied().unwrap_or(0),
                r.saved_upcall_mask,
                r.rax,
                r.rdi,
                r.rsi
            );
            Ok(())
        }
        Cmd::Destroy { domid } => {
            xc.destroy_domain(DomId(domid)).map_err(|e| format!("d{domid}: {e}"))?;
            forget_in_xenstore(DomId(domid));
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xc-build: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytemuck::Zeroable;
    use guest_abi::domctl::XenDomctlGetdomaininfo;

    #[test]
    fn describe_names_state_and_reason() {
        let mut info = XenDomctlGetdomaininfo::zeroed();
        info.domain = DomId(3);
        info.flags = XenDomctlGetdomaininfo::flags_with_shutdown_code(
            XEN_DOMINF_shutdown | XEN_DOMINF_paused,
            0,
        );
        info.tot_pages = 4096;
        let line = describe(&info);
        assert!(line.starts_with("d3: paused,shutdown(poweroff) tot_pages=4096"), "{line}");
        info.flags = XEN_DOMINF_blocked;
        assert!(describe(&info).starts_with("d3: blocked tot_pages"));
        assert_eq!(reason_name(3), "crash");
        assert_eq!(reason_name(99), "unknown");
    }

    #[test]
    fn command_line_parses() {
        let cli = Cli::try_parse_from([
            "xc-build",
            "create",
            "/k",
            "--memory",
            "16",
            "--cmdline",
            "a b",
            "--vcpus",
            "2",
        ])
        .map_err(|e| e.to_string());
        match cli.map(|c| c.cmd) {
            Ok(Cmd::Create { kernel, memory, cmdline, vcpus, paused, .. }) => {
                assert_eq!(kernel, PathBuf::from("/k"));
                assert_eq!((memory, cmdline.as_str(), vcpus, paused), (16, "a b", 2, false));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["xc-build", "destroy", "x"]).is_err());
    }
}
