// SPDX-License-Identifier: GPL-2.0-only
//! One byte ring of a shared page, as `io/console.h` and `io/xs_wire.h`
//! lay them out: `size` bytes of data (a power of two) and two
//! free-running 32-bit indices, the producer's and the consumer's, each
//! used modulo `size`.
//!
//! A [`Ring`] is one side of one ring: it keeps *its own* index in private
//! memory and only writes it to the page, and reads only the peer's index
//! from the page, so a peer rewriting either index cannot move this side
//! backwards or make it read or write outside the data area: every index
//! is masked, and a peer index further away than `size` is
//! [`Corrupt`]. Barriers are Xen's: the peer's index is read before the
//! data it covers (`rmb`), the data is complete before our index moves
//! (`wmb`), and a consumer has read everything before it frees the space
//! (`mb`).

use core::sync::atomic::{Ordering, fence};

/// The peer's index is more than the ring's size away from ours: a
/// corrupted or hostile peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Where a ring lives in its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Offset of the data area.
    pub data: usize,
    /// Its size (a power of two).
    pub size: u32,
    /// Offset of the consumer's index.
    pub cons: usize,
    /// Offset of the producer's index.
    pub prod: usize,
}

/// Which side of the ring this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Writes data and moves `prod`.
    Producer,
    /// Reads data and moves `cons`.
    Consumer,
}

/// One side of a ring in a mapped page (see the module documentation).
#[derive(Debug)]
pub struct Ring {
    page: *mut u8,
    layout: Layout,
    side: Side,
    /// Our index, never read back from the page.
    own: u32,
}

impl Ring {
    /// The `side` of the ring `layout` in the page mapped at `page`,
    /// starting from our index as the page holds it now.
    ///
    /// # Safety
    ///
    /// `page` must be a writable mapping of one 4 KiB page that stays
    /// mapped while the ring is used, and `layout` must lie inside it.
    #[must_use]
    pub unsafe fn attach(page: *mut u8, layout: Layout, side: Side) -> Self {
        let mut ring = Self { page, layout, side, own: 0 };
        ring.own = ring.load(ring.own_offset());
        ring
    }

    const fn own_offset(&self) -> usize {
        match self.side {
            Side::Producer => self.layout.prod,
            Side::Consumer => self.layout.cons,
        }
    }

    const fn peer_offset(&self) -> usize {
        match self.side {
            Side::Producer => self.layout.cons,
            Side::Consumer => self.layout.prod,
        }
    }

    fn load(&self, offset: usize) -> u32 {
        // SAFETY: `attach`'s contract: the index lies in the mapped page;
        // the peer may write it at any time, hence the volatile read.
        unsafe { self.page.wrapping_add(offset).cast::<u32>().read_volatile() }
    }

    fn store(&self, offset: usize, value: u32) {
        // SAFETY: as for `load`; the page is writable.
        unsafe { self.page.wrapping_add(offset).cast::<u32>().write_volatile(value) }
    }

    fn data_at(&self, index: u32) -> *mut u8 {
        let masked = index & self.layout.size.wrapping_sub(1);
        self.page.wrapping_add(self.layout.data).wrapping_add(masked as usize)
    }

    /// Bytes between the two indices (unread data for a consumer, used
    /// space for a producer).
    ///
    /// # Errors
    /// [`Corrupt`] if the peer's index is more than `size` away.
    pub fn pending(&self) -> Result<u32, Corrupt> {
        let peer = self.load(self.peer_offset());
        let n = match self.side {
            Side::Producer => self.own.wrapping_sub(peer),
            Side::Consumer => peer.wrapping_sub(self.own),
        };
        fence(Ordering::Acquire);
        if n > self.layout.size { Err(Corrupt) } else { Ok(n) }
    }

    /// Producer: bytes that fit now.
    ///
    /// # Errors
    /// [`Corrupt`] as for [`Ring::pending`].
    pub fn space(&self) -> Result<u32, Corrupt> {
        self.pending().map(|used| self.layout.size.saturating_sub(used))
    }

    /// Producer: writes as much of `bytes` as fits; returns how much.
    ///
    /// # Errors
    /// [`Corrupt`] as for [`Ring::pending`] (nothing written).
    pub fn write(&mut self, bytes: &[u8]) -> Result<usize, Corrupt> {
        let room = self.space()? as usize;
        let n = bytes.len().min(room);
        for (i, &b) in (0u32..).zip(bytes.iter().take(n)) {
            // SAFETY: `data_at` masks the index into the data area of the
            // mapped page (`attach`'s contract).
            unsafe { self.data_at(self.own.wrapping_add(i)).write_volatile(b) };
        }
        fence(Ordering::Release);
        self.own = self.own.wrapping_add(u32::try_from(n).unwrap_or(0));
        self.store(self.own_offset(), self.own);
        Ok(n)
    }

    /// Consumer: reads up to `out.len()` bytes; returns how many.
    ///
    /// # Errors
    /// [`Corrupt`] as for [`Ring::pending`] (nothing read).
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, Corrupt> {
        let avail = self.pending()? as usize;
        let n = out.len().min(avail);
        for (i, slot) in (0u32..).zip(out.iter_mut().take(n)) {
            // SAFETY: as in `write`.
            *slot = unsafe { self.data_at(self.own.wrapping_add(i)).read_volatile() };
        }
        fence(Ordering::SeqCst);
        self.own = self.own.wrapping_add(u32::try_from(n).unwrap_or(0));
        self.store(self.own_offset(), self.own);
        Ok(n)
    }
}

/// The console's `out` ring (guest → backend).
pub const CONSOLE_OUT: Layout = Layout {
    data: core::mem::offset_of!(guest_abi::io::XenconsInterface, output),
    size: guest_abi::io::XENCONS_OUT_SIZE,
    cons: core::mem::offset_of!(guest_abi::io::XenconsInterface, out_cons),
    prod: core::mem::offset_of!(guest_abi::io::XenconsInterface, out_prod),
};

/// `XENSTORE_RING_SIZE` as the ring indices' type.
const XENSTORE_RING_SIZE: u32 = 1024;
const _: () = assert!(XENSTORE_RING_SIZE as usize == guest_abi::io::XENSTORE_RING_SIZE);

/// The xenstore request ring (guest → store).
pub const XENSTORE_REQ: Layout = Layout {
    data: core::mem::offset_of!(guest_abi::io::XenstoreDomainInterface, req),
    size: XENSTORE_RING_SIZE,
    cons: core::mem::offset_of!(guest_abi::io::XenstoreDomainInterface, req_cons),
    prod: core::mem::offset_of!(guest_abi::io::XenstoreDomainInterface, req_prod),
};

/// The xenstore response ring (store → guest).
pub const XENSTORE_RSP: Layout = Layout {
    data: core::mem::offset_of!(guest_abi::io::XenstoreDomainInterface, rsp),
    size: XENSTORE_RING_SIZE,
    cons: core::mem::offset_of!(guest_abi::io::XenstoreDomainInterface, rsp_cons),
    prod: core::mem::offset_of!(guest_abi::io::XenstoreDomainInterface, rsp_prod),
};
