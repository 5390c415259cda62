// SPDX-License-Identifier: GPL-2.0-only
//! Node names: Xen's validity rules, relative paths, parents and children.
//!
//! A node name is absolute (`/local/domain/3/name`), made only of
//! `[A-Za-z0-9-/_@]`, without `//` or a trailing `/` (except `/` itself).
//! Its part below `/local/domain/<id>/` may be at most
//! [`XENSTORE_REL_PATH_MAX`] long, the whole at most
//! [`XENSTORE_ABS_PATH_MAX`]. A relative name given by a connection is
//! resolved against that connection's domain's home. Names starting with
//! `@` are the special watch names (`@introduceDomain`, `@releaseDomain`).

use guest_abi::io::xs_wire::{XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX, XsdError};
use guest_abi::xen::DomId;

/// The parent of every domain's home.
pub const LOCAL_DOMAIN: &str = "/local/domain";
/// Fired when the toolstack introduces a domain.
pub const INTRODUCE_DOMAIN: &str = "@introduceDomain";
/// Fired when a domain is released.
pub const RELEASE_DOMAIN: &str = "@releaseDomain";

/// `/local/domain/<domid>`, a domain's home (`XS_GET_DOMAIN_PATH`).
#[must_use]
pub fn home(domid: DomId) -> String {
    format!("{LOCAL_DOMAIN}/{}", domid.0)
}

/// Resolves `name` as given by a connection of domain `domid`: absolute and
/// special names stay, others are taken below the domain's home.
#[must_use]
pub fn canonicalize(domid: DomId, name: &str) -> String {
    if name.starts_with('/') || name.starts_with('@') {
        name.to_owned()
    } else {
        format!("{}/{name}", home(domid))
    }
}

/// Whether `name` is a special (`@`) name.
#[must_use]
pub fn is_special(name: &str) -> bool {
    name.starts_with('@')
}

fn valid_chars(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'@'))
}

/// Xen's `is_valid_nodename`: `EINVAL` unless `name` is a valid absolute
/// node name.
pub fn check_node(name: &str) -> Result<(), XsdError> {
    let ok = name.starts_with('/')
        && (name == "/" || !name.ends_with('/'))
        && !name.contains("//")
        && name.len() <= XENSTORE_ABS_PATH_MAX
        && name.len().saturating_sub(local_prefix_len(name)) <= XENSTORE_REL_PATH_MAX
        && valid_chars(name);
    if ok { Ok(()) } else { Err(XsdError::EINVAL) }
}

/// `EINVAL` unless `name` is a valid node name or special name (a watch).
pub fn check_watch(name: &str) -> Result<(), XsdError> {
    if is_special(name) {
        let ok = name.len() <= XENSTORE_REL_PATH_MAX && !name.contains('/') && valid_chars(name);
        if ok { Ok(()) } else { Err(XsdError::EINVAL) }
    } else {
        check_node(name)
    }
}

/// Length of a leading `/local/domain/<id>/` (up to 5 digits), else 0.
fn local_prefix_len(name: &str) -> usize {
    let Some(rest) = name.strip_prefix(LOCAL_DOMAIN).and_then(|r| r.strip_prefix('/')) else {
        return 0;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 5 || rest.as_bytes().get(digits) != Some(&b'/') {
        return 0;
    }
    name.len().saturating_sub(rest.len()).saturating_add(digits).saturating_add(1)
}

/// The parent of an absolute name; `None` for `/`.
#[must_use]
pub fn parent(name: &str) -> Option<&str> {
    if name == "/" {
        return None;
    }
    match name.rfind('/') {
        Some(0) => Some("/"),
        Some(slash) => name.get(..slash),
        None => None,
    }
}

/// The last component of an absolute name.
#[must_use]
pub fn basename(name: &str) -> &str {
    name.rfind('/').and_then(|slash| name.get(slash.saturating_add(1)..)).unwrap_or(name)
}

/// `dir/child`.
#[must_use]
pub fn join(dir: &str, child: &str) -> String {
    if dir == "/" { format!("/{child}") } else { format!("{dir}/{child}") }
}

/// Whether `name` is `ancestor` or below it (Xen's `is_child`).
#[must_use]
pub fn is_at_or_below(name: &str, ancestor: &str) -> bool {
    if ancestor == "/" {
        return name.starts_with('/');
    }
    match name.strip_prefix(ancestor) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_resolve_below_home() {
        assert_eq!(canonicalize(DomId(3), "device/vbd"), "/local/domain/3/device/vbd");
        assert_eq!(canonicalize(DomId(3), "/vm"), "/vm");
        assert_eq!(canonicalize(DomId(3), "@releaseDomain"), "@releaseDomain");
        assert_eq!(check_node(&canonicalize(DomId(3), "")), Err(XsdError::EINVAL));
    }

    #[test]
    fn validity_follows_xen() {
        for good in ["/", "/a", "/a-b/c_d/@e/9"] {
            assert_eq!(check_node(good), Ok(()), "{good}");
        }
        for bad in ["", "a", "/a/", "/a//b", "/a b", "/a.b", "/ä"] {
            assert_eq!(check_node(bad), Err(XsdError::EINVAL), "{bad}");
        }
        let long = format!("/local/domain/7/{}", "x".repeat(XENSTORE_REL_PATH_MAX));
        assert_eq!(check_node(&long), Ok(()));
        let too_long = format!("/local/domain/7/{}", "x".repeat(XENSTORE_REL_PATH_MAX + 1));
        assert_eq!(check_node(&too_long), Err(XsdError::EINVAL));
        let outside = format!("/vm/{}", "x".repeat(XENSTORE_REL_PATH_MAX));
        assert_eq!(check_node(&outside), Err(XsdError::EINVAL));
        assert_eq!(check_watch("@releaseDomain"), Ok(()));
        assert_eq!(check_watch("@a/b"), Err(XsdError::EINVAL));
    }

    #[test]
    fn parents_and_children() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert!(is_at_or_below("/a/b", "/a"));
        assert!(is_at_or_below("/a", "/a"));
        assert!(!is_at_or_below("/ab", "/a"));
        assert!(is_at_or_below("/ab", "/"));
        assert!(!is_at_or_below("@releaseDomain", "/"));
    }
}
