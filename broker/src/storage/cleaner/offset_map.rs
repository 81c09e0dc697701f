//! The cleaner's bounded map from a key's 128-bit hash to the offset of its latest record
//! in the section being cleaned (Kafka's dedupe buffer). Its capacity comes from a byte
//! budget; when it is full the pass stops at the last whole batch that fit, and the rest of
//! the dirty section waits for the next pass.
//!
//! Two keys with the same 128-bit hash would make the older one's latest value look
//! superseded; at 2^-128 per pair that is far below any disk's error rate.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Bytes one entry costs in the map, including the hash table's overhead.
pub const ENTRY_BYTES: usize = 32;

/// A 128-bit key hash (two independent SipHash-1-3 runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(u64, u64);

impl KeyHash {
    /// Hashes a record key.
    pub fn of(key: &[u8]) -> KeyHash {
        let half = |salt: u8| {
            let mut hasher = std::hash::DefaultHasher::new();
            salt.hash(&mut hasher);
            key.hash(&mut hasher);
            hasher.finish()
        };
        KeyHash(half(0x5a), half(0xa5))
    }
}

/// Passes the already uniform first half of a [`KeyHash`] through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        if self.0 == 0 {
            self.0 = n;
        }
    }
}

/// Key hash -> latest offset, holding at most `capacity` keys.
pub struct OffsetMap {
    entries: HashMap<KeyHash, i64, BuildHasherDefault<PassThrough>>,
    capacity: usize,
}

impl OffsetMap {
    /// A map using at most about `budget_bytes` of memory (at least one key).
    pub fn with_budget(budget_bytes: usize) -> OffsetMap {
        let capacity = (budget_bytes / ENTRY_BYTES).max(1);
        OffsetMap {
            entries: HashMap::with_capacity_and_hasher(capacity.min(1 << 20), Default::default()),
            capacity,
        }
    }

    /// Records `offset` as the latest of `key` (offsets are put in increasing order). The
    /// caller checks the room first; one batch larger than the whole map may overshoot it.
    pub fn put(&mut self, key: KeyHash, offset: i64) {
        self.entries.insert(key, offset);
    }

    /// The latest offset of `key`, if the section holds it.
    pub fn get(&self, key: &KeyHash) -> Option<i64> {
        self.entries.get(key).copied()
    }

    /// Distinct keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most keys the map holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_and_respects_its_budget() {
        let mut map = OffsetMap::with_budget(2 * ENTRY_BYTES);
        let (a, b, c) = (KeyHash::of(b"a"), KeyHash::of(b"b"), KeyHash::of(b"c"));
        assert_ne!(a, b);
        map.put(a, 1);
        map.put(b, 2);
        map.put(a, 3);
        assert_eq!(map.get(&a), Some(3));
        assert_eq!(map.get(&c), None);
        assert_eq!((map.len(), map.capacity()), (2, 2));
        assert_eq!(OffsetMap::with_budget(0).capacity(), 1);
    }
}
