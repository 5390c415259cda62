// SPDX-License-Identifier: GPL-2.0-only
//! Xen's node permissions.
//!
//! A node's permission list is a non-empty list of entries `<letter><domid>`
//! with the letters `n` (none), `r` (read), `w` (write) and `b` (both). The
//! first entry names the node's **owner** and gives the access of every
//! domain not listed after it; the owner and privileged connections (dom0)
//! have every right, including changing the permissions. A new node takes
//! its parent's list; an unprivileged creator becomes its owner.

use guest_abi::io::xs_wire::XsdError;
use guest_abi::xen::DomId;

/// Rights of a connection on a node (Xen's `XS_PERM_*` bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access(u8);

impl Access {
    /// `XS_PERM_NONE`.
    pub const NONE: Self = Self(0);
    /// `XS_PERM_READ`.
    pub const READ: Self = Self(1);
    /// `XS_PERM_WRITE`.
    pub const WRITE: Self = Self(2);
    /// `XS_PERM_OWNER`: may change the permissions.
    pub const OWNER: Self = Self(8);
    /// Every right.
    pub const ALL: Self = Self(1 | 2 | 8);

    /// Whether every right of `needed` is held.
    #[must_use]
    pub const fn covers(self, needed: Self) -> bool {
        self.0 & needed.0 == needed.0
    }

    /// Whether any right of `wanted` is held.
    #[must_use]
    pub const fn any(self, wanted: Self) -> bool {
        self.0 & wanted.0 != 0
    }

    /// Both sets.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// One entry of a permission list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PermEntry {
    /// The domain the entry is about.
    pub domid: DomId,
    /// `r` or `b`.
    pub read: bool,
    /// `w` or `b`.
    pub write: bool,
}

impl PermEntry {
    /// The entry's rights.
    #[must_use]
    pub const fn access(self) -> Access {
        match (self.read, self.write) {
            (false, false) => Access::NONE,
            (true, false) => Access::READ,
            (false, true) => Access::WRITE,
            (true, true) => Access(1 | 2),
        }
    }

    /// Parses `<n|r|w|b><decimal domid>`.
    pub fn parse(text: &str) -> Result<Self, XsdError> {
        let mut chars = text.chars();
        let (read, write) = match chars.next() {
            Some('n') => (false, false),
            Some('r') => (true, false),
            Some('w') => (false, true),
            Some('b') => (true, true),
            _ => return Err(XsdError::EINVAL),
        };
        let domid = crate::wire::number::<u16>(chars.as_str())?;
        Ok(Self { domid: DomId(domid), read, write })
    }

    /// The entry as Xen writes it.
    #[must_use]
    pub fn format(self) -> String {
        let letter = match (self.read, self.write) {
            (false, false) => 'n',
            (true, false) => 'r',
            (false, true) => 'w',
            (true, true) => 'b',
        };
        format!("{letter}{}", self.domid.0)
    }
}

/// A node's permission list (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePerms {
    owner: PermEntry,
    acl: Vec<PermEntry>,
}

impl NodePerms {
    /// Owned by `owner`, nobody else has access (`n<owner>`).
    #[must_use]
    pub const fn owned_by(owner: DomId) -> Self {
        Self { owner: PermEntry { domid: owner, read: false, write: false }, acl: Vec::new() }
    }

    /// Builds a list from its entries; `EINVAL` if empty.
    pub fn from_entries(entries: &[PermEntry]) -> Result<Self, XsdError> {
        let (owner, acl) = entries.split_first().ok_or(XsdError::EINVAL)?;
        Ok(Self { owner: *owner, acl: acl.to_vec() })
    }

    /// Parses the strings of a `SET_PERMS` request.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, XsdError> {
        let list = entries.into_iter().map(PermEntry::parse).collect::<Result<Vec<_>, _>>()?;
        Self::from_entries(&list)
    }

    /// The owner.
    #[must_use]
    pub const fn owner(&self) -> DomId {
        self.owner.domid
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.acl.len().saturating_add(1)
    }

    /// Never true; for clippy's `len_without_is_empty`.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The same list with another owner (a node created by an
    /// unprivileged domain).
    #[must_use]
    pub fn with_owner(&self, owner: DomId) -> Self {
        let mut out = self.clone();
        out.owner.domid = owner;
        out
    }

    /// The rights of domain `domid` (Xen's `perm_for_conn`).
    #[must_use]
    pub fn access_for(&self, domid: DomId, privileged: bool) -> Access {
        self.access_as(domid, None, privileged)
    }

    /// The rights of domain `domid` acting also for `target` (a device
    /// model given its guest by `XS_SET_TARGET`): the owner's rights if
    /// either owns the node, else the first entry naming either, else the
    /// default.
    #[must_use]
    pub fn access_as(&self, domid: DomId, target: Option<DomId>, privileged: bool) -> Access {
        let is = |d: DomId| d == domid || Some(d) == target;
        if privileged || is(self.owner.domid) {
            return Access::ALL;
        }
        self.acl.iter().find(|e| is(e.domid)).map_or(self.owner.access(), |e| e.access())
    }

    /// The `GET_PERMS` reply: every entry NUL-terminated.
    #[must_use]
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in core::iter::once(&self.owner).chain(&self.acl) {
            out.extend_from_slice(entry.format().as_bytes());
            out.push(0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn first_entry_is_owner_and_default() {
        let perms = NodePerms::parse(["r5", "w7", "n9"]).unwrap();
        assert_eq!(perms.owner(), DomId(5));
        assert_eq!(perms.access_for(DomId(5), false), Access::ALL);
        assert_eq!(perms.access_for(DomId(0), true), Access::ALL);
        assert_eq!(perms.access_for(DomId(7), false), Access::WRITE);
        assert_eq!(perms.access_for(DomId(9), false), Access::NONE);
        assert_eq!(perms.access_for(DomId(3), false), Access::READ);
        assert!(!perms.access_for(DomId(3), false).covers(Access::OWNER));
        assert_eq!(perms.to_wire(), b"r5\0w7\0n9\0");
        assert_eq!(perms.with_owner(DomId(2)).to_wire(), b"r2\0w7\0n9\0");
    }

    #[test]
    fn bad_entries_are_einval() {
        for bad in ["", "x1", "r", "r-1", "r70000", "rr1", "b 1"] {
            assert_eq!(PermEntry::parse(bad), Err(XsdError::EINVAL), "{bad:?}");
        }
        assert_eq!(NodePerms::parse([]), Err(XsdError::EINVAL));
        assert_eq!(PermEntry::parse("b12").unwrap().format(), "b12");
    }
}
