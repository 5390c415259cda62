// SPDX-License-Identifier: GPL-2.0-only
//! Transactions: isolation, commit, abort, conflicts (`EAGAIN`), ids.
#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn changes_are_private_until_commit() {
    let mut h = Harness::new();
    let a = h.conn(0);
    let b = h.conn(0);
    h.write(a, 0, "/v", "old").unwrap();
    h.ok(b, T::Watch, 0, &["/v", "w"]);
    h.take_events(b);
    let tx = h.start(a);
    h.write(a, tx, "/v", "new").unwrap();
    h.write(a, tx, "/v/child/deep", "x").unwrap();
    assert_eq!(h.read(a, tx, "/v").unwrap(), "new");
    assert_eq!(h.read(a, 0, "/v").unwrap(), "old");
    assert_eq!(h.read(b, 0, "/v/child"), Err(XsdError::ENOENT));
    assert!(h.take_events(b).is_empty(), "events wait for the commit");
    h.end(a, tx, true).unwrap();
    assert_eq!(h.read(b, 0, "/v").unwrap(), "new");
    assert_eq!(h.read(b, 0, "/v/child/deep").unwrap(), "x");
    assert_eq!(h.take_events(b), [("/v".into(), "w".into()), ("/v/child/deep".into(), "w".into())]);
    assert_eq!(h.end(a, tx, true), Err(XsdError::ENOENT));
}

#[test]
fn abort_drops_the_changes() {
    let mut h = Harness::new();
    let a = h.conn(0);
    let tx = h.start(a);
    h.write(a, tx, "/t", "1").unwrap();
    h.ok(a, T::TransactionEnd, tx, &["F"]);
    assert_eq!(h.read(a, 0, "/t"), Err(XsdError::ENOENT));
}

#[test]
fn a_conflicting_commit_is_eagain() {
    let mut h = Harness::new();
    let a = h.conn(0);
    let b = h.conn(0);
    h.write(a, 0, "/c", "0").unwrap();
    // Read in the transaction, written outside: conflict.
    let tx = h.start(a);
    assert_eq!(h.read(a, tx, "/c").unwrap(), "0");
    h.write(a, tx, "/other", "1").unwrap();
    h.write(b, 0, "/c", "1").unwrap();
    assert_eq!(h.end(a, tx, true), Err(XsdError::EAGAIN));
    assert_eq!(h.read(a, 0, "/other"), Err(XsdError::ENOENT));
    // A node the transaction found missing, created outside: conflict.
    let tx = h.start(a);
    assert_eq!(h.read(a, tx, "/late"), Err(XsdError::ENOENT));
    h.write(b, 0, "/late", "x").unwrap();
    assert_eq!(h.end(a, tx, true), Err(XsdError::EAGAIN));
    // Untouched nodes changing does not conflict.
    let tx = h.start(a);
    h.write(a, tx, "/c/mine", "1").unwrap();
    h.write(b, 0, "/unrelated", "x").unwrap();
    h.end(a, tx, true).unwrap();
    assert_eq!(h.read(b, 0, "/c/mine").unwrap(), "1");
    // Two transactions writing the same node: the second loses.
    let t1 = h.start(a);
    let t2 = h.start(b);
    h.write(a, t1, "/c", "t1").unwrap();
    h.write(b, t2, "/c", "t2").unwrap();
    h.end(a, t1, true).unwrap();
    assert_eq!(h.end(b, t2, true), Err(XsdError::EAGAIN));
    assert_eq!(h.read(a, 0, "/c").unwrap(), "t1");
}

#[test]
fn rm_in_a_transaction_conflicts_with_a_new_child() {
    let mut h = Harness::new();
    let a = h.conn(0);
    let b = h.conn(0);
    h.write(a, 0, "/d/x", "").unwrap();
    let tx = h.start(a);
    h.ok(a, T::Rm, tx, &["/d"]);
    h.write(b, 0, "/d/y", "").unwrap();
    assert_eq!(h.end(a, tx, true), Err(XsdError::EAGAIN));
    let tx = h.start(a);
    h.ok(a, T::Rm, tx, &["/d"]);
    h.end(a, tx, true).unwrap();
    assert_eq!(h.d.store().len(), 3);
}

#[test]
fn transaction_ids_belong_to_their_connection() {
    let mut h = Harness::new();
    let a = h.conn(0);
    let b = h.conn(0);
    let tx = h.start(a);
    assert_ne!(tx, 0);
    assert_eq!(h.read(b, tx, "/tool"), Err(XsdError::ENOENT));
    assert_eq!(h.read(a, tx + 100, "/tool"), Err(XsdError::ENOENT));
    assert_eq!(h.req(a, T::TransactionStart, tx, &[""]), Err(XsdError::EBUSY));
    assert_eq!(h.req(a, T::TransactionEnd, tx, &["X"]), Err(XsdError::EINVAL));
    assert_eq!(h.req(a, T::TransactionEnd, 0, &["T"]), Err(XsdError::ENOENT));
    let tx2 = h.start(a);
    assert_ne!(tx, tx2);
    assert_eq!(h.req(a, T::GetDomainPath, tx + 100, &["1"]), Err(XsdError::ENOENT));
    assert_eq!(h.req(a, T::GetDomainPath, tx, &["1"]), Ok(b"/local/domain/1\0".to_vec()));
    // Watches ignore the transaction id.
    h.ok(a, T::Watch, 999, &["/w", "t"]);
    h.end(a, tx, false).unwrap();
    h.end(a, tx2, false).unwrap();
}
