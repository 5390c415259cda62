//! `hv-runner`: builds the hypervisor, wraps it in boot media and runs it under QEMU.
//!
//! The library is what the `hvrun` binary (see `src/main.rs` and [`cli`]) and the
//! integration tests in `tests/boot` share:
//!
//! - [`build_hypervisor`] / [`hypervisor_image`] produce the hypervisor ELF
//!   (`target/x86_64-xen/release/xen`), building it at most once per process;
//!   [`build_pv_tests`] / [`pv_test_kernel`] do the same for the PV test kernels of
//!   `tests/pv` (`target/x86_64-xen/release/pv-<name>`).
//! - [`RunConfig`] describes one boot (command line, modules, CPUs, memory, boot path);
//!   [`run`] boots it and returns an [`Outcome`]: how the run ended ([`ExitKind`]), why,
//!   and everything the hypervisor printed on its serial console.
//! - [`make_iso`] builds the GRUB rescue ISO used by the [`BootPath::Grub`] path.
//! - [`console`] has helpers to pick `(XEN) ` lines out of the serial text.
//! - [`domu`] packs domU kernels into the cpio initrd of the toolstack test kernel
//!   (`qemu/run --domu`).
//! - [`initramfs`] builds the busybox initramfs a Linux dom0 boots to (Debian's kernel
//!   and busybox as cached by `qemu/fetch-debian`).
//! - [`oracle`] finds Debian 12's Xen 4.17 as cached by `qemu/fetch-xen`, to boot the same
//!   kernels on the reference.

pub mod cli;
pub mod config;
pub mod console;
pub mod domu;
pub mod grub;
pub mod image;
pub mod initramfs;
pub mod oracle;
pub mod outcome;
pub mod qemu;
pub mod session;

pub use config::{BootPath, Machine, ModuleSpec, RunConfig};
pub use grub::make_iso;
pub use image::{
    build_hypervisor, build_pv_tests, hypervisor_image, pv_test_kernel, repo_root, target_dir,
};
pub use outcome::{ExitKind, Outcome};
pub use session::run;

/// The result type used throughout the runner (an [`anyhow::Result`]).
pub type Result<T> = anyhow::Result<T>;
