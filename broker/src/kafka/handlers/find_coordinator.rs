//! FindCoordinator v0-4: this broker coordinates every group. Transaction coordinators
//! (key type 1) are not available, since Rill has no transactions yet.

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use kafka_protocol::messages::BrokerId;
use rill_protocol::error_code::ErrorCode;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::handlers::metadata::NODE_ID;

/// FindCoordinator key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;

/// Answers a FindCoordinator request (v4 batches keys; earlier versions ask for one).
pub fn handle(
    ctx: &KafkaCtx,
    req: FindCoordinatorRequest,
    version: i16,
    access: &Access,
) -> FindCoordinatorResponse {
    let mut response = FindCoordinatorResponse::default();
    let group = req.key_type == KEY_TYPE_GROUP;
    if version >= 4 {
        response.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| coordinator(ctx, key.to_string(), group, access))
            .collect();
        return response;
    }
    let one = coordinator(ctx, req.key.to_string(), group, access);
    response.error_code = one.error_code;
    response.error_message = one.error_message;
    response.node_id = one.node_id;
    response.host = one.host;
    response.port = one.port;
    response
}

/// A group's coordinator needs Describe on the group.
fn coordinator(ctx: &KafkaCtx, key: String, group: bool, access: &Access) -> Coordinator {
    let mut c = Coordinator::default();
    if group && !access.group(&key, AclOperation::Describe) {
        c.key = kstr(key);
        c.error_code = ErrorCode::GroupAuthorizationFailed.code();
        c.error_message = Some(kstr(ErrorCode::GroupAuthorizationFailed.description()));
        c.node_id = BrokerId(-1);
        c.port = -1;
        return c;
    }
    if group && ctx.broker.cluster.is_some() {
        return in_cluster(ctx, key);
    }
    c.key = kstr(key);
    if group {
        c.node_id = BrokerId(NODE_ID);
        c.host = kstr(ctx.advertised.host.clone());
        c.port = i32::from(ctx.advertised.port);
    } else {
        c.error_code = ErrorCode::CoordinatorNotAvailable.code();
        c.error_message = Some(kstr("transactions are not supported by this broker"));
        c.node_id = BrokerId(-1);
        c.port = -1;
    }
    c
}

/// A group's coordinator in a cluster: the leader of its offsets partition, at that
/// broker's Kafka address (COORDINATOR_NOT_AVAILABLE while there is none, or it serves
/// no Kafka clients).
fn in_cluster(ctx: &KafkaCtx, key: String) -> Coordinator {
    let mut c = Coordinator::default();
    let native = crate::server::handlers::groups::find_coordinator(
        &ctx.broker,
        rill_protocol::api::find_coordinator::FindCoordinatorRequest {
            key: key.clone(),
            key_type: rill_protocol::api::find_coordinator::KEY_TYPE_GROUP,
        },
        &crate::security::Access::unrestricted(),
    );
    let kafka_address = u64::try_from(native.node_id).ok().and_then(|node| {
        let image = ctx.broker.cluster.as_ref()?.image();
        image.brokers.get(&node)?.registration.kafka.clone()
    });
    c.key = kstr(key);
    match kafka_address {
        Some((host, port)) if native.error_code == ErrorCode::None => {
            c.node_id = BrokerId(native.node_id);
            c.host = kstr(host);
            c.port = i32::from(port);
        }
        _ => {
            let code = ErrorCode::CoordinatorNotAvailable;
            c.error_code = code.code();
            c.error_message = Some(kstr(code.description()));
            c.node_id = BrokerId(-1);
            c.port = -1;
        }
    }
    c
}
