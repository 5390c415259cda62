//! Multiboot 2: copy the tag structure into an aligned heap buffer and parse
//! it with the [`multiboot2`] crate.
//!
//! The crate validates the overall structure on load (`total_size`, every
//! tag's size staying within it, the terminating end tag). Its typed tag
//! views, however, `assert!` on per-tag sizes (e.g. a module tag shorter than
//! 16 bytes, a memory map whose entry size is not 24, a basic-meminfo tag that
//! is not exactly 16 bytes). Every such precondition is checked here before a
//! typed view is created, so untrusted input can never reach those asserts.

use crate::{
    AcpiRoot, BootError, BootInfo, MAX_MB2_TOTAL_SIZE, MAX_MMAP_ENTRIES, MAX_MODULES, MemoryRegion,
    Module, PhysMemory, Protocol, le_u32, le_u64, lossy_cstr, push_region, range,
    synthesize_memory_map,
};
use alloc::string::String;
use alloc::vec::Vec;
use multiboot2::{
    BasicMemoryInfoTag, BootInformation, BootInformationHeader, BootLoaderNameTag, CommandLineTag,
    DynSizedStructure, LoadError, MaybeDynSized, MemoryArea, MemoryMapTag, ModuleTag, TagHeader,
    TagType,
};

const TAG_CMDLINE: u32 = TagType::Cmdline.val();
const TAG_LOADER_NAME: u32 = TagType::BootLoaderName.val();
const TAG_MODULE: u32 = TagType::Module.val();
const TAG_BASIC_MEMINFO: u32 = TagType::BasicMeminfo.val();
const TAG_MMAP: u32 = TagType::Mmap.val();
const TAG_ACPI_OLD: u32 = TagType::AcpiV1.val();
const TAG_ACPI_NEW: u32 = TagType::AcpiV2.val();

/// Fixed part of a module tag: tag header + `mod_start` + `mod_end`.
const MODULE_TAG_MIN: usize = 16;
/// Fixed part of a memory map tag: tag header + `entry_size` +
/// `entry_version`.
const MMAP_TAG_HEADER: usize = 16;
/// The part of [`MMAP_TAG_HEADER`] after the generic tag header.
const MMAP_FIXED_PAYLOAD: usize = MMAP_TAG_HEADER - size_of::<TagHeader>();
/// Smallest allowed memory map entry: base u64, length u64, type u32,
/// reserved u32 (what the crate's [`MemoryArea`] models).
const MMAP_ENTRY_MIN: usize = size_of::<MemoryArea>();
/// Smallest valid structure: 8-byte header + 8-byte end tag.
const MIN_TOTAL_SIZE: u32 = 16;

const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
const RSDP_V1_LEN: usize = 20;
const RSDP_V2_MIN_LEN: usize = 36;

/// One 8-byte, 8-byte-aligned unit of the copied boot information. A
/// `[Block]` is a contiguous, padding-free, 8-aligned byte buffer.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Block([u8; 8]);

/// Parse the Multiboot 2 information structure at `info`.
pub(crate) fn parse(info: u64, mem: &impl PhysMemory) -> Result<BootInfo, BootError> {
    let mut header = [0u8; 8];
    mem.read(info, &mut header)?;
    let total_size = le_u32(&header, 0).ok_or(BootError::Malformed("mb2: short header"))?;
    if total_size > MAX_MB2_TOTAL_SIZE {
        return Err(BootError::Malformed("mb2: total_size larger than 1 MiB"));
    }
    if total_size < MIN_TOTAL_SIZE {
        return Err(BootError::Malformed("mb2: total_size too small"));
    }
    if total_size & 7 != 0 {
        return Err(BootError::Malformed("mb2: total_size not a multiple of 8"));
    }
    let info_range = range(info, u64::from(total_size), "mb2: info structure wraps address space")?;

    let buf = copy_aligned(mem, info, total_size)?;
    let boot_info = load(&buf)?;
    extract(&boot_info, info_range)
}

/// Copy `total_size` bytes at `info` into a fresh 8-byte-aligned buffer.
fn copy_aligned(
    mem: &impl PhysMemory,
    info: u64,
    total_size: u32,
) -> Result<Vec<Block>, BootError> {
    const CHUNK: usize = 256;
    let total = usize::try_from(total_size).map_err(|_| BootError::Malformed("mb2: total_size"))?;
    let mut out: Vec<Block> = Vec::new();
    out.try_reserve_exact(total.div_ceil(8)).map_err(|_| BootError::OutOfMemory)?;

    let mut chunk = [0u8; CHUNK];
    let mut done = 0usize;
    while let Some(left) = total.checked_sub(done).filter(|&l| l != 0) {
        let n = left.min(CHUNK);
        let paddr = u64::try_from(done)
            .ok()
            .and_then(|d| info.checked_add(d))
            .ok_or(BootError::Malformed("mb2: info structure wraps address space"))?;
        let part = chunk.get_mut(..n).ok_or(BootError::Malformed("mb2: copy"))?;
        mem.read(paddr, part)?;
        for word in part.chunks(8) {
            let mut block = [0u8; 8];
            block
                .get_mut(..word.len())
                .ok_or(BootError::Malformed("mb2: copy"))?
                .copy_from_slice(word);
            out.push(Block(block));
        }
        done = done.checked_add(n).ok_or(BootError::Malformed("mb2: copy"))?;
    }

    // The structure was read twice (header, then whole): make sure the copy
    // is self-consistent with the size the buffer was allocated for.
    let copied_size = out.first().and_then(|b| le_u32(&b.0, 0));
    if copied_size != Some(total_size) {
        return Err(BootError::Malformed("mb2: total_size changed while copying"));
    }
    Ok(out)
}

/// Hand the copied structure to the `multiboot2` crate.
///
/// The returned [`BootInformation`] borrows `buf`, so the borrow checker
/// keeps the buffer alive and unmodified for as long as it is used.
fn load(buf: &[Block]) -> Result<BootInformation<'_>, BootError> {
    let total =
        buf.first().and_then(|b| le_u32(&b.0, 0)).ok_or(BootError::Malformed("mb2: empty"))?;
    let total = usize::try_from(total).map_err(|_| BootError::Malformed("mb2: total_size"))?;
    let available = buf.len().saturating_mul(size_of::<Block>());
    if total > available {
        return Err(BootError::Malformed("mb2: total_size exceeds copied bytes"));
    }
    let ptr = buf.as_ptr().cast::<BootInformationHeader>();
    #[allow(unsafe_code)]
    // SAFETY: `ptr` points at the start of `buf`, a live, non-empty slice of
    // `Block`s, so it is non-null and 8-byte aligned (`Block` is
    // `repr(C, align(8))`, as `BootInformationHeader` requires). The header's
    // `total_size` was just checked to be <= the slice's byte length, so the
    // whole reported structure is readable initialized memory (`Block` has no
    // padding). The result borrows `buf` for `'_`, and `Block` has no interior
    // mutability, so the memory cannot be modified or freed while the
    // `BootInformation` is alive.
    let loaded = unsafe { BootInformation::load(ptr) };
    loaded.map_err(|e| match e {
        LoadError::Memory(_) => {
            BootError::Malformed("mb2: bad tag structure (tag size runs past total_size)")
        }
        LoadError::NoEndTag => BootError::Malformed("mb2: missing end tag"),
    })
}

/// Pull everything of interest out of a loaded structure.
fn extract(bi: &BootInformation<'_>, info_range: (u64, u64)) -> Result<BootInfo, BootError> {
    let mut cmdline: Option<String> = None;
    let mut loader_name: Option<String> = None;
    let mut modules: Vec<Module> = Vec::new();
    let mut meminfo: Option<(u32, u32)> = None;
    let mut mmap: Option<Vec<MemoryRegion>> = None;
    let mut acpi_old: Option<AcpiRoot> = None;
    let mut acpi_new: Option<AcpiRoot> = None;

    // `load` validated that every tag is >= 8 bytes and lies within
    // `total_size`, so iterating and the string casts below cannot panic.
    for tag in bi.tags() {
        match tag.header().typ.get() {
            TAG_CMDLINE if cmdline.is_none() => {
                cmdline = Some(lossy_cstr(tag.cast::<CommandLineTag>().payload()));
            }
            TAG_LOADER_NAME if loader_name.is_none() => {
                loader_name = Some(lossy_cstr(tag.cast::<BootLoaderNameTag>().payload()));
            }
            TAG_MODULE => modules.push(module(tag, modules.len())?),
            TAG_BASIC_MEMINFO if meminfo.is_none() => {
                // `BasicMemoryInfoTag` is a sized 16-byte type; the crate's
                // cast asserts the tag is exactly that (after padding).
                if usize::try_from(tag.header().size).ok() != Some(size_of::<BasicMemoryInfoTag>())
                {
                    return Err(BootError::Malformed("mb2: basic meminfo tag has wrong size"));
                }
                let t = tag.cast::<BasicMemoryInfoTag>();
                meminfo = Some((t.memory_lower(), t.memory_upper()));
            }
            TAG_MMAP if mmap.is_none() => mmap = Some(memory_map(tag)?),
            // First *valid* RSDP of each kind wins; invalid ones are skipped.
            TAG_ACPI_OLD if acpi_old.is_none() => acpi_old = rsdp_v1(tag.payload()),
            TAG_ACPI_NEW if acpi_new.is_none() => acpi_new = rsdp_v2(tag.payload()),
            _ => {}
        }
    }

    let memory_map = match (mmap.filter(|map| !map.is_empty()), meminfo) {
        (Some(map), _) => map,
        (None, Some((lower, upper))) => synthesize_memory_map(lower, upper),
        (None, None) => Vec::new(),
    };

    Ok(BootInfo {
        protocol: Protocol::Multiboot2,
        loader_name,
        cmdline: cmdline.unwrap_or_default(),
        memory_map,
        modules,
        acpi: acpi_new.or(acpi_old),
        info_range,
        extra_reserved: Vec::new(),
    })
}

/// Module tag (type 3): `mod_start`, `mod_end`, NUL-terminated string.
fn module(tag: &DynSizedStructure<TagHeader>, already: usize) -> Result<Module, BootError> {
    if already >= MAX_MODULES {
        return Err(BootError::Malformed("mb2: too many modules"));
    }
    if usize::try_from(tag.header().size).map_or(true, |s| s < MODULE_TAG_MIN) {
        return Err(BootError::Malformed("mb2: module tag too small"));
    }
    let m = tag.cast::<ModuleTag>();
    let (start, end) = (m.start_address(), m.end_address());
    if end < start {
        return Err(BootError::Malformed("mb2: module end < start"));
    }
    // `payload()` starts after the tag header, i.e. at `mod_start`.
    let string = m.payload().get(8..).unwrap_or_default();
    Ok(Module { start: u64::from(start), end: u64::from(end), cmdline: lossy_cstr(string) })
}

/// Memory map tag (type 6).
fn memory_map(tag: &DynSizedStructure<TagHeader>) -> Result<Vec<MemoryRegion>, BootError> {
    let payload = tag.payload();
    let too_small = BootError::Malformed("mb2: mmap tag too small");
    let entries = payload.get(MMAP_FIXED_PAYLOAD..).ok_or(too_small)?;
    let entry_size = le_u32(payload, 0).ok_or(too_small)?;
    let entry_size =
        usize::try_from(entry_size).map_err(|_| BootError::Malformed("mb2: mmap entry_size"))?;
    if entry_size < MMAP_ENTRY_MIN {
        return Err(BootError::Malformed("mb2: mmap entry_size too small"));
    }
    if entries.len().checked_div(entry_size).unwrap_or(0) > MAX_MMAP_ENTRIES {
        return Err(BootError::Malformed("mb2: too many memory map entries"));
    }

    let mut map = Vec::new();
    if entry_size == MMAP_ENTRY_MIN && entries.len() % MMAP_ENTRY_MIN == 0 {
        // Exactly the layout the crate models (what GRUB produces): its
        // `dst_len` and `memory_areas` asserts both hold, use the typed view.
        for area in tag.cast::<MemoryMapTag>().memory_areas() {
            push_region(&mut map, area.start_address(), area.size(), area.typ().val())?;
        }
    } else {
        // Larger (newer-version) entries or a trailing partial entry, which
        // the crate's typed view would assert on: walk the raw entries with
        // the declared stride, ignoring a trailing partial entry.
        for entry in entries.chunks_exact(entry_size) {
            let bad = || BootError::Malformed("mb2: mmap entry");
            let base = le_u64(entry, 0).ok_or_else(bad)?;
            let len = le_u64(entry, 8).ok_or_else(bad)?;
            let kind = le_u32(entry, 16).ok_or_else(bad)?;
            push_region(&mut map, base, len, kind)?;
        }
    }
    Ok(map)
}

/// Wrapping byte sum is zero.
fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b)) == 0
}

/// ACPI 1.0 RSDP copy (tag 14): signature and 20-byte checksum must hold.
fn rsdp_v1(payload: &[u8]) -> Option<AcpiRoot> {
    let rsdp = payload.get(..RSDP_V1_LEN)?;
    if rsdp.get(..8)? != RSDP_SIGNATURE || !checksum_ok(rsdp) {
        return None;
    }
    Some(AcpiRoot {
        revision: *rsdp.get(15)?,
        rsdp_copy: rsdp.to_vec(),
        rsdt_address: le_u32(rsdp, 16)?,
        xsdt_address: None,
    })
}

/// ACPI 2.0+ RSDP copy (tag 15): signature, revision >= 2, `length` within
/// the tag, and both the 20-byte and the extended checksum must hold.
fn rsdp_v2(payload: &[u8]) -> Option<AcpiRoot> {
    let v1 = payload.get(..RSDP_V1_LEN)?;
    let revision = *v1.get(15)?;
    if v1.get(..8)? != RSDP_SIGNATURE || !checksum_ok(v1) || revision < 2 {
        return None;
    }
    let length = usize::try_from(le_u32(payload, 20)?).ok()?;
    if length < RSDP_V2_MIN_LEN {
        return None;
    }
    let rsdp = payload.get(..length)?;
    if !checksum_ok(rsdp) {
        return None;
    }
    let xsdt = le_u64(rsdp, 24)?;
    Some(AcpiRoot {
        revision,
        rsdp_copy: rsdp.to_vec(),
        rsdt_address: le_u32(rsdp, 16)?,
        xsdt_address: (xsdt != 0).then_some(xsdt),
    })
}
