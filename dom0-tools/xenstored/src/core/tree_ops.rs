// SPDX-License-Identifier: GPL-2.0-only
//! The operations on nodes: read, write, mkdir, rm, directory (whole and in
//! parts), get/set_perms, with Xen's permission checks and quotas.
//!
//! A [`Ctx`] runs one operation on one tree: the daemon's, or a
//! transaction's private copy, in which case every node the operation
//! looks at is logged with its generation (for the conflict check at
//! commit) and every node it changes is logged for the commit to copy.
//! The watch events it causes are collected in [`Ctx::events`].

use guest_abi::io::xs_wire::{XENSTORE_PAYLOAD_MAX, XsdError, XsdSockmsgType};

use super::Caller;
use super::transaction::TxLog;
use crate::path;
use crate::perms::{Access, NodePerms};
use crate::quota::Quota;
use crate::store::Store;
use crate::wire;

/// A change watches may be told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Event {
    /// The node's name.
    pub path: String,
    /// Only watches on exactly this node fire (the descendants of a
    /// removed node), not those on its ancestors.
    pub exact: bool,
    /// The node's permissions when it changed: a watcher must be able to
    /// read the node to hear about it.
    pub perms: NodePerms,
}

/// One operation's context.
pub(super) struct Ctx<'a> {
    pub tree: &'a mut Store,
    pub log: Option<&'a mut TxLog>,
    pub caller: Caller,
    pub quota: &'a Quota,
    pub generation: &'a mut u64,
    pub events: Vec<Event>,
}

impl Ctx<'_> {
    /// Runs the tree operation `ty` on its payload.
    pub fn run(&mut self, ty: XsdSockmsgType, payload: &[u8]) -> Result<Vec<u8>, XsdError> {
        use XsdSockmsgType as T;
        match ty {
            T::Read => {
                let name = self.name(wire::one_arg(payload)?);
                self.read(&name)
            }
            T::Write => {
                let (name, value) = wire::path_and_value(payload)?;
                let name = self.name(name);
                self.write(&name, value).map(|()| super::ack())
            }
            T::Mkdir => {
                let name = self.name(wire::one_arg(payload)?);
                self.mkdir(&name).map(|()| super::ack())
            }
            T::Rm => {
                let name = self.name(wire::one_arg(payload)?);
                self.rm(&name).map(|()| super::ack())
            }
            T::Directory => {
                let name = self.name(wire::one_arg(payload)?);
                self.directory(&name)
            }
            T::DirectoryPart => {
                let [name, offset] = wire::args::<2>(payload)?;
                let name = self.name(name);
                self.directory_part(&name, wire::number(offset)?)
            }
            T::GetPerms => {
                let name = self.name(wire::one_arg(payload)?);
                self.check(&name, Access::READ)?;
                Ok(self.tree.get(&name).map(|n| n.perms.to_wire()).unwrap_or_default())
            }
            T::SetPerms => {
                let list = wire::strings(payload)?;
                let (name, perms) = list.split_first().ok_or(XsdError::EINVAL)?;
                let name = self.name(core::str::from_utf8(name).map_err(|_| XsdError::EINVAL)?);
                let perms =
                    perms.iter().map(|p| core::str::from_utf8(p).map_err(|_| XsdError::EINVAL));
                let perms = NodePerms::parse(perms.collect::<Result<Vec<_>, _>>()?)?;
                self.set_perms(&name, perms).map(|()| super::ack())
            }
            _ => Err(XsdError::ENOSYS),
        }
    }

    fn name(&self, given: &str) -> String {
        path::canonicalize(self.caller.domid, given)
    }

    fn unprivileged(&self) -> bool {
        !self.caller.privileged
    }

    fn access(&self, perms: &NodePerms) -> Access {
        self.caller.access(perms)
    }

    fn next_generation(&mut self) -> u64 {
        *self.generation = self.generation.wrapping_add(1);
        *self.generation
    }

    /// Logs that the transaction looked at `name` (first sight only).
    fn note(&mut self, name: &str) -> Result<(), XsdError> {
        let Some(log) = self.log.as_deref_mut() else { return Ok(()) };
        if log.accessed.contains_key(name) {
            return Ok(());
        }
        if !self.caller.privileged && log.accessed.len() >= self.quota.transaction_nodes {
            return Err(XsdError::ENOSPC);
        }
        log.accessed.insert(name.to_owned(), self.tree.generation(name));
        Ok(())
    }

    /// Logs that the transaction changes `name`.
    fn note_change(&mut self, name: &str) -> Result<(), XsdError> {
        self.note(name)?;
        if let Some(log) = self.log.as_deref_mut() {
            log.changed.insert(name.to_owned());
        }
        Ok(())
    }

    /// Xen's `get_node`: `Ok` if `name` exists and the caller has `need`
    /// on it; `ENOENT` if it does not exist and the nearest existing
    /// ancestor grants some of `need` (the caller may know), else `EACCES`.
    fn check(&mut self, name: &str, need: Access) -> Result<(), XsdError> {
        path::check_node(name)?;
        self.note(name)?;
        if let Some(node) = self.tree.get(name) {
            return if self.access(&node.perms).covers(need) {
                Ok(())
            } else {
                Err(XsdError::EACCES)
            };
        }
        let may_know =
            self.tree.nearest_ancestor(name).is_some_and(|(_, a)| self.access(&a.perms).any(need));
        Err(if may_know { XsdError::ENOENT } else { XsdError::EACCES })
    }

    fn read(&mut self, name: &str) -> Result<Vec<u8>, XsdError> {
        self.check(name, Access::READ)?;
        Ok(self.tree.get(name).map(|n| n.value.clone()).unwrap_or_default())
    }

    fn check_entry_size(&self, size: usize) -> Result<(), XsdError> {
        if self.unprivileged() && size > self.quota.entry_size {
            Err(XsdError::ENOSPC)
        } else {
            Ok(())
        }
    }

    fn write(&mut self, name: &str, value: &[u8]) -> Result<(), XsdError> {
        match self.check(name, Access::WRITE) {
            Ok(()) => {
                let node = self.tree.get(name).ok_or(XsdError::EIO)?;
                let size =
                    node.entry_size().saturating_sub(node.value.len()).saturating_add(value.len());
                self.check_entry_size(size)?;
                self.note_change(name)?;
                let generation = self.next_generation();
                self.tree.modify(name, generation, |n| n.value = value.to_vec());
                self.changed_event(name);
                Ok(())
            }
            Err(XsdError::ENOENT) => self.create(name, value),
            Err(err) => Err(err),
        }
    }

    fn mkdir(&mut self, name: &str) -> Result<(), XsdError> {
        match self.check(name, Access::WRITE) {
            Ok(()) => Ok(()),
            Err(XsdError::ENOENT) => self.create(name, &[]),
            Err(err) => Err(err),
        }
    }

    /// Creates `name` (and its missing ancestors) with `value`; the
    /// caller's write right on the nearest ancestor was checked.
    fn create(&mut self, name: &str, value: &[u8]) -> Result<(), XsdError> {
        let missing = self.tree.missing(name);
        let (ancestor, ancestor_node) = self.tree.nearest_ancestor(name).ok_or(XsdError::EIO)?;
        let ancestor = ancestor.to_owned();
        if self.unprivileged() {
            let owned = self.tree.owned_by(self.caller.domid).saturating_add(missing.len());
            if owned > self.quota.nodes {
                return Err(XsdError::ENOSPC);
            }
            let first = missing.first().map_or("", |m| path::basename(m));
            self.check_entry_size(
                ancestor_node.entry_size().saturating_add(first.len()).saturating_add(1),
            )?;
            self.check_entry_size(value.len())?;
        }
        self.note_change(&ancestor)?;
        for created in &missing {
            self.note_change(created)?;
        }
        let owner = self.unprivileged().then_some(self.caller.domid);
        let generation = self.next_generation();
        self.tree.create(name, owner, generation);
        self.tree.modify(name, generation, |n| n.value = value.to_vec());
        self.changed_event(name);
        Ok(())
    }

    fn changed_event(&mut self, name: &str) {
        if let Some(node) = self.tree.get(name) {
            self.events.push(Event {
                path: name.to_owned(),
                exact: false,
                perms: node.perms.clone(),
            });
        }
    }

    fn rm(&mut self, name: &str) -> Result<(), XsdError> {
        match self.check(name, Access::WRITE) {
            Ok(()) => {}
            Err(XsdError::ENOENT) => {
                // Removing what is not there is fine if its parent is.
                let parent = path::parent(name).ok_or(XsdError::EINVAL)?;
                self.note(parent)?;
                return if self.tree.get(parent).is_some() {
                    Ok(())
                } else {
                    Err(XsdError::ENOENT)
                };
            }
            Err(err) => return Err(err),
        }
        let parent = path::parent(name).ok_or(XsdError::EINVAL)?.to_owned();
        for doomed in self.subtree(name) {
            self.note_change(&doomed)?;
        }
        self.note_change(&parent)?;
        let generation = self.next_generation();
        for (removed, perms) in self.tree.remove(name, generation) {
            let exact = removed != name;
            self.events.push(Event { path: removed, exact, perms });
        }
        Ok(())
    }

    fn subtree(&self, name: &str) -> Vec<String> {
        let mut out = vec![name.to_owned()];
        let mut i = 0;
        while let Some(cur) = out.get(i).cloned() {
            if let Some(node) = self.tree.get(&cur) {
                out.extend(node.children.iter().map(|c| path::join(&cur, c)));
            }
            i = i.saturating_add(1);
        }
        out
    }

    fn directory(&mut self, name: &str) -> Result<Vec<u8>, XsdError> {
        self.check(name, Access::READ)?;
        let node = self.tree.get(name).ok_or(XsdError::EIO)?;
        let mut out = Vec::new();
        for child in &node.children {
            out.extend_from_slice(child.as_bytes());
            out.push(0);
        }
        Ok(out)
    }

    /// `XS_DIRECTORY_PART`: the node's generation, then the children from
    /// byte `offset` of the NUL-separated list that fit in one payload; an
    /// extra NUL marks the end of the list.
    fn directory_part(&mut self, name: &str, offset: usize) -> Result<Vec<u8>, XsdError> {
        let all = self.directory(name)?;
        let node = self.tree.get(name).ok_or(XsdError::EIO)?;
        let mut out = super::nul_terminated(&node.generation.to_string());
        let rest = all.get(offset..).ok_or(XsdError::EINVAL)?;
        let room = XENSTORE_PAYLOAD_MAX.saturating_sub(out.len()).saturating_sub(1);
        let mut taken = 0usize;
        for child in rest.split_inclusive(|&b| b == 0) {
            if taken.saturating_add(child.len()) > room {
                return Ok(out);
            }
            out.extend_from_slice(child);
            taken = taken.saturating_add(child.len());
        }
        out.push(0);
        Ok(out)
    }

    fn set_perms(&mut self, name: &str, perms: NodePerms) -> Result<(), XsdError> {
        if self.unprivileged() && perms.len() > self.quota.perms_per_node {
            return Err(XsdError::ENOSPC);
        }
        self.check(name, Access::WRITE.with(Access::OWNER))?;
        let old = self.tree.get(name).ok_or(XsdError::EIO)?.perms.clone();
        if self.unprivileged() && perms.owner() != old.owner() {
            return Err(XsdError::EPERM);
        }
        self.note_change(name)?;
        let generation = self.next_generation();
        self.tree.modify(name, generation, |n| n.perms = perms);
        self.events.push(Event { path: name.to_owned(), exact: false, perms: old });
        Ok(())
    }
}
