//! Proptest strategies for the ACL APIs.

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::BoxedStrategy;

use super::acls::*;
use super::create_acls::*;
use super::delete_acls::*;
use super::describe_acls::*;
use super::testing::{error_code, list, name, opt_name, req, resp};
use super::{Request, Response};

fn binding() -> impl Strategy<Value = AclBinding> + Clone {
    (
        select(ResourceType::ALL),
        name(),
        select(PatternType::ALL),
        (name(), name()),
        select(AclOperation::ALL),
        select(AclPermission::ALL),
    )
        .prop_map(
            |(
                resource_type,
                resource_name,
                pattern_type,
                (principal, host),
                operation,
                permission,
            )| {
                AclBinding {
                    resource_type,
                    resource_name,
                    pattern_type,
                    principal,
                    host,
                    operation,
                    permission,
                }
            },
        )
}

fn filter() -> impl Strategy<Value = AclFilter> + Clone {
    (
        select(ResourceType::ALL),
        opt_name(),
        select(PatternType::ALL),
        (opt_name(), opt_name()),
        select(AclOperation::ALL),
        select(AclPermission::ALL),
    )
        .prop_map(
            |(
                resource_type,
                resource_name,
                pattern_type,
                (principal, host),
                operation,
                permission,
            )| {
                AclFilter {
                    resource_type,
                    resource_name,
                    pattern_type,
                    principal,
                    host,
                    operation,
                    permission,
                }
            },
        )
}

fn result() -> impl Strategy<Value = AclResult> + Clone {
    (error_code(), opt_name()).prop_map(|(error_code, error_message)| AclResult {
        error_code,
        error_message,
    })
}

/// One strategy per request type of these APIs.
pub(crate) fn requests() -> Vec<BoxedStrategy<Request>> {
    vec![
        req(filter().prop_map(|filter| DescribeAclsRequest { filter })),
        req(list(binding()).prop_map(|creations| CreateAclsRequest { creations })),
        req(list(filter()).prop_map(|filters| DeleteAclsRequest { filters })),
    ]
}

/// One strategy per response type of these APIs.
pub(crate) fn responses() -> Vec<BoxedStrategy<Response>> {
    vec![
        resp((error_code(), opt_name(), list(binding())).prop_map(
            |(error_code, error_message, acls)| DescribeAclsResponse {
                error_code,
                error_message,
                acls,
            },
        )),
        resp(list(result()).prop_map(|results| CreateAclsResponse { results })),
        resp(
            list((error_code(), opt_name(), list(binding())).prop_map(
                |(error_code, error_message, deleted)| DeleteAclsResult {
                    error_code,
                    error_message,
                    deleted,
                },
            ))
            .prop_map(|results| DeleteAclsResponse { results }),
        ),
    ]
}
