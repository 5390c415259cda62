// SPDX-License-Identifier: GPL-2.0-only
//! The real [`Hypervisor`] for Linux dom0.
//!
//! Wired now: the domain list (`XEN_SYSCTL_getdomaininfolist` through
//! `xenctrl`) and the hypervisor's console (`XEN_SYSCTL_readconsole`,
//! incremental, for `--log=hv`).
//!
//! Mapping a console page and binding its event channel go through
//! Linux's `/dev/xen/gntdev` (grant `GNTTAB_RESERVED_CONSOLE`) and
//! `/dev/xen/evtchn`: [`crate::linux`], plugged in by
//! [`XenHypervisor::open`]. The foreign-mapping fallback (`ring-ref` by
//! frame) waits for privcmd's `MMAPBATCH_V2` in `xenctrl`.

use std::io;
use std::ptr::NonNull;

use guest_abi::domctl::{XEN_DOMINF_dying, XEN_DOMINF_shutdown};
use guest_abi::io::console::{XENCONS_IN_SIZE, XENCONS_OUT_SIZE, XenconsInterface};
use guest_abi::sysctl::{SysctlCmd, XenSysctl, XenSysctlReadconsole};
use guest_abi::xen::{DomId, EvtchnPort, GrantRef, Mfn};
use xenctrl::Xc;
use xenctrl::buffer::HypercallBuffer;

use crate::backend::{DomainState, EventChannel, Hypervisor};
use crate::ring::{ConsolePage, Index};

/// Maps a domain's console page (gntdev and privcmd foreign mappings).
pub trait ConsoleMapper {
    /// Maps grant `gref` of `domid` read-write.
    fn map_grant(&mut self, domid: DomId, gref: GrantRef) -> io::Result<Box<dyn ConsolePage>>;
    /// Maps frame `mfn` of `domid` read-write.
    fn map_foreign(&mut self, domid: DomId, mfn: Mfn) -> io::Result<Box<dyn ConsolePage>>;
}

/// Binds interdomain event channels (`/dev/xen/evtchn`, one handle per
/// console).
pub trait EvtchnBinder {
    /// Binds `domid`'s `remote` port.
    fn bind_interdomain(
        &mut self,
        domid: DomId,
        remote: EvtchnPort,
    ) -> io::Result<Box<dyn EventChannel>>;
}

impl<P: ConsolePage + ?Sized> ConsolePage for Box<P> {
    fn index(&self, which: Index) -> u32 {
        (**self).index(which)
    }
    fn set_index(&mut self, which: Index, value: u32) {
        (**self).set_index(which, value);
    }
    fn out_byte(&self, pos: usize) -> u8 {
        (**self).out_byte(pos)
    }
    fn set_in_byte(&mut self, pos: usize, byte: u8) {
        (**self).set_in_byte(pos, byte);
    }
}

impl EventChannel for Box<dyn EventChannel> {
    fn local_port(&self) -> EvtchnPort {
        (**self).local_port()
    }
    fn notify(&mut self) -> io::Result<()> {
        (**self).notify()
    }
    fn pending(&mut self) -> io::Result<Option<EvtchnPort>> {
        (**self).pending()
    }
    fn unmask(&mut self) -> io::Result<()> {
        (**self).unmask()
    }
}

/// A console page in a live mapping, accessed with volatile reads and
/// writes (the guest changes it concurrently). `M` owns the mapping and
/// unmaps it on drop, after this page is gone.
pub struct MappedConsolePage<M> {
    page: NonNull<XenconsInterface>,
    _mapping: M,
}

impl<M> std::fmt::Debug for MappedConsolePage<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedConsolePage").field("page", &self.page).finish()
    }
}

impl<M> MappedConsolePage<M> {
    /// A page at `page`, kept mapped by `mapping`.
    ///
    /// # Safety
    ///
    /// `page` must point to a readable and writable mapping of at least
    /// `size_of::<XenconsInterface>()` bytes, aligned to 4, that stays
    /// mapped for as long as `mapping` lives, and nothing in this process
    /// may hold a Rust reference into it.
    pub unsafe fn new(page: NonNull<XenconsInterface>, mapping: M) -> Self {
        Self { page, _mapping: mapping }
    }

    fn index_ptr(&self, which: Index) -> *mut u32 {
        // Offsets of `in_cons`, `in_prod`, `out_cons`, `out_prod`
        // (`guest-abi` asserts them).
        let off = match which {
            Index::InCons => 3072,
            Index::InProd => 3076,
            Index::OutCons => 3080,
            Index::OutProd => 3084,
        };
        self.page.as_ptr().cast::<u8>().wrapping_add(off).cast::<u32>()
    }
}

impl<M> ConsolePage for MappedConsolePage<M> {
    fn index(&self, which: Index) -> u32 {
        // SAFETY: `new`'s contract: the page is mapped, aligned and not
        // referenced; a volatile read of a field inside it is sound.
        unsafe { self.index_ptr(which).read_volatile() }
    }

    fn set_index(&mut self, which: Index, value: u32) {
        // SAFETY: as in `index`, for a write.
        unsafe { self.index_ptr(which).write_volatile(value) }
    }

    fn out_byte(&self, pos: usize) -> u8 {
        let pos = pos & (XENCONS_OUT_SIZE as usize).wrapping_sub(1);
        let base = self.page.as_ptr().cast::<u8>();
        // SAFETY: `out` starts at offset 1024 and holds XENCONS_OUT_SIZE
        // bytes; `pos` is reduced below that; the page is mapped (`new`).
        unsafe { base.wrapping_add(1024).wrapping_add(pos).read_volatile() }
    }

    fn set_in_byte(&mut self, pos: usize, byte: u8) {
        let pos = pos & (XENCONS_IN_SIZE as usize).wrapping_sub(1);
        let base = self.page.as_ptr().cast::<u8>();
        // SAFETY: `in` starts at offset 0 and holds XENCONS_IN_SIZE bytes;
        // `pos` is reduced below that; the page is mapped (`new`).
        unsafe { base.wrapping_add(pos).write_volatile(byte) }
    }
}

/// The hypervisor through `xenctrl`.
pub struct XenHypervisor {
    xc: Xc,
    mapper: Option<Box<dyn ConsoleMapper>>,
    evtchn: Option<Box<dyn EvtchnBinder>>,
}

impl std::fmt::Debug for XenHypervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XenHypervisor")
            .field("mapper", &self.mapper.is_some())
            .field("evtchn", &self.evtchn.is_some())
            .finish_non_exhaustive()
    }
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("{what}: not wired yet in xenconsoled"))
}

fn xc_err(e: xenctrl::Error) -> io::Error {
    io::Error::other(e.to_string())
}

impl XenHypervisor {
    /// Opens privcmd.
    pub fn open() -> xenctrl::Result<Self> {
        // gntdev may be missing (module not loaded): consoles then fail to
        // connect with `Unsupported`, logged, and the daemon carries on.
        let mapper =
            crate::linux::GntdevMapper::open().ok().map(|m| Box::new(m) as Box<dyn ConsoleMapper>);
        let evtchn: Box<dyn EvtchnBinder> = Box::new(crate::linux::EvtchnDevice);
        Ok(Self { xc: Xc::open()?, mapper, evtchn: Some(evtchn) })
    }

    /// Plugs in the page mapper and event-channel binder.
    #[must_use]
    pub fn with_bindings(
        mut self,
        mapper: Box<dyn ConsoleMapper>,
        evtchn: Box<dyn EvtchnBinder>,
    ) -> Self {
        self.mapper = Some(mapper);
        self.evtchn = Some(evtchn);
        self
    }
}

impl Hypervisor for XenHypervisor {
    type Page = Box<dyn ConsolePage>;
    type Channel = Box<dyn EventChannel>;

    fn map_grant(&mut self, domid: DomId, gref: GrantRef) -> io::Result<Self::Page> {
        self.mapper.as_mut().ok_or_else(|| unsupported("gntdev"))?.map_grant(domid, gref)
    }

    fn map_foreign(&mut self, domid: DomId, mfn: Mfn) -> io::Result<Self::Page> {
        self.mapper.as_mut().ok_or_else(|| unsupported("foreign mapping"))?.map_foreign(domid, mfn)
    }

    fn bind_interdomain(&mut self, domid: DomId, remote: EvtchnPort) -> io::Result<Self::Channel> {
        self.evtchn.as_mut().ok_or_else(|| unsupported("evtchn"))?.bind_interdomain(domid, remote)
    }

    fn domains(&mut self) -> io::Result<Vec<DomainState>> {
        Ok(self
            .xc
            .all_domains()
            .map_err(xc_err)?
            .into_iter()
            .map(|d| DomainState {
                domid: d.domain,
                dying: d.flags & XEN_DOMINF_dying != 0,
                shutdown: d.flags & XEN_DOMINF_shutdown != 0,
            })
            .collect())
    }

    fn read_console(&mut self, index: &mut u32) -> io::Result<Vec<u8>> {
        // Xen's daemon reads 16 KiB at a time until a read comes back short.
        const CHUNK: usize = 16 * 1024;
        let buf = HypercallBuffer::new(CHUNK).map_err(xc_err)?;
        let mut out = Vec::new();
        loop {
            let rc = XenSysctlReadconsole {
                clear: 0,
                incremental: 1,
                pad0: 0,
                pad1: 0,
                index: *index,
                buffer: buf.addr(0).ok_or_else(|| unsupported("buffer"))?,
                count: u32::try_from(CHUNK).unwrap_or(u32::MAX),
                pad2: 0,
            };
            let mut op = XenSysctl::with_payload(SysctlCmd::Readconsole, &rc)
                .ok_or_else(|| io::Error::other("readconsole payload"))?;
            self.xc.sysctl(&mut op).map_err(xc_err)?;
            let got: XenSysctlReadconsole =
                op.payload().ok_or_else(|| io::Error::other("readconsole payload"))?;
            let n = (got.count as usize).min(CHUNK);
            *index = got.index;
            out.extend_from_slice(buf.bytes().get(..n).unwrap_or(&[]));
            if n < CHUNK || out.len() >= (1 << 22) {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ring;

    #[test]
    fn mapped_page_accesses_the_layout() {
        let mut backing: Box<XenconsInterface> = Box::new(guest_abi::bytemuck::Zeroable::zeroed());
        backing.output[..3].copy_from_slice(b"abc");
        backing.out_prod = 3;
        let ptr = NonNull::from(&mut *backing);
        {
            // SAFETY: `backing` outlives `page` and is not touched while it
            // lives.
            let mut page = unsafe { MappedConsolePage::new(ptr, ()) };
            let mut out = Vec::new();
            assert_eq!(ring::read_out(&mut page, &mut out), ring::OutRing::Read(3));
            assert_eq!(out, b"abc");
            assert_eq!(ring::write_in(&mut page, b"xy"), 2);
        }
        assert_eq!(backing.out_cons, 3);
        assert_eq!(backing.in_prod, 2);
        assert_eq!(&backing.input[..2], b"xy");
    }
}
