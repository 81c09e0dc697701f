//! User administration: DescribeUserScramCredentials and AlterUserScramCredentials
//! (Kafka's semantics; the Kafka listener maps onto these). The client sends a salt and
//! a salted password, never the password; the broker keeps StoredKey and ServerKey.

use std::collections::BTreeMap;
use std::sync::Arc;

use rill_protocol::api::alter_user_scram_credentials::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    AlterUserScramCredentialsResult,
};
use rill_protocol::api::describe_user_scram_credentials::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse, ScramCredentialInfo,
    UserScramCredentials,
};
use rill_protocol::error_code::ErrorCode;
use rill_protocol::sasl::scram::ScramCredential;
use rill_protocol::sasl::ScramMechanism;
use tracing::{info, warn};

use crate::security::acl::AclOperation;
use crate::security::credentials::{check_name, Change, StoreError};
use crate::security::Access;
use crate::server::BrokerCtx;

/// Describes the named users (every user when `users` is null). Needs Describe on the
/// cluster.
pub fn describe(
    ctx: &BrokerCtx,
    req: DescribeUserScramCredentialsRequest,
    access: &Access,
) -> DescribeUserScramCredentialsResponse {
    if !access.cluster(AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed,
            error_message: Some("listing users needs Describe on the cluster".to_string()),
            results: Vec::new(),
        };
    }
    let all: BTreeMap<String, Vec<(ScramMechanism, u32)>> =
        ctx.credentials.list().into_iter().collect();
    let info = |creds: &[(ScramMechanism, u32)]| {
        creds
            .iter()
            .map(|(m, iterations)| ScramCredentialInfo {
                mechanism: m.kafka_type(),
                iterations: i32::try_from(*iterations).unwrap_or(i32::MAX),
            })
            .collect()
    };
    let results = match req.users {
        None => all
            .iter()
            .map(|(user, creds)| found(user, info(creds)))
            .collect(),
        Some(users) => super::unique(users)
            .into_iter()
            .map(|user| match all.get(&user) {
                Some(creds) => found(&user, info(creds)),
                None => UserScramCredentials {
                    error_message: Some(format!("user {user:?} does not exist")),
                    user,
                    error_code: ErrorCode::ResourceNotFound,
                    credentials: Vec::new(),
                },
            })
            .collect(),
    };
    DescribeUserScramCredentialsResponse {
        error_code: ErrorCode::None,
        error_message: None,
        results,
    }
}

fn found(user: &str, credentials: Vec<ScramCredentialInfo>) -> UserScramCredentials {
    UserScramCredentials {
        user: user.to_string(),
        error_code: ErrorCode::None,
        error_message: None,
        credentials,
    }
}

/// Adds, replaces and removes credentials; one result per user named. A user whose
/// changes are not all valid is left untouched. Needs Alter on the cluster.
pub async fn alter(
    ctx: &Arc<BrokerCtx>,
    req: AlterUserScramCredentialsRequest,
    access: &Access,
) -> AlterUserScramCredentialsResponse {
    let mut outcome: BTreeMap<String, Result<(), (ErrorCode, String)>> = BTreeMap::new();
    if !access.cluster(AclOperation::Alter) {
        let refused = (
            ErrorCode::ClusterAuthorizationFailed,
            "changing users needs Alter on the cluster".to_string(),
        );
        let names = req.deletions.into_iter().map(|d| d.name);
        for user in names.chain(req.upsertions.into_iter().map(|u| u.name)) {
            outcome.insert(user, Err(refused.clone()));
        }
        return results(outcome);
    }
    let mut planned: Vec<(String, Change)> = Vec::new();
    for d in req.deletions {
        let change = ScramMechanism::from_kafka_type(d.mechanism)
            .ok_or_else(|| unknown_mechanism(d.mechanism))
            .map(|mechanism| Change::Delete {
                user: d.name.clone(),
                mechanism,
            });
        plan(&mut outcome, &mut planned, d.name, change);
    }
    for u in req.upsertions {
        let change = upsertion(
            &u.name,
            u.mechanism,
            u.iterations,
            &u.salt,
            &u.salted_password,
        );
        plan(&mut outcome, &mut planned, u.name, change);
    }
    let valid: Vec<(String, Change)> = planned
        .into_iter()
        .filter(|(user, _)| matches!(outcome.get(user), Some(Ok(()))))
        .collect();
    apply(ctx, valid, &mut outcome).await;
    results(outcome)
}

/// One result per user, in name order.
fn results(
    outcome: BTreeMap<String, Result<(), (ErrorCode, String)>>,
) -> AlterUserScramCredentialsResponse {
    let results = outcome
        .into_iter()
        .map(|(user, result)| {
            let (error_code, error_message) = match result {
                Ok(()) => (ErrorCode::None, None),
                Err((code, message)) => (code, Some(message)),
            };
            AlterUserScramCredentialsResult {
                user,
                error_code,
                error_message,
            }
        })
        .collect();
    AlterUserScramCredentialsResponse { results }
}

fn unknown_mechanism(kafka_type: i8) -> (ErrorCode, String) {
    (
        ErrorCode::UnsupportedSaslMechanism,
        format!("unknown SCRAM mechanism {kafka_type} (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512)"),
    )
}

fn upsertion(
    name: &str,
    mechanism: i8,
    iterations: i32,
    salt: &[u8],
    salted_password: &[u8],
) -> Result<Change, (ErrorCode, String)> {
    let mechanism =
        ScramMechanism::from_kafka_type(mechanism).ok_or_else(|| unknown_mechanism(mechanism))?;
    let iterations = u32::try_from(iterations).unwrap_or(0);
    let credential =
        ScramCredential::from_salted_password(mechanism, salt, iterations, salted_password)
            .map_err(|e| (ErrorCode::UnacceptableCredential, e.to_string()))?;
    Ok(Change::Upsert {
        user: name.to_string(),
        credential,
    })
}

/// Records `change` for `user`, or the user's first error.
fn plan(
    outcome: &mut BTreeMap<String, Result<(), (ErrorCode, String)>>,
    planned: &mut Vec<(String, Change)>,
    user: String,
    change: Result<Change, (ErrorCode, String)>,
) {
    let change = check_name(&user)
        .map_err(|e| (ErrorCode::InvalidRequest, e.to_string()))
        .and(change);
    let entry = outcome.entry(user.clone()).or_insert(Ok(()));
    match change {
        Ok(change) => planned.push((user, change)),
        Err(e) => {
            if entry.is_ok() {
                *entry = Err(e);
            }
        }
    }
}

/// Applies the valid changes in one durable write on the blocking pool.
async fn apply(
    ctx: &Arc<BrokerCtx>,
    planned: Vec<(String, Change)>,
    outcome: &mut BTreeMap<String, Result<(), (ErrorCode, String)>>,
) {
    if planned.is_empty() {
        return;
    }
    let changes: Vec<Change> = planned.iter().map(|(_, c)| c.clone()).collect();
    if let Some(cluster) = &ctx.cluster {
        // In a cluster the credentials live in the metadata log; every broker's store
        // follows it.
        match crate::cluster::credentials::alter(ctx, cluster, &changes).await {
            Ok(found) => report(&planned, found, outcome),
            Err((code, message)) => {
                warn!(error = %message, "cannot change user credentials");
                for (user, _) in planned {
                    outcome.insert(user, Err((code, message.clone())));
                }
            }
        }
        return;
    }
    let store = ctx.credentials.clone();
    let applied = tokio::task::spawn_blocking(move || store.alter(&changes))
        .await
        .unwrap_or_else(|e| {
            Err(StoreError::Io {
                path: "<blocking task>".into(),
                source: std::io::Error::other(e.to_string()),
            })
        });
    match applied {
        Ok(found) => report(&planned, found, outcome),
        Err(e) => {
            warn!(error = %e, "cannot change user credentials");
            let code = match e {
                StoreError::TooManyUsers { .. } => ErrorCode::InvalidRequest,
                _ => ErrorCode::UnknownServerError,
            };
            for (user, _) in planned {
                outcome.insert(user, Err((code, e.to_string())));
            }
        }
    }
}

/// Records, per planned change, what it found: a delete of nothing is
/// RESOURCE_NOT_FOUND; the others are logged.
fn report(
    planned: &[(String, Change)],
    found: Vec<bool>,
    outcome: &mut BTreeMap<String, Result<(), (ErrorCode, String)>>,
) {
    for ((user, change), found) in planned.iter().zip(found) {
        if !found {
            let what = match change {
                Change::Delete { mechanism, .. } => {
                    format!("user {user:?} has no {mechanism} credential")
                }
                Change::Upsert { .. } => continue,
            };
            outcome.insert(user.clone(), Err((ErrorCode::ResourceNotFound, what)));
        } else {
            info!(user = %user, change = change_name(change), "user credentials changed");
        }
    }
}

fn change_name(change: &Change) -> String {
    match change {
        Change::Upsert { credential, .. } => format!("set {}", credential.mechanism),
        Change::Delete { mechanism, .. } => format!("deleted {mechanism}"),
    }
}
