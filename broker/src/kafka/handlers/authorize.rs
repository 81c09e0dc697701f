//! Whole-request authorization on the Kafka listener: the group membership APIs (Read
//! on the group) and DescribeCluster (Describe on the cluster) are refused here, before
//! the classic coordinator is asked anything, so a refused principal learns nothing of
//! the group. APIs with per-topic or per-group results check in their own handlers.

use kafka_protocol::messages::{
    ConsumerGroupHeartbeatResponse, DescribeClusterResponse, HeartbeatResponse, JoinGroupResponse,
    LeaveGroupResponse, RequestKind, ResponseKind, SyncGroupResponse,
};
use rill_protocol::error_code::ErrorCode;

use super::kstr;
use crate::security::acl::AclOperation;
use crate::security::Access;

const GROUP_DENIED: ErrorCode = ErrorCode::GroupAuthorizationFailed;

/// The refusal of `kind` when the whole request is not allowed; `None` to handle it.
pub fn refuse_whole(kind: &RequestKind, access: &Access, version: i16) -> Option<ResponseKind> {
    if !access.is_checked() {
        return None;
    }
    let group_read = |group: &str| access.group(group, AclOperation::Read);
    match kind {
        RequestKind::JoinGroup(req) if !group_read(&req.group_id) => {
            let mut r = JoinGroupResponse::default();
            r.error_code = GROUP_DENIED.code();
            r.generation_id = -1;
            r.protocol_name = Some(kstr(""));
            r.member_id = req.member_id.clone();
            if version >= 7 {
                r.protocol_type = Some(req.protocol_type.clone());
            }
            Some(r.into())
        }
        RequestKind::SyncGroup(req) if !group_read(&req.group_id) => {
            let mut r = SyncGroupResponse::default();
            r.error_code = GROUP_DENIED.code();
            Some(r.into())
        }
        RequestKind::Heartbeat(req) if !group_read(&req.group_id) => {
            let mut r = HeartbeatResponse::default();
            r.error_code = GROUP_DENIED.code();
            Some(r.into())
        }
        RequestKind::LeaveGroup(req) if !group_read(&req.group_id) => {
            let mut r = LeaveGroupResponse::default();
            r.error_code = GROUP_DENIED.code();
            Some(r.into())
        }
        RequestKind::ConsumerGroupHeartbeat(req) if !group_read(&req.group_id) => {
            let mut r = ConsumerGroupHeartbeatResponse::default();
            r.error_code = GROUP_DENIED.code();
            r.error_message = Some(kstr(GROUP_DENIED.description()));
            Some(r.into())
        }
        RequestKind::DescribeCluster(_) if !access.cluster(AclOperation::Describe) => {
            let mut r = DescribeClusterResponse::default();
            let code = ErrorCode::ClusterAuthorizationFailed;
            r.error_code = code.code();
            r.error_message = Some(kstr(code.description()));
            Some(r.into())
        }
        _ => None,
    }
}
