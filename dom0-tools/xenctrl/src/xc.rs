// SPDX-License-Identifier: GPL-2.0-only
//! [`Xc`]: the typed hypercalls of the toolstack, over [`Privcmd`].
//!
//! Each call copies its argument struct into a fresh
//! [`HypercallBuffer`], issues the hypercall with the buffer's address and
//! copies the result back: the hypervisor never sees Rust-owned memory.

use bytemuck::Pod;
use guest_abi::domctl::XenctlBitmap;
use guest_abi::sysctl::{
    SysctlCmd, SysctlCpupoolOp, XenSysctl, XenSysctlCpupoolOp, XenSysctlPhysinfo,
    XenSysctlReadconsole, XenSysctlSchedId,
};
use guest_abi::version::{
    XenCapabilitiesInfo, XenChangesetInfo, XenCommandline, XenCompileInfo, XenExtraversion,
    XenPlatformParameters, XenVersionOp,
};
use guest_abi::xen::Hypercall;

use crate::buffer::HypercallBuffer;
use crate::privcmd::Privcmd;
use crate::{Error, Result};

/// The host's physical facts (`XEN_SYSCTL_physinfo`).
pub type PhysInfo = XenSysctlPhysinfo;

/// Everything `xen_version` tells about the hypervisor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionInfo {
    /// `XENVER_version`'s major number.
    pub major: u32,
    /// Its minor number.
    pub minor: u32,
    /// `XENVER_extraversion` (e.g. `.5`).
    pub extra: String,
    /// `XENVER_capabilities` (e.g. `xen-3.0-x86_64 hvm-3.0-x86_32 ...`).
    pub capabilities: String,
    /// `XENVER_changeset`.
    pub changeset: String,
    /// `XENVER_compile_info`: compiler, by, domain, date.
    pub compiler: String,
    /// Who built it.
    pub compile_by: String,
    /// The build host's domain.
    pub compile_domain: String,
    /// When.
    pub compile_date: String,
    /// `XENVER_pagesize`.
    pub pagesize: u64,
    /// `XENVER_platform_parameters`' `virt_start`.
    pub virt_start: u64,
    /// `XENVER_commandline`.
    pub commandline: String,
}

/// The text of a NUL-terminated field, lossily decoded.
fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or(&[])).into_owned()
}

/// A handle on the hypervisor (`xc_interface`).
#[derive(Debug)]
pub struct Xc {
    pub(crate) privcmd: Privcmd,
}

impl Xc {
    /// Opens the privcmd device.
    pub fn open() -> Result<Self> {
        Ok(Self { privcmd: Privcmd::open()? })
    }

    /// `xen_version(cmd, NULL)`: the commands that only return a number.
    fn version_number(&self, cmd: XenVersionOp) -> Result<i64> {
        self.privcmd.hypercall(
            cmd.xen_name(),
            u64::from(Hypercall::XenVersion.raw()),
            [u64::from(cmd.raw()), 0, 0, 0, 0],
        )
    }

    /// `xen_version(cmd, &out)`.
    fn version_struct<T: Pod>(&self, cmd: XenVersionOp) -> Result<T> {
        let buf = HypercallBuffer::new(core::mem::size_of::<T>())?;
        let addr = buf.addr(0).ok_or(Error::Buffer(nix::Error::EINVAL))?;
        self.privcmd.hypercall(
            cmd.xen_name(),
            u64::from(Hypercall::XenVersion.raw()),
            [u64::from(cmd.raw()), addr, 0, 0, 0],
        )?;
        buf.read(0).ok_or(Error::Buffer(nix::Error::EINVAL))
    }

    /// Everything `xen_version` offers to `xm info`.
    pub fn version_info(&self) -> Result<VersionInfo> {
        let v = self.version_number(XenVersionOp::Version)?;
        let v = u32::try_from(v).unwrap_or(0);
        let extra: XenExtraversion = self.version_struct(XenVersionOp::Extraversion)?;
        let caps: XenCapabilitiesInfo = self.version_struct(XenVersionOp::Capabilities)?;
        let chg: XenChangesetInfo = self.version_struct(XenVersionOp::Changeset)?;
        let cc: XenCompileInfo = self.version_struct(XenVersionOp::CompileInfo)?;
        let pp: XenPlatformParameters = self.version_struct(XenVersionOp::PlatformParameters)?;
        let cmdline: XenCommandline = self.version_struct(XenVersionOp::Commandline)?;
        let pagesize = self.version_number(XenVersionOp::Pagesize)?;
        Ok(VersionInfo {
            major: v >> 16,
            minor: v & 0xffff,
            extra: c_text(extra.as_c_bytes()),
            capabilities: c_text(caps.as_c_bytes()),
            changeset: c_text(chg.as_c_bytes()),
            compiler: c_text(&cc.compiler),
            compile_by: c_text(&cc.compile_by),
            compile_domain: c_text(&cc.compile_domain),
            compile_date: c_text(&cc.compile_date),
            pagesize: u64::try_from(pagesize).unwrap_or(0),
            virt_start: pp.virt_start,
            commandline: c_text(cmdline.as_c_bytes()),
        })
    }

    /// `HYPERVISOR_sysctl(op)`: `op` in, the hypervisor's answer out.
    pub fn sysctl(&self, op: &mut XenSysctl) -> Result<i64> {
        let mut buf = HypercallBuffer::new(core::mem::size_of::<XenSysctl>())?;
        if !buf.write(0, op) {
            return Err(Error::Buffer(nix::Error::EINVAL));
        }
        let addr = buf.addr(0).ok_or(Error::Buffer(nix::Error::EINVAL))?;
        let name = op.op().map_or("XEN_SYSCTL_(unknown)", |c| c.xen_name());
        let ret =
            self.privcmd.hypercall(name, u64::from(Hypercall::Sysctl.raw()), [addr, 0, 0, 0, 0])?;
        *op = buf.read(0).ok_or(Error::Buffer(nix::Error::EINVAL))?;
        Ok(ret)
    }

    /// A sysctl whose payload is `payload` in and the result out.
    fn sysctl_payload<T: Pod + guest_abi::AbiBytes>(
        &self,
        cmd: SysctlCmd,
        payload: &T,
    ) -> Result<T> {
        let mut op =
            XenSysctl::with_payload(cmd, payload).ok_or(Error::Buffer(nix::Error::EINVAL))?;
        self.sysctl(&mut op)?;
        op.payload().ok_or(Error::Buffer(nix::Error::EINVAL))
    }

    /// `XEN_SYSCTL_physinfo`.
    pub fn physinfo(&self) -> Result<PhysInfo> {
        self.sysctl_payload(SysctlCmd::Physinfo, &bytemuck::Zeroable::zeroed())
    }

    /// `XEN_SYSCTL_sched_id`: the default pool's scheduler
    /// (`XEN_SCHEDULER_*`).
    pub fn sched_id(&self) -> Result<u32> {
        let out: XenSysctlSchedId =
            self.sysctl_payload(SysctlCmd::SchedId, &XenSysctlSchedId { sched_id: 0 })?;
        Ok(out.sched_id)
    }

    /// The CPUs in no CPU pool (`XEN_SYSCTL_CPUPOOL_OP_FREEINFO`), as CPU
    /// numbers.
    pub fn free_cpus(&self) -> Result<Vec<u32>> {
        // Room for every CPU id Xen can have.
        const BITS: u32 = 4096;
        let map = HypercallBuffer::new(usize::try_from(BITS / 8).unwrap_or(512))?;
        let op = XenSysctlCpupoolOp {
            op: SysctlCpupoolOp::Freeinfo.raw(),
            cpumap: XenctlBitmap {
                bitmap: map.addr(0).ok_or(Error::Buffer(nix::Error::EINVAL))?,
                nr_bits: BITS,
                pad: 0,
            },
            ..bytemuck::Zeroable::zeroed()
        };
        self.sysctl_payload(SysctlCmd::CpupoolOp, &op)?;
        Ok(bitmap_members(map.bytes()))
    }

    /// `XEN_SYSCTL_readconsole`: the hypervisor's console ring, oldest byte
    /// first (`xc_readconsolering`), emptied afterwards if `clear`.
    pub fn read_console_ring(&self, clear: bool) -> Result<Vec<u8>> {
        // Larger than any console ring a default Xen keeps.
        const SIZE: usize = 1 << 20;
        let text = HypercallBuffer::new(SIZE)?;
        let rc = XenSysctlReadconsole {
            clear: u8::from(clear),
            incremental: 0,
            pad0: 0,
            pad1: 0,
            index: 0,
            buffer: text.addr(0).ok_or(Error::Buffer(nix::Error::EINVAL))?,
            count: u32::try_from(text.len()).unwrap_or(u32::MAX),
            pad2: 0,
        };
        let out = self.sysctl_payload(SysctlCmd::Readconsole, &rc)?;
        let n = usize::try_from(out.count).unwrap_or(0).min(text.len());
        Ok(text.bytes().get(..n).unwrap_or(&[]).to_vec())
    }
}

/// The numbers of the bits set in `bytes` (bit `n` is bit `n % 8` of byte
/// `n / 8`, as `xenctl_bitmap`).
fn bitmap_members(bytes: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    for (i, &b) in (0u32..).zip(bytes) {
        for bit in 0..8 {
            if b & (1 << bit) != 0 {
                out.push(i.saturating_mul(8).saturating_add(bit));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_members_in_order() {
        assert_eq!(bitmap_members(&[0b101, 0, 0x80]), vec![0, 2, 23]);
        assert!(bitmap_members(&[0; 4]).is_empty());
    }

    #[test]
    fn c_text_stops_at_the_first_nul() {
        assert_eq!(c_text(b"4.17.5\0junk"), "4.17.5");
        assert_eq!(c_text(b"no nul"), "no nul");
        assert_eq!(c_text(b"\0"), "");
        assert_eq!(c_text(&[0xff, b'a', 0]), "\u{fffd}a");
    }
}
