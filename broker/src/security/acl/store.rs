//! The durable ACL store: every ACL in `<data_dir>/acls.json`, and the indexed snapshot
//! the request handlers read.
//!
//! A change takes the writer lock, writes the whole new set to a temporary file, fsyncs
//! it, renames it over the old one and fsyncs the directory, and only then publishes a
//! new [`AclIndex`]: what a handler sees is always what survives a crash. Readers clone
//! an `Arc` under a read lock held for that instant. Every call that writes blocks (file
//! I/O, fsync): run it on the blocking pool. In a cluster this moves into the
//! replicated metadata; the API here (`snapshot`, `create`, `delete`, `describe`) stays.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rill_protocol::api::acls::{
    AclBinding, AclBindingError, AclFilter, AclOperation, AclPermission, PatternType, ResourceType,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::AclIndex;
use crate::durable_file;

/// The file holding the ACLs, in the data directory.
pub const ACL_FILE: &str = "acls.json";
/// Most ACLs one broker keeps.
pub const ACLS_MAX_DEFAULT: usize = 100_000;
/// The first line of the file: this prefix, then the CRC-32 of the rest in hex.
const HEADER_PREFIX: &str = "rill-acls v1 crc32=";

/// Why the ACLs could not be read, or a change could not be made.
#[derive(Debug, Error)]
pub enum AclStoreError {
    /// The file could not be read or written.
    #[error("ACL file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file exists but is not a valid ACL file.
    #[error("ACL file {path} is corrupt ({reason}); restore it from a backup, or move it away to start with no ACLs (with authorization on, only super users can then do anything)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The binding is malformed.
    #[error(transparent)]
    Invalid(#[from] AclBindingError),
    /// The store is full.
    #[error(
        "cannot add ACLs: the broker already keeps the most it may ({max}); remove some first"
    )]
    Full {
        /// The cap.
        max: usize,
    },
    /// A writer panicked while holding the lock (a broker bug).
    #[error("the ACL store's lock is poisoned")]
    Poisoned,
}

/// The ACLs of one broker.
#[derive(Debug)]
pub struct AclStore {
    dir: PathBuf,
    acls_max: usize,
    /// Serialises changes (file write and publish).
    writer: Mutex<()>,
    snapshot: RwLock<Arc<AclIndex>>,
}

impl AclStore {
    /// Reads the ACLs kept in `data_dir` (none if the file does not exist). Blocks.
    pub fn open(data_dir: &Path, acls_max: usize) -> Result<AclStore, AclStoreError> {
        let bindings = load(data_dir)?;
        Ok(AclStore {
            dir: data_dir.to_path_buf(),
            acls_max,
            writer: Mutex::new(()),
            snapshot: RwLock::new(Arc::new(AclIndex::new(bindings))),
        })
    }

    /// The ACLs now in force.
    pub fn snapshot(&self) -> Arc<AclIndex> {
        match self.snapshot.read() {
            Ok(index) => Arc::clone(&index),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The ACLs `filter` selects, sorted.
    pub fn describe(&self, filter: &AclFilter) -> Vec<AclBinding> {
        let index = self.snapshot();
        index
            .bindings()
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }

    /// Adds `bindings`, durably; one outcome per binding (an existing one is a success).
    /// Blocks.
    pub fn create(
        &self,
        bindings: Vec<AclBinding>,
    ) -> Result<Vec<Result<(), AclStoreError>>, AclStoreError> {
        let _writing = self.writer.lock().map_err(|_| AclStoreError::Poisoned)?;
        let mut next = self.snapshot().bindings().clone();
        let outcomes: Vec<_> = bindings
            .into_iter()
            .map(|b| {
                b.validate()?;
                if next.len() >= self.acls_max && !next.contains(&b) {
                    return Err(AclStoreError::Full { max: self.acls_max });
                }
                next.insert(b);
                Ok(())
            })
            .collect();
        if next.len() != self.snapshot().len() {
            self.publish(next)?;
        }
        Ok(outcomes)
    }

    /// Removes every ACL each filter selects, durably; returns what each removed. Blocks.
    pub fn delete(&self, filters: &[AclFilter]) -> Result<Vec<Vec<AclBinding>>, AclStoreError> {
        let _writing = self.writer.lock().map_err(|_| AclStoreError::Poisoned)?;
        let mut next = self.snapshot().bindings().clone();
        let removed: Vec<Vec<AclBinding>> = filters
            .iter()
            .map(|f| {
                let doomed: Vec<_> = next.iter().filter(|b| f.matches(b)).cloned().collect();
                for b in &doomed {
                    next.remove(b);
                }
                doomed
            })
            .collect();
        if removed.iter().any(|r| !r.is_empty()) {
            self.publish(next)?;
        }
        Ok(removed)
    }

    /// Makes `bindings` the ACLs in force (durably), when they differ from the current
    /// ones; `true` when anything changed. Blocks. (A clustered broker follows the
    /// cluster's ACLs this way.)
    pub fn replace_all(&self, bindings: BTreeSet<AclBinding>) -> Result<bool, AclStoreError> {
        let _writing = self.writer.lock().map_err(|_| AclStoreError::Poisoned)?;
        if *self.snapshot().bindings() == bindings {
            return Ok(false);
        }
        self.publish(bindings)?;
        Ok(true)
    }

    /// Writes `bindings` durably, then makes them the ACLs in force.
    fn publish(&self, bindings: BTreeSet<AclBinding>) -> Result<(), AclStoreError> {
        store(&self.dir, &bindings)?;
        let index = Arc::new(AclIndex::new(bindings));
        match self.snapshot.write() {
            Ok(mut current) => *current = index,
            Err(poisoned) => *poisoned.into_inner() = index,
        }
        Ok(())
    }
}

/// One ACL as stored: Kafka's names, so the file reads like `rill acl list`.
#[derive(Debug, Serialize, Deserialize)]
struct StoredAcl {
    resource_type: String,
    resource_name: String,
    pattern_type: String,
    principal: String,
    host: String,
    operation: String,
    permission: String,
}

impl From<&AclBinding> for StoredAcl {
    fn from(b: &AclBinding) -> Self {
        StoredAcl {
            resource_type: b.resource_type.to_string(),
            resource_name: b.resource_name.clone(),
            pattern_type: b.pattern_type.to_string(),
            principal: b.principal.clone(),
            host: b.host.clone(),
            operation: b.operation.to_string(),
            permission: b.permission.to_string(),
        }
    }
}

impl StoredAcl {
    fn into_binding(self) -> Result<AclBinding, String> {
        let binding = AclBinding {
            resource_type: self.resource_type.parse::<ResourceType>()?,
            resource_name: self.resource_name,
            pattern_type: self.pattern_type.parse::<PatternType>()?,
            principal: self.principal,
            host: self.host,
            operation: self.operation.parse::<AclOperation>()?,
            permission: self.permission.parse::<AclPermission>()?,
        };
        binding.validate().map_err(|e| e.to_string())?;
        Ok(binding)
    }
}

fn load(dir: &Path) -> Result<BTreeSet<AclBinding>, AclStoreError> {
    let path = dir.join(ACL_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(source) => return Err(AclStoreError::Io { path, source }),
    };
    let corrupt = |reason: String| AclStoreError::Corrupt {
        path: path.clone(),
        reason,
    };
    let body = durable_file::checked_body(HEADER_PREFIX, &text).map_err(corrupt)?;
    let acls: Vec<StoredAcl> = serde_json::from_str(body).map_err(|e| corrupt(e.to_string()))?;
    acls.into_iter()
        .map(|a| a.into_binding().map_err(corrupt))
        .collect()
}

fn store(dir: &Path, bindings: &BTreeSet<AclBinding>) -> Result<(), AclStoreError> {
    let path = dir.join(ACL_FILE);
    let stored: Vec<StoredAcl> = bindings.iter().map(StoredAcl::from).collect();
    let body = serde_json::to_string_pretty(&stored).map_err(|e| AclStoreError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let text = durable_file::with_checksum(HEADER_PREFIX, &body);
    durable_file::replace(&path, text.as_bytes(), durable_file::Access::Default).map_err(|e| {
        AclStoreError::Io {
            path: e.path,
            source: e.source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::Principal;

    fn read_acl(principal: &str, topic: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: topic.into(),
            pattern_type: PatternType::Literal,
            principal: principal.into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    #[test]
    fn changes_survive_reopening_and_apply_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(dir.path(), 10).unwrap();
        let alice = Principal::user("alice");
        let host = "127.0.0.1".parse().unwrap();
        let can = |s: &AclStore| {
            s.snapshot()
                .allows(&alice, host, ResourceType::Topic, "t", AclOperation::Read)
        };
        assert!(!can(&store));
        let outcomes = store.create(vec![read_acl("User:alice", "t")]).unwrap();
        assert!(outcomes[0].is_ok());
        assert!(can(&store));
        let reopened = AclStore::open(dir.path(), 10).unwrap();
        assert!(can(&reopened));
        let removed = reopened.delete(&[AclFilter::any()]).unwrap();
        assert_eq!(removed, vec![vec![read_acl("User:alice", "t")]]);
        assert!(!can(&reopened));
        assert!(AclStore::open(dir.path(), 10)
            .unwrap()
            .snapshot()
            .is_empty());
    }

    #[test]
    fn invalid_bindings_and_a_full_store_are_refused_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(dir.path(), 1).unwrap();
        let outcomes = store
            .create(vec![
                read_acl("alice", "t"),
                read_acl("User:a", "t"),
                read_acl("User:a", "t"),
                read_acl("User:b", "t"),
            ])
            .unwrap();
        assert!(matches!(outcomes[0], Err(AclStoreError::Invalid(_))));
        assert!(outcomes[1].is_ok() && outcomes[2].is_ok());
        assert!(matches!(outcomes[3], Err(AclStoreError::Full { max: 1 })));
        assert_eq!(store.snapshot().len(), 1);
    }

    #[test]
    fn a_corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(dir.path(), 10).unwrap();
        store.create(vec![read_acl("User:alice", "t")]).unwrap();
        let path = dir.path().join(ACL_FILE);
        let mut text = fs::read_to_string(&path).unwrap();
        text = text.replace("alice", "mallory");
        fs::write(&path, text).unwrap();
        let err = AclStore::open(dir.path(), 10).unwrap_err();
        assert!(matches!(err, AclStoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        fs::write(&path, "garbage").unwrap();
        assert!(AclStore::open(dir.path(), 10).is_err());
    }
}
