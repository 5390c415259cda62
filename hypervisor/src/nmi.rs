// SPDX-License-Identifier: GPL-2.0-only
//! NMIs (Xen's `do_nmi`): counted, then fatal, logged or ignored by `nmi=`
//! (the decision is `hv_core::nmi::decide`).
//!
//! The handler runs on the CPU's NMI IST stack, in whatever context the NMI
//! hit (a guest, the idle loop, a hypercall holding the machine lock, code
//! printing with the console lock held), so it takes no lock it could have
//! to wait for and allocates nothing: it reads the reason from port B,
//! clears the error source, counts, and prints only if the console is free
//! (`console::printk_try`). A report the busy console refused is printed
//! later from the local timer interrupt ([`report_deferred`]). Returning
//! resumes the interrupted context unchanged (see
//! `hv_arch_x86_64::traps::NmiHandler`). With `nmi=fatal` it prints the
//! registers and panics, breaking a stuck console lock if it must, as every
//! panic does.

use core::sync::atomic::{AtomicU64, Ordering};

use hv_arch_x86_64::traps::{self, CpuUserRegs, RegisterDump};
use hv_arch_x86_64::{io, time};
use hv_core::cmdline::NmiAction;
use hv_core::console::loglvl::LogLevel;
use hv_core::nmi::{self, NmiDecision, NmiKind};

use crate::console::{printk_force, printk_try};
use crate::panic::xen_panic;

/// System control port B: the NMI reason.
const PORT_B: u16 = 0x61;

/// The `nmi=` option (set once at boot).
static ACTION: spin::Once<NmiAction> = spin::Once::new();
/// NMIs taken since boot, on every CPU.
static COUNT: AtomicU64 = AtomicU64::new(0);
/// The count of the latest NMI whose report the console refused (0: none).
static DEFERRED: AtomicU64 = AtomicU64::new(0);

/// Installs the NMI handler, acting on `action` (`nmi=`).
pub fn init(action: NmiAction) {
    ACTION.call_once(|| action);
    traps::set_nmi_handler(on_nmi);
}

fn on_nmi(regs: &CpuUserRegs, cpu: u32) {
    let reason = io::inb(PORT_B);
    let kind = NmiKind::from_reason(reason);
    let action = ACTION.get().copied().unwrap_or_default();
    let n = COUNT.fetch_add(1, Ordering::Relaxed).saturating_add(1);
    let context = if regs.cs & 3 == 0 { "hypervisor" } else { "guest" };
    match nmi::decide(action, kind) {
        NmiDecision::Fatal => {
            printk_force(format_args!("{}", RegisterDump { regs, cpu }));
            xen_panic(format_args!(
                "NMI received for {} (port 0x61 = {reason:#04x}) on CPU{cpu} in {context} \
                 context; 'nmi=fatal'",
                kind.describe()
            ))
        }
        NmiDecision::Report => {
            clear_source(reason);
            if nmi::should_log(n)
                && !printk_try(
                    LogLevel::Warning,
                    format_args!(
                        "NMI #{n} received for {} (port 0x61 = {reason:#04x}) on CPU{cpu} in \
                         {context} context at {:04x}:{:016x}; 'nmi=dom0': not forwarded to \
                         dom0 yet, continuing",
                        kind.describe(),
                        regs.cs,
                        regs.rip
                    ),
                )
            {
                DEFERRED.store(n, Ordering::Relaxed);
            }
        }
        NmiDecision::Ignore => clear_source(reason),
    }
}

/// Clears (and re-enables) the parity / IOCHK error that raised the NMI,
/// as Xen's `pci_serr_error` / `io_check_error` do.
fn clear_source(reason: u8) {
    let (writes, len) = nmi::clear_writes(reason);
    for (i, &v) in writes.iter().take(len).enumerate() {
        if i > 0 {
            time::udelay(1000);
        }
        io::outb(PORT_B, v);
    }
}

/// Prints the NMI report the console refused in NMI context, if any (from
/// the local timer interrupt; again only if the console is free).
pub fn report_deferred() {
    let n = DEFERRED.load(Ordering::Relaxed);
    if n != 0
        && printk_try(
            LogLevel::Warning,
            format_args!(
                "NMI #{n} received (reported late: the console was busy); 'nmi=dom0': not \
                 forwarded to dom0 yet, continuing"
            ),
        )
    {
        let _ = DEFERRED.compare_exchange(n, 0, Ordering::Relaxed, Ordering::Relaxed);
    }
}
