//! Produce: validate every batch (structure, CRC, records) before anything is appended,
//! then append each partition's batches with offsets stamped by the log.
//!
//! A bad batch fails its partition with CORRUPT_MESSAGE (INVALID_TIMESTAMP when a
//! create-time record is outside the topic's timestamp bounds) and nothing of that
//! partition's data is written; a log-append-time topic has the broker's clock stamped
//! into each batch before the append; other partitions in the same request are unaffected. With flush
//! `always` the append fsyncs, so it runs on the blocking pool.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::produce::{
    ProducePartition, ProducePartitionResponse, ProduceRequest, ProduceResponse, ACKS_ALL,
    ACKS_LEADER, ACKS_NONE,
};
use rill_protocol::batch::{
    set_log_append_time, validate_batches, BatchError, RecordBatch, ValidatedBatch,
};
use rill_protocol::error_code::ErrorCode;
use tracing::warn;

use super::errors::{storage_error_code, topic_error_code};
use super::run_blocking;
use crate::replication::{ReplicaWrite, ReplicationError};
use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::BrokerCtx;
use crate::storage::{AppendInfo, StorageError};
use crate::topics::{is_internal_name, Partition, TimestampType, Topic};

/// Answers a Produce request (the caller drops the answer for `acks=0`). Needs Write on
/// each topic (which, as in Kafka 2.8+, also covers idempotent producers).
pub async fn handle(
    ctx: &Arc<BrokerCtx>,
    req: ProduceRequest,
    peer: SocketAddr,
    access: &Access,
) -> ProduceResponse {
    let valid_acks = matches!(req.acks, ACKS_NONE | ACKS_LEADER | ACKS_ALL);
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut leadership = super::errors::leadership(ctx);
    for topic in req.topics {
        let resolved = if !valid_acks {
            Err(ErrorCode::InvalidRequiredAcks)
        } else if !access.topic(&topic.name, AclOperation::Write) {
            Err(ErrorCode::TopicAuthorizationFailed)
        } else {
            resolve_topic(ctx, &topic.name, access).await
        };
        let resolved = match resolved {
            Ok(Resolved::Created) => {
                // The auto-created topic is in a newer image than the request began with.
                leadership = super::errors::fresh_leadership(ctx);
                Ok(super::local_copy::local_topic(ctx, &topic.name).await)
            }
            Ok(Resolved::Local(t)) => Ok(t),
            Err(code) => Err(code),
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let routed = super::errors::route(ctx, leadership.as_deref(), &topic.name, p.partition);
            let response = match (&resolved, routed) {
                (Err(code), _) => failed(p.partition, *code, None),
                (Ok(_), Err(code)) => failed(p.partition, code, None),
                (Ok(Some(t)), Ok(())) => produce_partition(ctx, t, p, peer).await,
                // Led here per the image, not yet created locally: retry shortly.
                (Ok(None), Ok(())) => failed(p.partition, ErrorCode::LeaderNotAvailable, None),
            };
            partitions.push(response);
        }
        topics.push(TopicPartitions {
            name: topic.name,
            partitions,
        });
    }
    ProduceResponse {
        topics,
        throttle_time_ms: 0,
    }
}

/// A produced-to topic, as found or made.
enum Resolved {
    /// The local topic; `None` in a cluster when this broker holds none of it.
    Local(Option<Arc<Topic>>),
    /// Auto-created through the controller just now (clustered brokers).
    Created,
}

/// The topic, auto-created when the broker allows it.
async fn resolve_topic(
    ctx: &Arc<BrokerCtx>,
    name: &str,
    access: &Access,
) -> Result<Resolved, ErrorCode> {
    if is_internal_name(name) {
        // Only the broker writes its internal topics.
        return Err(ErrorCode::InvalidTopic);
    }
    match &ctx.cluster {
        Some(cluster) if cluster.image().topics.contains_key(name) => {
            return Ok(Resolved::Local(
                super::local_copy::local_topic(ctx, name).await,
            ));
        }
        Some(_) => {}
        None => {
            if let Some(topic) = ctx.topics.get(name) {
                return Ok(Resolved::Local(Some(topic)));
            }
        }
    }
    if !ctx.config.auto_create_topics {
        return Err(ErrorCode::UnknownTopicOrPartition);
    }
    if !super::metadata::may_create(access, name) {
        return Err(ErrorCode::TopicAuthorizationFailed);
    }
    if let Some(cluster) = &ctx.cluster {
        super::metadata_cluster::create_with_defaults(ctx, cluster, name).await?;
        return Ok(Resolved::Created);
    }
    let wanted = name.to_string();
    run_blocking(ctx, move |ctx| ctx.topics.get_or_create(&wanted))
        .await
        .map(|t| Resolved::Local(Some(t)))
        .map_err(|e| topic_error_code(&e))
}

async fn produce_partition(
    ctx: &Arc<BrokerCtx>,
    topic: &Topic,
    p: ProducePartition,
    peer: SocketAddr,
) -> ProducePartitionResponse {
    let Some(partition) = topic.partition(p.partition).cloned() else {
        return failed(p.partition, ErrorCode::UnknownTopicOrPartition, None);
    };
    let batches = match validate_batches(&p.records, topic.log_config.max_batch_bytes) {
        Ok(batches) if !batches.is_empty() => batches,
        Ok(_) => {
            return failed(
                p.partition,
                ErrorCode::CorruptMessage,
                Some("the request carries no record batch".into()),
            )
        }
        Err(e) => {
            ctx.metrics.batch_rejected();
            warn!(%peer, topic = %topic.name, partition = p.partition, error = %e, "rejected produced batch");
            // A length claiming more than the request carries is corruption, not size.
            let code = match e {
                BatchError::TooLarge { batch_bytes, .. } if batch_bytes <= p.records.len() => {
                    ErrorCode::MessageTooLarge
                }
                _ => ErrorCode::CorruptMessage,
            };
            return failed(p.partition, code, Some(e.to_string()));
        }
    };
    let now_ms = crate::storage::now_ms();
    if let Err(e) = topic.timestamps.check(&batches, now_ms) {
        ctx.metrics.batch_rejected();
        warn!(%peer, topic = %topic.name, partition = p.partition, error = %e, "rejected produced batch");
        return failed(
            p.partition,
            ErrorCode::InvalidTimestamp,
            Some(e.to_string()),
        );
    }
    if let Err(reason) = check_keys(&partition, &batches, &p.records) {
        return failed(p.partition, ErrorCode::InvalidRecord, Some(reason));
    }
    let records: u64 = batches
        .iter()
        .map(|b| u64::try_from(b.header.record_count).unwrap_or(0))
        .sum();
    let bytes = p.records.len() as u64;
    let mut owned = writable(p.records);
    let log_append_time_ms = match topic.timestamps.timestamp_type {
        TimestampType::CreateTime => -1,
        TimestampType::LogAppendTime => {
            stamp_log_append_time(&mut owned, &batches, now_ms);
            now_ms
        }
    };
    let appended = match ctx.replicated(&topic.name, p.partition) {
        Some(replicator) => {
            let write = ReplicaWrite {
                batches: owned.freeze(),
                timestamp_ms: now_ms,
            };
            match replicator.append(&topic.name, p.partition, write).await {
                Ok(appended) => Ok(AppendInfo {
                    base_offset: appended.base_offset,
                    last_offset: appended.last_offset,
                    log_append_time_ms: appended.log_append_time_ms,
                    max_timestamp: -1,
                    batch_count: batches.len(),
                    duplicate: appended.duplicate,
                }),
                Err(e) => {
                    if !matches!(e, ReplicationError::NotLeader { .. }) {
                        warn!(topic = %topic.name, partition = p.partition, error = %e, "replicated append failed");
                    }
                    return failed(p.partition, e.error_code(), Some(e.to_string()));
                }
            }
        }
        None => append(&partition, owned).await,
    };
    match appended {
        Ok(info) => {
            partition.stats.produced(records, bytes);
            ProducePartitionResponse {
                partition: p.partition,
                error_code: ErrorCode::None,
                base_offset: info.base_offset,
                log_append_time_ms,
                log_start_offset: partition.log().map_or(-1, |log| log.log_start_offset()),
                error_message: None,
            }
        }
        Err(e) => {
            warn!(topic = %topic.name, partition = p.partition, error = %e, "append failed");
            failed(p.partition, storage_error_code(&e), Some(e.to_string()))
        }
    }
}

/// The request's batches as a mutable buffer: the log stamps offsets into them in place
/// (and log-append time is stamped before that). The request frame is normally the only
/// owner of its bytes by now, making this free; a shared buffer is copied.
fn writable(records: Bytes) -> BytesMut {
    records
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]))
}

/// Stamps the broker's clock into every batch of a log-append-time topic (attributes bit
/// 3, `max_timestamp`, CRC), outside the partition's append critical section.
fn stamp_log_append_time(buf: &mut BytesMut, batches: &[ValidatedBatch], now_ms: i64) {
    for batch in batches {
        let end = batch.position + batch.header.total_bytes();
        if let Some(bytes) = buf.get_mut(batch.position..end) {
            set_log_append_time(bytes, now_ms);
        }
    }
}

/// Appends inline when that is a memcpy into the page cache
/// (`PartitionLog::try_append_inline`: no lock wait, no fsync, no
/// roll); on the blocking pool otherwise (a roll, or `flush = always`, which waits for the
/// group fsync that covers it). The log stamps offsets into the batches in place.
async fn append(
    partition: &Arc<Partition>,
    mut records: BytesMut,
) -> Result<AppendInfo, StorageError> {
    if let Some(info) = partition.log()?.try_append_inline(&mut records)? {
        return Ok(info);
    }
    let partition = partition.clone();
    match tokio::task::spawn_blocking(move || partition.log()?.append(&mut records)).await {
        Ok(result) => result,
        Err(e) => Err(StorageError::Io {
            op: "append task",
            path: std::path::PathBuf::new(),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// On a compacted topic every record needs a key (the cleaner keeps the latest record of
/// each key, so a keyless one could never be kept or replaced); Kafka refuses them too.
fn check_keys(
    partition: &Partition,
    batches: &[ValidatedBatch],
    records: &Bytes,
) -> Result<(), String> {
    let Ok(log) = partition.log() else {
        return Ok(());
    };
    let config = log.config();
    if !config.compaction.policy.compacts() {
        return Ok(());
    }
    for validated in batches {
        let bytes =
            records.slice(validated.position..validated.position + validated.header.total_bytes());
        let (batch, _) =
            RecordBatch::parse(bytes, config.max_batch_bytes).map_err(|e| e.to_string())?;
        if batch.header().is_control() {
            continue;
        }
        for (index, record) in batch.records().map_err(|e| e.to_string())?.enumerate() {
            if record.map_err(|e| e.to_string())?.key.is_none() {
                return Err(format!(
                    "topic {} is compacted (cleanup.policy={}): every record needs a key, and record {index} of a batch has none",
                    partition.topic,
                    config.compaction.policy.as_str()
                ));
            }
        }
    }
    Ok(())
}

fn failed(
    partition: i32,
    error_code: ErrorCode,
    message: Option<String>,
) -> ProducePartitionResponse {
    ProducePartitionResponse {
        partition,
        error_code,
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
        error_message: message,
    }
}
