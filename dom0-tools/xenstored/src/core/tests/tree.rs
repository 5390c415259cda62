// SPDX-License-Identifier: GPL-2.0-only
//! Reads, writes, directories, removal and permissions.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

#[test]
fn initial_tree_is_xens() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    assert_eq!(h.dir(d0, "/").unwrap(), ["tool"]);
    assert_eq!(h.dir(d0, "/tool").unwrap(), ["xenstored"]);
    assert_eq!(h.perms(d0, "/").unwrap(), b"n0\0");
}

#[test]
fn write_creates_parents_and_read_returns_the_value() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    assert_eq!(h.write(d0, 0, "/a/b/c", "hello\0world"), Ok(b"OK\0".to_vec()));
    assert_eq!(h.read(d0, 0, "/a/b/c").unwrap(), "hello\0world");
    assert_eq!(h.read(d0, 0, "/a/b").unwrap(), "");
    assert_eq!(h.dir(d0, "/a").unwrap(), ["b"]);
    assert_eq!(h.read(d0, 0, "/a/x"), Err(XsdError::ENOENT));
    h.write(d0, 0, "/a/b/c", "").unwrap();
    assert_eq!(h.read(d0, 0, "/a/b/c").unwrap(), "");
}

#[test]
fn mkdir_is_idempotent_and_rm_is_recursive() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    h.ok(d0, T::Mkdir, 0, &["/a/b"]);
    h.write(d0, 0, "/a/b", "v").unwrap();
    h.ok(d0, T::Mkdir, 0, &["/a/b"]);
    assert_eq!(h.read(d0, 0, "/a/b").unwrap(), "v");
    h.write(d0, 0, "/a/b/c/d", "x").unwrap();
    h.ok(d0, T::Rm, 0, &["/a/b"]);
    assert_eq!(h.read(d0, 0, "/a/b/c/d"), Err(XsdError::ENOENT));
    assert_eq!(h.dir(d0, "/a").unwrap(), Vec::<String>::new());
    // Removing a missing node is fine if its parent exists.
    h.ok(d0, T::Rm, 0, &["/a/b"]);
    assert_eq!(h.req(d0, T::Rm, 0, &["/nope/b"]), Err(XsdError::ENOENT));
    assert_eq!(h.req(d0, T::Rm, 0, &["/"]), Err(XsdError::EINVAL));
    assert_eq!(h.d.store().len(), 4);
}

#[test]
fn invalid_names_are_einval() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    for bad in ["/a/", "/a//b", "/a b", "/a.b"] {
        assert_eq!(h.read(d0, 0, bad), Err(XsdError::EINVAL), "{bad}");
        assert_eq!(h.write(d0, 0, bad, "x"), Err(XsdError::EINVAL), "{bad}");
    }
    assert_eq!(h.raw(d0, T::Read.raw(), 0, b"/a"), Err(XsdError::EINVAL));
    assert_eq!(h.raw(d0, T::Write.raw(), 0, b"/a"), Err(XsdError::EINVAL));
}

#[test]
fn relative_paths_resolve_against_the_domains_home() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let d3 = h.conn(3);
    h.write(d0, 0, "/local/domain/3", "").unwrap();
    h.ok(d0, T::SetPerms, 0, &["/local/domain/3", "n3"]);
    h.write(d3, 0, "data/x", "1").unwrap();
    assert_eq!(h.read(d0, 0, "/local/domain/3/data/x").unwrap(), "1");
    assert_eq!(h.read(d3, 0, "data/x").unwrap(), "1");
    h.write(d0, 0, "name", "dom0").unwrap();
    assert_eq!(h.read(d0, 0, "/local/domain/0/name").unwrap(), "dom0");
    assert_eq!(h.req(d3, T::GetDomainPath, 0, &["3"]), Ok(b"/local/domain/3\0".to_vec()));
    assert_eq!(h.req(d3, T::GetDomainPath, 0, &["x"]), Err(XsdError::EINVAL));
}

#[test]
fn permissions_follow_xen() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let d1 = h.conn(1);
    let d2 = h.conn(2);
    h.write(d0, 0, "/local/domain/1/x", "secret").unwrap();
    // n0 inherited: a domU may not read, nor learn that it exists.
    assert_eq!(h.read(d1, 0, "/local/domain/1/x"), Err(XsdError::EACCES));
    assert_eq!(h.read(d1, 0, "/local/domain/1/y"), Err(XsdError::EACCES));
    h.ok(d0, T::SetPerms, 0, &["/local/domain/1", "n1", "r2"]);
    // The owner has every right; the listed domain its entry's.
    h.write(d1, 0, "/local/domain/1/mine", "a").unwrap();
    assert_eq!(h.perms(d0, "/local/domain/1/mine").unwrap(), b"n1\0r2\0");
    assert_eq!(h.read(d1, 0, "/local/domain/1/y"), Err(XsdError::ENOENT));
    assert_eq!(h.read(d2, 0, "/local/domain/1/mine").unwrap(), "a");
    assert_eq!(h.write(d2, 0, "/local/domain/1/mine", "b"), Err(XsdError::EACCES));
    assert_eq!(h.write(d2, 0, "/local/domain/1/new", "b"), Err(XsdError::EACCES));
    // Dom0 creating below keeps the parent's owner.
    h.write(d0, 0, "/local/domain/1/by0", "").unwrap();
    assert_eq!(h.perms(d0, "/local/domain/1/by0").unwrap(), b"n1\0r2\0");
    // Only the owner may change permissions, and not give the node away.
    assert_eq!(h.req(d2, T::SetPerms, 0, &["/local/domain/1/mine", "b2"]), Err(XsdError::EACCES));
    assert_eq!(h.req(d1, T::SetPerms, 0, &["/local/domain/1/mine", "n2"]), Err(XsdError::EPERM));
    h.ok(d1, T::SetPerms, 0, &["/local/domain/1/mine", "n1", "b2"]);
    h.write(d2, 0, "/local/domain/1/mine/sub", "c").unwrap();
    assert_eq!(h.perms(d0, "/local/domain/1/mine/sub").unwrap(), b"n2\0b2\0");
    assert_eq!(h.req(d0, T::SetPerms, 0, &["/local/domain/1/mine", "z1"]), Err(XsdError::EINVAL));
    assert_eq!(h.req(d0, T::SetPerms, 0, &["/local/domain/1/mine"]), Err(XsdError::EINVAL));
    // A domU may remove only what it may write.
    assert_eq!(h.req(d2, T::Rm, 0, &["/local/domain/1"]), Err(XsdError::EACCES));
    h.ok(d1, T::Rm, 0, &["/local/domain/1/mine"]);
}

#[test]
fn directory_part_pages_big_directories() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let mut names = Vec::new();
    for i in 0..300 {
        let name = format!("child-with-a-long-name-{i:04}");
        h.write(d0, 0, &format!("/big/{name}"), "").unwrap();
        names.push(name);
    }
    let mut got = Vec::new();
    let mut offset = 0;
    let mut generation = None;
    loop {
        let raw = h.req(d0, T::DirectoryPart, 0, &["/big", &offset.to_string()]).unwrap();
        assert!(raw.len() <= 4096);
        let nul = raw.iter().position(|&b| b == 0).unwrap();
        let g = String::from_utf8(raw[..nul].to_vec()).unwrap();
        assert_eq!(*generation.get_or_insert(g.clone()), g);
        let body = &raw[nul + 1..];
        let done = body.ends_with(&[0, 0]) || body == [0];
        let list = if done { &body[..body.len() - 1] } else { body };
        offset += list.len();
        got.extend(
            list.split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8(s.to_vec()).unwrap()),
        );
        if done {
            break;
        }
    }
    assert_eq!(got, names);
    assert_eq!(h.req(d0, T::DirectoryPart, 0, &["/big", "999999"]), Err(XsdError::EINVAL));
}

#[test]
fn a_reply_too_big_for_one_message_is_e2big() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    for i in 0..200 {
        h.write(d0, 0, &format!("/huge/a-rather-long-child-name-{i:04}"), "").unwrap();
    }
    assert_eq!(h.dir(d0, "/huge"), Err(XsdError::E2BIG));
    // The parts still list it all.
    assert!(h.req(d0, T::DirectoryPart, 0, &["/huge", "0"]).is_ok());
}
