// SPDX-License-Identifier: GPL-2.0-only
//! The tree of nodes.
//!
//! Nodes are kept by their absolute name; each knows its value, its
//! permissions, its children (in creation order, as Xen lists them) and
//! the generation of its last change. Nodes are shared (`Rc`) so that a
//! transaction's private copy of the tree costs one pointer per node and
//! only the nodes it changes are duplicated. The store also counts the
//! nodes each domain owns, for the node quota.

use std::collections::HashMap;
use std::rc::Rc;

use guest_abi::xen::DomId;

use crate::path;
use crate::perms::NodePerms;

/// One node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The value (any bytes).
    pub value: Vec<u8>,
    /// Its permissions.
    pub perms: NodePerms,
    /// Names of its children, in creation order.
    pub children: Vec<String>,
    /// Generation of its last change (unique across the daemon).
    pub generation: u64,
}

impl Node {
    /// The size the entry quota limits: value and child names.
    #[must_use]
    pub fn entry_size(&self) -> usize {
        self.children
            .iter()
            .fold(self.value.len(), |acc, c| acc.saturating_add(c.len()).saturating_add(1))
    }
}

/// The tree.
#[derive(Clone, Debug)]
pub struct Store {
    nodes: HashMap<String, Rc<Node>>,
    owned: HashMap<DomId, usize>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// The initial tree of Xen's xenstored: `/`, `/tool`,
    /// `/tool/xenstored`, owned by dom0, `n0`.
    #[must_use]
    pub fn new() -> Self {
        let mut store = Self { nodes: HashMap::new(), owned: HashMap::new() };
        let root = Node {
            value: Vec::new(),
            perms: NodePerms::owned_by(DomId(0)),
            children: Vec::new(),
            generation: 0,
        };
        store.put("/", Some(Rc::new(root)));
        store.create("/tool/xenstored", None, 0);
        store
    }

    /// The node called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name).map(|n| &**n)
    }

    /// The shared node called `name` (for copying between trees).
    #[must_use]
    pub fn get_shared(&self, name: &str) -> Option<Rc<Node>> {
        self.nodes.get(name).cloned()
    }

    /// The generation of `name`, `None` if it does not exist.
    #[must_use]
    pub fn generation(&self, name: &str) -> Option<u64> {
        self.get(name).map(|n| n.generation)
    }

    /// Number of nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true: the root always exists.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of nodes owned by `domid`.
    #[must_use]
    pub fn owned_by(&self, domid: DomId) -> usize {
        self.owned.get(&domid).copied().unwrap_or(0)
    }

    /// The nearest existing strict ancestor of `name`.
    #[must_use]
    pub fn nearest_ancestor<'a>(&self, name: &'a str) -> Option<(&'a str, &Node)> {
        let mut cur = path::parent(name);
        while let Some(p) = cur {
            if let Some(node) = self.get(p) {
                return Some((p, node));
            }
            cur = path::parent(p);
        }
        None
    }

    /// The names `create(name)` would make, top-down: the missing
    /// ancestors of `name` and `name` itself; empty if it exists.
    #[must_use]
    pub fn missing(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Some(name);
        while let Some(p) = cur {
            if self.nodes.contains_key(p) {
                break;
            }
            out.push(p.to_owned());
            cur = path::parent(p);
        }
        out.reverse();
        out
    }

    /// Creates `name` and its missing ancestors, each inheriting its
    /// parent's permissions with `owner` as owner if given. Returns the
    /// created names (top-down) and the existing ancestor whose children
    /// changed; nothing if `name` exists.
    pub fn create(&mut self, name: &str, owner: Option<DomId>, generation: u64) -> Vec<String> {
        let created = self.missing(name);
        for child in &created {
            let Some(parent_name) = path::parent(child) else { continue };
            let Some(parent) = self.nodes.get_mut(parent_name) else { continue };
            let parent = Rc::make_mut(parent);
            parent.children.push(path::basename(child).to_owned());
            parent.generation = generation;
            let perms = match owner {
                Some(owner) => parent.perms.with_owner(owner),
                None => parent.perms.clone(),
            };
            let node = Node { value: Vec::new(), perms, children: Vec::new(), generation };
            self.put(child, Some(Rc::new(node)));
        }
        created
    }

    /// Changes an existing node with `f` and stamps it with `generation`.
    pub fn modify(&mut self, name: &str, generation: u64, f: impl FnOnce(&mut Node)) {
        let Some(old_owner) = self.get(name).map(|n| n.perms.owner()) else { return };
        if let Some(node) = self.nodes.get_mut(name) {
            let node = Rc::make_mut(node);
            f(node);
            node.generation = generation;
            let new_owner = node.perms.owner();
            if new_owner != old_owner {
                self.count(old_owner, false);
                self.count(new_owner, true);
            }
        }
    }

    /// Removes `name` and its subtree; returns the removed names with
    /// their permissions, deepest first (the order Xen fires watches in).
    pub fn remove(&mut self, name: &str, generation: u64) -> Vec<(String, NodePerms)> {
        let mut removed = Vec::new();
        self.remove_subtree(name, &mut removed);
        if let Some(parent_name) = path::parent(name) {
            let base = path::basename(name);
            self.modify(parent_name, generation, |p| p.children.retain(|c| c != base));
        }
        removed
    }

    fn remove_subtree(&mut self, name: &str, removed: &mut Vec<(String, NodePerms)>) {
        let Some(node) = self.get_shared(name) else { return };
        for child in &node.children {
            self.remove_subtree(&path::join(name, child), removed);
        }
        self.put(name, None);
        removed.push((name.to_owned(), node.perms.clone()));
    }

    /// Replaces (or deletes) the node `name` as a whole, keeping the owner
    /// counts right (a transaction's commit).
    pub fn put(&mut self, name: &str, node: Option<Rc<Node>>) {
        if let Some(new) = &node {
            self.count(new.perms.owner(), true);
        }
        let old = match node {
            Some(node) => self.nodes.insert(name.to_owned(), node),
            None => self.nodes.remove(name),
        };
        if let Some(old) = old {
            self.count(old.perms.owner(), false);
        }
    }

    /// Checks the tree's invariants: the root exists, every node but the
    /// root is listed once by its parent, every listed child exists, and
    /// the owner counts match the nodes. `Err` describes the first breach.
    pub fn check(&self) -> Result<(), String> {
        if !self.nodes.contains_key("/") {
            return Err("no root".into());
        }
        let mut owned: HashMap<DomId, usize> = HashMap::new();
        for (name, node) in &self.nodes {
            let n = owned.entry(node.perms.owner()).or_insert(0);
            *n = n.saturating_add(1);
            for child in &node.children {
                if !self.nodes.contains_key(&path::join(name, child)) {
                    return Err(format!("{name} lists missing child {child}"));
                }
            }
            if let Some(parent) = path::parent(name) {
                let listed = self
                    .get(parent)
                    .map(|p| p.children.iter().filter(|c| *c == path::basename(name)).count());
                if listed != Some(1) {
                    return Err(format!("{name} is listed {listed:?} times by its parent"));
                }
            }
        }
        let counted: HashMap<DomId, usize> =
            self.owned.iter().filter(|(_, n)| **n > 0).map(|(d, n)| (*d, *n)).collect();
        if counted != owned {
            return Err(format!("owner counts {counted:?}, nodes say {owned:?}"));
        }
        Ok(())
    }

    fn count(&mut self, owner: DomId, add: bool) {
        let n = self.owned.entry(owner).or_insert(0);
        *n = if add { n.saturating_add(1) } else { n.saturating_sub(1) };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn create_makes_parents_with_inherited_perms() {
        let mut s = Store::new();
        assert_eq!(s.len(), 3);
        s.modify("/", 1, |n| n.perms = NodePerms::parse(["n0", "r4"]).unwrap());
        let made = s.create("/a/b/c", Some(DomId(4)), 2);
        assert_eq!(made, ["/a", "/a/b", "/a/b/c"]);
        assert_eq!(s.get("/a/b").unwrap().perms.to_wire(), b"n4\0r4\0");
        assert_eq!(s.get("/").unwrap().children, ["tool", "a"]);
        assert_eq!(s.generation("/"), Some(2));
        assert_eq!(s.owned_by(DomId(4)), 3);
        assert!(s.create("/a/b", None, 3).is_empty());
    }

    #[test]
    fn remove_takes_the_subtree_deepest_first() {
        let mut s = Store::new();
        s.create("/a/b/c", None, 1);
        s.create("/a/d", Some(DomId(2)), 2);
        let gone: Vec<String> = s.remove("/a", 3).into_iter().map(|(n, _)| n).collect();
        assert_eq!(gone, ["/a/b/c", "/a/b", "/a/d", "/a"]);
        assert_eq!(s.get("/").unwrap().children, ["tool"]);
        assert_eq!(s.len(), 3);
        assert_eq!(s.owned_by(DomId(2)), 0);
        assert_eq!(s.owned_by(DomId(0)), 3);
    }

    #[test]
    fn check_finds_broken_trees() {
        let mut s = Store::new();
        s.create("/a/b", Some(DomId(3)), 1);
        assert_eq!(s.check(), Ok(()));
        let mut orphan = s.clone();
        orphan.put("/x/y", orphan.get_shared("/a/b"));
        assert!(orphan.check().unwrap_err().contains("/x/y"));
        let mut dangling = s.clone();
        dangling.modify("/a", 2, |n| n.children.push("ghost".into()));
        assert!(dangling.check().unwrap_err().contains("ghost"));
        let mut miscounted = s.clone();
        miscounted.count(DomId(3), true);
        assert!(miscounted.check().unwrap_err().contains("owner counts"));
    }

    #[test]
    fn a_copy_is_independent() {
        let mut s = Store::new();
        s.create("/a", None, 1);
        let mut copy = s.clone();
        copy.modify("/a", 2, |n| n.value = b"x".to_vec());
        assert_eq!(s.get("/a").unwrap().value, b"");
        assert_eq!(copy.get("/a").unwrap().value, b"x");
        assert_eq!(s.generation("/a"), Some(1));
    }
}
