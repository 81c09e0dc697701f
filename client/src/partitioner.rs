//! Choosing a partition for a record: explicit, by key hash, or sticky.
//!
//! Keyed records use Kafka's default partitioner, byte for byte:
//! `(murmur2(key) & 0x7fffffff) % num_partitions`, where [`murmur2`] is Kafka's
//! `Utils.murmur2` (seed `0x9747b28c`). A key therefore lands on the same partition
//! under Rill and under a Kafka Java client, which matters when migrating data.
//!
//! Records without a key go to a *sticky* partition per topic (Kafka KIP-480): all of
//! them fill one batch, and the sticky choice moves to another partition when that
//! batch is sealed, which gives big batches without skewing partitions over time.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::fast_map::FastMap;

/// Kafka's murmur2 seed (`Utils.murmur2`).
const MURMUR2_SEED: u32 = 0x9747_b28c;

/// Kafka's 32-bit murmur2 hash of `data` (`org.apache.kafka.common.utils.Utils.murmur2`).
///
/// Returned as `i32` to match the Java signature, so values compare directly with Kafka's.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h: u32 = MURMUR2_SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key` among `num_partitions`.
///
/// `num_partitions` must be positive; callers check it against metadata first.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    debug_assert!(num_partitions > 0, "partition count must be positive");
    (murmur2(key) & 0x7fff_ffff) % num_partitions.max(1)
}

/// Per-topic sticky partition choice for records without a key.
///
/// Not thread-safe by itself; the producer keeps it behind its accumulator lock.
#[derive(Debug)]
pub struct StickyPartitioner {
    sticky: FastMap<String, i32>,
    rng: XorShift64,
}

impl Default for StickyPartitioner {
    fn default() -> Self {
        Self::new()
    }
}

impl StickyPartitioner {
    /// A partitioner with a randomly seeded choice sequence.
    pub fn new() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x5eed);
        Self::with_seed(hasher.finish())
    }

    /// A partitioner with a fixed seed, for reproducible tests.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            sticky: FastMap::default(),
            rng: XorShift64::new(seed),
        }
    }

    /// The current sticky partition of `topic`, choosing one if there is none yet or if
    /// the remembered one no longer exists (the topic shrank or was recreated).
    pub fn partition(&mut self, topic: &str, num_partitions: i32) -> i32 {
        self.partition_avoiding(topic, num_partitions, &[])
    }

    /// [`Self::partition`], avoiding the `unavailable` partitions (no leader: their
    /// storage is offline) as Kafka's partitioner does for keyless records, unless every
    /// partition is unavailable.
    pub fn partition_avoiding(
        &mut self,
        topic: &str,
        num_partitions: i32,
        unavailable: &[i32],
    ) -> i32 {
        let num_partitions = num_partitions.max(1);
        match self.sticky.get(topic) {
            Some(&p) if p < num_partitions && !unavailable.contains(&p) => p,
            _ => {
                let p = self.choose(num_partitions, unavailable, None);
                self.sticky.insert(topic.to_owned(), p);
                p
            }
        }
    }

    /// The current sticky partition of `topic`, if one was chosen.
    pub fn current(&self, topic: &str) -> Option<i32> {
        self.sticky.get(topic).copied()
    }

    /// Tells the partitioner that the batch of `topic`/`partition` was sealed (full or
    /// sent): if that was the sticky partition, the next keyless record moves to another
    /// one. Calls for other partitions are ignored, so callers need not check.
    pub fn on_batch_sealed(&mut self, topic: &str, partition: i32, num_partitions: i32) {
        self.on_batch_sealed_avoiding(topic, partition, num_partitions, &[]);
    }

    /// [`Self::on_batch_sealed`], moving only to partitions not in `unavailable`.
    pub fn on_batch_sealed_avoiding(
        &mut self,
        topic: &str,
        partition: i32,
        num_partitions: i32,
        unavailable: &[i32],
    ) {
        if self.sticky.get(topic) != Some(&partition) {
            return;
        }
        let next = self.choose(num_partitions.max(1), unavailable, Some(partition));
        self.sticky.insert(topic.to_owned(), next);
    }

    /// A partition picked uniformly among the available ones other than `leaving`
    /// (falling back to `leaving`, then to any partition, when there is no other).
    fn choose(&mut self, num_partitions: i32, unavailable: &[i32], leaving: Option<i32>) -> i32 {
        if unavailable.is_empty() {
            return match leaving {
                Some(_) if num_partitions <= 1 => 0,
                // Pick uniformly among the other partitions.
                Some(left) => (left + 1 + self.rng.below(num_partitions - 1)) % num_partitions,
                None => self.rng.below(num_partitions),
            };
        }
        let candidates: Vec<i32> = (0..num_partitions)
            .filter(|p| !unavailable.contains(p) && Some(*p) != leaving)
            .collect();
        match candidates.len() {
            0 => match leaving {
                Some(left) if !unavailable.contains(&left) => left,
                _ => self.rng.below(num_partitions),
            },
            n => candidates[self.rng.below(n as i32) as usize],
        }
    }
}

/// A tiny xorshift generator: partition choice needs spread, not cryptographic quality.
#[derive(Debug)]
struct XorShift64(u64);

impl XorShift64 {
    fn new(seed: u64) -> Self {
        // Zero is the one state xorshift never leaves.
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..bound` (`bound > 0`).
    fn below(&mut self, bound: i32) -> i32 {
        (self.next() % bound.max(1) as u64) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyless_records_avoid_unavailable_partitions() {
        let mut sticky = StickyPartitioner::with_seed(7);
        let unavailable = [0, 2];
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let p = sticky.partition_avoiding("t", 4, &unavailable);
            assert!(p == 1 || p == 3, "chose {p}");
            seen.insert(p);
            sticky.on_batch_sealed_avoiding("t", p, 4, &unavailable);
        }
        assert_eq!(seen.len(), 2, "both available partitions get batches");
        // A sticky choice that became unavailable is dropped at once.
        let mut sticky = StickyPartitioner::with_seed(1);
        let first = sticky.partition("u", 3);
        let next = sticky.partition_avoiding("u", 3, &[first]);
        assert_ne!(next, first);
        // With every partition unavailable, records still go somewhere (and fail there
        // after their retries, as in Kafka).
        assert!((0..2).contains(&sticky.partition_avoiding("v", 2, &[0, 1])));
        // One available partition: the seal keeps it.
        sticky.partition_avoiding("w", 2, &[1]);
        sticky.on_batch_sealed_avoiding("w", 0, 2, &[1]);
        assert_eq!(sticky.partition_avoiding("w", 2, &[1]), 0);
    }

    /// Vectors from Kafka's `UtilsTest.testMurmur2`, checked against kafka-python's
    /// pure-Python `murmur2`.
    #[test]
    fn murmur2_matches_kafka() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
            (b"", 275_646_681),
            (b"a", -1_563_381_124),
            (b"ab", 316_155_434),
            (b"123456789", -1_822_237_082),
            (b"\x00 ", 1_121_897_742),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), *expected, "key {key:?}");
        }
        let all_bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(murmur2(&all_bytes), -1_948_347_274);
    }

    /// Partitions from kafka-python's Java-compatibility test (1000 partitions).
    #[test]
    fn key_partition_matches_kafka_default_partitioner() {
        let cases: &[(&[u8], i32)] = &[
            (b"", 681),
            (b"a", 524),
            (b"ab", 434),
            (b"abc", 107),
            (b"123456789", 566),
            (b"\x00 ", 742),
            (b"21", 340),
            (b"foobar", 166),
        ];
        for (key, expected) in cases {
            assert_eq!(partition_for_key(key, 1000), *expected, "key {key:?}");
        }
    }

    #[test]
    fn sticky_partition_stays_until_batch_sealed() {
        let mut p = StickyPartitioner::with_seed(7);
        let first = p.partition("t", 8);
        for _ in 0..100 {
            assert_eq!(p.partition("t", 8), first);
        }
        // Sealing a batch of another partition changes nothing.
        p.on_batch_sealed("t", (first + 1) % 8, 8);
        assert_eq!(p.partition("t", 8), first);
        p.on_batch_sealed("t", first, 8);
        let second = p.partition("t", 8);
        assert_ne!(second, first);
        assert!((0..8).contains(&second));
    }

    #[test]
    fn sticky_partition_spreads_over_all_partitions() {
        let mut p = StickyPartitioner::with_seed(42);
        let mut seen = [0u32; 4];
        for _ in 0..400 {
            let part = p.partition("t", 4);
            seen[part as usize] += 1;
            p.on_batch_sealed("t", part, 4);
        }
        assert!(seen.iter().all(|&n| n > 50), "skewed: {seen:?}");
    }

    #[test]
    fn sticky_partition_single_partition_and_shrink() {
        let mut p = StickyPartitioner::with_seed(1);
        assert_eq!(p.partition("t", 1), 0);
        p.on_batch_sealed("t", 0, 1);
        assert_eq!(p.partition("t", 1), 0);
        let mut q = StickyPartitioner::with_seed(3);
        let chosen = q.partition("u", 100);
        let after_shrink = q.partition("u", 1);
        assert_eq!(after_shrink, 0);
        let _ = chosen;
        // Topics are independent.
        assert!(q.partition("v", 3) < 3);
    }
}
