//! Whole-request authorization on the Kafka listener: the group membership APIs (Read
//! on the group) and DescribeCluster (Describe on the cluster) are refused here, before
//! the classic coordinator is asked anything, so a refused principal learns nothing of
//! the group; a KIP-848 member subscribing to a topic it may not describe is refused
//! with TOPIC_AUTHORIZATION_FAILED. APIs with per-topic or per-group results check in
//! their own handlers.

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
        RequestKind::ConsumerGroupHeartbeat(req) => {
            // KIP-848: a member may subscribe only to topics it may describe.
            let names = req.subscribed_topic_names.iter().flatten();
            let denied: Vec<&str> = names
                .map(|name| name.0.as_str())
                .filter(|name| !access.topic(name, AclOperation::Describe))
                .collect();
            if denied.is_empty() {
                return None;
            }
            let mut r = ConsumerGroupHeartbeatResponse::default();
            r.error_code = ErrorCode::TopicAuthorizationFailed.code();
            r.error_message = Some(kstr(format!(
                "not authorized to describe the subscribed topics {}",
                denied.join(", ")
            )));
            r.member_epoch = -1;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kafka_protocol::messages::{GroupId, HeartbeatRequest, JoinGroupRequest};

    use super::*;
    use crate::security::acl::{
        AclBinding, AclPermission, AuthorizationConfig, PatternType, ResourceType,
    };
    use crate::security::{Authorizer, Principal, Session};

    fn access_with(acls: Vec<AclBinding>, dir: &std::path::Path) -> Access {
        let authorizer = Authorizer::open(&AuthorizationConfig::default(), true, dir).unwrap();
        authorizer.store().create(acls).unwrap();
        let mut session = Session::new("127.0.0.1:5000".parse().unwrap());
        session.authenticated_as(Principal::user("alice"));
        Arc::new(authorizer).access(&session)
    }

    fn join(group: &str) -> RequestKind {
        let mut r = JoinGroupRequest::default();
        r.group_id = GroupId(kstr(group));
        r.member_id = kstr("m-1");
        RequestKind::JoinGroup(r)
    }

    #[test]
    fn group_membership_needs_read_on_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let read_billing = AclBinding {
            resource_type: ResourceType::Group,
            resource_name: "billing".into(),
            pattern_type: PatternType::Literal,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        };
        let access = access_with(vec![read_billing], dir.path());
        assert!(refuse_whole(&join("billing"), &access, 7).is_none());
        match refuse_whole(&join("audit"), &access, 7) {
            Some(ResponseKind::JoinGroup(r)) => {
                assert_eq!(r.error_code, GROUP_DENIED.code());
                assert_eq!(r.member_id.as_str(), "m-1");
            }
            other => panic!("{other:?}"),
        }
        let mut heartbeat = HeartbeatRequest::default();
        heartbeat.group_id = GroupId(kstr("audit"));
        let refused = refuse_whole(&RequestKind::Heartbeat(heartbeat), &access, 4);
        assert!(matches!(refused, Some(ResponseKind::Heartbeat(r)) if r.error_code == 30));
        let cluster = RequestKind::DescribeCluster(Default::default());
        let refused = refuse_whole(&cluster, &access, 1);
        assert!(matches!(refused, Some(ResponseKind::DescribeCluster(r)) if r.error_code == 31));
        assert!(refuse_whole(&join("audit"), &Access::unrestricted(), 7).is_none());
    }

    #[test]
    fn a_kip848_member_may_subscribe_only_to_topics_it_may_describe() {
        use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, TopicName};
        let dir = tempfile::tempdir().unwrap();
        let allow = |resource_type, name: &str, operation| AclBinding {
            resource_type,
            resource_name: name.into(),
            pattern_type: PatternType::Literal,
            principal: "User:alice".into(),
            host: "*".into(),
            operation,
            permission: AclPermission::Allow,
        };
        let access = access_with(
            vec![
                allow(ResourceType::Group, "billing", AclOperation::Read),
                allow(ResourceType::Topic, "orders", AclOperation::Read),
            ],
            dir.path(),
        );
        let heartbeat = |topics: &[&str]| {
            let mut r = ConsumerGroupHeartbeatRequest::default();
            r.group_id = GroupId(kstr("billing"));
            r.subscribed_topic_names = Some(topics.iter().map(|t| TopicName(kstr(*t))).collect());
            RequestKind::ConsumerGroupHeartbeat(r)
        };
        // Read implies Describe.
        assert!(refuse_whole(&heartbeat(&["orders"]), &access, 0).is_none());
        match refuse_whole(&heartbeat(&["orders", "payroll"]), &access, 0) {
            Some(ResponseKind::ConsumerGroupHeartbeat(r)) => {
                assert_eq!(r.error_code, ErrorCode::TopicAuthorizationFailed.code());
                let message = r.error_message.unwrap();
                assert!(message.contains("payroll") && !message.contains("orders"));
            }
            other => panic!("{other:?}"),
        }
    }
}
