// SPDX-License-Identifier: GPL-2.0-only
//! The order in which Python 2 (64-bit) iterates a dict of string keys.
//!
//! xm builds a vif's or vfb's SXP from a dict of its `key=value` pairs
//! (`comma_sep_kv_to_dict`), so the keys appear in CPython 2's hash-table
//! order, not in the order written: `'mac=…, bridge=xenbr0'` prints
//! `(vif (bridge xenbr0) (mac …))`. This reproduces that order exactly:
//! Python 2's string hash (no hash randomisation, the 2.x default), an
//! open-addressed table of 8 slots probed with the perturbation recurrence
//! `i = 5*i + perturb + 1; perturb >>= 5`, grown to the smallest power of
//! two above four times the entries when two thirds full, entries
//! reinserted in table order.

/// Python 2's `hash(str)` on a 64-bit build, as an unsigned word.
fn py2_hash(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else { return 0 };
    let mut x: i64 = i64::from(first) << 7;
    for &b in bytes {
        x = x.wrapping_mul(1_000_003) ^ i64::from(b);
    }
    x ^= i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    if x == -1 {
        x = -2;
    }
    x.cast_unsigned()
}

/// The slot `hash` lands in, in a table of `mask + 1` slots.
fn probe(table: &[Option<usize>], mask: u64, hash: u64, keys: &[&str], key: &str) -> usize {
    let mut i = hash & mask;
    let mut perturb = hash;
    loop {
        let slot = usize::try_from(i & mask).unwrap_or(0);
        match table.get(slot) {
            Some(None) | None => return slot,
            Some(Some(k)) if keys.get(*k) == Some(&key) => return slot,
            Some(Some(_)) => {}
        }
        i = (i << 2).wrapping_add(i).wrapping_add(perturb).wrapping_add(1);
        perturb >>= 5;
    }
}

/// The distinct `keys` (inserted in this order) in dict iteration order.
pub(crate) fn order<'a>(keys: &[&'a str]) -> Vec<&'a str> {
    let mut table: Vec<Option<usize>> = vec![None; 8];
    let mut used: usize = 0;
    for (n, key) in keys.iter().enumerate() {
        let mask = u64::try_from(table.len().saturating_sub(1)).unwrap_or(7);
        let slot = probe(&table, mask, py2_hash(key), keys, key);
        let Some(entry) = table.get_mut(slot) else { continue };
        if entry.is_some() {
            continue; // an existing key: the value changes, not the order
        }
        *entry = Some(n);
        used = used.saturating_add(1);
        // No deletions, so the fill is the number of keys.
        if used.saturating_mul(3) >= table.len().saturating_mul(2) {
            let mut size = 8usize;
            while size <= used.saturating_mul(4) {
                size = size.saturating_mul(2);
            }
            let old = core::mem::replace(&mut table, vec![None; size]);
            let mask = u64::try_from(size.saturating_sub(1)).unwrap_or(7);
            for k in old.into_iter().flatten() {
                let key = keys.get(k).copied().unwrap_or("");
                let slot = probe(&table, mask, py2_hash(key), keys, key);
                if let Some(e) = table.get_mut(slot) {
                    *e = Some(k);
                }
            }
        }
    }
    table.into_iter().flatten().filter_map(|k| keys.get(k).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_python2() {
        // Python 2.7 (64-bit): hash('') == 0, hash('a') == 12416037344,
        // and the same recurrence gives hash('script') < 0.
        assert_eq!(py2_hash(""), 0);
        assert_eq!(py2_hash("a"), 12416037344);
        assert_eq!(py2_hash("mac").cast_signed(), 6387157653032356306);
        assert_eq!(py2_hash("script").cast_signed(), -673376145481927897);
    }

    #[test]
    fn vif_keys_come_out_in_dict_order() {
        assert_eq!(order(&["bridge", "mac"]), vec!["bridge", "mac"]);
        assert_eq!(order(&["mac", "bridge"]), vec!["bridge", "mac"]);
        // Real xend 3.3 `xm list -l` output lists a vbd's dict as
        // protocol, uuid, dev, uname, mode, backend: the only order these
        // six keys can come out in, whatever the insertion order.
        let vbd = ["mode", "backend", "uname", "dev", "uuid", "protocol"];
        assert_eq!(order(&vbd), vec!["protocol", "uuid", "dev", "uname", "mode", "backend"]);
        assert_eq!(order(&["a", "b", "a"]), vec!["a", "b"]);
        let many = ["backend", "bridge", "ip", "mac", "script", "type", "vifname", "rate", "model"];
        let got = order(&many);
        assert_eq!(got.len(), many.len());
        let mut sorted = got.clone();
        sorted.sort_unstable();
        let mut want = many.to_vec();
        want.sort_unstable();
        assert_eq!(sorted, want);
    }
}
