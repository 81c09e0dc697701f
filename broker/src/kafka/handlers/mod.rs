//! Kafka request handlers, one file per API (or family), and the dispatch between them.
//!
//! Each handler maps the Kafka request onto the native one, runs the native handler in
//! `server::handlers` and maps the answer back, so what a Kafka client does and what a
//! Rill client does reach storage through one path. The ACL checks ride along: the
//! native handlers check what they serve, [`authorize`] refuses the group membership
//! APIs and DescribeCluster whole, and the Kafka-only handlers check their own items.

pub mod acls;
pub mod admin;
pub mod authorize;
pub mod cluster;
pub mod configs;
pub mod consumer_group;
pub mod fetch;
pub mod find_coordinator;
pub mod groups;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod partitions;
pub mod produce;
pub mod sasl;
pub mod users;

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use rill_protocol::error_code::ErrorCode;
use tracing::{error, warn};

use super::apis;
use super::produce_legacy;
use super::request::{Body, KafkaRequest, RequestHeader};
use super::response;
use super::KafkaCtx;
use crate::security::sasl::gate;
use crate::security::Session;

/// What answers a request.
#[derive(Debug)]
pub enum Answer {
    /// This response frame (length prefix included).
    Frame(Bytes),
    /// Nothing: a produce with `acks=0`.
    Nothing,
    /// Close the connection, after the responses before this one.
    Close,
    /// This response frame, then close the connection (a failed login).
    Last(Bytes),
}

/// Runs one request and encodes its answer.
pub async fn handle(ctx: &Arc<KafkaCtx>, request: KafkaRequest, session: &mut Session) -> Answer {
    let peer = session.peer();
    let KafkaRequest { header, body } = request;
    if !before_authentication(&body) && !gate::admits(&ctx.broker.config.sasl, session) {
        warn!(%peer, api = ?header.api_key, "closing Kafka connection: request before SASL authentication (set the client's sasl.mechanism, sasl.username and sasl.password)");
        return Answer::Close;
    }
    let max_frame_bytes = ctx.broker.config.max_frame_bytes;
    let version = header.api_version;
    let encoded = match body {
        Body::ApiVersionsTooNew => {
            let answer = apis::api_versions(ErrorCode::UnsupportedVersion.code());
            response::encode(&header, 0, &answer.into(), max_frame_bytes)
        }
        Body::LegacyProduce(req) => {
            if req.acks == 0 {
                return Answer::Nothing;
            }
            let code = ErrorCode::UnsupportedVersion.code();
            let body = produce_legacy::encode_response(&req, version, code);
            response::encode_raw(&header, &body, max_frame_bytes)
        }
        Body::Kind(kind) => match dispatch(ctx, &header, *kind, session).await {
            Dispatched::Respond(answer) => {
                response::encode(&header, version, &answer, max_frame_bytes)
            }
            Dispatched::Last(answer) => {
                return match response::encode(&header, version, &answer, max_frame_bytes) {
                    Ok(frame) => Answer::Last(frame),
                    Err(e) => {
                        error!(%peer, error = %e, "cannot encode Kafka response; closing the connection");
                        Answer::Close
                    }
                };
            }
            Dispatched::Silent => return Answer::Nothing,
            Dispatched::Unhandled => return Answer::Close,
        },
    };
    match encoded {
        Ok(frame) => Answer::Frame(frame),
        Err(e) => {
            // The client would wait forever for an answer that cannot be sent.
            error!(%peer, error = %e, "cannot encode Kafka response; closing the connection");
            Answer::Close
        }
    }
}

/// How a decoded request is answered.
enum Dispatched {
    /// With this response.
    Respond(Box<ResponseKind>),
    /// With this response, then closing the connection.
    Last(Box<ResponseKind>),
    /// Not at all (a produce with acks=0).
    Silent,
    /// By closing the connection (an API advertised but not dispatched: a broker bug).
    Unhandled,
}

async fn dispatch(
    ctx: &Arc<KafkaCtx>,
    header: &RequestHeader,
    kind: RequestKind,
    session: &mut Session,
) -> Dispatched {
    let peer = session.peer();
    let version = header.api_version;
    // What this request may do, from the ACLs in force now (unrestricted when off).
    let access = ctx.broker.authorizer.access(session);
    if let Some(refusal) = authorize::refuse_whole(&kind, &access, version) {
        return Dispatched::Respond(Box::new(refusal));
    }
    let answer: ResponseKind = match kind {
        RequestKind::ApiVersions(_) => apis::api_versions(0).into(),
        RequestKind::Metadata(req) => metadata::handle(ctx, req, version, &access).await.into(),
        RequestKind::Produce(req) => {
            return match produce::handle(ctx, req, peer, &access).await {
                Some(answer) => Dispatched::Respond(Box::new(answer.into())),
                None => Dispatched::Silent,
            }
        }
        RequestKind::Fetch(req) => fetch::handle(ctx, req, &access).await.into(),
        RequestKind::ListOffsets(req) => list_offsets::handle(ctx, req, version, &access)
            .await
            .into(),
        RequestKind::InitProducerId(req) => {
            init_producer_id::handle(ctx, req, &access).await.into()
        }
        RequestKind::CreateTopics(req) => admin::create_topics(ctx, req, &access).await.into(),
        RequestKind::DeleteTopics(req) => admin::delete_topics(ctx, req, version, &access)
            .await
            .into(),
        RequestKind::FindCoordinator(req) => {
            find_coordinator::handle(ctx, req, version, &access).into()
        }
        RequestKind::CreatePartitions(req) => partitions::create(ctx, req, &access).await.into(),
        RequestKind::DescribeConfigs(req) => configs::describe(ctx, req, &access).await.into(),
        RequestKind::IncrementalAlterConfigs(req) => {
            configs::incremental_alter(ctx, req, &access).await.into()
        }
        RequestKind::DescribeCluster(req) => cluster::describe(ctx, req).into(),
        RequestKind::ConsumerGroupHeartbeat(req) => {
            let client_id = header.client_id.clone();
            consumer_group::heartbeat(ctx, req, peer, client_id)
                .await
                .into()
        }
        RequestKind::JoinGroup(req) => groups::join(ctx, req, header, peer, version).await.into(),
        RequestKind::SyncGroup(req) => groups::sync(ctx, req, version).await.into(),
        RequestKind::Heartbeat(req) => groups::heartbeat(ctx, req).into(),
        RequestKind::LeaveGroup(req) => groups::leave(ctx, req, version).into(),
        RequestKind::DescribeGroups(req) => groups::describe(ctx, req, &access).into(),
        RequestKind::ListGroups(req) => groups::list(ctx, req, &access).await.into(),
        RequestKind::OffsetCommit(req) => offsets::commit(ctx, req, &access).await.into(),
        RequestKind::OffsetFetch(req) => offsets::fetch(ctx, req, version, &access).await.into(),
        RequestKind::DescribeAcls(req) => acls::describe(ctx, req, &access).into(),
        RequestKind::CreateAcls(req) => acls::create(ctx, req, &access).await.into(),
        RequestKind::DeleteAcls(req) => acls::delete(ctx, req, &access).await.into(),
        RequestKind::SaslHandshake(req) => {
            let (answer, close) = sasl::handshake(ctx, session, req, version);
            return respond_or_last(answer.into(), close);
        }
        RequestKind::SaslAuthenticate(req) => {
            let (answer, close) = sasl::authenticate(ctx, session, req).await;
            return respond_or_last(answer.into(), close);
        }
        RequestKind::DescribeUserScramCredentials(req) => users::describe(ctx, req, &access).into(),
        RequestKind::AlterUserScramCredentials(req) => users::alter(ctx, req, &access).await.into(),
        _ => {
            warn!(%peer, api = ?header.api_key, "Kafka API advertised but not dispatched; closing");
            return Dispatched::Unhandled;
        }
    };
    Dispatched::Respond(Box::new(answer))
}

fn respond_or_last(answer: ResponseKind, close: bool) -> Dispatched {
    if close {
        Dispatched::Last(Box::new(answer))
    } else {
        Dispatched::Respond(Box::new(answer))
    }
}

/// ApiVersions, SaslHandshake and SaslAuthenticate: what a connection may send before
/// it authenticates.
fn before_authentication(body: &Body) -> bool {
    match body {
        Body::ApiVersionsTooNew => true,
        Body::LegacyProduce(_) => false,
        Body::Kind(kind) => matches!(
            **kind,
            RequestKind::ApiVersions(_)
                | RequestKind::SaslHandshake(_)
                | RequestKind::SaslAuthenticate(_)
        ),
    }
}

/// A Kafka string from a Rust one.
pub(crate) fn kstr(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}
