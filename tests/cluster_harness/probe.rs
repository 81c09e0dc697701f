//! A raw view of one broker, independent of the client library: DescribeCluster and
//! Metadata sent as frames straight from `rill-protocol`, with a deadline on every
//! step. The tests use it to see what each broker itself answers (the client library
//! may route a request elsewhere or retry it), and to produce to one broker alone.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rill_protocol::api::describe_cluster::{DescribeClusterRequest, DescribeClusterResponse};
use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse};
use rill_protocol::api::{encode_request, ApiKey, Request, RequestHeader, Response};
use rill_protocol::frame::{FrameBuf, FrameCodec};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// How long one probe (connect, send, answer) may take: a paused or cut-off broker
/// makes the probe fail, not hang.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest response frame a probe accepts.
const MAX_FRAME_BYTES: usize = 16 << 20;

/// Sends `request` at `version` to `addr` on a fresh connection and returns the answer.
pub async fn call(addr: SocketAddr, request: Request, version: u16) -> Result<Response, String> {
    call_within(addr, request, version, PROBE_TIMEOUT).await
}

/// [`call`] with its own deadline (for requests the broker may hold, as an `acks=all`
/// produce).
pub async fn call_within(
    addr: SocketAddr,
    request: Request,
    version: u16,
    deadline: Duration,
) -> Result<Response, String> {
    tokio::time::timeout(deadline, call_now(addr, request, version))
        .await
        .map_err(|_| format!("{addr} did not answer within {deadline:?}"))?
}

async fn call_now(addr: SocketAddr, request: Request, version: u16) -> Result<Response, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let mut framed = Framed::new(stream, FrameCodec::new(MAX_FRAME_BYTES));
    let api_key = request.api_key();
    let header = RequestHeader {
        api_key,
        api_version: version,
        correlation_id: 1,
        client_id: Some("cluster-harness".into()),
    };
    let mut out = FrameBuf::new();
    encode_request(&header, &request, &mut out).map_err(|e| format!("encode: {e}"))?;
    framed
        .send(out)
        .await
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let frame = framed
        .next()
        .await
        .ok_or_else(|| format!("{addr} closed the connection"))?
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let (_, response) =
        Response::decode(api_key, version, frame).map_err(|e| format!("decode: {e}"))?;
    Ok(response)
}

/// What broker `addr` says about the cluster.
pub async fn describe_cluster(addr: SocketAddr) -> Result<DescribeClusterResponse, String> {
    let version = ApiKey::DescribeCluster.max_version();
    match call(addr, DescribeClusterRequest.into(), version).await? {
        Response::DescribeCluster(r) => Ok(r),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// Broker `addr`'s Metadata (at the newest version: leader epochs, replicas, ISR) for
/// `topics`, every topic when `None`.
pub async fn metadata(
    addr: SocketAddr,
    topics: Option<Vec<String>>,
) -> Result<MetadataResponse, String> {
    let request = MetadataRequest {
        topics,
        allow_auto_topic_creation: false,
    };
    match call(addr, request.into(), ApiKey::Metadata.max_version()).await? {
        Response::Metadata(r) => Ok(r),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// Which broker `addr` says coordinates consumer group `group`.
pub async fn find_coordinator(
    addr: SocketAddr,
    group: &str,
) -> Result<rill_protocol::api::find_coordinator::FindCoordinatorResponse, String> {
    use rill_protocol::api::find_coordinator::{FindCoordinatorRequest, KEY_TYPE_GROUP};
    let request = FindCoordinatorRequest {
        key: group.to_owned(),
        key_type: KEY_TYPE_GROUP,
    };
    let version = ApiKey::FindCoordinator.max_version();
    match call(addr, request.into(), version).await? {
        Response::FindCoordinator(r) => Ok(r),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// Sends one record with `value` to `topic`/`partition` on broker `addr` alone (no
/// client routing or retries), `acks=all`, the broker allowed `timeout_ms`; returns the
/// partition's answer, or an error when none came within `timeout_ms` plus a margin.
pub async fn produce_one(
    addr: SocketAddr,
    topic: &str,
    partition: i32,
    value: &str,
    timeout_ms: i32,
) -> Result<rill_protocol::api::produce::ProducePartitionResponse, String> {
    use rill_protocol::api::common::TopicPartitions;
    use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ACKS_ALL};
    use rill_protocol::batch::{BatchBuilder, Compression, RecordInput};
    let mut builder = BatchBuilder::new(Compression::None);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    builder
        .append(&RecordInput::new(now_ms, value.to_owned()))
        .map_err(|e| format!("encode record: {e}"))?;
    let records = builder.build().map_err(|e| format!("encode batch: {e}"))?;
    let request = ProduceRequest {
        transactional_id: None,
        acks: ACKS_ALL,
        timeout_ms,
        topics: vec![TopicPartitions {
            name: topic.to_owned(),
            partitions: vec![ProducePartition { partition, records }],
        }],
    };
    let deadline = Duration::from_millis(timeout_ms.max(0) as u64) + PROBE_TIMEOUT;
    let version = ApiKey::Produce.max_version();
    match call_within(addr, request.into(), version, deadline).await? {
        Response::Produce(r) => r
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition == partition)
            .ok_or_else(|| format!("no answer for partition {partition}")),
        other => Err(format!("unexpected answer {other:?}")),
    }
}
