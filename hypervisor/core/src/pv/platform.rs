// SPDX-License-Identifier: GPL-2.0-only
//! What the PV logic asks of the machine layer.
//!
//! Everything here acts on the CPU the calling vCPU runs on (the machine
//! layer runs a vCPU's hypercalls and traps on its own CPU). Host tests
//! implement it with a recording fake.

use guest_abi::xen::DomId;

use crate::mm::Mfn;

/// A segment base register of the running vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegBaseReg {
    /// `MSR_FS_BASE`.
    Fs,
    /// `MSR_GS_BASE`: the GS base of the current guest mode.
    Gs,
}

/// Machine services for hypercalls, trap bounces and emulation.
pub trait Platform {
    /// Writes guest console output of `dom` (`CONSOLEIO_write`).
    fn console_write(&mut self, dom: DomId, bytes: &[u8]);

    /// Reads pending serial input for dom0 (`CONSOLEIO_read`); returns the
    /// number of bytes stored.
    fn console_read(&mut self, buf: &mut [u8]) -> usize;

    /// The live value of segment base `reg`.
    fn segment_base(&self, reg: SegBaseReg) -> u64;

    /// Loads segment base `reg` (the caller checked it is canonical).
    fn set_segment_base(&mut self, reg: SegBaseReg, value: u64);

    /// Switches the CPU to guest page table `l4` (`write_ptbase`).
    fn load_cr3(&mut self, l4: Mfn);

    /// Flushes the CPU's guest TLB entries.
    fn flush_tlb_local(&mut self);

    /// Flushes guest address `va` from the CPU's TLB.
    fn invlpg(&mut self, va: u64);

    /// Sets or clears the hardware CR0.TS of the CPU (lazy FPU switching).
    fn set_cr0_ts(&mut self, ts: bool);

    /// Nanoseconds since boot (Xen's `NOW()`).
    fn now_ns(&self) -> u64;

    /// The hypervisor's command line (`XENVER_commandline`).
    fn xen_commandline(&self) -> alloc::string::String;

    /// A zeroed frame for the hypervisor to share with a guest (grant
    /// table frames), or `None` when memory is exhausted.
    fn alloc_frame(&mut self) -> Option<Mfn>;
}
