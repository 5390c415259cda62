//! Multiboot 1: hand-parsing of `struct multiboot_info` through [`PhysMemory`].
//!
//! Layout (all fields little-endian `u32` unless noted):
//!
//! | off | field              | valid if flag bit |
//! |-----|--------------------|-------------------|
//! | 0   | flags              | -                 |
//! | 4   | mem_lower (KiB)    | 0                 |
//! | 8   | mem_upper (KiB)    | 0                 |
//! | 16  | cmdline (paddr)    | 2                 |
//! | 20  | mods_count         | 3                 |
//! | 24  | mods_addr (paddr)  | 3                 |
//! | 44  | mmap_length        | 6                 |
//! | 48  | mmap_addr (paddr)  | 6                 |
//! | 64  | boot_loader_name   | 9                 |
//!
//! Module entries are 16 bytes: `mod_start`, `mod_end` (exclusive),
//! `string` (paddr, 0 = none), reserved. Memory map entries are
//! `size: u32` followed by `base_addr: u64, length: u64, type: u32` (at least
//! 20 bytes); the next entry starts at `entry + size + 4`.

use crate::{
    BootError, BootInfo, MAX_MMAP_ENTRIES, MAX_MODULES, MAX_STRING_LEN, MB1_INFO_SIZE, Module,
    PhysMemory, Protocol, le_u32, le_u64, lossy_cstr, push_region, range, synthesize_memory_map,
};
use alloc::string::String;
use alloc::vec::Vec;

const FLAG_MEM: u32 = 1 << 0;
const FLAG_CMDLINE: u32 = 1 << 2;
const FLAG_MODS: u32 = 1 << 3;
const FLAG_MMAP: u32 = 1 << 6;
const FLAG_LOADER_NAME: u32 = 1 << 9;

/// Bytes of `multiboot_info` actually read: every field up to and including
/// the VBE block (QEMU's `MBI_SIZE`); the parser only needs offsets < 68.
const INFO_READ_LEN: usize = 88;

const OFF_FLAGS: usize = 0;
const OFF_MEM_LOWER: usize = 4;
const OFF_MEM_UPPER: usize = 8;
const OFF_CMDLINE: usize = 16;
const OFF_MODS_COUNT: usize = 20;
const OFF_MODS_ADDR: usize = 24;
const OFF_MMAP_LENGTH: usize = 44;
const OFF_MMAP_ADDR: usize = 48;
const OFF_LOADER_NAME: usize = 64;

/// Size of one module list entry.
const MOD_ENTRY_LEN: usize = 16;
/// Minimum `size` of a memory map entry: base u64 + length u64 + type u32.
const MMAP_ENTRY_MIN: u32 = 20;

/// Parse the Multiboot 1 information structure at `info`.
pub(crate) fn parse(info: u64, mem: &impl PhysMemory) -> Result<BootInfo, BootError> {
    let mut raw = [0u8; INFO_READ_LEN];
    mem.read(info, &mut raw)?;
    let field = |off: usize| le_u32(&raw, off).ok_or(BootError::Malformed("mb1: short info"));

    let flags = field(OFF_FLAGS)?;
    let info_range = range(info, MB1_INFO_SIZE, "mb1: info structure wraps address space")?;
    let mut extra_reserved = Vec::new();

    let cmdline = if flags & FLAG_CMDLINE != 0 {
        read_string(mem, field(OFF_CMDLINE)?, &mut extra_reserved)?
    } else {
        String::new()
    };

    let loader_name = if flags & FLAG_LOADER_NAME != 0 {
        Some(read_string(mem, field(OFF_LOADER_NAME)?, &mut extra_reserved)?)
    } else {
        None
    };

    let modules = if flags & FLAG_MODS != 0 {
        read_modules(mem, field(OFF_MODS_COUNT)?, field(OFF_MODS_ADDR)?, &mut extra_reserved)?
    } else {
        Vec::new()
    };

    let mut memory_map = if flags & FLAG_MMAP != 0 {
        let addr = u64::from(field(OFF_MMAP_ADDR)?);
        let len = u64::from(field(OFF_MMAP_LENGTH)?);
        let area = range(addr, len, "mb1: mmap wraps address space")?;
        if len != 0 {
            extra_reserved.push(area);
        }
        read_mmap(mem, area)?
    } else {
        Vec::new()
    };
    if memory_map.is_empty() && flags & FLAG_MEM != 0 {
        memory_map = synthesize_memory_map(field(OFF_MEM_LOWER)?, field(OFF_MEM_UPPER)?);
    }

    Ok(BootInfo {
        protocol: Protocol::Multiboot1,
        loader_name,
        cmdline,
        memory_map,
        modules,
        acpi: None,
        info_range,
        extra_reserved,
    })
}

/// Read the string at the 32-bit physical pointer `ptr` (0 = no string, read
/// as empty) and record the bytes it occupies in `reserved`.
fn read_string(
    mem: &impl PhysMemory,
    ptr: u32,
    reserved: &mut Vec<(u64, u64)>,
) -> Result<String, BootError> {
    if ptr == 0 {
        return Ok(String::new());
    }
    let paddr = u64::from(ptr);
    let (s, footprint) = read_cstr(mem, paddr)?;
    reserved.push(range(paddr, footprint, "mb1: string wraps address space")?);
    Ok(s)
}

/// Read a NUL-terminated string at `paddr`, at most [`MAX_STRING_LEN`] bytes.
///
/// Returns the (lossily decoded) string and its footprint in bytes: length
/// plus the NUL, or [`MAX_STRING_LEN`] if no NUL was found within the cap.
///
/// Reads in chunks that never cross a 64-byte boundary; if a chunk is
/// unreadable (e.g. the string ends right before the end of readable memory)
/// it falls back to single bytes, so only bytes up to the NUL must be
/// readable.
fn read_cstr(mem: &impl PhysMemory, paddr: u64) -> Result<(String, u64), BootError> {
    const CHUNK: u64 = 64;
    let mut bytes: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 64];
    loop {
        let done = u64::try_from(bytes.len()).map_err(|_| BootError::Malformed("mb1: string"))?;
        let cap_left =
            u64::try_from(MAX_STRING_LEN).ok().and_then(|cap| cap.checked_sub(done)).unwrap_or(0);
        if cap_left == 0 {
            let footprint = u64::try_from(MAX_STRING_LEN).unwrap_or(u64::MAX);
            return Ok((lossy_cstr(&bytes), footprint));
        }
        let addr = paddr.checked_add(done).ok_or(BootError::Unreadable { paddr })?;
        let to_boundary = CHUNK.saturating_sub(addr & (CHUNK - 1));
        let want = usize::try_from(to_boundary.min(cap_left)).unwrap_or(1);
        let buf = chunk.get_mut(..want).ok_or(BootError::Malformed("mb1: string chunk"))?;
        let got_len = if mem.read(addr, buf).is_ok() {
            want
        } else {
            // Fall back to one byte: the rest of the chunk may lie beyond
            // readable memory while the string itself ends before it.
            let one = chunk.get_mut(..1).ok_or(BootError::Malformed("mb1: string chunk"))?;
            mem.read(addr, one)?;
            1
        };
        let got = chunk.get(..got_len).unwrap_or_default();
        if let Some(nul) = got.iter().position(|&b| b == 0) {
            bytes.extend_from_slice(got.get(..nul).unwrap_or_default());
            let footprint = u64::try_from(bytes.len())
                .ok()
                .and_then(|n| n.checked_add(1))
                .ok_or(BootError::Malformed("mb1: string"))?;
            return Ok((lossy_cstr(&bytes), footprint));
        }
        bytes.extend_from_slice(got);
    }
}

/// Read the module list: `count` 16-byte entries at `addr`.
fn read_modules(
    mem: &impl PhysMemory,
    count: u32,
    addr: u32,
    reserved: &mut Vec<(u64, u64)>,
) -> Result<Vec<Module>, BootError> {
    let count =
        usize::try_from(count).map_err(|_| BootError::Malformed("mb1: too many modules"))?;
    if count > MAX_MODULES {
        return Err(BootError::Malformed("mb1: too many modules"));
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    let list_len =
        count.checked_mul(MOD_ENTRY_LEN).ok_or(BootError::Malformed("mb1: too many modules"))?;
    let mut list = alloc::vec![0u8; list_len];
    let base = u64::from(addr);
    mem.read(base, &mut list)?;
    let list_len = u64::try_from(list_len).map_err(|_| BootError::Malformed("mb1: modules"))?;
    reserved.push(range(base, list_len, "mb1: module list wraps address space")?);

    let mut modules = Vec::with_capacity(count);
    for entry in list.chunks_exact(MOD_ENTRY_LEN) {
        let start = le_u32(entry, 0).ok_or(BootError::Malformed("mb1: module entry"))?;
        let end = le_u32(entry, 4).ok_or(BootError::Malformed("mb1: module entry"))?;
        let string = le_u32(entry, 8).ok_or(BootError::Malformed("mb1: module entry"))?;
        if end < start {
            return Err(BootError::Malformed("mb1: module end < start"));
        }
        let cmdline = read_string(mem, string, reserved)?;
        modules.push(Module { start: u64::from(start), end: u64::from(end), cmdline });
    }
    Ok(modules)
}

/// Walk the memory map occupying `[start, end)`.
fn read_mmap(
    mem: &impl PhysMemory,
    (start, end): (u64, u64),
) -> Result<Vec<crate::MemoryRegion>, BootError> {
    let mut map = Vec::new();
    let mut cur = start;
    let mut entries = 0usize;
    while cur < end {
        if entries >= MAX_MMAP_ENTRIES {
            return Err(BootError::Malformed("mb1: too many memory map entries"));
        }
        entries = entries.saturating_add(1);

        let mut raw = [0u8; 24];
        let body = cur.checked_add(4).ok_or(BootError::Malformed("mb1: mmap entry wraps"))?;
        let entry_end = body
            .checked_add(u64::from(MMAP_ENTRY_MIN))
            .ok_or(BootError::Malformed("mb1: mmap entry wraps"))?;
        if entry_end > end {
            return Err(BootError::Malformed("mb1: mmap entry runs past mmap_length"));
        }
        mem.read(cur, &mut raw)?;
        let size = le_u32(&raw, 0).ok_or(BootError::Malformed("mb1: mmap entry"))?;
        if size < MMAP_ENTRY_MIN {
            return Err(BootError::Malformed("mb1: mmap entry size too small"));
        }
        let base = le_u64(&raw, 4).ok_or(BootError::Malformed("mb1: mmap entry"))?;
        let len = le_u64(&raw, 12).ok_or(BootError::Malformed("mb1: mmap entry"))?;
        let kind = le_u32(&raw, 20).ok_or(BootError::Malformed("mb1: mmap entry"))?;
        push_region(&mut map, base, len, kind)?;

        cur = body
            .checked_add(u64::from(size))
            .ok_or(BootError::Malformed("mb1: mmap entry wraps"))?;
    }
    Ok(map)
}
