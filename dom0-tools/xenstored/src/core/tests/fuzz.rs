// SPDX-License-Identifier: GPL-2.0-only
//! Random and malformed messages are answered, never a crash.
#![allow(clippy::unwrap_used, clippy::arithmetic_side_effects, clippy::cast_possible_truncation)]

use super::*;
use crate::core::ConnId;
use crate::wire::Decoder;

/// xorshift64*, seeded: the run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&[u8]] = &[
    b"/",
    b"/a",
    b"/a/b",
    b"a",
    b"@introduceDomain",
    b"@releaseDomain",
    b"T",
    b"F",
    b"0",
    b"1",
    b"7",
    b"n0",
    b"r1",
    b"b7",
    b"w",
    b"",
    b"/local/domain/1",
    b"../x",
    b"//",
    b"\xff",
];

fn random_payload(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    match rng.below(3) {
        0 => {
            let len = rng.below(64) as usize;
            out.extend((0..len).map(|_| rng.next() as u8));
        }
        _ => {
            for _ in 0..rng.below(5) {
                out.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize]);
                if rng.below(8) != 0 {
                    out.push(0);
                }
            }
        }
    }
    out
}

#[test]
fn random_requests_always_get_one_reply() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut h = Harness::new();
    let conns = [h.conn(0), h.conn(1), h.conn(2)];
    for round in 0..20_000u32 {
        let c = conns[rng.below(3) as usize];
        let ty = if rng.below(10) == 0 { rng.next() as u32 } else { rng.below(24) as u32 };
        let tx = if rng.below(4) == 0 { rng.below(4) as u32 } else { 0 };
        let payload = random_payload(&mut rng);
        h.d.handle(c, Message { ty, req_id: round, tx_id: tx, payload });
        let mut replies = 0;
        while let Some(out) = h.d.pop_output(c) {
            if out.ty != T::WatchEvent.raw() {
                assert_eq!(out.req_id, round);
                replies += 1;
            }
        }
        if !h.d.is_closed(c) {
            assert_eq!(replies, 1, "round {round}");
        }
        for other in conns {
            while h.d.pop_output(other).is_some() {}
        }
        if round % 500 == 0 {
            h.d.store().check().unwrap();
        }
    }
    h.d.store().check().unwrap();
}

/// Valid operations from several connections, many of them in
/// transactions that commit or abort at random: after every step the tree
/// is whole (parents and children agree, owner counts are right), and both
/// commits and conflicts happen.
#[test]
fn random_transactions_keep_the_tree_whole() {
    const PATHS: &[&str] =
        &["/a", "/a/b", "/a/b/c", "/a/d", "/e", "/e/f", "/e/f/g", "/local/domain/1/x"];
    let mut rng = Rng(7);
    let mut h = Harness::new();
    let conns = [h.conn(0), h.conn(0), h.conn(0), h.conn(1)];
    let mut open: Vec<(ConnId, u32)> = Vec::new();
    let (mut commits, mut conflicts) = (0, 0);
    for _ in 0..5_000 {
        let c = conns[rng.below(conns.len() as u64) as usize];
        let tx = match open.iter().find(|(oc, _)| *oc == c) {
            Some(&(_, tx)) if rng.below(2) == 0 => tx,
            _ => 0,
        };
        let path = PATHS[rng.below(PATHS.len() as u64) as usize];
        match rng.below(7) {
            0 | 1 => drop(h.write(c, tx, path, &rng.next().to_string())),
            2 => drop(h.read(c, tx, path)),
            3 => drop(h.req(c, T::Rm, tx, &[path])),
            4 => drop(h.req(c, T::Mkdir, tx, &[path])),
            5 if tx == 0 => {
                if let Ok(raw) = h.req(c, T::TransactionStart, 0, &[""]) {
                    let id = std::str::from_utf8(&raw[..raw.len() - 1]).unwrap().parse().unwrap();
                    open.push((c, id));
                }
            }
            _ if tx != 0 => {
                open.retain(|&(oc, ot)| (oc, ot) != (c, tx));
                match h.end(c, tx, rng.below(4) != 0) {
                    Ok(_) => commits += 1,
                    Err(XsdError::EAGAIN) => conflicts += 1,
                    Err(e) => panic!("transaction end: {e:?}"),
                }
            }
            _ => {}
        }
        h.d.store().check().unwrap();
    }
    assert!(commits > 50 && conflicts > 10, "{commits} commits, {conflicts} conflicts");
}

#[test]
fn random_bytes_never_break_the_decoder() {
    let mut rng = Rng(42);
    for _ in 0..2_000 {
        let mut dec = Decoder::default();
        let len = rng.below(200) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        dec.push(&bytes);
        while let Ok(Some(msg)) = dec.next_message() {
            assert!(msg.payload.len() <= 4096);
        }
    }
}

#[test]
fn unknown_types_are_enosys() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    for ty in [15, 16, 20, 23, 0xffff, 12345] {
        assert_eq!(h.raw(d0, ty, 0, b""), Err(XsdError::ENOSYS), "{ty}");
    }
}
