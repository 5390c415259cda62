// SPDX-License-Identifier: GPL-2.0-only
//! Watches: the first event, events for nodes and their children, removal,
//! permissions, relative watches and the special watches.
#![allow(clippy::unwrap_used)]

use super::*;

fn ev(path: &str, token: &str) -> (String, String) {
    (path.to_owned(), token.to_owned())
}

#[test]
fn a_new_watch_fires_once_then_on_changes_below() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let other = h.conn(0);
    h.ok(d0, T::Watch, 0, &["/a", "tok"]);
    assert_eq!(h.take_events(d0), [ev("/a", "tok")]);
    h.write(other, 0, "/a/b/c", "1").unwrap();
    h.write(other, 0, "/a", "2").unwrap();
    h.write(other, 0, "/ab", "3").unwrap();
    h.write(other, 0, "/", "4").unwrap();
    assert_eq!(h.take_events(d0), [ev("/a/b/c", "tok"), ev("/a", "tok")]);
    assert_eq!(h.req(d0, T::Watch, 0, &["/a", "tok"]), Err(XsdError::EEXIST));
    h.ok(d0, T::Watch, 0, &["/a", "tok2"]);
    h.take_events(d0);
    h.ok(d0, T::Mkdir, 0, &["/a/new"]);
    h.ok(d0, T::Mkdir, 0, &["/a/new"]);
    assert_eq!(h.take_events(d0), [ev("/a/new", "tok"), ev("/a/new", "tok2")]);
    h.ok(d0, T::Unwatch, 0, &["/a", "tok"]);
    assert_eq!(h.req(d0, T::Unwatch, 0, &["/a", "tok"]), Err(XsdError::ENOENT));
    h.write(other, 0, "/a", "5").unwrap();
    assert_eq!(h.take_events(d0), [ev("/a", "tok2")]);
    assert!(h.take_events(other).is_empty());
}

#[test]
fn rm_fires_the_watches_on_removed_children() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    h.write(d0, 0, "/a/b/c", "1").unwrap();
    h.ok(d0, T::Watch, 0, &["/a/b/c", "child"]);
    h.ok(d0, T::Watch, 0, &["/a", "parent"]);
    h.ok(d0, T::Watch, 0, &["/x", "elsewhere"]);
    h.take_events(d0);
    h.ok(d0, T::Rm, 0, &["/a/b"]);
    assert_eq!(h.take_events(d0), [ev("/a/b/c", "child"), ev("/a/b", "parent")]);
}

#[test]
fn events_need_read_permission() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let d5 = h.conn(5);
    h.write(d0, 0, "/local/domain/5/x", "").unwrap();
    h.ok(d0, T::SetPerms, 0, &["/local/domain/5", "n5"]);
    h.ok(d5, T::Watch, 0, &["/local/domain", "w"]);
    // It cannot read /local/domain: no first event.
    assert!(h.take_events(d5).is_empty());
    h.write(d0, 0, "/local/domain/5/x", "secret").unwrap();
    h.write(d0, 0, "/local/domain/5/y", "mine").unwrap();
    assert_eq!(h.take_events(d5), [ev("/local/domain/5/y", "w")]);
}

#[test]
fn relative_watches_get_relative_paths() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let d7 = h.conn(7);
    h.write(d0, 0, "/local/domain/7", "").unwrap();
    h.ok(d0, T::SetPerms, 0, &["/local/domain/7", "n7"]);
    h.ok(d7, T::Watch, 0, &["control/shutdown", "sd"]);
    assert_eq!(h.take_events(d7), [ev("control/shutdown", "sd")]);
    h.write(d0, 0, "/local/domain/7/control/shutdown", "poweroff").unwrap();
    assert_eq!(h.take_events(d7), [ev("control/shutdown", "sd")]);
    h.ok(d7, T::Unwatch, 0, &["control/shutdown", "sd"]);
}

#[test]
fn special_watches_fire_for_introduce_and_release() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    let d4 = h.conn(4);
    h.ok(d0, T::Watch, 0, &["@introduceDomain", "i"]);
    h.ok(d0, T::Watch, 0, &["@releaseDomain", "r"]);
    h.ok(d0, T::Watch, 0, &["/", "root"]);
    h.ok(d4, T::Watch, 0, &["@releaseDomain", "r4"]);
    assert_eq!(
        h.take_events(d0),
        [ev("@introduceDomain", "i"), ev("@releaseDomain", "r"), ev("/", "root")]
    );
    h.take_events(d4);
    h.ok(d0, T::Introduce, 0, &["9", "1234", "5"]);
    assert_eq!(h.take_events(d0), [ev("@introduceDomain", "i")]);
    h.ok(d0, T::Release, 0, &["9"]);
    assert_eq!(h.take_events(d0), [ev("@releaseDomain", "r")]);
    // Dom4 may not hear of other domains until dom0 allows it.
    assert!(h.take_events(d4).is_empty());
    h.ok(d0, T::SetPerms, 0, &["@releaseDomain", "n0", "r4"]);
    assert_eq!(h.req(d4, T::SetPerms, 0, &["@releaseDomain", "b4"]), Err(XsdError::EACCES));
    assert_eq!(h.req(d0, T::SetPerms, 0, &["@other", "b4"]), Err(XsdError::EINVAL));
    h.ok(d0, T::Introduce, 0, &["9", "1234", "5"]);
    h.ok(d0, T::Release, 0, &["9"]);
    assert_eq!(h.take_events(d4), [ev("@releaseDomain", "r4")]);
}

#[test]
fn reset_watches_forgets_them() {
    let mut h = Harness::new();
    let d0 = h.conn(0);
    h.ok(d0, T::Watch, 0, &["/a", "t"]);
    h.ok(d0, T::ResetWatches, 0, &[]);
    h.take_events(d0);
    h.write(d0, 0, "/a", "x").unwrap();
    assert!(h.take_events(d0).is_empty());
}
