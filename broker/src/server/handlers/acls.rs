//! DescribeAcls, CreateAcls, DeleteAcls: listing and changing the ACLs. Listing needs
//! Describe on the cluster, changing needs Alter on it. Changes are written durably on
//! the blocking pool and apply to the next request of every connection. In a cluster,
//! changes go through the controller and every broker's ACLs follow the metadata image
//! ([`crate::cluster::acls`]); listing reads this broker's copy.

use std::sync::Arc;

use rill_protocol::api::create_acls::{AclResult, CreateAclsRequest, CreateAclsResponse};
use rill_protocol::api::delete_acls::{DeleteAclsRequest, DeleteAclsResponse, DeleteAclsResult};
use rill_protocol::api::describe_acls::{DescribeAclsRequest, DescribeAclsResponse};
use rill_protocol::error_code::ErrorCode;
use tracing::{info, warn};

use crate::security::acl::{AclOperation, AclStoreError};
use crate::security::Access;
use crate::server::BrokerCtx;

/// Most filters one DeleteAcls request may carry: each is matched against every ACL (up
/// to 100,000), so the cap bounds the work one request can ask of the blocking pool.
pub const DELETE_FILTERS_MAX: usize = 1_000;

const NOT_AUTHORIZED: &str =
    "not authorized: managing ACLs needs Alter (listing: Describe) on the cluster, or a super user";

/// The code and message for a failed change.
fn failure(e: &AclStoreError) -> (ErrorCode, Option<String>) {
    let code = match e {
        AclStoreError::Invalid(_) | AclStoreError::Full { .. } => ErrorCode::InvalidRequest,
        AclStoreError::Io { .. } | AclStoreError::Corrupt { .. } | AclStoreError::Poisoned => {
            warn!(error = %e, "cannot change the ACLs");
            ErrorCode::UnknownServerError
        }
    };
    (code, Some(e.to_string()))
}

/// Lists the ACLs the filter selects.
pub fn describe(
    ctx: &BrokerCtx,
    req: DescribeAclsRequest,
    access: &Access,
) -> DescribeAclsResponse {
    if !access.cluster(AclOperation::Describe) {
        return DescribeAclsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed,
            error_message: Some(NOT_AUTHORIZED.into()),
            acls: Vec::new(),
        };
    }
    DescribeAclsResponse {
        error_code: ErrorCode::None,
        error_message: None,
        acls: ctx.authorizer.store().describe(&req.filter),
    }
}

/// Adds ACLs; one result per binding.
pub async fn create(
    ctx: &Arc<BrokerCtx>,
    req: CreateAclsRequest,
    access: &Access,
) -> CreateAclsResponse {
    let all = |error_code, error_message: Option<String>, n: usize| CreateAclsResponse {
        results: (0..n)
            .map(|_| AclResult {
                error_code,
                error_message: error_message.clone(),
            })
            .collect(),
    };
    let n = req.creations.len();
    if !access.cluster(AclOperation::Alter) {
        return all(
            ErrorCode::ClusterAuthorizationFailed,
            Some(NOT_AUTHORIZED.into()),
            n,
        );
    }
    if let Some(cluster) = &ctx.cluster {
        let logged: Vec<String> = req.creations.iter().map(|b| b.to_string()).collect();
        let outcomes = crate::cluster::acls::create(ctx, cluster, req.creations).await;
        return CreateAclsResponse {
            results: outcomes
                .into_iter()
                .zip(logged)
                .map(|(outcome, acl)| match outcome {
                    Ok(()) => {
                        info!(%acl, "ACL added to the cluster");
                        AclResult {
                            error_code: ErrorCode::None,
                            error_message: None,
                        }
                    }
                    Err((error_code, message)) => AclResult {
                        error_code,
                        error_message: Some(message),
                    },
                })
                .collect(),
        };
    }
    let broker = Arc::clone(ctx);
    let logged: Vec<String> = req.creations.iter().map(|b| b.to_string()).collect();
    let outcome =
        tokio::task::spawn_blocking(move || broker.authorizer.store().create(req.creations)).await;
    match outcome {
        Ok(Ok(outcomes)) => CreateAclsResponse {
            results: outcomes
                .iter()
                .zip(logged)
                .map(|(outcome, acl)| match outcome {
                    Ok(()) => {
                        info!(%acl, "ACL added");
                        AclResult {
                            error_code: ErrorCode::None,
                            error_message: None,
                        }
                    }
                    Err(e) => {
                        let (error_code, error_message) = failure(e);
                        AclResult {
                            error_code,
                            error_message,
                        }
                    }
                })
                .collect(),
        },
        Ok(Err(e)) => {
            let (code, message) = failure(&e);
            all(code, message, n)
        }
        Err(e) => all(ErrorCode::UnknownServerError, Some(e.to_string()), n),
    }
}

/// Removes what each filter selects; one result per filter, listing what it removed.
pub async fn delete(
    ctx: &Arc<BrokerCtx>,
    req: DeleteAclsRequest,
    access: &Access,
) -> DeleteAclsResponse {
    let all = |error_code, error_message: Option<String>, n: usize| DeleteAclsResponse {
        results: (0..n)
            .map(|_| DeleteAclsResult {
                error_code,
                error_message: error_message.clone(),
                deleted: Vec::new(),
            })
            .collect(),
    };
    let n = req.filters.len();
    if !access.cluster(AclOperation::Alter) {
        return all(
            ErrorCode::ClusterAuthorizationFailed,
            Some(NOT_AUTHORIZED.into()),
            n,
        );
    }
    if n > DELETE_FILTERS_MAX {
        let message = format!("at most {DELETE_FILTERS_MAX} filters per request; send several");
        return all(ErrorCode::InvalidRequest, Some(message), n);
    }
    if let Some(cluster) = &ctx.cluster {
        return match crate::cluster::acls::delete(ctx, cluster, &req.filters).await {
            Ok(removed) => DeleteAclsResponse {
                results: removed
                    .into_iter()
                    .map(|deleted| {
                        for acl in &deleted {
                            info!(%acl, "ACL removed from the cluster");
                        }
                        DeleteAclsResult {
                            error_code: ErrorCode::None,
                            error_message: None,
                            deleted,
                        }
                    })
                    .collect(),
            },
            Err((code, message)) => all(code, Some(message), n),
        };
    }
    let broker = Arc::clone(ctx);
    let outcome =
        tokio::task::spawn_blocking(move || broker.authorizer.store().delete(&req.filters)).await;
    match outcome {
        Ok(Ok(removed)) => DeleteAclsResponse {
            results: removed
                .into_iter()
                .map(|deleted| {
                    for acl in &deleted {
                        info!(%acl, "ACL removed");
                    }
                    DeleteAclsResult {
                        error_code: ErrorCode::None,
                        error_message: None,
                        deleted,
                    }
                })
                .collect(),
        },
        Ok(Err(e)) => {
            let (code, message) = failure(&e);
            all(code, message, n)
        }
        Err(e) => all(ErrorCode::UnknownServerError, Some(e.to_string()), n),
    }
}
