// SPDX-License-Identifier: GPL-2.0-only
//! Instruction fetch and a decoder for the instructions PV emulation knows.
//!
//! Up to 15 bytes are fetched from `RIP` through the vCPU's current page
//! table, page by page, so an instruction at the end of the last readable
//! page still decodes when it fits. Running out of bytes is a `#PF` at the
//! first unreadable byte (error code 0, as Xen's `insn_fetch`), or `#GP(0)`
//! past the 15-byte limit or in the hypervisor's address range
//! (`pv_emul_virt_to_linear`).
//!
//! Prefixes: operand size `66`, address size `67` (irrelevant to every
//! instruction decoded here), `f2`/`f3`, `lock`, segment overrides
//! (ignored), and REX in 64-bit code (dropped when a legacy prefix follows
//! it, as on hardware). Unknown opcodes decode to [`Op::Other`] without
//! consuming operands.

use guest_abi::xen::CpuUserRegs;

use super::EmulOutcome;
use crate::PAGE_SIZE;
use crate::pv::ctx::Ctx;
use crate::pv::guest_mem::guest_va_ok;

/// Architectural instruction length limit.
pub const MAX_INSN_LEN: usize = 15;

/// The port operand of `in`/`out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// `imm8`.
    Imm(u8),
    /// `%dx`.
    Dx,
}

impl Port {
    /// The port number.
    #[allow(clippy::cast_possible_truncation, reason = "DX is the low 16 bits of RDX")]
    pub const fn resolve(self, regs: &CpuUserRegs) -> u16 {
        match self {
            Self::Imm(p) => p as u16,
            Self::Dx => regs.rdx as u16,
        }
    }
}

/// A decoded operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `0f a2`.
    Cpuid,
    /// `0f 32`.
    Rdmsr,
    /// `0f 30`.
    Wrmsr,
    /// `0f 31`.
    Rdtsc,
    /// `0f 01 f9`.
    Rdtscp,
    /// `0f 06`.
    Clts,
    /// `0f 09` (and `f3 0f 09`, WBNOINVD, treated alike).
    Wbinvd,
    /// `0f 01 d1`.
    Xsetbv,
    /// `f4`.
    Hlt,
    /// `fa`.
    Cli,
    /// `fb`.
    Sti,
    /// `0f 20`: `mov %crN, %reg`.
    MovFromCr {
        /// Control register number (ModRM.reg with REX.R).
        cr: u8,
        /// Destination GPR (ModRM.rm with REX.B).
        gpr: u8,
    },
    /// `0f 22`: `mov %reg, %crN`.
    MovToCr {
        /// Control register number.
        cr: u8,
        /// Source GPR.
        gpr: u8,
    },
    /// `0f 21`: `mov %drN, %reg`.
    MovFromDr {
        /// Debug register number.
        dr: u8,
        /// Destination GPR.
        gpr: u8,
    },
    /// `0f 23`: `mov %reg, %drN`.
    MovToDr {
        /// Debug register number.
        dr: u8,
        /// Source GPR.
        gpr: u8,
    },
    /// `e4 e5 ec ed`.
    In {
        /// Port operand.
        port: Port,
        /// Access size in bytes (1, 2 or 4).
        size: u8,
    },
    /// `e6 e7 ee ef`.
    Out {
        /// Port operand.
        port: Port,
        /// Access size in bytes.
        size: u8,
    },
    /// Anything else: not emulated.
    Other,
}

/// A decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Length in bytes (prefixes included).
    pub len: u64,
    /// `66` seen.
    pub opsize: bool,
    /// Last of `f2`/`f3` seen, if any.
    pub rep: Option<u8>,
    /// `f0` seen.
    pub lock: bool,
    /// The operation.
    pub op: Op,
}

impl Insn {
    /// Whether a `66`, `f2` or `f3` prefix is present (the SIMD prefixes
    /// that make `0f 01 d1` invalid).
    pub const fn has_simd_prefix(&self) -> bool {
        self.opsize || self.rep.is_some()
    }
}

/// Why fetching stopped before 15 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// All 15 bytes were read.
    Limit,
    /// The byte at this address is not readable.
    PageFault(u64),
    /// The byte at the end of the buffer is outside guest space.
    Gp,
}

/// Bytes fetched at `RIP`.
pub(super) struct Fetched {
    /// The bytes; the first `len` are valid.
    pub(super) buf: [u8; MAX_INSN_LEN],
    /// How many bytes could be fetched.
    pub(super) len: usize,
    stop: Stop,
}

/// Copies `buf.len()` bytes of guest memory at `va`, page by page; on
/// failure returns the address of the first byte that could not be read.
pub fn fetch_exact(ctx: &Ctx<'_>, va: u64, buf: &mut [u8]) -> Result<(), u64> {
    let mut done = 0usize;
    while done < buf.len() {
        let at = va.wrapping_add(done as u64);
        let in_page = page_room(at);
        let n = in_page.min(buf.len().saturating_sub(done));
        let end = done.saturating_add(n);
        let Some(dst) = buf.get_mut(done..end) else { return Err(at) };
        if ctx.copy_from_guest(at, dst).is_err() {
            return Err(at);
        }
        done = end;
    }
    Ok(())
}

/// Fetches up to 15 bytes at `rip`.
pub(super) fn fetch(ctx: &Ctx<'_>, rip: u64) -> Fetched {
    let mut f = Fetched { buf: [0; MAX_INSN_LEN], len: 0, stop: Stop::Limit };
    while f.len < MAX_INSN_LEN {
        let Some(at) = rip.checked_add(f.len as u64) else {
            f.stop = Stop::Gp;
            break;
        };
        if !guest_va_ok(at) {
            f.stop = Stop::Gp;
            break;
        }
        let in_page = page_room(at);
        let n = in_page.min(MAX_INSN_LEN.saturating_sub(f.len));
        let end = f.len.saturating_add(n);
        let Some(dst) = f.buf.get_mut(f.len..end) else { break };
        if ctx.copy_from_guest(at, dst).is_err() {
            f.stop = Stop::PageFault(at);
            break;
        }
        f.len = end;
    }
    f
}

/// Reads the fetched bytes in order.
struct Cursor {
    f: Fetched,
    pos: usize,
}

impl Cursor {
    fn next(&mut self) -> Result<u8, EmulOutcome> {
        if self.pos < self.f.len {
            let b = self.f.buf.get(self.pos).copied().unwrap_or(0);
            self.pos = self.pos.saturating_add(1);
            return Ok(b);
        }
        Err(match self.f.stop {
            Stop::PageFault(addr) => EmulOutcome::page_fault(addr, 0),
            Stop::Limit | Stop::Gp => EmulOutcome::GP0,
        })
    }
}

/// Fetches and decodes the instruction at `ctx.regs.rip`; `long_mode`
/// selects 64-bit decoding (REX prefixes).
pub fn decode(ctx: &Ctx<'_>, long_mode: bool) -> Result<Insn, EmulOutcome> {
    let mut c = Cursor { f: fetch(ctx, ctx.regs.rip), pos: 0 };
    let mut opsize = false;
    let mut rep = None;
    let mut lock = false;
    let mut rex = 0u8;
    let opcode = loop {
        let b = c.next()?;
        match b {
            0x66 => opsize = true,
            0x67 | 0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 => {}
            0xf0 => lock = true,
            0xf2 | 0xf3 => rep = Some(b),
            // Only a REX immediately before the opcode counts.
            0x40..=0x4f if long_mode => {
                rex = b;
                continue;
            }
            _ => break b,
        }
        // A legacy prefix after REX makes the CPU ignore the REX.
        rex = 0;
    };
    let rex_r = (rex >> 2) & 1;
    let rex_b = rex & 1;
    let op = match opcode {
        0x0f => {
            let b2 = c.next()?;
            match b2 {
                0x01 => match c.next()? {
                    0xd1 => Op::Xsetbv,
                    0xf9 => Op::Rdtscp,
                    _ => Op::Other,
                },
                0x06 => Op::Clts,
                0x09 => Op::Wbinvd,
                0x20..=0x23 => {
                    // The ModRM mod field is ignored: these always take a
                    // register operand.
                    let modrm = c.next()?;
                    let reg = ((modrm >> 3) & 7) | (rex_r << 3);
                    let gpr = (modrm & 7) | (rex_b << 3);
                    match b2 {
                        0x20 => Op::MovFromCr { cr: reg, gpr },
                        0x21 => Op::MovFromDr { dr: reg, gpr },
                        0x22 => Op::MovToCr { cr: reg, gpr },
                        _ => Op::MovToDr { dr: reg, gpr },
                    }
                }
                0x30 => Op::Wrmsr,
                0x31 => Op::Rdtsc,
                0x32 => Op::Rdmsr,
                0xa2 => Op::Cpuid,
                _ => Op::Other,
            }
        }
        0xe4..=0xe7 | 0xec..=0xef => {
            let size = if opcode & 1 == 0 {
                1
            } else if opsize {
                2
            } else {
                4
            };
            let port = if opcode & 8 == 0 { Port::Imm(c.next()?) } else { Port::Dx };
            if opcode & 2 == 0 { Op::In { port, size } } else { Op::Out { port, size } }
        }
        0xf4 => Op::Hlt,
        0xfa => Op::Cli,
        0xfb => Op::Sti,
        _ => Op::Other,
    };
    Ok(Insn { len: c.pos as u64, opsize, rep, lock, op })
}

/// Bytes from `va` to the end of its page (1..=4096).
fn page_room(va: u64) -> usize {
    let off = va & (PAGE_SIZE - 1);
    usize::try_from(PAGE_SIZE.saturating_sub(off)).unwrap_or(1)
}
