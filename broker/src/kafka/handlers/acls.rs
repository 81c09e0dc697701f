//! DescribeAcls, CreateAcls and DeleteAcls v1-3, through the native ACL handlers (one
//! store, one set of checks: Describe or Alter on the cluster). A filter or binding
//! with a number Kafka does not define is answered INVALID_REQUEST.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_acls_request::{AclCreation, CreateAclsRequest};
use kafka_protocol::messages::create_acls_response::{AclCreationResult, CreateAclsResponse};
use kafka_protocol::messages::delete_acls_request::{DeleteAclsFilter, DeleteAclsRequest};
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl, DeleteAclsResponse,
};
use kafka_protocol::messages::describe_acls_request::DescribeAclsRequest;
use kafka_protocol::messages::describe_acls_response::{
    AclDescription, DescribeAclsResource, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rill_protocol::api::acls::{
    AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType,
};
use rill_protocol::api::{create_acls, delete_acls, describe_acls};
use rill_protocol::error_code::ErrorCode;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::security::Access;
use crate::server::handlers::acls as native_handler;

/// Why a Kafka binding or filter has no native equivalent.
type Unmapped = String;

fn enums(
    (resource_type, pattern_type, operation, permission): (i8, i8, i8, i8),
) -> Result<(ResourceType, PatternType, AclOperation, AclPermission), Unmapped> {
    let bad = |what: &str, n: i8| format!("unknown {what} {n}");
    Ok((
        ResourceType::from_code(resource_type)
            .ok_or_else(|| bad("resource type", resource_type))?,
        PatternType::from_code(pattern_type).ok_or_else(|| bad("pattern type", pattern_type))?,
        AclOperation::from_code(operation).ok_or_else(|| bad("operation", operation))?,
        AclPermission::from_code(permission).ok_or_else(|| bad("permission", permission))?,
    ))
}

fn opt(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

fn binding(c: &AclCreation) -> Result<AclBinding, Unmapped> {
    let codes = (
        c.resource_type,
        c.resource_pattern_type,
        c.operation,
        c.permission_type,
    );
    let (resource_type, pattern_type, operation, permission) = enums(codes)?;
    Ok(AclBinding {
        resource_type,
        resource_name: c.resource_name.to_string(),
        pattern_type,
        principal: c.principal.to_string(),
        host: c.host.to_string(),
        operation,
        permission,
    })
}

fn describe_filter(r: &DescribeAclsRequest) -> Result<AclFilter, Unmapped> {
    let codes = (
        r.resource_type_filter,
        r.pattern_type_filter,
        r.operation,
        r.permission_type,
    );
    let (resource_type, pattern_type, operation, permission) = enums(codes)?;
    Ok(AclFilter {
        resource_type,
        resource_name: opt(&r.resource_name_filter),
        pattern_type,
        principal: opt(&r.principal_filter),
        host: opt(&r.host_filter),
        operation,
        permission,
    })
}

fn delete_filter(f: &DeleteAclsFilter) -> Result<AclFilter, Unmapped> {
    let codes = (
        f.resource_type_filter,
        f.pattern_type_filter,
        f.operation,
        f.permission_type,
    );
    let (resource_type, pattern_type, operation, permission) = enums(codes)?;
    Ok(AclFilter {
        resource_type,
        resource_name: opt(&f.resource_name_filter),
        pattern_type,
        principal: opt(&f.principal_filter),
        host: opt(&f.host_filter),
        operation,
        permission,
    })
}

/// Answers a DescribeAcls request: the ACLs grouped by resource, as Kafka does.
pub fn describe(
    ctx: &Arc<KafkaCtx>,
    req: DescribeAclsRequest,
    access: &Access,
) -> DescribeAclsResponse {
    let mut response = DescribeAclsResponse::default();
    let filter = match describe_filter(&req) {
        Ok(filter) => filter,
        Err(message) => {
            response.error_code = ErrorCode::InvalidRequest.code();
            response.error_message = Some(kstr(message));
            return response;
        }
    };
    let answer = native_handler::describe(
        &ctx.broker,
        describe_acls::DescribeAclsRequest { filter },
        access,
    );
    response.error_code = answer.error_code.code();
    response.error_message = answer.error_message.map(kstr);
    let mut by_resource: BTreeMap<(ResourceType, String, PatternType), Vec<AclDescription>> =
        BTreeMap::new();
    for b in answer.acls {
        let mut d = AclDescription::default();
        d.principal = kstr(b.principal);
        d.host = kstr(b.host);
        d.operation = b.operation.code();
        d.permission_type = b.permission.code();
        by_resource
            .entry((b.resource_type, b.resource_name, b.pattern_type))
            .or_default()
            .push(d);
    }
    response.resources = by_resource
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            let mut r = DescribeAclsResource::default();
            r.resource_type = resource_type.code();
            r.resource_name = kstr(name);
            r.pattern_type = pattern_type.code();
            r.acls = acls;
            r
        })
        .collect();
    response
}

/// Answers a CreateAcls request: one result per creation, in order.
pub async fn create(
    ctx: &Arc<KafkaCtx>,
    req: CreateAclsRequest,
    access: &Access,
) -> CreateAclsResponse {
    let mapped: Vec<Result<AclBinding, Unmapped>> = req.creations.iter().map(binding).collect();
    let valid: Vec<AclBinding> = mapped
        .iter()
        .filter_map(|m| m.as_ref().ok().cloned())
        .collect();
    let native_req = create_acls::CreateAclsRequest { creations: valid };
    let mut answers = native_handler::create(&ctx.broker, native_req, access)
        .await
        .results
        .into_iter();
    let mut response = CreateAclsResponse::default();
    response.results = mapped
        .into_iter()
        .map(|m| {
            let mut r = AclCreationResult::default();
            match m {
                Err(message) => {
                    r.error_code = ErrorCode::InvalidRequest.code();
                    r.error_message = Some(kstr(message));
                }
                Ok(_) => {
                    if let Some(answer) = answers.next() {
                        r.error_code = answer.error_code.code();
                        r.error_message = answer.error_message.map(kstr);
                    }
                }
            }
            r
        })
        .collect();
    response
}

/// Answers a DeleteAcls request: per filter, the ACLs it removed.
pub async fn delete(
    ctx: &Arc<KafkaCtx>,
    req: DeleteAclsRequest,
    access: &Access,
) -> DeleteAclsResponse {
    let mapped: Vec<Result<AclFilter, Unmapped>> = req.filters.iter().map(delete_filter).collect();
    let valid: Vec<AclFilter> = mapped
        .iter()
        .filter_map(|m| m.as_ref().ok().cloned())
        .collect();
    let native_req = delete_acls::DeleteAclsRequest { filters: valid };
    let mut answers = native_handler::delete(&ctx.broker, native_req, access)
        .await
        .results
        .into_iter();
    let mut response = DeleteAclsResponse::default();
    response.filter_results = mapped
        .into_iter()
        .map(|m| {
            let mut r = DeleteAclsFilterResult::default();
            match m {
                Err(message) => {
                    r.error_code = ErrorCode::InvalidRequest.code();
                    r.error_message = Some(kstr(message));
                }
                Ok(_) => {
                    if let Some(answer) = answers.next() {
                        r.error_code = answer.error_code.code();
                        r.error_message = answer.error_message.map(kstr);
                        r.matching_acls = answer.deleted.into_iter().map(matching).collect();
                    }
                }
            }
            r
        })
        .collect();
    response
}

fn matching(b: AclBinding) -> DeleteAclsMatchingAcl {
    let mut m = DeleteAclsMatchingAcl::default();
    m.resource_type = b.resource_type.code();
    m.resource_name = kstr(b.resource_name);
    m.pattern_type = b.pattern_type.code();
    m.principal = kstr(b.principal);
    m.host = kstr(b.host);
    m.operation = b.operation.code();
    m.permission_type = b.permission.code();
    m
}
