// SPDX-License-Identifier: GPL-2.0-only
//! `console_io(cmd, count, buffer)`: the hypervisor console for guests.
//!
//! `CONSOLEIO_write` copies the guest's bytes in chunks to the console and
//! returns 0 (`-EFAULT` if a chunk cannot be read; earlier chunks stay
//! written, as in Xen). `CONSOLEIO_read` hands dom0 the serial input the
//! hypervisor buffered, returning the byte count; other domains get
//! `-EPERM`.

use guest_abi::xen::{ConsoleIoCmd, Errno};

use crate::common::xsm::ConsoleOp;
use crate::pv::ctx::Ctx;

/// Bytes copied per step.
const CHUNK: usize = 128;

/// `console_io`.
pub fn console_io(ctx: &mut Ctx<'_>, cmd: u64, count: u64, buffer: u64) -> Result<i64, Errno> {
    let op = u32::try_from(cmd).ok().and_then(|c| ConsoleIoCmd::try_from(c).ok());
    // `count` is an `unsigned int` in Xen's prototype.
    let count = count & 0xffff_ffff;
    match op {
        Some(ConsoleIoCmd::Write) => {
            ctx.xsm.console_io(ctx.dom.subject(), ConsoleOp::Write)?;
            let mut done = 0u64;
            let mut buf = [0u8; CHUNK];
            while done < count {
                let n =
                    usize::try_from(count.saturating_sub(done).min(CHUNK as u64)).unwrap_or(CHUNK);
                let chunk = buf.get_mut(..n).ok_or(Errno::EFAULT)?;
                ctx.copy_from_guest(buffer.wrapping_add(done), chunk)?;
                ctx.platform.console_write(ctx.dom.id, chunk);
                done = done.saturating_add(n as u64);
            }
            Ok(0)
        }
        Some(ConsoleIoCmd::Read) => {
            ctx.xsm.console_io(ctx.dom.subject(), ConsoleOp::Read)?;
            let mut buf = [0u8; CHUNK];
            let want = usize::try_from(count.min(CHUNK as u64)).unwrap_or(CHUNK);
            let got = ctx.platform.console_read(buf.get_mut(..want).ok_or(Errno::EFAULT)?);
            ctx.copy_to_guest(buffer, buf.get(..got).ok_or(Errno::EFAULT)?)?;
            Ok(i64::try_from(got).unwrap_or(0))
        }
        None => Err(Errno::ENOSYS),
    }
}
