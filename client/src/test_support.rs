//! A tiny in-memory broker for unit tests: speaks the frame protocol on 127.0.0.1:0 and
//! implements just enough of ApiVersions, Metadata (auto-create), Produce, Fetch and
//! ListOffsets to exercise the producer and consumer. Not a model of the real broker's
//! storage: a partition is a `Vec` of stamped batches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rill_protocol::api::api_versions::ApiVersionsResponse;
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::fetch::{
    FetchPartitionResponse, FetchRecords, FetchRequest, FetchResponse,
};
use rill_protocol::api::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
};
use rill_protocol::api::metadata::{
    MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use rill_protocol::api::produce::{ProducePartitionResponse, ProduceRequest, ProduceResponse};
use rill_protocol::api::{encode_response, Request, RequestHeader, Response};
use rill_protocol::batch::{set_base_offset, BatchHeader, BatchIter, MAX_BATCH_BYTES_DEFAULT};
use rill_protocol::error_code::ErrorCode;
use rill_protocol::frame::{FrameBuf, FrameCodec};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

/// One stored batch: its header (offsets stamped) and bytes.
type Stored = (BatchHeader, Bytes);

/// What the fake broker holds and how it should misbehave.
#[derive(Debug, Default)]
pub(crate) struct BrokerState {
    /// Partitions of every topic created by Metadata auto-create.
    pub(crate) partitions_per_topic: i32,
    /// Topics and their partition logs.
    pub(crate) logs: HashMap<String, Vec<Vec<Stored>>>,
    /// Answer this many produce partitions with a retriable error first.
    pub(crate) fail_produce_partitions: u32,
    /// Produce requests received.
    pub(crate) produce_requests: u32,
}

impl BrokerState {
    /// The values stored in `topic`/`partition`, in offset order.
    pub(crate) fn record_count(&self, topic: &str, partition: usize) -> i64 {
        self.logs
            .get(topic)
            .and_then(|t| t.get(partition))
            .map_or(0, |log| {
                log.iter().map(|(h, _)| i64::from(h.record_count)).sum()
            })
    }
}

/// A running fake broker.
pub(crate) struct FakeBroker {
    /// `127.0.0.1:port`.
    pub(crate) addr: String,
    /// Shared state, for assertions and fault injection.
    pub(crate) state: Arc<Mutex<BrokerState>>,
}

impl FakeBroker {
    /// Starts a broker whose auto-created topics have `partitions` partitions.
    pub(crate) async fn start(partitions: i32) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(BrokerState {
            partitions_per_topic: partitions,
            ..BrokerState::default()
        }));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        FakeBroker { addr, state }
    }

    /// Locks the state.
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, BrokerState> {
        self.state.lock().unwrap()
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<BrokerState>>) {
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::default());
    while let Some(Ok(frame)) = frames.next().await {
        let (header, request) = Request::decode(frame).unwrap();
        let response = match request {
            Request::ApiVersions(_) => Some(without_sasl().into()),
            Request::Metadata(r) => Some(metadata(&state, r)),
            Request::Produce(r) => produce(&state, r),
            Request::Fetch(r) => Some(fetch(&state, r).await),
            Request::ListOffsets(r) => Some(list_offsets(&state, r)),
            Request::InitProducerId(_) => Some(
                rill_protocol::api::init_producer_id::InitProducerIdResponse {
                    error_code: rill_protocol::error_code::ErrorCode::None,
                    producer_id: 1,
                    producer_epoch: 0,
                }
                .into(),
            ),
            other => panic!("fake broker does not handle {:?}", other.api_key()),
        };
        if let Some(response) = response {
            respond(&mut write, &header, &response).await;
        }
    }
}

async fn respond(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    header: &RequestHeader,
    response: &Response,
) {
    let mut buf = FrameBuf::new();
    encode_response(
        header.correlation_id,
        header.api_version,
        response,
        &mut buf,
    )
    .unwrap();
    let mut frame = buf.finish(64 << 20).unwrap();
    let _ = write.write_all_buf(&mut frame).await;
}

fn metadata(state: &Mutex<BrokerState>, request: MetadataRequest) -> Response {
    let mut state = state.lock().unwrap();
    let count = state.partitions_per_topic;
    let names: Vec<String> = request
        .topics
        .unwrap_or_else(|| state.logs.keys().cloned().collect());
    let mut topics = Vec::new();
    for name in names {
        if request.allow_auto_topic_creation {
            state
                .logs
                .entry(name.clone())
                .or_insert_with(|| vec![Vec::new(); usize::try_from(count).unwrap()]);
        }
        let Some(log) = state.logs.get(&name) else {
            topics.push(topic_metadata(
                name,
                ErrorCode::UnknownTopicOrPartition,
                Vec::new(),
            ));
            continue;
        };
        let partitions = (0..log.len())
            .map(|p| PartitionMetadata {
                error_code: ErrorCode::None,
                partition: i32::try_from(p).unwrap(),
                leader: 0,
                high_watermark: state.record_count(&name, p),
                log_start_offset: 0,
                leader_epoch: 0,
                replicas: vec![0],
                isr: vec![0],
            })
            .collect();
        topics.push(topic_metadata(name, ErrorCode::None, partitions));
    }
    MetadataResponse {
        brokers: vec![],
        controller_id: 0,
        topics,
    }
    .into()
}

fn topic_metadata(
    name: String,
    error_code: ErrorCode,
    partitions: Vec<PartitionMetadata>,
) -> TopicMetadata {
    TopicMetadata {
        error_code,
        name,
        is_internal: false,
        partitions,
    }
}

fn produce(state: &Mutex<BrokerState>, request: ProduceRequest) -> Option<Response> {
    let mut state = state.lock().unwrap();
    state.produce_requests += 1;
    let mut topics = Vec::new();
    for topic in request.topics {
        let mut partitions = Vec::new();
        for p in topic.partitions {
            let answer = |error_code, base_offset| ProducePartitionResponse {
                partition: p.partition,
                error_code,
                base_offset,
                log_append_time_ms: -1,
                log_start_offset: 0,
                error_message: None,
            };
            if state.fail_produce_partitions > 0 {
                state.fail_produce_partitions -= 1;
                partitions.push(answer(ErrorCode::RequestTimedOut, -1));
                continue;
            }
            let mut next = state.record_count(&topic.name, usize::try_from(p.partition).unwrap());
            let base = next;
            let log = &mut state.logs.get_mut(&topic.name).unwrap()
                [usize::try_from(p.partition).unwrap()];
            for batch in BatchIter::new(p.records.clone(), MAX_BATCH_BYTES_DEFAULT) {
                let batch = batch.unwrap();
                let mut bytes = batch.as_bytes().to_vec();
                set_base_offset(&mut bytes, next);
                let header = BatchHeader::parse(&bytes, MAX_BATCH_BYTES_DEFAULT).unwrap();
                next = header.next_offset();
                log.push((header, Bytes::from(bytes)));
            }
            partitions.push(answer(ErrorCode::None, base));
        }
        topics.push(TopicPartitions {
            name: topic.name,
            partitions,
        });
    }
    (request.acks != 0).then(|| {
        ProduceResponse {
            topics,
            throttle_time_ms: 0,
        }
        .into()
    })
}

async fn fetch(state: &Mutex<BrokerState>, request: FetchRequest) -> Response {
    let response = fetch_now(state, &request);
    let empty = response
        .topics
        .iter()
        .all(|t| t.partitions.iter().all(|p| p.records.is_empty()));
    if empty {
        // A short long-poll, then look again.
        let wait_ms = u64::try_from(request.max_wait_ms.clamp(0, 50)).unwrap();
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        return fetch_now(state, &request).into();
    }
    response.into()
}

fn fetch_now(state: &Mutex<BrokerState>, request: &FetchRequest) -> FetchResponse {
    let state = state.lock().unwrap();
    let topics = request
        .topics
        .iter()
        .map(|t| TopicPartitions {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let log = &state.logs[&t.name][usize::try_from(p.partition).unwrap()];
                    let hw = state.record_count(&t.name, usize::try_from(p.partition).unwrap());
                    let mut records = FetchRecords::new();
                    let error_code = if p.fetch_offset > hw {
                        ErrorCode::OffsetOutOfRange
                    } else {
                        ErrorCode::None
                    };
                    let limit = usize::try_from(p.partition_max_bytes).unwrap();
                    for (header, bytes) in
                        log.iter().filter(|(h, _)| h.next_offset() > p.fetch_offset)
                    {
                        if !records.is_empty() && records.len() + bytes.len() > limit {
                            break;
                        }
                        let _ = header;
                        records.push(bytes.clone());
                    }
                    FetchPartitionResponse {
                        partition: p.partition,
                        error_code,
                        high_watermark: hw,
                        last_stable_offset: hw,
                        log_start_offset: 0,
                        records,
                    }
                })
                .collect(),
        })
        .collect();
    FetchResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        topics,
    }
}

fn list_offsets(state: &Mutex<BrokerState>, request: ListOffsetsRequest) -> Response {
    let state = state.lock().unwrap();
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let index = usize::try_from(p.partition).unwrap();
                    let hw = state.record_count(&t.name, index);
                    let offset = match p.timestamp {
                        -2 => 0,
                        -1 => hw,
                        ts => state.logs[&t.name][index]
                            .iter()
                            .find(|(h, _)| h.max_timestamp >= ts)
                            .map_or(-1, |(h, _)| h.base_offset),
                    };
                    ListOffsetsPartitionResponse {
                        partition: p.partition,
                        error_code: ErrorCode::None,
                        timestamp: -1,
                        offset,
                    }
                })
                .collect();
            TopicPartitions {
                name: t.name,
                partitions,
            }
        })
        .collect();
    ListOffsetsResponse { topics }.into()
}

/// Every API this build speaks but SASL's: what a broker without authentication lists.
pub(crate) fn without_sasl() -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::supported();
    let sasl = [
        rill_protocol::api::ApiKey::SaslHandshake.as_u16(),
        rill_protocol::api::ApiKey::SaslAuthenticate.as_u16(),
    ];
    response
        .api_keys
        .retain(|range| !sasl.contains(&range.api_key));
    response
}
