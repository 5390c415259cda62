// SPDX-License-Identifier: GPL-2.0-only
//! `xm dmesg [-c|--clear]`: the hypervisor's console ring
//! (`XEN_SYSCTL_readconsole`), printed as is; `-c` empties it after
//! reading, as xend's `node.dmesg.clear` does.

use std::io::Write as _;

use xenctrl::Xc;

use crate::{Failure, arg_check, flags};

/// `xm dmesg [-c|--clear]`.
pub fn run(args: &[String]) -> Result<(), Failure> {
    arg_check(args, "dmesg", 0, 1)?;
    let (seen, params) = flags(args, "dmesg", &[("c", "clear")])?;
    if !params.is_empty() {
        return Err(Failure::Usage("dmesg", "No parameter required".into()));
    }
    let ring = Xc::open()?.read_console_ring(seen.contains(&"c"))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&ring).and_then(|()| out.flush()).map_err(|e| Failure::Failed(e.to_string()))
}
