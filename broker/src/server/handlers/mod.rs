//! Request handlers, one file per API (or family of APIs), and the dispatch between them.
//!
//! `decode` turns a frame into a typed request (an error closes the connection);
//! `handle` runs it and encodes the response frame. Error codes map from the broker's
//! error types in one place, [`errors`]. Every handler gets the request's
//! [`crate::security::Access`] and checks Kafka's operation for each topic, group or the
//! cluster it touches, answering a refusal per item (`*_AUTHORIZATION_FAILED`).

pub mod acls;
pub mod admin;
pub mod describe_cluster;
pub mod errors;
pub mod fetch;
pub mod groups;
pub mod init_producer_id;
pub mod list_offsets;
pub mod local_copy;
pub mod metadata;
pub mod metadata_cluster;
pub mod produce;
pub mod reassign;
pub mod sasl;
pub mod users;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rill_protocol::api::api_versions::{ApiVersionRange, ApiVersionsResponse};
use rill_protocol::api::broker_status::BrokerStatusResponse;
use rill_protocol::api::{encode_response, ApiKey, Request, RequestHeader, Response};
use rill_protocol::error_code::ErrorCode;
use rill_protocol::frame::{FrameBuf, OutFrame};
use rill_protocol::wire::DecodeError;
use tracing::{error, warn};

use super::budget::Charge;
use super::BrokerCtx;
use crate::security::sasl::gate;
use crate::security::Session;
use crate::topics::TopicError;

/// Runs blocking topic work (file creation, deletion, fsync) on the blocking pool.
pub(crate) async fn run_blocking<T, F>(ctx: &Arc<BrokerCtx>, work: F) -> Result<T, TopicError>
where
    T: Send + 'static,
    F: FnOnce(&BrokerCtx) -> Result<T, TopicError> + Send + 'static,
{
    let ctx = ctx.clone();
    match tokio::task::spawn_blocking(move || work(&ctx)).await {
        Ok(outcome) => outcome,
        Err(e) => Err(TopicError::Io {
            path: std::path::PathBuf::from("<blocking task>"),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// A decoded request and its header.
#[derive(Debug)]
pub struct Incoming {
    /// The request header (api key, version, correlation id, client id).
    pub header: RequestHeader,
    /// The request body.
    pub request: Request,
}

/// Decodes one request frame.
pub fn decode(_ctx: &BrokerCtx, frame: Bytes) -> Result<Incoming, DecodeError> {
    let (header, request) = Request::decode(frame)?;
    Ok(Incoming { header, request })
}

/// Runs a request and encodes its response frame; `None` when no response is due
/// (produce with `acks=0`). Counts the request and its latency per API. `charge` is the
/// request's share of the connection's buffer budget (a fetch grows it for its records).
pub async fn handle(
    ctx: &Arc<BrokerCtx>,
    incoming: Incoming,
    session: &mut Session,
    charge: &mut Charge,
) -> Reply {
    let api = incoming.header.api_key;
    let started = Instant::now();
    let frame = dispatch(ctx, incoming, session, charge).await;
    ctx.metrics.api.handled(api, started.elapsed());
    frame
}

/// Runs the request's handler; counts the error codes of its response.
async fn dispatch(
    ctx: &Arc<BrokerCtx>,
    incoming: Incoming,
    session: &mut Session,
    charge: &mut Charge,
) -> Reply {
    let peer = session.peer();
    let Incoming { header, request } = incoming;
    if !before_authentication(&request) && !gate::admits(&ctx.config.sasl, session) {
        warn!(%peer, api = ?header.api_key, "closing connection: request before SASL authentication (the client must authenticate first)");
        return Reply::Close;
    }
    // What this request may do, from the ACLs in force now (unrestricted when off).
    let access = ctx.authorizer.access(session);
    let response: Response = match request {
        Request::ApiVersions(_) => api_versions(ctx.config.sasl.enabled()).into(),
        Request::Metadata(req) => metadata::handle(ctx, req, &access).await.into(),
        Request::CreateTopics(req) => admin::create_topics(ctx, req, &access).await.into(),
        Request::DeleteTopics(req) => admin::delete_topics(ctx, req, &access).await.into(),
        Request::DescribeTopicConfigs(req) => admin::describe_configs(ctx, req, &access).into(),
        Request::AlterTopicConfigs(req) => admin::alter_configs(ctx, req, &access).await.into(),
        Request::Produce(req) => {
            let acks = req.acks;
            let response = produce::handle(ctx, req, peer, &access).await.into();
            if acks == 0 {
                ctx.metrics.api.response(header.api_key, &response);
                return Reply::Nothing;
            }
            response
        }
        Request::Fetch(req) => fetch::handle(ctx, req, charge, &access).await.into(),
        Request::ListOffsets(req) => list_offsets::handle(ctx, req, &access).await.into(),
        Request::FindCoordinator(req) => groups::find_coordinator(ctx, req, &access).into(),
        // Group calls take the coordinator's locks, which a commit holds while it writes
        // (and, with flush=always, fsyncs) the offsets log: they wait on the blocking
        // pool, not on a runtime thread every other connection needs.
        Request::JoinGroup(req) => {
            let header = header.clone();
            on_blocking_pool(ctx, move |ctx| {
                groups::join(ctx, req, &header, peer, &access)
            })
            .await
        }
        Request::Heartbeat(req) => {
            on_blocking_pool(ctx, move |ctx| groups::heartbeat(ctx, req, &access)).await
        }
        Request::LeaveGroup(req) => {
            on_blocking_pool(ctx, move |ctx| groups::leave(ctx, req, &access)).await
        }
        Request::OffsetCommit(req) => groups::offset_commit(ctx, req, &access).await.into(),
        Request::OffsetFetch(req) => {
            on_blocking_pool(ctx, move |ctx| groups::offset_fetch(ctx, req, &access)).await
        }
        Request::ListGroups(_) => {
            on_blocking_pool(ctx, move |ctx| groups::list_groups(ctx, &access)).await
        }
        Request::BrokerStatus(_) => status(ctx, &access).into(),
        Request::DescribeCluster(_) => describe_cluster::handle(ctx, &access).into(),
        Request::AlterPartitionReassignments(req) => {
            reassign::handle(ctx, req, &access).await.into()
        }
        Request::DescribeGroups(req) => {
            on_blocking_pool(ctx, move |ctx| groups::describe_groups(ctx, req, &access)).await
        }
        Request::DeleteGroups(req) => groups::delete_groups(ctx, req, &access).await.into(),
        Request::ResetOffsets(req) => groups::reset_offsets(ctx, req, &access).await.into(),
        Request::InitProducerId(req) => init_producer_id::handle(ctx, req, &access).await.into(),
        Request::DescribeAcls(req) => acls::describe(ctx, req, &access).into(),
        Request::CreateAcls(req) => acls::create(ctx, req, &access).await.into(),
        Request::DeleteAcls(req) => acls::delete(ctx, req, &access).await.into(),
        Request::SaslHandshake(req) => {
            let (response, close) = sasl::handshake(ctx, session, req);
            return last_if(close, encode(ctx, &header, &response.into()));
        }
        Request::SaslAuthenticate(req) => {
            let (response, close) = sasl::authenticate(ctx, session, req).await;
            return last_if(close, encode(ctx, &header, &response.into()));
        }
        Request::DescribeUserScramCredentials(req) => users::describe(ctx, req, &access).into(),
        Request::AlterUserScramCredentials(req) => users::alter(ctx, req, &access).await.into(),
        // Every API is served today; the arm stays for APIs the protocol adds next.
        #[allow(unreachable_patterns)]
        other => {
            warn!(%peer, api = ?other.api_key(), "request for an API this broker does not serve yet");
            return unsupported(ctx, &header);
        }
    };
    ctx.metrics.api.response(header.api_key, &response);
    encode(ctx, &header, &response)
}

/// ApiVersions, SaslHandshake and SaslAuthenticate: what a connection may send before
/// it authenticates.
fn before_authentication(request: &Request) -> bool {
    matches!(
        request,
        Request::ApiVersions(_) | Request::SaslHandshake(_) | Request::SaslAuthenticate(_)
    )
}

/// `reply`, made the connection's last when `close`.
fn last_if(close: bool, reply: Reply) -> Reply {
    match reply {
        Reply::Frame(frame) if close => Reply::Last(frame),
        other => other,
    }
}

/// The broker's status for `rill status`: the topics users see (as `rill topic list`
/// shows them), without the broker's internal ones. Needs Describe on the cluster.
fn status(ctx: &BrokerCtx, access: &crate::security::Access) -> BrokerStatusResponse {
    if !access.cluster(crate::security::acl::AclOperation::Describe) {
        return BrokerStatusResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed,
            node_id: ctx.node_id(),
            version: String::new(),
            uptime_ms: 0,
            topics: 0,
            partitions: 0,
            connections_open: 0,
            data_dir: String::new(),
        };
    }
    let topics: Vec<_> = ctx
        .topics
        .list()
        .into_iter()
        .filter(|t| !t.is_internal())
        .collect();
    let partitions: usize = topics.iter().map(|t| t.partitions.len()).sum();
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    BrokerStatusResponse {
        error_code: ErrorCode::None,
        node_id: ctx.node_id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_ms: (ctx.metrics.uptime_seconds() * 1000.0) as i64,
        topics: clamp(topics.len() as u64),
        partitions: clamp(partitions as u64),
        connections_open: clamp(ctx.metrics.snapshot().connections_open),
        data_dir: ctx.config.data_dir.display().to_string(),
    }
}

/// Encodes a response frame for `header`'s request.
fn encode(ctx: &BrokerCtx, header: &RequestHeader, response: &Response) -> Reply {
    let mut out = FrameBuf::new();
    let encoded = encode_response(
        header.correlation_id,
        header.api_version,
        response,
        &mut out,
    )
    .map_err(|e| e.to_string())
    .and_then(|()| {
        out.finish(ctx.config.max_frame_bytes)
            .map_err(|e| e.to_string())
    });
    match encoded {
        Ok(frame) => Reply::Frame(frame),
        Err(e) => {
            // Too large for a frame (or a broker bug): closing the connection is the only
            // honest answer, since the client would otherwise wait forever.
            error!(api = ?header.api_key, error = %e, "cannot encode response; closing the connection");
            Reply::Close
        }
    }
}

/// An API the broker knows but does not serve: answered with an empty frame the client
/// cannot mistake for a response, i.e. the connection is closed.
fn unsupported(_ctx: &BrokerCtx, _header: &RequestHeader) -> Reply {
    Reply::Close
}

/// Runs a synchronous handler on the blocking pool. A panic in it is passed on, so it
/// ends this connection (as a panic in an inline handler would), not the broker.
async fn on_blocking_pool<T, F>(ctx: &Arc<BrokerCtx>, handler: F) -> Response
where
    T: Into<Response> + Send + 'static,
    F: FnOnce(&BrokerCtx) -> T + Send + 'static,
{
    let ctx = Arc::clone(ctx);
    match tokio::task::spawn_blocking(move || handler(&ctx).into()).await {
        Ok(response) => response,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// `names` without repeats, in first-seen order. Lists of names a response describes one
/// by one are read as sets (as Kafka does), so a repeated name cannot multiply the
/// response.
pub(crate) fn unique(names: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    names
        .into_iter()
        .filter(|name| seen.insert(name.clone()))
        .collect()
}

/// What answers a request.
#[derive(Debug)]
pub enum Reply {
    /// This response frame.
    Frame(OutFrame),
    /// Nothing (a produce with acks=0).
    Nothing,
    /// Closing the connection, after the responses before it.
    Close,
    /// This response frame, then closing the connection (a failed login).
    Last(OutFrame),
}

/// Every API and version range this broker serves. SaslHandshake and SaslAuthenticate
/// are listed only with `sasl` on, so a client learns from this answer alone whether it
/// must authenticate.
pub fn api_versions(sasl: bool) -> ApiVersionsResponse {
    let is_sasl = |key: ApiKey| matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
    ApiVersionsResponse {
        error_code: ErrorCode::None,
        api_keys: ApiKey::ALL
            .iter()
            .filter(|key| served(**key) && (sasl || !is_sasl(**key)))
            .map(|key| ApiVersionRange {
                api_key: key.as_u16(),
                min_version: key.min_version(),
                max_version: key.max_version(),
            })
            .collect(),
    }
}

/// True for the APIs `handle` answers.
fn served(key: ApiKey) -> bool {
    matches!(
        key,
        ApiKey::ApiVersions
            | ApiKey::Metadata
            | ApiKey::CreateTopics
            | ApiKey::DeleteTopics
            | ApiKey::DescribeTopicConfigs
            | ApiKey::AlterTopicConfigs
            | ApiKey::Produce
            | ApiKey::Fetch
            | ApiKey::ListOffsets
            | ApiKey::FindCoordinator
            | ApiKey::JoinGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::ListGroups
            | ApiKey::DescribeGroups
            | ApiKey::DeleteGroups
            | ApiKey::ResetOffsets
            | ApiKey::InitProducerId
            | ApiKey::BrokerStatus
            | ApiKey::DescribeCluster
            | ApiKey::AlterPartitionReassignments
            | ApiKey::SaslHandshake
            | ApiKey::SaslAuthenticate
            | ApiKey::DescribeUserScramCredentials
            | ApiKey::AlterUserScramCredentials
            | ApiKey::DescribeAcls
            | ApiKey::CreateAcls
            | ApiKey::DeleteAcls
    )
}
