// SPDX-License-Identifier: GPL-2.0-only
//! `XS_CONTROL` (dom0 only): the daemon's maintenance commands, as
//! `xenstore-control` sends them (`command\0arg\0...`).
//!
//! Of Xen 4.17's commands this daemon has `check` (the tree's invariants),
//! `print` (a line in the daemon's log), `quota` (show the limits, `set`
//! one, or show a domain's usage) and `help`; the others (`log`,
//! `logfile`, `memreport`, `live-update`, `quota-soft`) are unknown
//! commands here and answered `EINVAL`, as Xen answers an unknown command.

use guest_abi::io::xs_wire::XsdError;
use guest_abi::xen::DomId;

use super::Xenstored;
use crate::quota::Quota;
use crate::wire;

/// The commands, with their parameters as `help` lists them.
const COMMANDS: &[(&str, &str)] =
    &[("check", ""), ("print", "<string>"), ("quota", "[set <name> <val>|<domid>]"), ("help", "")];

/// Picks one limit out of a [`Quota`].
type QuotaField = fn(&mut Quota) -> &mut usize;

/// The limits `quota` shows and sets: name, description, field.
const QUOTAS: &[(&str, &str, QuotaField)] = &[
    ("nodes", "Nodes per domain", |q| &mut q.nodes),
    ("watches", "Watches per domain", |q| &mut q.watches),
    ("transactions", "Transactions per domain", |q| &mut q.transactions),
    ("outstanding", "Outstanding requests per domain", |q| &mut q.outstanding),
    ("transaction-nodes", "Max. number of accessed nodes per transaction", |q| {
        &mut q.transaction_nodes
    }),
    ("node-size", "Max. size of a node", |q| &mut q.entry_size),
    ("permissions", "Max. number of permissions per node", |q| &mut q.perms_per_node),
];

impl Xenstored {
    pub(super) fn control(&mut self, payload: &[u8]) -> Result<Vec<u8>, XsdError> {
        let strings = wire::strings(payload)?;
        let args = strings
            .iter()
            .map(|s| core::str::from_utf8(s).map_err(|_| XsdError::EINVAL))
            .collect::<Result<Vec<_>, _>>()?;
        let (command, params) = args.split_first().ok_or(XsdError::EINVAL)?;
        match (*command, params) {
            ("check", []) => match self.store.check() {
                Ok(()) => Ok(super::ack()),
                Err(breach) => {
                    eprintln!("xenstored: check: {breach}");
                    Err(XsdError::EIO)
                }
            },
            ("print", [text]) => {
                eprintln!("xenstored: control: {text}");
                Ok(super::ack())
            }
            ("quota", []) => {
                let mut text = String::from("Quota settings:\n");
                let mut quota = self.quota;
                for (name, descr, field) in QUOTAS {
                    text.push_str(&format!("{name:<17}: {:>8} {descr}\n", *field(&mut quota)));
                }
                Ok(super::nul_terminated(&text))
            }
            ("quota", ["set", name, value]) => {
                let value = wire::number::<usize>(value)?;
                let (_, _, field) =
                    QUOTAS.iter().find(|(n, _, _)| n == name).ok_or(XsdError::EINVAL)?;
                if value < 1 {
                    return Err(XsdError::EINVAL);
                }
                *field(&mut self.quota) = value;
                Ok(super::ack())
            }
            ("quota", [domid]) => self.domain_usage(DomId(wire::number::<u16>(domid)?)),
            ("help", []) => {
                let text: String = COMMANDS.iter().map(|(c, p)| format!("{c}\t{p}\n")).collect();
                Ok(super::nul_terminated(&text))
            }
            _ => Err(XsdError::EINVAL),
        }
    }

    /// What domain `domid` uses of its quotas.
    fn domain_usage(&self, domid: DomId) -> Result<Vec<u8>, XsdError> {
        if domid != DomId(0) && !self.domains.contains_key(&domid) {
            return Err(XsdError::ENOENT);
        }
        let conns = self.conns.values().filter(|c| c.caller.domid == domid);
        let (watches, transactions, outstanding) =
            conns.fold((0usize, 0usize, 0usize), |acc, c| {
                (
                    acc.0.saturating_add(c.watches.len()),
                    acc.1.saturating_add(c.transactions.len()),
                    acc.2.saturating_add(c.out.len()),
                )
            });
        let mut text = format!("Domain {}:\n", domid.0);
        for (name, value) in [
            ("nodes", self.store.owned_by(domid)),
            ("watches", watches),
            ("transactions", transactions),
            ("outstanding", outstanding),
        ] {
            text.push_str(&format!("{name:<16}: {value:>8}\n"));
        }
        Ok(super::nul_terminated(&text))
    }
}
