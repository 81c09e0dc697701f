//! Looking a partition up in a map keyed by [`TopicPartition`] without building one.
//!
//! `send` knows a record's topic (an `Arc<str>`) and partition; building a
//! `TopicPartition` for the lookup would clone and drop the `Arc` (two atomic
//! operations per record). [`PartitionKey`] is the borrowed form both sides hash and
//! compare the same way, so `map.get_mut(&BorrowedPartition { .. } as &dyn PartitionKey)`
//! finds the entry; the key is cloned only when a new entry is inserted.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::record::TopicPartition;

/// A topic and partition, owned or borrowed.
pub(crate) trait PartitionKey {
    /// The topic name.
    fn topic(&self) -> &str;
    /// The partition index.
    fn partition(&self) -> i32;
}

/// A partition named by borrowed parts (the topic's shared name, to clone when an
/// owned key is needed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BorrowedPartition<'a> {
    pub(crate) topic: &'a Arc<str>,
    pub(crate) partition: i32,
}

impl BorrowedPartition<'_> {
    /// The owned key (clones the topic's `Arc`).
    pub(crate) fn to_owned_key(self) -> TopicPartition {
        TopicPartition::new(Arc::clone(self.topic), self.partition)
    }
}

impl PartitionKey for TopicPartition {
    fn topic(&self) -> &str {
        &self.topic
    }

    fn partition(&self) -> i32 {
        self.partition
    }
}

impl PartitionKey for BorrowedPartition<'_> {
    fn topic(&self) -> &str {
        self.topic
    }

    fn partition(&self) -> i32 {
        self.partition
    }
}

impl<'a> Borrow<dyn PartitionKey + 'a> for TopicPartition {
    fn borrow(&self) -> &(dyn PartitionKey + 'a) {
        self
    }
}

/// Hashes exactly as `TopicPartition`'s derived `Hash` (topic, then partition), as
/// `Borrow` requires.
impl Hash for dyn PartitionKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.topic().hash(state);
        self.partition().hash(state);
    }
}

impl PartialEq for dyn PartitionKey + '_ {
    /// Names that are the same allocation (a key cloned from the application's shared
    /// topic `Arc`, the usual case) compare equal without comparing their bytes.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.topic(), other.topic());
        self.partition() == other.partition() && (std::ptr::eq(a, b) || a == b)
    }
}

impl Eq for dyn PartitionKey + '_ {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast_map::FastMap;
    use std::hash::BuildHasher;

    #[test]
    fn borrowed_keys_hash_and_compare_like_owned_ones() {
        let owned = TopicPartition::new("orders", 3);
        let name: Arc<str> = Arc::from("orders");
        let borrowed = BorrowedPartition {
            topic: &name,
            partition: 3,
        };
        assert_eq!(borrowed.to_owned_key(), owned);
        let build =
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        let as_key: &dyn PartitionKey = &borrowed;
        assert_eq!(build.hash_one(&owned), build.hash_one(as_key));
        let mut map: FastMap<TopicPartition, u32> = FastMap::default();
        map.insert(owned, 7);
        map.insert(TopicPartition::new("orders", 4), 8);
        assert_eq!(map.get(as_key), Some(&7));
        let other_name: Arc<str> = Arc::from("order");
        let other = BorrowedPartition {
            topic: &other_name,
            partition: 3,
        };
        assert_eq!(map.get(&other as &dyn PartitionKey), None);
        // A key cloned from the same `Arc` (compared by address), another partition of it.
        let same = BorrowedPartition {
            topic: &name,
            partition: 9,
        };
        map.insert(same.to_owned_key(), 9);
        assert_eq!(map.get(&same as &dyn PartitionKey), Some(&9));
        let sibling = BorrowedPartition {
            topic: &name,
            partition: 10,
        };
        assert_eq!(map.get(&sibling as &dyn PartitionKey), None);
    }
}
