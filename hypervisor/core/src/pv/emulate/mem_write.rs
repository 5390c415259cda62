// SPDX-License-Identifier: GPL-2.0-only
//! Decoder and executor for the memory-writing instructions ptwr emulates.
//!
//! Writable page tables (`super::super::ptwr`) need exactly what Xen's
//! `x86_emulate` does for a guest store that hit a read-only L1 page: find
//! the memory operand, read it if the instruction reads it, compute the new
//! value and the flags, and hand the store to the caller, which decides
//! whether the write is allowed. This module is that part, for the
//! instructions 64-bit PV kernels use on page-table entries:
//!
//! | opcode | instruction | memory access |
//! |---|---|---|
//! | `88`, `89` | `mov r/m, reg` | write |
//! | `c6 /0`, `c7 /0` | `mov r/m, imm` (imm32 sign-extended) | write |
//! | `86`, `87` | `xchg r/m, reg` (always locked) | read, compare-exchange |
//! | `0f b0`, `0f b1` | `cmpxchg r/m, reg` | read, compare-exchange |
//! | `00 01 08 09 20 21 28 29 30 31` | `add or and sub xor r/m, reg` | read, write |
//! | `80 /n`, `81 /n`, `83 /n` | the same with an immediate | read, write |
//! | `0f ab`, `0f b3`, `0f bb` | `bts btr btc r/m, reg` | read, write |
//! | `0f ba /5 /6 /7` | `bts btr btc r/m, imm8` | read, write |
//!
//! Prefixes: operand size `66`, address size `67` (32-bit addresses),
//! `lock`, REX (W, R, X, B; only immediately before the opcode, as on
//! hardware), segment overrides (`fs`/`gs` add their base, the others are
//! null in 64-bit mode). `f2`/`f3` (`xacquire`/`xrelease`, `rep`) and every
//! other opcode are refused. Memory operands take ModRM, SIB, `disp8`,
//! `disp32` and RIP-relative forms; a register destination (ModRM mod 3) is
//! not a memory write and is refused.
//!
//! # Execution
//!
//! [`execute`] works on a copy of the registers and commits it only when
//! the instruction completed, so a refused access or a retry leaves the
//! vCPU untouched. Plain `mov` and unlocked read-modify-write instructions
//! end in [`MemOps::write`]; `xchg`, `cmpxchg` and `lock`-prefixed ones in
//! [`MemOps::cmpxchg`] against the value read, and a mismatch is
//! [`Executed::Retry`] (Xen's `X86EMUL_CMPXCHG_FAILED` turned into
//! `X86EMUL_RETRY`: the guest re-executes the instruction). As in
//! `x86_emulate`'s write-back, a read-modify-write whose result equals the
//! value read stores nothing. Flags: `add`/`sub` set CF, PF, AF, ZF, SF and
//! OF; `and`/`or`/`xor` the same with CF, OF and AF clear; `cmpxchg` those
//! of `cmp` (accumulator minus memory) and loads the accumulator on a
//! mismatch; the bit tests set CF to the old bit and leave the others
//! (architecturally undefined) alone. A register bit offset is signed and
//! moves the address by whole operands, an immediate one is taken modulo
//! the operand width. The caller retires the instruction (advances `RIP`).

use guest_abi::xen::CpuUserRegs;

use super::{gpr_value, set_gpr};
use crate::pv::ctx::Ctx;
use crate::pv::platform::SegBaseReg;

#[cfg(test)]
mod tests;

/// `X86_EFLAGS_CF`.
pub const EFLAGS_CF: u64 = 1 << 0;
/// `X86_EFLAGS_PF`.
pub const EFLAGS_PF: u64 = 1 << 2;
/// `X86_EFLAGS_AF`.
pub const EFLAGS_AF: u64 = 1 << 4;
/// `X86_EFLAGS_ZF`.
pub const EFLAGS_ZF: u64 = 1 << 6;
/// `X86_EFLAGS_SF`.
pub const EFLAGS_SF: u64 = 1 << 7;
/// `X86_EFLAGS_OF`.
pub const EFLAGS_OF: u64 = 1 << 11;
/// The six arithmetic status flags.
pub const EFLAGS_ARITH: u64 = EFLAGS_CF | EFLAGS_PF | EFLAGS_AF | EFLAGS_ZF | EFLAGS_SF | EFLAGS_OF;

/// Architectural instruction length limit.
const MAX_INSN_LEN: usize = 15;

/// A two-operand arithmetic or logic operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AluOp {
    /// `add`.
    Add,
    /// `or`.
    Or,
    /// `and`.
    And,
    /// `sub`.
    Sub,
    /// `xor`.
    Xor,
}

/// A bit-test-and-modify operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    /// `bts`: set.
    Bts,
    /// `btr`: reset.
    Btr,
    /// `btc`: complement.
    Btc,
}

/// A general-purpose register operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg {
    /// Register number (0 = RAX … 15 = R15).
    pub num: u8,
    /// `AH`, `CH`, `DH` or `BH`: bits 8–15 of register `num` (0–3), the
    /// byte registers 4–7 without a REX prefix.
    pub high_byte: bool,
}

impl Reg {
    /// The accumulator.
    pub const RAX: Self = Self { num: 0, high_byte: false };
}

/// The source operand of a store or an arithmetic operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// A register.
    Reg(Reg),
    /// An immediate, already sign-extended to 64 bits.
    Imm(u64),
}

/// The bit offset of a bit test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOffset {
    /// A register: signed, may address outside the operand.
    Reg(Reg),
    /// An immediate: taken modulo the operand width.
    Imm(u8),
}

/// The operation of a decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemWriteOp {
    /// `mov r/m, src`.
    Mov(Src),
    /// `xchg r/m, reg`.
    Xchg(Reg),
    /// `cmpxchg r/m, reg` (compares with the accumulator).
    Cmpxchg(Reg),
    /// `op r/m, src`.
    Alu(AluOp, Src),
    /// `bts`/`btr`/`btc r/m, offset`.
    Bit(BitOp, BitOffset),
}

/// A decoded memory operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemOperand {
    /// Base register, if any.
    pub base: Option<Reg>,
    /// Index register, if any.
    pub index: Option<Reg>,
    /// Scale of the index (1, 2, 4 or 8).
    pub scale: u8,
    /// Displacement.
    pub disp: i32,
    /// Relative to the next instruction's `RIP`.
    pub rip_relative: bool,
    /// `67`: the address is truncated to 32 bits.
    pub addr32: bool,
    /// `fs`/`gs` override: that segment's base is added.
    pub seg: Option<SegBaseReg>,
}

impl MemOperand {
    /// The linear address for registers `regs`, the address `next_rip` of
    /// the following instruction and the override segment's base
    /// `seg_base` (0 without one).
    #[must_use]
    pub fn effective_address(&self, regs: &CpuUserRegs, next_rip: u64, seg_base: u64) -> u64 {
        let mut ea = if self.rip_relative {
            next_rip
        } else {
            let base = self.base.map_or(0, |r| gpr_value(regs, r.num));
            let index = self.index.map_or(0, |r| gpr_value(regs, r.num));
            base.wrapping_add(index.wrapping_mul(u64::from(self.scale)))
        };
        ea = ea.wrapping_add(i64::from(self.disp).cast_unsigned());
        if self.addr32 {
            ea &= 0xffff_ffff;
        }
        ea.wrapping_add(seg_base)
    }
}

/// A decoded memory-writing instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemWriteInsn {
    /// Length in bytes, prefixes included.
    pub len: u8,
    /// Operand size in bytes (1, 2, 4 or 8).
    pub size: u8,
    /// The store must be atomic: a `lock` prefix, or `xchg`/`cmpxchg`.
    pub lock: bool,
    /// What it does.
    pub op: MemWriteOp,
    /// Where.
    pub mem: MemOperand,
}

/// A memory access the caller refused: the emulation is abandoned with
/// nothing changed (`X86EMUL_UNHANDLEABLE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused;

/// The result of [`MemOps::cmpxchg`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exchange {
    /// Memory held the expected value and now holds the new one.
    Done,
    /// Memory held this value instead; nothing was written.
    Mismatch(u64),
}

/// The memory an instruction works on. Values are zero-extended to 64
/// bits; `size` is 1, 2, 4 or 8.
pub trait MemOps {
    /// Reads `size` bytes at `addr`.
    fn read(&mut self, addr: u64, size: u8) -> Result<u64, Refused>;
    /// Writes the low `size` bytes of `value` at `addr`.
    fn write(&mut self, addr: u64, size: u8, value: u64) -> Result<(), Refused>;
    /// Atomically replaces `old` by `new` at `addr`.
    fn cmpxchg(&mut self, addr: u64, size: u8, old: u64, new: u64) -> Result<Exchange, Refused>;
}

/// How an executed instruction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executed {
    /// Completed: memory, registers and flags are updated; the caller
    /// advances `RIP` by [`MemWriteInsn::len`].
    Done,
    /// A compare-exchange lost a race: nothing changed, and the guest
    /// re-executes the instruction (`RIP` unchanged).
    Retry,
}

/// All bits of a `size`-byte operand.
#[must_use]
pub const fn operand_mask(size: u8) -> u64 {
    match size {
        1 => 0xff,
        2 => 0xffff,
        4 => 0xffff_ffff,
        _ => u64::MAX,
    }
}

/// The sign bit of a `size`-byte operand.
const fn sign_bit(size: u8) -> u64 {
    match size {
        1 => 1 << 7,
        2 => 1 << 15,
        4 => 1 << 31,
        _ => 1 << 63,
    }
}

/// Sign-extends a `size`-byte value to 64 bits.
fn sign_extend(value: u64, size: u8) -> i64 {
    let v = value & operand_mask(size);
    if v & sign_bit(size) == 0 { v.cast_signed() } else { (v | !operand_mask(size)).cast_signed() }
}

/// Reads the instruction bytes in order.
struct Bytes<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let b = self.bytes.get(self.pos).copied()?;
        self.pos = self.pos.checked_add(1)?;
        Some(b)
    }

    /// A little-endian immediate of `n` bytes, sign-extended to 64 bits.
    fn imm(&mut self, n: u8) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..n {
            v |= u64::from(self.next()?) << (8 * u32::from(i));
        }
        Some(sign_extend(v, n).cast_unsigned())
    }
}

/// REX bits and prefixes that shape the operands.
#[derive(Clone, Copy)]
struct Prefixes {
    opsize: bool,
    rex: u8,
}

impl Prefixes {
    const fn rex_w(self) -> bool {
        self.rex & 8 != 0
    }
    const fn rex_r(self) -> u8 {
        (self.rex >> 2) & 1
    }
    const fn rex_x(self) -> u8 {
        (self.rex >> 1) & 1
    }
    const fn rex_b(self) -> u8 {
        self.rex & 1
    }

    /// The operand size of a non-byte instruction.
    const fn word_size(self) -> u8 {
        if self.rex_w() {
            8
        } else if self.opsize {
            2
        } else {
            4
        }
    }

    /// Register `num` (REX extension included) as a `size`-byte operand.
    const fn reg(self, num: u8, size: u8) -> Reg {
        if size == 1 && self.rex == 0 && num >= 4 && num < 8 {
            Reg { num: num.wrapping_sub(4), high_byte: true }
        } else {
            Reg { num, high_byte: false }
        }
    }
}

/// The ModRM byte split into fields.
#[derive(Clone, Copy)]
struct ModRm {
    md: u8,
    reg: u8,
    rm: u8,
}

/// What an opcode is, before its operands are decoded.
#[derive(Clone, Copy)]
enum Form {
    /// `op r/m, reg`.
    RegSrc(fn(Reg) -> MemWriteOp),
    /// `c6 /0`, `c7 /0`: `mov r/m, imm` with that many immediate bytes.
    MovImm(u8),
    /// `80`, `81`, `83`: group 1 with that many immediate bytes.
    Group1(u8),
    /// `0f ba`: group 8 (bit tests with `imm8`).
    Group8,
}

/// Group 1 (`80`/`81`/`83`): the operation of ModRM.reg, if it writes.
const fn group1(reg: u8) -> Option<AluOp> {
    match reg {
        0 => Some(AluOp::Add),
        1 => Some(AluOp::Or),
        4 => Some(AluOp::And),
        5 => Some(AluOp::Sub),
        6 => Some(AluOp::Xor),
        // adc, sbb (not emulated) and cmp (does not write).
        _ => None,
    }
}

/// Group 8 (`0f ba`): the operation of ModRM.reg, if it writes.
const fn group8(reg: u8) -> Option<BitOp> {
    match reg {
        5 => Some(BitOp::Bts),
        6 => Some(BitOp::Btr),
        7 => Some(BitOp::Btc),
        // bt does not write; 0-3 are undefined.
        _ => None,
    }
}

/// The form and operand size of `opcode` (after `0f`, `second`).
fn opcode_form(p: Prefixes, opcode: u8, second: Option<u8>) -> Option<(Form, u8)> {
    let word = p.word_size();
    if let Some(b2) = second {
        let form = match b2 {
            0xb0 => return Some((Form::RegSrc(MemWriteOp::Cmpxchg), 1)),
            0xb1 => Form::RegSrc(MemWriteOp::Cmpxchg),
            0xab => Form::RegSrc(|r| MemWriteOp::Bit(BitOp::Bts, BitOffset::Reg(r))),
            0xb3 => Form::RegSrc(|r| MemWriteOp::Bit(BitOp::Btr, BitOffset::Reg(r))),
            0xbb => Form::RegSrc(|r| MemWriteOp::Bit(BitOp::Btc, BitOffset::Reg(r))),
            0xba => Form::Group8,
            _ => return None,
        };
        return Some((form, word));
    }
    // Even opcodes of these pairs are the byte forms.
    let size = if opcode & 1 == 0 { 1 } else { word };
    // imm8 for byte forms and 83, else imm16 or imm32 (sign-extended).
    let imm_len = if size == 1 || opcode == 0x83 { 1 } else { size.min(4) };
    let form = match opcode {
        0x88 | 0x89 => Form::RegSrc(|r| MemWriteOp::Mov(Src::Reg(r))),
        0x86 | 0x87 => Form::RegSrc(MemWriteOp::Xchg),
        0x00 | 0x01 => Form::RegSrc(|r| MemWriteOp::Alu(AluOp::Add, Src::Reg(r))),
        0x08 | 0x09 => Form::RegSrc(|r| MemWriteOp::Alu(AluOp::Or, Src::Reg(r))),
        0x20 | 0x21 => Form::RegSrc(|r| MemWriteOp::Alu(AluOp::And, Src::Reg(r))),
        0x28 | 0x29 => Form::RegSrc(|r| MemWriteOp::Alu(AluOp::Sub, Src::Reg(r))),
        0x30 | 0x31 => Form::RegSrc(|r| MemWriteOp::Alu(AluOp::Xor, Src::Reg(r))),
        0xc6 | 0xc7 => Form::MovImm(imm_len),
        0x80 | 0x81 | 0x83 => Form::Group1(imm_len),
        _ => return None,
    };
    Some((form, size))
}

/// Decodes one instruction from `bytes` (the bytes fetched at `RIP`,
/// 64-bit mode). `None` if it is not one of the memory writes handled here
/// or does not fit in the bytes given.
#[must_use]
pub fn decode(bytes: &[u8]) -> Option<MemWriteInsn> {
    let mut c = Bytes { bytes: bytes.get(..bytes.len().min(MAX_INSN_LEN))?, pos: 0 };
    let mut p = Prefixes { opsize: false, rex: 0 };
    let mut addr32 = false;
    let mut lock = false;
    let mut seg = None;
    let opcode = loop {
        let b = c.next()?;
        match b {
            0x66 => p.opsize = true,
            0x67 => addr32 = true,
            0xf0 => lock = true,
            0x26 | 0x2e | 0x36 | 0x3e => seg = None,
            0x64 => seg = Some(SegBaseReg::Fs),
            0x65 => seg = Some(SegBaseReg::Gs),
            0x40..=0x4f => {
                p.rex = b;
                continue;
            }
            _ => break b,
        }
        // A legacy prefix after REX makes the CPU ignore the REX.
        p.rex = 0;
    };
    let second = if opcode == 0x0f { Some(c.next()?) } else { None };
    let (form, size) = opcode_form(p, opcode, second)?;
    let m = c.next()?;
    let modrm = ModRm { md: m >> 6, reg: (m >> 3) & 7, rm: m & 7 };
    if modrm.md == 3 {
        return None; // a register destination
    }
    let mem = decode_mem(&mut c, p, modrm, addr32, seg)?;
    let op = match form {
        Form::RegSrc(make) => make(p.reg(modrm.reg | (p.rex_r() << 3), size)),
        Form::MovImm(imm_len) if modrm.reg == 0 => MemWriteOp::Mov(Src::Imm(c.imm(imm_len)?)),
        Form::MovImm(_) => return None,
        Form::Group1(imm_len) => MemWriteOp::Alu(group1(modrm.reg)?, Src::Imm(c.imm(imm_len)?)),
        Form::Group8 => {
            let op = group8(modrm.reg)?;
            MemWriteOp::Bit(op, BitOffset::Imm(c.next()?))
        }
    };
    let lock = match op {
        MemWriteOp::Mov(_) if lock => return None, // lock mov is #UD
        MemWriteOp::Mov(_) => false,
        MemWriteOp::Xchg(_) | MemWriteOp::Cmpxchg(_) => true,
        MemWriteOp::Alu(..) | MemWriteOp::Bit(..) => lock,
    };
    Some(MemWriteInsn { len: u8::try_from(c.pos).ok()?, size, lock, op, mem })
}

/// Decodes the memory operand after the ModRM byte (SIB, displacement).
fn decode_mem(
    c: &mut Bytes<'_>,
    p: Prefixes,
    modrm: ModRm,
    addr32: bool,
    seg: Option<SegBaseReg>,
) -> Option<MemOperand> {
    let mut mem =
        MemOperand { base: None, index: None, scale: 1, disp: 0, rip_relative: false, addr32, seg };
    let mut disp_len = match modrm.md {
        1 => 1,
        2 => 4,
        _ => 0,
    };
    if modrm.rm == 4 {
        let sib = c.next()?;
        let scale_bits = sib >> 6;
        let index = ((sib >> 3) & 7) | (p.rex_x() << 3);
        let base = sib & 7;
        if index != 4 {
            mem.index = Some(Reg { num: index, high_byte: false });
            mem.scale = 1 << scale_bits;
        }
        if base == 5 && modrm.md == 0 {
            disp_len = 4; // no base, disp32
        } else {
            mem.base = Some(Reg { num: base | (p.rex_b() << 3), high_byte: false });
        }
    } else if modrm.rm == 5 && modrm.md == 0 {
        mem.rip_relative = true;
        disp_len = 4;
    } else {
        mem.base = Some(Reg { num: modrm.rm | (p.rex_b() << 3), high_byte: false });
    }
    if disp_len > 0 {
        let d = c.imm(disp_len)?;
        mem.disp = i32::try_from(d.cast_signed()).ok()?;
    }
    Some(mem)
}

/// Fetches the instruction at `ctx.regs.rip` through the vCPU's page
/// tables and decodes it; `None` if it cannot be read, is not 64-bit code
/// or is not a memory write handled here.
pub(crate) fn fetch_and_decode(ctx: &Ctx<'_>) -> Option<MemWriteInsn> {
    if !crate::pv::descriptor::cs_is_long_mode(ctx) {
        return None;
    }
    let fetched = super::decode::fetch(ctx, ctx.regs.rip);
    decode(fetched.buf.get(..fetched.len)?)
}

/// The value of register `reg` as a `size`-byte operand.
fn read_reg(regs: &CpuUserRegs, reg: Reg, size: u8) -> u64 {
    let v = gpr_value(regs, reg.num);
    let v = if reg.high_byte { v >> 8 } else { v };
    v & operand_mask(size)
}

/// Writes a `size`-byte result to register `reg` with the architectural
/// merging: byte and word writes keep the other bits, a 32-bit write
/// clears bits 32–63.
fn write_reg(regs: &mut CpuUserRegs, reg: Reg, size: u8, value: u64) {
    let old = gpr_value(regs, reg.num);
    let new = match size {
        1 if reg.high_byte => (old & !0xff00) | ((value & 0xff) << 8),
        1 => (old & !0xff) | (value & 0xff),
        2 => (old & !0xffff) | (value & 0xffff),
        4 => value & 0xffff_ffff,
        _ => value,
    };
    set_gpr(regs, reg.num, new);
}

/// The value of a source operand as a `size`-byte operand.
fn src_value(regs: &CpuUserRegs, src: Src, size: u8) -> u64 {
    match src {
        Src::Reg(r) => read_reg(regs, r, size),
        Src::Imm(v) => v & operand_mask(size),
    }
}

/// Even parity of the low byte (`PF`).
const fn parity_flag(result: u64) -> u64 {
    if (result & 0xff).count_ones().is_multiple_of(2) { EFLAGS_PF } else { 0 }
}

/// `a op b` on `size`-byte operands: the result and its arithmetic flags.
#[must_use]
pub fn alu(op: AluOp, a: u64, b: u64, size: u8) -> (u64, u64) {
    let mask = operand_mask(size);
    let sign = sign_bit(size);
    let (a, b) = (a & mask, b & mask);
    let (result, cf, of, af) = match op {
        AluOp::Add => {
            let (sum, carry) = a.overflowing_add(b);
            let r = sum & mask;
            let cf = if size == 8 { carry } else { sum > mask };
            (r, cf, (a ^ r) & (b ^ r) & sign != 0, (a ^ b ^ r) & 0x10 != 0)
        }
        AluOp::Sub => {
            let r = a.wrapping_sub(b) & mask;
            (r, b > a, (a ^ b) & (a ^ r) & sign != 0, (a ^ b ^ r) & 0x10 != 0)
        }
        AluOp::Or => (a | b, false, false, false),
        AluOp::And => (a & b, false, false, false),
        AluOp::Xor => (a ^ b, false, false, false),
    };
    let mut flags = parity_flag(result);
    if cf {
        flags |= EFLAGS_CF;
    }
    if af {
        flags |= EFLAGS_AF;
    }
    if result == 0 {
        flags |= EFLAGS_ZF;
    }
    if result & sign != 0 {
        flags |= EFLAGS_SF;
    }
    if of {
        flags |= EFLAGS_OF;
    }
    (result, flags)
}

/// Replaces the flags in `which` by `flags`.
const fn set_flags(regs: &mut CpuUserRegs, which: u64, flags: u64) {
    regs.rflags = (regs.rflags & !which) | (flags & which);
}

/// Stores the result `new` of a read-modify-write that read `old`:
/// nothing if unchanged, a compare-exchange if `atomic`, else a write.
/// `false` when the compare-exchange lost.
fn store(
    mem: &mut dyn MemOps,
    atomic: bool,
    addr: u64,
    size: u8,
    old: u64,
    new: u64,
) -> Result<bool, Refused> {
    if new == old {
        return Ok(true);
    }
    if atomic {
        return Ok(mem.cmpxchg(addr, size, old, new)? == Exchange::Done);
    }
    mem.write(addr, size, new)?;
    Ok(true)
}

/// Runs `insn` (at `regs.rip`) against `mem`. `seg_base` is the base of
/// the instruction's `fs`/`gs` override, 0 without one. On
/// [`Executed::Done`] the registers and flags are updated (not `RIP`); on
/// a retry or a refusal `regs` is untouched.
///
/// # Errors
///
/// [`Refused`] when `mem` refused an access; nothing was written.
pub fn execute(
    insn: &MemWriteInsn,
    regs: &mut CpuUserRegs,
    seg_base: u64,
    mem: &mut dyn MemOps,
) -> Result<Executed, Refused> {
    let size = insn.size;
    let next_rip = regs.rip.wrapping_add(u64::from(insn.len));
    let ea = insn.mem.effective_address(regs, next_rip, seg_base);
    let mut r = *regs;
    let completed = match insn.op {
        MemWriteOp::Mov(src) => {
            mem.write(ea, size, src_value(&r, src, size))?;
            true
        }
        MemWriteOp::Xchg(reg) => {
            let old = mem.read(ea, size)?;
            let ok = store(mem, true, ea, size, old, read_reg(&r, reg, size))?;
            write_reg(&mut r, reg, size, old);
            ok
        }
        MemWriteOp::Cmpxchg(reg) => {
            let current = mem.read(ea, size)?;
            let acc = read_reg(&r, Reg::RAX, size);
            let (_, flags) = alu(AluOp::Sub, acc, current, size);
            set_flags(&mut r, EFLAGS_ARITH, flags);
            if acc == current {
                store(mem, true, ea, size, current, read_reg(&r, reg, size))?
            } else {
                write_reg(&mut r, Reg::RAX, size, current);
                true
            }
        }
        MemWriteOp::Alu(op, src) => {
            let a = mem.read(ea, size)?;
            let (result, flags) = alu(op, a, src_value(&r, src, size), size);
            set_flags(&mut r, EFLAGS_ARITH, flags);
            store(mem, insn.lock, ea, size, a, result)?
        }
        MemWriteOp::Bit(op, offset) => {
            let bits = u32::from(size).wrapping_mul(8);
            let (addr, bit) = match offset {
                BitOffset::Imm(i) => (ea, u32::from(i) & (bits.wrapping_sub(1))),
                BitOffset::Reg(reg) => {
                    let off = sign_extend(read_reg(&r, reg, size), size);
                    // Whole operands before or after the addressed one.
                    let units = off >> bits.trailing_zeros();
                    let delta = units.wrapping_mul(i64::from(size)).cast_unsigned();
                    let bit = u32::try_from(off & i64::from(bits.wrapping_sub(1))).unwrap_or(0);
                    (ea.wrapping_add(delta), bit)
                }
            };
            let a = mem.read(addr, size)?;
            let mask = 1u64 << bit;
            let result = match op {
                BitOp::Bts => a | mask,
                BitOp::Btr => a & !mask,
                BitOp::Btc => a ^ mask,
            };
            let cf = if a & mask != 0 { EFLAGS_CF } else { 0 };
            set_flags(&mut r, EFLAGS_CF, cf);
            store(mem, insn.lock, addr, size, a, result)?
        }
    };
    if !completed {
        return Ok(Executed::Retry);
    }
    *regs = r;
    Ok(Executed::Done)
}
