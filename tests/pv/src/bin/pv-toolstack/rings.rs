// SPDX-License-Identifier: GPL-2.0-only
//! dom0 as the backend of its domUs' console and xenstore rings (the roles
//! of `xenconsoled` and `xenstored`, for what the PV test kernels need).
//!
//! [`Rings::serve`] takes a freshly built (still paused) domU: it maps the
//! domU's console and xenstore pages into two pages of this kernel's
//! `.bss` ([`MAX_SERVED`] domUs at a time), the way the builder writes a
//! domU's memory (`mmu_update` of the window's own L1 entry with the domU
//! as page owner), binds the two event channels the builder allocated
//! unbound for dom0 (`EVTCHNOP_bind_interdomain`), and records the name it
//! gave the domU. The toolstack's wait loop polls the bound ports beside
//! `VIRQ_DOM_EXC` and calls [`Rings::service`], which
//!
//! * drains each console `out` ring ([`console`]) and prints every
//!   complete line as `d<N>| <text>` with `console_io` on dom0's console
//!   (which real Xen shows, unlike a domU's own `console_io`);
//! * answers the requests of each xenstore ring ([`store`]).
//!
//! [`Rings::forget`] (called by the toolstack's `destroy`) drains a last
//! time, prints an unfinished line, unmaps both pages and closes both
//! ports. Everything the domU controls (indices, lengths, message types,
//! paths) is checked: a domU can only get errors or lose its own rings,
//! and each call of [`Rings::service`] does a bounded amount of work per
//! domU, so one domU cannot hold dom0 up.

#[path = "rings/console.rs"]
mod console;
#[path = "rings/store.rs"]
mod store;

use alloc::string::String;
use alloc::vec::Vec;
use core::arch::global_asm;

use pv_tests::evtchn;
use pv_tests::guest_abi::xen::{DOMID_SELF, DomId, EvtchnPort, MmuUpdate, MmuextCmd, MmuextOp};
use pv_tests::ops::XenError;
use pv_tests::pt::{DATA_RW, InitialMapping, maddr};
use pv_tests::{StartInfo, println};
use xen_domain_builder::BuiltDomain;

use super::{mmu_update, mmuext_op};

/// DomUs served at once.
pub const MAX_SERVED: usize = 16;

/// Window pages: a console and a xenstore page per domU.
const PAGES: usize = 2 * MAX_SERVED;

global_asm!(
    ".pushsection .bss.pv_toolstack_rings, \"aw\", @nobits",
    ".balign 4096",
    ".globl pv_toolstack_rings",
    "pv_toolstack_rings:",
    "    .skip {size}",
    ".popsection",
    size = const PAGES * 4096,
);

unsafe extern "C" {
    /// The ring windows (only their addresses are used).
    #[link_name = "pv_toolstack_rings"]
    static mut RING_PAGES: [u8; PAGES * 4096];
}

/// Address of window page `i`.
fn page_va(i: usize) -> u64 {
    ((&raw mut RING_PAGES).addr() as u64).wrapping_add((i as u64).wrapping_mul(4096))
}

/// One served domU.
struct Served {
    domid: DomId,
    /// Its window pages (`2 * slot`, `2 * slot + 1`).
    slot: usize,
    console: console::Console,
    store: store::Store,
}

/// The domUs whose rings dom0 serves (see the module documentation).
pub struct Rings {
    /// Machine address of each window page's L1 entry; empty if the
    /// windows could not be found (then nothing is served).
    ptes: Vec<u64>,
    served: Vec<Served>,
}

impl Rings {
    /// Finds the windows' L1 entries in dom0's initial mapping.
    pub fn new(si: &StartInfo) -> Self {
        let ptes = InitialMapping::new(si)
            .and_then(|map| {
                (0..PAGES)
                    .map(|i| {
                        let va = page_va(i);
                        let l3 = map.next(map.l4_mfn, va, 39)?;
                        let l2 = map.next(l3, va, 30)?;
                        let l1 = map.next(l2, va, 21)?;
                        maddr(l1).checked_add((va.checked_shr(12)? & 511).checked_mul(8)?)
                    })
                    .collect::<Option<Vec<u64>>>()
            })
            .unwrap_or_default();
        if ptes.is_empty() {
            println!("note: rings: cannot find the windows' L1 entries; no ring is served");
        }
        Self { ptes, served: Vec::new() }
    }

    /// Maps window page `i` to `val` (a PTE; 0 unmaps), `owner` the page's
    /// owner.
    fn map(&self, i: usize, val: u64, owner: DomId) -> Result<(), XenError> {
        let pte = *self.ptes.get(i).ok_or(XenError::from(pv_tests::Errno::EINVAL))?;
        mmu_update(&[MmuUpdate { ptr: pte, val }], owner)?;
        mmuext_op(&[MmuextOp::new(MmuextCmd::InvlpgLocal, page_va(i), 0)], DOMID_SELF)
    }

    /// Starts serving the rings of `built` under `name` (before it is
    /// unpaused). A domU without event channels, or beyond
    /// [`MAX_SERVED`], is not served (a note says so).
    pub fn serve(&mut self, built: &BuiltDomain, name: String) {
        let d = built.domid;
        let si = &built.start_info;
        let (con, store_port) = (si.console.domu(), si.store_evtchn);
        if con.evtchn.0 == 0 || store_port.0 == 0 {
            println!("note: d{}: no console/xenstore event channel: its rings are not served", d.0);
            return;
        }
        let taken = |s: usize| self.served.iter().any(|x| x.slot == s);
        let Some(slot) = (0..MAX_SERVED).find(|&s| !taken(s)).filter(|_| !self.ptes.is_empty())
        else {
            println!("note: d{}: no ring window free: its rings are not served", d.0);
            return;
        };
        match self.attach(d, slot, con.mfn.0, si.store_mfn.0, con.evtchn, store_port, name) {
            Ok(served) => self.served.push(served),
            Err(e) => println!("note: d{}: serving its rings: {e}", d.0),
        }
    }

    #[allow(clippy::too_many_arguments, reason = "one domU's ring coordinates")]
    fn attach(
        &mut self,
        d: DomId,
        slot: usize,
        console_mfn: u64,
        store_mfn: u64,
        console_port: EvtchnPort,
        store_port: EvtchnPort,
        name: String,
    ) -> Result<Served, XenError> {
        let (ci, si) = (slot.saturating_mul(2), slot.saturating_mul(2).saturating_add(1));
        self.map(ci, maddr(console_mfn) | DATA_RW, d)?;
        if let Err(e) = self.map(si, maddr(store_mfn) | DATA_RW, d) {
            let _ = self.map(ci, 0, DOMID_SELF);
            return Err(e);
        }
        let bound = evtchn::bind_interdomain(d, console_port).and_then(|c| {
            evtchn::bind_interdomain(d, store_port)
                .inspect_err(|_| {
                    let _ = evtchn::close(c);
                })
                .map(|s| (c, s))
        });
        let (cport, sport) = match bound {
            Ok(ports) => ports,
            Err(e) => {
                let _ = self.map(ci, 0, DOMID_SELF);
                let _ = self.map(si, 0, DOMID_SELF);
                return Err(e);
            }
        };
        // SAFETY: both window pages now map the domU's console and
        // xenstore frames writable, and stay mapped until `forget` unmaps
        // them after dropping these.
        let (console, store) = unsafe {
            (
                console::Console::attach(page_va(ci) as *mut u8, d, cport),
                store::Store::attach(page_va(si) as *mut u8, d, sport, name),
            )
        };
        Ok(Served { domid: d, slot, console, store })
    }

    /// The local ports to wait on.
    pub fn ports(&self) -> impl Iterator<Item = EvtchnPort> + '_ {
        self.served.iter().flat_map(|s| [s.console.port(), s.store.port()])
    }

    /// Serves every ring once (a bounded amount of work each). Returns
    /// whether a ring still has work, so that the caller polls again
    /// without blocking.
    pub fn service(&mut self) -> bool {
        let mut busy = false;
        for s in &mut self.served {
            evtchn::clear_pending(s.console.port());
            evtchn::clear_pending(s.store.port());
            busy |= s.console.drain();
            busy |= s.store.serve();
        }
        busy
    }

    /// Stops serving `domid` (before it is destroyed): a last drain, the
    /// unfinished line, the pages unmapped, the ports closed.
    pub fn forget(&mut self, domid: DomId) {
        let Some(at) = self.served.iter().position(|s| s.domid == domid) else { return };
        let mut s = self.served.swap_remove(at);
        s.console.drain();
        s.console.finish();
        let (cport, sport, slot) = (s.console.port(), s.store.port(), s.slot);
        drop(s);
        for i in [slot.saturating_mul(2), slot.saturating_mul(2).saturating_add(1)] {
            if let Err(e) = self.map(i, 0, DOMID_SELF) {
                println!("note: d{}: unmapping a ring page: {e}", domid.0);
            }
        }
        for port in [cport, sport] {
            if let Err(e) = evtchn::close(port) {
                println!("note: d{}: closing port {}: {e}", domid.0, port.0);
            }
        }
    }
}
