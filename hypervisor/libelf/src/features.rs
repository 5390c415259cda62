// SPDX-License-Identifier: GPL-2.0-only
//! The `FEATURES` string: Xen's `elf_xen_parse_features`.
//!
//! The string is a `|`-separated list of `XENFEAT_*` names without the
//! prefix; a leading `!` marks the feature as required (and supported).
//! Only the names in Xen's `elf_xen_feature_names[]` are understood, so a
//! kernel cannot require a feature Xen's loader would not know either.
//! Unknown optional names are skipped with a warning; an unknown required
//! name refuses the image, as in Xen. Names are matched exactly (no
//! whitespace trimming); empty items are ignored.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use guest_abi::version::{
    XENFEAT_NR_SUBMAPS, XENFEAT_auto_translated_physmap, XENFEAT_dom0, XENFEAT_hvm_callback_vector,
    XENFEAT_pae_pgdir_above_4gb, XENFEAT_supervisor_mode_kernel,
    XENFEAT_writable_descriptor_tables, XENFEAT_writable_page_tables,
};

use super::ElfError;

/// A `XENFEAT_*` bitmap of `XENFEAT_NR_SUBMAPS` 32-bit submaps.
pub type FeatureMap = [u32; XENFEAT_NR_SUBMAPS as usize];

/// The feature names Xen's libelf understands (`elf_xen_feature_names[]`),
/// with their `XENFEAT_*` bit numbers.
pub const FEATURE_NAMES: [(u32, &str); 7] = [
    (XENFEAT_writable_page_tables, "writable_page_tables"),
    (XENFEAT_writable_descriptor_tables, "writable_descriptor_tables"),
    (XENFEAT_auto_translated_physmap, "auto_translated_physmap"),
    (XENFEAT_supervisor_mode_kernel, "supervisor_mode_kernel"),
    (XENFEAT_pae_pgdir_above_4gb, "pae_pgdir_above_4gb"),
    (XENFEAT_hvm_callback_vector, "hvm_callback_vector"),
    (XENFEAT_dom0, "dom0"),
];

/// The bit number of a feature name from [`FEATURE_NAMES`].
pub fn feature_bit(name: &str) -> Option<u32> {
    FEATURE_NAMES.iter().find(|(_, known)| *known == name).map(|(bit, _)| *bit)
}

/// The name of a feature bit, if it is in [`FEATURE_NAMES`].
pub fn feature_name(bit: u32) -> Option<&'static str> {
    FEATURE_NAMES.iter().find(|(known, _)| *known == bit).map(|(_, name)| *name)
}

/// Whether `bit` is set in `map`; bits beyond the map are clear.
pub fn feature_test(map: &FeatureMap, bit: u32) -> bool {
    submap(bit).and_then(|index| map.get(index)).is_some_and(|word| word & mask(bit) != 0)
}

/// Sets `bit` in `map`; bits beyond the map are ignored.
pub(super) fn feature_set(map: &mut FeatureMap, bit: u32) {
    if let Some(word) = submap(bit).and_then(|index| map.get_mut(index)) {
        *word |= mask(bit);
    }
}

fn submap(bit: u32) -> Option<usize> {
    usize::try_from(bit / 32).ok()
}

fn mask(bit: u32) -> u32 {
    1 << (bit % 32)
}

/// Parses a `FEATURES` string into `supported` and `required`.
///
/// `source` names where the string came from, for warnings.
pub(super) fn parse_features(
    features: &str,
    supported: &mut FeatureMap,
    required: &mut FeatureMap,
    warnings: &mut Vec<String>,
    source: &str,
) -> Result<(), ElfError> {
    for item in features.split('|').filter(|item| !item.is_empty()) {
        let (name, is_required) = match item.strip_prefix('!') {
            Some(name) => (name, true),
            None => (item, false),
        };
        match feature_bit(name) {
            Some(bit) => {
                feature_set(supported, bit);
                if is_required {
                    feature_set(required, bit);
                }
            }
            None if is_required => {
                return Err(ElfError::UnknownRequiredFeature { name: name.to_string() });
            }
            None => warnings.push(format!("{source}: unknown feature '{name}' ignored")),
        }
    }
    Ok(())
}

/// Merges a `SUPPORTED_FEATURES` descriptor (little-endian 32-bit submaps,
/// Xen's `elf_note_numeric_array`) into `supported`.
pub(super) fn merge_supported(desc: &[u8], supported: &mut FeatureMap) -> Result<(), ElfError> {
    if desc.is_empty() || !desc.len().is_multiple_of(4) {
        return Err(ElfError::MalformedNote {
            note: "SUPPORTED_FEATURES",
            reason: format!("{} bytes is not a whole number of 32-bit submaps", desc.len()),
        });
    }
    for (word, chunk) in supported.iter_mut().zip(desc.chunks_exact(4)) {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(chunk);
        *word |= u32::from_le_bytes(bytes);
    }
    Ok(())
}
