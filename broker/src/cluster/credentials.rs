//! Users' SCRAM credentials in a cluster: `rill user create/delete` (Kafka's
//! AlterUserScramCredentials) become metadata commands proposed to the controller, and
//! every broker's [`CredentialStore`](crate::security::credentials::CredentialStore)
//! follows the image's credentials, so a user logs in at every broker. Only salted
//! hashes travel and are stored (the metadata log's directory is owner-only).
//!
//! A broker that had users before it joined a cluster offers them once
//! ([`MetadataCommand::SeedCredentials`]): the first offer the controller commits
//! seeds the cluster, later ones are refused. Until the image is seeded, a broker keeps
//! its local users; from then on its store is the image's. As with ACLs, the local store
//! follows only an image at least as new as the last one it followed (the applied
//! index is kept in `<data_dir>/cluster-credentials-index`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::error_code::ErrorCode;
use rill_protocol::sasl::scram::ScramCredential;
use rill_protocol::sasl::ScramMechanism;

use super::admin::ADMIN_TIMEOUT_DEFAULT;
use super::command::{CredentialRecord, MetadataCommand};
use super::image::MetadataImage;
use super::synced_index::SyncedIndex;
use super::{ApplyError, Cluster, ClusterError};
use crate::security::credentials::{Change, UserCredentials};
use crate::server::BrokerCtx;
use crate::shutdown::ShutdownListener;

/// File holding the applied index of the image the local credentials last followed.
pub const SYNCED_INDEX_FILE: &str = "cluster-credentials-index";
/// How often a broker with local users checks whether the cluster needs seeding.
const SEED_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A failed credential change: the wire code and what to tell the client.
pub type CredentialChangeError = (ErrorCode, String);

/// `credential` of `user` as the metadata log carries it.
pub fn to_record(user: &str, credential: &ScramCredential) -> CredentialRecord {
    CredentialRecord {
        user: user.to_string(),
        mechanism: credential.mechanism.name().to_string(),
        salt: hex(&credential.salt),
        iterations: credential.iterations,
        stored_key: hex(&credential.stored_key),
        server_key: hex(&credential.server_key),
    }
}

/// The credential a record stands for.
pub fn to_credential(record: &CredentialRecord) -> Result<ScramCredential, String> {
    let mechanism = ScramMechanism::ALL
        .iter()
        .copied()
        .find(|m| m.name() == record.mechanism)
        .ok_or_else(|| format!("unknown mechanism `{}`", record.mechanism))?;
    Ok(ScramCredential {
        mechanism,
        salt: unhex(&record.salt)?,
        iterations: record.iterations,
        stored_key: unhex(&record.stored_key)?,
        server_key: unhex(&record.server_key)?,
    })
}

/// The image's users (a record this broker cannot read is left out, logged).
pub fn users(image: &MetadataImage) -> BTreeMap<String, UserCredentials> {
    let mut users: BTreeMap<String, UserCredentials> = BTreeMap::new();
    for (user, records) in &image.credentials {
        for record in records.values() {
            match to_credential(record) {
                Ok(credential) => {
                    users
                        .entry(user.clone())
                        .or_default()
                        .insert(credential.mechanism, credential);
                }
                Err(e) => {
                    tracing::warn!(user = %user, error = %e, "ignoring a credential of the cluster metadata this broker cannot read")
                }
            }
        }
    }
    users
}

/// Applies `changes` through the controller, then waits until this broker's store has
/// them. Per change, whether it found something (a delete of nothing did not).
pub async fn alter(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    changes: &[Change],
) -> Result<Vec<bool>, CredentialChangeError> {
    let image = cluster.image();
    let mut upsert = Vec::new();
    let mut delete = Vec::new();
    let mut found = Vec::with_capacity(changes.len());
    for change in changes {
        match change {
            Change::Upsert { user, credential } => {
                upsert.push(to_record(user, credential));
                found.push(true);
            }
            Change::Delete { user, mechanism } => {
                let there = image
                    .credentials
                    .get(user)
                    .is_some_and(|m| m.contains_key(mechanism.name()));
                if there {
                    delete.push((user.clone(), mechanism.name().to_string()));
                }
                found.push(there);
            }
        }
    }
    if upsert.is_empty() && delete.is_empty() {
        return Ok(found);
    }
    let wanted_upserts = upsert.clone();
    let wanted_deletes = delete.clone();
    let command = MetadataCommand::AlterCredentials { upsert, delete };
    super::admin::propose_for_client(cluster, command).await?;
    let local = ctx.clone();
    let followed = ctx
        .reconciled
        .wait_for(ADMIN_TIMEOUT_DEFAULT, move |_| {
            let store = &local.credentials;
            wanted_upserts.iter().all(|r| {
                to_credential(r).is_ok_and(|c| store.get(&r.user, c.mechanism).as_ref() == Some(&c))
            }) && wanted_deletes.iter().all(|(user, mechanism)| {
                ScramMechanism::ALL
                    .iter()
                    .filter(|m| m.name() == mechanism)
                    .all(|m| store.get(user, *m).is_none())
            })
        })
        .await;
    if followed {
        Ok(found)
    } else {
        Err((
            ErrorCode::RequestTimedOut,
            "the credential change is committed but this broker has not applied it yet; retry to check"
                .into(),
        ))
    }
}

/// The applied index of the image the local credentials last followed.
#[derive(Debug)]
pub struct CredentialSync {
    index: SyncedIndex,
}

impl CredentialSync {
    /// Reads the index under `data_dir` (none yet: never followed). Blocking.
    pub fn load(data_dir: &Path) -> Result<CredentialSync, String> {
        Ok(CredentialSync {
            index: SyncedIndex::load(data_dir, SYNCED_INDEX_FILE)?,
        })
    }

    /// Makes the local credentials the image's, once the cluster's are seeded and if
    /// `image` (applied at `applied_index` or later) is at least as new as the last
    /// image followed. Blocking.
    pub fn follow(
        &mut self,
        ctx: &BrokerCtx,
        image: &MetadataImage,
        applied_index: Option<u64>,
    ) -> Result<(), String> {
        let Some(index) = applied_index else {
            return Ok(());
        };
        if !image.credentials_seeded || self.index.is_older(index) {
            return Ok(());
        }
        let changed = ctx
            .credentials
            .replace_all(users(image))
            .map_err(|e| format!("cannot follow the cluster's credentials: {e}"))?;
        if changed {
            tracing::info!(
                users = image.credentials.len(),
                "user credentials follow the cluster metadata"
            );
        }
        self.index.record(index, changed)
    }
}

/// Offers this broker's local users to a cluster that has never held credentials,
/// once the cluster has formed; returns when the cluster is seeded (by this broker or
/// another) or at shutdown.
pub async fn seed(ctx: Arc<BrokerCtx>, cluster: Cluster, mut shutdown: ShutdownListener) {
    let mut tick = tokio::time::interval(SEED_CHECK_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.recv() => return,
        }
        let image = cluster.image();
        if image.credentials_seeded {
            return;
        }
        if image.cluster_id.is_empty() || ctx.credentials.is_empty() {
            continue;
        }
        let credentials: Vec<CredentialRecord> = ctx
            .credentials
            .export()
            .iter()
            .flat_map(|(user, creds)| creds.values().map(|c| to_record(user, c)))
            .collect();
        let users = ctx.credentials.len();
        match cluster
            .propose(MetadataCommand::SeedCredentials { credentials })
            .await
        {
            Ok(()) => {
                tracing::info!(
                    users,
                    "seeded the cluster's user credentials with this broker's"
                );
                return;
            }
            Err(ClusterError::Rejected(ApplyError::Invalid(_))) => return,
            Err(e) => tracing::debug!(error = %e, "cannot seed the cluster's credentials yet"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err("not hex".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| "not hex".to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_survives_the_metadata_log_and_its_keys_are_not_printed() {
        let credential = ScramCredential {
            mechanism: ScramMechanism::Sha512,
            salt: vec![0, 1, 0xfe, 0xff],
            iterations: 8192,
            stored_key: vec![7; 64],
            server_key: vec![9; 64],
        };
        let record = to_record("alice", &credential);
        assert_eq!(to_credential(&record), Ok(credential));
        let printed = format!("{record:?}");
        assert!(!printed.contains(&record.stored_key) && !printed.contains(&record.server_key));
        let mut bad = record.clone();
        bad.salt = "zz".into();
        assert!(to_credential(&bad).is_err());
        bad = record;
        bad.mechanism = "SCRAM-MD5".into();
        assert!(to_credential(&bad).is_err());
    }

    #[test]
    fn seeding_happens_once_and_changes_apply_in_order() {
        let mut image = MetadataImage::default();
        let record = |user: &str, mechanism: &str| CredentialRecord {
            user: user.into(),
            mechanism: mechanism.into(),
            salt: "00".into(),
            iterations: 4096,
            stored_key: "11".into(),
            server_key: "22".into(),
        };
        image
            .apply(&MetadataCommand::SeedCredentials {
                credentials: vec![record("a", "SCRAM-SHA-256")],
            })
            .unwrap();
        assert!(image
            .apply(&MetadataCommand::SeedCredentials {
                credentials: vec![record("b", "SCRAM-SHA-256")],
            })
            .is_err());
        image
            .apply(&MetadataCommand::AlterCredentials {
                upsert: vec![record("b", "SCRAM-SHA-512")],
                delete: vec![("a".into(), "SCRAM-SHA-256".into())],
            })
            .unwrap();
        let users: Vec<&String> = image.credentials.keys().collect();
        assert_eq!(users, ["b"]);
    }
}
