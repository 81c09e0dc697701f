//! ACLs in a cluster: CreateAcls and DeleteAcls become metadata commands proposed to the
//! controller, and every broker's ACL store follows the image's ACLs, so a principal is
//! allowed or denied the same things at every broker.
//!
//! The reconcile task replaces the local ACLs with the image's only from an image at
//! least as new as the last one it followed (the applied index is kept in
//! `<data_dir>/cluster-acls-index`): after a restart, the state machine's replay may
//! publish older images for a moment, and following one of those would resurrect
//! deleted ACLs (an allow) or drop newer ones (a deny) until it caught up.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use rill_protocol::api::acls::{AclBinding, AclFilter};
use rill_protocol::error_code::ErrorCode;

use super::admin::ADMIN_TIMEOUT_DEFAULT;
use super::command::{AclRecord, MetadataCommand};
use super::image::MetadataImage;
use super::synced_index::SyncedIndex;
use super::Cluster;
use crate::server::BrokerCtx;

/// File holding the applied index of the image the local ACLs last followed.
pub const SYNCED_INDEX_FILE: &str = "cluster-acls-index";

/// A failed ACL change: the wire code and what to tell the client.
pub type AclChangeError = (ErrorCode, String);

/// `binding` as the metadata log carries it.
pub fn to_record(binding: &AclBinding) -> AclRecord {
    AclRecord {
        resource_type: binding.resource_type.to_string(),
        resource_name: binding.resource_name.clone(),
        pattern_type: binding.pattern_type.to_string(),
        principal: binding.principal.clone(),
        host: binding.host.clone(),
        operation: binding.operation.to_string(),
        permission: binding.permission.to_string(),
    }
}

/// The binding a record of the metadata log stands for.
pub fn to_binding(record: &AclRecord) -> Result<AclBinding, String> {
    Ok(AclBinding {
        resource_type: record.resource_type.parse()?,
        resource_name: record.resource_name.clone(),
        pattern_type: record.pattern_type.parse()?,
        principal: record.principal.clone(),
        host: record.host.clone(),
        operation: record.operation.parse()?,
        permission: record.permission.parse()?,
    })
}

/// The image's ACLs as bindings (a record this broker cannot read is left out, logged).
pub fn bindings(image: &MetadataImage) -> BTreeSet<AclBinding> {
    image
        .acls
        .iter()
        .filter_map(|r| match to_binding(r) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::warn!(acl = ?r, error = %e, "ignoring an ACL of the cluster metadata this broker cannot read");
                None
            }
        })
        .collect()
}

/// Adds `creations` through the controller; one outcome per binding.
pub async fn create(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    creations: Vec<AclBinding>,
) -> Vec<Result<(), AclChangeError>> {
    let image = cluster.image();
    let max = ctx.config.authorization.acls_max;
    let mut total = image.acls.len();
    let mut valid = Vec::new();
    let mut outcomes: Vec<Result<(), AclChangeError>> = creations
        .iter()
        .map(|b| {
            b.validate()
                .map_err(|e| (ErrorCode::InvalidRequest, e.to_string()))?;
            let record = to_record(b);
            if !image.acls.contains(&record) {
                if total >= max {
                    return Err((
                        ErrorCode::InvalidRequest,
                        format!(
                            "the cluster holds the most ACLs allowed ({max}); delete some first"
                        ),
                    ));
                }
                total += 1;
            }
            valid.push(record);
            Ok(())
        })
        .collect();
    if valid.is_empty() {
        return outcomes;
    }
    let wanted: Vec<AclBinding> = creations
        .into_iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.is_ok())
        .map(|(b, _)| b)
        .collect();
    let command = MetadataCommand::CreateAcls { acls: valid };
    let applied = propose_and_follow(ctx, cluster, command, move |local| {
        wanted.iter().all(|b| local.contains(b))
    })
    .await;
    if let Err(e) = applied {
        for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
            *outcome = Err(e.clone());
        }
    }
    outcomes
}

/// Removes what each filter selects through the controller; what each removed.
pub async fn delete(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    filters: &[AclFilter],
) -> Result<Vec<Vec<AclBinding>>, AclChangeError> {
    let mut remaining = bindings(&cluster.image());
    let removed: Vec<Vec<AclBinding>> = filters
        .iter()
        .map(|f| {
            let doomed: Vec<AclBinding> =
                remaining.iter().filter(|b| f.matches(b)).cloned().collect();
            for b in &doomed {
                remaining.remove(b);
            }
            doomed
        })
        .collect();
    let doomed: Vec<AclBinding> = removed.iter().flatten().cloned().collect();
    if doomed.is_empty() {
        return Ok(removed);
    }
    let command = MetadataCommand::DeleteAcls {
        acls: doomed.iter().map(to_record).collect(),
    };
    propose_and_follow(ctx, cluster, command, move |local| {
        doomed.iter().all(|b| !local.contains(b))
    })
    .await?;
    Ok(removed)
}

/// Proposes `command`, then waits until this broker's ACL store satisfies `done`.
async fn propose_and_follow(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    command: MetadataCommand,
    done: impl Fn(&BTreeSet<AclBinding>) -> bool,
) -> Result<(), AclChangeError> {
    super::admin::propose_for_client(cluster, command).await?;
    let local = ctx.clone();
    let followed = ctx
        .reconciled
        .wait_for(ADMIN_TIMEOUT_DEFAULT, move |_| {
            done(local.authorizer.store().snapshot().bindings())
        })
        .await;
    if followed {
        Ok(())
    } else {
        Err((
            ErrorCode::RequestTimedOut,
            "the ACL change is committed but this broker has not applied it yet; retry to check"
                .into(),
        ))
    }
}

/// The applied index of the image the local ACLs last followed.
#[derive(Debug)]
pub struct AclSync {
    index: SyncedIndex,
}

impl AclSync {
    /// Reads the index under `data_dir` (none yet: never followed). Blocking.
    pub fn load(data_dir: &Path) -> Result<AclSync, String> {
        Ok(AclSync {
            index: SyncedIndex::load(data_dir, SYNCED_INDEX_FILE)?,
        })
    }

    /// Makes the local ACLs the image's, if `image` (applied at `applied_index` or
    /// later) is at least as new as the last image followed. Blocking.
    pub fn follow(
        &mut self,
        ctx: &BrokerCtx,
        image: &MetadataImage,
        applied_index: Option<u64>,
    ) -> Result<(), String> {
        let Some(index) = applied_index else {
            return Ok(());
        };
        if self.index.is_older(index) {
            return Ok(());
        }
        let changed = ctx
            .authorizer
            .store()
            .replace_all(bindings(image))
            .map_err(|e| format!("cannot follow the cluster's ACLs: {e}"))?;
        if changed {
            tracing::info!(acls = image.acls.len(), "ACLs follow the cluster metadata");
        }
        self.index.record(index, changed)
    }
}
