// SPDX-License-Identifier: GPL-2.0-only
//! The daemon's state machine driven by messages, as a client would.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod domains;
mod fuzz;
mod quotas;
mod transactions;
mod tree;
mod watches;

use std::collections::HashMap;

use guest_abi::io::xs_wire::{XsdError, XsdSockmsgType as T};
use guest_abi::xen::DomId;

use super::{ConnId, Xenstored};
use crate::quota::Quota;
use crate::wire::Message;

/// A daemon with helpers that send requests and sort replies from events.
struct Harness {
    d: Xenstored,
    next_req: u32,
    events: HashMap<ConnId, Vec<(String, String)>>,
}

impl Harness {
    fn new() -> Self {
        Self::with_quota(Quota::default())
    }

    fn with_quota(quota: Quota) -> Self {
        Self { d: Xenstored::new(quota), next_req: 1, events: HashMap::new() }
    }

    fn conn(&mut self, domid: u16) -> ConnId {
        self.d.connect(DomId(domid))
    }

    /// Sends a raw request; returns its reply payload or error.
    fn raw(&mut self, c: ConnId, ty: u32, tx: u32, payload: &[u8]) -> Result<Vec<u8>, XsdError> {
        let req_id = self.next_req;
        self.next_req += 1;
        let msg = Message { ty, req_id, tx_id: tx, payload: payload.to_vec() };
        self.d.handle(c, msg);
        let mut reply = None;
        for id in self.d.conns.keys().copied().collect::<Vec<_>>() {
            while let Some(out) = self.d.pop_output(id) {
                if out.ty == T::WatchEvent.raw() {
                    assert_eq!((out.req_id, out.tx_id), (0, 0));
                    let parts: Vec<String> = out
                        .payload
                        .strip_suffix(&[0])
                        .unwrap()
                        .split(|&b| b == 0)
                        .map(|s| String::from_utf8(s.to_vec()).unwrap())
                        .collect();
                    assert_eq!(parts.len(), 2);
                    self.events.entry(id).or_default().push((parts[0].clone(), parts[1].clone()));
                } else {
                    assert_eq!(id, c, "a reply went to another connection");
                    assert_eq!(out.req_id, req_id);
                    assert!(reply.is_none(), "two replies");
                    reply = Some(out);
                }
            }
        }
        let reply = reply.expect("no reply");
        match reply.as_error() {
            Some(err) => Err(err),
            None => {
                assert_eq!(reply.ty, ty);
                Ok(reply.payload)
            }
        }
    }

    fn req(&mut self, c: ConnId, ty: T, tx: u32, args: &[&str]) -> Result<Vec<u8>, XsdError> {
        let msg =
            Message::request(ty, 0, tx, &args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
        self.raw(c, ty.raw(), tx, &msg.payload)
    }

    fn ok(&mut self, c: ConnId, ty: T, tx: u32, args: &[&str]) {
        assert_eq!(self.req(c, ty, tx, args), Ok(b"OK\0".to_vec()), "{ty:?} {args:?}");
    }

    fn write(&mut self, c: ConnId, tx: u32, path: &str, value: &str) -> Result<Vec<u8>, XsdError> {
        let mut payload = path.as_bytes().to_vec();
        payload.push(0);
        payload.extend_from_slice(value.as_bytes());
        self.raw(c, T::Write.raw(), tx, &payload)
    }

    fn read(&mut self, c: ConnId, tx: u32, path: &str) -> Result<String, XsdError> {
        self.req(c, T::Read, tx, &[path]).map(|v| String::from_utf8(v).unwrap())
    }

    fn dir(&mut self, c: ConnId, path: &str) -> Result<Vec<String>, XsdError> {
        let raw = self.req(c, T::Directory, 0, &[path])?;
        Ok(raw
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect())
    }

    fn perms(&mut self, c: ConnId, path: &str) -> Result<Vec<u8>, XsdError> {
        self.req(c, T::GetPerms, 0, &[path])
    }

    fn start(&mut self, c: ConnId) -> u32 {
        let raw = self.req(c, T::TransactionStart, 0, &[""]).unwrap();
        std::str::from_utf8(raw.strip_suffix(&[0]).unwrap()).unwrap().parse().unwrap()
    }

    fn end(&mut self, c: ConnId, tx: u32, commit: bool) -> Result<Vec<u8>, XsdError> {
        self.req(c, T::TransactionEnd, tx, &[if commit { "T" } else { "F" }])
    }

    /// Takes the events delivered to `c` so far.
    fn take_events(&mut self, c: ConnId) -> Vec<(String, String)> {
        self.events.remove(&c).unwrap_or_default()
    }
}
