//! A workload that runs while faults happen (issue #16): producers sending numbered
//! records at a steady rate through the library `Producer` (idempotent, `acks=all`),
//! and consumers reading every partition from the start, each recording what it saw.
//! Values are `w<producer>-p<partition>-<n>` with `n` rising per producer, the shape
//! the history checker reads send order from. Everything is bounded: deliveries in
//! flight per producer, each wait for an outcome, the wind-down.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rill::client::{
    Consumer, ConsumerConfig, DeliveryFuture, Producer, ProducerRecord, SeekTo, TopicPartition,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::checker::Seen;
use super::clients;

/// Deliveries one producer may have unsettled before it waits.
const IN_FLIGHT_MAX: usize = 256;
/// Pause after a consumer's failed poll, so a dead broker is not polled in a spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(50);
/// Extra time, beyond the delivery timeout, any single outcome may take.
const OUTCOME_SLACK: Duration = Duration::from_secs(15);

/// How to run a [`Workload`].
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    /// The bootstrap list.
    pub bootstrap: String,
    /// The topic.
    pub topic: String,
    /// Partitions written and read.
    pub partitions: Vec<i32>,
    /// Producers, each with its own connection.
    pub producers: usize,
    /// Consumers, each reading every partition.
    pub consumers: usize,
    /// Records per second each producer sends.
    pub rate_per_producer: u32,
    /// Bytes of a key on every record (0: no key); makes segments fill faster.
    pub key_bytes: usize,
    /// How long a producer keeps trying one record.
    pub delivery_timeout: Duration,
}

impl WorkloadOptions {
    /// Two producers at 200 records/s, one consumer, no keys, 20 s delivery timeout.
    pub fn new(bootstrap: String, topic: &str, partitions: &[i32]) -> Self {
        WorkloadOptions {
            bootstrap,
            topic: topic.to_owned(),
            partitions: partitions.to_vec(),
            producers: 2,
            consumers: 1,
            rate_per_producer: 200,
            key_bytes: 0,
            delivery_timeout: Duration::from_secs(20),
        }
    }
}

/// Progress the test can wait on while the workload runs.
#[derive(Debug)]
pub struct Progress {
    /// Acknowledged records per partition (index in the options' partitions).
    acknowledged: Vec<AtomicU64>,
    /// Highest acknowledged offset per partition (-1: none).
    highest_offset: Vec<AtomicI64>,
    partitions: Vec<i32>,
}

impl Progress {
    fn slot(&self, partition: i32) -> usize {
        self.partitions
            .iter()
            .position(|p| *p == partition)
            .unwrap_or_else(|| panic!("partition {partition} is not in the workload"))
    }

    /// Records acknowledged on `partition` so far.
    pub fn acknowledged(&self, partition: i32) -> u64 {
        self.acknowledged[self.slot(partition)].load(Ordering::Acquire)
    }

    /// Records acknowledged on every partition so far.
    pub fn acknowledged_total(&self) -> u64 {
        self.acknowledged
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .sum()
    }

    /// Highest offset acknowledged on `partition` (-1: none).
    pub fn highest_offset(&self, partition: i32) -> i64 {
        self.highest_offset[self.slot(partition)].load(Ordering::Acquire)
    }

    fn record(&self, seen: &Seen) {
        let slot = self.slot(seen.partition);
        self.acknowledged[slot].fetch_add(1, Ordering::AcqRel);
        self.highest_offset[slot].fetch_max(seen.offset, Ordering::AcqRel);
    }
}

/// What one producer's records came to.
#[derive(Debug, Default)]
struct Outcomes {
    acknowledged: Vec<Seen>,
    failed: usize,
    errors: Vec<String>,
}

/// What the whole run saw.
#[derive(Debug, Default)]
pub struct WorkloadResult {
    /// Acknowledged records with their offsets.
    pub acknowledged: Vec<Seen>,
    /// Records that failed or got no answer (allowed during faults).
    pub failed: usize,
    /// The first few failures, for the log.
    pub errors: Vec<String>,
    /// Everything consumers read during the run.
    pub observed: Vec<Seen>,
}

/// Producers and consumers running in the background until [`Workload::stop`].
#[derive(Debug)]
pub struct Workload {
    stop: watch::Sender<bool>,
    producers: Vec<JoinHandle<Outcomes>>,
    consumers: Vec<JoinHandle<Vec<Seen>>>,
    /// What has been acknowledged so far.
    pub progress: Arc<Progress>,
}

impl Workload {
    /// Connects the clients and starts them.
    pub async fn start(options: WorkloadOptions) -> Workload {
        let (stop, stopped) = watch::channel(false);
        let progress = Arc::new(Progress {
            acknowledged: options
                .partitions
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            highest_offset: options
                .partitions
                .iter()
                .map(|_| AtomicI64::new(-1))
                .collect(),
            partitions: options.partitions.clone(),
        });
        let mut producers = Vec::new();
        for index in 0..options.producers {
            let producer = clients::producer(&options.bootstrap, options.delivery_timeout).await;
            let run = produce(
                index,
                producer,
                options.clone(),
                stopped.clone(),
                Arc::clone(&progress),
            );
            producers.push(tokio::spawn(run));
        }
        let mut consumers = Vec::new();
        for _ in 0..options.consumers {
            let run = consume(options.clone(), stopped.clone());
            consumers.push(tokio::spawn(run));
        }
        Workload {
            stop,
            producers,
            consumers,
            progress,
        }
    }

    /// Stops sending, waits for every outcome (bounded) and for the consumers.
    pub async fn stop(self) -> WorkloadResult {
        let _ = self.stop.send(true);
        let mut result = WorkloadResult::default();
        for producer in self.producers {
            let outcomes = producer.await.expect("producer task");
            result.acknowledged.extend(outcomes.acknowledged);
            result.failed += outcomes.failed;
            let room = 10usize.saturating_sub(result.errors.len());
            result.errors.extend(outcomes.errors.into_iter().take(room));
        }
        for consumer in self.consumers {
            result
                .observed
                .extend(consumer.await.expect("consumer task"));
        }
        eprintln!(
            "workload: {} acknowledged, {} failed {:?}, {} read by consumers",
            result.acknowledged.len(),
            result.failed,
            result.errors,
            result.observed.len()
        );
        result
    }
}

/// One producer: a record every `1/rate` s, round-robin over the partitions, until
/// stopped; a settling task awaits the deliveries in order.
async fn produce(
    index: usize,
    producer: Producer,
    options: WorkloadOptions,
    mut stopped: watch::Receiver<bool>,
    progress: Arc<Progress>,
) -> Outcomes {
    let (deliveries, pending) = mpsc::channel(IN_FLIGHT_MAX);
    let outcome_timeout = options.delivery_timeout + OUTCOME_SLACK;
    let settle = tokio::spawn(settle(pending, outcome_timeout, progress));
    let period = Duration::from_secs(1) / options.rate_per_producer.max(1);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let key = (options.key_bytes > 0).then(|| Bytes::from(vec![b'k'; options.key_bytes]));
    let mut refused = Vec::new();
    for n in 0u64.. {
        tokio::select! {
            biased;
            _ = stopped.wait_for(|s| *s) => break,
            _ = tick.tick() => {}
        }
        let partition = options.partitions[n as usize % options.partitions.len()];
        let value = format!("w{index}-p{partition}-{n:07}");
        let mut record =
            ProducerRecord::new(options.topic.as_str(), value.clone()).with_partition(partition);
        if let Some(key) = &key {
            record = record.with_key(key.clone());
        }
        let sent = tokio::select! {
            biased;
            _ = stopped.wait_for(|s| *s) => break,
            sent = producer.send(record) => sent,
        };
        match sent {
            Ok(delivery) => {
                if deliveries.send((partition, value, delivery)).await.is_err() {
                    break;
                }
            }
            Err(e) => refused.push(format!("{value}: {e}")),
        }
    }
    drop(deliveries);
    let mut outcomes = settle.await.expect("settle task");
    outcomes.failed += refused.len();
    outcomes.errors.extend(refused.into_iter().take(3));
    let _ = tokio::time::timeout(outcome_timeout, producer.close()).await;
    outcomes
}

/// Awaits each delivery in order, at most `timeout` each.
async fn settle(
    mut pending: mpsc::Receiver<(i32, String, DeliveryFuture)>,
    timeout: Duration,
    progress: Arc<Progress>,
) -> Outcomes {
    let mut outcomes = Outcomes::default();
    while let Some((partition, value, delivery)) = pending.recv().await {
        match tokio::time::timeout(timeout, delivery).await {
            Ok(Ok(meta)) => {
                assert_eq!(meta.partition, partition, "{value}");
                let seen = Seen {
                    partition,
                    offset: meta.offset,
                    value,
                };
                progress.record(&seen);
                outcomes.acknowledged.push(seen);
            }
            Ok(Err(e)) => {
                outcomes.failed += 1;
                if outcomes.errors.len() < 3 {
                    outcomes.errors.push(format!("{value}: {e}"));
                }
            }
            Err(_) => {
                outcomes.failed += 1;
                if outcomes.errors.len() < 3 {
                    outcomes
                        .errors
                        .push(format!("{value}: no outcome in {timeout:?}"));
                }
            }
        }
    }
    outcomes
}

/// One consumer: every partition from the start, until stopped.
async fn consume(options: WorkloadOptions, mut stopped: watch::Receiver<bool>) -> Vec<Seen> {
    let config = ConsumerConfig::builder(options.bootstrap.as_str())
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .expect("valid consumer config");
    let mut consumer = Consumer::connect(config).await.expect("consumer connects");
    let tps: Vec<TopicPartition> = options
        .partitions
        .iter()
        .map(|p| TopicPartition::new(options.topic.as_str(), *p))
        .collect();
    consumer.assign(tps.clone());
    let mut observed = Vec::new();
    let mut unpositioned = tps;
    while !*stopped.borrow() {
        // A partition whose leader is failing over cannot be positioned yet: try again
        // on the next round, reading the others meanwhile.
        let mut still = Vec::new();
        for tp in unpositioned {
            if consumer.seek(&tp, SeekTo::Beginning).await.is_err() {
                still.push(tp);
            }
        }
        unpositioned = still;
        let polled = tokio::select! {
            biased;
            _ = stopped.wait_for(|s| *s) => break,
            polled = consumer.poll(Duration::from_millis(200)) => polled,
        };
        // Errors are what faults look like from here: back off a little and go on.
        let records = match polled {
            Ok(records) => records,
            Err(_) => {
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
        };
        for r in records {
            observed.push(Seen {
                partition: r.partition,
                offset: r.offset,
                value: String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
            });
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), consumer.close()).await;
    observed
}
