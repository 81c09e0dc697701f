//! The partition Raft log: openraft's storage suite, a property test against a `Vec`
//! model across reopens, and recovery from torn or damaged files.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use openraft::storage::RaftLogStorageExt;
use openraft::testing::{StoreBuilder, Suite};
use proptest::prelude::*;
use tempfile::TempDir;

use super::*;
use crate::replication::state_machine::PartitionStateMachine;
use crate::replication::test_support::{self, log_id, write_entry, LocalSource, GROUP};

/// Small files, so that a few entries cross several of them.
const TEST_ROLL_BYTES: u64 = 2048;

struct Builder;

impl StoreBuilder<PartitionConfig, PartitionLogStore, PartitionStateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, PartitionLogStore, PartitionStateMachine), Error> {
        let dir = tempfile::tempdir().unwrap();
        let group_dir = dir.path().join("group");
        let log = PartitionLogStore::open_with_roll_bytes(&group_dir, TEST_ROLL_BYTES).unwrap();
        let partition = test_support::partition(&dir.path().join("t-0"));
        let source = Arc::new(LocalSource::default());
        let machine = PartitionStateMachine::open(&group_dir, GROUP, partition, source).unwrap();
        Ok((dir, log, machine))
    }
}

#[test]
fn passes_openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}

fn open(dir: &Path) -> PartitionLogStore {
    PartitionLogStore::open_with_roll_bytes(dir, TEST_ROLL_BYTES).unwrap()
}

async fn append(log: &mut PartitionLogStore, entries: Vec<Entry>) {
    log.blocking_append(entries).await.unwrap();
}

fn entries(term: u64, range: std::ops::Range<u64>) -> Vec<Entry> {
    range
        .map(|i| write_entry(term, i, 1 + (i % 3) as usize, i as u8))
        .collect()
}

fn files(dir: &Path) -> Vec<u64> {
    log_segment::list(dir).unwrap()
}

/// What the log must hold.
#[derive(Debug, Default, Clone)]
struct Model {
    purged: Option<LogId<u64>>,
    entries: Vec<Entry>,
}

impl Model {
    fn next_index(&self) -> u64 {
        self.entries
            .last()
            .map(|e| e.log_id)
            .or(self.purged)
            .map_or(0, |l| l.index + 1)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    Truncate(u8),
    Purge(u8),
    PurgePastEnd(u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..8).prop_map(Op::Append),
        1 => any::<u8>().prop_map(Op::Truncate),
        1 => any::<u8>().prop_map(Op::Purge),
        1 => (1u8..4).prop_map(Op::PurgePastEnd),
        1 => Just(Op::Reopen),
    ]
}

async fn check(log: &mut PartitionLogStore, model: &Model) {
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, model.purged);
    let last = model.entries.last().map(|e| e.log_id).or(model.purged);
    assert_eq!(state.last_log_id, last);
    let all = log.try_get_log_entries(0..u64::MAX).await.unwrap();
    assert_eq!(all, model.entries);
    // Reads from the files, not the cache: a fresh reader of the same files.
    if let Some(first) = model.entries.first() {
        let from = first.log_id.index + model.entries.len() as u64 / 2;
        let some = log.try_get_log_entries(from..).await.unwrap();
        assert_eq!(some[..], model.entries[model.entries.len() / 2..]);
    }
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let mut model = Model::default();
    let mut term = 1;
    for op in ops {
        match op {
            Op::Append(n) => {
                let next = model.next_index();
                let new = entries(term, next..next + u64::from(n));
                append(&mut log, new.clone()).await;
                model.entries.extend(new);
            }
            Op::Truncate(at) if !model.entries.is_empty() => {
                let at = usize::from(at) % model.entries.len();
                log.truncate(model.entries[at].log_id).await.unwrap();
                model.entries.truncate(at);
                term += 1;
            }
            Op::Purge(at) if !model.entries.is_empty() => {
                let at = usize::from(at) % model.entries.len();
                let upto = model.entries[at].log_id;
                log.purge(upto).await.unwrap();
                model.purged = Some(upto);
                model.entries.drain(..=at);
            }
            Op::PurgePastEnd(beyond) => {
                // A snapshot installed from the leader: purged past the log's end.
                let upto = log_id(term, model.next_index() + u64::from(beyond));
                log.purge(upto).await.unwrap();
                model.purged = Some(upto);
                model.entries.clear();
            }
            Op::Reopen => {
                drop(log);
                log = open(dir.path());
            }
            _ => {}
        }
        check(&mut log, &model).await;
    }
    drop(log);
    let mut log = open(dir.path());
    check(&mut log, &model).await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn behaves_like_a_vec_across_reopens(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops));
    }
}

#[tokio::test]
async fn entries_roll_into_files_and_purge_deletes_whole_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let all = entries(1, 0..40);
    append(&mut log, all[..20].to_vec()).await;
    append(&mut log, all[20..].to_vec()).await;
    let before = files(dir.path());
    assert!(before.len() > 4, "{before:?}");
    // Purge up to the middle of the third file: the first two files go, the third stays.
    let upto = before[2] + 1;
    log.purge(log_id(1, upto)).await.unwrap();
    let after = files(dir.path());
    assert_eq!(after, before[2..].to_vec());
    let live = log.try_get_log_entries(0..).await.unwrap();
    assert_eq!(live[..], all[upto as usize + 1..]);
    drop(log);
    let mut log = open(dir.path());
    let live = log.try_get_log_entries(0..).await.unwrap();
    assert_eq!(live[..], all[upto as usize + 1..]);
    // Truncate at a file's first entry: that file and later ones go.
    let cut = after[after.len() - 2];
    log.truncate(log_id(1, cut)).await.unwrap();
    assert_eq!(files(dir.path()), after[..after.len() - 2].to_vec());
    append(&mut log, entries(2, cut..cut + 3)).await;
    drop(log);
    let mut log = open(dir.path());
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(2, cut + 2)));
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let all = entries(1, 0..30);
    append(&mut log, all.clone()).await;
    drop(log);
    let last = *files(dir.path()).last().unwrap();
    let path = dir.path().join(LogSegment::file_name(last));
    let len = std::fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let mut log = open(dir.path());
    let got = log.try_get_log_entries(0..).await.unwrap();
    assert_eq!(got[..], all[..29]);
    append(&mut log, entries(2, 29..31)).await;
    drop(log);
    let mut log = open(dir.path());
    let got = log.try_get_log_entries(0..).await.unwrap();
    assert_eq!(got.len(), 31);
    assert_eq!(got[30].log_id, log_id(2, 30));
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_file_cuts_the_log_at_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let all = entries(1, 0..12);
    append(&mut log, all.clone()).await;
    drop(log);
    let last = *files(dir.path()).last().unwrap();
    let path = dir.path().join(LogSegment::file_name(last));
    let mut bytes = std::fs::read(&path).unwrap();
    // Inside the payload of the file's first record.
    bytes[log_segment::RECORD_HEADER_BYTES as usize + 20] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let mut log = open(dir.path());
    let got = log.try_get_log_entries(0..).await.unwrap();
    assert_eq!(got[..], all[..last as usize]);
    assert!(!dir.path().join(LogSegment::file_name(last)).exists());
}

#[tokio::test]
async fn a_huge_length_prefix_is_cut_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let all = entries(1, 0..3);
    append(&mut log, all.clone()).await;
    drop(log);
    let last = *files(dir.path()).last().unwrap();
    let path = dir.path().join(LogSegment::file_name(last));
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&u32::MAX.to_le_bytes()).unwrap();
    file.write_all(&[0; 40]).unwrap();
    drop(file);
    let mut log = open(dir.path());
    assert_eq!(log.try_get_log_entries(0..).await.unwrap(), all);
}

#[tokio::test]
async fn damage_in_a_closed_file_is_an_error_when_read_never_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    append(&mut log, entries(1, 0..30)).await;
    drop(log);
    let first = files(dir.path())[0];
    let path = dir.path().join(LogSegment::file_name(first));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[log_segment::RECORD_HEADER_BYTES as usize + 30] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let mut log = open(dir.path());
    let err = log.try_get_log_entries(0..1).await.unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
}

#[tokio::test]
async fn a_file_that_does_not_continue_the_log_is_dropped_with_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let all = entries(1, 0..30);
    append(&mut log, all.clone()).await;
    drop(log);
    let names = files(dir.path());
    assert!(names.len() >= 3);
    // Lose the second file: everything from it on is cut.
    std::fs::remove_file(dir.path().join(LogSegment::file_name(names[1]))).unwrap();
    let mut log = open(dir.path());
    let got = log.try_get_log_entries(0..).await.unwrap();
    assert_eq!(got[..], all[..names[1] as usize]);
    assert_eq!(files(dir.path()), vec![names[0]]);
}

#[tokio::test]
async fn limited_reads_stay_within_the_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLogStore::open(dir.path()).unwrap();
    // 12 entries of ~1.5 MiB: the whole range is ~18 MiB.
    let big: Vec<Entry> = (0..12)
        .map(|i| {
            test_support::entry_with(1, i, crate::storage::tests::batch(1, 1, 1_500_000, i as u8))
        })
        .collect();
    append(&mut log, big.clone()).await;
    drop(log);
    let mut log = PartitionLogStore::open(dir.path()).unwrap();
    let got = log.limited_get_log_entries(0, 12).await.unwrap();
    assert!(!got.is_empty() && got.len() < 12, "{} entries", got.len());
    assert_eq!(got[..], big[..got.len()]);
    // One entry over the budget still comes back alone.
    let one = log.limited_get_log_entries(3, 4).await.unwrap();
    assert_eq!(one[..], big[3..4]);
    // A purged start gives nothing, never the entries after it as if they followed it.
    log.purge(log_id(1, 2)).await.unwrap();
    assert!(log.limited_get_log_entries(1, 6).await.unwrap().is_empty());
    assert_eq!(
        log.limited_get_log_entries(3, 4).await.unwrap()[..],
        big[3..4]
    );
}

#[tokio::test]
async fn vote_and_committed_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    assert_eq!(log.read_vote().await.unwrap(), None);
    let vote = Vote::new(3, 2);
    log.save_vote(&vote).await.unwrap();
    append(&mut log, entries(1, 0..2)).await;
    log.save_committed(Some(log_id(1, 1))).await.unwrap();
    drop(log);
    let mut log = open(dir.path());
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 1)));
    log.truncate(log_id(1, 1)).await.unwrap();
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 0)));
    drop(log);
    std::fs::write(dir.path().join(VOTE_FILE), "junk").unwrap();
    let err = PartitionLogStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("raft-vote"), "{err}");
}

#[tokio::test]
async fn the_committed_hint_is_written_at_most_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.set_committed_save_interval(Duration::from_secs(3600));
    append(&mut log, entries(1, 0..5)).await;
    log.save_committed(Some(log_id(1, 1))).await.unwrap();
    let marker = std::fs::read(dir.path().join(COMMITTED_FILE)).unwrap();
    for i in 2..5 {
        log.save_committed(Some(log_id(1, i))).await.unwrap();
    }
    // In memory the newest; on disk still the first (an fsync per commit saved).
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 4)));
    assert_eq!(
        std::fs::read(dir.path().join(COMMITTED_FILE)).unwrap(),
        marker
    );
    drop(log);
    let mut log = open(dir.path());
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 1)));
}

#[tokio::test]
async fn the_flush_policy_decides_when_appends_are_fsynced() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    // `always`: nothing is ever left for a catch-up fsync.
    append(&mut log, entries(1, 0..3)).await;
    log.set_flush_policy(FlushPolicy::Interval(Duration::ZERO));
    assert!(!log.flush_if_due().unwrap());
    // `os`: appends leave their files unsynced; an interval of zero then catches up.
    log.set_flush_policy(FlushPolicy::Os);
    append(&mut log, entries(1, 3..20)).await;
    assert!(!log.flush_if_due().unwrap(), "os: never due");
    log.set_flush_policy(FlushPolicy::Interval(Duration::ZERO));
    assert!(log.flush_if_due().unwrap());
    assert!(!log.flush_if_due().unwrap(), "nothing left");
    // A long interval: appends are not synced, the catch-up is not due yet.
    log.set_flush_policy(FlushPolicy::Interval(Duration::from_secs(3600)));
    append(&mut log, entries(1, 20..25)).await;
    assert!(!log.flush_if_due().unwrap());
    // Whatever the policy, what was appended reads back, also after a reopen.
    let all = log.try_get_log_entries(0..).await.unwrap();
    drop(log);
    let mut log = open(dir.path());
    assert_eq!(log.try_get_log_entries(0..).await.unwrap(), all);
    assert_eq!(all.len(), 25);
}
