//! Users' SCRAM credentials: what logins are checked against.
//!
//! [`CredentialStore`] keeps, per user and SCRAM mechanism, the salt, iteration count,
//! StoredKey and ServerKey (RFC 5802); never a password. PLAIN logins are checked
//! against the same credential (derive with the stored salt, compare StoredKeys).
//! The store is durable in `<data-dir>/security/credentials` ([`file`]): every change
//! writes a whole new file (temp file, fsync, rename, directory fsync) before it takes
//! effect, so a crash leaves either the old or the new set. Changes run on the blocking
//! pool; reads take a short read lock. Bounded: [`USERS_MAX`] users.
//!
//! In a cluster this moves into the replicated metadata; callers see only this API.

pub mod file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use rill_protocol::sasl::scram::{self, CredentialError, ScramCredential};
use rill_protocol::sasl::{ScramMechanism, USERNAME_BYTES_MAX};
use thiserror::Error;

/// Most users the store holds.
pub const USERS_MAX: usize = 10_000;

/// One user's credentials, by mechanism.
pub type UserCredentials = BTreeMap<ScramMechanism, ScramCredential>;

/// Why the store could not be opened or changed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The credentials file could not be read or written.
    #[error("credentials file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The credentials file is not what this broker writes.
    #[error("credentials file {path} is corrupt: {reason} (restore it from a backup, or move it away and re-create the users with `rilld user create`)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A user name that is empty, too long or has control characters.
    #[error("invalid user name {name:?}: 1 to {USERNAME_BYTES_MAX} bytes, no control characters")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// The store already holds [`USERS_MAX`] users.
    #[error("cannot add user {name:?}: the broker already has {USERS_MAX} users")]
    TooManyUsers {
        /// The user refused.
        name: String,
    },
    /// A credential outside the accepted ranges.
    #[error("unacceptable credential for {name:?}: {source}")]
    Credential {
        /// The user.
        name: String,
        /// What is wrong.
        source: CredentialError,
    },
}

/// One change of [`CredentialStore::alter`].
#[derive(Debug, Clone)]
pub enum Change {
    /// Add or replace `user`'s credential for its mechanism.
    Upsert {
        /// The user.
        user: String,
        /// The new credential.
        credential: ScramCredential,
    },
    /// Remove `user`'s credential for `mechanism` (the user goes with its last one).
    Delete {
        /// The user.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
    },
}

/// Every user's credentials, durable in one file.
#[derive(Debug)]
pub struct CredentialStore {
    path: PathBuf,
    users: RwLock<BTreeMap<String, UserCredentials>>,
    /// Serialises changes, so two never race to write the file.
    writer: Mutex<()>,
    /// Key of the stand-in salts given for unknown users (so a SCRAM exchange does not
    /// reveal which users exist); random per start.
    decoy_key: Vec<u8>,
}

impl CredentialStore {
    /// The file under `data_dir`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("security").join("credentials")
    }

    /// Opens the store of `data_dir` (blocking): empty when there is no file yet, an
    /// error when the file is unreadable or corrupt.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = Self::path_in(data_dir);
        let users = file::read(&path)?;
        let decoy_key = scram::random_bytes(32).map_err(|source| StoreError::Credential {
            name: String::new(),
            source,
        })?;
        Ok(Self {
            path,
            users: RwLock::new(users),
            writer: Mutex::new(()),
            decoy_key,
        })
    }

    /// `user`'s credential for `mechanism`.
    pub fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.read().get(user)?.get(&mechanism).cloned()
    }

    /// Any of `user`'s credentials (PLAIN checks a password against it), SHA-256 first.
    pub fn any(&self, user: &str) -> Option<ScramCredential> {
        self.read().get(user)?.values().next().cloned()
    }

    /// A stand-in salt for an unknown user: the same for the same name, unrelated to
    /// any real one.
    pub fn decoy_salt(&self, user: &str) -> Vec<u8> {
        let mac = scram::hmac_of(ScramMechanism::Sha256, &self.decoy_key, user.as_bytes());
        mac[..scram::SALT_BYTES_DEFAULT].to_vec()
    }

    /// Every user with the mechanisms and iteration counts they have.
    pub fn list(&self) -> Vec<(String, Vec<(ScramMechanism, u32)>)> {
        self.read()
            .iter()
            .map(|(name, creds)| {
                let mechanisms = creds.iter().map(|(m, c)| (*m, c.iterations)).collect();
                (name.clone(), mechanisms)
            })
            .collect()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies `changes` in order and makes them durable (blocking: writes and fsyncs).
    /// All or nothing: on an error nothing changes. Returns, per change, whether it
    /// found something (an upsert always does; a delete of nothing does not).
    pub fn alter(&self, changes: &[Change]) -> Result<Vec<bool>, StoreError> {
        let _writing = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = self.read().clone();
        let mut found = Vec::with_capacity(changes.len());
        for change in changes {
            found.push(apply(&mut next, change)?);
        }
        file::write(&self.path, &next)?;
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(found)
    }

    /// Every user's credentials (to offer them to a cluster).
    pub fn export(&self) -> BTreeMap<String, UserCredentials> {
        self.read().clone()
    }

    /// Makes the store hold exactly `users` (a cluster's credentials), durably
    /// (blocking). Returns whether anything changed.
    pub fn replace_all(
        &self,
        users: BTreeMap<String, UserCredentials>,
    ) -> Result<bool, StoreError> {
        let _writing = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if *self.read() == users {
            return Ok(false);
        }
        file::write(&self.path, &users)?;
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = users;
        Ok(true)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, UserCredentials>> {
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn apply(
    users: &mut BTreeMap<String, UserCredentials>,
    change: &Change,
) -> Result<bool, StoreError> {
    match change {
        Change::Upsert { user, credential } => {
            check_name(user)?;
            if !users.contains_key(user) && users.len() >= USERS_MAX {
                return Err(StoreError::TooManyUsers { name: user.clone() });
            }
            users
                .entry(user.clone())
                .or_default()
                .insert(credential.mechanism, credential.clone());
            Ok(true)
        }
        Change::Delete { user, mechanism } => {
            let Some(creds) = users.get_mut(user) else {
                return Ok(false);
            };
            let found = creds.remove(mechanism).is_some();
            if creds.is_empty() {
                users.remove(user);
            }
            Ok(found)
        }
    }
}

/// Checks a user name: 1 to [`USERNAME_BYTES_MAX`] bytes, no control characters.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > USERNAME_BYTES_MAX || name.chars().any(char::is_control) {
        return Err(StoreError::InvalidName {
            name: name.chars().take(64).collect(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(m: ScramMechanism, password: &str) -> ScramCredential {
        ScramCredential::from_password(m, password.as_bytes(), 4096).unwrap()
    }

    #[test]
    fn changes_survive_a_reopen_and_the_file_holds_no_password() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        assert!(store.is_empty());
        let changes = [
            Change::Upsert {
                user: "alice".into(),
                credential: cred(ScramMechanism::Sha256, "correct-horse"),
            },
            Change::Upsert {
                user: "alice".into(),
                credential: cred(ScramMechanism::Sha512, "correct-horse"),
            },
            Change::Upsert {
                user: "bob".into(),
                credential: cred(ScramMechanism::Sha512, "battery"),
            },
        ];
        assert_eq!(store.alter(&changes).unwrap(), vec![true, true, true]);
        let reopened = CredentialStore::open(dir.path()).unwrap();
        assert_eq!(reopened.len(), 2);
        assert_eq!(
            reopened.get("alice", ScramMechanism::Sha512),
            store.get("alice", ScramMechanism::Sha512)
        );
        assert!(reopened.any("bob").unwrap().matches_password(b"battery"));
        let text = std::fs::read_to_string(CredentialStore::path_in(dir.path())).unwrap();
        assert!(!text.contains("correct-horse") && !text.contains("battery"));

        let delete = |user: &str, mechanism| Change::Delete {
            user: user.into(),
            mechanism,
        };
        let found = reopened
            .alter(&[
                delete("bob", ScramMechanism::Sha512),
                delete("carol", ScramMechanism::Sha256),
            ])
            .unwrap();
        assert_eq!(found, vec![true, false]);
        let names: Vec<_> = CredentialStore::open(dir.path())
            .unwrap()
            .list()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["alice"]);
    }

    #[test]
    fn refuses_bad_names_and_too_many_users_without_changing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        let bad = Change::Upsert {
            user: "a\nb".into(),
            credential: cred(ScramMechanism::Sha256, "x"),
        };
        let good = Change::Upsert {
            user: "ok".into(),
            credential: cred(ScramMechanism::Sha256, "x"),
        };
        assert!(matches!(
            store.alter(&[good, bad]),
            Err(StoreError::InvalidName { .. })
        ));
        assert!(store.is_empty());
        let mut users = BTreeMap::new();
        let c = cred(ScramMechanism::Sha256, "x");
        for i in 0..USERS_MAX {
            users.insert(
                format!("u{i}"),
                UserCredentials::from([(c.mechanism, c.clone())]),
            );
        }
        let change = Change::Upsert {
            user: "one-more".into(),
            credential: c,
        };
        assert!(matches!(
            apply(&mut users, &change),
            Err(StoreError::TooManyUsers { .. })
        ));
    }

    #[test]
    fn a_corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = CredentialStore::path_in(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{\"format\":1,\"users\":[{\"name\":").unwrap();
        let err = CredentialStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("corrupt"));
    }
}
