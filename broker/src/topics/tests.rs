//! Registry tests: deleting a topic is all or nothing.

use std::collections::BTreeMap;

use rill_protocol::batch::{BatchBuilder, Compression, RecordInput};

use super::*;

fn one_record(value: &str) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None);
    builder
        .append(&RecordInput::new(1000, value.to_owned()))
        .unwrap();
    builder.build().unwrap().to_vec()
}

fn open(dir: &std::path::Path) -> TopicRegistry {
    TopicRegistry::open(dir, TopicDefaults::default(), 1 << 20).unwrap()
}

/// A registry in `dir` with topic `t` of two partitions holding one record each.
fn registry_with_t(dir: &std::path::Path) -> TopicRegistry {
    let registry = open(dir);
    let topic = registry.create("t", Some(2), BTreeMap::new()).unwrap();
    for p in &topic.partitions {
        p.log().unwrap().append(&mut one_record("before")).unwrap();
    }
    registry
}

/// After a failed delete: `t` is whole, takes an append in every partition, and keeps
/// both records across a restart. Returns the reopened registry.
fn assert_t_kept(dir: &std::path::Path, registry: TopicRegistry) -> TopicRegistry {
    let topic = registry.get("t").expect("still there");
    for p in &topic.partitions {
        let info = p.log().unwrap().append(&mut one_record("after")).unwrap();
        assert_eq!(info.base_offset, 1, "partition {}", p.index);
        assert!(dir.join(format!("t-{}", p.index)).is_dir());
    }
    drop(topic);
    registry.close().unwrap();
    drop(registry);
    let registry = open(dir);
    for p in &registry.get("t").unwrap().partitions {
        assert_eq!(p.log().unwrap().high_watermark(), 2, "survives a restart");
    }
    registry
}

/// A delete whose rename of one partition fails (here its tombstone name is taken by a
/// non-empty directory) undoes the renames it made: the topic stays whole, every
/// partition keeps its data and takes appends, and a later delete succeeds.
#[test]
fn failed_delete_leaves_the_topic_whole() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_with_t(dir.path());
    let squatter = dir.path().join("t-1.deleted");
    fs::create_dir(&squatter).unwrap();
    fs::write(squatter.join("keep"), "x").unwrap();

    assert!(matches!(registry.delete("t"), Err(TopicError::Io { .. })));
    let registry = assert_t_kept(dir.path(), registry);

    assert!(!squatter.exists(), "a stray tombstone is removed at start");
    registry.delete("t").unwrap();
    assert!(registry.get("t").is_none());
    assert!(!dir.path().join("t-0").exists() && !dir.path().join("t-1").exists());
    registry.close().unwrap();
    drop(registry);
    let registry = open(dir.path());
    assert!(registry.get("t").is_none(), "gone after a restart too");
}

/// Topic creation stops at `max_partitions` across all topics, with an error that says
/// how to go on; deleting a topic makes room again.
#[test]
fn creation_stops_at_the_broker_partition_cap() {
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path());
    registry.set_max_partitions(5);
    registry.create("a", Some(3), BTreeMap::new()).unwrap();
    let err = registry.create("b", Some(3), BTreeMap::new()).unwrap_err();
    assert!(
        matches!(
            err,
            TopicError::TooManyPartitions {
                existing: 3,
                asked: 3,
                max: 5
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("--max-partitions"), "{err}");
    assert!(registry.get("b").is_none());
    registry.create("b", Some(2), BTreeMap::new()).unwrap();
    assert!(
        registry.get_or_create("c").is_err(),
        "auto-creation is capped too"
    );
    registry.delete("a").unwrap();
    registry.create("c", Some(3), BTreeMap::new()).unwrap();
}

/// A delete whose catalogue write fails (here a directory squats on the catalogue's
/// temporary file) puts the partitions back: the topic keeps its data, takes appends,
/// and survives a restart; a later delete succeeds.
#[test]
fn delete_that_cannot_write_the_catalogue_keeps_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_with_t(dir.path());
    let squatter = dir.path().join("topics.meta.tmp");
    fs::create_dir(&squatter).unwrap();
    assert!(registry.delete("t").is_err());
    fs::remove_dir(&squatter).unwrap();
    let registry = assert_t_kept(dir.path(), registry);
    registry.delete("t").unwrap();
    assert!(registry.get("t").is_none());
}

/// Adding partitions keeps the old ones' data, serves the new ones, survives a restart,
/// and never shrinks a topic.
#[test]
fn added_partitions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_with_t(dir.path());
    let grown = registry.add_partitions("t", 4).unwrap();
    assert_eq!(grown.partitions.len(), 4);
    grown.partitions[3]
        .log()
        .unwrap()
        .append(&mut one_record("new"))
        .unwrap();
    assert!(matches!(
        registry.add_partitions("t", 3),
        Err(TopicError::InvalidPartitions(3))
    ));
    assert!(matches!(
        registry.add_partitions("nope", 3),
        Err(TopicError::UnknownTopic(_))
    ));
    drop(grown);
    registry.close().unwrap();
    drop(registry);
    let registry = open(dir.path());
    let topic = registry.get("t").unwrap();
    let ends: Vec<i64> = topic
        .partitions
        .iter()
        .map(|p| p.log().unwrap().high_watermark())
        .collect();
    assert_eq!(ends, vec![1, 1, 0, 1]);
}
