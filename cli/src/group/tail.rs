//! `rill tail TOPIC --group ID`: consume as a member of a consumer group, from the
//! group's committed offsets, committing what was printed as it goes.
//!
//! Commits are exact: the offset committed for a partition is the one after the last
//! record *printed* (and flushed), never one that was fetched but held back by
//! `--count` or `--no-follow`. They happen every [`COMMIT_INTERVAL`], when the group
//! moves a partition to another member (from the rebalance callback, before the
//! handover), and on exit (`close` revokes every partition, then leaves the group).
//! Where the group has no committed offset, `--from-beginning` starts at the oldest
//! record, otherwise at the end (Kafka's console consumer does the same).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rill_client::{
    Admin, AutoOffsetReset, Consumer, ConsumerConfig, RebalanceCallbacks, TopicPartition,
};
use tokio::time::Instant;

use crate::output::{stdout_closed, DataOut};
use crate::record_format::RecordPrinter;
use crate::tail::TailArgs;
use crate::tail_position::RecordFilter;
use crate::GlobalArgs;

/// How often printed positions are committed while following.
pub const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Session timeout of the CLI's membership: a killed `rill tail` frees its partitions
/// this long after its last heartbeat.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one poll waits before the loop checks for Ctrl-C, a closed stdout or a
/// commit due.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Per partition, the offset after the last record printed (what to commit).
type Printed = Arc<Mutex<BTreeMap<i32, i64>>>;

/// Runs `rill tail TOPIC --group GROUP`.
pub async fn run(global: &GlobalArgs, args: TailArgs, group: &str) -> anyhow::Result<()> {
    let connection = global.connection_config();
    let now = std::time::SystemTime::now();
    let ends = if args.no_follow || args.until_offset.is_some() || args.until_time.is_some() {
        args.stop_offsets(&end_offsets(global, &args.topic).await?, now)
    } else {
        None
    };
    let reset = if args.from_beginning {
        AutoOffsetReset::Earliest
    } else {
        AutoOffsetReset::Latest
    };
    let fetch_max_wait = (connection.request_timeout / 2).min(Duration::from_millis(500));
    let config = ConsumerConfig::builder(connection.bootstrap.clone())
        .client_id(connection.client_id.clone())
        .tls(connection.tls.clone())
        .connect_timeout(connection.connect_timeout)
        .request_timeout(connection.request_timeout)
        .fetch_max_wait(fetch_max_wait)
        .auto_offset_reset(reset)
        .enable_auto_commit(false)
        .session_timeout(SESSION_TIMEOUT)
        .build()
        .context("invalid consumer settings")?;
    let mut consumer = Consumer::connect(config)
        .await
        .context("cannot reach the broker")?;
    let printed: Printed = Arc::default();
    let on_revoked = Arc::clone(&printed);
    let topic = args.topic.clone();
    let listener = RebalanceCallbacks::new().on_revoked(move |revocation| {
        let mut printed = on_revoked.lock().unwrap_or_else(|e| e.into_inner());
        for tp in revocation.partitions().to_vec() {
            if let Some(next) = printed.remove(&tp.partition) {
                revocation.commit_offset(&topic, tp.partition, next);
            }
        }
    });
    consumer
        .subscribe_with(group, &[args.topic.as_str()], listener)
        .await
        .with_context(|| format!("cannot join group {group}"))?;
    let mut out = DataOut::stdout();
    let filter = RecordFilter {
        ends,
        since: BTreeMap::new(),
        until_ms: args.until_time_ms(now),
    };
    let printer = args.printer(global.output);
    let mut returned = BTreeSet::new();
    let outcome = read_loop(
        &mut consumer,
        &args,
        printer,
        filter,
        &printed,
        &mut returned,
        &mut out,
    )
    .await;
    let flushed = out.flush().context("writing to stdout");
    // A partition that returned no record at all is committed at its position (where
    // it started), so a new group resumes there next time instead of at the then end,
    // which would skip what was produced in between (Kafka's console consumer commits
    // its position too). Partitions with records held back are left as printed.
    {
        let mut printed = lock(&printed);
        for tp in consumer.assignment() {
            if printed.contains_key(&tp.partition) || returned.contains(&tp.partition) {
                continue;
            }
            if let Some(position) = consumer.position(&tp) {
                printed.insert(tp.partition, position);
            }
        }
    }
    // Commits what was printed (through the revocation callback) and leaves.
    let closed = consumer
        .close()
        .await
        .with_context(|| format!("cannot commit the offsets of group {group}"));
    outcome.and(flushed).and(closed)
}

/// The current end offset of every partition of `topic` (the `--no-follow` stop).
async fn end_offsets(global: &GlobalArgs, topic: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
    let admin = Admin::connect(global.connection_config())
        .await
        .context("cannot reach the broker")?;
    let description = admin
        .describe_topic(topic)
        .await
        .with_context(|| format!("cannot read topic {topic}"));
    admin.close().await?;
    Ok(description?
        .partitions
        .iter()
        .map(|p| (p.partition, p.latest_offset))
        .collect())
}

/// Polls, prints and commits until `--count` is reached, every assigned partition
/// reached its end (`--no-follow`), Ctrl-C, or stdout closes.
async fn read_loop(
    consumer: &mut Consumer,
    args: &TailArgs,
    printer: RecordPrinter,
    mut filter: RecordFilter,
    printed: &Printed,
    returned: &mut BTreeSet<i32>,
    out: &mut DataOut,
) -> anyhow::Result<()> {
    let mut remaining = args.count.unwrap_or(u64::MAX);
    let mut next_commit = Instant::now() + COMMIT_INTERVAL;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut polled_once = false;
    loop {
        if polled_once
            && filter
                .ends
                .as_ref()
                .is_some_and(|ends| at_end(consumer, ends))
        {
            return Ok(());
        }
        // `poll` is cancel-safe: Ctrl-C loses no fetched record.
        let records = tokio::select! {
            polled = consumer.poll(POLL_INTERVAL) => polled.with_context(|| format!("cannot read topic {}", args.topic))?,
            _ = &mut interrupted => return Ok(()),
        };
        polled_once = true;
        returned.extend(records.iter().map(|r| r.partition));
        for record in &records {
            if !filter.admits(record) {
                continue;
            }
            printer
                .write(out.writer(), record)
                .context("writing to stdout")?;
            out.end_record().context("writing to stdout")?;
            lock(printed).insert(record.partition, record.offset + 1);
            remaining -= 1;
            if remaining == 0 {
                return Ok(());
            }
        }
        out.flush().context("writing to stdout")?;
        if Instant::now() >= next_commit {
            next_commit = Instant::now() + COMMIT_INTERVAL;
            commit_printed(consumer, &args.topic, printed).await;
        }
        if records.is_empty() && stdout_closed() {
            return Ok(());
        }
    }
}

/// True when every assigned partition's position reached its `--no-follow` end.
fn at_end(consumer: &Consumer, ends: &BTreeMap<i32, i64>) -> bool {
    consumer.assignment().iter().all(|tp| {
        let end = ends.get(&tp.partition).copied().unwrap_or(0);
        consumer
            .position(tp)
            .is_some_and(|position| position >= end)
    })
}

/// Commits the printed positions; a failure (e.g. a rebalance in progress) is logged
/// and retried at the next interval or on exit.
async fn commit_printed(consumer: &mut Consumer, topic: &str, printed: &Printed) {
    let offsets: Vec<(TopicPartition, i64)> = lock(printed)
        .iter()
        .map(|(&p, &next)| (TopicPartition::new(topic, p), next))
        .collect();
    if let Err(error) = consumer.commit_offsets(&offsets).await {
        tracing::warn!(%error, "commit failed; retrying later");
    }
}

fn lock(printed: &Printed) -> std::sync::MutexGuard<'_, BTreeMap<i32, i64>> {
    printed.lock().unwrap_or_else(|e| e.into_inner())
}
