//! [`FastMap`]: a `HashMap` keyed by topic names and partitions with a cheap hash.
//!
//! The producer looks a record's topic and partition up in two maps per `send`
//! (metadata, accumulator). With the standard SipHash those lookups were ~18% of the
//! instructions per record (callgrind, `rill bench produce`, 100-byte records); with a
//! byte-at-a-time FNV-1a still ~8%. [`WordHash`] takes eight bytes per step (the
//! FxHash mix: rotate, xor, multiply). The keys are short names chosen by the
//! application, not by a remote peer, so a hash that does not resist flooding is
//! acceptable here.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`WordHash`] hashing, for keys the application chooses.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHash>>;

/// Eight bytes per step: `h = (h.rotl(5) ^ word) * K`, FxHash's mix.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WordHash(u64);

/// FxHash's multiplier (from the golden ratio), odd so no input bits are lost.
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl WordHash {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            // The length keeps "a" and "a\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((tail.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_i32(&mut self, i: i32) {
        self.add(u64::from(i as u32));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TopicPartition;

    fn hash(bytes: &[u8]) -> u64 {
        let mut h = WordHash::default();
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn different_keys_hash_apart_and_maps_work() {
        let keys: [&[u8]; 6] = [
            b"",
            b"a",
            b"a\0",
            b"orders",
            b"orders-12345678",
            b"orders-12345679",
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(hash(a), hash(b), "{a:?} {b:?}");
            }
        }
        let mut map: FastMap<String, i32> = FastMap::default();
        map.insert("orders".to_owned(), 3);
        assert_eq!(map.get("orders"), Some(&3));
        let mut partitions: FastMap<TopicPartition, i32> = FastMap::default();
        for p in 0..1000 {
            partitions.insert(TopicPartition::new("t", p), p);
        }
        assert!((0..1000).all(|p| partitions.get(&TopicPartition::new("t", p)) == Some(&p)));
    }
}
