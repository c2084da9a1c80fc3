//! The explorer's visited set: an open-addressing hash set of packed 128-bit state keys.
//!
//! Exploration is memory-bound: almost every transition looks up a state in a table of
//! millions (at `Bounds::large`, 35 M lookups into 3.7 M states), and most lookups find a state
//! already seen. A `HashSet` (hashbrown) keeps its control bytes apart from its slots, so each
//! lookup misses the cache twice; this table keeps the keys themselves in one flat array with
//! linear probing, so a lookup costs one miss and, at a load of at most 1/2, usually no second
//! probe outside that cache line. The keys are our own states, never attacker-controlled, so
//! HashDoS is not a concern and a fixed mixing function is fine.

/// A set of nonzero `u128` keys. Zero marks an empty slot; callers set a bit in every key
/// they insert (the explorer sets bit 127).
pub(crate) struct KeySet {
    /// Power-of-two length; `0` = empty slot.
    slots: Vec<u128>,
    len: usize,
    /// `64 − log2(slots.len())`: a key's home slot is the top bits of its hash.
    shift: u32,
}

/// The 128-bit product's halves xored ("folded multiply", as in foldhash and aHash): every
/// input bit reaches the high output bits, which pick the slot.
#[inline]
fn mix(key: u128) -> u64 {
    const K1: u64 = 0x243f_6a88_85a3_08d3; // digits of pi
    const K2: u64 = 0x1319_8a2e_0370_7344;
    let product = u128::from(key as u64 ^ K1) * u128::from((key >> 64) as u64 ^ K2);
    (product as u64) ^ ((product >> 64) as u64)
}

impl KeySet {
    const MIN_SLOTS: usize = 1 << 10;

    /// An empty set.
    pub(crate) fn new() -> KeySet {
        KeySet {
            slots: vec![0; Self::MIN_SLOTS],
            len: 0,
            shift: 64 - Self::MIN_SLOTS.trailing_zeros(),
        }
    }

    /// Keys in the set.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Touches the home slot of each of `keys`, so that inserting them next finds them in the
    /// cache. The loads are independent and branch-free, so their misses overlap (a portable,
    /// safe stand-in for prefetching); returns their xor so they are not optimised away.
    #[inline]
    pub(crate) fn warm(&self, keys: &[u128]) -> u128 {
        keys.iter().fold(0, |acc, &key| {
            acc ^ self.slots[(mix(key) >> self.shift) as usize]
        })
    }

    /// Inserts `key` (nonzero); returns whether it was new.
    #[inline]
    pub(crate) fn insert(&mut self, key: u128) -> bool {
        debug_assert!(key != 0, "zero marks an empty slot");
        let mask = self.slots.len() - 1;
        let mut i = (mix(key) >> self.shift) as usize;
        loop {
            let slot = self.slots[i];
            if slot == key {
                return false;
            }
            if slot == 0 {
                break;
            }
            i = (i + 1) & mask;
        }
        self.slots[i] = key;
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    /// Doubles the table and reinserts every key.
    fn grow(&mut self) {
        let doubled = vec![0; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.shift -= 1;
        let mask = self.slots.len() - 1;
        for key in old.into_iter().filter(|&k| k != 0) {
            let mut i = (mix(key) >> self.shift) as usize;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = key;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KeySet;

    #[test]
    fn inserts_each_key_once_across_growth() {
        let mut set = KeySet::new();
        for round in 0..2 {
            for k in 1..=100_000u128 {
                // Keys that differ only in a few high or low bits, like packed states.
                let key = (k << 100) | k | (1 << 127);
                assert_eq!(set.insert(key), round == 0, "key {k}, round {round}");
            }
        }
        assert_eq!(set.len(), 100_000);
    }
}
