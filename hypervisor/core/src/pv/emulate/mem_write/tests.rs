// SPDX-License-Identifier: GPL-2.0-only
//! Host tests of the memory-write decoder and executor: every instruction
//! form with its prefixes and addressing modes, the refusals, flag results
//! against a reference computed in wider integers, compare-exchange retries
//! and a randomised decode run that must never panic.
// Tests index fixed buffers and build expected values arithmetically.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use alloc::vec::Vec;

use guest_abi::xen::CpuUserRegs;

use super::*;
use crate::test_rng::Rng;

/// Where the fake memory starts.
const BASE: u64 = 0x7000;
/// Where the instruction under test sits.
const RIP: u64 = 0x40_0000;

/// One access the executor made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Read(u64, u8),
    Write(u64, u8, u64),
    Cmpxchg(u64, u8, u64, u64),
}

/// 64 bytes of memory at [`BASE`], recording every access.
struct FakeMem {
    bytes: [u8; 64],
    log: Vec<Access>,
    /// Refuse every access at or above this address.
    refuse_from: u64,
    /// Before the next compare-exchange, another CPU stores this value.
    race: Option<u64>,
}

impl FakeMem {
    fn new() -> Self {
        Self { bytes: [0; 64], log: Vec::new(), refuse_from: u64::MAX, race: None }
    }

    fn with_u64(at: u64, value: u64) -> Self {
        let mut m = Self::new();
        m.put(at, 8, value);
        m
    }

    fn offset(&self, addr: u64, size: u8) -> Result<usize, Refused> {
        if addr >= self.refuse_from || addr < BASE || addr > BASE + 64 - u64::from(size) {
            return Err(Refused);
        }
        Ok((addr - BASE) as usize)
    }

    fn get(&self, addr: u64, size: u8) -> u64 {
        let off = (addr - BASE) as usize;
        let mut v = 0u64;
        for i in 0..usize::from(size) {
            v |= u64::from(self.bytes[off + i]) << (8 * i);
        }
        v
    }

    fn put(&mut self, addr: u64, size: u8, value: u64) {
        let off = (addr - BASE) as usize;
        for i in 0..usize::from(size) {
            self.bytes[off + i] = (value >> (8 * i)) as u8;
        }
    }

    fn writes(&self) -> usize {
        self.log.iter().filter(|a| !matches!(a, Access::Read(..))).count()
    }
}

impl MemOps for FakeMem {
    fn read(&mut self, addr: u64, size: u8) -> Result<u64, Refused> {
        self.offset(addr, size)?;
        self.log.push(Access::Read(addr, size));
        Ok(self.get(addr, size))
    }

    fn write(&mut self, addr: u64, size: u8, value: u64) -> Result<(), Refused> {
        self.offset(addr, size)?;
        self.log.push(Access::Write(addr, size, value));
        self.put(addr, size, value);
        Ok(())
    }

    fn cmpxchg(&mut self, addr: u64, size: u8, old: u64, new: u64) -> Result<Exchange, Refused> {
        self.offset(addr, size)?;
        self.log.push(Access::Cmpxchg(addr, size, old, new));
        if let Some(v) = self.race.take() {
            self.put(addr, size, v);
        }
        let current = self.get(addr, size);
        if current != old {
            return Ok(Exchange::Mismatch(current));
        }
        self.put(addr, size, new);
        Ok(Exchange::Done)
    }
}

fn regs() -> CpuUserRegs {
    CpuUserRegs { rip: RIP, rflags: 0x202, ..bytemuck::Zeroable::zeroed() }
}

fn reg(num: u8) -> Reg {
    Reg { num, high_byte: false }
}

fn base(num: u8) -> MemOperand {
    MemOperand {
        base: Some(reg(num)),
        index: None,
        scale: 1,
        disp: 0,
        rip_relative: false,
        addr32: false,
        seg: None,
    }
}

/// Decodes `bytes`, which must be exactly one instruction.
#[track_caller]
fn dec(bytes: &[u8]) -> MemWriteInsn {
    let insn = decode(bytes).unwrap_or_else(|| panic!("{bytes:02x?} did not decode"));
    assert_eq!(usize::from(insn.len), bytes.len(), "length of {bytes:02x?}");
    insn
}

/// Decodes and runs `bytes` against `mem`.
#[track_caller]
fn run(bytes: &[u8], r: &mut CpuUserRegs, mem: &mut FakeMem) -> Result<Executed, Refused> {
    execute(&dec(bytes), r, 0, mem)
}

const RAX: u8 = 0;
const RCX: u8 = 1;
const RBX: u8 = 3;
const RDI: u8 = 7;

#[test]
fn decodes_mov_forms() {
    // mov %rax,(%rdi) / mov %eax,(%rdi) / mov %ax,(%rdi)
    let i = dec(&[0x48, 0x89, 0x07]);
    assert_eq!(
        (i.size, i.lock, i.op, i.mem),
        (8, false, MemWriteOp::Mov(Src::Reg(reg(RAX))), base(RDI))
    );
    assert_eq!(dec(&[0x89, 0x07]).size, 4);
    assert_eq!(dec(&[0x66, 0x89, 0x07]).size, 2);
    // REX.W wins over 66.
    assert_eq!(dec(&[0x66, 0x48, 0x89, 0x07]).size, 8);
    // A legacy prefix after REX cancels it: 16-bit, base rdi not r15.
    let i = dec(&[0x49, 0x66, 0x89, 0x07]);
    assert_eq!((i.size, i.mem.base), (2, Some(reg(RDI))));
    // mov %ah,(%rdi) without REX; mov %spl,(%rdi) with one.
    let i = dec(&[0x88, 0x27]);
    assert_eq!((i.size, i.op), (1, MemWriteOp::Mov(Src::Reg(Reg { num: 0, high_byte: true }))));
    assert_eq!(dec(&[0x40, 0x88, 0x27]).op, MemWriteOp::Mov(Src::Reg(reg(4))));
    // mov %r8,(%rbx,%rcx,8): REX.W|R, SIB.
    let i = dec(&[0x4c, 0x89, 0x04, 0xcb]);
    assert_eq!(i.op, MemWriteOp::Mov(Src::Reg(reg(8))));
    assert_eq!((i.mem.base, i.mem.index, i.mem.scale), (Some(reg(RBX)), Some(reg(RCX)), 8));
    // mov %rax,0x10(%r8,%r9,8): REX.W|X|B, disp8.
    let i = dec(&[0x4b, 0x89, 0x44, 0xc8, 0x10]);
    assert_eq!(
        (i.mem.base, i.mem.index, i.mem.scale, i.mem.disp),
        (Some(reg(8)), Some(reg(9)), 8, 0x10)
    );
    // mov %rax,-0x80(%rbp): disp8 sign-extended; mov %rax,0x1000(%rsp) (SIB, no index).
    assert_eq!(dec(&[0x48, 0x89, 0x45, 0x80]).mem.disp, -0x80);
    let i = dec(&[0x48, 0x89, 0x84, 0x24, 0x00, 0x10, 0x00, 0x00]);
    assert_eq!((i.mem.base, i.mem.index, i.mem.disp), (Some(reg(4)), None, 0x1000));
    // SIB with REX.X: index r12 is a real index (only 100b without REX.X means none).
    let i = dec(&[0x4a, 0x89, 0x04, 0x20]);
    assert_eq!((i.mem.base, i.mem.index), (Some(reg(RAX)), Some(reg(12))));
    // Absolute disp32 (SIB, no base, no index), and mod 0 base 101 with REX.B (r13 + disp32).
    let i = dec(&[0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00]);
    assert_eq!(
        (i.mem.base, i.mem.index, i.mem.disp, i.mem.rip_relative),
        (None, None, 0x1000, false)
    );
    let i = dec(&[0x49, 0x89, 0x44, 0x25, 0x08]);
    assert_eq!((i.mem.base, i.mem.disp), (Some(reg(13)), 8));
    // RIP-relative.
    let i = dec(&[0x48, 0x89, 0x05, 0x78, 0x56, 0x34, 0x12]);
    assert!(i.mem.rip_relative);
    assert_eq!((i.mem.base, i.mem.disp), (None, 0x1234_5678));
    // Immediates: movq $-1 (imm32 sign-extended), movl, movw, movb.
    assert_eq!(
        dec(&[0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff]).op,
        MemWriteOp::Mov(Src::Imm(u64::MAX))
    );
    let i = dec(&[0xc7, 0x47, 0x08, 0x78, 0x56, 0x34, 0x12]);
    assert_eq!((i.size, i.mem.disp, i.op), (4, 8, MemWriteOp::Mov(Src::Imm(0x1234_5678))));
    assert_eq!(dec(&[0x66, 0xc7, 0x07, 0x34, 0x12]).op, MemWriteOp::Mov(Src::Imm(0x1234)));
    let i = dec(&[0xc6, 0x07, 0xab]);
    assert_eq!((i.size, i.op), (1, MemWriteOp::Mov(Src::Imm(0xffff_ffff_ffff_ffab))));
    // Segment overrides and the address-size prefix.
    assert_eq!(dec(&[0x65, 0x48, 0x89, 0x07]).mem.seg, Some(SegBaseReg::Gs));
    assert_eq!(dec(&[0x64, 0x48, 0x89, 0x07]).mem.seg, Some(SegBaseReg::Fs));
    assert_eq!(dec(&[0x65, 0x3e, 0x48, 0x89, 0x07]).mem.seg, None);
    assert!(dec(&[0x67, 0x48, 0x89, 0x07]).mem.addr32);
}

#[test]
fn decodes_read_modify_write_forms() {
    let i = dec(&[0x48, 0x87, 0x07]);
    assert_eq!((i.size, i.lock, i.op), (8, true, MemWriteOp::Xchg(reg(RAX))));
    assert_eq!(dec(&[0x86, 0x0f]).op, MemWriteOp::Xchg(reg(RCX)));
    let i = dec(&[0xf0, 0x48, 0x0f, 0xb1, 0x0f]);
    assert_eq!((i.size, i.lock, i.op), (8, true, MemWriteOp::Cmpxchg(reg(RCX))));
    let i = dec(&[0x0f, 0xb0, 0x0f]);
    assert_eq!((i.size, i.lock), (1, true));
    for (opc, op) in [
        (0x01, AluOp::Add),
        (0x09, AluOp::Or),
        (0x21, AluOp::And),
        (0x29, AluOp::Sub),
        (0x31, AluOp::Xor),
    ] {
        let i = dec(&[0xf0, 0x48, opc, 0x07]);
        assert_eq!((i.size, i.lock, i.op), (8, true, MemWriteOp::Alu(op, Src::Reg(reg(RAX)))));
        let i = dec(&[opc - 1, 0x07]);
        assert_eq!((i.size, i.lock), (1, false));
    }
    for (n, op) in
        [(0, AluOp::Add), (1, AluOp::Or), (4, AluOp::And), (5, AluOp::Sub), (6, AluOp::Xor)]
    {
        let modrm = 0x07 | (n << 3);
        assert_eq!(
            dec(&[0x80, modrm, 0xfd]).op,
            MemWriteOp::Alu(op, Src::Imm(0xffff_ffff_ffff_fffd))
        );
        assert_eq!(
            dec(&[0x48, 0x81, modrm, 0x00, 0x00, 0x00, 0x80]).op,
            MemWriteOp::Alu(op, Src::Imm(0xffff_ffff_8000_0000))
        );
        assert_eq!(dec(&[0x66, 0x81, modrm, 0x34, 0x12]).op, MemWriteOp::Alu(op, Src::Imm(0x1234)));
        assert_eq!(dec(&[0x48, 0x83, modrm, 0xff]).op, MemWriteOp::Alu(op, Src::Imm(u64::MAX)));
    }
    // Linux's clear_bit on a constant: lock andb $~2,(%rdi).
    let i = dec(&[0xf0, 0x80, 0x27, 0xfd]);
    assert_eq!((i.size, i.lock), (1, true));
    for (opc, op) in [(0xab, BitOp::Bts), (0xb3, BitOp::Btr), (0xbb, BitOp::Btc)] {
        let i = dec(&[0xf0, 0x48, 0x0f, opc, 0x07]);
        assert_eq!(
            (i.size, i.lock, i.op),
            (8, true, MemWriteOp::Bit(op, BitOffset::Reg(reg(RAX))))
        );
        assert_eq!(dec(&[0x66, 0x0f, opc, 0x07]).size, 2);
    }
    for (n, op) in [(5, BitOp::Bts), (6, BitOp::Btr), (7, BitOp::Btc)] {
        let i = dec(&[0x48, 0x0f, 0xba, 0x07 | (n << 3), 0x41]);
        assert_eq!((i.size, i.lock, i.op), (8, false, MemWriteOp::Bit(op, BitOffset::Imm(0x41))));
    }
    // The immediate follows the displacement.
    let i = dec(&[0xf0, 0x48, 0x0f, 0xba, 0x77, 0x08, 0x01]);
    assert_eq!((i.mem.disp, i.op), (8, MemWriteOp::Bit(BitOp::Btr, BitOffset::Imm(1))));
}

#[test]
fn refuses_everything_else() {
    for bytes in [
        &[0x48, 0x89, 0xc7][..],               // mov %rax,%rdi (register destination)
        &[0x48, 0x8b, 0x07],                   // a load
        &[0xf0, 0x48, 0x89, 0x07],             // lock mov (#UD)
        &[0xf3, 0x48, 0x89, 0x07],             // rep / xrelease
        &[0xf2, 0xf0, 0x48, 0x0f, 0xb1, 0x0f], // xacquire lock cmpxchg
        &[0x48, 0x83, 0x3f, 0x00],             // cmp (no write)
        &[0x48, 0x83, 0x17, 0x00],             // adc
        &[0x48, 0x83, 0x1f, 0x00],             // sbb
        &[0x48, 0x0f, 0xba, 0x27, 0x01],       // bt imm (no write)
        &[0x48, 0x0f, 0xba, 0x07, 0x01],       // 0f ba /0 (undefined)
        &[0x48, 0x0f, 0xa3, 0x07],             // bt reg
        &[0x48, 0xc7, 0x0f, 0x00, 0x00, 0x00, 0x00], // c7 /1
        &[0xc6, 0xf8, 0x00],                   // xabort
        &[0x90],                               // nop
        &[0x48, 0xab],                         // stos (not emulated)
        &[0x0f, 0xc3, 0x07],                   // movnti (not emulated)
        &[],
        &[0x48], // truncated
        &[0x48, 0x89],
        &[0x48, 0x89, 0x04],             // SIB missing
        &[0x48, 0x89, 0x47],             // disp8 missing
        &[0x48, 0x89, 0x05, 0x00, 0x00], // disp32 cut
        &[0x48, 0xc7, 0x07, 0xff, 0xff], // imm32 cut
        &[0x0f, 0xba, 0x2f],             // imm8 cut
    ] {
        assert_eq!(decode(bytes), None, "{bytes:02x?}");
    }
    // Fifteen prefixes and more: beyond the architectural length.
    let mut long = [0x66u8; 16];
    long[14] = 0x89;
    long[15] = 0x07;
    assert_eq!(decode(&long), None);
    let mut fits = [0x66u8; 15];
    fits[13] = 0x89;
    fits[14] = 0x07;
    assert_eq!(decode(&fits).map(|i| i.len), Some(15));
}

#[test]
fn effective_addresses() {
    let mut r = regs();
    r.rbx = 0x1000;
    r.rcx = 3;
    r.r8 = 0xffff_ffff_0000_0000;
    let i = dec(&[0x48, 0x89, 0x44, 0xcb, 0xf8]); // mov %rax,-8(%rbx,%rcx,8)
    assert_eq!(i.mem.effective_address(&r, 0, 0), 0x1000 + 24 - 8);
    // RIP-relative: from the end of the instruction, immediate included.
    let i = dec(&[0x48, 0xc7, 0x05, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]);
    assert_eq!(i.mem.effective_address(&r, RIP + u64::from(i.len), 0), RIP + 11 + 0x10);
    // 67: truncated to 32 bits before the segment base is added.
    let i = dec(&[0x67, 0x49, 0x89, 0x40, 0x10]); // mov %rax,0x10(%r8d)
    assert_eq!(i.mem.effective_address(&r, 0, 0x5000), 0x5010);
    let i = dec(&[0x49, 0x89, 0x40, 0x10]);
    assert_eq!(i.mem.effective_address(&r, 0, 0), 0xffff_ffff_0000_0010);
}

#[test]
fn mov_writes_without_reading() {
    let mut m = FakeMem::with_u64(BASE, 0x1111_2222_3333_4444);
    let mut r = regs();
    r.rdi = BASE;
    r.rax = 0xaabb_ccdd_eeff_0011;
    assert_eq!(run(&[0x48, 0x89, 0x07], &mut r, &mut m), Ok(Executed::Done));
    assert_eq!(m.log, [Access::Write(BASE, 8, 0xaabb_ccdd_eeff_0011)]);
    // Partial writes hand over only their bytes.
    m.log.clear();
    run(&[0x89, 0x47, 0x04], &mut r, &mut m).unwrap();
    run(&[0x66, 0xc7, 0x47, 0x08, 0x34, 0x12], &mut r, &mut m).unwrap();
    run(&[0x88, 0x67, 0x0a], &mut r, &mut m).unwrap(); // mov %ah,0xa(%rdi)
    assert_eq!(
        m.log,
        [
            Access::Write(BASE + 4, 4, 0xeeff_0011),
            Access::Write(BASE + 8, 2, 0x1234),
            Access::Write(BASE + 10, 1, 0x00),
        ]
    );
    // movq $imm32 sign-extends; the flags and other registers stay.
    r.rflags = 0x202 | EFLAGS_ARITH;
    let before = r;
    run(&[0x48, 0xc7, 0x47, 0x10, 0x00, 0x00, 0x00, 0x80], &mut r, &mut m).unwrap();
    assert_eq!(m.get(BASE + 0x10, 8), 0xffff_ffff_8000_0000);
    assert_eq!(r, before);
    // A mov of the value already there is still written (Xen's Mov).
    m.log.clear();
    run(&[0x48, 0x89, 0x07], &mut r, &mut m).unwrap();
    assert_eq!(m.writes(), 1);
}

#[test]
fn xchg_swaps_atomically() {
    let mut m = FakeMem::with_u64(BASE, 0x1234);
    let mut r = regs();
    r.rdi = BASE;
    r.rcx = 0;
    assert_eq!(run(&[0x48, 0x87, 0x0f], &mut r, &mut m), Ok(Executed::Done));
    assert_eq!((r.rcx, m.get(BASE, 8)), (0x1234, 0));
    assert_eq!(m.log, [Access::Read(BASE, 8), Access::Cmpxchg(BASE, 8, 0x1234, 0)]);
    // 32-bit: the register is zero-extended; high byte register.
    m.put(BASE, 8, 0xdead_beef_0000_0001);
    r.rcx = 0xffff_ffff_ffff_ffff;
    run(&[0x87, 0x0f], &mut r, &mut m).unwrap();
    assert_eq!((r.rcx, m.get(BASE, 8)), (1, 0xdead_beef_ffff_ffff));
    r.rax = 0x7700;
    run(&[0x86, 0x27], &mut r, &mut m).unwrap(); // xchg %ah,(%rdi)
    assert_eq!((r.rax, m.get(BASE, 1)), (0xff00, 0x77));
    // Lost race: retried, the register untouched.
    m.put(BASE, 8, 5);
    m.race = Some(6);
    r.rcx = 9;
    let before = r;
    assert_eq!(run(&[0x48, 0x87, 0x0f], &mut r, &mut m), Ok(Executed::Retry));
    assert_eq!((r, m.get(BASE, 8)), (before, 6));
    // Same value: nothing stored.
    m.log.clear();
    r.rcx = 6;
    run(&[0x48, 0x87, 0x0f], &mut r, &mut m).unwrap();
    assert_eq!(m.writes(), 0);
}

#[test]
fn cmpxchg_success_failure_and_retry() {
    let mut m = FakeMem::with_u64(BASE, 0x10);
    let mut r = regs();
    r.rdi = BASE;
    r.rax = 0x10;
    r.rcx = 0x20;
    let lock_cmpxchg = [0xf0, 0x48, 0x0f, 0xb1, 0x0f];
    assert_eq!(run(&lock_cmpxchg, &mut r, &mut m), Ok(Executed::Done));
    assert_eq!(m.get(BASE, 8), 0x20);
    assert_eq!(r.rflags & EFLAGS_ARITH, EFLAGS_ZF | EFLAGS_PF);
    assert_eq!(r.rax, 0x10);
    // Mismatch: the accumulator gets memory, flags of cmp (0x10 - 0x20).
    assert_eq!(run(&lock_cmpxchg, &mut r, &mut m), Ok(Executed::Done));
    assert_eq!((r.rax, m.get(BASE, 8)), (0x20, 0x20));
    assert_eq!(r.rflags & EFLAGS_ARITH, EFLAGS_CF | EFLAGS_SF | EFLAGS_PF);
    // 32-bit mismatch zero-extends RAX; success leaves its top half.
    m.put(BASE, 8, 0x5555_5555_0000_0007);
    r.rax = 0xffff_ffff_0000_0008;
    run(&[0x0f, 0xb1, 0x0f], &mut r, &mut m).unwrap();
    assert_eq!(r.rax, 7);
    r.rax = 0xffff_ffff_0000_0007;
    run(&[0x0f, 0xb1, 0x0f], &mut r, &mut m).unwrap();
    assert_eq!((r.rax, m.get(BASE, 8)), (0xffff_ffff_0000_0007, 0x5555_5555_0000_0020));
    // Byte form with the AL accumulator.
    r.rax = 0x20;
    r.rcx = 0x1ab;
    run(&[0x0f, 0xb0, 0x0f], &mut r, &mut m).unwrap();
    assert_eq!(m.get(BASE, 8), 0x5555_5555_0000_00ab);
    // A race between the read and the exchange: retry, nothing changes.
    m.put(BASE, 8, 1);
    m.race = Some(2);
    r.rax = 1;
    r.rcx = 3;
    r.rflags = 0x202;
    let before = r;
    assert_eq!(run(&lock_cmpxchg, &mut r, &mut m), Ok(Executed::Retry));
    assert_eq!((r, m.get(BASE, 8)), (before, 2));
}

#[test]
fn alu_stores_and_flags() {
    let mut m = FakeMem::with_u64(BASE, 0xff);
    let mut r = regs();
    r.rdi = BASE;
    // addb $1: carry out of the byte, zero, AF.
    run(&[0x80, 0x07, 0x01], &mut r, &mut m).unwrap();
    assert_eq!(m.get(BASE, 8), 0);
    assert_eq!(r.rflags & EFLAGS_ARITH, EFLAGS_CF | EFLAGS_ZF | EFLAGS_AF | EFLAGS_PF);
    // Unlocked: a plain write; locked: a compare-exchange against the read.
    m.log.clear();
    r.rax = 0x8000_0000_0000_0002;
    run(&[0x48, 0x09, 0x07], &mut r, &mut m).unwrap();
    assert_eq!(m.log, [Access::Read(BASE, 8), Access::Write(BASE, 8, 0x8000_0000_0000_0002)]);
    assert_eq!(r.rflags & EFLAGS_ARITH, EFLAGS_SF);
    m.log.clear();
    run(&[0xf0, 0x80, 0x27, 0xfd], &mut r, &mut m).unwrap(); // lock andb $~2
    assert_eq!(m.log, [Access::Read(BASE, 1), Access::Cmpxchg(BASE, 1, 2, 0)]);
    assert_eq!(m.get(BASE, 8), 0x8000_0000_0000_0000);
    // subq $1 from 0x8000..: signed overflow.
    run(&[0x48, 0x83, 0x2f, 0x01], &mut r, &mut m).unwrap();
    assert_eq!(m.get(BASE, 8), 0x7fff_ffff_ffff_ffff);
    assert_eq!(r.rflags & EFLAGS_ARITH, EFLAGS_OF | EFLAGS_AF | EFLAGS_PF);
    // xor with itself through a register: zero; an unchanged result stores nothing.
    r.rax = 0x7fff_ffff_ffff_ffff;
    run(&[0x48, 0x31, 0x07], &mut r, &mut m).unwrap();
    assert_eq!((m.get(BASE, 8), r.rflags & EFLAGS_ARITH), (0, EFLAGS_ZF | EFLAGS_PF));
    m.log.clear();
    run(&[0xf0, 0x48, 0x83, 0x0f, 0x00], &mut r, &mut m).unwrap(); // lock orq $0
    assert_eq!(m.log, [Access::Read(BASE, 8)]);
    // A lost race on a locked op: retry with the flags untouched.
    m.race = Some(0x40);
    r.rflags = 0x202;
    let before = r;
    assert_eq!(run(&[0xf0, 0x48, 0x83, 0x07, 0x01], &mut r, &mut m), Ok(Executed::Retry));
    assert_eq!((r, m.get(BASE, 8)), (before, 0x40));
}

/// The flags `op` must give, computed independently in 128-bit integers.
fn reference_flags(op: AluOp, a: u64, b: u64, size: u8) -> (u64, u64) {
    let bits = u32::from(size) * 8;
    let mask = operand_mask(size);
    let (ua, ub) = (u128::from(a & mask), u128::from(b & mask));
    let signed = |v: u128| -> i128 {
        let v = v as i128;
        if v >> (bits - 1) & 1 == 1 { v - (1i128 << bits) } else { v }
    };
    let (full, cf, of, af) = match op {
        AluOp::Add => {
            let s = signed(ua) + signed(ub);
            let r = ua + ub;
            let lim = 1i128 << (bits - 1);
            (r, r >> bits != 0, s >= lim || s < -lim, ((ua & 0xf) + (ub & 0xf)) > 0xf)
        }
        AluOp::Sub => {
            let s = signed(ua) - signed(ub);
            let r = ua.wrapping_sub(ub);
            let lim = 1i128 << (bits - 1);
            (r, ub > ua, s >= lim || s < -lim, (ua & 0xf) < (ub & 0xf))
        }
        AluOp::Or => (ua | ub, false, false, false),
        AluOp::And => (ua & ub, false, false, false),
        AluOp::Xor => (ua ^ ub, false, false, false),
    };
    let r = (full as u64) & mask;
    let mut f = 0;
    f |= if cf { EFLAGS_CF } else { 0 };
    f |= if (r & 0xff).count_ones().is_multiple_of(2) { EFLAGS_PF } else { 0 };
    f |= if af { EFLAGS_AF } else { 0 };
    f |= if r == 0 { EFLAGS_ZF } else { 0 };
    f |= if (r >> (bits - 1)) & 1 == 1 { EFLAGS_SF } else { 0 };
    f |= if of { EFLAGS_OF } else { 0 };
    (r, f)
}

#[test]
fn alu_flags_match_a_reference_on_random_inputs() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let edges =
        [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fff_ffff, 0x8000_0000, u64::MAX];
    for _ in 0..20_000 {
        let op = rng.pick(&[AluOp::Add, AluOp::Or, AluOp::And, AluOp::Sub, AluOp::Xor]);
        let size = rng.pick(&[1u8, 2, 4, 8]);
        let a = if rng.chance(30) { rng.pick(&edges) } else { rng.next() };
        let b = if rng.chance(30) { rng.pick(&edges) } else { rng.next() };
        assert_eq!(
            alu(op, a, b, size),
            reference_flags(op, a, b, size),
            "{op:?} {a:#x} {b:#x} /{size}"
        );
    }
}

#[test]
fn bit_tests_with_immediate_and_register_offsets() {
    let mut m = FakeMem::with_u64(BASE + 8, 0b1010);
    let mut r = regs();
    r.rdi = BASE + 8;
    // lock btrq $1: CF = old bit, the bit cleared; immediates wrap at 64.
    run(&[0xf0, 0x48, 0x0f, 0xba, 0x37, 0x41], &mut r, &mut m).unwrap();
    assert_eq!((m.get(BASE + 8, 8), r.rflags & EFLAGS_CF), (0b1000, EFLAGS_CF));
    // btsl $33: bit 1 of the dword (imm mod 32).
    run(&[0x0f, 0xba, 0x2f, 0x21], &mut r, &mut m).unwrap();
    assert_eq!((m.get(BASE + 8, 8), r.rflags & EFLAGS_CF), (0b1010, 0));
    // Other flags are left as they were.
    r.rflags = 0x202 | EFLAGS_ZF | EFLAGS_OF;
    run(&[0x48, 0x0f, 0xba, 0x3f, 0x03], &mut r, &mut m).unwrap(); // btcq $3
    assert_eq!((m.get(BASE + 8, 8), r.rflags), (0b0010, 0x202 | EFLAGS_ZF | EFLAGS_OF | EFLAGS_CF));
    // Register offsets address whole operands: bit 65 of (%rdi) is bit 1 of 8(%rdi).
    m.put(BASE + 16, 8, 0);
    r.rax = 65;
    m.log.clear();
    run(&[0xf0, 0x48, 0x0f, 0xab, 0x07], &mut r, &mut m).unwrap(); // lock bts %rax,(%rdi)
    assert_eq!(m.get(BASE + 16, 8), 2);
    assert_eq!(m.log, [Access::Read(BASE + 16, 8), Access::Cmpxchg(BASE + 16, 8, 0, 2)]);
    // Negative: -1 is bit 63 of the qword before; -33 (32-bit) bit 31 of the dword two back.
    r.rax = u64::MAX;
    m.put(BASE, 8, 0);
    run(&[0x48, 0x0f, 0xab, 0x07], &mut r, &mut m).unwrap();
    assert_eq!(m.get(BASE, 8), 1 << 63);
    r.rax = 0xffff_ffff_ffff_ffdf; // -33 as a dword (upper half ignored for 32-bit)
    run(&[0x0f, 0xbb, 0x07], &mut r, &mut m).unwrap(); // btc %eax,(%rdi)
    assert_eq!(m.get(BASE, 8), (1 << 63) | (1 << 31));
    // 16-bit: -1 is bit 15 of the word before.
    r.rax = 0xffff;
    run(&[0x66, 0x0f, 0xb3, 0x07], &mut r, &mut m).unwrap(); // btr %ax,(%rdi)
    assert_eq!(m.get(BASE + 6, 2), 0);
    assert_eq!(r.rflags & EFLAGS_CF, EFLAGS_CF);
    // Setting a set bit stores nothing.
    m.log.clear();
    r.rax = 31;
    run(&[0x48, 0x0f, 0xab, 0x47, 0xf8], &mut r, &mut m).unwrap(); // bts %rax,-8(%rdi)
    assert_eq!(m.writes(), 0);
    assert_eq!(r.rflags & EFLAGS_CF, EFLAGS_CF);
}

#[test]
fn refused_accesses_change_nothing() {
    let mut m = FakeMem::new();
    m.refuse_from = BASE + 32;
    let mut r = regs();
    r.rdi = BASE + 32;
    r.rax = 1;
    r.rflags = 0x202;
    let before = r;
    for bytes in [
        &[0x48, 0x89, 0x07][..],
        &[0x48, 0x87, 0x07],
        &[0xf0, 0x48, 0x0f, 0xb1, 0x07],
        &[0x48, 0x01, 0x07],
        &[0x48, 0x0f, 0xab, 0x07],
    ] {
        assert_eq!(run(bytes, &mut r, &mut m), Err(Refused), "{bytes:02x?}");
        assert_eq!(r, before);
    }
    // A register bit offset that walks out of the allowed range.
    r.rdi = BASE;
    r.rax = 64 * 5;
    assert_eq!(run(&[0x48, 0x0f, 0xab, 0x07], &mut r, &mut m), Err(Refused));
    assert!(m.log.is_empty());
}

#[test]
fn segment_base_is_added() {
    let mut m = FakeMem::new();
    let mut r = regs();
    r.rdi = 0x10;
    r.rax = 0x99;
    let i = dec(&[0x65, 0x48, 0x89, 0x07]);
    execute(&i, &mut r, BASE, &mut m).unwrap();
    assert_eq!(m.get(BASE + 0x10, 8), 0x99);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let interesting = [
        0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x64, 0x65, 0x48, 0x4f, 0x40, 0x0f, 0x88, 0x89, 0xc6,
        0xc7, 0x86, 0x87, 0x80, 0x81, 0x83, 0xb0, 0xb1, 0xab, 0xb3, 0xbb, 0xba, 0x04, 0x05, 0x44,
        0x84, 0x24, 0x25,
    ];
    let mut decoded = 0;
    for _ in 0..50_000 {
        let len = rng.index(16);
        let bytes: Vec<u8> = (0..len)
            .map(|_| if rng.chance(60) { rng.pick(&interesting) } else { rng.next() as u8 })
            .collect();
        if let Some(insn) = decode(&bytes) {
            decoded += 1;
            assert!(usize::from(insn.len) <= bytes.len().min(15));
            assert!(matches!(insn.size, 1 | 2 | 4 | 8));
            // Executing against memory that refuses everything leaves the registers.
            let mut m = FakeMem::new();
            m.refuse_from = 0;
            let mut r = regs();
            r.rax = rng.next();
            let before = r;
            assert_eq!(execute(&insn, &mut r, 0, &mut m), Err(Refused));
            assert_eq!(r, before);
        }
    }
    assert!(decoded > 1000, "only {decoded} random instructions decoded");
}
