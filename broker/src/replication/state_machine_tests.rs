//! The partition state machine: deterministic apply, a crash between the segment append
//! and the applied record, snapshots built and installed (including from a replica whose
//! retention already deleted what the installer lacks), and reopening.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use openraft::{Membership, RaftSnapshotBuilder};

use super::*;
use crate::replication::test_support::{
    self, entry_with, idempotent, log_id, write_entry, LocalSource, GROUP,
};

fn machine(dir: &Path, partition: &Arc<Partition>, source: LocalSource) -> PartitionStateMachine {
    PartitionStateMachine::open(
        &dir.join("group"),
        GROUP,
        Arc::clone(partition),
        Arc::new(source),
    )
    .unwrap()
}

/// A fresh replica: its partition and its state machine, in `dir`.
fn replica(dir: &Path, source: LocalSource) -> (Arc<Partition>, PartitionStateMachine) {
    let partition = test_support::partition(&dir.join("t-0"));
    let sm = machine(dir, &partition, source);
    (partition, sm)
}

/// Every byte of the partition's log, from its start.
fn all_bytes(partition: &Partition) -> Vec<u8> {
    let log = partition.log().unwrap();
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 4096).unwrap();
        let batches = crate::storage::tests::batches_in(&read.records);
        offset = batches.last().unwrap().1 + 1;
        out.extend_from_slice(&read.records);
    }
    out
}

fn membership_entry(index: u64) -> Entry {
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1, 2, 3])], None)),
    }
}

/// A mix: writes, a membership change, a blank, an idempotent producer's batch, its
/// retry (a duplicate) and a gap in its sequence (refused).
fn mixed_entries() -> Vec<Entry> {
    let mut entries = vec![membership_entry(1)];
    for i in 2..30 {
        entries.push(write_entry(1, i, 1 + (i % 4) as usize, i as u8));
    }
    entries.push(entry_with(1, 30, idempotent(7, 0)));
    entries.push(entry_with(1, 31, idempotent(7, 0)));
    entries.push(entry_with(1, 32, idempotent(7, 5)));
    entries.push(Entry {
        log_id: log_id(2, 33),
        payload: EntryPayload::Blank,
    });
    entries
}

#[tokio::test]
async fn two_replicas_fed_the_same_entries_hold_identical_segments() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a_part, mut a) = replica(a_dir.path(), LocalSource::default());
    let (b_part, mut b) = replica(b_dir.path(), LocalSource::default());
    let entries = mixed_entries();
    let a_out = a.apply(entries.clone()).await.unwrap();
    // The other replica applies the same entries in different groupings.
    let mut b_out = Vec::new();
    for chunk in entries.chunks(5) {
        b_out.extend(b.apply(chunk.to_vec()).await.unwrap());
    }
    assert_eq!(a_out, b_out);
    assert_eq!(all_bytes(&a_part), all_bytes(&b_part));
    assert!(
        a_part.log().unwrap().segment_count() > 3,
        "crossed segment rolls"
    );
    // The idempotent producer: appended, then a duplicate with the same offsets, then refused.
    let (Applied::Appended(first), Applied::Appended(retry)) = (&a_out[29], &a_out[30]) else {
        panic!("{:?}", &a_out[29..31]);
    };
    assert!(retry.duplicate && !first.duplicate);
    assert_eq!(first.base_offset, retry.base_offset);
    let Applied::Refused(refusal) = &a_out[31] else {
        panic!("{:?}", a_out[31]);
    };
    assert_eq!(
        refusal.code,
        rill_protocol::error_code::ErrorCode::OutOfOrderSequence.code()
    );
    assert_eq!(a_out[0], Applied::Nothing);
    assert_eq!(a_out[32], Applied::Nothing);
    let (applied, membership) = a.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(2, 33)));
    assert_eq!(*membership.log_id(), Some(log_id(1, 1)));
    // Offsets: contiguous from 0, every write's base where the previous ended.
    let mut next = 0;
    for out in &a_out {
        if let Applied::Appended(appended) = out {
            if !appended.duplicate {
                assert_eq!(appended.base_offset, next);
                next = appended.last_offset + 1;
            }
        }
    }
    assert_eq!(a_part.log().unwrap().log_end_offset(), next);
}

#[tokio::test]
async fn a_crash_between_the_segment_append_and_the_applied_record_reapplies_once() {
    let dir = tempfile::tempdir().unwrap();
    let (partition, mut sm) = replica(dir.path(), LocalSource::default());
    let entries: Vec<Entry> = (1..=10).map(|i| write_entry(1, i, 2, i as u8)).collect();
    sm.apply(entries[..8].to_vec()).await.unwrap();
    let end_after_8 = partition.log().unwrap().log_end_offset();
    // Entry 9 reaches the segments, then the broker dies before its applied record.
    let EntryPayload::Normal(write) = &entries[8].payload else {
        unreachable!()
    };
    let mut batches = write.batches.to_vec();
    partition
        .log()
        .unwrap()
        .append_replicated(&mut batches, write.timestamp_ms)
        .unwrap();
    assert!(partition.log().unwrap().log_end_offset() > end_after_8);
    drop(sm);
    // Restart: the same segments (process crash: the page cache survives).
    let mut sm = machine(dir.path(), &partition, LocalSource::default());
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(1, 8)));
    assert_eq!(partition.log().unwrap().log_end_offset(), end_after_8);
    // openraft re-applies 9 and 10 from its log: each lands once, where it belongs.
    let out = sm.apply(entries[8..].to_vec()).await.unwrap();
    let Applied::Appended(ninth) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(ninth.base_offset, end_after_8);
    // Byte-identical to a replica that never crashed.
    let other = tempfile::tempdir().unwrap();
    let (clean, mut clean_sm) = replica(other.path(), LocalSource::default());
    clean_sm.apply(entries.clone()).await.unwrap();
    assert_eq!(all_bytes(&partition), all_bytes(&clean));
}

#[tokio::test]
async fn snapshots_survive_reopen_and_compact_the_applied_file() {
    let dir = tempfile::tempdir().unwrap();
    let (partition, sm) = replica(dir.path(), LocalSource::default());
    let mut sm = sm.with_node_id(1);
    let mut entries = vec![membership_entry(1)];
    entries.extend((2..=40).map(|i| write_entry(1, i, 1, i as u8)));
    sm.apply(entries[..30].to_vec()).await.unwrap();
    let snapshot = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(1, 30)));
    let descriptor = SnapshotDescriptor::from_bytes(snapshot.snapshot.get_ref()).unwrap();
    assert_eq!(descriptor.node, Some(1));
    assert_eq!(descriptor.log_end_offset, sm.applied().1);
    sm.apply(entries[30..].to_vec()).await.unwrap();
    let applied_bytes = std::fs::metadata(dir.path().join("group/applied"))
        .unwrap()
        .len();
    assert_eq!(
        applied_bytes,
        11 * super::super::applied::RECORD_BYTES as u64
    );
    let end = sm.applied().1;
    drop(sm);
    let mut sm = machine(dir.path(), &partition, LocalSource::default());
    assert_eq!(sm.applied(), (Some(log_id(1, 40)), end));
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snapshot.meta);
    let (_, membership) = sm.applied_state().await.unwrap();
    assert_eq!(*membership.log_id(), Some(log_id(1, 1)));
}

/// Replica A applies `count` entries and builds a snapshot; returns its partition, its
/// state machine and the snapshot.
async fn leader_with_snapshot(
    dir: &Path,
    count: u64,
) -> (
    Arc<Partition>,
    PartitionStateMachine,
    Snapshot<PartitionConfig>,
    Vec<Entry>,
) {
    let (partition, sm) = replica(dir, LocalSource::default());
    let mut sm = sm.with_node_id(1);
    let mut entries = vec![membership_entry(1)];
    entries.extend((2..=count).map(|i| write_entry(1, i, 2, i as u8)));
    sm.apply(entries.clone()).await.unwrap();
    let snapshot = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    (partition, sm, snapshot, entries)
}

#[tokio::test]
async fn installing_a_snapshot_copies_the_missing_records_from_the_builder() {
    let a_dir = tempfile::tempdir().unwrap();
    let (a_part, mut a, snapshot, entries) = leader_with_snapshot(a_dir.path(), 40).await;
    let b_dir = tempfile::tempdir().unwrap();
    let mut source = LocalSource::default();
    source.nodes.insert(1, Arc::clone(&a_part));
    let (b_part, mut b) = replica(b_dir.path(), source);
    // B already has a prefix (it was behind, not empty).
    b.apply(entries[..10].to_vec()).await.unwrap();
    b.install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    assert_eq!(b.applied_state().await.unwrap().0, Some(log_id(1, 40)));
    assert_eq!(all_bytes(&b_part), all_bytes(&a_part));
    // Both go on applying identically.
    let more: Vec<Entry> = (41..=45).map(|i| write_entry(1, i, 1, i as u8)).collect();
    assert_eq!(
        a.apply(more.clone()).await.unwrap(),
        b.apply(more).await.unwrap()
    );
    assert_eq!(all_bytes(&b_part), all_bytes(&a_part));
    // And the install survives a restart of B.
    drop(b);
    let mut b = machine(b_dir.path(), &b_part, LocalSource::default());
    assert_eq!(b.applied_state().await.unwrap().0, Some(log_id(1, 45)));
}

#[tokio::test]
async fn installing_after_retention_trimmed_the_source_starts_over_at_its_log_start() {
    let a_dir = tempfile::tempdir().unwrap();
    let (a_part, _a, snapshot, _) = leader_with_snapshot(a_dir.path(), 60).await;
    let a_log = a_part.log().unwrap();
    let mut config = (*a_log.config()).clone();
    config.retention_bytes = Some(2048);
    a_log.set_config(config).unwrap();
    a_log.enforce_retention(i64::MAX).unwrap();
    let a_start = a_log.log_start_offset();
    assert!(a_start > 0, "retention deleted segments");
    let b_dir = tempfile::tempdir().unwrap();
    let mut source = LocalSource::default();
    source.nodes.insert(1, Arc::clone(&a_part));
    let (b_part, mut b) = replica(b_dir.path(), source);
    b.install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    let b_log = b_part.log().unwrap();
    assert_eq!(b_log.log_start_offset(), a_start);
    assert_eq!(b_log.log_end_offset(), a_log.log_end_offset());
    assert_eq!(all_bytes(&b_part), all_bytes(&a_part));
}

#[tokio::test]
async fn an_install_refuses_a_local_log_longer_than_the_snapshot() {
    let a_dir = tempfile::tempdir().unwrap();
    let (a_part, _a, snapshot, entries) = leader_with_snapshot(a_dir.path(), 20).await;
    let b_dir = tempfile::tempdir().unwrap();
    let mut source = LocalSource::default();
    source.nodes.insert(1, Arc::clone(&a_part));
    let (_b_part, mut b) = replica(b_dir.path(), source);
    let mut longer = entries.clone();
    longer.push(write_entry(1, 21, 3, 9));
    b.apply(longer).await.unwrap();
    let err = b
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("past the snapshot"), "{err}");
}

#[tokio::test]
async fn an_install_fails_when_no_replica_can_give_the_records() {
    let a_dir = tempfile::tempdir().unwrap();
    let (_a_part, _a, snapshot, _) = leader_with_snapshot(a_dir.path(), 5).await;
    let b_dir = tempfile::tempdir().unwrap();
    // No replica is reachable.
    let (_b_part, mut b) = replica(b_dir.path(), LocalSource::default());
    let err = b
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no replica"), "{err}");
}

#[tokio::test]
async fn segments_no_applied_entry_accounts_for_are_dropped_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let partition = test_support::partition(&dir.path().join("t-0"));
    let mut stray = crate::storage::tests::batch(3, 1, 50, 1);
    partition.log().unwrap().append(&mut stray).unwrap();
    let mut sm = machine(dir.path(), &partition, LocalSource::default());
    assert_eq!(sm.applied_state().await.unwrap().0, None);
    assert_eq!(partition.log().unwrap().log_end_offset(), 0);
}

#[tokio::test]
async fn segments_that_lost_part_of_an_applied_entry_are_cut_to_the_entry_before() {
    // A machine crash: the applied-index file kept records whose segment bytes (never
    // fsynced) were lost part-way through an entry.
    let dir = tempfile::tempdir().unwrap();
    let (partition, mut sm) = replica(dir.path(), LocalSource::default());
    let entries: Vec<Entry> = (1..=10).map(|i| write_entry(1, i, 3, i as u8)).collect();
    let out = sm.apply(entries.clone()).await.unwrap();
    let Applied::Appended(seventh) = &out[6] else {
        panic!("{out:?}")
    };
    // Keep only the first of entry 7's three batches.
    partition
        .log()
        .unwrap()
        .truncate_to(seventh.base_offset + 2)
        .unwrap();
    drop(sm);
    let mut sm = machine(dir.path(), &partition, LocalSource::default());
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 6)));
    assert_eq!(
        partition.log().unwrap().log_end_offset(),
        seventh.base_offset
    );
    assert_eq!(sm.apply(entries[6..].to_vec()).await.unwrap(), out[6..]);
    let other = tempfile::tempdir().unwrap();
    let (clean, mut clean_sm) = replica(other.path(), LocalSource::default());
    clean_sm.apply(entries).await.unwrap();
    assert_eq!(all_bytes(&partition), all_bytes(&clean));
}
