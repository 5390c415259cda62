// SPDX-License-Identifier: GPL-2.0-only
//! An in-memory hypervisor for tests: console pages in ordinary memory,
//! event channels over socket pairs, a domain list and a hypervisor console
//! the test edits. The test holds clones of the same pages and channels
//! and plays the guest's side ([`FakePage::guest_write`],
//! [`FakeChannel::guest_notify`], ...).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};

use guest_abi::io::console::{XENCONS_IN_SIZE, XENCONS_OUT_SIZE, XenconsInterface};
use guest_abi::xen::{DomId, EvtchnPort, GrantRef, Mfn};

use crate::backend::{DomainState, EventChannel, Hypervisor};
use crate::ring::{ConsolePage, Index};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A console page in memory, shared by clones.
#[derive(Clone, Debug)]
pub struct FakePage(Arc<Mutex<XenconsInterface>>);

impl Default for FakePage {
    fn default() -> Self {
        Self::new()
    }
}

impl FakePage {
    /// A zeroed page.
    #[must_use]
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(bytemuck_zeroed())))
    }

    /// The guest writes to `out` (as a guest's console driver does): as
    /// much as fits; returns how much.
    pub fn guest_write(&self, bytes: &[u8]) -> usize {
        let mut p = lock(&self.0);
        let mut prod = p.out_prod;
        let used = prod.wrapping_sub(p.out_cons);
        let room = XENCONS_OUT_SIZE.saturating_sub(used) as usize;
        let n = room.min(bytes.len());
        for &b in bytes.iter().take(n) {
            let pos = (prod & (XENCONS_OUT_SIZE - 1)) as usize;
            if let Some(slot) = p.output.get_mut(pos) {
                *slot = b;
            }
            prod = prod.wrapping_add(1);
        }
        p.out_prod = prod;
        n
    }

    /// The guest reads everything in `in`.
    pub fn guest_read(&self) -> Vec<u8> {
        let mut p = lock(&self.0);
        let mut cons = p.in_cons;
        let mut out = Vec::new();
        if p.in_prod.wrapping_sub(cons) > XENCONS_IN_SIZE {
            return out;
        }
        while cons != p.in_prod {
            out.push(p.input.get((cons & (XENCONS_IN_SIZE - 1)) as usize).copied().unwrap_or(0));
            cons = cons.wrapping_add(1);
        }
        p.in_cons = cons;
        out
    }
}

fn bytemuck_zeroed() -> XenconsInterface {
    guest_abi::bytemuck::Zeroable::zeroed()
}

impl ConsolePage for FakePage {
    fn index(&self, which: Index) -> u32 {
        let p = lock(&self.0);
        match which {
            Index::InCons => p.in_cons,
            Index::InProd => p.in_prod,
            Index::OutCons => p.out_cons,
            Index::OutProd => p.out_prod,
        }
    }

    fn set_index(&mut self, which: Index, value: u32) {
        let mut p = lock(&self.0);
        match which {
            Index::InCons => p.in_cons = value,
            Index::InProd => p.in_prod = value,
            Index::OutCons => p.out_cons = value,
            Index::OutProd => p.out_prod = value,
        }
    }

    fn out_byte(&self, pos: usize) -> u8 {
        lock(&self.0).output.get(pos).copied().unwrap_or(0)
    }

    fn set_in_byte(&mut self, pos: usize, byte: u8) {
        if let Some(slot) = lock(&self.0).input.get_mut(pos) {
            *slot = byte;
        }
    }
}

#[derive(Debug, Default)]
struct ChannelState {
    masked: bool,
    pending: bool,
    to_guest: u64,
    delivered: u64,
    closed: bool,
}

/// One end of an interdomain channel: the daemon's end polls a socket
/// that the guest's [`guest_notify`](Self::guest_notify) makes readable.
#[derive(Debug)]
pub struct FakeChannel {
    port: EvtchnPort,
    state: Arc<Mutex<ChannelState>>,
    daemon_end: Arc<UnixStream>,
    guest_end: Arc<UnixStream>,
    /// The daemon's handle (not a test's share): dropping it closes the
    /// channel.
    owner: bool,
}

impl FakeChannel {
    fn new(port: EvtchnPort) -> io::Result<Self> {
        let (daemon_end, guest_end) = UnixStream::pair()?;
        daemon_end.set_nonblocking(true)?;
        Ok(Self {
            port,
            state: Arc::default(),
            daemon_end: Arc::new(daemon_end),
            guest_end: Arc::new(guest_end),
            owner: true,
        })
    }

    fn share(&self) -> Self {
        Self {
            port: self.port,
            state: Arc::clone(&self.state),
            daemon_end: Arc::clone(&self.daemon_end),
            guest_end: Arc::clone(&self.guest_end),
            owner: false,
        }
    }

    /// The guest sends an event: delivered now unless masked, else when
    /// unmasked (as Xen's pending and mask bits behave).
    pub fn guest_notify(&self) -> io::Result<()> {
        let mut s = lock(&self.state);
        if s.pending {
            return Ok(());
        }
        s.pending = true;
        if !s.masked {
            s.masked = true;
            (&*self.guest_end).write_all(&[1])?;
        }
        Ok(())
    }

    /// How many events the daemon sent the guest.
    #[must_use]
    pub fn notifications(&self) -> u64 {
        lock(&self.state).to_guest
    }

    /// How many events the daemon took from this channel.
    #[must_use]
    pub fn deliveries(&self) -> u64 {
        lock(&self.state).delivered
    }

    /// Whether the daemon dropped its end (closed the console).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }
}

impl AsFd for FakeChannel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.daemon_end.as_fd()
    }
}

impl EventChannel for FakeChannel {
    fn local_port(&self) -> EvtchnPort {
        self.port
    }

    fn notify(&mut self) -> io::Result<()> {
        let mut s = lock(&self.state);
        s.to_guest = s.to_guest.saturating_add(1);
        Ok(())
    }

    fn pending(&mut self) -> io::Result<Option<EvtchnPort>> {
        let mut byte = [0u8; 16];
        match (&*self.daemon_end).read(&mut byte) {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {
                let mut s = lock(&self.state);
                s.pending = false;
                s.delivered = s.delivered.saturating_add(1);
                Ok(Some(self.port))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn unmask(&mut self) -> io::Result<()> {
        let mut s = lock(&self.state);
        if s.pending {
            (&*self.guest_end).write_all(&[1])?;
        } else {
            s.masked = false;
        }
        Ok(())
    }
}

impl Drop for FakeChannel {
    fn drop(&mut self) {
        if self.owner {
            lock(&self.state).closed = true;
        }
    }
}

/// A guest as the fake hypervisor knows it.
#[derive(Debug)]
struct FakeDomain {
    state: DomainState,
    page: FakePage,
    mfn: Mfn,
    /// Whether the console page is granted as `GNTTAB_RESERVED_CONSOLE`.
    granted: bool,
    remote_port: EvtchnPort,
    channel: Option<FakeChannel>,
}

#[derive(Debug, Default)]
struct World {
    domains: BTreeMap<u16, FakeDomain>,
    next_port: u32,
    console: Vec<u8>,
    maps: Vec<(DomId, &'static str)>,
}

/// The fake hypervisor; clones share one world, so a test keeps one and
/// gives the daemon another.
#[derive(Clone, Debug, Default)]
pub struct FakeXen(Arc<Mutex<World>>);

impl FakeXen {
    /// An empty machine.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a running domain whose console page is `page` at `mfn`, bound
    /// to its port `remote_port`; `granted` says whether the page is also
    /// granted as ref 0.
    pub fn add_domain(
        &self,
        domid: DomId,
        mfn: Mfn,
        remote_port: EvtchnPort,
        granted: bool,
    ) -> FakePage {
        let page = FakePage::new();
        lock(&self.0).domains.insert(
            domid.0,
            FakeDomain {
                state: DomainState { domid, dying: false, shutdown: false },
                page: page.clone(),
                mfn,
                granted,
                remote_port,
                channel: None,
            },
        );
        page
    }

    /// Marks a domain dying (`dying`) or shut down.
    pub fn set_state(&self, domid: DomId, dying: bool, shutdown: bool) {
        if let Some(d) = lock(&self.0).domains.get_mut(&domid.0) {
            d.state.dying = dying;
            d.state.shutdown = shutdown;
        }
    }

    /// Removes a domain (destroyed).
    pub fn remove_domain(&self, domid: DomId) {
        lock(&self.0).domains.remove(&domid.0);
    }

    /// The guest's end of the domain's console channel, once the daemon
    /// bound it.
    #[must_use]
    pub fn channel(&self, domid: DomId) -> Option<FakeChannel> {
        lock(&self.0).domains.get(&domid.0)?.channel.as_ref().map(FakeChannel::share)
    }

    /// Appends to the hypervisor's console ring.
    pub fn hv_print(&self, bytes: &[u8]) {
        lock(&self.0).console.extend_from_slice(bytes);
    }

    /// The mappings made so far: domain and `"grant"` or `"foreign"`.
    #[must_use]
    pub fn maps(&self) -> Vec<(DomId, &'static str)> {
        lock(&self.0).maps.clone()
    }
}

fn not_found(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, what.to_owned())
}

impl Hypervisor for FakeXen {
    type Page = FakePage;
    type Channel = FakeChannel;

    fn map_grant(&mut self, domid: DomId, gref: GrantRef) -> io::Result<FakePage> {
        let mut w = lock(&self.0);
        let d = w.domains.get(&domid.0).ok_or_else(|| not_found("no such domain"))?;
        if !d.granted || gref.0 != guest_abi::grant_table::GNTTAB_RESERVED_CONSOLE {
            return Err(io::Error::from_raw_os_error(nix::libc::EINVAL));
        }
        let page = d.page.clone();
        w.maps.push((domid, "grant"));
        Ok(page)
    }

    fn map_foreign(&mut self, domid: DomId, mfn: Mfn) -> io::Result<FakePage> {
        let mut w = lock(&self.0);
        let d = w.domains.get(&domid.0).ok_or_else(|| not_found("no such domain"))?;
        if d.mfn != mfn {
            return Err(io::Error::from_raw_os_error(nix::libc::EINVAL));
        }
        let page = d.page.clone();
        w.maps.push((domid, "foreign"));
        Ok(page)
    }

    fn bind_interdomain(&mut self, domid: DomId, remote: EvtchnPort) -> io::Result<FakeChannel> {
        let mut w = lock(&self.0);
        w.next_port = w.next_port.wrapping_add(1);
        let port = EvtchnPort(w.next_port);
        let d = w.domains.get_mut(&domid.0).ok_or_else(|| not_found("no such domain"))?;
        if d.remote_port != remote {
            return Err(io::Error::from_raw_os_error(nix::libc::EINVAL));
        }
        let channel = FakeChannel::new(port)?;
        d.channel = Some(channel.share());
        Ok(channel)
    }

    fn domains(&mut self) -> io::Result<Vec<DomainState>> {
        Ok(lock(&self.0).domains.values().map(|d| d.state).collect())
    }

    fn read_console(&mut self, index: &mut u32) -> io::Result<Vec<u8>> {
        let w = lock(&self.0);
        let from = (*index as usize).min(w.console.len());
        *index = u32::try_from(w.console.len()).unwrap_or(u32::MAX);
        Ok(w.console.get(from..).unwrap_or(&[]).to_vec())
    }
}
