// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of `GNTTABOP_transfer`: the frame leaves dom0's accounting
//! and joins the domU's, the M2P and the accepting entry are updated, and
//! every refusal has Xen's status (a frame taken from dom0 before the
//! refusal is freed, not leaked).

use guest_abi::grant_table::{
    GTF_accept_transfer, GTF_transfer_committed, GTF_transfer_completed, GnttabTransfer,
};

use super::*;
use crate::mm::pv::M2p;

/// A frame of dom0's that nothing maps (only its allocation reference).
const GIFT: Mfn = Mfn(33);

fn transfer(f: &mut Fixture, mfn: Mfn, domid: DomId, gref: u32) -> i16 {
    let t = GnttabTransfer { mfn: mfn.0, domid, gref: GrantRef(gref), status: 99, ..Z() };
    f.poke(BUF, bytemuck::bytes_of(&t));
    assert_eq!(op(f, 4, 1), 0);
    bytemuck::pod_read_unaligned::<GnttabTransfer>(&f.peek(BUF, 24)).status
}

fn gift(f: &mut Fixture, mfn: Mfn) {
    f.frames.assign(mfn, DomId(0)).unwrap();
    f.dom.tot_pages += 1;
    f.mem.write_bytes(mfn, 0, b"a page flipped");
}

fn du_pages(f: &Fixture) -> u64 {
    f.domains.get(DU).unwrap().lock().tot_pages
}

#[test]
fn transfer_moves_the_frame_with_its_accounting() {
    let mut f = setup();
    {
        let cell = f.domains.get(DU).unwrap();
        let mut du = cell.lock();
        du.tot_pages = 3;
        du.max_pages = 4;
    }
    gift(&mut f, GIFT);
    let d0_pages = f.dom.tot_pages;
    // The domU accepts a page into its PFN 0x77 at ref 5.
    grant(&mut f, 5, GTF_accept_transfer, DomId(0), Mfn(0x77));
    assert_eq!(transfer(&mut f, GIFT, DU, 5), 0);
    assert_eq!(f.frames.owner(GIFT), Some(DU));
    assert_eq!(counts(&f, GIFT), (1, 0), "only the new owner's allocation reference");
    assert_eq!((f.dom.tot_pages, du_pages(&f)), (d0_pages - 1, 4));
    assert_eq!(f.m2p.get_gpfn_from_mfn(GIFT), 0x77);
    let done = GTF_accept_transfer | GTF_transfer_committed | GTF_transfer_completed;
    assert_eq!(gflags(&f, 5), done);
    assert_eq!(f.mem.read_u64(DU_GNT, 5) >> 32, GIFT.0, "the entry names the frame");
    let mut b = [0u8; 14];
    f.mem.read_bytes(GIFT, 0, &mut b);
    assert_eq!(&b, b"a page flipped", "contents travel");
    assert!(!f.platform.freed.contains(&GIFT));
    audit_ok(&f);

    // Frames dom0 cannot give: a mapped one, its shared info, none at
    // all, someone else's: bad page, nothing changes.
    let mapped = Mfn(frames::DATA + 1);
    let before = counts(&f, mapped);
    grant(&mut f, 6, GTF_accept_transfer, DomId(0), Mfn(0x78));
    assert_eq!(transfer(&mut f, mapped, DU, 6), GntSt::BadPage.raw());
    assert_eq!(counts(&f, mapped), before);
    assert_eq!(transfer(&mut f, frames::SHARED_INFO, DU, 6), GntSt::BadPage.raw());
    assert_eq!(transfer(&mut f, Mfn(1 << 40), DU, 6), GntSt::BadPage.raw());
    assert_eq!(transfer(&mut f, GIFT, DU, 6), GntSt::BadPage.raw(), "no longer dom0's");
    assert_eq!(gflags(&f, 6), GTF_accept_transfer);

    // Refusals after the frame left dom0: it is freed (scrubbed), not
    // leaked. The receiver is full (4 of 4 pages).
    let cases: [(Mfn, DomId, u32, GntSt); 6] = [
        (Mfn(34), DU, 6, GntSt::GeneralError),
        (Mfn(35), DomId(9), 6, GntSt::BadDomain),
        (Mfn(32), DomId::SELF, 6, GntSt::BadDomain),
        (Mfn(36), DU, 3, GntSt::GeneralError),
        (Mfn(37), DU, 600, GntSt::GeneralError),
        (Mfn(38), DU, 6, GntSt::GeneralError),
    ];
    for (i, (m, dom, gref, want)) in cases.into_iter().enumerate() {
        if i == 3 {
            f.domains.get(DU).unwrap().lock().max_pages = 100;
            grant(&mut f, 3, GTF_permit_access, DomId(0), DU_DATA);
        }
        if i == 5 {
            grant(&mut f, 6, GTF_accept_transfer, DomId(7), Mfn(0x78));
        }
        gift(&mut f, m);
        let pages = f.dom.tot_pages;
        assert_eq!(transfer(&mut f, m, dom, gref), want.raw(), "case {i}");
        assert_eq!(f.frames.owner(m), None, "case {i}: freed");
        assert!(f.platform.freed.contains(&m), "case {i}: back to the allocator");
        assert_eq!(f.dom.tot_pages, pages - 1, "case {i}");
        assert_eq!(f.mem.read_u8(m, 0), 0, "case {i}: scrubbed");
    }
    assert_eq!(du_pages(&f), 4);
    assert_eq!(gflags(&f, 6) & (GTF_transfer_committed | GTF_transfer_completed), 0);
    audit_ok(&f);

    // gnttab=no-transfer: the whole operation is -EOPNOTSUPP.
    f.platform.gnttab.transfer = false;
    let t = GnttabTransfer { mfn: 40, domid: DU, gref: GrantRef(6), ..Z() };
    f.poke(BUF, bytemuck::bytes_of(&t));
    assert_eq!(op(&mut f, 4, 1), -i64::from(Errno::EOPNOTSUPP.raw()));
}
