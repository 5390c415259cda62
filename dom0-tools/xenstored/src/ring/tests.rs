// SPDX-License-Identifier: GPL-2.0-only
//! The ring logic against a guest simulated on a [`VecPage`].
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use guest_abi::io::xs_wire::{XsdError, XsdSockmsgType as T};
use guest_abi::xen::DomId;

use super::*;
use crate::wire::Message;

/// The guest's half: produce requests, consume responses.
fn guest_send(page: &mut VecPage, bytes: &[u8]) -> usize {
    let cons = page.load(field::REQ_CONS);
    let mut prod = page.load(field::REQ_PROD);
    let room = XENSTORE_RING_SIZE - prod.wrapping_sub(cons) as usize;
    let n = room.min(bytes.len());
    for &b in &bytes[..n] {
        page.set_byte(field::REQ + mask_xenstore_idx(prod), b);
        prod = prod.wrapping_add(1);
    }
    page.store(field::REQ_PROD, prod);
    n
}

fn guest_receive(page: &mut VecPage, dec: &mut Decoder) -> Vec<Message> {
    let mut cons = page.load(field::RSP_CONS);
    let prod = page.load(field::RSP_PROD);
    let mut bytes = Vec::new();
    while cons != prod {
        bytes.push(page.byte(field::RSP + mask_xenstore_idx(cons)));
        cons = cons.wrapping_add(1);
    }
    page.store(field::RSP_CONS, cons);
    dec.push(&bytes);
    let mut out = Vec::new();
    while let Some(m) = dec.next_message().unwrap() {
        out.push(m);
    }
    out
}

fn setup(start_index: u32) -> (Xenstored, RingConn<VecPage>) {
    let mut daemon = Xenstored::default();
    let dom0 = daemon.connect(DomId(0));
    daemon.handle(dom0, Message::request(T::Write, 1, 0, &[b"/local/domain/3"]));
    daemon.handle(dom0, Message::request(T::SetPerms, 2, 0, &[b"/local/domain/3", b"n3"]));
    let id = daemon.connect(DomId(3));
    let mut page = VecPage::default();
    for f in [field::REQ_CONS, field::REQ_PROD, field::RSP_CONS, field::RSP_PROD] {
        page.store(f, start_index);
    }
    (daemon, RingConn::new(page, id))
}

#[test]
fn requests_and_replies_cross_the_ring_and_wrap() {
    // Start near the end of the index space so that both the ring offsets
    // and the u32 indexes wrap.
    let (mut daemon, mut conn) = setup(u32::MAX - 5);
    assert_eq!(conn.page.load(field::SERVER_FEATURES), XENSTORE_SERVER_FEATURE_ERROR);
    let mut dec = Decoder::default();
    let value = vec![b'v'; 700];
    let mut write = b"data/x\0".to_vec();
    write.extend_from_slice(&value);
    let requests = [
        Message::new(T::Write, 10, 0, write),
        Message::request(T::Read, 11, 0, &[b"data/x"]),
        Message::request(T::Read, 12, 0, &[b"/tool"]),
    ];
    let mut replies = Vec::new();
    for req in &requests {
        let bytes = req.encode();
        let mut sent = 0;
        while sent < bytes.len() {
            sent += guest_send(&mut conn.page, &bytes[sent..]);
            conn.pump(&mut daemon).unwrap();
            replies.extend(guest_receive(&mut conn.page, &mut dec));
        }
    }
    for _ in 0..3 {
        conn.pump(&mut daemon).unwrap();
        replies.extend(guest_receive(&mut conn.page, &mut dec));
    }
    assert_eq!(replies.len(), 3);
    assert_eq!(replies[0].payload, b"OK\0");
    assert_eq!((replies[1].req_id, &replies[1].payload), (11, &value));
    assert_eq!(replies[2].as_error(), Some(XsdError::EACCES));
    assert_eq!(conn.page.load(field::ERROR), 0);
}

#[test]
fn a_full_response_ring_holds_output_back() {
    let (mut daemon, mut conn) = setup(0);
    let mut write = b"data/big\0".to_vec();
    write.extend(vec![b'z'; 900]);
    guest_send(&mut conn.page, &Message::new(T::Write, 1, 0, write).encode());
    conn.pump(&mut daemon).unwrap();
    let mut dec = Decoder::default();
    assert_eq!(guest_receive(&mut conn.page, &mut dec).len(), 1);
    // Two 900-byte replies do not fit the 1024-byte ring at once.
    for id in [2, 3] {
        guest_send(&mut conn.page, &Message::request(T::Read, id, 0, &[b"data/big"]).encode());
        conn.pump(&mut daemon).unwrap();
    }
    assert_eq!(conn.page.load(field::RSP_PROD).wrapping_sub(conn.page.load(field::RSP_CONS)), 1024);
    let mut got = guest_receive(&mut conn.page, &mut dec);
    conn.pump(&mut daemon).unwrap();
    got.extend(guest_receive(&mut conn.page, &mut dec));
    let ids: Vec<u32> = got.iter().map(|m| m.req_id).collect();
    assert_eq!(ids, [2, 3]);
}

#[test]
fn broken_indexes_and_oversized_messages_are_ring_errors() {
    let (mut daemon, mut conn) = setup(0);
    conn.page.store(field::REQ_PROD, 5000);
    assert_eq!(conn.pump(&mut daemon), Err(RingError::RingIdx));
    assert_eq!(conn.page.load(field::ERROR), XENSTORE_ERROR_RINGIDX);

    let (mut daemon, mut conn) = setup(0);
    let mut header = Message::request(T::Read, 1, 0, &[]).encode();
    header[12..16].copy_from_slice(&5000u32.to_ne_bytes());
    guest_send(&mut conn.page, &header);
    assert_eq!(conn.pump(&mut daemon), Err(RingError::Proto));
    assert_eq!(conn.page.load(field::ERROR), XENSTORE_ERROR_PROTO);
}

/// A guest that produces another request every time the daemon looks at
/// its producer index, as one racing on another CPU could.
#[derive(Debug, Default)]
struct FloodPage {
    page: VecPage,
    sent: u32,
}

impl RingPage for FloodPage {
    fn load(&self, offset: usize) -> u32 {
        self.page.load(offset)
    }
    fn store(&mut self, offset: usize, value: u32) {
        self.page.store(offset, value);
        if offset == field::REQ_CONS {
            self.sent += 1;
            let req = Message::request(T::Read, self.sent, 0, &[b"name"]).encode();
            guest_send(&mut self.page, &req);
            // Replies are consumed at once.
            let prod = self.page.load(field::RSP_PROD);
            self.page.store(field::RSP_CONS, prod);
        }
    }
    fn byte(&self, offset: usize) -> u8 {
        self.page.byte(offset)
    }
    fn set_byte(&mut self, offset: usize, value: u8) {
        self.page.set_byte(offset, value);
    }
}

#[test]
fn a_guest_that_never_stops_cannot_hold_the_daemon() {
    let (mut daemon, conn) = setup(0);
    let mut flood = RingConn::new(FloodPage::default(), conn.id);
    flood.page.store(field::REQ_CONS, 0);
    assert!(flood.pump(&mut daemon).unwrap());
    assert!(flood.has_more(), "the pump stopped early and says so");
    assert!(flood.page.sent as usize >= PUMP_ROUNDS);
    // A quiet guest leaves nothing behind.
    let (mut daemon, mut quiet) = setup(0);
    guest_send(&mut quiet.page, &Message::request(T::Read, 1, 0, &[b"name"]).encode());
    quiet.pump(&mut daemon).unwrap();
    assert!(!quiet.has_more());
}
