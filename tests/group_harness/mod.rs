//! Helpers for the consumer group tests: a broker that expires members promptly, a
//! producer of numbered records, and group members running in their own tasks that
//! record every record they consume and every partition they gain or lose (with the
//! time), so tests can check exactly-once handovers and single ownership.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill::broker::config::BrokerConfig;
use rill::broker::testing::TestBroker;
use rill::client::{
    Acks, Admin, AutoOffsetReset, ClientError, ConnectionConfig, Consumer, ConsumerConfig,
    Producer, ProducerConfig, ProducerRecord, RebalanceCallbacks, TopicPartition,
};
use tokio::task::JoinHandle;

/// Session timeout of every member. Long enough that a loaded 2-core machine stalling a
/// member's heartbeats for seconds does not expire it (which would move its partitions
/// and break the exactly-once checks); a crash is still noticed within it.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// How often members heartbeat (the broker asks for this), so rebalances move at this
/// pace whatever the session timeout.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(200);
/// Longest any condition in these tests may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Group settings of the test brokers: housekeeping (member expiry) every 100 ms and
/// heartbeats every [`HEARTBEAT_INTERVAL`].
pub fn group_settings(c: &mut BrokerConfig) {
    c.housekeeping_interval = Duration::from_millis(100);
    c.groups.heartbeat_interval_ms_max = HEARTBEAT_INTERVAL.as_millis() as i32;
}

/// A broker with [`group_settings`].
pub async fn broker() -> TestBroker {
    TestBroker::start_with(group_settings).await
}

/// Creates `topic` with `partitions` partitions.
pub async fn create_topic(addr: SocketAddr, topic: &str, partitions: i32) {
    let admin = Admin::connect(ConnectionConfig::new(addr.to_string()))
        .await
        .unwrap();
    admin.create_topic(topic, partitions, &[]).await.unwrap();
}

/// Produces `values` round-robin over `partitions` partitions; returns each record's
/// `(partition, offset)` in order.
pub async fn produce(
    addr: SocketAddr,
    topic: &str,
    partitions: i32,
    values: impl IntoIterator<Item = String>,
) -> Vec<(i32, i64)> {
    let config = ProducerConfig::builder(addr.to_string())
        .acks(Acks::All)
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let mut deliveries = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let partition = i32::try_from(i).unwrap() % partitions;
        let record = ProducerRecord::new(topic, value).with_partition(partition);
        deliveries.push(producer.send(record).await.unwrap());
    }
    let mut written = Vec::new();
    for delivery in deliveries {
        let meta = delivery.await.unwrap();
        written.push((meta.partition, meta.offset));
    }
    producer.close().await.unwrap();
    written
}

/// A consumer config for group members of these tests.
pub fn member_config(addr: SocketAddr, auto_commit: bool) -> ConsumerConfig {
    ConsumerConfig::builder(addr.to_string())
        .client_id("group-test")
        .session_timeout(SESSION_TIMEOUT)
        // As long as any condition may take: a slow revocation on a loaded machine must not
        // expel the member.
        .rebalance_timeout(DEADLINE)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(auto_commit)
        .auto_commit_interval(Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .unwrap()
}

/// One record a member consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub member: String,
    pub partition: i32,
    pub offset: i64,
    pub at: Instant,
}

/// A partition gained (`assigned`) or given up (`!assigned`) by a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub member: String,
    pub partition: i32,
    pub assigned: bool,
    pub at: Instant,
}

/// Everything every member saw, shared by all members of a test.
#[derive(Debug, Default)]
pub struct Journal {
    pub consumed: Mutex<Vec<Consumed>>,
    pub ownership: Mutex<Vec<Ownership>>,
}

impl Journal {
    /// Partitions each member owns now, from the callbacks.
    pub fn owners(&self) -> BTreeMap<String, BTreeSet<i32>> {
        let mut owners: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
        for event in self.ownership.lock().unwrap().iter() {
            let owned = owners.entry(event.member.clone()).or_default();
            if event.assigned {
                owned.insert(event.partition);
            } else {
                owned.remove(&event.partition);
            }
        }
        owners
    }

    /// `(partition, offset)` of every consumed record, duplicates included.
    pub fn offsets(&self) -> Vec<(i32, i64)> {
        let consumed = self.consumed.lock().unwrap();
        consumed.iter().map(|c| (c.partition, c.offset)).collect()
    }

    /// Asserts that no partition was ever owned by two members at once.
    pub fn assert_single_owner(&self) {
        let events = self.ownership.lock().unwrap();
        let mut owner: BTreeMap<i32, String> = BTreeMap::new();
        for e in events.iter() {
            if e.assigned {
                if let Some(other) = owner.insert(e.partition, e.member.clone()) {
                    panic!(
                        "partition {} given to {} while {other} still owned it",
                        e.partition, e.member
                    );
                }
            } else {
                let previous = owner.remove(&e.partition);
                assert_eq!(previous.as_deref(), Some(e.member.as_str()));
            }
        }
    }
}

/// How a member's task ends.
pub const RUN: u8 = 0;
pub const CLOSE: u8 = 1;
pub const CRASH: u8 = 2;

/// A group member polling in its own task.
pub struct Member {
    pub name: String,
    stop: Arc<AtomicU8>,
    /// When false, a manual-commit member stops committing (records since stay
    /// uncommitted).
    pub commit: Arc<AtomicBool>,
    /// The offsets a manual-commit member last committed, per partition.
    pub committed: Arc<Mutex<BTreeMap<i32, i64>>>,
    task: Option<JoinHandle<()>>,
}

impl Member {
    /// Joins `group` on `topic` and starts polling. With `auto_commit` false the member
    /// commits after every poll that returned records, while `commit` is true.
    pub async fn start(
        addr: SocketAddr,
        name: &str,
        group: &str,
        topic: &str,
        auto_commit: bool,
        journal: Arc<Journal>,
    ) -> Member {
        let mut consumer = Consumer::connect(member_config(addr, auto_commit))
            .await
            .unwrap();
        let (assigned_journal, revoked_journal) = (Arc::clone(&journal), Arc::clone(&journal));
        let (assigned_name, revoked_name) = (name.to_owned(), name.to_owned());
        let record = move |journal: &Journal, name: &str, tps: &[TopicPartition], assigned| {
            let mut events = journal.ownership.lock().unwrap();
            for tp in tps {
                events.push(Ownership {
                    member: name.to_owned(),
                    partition: tp.partition,
                    assigned,
                    at: Instant::now(),
                });
            }
        };
        let listener = RebalanceCallbacks::new()
            .on_assigned(move |tps| record(&assigned_journal, &assigned_name, tps, true))
            .on_revoked(move |r| record(&revoked_journal, &revoked_name, r.partitions(), false));
        consumer
            .subscribe_with(group, &[topic], listener)
            .await
            .unwrap();
        let stop = Arc::new(AtomicU8::new(RUN));
        let commit = Arc::new(AtomicBool::new(true));
        let committed = Arc::new(Mutex::new(BTreeMap::new()));
        let task = tokio::spawn(run(
            consumer,
            name.to_owned(),
            journal,
            Arc::clone(&stop),
            (!auto_commit).then(|| (Arc::clone(&commit), Arc::clone(&committed))),
        ));
        Member {
            name: name.to_owned(),
            stop,
            commit,
            committed,
            task: Some(task),
        }
    }

    /// Closes the consumer (commit, revoke, leave) and waits for it.
    pub async fn close(mut self) {
        self.finish(CLOSE).await;
    }

    /// Drops the consumer without committing or leaving, like a crash.
    pub async fn crash(mut self) {
        self.finish(CRASH).await;
    }

    async fn finish(&mut self, how: u8) {
        self.stop.store(how, Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("member stops in time")
                .unwrap();
        }
    }
}

type ManualCommit = (Arc<AtomicBool>, Arc<Mutex<BTreeMap<i32, i64>>>);

async fn run(
    mut consumer: Consumer,
    name: String,
    journal: Arc<Journal>,
    stop: Arc<AtomicU8>,
    manual: Option<ManualCommit>,
) {
    loop {
        match stop.load(Ordering::SeqCst) {
            CLOSE => return consumer.close().await.unwrap(),
            CRASH => return drop(consumer),
            _ => {}
        }
        let records = match consumer.poll(Duration::from_millis(50)).await {
            Ok(records) => records,
            // A commit raced a lost membership (a broker restart): the consumer rejoins
            // on its own and the records since the last commit are read again.
            Err(ClientError::GroupMembershipLost { .. }) => continue,
            Err(e) => panic!("{name}: poll failed: {e}"),
        };
        if records.is_empty() {
            continue;
        }
        {
            let mut consumed = journal.consumed.lock().unwrap();
            for r in &records {
                consumed.push(Consumed {
                    member: name.clone(),
                    partition: r.partition,
                    offset: r.offset,
                    at: Instant::now(),
                });
            }
        }
        if let Some((commit, committed)) = &manual {
            if commit.load(Ordering::SeqCst) && consumer.commit().await.is_ok() {
                let mut committed = committed.lock().unwrap();
                for tp in consumer.assignment() {
                    if let Some(position) = consumer.position(&tp) {
                        committed.insert(tp.partition, position);
                    }
                }
            }
        }
    }
}

/// Waits until `condition` holds, failing the test after [`DEADLINE`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
